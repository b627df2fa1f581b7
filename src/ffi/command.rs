//! Registers commands: `RedisModule_CreateCommand`, then `RedisModule_SetCommandInfo` with
//! summary, complexity, since, arity, the exact key specs and the argument tree (what
//! `COMMAND INFO`, `COMMAND DOCS`, `COMMAND GETKEYS`, ACL key patterns and redis-cli's hints
//! read). Both exist in Redis 7.0.

use crate::dispatch::{Begin, Command};
use crate::syntax::{ArgKind, ArgNode};
use redis_module::raw;
use redis_module::Context;
use std::ffi::CString;
use std::os::raw::c_int;
use std::ptr::{null, null_mut};

pub type Callback =
    extern "C" fn(*mut raw::RedisModuleCtx, *mut *mut raw::RedisModuleString, c_int) -> c_int;

fn cstring(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("'{s}' contains a NUL byte"))
}

/// Creates `cmd` with `callback`; the legacy first/last/step range names the first key.
pub fn create(ctx: &Context, cmd: &Command, callback: Callback) -> Result<(), String> {
    let create = unsafe { raw::RedisModule_CreateCommand }.ok_or("no CreateCommand")?;
    let (name, flags) = (cstring(cmd.name)?, cstring(cmd.flags)?);
    // SAFETY: called at load with the module's context; Redis copies the name and flags.
    let status = unsafe {
        create(
            ctx.get_raw(),
            name.as_ptr(),
            Some(callback),
            flags.as_ptr(),
            1,
            1,
            1,
        )
    };
    if status != raw::REDISMODULE_OK as c_int {
        return Err(format!("could not create command {}", cmd.name));
    }
    Ok(())
}

/// C strings and argument arrays kept alive until SetCommandInfo has copied them.
#[derive(Default)]
struct Arena {
    strings: Vec<CString>,
    arrays: Vec<Box<[raw::RedisModuleCommandArg]>>,
}

impl Arena {
    fn str(&mut self, s: &str) -> Result<*const std::os::raw::c_char, String> {
        let c = cstring(s)?;
        let p = c.as_ptr();
        self.strings.push(c);
        Ok(p)
    }

    /// A zero-terminated array of arguments; its address stays put while the arena lives.
    fn args(&mut self, nodes: &[ArgNode]) -> Result<*mut raw::RedisModuleCommandArg, String> {
        let mut out = Vec::with_capacity(nodes.len() + 1);
        for n in nodes {
            // SAFETY: RedisModuleCommandArg is a C struct of pointers and integers, for which
            // all zeroes is the "not set" value.
            let mut a: raw::RedisModuleCommandArg = unsafe { std::mem::zeroed() };
            a.name = self.str(&n.name)?;
            a.type_ = match n.kind {
                ArgKind::String => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                ArgKind::Integer => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                ArgKind::Key => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
                ArgKind::PureToken => {
                    raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN
                }
                ArgKind::OneOf => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF,
                ArgKind::Block => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
            };
            a.key_spec_index = n.key_spec.map_or(-1, |i| i as c_int);
            if let Some(t) = &n.token {
                a.token = self.str(t)?;
            }
            let mut flags = 0;
            if n.optional {
                flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
            }
            if n.multiple {
                flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
            }
            if n.multiple_token {
                flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE_TOKEN;
            }
            a.flags = flags as c_int;
            if !n.children.is_empty() {
                a.subargs = self.args(&n.children)?;
            }
            out.push(a);
        }
        // SAFETY: as above; the zeroed entry ends the array.
        out.push(unsafe { std::mem::zeroed() });
        let mut boxed = out.into_boxed_slice();
        let p = boxed.as_mut_ptr();
        self.arrays.push(boxed);
        Ok(p)
    }
}

