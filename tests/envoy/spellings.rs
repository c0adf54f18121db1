//! No spelling of a path or a claim borrows another rule or identity, through a real Envoy with
//! the settings of envoy/envoy.yaml, over HTTP/1.1 and h2c: the eight findings of the review that
//! tried it as an attacker (encoded separators under a public prefix, a rule missed through `;`
//! or `%2F`, scopes split on other whitespace, padded claims, a scope array element with a
//! space, a lower-case preflight, a preflight's credential, a fractional `exp`).
//!
//! Envoy's own `path_with_escaped_slashes_action: REJECT_REQUEST` (envoy.yaml) refuses `%2F` and
//! `%5C` before the filter runs; the same requests are also sent to an Envoy that keeps them
//! (`KEEP_UNCHANGED`, Istio's default), where the filter's own refusal is what stops them.

use crate::{fixtures, support};

use edge_auth::jwt::algorithm::Algorithm;
use fixtures::{issuer, now};
use serde_json::{json, Value};
use support::{Envoy, Options, Response};

const SHIPPED: &str = "path_with_escaped_slashes_action: REJECT_REQUEST";
const KEEP: &str = "path_with_escaped_slashes_action: KEEP_UNCHANGED";

fn config() -> Value {
    let mut config = issuer().config();
    config["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"path_prefix": "/profile", "methods": ["GET"], "scopes": ["profile:read"]}));
    config["api_keys"] = json!({
        "id_header": "clientid", "secret_header": "clientsecret",
        "clients": [{"id": "c1", "secret_sha256": edge_auth::clients::secret_digest_hex(b"s1")}]
    });
    config["query_token"] = json!({"param": "token"});
    config
}

fn start(escaped_slashes: &str) -> Envoy {
    let options = Options::default().replace(SHIPPED, escaped_slashes);
    Envoy::start_with(&config().to_string(), &options)
}

fn bearer(claims: Value) -> String {
    format!("Bearer {}", issuer().token(Algorithm::ES256, now(), claims))
}

/// The answer over HTTP/1.1 and over h2c.
fn both(envoy: &Envoy, method: &str, path: &str, headers: &[(&str, &str)]) -> [Response; 2] {
    [
        envoy.request(method, path, headers),
        envoy.h2c(method, path, headers),
    ]
}

fn assert_refused_400(answers: &[Response; 2], what: &str, by_filter: bool) {
    for (response, protocol) in answers.iter().zip(["HTTP/1.1", "h2c"]) {
        assert_eq!(
            response.status, 400,
            "{what} over {protocol}: {}",
            response.body
        );
        if by_filter {
            let body: Value = serde_json::from_str(&response.body).unwrap_or_else(|_| {
                panic!(
                    "{what} over {protocol}: not the filter's: {}",
                    response.body
                )
            });
            assert_eq!(body["error"], "invalid_request", "{what} over {protocol}");
        }
    }
}

/// Findings 1 and 2: anonymous access under a public prefix, and a token without the route's
/// scope, through encoded separators and `;` parameters. Refused by Envoy with the shipped
/// setting, and by the filter itself where Envoy keeps escaped slashes.
#[test]
fn encoded_separators_and_parameters_never_reach_a_rule_they_are_not_under() {
    let profile_only = bearer(json!({"scope": "profile:read"}));
    for (setting, envoy_refuses_escapes) in [(SHIPPED, true), (KEEP, false)] {
        let envoy = start(setting);
        for path in [
            "/public/..%2Fdevices",
            "/public/..%5Cdevices",
            "/public/%2e%2e%2fdevices",
            "/public/x/..%2f..%2fdevices",
        ] {
            assert_refused_400(
                &both(&envoy, "GET", path, &[]),
                &format!("{setting}: {path}"),
                !envoy_refuses_escapes,
            );
        }
        let token = [("authorization", profile_only.as_str())];
        for (path, escaped) in [
            ("/devices;x=1", false),
            ("/devices%2F", true),
            ("/public%2F..%2Fdevices", true),
        ] {
            let by_filter = !(escaped && envoy_refuses_escapes);
            assert_refused_400(
                &both(&envoy, "GET", path, &token),
                &format!("{setting}: {path}"),
                by_filter,
            );
        }
        // The rule still applies to the path as it is meant.
        for response in both(&envoy, "GET", "/devices", &token) {
            assert_eq!(response.status, 403, "{setting}: {}", response.body);
        }
    }
}

/// Finding 3: scopes are split on SP only; a token whose scope string joins two scopes with
/// another whitespace character is granted neither, and none is forwarded.
#[test]
fn a_scope_string_with_other_whitespace_grants_nothing() {
    let envoy = start(SHIPPED);
    for joined in [
        "profile:read\u{a0}devices:write",
        "profile:read\tdevices:write",
        "profile:read\u{3000}devices:write",
    ] {
        let token = bearer(json!({"scope": joined}));
        for response in both(&envoy, "POST", "/devices", &[("authorization", &token)]) {
            assert_eq!(response.status, 403, "{joined:?}: {}", response.body);
            assert!(
                response
                    .header("www-authenticate")
                    .unwrap_or_default()
                    .contains("insufficient_scope"),
                "{joined:?}"
            );
        }
    }
}

/// Finding 4: identity headers carry exactly what was verified. Padded, quoted and non-ASCII
/// claim values arrive JSON-quoted, never as a value HTTP would trim or re-encode.
#[test]
fn padded_claims_arrive_json_quoted() {
    let envoy = start(SHIPPED);
    let token =
        bearer(json!({"sub": " admin ", "email": " victim@example.com", "scope": "profile:read"}));
    for response in both(&envoy, "GET", "/profile", &[("authorization", &token)]) {
        assert_eq!(response.status, 200, "{}", response.body);
        let upstream = response.upstream();
        assert_eq!(upstream.header("x-auth-subject"), Some("\" admin \""));
        assert_eq!(
            upstream.header("x-auth-email"),
            Some("\" victim@example.com\"")
        );
    }
    let token = bearer(json!({"sub": "Zoë", "scope": "profile:read"}));
    let response = envoy.get("/profile", &[("authorization", &token)]);
    assert_eq!(
        response.upstream().header("x-auth-subject"),
        Some("\"Zo\\u00eb\"")
    );
}

/// Finding 5: a scope array element with a space is not granted, so never forwarded as two
/// scopes; the other elements still count.
#[test]
fn a_scope_array_element_with_a_space_is_not_granted_nor_forwarded() {
    let envoy = start(SHIPPED);
    let token = bearer(json!({"scope": ["profile:read", "profile:read devices:write"]}));
    for response in both(&envoy, "GET", "/profile", &[("authorization", &token)]) {
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(
            response.upstream().header("x-auth-scopes"),
            Some("profile:read")
        );
    }
    for response in both(&envoy, "POST", "/devices", &[("authorization", &token)]) {
        assert_eq!(response.status, 403, "{}", response.body);
    }
}

/// Finding 6: a preflight is `OPTIONS` exactly (methods are case-sensitive, RFC 9110 §9.1).
#[test]
fn lower_case_options_is_no_preflight() {
    let envoy = start(SHIPPED);
    let cors = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "POST"),
    ];
    let response = envoy.h2c("options", "/devices", &cors);
    assert_eq!(
        response.status, 401,
        "lower-case options is not forwarded: {}",
        response.body
    );
    let response = envoy.h2c("OPTIONS", "/devices", &cors);
    assert_eq!(response.status, 200, "{}", response.body);
}

