//! End-to-end: providers whose keys come from the issuer (`remote_jwks`, `discovery`), and
//! their revocation lists (`revocation`), inside a real Envoy, with the issuer served by the test itself (`tests/servers/fake_issuer.py`) so it
//! can rotate keys, fail, slow down or vanish, and count what Envoy asked it.

use crate::operations::samples_when;
use crate::{fixtures, support};

use std::thread::sleep;
use std::time::{Duration, Instant};

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::mint::SigningKey;
use fixtures::{issuer, now};
use serde_json::{json, Value};
use support::issuer::FakeIssuer;
use support::{Envoy, Options, Response};

const ISS: &str = "http://idp.test/realms/main";

/// An issuer's signing key and its `kid`.
struct Key {
    kid: String,
    signing: SigningKey,
}

fn key(kid: &str) -> Key {
    Key {
        kid: kid.to_string(),
        signing: SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid(kid),
    }
}

fn jwks(keys: &[&Key]) -> Value {
    json!({"keys": keys.iter().map(|k| k.signing.public_jwk(&k.kid)).collect::<Vec<_>>()})
}

/// A good token from `key`, unique per `n` (so the verified-token cache never answers for it).
fn token(key: &Key, n: u64) -> String {
    let claims = issuer().claims(now(), json!({"iss": ISS, "jti": format!("t{n}")}));
    key.signing.sign(&claims).unwrap()
}

fn get(envoy: &Envoy, token: &str) -> Response {
    envoy.get(
        "/devices/1",
        &[("authorization", &format!("Bearer {token}"))],
    )
}

/// The test configuration, with provider 0's keys fetched as `keys` says.
fn config(keys: Value) -> String {
    let mut config = issuer().config();
    let provider = config["providers"][0].as_object_mut().unwrap();
    provider.remove("jwks");
    provider.insert("issuer".into(), json!(ISS));
    provider.insert("algorithms".into(), json!(["ES256"]));
    for (name, value) in keys.as_object().unwrap() {
        provider.insert(name.clone(), value.clone());
    }
    config.to_string()
}

fn remote(settings: Value) -> Value {
    let mut remote = json!({"cluster": "idp", "uri": "http://idp.test/jwks"});
    for (name, value) in settings.as_object().unwrap() {
        remote[name] = value.clone();
    }
    json!({ "remote_jwks": remote })
}

fn start(issuer: &FakeIssuer, keys: Value, concurrency: u32) -> Envoy {
    Envoy::start_with(
        &config(keys),
        &Options::default()
            .cluster("idp", issuer.port())
            .workers(concurrency),
    )
}

fn assert_status(response: &Response, status: u16, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.body);
}

/// Polls `check` every 100 ms until it holds, for at most `limit`.
fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        sleep(Duration::from_millis(100));
    }
}

#[test]
fn keys_are_fetched_at_start_and_rotation_follows_the_issuer() {
    let (k1, k2) = (key("k1"), key("k2"));
    let mut idp = FakeIssuer::start();
    idp.set_jwks(&jwks(&[&k1]));
    let envoy = start(
        &idp,
        remote(json!({"refresh_seconds": 2, "unknown_kid_refetch_seconds": 60})),
        1,
    );
    let old = token(&k1, 1);
    assert_status(&get(&envoy, &old), 200, "key from the first fetch");
    assert!(idp.count("/jwks") >= 1);

    // The issuer adds a key: a token naming it is accepted at once (unknown-kid refetch).
    idp.set_jwks(&jwks(&[&k1, &k2]));
    assert_status(&get(&envoy, &token(&k2, 2)), 200, "newly added key");

    // The issuer removes k1: after the next refresh, even the cached token stops working.
    idp.set_jwks(&jwks(&[&k2]));
    eventually(Duration::from_secs(8), "removed key refused", || {
        get(&envoy, &old).status == 401
    });
    let refused = get(&envoy, &token(&k1, 3));
    assert_status(&refused, 401, "token of the removed key");
    assert!(
        refused.body.contains("signing key is unknown"),
        "{}",
        refused.body
    );
    assert_status(&get(&envoy, &token(&k2, 4)), 200, "remaining key");
}

