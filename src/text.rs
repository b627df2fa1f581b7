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

    // `write!` costs more than the rest of ADD's reply; two u64 take at most 41 bytes.
    fn push_u64(&mut self, v: u64) {
        let mut digits = [0u8; 20];
        let d = vigil_core::decimal::digits(v, &mut digits);
        self.buf[self.len..self.len + d.len()].copy_from_slice(d);
        self.len += d.len();
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
