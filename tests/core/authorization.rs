//! Authorization beyond scopes (docs/authorization.md): claim conditions of a rule or a
//! provider (Keycloak-shaped roles, exact values, negation), what they mean for API key and
//! Basic callers, and a rule's own providers and audiences; each checked on a cache hit too, in
//! report mode, in `edge-auth explain`, and the configuration errors that name the field.

use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::token::InlineKeys;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{evaluate, Decided, Decision, Settled};
use edge_auth::policy::deny::{Challenge, Denial};
use edge_auth::policy::explain::{explain, GivenKeys, Status, Untraced};
use edge_auth::policy::outcome::{Reason, Verdict};
use edge_auth::policy::Policy;
use edge_auth::request::credential::Request;
use fixtures::{access_config, issuer, now, request, secret, AUDIENCE, ISSUER, KEY_CLIENT};
use serde_json::{json, Value};

const PARTNER_ISSUER: &str = "https://partner.example.com";
const BILLING: &str = "billing-api";

fn policy(config: Value) -> Policy {
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

/// The issuer's configuration with a second audience, a partner provider (same keys, another
/// issuer) and rules that narrow by claims, audience and provider.
fn config() -> Value {
    let mut config = issuer().config();
    config["providers"][0]["audiences"] = json!([AUDIENCE, BILLING]);
    let mut partner = config["providers"][0].clone();
    partner["name"] = json!("partner-idp");
    partner["issuer"] = json!(PARTNER_ISSUER);
    config["providers"].as_array_mut().unwrap().push(partner);
    config["rules"] = json!([
        {"path_prefix": "/admin", "claim_conditions": [
            {"path": "realm_access.roles", "any_of": ["admin", "ops"]},
            {"path": "resource_access.edge-api.roles", "all_of": ["devices:write"]}
        ]},
        {"path_prefix": "/audit", "mode": "report", "claim_conditions": [
            {"path": "realm_access.roles", "any_of": ["auditor"]}
        ]},
        {"path_prefix": "/billing", "audiences": [BILLING]},
        {"path_prefix": "/partners", "providers": ["partner-idp"]}
    ]);
    config
}

fn decide<'a>(policy: &'a Policy, cache: &mut TokenCache, request: &Request) -> Decided<'a> {
    evaluate(
        policy,
        &InlineKeys(&policy.providers),
        cache,
        request,
        now(),
        &Settled::Open,
        &mut Untraced,
    )
}

fn token(overrides: Value) -> String {
    format!(
        "Bearer {}",
        issuer().token(Algorithm::ES256, now(), overrides)
    )
}

fn get(path: &str, authorization: &str) -> Request {
    request("GET", path, &[("authorization", authorization)])
}

fn keycloak(realm: &[&str], client: &[&str]) -> Value {
    json!({
        "realm_access": {"roles": realm},
        "resource_access": {"edge-api": {"roles": client}, "account": {"roles": ["admin"]}}
    })
}

