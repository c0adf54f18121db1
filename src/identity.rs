//! Who the caller is once a credential passed, and which headers carry that upstream.
//!
//! A leaf shared by the token checks, the introspection answers, the verified-token cache and
//! the decision: [`Identity`] is what a verified token says about its bearer, [`Forward`] the
//! configured identity headers (the names a client must never set itself).

use std::borrow::Cow;

use serde_json::Value;

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
    /// Claim name to header name.
    pub claims: Vec<(String, String)>,
    /// Header saying how the token was sender-constrained (`dpop`, `mtls`), if it was.
    pub confirmation_header: Option<String>,
}

impl Forward {
    /// Every header name this block writes: the names a client must never set itself.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.subject_header
            .iter()
            .chain(self.scopes_header.iter())
            .chain(self.provider_header.iter())
            .chain(self.client_header.iter())
            .chain(self.credential_header.iter())
            .chain(self.application_header.iter())
            .chain(self.confirmation_header.iter())
            .map(String::as_str)
            .chain(self.claims.iter().map(|(_, header)| header.as_str()))
    }
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
    let json = serde_json::to_string(value).unwrap_or_default();
    Cow::Owned(ascii_json(&json))
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
