//! Calls to the fleet's rate limit service ([`crate::fleet`]): starting one for a request that
//! needs the fleet's word, and applying the answer to that request.
//!
//! A call is made from whichever context is running when the request is decided (its own HTTP
//! context, or the root context deciding a request that waited for keys), and the SDK delivers
//! the answer to that context; both hand it here. So the calls in flight live in the worker's
//! [`Shared`] state, by call token, with the request's context id: the answer makes that
//! context effective again (a client that left is simply gone) and the root context effective
//! after it, when the root received it.
//!
//! Envoy answers every call within its timeout (a failure or `DEADLINE_EXCEEDED` counts as an
//! answer), but not to a context that has gone; the tick forgets calls older than twice the
//! timeout, and at most [`MAX_IN_FLIGHT`] wait at once (beyond, a use acts as without an
//! answer). The first call without an answer logs one warning, and the first answer after it
//! one line; nothing per request.

use super::apply::{forward_held, refuse_held, send_deny, Shared};
use super::fleet_state::{AfterCount, FleetCheck, InFlight};
use super::metrics::FleetResult;
use super::{Flow, Host};
use crate::fleet::protocol::{self, Answer, Code};
use crate::fleet::{FleetUse, OnUnavailable};
use crate::policy::deny::Denial;
use crate::policy::outcome::Reason;
use crate::request::source::Source;

/// Most calls a worker keeps waiting for at once.
pub(crate) const MAX_IN_FLIGHT: usize = 4096;

/// Starts the call `check` needs for the request of context `context_id` (the effective one);
/// `Pause` while it runs, or the flow of acting without an answer when no call can be made.
pub(crate) fn start(host: &dyn Host, shared: &Shared, context_id: u32, check: FleetCheck) -> Flow {
    let Some(fleet) = shared.policy.fleet.as_ref() else {
        return without_answer(host, shared, check, "no fleet is configured");
    };
    let full = shared
        .fleet
        .try_borrow()
        .map_or(true, |calls| calls.in_flight.len() >= MAX_IN_FLIGHT);
    if full {
        return without_answer(host, shared, check, "too many calls in flight");
    }
    let message = protocol::encode_request(&fleet.domain, &check.descriptors(), 1);
    let started_ms = host.now_ms();
    // No borrow is held here: Envoy may answer a failed dispatch before it returns.
    match host.dispatch_grpc_call(
        &fleet.cluster,
        protocol::SERVICE,
        protocol::METHOD,
        &message,
        fleet.timeout_ms,
    ) {
        Ok(token) => {
            let waiting = InFlight {
                context_id,
                started_ms,
                check,
            };
            match shared.fleet.try_borrow_mut() {
                Ok(mut calls) => {
                    calls.in_flight.insert(token, waiting);
                    Flow::Pause
                }
                Err(_) => without_answer(host, shared, waiting.check, "busy"),
            }
        }
        Err(status) => {
            let cause = format!("cannot call cluster {}: {status:?}", fleet.cluster);
            without_answer(host, shared, check, &cause)
        }
    }
}

/// The answer to call `token` (`status` is its gRPC status, 0 for OK; `size` its message's
/// bytes), delivered to context `receiver`.
pub(crate) fn answered(
    host: &dyn Host,
    shared: &Shared,
    receiver: u32,
    token: u32,
    status: u32,
    size: usize,
) {
    let waiting = match shared.fleet.try_borrow_mut() {
        Ok(mut calls) => calls.in_flight.remove(&token),
        Err(_) => None,
    };
    let Some(waiting) = waiting else {
        log::debug!("answer to unknown rate limit call {token} ignored");
        return;
    };
    let fleet_use = waiting.check.fleet_use();
    let elapsed = host.now_ms().saturating_sub(waiting.started_ms);
    let answer = match status {
        0 => host
            .grpc_call_response(size)
            .map_or(Err("an empty answer".to_string()), |bytes| {
                protocol::decode_response(&bytes).map_err(|_| "an undecodable answer".to_string())
            }),
        4 => Err(format!("no answer within {} ms", elapsed)),
        other => Err(format!("gRPC status {other}")),
    };
    if host.set_effective_context(waiting.context_id).is_err() {
        log::debug!("the request waiting for rate limit call {token} has gone");
    } else {
        let flow = match answer {
            Ok(answer) => {
                shared
                    .metrics
                    .fleet_call(host, fleet_use, result_of(&answer), elapsed);
                recovered(shared);
                with_answer(host, shared, waiting.check, &answer)
            }
            Err(cause) => {
                shared
                    .metrics
                    .fleet_call(host, fleet_use, FleetResult::Unavailable, elapsed);
                without_answer(host, shared, waiting.check, &cause)
            }
        };
        if flow == Flow::Continue {
            if let Err(status) = host.resume_request() {
                log::error!("cannot resume a request: {status:?}");
            }
        }
    }
    if receiver != waiting.context_id {
        if let Err(status) = host.set_effective_context(receiver) {
            log::error!("cannot return to context {receiver}: {status:?}");
        }
    }
}

