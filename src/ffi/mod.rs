//! Every call into the Redis module API that needs `unsafe`, in one place, each with a
//! `SAFETY:` line. The rest of the module is safe Rust over these wrappers and the
//! `redis-module` crate.
//!
//! The module API's function pointers are filled in by `RedisModule_Init` before any of this
//! runs; each wrapper checks for a missing pointer (an older server) instead of unwrapping.

pub mod block;
pub mod cluster;
pub mod command;
pub mod listeners;
pub mod rdb;
pub mod scan;
pub mod types;

use redis_module::{raw, Context, RedisString};
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::OnceLock;

/// The server's clock in ms (cached per command by Redis, so all of one command sees one time).
pub fn milliseconds() -> u64 {
    // SAFETY: RedisModule_Milliseconds takes no arguments and only reads the server clock.
    let ms = unsafe { raw::RedisModule_Milliseconds.map_or(0, |f| f()) };
    ms.max(0) as u64
}

/// The context's flags (REDISMODULE_CTX_FLAGS_*).
pub fn context_flags(ctx: &Context) -> u32 {
    // SAFETY: the context is live for the duration of the callback that holds `ctx`.
    let f = unsafe { raw::RedisModule_GetContextFlags.map_or(0, |f| f(ctx.get_raw())) };
    f as u32
}

/// True while clients are paused for writes (CLIENT PAUSE WRITE, FAILOVER, a cluster manual
/// failover): nothing may be replicated from a timer then.
pub fn writes_paused() -> bool {
    // SAFETY: takes no arguments; reads server state on the main thread.
    unsafe { raw::RedisModule_AvoidReplicaTraffic.is_some_and(|f| f() != 0) }
}

/// The database the context is in.
pub fn selected_db(ctx: &Context) -> i32 {
    // SAFETY: the context is live.
    unsafe { raw::RedisModule_GetSelectedDb.map_or(0, |f| f(ctx.get_raw())) }
}

/// Selects database `db` in the context; false if it does not exist.
pub fn select_db(ctx: &Context, db: i32) -> bool {
    // SAFETY: the context is live; SelectDb checks the range and answers an error outside it.
    let status = unsafe { raw::RedisModule_SelectDb.map(|f| f(ctx.get_raw(), db)) };
    status == Some(raw::REDISMODULE_OK as c_int)
}

/// Whether `key` exists in the selected database (an expired key counts as gone, and is
/// deleted, raising its events, as any lookup does).
pub fn key_exists(ctx: &Context, key: &RedisString) -> bool {
    // SAFETY: the context and the string are live; KeyExists does not retain either.
    match unsafe { raw::RedisModule_KeyExists } {
        Some(f) => unsafe { f(ctx.get_raw(), key.inner) != 0 },
        None => !ctx.open_key(key).is_null(),
    }
}

/// `REDISMODULE_OPEN_KEY_NOSTATS` where the server knows it (Redis 7.2 and later, Valkey): a
/// look-up the module makes for itself does not count in `keyspace_hits` / `keyspace_misses`.
fn no_stats() -> c_int {
    static MODE: OnceLock<c_int> = OnceLock::new();
    *MODE.get_or_init(|| {
        let nostats = raw::REDISMODULE_OPEN_KEY_NOSTATS as c_int;
        // SAFETY: a function of no arguments that only reads the server's constants.
        match unsafe { raw::RedisModule_GetOpenKeyModesAll } {
            Some(all) if unsafe { all() } & nostats != 0 => nostats,
            _ => 0,
        }
    })
}

/// The milliseconds left before `key` expires: None when it has no TTL or is not here (an
/// expired key counts as gone, and is deleted on a primary, as any lookup does). Looked up
/// without touching its LRU/LFU, nor the keyspace hit and miss counts where the server allows.
pub fn expires_in(ctx: &Context, key: &RedisString) -> Option<u64> {
    let (Some(open), Some(get), Some(close)) = (
        unsafe { raw::RedisModule_OpenKey },
        unsafe { raw::RedisModule_GetExpire },
        unsafe { raw::RedisModule_CloseKey },
    ) else {
        return None;
    };
    let mode =
        raw::REDISMODULE_READ as c_int | raw::REDISMODULE_OPEN_KEY_NOTOUCH as c_int | no_stats();
    // SAFETY: the context and the string are live; the key handle is closed before returning
    // and not used after.
    unsafe {
        let k = open(ctx.get_raw(), key.inner, mode);
        if k.is_null() {
            return None;
        }
        let ms = get(k);
        close(k);
        u64::try_from(ms).ok()
    }
}

