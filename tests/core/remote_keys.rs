//! Native: how decisions use keys fetched from an issuer (no Envoy). A remote provider's keys
//! live in a worker's `Slot`, filled from the shared key record; the decision waits for them,
//! asks for an early refetch on an unknown `kid`, and checks cached tokens again when they change.

use crate::fixtures;

use edge_auth::issuer::remote_keys::{KeyRecord, Slot, Sync};
use edge_auth::issuer::WorkerKeys;
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::jwks::KeySet;
use edge_auth::jwt::mint::SigningKey;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize_with_keys, Decision};
use edge_auth::policy::deny::Denial;
use edge_auth::policy::Policy;
use edge_auth::request::credential::Request;
use fixtures::{issuer, now};
use serde_json::{json, Value};

const ISS: &str = "https://idp.example.com/realms/main";

fn policy() -> Policy {
    let mut config = issuer().config();
    config["providers"][0] = json!({
        "name": "remote", "issuer": ISS, "audiences": ["edge-api"], "algorithms": ["ES256"],
        "remote_jwks": {"cluster": "idp", "uri": "https://idp.example.com/certs"}
    });
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

fn key(kid: &str) -> (String, SigningKey) {
    (
        kid.to_string(),
        SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid(kid),
    )
}

fn record(keys: &[&(String, SigningKey)]) -> Vec<u8> {
    let jwks: Value =
        json!({"keys": keys.iter().map(|(kid, k)| k.public_jwk(kid)).collect::<Vec<_>>()});
    KeyRecord {
        fetched_at_ms: 0,
        body: jwks.to_string().into_bytes(),
    }
    .encode()
}

fn request(key: &(String, SigningKey)) -> Request {
    let claims = issuer().claims(now(), json!({"iss": ISS}));
    let token = key.1.sign(&claims).unwrap();
    Request::from_headers(vec![
        (":method".into(), "GET".into()),
        (":path".into(), "/devices/1".into()),
        ("authorization".into(), format!("Bearer {token}")),
    ])
}

fn decide<'a>(
    policy: &'a Policy,
    slots: &[Slot],
    cache: &mut TokenCache,
    request: &Request,
) -> Decision<'a> {
    let keys = WorkerKeys {
        providers: &policy.providers,
        endpoints: &policy.endpoints,
        slots,
        revocations: &[],
    };
    authorize_with_keys(policy, &keys, cache, request, now())
}

