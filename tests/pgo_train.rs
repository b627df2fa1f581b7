//! `scripts/pgo-train.sh`, the training run of the profile-guided build (`scripts/build.sh`,
//! `make build`), against the module under test: every call it makes succeeds and each command
//! family does its work. A call the module refused would train only its error path, and the
//! build would lay the module out for that without anything failing.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `cmdstat_<name>:calls=N,...,rejected_calls=R,failed_calls=F` lines: name -> (N, R + F).
fn command_stats(report: &str) -> BTreeMap<String, (u64, u64)> {
    let field = |fields: &str, name: &str| -> u64 {
        fields
            .split(',')
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    report
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_")?.split_once(':'))
        .map(|(name, fields)| {
            let failed = field(fields, "rejected_calls") + field(fields, "failed_calls");
            (name.to_string(), (field(fields, "calls"), failed))
        })
        .collect()
}

#[test]
fn the_training_run_takes_every_path_without_an_error() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = common::temp_dir("pgo-train");
    let out = Command::new(repo.join("scripts/pgo-train.sh"))
        .arg(common::module_path())
        .arg(dir.join("vigil-%m.profraw"))
        .env("TRAIN_OPS", "2000")
        .env("TRAIN_REPORT", "1")
        .env("TRAIN_PORT", common::free_port().to_string())
        .env("VIGIL_REDIS_SERVER", common::server_binary())
        .output()
        .expect("scripts/pgo-train.sh runs");
    let report = String::from_utf8_lossy(&out.stderr).replace('\r', "");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "the training run failed:\n{report}");

    let stats = command_stats(&report);
    let failed: Vec<_> = stats.iter().filter(|(_, (_, f))| *f > 0).collect();
    assert!(failed.is_empty(), "calls that failed: {failed:?}\n{report}");
    for cmd in [
        "alert.create",
        "alert.add",
        "alert.range",
        "alert.read",
        "alert.groups",
        "alert.info",
        "alert.get",
        "alert.ack",
        "alert.resolve",
        "alert.silence",
        "alert.silences",
        "quota.set",
        "quota.incr",
        "quota.get",
        "lru.touch",
        "lru.evict",
        "lru.candidates",
        "lru.info",
    ] {
        let calls = stats.get(cmd).map_or(0, |s| s.0);
        assert!(calls > 0, "the training run never called {cmd}:\n{report}");
    }
    // The acknowledgements and resolutions found alerts (IDs read back from RANGE), and both
    // roads of eviction evicted keys.
    assert!(stats["alert.ack"].0 >= 100, "{report}");
    let evictions: u64 = report
        .lines()
        .find_map(|l| l.strip_prefix("vigil_lru_evictions:"))
        .map(|v| v.trim().parse().unwrap())
        .expect("INFO vigil's vigil_lru_evictions");
    assert!(evictions >= 100, "evicted {evictions} keys:\n{report}");
}
