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

use crate::{fixtures, support};

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edge_auth::jwt::algorithm::Algorithm;
use fixtures::{issuer, now};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{Envoy, Options};

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// How long a helper server (registry) may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

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
    envoy.wait_for_log(&line);
    // Once per successful on_configure: Envoy configures the plugin on the main thread (twice
    // with Envoy 1.40: once to validate it) and once per worker, each in its own VM. The log
    // is flushed every 20 ms, possibly between the two lines of one on_configure: poll.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = envoy.log();
        let configured = log.matches(" provider(s), ").count();
        let count = log.matches(&line).count();
        if count == configured && count >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{count} version lines for {configured} configurations (expected one each, \
             at least one on the main thread and one on the worker):\n{log}"
        );
        sleep(Duration::from_millis(20));
    }
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

// ---------------------------------------------------------------------------------------------
// The OCI image

#[test]
fn image_build_is_reproducible_and_its_layout_is_consistent() {
    let scratch = Scratch::new("image");
    let first = build_image(&scratch.path().join("a"));
    let second = build_image(&scratch.path().join("b"));
    assert_eq!(
        first.digest, second.digest,
        "same module, same image digest"
    );
    assert_eq!(
        fs::read(&first.archive).unwrap(),
        fs::read(&second.archive).unwrap(),
        "same module, byte-identical image archive"
    );

    // The layout holds together: every blob is named by its SHA-256, index -> manifest ->
    // config and layer, and the tag is the version.
    let layout = &first.layout;
    assert_eq!(
        read_json(&layout.join("oci-layout")),
        json!({"imageLayoutVersion": "1.0.0"})
    );
    for entry in fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(sha256_hex(&fs::read(&path).unwrap()), name, "blob {name}");
    }
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
        VERSION
    );
    assert_eq!(manifests[0]["digest"], first.digest.as_str());
    let manifest = read_json(&blob(layout, &first.digest));
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "the compat variant has exactly one layer");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        VERSION
    );
    for descriptor in [&manifest["config"], &layers[0]] {
        let digest = descriptor["digest"].as_str().unwrap();
        let size = fs::metadata(blob(layout, digest)).unwrap().len();
        assert_eq!(descriptor["size"], size, "{descriptor}");
    }
    let config = read_json(&blob(
        layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ));
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);

    // Standard tools read both forms and see the same manifest.
    for reference in [
        format!("oci:{}:{VERSION}", layout.display()),
        format!("oci-archive:{}:{VERSION}", first.archive.display()),
    ] {
        let output = run(Command::new("skopeo")
            .args(["inspect", "--raw"])
            .arg(&reference));
        assert_eq!(
            format!("sha256:{}", sha256_hex(&output.stdout)),
            first.digest,
            "{reference}"
        );
    }
}

#[test]
fn image_round_trips_through_a_real_registry() {
    let scratch = Scratch::new("registry");
    let image = build_image(&scratch.path().join("image"));
    let registry = Registry::start(&scratch.path().join("registry"));
    let host = format!("127.0.0.1:{}", registry.port);

    // Push with skopeo, keeping the manifest exactly as built.
    let digest_file = scratch.path().join("pushed.digest");
    run(Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet", "--preserve-digests"])
        .arg("--dest-tls-verify=false")
        .arg("--digestfile")
        .arg(&digest_file)
        .arg(format!("oci:{}:{VERSION}", image.layout.display()))
        .arg(format!("docker://{host}/edge-auth:{VERSION}")));
    assert_eq!(
        fs::read_to_string(&digest_file).unwrap().trim(),
        image.digest,
        "the registry stores the manifest under the digest the build printed"
    );

    // Pull with a different client, the oras Python SDK, by tag and by digest.
    let out = scratch.path().join("pulled");
    fs::create_dir(&out).unwrap();
    let output = run(Command::new(venv_python())
        .arg("-c")
        .arg(ORAS_PULL)
        .args([&host, "edge-auth", VERSION])
        .arg(&out));
    let pulled: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "oras pull printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    assert_eq!(pulled["manifest_digest"], image.digest.as_str(), "{pulled}");
    assert_eq!(
        pulled["docker_content_digest"],
        image.digest.as_str(),
        "{pulled}"
    );
    assert_eq!(pulled["by_digest_equal"], true, "{pulled}");
    assert_eq!(pulled["layer_digest_ok"], true, "{pulled}");
    assert_eq!(pulled["members"], json!(["plugin.wasm"]), "{pulled}");
    let module = fs::read(out.join("plugin.wasm")).unwrap();
    assert!(
        module == fs::read(wasm_path()).unwrap(),
        "the module pulled back is byte-identical to the build"
    );
    drop(registry);
}

/// Pulls HOST/NAME:TAG with the oras SDK into OUT: the manifest (raw bytes, so its digest can
/// be checked), the same manifest by digest, and the single layer, unpacked. Prints JSON.
const ORAS_PULL: &str = r#"
import hashlib, json, os, sys, tarfile
import oras.provider

host, name, tag, out = sys.argv[1:5]
registry = oras.provider.Registry(hostname=host, insecure=True)
ref = f"{host}/{name}:{tag}"
manifest = registry.get_manifest(ref)
container = registry.get_container(ref)
response = registry.do_request(
    f"{registry.prefix}://{container.manifest_url()}", "GET",
    headers={"Accept": manifest["mediaType"]})
response.raise_for_status()
digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
by_digest = registry.get_manifest(f"{host}/{name}@{digest}")
layer = manifest["layers"][0]
path = registry.download_blob(ref, layer["digest"], os.path.join(out, "layer.tar.gz"))
with open(path, "rb") as f:
    layer_ok = "sha256:" + hashlib.sha256(f.read()).hexdigest() == layer["digest"]
with tarfile.open(path, "r:gz") as tar:
    members = tar.getmembers()
    for m in members:
        if m.name == "plugin.wasm" and m.isfile():
            with open(os.path.join(out, "plugin.wasm"), "wb") as f:
                f.write(tar.extractfile(m).read())
print(json.dumps({
    "manifest_digest": digest,
    "docker_content_digest": response.headers.get("Docker-Content-Digest"),
    "by_digest_equal": by_digest == manifest,
    "layer_digest_ok": layer_ok,
    "members": [m.name for m in members],
}))
"#;

// ---------------------------------------------------------------------------------------------
// Remote loading: vm_config.code.remote with sha256 (envoy/envoy-remote.yaml)

const REMOTE_TEMPLATE: &str = "envoy/envoy-remote.yaml";
const REMOTE_URI: &str = "uri: http://127.0.0.1:8080/edge_auth.wasm";
const REMOTE_ADDRESS: &str = "socket_address: { address: 127.0.0.1, port_value: 8080 }";
const REMOTE_SHA256: &str = "sha256: \"SHA256_OF_EDGE_AUTH_WASM\"";

fn remote_options(server: &FileServer, sha256: &str) -> Options {
    let port = server.port;
    Options::default()
        .template(REMOTE_TEMPLATE)
        .replace(
            REMOTE_URI,
            &format!("uri: http://127.0.0.1:{port}/edge_auth.wasm"),
        )
        .replace(
            REMOTE_ADDRESS,
            &format!("socket_address: {{ address: 127.0.0.1, port_value: {port} }}"),
        )
        .replace(REMOTE_SHA256, &format!("sha256: \"{sha256}\""))
}

