//! End-to-end for the abuse limits: the built .wasm in a real Envoy with two workers, the test
//! client acting as several sources through `trusted_hops` and `X-Forwarded-For`. Lockout after
//! N failures from one source and not from another, 429 with `Retry-After`, recovery after the
//! window, and a signature-check budget spent by forged tokens from one source while another
//! source's fresh valid tokens pass; the counts are shared by both workers.

use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{fixtures, support};

use edge_auth::jwt::algorithm::Algorithm;
use fixtures::*;
use serde_json::{json, Value};
use support::{Envoy, Options, Response};

/// Envoy with two workers: connections (one per request here) spread over both, so a limit
/// that worked per worker would let some requests through.
fn start(config: &Value) -> Envoy {
    Envoy::start_with(&config.to_string(), &Options::default().workers(2))
}

fn assert_too_many(response: &Response, max_retry_after: u64) {
    assert_eq!(response.status, 429, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "too_many_requests");
    assert!(body["error_description"].is_string());
    let retry_after: u64 = response.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=max_retry_after).contains(&retry_after),
        "{retry_after}"
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("www-authenticate"), None);
}

/// Sends `count` requests at once, each on its own connection, so both workers take some.
fn at_once(count: usize, send: impl Fn(usize) -> Response + Sync) -> Vec<Response> {
    std::thread::scope(|scope| {
        let send = &send;
        let handles: Vec<_> = (0..count).map(|n| scope.spawn(move || send(n))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Connections each worker has accepted (Envoy's per-worker listener statistics).
fn connections_per_worker(envoy: &Envoy) -> Vec<u64> {
    let stats = envoy.admin("/stats?filter=worker_.*downstream_cx_total");
    stats
        .body
        .lines()
        .filter(|line| line.starts_with("listener."))
        .filter_map(|line| line.rsplit_once(": ")?.1.trim().parse().ok())
        .collect()
}

/// Both workers served requests: the limits were shared, not counted per worker.
fn assert_both_workers_served(envoy: &Envoy) {
    let per_worker = connections_per_worker(envoy);
    assert_eq!(per_worker.len(), 2, "{per_worker:?}");
    assert!(
        per_worker.iter().all(|count| *count > 0),
        "every worker must take connections for this test to mean anything: {per_worker:?}"
    );
}

fn assert_no_wasm_failure(envoy: &Envoy) {
    let log = envoy.log();
    for sign in [
        "panicked",
        "Function: proxy_on",
        "wasm trap",
        "VM restarted",
    ] {
        assert!(!log.contains(sign), "Envoy's log shows {sign:?}:\n{log}");
    }
}

#[test]
fn lockout_after_max_failures_from_one_source_only_and_recovery_after_the_window() {
    const MAX_FAILURES: usize = 6;
    const WINDOW: u64 = 3;
    let mut config = access_config();
    config["trusted_hops"] = json!(1);
    config["abuse"] = json!({"lockout": {
        "max_failures": MAX_FAILURES, "window_seconds": WINDOW
    }});
    let envoy = start(&config);
    let secret = secret(KEY_CLIENT);
    let attempt = |source: &str, secret: &str| {
        envoy.get(
            "/devices",
            &[
                ("clientId", KEY_CLIENT),
                ("clientSecret", secret),
                ("x-forwarded-for", source),
            ],
        )
    };
    // The failures arrive at once and spread over both workers: neither sees all of them.
    let failures = at_once(MAX_FAILURES, |_| attempt("203.0.113.5", "guess"));
    assert!(failures.iter().all(|r| r.status == 401));
    let locked_at = Instant::now();
    // Every request now, on either worker, is refused without comparing the secret.
    for response in at_once(12, |_| attempt("203.0.113.5", &secret)) {
        assert_too_many(&response, WINDOW);
    }
    for response in at_once(12, |_| attempt("203.0.113.6", &secret)) {
        assert_eq!(
            response.status, 200,
            "the owner's own source is never affected"
        );
    }
    assert_both_workers_served(&envoy);
    let basic = basic(KEY_CLIENT, &secret);
    let over_basic = envoy.get(
        "/devices",
        &[
            ("authorization", &basic),
            ("x-forwarded-for", "203.0.113.5"),
        ],
    );
    assert_too_many(&over_basic, WINDOW);

    sleep(Duration::from_secs(WINDOW + 1).saturating_sub(locked_at.elapsed()));
    for _ in 0..4 {
        assert_eq!(
            attempt("203.0.113.5", &secret).status,
            200,
            "the lock ran out with the window"
        );
    }
    assert_no_wasm_failure(&envoy);
}

/// An ES256 token with valid claims and another token's signature.
fn forged(t: u64, n: usize) -> String {
    let good = issuer().token(Algorithm::ES256, t, json!({"sub": format!("forged-{n}")}));
    let other = issuer().token(Algorithm::ES256, t, json!({"sub": "someone-else"}));
    let (input, _) = good.rsplit_once('.').unwrap();
    let (_, signature) = other.rsplit_once('.').unwrap();
    format!("{input}.{signature}")
}

#[test]
fn forged_tokens_spend_one_sources_budget_while_another_sources_fresh_tokens_pass() {
    const BURST: usize = 5;
    let mut config = issuer().config();
    config["trusted_hops"] = json!(1);
    // One check per 20 s after the burst: the flood below gets nothing back while it runs.
    config["abuse"] = json!({"signature_budget": {"rate": 0.05, "burst": BURST}});
    let envoy = start(&config);
    let t = now();
    let call = |source: &str, token: &str| {
        envoy.get(
            "/devices",
            &[
                ("authorization", &format!("Bearer {token}")),
                ("x-forwarded-for", source),
            ],
        )
    };
    let forged: Vec<String> = (0..40).map(|n| forged(t, n)).collect();
    let statuses: Vec<u16> = at_once(40, |n| call("203.0.113.5", &forged[n]))
        .iter()
        .map(|response| response.status)
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (checked, refused),
        (BURST, 40 - BURST),
        "one budget for both workers: {statuses:?}"
    );
    assert_too_many(&call("203.0.113.5", &self::forged(t, 99)), 20);

    let fresh: Vec<String> = (0..BURST)
        .map(|n| issuer().token(Algorithm::ES256, t, json!({"sub": format!("fresh-{n}")})))
        .collect();
    for response in at_once(BURST, |n| call("198.51.100.7", &fresh[n])) {
        assert_eq!(response.status, 200, "{}", response.body);
    }
    assert_both_workers_served(&envoy);
    assert_no_wasm_failure(&envoy);
}