/// Sets the command's docs, key specs and argument tree.
pub fn set_info(ctx: &Context, cmd: &Command, args: &[ArgNode]) -> Result<(), String> {
    let (Some(get_command), Some(set_info)) = (unsafe { raw::RedisModule_GetCommand }, unsafe {
        raw::RedisModule_SetCommandInfo
    }) else {
        // Older than 7.0: first/last/step still apply.
        return Ok(());
    };
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let mut arena = Arena::default();
    let name = cstring(cmd.name)?;
    let (summary, complexity, since) = (
        arena.str(cmd.summary)?,
        arena.str(cmd.complexity)?,
        arena.str(cmd.since)?,
    );
    // SAFETY: a C struct for which zeroes mean "not set"; the zeroed last entry ends the list.
    let mut specs: Vec<raw::RedisModuleCommandKeySpec> =
        vec![unsafe { std::mem::zeroed() }; cmd.keys.len() + 1];
    for (spec, key) in specs.iter_mut().zip(cmd.keys) {
        spec.flags = u64::from(key.flags);
        match key.begin {
            Begin::Index(pos) => {
                spec.begin_search_type =
                    raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
                spec.bs.index.pos = pos;
            }
            Begin::Keyword { keyword, from } => {
                spec.begin_search_type =
                    raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_KEYWORD;
                spec.bs.keyword = raw::RedisModuleCommandKeySpec__bindgen_ty_1__bindgen_ty_2 {
                    keyword: keyword.as_ptr(),
                    startfrom: from,
                };
            }
        }
        spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
        spec.fk.range = raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
            lastkey: 0,
            keystep: 1,
            limit: 0,
        };
    }
    let args = if args.is_empty() {
        null_mut()
    } else {
        arena.args(args)?
    };
    let info = raw::RedisModuleCommandInfo {
        version: &version,
        summary,
        complexity,
        since,
        history: null_mut(),
        tips: null(),
        arity: cmd.arity as c_int,
        key_specs: specs.as_mut_ptr(),
        args,
    };
    // SAFETY: every pointer in `info` points into `arena`, `specs` or statics, all alive until
    // after the call; Redis copies what it keeps.
    let command = unsafe { get_command(ctx.get_raw(), name.as_ptr()) };
    if command.is_null() || unsafe { set_info(command, &info) } != raw::REDISMODULE_OK as c_int {
        return Err(format!("could not set the command info of {}", cmd.name));
    }
    Ok(())
}

/// The module's own ACL category, `@vigil`, where the server can add one (Redis 7.4 and
/// later); whether it was added.
pub fn add_category(ctx: &Context) -> bool {
    let Some(add) = (unsafe { raw::RedisModule_AddACLCategory }) else {
        return false;
    };
    // SAFETY: called at load with the module's context; Redis copies the name.
    unsafe { add(ctx.get_raw(), c"vigil".as_ptr()) == raw::REDISMODULE_OK as c_int }
}

/// The ACL categories of a command with these flags, as core commands get theirs: `read` or
/// `write`, `fast` or `slow`, `blocking`, and `vigil` when the module added it.
fn categories(flags: &str, vigil: bool) -> String {
    let has = |f: &str| flags.split(' ').any(|x| x == f);
    let mut out = Vec::with_capacity(4);
    if has("readonly") {
        out.push("read");
    }
    if has("write") {
        out.push("write");
    }
    out.push(if has("fast") { "fast" } else { "slow" });
    if has("blocking") {
        out.push("blocking");
    }
    if vigil {
        out.push("vigil");
    }
    out.join(" ")
}

/// Puts the command in its ACL categories ([`categories`]), where the server lets a module
/// set them (Redis 7.2 and later, Valkey); Redis 7.0 keeps module commands out of every
/// category but `@all`, and this does nothing there.
pub fn set_categories(ctx: &Context, cmd: &Command, vigil: bool) -> Result<(), String> {
    let (Some(get_command), Some(set)) = (unsafe { raw::RedisModule_GetCommand }, unsafe {
        raw::RedisModule_SetCommandACLCategories
    }) else {
        return Ok(());
    };
    let (name, list) = (cstring(cmd.name)?, cstring(&categories(cmd.flags, vigil))?);
    // SAFETY: called at load, after the command was created; Redis reads both strings.
    let status = unsafe {
        let command = get_command(ctx.get_raw(), name.as_ptr());
        if command.is_null() {
            return Err(format!("no command {}", cmd.name));
        }
        set(command, list.as_ptr())
    };
    if status != raw::REDISMODULE_OK as c_int {
        return Err(format!("could not set the ACL categories of {}", cmd.name));
    }
    Ok(())
}
