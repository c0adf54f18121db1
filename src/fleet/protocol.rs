//! Envoy's rate limit service protocol on the wire: the `ShouldRateLimit` request edge-auth
//! sends and the parts of the answer it reads, encoded and decoded by hand (a few dozen lines
//! instead of a protobuf runtime in the `.wasm`).
//!
//! Only what the protocol itself defines is used (`envoy.service.ratelimit.v3`): the request's
//! `domain` (field 1), `descriptors` (2: each a list of `entries` (1), each `key` (1) and
//! `value` (2)) and `hits_addend` (3); the answer's `overall_code` (1) and each descriptor
//! status's `code` (`statuses`, 2: `code`, 1), in the order of the request's descriptors. Every
//! other field of the answer is skipped, so any conforming server works.

/// The gRPC service and method edge-auth calls.
pub const SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
/// The method of [`SERVICE`].
pub const METHOD: &str = "ShouldRateLimit";

/// One descriptor: its entries, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// `(key, value)` pairs.
    pub entries: Vec<(&'static str, String)>,
}

/// A descriptor's (or the whole answer's) code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `UNKNOWN` (0), or a value this protocol version does not define.
    Unknown,
    /// `OK` (1): under the limit.
    Ok,
    /// `OVER_LIMIT` (2).
    OverLimit,
}

/// What the service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `overall_code`.
    pub overall: Code,
    /// The code of each descriptor, in the request's order (a server may send none).
    pub statuses: Vec<Code>,
}

/// Why an answer could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The `RateLimitRequest` for `domain`, `descriptors` and `hits_addend`.
pub fn encode_request(domain: &str, descriptors: &[Descriptor], hits_addend: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    length_delimited(&mut out, 1, domain.as_bytes());
    for descriptor in descriptors {
        let mut body = Vec::with_capacity(48);
        for (key, value) in &descriptor.entries {
            let mut entry = Vec::with_capacity(key.len() + value.len() + 4);
            length_delimited(&mut entry, 1, key.as_bytes());
            length_delimited(&mut entry, 2, value.as_bytes());
            length_delimited(&mut body, 1, &entry);
        }
        length_delimited(&mut out, 2, &body);
    }
    if hits_addend != 0 {
        varint(&mut out, 3 << 3);
        varint(&mut out, u64::from(hits_addend));
    }
    out
}

/// Reads a `RateLimitResponse`.
pub fn decode_response(bytes: &[u8]) -> Result<Answer, Malformed> {
    let mut answer = Answer {
        overall: Code::Unknown,
        statuses: Vec::new(),
    };
    let mut reader = Reader(bytes);
    while let Some((field, value)) = reader.field()? {
        match (field, value) {
            (1, Value::Varint(code)) => answer.overall = code_of(code),
            (2, Value::Bytes(status)) => {
                let mut code = Code::Unknown;
                let mut inner = Reader(status);
                while let Some((field, value)) = inner.field()? {
                    if let (1, Value::Varint(value)) = (field, value) {
                        code = code_of(value);
                    }
                }
                answer.statuses.push(code);
            }
            _ => {}
        }
    }
    Ok(answer)
}

fn code_of(value: u64) -> Code {
    match value {
        1 => Code::Ok,
        2 => Code::OverLimit,
        _ => Code::Unknown,
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn length_delimited(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A field's value, by wire type.
enum Value<'b> {
    Varint(u64),
    Bytes(&'b [u8]),
    Fixed,
}

struct Reader<'b>(&'b [u8]);

impl<'b> Reader<'b> {
    fn varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or(Malformed)?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(Malformed)
    }

    fn take(&mut self, len: usize) -> Result<&'b [u8], Malformed> {
        if len > self.0.len() {
            return Err(Malformed);
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(taken)
    }

    /// The next field number and value; `None` at the end.
    fn field(&mut self) -> Result<Option<(u64, Value<'b>)>, Malformed> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.take(8).map(|_| Value::Fixed)?,
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| Malformed)?;
                Value::Bytes(self.take(len)?)
            }
            5 => self.take(4).map(|_| Value::Fixed)?,
            _ => return Err(Malformed),
        };
        Ok(Some((tag >> 3, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_encoded_field_by_field() {
        let descriptor = Descriptor {
            entries: vec![("k", "v".to_string())],
        };
        let bytes = encode_request("d", &[descriptor], 1);
        // domain "d"; descriptors { entries { key "k" value "v" } }; hits_addend 1
        let expected = [
            0x0a, 1, b'd', 0x12, 8, 0x0a, 6, 0x0a, 1, b'k', 0x12, 1, b'v', 0x18, 1,
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn long_fields_get_multi_byte_lengths() {
        let value = "x".repeat(300);
        let descriptor = Descriptor {
            entries: vec![("key", value.clone())],
        };
        let bytes = encode_request("edge-auth", &[descriptor], 0);
        let mut reader = Reader(&bytes);
        let Some((1, Value::Bytes(domain))) = reader.field().unwrap() else {
            panic!("domain first")
        };
        assert_eq!(domain, b"edge-auth");
        let Some((2, Value::Bytes(descriptor))) = reader.field().unwrap() else {
            panic!("descriptor second")
        };
        let Some((1, Value::Bytes(entry))) = Reader(descriptor).field().unwrap() else {
            panic!("entry")
        };
        let mut entry = Reader(entry);
        assert!(matches!(
            entry.field().unwrap(),
            Some((1, Value::Bytes(b"key")))
        ));
        assert!(
            matches!(entry.field().unwrap(), Some((2, Value::Bytes(v))) if v == value.as_bytes())
        );
        assert!(reader.field().unwrap().is_none(), "no hits_addend when 0");
    }

    #[test]
    fn an_answer_gives_its_overall_code_and_each_status_code() {
        // overall_code OVER_LIMIT; statuses [{code OK, limit_remaining 3}, {code OVER_LIMIT,
        // duration_until_reset {seconds 60}}]; an unknown fixed64 field; response_headers_to_add.
        let bytes = [
            0x08, 2, 0x12, 4, 0x08, 1, 0x18, 3, 0x12, 6, 0x08, 2, 0x22, 2, 0x08, 60, 0x41, 0, 0, 0,
            0, 0, 0, 0, 0, 0x1a, 0,
        ];
        let answer = decode_response(&bytes).unwrap();
        assert_eq!(answer.overall, Code::OverLimit);
        assert_eq!(answer.statuses, [Code::Ok, Code::OverLimit]);
        assert_eq!(
            decode_response(&[]).unwrap().overall,
            Code::Unknown,
            "an empty answer decides nothing"
        );
    }

    #[test]
    fn truncated_or_malformed_answers_are_errors_not_panics() {
        let bytes = [0x08, 2, 0x12, 4, 0x08, 1, 0x18, 3];
        for end in 0..bytes.len() {
            let _ = decode_response(&bytes[..end]);
        }
        assert_eq!(decode_response(&[0x12, 5, 0x08]), Err(Malformed));
        assert_eq!(decode_response(&[0x0b]), Err(Malformed), "group wire type");
        assert_eq!(
            decode_response(&[0x08; 11]),
            Err(Malformed),
            "endless varint"
        );
        assert_eq!(
            decode_response(&[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(Malformed)
        );
    }
}
