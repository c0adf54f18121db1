//! Who the caller is once a credential passed, and which headers carry that upstream.
//!
//! A leaf shared by the token checks, the introspection answers, the verified-token cache and
//! the decision: [`Identity`] is what a verified token says about its bearer, [`Forward`] the
//! configured identity headers (the names a client must never set itself), [`forwarded_text`]
//! and [`claim_text`] the format of their values, [`member_at`] the one way a claim inside
//! nested objects is found (claim conditions, path bindings and forwarded claims alike).

use std::borrow::Cow;

use crate::json::{write, Map, Value};

use crate::request::allowlist::Cidr;

/// What a verified token says about its bearer; what the cache keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Index of the provider in the policy.
    pub provider: usize,
    /// The `sub` claim.
    pub subject: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Applications the token grants (the provider's apps claim).
    pub apps: Vec<String>,
    /// The OAuth client the token was issued to (`client_id`, else `azp`).
    pub client_id: Option<String>,
    /// Networks the token itself restricts its use to (the provider's network claim).
    pub allowed_cidrs: Vec<Cidr>,
    /// The token's audiences that its provider accepts (what a route's `audiences` narrow).
    pub audiences: Vec<String>,
    /// The token's values at the claims the policy's conditions read, same index as the
    /// provider's `condition_claims`; `None` where absent or `null`.
    pub claim_values: Vec<Option<Value>>,
    /// Configured claims to forward, as (index in `forward.claims`, header value).
    pub forwarded_claims: Vec<(usize, String)>,
    /// The token's `exp`.
    pub expires_at: u64,
    /// The token's `jti`, kept so that a cached token is still checked against its provider's
    /// revocation list.
    pub token_id: Option<String>,
    /// The token's `iat`, kept for the revocation list's per-subject "not before" times.
    pub issued_at: Option<u64>,
    /// What the token is bound to (its `cnf` claim, RFC 7800), kept with the cached identity so
    /// that a cached bound token is still checked for its proof or certificate.
    pub confirmation: Option<Confirmation>,
}

/// A token's `cnf` claim: the key or certificate a sender-constrained token is bound to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmation {
    /// `cnf.jkt`: the RFC 7638 SHA-256 thumbprint of the DPoP key (RFC 9449), base64url.
    pub jkt: Option<String>,
    /// `cnf."x5t#S256"`: the SHA-256 of the client certificate (RFC 8705), base64url.
    pub x5t_s256: Option<String>,
    /// `cnf` is present but malformed: refused wherever a binding mechanism is configured
    /// (elsewhere the token is a bearer token, as before binding existed).
    pub malformed: bool,
}

impl Identity {
    /// Whether every scope in `required` was granted.
    pub fn has_scopes(&self, required: &[String]) -> bool {
        required.iter().all(|scope| self.scopes.contains(scope))
    }
}

/// Headers that carry the caller's identity upstream. Client-sent copies are always removed.
#[derive(Debug, Default, Clone)]
pub struct Forward {
    /// Header for the token's `sub`.
    pub subject_header: Option<String>,
    /// Header for the granted scopes, space-separated.
    pub scopes_header: Option<String>,
    /// Header for the name of the provider that issued the token.
    pub provider_header: Option<String>,
    /// Header for the client id (API key id, or the token's `client_id`/`azp`).
    pub client_header: Option<String>,
    /// Header for the credential kind (`jwt`, `api_key`, `basic`).
    pub credential_header: Option<String>,
    /// Header for the application named in the request and granted to the caller.
    pub application_header: Option<String>,
    /// The claims sent upstream, each in its own header.
    pub claims: Vec<ForwardedClaim>,
    /// Header saying how the token was sender-constrained (`dpop`, `mtls`), if it was.
    pub confirmation_header: Option<String>,
}

impl Forward {
    /// Every header name this block writes: the names a client must never set itself.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        // One array flattened, not seven chained iterators: each `chain` nests another
        // adapter type, and the six nested ones cost 2 KB of code (issue 22).
        [
            &self.subject_header,
            &self.scopes_header,
            &self.provider_header,
            &self.client_header,
            &self.credential_header,
            &self.application_header,
            &self.confirmation_header,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .chain(self.claims.iter().map(|claim| claim.header.as_str()))
    }
}

/// A claim `forward.claims` sends upstream: where it is in the token's claims, and the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedClaim {
    /// Its path as configured (`realm_access.roles`).
    pub path: String,
    /// The object members on the way, outermost first (the path parsed, escapes resolved).
    pub members: Vec<String>,
    /// The header it is sent in.
    pub header: String,
}

/// The value at `members` of `claims` (members of nested objects, outermost first; never an
/// array index), if every member on the way exists.
pub fn member_at<'v>(claims: &'v Map<String, Value>, members: &[String]) -> Option<&'v Value> {
    let (first, rest) = members.split_first()?;
    let mut value = claims.get(first)?;
    for member in rest {
        value = value.as_object()?.get(member)?;
    }
    Some(value)
}

/// `value` as an identity header carries it, so that every HTTP recipient reads exactly what the
/// edge verified. As it is when it is plain: empty, or visible ASCII and inner spaces, not
/// starting with `"`, `[` or `{`. Anything else (leading or trailing whitespace, which HTTP
/// strips; control characters; non-ASCII, which HTTP calls obs-text; a leading quote or bracket)
/// as a JSON string, quoted, with every character outside visible ASCII escaped as `\uXXXX`. A
/// reader takes a value starting with `"` as JSON and any other value as it is.
pub fn forwarded_text(value: &str) -> Cow<'_, str> {
    let bytes = value.as_bytes();
    let plain = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            !matches!(first, b'"' | b'[' | b'{' | b' ')
                && *last != b' '
                && bytes.iter().all(|byte| (0x20..0x7f).contains(byte))
        }
        // Empty reads as empty everywhere.
        _ => true,
    };
    if plain {
        return Cow::Borrowed(value);
    }
    let mut json = String::new();
    write::string(&mut json, value);
    Cow::Owned(ascii_json(&json))
}

