//! Numbers and IDs rendered on the stack, for replies and replication on hot paths.

use vigil_core::amount::{Amount, TEXT_MAX};

const _: () = assert!(TEXT_MAX <= 48, "an amount's text fits a Text");

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

    /// An amount's text, without `core::fmt` (`Amount::text`).
    pub fn amount(a: Amount) -> Text {
        let mut t = Text::empty();
        let mut buf = [0u8; TEXT_MAX];
        let s = a.text(&mut buf);
        t.buf[..s.len()].copy_from_slice(s);
        t.len = s.len();
        t
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

    #[test]
    fn amounts_render_like_display() {
        use vigil_core::amount::{Amount, MAX_UNITS};
        for units in [
            0,
            1,
            -1,
            1_500_000,
            -2_250_000,
            MAX_UNITS,
            -MAX_UNITS,
            i128::MIN,
        ] {
            let a = Amount::from_units(units);
            assert_eq!(super::Text::amount(a).as_bytes(), a.to_string().as_bytes());
        }
    }
}
