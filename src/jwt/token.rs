//! Bearer JWT validation: from the compact token string to a verified [`Identity`].
//!
//! Checks run cheapest first, so a token that fails cheaply never reaches the signature:
//! size and shape, header (`alg`, `kid`, `crit`), issuer, algorithm allow-list, key lookup,
//! time (`exp`, `nbf`, `iat`, lifetime) and audience, and only then the signature. The header's
//! `alg` and `kid` only pick candidate keys; what a key may verify is decided by the provider.

use std::fmt;

use crate::identity::{claim_text, member_at, Forward, Identity};
use crate::json::record::{Record, Refused};
use crate::json::value::object_from_slice;
use crate::json::{Map, Value};
use crate::jwt::algorithm::Algorithm;
use crate::jwt::confirmation::read_confirmation;
use crate::jwt::jwks::{KeySet, VerificationKey};
use crate::jwt::provider::Provider;
use crate::request::allowlist::Cidr;

/// Longest token accepted, in bytes. Real access tokens are 1-4 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Most keys tried for a token without `kid`: bounds the work one request can cause.
const MAX_KEYS_WITHOUT_KID: usize = 4;

/// Why a token was refused. The `Display` text is safe to show clients: it names the check,
/// never key material or claim values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Larger than [`MAX_TOKEN_BYTES`].
    TooLarge,
    /// Not three base64url parts with JSON header and claims.
    Malformed,
    /// `alg: none`.
    Unsigned,
    /// An `alg` edge-auth does not implement.
    UnsupportedAlgorithm,
    /// A `crit` header parameter: no extension is understood, so none may be critical.
    CriticalExtension,
    /// No `iss` claim.
    MissingIssuer,
    /// `iss` names no configured provider.
    UnknownIssuer,
    /// `alg` is not in the provider's allow-list.
    AlgorithmNotAllowed,
    /// The provider requires access tokens (`typ: at+jwt`, RFC 9068 section 2.1) and the
    /// header's `typ` is another or missing: an ID token, say, with a matching `aud`.
    NotAnAccessToken,
    /// `kid` names no key of the provider.
    UnknownKey,
    /// The provider's keys come from its issuer and none have arrived yet.
    KeysUnavailable,
    /// No key of the provider can verify this algorithm.
    NoKeyForAlgorithm,
    /// No `exp` claim, or not a non-negative NumericDate.
    MissingExpiry,
    /// `exp` is past (beyond the clock skew).
    Expired,
    /// `nbf` is in the future.
    NotYetValid,
    /// `iat` is in the future.
    IssuedInFuture,
    /// `exp - iat` (or `exp - now`) exceeds the provider's maximum lifetime.
    LifetimeTooLong,
    /// `nbf` or `iat` present but not a non-negative NumericDate.
    BadTimeClaim,
    /// `aud` missing or naming none of the provider's audiences.
    AudienceNotAllowed,
    /// The signature does not verify with any candidate key.
    BadSignature,
    /// The provider's network claim is not a list of CIDRs.
    BadNetworkClaim,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::TooLarge => "token is too large",
            TokenError::Malformed => "token is not a well-formed JWT",
            TokenError::Unsigned => "unsigned tokens are not accepted",
            TokenError::UnsupportedAlgorithm => "token algorithm is not supported",
            TokenError::CriticalExtension => "token uses an unsupported critical header",
            TokenError::MissingIssuer => "token has no issuer",
            TokenError::UnknownIssuer => "token issuer is not trusted",
            TokenError::AlgorithmNotAllowed => "token algorithm is not allowed for its issuer",
            TokenError::NotAnAccessToken => "token is not an access token (typ must be at+jwt)",
            TokenError::UnknownKey => "token signing key is unknown",
            TokenError::KeysUnavailable => "the issuer's signing keys are not available",
            TokenError::NoKeyForAlgorithm => "no key of the issuer verifies the token's algorithm",
            TokenError::MissingExpiry => "token has no valid expiry",
            TokenError::Expired => "token has expired",
            TokenError::NotYetValid => "token is not valid yet",
            TokenError::IssuedInFuture => "token is issued in the future",
            TokenError::LifetimeTooLong => "token lifetime exceeds the allowed maximum",
            TokenError::BadTimeClaim => "token has an invalid time claim",
            TokenError::AudienceNotAllowed => "token audience is not accepted",
            TokenError::BadSignature => "token signature is invalid",
            TokenError::BadNetworkClaim => "token has an invalid network claim",
        })
    }
}

