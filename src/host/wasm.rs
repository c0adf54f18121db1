//! The proxy-wasm glue (wasm only), and the only code that names proxy-wasm: [`ProxyWasm`]
//! implements [`Host`] with the SDK's `hostcalls` (those that return `Result`; the SDK's
//! convenience methods unwrap, and `get_map` panics on a non-UTF-8 header value, which a client
//! can send), and the root and HTTP contexts hand each callback to [`Worker`] and
//! [`RequestFlow`]. Nothing here decides anything.

use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType, Status};

use super::nonce_key::KEY_BYTES;
use super::{Flow, Host, HostError, MetricKind, RequestFlow, Worker};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(EdgeAuthRoot {
            context_id,
            worker: None,
        })
    });
}}

/// The host of a proxy-wasm VM.
struct ProxyWasm;

fn failed(status: Status) -> HostError {
    match status {
        Status::CasMismatch => HostError::CasMismatch,
        other => HostError::Failed(format!("{other:?}")),
    }
}

impl Host for ProxyWasm {
    fn now_ms(&self) -> u64 {
        hostcalls::get_current_time()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            })
    }

    fn request_headers(&self) -> Result<Vec<(String, Vec<u8>)>, HostError> {
        hostcalls::get_map_bytes(MapType::HttpRequestHeaders).map_err(failed)
    }

    fn set_request_header(&self, name: &str, value: Option<&str>) -> Result<(), HostError> {
        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, value).map_err(failed)
    }

    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        hostcalls::get_property(path.to_vec()).ok().flatten()
    }

    fn set_property(&self, name: &str, value: &[u8]) -> Result<(), HostError> {
        hostcalls::set_property(vec![name], Some(value)).map_err(failed)
    }

    fn send_response(
        &self,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
        let body = (!body.is_empty()).then_some(body);
        hostcalls::send_http_response(status, headers.to_vec(), body).map_err(failed)
    }

    // proxy-wasm 0.2.5's send_http_response, reset_http_request and resume_http_request panic
    // on a status other than Ok instead of returning it (the Err arms here are for SDKs that
    // report it); the callback logic handles an Err either way (apply::send).
    fn reset_request(&self) -> Result<(), HostError> {
        hostcalls::reset_http_request().map_err(failed)
    }

    fn resume_request(&self) -> Result<(), HostError> {
        hostcalls::resume_http_request().map_err(failed)
    }

    fn set_effective_context(&self, context_id: u32) -> Result<(), HostError> {
        hostcalls::set_effective_context(context_id).map_err(failed)
    }

    fn get_shared_data(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<u32>), HostError> {
        hostcalls::get_shared_data(key).map_err(failed)
    }

    fn set_shared_data(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), HostError> {
        hostcalls::set_shared_data(key, Some(value), cas).map_err(failed)
    }

    fn dispatch_http_call(
        &self,
        cluster: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout_ms: u64,
    ) -> Result<u32, HostError> {
        hostcalls::dispatch_http_call(
            cluster,
            headers.to_vec(),
            body,
            vec![],
            Duration::from_millis(timeout_ms),
        )
        .map_err(failed)
    }

    fn call_response(
        &self,
        num_headers: usize,
        body_size: usize,
    ) -> (Option<u32>, Option<Vec<u8>>) {
        // Envoy reports a failed call (no answer) with no headers.
        let status = if num_headers == 0 {
            None
        } else {
            hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
                .ok()
                .flatten()
                .and_then(|status| status.parse::<u32>().ok())
        };
        let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten();
        (status, body)
    }

    fn dispatch_grpc_call(
        &self,
        cluster: &str,
        service: &str,
        method: &str,
        message: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, HostError> {
        hostcalls::dispatch_grpc_call(
            cluster,
            service,
            method,
            vec![],
            Some(message),
            Duration::from_millis(timeout_ms),
        )
        .map_err(failed)
    }

    fn grpc_call_response(&self, size: usize) -> Option<Vec<u8>> {
        hostcalls::get_buffer(BufferType::GrpcReceiveBuffer, 0, size)
            .ok()
            .flatten()
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Result<u32, HostError> {
        let kind = match kind {
            MetricKind::Counter => MetricType::Counter,
            MetricKind::Gauge => MetricType::Gauge,
            MetricKind::Histogram => MetricType::Histogram,
        };
        hostcalls::define_metric(kind, name).map_err(failed)
    }

    fn increment_metric(&self, id: u32, by: i64) -> Result<(), HostError> {
        hostcalls::increment_metric(id, by).map_err(failed)
    }

    fn record_metric(&self, id: u32, value: u64) -> Result<(), HostError> {
        hostcalls::record_metric(id, value).map_err(failed)
    }
}

/// The root context: one per worker VM.
struct EdgeAuthRoot {
    context_id: u32,
    worker: Option<Rc<Worker>>,
}

impl Context for EdgeAuthRoot {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if let Some(worker) = &self.worker {
            worker.on_http_call_response(&ProxyWasm, token_id, num_headers, body_size);
        }
    }

    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        if let Some(worker) = &self.worker {
            worker.on_grpc_call_response(&ProxyWasm, token_id, status_code, response_size);
        }
    }

    // Envoy calls it when the plugin is removed or its configuration replaced (once the
    // requests that use it are gone) and when the VM shuts down.
    fn on_done(&mut self) -> bool {
        if let Some(worker) = &self.worker {
            worker.on_done(&ProxyWasm);
        }
        true
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
        let mut random = [0u8; KEY_BYTES];
        let random = getrandom::getrandom(&mut random).ok().map(|()| random);
        let Ok((worker, tick)) = Worker::configure(&ProxyWasm, self.context_id, &bytes, random)
        else {
            return false;
        };
        if let Err(status) = hostcalls::set_tick_period(tick) {
            log::error!("cannot set the tick period: {status:?}");
            return false;
        }
        self.worker = Some(Rc::new(worker));
        // This VM's linear memory after configuration (docs/performance.md, Memory):
        // the most of it Envoy can hold resident before traffic fills the caches.
        log::debug!(
            "linear memory after configuration: {} KiB",
            core::arch::wasm32::memory_size::<0>() * 64
        );
        true
    }

    fn on_tick(&mut self) {
        if let Some(worker) = &self.worker {
            worker.on_tick(&ProxyWasm);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let flow = match &self.worker {
            Some(worker) => worker.request(context_id),
            None => RequestFlow::unconfigured(context_id),
        };
        Some(Box::new(EdgeAuthRequest { flow }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// An HTTP context: one per request.
struct EdgeAuthRequest {
    flow: RequestFlow,
}

impl Context for EdgeAuthRequest {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        self.flow
            .on_http_call_response(&ProxyWasm, token_id, num_headers, body_size);
    }

    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        self.flow
            .on_grpc_call_response(&ProxyWasm, token_id, status_code, response_size);
    }
}

impl HttpContext for EdgeAuthRequest {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match self.flow.on_request_headers(&ProxyWasm) {
            Flow::Continue => Action::Continue,
            Flow::Pause => Action::Pause,
        }
    }
}
