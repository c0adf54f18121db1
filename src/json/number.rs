//! A JSON number that is not a 64-bit integer (a fraction, an exponent, `-0`, or beyond `u64`
//! and `i64`), kept as the text the document wrote, and worked with as the exact decimal that
//! text spells: the filter does no floating point on documents (issue 22: core's float
//! parsing and formatting, with their tables, were 38 KB of the `.wasm`).
//!
//! - **Written verbatim.** A float is written back as its source text, byte for byte
//!   ([`super::write::number`]): `1.50` stays `1.50`, `1E3` stays `1E3`, `-0` stays `-0`, where
//!   serde_json wrote the shortest double (`1.5`, `1000.0`, `-0.0`). The text passed the
//!   tree's number grammar (RFC 8259), so it is valid JSON, and any reader takes it for the
//!   number the issuer signed; a forwarded claim is at most as long as it was in the token.
//!   Only the issuer chooses the spelling (it is inside the signature): an upstream that
//!   compares a number's text rather than its value now sees the issuer's, not serde_json's.
//! - **Compared by exact value.** Two numbers are equal when the decimals they spell are
//!   (`1.0` = `1.00` = `10e-1`, `0` = `-0.0`), and a float equals an integer of the same value
//!   where numbers are compared by value (claim conditions). Numbers that differ beyond a
//!   double's 17 digits are now different (`0.1` and `0.10000000000000001` were the same
//!   double), and a float equal to an integer beyond 2^53 only when it is that integer exactly.
//! - **Rounded exactly.** NumericDates and the configuration's `rate` are made whole with
//!   [`Scaled`] from the decimal itself: `1700000000.99999999999999999` is 1700000000 seconds
//!   rounded down (the double was 1700000001), and a negative number is negative however
//!   small (`-1e-400` was the double `-0`, read as 0).
//! - **The same documents refused.** A number whose magnitude rounds to infinity as a double
//!   (at least 2^1024 − 2^970, [`OVERFLOW`]) is refused as before (serde_json's "number out of
//!   range"); one that rounds to zero is accepted, as before.
//!
//! Natively (tests, the `edge-auth` tool) a float still converts to and from `f64`
//! ([`Float::to_f64`], [`Float::from_f64`]); the `.wasm` has neither.

/// A number kept as its JSON text, finite as a double.
#[derive(Debug, Clone)]
pub struct Float(Box<str>);

/// The smallest magnitude that rounds to infinity as a double, 2^1024 − 2^970 (halfway between
/// `f64::MAX` and 2^1024; a tie rounds to the even significand, 2^1024), as the significant
/// digits of `0.ddd × 10^309`.
const OVERFLOW: &[u8] = b"179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792";
/// The decimal exponent of [`OVERFLOW`]'s leading digit, plus one.
const OVERFLOW_POINT: i64 = 309;

impl Float {
    /// `text`, a JSON number (RFC 8259's grammar, checked by the caller), if its magnitude is
    /// below [`OVERFLOW`].
    pub fn from_text(text: &str) -> Option<Float> {
        let decimal = Decimal::parse(text);
        // Lexicographic order of the digits is numeric order here: neither ends in a zero.
        let too_large = decimal.point > OVERFLOW_POINT
            || (decimal.point == OVERFLOW_POINT
                && decimal.digits().cmp(OVERFLOW.iter().copied()).is_ge());
        (!too_large).then(|| Float(text.into()))
    }

    /// The text, as the document wrote it.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// The exact value the text spells.
    pub(super) fn decimal(&self) -> Decimal<'_> {
        Decimal::parse(&self.0)
    }

    /// Natively: the nearest double (core's correctly rounded parser).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }

    /// Natively: a finite double written as serde_json wrote it (`1.0`, `1e-7`); `None` for NaN
    /// and the infinities.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_f64(value: f64) -> Option<Float> {
        value.is_finite().then(|| {
            let mut text = String::new();
            super::write::float(&mut text, value);
            Float(text.into())
        })
    }
}

/// By exact value: `1.0` = `1.00` = `1e0`, `0` = `-0.0`.
impl PartialEq for Float {
    fn eq(&self, other: &Float) -> bool {
        self.0 == other.0 || self.decimal() == other.decimal()
    }
}