impl std::error::Error for TokenError {}

/// The token checks in the order [`verify_with_keys`] runs them, as named in explanations.
pub const CHECKS: [&str; 8] = [
    "format (size, three base64url parts, JSON header and claims, a signed algorithm, no crit)",
    "issuer (iss names a configured provider)",
    "algorithm allowed for the issuer (and typ at+jwt where required)",
    "signing key (kid and algorithm)",
    "time (exp, nbf, iat, maximum lifetime)",
    "audience",
    "signature",
    "claims (network claim)",
];

impl TokenError {
    /// Index in [`CHECKS`] of the check that refused the token: every check before it passed,
    /// none after it ran.
    pub fn check(self) -> usize {
        match self {
            TokenError::TooLarge
            | TokenError::Malformed
            | TokenError::Unsigned
            | TokenError::UnsupportedAlgorithm
            | TokenError::CriticalExtension => 0,
            TokenError::MissingIssuer | TokenError::UnknownIssuer => 1,
            TokenError::AlgorithmNotAllowed | TokenError::NotAnAccessToken => 2,
            TokenError::UnknownKey
            | TokenError::KeysUnavailable
            | TokenError::NoKeyForAlgorithm => 3,
            TokenError::MissingExpiry
            | TokenError::Expired
            | TokenError::NotYetValid
            | TokenError::IssuedInFuture
            | TokenError::LifetimeTooLong
            | TokenError::BadTimeClaim => 4,
            TokenError::AudienceNotAllowed => 5,
            TokenError::BadSignature => 6,
            TokenError::BadNetworkClaim => 7,
        }
    }
}

/// The JOSE header: `alg` required, the others optional (`null` is absent); a field named twice,
/// or of the wrong type, is malformed (as serde's derived reading refused them).
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<Value>,
}

impl Header {
    fn decode(part: &str) -> Result<Header, TokenError> {
        let fields =
            Record::from_slice(&decode_base64(part)?).map_err(|_| TokenError::Malformed)?;
        let read = || -> Result<Header, Refused> {
            Ok(Header {
                alg: fields.required_string("alg")?,
                typ: fields.string("typ")?,
                kid: fields.string("kid")?,
                crit: fields.value("crit")?,
            })
        };
        read().map_err(|_| TokenError::Malformed)
    }
}

/// Where the verification keys of each provider are found: the configuration's inline keys, or
/// the worker's store of keys fetched from the issuers.
pub trait KeyLookup {
    /// The current keys of the provider at `index`, or `None` while none are known.
    fn keys_of(&self, index: usize) -> Option<&KeySet>;

    /// The version of the provider's key set: changes whenever its keys change, so a token
    /// verified under another version is checked again (keys written in the configuration
    /// never change: 0).
    fn key_version(&self, _index: usize) -> u64 {
        0
    }

    /// What the revocation list of the token's provider says about a verified `identity`, at
    /// `now` (Unix seconds): asked on every decision, a cache hit included, so it must be a
    /// lookup in memory (no list configured: [`Revocation::Clear`]).
    fn revocation(&self, _identity: &Identity, _now: u64) -> Revocation {
        Revocation::Clear
    }
}

/// What a provider's revocation list says about a verified token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Not listed (or the provider has no list).
    Clear,
    /// Its `jti` is listed, or its subject's tokens issued before a time are refused.
    Revoked,
    /// The provider's list was never fetched, and the provider refuses tokens until it is.
    Unavailable,
}

/// The keys written in the configuration (empty for providers whose keys are fetched).
pub struct InlineKeys<'a>(pub &'a [Provider]);

