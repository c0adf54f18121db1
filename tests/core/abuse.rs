//! The abuse limits through the whole decision, natively: failed-secret lockout per source and
//! client id and per source, the signature-check budget per source, their bounded shared state,
//! and configurations without them deciding exactly as before.

use crate::fixtures;

use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::token::InlineKeys;
use edge_auth::policy::abuse::records::MemoryStore;
use edge_auth::policy::abuse::Guard;
use edge_auth::policy::abuse::{budget, lockout};
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{
    authorize_guarded, authorize_with_keys, evaluate_guarded, Decision, Settled,
};
use edge_auth::policy::deny::Denial;
use edge_auth::policy::explain::Untraced;
use edge_auth::policy::outcome::{Reason, Verdict};
use edge_auth::policy::Policy;
use edge_auth::request::credential::Request;
use fixtures::*;
use serde_json::{json, Value};

fn policy(config: &Value) -> Policy {
    Policy::from_json(config.to_string().as_bytes()).unwrap()
}

fn with_abuse(abuse: Value) -> Policy {
    let mut config = access_config();
    config["abuse"] = abuse;
    policy(&config)
}

fn lockout_policy() -> Policy {
    with_abuse(json!({"lockout": {"max_failures": 3, "window_seconds": 60}}))
}

fn from(address: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        source_address: Some(address.parse().unwrap()),
        ..request("GET", "/devices", headers)
    }
}

fn decide<'a>(
    policy: &'a Policy,
    store: &MemoryStore,
    cache: &mut TokenCache,
    request: &Request,
    at_ms: u64,
) -> Decision<'a> {
    let keys = InlineKeys(&policy.providers);
    authorize_guarded(policy, &keys, store, &|| None, cache, request, at_ms)
}

/// The status the decision would answer (200 for an allow).
fn status(decision: &Decision<'_>) -> u32 {
    match decision {
        Decision::Allow(_) => 200,
        Decision::Deny { denial, .. } => denial.status(),
        other => panic!("neither allowed nor denied: {other:?}"),
    }
}

fn retry_after(decision: &Decision<'_>) -> u64 {
    match decision {
        Decision::Deny {
            denial: Denial::TooManyRequests { retry_after, .. },
            ..
        } => *retry_after,
        other => panic!("not a 429: {other:?}"),
    }
}

fn key_pair(id: &str, secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("clientid", id.to_string()),
        ("clientsecret", secret.to_string()),
    ]
}

fn borrowed<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

