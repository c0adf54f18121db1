//! Revocation lists (`providers[i].revocation`), natively: decisions with a worker's list (a
//! cached token refused once its `jti` is listed, subjects' "not before" times, fail closed
//! before the first list), and the fetch against the fake host (one worker fetches under the
//! lease and shares the list, another installs it on its tick, the last good list survives a
//! failed fetch and a malformed document).

use std::rc::Rc;

use edge_auth::host::{Flow, Worker};
use edge_auth::issuer::remote_keys::{KeyRecord, Slot};
use edge_auth::issuer::revocation::{RevocationList, RevocationSlot};
use edge_auth::issuer::WorkerKeys;
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize_with_keys, Decision};
use edge_auth::policy::deny::Denial;
use edge_auth::policy::Policy;
use edge_auth::request::credential::Request;
use serde_json::{json, Value};

use crate::fake_host::{FakeHost, ROOT};
use crate::fixtures::{issuer, now};

const LIST_PATH: &str = "/revoked.json";
const RECORD: &str =
    "edge-auth/revocation idp https://auth.example.com/realms/main idp.example.com/revoked.json";
const GENERATION: &str = "edge-auth/revocation-generation idp https://auth.example.com/realms/main idp.example.com/revoked.json";

/// The test issuer's provider (inline keys) with a revocation list.
fn config(on_unavailable: &str) -> Value {
    let mut config = issuer().config();
    config["providers"][0]["revocation"] = json!({
        "cluster": "idp", "uri": format!("https://idp.example.com{LIST_PATH}"),
        "refresh_seconds": 30, "max_entries": 1000, "on_unavailable": on_unavailable
    });
    config
}

fn policy(on_unavailable: &str) -> Policy {
    Policy::from_json(config(on_unavailable).to_string().as_bytes()).unwrap()
}

fn token(overrides: Value) -> String {
    issuer().token(Algorithm::ES256, now(), overrides)
}

fn request(token: &str) -> Request {
    Request::from_headers(vec![
        (":method".into(), "GET".into()),
        (":path".into(), "/devices/1".into()),
        ("authorization".into(), format!("Bearer {token}")),
    ])
}

fn list(body: Value) -> Vec<u8> {
    body.to_string().into_bytes()
}

fn slot(body: &Value) -> RevocationSlot {
    RevocationSlot {
        list: Some(RevocationList::parse(&list(body.clone()), 1000, now(), 0).unwrap()),
        ..RevocationSlot::default()
    }
}

fn decide<'a>(
    policy: &'a Policy,
    revocations: &[RevocationSlot],
    cache: &mut TokenCache,
    token: &str,
) -> Decision<'a> {
    let slots: Vec<Slot> = vec![Slot::default()];
    let keys = WorkerKeys {
        providers: &policy.providers,
        endpoints: &policy.endpoints,
        slots: &slots,
        revocations,
    };
    authorize_with_keys(policy, &keys, cache, &request(token), now())
}

fn revoked(decision: &Decision) -> bool {
    matches!(decision, Decision::Deny { denial: Denial::InvalidToken(why), .. }
        if why == "the token was revoked")
}

#[test]
fn a_cached_token_is_refused_once_its_jti_is_listed() {
    let policy = policy("refuse");
    let mut cache = TokenCache::new(16);
    let listed = token(json!({"jti": "t-42"}));
    let empty = slot(&json!({"version": 1}));
    let decision = decide(&policy, std::slice::from_ref(&empty), &mut cache, &listed);
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
    assert_eq!(cache.len(), 1);
    let later = slot(&json!({"version": 1,
        "revoked_jtis": [{"jti": "t-42", "exp": now() + 3600}]}));
    let decision = decide(&policy, std::slice::from_ref(&later), &mut cache, &listed);
    assert!(revoked(&decision), "{decision:?}");
    let other = token(json!({"jti": "t-43"}));
    assert!(matches!(
        decide(&policy, std::slice::from_ref(&later), &mut cache, &other),
        Decision::Allow(_)
    ));
}

