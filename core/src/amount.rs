//! Amounts (quota usage, LRU sizes): exact decimals with 6 fractional digits, held as an
//! integer count of millionths, so a million increments of 0.1 and a million decrements of 0.1
//! give exactly 0.

use crate::decimal;
use std::fmt;

const SCALE: i128 = 1_000_000;
/// Largest magnitude accepted: 10^18 (the contract asks for at least 10^15).
pub const MAX_UNITS: i128 = 1_000_000_000_000_000_000 * SCALE;
/// The longest text of an amount ([`Amount::text`]): a sign, the 33 integer digits of
/// `i128::MIN / 10^6`, a point and 6 fractional digits.
pub const TEXT_MAX: usize = 41;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i128);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountError {
    Syntax,
    Range,
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// Parses `-?[0-9]+(\.[0-9]{1,6})?`, at most 10^18 in magnitude.
    pub fn parse(s: &[u8]) -> Result<Amount, AmountError> {
        let (neg, body) = match s.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, s),
        };
        // One pass over the whole part, summed in a u64 (at most 10^18 is kept: 10^19 + 9
        // still fits) and scaled once: three passes and i128 arithmetic per digit cost ~20
        // instructions a digit. A whole part out of range is reported only once it is known
        // to be digits (`12x` is a syntax error however long).
        const MAX_WHOLE: u64 = (MAX_UNITS / SCALE) as u64;
        let mut whole: u64 = 0;
        let mut too_big = false;
        let mut i = 0;
        while let Some(&c) = body.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            if !too_big {
                whole = whole * 10 + u64::from(c - b'0');
                too_big = whole > MAX_WHOLE;
            }
            i += 1;
        }
        let frac = match body.get(i) {
            _ if i == 0 => return Err(AmountError::Syntax),
            None => None,
            Some(b'.') => Some(&body[i + 1..]),
            Some(_) => return Err(AmountError::Syntax),
        };
        if too_big {
            return Err(AmountError::Range);
        }
        let mut units = i128::from(whole) * SCALE;
        if let Some(frac) = frac {
            if frac.is_empty() || frac.len() > 6 || !frac.iter().all(u8::is_ascii_digit) {
                return Err(AmountError::Syntax);
            }
            let mut f: u32 = 0;
            for d in frac {
                f = f * 10 + u32::from(d - b'0');
            }
            f *= 10u32.pow(6 - frac.len() as u32);
            units += i128::from(f);
        }
        if units > MAX_UNITS {
            return Err(AmountError::Range);
        }
        Ok(Amount(if neg { -units } else { units }))
    }

    pub fn from_units(units: i128) -> Amount {
        Amount(units)
    }

    pub fn units(self) -> i128 {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// Sum, or None past the accepted magnitude.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        let sum = self.0.checked_add(other.0)?;
        (sum.abs() <= MAX_UNITS).then_some(Amount(sum))
    }

    /// Difference, or None past the accepted magnitude.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        let d = self.0.checked_sub(other.0)?;
        (d.abs() <= MAX_UNITS).then_some(Amount(d))
    }

    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount((self.0 - other.0).clamp(-MAX_UNITS, MAX_UNITS))
    }

    pub fn max(self, other: Amount) -> Amount {
        Amount(self.0.max(other.0))
    }

    /// The shortest decimal rendering: `3`, `1.5`, `0.000001`, `-2.25`.
    pub fn render(self) -> String {
        self.to_string()
    }

    /// [`render`](Self::render)'s text, written at the end of `buf` without `core::fmt`
    /// (which cost a tenth of QUOTA.INCR, whose reply holds three amounts): the slice of
    /// `buf` that holds it.
    pub fn text(self, buf: &mut [u8; TEXT_MAX]) -> &[u8] {
        let abs = self.0.unsigned_abs();
        // 64-bit division where the value allows (every realistic amount): 128-bit division
        // was a fifth of QUOTA.INCR's cost.
        let (mut int, frac) = match u64::try_from(abs) {
            Ok(small) => (u128::from(small / SCALE as u64), small % SCALE as u64),
            Err(_) => (abs / SCALE as u128, (abs % SCALE as u128) as u64),
        };
        let mut n = TEXT_MAX;
        if frac != 0 {
            // Six fractional digits, the trailing zeros dropped.
            let (mut f, mut len) = (frac, 6);
            while f % 10 == 0 {
                f /= 10;
                len -= 1;
            }
            for _ in 0..len {
                n -= 1;
                buf[n] = b'0' + (f % 10) as u8;
                f /= 10;
            }
            n -= 1;
            buf[n] = b'.';
        }
        match u64::try_from(int) {
            Ok(v) => {
                let mut d = [0u8; 20];
                let digits = decimal::digits(v, &mut d);
                n -= digits.len();
                buf[n..n + digits.len()].copy_from_slice(digits);
            }
            // Past 1.8 * 10^25 units: only `from_units` of a sum gives such an amount.
            Err(_) => loop {
                n -= 1;
                buf[n] = b'0' + (int % 10) as u8;
                int /= 10;
                if int == 0 {
                    break;
                }
            },
        }
        if self.0 < 0 {
            n -= 1;
            buf[n] = b'-';
        }
        &buf[n..]
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; TEXT_MAX];
        // Only ASCII digits, a sign and a point: never an error.
        f.write_str(std::str::from_utf8(self.text(&mut buf)).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountError::Syntax => write!(
                f,
                "expected a decimal like 12 or -0.5 with at most 6 fractional digits"
            ),
            AmountError::Range => write!(f, "out of range (at most 10^18 in magnitude)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        Amount::parse(s.as_bytes()).unwrap()
    }

    /// What the text of `units` millionths is, by `format!` and 128-bit arithmetic.
    fn reference(units: i128) -> String {
        let sign = if units < 0 { "-" } else { "" };
        let abs = units.unsigned_abs();
        let (int, frac) = (abs / 1_000_000, abs % 1_000_000);
        match frac {
            0 => format!("{sign}{int}"),
            _ => format!("{sign}{int}.{}", format!("{frac:06}").trim_end_matches('0')),
        }
    }

    #[test]
    fn text_agrees_with_the_reference_across_the_range() {
        let mut cases: Vec<i128> = vec![
            0,
            1,
            -1,
            999_999,
            1_000_000,
            1_000_001,
            -1_500_000,
            10,
            100_000,
            MAX_UNITS,
            -MAX_UNITS,
            MAX_UNITS - 1,
            i128::from(u64::MAX),
            i128::from(u64::MAX) + 1,
            -i128::from(u64::MAX) - 1,
            i128::MAX,
            i128::MIN,
            i128::MIN + 1,
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let wide = (i128::from(x) << 64 | i128::from(x.rotate_left(17))) >> (x % 127);
            let small = i128::from(x >> (x % 64));
            // Fractions with trailing zeros: whole tenths, hundredths...
            let round = small - small % 10i128.pow((x % 7) as u32);
            cases.extend([wide, -wide, small, -small, round, -round]);
        }
        for units in cases {
            let mut buf = [0u8; TEXT_MAX];
            let text = Amount::from_units(units).text(&mut buf);
            assert_eq!(std::str::from_utf8(text), Ok(&*reference(units)), "{units}");
            assert_eq!(Amount::from_units(units).to_string(), reference(units));
        }
    }

    #[test]
    fn grammar() {
        for (input, shown) in [
            ("0", "0"),
            ("-0", "0"),
            ("007", "7"),
            ("1.5", "1.5"),
            ("1.500000", "1.5"),
            ("0.000001", "0.000001"),
            ("-2.25", "-2.25"),
            ("1000000000000000", "1000000000000000"),
            ("1000000000000000000", "1000000000000000000"),
            ("123456789.123456", "123456789.123456"),
        ] {
            assert_eq!(a(input).to_string(), shown, "{input}");
        }
        for bad in [
            "",
            "-",
            "+5",
            ".5",
            "5.",
            "1.2345678",
            "1e3",
            "NaN",
            "inf",
            "-inf",
            " 1",
            "1 ",
            "1,5",
            "0x10",
            "--1",
            "1.-5",
            "١",
        ] {
            assert_eq!(
                Amount::parse(bad.as_bytes()),
                Err(AmountError::Syntax),
                "{bad:?}"
            );
        }
        for big in [
            "1000000000000000001",
            "99999999999999999999999999999999999999999",
        ] {
            assert_eq!(
                Amount::parse(big.as_bytes()),
                Err(AmountError::Range),
                "{big}"
            );
        }
    }

    /// The grammar and the range, decided on the text alone (digits compared as strings):
    /// what `parse` must agree with, whatever arithmetic it uses.
    fn parse_reference(s: &str) -> Result<Amount, AmountError> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) {
            return Err(AmountError::Syntax);
        }
        let int = int.trim_start_matches('0');
        // Above 10^18 whatever the fraction (checked before the fraction's syntax).
        if int.len() > 19 || (int.len() == 19 && int > "1000000000000000000") {
            return Err(AmountError::Range);
        }
        let frac = match frac {
            Some(f) if !digits(f) || f.len() > 6 => return Err(AmountError::Syntax),
            Some(f) => format!("{f:0<6}"),
            None => "000000".to_string(),
        };
        if int == "1000000000000000000" && frac != "000000" {
            return Err(AmountError::Range);
        }
        let units: i128 = format!("{}{frac}", if int.is_empty() { "0" } else { int })
            .parse()
            .map_err(|_| AmountError::Syntax)?;
        Ok(Amount(if neg { -units } else { units }))
    }

    #[test]
    fn parse_agrees_with_the_reference() {
        let mut inputs: Vec<String> = [
            "0",
            "-0",
            "00000000000000000000000000001",
            "1000000000000000000",
            "1000000000000000000.000000",
            "1000000000000000000.000001",
            "999999999999999999.999999",
            "-1000000000000000000",
            "-1000000000000000000.5",
            "1000000000000000001",
            "9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999.x",
            "1000000000000000000.x",
            "1.5",
            "0.000001",
            "12.34",
            "1.",
            ".1",
            "-",
            "",
            "1e3",
            "0x1",
            "1.1234567",
            "1000000000000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every length of nines and of ones-then-zeros around the limit, with fractions.
        for n in 1..=22 {
            for body in ["9".repeat(n), format!("1{}", "0".repeat(n - 1))] {
                for frac in ["", ".0", ".000001", ".999999", ".5"] {
                    inputs.push(format!("{body}{frac}"));
                    inputs.push(format!("-{body}{frac}"));
                }
            }
        }
        for s in &inputs {
            assert_eq!(Amount::parse(s.as_bytes()), parse_reference(s), "{s:?}");
        }
    }

    #[test]
    fn exact_sums() {
        let tenth = a("0.1");
        let mut x = Amount::ZERO;
        for _ in 0..1_000_000 {
            x = x.checked_add(tenth).unwrap();
        }
        assert_eq!(x.to_string(), "100000");
        for _ in 0..1_000_000 {
            x = x.checked_add(a("-0.1")).unwrap();
        }
        assert_eq!(x, Amount::ZERO);
        let max = a("1000000000000000000");
        assert_eq!(max.checked_add(a("0.000001")), None);
    }
}