#[test]
fn a_source_is_locked_out_after_max_failures_even_with_the_right_secret() {
    let policy = lockout_policy();
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(8);
    let t = now() * 1000;
    let wrong = key_pair(KEY_CLIENT, "guess");
    let right = key_pair(KEY_CLIENT, &secret(KEY_CLIENT));
    let attacker = |pairs: &[(&'static str, String)]| from("203.0.113.5", &borrowed(pairs));
    for _ in 0..3 {
        let decision = decide(&policy, &store, &mut cache, &attacker(&wrong), t);
        assert_eq!(status(&decision), 401);
    }
    let locked = decide(&policy, &store, &mut cache, &attacker(&right), t + 1000);
    assert_eq!(
        status(&locked),
        429,
        "the right secret is not even compared"
    );
    assert_eq!(retry_after(&locked), 59);

    let owner = from("198.51.100.7", &borrowed(&right));
    assert_eq!(
        status(&decide(&policy, &store, &mut cache, &owner, t + 1000)),
        200,
        "the owner calling from elsewhere is never affected"
    );
    let other_client = key_pair(REMOTE_CLIENT, &secret(REMOTE_CLIENT));
    assert_eq!(
        status(&decide(
            &policy,
            &store,
            &mut cache,
            &attacker(&other_client),
            t + 1000
        )),
        200,
        "below the per-source limit, other client ids from the source still work"
    );
    assert_eq!(
        status(&decide(
            &policy,
            &store,
            &mut cache,
            &attacker(&right),
            t + 61_000
        )),
        200,
        "the lock runs out with the window"
    );
}

#[test]
fn basic_credentials_count_and_lock_the_same_way() {
    let policy = lockout_policy();
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(8);
    let t = now() * 1000;
    let wrong = basic(KEY_CLIENT, "guess");
    let right = basic(KEY_CLIENT, &secret(KEY_CLIENT));
    for _ in 0..3 {
        let request = from("2001:db8:1:2::1", &[("authorization", &wrong)]);
        assert_eq!(
            status(&decide(&policy, &store, &mut cache, &request, t)),
            401
        );
    }
    // Another address of the same /64 is the same source.
    let request = from("2001:db8:1:2::ffff", &[("authorization", &right)]);
    assert_eq!(
        status(&decide(&policy, &store, &mut cache, &request, t)),
        429
    );
    let request = from("2001:db8:1:3::1", &[("authorization", &right)]);
    assert_eq!(
        status(&decide(&policy, &store, &mut cache, &request, t)),
        200
    );
}

#[test]
fn guessing_many_client_ids_locks_the_whole_source() {
    let policy = with_abuse(json!({"lockout": {
        "max_failures": 3, "window_seconds": 60, "max_failures_per_source": 5
    }}));
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(8);
    let t = now() * 1000;
    for guess in 0..5 {
        let pair = key_pair(&format!("guessed-{guess}"), "guess");
        let request = from("203.0.113.5", &borrowed(&pair));
        assert_eq!(
            status(&decide(&policy, &store, &mut cache, &request, t)),
            401
        );
    }
    let right = key_pair(KEY_CLIENT, &secret(KEY_CLIENT));
    let request = from("203.0.113.5", &borrowed(&right));
    assert_eq!(
        status(&decide(&policy, &store, &mut cache, &request, t)),
        429
    );
}

#[test]
fn the_source_is_the_trusted_forwarded_for_entry() {
    let mut config = access_config();
    config["abuse"] = json!({"lockout": {"max_failures": 2, "window_seconds": 60}});
    config["trusted_hops"] = json!(1);
    let policy = policy(&config);
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(8);
    let t = now() * 1000;
    let wrong = key_pair(KEY_CLIENT, "guess");
    let right = key_pair(KEY_CLIENT, &secret(KEY_CLIENT));
    let via_proxy = |client: &'static str, pairs: &[(&'static str, String)]| {
        let xff = format!("{client}, 10.0.0.2");
        let mut headers: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        headers.push(("x-forwarded-for".into(), xff));
        Request {
            source_address: Some("10.0.0.2".parse().unwrap()),
            headers,
            ..request("GET", "/devices", &[])
        }
    };
    for _ in 0..2 {
        let decision = decide(
            &policy,
            &store,
            &mut cache,
            &via_proxy("203.0.113.5", &wrong),
            t,
        );
        assert_eq!(status(&decision), 401);
    }
    let locked = decide(
        &policy,
        &store,
        &mut cache,
        &via_proxy("203.0.113.5", &right),
        t,
    );
    assert_eq!(status(&locked), 429);
    let other = decide(
        &policy,
        &store,
        &mut cache,
        &via_proxy("203.0.113.6", &right),
        t,
    );
    assert_eq!(status(&other), 200, "same proxy, another client behind it");
}

fn budget_policy(rate: f64, burst: u64) -> Policy {
    with_abuse(json!({"signature_budget": {"rate": rate, "burst": burst}}))
}

/// An ES256 token with good claims whose signature is another token's.
fn forged(t: u64, n: u64) -> String {
    let good = issuer().token(Algorithm::ES256, t, json!({"sub": format!("forged-{n}")}));
    let other = issuer().token(Algorithm::ES256, t, json!({"sub": "someone-else"}));
    let (input, _) = good.rsplit_once('.').unwrap();
    let (_, signature) = other.rsplit_once('.').unwrap();
    format!("{input}.{signature}")
}

fn bearer(address: &str, token: &str) -> Request {
    from(address, &[("authorization", &format!("Bearer {token}"))])
}

