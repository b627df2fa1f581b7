//! The redis-py examples in examples/python/ run against a real server and do what they say:
//! a virtualenv with examples/python/requirements.txt (redis-py from PyPI) is made under
//! target/py-examples-venv (once; reused while requirements.txt is unchanged), then each
//! example runs against a fresh server with the module and must exit 0 having printed every
//! step; against a server without the module it must exit non-zero.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The venv's python, made on first use. Python 3 and its venv module are dependencies of the
/// tests (scripts/install-deps.sh installs python3-venv): without them this fails, it does not
/// skip.
fn venv_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = repo().join("target/py-examples-venv");
        let python = venv.join("bin/python");
        let requirements = repo().join("examples/python/requirements.txt");
        let wanted = std::fs::read_to_string(&requirements).expect("requirements.txt");
        let stamp = venv.join("vigil-requirements.txt");
        if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
            return python;
        }
        let made = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "python3 is needed to test examples/python ({e}): run \
                     scripts/install-deps.sh (make test does), which installs python3 and \
                     python3-venv"
                )
            });
        assert!(
            made.status.success(),
            "python3 -m venv failed: the python3-venv package is missing? Run \
             scripts/install-deps.sh (make test does).\n{}",
            text(&made)
        );
        let pip = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements)
            .output()
            .expect("run pip");
        assert!(
            pip.status.success(),
            "pip install -r examples/python/requirements.txt failed (PyPI unreachable?)\n{}",
            text(&pip)
        );
        std::fs::write(&stamp, wanted).expect("write the venv's stamp");
        python
    })
}

fn run_example(script: &str, url_arg: Option<&str>, url_env: Option<&str>) -> Output {
    let mut cmd = Command::new(venv_python());
    cmd.arg(repo().join("examples/python").join(script))
        .env_remove("VIGIL_REDIS_URL");
    if let Some(url) = url_arg {
        cmd.arg(url);
    }
    if let Some(url) = url_env {
        cmd.env("VIGIL_REDIS_URL", url);
    }
    cmd.output().expect("run the example")
}

/// The lines each example prints, step by step, in order.
const STEPS: &[&str] = &[
    "store:  added ",
    "store:  duplicate of ",
    "range:  1 critical alert(s) in the last hour: ",
    "ack:    ",
    "quota:  +300 allowed, usage 300/1000",
    "quota:  +100 allowed, usage 400/1000, 600 left",
    "quota:  +700 refused, usage stays 400/1000",
    "evict:  evicted tenant:{acme-",
    "quota:  +700 allowed after eviction, usage 800/1000",
    "ok",
];

fn assert_all_steps(out: &Output) {
    assert!(out.status.success(), "the example failed:\n{}", text(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut rest = stdout.as_ref();
    for step in STEPS {
        match rest.find(step) {
            Some(at) => rest = &rest[at + step.len()..],
            None => panic!("no line `{step}` (in order) in the output:\n{}", text(out)),
        }
    }
    assert!(
        stdout.contains("acknowledged (status acked)") && stdout.contains("freed 300"),
        "{}",
        text(out)
    );
}

/// The keys the example made are gone afterwards (it cleans up after itself).
fn assert_no_keys_left(s: &Server) {
    let mut c = s.client();
    let n = int(&call(&mut c, &["DBSIZE"]).unwrap());
    assert_eq!(n, 0, "the example left keys behind");
}

#[test]
fn sync_example_runs_every_step() {
    let s = Server::start();
    let out = run_example("vigil_example.py", Some(&s.url()), None);
    assert_all_steps(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(count 2)"),
        "{}",
        text(&out)
    );
    assert_no_keys_left(&s);
}

#[test]
fn async_example_runs_every_step() {
    let s = Server::start();
    // The URL from the environment this time.
    let out = run_example("vigil_example_async.py", None, Some(&s.url()));
    assert_all_steps(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(4 times, count 5)"),
        "{}",
        text(&out)
    );
    assert_no_keys_left(&s);
}

#[test]
fn examples_fail_without_the_module() {
    let s = Server::start_in(
        temp_dir("nomodule"),
        &["--save", "", "--appendonly", "no"],
        false,
    );
    for script in ["vigil_example.py", "vigil_example_async.py"] {
        let out = run_example(script, Some(&s.url()), None);
        assert!(
            !out.status.success(),
            "{script} should fail on a server without the module:\n{}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("unexpected error reply"),
            "{script}: {}",
            text(&out)
        );
    }
}
