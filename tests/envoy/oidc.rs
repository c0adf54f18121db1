//! End-to-end against a real OpenID Connect provider: panva's `oidc-provider` from npm, started
//! on 127.0.0.1 by the test. edge-auth finds its keys through discovery; tokens come from the
//! provider's real token endpoint (client credentials grant) and their scopes are enforced.

use crate::{fixtures, support};

use serde_json::json;
use support::oidc::OidcProvider;
use support::{Envoy, Options, Response};

fn request(envoy: &Envoy, method: &str, token: &str) -> Response {
    envoy.request(
        method,
        "/devices/7",
        &[("authorization", &format!("Bearer {token}"))],
    )
}

/// The provider block for `idp`: keys by discovery through cluster `oidc`, plus `extra`.
pub(crate) fn provider(idp: &OidcProvider, extra: serde_json::Value) -> serde_json::Value {
    let mut provider = json!({
        "name": "oidc-provider",
        "issuer": idp.issuer(),
        "audiences": ["edge-api"],
        "algorithms": ["RS256"],
        "discovery": {"cluster": "oidc"}
    });
    for (name, value) in extra.as_object().into_iter().flatten() {
        provider[name] = value.clone();
    }
    provider
}

#[test]
fn tokens_from_a_real_openid_provider_pass_with_their_scopes_enforced() {
    let idp = OidcProvider::start();
    let mut config = fixtures::issuer().config();
    config["providers"][0] = provider(&idp, json!({}));
    let envoy = Envoy::start_with(
        &config.to_string(),
        &Options::default().cluster("oidc", idp.port()),
    );

    let (status, reader) = idp.client_credentials("reader", "reader-secret", "devices:read");
    assert_eq!(status, 200, "{reader}");
    let reader = reader["access_token"].as_str().unwrap().to_string();
    let (status, writer) =
        idp.client_credentials("writer", "writer-secret", "devices:read devices:write");
    assert_eq!(status, 200, "{writer}");
    let writer = writer["access_token"].as_str().unwrap().to_string();
    let (status, refused) = idp.client_credentials("reader", "reader-secret", "devices:write");
    assert_eq!(
        status, 400,
        "the provider itself refuses a scope the client may not have"
    );
    assert_eq!(refused["error"], "invalid_scope");

    let read = request(&envoy, "GET", &reader);
    assert_eq!(read.status, 200, "{}", read.body);
    let upstream = read.upstream();
    assert_eq!(upstream.header("x-auth-subject"), Some("reader"));
    assert_eq!(upstream.header("x-auth-scopes"), Some("devices:read"));
    assert_eq!(upstream.header("x-auth-provider"), Some("oidc-provider"));

    let write = request(&envoy, "POST", &reader);
    assert_eq!(write.status, 403, "{}", write.body);
    assert!(write
        .header("www-authenticate")
        .unwrap()
        .contains("scope=\"devices:write\""));

    assert_eq!(request(&envoy, "POST", &writer).status, 200);
    // One signature character changed (inside the signature, not its padding bits).
    let at = writer.rfind('.').unwrap() + 10;
    let swapped = if &writer[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &writer[..at], &writer[at + 1..]);
    assert_eq!(request(&envoy, "POST", &tampered).status, 401);
    envoy.wait_for_log("provider oidc-provider: using 1 fetched key(s)");
}

#[test]
fn opaque_tokens_from_a_real_openid_provider_are_introspected() {
    let idp = OidcProvider::start();
    let mut config = fixtures::issuer().config();
    config["providers"][0] = provider(
        &idp,
        json!({"introspection": {"cluster": "oidc", "path": "/token/introspection",
                                 "client_id": "edge", "client_secret": "edge-secret"}}),
    );
    let envoy = Envoy::start_with(
        &config.to_string(),
        &Options::default().cluster("oidc", idp.port()),
    );
    let (status, answer) = idp.client_credentials_for(
        "reader",
        "reader-secret",
        "devices:read",
        "https://opaque-api.example",
    );
    assert_eq!(status, 200, "{answer}");
    let opaque = answer["access_token"].as_str().unwrap().to_string();
    assert!(!opaque.contains('.'), "an opaque token: {opaque}");

    let read = request(&envoy, "GET", &opaque);
    assert_eq!(read.status, 200, "{}", read.body);
    let upstream = read.upstream();
    assert_eq!(upstream.header("x-auth-subject"), Some("reader"));
    assert_eq!(upstream.header("x-auth-scopes"), Some("devices:read"));
    let write = request(&envoy, "POST", &opaque);
    assert_eq!(write.status, 403, "{}", write.body);
    let unknown = request(&envoy, "GET", "not-a-token-the-provider-issued");
    assert_eq!(unknown.status, 401, "{}", unknown.body);
    assert!(
        unknown.body.contains("token is not active"),
        "{}",
        unknown.body
    );
}