impl Eq for Float {}

/// A number as `±0.ddd × 10^point`, read in place from its text: the significant digits
/// (`head`, then `tail`) without leading or trailing zeros, none for zero (which has no sign),
/// so that equal values are equal decimals. Nothing is allocated: claim conditions compare
/// numbers on every request.
#[derive(Debug)]
pub(super) struct Decimal<'a> {
    negative: bool,
    /// The first significant digits (ASCII), from the whole part or, if it has none, from
    /// the fraction.
    head: &'a [u8],
    /// The rest of them: the fraction when `head` is from the whole part, else empty.
    tail: &'a [u8],
    point: i64,
}

/// By value: the same sign, point and significant digits.
impl PartialEq for Decimal<'_> {
    fn eq(&self, other: &Decimal<'_>) -> bool {
        self.negative == other.negative
            && self.point == other.point
            && self.digits().eq(other.digits())
    }
}

/// What is left below the whole part of a [`Scaled`] number, as much as rounding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// Nothing: the number was whole.
    Zero,
    /// More than nothing, less than a half.
    BelowHalf,
    /// Exactly a half.
    Half,
    /// More than a half.
    AboveHalf,
}

/// A non-negative number times a power of ten, made whole: the whole part (saturated at
/// `u64::MAX`) and what was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaled {
    /// The whole part, `u64::MAX` for anything at least that large.
    pub whole: u64,
    /// The fraction cut off.
    pub rest: Rest,
}

impl Scaled {
    /// Rounded down (toward zero).
    pub fn floor(self) -> u64 {
        self.whole
    }

    /// Rounded up; saturates.
    pub fn ceil(self) -> u64 {
        match self.rest {
            Rest::Zero => self.whole,
            _ => self.whole.saturating_add(1),
        }
    }

    /// Rounded to the nearest, a half up (as `f64::round` for a non-negative number); saturates.
    pub fn round(self) -> u64 {
        match self.rest {
            Rest::Zero | Rest::BelowHalf => self.whole,
            Rest::Half | Rest::AboveHalf => self.whole.saturating_add(1),
        }
    }
}

impl<'a> Decimal<'a> {
    /// The value of a JSON number's text (`-`, digits, `.` digits, `e`/`E`, sign, digits).
    /// Exponents beyond ±10^15 are clamped there: far past anything finite or non-zero as a
    /// double, and they cannot make two different numbers equal within a document's length.
    pub(super) fn parse(text: &'a str) -> Decimal<'a> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = rest.split_once(['e', 'E']).unwrap_or((rest, ""));
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let whole = trim_leading_zeros(whole.as_bytes());
        let fraction = fraction.as_bytes();
        let (head, tail, point) = if whole.is_empty() {
            // `0.000ddd`: the digits start after the zeros of the fraction.
            let head = trim_leading_zeros(fraction);
            let zeros = length(fraction.len() - head.len());
            (head, &[][..], 0i64.saturating_sub(zeros))
        } else {
            (whole, fraction, length(whole.len()))
        };
        let tail = trim_trailing_zeros(tail);
        let head = if tail.is_empty() {
            trim_trailing_zeros(head)
        } else {
            head
        };
        if head.is_empty() {
            return Decimal {
                negative: false,
                head,
                tail,
                point: 0,
            };
        }
        Decimal {
            negative,
            head,
            tail,
            point: point.saturating_add(exponent_of(exponent)),
        }
    }