/// Whether database `db` holds keys with a TTL (`INFO keyspace`'s `expires`); true when that
/// cannot be read.
pub fn has_volatile_keys(ctx: &Context, db: i32) -> bool {
    let (Some(get), Some(free), Some(text)) = (
        unsafe { raw::RedisModule_GetServerInfo },
        unsafe { raw::RedisModule_FreeServerInfo },
        unsafe { raw::RedisModule_ServerInfoGetFieldC },
    ) else {
        return true;
    };
    let Ok(field) = std::ffi::CString::new(format!("db{db}")) else {
        return true;
    };
    // SAFETY: a live context; the field's C string points into the info, read before it is
    // freed.
    unsafe {
        let info = get(ctx.get_raw(), c"keyspace".as_ptr());
        if info.is_null() {
            return true;
        }
        let v = text(info, field.as_ptr());
        // An empty database is not listed at all.
        let volatile = !v.is_null() && {
            let line = CStr::from_ptr(v).to_bytes();
            !line.split(|b| *b == b',').any(|part| part == b"expires=0")
        };
        free(ctx.get_raw(), info);
        volatile
    }
}

/// The bytes of a string Redis passed to a callback (empty for a null string).
///
/// # Safety
/// `s` is null or a live string, and stays so while the slice is used.
pub unsafe fn bytes_of<'a>(s: *const raw::RedisModuleString) -> &'a [u8] {
    let Some(ptr_len) = (unsafe { raw::RedisModule_StringPtrLen }) else {
        return &[];
    };
    if s.is_null() {
        return &[];
    }
    let mut len = 0;
    // SAFETY: the caller's promise; StringPtrLen returns the string's own buffer and length.
    unsafe {
        let p = ptr_len(s, &mut len);
        if p.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(p.cast::<u8>(), len)
        }
    }
}

/// Arguments kept on the stack by `with_argv`; a longer call puts them in a `Vec`.
const ARGV_ON_STACK: usize = 32;

/// Runs `f` over a command's arguments as strings borrowed from its argv: no reference taken
/// or released per argument and, up to 32 arguments, nothing allocated (the crate's
/// `decode_args` retains each string and builds a `Vec`: ~0.4k instructions per call). The
/// slice lives only as long as `f`, within the callback that received `argv`; a handler that
/// keeps an argument beyond the call clones it (a new string).
///
/// # Safety
/// `argv` and `argc` are those Redis passed to the command callback now running: `argc`
/// live strings (or `argv` null).
pub unsafe fn with_argv<R>(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    f: impl FnOnce(&[RedisString]) -> R,
) -> R {
    let n = if argv.is_null() {
        0
    } else {
        usize::try_from(argc).unwrap_or(0)
    };
    let ptrs: &[*mut raw::RedisModuleString] = if n == 0 {
        &[]
    } else {
        // SAFETY: the caller's promise: `argc` live strings in `argv`, valid for the whole
        // callback.
        unsafe { std::slice::from_raw_parts(argv, n) }
    };
    // `from_redis_module_string` wraps a string without retaining it: the wrappers must
    // never be dropped (that would release Redis's reference), so they are held in
    // `MaybeUninit` / `ManuallyDrop`, which never drop their contents.
    let wrap = |p: *mut raw::RedisModuleString| RedisString::from_redis_module_string(ctx, p);
    if n <= ARGV_ON_STACK {
        let mut buf = [const { std::mem::MaybeUninit::<RedisString>::uninit() }; ARGV_ON_STACK];
        for (slot, &p) in buf.iter_mut().zip(ptrs) {
            slot.write(wrap(p));
        }
        // SAFETY: the first `n` slots are initialised just above; MaybeUninit<T> has T's
        // layout. Shared references to them cannot drop them.
        let strings = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<RedisString>(), n) };
        f(strings)
    } else {
        let held: Vec<std::mem::ManuallyDrop<RedisString>> = ptrs
            .iter()
            .map(|&p| std::mem::ManuallyDrop::new(wrap(p)))
            .collect();
        // SAFETY: all `n` are initialised; ManuallyDrop<T> has T's layout.
        let strings = unsafe { std::slice::from_raw_parts(held.as_ptr().cast::<RedisString>(), n) };
        f(strings)
    }
}

