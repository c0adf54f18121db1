//! The decision: given the policy, a request and the time, allow (with the header changes the
//! upstream must see) or deny (with the reply the client must see).
//!
//! This is the one place where the pieces meet: path sanity, CORS preflight, route rules,
//! credential extraction, the verified-token cache, token validation and scope checks.

use std::rc::Rc;

use crate::cache::TokenCache;
use crate::config::Policy;
use crate::credential::{find_bearer, Request};
use crate::deny::Denial;
use crate::rules::{has_dot_segment, Requirement};
use crate::token::{self, Identity};

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it, after these header changes.
    Allow(Forwarding),
    /// Answer it locally.
    Deny(Denial),
}

/// Header changes for an allowed request. Removals are applied before additions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarding {
    /// Headers to remove entirely: identity headers the client sent, and the consumed token header.
    pub remove: Vec<String>,
    /// Headers to set (replacing any value).
    pub set: Vec<(String, String)>,
}

/// Decides `request` at time `now` (Unix seconds), consulting and filling `cache`.
pub fn authorize(policy: &Policy, cache: &mut TokenCache, request: &Request, now: u64) -> Decision {
    // Identity headers the client sent are removed (they could be spoofed); the ones it did not
    // send need no removal, and every removal is a call into Envoy on the request path.
    let mut forwarding = Forwarding {
        remove: policy
            .forward
            .header_names()
            .filter(|name| request.has_header(name))
            .map(str::to_string)
            .collect(),
        set: Vec::new(),
    };
    let path = request.path_only();
    if has_dot_segment(path) {
        return Decision::Deny(Denial::InvalidRequest(
            "the path contains dot-segments".into(),
        ));
    }
    if policy.allow_cors_preflight && is_cors_preflight(request) {
        return Decision::Allow(forwarding);
    }
    let required = match policy.rules.requirement(&request.method, path) {
        Requirement::Public => return Decision::Allow(forwarding),
        Requirement::Scopes(scopes) => scopes,
    };

    let bearer = match find_bearer(&policy.token_sources, request) {
        Ok(Some(bearer)) => bearer,
        Ok(None) => return Decision::Deny(Denial::MissingCredential),
        Err(err) => return Decision::Deny(Denial::InvalidRequest(err.to_string())),
    };
    let identity = match cached_or_verified(policy, cache, bearer.token, now) {
        Ok(identity) => identity,
        Err(err) => {
            log::debug!("denied {} {}: {err}", request.method, path);
            return Decision::Deny(Denial::InvalidToken(err.to_string()));
        }
    };
    if !identity.has_scopes(required) {
        log::debug!(
            "denied {} {}: missing scope, needs {:?}",
            request.method,
            path,
            required
        );
        return Decision::Deny(Denial::InsufficientScope(required.to_vec()));
    }

    forwarding.remove.push(bearer.header.to_string());
    add_identity_headers(policy, &identity, &mut forwarding.set);
    Decision::Allow(forwarding)
}

fn cached_or_verified(
    policy: &Policy,
    cache: &mut TokenCache,
    token: &str,
    now: u64,
) -> Result<Rc<Identity>, token::TokenError> {
    if let Some(identity) = cache.get(token, now) {
        return Ok(identity);
    }
    let identity = Rc::new(token::verify(
        token,
        &policy.providers,
        &policy.forward,
        now,
    )?);
    let skew = policy
        .providers
        .get(identity.provider)
        .map_or(0, |p| p.clock_skew_seconds);
    cache.insert(
        token,
        Rc::clone(&identity),
        identity.expires_at.saturating_add(skew),
        now,
    );
    Ok(identity)
}

fn is_cors_preflight(request: &Request) -> bool {
    request.method.eq_ignore_ascii_case("OPTIONS")
        && request.has_header("origin")
        && request.has_header("access-control-request-method")
}

fn add_identity_headers(policy: &Policy, identity: &Identity, set: &mut Vec<(String, String)>) {
    let forward = &policy.forward;
    if let (Some(header), Some(subject)) = (&forward.subject_header, &identity.subject) {
        if !subject.chars().any(char::is_control) {
            set.push((header.clone(), subject.clone()));
        }
    }
    if let Some(header) = &forward.scopes_header {
        set.push((header.clone(), identity.scopes.join(" ")));
    }
    if let (Some(header), Some(provider)) = (
        &forward.provider_header,
        policy.providers.get(identity.provider),
    ) {
        set.push((header.clone(), provider.name.clone()));
    }
    set.extend(identity.forwarded_claims.iter().cloned());
}
