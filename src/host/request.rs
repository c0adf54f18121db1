//! One request's callbacks (an HTTP context): it decides the request through [`super::apply`]
//! and, when the core asks for a wait, starts it: a pause until the issuer's keys arrive, or an
//! introspection call whose answer comes back to this request.

use std::rc::Rc;

use super::apply::{decide, deny, Applied, Shared};
use super::fleet_calls::{answered, start};
use super::issuer_calls::{introspect, introspection_answered, wait_for_keys, KeyWait, Pending};
use super::metrics::IntrospectionResult;
use super::woken::decide_now;
use super::{Flow, Host};
use crate::policy::decision::Settled;
use crate::policy::deny::Denial;

/// The logic of one HTTP context.
pub struct RequestFlow {
    context_id: u32,
    /// `None` when the worker is not configured (every request is refused).
    shared: Option<Rc<Shared>>,
    /// The introspection call in flight for this request.
    introspecting: Option<Pending>,
}

impl RequestFlow {
    /// The flow of HTTP context `context_id` of a worker whose state is `shared`.
    pub(crate) fn new(context_id: u32, shared: Option<Rc<Shared>>) -> RequestFlow {
        RequestFlow {
            context_id,
            shared,
            introspecting: None,
        }
    }

    /// The flow of a request on a worker that has no configuration: refused with a 503.
    pub fn unconfigured(context_id: u32) -> RequestFlow {
        RequestFlow::new(context_id, None)
    }

    /// Whether an introspection call for this request is in flight.
    pub fn is_introspecting(&self) -> bool {
        self.introspecting.is_some()
    }

    /// The request's headers arrived: decide it, or start its wait.
    pub fn on_request_headers(&mut self, host: &dyn Host) -> Flow {
        let Some(shared) = self.shared.as_ref() else {
            // Unreachable when Envoy honours a failed on_configure; fail closed regardless.
            return deny(
                host,
                &Denial::Unavailable("edge-auth is not configured".into()),
                "edge",
            );
        };
        // At most twice: keys installed while the first decision asked for them decide it again.
        let mut applied = decide(host, shared, &Settled::Open);
        for again in [true, false] {
            let Applied::AwaitKeys {
                provider,
                unknown_kid,
                now_ms,
            } = applied
            else {
                break;
            };
            match wait_for_keys(host, shared, provider, unknown_kid, self.context_id, now_ms) {
                KeyWait::Parked => return Flow::Pause,
                KeyWait::Installed if again => applied = decide(host, shared, &Settled::Open),
                KeyWait::Installed | KeyWait::Nothing => {
                    return decide_now(host, shared, &Settled::Final, self.context_id)
                }
            }
        }
        match applied {
            Applied::Done(flow) => flow,
            Applied::Fleet(check) => start(host, shared, self.context_id, check),
            // Not reached (the loop returns for every wait for keys); fail closed regardless.
            Applied::AwaitKeys { .. } => decide_now(host, shared, &Settled::Final, self.context_id),
            Applied::Introspect {
                provider,
                token,
                confirm,
            } => match introspect(host, shared, provider, &token) {
                Some(call) => {
                    self.introspecting = Some(Pending {
                        call,
                        provider,
                        token,
                        confirm,
                    });
                    Flow::Pause
                }
                None => {
                    shared
                        .metrics
                        .introspection(host, provider, IntrospectionResult::Unavailable);
                    decide_now(host, shared, &Settled::Final, self.context_id)
                }
            },
        }
    }

    /// The answer to a gRPC call this request made (to the fleet's rate limit service): `status`
    /// is the gRPC status (0: OK), `size` the answer's bytes.
    pub fn on_grpc_call_response(
        &mut self,
        host: &dyn Host,
        token_id: u32,
        status: u32,
        size: usize,
    ) {
        if let Some(shared) = self.shared.as_ref() {
            answered(host, shared, self.context_id, token_id, status, size);
        }
    }

    /// The answer to an HTTP call this request made (its introspection), or its failure.
    pub fn on_http_call_response(
        &mut self,
        host: &dyn Host,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
    ) {
        // Only the answer to this request's own call ends its wait: any other (a stale or
        // unknown token) leaves the call pending, or the request would hang until Envoy's timeout.
        if self.introspecting.as_ref().map(|pending| pending.call) != Some(token_id) {
            log::debug!("answer to unknown call {token_id} ignored");
            return;
        }
        if let (Some(shared), Some(pending)) = (self.shared.clone(), self.introspecting.take()) {
            introspection_answered(
                host,
                &shared,
                self.context_id,
                &pending,
                num_headers,
                body_size,
            );
        }
    }
}