    /// The significant digits, in order.
    fn digits(&self) -> impl Iterator<Item = u8> + 'a {
        self.head.iter().chain(self.tail).copied()
    }

    /// The significant digit at `at` (from 0), if there is one.
    fn digit(&self, at: usize) -> Option<u8> {
        match at.checked_sub(self.head.len()) {
            None => self.head.get(at).copied(),
            Some(at) => self.tail.get(at).copied(),
        }
    }

    fn count(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// The magnitude if the number is an integer that fits `u64`.
    pub(super) fn magnitude(&self) -> Option<u64> {
        let count = usize::try_from(self.point).ok()?;
        if count < self.count() || count > 20 {
            return None;
        }
        (0..count).try_fold(0u64, |value, at| {
            let digit = self.digit(at).map_or(0, |digit| digit - b'0');
            value.checked_mul(10)?.checked_add(u64::from(digit))
        })
    }

    /// Whether it is below zero (`-0` is not).
    pub(super) fn is_negative(&self) -> bool {
        self.negative
    }

    /// The number times `10^decimals`, made whole; `None` if it is negative (not zero).
    pub(super) fn scaled(&self, decimals: u32) -> Option<Scaled> {
        if self.negative {
            return None;
        }
        // The whole part is the first `point + decimals` digits (zeros past the last).
        let point = self.point.saturating_add(i64::from(decimals));
        // Its first digit is not 0: 21 digits or more are at least 10^20 > u64::MAX.
        let whole = if point > 20 {
            u64::MAX
        } else {
            (0..point.max(0)).fold(0u64, |whole, at| {
                let digit = usize::try_from(at)
                    .ok()
                    .and_then(|at| self.digit(at))
                    .map_or(0, |digit| digit - b'0');
                whole
                    .checked_mul(10)
                    .and_then(|whole| whole.checked_add(u64::from(digit)))
                    .unwrap_or(u64::MAX)
            })
        };
        let rest = match usize::try_from(point) {
            // Zero first (`point < 0` and not zero): a first digit below 5, and not all zero.
            Err(_) if self.count() > 0 => Rest::BelowHalf,
            Err(_) => Rest::Zero,
            // No digit after the last one is other than 0.
            Ok(cut) => match self.digit(cut) {
                None => Rest::Zero,
                Some(b'5') if cut + 1 == self.count() => Rest::Half,
                Some(first) if first < b'5' => Rest::BelowHalf,
                Some(_) => Rest::AboveHalf,
            },
        };
        Some(Scaled { whole, rest })
    }
}

fn trim_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|digit| **digit == b'0').count();
    digits.get(zeros..).unwrap_or_default()
}

fn trim_trailing_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits
        .iter()
        .rev()
        .take_while(|digit| **digit == b'0')
        .count();
    digits.get(..digits.len() - zeros).unwrap_or_default()
}

