//! Properties that hold for any input, checked over generated cases (proptest): the
//! verified-token cache never answers one token with another's identity, and route rules
//! match whole path segments for any path.

use std::collections::HashMap;
use std::rc::Rc;

use edge_auth::identity::Identity;
use edge_auth::jwt::jwks::KeySet;
use edge_auth::jwt::token::KeyLookup;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::rules::Requirement;
use edge_auth::policy::Policy;
use proptest::prelude::*;
use serde_json::json;

use super::fuzz_corpus::entries;

fn identity(token: &str) -> Rc<Identity> {
    Rc::new(Identity {
        provider: 0,
        subject: Some(token.to_string()),
        scopes: Vec::new(),
        apps: Vec::new(),
        client_id: None,
        allowed_cidrs: Vec::new(),
        forwarded_claims: Vec::new(),
        expires_at: 0,
        confirmation: None,
    })
}

/// Provider 0's key-set version, as the cache sees it.
struct Version(u64);

impl KeyLookup for Version {
    fn keys_of(&self, _index: usize) -> Option<&KeySet> {
        None
    }

    fn key_version(&self, _index: usize) -> u64 {
        self.0
    }
}

/// Tokens that share prefixes, suffixes and lengths, so that a cache keyed by anything less
/// than the whole token would mix them up.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab.]{0,6}",
        "eyJ[a-c]{0,3}\\.[a-c]{0,3}\\.[a-c]{0,3}",
        Just("a".repeat(300)),
        Just(format!("{}b", "a".repeat(299))),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u64),
    Get(String),
    Tick(u64),
    NewKeys,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (token(), 0u64..20).prop_map(|(t, ttl)| Op::Insert(t, ttl)),
        token().prop_map(Op::Get),
        (0u64..10).prop_map(Op::Tick),
        Just(Op::NewKeys),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_cache_lookup_never_yields_another_tokens_identity(
        capacity in 0usize..6,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut cache = TokenCache::new(capacity);
        let mut now = 1000;
        let mut keys = Version(0);
        let mut stored: HashMap<String, (u64, u64)> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(token, ttl) => {
                    cache.insert(&token, identity(&token), now + ttl, now, keys.0);
                    stored.insert(token, (now + ttl, keys.0));
                }
                Op::Get(token) => {
                    if let Some(found) = cache.get(&token, now, &keys) {
                        prop_assert_eq!(found.subject.as_deref(), Some(token.as_str()));
                        let stored = stored.get(&token).copied();
                        prop_assert!(stored.is_some_and(|(until, _)| now <= until), "expired or never stored");
                        prop_assert!(stored.is_some_and(|(_, version)| version == keys.0), "verified with older keys");
                    }
                }
                Op::Tick(seconds) => now += seconds,
                Op::NewKeys => keys.0 += 1,
            }
            prop_assert!(cache.len() <= capacity);
        }
    }

    #[test]
    fn a_rule_prefix_matches_whole_segments_for_any_path(
        prefix in "(/[a-z0-9%._-]{1,6}){1,3}",
        rest in "[a-z/%.?#;]{0,12}",
        method in "(GET|POST|DELETE|get|X)",
    ) {
        let config = json!({
            "api_keys": {"clients": [{"id": "c", "secret_sha256": "0".repeat(64)}],
                         "id_header": "clientid", "secret_header": "clientsecret"},
            "rules": [{"path_prefix": prefix, "public": true}]
        });
        let policy = Policy::from_json(config.to_string().as_bytes()).unwrap();
        let path = format!("{prefix}{rest}");
        let public = policy.rules.requirement(&method, &path) == Requirement::Public;
        prop_assert_eq!(public, entries::segment_prefix(&path, &prefix), "{} under {}", path, prefix);
    }

    #[test]
    fn the_fixed_rules_are_segment_aware_for_any_request_line(line in "\\PC{0,40}") {
        entries::path_rules(line.as_bytes());
    }
}
