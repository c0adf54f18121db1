//! Properties that hold for any input, checked over generated cases (proptest): the
//! verified-token cache never answers one token with another's identity, route rules match
//! whole path segments for any path, path templates match exactly where a tiny reference matcher
//! does (through the configured rules too), and no spelling of a path reaches another rule than the
//! one its upstream serves it under.

use std::collections::HashMap;
use std::rc::Rc;

use edge_auth::identity::Identity;
use edge_auth::jwt::jwks::KeySet;
use edge_auth::jwt::token::KeyLookup;
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::rules::Requirement;
use edge_auth::policy::templates::{segment_at, PathTemplate};
use edge_auth::policy::Policy;
use edge_auth::request::path::{canonical, LetterCase, PathOptions};
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
        audiences: Vec::new(),
        claim_values: Vec::new(),
        forwarded_claims: Vec::new(),
        expires_at: 0,
        token_id: None,
        issued_at: None,
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
    #![proptest_config(ProptestConfig::with_cases(1024))]

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
    fn a_path_template_matches_where_the_reference_matcher_does(
        template in template(),
        path in prop::collection::vec(path_segment(), 0..6),
    ) {
        let path = format!("/{}", path.join("/"));
        let compiled = PathTemplate::parse(&template).unwrap();
        let matched = compiled.matches(&path);
        prop_assert_eq!(
            matched,
            entries::reference_template_match(&template, &path),
            "{} against {}", path, template
        );
        if matched {
            for name in compiled.variables() {
                let captured = segment_at(&path, compiled.variable_index(name).unwrap()).unwrap();
                prop_assert!(!captured.is_empty() && !captured.contains('/'));
            }
        }
        // The same through the configured rules, `%2F` kept as data: first match wins.
        let config = json!({
            "api_keys": {"clients": [{"id": "c", "secret_sha256": "0".repeat(64)}],
                         "id_header": "clientid", "secret_header": "clientsecret"},
            "paths": {"encoded_delimiters": "keep", "letter_case": "sensitive"},
            "rules": [{"path_template": template, "public": true}]
        });
        let policy = Policy::from_json(config.to_string().as_bytes()).unwrap();
        if let Ok(form) = canonical(&path, policy.paths) {
            let public = policy.rules.requirement("GET", &form.path) == Requirement::Public;
            prop_assert_eq!(public, entries::reference_template_match(&template, &form.path));
        }
        // With the default paths (letters compared as written, else refused), behind a prefix
        // rule: the rule the decision takes from the path checks is the one matching finds.
        let config = json!({
            "api_keys": {"clients": [{"id": "c", "secret_sha256": "0".repeat(64)}],
                         "id_header": "clientid", "secret_header": "clientsecret"},
            "rules": [{"path_prefix": "/a/b", "public": true},
                      {"path_template": template, "scopes": ["s"]}]
        });
        let policy = Policy::from_json(config.to_string().as_bytes()).unwrap();
        for method in ["GET", "POST"] {
            if let Ok((path, found)) = policy.rules.canonical_match(policy.paths, method, &path) {
                prop_assert_eq!(found, policy.rules.matching(method, &path).0, "{}", path);
            }
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
        // Requests are matched in canonical form, so only canonical prefixes are configurable.
        let policy = match Policy::from_json(config.to_string().as_bytes()) {
            Ok(policy) => policy,
            Err(err) => {
                prop_assert_eq!(err.field(), "rules[0].path_prefix");
                prop_assert!(canonical(&prefix, PathOptions::default())
                    .map_or(true, |form| form.path != prefix));
                return Ok(());
            }
        };
        let path = format!("{prefix}{rest}");
        let public = policy.rules.requirement(&method, &path) == Requirement::Public;
        prop_assert_eq!(public, entries::segment_prefix(&path, &prefix), "{} under {}", path, prefix);
    }

    #[test]
    fn the_fixed_rules_are_segment_aware_for_any_request_line(line in "\\PC{0,40}") {
        entries::path_rules(line.as_bytes());
    }

    /// Spellings an attacker tries (encoded separators, parameters, detours, double encoding,
    /// overlong bytes): segments joined by separators, accepted only where every modelled
    /// upstream reading chooses the rule the filter chose.
    #[test]
    fn no_spelling_of_a_path_borrows_another_rule(
        first in spelling_segment(),
        rest in prop::collection::vec((spelling_separator(), spelling_segment()), 0..4),
        method in "(GET|POST)",
    ) {
        let mut target = format!("/{first}");
        for (separator, segment) in rest {
            target.push_str(&separator);
            target.push_str(&segment);
        }
        let rules = &base_policy().rules;
        for options in [PathOptions::default(), KEEP_ALL] {
            entries::assert_same_rule_everywhere(rules, options, &method, &target);
        }
    }

    /// A protected or public path with characters percent-encoded at random (upper or lower
    /// case, some twice): accepted only where every reading agrees.
    #[test]
    fn no_encoding_of_a_path_borrows_another_rule(
        path in "(/public|/admin|/legacy|/x|/Admin|/PUBLIC)(/(admin|public|[a-zA-Z.~]{1,4}|\\.\\.)){0,3}/?",
        encode in prop::collection::vec(0u8..8, 0..40),
    ) {
        let target = percent_encode_some(&path, &encode);
        let rules = &base_policy().rules;
        for options in [PathOptions::default(), KEEP_ALL] {
            entries::assert_same_rule_everywhere(rules, options, "GET", &target);
        }
    }
}

