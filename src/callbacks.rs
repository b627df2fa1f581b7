//! Every `unsafe extern "C"` function Redis calls, in one place: the data type methods,
//! written once for any type that implements `Persisted`. Each catches panics (unwinding into C
//! would abort the server) and hands over to safe code.

use crate::alert::{rdb::ENC_LATEST as ALERT_ENC, stream::Stream};
use crate::guard::catch;
use crate::lru::{rdb::ENC_LATEST as LRU_ENC, tracker::Tracker};
use crate::quota::{meter::Quota, rdb::ENC_LATEST as QUOTA_ENC};
use redis_module::native_types::RedisType;
use redis_module::raw::{self, RedisModuleIO, RedisModuleString};
use redis_module::Context;
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::null_mut;

/// What a module data type provides for Redis to persist, copy, measure and free it.
pub trait Persisted: Clone {
    /// For log lines: `vigil-alr`, ...
    const NAME: &'static str;
    fn save(&self, rdb: *mut RedisModuleIO);
    fn load(rdb: *mut RedisModuleIO, encver: i32) -> Result<Self, String>;
    /// Emits the commands that rebuild the value: `emit(command, args after the key)`.
    fn rewrite(&self, emit: &mut dyn FnMut(&str, &[&[u8]]));
    fn memory_usage(&self) -> usize;
    /// How much work freeing takes (Redis frees large values in the background).
    fn free_effort(&self) -> usize {
        1
    }
    /// Counts the value in (+1) or out (-1) of the INFO gauges.
    fn track(&self, sign: i64);
}

