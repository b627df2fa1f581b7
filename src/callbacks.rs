//! Every `unsafe extern "C"` function Redis calls, in one place: the data type methods. Each
//! catches panics (unwinding into C would abort the server) and hands over to safe code.

use crate::alert::{rdb as alert_rdb, stream::Stream};
use crate::guard::catch;
use crate::stats::{self, ALERTS_HELD, ALERT_KEYS};
use redis_module::native_types::RedisType;
use redis_module::raw::{self, RedisModuleIO, RedisModuleString};
use std::os::raw::{c_char, c_int, c_void};
use std::ptr::null_mut;

pub static ALERT_TYPE: RedisType = RedisType::new(
    "vigil-alr",
    alert_rdb::ENC_LATEST,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(alert_rdb_load),
        rdb_save: Some(alert_rdb_save),
        aof_rewrite: Some(alert_aof_rewrite),
        mem_usage: Some(alert_mem_usage),
        digest: None,
        free: Some(alert_free),
        aux_load: None,
        aux_save: None,
        aux_save2: None,
        aux_save_triggers: 0,
        free_effort: Some(alert_free_effort),
        unlink: None,
        copy: Some(alert_copy),
        defrag: None,
        copy2: None,
        free_effort2: None,
        mem_usage2: None,
        unlink2: None,
    },
);

/// Stream counters follow every value that appears (create, load, copy) or goes (free).
fn track(s: &Stream, sign: i64) {
    stats::adjust(&ALERT_KEYS, sign);
    stats::adjust(&ALERTS_HELD, sign * s.len() as i64);
}

unsafe extern "C" fn alert_rdb_load(rdb: *mut RedisModuleIO, encver: c_int) -> *mut c_void {
    catch("vigil-alr RDB load", null_mut(), || {
        match alert_rdb::load(rdb, encver) {
            Ok(s) => {
                track(&s, 1);
                Box::into_raw(Box::new(s)).cast()
            }
            Err(e) => {
                redis_module::logging::log_warning(format!(
                    "vigil: cannot load an alert stream: {e}"
                ));
                null_mut()
            }
        }
    })
}

unsafe extern "C" fn alert_rdb_save(rdb: *mut RedisModuleIO, value: *mut c_void) {
    let s = &*value.cast::<Stream>();
    catch("vigil-alr RDB save", (), || alert_rdb::save(rdb, s));
}

unsafe extern "C" fn alert_aof_rewrite(
    aof: *mut RedisModuleIO,
    key: *mut RedisModuleString,
    value: *mut c_void,
) {
    let s = &*value.cast::<Stream>();
    catch("vigil-alr AOF rewrite", (), || {
        alert_rdb::rewrite(s, |cmd, args| emit_aof(aof, key, cmd, args));
    });
}

/// Writes `cmd key args...` to the AOF being rewritten.
fn emit_aof(aof: *mut RedisModuleIO, key: *mut RedisModuleString, cmd: &str, args: &[&[u8]]) {
    let (Some(create), Some(free), Some(emit)) = (
        unsafe { raw::RedisModule_CreateString },
        unsafe { raw::RedisModule_FreeString },
        unsafe { raw::RedisModule_EmitAOF },
    ) else {
        return;
    };
    let Ok(cmd) = std::ffi::CString::new(cmd) else {
        return;
    };
    let mut argv: Vec<*mut RedisModuleString> = Vec::with_capacity(args.len() + 1);
    argv.push(key);
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
        for s in &argv[1..] {
            free(null_mut(), *s);
        }
    }
}

unsafe extern "C" fn alert_free(value: *mut c_void) {
    let s = Box::from_raw(value.cast::<Stream>());
    catch("vigil-alr free", (), || track(&s, -1));
    drop(s);
}

unsafe extern "C" fn alert_mem_usage(value: *const c_void) -> usize {
    let s = &*value.cast::<Stream>();
    catch("vigil-alr MEMORY USAGE", 0, || s.memory_usage())
}

unsafe extern "C" fn alert_free_effort(
    _key: *mut RedisModuleString,
    value: *const c_void,
) -> usize {
    (*value.cast::<Stream>()).len()
}

unsafe extern "C" fn alert_copy(
    _from: *mut RedisModuleString,
    _to: *mut RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    let s = &*value.cast::<Stream>();
    catch("vigil-alr COPY", null_mut(), || {
        let copy = s.clone();
        track(&copy, 1);
        Box::into_raw(Box::new(copy)).cast()
    })
}
