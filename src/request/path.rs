//! The path a request's route rule is chosen by, and the paths refused because their meaning
//! depends on how the upstream decodes them.
//!
//! Upstreams read one path in different ways: many percent-decode `%2F` into a separator, some
//! treat `\` as `/`, servlet containers drop `;` parameters (and read `..;` as `..`), some decode
//! twice, most resolve `.`/`..` and merge `//`. A rule chosen on one reading and served on another
//! would let a spelling borrow another route's rule, so [`canonical`] refuses (400) every path
//! whose reading could differ:
//! - a path that does not start with `/` (other than `*`), a fragment (`#`), a backslash, a control character or space, a malformed escape (`%` without
//!   two hex digits), an escape that decodes to a control character, or escapes whose bytes are
//!   not UTF-8 (overlong encodings of `/` and `.`);
//! - encoded delimiters `%2F`, `%5C`, `%3F`, `%23` (unless `encoded_delimiters` is `keep`: then
//!   they are data inside a segment, for upstreams known not to decode them);
//! - `;` or `%3B` (path parameters; unless `parameters` is `keep`: then they are data);
//! - double encoding (`%25` followed by an escape, such as `%252e`);
//! - empty segments (`//`) and dot-segments (`.`, `..`), also when percent-encoded, separated by
//!   an encoded `/` or `\`, or followed by a `;` parameter (`..;`), whatever the options.
//!
//! What remains is matched with escaped unreserved characters decoded (RFC 3986 §6.2.2.2:
//! `/devic%65s` is `/devices`) and the other escapes' hex digits in upper case; where decoding
//! changed which rule matches, the caller refuses too (see [`Canonical::decoded`]). Matching is
//! case-sensitive.

use std::borrow::Cow;
use std::fmt;

/// What the filter does with spellings some upstreams decode and others keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathOptions {
    /// `%2F`, `%5C`, `%3F`, `%23` are data inside a segment instead of refused.
    pub keep_encoded_delimiters: bool,
    /// `;` and `%3B` are data inside a segment instead of refused.
    pub keep_parameters: bool,
    /// How rules compare letters (ASCII only).
    pub letter_case: LetterCase,
}

/// How rules compare the letters of a path with their prefixes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LetterCase {
    /// Case-sensitive, and a path whose rule would differ under a case-insensitive comparison is
    /// refused: its rule would depend on how the upstream routes.
    #[default]
    Reject,
    /// Case-sensitive: the upstream routes case-sensitively.
    Sensitive,
    /// Case-insensitive: the upstream routes without regard to case (ASP.NET, IIS).
    Insensitive,
}

/// Why a path is refused. The `Display` text is what the 400 response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// Neither `*` nor a path starting with `/`.
    NotAbsolute,
    /// A `#`: fragments are never sent in a request.
    Fragment,
    /// A literal `\`, which some upstreams read as `/`.
    Backslash,
    /// A control character or a space, literal or percent-encoded.
    ControlCharacter,
    /// `%` not followed by two hex digits.
    MalformedEscape,
    /// Percent-encoded bytes that are not UTF-8 (such as an overlong `/`).
    NotUtf8,
    /// `%2F`, `%5C`, `%3F` or `%23`.
    EncodedDelimiter,
    /// `;` or `%3B`.
    Parameter,
    /// An escape that decodes to another escape (`%252e`).
    DoubleEncoding,
    /// `//`.
    EmptySegment,
    /// A `.` or `..` segment, literal or encoded.
    DotSegment,
    /// Decoding escaped unreserved characters changed the rule the path matches.
    AmbiguousEscape,
    /// Comparing letters without regard to case changes the rule the path matches.
    AmbiguousCase,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path does not start with /",
            PathError::Fragment => "the path contains a fragment (#)",
            PathError::Backslash => "the path contains a backslash",
            PathError::ControlCharacter => "the path contains a control character or space",
            PathError::MalformedEscape => "the path contains a malformed percent-escape",
            PathError::NotUtf8 => "the path's percent-escapes are not UTF-8",
            PathError::EncodedDelimiter => {
                "the path contains an encoded delimiter (%2F, %5C, %3F or %23)"
            }
            PathError::Parameter => "the path contains a ; parameter",
            PathError::DoubleEncoding => "the path is percent-encoded twice",
            PathError::EmptySegment => "the path contains an empty segment (//)",
            PathError::DotSegment => "the path contains dot-segments",
            PathError::AmbiguousEscape => "the path's percent-escapes change which rule applies",
            PathError::AmbiguousCase => "the path's letter case changes which rule applies",
        })
    }
}

