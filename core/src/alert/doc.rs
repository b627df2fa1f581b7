//! Alert documents: validation, the fields the module reads, the default fingerprint, and the
//! JSON rendering with the server fields. No Redis API here.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// Field names the server owns; a document may not send them.
pub const RESERVED: [&str; 5] = ["id", "ts", "status", "count", "last_seen"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Severity {
    Info = 0,
    Low = 1,
    Medium = 2,
    High = 3,
    Critical = 4,
}

impl Severity {
    pub const EXPECTED: &'static str = "critical|high|medium|low|info";

    pub fn parse(s: &str) -> Option<Severity> {
        const ALL: [(&str, Severity); 5] = [
            ("critical", Severity::Critical),
            ("high", Severity::High),
            ("medium", Severity::Medium),
            ("low", Severity::Low),
            ("info", Severity::Info),
        ];
        ALL.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, sev)| *sev)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    pub fn from_u8(v: u8) -> Severity {
        match v {
            4 => Severity::Critical,
            3 => Severity::High,
            2 => Severity::Medium,
            1 => Severity::Low,
            _ => Severity::Info,
        }
    }
}

/// The dedup key of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fingerprint {
    /// `"fingerprint": ""`: never deduplicated.
    Never,
    /// The default fingerprint, or an explicit one written as 16 lowercase hex digits, which is
    /// the same string the default would render.
    Hash(u64),
    /// Any other explicit fingerprint; `key` is its hash in the dedup index.
    Explicit { key: u64, text: String },
}

impl Fingerprint {
    /// The key in the dedup index, or None when the alert is never deduplicated.
    pub fn index_key(&self) -> Option<u64> {
        match self {
            Fingerprint::Never => None,
            Fingerprint::Hash(h) => Some(*h),
            Fingerprint::Explicit { key, .. } => Some(*key),
        }
    }

    fn from_explicit(text: &str) -> Fingerprint {
        if text.is_empty() {
            return Fingerprint::Never;
        }
        if text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            if let Ok(h) = u64::from_str_radix(text, 16) {
                return Fingerprint::Hash(h);
            }
        }
        let mut hasher = Fnv::new();
        hasher.write(b"explicit\0");
        hasher.write(text.as_bytes());
        Fingerprint::Explicit {
            key: hasher.finish(),
            text: text.to_owned(),
        }
    }
}

/// A validated document, ready to store; borrows from the bytes it was parsed from.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    /// The document as sent, with insignificant whitespace removed.
    pub json: Cow<'a, str>,
    pub severity: Severity,
    pub source: Cow<'a, str>,
    pub fingerprint: Fingerprint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocError {
    TooLarge { size: usize, max: usize },
    NotUtf8,
    NotObject,
    Syntax(String),
    Reserved(&'static str),
    WrongType(&'static str, &'static str),
    BadSeverity(String),
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocError::TooLarge { size, max } => write!(
                f,
                "ERR document is {size} bytes, larger than vigil.max-document-bytes ({max})"
            ),
            DocError::NotUtf8 => write!(f, "ERR invalid document: not valid UTF-8"),
            DocError::NotObject => write!(f, "ERR invalid document: expected a JSON object"),
            DocError::Syntax(e) => write!(f, "ERR invalid document: {e}"),
            DocError::Reserved(name) => write!(
                f,
                "ERR invalid document: field '{name}' is set by the server and may not be sent"
            ),
            DocError::WrongType(name, expected) => {
                write!(f, "ERR invalid document: field '{name}' must be {expected}")
            }
            DocError::BadSeverity(s) => write!(
                f,
                "ERR invalid severity '{s}', expected {}",
                Severity::EXPECTED
            ),
        }
    }
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A JSON string, borrowed from the input when it has no escapes; anything else is an error
/// that says which field it was.
struct Text(&'static str);

macro_rules! refuse {
    ($($name:ident: $t:ty),*) => {
        $(fn $name<E: de::Error>(self, _: $t) -> Result<Self::Value, E> {
            Err(E::custom(self.0))
        })*
    };
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }

    refuse!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(self.0))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(self.0))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(self.0))
    }
}

impl<'de> de::DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

const LABELS_MUST: &str = "field 'labels' must be an object of string values";

/// Label name/value pairs, sorted by name.
type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// `labels`: an object of strings, kept as pairs sorted by name; a repeated name is an error.
struct LabelPairs(&'static str);

impl<'de> Visitor<'de> for LabelPairs {
    type Value = Pairs<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some(name) = map.next_key_seed(Text(LABELS_MUST))? {
            let value = map.next_value_seed(Text(LABELS_MUST))?;
            pairs.push((name, value));
        }
        // A repeated label name is refused, as a repeated known field is: which value would
        // the filters and the fingerprint mean?
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(de::Error::custom(format!(
                "duplicate label '{}' in field 'labels'",
                w[0].0
            )));
        }
        let out = pairs;
        Ok(out)
    }

    refuse!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom(LABELS_MUST))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(LABELS_MUST))
    }
}

