//! A trusted token issuer: who it is, which audiences and algorithms it may use, its inline
//! keys, how its tokens name scopes and applications, and the claim conditions its tokens meet
//! by default (with the claims every condition reads). What edge-auth fetches from the
//! issuer (keys, introspection answers) is described beside it, in [`crate::issuer::Endpoints`].

use crate::jwt::algorithm::Algorithm;
use crate::jwt::claims::{ClaimPath, Condition};
use crate::jwt::confirmation::SenderConstraint;
use crate::jwt::jwks::KeySet;
use crate::request::allowlist::{Cidr, OriginPattern};

/// One identity provider, compiled from `providers[i]`.
pub struct Provider {
    /// Operator-facing name, used in logs and the provider header.
    pub name: String,
    /// Exact `iss` value of its tokens.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
    /// Algorithm allow-list.
    pub algorithms: Vec<Algorithm>,
    /// Verification keys written in the configuration (empty when they are fetched).
    pub keys: KeySet,
    /// Tolerance applied to `exp`, `nbf` and `iat`.
    pub clock_skew_seconds: u64,
    /// Longest accepted lifetime (`exp - iat`, or `exp - now` without `iat`).
    pub max_lifetime_seconds: Option<u64>,
    /// Claims that may carry scopes, tried in order (space-separated string or array).
    pub scope_claims: Vec<String>,
    /// Claim listing the applications the token grants.
    pub apps_claim: Option<String>,
    /// Claim listing networks (CIDRs) the token may be used from.
    pub cidrs_claim: Option<String>,
    /// Networks every token of this provider may be used from (empty: anywhere).
    pub allowed_cidrs: Vec<Cidr>,
    /// Web origins every token of this provider may be used from (empty: any).
    pub allowed_origins: Vec<OriginPattern>,
    /// Whether its tokens must say they are access tokens (`typ: at+jwt`, RFC 9068), so that
    /// its ID tokens (or other JWTs with a matching `aud`) are refused.
    pub require_access_token_type: bool,
    /// Whether its tokens must be sender-constrained (DPoP, mTLS), unless a route says.
    pub sender_constraint: SenderConstraint,
    /// Claim conditions its tokens meet on routes without conditions of their own.
    pub claim_conditions: Vec<Condition>,
    /// The claims any condition of the policy reads (one table, the same in every provider;
    /// [`Condition::slot`] indexes it): kept in the identity, so that a cached token is checked
    /// without its claims.
    pub condition_claims: Vec<ClaimPath>,
}

impl Provider {
    /// Finds the provider whose issuer is exactly `iss`.
    pub fn for_issuer<'a>(providers: &'a [Provider], iss: &str) -> Option<(usize, &'a Provider)> {
        providers
            .iter()
            .enumerate()
            .find(|(_, provider)| provider.issuer == iss)
    }
}
