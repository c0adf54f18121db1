//! Sender-constrained tokens through the whole decision: DPoP proofs (RFC 9449), each check
//! failing alone, the replay cache, certificate-bound tokens (RFC 8705), the 401 challenges and
//! the protected-resource metadata document (RFC 9728).

use crate::dpop_client::DpopClient;
use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize, Decision};
use edge_auth::policy::deny::Denial;
use edge_auth::policy::sender::challenge::deny_response;
use edge_auth::policy::sender::replay::{LocalReplayCache, Recorded};
use edge_auth::policy::sender::resource_metadata;
use edge_auth::policy::Policy;
use edge_auth::request::credential::{NonceKey, Request};
use fixtures::{allowed, denied, issuer, now};
use serde_json::{json, Value};

const URL: &str = "https://api.example.com/devices/7";

fn policy(config: Value) -> Policy {
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

/// The test issuer's configuration with DPoP on and the confirmation header forwarded.
fn dpop_config() -> Value {
    let mut config = issuer().config();
    config["dpop"] = json!({"algorithms": ["ES256", "EdDSA"], "max_age_seconds": 60,
                            "clock_skew_seconds": 5});
    config["forward"]["confirmation_header"] = json!("x-auth-cnf");
    config
}

/// A token of the test issuer bound to `client`'s key.
fn bound_token(client: &DpopClient, t: u64) -> String {
    issuer().token(Algorithm::ES256, t, json!({"cnf": {"jkt": client.jkt()}}))
}

/// `GET /devices/7` as Envoy hands it over: `:scheme` and `:authority` included.
fn get(headers: &[(&str, &str)]) -> Request {
    call("GET", headers)
}

fn call(method: &str, headers: &[(&str, &str)]) -> Request {
    let mut all = vec![
        (":method", method),
        (":path", "/devices/7?page=2"),
        (":scheme", "https"),
        (":authority", "api.example.com"),
    ];
    all.extend_from_slice(headers);
    fixtures::request(method, "/devices/7?page=2", &all)
}

fn with_dpop(token: &str, proof: &str) -> Request {
    get(&[("authorization", &format!("DPoP {token}")), ("dpop", proof)])
}

fn decide<'a>(policy: &'a Policy, request: &Request, t: u64) -> Decision<'a> {
    authorize(policy, &mut TokenCache::new(16), request, t)
}

fn proof_refused(why: &str) -> Denial {
    Denial::InvalidDpopProof(why.to_string())
}

fn token_refused(why: &str) -> Denial {
    Denial::InvalidToken(why.to_string())
}

#[test]
fn valid_es256_and_eddsa_proofs_pass_and_nothing_secret_reaches_the_upstream() {
    let policy = policy(dpop_config());
    let t = now();
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let client = DpopClient::new(alg);
        let token = bound_token(&client, t);
        let proof = client.proof("GET", URL, Some(&token), t);
        let forwarding = allowed(decide(&policy, &with_dpop(&token, &proof), t));
        assert!(
            forwarding.remove.contains(&"authorization"),
            "{forwarding:?}"
        );
        assert!(forwarding.remove.contains(&"dpop"), "{forwarding:?}");
        assert!(forwarding.set.contains(&("x-auth-cnf", "dpop".to_string())));
        assert!(forwarding
            .set
            .contains(&("x-auth-subject", "alice".to_string())));
        let replay = forwarding
            .replay
            .expect("the proof goes to the replay cache");
        assert_eq!(replay.expires_at, t + 60 + 5);
    }
}

#[test]
fn proof_typ_must_be_dpop_jwt() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    for typ in [json!("JWT"), json!(null)] {
        let mut header = client.header();
        header.insert("typ".into(), typ);
        let proof = client.sign(&header, &client.claims("GET", URL, Some(&token), t));
        assert_eq!(
            denied(decide(&policy, &with_dpop(&token, &proof), t)),
            proof_refused("DPoP proof typ is not dpop+jwt")
        );
    }
}

#[test]
fn proof_alg_none_hmac_or_outside_the_list_is_refused() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let claims = client.claims("GET", URL, Some(&token), t);
    // alg none: an empty signature part.
    let mut header = client.header();
    header.insert("alg".into(), json!("none"));
    let unsigned = format!(
        "{}.{}.",
        fixtures::b64json(&Value::Object(header)),
        fixtures::b64json(&Value::Object(claims.clone()))
    );
    // HS256: a symmetric algorithm can never prove possession of a public key.
    let mut hs_header = client.header();
    hs_header.insert("alg".into(), json!("HS256"));
    let hs_claims = Value::Object(claims.clone());
    let hs_input = format!(
        "{}.{}",
        fixtures::b64json(&Value::Object(hs_header)),
        fixtures::b64json(&hs_claims)
    );
    let hs_proof = format!("{hs_input}.c2lnbmF0dXJl");
    // ES384 is a real asymmetric algorithm, but not in this configuration's list.
    let mut es384 = client.header();
    es384.insert("alg".into(), json!("ES384"));
    let es384_proof = client.sign(&es384, &claims);
    for proof in [unsigned, hs_proof, es384_proof] {
        assert_eq!(
            denied(decide(&policy, &with_dpop(&token, &proof), t)),
            proof_refused("DPoP proof algorithm is not allowed")
        );
    }
}