/// Forgets calls started more than twice the timeout before `now_ms` (their request has gone:
/// Envoy answers every call of a living context within the timeout).
pub(crate) fn forget_stale(shared: &Shared, now_ms: u64) {
    let Some(fleet) = shared.policy.fleet.as_ref() else {
        return;
    };
    let horizon = fleet.timeout_ms.saturating_mul(2);
    if let Ok(mut calls) = shared.fleet.try_borrow_mut() {
        calls
            .in_flight
            .retain(|_, call| now_ms.saturating_sub(call.started_ms) <= horizon);
    }
}

/// How many calls this worker waits for (for tests and diagnostics).
pub(crate) fn in_flight(shared: &Shared) -> usize {
    shared
        .fleet
        .try_borrow()
        .map_or(0, |calls| calls.in_flight.len())
}

fn result_of(answer: &Answer) -> FleetResult {
    match answer.overall {
        Code::OverLimit => FleetResult::OverLimit,
        Code::Ok | Code::Unknown => FleetResult::Ok,
    }
}

/// Applies the fleet's answer.
fn with_answer(host: &dyn Host, shared: &Shared, check: FleetCheck, answer: &Answer) -> Flow {
    match check {
        FleetCheck::Replay { held, .. } => {
            if answer.overall == Code::OverLimit {
                refuse_held(host, shared, *held, None)
            } else {
                forward_held(host, shared, *held)
            }
        }
        FleetCheck::Lockout {
            source,
            client_id,
            then,
        } => {
            let over = |index: usize| answer.statuses.get(index) == Some(&Code::OverLimit);
            // Without per-descriptor statuses, an overall OVER_LIMIT locks the narrower pair.
            let pair = over(0) || (answer.statuses.is_empty() && answer.overall == Code::OverLimit);
            let whole_source = over(1);
            if pair || whole_source {
                lock_here(host, shared, &source, &client_id, whole_source);
            }
            after_count(host, shared, then)
        }
    }
}

/// Locks `client_id` from `source` (or the whole source) in this Envoy's lockout table.
fn lock_here(host: &dyn Host, shared: &Shared, source: &Source, client_id: &str, whole: bool) {
    let Some(lockout) = shared.policy.abuse.lockout.as_ref() else {
        return;
    };
    let store = super::shared_records::SharedData(host);
    let scope = if whole { "source" } else { "source and client" };
    log::debug!("the fleet's failure count locks {source} ({scope})");
    if let Err(err) = lockout.lock(&store, source, client_id, whole, host.now_ms()) {
        log::warn!("the fleet's lock of {source} was not kept here: {err}");
    }
}

/// Acts for a use without the fleet's answer (`cause` says why, for the outage warning).
fn without_answer(host: &dyn Host, shared: &Shared, check: FleetCheck, cause: &str) -> Flow {
    let fleet_use = check.fleet_use();
    outage(shared, fleet_use, cause);
    match check {
        FleetCheck::Replay {
            held,
            on_unavailable: OnUnavailable::Local,
            ..
        } => forward_held(host, shared, *held),
        FleetCheck::Replay { held, .. } => {
            let denial = Denial::Unavailable("the fleet's DPoP replay check is unavailable".into());
            refuse_held(host, shared, *held, Some((denial, Reason::Internal)))
        }
        // A failure is counted here whatever the fleet says: the answer goes out as it is.
        FleetCheck::Lockout { then, .. } => after_count(host, shared, then),
    }
}

/// Answers a request whose failed secret the fleet has counted (or could not).
fn after_count(host: &dyn Host, shared: &Shared, then: AfterCount) -> Flow {
    match then {
        AfterCount::Refuse(response) => send_deny(host, &response),
        AfterCount::Forward(held) => forward_held(host, shared, *held),
    }
}

/// Logs the start of an outage once (whichever use meets it first), saying what each
/// configured use does until the service answers again.
fn outage(shared: &Shared, fleet_use: FleetUse, cause: &str) {
    let Ok(mut calls) = shared.fleet.try_borrow_mut() else {
        return;
    };
    if calls.out {
        return;
    }
    calls.out = true;
    let Some(fleet) = shared.policy.fleet.as_ref() else {
        return;
    };
    let mut meanwhile = Vec::new();
    match fleet.dpop_replay {
        Some(OnUnavailable::FailClosed) => meanwhile.push("DPoP proofs are refused (503)"),
        Some(OnUnavailable::Local) => meanwhile.push("DPoP proofs are checked by this Envoy alone"),
        None => {}
    }
    if fleet.lockout {
        meanwhile.push("failed secrets are counted by this Envoy alone");
    }
    log::warn!(
        "the rate limit service (cluster {}) gave no answer for {}: {cause}; until it does, {}",
        fleet.cluster,
        fleet_use.name(),
        meanwhile.join(", ")
    );
}

/// Logs the end of an outage once.
fn recovered(shared: &Shared) {
    if let Ok(mut calls) = shared.fleet.try_borrow_mut() {
        if calls.out {
            calls.out = false;
            log::info!("the rate limit service answers again");
        }
    }
}
