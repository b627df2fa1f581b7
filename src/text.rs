//! Numbers and IDs rendered on the stack, for replies and replication on hot paths.

use std::fmt::{self, Write};

pub struct Text {
    buf: [u8; 48],
    len: usize,
}

impl Text {
    fn empty() -> Text {
        Text {
            buf: [0; 48],
            len: 0,
        }
    }

    pub fn id(ts: u64, seq: u64) -> Text {
        let mut t = Text::empty();
        t.push_u64(ts);
        t.buf[t.len] = b'-';
        t.len += 1;
        t.push_u64(seq);
        t
    }

    // `write!` costs more than the rest of ADD's reply; two u64 take at most 41 bytes. Two
    // digits a step, from a table: half the divisions of one a step.
    fn push_u64(&mut self, mut v: u64) {
        const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
        let mut digits = [0u8; 20];
        let mut n = 20;
        while v >= 100 {
            let d = (v % 100) as usize * 2;
            v /= 100;
            n -= 2;
            digits[n..n + 2].copy_from_slice(&PAIRS[d..d + 2]);
        }
        if v >= 10 {
            let d = v as usize * 2;
            n -= 2;
            digits[n..n + 2].copy_from_slice(&PAIRS[d..d + 2]);
        } else {
            n -= 1;
            digits[n] = b'0' + v as u8;
        }
        let len = 20 - n;
        self.buf[self.len..self.len + len].copy_from_slice(&digits[n..]);
        self.len += len;
    }

    /// A u64 in decimal.
    pub fn num(v: u64) -> Text {
        let mut t = Text::empty();
        t.push_u64(v);
        t
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Anything `Display` that fits in 48 bytes (amounts take at most 27), without allocating.
    pub fn display(v: &impl fmt::Display) -> Text {
        let mut t = Text::empty();
        let _ = write!(t, "{v}");
        t
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
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
