//! A fleet, not one Envoy (issue 20, docs/fleet.md): two real Envoys with one configuration
//! (`envoy/envoy-fleet.yaml`) share one rate limit service (`tests/servers/ratelimit`) and one
//! real Redis; a real Prometheus scrapes both; promtool checks and unit-tests the alerting rules
//! (`deploy/prometheus/edge-auth-alerts.yaml`).
//!
//! Needs what `make test` provides (`make fleet-tools`: redis-server, prometheus, promtool, the
//! built service). A missing one fails the test loudly; nothing is skipped.

use crate::dpop_client::DpopClient;
use crate::{fixtures, support};

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use edge_auth::jwt::algorithm::Algorithm;
use fixtures::{access_config, secret, KEY_CLIENT, LOOPBACK_CLIENT};
use serde_json::json;
use support::fleet::{fleet_options, Prometheus, RateLimitServer, Redis};
use support::{Envoy, Response};

/// The quota per client id in envoy/ratelimit-limits.yaml (per minute).
const QUOTA: usize = 5;
/// envoy/envoy-fleet.yaml's rate limit `timeout` (0.25 s), plus what a loaded two-core test
/// machine (the whole suite in parallel) adds to a request through Envoy.
const WAIT_BOUND: Duration = Duration::from_millis(250 + 750);

fn start_fleet(ratelimit_port: u16) -> (Envoy, Envoy) {
    let config = access_config().to_string();
    let options = fleet_options(ratelimit_port);
    (
        Envoy::start_with(&config, &options),
        Envoy::start_with(&config, &options),
    )
}

/// A request of API key client `id` (with its right secret) and any extra headers.
fn as_client(envoy: &Envoy, id: &str, extra: &[(&str, &str)]) -> Response {
    let secret = secret(id);
    let mut headers = vec![("clientId", id), ("clientSecret", secret.as_str())];
    headers.extend_from_slice(extra);
    envoy.get("/devices", &headers)
}

/// Fixed one-minute windows (envoyproxy/ratelimit's): a quota test must not straddle a minute
/// boundary, so wait for the next minute when fewer than 15 seconds of this one are left.
fn away_from_a_window_boundary() {
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second >= 45 {
        sleep(Duration::from_secs(60 - second) + Duration::from_millis(200));
    }
}

fn assert_allowed(response: &Response, id: &str, what: &str) {
    assert_eq!(response.status, 200, "{what}: {response:?}");
    let upstream = response.upstream();
    assert_eq!(upstream.header("x-auth-client"), Some(id), "{what}");
    assert_eq!(upstream.header_count("x-auth-client"), 1, "{what}");
}

fn assert_over_quota(response: &Response, what: &str) {
    assert_eq!(response.status, 429, "{what}: {response:?}");
    assert_eq!(
        response.header("x-envoy-ratelimited"),
        Some("true"),
        "{what}: Envoy's rate limit filter answered"
    );
}

