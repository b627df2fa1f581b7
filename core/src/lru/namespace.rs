//! Tracker namespaces: which keys a tracker may track and delete.

/// The namespace of a tracker key: up to and including the `}` that closes its hash tag (as
/// Redis Cluster defines it: the first `{`, then the first `}` after it, not empty), else up
/// to and including its last `:`, else none.
pub fn namespace(tracker: &[u8]) -> Option<&[u8]> {
    if let Some(open) = tracker.iter().position(|b| *b == b'{') {
        if let Some(len) = tracker[open + 1..].iter().position(|b| *b == b'}') {
            if len > 0 {
                return Some(&tracker[..open + 1 + len + 1]);
            }
        }
    }
    let colon = tracker.iter().rposition(|b| *b == b':')?;
    Some(&tracker[..=colon])
}

/// The hash tag of `key`, as Redis Cluster defines it: the bytes between its first `{` and the
/// first `}` after it, when not empty.
pub fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|b| *b == b'{')?;
    let rest = &key[open + 1..];
    let close = rest.iter().position(|b| *b == b'}')?;
    (close > 0).then(|| &rest[..close])
}

/// A key a tracker may not reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceError {
    /// The tracker key has neither a hash tag nor a `:`.
    NoNamespace(Vec<u8>),
    Outside {
        key: Vec<u8>,
        namespace: Vec<u8>,
    },
}

impl std::fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = crate::bytes::shown;
        match self {
            NamespaceError::NoNamespace(t) => write!(
                f,
                "ERR tracker key '{}' has no namespace: name it with a hash tag (tenant:{{acme}}:lru) or a ':' (cache:lru)",
                show(t)
            ),
            NamespaceError::Outside { key, namespace } => write!(
                f,
                "ERR key '{}' is outside the tracker's namespace '{}'",
                show(key),
                show(namespace)
            ),
        }
    }
}

/// The namespace of `tracker`, or the error that it has none.
pub fn tracker_namespace(tracker: &[u8]) -> Result<&[u8], NamespaceError> {
    namespace(tracker).ok_or_else(|| NamespaceError::NoNamespace(tracker.to_vec()))
}

/// Whether `key` lies in namespace `ns`.
pub fn check_in(ns: &[u8], key: &[u8]) -> Result<(), NamespaceError> {
    if key.starts_with(ns) {
        Ok(())
    } else {
        Err(NamespaceError::Outside {
            key: key.to_vec(),
            namespace: ns.to_vec(),
        })
    }
}

/// Prefixes of `key` that could be a tracker's namespace (they end in `}` or `:`).
pub fn candidate_namespaces(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    key.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'}' || **b == b':')
        .map(move |(i, _)| &key[..=i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        let ns = |s: &str| namespace(s.as_bytes()).map(|n| String::from_utf8_lossy(n).into_owned());
        assert_eq!(ns("tenant:{acme}:lru").as_deref(), Some("tenant:{acme}"));
        assert_eq!(ns("{acme}lru").as_deref(), Some("{acme}"));
        assert_eq!(ns("cache:lru").as_deref(), Some("cache:"));
        assert_eq!(ns("a:b:c").as_deref(), Some("a:b:"));
        assert_eq!(
            ns("a{}:lru").as_deref(),
            Some("a{}:"),
            "an empty {{}} is no hash tag"
        );
        assert_eq!(ns("x{a}{b}").as_deref(), Some("x{a}"));
        assert_eq!(ns("x{ab").as_deref(), None);
        assert_eq!(ns("plain").as_deref(), None);
        assert_eq!(ns("{}").as_deref(), None);
    }
}