#[test]
fn unknown_kid_refetch_happens_once_per_window() {
    let k1 = key("k1");
    let mut idp = FakeIssuer::start();
    idp.set_jwks(&jwks(&[&k1]));
    let envoy = start(
        &idp,
        remote(json!({"refresh_seconds": 300, "unknown_kid_refetch_seconds": 60})),
        1,
    );
    assert_status(&get(&envoy, &token(&k1, 1)), 200, "known key");
    let before = idp.count("/jwks");
    for n in 0..20 {
        let forged = token(&key(&format!("made-up-{n}")), n);
        assert_status(&get(&envoy, &forged), 401, "made-up kid");
    }
    assert_eq!(
        idp.count("/jwks"),
        before + 1,
        "20 made-up kids cause exactly one refetch in the window"
    );
}

#[test]
fn issuer_outage_keeps_old_keys_and_its_return_is_picked_up() {
    let (k1, k2) = (key("k1"), key("k2"));
    let mut idp = FakeIssuer::start();
    idp.set_jwks(&jwks(&[&k1]));
    let envoy = start(
        &idp,
        remote(json!({"refresh_seconds": 1, "timeout_ms": 500})),
        1,
    );
    assert_status(&get(&envoy, &token(&k1, 1)), 200, "before the outage");

    idp.stop();
    // Envoy answers a refused connection with its own 503.
    envoy.wait_for_log_within(
        "provider test-idp: fetching keys from cluster idp failed: JWKS: HTTP status 503",
        Duration::from_secs(10),
    );
    assert_status(&get(&envoy, &token(&k1, 2)), 200, "during the outage");

    // Back, with a rotated set: picked up by the retries.
    idp.set_jwks(&jwks(&[&k2]));
    idp.restart();
    eventually(
        Duration::from_secs(10),
        "the issuer's new key accepted",
        || get(&envoy, &token(&k2, 3)).status == 200,
    );
    assert_status(&get(&envoy, &token(&k1, 4)), 401, "rotated-out key");
}

#[test]
fn garbage_or_failing_jwks_leaves_the_last_good_keys() {
    let k1 = key("k1");
    let mut idp = FakeIssuer::start();
    idp.set_jwks(&jwks(&[&k1]));
    let envoy = start(&idp, remote(json!({"refresh_seconds": 1})), 1);
    assert_status(&get(&envoy, &token(&k1, 1)), 200, "good keys");

    idp.set_mode("/jwks", "garbage");
    envoy.wait_for_log_within("JWKS body is not JSON", Duration::from_secs(10));
    assert_status(&get(&envoy, &token(&k1, 2)), 200, "after a garbage body");

    idp.set_mode("/jwks", "status 503");
    envoy.wait_for_log_within("JWKS: HTTP status 503", Duration::from_secs(10));
    let log = envoy.wait_for_log("keeping the last good keys (1)");
    assert!(log.contains("retry 2 in"), "retries are counted:\n{log}");
    assert_status(&get(&envoy, &token(&k1, 3)), 200, "after a 503");

    // A set where one key is unusable: that key is skipped, the others installed.
    idp.set_mode("/jwks", "ok");
    let mut set = jwks(&[&k1]);
    set["keys"].as_array_mut().unwrap().insert(
        0,
        json!({"kty": "EC", "kid": "odd", "crv": "P-521", "x": "AA", "y": "AA"}),
    );
    idp.set_jwks(&set);
    envoy.wait_for_log_within(
        "provider test-idp: skipped a fetched key: keys[0].crv",
        Duration::from_secs(10),
    );
    assert_status(
        &get(&envoy, &token(&k1, 4)),
        200,
        "good key next to a bad one",
    );
}

#[test]
fn cold_start_with_a_slow_issuer_holds_requests_then_decides_them() {
    let k1 = key("k1");
    let mut idp = FakeIssuer::start();
    idp.set_jwks(&jwks(&[&k1]));
    idp.set_mode("/jwks", "delay 1500");
    let envoy = start(&idp, remote(json!({"timeout_ms": 4000})), 1);
    let started = Instant::now();
    let good = get(&envoy, &token(&k1, 1));
    assert_status(&good, 200, "held, then allowed");
    assert!(
        good.upstream().header("x-auth-subject") == Some("alice"),
        "identity forwarded after the wait"
    );
    let bad = get(&envoy, &token(&key("other"), 2));
    assert_status(&bad, 401, "held or not, a bad token is refused");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn no_keys_ever_gives_503_with_a_json_reason() {
    let k1 = key("k1");
    let mut idp = FakeIssuer::start();
    idp.set_mode("/jwks", "delay 3000");
    let envoy = start(&idp, remote(json!({"timeout_ms": 300})), 1);
    let response = get(&envoy, &token(&k1, 1));
    assert_status(&response, 503, "slow issuer past the timeout");
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        body["error_description"],
        "the issuer's signing keys are not available"
    );
    assert_eq!(response.header("www-authenticate"), None);

    idp.stop();
    envoy.wait_for_log_within(
        "no keys yet, requests get 503; retry",
        Duration::from_secs(10),
    );
    assert_status(&get(&envoy, &token(&k1, 2)), 503, "issuer down");
    assert_status(
        &envoy.get("/devices/1", &[]),
        401,
        "no token is still a plain 401",
    );
    assert_status(
        &envoy.get("/public/x", &[]),
        200,
        "public routes unaffected",
    );
}

