//! ALERT.* commands: parse everything, then change state, then replicate the decided effect
//! (explicit IDs, settings and NOW) so replicas and AOF replay reach the same state.

use super::rdb::{create_argv, import_argv, settings_args, silence_argv};
use super::{floor, registry, sweep};
use crate::args::{parse_id, shown, Args, Keyword};
use crate::argv::Argv;
use crate::clock::{decide_now, from_primary, now_ms};
use crate::error::{err, no_such_key, CmdResult, Error};
use crate::ffi::{self, block};
use crate::keys;
use crate::text::Text;
use crate::{config, stats, stats::*};
use redis_module::key::RedisKeyWritable;
use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, RedisError, RedisResult, RedisString, RedisValue};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::CStr;
use vigil_core::alert::cover;
use vigil_core::alert::doc::parse_document;
use vigil_core::alert::id::parse_u64;
use vigil_core::alert::stream::{self, MAX_SILENCE_ID};
use vigil_core::alert::{
    parse_ms, AddResult, Alert, AlertId, Filter, GroupBy, Outcome, RangeQuery, ReadQuery, Settings,
    Severity, Status, Stream, MAX_COUNTER,
};

/// The revision a new stream starts at: the clock in µs, or above every revision a stream of
/// this server has reached when that is later (a stream that changed faster than once a µs,
/// deleted and made again, must still start above its readers' cursors). Never above what a
/// client may ask with REVISION (2^62): a stream given a revision near the end of the range
/// (a RESTORE payload may hold one) leaves every later stream its 2^61 changes of room.
fn fresh_revision() -> u64 {
    let highest = stream::highest_revision().min(MAX_COUNTER);
    now_ms().saturating_mul(1000).max(highest + 1)
}

/// Stores a new stream under `key` and replicates its creation with every setting and counter
/// explicit (a replica's configs may differ). Its revisions start from [`fresh_revision`] (or
/// from `counters`, as the primary or the AOF gives them), so that the cursor of a reader of
/// a stream that was deleted and made again is not mistaken for a position in the new one.
fn create_stream<'k>(
    ctx: &Context,
    name: &RedisString,
    key: &'k RedisKeyWritable,
    settings: Settings,
    counters: Option<(u64, u64)>,
    last_id: Option<AlertId>,
) -> Result<&'k mut Stream, Error> {
    let (revision, silence_id) = match counters {
        Some(c) => c,
        None if from_primary(ctx) => (0, 1),
        None => (fresh_revision(), 1),
    };
    let stream = keys::create(key, Stream::new(settings))?;
    stream.restore_counters(revision, silence_id);
    floor::fresh(stream);
    if let Some(id) = last_id {
        stream.note_id(id);
    }
    registry::add(ffi::selected_db(ctx), name.as_slice());
    let mut rep = create_argv(&settings);
    rep.opt("REVISION", stream.revision())
        .opt("SILENCEID", stream.next_silence_id());
    if let Some(id) = last_id {
        rep.opt("LASTID", id);
    }
    rep.replicate(ctx, name.as_slice());
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

