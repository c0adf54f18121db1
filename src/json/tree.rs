//! A JSON document as a tree that keeps where each value starts and ends, every object member
//! in document order, duplicates included (serde_json's `Value` keeps neither).
//!
//! It accepts exactly the documents serde_json accepted (RFC 8259, valid UTF-8 strings, no lone
//! surrogate in an escape, at most 127 arrays and objects open at once, finite numbers) and
//! refuses anything else with `None`, never a panic nor unbounded recursion: the filter reads
//! tokens, proofs and issuer answers with it ([`super::value`]). Numbers that are not 64-bit
//! integers keep their text ([`super::number`]).

pub use super::number::Float;

/// Most arrays and objects open at once in the documents the filter receives: serde_json's
/// recursion limit (a 128th is refused), so that claims nested deeper stay refused as before.
pub const MAX_DEPTH: usize = 127;
/// The same for the configuration, as before (serde_json's syntax check there had no limit).
pub const CONFIG_DEPTH: usize = 257;

/// A number, classified the way serde_json classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Number {
    /// A non-negative integer that fits 64 bits.
    Unsigned(u64),
    /// A negative integer that fits 64 bits.
    Negative(i64),
    /// Any other number: with a fraction or exponent, `-0`, or out of the integer ranges; kept
    /// as its text ([`Float`]: no floating point).
    Float(Float),
}

/// One value of the document.
pub enum Kind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string, unescaped.
    String(String),
    /// An array's elements.
    Array(Vec<Node>),
    /// An object's members, in document order.
    Object(Vec<Member>),
}

/// A value and the bytes it spans: `start` is its first byte, `end` one past its last.
pub struct Node {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte (after the closing quote, bracket or brace).
    pub end: usize,
    /// The value.
    pub kind: Kind,
}

/// One `"key": value` of an object.
pub struct Member {
    /// The key, unescaped.
    pub key: String,
    /// Offset one past the key's closing quote.
    pub key_end: usize,
    /// The value.
    pub value: Node,
}

/// The tree of `bytes`, a whole JSON document with optional whitespace around it.
pub fn parse(bytes: &[u8]) -> Option<Node> {
    parse_nested(bytes, MAX_DEPTH)
}

