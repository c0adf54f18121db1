//! DPoP proofs (RFC 9449 section 4.3): a compact JWS the client signs, per request, with the key
//! its access token is bound to.
//!
//! Checks run cheapest first, in two steps. [`check_proof`]: size and shape, header
//! (`typ: dpop+jwt`, `alg` from the allow-list, a public `jwk` of the algorithm's key type, no
//! `crit`), the key's RFC 7638 thumbprint (from the JWK members: no key is built) and size (RSA at most
//! [`MAX_PROOF_RSA_BITS`], an exponent `jwks` accepts), claims (`htm`, `htu`, `iat` window,
//! `jti`, `ath`). The caller then compares the thumbprint with the token's `cnf.jkt` and may
//! spend a check of its budget before [`UncheckedProof::verify_signature`] builds the key (with
//! [`crate::jwt::jwks`]) and checks the signature: a proof of another key, or an oversized one,
//! costs no key construction and no signature math. Replay (`jti` seen before) is decided
//! later, by the shared replay cache ([`crate::policy::sender::replay`]), since no single worker can
//! know it. [`jwk_thumbprint`] is the RFC 7638 thumbprint a bound token's `cnf.jkt` names.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::json::record::{Record, Refused};
use crate::json::value::object_from_slice;
use crate::json::{write, Map, Value};
use crate::jwt::algorithm::{Algorithm, KeyFamily};
use crate::jwt::jwks::{rsa_key_within, JwkSetDocument, KeySet};
use crate::jwt::token::{numeric_date, Rounding};

/// Longest proof accepted, in bytes (an RSA-4096 `jwk` and signature fit easily).
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// Largest RSA modulus a proof's key may have, in bits. A proof is verified on every request,
/// with a key the client chooses: RSA-8192 costs about 1.7 ms, RSA-4096 a quarter of that, and
/// no client needs more (RFC 9449 proofs are mostly ES256).
pub const MAX_PROOF_RSA_BITS: usize = 4096;
/// Longest `jti` accepted: RFC 9449 suggests 96 bits of randomness; this leaves room for UUIDs.
const MAX_JTI_BYTES: usize = 256;
/// JWK members that are private key material (RFC 7518 section 6): a proof carrying any of them
/// is refused, so no client learns to send its private key around.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof was refused. The `Display` text is safe to show clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofError {
    /// Larger than [`MAX_PROOF_BYTES`].
    TooLarge,
    /// Not three base64url parts with JSON header and claims.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` is `none`, symmetric, unknown, or not in the allow-list.
    AlgorithmNotAllowed,
    /// A `crit` header parameter.
    CriticalExtension,
    /// No `jwk` header, or one that is not an asymmetric public key for `alg`.
    BadKey,
    /// The `jwk` carries private key material.
    PrivateKey,
    /// The signature does not verify with the embedded key.
    BadSignature,
    /// `htm` is not the request method.
    MethodMismatch,
    /// `htu` is not the request URL.
    UrlMismatch,
    /// No integer `iat`.
    MissingIssuedAt,
    /// `iat` is older than the window allows.
    Stale,
    /// `iat` is in the future beyond the clock skew.
    IssuedInFuture,
    /// No `jti`, or an empty or overlong one.
    BadJti,
    /// No `ath`, or not the hash of the presented access token.
    AccessTokenHashMismatch,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProofError::TooLarge => "DPoP proof is too large",
            ProofError::Malformed => "DPoP proof is not a well-formed JWT",
            ProofError::WrongType => "DPoP proof typ is not dpop+jwt",
            ProofError::AlgorithmNotAllowed => "DPoP proof algorithm is not allowed",
            ProofError::CriticalExtension => "DPoP proof uses an unsupported critical header",
            ProofError::BadKey => "DPoP proof has no usable public jwk",
            ProofError::PrivateKey => "DPoP proof jwk contains private key material",
            ProofError::BadSignature => "DPoP proof signature is invalid",
            ProofError::MethodMismatch => "DPoP proof htm does not match the request method",
            ProofError::UrlMismatch => "DPoP proof htu does not match the request URL",
            ProofError::MissingIssuedAt => "DPoP proof has no valid iat",
            ProofError::Stale => "DPoP proof is too old",
            ProofError::IssuedInFuture => "DPoP proof is issued in the future",
            ProofError::BadJti => "DPoP proof has no valid jti",
            ProofError::AccessTokenHashMismatch => "DPoP proof ath does not match the access token",
        })
    }
}

impl std::error::Error for ProofError {}

/// What the configuration accepts of proofs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofRules {
    /// Asymmetric algorithms a proof may be signed with.
    pub algorithms: Vec<Algorithm>,
    /// How old (by its `iat`) a proof may be, in seconds.
    pub max_age_seconds: u64,
    /// Tolerance for clocks, applied to `iat` both ways.
    pub clock_skew_seconds: u64,
}

