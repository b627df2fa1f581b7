//! LRU.* commands. Every key a command names must lie in the tracker's namespace; that check
//! comes before any other, so a tenant's tracker can never reach another tenant's keys.

use super::{evict as eviction, index, transit};
use crate::args::{self, shown, Args, Keyword};
use crate::clock::{decide_now, from_primary};
use crate::error::{err, no_such_key, CmdResult, Error};
use crate::ffi::{self, selected_db};
use crate::keys;
use crate::text::Text;
use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, RedisError, RedisString, RedisValue};
use std::collections::BTreeMap;
use vigil_core::amount::Amount;
use vigil_core::lru::{check_in, namespace, Change, Evicted, Tracker, TrackerError};
use vigil_core::quota::Quota;

/// The tracker's namespace, or the error that it has none.
fn tracker_namespace(tracker: &RedisString) -> Result<&[u8], Error> {
    Ok(namespace::tracker_namespace(tracker.as_slice())?)
}

fn parse_size(v: &RedisString) -> Result<Amount, Error> {
    let bad = || {
        err(format!(
            "ERR invalid size '{}': expected an amount >= 0",
            shown(v)
        ))
    };
    let a = Amount::parse(v.as_slice()).map_err(|_| bad())?;
    if a.is_negative() {
        return Err(bad());
    }
    Ok(a)
}

/// A key LRU.TOUCH names, its size, and the size as sent.
struct Pair<'a> {
    key: &'a RedisString,
    size: Amount,
    size_arg: &'a RedisString,
}

impl Change for Pair<'_> {
    fn name(&self) -> &[u8] {
        self.key.as_slice()
    }
    fn size(&self) -> Amount {
        self.size
    }
}

/// LRU.TOUCH tracker key size [key size ...]
pub fn touch(ctx: &Context, args: &[RedisString]) -> CmdResult {
    touch_impl(ctx, args, false)
}

/// LRU.TOUCHAT tracker ms key size [key size ...]: TOUCH at an explicit time (replication,
/// AOF rewrite); from a client the time may not be later than the server clock.
pub fn touch_at(ctx: &Context, args: &[RedisString]) -> CmdResult {
    touch_impl(ctx, args, true)
}

fn touch_impl(ctx: &Context, args: &[RedisString], explicit_time: bool) -> CmdResult {
    let min = if explicit_time { 5 } else { 4 };
    let mut args = Args::new(args, min)?;
    if args.remaining() % 2 == usize::from(explicit_time) {
        return Err(RedisError::WrongArity.into());
    }
    let name = args.next_string()?;
    let ns = tracker_namespace(name)?;
    // The namespace check comes before any other: every key named, before the time or a
    // size is read.
    let keys = args
        .rest()
        .iter()
        .skip(usize::from(explicit_time))
        .step_by(2);
    for key in keys {
        check_in(ns, key.as_slice())?;
    }
    let at = if explicit_time {
        Some(args.ms_of("ms")?)
    } else {
        None
    };
    // Replication passes the client's own key and size strings on.
    let mut pairs: Vec<Pair> = Vec::with_capacity(args.remaining() / 2);
    while let Some(key) = args.next() {
        let size_arg = args.next_string()?;
        let size = parse_size(size_arg)?;
        pairs.push(Pair {
            key,
            size,
            size_arg,
        });
    }
    let now = decide_now(ctx, at)?;
    // Keys that do not exist are skipped (commands from the primary or the AOF were decided
    // there); the tracker never tracks itself. Existence checks may expire keys and raise
    // events, so they run before the tracker is opened.
    let trusted = from_primary(ctx);
    let mut absent: Vec<&[u8]> = Vec::new();
    pairs.retain(|p| {
        if p.key.as_slice() == name.as_slice() {
            return false;
        }
        let here = trusted || ffi::key_exists(ctx, p.key);
        if !here {
            absent.push(p.key.as_slice());
        }
        here
    });
    // In a cluster, a key that is not here may be moving between nodes (TRYAGAIN then).
    transit::check_absent(
        ctx,
        name.as_slice(),
        absent.iter().copied(),
        transit::TRACKED_KEYS,
    )?;
    let key = ctx.open_key_writable(name);
    let existing = keys::write::<Tracker>(&key)?;
    if pairs.is_empty() {
        return Ok(RedisValue::Integer(0));
    }
    let tracker = match existing {
        Some(t) => t,
        None => {
            // Sizes that would take the total past the amount range are refused before the
            // tracker is made (an existing one refuses them itself, nothing recorded).
            if Tracker::new().total_after(&pairs).is_none() {
                return Err(TrackerError::TotalOutOfRange.into());
            }
            let t = keys::create(&key, Tracker::new())?;
            index::add_tracker(selected_db(ctx), name.as_slice());
            t
        }
    };
    // All the keys at once: a key named twice counts once, by its last size.
    let added = tracker.touch_all(&pairs, now)?;
    // LRU.TOUCHAT tracker now key size ...: the client's own strings, and the time as a
    // string kept for its millisecond (an argument vector built of copies was half of
    // LRU.TOUCH's cost).
    let sent = pairs
        .iter()
        .flat_map(|p| [ffi::Arg::Sent(p.key), ffi::Arg::Sent(p.size_arg)]);
    let head = [ffi::Arg::Sent(name), ffi::Arg::Now(now)];
    ffi::replicate_args(ctx, c"LRU.TOUCHAT", head.into_iter().chain(sent));
    ffi::notify(ctx, c"lru.touch", name);
    Ok(RedisValue::Integer(added as i64))
}

