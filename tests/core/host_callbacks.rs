//! The host's callback logic (`edge_auth::host`), natively against the fake host of
//! `fake_host.rs`: callbacks in adversarial orders (ticks during a pause, answers for unknown
//! calls, a second answer, an answer after the client left, callbacks re-entering the worker
//! from inside host calls), and what each request path costs in host calls.

use std::cell::Cell;
use std::rc::Rc;

use edge_auth::host::{Flow, Worker};
use edge_auth::issuer::remote_keys::KeyRecord;
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::mint::SigningKey;
use serde_json::{json, Value};

use crate::fake_host::{FakeHost, ROOT};
use crate::fixtures::{issuer, now};

const ISS: &str = "https://idp.example.com/realms/main";
const RECORD: &str = "edge-auth/jwks idp https://idp.example.com/realms/main";
const GENERATION: &str = "edge-auth/jwks-generation idp https://idp.example.com/realms/main";

fn remote_config() -> Value {
    let mut config = issuer().config();
    config["providers"][0] = json!({
        "name": "remote", "issuer": ISS, "audiences": ["edge-api"], "algorithms": ["ES256"],
        "remote_jwks": {"cluster": "idp", "uri": "https://idp.example.com/certs",
                        "refresh_seconds": 60}
    });
    config
}

fn introspection_config(cache_entries: usize) -> Value {
    let mut config = issuer().config();
    config["providers"][0]["introspection"] = json!({
        "cluster": "idp", "path": "/introspect", "authority": "idp",
        "client_id": "edge", "client_secret": "s3cret"
    });
    config["token_cache"] = json!({"max_entries": cache_entries});
    config
}

fn key(kid: &str) -> SigningKey {
    SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid(kid)
}

fn jwks(keys: &[(&str, &SigningKey)]) -> Vec<u8> {
    json!({"keys": keys.iter().map(|(kid, k)| k.public_jwk(kid)).collect::<Vec<_>>()})
        .to_string()
        .into_bytes()
}

fn token(key: &SigningKey) -> String {
    key.sign(&issuer().claims(now(), json!({"iss": ISS})))
        .unwrap()
}

fn host() -> FakeHost {
    FakeHost::new(now() * 1000)
}

/// Ticks until the worker dispatches a key fetch and answers it with `body`.
fn fetch(host: &FakeHost, worker: &Worker, body: &[u8]) {
    let before = host.dispatched.borrow().len();
    host.tick(worker);
    assert_eq!(
        host.dispatched.borrow().len(),
        before + 1,
        "no fetch started"
    );
    let call = host.last_call();
    assert_eq!((call.context, call.cluster.as_str()), (ROOT, "idp"));
    host.answer_root(worker, call.token, Some(200), body);
}

/// Publishes `body` as another worker's fetch would: the record, then its generation.
fn publish(host: &FakeHost, body: &[u8]) {
    let record = KeyRecord {
        fetched_at_ms: host.now_ms.get(),
        body: body.to_vec(),
    };
    host.share(RECORD, &record.encode());
    let generation = host
        .shared_value(GENERATION)
        .and_then(|value| String::from_utf8(value).ok())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    host.share(GENERATION, (generation + 1).to_string().as_bytes());
}

/// How many times the key record was copied out of shared data since `mark`.
fn record_reads(host: &FakeHost, mark: usize) -> usize {
    let read = format!("get_shared_data {RECORD}");
    host.calls_since(mark)
        .iter()
        .filter(|call| **call == read)
        .count()
}

#[test]
fn an_unknown_kid_copies_the_key_record_only_when_it_changed() {
    let host = host();
    let worker = host.worker(&remote_config());
    let k1 = key("k1");
    let (_flow, _) = host.get(&worker, 2, "/devices/1", &token(&k1));
    fetch(&host, &worker, &jwks(&[("k1", &k1)]));
    // Tokens naming a kid nobody has: each request reads the small generation value, never
    // the record (up to 512 KiB), and neither does the tick.
    let mark = host.mark();
    for context in 3..13 {
        host.get(&worker, context, "/devices/1", &token(&key("k9")));
        host.tick(&worker);
    }
    assert_eq!(record_reads(&host, mark), 0);
    // Once another worker shares new keys, the record is copied once.
    let k2 = key("k2");
    publish(&host, &jwks(&[("k1", &k1), ("k2", &k2)]));
    let mark = host.mark();
    host.get(&worker, 20, "/devices/1", &token(&key("k9")));
    host.tick(&worker);
    host.get(&worker, 21, "/devices/1", &token(&key("k9")));
    assert_eq!(record_reads(&host, mark), 1);
}

