//! The command table: for each command its name, handler, flags, arity, key specs (with their
//! exact access flags), syntax line and docs, in one place. `register` creates them all at load
//! and gives each its `COMMAND INFO` / `COMMAND DOCS` (key specs and argument tree).
//!
//! Key spec flags follow what each command does with the key (as core commands declare them):
//! `RO ACCESS` for reads; `RW ACCESS UPDATE` where the reply shows data the key held (QUOTA.INCR
//! shows usage, ALERT.ADD an existing alert's ID and count); `RW INSERT`, `RW UPDATE`,
//! `RW DELETE` where the reply only counts what changed.

use crate::alert::commands as alert;
use crate::dispatch::{self, first_key, Begin, Command, KeySpec};
use crate::dispatch::{RO, RW_ACCESS, RW_ACCESS_DELETE, RW_DELETE, RW_INSERT, RW_UPDATE};
use crate::ffi;
use crate::lru::commands as lru;
use crate::quota::commands as quota;
use crate::syntax::{self, Kinds};
use redis_module::{raw, Context, Status};
use std::os::raw::c_int;
use std::sync::atomic::AtomicU64;

const fn tracker(flags: u32) -> KeySpec {
    KeySpec {
        arg: "tracker",
        flags,
        begin: Begin::Index(1),
    }
}

