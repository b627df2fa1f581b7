//! A quota: a limit and a usage, cumulative or over a sliding window. Time is an argument.
//!
//! A WINDOW quota keeps its usage in at most `BUCKETS` time buckets of `window / BUCKETS` ms
//! (at least 1 ms): memory stays bounded however many increments arrive, and an amount counts
//! from the moment it was added until the end of the window that began at the start of its
//! bucket, that is for between `window - bucket` and `window` ms (exact for windows up to
//! `BUCKETS` ms).

use super::thresholds::{Moves, Thresholds};
use crate::amount::Amount;
use std::collections::VecDeque;

pub const BUCKETS: u64 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// None: unlimited.
    pub limit: Option<Amount>,
    kind: Kind,
    /// Threshold alerts (QUOTA.SET ... ALERTS).
    pub thresholds: Option<Thresholds>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Cumulative(Amount),
    Window(Window),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    window_ms: u64,
    /// (bucket start ms, amount added in that bucket), oldest first, no empty bucket.
    buckets: VecDeque<(u64, Amount)>,
}

impl Window {
    fn new(window_ms: u64) -> Window {
        Window {
            window_ms: window_ms.max(1),
            buckets: VecDeque::new(),
        }
    }

    fn bucket_ms(&self) -> u64 {
        self.window_ms.div_ceil(BUCKETS).max(1)
    }

    /// Whether an amount in the bucket starting at `start` still counts at `now`.
    fn live(&self, start: u64, now: u64) -> bool {
        start.saturating_add(self.window_ms) > now
    }

    fn usage(&self, now: u64) -> Amount {
        self.buckets
            .iter()
            .filter(|(start, _)| self.live(*start, now))
            .fold(Amount::ZERO, |sum, (_, a)| {
                sum.checked_add(*a).unwrap_or(sum)
            })
    }

    fn prune(&mut self, now: u64) -> bool {
        let before = self.buckets.len();
        while let Some((start, _)) = self.buckets.front() {
            if self.live(*start, now) {
                break;
            }
            self.buckets.pop_front();
        }
        self.buckets.len() != before
    }

    /// Adds at `now` (amount >= 0).
    fn add(&mut self, amount: Amount, now: u64) {
        self.prune(now);
        if !amount.is_positive() {
            return;
        }
        let start = now - now % self.bucket_ms();
        match self.buckets.iter_mut().rev().find(|(s, _)| *s == start) {
            Some((_, sum)) => *sum = sum.checked_add(amount).unwrap_or(*sum),
            None => {
                // Buckets are kept in order; a clock step back lands in place.
                let pos = self.buckets.partition_point(|(s, _)| *s < start);
                self.buckets.insert(pos, (start, amount));
            }
        }
    }

    /// ms until the window's usage next drops; 0 when nothing counts.
    fn reset_ms(&self, now: u64) -> i64 {
        self.buckets
            .iter()
            .find(|(start, _)| self.live(*start, now))
            .map_or(0, |(start, _)| (start + self.window_ms - now) as i64)
    }
}

/// What a check-and-add decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The amount was applied.
    pub applied: bool,
}

/// What a positive amount needs to fit (QUOTA.INCR ... EVICT frees it before adding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Room {
    Fits,
    /// Fits once this much usage is released.
    Needs(Amount),
    /// Never fits: larger than the limit, or the quota cannot be released (a WINDOW).
    Never,
}

/// A QUOTA.* reply: `[allowed, usage, limit, remaining, reset_ms]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub allowed: bool,
    pub usage: Amount,
    pub limit: Option<Amount>,
    pub remaining: Option<Amount>,
    pub reset_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaError {
    NegativeOnWindow,
    Overflow,
}

impl std::fmt::Display for QuotaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuotaError::NegativeOnWindow => write!(
                f,
                "ERR a negative amount cannot be released from a WINDOW quota"
            ),
            QuotaError::Overflow => write!(f, "ERR usage would exceed 10^18"),
        }
    }
}