/// How many digits, as the `i64` the point is counted in.
fn length(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The exponent's value (`+7`, `-12`, `3`, empty for none), clamped to ±10^15.
fn exponent_of(text: &str) -> i64 {
    const LIMIT: i64 = 1_000_000_000_000_000;
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    let magnitude = digits.iter().fold(0i64, |value, digit| {
        value
            .saturating_mul(10)
            .saturating_add(i64::from(digit.wrapping_sub(b'0')))
            .min(LIMIT)
    });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaled(text: &str, decimals: u32) -> Option<Scaled> {
        Decimal::parse(text).scaled(decimals)
    }

    #[test]
    fn the_overflow_threshold_is_where_doubles_become_infinite() {
        let threshold = std::str::from_utf8(OVERFLOW).unwrap();
        assert_eq!(threshold.len(), 309);
        let below = format!("{}1", &threshold[..308]);
        assert!(below.as_str() < threshold);
        assert_eq!(threshold.parse::<f64>().unwrap(), f64::INFINITY);
        assert_eq!(below.parse::<f64>().unwrap(), f64::MAX);
        for (text, finite) in [
            (threshold.to_string(), false),
            (below.clone(), true),
            (format!("-{threshold}"), false),
            (format!("-{below}"), true),
            (format!("{threshold}.0"), false),
            (format!("{below}.999999999999"), true),
            (format!("0.{threshold}e309"), false),
            (format!("{threshold}e-1"), true),
            ("1.7976931348623157e308".to_string(), true),
            ("1.7976931348623159e308".to_string(), false),
            ("1e308".to_string(), true),
            ("1e309".to_string(), false),
            ("10e308".to_string(), false),
            ("0.1e310".to_string(), false),
            ("0.01e310".to_string(), true),
            ("1e999999999999999999999999".to_string(), false),
            ("1e-999999999999999999999999".to_string(), true),
            ("0e999999999999999999999999".to_string(), true),
            ("-0".to_string(), true),
        ] {
            assert_eq!(Float::from_text(&text).is_some(), finite, "{text}");
            assert_eq!(text.parse::<f64>().unwrap().is_finite(), finite, "{text}");
        }
    }

    #[test]
    fn floats_are_equal_by_exact_value() {
        let float = |text: &str| Float::from_text(text).unwrap();
        for (a, b) in [
            ("1.0", "1.00"),
            ("1.0", "1e0"),
            ("1.5", "15E-1"),
            ("100.0", "1e2"),
            ("0.0", "-0"),
            ("0e5", "0.000"),
            ("-2.5", "-25e-1"),
            ("123.456e3", "123456.0"),
        ] {
            assert_eq!(float(a), float(b), "{a} {b}");
        }
        for (a, b) in [
            ("1.0", "-1.0"),
            ("1.0", "1.0000000000000000000001"),
            ("0.1", "0.10000000000000001"),
            ("1e2", "1e3"),
            ("1e-999999999999999999999", "0"),
        ] {
            assert_ne!(float(a), float(b), "{a} {b}");
        }
        assert_eq!(
            "0.1".parse::<f64>().unwrap(),
            "0.10000000000000001".parse::<f64>().unwrap(),
            "the same double, different numbers"
        );
    }

    #[test]
    fn scaling_cuts_exactly() {
        let at = |whole, rest| Some(Scaled { whole, rest });
        assert_eq!(scaled("1700000000.5", 0), at(1_700_000_000, Rest::Half));
        assert_eq!(
            scaled("1700000000.99999999999999999", 0),
            at(1_700_000_000, Rest::AboveHalf)
        );
        assert_eq!(
            scaled("1700000000.00000000000000001", 0),
            at(1_700_000_000, Rest::BelowHalf)
        );
        assert_eq!(scaled("1.7E9", 0), at(1_700_000_000, Rest::Zero));
        assert_eq!(scaled("17e8", 0), at(1_700_000_000, Rest::Zero));
        assert_eq!(scaled("0.0015", 3), at(1, Rest::Half));
        assert_eq!(scaled("0.00149", 3), at(1, Rest::BelowHalf));
        assert_eq!(scaled("0.0000001", 3), at(0, Rest::BelowHalf));
        assert_eq!(scaled("0.0009", 3), at(0, Rest::AboveHalf));
        assert_eq!(scaled("0.0005", 3), at(0, Rest::Half));
        assert_eq!(scaled("1e6", 3), at(1_000_000_000, Rest::Zero));
        assert_eq!(scaled("18446744073709551615", 0), at(u64::MAX, Rest::Zero));
        assert_eq!(scaled("18446744073709551616", 0), at(u64::MAX, Rest::Zero));
        assert_eq!(scaled("1e300", 0), at(u64::MAX, Rest::Zero));
        assert_eq!(
            scaled("1e999999999999999999999", 0),
            at(u64::MAX, Rest::Zero)
        );
        assert_eq!(
            scaled("1e-999999999999999999999", 0),
            at(0, Rest::BelowHalf)
        );
        assert_eq!(scaled("-0.0", 0), at(0, Rest::Zero));
        assert_eq!(scaled("-1e-400", 0), None);
        assert_eq!(scaled("-1", 3), None);
        let at_max = Scaled {
            whole: u64::MAX,
            rest: Rest::AboveHalf,
        };
        assert_eq!(
            (at_max.floor(), at_max.ceil(), at_max.round()),
            (u64::MAX, u64::MAX, u64::MAX)
        );
        let half = Scaled {
            whole: 2,
            rest: Rest::Half,
        };
        assert_eq!((half.floor(), half.ceil(), half.round()), (2, 3, 3));
    }

    #[test]
    fn doubles_convert_natively() {
        let float = Float::from_f64(1500.0).unwrap();
        assert_eq!(float.text(), "1500.0");
        assert_eq!(float.to_f64(), 1500.0);
        assert!(Float::from_f64(f64::NAN).is_none());
        assert!(Float::from_f64(f64::INFINITY).is_none());
    }
}
