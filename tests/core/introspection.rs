//! Native: which tokens the decision sends to introspection, and how cached answers are used.

use crate::fixtures;

use std::rc::Rc;

use edge_auth::issuer::introspection::{interpret, Outcome};
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize, Decision};
use edge_auth::policy::deny::Denial;
use edge_auth::policy::Policy;
use edge_auth::request::credential::Request;
use fixtures::{issuer, now};
use serde_json::json;

fn policy(tokens: &str) -> Policy {
    let mut config = issuer().config();
    config["providers"][0]["introspection"] = json!({
        "cluster": "idp", "path": "/introspect", "client_id": "edge", "client_secret": "s",
        "tokens": tokens
    });
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

fn request(token: &str, method: &str) -> Request {
    Request::from_headers(vec![
        (":method".into(), method.into()),
        (":path".into(), "/devices/1".into()),
        ("authorization".into(), format!("Bearer {token}")),
    ])
}

#[test]
fn opaque_tokens_are_introspected_and_jwts_verified_locally() {
    let opaque_only = policy("opaque");
    let mut cache = TokenCache::new(16);
    match authorize(
        &opaque_only,
        &mut cache,
        &request("opaque-123", "GET"),
        now(),
    ) {
        Decision::Introspect {
            provider,
            token,
            confirm,
        } => {
            assert_eq!(provider, 0);
            assert_eq!(token, "opaque-123");
            assert_eq!(confirm, None, "the answer is the opaque token's identity");
        }
        other => panic!("{other:?}"),
    }
    let jwt = issuer().token(Algorithm::ES256, now(), json!({}));
    assert!(matches!(
        authorize(&opaque_only, &mut cache, &request(&jwt, "GET"), now()),
        Decision::Allow(_)
    ));
    // "all": even a JWT goes to the endpoint.
    assert!(matches!(
        authorize(
            &policy("all"),
            &mut TokenCache::new(16),
            &request(&jwt, "GET"),
            now()
        ),
        Decision::Introspect { .. }
    ));
}

#[test]
fn cached_answers_decide_without_asking_again_with_route_scopes_rechecked() {
    let policy = policy("opaque");
    let mut cache = TokenCache::new(16);
    // The identity an active answer gives, as the filter caches it.
    let answer = json!({"active": true, "sub": "bob", "scope": "devices:read",
                        "aud": "edge-api", "exp": now() + 60});
    let provider = &policy.providers[0];
    let Outcome::Active {
        identity,
        valid_until,
    } = interpret(
        Some(200),
        Some(answer.to_string().into_bytes()),
        0,
        provider,
        policy.endpoints[0].introspection.as_ref().unwrap(),
        &policy.forward,
        now(),
    )
    else {
        panic!("not active");
    };
    cache.insert("opaque-good", Rc::from(identity), valid_until, now(), 0);
    match authorize(&policy, &mut cache, &request("opaque-good", "GET"), now()) {
        Decision::Allow(forwarding) => assert!(forwarding
            .set
            .contains(&("x-auth-subject", "bob".to_string()))),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        authorize(&policy, &mut cache, &request("opaque-good", "POST"), now()),
        Decision::Deny {
            denial: Denial::InsufficientScope(_),
            ..
        }
    ));
    cache.insert_inactive("opaque-revoked", now() + 10, now());
    match authorize(
        &policy,
        &mut cache,
        &request("opaque-revoked", "GET"),
        now(),
    ) {
        Decision::Deny {
            denial: Denial::InvalidToken(why),
            ..
        } => assert_eq!(why, "token is not active"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn introspection_needs_the_cache_and_a_single_provider() {
    let mut config = issuer().config();
    config["providers"][0]["introspection"] =
        json!({"cluster": "idp", "path": "/i", "client_id": "a", "client_secret": "b"});
    config["token_cache"] = json!({"max_entries": 0});
    let err = Policy::from_json(config.to_string().as_bytes())
        .err()
        .unwrap();
    assert_eq!(err.field(), "token_cache.max_entries");
    config["token_cache"] = json!({"max_entries": 10});
    let mut second = config["providers"][0].clone();
    second["name"] = json!("second");
    second["issuer"] = json!("https://second.example.com");
    config["providers"].as_array_mut().unwrap().push(second);
    let err = Policy::from_json(config.to_string().as_bytes())
        .err()
        .unwrap();
    assert_eq!(err.field(), "providers");
}

fn guarded<'a>(
    policy: &'a Policy,
    store: &edge_auth::policy::abuse::records::MemoryStore,
    cache: &mut TokenCache,
    token: &str,
    source: &str,
) -> Decision<'a> {
    let keys = edge_auth::jwt::token::InlineKeys(&policy.providers);
    let request = Request {
        source_address: Some(source.parse().unwrap()),
        ..request(token, "GET")
    };
    edge_auth::policy::decision::authorize_guarded(
        policy,
        &keys,
        store,
        &|| None,
        cache,
        &request,
        now() * 1000,
    )
}

/// Each introspection call is spent from the source's token-check budget before it is made:
/// random strings from one source cannot make one call to the issuer each.
#[test]
fn introspection_calls_spend_the_source_budget() {
    let mut config = issuer().config();
    config["providers"][0]["introspection"] = json!({
        "cluster": "idp", "path": "/introspect", "client_id": "edge", "client_secret": "s"
    });
    config["abuse"] = json!({"signature_budget": {"rate": 0.01, "burst": 2}});
    let policy = Policy::from_json(config.to_string().as_bytes()).unwrap();
    let store = edge_auth::policy::abuse::records::MemoryStore::default();
    let mut cache = TokenCache::new(16);
    for n in 0..2 {
        let token = format!("random-{n}");
        assert!(matches!(
            guarded(&policy, &store, &mut cache, &token, "203.0.113.5"),
            Decision::Introspect { .. }
        ));
    }
    match guarded(&policy, &store, &mut cache, "random-2", "203.0.113.5") {
        Decision::Deny {
            denial: Denial::TooManyRequests { .. },
            ..
        } => {}
        other => panic!("the third call was not refused: {other:?}"),
    }
    assert!(
        matches!(
            guarded(&policy, &store, &mut cache, "random-3", "198.51.100.7"),
            Decision::Introspect { .. }
        ),
        "another source has its own budget"
    );
}

/// An opaque token longer than the documented limit is refused (401 invalid_token) without a
/// call to the issuer.
#[test]
fn overlong_opaque_tokens_are_refused_without_a_call() {
    use edge_auth::issuer::introspection::MAX_OPAQUE_TOKEN_BYTES;
    let policy = policy("opaque");
    let mut cache = TokenCache::new(16);
    let longest = "a".repeat(MAX_OPAQUE_TOKEN_BYTES);
    assert!(matches!(
        authorize(&policy, &mut cache, &request(&longest, "GET"), now()),
        Decision::Introspect { .. }
    ));
    let too_long = "a".repeat(MAX_OPAQUE_TOKEN_BYTES + 1);
    match authorize(&policy, &mut cache, &request(&too_long, "GET"), now()) {
        Decision::Deny {
            denial: Denial::InvalidToken(why),
            ..
        } => assert_eq!(why, "token is too large"),
        other => panic!("{other:?}"),
    }
}