#[test]
fn envoy_loads_the_module_over_http_when_the_sha256_matches() {
    let module = fs::read(wasm_path()).unwrap();
    let server = FileServer::start("/edge_auth.wasm", module.clone());
    let envoy = Envoy::start_with(
        &issuer().config().to_string(),
        &remote_options(&server, &sha256_hex(&module)),
    );
    assert!(
        server.served() >= 1,
        "Envoy fetched the module from the server"
    );
    envoy.wait_for_log(&format!("edge-auth {VERSION} configured"));

    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let allowed = envoy.get("/devices", &[("authorization", &format!("Bearer {token}"))]);
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.upstream().header("x-auth-subject"), Some("alice"));
    let denied = envoy.get("/devices", &[]);
    assert_eq!(denied.status, 401, "{}", denied.body);
}

#[test]
fn envoy_refuses_a_module_whose_sha256_differs_and_passes_nothing_upstream() {
    let module = fs::read(wasm_path()).unwrap();
    let server = FileServer::start("/edge_auth.wasm", module);
    let wrong = sha256_hex(b"not the module");
    // Observed with Envoy 1.40: it fetches the module (1 + num_retries times), logs "Retry limit
    // exceeded for fetching data from remote data source" and "Plugin edge-auth failed to
    // load", then becomes ready anyway; with fail_open: false every request gets 503.
    let envoy = Envoy::start_with(
        &issuer().config().to_string(),
        &remote_options(&server, &wrong),
    );
    let log = envoy.wait_for_log("Plugin edge-auth failed to load");
    assert!(
        server.served() >= 1,
        "Envoy fetched the module and refused it"
    );
    assert!(
        !log.contains(&format!("edge-auth {VERSION} configured")),
        "{log}"
    );

    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let bearer = format!("Bearer {token}");
    for (path, headers) in [
        ("/devices", vec![("authorization", bearer.as_str())]),
        ("/devices", vec![]),
        ("/public/hello", vec![]),
    ] {
        let response = envoy.get(path, &headers);
        assert_eq!(
            response.status,
            503,
            "{path} with {} header(s): {}",
            headers.len(),
            response.body
        );
    }
    let stats = envoy.admin("/stats?filter=^cluster\\.echo\\.upstream_rq_total$");
    assert_eq!(
        stats.body.trim(),
        "cluster.echo.upstream_rq_total: 0",
        "no request reached the upstream"
    );
}

// ---------------------------------------------------------------------------------------------
// Manifests users copy (deploy/, envoy/envoy-remote.yaml) and envoy/docker-compose.yaml

