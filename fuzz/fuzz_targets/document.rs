//! An alert document as ALERT.ADD receives it: `parse_document` either refuses it or accepts
//! a JSON object (serde_json agrees it is JSON, and an object), and what it stores parses again
//! to the same severity, source and fingerprint. JSON is what serde_json reads as syntax
//! (`IgnoredAny`): a lone surrogate in a string or a number past f64 are JSON, which a
//! `serde_json::Value` cannot hold (the module keeps them, as vigil-client does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::alert::doc::parse_document;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = parse_document(data, 0) else {
        return;
    };
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&doc.json) {
        panic!("accepted, but not JSON ({e}): {:?}", doc.json);
    }
    let fields = serde_json::from_str::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(&doc.json);
    assert!(fields.is_ok(), "accepted, but not an object: {:?}", doc.json);
    let again = parse_document(doc.json.as_bytes(), 0)
        .unwrap_or_else(|e| panic!("the stored form is refused ({e}): {:?}", doc.json));
    assert_eq!(again.json, doc.json, "the stored form is stored as it is");
    assert_eq!(again.severity, doc.severity);
    assert_eq!(again.source, doc.source);
    assert_eq!(again.fingerprint.index_key(), doc.fingerprint.index_key());
});