impl Quota {
    /// A new quota; `window_ms` None for a cumulative one.
    pub fn new(limit: Option<Amount>, window_ms: Option<u64>) -> Quota {
        Quota {
            limit,
            kind: match window_ms {
                Some(w) => Kind::Window(Window::new(w)),
                None => Kind::Cumulative(Amount::ZERO),
            },
            thresholds: None,
        }
    }

    pub fn window_ms(&self) -> Option<u64> {
        match &self.kind {
            Kind::Window(w) => Some(w.window_ms),
            Kind::Cumulative(_) => None,
        }
    }

    pub fn usage(&self, now: u64) -> Amount {
        match &self.kind {
            Kind::Cumulative(u) => *u,
            Kind::Window(w) => w.usage(now),
        }
    }

    /// QUOTA.SET: replaces the configuration, keeping the current usage (moved to `now` when
    /// the kind or the window changes).
    pub fn configure(&mut self, limit: Option<Amount>, window_ms: Option<u64>, now: u64) {
        let usage = self.usage(now);
        self.limit = limit;
        let same = match (&self.kind, window_ms) {
            (Kind::Cumulative(_), None) => true,
            (Kind::Window(w), Some(ms)) => w.window_ms == ms.max(1),
            _ => false,
        };
        if same {
            return;
        }
        self.kind = match window_ms {
            None => Kind::Cumulative(usage),
            Some(ms) => {
                let mut w = Window::new(ms);
                w.add(usage, now);
                Kind::Window(w)
            }
        };
    }

    /// QUOTA.INCR: checks and adds. A positive amount that would take usage above the limit
    /// is refused unless `force`; negative amounts are always applied, and usage stays >= 0.
    pub fn incr(&mut self, amount: Amount, force: bool, now: u64) -> Result<Decision, QuotaError> {
        if amount.is_negative() && matches!(self.kind, Kind::Window(_)) {
            return Err(QuotaError::NegativeOnWindow);
        }
        let usage = self.usage(now);
        // A sum past 10^18 is past every limit: a limit refuses it, as any other amount that
        // does not fit. Only an increment that would be applied (FORCE, no limit) is an error.
        let after = usage.checked_add(amount);
        let refused = |l: Amount| after.is_none_or(|a| a > l);
        if amount.is_positive() && !force && self.limit.is_some_and(refused) {
            return Ok(Decision { applied: false });
        }
        let after = after.ok_or(QuotaError::Overflow)?;
        match &mut self.kind {
            Kind::Cumulative(u) => *u = after.max(Amount::ZERO),
            Kind::Window(w) => w.add(amount, now),
        }
        Ok(Decision { applied: true })
    }

    /// How much usage must be released for `amount` to fit at `now`.
    pub fn room_for(&self, amount: Amount, now: u64) -> Room {
        let Some(limit) = self.limit else {
            return Room::Fits;
        };
        let usage = self.usage(now);
        match usage.checked_add(amount) {
            _ if !amount.is_positive() => Room::Fits,
            Some(after) if after <= limit => Room::Fits,
            // Usage never goes below 0: an amount above the limit fits nowhere.
            _ if amount > limit || self.window_ms().is_some() => Room::Never,
            Some(after) => Room::Needs(after.saturating_sub(limit)),
            None => Room::Never,
        }
    }

    /// Which thresholds usage at `now` moves (none without thresholds).
    pub fn threshold_moves(&self, now: u64) -> Moves {
        self.thresholds
            .as_ref()
            .map_or_else(Moves::default, |t| t.moves(self.usage(now), self.limit))
    }

    /// QUOTA.RESET: usage 0, limit kept.
    pub fn reset(&mut self) {
        match &mut self.kind {
            Kind::Cumulative(u) => *u = Amount::ZERO,
            Kind::Window(w) => w.buckets.clear(),
        }
    }

    /// Drops buckets that no longer count (a write, so it runs only on write paths); whether
    /// it dropped any (a change a replica must make too).
    pub fn prune(&mut self, now: u64) -> bool {
        match &mut self.kind {
            Kind::Window(w) => w.prune(now),
            _ => false,
        }
    }

