//! Pass-through proxy-wasm filter: the benchmark's floors, no auth logic at all.
//!
//! - Without configuration every request continues untouched: what crossing into V8 costs.
//! - With the configuration `host-calls` it makes, per request, exactly the host calls an
//!   edge-auth cache hit made with the bench configuration until issue 22, and nothing else:
//!   read the request headers, read the clock, remove `authorization`, set `x-auth-subject` and
//!   `x-auth-scopes`, and add one to a counter. No filter that must do those things can be
//!   cheaper, so the difference between this row and edge-auth's cache hit is what edge-auth's
//!   own code costs.
//! - The `hc-*` configurations take those calls apart (issue 22), each a row of `make bench`:
//!   `hc-read` reads the headers only; `hc-read-three` reads them and makes the three header
//!   changes one call each; `hc-read-map` reads them and makes the same changes in one write of
//!   the whole map (`proxy_set_header_map_pairs`); `hc-clock` reads the clock only;
//!   `hc-counter` adds one to a counter only; `hc-floor` makes the calls of an edge-auth cache
//!   hit since issue 22 (read the headers, read the clock, the three header changes; the
//!   counter is added at the tick). `MODE*N` (e.g. `hc-clock*50`) makes a mode's calls N
//!   times per request, so that one call's cost stands out of the machine's noise.
//! - With the configuration `properties:a.b,c.d` it reads those properties (`get_property`, the
//!   path split at the dots), in that order, once each per request, and nothing else: what one
//!   connection fact costs (`source.address`, `connection.tls_version`, ...), and what a second
//!   read in the same request costs after a first.
//! - With the configuration `rsa-floor:N` (N: an RSA modulus, base64url, exponent 65537) it
//!   makes `hc-floor`'s calls and checks the RS256 signature of the bearer token in the
//!   headers it read (edge-auth's own kernel, `edge-auth-crypto`, with the per-key constants
//!   edge-auth computes for an issuer's key): no JSON, no claims, no cache, no rule. That is
//!   the least any filter verifying RS256 with this kernel must do on a token it has not seen,
//!   so it is the floor of edge-auth's first sight (issue 22). A token that does not verify
//!   gets a 401, so the bench's expected 200 proves every request was checked. Only in the
//!   build with the feature `rsa-floor` (a second module: the empty module stays small).
//! - With the configuration `expr:EXPRESSION` it compiles that CEL expression once (Envoy's
//!   foreign function `expr_create`) and evaluates it per request (`expr_evaluate`): several
//!   properties for one crossing.

use std::rc::Rc;

#[cfg(feature = "rsa-floor")]
use edge_auth_crypto::rsa::{RsaHash, RsaPadding, RsaPublicKey};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType, MetricType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root {
        mode: None,
        properties: Rc::new(Vec::new()),
        expression: None,
        #[cfg(feature = "rsa-floor")]
        rsa: None,
    }) });
}}

/// Which host calls each request makes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Calls {
    /// Read the headers, the clock, three header changes, the counter (`host-calls`).
    Six,
    /// Read the headers (`hc-read`).
    Read,
    /// Read the headers, three header changes (`hc-read-three`).
    ReadThree,
    /// Read the headers, one map write with the same changes (`hc-read-map`).
    ReadMap,
    /// Read the clock (`hc-clock`).
    Clock,
    /// Add one to the counter (`hc-counter`).
    Counter,
    /// Read the headers, the clock, three header changes (`hc-floor`).
    Floor,
}

/// The mode a request runs: its calls, how many times, and the counter's id.
#[derive(Clone, Copy)]
struct Mode {
    calls: Calls,
    repeat: u32,
    counter: u32,
}

struct Root {
    /// Set when configured with a mode.
    mode: Option<Rc<Mode>>,
    /// Set when configured with `properties:...`: the property paths each request reads.
    properties: Rc<Vec<Vec<String>>>,
    /// Set when configured with `expr:...`: the token of the compiled expression.
    expression: Option<[u8; 4]>,
    /// Set when configured with `rsa-floor:...`: the issuer's key.
    #[cfg(feature = "rsa-floor")]
    rsa: Option<Rc<RsaPublicKey>>,
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
        if let Some(list) = configuration.strip_prefix(b"properties:") {
            let list = String::from_utf8_lossy(list);
            let paths = list
                .split(',')
                .filter(|path| !path.is_empty())
                .map(|path| path.split('.').map(str::to_string).collect())
                .collect();
            self.properties = Rc::new(paths);
            return true;
        }
        #[cfg(feature = "rsa-floor")]
        if let Some(modulus) = configuration.strip_prefix(b"rsa-floor:") {
            let key = base64url(modulus)
                .and_then(|n| RsaPublicKey::new(&n, &[1, 0, 1]).ok())
                .map(|key| key.with_pkcs1_constants(RsaHash::Sha256));
            let Some(key) = key else {
                let _ = hostcalls::log(
                    proxy_wasm::types::LogLevel::Critical,
                    "rsa-floor: not a base64url RSA modulus",
                );
                return false;
            };
            self.rsa = Some(Rc::new(key));
            self.mode = Some(Rc::new(Mode {
                calls: Calls::Floor,
                repeat: 1,
                counter: 0,
            }));
            return true;
        }
        if let Some(expression) = configuration.strip_prefix(b"expr:") {
            let created = hostcalls::call_foreign_function("expr_create", Some(expression));
            return match created {
                Ok(Some(token)) if token.len() == 4 => {
                    self.expression = Some([token[0], token[1], token[2], token[3]]);
                    true
                }
                _ => {
                    proxy_wasm::hostcalls::log(
                        proxy_wasm::types::LogLevel::Critical,
                        &format!("expr_create failed: {created:?}"),
                    )
                    .ok();
                    false
                }
            };
        }
        let text = String::from_utf8_lossy(&configuration);
        let (name, repeat) = match text.split_once('*') {
            Some((name, n)) => (name, n.parse().unwrap_or(1)),
            None => (&*text, 1),
        };
        let calls = match name.as_bytes() {
            b"host-calls" => Calls::Six,
            b"hc-read" => Calls::Read,
            b"hc-read-three" => Calls::ReadThree,
            b"hc-read-map" => Calls::ReadMap,
            b"hc-clock" => Calls::Clock,
            b"hc-counter" => Calls::Counter,
            b"hc-floor" => Calls::Floor,
            _ => return true,
        };
        let counter = hostcalls::define_metric(MetricType::Counter, "passthrough_requests_total")
            .unwrap_or_default();
        self.mode = Some(Rc::new(Mode {
            calls,
            repeat,
            counter,
        }));
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(PassThrough {
            mode: self.mode.clone(),
            properties: self.properties.clone(),
            expression: self.expression,
            #[cfg(feature = "rsa-floor")]
            rsa: self.rsa.clone(),
        }))
    }
}

