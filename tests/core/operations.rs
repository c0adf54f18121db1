//! What operators see of a decision: a reason code for every refusal, report mode (forward and
//! count instead of refusing, without ever forwarding an unchecked identity), and the trace
//! `edge-auth explain` prints. The real-Envoy side (metrics, access log) is in tests/envoy.

use crate::fixtures;
use crate::log_capture::lines_of;

use edge_auth::issuer::remote_keys::Slot;
use edge_auth::issuer::revocation::{RevocationList, RevocationSlot};
use edge_auth::issuer::WorkerKeys;
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::token::{InlineKeys, KeyLookup};
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{evaluate, Decided, Decision, Forwarding, Settled};
use edge_auth::policy::deny::Denial;
use edge_auth::policy::explain::{explain, Action, GivenKeys, Status, Untraced};
use edge_auth::policy::outcome::{Reason, Verdict};
use edge_auth::policy::Policy;
use edge_auth::request::credential::{CredentialKind, Request};
use fixtures::{access_config, basic, issuer, now, request, secret, APP, KEY_CLIENT};
use serde_json::{json, Value};

fn policy(config: Value) -> Policy {
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

fn decide<'a>(policy: &'a Policy, request: &Request, t: u64) -> Decided<'a> {
    let mut cache = TokenCache::new(16);
    evaluate(
        policy,
        &InlineKeys(&policy.providers),
        &mut cache,
        request,
        t,
        &Settled::Open,
        &mut Untraced,
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn forwarded<'a>(decided: &Decided<'a>) -> Forwarding<'a> {
    match &decided.decision {
        Decision::Allow(forwarding) => forwarding.clone(),
        other => panic!("not forwarded: {other:?}"),
    }
}