    /// The reply; `applied` is what INCR decided (GET passes true).
    pub fn report(&self, applied: bool, now: u64) -> Report {
        let usage = self.usage(now);
        let within = self.limit.is_none_or(|l| usage <= l);
        Report {
            allowed: applied && within,
            usage,
            limit: self.limit,
            remaining: self.limit.map(|l| {
                if usage >= l {
                    Amount::ZERO
                } else {
                    l.saturating_sub(usage)
                }
            }),
            reset_ms: match &self.kind {
                Kind::Cumulative(_) => -1,
                Kind::Window(w) => w.reset_ms(now),
            },
        }
    }

    /// Persistence view: cumulative usage, or the window's buckets.
    pub fn parts(&self) -> (Option<Amount>, Vec<(u64, Amount)>) {
        match &self.kind {
            Kind::Cumulative(u) => (Some(*u), Vec::new()),
            Kind::Window(w) => (None, w.buckets.iter().copied().collect()),
        }
    }

    /// Rebuilds a quota from `parts` (RDB load).
    pub fn from_parts(
        limit: Option<Amount>,
        window_ms: Option<u64>,
        usage: Amount,
        buckets: Vec<(u64, Amount)>,
    ) -> Quota {
        let mut q = Quota::new(limit, window_ms);
        match &mut q.kind {
            Kind::Cumulative(u) => *u = usage.max(Amount::ZERO),
            Kind::Window(w) => {
                let mut buckets = buckets;
                buckets.sort_by_key(|(s, _)| *s);
                w.buckets = buckets
                    .into_iter()
                    .filter(|(_, a)| a.is_positive())
                    .collect();
            }
        }
        q
    }

    /// Adds a bucket exactly as it was (AOF rewrite replays the buckets with their times).
    pub fn restore_bucket(&mut self, start: u64, amount: Amount) {
        if let Kind::Window(w) = &mut self.kind {
            if amount.is_positive() {
                let pos = w.buckets.partition_point(|(s, _)| *s < start);
                match w.buckets.get_mut(pos) {
                    Some((s, sum)) if *s == start => *sum = sum.checked_add(amount).unwrap_or(*sum),
                    _ => w.buckets.insert(pos, (start, amount)),
                }
            }
        }
    }