#[test]
fn proof_jwk_with_private_members_is_refused() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let mut header = client.header();
    header["jwk"]["d"] = json!("c2VjcmV0");
    let proof = client.sign(&header, &client.claims("GET", URL, Some(&token), t));
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &proof), t)),
        proof_refused("DPoP proof jwk contains private key material")
    );
}

#[test]
fn proof_without_jwk_or_with_a_jwk_of_another_curve_is_refused() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let claims = client.claims("GET", URL, Some(&token), t);
    let mut no_jwk = client.header();
    no_jwk.remove("jwk");
    let ed = DpopClient::new(Algorithm::EdDSA);
    let mut wrong_family = client.header();
    wrong_family.insert("jwk".into(), Value::Object(ed.jwk()));
    for header in [no_jwk, wrong_family] {
        let proof = client.sign(&header, &claims);
        assert_eq!(
            denied(decide(&policy, &with_dpop(&token, &proof), t)),
            proof_refused("DPoP proof has no usable public jwk")
        );
    }
}

#[test]
fn proof_signed_by_another_key_than_its_jwk_is_refused() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let thief = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    // The victim's jwk in the header (it matches cnf.jkt), the thief's signature.
    let proof = thief.sign(
        &client.header(),
        &client.claims("GET", URL, Some(&token), t),
    );
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &proof), t)),
        proof_refused("DPoP proof signature is invalid")
    );
}

#[test]
fn proof_for_another_method_or_url_is_refused_and_its_query_is_ignored() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let post = client.proof("POST", URL, Some(&token), t);
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &post), t)),
        proof_refused("DPoP proof htm does not match the request method")
    );
    for url in [
        "https://api.example.com/devices/8",
        "http://api.example.com/devices/7",
        "https://other.example.com/devices/7",
    ] {
        let proof = client.proof("GET", url, Some(&token), t);
        assert_eq!(
            denied(decide(&policy, &with_dpop(&token, &proof), t)),
            proof_refused("DPoP proof htu does not match the request URL"),
            "{url}"
        );
    }
    for url in [
        "https://api.example.com/devices/7?page=2",
        "https://api.example.com/devices/7?other#frag",
        "https://API.example.com:443/devices/7",
    ] {
        let proof = client.proof("GET", url, Some(&token), t);
        allowed(decide(&policy, &with_dpop(&token, &proof), t));
    }
}

#[test]
fn htu_uses_the_configured_external_origin_instead_of_what_envoy_saw() {
    let mut config = dpop_config();
    config["dpop"]["external_origin"] = json!("https://public.example.com");
    let policy = policy(config);
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let internal = client.proof("GET", URL, Some(&token), t);
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &internal), t)),
        proof_refused("DPoP proof htu does not match the request URL")
    );
    let public = client.proof(
        "GET",
        "https://public.example.com/devices/7",
        Some(&token),
        t,
    );
    allowed(decide(&policy, &with_dpop(&token, &public), t));
}

#[test]
fn stale_or_future_proofs_are_refused_at_the_window_edges() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let at = |iat: u64| client.proof("GET", URL, Some(&token), iat);
    // 60 s window plus 5 s skew, both ways for the future.
    allowed(decide(&policy, &with_dpop(&token, &at(t - 65)), t));
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &at(t - 66)), t)),
        proof_refused("DPoP proof is too old")
    );
    allowed(decide(&policy, &with_dpop(&token, &at(t + 5)), t));
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &at(t + 6)), t)),
        proof_refused("DPoP proof is issued in the future")
    );
}

#[test]
fn replayed_jti_is_refused_by_the_shared_replay_cache() {
    let policy = policy(dpop_config());
    let limits = policy.sender.dpop.as_ref().unwrap().replay;
    let mut replay = LocalReplayCache::new(limits);
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let proof = client.proof("GET", URL, Some(&token), t);
    // What the host does with an allowed request: record the proof, refuse a second use.
    let mut record = |at: u64| {
        let forwarding = allowed(decide(&policy, &with_dpop(&token, &proof), at));
        replay.first_use(&forwarding.replay.unwrap(), at)
    };
    assert_eq!(record(t), Ok(()));
    assert_eq!(record(t + 1), Err(Recorded::Replayed));
    assert_eq!(record(t + 65), Err(Recorded::Replayed));
    // A fresh proof (new jti) of the same key is fine.
    let fresh = client.proof("GET", URL, Some(&token), t);
    let forwarding = allowed(decide(&policy, &with_dpop(&token, &fresh), t));
    assert_eq!(replay.first_use(&forwarding.replay.unwrap(), t), Ok(()));
}