#[test]
fn a_request_whose_keys_were_installed_meanwhile_is_decided_at_once() {
    let host = host();
    let worker = host.worker(&remote_config());
    let (k1, k2) = (key("k1"), key("k2"));
    let (_flow, _) = host.get(&worker, 2, "/devices/1", &token(&k1));
    fetch(&host, &worker, &jwks(&[("k1", &k1)]));
    // Another worker fetched k2 since this worker's last tick.
    publish(&host, &jwks(&[("k1", &k1), ("k2", &k2)]));
    let (_flow, result) = host.get(&worker, 3, "/devices/1", &token(&k2));
    assert_eq!(
        result,
        Flow::Continue,
        "decided with the keys just installed, not paused"
    );
    assert!(host.request(3).replies.is_empty());
}

#[test]
fn a_request_paused_for_the_first_keys_is_resumed_when_they_arrive() {
    let host = host();
    let worker = host.worker(&remote_config());
    let k1 = key("k1");
    let (_flow, flow) = host.get(&worker, 2, "/devices/1", &token(&k1));
    assert_eq!(flow, Flow::Pause);
    fetch(&host, &worker, &jwks(&[("k1", &k1)]));
    let request = host.request(2);
    assert_eq!(request.resumed, 1);
    assert!(request.replies.is_empty());
    assert!(request
        .set_headers
        .contains(&("x-auth-subject".into(), Some("alice".into()))));
}

#[test]
fn ticks_during_a_pause_leave_the_request_paused_until_its_keys_arrive() {
    let host = host();
    let worker = host.worker(&remote_config());
    let k1 = key("k1");
    let (_flow, flow) = host.get(&worker, 2, "/devices/1", &token(&k1));
    assert_eq!(flow, Flow::Pause);
    host.tick(&worker); // starts the fetch
    let call = host.last_call();
    for _ in 0..5 {
        host.now_ms.set(host.now_ms.get() + 100);
        host.tick(&worker);
    }
    assert_eq!(
        host.dispatched.borrow().len(),
        1,
        "one fetch in flight, not one per tick"
    );
    let request = host.request(2);
    assert_eq!((request.resumed, request.replies.len()), (0, 0));
    host.answer_root(&worker, call.token, Some(200), &jwks(&[("k1", &k1)]));
    assert_eq!(host.request(2).resumed, 1);
}

#[test]
fn an_answer_for_an_unknown_call_or_a_second_answer_changes_nothing() {
    let host = host();
    let worker = host.worker(&remote_config());
    let k1 = key("k1");
    let (_flow, _) = host.get(&worker, 2, "/devices/1", &token(&k1));
    host.tick(&worker);
    let call = host.last_call();
    host.answer_root(&worker, call.token + 50, Some(200), &jwks(&[]));
    assert_eq!(host.request(2).resumed, 0);
    assert_eq!(
        host.shared_value(RECORD),
        None,
        "an unknown answer is not published"
    );
    host.answer_root(&worker, call.token, Some(200), &jwks(&[("k1", &k1)]));
    assert_eq!(host.request(2).resumed, 1);
    let record = host.shared_value(RECORD);
    // The same answer again (and a garbage one) is a stale call: nothing changes.
    host.answer_root(&worker, call.token, Some(200), &jwks(&[]));
    host.answer_root(&worker, call.token, None, b"");
    assert_eq!(host.shared_value(RECORD), record);
    let request = host.request(2);
    assert_eq!((request.resumed, request.replies.len()), (1, 0));
    let (_flow, flow) = host.get(&worker, 3, "/devices/1", &token(&k1));
    assert_eq!(flow, Flow::Continue, "the keys are still in use");
}