impl KeyLookup for InlineKeys<'_> {
    fn keys_of(&self, index: usize) -> Option<&KeySet> {
        self.0
            .get(index)
            .map(|provider| &provider.keys)
            .filter(|keys| !keys.is_empty())
    }
}

/// Validates `token` against the configured providers and their inline keys at time `now`
/// (Unix seconds).
pub fn verify(
    token: &str,
    providers: &[Provider],
    forward: &Forward,
    now: u64,
) -> Result<Identity, TokenError> {
    verify_with_keys(token, providers, &InlineKeys(providers), forward, now)
}

/// The index of the provider whose issuer the token names (unverified: only to route a
/// key refetch, never to trust anything).
pub fn claimed_provider(token: &str, providers: &[Provider]) -> Option<usize> {
    let claims_b64 = token.split('.').nth(1)?;
    let claims = decode_claims(claims_b64).ok()?;
    let issuer = claims.get("iss").and_then(Value::as_str)?;
    Provider::for_issuer(providers, issuer).map(|(index, _)| index)
}

/// Validates `token` at time `now` (Unix seconds), with each provider's keys from `keys`.
pub fn verify_with_keys(
    token: &str,
    providers: &[Provider],
    keys: &dyn KeyLookup,
    forward: &Forward,
    now: u64,
) -> Result<Identity, TokenError> {
    check_before_signature(token, providers, keys, now)?.verify_signature(providers, forward)
}

/// A token that passed every check but the signature: what [`Unverified::verify_signature`]
/// needs, so that a caller can decide, between the cheap checks and the signature math,
/// whether the math may run at all (the signature-check budget).
pub struct Unverified<'t, 'k> {
    token: &'t str,
    claims: Map<String, Value>,
    signature: Vec<u8>,
    provider_index: usize,
    candidates: Vec<&'k VerificationKey>,
    expires_at: u64,
}

/// The checks of [`verify_with_keys`] that come before the signature, cheapest first: size and
/// shape, header, issuer, algorithm, key lookup, time and audience.
pub fn check_before_signature<'t, 'k>(
    token: &'t str,
    providers: &[Provider],
    keys: &'k dyn KeyLookup,
    now: u64,
) -> Result<Unverified<'t, 'k>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };

    let header = Header::decode(header_b64)?;
    if header.alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::Unsigned);
    }
    let algorithm = Algorithm::from_name(&header.alg).ok_or(TokenError::UnsupportedAlgorithm)?;
    if header.crit.is_some() {
        return Err(TokenError::CriticalExtension);
    }
    let signature = match crate::base64::decode_url(signature_b64) {
        Some(bytes) if !bytes.is_empty() => bytes,
        _ => return Err(TokenError::Malformed),
    };

    let claims = decode_claims(claims_b64)?;
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(TokenError::MissingIssuer)?;
    let (provider_index, provider) =
        Provider::for_issuer(providers, issuer).ok_or(TokenError::UnknownIssuer)?;
    if !provider.algorithms.contains(&algorithm) {
        return Err(TokenError::AlgorithmNotAllowed);
    }
    if provider.require_access_token_type && !is_access_token_type(header.typ.as_deref()) {
        return Err(TokenError::NotAnAccessToken);
    }
    let kid = header.kid.as_deref();
    let key_set = keys
        .keys_of(provider_index)
        .ok_or(TokenError::KeysUnavailable)?;
    let candidates: Vec<_> = key_set
        .candidates(algorithm, kid)
        .take(MAX_KEYS_WITHOUT_KID)
        .collect();
    if candidates.is_empty() {
        return Err(match kid {
            Some(kid) if !key_set.has_kid(kid) => TokenError::UnknownKey,
            _ => TokenError::NoKeyForAlgorithm,
        });
    }

    let expires_at = check_time(&claims, provider, now)?;
    check_audience(&claims, provider)?;
    Ok(Unverified {
        token,
        claims,
        signature,
        provider_index,
        candidates,
        expires_at,
    })
}

impl Unverified<'_, '_> {
    /// The index of the provider whose issuer the token names (not yet verified).
    pub fn provider(&self) -> usize {
        self.provider_index
    }