#[test]
fn missing_or_wrong_ath_is_refused() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let other = bound_token(&client, t - 1);
    for proof in [
        client.proof("GET", URL, None, t),
        client.proof("GET", URL, Some(&other), t),
    ] {
        assert_eq!(
            denied(decide(&policy, &with_dpop(&token, &proof), t)),
            proof_refused("DPoP proof ath does not match the access token")
        );
    }
}

#[test]
fn missing_jti_or_iat_is_refused() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    for (claim, why) in [
        ("jti", "DPoP proof has no valid jti"),
        ("iat", "DPoP proof has no valid iat"),
    ] {
        let mut claims = client.claims("GET", URL, Some(&token), t);
        claims.remove(claim);
        let proof = client.sign(&client.header(), &claims);
        assert_eq!(
            denied(decide(&policy, &with_dpop(&token, &proof), t)),
            proof_refused(why)
        );
    }
}

#[test]
fn proof_by_a_key_other_than_cnf_jkt_is_refused() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let thief = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let proof = thief.proof("GET", URL, Some(&token), t);
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &proof), t)),
        token_refused("the DPoP proof key is not the key the token is bound to")
    );
}

#[test]
fn no_proof_or_two_proofs_are_refused() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let dpop = format!("DPoP {token}");
    let one = client.proof("GET", URL, Some(&token), t);
    let two = client.proof("GET", URL, Some(&token), t);
    assert_eq!(
        denied(decide(&policy, &get(&[("authorization", &dpop)]), t)),
        proof_refused("a DPoP proof is required")
    );
    let twice = get(&[("authorization", &dpop), ("dpop", &one), ("dpop", &two)]);
    assert_eq!(
        denied(decide(&policy, &twice, t)),
        proof_refused("more than one DPoP proof")
    );
    let joined = format!("{one},{two}");
    assert_eq!(
        denied(decide(
            &policy,
            &get(&[("authorization", &dpop), ("dpop", &joined)]),
            t
        )),
        proof_refused("more than one DPoP proof")
    );
}

#[test]
fn bound_token_as_bearer_is_refused_even_from_the_cache() {
    let policy = policy(dpop_config());
    let mut cache = TokenCache::new(16);
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let proof = client.proof("GET", URL, Some(&token), t);
    allowed(authorize(
        &policy,
        &mut cache,
        &with_dpop(&token, &proof),
        t,
    ));
    assert_eq!(
        cache.len(),
        1,
        "the verified token is cached with its binding"
    );
    let bearer = get(&[("authorization", &format!("Bearer {token}"))]);
    assert_eq!(
        denied(authorize(&policy, &mut cache, &bearer, t)),
        token_refused("token is DPoP-bound: present it with the DPoP scheme and a proof")
    );
}

#[test]
fn a_proof_counts_only_for_the_token_in_the_dpop_authorization() {
    // The configuration reads x-rpz-auth before authorization: the bound token in x-rpz-auth
    // is the credential, and a DPoP authorization beside it does not make it a DPoP request.
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let other = bound_token(&client, t - 5);
    let proof = client.proof("GET", URL, Some(&token), t);
    let request = get(&[
        ("x-rpz-auth", &format!("Bearer {token}")),
        ("authorization", &format!("DPoP {other}")),
        ("dpop", &proof),
    ]);
    assert_eq!(
        denied(decide(&policy, &request, t)),
        token_refused("token is DPoP-bound: present it with the DPoP scheme and a proof")
    );
}

#[test]
fn dpop_scheme_with_an_unbound_token_is_refused() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = issuer().token(Algorithm::ES256, t, json!({}));
    let proof = client.proof("GET", URL, Some(&token), t);
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &proof), t)),
        token_refused("token is not DPoP-bound")
    );
    // The same token as Bearer is still fine: the provider does not demand binding.
    let bearer = get(&[("authorization", &format!("Bearer {token}"))]);
    let forwarding = allowed(decide(&policy, &bearer, t));
    assert!(!forwarding.set.iter().any(|(name, _)| *name == "x-auth-cnf"));
    assert_eq!(forwarding.replay, None);
}

