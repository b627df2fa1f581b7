//! Alert documents: validation, the fields the module reads, the default fingerprint, and the
//! JSON rendering with the server fields. No Redis API here.

use super::keys::KeyTable;
use super::scan::{scan, Fields, KeySpans, Lead, ScanError};
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

    /// The member `"severity":"<name>"` as a document holds it.
    pub fn member(self) -> &'static str {
        match self {
            Severity::Critical => "\"severity\":\"critical\"",
            Severity::High => "\"severity\":\"high\"",
            Severity::Medium => "\"severity\":\"medium\"",
            Severity::Low => "\"severity\":\"low\"",
            Severity::Info => "\"severity\":\"info\"",
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

impl<'a> Document<'a> {
    /// The document as sent, with insignificant whitespace removed: valid JSON.
    pub fn json(&self) -> &Cow<'a, str> {
        &self.json
    }
}

/// A validated document, ready to store; borrows from the bytes it was parsed from.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    /// The document as sent, with insignificant whitespace removed. Private: only
    /// `parse_document` makes a Document, so this text is valid JSON, hence holds no NUL byte
    /// (`Document::json`; the stream relies on it to store it as a C string).
    json: Cow<'a, str>,
    pub severity: Severity,
    pub source: Cow<'a, str>,
    pub fingerprint: Fingerprint,
    /// `type` ("" when absent).
    pub kind: Cow<'a, str>,
    /// The members at the start of `json` that can be left out of the stored text
    /// ([`strip`]).
    pub lead: Lead,
    /// Where the first plain keys are in `json` ([`stored`]).
    pub keys: KeySpans,
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

impl From<ScanError> for DocError {
    fn from(e: ScanError) -> DocError {
        match e {
            ScanError::NotObject => DocError::NotObject,
            ScanError::Syntax(s) | ScanError::Duplicate(s) => DocError::Syntax(s),
            ScanError::Reserved(r) => DocError::Reserved(r),
            ScanError::WrongType(name, what) => DocError::WrongType(name, what),
        }
    }
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
    let f = scan(text)?;
    let severity = match f.severity {
        None => Severity::Info,
        Some(s) => Severity::parse(&s).ok_or_else(|| DocError::BadSeverity(s.into_owned()))?,
    };
    let source = f.source.unwrap_or_default();
    let kind = f.kind.unwrap_or_default();
    let fingerprint = match f.fingerprint {
        Some(text) => Fingerprint::from_explicit(&text),
        None => Fingerprint::Hash(default_fingerprint(
            &source,
            &kind,
            f.labels.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
        )),
    };
    // Only a document with line breaks between its tokens needs compacting.
    let (json, lead, keys) = if f.newline {
        let json = minify(text);
        // Rare (pretty-printed documents): read again for the run's end and the keys in the
        // compacted text.
        let (lead, keys) = scan(&json).map(|g| (g.lead, g.keys)).unwrap_or_default();
        (json, lead, keys)
    } else {
        let json = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r'));
        let off = text.len() - text.trim_start_matches([' ', '\t', '\r']).len();
        let mut lead = f.lead;
        lead.end = lead.end.saturating_sub(off);
        let keys = if off == 0 {
            f.keys
        } else {
            f.keys.shifted(off)
        };
        (Cow::Borrowed(json), lead, keys)
    };
    Ok(Document {
        json,
        severity,
        source,
        fingerprint,
        kind,
        lead,
        keys,
    })
}

/// The document as kept in memory, before its keys are coded ([`stored`] does both, and is
/// what the stream calls; this is the tests' and the fuzz target's reference for it): `json`
/// less its leading run of plain `severity`, `source` and `type` members ([`Lead`]), which
/// the alert keeps beside it anyway and [`write_open`] writes back first, in the same order. Saves ~55 bytes of a typical 300-byte
/// alert whose producer writes these fields first; any other document is kept whole. Returns
/// the text to keep, in two pieces (not copied here), and the run's layout (`Lead::layout`).
pub fn strip<'d>(doc: &'d Document<'_>) -> ([&'d str; 2], u8) {
    let json: &str = &doc.json;
    match strip_at(doc) {
        (0, _) => ([json, ""], 0),
        (rest, layout) => (["{", &json[rest..]], layout),
    }
}

