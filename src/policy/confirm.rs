//! The introspection gate of a rule with `introspect`: a token that passed every local check
//! must also be confirmed active by its provider's introspection endpoint (RFC 7662), by an
//! answer no older than the rule's `max_cache_seconds`.
//!
//! The gate runs last, after the signature, claims, revocation list, the rule's providers and
//! audiences, sender binding, scopes, claim conditions, path bindings and allow-lists: a forged,
//! expired, revoked or under-scoped token never costs the issuer a call, and a confirmed one
//! still meets every local check on every request (the answer adds a gate, it replaces none).
//! The confirmation is kept beside the token's entry in the verified-token cache
//! ([`TokenCache::confirm`]): keyed by the whole token, so no other token can reuse it, and
//! never beyond the token's `exp` nor the provider's `cache_seconds`. An opaque token's identity
//! is itself an introspection answer, and counts as a confirmation from when it came; when it is
//! older than the rule allows, the token is introspected afresh (a new identity), not confirmed.
//!
//! [`TokenCache::confirm`]: crate::policy::cache::TokenCache::confirm

use crate::identity::Identity;
use crate::issuer::introspection::Expected;
use crate::policy::abuse::Guard;
use crate::policy::answer::{Decision, Settled, Stop};
use crate::policy::authenticate::{introspected_by, Verifier};
use crate::policy::deny::Denial;
use crate::policy::outcome::Reason;
use crate::policy::rules::Route;
use crate::policy::trace::Tracer;
use crate::policy::Policy;

/// The gate: passes a token confirmed recently enough (or on a route without `introspect`),
/// asks for a confirmation (a wait for the endpoint's answer, spent from the source's budget
/// like any issuer call), or refuses what the endpoint answered.
pub fn confirmed_by_issuer<'a, T: Tracer>(
    policy: &'a Policy,
    route: &Route,
    token: &str,
    identity: &Identity,
    verifier: &mut Verifier<'_, '_>,
    trace: &mut T,
) -> Result<(), Stop<'a>> {
    let Some(within) = route.introspect_within else {
        return Ok(());
    };
    let unavailable = || {
        (
            Denial::Unavailable("the token introspection endpoint is unavailable".into()),
            Reason::IntrospectionUnavailable,
        )
    };
    let refusal = match verifier.settled {
        Settled::Confirmed => {
            trace.pass("introspection", || {
                "active: the endpoint confirmed it just now".into()
            });
            return Ok(());
        }
        Settled::Active(answered) if answered.provider == identity.provider => {
            trace.pass("introspection", || {
                "active: the endpoint answered just now".into()
            });
            return Ok(());
        }
        Settled::Refused(denial, reason) => (denial.clone(), *reason),
        settled => {
            let age = verifier
                .cache
                .confirmed_at(token, verifier.now)
                .map(|at| verifier.now.saturating_sub(at));
            if let Some(age) = age.filter(|age| *age < within) {
                trace.pass("introspection", || {
                    format!(
                        "active: confirmed by the endpoint {age} s ago (reused up to {within} s)"
                    )
                });
                return Ok(());
            }
            if *settled == Settled::Open {
                return Err(ask(policy, token, identity, verifier, trace));
            }
            // Woken once already (after a wait for keys), or explained: no second wait. Only
            // `edge-auth explain` records a trace, and it never calls an issuer.
            trace.fail("introspection", || {
                format!(
                    "the rule needs the endpoint to confirm the token (an answer at most \
                     {within} s old); explain never calls it, the filter would ask it now"
                )
            });
            return Err(unavailable().into());
        }
    };
    trace.fail("introspection", || refusal.0.description());
    Err(refusal.into())
}

/// The call that confirms `token`, spent from the source's budget first.
fn ask<'a, T: Tracer>(
    policy: &'a Policy,
    token: &str,
    identity: &Identity,
    verifier: &mut Verifier<'_, '_>,
    trace: &mut T,
) -> Stop<'a> {
    if let Err(denial) = verifier.guard.map_or(Ok(()), Guard::spend_signature_check) {
        trace.fail("check budget", || denial.description());
        let reason = Reason::of_limit(&denial);
        return Stop::Refused(denial, reason);
    }
    trace.info("introspection", || {
        let cluster = policy
            .endpoints
            .get(identity.provider)
            .and_then(|e| e.introspection.as_ref())
            .map_or("", |i| i.cluster.as_str());
        format!("the rule asks the endpoint to confirm the token, through cluster {cluster}")
    });
    // A token whose identity is an introspection answer (opaque) is introspected afresh: the
    // new answer replaces the identity, and confirms it. Only a verified JWT is confirmed.
    let confirm = match introspected_by(policy, token) {
        Some(_) => None,
        None => Some(Expected::of(identity)),
    };
    Stop::Decided(Decision::Introspect {
        provider: identity.provider,
        token: token.to_string(),
        confirm,
    })
}