#[test]
fn provider_or_rule_demanding_dpop_refuses_bearer_tokens() {
    let t = now();
    let bearer = issuer().token(Algorithm::ES256, t, json!({}));
    let request = get(&[("authorization", &format!("Bearer {bearer}"))]);
    let mut by_provider = dpop_config();
    by_provider["providers"][0]["sender_constraint"] = json!("dpop");
    assert_eq!(
        denied(decide(&policy(by_provider.clone()), &request, t)),
        token_refused("a sender-constrained token is required")
    );
    // A rule may relax it for its routes...
    let mut relaxed = by_provider;
    relaxed["rules"][1]["sender_constraint"] = json!("none");
    allowed(decide(&policy(relaxed), &request, t));
    // ...or demand it where the provider does not.
    let mut by_rule = dpop_config();
    by_rule["rules"][1]["sender_constraint"] = json!("dpop");
    assert_eq!(
        denied(decide(&policy(by_rule), &request, t)),
        token_refused("a sender-constrained token is required")
    );
}

#[test]
fn without_a_dpop_block_bound_tokens_stay_bearer_tokens_as_before() {
    let policy = policy(issuer().config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let bearer = get(&[("authorization", &format!("Bearer {token}"))]);
    let forwarding = allowed(decide(&policy, &bearer, t));
    assert_eq!(forwarding.replay, None);
    // And the DPoP scheme is not read at all.
    let proof = client.proof("GET", URL, Some(&token), t);
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &proof), t)),
        Denial::MissingCredential
    );
}

#[test]
fn challenges_offer_dpop_with_its_algorithms_and_the_error() {
    let policy = policy(dpop_config());
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let stale = client.proof("GET", URL, Some(&token), t - 600);
    let request = with_dpop(&token, &stale);
    let Decision::Deny { denial, challenge } = decide(&policy, &request, t) else {
        panic!("not denied")
    };
    let response = deny_response(&policy, &request, &denial, challenge);
    assert_eq!(response.status, 401);
    let challenges: Vec<&str> = response
        .headers
        .iter()
        .filter(|(name, _)| name == "www-authenticate")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(
        challenges,
        [
            "DPoP realm=\"edge\", algs=\"ES256 EdDSA\", error=\"invalid_dpop_proof\", \
          error_description=\"DPoP proof is too old\""
        ]
    );
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");

    let anonymous = get(&[]);
    let Decision::Deny { denial, challenge } = decide(&policy, &anonymous, t) else {
        panic!("not denied")
    };
    let response = deny_response(&policy, &anonymous, &denial, challenge);
    let challenges: Vec<&str> = response
        .headers
        .iter()
        .filter(|(name, _)| name == "www-authenticate")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(
        challenges,
        [
            "Bearer realm=\"edge\"",
            "DPoP realm=\"edge\", algs=\"ES256 EdDSA\""
        ]
    );
}

// ---- Server nonces (RFC 9449 section 9) ----

#[test]
fn with_server_nonces_a_proof_needs_a_current_nonce_and_gets_one_when_refused() {
    use edge_auth::policy::sender::dpop_nonce;
    let mut config = dpop_config();
    config["dpop"]["nonce_lifetime_seconds"] = json!(60);
    let policy = policy(config);
    let key = NonceKey::from_bytes(&[42u8; 32]).unwrap();
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let with_key = |proof: &str| Request {
        dpop_nonce_key: Some(key.clone()),
        ..with_dpop(&token, proof)
    };
    let proof_with = |nonce: Option<&str>| {
        let mut claims = client.claims("GET", URL, Some(&token), t);
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        client.sign(&client.header(), &claims)
    };

    // No nonce: 401 use_dpop_nonce, with a fresh nonce in DPoP-Nonce and the challenge.
    let request = with_key(&proof_with(None));
    let Decision::Deny { denial, challenge } = decide(&policy, &request, t) else {
        panic!("not denied")
    };
    let fresh = dpop_nonce::issue(&key, t, 60);
    assert_eq!(denial, Denial::UseDpopNonce(fresh.clone()));
    let response = deny_response(&policy, &request, &denial, challenge);
    assert_eq!(response.status, 401);
    assert!(response
        .headers
        .contains(&("dpop-nonce".to_string(), fresh.clone())));
    assert!(response
        .headers
        .iter()
        .any(|(name, value)| name == "www-authenticate"
            && value.starts_with("DPoP ")
            && value.contains("error=\"use_dpop_nonce\"")));

    // With it: allowed. With an old or a made-up one: a fresh nonce again.
    allowed(decide(&policy, &with_key(&proof_with(Some(&fresh))), t));
    let old = dpop_nonce::issue(&key, t - 200, 60);
    for nonce in [old.as_str(), "made-up"] {
        assert_eq!(
            denied(decide(&policy, &with_key(&proof_with(Some(nonce))), t)),
            Denial::UseDpopNonce(fresh.clone())
        );
    }
    // Without the workers' key the filter cannot tell: refused, never passed.
    assert!(matches!(
        denied(decide(
            &policy,
            &with_dpop(&token, &proof_with(Some(&fresh))),
            t
        )),
        Denial::Unavailable(_)
    ));
}

