//! The fleet's rate limit service as the host's callbacks use it, natively against the fake
//! host: a new DPoP proof waits for the fleet's word (forwarded on OK, refused as replayed on
//! OVER_LIMIT, 503 or forwarded without an answer as configured), a forged or locally replayed
//! proof makes no call, a failed secret is counted by the fleet before its 401 goes out and a
//! fleet lock holds here without any further call, a good secret makes no call, and answers
//! for requests that have gone change nothing.

use edge_auth::fleet::protocol::{self, Code};
use edge_auth::host::{Flow, Worker};
use edge_auth::jwt::algorithm::Algorithm;
use serde_json::{json, Value};

use crate::dpop_client::DpopClient;
use crate::fake_host::{FakeHost, ROOT};
use crate::fixtures::{access_config, issuer, now, secret, KEY_CLIENT};

const URL: &str = "https://api.example.com/devices/7";
const RLS_PATH: &str = "envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";
const OK: &[u8] = &[0x08, 1];
const OVER_LIMIT: &[u8] = &[0x08, 2];
/// gRPC UNAVAILABLE, what Envoy reports for a service that is down.
const UNAVAILABLE: u32 = 14;

fn dpop_fleet_config(on_unavailable: &str) -> Value {
    let mut config = issuer().config();
    config["dpop"] = json!({"algorithms": ["ES256"], "max_age_seconds": 60});
    config["fleet"] = json!({"cluster": "ratelimit", "timeout_ms": 50,
                             "dpop_replay": {"on_unavailable": on_unavailable}});
    config
}

fn host() -> FakeHost {
    FakeHost::new(now() * 1000)
}

/// A token bound to `client`'s key.
fn bound(client: &DpopClient) -> String {
    issuer().token(
        Algorithm::ES256,
        now(),
        json!({"cnf": {"jkt": client.jkt()}}),
    )
}

/// Starts `GET /devices/7` with `token` and `proof` as request `context`.
fn dpop_request(
    host: &FakeHost,
    worker: &Worker,
    context: u32,
    token: &str,
    proof: &str,
) -> (edge_auth::host::RequestFlow, Flow) {
    let authorization = format!("DPoP {token}");
    host.start(
        worker,
        context,
        &[
            (":method", "GET"),
            (":path", "/devices/7"),
            (":scheme", "https"),
            (":authority", "api.example.com"),
            ("authorization", &authorization),
            ("dpop", proof),
        ],
    )
}

fn calls_to_the_fleet(host: &FakeHost) -> usize {
    host.dispatched
        .borrow()
        .iter()
        .filter(|call| call.path == RLS_PATH)
        .count()
}

fn metric(host: &FakeHost, name: &str) -> i64 {
    host.metrics.borrow().get(name).copied().unwrap_or(0)
}

#[test]
fn a_new_proof_waits_for_the_fleet_and_is_forwarded_when_the_fleet_has_not_seen_it() {
    let host = host();
    let worker = host.worker(&dpop_fleet_config("fail_closed"));
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound(&client);
    let proof = client.proof("GET", URL, Some(&token), now());
    let (mut flow, result) = dpop_request(&host, &worker, 2, &token, &proof);
    assert_eq!(result, Flow::Pause, "the proof waits for the fleet");
    assert!(
        host.request(2).replies.is_empty(),
        "{:?}",
        host.request(2).replies
    );
    let call = host.last_call();
    assert_eq!((call.context, call.cluster.as_str()), (2, "ratelimit"));
    assert_eq!(call.path, RLS_PATH);
    let sent = call.body.clone().unwrap();
    let text = String::from_utf8_lossy(&sent);
    assert!(
        text.contains("edge-auth") && text.contains("dpop_proof"),
        "{text}"
    );
    assert!(
        host.request(2).set_headers.is_empty(),
        "nothing is changed before the fleet answered"
    );
    host.answer_grpc(&worker, Some(&mut flow), 2, call.token, 0, OK);
    let request = host.request(2);
    assert_eq!(request.resumed, 1);
    assert!(request.replies.is_empty());
    assert!(request.set_headers.contains(&("dpop".to_string(), None)));
    assert_eq!(
        metric(
            &host,
            "edge_auth_fleet_calls_total.use.dpop_replay.result.ok"
        ),
        1
    );
    assert_eq!(worker.fleet_calls_in_flight(), 0);
}

