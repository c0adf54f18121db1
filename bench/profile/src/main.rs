//! `profile OPERATION N`: runs OPERATION N times on the edge-auth core (native), for callgrind.
//! Run it with N and with 0 and subtract to get instructions per operation (setup: minting,
//! configuration, excluded). Operations: hit-ALG (cache hit), verify-ALG (first sight, no
//! cache), fresh-ALG (first sight into a full 1,024-entry cache of tokens as long, as the bench's
//! edge-fresh rows: the insertion evicts one), forged-ALG (valid kid, wrong signature), for ALG in
//! RS256 ES256 EdDSA HS256; and issue 21's
//! pair, scope-ALG and claims-ALG: one cached token with Keycloak-shaped claims against a policy
//! with a scope-only rule (`GET /devices/acme/accounts`) and a rule with claim conditions and a
//! path segment bound to a claim (`GET /accounts/acme/devices`), as bench.py's authz rows.

use std::rc::Rc;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::mint::SigningKey;
use edge_auth::jwt::token::{check_before_signature, InlineKeys};
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize, Decision};
use edge_auth::policy::Policy;
use edge_auth::request::credential::Request;
use serde_json::json;

const NOW: u64 = 1_800_000_000;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(op), Some(n)) = (args.get(1), args.get(2)) else {
        return Err("usage: profile hit-RS256|verify-ES256|forged-EdDSA|... N".into());
    };
    let n: usize = n.parse().map_err(|_| "N must be a number")?;
    let (kind, alg_name) = op.split_once('-').ok_or("operation is KIND-ALG")?;
    let alg = Algorithm::from_name(alg_name).ok_or("unknown algorithm")?;
    let key = SigningKey::generate(alg)?.with_kid("k1");
    let authz = matches!(kind, "scope" | "claims");
    let mut config = json!({
        "providers": [{"name": "idp", "issuer": "https://idp", "audiences": ["api"],
            "algorithms": [alg.name()], "jwks": {"keys": [key.public_jwk("k1")]}}],
        "rules": [{"path_prefix": "/devices", "scopes": ["devices:read"]}],
        "forward": {"subject_header": "x-auth-subject", "scopes_header": "x-auth-scopes"}
    });
    if let (true, Some(rules)) = (authz, config["rules"].as_array_mut()) {
        rules.push(json!({
            "path_template": "/accounts/{account}/devices", "methods": ["GET"],
            "scopes": ["devices:read"],
            "claim_conditions": [{"path": "realm_access.roles", "any_of": ["admin", "ops"]},
                                 {"path": "email_verified", "equals": true}],
            "bind": {"account": {"claim": "org.accounts"}}}));
    }
    let policy = Policy::from_json(config.to_string().as_bytes()).map_err(|e| e.to_string())?;
    let claims = |i: usize| {
        let mut claims = json!({"iss": "https://idp", "aud": "api", "sub": format!("user-{i}"),
               "iat": NOW - 60, "exp": NOW + 3600, "scope": "devices:read profile:read"});
        if authz {
            claims["realm_access"] = json!({"roles": ["offline_access", "user", "ops"]});
            claims["resource_access"] = json!({"edge-api": {"roles": ["devices:read"]}});
            claims["email_verified"] = json!(true);
            claims["org"] = json!({"accounts": ["globex", "initech", "acme"]});
        }
        claims.as_object().cloned().unwrap_or_default()
    };
    // The pair's paths have the same length and segments: only the rule differs.
    let path = match kind {
        "claims" => "/accounts/acme/devices",
        "scope" => "/devices/acme/accounts",
        _ => "/devices/7",
    };
    let tokens: Vec<String> = match kind {
        "hit" | "scope" | "claims" => vec![key.sign(&claims(0))?],
        "verify" | "fresh" => (0..n.max(1))
            .map(|i| key.sign(&claims(i)))
            .collect::<Result<_, _>>()?,
        "forged" => {
            let token = key.sign(&claims(0))?;
            let (input, sig) = token.rsplit_once('.').ok_or("no dot")?;
            // Change one base64 character in the middle: still decodes, wrong signature.
            let mut chars: Vec<char> = sig.chars().collect();
            let middle = chars.len() / 2;
            if let Some(c) = chars.get_mut(middle) {
                *c = if *c == 'A' { 'B' } else { 'A' };
            }
            vec![format!("{input}.{}", chars.into_iter().collect::<String>())]
        }
        _ => return Err("KIND is hit, verify, fresh, forged, scope or claims".into()),
    };
    let requests: Vec<Request> = tokens
        .iter()
        .map(|t| {
            Request::from_headers(vec![
                (":method".into(), "GET".into()),
                (":path".into(), path.into()),
                ("authorization".into(), format!("Bearer {t}")),
            ])
        })
        .collect();
    let cached = matches!(kind, "hit" | "scope" | "claims" | "fresh");
    let mut cache = TokenCache::new(if cached { CACHE_ENTRIES } else { 0 });
    if kind == "fresh" {
        fill(
            &policy,
            &mut cache,
            tokens.first().map_or("", String::as_str),
        )?;
    } else if let (true, Some(first)) = (cached, requests.first()) {
        authorize(&policy, &mut cache, first, NOW);
    }
    let start = std::time::Instant::now();
    let allowed = run(&policy, &mut cache, &requests, n);
    let per = start.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64;
    println!("{op}: {n} runs, {allowed} allowed, {per:.1} us each (native wall clock)");
    Ok(())
}

/// The bench's `token_cache.max_entries`.
const CACHE_ENTRIES: usize = 1024;

/// Fills `cache` as the bench's fresh tokens leave it: full, of entries keyed by strings as long
/// as `token` (its identity, under made-up keys: minting a thousand tokens under valgrind takes
/// minutes), and past its first pass for expired entries, so the measured inserts evict one
/// arbitrary entry each, as all but one insert in `CACHE_ENTRIES / 8` do.
fn fill(policy: &Policy, cache: &mut TokenCache, token: &str) -> Result<(), String> {
    let keys = InlineKeys(&policy.providers);
    let unverified =
        check_before_signature(token, &policy.providers, &keys, NOW).map_err(|e| e.to_string())?;
    let identity = Rc::new(
        unverified
            .verify_signature(&policy.providers, &policy.forward)
            .map_err(|e| e.to_string())?,
    );
    for i in 0..=CACHE_ENTRIES {
        let mut key = format!("filler-{i}-");
        key.extend(std::iter::repeat_n(
            'x',
            token.len().saturating_sub(key.len()),
        ));
        cache.insert(&key, Rc::clone(&identity), NOW + 3600, NOW, 0);
    }
    Ok(())
}

/// The measured loop; `valgrind --tool=callgrind --toggle-collect=profile::run` counts only it.
#[inline(never)]
fn run(policy: &Policy, cache: &mut TokenCache, requests: &[Request], n: usize) -> usize {
    let mut allowed = 0;
    for i in 0..n {
        let Some(request) = requests.get(i % requests.len().max(1)) else {
            break;
        };
        if matches!(authorize(policy, cache, request, NOW), Decision::Allow(_)) {
            allowed += 1;
        }
    }
    allowed
}