#[test]
fn a_waiter_whose_client_left_is_skipped_and_the_others_are_decided() {
    let host = host();
    let worker = host.worker(&remote_config());
    let k1 = key("k1");
    let (_a, _) = host.get(&worker, 2, "/devices/1", &token(&k1));
    let (_b, _) = host.get(&worker, 3, "/devices/1", &token(&k1));
    let (_c, _) = host.get(&worker, 4, "/devices/1", &token(&key("k9")));
    host.end(2);
    fetch(&host, &worker, &jwks(&[("k1", &k1)]));
    assert_eq!(host.request(2).resumed, 0, "gone");
    assert_eq!(host.request(3).resumed, 1);
    assert_eq!(host.status(4), Some(401), "an unknown kid after the fetch");
    assert_eq!(host.request(4).resumed, 0);
}

#[test]
fn a_rotated_out_key_ends_its_cached_tokens_at_the_next_tick() {
    let host = host();
    let worker = host.worker(&remote_config());
    let (k1, k2) = (key("k1"), key("k2"));
    let old = token(&k1);
    let (_flow, _) = host.get(&worker, 2, "/devices/1", &old);
    fetch(&host, &worker, &jwks(&[("k1", &k1)]));
    let (_flow, flow) = host.get(&worker, 3, "/devices/1", &old);
    assert_eq!(flow, Flow::Continue);
    assert_eq!(worker.cached_tokens(), 1);
    // Another worker fetched the rotated set; this worker installs it on its tick.
    publish(&host, &jwks(&[("k2", &k2)]));
    host.tick(&worker);
    let (_flow, flow) = host.get(&worker, 4, "/devices/1", &old);
    assert_ne!(
        flow,
        Flow::Continue,
        "a token of the withdrawn key is not served from the cache"
    );
    let (_flow, flow) = host.get(&worker, 5, "/devices/1", &token(&k2));
    assert_eq!(flow, Flow::Continue);
}

fn active(exp: u64) -> Vec<u8> {
    json!({"active": true, "sub": "bob", "scope": "devices:read", "aud": "edge-api", "exp": exp})
        .to_string()
        .into_bytes()
}

#[test]
fn an_introspected_request_is_resumed_with_the_answer_and_a_second_answer_changes_nothing() {
    let host = host();
    let worker = host.worker(&introspection_config(16));
    let (mut flow, result) = host.get(&worker, 2, "/devices/1", "opaque-1");
    assert_eq!(result, Flow::Pause);
    let call = host.last_call();
    assert_eq!((call.context, call.path.as_str()), (2, "/introspect"));
    assert!(String::from_utf8(call.body.unwrap())
        .unwrap()
        .contains("token=opaque-1"));
    host.answer_request(&mut flow, 2, call.token, Some(200), &active(now() + 600));
    let request = host.request(2);
    assert_eq!((request.resumed, request.replies.len()), (1, 0));
    assert!(!flow.is_introspecting());
    host.answer_request(&mut flow, 2, call.token, Some(200), &active(now() + 600));
    host.end(2);
    host.answer_request(&mut flow, 2, call.token, None, b"");
    let request = host.request(2);
    assert_eq!((request.resumed, request.replies.len()), (1, 0));
    // The answer is cached: the next request with the token is decided at once.
    let mark = host.mark();
    let (_flow, result) = host.get(&worker, 3, "/devices/1", "opaque-1");
    assert_eq!(result, Flow::Continue);
    assert!(!host
        .calls_since(mark)
        .contains(&"dispatch_http_call".to_string()));
}

#[test]
fn an_active_answer_with_exp_inside_the_clock_skew_lets_the_woken_request_through() {
    // exp 5 s ago: inside the provider's 30 s skew, so the token is good, and the answer is
    // cached until exp + skew; the woken request is decided with the answer in hand.
    let host = host();
    let worker = host.worker(&introspection_config(16));
    let (mut flow, _) = host.get(&worker, 2, "/devices/1", "opaque-1");
    let call = host.last_call();
    host.answer_request(&mut flow, 2, call.token, Some(200), &active(now() - 5));
    let request = host.request(2);
    assert_eq!(request.replies.len(), 0, "{:?}", request.replies);
    assert_eq!(request.resumed, 1);
    assert!(request
        .set_headers
        .contains(&("x-auth-subject".into(), Some("bob".into()))));
    let (_flow, result) = host.get(&worker, 3, "/devices/1", "opaque-1");
    assert_eq!(result, Flow::Continue, "the answer is cached");
}

