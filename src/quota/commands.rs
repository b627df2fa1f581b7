//! QUOTA.* commands. Decisions that depend on the clock (WINDOW quotas) are replicated as their
//! effect: an applied increment as `QUOTA.INCR ... FORCE NOW t`, never as the check.

use super::rdb::{forced_incr_argv, set_argv};
use crate::args::{self, Args, Keyword};
use crate::clock::{decide_now, now_ms};
use crate::error::{err, no_such_key, CmdResult, Error};
use crate::ffi;
use crate::keys;
use crate::stats::{self, QUOTA_INCRS, QUOTA_REFUSALS};
use crate::text::Text;
use redis_module::{Context, RedisString, RedisValue};
use vigil_core::amount::Amount;
use vigil_core::quota::{Quota, Report};

/// A limit: a non-negative amount, or -1 for none.
fn parse_limit(v: &RedisString) -> Result<Option<Amount>, Error> {
    if v.as_slice() == b"-1" {
        return Ok(None);
    }
    let a = args::amount("LIMIT", v)?;
    if a.is_negative() {
        return Err(err(format!(
            "ERR invalid LIMIT '{}': expected an amount >= 0, or -1 for no limit",
            v.to_string_lossy()
        )));
    }
    Ok(Some(a))
}

/// The value of a LIMIT option.
fn limit_of(args: &mut Args) -> Result<Option<Amount>, Error> {
    let v = args
        .next_string()
        .map_err(|_| err("ERR LIMIT needs a value"))?;
    parse_limit(&v)
}

pub fn reply(ctx: &Context, r: &Report) -> CmdResult {
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

/// QUOTA.SET key LIMIT amount [WINDOW ms] [NOW ms]
pub fn set(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
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
    match keys::write::<Quota>(&key)? {
        Some(q) => q.configure(limit, window, now),
        None => {
            let mut q = Quota::new(limit, window);
            q.configure(limit, window, now);
            keys::create(&key, q)?;
        }
    }
    set_argv(limit, window, Some(now)).replicate(ctx, name.as_slice());
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// QUOTA.INCR key amount [LIMIT amount] [FORCE] [NOW ms]
pub fn incr(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let amount = args::amount("amount", &args.next_string()?)?;
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
    let existing = keys::write::<Quota>(&key)?;
    if amount.is_negative() && existing.as_ref().is_some_and(|q| q.window_ms().is_some()) {
        return Err(vigil_core::quota::QuotaError::NegativeOnWindow.into());
    }
    if let Some(q) = existing.as_ref() {
        if amount.is_positive() && q.usage(now).checked_add(amount).is_none() {
            return Err(vigil_core::quota::QuotaError::Overflow.into());
        }
    }
    let created = existing.is_none();
    let q = match existing {
        Some(q) => q,
        None => keys::create(&key, Quota::new(None, None))?,
    };
    if let Some(l) = limit {
        q.limit = l;
    }
    q.prune(now);
    let decision = q.incr(amount, force, now)?;
    let report = q.report(decision.applied, now);

    if decision.applied || limit.is_some() || created {
        if q.window_ms().is_none() {
            // A cumulative quota decides without the clock: the replica, holding the same
            // usage, decides the same, so the command goes as it came.
            ffi::replicate_verbatim(ctx);
        } else {
            let applied = if decision.applied {
                amount
            } else {
                Amount::ZERO
            };
            forced_incr_argv(applied, limit, Some(now)).replicate(ctx, name.as_slice());
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
pub fn get(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key(&name);
    match keys::read::<Quota>(&key)? {
        Some(q) => reply(ctx, &q.report(true, now_ms())),
        None => Ok(RedisValue::Null),
    }
}

/// QUOTA.RESET key
pub fn reset(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key_writable(&name);
    let q = keys::write::<Quota>(&key)?.ok_or_else(no_such_key)?;
    q.reset();
    ffi::replicate_verbatim(ctx);
    Ok(RedisValue::SimpleStringStatic("OK"))
}
