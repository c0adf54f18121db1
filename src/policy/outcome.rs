//! What the filter reports about each request it decides: the outcome (allowed, denied, would
//! deny in report mode, public, CORS preflight), a stable reason code per refusal, the credential
//! kind, the provider and who the caller is. Metrics and the access log read this; clients never
//! see it (their response is [`crate::policy::deny`]'s, unchanged).
//!
//! Reason codes are part of the operator contract (metric labels, access-log values, alerts):
//! they are lower-case `snake_case` and never renamed.

use crate::issuer::introspection::Inactive;
use crate::jwt::token::TokenError;
use crate::policy::deny::{Denial, Limit};
use crate::request::credential::{CredentialKind, Request};

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
#[cfg_attr(not(target_arch = "wasm32"), serde(rename_all = "snake_case"))]
pub enum Verdict {
    /// A credential passed every check: forwarded with identity headers.
    Allowed,
    /// Refused: the client got the deny response.
    Denied,
    /// Would have been refused, but the rule (or the configuration) is in report mode: forwarded
    /// without the refusal, counted and logged with its reason.
    WouldDeny,
    /// A public route: forwarded without a credential.
    Public,
    /// A CORS preflight: forwarded without a credential.
    Preflight,
}

impl Verdict {
    /// Every verdict, in metric order.
    pub const ALL: [Verdict; 5] = [
        Verdict::Allowed,
        Verdict::Denied,
        Verdict::WouldDeny,
        Verdict::Public,
        Verdict::Preflight,
    ];

    /// The metric label and access-log value.
    pub fn code(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::WouldDeny => "would_deny",
            Verdict::Public => "public",
            Verdict::Preflight => "preflight",
        }
    }
}

/// Why a request is (or would be) refused: fine-grained enough to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
#[cfg_attr(not(target_arch = "wasm32"), serde(rename_all = "snake_case"))]
pub enum Reason {
    /// No credential at all.
    MissingCredential,
    /// A credential of a kind the route does not accept.
    CredentialNotAccepted,
    /// The request cannot be read: dot-segments, repeated or half credentials, malformed Basic,
    /// a repeated application header.
    MalformedRequest,
    /// A bearer token that is not a well-formed JWT (size, shape, header, claims, time claims).
    MalformedToken,
    /// `exp` is past.
    Expired,
    /// `nbf` (or `iat`) is in the future.
    NotYetValid,
    /// The signature does not verify.
    BadSignature,
    /// No key of the issuer has the token's `kid` (or verifies its algorithm).
    UnknownKey,
    /// `iss` is missing or names no configured provider.
    UntrustedIssuer,
    /// `aud` names none of the provider's audiences.
    WrongAudience,
    /// The token lives longer than the provider's maximum.
    LifetimeTooLong,
    /// `alg` is `none`, unknown, or not allowed for the issuer.
    AlgorithmNotAllowed,
    /// The provider requires access tokens (`typ: at+jwt`) and this JWT is not one.
    WrongTokenType,
    /// A valid credential without a scope the route needs.
    InsufficientScope,
    /// A valid token whose claims fail a claim condition of the route (or its provider), or an
    /// API key / Basic caller on a route whose claim conditions need a token.
    ClaimCondition,
    /// A path template segment bound by the route (`bind`) that the caller is not granted: not
    /// among the claim's values or the credential's applications, or not equal to the header.
    PathBinding,
    /// A valid token of a provider the route's `providers` leaves out.
    RuleProvider,
    /// A valid token without one of the route's `audiences`.
    RuleAudience,
    /// API key pair or Basic: unknown client or wrong secret (deliberately one code).
    InvalidClient,
    /// The application is not granted, or the route needs one and none was named.
    Application,
    /// The caller's network is not allowed.
    Network,
    /// The web origin is not allowed.
    Origin,
    /// The connection's TLS version is too old (or plain text).
    Tls,
    /// A sender-constrained token without its proof: bound to a DPoP key or a client
    /// certificate the request does not prove, or presented in a way its binding forbids.
    SenderBinding,
    /// The DPoP proof fails a check (shape, key, method, URL, time, replay, `ath`, signature).
    InvalidDpopProof,
    /// The DPoP proof lacks the current server nonce (the client retries with the one given).
    DpopNonceRequired,
    /// Too many failed secrets from this source (and client): locked out for the window (429).
    LockedOut,
    /// This source spent its signature-check budget on first-sight tokens (429).
    SignatureBudget,
    /// The issuer's keys have not been fetched (503).
    IssuerKeysUnavailable,
    /// The token's `jti` is on its provider's revocation list, or its subject's tokens issued
    /// before a listed time are refused (401 `invalid_token`).
    Revoked,
    /// The provider's revocation list was never fetched, and it refuses tokens until it is (503).
    RevocationUnavailable,
    /// The introspection endpoint called the token inactive.
    IntrospectionInactive,
    /// The introspection endpoint could not be asked or gave no usable answer (503).
    IntrospectionUnavailable,
    /// The endpoint called a verified JWT active, but named another `sub`, `client_id` or
    /// `exp` than the token (a rule's `introspect`).
    IntrospectionMismatch,
    /// The filter itself could not decide (not configured, busy, headers unreadable): 503.
    Internal,
}

