//! The complete refusal for a request: [`crate::policy::deny`]'s response plus what only the
//! whole policy knows, for 401s. With DPoP configured and tokens accepted, a `DPoP` challenge
//! naming the proof algorithms (`algs`) and, for a refused proof or token, `error` and
//! `error_description` (RFC 9449 section 7.1; with a fresh `DPoP-Nonce` for `use_dpop_nonce`),
//! beside the `Bearer` one; a route that demands
//! DPoP challenges with `DPoP` alone. Once a token was presented, only its own scheme is
//! challenged ([`Challenge::Presented`]): a `DPoP` token's refusals carry the `DPoP` challenge
//! alone (its 403 `insufficient_scope` too, with `scope`), a bearer token's the `Bearer` one.
//! With protected-resource metadata configured, every 401's
//! `Bearer` and `DPoP` challenge names it in `resource_metadata` (RFC 9728 section 5.1).

use crate::jwt::confirmation::SenderConstraint;
use crate::policy::deny::{Challenge, Denial, DenyResponse, Scheme};
use crate::policy::rules::Requirement;
use crate::policy::sender::binding::DpopSettings;
use crate::policy::Policy;
use crate::request::credential::{CredentialKind, Request};

const CHALLENGE_HEADER: &str = "www-authenticate";

/// The reply for `denial` of `request`, challenging as `challenge` says.
pub fn deny_response(
    policy: &Policy,
    request: &Request,
    denial: &Denial,
    challenge: Challenge<'_>,
) -> DenyResponse {
    let mut response = denial.response(&policy.realm, challenge);
    let dpop = match (&policy.sender.dpop, challenge) {
        // Before a credential was read: beside `Bearer` on a 401, or instead of it on a route
        // that demands DPoP.
        (Some(dpop), Challenge::Accepted(kinds))
            if response.status == 401 && kinds.contains(&CredentialKind::Jwt) =>
        {
            if dpop_only(policy, request) {
                response.headers.retain(|(name, value)| {
                    name != CHALLENGE_HEADER || !value.starts_with("Bearer")
                });
            }
            Some(dpop)
        }
        // A DPoP token's refusals: its own scheme alone, for the 401s, the scope 403 and the 400
        // that a `Bearer` caller is challenged on.
        (Some(dpop), Challenge::Presented(Scheme::Dpop))
            if response.status == 401
                || matches!(
                    denial,
                    Denial::InsufficientScope(_) | Denial::InvalidRequest(_)
                ) =>
        {
            Some(dpop)
        }
        _ => None,
    };
    if let Some(dpop) = dpop {
        add_dpop_challenge(policy, dpop, denial, &mut response);
    }
    if response.status != 401 {
        return response;
    }
    if let Some(metadata) = &policy.resource_metadata {
        for (name, value) in response.headers.iter_mut() {
            if name == CHALLENGE_HEADER
                && (value.starts_with("Bearer") || value.starts_with("DPoP"))
            {
                value.push_str(&format!(", resource_metadata=\"{}\"", metadata.url));
            }
        }
    }
    response
}

/// Whether the route of `request` demands DPoP.
fn dpop_only(policy: &Policy, request: &Request) -> bool {
    policy
        .rules
        .canonical_match(policy.paths, &request.method, &request.path)
        .is_ok_and(|(_, rule)| {
            matches!(
                policy.rules.requirement_of(rule),
                Requirement::Authenticated(route)
                    if route.sender_constraint == Some(SenderConstraint::Dpop)
            )
        })
}

/// Adds the `DPoP` challenge after the other challenges: the proof algorithms and, for a
/// refused proof or token, the error (with the scopes for `insufficient_scope`, and a fresh
/// `DPoP-Nonce` for `use_dpop_nonce`).
fn add_dpop_challenge(
    policy: &Policy,
    dpop: &DpopSettings,
    denial: &Denial,
    response: &mut DenyResponse,
) {
    let algs: Vec<&str> = dpop.rules.algorithms.iter().map(|alg| alg.name()).collect();
    let mut challenge = format!(
        "DPoP realm=\"{}\", algs=\"{}\"",
        policy.realm,
        algs.join(" ")
    );
    if matches!(
        denial,
        Denial::InvalidDpopProof(_)
            | Denial::UseDpopNonce(_)
            | Denial::InvalidToken(_)
            | Denial::InvalidRequest(_)
            | Denial::InsufficientScope(_)
    ) {
        challenge.push_str(&format!(
            ", error=\"{}\", error_description=\"{}\"",
            denial.error_code(),
            quoted(&denial.description())
        ));
    }
    if let Denial::InsufficientScope(scopes) = denial {
        challenge.push_str(&format!(", scope=\"{}\"", quoted(&scopes.join(" "))));
    }
    let at = response
        .headers
        .iter()
        .rposition(|(name, _)| name == CHALLENGE_HEADER)
        .map_or(0, |last| last + 1);
    response
        .headers
        .insert(at, (CHALLENGE_HEADER.to_string(), challenge));
    if let Denial::UseDpopNonce(nonce) = denial {
        response
            .headers
            .push(("dpop-nonce".to_string(), nonce.clone()));
    }
}

/// Makes text safe inside a quoted-string: no quotes, backslashes or control characters.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}