/// A configured nonce key (`dpop.nonce_keys`) from its bytes, as `edge-auth keygen --nonce-key`
/// prints one, and the [`NonceKey`] the core compares with.
fn nonce_key(byte: u8) -> (String, NonceKey) {
    use base64::Engine;
    let bytes: Vec<u8> = (0..32u8).map(|i| byte ^ i.wrapping_mul(37)).collect();
    (
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
        NonceKey::from_bytes(&bytes).unwrap(),
    )
}

/// The DPoP configuration with server nonces made with `keys` (base64url), in this order.
fn nonce_keys_policy(keys: &[&str]) -> Policy {
    let mut config = dpop_config();
    config["dpop"]["nonce_lifetime_seconds"] = json!(60);
    config["dpop"]["nonce_keys"] = json!(keys);
    policy(config)
}

/// Rotation across a fleet: the first configured key issues, every listed key is accepted, so a
/// nonce of the old key holds while the list is [new, old] and is refused once old is removed.
/// Configured keys replace the workers' random one: a request carrying it changes nothing.
#[test]
fn configured_nonce_keys_issue_with_the_first_and_accept_any_until_removed() {
    use edge_auth::policy::sender::dpop_nonce;
    let (old_text, old) = nonce_key(0x11);
    let (new_text, new) = nonce_key(0x22);
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let proof_with = |nonce: Option<&str>| {
        let mut claims = client.claims("GET", URL, Some(&token), t);
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        with_dpop(&token, &client.sign(&client.header(), &claims))
    };

    // Only the old key: it issues (no random key in the request, none needed).
    let before = nonce_keys_policy(&[&old_text]);
    let from_old = dpop_nonce::issue(&old, t, 60);
    assert_eq!(
        denied(decide(&before, &proof_with(None), t)),
        Denial::UseDpopNonce(from_old.clone())
    );
    allowed(decide(&before, &proof_with(Some(&from_old)), t));

    // [new, old]: the old key's nonce still holds; fresh nonces come from the new key.
    let rotating = nonce_keys_policy(&[&new_text, &old_text]);
    allowed(decide(&rotating, &proof_with(Some(&from_old)), t));
    let from_new = dpop_nonce::issue(&new, t, 60);
    assert_ne!(from_new, from_old);
    assert_eq!(
        denied(decide(&rotating, &proof_with(None), t)),
        Denial::UseDpopNonce(from_new.clone())
    );
    allowed(decide(&rotating, &proof_with(Some(&from_new)), t));

    // [new]: the old key's nonce is refused, with a fresh one of the new key.
    let after = nonce_keys_policy(&[&new_text]);
    assert_eq!(
        denied(decide(&after, &proof_with(Some(&from_old)), t)),
        Denial::UseDpopNonce(from_new.clone())
    );
    allowed(decide(&after, &proof_with(Some(&from_new)), t));

    // The workers' random key is not used beside configured ones.
    let (_, random) = nonce_key(0x33);
    let from_random = dpop_nonce::issue(&random, t, 60);
    let carrying = Request {
        dpop_nonce_key: Some(random),
        ..proof_with(Some(&from_random))
    };
    assert_eq!(
        denied(decide(&after, &carrying, t)),
        Denial::UseDpopNonce(from_new)
    );
}

/// Every bad `dpop.nonce_keys` names the field (and the entry), and no error repeats any text
/// of a key, right or wrong: errors end up in Envoy's log and `edge-auth check`'s output.
#[test]
fn nonce_key_configuration_errors_name_the_entry_and_never_show_a_key() {
    let (good, _) = nonce_key(0x44);
    let (other, _) = nonce_key(0x55);
    let short = &good[..40];
    let padded = format!("{good}=");
    // Base64 with `+` and `/`, not base64url.
    let standard = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_NO_PAD.encode([0xfb; 32])
    };
    let zeros = "A".repeat(43);
    let hint = "must be 32 bytes in base64url (edge-auth keygen --nonce-key makes one)";
    let cases: Vec<(Value, String)> = vec![
        (json!([good, short]), format!("dpop.nonce_keys[1]: {hint}")),
        (json!([padded]), format!("dpop.nonce_keys[0]: {hint}")),
        (json!([good, standard]), format!("dpop.nonce_keys[1]: {hint}")),
        (json!([other, good, 7]), format!("dpop.nonce_keys[2]: {hint}")),
        (json!([zeros]), "dpop.nonce_keys[0]: is all zeros, a placeholder (edge-auth keygen --nonce-key makes one)".to_string()),
        (json!([good, other, good]), "dpop.nonce_keys[2]: is the same key as dpop.nonce_keys[0]".to_string()),
        (json!([]), "dpop.nonce_keys: must list 1 to 4 keys, the first issuing nonces (omit it for a random key per Envoy)".to_string()),
        (json!([good, other, short, short, short]), "dpop.nonce_keys: must list 1 to 4 keys, the first issuing nonces (omit it for a random key per Envoy)".to_string()),
        (json!(good), "dpop.nonce_keys: must be a list of keys in base64url (edge-auth keygen --nonce-key makes one)".to_string()),
        (json!({"key": good}), "dpop.nonce_keys: must be a list of keys in base64url (edge-auth keygen --nonce-key makes one)".to_string()),
    ];
    for (keys, expected) in cases {
        let mut config = dpop_config();
        config["dpop"]["nonce_lifetime_seconds"] = json!(60);
        config["dpop"]["nonce_keys"] = keys.clone();
        let err = match Policy::from_json(config.to_string().as_bytes()) {
            Ok(_) => panic!("accepted: {keys}"),
            Err(err) => err.to_string(),
        };
        assert_eq!(err, expected, "{keys}");
        for text in [&good, &other] {
            assert!(!err.contains(&text[..8]), "{err}");
        }
    }
    // Keys without nonces would do nothing: refused rather than silently unused.
    let mut without_lifetime = dpop_config();
    without_lifetime["dpop"]["nonce_keys"] = json!([good]);
    let err = Policy::from_json(without_lifetime.to_string().as_bytes())
        .err()
        .expect("refused")
        .to_string();
    assert_eq!(
        err,
        "dpop.nonce_keys: needs dpop.nonce_lifetime_seconds: without it there are no server nonces"
    );
    // Four distinct keys are the most.
    let four: Vec<String> = (1..=4).map(|byte| nonce_key(byte).0).collect();
    let policy = nonce_keys_policy(&four.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(policy.sender.dpop.unwrap().nonce_keys.len(), 4);
}

