//! Sender-constrained tokens in the decision: after a JWT is verified (or found in the cache),
//! is the request made by the party the token is bound to?
//!
//! - DPoP (RFC 9449): `Authorization: DPoP <token>` with one `DPoP: <proof>` header; the proof
//!   must pass [`crate::jwt::dpop::check_proof`] for this request's method and URL and the
//!   token, its key's thumbprint must be the token's `cnf.jkt` (compared before the key is
//!   built), and then its signature verify, which spends a check of the source's budget
//!   ([`crate::policy::abuse`]) on every request, cached token or not. A DPoP-bound token
//!   presented as `Bearer` is refused (no downgrade). The proof's `jti` goes back to the host as a
//!   [`ReplayEntry`], recorded in the workers' shared replay cache before the request goes on.
//! - mTLS (RFC 8705): a token with `cnf."x5t#S256"` must come over a TLS connection whose client
//!   certificate has that SHA-256 (Envoy's connection, or opt-in a trusted front proxy's
//!   `X-Forwarded-Client-Cert`).
//!
//! Each mechanism is checked only when configured (`dpop`, `mtls`); the provider's or the
//! route's `sender_constraint` then says whether an unbound token is still acceptable.
//!
//! The URL a proof must name (`htu`) is the configured `dpop.external_origin` followed by the
//! path, or, without it, `:scheme://:authority` as Envoy received them: behind a proxy that
//! changes either, configure `external_origin` (forwarded headers are never trusted for it).

use crate::identity::Identity;
use crate::jwt::confirmation::{
    certificate_thumbprint_from_hex, forwarded_certificate_thumbprint, BindingError,
    SenderConstraint,
};
use crate::jwt::dpop::{check_proof, ProofRules, ProofTarget};
use crate::policy::abuse::Guard;
use crate::policy::deny::Denial;
use crate::policy::rules::Route;
use crate::policy::sender::dpop_nonce;
use crate::policy::sender::replay::{ReplayEntry, ReplayLimits};
use crate::policy::Policy;
use crate::request::credential::{NonceKey, Request};

/// The request header carrying the DPoP proof.
pub const DPOP_HEADER: &str = "dpop";
/// The request header a trusted front proxy puts the client certificate's details in.
pub const XFCC_HEADER: &str = "x-forwarded-client-cert";

/// The compiled `dpop` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopSettings {
    /// What a proof must satisfy.
    pub rules: ProofRules,
    /// Size of the shared replay cache.
    pub replay: ReplayLimits,
    /// `scheme://host[:port]` clients use to reach the API, when Envoy sees another one.
    pub external_origin: Option<String>,
    /// Server nonces: how long one window lasts, when they are required.
    pub nonce_lifetime_seconds: Option<u64>,
    /// The fleet's configured nonce keys (the first issues, all are accepted); empty: the
    /// workers' random key, which holds for one Envoy only ([`Request::dpop_nonce_key`]).
    pub nonce_keys: Vec<NonceKey>,
}

/// Where the client certificate of an mTLS-bound token is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateSource {
    /// The TLS connection Envoy terminated (`connection.sha256_peer_certificate_digest`).
    Connection,
    /// The `Hash=` of `X-Forwarded-Client-Cert`, set by a trusted front proxy that terminated
    /// TLS (Envoy must not pass a client's own copy through).
    ForwardedHeader,
}

/// The compiled `mtls` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtlsSettings {
    /// Where the certificate comes from.
    pub certificate_source: CertificateSource,
}

/// Sender-constraint mechanisms configured (each off unless configured).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderSettings {
    /// DPoP, when configured.
    pub dpop: Option<DpopSettings>,
    /// Certificate-bound tokens, when configured.
    pub mtls: Option<MtlsSettings>,
}

/// How a token was shown to be the sender's, for the upstream and the replay cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bound {
    /// `dpop`, `mtls`, `dpop mtls`, or `None` for a bearer token.
    pub via: Option<&'static str>,
    /// The proof to record as used (DPoP).
    pub replay: Option<ReplayEntry>,
}

/// Whether `token` came with the `DPoP` authorization scheme (`Authorization: DPoP <token>`),
/// rather than as a bearer token in any header.
pub fn uses_dpop_scheme(request: &Request, token: &str) -> bool {
    request
        .single_header("authorization")
        .ok()
        .flatten()
        .map(str::trim_start)
        .and_then(|value| Some((value.get(..5)?, value.get(5..)?)))
        .is_some_and(|(scheme, rest)| scheme.eq_ignore_ascii_case("dpop ") && rest.trim() == token)
}

/// The URL a proof for `request` must name, without query: see the module documentation.
pub fn request_url(settings: &DpopSettings, request: &Request) -> Option<String> {
    let path = request.path_only();
    if let Some(origin) = &settings.external_origin {
        return Some(format!("{origin}{path}"));
    }
    let scheme = request.single_header(":scheme").ok().flatten()?;
    let authority = request
        .single_header(":authority")
        .ok()
        .flatten()
        .or_else(|| request.single_header("host").ok().flatten())?;
    Some(format!("{scheme}://{authority}{path}"))
}