/// Raises a keyspace event of the module class.
pub fn notify(ctx: &Context, event: &CStr, key: &RedisString) {
    if let Some(f) = unsafe { raw::RedisModule_NotifyKeyspaceEvent } {
        // SAFETY: the event name is a NUL-terminated static string, the key a live string;
        // Redis copies what it keeps.
        unsafe {
            f(
                ctx.get_raw(),
                raw::REDISMODULE_NOTIFY_MODULE as c_int,
                event.as_ptr(),
                key.inner,
            )
        };
    }
}

/// Reports `ms` spent in `event` to the latency monitor, which keeps it (LATENCY LATEST,
/// LATENCY HISTORY) when it reaches `latency-monitor-threshold`.
pub fn latency_sample(event: &CStr, ms: u64) {
    if let Some(f) = unsafe { raw::RedisModule_LatencyAddSample } {
        // SAFETY: a NUL-terminated static event name; Redis copies it when it keeps the
        // sample.
        unsafe { f(event.as_ptr(), ms.min(i64::MAX as u64) as raw::mstime_t) };
    }
}

/// The module's options, set at load:
/// - `HANDLE_IO_ERRORS`: Redis reports I/O errors of RDB loads to the module instead of
///   aborting, so that a damaged payload (RESTORE, a file, a full sync) fails the load cleanly;
/// - `HANDLE_REPL_ASYNC_LOAD`: a replica with `repl-diskless-load swapdb` may load a full sync
///   from the socket into a temporary database while it serves the old one. The module keeps
///   no state per key outside the values but its indexes, which a load's end (or failure)
///   rebuilds from the keyspace (`events::on_loading`); without this option Redis 7.0 does not
///   load from the socket at all with `swapdb`.
/// - `NO_IMPLICIT_SIGNAL_MODIFIED`: Redis would mark every key the module opened for writing as
///   modified when it is closed (aborting a WATCH on it, invalidating client-side caches), also
///   when the command then answered an error or changed nothing (`exists`, a refused
///   QUOTA.INCR, an ALERT.ACK of nothing), as no core command does. The module marks a key
///   itself where it changes it: where it replicates the change (`changed`, called by every
///   replication helper), and where a keyspace event makes a tracker drop a key.
pub fn set_module_options(ctx: &Context) {
    if let Some(f) = unsafe { raw::RedisModule_SetModuleOptions } {
        let options = raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS
            | raw::REDISMODULE_OPTIONS_HANDLE_REPL_ASYNC_LOAD
            | raw::REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED;
        // SAFETY: called from the module's load with its own context.
        unsafe { f(ctx.get_raw(), options as c_int) };
    }
}

pub fn reply_array(ctx: &Context, len: usize) {
    raw::reply_with_array(ctx.get_raw(), len as _);
}

pub fn reply_bulk(ctx: &Context, bytes: &[u8]) {
    raw::reply_with_string_buffer(ctx.get_raw(), bytes.as_ptr().cast::<c_char>(), bytes.len());
}

pub fn reply_int(ctx: &Context, v: i64) {
    raw::reply_with_long_long(ctx.get_raw(), v);
}

pub fn reply_null(ctx: &Context) {
    raw::reply_with_null(ctx.get_raw());
}

/// The null array (`*-1` in RESP2, `_` in RESP3): what XREAD and BLPOP answer when they time
/// out. Where the API lacks it, the null bulk string.
pub fn reply_null_array(ctx: &Context) {
    match unsafe { raw::RedisModule_ReplyWithNullArray } {
        // SAFETY: a live context, in a callback that replies.
        Some(f) => unsafe {
            f(ctx.get_raw());
        },
        None => reply_null(ctx),
    }
}

/// Marks `key` as modified, as a core command's write does: a WATCH on it fails its EXEC, and
/// clients that cache it are told. Every replication helper calls it for the key it
/// replicates a change of (a change replicates whether or not anything listens).
pub fn changed(ctx: &Context, key: &RedisString) {
    changed_raw(ctx, key.inner);
}

