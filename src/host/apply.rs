//! The interface the host contexts share: the worker's configured state, the clock, and turning
//! one decision of the core into host calls (header changes, or a local reply).
//!
//! The HTTP context and the issuer calls both decide requests through here; neither calls into
//! the other's internals for it. A decision that needs a wait (keys, introspection) is handed
//! back as [`Applied`]: only the HTTP context may start one, and a woken request is decided
//! with what there is ([`decide_now`]).
//!
//! Host calls go through `hostcalls` functions that return `Result` (the SDK's convenience
//! methods unwrap, and `get_map` panics on a non-UTF-8 header value, which a client can send).

use std::cell::RefCell;
use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, MapType};

use crate::issuer::remote_keys::{Slot, WorkerKeys};
use crate::policy::cache::TokenCache;
use crate::policy::decision::{authorize_guarded, Decision};
use crate::policy::deny::Denial;
use crate::policy::Policy;
use crate::request::credential::{CredentialKind, Request};
use crate::request::transport::parse_peer_address;

use super::shared_records::SharedData;

/// What every HTTP context of this worker shares once configured.
pub(crate) struct Shared {
    pub(crate) policy: Policy,
    pub(crate) cache: RefCell<TokenCache>,
    /// One per provider (used only by providers whose keys are fetched).
    pub(crate) slots: RefCell<Vec<Slot>>,
    /// The root context, made effective again after deciding a paused request.
    pub(crate) root_id: u32,
}

/// Milliseconds since the Unix epoch, by the host's clock.
pub(crate) fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// What deciding a request leaves to its caller: nothing (the decision is applied), or a wait
/// that only the HTTP context may start.
pub(crate) enum Applied {
    /// Allowed with its header changes made, or answered locally: return this action.
    Done(Action),
    /// Wait for `provider`'s keys (fetched at `now_ms` or later), else answer `otherwise`.
    AwaitKeys {
        provider: usize,
        unknown_kid: bool,
        otherwise: Denial,
        now_ms: u64,
    },
    /// Ask `provider`'s introspection endpoint about `token`.
    Introspect { provider: usize, token: String },
}

/// Decides a request that may not wait (it was woken once already) and applies the decision:
/// a wait is answered with what there is.
pub(crate) fn decide_now(shared: &Shared) -> Action {
    match decide(shared) {
        Applied::Done(action) => action,
        Applied::AwaitKeys { otherwise, .. } => deny(&otherwise, &shared.policy.realm),
        Applied::Introspect { .. } => introspection_unavailable(&shared.policy.realm),
    }
}

/// Decides the request of the effective HTTP context and applies an allow or a deny.
pub(crate) fn decide(shared: &Shared) -> Applied {
    let realm = shared.policy.realm.as_str();
    let headers = match hostcalls::get_map_bytes(MapType::HttpRequestHeaders) {
        Ok(headers) => headers
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect(),
        Err(status) => {
            log::error!("cannot read request headers: {status:?}");
            return Applied::Done(deny(
                &Denial::InvalidRequest("request headers unreadable".into()),
                realm,
            ));
        }
    };
    let mut request = Request::from_headers(headers);
    // Each property is a host call: ask only for what the policy will look at.
    if shared.policy.uses_source_address {
        request.source_address = property_text(&["source", "address"])
            .as_deref()
            .and_then(parse_peer_address);
    }
    if shared.policy.min_tls_version.is_some() {
        request.tls_version =
            property_text(&["connection", "tls_version"]).filter(|version| !version.is_empty());
    }
    let now = now_ms();
    let decision = {
        let (Ok(mut cache), Ok(slots)) = (shared.cache.try_borrow_mut(), shared.slots.try_borrow())
        else {
            return Applied::Done(deny(
                &Denial::Unavailable("edge-auth is busy".into()),
                realm,
            ));
        };
        let keys = WorkerKeys {
            providers: &shared.policy.providers,
            endpoints: &shared.policy.endpoints,
            slots: &slots,
        };
        // The abuse limits ask for the peer only when they need it (not on a cache hit).
        let peer = || {
            property_text(&["source", "address"])
                .as_deref()
                .and_then(parse_peer_address)
        };
        authorize_guarded(
            &shared.policy,
            &keys,
            &SharedData,
            &peer,
            &mut cache,
            &request,
            now,
        )
    };
    match decision {
        Decision::Allow(forwarding) => {
            let headers = MapType::HttpRequestHeaders;
            let removals = forwarding.remove.iter().map(|name| (*name, None));
            let path = forwarding.path.as_deref().map(|path| (":path", Some(path)));
            let sets = forwarding
                .set
                .iter()
                .map(|(name, value)| (*name, Some(value.as_str())));
            for (name, value) in removals.chain(path).chain(sets) {
                if let Err(status) = hostcalls::set_map_value(headers, name, value) {
                    log::error!("cannot change request header {name}: {status:?}");
                    return Applied::Done(deny(
                        &Denial::Unavailable("request headers unwritable".into()),
                        realm,
                    ));
                }
            }
            Applied::Done(Action::Continue)
        }
        Decision::Deny { denial, schemes } => Applied::Done(deny_with(&denial, realm, schemes)),
        Decision::AwaitKeys {
            provider,
            unknown_kid,
            otherwise,
        } => Applied::AwaitKeys {
            provider,
            unknown_kid,
            otherwise,
            now_ms: now,
        },
        Decision::Introspect { provider, token } => Applied::Introspect { provider, token },
    }
}

/// A connection property as text (`source.address`, `connection.tls_version`), if Envoy has it.
fn property_text(path: &[&str]) -> Option<String> {
    match hostcalls::get_property(path.to_vec()) {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// Answers 503: the introspection endpoint cannot be asked.
pub(crate) fn introspection_unavailable(realm: &str) -> Action {
    deny(
        &Denial::Unavailable("the token introspection endpoint is unavailable".into()),
        realm,
    )
}

/// Sends the local reply for a denial that has no credential challenge, and stops the request.
pub(crate) fn deny(denial: &Denial, realm: &str) -> Action {
    deny_with(denial, realm, &[])
}

/// Sends the local reply for `denial`, challenging for `schemes`, and stops the request.
fn deny_with(denial: &Denial, realm: &str, schemes: &[CredentialKind]) -> Action {
    let response = denial.response(realm, schemes);
    let headers: Vec<(&str, &str)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if let Err(status) =
        hostcalls::send_http_response(response.status, headers, Some(response.body.as_bytes()))
    {
        log::error!("cannot send the local reply: {status:?}");
    }
    Action::Pause
}
