//! QUOTA.* commands. Decisions that depend on the clock (WINDOW quotas) are replicated as their
//! effect: an applied increment as `QUOTA.INCR ... FORCE NOW t`, never as the check.

use super::meter::{Quota, Report};
use crate::alert::commands::{decide_now, now_ms};
use crate::args::{err, wrong_type, Args, Keyword};
use crate::callbacks::QUOTA_TYPE;
use crate::ffi::{self, Text};
use crate::stats::{self, QUOTA_INCRS, QUOTA_KEYS, QUOTA_REFUSALS};
use crate::util::amount::Amount;
use redis_module::key::{RedisKey, RedisKeyWritable};
use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};

fn read_quota(key: &RedisKey) -> Result<Option<&Quota>, RedisError> {
    key.get_value::<Quota>(&QUOTA_TYPE)
        .map_err(|_| wrong_type())
}

fn write_quota(key: &RedisKeyWritable) -> Result<Option<&mut Quota>, RedisError> {
    key.get_value::<Quota>(&QUOTA_TYPE)
        .map_err(|_| wrong_type())
}

fn parse_amount(name: &str, v: &RedisString) -> Result<Amount, RedisError> {
    Amount::parse(v.as_slice())
        .map_err(|e| err(format!("ERR invalid {name} '{}': {e}", v.to_string_lossy())))
}

/// A limit: a non-negative amount, or -1 for none.
fn parse_limit(v: &RedisString) -> Result<Option<Amount>, RedisError> {
    if v.as_slice() == b"-1" {
        return Ok(None);
    }
    let a = parse_amount("LIMIT", v)?;
    if a.is_negative() {
        return Err(err(format!(
            "ERR invalid LIMIT '{}': expected an amount >= 0, or -1 for no limit",
            v.to_string_lossy()
        )));
    }
    Ok(Some(a))
}

/// The value of a LIMIT option.
fn limit_of(args: &mut Args) -> Result<Option<Amount>, RedisError> {
    let v = args
        .next_string()
        .map_err(|_| err("ERR LIMIT needs a value"))?;
    parse_limit(&v)
}

fn reply(ctx: &Context, r: &Report) -> RedisResult {
    let bulk = |a: Option<Amount>| match a {
        Some(a) => ffi::reply_bulk(ctx, Text::display(&a).as_bytes()),
        None => ffi::reply_bulk(ctx, b"-1"),
    };
    ffi::reply_array(ctx, 5);
    ffi::reply_int(ctx, i64::from(r.allowed));
    bulk(Some(r.usage));
    bulk(r.limit);
    bulk(r.remaining);
    ffi::reply_int(ctx, r.reset_ms);
    Ok(RedisValue::NoReply)
}

fn replicate(ctx: &Context, command: &str, args: &[&[u8]]) {
    ctx.replicate(command, args);
}

fn create(key: &RedisKeyWritable, q: Quota) -> Result<&mut Quota, RedisError> {
    key.set_value(&QUOTA_TYPE, q)?;
    stats::adjust(&QUOTA_KEYS, 1);
    write_quota(key)?.ok_or_else(|| err("ERR could not create the quota"))
}