/// A claim's value as its `forward.claims` header carries it (`None` for `null`: no header), so
/// that a reader can never take one value for two or two for one:
/// - a string as [`forwarded_text`] writes it, but JSON-quoted when it has a comma (it is then
///   never read as a list);
/// - an array of one or more strings, each plain in [`forwarded_text`]'s sense and without `,`,
///   `"` or `\`, as those strings joined by `,` (`a,b`): an HTTP list (RFC 9110 section 5.6.1)
///   whose elements need no quoting;
/// - anything else (a number, a boolean, an object, an empty array, an array with another
///   element) as compact JSON text with every character outside printable ASCII escaped.
///
/// A reader takes a value starting with `"`, `[` or `{` as JSON and splits any other one of a
/// list claim at commas; a one-element list reads as its element.
pub fn claim_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) if !text.contains(',') => Some(forwarded_text(text).into_owned()),
        Value::Array(items) if !items.is_empty() && items.iter().all(is_list_element) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => Some(ascii_json(&other.to_string())),
    }
}

/// An array element that can be written bare in a comma-separated list.
fn is_list_element(value: &Value) -> bool {
    value.as_str().is_some_and(|text| {
        !text.is_empty()
            && matches!(forwarded_text(text), Cow::Borrowed(_))
            && !text.contains([',', '"', '\\'])
    })
}

const HEX_DIGITS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
];

/// Compact JSON text with every character outside printable ASCII escaped (`\uXXXX`, UTF-16
/// pairs beyond the BMP), so that it passes through HTTP headers unchanged. Such characters only
/// occur inside JSON strings, where an escape means the same.
pub fn ascii_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for ch in json.chars() {
        if (' '..='~').contains(&ch) {
            out.push(ch);
        } else {
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    let digit = HEX_DIGITS.get(usize::from((*unit >> shift) & 0xf));
                    out.push(digit.copied().unwrap_or('0'));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json_value as json;

    fn text(value: Value) -> Option<String> {
        claim_text(&value)
    }

    #[test]
    fn plain_string_arrays_are_comma_separated() {
        assert_eq!(text(json!(["a", "b"])).as_deref(), Some("a,b"));
        assert_eq!(text(json!(["admins"])).as_deref(), Some("admins"));
        assert_eq!(
            text(json!(["team a", "x@y.example", "k=v"])).as_deref(),
            Some("team a,x@y.example,k=v")
        );
    }

    #[test]
    fn arrays_a_list_could_misread_are_json() {
        let cases = [
            (json!([]), "[]"),
            (json!([1, 2]), "[1,2]"),
            (json!(["a", 1, true, null]), r#"["a",1,true,null]"#),
            (json!([["a", "b"], "c"]), r#"[["a","b"],"c"]"#),
            (json!([{"a": "b"}]), r#"[{"a":"b"}]"#),
            (json!(["a,b", "c"]), r#"["a,b","c"]"#),
            (json!(["a\"b"]), r#"["a\"b"]"#),
            (json!(["a\\b"]), r#"["a\\b"]"#),
            (json!([" padded"]), r#"[" padded"]"#),
            (json!(["padded "]), r#"["padded "]"#),
            (json!([""]), r#"[""]"#),
            (json!(["a", ""]), r#"["a",""]"#),
            (json!(["[x]"]), r#"["[x]"]"#),
            (json!(["{x}"]), r#"["{x}"]"#),
            (json!(["Jos\u{e9}"]), r#"["Jos\u00e9"]"#),
            (json!(["a\r\nx-evil: 1"]), r#"["a\r\nx-evil: 1"]"#),
            (json!(["\u{1f600}"]), r#"["\ud83d\ude00"]"#),
        ];
        for (value, expected) in cases {
            assert_eq!(text(value.clone()).as_deref(), Some(expected), "{value}");
        }
    }

    #[test]
    fn a_string_with_a_comma_is_quoted_so_it_is_never_read_as_two() {
        assert_eq!(text(json!("a,b")).as_deref(), Some(r#""a,b""#));
        assert_eq!(text(json!("alice")).as_deref(), Some("alice"));
        assert_eq!(text(json!(" alice")).as_deref(), Some(r#"" alice""#));
        assert_eq!(text(json!("Jos\u{e9}")).as_deref(), Some(r#""Jos\u00e9""#));
    }

    #[test]
    fn scalars_objects_and_null() {
        assert_eq!(text(json!(42)).as_deref(), Some("42"));
        assert_eq!(text(json!(-1.5)).as_deref(), Some("-1.5"));
        assert_eq!(text(json!(true)).as_deref(), Some("true"));
        assert_eq!(
            text(json!({"b": ["\u{fc}"]})).as_deref(),
            Some(r#"{"b":["\u00fc"]}"#)
        );
        assert_eq!(text(Value::Null), None);
    }

    #[test]
    fn every_value_is_a_valid_header_value_that_reads_back() {
        for value in [
            json!(["a", "b"]),
            json!(["a,b"]),
            json!(["\u{0}", "\t"]),
            json!("x\u{7f}y"),
            json!({"k": "\u{2028}"}),
        ] {
            let written = text(value.clone()).unwrap();
            assert!(
                written.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{written}"
            );
            if written.starts_with(['"', '[', '{']) {
                assert_eq!(serde_json::from_str::<Value>(&written).unwrap(), value);
            }
        }
    }
}
