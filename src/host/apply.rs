//! The interface the host contexts share: the worker's configured state, and turning
//! one decision of the core into host calls (header changes, or a local reply).
//!
//! The HTTP context and the issuer calls both decide requests through here; neither calls into
//! the other's internals for it. A decision that needs a wait (keys, introspection) is handed
//! back as [`Applied`]: only the HTTP context may start one, and a woken request is decided
//! with what there is ([`super::woken::decide_now`]).
//!
//! A local reply that cannot be sent must neither let the request through nor leave it paused
//! until Envoy's timeout: [`send`] falls back to a bare 503, then to resetting the stream.

use std::cell::RefCell;

use super::access_log;
use super::fleet_state::{AfterCount, FleetCalls, FleetCheck, HeldAllow};
use super::metrics::Metrics;
use super::nonce_key::nonce_key;
use super::replay_store::{first_use, NotRecorded};
use super::{Flow, Host};
use crate::issuer::introspection::Expected;
use crate::issuer::remote_keys::Slot;
use crate::issuer::revocation::RevocationSlot;
use crate::issuer::WorkerKeys;
use crate::policy::abuse::Guard;
use crate::policy::cache::TokenCache;
use crate::policy::decision::{evaluate_guarded, Decided, Decision, Forwarding, Settled};
use crate::policy::deny::{Challenge, Denial, DenyResponse, Scheme};
use crate::policy::outcome::{Outcome, Reason, Verdict};
use crate::policy::sender::challenge::deny_response;
use crate::policy::sender::resource_metadata;
use crate::policy::trace::Untraced;
use crate::policy::Policy;
use crate::request::credential::Request;
use crate::request::source::Source;
use crate::request::transport::parse_peer_address;

use super::shared_records::SharedData;

/// What every HTTP context of this worker shares once configured.
pub struct Shared {
    pub(crate) policy: Policy,
    pub(crate) cache: RefCell<TokenCache>,
    /// One per provider (used only by providers whose keys are fetched).
    pub(crate) slots: RefCell<Vec<Slot>>,
    /// One revocation list per provider (used only by providers with `revocation`).
    pub(crate) revocations: RefCell<Vec<RevocationSlot>>,
    /// The root context, made effective again after deciding a paused request.
    pub(crate) root_id: u32,
    /// This worker's metric ids.
    pub(crate) metrics: Metrics,
    /// When this worker was configured (the key age before any good fetch).
    pub(crate) started_ms: u64,
    /// Calls to the fleet's rate limit service in flight.
    pub(crate) fleet: RefCell<FleetCalls>,
}

/// What deciding a request leaves to its caller: nothing (the decision is applied), or a wait
/// that only the HTTP context may start.
pub(crate) enum Applied {
    /// Allowed with its header changes made, or answered locally: return this flow.
    Done(Flow),
    /// Wait for `provider`'s keys (fetched at `now_ms` or later), else decide as it stands.
    AwaitKeys {
        provider: usize,
        unknown_kid: bool,
        now_ms: u64,
    },
    /// Ask `provider`'s introspection endpoint about `token` (to confirm a verified JWT: what
    /// it says).
    Introspect {
        provider: usize,
        token: String,
        confirm: Option<Expected>,
    },
    /// Ask the fleet's rate limit service ([`super::fleet_calls`]).
    Fleet(FleetCheck),
}

