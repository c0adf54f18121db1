//! What each request path asks of Envoy (issue 22), natively against the fake host: the host
//! calls per path with the bench's configuration (the cache hit's pinned, so they cannot grow
//! unnoticed; docs/performance.md lists them), and the request counts kept in the worker until
//! the tick, or the plugin's end, adds them to the metrics.

use edge_auth::host::{Flow, Worker};
use edge_auth::jwt::algorithm::Algorithm;
use serde_json::{json, Value};

use crate::dpop_client::DpopClient;
use crate::fake_host::FakeHost;
use crate::fixtures::{basic, issuer, now, secret, KEY_CLIENT};

const URL: &str = "https://api.example.com/devices/7";
const ALLOWED: &str = "edge_auth_requests_total.decision.allowed.credential.jwt.provider.test-idp";

/// The shape of `bench/bench.py`'s configuration: one provider, one API client (key pair and
/// Basic), one rule, the subject and scopes headers.
fn bench_config() -> Value {
    let mut config = issuer().config();
    config["forward"] =
        json!({"subject_header": "x-auth-subject", "scopes_header": "x-auth-scopes"});
    config["api_keys"] = json!({
        "id_header": "clientid", "secret_header": "clientsecret", "basic": true,
        "clients": [{"id": KEY_CLIENT, "scopes": ["devices:read"],
                     "secret_sha256": edge_auth::clients::secret_digest_hex(secret(KEY_CLIENT).as_bytes())}]
    });
    config
}

/// A path: what it is, its headers, and its calls if allowed (`None`: refused with a 401).
type Path<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<Vec<String>>);

fn host() -> FakeHost {
    FakeHost::new(now() * 1000)
}