#[test]
fn forged_tokens_spend_the_budget_then_get_429_while_other_sources_pass() {
    let policy = budget_policy(1.0, 3);
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(64);
    let t = now();
    let ms = t * 1000;
    // A valid token seen before the flood stays cached: cache hits never spend the budget.
    let cached = issuer().token(Algorithm::ES256, t, json!({"sub": "early"}));
    assert_eq!(
        status(&decide(
            &policy,
            &store,
            &mut cache,
            &bearer("203.0.113.5", &cached),
            ms
        )),
        200
    );
    for n in 0..2 {
        let decision = decide(
            &policy,
            &store,
            &mut cache,
            &bearer("203.0.113.5", &forged(t, n)),
            ms,
        );
        assert!(
            matches!(&decision, Decision::Deny { denial: Denial::InvalidToken(why), .. } if why.contains("signature")),
            "{decision:?}"
        );
    }
    for n in 2..10 {
        let decision = decide(
            &policy,
            &store,
            &mut cache,
            &bearer("203.0.113.5", &forged(t, n)),
            ms,
        );
        assert_eq!(status(&decision), 429, "forged token {n}");
        assert_eq!(retry_after(&decision), 1);
    }
    assert_eq!(
        status(&decide(
            &policy,
            &store,
            &mut cache,
            &bearer("203.0.113.5", &cached),
            ms
        )),
        200,
        "a cached token never counts against the budget"
    );
    let expired = issuer().token(
        Algorithm::ES256,
        t,
        json!({"exp": t - 3600, "iat": t - 7200}),
    );
    assert_eq!(
        status(&decide(
            &policy,
            &store,
            &mut cache,
            &bearer("203.0.113.5", &expired),
            ms
        )),
        401,
        "cheap checks come before the budget"
    );
    let fresh = issuer().token(Algorithm::ES256, t, json!({"sub": "elsewhere"}));
    assert_eq!(
        status(&decide(
            &policy,
            &store,
            &mut cache,
            &bearer("198.51.100.7", &fresh),
            ms
        )),
        200,
        "another source keeps first-sight service"
    );
    let later = issuer().token(Algorithm::ES256, t, json!({"sub": "later"}));
    assert_eq!(
        status(&decide(
            &policy,
            &store,
            &mut cache,
            &bearer("203.0.113.5", &later),
            ms + 1000
        )),
        200,
        "one check a second comes back"
    );
}

#[test]
fn without_an_abuse_section_decisions_are_unchanged_and_nothing_is_stored() {
    let config = access_config();
    let policy = policy(&config);
    assert!(!policy.abuse.any());
    let store = MemoryStore::default();
    let t = now();
    let token = issuer().token(Algorithm::ES256, t, json!({}));
    let requests = [
        bearer("203.0.113.5", &token),
        bearer("203.0.113.5", &forged(t, 1)),
        from("203.0.113.5", &borrowed(&key_pair(KEY_CLIENT, "guess"))),
        from(
            "203.0.113.5",
            &borrowed(&key_pair(KEY_CLIENT, &secret(KEY_CLIENT))),
        ),
        from(
            "203.0.113.5",
            &[("authorization", &basic(KEY_CLIENT, "nope"))],
        ),
        from("203.0.113.5", &[]),
    ];
    for request in &requests {
        for _ in 0..5 {
            let guarded = decide(&policy, &store, &mut TokenCache::new(8), request, t * 1000);
            let plain = authorize_with_keys(
                &policy,
                &InlineKeys(&policy.providers),
                &mut TokenCache::new(8),
                request,
                t,
            );
            assert_eq!(guarded, plain);
        }
    }
    assert!(store.is_empty());
}

#[test]
fn twenty_thousand_sources_take_bounded_shared_memory() {
    let policy = with_abuse(json!({
        "lockout": {"max_failures": 3, "window_seconds": 600},
        "signature_budget": {"rate": 1, "burst": 1}
    }));
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(8);
    let t = now();
    let wrong = key_pair(KEY_CLIENT, "guess");
    let forged = forged(t, 0);
    for n in 0..20_000u32 {
        let [_, a, b, c] = n.to_be_bytes();
        let address = format!("10.{a}.{b}.{c}");
        let request = if n % 2 == 0 {
            from(&address, &borrowed(&wrong))
        } else {
            bearer(&address, &forged)
        };
        let decision = decide(&policy, &store, &mut cache, &request, t * 1000);
        // The forged token's signature check is refused after its first attempt (cached
        // nowhere), so bad tokens cost one check per source at most.
        assert!(matches!(status(&decision), 401 | 429));
    }
    let buckets = (lockout::BUCKETS + budget::BUCKETS) as usize;
    assert!(store.len() <= buckets, "{} keys", store.len());
    // Every bucket full: 32 entries of 40 bytes (lockout) or 32 bytes (budget), plus a byte.
    let bound = lockout::BUCKETS as usize * (1 + lockout::PER_BUCKET * 40)
        + budget::BUCKETS as usize * (1 + budget::PER_BUCKET * 32);
    assert!(store.bytes() <= bound, "{} bytes > {bound}", store.bytes());
}