/// Decides the request of the effective HTTP context and applies an allow or a deny.
pub(crate) fn decide(host: &dyn Host, shared: &Shared, settled: &Settled) -> Applied {
    let request = match read_request(host, shared) {
        Ok(request) => request,
        Err(flow) => return Applied::Done(flow),
    };
    if let Some(reply) = resource_metadata::answer(&shared.policy, &request) {
        let headers = reply
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect::<Vec<_>>();
        return Applied::Done(send(host, reply.status, &headers, &reply.body));
    }
    let now = host.now_ms();
    let (Decided { decision, outcome }, failed_secret) =
        match evaluate(host, shared, &request, settled, now) {
            Ok(decided) => decided,
            Err(flow) => return Applied::Done(flow),
        };
    // A failed secret is counted by the fleet too, before the request is answered (refused,
    // or in report mode forwarded).
    let failed_secret =
        failed_secret.filter(|_| shared.policy.fleet.as_ref().is_some_and(|f| f.lockout));
    match decision {
        Decision::Allow(forwarding) => match failed_secret {
            Some((source, client_id)) => Applied::Fleet(FleetCheck::Lockout {
                source,
                client_id,
                then: AfterCount::Forward(Box::new(HeldAllow::new(request, &forwarding, outcome))),
            }),
            None => allow(host, shared, request, &forwarding, outcome, now),
        },
        Decision::Deny { denial, challenge } => {
            report(host, shared, &outcome);
            let response = deny_response(&shared.policy, &request, &denial, challenge);
            match failed_secret {
                Some((source, client_id)) => Applied::Fleet(FleetCheck::Lockout {
                    source,
                    client_id,
                    then: AfterCount::Refuse(response),
                }),
                None => Applied::Done(send_deny(host, &response)),
            }
        }
        Decision::AwaitKeys {
            provider,
            unknown_kid,
            otherwise: _,
        } => Applied::AwaitKeys {
            provider,
            unknown_kid,
            now_ms: now,
        },
        Decision::Introspect {
            provider,
            token,
            confirm,
        } => Applied::Introspect {
            provider,
            token,
            confirm,
        },
    }
}

/// The request as the core reads it: its headers, and the connection facts the policy looks at
/// (each property is a host call: only what the policy will use is asked for).
fn read_request(host: &dyn Host, shared: &Shared) -> Result<Request, Flow> {
    let headers = match host.request_headers() {
        Ok(headers) => headers
            .into_iter()
            // Valid UTF-8 (the usual case) keeps its buffer; only invalid bytes are copied.
            .map(|(name, value)| {
                let value = String::from_utf8(value)
                    .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
                (name, value)
            })
            .collect(),
        Err(status) => {
            log::error!("cannot read request headers: {status:?}");
            return Err(internal_failure(
                host,
                shared,
                &Denial::InvalidRequest("request headers unreadable".into()),
            ));
        }
    };
    let mut request = Request::from_headers(headers);
    if shared.policy.uses_source_address {
        request.source_address = property_text(host, &["source", "address"])
            .as_deref()
            .and_then(parse_peer_address);
    }
    if shared.policy.min_tls_version.is_some() {
        request.tls_version = property_text(host, &["connection", "tls_version"])
            .filter(|version| !version.is_empty());
    }
    if shared.policy.uses_peer_certificate {
        request.peer_certificate_sha256 =
            property_text(host, &["connection", "sha256_peer_certificate_digest"])
                .filter(|digest| !digest.is_empty());
    }
    // The workers' random key, only when no keys are configured (those are in the policy).
    let nonces = shared.policy.sender.dpop.as_ref();
    if nonces
        .is_some_and(|dpop| dpop.nonce_lifetime_seconds.is_some() && dpop.nonce_keys.is_empty())
        && request.has_header("dpop")
    {
        request.dpop_nonce_key = nonce_key(host);
    }
    Ok(request)
}

/// The core's decision, with the worker's keys and token cache borrowed for it only: what it
/// calls of the host (shared data for the abuse limits, the peer address) never runs guest
/// code (see the borrow discipline). With it, the failed secret it counted, if any.
fn evaluate<'p>(
    host: &dyn Host,
    shared: &'p Shared,
    request: &Request,
    settled: &Settled,
    now: u64,
) -> Result<(Decided<'p>, Option<(Source, String)>), Flow> {
    let (Ok(mut cache), Ok(slots), Ok(revocations)) = (
        shared.cache.try_borrow_mut(),
        shared.slots.try_borrow(),
        shared.revocations.try_borrow(),
    ) else {
        return Err(internal_failure(
            host,
            shared,
            &Denial::Unavailable("edge-auth is busy".into()),
        ));
    };
    let keys = WorkerKeys {
        providers: &shared.policy.providers,
        endpoints: &shared.policy.endpoints,
        slots: &slots,
        revocations: &revocations,
    };
    // The abuse limits ask for the peer only when they need it (not on a cache hit).
    let peer = || {
        property_text(host, &["source", "address"])
            .as_deref()
            .and_then(parse_peer_address)
    };
    let store = SharedData(host);
    let guard = Guard::new(
        &shared.policy.abuse,
        &store,
        request,
        shared.policy.trusted_hops,
        &peer,
        now,
    );
    let decided = evaluate_guarded(
        &shared.policy,
        &keys,
        guard.as_ref(),
        &mut cache,
        request,
        now / 1000,
        settled,
        &mut Untraced,
    );
    Ok((decided, guard.and_then(|guard| guard.failed_secret())))
}

