//! QUOTA.* commands. What a primary decides is replicated as the effect it had, never as the
//! check: an applied increment of a WINDOW quota, or of one that made room, as `QUOTA.INCR ...
//! FORCE [NOW t]`; keys it evicted as a DEL; threshold alerts as ALERT.ADD / ALERT.RESOLVE with
//! their IDs, and what each threshold raised as `QUOTA.SET ... RAISED`. A plain increment of a
//! cumulative quota decides without the clock, so it goes as it came.

use super::rdb::{forced_incr_argv, set_argv};
use super::thresholds::{check_stream_here, settle};
use crate::alert::commands::resolve_ids;
use crate::args::{self, parse_id, shown, Args, Keyword};
use crate::clock::{decide_now, from_primary, now_ms};
use crate::error::{err, no_such_key, CmdResult, Error};
use crate::ffi;
use crate::keys;
use crate::lru::{evict as eviction, transit};
use crate::stats::{self, QUOTA_INCRS, QUOTA_REFUSALS};
use crate::text::Text;
use redis_module::{Context, RedisString, RedisValue};
use vigil_core::alert::Stream;
use vigil_core::amount::Amount;
use vigil_core::lru::{check_in, tracker_namespace, Plan, Tracker};
use vigil_core::quota::thresholds::{parse_pct, State, Thresholds};
use vigil_core::quota::{Quota, QuotaError, Report, Room};

/// Keys one QUOTA.INCR ... EVICT may evict without MAX (LRU.EVICT's default).
const DEFAULT_MAX_EVICT: usize = 1000;

/// A limit: a non-negative amount, or -1 for none (as any amount: `-1.0` and `-01` too).
fn parse_limit(v: &RedisString) -> Result<Option<Amount>, Error> {
    let a = args::amount("LIMIT", v)?;
    if a == Amount::from_units(-1_000_000) {
        return Ok(None);
    }
    if a.is_negative() {
        return Err(err(format!(
            "ERR invalid LIMIT '{}': expected an amount >= 0, or -1 for no limit",
            shown(v)
        )));
    }
    Ok(Some(a))
}

/// The value of a LIMIT option.
fn limit_of(args: &mut Args) -> Result<Option<Amount>, Error> {
    let v = args
        .next_string()
        .map_err(|_| err("ERR LIMIT needs a value"))?;
    parse_limit(v)
}

fn pct_of(v: &RedisString) -> Result<u32, Error> {
    parse_pct(v.as_slice()).ok_or_else(|| {
        err(format!(
            "ERR invalid pct '{}': expected an integer from 1 to 1000",
            shown(v)
        ))
    })
}

/// `AT pct [pct ...]`: the list runs while arguments start like a number, so `80.5` or `0` is
/// an invalid pct rather than an unknown option.
fn pct_list(args: &mut Args) -> Result<Vec<u32>, Error> {
    let first = args
        .next_string()
        .map_err(|_| err("ERR AT needs pct [pct ...]"))?;
    let mut pcts = vec![pct_of(first)?];
    while let Some(next) = args.peek() {
        let numeric = next
            .as_slice()
            .first()
            .is_some_and(|b| b.is_ascii_digit() || *b == b'-' || *b == b'+');
        if !numeric {
            break;
        }
        let v = args.next_string()?;
        pcts.push(pct_of(v)?);
    }
    Ok(pcts)
}

/// `RAISED pct id|-`: what threshold `pct` raised (`-`: reached, but no alert was stored).
fn raised_of(args: &mut Args) -> Result<(u32, State), Error> {
    let pct = args
        .next_string()
        .map_err(|_| err("ERR RAISED needs pct and an alert ID or -"))?;
    let pct = pct_of(pct)?;
    let alert = args.value_of("RAISED")?;
    let alert = match alert.as_str() {
        "-" => None,
        id => Some(parse_id(id)?),
    };
    Ok((pct, State::Reached(alert)))
}

