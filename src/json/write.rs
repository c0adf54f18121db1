//! Compact JSON output (RFC 8259), written as serde_json wrote it: strings escape `"`, `\` and
//! the control characters (`\b \f \n \r \t`, the others as `\u00XX` with lower-case hex) and
//! nothing else; integers as integers. One deliberate difference: a float is written as the
//! document it was read from wrote it, verbatim (`1.50`, `1E3`, `-0`), where serde_json wrote
//! the shortest double that reads back the same (`1.5`, `1000.0`, `-0.0`): see
//! [`super::number`] for why; the filter never formats a double (issue 22).
//!
//! For the bodies edge-auth writes (refusals, resource metadata) and the claim values it
//! forwards ([`super::value::Value`]'s `Display`), instead of serde's serializer. Natively,
//! [`float`] writes a double in serde_json's layout, for floats made in code (tests).

use super::tree;

/// A JSON object written member by member, in the order given (as serde wrote a struct).
pub struct Object {
    out: String,
}

impl Default for Object {
    fn default() -> Object {
        Object::new()
    }
}

impl Object {
    /// An empty object.
    pub fn new() -> Object {
        Object {
            out: String::from("{"),
        }
    }

    fn name(&mut self, name: &str) -> &mut String {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        string(&mut self.out, name);
        self.out.push(':');
        &mut self.out
    }

    /// A string member.
    pub fn string(mut self, name: &str, text: &str) -> Object {
        string(self.name(name), text);
        self
    }

    /// A string member, left out when `None`.
    pub fn optional_string(self, name: &str, text: Option<&str>) -> Object {
        match text {
            Some(text) => self.string(name, text),
            None => self,
        }
    }

    /// An array of strings.
    pub fn strings(mut self, name: &str, texts: &[&str]) -> Object {
        let out = self.name(name);
        out.push('[');
        for (index, text) in texts.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            string(out, text);
        }
        out.push(']');
        self
    }

    /// An array of strings, left out when empty.
    pub fn nonempty_strings(self, name: &str, texts: &[&str]) -> Object {
        if texts.is_empty() {
            self
        } else {
            self.strings(name, texts)
        }
    }

    /// A boolean member.
    pub fn bool(mut self, name: &str, value: bool) -> Object {
        self.name(name)
            .push_str(if value { "true" } else { "false" });
        self
    }

    /// The object's text.
    pub fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// Appends `text` as a JSON string, quotes included.
pub fn string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let byte = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX.get(byte >> 4).copied().unwrap_or(b'0')));
                out.push(char::from(HEX.get(byte & 0xf).copied().unwrap_or(b'0')));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a number: integers in decimal, floats as their text, verbatim.
pub fn number(out: &mut String, number: &tree::Number) {
    match number {
        tree::Number::Unsigned(value) => out.push_str(&value.to_string()),
        tree::Number::Negative(value) => out.push_str(&value.to_string()),
        tree::Number::Float(value) => out.push_str(value.text()),
    }
}

/// Appends a finite float in serde_json's layout (`null` for NaN and the infinities, as serde_json
/// wrote them): the shortest digits that read back the same (when two are exactly as close, as
/// for `1844674407370955.25`, core's formatting takes the larger last digit where serde_json
/// took the even one: both read back as the same number), then, with `k` the position of
/// the decimal point, `ddd000.0` up to 16 digits, `dd.dd`, `0.000dd` down to `k > -5`, and
/// `d.dde-x` / `de+x` outside. Natively only: the `.wasm` formats no double.
#[cfg(not(target_arch = "wasm32"))]
pub fn float(out: &mut String, value: f64) {
    if !value.is_finite() {
        out.push_str("null");
        return;
    }
    // `{:e}` gives the shortest round-trip digits too: `-1.2345e-7`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let length = i32::try_from(digits.len()).unwrap_or(1);
    // The decimal point after `point` digits.
    let point = exponent + 1;
    out.push_str(sign);
    if length <= point && point <= 16 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n(
            '0',
            usize::try_from(point - length).unwrap_or(0),
        ));
        out.push_str(".0");
    } else if 0 < point && point <= 16 {
        let (whole, fraction) = digits.split_at(usize::try_from(point).unwrap_or(0));
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    } else if -5 < point && point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n(
            '0',
            usize::try_from(-point).unwrap_or(0),
        ));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        if exponent > 0 {
            out.push('+');
        }
        out.push_str(&exponent.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(value: f64) -> String {
        let mut out = String::new();
        float(&mut out, value);
        out
    }

    #[test]
    fn floats_are_laid_out_as_serde_json_did() {
        for value in [
            0.0,
            -0.0,
            1.0,
            1.5,
            -2.25,
            0.1,
            1e-4,
            1.5e-4,
            1e-5,
            1.2e-5,
            1e-6,
            1.5e-7,
            1e15,
            1e16,
            1.5e16,
            1e17,
            123_456_789.125,
            1_700_000_000.5,
            1.7e9,
            1e300,
            -1e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            9_007_199_254_740_993.0,
            0.3,
            2.0 / 3.0,
        ] {
            let expected = serde_json::to_string(&value).unwrap();
            assert_eq!(written(value), expected, "{value:e}");
        }
    }

    #[test]
    fn strings_escape_as_serde_json_did() {
        let mut all = String::new();
        for code in 0..0x80u32 {
            all.push(char::from_u32(code).unwrap());
        }
        all.push_str("é\u{2028}\u{1f600}/");
        let mut out = String::new();
        string(&mut out, &all);
        assert_eq!(out, serde_json::to_string(&all).unwrap());
    }
}