/// The configured nonce keys live in the policy: printing its sender settings shows
/// nothing of them, in base64url, hex or decimal bytes.
#[test]
fn a_printed_policy_shows_nothing_of_the_configured_nonce_keys() {
    let key = [0x5au8; 32];
    let text = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
    };
    let policy = nonce_keys_policy(&[&text]);
    let dpop = policy.sender.dpop.as_ref().unwrap();
    assert_eq!(dpop.nonce_keys.len(), 1);
    let sender = &policy.sender; // `Policy` has no Debug; its DPoP settings do
    let printed = format!("{sender:?} {sender:#?} {dpop:?}");
    assert!(printed.contains("nonce_keys"), "{printed}");
    assert!(!printed.contains(&text[..8]), "{printed}");
    assert!(!printed.contains("90, 90"), "{printed}"); // 0x5a as decimal bytes
    assert!(!printed.to_lowercase().contains("5a5a"), "{printed}");
}

// ---- Certificate-bound tokens (RFC 8705) ----

/// Hex SHA-256 of a (pretend) DER certificate, and its base64url form for `cnf."x5t#S256"`.
fn certificate(name: &str) -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    (
        hex,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
    )
}

#[test]
fn certificate_bound_token_needs_the_certificate_of_the_connection() {
    let mut config = issuer().config();
    config["mtls"] = json!({});
    config["forward"]["confirmation_header"] = json!("x-auth-cnf");
    let policy = policy(config);
    assert!(policy.uses_peer_certificate);
    let t = now();
    let (hex, x5t) = certificate("client-a");
    let (other_hex, _) = certificate("client-b");
    let token = issuer().token(Algorithm::ES256, t, json!({"cnf": {"x5t#S256": x5t}}));
    let bearer = format!("Bearer {token}");
    let over = |peer: Option<&str>| Request {
        peer_certificate_sha256: peer.map(str::to_string),
        ..get(&[("authorization", &bearer)])
    };
    let forwarding = allowed(decide(&policy, &over(Some(&hex)), t));
    assert!(forwarding.set.contains(&("x-auth-cnf", "mtls".to_string())));
    assert_eq!(
        denied(decide(&policy, &over(Some(&other_hex)), t)),
        token_refused("the client certificate is not the one the token is bound to")
    );
    assert_eq!(
        denied(decide(&policy, &over(None), t)),
        token_refused("token is certificate-bound: a client certificate is required")
    );
}

#[test]
fn certificate_may_come_from_a_trusted_front_proxy_header() {
    let mut config = issuer().config();
    config["mtls"] = json!({"certificate_source": "x-forwarded-client-cert"});
    let policy = policy(config);
    assert!(!policy.uses_peer_certificate);
    let t = now();
    let (hex, x5t) = certificate("client-a");
    let token = issuer().token(Algorithm::ES256, t, json!({"cnf": {"x5t#S256": x5t}}));
    let bearer = format!("Bearer {token}");
    let xfcc = format!("By=spiffe://edge;Hash={hex};Subject=\"CN=client-a\"");
    allowed(decide(
        &policy,
        &get(&[
            ("authorization", &bearer),
            ("x-forwarded-client-cert", &xfcc),
        ]),
        t,
    ));
    // The connection's certificate is not what this configuration trusts.
    let request = Request {
        peer_certificate_sha256: Some(hex),
        ..get(&[("authorization", &bearer)])
    };
    assert_eq!(
        denied(decide(&policy, &request, t)),
        token_refused("token is certificate-bound: a client certificate is required")
    );
}

