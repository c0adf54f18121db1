//! The fuzz targets' entry functions, shared by the cargo-fuzz crate (`fuzz/fuzz_targets/`,
//! nightly) and the stable replay of the committed corpus (`tests/core/fuzz_corpus.rs`): each
//! takes arbitrary bytes, drives one parser of the core through its public API with a fixed
//! key set and a fixed clock, and asserts what must hold for any input. A failed assertion
//! or any panic is a crash to the fuzzer and a failed test to `make test`.
//!
//! Included with `#[path]` by both, so it depends only on `edge_auth` and `serde_json`.

#![allow(dead_code)]

use std::net::IpAddr;

use edge_auth::clients::secret_digest_hex;
use edge_auth::issuer::{discovery, introspection, remote_keys};
use edge_auth::json::Value as ClaimValue;
use edge_auth::jwt::algorithm::Algorithm;
use edge_auth::jwt::claims::{has_string, ClaimPath, Condition, Test};
use edge_auth::jwt::jwks::KeySet;
use edge_auth::jwt::token;
use edge_auth::policy::abuse::records::{MemoryStore, SharedStore};
use edge_auth::policy::cache::TokenCache;
use edge_auth::policy::decision::{authorize, authorize_guarded, Decision};
use edge_auth::policy::rules::{Requirement, Rules};
use edge_auth::policy::templates::{segment_at, PathTemplate};
use edge_auth::policy::Policy;
use edge_auth::request::allowlist::url_host;
use edge_auth::request::cookie_token::{self, CookieToken};
use edge_auth::request::credential::Request;
use edge_auth::request::path::{LetterCase, PathOptions};
use edge_auth::request::query_token;
use edge_auth::request::source::Source;
use edge_auth::request::transport::client_address;
use serde_json::{json, Value};

/// The fixed clock (Unix seconds): 2027-01-15.
pub const NOW: u64 = 1_800_000_000;
/// The fixed issuer.
pub const ISSUER: &str = "https://fuzz.example/issuer";
/// The fixed key set: one RS256 and one ES256 public key (their private halves, test-only,
/// are in `fuzz/keys/` for minting corpus seeds).
pub const JWKS: &str = include_str!("keys/jwks.json");
/// The one API client's id and secret.
pub const CLIENT: &str = "fuzz-client";
pub const SECRET: &str = "fuzz-secret";

/// The configuration every entry but `config` and `jwks` decides with: tokens from the fixed
/// issuer, an API client with network and origin allow-lists, Basic, a query token, a token
/// cookie, route
/// rules, trusted `X-Forwarded-For`, and both abuse limits.
pub fn base_config() -> Value {
    let jwks: Value = serde_json::from_str(JWKS).unwrap_or(Value::Null);
    json!({
        "providers": [{
            "name": "fuzz", "issuer": ISSUER, "audiences": ["fuzz-api"],
            "algorithms": ["ES256", "RS256"], "jwks": jwks
        }],
        "api_keys": {
            "id_header": "clientid", "secret_header": "clientsecret", "basic": true,
            "clients": [{
                "id": CLIENT, "secret_sha256": secret_digest_hex(SECRET.as_bytes()),
                "scopes": ["admin"],
                "allowed_cidrs": ["203.0.113.0/24", "2001:db8::/32"],
                "allowed_origins": ["app.example.com", "*.example.org"]
            }]
        },
        "query_token": {"param": "token"},
        "cookie_token": {"name": "access_token"},
        "app_header": "appId",
        "trusted_hops": 1,
        "rules": [
            {"path_prefix": "/public", "public": true},
            {"path_prefix": "/admin", "scopes": ["admin"]},
            {"path_prefix": "/legacy", "accept": ["basic"]}
        ],
        "abuse": {
            "lockout": {"max_failures": 3, "window_seconds": 60},
            "signature_budget": {"rate": 1, "burst": 2}
        }
    })
}

