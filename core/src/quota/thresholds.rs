//! Threshold alerts of a quota: percentages of its limit that raise an alert in a stream when
//! a write takes usage to or above them, and resolve that alert when a later write finds usage
//! below again. The core decides which thresholds move and writes the alert's document; the
//! glue adds and resolves the alerts (through ALERT.ADD's steps) and records here what each
//! threshold raised. Time stays an argument: a WINDOW quota's usage that fell with time is
//! seen at the next write, like any other change.

use crate::alert::AlertId;
use crate::amount::Amount;

/// Thresholds are integer percentages of the limit in `1..=MAX_PCT`.
pub const MAX_PCT: u32 = 1000;

/// Where a threshold stands since the last write that looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Below,
    /// Reached, with the alert it raised; None when the stream stored none (rate-limited or
    /// expired), so there is nothing to resolve when usage falls back.
    Reached(Option<AlertId>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    pub pct: u32,
    pub state: State,
}

/// A quota's thresholds: the stream their alerts go to, and at least one threshold, ordered
/// by percentage, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    stream: Vec<u8>,
    list: Vec<Threshold>,
}

/// What a write did to the thresholds: those reached now (an alert to add for each), and those
/// usage fell below (with the alert to resolve, if one was stored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Moves {
    pub reached: Vec<u32>,
    pub fell: Vec<(u32, Option<AlertId>)>,
}

impl Moves {
    pub fn is_empty(&self) -> bool {
        self.reached.is_empty() && self.fell.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThresholdError {
    /// No percentage at all.
    Empty,
    /// A state for a percentage the thresholds do not hold.
    Unknown(u32),
    /// Two states for one percentage.
    Twice(u32),
}

impl std::fmt::Display for ThresholdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThresholdError::Empty => write!(f, "ERR ALERTS needs AT pct [pct ...]"),
            ThresholdError::Unknown(pct) => {
                write!(f, "ERR RAISED {pct}: no such threshold in AT")
            }
            ThresholdError::Twice(pct) => write!(f, "ERR RAISED {pct} given twice"),
        }
    }
}

/// A threshold percentage: digits only, 1..=1000.
pub fn parse_pct(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = s.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
    u32::try_from(v).ok().filter(|p| (1..=MAX_PCT).contains(p))
}

/// Whether `usage` is at or above `pct`% of `limit` (never, without a limit). Exact: amounts
/// are integers of millionths, compared as `usage * 100 >= limit * pct`.
pub fn reached(usage: Amount, limit: Option<Amount>, pct: u32) -> bool {
    limit.is_some_and(|l| usage.units() * 100 >= l.units() * i128::from(pct))
}

/// The severity of a threshold's alert: critical at 100% and above, high from 80%, else
/// medium.
pub fn severity(pct: u32) -> &'static str {
    match pct {
        100.. => "critical",
        80.. => "high",
        _ => "medium",
    }
}

/// The document of the alert a threshold raises. The quota key is its source and a label, so
/// the default fingerprint tells quotas and thresholds apart (and deduplicates one threshold's
/// alerts); a key that is not UTF-8 appears with replacement characters.
pub fn document(quota: &[u8], pct: u32, usage: Amount, limit: Amount) -> String {
    let key = json_string(&String::from_utf8_lossy(quota));
    format!(
        r#"{{"severity":"{}","source":{key},"type":"quota_threshold","labels":{{"quota":{key},"threshold":"{pct}"}},"usage":"{usage}","limit":"{limit}"}}"#,
        severity(pct)
    )
}

