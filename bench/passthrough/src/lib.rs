//! Pass-through proxy-wasm filter: the benchmark's floors, no auth logic at all.
//!
//! - Without configuration every request continues untouched: what crossing into V8 costs.
//! - With the configuration `host-calls` it makes, per request, exactly the host calls an
//!   edge-auth cache hit makes with the bench configuration, and nothing else: read the request
//!   headers, read the clock, remove `authorization`, set `x-auth-subject` and `x-auth-scopes`,
//!   and add one to a counter. No filter that must do those things can be cheaper, so the
//!   difference between this row and edge-auth's cache hit is what edge-auth's own code costs.
//! - With the configuration `properties:a.b,c.d` it reads those properties (`get_property`, the
//!   path split at the dots), in that order, once each per request, and nothing else: what one
//!   connection fact costs (`source.address`, `connection.tls_version`, ...), and what a second
//!   read in the same request costs after a first.
//! - With the configuration `expr:EXPRESSION` it compiles that CEL expression once (Envoy's
//!   foreign function `expr_create`) and evaluates it per request (`expr_evaluate`): several
//!   properties for one crossing.

use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root {
        counter: None,
        properties: Rc::new(Vec::new()),
        expression: None,
    }) });
}}

struct Root {
    /// Set when configured with `host-calls`: the counter each request adds one to.
    counter: Option<Rc<u32>>,
    /// Set when configured with `properties:...`: the property paths each request reads.
    properties: Rc<Vec<Vec<String>>>,
    /// Set when configured with `expr:...`: the token of the compiled expression.
    expression: Option<[u8; 4]>,
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
        if let Some(list) = configuration.strip_prefix(b"properties:") {
            let list = String::from_utf8_lossy(list);
            let paths = list
                .split(',')
                .filter(|path| !path.is_empty())
                .map(|path| path.split('.').map(str::to_string).collect())
                .collect();
            self.properties = Rc::new(paths);
        }
        if let Some(expression) = configuration.strip_prefix(b"expr:") {
            let created = hostcalls::call_foreign_function("expr_create", Some(expression));
            match created {
                Ok(Some(token)) if token.len() == 4 => {
                    self.expression = Some([token[0], token[1], token[2], token[3]]);
                }
                _ => {
                    proxy_wasm::hostcalls::log(
                        proxy_wasm::types::LogLevel::Critical,
                        &format!("expr_create failed: {created:?}"),
                    )
                    .ok();
                    return false;
                }
            }
        }
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(PassThrough {
            counter: self.counter.clone(),
            properties: self.properties.clone(),
            expression: self.expression,
        }))
    }
}

struct PassThrough {
    counter: Option<Rc<u32>>,
    properties: Rc<Vec<Vec<String>>>,
    expression: Option<[u8; 4]>,
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
        for path in self.properties.iter() {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let _ = hostcalls::get_property(path);
        }
        if let Some(token) = &self.expression {
            let value = hostcalls::call_foreign_function("expr_evaluate", Some(token));
            if !matches!(value, Ok(Some(_))) {
                // Visible in the bench: the row must measure a working evaluation.
                let _ = hostcalls::send_http_response(500, vec![], None);
                return Action::Pause;
            }
        }
        Action::Continue
    }
}