/// A configuration whose only provider introspects every token.
fn introspection_config() -> Value {
    json!({"providers": [{
        "name": "opaque", "issuer": ISSUER, "audiences": ["fuzz-api"], "algorithms": ["RS256"],
        "introspection": {"cluster": "idp", "path": "/introspect", "client_id": "edge",
                          "client_secret": "s3cret", "cache_seconds": 60, "tokens": "all"}
    }]})
}

thread_local! {
    static BASE: Option<&'static Policy> = Policy::from_json(base_config().to_string().as_bytes())
        .ok()
        .map(|policy| &*Box::leak(Box::new(policy)));
    static INTROSPECTING: Option<&'static Policy> =
        Policy::from_json(introspection_config().to_string().as_bytes())
            .ok()
            .map(|policy| &*Box::leak(Box::new(policy)));
}

pub fn base() -> &'static Policy {
    match BASE.with(|policy| *policy) {
        Some(policy) => policy,
        None => panic!("the fuzz configuration must compile"),
    }
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

fn status(decision: &Decision<'_>) -> u32 {
    match decision {
        Decision::Allow(_) => 200,
        Decision::Deny { denial, .. } => denial.status(),
        Decision::AwaitKeys { .. } | Decision::Introspect { .. } => 0,
    }
}

/// The compact token parser and validator: a bearer token is allowed exactly when the
/// validator accepts it, and nothing else panics on it.
pub fn compact_token(data: &[u8]) {
    let policy = base();
    let candidate = text(data);
    let verified = token::verify(&candidate, &policy.providers, &policy.forward, NOW);
    let _ = token::looks_like_jwt(&candidate);
    let _ = token::claimed_provider(&candidate, &policy.providers);
    if let Ok(identity) = &verified {
        assert_eq!(identity.provider, 0);
        assert!(
            identity.expires_at.saturating_add(60) >= NOW,
            "expired yet accepted"
        );
    }
    // Only characters a header carries verbatim, so the header holds exactly this token.
    let plain = !candidate.is_empty()
        && candidate
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if plain {
        let bearer = format!("Bearer {candidate}");
        let request = Request::from_headers(vec![("authorization".into(), bearer)]);
        let request = Request {
            method: "GET".into(),
            path: "/devices".into(),
            ..request
        };
        let decision = authorize(policy, &mut TokenCache::new(4), &request, NOW);
        assert_eq!(
            matches!(decision, Decision::Allow(_)),
            verified.is_ok(),
            "the decision and the validator disagree: {decision:?} / {verified:?}"
        );
    }
}

/// JWK Sets, inline in the configuration and fetched from an issuer: either a key set or an
/// error naming where, never a panic.
pub fn jwk_set(data: &[u8]) {
    let algorithms = [
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::PS256,
        Algorithm::HS256,
    ];
    if let Ok((keys, skipped)) = KeySet::from_fetched_jwks(data, &algorithms) {
        let _ = (keys.len(), skipped.len());
    }
    if let Ok(document) = serde_json::from_slice::<Value>(data) {
        // `"jwks": null` is no key set at all: the error is then the provider's (which source).
        if document.is_null() {
            return;
        }
        let mut config = base_config();
        config["providers"][0]["jwks"] = document;
        if let Err(err) = Policy::from_json(config.to_string().as_bytes()) {
            assert!(
                err.field().starts_with("providers[0].jwks") || err.field().is_empty(),
                "an inline key set error names {:?}: {err}",
                err.field()
            );
        }
    }
}

/// The whole configuration JSON: compiles, or one error with a message; a compiled one
/// decides a request without panicking.
pub fn configuration(data: &[u8]) {
    match Policy::from_json(data) {
        Ok(policy) => {
            let request = Request {
                method: "GET".into(),
                path: "/x".into(),
                source_address: Some(IpAddr::from([203, 0, 113, 9])),
                ..Request::default()
            };
            let _ = authorize(&policy, &mut TokenCache::new(4), &request, NOW);
        }
        Err(err) => assert!(!err.problem().is_empty(), "an error without a message"),
    }
}