/// The reason and the client's denial of a refused decision.
fn refused(decided: &Decided<'_>) -> (Reason, Denial) {
    match &decided.decision {
        Decision::Deny { denial, .. } => (decided.outcome.reason.unwrap(), denial.clone()),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn keycloak_roles_in_nested_claims_allow_or_refuse_a_route() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let admin = token(keycloak(&["admin", "user"], &["devices:write"]));
    assert_eq!(
        decide(&policy, &mut cache, &get("/admin/users", &admin))
            .outcome
            .verdict,
        Some(Verdict::Allowed)
    );
    // The client role is in another client's roles only: not this one's.
    for (what, claims) in [
        (
            "realm role missing",
            keycloak(&["user"], &["devices:write"]),
        ),
        (
            "client role missing",
            keycloak(&["admin"], &["devices:read"]),
        ),
        (
            "client role of another client",
            json!({"realm_access": {"roles": ["admin"]},
                   "resource_access": {"account": {"roles": ["devices:write"]}}}),
        ),
        ("no roles at all", json!({})),
        (
            "roles as one string",
            json!({"realm_access": {"roles": "admin"},
                   "resource_access": {"edge-api": {"roles": "devices:write user"}}}),
        ),
    ] {
        let decided = decide(&policy, &mut cache, &get("/admin/users", &token(claims)));
        let (reason, denial) = refused(&decided);
        assert_eq!(reason, Reason::ClaimCondition, "{what}");
        let response = denial.response("edge", Challenge::Accepted(&[]));
        assert_eq!(response.status, 403, "{what}");
        assert!(
            response.body.contains(r#""error":"access_denied""#),
            "{what}"
        );
        // The description names the claim, never the token's value.
        assert!(
            response.body.contains("realm_access.roles")
                || response.body.contains("resource_access.edge-api.roles"),
            "{what}: {}",
            response.body
        );
        assert!(!response.body.contains("user"), "{what}");
        assert!(
            decided.outcome.subject.is_some(),
            "{what}: the token passed"
        );
    }
}

#[test]
fn conditions_are_checked_again_on_a_cache_hit() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let user = token(keycloak(&["user"], &[]));
    // Verified (and cached) on a route without conditions...
    let first = decide(&policy, &mut cache, &get("/devices", &user));
    assert_eq!(first.outcome.verdict, Some(Verdict::Allowed));
    // ...then refused from the cache where conditions apply.
    let second = decide(&policy, &mut cache, &get("/admin", &user));
    assert_eq!(refused(&second).0, Reason::ClaimCondition);
    let admin = token(keycloak(&["ops"], &["devices:write"]));
    decide(&policy, &mut cache, &get("/devices", &admin));
    let allowed = decide(&policy, &mut cache, &get("/admin", &admin));
    assert_eq!(allowed.outcome.verdict, Some(Verdict::Allowed));
    let stats = cache.take_stats();
    assert_eq!((stats.hits, stats.misses), (2, 2));
}

#[test]
fn report_mode_forwards_a_failed_condition_with_would_deny() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let decided = decide(&policy, &mut cache, &get("/audit", &token(json!({}))));
    assert_eq!(decided.outcome.verdict, Some(Verdict::WouldDeny));
    assert_eq!(decided.outcome.reason, Some(Reason::ClaimCondition));
    let Decision::Allow(forwarding) = &decided.decision else {
        panic!("not forwarded: {:?}", decided.decision);
    };
    // A condition refuses after the token passed: its identity travels on, as for scopes.
    assert!(forwarding
        .set
        .iter()
        .any(|(name, value)| *name == "x-auth-subject" && value == "alice"));
}

#[test]
fn a_rule_narrows_the_audiences_it_accepts_also_on_a_cache_hit() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let billing = token(json!({"aud": [BILLING, "other"]}));
    let api = token(json!({}));
    assert_eq!(
        decide(&policy, &mut cache, &get("/billing/invoices", &billing))
            .outcome
            .verdict,
        Some(Verdict::Allowed)
    );
    // Both audiences pass the provider's own check elsewhere.
    for bearer in [&billing, &api] {
        let decided = decide(&policy, &mut cache, &get("/devices", bearer));
        assert_eq!(decided.outcome.verdict, Some(Verdict::Allowed));
    }
    // `api` is cached now: the rule still refuses it.
    let decided = decide(&policy, &mut cache, &get("/billing", &api));
    let (reason, denial) = refused(&decided);
    assert_eq!(reason, Reason::RuleAudience);
    assert_eq!(
        denial,
        Denial::InvalidToken("the token's audience is not accepted on this route".into())
    );
    assert_eq!(
        denial.response("edge", Challenge::Accepted(&[])).status,
        401
    );
    assert!(cache.take_stats().hits >= 2);
}

#[test]
fn a_rule_narrows_the_providers_it_accepts_also_on_a_cache_hit() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let partner = token(json!({"iss": PARTNER_ISSUER}));
    let main = token(json!({"iss": ISSUER}));
    let allowed = decide(&policy, &mut cache, &get("/partners", &partner));
    assert_eq!(allowed.outcome.verdict, Some(Verdict::Allowed));
    assert_eq!(allowed.outcome.provider, Some("partner-idp"));
    for _ in 0..2 {
        let decided = decide(&policy, &mut cache, &get("/partners", &main));
        assert_eq!(refused(&decided).0, Reason::RuleProvider);
        assert_eq!(decided.outcome.provider, Some("test-idp"));
    }
    assert_eq!(cache.take_stats().hits, 1);
}