#[test]
fn a_proof_the_fleet_has_seen_is_refused_as_replayed() {
    let host = host();
    let worker = host.worker(&dpop_fleet_config("fail_closed"));
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound(&client);
    let proof = client.proof("GET", URL, Some(&token), now());
    let (mut flow, _) = dpop_request(&host, &worker, 2, &token, &proof);
    let call = host.last_call();
    host.answer_grpc(&worker, Some(&mut flow), 2, call.token, 0, OVER_LIMIT);
    let request = host.request(2);
    assert_eq!(request.resumed, 0);
    assert_eq!(host.status(2), Some(401));
    let (_, headers, body) = &request.replies[0];
    let challenge = headers
        .iter()
        .find(|(name, _)| name == "www-authenticate")
        .map(|(_, value)| value.as_str())
        .unwrap_or_default();
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    assert!(String::from_utf8_lossy(body).contains("already used"));
    assert_eq!(
        metric(
            &host,
            "edge_auth_fleet_calls_total.use.dpop_replay.result.over_limit"
        ),
        1
    );
}

#[test]
fn without_an_answer_fail_closed_refuses_with_503_and_local_forwards() {
    for (setting, expect_forwarded) in [("fail_closed", false), ("local", true)] {
        let host = host();
        let worker = host.worker(&dpop_fleet_config(setting));
        // The service answers with an error.
        let client = DpopClient::new(Algorithm::ES256);
        let token = bound(&client);
        let proof = client.proof("GET", URL, Some(&token), now());
        let (mut flow, _) = dpop_request(&host, &worker, 2, &token, &proof);
        let call = host.last_call();
        host.answer_grpc(&worker, Some(&mut flow), 2, call.token, UNAVAILABLE, &[]);
        // No call can be made at all (the cluster is missing).
        host.failing.borrow_mut().insert("dispatch_grpc_call");
        let proof = client.proof("GET", URL, Some(&token), now());
        let (_, result) = dpop_request(&host, &worker, 3, &token, &proof);
        for context in [2, 3] {
            let request = host.request(context);
            if expect_forwarded {
                assert!(request.replies.is_empty(), "{setting}: {request:?}");
            } else {
                assert_eq!(host.status(context), Some(503), "{setting}");
            }
        }
        assert_eq!(host.request(2).resumed, usize::from(expect_forwarded));
        let expected = if expect_forwarded {
            Flow::Continue
        } else {
            Flow::Pause
        };
        assert_eq!(result, expected, "{setting}: decided at once");
        assert_eq!(
            metric(
                &host,
                "edge_auth_fleet_calls_total.use.dpop_replay.result.unavailable"
            ),
            1,
            "{setting}: the failed answer (a call never made is not a call)"
        );
    }
}

#[test]
fn a_forged_or_locally_replayed_proof_makes_no_call() {
    let host = host();
    let worker = host.worker(&dpop_fleet_config("fail_closed"));
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound(&client);
    let other = DpopClient::new(Algorithm::ES256);
    // Signed by another key than the token's: refused by the cheap checks, no call.
    let forged = other.proof("GET", URL, Some(&token), now());
    let (_, result) = dpop_request(&host, &worker, 2, &token, &forged);
    assert_eq!(result, Flow::Pause);
    assert_eq!(host.status(2), Some(401));
    assert_eq!(calls_to_the_fleet(&host), 0);
    // A proof used here already is refused by this Envoy's own cache before any call.
    let proof = client.proof("GET", URL, Some(&token), now());
    let (mut flow, _) = dpop_request(&host, &worker, 3, &token, &proof);
    let call = host.last_call();
    host.answer_grpc(&worker, Some(&mut flow), 3, call.token, 0, OK);
    dpop_request(&host, &worker, 4, &token, &proof);
    assert_eq!(host.status(4), Some(401));
    assert_eq!(calls_to_the_fleet(&host), 1);
}

#[test]
fn answers_for_requests_that_have_gone_change_nothing_and_stale_calls_are_forgotten() {
    let host = host();
    let worker = host.worker(&dpop_fleet_config("fail_closed"));
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound(&client);
    let proof = client.proof("GET", URL, Some(&token), now());
    let (mut flow, _) = dpop_request(&host, &worker, 2, &token, &proof);
    let call = host.last_call();
    host.end(2);
    host.answer_grpc(&worker, Some(&mut flow), 2, call.token, 0, OK);
    assert_eq!(host.request(2).resumed, 0);
    // A second answer, or one for a call nobody made, is ignored.
    host.answer_grpc(&worker, None, ROOT, call.token, 0, OVER_LIMIT);
    host.answer_grpc(&worker, None, ROOT, 9999, 0, OK);
    assert!(host.request(2).replies.is_empty());
    // A call whose context went away before Envoy could answer it is forgotten by the tick.
    let proof = client.proof("GET", URL, Some(&token), now());
    dpop_request(&host, &worker, 3, &token, &proof);
    assert_eq!(worker.fleet_calls_in_flight(), 1);
    host.tick(&worker);
    assert_eq!(worker.fleet_calls_in_flight(), 1, "still within its time");
    host.now_ms.set(host.now_ms.get() + 101);
    host.tick(&worker);
    assert_eq!(worker.fleet_calls_in_flight(), 0);
}

