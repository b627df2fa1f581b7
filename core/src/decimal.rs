//! Unsigned integers in decimal without `core::fmt`, for replies on hot paths (`write!` cost
//! more than the rest of ALERT.ADD's reply, and a quarter of rendering an alert for RANGE).

const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// `v` in decimal, written at the end of `buf`: the slice of `buf` that holds it. Two digits a
/// step, from a table: half the divisions of one a step.
pub fn digits(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = 20;
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        n -= 2;
        buf[n..n + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        n -= 2;
        buf[n..n + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        n -= 1;
        buf[n] = b'0' + v as u8;
    }
    &buf[n..]
}

/// A number's decimal digits held at the start of a fixed buffer, appended to a byte buffer by
/// [`crate::bytes::push_cut`] (rendering an alert appends three or four numbers).
#[derive(Clone, Copy)]
pub struct Digits {
    buf: [u8; 24],
    len: u8,
}

impl Digits {
    pub fn new(v: u64) -> Digits {
        let mut tail = [0u8; 20];
        let d = digits(v, &mut tail);
        let mut buf = [0u8; 24];
        buf[..d.len()].copy_from_slice(d);
        Digits {
            buf,
            len: d.len() as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// Appends the digits to `out`.
    #[inline]
    pub fn push_to(&self, out: &mut Vec<u8>) {
        crate::bytes::push_cut(out, &self.buf, usize::from(self.len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_display() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut cases = vec![0, 1, 9, 10, 99, 100, 101, 999, 1000, u64::MAX, u64::MAX - 1];
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x >> (x % 64));
        }
        for v in cases {
            assert_eq!(digits(v, &mut [0; 20]), v.to_string().as_bytes());
            let mut out = b"x".to_vec();
            Digits::new(v).push_to(&mut out);
            assert_eq!(out, format!("x{v}").into_bytes());
            assert_eq!(Digits::new(v).as_bytes(), v.to_string().as_bytes());
        }
    }
}