    pub fn memory_usage(&self) -> usize {
        let buckets = match &self.kind {
            Kind::Window(w) => crate::memsize::alloc_size(
                w.buckets.capacity() * std::mem::size_of::<(u64, Amount)>(),
            ),
            Kind::Cumulative(_) => 0,
        };
        let thresholds = self.thresholds.as_ref().map_or(0, Thresholds::heap_bytes);
        crate::memsize::alloc_size(std::mem::size_of::<Quota>()) + buckets + thresholds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        Amount::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn a_limit_refuses_a_sum_past_10_18_and_only_an_applied_one_is_an_error() {
        let max = "1000000000000000000";
        let mut q = Quota::new(Some(a("10")), None);
        assert!(q.incr(a("3.5"), false, 0).unwrap().applied);
        assert!(!q.incr(a(max), false, 0).unwrap().applied);
        assert_eq!(q.usage(0), a("3.5"));
        // Forced, the same sum does not fit in an amount: an error, and nothing changes.
        assert_eq!(q.incr(a(max), true, 0), Err(QuotaError::Overflow));
        assert_eq!(q.usage(0), a("3.5"));
        // Usage forced to 10^18: one more is refused by the limit, an error without one.
        let mut q = Quota::new(Some(a("10")), None);
        assert!(q.incr(a(max), true, 0).unwrap().applied);
        assert!(!q.incr(a("1"), false, 0).unwrap().applied);
        q.configure(None, None, 0);
        assert_eq!(q.incr(a("1"), false, 0), Err(QuotaError::Overflow));
        assert_eq!(q.usage(0), a(max));
    }

    #[test]
    fn cumulative_check_and_add() {
        let mut q = Quota::new(Some(a("10")), None);
        assert!(q.incr(a("6"), false, 0).unwrap().applied);
        assert!(!q.incr(a("5"), false, 0).unwrap().applied, "would exceed");
        assert_eq!(q.usage(0), a("6"));
        assert!(
            q.incr(a("4"), false, 0).unwrap().applied,
            "exactly at the limit"
        );
        let r = q.report(true, 0);
        assert_eq!(
            (r.allowed, r.usage, r.remaining, r.reset_ms),
            (true, a("10"), Some(a("0")), -1)
        );
        assert!(q.incr(a("1"), true, 0).unwrap().applied, "FORCE applies");
        let r = q.report(true, 0);
        assert!(!r.allowed, "and reports over");
        assert_eq!(r.remaining, Some(Amount::ZERO));
        assert!(q.incr(a("-100"), false, 0).unwrap().applied);
        assert_eq!(q.usage(0), Amount::ZERO, "never below 0");
        let mut u = Quota::new(None, None);
        assert!(u.incr(a("1000000000000000"), false, 0).unwrap().applied);
        assert_eq!(u.report(true, 0).remaining, None);
    }

    #[test]
    fn window_slides() {
        let mut q = Quota::new(Some(a("10")), Some(1000));
        assert!(q.incr(a("4"), false, 100).unwrap().applied);
        assert!(q.incr(a("6"), false, 600).unwrap().applied);
        assert!(!q.incr(a("1"), false, 700).unwrap().applied);
        assert_eq!(q.report(true, 700).reset_ms, 400);
        // At 1100 the amount from 100 has left the window.
        assert_eq!(q.usage(1100), a("6"));
        assert!(q.incr(a("4"), false, 1100).unwrap().applied);
        assert_eq!(q.usage(1600), a("4"));
        assert_eq!(q.usage(2100), Amount::ZERO);
        assert_eq!(q.report(true, 2100).reset_ms, 0);
        assert_eq!(q.incr(a("-1"), false, 0), Err(QuotaError::NegativeOnWindow));
    }

    #[test]
    fn window_memory_is_bounded() {
        let mut q = Quota::new(None, Some(60_000));
        for t in 0..1_000_000u64 {
            q.incr(a("1"), false, t / 10).unwrap();
        }
        let (_, buckets) = q.parts();
        assert!(buckets.len() as u64 <= BUCKETS + 1, "{}", buckets.len());
        // Counts for between window - bucket and window ms: at 100000 the buckets starting
        // after 40000 count (600 ms buckets: from 40200), 10 a ms up to 99999.
        assert_eq!(q.usage(100_000), a("598000"));
    }

    #[test]
    fn room_for_an_amount() {
        let mut q = Quota::new(Some(a("1000")), None);
        q.incr(a("800"), false, 0).unwrap();
        assert_eq!(q.room_for(a("200"), 0), Room::Fits);
        assert_eq!(q.room_for(a("500"), 0), Room::Needs(a("300")));
        assert_eq!(q.room_for(a("1000"), 0), Room::Needs(a("800")));
        assert_eq!(q.room_for(a("1000.000001"), 0), Room::Never);
        assert_eq!(q.room_for(a("-5"), 0), Room::Fits);
        q.limit = None;
        assert_eq!(q.room_for(a("1000000"), 0), Room::Fits);
        let mut w = Quota::new(Some(a("10")), Some(1000));
        w.incr(a("8"), false, 0).unwrap();
        assert_eq!(
            w.room_for(a("5"), 0),
            Room::Never,
            "a window cannot be released"
        );
        assert_eq!(w.room_for(a("5"), 1000), Room::Fits, "it slides instead");
    }

    #[test]
    fn switching_kinds_keeps_usage() {
        let mut q = Quota::new(Some(a("5")), None);
        q.incr(a("3"), false, 0).unwrap();
        q.configure(Some(a("5")), Some(1000), 50);
        assert_eq!(q.usage(50), a("3"));
        assert_eq!(q.usage(1050), Amount::ZERO, "as if added at 50");
        q.incr(a("2"), false, 1100).unwrap();
        q.configure(None, None, 1200);
        assert_eq!(q.usage(5000), a("2"));
        assert_eq!(q.limit, None);
    }
}