/// Every YAML document in `path`, as JSON, read with PyYAML (the .venv Python).
fn yaml_documents(path: &Path) -> Vec<Value> {
    const TO_JSON: &str = "import json, sys, yaml\n\
        print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')))))";
    let output = run(Command::new(venv_python()).args(["-c", TO_JSON]).arg(path));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every .yaml/.yml file under `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn example_config() -> Value {
    read_json(&support::repo_root().join("envoy/edge-auth.json"))
}

/// The embedded plugin configuration compiles as the filter compiles it, and is the example.
fn check_plugin_config(config: &Value, what: &str) {
    let text = serde_json::to_string(config).unwrap();
    if let Err(e) = edge_auth::policy::Policy::from_json(text.as_bytes()) {
        panic!("{what}: the filter refuses this configuration: {e}");
    }
    assert!(
        *config == example_config(),
        "{what}: the configuration differs from envoy/edge-auth.json"
    );
}

fn is_sha256_hex(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn text<'a>(doc: &'a Value, pointer: &str, what: &str) -> &'a str {
    match doc.pointer(pointer).and_then(Value::as_str) {
        Some(text) if !text.is_empty() => text,
        _ => panic!("{what}: {pointer} must be a non-empty string"),
    }
}

fn check_wasm_plugin(doc: &Value, what: &str) -> String {
    assert_eq!(doc["apiVersion"], "extensions.istio.io/v1alpha1", "{what}");
    text(doc, "/metadata/name", what);
    let spec = &doc["spec"];
    assert_eq!(spec["phase"], "AUTHN", "{what}: authentication runs first");
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE", "{what}: fail closed");
    assert_eq!(spec["pluginName"], "edge-auth", "{what}");
    assert!(
        matches!(
            spec["imagePullPolicy"].as_str(),
            Some("IfNotPresent" | "Always")
        ),
        "{what}: imagePullPolicy"
    );
    assert!(is_sha256_hex(&spec["sha256"]), "{what}: sha256 (64 hex)");
    let selects = spec["selector"]["matchLabels"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
        || spec["targetRefs"].as_array().is_some_and(|t| !t.is_empty());
    assert!(selects, "{what}: selector.matchLabels or targetRefs");
    let url = text(doc, "/spec/url", what);
    assert!(
        url.starts_with("oci://") || url.starts_with("https://"),
        "{what}: url {url}"
    );
    check_plugin_config(&spec["pluginConfig"], what);
    url.split("://").next().unwrap().to_string()
}

fn check_extension_policy(doc: &Value, what: &str) -> Vec<String> {
    assert_eq!(
        doc["apiVersion"], "gateway.envoyproxy.io/v1alpha1",
        "{what}"
    );
    text(doc, "/metadata/name", what);
    let targets = doc["spec"]["targetRefs"].as_array().unwrap_or_else(|| {
        panic!("{what}: spec.targetRefs");
    });
    assert!(!targets.is_empty(), "{what}: spec.targetRefs");
    for target in targets {
        assert_eq!(target["group"], "gateway.networking.k8s.io", "{what}");
        assert!(
            matches!(target["kind"].as_str(), Some("Gateway" | "HTTPRoute")),
            "{what}: targetRefs kind"
        );
        text(target, "/name", what);
    }
    let wasm = doc["spec"]["wasm"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: spec.wasm"));
    assert!(!wasm.is_empty(), "{what}: spec.wasm");
    let mut types = Vec::new();
    for plugin in wasm {
        assert_eq!(plugin["rootID"], "edge-auth", "{what}");
        assert_eq!(plugin["failOpen"], false, "{what}: fail closed, explicitly");
        let code = &plugin["code"];
        match code["type"].as_str() {
            Some("Image") => {
                text(code, "/image/url", what);
                assert!(is_sha256_hex(&code["image"]["sha256"]), "{what}: sha256");
            }
            Some("HTTP") => {
                let url = text(code, "/http/url", what);
                assert!(url.starts_with("https://"), "{what}: {url}");
                assert!(is_sha256_hex(&code["http"]["sha256"]), "{what}: sha256");
            }
            other => panic!("{what}: code.type {other:?}"),
        }
        check_plugin_config(&plugin["config"], what);
        types.push(code["type"].as_str().unwrap().to_string());
    }
    types
}

/// The envoy-remote.yaml bootstrap (as JSON) with its module cluster replaced by `cluster`
/// (if given), the module's URL and `sha256` set.
fn remote_bootstrap(cluster: Option<&Value>, uri: &str, sha256: &str) -> Value {
    let mut doc = yaml_documents(&support::repo_root().join(REMOTE_TEMPLATE)).remove(0);
    if let Some(cluster) = cluster {
        let clusters = doc["static_resources"]["clusters"].as_array_mut().unwrap();
        let slot = clusters
            .iter_mut()
            .find(|c| c["name"] == cluster["name"])
            .unwrap_or_else(|| panic!("{REMOTE_TEMPLATE} has no cluster {}", cluster["name"]));
        *slot = cluster.clone();
    }
    let remote = doc
        .pointer_mut(
            "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters/0\
             /typed_config/config/vm_config/code/remote",
        )
        .unwrap();
    remote["http_uri"]["uri"] = json!(uri);
    remote["sha256"] = json!(sha256);
    doc
}

/// `envoy --mode validate` on this bootstrap: Envoy's own check of every field, no startup.
fn envoy_validates(bootstrap: &Value, what: &str) {
    let envoy_bin = std::env::var_os("ENVOY_BIN")
        .unwrap_or_else(|| panic!("ENVOY_BIN is not set: run the tests with `make test`"));
    let scratch = Scratch::new("validate");
    let path = scratch.path().join("envoy.json");
    fs::write(&path, bootstrap.to_string()).unwrap();
    let output = run(Command::new(envoy_bin)
        .args(["--mode", "validate", "-l", "warning", "-c"])
        .arg(&path));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("OK"), "{what}: {stdout}");
}

/// deploy/envoy/wasm-cluster-https.yaml: the HTTPS variant of envoy-remote.yaml's module
/// cluster, verifying the server's certificate for the right name; Envoy accepts it in place.
fn check_https_wasm_cluster(cluster: &Value, what: &str) {
    assert_eq!(cluster["name"], "edge_auth_wasm", "{what}");
    let address = cluster
        .pointer("/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address")
        .unwrap_or_else(|| panic!("{what}: no endpoint address"));
    assert_eq!(address["port_value"], 443, "{what}");
    let tls = &cluster["transport_socket"]["typed_config"];
    assert_eq!(
        tls["@type"],
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "{what}"
    );
    assert_eq!(
        tls["sni"], address["address"],
        "{what}: SNI is the server's name"
    );
    assert!(
        tls.pointer("/common_tls_context/validation_context/trusted_ca")
            .is_some(),
        "{what}: the server's certificate is verified"
    );
    let host = address["address"].as_str().unwrap();
    let bootstrap = remote_bootstrap(
        Some(cluster),
        &format!("https://{host}/edge-auth/{VERSION}/edge_auth.wasm"),
        &sha256_hex(b"module"),
    );
    envoy_validates(&bootstrap, what);
}

/// deploy/prometheus/: plain rule groups (promtool checks and unit-tests them in
/// tests/envoy/fleet.rs). Every alert has a severity and a summary, and every edge-auth metric
/// it reads is one docs/operations.md documents; returns the group names.
fn check_prometheus_rules(doc: &Value, what: &str) -> Vec<String> {
    let operations = fs::read_to_string(support::repo_root().join("docs/operations.md")).unwrap();
    let mut names = Vec::new();
    for group in doc["groups"].as_array().unwrap() {
        names.push(text(group, "/name", what).to_string());
        let rules = group["rules"].as_array().unwrap();
        assert!(!rules.is_empty(), "{what}: empty group");
        for rule in rules {
            let alert = text(rule, "/alert", what);
            let expr = text(rule, "/expr", what);
            assert!(
                matches!(
                    rule["labels"]["severity"].as_str(),
                    Some("warning" | "critical")
                ),
                "{what}: {alert} has no severity"
            );
            text(rule, "/annotations/summary", what);
            let mut rest = expr;
            while let Some(at) = rest.find("edge_auth_") {
                let metric: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    operations.contains(&format!("`{metric}`")),
                    "{what}: {alert} reads {metric}, which docs/operations.md does not document"
                );
                rest = &rest[at + metric.len()..];
            }
        }
    }
    names
}

/// The `fleet.cluster` values docs/fleet.md gives for Istio and Envoy Gateway.
fn fleet_clusters_in_the_docs() -> String {
    fs::read_to_string(support::repo_root().join("docs/fleet.md")).unwrap()
}

/// deploy/istio/fleet-ratelimit-service.yaml: the Service whose Istio cluster name the docs give
/// as `fleet.cluster`, spoken to over HTTP/2; returns that cluster name.
fn check_istio_ratelimit_service(doc: &Value, what: &str) -> String {
    let name = text(doc, "/metadata/name", what);
    let namespace = text(doc, "/metadata/namespace", what);
    let port = &doc["spec"]["ports"][0];
    assert_eq!(port["appProtocol"], "grpc", "{what}: HTTP/2 for gRPC");
    let cluster = format!(
        "outbound|{}||{name}.{namespace}.svc.cluster.local",
        port["port"].as_u64().unwrap()
    );
    let docs = fleet_clusters_in_the_docs();
    assert!(
        docs.contains(&format!("\"cluster\": \"{cluster}\"")),
        "{what}: docs/fleet.md names {cluster} as fleet.cluster"
    );
    let mut full = example_config();
    full["abuse"] = json!({"lockout": {"max_failures": 5, "window_seconds": 60}});
    full["fleet"] = json!({"cluster": cluster, "lockout": {}});
    let text = serde_json::to_string(&full).unwrap();
    if let Err(e) = edge_auth::policy::Policy::from_json(text.as_bytes()) {
        panic!("{what}: the filter refuses fleet.cluster {cluster}: {e}");
    }
    cluster
}

/// deploy/envoy-gateway/envoypatchpolicy-ratelimit-cluster.yaml: adds a whole HTTP/2 cluster
/// (an `add` with an empty path) whose name the docs give as `fleet.cluster`.
fn check_ratelimit_cluster_patch(doc: &Value, what: &str) -> String {
    assert_eq!(
        doc["apiVersion"], "gateway.envoyproxy.io/v1alpha1",
        "{what}"
    );
    assert_eq!(doc["spec"]["type"], "JSONPatch", "{what}");
    assert_eq!(doc["spec"]["targetRef"]["kind"], "Gateway", "{what}");
    let patch = &doc["spec"]["jsonPatches"][0];
    assert_eq!(
        patch["type"], "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "{what}"
    );
    assert_eq!(patch["operation"]["op"], "add", "{what}");
    assert_eq!(patch["operation"]["path"], "", "{what}: a whole resource");
    let cluster = &patch["operation"]["value"];
    let name = text(cluster, "/name", what).to_string();
    assert_eq!(patch["name"], name.as_str(), "{what}");
    assert_eq!(
        cluster["load_assignment"]["cluster_name"],
        name.as_str(),
        "{what}"
    );
    assert!(
        cluster
            .pointer("/typed_extension_protocol_options/envoy.extensions.upstreams.http.v3.HttpProtocolOptions/explicit_http_config/http2_protocol_options")
            .is_some(),
        "{what}: gRPC needs HTTP/2"
    );
    let docs = fleet_clusters_in_the_docs();
    assert!(
        docs.contains(&format!("\"cluster\": \"{name}\"")),
        "{what}: docs/fleet.md names {name} as fleet.cluster"
    );
    name
}

#[test]
fn every_manifest_in_deploy_is_complete_and_carries_a_configuration_the_filter_accepts() {
    let files = yaml_files(&support::repo_root().join("deploy"));
    let mut seen = Vec::new();
    for file in &files {
        for (i, doc) in yaml_documents(file).iter().enumerate() {
            let what = format!("{} document {i}", file.display());
            match doc["kind"].as_str() {
                Some("WasmPlugin") => {
                    seen.push(format!("WasmPlugin {}", check_wasm_plugin(doc, &what)))
                }
                Some("EnvoyExtensionPolicy") => {
                    for t in check_extension_policy(doc, &what) {
                        seen.push(format!("EnvoyExtensionPolicy {t}"));
                    }
                }
                Some("IstioOperator") => {
                    assert_eq!(
                        doc["spec"]["meshConfig"]["pathNormalization"]["normalization"],
                        "MERGE_SLASHES",
                        "{what}: escaped slashes reach edge-auth, which refuses them"
                    );
                    seen.push("IstioOperator path normalization".to_string());
                }
                Some("ClientTrafficPolicy") => {
                    assert_eq!(
                        doc["apiVersion"], "gateway.envoyproxy.io/v1alpha1",
                        "{what}"
                    );
                    assert_eq!(
                        doc["spec"]["path"]["escapedSlashesAction"], "RejectRequest",
                        "{what}"
                    );
                    assert_eq!(doc["spec"]["path"]["disableMergeSlashes"], false, "{what}");
                    assert_eq!(doc["spec"]["targetRefs"][0]["kind"], "Gateway", "{what}");
                    seen.push("ClientTrafficPolicy paths".to_string());
                }
                Some("Service") => {
                    seen.push(format!(
                        "Service {}",
                        check_istio_ratelimit_service(doc, &what)
                    ));
                }
                Some("EnvoyPatchPolicy") => {
                    seen.push(format!(
                        "EnvoyPatchPolicy cluster {}",
                        check_ratelimit_cluster_patch(doc, &what)
                    ));
                }
                None if doc.get("load_assignment").is_some() => {
                    check_https_wasm_cluster(doc, &what);
                    seen.push("Envoy cluster edge_auth_wasm".to_string());
                }
                None if doc.get("groups").is_some() => {
                    for group in check_prometheus_rules(doc, &what) {
                        seen.push(format!("Prometheus rules {group}"));
                    }
                }
                other => panic!("{what}: kind {other:?} has no checks here; add them"),
            }
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "ClientTrafficPolicy paths",
            "Envoy cluster edge_auth_wasm",
            "EnvoyExtensionPolicy HTTP",
            "EnvoyExtensionPolicy Image",
            "EnvoyPatchPolicy cluster edge-auth-ratelimit",
            "IstioOperator path normalization",
            "Prometheus rules edge-auth",
            "Prometheus rules edge-auth-fleet-quota",
            "Service outbound|8081||ratelimit.ratelimit.svc.cluster.local",
            "WasmPlugin https",
            "WasmPlugin oci"
        ],
        "{files:?}"
    );
}

#[test]
fn a_manifest_with_a_configuration_the_filter_refuses_is_caught() {
    // The check above can fail: the same manifest with one bad field in its configuration.
    let path = support::repo_root().join("deploy/istio/wasmplugin-oci.yaml");
    let mut doc = yaml_documents(&path).remove(0);
    doc["spec"]["pluginConfig"]["providers"][0]["algorithms"] = json!(["none"]);
    let result = std::panic::catch_unwind(|| check_wasm_plugin(&doc, "mutated"));
    let message = *result.unwrap_err().downcast::<String>().unwrap();
    assert!(
        message.contains("the filter refuses this configuration"),
        "{message}"
    );
}

#[test]
fn remote_envoy_config_fetches_through_its_cluster_fails_closed_and_carries_the_example() {
    let path = support::repo_root().join(REMOTE_TEMPLATE);
    let doc = yaml_documents(&path).remove(0);
    let filters = doc
        .pointer(
            "/static_resources/listeners/0/filter_chains/0/filters/0/typed_config/http_filters",
        )
        .and_then(Value::as_array)
        .unwrap();
    let wasm = &filters[0]["typed_config"]["config"];
    assert_eq!(wasm["fail_open"], false);
    let remote = &wasm["vm_config"]["code"]["remote"];
    assert_eq!(
        remote["sha256"], "SHA256_OF_EDGE_AUTH_WASM",
        "make dist fills it in"
    );
    let cluster = remote["http_uri"]["cluster"].as_str().unwrap();
    let clusters = doc["static_resources"]["clusters"].as_array().unwrap();
    assert!(
        clusters.iter().any(|c| c["name"] == cluster),
        "cluster {cluster} is defined"
    );
    let config: Value =
        serde_json::from_str(wasm["configuration"]["value"].as_str().unwrap()).unwrap();
    check_plugin_config(&config, REMOTE_TEMPLATE);
    let uri = remote["http_uri"]["uri"].as_str().unwrap().to_string();
    envoy_validates(
        &remote_bootstrap(None, &uri, &sha256_hex(b"module")),
        REMOTE_TEMPLATE,
    );
}

/// Whether `snippet` shows part of `actual`: every key it has, with the same value; list
/// items each found in the list; `<...>` strings and `[...]` lists stand for any value.
fn shows_part_of(snippet: &Value, actual: &Value) -> bool {
    match (snippet, actual) {
        (Value::String(s), _) if s.starts_with('<') && s.ends_with('>') => true,
        (Value::Array(items), _) if items == &[json!("...")] => true,
        (Value::Object(s), Value::Object(a)) => s
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| shows_part_of(v, av))),
        (Value::Array(s), Value::Array(a)) => {
            s.iter().all(|x| a.iter().any(|y| shows_part_of(x, y)))
        }
        _ => snippet == actual,
    }
}

/// Whether `snippet` shows part of `doc` or of any value inside it.
fn found_in(snippet: &Value, doc: &Value) -> bool {
    shows_part_of(snippet, doc)
        || match doc {
            Value::Object(map) => map.values().any(|v| found_in(snippet, v)),
            Value::Array(items) => items.iter().any(|v| found_in(snippet, v)),
            _ => false,
        }
}

#[test]
fn every_yaml_on_the_deployment_page_is_part_of_a_checked_file() {
    let root = support::repo_root();
    let page = fs::read_to_string(root.join("docs/deployment.md")).unwrap();
    let mut checked = yaml_files(&root.join("deploy"));
    checked.push(root.join(REMOTE_TEMPLATE));
    checked.push(root.join("envoy/envoy.yaml"));
    let docs: Vec<(PathBuf, Value)> = checked
        .iter()
        .flat_map(|f| yaml_documents(f).into_iter().map(move |d| (f.clone(), d)))
        .collect();

    let scratch = Scratch::new("page");
    let mut blocks = 0;
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```yaml" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks += 1;
        let path = scratch.path().join(format!("block-{blocks}.yaml"));
        fs::write(&path, block.join("\n")).unwrap();
        let snippet = yaml_documents(&path).remove(0);
        assert!(
            docs.iter().any(|(_, doc)| found_in(&snippet, doc)),
            "docs/deployment.md, YAML block {blocks}, is in none of the checked files \
             {checked:?}:\n{}",
            block.join("\n")
        );
    }
    assert!(blocks >= 4, "{blocks} YAML blocks found");
}