/// When the stream next has work for the sweep: its oldest alert leaving the retention, an
/// alert falling due for auto-resolve (both at the sweep's next 100 ms mark, so that a stream
/// fed all the time is trimmed and resolved in batches, one replicated command a tick), or a
/// silence ending (at its UNTIL: the sweep comes then, and the alerts it hid are read again).
pub fn next_due(stream: &Stream) -> Option<u64> {
    let on_mark = |t: u64| {
        t.div_ceil(sweep::INTERVAL_MS)
            .saturating_mul(sweep::INTERVAL_MS)
    };
    let retention = match (stream.settings.retention_ms, stream.first_ts()) {
        (r, Some(first)) if r > 0 => Some(on_mark(first.saturating_add(r).saturating_add(1))),
        _ => None,
    };
    [
        retention,
        stream.next_autoresolve().map(on_mark),
        stream.next_silence_end(),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// After a write to a stream: tells the sweep when it is due at the latest, and wakes the
/// readers blocked on it when its revision moved.
pub fn after_write(ctx: &Context, name: &RedisString, stream: &Stream, revision_before: u64) {
    let due = next_due(stream);
    registry::schedule_by(ffi::selected_db(ctx), name.as_slice(), due);
    if let Some(due) = due {
        sweep::wake_by(ctx, due);
    }
    if stream.revision() != revision_before {
        block::signal_ready(ctx, name);
    }
}

/// One filter option (MINSEVERITY, SOURCE, TYPE, STATUS, LABEL) into `f`; false when `opt`
/// is none of them. `status` admits STATUS (silences do not match on status).
fn filter_option(args: &mut Args, opt: &str, f: &mut Filter, status: bool) -> Result<bool, Error> {
    match opt {
        "MINSEVERITY" => {
            let v = args.value_of("MINSEVERITY")?;
            f.min_severity = Some(Severity::parse(&v).ok_or_else(|| {
                err(format!(
                    "ERR invalid severity '{v}', expected {}",
                    Severity::EXPECTED
                ))
            })?);
        }
        "SOURCE" => f.source = Some(args.value_of("SOURCE")?),
        "TYPE" => f.kind = Some(args.value_of("TYPE")?),
        "STATUS" if status => {
            let v = args.value_of("STATUS")?;
            f.status = Some(Status::parse(&v).ok_or_else(|| {
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
            f.labels.push((label.to_owned(), value.to_owned()));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Options shared by CREATE and ALTER. `allow_now` admits ALTER's NOW (and refuses CREATE's
/// SILENCEID and LASTID); `trusted`: the command comes from the primary or the AOF.
fn parse_settings(
    args: &mut Args,
    mut s: Settings,
    allow_now: bool,
    trusted: bool,
) -> Result<(Settings, Option<u64>, Counters), Error> {
    let mut now = None;
    let mut counters = Counters::default();
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "AUTORESOLVE" => s.autoresolve_ms = args.ms_of("AUTORESOLVE")?,
            "IDMEMORY" => s.id_memory_ms = args.ms_of("IDMEMORY")?,
            "REVISION" => counters.revision = Some(args.counter_of("REVISION", trusted)?),
            "SILENCEID" if !allow_now => {
                // Up to one past the last ID: what a stream that gave out every ID rewrites.
                let v = args.value_of("SILENCEID")?;
                let next = parse_u64(&v).filter(|n| *n <= MAX_SILENCE_ID + 1);
                counters.silence_id = Some(next.ok_or_else(|| {
                    err(format!(
                        "ERR invalid SILENCEID '{v}': expected an integer from 0 to {}",
                        MAX_SILENCE_ID + 1
                    ))
                })?);
            }
            "LASTID" if !allow_now => counters.last_id = Some(args.id_of("LASTID")?),
            "RETENTION" => s.retention_ms = args.ms_of("RETENTION")?,
            "MAXLEN" => s.maxlen = args.ms_of("MAXLEN")?,
            "DEDUP" => s.dedup_ms = args.ms_of("DEDUP")?,
            "RATELIMIT" => {
                s.ratelimit_n = args.ms_of("RATELIMIT")?;
                s.ratelimit_window_ms = args.ms_of("RATELIMIT window")?;
            }
            "NOW" if allow_now => now = Some(args.ms_of("NOW")?),
            _ => return Err(args.unknown(opt)),
        }
    }
    s.check()?;
    Ok((s, now, counters))
}

/// CREATE's REVISION, SILENCEID and LASTID (an AOF rewrite restores a stream's counters and
/// last ID with them).
#[derive(Default)]
struct Counters {
    revision: Option<u64>,
    silence_id: Option<u64>,
    last_id: Option<AlertId>,
}

/// ALERT.CREATE key [RETENTION ms] [MAXLEN n] [DEDUP ms] [RATELIMIT n window_ms]
pub fn create(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let (settings, _, counters) = parse_settings(
        &mut args,
        config::default_settings(),
        false,
        from_primary(ctx),
    )?;
    let key = ctx.open_key_writable(name);
    if !key.is_empty() {
        // A key of another type answers WRONGTYPE, as for every command; a stream, that it is
        // there already.
        keys::write::<Stream>(&key)?;
        return Err(err("ERR key already exists"));
    }
    let given = (counters.revision.is_some() || counters.silence_id.is_some()).then(|| {
        let clock = if from_primary(ctx) {
            0
        } else {
            fresh_revision()
        };
        (
            counters.revision.unwrap_or(clock),
            counters.silence_id.unwrap_or(1),
        )
    });
    create_stream(ctx, name, &key, settings, given, counters.last_id)?;
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// ALERT.ALTER key [RETENTION ms] [MAXLEN n] [DEDUP ms] [RATELIMIT n window_ms] [NOW ms]
/// [REVISION n]
pub fn alter(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let only_revision = args.len() == 4;
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key_writable(name);
    let stream = keys::write::<Stream>(&key)?.ok_or_else(no_such_key)?;
    let (settings, now, counters) =
        parse_settings(&mut args, stream.settings, true, from_primary(ctx))?;
    let rev = stream.revision();
    let mut rep = Argv::new(c"ALERT.ALTER");
    // REVISION alone (what the primary sends before a change that counts from the clock, see
    // `floor`) raises the counter and touches no setting: a replica must not trim by its own
    // clock.
    if !(only_revision && counters.revision.is_some()) {
        let now = decide_now(ctx, now)?;
        let removed = stream.set_settings(settings, now)?;
        trimmed(ctx, name, removed);
        settings_args(&mut rep, &settings);
        rep.opt("NOW", now);
    }
    if let Some(revision) = counters.revision {
        stream.raise_revision(revision);
        rep.opt("REVISION", revision);
    }
    rep.replicate(ctx, name.as_slice());
    after_write(ctx, name, stream, rev);
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// The reply to ALERT.ADD; `new_id`, the text of an added alert's ID when it is at hand.
fn reply_outcome(ctx: &Context, outcome: &Outcome, new_id: Option<&Text>) -> CmdResult {
    let (word, id, n): (&[u8], _, u64) = match outcome {
        Outcome::Added(id) => (b"added", Some(*id), 1),
        Outcome::Duplicate(id, count) => (b"duplicate", Some(*id), *count),
        Outcome::Exists(id, count) => (b"exists", Some(*id), *count),
        Outcome::Limited(retry) => (b"limited", None, *retry),
        Outcome::Expired => (b"expired", None, 0),
    };
    ffi::reply_array(ctx, 3);
    ffi::reply_bulk(ctx, word);
    match (id, new_id) {
        (Some(_), Some(text)) => ffi::reply_bulk(ctx, text.as_bytes()),
        (Some(id), None) => ffi::reply_bulk(ctx, Text::id(id.ts, id.seq).as_bytes()),
        (None, _) => ffi::reply_null(ctx),
    }
    ffi::reply_int(ctx, n.min(i64::MAX as u64) as i64);
    Ok(RedisValue::NoReply)
}

/// ALERT.ADD key document [TS ms] [ID id] [NOW ms]
pub fn add(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let doc_arg = args.next_string()?;
    let (mut ts, mut id, mut now) = (None, None, None);
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "TS" => ts = Some(args.ms_of("TS")?),
            "ID" => id = Some(args.id_of("ID")?),
            "NOW" => now = Some(args.ms_of("NOW")?),
            _ => return Err(args.unknown(opt)),
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
    let (outcome, new_id) = add_with(ctx, name, doc_arg.as_slice(), Some(doc_arg), ts, id, now)?;
    reply_outcome(ctx, &outcome, new_id.as_ref())
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
    add_with(ctx, name, document, None, ts, id, now).map(|(outcome, _)| outcome)
}

/// `add_alert`, given the client's own argument object of the document when there is one
/// (replicated as is when the document is stored as sent); with the outcome, the text of the
/// ID of an added alert (made for the replication, used again by the reply).
fn add_with(
    ctx: &Context,
    name: &RedisString,
    document: &[u8],
    sent: Option<&RedisString>,
    ts: Option<u64>,
    id: Option<AlertId>,
    now: u64,
) -> Result<(Outcome, Option<Text>), Error> {
    // The size limit is the local config's, except for what the primary or the AOF sends
    // (checked there once). Who sent it is asked only of a document over the limit: the
    // context's flags cost ~260 instructions a read (Redis works out every flag).
    let limit = config::max_document_bytes();
    let max = if document.len() > limit && from_primary(ctx) {
        0
    } else {
        limit
    };
    let doc = parse_document(document, max)?;

    let key = ctx.open_key_writable(name);
    let stream = match keys::write::<Stream>(&key)? {
        Some(s) => s,
        None => create_stream(ctx, name, &key, config::default_settings(), None, None)?,
    };
    let json = doc.json().clone();
    // Stored exactly as sent: replicate the client's own argument.
    let doc_arg = match sent {
        Some(s) if std::ptr::eq(json.as_bytes(), s.as_slice()) => ffi::DocArg::Sent(s),
        _ => ffi::DocArg::Bytes(json.as_bytes()),
    };
    let revision_before = stream.revision();
    let armed = floor::arm(ctx, stream);
    let added = stream.add(doc, ts, id, now);
    floor::settle(ctx, name, stream, armed);
    let AddResult {
        outcome,
        trimmed: removed,
    } = added?;
    after_write(ctx, name, stream, revision_before);

    let mut added = None;
    match &outcome {
        Outcome::Added(new_id) => {
            let new_id = added.insert(Text::id(new_id.ts, new_id.seq));
            ffi::replicate_add(ctx, name, doc_arg, None, Some(new_id.as_bytes()), now);
            stats::add(&ALERTS_ADDED, 1);
            stats::adjust(&ALERTS_HELD, 1);
            ffi::notify(ctx, c"alert.add", name);
        }
        Outcome::Duplicate(..) => {
            let ts = id.map(|i| i.ts).or(ts).unwrap_or(now);
            let id = id.map(|i| Text::id(i.ts, i.seq));
            let id = id.as_ref().map(Text::as_bytes);
            ffi::replicate_add(ctx, name, doc_arg, Some(ts), id, now);
            stats::add(&ALERTS_DEDUPLICATED, 1);
            ffi::notify(ctx, c"alert.dup", name);
        }
        Outcome::Limited(_) => stats::add(&ALERTS_LIMITED, 1),
        Outcome::Expired => stats::add(&ALERTS_EXPIRED, 1),
        Outcome::Exists(..) => {}
    }
    trimmed(ctx, name, removed);
    Ok((outcome, added))
}

fn alert_json(stream: &Stream, id: &AlertId, a: &Alert) -> RedisValue {
    RedisValue::BulkString(stream.render(id, a))
}

/// ALERT.GET key id [id ...]
pub fn get(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let ids = args
        .map(|a| parse_id(&shown(a)))
        .collect::<Result<Vec<_>, _>>()?;
    let key = ctx.open_key(name);
    let stream = keys::read::<Stream>(&key)?;
    Ok(RedisValue::Array(
        ids.iter()
            .map(
                |id| match stream.and_then(|s| s.get(id).map(|a| (s, id, a))) {
                    Some((s, id, a)) => alert_json(s, id, a),
                    None => RedisValue::Null,
                },
            )
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
pub fn range(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 4)?;
    let name = args.next_string()?;
    let mut q = RangeQuery::all();
    q.start = parse_bound(&args.next_str()?, false)?;
    q.end = parse_bound(&args.next_str()?, true)?;
    let mut filter = Filter::default();
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "REV" => q.rev = true,
            "COUNT" => {
                let n = args.ms_of("COUNT")?;
                q.count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            other => {
                if !filter_option(&mut args, other, &mut filter, true)? {
                    return Err(args.unknown(opt));
                }
            }
        }
    }
    q.min_severity = filter.min_severity;
    q.source = filter.source;
    q.kind = filter.kind;
    q.status = filter.status;
    q.labels = filter.labels;
    let key = ctx.open_key(name);
    let Some(stream) = keys::read::<Stream>(&key)? else {
        return Ok(RedisValue::Array(vec![]));
    };
    let found = stream.range(&q);
    // Straight to the reply, through one reused buffer: rendering was half of RANGE's cost.
    ffi::reply_array(ctx, found.len());
    let mut buf = Vec::with_capacity(1024);
    for (id, a) in &found {
        buf.clear();
        stream.render_into(&mut buf, id, a);
        ffi::reply_bulk(ctx, &buf);
    }
    Ok(RedisValue::NoReply)
}

/// ACK / RESOLVE / DEL: apply `op` to each ID; reply with how many changed.
fn per_id(
    ctx: &Context,
    args: &[RedisString],
    event: &CStr,
    op: fn(&mut Stream, &AlertId) -> bool,
) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let ids = args
        .map(|a| parse_id(&shown(a)))
        .collect::<Result<Vec<_>, _>>()?;
    let key = ctx.open_key_writable(name);
    let Some(stream) = keys::write::<Stream>(&key)? else {
        return Ok(RedisValue::Integer(0));
    };
    let revision_before = stream.revision();
    let armed = floor::arm(ctx, stream);
    let changed = ids.iter().filter(|id| op(stream, id)).count() as i64;
    floor::settle(ctx, name, stream, armed);
    if changed > 0 {
        ffi::replicate_verbatim(ctx, name);
        ffi::notify(ctx, event, name);
        after_write(ctx, name, stream, revision_before);
    }
    Ok(RedisValue::Integer(changed))
}

pub fn ack(ctx: &Context, args: &[RedisString]) -> CmdResult {
    per_id(ctx, args, c"alert.ack", Stream::ack)
}

pub fn resolve(ctx: &Context, args: &[RedisString]) -> CmdResult {
    per_id(ctx, args, c"alert.resolve", Stream::resolve)
}

pub fn del(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let result = per_id(ctx, args, c"alert.del", Stream::remove)?;
    if let RedisValue::Integer(n) = result {
        stats::adjust(&ALERTS_HELD, -n);
    }
    Ok(result)
}

/// ALERT.TRIM key MAXLEN n | MINTS ms
pub fn trim(ctx: &Context, args: &[RedisString]) -> CmdResult {
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
    let key = ctx.open_key_writable(name);
    let Some(stream) = keys::write::<Stream>(&key)? else {
        return Ok(RedisValue::Integer(0));
    };
    let removed = match mode {
        Mode::MaxLen(n) => stream.trim_maxlen(n),
        Mode::MinTs(ms) => stream.trim_before(ms, usize::MAX),
    };
    if removed > 0 {
        ffi::replicate_verbatim(ctx, name);
        trimmed(ctx, name, removed);
        let rev = stream.revision();
        after_write(ctx, name, stream, rev);
    }
    Ok(RedisValue::Integer(removed as i64))
}

/// ALERT.INFO key
pub fn info(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    let key = ctx.open_key(name);
    let stream = keys::read::<Stream>(&key)?.ok_or_else(no_such_key)?;
    let int = |v: u64| RedisValue::Integer(v.min(i64::MAX as u64) as i64);
    let opt = |v: Option<u64>| v.map_or(RedisValue::Null, int);
    let s = &stream.settings;
    let st = &stream.stats;
    let fields: [(&str, RedisValue); 20] = [
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
        ("autoresolve", int(s.autoresolve_ms)),
        ("autoresolved", int(st.autoresolved)),
        ("id_memory", int(s.id_memory_ms)),
        ("remembered_ids", int(stream.remembered_ids() as u64)),
        ("revision", int(stream.revision())),
        ("silences", int(stream.silence_count() as u64)),
        ("memory", int(stream.memory_usage() as u64)),
    ];
    let map: BTreeMap<RedisValueKey, RedisValue> = fields
        .into_iter()
        .map(|(k, v)| (RedisValueKey::String(k.to_owned()), v))
        .collect();
    Ok(RedisValue::OrderedMap(map))
}

/// ALERT.IMPORT key id document [STATUS st] [COUNT n] [LASTSEEN ms] [ALIAS id ...]
pub fn import(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 4)?;
    let name = args.next_string()?;
    let id = parse_id(&args.next_str()?)?;
    let raw_doc = args.next_bytes()?;
    let (mut status, mut count, mut last_seen, mut aliases) = (Status::Active, 1, id.ts, vec![]);
    let mut rev = None;
    let trusted = from_primary(ctx);
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "STATUS" => {
                let v = args.value_of("STATUS")?;
                status = Status::parse(&v).ok_or_else(|| {
                    err(format!(
                        "ERR invalid status '{v}', expected active|acked|resolved"
                    ))
                })?;
            }
            "COUNT" => {
                count = args.counter_of("COUNT", trusted)?;
                if count == 0 {
                    return Err(err("ERR invalid COUNT '0': expected at least 1"));
                }
            }
            "LASTSEEN" => last_seen = args.ms_of("LASTSEEN")?,
            "ALIAS" => aliases.push(args.id_of("ALIAS")?),
            "REV" => {
                let r = args.counter_of("REV", trusted)?;
                if r == 0 {
                    return Err(err("ERR invalid REV '0': revisions start at 1"));
                }
                rev = Some(r);
            }
            _ => return Err(args.unknown(opt)),
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
    let replay_doc = doc.json().to_string();
    let key = ctx.open_key_writable(name);
    let existing = keys::write::<Stream>(&key)?;
    if let Some(stream) = &existing {
        if stream.get(&id).is_some() {
            return Err(err(format!("ERR alert {id} already exists")));
        }
    }
    let stream = match existing {
        Some(s) => s,
        None => create_stream(ctx, name, &key, config::default_settings(), None, None)?,
    };
    let revision_before = stream.revision();
    let armed = floor::arm(ctx, stream);
    let imported = stream.import(id, doc, status, count, last_seen, &aliases, rev);
    floor::settle(ctx, name, stream, armed);
    imported?;
    let rev = stream.get(&id).map(|a| a.rev);
    import_argv(&id, &replay_doc, status, count, last_seen, &aliases, rev)
        .replicate(ctx, name.as_slice());
    after_write(ctx, name, stream, revision_before);
    stats::adjust(&ALERTS_HELD, 1);
    ffi::notify(ctx, c"alert.add", name);
    Ok(RedisValue::SimpleStringStatic("OK"))
}

/// Resolves `ids` in the stream under `name` as ALERT.RESOLVE does (replicated as
/// `ALERT.RESOLVE key id ...`, with its event); returns how many changed. For resolutions the
/// server decides itself (auto-resolve, quota thresholds).
pub fn resolve_ids(ctx: &Context, name: &RedisString, ids: &[AlertId]) -> Result<u64, Error> {
    let key = ctx.open_key_writable(name);
    let Some(stream) = keys::write::<Stream>(&key)? else {
        return Ok(0);
    };
    let revision_before = stream.revision();
    let armed = floor::arm(ctx, stream);
    let changed: Vec<AlertId> = ids
        .iter()
        .copied()
        .filter(|id| stream.resolve(id))
        .collect();
    floor::settle(ctx, name, stream, armed);
    if !changed.is_empty() {
        let mut rep = Argv::new(c"ALERT.RESOLVE");
        for id in &changed {
            rep.num(id);
        }
        rep.replicate(ctx, name.as_slice());
        ffi::notify(ctx, c"alert.resolve", name);
        after_write(ctx, name, stream, revision_before);
    }
    Ok(changed.len() as u64)
}

/// A READ cursor: `0`, `$` (None: the stream's revision now) or one an earlier READ returned.
fn parse_cursor(v: &RedisString) -> Result<Option<u64>, Error> {
    let s = shown(v);
    if s == "$" {
        return Ok(None);
    }
    parse_ms(&s).map(Some).ok_or_else(|| {
        err(format!(
            "ERR invalid cursor '{s}': expected 0, $ or a cursor an earlier ALERT.READ returned"
        ))
    })
}

/// At most this many changes are looked at by one READ (returned or filtered out); a read
/// that stops there answers the cursor it reached, and the caller reads on from it.
const READ_MAX_EXAMINED: usize = 10_000;

/// A reader parked by `ALERT.READ ... BLOCK`.
struct Waiting {
    key: Vec<u8>,
    after: Cell<u64>,
    count: usize,
    filter: Filter,
    with_silenced: bool,
}

impl Waiting {
    fn query(&self) -> ReadQuery {
        ReadQuery {
            after: self.after.get(),
            count: self.count,
            filter: self.filter.clone(),
            with_silenced: self.with_silenced,
            max_examined: READ_MAX_EXAMINED,
        }
    }
}

/// The READ reply: `[next_cursor, [[cursor, alert], ...]]`.
/// `stream` renders the items (None when there are none).
fn reply_read(ctx: &Context, stream: Option<&Stream>, next: u64, items: &[(u64, AlertId, &Alert)]) {
    ffi::reply_array(ctx, 2);
    ffi::reply_bulk(ctx, Text::num(next).as_bytes());
    ffi::reply_array(ctx, items.len());
    let mut buf = Vec::with_capacity(1024);
    for (rev, id, a) in items {
        ffi::reply_array(ctx, 2);
        ffi::reply_bulk(ctx, Text::num(*rev).as_bytes());
        buf.clear();
        if let Some(stream) = stream {
            stream.render_into(&mut buf, id, a);
        }
        ffi::reply_bulk(ctx, &buf);
    }
}

/// A blocked reader looks again: answers when something is to be returned, keeps waiting
/// otherwise (moving its cursor past what its filters left out).
fn read_again(ctx: &Context, w: &Waiting) -> Option<RedisResult> {
    let name = keys::name(ctx, &w.key);
    let key = ctx.open_key(&name);
    let stream = keys::read::<Stream>(&key).ok()??;
    match stream.read(&w.query()) {
        Err(e) => Some(Err(Error::from(e).into())),
        Ok(r) if r.items.is_empty() => {
            w.after.set(r.next);
            None
        }
        Ok(r) => {
            reply_read(ctx, Some(stream), r.next, &r.items);
            Some(Ok(RedisValue::NoReply))
        }
    }
}

/// ALERT.READ key AFTER cursor [COUNT n] [BLOCK ms] [MINSEVERITY sev] [SOURCE src] [TYPE t]
/// [STATUS st] [LABEL name=value ...] [WITHSILENCED]
pub fn read(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 4)?;
    let name = args.next_string()?;
    let after_kw = args.next_string()?;
    if !after_kw.as_slice().eq_ignore_ascii_case(b"AFTER") {
        return Err(err(format!(
            "ERR expected AFTER cursor after the key, got '{}'",
            shown(after_kw)
        )));
    }
    let cursor = parse_cursor(args.next_string()?)?;
    let (mut count, mut block_ms, mut with_silenced) = (100usize, None, false);
    let mut filter = Filter::default();
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "COUNT" => {
                let n = args.ms_of("COUNT")?;
                if n == 0 {
                    return Err(err("ERR invalid COUNT '0': expected at least 1"));
                }
                count = usize::try_from(n).unwrap_or(usize::MAX);
            }
            // A wait past 2^50 ms (35,000 years) has no time limit, as BLOCK 0: Valkey 9 and
            // Redis 8 refuse a timeout that their clock plus it would overflow.
            "BLOCK" => {
                block_ms = Some(args.ms_of("BLOCK")?).map(|ms| if ms > 1 << 50 { 0 } else { ms })
            }
            "WITHSILENCED" => with_silenced = true,
            other => {
                if !filter_option(&mut args, other, &mut filter, true)? {
                    return Err(args.unknown(opt));
                }
            }
        }
    }
    let key = ctx.open_key(name);
    let stream = keys::read::<Stream>(&key)?;
    let revision = stream.map_or(0, Stream::revision);
    let after = cursor.unwrap_or(revision);
    let q = ReadQuery {
        after,
        count,
        filter,
        with_silenced,
        max_examined: READ_MAX_EXAMINED,
    };
    let (next, examined_all) = match stream {
        Some(s) => {
            let r = s.read(&q)?;
            if !r.items.is_empty() {
                reply_read(ctx, Some(s), r.next, &r.items);
                return Ok(RedisValue::NoReply);
            }
            (r.next, r.exhausted)
        }
        None if after > 0 => return Err(vigil_core::alert::AlertError::CursorAhead.into()),
        None => (after, true),
    };
    // Nothing to return. Without BLOCK (or where blocking is not possible), or when the read
    // stopped at its bound with more to look at, answer the position reached.
    match block_ms {
        Some(ms) if examined_all && block::may_block(ctx) => {
            let waiting = Waiting {
                key: name.as_slice().to_vec(),
                after: Cell::new(next),
                count,
                filter: q.filter,
                with_silenced,
            };
            if !block::block_on_key(ctx, name, ms, waiting, read_again) {
                ffi::reply_null_array(ctx);
            }
            Ok(RedisValue::NoReply)
        }
        // Nil as XREAD's (the null array), also where it may not block (MULTI, a script).
        Some(_) if examined_all => {
            ffi::reply_null_array(ctx);
            Ok(RedisValue::NoReply)
        }
        _ => {
            reply_read(ctx, None, next, &[]);
            Ok(RedisValue::NoReply)
        }
    }
}

/// ALERT.SILENCE key UNTIL ms [MINSEVERITY sev] [SOURCE src] [TYPE t] [LABEL name=value ...]
/// [COMMENT text] [ID id]
pub fn silence(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 4)?;
    let name = args.next_string()?;
    let (mut until, mut comment, mut id) = (None, None, None);
    let mut matchers = Filter::default();
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "UNTIL" => until = Some(args.ms_of("UNTIL")?),
            "COMMENT" => comment = Some(args.value_of("COMMENT")?),
            "ID" => {
                let v = args.ms_of("ID")?;
                if v == 0 {
                    return Err(err("ERR invalid ID '0': silence IDs start at 1"));
                }
                id = Some(v);
            }
            other => {
                if !filter_option(&mut args, other, &mut matchers, false)? {
                    return Err(args.unknown(opt));
                }
            }
        }
    }
    let until = until.ok_or_else(|| err("ERR ALERT.SILENCE needs UNTIL ms"))?;
    if matchers.is_empty() {
        return Err(err(
            "ERR a silence needs at least one matcher: MINSEVERITY, SOURCE, TYPE or LABEL",
        ));
    }
    if !from_primary(ctx) && until <= now_ms() {
        return Err(err(format!(
            "ERR UNTIL {until} is not in the future (the server clock is {})",
            now_ms()
        )));
    }
    let key = ctx.open_key_writable(name);
    let stream = match keys::write::<Stream>(&key)? {
        Some(s) => s,
        None => create_stream(ctx, name, &key, config::default_settings(), None, None)?,
    };
    let revision_before = stream.revision();
    // An ID a silence of this stream had (ended ones included) is not given out again by a
    // client: an old UNSILENCE must not end a new silence.
    if let Some(id) = id {
        if !from_primary(ctx) && id < stream.next_silence_id() {
            return Err(err(format!(
                "ERR silence ID {id} was already used in this stream"
            )));
        }
    }
    // Only a stream that already holds silences can refuse one (too many, or an ID taken).
    let sid = stream.silence(until, matchers, comment, id)?;
    if let Some(s) = stream.silences().find(|s| s.id == sid) {
        silence_argv(s).replicate(ctx, name.as_slice());
    }
    after_write(ctx, name, stream, revision_before);
    Ok(RedisValue::Integer(sid.min(i64::MAX as u64) as i64))
}

/// ALERT.UNSILENCE key id
pub fn unsilence(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 3)?;
    let name = args.next_string()?;
    let mut ids = Vec::new();
    while !args.is_empty() {
        ids.push(args.ms_of("id")?);
    }
    let key = ctx.open_key_writable(name);
    let Some(stream) = keys::write::<Stream>(&key)? else {
        return Ok(RedisValue::Integer(0));
    };
    let revision_before = stream.revision();
    let armed = floor::arm(ctx, stream);
    let (ended, _) = stream.unsilence_all(&ids);
    floor::settle(ctx, name, stream, armed);
    if ended == 0 {
        return Ok(RedisValue::Integer(0));
    }
    ffi::replicate_verbatim(ctx, name);
    after_write(ctx, name, stream, revision_before);
    Ok(RedisValue::Integer(ended as i64))
}