#[test]
fn malformed_cnf_is_refused_only_where_binding_is_configured() {
    let t = now();
    let token = issuer().token(Algorithm::ES256, t, json!({"cnf": {"jkt": 42}}));
    let bearer = get(&[("authorization", &format!("Bearer {token}"))]);
    allowed(decide(&policy(issuer().config()), &bearer, t));
    assert_eq!(
        denied(decide(&policy(dpop_config()), &bearer, t)),
        token_refused("token has an invalid cnf claim")
    );
}

// ---- Protected-resource metadata (RFC 9728) ----

fn metadata_config() -> Value {
    let mut config = dpop_config();
    config["resource_metadata"] = json!({"resource": "https://api.example.com/v1",
                                         "documentation": "https://docs.example.com/api"});
    config
}

#[test]
fn metadata_document_is_built_from_the_configuration() {
    let policy = policy(metadata_config());
    let request = |path: &str| fixtures::request("GET", path, &[]);
    let reply = resource_metadata::answer(
        &policy,
        &request("/.well-known/oauth-protected-resource/v1"),
    )
    .unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply
        .headers
        .contains(&("cache-control", "public, max-age=3600".to_string())));
    let document: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        document,
        json!({
            "resource": "https://api.example.com/v1",
            "authorization_servers": [fixtures::ISSUER],
            "scopes_supported": ["devices:read", "devices:write"],
            "bearer_methods_supported": ["header"],
            "resource_documentation": "https://docs.example.com/api",
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
            "dpop_bound_access_tokens_required": false,
            "tls_client_certificate_bound_access_tokens": false
        })
    );
    assert!(
        resource_metadata::answer(&policy, &request("/.well-known/oauth-protected-resource"))
            .is_some()
    );
    assert!(resource_metadata::answer(&policy, &request("/devices")).is_none());
    let post = fixtures::request("POST", "/.well-known/oauth-protected-resource/v1", &[]);
    assert!(resource_metadata::answer(&policy, &post).is_none());
    assert!(resource_metadata::answer(
        &self::policy(dpop_config()),
        &request("/.well-known/oauth-protected-resource")
    )
    .is_none());
}

#[test]
fn every_401_challenge_names_the_metadata_url() {
    let policy = policy(metadata_config());
    let request = get(&[]);
    let Decision::Deny { denial, challenge } = decide(&policy, &request, now()) else {
        panic!("not denied")
    };
    let response = deny_response(&policy, &request, &denial, challenge);
    let challenges: Vec<&str> = response
        .headers
        .iter()
        .filter(|(name, _)| name == "www-authenticate")
        .map(|(_, value)| value.as_str())
        .collect();
    let url = "https://api.example.com/.well-known/oauth-protected-resource/v1";
    assert_eq!(
        challenges,
        [
            format!("Bearer realm=\"edge\", resource_metadata=\"{url}\""),
            format!("DPoP realm=\"edge\", algs=\"ES256 EdDSA\", resource_metadata=\"{url}\"")
        ]
    );
}

// ---- Configuration errors name their field ----

#[test]
fn sender_constraint_configuration_errors_name_the_field() {
    let error = |config: Value| match Policy::from_json(config.to_string().as_bytes()) {
        Ok(_) => panic!("accepted: {config}"),
        Err(err) => err.to_string(),
    };
    let mut hmac = dpop_config();
    hmac["dpop"]["algorithms"] = json!(["HS256"]);
    assert!(error(hmac).starts_with("dpop.algorithms[0]: "));
    let mut without_block = issuer().config();
    without_block["providers"][0]["sender_constraint"] = json!("dpop");
    assert_eq!(
        error(without_block),
        "providers[0].sender_constraint: dpop needs a dpop block"
    );
    let mut unknown = dpop_config();
    unknown["rules"][1]["sender_constraint"] = json!("always");
    assert!(error(unknown).starts_with("rules[1].sender_constraint: "));
    let mut typo = dpop_config();
    typo["dpop"]["max_age"] = json!(5);
    let typo = error(typo);
    assert!(typo.contains("unknown field `max_age`"), "{typo}");
    let mut resource = dpop_config();
    resource["resource_metadata"] = json!({"resource": "ftp://x"});
    assert!(error(resource).starts_with("resource_metadata.resource: "));
}

