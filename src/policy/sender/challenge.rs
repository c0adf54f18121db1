//! The complete refusal for a request: [`crate::policy::deny`]'s response plus what only the
//! whole policy knows, for 401s. With DPoP configured and tokens accepted, a `DPoP` challenge
//! naming the proof algorithms (`algs`) and, for a refused proof or token, `error` and
//! `error_description` (RFC 9449 section 7.1; with a fresh `DPoP-Nonce` for `use_dpop_nonce`),
//! beside the `Bearer` one; a route that demands
//! DPoP challenges with `DPoP` alone. With protected-resource metadata configured, every
//! `Bearer` and `DPoP` challenge names it in `resource_metadata` (RFC 9728 section 5.1).

use crate::jwt::confirmation::SenderConstraint;
use crate::policy::deny::{Denial, DenyResponse};
use crate::policy::rules::Requirement;
use crate::policy::Policy;
use crate::request::credential::{CredentialKind, Request};

const CHALLENGE_HEADER: &str = "www-authenticate";

/// The reply for `denial` of `request`, challenging for `schemes` on a 401.
pub fn deny_response(
    policy: &Policy,
    request: &Request,
    denial: &Denial,
    schemes: &[CredentialKind],
) -> DenyResponse {
    let mut response = denial.response(&policy.realm, schemes);
    if response.status != 401 {
        return response;
    }
    if let Some(dpop) = policy
        .sender
        .dpop
        .as_ref()
        .filter(|_| schemes.contains(&CredentialKind::Jwt))
    {
        let dpop_only = policy
            .rules
            .canonical_path(policy.paths, &request.method, &request.path)
            .is_ok_and(|path| {
                matches!(
                    policy.rules.requirement(&request.method, &path),
                    Requirement::Authenticated(route)
                        if route.sender_constraint == Some(SenderConstraint::Dpop)
                )
            });
        if dpop_only {
            response
                .headers
                .retain(|(name, value)| name != CHALLENGE_HEADER || !value.starts_with("Bearer"));
        }
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
        ) {
            challenge.push_str(&format!(
                ", error=\"{}\", error_description=\"{}\"",
                denial.error_code(),
                quoted(&denial.description())
            ));
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

/// Makes text safe inside a quoted-string: no quotes, backslashes or control characters.
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}