#[test]
fn an_introspection_answer_after_the_client_left_harms_nothing() {
    let host = host();
    let worker = host.worker(&introspection_config(16));
    let (mut flow, _) = host.get(&worker, 2, "/devices/1", "opaque-1");
    let call = host.last_call();
    host.end(2);
    host.answer_request(&mut flow, 2, call.token, Some(200), &active(now() + 600));
    let request = host.request(2);
    assert_eq!((request.resumed, request.replies.len()), (0, 0));
    // The answer was still worth keeping: the next request with the token is decided at once.
    let (_flow, result) = host.get(&worker, 3, "/devices/1", "opaque-1");
    assert_eq!(result, Flow::Continue);
}

#[test]
fn an_answer_to_another_call_keeps_the_pending_introspection() {
    let host = host();
    let worker = host.worker(&introspection_config(16));
    let (mut flow, _) = host.get(&worker, 2, "/devices/1", "opaque-1");
    let call = host.last_call();
    host.answer_request(
        &mut flow,
        2,
        call.token + 7,
        Some(200),
        &active(now() + 600),
    );
    assert!(flow.is_introspecting(), "still waiting for its own answer");
    let request = host.request(2);
    assert_eq!((request.resumed, request.replies.len()), (0, 0));
    host.answer_request(&mut flow, 2, call.token, Some(200), &active(now() + 600));
    assert_eq!(host.request(2).resumed, 1);
}

#[test]
fn a_local_reply_the_host_refuses_falls_back_to_a_bare_503() {
    let host = host();
    let worker = host.worker(&issuer().config());
    host.failing.borrow_mut().insert("send_response_not_503");
    let (_flow, result) = host.start(&worker, 2, &[(":method", "GET"), (":path", "/devices/1")]);
    assert_eq!(result, Flow::Pause, "never forwarded unchecked");
    let request = host.request(2);
    assert_eq!(
        request.replies.len(),
        1,
        "the 401 was refused, a bare 503 went out"
    );
    assert_eq!((request.replies[0].0, request.replies[0].2.len()), (503, 0));
    assert!(!request.reset);
}

#[test]
fn a_request_no_local_reply_can_answer_is_reset_not_left_hanging() {
    let host = host();
    let worker = host.worker(&issuer().config());
    host.failing.borrow_mut().insert("send_response");
    let (_flow, result) = host.start(&worker, 2, &[(":method", "GET"), (":path", "/devices/1")]);
    assert_eq!(result, Flow::Pause, "never forwarded unchecked");
    let request = host.request(2);
    assert!(request.replies.is_empty());
    assert!(request.reset, "the stream is reset");
    assert_eq!(request.resumed, 0);
}

/// Arms the fake host to re-enter `worker` (a tick and an answer to an unknown call) from
/// inside the next `times` host calls that can run guest code.
fn reenter(host: &FakeHost, worker: &Rc<Worker>, times: Rc<Cell<usize>>) {
    if times.get() == 0 {
        return;
    }
    times.set(times.get() - 1);
    let worker = Rc::clone(worker);
    *host.reenter.borrow_mut() = Some(Box::new(move |host: &FakeHost| {
        host.tick(&worker);
        host.answer_root(&worker, 999_999, None, b"");
        reenter(host, &worker, times);
    }));
}

#[test]
fn callbacks_reentering_the_worker_from_host_calls_never_find_a_borrow_held() {
    let host = host();
    let worker = host.worker(&remote_config());
    let k1 = key("k1");
    let good = token(&k1);
    let reentries = Rc::new(Cell::new(200));
    reenter(&host, &worker, Rc::clone(&reentries));
    let (_a, _) = host.get(&worker, 2, "/devices/1", &good);
    let (_b, _) = host.get(&worker, 3, "/devices/1", "not-a-jwt");
    host.tick(&worker);
    let call = host
        .dispatched
        .borrow()
        .iter()
        .find(|call| call.context == ROOT)
        .cloned()
        .unwrap();
    host.answer_root(&worker, call.token, Some(200), &jwks(&[("k1", &k1)]));
    for context in 4..20 {
        host.get(&worker, context, "/devices/1", &good);
    }
    assert!(reentries.get() < 200, "the hook ran");
    assert_eq!(host.request(2).resumed, 1);
    assert_eq!(host.status(3), Some(401));
    for context in 4..20 {
        let request = host.request(context);
        assert!(
            request.replies.is_empty(),
            "{context}: {:?}",
            request.replies
        );
    }
    assert_eq!(worker.cached_tokens(), 1);
}

