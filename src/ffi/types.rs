//! The data type callbacks Redis calls (RDB load and save, AOF rewrite, free, copy, MEMORY
//! USAGE, DEBUG DIGEST), written once for any type that implements `Persisted`. Each catches panics
//! (unwinding into C would abort the server) and hands over to safe code. This file knows no
//! data type: each type's `RedisType` static sits beside its persistence (`alert/rdb.rs`, ...).

use super::rdb::RdbIo;
use crate::guard::catch;
use redis_module::native_types::RedisType;
use redis_module::raw::{self, RedisModuleDigest, RedisModuleIO, RedisModuleString};
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::null_mut;
use vigil_core::codec::DecodeError;

/// Where an AOF rewrite sends each command: its name and the arguments after the key.
pub type Emit<'a> = dyn FnMut(&CStr, &[&[u8]]) + 'a;

/// What a module data type provides for Redis to persist, copy, measure and free it.
pub trait Persisted: Clone + Sized {
    /// For log lines: `vigil-alr alert stream`, ...
    const NAME: &'static str;
    fn redis_type() -> &'static RedisType;
    fn save(&self, io: &mut RdbIo);
    fn load(io: &mut RdbIo, encver: i32) -> Result<Self, DecodeError>;
    /// Writes the value's state for DEBUG DIGEST: its encoding, less what is a statistic
    /// rather than state (a replica's statistics may differ from its primary's).
    fn digest(&self, out: &mut RdbIo) {
        self.save(out)
    }
    /// Emits the commands that rebuild the value: `emit(command, args after the key)`.
    fn rewrite(&self, emit: &mut Emit);
    fn memory_usage(&self) -> usize;
    /// The value a COPY makes (by default a clone).
    fn copied(&self) -> Self {
        self.clone()
    }
    /// How much work freeing takes (Redis frees large values in the background).
    fn free_effort(&self) -> usize {
        1
    }
    /// Counts the value in (+1) or out (-1) of the INFO gauges.
    fn track(&self, sign: i64);
}

pub const fn methods<T: Persisted>() -> raw::RedisModuleTypeMethods {
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(rdb_load::<T>),
        rdb_save: Some(rdb_save::<T>),
        aof_rewrite: Some(aof_rewrite::<T>),
        mem_usage: Some(mem_usage::<T>),
        digest: Some(digest::<T>),
        free: Some(free::<T>),
        aux_load: None,
        aux_save: None,
        aux_save2: None,
        aux_save_triggers: 0,
        free_effort: Some(free_effort::<T>),
        unlink: None,
        copy: Some(copy::<T>),
        defrag: None,
        copy2: None,
        free_effort2: None,
        mem_usage2: None,
        unlink2: None,
    }
}

unsafe extern "C" fn rdb_load<T: Persisted>(rdb: *mut RedisModuleIO, encver: c_int) -> *mut c_void {
    // SAFETY: `rdb` is the I/O Redis passes for this load, used only during it.
    let mut io = unsafe { RdbIo::new(rdb) };
    catch("RDB load", null_mut(), || match T::load(&mut io, encver) {
        Ok(v) => {
            v.track(1);
            Box::into_raw(Box::new(v)).cast()
        }
        Err(e) => {
            redis_module::logging::log_warning(format!(
                "vigil: cannot load a {} (refused, nothing loaded): {e}",
                T::NAME
            ));
            null_mut()
        }
    })
}

unsafe extern "C" fn rdb_save<T: Persisted>(rdb: *mut RedisModuleIO, value: *mut c_void) {
    // SAFETY: `value` is a `T` this module boxed (rdb_load, copy or a command), live while
    // Redis saves it; `rdb` is the I/O of this save.
    let (v, mut io) = unsafe { (&*value.cast::<T>(), RdbIo::new(rdb)) };
    catch("RDB save", (), || v.save(&mut io));
}