/// Checks the binding of the verified `identity`, presented as `token` in `request`, under
/// `route`, at time `now`; a DPoP proof's signature is spent from `guard`'s budget.
pub fn check(
    policy: &Policy,
    route: &Route,
    request: &Request,
    token: &str,
    identity: &Identity,
    guard: Option<&Guard>,
    now: u64,
) -> Result<Bound, Denial> {
    let settings = &policy.sender;
    let required = route.sender_constraint.unwrap_or_else(|| {
        policy
            .providers
            .get(identity.provider)
            .map_or(SenderConstraint::None, |p| p.sender_constraint)
    });
    if settings.dpop.is_none() && settings.mtls.is_none() && required == SenderConstraint::None {
        return Ok(Bound::default());
    }
    let confirmation = identity.confirmation.clone().unwrap_or_default();
    let refuse = |error: BindingError| Denial::InvalidToken(error.to_string());
    if confirmation.malformed {
        return Err(refuse(BindingError::MalformedConfirmation));
    }
    let replay = match &settings.dpop {
        Some(dpop) if uses_dpop_scheme(request, token) => {
            let jkt = confirmation.jkt.as_deref();
            let jkt = jkt.ok_or_else(|| refuse(BindingError::NotDpopBound))?;
            Some(check_dpop(dpop, request, token, jkt, guard, now)?)
        }
        Some(_) if confirmation.jkt.is_some() => {
            return Err(refuse(BindingError::DpopProofRequired))
        }
        _ => None,
    };
    let dpop = replay.is_some();
    let mtls = match (&settings.mtls, &confirmation.x5t_s256) {
        (Some(mtls), Some(bound)) => {
            check_certificate(mtls.certificate_source, request, bound).map_err(refuse)?;
            true
        }
        _ => false,
    };
    let satisfied = match required {
        SenderConstraint::None => true,
        SenderConstraint::Dpop => dpop,
        SenderConstraint::Mtls => mtls,
        SenderConstraint::Either => dpop || mtls,
    };
    if !satisfied {
        return Err(refuse(BindingError::NotSenderConstrained));
    }
    let via = match (dpop, mtls) {
        (true, true) => Some("dpop mtls"),
        (true, false) => Some("dpop"),
        (false, true) => Some("mtls"),
        (false, false) => None,
    };
    Ok(Bound { via, replay })
}

/// The request's DPoP proof for a token bound to `jkt`: cheap checks first, then (spent from
/// `guard`'s budget) its signature, then its nonce; the proof to record as used.
fn check_dpop(
    settings: &DpopSettings,
    request: &Request,
    token: &str,
    jkt: &str,
    guard: Option<&Guard>,
    now: u64,
) -> Result<ReplayEntry, Denial> {
    let proof = match request.single_header(DPOP_HEADER) {
        Ok(Some(proof)) if !proof.contains(',') => proof.trim(),
        Ok(None) => {
            return Err(Denial::InvalidDpopProof(
                "a DPoP proof is required".to_string(),
            ))
        }
        _ => {
            return Err(Denial::InvalidDpopProof(
                "more than one DPoP proof".to_string(),
            ))
        }
    };
    let url = request_url(settings, request).ok_or_else(|| {
        Denial::InvalidRequest("the request URL cannot be determined".to_string())
    })?;
    let target = ProofTarget {
        method: &request.method,
        url: &url,
        access_token: token,
    };
    let invalid = |err: crate::jwt::dpop::ProofError| Denial::InvalidDpopProof(err.to_string());
    let unchecked = check_proof(proof, &settings.rules, &target, now).map_err(invalid)?;
    // Cheap before dear: a proof of another key is refused before its key is built.
    if unchecked.thumbprint() != jkt {
        return Err(Denial::InvalidToken(BindingError::KeyMismatch.to_string()));
    }
    if let Some(guard) = guard {
        guard.spend_signature_check()?;
    }
    let verified = unchecked.verify_signature().map_err(invalid)?;
    if let Some(lifetime) = settings.nonce_lifetime_seconds {
        check_nonce(settings, request, verified.nonce.as_deref(), lifetime, now)?;
    }
    let window = settings
        .rules
        .max_age_seconds
        .saturating_add(settings.rules.clock_skew_seconds);
    Ok(ReplayEntry::new(
        &verified.thumbprint,
        &verified.jti,
        verified.issued_at.saturating_add(window),
    ))
}

/// The client certificate the request presents (from the connection or the forwarded header)
/// is the one a token is `bound` to.
fn check_certificate(
    source: CertificateSource,
    request: &Request,
    bound: &str,
) -> Result<(), BindingError> {
    let presented = match source {
        CertificateSource::Connection => request
            .peer_certificate_sha256
            .as_deref()
            .and_then(certificate_thumbprint_from_hex),
        CertificateSource::ForwardedHeader => request
            .single_header(XFCC_HEADER)
            .ok()
            .flatten()
            .and_then(forwarded_certificate_thumbprint),
    };
    match presented {
        None => Err(BindingError::CertificateRequired),
        Some(presented) if presented != bound => Err(BindingError::CertificateMismatch),
        Some(_) => Ok(()),
    }
}

/// With server nonces on: the proof's `nonce` must be current under one of the keys (the
/// configured ones, else the workers' random one), else 401 `use_dpop_nonce` with a fresh one
/// made with the first. Without any key (the host could not read the workers' one) proofs are
/// refused: 503.
fn check_nonce(
    settings: &DpopSettings,
    request: &Request,
    nonce: Option<&str>,
    lifetime: u64,
    now: u64,
) -> Result<(), Denial> {
    let keys = if settings.nonce_keys.is_empty() {
        request.dpop_nonce_key.as_slice()
    } else {
        settings.nonce_keys.as_slice()
    };
    let Some(issuing) = keys.first() else {
        return Err(Denial::Unavailable(
            "the DPoP nonce key is unavailable".to_string(),
        ));
    };
    if nonce.is_some_and(|nonce| dpop_nonce::accepts(keys, nonce, now, lifetime)) {
        return Ok(());
    }
    Err(Denial::UseDpopNonce(dpop_nonce::issue(
        issuing, now, lifetime,
    )))
}
