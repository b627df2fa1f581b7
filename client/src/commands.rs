//! Building the module's commands and reading their replies. No I/O here.

use crate::error::Error;
use crate::feed::*;
use crate::types::*;
use redis::{Cmd, Value};
use std::time::Duration;

/// A server error reply inside a value (pipelines and single calls hand them back as values).
pub(crate) fn checked(v: Value) -> Result<Value, Error> {
    match v {
        Value::ServerError(e) => Err(Error::from(redis::RedisError::from(e))),
        other => Ok(other),
    }
}

fn shape(what: &str, v: &Value) -> Error {
    Error::Protocol(format!("expected {what}, got {v:?}"))
}

pub(crate) fn text(v: &Value) -> Result<String, Error> {
    match v {
        Value::BulkString(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::VerbatimString { text, .. } => Ok(text.clone()),
        Value::Okay => Ok("OK".into()),
        Value::Int(i) => Ok(i.to_string()),
        other => Err(shape("a string", other)),
    }
}

pub(crate) fn int(v: &Value) -> Result<i64, Error> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::BulkString(_) | Value::SimpleString(_) => {
            text(v)?.parse().map_err(|_| shape("an integer", v))
        }
        other => Err(shape("an integer", other)),
    }
}

fn uint(v: &Value) -> Result<u64, Error> {
    u64::try_from(int(v)?).map_err(|_| shape("a non-negative integer", v))
}

fn opt_uint(v: &Value) -> Result<Option<u64>, Error> {
    match v {
        Value::Nil => Ok(None),
        other => uint(other).map(Some),
    }
}

fn amount(v: &Value) -> Result<Amount, Error> {
    text(v)?.parse()
}

/// `"-1"` means unlimited.
fn opt_amount(v: &Value) -> Result<Option<Amount>, Error> {
    let a = amount(v)?;
    Ok((a != Amount::from_int(-1)).then_some(a))
}

fn array(v: Value) -> Result<Vec<Value>, Error> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(shape("an array", &other)),
    }
}

/// A map reply: a RESP3 map, or a flat field/value array under RESP2.
fn pairs(v: Value) -> Result<Vec<(String, Value)>, Error> {
    match v {
        Value::Map(pairs) => pairs.into_iter().map(|(k, v)| Ok((text(&k)?, v))).collect(),
        other => {
            let items = array(other)?;
            if items.len() % 2 != 0 {
                return Err(Error::Protocol("a map with an odd number of items".into()));
            }
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((text(&k)?, v));
            }
            Ok(out)
        }
    }
}

pub(crate) fn ok(v: Value) -> Result<(), Error> {
    match checked(v)? {
        Value::Okay => Ok(()),
        Value::SimpleString(s) if s == "OK" => Ok(()),
        other => Err(shape("OK", &other)),
    }
}

/// A command whose only argument is its key (ALERT.INFO, QUOTA.GET, QUOTA.RESET, LRU.INFO).
pub(crate) fn key_only(name: &str, key: &str) -> Cmd {
    let mut c = redis::cmd(name);
    c.arg(key);
    c
}

/// `COMMAND INFO name`: nil inside the array for a command the server does not know.
pub(crate) fn command_info(name: &str) -> Cmd {
    let mut c = redis::cmd("COMMAND");
    c.arg("INFO").arg(name);
    c
}

// ---- alerts ----

pub(crate) fn add(key: &str, doc: &str, id: AlertId) -> Cmd {
    let mut c = redis::cmd("ALERT.ADD");
    c.arg(key)
        .arg(doc)
        .arg("TS")
        .arg(id.ts)
        .arg("ID")
        .arg(id.to_string());
    c
}

