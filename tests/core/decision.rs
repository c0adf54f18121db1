//! The whole decision, driven natively: the same core the filter runs inside Envoy.

use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize, Decision};
use edge_auth::policy::deny::{Challenge, Denial};
use edge_auth::policy::Policy;
use edge_auth::request::credential::Request;
use fixtures::{allowed, denied, issuer, now, request};
use serde_json::{json, Value};

fn policy(config: Value) -> Policy {
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

fn decide<'a>(
    policy: &'a Policy,
    cache: &mut TokenCache,
    request: &Request,
    at: u64,
) -> Decision<'a> {
    authorize(policy, cache, request, at)
}

const IDENTITY_HEADERS: [&str; 4] = [
    "x-auth-subject",
    "x-auth-scopes",
    "x-auth-provider",
    "x-auth-email",
];

#[test]
fn valid_token_is_allowed_with_identity_headers_and_token_header_consumed() {
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    let t = now();
    let token = issuer().token(Algorithm::ES256, t, json!({}));
    let bearer = format!("Bearer {token}");
    let mut headers: Vec<(&str, &str)> = IDENTITY_HEADERS.iter().map(|h| (*h, "spoofed")).collect();
    headers.push(("authorization", &bearer));
    let forwarding = allowed(decide(
        &policy,
        &mut cache,
        &request("GET", "/devices/7", &headers),
        t,
    ));
    for header in IDENTITY_HEADERS.iter().chain(["authorization"].iter()) {
        assert!(
            forwarding.remove.iter().any(|h| h == header),
            "{header} not removed: {forwarding:?}"
        );
    }
    let expected = [
        ("x-auth-subject", "alice"),
        ("x-auth-scopes", "devices:read profile:read"),
        ("x-auth-provider", "test-idp"),
        ("x-auth-email", "alice@example.com"),
    ];
    let set: Vec<(&str, &str)> = forwarding
        .set
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .collect();
    assert_eq!(set, expected);
}

#[test]
fn identity_headers_the_client_did_not_send_are_not_removed_only_set() {
    // Each removal is a host call on every request; an absent header needs none.
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    let t = now();
    let bearer = format!("Bearer {}", issuer().token(Algorithm::RS256, t, json!({})));
    let forwarding = allowed(decide(
        &policy,
        &mut cache,
        &request("GET", "/devices", &[("authorization", &bearer)]),
        t,
    ));
    assert_eq!(forwarding.remove, ["authorization"]);
    assert_eq!(forwarding.set.len(), 4);
}

#[test]
fn token_in_alternate_header_leaves_authorization_untouched() {
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    let t = now();
    let bearer = format!("Bearer {}", issuer().token(Algorithm::RS256, t, json!({})));
    let req = request(
        "GET",
        "/devices",
        &[
            ("authorization", "Basic Y2xpZW50OnNlY3JldA=="),
            ("x-rpz-auth", &bearer),
        ],
    );
    let forwarding = allowed(decide(&policy, &mut cache, &req, t));
    assert!(forwarding.remove.contains(&"x-rpz-auth"));
    assert!(!forwarding.remove.contains(&"authorization"));
}

#[test]
fn public_paths_need_nothing_but_still_lose_spoofed_identity_headers() {
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    let forwarding = allowed(decide(
        &policy,
        &mut cache,
        &request("GET", "/public/docs", &[("x-auth-subject", "admin")]),
        now(),
    ));
    assert!(forwarding.remove.contains(&"x-auth-subject"));
    assert!(forwarding.set.is_empty());
    assert_eq!(
        denied(decide(
            &policy,
            &mut cache,
            &request("GET", "/publicity", &[]),
            now()
        )),
        Denial::MissingCredential
    );
}

#[test]
fn dot_segments_cannot_borrow_a_public_rule() {
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    for path in [
        "/public/../devices",
        "/public/%2e%2e/devices",
        "/public/./x",
    ] {
        assert!(
            matches!(
                denied(decide(
                    &policy,
                    &mut cache,
                    &request("GET", path, &[]),
                    now()
                )),
                Denial::InvalidRequest(_)
            ),
            "{path}"
        );
    }
}

#[test]
fn missing_scope_is_403_naming_what_the_route_needs() {
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    let t = now();
    let bearer = format!("Bearer {}", issuer().token(Algorithm::EdDSA, t, json!({})));
    let denial = denied(decide(
        &policy,
        &mut cache,
        &request("POST", "/devices", &[("authorization", &bearer)]),
        t,
    ));
    assert_eq!(
        denial,
        Denial::InsufficientScope(vec!["devices:write".into()])
    );
    let response = denial.response(&policy.realm, Challenge::Accepted(&[]));
    assert_eq!(response.status, 403);
}