/// Splits fuzz bytes into a request: the first line is `METHOD PATH`, each further line a
/// `name: value` header.
pub fn request_from(data: &[u8]) -> Request {
    let text = text(data);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, path) = first.split_once(' ').unwrap_or(("GET", first));
    let headers = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_string()))
        })
        .collect();
    Request {
        method: method.to_string(),
        path: path.to_string(),
        source_address: Some(IpAddr::from([10, 0, 0, 2])),
        ..Request::from_headers(headers)
    }
}

/// Credential extraction from arbitrary header maps (bearer, key pairs, Basic, query tokens,
/// token cookies, `X-Forwarded-For`, `Origin`), through the whole guarded decision: a documented
/// status always, the source address one of the forwarded entries, and the `Cookie` value left
/// for the upstream free of the token cookie.
pub fn credential_headers(data: &[u8]) {
    let policy = base();
    let request = request_from(data);
    let _ = policy.credentials.find(&request);
    let forwarded: Vec<&str> = request.header_values("x-forwarded-for").collect();
    if let Some(address) = client_address(request.source_address, &forwarded, 1) {
        let listed = forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .any(|entry| {
                entry.trim().parse::<IpAddr>().ok() == Some(address) || entry.contains(':')
            });
        assert!(listed, "{address} is not a forwarded entry: {forwarded:?}");
        let _ = Source::group(Some(address), 64).to_string();
    }
    if let Ok(Some(origin)) = request.single_header("origin") {
        if let Some(host) = url_host(origin) {
            assert!(!host.contains('/'), "a host with a slash: {host:?}");
        }
    }
    let _ = query_token::strip(&request.path, "token");
    if let Some(others) =
        cookie_token::find(request.header_values("cookie"), "access_token").others()
    {
        assert_eq!(
            cookie_token::find([others], "access_token"),
            CookieToken::Absent,
            "the token cookie is left in {others:?}"
        );
    }
    let store = MemoryStore::default();
    let mut cache = TokenCache::new(4);
    for _ in 0..2 {
        let decision = authorize_guarded(
            policy,
            &token_keys(policy),
            &store,
            &|| None,
            &mut cache,
            &request,
            NOW * 1000,
        );
        let code = status(&decision);
        assert!(
            [200, 400, 401, 403, 429].contains(&code),
            "undocumented answer {code}: {decision:?}"
        );
        if code == 200 {
            let rules = &policy.rules;
            assert!(rules
                .canonical_path(policy.paths, &request.method, &request.path)
                .is_ok());
        }
    }
}

fn token_keys(policy: &Policy) -> token::InlineKeys<'_> {
    token::InlineKeys(&policy.providers)
}

/// Discovery documents, introspection answers, the fleet's rate limit service answers, and the
/// records other workers share (fetch leases, key records, abuse-limit buckets): interpreted or
/// refused, never a panic, and an active introspection answer is never trusted past its own
/// `exp`.
pub fn issuer_answers(data: &[u8]) {
    if let Ok(answer) = edge_auth::fleet::protocol::decode_response(data) {
        // Each status takes at least two bytes (its tag and length).
        assert!(
            answer.statuses.len() * 2 <= data.len(),
            "statuses from nothing"
        );
    }
    if let Ok(url) = discovery::jwks_url(data, ISSUER) {
        assert!(!url.authority.is_empty(), "a JWKS URL without a host");
    }
    let _ = remote_keys::response_body(Some(200), Some(data.to_vec()));
    let _ = remote_keys::Lease::decode(data);
    let _ = remote_keys::KeyRecord::decode(data);
    let store = MemoryStore::default();
    if let Some(lockout) = base().abuse.lockout.as_ref() {
        for key in lockout.table.keys() {
            let _ = store.set(&key, data, None);
        }
        let source = Source::group(Some(IpAddr::from([203, 0, 113, 5])), 64);
        let _ = lockout.locked(&store, &source, CLIENT, NOW * 1000);
        let _ = lockout.record_failure(&store, &source, CLIENT, NOW * 1000);
    }
    let Some(policy) = INTROSPECTING.with(|policy| *policy) else {
        panic!("the introspection configuration must compile");
    };
    let (Some(provider), Some(endpoint)) = (
        policy.providers.first(),
        policy
            .endpoints
            .first()
            .and_then(|e| e.introspection.as_ref()),
    ) else {
        panic!("the introspection provider is configured");
    };
    let outcome = introspection::interpret(
        Some(200),
        Some(data.to_vec()),
        0,
        provider,
        endpoint,
        &policy.forward,
        NOW,
    );
    if let introspection::Outcome::Active {
        identity,
        valid_until,
    } = outcome
    {
        assert!(valid_until >= NOW, "an active answer already stale");
        if let Some(exp) = serde_json::from_slice::<Value>(data)
            .ok()
            .and_then(|answer| answer.get("exp").and_then(Value::as_u64))
        {
            assert!(valid_until <= exp.saturating_add(provider.clock_skew_seconds));
            assert_eq!(identity.expires_at, exp);
        }
    }
}