/// QUOTA.SET key LIMIT amount [WINDOW ms] [NOW ms]
pub fn set(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let mut args = Args::new(args, 4)?;
    let name = args.next_string()?;
    let (mut limit, mut window, mut now) = (None, None, None);
    while let Some(opt) = args.next() {
        match Keyword::of(&opt).as_str() {
            "LIMIT" => limit = Some(limit_of(&mut args)?),
            "WINDOW" => {
                let ms = args.ms_of("WINDOW")?;
                if ms == 0 {
                    return Err(err("ERR invalid WINDOW '0': expected at least 1 ms"));
                }
                window = Some(ms);
            }
            "NOW" => now = Some(args.ms_of("NOW")?),
            _ => return Err(args.unknown(&opt)),
        }
    }
    let limit = limit.ok_or_else(|| err("ERR QUOTA.SET needs LIMIT amount"))?;
    let now = decide_now(ctx, now)?;
    let key = ctx.open_key_writable(&name);
    match write_quota(&key)? {
        Some(q) => q.configure(limit, window, now),
        None => {
            let mut q = Quota::new(limit, window);
            q.configure(limit, window, now);
            create(&key, q)?;
        }
    }
    let limit_s = limit.map_or("-1".to_string(), |l| l.to_string());
    let now_s = now.to_string();
    let window_s = window.map(|w| w.to_string());
    let mut rep: Vec<&[u8]> = vec![name.as_slice(), b"LIMIT", limit_s.as_bytes()];
    if let Some(w) = &window_s {
        rep.extend([b"WINDOW".as_slice(), w.as_bytes()]);
    }
    rep.extend([b"NOW".as_slice(), now_s.as_bytes()]);
    replicate(ctx, "QUOTA.SET", &rep);
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// QUOTA.INCR key amount [LIMIT amount] [FORCE] [NOW ms]
pub fn incr(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let amount = parse_amount("amount", &args.next_string()?)?;
    let (mut limit, mut force, mut now) = (None, false, None);
    while let Some(opt) = args.next() {
        match Keyword::of(&opt).as_str() {
            "LIMIT" => limit = Some(limit_of(&mut args)?),
            "FORCE" => force = true,
            "NOW" => now = Some(args.ms_of("NOW")?),
            _ => return Err(args.unknown(&opt)),
        }
    }
    let now = decide_now(ctx, now)?;
    let key = ctx.open_key_writable(&name);
    // Checks that can fail come before anything is created or changed.
    let existing = write_quota(&key)?;
    if amount.is_negative() && existing.as_ref().is_some_and(|q| q.window_ms().is_some()) {
        return Err(err(
            "ERR a negative amount cannot be released from a WINDOW quota",
        ));
    }
    if let Some(q) = existing.as_ref() {
        if amount.is_positive() && q.usage(now).checked_add(amount).is_none() {
            return Err(err("ERR usage would exceed 10^18"));
        }
    }
    let created = existing.is_none();
    let q = match existing {
        Some(q) => q,
        None => create(&key, Quota::new(None, None))?,
    };
    if let Some(l) = limit {
        q.limit = l;
    }
    q.prune(now);
    let decision = q.incr(amount, force, now).map_err(|e| err(e.to_string()))?;
    let report = q.report(decision.applied, now);

    if decision.applied || limit.is_some() || created {
        if q.window_ms().is_none() {
            // A cumulative quota decides without the clock: the replica, holding the same
            // usage, decides the same, so the command goes as it came.
            ctx.replicate_verbatim();
        } else {
            let now_s = now.to_string();
            let limit_s = limit.map(|l| l.map_or("-1".to_string(), |l| l.to_string()));
            let amount_s = amount.to_string();
            let applied: &[u8] = if decision.applied {
                amount_s.as_bytes()
            } else {
                b"0"
            };
            let mut rep: Vec<&[u8]> = vec![name.as_slice(), applied];
            if let Some(l) = &limit_s {
                rep.extend([b"LIMIT".as_slice(), l.as_bytes()]);
            }
            rep.extend([b"FORCE".as_slice(), b"NOW", now_s.as_bytes()]);
            replicate(ctx, "QUOTA.INCR", &rep);
        }
    }
    if decision.applied {
        stats::add(&QUOTA_INCRS, 1);
        ffi::notify(ctx, c"quota.incr", &name);
    } else {
        stats::add(&QUOTA_REFUSALS, 1);
    }
    reply(ctx, &report)
}

/// QUOTA.GET key
pub fn get(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key(&name);
    match read_quota(&key)? {
        Some(q) => reply(ctx, &q.report(true, now_ms())),
        None => Ok(RedisValue::Null),
    }
}

/// QUOTA.RESET key
pub fn reset(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key_writable(&name);
    let q = write_quota(&key)?.ok_or_else(|| err("ERR no such key"))?;
    q.reset();
    ctx.replicate_verbatim();
    Ok(RedisValue::SimpleStringStatic("OK"))
}
