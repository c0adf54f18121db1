//! The field path at a position of a JSON document (`providers[0].jwks.keys[1].kty`), so that a
//! configuration error names the field: serde_json's syntax errors give only a line and column,
//! and the typed reader ([`super::read`]) stops where serde's derived code stopped.
//!
//! A scanner of the part serde_json read, instead of a deserializer that tracks the path
//! (`serde_path_to_error`): that one wrapped the generated code of every configuration type,
//! 58 KB of the `.wasm` and about 2 MiB of Envoy's resident memory (docs/performance.md, Memory).

/// One open container on the way to the position.
enum Frame {
    /// An object, with the key read last (until the `,` after its value).
    Object(Option<String>),
    /// An array, with the index of the current element and whether that element has begun.
    Array(usize, bool),
}

/// The byte offset of serde_json's `line` and `column` in `json`: serde_json counts lines from
/// 1 and the column as the bytes read on that line, so this is where it stopped reading.
#[cfg(test)]
pub(crate) fn offset_of(json: &[u8], line: usize, column: usize) -> usize {
    let line_start = match line.checked_sub(2) {
        None => 0,
        Some(newlines) => json
            .iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b'\n')
            .nth(newlines)
            .map_or(json.len(), |(at, _)| at + 1),
    };
    line_start.saturating_add(column)
}

/// The path of the key or value that the first `offset` bytes of `json` end in: object keys
/// joined with `.`, array elements as `[i]`, empty for the document itself. An object's key
/// counts from the moment it is read (so an unknown field is named) until the `,` after its
/// value; a closed container no longer counts (so a missing field names its object). Any input
/// gives some path; it is exact for what serde_json accepted before it stopped. An array's
/// element counts from its first byte, even one serde_json only looked at (so a wrong element
/// is named, and a list cut off after `[` names the list).
pub(crate) fn path_at(json: &[u8], offset: usize) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    let mut bytes = json.iter().take(offset);
    while let Some(&byte) = bytes.next() {
        if let Some(Frame::Array(_, begun)) = stack.last_mut() {
            // An element is named once it begins, not at `[` or `,` (nor at the `]`).
            *begun |= !matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b',' | b']');
        }
        match byte {
            b'"' => {
                let text = read_string(&mut bytes);
                // The first string after `{` or `,` in an object is a key; the others are values.
                // A key cut off by the end of what was read is not named.
                if let (Some(Frame::Object(key @ None)), Some(text)) = (stack.last_mut(), text) {
                    *key = Some(text);
                }
            }
            b'{' => stack.push(Frame::Object(None)),
            b'[' => stack.push(Frame::Array(0, false)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object(key)) => *key = None,
                Some(Frame::Array(index, begun)) => {
                    *index += 1;
                    *begun = false;
                }
                None => {}
            },
            _ => {}
        }
    }
    // serde_json enters an element when it sees the element's first byte, before reading it.
    if let Some(Frame::Array(_, begun @ false)) = stack.last_mut() {
        *begun = json
            .iter()
            .skip(offset)
            .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
            .is_some_and(|byte| *byte != b']');
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object(None) | Frame::Array(_, false) => {}
            Frame::Array(index, true) => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

/// The rest of a string whose opening quote was read, up to its closing quote (`None` without
/// one); an escaped character is kept as the character after the backslash.
fn read_string<'a>(bytes: &mut impl Iterator<Item = &'a u8>) -> Option<String> {
    let mut text = Vec::new();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'"' => return Some(String::from_utf8_lossy(&text).into_owned()),
            b'\\' => text.push(*bytes.next()?),
            _ => text.push(byte),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_where_serde_json_stops(json: &str) -> String {
        let err = serde_json::from_str::<serde_json::Value>(json).unwrap_err();
        path_at(
            json.as_bytes(),
            offset_of(json.as_bytes(), err.line(), err.column()),
        )
    }

    #[test]
    fn keys_and_indexes_make_the_path() {
        let json = br#"{"a": {"b": [1, {"c": 2}]}}"#;
        assert_eq!(path_at(json, json.len()), "");
        let at = json.iter().position(|b| *b == b'2').unwrap() + 1;
        assert_eq!(path_at(json, at), "a.b[1].c");
    }

    #[test]
    fn a_key_counts_until_the_comma_after_its_value() {
        let json = br#"{"a": 1, "b": 2}"#;
        assert_eq!(path_at(json, 4), "a");
        assert_eq!(path_at(json, 7), "a");
        assert_eq!(path_at(json, 8), "");
    }

    #[test]
    fn a_closed_object_names_its_parent() {
        let json = br#"{"list": [{"x": 1}]}"#;
        let after_close = json.iter().position(|b| *b == b'}').unwrap() + 1;
        assert_eq!(path_at(json, after_close), "list[0]");
    }

    #[test]
    fn escaped_quotes_do_not_end_a_key() {
        let json = br#"{"a\"b": [true"#;
        assert_eq!(path_at(json, json.len()), "a\"b[0]");
    }

    #[test]
    fn lines_and_columns_are_those_of_serde_json() {
        assert_eq!(
            path_where_serde_json_stops("{\n  \"a\": [1,\n    2,\n    x]}"),
            "a[2]"
        );
        assert_eq!(path_where_serde_json_stops("{\"a\": {\"b\" 1}}"), "a.b");
        assert_eq!(path_where_serde_json_stops("[1, 2"), "[1]");
    }

    #[test]
    fn a_key_cut_off_is_not_named() {
        assert_eq!(path_at(br#"{"a": {"unfinish"#, 16), "a");
        assert_eq!(path_at(br#"{"a": {"b\"#, 10), "a");
    }

    #[test]
    fn offsets_past_the_end_are_harmless() {
        assert_eq!(offset_of(b"{}", 7, 3), 5);
        assert_eq!(path_at(b"{\"a\": [", 100), "a");
        assert_eq!(path_at(b"{\"a\": [1, ", 100), "a");
        assert_eq!(path_at(b"{\"a\": [1, {", 100), "a[1]");
        assert_eq!(path_at(b"{\"a\": [1, {}]}", 10), "a[1]");
        assert_eq!(path_at(b"{\"a\": [1, ]}", 10), "a");
        assert_eq!(path_at(b"", 3), "");
        assert_eq!(path_at(b"]]}}\"", 5), "");
    }
}
