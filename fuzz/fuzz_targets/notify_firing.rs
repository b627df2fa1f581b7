//! vigil-notify's firing file (`notify::state::parse_firing`), which a restarted bridge reads
//! back after a crash may have torn it: no input may panic, and what it reads, written again
//! as a round writes it, reads back the same with no line skipped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_client::notify::state::{parse_firing, render_firing};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The key the first line names, when it names one; else a key it is not.
    let key = text
        .lines()
        .next()
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v.get("key").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "alerts".to_owned());
    let Ok((alerts, _)) = parse_firing(text, &key) else {
        return;
    };
    let again = String::from_utf8(render_firing(&key, alerts.values())).expect("UTF-8");
    let (back, skipped) = parse_firing(&again, &key).expect("a written file reads back");
    assert_eq!(skipped, 0);
    assert_eq!(back, alerts);
});
