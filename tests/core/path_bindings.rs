//! Path templates and their bindings (docs/authorization.md, Path templates): the three
//! scenarios (an application in the path granted to the credential, an account granted by a
//! token's claim, a tenant equal to a header), each on a cache hit too, in report mode and in
//! `edge-auth explain`; and how captured segments compare (escapes, `%2F` kept as data).

use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::token::InlineKeys;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{evaluate, Decided, Decision, Settled};
use edge_auth::policy::deny::Challenge;
use edge_auth::policy::explain::{explain, GivenKeys, Status, Untraced};
use edge_auth::policy::outcome::{Reason, Verdict};
use edge_auth::policy::Policy;
use edge_auth::request::credential::Request;
use fixtures::{access_config, issuer, now, request, secret, APP, KEY_CLIENT, OTHER_APP};
use serde_json::{json, Value};

fn policy(config: Value) -> Policy {
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

/// The access configuration (API key clients granted `APP`) with the three bound templates
/// before its rules, and one in report mode.
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
        json!({"path_template": "/audit/{account}/**", "mode": "report",
               "bind": {"account": {"claim": "tenancy.accounts"}}}),
    ]
    .into_iter()
    .enumerate()
    {
        rules.insert(at, rule);
    }
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

fn bearer(overrides: Value) -> String {
    format!(
        "Bearer {}",
        issuer().token(Algorithm::ES256, now(), overrides)
    )
}

fn with_token(path: &str, token: &str, extra: &[(&str, &str)]) -> Request {
    let mut headers = vec![("authorization", token)];
    headers.extend_from_slice(extra);
    request("GET", path, &headers)
}

fn with_key(path: &str) -> Request {
    let secret = secret(KEY_CLIENT);
    request(
        "GET",
        path,
        &[("clientid", KEY_CLIENT), ("clientsecret", secret.as_str())],
    )
}

/// The reason and the client's 403 body of a refused decision.
fn refused(decided: &Decided<'_>) -> (Reason, u32, String) {
    match &decided.decision {
        Decision::Deny { denial, .. } => {
            let response = denial.response("edge", Challenge::Accepted(&[]));
            (
                decided.outcome.reason.unwrap(),
                response.status,
                response.body,
            )
        }
        other => panic!("not refused: {other:?}"),
    }
}

fn allowed(decided: &Decided<'_>) -> bool {
    decided.outcome.verdict == Some(Verdict::Allowed)
}

#[test]
fn the_application_in_the_path_must_be_granted_to_the_credential() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let granted = format!("/odata/applications/{APP}/Devices('7')");
    let other = format!("/odata/applications/{OTHER_APP}/Devices");
    let token = bearer(json!({"apps": [APP]}));
    assert!(allowed(&decide(
        &policy,
        &mut cache,
        &with_token(&granted, &token, &[])
    )));
    // The same token again, from the cache: the binding is checked on the kept identity.
    let (reason, status, body) = refused(&decide(
        &policy,
        &mut cache,
        &with_token(&other, &token, &[]),
    ));
    assert_eq!((reason, status), (Reason::PathBinding, 403));
    assert!(body.contains(r#""error":"access_denied""#), "{body}");
    assert!(
        body.contains("the path's {appId} does not match the credential's applications"),
        "{body}"
    );
    assert!(!body.contains(OTHER_APP), "never the value: {body}");
    assert_eq!(cache.take_stats().hits, 1);
    // An API key client's `apps` are its granted applications.
    assert!(allowed(&decide(&policy, &mut cache, &with_key(&granted))));
    let (reason, ..) = refused(&decide(&policy, &mut cache, &with_key(&other)));
    assert_eq!(reason, Reason::PathBinding);
    // A token without an apps claim grants none.
    let (reason, ..) = refused(&decide(
        &policy,
        &mut cache,
        &with_token(&granted, &bearer(json!({})), &[]),
    ));
    assert_eq!(reason, Reason::PathBinding);
}

#[test]
fn the_account_in_the_path_must_be_among_the_tokens_claim_values_also_on_a_cache_hit() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let token = bearer(json!({"tenancy": {"accounts": ["acme", "globex"]}}));
    let get = |path: &str| with_token(path, &token, &[]);
    assert!(allowed(&decide(
        &policy,
        &mut cache,
        &get("/accounts/acme/devices")
    )));
    assert!(allowed(&decide(
        &policy,
        &mut cache,
        &get("/accounts/globex")
    )));
    for path in [
        "/accounts/initech/devices",
        // Case-sensitive: the segment is compared exactly.
        "/accounts/ACME/devices",
    ] {
        let (reason, status, body) = refused(&decide(&policy, &mut cache, &get(path)));
        assert_eq!((reason, status), (Reason::PathBinding, 403), "{path}");
        assert!(
            body.contains("the path's {account} does not match the claim tenancy.accounts"),
            "{body}"
        );
    }
    assert!(cache.take_stats().hits >= 3, "checked on cache hits");
    // A single string claim is a list of one; a number never equals the segment spelling it.
    let single = bearer(json!({"tenancy": {"accounts": "acme"}}));
    assert!(allowed(&decide(
        &policy,
        &mut cache,
        &with_token("/accounts/acme", &single, &[])
    )));
    let number = bearer(json!({"tenancy": {"accounts": [42]}}));
    let (reason, ..) = refused(&decide(
        &policy,
        &mut cache,
        &with_token("/accounts/42", &number, &[]),
    ));
    assert_eq!(reason, Reason::PathBinding);
    // A token without the claim is granted no account.
    let (reason, ..) = refused(&decide(
        &policy,
        &mut cache,
        &with_token("/accounts/acme", &bearer(json!({})), &[]),
    ));
    assert_eq!(reason, Reason::PathBinding);
}