/// Applies an allow: a DPoP proof recorded as used (refused if it was used already; with the
/// fleet's replay check, held for the fleet's word), then the header changes; the outcome
/// reported.
fn allow(
    host: &dyn Host,
    shared: &Shared,
    request: Request,
    forwarding: &Forwarding,
    outcome: Outcome,
    now: u64,
) -> Applied {
    // A DPoP proof is good once: recorded in the replay cache the workers share.
    if let (Some(entry), Some(dpop)) = (&forwarding.replay, &shared.policy.sender.dpop) {
        if let Err(why) = first_use(host, entry, &dpop.replay, now / 1000) {
            let refusal = match why {
                NotRecorded::Replayed => None,
                NotRecorded::Unavailable => Some((
                    Denial::Unavailable("the DPoP replay cache is unavailable".into()),
                    Reason::Internal,
                )),
            };
            return Applied::Done(refuse_proof(host, shared, &request, outcome, refusal));
        }
        // New to this Envoy: the fleet is asked next, when it keeps proofs too.
        if let Some(on_unavailable) = shared.policy.fleet.as_ref().and_then(|f| f.dpop_replay) {
            return Applied::Fleet(FleetCheck::Replay {
                key: entry.key,
                held: Box::new(HeldAllow::new(request, forwarding, outcome)),
                on_unavailable,
            });
        }
    }
    let removals = forwarding.remove.iter().map(|name| (*name, None));
    let path = forwarding.path.as_deref().map(|path| (":path", Some(path)));
    let sets = forwarding
        .set
        .iter()
        .map(|(name, value)| (*name, Some(value.as_str())));
    Applied::Done(forward(
        host,
        shared,
        removals.chain(path).chain(sets),
        &outcome,
    ))
}

/// Forwards a request held for the fleet, with its changes.
pub(crate) fn forward_held(host: &dyn Host, shared: &Shared, held: HeldAllow) -> Flow {
    let outcome = held_outcome(&held, shared);
    let removals = held.remove.iter().map(|name| (name.as_str(), None));
    let path = held.path.as_deref().map(|path| (":path", Some(path)));
    let sets = held
        .set
        .iter()
        .map(|(name, value)| (name.as_str(), Some(value.as_str())));
    forward(host, shared, removals.chain(path).chain(sets), &outcome)
}

/// Refuses a request held for the fleet: its proof was used already (`None`), or could not be
/// checked.
pub(crate) fn refuse_held(
    host: &dyn Host,
    shared: &Shared,
    held: HeldAllow,
    refusal: Option<(Denial, Reason)>,
) -> Flow {
    let outcome = held_outcome(&held, shared);
    refuse_proof(host, shared, &held.request, outcome, refusal)
}

fn held_outcome<'p>(held: &HeldAllow, shared: &'p Shared) -> Outcome<'p> {
    let providers = &shared.policy.providers;
    held.outcome
        .clone()
        .attached(|index| providers.get(index).map(|p| p.name.as_str()))
}

