//! Host: what happens on each proxy-wasm callback, and the glue that is the only code naming
//! proxy-wasm.
//!
//! The logic of the callbacks (the worker's state, pausing and resuming requests, the issuer
//! calls in flight, shared data, turning a decision into host calls) compiles natively and talks
//! to the host only through the [`Host`] trait, so it is tested natively against a fake host that
//! records every call and delivers callbacks in any order (`tests/core/host_callbacks.rs`).
//! [`wasm`] (wasm only) implements [`Host`] with proxy-wasm's host calls and maps the SDK's
//! contexts onto [`Worker`] and [`RequestFlow`]; it decides nothing itself.
//!
//! Dependencies point one way: `wasm` (the contexts) → [`worker`] (configuration, per-worker
//! state, the tick, the root's call answers) and [`request`] (one request) →
//! [`revocation_calls`] (fetching and sharing revocation lists) → [`issuer_calls`]
//! (HTTP calls to issuers, shared key data, paused requests) → [`woken`] (deciding a request
//! that waited) → [`fleet_calls`] (gRPC calls to the fleet's rate limit service) → [`apply`]
//! (a decision as host calls) → [`fleet_state`], [`metrics`], [`access_log`],
//! [`replay_store`], [`nonce_key`], [`shared_records`].
//!
//! # Borrow discipline
//!
//! The worker's mutable state (token cache, key slots, calls in flight) sits in `RefCell`s,
//! because every context of the worker shares it. A borrow is never held across a host call
//! that can run guest code again: dispatching an HTTP call (Envoy may answer a failed one
//! before the dispatch returns), a local reply, resuming a request, switching the effective
//! context. Each borrow is a block that copies out what it needs or makes its change, then
//! ends; only shared-data reads and writes and property reads (which never call back into the
//! guest) happen under one, inside the decision. Borrows are taken with `try_borrow*`, never
//! `borrow*`: by the rule above they cannot fail, and if they ever did, a request is refused
//! with a 503 and a state change is retried by the next tick (all of it is pulled again from
//! shared data), so no callback order can abort the VM. The fake-host tests re-enter the worker
//! from inside those host calls to hold the rule.

pub mod access_log;
pub mod apply;
pub mod fleet_calls;
pub mod fleet_state;
pub mod issuer_calls;
pub mod metrics;
pub mod nonce_key;
pub mod replay_store;
pub mod request;
pub mod revocation_calls;
pub mod shared_records;
pub mod woken;
pub mod worker;

#[cfg(target_arch = "wasm32")]
mod wasm;

pub use request::RequestFlow;
pub use worker::Worker;

/// Why a host call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// A compare-and-swap write lost: another worker wrote the shared-data key since it was read.
    CasMismatch,
    /// Anything else (the host's status, for the log).
    Failed(String),
}

/// The kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Only ever incremented.
    Counter,
    /// Set to a value.
    Gauge,
    /// A distribution of recorded values.
    Histogram,
}

/// What a request callback tells the host: go on to the next filter, or hold the request
/// (paused for an answer, or answered locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Let the request continue.
    Continue,
    /// Hold it.
    Pause,
}

/// The host calls the callback logic makes: the only way it reaches Envoy. Calls about "the
/// request" act on the effective context (the one whose callback runs, or the one set with
/// [`Host::set_effective_context`]).
pub trait Host {
    /// Milliseconds since the Unix epoch, by the host's clock (0 if it has none).
    fn now_ms(&self) -> u64;
    /// The request's headers, values as bytes.
    fn request_headers(&self) -> Result<Vec<(String, Vec<u8>)>, HostError>;
    /// Sets (`Some`) or removes (`None`) a request header.
    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError>;
    /// A property of the request or connection (`source.address`, ...), if the host has it.
    fn property(&self, path: &[&str]) -> Option<Vec<u8>>;
    /// Sets a filter-state property (the access-log value).
    fn set_property(&self, name: &str, value: &[u8]) -> Result<(), HostError>;
    /// Answers the request locally; the request does not reach the upstream.
    fn send_response(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError>;
    /// Resets the request's stream: the last resort when no local reply can be sent.
    fn reset_request(&self) -> Result<(), HostError>;
    /// Resumes a paused request.
    fn resume_request(&self) -> Result<(), HostError>;
    /// Makes `context_id` the effective context; an error if it is gone (the client left).
    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError>;
    /// A shared-data value of the VM and its compare-and-swap token.
    #[allow(clippy::type_complexity)]
    fn get_shared_data(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), HostError>;
    /// Writes a shared-data value; with `cas`, only if nobody wrote since that read.
    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError>;
    /// Starts an HTTP call through `cluster`; its token, which its answer names.
    fn dispatch_http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout_ms: u64,
    ) -> Result<u32, HostError>;
    /// The status (`None`: no answer at all) and body of the HTTP call being answered.
    fn call_response(&self, num_headers: usize, body_size: usize)
        -> (Option<u32>, Option<Vec<u8>>);
    /// Starts a unary gRPC call of `service`/`method` through `cluster` (HTTP/2) with the
    /// serialized request `message`; its token, which its answer names.
    fn dispatch_grpc_call(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, HostError>;
    /// The serialized answer (`size` bytes) of the gRPC call being answered.
    fn grpc_call_response(&self, size: usize) -> Option<Vec<u8>>;
    /// Defines a metric; its id.
    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError>;
    /// Adds `by` to a counter.
    fn increment_metric(&self, id: u32, by: i64) -> Result<(), HostError>;
    /// Sets a gauge.
    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError>;
}