#[test]
fn abuse_configuration_errors_name_the_field() {
    let error_of = |abuse: Value| {
        let mut config = access_config();
        config["abuse"] = abuse;
        Policy::from_json(config.to_string().as_bytes())
            .err()
            .unwrap()
    };
    let cases = [
        (
            json!({"lockout": {"max_failures": 0, "window_seconds": 60}}),
            "abuse.lockout.max_failures",
        ),
        (
            json!({"lockout": {"max_failures": 3, "window_seconds": 0}}),
            "abuse.lockout.window_seconds",
        ),
        (
            json!({"lockout": {"max_failures": 3, "window_seconds": 60, "max_failures_per_source": 2}}),
            "abuse.lockout.max_failures_per_source",
        ),
        (json!({"lockout": {"max_failures": 3}}), "abuse.lockout"),
        (
            json!({"lockout": {"max_failures": 3, "window_seconds": 9, "windows": 1}}),
            "abuse.lockout.windows",
        ),
        (
            json!({"signature_budget": {"rate": 0, "burst": 5}}),
            "abuse.signature_budget.rate",
        ),
        (
            json!({"signature_budget": {"rate": 5, "burst": 0}}),
            "abuse.signature_budget.burst",
        ),
        (json!({"ipv6_prefix_length": 0}), "abuse.ipv6_prefix_length"),
        (
            json!({"ipv6_prefix_length": 129}),
            "abuse.ipv6_prefix_length",
        ),
        (json!({"lockouts": {}}), "abuse.lockouts"),
    ];
    for (abuse, field) in cases {
        let error = error_of(abuse.clone());
        assert_eq!(error.field(), field, "{abuse}: {error}");
    }
    let policy = with_abuse(json!({"lockout": {"max_failures": 5, "window_seconds": 300}}));
    let lockout = policy.abuse.lockout.as_ref().unwrap();
    assert_eq!(
        lockout.max_failures_per_source, 20,
        "four times max_failures by default"
    );
    assert!(
        policy.uses_source_address,
        "the source address is asked for"
    );
    assert!(
        policy.abuse.signature_budget.is_none(),
        "each limit is off unless configured"
    );
}