impl std::error::Error for PathError {}

/// A path that passed [`canonical`]: the form rules are matched against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canonical<'a> {
    /// The path without query, escaped unreserved characters decoded, other escapes in upper
    /// case.
    pub path: Cow<'a, str>,
    /// Whether the canonical form differs from the path as written (an escape decoded or its hex
    /// digits upper-cased): the path is then also matched as written, and both must choose the
    /// same rule.
    pub decoded: bool,
}

/// The path of `target` (`:path`, query included) that rules are matched against, or why it is
/// refused; see the module documentation.
pub fn canonical(target: &str, options: PathOptions) -> Result<Canonical<'_>, PathError> {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if !path.starts_with('/') && path != "*" {
        return Err(PathError::NotAbsolute);
    }
    check_literal(path, options)?;
    if !path.contains('%') {
        check_segments(path.as_bytes())?;
        return Ok(Canonical {
            path: Cow::Borrowed(path),
            decoded: false,
        });
    }
    let decoded = percent_decode(path, options)?;
    check_decoded(&decoded)?;
    check_segments(&decoded)?;
    let normalised = normalise_escapes(path);
    Ok(if normalised == path {
        Canonical {
            path: Cow::Borrowed(path),
            decoded: false,
        }
    } else {
        Canonical {
            path: Cow::Owned(normalised),
            decoded: true,
        }
    })
}

/// The literal characters: no fragment, backslash, control character, space or (unless kept)
/// parameter.
fn check_literal(path: &str, options: PathOptions) -> Result<(), PathError> {
    for byte in path.bytes() {
        match byte {
            b'#' => return Err(PathError::Fragment),
            b'\\' => return Err(PathError::Backslash),
            b';' if !options.keep_parameters => return Err(PathError::Parameter),
            0..=0x20 | 0x7f => return Err(PathError::ControlCharacter),
            _ => {}
        }
    }
    Ok(())
}

/// Every escape of `path` decoded; a malformed escape, and (unless the options keep them) an
/// encoded delimiter or parameter, refused.
fn percent_decode(path: &str, options: PathOptions) -> Result<Vec<u8>, PathError> {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte != b'%' {
            decoded.push(byte);
            at += 1;
            continue;
        }
        let value = bytes
            .get(at + 1..at + 3)
            .and_then(hex_pair)
            .ok_or(PathError::MalformedEscape)?;
        match value {
            b'/' | b'\\' | b'?' | b'#' if !options.keep_encoded_delimiters => {
                return Err(PathError::EncodedDelimiter)
            }
            b';' if !options.keep_parameters => return Err(PathError::Parameter),
            _ => decoded.push(value),
        }
        at += 3;
    }
    Ok(decoded)
}

/// What the escapes decoded to (literal characters were checked before): no control character,
/// no further escape (`%25` decodes to the only `%` there can be), UTF-8 as a whole.
fn check_decoded(decoded: &[u8]) -> Result<(), PathError> {
    for (at, byte) in decoded.iter().enumerate() {
        match byte {
            0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
            b'%' if decoded
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) =>
            {
                return Err(PathError::DoubleEncoding)
            }
            _ => {}
        }
    }
    std::str::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
    Ok(())
}

