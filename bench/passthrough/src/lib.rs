//! Pass-through proxy-wasm filter: the benchmark's floors, no auth logic at all.
//!
//! - Without configuration every request continues untouched: what crossing into V8 costs.
//! - With the configuration `host-calls` it makes, per request, exactly the host calls an
//!   edge-auth cache hit makes with the bench configuration, and nothing else: read the request
//!   headers, read the clock, remove `authorization`, set `x-auth-subject` and `x-auth-scopes`,
//!   and add one to a counter. No filter that must do those things can be cheaper, so the
//!   difference between this row and edge-auth's cache hit is what edge-auth's own code costs.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { counter: None }) });
}}

struct Root {
    /// Set when configured with `host-calls`: the counter each request adds one to.
    counter: Option<Rc<u32>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let configuration = hostcalls::get_buffer(
            proxy_wasm::types::BufferType::PluginConfiguration,
            0,
            usize::MAX,
        )
        .ok()
        .flatten()
        .unwrap_or_default();
        if configuration == b"host-calls" {
            self.counter =
                hostcalls::define_metric(MetricType::Counter, "passthrough_requests_total")
                    .ok()
                    .map(Rc::new);
        }
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(PassThrough {
            counter: self.counter.clone(),
        }))
    }
}

struct PassThrough {
    counter: Option<Rc<u32>>,
}

impl Context for PassThrough {}

impl HttpContext for PassThrough {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if let Some(counter) = &self.counter {
            let headers = hostcalls::get_map_bytes(MapType::HttpRequestHeaders).unwrap_or_default();
            let _ = hostcalls::get_current_time();
            let map = MapType::HttpRequestHeaders;
            let _ = hostcalls::set_map_value(map, "authorization", None);
            let _ = hostcalls::set_map_value(map, "x-auth-subject", Some("user-0"));
            let _ = hostcalls::set_map_value(map, "x-auth-scopes", Some("devices:read"));
            let _ = hostcalls::increment_metric(**counter, 1);
            drop(headers);
        }
        Action::Continue
    }
}