const KEEP_ALL: PathOptions = PathOptions {
    keep_encoded_delimiters: true,
    keep_parameters: true,
    letter_case: LetterCase::Reject,
};

fn base_policy() -> &'static Policy {
    entries::base()
}

/// Segments of attack paths against the fuzz configuration's rules (`/public` public, `/admin`
/// with a scope, `/legacy` Basic only).
fn spelling_segment() -> impl Strategy<Value = String> {
    let fixed = [
        "admin",
        "public",
        "legacy",
        "x",
        "",
        "..",
        ".",
        "%2e",
        "%2E%2e",
        ".%2e",
        "%252e%252e",
        "%25%32%65",
        "adm%69n",
        "%61dmin",
        "%41",
        "%7E",
        "%20",
        "%00",
        "%",
        "%g1",
        "%c0%ae",
        "..;",
        ".;x",
    ];
    prop_oneof![
        3 => prop::sample::select(fixed.to_vec()).prop_map(str::to_string),
        1 => "[a-z;=%0-9]{1,3}",
    ]
}

/// What attackers put between segments.
fn spelling_separator() -> impl Strategy<Value = String> {
    let fixed = [
        "/",
        "/",
        "/",
        "%2F",
        "%2f",
        "%5C",
        "%5c",
        "\\",
        ";",
        ";x=1/",
        "%3B",
        "%3b/",
        "//",
        "%3F",
        "%23",
        "?",
        "#",
        "%252f",
        "%25%32%66",
        "%c0%af",
        "/;/",
    ];
    prop::sample::select(fixed.to_vec()).prop_map(str::to_string)
}

/// `path` with the characters whose entry in `how` says so percent-encoded: 1 lower-case hex,
/// 2 upper-case hex, 3 encoded twice (`%25` and the hex), anything else as it is.
fn percent_encode_some(path: &str, how: &[u8]) -> String {
    let mut out = String::new();
    for (index, byte) in path.bytes().enumerate() {
        match how.get(index).copied().unwrap_or(0) {
            1 => out.push_str(&format!("%{byte:02x}")),
            2 => out.push_str(&format!("%{byte:02X}")),
            3 => out.push_str(&format!("%25{byte:02X}")),
            _ => out.push(char::from(byte)),
        }
    }
    out
}

/// The property test is not vacuous: spellings some upstreams read differently are refused, and
/// harmless escapes still pass.
#[test]
fn the_spelling_property_refuses_attacks_and_keeps_harmless_escapes() {
    let rules = &base_policy().rules;
    let accepted = |target: &str| {
        rules
            .canonical_path(PathOptions::default(), "GET", target)
            .is_ok()
    };
    for attack in [
        "/public/..%2Fadmin",
        "/public/..%5Cadmin",
        "/public/x/..%2f..%2fadmin",
        "/admin;x=1",
        "/admin%2F",
        "/public%2F..%2Fadmin",
        "/public/..;/admin",
        "/public/%252e%252e/admin",
        "/adm%69n",
        "//admin",
        "/ADMIN",
        "/Admin/x",
        "/PUBLIC/x",
    ] {
        assert!(!accepted(attack), "{attack}");
    }
    for harmless in [
        "/public/%7Edocs",
        "/admin/%41",
        "/x/caf%C3%A9",
        "/public/a%20b",
    ] {
        assert!(accepted(harmless), "{harmless}");
    }
}

/// Templates over a small alphabet, so that generated paths often match: literals, variables,
/// a trailing slash, a final `**`.
fn template() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop_oneof!["(a|b|acc|A)", Just("{v}".to_string())], 0..5),
        prop_oneof![Just(""), Just("/**"), Just("/")],
    )
        .prop_map(|(segments, end)| {
            let named: Vec<String> = segments
                .into_iter()
                .enumerate()
                .map(|(i, s)| if s == "{v}" { format!("{{v{i}}}") } else { s })
                .collect();
            let body = format!("/{}", named.join("/"));
            match end {
                "/**" if body == "/" => "/**".to_string(),
                "/**" => format!("{body}/**"),
                "/" if body != "/" => format!("{body}/"),
                _ => body,
            }
        })
}

/// Path segments near the templates' literals, empty ones and a kept `%2F` included.
fn path_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "(a|b|acc|A|x)",
        Just(String::new()),
        Just("a%2Fb".to_string()),
        Just("%2F".to_string()),
        Just("**".to_string()),
        Just("{v0}".to_string()),
    ]
}
