//! The connection facts (caller address, TLS version) against the fake host: each is one
//! property read per request that uses it, none when the policy uses neither, and every request
//! is decided by its own facts, cache hit or not, and when decided after waiting for keys.
//! Nothing is kept per connection: Envoy's `source.address` is the stream's remote address,
//! which Envoy may take per request from `X-Forwarded-For` (docs/performance.md, "Connection
//! facts").

use edge_auth::host::{Flow, Worker};
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::mint::SigningKey;
use serde_json::{json, Value};

use crate::fake_host::{FakeHost, ROOT};
use crate::fixtures::{issuer, now};

/// The test issuer's provider allowed 192.0.2.0/24 only, and TLS 1.2 or newer required.
fn facts_config() -> Value {
    let mut config = issuer().config();
    config["providers"][0]["allowed_cidrs"] = json!(["192.0.2.0/24"]);
    config["min_tls_version"] = json!("TLSv1.2");
    config
}

fn host(tls: Option<&str>) -> FakeHost {
    let host = FakeHost::new(now() * 1000);
    *host.tls_version.borrow_mut() = tls.map(str::to_string);
    host
}

fn token() -> String {
    issuer().token(Algorithm::ES256, now(), json!({}))
}

/// Host calls named `name` made for request `context`.
fn calls_of(host: &FakeHost, context: u32, name: &str) -> usize {
    host.calls
        .borrow()
        .iter()
        .filter(|(c, n)| *c == context && n == name)
        .count()
}

/// Sends a GET of /devices on `context` from `address`; its status (200: forwarded).
fn status(host: &FakeHost, worker: &Worker, context: u32, address: &str) -> u32 {
    *host.source_address.borrow_mut() = Some(address.to_string());
    let (_flow, flow) = host.get(worker, context, "/devices/1", &token());
    match flow {
        Flow::Continue => 200,
        Flow::Pause => host.request(context).replies.first().map_or(0, |r| r.0),
    }
}

#[test]
fn both_facts_are_read_for_every_request_and_decide_it() {
    let host = host(Some("TLSv1.3"));
    let worker = host.worker(&facts_config());
    assert_eq!(status(&host, &worker, 2, "192.0.2.7:4711"), 200);
    assert_eq!(
        status(&host, &worker, 3, "192.0.2.7:4711"),
        200,
        "a cache hit"
    );
    assert_eq!(
        status(&host, &worker, 4, "198.51.100.7:4711"),
        403,
        "the same cached token from another address: refused by its own address"
    );
    assert_eq!(status(&host, &worker, 5, "192.0.2.8:1"), 200);
    for context in 2..=5 {
        assert_eq!(calls_of(&host, context, "property"), 2, "request {context}");
    }
    *host.tls_version.borrow_mut() = Some("TLSv1.1".into());
    assert_eq!(status(&host, &worker, 6, "192.0.2.7:4711"), 403, "TLS 1.1");
    *host.tls_version.borrow_mut() = None;
    assert_eq!(
        status(&host, &worker, 7, "192.0.2.7:4711"),
        403,
        "plain text"
    );
}

#[test]
fn a_policy_without_facts_reads_none_and_one_fact_costs_one_read() {
    let host = host(Some("TLSv1.3"));
    let worker = host.worker(&issuer().config());
    assert_eq!(status(&host, &worker, 2, "198.51.100.7:4711"), 200);
    assert_eq!(host.count("property"), 0);

    let mut tls_only = issuer().config();
    tls_only["min_tls_version"] = json!("TLSv1.2");
    let worker = host.worker(&tls_only);
    assert_eq!(status(&host, &worker, 3, "198.51.100.7:4711"), 200);
    assert_eq!(calls_of(&host, 3, "property"), 1);

    let mut network_only = facts_config();
    network_only
        .as_object_mut()
        .unwrap()
        .remove("min_tls_version");
    let worker = host.worker(&network_only);
    *host.tls_version.borrow_mut() = None;
    assert_eq!(
        status(&host, &worker, 4, "192.0.2.7:4711"),
        200,
        "no TLS rule"
    );
    assert_eq!(calls_of(&host, 4, "property"), 1);
}

const ISS: &str = "https://idp.example.com/realms/main";

#[test]
fn a_request_decided_after_waiting_for_keys_reads_its_own_facts_again() {
    let host = host(Some("TLSv1.3"));
    let mut config = facts_config();
    config["providers"][0] = json!({
        "name": "remote", "issuer": ISS, "audiences": ["edge-api"], "algorithms": ["ES256"],
        "allowed_cidrs": ["192.0.2.0/24"],
        "remote_jwks": {"cluster": "idp", "uri": "https://idp.example.com/certs",
                        "refresh_seconds": 60}
    });
    let worker = host.worker(&config);
    let key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("k1");
    let token = key
        .sign(&issuer().claims(now(), json!({"iss": ISS})))
        .unwrap();
    *host.source_address.borrow_mut() = Some("198.51.100.7:4711".into());
    let (_flow, flow) = host.get(&worker, 2, "/devices/1", &token);
    assert_eq!(flow, Flow::Pause, "waits for the issuer's keys");
    host.tick(&worker);
    let call = host.last_call();
    assert_eq!(call.context, ROOT);
    let jwks = json!({"keys": [key.public_jwk("k1")]}).to_string();
    host.answer_root(&worker, call.token, Some(200), jwks.as_bytes());
    let request = host.request(2);
    assert_eq!(request.resumed, 0, "not forwarded");
    assert_eq!(
        request.replies.first().map(|r| r.0),
        Some(403),
        "by its address"
    );
    assert_eq!(calls_of(&host, 2, "property"), 4, "read again when woken");
}