/// `[allowed, usage, limit, remaining, reset_ms]`, and the evicted keys when EVICT was given.
pub fn reply(ctx: &Context, r: &Report, evicted: Option<&[&[u8]]>) -> CmdResult {
    let bulk = |a: Option<Amount>| match a {
        Some(a) => ffi::reply_bulk(ctx, Text::amount(a).as_bytes()),
        None => ffi::reply_bulk(ctx, b"-1"),
    };
    ffi::reply_array(ctx, if evicted.is_some() { 6 } else { 5 });
    ffi::reply_int(ctx, i64::from(r.allowed));
    bulk(Some(r.usage));
    bulk(r.limit);
    bulk(r.remaining);
    ffi::reply_int(ctx, r.reset_ms);
    if let Some(keys) = evicted {
        ffi::reply_array(ctx, keys.len());
        for k in keys {
            ffi::reply_bulk(ctx, k);
        }
    }
    Ok(RedisValue::NoReply)
}

/// After a write: acts on the thresholds it moved and, if their record changed, replicates it.
fn settle_and_replicate(ctx: &Context, name: &RedisString, q: &mut Quota, now: u64) {
    if settle(ctx, name, q, now) {
        set_argv(q, Some(now)).replicate(ctx, name.as_slice());
    }
}

/// QUOTA.SET key LIMIT amount [WINDOW ms] [ALERTS stream AT pct [pct ...]] [RAISED pct id ...]
/// [NOW ms]
pub fn set(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 4)?;
    let name = args.next_string()?;
    let (mut limit, mut window, mut now) = (None, None, None);
    let (mut stream, mut pcts, mut raised) = (None, None, Vec::new());
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "LIMIT" => limit = Some(limit_of(&mut args)?),
            "WINDOW" => {
                let ms = args.ms_of("WINDOW")?;
                if ms == 0 {
                    return Err(err("ERR invalid WINDOW '0': expected at least 1 ms"));
                }
                window = Some(ms);
            }
            "ALERTS" => {
                let s = args
                    .next_string()
                    .map_err(|_| err("ERR ALERTS needs a stream key"))?;
                args::once(&mut stream, "ALERTS", s)?;
            }
            "AT" => {
                let list = pct_list(&mut args)?;
                args::once(&mut pcts, "AT", list)?;
            }
            "RAISED" => raised.push(raised_of(&mut args)?),
            "NOW" => now = Some(args.ms_of("NOW")?),
            _ => return Err(args.unknown(opt)),
        }
    }
    let limit = limit.ok_or_else(|| err("ERR QUOTA.SET needs LIMIT amount"))?;
    let thresholds = match (stream, pcts) {
        (Some(stream), Some(pcts)) => {
            if stream.as_slice() == name.as_slice() {
                return Err(err("ERR ALERTS needs a stream key other than the quota's"));
            }
            let mut t = Thresholds::new(stream.as_slice().to_vec(), &pcts)?;
            t.set_states(&raised)?;
            Some((stream, t))
        }
        (Some(_), None) => return Err(err("ERR ALERTS needs AT pct [pct ...]")),
        (None, Some(_)) => return Err(err("ERR AT needs ALERTS stream")),
        (None, None) if !raised.is_empty() => {
            return Err(err("ERR RAISED needs ALERTS stream AT pct [pct ...]"))
        }
        (None, None) => None,
    };
    let trusted = from_primary(ctx);
    // The stream is declared: one of another type is refused now, not at the first alert.
    if let (Some((stream, _)), false) = (&thresholds, trusted) {
        keys::read::<Stream>(&ctx.open_key(stream))?;
    }
    let now = decide_now(ctx, now)?;
    let key = ctx.open_key_writable(name);
    let q = match keys::write::<Quota>(&key)? {
        Some(q) => q,
        None => keys::create(&key, Quota::new(limit, window))?,
    };
    q.configure(limit, window, now);
    let (stream, mut thresholds) = thresholds.unzip();
    // From a client without RAISED, thresholds kept (same stream, same pct) keep what they
    // raised, and alerts of dropped ones in that stream are resolved. From the primary or the
    // AOF, RAISED is the whole record.
    let dropped = match (&mut thresholds, &q.thresholds) {
        (Some(new), Some(old)) if raised.is_empty() && !trusted => new.carry_from(old),
        _ => Vec::new(),
    };
    q.thresholds = thresholds;
    if let Some(stream) = stream.filter(|_| !dropped.is_empty()) {
        // The stream's type was checked above.
        resolve_ids(ctx, stream, &dropped)?;
    }
    settle(ctx, name, q, now);
    set_argv(q, Some(now)).replicate(ctx, name.as_slice());
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// What QUOTA.INCR asks, parsed.
struct Incr<'a> {
    amount: Amount,
    /// LIMIT: None when not given; Some(None) is "-1", no limit.
    limit: Option<Option<Amount>>,
    force: bool,
    /// EVICT tracker, and MAX.
    evict: Option<(&'a RedisString, usize)>,
}