#[test]
fn the_tenant_in_the_path_must_equal_the_tenant_header_sent_once() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let token = bearer(json!({}));
    let path = "/tenants/t-1/devices/7";
    let decided = decide(
        &policy,
        &mut cache,
        &with_token(path, &token, &[("x-tenant-id", "t-1")]),
    );
    assert!(allowed(&decided), "{:?}", decided.decision);
    assert!(allowed(&decide(&policy, &mut cache, &{
        let secret = secret(KEY_CLIENT);
        request(
            "GET",
            path,
            &[
                ("clientid", KEY_CLIENT),
                ("clientsecret", secret.as_str()),
                ("x-tenant-id", "t-1"),
            ],
        )
    })));
    for (what, headers) in [
        ("absent", vec![]),
        ("another tenant", vec![("x-tenant-id", "t-2")]),
        (
            "repeated",
            vec![("x-tenant-id", "t-1"), ("x-tenant-id", "t-1")],
        ),
        ("a list", vec![("x-tenant-id", "t-1,t-2")]),
        ("letter case", vec![("x-tenant-id", "T-1")]),
    ] {
        let decided = decide(&policy, &mut cache, &with_token(path, &token, &headers));
        let (reason, status, body) = refused(&decided);
        assert_eq!((reason, status), (Reason::PathBinding, 403), "{what}");
        assert!(
            body.contains("the path's {tenant} does not match the header x-tenant-id"),
            "{what}: {body}"
        );
    }
    // Not this template's shape: the next rules decide (`/tenants/t-1` has no device).
    let decided = decide(
        &policy,
        &mut cache,
        &with_token("/tenants/t-1", &token, &[]),
    );
    assert!(allowed(&decided));
}

#[test]
fn api_key_callers_have_no_claims_to_bind() {
    let mut config = config();
    config["rules"][1]["accept"] = json!(["jwt", "api_key"]);
    let policy = policy(config);
    let mut cache = TokenCache::new(16);
    let (reason, status, _) = refused(&decide(&policy, &mut cache, &with_key("/accounts/acme")));
    assert_eq!((reason, status), (Reason::PathBinding, 403));
}

#[test]
fn report_mode_forwards_a_failed_binding_with_would_deny() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let token = bearer(json!({"tenancy": {"accounts": ["acme"]}}));
    let decided = decide(
        &policy,
        &mut cache,
        &with_token("/audit/initech/x", &token, &[]),
    );
    assert_eq!(decided.outcome.verdict, Some(Verdict::WouldDeny));
    assert_eq!(decided.outcome.reason, Some(Reason::PathBinding));
    assert!(matches!(decided.decision, Decision::Allow(_)));
}

#[test]
fn captured_segments_compare_in_canonical_form() {
    let policy = policy(config());
    let mut cache = TokenCache::new(16);
    let token = bearer(json!({"tenancy": {"accounts": ["acme", "a/b", "a%2Fb", "é"]}}));
    let get = |path: &str| with_token(path, &token, &[]);
    // An escaped unreserved character is decoded before comparison.
    assert!(allowed(&decide(
        &policy,
        &mut cache,
        &get("/accounts/%61cme")
    )));
    // Other escapes are kept (hex digits upper-cased): `%C3%A9` is not the claim's "é".
    let (reason, ..) = refused(&decide(&policy, &mut cache, &get("/accounts/%c3%a9")));
    assert_eq!(reason, Reason::PathBinding);
    // `%2F` is refused with 400 by default, before any rule...
    let (reason, status, _) = refused(&decide(&policy, &mut cache, &get("/accounts/a%2Fb")));
    assert_eq!((reason, status), (Reason::MalformedRequest, 400));
    // ...and with encoded delimiters kept it is data inside the one segment, never a split.
    let mut keep = config();
    keep["paths"] = json!({"encoded_delimiters": "keep"});
    keep["rules"][1]["path_template"] = json!("/accounts/{account}");
    let keep = self::policy(keep);
    assert!(allowed(&decide(&keep, &mut cache, &get("/accounts/a%2fb"))));
    let other = bearer(json!({"tenancy": {"accounts": ["a"]}}));
    let (reason, ..) = refused(&decide(
        &keep,
        &mut cache,
        &with_token("/accounts/a%2Fb", &other, &[]),
    ));
    assert_eq!(reason, Reason::PathBinding);
}

#[test]
fn explain_names_the_binding_that_failed() {
    let policy = policy(config());
    let token = bearer(json!({"tenancy": {"accounts": ["acme"]}}));
    let explanation = explain(
        &policy,
        &GivenKeys::new(&policy),
        &with_token("/accounts/initech", &token, &[]),
        now(),
    );
    let rule = &explanation.steps[1].detail;
    assert!(
        rule.contains("path_template \"/accounts/{account}/**\"")
            && rule.contains("; binds {account} to the claim tenancy.accounts;"),
        "{rule}"
    );
    let last = explanation.steps.last().unwrap();
    assert_eq!((last.check, last.status), ("path binding", Status::Failed));
    assert_eq!(
        last.detail,
        "{account} does not match the claim tenancy.accounts"
    );
    let explanation = explain(
        &policy,
        &GivenKeys::new(&policy),
        &with_token("/accounts/acme", &token, &[]),
        now(),
    );
    assert!(explanation
        .steps
        .iter()
        .any(|step| step.check == "path binding"
            && step.status == Status::Passed
            && step.detail == "matched: {account} by the claim tenancy.accounts"));
}