/// DEBUG DIGEST / DIGEST-VALUE: the value's state as one ordered sequence, so that equal
/// values digest equal (a replica and its primary, a value before and after a reload) and
/// different ones differ.
unsafe extern "C" fn digest<T: Persisted>(md: *mut RedisModuleDigest, value: *mut c_void) {
    // SAFETY: `value` is a `T` this module boxed, live during the callback; `md` is the
    // digest of this call.
    let (v, mut out) = unsafe { (&*value.cast::<T>(), RdbIo::digest(md)) };
    catch("DEBUG DIGEST", (), || {
        v.digest(&mut out);
        out.end_sequence();
    });
}

unsafe extern "C" fn aof_rewrite<T: Persisted>(
    aof: *mut RedisModuleIO,
    key: *mut RedisModuleString,
    value: *mut c_void,
) {
    // SAFETY: as in rdb_save; `key` is the value's key, live during the callback.
    let v = unsafe { &*value.cast::<T>() };
    catch("AOF rewrite", (), || {
        v.rewrite(&mut |command, args| emit_aof(aof, key, command, args));
    });
}

/// Writes `command key args...` to the AOF being rewritten.
fn emit_aof(aof: *mut RedisModuleIO, key: *mut RedisModuleString, command: &CStr, args: &[&[u8]]) {
    let (Some(create), Some(copy), Some(free), Some(emit)) = (
        unsafe { raw::RedisModule_CreateString },
        unsafe { raw::RedisModule_CreateStringFromString },
        unsafe { raw::RedisModule_FreeString },
        unsafe { raw::RedisModule_EmitAOF },
    ) else {
        return;
    };
    // SAFETY: the strings are created here and freed after EmitAOF, which retains what it
    // keeps. Redis 7.0 hands the rewrite a key on the stack, which EmitAOF would retain: a heap
    // copy is passed instead.
    unsafe {
        let mut all: Vec<*mut RedisModuleString> = Vec::new();
        all.push(copy(null_mut(), key));
        for a in args {
            all.push(create(null_mut(), a.as_ptr().cast::<c_char>(), a.len()));
        }
        emit(
            aof,
            command.as_ptr(),
            c"v".as_ptr(),
            all.as_mut_ptr(),
            all.len(),
        );
        for s in &all {
            free(null_mut(), *s);
        }
    }
}

unsafe extern "C" fn free<T: Persisted>(value: *mut c_void) {
    // SAFETY: `value` is a `T` this module boxed; Redis frees each value once.
    let v = unsafe { Box::from_raw(value.cast::<T>()) };
    catch("free", (), || v.track(-1));
    drop(v);
}

/// What Redis allocates for every module key besides the value, which MEMORY USAGE does not
/// count on its own: the robj and the moduleValue (16 bytes each).
const MODULE_VALUE_OVERHEAD: usize = 32;

unsafe extern "C" fn mem_usage<T: Persisted>(value: *const c_void) -> usize {
    // SAFETY: `value` is a live `T` this module boxed.
    let v = unsafe { &*value.cast::<T>() };
    catch("MEMORY USAGE", 0, || {
        v.memory_usage() + MODULE_VALUE_OVERHEAD
    })
}

unsafe extern "C" fn free_effort<T: Persisted>(
    _key: *mut RedisModuleString,
    value: *const c_void,
) -> usize {
    // SAFETY: `value` is a live `T` this module boxed.
    let v = unsafe { &*value.cast::<T>() };
    catch("free effort", 1, || v.free_effort())
}

unsafe extern "C" fn copy<T: Persisted>(
    _from: *mut RedisModuleString,
    _to: *mut RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    // SAFETY: `value` is a live `T` this module boxed.
    let v = unsafe { &*value.cast::<T>() };
    catch("COPY", null_mut(), || {
        let copy = v.copied();
        copy.track(1);
        Box::into_raw(Box::new(copy)).cast()
    })
}

/// Whether a key's module type (from a scan or `ModuleTypeGetType`) is `T`'s.
pub fn is<T: Persisted>(module_type: *mut raw::RedisModuleType) -> bool {
    !module_type.is_null() && module_type == *T::redis_type().raw_type.borrow()
}