#[test]
fn before_the_first_key_set_the_decision_waits_and_falls_back_to_503() {
    let policy = policy();
    let slots = vec![Slot::default()];
    let mut cache = TokenCache::new(16);
    match decide(&policy, &slots, &mut cache, &request(&key("k1"))) {
        Decision::AwaitKeys {
            provider,
            unknown_kid,
            otherwise,
        } => {
            assert_eq!(provider, 0);
            assert!(!unknown_kid);
            assert_eq!(otherwise.status(), 503);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fetched_keys_verify_and_an_unknown_kid_asks_for_a_refetch() {
    let policy = policy();
    let (k1, k2) = (key("k1"), key("k2"));
    let mut slots = vec![Slot::default()];
    assert!(matches!(
        slots[0].sync(Some(&record(&[&k1])), Some(1), &[Algorithm::ES256]),
        Sync::Installed(_)
    ));
    let mut cache = TokenCache::new(16);
    assert!(matches!(
        decide(&policy, &slots, &mut cache, &request(&k1)),
        Decision::Allow(_)
    ));
    match decide(&policy, &slots, &mut cache, &request(&k2)) {
        Decision::AwaitKeys {
            unknown_kid: true,
            otherwise: Denial::InvalidToken(why),
            ..
        } => assert_eq!(why, "token signing key is unknown"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_removed_key_stops_working_as_soon_as_the_new_keys_are_installed() {
    let policy = policy();
    let (k1, k2) = (key("k1"), key("k2"));
    let mut slots = vec![Slot::default()];
    slots[0].sync(Some(&record(&[&k1])), Some(1), &[Algorithm::ES256]);
    let mut cache = TokenCache::new(16);
    let old = request(&k1);
    assert!(matches!(
        decide(&policy, &slots, &mut cache, &old),
        Decision::Allow(_)
    ));
    // Installing the new set is all it takes: no flush of the cache that could be missed.
    slots[0].sync(Some(&record(&[&k2])), Some(2), &[Algorithm::ES256]);
    assert!(matches!(
        decide(&policy, &slots, &mut cache, &old),
        Decision::AwaitKeys {
            unknown_kid: true,
            ..
        }
    ));
}

#[test]
fn inline_providers_never_wait() {
    let config = issuer().config();
    let policy = Policy::from_json(config.to_string().as_bytes()).unwrap();
    let slots = vec![Slot::default()];
    let mut cache = TokenCache::new(16);
    let claims = issuer().claims(now(), json!({}));
    let stranger = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("unknown");
    let token = stranger.sign(&claims).unwrap();
    let request = Request::from_headers(vec![
        (":method".into(), "GET".into()),
        (":path".into(), "/devices/1".into()),
        ("authorization".into(), format!("Bearer {token}")),
    ]);
    assert!(matches!(
        decide(&policy, &slots, &mut cache, &request),
        Decision::Deny {
            denial: Denial::InvalidToken(_),
            ..
        }
    ));
}

#[test]
fn configurations_name_exactly_one_key_source() {
    let mut config = issuer().config();
    config["providers"][0]["remote_jwks"] = json!({"cluster": "idp", "uri": "https://idp/certs"});
    let err = Policy::from_json(config.to_string().as_bytes())
        .err()
        .unwrap();
    assert_eq!(err.field(), "providers[0]");
    config["providers"][0]
        .as_object_mut()
        .unwrap()
        .remove("jwks");
    config["providers"][0]["discovery"] = json!({"cluster": "idp"});
    let err = Policy::from_json(config.to_string().as_bytes())
        .err()
        .unwrap();
    assert!(err.problem().contains("not both"), "{err}");
}

/// A JWK Set is public: a provider whose keys are fetched cannot list an HMAC algorithm, or
/// an `oct` key in the set would be a secret anyone can sign with (RFC 8725 section 3.2).
#[test]
fn hmac_algorithms_are_refused_for_providers_whose_keys_are_fetched() {
    for source in [
        json!({"remote_jwks": {"cluster": "idp", "uri": "https://idp.example.com/certs"}}),
        json!({"discovery": {"cluster": "idp"}}),
    ] {
        let mut config = issuer().config();
        let mut provider = json!({
            "name": "remote", "issuer": ISS, "audiences": ["edge-api"],
            "algorithms": ["ES256", "HS256"]
        });
        for (name, value) in source.as_object().unwrap() {
            provider[name] = value.clone();
        }
        config["providers"][0] = provider;
        let err = Policy::from_json(config.to_string().as_bytes())
            .err()
            .unwrap();
        assert_eq!(err.field(), "providers[0].algorithms[1]", "{err}");
        assert!(err.problem().contains("never fetched"), "{err}");
    }
}

/// The backstop: a fetched set listing an `oct` key next to the signing key yields no HMAC
/// secret, even when asked for HS256.
#[test]
fn fetched_oct_keys_are_skipped() {
    let hs = SigningKey::generate(Algorithm::HS256)
        .unwrap()
        .with_kid("mac");
    let es = key("k1");
    let body = json!({"keys": [hs.public_jwk("mac"), es.1.public_jwk("k1")]});
    let (keys, skipped) = KeySet::from_fetched_jwks(
        body.to_string().as_bytes(),
        &[Algorithm::HS256, Algorithm::ES256],
    )
    .unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(keys.candidates(Algorithm::HS256, Some("mac")).count(), 0);
    assert_eq!(keys.candidates(Algorithm::ES256, Some("k1")).count(), 1);
}