fn map(fields: Vec<(&str, RedisValue)>) -> RedisValue {
    RedisValue::OrderedMap(
        fields
            .into_iter()
            .map(|(k, v)| (RedisValueKey::String(k.to_owned()), v))
            .collect(),
    )
}

/// ALERT.SILENCES key
pub fn silences(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 2)?;
    let name = args.next_string()?;
    if !args.is_empty() {
        return Err(RedisError::WrongArity.into());
    }
    let key = ctx.open_key(name);
    let Some(stream) = keys::read::<Stream>(&key)? else {
        return Ok(RedisValue::Array(vec![]));
    };
    let int = |v: u64| RedisValue::Integer(v.min(i64::MAX as u64) as i64);
    let text = |v: &str| RedisValue::BulkString(v.to_string());
    // One pass over the alerts for every silence.
    let covered = cover::covered_by_each(stream);
    Ok(RedisValue::Array(
        stream
            .silences()
            .zip(covered)
            .map(|(s, covered)| {
                let m = &s.matchers;
                let mut matchers: Vec<(&str, RedisValue)> = Vec::new();
                if let Some(sev) = m.min_severity {
                    matchers.push(("minseverity", text(sev.as_str())));
                }
                if let Some(src) = &m.source {
                    matchers.push(("source", text(src)));
                }
                if let Some(t) = &m.kind {
                    matchers.push(("type", text(t)));
                }
                if !m.labels.is_empty() {
                    let labels = m
                        .labels
                        .iter()
                        .map(|(n, v)| (n.as_str(), text(v)))
                        .collect();
                    matchers.push(("labels", map(labels)));
                }
                map(vec![
                    ("id", int(s.id)),
                    ("until", int(s.until)),
                    ("matchers", map(matchers)),
                    (
                        "comment",
                        s.comment.as_deref().map_or(RedisValue::Null, text),
                    ),
                    ("covered", int(covered)),
                ])
            })
            .collect(),
    ))
}

