//! End-to-end for authorization beyond scopes (docs/authorization.md): a claim condition on
//! Keycloak-shaped roles and a rule's own audience, in a real Envoy, each refusal counted with
//! its reason in `/stats/prometheus`.

use crate::operations::samples_when;
use crate::{fixtures, support};

use edge_auth::jwt::algorithm::Algorithm;
use fixtures::{issuer, now, AUDIENCE};
use serde_json::{json, Value};
use support::Envoy;

const BILLING: &str = "billing-api";

fn config() -> Value {
    let mut config = issuer().config();
    config["providers"][0]["audiences"] = json!([AUDIENCE, BILLING]);
    config["rules"] = json!([
        {"path_prefix": "/admin", "claim_conditions": [
            {"path": "realm_access.roles", "any_of": ["admin"]},
            {"path": "resource_access.edge-api.roles", "all_of": ["devices:write"]}
        ]},
        {"path_prefix": "/billing", "audiences": [BILLING]}
    ]);
    config
}

fn bearer(claims: Value) -> String {
    format!("Bearer {}", issuer().token(Algorithm::ES256, now(), claims))
}

#[test]
fn a_claim_condition_and_a_rule_audience_refuse_with_their_reasons() {
    let envoy = Envoy::start(&config().to_string());
    let admin = bearer(json!({"realm_access": {"roles": ["admin"]},
                              "resource_access": {"edge-api": {"roles": ["devices:write"]}}}));
    let user = bearer(json!({"realm_access": {"roles": ["user"]},
                             "resource_access": {"edge-api": {"roles": ["devices:write"]}}}));
    let allowed = envoy.get("/admin/users", &[("authorization", &admin)]);
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.upstream().header("x-auth-subject"), Some("alice"));
    // Twice: the second may come from the worker's token cache, and is refused the same.
    for _ in 0..2 {
        let refused = envoy.get("/admin/users", &[("authorization", &user)]);
        assert_eq!(refused.status, 403, "{}", refused.body);
        let body: Value = serde_json::from_str(&refused.body).unwrap();
        assert_eq!(body["error"], "access_denied");
        assert_eq!(
            body["error_description"],
            "the token's claim realm_access.roles does not meet a condition of this route"
        );
    }

    let api = bearer(json!({}));
    let billing = bearer(json!({"aud": BILLING}));
    assert_eq!(
        envoy.get("/devices", &[("authorization", &api)]).status,
        200
    );
    let wrong = envoy.get("/billing", &[("authorization", &api)]);
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("www-authenticate") && value.contains("error=\"invalid_token\"")
    }));
    let right = envoy.get("/billing", &[("authorization", &billing)]);
    assert_eq!(right.status, 200, "{}", right.body);

    let claim = "edge_auth_denied_total{reason=\"claim_condition\",credential=\"jwt\",provider=\"test-idp\"}";
    let audience =
        "edge_auth_denied_total{reason=\"rule_audience\",credential=\"jwt\",provider=\"test-idp\"}";
    samples_when(&envoy, |samples| {
        samples.get(claim) == Some(&2) && samples.get(audience) == Some(&1)
    });
}