impl Reason {
    /// Every reason, in metric order.
    pub const ALL: [Reason; 35] = [
        Reason::MissingCredential,
        Reason::CredentialNotAccepted,
        Reason::MalformedRequest,
        Reason::MalformedToken,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::BadSignature,
        Reason::UnknownKey,
        Reason::UntrustedIssuer,
        Reason::WrongAudience,
        Reason::LifetimeTooLong,
        Reason::AlgorithmNotAllowed,
        Reason::WrongTokenType,
        Reason::InsufficientScope,
        Reason::ClaimCondition,
        Reason::PathBinding,
        Reason::RuleProvider,
        Reason::RuleAudience,
        Reason::InvalidClient,
        Reason::Application,
        Reason::Network,
        Reason::Origin,
        Reason::Tls,
        Reason::SenderBinding,
        Reason::InvalidDpopProof,
        Reason::DpopNonceRequired,
        Reason::LockedOut,
        Reason::SignatureBudget,
        Reason::IssuerKeysUnavailable,
        Reason::Revoked,
        Reason::RevocationUnavailable,
        Reason::IntrospectionInactive,
        Reason::IntrospectionUnavailable,
        Reason::IntrospectionMismatch,
        Reason::Internal,
    ];

    /// The metric label and access-log value.
    pub fn code(self) -> &'static str {
        match self {
            Reason::MissingCredential => "missing_credential",
            Reason::CredentialNotAccepted => "credential_not_accepted",
            Reason::MalformedRequest => "malformed_request",
            Reason::MalformedToken => "malformed_token",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::BadSignature => "bad_signature",
            Reason::UnknownKey => "unknown_key",
            Reason::UntrustedIssuer => "untrusted_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::LifetimeTooLong => "lifetime_too_long",
            Reason::AlgorithmNotAllowed => "algorithm_not_allowed",
            Reason::WrongTokenType => "wrong_token_type",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::ClaimCondition => "claim_condition",
            Reason::PathBinding => "path_binding",
            Reason::RuleProvider => "rule_provider",
            Reason::RuleAudience => "rule_audience",
            Reason::InvalidClient => "invalid_client",
            Reason::Application => "application",
            Reason::Network => "network",
            Reason::Origin => "origin",
            Reason::Tls => "tls",
            Reason::SenderBinding => "sender_binding",
            Reason::InvalidDpopProof => "invalid_dpop_proof",
            Reason::DpopNonceRequired => "dpop_nonce_required",
            Reason::LockedOut => "locked_out",
            Reason::SignatureBudget => "signature_budget",
            Reason::IssuerKeysUnavailable => "issuer_keys_unavailable",
            Reason::Revoked => "revoked",
            Reason::RevocationUnavailable => "revocation_unavailable",
            Reason::IntrospectionInactive => "introspection_inactive",
            Reason::IntrospectionUnavailable => "introspection_unavailable",
            Reason::IntrospectionMismatch => "introspection_mismatch",
            Reason::Internal => "internal",
        }
    }

    /// The reason for a token refused by its checks.
    pub fn for_token(err: TokenError) -> Reason {
        match err {
            TokenError::TooLarge
            | TokenError::Malformed
            | TokenError::CriticalExtension
            | TokenError::MissingExpiry
            | TokenError::BadTimeClaim
            | TokenError::BadNetworkClaim => Reason::MalformedToken,
            TokenError::Unsigned
            | TokenError::UnsupportedAlgorithm
            | TokenError::AlgorithmNotAllowed => Reason::AlgorithmNotAllowed,
            TokenError::MissingIssuer | TokenError::UnknownIssuer => Reason::UntrustedIssuer,
            TokenError::UnknownKey | TokenError::NoKeyForAlgorithm => Reason::UnknownKey,
            TokenError::KeysUnavailable => Reason::IssuerKeysUnavailable,
            TokenError::Expired => Reason::Expired,
            TokenError::NotYetValid | TokenError::IssuedInFuture => Reason::NotYetValid,
            TokenError::LifetimeTooLong => Reason::LifetimeTooLong,
            TokenError::AudienceNotAllowed => Reason::WrongAudience,
            TokenError::NotAnAccessToken => Reason::WrongTokenType,
            TokenError::BadSignature => Reason::BadSignature,
        }
    }

    /// The reason for a refusal by client authentication or an abuse limit: a wrong secret, a
    /// locked-out source, or a spent signature-check budget. Read from the [`Limit`] the
    /// denial carries, never from its text.
    pub fn of_limit(denial: &Denial) -> Reason {
        match denial {
            Denial::TooManyRequests { limit, .. } => Reason::for_limit(*limit),
            _ => Reason::InvalidClient,
        }
    }

    /// The reason code of an abuse limit.
    pub fn for_limit(limit: Limit) -> Reason {
        match limit {
            Limit::LockedOut => Reason::LockedOut,
            Limit::CheckBudget => Reason::SignatureBudget,
        }
    }

    /// The reason for a refusal by the sender-constraint checks (DPoP, certificate binding).
    pub fn of_sender_denial(denial: &Denial) -> Reason {
        match denial {
            Denial::TooManyRequests { limit, .. } => Reason::for_limit(*limit),
            Denial::InvalidDpopProof(_) => Reason::InvalidDpopProof,
            Denial::UseDpopNonce(_) => Reason::DpopNonceRequired,
            Denial::InvalidRequest(_) => Reason::MalformedRequest,
            Denial::Unavailable(_) => Reason::Internal,
            _ => Reason::SenderBinding,
        }
    }

    /// The reason for an introspection answer that refuses the token
    /// ([`crate::issuer::introspection::Outcome::Inactive`]).
    pub fn for_inactive(why: Inactive) -> Reason {
        match why {
            Inactive::Expired => Reason::Expired,
            Inactive::UntrustedIssuer => Reason::UntrustedIssuer,
            Inactive::WrongAudience => Reason::WrongAudience,
            Inactive::BadTimeClaim | Inactive::BadNetworkClaim => Reason::MalformedToken,
            Inactive::NotActive => Reason::IntrospectionInactive,
            Inactive::Contradicts => Reason::IntrospectionMismatch,
        }
    }
}

