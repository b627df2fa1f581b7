//! ALERT.* commands: parse everything, then change state, then replicate the decided effect
//! (explicit IDs, settings and NOW) so replicas and AOF replay reach the same state.

use super::rdb::{create_argv, import_argv, settings_args};
use super::registry;
use crate::args::{parse_id, Args, Keyword};
use crate::argv::Argv;
use crate::clock::{decide_now, from_primary};
use crate::error::{err, no_such_key, CmdResult, Error};
use crate::ffi;
use crate::keys;
use crate::text::Text;
use crate::{config, stats, stats::*};
use redis_module::key::RedisKeyWritable;
use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, RedisError, RedisString, RedisValue};
use std::collections::BTreeMap;
use std::ffi::CStr;
use vigil_core::alert::doc::parse_document;
use vigil_core::alert::stream::{render, render_into};
use vigil_core::alert::{
    parse_ms, AddResult, Alert, AlertId, Outcome, RangeQuery, Settings, Severity, Status, Stream,
};

/// Stores a new stream under `key`.
fn create_stream<'k>(
    ctx: &Context,
    name: &RedisString,
    key: &'k RedisKeyWritable,
    settings: Settings,
) -> Result<&'k mut Stream, Error> {
    let stream = keys::create(key, Stream::new(settings))?;
    registry::add(ffi::selected_db(ctx), name.as_slice());
    Ok(stream)
}

/// Reports alerts removed by trimming: the keyspace event and the counters.
fn trimmed(ctx: &Context, key: &RedisString, n: u64) {
    if n > 0 {
        stats::add(&ALERTS_TRIMMED, n);
        stats::adjust(&ALERTS_HELD, -(n as i64));
        ffi::notify(ctx, c"alert.expire", key);
    }
}

/// Options shared by CREATE and ALTER. `allow_now` admits ALTER's NOW.
fn parse_settings(
    args: &mut Args,
    mut s: Settings,
    allow_now: bool,
) -> Result<(Settings, Option<u64>), Error> {
    let mut now = None;
    while let Some(opt) = args.next() {
        match Keyword::of(&opt).as_str() {
            "RETENTION" => s.retention_ms = args.ms_of("RETENTION")?,
            "MAXLEN" => s.maxlen = args.ms_of("MAXLEN")?,
            "DEDUP" => s.dedup_ms = args.ms_of("DEDUP")?,
            "RATELIMIT" => {
                s.ratelimit_n = args.ms_of("RATELIMIT")?;
                s.ratelimit_window_ms = args.ms_of("RATELIMIT window")?;
            }
            "NOW" if allow_now => now = Some(args.ms_of("NOW")?),
            _ => return Err(args.unknown(&opt)),
        }
    }
    s.check()?;
    Ok((s, now))
}