#[test]
fn discovery_finds_the_jwks_and_checks_the_issuer() {
    let k1 = key("k1");
    let mut idp = FakeIssuer::start();
    idp.set_jwks(&jwks(&[&k1]));
    idp.set_discovery(&json!({"issuer": ISS, "jwks_uri": "http://idp.test/jwks"}));
    let envoy = start(&idp, json!({"discovery": {"cluster": "idp"}}), 1);
    assert_status(&get(&envoy, &token(&k1, 1)), 200, "keys via discovery");
    assert_eq!(
        idp.count("/realms/main/.well-known/openid-configuration"),
        1
    );
    drop(envoy);

    let mut other = FakeIssuer::start();
    other.set_jwks(&jwks(&[&k1]));
    other.set_discovery(
        &json!({"issuer": "http://idp.test/realms/other", "jwks_uri": "http://idp.test/jwks"}),
    );
    let envoy = start(&other, json!({"discovery": {"cluster": "idp"}}), 1);
    assert_status(
        &get(&envoy, &token(&k1, 2)),
        503,
        "document of another issuer",
    );
    envoy.wait_for_log("discovery document is for issuer \"http://idp.test/realms/other\"");
    assert_eq!(other.count("/jwks"), 0, "its jwks_uri is never fetched");
}

#[test]
fn with_two_workers_the_issuer_sees_one_fetch_per_interval() {
    let k1 = key("k1");
    let mut idp = FakeIssuer::start();
    idp.set_jwks(&jwks(&[&k1]));
    let envoy = start(&idp, remote(json!({"refresh_seconds": 2})), 2);
    // Counted from the first request on (Envoy's start may take a while on a busy machine).
    assert_status(&get(&envoy, &token(&k1, 0)), 200, "keys in");
    let at_start = idp.count("/jwks");
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(6) {
        n += 1;
        assert_status(&get(&envoy, &token(&k1, n)), 200, "any worker");
        sleep(Duration::from_millis(50));
    }
    let refreshes = idp.count("/jwks") - at_start;
    // 6 s at one fetch per 2 s is about 3; one per VM (main thread and two workers) would be 9.
    assert!(
        (2..=4).contains(&refreshes),
        "{refreshes} refreshes in 6 s with refresh_seconds 2 and 2 workers"
    );
}

