//! Native: keys that could verify nothing, or only at an unreasonable cost, are refused when
//! they are loaded: inline ones by the configuration (naming the key), fetched ones skipped.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::jwks::KeySet;
use edge_auth::jwt::mint::SigningKey;
use edge_auth::policy::Policy;
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A configuration trusting `good` and then `extra`, for `algorithms`.
fn config(algorithms: Value, good: Value, extra: Value) -> Value {
    json!({"providers": [{
        "name": "idp", "issuer": "https://idp.example.com", "audiences": ["edge-api"],
        "algorithms": algorithms, "jwks": {"keys": [good, extra]}
    }]})
}

fn refused_field(config: &Value) -> String {
    match Policy::from_json(config.to_string().as_bytes()) {
        Ok(_) => panic!("accepted: {config}"),
        Err(err) => err.field().to_string(),
    }
}

#[test]
fn inline_eddsa_keys_that_are_no_usable_point_are_refused_naming_the_key() {
    let good = SigningKey::generate(Algorithm::EdDSA)
        .unwrap()
        .public_jwk("good");
    let mut identity = [0u8; 32]; // y = 1: the identity, of small order
    identity[0] = 1;
    let mut order_two = [0xffu8; 32]; // y = −1 = p − 1: the point of order 2
    order_two[0] = 0xec;
    order_two[31] = 0x7f;
    let mut off_curve = [0u8; 32]; // y = 2: no x on the curve
    off_curve[0] = 2;
    for x in [identity, order_two, off_curve] {
        let bad = json!({"kty": "OKP", "crv": "Ed25519", "kid": "bad", "x": b64(&x)});
        let config = config(json!(["EdDSA"]), good.clone(), bad.clone());
        assert_eq!(
            refused_field(&config),
            "providers[0].jwks.keys[1]",
            "x = {x:?}"
        );
        let fetched = json!({"keys": [good.clone(), bad]}).to_string();
        let (keys, skipped) =
            KeySet::from_fetched_jwks(fetched.as_bytes(), &[Algorithm::EdDSA]).unwrap();
        assert!(!keys.has_kid("bad") && keys.has_kid("good"), "x = {x:?}");
        assert_eq!(skipped.len(), 1);
    }
}

#[test]
fn rsa_public_exponents_are_bounded_inline_and_fetched() {
    let good = SigningKey::generate(Algorithm::RS256)
        .unwrap()
        .public_jwk("good");
    let n = good["n"].as_str().unwrap().to_string();
    let with_e = |e: &[u8]| json!({"kty": "RSA", "kid": "bad", "n": n, "e": b64(e)});
    // 2^63 − 1 (a 64-bit exponent: every check about 7 times slower), 2^32 + 1, 1 and an even one.
    let too_wide = [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    for e in [&too_wide[..], &[1, 0, 0, 0, 1], &[1], &[1, 0, 0]] {
        let config = config(json!(["RS256"]), good.clone(), with_e(e));
        assert_eq!(
            refused_field(&config),
            "providers[0].jwks.keys[1].e",
            "e = {e:?}"
        );
        let fetched = json!({"keys": [with_e(e), good.clone()]}).to_string();
        let (keys, skipped) =
            KeySet::from_fetched_jwks(fetched.as_bytes(), &[Algorithm::RS256]).unwrap();
        assert!(!keys.has_kid("bad") && keys.has_kid("good"), "e = {e:?}");
        assert!(skipped[0].starts_with("keys[0].e"), "{skipped:?}");
    }
    // 3, 65537 and the largest accepted, 2^32 − 1, all load.
    for e in [&[3][..], &[1, 0, 1], &[0xff, 0xff, 0xff, 0xff]] {
        let config = config(json!(["RS256"]), good.clone(), with_e(e));
        assert!(
            Policy::from_json(config.to_string().as_bytes()).is_ok(),
            "e = {e:?}"
        );
    }
}
