//! A keyspace scan cursor. The crate's `KeysCursor` retains every key name it visits and never
//! releases it (a leak of every scanned key); this one only borrows names.

use redis_module::raw::{self, RedisModuleString};
use redis_module::Context;
use std::os::raw::c_void;
use std::ptr::null_mut;

pub struct Scanner {
    cursor: *mut raw::RedisModuleScanCursor,
}

pub type Visit<'a> = dyn FnMut(&[u8], *mut raw::RedisModuleType) + 'a;

impl Scanner {
    pub fn new() -> Option<Scanner> {
        let create = unsafe { raw::RedisModule_ScanCursorCreate }?;
        // SAFETY: creates a cursor owned by this Scanner, destroyed in Drop.
        Some(Scanner {
            cursor: unsafe { create() },
        })
    }

    /// One step over the selected database: `visit(name, type)` for each key, where `type` is
    /// the key's module type (null when it is not a module key). Returns false when the scan
    /// is complete.
    pub fn step(&self, ctx: &Context, visit: &mut Visit) -> bool {
        let Some(scan) = (unsafe { raw::RedisModule_Scan }) else {
            return false;
        };
        let mut visit = visit;
        let data = (&mut visit as *mut &mut Visit).cast::<c_void>();
        // SAFETY: `data` points at `visit`, which outlives the call; scan_visit casts it back
        // to the same type.
        unsafe { scan(ctx.get_raw(), self.cursor, Some(scan_visit), data) != 0 }
    }
}

impl Drop for Scanner {
    fn drop(&mut self) {
        if let Some(f) = unsafe { raw::RedisModule_ScanCursorDestroy } {
            // SAFETY: the cursor was created by `new` and is destroyed once.
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
    // SAFETY: `data` is the `&mut Visit` that `step` passed; `name` and `key` are live for the
    // callback (the name is only borrowed).
    let visit = unsafe { &mut *data.cast::<&mut Visit>() };
    let bytes = redis_module::RedisString::string_as_slice(name);
    let module_type = match (key.is_null(), unsafe { raw::RedisModule_ModuleTypeGetType }) {
        (false, Some(get)) => unsafe { get(key) },
        _ => null_mut(),
    };
    crate::guard::catch("keyspace scan", (), || visit(bytes, module_type));
}
