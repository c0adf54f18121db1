//! Token binding: what a sender-constrained token is bound to (its `cnf` claim, RFC 7800) and
//! whether the request proves it holds that key (DPoP, RFC 9449) or certificate (RFC 8705).
//!
//! The values compared here are public (thumbprints of public keys and certificates), so plain
//! comparison is fine. The certificate's SHA-256 reaches edge-auth as hex (Envoy's
//! `connection.sha256_peer_certificate_digest`, or the `Hash=` of a trusted
//! `X-Forwarded-Client-Cert`); `cnf."x5t#S256"` is base64url, so the hex is converted once.

use std::fmt;

use crate::identity::Confirmation;
use crate::json::{Map, Value};

/// What a provider or a route demands of a token's binding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SenderConstraint {
    /// Unbound (bearer) tokens are accepted; bound tokens are still checked for their binding
    /// when that mechanism is configured.
    #[default]
    None,
    /// Only DPoP-bound tokens (`cnf.jkt`) presented with a valid proof.
    Dpop,
    /// Only certificate-bound tokens (`cnf."x5t#S256"`) presented over the bound certificate.
    Mtls,
    /// Either binding, proven.
    Either,
}

impl SenderConstraint {
    /// Every value, in the order the configuration documents them.
    pub const ALL: [SenderConstraint; 4] = [
        SenderConstraint::Dpop,
        SenderConstraint::Mtls,
        SenderConstraint::Either,
        SenderConstraint::None,
    ];

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            SenderConstraint::None => "none",
            SenderConstraint::Dpop => "dpop",
            SenderConstraint::Mtls => "mtls",
            SenderConstraint::Either => "either",
        }
    }

    /// Parses a configuration name.
    pub fn from_name(name: &str) -> Option<SenderConstraint> {
        SenderConstraint::ALL
            .into_iter()
            .find(|constraint| constraint.name() == name)
    }

    /// Whether a DPoP-bound token satisfies it.
    pub fn allows_dpop(self) -> bool {
        matches!(
            self,
            SenderConstraint::None | SenderConstraint::Dpop | SenderConstraint::Either
        )
    }

    /// Whether a certificate-bound token satisfies it.
    pub fn allows_mtls(self) -> bool {
        matches!(
            self,
            SenderConstraint::None | SenderConstraint::Mtls | SenderConstraint::Either
        )
    }
}

/// Why a token's binding was refused. Safe to show clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingError {
    /// `cnf` is present but not an object of strings.
    MalformedConfirmation,
    /// The route or provider requires a sender-constrained token and this one is a bearer token.
    NotSenderConstrained,
    /// A DPoP-bound token came as `Bearer` (a downgrade) or without a proof.
    DpopProofRequired,
    /// The `DPoP` scheme was used for a token that is not DPoP-bound.
    NotDpopBound,
    /// The proof's key is not the key the token is bound to.
    KeyMismatch,
    /// A certificate-bound token came without a client certificate.
    CertificateRequired,
    /// The client certificate is not the one the token is bound to.
    CertificateMismatch,
}

impl fmt::Display for BindingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BindingError::MalformedConfirmation => "token has an invalid cnf claim",
            BindingError::NotSenderConstrained => "a sender-constrained token is required",
            BindingError::DpopProofRequired => {
                "token is DPoP-bound: present it with the DPoP scheme and a proof"
            }
            BindingError::NotDpopBound => "token is not DPoP-bound",
            BindingError::KeyMismatch => "the DPoP proof key is not the key the token is bound to",
            BindingError::CertificateRequired => {
                "token is certificate-bound: a client certificate is required"
            }
            BindingError::CertificateMismatch => {
                "the client certificate is not the one the token is bound to"
            }
        })
    }
}

impl std::error::Error for BindingError {}

/// The `cnf` claim of verified claims as the identity keeps it: `None` without one, marked
/// `malformed` when [`confirmation_from_claims`] refuses it.
pub fn read_confirmation(claims: &Map<String, Value>) -> Option<Confirmation> {
    confirmation_from_claims(claims).unwrap_or_else(|_| {
        Some(Confirmation {
            malformed: true,
            ..Confirmation::default()
        })
    })
}

