//! Native: a rule's `introspect` (issue 21): JWTs that passed every local check are confirmed by
//! the provider's introspection endpoint, through the host layer against the fake host: the
//! call dispatched, the answer reused within the rule's bound and asked again after it, an
//! inactive, contradicting or missing answer refused, and no call for a token a local check
//! refuses or on a rule without the option.

use edge_auth::host::{Flow, Worker};
use edge_auth::issuer::introspection::{confirm, Confirmation, Expected, Inactive};
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::explain::{explain, GivenKeys, Status};
use edge_auth::policy::Policy;
use serde_json::{json, Value};
use std::rc::Rc;

use crate::fake_host::FakeHost;
use crate::fixtures::{issuer, now, request, ISSUER};

/// The fixture's configuration with an introspection endpoint (JWTs verified locally) and
/// `GET /devices` asking for confirmations at most 30 s old; `/devices` writes do not ask.
fn config() -> Value {
    let mut config = issuer().config();
    config["providers"][0]["introspection"] = json!({
        "cluster": "idp", "path": "/introspect", "authority": "idp",
        "client_id": "edge", "client_secret": "s3cret", "cache_seconds": 60
    });
    config["rules"][1]["introspect"] = json!({"max_cache_seconds": 30});
    config
}

fn jwt(overrides: Value) -> String {
    issuer().token(Algorithm::ES256, now(), overrides)
}

/// The `exp` `token` carries.
fn exp_of(token: &str) -> u64 {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["exp"]
        .as_u64()
        .unwrap()
}

/// An active answer about `token` (the fixture's default claims: `sub` alice), naming its `exp`.
fn active(token: &str) -> Vec<u8> {
    json!({"active": true, "sub": "alice", "exp": exp_of(token),
           "iss": ISSUER, "scope": "nothing:granted"})
    .to_string()
    .into_bytes()
}

fn setup() -> (FakeHost, Rc<Worker>) {
    let host = FakeHost::new(now() * 1000);
    let worker = host.worker(&config());
    (host, worker)
}

fn dispatched(host: &FakeHost) -> usize {
    host.dispatched.borrow().len()
}

/// The value of the refusal counter for `reason`, summed over its labels.
/// The refusals counted for `reason`, after a tick (request counts go out at the tick).
fn refused_for(host: &FakeHost, worker: &Worker, reason: &str) -> i64 {
    host.tick(worker);
    let label = format!(".reason.{reason}.");
    host.metrics
        .borrow()
        .iter()
        .filter(|(name, _)| name.contains(&label))
        .map(|(_, value)| *value)
        .sum()
}

#[test]
fn a_verified_jwt_is_confirmed_once_and_the_answer_reused_only_within_the_rules_bound() {
    let (host, worker) = setup();
    let start = host.now_ms.get();
    let token = jwt(json!({}));
    let (mut flow, result) = host.get(&worker, 2, "/devices/1", &token);
    assert_eq!(result, Flow::Pause, "waits for the endpoint");
    let call = host.last_call();
    assert_eq!((call.context, call.cluster.as_str()), (2, "idp"));
    assert_eq!(call.path, "/introspect");
    let body = String::from_utf8(call.body.unwrap()).unwrap();
    assert!(body.starts_with(&format!("token={token}&")), "{body}");
    host.answer_request(&mut flow, 2, call.token, Some(200), &active(&token));
    let request = host.request(2);
    assert_eq!((request.resumed, request.replies.len()), (1, 0));
    // The identity stays the token's: its subject and scopes, not the answer's.
    assert!(request.set_headers.contains(&(
        "x-auth-scopes".into(),
        Some("devices:read profile:read".into())
    )));
    // Within 30 s: the answer is reused, no call.
    host.now_ms.set(start + 29_000);
    let before = dispatched(&host);
    let (_flow, result) = host.get(&worker, 3, "/devices/1", &token);
    assert_eq!(result, Flow::Continue);
    assert_eq!(dispatched(&host), before, "answer reused");
    // 30 s after the answer: asked again.
    host.now_ms.set(start + 30_000);
    let (_flow, result) = host.get(&worker, 4, "/devices/1", &token);
    assert_eq!(result, Flow::Pause);
    assert_eq!(dispatched(&host), before + 1, "a new call");
    let metrics = host.metrics.borrow();
    let active = "edge_auth_introspection_total.provider.test-idp.result.active";
    assert_eq!(metrics.get(active), Some(&1), "{metrics:?}");
}