const fn methods<T: Persisted>() -> raw::RedisModuleTypeMethods {
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(rdb_load::<T>),
        rdb_save: Some(rdb_save::<T>),
        aof_rewrite: Some(aof_rewrite::<T>),
        mem_usage: Some(mem_usage::<T>),
        digest: None,
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

pub static ALERT_TYPE: RedisType = RedisType::new("vigil-alr", ALERT_ENC, methods::<Stream>());
pub static QUOTA_TYPE: RedisType = RedisType::new("vigil-quo", QUOTA_ENC, methods::<Quota>());
pub static LRU_TYPE: RedisType = RedisType::new("vigil-lru", LRU_ENC, methods::<Tracker>());

/// Subscribes to SWAPDB (the crate has no wrapper for it): trackers move with their database.
pub fn subscribe_swapdb(ctx: &Context) {
    let Some(subscribe) = (unsafe { raw::RedisModule_SubscribeToServerEvent }) else {
        return;
    };
    let event = raw::RedisModuleEvent {
        id: raw::REDISMODULE_EVENT_SWAPDB,
        dataver: 1,
    };
    unsafe { subscribe(ctx.get_raw(), event, Some(on_swapdb)) };
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
    let info = &*data.cast::<raw::RedisModuleSwapDbInfo>();
    let (a, b) = (info.dbnum_first, info.dbnum_second);
    catch("SWAPDB event", (), || crate::events::swapped(a, b));
}

unsafe extern "C" fn rdb_load<T: Persisted>(rdb: *mut RedisModuleIO, encver: c_int) -> *mut c_void {
    catch("RDB load", null_mut(), || match T::load(rdb, encver) {
        Ok(v) => {
            v.track(1);
            Box::into_raw(Box::new(v)).cast()
        }
        Err(e) => {
            redis_module::logging::log_warning(format!("vigil: cannot load a {}: {e}", T::NAME));
            null_mut()
        }
    })
}

unsafe extern "C" fn rdb_save<T: Persisted>(rdb: *mut RedisModuleIO, value: *mut c_void) {
    let v = &*value.cast::<T>();
    catch("RDB save", (), || v.save(rdb));
}

unsafe extern "C" fn aof_rewrite<T: Persisted>(
    aof: *mut RedisModuleIO,
    key: *mut RedisModuleString,
    value: *mut c_void,
) {
    let v = &*value.cast::<T>();
    catch("AOF rewrite", (), || {
        v.rewrite(&mut |cmd, args| emit_aof(aof, key, cmd, args));
    });
}

/// Writes `cmd key args...` to the AOF being rewritten.
fn emit_aof(aof: *mut RedisModuleIO, key: *mut RedisModuleString, cmd: &str, args: &[&[u8]]) {
    let (Some(create), Some(copy), Some(free), Some(emit)) = (
        unsafe { raw::RedisModule_CreateString },
        unsafe { raw::RedisModule_CreateStringFromString },
        unsafe { raw::RedisModule_FreeString },
        unsafe { raw::RedisModule_EmitAOF },
    ) else {
        return;
    };
    let Ok(cmd) = std::ffi::CString::new(cmd) else {
        return;
    };
    let mut argv: Vec<*mut RedisModuleString> = Vec::with_capacity(args.len() + 1);
    // Redis 7.0 hands the rewrite a key on the stack, and EmitAOF retains its arguments:
    // pass a heap copy.
    argv.push(unsafe { copy(null_mut(), key) });
    for a in args {
        argv.push(unsafe { create(null_mut(), a.as_ptr().cast::<c_char>(), a.len()) });
    }
    unsafe {
        emit(
            aof,
            cmd.as_ptr(),
            c"v".as_ptr(),
            argv.as_mut_ptr(),
            argv.len(),
        );
        for s in &argv {
            free(null_mut(), *s);
        }
    }
}

unsafe extern "C" fn free<T: Persisted>(value: *mut c_void) {
    let v = Box::from_raw(value.cast::<T>());
    catch("free", (), || v.track(-1));
    drop(v);
}

/// What Redis allocates for every module key besides the value, which MEMORY USAGE does not
/// count on its own: the robj and the moduleValue (16 bytes each).
const MODULE_VALUE_OVERHEAD: usize = 32;

unsafe extern "C" fn mem_usage<T: Persisted>(value: *const c_void) -> usize {
    let v = &*value.cast::<T>();
    catch("MEMORY USAGE", 0, || {
        v.memory_usage() + MODULE_VALUE_OVERHEAD
    })
}

unsafe extern "C" fn free_effort<T: Persisted>(
    _key: *mut RedisModuleString,
    value: *const c_void,
) -> usize {
    (*value.cast::<T>()).free_effort()
}

unsafe extern "C" fn copy<T: Persisted>(
    _from: *mut RedisModuleString,
    _to: *mut RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    let v = &*value.cast::<T>();
    catch("COPY", null_mut(), || {
        let copy = v.clone();
        copy.track(1);
        Box::into_raw(Box::new(copy)).cast()
    })
}

/// A keyspace scan cursor. The crate's `KeysCursor` retains every key name it visits and never
/// releases it (a leak of every scanned key, every sweep tick); this one only borrows names.
pub struct Scanner {
    cursor: *mut raw::RedisModuleScanCursor,
}

impl Scanner {
    pub fn new() -> Option<Scanner> {
        let create = unsafe { raw::RedisModule_ScanCursorCreate }?;
        Some(Scanner {
            cursor: unsafe { create() },
        })
    }

    pub fn restart(&self) {
        if let Some(f) = unsafe { raw::RedisModule_ScanCursorRestart } {
            unsafe { f(self.cursor) };
        }
    }

    /// One step over the selected database: `visit(name, type)` for each key, where `type` is
    /// the key's module type (null when it is not a module key, or was not opened). Returns
    /// false when the scan is complete.
    pub fn step(
        &self,
        ctx: &Context,
        visit: &mut dyn FnMut(&[u8], *mut raw::RedisModuleType),
    ) -> bool {
        let Some(scan) = (unsafe { raw::RedisModule_Scan }) else {
            return false;
        };
        let mut visit = visit;
        let data =
            (&mut visit as *mut &mut dyn FnMut(&[u8], *mut raw::RedisModuleType)).cast::<c_void>();
        unsafe { scan(ctx.get_raw(), self.cursor, Some(scan_visit), data) != 0 }
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        if let Some(f) = unsafe { raw::RedisModule_ScanCursorDestroy } {
            unsafe { f(self.cursor) };
        }
    }
}

unsafe extern "C" fn scan_visit(
    _ctx: *mut raw::RedisModuleCtx,
    name: *mut RedisModuleString,
    key: *mut raw::RedisModuleKey,
    data: *mut c_void,
) {
    let visit = &mut *data.cast::<&mut dyn FnMut(&[u8], *mut raw::RedisModuleType)>();
    let bytes = redis_module::RedisString::string_as_slice(name);
    let module_type = match (key.is_null(), raw::RedisModule_ModuleTypeGetType) {
        (false, Some(get)) => get(key),
        _ => null_mut(),
    };
    catch("keyspace scan", (), || visit(bytes, module_type));
}

/// Whether a scanned key's module type is `t`.
pub fn is_type(module_type: *mut raw::RedisModuleType, t: &RedisType) -> bool {
    !module_type.is_null() && module_type == *t.raw_type.borrow()
}