/// LRU.EVICTED tracker n (module extension: what replication and AOF rewrite send): adds `n`
/// to the tracker's count of evicted keys, making an empty tracker when there is none. A
/// replica and the AOF see LRU.EVICT as the DEL of the keys evicted, and this.
pub fn evicted(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    // A tracker renamed to a name without a namespace (it then holds no key) is rewritten
    // with this too: the AOF may name it.
    if !from_primary(ctx) {
        tracker_namespace(name)?;
    }
    let n = args.ms_of("n")?;
    if !args.is_empty() {
        return Err(RedisError::WrongArity.into());
    }
    let key = ctx.open_key_writable(name);
    let tracker = match keys::write::<Tracker>(&key)? {
        Some(t) => t,
        None => {
            let t = keys::create(&key, Tracker::new())?;
            index::add_tracker(selected_db(ctx), name.as_slice());
            t
        }
    };
    tracker.count_evicted(n);
    ffi::replicate_verbatim(ctx, name);
    Ok(RedisValue::Integer(tracker.evicted() as i64))
}

/// LRU.FORGET tracker key [key ...]
pub fn forget(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let ns = tracker_namespace(name)?;
    let keys: Vec<&RedisString> = args.collect();
    for k in &keys {
        check_in(ns, k.as_slice())?;
    }
    let key = ctx.open_key_writable(name);
    let Some(tracker) = keys::write::<Tracker>(&key)? else {
        return Ok(RedisValue::Integer(0));
    };
    let removed = keys
        .iter()
        .filter(|k| tracker.forget(k.as_slice()).is_some())
        .count();
    if removed > 0 {
        ffi::replicate_verbatim(ctx, name);
    }
    Ok(RedisValue::Integer(removed as i64))
}

/// LRU.CANDIDATES tracker count
pub fn candidates(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let count = args::count("count", args.next_string()?)?;
    if !args.is_empty() {
        return Err(RedisError::WrongArity.into());
    }
    // As FORGET and EVICT: a name without a namespace is an error, missing or not.
    tracker_namespace(name)?;
    let key = ctx.open_key(name);
    let Some(tracker) = keys::read::<Tracker>(&key)? else {
        return Ok(RedisValue::Array(vec![]));
    };
    Ok(RedisValue::Array(
        tracker
            .candidates(count)
            .into_iter()
            .map(|e| {
                RedisValue::Array(vec![
                    RedisValue::StringBuffer(e.name.to_vec()),
                    RedisValue::BulkString(e.size.to_string()),
                    RedisValue::Integer(e.last_used.min(i64::MAX as u64) as i64),
                ])
            })
            .collect(),
    ))
}

/// `[evicted, freed, total, [key ...]]`, written straight into the reply (no value tree, no
/// copy of the names).
fn evict_reply(ctx: &Context, evicted: &[Evicted], total: Amount) -> CmdResult {
    ffi::reply_array(ctx, 4);
    ffi::reply_int(ctx, evicted.len() as i64);
    ffi::reply_bulk(ctx, Text::amount(eviction::freed(evicted)).as_bytes());
    ffi::reply_bulk(ctx, Text::amount(total).as_bytes());
    ffi::reply_array(ctx, evicted.len());
    for (k, _) in evicted {
        ffi::reply_bulk(ctx, k);
    }
    Ok(RedisValue::NoReply)
}