/// Where the text [`strip`] keeps starts in `json` (after it, `{`), and the run's layout;
/// (0, 0) when the document is kept whole.
fn strip_at(doc: &Document<'_>) -> (usize, u8) {
    let json: &str = &doc.json;
    let lead = doc.lead;
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let b = json.as_bytes();
    if lead.is_empty() || lead.end > b.len() {
        return (0, 0);
    }
    let mut rest = lead.end;
    while rest < b.len() && ws(b[rest]) {
        rest += 1;
    }
    if b.get(rest) == Some(&b',') {
        rest += 1;
        while rest < b.len() && ws(b[rest]) {
            rest += 1;
        }
    }
    if rest == 0 || !json.is_char_boundary(rest) {
        return (0, 0);
    }
    (rest, lead.layout)
}

/// The text an alert stores: what [`strip`] keeps, with each plain key the scanner found
/// (`Document::keys`) written as its code in `keys` (the stream's table, which learns new
/// names while it has room; [`KeyTable::expand_into`] writes them out again). Returns the
/// bytes (their length + 1 reserved, for a terminating NUL), the run's layout, and whether
/// any key was coded. The bytes are UTF-8 and hold no NUL (JSON text and ASCII codes).
pub fn stored(doc: &Document<'_>, keys: &mut KeyTable) -> (Vec<u8>, u8, bool) {
    let json: &str = &doc.json;
    let (rest, layout) = strip_at(doc);
    let mut codes = [(0usize, 0usize, [0u8; 2], 0usize); KeySpans::MAX];
    let mut n = 0;
    let mut len = json.len() - rest + usize::from(rest > 0);
    for (start, end) in doc.keys.iter() {
        if start < rest || end > json.len() {
            continue;
        }
        let Some(span) = json.get(start..end) else {
            continue;
        };
        if let Some((code, code_len)) = keys.code(span) {
            codes[n] = (start, end, code, code_len);
            n += 1;
            len -= end - start - code_len;
        }
    }
    let mut out = Vec::with_capacity(len + 1);
    if rest > 0 {
        out.push(b'{');
    }
    let b = json.as_bytes();
    let mut at = rest;
    for &(start, end, code, code_len) in &codes[..n] {
        out.extend_from_slice(&b[at..start]);
        out.extend_from_slice(&code[..code_len]);
        at = end;
    }
    out.extend_from_slice(&b[at..]);
    (out, layout, n > 0)
}

/// Writes a stored document back as text, without its closing brace: `{`, the members
/// [`strip`] left out (`layout`), then the stored members. Returns whether any member was
/// written (whether a field added after needs a comma).
pub fn write_open(
    out: &mut Vec<u8>,
    stored: &[u8],
    keys: &KeyTable,
    layout: u8,
    severity: Severity,
    source: &str,
    kind: &str,
) -> bool {
    out.push(b'{');
    let mut any = false;
    for field in Lead::fields(layout) {
        if any {
            out.push(b',');
        }
        // Whole members from constants where they can be: fewer pieces to append.
        match field {
            0 => out.extend_from_slice(severity.member().as_bytes()),
            1 => {
                out.extend_from_slice(b"\"source\":\"");
                out.extend_from_slice(source.as_bytes());
                out.push(b'"');
            }
            _ => {
                out.extend_from_slice(b"\"type\":\"");
                out.extend_from_slice(kind.as_bytes());
                out.push(b'"');
            }
        }
        any = true;
    }
    // JSON's whitespace is ASCII (and no key code is ASCII whitespace): the byte-wise trims.
    let body = stored.strip_suffix(b"}").unwrap_or(stored).trim_ascii_end();
    let body = body.strip_prefix(b"{").unwrap_or(body).trim_ascii_start();
    if !body.is_empty() {
        if any {
            out.push(b',');
        }
        keys.expand_into(body, out);
        any = true;
    }
    any
}

/// The fields RANGE filters on that are not kept beside the document.
pub struct Filterable {
    pub kind: String,
    pub labels: BTreeMap<String, String>,
}

/// Reads `type` and `labels` back from a stored (already validated) document.
pub fn filterable(json: &str) -> Filterable {
    match scan(json) {
        Ok(f) => Filterable {
            kind: f.kind.unwrap_or_default().into_owned(),
            labels: f
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        Err(_) => Filterable {
            kind: String::new(),
            labels: BTreeMap::new(),
        },
    }
}

/// The fields of a stored (already validated) document, borrowed where they can be.
pub fn fields(json: &str) -> Fields<'_> {
    scan(json).unwrap_or_default()
}

/// The explicit fingerprint text of a stored document, if it has one.
pub fn explicit_fingerprint(json: &str) -> Option<String> {
    scan(json).ok()?.fingerprint.map(Cow::into_owned)
}