macro_rules! text_field {
    ($($fn_name:ident => $msg:literal),*) => {
        $(fn $fn_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
            d.deserialize_any(Text($msg)).map(Some)
        })*
    };
}

text_field! {
    severity_field => "field 'severity' must be a string",
    source_field => "field 'source' must be a string",
    type_field => "field 'type' must be a string",
    fingerprint_field => "field 'fingerprint' must be a string"
}

fn labels_field<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Pairs<'de>>, D::Error> {
    d.deserialize_any(LabelPairs(LABELS_MUST)).map(Some)
}

/// The top-level fields the module looks at, decoded in the one pass over the document; every
/// other field is skipped unparsed.
#[derive(Deserialize)]
struct RawDoc<'a> {
    #[serde(borrow, default, deserialize_with = "severity_field")]
    severity: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "source_field")]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "type_field", rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "labels_field")]
    labels: Option<Pairs<'a>>,
    #[serde(borrow, default, deserialize_with = "fingerprint_field")]
    fingerprint: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    ts: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    status: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    count: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    last_seen: Option<&'a RawValue>,
}

fn parse_raw(text: &str) -> Result<RawDoc<'_>, DocError> {
    if !text.trim_start().starts_with('{') {
        return Err(DocError::NotObject);
    }
    let raw: RawDoc = serde_json::from_str(text).map_err(|e| DocError::Syntax(e.to_string()))?;
    let reserved = [raw.id, raw.ts, raw.status, raw.count, raw.last_seen];
    if let Some(i) = reserved.iter().position(|f| f.is_some()) {
        return Err(DocError::Reserved(RESERVED[i]));
    }
    Ok(raw)
}

/// Validates a document as sent by a client. `max_bytes` 0 means no size limit.
pub fn parse_document(bytes: &[u8], max_bytes: usize) -> Result<Document<'_>, DocError> {
    if max_bytes > 0 && bytes.len() > max_bytes {
        return Err(DocError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DocError::NotUtf8)?;
    let raw = parse_raw(text)?;
    let severity = match raw.severity {
        None => Severity::Info,
        Some(s) => Severity::parse(&s).ok_or_else(|| DocError::BadSeverity(s.into_owned()))?,
    };
    let source = raw.source.unwrap_or_default();
    let fingerprint = match raw.fingerprint {
        Some(text) => Fingerprint::from_explicit(&text),
        None => Fingerprint::Hash(default_fingerprint(
            &source,
            raw.kind.as_deref().unwrap_or_default(),
            raw.labels
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_ref(), v.as_ref())),
        )),
    };
    Ok(Document {
        json: minify(text),
        severity,
        source,
        fingerprint,
    })
}

/// The fields RANGE filters on that are not kept beside the document.
pub struct Filterable {
    pub kind: String,
    pub labels: BTreeMap<String, String>,
}

/// Reads `type` and `labels` back from a stored (already validated) document.
pub fn filterable(json: &str) -> Filterable {
    match parse_raw(json) {
        Ok(raw) => Filterable {
            kind: raw.kind.unwrap_or_default().into_owned(),
            labels: raw
                .labels
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        },
        Err(_) => Filterable {
            kind: String::new(),
            labels: BTreeMap::new(),
        },
    }
}

/// The explicit fingerprint text of a stored document, if it has one.
pub fn explicit_fingerprint(json: &str) -> Option<String> {
    parse_raw(json).ok()?.fingerprint.map(Cow::into_owned)
}

/// FNV-1a, 64 bits: tiny, stable across versions and platforms, and documented.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_str(&mut self, s: &str) {
        self.write(&(s.len() as u64).to_le_bytes());
        self.write(s.as_bytes());
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The default fingerprint: FNV-1a 64 over source, type, then the labels sorted by name, each
/// string prefixed by its length (u64, little endian). Rendered as 16 lowercase hex digits.
pub fn default_fingerprint<'l>(
    source: &str,
    kind: &str,
    labels_by_name: impl Iterator<Item = (&'l str, &'l str)>,
) -> u64 {
    let mut h = Fnv::new();
    h.write_str(source);
    h.write_str(kind);
    for (name, value) in labels_by_name {
        h.write_str(name);
        h.write_str(value);
    }
    h.finish()
}