fn changed_raw(ctx: &Context, key: *mut raw::RedisModuleString) {
    if let Some(f) = unsafe { raw::RedisModule_SignalModifiedKey } {
        // SAFETY: a live context and a live key string; Redis copies what it keeps.
        unsafe { f(ctx.get_raw(), key) };
    }
}

/// `changed` for a key given as bytes.
pub fn changed_bytes(ctx: &Context, key: &[u8]) {
    let (Some(signal), Some(free)) = (unsafe { raw::RedisModule_SignalModifiedKey }, unsafe {
        raw::RedisModule_FreeString
    }) else {
        return;
    };
    if let Some(s) = make_string(key) {
        // SAFETY: a live context and a string made here, freed after the call (Redis copies
        // what it keeps).
        unsafe {
            signal(ctx.get_raw(), s);
            free(std::ptr::null_mut(), s);
        }
    }
}

/// Replicates `command args...` (the key is the first argument), each argument a byte
/// string.
pub fn replicate(ctx: &Context, command: &CStr, args: &[&[u8]]) {
    replicate_args(ctx, command, args.iter().map(|a| Arg::Bytes(a)));
}

/// An argument to replicate: one of the client's own strings (Redis takes a reference: no
/// copy) or bytes, made into a string for the call.
#[derive(Clone, Copy)]
pub enum Arg<'a> {
    Sent(&'a RedisString),
    Bytes(&'a [u8]),
    /// A time in ms, as a string kept for its millisecond (`now_string`).
    Now(u64),
}

/// Replicates `command args...` (the key is the first argument) as one array ("v"), making
/// strings only of the `Bytes` arguments. The arguments are walked again (to count them, to
/// free what was made) rather than collected: no list of them is built.
pub fn replicate_args<'a, I>(ctx: &Context, command: &CStr, args: I)
where
    I: IntoIterator<Item = Arg<'a>>,
    I::IntoIter: Clone,
{
    let args = args.into_iter();
    // The key is marked modified here when nothing is replicated, else below with the string
    // made for the call (not a second one).
    let mark_alone = |ctx: &Context| match args.clone().next() {
        Some(Arg::Sent(key)) => changed(ctx, key),
        Some(Arg::Bytes(key)) => changed_bytes(ctx, key),
        _ => {}
    };
    let (Some(free), Some(rep)) = (unsafe { raw::RedisModule_FreeString }, unsafe {
        raw::RedisModule_Replicate
    }) else {
        mark_alone(ctx);
        return;
    };
    if !listeners::replicate_or_count(ctx) {
        mark_alone(ctx);
        return;
    }
    // Counted by a walk: a flattened iterator's size hint is only a lower bound. Up to 16
    // arguments the array is on the stack.
    let n = args.clone().count();
    let mut on_stack = [std::ptr::null_mut::<raw::RedisModuleString>(); 16];
    let mut on_heap: Vec<*mut raw::RedisModuleString> = Vec::new();
    let argv: &mut [*mut raw::RedisModuleString] = if n <= on_stack.len() {
        &mut on_stack[..n]
    } else {
        on_heap.resize(n, std::ptr::null_mut());
        &mut on_heap
    };
    // SAFETY: "v": an array of live strings and its length, of which Redis retains what it
    // keeps. The strings made here are freed after the call (the client's are not ours, and
    // the time's is kept for its millisecond).
    unsafe {
        for (slot, a) in argv.iter_mut().zip(args.clone()) {
            *slot = match a {
                Arg::Sent(s) => s.inner,
                Arg::Bytes(b) => make_string(b).unwrap_or(std::ptr::null_mut()),
                Arg::Now(ms) => now_string(ms),
            };
        }
        if let Some(&key) = argv.first().filter(|k| !k.is_null()) {
            changed_raw(ctx, key);
        }
        // Redis makes strings or stops the server (out of memory): a null is not expected,
        // and never replicated.
        if !argv.contains(&std::ptr::null_mut()) {
            rep(
                ctx.get_raw(),
                command.as_ptr(),
                c"v".as_ptr(),
                argv.as_mut_ptr(),
                argv.len(),
            );
        }
        for (a, &s) in args.zip(argv.iter()) {
            if let (Arg::Bytes(_), false) = (a, s.is_null()) {
                free(std::ptr::null_mut(), s);
            }
        }
    }
}

/// Deletes `keys` from the selected database with one `DEL` of them all, replicated as sent
/// (RM_Call `!`); DEL raises each key's `del` event. One DEL costs less than deleting through
/// the key API (RM_OpenKey, RM_DeleteKey, RM_CloseKey and RM_NotifyKeyspaceEvent per key:
/// +6k instructions for 10 keys in callgrind) and behaves as DEL does in every respect.
pub fn delete_keys<'a>(ctx: &Context, keys: impl ExactSizeIterator<Item = &'a [u8]>) {
    let (Some(call), Some(free_reply), Some(free)) = (
        unsafe { raw::RedisModule_Call },
        unsafe { raw::RedisModule_FreeCallReply },
        unsafe { raw::RedisModule_FreeString },
    ) else {
        return;
    };
    let mut names: Vec<*mut raw::RedisModuleString> = Vec::with_capacity(keys.len());
    names.extend(keys.filter_map(make_string));
    if names.is_empty() {
        return;
    }
    // SAFETY: "!v": replicate, then an array of live strings and its length, which the call
    // only reads (DEL's argv takes its own references); the reply and the strings are freed
    // after it.
    unsafe {
        let reply = call(
            ctx.get_raw(),
            c"DEL".as_ptr(),
            c"!v".as_ptr(),
            names.as_mut_ptr(),
            names.len(),
        );
        if !reply.is_null() {
            free_reply(reply);
        }
        for name in names {
            free(std::ptr::null_mut(), name);
        }
    }
}