#[test]
fn exact_values_negation_and_space_separated_strings() {
    let mut config = config();
    config["rules"] = json!([
        {"path_prefix": "/tenant", "claim_conditions": [
            {"path": "tenant", "equals": 1},
            {"path": "email_verified", "equals": true},
            {"path": "groups", "not": true, "any_of": ["banned"]}
        ]},
        {"path_prefix": "/words", "claim_conditions": [
            {"path": "scope", "all_of": ["profile:read", "devices:read"], "space_separated": true}
        ]},
        {"path_prefix": "/dotted", "claim_conditions": [
            {"path": "https://example~1com/tier", "equals": "gold"}
        ]}
    ]);
    let policy = policy(config);
    let mut cache = TokenCache::new(16);
    let verdict = |path: &str, claims: Value, cache: &mut TokenCache| {
        let decided = decide(&policy, cache, &get(path, &token(claims)));
        (decided.outcome.verdict, decided.outcome.reason)
    };
    let allowed = (Some(Verdict::Allowed), None);
    let refused = (Some(Verdict::Denied), Some(Reason::ClaimCondition));
    let good = json!({"tenant": 1, "email_verified": true, "groups": ["staff"]});
    assert_eq!(verdict("/tenant", good, &mut cache), allowed);
    let no_groups = json!({"tenant": 1.0, "email_verified": true});
    assert_eq!(verdict("/tenant", no_groups, &mut cache), allowed);
    for bad in [
        json!({"tenant": "1", "email_verified": true}),
        json!({"tenant": 1, "email_verified": "true"}),
        json!({"tenant": 1, "email_verified": true, "groups": ["staff", "banned"]}),
        json!({"email_verified": true}),
    ] {
        assert_eq!(
            verdict("/tenant", bad.clone(), &mut cache),
            refused,
            "{bad}"
        );
    }
    assert_eq!(verdict("/words", json!({}), &mut cache), allowed);
    let one_scope = json!({"scope": "devices:read"});
    assert_eq!(verdict("/words", one_scope, &mut cache), refused);
    // A dot inside a claim name is written ~1 (the name here is "https://example.com/tier").
    let tier = json!({"https://example.com/tier": "gold"});
    assert_eq!(verdict("/dotted", tier, &mut cache), allowed);
    let nested = json!({"https://example": {"com/tier": "gold"}});
    assert_eq!(verdict("/dotted", nested, &mut cache), refused);
}