#[test]
fn docker_compose_mounts_existing_files_and_pins_the_tested_envoy() {
    let root = support::repo_root();
    let compose_path = root.join("envoy/docker-compose.yaml");
    let compose = yaml_documents(&compose_path).remove(0);
    let makefile = fs::read_to_string(root.join("Makefile")).unwrap();
    let envoy_version = makefile
        .lines()
        .find_map(|l| l.strip_prefix("ENVOY_VERSION"))
        .and_then(|l| l.trim().strip_prefix(":="))
        .map(str::trim)
        .expect("ENVOY_VERSION in the Makefile");
    let envoy = &compose["services"]["envoy"];
    assert_eq!(
        envoy["image"],
        format!("envoyproxy/envoy:v{envoy_version}"),
        "the compose file runs the Envoy the tests run"
    );

    let compose_dir = compose_path.parent().unwrap();
    let services = compose["services"].as_object().unwrap();
    assert!(!services.is_empty());
    let mut mounts = Vec::new();
    for (name, service) in services {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let spec = volume.as_str().unwrap();
            let mut parts = spec.split(':');
            let (host, container) = (parts.next().unwrap(), parts.next().unwrap());
            let host = compose_dir.join(host);
            assert!(
                host.is_file(),
                "service {name} mounts {spec}: {} does not exist (run make build first)",
                host.display()
            );
            mounts.push((name.clone(), host, container.to_string()));
        }
    }
    // Envoy's mounts are the files the tests use, where envoy.yaml looks for them.
    let workdir = envoy["working_dir"].as_str().unwrap();
    let target_of = |host: &Path| {
        mounts
            .iter()
            .find(|(n, h, _)| n == "envoy" && h.canonicalize().unwrap() == host)
            .map(|(_, _, c)| c.clone())
            .unwrap_or_else(|| panic!("envoy does not mount {}", host.display()))
    };
    let wasm_target = target_of(&wasm_path().canonicalize().unwrap());
    assert_eq!(
        wasm_target,
        format!("{workdir}/target/wasm32-wasip1/release/edge_auth.wasm"),
        "the module is where envoy/envoy.yaml names it, relative to working_dir"
    );
    let config_target = target_of(&root.join("envoy/envoy.yaml").canonicalize().unwrap());
    let command: Vec<&str> = envoy["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        command
            .windows(2)
            .any(|w| w == ["-c", config_target.as_str()]),
        "envoy runs the mounted envoy.yaml: {command:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The fleet: envoy/envoy-fleet.yaml, its limits files and envoy/docker-compose-fleet.yaml

const FLEET_TEMPLATE: &str = "envoy/envoy-fleet.yaml";

/// The quotas of a limits file in envoyproxy/ratelimit's format: (descriptor key path,
/// (requests, seconds)), e.g. (["provider", "subject"], (60, 60)).
type Quota = (Vec<String>, (u64, u64));

fn ratelimit_quotas(descriptors: &Value, path: &[String], out: &mut Vec<Quota>) {
    for descriptor in descriptors.as_array().into_iter().flatten() {
        let mut path = path.to_vec();
        path.push(descriptor["key"].as_str().unwrap().to_string());
        if let Some(limit) = descriptor.get("rate_limit") {
            let seconds = match limit["unit"].as_str().unwrap() {
                "second" => 1,
                "minute" => 60,
                "hour" => 3600,
                "day" => 86400,
                other => panic!("unit {other}"),
            };
            out.push((
                path.clone(),
                (limit["requests_per_unit"].as_u64().unwrap(), seconds),
            ));
        }
        ratelimit_quotas(&descriptor["descriptors"], &path, out);
    }
}

#[test]
fn fleet_configuration_puts_the_quota_after_edge_auth_and_its_limits_files_agree() {
    let root = support::repo_root();
    let fleet = yaml_documents(&root.join(FLEET_TEMPLATE)).remove(0);
    let single = yaml_documents(&root.join("envoy/envoy.yaml")).remove(0);
    // The same metrics labels as envoy/envoy.yaml: the alerting rules read them.
    assert_eq!(fleet["stats_config"], single["stats_config"]);
    let manager = fleet
        .pointer("/static_resources/listeners/0/filter_chains/0/filters/0/typed_config")
        .unwrap();
    assert_eq!(manager["use_remote_address"], true);
    let filters: Vec<&str> = manager["http_filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        filters,
        [
            "envoy.filters.http.wasm",
            "envoy.filters.http.ratelimit",
            "envoy.filters.http.router"
        ],
        "the quota counts what edge-auth verified"
    );
    let wasm = &manager["http_filters"][0]["typed_config"]["config"];
    assert_eq!(wasm["fail_open"], false);
    let config: Value =
        serde_json::from_str(wasm["configuration"]["value"].as_str().unwrap()).unwrap();
    // envoy/edge-auth.json plus the fleet's failed-secret lockout.
    let text = serde_json::to_string(&config).unwrap();
    if let Err(e) = edge_auth::policy::Policy::from_json(text.as_bytes()) {
        panic!("{FLEET_TEMPLATE}: the filter refuses this configuration: {e}");
    }
    let mut single_config = config.clone();
    let fleet_section = single_config
        .as_object_mut()
        .unwrap()
        .remove("fleet")
        .unwrap();
    let abuse = single_config
        .as_object_mut()
        .unwrap()
        .remove("abuse")
        .unwrap();
    check_plugin_config(&single_config, FLEET_TEMPLATE);
    let forward = &config["forward"];
    let ratelimit = &manager["http_filters"][1]["typed_config"];
    assert_eq!(
        ratelimit["failure_mode_deny"], false,
        "docs/fleet.md says why"
    );
    assert_eq!(ratelimit["timeout"], "0.25s");
    let cluster_name = ratelimit
        .pointer("/rate_limit_service/grpc_service/envoy_grpc/cluster_name")
        .unwrap();
    assert_eq!(
        ratelimit["rate_limit_service"]["transport_api_version"],
        "V3"
    );
    let clusters = fleet["static_resources"]["clusters"].as_array().unwrap();
    let cluster = clusters
        .iter()
        .find(|c| &c["name"] == cluster_name)
        .unwrap();
    assert!(
        cluster
            .pointer("/typed_extension_protocol_options/envoy.extensions.upstreams.http.v3.HttpProtocolOptions/explicit_http_config/http2_protocol_options")
            .is_some(),
        "gRPC needs HTTP/2 to the rate limit service"
    );
    // The descriptors come from headers edge-auth sets (and so strips from clients).
    let route = &manager["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
    let mut sent: Vec<Vec<String>> = Vec::new();
    for limit in route["rate_limits"].as_array().unwrap() {
        let mut keys = Vec::new();
        for action in limit["actions"].as_array().unwrap() {
            let header = action["request_headers"]["header_name"].as_str().unwrap();
            assert!(
                forward.as_object().unwrap().values().any(|v| v == header),
                "{header} is one of the identity headers edge-auth forwards: {forward}"
            );
            keys.push(
                action["request_headers"]["descriptor_key"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        sent.push(keys);
    }
    assert_eq!(sent, [vec!["client_id"], vec!["provider", "subject"]]);
    // edge-auth's own calls go to the same service and domain.
    assert_eq!(&fleet_section["cluster"], cluster_name);
    assert_eq!(fleet_section["domain"], ratelimit["domain"]);
    let lockout = &abuse["lockout"];
    let (max_failures, window) = (
        lockout["max_failures"].as_u64().unwrap(),
        lockout["window_seconds"].as_u64().unwrap(),
    );
    // Limits are exceeded by the hit after the last allowed: one less than the count that locks.
    let own: Vec<Quota> = vec![
        (vec!["edge_auth".into(), "proof".into()], (1, 3600)),
        (
            vec!["edge_auth".into(), "source".into(), "client".into()],
            (max_failures - 1, window),
        ),
        (
            vec!["edge_auth".into(), "source".into()],
            (max_failures * 4 - 1, window),
        ),
    ];

    // envoyproxy/ratelimit's file: the filter's domain, a quota for each descriptor sent.
    let limits = yaml_documents(&root.join("envoy/ratelimit-limits.yaml")).remove(0);
    assert_eq!(limits["domain"], ratelimit["domain"]);
    let mut quotas = Vec::new();
    ratelimit_quotas(&limits["descriptors"], &[], &mut quotas);
    let (edge_auth_limits, quotas): (Vec<Quota>, Vec<Quota>) = quotas
        .into_iter()
        .partition(|(keys, _)| keys[0] == "edge_auth");
    assert_eq!(
        edge_auth_limits, own,
        "edge-auth's limits match abuse.lockout"
    );
    let keys: Vec<&Vec<String>> = quotas.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, sent.iter().collect::<Vec<_>>());
    // Limitador's: the same namespace and quotas, on the same descriptor keys.
    let limitador = yaml_documents(&root.join("envoy/limitador-limits.yaml")).remove(0);
    let limitador = limitador.as_array().unwrap();
    assert_eq!(limitador.len(), quotas.len() + own.len());
    for (limit, (keys, quota)) in limitador.iter().zip(quotas.iter().chain(&own)) {
        // edge-auth's descriptors are told apart by their first entry, not counted by it.
        let keys: Vec<&String> = keys.iter().filter(|k| *k != "edge_auth").collect();
        assert_eq!(limit["namespace"], ratelimit["domain"]);
        assert_eq!(
            (
                limit["max_value"].as_u64().unwrap(),
                limit["seconds"].as_u64().unwrap()
            ),
            *quota,
            "{limit}"
        );
        let variables: Vec<&str> = limit["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(variables.len(), keys.len(), "{limit}");
        for (variable, key) in variables.iter().zip(&keys) {
            assert!(
                variable.ends_with(&format!(".{key}")),
                "{variable} counts per {key}"
            );
        }
    }
}

#[test]
fn fleet_compose_runs_envoy_limitador_and_redis_with_the_shipped_files() {
    let root = support::repo_root();
    let compose_path = root.join("envoy/docker-compose-fleet.yaml");
    let compose = yaml_documents(&compose_path).remove(0);
    let fleet = yaml_documents(&root.join(FLEET_TEMPLATE)).remove(0);
    let services = compose["services"].as_object().unwrap();
    let mut names: Vec<&str> = services.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["echo", "envoy", "limitador", "redis"]);
    let compose_dir = compose_path.parent().unwrap();
    let mut mounts = Vec::new();
    for (name, service) in services {
        assert_eq!(
            service["network_mode"], "host",
            "{name}: the addresses of envoy-fleet.yaml"
        );
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let spec = volume.as_str().unwrap();
            let mut parts = spec.split(':');
            let (host, container) = (parts.next().unwrap(), parts.next().unwrap());
            let host = compose_dir.join(host).canonicalize().unwrap_or_else(|e| {
                panic!("service {name} mounts {spec}, which does not exist (run make build): {e}")
            });
            mounts.push((name.clone(), host, container.to_string()));
        }
    }
    let target_of = |service: &str, file: &str| {
        let host = root.join(file).canonicalize().unwrap();
        mounts
            .iter()
            .find(|(n, h, _)| n == service && *h == host)
            .map(|(_, _, c)| c.clone())
            .unwrap_or_else(|| panic!("{service} does not mount {file}"))
    };
    let command = |service: &str| -> Vec<String> {
        services[service]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    let envoy = &services["envoy"];
    let makefile = fs::read_to_string(root.join("Makefile")).unwrap();
    let envoy_version = makefile
        .lines()
        .find_map(|l| l.strip_prefix("ENVOY_VERSION"))
        .and_then(|l| l.trim().strip_prefix(":="))
        .map(str::trim)
        .unwrap();
    assert_eq!(envoy["image"], format!("envoyproxy/envoy:v{envoy_version}"));
    let workdir = envoy["working_dir"].as_str().unwrap();
    assert_eq!(
        target_of("envoy", "target/wasm32-wasip1/release/edge_auth.wasm"),
        format!("{workdir}/target/wasm32-wasip1/release/edge_auth.wasm")
    );
    let config = target_of("envoy", FLEET_TEMPLATE);
    assert!(command("envoy")
        .windows(2)
        .any(|w| w == ["-c", config.as_str()]));
    // Limitador: the shipped limits, on the rate limit cluster's port, counting in this Redis.
    let limitador = command("limitador");
    let limits = target_of("limitador", "envoy/limitador-limits.yaml");
    let port_of = |flag: &str| {
        limitador
            .windows(2)
            .find(|w| w[0] == flag)
            .map(|w| w[1].clone())
            .unwrap_or_else(|| panic!("limitador {flag}: {limitador:?}"))
    };
    let cluster = fleet["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ratelimit")
        .unwrap();
    let address = cluster
        .pointer("/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address")
        .unwrap();
    assert_eq!(port_of("--rls-port"), address["port_value"].to_string());
    assert_eq!(port_of("--rls-ip"), address["address"].as_str().unwrap());
    let redis = command("redis");
    let redis_port = redis.windows(2).find(|w| w[0] == "--port").unwrap()[1].clone();
    assert_eq!(
        limitador[limitador.len() - 3..],
        [
            limits,
            "redis".to_string(),
            format!("redis://127.0.0.1:{redis_port}")
        ]
    );
    assert!(
        services["limitador"]["image"]
            .as_str()
            .unwrap()
            .starts_with("quay.io/kuadrant/limitador:v"),
        "a pinned Limitador release"
    );
}

#[test]
fn every_yaml_on_the_fleet_page_is_part_of_a_checked_file() {
    let root = support::repo_root();
    let page = fs::read_to_string(root.join("docs/fleet.md")).unwrap();
    let checked = [
        root.join(FLEET_TEMPLATE),
        root.join("envoy/ratelimit-limits.yaml"),
        root.join("envoy/limitador-limits.yaml"),
        root.join("envoy/docker-compose-fleet.yaml"),
        root.join("deploy/prometheus/edge-auth-alerts.yaml"),
    ];
    let docs: Vec<Value> = checked.iter().flat_map(|f| yaml_documents(f)).collect();
    let scratch = Scratch::new("fleet-page");
    let mut blocks = 0;
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```yaml" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks += 1;
        let path = scratch.path().join(format!("block-{blocks}.yaml"));
        fs::write(&path, block.join("\n")).unwrap();
        let snippet = yaml_documents(&path).remove(0);
        assert!(
            docs.iter().any(|doc| found_in(&snippet, doc)),
            "docs/fleet.md, YAML block {blocks}, is in none of {checked:?}:\n{}",
            block.join("\n")
        );
    }
    assert!(blocks >= 3, "{blocks} YAML blocks found");
}

// ---------------------------------------------------------------------------------------------
// Upgrading: a bad new configuration is refused on a listener update, the old one keeps serving

/// The listener of envoy/envoy.yaml (read with PyYAML) on `port`, loading the tested module
/// with `config` as the plugin configuration.
fn edge_listener(port: u16, config: &Value) -> Value {
    let bootstrap = yaml_documents(&support::repo_root().join("envoy/envoy.yaml")).remove(0);
    let mut listener = bootstrap["static_resources"]["listeners"][0].clone();
    listener["address"]["socket_address"]["port_value"] = json!(port);
    let filter = listener
        .pointer_mut("/filter_chains/0/filters/0/typed_config/http_filters/0/typed_config/config")
        .unwrap();
    filter["vm_config"]["code"]["local"]["filename"] =
        json!(wasm_path().to_string_lossy().into_owned());
    filter["configuration"]["value"] = json!(config.to_string());
    listener["@type"] = json!("type.googleapis.com/envoy.config.listener.v3.Listener");
    listener
}

/// Writes the LDS file as Envoy's file watch wants it: a new file moved over the old one.
fn write_lds(dir: &Path, listener: &Value) {
    let staged = dir.join("lds.next.json");
    fs::write(&staged, json!({ "resources": [listener] }).to_string()).unwrap();
    fs::rename(&staged, dir.join("lds.json")).unwrap();
}

/// A real Envoy whose listener comes from a watched LDS file (dynamic_resources.lds_config
/// path_config_source), in front of the echo upstream; killed by PID on drop.
struct LdsEnvoy {
    child: Child,
    admin_port: u16,
    listener_port: u16,
    dir: Scratch,
    echo: Option<support::EchoUpstream>,
}

impl LdsEnvoy {
    /// Envoy with the listener of envoy/envoy.yaml and this plugin configuration.
    fn start(config: &Value) -> LdsEnvoy {
        LdsEnvoy::start_with(&|port| edge_listener(port, config), &[])
    }

    /// Envoy with `listener(port)` and these static clusters besides `echo`.
    fn start_with(listener: &dyn Fn(u16) -> Value, extra_clusters: &[Value]) -> LdsEnvoy {
        let envoy_bin = std::env::var_os("ENVOY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("ENVOY_BIN is not set: run the tests with `make test`"));
        let mut echo = support::EchoUpstream::start();
        for attempt in 1..=3 {
            let dir = Scratch::new("lds");
            let (admin_port, listener_port) = (free_port(), free_port());
            write_lds(dir.path(), &listener(listener_port));
            let mut clusters = vec![json!({
                "name": "echo",
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {"cluster_name": "echo", "endpoints": [{"lb_endpoints": [
                    {"endpoint": {"address": {"socket_address": {
                        "address": "127.0.0.1", "port_value": echo.addr().port()}}}}
                ]}]}
            })];
            clusters.extend(extra_clusters.iter().cloned());
            let bootstrap = json!({
                "node": {"id": "edge-auth-test", "cluster": "edge-auth-test"},
                "admin": {"address": {"socket_address":
                    {"address": "127.0.0.1", "port_value": admin_port}}},
                "dynamic_resources": {"lds_config": {
                    "resource_api_version": "V3",
                    "path_config_source": {
                        "path": dir.path().join("lds.json").to_string_lossy(),
                        "watched_directory": {"path": dir.path().to_string_lossy()}
                    }
                }},
                "static_resources": {"clusters": clusters}
            });
            let bootstrap_path = dir.path().join("bootstrap.json");
            fs::write(&bootstrap_path, bootstrap.to_string()).unwrap();
            let child = Command::new(&envoy_bin)
                .arg("-c")
                .arg(&bootstrap_path)
                .args(["--disable-hot-restart", "-l", "info", "--concurrency", "1"])
                .arg("--log-path")
                .arg(dir.path().join("envoy.log"))
                .args(["--file-flush-interval-msec", "20"])
                .stdin(Stdio::null())
                .stdout(File::create(dir.path().join("envoy.stdout")).unwrap())
                .stderr(File::create(dir.path().join("envoy.stderr")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run ENVOY_BIN={}: {e}", envoy_bin.display()));
            let mut envoy = LdsEnvoy {
                child,
                admin_port,
                listener_port,
                dir,
                echo: Some(echo),
            };
            match envoy.wait_ready() {
                Ok(()) => return envoy,
                Err(log) if attempt < 3 && log.contains("Address already in use") => {
                    // Another process took a port first: stop this Envoy, keep the upstream.
                    echo = envoy.stop();
                }
                Err(log) => panic!("Envoy (LDS) did not become ready:\n{log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Kills Envoy now and hands back the echo upstream.
    fn stop(mut self) -> support::EchoUpstream {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.echo.take().unwrap()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = self.child.kill();
                return Err(self.log());
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.admin_port)).is_ok()
                && self.admin("/ready").status == 200
            {
                return Ok(());
            }
            sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("envoy.log")).unwrap_or_default();
        let stderr = fs::read_to_string(self.dir.path().join("envoy.stderr")).unwrap_or_default();
        format!("{log}{stderr}")
    }

    fn admin(&self, path: &str) -> support::Response {
        support::http_request(
            (Ipv4Addr::LOCALHOST, self.admin_port).into(),
            "GET",
            path,
            &[],
        )
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> support::Response {
        support::http_request(
            (Ipv4Addr::LOCALHOST, self.listener_port).into(),
            "GET",
            path,
            headers,
        )
    }

    /// The value of one counter or gauge from the admin /stats.
    fn stat(&self, name: &str) -> u64 {
        let body = self.admin("/stats").body;
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no stat {name}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Waits (up to 10 s) until `name` reaches `value`.
    fn wait_for_stat(&self, name: &str, value: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.stat(name) < value {
            assert!(
                Instant::now() < deadline,
                "{name} stayed below {value}; log:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LdsEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- Envoy (LDS) log:\n{}", self.log());
        }
    }
}

#[test]
fn a_bad_new_configuration_is_refused_on_listener_update_and_the_old_one_keeps_serving() {
    let good = issuer().config();
    let envoy = LdsEnvoy::start(&good);
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let bearer = format!("Bearer {token}");
    let behaves_as_configured = |when: &str| {
        let allowed = envoy.get("/devices", &[("authorization", &bearer)]);
        assert_eq!(allowed.status, 200, "{when}: {}", allowed.body);
        assert_eq!(allowed.upstream().header("x-auth-subject"), Some("alice"));
        let denied = envoy.get("/devices", &[]);
        assert_eq!(denied.status, 401, "{when}: {}", denied.body);
    };
    behaves_as_configured("first configuration");
    assert_eq!(envoy.stat("listener_manager.lds.update_success"), 1);
    assert_eq!(envoy.stat("listener_manager.lds.update_rejected"), 0);

    // A listener update whose plugin configuration the filter refuses: the update is rejected
    // as a whole and the running listener keeps its filter and configuration.
    let mut bad = good.clone();
    bad["providers"][0]["algorithms"] = json!(["none"]);
    write_lds(envoy.dir.path(), &edge_listener(envoy.listener_port, &bad));
    envoy.wait_for_stat("listener_manager.lds.update_rejected", 1);
    assert!(
        envoy.log().contains("is never accepted"),
        "the plugin said why:\n{}",
        envoy.log()
    );
    behaves_as_configured("after the refused update");
    assert_eq!(envoy.stat("listener_manager.lds.update_success"), 1);

    // The watch works both ways: a good update that opens /devices is applied.
    let mut opened = good.clone();
    opened["rules"] = json!([{"path_prefix": "/", "public": true}]);
    write_lds(
        envoy.dir.path(),
        &edge_listener(envoy.listener_port, &opened),
    );
    envoy.wait_for_stat("listener_manager.lds.update_success", 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // The new listener takes over new connections once it is warm.
        let response = envoy.get("/devices", &[]);
        if response.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "{}", response.body);
        sleep(Duration::from_millis(50));
    }
}

/// The listener of envoy/envoy-remote.yaml on `port`, fetching the module from `server` with
/// this `sha256`, and the module cluster it needs.
fn remote_listener(port: u16, server: &FileServer, sha256: &str) -> (Value, Value) {
    let doc = remote_bootstrap(
        None,
        &format!("http://127.0.0.1:{}/edge_auth.wasm", server.port),
        sha256,
    );
    let mut listener = doc["static_resources"]["listeners"][0].clone();
    listener["address"]["socket_address"]["port_value"] = json!(port);
    listener["@type"] = json!("type.googleapis.com/envoy.config.listener.v3.Listener");
    let mut cluster = doc["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "edge_auth_wasm")
        .unwrap()
        .clone();
    cluster
        .pointer_mut("/load_assignment/endpoints/0/lb_endpoints/0/endpoint/address/socket_address")
        .unwrap()["port_value"] = json!(server.port);
    (listener, cluster)
}

#[test]
fn a_listener_update_to_a_remote_module_with_a_wrong_sha256_fails_closed_once_the_fetch_gives_up() {
    // What an upgrade through code.remote does when the new module's digest is wrong (Envoy
    // 1.40): the update is accepted, the old listener serves while the new one warms (fetching
    // and refusing the module, with retries), then the new listener becomes active with the
    // failed plugin and answers 503 to everything. Fail closed, but an outage: check the
    // module's digest before rolling it out (docs/deployment.md).
    let module = fs::read(wasm_path()).unwrap();
    let server = FileServer::start("/edge_auth.wasm", module.clone());
    let good = sha256_hex(&module);
    let (_, cluster) = remote_listener(0, &server, &good);
    let envoy = LdsEnvoy::start_with(&|port| remote_listener(port, &server, &good).0, &[cluster]);
    assert_eq!(envoy.get("/public/hello", &[]).status, 200);
    assert_eq!(envoy.get("/devices", &[]).status, 401);
    let fetched = server.served();
    assert!(fetched >= 1);
    let upstream_before = envoy.stat("cluster.echo.upstream_rq_total");

    let wrong = sha256_hex(b"not the module");
    write_lds(
        envoy.dir.path(),
        &remote_listener(envoy.listener_port, &server, &wrong).0,
    );
    envoy.wait_for_stat("listener_manager.lds.update_success", 2);
    assert_eq!(envoy.stat("listener_manager.lds.update_rejected"), 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = envoy.get("/public/hello", &[]);
        if response.status == 503 {
            break;
        }
        // Until then, the old listener answers as before.
        assert_eq!(response.status, 200, "{}", response.body);
        assert!(
            Instant::now() < deadline,
            "the new listener never took over; log:\n{}",
            envoy.log()
        );
        sleep(Duration::from_millis(100));
    }
    assert!(server.served() > fetched, "Envoy fetched the new module");
    assert!(envoy.log().contains("Plugin edge-auth failed to load"));
    let upstream_after_switch = envoy.stat("cluster.echo.upstream_rq_total");
    assert!(upstream_after_switch >= upstream_before);
    for path in ["/public/hello", "/devices"] {
        assert_eq!(envoy.get(path, &[]).status, 503, "{path}");
    }
    assert_eq!(
        envoy.stat("cluster.echo.upstream_rq_total"),
        upstream_after_switch,
        "nothing passes once the failed module is active"
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The built image: layout directory, archive and manifest digest ("sha256:...").
struct Image {
    layout: PathBuf,
    archive: PathBuf,
    digest: String,
}

/// Runs dist/oci_image.py on the tested module into `dir`.
fn build_image(dir: &Path) -> Image {
    fs::create_dir_all(dir).unwrap();
    let layout = dir.join("oci");
    let archive = dir.join("edge-auth-oci.tar");
    let output = run(Command::new("python3")
        .arg(support::repo_root().join("dist/oci_image.py"))
        .arg("--wasm")
        .arg(wasm_path())
        .args(["--version", VERSION, "--layout"])
        .arg(&layout)
        .arg("--archive")
        .arg(&archive));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("manifest digest: "))
        .unwrap_or_else(|| panic!("no manifest digest printed:\n{stdout}"))
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    Image {
        layout,
        archive,
        digest,
    }
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The tested module (EDGE_AUTH_WASM, as the Envoy tests use it).
fn wasm_path() -> PathBuf {
    let path = std::env::var_os("EDGE_AUTH_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("EDGE_AUTH_WASM is not set: run the tests with `make test`"));
    assert!(
        path.is_file(),
        "EDGE_AUTH_WASM={} is no file",
        path.display()
    );
    path
}

/// The `.venv` Python with the oras SDK and PyYAML (EDGE_AUTH_PYTHON, set by `make test`).
fn venv_python() -> PathBuf {
    let path = std::env::var_os("EDGE_AUTH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "EDGE_AUTH_PYTHON is not set. Run the tests with `make test`: it installs the \
                 oras SDK and PyYAML into .venv and exports EDGE_AUTH_PYTHON=.venv/bin/python"
            )
        });
    assert!(
        path.exists(),
        "EDGE_AUTH_PYTHON={} does not exist",
        path.display()
    );
    path
}

/// Runs a command to completion; panics with its output unless it succeeds.
fn run(command: &mut Command) -> Output {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?} (make test installs it): {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A fresh directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "edge-auth-deploy-{what}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&path).unwrap();
        Scratch(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's `docker-registry` (the CNCF Distribution registry) on 127.0.0.1, storing in a temp
/// dir; killed by PID on drop.
struct Registry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        fs::create_dir_all(dir).unwrap();
        for attempt in 1..=3 {
            let log = dir.join(format!("registry-{attempt}.log"));
            let port = free_port();
            let config = dir.join("config.yml");
            fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    \
                     rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: edge-auth-test\n",
                    serde_json::to_string(&dir.join("data").to_string_lossy()).unwrap()
                ),
            )
            .unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(File::create(&log).unwrap())
                .stderr(File::create(log.with_extension("stderr")).unwrap())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run docker-registry (make test installs it with apt-get): {e}")
                });
            let mut registry = Registry { child, port, log };
            match registry.wait_until_serving() {
                Ok(()) => return registry,
                Err(output) if attempt < 3 && output.contains("address already in use") => {}
                Err(output) => panic!("docker-registry did not start:\n{output}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Waits until `GET /v2/` answers 200; Err with the output if the registry exits or is late.
    fn wait_until_serving(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = (Ipv4Addr::LOCALHOST, self.port);
        loop {
            if TcpStream::connect(addr).is_ok() {
                let response = support::http_request(addr.into(), "GET", "/v2/", &[]);
                if response.status == 200 {
                    return Ok(());
                }
            }
            let exited = self.child.try_wait().unwrap().is_some();
            if exited || Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "{}{}",
                    fs::read_to_string(&self.log).unwrap_or_default(),
                    fs::read_to_string(self.log.with_extension("stderr")).unwrap_or_default()
                ));
            }
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-file HTTP/1.1 server on a thread (127.0.0.1, port bound before use, so no race):
/// answers GET `path` with `body` and anything else with 404; counts the bodies served.
struct FileServer {
    port: u16,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    fn start(path: &'static str, body: Vec<u8>) -> FileServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (served.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let wanted = head.starts_with(&format!("GET {path} "));
                let (status, content): (&str, &[u8]) = if wanted {
                    ("200 OK", &body)
                } else {
                    ("404 Not Found", b"not found")
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    content.len()
                );
                let sent =
                    stream.write_all(reply.as_bytes()).is_ok() && stream.write_all(content).is_ok();
                if sent && wanted {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        FileServer {
            port,
            served,
            stop,
            thread: Some(thread),
        }
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
