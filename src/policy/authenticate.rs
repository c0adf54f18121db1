//! The authentication stage: who the one credential says the caller is. A bearer token through
//! the verified-token cache, introspection (its call spent from the source's budget) or the
//! signature checks (the budget spent just before the math); an API key pair or Basic
//! credential through the client records, a locked-out source refused before any secret
//! comparison. Where only the issuer can settle a token, the stage stops with a wait.

use std::rc::Rc;

use crate::clients::Client;
use crate::identity::Identity;
use crate::issuer::introspection;
use crate::jwt::token::{self, KeyLookup, Revocation, TokenError};
use crate::policy::abuse::Guard;
use crate::policy::answer::{Decision, Settled, Stop};
use crate::policy::cache::TokenCache;
use crate::policy::deny::Denial;
use crate::policy::outcome::{Outcome, Reason};
use crate::policy::trace::Tracer;
use crate::policy::Policy;
use crate::request::credential::Credential;

/// What authentication consults: the keys, the abuse limits, the token cache, the time and what
/// the issuer already answered.
pub struct Verifier<'k, 'g> {
    /// Each provider's current keys.
    pub keys: &'k dyn KeyLookup,
    /// The abuse limits of this request, if any are configured.
    pub guard: Option<&'k Guard<'g>>,
    /// The worker's verified-token cache.
    pub cache: &'k mut TokenCache,
    /// Unix seconds.
    pub now: u64,
    /// What the issuer answered while the request waited.
    pub settled: &'k Settled,
}

/// A credential that passed.
pub enum Authenticated<'a> {
    /// A token, with what it says about its bearer.
    Token(Rc<Identity>),
    /// An API key pair or Basic credential of this client.
    Client(&'a Client),
}

/// The authentication stage: the identity `credential` proves, the provider (when known) noted
/// in `outcome` whether or not it passes.
pub fn authenticate<'a, T: Tracer>(
    policy: &'a Policy,
    credential: &Credential<'_>,
    verifier: &mut Verifier<'_, '_>,
    outcome: &mut Outcome<'a>,
    trace: &mut T,
) -> Result<Authenticated<'a>, Stop<'a>> {
    match credential {
        Credential::Jwt(token) => {
            token_identity(policy, token, verifier, outcome, trace).map(Authenticated::Token)
        }
        // Both kinds authenticate against the same clients, with the same lockout.
        Credential::ApiKey { .. } | Credential::Basic { .. } => {
            let (id, secret) = credential.client().unwrap_or_default();
            match client(policy, verifier.guard, id, secret) {
                Ok(client) => {
                    trace.pass("client", || format!("client {id:?} authenticated"));
                    Ok(Authenticated::Client(client))
                }
                Err(denial) => {
                    trace.fail("client", || denial.description());
                    let reason = Reason::of_limit(&denial);
                    Err(Stop::Refused(denial, reason))
                }
            }
        }
    }
}

/// A token's identity: remembered inactive, introspected, from the cache, or verified now.
fn token_identity<'a, T: Tracer>(
    policy: &'a Policy,
    token: &str,
    verifier: &mut Verifier<'_, '_>,
    outcome: &mut Outcome<'a>,
    trace: &mut T,
) -> Result<Rc<Identity>, Stop<'a>> {
    let introspected = introspected_by(policy, token);
    if let Some(index) = introspected {
        note_provider(policy, outcome, index);
        if introspection::too_long(token) {
            trace.fail("introspection", || {
                format!("a token of {} bytes is never sent", token.len())
            });
            return Err(token_refusal(TokenError::TooLarge));
        }
    }
    if verifier.cache.is_inactive(token, verifier.now) {
        trace.fail("introspection", || {
            "the endpoint called this token inactive (answer remembered)".into()
        });
        let denial = Denial::InvalidToken("token is not active".into());
        return Err(Stop::Refused(denial, Reason::IntrospectionInactive));
    }
    // An answer just received decides its request without a round trip through the cache.
    let answered = match (verifier.settled, introspected) {
        (Settled::Active(identity), Some(index)) if identity.provider == index => {
            Some(Rc::clone(identity))
        }
        _ => None,
    };
    if let (Some(index), None) = (introspected, &answered) {
        if verifier
            .cache
            .get(token, verifier.now, verifier.keys)
            .is_none()
        {
            return Err(introspect(policy, token, index, verifier, trace));
        }
    }
    let checked = match answered {
        Some(identity) => Ok((identity, false)),
        None => cached_or_verified(policy, verifier, token),
    };
    match checked {
        Ok((identity, hit)) => {
            note_provider(policy, outcome, identity.provider);
            trace.pass("token", || {
                if hit {
                    "verified earlier (token cache)".into()
                } else if introspected.is_some() {
                    "active (introspection answer)".into()
                } else {
                    format!("passed: {}", token::CHECKS.join("; "))
                }
            });
            not_revoked(&identity, verifier, trace)?;
            Ok(identity)
        }
        Err(unverified) => Err(unverified_token(
            policy, token, unverified, verifier, outcome, trace,
        )),
    }
}