/// ALERT.CREATE key [RETENTION ms] [MAXLEN n] [DEDUP ms] [RATELIMIT n window_ms]
pub fn create(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let (settings, _) = parse_settings(&mut args, config::default_settings(), false)?;
    let key = ctx.open_key_writable(&name);
    if !key.is_empty() {
        return Err(err("ERR key already exists"));
    }
    create_stream(ctx, &name, &key, settings)?;
    create_argv(&settings).replicate(ctx, name.as_slice());
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// ALERT.ALTER key [RETENTION ms] [MAXLEN n] [DEDUP ms] [RATELIMIT n window_ms] [NOW ms]
pub fn alter(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key_writable(&name);
    let stream = keys::write::<Stream>(&key)?.ok_or_else(no_such_key)?;
    let (settings, now) = parse_settings(&mut args, stream.settings, true)?;
    let now = decide_now(ctx, now)?;
    let removed = stream.set_settings(settings, now)?;
    trimmed(ctx, &name, removed);
    let mut rep = Argv::new(c"ALERT.ALTER");
    settings_args(&mut rep, &settings);
    rep.opt("NOW", now).replicate(ctx, name.as_slice());
    Ok(RedisValue::SimpleStringStatic("OK"))
}

fn reply_outcome(ctx: &Context, outcome: &Outcome) -> CmdResult {
    let (word, id, n): (&[u8], _, u64) = match outcome {
        Outcome::Added(id) => (b"added", Some(*id), 1),
        Outcome::Duplicate(id, count) => (b"duplicate", Some(*id), *count),
        Outcome::Exists(id, count) => (b"exists", Some(*id), *count),
        Outcome::Limited(retry) => (b"limited", None, *retry),
        Outcome::Expired => (b"expired", None, 0),
    };
    ffi::reply_array(ctx, 3);
    ffi::reply_bulk(ctx, word);
    match id {
        Some(id) => ffi::reply_bulk(ctx, Text::id(id.ts, id.seq).as_bytes()),
        None => ffi::reply_null(ctx),
    }
    ffi::reply_int(ctx, n.min(i64::MAX as u64) as i64);
    Ok(RedisValue::NoReply)
}

/// ALERT.ADD key document [TS ms] [ID id] [NOW ms]
pub fn add(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let doc_arg = args.next_string()?;
    let (mut ts, mut id, mut now) = (None, None, None);
    while let Some(opt) = args.next() {
        match Keyword::of(&opt).as_str() {
            "TS" => ts = Some(args.ms_of("TS")?),
            "ID" => id = Some(args.id_of("ID")?),
            "NOW" => now = Some(args.ms_of("NOW")?),
            _ => return Err(args.unknown(&opt)),
        }
    }
    if let (Some(ts), Some(id)) = (ts, id) {
        if ts != id.ts {
            return Err(err(format!(
                "ERR TS {ts} disagrees with the timestamp of ID {id}"
            )));
        }
    }
    let now = decide_now(ctx, now)?;
    let outcome = add_alert(ctx, &name, doc_arg.as_slice(), ts, id, now)?;
    reply_outcome(ctx, &outcome)
}

/// The steps of ALERT.ADD on `name` (creating the stream with the default settings if
/// needed), with the decided effect replicated, the keyspace events raised and the counters
/// counted. Other commands that add alerts in their own atomic step use it too.
pub fn add_alert(
    ctx: &Context,
    name: &RedisString,
    document: &[u8],
    ts: Option<u64>,
    id: Option<AlertId>,
    now: u64,
) -> Result<Outcome, Error> {
    let max = if from_primary(ctx) {
        0
    } else {
        config::max_document_bytes()
    };
    let doc = parse_document(document, max)?;

    let key = ctx.open_key_writable(name);
    let (stream, created) = match keys::write::<Stream>(&key)? {
        Some(s) => (s, None),
        None => {
            let settings = config::default_settings();
            (create_stream(ctx, name, &key, settings)?, Some(settings))
        }
    };
    let json = doc.json.clone();
    let AddResult {
        outcome,
        trimmed: removed,
    } = stream.add(doc, ts, id, now)?;

    if let Some(settings) = created {
        create_argv(&settings).replicate(ctx, name.as_slice());
    }
    match &outcome {
        Outcome::Added(new_id) => {
            let new_id = Text::id(new_id.ts, new_id.seq);
            ffi::replicate_add(
                ctx,
                name,
                json.as_bytes(),
                None,
                Some(new_id.as_bytes()),
                now,
            );
            stats::add(&ALERTS_ADDED, 1);
            stats::adjust(&ALERTS_HELD, 1);
            ffi::notify(ctx, c"alert.add", name);
        }
        Outcome::Duplicate(..) => {
            let ts = id.map(|i| i.ts).or(ts).unwrap_or(now);
            let id = id.map(|i| Text::id(i.ts, i.seq));
            let id = id.as_ref().map(Text::as_bytes);
            ffi::replicate_add(ctx, name, json.as_bytes(), Some(ts), id, now);
            stats::add(&ALERTS_DEDUPLICATED, 1);
            ffi::notify(ctx, c"alert.dup", name);
        }
        Outcome::Limited(_) => stats::add(&ALERTS_LIMITED, 1),
        Outcome::Expired => stats::add(&ALERTS_EXPIRED, 1),
        Outcome::Exists(..) => {}
    }
    trimmed(ctx, name, removed);
    Ok(outcome)
}

fn alert_json(id: &AlertId, a: &Alert) -> RedisValue {
    RedisValue::BulkString(render(id, a))
}

/// ALERT.GET key id [id ...]
pub fn get(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let ids = args
        .map(|a| parse_id(&a.to_string_lossy()))
        .collect::<Result<Vec<_>, _>>()?;
    let key = ctx.open_key(&name);
    let stream = keys::read::<Stream>(&key)?;
    Ok(RedisValue::Array(
        ids.iter()
            .map(|id| match stream.and_then(|s| s.get(id).map(|a| (id, a))) {
                Some((id, a)) => alert_json(id, a),
                None => RedisValue::Null,
            })
            .collect(),
    ))
}

/// A RANGE bound: `-`, `+`, a full ID, or a ms timestamp (all of that millisecond).
fn parse_bound(v: &str, is_end: bool) -> Result<AlertId, Error> {
    match v {
        "-" => Ok(AlertId::MIN),
        "+" => Ok(AlertId::MAX),
        _ if v.contains('-') => parse_id(v),
        _ => parse_ms(v)
            .map(|ts| AlertId::new(ts, if is_end { u64::MAX } else { 0 }))
            .ok_or_else(|| {
                err(format!(
                    "ERR invalid range bound '{v}': expected a ms timestamp, an ID, - or +"
                ))
            }),
    }
}

/// ALERT.RANGE key start end [REV] [COUNT n] [MINSEVERITY sev] [SOURCE src] [TYPE t]
/// [STATUS st] [LABEL name=value ...]
pub fn range(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 4)?;
    let name = args.next_string()?;
    let mut q = RangeQuery::all();
    q.start = parse_bound(&args.next_str()?, false)?;
    q.end = parse_bound(&args.next_str()?, true)?;
    while let Some(opt) = args.next() {
        match Keyword::of(&opt).as_str() {
            "REV" => q.rev = true,
            "COUNT" => {
                let n = args.ms_of("COUNT")?;
                q.count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            "MINSEVERITY" => {
                let v = args.value_of("MINSEVERITY")?;
                q.min_severity = Some(Severity::parse(&v).ok_or_else(|| {
                    err(format!(
                        "ERR invalid severity '{v}', expected {}",
                        Severity::EXPECTED
                    ))
                })?);
            }
            "SOURCE" => q.source = Some(args.value_of("SOURCE")?),
            "TYPE" => q.kind = Some(args.value_of("TYPE")?),
            "STATUS" => {
                let v = args.value_of("STATUS")?;
                q.status = Some(Status::parse(&v).ok_or_else(|| {
                    err(format!(
                        "ERR invalid status '{v}', expected active|acked|resolved"
                    ))
                })?);
            }
            "LABEL" => {
                let v = args.value_of("LABEL")?;
                let (label, value) = v
                    .split_once('=')
                    .ok_or_else(|| err(format!("ERR invalid LABEL '{v}': expected name=value")))?;
                q.labels.push((label.to_owned(), value.to_owned()));
            }
            _ => return Err(args.unknown(&opt)),
        }
    }
    let key = ctx.open_key(&name);
    let Some(stream) = keys::read::<Stream>(&key)? else {
        return Ok(RedisValue::Array(vec![]));
    };
    let found = stream.range(&q);
    // Straight to the reply, through one reused buffer: rendering was half of RANGE's cost.
    ffi::reply_array(ctx, found.len());
    let mut buf = String::with_capacity(1024);
    for (id, a) in &found {
        buf.clear();
        render_into(&mut buf, id, a);
        ffi::reply_bulk(ctx, buf.as_bytes());
    }
    Ok(RedisValue::NoReply)
}

/// ACK / RESOLVE / DEL: apply `op` to each ID; reply with how many changed.
fn per_id(
    ctx: &Context,
    args: Vec<RedisString>,
    event: &CStr,
    op: fn(&mut Stream, &AlertId) -> bool,
) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let ids = args
        .map(|a| parse_id(&a.to_string_lossy()))
        .collect::<Result<Vec<_>, _>>()?;
    let key = ctx.open_key_writable(&name);
    let Some(stream) = keys::write::<Stream>(&key)? else {
        return Ok(RedisValue::Integer(0));
    };
    let changed = ids.iter().filter(|id| op(stream, id)).count() as i64;
    if changed > 0 {
        ctx.replicate_verbatim();
        ffi::notify(ctx, event, &name);
    }
    Ok(RedisValue::Integer(changed))
}