/// The request a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The request method (`htm`).
    pub method: &'a str,
    /// The URL the client used, without query and fragment (`htu`).
    pub url: &'a str,
    /// The access token presented with the proof (`ath` is its SHA-256).
    pub access_token: &'a str,
}

/// A proof that passed every check but replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 thumbprint of the proof's key, base64url.
    pub thumbprint: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`.
    pub issued_at: u64,
    /// The proof's `nonce`, if it has one (checked by the caller when nonces are on).
    pub nonce: Option<String>,
}

/// A proof's JOSE header: `alg` required, the others optional (`null` is absent); a field
/// named twice, or of the wrong type, is malformed (as serde's derived reading refused them).
struct ProofHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<Map<String, Value>>,
    crit: Option<Value>,
}

impl ProofHeader {
    fn decode(part: &str) -> Result<ProofHeader, ProofError> {
        let fields =
            Record::from_slice(&decode_base64(part)?).map_err(|_| ProofError::Malformed)?;
        let read = || -> Result<ProofHeader, Refused> {
            Ok(ProofHeader {
                typ: fields.string("typ")?,
                alg: fields.required_string("alg")?,
                jwk: fields.object("jwk")?,
                crit: fields.value("crit")?,
            })
        };
        read().map_err(|_| ProofError::Malformed)
    }
}

/// A proof that passed every check but its signature: see [`check_proof`].
pub struct UncheckedProof<'p> {
    signing_input: &'p str,
    signature: Vec<u8>,
    algorithm: Algorithm,
    jwk: Map<String, Value>,
    proof: VerifiedProof,
}

impl UncheckedProof<'_> {
    /// The RFC 7638 thumbprint of the proof's key, base64url, computed from its JWK members.
    pub fn thumbprint(&self) -> &str {
        &self.proof.thumbprint
    }

    /// Builds the proof's key and checks the signature with it: the expensive part.
    pub fn verify_signature(self) -> Result<VerifiedProof, ProofError> {
        let key_document = JwkSetDocument {
            keys: vec![Value::Object(self.jwk)],
        };
        let keys = KeySet::from_jwks(&key_document, &[self.algorithm], "jwk").map_err(|err| {
            log::debug!("DPoP proof key refused: {err}");
            ProofError::BadKey
        })?;
        let key = keys
            .candidates(self.algorithm, None)
            .next()
            .ok_or(ProofError::BadKey)?;
        if !key.verify(self.signing_input.as_bytes(), &self.signature) {
            return Err(ProofError::BadSignature);
        }
        Ok(self.proof)
    }
}

/// Checks `proof` against `target` at time `now` (Unix seconds).
pub fn verify_proof(
    proof: &str,
    rules: &ProofRules,
    target: &ProofTarget<'_>,
    now: u64,
) -> Result<VerifiedProof, ProofError> {
    check_proof(proof, rules, target, now)?.verify_signature()
}

/// Every check of `proof` against `target` at time `now` (Unix seconds) but the signature: no
/// key is built. The thumbprint of the returned proof is what the caller compares with the
/// token's `cnf.jkt` before [`UncheckedProof::verify_signature`].
pub fn check_proof<'p>(
    proof: &'p str,
    rules: &ProofRules,
    target: &ProofTarget<'_>,
    now: u64,
) -> Result<UncheckedProof<'p>, ProofError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProofError::TooLarge);
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    let header = ProofHeader::decode(header_b64)?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(ProofError::WrongType);
    }
    let algorithm = Algorithm::from_name(&header.alg)
        .filter(|alg| alg.key_family() != KeyFamily::Secret && rules.algorithms.contains(alg))
        .ok_or(ProofError::AlgorithmNotAllowed)?;
    if header.crit.is_some() {
        return Err(ProofError::CriticalExtension);
    }
    let jwk = header.jwk.ok_or(ProofError::BadKey)?;
    if PRIVATE_MEMBERS.iter().any(|name| jwk.contains_key(*name)) {
        return Err(ProofError::PrivateKey);
    }
    if public_key_family(&jwk) != Some(algorithm.key_family()) {
        return Err(ProofError::BadKey);
    }
    let thumbprint = jwk_thumbprint(&jwk).ok_or(ProofError::BadKey)?;
    if jwk.get("kty").and_then(Value::as_str) == Some("RSA") {
        let member = |name: &str| jwk.get(name).and_then(Value::as_str).unwrap_or_default();
        if !rsa_key_within(member("n"), member("e"), MAX_PROOF_RSA_BITS) {
            return Err(ProofError::BadKey);
        }
    }
    let signature = match crate::base64::decode_url(signature_b64) {
        Some(bytes) if !bytes.is_empty() => bytes,
        _ => return Err(ProofError::Malformed),
    };

    let claims = object_from_slice(&decode_base64(claims_b64)?).ok_or(ProofError::Malformed)?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("htm") != Some(target.method) {
        return Err(ProofError::MethodMismatch);
    }
    if !text("htu").is_some_and(|htu| same_url(htu, target.url)) {
        return Err(ProofError::UrlMismatch);
    }
    let issued_at = claims
        .get("iat")
        .and_then(|iat| numeric_date(iat, Rounding::Down))
        .ok_or(ProofError::MissingIssuedAt)?;
    if issued_at > now.saturating_add(rules.clock_skew_seconds) {
        return Err(ProofError::IssuedInFuture);
    }
    let oldest = now.saturating_sub(
        rules
            .max_age_seconds
            .saturating_add(rules.clock_skew_seconds),
    );
    if issued_at < oldest {
        return Err(ProofError::Stale);
    }
    let jti = text("jti")
        .filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI_BYTES)
        .ok_or(ProofError::BadJti)?;
    if text("ath") != Some(access_token_hash(target.access_token).as_str()) {
        return Err(ProofError::AccessTokenHashMismatch);
    }

    let signing_input = proof.rsplit_once('.').map_or("", |(input, _)| input);
    let verified = VerifiedProof {
        thumbprint,
        jti: jti.to_string(),
        issued_at,
        nonce: text("nonce").map(str::to_string),
    };
    Ok(UncheckedProof {
        signing_input,
        signature,
        algorithm,
        jwk,
        proof: verified,
    })
}

/// The asymmetric key family a JWK's `kty` (and `crv`) name, read without building the key.
fn public_key_family(jwk: &Map<String, Value>) -> Option<KeyFamily> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    match (member("kty")?, member("crv")) {
        ("RSA", _) => Some(KeyFamily::Rsa),
        ("EC", Some("P-256")) => Some(KeyFamily::P256),
        ("EC", Some("P-384")) => Some(KeyFamily::P384),
        ("OKP", Some("Ed25519")) => Some(KeyFamily::Ed25519),
        _ => None,
    }
}

/// The RFC 7638 JWK thumbprint with SHA-256, base64url: the hash of the JSON object of the key
/// type's required members only, in lexicographic order, without whitespace. `None` for a key
/// type without public members defined here (only `EC`, `OKP` and `RSA` are).
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str)? {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        _ => return None,
    };
    // Strings written with the escaping RFC 7638 asks for (RFC 8259, no whitespace), and the
    // members listed here already sorted.
    let mut canonical = String::from("{");
    for (index, name) in required.iter().enumerate() {
        let value = jwk.get(*name).and_then(Value::as_str)?;
        if index > 0 {
            canonical.push(',');
        }
        write::string(&mut canonical, name);
        canonical.push(':');
        write::string(&mut canonical, value);
    }
    canonical.push('}');
    Some(crate::base64::encode_url(&Sha256::digest(
        canonical.as_bytes(),
    )))
}

/// `ath`: base64url of the SHA-256 of the access token's ASCII.
pub fn access_token_hash(token: &str) -> String {
    crate::base64::encode_url(&Sha256::digest(token.as_bytes()))
}

/// Whether the proof's `htu` names `expected` (which has no query or fragment): query and
/// fragment of `htu` are ignored (RFC 9449 section 4.3), scheme and host compared without case
/// and a default port (`:443` for https, `:80` for http) is the same as none.
pub fn same_url(htu: &str, expected: &str) -> bool {
    let without_query = htu.split(['?', '#']).next().unwrap_or_default();
    match (normalize(without_query), normalize(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `scheme://authority/path` in a canonical form: lower-case scheme and host, no default port,