/// Replicates `command key arg...` with the client's own key string (no copy) and up to three
/// more arguments, which RM_Replicate copies itself ("b": a buffer and its length): no string
/// made and freed here.
pub fn replicate_key_args(ctx: &Context, command: &CStr, key: &RedisString, args: &[&[u8]]) {
    if args.len() > 3 {
        // `replicate` marks the key modified.
        let mut all: Vec<&[u8]> = vec![key.as_slice()];
        all.extend_from_slice(args);
        return replicate(ctx, command, &all);
    }
    changed(ctx, key);
    let Some(rep) = (unsafe { raw::RedisModule_Replicate }) else {
        return;
    };
    if !listeners::replicate_or_count(ctx) {
        return;
    }
    let (c, cmd, k) = (ctx.get_raw(), command.as_ptr(), key.inner);
    let b = |i: usize| (args[i].as_ptr().cast::<c_char>(), args[i].len());
    // SAFETY: each format letter matches its argument: "s" a live RedisModuleString (Redis
    // takes a reference), "b" a pointer and a length of a live byte slice (Redis copies it).
    unsafe {
        match args.len() {
            0 => rep(c, cmd, c"s".as_ptr(), k),
            1 => rep(c, cmd, c"sb".as_ptr(), k, b(0).0, b(0).1),
            2 => rep(c, cmd, c"sbb".as_ptr(), k, b(0).0, b(0).1, b(1).0, b(1).1),
            3 => rep(
                c,
                cmd,
                c"sbbb".as_ptr(),
                k,
                b(0).0,
                b(0).1,
                b(1).0,
                b(1).1,
                b(2).0,
                b(2).1,
            ),
            // More than three: replicated above.
            _ => 0,
        };
    }
}

/// Replicates the command as the client sent it, a change of `key`.
pub fn replicate_verbatim(ctx: &Context, key: &RedisString) {
    changed(ctx, key);
    ctx.replicate_verbatim();
}

