//! End-to-end: opaque tokens checked by RFC 7662 introspection, inside a real Envoy, against an
//! endpoint served by the test (`tests/servers/fake_issuer.py`), which counts the calls.

use crate::{fixtures, support};

use base64::Engine;
use edge_auth::jwt::algorithm::Algorithm;
use fixtures::{issuer, now, AUDIENCE, ISSUER};
use serde_json::{json, Value};
use support::issuer::FakeIssuer;
use support::{Envoy, Options, Response};

fn start(idp: &FakeIssuer) -> Envoy {
    let mut config = issuer().config();
    config["providers"][0]["introspection"] = json!({
        "cluster": "idp", "path": "/introspect", "authority": "idp.test",
        "client_id": "edge", "client_secret": "s3cret:x", "cache_seconds": 60
    });
    Envoy::start_with(
        &config.to_string(),
        &Options::default().cluster("idp", idp.port()),
    )
}

fn get(envoy: &Envoy, token: &str) -> Response {
    envoy.get(
        "/devices/1",
        &[("authorization", &format!("Bearer {token}"))],
    )
}

fn active(scope: &str) -> Value {
    json!({"active": true, "scope": scope, "aud": AUDIENCE, "iss": ISSUER, "sub": "bob",
           "client_id": "app", "exp": now() + 600})
}

#[test]
fn opaque_tokens_are_introspected_cached_and_scoped() {
    let mut idp = FakeIssuer::start();
    idp.set_introspection(&json!({
        "opaque-good": active("devices:read"),
        "opaque-narrow": active("profile:read"),
        "opaque-elsewhere": {"active": true, "aud": "other-api", "scope": "devices:read"},
    }));
    let envoy = start(&idp);

    let response = get(&envoy, "opaque-good");
    assert_eq!(response.status, 200, "{}", response.body);
    let upstream = response.upstream();
    assert_eq!(upstream.header("x-auth-subject"), Some("bob"));
    assert_eq!(upstream.header("x-auth-scopes"), Some("devices:read"));
    assert_eq!(upstream.header_count("authorization"), 0);
    let call = idp.last("/introspect");
    let basic = base64::engine::general_purpose::STANDARD.encode("edge:s3cret%3Ax");
    assert_eq!(call["headers"]["authorization"], format!("Basic {basic}"));
    assert_eq!(
        call["headers"]["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        call["body"],
        "token=opaque-good&token_type_hint=access_token"
    );

    assert_eq!(get(&envoy, "opaque-good").status, 200, "cached answer");
    assert_eq!(idp.count("/introspect"), 1, "a positive answer is cached");

    let narrow = get(&envoy, "opaque-narrow");
    assert_eq!(narrow.status, 403, "{}", narrow.body);

    for _ in 0..3 {
        let refused = get(&envoy, "opaque-revoked");
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert!(
            refused.body.contains("token is not active"),
            "{}",
            refused.body
        );
    }
    let elsewhere = get(&envoy, "opaque-elsewhere");
    assert_eq!(elsewhere.status, 401, "{}", elsewhere.body);
    assert!(elsewhere.body.contains("audience"), "{}", elsewhere.body);
    assert_eq!(
        idp.count("/introspect"),
        4,
        "good, narrow, revoked once (negative answers are cached), elsewhere"
    );

    // JWTs of the same issuer are still verified locally.
    let jwt = issuer().token(Algorithm::ES256, now(), json!({}));
    assert_eq!(get(&envoy, &jwt).status, 200);
    assert_eq!(idp.count("/introspect"), 4);
}

#[test]
fn an_unreachable_introspection_endpoint_is_503_never_a_pass() {
    let mut idp = FakeIssuer::start();
    idp.set_introspection(&json!({"t1": active("devices:read"), "t2": active("devices:read")}));
    idp.set_mode("/introspect", "status 500");
    let envoy = start(&idp);
    let response = get(&envoy, "t1");
    assert_eq!(response.status, 503, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    envoy.wait_for_log(
        "provider test-idp: introspection via cluster idp failed: introspection: HTTP status 500",
    );

    idp.stop();
    assert_eq!(get(&envoy, "t2").status, 503, "endpoint down");
    idp.set_mode("/introspect", "ok");
    idp.restart();
    assert_eq!(
        get(&envoy, "t2").status,
        200,
        "endpoint back, nothing cached"
    );
}

/// Issue 21: a rule's `introspect` has the endpoint confirm a JWT that passed every local check,
/// with an answer reused at most `max_cache_seconds`; a withdrawn token stops within that.
#[test]
fn jwts_on_a_rule_with_introspect_are_confirmed_and_stop_when_withdrawn() {
    let at = now();
    let jwt = issuer().token(Algorithm::ES256, at, json!({"sub": "alice"}));
    let claims = issuer().claims(at, json!({"sub": "alice"}));
    let mut idp = FakeIssuer::start();
    idp.set_introspection(&json!({
        jwt.clone(): {"active": true, "iss": ISSUER, "sub": "alice", "exp": claims["exp"]}
    }));
    let mut config = issuer().config();
    config["providers"][0]["introspection"] = json!({
        "cluster": "idp", "path": "/introspect", "authority": "idp.test",
        "client_id": "edge", "client_secret": "s3cret", "cache_seconds": 60
    });
    config["rules"][1]["introspect"] = json!({"max_cache_seconds": 2});
    let envoy = Envoy::start_with(
        &config.to_string(),
        &Options::default().cluster("idp", idp.port()),
    );

    // Local checks first: a forged token never reaches the endpoint.
    let (head, _) = jwt.rsplit_once('.').unwrap();
    let other = issuer().token(Algorithm::ES256, now(), json!({"sub": "mallory"}));
    let forged = format!("{head}.{}", other.rsplit_once('.').unwrap().1);
    assert_eq!(get(&envoy, &forged).status, 401);
    assert_eq!(idp.count("/introspect"), 0, "no call for a forged token");

    let first = get(&envoy, &jwt);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.upstream().header("x-auth-subject"), Some("alice"));
    assert_eq!(
        idp.last("/introspect")["body"],
        format!("token={jwt}&token_type_hint=access_token")
    );
    assert_eq!(get(&envoy, &jwt).status, 200, "the answer is reused");
    assert_eq!(idp.count("/introspect"), 1);
    // A rule without `introspect` never asks.
    let write = envoy.request(
        "POST",
        "/devices/1",
        &[("authorization", &format!("Bearer {jwt}"))],
    );
    assert_eq!(write.status, 403, "the token lacks devices:write");
    assert_eq!(idp.count("/introspect"), 1);

    // The issuer withdraws the token: refused once the answer is older than 2 s.
    idp.set_introspection(&json!({}));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let refused = get(&envoy, &jwt);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(
        refused.body.contains("token is not active"),
        "{}",
        refused.body
    );
    assert_eq!(idp.count("/introspect"), 2);
    // Counted under its own reason (the refusal counter's reason label).
    let counted = (0..50).any(|_| {
        let text = envoy.prometheus();
        let found = text.lines().any(|line| {
            line.starts_with("edge_auth_denied_total")
                && line.contains("reason=\"introspection_inactive\"")
                && line.ends_with(" 1")
        });
        if !found {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        found
    });
    assert!(counted, "{}", envoy.prometheus());
}
