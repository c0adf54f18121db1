//! API keys, HTTP Basic, query tokens and the allow-lists, through the whole decision, natively.

use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize, Decision, Forwarding};
use edge_auth::policy::deny::{Challenge, Denial, Scheme};
use edge_auth::policy::Policy;
use edge_auth::request::credential::{CredentialKind, Request};
use fixtures::*;
use serde_json::{json, Value};

fn policy(config: &Value) -> Policy {
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

struct Call {
    request: Request,
}

fn call(method: &str, path: &str, headers: &[(&str, &str)]) -> Call {
    Call {
        request: Request {
            source_address: Some("127.0.0.1".parse().unwrap()),
            ..request(method, path, headers)
        },
    }
}

impl Call {
    fn from(mut self, address: &str) -> Call {
        self.request.source_address = Some(address.parse().unwrap());
        self
    }

    fn over_tls(mut self, version: &str) -> Call {
        self.request.tls_version = Some(version.into());
        self
    }

    fn decide<'a>(&self, policy: &'a Policy) -> Decision<'a> {
        authorize(policy, &mut TokenCache::new(8), &self.request, now())
    }
}

fn denied(decision: Decision<'_>) -> (Denial, Challenge<'_>) {
    match decision {
        Decision::Deny { denial, challenge } => (denial, challenge),
        other => panic!("not denied: {other:?}"),
    }
}

fn set<'a>(forwarding: &'a Forwarding, header: &str) -> Option<&'a str> {
    forwarding
        .set
        .iter()
        .find(|(n, _)| *n == header)
        .map(|(_, v)| v.as_str())
}