/// A counter of Envoy's `/stats` (0 if it does not exist yet).
fn stat(envoy: &Envoy, name: &str) -> u64 {
    let body = envoy.admin(&format!("/stats?filter=^{name}$")).body;
    body.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[test]
fn a_client_quota_holds_across_two_envoys_and_a_spoofed_client_header_does_not_escape_it() {
    let redis = Redis::start();
    let ratelimit = RateLimitServer::start(&redis);
    let (a, b) = start_fleet(ratelimit.port());
    away_from_a_window_boundary();

    // The quota's 5 requests, alternating between the two Envoys; some with a spoofed header.
    for i in 0..QUOTA {
        let envoy = if i % 2 == 0 { &a } else { &b };
        let spoof: &[(&str, &str)] = if i == 1 {
            &[("x-auth-client", "someone-else")]
        } else {
            &[]
        };
        let response = as_client(envoy, KEY_CLIENT, spoof);
        assert_allowed(&response, KEY_CLIENT, &format!("request {}", i + 1));
        assert_eq!(
            response.header("x-ratelimit-remaining"),
            Some((QUOTA - 1 - i).to_string().as_str()),
            "request {}: the remaining quota counts both Envoys' requests",
            i + 1
        );
    }
    // The 6th, whichever Envoy it reaches, is over the quota; so is one claiming another id.
    assert_over_quota(&as_client(&b, KEY_CLIENT, &[]), "6th request, at B");
    assert_over_quota(&as_client(&a, KEY_CLIENT, &[]), "7th request, at A");
    assert_over_quota(
        &as_client(&a, KEY_CLIENT, &[("x-auth-client", "a-fresh-id")]),
        "over quota, with its own x-auth-client header",
    );
    assert_over_quota(
        &as_client(&b, KEY_CLIENT, &[("x-auth-client", LOOPBACK_CLIENT)]),
        "over quota, naming another client in x-auth-client",
    );
    // One counter in Redis for the client, whatever header it sent.
    assert_eq!(redis.command("DBSIZE"), ":1", "{}", ratelimit.output());

    // Another client has its own quota, at both Envoys.
    for envoy in [&a, &b] {
        assert_allowed(
            &as_client(envoy, LOOPBACK_CLIENT, &[]),
            LOOPBACK_CLIENT,
            "another client",
        );
    }
    // A public route carries no identity and is not counted; a refused request never reaches
    // the quota (edge-auth answers it first).
    assert_eq!(a.get("/public/x", &[]).status, 200);
    let wrong = a.get(
        "/devices",
        &[("clientId", KEY_CLIENT), ("clientSecret", "wrong-secret")],
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    // A asked the service for requests 1, 3, 5 and the other client's: the public and the
    // refused request asked nothing.
    assert_eq!(stat(&a, "cluster.echo.ratelimit.ok"), 4);
    assert_eq!(stat(&a, "cluster.echo.ratelimit.over_limit"), 2);
    assert_eq!(stat(&b, "cluster.echo.ratelimit.over_limit"), 2);
    assert_eq!(stat(&a, "cluster.echo.ratelimit.error"), 0);
}

/// A listener that accepts connections and never answers: a rate limit service that hangs.
struct Hanging {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Hanging {
    fn start() -> Hanging {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Ok((stream, _)) = listener.accept() {
                    held.push(stream);
                }
                sleep(Duration::from_millis(5));
            }
        });
        Hanging { port, stop }
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Times one request.
fn timed(request: impl FnOnce() -> Response) -> (Response, Duration) {
    let started = Instant::now();
    let response = request();
    (response, started.elapsed())
}

#[test]
fn rate_limit_service_or_redis_down_lets_verified_requests_through_without_waiting_and_quotas_come_back(
) {
    let mut redis = Redis::start();
    let mut ratelimit = RateLimitServer::start(&redis);
    let (a, b) = start_fleet(ratelimit.port());
    away_from_a_window_boundary();
    for i in 0..QUOTA {
        let envoy = if i % 2 == 0 { &a } else { &b };
        assert_allowed(
            &as_client(envoy, KEY_CLIENT, &[]),
            KEY_CLIENT,
            "within quota",
        );
    }
    assert_over_quota(&as_client(&a, KEY_CLIENT, &[]), "quota spent");

    // The service killed: failure_mode_deny false lets authenticated requests through, at once
    // (connection refused); unauthenticated ones are still refused by edge-auth.
    ratelimit.stop();
    for envoy in [&a, &b] {
        let (response, took) = timed(|| as_client(envoy, KEY_CLIENT, &[]));
        assert_allowed(&response, KEY_CLIENT, "service down");
        eprintln!("service down: answered in {took:?}");
        assert!(took < WAIT_BOUND, "service down: the request took {took:?}");
        assert_eq!(
            envoy.get("/devices", &[]).status,
            401,
            "edge-auth still decides"
        );
    }
    assert!(stat(&a, "cluster.echo.ratelimit.error") >= 1);
    assert!(stat(&a, "cluster.echo.ratelimit.failure_mode_allowed") >= 1);
    // What the alerting rules read (deploy/prometheus/edge-auth-alerts.yaml).
    let exported = a.prometheus();
    for series in [
        "envoy_cluster_ratelimit_error{envoy_cluster_name=\"echo\"}",
        "envoy_cluster_ratelimit_failure_mode_allowed{envoy_cluster_name=\"echo\"}",
        "envoy_cluster_ratelimit_over_limit{envoy_cluster_name=\"echo\"}",
    ] {
        assert!(exported.contains(series), "{series} in:\n{exported}");
    }

    // The service back: the count lives in Redis, so the spent quota is still spent.
    ratelimit.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = as_client(&b, KEY_CLIENT, &[]);
        if response.status == 429 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted service is not asked again: {response:?}"
        );
        sleep(Duration::from_millis(100));
    }

    // Redis down: the service answers UNAVAILABLE, Envoy lets requests through, at once.
    redis.stop();
    for envoy in [&a, &b] {
        let (response, took) = timed(|| as_client(envoy, KEY_CLIENT, &[]));
        assert_allowed(&response, KEY_CLIENT, "redis down");
        eprintln!("redis down: answered in {took:?}");
        assert!(took < WAIT_BOUND, "redis down: the request took {took:?}");
    }
    assert!(
        ratelimit.output().contains("listening on"),
        "{}",
        ratelimit.output()
    );

    // Redis back (empty): quotas count again, without restarting Envoy or the service.
    redis.restart();
    away_from_a_window_boundary();
    for i in 0..QUOTA {
        let envoy = if i % 2 == 0 { &b } else { &a };
        assert_allowed(
            &as_client(envoy, KEY_CLIENT, &[]),
            KEY_CLIENT,
            &format!("after the redis restart, request {}", i + 1),
        );
    }
    assert_over_quota(&as_client(&a, KEY_CLIENT, &[]), "after the redis restart");
    assert_eq!(redis.command("DBSIZE"), ":1");
}