fn lockout_fleet_config() -> Value {
    let mut config = access_config();
    config["abuse"] = json!({"lockout": {"max_failures": 3, "window_seconds": 60}});
    config["fleet"] = json!({"cluster": "ratelimit", "lockout": {}});
    config
}

fn key_pair(
    host: &FakeHost,
    worker: &Worker,
    context: u32,
    secret: &str,
) -> (edge_auth::host::RequestFlow, Flow) {
    host.start(
        worker,
        context,
        &[
            (":method", "GET"),
            (":path", "/devices"),
            (":authority", "api"),
            ("clientid", KEY_CLIENT),
            ("clientsecret", secret),
        ],
    )
}

#[test]
fn a_failed_secret_is_counted_by_the_fleet_before_its_401_and_a_fleet_lock_holds_here() {
    let host = host();
    let worker = host.worker(&lockout_fleet_config());
    let good = secret(KEY_CLIENT);
    // A good secret makes no call.
    let (_, result) = key_pair(&host, &worker, 2, &good);
    assert_eq!(result, Flow::Continue);
    assert_eq!(calls_to_the_fleet(&host), 0);
    // A wrong one waits for the fleet to count it, then gets its 401.
    let (mut flow, result) = key_pair(&host, &worker, 3, "wrong");
    assert_eq!(result, Flow::Pause);
    assert!(host.request(3).replies.is_empty());
    let call = host.last_call();
    let sent = call.body.clone().unwrap();
    let text = String::from_utf8_lossy(&sent);
    assert!(
        text.contains("failed_secret") && text.contains("failed_secret_source"),
        "{text}"
    );
    assert!(text.contains("192.0.2.7"), "the source: {text}");
    assert!(
        !text.contains(KEY_CLIENT),
        "the client id is hashed: {text}"
    );
    // The fleet's count (failures at other Envoys) reached the limit for this source and client.
    let answer = [0x08, 2, 0x12, 2, 0x08, 2, 0x12, 2, 0x08, 1];
    assert_eq!(
        protocol::decode_response(&answer).unwrap().statuses,
        [Code::OverLimit, Code::Ok]
    );
    host.answer_grpc(&worker, Some(&mut flow), 3, call.token, 0, &answer);
    assert_eq!(host.status(3), Some(401));
    // Locked here now, with one failure of its own: even the right secret gets 429, no call.
    let (_, result) = key_pair(&host, &worker, 4, &good);
    assert_eq!(result, Flow::Pause);
    assert_eq!(host.status(4), Some(429));
    assert_eq!(calls_to_the_fleet(&host), 1);
    assert_eq!(
        metric(
            &host,
            "edge_auth_fleet_calls_total.use.lockout.result.over_limit"
        ),
        1
    );
}

#[test]
fn a_failed_secret_without_the_fleets_answer_is_refused_and_counted_here() {
    let host = host();
    let worker = host.worker(&lockout_fleet_config());
    let (mut flow, _) = key_pair(&host, &worker, 2, "wrong");
    let call = host.last_call();
    host.answer_grpc(&worker, Some(&mut flow), 2, call.token, UNAVAILABLE, &[]);
    assert_eq!(host.status(2), Some(401));
    // The two further failures this Envoy sees lock it on its own count.
    for context in [3, 4] {
        let (mut flow, _) = key_pair(&host, &worker, context, "wrong");
        let call = host.last_call();
        host.answer_grpc(&worker, Some(&mut flow), context, call.token, 4, &[]);
        assert_eq!(host.status(context), Some(401));
    }
    let (_, _) = key_pair(&host, &worker, 5, &secret(KEY_CLIENT));
    assert_eq!(host.status(5), Some(429));
}

