//! Host: the proxy-wasm glue, and the only code that names proxy-wasm (wasm only).
//!
//! It moves data between Envoy and the core and decides nothing itself. Dependencies point one
//! way: [`root_context`] (configuration, per-worker state, the tick) → [`http_context`] (one
//! request) → [`issuer_calls`] (HTTP calls to issuers, shared data, paused requests) →
//! [`apply`] (the shared state and turning a decision into host calls) → [`replay_store`] (the DPoP
//! replay cache in shared data), [`nonce_key`] (the DPoP nonce key in shared data) and
//! [`shared_records`] (the abuse limits' per-source state in shared data).

mod access_log;
mod apply;
mod http_context;
mod issuer_calls;
mod metrics;
mod nonce_key;
mod replay_store;
mod root_context;
mod shared_records;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

use issuer_calls::KeyFetcher;
use root_context::EdgeAuthRoot;

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