#[test]
fn an_inactive_jwt_is_refused_401_and_remembered_without_a_new_call() {
    let (host, worker) = setup();
    let token = jwt(json!({}));
    let (mut flow, _) = host.get(&worker, 2, "/devices/1", &token);
    let call = host.last_call();
    host.answer_request(&mut flow, 2, call.token, Some(200), br#"{"active": false}"#);
    assert_eq!(host.status(2), Some(401));
    assert_eq!(refused_for(&host, &worker, "introspection_inactive"), 1);
    let body = String::from_utf8(host.request(2).replies[0].2.clone()).unwrap();
    assert!(body.contains("token is not active"), "{body}");
    // The issuer's word is remembered (negative_cache_seconds): refused at once, everywhere.
    let before = dispatched(&host);
    let (_flow, result) = host.get(&worker, 3, "/devices/1", &token);
    assert_eq!((result, host.status(3)), (Flow::Pause, Some(401)));
    assert_eq!(dispatched(&host), before);
}

#[test]
fn an_answer_contradicting_the_token_is_refused_401() {
    for (case, answer) in [
        ("another sub", json!({"active": true, "sub": "mallory"})),
        ("another exp", json!({"active": true, "exp": now() + 7200})),
        (
            "another client",
            json!({"active": true, "client_id": "other-app"}),
        ),
        (
            "another issuer",
            json!({"active": true, "iss": "https://evil.example"}),
        ),
    ] {
        let (host, worker) = setup();
        let (mut flow, _) = host.get(&worker, 2, "/devices/1", &jwt(json!({})));
        let call = host.last_call();
        let body = answer.to_string().into_bytes();
        host.answer_request(&mut flow, 2, call.token, Some(200), &body);
        assert_eq!(host.status(2), Some(401), "{case}");
        let reason = if case == "another issuer" {
            "untrusted_issuer"
        } else {
            "introspection_mismatch"
        };
        assert_eq!(refused_for(&host, &worker, reason), 1, "{case}");
    }
}

#[test]
fn an_endpoint_outage_fails_closed_with_503() {
    let cases: [(&str, Option<u32>, &[u8]); 4] = [
        ("no answer", None, b""),
        ("500", Some(500), br#"{"active": true}"#),
        ("garbage", Some(200), b"<html>"),
        ("not an object", Some(200), b"[true]"),
    ];
    for (case, status, body) in cases {
        let (host, worker) = setup();
        let (mut flow, _) = host.get(&worker, 2, "/devices/1", &jwt(json!({})));
        let call = host.last_call();
        host.answer_request(&mut flow, 2, call.token, status, body);
        assert_eq!(host.status(2), Some(503), "{case}");
        assert_eq!(
            refused_for(&host, &worker, "introspection_unavailable"),
            1,
            "{case}"
        );
        // Nothing is remembered: the next request asks again.
        let before = dispatched(&host);
        let (_flow, result) = host.get(&worker, 3, "/devices/1", &jwt(json!({})));
        assert_eq!(result, Flow::Pause, "{case}");
        assert_eq!(dispatched(&host), before + 1, "{case}");
    }
    // The call cannot even be made.
    let (host, worker) = setup();
    host.failing.borrow_mut().insert("dispatch_http_call");
    let (_flow, _) = host.get(&worker, 2, "/devices/1", &jwt(json!({})));
    assert_eq!(host.status(2), Some(503));
}

#[test]
fn a_token_a_local_check_refuses_never_causes_a_call() {
    let (host, worker) = setup();
    let forged = {
        let good = jwt(json!({"sub": "alice"}));
        let (rest, _signature) = good.rsplit_once('.').unwrap();
        let other = jwt(json!({"sub": "bob"}));
        format!("{rest}.{}", other.rsplit_once('.').unwrap().1)
    };
    let expired = jwt(json!({"iat": now() - 7200, "exp": now() - 3600}));
    let unscoped = jwt(json!({"scope": "profile:read"}));
    let wrong_audience = jwt(json!({"aud": "someone-else"}));
    let cases = [
        (forged, 401),
        (expired, 401),
        (wrong_audience, 401),
        (unscoped, 403),
    ];
    for (context, (token, status)) in (2..).zip(cases) {
        let (_flow, result) = host.get(&worker, context, "/devices/1", &token);
        assert_eq!(result, Flow::Pause);
        assert_eq!(host.status(context), Some(status), "request {context}");
    }
    assert_eq!(dispatched(&host), 0, "no call for any of them");
}

#[test]
fn a_rule_without_introspect_makes_no_call() {
    let (host, worker) = setup();
    let token = jwt(json!({"scope": "devices:read devices:write"}));
    let (_flow, result) = host.start(
        &worker,
        2,
        &[
            (":method", "POST"),
            (":path", "/devices/1"),
            (":authority", "api"),
            ("authorization", &format!("Bearer {token}")),
        ],
    );
    assert_eq!(result, Flow::Continue);
    let (_flow, result) = host.get(&worker, 3, "/elsewhere", &token);
    assert_eq!(result, Flow::Continue, "the default route");
    assert_eq!(dispatched(&host), 0);
}

#[test]
fn a_confirmed_token_still_meets_the_rules_scopes_on_every_request() {
    let mut config = config();
    // Writes ask too: a confirmed token without devices:write is still refused, with no call.
    config["rules"][2]["introspect"] = json!({"max_cache_seconds": 30});
    let host = FakeHost::new(now() * 1000);
    let worker = host.worker(&config);
    let token = jwt(json!({}));
    let (mut flow, _) = host.get(&worker, 2, "/devices/1", &token);
    let call = host.last_call();
    host.answer_request(&mut flow, 2, call.token, Some(200), &active(&token));
    assert_eq!(host.request(2).resumed, 1);
    let before = dispatched(&host);
    let (_flow, _) = host.start(
        &worker,
        3,
        &[
            (":method", "DELETE"),
            (":path", "/devices/1"),
            (":authority", "api"),
            ("authorization", &format!("Bearer {token}")),
        ],
    );
    assert_eq!(host.status(3), Some(403));
    assert_eq!(dispatched(&host), before);
}

#[test]
fn a_confirmation_is_bounded_by_the_tokens_exp_and_the_endpoints_cache_seconds() {
    let policy = Policy::from_json(config().to_string().as_bytes()).unwrap();
    let (provider, endpoint) = (
        &policy.providers[0],
        policy.endpoints[0].introspection.as_ref().unwrap(),
    );
    let at = 1_000_000;
    let expected = |exp: u64| Expected {
        subject: Some("alice".into()),
        client_id: None,
        expires_at: exp,
    };
    let answer = |exp: u64| Some(json!({"active": true, "exp": exp}).to_string().into_bytes());
    // exp far: cache_seconds (60) bounds it.
    assert_eq!(
        confirm(
            Some(200),
            answer(at + 3600),
            provider,
            endpoint,
            &expected(at + 3600),
            at
        ),
        Confirmation::Confirmed { until: at + 60 }
    );
    // exp in 10 s: never beyond exp plus the provider's clock skew (30).
    assert_eq!(
        confirm(
            Some(200),
            answer(at + 10),
            provider,
            endpoint,
            &expected(at + 10),
            at
        ),
        Confirmation::Confirmed { until: at + 40 }
    );
    assert_eq!(
        confirm(
            Some(200),
            answer(at + 11),
            provider,
            endpoint,
            &expected(at + 10),
            at
        ),
        Confirmation::Inactive(Inactive::Contradicts)
    );
    // A string `active` is not `true`.
    let loose = Some(br#"{"active": "true"}"#.to_vec());
    assert_eq!(
        confirm(Some(200), loose, provider, endpoint, &expected(at + 10), at),
        Confirmation::Inactive(Inactive::NotActive)
    );
}

#[test]
fn a_rule_asking_for_introspection_needs_an_endpoint_for_every_provider_it_accepts() {
    let error_of = |change: &dyn Fn(&mut Value)| {
        let mut config = config();
        change(&mut config);
        match Policy::from_json(config.to_string().as_bytes()) {
            Ok(_) => panic!("accepted"),
            Err(err) => (err.field().to_string(), err.to_string()),
        }
    };
    let (field, message) = error_of(&|config| {
        config["providers"][0]
            .as_object_mut()
            .unwrap()
            .remove("introspection");
    });
    assert_eq!(field, "rules[1].introspect");
    assert!(
        message.contains("\"test-idp\", which has no introspection endpoint"),
        "{message}"
    );
    let (field, _) = error_of(&|config| {
        config["rules"][1]["introspect"] = json!({"max_cache_seconds": 61});
    });
    assert_eq!(field, "rules[1].introspect.max_cache_seconds");
    let (field, _) = error_of(&|config| {
        config["rules"][0]["introspect"] = json!({"max_cache_seconds": 5});
    });
    assert_eq!(field, "rules[0].introspect", "a public rule");
    let (_, message) = error_of(&|config| {
        config["rules"][1]["introspect"] = json!({"max_cache_second": 5});
    });
    assert!(message.contains("max_cache_second"), "{message}");
}

#[test]
fn explain_names_the_rules_introspection() {
    let policy = Policy::from_json(config().to_string().as_bytes()).unwrap();
    let token = jwt(json!({}));
    let bearer = format!("Bearer {token}");
    let explanation = explain(
        &policy,
        &GivenKeys::new(&policy),
        &request("GET", "/devices/1", &[("authorization", &bearer)]),
        now(),
    );
    let rule = &explanation.steps[1];
    assert!(
        rule.detail
            .contains("tokens confirmed by introspection (answers reused up to 30 s)"),
        "{}",
        rule.detail
    );
    let last = explanation.steps.last().unwrap();
    assert_eq!((last.check, last.status), ("introspection", Status::Failed));
    assert!(
        last.detail.contains("explain never calls it"),
        "{}",
        last.detail
    );
}

#[test]
fn an_opaque_token_older_than_the_rules_bound_is_introspected_afresh() {
    let (host, worker) = setup();
    let start = host.now_ms.get();
    let answer = |sub: &str| {
        json!({"active": true, "sub": sub, "aud": "edge-api", "scope": "devices:read",
               "exp": now() + 3600})
        .to_string()
        .into_bytes()
    };
    let (mut flow, result) = host.get(&worker, 2, "/devices/1", "opaque-1");
    assert_eq!(result, Flow::Pause);
    let call = host.last_call();
    host.answer_request(&mut flow, 2, call.token, Some(200), &answer("bob"));
    assert_eq!(host.request(2).resumed, 1, "{:?}", host.request(2).replies);
    // The answer is the identity, and the confirmation: reused within the rule's 30 s.
    host.now_ms.set(start + 29_000);
    let (_flow, result) = host.get(&worker, 3, "/devices/1", "opaque-1");
    assert_eq!((result, dispatched(&host)), (Flow::Continue, 1));
    // Older: a full introspection again (its answer's exp is the token's, never a mismatch),
    // whose identity replaces the old one.
    host.now_ms.set(start + 31_000);
    let (mut flow, result) = host.get(&worker, 4, "/devices/1", "opaque-1");
    assert_eq!((result, dispatched(&host)), (Flow::Pause, 2));
    let call = host.last_call();
    host.answer_request(&mut flow, 4, call.token, Some(200), &answer("carol"));
    let request = host.request(4);
    assert_eq!(request.resumed, 1, "{:?}", request.replies);
    assert!(request
        .set_headers
        .contains(&("x-auth-subject".into(), Some("carol".into()))));
}
