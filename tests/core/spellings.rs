//! No spelling of a path or a claim borrows another rule or identity: paths upstreams read
//! differently are refused before any rule is chosen, scopes are RFC 6749 scope-tokens split on
//! SP only, every forwarded value reads the same to every HTTP recipient, a CORS preflight is
//! `OPTIONS` exactly and carries no credential upstream, and fractional NumericDates count.

use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize, Decision, Forwarding};
use edge_auth::policy::deny::Denial;
use edge_auth::policy::Policy;
use fixtures::{allowed, denied, issuer, now, request};
use serde_json::{json, Value};

fn policy(config: Value) -> Policy {
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

/// The fixture issuer's configuration with a `/profile` rule, API keys and the `paths` block.
fn config() -> Value {
    let mut config = issuer().config();
    config["rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"path_prefix": "/profile", "methods": ["GET"], "scopes": ["profile:read"]}));
    config["api_keys"] = json!({
        "id_header": "clientid", "secret_header": "clientsecret",
        "clients": [{"id": "c1", "secret_sha256": edge_auth::clients::secret_digest_hex(b"s1")}]
    });
    config["forward"]["client_header"] = json!("x-auth-client");
    config
}

fn bearer(claims: Value) -> String {
    format!("Bearer {}", issuer().token(Algorithm::ES256, now(), claims))
}

fn decide<'p>(
    policy: &'p Policy,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Decision<'p> {
    authorize(
        policy,
        &mut TokenCache::new(4),
        &request(method, path, headers),
        now(),
    )
}

fn header<'f>(forwarding: &'f Forwarding<'_>, name: &str) -> Option<&'f str> {
    forwarding
        .set
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn encoded_separators_parameters_and_hidden_dots_are_refused_before_any_rule() {
    let policy = policy(config());
    let read_profile = bearer(json!({"scope": "profile:read"}));
    for path in [
        "/public/..%2Fdevices",
        "/public/..%5Cdevices",
        "/public/..%2fdevices",
        "/public/x/..%2f..%2fdevices",
        "/public%2F..%2Fdevices",
        "/public/..;/devices",
        "/public/%252e%252e/devices",
        "/public/..\\devices",
    ] {
        let denial = denied(decide(&policy, "GET", path, &[]));
        assert_eq!(denial.status(), 400, "{path}: {denial:?}");
    }
    for path in [
        "/devices;x=1",
        "/devices%2F",
        "/devices%3B",
        "//devices",
        "/devic%65s",
    ] {
        let denial = denied(decide(
            &policy,
            "GET",
            path,
            &[("authorization", &read_profile)],
        ));
        assert_eq!(denial.status(), 400, "{path}: {denial:?}");
    }
}

#[test]
fn harmless_escapes_are_matched_decoded() {
    let policy = policy(config());
    let read = bearer(json!({"scope": "devices:read"}));
    let forwarding = allowed(decide(
        &policy,
        "GET",
        "/devices/%7Ealice/caf%C3%A9",
        &[("authorization", &read)],
    ));
    assert_eq!(
        forwarding.path, None,
        "the upstream gets the path as the client sent it"
    );
    let denial = denied(decide(
        &policy,
        "GET",
        "/devices/%41",
        &[("authorization", &bearer(json!({"scope": "profile:read"})))],
    ));
    assert!(matches!(denial, Denial::InsufficientScope(_)), "{denial:?}");
}

#[test]
fn kept_delimiters_are_data_inside_a_segment() {
    let mut config = config();
    config["paths"] = json!({"encoded_delimiters": "keep", "parameters": "keep"});
    let policy = policy(config);
    let profile_only = bearer(json!({"scope": "profile:read"}));
    let denial = denied(decide(
        &policy,
        "POST",
        "/devices/a%2Fb;v=1",
        &[("authorization", &profile_only)],
    ));
    assert!(matches!(denial, Denial::InsufficientScope(_)), "{denial:?}");
    let denial = denied(decide(&policy, "GET", "/public/..%2Fdevices", &[]));
    assert_eq!(
        denial.status(),
        400,
        "dot-segments stay refused: {denial:?}"
    );
}

#[test]
fn letter_case_follows_what_the_upstream_does() {
    let profile_only = bearer(json!({"scope": "profile:read"}));
    let token = [("authorization", profile_only.as_str())];
    let mut config = config();
    config["rules"][1]["path_prefix"] = json!("/Devices");
    config["paths"] = json!({"letter_case": "insensitive"});
    let insensitive = policy(config.clone());
    for path in ["/DEVICES", "/devices/7", "/DeViCeS"] {
        let denial = denied(decide(&insensitive, "GET", path, &token));
        assert!(
            matches!(denial, Denial::InsufficientScope(_)),
            "{path}: {denial:?}"
        );
    }
    let forwarding = allowed(decide(&insensitive, "GET", "/PUBLIC/x", &[]));
    assert_eq!(forwarding.path, None);
    config["paths"] = json!({"letter_case": "sensitive"});
    let sensitive = policy(config);
    allowed(decide(&sensitive, "GET", "/devices", &token));
    let denial = denied(decide(&sensitive, "GET", "/Devices", &token));
    assert!(matches!(denial, Denial::InsufficientScope(_)), "{denial:?}");
}

#[test]
fn a_path_block_names_its_bad_field() {
    for (block, field) in [
        (
            json!({"encoded_delimiters": "decode"}),
            "paths.encoded_delimiters",
        ),
        (json!({"parameters": true}), "paths.parameters"),
        (json!({"letter_case": "upper"}), "paths.letter_case"),
        (json!({"slashes": "keep"}), "paths.slashes"),
    ] {
        let mut config = config();
        config["paths"] = block;
        let err = Policy::from_json(config.to_string().as_bytes())
            .err()
            .unwrap();
        assert_eq!(err.field(), field, "{err}");
    }
    for prefix in ["/a;b", "/a%2Fb", "/a/../b", "/devic%65s", "/a//b"] {
        let mut config = config();
        config["rules"] = json!([{"path_prefix": prefix, "public": true}]);
        let err = Policy::from_json(config.to_string().as_bytes())
            .err()
            .unwrap();
        assert_eq!(err.field(), "rules[0].path_prefix", "{prefix}: {err}");
    }
}

#[test]
fn scopes_split_on_space_only_and_other_characters_grant_nothing() {
    let policy = policy(config());
    for scope in [
        json!("profile:read\u{a0}devices:write"),
        json!("profile:read\tdevices:write"),
        json!("profile:read\u{3000}devices:write"),
        json!("profile:read\ndevices:write"),
        json!(["profile:read devices:write"]),
        json!(["profile:read\u{a0}devices:write"]),
    ] {
        let token = bearer(json!({"scope": scope}));
        let denial = denied(decide(
            &policy,
            "POST",
            "/devices",
            &[("authorization", &token)],
        ));
        assert!(
            matches!(denial, Denial::InsufficientScope(_)),
            "{scope}: {denial:?}"
        );
        let forwarding = allowed(decide(&policy, "GET", "/public/x", &[]));
        assert_eq!(header(&forwarding, "x-auth-scopes"), None);
        let denial = denied(decide(
            &policy,
            "GET",
            "/profile",
            &[("authorization", &token)],
        ));
        assert!(
            matches!(denial, Denial::InsufficientScope(_)),
            "{scope}: not even profile:read"
        );
    }
    let token =
        bearer(json!({"scope": ["profile:read devices:write", "profile:read", "a\"b", ""]}));
    let forwarding = allowed(decide(
        &policy,
        "GET",
        "/profile",
        &[("authorization", &token)],
    ));
    assert_eq!(header(&forwarding, "x-auth-scopes"), Some("profile:read"));
    let token = bearer(json!({"scope": "  profile:read   devices:write "}));
    let forwarding = allowed(decide(
        &policy,
        "POST",
        "/devices",
        &[("authorization", &token)],
    ));
    assert_eq!(
        header(&forwarding, "x-auth-scopes"),
        Some("profile:read devices:write")
    );
}

#[test]
fn forwarded_values_read_the_same_to_every_recipient() {
    let policy = policy(config());
    let token = bearer(json!({
        "sub": " admin ", "email": " victim@example.com", "client_id": "app\u{7f}",
        "scope": "profile:read"
    }));
    let forwarding = allowed(decide(
        &policy,
        "GET",
        "/profile",
        &[("authorization", &token)],
    ));
    assert_eq!(header(&forwarding, "x-auth-subject"), Some("\" admin \""));
    assert_eq!(
        header(&forwarding, "x-auth-email"),
        Some("\" victim@example.com\"")
    );
    assert_eq!(header(&forwarding, "x-auth-client"), Some("\"app\\u007f\""));
    for (sub, sent) in [
        (json!("José"), "\"Jos\\u00e9\""),
        (json!("\"admin\""), "\"\\\"admin\\\"\""),
        (json!("[\"admin\"]"), "\"[\\\"admin\\\"]\""),
        (json!("a\r\nx-admin: 1"), "\"a\\r\\nx-admin: 1\""),
        (json!("plain user"), "plain user"),
    ] {
        let token = bearer(json!({"sub": sub, "scope": "profile:read"}));
        let forwarding = allowed(decide(
            &policy,
            "GET",
            "/profile",
            &[("authorization", &token)],
        ));
        assert_eq!(header(&forwarding, "x-auth-subject"), Some(sent), "{sub}");
    }
    let token = bearer(json!({"email": ["a@x", "ü@y"], "scope": "profile:read"}));
    let forwarding = allowed(decide(
        &policy,
        "GET",
        "/profile",
        &[("authorization", &token)],
    ));
    assert_eq!(
        header(&forwarding, "x-auth-email"),
        Some("[\"a@x\",\"\\u00fc@y\"]")
    );
}

#[test]
fn a_preflight_is_options_exactly_and_carries_no_credential() {
    let policy = policy(config());
    let preflight = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "POST"),
    ];
    let denial = denied(decide(&policy, "options", "/devices", &preflight));
    assert_eq!(
        denial,
        Denial::MissingCredential,
        "lower-case options is no preflight"
    );
    let mut headers = preflight.to_vec();
    headers.extend([
        ("clientid", "c1"),
        ("clientsecret", "s1"),
        ("authorization", "Bearer x.y.z"),
        ("x-rpz-auth", "Bearer a.b.c"),
    ]);
    let mut config = config();
    config["query_token"] = json!({"param": "token"});
    let policy = self::policy(config);
    let forwarding = allowed(decide(&policy, "OPTIONS", "/devices?token=t&x=1", &headers));
    for name in ["clientsecret", "clientid", "authorization", "x-rpz-auth"] {
        assert!(
            forwarding.remove.contains(&name),
            "{name} forwarded: {forwarding:?}"
        );
    }
    assert_eq!(forwarding.path.as_deref(), Some("/devices?x=1"));
}