#[test]
fn a_hanging_rate_limit_service_costs_at_most_the_timeout_open_or_closed() {
    let hanging = Hanging::start();
    let config = access_config().to_string();
    let open = Envoy::start_with(&config, &fleet_options(hanging.port));
    let closed = Envoy::start_with(
        &config,
        &fleet_options(hanging.port).replace("failure_mode_deny: false", "failure_mode_deny: true"),
    );
    // failure_mode_deny false (the shipped choice): through, after the timeout.
    for _ in 0..2 {
        let (response, took) = timed(|| as_client(&open, KEY_CLIENT, &[]));
        assert_allowed(
            &response,
            KEY_CLIENT,
            "hanging service, failure_mode_deny false",
        );
        eprintln!("hanging service, failure_mode_deny false: answered in {took:?}");
        assert!(
            took >= Duration::from_millis(200) && took < WAIT_BOUND,
            "waited {took:?}: the 0.25 s timeout decides"
        );
    }
    assert!(stat(&open, "cluster.echo.ratelimit.failure_mode_allowed") >= 2);
    // failure_mode_deny true: refused (500), after the same timeout; never upstream.
    let (response, took) = timed(|| as_client(&closed, KEY_CLIENT, &[]));
    assert_eq!(response.status, 500, "{response:?}");
    eprintln!("hanging service, failure_mode_deny true: answered in {took:?}");
    assert!(
        took >= Duration::from_millis(200) && took < WAIT_BOUND,
        "waited {took:?}"
    );
    assert!(stat(&closed, "cluster.echo.ratelimit.error") >= 1);
}

