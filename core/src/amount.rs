//! Amounts (quota usage, LRU sizes): exact decimals with 6 fractional digits, held as an
//! integer count of millionths, so a million increments of 0.1 and a million decrements of 0.1
//! give exactly 0.

use std::fmt;

const SCALE: i128 = 1_000_000;
/// Largest magnitude accepted: 10^18 (the contract asks for at least 10^15).
pub const MAX_UNITS: i128 = 1_000_000_000_000_000_000 * SCALE;

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
        let (int, frac) = match body.iter().position(|b| *b == b'.') {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        if int.is_empty() || !int.iter().all(u8::is_ascii_digit) {
            return Err(AmountError::Syntax);
        }
        let mut units: i128 = 0;
        for d in int.iter().skip_while(|d| **d == b'0') {
            units = units * 10 + i128::from(d - b'0');
            if units > MAX_UNITS / SCALE {
                return Err(AmountError::Range);
            }
        }
        units *= SCALE;
        if let Some(frac) = frac {
            if frac.is_empty() || frac.len() > 6 || !frac.iter().all(u8::is_ascii_digit) {
                return Err(AmountError::Syntax);
            }
            let mut f: i128 = 0;
            for d in frac {
                f = f * 10 + i128::from(d - b'0');
            }
            f *= 10i128.pow(6 - frac.len() as u32);
            units += f;
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
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        // 64-bit division and formatting where the value allows (every realistic amount):
        // 128-bit division was a fifth of QUOTA.INCR's cost.
        match u64::try_from(abs) {
            Ok(small) => write_parts(f, sign, small / SCALE as u64, small % SCALE as u64),
            Err(_) => write_parts(f, sign, abs / SCALE as u128, (abs % SCALE as u128) as u64),
        }
    }
}

/// `{sign}{int}` or `{sign}{int}.{frac}`, six fractional digits with trailing zeros dropped.
fn write_parts(
    f: &mut fmt::Formatter<'_>,
    sign: &str,
    int: impl fmt::Display,
    frac: u64,
) -> fmt::Result {
    if frac == 0 {
        return write!(f, "{sign}{int}");
    }
    let mut digits = [b'0'; 6];
    let mut rest = frac;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let len = 6 - digits.iter().rev().take_while(|d| **d == b'0').count();
    let digits = std::str::from_utf8(&digits[..len]).unwrap_or("0");
    write!(f, "{sign}{int}.{digits}")
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