/// The document as stored: as sent, but pretty-printed documents (with line breaks between
/// tokens) are compacted. Compact documents, also with spaces after `:` and `,`, are kept
/// as they are, which spares a pass over every document on the hot path.
pub fn minify(text: &str) -> Cow<'_, str> {
    let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
    let bytes = text.as_bytes();
    // Pretty-printed documents have line breaks; one pass over the bytes tells.
    if !bytes.contains(&b'\n') {
        return Cow::Borrowed(text);
    }
    // Bytes are safe: the ones looked at are ASCII, which never occur inside a multi-byte
    // UTF-8 sequence.
    let mut out = Vec::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(b);
        }
    }
    // Only ASCII whitespace was removed from valid UTF-8, so the rest is valid UTF-8.
    Cow::Owned(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Document<'_>, DocError> {
        parse_document(s.as_bytes(), 65536)
    }

    #[test]
    fn reads_known_fields_and_keeps_the_rest() {
        let d = parse("{ \"severity\": \"HIGH\",\n \"source\": \"db\", \"n\": 123456789012345678901234567890, \"x\": 1.50000 }").unwrap();
        assert_eq!(d.severity, Severity::High);
        assert_eq!(d.source, "db");
        assert_eq!(
            &*d.json,
            r#"{"severity":"HIGH","source":"db","n":123456789012345678901234567890,"x":1.50000}"#
        );
    }

    #[test]
    fn default_fingerprint_ignores_label_order() {
        let a = parse(r#"{"source":"s","type":"t","labels":{"a":"1","b":"2"}}"#).unwrap();
        let b = parse(r#"{"labels":{"b":"2","a":"1"},"type":"t","source":"s","x":9}"#).unwrap();
        let c = parse(r#"{"source":"s","type":"t","labels":{"a":"1","b":"3"}}"#).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
    }

    #[test]
    fn explicit_hex_fingerprint_equals_default() {
        let a = parse(r#"{"source":"s"}"#).unwrap();
        let Fingerprint::Hash(h) = a.fingerprint else {
            panic!("default fingerprint is a hash")
        };
        let text = format!(r#"{{"fingerprint":"{h:016x}"}}"#);
        let b = parse(&text).unwrap();
        assert_eq!(b.fingerprint, Fingerprint::Hash(h));
        let e = parse(r#"{"fingerprint":""}"#).unwrap();
        assert_eq!(e.fingerprint, Fingerprint::Never);
    }

    #[test]
    fn rejects_bad_documents() {
        let cases: &[(&str, &str)] = &[
            ("[1,2]", "expected a JSON object"),
            ("\"x\"", "expected a JSON object"),
            ("", "expected a JSON object"),
            ("{", "invalid document"),
            ("{\"a\":1}x", "invalid document"),
            (r#"{"id":"1-1"}"#, "'id'"),
            (r#"{"ts":1}"#, "'ts'"),
            (r#"{"status":"x"}"#, "'status'"),
            (r#"{"count":1}"#, "'count'"),
            (r#"{"last_seen":1}"#, "'last_seen'"),
            (r#"{"severity":5}"#, "'severity' must be a string"),
            (r#"{"severity":null}"#, "'severity' must be a string"),
            (r#"{"severity":"urgent"}"#, "invalid severity 'urgent'"),
            (r#"{"source":[]}"#, "'source' must be a string"),
            (r#"{"type":{}}"#, "'type' must be a string"),
            (r#"{"labels":{"a":1}}"#, "'labels' must be an object"),
            (r#"{"labels":[]}"#, "'labels' must be an object"),
            (r#"{"fingerprint":7}"#, "'fingerprint' must be a string"),
            (r#"{"severity":"low","severity":"high"}"#, "duplicate field"),
            (r#"{"labels":{"a":"1","a":"2"}}"#, "duplicate label 'a'"),
        ];
        for (doc, want) in cases {
            let err = parse(doc).unwrap_err().to_string();
            assert!(err.starts_with("ERR "), "{doc}: {err}");
            assert!(err.contains(want), "{doc}: {err} does not contain {want}");
        }
        assert!(matches!(
            parse_document(&[b'{', 0xff, b'}'], 100),
            Err(DocError::NotUtf8)
        ));
        let big = format!(r#"{{"x":"{}"}}"#, "a".repeat(100));
        assert!(matches!(
            parse_document(big.as_bytes(), 50),
            Err(DocError::TooLarge { .. })
        ));
    }

    #[test]
    fn minify_compacts_pretty_documents_and_keeps_strings() {
        assert_eq!(
            minify("{ \"a b\" : \"c \\\" d\" ,\n\t\"e\":[ 1 , 2 ] }"),
            "{\"a b\":\"c \\\" d\",\"e\":[1,2]}"
        );
        // One-line documents are stored as sent, without surrounding whitespace.
        assert_eq!(
            minify(" {\"a\": 1, \"b\": \"x y\"} "),
            "{\"a\": 1, \"b\": \"x y\"}"
        );
        assert_eq!(minify("{\"s\":\"tab\\tnl\\n\"}"), "{\"s\":\"tab\\tnl\\n\"}");
    }

    #[test]
    fn filterable_fields() {
        let d = parse(r#"{"type":"disk","labels":{"host":"a=b"}}"#).unwrap();
        assert!(
            matches!(d.json, Cow::Borrowed(_)),
            "compact documents are not copied"
        );
        let f = filterable(&d.json);
        assert_eq!(f.kind, "disk");
        assert_eq!(f.labels.get("host").map(String::as_str), Some("a=b"));
    }
}