fn parse_group_by(v: &str) -> Result<GroupBy, Error> {
    let lower = v.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "severity" => GroupBy::Severity,
        "source" => GroupBy::Source,
        "type" => GroupBy::Type,
        "status" => GroupBy::Status,
        _ => match v.split_once(':') {
            Some((l, name)) if l.eq_ignore_ascii_case("label") && !name.is_empty() => {
                GroupBy::Label(name.to_string())
            }
            _ => {
                return Err(err(format!(
                    "ERR invalid BY field '{v}', expected severity|source|type|status|label:<name>"
                )))
            }
        },
    })
}

/// ALERT.GROUPS key start end BY field [MINSEVERITY sev] [SOURCE src] [TYPE t] [STATUS st]
/// [LABEL name=value ...]
pub fn groups(ctx: &Context, args: &[RedisString]) -> CmdResult {
    let mut args = Args::new(args, 6)?;
    let name = args.next_string()?;
    let mut q = RangeQuery::all();
    q.start = parse_bound(&args.next_str()?, false)?;
    q.end = parse_bound(&args.next_str()?, true)?;
    let mut by = None;
    let mut filter = Filter::default();
    while let Some(opt) = args.next() {
        match Keyword::of(opt).as_str() {
            "BY" => {
                let field = parse_group_by(&args.value_of("BY")?)?;
                crate::args::once(&mut by, "BY", field)?;
            }
            other => {
                if !filter_option(&mut args, other, &mut filter, true)? {
                    return Err(args.unknown(opt));
                }
            }
        }
    }
    let by = by.ok_or_else(|| err("ERR ALERT.GROUPS needs BY field"))?;
    q.min_severity = filter.min_severity;
    q.source = filter.source;
    q.kind = filter.kind;
    q.status = filter.status;
    q.labels = filter.labels;
    let key = ctx.open_key(name);
    let Some(stream) = keys::read::<Stream>(&key)? else {
        return Ok(RedisValue::Array(vec![]));
    };
    let int = |v: u64| RedisValue::Integer(v.min(i64::MAX as u64) as i64);
    Ok(RedisValue::Array(
        stream
            .groups(&q, &by)
            .into_iter()
            .map(|g| {
                RedisValue::Array(vec![
                    g.value.map_or(RedisValue::Null, RedisValue::BulkString),
                    int(g.alerts),
                    int(g.occurrences),
                    int(g.newest_ts),
                ])
            })
            .collect(),
    ))
}