    /// The signature math, and then the identity the claims describe.
    pub fn verify_signature(
        self,
        providers: &[Provider],
        forward: &Forward,
    ) -> Result<Identity, TokenError> {
        let provider = providers
            .get(self.provider_index)
            .ok_or(TokenError::UnknownIssuer)?;
        // The signing input is the token up to its last dot (it has exactly two).
        let signing_input = self
            .token
            .rsplit_once('.')
            .map_or("", |(input, _)| input)
            .as_bytes();
        let verified = self.candidates.iter().any(|key| {
            let ok = key.verify(signing_input, &self.signature);
            if !ok {
                log::debug!(
                    "provider {}: key {:?} rejected the token's signature",
                    provider.name,
                    key.kid()
                );
            }
            ok
        });
        if !verified {
            return Err(TokenError::BadSignature);
        }
        identity_from_claims(
            &self.claims,
            self.provider_index,
            provider,
            forward,
            self.expires_at,
        )
    }
}

/// Whether a header's `typ` says "JWT access token": `at+jwt`, or in full
/// `application/at+jwt` (RFC 9068 section 2.1; media types compare without case, RFC 7515
/// section 4.1.9).
fn is_access_token_type(typ: Option<&str>) -> bool {
    typ.is_some_and(|typ| {
        typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
    })
}

/// Whether `token` has the shape of a JWS compact token (three parts, a JSON header):
/// anything else is an opaque token, for introspection.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(_), Some(_), None) => Header::decode(header).is_ok(),
        _ => false,
    }
}

/// The identity that verified claims (a JWT's, or an introspection answer's) describe;
/// an error when the provider's network claim is malformed.
pub fn identity_from_claims(
    claims: &Map<String, Value>,
    provider_index: usize,
    provider: &Provider,
    forward: &Forward,
    expires_at: u64,
) -> Result<Identity, TokenError> {
    let mut allowed_cidrs = Vec::new();
    if let Some(value) = provider
        .cidrs_claim
        .as_ref()
        .and_then(|name| claims.get(name))
    {
        for text in string_list(value) {
            allowed_cidrs.push(Cidr::parse(&text).map_err(|_| TokenError::BadNetworkClaim)?);
        }
    }
    // The token's audiences this provider accepts, in the token's order.
    let mut audiences = Vec::new();
    let mut accept = |aud: &str| {
        if provider.audiences.iter().any(|known| known == aud) {
            audiences.push(aud.to_string());
        }
    };
    match claims.get("aud") {
        Some(Value::String(aud)) => accept(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).for_each(accept),
        _ => {}
    }
    let mut forwarded_claims = Vec::new();
    for (index, claim) in forward.claims.iter().enumerate() {
        if let Some(value) = member_at(claims, &claim.members).and_then(claim_text) {
            forwarded_claims.push((index, value));
        }
    }
    let client_id = ["client_id", "azp"]
        .iter()
        .find_map(|name| claims.get(*name).and_then(Value::as_str))
        .map(str::to_string);

    Ok(Identity {
        provider: provider_index,
        client_id,
        allowed_cidrs,
        subject: claims
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_string),
        scopes: provider
            .scope_claims
            .iter()
            .find_map(|name| claims.get(name))
            .map(scope_list)
            .unwrap_or_default(),
        apps: provider
            .apps_claim
            .as_ref()
            .and_then(|name| claims.get(name))
            .map(string_list)
            .unwrap_or_default(),
        audiences,
        claim_values: provider
            .condition_claims
            .iter()
            .map(|path| path.keep(claims))
            .collect(),
        forwarded_claims,
        expires_at,
        token_id: claims
            .get("jti")
            .and_then(Value::as_str)
            .map(str::to_string),
        issued_at: claims
            .get("iat")
            .and_then(|value| numeric_date(value, Rounding::Down)),
        confirmation: read_confirmation(claims),
    })
}

fn decode_base64(part: &str) -> Result<Vec<u8>, TokenError> {
    crate::base64::decode_url(part).ok_or(TokenError::Malformed)
}