/// The nonce key is the one secret a request carries into the core: printing the request
/// (as a debug log or a failed assertion would) shows nothing of it.
#[test]
fn a_printed_request_shows_nothing_of_the_dpop_nonce_key() {
    let key = [0x5au8; 32];
    let request = Request {
        dpop_nonce_key: NonceKey::from_bytes(&key),
        ..Request::default()
    };
    let printed = format!("{request:?} {request:#?}");
    assert!(!printed.contains("90"), "{printed}"); // 0x5a as a decimal byte
    assert!(!printed.to_lowercase().contains("5a"), "{printed}");
    assert!(printed.contains("dpop_nonce_key"), "{printed}");
}

// ---- Cheap checks first, and a budget for proof signatures (issue 18) ----

/// A proof carrying another key than the token's `cnf.jkt` is refused for the key (compared by
/// thumbprint), before that key is built or its signature checked: here the signature is not
/// even the other key's.
#[test]
fn a_proof_of_another_key_is_refused_before_its_signature_is_checked() {
    let policy = policy(dpop_config());
    let t = now();
    let owner = DpopClient::new(Algorithm::ES256);
    let other = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&owner, t);
    let mut header = owner.header();
    header.insert("jwk".into(), json!(other.jwk()));
    // Signed by the owner's key but naming the other one: the other key cannot verify it.
    let proof = owner.sign(&header, &owner.claims("GET", URL, Some(&token), t));
    assert_eq!(
        denied(decide(&policy, &with_dpop(&token, &proof), t)),
        token_refused("the DPoP proof key is not the key the token is bound to")
    );
}

/// A proof `jwk` that is an RSA key above 4096 bits, or with an exponent of 64 bits, is
/// refused as a key before it is built (no modular arithmetic, no signature math), even when
/// it is the key the token is bound to.
#[test]
fn oversized_rsa_proof_keys_are_refused_before_any_math() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut config = dpop_config();
    config["dpop"]["algorithms"] = json!(["RS256", "ES256"]);
    let policy = policy(config);
    let t = now();
    let claims_of = DpopClient::new(Algorithm::ES256);
    let odd_modulus = |bits: usize| {
        let mut n = vec![0xc5u8; bits / 8];
        n[0] = 0xff;
        *n.last_mut().unwrap() |= 1;
        URL_SAFE_NO_PAD.encode(n)
    };
    let e_65537 = URL_SAFE_NO_PAD.encode([1, 0, 1]);
    let e_wide = URL_SAFE_NO_PAD.encode([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    for (n, e) in [(odd_modulus(8192), &e_65537), (odd_modulus(2048), &e_wide)] {
        let jwk = json!({"kty": "RSA", "n": n, "e": e});
        let own = edge_auth::json::Value::from(jwk.clone());
        let jkt = edge_auth::jwt::dpop::jwk_thumbprint(own.as_object().unwrap()).unwrap();
        let token = issuer().token(Algorithm::ES256, t, json!({"cnf": {"jkt": jkt}}));
        let header = json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk});
        let claims = Value::Object(claims_of.claims("GET", URL, Some(&token), t));
        let signature = URL_SAFE_NO_PAD.encode(vec![0x42u8; n.len() * 3 / 4]);
        let proof = format!(
            "{}.{}.{signature}",
            fixtures::b64json(&header),
            fixtures::b64json(&claims)
        );
        assert_eq!(
            denied(decide(&policy, &with_dpop(&token, &proof), t)),
            proof_refused("DPoP proof has no usable public jwk"),
            "e = {e}"
        );
    }
}

/// A proof's signature is checked on every request, cached token or not: each one spends a
/// check of the source's budget, so a client cannot make the filter verify proofs without
/// bound by reusing one token.
#[test]
fn proof_signatures_spend_the_source_budget_even_for_cached_tokens() {
    use edge_auth::policy::abuse::records::MemoryStore;
    use edge_auth::policy::decision::authorize_guarded;
    let mut config = dpop_config();
    config["abuse"] = json!({"signature_budget": {"rate": 0.01, "burst": 3}});
    let policy = policy(config);
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(16);
    let t = now();
    let client = DpopClient::new(Algorithm::ES256);
    let token = bound_token(&client, t);
    let keys = edge_auth::jwt::token::InlineKeys(&policy.providers);
    let decide_guarded = |cache: &mut TokenCache| {
        let request = Request {
            source_address: Some("203.0.113.5".parse().unwrap()),
            ..with_dpop(&token, &client.proof("GET", URL, Some(&token), t))
        };
        let decision =
            authorize_guarded(&policy, &keys, &store, &|| None, cache, &request, t * 1000);
        match decision {
            Decision::Allow(_) => 200,
            Decision::Deny { denial, .. } => denial.status(),
            other => panic!("{other:?}"),
        }
    };
    // First sight: the token's signature and the proof's (2 of 3); then a cached token with a
    // new proof (3 of 3); then the budget is spent.
    assert_eq!(decide_guarded(&mut cache), 200);
    assert_eq!(decide_guarded(&mut cache), 200);
    assert_eq!(decide_guarded(&mut cache), 429);
}
