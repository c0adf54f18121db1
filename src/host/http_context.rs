//! The HTTP context: one per request. It decides the request through [`super::apply`] and,
//! when the core asks for a wait, starts it: a pause until the issuer's keys arrive, or an
//! introspection call whose answer comes back to this context.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;

use super::apply::{decide, decide_now, deny, Applied, Shared};
use super::issuer_calls::{introspect, introspection_answered, wait_for_keys, Pending};
use super::metrics::IntrospectionResult;
use crate::policy::decision::Settled;
use crate::policy::deny::Denial;

pub(crate) struct EdgeAuthRequest {
    pub(crate) context_id: u32,
    pub(crate) shared: Option<Rc<Shared>>,
    /// The introspection call in flight for this request.
    pub(crate) introspecting: Option<Pending>,
}

impl Context for EdgeAuthRequest {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if let (Some(shared), Some(pending)) = (self.shared.clone(), self.introspecting.take()) {
            if pending.call == token_id {
                introspection_answered(&shared, &pending, num_headers, body_size);
            }
        }
    }
}

impl HttpContext for EdgeAuthRequest {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.as_ref() else {
            // Unreachable when Envoy honours a failed on_configure; fail closed regardless.
            return deny(
                &Denial::Unavailable("edge-auth is not configured".into()),
                "edge",
            );
        };
        match decide(shared, &Settled::Open) {
            Applied::Done(action) => action,
            Applied::AwaitKeys {
                provider,
                unknown_kid,
                now_ms,
            } => {
                if wait_for_keys(shared, provider, unknown_kid, self.context_id, now_ms) {
                    Action::Pause
                } else {
                    decide_now(shared, &Settled::Final)
                }
            }
            Applied::Introspect { provider, token } => match introspect(shared, provider, &token) {
                Some(call) => {
                    self.introspecting = Some(Pending {
                        call,
                        provider,
                        token,
                    });
                    Action::Pause
                }
                None => {
                    shared
                        .metrics
                        .introspection(provider, IntrospectionResult::Unavailable);
                    decide_now(shared, &Settled::Final)
                }
            },
        }
    }
}