#[test]
fn host_calls_per_request_path() {
    // What each path costs in host calls (a later performance issue reads these counts).
    let host = host();
    let worker = host.worker(&issuer().config());
    let good = issuer().token(Algorithm::ES256, now(), json!({}));
    let (_f, flow) = host.get(&worker, 2, "/devices/1", &good);
    assert_eq!(flow, Flow::Continue);
    let first_sight = host.calls_for(2);
    let (_f, flow) = host.get(&worker, 3, "/devices/1", &good);
    assert_eq!(flow, Flow::Continue);
    let cache_hit = host.calls_for(3);
    let (_f, flow) = host.start(&worker, 4, &[(":method", "GET"), (":path", "/devices/1")]);
    assert_eq!(flow, Flow::Pause);
    let no_credential = host.calls_for(4);
    let (_f, flow) = host.start(&worker, 5, &[(":method", "GET"), (":path", "/public/x")]);
    assert_eq!(flow, Flow::Continue);
    let public = host.calls_for(5);
    let counts = [first_sight, cache_hit, no_credential, public];
    eprintln!("host calls: first sight {first_sight}, cache hit {cache_hit}, no credential {no_credential}, public route {public}");
    assert!(cache_hit <= first_sight);
    // Today's counts; fewer is better, more is a regression to explain. A cache hit: read the
    // headers, the clock, 5 header changes (the token header removed, 4 identity headers set);
    // the request is counted in the worker and added to the metrics at the tick. First sight
    // makes the same calls; a refusal sends the reply instead of the changes; a public route
    // changes no header (the client sent no identity header to remove).
    assert_eq!(counts, [7, 7, 3, 2]);
}

/// With `dpop.nonce_keys` the worker needs no randomness and neither makes nor reads the
/// per-Envoy random key in shared data: a nonce of the configured key passes, so every Envoy
/// configured alike accepts it. Without keys and without randomness the configuration is
/// refused (there would be no key at all).
#[test]
fn configured_nonce_keys_need_no_randomness_and_leave_the_shared_key_alone() {
    use base64::Engine;
    use edge_auth::policy::sender::dpop_nonce;
    use edge_auth::request::credential::NonceKey;

    const SHARED_NONCE_KEY: &str = "edge-auth.dpop-nonce-key";
    let key = [0x21u8; 32];
    let mut config = issuer().config();
    config["dpop"] = json!({"nonce_lifetime_seconds": 60});
    let host = host();
    let random_only = config.to_string().into_bytes();
    assert!(Worker::configure(&host, ROOT, &random_only, None).is_err());

    config["dpop"]["nonce_keys"] =
        json!([base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)]);
    let bytes = config.to_string().into_bytes();
    let (worker, _tick) = Worker::configure(&host, ROOT, &bytes, None).expect("configured");
    assert_eq!(host.shared_value(SHARED_NONCE_KEY), None);

    let t = now();
    let client = crate::dpop_client::DpopClient::new(Algorithm::ES256);
    let token = issuer().token(Algorithm::ES256, t, json!({"cnf": {"jkt": client.jkt()}}));
    let nonce = dpop_nonce::issue(&NonceKey::from_bytes(&key).unwrap(), t, 60);
    let mut claims = client.claims("GET", "https://api/devices/7", Some(&token), t);
    claims.insert("nonce".into(), json!(nonce));
    let proof = client.sign(&client.header(), &claims);
    let authorization = format!("DPoP {token}");
    let mark = host.mark();
    let (_flow, result) = host.start(
        &worker,
        2,
        &[
            (":method", "GET"),
            (":path", "/devices/7"),
            (":scheme", "https"),
            (":authority", "api"),
            ("authorization", &authorization),
            ("dpop", &proof),
        ],
    );
    assert!(matches!(result, Flow::Continue), "{:?}", host.status(2));
    assert_eq!(host.status(2), None, "forwarded, not answered");
    let read = format!("get_shared_data {SHARED_NONCE_KEY}");
    assert!(!host.calls_since(mark).contains(&read));
    assert_eq!(host.shared_value(SHARED_NONCE_KEY), None);
}
