//! End-to-end for claim conditions on Keycloak-shaped tokens that a real OpenID Connect provider
//! signed: `tests/oidc/provider.mjs` puts `realm_access`, `resource_access` and `groups` into
//! the access tokens of its clients "admin" and "operator" (and nothing into "reader"'s), and
//! edge-auth, with the provider's keys from discovery, lets each token through or refuses it as
//! its roles say, the same on a token cache hit, forwarding the group list and never the token.

use crate::oidc::provider;
use crate::operations::samples_when;
use crate::{fixtures, support};

use serde_json::{json, Value};
use support::oidc::OidcProvider;
use support::{Envoy, Options};

const REALM_ROLES: &str = "realm_access.roles";
const CLIENT_ROLES: &str = "resource_access.edge-api.roles";

fn config(idp: &OidcProvider) -> Value {
    let mut config = fixtures::issuer().config();
    config["providers"][0] = provider(idp, json!({}));
    config["rules"] = json!([
        {"path_prefix": "/admin", "claim_conditions": [
            {"path": REALM_ROLES, "any_of": ["admin"]}
        ]},
        {"path_prefix": "/devices", "methods": ["POST"], "claim_conditions": [
            {"path": CLIENT_ROLES, "all_of": ["devices:write"]}
        ]},
        {"path_prefix": "/devices", "methods": ["GET"], "scopes": ["devices:read"]}
    ]);
    config["forward"]["claims"] = json!({"groups": "x-auth-groups"});
    config
}

/// A JWT access token for `client` from the provider's real token endpoint.
fn token(idp: &OidcProvider, client: &str) -> String {
    let (status, answer) =
        idp.client_credentials(client, &format!("{client}-secret"), "devices:read");
    assert_eq!(status, 200, "{answer}");
    answer["access_token"].as_str().unwrap().to_string()
}

#[test]
fn keycloak_roles_in_real_provider_tokens_decide_each_route() {
    let idp = OidcProvider::start();
    let envoy = Envoy::start_with(
        &config(&idp).to_string(),
        &Options::default().cluster("oidc", idp.port()),
    );
    let tokens = [
        ("admin", token(&idp, "admin")),
        ("operator", token(&idp, "operator")),
        ("reader", token(&idp, "reader")),
    ];
    // (client, method, path, the claim whose condition fails or None when allowed)
    let cases = [
        ("admin", "GET", "/admin/users", None),
        ("admin", "POST", "/devices/7", None),
        ("admin", "GET", "/devices/7", None),
        ("operator", "GET", "/admin/users", Some(REALM_ROLES)),
        ("operator", "POST", "/devices/7", None),
        ("reader", "GET", "/admin/users", Some(REALM_ROLES)),
        ("reader", "POST", "/devices/7", Some(CLIENT_ROLES)),
        ("reader", "GET", "/devices/7", None),
    ];
    for (client, method, path, fails) in cases {
        let token = &tokens.iter().find(|(name, _)| *name == client).unwrap().1;
        let authorization = format!("Bearer {token}");
        // Twice: with one worker the second is a token cache hit, and decides the same.
        for attempt in 0..2 {
            let what = format!("{client} {method} {path} (attempt {attempt})");
            let response = envoy.request(method, path, &[("authorization", &authorization)]);
            let Some(claim) = fails else {
                assert_eq!(response.status, 200, "{what}: {}", response.body);
                let upstream = response.upstream();
                assert_eq!(upstream.header("x-auth-subject"), Some(client), "{what}");
                assert_eq!(upstream.header("authorization"), None, "{what}");
                assert!(
                    upstream
                        .headers
                        .iter()
                        .all(|(_, value)| !value.contains(token.as_str())),
                    "{what}: the token reached the upstream"
                );
                // An array of plain strings is forwarded as a comma-separated list.
                let groups = (client == "admin").then_some("ops,dev");
                assert_eq!(upstream.header("x-auth-groups"), groups, "{what}");
                continue;
            };
            assert_eq!(response.status, 403, "{what}: {}", response.body);
            let body: Value = serde_json::from_str(&response.body).unwrap();
            assert_eq!(body["error"], "access_denied", "{what}");
            assert_eq!(
                body["error_description"],
                format!("the token's claim {claim} does not meet a condition of this route"),
                "{what}"
            );
        }
    }

    let labels = "credential=\"jwt\",provider=\"oidc-provider\"";
    let allowed = format!("edge_auth_requests_total{{decision=\"allowed\",{labels}}}");
    let refused = format!("edge_auth_denied_total{{reason=\"claim_condition\",{labels}}}");
    // Three tokens: each one's first request misses the cache (the very first may miss twice,
    // once more when it resumes after the keys arrive), the 13 other requests hit it.
    samples_when(&envoy, |samples| {
        samples.get(&allowed) == Some(&10)
            && samples.get(&refused) == Some(&6)
            && samples.get("edge_auth_token_cache_misses_total{}") >= Some(&3)
            && samples.get("edge_auth_token_cache_hits_total{}") == Some(&13)
    });
}