/// `/` for an empty path. `None` when it is not an absolute http(s) URL.
fn normalize(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}{path}"))
}

fn decode_base64(part: &str) -> Result<Vec<u8>, ProofError> {
    crate::base64::decode_url(part).ok_or(ProofError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json_value as json;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 section 3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn rfc8037_ed25519_thumbprint() {
        // RFC 8037 appendix A.3.
        let jwk = json!({"kty": "OKP", "crv": "Ed25519",
                         "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
    }

    #[test]
    fn thumbprint_needs_every_required_member() {
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": "abc"});
        assert_eq!(jwk_thumbprint(jwk.as_object().unwrap()), None);
        let oct = json!({"kty": "oct", "k": "abc"});
        assert_eq!(jwk_thumbprint(oct.as_object().unwrap()), None);
    }

    #[test]
    fn ath_is_sha256_of_the_token() {
        // RFC 9449 section 7.1 example: the access token and its ath.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn url_comparison_ignores_case_default_port_and_query() {
        let expected = "https://api.example.com/devices/7";
        assert!(same_url("https://API.example.com:443/devices/7", expected));
        assert!(same_url(
            "https://api.example.com/devices/7?x=1#f",
            expected
        ));
        assert!(!same_url("https://api.example.com/devices/8", expected));
        assert!(!same_url("http://api.example.com/devices/7", expected));
        assert!(!same_url(
            "https://api.example.com:8443/devices/7",
            expected
        ));
        assert!(!same_url(
            "https://evil@api.example.com/devices/7",
            expected
        ));
        assert!(same_url("http://h:80", "http://h/"));
    }
}
