//! Redis's RDB I/O as the core's `Source` and `Sink`: what the core encodes goes to an RDB
//! file, a DUMP payload or a full sync, and comes back through the same decoder the fuzz
//! targets exercise. The same encoding feeds `DEBUG DIGEST` (a `Sink` over a
//! RedisModuleDigest), so that equal values digest equal and different ones differ.
//!
//! The module sets `REDISMODULE_OPTIONS_HANDLE_IO_ERRORS` at load: a read past the end of a
//! damaged payload then returns a zero value and flags the I/O as failed, instead of aborting
//! the server. Every read checks the flag.

use redis_module::raw::{self, RedisModuleDigest, RedisModuleIO};
use std::os::raw::c_char;
use vigil_core::codec::{DecodeError, Sink, Source};

pub struct RdbIo {
    io: *mut RedisModuleIO,
    /// Set instead of `io` when the encoding feeds DEBUG DIGEST.
    digest: *mut RedisModuleDigest,
}

impl RdbIo {
    /// # Safety
    /// `io` must be the RedisModuleIO Redis passed to the callback being run, used only
    /// during it.
    pub unsafe fn new(io: *mut RedisModuleIO) -> RdbIo {
        RdbIo {
            io,
            digest: std::ptr::null_mut(),
        }
    }

    /// A sink that mixes what is written into a DEBUG DIGEST; reads fail.
    ///
    /// # Safety
    /// `md` must be the RedisModuleDigest Redis passed to the digest callback being run, used
    /// only during it.
    pub unsafe fn digest(md: *mut RedisModuleDigest) -> RdbIo {
        RdbIo {
            io: std::ptr::null_mut(),
            digest: md,
        }
    }

    /// Ends the digest's sequence: what was written so far counts as one ordered value.
    pub fn end_sequence(&mut self) {
        if self.digest.is_null() {
            return;
        }
        if let Some(f) = unsafe { raw::RedisModule_DigestEndSequence } {
            // SAFETY: `digest` is live for the callback (see `digest`).
            unsafe { f(self.digest) };
        }
    }

    fn failed(&self) -> bool {
        // SAFETY: `io` is live for the callback (see `new`).
        unsafe { raw::RedisModule_IsIOError.is_some_and(|f| f(self.io) != 0) }
    }
}

impl Sink for RdbIo {
    fn put_u64(&mut self, v: u64) {
        if !self.digest.is_null() {
            // The value's eight bytes: every u64 digests distinctly (a long long would not).
            self.put_digest(&v.to_le_bytes());
        } else if let Some(f) = unsafe { raw::RedisModule_SaveUnsigned } {
            // SAFETY: `io` is live for the callback.
            unsafe { f(self.io, v) };
        }
    }

    fn put_bytes(&mut self, b: &[u8]) {
        if !self.digest.is_null() {
            // The length first, so that ("ab", "c") and ("a", "bc") digest differently.
            self.put_digest(&(b.len() as u64).to_le_bytes());
            self.put_digest(b);
        } else if let Some(f) = unsafe { raw::RedisModule_SaveStringBuffer } {
            // SAFETY: `io` is live; the buffer is a live slice Redis copies.
            unsafe { f(self.io, b.as_ptr().cast::<c_char>(), b.len()) };
        }
    }
}

impl RdbIo {
    fn put_digest(&mut self, b: &[u8]) {
        if let Some(f) = unsafe { raw::RedisModule_DigestAddStringBuffer } {
            // SAFETY: `digest` is live for the callback; Redis only reads the buffer.
            unsafe { f(self.digest, b.as_ptr().cast::<c_char>(), b.len()) };
        }
    }
}

impl Source for RdbIo {
    fn u64(&mut self) -> Result<u64, DecodeError> {
        if self.io.is_null() {
            return Err(DecodeError::Short);
        }
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
        if self.io.is_null() {
            return Err(DecodeError::Short);
        }
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
