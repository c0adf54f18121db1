//! Whom a refusal challenges: once a credential was read, only the scheme it came with (an API
//! key pair `ApiKey`, Basic `Basic`, a bearer token `Bearer`, a DPoP token `DPoP`), so that no
//! caller gets another scheme's error (an API key client a Bearer `insufficient_scope`); before
//! one was read, every scheme the route accepts. Each refusal is answered as the filter answers
//! it ([`deny_response`]), on a route that accepts all three kinds with DPoP configured.

use crate::dpop_client::DpopClient;
use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize, Decision};
use edge_auth::policy::deny::DenyResponse;
use edge_auth::policy::sender::challenge::deny_response;
use edge_auth::policy::Policy;
use edge_auth::request::credential::Request;
use fixtures::{
    access_config, basic, issuer, now, secret, APP, KEY_CLIENT, OTHER_APP, REMOTE_CLIENT,
    WEB_CLIENT,
};
use serde_json::{json, Value};

/// The access configuration with DPoP on, tokens allowed from `app.example.com` only and
/// restricted by their `ip` claim.
fn policy() -> Policy {
    let mut config = access_config();
    config["dpop"] = json!({"algorithms": ["ES256", "EdDSA"], "max_age_seconds": 60});
    config["providers"][0]["allowed_origins"] = json!(["app.example.com"]);
    config["providers"][0]["claims"]["allowed_cidrs"] = json!("ip");
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Caller {
    ApiKey,
    Basic,
    Bearer,
    Dpop,
}

/// The refusals checked, each after the credential was read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    /// A credential that does not authenticate: a wrong secret, an expired token (401).
    BadCredential,
    /// `POST /devices` needs `devices:write`; every caller has `devices:read` only (403).
    Scope,
    /// An application not granted (403).
    Application,
    /// The application header twice (400).
    RepeatedApplication,
    /// A network the caller may not be used from (403).
    Network,
    /// A web origin the caller may not be used from (403).
    Origin,
}

const CASES: [Case; 6] = [
    Case::BadCredential,
    Case::Scope,
    Case::Application,
    Case::RepeatedApplication,
    Case::Network,
    Case::Origin,
];

/// `caller`'s request for `case`, from 127.0.0.1, as Envoy hands it over.
fn request(caller: Caller, case: Case, dpop: &DpopClient, t: u64) -> Request {
    let method = if case == Case::Scope { "POST" } else { "GET" };
    let origin = if case == Case::Origin {
        "https://evil.example.net"
    } else {
        "https://app.example.com"
    };
    let mut headers: Vec<(String, String)> = vec![
        (":scheme".into(), "https".into()),
        (":authority".into(), "api.example.com".into()),
        ("origin".into(), origin.into()),
    ];
    match case {
        Case::Application => headers.push(("appId".into(), OTHER_APP.into())),
        Case::RepeatedApplication => {
            headers.push(("appId".into(), APP.into()));
            headers.push(("appId".into(), APP.into()));
        }
        _ => {}
    }
    let client = match case {
        Case::Network => REMOTE_CLIENT,
        Case::Origin => WEB_CLIENT,
        _ => KEY_CLIENT,
    };
    let client_secret = if case == Case::BadCredential {
        "wrong-secret".to_string()
    } else {
        secret(client)
    };
    let mut claims = json!({"cnf": {"jkt": dpop.jkt()}});
    if case == Case::Network {
        claims["ip"] = json!(["203.0.113.0/24"]);
    }
    if case == Case::BadCredential {
        claims["exp"] = json!(t - 3600);
    }
    let token = || issuer().token(Algorithm::ES256, t, claims.clone());
    match caller {
        Caller::ApiKey => {
            headers.push(("clientId".into(), client.into()));
            headers.push(("clientSecret".into(), client_secret));
        }
        Caller::Basic => headers.push(("authorization".into(), basic(client, &client_secret))),
        Caller::Bearer => {
            let mut bearer_claims = claims.clone();
            bearer_claims["cnf"] = Value::Null;
            let token = issuer().token(Algorithm::ES256, t, bearer_claims);
            headers.push(("authorization".into(), format!("Bearer {token}")));
        }
        Caller::Dpop => {
            let token = token();
            let url = "https://api.example.com/devices";
            let proof = dpop.proof(method, url, Some(&token), t);
            headers.push(("authorization".into(), format!("DPoP {token}")));
            headers.push(("dpop".into(), proof));
        }
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    Request {
        source_address: Some("127.0.0.1".parse().unwrap()),
        ..fixtures::request(method, "/devices", &pairs)
    }
}

/// The reply the filter sends `caller` for `case`.
fn refusal(policy: &Policy, caller: Caller, case: Case) -> DenyResponse {
    let t = now();
    let dpop = DpopClient::new(Algorithm::ES256);
    let request = request(caller, case, &dpop, t);
    match authorize(policy, &mut TokenCache::new(8), &request, t) {
        Decision::Deny { denial, challenge } => deny_response(policy, &request, &denial, challenge),
        other => panic!("{caller:?} {case:?}: not denied: {other:?}"),
    }
}

fn challenges(response: &DenyResponse) -> Vec<&str> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name == "www-authenticate")
        .map(|(_, value)| value.as_str())
        .collect()
}