/// Segments of the decoded path, split at every `/` and `\` and read without `;` parameters:
/// none `.` or `..`, none empty inside the path (a leading and a trailing `/` are no `//`), none
/// that is only a parameter (which servlet containers read as empty).
fn check_segments(decoded: &[u8]) -> Result<(), PathError> {
    let separator = |byte: &u8| matches!(byte, b'/' | b'\\');
    let count = decoded.split(separator).count();
    for (index, segment) in decoded.split(separator).enumerate() {
        let name = segment
            .split(|byte| *byte == b';')
            .next()
            .unwrap_or(segment);
        if matches!(name, b"." | b"..") {
            return Err(PathError::DotSegment);
        }
        let inner = index != 0 && index + 1 != count;
        if name.is_empty() && (inner || !segment.is_empty()) {
            return Err(PathError::EmptySegment);
        }
    }
    Ok(())
}

/// The value of two hex digits.
fn hex_pair(hex: &[u8]) -> Option<u8> {
    let digit = |byte: u8| (byte as char).to_digit(16);
    match hex {
        [high, low] => u8::try_from(digit(*high)? * 16 + digit(*low)?).ok(),
        _ => None,
    }
}

/// The upper-case hex digit of `nibble` (below 16).
fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).map_or('0', |digit| digit.to_ascii_uppercase())
}

