//! Introspection answers and requests (`edge_auth::issuer::introspection`) for a provider
//! compiled from JSON, natively.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use edge_auth::issuer::introspection::*;
use edge_auth::policy::Policy;
use serde_json::{json, Value};

const NOW: u64 = 1_800_000_000;

fn policy() -> Policy {
    let config = json!({
        "providers": [{
            "name": "idp", "issuer": "https://idp.example.com", "audiences": ["api"],
            "algorithms": ["RS256"],
            "introspection": {"cluster": "idp", "path": "/oauth2/introspect",
                              "client_id": "edge", "client_secret": "s3cret:/&",
                              "cache_seconds": 60}
        }],
        "forward": {"claims": {"client_id": "x-client-id"}}
    });
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

fn outcome(status: Option<u32>, answer: Value) -> Outcome {
    let policy = policy();
    let provider = &policy.providers[0];
    let introspection = policy.endpoints[0].introspection.as_ref().unwrap();
    interpret(
        status,
        Some(answer.to_string().into_bytes()),
        0,
        provider,
        introspection,
        &policy.forward,
        NOW,
    )
}

#[test]
fn client_credentials_are_form_encoded_then_basic() {
    let policy = policy();
    let introspection = policy.endpoints[0].introspection.as_ref().unwrap();
    assert_eq!(
        introspection.authorization,
        format!("Basic {}", STANDARD.encode("edge:s3cret%3A%2F%26"))
    );
    assert_eq!(introspection.authority, "idp.example.com");
    assert_eq!(
        request_body("a+b/c="),
        "token=a%2Bb%2Fc%3D&token_type_hint=access_token"
    );
}

#[test]
fn active_answer_becomes_an_identity_cached_until_the_earlier_of_exp_plus_skew_and_cache_time() {
    let answer = json!({"active": true, "scope": "devices:read admin", "client_id": "app",
                        "sub": "alice", "aud": "api", "iss": "https://idp.example.com",
                        "exp": NOW + 30});
    let Outcome::Active {
        identity,
        valid_until,
    } = outcome(Some(200), answer)
    else {
        panic!("not active");
    };
    assert_eq!(identity.subject.as_deref(), Some("alice"));
    assert_eq!(identity.scopes, ["devices:read", "admin"]);
    // The only forwarded claim (index 0: client_id -> x-client-id).
    assert_eq!(identity.forwarded_claims, [(0, "app".to_string())]);
    assert_eq!(identity.client_id.as_deref(), Some("app"));
    // The default clock skew (30 s) is added to `exp`, then capped by cache_seconds (60 s).
    assert_eq!(valid_until, NOW + 60);
    let long = json!({"active": true, "aud": ["api"], "client_id": "app", "exp": NOW + 9999});
    match outcome(Some(200), long) {
        Outcome::Active {
            identity,
            valid_until,
        } => {
            assert_eq!(valid_until, NOW + 60);
            assert_eq!(
                identity.subject.as_deref(),
                Some("app"),
                "client_id stands in"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_active_answer_with_exp_inside_the_clock_skew_is_cached_until_exp_plus_skew() {
    // Accepted (exp is 5 s past, inside the skew), so the answer must be good now, not "until"
    // a second already gone (which left the woken request to find nothing and get a 503).
    let policy = policy();
    let skew = policy.providers[0].clock_skew_seconds;
    assert!(skew > 5);
    let answer = json!({"active": true, "aud": "api", "client_id": "app", "exp": NOW - 5});
    match outcome(Some(200), answer) {
        Outcome::Active { valid_until, .. } => {
            assert_eq!(valid_until, NOW - 5 + skew);
            assert!(valid_until >= NOW);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn inactive_foreign_expired_or_unaddressed_tokens_are_refused() {
    assert_eq!(
        outcome(Some(200), json!({"active": false})),
        Outcome::Inactive(Inactive::NotActive)
    );
    assert_eq!(
        outcome(Some(200), json!({"active": "true", "aud": "api"})),
        Outcome::Inactive(Inactive::NotActive)
    );
    assert_eq!(
        outcome(
            Some(200),
            json!({"active": true, "aud": "api", "iss": "https://evil"})
        ),
        Outcome::Inactive(Inactive::UntrustedIssuer)
    );
    assert_eq!(
        outcome(
            Some(200),
            json!({"active": true, "aud": "api", "exp": NOW - 3600})
        ),
        Outcome::Inactive(Inactive::Expired)
    );
    assert_eq!(
        outcome(Some(200), json!({"active": true, "aud": "other"})),
        Outcome::Inactive(Inactive::WrongAudience)
    );
    assert_eq!(
        outcome(Some(200), json!({"active": true})),
        Outcome::Inactive(Inactive::WrongAudience)
    );
}

#[test]
fn no_usable_answer_is_unavailable_never_active() {
    assert!(matches!(
        outcome(Some(500), json!({"active": true, "aud": "api"})),
        Outcome::Unavailable(_)
    ));
    assert!(matches!(outcome(None, json!({})), Outcome::Unavailable(_)));
    assert!(matches!(
        outcome(Some(200), json!(["active"])),
        Outcome::Unavailable(_)
    ));
}

#[test]
fn bad_introspection_settings_are_named() {
    let error = |introspection: Value| {
        let config = json!({"providers": [{"name": "idp", "issuer": "urn:idp",
            "audiences": ["api"], "algorithms": ["RS256"], "introspection": introspection}]});
        Policy::from_json(config.to_string().as_bytes())
            .err()
            .unwrap()
            .field()
            .to_string()
    };
    let base = json!({"cluster": "idp", "path": "/i", "client_id": "a", "client_secret": "b"});
    assert_eq!(error(base.clone()), "providers[0].introspection.authority");
    let mut bad = base.clone();
    bad["authority"] = json!("idp");
    bad["tokens"] = json!("some");
    assert_eq!(error(bad), "providers[0].introspection.tokens");
    let mut bad = base.clone();
    bad["authority"] = json!("idp");
    bad["path"] = json!("introspect");
    assert_eq!(error(bad), "providers[0].introspection.path");
    let mut bad = base;
    bad["authority"] = json!("idp");
    bad["client_secret"] = json!("");
    assert_eq!(error(bad), "providers[0].introspection.client_secret");
}