/// The host calls made for request `context`, by name.
fn calls(host: &FakeHost, context: u32) -> Vec<String> {
    host.calls
        .borrow()
        .iter()
        .filter(|(c, _)| *c == context)
        .map(|(_, name)| name.clone())
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

/// An allowed request's calls: read the headers and the clock, then `removed` + `set` header
/// changes, one call each.
fn changes(removed: usize, set: usize) -> Vec<String> {
    let mut calls = names(&["request_headers", "now_ms"]);
    calls.extend((0..removed + set).map(|_| "set_request_header".to_string()));
    calls
}

fn get(host: &FakeHost, worker: &Worker, context: u32, headers: &[(&str, &str)]) -> Flow {
    let mut all = vec![
        (":method", "GET"),
        (":path", "/devices/7"),
        (":authority", "api"),
    ];
    all.extend_from_slice(headers);
    host.start(worker, context, &all).1
}

#[test]
fn a_cache_hit_makes_five_host_calls() {
    let host = host();
    let worker = host.worker(&bench_config());
    let token = format!(
        "Bearer {}",
        issuer().token(Algorithm::RS256, now(), json!({}))
    );
    assert_eq!(
        get(&host, &worker, 2, &[("authorization", &token)]),
        Flow::Continue
    );
    assert_eq!(
        get(&host, &worker, 3, &[("authorization", &token)]),
        Flow::Continue
    );
    // Read the headers, read the clock, remove the token header, set the subject and scopes.
    // The request is counted in the worker, not in Envoy.
    assert_eq!(calls(&host, 3), changes(1, 2));
    assert_eq!(
        calls(&host, 2),
        calls(&host, 3),
        "first sight: the same calls"
    );
}

#[test]
fn host_calls_per_path_with_the_bench_configuration() {
    // The list docs/performance.md gives ("Host calls per path"); run with --nocapture to see it.
    let host = host();
    let worker = host.worker(&bench_config());
    let token = format!(
        "Bearer {}",
        issuer().token(Algorithm::RS256, now(), json!({}))
    );
    let key = secret(KEY_CLIENT);
    let basic = basic(KEY_CLIENT, &key);
    // What each changes: the header with the secret removed (the token, the API key's secret,
    // Basic's `authorization`; the client id stays), the subject and scopes set.
    let paths: [Path; 5] = [
        ("JWT", vec![("authorization", &token)], Some(changes(1, 2))),
        (
            "API key pair",
            vec![("clientid", KEY_CLIENT), ("clientsecret", &key)],
            Some(changes(1, 2)),
        ),
        (
            "Basic",
            vec![("authorization", &basic)],
            Some(changes(1, 2)),
        ),
        (
            "refused: wrong secret",
            vec![("clientid", KEY_CLIENT), ("clientsecret", "wrong")],
            None,
        ),
        ("refused: no credential", vec![], None),
    ];
    let refusal = names(&["request_headers", "now_ms", "send_response"]);
    for (context, (what, headers, allowed)) in (2..).zip(paths) {
        let flow = get(&host, &worker, context, &headers);
        let made = calls(&host, context);
        eprintln!("{what}: {made:?}");
        match allowed {
            Some(expected) => {
                assert_eq!(flow, Flow::Continue, "{what}");
                assert_eq!(made, expected, "{what}");
            }
            None => {
                assert_eq!(host.status(context), Some(401), "{what}");
                assert_eq!(made, refusal, "{what}");
            }
        }
    }
}

#[test]
fn dpop_and_the_fleet_add_the_replay_cache_and_one_call_to_the_fleet() {
    let host = host();
    let mut config = bench_config();
    config["dpop"] = json!({"algorithms": ["ES256"], "max_age_seconds": 60});
    let worker = host.worker(&config);
    let client = DpopClient::new(Algorithm::ES256);
    let token = issuer().token(
        Algorithm::ES256,
        now(),
        json!({"cnf": {"jkt": client.jkt()}}),
    );
    let dpop = |host: &FakeHost, worker: &Worker, context: u32| {
        let proof = client.proof("GET", URL, Some(&token), now());
        let authorization = format!("DPoP {token}");
        let headers = [
            (":method", "GET"),
            (":path", "/devices/7"),
            (":scheme", "https"),
            (":authority", "api.example.com"),
            ("authorization", authorization.as_str()),
            ("dpop", proof.as_str()),
        ];
        host.start(worker, context, &headers)
    };
    dpop(&host, &worker, 2);
    let (_, flow) = dpop(&host, &worker, 3);
    assert_eq!(flow, Flow::Continue);
    let made = calls(&host, 3);
    eprintln!("DPoP, cached token, new proof: {made:?}");
    let replay: Vec<&String> = made.iter().filter(|c| c.contains("_shared_data")).collect();
    assert_eq!(
        replay.len(),
        2,
        "one read and one compare-and-swap write: {made:?}"
    );
    assert_eq!(made.first().map(String::as_str), Some("request_headers"));
    // The token and the proof removed, the subject and scopes set.
    let changed = made.iter().filter(|c| *c == "set_request_header").count();
    assert_eq!(changed, 4, "{made:?}");
    assert_eq!(made.len(), 8, "{made:?}");

    config["fleet"] = json!({"cluster": "ratelimit", "timeout_ms": 50,
                             "dpop_replay": {"on_unavailable": "fail_closed"}});
    let host = self::host();
    let worker = host.worker(&config);
    let (mut flow, result) = dpop(&host, &worker, 2);
    assert_eq!(result, Flow::Pause);
    let call = host.last_call();
    host.answer_grpc(&worker, Some(&mut flow), 2, call.token, 0, &[0x08, 1]);
    let made = calls(&host, 2);
    eprintln!("DPoP with the fleet's replay check (first sight, answered): {made:?}");
    let count = |name: &str| made.iter().filter(|c| *c == name).count();
    assert_eq!(count("dispatch_grpc_call"), 1, "{made:?}");
    assert_eq!(count("set_request_header"), 4, "{made:?}");
    assert_eq!(count("resume_request"), 1, "{made:?}");
}

#[test]
fn request_counts_reach_the_metrics_at_the_tick_and_when_the_plugin_is_done() {
    let host = host();
    let worker = host.worker(&bench_config());
    let token = format!(
        "Bearer {}",
        issuer().token(Algorithm::RS256, now(), json!({}))
    );
    let metric = |name: &str| host.metrics.borrow().get(name).copied();
    for context in 2..5 {
        get(&host, &worker, context, &[("authorization", &token)]);
    }
    get(&host, &worker, 5, &[]);
    let refused = "edge_auth_denied_total.reason.missing_credential.credential.none.provider.none";
    assert_eq!(
        (metric(ALLOWED), metric(refused)),
        (None, None),
        "kept in the worker"
    );
    host.tick(&worker);
    assert_eq!((metric(ALLOWED), metric(refused)), (Some(3), Some(1)));
    assert_eq!(metric("edge_auth_token_cache_hits_total"), Some(2));
    // A series defined at one tick takes later counts at the next, each count once.
    get(&host, &worker, 8, &[]);
    get(&host, &worker, 9, &[]);
    host.tick(&worker);
    assert_eq!(metric(refused), Some(3));
    host.tick(&worker);
    assert_eq!(metric(refused), Some(3), "nothing pending, nothing added");
    // The plugin ends between two ticks: what is pending goes out then.
    get(&host, &worker, 6, &[("authorization", &token)]);
    worker.on_done(&host);
    assert_eq!(metric(ALLOWED), Some(4));
    assert_eq!(metric("edge_auth_token_cache_hits_total"), Some(3));
    // A request that still runs after that (nothing flushes any more) is counted at once.
    get(&host, &worker, 7, &[("authorization", &token)]);
    assert_eq!(metric(ALLOWED), Some(5));
    assert_eq!(metric("edge_auth_token_cache_hits_total"), Some(4));
}
