//! A quota's threshold alerts, acted on. After a write to a quota (INCR, SET, RESET, a release
//! by an eviction), each threshold usage reached raises an alert through ALERT.ADD's steps
//! (`add_alert`: dedup, rate limit, retention, its replication), and each it fell below has its
//! alert resolved, in the same atomic step; the quota records what each threshold raised. The
//! rules (which thresholds moved, the document) are the core's.
//!
//! Only a primary acts. A replica and an AOF load receive the alerts as the ALERT.ADD and
//! ALERT.RESOLVE effects, and the quota's record as QUOTA.SET ... RAISED; acting again there
//! would add alerts twice.

use crate::alert::commands::{add_alert, resolve_ids};
use crate::args::shown;
use crate::clock::from_primary;
use crate::error::Error;
use crate::ffi::{self, cluster::in_cluster};
use crate::lru::transit::check_absent;
use redis_module::{Context, RedisString};
use vigil_core::alert::{AlertId, Outcome};
use vigil_core::quota::thresholds::{document, State};
use vigil_core::quota::Quota;

/// Before a write to quota `q` under `key` (QUOTA.INCR, QUOTA.RESET, LRU.EVICT ... QUOTA) changes
/// anything: its threshold alerts go to a stream that only QUOTA.SET declares, so Redis
/// Cluster does not see it. While that stream's slot moves between nodes and the stream is not
/// here, it may be on the other node: the write answers TRYAGAIN (cluster clients retry it)
/// rather than start a second stream here, which the move would then refuse to overwrite, or
/// leave an alert there unresolved. Any write to such a quota, whether it would move a
/// threshold or not: the move of a slot is short, and the rule stays simple.
pub fn check_stream_here(ctx: &Context, key: &[u8], q: Option<&Quota>) -> Result<(), Error> {
    let Some(t) = q.and_then(|q| q.thresholds.as_ref()) else {
        return Ok(());
    };
    if !in_cluster(ctx) || from_primary(ctx) {
        return Ok(());
    }
    if ffi::key_exists(ctx, &crate::keys::name(ctx, t.stream())) {
        return Ok(());
    }
    check_absent(ctx, key, [t.stream()], "the quota's ALERTS stream")
}

/// Acts on the thresholds usage at `now` moved; true if the quota's record of them changed
/// (the caller then replicates it).
pub fn settle(ctx: &Context, name: &RedisString, q: &mut Quota, now: u64) -> bool {
    // Most quotas have no thresholds: that is looked at first, on QUOTA.INCR's hot path.
    if q.thresholds.is_none() || from_primary(ctx) {
        return false;
    }
    let moves = q.threshold_moves(now);
    if moves.is_empty() {
        return false;
    }
    let Some(thresholds) = q.thresholds.as_ref() else {
        return false;
    };
    let stream = crate::keys::name(ctx, thresholds.stream());
    // QUOTA.SET keeps the stream apart from the quota; a RENAME of the quota onto its
    // stream's name would make them one key, which holds a quota, not alerts.
    let usable = stream.as_slice() != name.as_slice();
    let fell: Vec<AlertId> = moves.fell.iter().filter_map(|(_, id)| *id).collect();
    if usable && !fell.is_empty() {
        // A stream overwritten by another type has nothing to resolve.
        let _ = resolve_ids(ctx, &stream, &fell);
    }
    let usage = q.usage(now);
    let mut raised = Vec::with_capacity(moves.reached.len());
    for &pct in &moves.reached {
        let alert = match q.limit.filter(|_| usable) {
            Some(limit) => {
                let doc = document(name.as_slice(), pct, usage, limit);
                match add_alert(ctx, &stream, doc.as_bytes(), None, None, now) {
                    Ok(Outcome::Added(id) | Outcome::Duplicate(id, _) | Outcome::Exists(id, _)) => {
                        Some(id)
                    }
                    Ok(Outcome::Limited(_) | Outcome::Expired) => None,
                    // The quota's write stands: an alert that could not be stored is one
                    // that was not (as a rate-limited one), and the log says why.
                    Err(e) => {
                        ctx.log_warning(&format!(
                            "vigil: quota '{}' reached {pct}%, its alert was not stored in '{}': {e}",
                            shown(name),
                            shown(&stream)
                        ));
                        None
                    }
                }
            }
            None => None,
        };
        raised.push((pct, alert));
    }
    if let Some(t) = q.thresholds.as_mut() {
        for (pct, _) in moves.fell {
            t.record(pct, State::Below);
        }
        for (pct, alert) in raised {
            t.record(pct, State::Reached(alert));
        }
    }
    true
}