fn key_pair(id: &str) -> [(&'static str, String); 2] {
    [("clientid", id.to_string()), ("clientsecret", secret(id))]
}

fn with<'a>(
    pairs: &'a [(&'static str, String)],
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .map(|(n, v)| (*n, v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

#[test]
fn api_key_pair_authenticates_and_its_secret_never_reaches_the_upstream() {
    let policy = policy(&access_config());
    let pair = key_pair(KEY_CLIENT);
    let forwarding = allowed(call("GET", "/devices", &with(&pair, &[])).decide(&policy));
    assert!(forwarding.remove.contains(&"clientsecret"));
    assert!(
        !forwarding.remove.contains(&"clientid"),
        "the id may travel on"
    );
    assert_eq!(set(&forwarding, "x-auth-client"), Some(KEY_CLIENT));
    assert_eq!(set(&forwarding, "x-auth-credential"), Some("api_key"));
    assert_eq!(set(&forwarding, "x-auth-scopes"), Some("devices:read"));
}

#[test]
fn wrong_secret_and_unknown_id_get_the_same_answer() {
    let policy = policy(&access_config());
    let wrong = call(
        "GET",
        "/devices",
        &[("clientId", KEY_CLIENT), ("clientSecret", "guess")],
    )
    .decide(&policy);
    let unknown = call(
        "GET",
        "/devices",
        &[("clientId", "nobody"), ("clientSecret", "guess")],
    )
    .decide(&policy);
    assert_eq!(wrong, unknown);
    let (denial, challenge) = denied(wrong);
    assert_eq!(denial, Denial::InvalidClient);
    assert_eq!(challenge, Challenge::Presented(Scheme::ApiKey));
    assert_eq!(denial.response("edge", challenge).status, 401);
}

#[test]
fn half_a_key_pair_is_a_bad_request() {
    let policy = policy(&access_config());
    let (denial, _) = denied(call("GET", "/devices", &[("clientid", KEY_CLIENT)]).decide(&policy));
    assert_eq!(
        denial,
        Denial::InvalidRequest("the API key pair is incomplete".into())
    );
}

#[test]
fn basic_authenticates_against_the_same_clients() {
    let policy = policy(&access_config());
    let good = basic(KEY_CLIENT, &secret(KEY_CLIENT));
    let forwarding = allowed(call("GET", "/devices", &[("authorization", &good)]).decide(&policy));
    assert!(
        forwarding.remove.contains(&"authorization"),
        "consumed Basic header is removed"
    );
    assert_eq!(set(&forwarding, "x-auth-credential"), Some("basic"));

    let wrong = basic(KEY_CLIENT, "wrong-token");
    let (denial, challenge) =
        denied(call("GET", "/devices", &[("authorization", &wrong)]).decide(&policy));
    assert_eq!(
        (denial, challenge),
        (Denial::InvalidClient, Challenge::Presented(Scheme::Basic))
    );
    for malformed in ["Basic !!!not-base64", "Basic bm8tY29sb24="] {
        let (denial, _) =
            denied(call("GET", "/devices", &[("authorization", malformed)]).decide(&policy));
        assert!(
            matches!(denial, Denial::InvalidRequest(_)),
            "{malformed}: {denial:?}"
        );
    }
}

#[test]
fn basic_only_route_refuses_other_credentials_with_a_basic_challenge() {
    let policy = policy(&access_config());
    let token = issuer().token(Algorithm::RS256, now(), json!({}));
    let bearer = format!("Bearer {token}");
    let (denial, challenge) =
        denied(call("GET", "/legacy/report", &[("authorization", &bearer)]).decide(&policy));
    assert_eq!(denial, Denial::CredentialNotAccepted);
    let response = denial.response("edge", challenge);
    let challenges: Vec<&str> = response
        .headers
        .iter()
        .filter(|(n, _)| n == "www-authenticate")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(challenges, ["Basic realm=\"edge\", charset=\"UTF-8\""]);
    let good = basic(KEY_CLIENT, &secret(KEY_CLIENT));
    allowed(call("GET", "/legacy/report", &[("authorization", &good)]).decide(&policy));
    let (none, challenge) = denied(call("GET", "/legacy/report", &[]).decide(&policy));
    assert_eq!(
        (none, challenge),
        (
            Denial::MissingCredential,
            Challenge::Accepted(&[CredentialKind::Basic])
        )
    );
}

#[test]
fn query_token_is_accepted_and_cut_from_the_path() {
    let policy = policy(&access_config());
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let path = format!("/devices/7?view=full&token={token}&page=2");
    let forwarding = allowed(call("GET", &path, &[]).decide(&policy));
    assert_eq!(
        forwarding.path.as_deref(),
        Some("/devices/7?view=full&page=2")
    );
    assert_eq!(set(&forwarding, "x-auth-subject"), Some("alice"));
    // Even where no credential is needed, the token is never forwarded.
    let public = allowed(call("GET", &format!("/public/x?token={token}"), &[]).decide(&policy));
    assert_eq!(public.path.as_deref(), Some("/public/x"));
}

#[test]
fn two_credentials_at_once_are_refused() {
    let policy = policy(&access_config());
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let bearer = format!("Bearer {token}");
    let pair = key_pair(KEY_CLIENT);
    let (denial, _) = denied(
        call(
            "GET",
            "/devices",
            &with(&pair, &[("authorization", &bearer)]),
        )
        .decide(&policy),
    );
    assert_eq!(
        denial,
        Denial::InvalidRequest("more than one credential was presented".into())
    );
    let (denial, _) =
        denied(call("GET", &format!("/devices?token={token}"), &with(&pair, &[])).decide(&policy));
    assert!(matches!(denial, Denial::InvalidRequest(_)));
}

#[test]
fn application_must_be_granted_and_may_be_required() {
    let policy = policy(&access_config());
    let pair = key_pair(KEY_CLIENT);
    let forwarding =
        allowed(call("GET", "/devices", &with(&pair, &[("appid", APP)])).decide(&policy));
    assert_eq!(set(&forwarding, "x-auth-app"), Some(APP));
    let (denial, _) =
        denied(call("GET", "/devices", &with(&pair, &[("appid", OTHER_APP)])).decide(&policy));
    assert_eq!(
        denial,
        Denial::AccessDenied("the application is not granted to this credential".into())
    );
    let (denial, _) = denied(call("GET", "/apps/1", &with(&pair, &[])).decide(&policy));
    assert_eq!(
        denial,
        Denial::AccessDenied("this route requires the appid header".into())
    );
    allowed(call("GET", "/apps/1", &with(&pair, &[("appId", APP)])).decide(&policy));
    let joined = format!("{APP},{OTHER_APP}");
    let (denial, _) =
        denied(call("GET", "/devices", &with(&pair, &[("appid", &joined)])).decide(&policy));
    assert!(matches!(denial, Denial::InvalidRequest(_)));
}

#[test]
fn tokens_grant_applications_through_their_apps_claim() {
    let policy = policy(&access_config());
    let t = now();
    let granted = format!(
        "Bearer {}",
        issuer().token(Algorithm::RS256, t, json!({"apps": [APP]}))
    );
    allowed(
        call(
            "GET",
            "/apps",
            &[("authorization", &granted), ("appid", APP)],
        )
        .decide(&policy),
    );
    let none = format!("Bearer {}", issuer().token(Algorithm::RS256, t, json!({})));
    let (denial, _) =
        denied(call("GET", "/apps", &[("authorization", &none), ("appid", APP)]).decide(&policy));
    assert!(matches!(denial, Denial::AccessDenied(_)));
}

#[test]
fn source_networks_are_enforced_for_ipv4_and_ipv6() {
    let policy = policy(&access_config());
    let loopback = key_pair(LOOPBACK_CLIENT);
    let remote = key_pair(REMOTE_CLIENT);
    allowed(
        call("GET", "/devices", &with(&loopback, &[]))
            .from("127.0.0.1")
            .decide(&policy),
    );
    allowed(
        call("GET", "/devices", &with(&loopback, &[]))
            .from("::1")
            .decide(&policy),
    );
    allowed(
        call("GET", "/devices", &with(&remote, &[]))
            .from("2001:db8:42::1")
            .decide(&policy),
    );
    allowed(
        call("GET", "/devices", &with(&remote, &[]))
            .from("203.0.113.9")
            .decide(&policy),
    );
    for address in ["127.0.0.1", "2001:db9::1", "::1"] {
        let (denial, _) = denied(
            call("GET", "/devices", &with(&remote, &[]))
                .from(address)
                .decide(&policy),
        );
        assert_eq!(
            denial,
            Denial::AccessDenied("requests from this network are not allowed".into()),
            "{address}"
        );
    }
}

#[test]
fn forwarded_for_is_believed_only_behind_trusted_hops() {
    let remote = key_pair(REMOTE_CLIENT);
    let spoof = with(&remote, &[("x-forwarded-for", "203.0.113.9")]);
    let untrusting = policy(&access_config());
    denied(
        call("GET", "/devices", &spoof)
            .from("127.0.0.1")
            .decide(&untrusting),
    );

    let mut config = access_config();
    config["trusted_hops"] = json!(1);
    let behind_proxy = policy(&config);
    // The proxy (10.0.0.5) appended what it saw (203.0.113.9), Envoy appended the proxy; the
    // client's own forged entry comes first.
    let proxied = with(
        &remote,
        &[("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.5")],
    );
    allowed(
        call("GET", "/devices", &proxied)
            .from("10.0.0.5")
            .decide(&behind_proxy),
    );
    let forged_first = with(
        &remote,
        &[("x-forwarded-for", "203.0.113.9, 198.51.100.1, 10.0.0.5")],
    );
    denied(
        call("GET", "/devices", &forged_first)
            .from("10.0.0.5")
            .decide(&behind_proxy),
    );
}

#[test]
fn provider_and_token_claim_networks_both_apply() {
    let mut config = access_config();
    config["providers"][0]["allowed_cidrs"] = json!(["127.0.0.0/8", "10.0.0.0/8"]);
    config["providers"][0]["claims"]["allowed_cidrs"] = json!("ip");
    let policy = policy(&config);
    let t = now();
    let plain = format!("Bearer {}", issuer().token(Algorithm::EdDSA, t, json!({})));
    allowed(
        call("GET", "/devices", &[("authorization", &plain)])
            .from("127.0.0.1")
            .decide(&policy),
    );
    denied(
        call("GET", "/devices", &[("authorization", &plain)])
            .from("192.0.2.1")
            .decide(&policy),
    );
    let narrowed = format!(
        "Bearer {}",
        issuer().token(Algorithm::EdDSA, t, json!({"ip": ["10.1.0.0/16"]}))
    );
    allowed(
        call("GET", "/devices", &[("authorization", &narrowed)])
            .from("10.1.2.3")
            .decide(&policy),
    );
    denied(
        call("GET", "/devices", &[("authorization", &narrowed)])
            .from("127.0.0.1")
            .decide(&policy),
    );
    let broken = format!(
        "Bearer {}",
        issuer().token(Algorithm::EdDSA, t, json!({"ip": "not a network"}))
    );
    let (denial, _) =
        denied(call("GET", "/devices", &[("authorization", &broken)]).decide(&policy));
    assert_eq!(
        denial,
        Denial::InvalidToken("token has an invalid network claim".into())
    );
}

#[test]
fn origins_are_checked_from_origin_then_referer() {
    let policy = policy(&access_config());
    let web = key_pair(WEB_CLIENT);
    for (header, value) in [
        ("origin", "https://app.example.com"),
        ("origin", "https://shop.example.org:8443"),
        ("referer", "https://a.b.example.org/page?q=1"),
    ] {
        allowed(call("GET", "/devices", &with(&web, &[(header, value)])).decide(&policy));
    }
    for headers in [
        vec![("origin", "https://evil.example.com")],
        vec![("origin", "https://example.org")],
        vec![("referer", "https://app.example.com.evil.net/")],
        vec![],
    ] {
        let (denial, _) = denied(call("GET", "/devices", &with(&web, &headers)).decide(&policy));
        assert_eq!(
            denial,
            Denial::AccessDenied("requests from this origin are not allowed".into()),
            "{headers:?}"
        );
    }
}

#[test]
fn minimum_tls_version_is_enforced_even_on_public_routes() {
    let mut config = access_config();
    config["min_tls_version"] = json!("TLSv1.3");
    let policy = policy(&config);
    let (denial, _) = denied(call("GET", "/public/x", &[]).decide(&policy));
    assert_eq!(
        denial,
        Denial::AccessDenied("TLSv1.3 or newer is required".into())
    );
    denied(
        call("GET", "/public/x", &[])
            .over_tls("TLSv1.2")
            .decide(&policy),
    );
    allowed(
        call("GET", "/public/x", &[])
            .over_tls("TLSv1.3")
            .decide(&policy),
    );
}

#[test]
fn caller_identity_headers_cannot_be_spoofed() {
    let policy = policy(&access_config());
    let pair = key_pair(KEY_CLIENT);
    let spoofed = with(
        &pair,
        &[
            ("x-auth-client", "root"),
            ("x-auth-credential", "jwt"),
            ("x-auth-app", OTHER_APP),
        ],
    );
    let forwarding = allowed(call("GET", "/devices", &spoofed).decide(&policy));
    for header in ["x-auth-client", "x-auth-credential", "x-auth-app"] {
        assert!(forwarding.remove.contains(&header), "{header} not stripped");
    }
    assert_eq!(
        set(&forwarding, "x-auth-app"),
        None,
        "no application was named"
    );
}

#[test]
fn api_key_only_deployments_need_no_provider() {
    let config = json!({
        "api_keys": {"basic": true, "clients": [{
            "id": "app-1",
            "secret_sha256": edge_auth::clients::secret_digest_hex(b"token-of-app-1-0123456789"),
            "scopes": ["devices:read"]
        }]},
        "rules": [{"path_prefix": "/devices", "scopes": ["devices:read"]}]
    });
    let policy = policy(&config);
    let good = basic("app-1", "token-of-app-1-0123456789");
    allowed(call("GET", "/devices", &[("authorization", &good)]).decide(&policy));
    let (denial, challenge) = denied(call("GET", "/devices", &[]).decide(&policy));
    assert_eq!(
        (denial, challenge),
        (
            Denial::MissingCredential,
            Challenge::Accepted(&[CredentialKind::Basic])
        )
    );
    let bearer = "Bearer a.b.c";
    let (denial, _) = denied(call("GET", "/devices", &[("authorization", bearer)]).decide(&policy));
    assert_eq!(
        denial,
        Denial::MissingCredential,
        "a bearer token is not a credential here"
    );
}

/// `secret_sha256` is exactly 64 hex digits: a `+` sign (which `u8::from_str_radix` takes)
/// or any other character makes the configuration fail, naming the field.
#[test]
fn secret_digests_with_signs_or_other_non_hex_characters_are_refused() {
    let digest = edge_auth::clients::secret_digest_hex(secret(KEY_CLIENT).as_bytes());
    for bad in [
        format!("+{}", &digest[1..]),
        format!("{}+f", &digest[..62]),
        format!("{}-f", &digest[..62]),
        format!("{} f", &digest[..62]),
    ] {
        let mut config = access_config();
        config["api_keys"]["clients"][0]["secret_sha256"] = json!(bad);
        let err = Policy::from_json(config.to_string().as_bytes())
            .err()
            .unwrap_or_else(|| panic!("{bad} was accepted"));
        assert_eq!(err.field(), "api_keys.clients[0].secret_sha256");
    }
    assert!(edge_auth::clients::parse_digest_hex(&digest.to_uppercase()).is_some());
}

/// A certificate digest from Envoy or `X-Forwarded-Client-Cert` is strict hex too.
#[test]
fn certificate_digests_with_signs_are_not_read() {
    use edge_auth::jwt::confirmation::{
        certificate_thumbprint_from_hex, forwarded_certificate_thumbprint,
    };
    let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert!(certificate_thumbprint_from_hex(hex).is_some());
    let signed = format!("+3{}", &hex[2..]);
    assert_eq!(certificate_thumbprint_from_hex(&signed), None);
    assert_eq!(
        forwarded_certificate_thumbprint(&format!("Hash={signed};Subject=\"CN=a\"")),
        None
    );
}
