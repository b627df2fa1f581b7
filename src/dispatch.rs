//! What a command is (name, flags, arity, key specs, syntax, counters) and the wrapper every
//! call runs through: count the call, run the handler behind a panic guard, count an error,
//! reply. The table of commands is `commands.rs`.

use crate::error::CmdResult;
use crate::guard::catch;
use redis_module::{raw, Context, RedisError, RedisResult, RedisString};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub type Handler = fn(&Context, &[RedisString]) -> CmdResult;

/// Where a key spec begins its search.
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// The key is at this argv index.
    Index(i32),
    /// The key follows the first `keyword` at or after argv index `from`.
    Keyword {
        keyword: &'static std::ffi::CStr,
        from: i32,
    },
}

/// One key a command declares: the argument name in its syntax, access flags, position.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub arg: &'static str,
    /// REDISMODULE_CMD_KEY_* flags.
    pub flags: u32,
    pub begin: Begin,
}

pub const RO: u32 = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;
/// Reads and changes existing data (the reply shows what was there).
pub const RW_ACCESS: u32 =
    raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_ACCESS | raw::REDISMODULE_CMD_KEY_UPDATE;
/// Reads and removes (the reply shows what was removed).
pub const RW_ACCESS_DELETE: u32 =
    raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_ACCESS | raw::REDISMODULE_CMD_KEY_DELETE;
pub const RW_INSERT: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_INSERT;
pub const RW_UPDATE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE;
pub const RW_DELETE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_DELETE;

pub const fn first_key(flags: u32) -> KeySpec {
    KeySpec {
        arg: "key",
        flags,
        begin: Begin::Index(1),
    }
}

pub struct Command {
    pub name: &'static str,
    pub handler: Handler,
    pub flags: &'static str,
    /// Redis arity: N exactly, -N at least N (the name counts).
    pub arity: i32,
    pub keys: &'static [KeySpec],
    /// The syntax line, as docs/commands.md shows it.
    pub syntax: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub since: &'static str,
    pub calls: AtomicU64,
    pub errors: AtomicU64,
}

impl Command {
    pub fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Relaxed)
    }

    /// The `(argument name, key spec index)` pairs of its declared keys.
    pub fn key_args(&self) -> Vec<(&'static str, usize)> {
        self.keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.arg, i))
            .collect()
    }
}

/// Where `spec`'s key is in `args` (the command name at 0), read as Redis reads a key spec: an
/// index, or the argument after the first `keyword` (any case) at or after `from`.
pub fn key_position(spec: &KeySpec, args: &[RedisString]) -> Option<usize> {
    let pos = match spec.begin {
        Begin::Index(i) => usize::try_from(i).ok()?,
        Begin::Keyword { keyword, from } => {
            let from = usize::try_from(from).ok()?;
            let at = args
                .iter()
                .skip(from)
                .position(|a| a.as_slice().eq_ignore_ascii_case(keyword.to_bytes()))?;
            from + at + 1
        }
    };
    (pos < args.len()).then_some(pos)
}

/// Runs one call of `cmd`: what Redis's callback for the command does.
pub fn run(cmd: &Command, ctx: &Context, args: &[RedisString]) -> c_int {
    if ctx.is_keys_position_request() {
        // A `getkeys-api` command asked where its keys are (Redis 7.0 routes cluster commands
        // this way): the key specs say, so the handlers never see these requests.
        for spec in cmd.keys {
            if let Some(pos) = key_position(spec, args) {
                ctx.key_at_pos(pos as i32);
            }
        }
        return raw::REDISMODULE_OK as c_int;
    }
    cmd.calls.fetch_add(1, Relaxed);
    let result: RedisResult = catch(
        cmd.name,
        Err(RedisError::Str(
            "ERR internal error in vigil (logged); the command may not have been applied",
        )),
        || (cmd.handler)(ctx, args).map_err(RedisError::from),
    );
    if result.is_err() {
        cmd.errors.fetch_add(1, Relaxed);
    }
    ctx.reply(result) as c_int
}