#[test]
fn unmatched_route_needs_a_valid_token_of_any_scope() {
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    let t = now();
    let bearer = format!(
        "Bearer {}",
        issuer().token(Algorithm::HS256, t, json!({"scope": null}))
    );
    allowed(decide(
        &policy,
        &mut cache,
        &request("GET", "/anything", &[("authorization", &bearer)]),
        t,
    ));
    assert_eq!(
        denied(decide(
            &policy,
            &mut cache,
            &request("GET", "/anything", &[]),
            t
        )),
        Denial::MissingCredential
    );
}

#[test]
fn malformed_credentials_are_400() {
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    let two = request(
        "GET",
        "/devices",
        &[
            ("authorization", "Bearer a.b.c"),
            ("authorization", "Bearer d.e.f"),
        ],
    );
    assert!(matches!(
        denied(decide(&policy, &mut cache, &two, now())),
        Denial::InvalidRequest(_)
    ));
    let empty = request("GET", "/devices", &[("authorization", "Bearer   ")]);
    assert!(matches!(
        denied(decide(&policy, &mut cache, &empty, now())),
        Denial::InvalidRequest(_)
    ));
}

#[test]
fn cors_preflight_passes_unless_turned_off() {
    let preflight = request(
        "OPTIONS",
        "/devices",
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "POST"),
        ],
    );
    let mut cache = TokenCache::new(16);
    allowed(decide(
        &policy(issuer().config()),
        &mut cache,
        &preflight,
        now(),
    ));
    let mut config = issuer().config();
    config["allow_cors_preflight"] = json!(false);
    assert_eq!(
        denied(decide(&policy(config), &mut cache, &preflight, now())),
        Denial::MissingCredential
    );
    let bare_options = request("OPTIONS", "/devices", &[]);
    assert_eq!(
        denied(decide(
            &policy(issuer().config()),
            &mut cache,
            &bare_options,
            now()
        )),
        Denial::MissingCredential
    );
}

#[test]
fn cached_token_still_meets_route_scopes_and_expiry() {
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    let t = now();
    let bearer = format!(
        "Bearer {}",
        issuer().token(Algorithm::RS256, t, json!({"exp": t + 100}))
    );
    allowed(decide(
        &policy,
        &mut cache,
        &request("GET", "/devices", &[("authorization", &bearer)]),
        t,
    ));
    assert_eq!(cache.len(), 1, "a verified token is cached");
    allowed(decide(
        &policy,
        &mut cache,
        &request("GET", "/devices", &[("authorization", &bearer)]),
        t + 1,
    ));
    assert!(matches!(
        denied(decide(
            &policy,
            &mut cache,
            &request("DELETE", "/devices", &[("authorization", &bearer)]),
            t + 1
        )),
        Denial::InsufficientScope(_)
    ));
    // Past exp + clock skew the cache no longer vouches for it and validation says why.
    assert_eq!(
        denied(decide(
            &policy,
            &mut cache,
            &request("GET", "/devices", &[("authorization", &bearer)]),
            t + 131
        )),
        Denial::InvalidToken("token has expired".into())
    );
}

#[test]
fn refused_tokens_are_never_cached() {
    let policy = policy(issuer().config());
    let mut cache = TokenCache::new(16);
    let t = now();
    let token = issuer().token(Algorithm::RS256, t, json!({}));
    let forged = format!("{}x", &token[..token.len() - 1]);
    for _ in 0..3 {
        let bearer = format!("Bearer {forged}");
        assert!(matches!(
            denied(decide(
                &policy,
                &mut cache,
                &request("GET", "/devices", &[("authorization", &bearer)]),
                t
            )),
            Denial::InvalidToken(_)
        ));
    }
    assert!(cache.is_empty());
}

#[test]
fn shipped_demo_configuration_compiles() {
    let bytes =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/envoy/edge-auth.json")).unwrap();
    let policy = Policy::from_json(&bytes).unwrap();
    assert_eq!(policy.providers[0].keys.len(), 4);
}

#[test]
fn demo_keys_sign_tokens_the_demo_configuration_accepts() {
    use edge_auth::jwt::mint::SigningKey;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/envoy");
    let policy =
        Policy::from_json(&std::fs::read(format!("{dir}/edge-auth.json")).unwrap()).unwrap();
    let t = now();
    for (alg, kid) in [
        (Algorithm::RS256, "demo-rs256"),
        (Algorithm::ES256, "demo-es256"),
        (Algorithm::EdDSA, "demo-eddsa"),
        (Algorithm::HS256, "demo-hs256"),
    ] {
        let text = std::fs::read_to_string(format!("{dir}/demo-keys/{kid}.key")).unwrap();
        let key = SigningKey::from_text(alg, &text).unwrap().with_kid(kid);
        let token = key.sign(&issuer().claims(t, json!({}))).unwrap();
        let bearer = format!("Bearer {token}");
        let mut cache = TokenCache::new(4);
        allowed(authorize(
            &policy,
            &mut cache,
            &request("GET", "/devices", &[("authorization", &bearer)]),
            t,
        ));
    }
}