/// Finding 7: what passes as a preflight carries no credential upstream: neither header of an
/// API key pair, no token header, no query token.
#[test]
fn a_preflight_carries_no_credential_upstream() {
    let envoy = start(SHIPPED);
    let token = bearer(json!({}));
    let headers = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "POST"),
        ("clientid", "c1"),
        ("clientsecret", "s1"),
        ("x-rpz-auth", token.as_str()),
    ];
    for response in both(&envoy, "OPTIONS", "/devices?token=abc&page=2", &headers) {
        assert_eq!(response.status, 200, "{}", response.body);
        let upstream = response.upstream();
        for name in ["clientid", "clientsecret", "x-rpz-auth"] {
            assert_eq!(
                upstream.header_count(name),
                0,
                "{name} reached the upstream"
            );
        }
        assert_eq!(upstream.path, "/devices?page=2");
        assert_eq!(upstream.header("origin"), Some("https://app.example.com"));
    }
}

/// Finding 8: a fractional NumericDate (RFC 7519 §2) is accepted.
#[test]
fn a_fractional_expiry_is_accepted() {
    let envoy = start(SHIPPED);
    let token = bearer(json!({"exp": now() as f64 + 3600.5, "nbf": now() as f64 - 0.5}));
    for response in both(&envoy, "GET", "/devices", &[("authorization", &token)]) {
        assert_eq!(response.status, 200, "{}", response.body);
    }
}