#[test]
fn every_refusal_names_its_reason_and_the_response_is_unchanged() {
    let policy = policy(access_config());
    let t = now();
    let i = issuer();
    let token = |overrides: Value| bearer(&i.token(Algorithm::ES256, t, overrides));
    let good = token(json!({}));
    let stranger = edge_auth::jwt::mint::SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("test-es256")
        .sign(&i.claims(t, json!({})))
        .unwrap();
    let unknown_kid = edge_auth::jwt::mint::SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("nobody")
        .sign(&i.claims(t, json!({})))
        .unwrap();
    let unsigned = format!(
        "{}.{}.",
        fixtures::b64json(&json!({"alg": "none"})),
        fixtures::b64json(&json!(i.claims(t, json!({}))))
    );
    let key_secret = secret(KEY_CLIENT);
    let wrong_basic = basic(KEY_CLIENT, "wrong");
    let cases: Vec<(&str, Request, Reason, u32, Option<&str>)> = vec![
        (
            "no credential",
            request("GET", "/devices", &[]),
            Reason::MissingCredential,
            401,
            None,
        ),
        (
            "dot-segment",
            request("GET", "/public/%2e%2e/devices", &[]),
            Reason::MalformedRequest,
            400,
            None,
        ),
        (
            "expired",
            request(
                "GET",
                "/devices",
                &[(
                    "authorization",
                    &token(json!({"iat": t - 7200, "exp": t - 3600})),
                )],
            ),
            Reason::Expired,
            401,
            Some("test-idp"),
        ),
        (
            "not yet valid",
            request(
                "GET",
                "/devices",
                &[("authorization", &token(json!({"nbf": t + 3600})))],
            ),
            Reason::NotYetValid,
            401,
            Some("test-idp"),
        ),
        (
            "bad signature",
            request("GET", "/devices", &[("authorization", &bearer(&stranger))]),
            Reason::BadSignature,
            401,
            Some("test-idp"),
        ),
        (
            "unknown kid",
            request(
                "GET",
                "/devices",
                &[("authorization", &bearer(&unknown_kid))],
            ),
            Reason::UnknownKey,
            401,
            Some("test-idp"),
        ),
        (
            "untrusted issuer",
            request(
                "GET",
                "/devices",
                &[("authorization", &token(json!({"iss": "https://evil"})))],
            ),
            Reason::UntrustedIssuer,
            401,
            None,
        ),
        (
            "wrong audience",
            request(
                "GET",
                "/devices",
                &[("authorization", &token(json!({"aud": "other"})))],
            ),
            Reason::WrongAudience,
            401,
            Some("test-idp"),
        ),
        (
            "lifetime too long",
            request(
                "GET",
                "/devices",
                &[("authorization", &token(json!({"exp": t + 40000})))],
            ),
            Reason::LifetimeTooLong,
            401,
            Some("test-idp"),
        ),
        (
            "alg none",
            request("GET", "/devices", &[("authorization", &bearer(&unsigned))]),
            Reason::AlgorithmNotAllowed,
            401,
            Some("test-idp"),
        ),
        (
            "not a JWT",
            request("GET", "/devices", &[("authorization", "Bearer abc.def")]),
            Reason::MalformedToken,
            401,
            None,
        ),
        (
            "scope",
            request("POST", "/devices", &[("authorization", &good)]),
            Reason::InsufficientScope,
            403,
            Some("test-idp"),
        ),
        (
            "wrong secret",
            request(
                "GET",
                "/devices",
                &[("clientid", KEY_CLIENT), ("clientsecret", "wrong")],
            ),
            Reason::InvalidClient,
            401,
            None,
        ),
        (
            "wrong Basic password",
            request("GET", "/legacy", &[("authorization", &wrong_basic)]),
            Reason::InvalidClient,
            401,
            None,
        ),
        (
            "kind not accepted",
            request("GET", "/legacy", &[("authorization", &good)]),
            Reason::CredentialNotAccepted,
            401,
            None,
        ),
        (
            "two credentials",
            request(
                "GET",
                "/devices",
                &[
                    ("authorization", &good),
                    ("clientid", KEY_CLIENT),
                    ("clientsecret", &key_secret),
                ],
            ),
            Reason::MalformedRequest,
            400,
            None,
        ),
        (
            "application not granted",
            request(
                "GET",
                "/devices",
                &[
                    ("clientid", KEY_CLIENT),
                    ("clientsecret", &key_secret),
                    ("appid", fixtures::OTHER_APP),
                ],
            ),
            Reason::Application,
            403,
            None,
        ),
        (
            "network",
            request(
                "GET",
                "/devices",
                &[
                    ("clientid", fixtures::REMOTE_CLIENT),
                    ("clientsecret", &secret(fixtures::REMOTE_CLIENT)),
                ],
            ),
            Reason::Network,
            403,
            None,
        ),
        (
            "origin",
            request(
                "GET",
                "/devices",
                &[
                    ("clientid", fixtures::WEB_CLIENT),
                    ("clientsecret", &secret(fixtures::WEB_CLIENT)),
                    ("origin", "https://evil.example.net"),
                ],
            ),
            Reason::Origin,
            403,
            None,
        ),
    ];
    for (what, req, reason, status, provider) in cases {
        let (decided, lines) = lines_of(|| decide(&policy, &req, t));
        // One exit for every refusal: one debug line, from the same outcome.
        let denied: Vec<&String> = lines.iter().filter(|l| l.contains("denied ")).collect();
        assert_eq!(denied.len(), 1, "{what}: {lines:?}");
        let expected = format!(
            "(reason {}, credential {}, provider {})",
            reason.code(),
            decided
                .outcome
                .credential
                .map_or("none", |kind| kind.name()),
            provider.unwrap_or("none")
        );
        assert!(
            denied[0].starts_with(&format!("DEBUG denied {} ", req.method))
                && denied[0].ends_with(&expected),
            "{what}: {denied:?} should end {expected}"
        );
        let Decision::Deny { denial, challenge } = &decided.decision else {
            panic!("{what}: not denied: {:?}", decided.decision);
        };
        assert_eq!(decided.outcome.verdict, Some(Verdict::Denied), "{what}");
        assert_eq!(decided.outcome.reason, Some(reason), "{what}");
        assert_eq!(decided.outcome.provider, provider, "{what}");
        assert_eq!(denial.response("edge", *challenge).status, status, "{what}");
        // Only a credential that passed names its caller (then a later check refused it).
        let passed = matches!(
            reason,
            Reason::InsufficientScope | Reason::Application | Reason::Network | Reason::Origin
        );
        assert_eq!(decided.outcome.subject.is_some(), passed, "{what}");
    }
}