/// An ALERT.ADD document to replicate: the client's own argument (no copy) when the document
/// is stored as sent, else the bytes.
pub enum DocArg<'a> {
    Sent(&'a RedisString),
    Bytes(&'a [u8]),
}

/// Strings made once and kept (refcounted by Redis when replicated): the fixed words of a
/// replicated ALERT.ADD.
struct AddWords {
    id: *mut raw::RedisModuleString,
    ts: *mut raw::RedisModuleString,
    now_word: *mut raw::RedisModuleString,
}

thread_local! {
    // Replication runs on the main thread only.
    static ADD_WORDS: std::cell::OnceCell<Option<AddWords>> = const { std::cell::OnceCell::new() };
    /// The last time replicated and its text as a string, made again only when the clock
    /// moves (many commands replicate the same millisecond).
    static NOW_STRING: std::cell::Cell<(u64, *mut raw::RedisModuleString)> =
        const { std::cell::Cell::new((u64::MAX, std::ptr::null_mut())) };
}

/// `now` as a string, kept until the next time differs: made once per millisecond however
/// many commands replicate it. Never freed by the caller. Null only if Redis could make no
/// string.
fn now_string(now: u64) -> *mut raw::RedisModuleString {
    NOW_STRING.with(|cell| {
        let (last, s) = cell.get();
        if last == now && !s.is_null() {
            return s;
        }
        let Some(fresh) = make_string(crate::text::Text::num(now).as_bytes()) else {
            return std::ptr::null_mut();
        };
        if !s.is_null() {
            if let Some(free) = unsafe { raw::RedisModule_FreeString } {
                // SAFETY: made by make_string and held only here; Redis holds its own
                // references to what it replicated.
                unsafe { free(std::ptr::null_mut(), s) };
            }
        }
        cell.set((now, fresh));
        fresh
    })
}

fn make_string(bytes: &[u8]) -> Option<*mut raw::RedisModuleString> {
    let create = unsafe { raw::RedisModule_CreateString }?;
    // SAFETY: a string with no context is owned by the module until freed; the bytes are
    // copied.
    let s = unsafe {
        create(
            std::ptr::null_mut(),
            bytes.as_ptr().cast::<c_char>(),
            bytes.len(),
        )
    };
    (!s.is_null()).then_some(s)
}

fn add_words() -> Option<AddWords> {
    Some(AddWords {
        id: make_string(b"ID")?,
        ts: make_string(b"TS")?,
        now_word: make_string(b"NOW")?,
    })
}

/// Replicates `ALERT.ADD key doc [TS ts] [ID id] NOW now`: the key and (when stored as sent)
/// the document are the client's own argument objects, the fixed words are made once, and
/// NOW once per millisecond (RM_Replicate would otherwise copy the document and make five
/// objects per call).
pub fn replicate_add(
    ctx: &Context,
    key: &RedisString,
    doc: DocArg,
    ts: Option<u64>,
    id: Option<&[u8]>,
    now: u64,
) {
    changed(ctx, key);
    let Some(rep) = (unsafe { raw::RedisModule_Replicate }) else {
        return;
    };
    if !listeners::replicate_or_count(ctx) {
        return;
    }
    let (doc_s, doc_b) = match doc {
        DocArg::Sent(s) => (s.inner, None),
        DocArg::Bytes(b) => (make_string(b).unwrap_or(std::ptr::null_mut()), Some(())),
    };
    if doc_s.is_null() {
        return;
    }
    ADD_WORDS.with(|w| {
        let Some(w) = w.get_or_init(add_words) else {
            return;
        };
        let id_s = id.and_then(make_string);
        let ts_s = ts.and_then(|t| make_string(crate::text::Text::num(t).as_bytes()));
        let now_s = now_string(now);
        if now_s.is_null() {
            return;
        }
        let (c, cmd) = (ctx.get_raw(), c"ALERT.ADD".as_ptr());
        // SAFETY: the format string describes the arguments exactly ("s": a live
        // RedisModuleString, whose reference Redis takes); the strings made here are freed
        // below, after Replicate has taken its references.
        unsafe {
            match (ts_s, id_s) {
                (None, Some(i)) => rep(
                    c,
                    cmd,
                    c"ssssss".as_ptr(),
                    key.inner,
                    doc_s,
                    w.id,
                    i,
                    w.now_word,
                    now_s,
                ),
                (Some(t), Some(i)) => rep(
                    c,
                    cmd,
                    c"ssssssss".as_ptr(),
                    key.inner,
                    doc_s,
                    w.ts,
                    t,
                    w.id,
                    i,
                    w.now_word,
                    now_s,
                ),
                (Some(t), None) => rep(
                    c,
                    cmd,
                    c"ssssss".as_ptr(),
                    key.inner,
                    doc_s,
                    w.ts,
                    t,
                    w.now_word,
                    now_s,
                ),
                (None, None) => rep(
                    c,
                    cmd,
                    c"ssss".as_ptr(),
                    key.inner,
                    doc_s,
                    w.now_word,
                    now_s,
                ),
            };
            if let Some(free) = raw::RedisModule_FreeString {
                for s in [id_s, ts_s].into_iter().flatten() {
                    free(std::ptr::null_mut(), s);
                }
                if doc_b.is_some() {
                    free(std::ptr::null_mut(), doc_s);
                }
            }
        }
    });
}

/// What keyspace events call: `(ctx, event name, key)`.
pub type KeyEventHandler = fn(&Context, &[u8], &[u8]);

static KEY_EVENT_HANDLER: OnceLock<KeyEventHandler> = OnceLock::new();

/// Calls `handler(ctx, event, key)` for every keyspace event of the generic, expired and
/// evicted classes, the event name and the key as bytes. The crate's own subscription would
/// check the name as UTF-8 and measure it first: about 0.1k instructions per event, and every
/// key an LRU.EVICT deletes raises one. Fails when Redis refuses the subscription.
pub fn subscribe_key_events(ctx: &Context, handler: KeyEventHandler) -> bool {
    let _ = KEY_EVENT_HANDLER.set(handler);
    let Some(subscribe) = (unsafe { raw::RedisModule_SubscribeToKeyspaceEvents }) else {
        return false;
    };
    let types = raw::REDISMODULE_NOTIFY_GENERIC
        | raw::REDISMODULE_NOTIFY_EXPIRED
        | raw::REDISMODULE_NOTIFY_EVICTED;
    // SAFETY: called at load with the module's context; the callback is a plain function.
    let status = unsafe { subscribe(ctx.get_raw(), types as c_int, Some(on_key_event)) };
    status == raw::REDISMODULE_OK as c_int
}

unsafe extern "C" fn on_key_event(
    ctx: *mut raw::RedisModuleCtx,
    _type: c_int,
    event: *const c_char,
    key: *mut raw::RedisModuleString,
) -> c_int {
    let Some(handler) = KEY_EVENT_HANDLER.get() else {
        return raw::REDISMODULE_OK as c_int;
    };
    if ctx.is_null() || event.is_null() || key.is_null() {
        return raw::REDISMODULE_OK as c_int;
    }
    // SAFETY: Redis passes a NUL-terminated event name and a live key string, both valid for
    // the duration of the callback.
    let (event, key) = unsafe { (CStr::from_ptr(event).to_bytes(), bytes_of(key)) };
    handler(&Context::new(ctx), event, key);
    raw::REDISMODULE_OK as c_int
}

static SWAPDB_HANDLER: OnceLock<fn(i32, i32)> = OnceLock::new();

/// Calls `handler(a, b)` after every SWAPDB a b (the crate has no wrapper for this event).
pub fn subscribe_swapdb(ctx: &Context, handler: fn(i32, i32)) {
    let _ = SWAPDB_HANDLER.set(handler);
    subscribe_server_event(ctx, raw::REDISMODULE_EVENT_SWAPDB, on_swapdb);
}

/// A server event's callback, as Redis calls it.
pub type ServerEventCallback =
    unsafe extern "C" fn(*mut raw::RedisModuleCtx, raw::RedisModuleEvent, u64, *mut c_void);

/// Subscribes `callback` to the server event `id` (one callback per event and module: not for
/// the events the crate's macros subscribe to).
pub fn subscribe_server_event(ctx: &Context, id: u64, callback: ServerEventCallback) {
    let Some(subscribe) = (unsafe { raw::RedisModule_SubscribeToServerEvent }) else {
        return;
    };
    let event = raw::RedisModuleEvent { id, dataver: 1 };
    // SAFETY: called at load with the module's context; the callback is a plain function.
    unsafe { subscribe(ctx.get_raw(), event, Some(callback)) };
}

unsafe extern "C" fn on_swapdb(
    _ctx: *mut raw::RedisModuleCtx,
    _event: raw::RedisModuleEvent,
    _sub: u64,
    data: *mut c_void,
) {
    if data.is_null() {
        return;
    }
    // SAFETY: for REDISMODULE_EVENT_SWAPDB, Redis passes a RedisModuleSwapDbInfo, live for the
    // duration of the callback.
    let info = unsafe { &*data.cast::<raw::RedisModuleSwapDbInfo>() };
    let (a, b) = (info.dbnum_first, info.dbnum_second);
    if let Some(handler) = SWAPDB_HANDLER.get() {
        crate::guard::catch("SWAPDB event", (), || handler(a, b));
    }
}
