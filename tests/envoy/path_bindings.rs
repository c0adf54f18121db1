//! End-to-end for path templates with bound segments (docs/authorization.md, Path templates):
//! an application in the path granted to a token or an API key client, an account granted by
//! a token's nested claim, a tenant equal to the `x-tenant-id` header; in a real Envoy, each
//! refusal 403 `access_denied` and counted with reason `path_binding` in `/stats/prometheus`.

use crate::operations::samples_when;
use crate::{fixtures, support};

use edge_auth::jwt::algorithm::Algorithm;
use fixtures::{access_config, issuer, now, secret, APP, KEY_CLIENT, OTHER_APP};
use serde_json::{json, Value};
use support::Envoy;

fn config() -> Value {
    let mut config = access_config();
    let rules = config["rules"].as_array_mut().unwrap();
    for (at, rule) in [
        json!({"path_template": "/odata/applications/{appId}/**",
               "bind": {"appId": {"applications": true}}}),
        json!({"path_template": "/accounts/{account}/**", "accept": ["jwt"],
               "bind": {"account": {"claim": "tenancy.accounts"}}}),
        json!({"path_template": "/tenants/{tenant}/devices/{id}",
               "bind": {"tenant": {"header": "x-tenant-id"}}}),
    ]
    .into_iter()
    .enumerate()
    {
        rules.insert(at, rule);
    }
    config
}

fn bearer(claims: Value) -> String {
    format!("Bearer {}", issuer().token(Algorithm::ES256, now(), claims))
}

/// Asserts a 403 `access_denied` with `description`.
fn assert_refused(response: &support::Response, description: &str) {
    assert_eq!(response.status, 403, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "access_denied");
    assert_eq!(body["error_description"], description);
}

#[test]
fn bound_segments_allow_what_the_caller_is_granted_and_refuse_the_rest() {
    let envoy = Envoy::start(&config().to_string());
    let denied = |count: u64, credential: &str| {
        let provider = if credential == "jwt" {
            "test-idp"
        } else {
            "none"
        };
        (
            format!(
                "edge_auth_denied_total{{reason=\"path_binding\",credential=\"{credential}\",provider=\"{provider}\"}}"
            ),
            count,
        )
    };

    // Axonize: the application in the path is one the credential grants.
    let app_token = bearer(json!({"apps": [APP]}));
    let granted = format!("/odata/applications/{APP}/Devices");
    let other = format!("/odata/applications/{OTHER_APP}/Devices");
    let allowed = envoy.get(&granted, &[("authorization", &app_token)]);
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.upstream().header("x-auth-subject"), Some("alice"));
    assert_refused(
        &envoy.get(&other, &[("authorization", &app_token)]),
        "the path's {appId} does not match the credential's applications",
    );
    let key_secret = secret(KEY_CLIENT);
    let key = [
        ("clientId", KEY_CLIENT),
        ("clientSecret", key_secret.as_str()),
    ];
    assert_eq!(envoy.get(&granted, &key).status, 200);
    assert_refused(
        &envoy.get(&other, &key),
        "the path's {appId} does not match the credential's applications",
    );

    // Applixure: the account in the path is among the token's claim values; twice, the second
    // possibly from the worker's token cache.
    let accounts = bearer(json!({"tenancy": {"accounts": ["acme", "globex"]}}));
    let allowed = envoy.get("/accounts/acme/devices", &[("authorization", &accounts)]);
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    for _ in 0..2 {
        assert_refused(
            &envoy.get("/accounts/initech/devices", &[("authorization", &accounts)]),
            "the path's {account} does not match the claim tenancy.accounts",
        );
    }

    // The tenant header: equal to the path's tenant, sent once.
    let token = bearer(json!({}));
    let path = "/tenants/t-1/devices/7";
    let allowed = envoy.get(path, &[("authorization", &token), ("x-tenant-id", "t-1")]);
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    for headers in [
        vec![("authorization", token.as_str())],
        vec![("authorization", token.as_str()), ("x-tenant-id", "t-2")],
        vec![
            ("authorization", token.as_str()),
            ("x-tenant-id", "t-1"),
            ("x-tenant-id", "t-1"),
        ],
    ] {
        assert_refused(
            &envoy.get(path, &headers),
            "the path's {tenant} does not match the header x-tenant-id",
        );
    }

    let (jwt, jwt_count) = denied(6, "jwt");
    let (api_key, key_count) = denied(1, "api_key");
    samples_when(&envoy, |samples| {
        samples.get(&jwt) == Some(&jwt_count) && samples.get(&api_key) == Some(&key_count)
    });
}
