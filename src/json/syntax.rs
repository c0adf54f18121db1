//! The syntax check of a JSON document, with the message and the place of the first error as
//! serde_json gave them (`EOF while parsing a list`, `trailing comma`, ...): the configuration's
//! errors keep their wording and the field they name ([`super::path`]), and the filter no
//! longer links serde_json (issue 22).
//!
//! It follows the order of serde_json's `IgnoredAny` check, which the configuration was read
//! with: iterative (no recursion, any depth), strings not checked for UTF-8 nor their `\u`
//! escapes for surrogates, numbers not checked for range. The tree ([`super::tree`]) refuses
//! those afterwards.

/// The first syntax error: serde_json's message and the byte offset where it stopped reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// serde_json's wording, without position.
    pub message: &'static str,
    /// The offset serde_json reported (as line and column).
    pub offset: usize,
}

impl SyntaxError {
    /// serde_json's `Display`: the message, then ` at line L column C`.
    pub fn describe(&self, bytes: &[u8]) -> String {
        let before = bytes.get(..self.offset).unwrap_or(bytes);
        let line_start = before
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |at| at + 1);
        let line = 1 + before.iter().filter(|byte| **byte == b'\n').count();
        format!(
            "{} at line {line} column {}",
            self.message,
            self.offset - line_start
        )
    }
}

const EOF_VALUE: &str = "EOF while parsing a value";
const EOF_LIST: &str = "EOF while parsing a list";
const EOF_OBJECT: &str = "EOF while parsing an object";
const EOF_STRING: &str = "EOF while parsing a string";
const INVALID_NUMBER: &str = "invalid number";

/// `Ok` if `bytes` is one JSON document with optional whitespace around it.
pub fn check(bytes: &[u8]) -> Result<(), SyntaxError> {
    let mut scanner = Scanner { bytes, at: 0 };
    scanner.document()
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// The next byte other than whitespace, not consumed.
    fn peek_token(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
        self.peek()
    }

    /// An error about the byte that was read last.
    fn error(&self, message: &'static str) -> SyntaxError {
        SyntaxError {
            message,
            offset: self.at,
        }
    }

    /// An error about the byte looked at, not yet read.
    fn peek_error(&self, message: &'static str) -> SyntaxError {
        SyntaxError {
            message,
            offset: (self.at + 1).min(self.bytes.len()),
        }
    }

    fn document(&mut self) -> Result<(), SyntaxError> {
        self.value()?;
        match self.peek_token() {
            Some(_) => Err(self.peek_error("trailing characters")),
            None => Ok(()),
        }
    }

    /// One value, containers walked with a stack of their opening bytes.
    fn value(&mut self) -> Result<(), SyntaxError> {
        let mut open: Vec<u8> = Vec::new();
        loop {
            let opened = self.scalar_or_open()?;
            let (mut after_value, mut frame) = match opened {
                Some(frame) => (false, frame),
                None => match open.pop() {
                    Some(frame) => (true, frame),
                    None => return Ok(()),
                },
            };
            // Close every container that ends here; stop at a `,` or at the first element.
            loop {
                match self.peek_token() {
                    Some(b',') if after_value => {
                        self.at += 1;
                        break;
                    }
                    Some(b']') if frame == b'[' => {}
                    Some(b'}') if frame == b'{' => {}
                    Some(_) if after_value => {
                        return Err(self.peek_error(if frame == b'[' {
                            "expected `,` or `]`"
                        } else {
                            "expected `,` or `}`"
                        }));
                    }
                    Some(_) => break,
                    None => {
                        return Err(self.peek_error(if frame == b'[' {
                            EOF_LIST
                        } else {
                            EOF_OBJECT
                        }));
                    }
                }
                self.at += 1;
                frame = match open.pop() {
                    Some(frame) => frame,
                    None => return Ok(()),
                };
                after_value = true;
            }
            if frame == b'{' {
                self.key()?;
            }
            open.push(frame);
        }
    }

    /// A scalar (`None`), or the opening byte of a container, consumed.
    fn scalar_or_open(&mut self) -> Result<Option<u8>, SyntaxError> {
        let Some(byte) = self.peek_token() else {
            return Err(self.peek_error(EOF_VALUE));
        };
        match byte {
            b'n' => self.word(b"null")?,
            b't' => self.word(b"true")?,
            b'f' => self.word(b"false")?,
            b'-' => {
                self.at += 1;
                self.number()?;
            }
            b'0'..=b'9' => self.number()?,
            b'"' => {
                self.at += 1;
                self.string()?;
            }
            b'[' | b'{' => {
                self.at += 1;
                return Ok(Some(byte));
            }
            _ => return Err(self.peek_error("expected value")),
        }
        Ok(None)
    }

    /// A member's key and its colon.
    fn key(&mut self) -> Result<(), SyntaxError> {
        match self.peek_token() {
            Some(b'"') => self.at += 1,
            Some(_) => return Err(self.peek_error("key must be a string")),
            None => return Err(self.peek_error(EOF_OBJECT)),
        }
        self.string()?;
        match self.peek_token() {
            Some(b':') => {
                self.at += 1;
                Ok(())
            }
            Some(_) => Err(self.peek_error("expected `:`")),
            None => Err(self.peek_error(EOF_OBJECT)),
        }
    }

    fn word(&mut self, word: &[u8]) -> Result<(), SyntaxError> {
        // The first byte was only looked at.
        self.at += 1;
        for expected in word.iter().skip(1) {
            let Some(byte) = self.peek() else {
                return Err(self.error(EOF_VALUE));
            };
            self.at += 1;
            if byte != *expected {
                return Err(self.error("expected ident"));
            }
        }
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    /// A number after its optional `-`.
    fn number(&mut self) -> Result<(), SyntaxError> {
        let first = self.peek();
        self.at = (self.at + 1).min(self.bytes.len());
        match first {
            Some(b'0') => {
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.peek_error(INVALID_NUMBER));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error(INVALID_NUMBER)),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.peek_error(INVALID_NUMBER));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            let digit = self.peek();
            self.at = (self.at + 1).min(self.bytes.len());
            if !matches!(digit, Some(b'0'..=b'9')) {
                return Err(self.error(INVALID_NUMBER));
            }
            self.digits();
        }
        Ok(())
    }

    /// A string after its opening quote.
    fn string(&mut self) -> Result<(), SyntaxError> {
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.error(EOF_STRING));
            };
            match byte {
                b'"' => {
                    self.at += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.at += 1;
                    self.escape()?;
                }
                0..=0x1f => {
                    return Err(self
                        .error("control character (\\u0000-\\u001F) found while parsing a string"))
                }
                _ => self.at += 1,
            }
        }
    }

    fn escape(&mut self) -> Result<(), SyntaxError> {
        let Some(byte) = self.peek() else {
            return Err(self.error(EOF_STRING));
        };
        self.at += 1;
        match byte {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            b'u' => {
                let Some(digits) = self.bytes.get(self.at..self.at + 4) else {
                    self.at = self.bytes.len();
                    return Err(self.error(EOF_STRING));
                };
                self.at += 4;
                if digits.iter().all(u8::is_ascii_hexdigit) {
                    Ok(())
                } else {
                    Err(self.error("invalid escape"))
                }
            }
            _ => Err(self.error("invalid escape")),
        }
    }
}