#[test]
fn the_documented_cluster_with_tls_to_the_issuer_is_valid_envoy_configuration() {
    let docs = std::fs::read_to_string(support::repo_root().join("docs/issuer-keys.md")).unwrap();
    let start = docs
        .find("```yaml\n  - name: idp")
        .expect("docs/issuer-keys.md shows the issuer cluster")
        + "```yaml\n".len();
    let end = start + docs[start..].find("```").unwrap();
    let envoy_yaml =
        std::fs::read_to_string(support::repo_root().join("envoy/envoy.yaml")).unwrap();
    let dir = std::env::temp_dir().join(format!("edge-auth-docs-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("envoy.yaml");
    std::fs::write(&config, format!("{envoy_yaml}{}", &docs[start..end])).unwrap();
    let envoy = std::env::var("ENVOY_BIN").expect("ENVOY_BIN (run `make test`)");
    let output = std::process::Command::new(envoy)
        .args([
            "--mode",
            "validate",
            "--disable-hot-restart",
            "-l",
            "error",
            "-c",
        ])
        .arg(&config)
        .current_dir(support::repo_root())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn cold_start_with_two_workers_holds_requests_on_every_worker() {
    let k1 = key("k1");
    let mut idp = FakeIssuer::start();
    idp.set_jwks(&jwks(&[&k1]));
    idp.set_mode("/jwks", "delay 800");
    let envoy = start(&idp, remote(json!({"timeout_ms": 3000})), 2);
    // Concurrent connections land on both workers; only one VM fetches, the others wait for
    // the keys it shares.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let (envoy, k1) = (&envoy, &k1);
                scope.spawn(move || get(envoy, &token(k1, n)).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses, [200; 8]);
    assert_eq!(idp.count("/jwks"), 1, "one fetch for all VMs");
}

/// A token from `key` with these claims changed.
fn token_with(key: &Key, overrides: Value) -> String {
    let mut claims = issuer().claims(now(), json!({"iss": ISS}));
    for (name, value) in overrides.as_object().unwrap() {
        claims.insert(name.clone(), value.clone());
    }
    key.signing.sign(&claims).unwrap()
}

#[test]
fn a_listed_token_is_refused_within_one_refresh_even_while_cached() {
    let k1 = key("k1");
    let mut idp = FakeIssuer::start();
    idp.set_jwks(&jwks(&[&k1]));
    idp.set_revocation(&json!({"version": 1}));
    let mut keys = remote(json!({"refresh_seconds": 300}));
    keys["revocation"] = json!({"cluster": "idp", "uri": "http://idp.test/revoked.json",
                                "refresh_seconds": 1});
    let envoy = start(&idp, keys, 2);
    let cached = token(&k1, 1);
    // The first list arrives a tick after start (until then: 503, fail closed).
    eventually(Duration::from_secs(5), "first list", || {
        get(&envoy, &cached).status == 200
    });
    for _ in 0..6 {
        assert_status(&get(&envoy, &cached), 200, "cached on the workers");
    }
    assert!(idp.count("/revoked.json") >= 1);
    // Verified once per worker at most, then answered by the cache: the hits the refusal below
    // has to get past.
    samples_when(&envoy, |samples| {
        samples.get("edge_auth_token_cache_hits_total{}") >= Some(&5)
    });

    idp.set_revocation(&json!({"version": 1,
        "revoked_jtis": [{"jti": "t1", "exp": now() + 3600}]}));
    let listed = Instant::now();
    // Every worker installs the list at its next tick after the fetch: all refuse it within
    // one refresh (1 s), a tick (100 ms) and the fetch.
    eventually(
        Duration::from_secs(4),
        "listed token refused by every worker",
        || (0..6).all(|_| get(&envoy, &cached).status == 401),
    );
    assert!(
        listed.elapsed() < Duration::from_millis(2500),
        "one refresh (1 s) and a tick, not {:?}",
        listed.elapsed()
    );
    for _ in 0..6 {
        let refused = get(&envoy, &cached);
        assert_status(&refused, 401, "refused on every worker");
        assert!(
            refused.body.contains("the token was revoked"),
            "{}",
            refused.body
        );
        assert!(!refused.body.contains("t1"), "{}", refused.body);
    }
    // Counted with the reason code `revoked` (metric label and access-log field).
    let revoked =
        "edge_auth_denied_total{reason=\"revoked\",credential=\"jwt\",provider=\"test-idp\"}";
    samples_when(&envoy, |samples| samples.get(revoked) >= Some(&6));
    assert_status(&get(&envoy, &token(&k1, 2)), 200, "other tokens pass");

    // Subject not-before: alice's tokens issued earlier are refused, later ones pass.
    let t = now();
    let earlier = token_with(&k1, json!({"iat": t - 60, "jti": "t3"}));
    assert_status(&get(&envoy, &earlier), 200, "before the subject is listed");
    idp.set_revocation(&json!({"version": 1,
        "subjects_not_before": [{"sub": "alice", "nbf": t - 30}]}));
    eventually(Duration::from_secs(4), "subject not-before", || {
        get(&envoy, &earlier).status == 401
    });
    let later = token_with(&k1, json!({"iat": t - 10, "jti": "t4"}));
    assert_status(&get(&envoy, &later), 200, "issued after the subject's time");
    let bob = token_with(&k1, json!({"iat": t - 60, "sub": "bob"}));
    assert_status(&get(&envoy, &bob), 200, "another subject");

    // A malformed list: the last good one stays.
    idp.set_mode("/revoked.json", "garbage");
    let failed = idp.count("/revoked.json");
    eventually(Duration::from_secs(5), "a failed fetch", || {
        idp.count("/revoked.json") > failed + 1
    });
    assert_status(&get(&envoy, &earlier), 401, "last good list kept");
    assert_status(&get(&envoy, &later), 200, "last good list kept");
}