#[test]
fn the_fleet_section_is_checked_against_what_it_would_share() {
    let refused = |config: Value, field: &str| {
        let err = edge_auth::policy::Policy::from_json(config.to_string().as_bytes())
            .err()
            .unwrap_or_else(|| panic!("accepted: {config}"));
        assert!(err.to_string().contains(field), "{err} should name {field}");
    };
    let mut config = issuer().config();
    config["fleet"] = json!({"cluster": "ratelimit", "dpop_replay": {}});
    refused(config.clone(), "fleet.dpop_replay");
    config["fleet"] = json!({"cluster": "ratelimit", "lockout": {}});
    refused(config.clone(), "fleet.lockout");
    let mut config = dpop_fleet_config("sometimes");
    refused(config.clone(), "fleet.dpop_replay.on_unavailable");
    config["fleet"] = json!({"cluster": "ratelimit", "dpop_replay": {}, "timeout_ms": 0});
    refused(config.clone(), "fleet.timeout_ms");
    config["fleet"] = json!({"cluster": "", "dpop_replay": {}});
    refused(config.clone(), "fleet.cluster");
    config["fleet"] = json!({"cluster": "ratelimit"});
    refused(config.clone(), "fleet");
    config["fleet"] = json!({"cluster": "ratelimit", "dpop_replay": {}, "domian": "x"});
    refused(config, "domian");
    let mut config = lockout_fleet_config();
    config["fleet"]["lockout"] = json!({"on_unavailable": "fail_closed"});
    refused(config, "fleet.lockout.on_unavailable");
}

#[test]
fn in_report_mode_a_failed_secret_is_counted_by_the_fleet_then_forwarded_without_it() {
    let host = host();
    let mut config = lockout_fleet_config();
    config["mode"] = json!("report");
    let worker = host.worker(&config);
    let (mut flow, result) = key_pair(&host, &worker, 2, "wrong");
    assert_eq!(result, Flow::Pause, "held while the fleet counts it");
    let call = host.last_call();
    assert!(String::from_utf8_lossy(call.body.as_deref().unwrap()).contains("failed_secret"));
    let answer = [0x08, 2, 0x12, 2, 0x08, 2, 0x12, 2, 0x08, 1];
    host.answer_grpc(&worker, Some(&mut flow), 2, call.token, 0, &answer);
    let request = host.request(2);
    assert_eq!(request.resumed, 1, "report mode forwards");
    assert!(request.replies.is_empty());
    assert!(
        request
            .set_headers
            .contains(&("clientsecret".to_string(), None)),
        "without the secret: {:?}",
        request.set_headers
    );
    // The fleet's lock is kept here: the next request would be refused, and is forwarded.
    let (_, result) = key_pair(&host, &worker, 3, &secret(KEY_CLIENT));
    assert_eq!(result, Flow::Continue);
    host.tick(&worker); // request counts are added to the metrics at the tick
    assert_eq!(
        metric(
            &host,
            "edge_auth_would_deny_total.reason.locked_out.credential.api_key.provider.none"
        ),
        1,
        "{:?}",
        host.metrics.borrow()
    );
}

/// A request that waited for its issuer's keys is decided when the root context installs
/// them: its fleet call is made while the root runs, so the answer comes to the root, which
/// hands it to the waiting request.
#[test]
fn a_request_woken_by_its_keys_gets_the_fleets_answer_through_the_root_context() {
    use edge_auth::jwt::mint::SigningKey;
    let iss = "https://idp.example.com/realms/main";
    let mut config = dpop_fleet_config("fail_closed");
    config["providers"][0] = json!({
        "name": "remote", "issuer": iss, "audiences": ["edge-api"], "algorithms": ["ES256"],
        "remote_jwks": {"cluster": "idp", "uri": "https://idp.example.com/certs",
                        "refresh_seconds": 60}
    });
    let host = host();
    let worker = host.worker(&config);
    let key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("k1");
    let client = DpopClient::new(Algorithm::ES256);
    let claims = issuer().claims(now(), json!({"iss": iss, "cnf": {"jkt": client.jkt()}}));
    let token = key.sign(&claims).unwrap();
    let proof = client.proof("GET", URL, Some(&token), now());
    let (_flow, result) = dpop_request(&host, &worker, 2, &token, &proof);
    assert_eq!(result, Flow::Pause, "waits for the keys");
    // The root fetches the keys; installing them decides the waiting request.
    host.tick(&worker);
    let fetch = host.last_call();
    assert_eq!(fetch.cluster, "idp");
    let jwks = json!({"keys": [key.public_jwk("k1")]}).to_string();
    host.answer_root(&worker, fetch.token, Some(200), jwks.as_bytes());
    let call = host.last_call();
    assert_eq!(call.path, RLS_PATH, "then the fleet is asked");
    assert_eq!(host.request(2).resumed, 0, "not before the fleet answers");
    host.answer_grpc(&worker, None, ROOT, call.token, 0, OK);
    let request = host.request(2);
    assert_eq!(request.resumed, 1);
    assert!(request.replies.is_empty(), "{:?}", request.replies);
    assert!(request.set_headers.contains(&("dpop".to_string(), None)));
    assert_eq!(worker.fleet_calls_in_flight(), 0);
}