#[test]
fn a_passing_credential_names_its_caller() {
    let policy = policy(access_config());
    let t = now();
    let token = bearer(&issuer().token(Algorithm::RS256, t, json!({"client_id": "portal"})));
    let decided = decide(
        &policy,
        &request("GET", "/devices", &[("authorization", &token)]),
        t,
    );
    let outcome = decided.outcome;
    assert_eq!(outcome.verdict, Some(Verdict::Allowed));
    assert_eq!(outcome.reason, None);
    assert_eq!(outcome.credential, Some(CredentialKind::Jwt));
    assert_eq!(outcome.provider, Some("test-idp"));
    assert_eq!(outcome.subject.as_deref(), Some("alice"));
    assert_eq!(outcome.client.as_deref(), Some("portal"));

    let key = secret(KEY_CLIENT);
    let decided = decide(
        &policy,
        &request(
            "GET",
            "/devices",
            &[("clientid", KEY_CLIENT), ("clientsecret", &key)],
        ),
        t,
    );
    assert_eq!(decided.outcome.credential, Some(CredentialKind::ApiKey));
    assert_eq!(decided.outcome.client.as_deref(), Some(KEY_CLIENT));
    assert_eq!(decided.outcome.provider, None);

    let public = decide(&policy, &request("GET", "/public/x", &[]), t);
    assert_eq!(public.outcome.verdict, Some(Verdict::Public));
    let preflight = decide(
        &policy,
        &request(
            "OPTIONS",
            "/devices",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
            ],
        ),
        t,
    );
    assert_eq!(preflight.outcome.verdict, Some(Verdict::Preflight));
}

fn report_config() -> Value {
    let mut config = access_config();
    config["mode"] = json!("report");
    config
}

#[test]
fn report_mode_forwards_a_refused_token_without_it_and_without_identity() {
    let policy = policy(report_config());
    let t = now();
    let expired = bearer(&issuer().token(
        Algorithm::ES256,
        t,
        json!({"iat": t - 7200, "exp": t - 3600}),
    ));
    let decided = decide(
        &policy,
        &request(
            "GET",
            "/devices",
            &[("authorization", &expired), ("x-auth-subject", "spoofed")],
        ),
        t,
    );
    assert_eq!(decided.outcome.verdict, Some(Verdict::WouldDeny));
    assert_eq!(decided.outcome.reason, Some(Reason::Expired));
    let forwarding = forwarded(&decided);
    assert_eq!(forwarding.remove, ["x-auth-subject", "authorization"]);
    assert!(forwarding.set.is_empty(), "no identity: {forwarding:?}");

    // A query token never reaches the upstream either.
    let in_query = format!(
        "/devices?token={}&page=2",
        expired.trim_start_matches("Bearer ")
    );
    let decided = decide(&policy, &request("GET", &in_query, &[]), t);
    assert_eq!(decided.outcome.reason, Some(Reason::Expired));
    assert_eq!(forwarded(&decided).path.as_deref(), Some("/devices?page=2"));
}

#[test]
fn report_mode_strips_every_secret_header_of_an_unreadable_credential() {
    let policy = policy(report_config());
    let t = now();
    let token = bearer(&issuer().token(Algorithm::ES256, t, json!({})));
    let key = secret(KEY_CLIENT);
    let decided = decide(
        &policy,
        &request(
            "GET",
            "/devices",
            &[
                ("authorization", &token),
                ("clientid", KEY_CLIENT),
                ("clientsecret", &key),
            ],
        ),
        t,
    );
    assert_eq!(decided.outcome.reason, Some(Reason::MalformedRequest));
    let forwarding = forwarded(&decided);
    for header in ["authorization", "clientsecret"] {
        assert!(forwarding.remove.contains(&header), "{forwarding:?}");
    }
    assert!(forwarding.set.is_empty());
}

