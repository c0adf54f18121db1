//! Tokens from a cookie (`cookie_token`), through the whole decision, natively: read like any
//! bearer token, one credential among the others, and cut from the `Cookie` header whatever the
//! decision (allowed, refused in report mode, public, preflight), the other cookies kept; and
//! any `Cookie` header read without panic, leaving no token cookie behind.

use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize, Decision, Forwarding};
use edge_auth::policy::deny::Denial;
use edge_auth::policy::Policy;
use edge_auth::request::cookie_token::{self, CookieToken};
use fixtures::*;
use serde_json::{json, Value};

fn cookie_config() -> Value {
    let mut config = access_config();
    config["cookie_token"] = json!({"name": "access_token"});
    config
}

fn policy(config: &Value) -> Policy {
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

fn decide<'a>(
    policy: &'a Policy,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Decision<'a> {
    let request = request(method, path, headers);
    authorize(policy, &mut TokenCache::new(8), &request, now())
}

fn denied(decision: Decision<'_>) -> (Denial, Vec<String>) {
    match decision {
        Decision::Deny { denial, challenge } => {
            let response = denial.response("edge", challenge);
            let challenges = response
                .headers
                .iter()
                .filter(|(n, _)| n == "www-authenticate")
                .map(|(_, v)| v.clone())
                .collect();
            (denial, challenges)
        }
        other => panic!("not denied: {other:?}"),
    }
}

/// What the upstream's `Cookie` header becomes: `None` unchanged, `Some(None)` removed,
/// `Some(Some(value))` replaced.
fn cookie_change<'f>(forwarding: &'f Forwarding) -> Option<Option<&'f str>> {
    let set = forwarding
        .set
        .iter()
        .find(|(n, _)| *n == "cookie")
        .map(|(_, v)| Some(v.as_str()));
    let removed = forwarding.remove.contains(&"cookie").then_some(None);
    assert!(set.is_none() || removed.is_none(), "{forwarding:?}");
    set.or(removed)
}

fn subject<'f>(forwarding: &'f Forwarding) -> Option<&'f str> {
    forwarding
        .set
        .iter()
        .find(|(n, _)| *n == "x-auth-subject")
        .map(|(_, v)| v.as_str())
}

#[test]
fn token_cookie_is_accepted_and_cut_the_other_cookies_kept() {
    let policy = policy(&cookie_config());
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let cookie = format!("theme=dark;lang=en-GB; access_token={token}; csrf=\"a b\"");
    let forwarding = allowed(decide(&policy, "GET", "/devices/7", &[("cookie", &cookie)]));
    assert_eq!(subject(&forwarding), Some("alice"));
    assert_eq!(
        cookie_change(&forwarding),
        Some(Some("theme=dark;lang=en-GB; csrf=\"a b\""))
    );
    assert_eq!(forwarding.path, None);

    // Quoted, and alone: the header goes.
    let quoted = format!("access_token=\"{token}\"");
    let forwarding = allowed(decide(&policy, "GET", "/devices/7", &[("cookie", &quoted)]));
    assert_eq!(subject(&forwarding), Some("alice"));
    assert_eq!(cookie_change(&forwarding), Some(None));

    // One `Cookie` header per cookie, as HTTP/2 clients send them: one header upstream.
    let single = format!("access_token={token}");
    let headers = [
        ("cookie", "theme=dark"),
        ("cookie", single.as_str()),
        ("cookie", "lang=en"),
    ];
    let forwarding = allowed(decide(&policy, "GET", "/devices/7", &headers));
    assert_eq!(
        cookie_change(&forwarding),
        Some(Some("theme=dark; lang=en"))
    );
}

#[test]
fn cookies_without_the_token_pass_untouched() {
    let policy = policy(&cookie_config());
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let bearer = format!("Bearer {token}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("cookie", "theme=dark; Access_Token=not-ours"),
    ];
    let forwarding = allowed(decide(&policy, "GET", "/devices/7", &headers));
    assert_eq!(cookie_change(&forwarding), None);
    // And without `cookie_token`, a cookie named like it is nobody's credential.
    let plain = self::policy(&access_config());
    let only_cookie = format!("access_token={token}");
    let (denial, _) = denied(decide(
        &plain,
        "GET",
        "/devices/7",
        &[("cookie", &only_cookie)],
    ));
    assert_eq!(denial, Denial::MissingCredential);
}

#[test]
fn missing_or_invalid_token_cookie_is_a_bearer_401() {
    let policy = policy(&cookie_config());
    let (denial, challenges) = denied(decide(
        &policy,
        "GET",
        "/devices/7",
        &[("cookie", "theme=dark")],
    ));
    assert_eq!(denial, Denial::MissingCredential);
    assert!(
        challenges.contains(&"Bearer realm=\"edge\"".to_string()),
        "{challenges:?}"
    );

    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let forged = format!("access_token={}x", &token[..token.len() - 1]);
    let (denial, challenges) = denied(decide(&policy, "GET", "/devices/7", &[("cookie", &forged)]));
    assert!(matches!(denial, Denial::InvalidToken(_)), "{denial:?}");
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("Bearer realm=\"edge\", error=\"invalid_token\"")),
        "{challenges:?}"
    );
    let expired = issuer().token(Algorithm::ES256, now() - 7200, json!({}));
    let expired = format!("access_token={expired}");
    let (denial, _) = denied(decide(
        &policy,
        "GET",
        "/devices/7",
        &[("cookie", &expired)],
    ));
    assert!(matches!(denial, Denial::InvalidToken(_)), "{denial:?}");
}

