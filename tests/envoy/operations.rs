//! Operating the filter in a real Envoy: exact counts in `/stats/prometheus` with two workers,
//! the access log's fields, report mode end to end, and no secret in any log line at the Wasm
//! log level trace.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::{fixtures, support};

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::mint::SigningKey;
use fixtures::{access_config, basic, issuer, now, secret, APP, KEY_CLIENT};
use serde_json::{json, Value};
use support::{Envoy, Options};

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `edge_auth_*` samples of a Prometheus text page, as `name{labels}` to value.
pub(crate) fn edge_auth_samples(page: &str) -> BTreeMap<String, u64> {
    page.lines()
        .filter(|line| line.starts_with("edge_auth_"))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            (series.to_string(), value.parse().unwrap())
        })
        .collect()
}

/// Polls `/stats/prometheus` until `ready` holds for its samples (each worker adds its counts
/// once a second), or fails after 5 s with the page.
pub(crate) fn samples_when(
    envoy: &Envoy,
    ready: impl Fn(&BTreeMap<String, u64>) -> bool,
) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let samples = edge_auth_samples(&envoy.prometheus());
        if ready(&samples) {
            return samples;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never settled: {samples:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `edge_auth` field of an access-log line (logfmt: `key=value` or `key="quoted value"`),
/// as a map; empty when the filter set nothing.
fn auth_fields(line: &Value) -> BTreeMap<String, String> {
    let text = line["edge_auth"].as_str().unwrap_or_default();
    let mut fields = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once('=') {
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((at, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = at + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        fields.insert(key.trim().to_string(), value);
        rest = next.trim_start();
    }
    fields
}

fn sum_of(samples: &BTreeMap<String, u64>, metric: &str) -> u64 {
    samples
        .iter()
        .filter(|(series, _)| series.starts_with(&format!("{metric}{{")))
        .map(|(_, value)| value)
        .sum()
}

#[test]
fn a_known_mix_gives_exactly_its_counts_across_two_workers() {
    let envoy = Envoy::start_with(&access_config().to_string(), &Options::default().workers(2));
    let t = now();
    let i = issuer();
    let token = |overrides: Value| bearer(&i.token(Algorithm::ES256, t, overrides));
    let good = token(json!({}));
    let forged = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("test-es256")
        .sign(&i.claims(t, json!({})))
        .unwrap();
    let key_secret = secret(KEY_CLIENT);
    let key_pair = [
        ("clientId", KEY_CLIENT),
        ("clientSecret", key_secret.as_str()),
    ];
    let legacy_basic = basic(KEY_CLIENT, &key_secret);
    let wrong_basic = basic(KEY_CLIENT, "not-the-secret");

    // (method, path, headers, expected status)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, u16);
    let h = |pairs: &[(&str, &str)]| -> Vec<(&'static str, String)> {
        pairs
            .iter()
            .map(|(n, v)| (&*Box::leak(n.to_string().into_boxed_str()), v.to_string()))
            .collect()
    };
    let mut cases: Vec<Case> = Vec::new();
    for _ in 0..6 {
        cases.push(("GET", "/devices", h(&[("authorization", &good)]), 200));
    }
    for _ in 0..2 {
        cases.push(("GET", "/devices", h(&key_pair), 200));
    }
    cases.push((
        "GET",
        "/legacy/x",
        h(&[("authorization", &legacy_basic)]),
        200,
    ));
    for _ in 0..3 {
        cases.push(("GET", "/public/page", h(&[]), 200));
    }
    for _ in 0..2 {
        cases.push((
            "OPTIONS",
            "/devices",
            h(&[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
            ]),
            200,
        ));
    }
    let expired = token(json!({"iat": t - 7200, "exp": t - 3600}));
    let future = token(json!({"nbf": t + 3600}));
    let foreign = token(json!({"iss": "https://evil.example.com"}));
    let audience = token(json!({"aud": "other-api"}));
    for _ in 0..2 {
        cases.push(("GET", "/devices", h(&[]), 401));
    }
    cases.push(("GET", "/devices", h(&[("authorization", &expired)]), 401));
    cases.push(("GET", "/devices", h(&[("authorization", &future)]), 401));
    cases.push((
        "GET",
        "/devices",
        h(&[("authorization", &bearer(&forged))]),
        401,
    ));
    cases.push(("GET", "/devices", h(&[("authorization", &foreign)]), 401));
    cases.push(("GET", "/devices", h(&[("authorization", &audience)]), 401));
    cases.push(("POST", "/devices", h(&[("authorization", &good)]), 403));
    cases.push((
        "GET",
        "/legacy/x",
        h(&[("authorization", &wrong_basic)]),
        401,
    ));
    cases.push(("GET", "/legacy/x", h(&[("authorization", &good)]), 401));
    cases.push(("GET", "/apps/1", h(&key_pair), 403));
    cases.push((
        "GET",
        "/devices",
        h(&[
            ("clientId", KEY_CLIENT),
            ("clientSecret", &key_secret),
            ("appId", fixtures::OTHER_APP),
        ]),
        403,
    ));
    cases.push((
        "GET",
        "/devices",
        h(&[
            ("clientId", fixtures::REMOTE_CLIENT),
            ("clientSecret", &secret(fixtures::REMOTE_CLIENT)),
        ]),
        403,
    ));
    cases.push((
        "GET",
        "/devices",
        h(&[
            ("clientId", fixtures::WEB_CLIENT),
            ("clientSecret", &secret(fixtures::WEB_CLIENT)),
        ]),
        403,
    ));
    cases.push((
        "GET",
        "/devices",
        h(&[
            ("authorization", &good),
            ("clientId", KEY_CLIENT),
            ("clientSecret", &key_secret),
        ]),
        400,
    ));
    for (method, path, headers, status) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let response = envoy.request(method, path, &headers);
        assert_eq!(
            response.status, *status,
            "{method} {path}: {}",
            response.body
        );
    }
    // Each worker adds its counts at its own tick: wait for both workers' requests too.
    let jwt_lookups = 6 + 5 + 1; // allowed, five refused tokens, the scope refusal
    let samples = samples_when(&envoy, |s| {
        sum_of(s, "edge_auth_token_cache_hits_total")
            + sum_of(s, "edge_auth_token_cache_misses_total")
            >= jwt_lookups
            && sum_of(s, "edge_auth_requests_total") >= cases.len() as u64
    });

    let expected: BTreeMap<String, u64> = [
        ("edge_auth_requests_total{decision=\"allowed\",credential=\"jwt\",provider=\"test-idp\"}", 6),
        ("edge_auth_requests_total{decision=\"allowed\",credential=\"api_key\",provider=\"none\"}", 2),
        ("edge_auth_requests_total{decision=\"allowed\",credential=\"basic\",provider=\"none\"}", 1),
        ("edge_auth_requests_total{decision=\"public\",credential=\"none\",provider=\"none\"}", 3),
        ("edge_auth_requests_total{decision=\"preflight\",credential=\"none\",provider=\"none\"}", 2),
        ("edge_auth_requests_total{decision=\"denied\",credential=\"none\",provider=\"none\"}", 3),
        ("edge_auth_requests_total{decision=\"denied\",credential=\"jwt\",provider=\"test-idp\"}", 5),
        ("edge_auth_requests_total{decision=\"denied\",credential=\"jwt\",provider=\"none\"}", 2),
        ("edge_auth_requests_total{decision=\"denied\",credential=\"basic\",provider=\"none\"}", 1),
        ("edge_auth_requests_total{decision=\"denied\",credential=\"api_key\",provider=\"none\"}", 4),
        ("edge_auth_denied_total{reason=\"missing_credential\",credential=\"none\",provider=\"none\"}", 2),
        ("edge_auth_denied_total{reason=\"expired\",credential=\"jwt\",provider=\"test-idp\"}", 1),
        ("edge_auth_denied_total{reason=\"not_yet_valid\",credential=\"jwt\",provider=\"test-idp\"}", 1),
        ("edge_auth_denied_total{reason=\"bad_signature\",credential=\"jwt\",provider=\"test-idp\"}", 1),
        ("edge_auth_denied_total{reason=\"untrusted_issuer\",credential=\"jwt\",provider=\"none\"}", 1),
        ("edge_auth_denied_total{reason=\"wrong_audience\",credential=\"jwt\",provider=\"test-idp\"}", 1),
        ("edge_auth_denied_total{reason=\"insufficient_scope\",credential=\"jwt\",provider=\"test-idp\"}", 1),
        ("edge_auth_denied_total{reason=\"invalid_client\",credential=\"basic\",provider=\"none\"}", 1),
        ("edge_auth_denied_total{reason=\"credential_not_accepted\",credential=\"jwt\",provider=\"none\"}", 1),
        ("edge_auth_denied_total{reason=\"application\",credential=\"api_key\",provider=\"none\"}", 2),
        ("edge_auth_denied_total{reason=\"network\",credential=\"api_key\",provider=\"none\"}", 1),
        ("edge_auth_denied_total{reason=\"origin\",credential=\"api_key\",provider=\"none\"}", 1),
        ("edge_auth_denied_total{reason=\"malformed_request\",credential=\"none\",provider=\"none\"}", 1),
    ]
    .into_iter()
    .map(|(series, value)| (series.to_string(), value))
    .collect();
    let counted: BTreeMap<String, u64> = samples
        .iter()
        .filter(|(series, _)| {
            series.starts_with("edge_auth_requests_total{")
                || series.starts_with("edge_auth_denied_total{")
        })
        .map(|(series, value)| (series.clone(), *value))
        .collect();
    // A JWT on the Basic-only route is refused before any provider looks at it, and two
    // credentials at once are refused before either is read: their labels say "none".
    assert_eq!(counted, expected);
    assert_eq!(
        sum_of(&samples, "edge_auth_requests_total"),
        cases.len() as u64,
        "one count per request"
    );
    let hits = samples["edge_auth_token_cache_hits_total{}"];
    let misses = samples["edge_auth_token_cache_misses_total{}"];
    assert_eq!(hits + misses, jwt_lookups);
    // Each worker checks the good token once, then hits its own cache.
    assert!((6..=7).contains(&misses), "misses {misses}, hits {hits}");

    // Both workers decided requests, and each count is the sum of both.
    let stats = envoy.admin("/stats?filter=downstream_cx_total").body;
    let per_worker: Vec<u64> = stats
        .lines()
        .filter(|line| line.starts_with("listener.127.0.0.1_") && line.contains(".worker_"))
        .map(|line| line.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(per_worker.len(), 2, "{stats}");
    assert!(
        per_worker.iter().all(|n| *n > 0),
        "both workers served: {stats}"
    );
}

/// The test configuration with the access-log fields on (as the shipped one has them).
fn logged_config() -> Value {
    let mut config = access_config();
    config["access_log_fields"] = json!(true);
    config
}

#[test]
fn the_access_log_says_who_called_and_why_without_secrets() {
    let envoy = Envoy::start(&logged_config().to_string());
    let t = now();
    let good = bearer(&issuer().token(Algorithm::RS256, t, json!({"client_id": "portal"})));
    let expired_token =
        issuer().token(Algorithm::RS256, t, json!({"iat": t - 7200, "exp": t - 60}));
    let key_secret = secret(KEY_CLIENT);
    assert_eq!(
        envoy.get("/devices", &[("authorization", &good)]).status,
        200
    );
    assert_eq!(
        envoy
            .get(&format!("/devices?token={expired_token}&page=1"), &[])
            .status,
        401
    );
    assert_eq!(envoy.get("/public/x", &[]).status, 200);
    assert_eq!(
        envoy
            .get(
                "/devices",
                &[
                    ("clientId", KEY_CLIENT),
                    ("clientSecret", &key_secret),
                    ("appId", APP)
                ]
            )
            .status,
        200
    );
    let lines = envoy.wait_for_access_log(4);
    let fields = |at: usize| auth_fields(&lines[at]);
    let expect = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };

    assert_eq!(
        fields(0),
        expect(&[
            ("decision", "allowed"),
            ("credential", "jwt"),
            ("provider", "test-idp"),
            ("client", "portal"),
            ("subject", "alice"),
        ])
    );
    assert_eq!(lines[0]["status"], 200);
    // An expired token names nobody; the path is logged without the query token.
    assert_eq!(
        fields(1),
        expect(&[
            ("decision", "denied"),
            ("reason", "expired"),
            ("credential", "jwt"),
            ("provider", "test-idp"),
        ])
    );
    assert_eq!(lines[1]["status"], 401);
    assert_eq!(lines[1]["path"], "/devices");
    assert_eq!(fields(2), expect(&[("decision", "public")]));
    assert_eq!(
        fields(3),
        expect(&[
            ("decision", "allowed"),
            ("credential", "api_key"),
            ("client", KEY_CLIENT),
            ("subject", KEY_CLIENT),
        ])
    );
    assert_eq!(
        lines[0]["edge_auth"],
        "decision=allowed credential=jwt provider=test-idp client=portal subject=alice"
    );

    let text = serde_json::to_string(&lines).unwrap();
    for secret in [
        good.trim_start_matches("Bearer "),
        expired_token.as_str(),
        key_secret.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret in the access log: {text}");
    }
}

/// A configuration in report mode, with a second provider whose keys come from a cluster where
/// nothing listens (an issuer outage).
fn report_config(outage_port: u16) -> Value {
    let mut config = logged_config();
    config["mode"] = json!("report");
    config["providers"].as_array_mut().unwrap().push(json!({
        "name": "down-idp",
        "issuer": "https://down.example.com",
        "audiences": ["edge-api"],
        "algorithms": ["ES256"],
        "remote_jwks": {"cluster": "down", "uri": format!("http://127.0.0.1:{outage_port}/certs"),
                        "timeout_ms": 200}
    }));
    // One route stays enforced.
    config["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"path_prefix": "/admin", "mode": "enforce"}));
    config
}

#[test]
fn report_mode_forwards_what_enforce_mode_refuses_and_counts_it() {
    let outage_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let envoy = Envoy::start_with(
        &report_config(outage_port).to_string(),
        &Options::default().cluster("down", outage_port),
    );
    let t = now();
    let i = issuer();
    let expired = bearer(&i.token(
        Algorithm::ES256,
        t,
        json!({"iat": t - 7200, "exp": t - 3600}),
    ));
    let good = bearer(&i.token(Algorithm::ES256, t, json!({})));

    // A refused token: forwarded, but without itself and without any identity.
    let response = envoy.get(
        "/devices",
        &[("authorization", &expired), ("x-auth-subject", "spoofed")],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let upstream = response.upstream();
    assert_eq!(upstream.header_count("authorization"), 0);
    assert_eq!(upstream.header_count("x-auth-subject"), 0);
    assert_eq!(upstream.header_count("x-auth-scopes"), 0);

    // No credential at all: forwarded as it came.
    assert_eq!(envoy.get("/devices", &[]).status, 200);

    // A credential that passed but lacks the scope: forwarded with its (true) identity.
    let response = envoy.request("POST", "/devices", &[("authorization", &good)]);
    assert_eq!(response.status, 200, "{}", response.body);
    let upstream = response.upstream();
    assert_eq!(upstream.header("x-auth-subject"), Some("alice"));
    assert_eq!(upstream.header_count("authorization"), 0);

    // A good request is simply allowed.
    assert_eq!(
        envoy.get("/devices", &[("authorization", &good)]).status,
        200
    );

    // The enforced route still refuses.
    assert_eq!(envoy.get("/admin", &[]).status, 401);

    // The issuer is down: counted as the outage it is, never as a success.
    let stranded = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("k1")
        .sign(&i.claims(t, json!({"iss": "https://down.example.com"})))
        .unwrap();
    let response = envoy.get("/devices", &[("authorization", &bearer(&stranded))]);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.upstream().header_count("x-auth-subject"), 0);

    // Six requests: wait until all are counted (added at the tick).
    let samples = samples_when(&envoy, |s| {
        s.keys().any(|k| k.contains("issuer_keys_unavailable"))
            && sum_of(s, "edge_auth_requests_total") >= 6
    });
    let would = |reason: &str, credential: &str, provider: &str| {
        samples
            .get(&format!(
                "edge_auth_would_deny_total{{reason=\"{reason}\",credential=\"{credential}\",provider=\"{provider}\"}}"
            ))
            .copied()
    };
    assert_eq!(would("expired", "jwt", "test-idp"), Some(1));
    assert_eq!(would("missing_credential", "none", "none"), Some(1));
    assert_eq!(would("insufficient_scope", "jwt", "test-idp"), Some(1));
    assert_eq!(would("issuer_keys_unavailable", "jwt", "down-idp"), Some(1));
    let requests = |decision: &str| {
        samples
            .iter()
            .filter(|(k, _)| {
                k.starts_with("edge_auth_requests_total{")
                    && k.contains(&format!("decision=\"{decision}\""))
            })
            .map(|(_, v)| v)
            .sum::<u64>()
    };
    assert_eq!(requests("would_deny"), 4);
    assert_eq!(requests("allowed"), 1);
    assert_eq!(requests("denied"), 1);
    assert!(
        samples
            .get("edge_auth_key_fetches_total{provider=\"down-idp\",result=\"failure\"}")
            .is_some_and(|n| *n >= 1),
        "{samples:#?}"
    );
    assert!(samples.contains_key("edge_auth_keys_age_seconds{provider=\"down-idp\"}"));

    let lines = envoy.wait_for_access_log(6);
    let decisions: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let fields = auth_fields(l);
            let field = |k: &str| fields.get(k).cloned().unwrap_or("-".into());
            (field("decision"), field("reason"))
        })
        .collect();
    let decisions: Vec<(&str, &str)> = decisions
        .iter()
        .map(|(d, r)| (d.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        decisions,
        [
            ("would_deny", "expired"),
            ("would_deny", "missing_credential"),
            ("would_deny", "insufficient_scope"),
            ("allowed", "-"),
            ("denied", "missing_credential"),
            ("would_deny", "issuer_keys_unavailable"),
        ]
    );
}

#[test]
fn no_secret_reaches_any_log_line_at_wasm_trace_level() {
    let envoy = Envoy::start_with(
        &logged_config().to_string(),
        &Options::default().wasm_log("trace"),
    );
    let t = now();
    let i = issuer();
    let good = i.token(Algorithm::ES256, t, json!({}));
    let expired = i.token(
        Algorithm::RS256,
        t,
        json!({"iat": t - 7200, "exp": t - 3600}),
    );
    let forged = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("test-es256")
        .sign(&i.claims(t, json!({})))
        .unwrap();
    let query = i.token(Algorithm::EdDSA, t, json!({}));
    let key_secret = secret(KEY_CLIENT);
    let wrong_secret = "wrong-secret-0c9d8e7f6a5b4c3d".to_string();
    let basic_ok = basic(KEY_CLIENT, &key_secret);
    let basic_bad = basic(KEY_CLIENT, &wrong_secret);

    type Sent<'a> = (&'a str, String, Vec<(&'a str, String)>, u16);
    let requests: Vec<Sent> = vec![
        (
            "GET",
            "/devices".into(),
            vec![("authorization", bearer(&good))],
            200,
        ),
        (
            "POST",
            "/devices".into(),
            vec![("x-rpz-auth", bearer(&good))],
            403,
        ),
        (
            "GET",
            "/devices".into(),
            vec![("authorization", bearer(&expired))],
            401,
        ),
        (
            "GET",
            "/devices".into(),
            vec![("authorization", bearer(&forged))],
            401,
        ),
        ("GET", format!("/devices?token={query}"), vec![], 200),
        ("GET", format!("/legacy?token={query}"), vec![], 401),
        (
            "GET",
            "/devices".into(),
            vec![
                ("clientId", KEY_CLIENT.into()),
                ("clientSecret", key_secret.clone()),
            ],
            200,
        ),
        (
            "GET",
            "/devices".into(),
            vec![
                ("clientId", KEY_CLIENT.into()),
                ("clientSecret", wrong_secret.clone()),
            ],
            401,
        ),
        (
            "GET",
            "/legacy".into(),
            vec![("authorization", basic_ok.clone())],
            200,
        ),
        (
            "GET",
            "/legacy".into(),
            vec![("authorization", basic_bad.clone())],
            401,
        ),
    ];
    for (method, path, headers, status) in &requests {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        assert_eq!(
            envoy.request(method, path, &headers).status,
            *status,
            "{method} {path}"
        );
    }
    // The filter's own debug lines are there (the level reached it), naming the checks only.
    let log = envoy.wait_for_log("denied GET /devices: token has expired");
    assert!(
        log.contains("[debug][wasm]"),
        "the Wasm log level did not reach the filter"
    );
    envoy.wait_for_access_log(requests.len());
    let everything = format!("{log}{}", envoy.all_output());
    let signature = |token: &str| token.rsplit('.').next().unwrap().to_string();
    for secret in [
        good.clone(),
        signature(&good),
        expired.clone(),
        forged.clone(),
        query.clone(),
        key_secret.clone(),
        wrong_secret.clone(),
        basic_ok.trim_start_matches("Basic ").to_string(),
        basic_bad.trim_start_matches("Basic ").to_string(),
    ] {
        assert!(
            !everything.contains(&secret),
            "a secret reached Envoy's output: {secret}"
        );
    }
}