/// The revocation check of a verified token, cached or not: two hash lookups in the worker's
/// copy of its provider's list, no host call. A listed token is 401 `invalid_token` (the
/// description never names the `jti`); a provider that refuses tokens until its first list
/// arrives gives 503 meanwhile.
fn not_revoked<'a, T: Tracer>(
    identity: &Identity,
    verifier: &Verifier<'_, '_>,
    trace: &mut T,
) -> Result<(), Stop<'a>> {
    let (denial, reason) = match verifier.keys.revocation(identity, verifier.now) {
        Revocation::Clear => return Ok(()),
        Revocation::Revoked => (
            Denial::InvalidToken("the token was revoked".into()),
            Reason::Revoked,
        ),
        Revocation::Unavailable => (
            Denial::Unavailable("the issuer's revocation list is not available".into()),
            Reason::RevocationUnavailable,
        ),
    };
    trace.fail("revocation", || denial.description());
    Err(Stop::Refused(denial, reason))
}

/// A token no cache vouches for, of `index`'s introspection endpoint: the call to make (spent
/// from the source's budget, as a signature check is: random strings cannot make one call
/// each), or the refusal the issuer's answer settled.
fn introspect<'a, T: Tracer>(
    policy: &'a Policy,
    token: &str,
    index: usize,
    verifier: &mut Verifier<'_, '_>,
    trace: &mut T,
) -> Stop<'a> {
    let unavailable = || {
        (
            Denial::Unavailable("the token introspection endpoint is unavailable".into()),
            Reason::IntrospectionUnavailable,
        )
    };
    let refusal = match verifier.settled {
        Settled::Open => {
            verifier.cache.note_miss();
            if let Err(denial) = verifier.guard.map_or(Ok(()), Guard::spend_signature_check) {
                trace.fail("check budget", || denial.description());
                let reason = Reason::of_limit(&denial);
                return Stop::Refused(denial, reason);
            }
            trace.info("introspection", || {
                let cluster = policy
                    .endpoints
                    .get(index)
                    .and_then(|e| e.introspection.as_ref())
                    .map_or("", |i| i.cluster.as_str());
                format!("the filter asks the endpoint through cluster {cluster}")
            });
            return Stop::Decided(Decision::Introspect {
                provider: index,
                token: token.to_string(),
                confirm: None,
            });
        }
        Settled::Final => unavailable(),
        Settled::Refused(denial, reason) => (denial.clone(), *reason),
        // An answer for another provider's token (never asked), or a confirmation of a JWT
        // (never this opaque token's): not this one's.
        Settled::Active(_) | Settled::Confirmed => unavailable(),
    };
    trace.fail("introspection", || refusal.0.description());
    refusal.into()
}

/// A token that was not verified: refused, or (keys missing) a wait for its issuer's keys.
fn unverified_token<'a, T: Tracer>(
    policy: &'a Policy,
    token: &str,
    unverified: Unverified,
    verifier: &Verifier<'_, '_>,
    outcome: &mut Outcome<'a>,
    trace: &mut T,
) -> Stop<'a> {
    let err = match unverified {
        Unverified::Limited(denial, provider) => {
            // The issuer was known before the budget ran out: reported like any other refusal.
            note_provider(policy, outcome, provider);
            trace.fail("signature budget", || denial.description());
            let reason = Reason::of_limit(&denial);
            return Stop::Refused(denial, reason);
        }
        Unverified::Token(err) => err,
    };
    if outcome.provider_index.is_none() {
        if let Some(index) = token::claimed_provider(token, &policy.providers) {
            note_provider(policy, outcome, index);
        }
    }
    trace_token_checks(trace, err);
    match await_keys(policy, token, err) {
        Some((wait, _)) if *verifier.settled == Settled::Open => {
            trace.info("issuer keys", || {
                "the filter waits for the issuer's keys, then decides again".into()
            });
            Stop::Decided(wait)
        }
        Some((_, refusal)) => refusal.into(),
        None => token_refusal(err),
    }
}