#[test]
fn a_token_cookie_and_another_credential_are_two() {
    let policy = policy(&cookie_config());
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let cookie = format!("access_token={token}");
    let bearer = format!("Bearer {token}");
    let basic = basic(KEY_CLIENT, &secret(KEY_CLIENT));
    for other in [
        ("authorization", bearer.as_str()),
        ("authorization", basic.as_str()),
    ] {
        let (denial, _) = denied(decide(
            &policy,
            "GET",
            "/devices/7",
            &[other, ("cookie", &cookie)],
        ));
        assert_eq!(
            denial,
            Denial::InvalidRequest("more than one credential was presented".into())
        );
    }
    let (denial, _) = denied(decide(
        &policy,
        "GET",
        &format!("/devices/7?token={token}"),
        &[("cookie", &cookie)],
    ));
    assert_eq!(
        denial,
        Denial::InvalidRequest("more than one credential was presented".into())
    );
}

#[test]
fn the_token_cookie_twice_or_malformed_is_400_never_first_wins() {
    let policy = policy(&cookie_config());
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let good = format!("access_token={token}");
    let twice_in_one = format!("{good}; access_token=other");
    let repeated = Denial::InvalidRequest("the token cookie appears more than once".into());
    let (denial, _) = denied(decide(
        &policy,
        "GET",
        "/devices/7",
        &[("cookie", &twice_in_one)],
    ));
    assert_eq!(denial, repeated);
    let (denial, _) = denied(decide(
        &policy,
        "GET",
        "/devices/7",
        &[("cookie", &good), ("cookie", &good)],
    ));
    assert_eq!(denial, repeated);
    let (denial, _) = denied(decide(
        &policy,
        "GET",
        "/devices/7",
        &[("cookie", "access_token=a%2Eb")],
    ));
    assert_eq!(
        denial,
        Denial::InvalidRequest("the token cookie's value is not a token".into())
    );
    let (denial, _) = denied(decide(
        &policy,
        "GET",
        "/devices/7",
        &[("cookie", "access_token=; theme=dark")],
    ));
    assert_eq!(
        denial,
        Denial::InvalidRequest("the credential carries no token".into())
    );
}

#[test]
fn the_token_cookie_is_cut_whatever_the_decision() {
    let token = issuer().token(Algorithm::ES256, now(), json!({}));
    let cookie = format!("access_token={token}; theme=dark");
    let policy = policy(&cookie_config());
    let public = allowed(decide(&policy, "GET", "/public/x", &[("cookie", &cookie)]));
    assert_eq!(cookie_change(&public), Some(Some("theme=dark")));
    let preflight = allowed(decide(
        &policy,
        "OPTIONS",
        "/devices/7",
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "GET"),
            ("cookie", &cookie),
        ],
    ));
    assert_eq!(cookie_change(&preflight), Some(Some("theme=dark")));

    // Report mode forwards what it would refuse: never with the cookie.
    let mut config = cookie_config();
    config["mode"] = json!("report");
    let report = self::policy(&config);
    let forged = format!("theme=dark; access_token={}x", &token[..token.len() - 1]);
    for cookies in [
        &[forged.as_str()][..],
        &["access_token=a; theme=dark", "access_token=b"],
        &["theme=dark; access_token=%"],
    ] {
        let headers: Vec<(&str, &str)> = cookies.iter().map(|c| ("cookie", *c)).collect();
        let forwarding = allowed(decide(&report, "GET", "/devices/7", &headers));
        assert_eq!(subject(&forwarding), None, "{cookies:?}");
        assert_eq!(
            cookie_change(&forwarding),
            Some(Some("theme=dark")),
            "{cookies:?}"
        );
    }
    // A cookie token with a bearer token too: both are taken off.
    let bearer = format!("Bearer {token}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("cookie", cookie.as_str()),
    ];
    let forwarding = allowed(decide(&report, "GET", "/devices/7", &headers));
    assert!(
        forwarding.remove.contains(&"authorization"),
        "{forwarding:?}"
    );
    assert_eq!(cookie_change(&forwarding), Some(Some("theme=dark")));
}

#[test]
fn any_cookie_header_is_read_without_panic_and_never_leaves_the_token() {
    const PIECES: &[&str] = &[
        "t", "t=", "=", ";", "; ", ",", " ", "\t", "\"", "a", "x=1", "t=a.b", "é", "%", "==", "T",
    ];
    let mut rng = Rng(0x00C0_FFEE);
    for _ in 0..20_000 {
        let headers: Vec<String> = (0..1 + rng.below(3))
            .map(|_| {
                (0..rng.below(8))
                    .map(|_| PIECES[rng.below(PIECES.len())])
                    .collect()
            })
            .collect();
        let found = cookie_token::find(headers.iter().map(String::as_str), "t");
        if let Some(others) = found.others() {
            assert_eq!(
                cookie_token::find([others], "t"),
                CookieToken::Absent,
                "{headers:?} left {others:?}"
            );
        }
        if let CookieToken::Found { token, .. } = &found {
            assert!(!token.contains(['"', ';', ',', ' ']), "{headers:?}");
        }
    }
}
