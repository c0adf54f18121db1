//! The proxy-wasm glue: moves data between Envoy and the core, and decides nothing itself.
//!
//! The root context compiles the plugin configuration once (refusing a bad one, so Envoy
//! rejects the plugin) and owns the per-worker verified-token cache. Each HTTP context reads
//! the request headers and the clock, calls [`crate::decision::authorize_with_keys`], and
//! applies the result: header changes and `Continue`, a local reply, or a pause until the
//! issuer's keys arrive.
//!
//! Calls to issuers (key fetches on the root context's tick, introspection from the HTTP
//! context) and the requests paused for them are handled in [`crate::issuer_calls`]; this
//! module only hands it the contexts' events.
//!
//! Host calls go through `hostcalls` functions that return `Result` (the SDK's convenience
//! methods unwrap, and `get_map` panics on a non-UTF-8 header value, which a client can send).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

use crate::cache::TokenCache;
use crate::config::Policy;
use crate::credential::{CredentialKind, Request};
use crate::decision::{authorize_with_keys, Decision};
use crate::deny::Denial;
use crate::issuer_calls::{
    create_lease, introspect, introspection_answered, wait_for_keys, KeyFetcher, Pending,
};
use crate::key_source::{Slot, WorkerKeys};
use crate::transport::parse_peer_address;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(EdgeAuthRoot {
            context_id,
            shared: None,
            fetcher: KeyFetcher::default(),
        })
    });
}}

/// How often the root context looks at shared keys, leases and waiting requests.
const TICK: Duration = Duration::from_millis(100);

/// What every HTTP context of this worker shares once configured.
pub(crate) struct Shared {
    pub(crate) policy: Policy,
    pub(crate) cache: RefCell<TokenCache>,
    /// One per provider (used only by providers whose keys are fetched).
    pub(crate) slots: RefCell<Vec<Slot>>,
    /// The root context, made effective again after deciding a paused request.
    pub(crate) root_id: u32,
}

struct EdgeAuthRoot {
    context_id: u32,
    shared: Option<Rc<Shared>>,
    fetcher: KeyFetcher,
}

impl Context for EdgeAuthRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if let Some(shared) = self.shared.clone() {
            self.fetcher
                .on_response(&shared, token_id, num_headers, body_size);
        }
    }
}

impl RootContext for EdgeAuthRoot {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(
            BufferType::PluginConfiguration,
            0,
            plugin_configuration_size,
        ) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => Vec::new(),
            Err(status) => {
                log::error!("cannot read the plugin configuration: {status:?}");
                return false;
            }
        };
        match Policy::from_json(&bytes) {
            Ok(policy) => {
                log::info!(
                    "configured {} provider(s), {} API client(s), {} rule(s)",
                    policy.providers.len(),
                    policy.clients.len(),
                    policy.rules.len()
                );
                let remote = policy.providers.iter().any(|p| p.remote.is_some());
                if remote {
                    if let Err(status) = hostcalls::set_tick_period(TICK) {
                        log::error!("cannot set the tick period: {status:?}");
                        return false;
                    }
                }
                for provider in policy.providers.iter().filter(|p| p.remote.is_some()) {
                    create_lease(provider);
                }
                // Once per plugin, after everything that can fail: which release is running.
                log::info!("edge-auth {} configured", env!("CARGO_PKG_VERSION"));
                let cache = RefCell::new(TokenCache::new(policy.token_cache_entries));
                let slots =
                    RefCell::new(policy.providers.iter().map(|_| Slot::default()).collect());
                self.shared = Some(Rc::new(Shared {
                    policy,
                    cache,
                    slots,
                    root_id: self.context_id,
                }));
                true
            }
            Err(err) => {
                log::error!("invalid configuration: {err}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(shared) = self.shared.clone() {
            self.fetcher.on_tick(&shared);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(EdgeAuthRequest {
            context_id,
            shared: self.shared.clone(),
            introspecting: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
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

struct EdgeAuthRequest {
    context_id: u32,
    shared: Option<Rc<Shared>>,
    /// The introspection call in flight for this request.
    introspecting: Option<Pending>,
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
                introspection_answered(&shared, self.context_id, &pending, num_headers, body_size);
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
        decide(shared, self.context_id, true, &mut self.introspecting)
    }
}

/// Decides the request of the effective HTTP context and applies the decision. `may_wait`:
/// whether it may be paused for keys or introspection (once only; a woken request is decided
/// with what there is); an introspection call started is recorded in `introspecting`.
pub(crate) fn decide(
    shared: &Shared,
    context_id: u32,
    may_wait: bool,
    introspecting: &mut Option<Pending>,
) -> Action {
    let headers = match hostcalls::get_map_bytes(MapType::HttpRequestHeaders) {
        Ok(headers) => headers
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect(),
        Err(status) => {
            log::error!("cannot read request headers: {status:?}");
            return deny(
                &Denial::InvalidRequest("request headers unreadable".into()),
                &shared.policy.realm,
            );
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
            return deny(
                &Denial::Unavailable("edge-auth is busy".into()),
                &shared.policy.realm,
            );
        };
        let keys = WorkerKeys {
            providers: &shared.policy.providers,
            slots: &slots,
        };
        authorize_with_keys(&shared.policy, &keys, &mut cache, &request, now / 1000)
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
                    return deny(
                        &Denial::Unavailable("request headers unwritable".into()),
                        &shared.policy.realm,
                    );
                }
            }
            Action::Continue
        }
        Decision::Deny { denial, schemes } => deny_with(&denial, &shared.policy.realm, schemes),
        Decision::AwaitKeys {
            provider,
            unknown_kid,
            otherwise,
        } => {
            if may_wait && wait_for_keys(shared, provider, unknown_kid, context_id, now) {
                Action::Pause
            } else {
                deny(&otherwise, &shared.policy.realm)
            }
        }
        Decision::Introspect { provider, token } => {
            match may_wait
                .then(|| introspect(shared, provider, &token))
                .flatten()
            {
                Some(call) => {
                    *introspecting = Some(Pending {
                        call,
                        provider,
                        token,
                    });
                    Action::Pause
                }
                None => deny(
                    &Denial::Unavailable("the token introspection endpoint is unavailable".into()),
                    &shared.policy.realm,
                ),
            }
        }
    }
}

/// A connection property as text (`source.address`, `connection.tls_version`), if Envoy has it.
fn property_text(path: &[&str]) -> Option<String> {
    match hostcalls::get_property(path.to_vec()) {
        Ok(Some(bytes)) => String::from_utf8(bytes).ok(),
        _ => None,
    }
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