/// Lowers LRU.EVICT's QUOTA by the sizes evicted, with all that lowering a quota involves
/// (its replication, its threshold alerts): the quota glue's, passed in by the command table,
/// so that lru/ imports nothing of quota/ (which imports the shared eviction from here).
/// It cannot fail: the keys are gone by then (the quota was checked before).
pub type ReleaseQuota = fn(&Context, &RedisString, Amount);

/// The values of the `QUOTA` options among LRU.EVICT's options, read as the option loop reads
/// them (a keyword and its value), whatever else is wrong with them: checked against the
/// namespace before anything else is.
fn quota_keys(opts: &[RedisString]) -> impl Iterator<Item = &RedisString> {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < opts.len() {
            let keyword = Keyword::of(&opts[i]);
            match keyword.as_str() {
                "QUOTA" | "MAX" => {
                    i += 2;
                    if keyword.as_str() == "QUOTA" && i <= opts.len() {
                        return Some(&opts[i - 1]);
                    }
                }
                _ => i += 1,
            }
        }
        None
    })
}

/// LRU.EVICT tracker target [QUOTA quotakey] [MAX n]
pub fn evict(ctx: &Context, args: &[RedisString], release: ReleaseQuota) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let target_arg = args.next_string()?;
    // The namespace check comes before any other: the tracker's, then every QUOTA key named,
    // before the target and the options are read.
    let ns = tracker_namespace(name)?;
    for q in quota_keys(args.rest()) {
        check_in(ns, q.as_slice())?;
    }
    let (mut quota, mut max) = (None, 1000usize);
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "QUOTA" => {
                let q = args
                    .next_string()
                    .map_err(|_| err("ERR QUOTA needs a key"))?;
                args::once(&mut quota, "QUOTA", q)?;
            }
            "MAX" => {
                let v = args
                    .next_string()
                    .map_err(|_| err("ERR MAX needs a value"))?;
                max = args::count("MAX", v)?;
            }
            _ => return Err(args.unknown(opt)),
        }
    }
    let target = parse_size(target_arg).map_err(|_| {
        err(format!(
            "ERR invalid target '{}': expected an amount >= 0",
            shown(target_arg)
        ))
    })?;
    // The quota must be a cumulative one (a window cannot be released), checked up front.
    let spared = match &quota {
        Some(q) => {
            let qkey = ctx.open_key(q);
            let qv = keys::read::<Quota>(&qkey)?;
            if qv.is_some_and(|qv| qv.window_ms().is_some()) {
                return Err(err(
                    "ERR QUOTA must be a cumulative quota: a WINDOW quota cannot be released",
                ));
            }
            crate::quota::thresholds::check_stream_here(ctx, q.as_slice(), qv)?;
            eviction::spared(Some((q.as_slice(), qv)))
        }
        None => eviction::spared(None),
    };
    // In a cluster, the keys to delete must be here, not moving between nodes.
    transit::check_evict(ctx, name, |t| t.plan_to(target, max, &spared))?;
    let key = ctx.open_key_writable(name);
    let Some(tracker) = keys::write::<Tracker>(&key)? else {
        return evict_reply(ctx, &[], Amount::ZERO);
    };
    let evicted = tracker.evict(target, max, &spared);
    let total = tracker.total();
    if evicted.is_empty() {
        return evict_reply(ctx, &evicted, total);
    }
    eviction::delete(ctx, name, &evicted);
    if let Some(q) = &quota {
        release(ctx, q, eviction::freed(&evicted));
    }
    evict_reply(ctx, &evicted, total)
}

/// LRU.INFO tracker
pub fn info(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key(name);
    let t = keys::read::<Tracker>(&key)?.ok_or_else(no_such_key)?;
    let fields: [(&str, RedisValue); 6] = [
        ("keys", RedisValue::Integer(t.len() as i64)),
        ("total", RedisValue::BulkString(t.total().to_string())),
        (
            "oldest_ms",
            t.oldest_ms()
                .map_or(RedisValue::Null, |v| RedisValue::Integer(v as i64)),
        ),
        ("evicted", RedisValue::Integer(t.evicted() as i64)),
        (
            "namespace",
            namespace(name.as_slice())
                .map_or(RedisValue::Null, |n| RedisValue::StringBuffer(n.to_vec())),
        ),
        ("memory", RedisValue::Integer(t.memory_usage() as i64)),
    ];
    let map: BTreeMap<RedisValueKey, RedisValue> = fields
        .into_iter()
        .map(|(k, v)| (RedisValueKey::String(k.to_owned()), v))
        .collect();
    Ok(RedisValue::OrderedMap(map))
}