#[test]
fn nested_claims_are_forwarded_by_path_on_a_cache_hit_too_and_client_copies_are_removed() {
    let mut config = issuer().config();
    config["forward"]["claims"] = json!({
        "realm_access.roles": "x-roles",
        "resource_access.edge-api.roles": "x-client-roles",
        "https://example~1com/tier": "x-tier",
        "org": "x-org"
    });
    let policy = policy(config);
    let t = now();
    let token = issuer().token(
        Algorithm::ES256,
        t,
        json!({
            "realm_access": {"roles": ["offline_access", "user", "ops"]},
            "resource_access": {"edge-api": {"roles": ["devices:read"]}},
            "https://example.com/tier": "gold",
            "https": {"//example": {"com/tier": "nested, not the named claim"}},
            "org": {"accounts": ["acme"]}
        }),
    );
    let bearer = format!("Bearer {token}");
    let spoofed = [
        ("x-roles", "admin"),
        ("x-client-roles", "admin"),
        ("x-tier", "platinum"),
    ];
    let mut cache = TokenCache::new(8);
    for round in ["verified", "cache hit"] {
        let mut headers = spoofed.to_vec();
        headers.push(("authorization", &bearer));
        let forwarding = allowed(decide(
            &policy,
            &mut cache,
            &request("GET", "/devices", &headers),
            t,
        ));
        for (name, _) in spoofed {
            assert!(
                forwarding.remove.contains(&name),
                "{round}: {name} removed: {forwarding:?}"
            );
        }
        let set = |name: &str| {
            let values: Vec<&str> = forwarding
                .set
                .iter()
                .filter(|(header, _)| *header == name)
                .map(|(_, value)| value.as_str())
                .collect();
            values
        };
        assert_eq!(set("x-roles"), ["offline_access,user,ops"], "{round}");
        assert_eq!(set("x-client-roles"), ["devices:read"], "{round}");
        assert_eq!(
            set("x-tier"),
            ["gold"],
            "{round}: ~1 names the dotted claim"
        );
        assert_eq!(set("x-org"), [r#"{"accounts":["acme"]}"#], "{round}");
    }
    assert_eq!(cache.len(), 1);
    // A token without the nested claims: no header, and the client's copies are still gone.
    let plain = format!("Bearer {}", issuer().token(Algorithm::ES256, t, json!({})));
    let mut headers = spoofed.to_vec();
    headers.push(("authorization", &plain));
    let forwarding = allowed(decide(
        &policy,
        &mut cache,
        &request("GET", "/devices", &headers),
        t,
    ));
    for (name, _) in spoofed {
        assert!(forwarding.remove.contains(&name), "{name}");
        assert!(
            forwarding.set.iter().all(|(header, _)| *header != name),
            "{name}"
        );
    }
}

#[test]
fn array_claims_are_forwarded_as_lists_and_a_client_copy_of_a_claim_header_never_survives() {
    let mut config = issuer().config();
    config["forward"]["claims"] = json!({"email": "x-auth-email", "groups": "x-auth-groups"});
    let enforced = policy(config.clone());
    config["mode"] = json!("report");
    let reported = policy(config);
    let t = now();
    let spoofed = ("x-auth-groups", "admins");
    let call = |policy: &Policy, method: &str, path: &str, claims: Option<Value>| {
        let bearer =
            claims.map(|claims| format!("Bearer {}", issuer().token(Algorithm::ES256, t, claims)));
        let mut headers = vec![spoofed];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        let request = request(method, path, &headers);
        let forwarding = allowed(decide(policy, &mut TokenCache::new(8), &request, t));
        assert!(
            forwarding.remove.contains(&"x-auth-groups"),
            "{method} {path}: the client's copy is removed: {forwarding:?}"
        );
        forwarding
            .set
            .iter()
            .find(|(name, _)| *name == "x-auth-groups")
            .map(|(_, value)| value.clone())
    };
    let groups = |value: Value| Some(json!({ "groups": value }));
    let at_devices = |value| call(&enforced, "GET", "/devices", groups(value));
    assert_eq!(
        at_devices(json!(["dev", "ops"])).as_deref(),
        Some("dev,ops")
    );
    assert_eq!(at_devices(json!(["a,b"])).as_deref(), Some(r#"["a,b"]"#));
    assert_eq!(at_devices(json!("a,b")).as_deref(), Some(r#""a,b""#));
    assert_eq!(at_devices(json!([])).as_deref(), Some("[]"));
    assert_eq!(at_devices(json!([1, 2])).as_deref(), Some("[1,2]"));
    // Without the claim, on a public route, and in report mode (refused for no credential, or
    // for a scope: then forwarded with the claim of the token that passed).
    assert_eq!(call(&enforced, "GET", "/devices", Some(json!({}))), None);
    assert_eq!(call(&enforced, "GET", "/public/x", None), None);
    assert_eq!(call(&reported, "GET", "/devices", None), None);
    assert_eq!(
        call(&reported, "POST", "/devices", groups(json!(["dev"]))).as_deref(),
        Some("dev")
    );
}