pub fn ack(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    per_id(ctx, args, c"alert.ack", Stream::ack)
}

pub fn resolve(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    per_id(ctx, args, c"alert.resolve", Stream::resolve)
}

pub fn del(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let result = per_id(ctx, args, c"alert.del", Stream::remove)?;
    if let RedisValue::Integer(n) = result {
        stats::adjust(&ALERTS_HELD, -n);
    }
    Ok(result)
}

/// ALERT.TRIM key MAXLEN n | MINTS ms
pub fn trim(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 4)?;
    let name = args.next_string()?;
    let mode = args.next_str()?;
    enum Mode {
        MaxLen(u64),
        MinTs(u64),
    }
    let mode = match mode.to_ascii_uppercase().as_str() {
        "MAXLEN" => Mode::MaxLen(args.ms_of("MAXLEN")?),
        "MINTS" => Mode::MinTs(args.ms_of("MINTS")?),
        _ => {
            return Err(err(format!(
                "ERR unknown option '{mode}' for 'alert.trim', expected MAXLEN or MINTS"
            )))
        }
    };
    if !args.is_empty() {
        return Err(RedisError::WrongArity.into());
    }
    let key = ctx.open_key_writable(&name);
    let Some(stream) = keys::write::<Stream>(&key)? else {
        return Ok(RedisValue::Integer(0));
    };
    let removed = match mode {
        Mode::MaxLen(n) => stream.trim_maxlen(n),
        Mode::MinTs(ms) => stream.trim_before(ms, usize::MAX),
    };
    if removed > 0 {
        ctx.replicate_verbatim();
        trimmed(ctx, &name, removed);
    }
    Ok(RedisValue::Integer(removed as i64))
}