/// Path and rule matching: a rule's prefix matches whole segments only, whatever the path.
pub fn path_rules(data: &[u8]) {
    let policy = base();
    let text = text(data);
    let (method, path) = text.split_once(' ').unwrap_or(("GET", &text));
    let _ = query_token::strip(path, "token");
    let path_only = path.split('?').next().unwrap_or_default();
    let requirement = policy.rules.requirement(method, path_only);
    assert_eq!(
        requirement == Requirement::Public,
        segment_prefix(path_only, "/public"),
        "{path_only:?}"
    );
    let admin =
        matches!(requirement, Requirement::Authenticated(route) if route.scopes == ["admin"]);
    assert_eq!(admin, segment_prefix(path_only, "/admin"), "{path_only:?}");
}

/// Whether `path` is `prefix` or lies under it.
pub fn segment_prefix(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Path templates: a template (first line) either parses or is refused, never panics; one that
/// parses matches a path (second line) exactly where [`reference_template_match`] does, and
/// each variable captures one non-empty segment without a `/`; so does the canonical form of
/// the path, with encoded delimiters kept (a `%2F` is never a separator).
pub fn path_templates(data: &[u8]) {
    let text = text(data);
    let (template_text, path) = text.split_once('\n').unwrap_or((&text, "/"));
    let Ok(template) = PathTemplate::parse(template_text) else {
        return;
    };
    let keep = PathOptions {
        keep_encoded_delimiters: true,
        keep_parameters: true,
        letter_case: LetterCase::Sensitive,
    };
    let canonical = edge_auth::request::path::canonical(path, keep).ok();
    let canonical = canonical.as_ref().map(|form| form.path.as_ref());
    for path in std::iter::once(path).chain(canonical) {
        let matched = template.matches(path);
        assert_eq!(
            matched,
            reference_template_match(template_text, path),
            "{template_text:?} {path:?}"
        );
        if matched {
            for name in template.variables() {
                let index = template.variable_index(name).unwrap_or(usize::MAX);
                let captured = segment_at(path, index).unwrap_or_default();
                assert!(!captured.is_empty() && !captured.contains('/'), "{path:?}");
            }
        }
        assert!(!matched || template.matches_ignoring_case(path));
    }
}

/// The reference matcher for path templates, as small as it can be: split both at `/` after
/// the leading one; a final `**` takes the rest; a `{...}` segment matches one non-empty
/// segment, any other compares exactly.
pub fn reference_template_match(template: &str, path: &str) -> bool {
    let (Some(template), Some(path)) = (template.strip_prefix('/'), path.strip_prefix('/')) else {
        return false;
    };
    let mut want: Vec<&str> = template.split('/').collect();
    let rest = want.last() == Some(&"**");
    if rest {
        want.pop();
    }
    let have: Vec<&str> = path.split('/').collect();
    let count_ok = if rest {
        have.len() >= want.len()
    } else {
        have.len() == want.len()
    };
    count_ok
        && want.iter().zip(&have).all(|(want, have)| {
            if want.starts_with('{') {
                !have.is_empty()
            } else {
                want == have
            }
        })
}

/// Claim conditions: a claim path (first line) either parses or is refused, never panics; for
/// any claims (the rest, a JSON object) and any operand (second line, a JSON value), every
/// operator decides the same on the value a cached identity keeps as on the token's own claim
/// (a cache hit decides like the first sight), `not` is exactly the opposite, `present` holds
/// exactly for a value that is not `null`, an `equals` that holds implies the `any_of` of that
/// one value, and a path binding's string test is `any_of` of that string, never split.
pub fn claim_conditions(data: &[u8]) {
    let text = text(data);
    let mut lines = text.splitn(3, '\n');
    let (path_text, operand, claims) = (
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
        lines.next().unwrap_or_default(),
    );
    let Ok(path) = ClaimPath::parse(path_text) else {
        return;
    };
    assert_eq!(path.text(), path_text);
    // The filter's own reader of claims, as a token's are read.
    let Some(ClaimValue::Object(claims)) = edge_auth::json::value::from_slice(claims.as_bytes())
    else {
        return;
    };
    let operand = edge_auth::json::value::from_slice(operand.as_bytes()).unwrap_or_default();
    let list = match &operand {
        ClaimValue::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let found = path.find(&claims);
    let kept = path.keep(&claims);
    let tests = [
        Test::Present,
        Test::Equals(operand.clone()),
        Test::AnyOf(list.clone()),
        Test::AllOf(list),
    ];
    for test in tests {
        for space_separated in [false, true] {
            let condition = |negated| Condition {
                path: path.clone(),
                slot: 0,
                test: test.clone(),
                space_separated,
                negated,
            };
            let (plain, not) = (condition(false), condition(true));
            let on_claim = plain.holds(found);
            assert_eq!(
                on_claim,
                plain.holds(kept.as_ref()),
                "{path_text:?}: cached value"
            );
            assert_eq!(not.holds(found), !on_claim, "{path_text:?}: negation");
            if test == Test::Present {
                assert_eq!(on_claim, found.is_some_and(|v| !v.is_null()));
            }
            if let (Test::Equals(wanted), true) = (&test, on_claim) {
                let any = Condition {
                    test: Test::AnyOf(vec![wanted.clone()]),
                    ..condition(false)
                };
                assert!(any.holds(found), "{path_text:?}: equals without any_of");
            }
        }
    }
    if let ClaimValue::String(wanted) = &operand {
        let any = Condition {
            path: path.clone(),
            slot: 0,
            test: Test::AnyOf(vec![operand.clone()]),
            space_separated: false,
            negated: false,
        };
        assert_eq!(has_string(found, wanted), any.holds(found), "{path_text:?}");
    }
}

/// Path spellings against the rule matcher: a path the filter accepts chooses the same rule as
/// the path every modelled upstream serves for it ([`upstream::MODELS`]), with encoded
/// delimiters and parameters refused (the default) and kept.
pub fn path_spellings(data: &[u8]) {
    let policy = base();
    let text = text(data);
    let (method, target) = text.split_once(' ').unwrap_or(("GET", &text));
    for keep in [false, true] {
        let options = PathOptions {
            keep_encoded_delimiters: keep,
            keep_parameters: keep,
            letter_case: LetterCase::Reject,
        };
        assert_same_rule_everywhere(&policy.rules, options, method, target);
    }
}

/// The property behind [`path_spellings`] (and `tests/core/properties.rs`): if `target` is
/// accepted, every upstream reading of it matches the rule its canonical form matches. With
/// `keep` options only the readings that keep what is kept are asked. The rule the decision
/// takes from the path checks' own walk is the one matching finds.
pub fn assert_same_rule_everywhere(
    rules: &Rules,
    options: PathOptions,
    method: &str,
    target: &str,
) {
    let Ok((canonical, found)) = rules.canonical_match(options, method, target) else {
        return;
    };
    let chosen = rules.matching(method, &canonical).0;
    assert_eq!(
        found, chosen,
        "{target:?}: the path checks found another rule than matching {canonical:?}"
    );
    let path = target.split('?').next().unwrap_or_default();
    for (name, reads, decodes_kept) in upstream::MODELS {
        let keeps = options.keep_encoded_delimiters || options.keep_parameters;
        if keeps && decodes_kept {
            continue;
        }
        let served = reads(path);
        assert_eq!(
            rules.matching(method, &served).0,
            chosen,
            "{target:?} is matched as {canonical:?}, but a {name} upstream serves {served:?}"
        );
    }
}

/// How upstreams read a path (without query): each model gives the path it serves. Models of
/// readings that decode encoded delimiters or drop parameters are marked, since a configuration
/// that keeps those spellings says its upstream does not read them so.
pub mod upstream {
    /// (name, reading, whether it decodes delimiters or drops parameters).
    pub type Model = (&'static str, fn(&str) -> String, bool);

    /// The readings: as sent; percent-decoded (once, twice, or all but delimiters and `;`);
    /// `\\` as `/`; servlet containers' `;` parameters dropped before or after decoding; a
    /// decoded `?` or `#` ending the path; letters without regard to case (ASP.NET, IIS: read
    /// against the configuration's lower-case prefixes). Each then resolves dot-segments and
    /// merges slashes as most servers do.
    pub const MODELS: [Model; 9] = [
        ("literal", |path| path.to_string(), false),
        ("decoding", |path| normalise(&decode(path)), true),
        (
            "delimiter-keeping",
            |path| normalise(&decode_except(path, b"/\\?#;")),
            false,
        ),
        (
            "case-insensitive",
            |path| normalise(&decode_except(path, b"/\\?#;")).to_ascii_lowercase(),
            false,
        ),
        (
            "backslash",
            |path| normalise(&decode(path).replace('\\', "/")),
            true,
        ),
        (
            "double-decoding",
            |path| normalise(&decode(&decode(path)).replace('\\', "/")),
            true,
        ),
        (
            "servlet",
            |path| normalise(&decode(&drop_parameters(path))),
            true,
        ),
        (
            "decode-then-drop",
            |path| normalise(&drop_parameters(&decode(path))),
            true,
        ),
        (
            "query-splitting",
            |path| {
                let decoded = decode(path);
                normalise(decoded.split(['?', '#']).next().unwrap_or_default())
            },
            true,
        ),
    ];

    /// Percent-decoding as lenient servers do: malformed escapes kept as they are.
    pub fn decode(path: &str) -> String {
        decode_except(path, b"")
    }

    /// [`decode`], but escapes of the bytes in `kept` stay as they are.
    pub fn decode_except(path: &str, kept: &[u8]) -> String {
        let bytes = path.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        while let Some(&byte) = bytes.get(at) {
            let hex = bytes
                .get(at + 1..at + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok());
            let value = hex
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|hex| u8::from_str_radix(hex, 16).ok());
            match value {
                Some(value) if byte == b'%' && !kept.contains(&value) => {
                    out.push(value);
                    at += 3;
                }
                _ => {
                    out.push(byte);
                    at += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Every segment without its `;` parameters.
    pub fn drop_parameters(path: &str) -> String {
        path.split('/')
            .map(|segment| segment.split(';').next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Dot-segments resolved (RFC 3986 §5.2.4) and empty segments merged, in a path that
    /// starts with `/` (anything else, such as `*`, is served as it is).
    pub fn normalise(path: &str) -> String {
        if !path.starts_with('/') {
            return path.to_string();
        }
        let mut out: Vec<&str> = Vec::new();
        let segments: Vec<&str> = path.split('/').collect();
        let last = segments.len().saturating_sub(1);
        for (index, segment) in segments.iter().enumerate() {
            match *segment {
                "." => {}
                ".." => {
                    out.pop();
                }
                "" if index != last => {}
                other => out.push(other),
            }
        }
        format!("/{}", out.join("/"))
    }
}

/// A target's entry function.
pub type Entry = fn(&[u8]);

/// Every target, by the name of its corpus folder.
pub const TARGETS: [(&str, Entry); 9] = [
    ("compact_token", compact_token),
    ("jwk_set", jwk_set),
    ("configuration", configuration),
    ("credential_headers", credential_headers),
    ("issuer_answers", issuer_answers),
    ("path_rules", path_rules),
    ("path_spellings", path_spellings),
    ("path_templates", path_templates),
    ("claim_conditions", claim_conditions),
];
