//! An alert document as ALERT.ADD receives it: `parse_document` either refuses it or accepts
//! a JSON object (serde_json agrees it is JSON, and an object), and what it stores parses again
//! to the same severity, source and fingerprint. JSON is what serde_json reads as syntax
//! (`IgnoredAny`). What is kept in memory (`stored`: `strip`'s text, less the members the
//! alert holds beside it, with its keys coded) and written back (`write_open`) is the same
//! JSON and parses to the same fields. A lone
//! surrogate in a string or a number past f64 are JSON, which a
//! `serde_json::Value` cannot hold (the module keeps them, as vigil-client does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_core::alert::doc::{fields as read_fields, parse_document, stored, strip, write_open};
use vigil_core::alert::keys::KeyTable;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = parse_document(data, 0) else {
        return;
    };
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&doc.json()) {
        panic!("accepted, but not JSON ({e}): {:?}", doc.json());
    }
    let fields = serde_json::from_str::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(&doc.json());
    assert!(fields.is_ok(), "accepted, but not an object: {:?}", doc.json());
    let again = parse_document(doc.json().as_bytes(), 0)
        .unwrap_or_else(|e| panic!("the stored form is refused ({e}): {:?}", doc.json()));
    assert_eq!(again.json(), doc.json(), "the stored form is stored as it is");
    assert_eq!(again.severity, doc.severity);
    assert_eq!(again.source, doc.source);
    assert_eq!(again.fingerprint.index_key(), doc.fingerprint.index_key());
    let (pieces, mask) = strip(&doc);
    let plain = pieces.concat();
    let mut keys = KeyTable::default();
    let (coded, layout, _) = stored(&doc, &mut keys);
    assert_eq!(layout, mask);
    assert!(!coded.contains(&0), "a NUL in the stored form: {coded:?}");
    let coded = String::from_utf8(coded).expect("the stored form is UTF-8");
    assert_eq!(keys.expand(&coded), plain, "the keys come back");
    let mut back = Vec::new();
    write_open(&mut back, coded.as_bytes(), &keys, mask, doc.severity, &doc.source, &doc.kind);
    back.push(b'}');
    let back = String::from_utf8(back).expect("written back as UTF-8");
    let whole = parse_document(back.as_bytes(), 0)
        .unwrap_or_else(|e| panic!("written back, refused ({e}): {:?} -> {back:?}", doc.json()));
    assert_eq!(whole.severity, doc.severity);
    assert_eq!(whole.source, doc.source);
    assert_eq!(whole.kind, doc.kind);
    assert_eq!(read_fields(&back).labels, read_fields(&doc.json()).labels);
    assert_eq!(whole.fingerprint, doc.fingerprint);
    if let (Ok(a), Ok(b)) = (
        serde_json::from_str::<serde_json::Value>(&doc.json()),
        serde_json::from_str::<serde_json::Value>(&back),
    ) {
        assert_eq!(a, b, "written back differently: {:?} -> {back:?}", doc.json());
    }
});