macro_rules! command {
    ($name:literal, $handler:path, $flags:literal, $arity:literal, $keys:expr,
     $syntax:literal, $summary:literal, $complexity:literal, $since:literal) => {
        Command {
            name: $name,
            handler: $handler,
            flags: $flags,
            arity: $arity,
            keys: $keys,
            syntax: $syntax,
            summary: $summary,
            complexity: $complexity,
            since: $since,
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    };
}

pub static TABLE: [Command; 27] = [
    command!("alert.create", alert::create, "write deny-oom fast", -2, &[first_key(RW_INSERT)],
        "ALERT.CREATE key [RETENTION ms] [MAXLEN n] [DEDUP ms] [RATELIMIT n window_ms] [AUTORESOLVE ms] [IDMEMORY ms] [REVISION n] [SILENCEID n] [LASTID id]",
        "Creates an empty alert stream with its settings", "O(1)", "0.1.0"),
    command!("alert.alter", alert::alter, "write deny-oom", -2, &[first_key(RW_UPDATE)],
        "ALERT.ALTER key [RETENTION ms] [MAXLEN n] [DEDUP ms] [RATELIMIT n window_ms] [AUTORESOLVE ms] [IDMEMORY ms] [NOW ms] [REVISION n]",
        "Changes the settings of an alert stream; trims at once",
        "O(1), plus O(k) for k alerts trimmed", "0.1.0"),
    command!("alert.add", alert::add, "write deny-oom fast", -3, &[first_key(RW_ACCESS)],
        "ALERT.ADD key document [TS ms] [ID id] [NOW ms]",
        "Adds an alert with dedup, rate limit and trimming", "O(log N)", "0.1.0"),
    command!("alert.get", alert::get, "readonly fast", -3, &[first_key(RO)],
        "ALERT.GET key id [id ...]",
        "Returns alerts by ID", "O(log N) per ID", "0.1.0"),
    command!("alert.range", alert::range, "readonly", -4, &[first_key(RO)],
        "ALERT.RANGE key start end [REV] [COUNT n] [MINSEVERITY sev] [SOURCE src] [TYPE t] [STATUS st] [LABEL name=value ...]",
        "Returns alerts in an ID or time range, filtered", "O(log N + M) for M alerts visited",
        "0.1.0"),
    command!("alert.ack", alert::ack, "write fast", -3, &[first_key(RW_UPDATE)],
        "ALERT.ACK key id [id ...]",
        "Marks alerts acked", "O(log N) per ID", "0.1.0"),
    command!("alert.resolve", alert::resolve, "write fast", -3, &[first_key(RW_UPDATE)],
        "ALERT.RESOLVE key id [id ...]",
        "Marks alerts resolved", "O(log N) per ID", "0.1.0"),
    command!("alert.del", alert::del, "write fast", -3, &[first_key(RW_DELETE)],
        "ALERT.DEL key id [id ...]",
        "Removes alerts by ID", "O(log N) per ID", "0.1.0"),
    command!("alert.trim", alert::trim, "write", 4, &[first_key(RW_DELETE)],
        "ALERT.TRIM key MAXLEN n | MINTS ms",
        "Removes the oldest alerts by count or timestamp", "O(log N + k) for k alerts removed",
        "0.1.0"),
    command!("alert.info", alert::info, "readonly", 2, &[first_key(RO)],
        "ALERT.INFO key",
        "Returns the settings and counters of a stream", "O(N/64)", "0.1.0"),
    command!("alert.import", alert::import, "write deny-oom", -4, &[first_key(RW_INSERT)],
        "ALERT.IMPORT key id document [STATUS st] [COUNT n] [LASTSEEN ms] [ALIAS id ...] [REV n]",
        "Restores one alert exactly (used by AOF rewrite)", "O(log N)", "0.1.0"),
    command!("alert.read", alert::read, "readonly blocking", -4, &[first_key(RO)],
        "ALERT.READ key AFTER cursor [COUNT n] [BLOCK ms] [MINSEVERITY sev] [SOURCE src] [TYPE t] [STATUS st] [LABEL name=value ...] [WITHSILENCED]",
        "Returns the alerts changed after a cursor, in the order of the changes; can block",
        "O(log N + M) for M changes returned or skipped", "0.2.0"),
    command!("alert.silence", alert::silence, "write deny-oom", -4, &[first_key(RW_INSERT)],
        "ALERT.SILENCE key UNTIL ms [MINSEVERITY sev] [SOURCE src] [TYPE t] [LABEL name=value ...] [COMMENT text] [ID id]",
        "Silences the alerts that match until a time: ALERT.READ leaves them out",
        "O(1)", "0.2.0"),
    command!("alert.unsilence", alert::unsilence, "write", -3, &[first_key(RW_UPDATE)],
        "ALERT.UNSILENCE key id [id ...]",
        "Ends silences: the alerts they covered come back in the feed",
        "O(N x S) to re-revision the alerts they covered, for S silences", "0.2.0"),
    command!("alert.silences", alert::silences, "readonly", 2, &[first_key(RO)],
        "ALERT.SILENCES key",
        "Returns the active silences of a stream with the alerts each covers",
        "O(S x N) for S silences", "0.2.0"),
    command!("alert.groups", alert::groups, "readonly", -6, &[first_key(RO)],
        "ALERT.GROUPS key start end BY field [MINSEVERITY sev] [SOURCE src] [TYPE t] [STATUS st] [LABEL name=value ...]",
        "Counts the alerts of a range by severity, source, type, status or a label",
        "O(log N + M) for M alerts visited", "0.2.0"),
    command!("quota.set", quota::set, "write deny-oom fast getkeys-api", -4,
        &[
            first_key(RW_UPDATE),
            KeySpec { arg: "stream", flags: RW_UPDATE, begin: Begin::Keyword { keyword: c"ALERTS", from: 2 } },
        ],
        "QUOTA.SET key LIMIT amount [WINDOW ms] [ALERTS stream AT pct [pct ...]] [RAISED pct id ...] [NOW ms]",
        "Creates or reconfigures a quota, with alerts at thresholds of its limit",
        "O(1), plus O(log N) per threshold alert", "0.1.0"),
    command!("quota.incr", quota::incr, "write deny-oom getkeys-api", -3,
        &[
            first_key(RW_ACCESS),
            KeySpec { arg: "tracker", flags: RW_ACCESS_DELETE, begin: Begin::Keyword { keyword: c"EVICT", from: 3 } },
        ],
        "QUOTA.INCR key amount [LIMIT amount] [FORCE] [EVICT tracker [MAX n]] [DRYRUN] [NOW ms]",
        "Checks and adds an amount to a quota's usage, atomically, evicting LRU keys to make room",
        "O(1), plus O(k log N) for k keys evicted", "0.1.0"),
    command!("quota.get", quota::get, "readonly fast", 2, &[first_key(RO)],
        "QUOTA.GET key",
        "Returns a quota's usage, limit, remaining and reset time", "O(1)", "0.1.0"),
    command!("quota.reset", quota::reset, "write fast", 2, &[first_key(RW_UPDATE)],
        "QUOTA.RESET key",
        "Sets a quota's usage to 0, keeping its limit", "O(1)", "0.1.0"),
    command!("lru.touch", lru::touch, "write deny-oom fast", -4, &[tracker(RW_UPDATE)],
        "LRU.TOUCH tracker key size [key size ...]",
        "Marks keys of the tracker's namespace used now, with their sizes", "O(log N) per key",
        "0.1.0"),
    command!("lru.touchat", lru::touch_at, "write deny-oom fast", -5, &[tracker(RW_UPDATE)],
        "LRU.TOUCHAT tracker ms key size [key size ...]",
        "LRU.TOUCH at an explicit time (replication, AOF rewrite)", "O(log N) per key",
        "0.1.0"),
    command!("lru.evicted", lru::evicted, "write deny-oom fast", 3, &[tracker(RW_UPDATE)],
        "LRU.EVICTED tracker n",
        "Adds to a tracker's count of evicted keys (replication, AOF rewrite)", "O(1)", "0.2.0"),
    command!("lru.forget", lru::forget, "write fast", -3, &[tracker(RW_DELETE)],
        "LRU.FORGET tracker key [key ...]",
        "Stops tracking keys (they are not deleted)", "O(log N) per key", "0.1.0"),
    command!("lru.candidates", lru::candidates, "readonly", 3, &[tracker(RO)],
        "LRU.CANDIDATES tracker count",
        "Returns the least recently used keys, oldest first", "O(log N + count)", "0.1.0"),
    command!("lru.evict", lru_evict, "write getkeys-api", -3,
        &[
            tracker(RW_ACCESS_DELETE),
            KeySpec { arg: "quotakey", flags: RW_UPDATE, begin: Begin::Keyword { keyword: c"QUOTA", from: 3 } },
        ],
        "LRU.EVICT tracker target [QUOTA quotakey] [MAX n]",
        "Deletes least recently used keys until the total is at most the target",
        "O(k log N) for k keys evicted", "0.1.0"),
    command!("lru.info", lru::info, "readonly", 2, &[tracker(RO)],
        "LRU.INFO tracker",
        "Returns a tracker's key count, total size, oldest use and evictions", "O(N)", "0.1.0"),
];

/// LRU.EVICT, whose QUOTA option lowers a quota through the quota glue: the table joins the
/// two, as quota/ imports the eviction from lru/ and lru/ may not import quota/ back.
fn lru_evict(ctx: &Context, args: &[redis_module::RedisString]) -> crate::error::CmdResult {
    lru::evict(ctx, args, quota::release)
}

/// The callback Redis calls for command `I` of the table.
extern "C" fn call<const I: usize>(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    let context = Context::new(ctx);
    // SAFETY: `argv` and `argc` are this callback's own, as Redis passed them.
    unsafe {
        ffi::with_argv(ctx, argv, argc, |args| {
            dispatch::run(&TABLE[I], &context, args)
        })
    }
}

macro_rules! callbacks {
    ($($i:literal)*) => { [$(call::<$i> as ffi::command::Callback),*] };
}

const CALLBACKS: [ffi::command::Callback; 32] = callbacks!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
);
const _: () = assert!(
    TABLE.len() <= CALLBACKS.len(),
    "add callbacks for the new commands"
);