/// Sleeps until `fraction` of the current (`next`: the next) wall-clock second.
fn at_fraction_of_second(fraction: f64, next: bool) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = now.as_secs_f64().fract();
    let mut wait = fraction - into;
    if next || wait < 0.0 {
        wait += 1.0;
    }
    sleep(Duration::from_secs_f64(wait));
}

#[test]
fn fixed_windows_reset_at_the_clock_boundary_and_first_hit_windows_do_not() {
    // One request per second per client, from a JSON limits file (the service reads both).
    let limits = std::env::temp_dir().join(format!(
        "edge-auth-fleet-limits-{}.json",
        std::process::id()
    ));
    std::fs::write(
        &limits,
        r#"{"domain": "edge-auth", "descriptors": [
             {"key": "client_id", "rate_limit": {"unit": "second", "requests_per_unit": 1}}]}"#,
    )
    .unwrap();
    let redis = Redis::start();
    let fixed = RateLimitServer::start_with(&redis, &limits, &[]);
    let first_hit = RateLimitServer::start_with(&redis, &limits, &["--window", "first-hit"]);
    let _ = std::fs::remove_file(&limits);
    let config = access_config().to_string();
    let fixed_envoy = Envoy::start_with(&config, &fleet_options(fixed.port()));
    let first_hit_envoy = Envoy::start_with(&config, &fleet_options(first_hit.port()));

    // The first hits late in a second, the second hits early in the next one. The timing is
    // measured: a round whose requests were delayed across the wrong boundary (a loaded
    // machine) is discarded and, once every counter has expired, tried again.
    let mut rounds = Vec::new();
    loop {
        at_fraction_of_second(0.7, false);
        let t0 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let fixed_first = as_client(&fixed_envoy, KEY_CLIENT, &[]);
        let first_hit_first = as_client(&first_hit_envoy, LOOPBACK_CLIENT, &[]);
        at_fraction_of_second(0.05, true);
        let t2 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let fixed_second = as_client(&fixed_envoy, KEY_CLIENT, &[]);
        let first_hit_second = as_client(&first_hit_envoy, LOOPBACK_CLIENT, &[]);
        let t3 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let clean = t2.as_secs() == t0.as_secs() + 1
            && t3.as_secs() == t2.as_secs()
            && t3 - t0 < Duration::from_millis(900);
        rounds.push(format!("{t0:?} {t2:?} {t3:?}"));
        if !clean {
            assert!(rounds.len() < 5, "no round without delays: {rounds:?}");
            sleep(Duration::from_millis(2100));
            continue;
        }
        assert_allowed(&fixed_first, KEY_CLIENT, "fixed, 1st");
        assert_allowed(&first_hit_first, LOOPBACK_CLIENT, "first-hit, 1st");
        // Fixed: a new window, so allowed again within a second (the boundary a replay check
        // must not have).
        assert_allowed(&fixed_second, KEY_CLIENT, "fixed, just after the boundary");
        // From the first hit: still the same window.
        assert_over_quota(&first_hit_second, "first-hit, just after the boundary");
        break;
    }
    // A window after the first hit, the counter is gone: allowed again.
    sleep(Duration::from_millis(1100));
    assert_allowed(
        &as_client(&first_hit_envoy, LOOPBACK_CLIENT, &[]),
        LOOPBACK_CLIENT,
        "first-hit, a window later",
    );
}