/// Notes the provider at `index` in `outcome`.
fn note_provider<'a>(policy: &'a Policy, outcome: &mut Outcome<'a>, index: usize) {
    outcome.provider_index = Some(index);
    outcome.provider = policy.providers.get(index).map(|p| p.name.as_str());
}

/// 401 `invalid_token` for `err`.
fn token_refusal<'a>(err: TokenError) -> Stop<'a> {
    Stop::Refused(
        Denial::InvalidToken(err.to_string()),
        Reason::for_token(err),
    )
}

/// Records the token checks up to the one `err` failed.
fn trace_token_checks<T: Tracer>(trace: &mut T, err: TokenError) {
    let failed = err.check();
    for check in token::CHECKS.iter().take(failed) {
        trace.pass("token", || format!("{check}: passed"));
    }
    if let Some(check) = token::CHECKS.get(failed) {
        trace.fail("token", || format!("{check}: {err}"));
    }
}

/// The client an API key pair or Basic credential authenticates: a locked-out source is
/// refused before any secret comparison, and a failed comparison is counted.
fn client<'a>(
    policy: &'a Policy,
    guard: Option<&Guard>,
    id: &str,
    secret: &str,
) -> Result<&'a Client, Denial> {
    if let Some(guard) = guard {
        guard.check_lockout(id)?;
    }
    match policy.clients.authenticate(id, secret.as_bytes()) {
        Some(client) => Ok(client),
        None => {
            if let Some(guard) = guard {
                guard.record_failure(id);
            }
            Err(Denial::InvalidClient)
        }
    }
}

/// The provider whose introspection endpoint decides `token`: the one introspecting every
/// token, or, for a token that is not a JWT, the one introspecting opaque tokens.
pub fn introspected_by(policy: &Policy, token: &str) -> Option<usize> {
    let (index, introspection) = policy
        .endpoints
        .iter()
        .enumerate()
        .find_map(|(index, e)| e.introspection.as_ref().map(|i| (index, i)))?;
    (introspection.all_tokens || !token::looks_like_jwt(token)).then_some(index)
}

/// For a token refused only for want of its issuer's keys: the decision to wait for them, and
/// the refusal should no wait be possible.
fn await_keys<'a>(
    policy: &Policy,
    token: &str,
    err: TokenError,
) -> Option<(Decision<'a>, (Denial, Reason))> {
    let unknown_kid = match err {
        TokenError::KeysUnavailable => false,
        TokenError::UnknownKey => true,
        _ => return None,
    };
    let provider = token::claimed_provider(token, &policy.providers)?;
    let remote = policy.endpoints.get(provider)?.remote.as_ref()?;
    let refusal = if unknown_kid {
        (Denial::InvalidToken(err.to_string()), Reason::UnknownKey)
    } else {
        log::debug!("no keys yet from cluster {}", remote.cluster);
        (
            Denial::Unavailable(err.to_string()),
            Reason::IssuerKeysUnavailable,
        )
    };
    Some((
        Decision::AwaitKeys {
            provider,
            unknown_kid,
            otherwise: refusal.0.clone(),
        },
        refusal,
    ))
}

/// Why a token was not verified: the token itself, or an abuse limit before the signature (with
/// the provider its issuer names, known by then).
enum Unverified {
    Token(TokenError),
    Limited(Denial, usize),
}

impl From<TokenError> for Unverified {
    fn from(err: TokenError) -> Unverified {
        Unverified::Token(err)
    }
}

/// The token's identity from the cache, or verified now (and cached); whether it was a hit.
fn cached_or_verified(
    policy: &Policy,
    verifier: &mut Verifier<'_, '_>,
    token: &str,
) -> Result<(Rc<Identity>, bool), Unverified> {
    let (keys, now) = (verifier.keys, verifier.now);
    if let Some(identity) = verifier.cache.lookup(token, now, keys) {
        return Ok((identity, true));
    }
    let unverified = token::check_before_signature(token, &policy.providers, keys, now)?;
    if let Some(guard) = verifier.guard {
        guard
            .spend_signature_check()
            .map_err(|denial| Unverified::Limited(denial, unverified.provider()))?;
    }
    let identity = Rc::new(unverified.verify_signature(&policy.providers, &policy.forward)?);
    let skew = policy
        .providers
        .get(identity.provider)
        .map_or(0, |p| p.clock_skew_seconds);
    verifier.cache.insert(
        token,
        Rc::clone(&identity),
        identity.expires_at.saturating_add(skew),
        now,
        keys.key_version(identity.provider),
    );
    Ok((identity, false))
}