#[test]
fn report_mode_keeps_the_identity_of_a_credential_that_passed() {
    let policy = policy(report_config());
    let t = now();
    let token = bearer(&issuer().token(Algorithm::ES256, t, json!({})));
    let decided = decide(
        &policy,
        &request(
            "POST",
            "/devices",
            &[("authorization", &token), ("appid", APP)],
        ),
        t,
    );
    assert_eq!(decided.outcome.verdict, Some(Verdict::WouldDeny));
    assert_eq!(decided.outcome.reason, Some(Reason::InsufficientScope));
    let forwarding = forwarded(&decided);
    assert_eq!(forwarding.remove, ["authorization"]);
    let set: Vec<&str> = forwarding.set.iter().map(|(h, _)| *h).collect();
    assert!(set.contains(&"x-auth-subject"), "{set:?}");
    assert!(
        !set.contains(&"x-auth-app"),
        "a refused request names no application: {set:?}"
    );
}

#[test]
fn a_rule_mode_overrides_the_global_one_both_ways() {
    let mut config = report_config();
    config["rules"][3]["mode"] = json!("enforce"); // GET /devices
    let policy = policy(config);
    let t = now();
    assert!(matches!(
        decide(&policy, &request("GET", "/devices", &[]), t).decision,
        Decision::Deny { .. }
    ));
    assert_eq!(
        decide(&policy, &request("GET", "/apps", &[]), t)
            .outcome
            .verdict,
        Some(Verdict::WouldDeny)
    );

    let mut config = access_config();
    config["rules"][3]["mode"] = json!("report");
    let policy = self::policy(config);
    assert_eq!(
        decide(&policy, &request("GET", "/devices", &[]), t)
            .outcome
            .verdict,
        Some(Verdict::WouldDeny)
    );
    assert!(matches!(
        decide(&policy, &request("GET", "/apps", &[]), t).decision,
        Decision::Deny { .. }
    ));
}

#[test]
fn mode_must_be_enforce_or_report_and_public_rules_have_none() {
    let mut config = access_config();
    config["mode"] = json!("shadow");
    let err = Policy::from_json(config.to_string().as_bytes())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("mode: must be \"enforce\" or \"report\""),
        "{err}"
    );
    let mut config = access_config();
    config["rules"][0]["mode"] = json!("report");
    let err = Policy::from_json(config.to_string().as_bytes())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("rules[0].mode: a public rule cannot set mode"),
        "{err}"
    );
}

#[test]
fn access_log_fields_are_off_unless_asked_for() {
    assert!(!policy(access_config()).access_log_fields);
    let mut config = access_config();
    config["access_log_fields"] = json!(true);
    assert!(policy(config).access_log_fields);
    let shipped =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/edge-auth.json")).unwrap();
    assert!(Policy::from_json(&shipped).unwrap().access_log_fields);
}

#[test]
fn explain_lists_the_checks_in_order_up_to_the_one_that_failed() {
    let policy = policy(access_config());
    let t = now();
    let expired = bearer(&issuer().token(
        Algorithm::ES256,
        t,
        json!({"iat": t - 7200, "exp": t - 3600}),
    ));
    let explanation = explain(
        &policy,
        &GivenKeys::new(&policy),
        &request("GET", "/devices", &[("authorization", &expired)]),
        t,
    );
    let steps: Vec<(&str, Status)> = explanation
        .steps
        .iter()
        .map(|s| (s.check, s.status))
        .collect();
    assert_eq!(
        steps,
        [
            ("path", Status::Passed),
            ("rule", Status::Info),
            ("credential", Status::Passed),
            ("token", Status::Passed),
            ("token", Status::Passed),
            ("token", Status::Passed),
            ("token", Status::Passed),
            ("token", Status::Failed),
        ]
    );
    assert!(explanation.steps[1]
        .detail
        .starts_with("rules[3]: path_prefix \"/devices\", GET"));
    assert_eq!(explanation.steps[2].detail, "jwt in header authorization");
    assert!(explanation.steps[7].detail.ends_with("token has expired"));
    let Action::Respond { status, body, .. } = explanation.action else {
        panic!("not refused");
    };
    assert_eq!(status, 401);
    assert_eq!(
        body,
        r#"{"error":"invalid_token","error_description":"token has expired"}"#
    );
    let text = serde_json::to_string(&explanation.steps).unwrap();
    assert!(!text.contains(expired.trim_start_matches("Bearer ")));
}