/// What an INCR decides: the keys to evict (the tracker's plan, empty unless the amount then
/// fits) and the reply. `q` changes as the call changes it: the quota itself, or DRYRUN's
/// copy.
struct Decision {
    applied: bool,
    /// Window buckets that no longer count were dropped.
    pruned: bool,
    evict: Plan,
    report: Report,
}

impl Incr<'_> {
    /// Checks that can fail, before anything is created or changed.
    fn check(&self, q: Option<&Quota>, now: u64) -> Result<(), Error> {
        let Some(q) = q else { return Ok(()) };
        if q.window_ms().is_some() {
            if self.amount.is_negative() {
                return Err(QuotaError::NegativeOnWindow.into());
            }
            if self.evict.is_some() {
                return Err(err(
                    "ERR EVICT needs a cumulative quota: a WINDOW quota cannot be released",
                ));
            }
        }
        // Past 10^18 is an error only for an increment that would be applied: a limit (the
        // call's LIMIT first) refuses it, as `Quota::incr` decides.
        let limited = self.limit.unwrap_or(q.limit).is_some() && !self.force;
        if self.amount.is_positive() && !limited && q.usage(now).checked_add(self.amount).is_none()
        {
            return Err(QuotaError::Overflow.into());
        }
        Ok(())
    }

    /// The keys this call would evict from `tracker`: decided on a copy of the quota, as DRYRUN
    /// decides.
    fn plan(&self, ctx: &Context, name: &RedisString, tracker: &Tracker, now: u64) -> Plan {
        let key = ctx.open_key(name);
        let mut q = match keys::read::<Quota>(&key) {
            Ok(Some(q)) => q.clone(),
            _ => Quota::new(None, None),
        };
        self.decide(name.as_slice(), &mut q, Some(tracker), now)
            .map(|d| d.evict)
            .unwrap_or_default()
    }

    fn decide(
        &self,
        name: &[u8],
        q: &mut Quota,
        tracker: Option<&Tracker>,
        now: u64,
    ) -> Result<Decision, Error> {
        if let Some(l) = self.limit {
            q.limit = l;
        }
        let pruned = q.prune(now);
        let evict = match (tracker, &self.evict) {
            (Some(t), Some((_, max))) => match q.room_for(self.amount, now) {
                Room::Needs(needed) => {
                    let spared = eviction::spared(Some((name, Some(&*q))));
                    let plan = t.plan(*max, spared, |freed| freed >= needed);
                    // All or nothing: keys go only when the amount then fits.
                    if plan.freed() >= needed {
                        plan
                    } else {
                        Plan::default()
                    }
                }
                Room::Fits | Room::Never => Plan::default(),
            },
            _ => Plan::default(),
        };
        if !evict.is_empty() {
            q.incr(Amount::ZERO.saturating_sub(evict.freed()), false, now)?;
        }
        let applied = q.incr(self.amount, self.force, now)?.applied;
        Ok(Decision {
            applied,
            pruned,
            report: q.report(applied, now),
            evict,
        })
    }
}

