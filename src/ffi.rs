//! Thin, allocation-free wrappers over the module API for the hot paths (ALERT.ADD): replies,
//! keyspace events and replication written straight to Redis instead of through `RedisValue`
//! and owned argument vectors.

use redis_module::{raw, Context, RedisString};
use std::ffi::CStr;
use std::os::raw::{c_char, c_longlong};

/// A number or alert ID rendered on the stack.
pub struct Text {
    buf: [u8; 48],
    len: usize,
}

impl Text {
    pub fn id(ts: u64, seq: u64) -> Text {
        let mut t = Text {
            buf: [0; 48],
            len: 0,
        };
        t.push_u64(ts);
        t.buf[t.len] = b'-';
        t.len += 1;
        t.push_u64(seq);
        t
    }

    // `write!` costs more than the rest of ADD's reply; two u64 take at most 41 bytes.
    fn push_u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for d in digits[..n].iter().rev() {
            self.buf[self.len] = *d;
            self.len += 1;
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Anything `Display` that fits in 48 bytes (amounts take at most 27), without allocating.
    pub fn display(v: &impl std::fmt::Display) -> Text {
        let mut t = Text {
            buf: [0; 48],
            len: 0,
        };
        let _ = std::fmt::write(&mut t, format_args!("{v}"));
        t
    }
}

impl std::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The database the context is in.
pub fn selected_db(ctx: &Context) -> i32 {
    unsafe { raw::RedisModule_GetSelectedDb.map_or(0, |f| f(ctx.get_raw())) }
}

pub fn notify(ctx: &Context, event: &CStr, key: &RedisString) {
    if let Some(f) = unsafe { raw::RedisModule_NotifyKeyspaceEvent } {
        unsafe {
            f(
                ctx.get_raw(),
                raw::REDISMODULE_NOTIFY_MODULE,
                event.as_ptr(),
                key.inner,
            )
        };
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

/// Replicates `ALERT.ADD key doc [TS ts] [ID id] NOW now`.
pub fn replicate_add(
    ctx: &Context,
    key: &RedisString,
    doc: &[u8],
    ts: Option<u64>,
    id: Option<&Text>,
    now: u64,
) {
    let Some(rep) = (unsafe { raw::RedisModule_Replicate }) else {
        return;
    };
    let (c, cmd) = (ctx.get_raw(), c"ALERT.ADD".as_ptr());
    let d = doc.as_ptr().cast::<c_char>();
    let now = now as c_longlong;
    unsafe {
        match (ts, id) {
            (None, Some(id)) => rep(
                c,
                cmd,
                c"sbcbcl".as_ptr(),
                key.inner,
                d,
                doc.len(),
                c"ID".as_ptr(),
                id.as_bytes().as_ptr().cast::<c_char>(),
                id.as_bytes().len(),
                c"NOW".as_ptr(),
                now,
            ),
            (Some(ts), Some(id)) => rep(
                c,
                cmd,
                c"sbclcbcl".as_ptr(),
                key.inner,
                d,
                doc.len(),
                c"TS".as_ptr(),
                ts as c_longlong,
                c"ID".as_ptr(),
                id.as_bytes().as_ptr().cast::<c_char>(),
                id.as_bytes().len(),
                c"NOW".as_ptr(),
                now,
            ),
            (Some(ts), None) => rep(
                c,
                cmd,
                c"sbclcl".as_ptr(),
                key.inner,
                d,
                doc.len(),
                c"TS".as_ptr(),
                ts as c_longlong,
                c"NOW".as_ptr(),
                now,
            ),
            (None, None) => rep(
                c,
                cmd,
                c"sbcl".as_ptr(),
                key.inner,
                d,
                doc.len(),
                c"NOW".as_ptr(),
                now,
            ),
        };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_render_like_display() {
        for (ts, seq) in [
            (0, 0),
            (1, 9),
            (1_700_000_000_000, 42),
            (u64::MAX, u64::MAX),
        ] {
            let t = super::Text::id(ts, seq);
            assert_eq!(t.as_bytes(), format!("{ts}-{seq}").as_bytes());
        }
    }
}