#[test]
fn explain_uses_given_keys_for_a_provider_whose_keys_are_fetched() {
    let mut config = issuer().config();
    let provider = &mut config["providers"][0];
    provider.as_object_mut().unwrap().remove("jwks");
    provider["remote_jwks"] = json!({"cluster": "idp", "uri": "https://idp/certs"});
    // HMAC secrets are never fetched (configuration refuses HS* with fetched keys).
    provider["algorithms"] = serde_json::json!(["RS256", "ES256", "EdDSA"]);
    let policy = policy(config);
    let t = now();
    let token = bearer(&issuer().token(Algorithm::EdDSA, t, json!({})));
    let req = request("GET", "/devices", &[("authorization", &token)]);

    let without = explain(&policy, &GivenKeys::new(&policy), &req, t);
    assert_eq!(without.outcome.reason, Some(Reason::IssuerKeysUnavailable));
    assert!(matches!(
        without.action,
        Action::Respond { status: 503, .. }
    ));

    let jwks = issuer().jwks().to_string();
    let keys = GivenKeys::new(&policy)
        .with_jwks("test-idp", jwks.as_bytes())
        .unwrap();
    let with = explain(&policy, &keys, &req, t);
    assert_eq!(with.outcome.verdict, Some(Verdict::Allowed));
    let Action::Forward { remove, set, .. } = with.action else {
        panic!("not forwarded");
    };
    assert_eq!(remove, ["authorization"]);
    assert!(set.contains(&("x-auth-subject".to_string(), "alice".to_string())));
    assert!(GivenKeys::new(&policy).with_jwks("nobody", b"{}").is_err());
}

#[test]
fn the_cache_counts_hits_and_misses_of_the_decisions() {
    let policy = policy(issuer().config());
    let t = now();
    let token = bearer(&issuer().token(Algorithm::HS256, t, json!({})));
    let req = request("GET", "/devices", &[("authorization", &token)]);
    let mut cache = TokenCache::new(16);
    for _ in 0..3 {
        evaluate(
            &policy,
            &InlineKeys(&policy.providers),
            &mut cache,
            &req,
            t,
            &Settled::Open,
            &mut Untraced,
        );
    }
    let stats = cache.take_stats();
    assert_eq!((stats.hits, stats.misses, stats.evictions), (2, 1, 0));
}