/// QUOTA.INCR key amount [LIMIT amount] [FORCE] [EVICT tracker [MAX n]] [DRYRUN] [NOW ms]
pub fn incr(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let amount = args::amount("amount", args.next_string()?)?;
    let (mut limit, mut force, mut dry_run, mut now) = (None, false, false, None);
    let (mut tracker, mut max) = (None, None);
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "LIMIT" => limit = Some(limit_of(&mut args)?),
            "FORCE" => force = true,
            "EVICT" => {
                let t = args
                    .next_string()
                    .map_err(|_| err("ERR EVICT needs a tracker key"))?;
                args::once(&mut tracker, "EVICT", t)?;
            }
            "MAX" => {
                let v = args
                    .next_string()
                    .map_err(|_| err("ERR MAX needs a value"))?;
                args::once(&mut max, "MAX", args::count("MAX", v)?)?;
            }
            "DRYRUN" => dry_run = true,
            "NOW" => now = Some(args.ms_of("NOW")?),
            _ => return Err(args.unknown(opt)),
        }
    }
    let evict = match (tracker, max) {
        (Some(t), max) => {
            check_in(tracker_namespace(t.as_slice())?, name.as_slice())?;
            if t.as_slice() == name.as_slice() {
                return Err(err("ERR EVICT needs a tracker key other than the quota"));
            }
            Some((t, max.unwrap_or(DEFAULT_MAX_EVICT)))
        }
        (None, Some(_)) => return Err(err("ERR MAX needs EVICT tracker")),
        (None, None) => None,
    };
    let incr = Incr {
        amount,
        limit,
        force,
        evict,
    };
    let now = decide_now(ctx, now)?;
    if dry_run {
        return dry_run_incr(ctx, name, &incr, now);
    }
    if let Some((tracker, _)) = &incr.evict {
        // In a cluster, the keys to delete must be here, not moving between nodes; that check
        // may forget keys that are gone, so the checks that can fail come first.
        let qkey = ctx.open_key(name);
        let q = keys::read::<Quota>(&qkey)?;
        incr.check(q, now)?;
        check_stream_here(ctx, name.as_slice(), q)?;
        keys::read::<Tracker>(&ctx.open_key(tracker))?;
        transit::check_evict(ctx, tracker, |t| incr.plan(ctx, name, t, now))?;
    }

    let key = ctx.open_key_writable(name);
    let existing = keys::write::<Quota>(&key)?;
    incr.check(existing.as_deref(), now)?;
    if incr.evict.is_none() {
        // With EVICT, checked above, before the eviction's own check.
        check_stream_here(ctx, name.as_slice(), existing.as_deref())?;
    }
    let tracker_key = incr.evict.as_ref().map(|(t, _)| ctx.open_key_writable(t));
    let tracker = match &tracker_key {
        Some(k) => keys::write::<Tracker>(k)?,
        None => None,
    };
    let created = existing.is_none();
    let q = match existing {
        Some(q) => q,
        None => keys::create(&key, Quota::new(None, None))?,
    };
    let before = incr.evict.is_some().then(|| q.usage(now));
    let d = incr.decide(name.as_slice(), q, tracker.as_deref(), now)?;

    let evicted = match (tracker, &incr.evict) {
        (Some(t), Some((tracker_name, _))) if !d.evict.is_empty() => {
            let evicted = t.take(d.evict);
            eviction::delete(ctx, tracker_name, &evicted);
            evicted
        }
        _ => Vec::new(),
    };
    // A refused amount on a WINDOW quota still dropped the buckets that no longer count: the
    // replica drops them too (`QUOTA.INCR key 0 FORCE NOW t`), or its buckets, and a later
    // write given an earlier NOW, would differ.
    if d.applied || d.pruned || incr.limit.is_some() || created || !evicted.is_empty() {
        if q.window_ms().is_some() {
            let applied = if d.applied { amount } else { Amount::ZERO };
            forced_incr_argv(applied, incr.limit, Some(now)).replicate(ctx, name.as_slice());
        } else if let Some(before) = before {
            // The room made was decided here: the replica gets the usage it led to.
            let change = q.usage(now).saturating_sub(before);
            forced_incr_argv(change, incr.limit, None).replicate(ctx, name.as_slice());
        } else {
            // A cumulative quota decides without the clock: the replica, holding the same
            // usage, decides the same, so the command goes as it came.
            ffi::replicate_verbatim(ctx, name);
        }
    }
    settle_and_replicate(ctx, name, q, now);
    if d.applied {
        stats::add(&QUOTA_INCRS, 1);
        ffi::notify(ctx, c"quota.incr", name);
    } else {
        stats::add(&QUOTA_REFUSALS, 1);
    }
    let names: Vec<&[u8]> = evicted.iter().map(|(k, _)| &k[..]).collect();
    reply(ctx, &d.report, incr.evict.is_some().then_some(&names[..]))
}