fn status(case: Case) -> u32 {
    match case {
        Case::BadCredential => 401,
        Case::RepeatedApplication => 400,
        _ => 403,
    }
}

const SCOPE_DESCRIPTION: &str = "the credential lacks a scope this route requires";
const REPEATED: &str = "the appid header appears more than once";

/// Checks every case for `caller` against `expected(case)`, the challenges it must get.
fn check(caller: Caller, expected: impl Fn(Case) -> Vec<String>) {
    let policy = policy();
    for case in CASES {
        let response = refusal(&policy, caller, case);
        assert_eq!(response.status, status(case), "{caller:?} {case:?}");
        assert_eq!(challenges(&response), expected(case), "{caller:?} {case:?}");
        let body: Value = serde_json::from_str(&response.body).unwrap();
        if case == Case::Scope {
            assert_eq!(body["error"], "insufficient_scope", "{caller:?}");
            assert_eq!(
                body["scope"], "devices:write",
                "{caller:?}: the body names the scopes"
            );
        }
    }
}

#[test]
fn api_key_refusals_challenge_api_key_alone_and_never_with_a_bearer_error() {
    check(Caller::ApiKey, |case| match case {
        Case::BadCredential => vec!["ApiKey realm=\"edge\"".to_string()],
        _ => vec![],
    });
}

#[test]
fn basic_refusals_challenge_basic_alone_and_never_with_a_bearer_error() {
    check(Caller::Basic, |case| match case {
        Case::BadCredential => vec!["Basic realm=\"edge\", charset=\"UTF-8\"".to_string()],
        _ => vec![],
    });
}

#[test]
fn bearer_refusals_challenge_bearer_alone() {
    check(Caller::Bearer, |case| {
        match case {
        Case::BadCredential => vec![
            "Bearer realm=\"edge\", error=\"invalid_token\", error_description=\"token has expired\""
                .to_string(),
        ],
        Case::Scope => vec![format!(
            "Bearer realm=\"edge\", error=\"insufficient_scope\", error_description=\"{SCOPE_DESCRIPTION}\", scope=\"devices:write\""
        )],
        Case::RepeatedApplication => vec![format!(
            "Bearer realm=\"edge\", error=\"invalid_request\", error_description=\"{REPEATED}\""
        )],
        _ => vec![],
    }
    });
}

#[test]
fn dpop_refusals_challenge_dpop_alone() {
    let dpop = |error: &str, description: &str| {
        format!(
            "DPoP realm=\"edge\", algs=\"ES256 EdDSA\", error=\"{error}\", error_description=\"{description}\""
        )
    };
    check(Caller::Dpop, |case| match case {
        Case::BadCredential => vec![dpop("invalid_token", "token has expired")],
        Case::Scope => vec![format!(
            "{}, scope=\"devices:write\"",
            dpop("insufficient_scope", SCOPE_DESCRIPTION)
        )],
        Case::RepeatedApplication => vec![dpop("invalid_request", REPEATED)],
        _ => vec![],
    });
}

#[test]
fn without_a_credential_every_accepted_scheme_is_still_challenged() {
    let policy = policy();
    let request = fixtures::request("GET", "/devices", &[]);
    let Decision::Deny { denial, challenge } =
        authorize(&policy, &mut TokenCache::new(8), &request, now())
    else {
        panic!("not denied")
    };
    let response = deny_response(&policy, &request, &denial, challenge);
    assert_eq!(
        challenges(&response),
        [
            "Bearer realm=\"edge\"",
            "ApiKey realm=\"edge\"",
            "Basic realm=\"edge\", charset=\"UTF-8\"",
            "DPoP realm=\"edge\", algs=\"ES256 EdDSA\"",
        ]
    );
}