/// A claims set: one JSON object (a repeated claim keeps its last value, as serde_json did).
fn decode_claims(part: &str) -> Result<Map<String, Value>, TokenError> {
    object_from_slice(&decode_base64(part)?).ok_or(TokenError::Malformed)
}

/// Checks `exp` (required), `nbf`, `iat` and the lifetime; returns `exp`.
fn check_time(
    claims: &Map<String, Value>,
    provider: &Provider,
    now: u64,
) -> Result<u64, TokenError> {
    let skew = provider.clock_skew_seconds;
    let numeric = |name: &str, rounding: Rounding| -> Result<Option<u64>, TokenError> {
        match claims.get(name) {
            None => Ok(None),
            Some(value) => numeric_date(value, rounding)
                .map(Some)
                .ok_or(TokenError::BadTimeClaim),
        }
    };
    let exp = claims
        .get("exp")
        .and_then(|value| numeric_date(value, Rounding::Down))
        .ok_or(TokenError::MissingExpiry)?;
    let nbf = numeric("nbf", Rounding::Up)?;
    // Down: the lifetime `exp - iat` is never under-counted.
    let iat = numeric("iat", Rounding::Down)?;
    if exp.saturating_add(skew) < now {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
        return Err(TokenError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(skew)) {
        return Err(TokenError::IssuedInFuture);
    }
    if let Some(max) = provider.max_lifetime_seconds {
        let lifetime = exp.saturating_sub(iat.unwrap_or(now));
        if lifetime > max {
            return Err(TokenError::LifetimeTooLong);
        }
    }
    Ok(exp)
}

/// Which way a fractional NumericDate is made whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Toward the past: for `exp` (a token never lives longer) and `iat`.
    Down,
    /// Toward the future: for `nbf` (a token never becomes valid sooner).
    Up,
}

/// A NumericDate (RFC 7519 §2: seconds since the epoch, possibly fractional) as whole seconds,
/// rounded as `rounding` says from the exact decimal the claim spells (no double in between:
/// `1700000000.99999999999999999` rounds down to 1700000000); values past `u64` saturate.
/// `None` for anything but a non-negative number (`-0` is zero).
pub fn numeric_date(value: &Value, rounding: Rounding) -> Option<u64> {
    let seconds = value.as_number()?.scaled(0)?;
    Some(match rounding {
        Rounding::Down => seconds.floor(),
        Rounding::Up => seconds.ceil(),
    })
}

/// Checks that `aud` names one of the provider's audiences.
pub fn check_audience(claims: &Map<String, Value>, provider: &Provider) -> Result<(), TokenError> {
    let accepted = |aud: &str| provider.audiences.iter().any(|a| a == aud);
    let ok = match claims.get("aud") {
        Some(Value::String(aud)) => accepted(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(accepted),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(TokenError::AudienceNotAllowed)
    }
}

/// A claim holding a space-separated string or an array of strings, as a list: the string is
/// split on SP (U+0020) only, as RFC 6749 §3.3 separates scopes, never on other whitespace.
fn string_list(value: &Value) -> Vec<String> {
    let mut list = Vec::new();
    match value {
        Value::String(text) => {
            for item in text.split(' ').filter(|item| !item.is_empty()) {
                list.push(item.to_string());
            }
        }
        Value::Array(items) => {
            for item in items.iter().filter_map(Value::as_str) {
                list.push(item.to_string());
            }
        }
        _ => {}
    }
    list
}

/// A scope claim as granted scopes: [`string_list`], keeping only RFC 6749 scope-tokens
/// (`%x21 / %x23-5B / %x5D-7E`, at least one). Anything else is not granted and never
/// forwarded: a character outside that set (other whitespace, `"`, `\`, control characters,
/// non-ASCII) or, in an array element, a space, which would read as two scopes once joined.
fn scope_list(value: &Value) -> Vec<String> {
    let mut scopes = string_list(value);
    scopes.retain(|scope| is_scope_token(scope));
    scopes
}

/// Whether `scope` is one RFC 6749 scope-token.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|byte| matches!(byte, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}