/// What is reported about one decided request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
pub struct Outcome<'a> {
    /// What became of it; `None` while it waits for the issuer. Named `decision` in metrics,
    /// access logs and JSON.
    #[cfg_attr(not(target_arch = "wasm32"), serde(rename = "decision"))]
    pub verdict: Option<Verdict>,
    /// Why it is (or would be) refused.
    pub reason: Option<Reason>,
    /// The kind of credential presented, if one was read.
    #[cfg_attr(not(target_arch = "wasm32"), serde(serialize_with = "kind_name"))]
    pub credential: Option<CredentialKind>,
    /// Index of the provider the token names or was verified by, if known.
    #[cfg_attr(not(target_arch = "wasm32"), serde(skip))]
    pub provider_index: Option<usize>,
    /// Name of that provider.
    pub provider: Option<&'a str>,
    /// The API client id, or the token's `client_id` / `azp`, once the credential passed.
    pub client: Option<String>,
    /// The token's `sub`, once the credential passed.
    pub subject: Option<String>,
}

impl Outcome<'_> {
    /// What every refusal of `request`, enforced or reported, leaves: its reason and verdict
    /// (which metrics and the access log read), and one debug line naming what the check found,
    /// the reason code, the credential kind and the provider. The decision's one exit and the
    /// host's replay refusal both record through here.
    pub fn record_refusal(
        &mut self,
        denial: &Denial,
        reason: Reason,
        report: bool,
        request: &Request,
    ) {
        self.reason = Some(reason);
        self.verdict = Some(if report {
            Verdict::WouldDeny
        } else {
            Verdict::Denied
        });
        log::debug!(
            "{} {} {}: {} (reason {}, credential {}, provider {})",
            if report { "would deny" } else { "denied" },
            request.method.escape_debug(),
            request.path_only().escape_debug(),
            denial.description(),
            reason.code(),
            self.credential.map_or("none", CredentialKind::name),
            self.provider.unwrap_or("none"),
        );
    }
}