/// The refusals the table above cannot reach with its configuration (TLS, token type, claim
/// conditions, a rule's providers and audiences, the abuse limits, the issuer's answers, a
/// revocation list, sender binding): each leaves the one exit with one debug line from its outcome, like every other
/// reason code.
#[test]
fn every_other_reason_code_writes_one_debug_line_from_its_outcome() {
    use edge_auth::policy::abuse::records::MemoryStore;
    use edge_auth::policy::abuse::Guard;
    use edge_auth::policy::decision::evaluate_guarded;

    let t = now();
    let token = issuer().token(Algorithm::ES256, t, json!({}));
    let with = |change: &dyn Fn(&mut Value)| {
        let mut config = issuer().config();
        change(&mut config);
        policy(config)
    };
    let bearer_request = || request("GET", "/devices", &[("authorization", &bearer(&token))]);
    let expect_with = |what: &str,
                       policy: &Policy,
                       keys: &dyn KeyLookup,
                       request: &Request,
                       settled: &Settled,
                       reason: Reason| {
        let store = MemoryStore::default();
        let mut cache = TokenCache::new(8);
        let ((), lines) = lines_of(|| {
            // Two goes, so that a limit met on the first shows on the second.
            for _ in 0..2 {
                let guard = Guard::new(&policy.abuse, &store, request, 0, &|| None, t * 1000);
                let decided = evaluate_guarded(
                    policy,
                    keys,
                    guard.as_ref(),
                    &mut cache,
                    request,
                    t,
                    settled,
                    &mut Untraced,
                );
                assert_eq!(decided.outcome.reason, Some(reason), "{what}");
            }
        });
        let denied: Vec<&String> = lines.iter().filter(|l| l.contains("denied ")).collect();
        assert_eq!(denied.len(), 2, "{what}: {lines:?}");
        let code = format!("(reason {},", reason.code());
        assert!(
            denied.iter().all(|line| line.contains(&code)),
            "{what}: {denied:?}"
        );
    };
    let expect =
        |what: &str, policy: &Policy, request: &Request, settled: &Settled, reason: Reason| {
            let keys = InlineKeys(&policy.providers);
            expect_with(what, policy, &keys, request, settled, reason);
        };
    let tls = with(&|c| c["min_tls_version"] = json!("TLSv1.2"));
    expect(
        "plain text",
        &tls,
        &bearer_request(),
        &Settled::Open,
        Reason::Tls,
    );
    let typed = with(&|c| c["providers"][0]["require_access_token_type"] = json!(true));
    expect(
        "no typ",
        &typed,
        &bearer_request(),
        &Settled::Open,
        Reason::WrongTokenType,
    );
    let limited = policy(json!({
        "api_keys": {"id_header": "clientid", "secret_header": "clientsecret",
                     "clients": [{"id": "c", "secret_sha256": "0".repeat(64)}]},
        "abuse": {"lockout": {"max_failures": 1, "window_seconds": 60}}
    }));
    let guess = request("GET", "/x", &[("clientid", "c"), ("clientsecret", "guess")]);
    let store = MemoryStore::default();
    let keys = InlineKeys(&limited.providers);
    let guard = Guard::new(&limited.abuse, &store, &guess, 0, &|| None, t * 1000);
    let mut cache = TokenCache::new(8);
    evaluate_guarded(
        &limited,
        &keys,
        guard.as_ref(),
        &mut cache,
        &guess,
        t,
        &Settled::Open,
        &mut Untraced,
    );
    let ((), lines) = lines_of(|| {
        let decided = evaluate_guarded(
            &limited,
            &keys,
            guard.as_ref(),
            &mut cache,
            &guess,
            t,
            &Settled::Open,
            &mut Untraced,
        );
        assert_eq!(decided.outcome.reason, Some(Reason::LockedOut));
    });
    assert!(
        lines
            .iter()
            .any(|l| l.contains("denied GET /x") && l.contains("(reason locked_out,")),
        "{lines:?}"
    );
    let introspecting = with(&|c| {
        c["providers"][0]["introspection"] = json!({
            "cluster": "idp", "path": "/introspect", "client_id": "edge", "client_secret": "s"});
    });
    let opaque = request("GET", "/devices", &[("authorization", "Bearer opaque-1")]);
    let inactive = Settled::Refused(
        Denial::InvalidToken("token is not active".into()),
        Reason::IntrospectionInactive,
    );
    expect(
        "inactive",
        &introspecting,
        &opaque,
        &inactive,
        Reason::IntrospectionInactive,
    );
    expect(
        "no answer",
        &introspecting,
        &opaque,
        &Settled::Final,
        Reason::IntrospectionUnavailable,
    );
    let remote = with(&|c| {
        c["providers"][0] = json!({
            "name": "remote", "issuer": fixtures::ISSUER, "audiences": [fixtures::AUDIENCE],
            "algorithms": ["ES256"], "remote_jwks": {"cluster": "idp", "uri": "https://idp/certs"}});
    });
    expect(
        "no keys",
        &remote,
        &bearer_request(),
        &Settled::Final,
        Reason::IssuerKeysUnavailable,
    );
    let claims = with(&|c| {
        c["providers"][0]["claim_conditions"] =
            json!([{"path": "realm_access.roles", "present": true}]);
    });
    expect(
        "claim condition",
        &claims,
        &bearer_request(),
        &Settled::Open,
        Reason::ClaimCondition,
    );
    let bound_path = with(&|c| {
        c["rules"] =
            json!([{"path_template": "/{tenant}", "bind": {"tenant": {"header": "x-tenant"}}}]);
    });
    expect(
        "path binding",
        &bound_path,
        &bearer_request(),
        &Settled::Open,
        Reason::PathBinding,
    );
    let narrowed = with(&|c| {
        c["rules"] = json!([{"path_prefix": "/devices", "providers": ["test-idp"],
                             "audiences": [fixtures::AUDIENCE]}]);
        let mut other = c["providers"][0].clone();
        other["name"] = json!("other-idp");
        other["issuer"] = json!("https://other.example.com");
        other["audiences"] = json!([fixtures::AUDIENCE, "other-api"]);
        c["providers"].as_array_mut().unwrap().push(other);
    });
    let other = issuer().token(
        Algorithm::ES256,
        t,
        json!({"iss": "https://other.example.com"}),
    );
    let other_request = request("GET", "/devices", &[("authorization", &bearer(&other))]);
    expect(
        "rule provider",
        &narrowed,
        &other_request,
        &Settled::Open,
        Reason::RuleProvider,
    );
    let audience = with(&|c| {
        c["providers"][0]["audiences"] = json!([fixtures::AUDIENCE, "other-api"]);
        c["rules"] = json!([{"path_prefix": "/devices", "audiences": ["other-api"]}]);
    });
    expect(
        "rule audience",
        &audience,
        &bearer_request(),
        &Settled::Open,
        Reason::RuleAudience,
    );
    let revoking = with(&|c| {
        c["providers"][0]["revocation"] = json!({"cluster": "idp", "uri": "https://idp/r"});
    });
    let slots = vec![Slot::default()];
    let no_list = [RevocationSlot::default()];
    let keys = WorkerKeys {
        providers: &revoking.providers,
        endpoints: &revoking.endpoints,
        slots: &slots,
        revocations: &no_list,
    };
    expect_with(
        "no revocation list yet",
        &revoking,
        &keys,
        &bearer_request(),
        &Settled::Open,
        Reason::RevocationUnavailable,
    );
    let subject =
        br#"{"version": 1, "subjects_not_before": [{"sub": "alice", "nbf": 9999999999}]}"#;
    let listed = [RevocationSlot {
        list: Some(RevocationList::parse(subject, 10, t, 0).unwrap()),
        ..RevocationSlot::default()
    }];
    let keys = WorkerKeys {
        revocations: &listed,
        ..keys
    };
    expect_with(
        "revoked",
        &revoking,
        &keys,
        &bearer_request(),
        &Settled::Open,
        Reason::Revoked,
    );
    let dpop = with(&|c| c["dpop"] = json!({"algorithms": ["ES256"]}));
    let bound = issuer().token(Algorithm::ES256, t, json!({"cnf": {"jkt": "x".repeat(43)}}));
    let as_bearer = request("GET", "/devices", &[("authorization", &bearer(&bound))]);
    expect(
        "bound token as bearer",
        &dpop,
        &as_bearer,
        &Settled::Open,
        Reason::SenderBinding,
    );
    let scheme = format!("DPoP {bound}");
    let no_proof = request("GET", "/devices", &[("authorization", &scheme)]);
    expect(
        "no proof",
        &dpop,
        &no_proof,
        &Settled::Open,
        Reason::InvalidDpopProof,
    );
}