/// FNV-1a, 64 bits: tiny, stable across versions and platforms, and documented.
struct Fnv(u64);

const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// FNV_PRIME^7: a zero byte leaves the xor as it is, so seven of them are seven multiplies by
/// the prime, which is one by this.
const FNV_PRIME_7: u64 = {
    let p2 = FNV_PRIME.wrapping_mul(FNV_PRIME);
    let p4 = p2.wrapping_mul(p2);
    p4.wrapping_mul(p2).wrapping_mul(FNV_PRIME)
};

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }
    fn write_str(&mut self, s: &str) {
        // The length's eight little-endian bytes; under 256 (every usual name and value), the
        // last seven are zeros: one multiply for them (a third of the fingerprint's cost).
        match u8::try_from(s.len()) {
            Ok(n) => {
                self.write(&[n]);
                self.0 = self.0.wrapping_mul(FNV_PRIME_7);
            }
            Err(_) => self.write(&(s.len() as u64).to_le_bytes()),
        }
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
    Cow::Owned(crate::bytes::into_text(out))
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
    fn the_fingerprint_is_fnv_1a_of_the_length_prefixed_strings() {
        // The documented definition, byte by byte.
        let reference = |strings: &[&str]| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for s in strings {
                for b in (s.len() as u64).to_le_bytes().iter().chain(s.as_bytes()) {
                    h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            h
        };
        let long = "x".repeat(300);
        let longer = "é".repeat(40_000);
        for (source, kind, labels) in [
            ("", "", vec![]),
            ("db-1", "disk_full", vec![("host", "h1"), ("mount", "/var")]),
            (&long[..255], &long[..256], vec![(&long[..], "v")]),
            ("s", &longer[..], vec![("", ""), ("a", &long[..1])]),
        ] {
            let mut all = vec![source, kind];
            for (n, v) in &labels {
                all.extend([*n, *v]);
            }
            assert_eq!(
                default_fingerprint(source, kind, labels.iter().copied()),
                reference(&all)
            );
        }
        // Pinned: a fingerprint once given is the one given by every later version.
        assert_eq!(
            default_fingerprint("db-1", "disk_full", [("host", "h1")].into_iter()),
            0xdafc_4d01_2b8f_fa38
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
    fn severity_members_name_their_severity() {
        for v in 0..5 {
            let sev = Severity::from_u8(v);
            assert_eq!(sev.member(), format!("\"severity\":\"{}\"", sev.as_str()));
        }
    }

    /// What `strip` keeps, and the document written back by `write_open` from what `stored`
    /// keeps (`strip`'s text with its keys coded by `keys`), for a document.
    fn round_trip(text: &str, keys: &mut KeyTable) -> (String, u8, String) {
        let d = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let (pieces, mask) = strip(&d);
        let plain = pieces.concat();
        let (coded, layout, any) = stored(&d, keys);
        assert_eq!(layout, mask, "{text}");
        assert_eq!(
            coded.capacity(),
            coded.len() + 1,
            "{text}: room for the NUL, no more"
        );
        assert!(!coded.contains(&0), "{text}");
        let coded = String::from_utf8(coded).unwrap();
        assert_eq!(any, coded != plain, "{text}");
        assert_eq!(keys.expand(&coded), plain, "{text}");
        let mut out = Vec::new();
        write_open(
            &mut out,
            coded.as_bytes(),
            keys,
            mask,
            d.severity,
            &d.source,
            &d.kind,
        );
        out.push(b'}');
        (plain, mask, String::from_utf8(out).unwrap())
    }

    #[test]
    fn stripped_documents_come_back_whole() {
        // (document, layout of the run left out, stored text)
        let cases: &[(&str, u8, &str)] = &[
            (
                r#"{"severity":"high","source":"db","type":"disk","x":1}"#,
                3 | 1 << 4 | 2 << 6,
                r#"{"x":1}"#,
            ),
            (
                r#"{"source":"s","severity":"low","x":1}"#,
                2 | 1 << 2,
                r#"{"x":1}"#,
            ),
            (r#"{"type":"disk"}"#, 1 | 2 << 2, r#"{}"#),
            (r#"{"x":1,"type":"disk"}"#, 0, r#"{"x":1,"type":"disk"}"#),
            (
                r#"{ "source" : "s" , "type" : "t" , "x" : 1 }"#,
                2 | 1 << 2 | 2 << 4,
                r#"{"x" : 1 }"#,
            ),
            (
                r#"{"source":"s" , "x":[1,{"source":"no"}]}"#,
                1 | 1 << 2,
                r#"{"x":[1,{"source":"no"}]}"#,
            ),
            // The run stops at a member written otherwise: an upper-case severity, an
            // escape in a value or a key.
            (
                r#"{"source":"s","severity":"HIGH","type":"t"}"#,
                1 | 1 << 2,
                r#"{"severity":"HIGH","type":"t"}"#,
            ),
            (
                r#"{"severity":"HIGH","source":"s"}"#,
                0,
                r#"{"severity":"HIGH","source":"s"}"#,
            ),
            (
                r#"{"source":"a\"b","x":1}"#,
                0,
                r#"{"source":"a\"b","x":1}"#,
            ),
            (r#"{"sourc\u0065":"s"}"#, 0, r#"{"sourc\u0065":"s"}"#),
            (
                r#"{"labels":{"source":"x","type":"y"}}"#,
                0,
                r#"{"labels":{"source":"x","type":"y"}}"#,
            ),
            (
                r#"{"source":"","type":"d\u00e9"}"#,
                1 | 1 << 2,
                r#"{"type":"d\u00e9"}"#,
            ),
            (
                r#"{"type":"é","source":"h\u00e9"}"#,
                1 | 2 << 2,
                r#"{"source":"h\u00e9"}"#,
            ),
            (
                "{\n  \"severity\": \"low\",\n  \"x\": 1\n}",
                1,
                r#"{"x":1}"#,
            ),
        ];
        for (text, want_mask, want_stored) in cases {
            let (stored, mask, back) = round_trip(text, &mut KeyTable::default());
            assert_eq!(
                (stored.as_str(), mask),
                (*want_stored, *want_mask),
                "{text}"
            );
            let a: serde_json::Value = serde_json::from_str(text).unwrap();
            let b: serde_json::Value = serde_json::from_str(&back)
                .unwrap_or_else(|e| panic!("{text} came back as {back}, not JSON: {e}"));
            assert_eq!(a, b, "{text} came back as {back}");
            // What comes back strips the same way, to the same text; a document without
            // whitespace comes back as it was sent.
            assert_eq!(
                round_trip(&back, &mut KeyTable::default()).2,
                back,
                "{text}"
            );
            if !text.contains([' ', '\n']) {
                assert_eq!(&back, text);
            }
        }
    }

    #[test]
    fn mutated_documents_come_back_whole() {
        let seeds = [
            r#"{"severity":"critical","source":"db-1","type":"disk_full","labels":{"mount":"/var"},"message":"x"}"#,
            r#"{ "x" : [1,{"source":"s"}] , "type" : "t" , "source" : "s" , "severity" : "low" }"#,
            r#"{"source":"a\"b","type":"","severity":"Low","fingerprint":"f"}"#,
        ];
        let alphabet = b"{}[]:,\"\\ -.0123456789aeilnorstwy\t\n";
        let mut checked = 0;
        // One table for all: it fills up, and later documents keep some keys written out.
        let mut keys = KeyTable::default();
        for bytes in super::super::scan::mutations(&seeds, alphabet, 20_000, 0x2545_f491_4f6c_dd1d)
        {
            let Ok(d) = parse_document(&bytes, 0) else {
                continue;
            };
            let (stored, mask, back) = round_trip(&d.json, &mut keys);
            let again = parse(&back).unwrap_or_else(|e| panic!("{:?} -> {back:?}: {e}", d.json));
            assert_eq!(
                (
                    again.severity,
                    &again.source,
                    &again.kind,
                    fields(&back).labels
                ),
                (d.severity, &d.source, &d.kind, fields(&d.json).labels),
                "{:?} -> {stored:?} ({mask}) -> {back:?}",
                d.json
            );
            assert_eq!(again.fingerprint, d.fingerprint, "{back}");
            let a: serde_json::Value = serde_json::from_str(&d.json).unwrap();
            let b: serde_json::Value = serde_json::from_str(&back).unwrap();
            assert_eq!(a, b, "{:?} -> {back:?}", d.json);
            if !d.json.contains([' ', '\t']) {
                assert_eq!(back, d.json, "key order kept");
            }
            checked += 1;
        }
        assert!(
            checked > 1000,
            "only {checked} mutated documents were valid"
        );
        assert_eq!(
            keys.len(),
            KeyTable::MAX,
            "the mutations fill the key table"
        );
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