#[test]
fn prometheus_sums_what_both_envoys_counted() {
    let redis = Redis::start();
    let ratelimit = RateLimitServer::start(&redis);
    let (a, b) = start_fleet(ratelimit.port());
    let prometheus = Prometheus::start(&[a.admin_port(), b.admin_port()]);
    let wrong = |envoy: &Envoy| {
        envoy.get(
            "/devices",
            &[
                ("clientId", LOOPBACK_CLIENT),
                ("clientSecret", "not-the-secret"),
            ],
        )
    };
    for _ in 0..3 {
        assert_eq!(wrong(&a).status, 401);
    }
    for _ in 0..4 {
        assert_eq!(wrong(&b).status, 401);
    }
    assert_allowed(&as_client(&a, KEY_CLIENT, &[]), KEY_CLIENT, "allowed at A");
    assert_allowed(&as_client(&b, KEY_CLIENT, &[]), KEY_CLIENT, "allowed at B");

    let limit = Duration::from_secs(20);
    let denied = "sum(edge_auth_denied_total{reason=\"invalid_client\"})";
    let value = prometheus.wait_for(denied, 7.0, limit);
    assert_eq!(
        value,
        Some(7.0),
        "{denied}; targets: {}",
        prometheus.targets()
    );
    let instances = "count(edge_auth_denied_total{reason=\"invalid_client\"})";
    assert_eq!(
        prometheus.query_scalar(instances),
        Some(2.0),
        "one series per Envoy"
    );
    let allowed = "sum(edge_auth_requests_total{decision=\"allowed\"})";
    assert_eq!(
        prometheus.wait_for(allowed, 2.0, limit),
        Some(2.0),
        "{allowed}"
    );
    let ok = "sum(envoy_cluster_ratelimit_ok{envoy_cluster_name=\"echo\"})";
    assert_eq!(prometheus.wait_for(ok, 2.0, limit), Some(2.0), "{ok}");
}

#[test]
fn alerting_rules_pass_promtool_check_and_their_unit_tests() {
    let root = support::repo_root();
    let promtool = |args: &[&str]| {
        let output = Command::new("promtool")
            .args(args)
            .current_dir(&root)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run promtool (`make fleet-tools`, part of `make test`, installs \
                     Debian's prometheus package): {e}"
                )
            });
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "promtool {args:?}:\n{text}");
        text
    };
    let checked = promtool(&["check", "rules", "deploy/prometheus/edge-auth-alerts.yaml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&[
        "test",
        "rules",
        "tests/prometheus/edge-auth-alerts.test.yaml",
    ]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

// ---------------------------------------------------------------------------------------------
// edge-auth's own memories across the fleet (the `fleet` section): DPoP proofs and failed
// secrets, through the same rate limit service and Redis.

/// The URL the harness's requests reach (`Host: localhost`, plain HTTP).
const DPOP_URL: &str = "http://localhost/devices/7";
/// `abuse.lockout.max_failures` of envoy/envoy-fleet.yaml (the limits file allows one less).
const MAX_FAILURES: usize = 5;

/// The test issuer with DPoP on and proofs single use across the fleet.
fn dpop_fleet_config(on_unavailable: &str) -> String {
    let mut config = fixtures::issuer().config();
    config["dpop"] = json!({"algorithms": ["ES256"], "max_age_seconds": 60});
    config["fleet"] = json!({"cluster": "ratelimit", "domain": "edge-auth", "timeout_ms": 100,
                             "dpop_replay": {"on_unavailable": on_unavailable}});
    config.to_string()
}

/// A token bound to `client`'s key.
fn bound(client: &DpopClient) -> String {
    fixtures::issuer().token(
        Algorithm::ES256,
        fixtures::now(),
        json!({"cnf": {"jkt": client.jkt()}}),
    )
}

fn dpop_call(envoy: &Envoy, token: &str, proof: &str) -> Response {
    envoy.get(
        "/devices/7?page=1",
        &[("authorization", &format!("DPoP {token}")), ("dpop", proof)],
    )
}

fn assert_replayed(response: &Response, what: &str) {
    assert_eq!(response.status, 401, "{what}: {response:?}");
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("invalid_dpop_proof"),
        "{what}: {challenge}"
    );
    assert!(
        response.body.contains("already used"),
        "{what}: {}",
        response.body
    );
}