#[test]
fn a_provider_default_applies_where_a_rule_sets_no_conditions() {
    let mut config = config();
    config["providers"][0]["claim_conditions"] =
        json!([{"path": "email_verified", "equals": true}]);
    config["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"path_prefix": "/open", "claim_conditions": []}));
    let policy = policy(config);
    let mut cache = TokenCache::new(16);
    let unverified = token(json!({}));
    let verified = token(json!({"email_verified": true}));
    // A rule without conditions (and the default route) take the provider's.
    for path in ["/devices", "/elsewhere"] {
        let decided = decide(&policy, &mut cache, &get(path, &unverified));
        assert_eq!(refused(&decided).0, Reason::ClaimCondition, "{path}");
        let decided = decide(&policy, &mut cache, &get(path, &verified));
        assert_eq!(decided.outcome.verdict, Some(Verdict::Allowed), "{path}");
    }
    // An empty list of the rule's own clears the default; the rule's own replace it.
    let open = decide(&policy, &mut cache, &get("/open", &unverified));
    assert_eq!(open.outcome.verdict, Some(Verdict::Allowed));
    let admin = token(keycloak(&["admin"], &["devices:write"]));
    let decided = decide(&policy, &mut cache, &get("/admin", &admin));
    assert_eq!(decided.outcome.verdict, Some(Verdict::Allowed));
    // Only the provider's own tokens: the partner's have no default.
    let partner = token(json!({"iss": PARTNER_ISSUER}));
    let decided = decide(&policy, &mut cache, &get("/partners", &partner));
    assert_eq!(decided.outcome.verdict, Some(Verdict::Allowed));
}

#[test]
fn api_key_callers_are_refused_where_a_rule_has_conditions_unless_it_lets_them_skip() {
    let mut config = access_config();
    config["providers"][0]["claim_conditions"] =
        json!([{"path": "email_verified", "equals": true}]);
    let rules = config["rules"].as_array_mut().unwrap();
    let admin = json!([{"path": "realm_access.roles", "any_of": ["admin"]}]);
    rules.insert(
        0,
        json!({"path_prefix": "/admin", "claim_conditions": admin}),
    );
    rules.insert(
        0,
        json!({"path_prefix": "/mixed", "claim_conditions": admin,
               "clients_skip_claim_conditions": true}),
    );
    let policy = policy(config);
    let mut cache = TokenCache::new(16);
    let key = |path: &str| {
        let client_secret = secret(KEY_CLIENT);
        let req = request(
            "GET",
            path,
            &[("clientid", KEY_CLIENT), ("clientsecret", &client_secret)],
        );
        let decided = decide(&policy, &mut TokenCache::new(1), &req);
        (decided.outcome.verdict, decided.outcome.reason)
    };
    assert_eq!(
        key("/admin"),
        (Some(Verdict::Denied), Some(Reason::ClaimCondition))
    );
    assert_eq!(key("/mixed"), (Some(Verdict::Allowed), None));
    // A provider's default is about its tokens: clients are not held to it.
    assert_eq!(key("/elsewhere"), (Some(Verdict::Allowed), None));
    let admin_token = token(json!({"realm_access": {"roles": ["admin"]}}));
    for path in ["/admin", "/mixed"] {
        let decided = decide(&policy, &mut cache, &get(path, &admin_token));
        assert_eq!(decided.outcome.verdict, Some(Verdict::Allowed), "{path}");
    }
}

#[test]
fn explain_names_the_failed_condition_and_the_rule_token_check() {
    let policy = policy(config());
    let user = token(keycloak(&["user"], &["devices:write"]));
    let explanation = explain(
        &policy,
        &GivenKeys::new(&policy),
        &get("/admin", &user),
        now(),
    );
    let rule = &explanation.steps[1];
    assert!(
        rule.detail.contains(
            "claim conditions [realm_access.roles any_of [\"admin\",\"ops\"]; \
             resource_access.edge-api.roles all_of [\"devices:write\"]]"
        ),
        "{}",
        rule.detail
    );
    let last = explanation.steps.last().unwrap();
    assert_eq!((last.check, last.status), ("claims", Status::Failed));
    assert_eq!(
        last.detail,
        "fails realm_access.roles any_of [\"admin\",\"ops\"]"
    );
    let api = token(json!({}));
    let explanation = explain(
        &policy,
        &GivenKeys::new(&policy),
        &get("/billing", &api),
        now(),
    );
    assert!(explanation.steps[1]
        .detail
        .contains("(audiences billing-api)"));
    let last = explanation.steps.last().unwrap();
    assert_eq!((last.check, last.status), ("rule token", Status::Failed));
}

/// A change to the configuration.
type Change = dyn Fn(&mut Value);

#[test]
fn configuration_errors_name_the_field() {
    let error_of = |change: &dyn Fn(&mut Value)| {
        let mut config = config();
        change(&mut config);
        Policy::from_json(config.to_string().as_bytes())
            .err()
            .unwrap()
            .to_string()
    };
    let condition = |condition: Value| {
        move |c: &mut Value| {
            c["rules"][2]["claim_conditions"] =
                json!([{"path": "a", "present": true}, condition.clone()])
        }
    };
    let cases: Vec<(Box<Change>, &str)> = vec![
        (
            Box::new(condition(json!({"path": "a..b", "present": true}))),
            "rules[2].claim_conditions[1].path: has an empty segment",
        ),
        (
            Box::new(condition(json!({"path": "a~2", "present": true}))),
            "rules[2].claim_conditions[1].path: has a \"~\" not followed by 0 or 1",
        ),
        (
            Box::new(condition(json!({"path": "a", "any_of": ["x"], "equals": "x"}))),
            "rules[2].claim_conditions[1]: give exactly one of any_of, all_of, equals, present",
        ),
        (
            Box::new(condition(json!({"path": "a"}))),
            "rules[2].claim_conditions[1]: give exactly one of",
        ),
        (
            Box::new(condition(json!({"path": "a", "any_of": []}))),
            "rules[2].claim_conditions[1].any_of: must list 1 to 256 values",
        ),
        (
            Box::new(condition(json!({"path": "a", "all_of": ["x", {"y": 1}]}))),
            "rules[2].claim_conditions[1].all_of[1]: must be a string, number or boolean",
        ),
        (
            Box::new(condition(json!({"path": "a", "equals": [1]}))),
            "rules[2].claim_conditions[1].equals: must be a string, number or boolean",
        ),
        (
            Box::new(condition(json!({"path": "a", "present": false}))),
            "rules[2].claim_conditions[1].present: must be true",
        ),
        (
            Box::new(condition(
                json!({"path": "a", "equals": "x", "space_separated": true}),
            )),
            "rules[2].claim_conditions[1].space_separated: only with any_of or all_of",
        ),
        (
            Box::new(condition(json!({"path": "a", "present": true, "nott": true}))),
            "rules[2].claim_conditions[1].nott: unknown field `nott`",
        ),
        (
            Box::new(|c: &mut Value| {
                c["providers"][0]["claim_conditions"] = json!([{"path": ".x", "present": true}])
            }),
            "providers[0].claim_conditions[0].path: has an empty segment",
        ),
        (
            Box::new(|c: &mut Value| c["rules"][3]["providers"] = json!(["test-idp", "nobody"])),
            "rules[3].providers[1]: no provider is named \"nobody\"",
        ),
        (
            Box::new(|c: &mut Value| c["rules"][3]["providers"] = json!([])),
            "rules[3].providers: must name at least one provider",
        ),
        (
            Box::new(|c: &mut Value| c["rules"][2]["audiences"] = json!(["elsewhere"])),
            "rules[2].audiences[0]: \"elsewhere\" is not in the audiences of a provider the rule accepts",
        ),
        (
            Box::new(|c: &mut Value| {
                c["providers"][1]["audiences"] = json!(["partner-api"]);
                c["rules"][3]["audiences"] = json!([BILLING]);
            }),
            "rules[3].audiences[0]: \"billing-api\" is not in the audiences",
        ),
        (
            Box::new(|c: &mut Value| c["rules"][0]["clients_skip_claim_conditions"] = json!(true)),
            "",
        ),
        (
            Box::new(|c: &mut Value| c["rules"][2]["clients_skip_claim_conditions"] = json!(true)),
            "rules[2].clients_skip_claim_conditions: only with claim_conditions of the rule's own",
        ),
        (
            Box::new(|c: &mut Value| {
                c["rules"][0] = json!({"path_prefix": "/p", "public": true, "audiences": [BILLING]})
            }),
            "rules[0].audiences: a public rule cannot set audiences",
        ),
    ];
    for (change, expected) in cases {
        if expected.is_empty() {
            let mut config = config();
            change(&mut config);
            assert!(Policy::from_json(config.to_string().as_bytes()).is_ok());
            continue;
        }
        let error = error_of(&*change);
        assert!(
            error.starts_with(expected),
            "{error} should start {expected}"
        );
    }
    let mut keys_only = access_config();
    keys_only["rules"] = json!([{"path_prefix": "/k", "accept": ["api_key"],
        "claim_conditions": [{"path": "a", "present": true}]}]);
    let error = Policy::from_json(keys_only.to_string().as_bytes())
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "rules[0].claim_conditions: applies to tokens, and the rule does not accept jwt"
    );
}