struct PassThrough {
    mode: Option<Rc<Mode>>,
    properties: Rc<Vec<Vec<String>>>,
    expression: Option<[u8; 4]>,
    #[cfg(feature = "rsa-floor")]
    rsa: Option<Rc<RsaPublicKey>>,
}

impl Context for PassThrough {}

const MAP: MapType = MapType::HttpRequestHeaders;

/// The three header changes, one host call each.
fn three_changes() {
    let _ = hostcalls::set_map_value(MAP, "authorization", None);
    let _ = hostcalls::set_map_value(MAP, "x-auth-subject", Some("user-0"));
    let _ = hostcalls::set_map_value(MAP, "x-auth-scopes", Some("devices:read"));
}

/// The same changes as one write of the whole map: every header but `authorization` and the
/// two identity headers, then the identity headers.
fn map_write(headers: &[(String, Vec<u8>)]) {
    let mut map: Vec<(&str, &[u8])> = headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "authorization" | "x-auth-subject" | "x-auth-scopes"
            )
        })
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect();
    map.push(("x-auth-subject", b"user-0"));
    map.push(("x-auth-scopes", b"devices:read"));
    let _ = hostcalls::set_map_bytes(MAP, map);
}

fn read() -> Vec<(String, Vec<u8>)> {
    hostcalls::get_map_bytes(MAP).unwrap_or_default()
}

impl HttpContext for PassThrough {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        #[cfg(feature = "rsa-floor")]
        if let Some(key) = self.rsa.as_deref() {
            let headers = read();
            let _ = hostcalls::get_current_time();
            let verified = headers
                .iter()
                .find(|(name, _)| name == "authorization")
                .and_then(|(_, value)| value.strip_prefix(b"Bearer "))
                .is_some_and(|token| rs256_verifies(key, token));
            if !verified {
                let _ = hostcalls::send_http_response(401, vec![], None);
                return Action::Pause;
            }
            three_changes();
            return Action::Continue;
        }
        if let Some(mode) = self.mode.as_deref() {
            for _ in 0..mode.repeat {
                calls(mode);
            }
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

/// One round of the mode's calls.
fn calls(mode: &Mode) {
    match mode.calls {
        Calls::Six => {
            let headers = read();
            let _ = hostcalls::get_current_time();
            three_changes();
            let _ = hostcalls::increment_metric(mode.counter, 1);
            drop(headers);
        }
        Calls::Read => drop(read()),
        Calls::ReadThree => {
            let headers = read();
            three_changes();
            drop(headers);
        }
        Calls::ReadMap => map_write(&read()),
        Calls::Clock => {
            let _ = hostcalls::get_current_time();
        }
        Calls::Counter => {
            let _ = hostcalls::increment_metric(mode.counter, 1);
        }
        Calls::Floor => {
            let headers = read();
            let _ = hostcalls::get_current_time();
            three_changes();
            drop(headers);
        }
    }
}

#[cfg(feature = "rsa-floor")]
/// Whether the compact JWS `token` carries a valid RS256 signature by `key`: the signature
/// decoded and checked over the signing input, nothing else.
fn rs256_verifies(key: &RsaPublicKey, token: &[u8]) -> bool {
    let Some(dot) = token.iter().rposition(|&byte| byte == b'.') else {
        return false;
    };
    let (signing_input, signature) = token.split_at(dot);
    match base64url(&signature[1..]) {
        Some(signature) => key.verify(
            RsaHash::Sha256,
            RsaPadding::Pkcs1v15,
            signing_input,
            &signature,
        ),
        None => false,
    }
}

#[cfg(feature = "rsa-floor")]
/// Unpadded base64url, as in a JWS.
fn base64url(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut count) = (0u32, 0u32);
    for &byte in text {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}