/// `s` as a JSON string literal: quotes, backslashes and control characters escaped.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Thresholds {
    /// Thresholds at `pcts` (each in 1..=MAX_PCT, checked by the caller; repeats count once),
    /// all below.
    pub fn new(stream: Vec<u8>, pcts: &[u32]) -> Result<Thresholds, ThresholdError> {
        let mut pcts = pcts.to_vec();
        pcts.sort_unstable();
        pcts.dedup();
        if pcts.is_empty() {
            return Err(ThresholdError::Empty);
        }
        Ok(Thresholds {
            stream,
            list: pcts
                .into_iter()
                .map(|pct| Threshold {
                    pct,
                    state: State::Below,
                })
                .collect(),
        })
    }

    pub fn stream(&self) -> &[u8] {
        &self.stream
    }

    pub fn iter(&self) -> impl Iterator<Item = &Threshold> + '_ {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Sets the states of `states` (pct, state); every other threshold is below. What a
    /// replica and an AOF load take as given, and what RAISED says.
    pub fn set_states(&mut self, states: &[(u32, State)]) -> Result<(), ThresholdError> {
        let mut seen: Vec<u32> = Vec::with_capacity(states.len());
        for (pct, _) in states {
            if seen.contains(pct) {
                return Err(ThresholdError::Twice(*pct));
            }
            if !self.list.iter().any(|t| t.pct == *pct) {
                return Err(ThresholdError::Unknown(*pct));
            }
            seen.push(*pct);
        }
        for t in &mut self.list {
            t.state = states
                .iter()
                .find(|(pct, _)| *pct == t.pct)
                .map_or(State::Below, |(_, s)| *s);
        }
        Ok(())
    }

    /// Takes over the states of `old`'s thresholds that these keep (same stream, same
    /// percentage). Returns the alerts `old` raised for thresholds these drop in the same
    /// stream: they are resolved, as the condition they report is no longer watched. Alerts in
    /// another stream are left as they are (the command that changes the stream does not
    /// name the old one).
    pub fn carry_from(&mut self, old: &Thresholds) -> Vec<AlertId> {
        if old.stream != self.stream {
            return Vec::new();
        }
        for t in &mut self.list {
            if let Some(o) = old.list.iter().find(|o| o.pct == t.pct) {
                t.state = o.state;
            }
        }
        old.list
            .iter()
            .filter(|o| !self.list.iter().any(|t| t.pct == o.pct))
            .filter_map(|o| match o.state {
                State::Reached(id) => id,
                State::Below => None,
            })
            .collect()
    }

    /// Which thresholds `usage` against `limit` moves: below ones now reached, reached ones
    /// now below. Changes nothing: the caller acts, then `record`s.
    pub fn moves(&self, usage: Amount, limit: Option<Amount>) -> Moves {
        let mut m = Moves::default();
        for t in &self.list {
            match (t.state, reached(usage, limit, t.pct)) {
                (State::Below, true) => m.reached.push(t.pct),
                (State::Reached(id), false) => m.fell.push((t.pct, id)),
                _ => {}
            }
        }
        m
    }

    /// Forgets the alerts the thresholds raised, keeping where each stands: what a COPY of the
    /// quota holds, which raised none of them (its writes must not resolve the original's).
    pub fn forget_alerts(&mut self) {
        for t in &mut self.list {
            if let State::Reached(Some(_)) = t.state {
                t.state = State::Reached(None);
            }
        }
    }

    /// Records where threshold `pct` stands now.
    pub fn record(&mut self, pct: u32, state: State) {
        if let Some(t) = self.list.iter_mut().find(|t| t.pct == pct) {
            t.state = state;
        }
    }

    pub fn heap_bytes(&self) -> usize {
        crate::memsize::alloc_size(self.stream.capacity())
            + crate::memsize::alloc_size(self.list.capacity() * std::mem::size_of::<Threshold>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        Amount::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_pct(b"80"), Some(80));
        assert_eq!(parse_pct(b"1000"), Some(1000));
        assert_eq!(parse_pct(b"080"), Some(80));
        for bad in [
            &b"0"[..],
            b"1001",
            b"-5",
            b"+5",
            b"80.5",
            b"",
            b"abc",
            b"99999999999",
        ] {
            assert_eq!(parse_pct(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        // Exact at the boundary, with millionths.
        assert!(reached(a("800"), Some(a("1000")), 80));
        assert!(!reached(a("799.999999"), Some(a("1000")), 80));
        assert!(reached(a("0.000001"), Some(a("0.000003")), 33));
        assert!(!reached(a("1000000"), None, 1), "no limit, no threshold");
        assert!(
            reached(a("0"), Some(a("0")), 100),
            "a zero limit is reached at once"
        );
    }

    #[test]
    fn moves_rise_and_fall() {
        let mut t = Thresholds::new(b"s".to_vec(), &[100, 80, 80]).unwrap();
        assert_eq!(t.iter().map(|t| t.pct).collect::<Vec<_>>(), [80, 100]);
        let limit = Some(a("1000"));
        let m = t.moves(a("900"), limit);
        assert_eq!(
            (m.reached.as_slice(), m.fell.as_slice()),
            (&[80][..], &[][..])
        );
        let id = AlertId::new(5, 0);
        t.record(80, State::Reached(Some(id)));
        assert!(t.moves(a("850"), limit).is_empty(), "still reached");
        let m = t.moves(a("1000"), limit);
        assert_eq!(m.reached, [100]);
        t.record(100, State::Reached(None));
        let m = t.moves(a("10"), limit);
        assert_eq!(m.fell, [(80, Some(id)), (100, None)]);
        let m = t.moves(a("10"), None);
        assert_eq!(m.fell.len(), 2, "removing the limit is falling below");
        assert_eq!(Thresholds::new(vec![], &[]), Err(ThresholdError::Empty));
    }

    #[test]
    fn states_are_set_or_carried() {
        let id = AlertId::new(7, 1);
        let mut old = Thresholds::new(b"s".to_vec(), &[50, 80]).unwrap();
        old.set_states(&[(50, State::Reached(Some(id))), (80, State::Reached(None))])
            .unwrap();
        assert_eq!(
            old.set_states(&[(90, State::Below)]),
            Err(ThresholdError::Unknown(90))
        );
        assert_eq!(
            old.set_states(&[(50, State::Below), (50, State::Below)]),
            Err(ThresholdError::Twice(50))
        );
        let mut new = Thresholds::new(b"s".to_vec(), &[80, 90]).unwrap();
        assert_eq!(
            new.carry_from(&old),
            [id],
            "50 dropped: its alert is resolved"
        );
        let states: Vec<State> = new.iter().map(|t| t.state).collect();
        assert_eq!(states, [State::Reached(None), State::Below]);
        let mut elsewhere = Thresholds::new(b"other".to_vec(), &[50]).unwrap();
        assert!(elsewhere.carry_from(&old).is_empty());
        assert_eq!(elsewhere.iter().next().unwrap().state, State::Below);
    }

    #[test]
    fn documents() {
        let d = document(b"tenant:{a}:bytes", 80, a("900"), a("1000"));
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        assert_eq!(v["severity"], "high");
        assert_eq!(v["source"], "tenant:{a}:bytes");
        assert_eq!(v["type"], "quota_threshold");
        assert_eq!(v["labels"]["quota"], "tenant:{a}:bytes");
        assert_eq!(v["labels"]["threshold"], "80");
        assert_eq!((&v["usage"], &v["limit"]), (&"900".into(), &"1000".into()));
        assert_eq!(severity(100), "critical");
        assert_eq!(severity(1000), "critical");
        assert_eq!(severity(79), "medium");
        let odd = document(b"q\"\\\n\x01\xff", 5, a("1"), a("1.5"));
        let v: serde_json::Value = serde_json::from_str(&odd).unwrap();
        assert_eq!(v["source"], "q\"\\\n\u{1}\u{fffd}");
    }
}