impl Outcome<'_> {
    /// The outcome without its borrowed provider name (the index stays), to be kept while the
    /// request waits for the fleet; [`Outcome::attached`] puts the name back.
    pub fn detached(self) -> Outcome<'static> {
        Outcome {
            verdict: self.verdict,
            reason: self.reason,
            credential: self.credential,
            provider_index: self.provider_index,
            provider: None,
            client: self.client,
            subject: self.subject,
        }
    }

    /// The outcome with its provider's name from `name_of` (given the index).
    pub fn attached<'p>(self, name_of: impl FnOnce(usize) -> Option<&'p str>) -> Outcome<'p> {
        Outcome {
            verdict: self.verdict,
            reason: self.reason,
            credential: self.credential,
            provider_index: self.provider_index,
            provider: self.provider_index.and_then(name_of),
            client: self.client,
            subject: self.subject,
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn kind_name<S: serde::Serializer>(
    kind: &Option<CredentialKind>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match kind {
        Some(kind) => serializer.serialize_some(kind.name()),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_distinct_snake_case() {
        let codes: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        for (index, code) in codes.iter().enumerate() {
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(!codes[..index].contains(code), "{code} twice");
        }
    }

    #[test]
    fn every_introspection_refusal_has_a_reason() {
        assert_eq!(
            Reason::for_inactive(Inactive::NotActive),
            Reason::IntrospectionInactive
        );
        assert_eq!(Reason::for_inactive(Inactive::Expired), Reason::Expired);
        assert_eq!(
            Reason::for_inactive(Inactive::WrongAudience),
            Reason::WrongAudience
        );
    }

    /// The reason comes from the limit the denial carries: rewording a description cannot
    /// move a refusal to another metric.
    #[test]
    fn limit_reasons_come_from_the_limit_not_the_text() {
        let denial = |limit| Denial::TooManyRequests {
            retry_after: 1,
            limit,
        };
        assert_eq!(
            Reason::of_limit(&denial(Limit::LockedOut)),
            Reason::LockedOut
        );
        assert_eq!(
            Reason::of_limit(&denial(Limit::CheckBudget)),
            Reason::SignatureBudget
        );
        assert_eq!(
            Reason::of_sender_denial(&denial(Limit::CheckBudget)),
            Reason::SignatureBudget
        );
        assert_eq!(
            Reason::of_limit(&Denial::InvalidClient),
            Reason::InvalidClient
        );
    }
}
