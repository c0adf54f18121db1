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
                    "configured {} provider(s), {} token header(s)",
                    policy.providers.len(),
                    policy.token_sources.len()
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
        let request = Request::from_headers(headers);
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
                for name in &forwarding.remove {
                    if let Err(status) =
                        hostcalls::remove_map_value(MapType::HttpRequestHeaders, name)
                    {
                        log::error!("cannot remove header {name}: {status:?}");
                        return deny(
                            &Denial::InvalidRequest("request headers unwritable".into()),
                            &shared.policy.realm,
                        );
                    }
                }
                for (name, value) in &forwarding.set {
                    if let Err(status) =
                        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
                    {
                        log::error!("cannot set header {name}: {status:?}");
                        return deny(
                            &Denial::InvalidRequest("request headers unwritable".into()),
                            &shared.policy.realm,
                        );
                    }
                }
                Action::Continue
            }
            Decision::Deny(denial) => deny(&denial, &shared.policy.realm),
        }
    }
}

/// Sends the local reply for `denial` and stops the request.
fn deny(denial: &Denial, realm: &str) -> Action {
    let response = denial.response(realm);
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
