//! The proxy-wasm glue: moves data between Envoy and the core, and decides nothing itself.
//!
//! The root context compiles the plugin configuration once (refusing a bad one, so Envoy
//! rejects the plugin) and owns the per-worker verified-token cache. Each HTTP context reads
//! the request headers and the clock, calls [`crate::decision::authorize`], and applies the
//! result: header changes and `Continue`, or a local reply.
//!
//! Host calls go through `hostcalls` functions that return `Result` (the SDK's convenience
//! methods unwrap, and `get_map` panics on a non-UTF-8 header value, which a client can send).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};

use crate::cache::TokenCache;
use crate::config::Policy;
use crate::credential::Request;
use crate::decision::{authorize, Decision};
use crate::deny::Denial;
use crate::transport::parse_peer_address;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(EdgeAuthRoot::default()) });
}}

/// What every HTTP context of this worker shares once configured.
struct Shared {
    policy: Policy,
    cache: RefCell<TokenCache>,
}

#[derive(Default)]
struct EdgeAuthRoot {
    shared: Option<Rc<Shared>>,
}

impl Context for EdgeAuthRoot {}

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
                let cache = RefCell::new(TokenCache::new(policy.token_cache_entries));
                self.shared = Some(Rc::new(Shared { policy, cache }));
                true
            }
            Err(err) => {
                log::error!("invalid configuration: {err}");
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(EdgeAuthRequest {
            shared: self.shared.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct EdgeAuthRequest {
    shared: Option<Rc<Shared>>,
}

impl Context for EdgeAuthRequest {}

impl HttpContext for EdgeAuthRequest {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.as_ref() else {
            // Unreachable when Envoy honours a failed on_configure; fail closed regardless.
            return deny(
                &Denial::Unavailable("edge-auth is not configured".into()),
                "edge",
            );
        };
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
        request.source_address = property_text(&["source", "address"])
            .as_deref()
            .and_then(parse_peer_address);
        request.tls_version =
            property_text(&["connection", "tls_version"]).filter(|version| !version.is_empty());
        let now = hostcalls::get_current_time()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |elapsed| elapsed.as_secs());
        let decision = {
            let Ok(mut cache) = shared.cache.try_borrow_mut() else {
                return deny(
                    &Denial::Unavailable("edge-auth is busy".into()),
                    &shared.policy.realm,
                );
            };
            authorize(&shared.policy, &mut cache, &request, now)
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

/// Sends the local reply for a denial that has no credential challenge.
fn deny(denial: &Denial, realm: &str) -> Action {
    deny_with(denial, realm, &[])
}

/// Sends the local reply for `denial`, challenging for `schemes`, and stops the request.
fn deny_with(
    denial: &Denial,
    realm: &str,
    schemes: &[crate::credential::CredentialKind],
) -> Action {
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