#[test]
fn the_peer_address_is_asked_for_only_when_a_limit_needs_it() {
    // No network allow-list: nothing else needs the caller's address.
    let mut config = issuer().config();
    config["api_keys"] = json!({
        "id_header": "clientId", "secret_header": "clientSecret",
        "clients": [{"id": KEY_CLIENT, "scopes": ["devices:read"],
                     "secret_sha256": edge_auth::clients::secret_digest_hex(secret(KEY_CLIENT).as_bytes())}]
    });
    config["abuse"] = json!({
        "lockout": {"max_failures": 3, "window_seconds": 60},
        "signature_budget": {"rate": 1, "burst": 5}
    });
    let policy = policy(&config);
    assert!(
        !policy.uses_source_address,
        "no up-front host call for the limits"
    );
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(8);
    let t = now();
    let asked = std::cell::Cell::new(0);
    let peer = || {
        asked.set(asked.get() + 1);
        Some("203.0.113.5".parse().unwrap())
    };
    let keys = InlineKeys(&policy.providers);
    let mut decide = |request: &Request| {
        let decision =
            authorize_guarded(&policy, &keys, &store, &peer, &mut cache, request, t * 1000);
        status(&decision)
    };
    let token = issuer().token(Algorithm::ES256, t, json!({}));
    let bearer = request(
        "GET",
        "/devices",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(decide(&bearer), 200);
    assert_eq!(asked.get(), 1, "first sight: the budget needs the source");
    assert_eq!(decide(&bearer), 200);
    assert_eq!(decide(&request("GET", "/public/x", &[])), 200);
    assert_eq!(asked.get(), 1, "cache hits and public routes never ask");
    let wrong = key_pair(KEY_CLIENT, "guess");
    assert_eq!(decide(&request("GET", "/devices", &borrowed(&wrong))), 401);
    assert_eq!(
        asked.get(),
        2,
        "once per request, for the check and the count"
    );
}

/// What metrics and the access log are told about a request decided with the abuse limits.
fn outcome_of(
    policy: &Policy,
    store: &MemoryStore,
    cache: &mut TokenCache,
    request: &Request,
    at_ms: u64,
) -> (Option<Verdict>, Option<Reason>) {
    let keys = InlineKeys(&policy.providers);
    let guard = Guard::new(
        &policy.abuse,
        store,
        request,
        policy.trusted_hops,
        &|| None,
        at_ms,
    );
    let decided = evaluate_guarded(
        policy,
        &keys,
        guard.as_ref(),
        cache,
        request,
        at_ms / 1000,
        &Settled::Open,
        &mut Untraced,
    );
    (decided.outcome.verdict, decided.outcome.reason)
}

#[test]
fn a_429_is_reported_with_its_own_reason_code() {
    let t = now();
    let wrong = key_pair(KEY_CLIENT, "guess");
    let policy = lockout_policy();
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(8);
    let guess = from("203.0.113.5", &borrowed(&wrong));
    for _ in 0..3 {
        let reported = outcome_of(&policy, &store, &mut cache, &guess, t * 1000);
        assert_eq!(
            reported,
            (Some(Verdict::Denied), Some(Reason::InvalidClient))
        );
    }
    let reported = outcome_of(&policy, &store, &mut cache, &guess, t * 1000);
    assert_eq!(reported, (Some(Verdict::Denied), Some(Reason::LockedOut)));
    assert_eq!(Reason::LockedOut.code(), "locked_out");

    let policy = budget_policy(0.001, 1);
    let store = MemoryStore::default();
    let first = bearer("203.0.113.5", &forged(t, 1));
    let second = bearer("203.0.113.5", &forged(t, 2));
    assert_eq!(
        outcome_of(&policy, &store, &mut cache, &first, t * 1000).1,
        Some(Reason::BadSignature)
    );
    assert_eq!(
        outcome_of(&policy, &store, &mut cache, &second, t * 1000),
        (Some(Verdict::Denied), Some(Reason::SignatureBudget))
    );
    assert_eq!(Reason::SignatureBudget.code(), "signature_budget");
}

#[test]
fn in_report_mode_an_exhausted_budget_is_counted_but_not_refused() {
    let t = now();
    let mut config = access_config();
    config["abuse"] = json!({"signature_budget": {"rate": 0.001, "burst": 1}});
    config["mode"] = json!("report");
    let policy = policy(&config);
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(8);
    outcome_of(
        &policy,
        &store,
        &mut cache,
        &bearer("203.0.113.5", &forged(t, 1)),
        t * 1000,
    );
    assert_eq!(
        outcome_of(
            &policy,
            &store,
            &mut cache,
            &bearer("203.0.113.5", &forged(t, 2)),
            t * 1000
        ),
        (Some(Verdict::WouldDeny), Some(Reason::SignatureBudget))
    );
}

/// A refusal by the signature budget names the provider, as the bad signature one check later
/// does: the budget runs after the issuer is known (docs/abuse-resistance.md promises "the
/// credential kind and, for tokens, the provider"). In report mode too.
#[test]
fn a_budget_refusal_names_the_provider_like_a_bad_signature() {
    let t = now();
    for mode in ["enforce", "report"] {
        let mut config = access_config();
        config["abuse"] = json!({"signature_budget": {"rate": 0.001, "burst": 1}});
        config["mode"] = json!(mode);
        let policy = policy(&config);
        let store = MemoryStore::default();
        let mut cache = TokenCache::new(8);
        let mut provider_of = |n| {
            let request = bearer("203.0.113.5", &forged(t, n));
            let keys = InlineKeys(&policy.providers);
            let guard = Guard::new(
                &policy.abuse,
                &store,
                &request,
                policy.trusted_hops,
                &|| None,
                t * 1000,
            );
            let (decided, lines) = crate::log_capture::lines_of(|| {
                evaluate_guarded(
                    &policy,
                    &keys,
                    guard.as_ref(),
                    &mut cache,
                    &request,
                    t,
                    &Settled::Open,
                    &mut Untraced,
                )
            });
            let reason = decided.outcome.reason.map(Reason::code);
            (reason, decided.outcome.provider.map(str::to_string), lines)
        };
        let (reason, provider, _) = provider_of(1);
        assert_eq!(
            (reason, provider.as_deref()),
            (Some("bad_signature"), Some("test-idp")),
            "{mode}"
        );
        let (reason, provider, lines) = provider_of(2);
        assert_eq!(
            (reason, provider.as_deref()),
            (Some("signature_budget"), Some("test-idp")),
            "{mode}"
        );
        assert!(
            lines.iter().any(|line| line
                .ends_with("(reason signature_budget, credential jwt, provider test-idp)")),
            "{mode}: {lines:?}"
        );
    }
}