#[test]
fn a_subjects_tokens_issued_before_its_time_are_refused_with_or_without_jti() {
    let policy = policy("refuse");
    let mut cache = TokenCache::new(16);
    let t = now();
    let list = slot(&json!({"version": 1,
        "subjects_not_before": [{"sub": "alice", "nbf": t - 10}]}));
    let revocations = std::slice::from_ref(&list);
    let old = token(json!({"iat": t - 60, "jti": null}));
    assert!(revoked(&decide(&policy, revocations, &mut cache, &old)));
    let no_iat = token(json!({"iat": null}));
    assert!(revoked(&decide(&policy, revocations, &mut cache, &no_iat)));
    let fresh = token(json!({"iat": t - 5}));
    assert!(matches!(
        decide(&policy, revocations, &mut cache, &fresh),
        Decision::Allow(_)
    ));
    let bob = token(json!({"iat": t - 60, "sub": "bob"}));
    assert!(matches!(
        decide(&policy, revocations, &mut cache, &bob),
        Decision::Allow(_)
    ));
}

#[test]
fn before_the_first_list_tokens_get_503_unless_the_provider_allows_them() {
    let mut cache = TokenCache::new(16);
    let none = [RevocationSlot::default()];
    let closed = policy("refuse");
    let decision = decide(&closed, &none, &mut cache, &token(json!({})));
    assert!(
        matches!(&decision, Decision::Deny { denial: Denial::Unavailable(why), .. }
            if why == "the issuer's revocation list is not available"),
        "{decision:?}"
    );
    let open = policy("allow");
    assert!(matches!(
        decide(&open, &none, &mut cache, &token(json!({}))),
        Decision::Allow(_)
    ));
}

// The fetch, against the fake host.

fn host() -> FakeHost {
    FakeHost::new(now() * 1000)
}

/// Ticks until the worker dispatches the list fetch, and answers it.
fn fetch(host: &FakeHost, worker: &Worker, status: Option<u32>, body: &[u8]) {
    let before = host.dispatched.borrow().len();
    host.tick(worker);
    assert_eq!(host.dispatched.borrow().len(), before + 1, "no fetch");
    let call = host.last_call();
    assert_eq!(
        (call.context, call.cluster.as_str(), call.path.as_str()),
        (ROOT, "idp", LIST_PATH)
    );
    host.answer_root(worker, call.token, status, body);
}

fn status_of(host: &FakeHost, worker: &Rc<Worker>, context: u32, token: &str) -> Option<u32> {
    let (_flow, flow) = host.get(worker, context, "/devices/1", token);
    match flow {
        Flow::Continue => None,
        _ => host.status(context),
    }
}

#[test]
fn one_worker_fetches_the_list_and_another_installs_it_from_shared_data() {
    let host = host();
    let fetcher = host.worker(&config("refuse"));
    let other = host.worker(&config("refuse"));
    let listed = token(json!({"jti": "t-1"}));
    assert_eq!(status_of(&host, &fetcher, 2, &listed), Some(503));
    let body = list(json!({"version": 1,
        "revoked_jtis": [{"jti": "t-1", "exp": now() + 3600}]}));
    fetch(&host, &fetcher, Some(200), &body);
    let record = KeyRecord::decode(&host.shared_value(RECORD).unwrap()).unwrap();
    assert_eq!(record.body, body);
    assert!(host.shared_value(GENERATION).is_some());
    // The other worker does not fetch (the lease is taken until the refresh), it installs.
    let before = host.dispatched.borrow().len();
    host.tick(&other);
    assert_eq!(
        host.dispatched.borrow().len(),
        before,
        "one fetch per Envoy"
    );
    assert_eq!(status_of(&host, &other, 3, &listed), Some(401));
    assert_eq!(status_of(&host, &fetcher, 4, &listed), Some(401));
    let reply = &host.request(4).replies[0];
    let text = String::from_utf8_lossy(&reply.2);
    assert!(text.contains("the token was revoked"), "{text}");
    assert!(!text.contains("t-1"), "the jti is never told: {text}");
    assert_eq!(
        status_of(&host, &other, 5, &token(json!({"jti": "t-2"}))),
        None
    );
}

