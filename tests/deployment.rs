//! Deployment: what a platform team ships and loads, checked with the real tools.
//!
//! - the version: `edge-auth --version` and the module's "configured" log line in a real Envoy;
//! - the OCI image (`dist/oci_image.py`): reproducible, pushed to a real registry (Debian's
//!   `docker-registry`) with `skopeo`, pulled back with the `oras` Python SDK;
//! - remote loading: a real Envoy fetching the module over HTTP with `vm_config.code.remote`
//!   (`envoy/envoy-remote.yaml`), with the right and a wrong `sha256`;
//! - the manifests users copy (`deploy/`) and `envoy/docker-compose.yaml`, parsed and checked.
//!
//! Needs what `make test` provides: `ENVOY_BIN`, `EDGE_AUTH_WASM`, `EDGE_AUTH_PYTHON` (the
//! `.venv` Python with `oras` and `pyyaml`), `docker-registry` and `skopeo` on the PATH. A
//! missing one fails the test loudly; nothing is skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests fail by panicking

mod fixtures;
mod support;

use std::process::Command;

use fixtures::issuer;
use support::Envoy;

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[test]
fn tool_prints_the_cargo_version() {
    let output = Command::new(env!("CARGO_BIN_EXE_edge-auth"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout, format!("edge-auth {VERSION}\n"));
    let cargo_toml = std::fs::read_to_string(support::repo_root().join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains(&format!("\nversion = \"{VERSION}\"\n")),
        "the version printed is the one in Cargo.toml"
    );
}

#[test]
fn module_logs_its_version_once_configured() {
    let envoy = Envoy::start(&issuer().config().to_string());
    let line = format!("edge-auth {VERSION} configured");
    let log = envoy.wait_for_log(&line);
    // Once per successful on_configure: Envoy configures the plugin on the main thread (twice
    // with Envoy 1.40: once to validate it) and once per worker, each in its own VM.
    let configured = log.matches(" provider(s), ").count();
    let count = log.matches(&line).count();
    assert!(count >= 1, "{log}");
    assert_eq!(
        count, configured,
        "one version line per on_configure:\n{log}"
    );
}

#[test]
fn module_does_not_claim_to_be_configured_when_it_refuses_the_configuration() {
    let log = Envoy::start_expecting_rejection(r#"{"providers": [], "realm": 7}"#);
    assert!(log.contains("invalid configuration"), "{log}");
    assert!(
        !log.contains(&format!("edge-auth {VERSION} configured")),
        "{log}"
    );
}
