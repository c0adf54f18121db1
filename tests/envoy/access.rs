//! End-to-end for API keys, HTTP Basic, query and cookie tokens and the allow-lists: the built
//! .wasm inside a real Envoy, in front of the echo upstream. Fails loudly without Envoy (see
//! `support`).

use crate::{fixtures, support};

use edge_auth::jwt::algorithm::Algorithm;
use fixtures::*;
use serde_json::json;
use support::{Envoy, Options, Response, TlsFiles};

fn start() -> Envoy {
    Envoy::start(&access_config().to_string())
}

fn error_of(response: &Response) -> String {
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    body["error"].as_str().unwrap().to_string()
}

fn challenges(response: &Response) -> Vec<&str> {
    response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn api_key_pairs_good_wrong_unknown_and_half() {
    let envoy = start();
    let secret = secret(KEY_CLIENT);
    let good = envoy.get(
        "/devices",
        &[
            ("clientId", KEY_CLIENT),
            ("clientSecret", &secret),
            ("x-auth-client", "root"),
        ],
    );
    assert_eq!(good.status, 200, "{}", good.body);
    let upstream = good.upstream();
    assert_eq!(upstream.header("x-auth-client"), Some(KEY_CLIENT));
    assert_eq!(
        upstream.header_count("x-auth-client"),
        1,
        "the spoofed copy is gone"
    );
    assert_eq!(upstream.header("x-auth-credential"), Some("api_key"));
    assert_eq!(
        upstream.header_count("clientsecret"),
        0,
        "the secret never reaches the upstream"
    );
    assert_eq!(upstream.header("clientid"), Some(KEY_CLIENT));

    let wrong = envoy.get(
        "/devices",
        &[("clientId", KEY_CLIENT), ("clientSecret", "guess")],
    );
    let unknown = envoy.get(
        "/devices",
        &[("clientId", "no-such-client"), ("clientSecret", "guess")],
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(error_of(&wrong), "invalid_client");
    assert_eq!(
        (wrong.status, &wrong.body),
        (unknown.status, &unknown.body),
        "no oracle for valid ids"
    );
    assert_eq!(challenges(&wrong), challenges(&unknown));

    let half = envoy.get("/devices", &[("clientId", KEY_CLIENT)]);
    assert_eq!(half.status, 400);
    assert_eq!(error_of(&half), "invalid_request");
}

#[test]
fn a_scope_refusal_challenges_only_the_scheme_the_caller_used() {
    let envoy = start();
    let secret = secret(KEY_CLIENT);
    let key_pair = [("clientId", KEY_CLIENT), ("clientSecret", secret.as_str())];
    let good_basic = basic(KEY_CLIENT, &secret);
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let bearer = format!("Bearer {token}");
    for (who, headers) in [
        ("api key", key_pair.to_vec()),
        ("basic", vec![("authorization", good_basic.as_str())]),
    ] {
        let refused = envoy.request("POST", "/devices", &headers);
        assert_eq!(refused.status, 403, "{who}: {}", refused.body);
        assert!(
            challenges(&refused).is_empty(),
            "{who}: no Bearer error for a caller that sent no token: {:?}",
            refused.headers
        );
        let body: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
        assert_eq!(body["error"], "insufficient_scope", "{who}");
        assert_eq!(body["scope"], "devices:write", "{who}");
        assert_eq!(refused.header("cache-control"), Some("no-store"), "{who}");
    }
    let refused = envoy.request("POST", "/devices", &[("authorization", &bearer)]);
    assert_eq!(refused.status, 403);
    assert_eq!(
        challenges(&refused),
        ["Bearer realm=\"edge\", error=\"insufficient_scope\", error_description=\"the credential lacks a scope this route requires\", scope=\"devices:write\""]
    );
}

#[test]
fn basic_good_malformed_and_wrong_and_basic_only_routes() {
    let envoy = start();
    let good = basic(KEY_CLIENT, &secret(KEY_CLIENT));
    let response = envoy.get("/devices", &[("authorization", &good)]);
    assert_eq!(response.status, 200, "{}", response.body);
    let upstream = response.upstream();
    assert_eq!(
        upstream.header_count("authorization"),
        0,
        "consumed Basic header is removed"
    );
    assert_eq!(upstream.header("x-auth-credential"), Some("basic"));

    assert_eq!(
        envoy
            .get("/devices", &[("authorization", "Basic %%%")])
            .status,
        400
    );
    assert_eq!(
        envoy
            .get("/devices", &[("authorization", "Basic bm8tY29sb24=")])
            .status,
        400
    );

    let wrong = envoy.get(
        "/devices",
        &[("authorization", &basic(KEY_CLIENT, "wrong"))],
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(
        challenges(&wrong),
        ["Basic realm=\"edge\", charset=\"UTF-8\""]
    );

    let token = issuer().token(Algorithm::RS256, now(), json!({}));
    let bearer_on_legacy = envoy.get(
        "/legacy/report",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(bearer_on_legacy.status, 401);
    assert_eq!(
        challenges(&bearer_on_legacy),
        ["Basic realm=\"edge\", charset=\"UTF-8\""]
    );
    assert_eq!(
        envoy
            .get("/legacy/report", &[("authorization", &good)])
            .status,
        200
    );
}

#[test]
fn query_token_is_accepted_and_absent_upstream() {
    let envoy = start();
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let response = envoy.get(&format!("/devices/7?view=full&token={token}&page=2"), &[]);
    assert_eq!(response.status, 200, "{}", response.body);
    let upstream = response.upstream();
    assert_eq!(upstream.path, "/devices/7?view=full&page=2");
    assert_eq!(upstream.header("x-auth-subject"), Some("alice"));
    assert!(!envoy.log().contains(&token), "the token is never logged");

    let forged = envoy.get(
        &format!("/devices?token={}x", &token[..token.len() - 1]),
        &[],
    );
    assert_eq!(forged.status, 401);
}

/// The upstream's `Cookie` headers, in order.
fn upstream_cookies(response: &Response) -> Vec<String> {
    response
        .upstream()
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn cookie_token_is_accepted_and_absent_upstream_over_http1_and_h2c() {
    let mut config = access_config();
    config["cookie_token"] = json!({"name": "access_token"});
    let envoy = Envoy::start(&config.to_string());
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let in_the_middle = format!("theme=dark;lang=en; access_token={token}; csrf=\"a b\"");
    let alone = format!("access_token={token}");
    let one_header = [("cookie", in_the_middle.as_str())];
    let several = [
        ("cookie", "theme=dark"),
        ("cookie", alone.as_str()),
        ("cookie", "lang=en"),
    ];
    for (protocol, response) in [
        ("HTTP/1.1", envoy.get("/devices/7", &one_header)),
        ("h2c", envoy.h2c("GET", "/devices/7", &one_header)),
    ] {
        assert_eq!(response.status, 200, "{protocol}: {}", response.body);
        assert_eq!(response.upstream().header("x-auth-subject"), Some("alice"));
        assert_eq!(
            upstream_cookies(&response),
            ["theme=dark;lang=en; csrf=\"a b\""],
            "{protocol}"
        );
    }
    // Several Cookie headers (HTTP/2 sends one per cookie): one header upstream, the token gone.
    for (protocol, response) in [
        ("HTTP/1.1", envoy.get("/devices/7", &several)),
        ("h2c", envoy.h2c("GET", "/devices/7", &several)),
    ] {
        assert_eq!(response.status, 200, "{protocol}: {}", response.body);
        assert_eq!(
            upstream_cookies(&response),
            ["theme=dark; lang=en"],
            "{protocol}"
        );
    }
    // The only cookie: no Cookie header at all; on a public route too.
    for (protocol, response) in [
        ("HTTP/1.1", envoy.get("/devices/7", &[("cookie", &alone)])),
        ("h2c", envoy.h2c("GET", "/public/x", &[("cookie", &alone)])),
    ] {
        assert_eq!(response.status, 200, "{protocol}: {}", response.body);
        assert_eq!(
            upstream_cookies(&response),
            Vec::<String>::new(),
            "{protocol}"
        );
    }

    let forged = format!("access_token={}x", &token[..token.len() - 1]);
    let refused = envoy.h2c("GET", "/devices/7", &[("cookie", &forged)]);
    assert_eq!(refused.status, 401);
    assert!(
        challenges(&refused)
            .iter()
            .any(|c| c.starts_with("Bearer realm=\"edge\", error=\"invalid_token\"")),
        "{:?}",
        refused.headers
    );
    let twice = envoy.get("/devices/7", &[("cookie", &alone), ("cookie", &alone)]);
    assert_eq!(twice.status, 400);
    let bearer = format!("Bearer {token}");
    let two = envoy.get(
        "/devices/7",
        &[("authorization", &bearer), ("cookie", &alone)],
    );
    assert_eq!(two.status, 400);
    assert!(!envoy.log().contains(&token), "the token is never logged");
}

#[test]
fn applications_granted_refused_and_required() {
    let envoy = start();
    let secret = secret(KEY_CLIENT);
    let pair = [("clientId", KEY_CLIENT), ("clientSecret", secret.as_str())];
    let with_app = |app: &'static str| {
        let mut headers = pair.to_vec();
        headers.push(("appId", app));
        headers
    };
    let granted = envoy.get("/devices", &with_app(APP));
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(granted.upstream().header("x-auth-app"), Some(APP));

    let refused = envoy.get("/devices", &with_app(OTHER_APP));
    assert_eq!(refused.status, 403);
    assert_eq!(error_of(&refused), "access_denied");
    assert!(
        refused.body.contains("application is not granted"),
        "{}",
        refused.body
    );

    let missing = envoy.get("/apps/1", &pair);
    assert_eq!(missing.status, 403);
    assert!(
        missing.body.contains("requires the appid header"),
        "{}",
        missing.body
    );
    assert_eq!(envoy.get("/apps/1", &with_app(APP)).status, 200);
}

#[test]
fn networks_and_origins_are_enforced_and_forwarded_for_cannot_talk_past_them() {
    let envoy = start();
    let loopback_secret = secret(LOOPBACK_CLIENT);
    let remote_secret = secret(REMOTE_CLIENT);
    let loopback = [
        ("clientId", LOOPBACK_CLIENT),
        ("clientSecret", loopback_secret.as_str()),
    ];
    let remote = [
        ("clientId", REMOTE_CLIENT),
        ("clientSecret", remote_secret.as_str()),
    ];
    assert_eq!(
        envoy.get("/devices", &loopback).status,
        200,
        "loopback client from 127.0.0.1"
    );
    let denied = envoy.get("/devices", &remote);
    assert_eq!(denied.status, 403);
    assert!(denied.body.contains("network"), "{}", denied.body);
    let mut spoof = remote.to_vec();
    spoof.push(("x-forwarded-for", "203.0.113.9"));
    assert_eq!(
        envoy.get("/devices", &spoof).status,
        403,
        "X-Forwarded-For is not trusted without trusted_hops"
    );
    drop(envoy);

    // Behind one trusted proxy (here the test itself, on loopback), its entry is believed.
    let mut config = access_config();
    config["trusted_hops"] = json!(1);
    let envoy = Envoy::start(&config.to_string());
    assert_eq!(
        envoy.get("/devices", &spoof).status,
        200,
        "the trusted proxy says 203.0.113.9"
    );
    assert_eq!(
        envoy.get("/devices", &remote).status,
        403,
        "no proxy entry: no address to trust"
    );

    let web_secret = secret(WEB_CLIENT);
    let web = |origin: &'static str| {
        vec![
            ("clientId", WEB_CLIENT),
            ("clientSecret", web_secret.as_str()),
            ("origin", origin),
        ]
    };
    assert_eq!(
        envoy
            .get("/devices", &web("https://shop.example.org"))
            .status,
        200
    );
    let foreign = envoy.get("/devices", &web("https://evil.example.net"));
    assert_eq!(foreign.status, 403);
    assert!(foreign.body.contains("origin"), "{}", foreign.body);
    let referer = [
        ("clientId", WEB_CLIENT),
        ("clientSecret", web_secret.as_str()),
        ("referer", "https://app.example.com/page"),
    ];
    assert_eq!(envoy.get("/devices", &referer).status, 200);
}

#[test]
fn minimum_tls_version_is_enforced_over_a_real_tls_listener() {
    let mut config = access_config();
    config["min_tls_version"] = json!("TLSv1.3");
    let dir = std::env::temp_dir().join(format!("edge-auth-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tls = TlsFiles::self_signed(&dir);
    let envoy = Envoy::start_with(&config.to_string(), &Options::default().tls(tls));

    let modern = envoy.https_get("/public/x", &["--tlsv1.3"], &[]);
    assert_eq!(modern.status, 200, "{}", modern.body);
    let older = envoy.https_get("/public/x", &["--tlsv1.2", "--tls-max", "1.2"], &[]);
    assert_eq!(older.status, 403, "{}", older.body);
    assert!(
        older.body.contains("TLSv1.3 or newer is required"),
        "{}",
        older.body
    );
    let token = issuer().token(Algorithm::RS256, now(), json!({}));
    let authorized = envoy.https_get(
        "/devices",
        &["--tlsv1.3"],
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(authorized.status, 200, "{}", authorized.body);
    drop(envoy);
    std::fs::remove_dir_all(&dir).unwrap();

    let plain = Envoy::start(&config.to_string());
    let response = plain.get("/public/x", &[]);
    assert_eq!(response.status, 403, "plain-text connections are refused");
}

#[test]
fn network_allow_list_and_minimum_tls_together_decide_each_connection() {
    // Both connection facts in use at once (issue 22): each curl is a new connection, from
    // 127.0.0.1 (allowed) or 127.0.0.2 (not), TLS 1.3 (required) or 1.2; the same token each
    // time, so all but the first are cache hits, which must still look at each connection.
    let mut config = access_config();
    config["providers"][0]["allowed_cidrs"] = json!(["127.0.0.1/32"]);
    config["min_tls_version"] = json!("TLSv1.3");
    let dir = std::env::temp_dir().join(format!("edge-auth-facts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tls = TlsFiles::self_signed(&dir);
    let envoy = Envoy::start_with(&config.to_string(), &Options::default().tls(tls));
    let token = issuer().token(Algorithm::RS256, now(), json!({}));
    let bearer = format!("Bearer {token}");
    let headers = [("authorization", bearer.as_str())];
    let get = |from: &str, tls: &[&str]| {
        let mut args = vec!["--interface", from];
        args.extend_from_slice(tls);
        envoy.https_get("/devices", &args, &headers)
    };
    let tls13: &[&str] = &["--tlsv1.3"];
    let tls12: &[&str] = &["--tlsv1.2", "--tls-max", "1.2"];
    for round in 0..2 {
        let allowed = get("127.0.0.1", tls13);
        assert_eq!(allowed.status, 200, "round {round}: {}", allowed.body);
        let other = get("127.0.0.2", tls13);
        assert_eq!(other.status, 403, "round {round}: {}", other.body);
        assert!(other.body.contains("network"), "{}", other.body);
        let older = get("127.0.0.1", tls12);
        assert_eq!(older.status, 403, "round {round}: {}", older.body);
        assert!(
            older.body.contains("TLSv1.3 or newer is required"),
            "{}",
            older.body
        );
        let both = get("127.0.0.2", tls12);
        assert_eq!(both.status, 403, "round {round}: {}", both.body);
    }
    // Forwarded-For cannot stand in for the address (no trusted hops).
    let mut spoofed = headers.to_vec();
    spoofed.push(("x-forwarded-for", "127.0.0.1"));
    let spoof = envoy.https_get(
        "/devices",
        &["--interface", "127.0.0.2", "--tlsv1.3"],
        &spoofed,
    );
    assert_eq!(spoof.status, 403, "{}", spoof.body);
    drop(envoy);
    std::fs::remove_dir_all(&dir).unwrap();
}