/// Creates every command, with its key specs and argument tree.
pub fn register(ctx: &Context) -> Status {
    let vigil = ffi::command::add_category(ctx);
    for (cmd, callback) in TABLE.iter().zip(CALLBACKS) {
        let args = syntax::parse(
            cmd.syntax,
            &Kinds {
                keys: &cmd.key_args(),
            },
        );
        let result = args.and_then(|args| {
            ffi::command::create(ctx, cmd, callback)?;
            ffi::command::set_info(ctx, cmd, &args)
        });
        if let Err(e) = result {
            ctx.log_warning(&format!("vigil: {}: {e}", cmd.name));
            return Status::Err;
        }
        // ACL categories are a convenience for ACL rules: a server that refuses them still
        // loads the module, its commands then in no category but @all (as on Redis 7.0).
        if let Err(e) = ffi::command::set_categories(ctx, cmd, vigil) {
            ctx.log_warning(&format!("vigil: {}: {e}", cmd.name));
        }
    }
    Status::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syntax_line_parses_and_names_its_keys() {
        for cmd in TABLE.iter() {
            assert!(
                cmd.syntax
                    .to_ascii_lowercase()
                    .starts_with(&format!("{} ", cmd.name)),
                "{}",
                cmd.name
            );
            let args = syntax::parse(
                cmd.syntax,
                &Kinds {
                    keys: &cmd.key_args(),
                },
            )
            .unwrap_or_else(|e| panic!("{}: {e}", cmd.name));
            fn keys(nodes: &[syntax::ArgNode], out: &mut Vec<usize>) {
                for n in nodes {
                    out.extend(n.key_spec);
                    keys(&n.children, out);
                }
            }
            let mut found = Vec::new();
            keys(&args, &mut found);
            found.sort_unstable();
            let want: Vec<usize> = (0..cmd.keys.len()).collect();
            assert_eq!(found, want, "{}: every key spec has its argument", cmd.name);
            // Redis 7.0 routes cluster commands by first/last/step, which cannot name a key
            // after a keyword: such commands answer key-position requests themselves.
            let keyword = cmd
                .keys
                .iter()
                .any(|k| matches!(k.begin, Begin::Keyword { .. }));
            assert_eq!(
                keyword,
                cmd.flags.split(' ').any(|f| f == "getkeys-api"),
                "{}: getkeys-api exactly when a key follows a keyword",
                cmd.name
            );
        }
    }
}