#[test]
fn a_dpop_proof_used_at_one_envoy_is_refused_at_the_other_and_raced_over_both_passes_once() {
    let redis = Redis::start();
    let ratelimit = RateLimitServer::start(&redis);
    let options = fleet_options(ratelimit.port());
    let config = dpop_fleet_config("fail_closed");
    let (a, b) = (
        Envoy::start_with(&config, &options),
        Envoy::start_with(&config, &options),
    );
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound(&client);
    for (first, second, what) in [(&a, &b, "A then B"), (&b, &a, "B then A")] {
        let proof = client.proof("GET", DPOP_URL, Some(&token), fixtures::now());
        let used = dpop_call(first, &token, &proof);
        assert_eq!(used.status, 200, "{what}: {used:?}");
        assert_eq!(used.upstream().header("dpop"), None);
        assert_replayed(&dpop_call(second, &token, &proof), what);
        assert_replayed(&dpop_call(first, &token, &proof), what);
    }
    // One proof raced over 10 connections to each Envoy: exactly one use gets through.
    let proof = client.proof("GET", DPOP_URL, Some(&token), fixtures::now());
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..20)
            .map(|i| {
                let (envoy, token, proof) = (if i % 2 == 0 { &a } else { &b }, &token, &proof);
                scope.spawn(move || dpop_call(envoy, token, proof).status)
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
    // Counted per use and result; each Envoy asked the fleet once per proof new to it.
    let ok = "wasmcustom.edge_auth_fleet_calls_total.use.dpop_replay.result.ok";
    let over = "wasmcustom.edge_auth_fleet_calls_total.use.dpop_replay.result.over_limit";
    assert_eq!(stat(&a, ok) + stat(&b, ok), 3);
    assert!(stat(&a, over) + stat(&b, over) >= 2);
    let exported = a.prometheus();
    assert!(
        exported.contains("edge_auth_fleet_calls_total{result=\"ok\",use=\"dpop_replay\"}"),
        "labelled for Prometheus: {}",
        exported
            .lines()
            .filter(|l| l.contains("fleet"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A wrong secret for the key client, at `envoy`: its status.
fn wrong_secret(envoy: &Envoy) -> u16 {
    envoy
        .get(
            "/devices",
            &[("clientId", KEY_CLIENT), ("clientSecret", "wrong-secret")],
        )
        .status
}

#[test]
fn failed_secrets_split_over_two_envoys_lock_the_source_at_both_after_max_failures_plus_one() {
    let redis = Redis::start();
    let ratelimit = RateLimitServer::start(&redis);
    // The shipped fleet member's own configuration (envoy/envoy-fleet.yaml, abuse and fleet).
    let options = fleet_options(ratelimit.port());
    let shipped = support::embedded_config(support::fleet::FLEET_TEMPLATE);
    let (a, b) = (
        Envoy::start_with(&shipped, &options),
        Envoy::start_with(&shipped, &options),
    );
    let prometheus = Prometheus::start(&[a.admin_port(), b.admin_port()]);
    away_from_a_window_boundary();
    // Wrong secrets alternate between the Envoys until both refuse the source outright.
    let mut compared = 0;
    let mut refused = 0;
    let mut locked = [false, false];
    for attempt in 0..4 * MAX_FAILURES {
        let at = attempt % 2;
        match wrong_secret(if at == 0 { &a } else { &b }) {
            401 => compared += 1,
            429 => {
                locked[at] = true;
                refused += 1;
            }
            other => panic!("attempt {attempt}: {other}"),
        }
        if locked == [true, true] {
            break;
        }
    }
    assert_eq!(locked, [true, true], "both Envoys lock the source");
    assert_eq!(
        compared,
        MAX_FAILURES + 1,
        "a fleet of 2 compares at most max_failures + 1 wrong secrets"
    );
    // Locked at both, even with the right secret, and the good secret made no call.
    for envoy in [&a, &b] {
        assert_eq!(as_client(envoy, KEY_CLIENT, &[]).status, 429);
        refused += 1;
    }
    let over = "wasmcustom.edge_auth_fleet_calls_total.use.lockout.result.over_limit";
    assert_eq!(stat(&a, over) + stat(&b, over), 2, "one per Envoy");
    // The fleet's lockout total, as an operator reads it: Prometheus sums both Envoys.
    let locked_out = "sum(edge_auth_denied_total{reason=\"locked_out\"})";
    assert_eq!(
        prometheus.wait_for(locked_out, f64::from(refused), Duration::from_secs(20)),
        Some(f64::from(refused)),
        "{locked_out}; targets: {}",
        prometheus.targets()
    );
    // Another source is not locked: the shared service counts per source.
    let elsewhere = as_client(&a, LOOPBACK_CLIENT, &[("x-forwarded-for", "198.51.100.9")]);
    assert_ne!(elsewhere.status, 429, "{elsewhere:?}");
}

#[test]
fn without_the_rate_limit_service_dpop_fails_closed_or_local_in_time_and_recovers_with_redis() {
    let mut redis = Redis::start();
    let mut ratelimit = RateLimitServer::start(&redis);
    let options = fleet_options(ratelimit.port());
    let closed = Envoy::start_with(&dpop_fleet_config("fail_closed"), &options);
    let local = Envoy::start_with(&dpop_fleet_config("local"), &options);
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound(&client);
    let fresh = || client.proof("GET", DPOP_URL, Some(&token), fixtures::now());
    let check = |envoy: &Envoy, status: u16, what: &str| {
        let proof = fresh();
        let (response, took) = timed(|| dpop_call(envoy, &token, &proof));
        eprintln!("{what}: {} in {took:?}", response.status);
        assert_eq!(response.status, status, "{what}: {response:?}");
        assert!(took < WAIT_BOUND, "{what}: the request took {took:?}");
    };
    check(&closed, 200, "service up");
    // The service killed, Redis down, the service hanging: 503 or this Envoy's own cache.
    ratelimit.stop();
    check(&closed, 503, "service down, fail_closed");
    check(&local, 200, "service down, local");
    ratelimit.restart();
    check(&closed, 200, "service back");
    redis.stop();
    check(&closed, 503, "redis down, fail_closed");
    check(&local, 200, "redis down, local");
    // Redis back (empty): the fleet checks proofs again, without restarting anything else.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let proof = fresh();
        let response = dpop_call(&closed, &token, &proof);
        if response.status == 200 {
            assert_replayed(
                &dpop_call(&local, &token, &proof),
                "after the redis restart",
            );
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {response:?}");
        sleep(Duration::from_millis(200));
    }
    let unavailable = "wasmcustom.edge_auth_fleet_calls_total.use.dpop_replay.result.unavailable";
    assert!(stat(&closed, unavailable) >= 2);
    // One warning per outage, not one per request.
    let log = closed.log();
    assert_eq!(
        log.matches("gave no answer for dpop_replay").count(),
        2,
        "one per outage (service, then Redis): {:?}",
        log.lines()
            .filter(|l| l.contains("rate limit service"))
            .collect::<Vec<_>>()
    );
    assert!(log.contains("answers again"), "{log}");
    // A service that accepts and never answers costs at most fleet.timeout_ms.
    let hanging = Hanging::start();
    let stuck = Envoy::start_with(
        &dpop_fleet_config("fail_closed"),
        &fleet_options(hanging.port),
    );
    check(&stuck, 503, "hanging service, fail_closed");
    // A cluster Envoy does not have: no call can be made, and the VM lives on.
    let config = dpop_fleet_config("fail_closed").replace("\"ratelimit\"", "\"no-such-cluster\"");
    assert!(config.contains("no-such-cluster"));
    let missing = Envoy::start_with(&config, &fleet_options(ratelimit.port()));
    check(&missing, 503, "missing cluster, fail_closed");
    check(&missing, 503, "missing cluster, again");
    missing.wait_for_log("cannot call cluster no-such-cluster");
}