/// ALERT.INFO key
pub fn info(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key(&name);
    let stream = keys::read::<Stream>(&key)?.ok_or_else(no_such_key)?;
    let int = |v: u64| RedisValue::Integer(v.min(i64::MAX as u64) as i64);
    let opt = |v: Option<u64>| v.map_or(RedisValue::Null, int);
    let s = &stream.settings;
    let st = &stream.stats;
    let fields: [(&str, RedisValue); 14] = [
        ("length", int(stream.len() as u64)),
        ("first_ts", opt(stream.first_ts())),
        ("last_ts", opt(stream.last_ts())),
        ("retention", int(s.retention_ms)),
        ("maxlen", int(s.maxlen)),
        ("dedup", int(s.dedup_ms)),
        ("ratelimit_n", int(s.ratelimit_n)),
        ("ratelimit_window", int(s.ratelimit_window_ms)),
        ("added", int(st.added)),
        ("duplicates", int(st.duplicates)),
        ("limited", int(st.limited)),
        ("expired", int(st.expired)),
        ("trimmed", int(st.trimmed)),
        ("memory", int(stream.memory_usage() as u64)),
    ];
    let map: BTreeMap<RedisValueKey, RedisValue> = fields
        .into_iter()
        .map(|(k, v)| (RedisValueKey::String(k.to_owned()), v))
        .collect();
    Ok(RedisValue::OrderedMap(map))
}

/// ALERT.IMPORT key id document [STATUS st] [COUNT n] [LASTSEEN ms] [ALIAS id ...]
pub fn import(ctx: &Context, args: Vec<RedisString>) -> CmdResult {
    let mut args = Args::new(args, 4)?;
    let name = args.next_string()?;
    let id = parse_id(&args.next_str()?)?;
    let raw_doc = args.next_bytes()?;
    let (mut status, mut count, mut last_seen, mut aliases) = (Status::Active, 1, id.ts, vec![]);
    while let Some(opt) = args.next() {
        match Keyword::of(&opt).as_str() {
            "STATUS" => {
                let v = args.value_of("STATUS")?;
                status = Status::parse(&v).ok_or_else(|| {
                    err(format!(
                        "ERR invalid status '{v}', expected active|acked|resolved"
                    ))
                })?;
            }
            "COUNT" => {
                count = args.ms_of("COUNT")?;
                if count == 0 {
                    return Err(err("ERR invalid COUNT '0': expected at least 1"));
                }
            }
            "LASTSEEN" => last_seen = args.ms_of("LASTSEEN")?,
            "ALIAS" => aliases.push(args.id_of("ALIAS")?),
            _ => return Err(args.unknown(&opt)),
        }
    }
    if aliases.contains(&id) {
        return Err(err(format!("ERR alias {id} is the alert's own ID")));
    }
    let max = if from_primary(ctx) {
        0
    } else {
        config::max_document_bytes()
    };
    let doc = parse_document(&raw_doc, max)?;
    let replay_doc = doc.json.to_string();
    let key = ctx.open_key_writable(&name);
    let existing = keys::write::<Stream>(&key)?;
    if let Some(stream) = &existing {
        if stream.get(&id).is_some() {
            return Err(err(format!("ERR alert {id} already exists")));
        }
    }
    let (stream, created) = match existing {
        Some(s) => (s, None),
        None => {
            let settings = config::default_settings();
            (create_stream(ctx, &name, &key, settings)?, Some(settings))
        }
    };
    stream.import(id, doc, status, count, last_seen, &aliases)?;
    if let Some(settings) = created {
        create_argv(&settings).replicate(ctx, name.as_slice());
    }
    import_argv(&id, &replay_doc, status, count, last_seen, &aliases)
        .replicate(ctx, name.as_slice());
    stats::adjust(&ALERTS_HELD, 1);
    ffi::notify(ctx, c"alert.add", &name);
    Ok(RedisValue::SimpleStringStatic("OK"))
}