/// Whether an escaped byte is an unreserved character (RFC 3986 §2.3), which means the same
/// decoded or not.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// `path` (whose escapes are well-formed) with escaped unreserved characters decoded and the
/// other escapes' hex digits in upper case.
fn normalise_escapes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some((before, after)) = rest.split_once('%') {
        out.push_str(before);
        let value = after.get(..2).and_then(|hex| hex_pair(hex.as_bytes()));
        match value {
            Some(value) if is_unreserved(value) => out.push(char::from(value)),
            Some(value) => {
                out.push('%');
                out.push(hex_digit(value >> 4));
                out.push(hex_digit(value & 0xf));
            }
            None => {
                out.push('%');
                rest = after;
                continue;
            }
        }
        rest = after.get(2..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: PathOptions = PathOptions {
        keep_encoded_delimiters: false,
        keep_parameters: false,
        letter_case: LetterCase::Reject,
    };
    const KEEP: PathOptions = PathOptions {
        keep_encoded_delimiters: true,
        keep_parameters: true,
        letter_case: LetterCase::Reject,
    };

    fn path(target: &str, options: PathOptions) -> Result<String, PathError> {
        canonical(target, options).map(|c| c.path.into_owned())
    }

    #[test]
    fn plain_paths_are_borrowed_as_they_are_without_query() {
        let c = canonical("/devices/42?x=%2F&y=;", STRICT).unwrap();
        assert_eq!(c.path, "/devices/42");
        assert!(matches!(c.path, Cow::Borrowed(_)));
        assert!(!c.decoded);
        for ok in [
            "/",
            "*",
            "/a/",
            "/a.b/.well-known/x..y",
            "/Products('a.b')",
            "/é/x",
        ] {
            assert_eq!(path(ok, STRICT).as_deref(), Ok(ok), "{ok}");
        }
    }

    #[test]
    fn escaped_unreserved_characters_are_decoded_others_upper_cased() {
        let c = canonical("/devic%65s/%7euser/%c3%a9/%2c", STRICT).unwrap();
        assert_eq!(c.path, "/devices/~user/%C3%A9/%2C");
        assert!(c.decoded);
        let c = canonical("/a/%C3%A9", STRICT).unwrap();
        assert_eq!(c.path, "/a/%C3%A9");
        assert!(!c.decoded, "already canonical");
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let cases = [
            ("/public/..%2Fdevices", PathError::EncodedDelimiter),
            ("/public/..%5cdevices", PathError::EncodedDelimiter),
            ("/devices%2F", PathError::EncodedDelimiter),
            ("/devices%3Fx", PathError::EncodedDelimiter),
            ("/devices%23x", PathError::EncodedDelimiter),
            ("/devices;x=1", PathError::Parameter),
            ("/devices%3bx=1", PathError::Parameter),
            ("/public/..\\devices", PathError::Backslash),
            ("/public#/../devices", PathError::Fragment),
            ("/public/%252e%252e/devices", PathError::DoubleEncoding),
            (
                "/public/%25%32%65%25%32%65/devices",
                PathError::DoubleEncoding,
            ),
            ("/public/%2e%2e/devices", PathError::DotSegment),
            ("/public/../devices", PathError::DotSegment),
            ("/public/./x", PathError::DotSegment),
            ("//devices", PathError::EmptySegment),
            ("/a//b", PathError::EmptySegment),
            ("/a/%00", PathError::ControlCharacter),
            ("/a/%0a", PathError::ControlCharacter),
            ("/a/%7F", PathError::ControlCharacter),
            ("/a b", PathError::ControlCharacter),
            ("/a\tb", PathError::ControlCharacter),
            ("/a/%zz", PathError::MalformedEscape),
            ("/a/%2", PathError::MalformedEscape),
            ("/a/%", PathError::MalformedEscape),
            ("/a/%c0%af", PathError::NotUtf8),
            ("/a/%ff", PathError::NotUtf8),
            ("", PathError::NotAbsolute),
            ("devices", PathError::NotAbsolute),
            ("%2Fdevices", PathError::NotAbsolute),
        ];
        for (target, reason) in cases {
            assert_eq!(path(target, STRICT), Err(reason), "{target}");
        }
    }

    #[test]
    fn kept_delimiters_and_parameters_are_data_but_never_hide_dots_or_empty_segments() {
        assert_eq!(path("/files/a%2fb", KEEP).as_deref(), Ok("/files/a%2Fb"));
        assert_eq!(path("/devices;x=1", KEEP).as_deref(), Ok("/devices;x=1"));
        assert_eq!(path("/a/b%3Bc", KEEP).as_deref(), Ok("/a/b%3Bc"));
        let cases = [
            ("/public/..%2Fdevices", PathError::DotSegment),
            ("/public/x/..%2f..%2fdevices", PathError::DotSegment),
            ("/public/%2e%2e%5cdevices", PathError::DotSegment),
            ("/public/..;/devices", PathError::DotSegment),
            ("/public/..;x=1/devices", PathError::DotSegment),
            ("/public/.%3b/devices", PathError::DotSegment),
            ("/a/%2F%2Fb", PathError::EmptySegment),
            ("/a/;x/b", PathError::EmptySegment),
            ("/public%2F..%2Fdevices", PathError::DotSegment),
            ("/x/%252f", PathError::DoubleEncoding),
        ];
        for (target, reason) in cases {
            assert_eq!(path(target, KEEP), Err(reason), "{target}");
        }
    }

    #[test]
    fn a_query_never_counts_as_path() {
        assert_eq!(path("/a?b=..%2F", STRICT).as_deref(), Ok("/a"));
        assert_eq!(path("/a?#", STRICT).as_deref(), Ok("/a"));
    }

    /// Dot-segments by their definition (decode `%2e`, split at `/`): on every path of up to 7
    /// characters over the bytes that matter, a path with one is refused.
    #[test]
    fn dot_segments_are_refused_on_every_short_path() {
        let by_decoding = |path: &str| {
            path.split('/').any(|segment| {
                let decoded = segment.replace("%2e", ".").replace("%2E", ".");
                decoded == "." || decoded == ".."
            })
        };
        let alphabet = ['.', '%', '2', 'e', 'E', 'a', '/'];
        let mut paths = vec!["/".to_string()];
        for _ in 0..7 {
            let longer: Vec<String> = paths
                .iter()
                .flat_map(|path| alphabet.iter().map(move |c| format!("{path}{c}")))
                .collect();
            for path in &longer {
                if by_decoding(path) {
                    assert!(canonical(path, KEEP).is_err(), "{path:?}");
                }
            }
            paths = longer;
        }
    }
}