/// The `cnf` claim, strictly: `None` without one, an error when it is not an object whose
/// `jkt` and `x5t#S256` members (if present) are non-empty strings.
pub fn confirmation_from_claims(
    claims: &Map<String, Value>,
) -> Result<Option<Confirmation>, BindingError> {
    let Some(cnf) = claims.get("cnf") else {
        return Ok(None);
    };
    let cnf = cnf.as_object().ok_or(BindingError::MalformedConfirmation)?;
    let member = |name: &str| -> Result<Option<String>, BindingError> {
        match cnf.get(name) {
            None => Ok(None),
            Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.clone())),
            Some(_) => Err(BindingError::MalformedConfirmation),
        }
    };
    let confirmation = Confirmation {
        jkt: member("jkt")?,
        x5t_s256: member("x5t#S256")?,
        malformed: false,
    };
    // A `cnf` with other members only (`jwk`, `kid`, ...) binds to nothing edge-auth checks.
    Ok((confirmation.jkt.is_some() || confirmation.x5t_s256.is_some()).then_some(confirmation))
}

/// Base64url (no padding) of a SHA-256 given as 64 hex digits (either case): the form of
/// `cnf."x5t#S256"` from the form Envoy and `X-Forwarded-Client-Cert` report.
/// Only hex digits, exactly 64 of them ([`crate::clients::parse_digest_hex`]).
pub fn certificate_thumbprint_from_hex(hex: &str) -> Option<String> {
    let digest = crate::clients::parse_digest_hex(hex.trim())?;
    Some(crate::base64::encode_url(&digest))
}

/// The certificate hash (`Hash=`, hex SHA-256 of the DER) in an `X-Forwarded-Client-Cert`
/// value, as base64url. Only a value with exactly one element is used: several elements mean
/// several hops appended certificates, and which one the token is bound to cannot be told.
pub fn forwarded_certificate_thumbprint(xfcc: &str) -> Option<String> {
    if split_outside_quotes(xfcc, ',').len() != 1 {
        return None;
    }
    split_outside_quotes(xfcc, ';')
        .into_iter()
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("hash")
                .then(|| value.trim().trim_matches('"').to_string())
        })
        .and_then(|hex| certificate_thumbprint_from_hex(&hex))
}

/// Splits on `separator` where it is not inside a quoted string (XFCC quotes subjects and
/// URIs, which may contain `,` and `;`).
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(text.get(start..index).unwrap_or_default());
            start = index + c.len_utf8();
        }
    }
    parts.push(text.get(start..).unwrap_or_default());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json_value as json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn cnf_with_jkt_and_certificate_thumbprint_is_read() {
        let found =
            confirmation_from_claims(&claims(json!({"cnf": {"jkt": "abc", "x5t#S256": "def"}})))
                .unwrap()
                .unwrap();
        assert_eq!(found.jkt.as_deref(), Some("abc"));
        assert_eq!(found.x5t_s256.as_deref(), Some("def"));
        assert_eq!(confirmation_from_claims(&claims(json!({}))).unwrap(), None);
        assert_eq!(
            confirmation_from_claims(&claims(json!({"cnf": {"kid": "k"}}))).unwrap(),
            None
        );
    }

    #[test]
    fn malformed_cnf_is_refused() {
        for cnf in [json!("jkt"), json!({"jkt": 7}), json!({"x5t#S256": ""})] {
            assert_eq!(
                confirmation_from_claims(&claims(json!({ "cnf": cnf }))),
                Err(BindingError::MalformedConfirmation)
            );
        }
    }

    #[test]
    fn hex_digest_becomes_base64url() {
        // SHA-256 of the empty string.
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            certificate_thumbprint_from_hex(hex).as_deref(),
            Some("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU")
        );
        assert_eq!(
            certificate_thumbprint_from_hex(&hex.to_uppercase()).as_deref(),
            Some("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU")
        );
        assert_eq!(certificate_thumbprint_from_hex("e3b0"), None);
        assert_eq!(certificate_thumbprint_from_hex(&"zz".repeat(32)), None);
    }

    #[test]
    fn xfcc_hash_is_read_from_a_single_element_only() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let one = format!("By=spiffe://edge;Hash={hex};Subject=\"CN=a, O=b;c\";URI=");
        assert_eq!(
            forwarded_certificate_thumbprint(&one).as_deref(),
            Some("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU")
        );
        let two = format!("Hash={hex},Hash={hex}");
        assert_eq!(forwarded_certificate_thumbprint(&two), None);
        assert_eq!(forwarded_certificate_thumbprint("By=x"), None);
    }
}