pub(crate) fn parse_add(v: Value) -> Result<AddOutcome, Error> {
    let items = array(checked(v)?)?;
    let [word, id, n] = items.as_slice() else {
        return Err(Error::Protocol(format!(
            "ALERT.ADD reply of {} items",
            items.len()
        )));
    };
    let id = || -> Result<AlertId, Error> { text(id)?.parse() };
    let n = uint(n)?;
    Ok(match text(word)?.as_str() {
        "added" => AddOutcome::Added(id()?),
        "duplicate" => AddOutcome::Duplicate {
            id: id()?,
            count: n,
        },
        "exists" => AddOutcome::Exists {
            id: id()?,
            count: n,
        },
        "limited" => AddOutcome::Limited { retry_after_ms: n },
        "expired" => AddOutcome::Expired,
        other => return Err(Error::Protocol(format!("unknown outcome '{other}'"))),
    })
}

fn settings_args(c: &mut Cmd, o: &StreamOptions) {
    if let Some(v) = o.retention_ms {
        c.arg("RETENTION").arg(v);
    }
    if let Some(v) = o.maxlen {
        c.arg("MAXLEN").arg(v);
    }
    if let Some(v) = o.dedup_ms {
        c.arg("DEDUP").arg(v);
    }
    if let Some((n, w)) = o.ratelimit {
        c.arg("RATELIMIT").arg(n).arg(w);
    }
    if let Some(v) = o.autoresolve_ms {
        c.arg("AUTORESOLVE").arg(v);
    }
    if let Some(v) = o.id_memory_ms {
        c.arg("IDMEMORY").arg(v);
    }
}

pub(crate) fn create(key: &str, o: &StreamOptions) -> Cmd {
    let mut c = redis::cmd("ALERT.CREATE");
    c.arg(key);
    settings_args(&mut c, o);
    c
}

pub(crate) fn alter(key: &str, o: &StreamOptions) -> Cmd {
    let mut c = redis::cmd("ALERT.ALTER");
    c.arg(key);
    settings_args(&mut c, o);
    c
}

pub(crate) fn ids_cmd(name: &str, key: &str, ids: &[AlertId]) -> Cmd {
    let mut c = redis::cmd(name);
    c.arg(key);
    for id in ids {
        c.arg(id.to_string());
    }
    c
}

pub(crate) fn range(key: &str, q: &RangeQuery) -> Cmd {
    let mut c = redis::cmd("ALERT.RANGE");
    c.arg(key).arg(q.args());
    c
}

pub(crate) fn trim(key: &str, t: Trim) -> Cmd {
    let mut c = redis::cmd("ALERT.TRIM");
    c.arg(key);
    match t {
        Trim::MaxLen(n) => c.arg("MAXLEN").arg(n),
        Trim::MinTs(ms) => c.arg("MINTS").arg(ms),
    };
    c
}

pub(crate) fn parse_alerts(v: Value) -> Result<Vec<Option<Alert>>, Error> {
    array(checked(v)?)?
        .iter()
        .map(|item| match item {
            Value::Nil => Ok(None),
            other => Alert::from_json(&text(other)?).map(Some),
        })
        .collect()
}

pub(crate) fn parse_count(v: Value) -> Result<u64, Error> {
    uint(&checked(v)?)
}

pub(crate) fn info(key: &str) -> Cmd {
    key_only("ALERT.INFO", key)
}

pub(crate) fn parse_alert_info(v: Value) -> Result<AlertInfo, Error> {
    let mut info = AlertInfo::default();
    for (field, v) in pairs(checked(v)?)? {
        let slot = match field.as_str() {
            "first_ts" => {
                info.first_ts = opt_uint(&v)?;
                continue;
            }
            "last_ts" => {
                info.last_ts = opt_uint(&v)?;
                continue;
            }
            "length" => &mut info.length,
            "retention" => &mut info.retention,
            "maxlen" => &mut info.maxlen,
            "dedup" => &mut info.dedup,
            "ratelimit_n" => &mut info.ratelimit_n,
            "ratelimit_window" => &mut info.ratelimit_window,
            "added" => &mut info.added,
            "duplicates" => &mut info.duplicates,
            "limited" => &mut info.limited,
            "expired" => &mut info.expired,
            "trimmed" => &mut info.trimmed,
            "memory" => &mut info.memory,
            "autoresolve" => &mut info.autoresolve,
            "autoresolved" => &mut info.autoresolved,
            "id_memory" => &mut info.id_memory,
            "remembered_ids" => &mut info.remembered_ids,
            // Fields a later module version adds.
            _ => continue,
        };
        *slot = uint(&v)?;
    }
    Ok(info)
}