/// QUOTA.INCR ... DRYRUN: the same decision on a copy of the quota, with the tracker only
/// read. Nothing is created, set, evicted, replicated or raised.
fn dry_run_incr(ctx: &Context, name: &RedisString, incr: &Incr, now: u64) -> CmdResult {
    let key = ctx.open_key(name);
    let existing = keys::read::<Quota>(&key)?;
    incr.check(existing, now)?;
    let tracker_key = incr.evict.as_ref().map(|(t, _)| ctx.open_key(t));
    let tracker = match &tracker_key {
        Some(k) => keys::read::<Tracker>(k)?,
        None => None,
    };
    let mut q = existing.cloned().unwrap_or_else(|| Quota::new(None, None));
    let d = incr.decide(name.as_slice(), &mut q, tracker, now)?;
    let names: Vec<&[u8]> = tracker.map_or_else(Vec::new, |t| t.planned(&d.evict).collect());
    reply(ctx, &d.report, incr.evict.is_some().then_some(&names[..]))
}

/// QUOTA.GET key
pub fn get(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key(name);
    match keys::read::<Quota>(&key)? {
        Some(q) => reply(ctx, &q.report(true, now_ms()), None),
        None => Ok(RedisValue::Null),
    }
}

/// QUOTA.RESET key
pub fn reset(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key_writable(name);
    let q = keys::write::<Quota>(&key)?.ok_or_else(no_such_key)?;
    check_stream_here(ctx, name.as_slice(), Some(q))?;
    q.reset();
    ffi::replicate_verbatim(ctx, name);
    settle_and_replicate(ctx, name, q, now_ms());
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// LRU.EVICT ... QUOTA: lowers a cumulative quota by the sizes evicted, replicated as the
/// release it is, and acts on the thresholds it fell below (the command table hands this to
/// LRU.EVICT).
pub fn release(ctx: &Context, name: &RedisString, freed: Amount) {
    let key = ctx.open_key_writable(name);
    let Ok(Some(q)) = keys::write::<Quota>(&key) else {
        return;
    };
    let now = now_ms();
    let release = Amount::ZERO.saturating_sub(freed);
    if q.incr(release, false, now).is_ok() {
        // forced_incr_argv(release, None, None), without building it: this runs for every
        // LRU.EVICT ... QUOTA.
        let amount = Text::amount(release);
        ffi::replicate_key_args(ctx, c"QUOTA.INCR", name, &[amount.as_bytes(), b"FORCE"]);
    }
    settle_and_replicate(ctx, name, q, now);
}