/// Makes an allowed request's header changes and reports its outcome.
fn forward<'n>(
    host: &dyn Host,
    shared: &Shared,
    changes: impl Iterator<Item = (&'n str, Option<&'n str>)>,
    outcome: &Outcome,
) -> Flow {
    for (name, value) in changes {
        if let Err(status) = host.set_request_header(name, value) {
            log::error!("cannot change request header {name}: {status:?}");
            return internal_failure(
                host,
                shared,
                &Denial::Unavailable("request headers unwritable".into()),
            );
        }
    }
    report(host, shared, outcome);
    Flow::Continue
}

/// Refuses a request whose DPoP proof was used already (`refusal` `None`), or whose use could
/// not be recorded (`refusal`: 503).
fn refuse_proof(
    host: &dyn Host,
    shared: &Shared,
    request: &Request,
    mut outcome: Outcome,
    refusal: Option<(Denial, Reason)>,
) -> Flow {
    let (denial, reason) = refusal.unwrap_or_else(|| {
        (
            Denial::InvalidDpopProof("DPoP proof was already used".into()),
            Reason::InvalidDpopProof,
        )
    });
    outcome.record_refusal(&denial, reason, false, request);
    report(host, shared, &outcome);
    // Only a DPoP proof is recorded as used: the token came with the DPoP scheme.
    let challenge = Challenge::Presented(Scheme::Dpop);
    let response = deny_response(&shared.policy, request, &denial, challenge);
    send_deny(host, &response)
}

/// Publishes a decided request's outcome: metrics (counted in the worker, added at the tick),
/// and the access-log fields.
fn report(host: &dyn Host, shared: &Shared, outcome: &Outcome) {
    shared.metrics.count(host, outcome);
    if shared.metrics.is_closed() {
        // The plugin is done and no tick comes any more: this request's counts go out now.
        let stats = shared
            .cache
            .try_borrow_mut()
            .map(|mut cache| cache.take_stats())
            .unwrap_or_default();
        shared.metrics.flush(host, stats);
    }
    if shared.policy.access_log_fields {
        access_log::publish(host, outcome);
    }
}

/// Answers 503 (or 400 for unreadable headers) when the filter itself cannot decide: always
/// enforced, whatever the mode, and counted with reason `internal`. No access-log field is set:
/// the request's stream may be gone, and setting filter state then is an error the SDK turns
/// into a panic.
pub(crate) fn internal_failure(host: &dyn Host, shared: &Shared, denial: &Denial) -> Flow {
    shared.metrics.count(
        host,
        &Outcome {
            verdict: Some(Verdict::Denied),
            reason: Some(Reason::Internal),
            ..Outcome::default()
        },
    );
    deny(host, denial, &shared.policy.realm)
}

/// A connection property as text (`source.address`, `connection.tls_version`), if Envoy has it.
fn property_text(host: &dyn Host, path: &[&str]) -> Option<String> {
    host.property(path)
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// Sends the local reply for a denial that has no credential challenge, and stops the request.
pub(crate) fn deny(host: &dyn Host, denial: &Denial, realm: &str) -> Flow {
    send_deny(host, &denial.response(realm, Challenge::Accepted(&[])))
}

/// Sends a refusal built by the core, and stops the request.
pub(crate) fn send_deny(host: &dyn Host, response: &DenyResponse) -> Flow {
    let headers: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    send(host, response.status, &headers, &response.body)
}

/// Sends a local reply, and stops the request. Should the host refuse it, a bare 503 is tried,
/// then the stream is reset: the request is held either way (never forwarded unchecked), and
/// never left waiting for Envoy's timeout unless the host refuses all three.
fn send(host: &dyn Host, status: u32, headers: &[(&str, &str)], body: &str) -> Flow {
    let Err(error) = host.send_response(status, headers, body.as_bytes()) else {
        return Flow::Pause;
    };
    log::error!("cannot send the local reply ({status}): {error:?}; sending a bare 503");
    let Err(error) = host.send_response(503, &[], b"") else {
        return Flow::Pause;
    };
    log::error!("cannot send a bare 503 either: {error:?}; resetting the stream");
    if let Err(error) = host.reset_request() {
        log::error!("cannot reset the stream: {error:?}");
    }
    Flow::Pause
}