#[test]
fn a_cached_token_is_refused_after_the_next_refresh_lists_it() {
    let host = host();
    let worker = host.worker(&config("refuse"));
    fetch(&host, &worker, Some(200), &list(json!({"version": 1})));
    let cached = token(json!({"jti": "t-7"}));
    assert_eq!(status_of(&host, &worker, 2, &cached), None);
    assert_eq!(status_of(&host, &worker, 3, &cached), None);
    assert_eq!(worker.cached_tokens(), 1);
    // Within one refresh: not fetched again yet.
    host.now_ms.set(host.now_ms.get() + 29_000);
    let before = host.dispatched.borrow().len();
    host.tick(&worker);
    assert_eq!(host.dispatched.borrow().len(), before);
    host.now_ms.set(host.now_ms.get() + 1000);
    let body = list(json!({"version": 1,
        "revoked_jtis": [{"jti": "t-7", "exp": now() + 3600}]}));
    fetch(&host, &worker, Some(200), &body);
    assert_eq!(
        worker.cached_tokens(),
        1,
        "still cached, refused all the same"
    );
    assert_eq!(status_of(&host, &worker, 4, &cached), Some(401));
}

#[test]
fn the_last_good_list_is_kept_through_failed_fetches_and_malformed_documents() {
    let host = host();
    let worker = host.worker(&config("refuse"));
    let body = list(json!({"version": 1,
        "subjects_not_before": [{"sub": "alice", "nbf": now()}]}));
    fetch(&host, &worker, Some(200), &body);
    let old = token(json!({"iat": now() - 60}));
    assert_eq!(status_of(&host, &worker, 2, &old), Some(401));
    let record = host.shared_value(RECORD);
    // The issuer fails, then serves garbage, then a list above max_entries: none is shared.
    host.now_ms.set(host.now_ms.get() + 30_000);
    fetch(&host, &worker, Some(503), b"");
    host.now_ms.set(host.now_ms.get() + 1000);
    fetch(&host, &worker, Some(200), b"<html>");
    host.now_ms.set(host.now_ms.get() + 2000);
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"sub": format!("s{i}"), "nbf": 1}))
        .collect();
    let too_long = list(json!({"version": 1, "subjects_not_before": many}));
    fetch(&host, &worker, Some(200), &too_long);
    assert_eq!(host.shared_value(RECORD), record, "never published");
    assert_eq!(
        status_of(&host, &worker, 3, &old),
        Some(401),
        "last good list"
    );
    let metrics = host.metrics.borrow();
    let failures = "edge_auth_revocation_fetches_total.provider.test-idp.result.failure";
    assert_eq!(metrics.get(failures), Some(&3), "{metrics:?}");
    // Backoff: the next retry is 4 s after the third failure, not at the next tick.
    drop(metrics);
    let before = host.dispatched.borrow().len();
    host.now_ms.set(host.now_ms.get() + 3000);
    host.tick(&worker);
    assert_eq!(host.dispatched.borrow().len(), before);
}

#[test]
fn the_check_on_a_cache_hit_makes_no_host_call() {
    let host = host();
    let plain = host.worker(&issuer().config());
    let listing = host.worker(&config("refuse"));
    fetch(
        &host,
        &listing,
        Some(200),
        &list(json!({"version": 1,
            "revoked_jtis": [{"jti": "other", "exp": now() + 3600}],
            "subjects_not_before": [{"sub": "bob", "nbf": now()}]})),
    );
    let good = token(json!({"jti": "t-9"}));
    for (context, worker) in [(2, &plain), (3, &plain), (4, &listing), (5, &listing)] {
        assert_eq!(status_of(&host, worker, context, &good), None);
    }
    assert_eq!(
        host.calls_for(5),
        host.calls_for(3),
        "a cache hit costs the same host calls with a revocation list"
    );
}