// ---- the change feed, silences, groups ----

/// `ALERT.READ key AFTER cursor [COUNT n] [BLOCK ms] [filters] [WITHSILENCED]`; `block`
/// overrides the options' (the first read of a `$` cursor does not block).
pub(crate) fn read(key: &str, cursor: &str, o: &ReadOptions, block: Option<Duration>) -> Cmd {
    let mut c = redis::cmd("ALERT.READ");
    c.arg(key).arg("AFTER").arg(cursor);
    if let Some(n) = o.count {
        c.arg("COUNT").arg(n);
    }
    if let Some(b) = block {
        // BLOCK 0 would wait without a limit.
        c.arg("BLOCK").arg(b.as_millis().max(1) as u64);
    }
    c.arg(o.filters.args());
    if o.with_silenced {
        c.arg("WITHSILENCED");
    }
    c
}

/// An ALERT.READ reply's position and its `(cursor, alert)` pairs.
pub(crate) type ReadItems = (String, Vec<(String, Alert)>);

/// An ALERT.READ reply: `[next, [[cursor, alert], ...]]`, or nil when a BLOCK ran out.
pub(crate) fn parse_read(v: Value) -> Result<Option<ReadItems>, Error> {
    let v = checked(v)?;
    if v == Value::Nil {
        return Ok(None);
    }
    let items = array(v)?;
    let [next, changes] = items.as_slice() else {
        return Err(Error::Protocol(format!(
            "ALERT.READ reply of {} items",
            items.len()
        )));
    };
    let changes = array(changes.clone())?
        .into_iter()
        .map(|pair| {
            let pair = array(pair)?;
            let [cursor, alert] = pair.as_slice() else {
                return Err(Error::Protocol("ALERT.READ item of wrong length".into()));
            };
            Ok((text(cursor)?, Alert::from_json(&text(alert)?)?))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some((text(next)?, changes)))
}

pub(crate) fn silence(
    key: &str,
    until: u64,
    m: &Matchers,
    comment: Option<&str>,
    id: Option<u64>,
) -> Cmd {
    let mut c = redis::cmd("ALERT.SILENCE");
    c.arg(key).arg("UNTIL").arg(until).arg(m.args());
    if let Some(text) = comment {
        c.arg("COMMENT").arg(text);
    }
    if let Some(id) = id {
        c.arg("ID").arg(id);
    }
    c
}

pub(crate) fn unsilence(key: &str, id: u64) -> Cmd {
    let mut c = redis::cmd("ALERT.UNSILENCE");
    c.arg(key).arg(id);
    c
}

pub(crate) fn parse_silences(v: Value) -> Result<Vec<Silence>, Error> {
    array(checked(v)?)?
        .into_iter()
        .map(|item| {
            let mut s = Silence {
                id: 0,
                until: 0,
                matchers: Matchers::default(),
                comment: None,
                covered: 0,
            };
            for (field, v) in pairs(item)? {
                match field.as_str() {
                    "id" => s.id = uint(&v)?,
                    "until" => s.until = uint(&v)?,
                    "covered" => s.covered = uint(&v)?,
                    "comment" if v != Value::Nil => s.comment = Some(text(&v)?),
                    "matchers" => s.matchers = parse_matchers(v)?,
                    _ => {}
                }
            }
            Ok(s)
        })
        .collect()
}

fn parse_matchers(v: Value) -> Result<Matchers, Error> {
    let mut m = Matchers::default();
    for (field, v) in pairs(v)? {
        match field.as_str() {
            "minseverity" => {
                let t = text(&v)?;
                m.min_severity = Some(
                    Severity::parse(&t)
                        .ok_or_else(|| Error::Protocol(format!("severity '{t}'")))?,
                );
            }
            "source" => m.source = Some(text(&v)?),
            "type" => m.kind = Some(text(&v)?),
            "labels" => {
                for (name, value) in pairs(v)? {
                    m.labels.push((name, text(&value)?));
                }
            }
            _ => {}
        }
    }
    Ok(m)
}

pub(crate) fn groups(key: &str, start: Bound, end: Bound, by: &GroupBy, f: &Filters) -> Cmd {
    let mut c = redis::cmd("ALERT.GROUPS");
    c.arg(key)
        .arg(start.arg())
        .arg(end.arg())
        .arg("BY")
        .arg(by.arg())
        .arg(f.args());
    c
}

pub(crate) fn parse_groups(v: Value) -> Result<Vec<Group>, Error> {
    array(checked(v)?)?
        .into_iter()
        .map(|g| {
            let parts = array(g)?;
            let [value, alerts, occurrences, newest] = parts.as_slice() else {
                return Err(Error::Protocol("ALERT.GROUPS group of wrong length".into()));
            };
            Ok(Group {
                value: match value {
                    Value::Nil => None,
                    v => Some(text(v)?),
                },
                alerts: uint(alerts)?,
                occurrences: uint(occurrences)?,
                newest_ts: uint(newest)?,
            })
        })
        .collect()
}

// ---- quotas ----

/// `QUOTA.SET key LIMIT amount [WINDOW ms] [ALERTS stream AT pct [pct ...]]`.
pub(crate) fn quota_set(key: &str, s: &QuotaSettings) -> Cmd {
    let mut c = redis::cmd("QUOTA.SET");
    c.arg(key).arg("LIMIT").arg(s.limit.to_string());
    if let Some(w) = s.window_ms {
        c.arg("WINDOW").arg(w);
    }
    if let Some(alerts) = &s.alerts {
        c.arg("ALERTS")
            .arg(&alerts.stream)
            .arg("AT")
            .arg(&alerts.at);
    }
    c
}

fn incr_args(c: &mut Cmd, limit: Option<Amount>, force: bool) {
    if let Some(limit) = limit {
        c.arg("LIMIT").arg(limit.to_string());
    }
    if force {
        c.arg("FORCE");
    }
}

fn evict_args(c: &mut Cmd, tracker: &str, max: Option<u64>) {
    c.arg("EVICT").arg(tracker);
    if let Some(max) = max {
        c.arg("MAX").arg(max);
    }
}

pub(crate) fn quota_incr(key: &str, amount: Amount, o: &IncrOptions) -> Cmd {
    let mut c = redis::cmd("QUOTA.INCR");
    c.arg(key).arg(amount.to_string());
    incr_args(&mut c, o.limit, o.force);
    c
}

/// `QUOTA.INCR key amount [LIMIT amount] [FORCE] EVICT tracker [MAX n]`.
pub(crate) fn quota_incr_evict(
    key: &str,
    amount: Amount,
    tracker: &str,
    max: Option<u64>,
    o: &IncrOptions,
) -> Cmd {
    let mut c = redis::cmd("QUOTA.INCR");
    c.arg(key).arg(amount.to_string());
    incr_args(&mut c, o.limit, o.force);
    evict_args(&mut c, tracker, max);
    c
}

/// `QUOTA.INCR key amount [LIMIT amount] [FORCE] [EVICT tracker] [MAX n] DRYRUN`. `MAX`
/// goes as given, also without `EVICT` (the server says what is wrong with it).
pub(crate) fn quota_dry_run(key: &str, amount: Amount, o: &DryRunOptions) -> Cmd {
    let mut c = redis::cmd("QUOTA.INCR");
    c.arg(key).arg(amount.to_string());
    incr_args(&mut c, o.limit, o.force);
    match &o.evict {
        Some(tracker) => evict_args(&mut c, tracker, o.max),
        None => {
            if let Some(max) = o.max {
                c.arg("MAX").arg(max);
            }
        }
    }
    c.arg("DRYRUN");
    c
}

/// The five elements of a QUOTA.INCR / QUOTA.GET reply.
fn quota_of(items: &[Value]) -> Result<QuotaReply, Error> {
    let [allowed, usage, limit, remaining, reset] = items else {
        return Err(Error::Protocol(format!(
            "quota reply of {} items",
            items.len()
        )));
    };
    let reset = int(reset)?;
    Ok(QuotaReply {
        allowed: int(allowed)? == 1,
        usage: amount(usage)?,
        limit: opt_amount(limit)?,
        remaining: opt_amount(remaining)?,
        reset_ms: u64::try_from(reset).ok(),
    })
}

pub(crate) fn parse_quota(v: Value) -> Result<Option<QuotaReply>, Error> {
    let v = checked(v)?;
    if v == Value::Nil {
        return Ok(None);
    }
    quota_of(&array(v)?).map(Some)
}

/// QUOTA.INCR ... EVICT (six elements, the sixth the evicted keys), or a DRYRUN without
/// EVICT (five: nothing evicted).
pub(crate) fn parse_incr_evict(v: Value) -> Result<IncrEvictReply, Error> {
    let mut items = array(checked(v)?)?;
    let evicted = match items.len() {
        6 => items.pop().map_or(Ok(Vec::new()), array)?,
        _ => Vec::new(),
    };
    Ok(IncrEvictReply {
        quota: quota_of(&items)?,
        evicted: evicted.iter().map(text).collect::<Result<_, _>>()?,
    })
}

// ---- LRU trackers ----

pub(crate) fn lru_touch(tracker: &str, keys: &[(&str, Amount)]) -> Cmd {
    let mut c = redis::cmd("LRU.TOUCH");
    c.arg(tracker);
    for (key, size) in keys {
        c.arg(*key).arg(size.to_string());
    }
    c
}

pub(crate) fn lru_forget(tracker: &str, keys: &[&str]) -> Cmd {
    let mut c = redis::cmd("LRU.FORGET");
    c.arg(tracker).arg(keys);
    c
}

pub(crate) fn lru_candidates(tracker: &str, count: u64) -> Cmd {
    let mut c = redis::cmd("LRU.CANDIDATES");
    c.arg(tracker).arg(count);
    c
}

pub(crate) fn lru_evict(tracker: &str, target: Amount, o: &EvictOptions) -> Cmd {
    let mut c = redis::cmd("LRU.EVICT");
    c.arg(tracker).arg(target.to_string());
    if let Some(q) = &o.quota {
        c.arg("QUOTA").arg(q);
    }
    if let Some(max) = o.max {
        c.arg("MAX").arg(max);
    }
    c
}

pub(crate) fn parse_candidates(v: Value) -> Result<Vec<LruCandidate>, Error> {
    array(checked(v)?)?
        .into_iter()
        .map(|item| {
            let parts = array(item)?;
            let [key, size, used] = parts.as_slice() else {
                return Err(Error::Protocol("candidate of wrong length".into()));
            };
            Ok(LruCandidate {
                key: text(key)?,
                size: amount(size)?,
                last_used_ms: uint(used)?,
            })
        })
        .collect()
}

pub(crate) fn parse_evict(v: Value) -> Result<EvictReply, Error> {
    let items = array(checked(v)?)?;
    let [evicted, freed, total, keys] = items.as_slice() else {
        return Err(Error::Protocol(format!(
            "LRU.EVICT reply of {} items",
            items.len()
        )));
    };
    Ok(EvictReply {
        evicted: uint(evicted)?,
        freed: amount(freed)?,
        total: amount(total)?,
        keys: array(keys.clone())?
            .iter()
            .map(text)
            .collect::<Result<_, _>>()?,
    })
}

pub(crate) fn parse_lru_info(v: Value) -> Result<LruInfo, Error> {
    let mut info = LruInfo::default();
    for (field, v) in pairs(checked(v)?)? {
        match field.as_str() {
            "keys" => info.keys = uint(&v)?,
            "total" => info.total = amount(&v)?,
            "oldest_ms" => info.oldest_ms = opt_uint(&v)?,
            "evicted" => info.evicted = uint(&v)?,
            _ => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn add_replies() {
        let v = Value::Array(vec![bulk("added"), bulk("5-1"), Value::Int(1)]);
        assert_eq!(parse_add(v).unwrap(), AddOutcome::Added(AlertId::new(5, 1)));
        let v = Value::Array(vec![bulk("limited"), Value::Nil, Value::Int(250)]);
        assert_eq!(
            parse_add(v).unwrap(),
            AddOutcome::Limited {
                retry_after_ms: 250
            }
        );
        let v = Value::Array(vec![bulk("expired"), Value::Nil, Value::Int(0)]);
        assert_eq!(parse_add(v).unwrap(), AddOutcome::Expired);
    }

    #[test]
    fn quota_replies() {
        let v = Value::Array(vec![
            Value::Int(1),
            bulk("1.5"),
            bulk("-1"),
            bulk("-1"),
            Value::Int(-1),
        ]);
        let q = parse_quota(v).unwrap().unwrap();
        assert!(q.allowed);
        assert_eq!(q.usage.to_string(), "1.5");
        assert_eq!((q.limit, q.remaining, q.reset_ms), (None, None, None));
        assert_eq!(parse_quota(Value::Nil).unwrap(), None);

        let five = vec![
            Value::Int(0),
            bulk("800"),
            bulk("1000"),
            bulk("200"),
            Value::Int(-1),
        ];
        let mut six = five.clone();
        six.push(Value::Array(vec![bulk("t:{a}:1")]));
        let r = parse_incr_evict(Value::Array(six)).unwrap();
        assert!(!r.quota.allowed);
        assert_eq!(r.evicted, vec!["t:{a}:1".to_string()]);
        let r = parse_incr_evict(Value::Array(five)).unwrap();
        assert!(r.evicted.is_empty());
        assert!(parse_incr_evict(Value::Nil).is_err());
    }

    #[test]
    fn quota_commands_carry_their_options() {
        let args = |c: Cmd| -> Vec<String> {
            c.args_iter()
                .map(|a| match a {
                    redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                    redis::Arg::Cursor => "<cursor>".into(),
                })
                .collect()
        };
        let set = QuotaSettings::new(Amount::from(1000))
            .window(60_000)
            .alerts("t:{a}:alerts", [80, 100]);
        assert_eq!(
            args(quota_set("t:{a}:q", &set)),
            [
                "QUOTA.SET",
                "t:{a}:q",
                "LIMIT",
                "1000",
                "WINDOW",
                "60000",
                "ALERTS",
                "t:{a}:alerts",
                "AT",
                "80",
                "100"
            ]
        );
        let evict = quota_incr_evict(
            "t:{a}:q",
            Amount::from(5),
            "t:{a}:lru",
            Some(3),
            &IncrOptions::default(),
        );
        assert_eq!(
            args(evict),
            [
                "QUOTA.INCR",
                "t:{a}:q",
                "5",
                "EVICT",
                "t:{a}:lru",
                "MAX",
                "3"
            ]
        );
        let dry = DryRunOptions {
            limit: Some(Amount::from(9)),
            evict: Some("t:{a}:lru".into()),
            ..DryRunOptions::default()
        };
        assert_eq!(
            args(quota_dry_run("t:{a}:q", Amount::from(5), &dry)),
            [
                "QUOTA.INCR",
                "t:{a}:q",
                "5",
                "LIMIT",
                "9",
                "EVICT",
                "t:{a}:lru",
                "DRYRUN"
            ]
        );
    }

    #[test]
    fn maps_in_both_protocols() {
        let flat = Value::Array(vec![
            bulk("keys"),
            Value::Int(2),
            bulk("total"),
            bulk("3.5"),
        ]);
        let info = parse_lru_info(flat).unwrap();
        assert_eq!((info.keys, info.total.to_string()), (2, "3.5".into()));
        let map = Value::Map(vec![
            (bulk("length"), Value::Int(7)),
            (bulk("first_ts"), Value::Nil),
        ]);
        let info = parse_alert_info(map).unwrap();
        assert_eq!((info.length, info.first_ts), (7, None));
    }
}
