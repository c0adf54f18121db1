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
use crate::token::{self, Identity, InlineKeys, KeyLookup};

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it, after these header changes.
    Allow(Forwarding),
    /// Answer it locally.
    Deny(Denial),
    /// The token's issuer publishes its keys and the keys in hand cannot decide it (none have
    /// arrived yet, or none has the token's `kid`): decide again once `provider`'s keys are
    /// (re)fetched, or answer `otherwise` if no fetch can come.
    AwaitKeys {
        /// Index of the provider whose keys are needed.
        provider: usize,
        /// Whether the keys are there but lack the token's `kid` (an early refetch).
        unknown_kid: bool,
        /// The answer when no fetch is coming.
        otherwise: Denial,
    },
    /// The token is for `provider`'s introspection endpoint: ask it, remember the answer in the
    /// token cache, and decide again.
    Introspect {
        /// Index of the provider whose endpoint vouches for the token.
        provider: usize,
        /// The bearer token to ask about.
        token: String,
    },
}

/// Header changes for an allowed request. Removals are applied before additions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarding {
    /// Headers to remove entirely: client-sent identity headers and the consumed token header.
    pub remove: Vec<String>,
    /// Headers to set (replacing any value).
    pub set: Vec<(String, String)>,
}

/// Decides `request` at time `now` (Unix seconds), consulting and filling `cache`, with the keys
/// written in the configuration.
pub fn authorize(policy: &Policy, cache: &mut TokenCache, request: &Request, now: u64) -> Decision {
    authorize_with_keys(policy, &InlineKeys(&policy.providers), cache, request, now)
}

/// [`authorize`], with each provider's current keys from `keys` (fetched keys included).
pub fn authorize_with_keys(
    policy: &Policy,
    keys: &dyn KeyLookup,
    cache: &mut TokenCache,
    request: &Request,
    now: u64,
) -> Decision {
    let mut forwarding = Forwarding {
        remove: policy.forward.header_names().map(str::to_string).collect(),
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
    if cache.is_inactive(bearer.token, now) {
        return Decision::Deny(Denial::InvalidToken("token is not active".into()));
    }
    if let Some(provider) = introspected_by(policy, bearer.token) {
        if cache.get(bearer.token, now).is_none() {
            return Decision::Introspect {
                provider,
                token: bearer.token.to_string(),
            };
        }
    }
    let identity = match cached_or_verified(policy, keys, cache, bearer.token, now) {
        Ok(identity) => identity,
        Err(err) => {
            if let Some(wait) = await_keys(policy, bearer.token, err) {
                return wait;
            }
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

/// The provider whose introspection endpoint decides `token`: the one introspecting every
/// token, or, for a token that is not a JWT, the one introspecting opaque tokens.
fn introspected_by(policy: &Policy, token: &str) -> Option<usize> {
    let (index, introspection) = policy
        .providers
        .iter()
        .enumerate()
        .find_map(|(index, p)| p.introspection.as_ref().map(|i| (index, i)))?;
    (introspection.all_tokens || !token::looks_like_jwt(token)).then_some(index)
}

/// For a token refused only for want of its issuer's keys: the decision to wait for them.
fn await_keys(policy: &Policy, token: &str, err: token::TokenError) -> Option<Decision> {
    let unknown_kid = match err {
        token::TokenError::KeysUnavailable => false,
        token::TokenError::UnknownKey => true,
        _ => return None,
    };
    let provider = token::claimed_provider(token, &policy.providers)?;
    let remote = policy.providers.get(provider)?.remote.as_ref()?;
    let otherwise = if unknown_kid {
        Denial::InvalidToken(err.to_string())
    } else {
        log::debug!("no keys yet from cluster {}", remote.cluster);
        Denial::Unavailable(err.to_string())
    };
    Some(Decision::AwaitKeys {
        provider,
        unknown_kid,
        otherwise,
    })
}

fn cached_or_verified(
    policy: &Policy,
    keys: &dyn KeyLookup,
    cache: &mut TokenCache,
    token: &str,
    now: u64,
) -> Result<Rc<Identity>, token::TokenError> {
    if let Some(identity) = cache.get(token, now) {
        return Ok(identity);
    }
    let identity = Rc::new(token::verify_with_keys(
        token,
        &policy.providers,
        keys,
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
