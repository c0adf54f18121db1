//! The root context: one per worker VM. It compiles the plugin configuration once (refusing a
//! bad one, so Envoy rejects the plugin), owns the worker's [`Shared`] state (policy,
//! verified-token cache, key slots), creates an HTTP context per request, and runs the key
//! fetches of [`KeyFetcher`] on its tick.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};

use super::apply::{now_ms, Shared};
use super::http_context::EdgeAuthRequest;
use super::issuer_calls::{create_lease, KeyFetcher};
use super::metrics::Metrics;
use super::nonce_key::create_nonce_key;
use super::replay_store::create_shards;
use super::shared_records::create_buckets;
use crate::issuer::remote_keys::Slot;
use crate::policy::cache::TokenCache;
use crate::policy::Policy;

/// How often the root context looks at shared keys, leases and waiting requests.
const TICK: Duration = Duration::from_millis(100);
/// How often the root context adds batched counts to the metrics when it fetches no keys.
const METRICS_TICK: Duration = Duration::from_secs(1);

pub(crate) struct EdgeAuthRoot {
    pub(crate) context_id: u32,
    pub(crate) shared: Option<Rc<Shared>>,
    pub(crate) fetcher: KeyFetcher,
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
        // Log as verbosely as Envoy's `wasm` logger is set (debug lines name each refusal).
        if let Ok(level) = hostcalls::get_log_level() {
            proxy_wasm::set_log_level(level);
        }
        match Policy::from_json(&bytes) {
            Ok(policy) => {
                log::info!(
                    "configured {} provider(s), {} API client(s), {} rule(s)",
                    policy.providers.len(),
                    policy.clients.len(),
                    policy.rules.len()
                );
                let remote = policy.endpoints.iter().any(|e| e.remote.is_some());
                let tick = if remote { TICK } else { METRICS_TICK };
                if let Err(status) = hostcalls::set_tick_period(tick) {
                    log::error!("cannot set the tick period: {status:?}");
                    return false;
                }
                if let Some(dpop) = &policy.sender.dpop {
                    create_shards(&dpop.replay);
                    if dpop.nonce_lifetime_seconds.is_some() && !create_nonce_key() {
                        return false;
                    }
                }
                for (provider, endpoints) in policy.providers.iter().zip(&policy.endpoints) {
                    if let Some(remote) = &endpoints.remote {
                        create_lease(provider, remote);
                    }
                }
                // Once per plugin, after everything that can fail: which release is running.
                log::info!("edge-auth {} configured", env!("CARGO_PKG_VERSION"));
                create_buckets(&policy.abuse);
                let cache = RefCell::new(TokenCache::new(policy.token_cache_entries));
                let slots =
                    RefCell::new(policy.providers.iter().map(|_| Slot::default()).collect());
                let metrics = Metrics::new(&policy);
                self.shared = Some(Rc::new(Shared {
                    policy,
                    cache,
                    slots,
                    root_id: self.context_id,
                    metrics,
                    started_ms: now_ms(),
                }));
                // This VM's linear memory after configuration (docs/performance.md, Memory):
                // the most of it Envoy can hold resident before traffic fills the caches.
                log::debug!(
                    "linear memory after configuration: {} KiB",
                    core::arch::wasm32::memory_size::<0>() * 64
                );
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
