//! Redis's RDB I/O as the core's `Source` and `Sink`: what the core encodes goes to an RDB
//! file, a DUMP payload or a full sync, and comes back through the same decoder the fuzz
//! targets exercise.
//!
//! The module sets `REDISMODULE_OPTIONS_HANDLE_IO_ERRORS` at load: a read past the end of a
//! damaged payload then returns a zero value and flags the I/O as failed, instead of aborting
//! the server. Every read checks the flag.

use redis_module::raw::{self, RedisModuleIO};
use std::os::raw::c_char;
use vigil_core::codec::{DecodeError, Sink, Source};

pub struct RdbIo {
    io: *mut RedisModuleIO,
}

impl RdbIo {
    /// # Safety
    /// `io` must be the RedisModuleIO Redis passed to the callback being run, used only
    /// during it.
    pub unsafe fn new(io: *mut RedisModuleIO) -> RdbIo {
        RdbIo { io }
    }

    fn failed(&self) -> bool {
        // SAFETY: `io` is live for the callback (see `new`).
        unsafe { raw::RedisModule_IsIOError.is_some_and(|f| f(self.io) != 0) }
    }
}

impl Sink for RdbIo {
    fn put_u64(&mut self, v: u64) {
        if let Some(f) = unsafe { raw::RedisModule_SaveUnsigned } {
            // SAFETY: `io` is live for the callback.
            unsafe { f(self.io, v) };
        }
    }

    fn put_bytes(&mut self, b: &[u8]) {
        if let Some(f) = unsafe { raw::RedisModule_SaveStringBuffer } {
            // SAFETY: `io` is live; the buffer is a live slice Redis copies.
            unsafe { f(self.io, b.as_ptr().cast::<c_char>(), b.len()) };
        }
    }
}

impl Source for RdbIo {
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let Some(f) = (unsafe { raw::RedisModule_LoadUnsigned }) else {
            return Err(DecodeError::Short);
        };
        // SAFETY: `io` is live; with HANDLE_IO_ERRORS a failed read returns 0 and sets the
        // error flag, checked below.
        let v = unsafe { f(self.io) };
        if self.failed() {
            return Err(DecodeError::Short);
        }
        Ok(v)
    }

    fn bytes_with<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Result<R, DecodeError> {
        let (Some(load), Some(free)) = (unsafe { raw::RedisModule_LoadStringBuffer }, unsafe {
            raw::RedisModule_Free
        }) else {
            return Err(DecodeError::Short);
        };
        let mut len = 0usize;
        // SAFETY: `io` is live; the buffer Redis returns is `len` bytes allocated with its
        // allocator (or null on a failed read), freed below once `f` has looked at it.
        let ptr = unsafe { load(self.io, &mut len) };
        if self.failed() || ptr.is_null() {
            if !ptr.is_null() {
                unsafe { free(ptr.cast()) };
            }
            return Err(DecodeError::Short);
        }
        // SAFETY: `ptr` points at `len` initialised bytes (see above).
        let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
        let r = f(bytes);
        // SAFETY: allocated by Redis for us, not used after this.
        unsafe { free(ptr.cast()) };
        Ok(r)
    }
}