/// [`parse`] with at most `max_depth` arrays and objects open at once.
pub fn parse_nested(bytes: &[u8], max_depth: usize) -> Option<Node> {
    let mut reader = Reader {
        bytes,
        at: 0,
        max_depth,
    };
    let node = reader.value(0)?;
    reader.skip_whitespace();
    (reader.at == bytes.len()).then_some(node)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    max_depth: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.next()? == byte).then_some(())
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        self.skip_whitespace();
        let start = self.at;
        let byte = self.peek()?;
        if matches!(byte, b'{' | b'[') && depth >= self.max_depth {
            return None;
        }
        let kind = match byte {
            b'{' => Kind::Object(self.members(depth)?),
            b'[' => Kind::Array(self.elements(depth)?),
            b'"' => Kind::String(self.string()?),
            b't' => self.word(b"true", Kind::Bool(true))?,
            b'f' => self.word(b"false", Kind::Bool(false))?,
            b'n' => self.word(b"null", Kind::Null)?,
            _ => Kind::Number(self.number()?),
        };
        Some(Node {
            start,
            end: self.at,
            kind,
        })
    }

    fn word(&mut self, word: &[u8], kind: Kind) -> Option<Kind> {
        let end = self.at.checked_add(word.len())?;
        (self.bytes.get(self.at..end)? == word).then_some(())?;
        self.at = end;
        Some(kind)
    }

    fn members(&mut self, depth: usize) -> Option<Vec<Member>> {
        self.at += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(members);
        }
        loop {
            self.skip_whitespace();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            let key_end = self.at;
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_end,
                value,
            });
            self.skip_whitespace();
            match self.next()? {
                b',' => {}
                b'}' => return Some(members),
                _ => return None,
            }
        }
    }

    fn elements(&mut self, depth: usize) -> Option<Vec<Node>> {
        self.at += 1;
        let mut elements = Vec::new();
        self.skip_whitespace();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(elements);
        }
        loop {
            elements.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.next()? {
                b',' => {}
                b']' => return Some(elements),
                _ => return None,
            }
        }
    }

    /// A string from its opening quote; escapes decoded, the result valid UTF-8.
    fn string(&mut self) -> Option<String> {
        self.at += 1;
        let mut text = Vec::new();
        loop {
            // Plain bytes up to the next quote, backslash or control character, in one copy.
            let rest = self.bytes.get(self.at..)?;
            let run = rest
                .iter()
                .position(|byte| matches!(byte, b'"' | b'\\' | 0..=0x1f))?;
            text.extend_from_slice(rest.get(..run)?);
            self.at += run;
            match self.next()? {
                b'"' => return String::from_utf8(text).ok(),
                b'\\' => self.escape(&mut text)?,
                _ => return None,
            }
        }
    }

    fn escape(&mut self, text: &mut Vec<u8>) -> Option<()> {
        let byte = match self.next()? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let mut code = u32::from(self.hex4()?);
                if (0xD800..0xDC00).contains(&code) {
                    // A high surrogate must be followed by an escaped low one.
                    self.word(b"\\u", Kind::Null)?;
                    let low = u32::from(self.hex4()?);
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                }
                let c = char::from_u32(code)?;
                text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return Some(());
            }
            _ => return None,
        };
        text.push(byte);
        Some(())
    }

    fn hex4(&mut self) -> Option<u16> {
        let end = self.at.checked_add(4)?;
        let digits = std::str::from_utf8(self.bytes.get(self.at..end)?).ok()?;
        let value = u16::from_str_radix(digits, 16).ok()?;
        // from_str_radix accepts a sign; JSON does not.
        digits
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then_some(())?;
        self.at = end;
        Some(value)
    }

    /// A number, classified as serde_json does: integers that fit stay integers, `-0` and
    /// anything with a fraction or exponent (or too large) is a float.
    fn number(&mut self) -> Option<Number> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let digits_start = self.at;
        self.digits();
        let integer = self.bytes.get(digits_start..self.at)?;
        if integer.is_empty() || (integer.len() > 1 && integer.first() == Some(&b'0')) {
            return None;
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            float = true;
            (self.digits() > 0).then_some(())?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            float = true;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        let text = std::str::from_utf8(self.bytes.get(start..self.at)?).ok()?;
        if !float {
            if let Ok(value) = text.parse::<u64>() {
                return Some(Number::Unsigned(value));
            }
            if let Ok(value) = text.parse::<i64>() {
                if value < 0 {
                    return Some(Number::Negative(value));
                }
            }
        }
        // Refused where core's correctly rounded parser gives an infinity, as before.
        Float::from_text(text).map(Number::Float)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_knows_where_it_is() {
        let json = br#" {"a": [1, "x\"y"], "a": {}} "#;
        let node = parse(json).unwrap();
        assert_eq!((node.start, node.end), (1, json.len() - 1));
        let Kind::Object(members) = &node.kind else {
            panic!("not an object")
        };
        assert_eq!(members.len(), 2, "a repeated key is kept");
        assert_eq!(&json[..members[0].key_end], br#" {"a""#);
        let Kind::Array(elements) = &members[0].value.kind else {
            panic!("not an array")
        };
        let Kind::String(text) = &elements[1].kind else {
            panic!("not a string")
        };
        assert_eq!(text, "x\"y");
        assert_eq!(&json[elements[1].start..elements[1].end], br#""x\"y""#);
    }

    #[test]
    fn escapes_decode_as_json_says() {
        let node = parse(br#""\u00e9\ud83d\ude00\n\/""#).unwrap();
        let Kind::String(text) = node.kind else {
            panic!("not a string")
        };
        assert_eq!(text, "\u{e9}\u{1f600}\n/");
    }

    #[test]
    fn malformed_input_is_refused_without_panic() {
        for bad in [
            &b"{"[..],
            b"[1,]",
            b"01",
            b"\"\\ud800\"",
            b"\"\\u+123\"",
            b"1.",
            b"-",
            b"tru",
            b"{\"a\" 1}",
            b"\"\x01\"",
            b"[] x",
        ] {
            assert!(parse(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(10_000);
        assert!(parse(deep.as_bytes()).is_none());
    }
}
