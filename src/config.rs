//! Plugin configuration: the JSON schema users write, parsed strictly and compiled once into
//! the [`Policy`] the request path reads.
//!
//! Parsing rejects unknown fields everywhere; compiling validates meaning (non-empty issuer,
//! known algorithms, sound keys, valid header names). Every error names the field it is about,
//! as a path like `providers[0].jwks.keys[1].n`, so that a one-line log tells the operator
//! exactly what to fix. There is no partial success: a configuration compiles whole or not at all.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::algorithm::Algorithm;
use crate::credential::TokenSource;
use crate::introspection;
use crate::jwks::{JwkSetDocument, KeySet};
use crate::key_source;
use crate::provider::Provider;
use crate::rules::{Rule, Rules};

/// Default realm in `WWW-Authenticate` challenges.
const DEFAULT_REALM: &str = "edge";
/// Default tolerance for clock differences between issuer and edge.
const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 30;
/// Largest clock tolerance accepted: anything longer extends every token's life noticeably.
const MAX_CLOCK_SKEW_SECONDS: u64 = 300;
/// Default number of verified tokens remembered per worker.
const DEFAULT_CACHE_ENTRIES: usize = 1024;
/// Upper bound on the verified-token cache, to keep memory per worker bounded.
const MAX_CACHE_ENTRIES: usize = 65_536;

/// A configuration problem, with the path of the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: String,
    problem: String,
}

impl ConfigError {
    /// An error about `field` (a path such as `providers[0].issuer`; empty for the whole document).
    pub fn new(field: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            field: field.to_string(),
            problem: problem.into(),
        }
    }

    /// The path of the offending field.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The compiled configuration: everything a request needs, prepared once.
pub struct Policy {
    /// Realm named in `WWW-Authenticate` challenges.
    pub realm: String,
    /// Trusted issuers, looked up by the token's `iss`.
    pub providers: Vec<Provider>,
    /// Where bearer tokens are read from, in order of preference.
    pub token_sources: Vec<TokenSource>,
    /// Route rules, first match wins.
    pub rules: Rules,
    /// Identity headers added for the upstream.
    pub forward: Forward,
    /// Whether CORS preflight requests pass without a credential.
    pub allow_cors_preflight: bool,
    /// How many verified tokens each worker remembers (0 turns the cache off).
    pub token_cache_entries: usize,
}

/// Headers that carry the caller's identity upstream. Client-sent copies are always removed.
#[derive(Debug, Default, Clone)]
pub struct Forward {
    /// Header for the token's `sub`.
    pub subject_header: Option<String>,
    /// Header for the granted scopes, space-separated.
    pub scopes_header: Option<String>,
    /// Header for the name of the provider that issued the token.
    pub provider_header: Option<String>,
    /// Claim name to header name.
    pub claims: Vec<(String, String)>,
}

impl Forward {
    /// Every header name this block writes: the names a client must never set itself.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.subject_header
            .iter()
            .chain(self.scopes_header.iter())
            .chain(self.provider_header.iter())
            .map(String::as_str)
            .chain(self.claims.iter().map(|(_, header)| header.as_str()))
    }
}

// ---- The JSON schema, mirrored exactly ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    realm: Option<String>,
    providers: Vec<RawProvider>,
    #[serde(default)]
    token_headers: Option<Vec<RawTokenHeader>>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    forward: Option<RawForward>,
    #[serde(default)]
    allow_cors_preflight: Option<bool>,
    #[serde(default)]
    token_cache: Option<RawTokenCache>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: String,
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<String>,
    #[serde(default)]
    jwks: Option<JwkSetDocument>,
    #[serde(default)]
    remote_jwks: Option<key_source::RemoteJwksConfig>,
    #[serde(default)]
    discovery: Option<key_source::DiscoveryConfig>,
    #[serde(default)]
    introspection: Option<introspection::IntrospectionConfig>,
    #[serde(default)]
    clock_skew_seconds: Option<u64>,
    #[serde(default)]
    max_lifetime_seconds: Option<u64>,
    #[serde(default)]
    claims: Option<RawClaims>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaims {
    #[serde(default)]
    scopes: Option<String>,
    #[serde(default)]
    apps: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokenHeader {
    name: String,
    #[serde(default)]
    prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    path_prefix: String,
    #[serde(default)]
    methods: Option<Vec<String>>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    public: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForward {
    #[serde(default)]
    subject_header: Option<String>,
    #[serde(default)]
    scopes_header: Option<String>,
    #[serde(default)]
    provider_header: Option<String>,
    #[serde(default)]
    claims: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTokenCache {
    max_entries: usize,
}

impl Policy {
    /// Parses and compiles a plugin configuration (JSON bytes).
    pub fn from_json(bytes: &[u8]) -> Result<Policy, ConfigError> {
        let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let field = err.path().to_string();
            let field = if field == "." || field == "?" {
                String::new()
            } else {
                field
            };
            ConfigError::new(&field, without_position(&err.inner().to_string()))
        })?;
        compile(raw)
    }
}

/// serde_json appends " at line L column C"; the field path already says where.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

fn compile(raw: RawConfig) -> Result<Policy, ConfigError> {
    let realm = raw.realm.unwrap_or_else(|| DEFAULT_REALM.to_string());
    if realm.is_empty()
        || !realm
            .chars()
            .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\')
    {
        return Err(ConfigError::new(
            "realm",
            "must be non-empty printable ASCII without quotes or backslashes",
        ));
    }

    if raw.providers.is_empty() {
        return Err(ConfigError::new(
            "providers",
            "at least one provider is required",
        ));
    }
    let mut providers: Vec<Provider> = Vec::with_capacity(raw.providers.len());
    for (index, provider) in raw.providers.into_iter().enumerate() {
        let field = format!("providers[{index}]");
        let compiled = compile_provider(provider, &field)?;
        if providers.iter().any(|p| p.name == compiled.name) {
            return Err(ConfigError::new(
                &format!("{field}.name"),
                format!("duplicate provider name {:?}", compiled.name),
            ));
        }
        if providers.iter().any(|p| p.issuer == compiled.issuer) {
            return Err(ConfigError::new(
                &format!("{field}.issuer"),
                format!("duplicate issuer {:?}", compiled.issuer),
            ));
        }
        providers.push(compiled);
    }

    let token_sources = match raw.token_headers {
        None => vec![TokenSource::new("authorization", "Bearer ")],
        Some(headers) if headers.is_empty() => {
            return Err(ConfigError::new(
                "token_headers",
                "must name at least one header (omit it for `authorization: Bearer`)",
            ));
        }
        Some(headers) => headers
            .into_iter()
            .enumerate()
            .map(|(index, header)| {
                let name = header_name(&header.name, &format!("token_headers[{index}].name"))?;
                let prefix = header.prefix.unwrap_or_default();
                if prefix.chars().any(|c| c.is_control()) {
                    return Err(ConfigError::new(
                        &format!("token_headers[{index}].prefix"),
                        "must not contain control characters",
                    ));
                }
                Ok(TokenSource::new(&name, &prefix))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    for (index, source) in token_sources.iter().enumerate() {
        if token_sources
            .iter()
            .take(index)
            .any(|earlier| earlier.header() == source.header())
        {
            return Err(ConfigError::new(
                &format!("token_headers[{index}].name"),
                "header listed twice",
            ));
        }
    }

    let rules = raw
        .rules
        .into_iter()
        .enumerate()
        .map(|(index, rule)| compile_rule(rule, &format!("rules[{index}]")))
        .collect::<Result<Vec<_>, _>>()?;

    let forward = compile_forward(raw.forward, &token_sources)?;

    let token_cache_entries = match raw.token_cache {
        None => DEFAULT_CACHE_ENTRIES,
        Some(cache) if cache.max_entries > MAX_CACHE_ENTRIES => {
            return Err(ConfigError::new(
                "token_cache.max_entries",
                format!("at most {MAX_CACHE_ENTRIES}"),
            ));
        }
        Some(cache) => cache.max_entries,
    };

    let introspecting = providers
        .iter()
        .filter(|p| p.introspection.is_some())
        .count();
    if introspecting > 1 {
        return Err(ConfigError::new(
            "providers",
            "at most one provider may use introspection (opaque tokens do not name their issuer)",
        ));
    }
    if introspecting == 1 && token_cache_entries == 0 {
        return Err(ConfigError::new(
            "token_cache.max_entries",
            "introspection answers are kept in the token cache: it cannot be 0",
        ));
    }

    Ok(Policy {
        realm,
        providers,
        token_sources,
        rules: Rules::new(rules),
        forward,
        allow_cors_preflight: raw.allow_cors_preflight.unwrap_or(true),
        token_cache_entries,
    })
}

fn compile_provider(raw: RawProvider, field: &str) -> Result<Provider, ConfigError> {
    if raw.name.trim().is_empty() {
        return Err(ConfigError::new(
            &format!("{field}.name"),
            "must not be empty",
        ));
    }
    if raw.issuer.trim().is_empty() {
        return Err(ConfigError::new(
            &format!("{field}.issuer"),
            "must not be empty",
        ));
    }
    if raw.audiences.is_empty() || raw.audiences.iter().any(|a| a.is_empty()) {
        return Err(ConfigError::new(
            &format!("{field}.audiences"),
            "must list at least one non-empty audience (tokens minted for other APIs must not pass)",
        ));
    }
    if raw.algorithms.is_empty() {
        return Err(ConfigError::new(
            &format!("{field}.algorithms"),
            "must list at least one algorithm",
        ));
    }
    let mut algorithms = Vec::with_capacity(raw.algorithms.len());
    for (index, name) in raw.algorithms.iter().enumerate() {
        let alg_field = format!("{field}.algorithms[{index}]");
        if name.eq_ignore_ascii_case("none") {
            return Err(ConfigError::new(
                &alg_field,
                "\"none\" is never accepted: tokens must be signed",
            ));
        }
        let alg = Algorithm::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            ConfigError::new(
                &alg_field,
                format!("unknown algorithm {name:?} (known: {})", known.join(", ")),
            )
        })?;
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    let clock_skew_seconds = raw.clock_skew_seconds.unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS);
    if clock_skew_seconds > MAX_CLOCK_SKEW_SECONDS {
        return Err(ConfigError::new(
            &format!("{field}.clock_skew_seconds"),
            format!("at most {MAX_CLOCK_SKEW_SECONDS} seconds"),
        ));
    }
    if raw.max_lifetime_seconds == Some(0) {
        return Err(ConfigError::new(
            &format!("{field}.max_lifetime_seconds"),
            "must be positive (omit it for no limit)",
        ));
    }
    let remote = key_source::compile(raw.remote_jwks, raw.discovery, &raw.issuer, field)?;
    let introspection = raw
        .introspection
        .map(|config| introspection::compile(config, &raw.issuer, field))
        .transpose()?;
    let keys = match (raw.jwks, &remote) {
        (Some(jwks), None) => KeySet::from_jwks(&jwks, &algorithms, &format!("{field}.jwks"))?,
        (None, Some(_)) => KeySet::default(),
        // A provider of opaque tokens only: introspection is its only way to check a token.
        (None, None) if introspection.is_some() => KeySet::default(),
        _ => {
            return Err(ConfigError::new(
                field,
                "give exactly one of jwks, remote_jwks or discovery (or only introspection)",
            ))
        }
    };
    let claims = raw.claims.unwrap_or(RawClaims {
        scopes: None,
        apps: None,
    });
    for (name, value) in [("scopes", &claims.scopes), ("apps", &claims.apps)] {
        if value.as_deref() == Some("") {
            return Err(ConfigError::new(
                &format!("{field}.claims.{name}"),
                "must name a claim",
            ));
        }
    }
    Ok(Provider {
        name: raw.name,
        issuer: raw.issuer,
        audiences: raw.audiences,
        algorithms,
        keys,
        remote,
        introspection,
        clock_skew_seconds,
        max_lifetime_seconds: raw.max_lifetime_seconds,
        scope_claims: match claims.scopes {
            Some(name) => vec![name],
            None => vec!["scope".to_string(), "scp".to_string()],
        },
        apps_claim: claims.apps,
    })
}

fn compile_rule(raw: RawRule, field: &str) -> Result<Rule, ConfigError> {
    if !raw.path_prefix.starts_with('/') {
        return Err(ConfigError::new(
            &format!("{field}.path_prefix"),
            "must start with '/'",
        ));
    }
    if raw.path_prefix.contains(['?', '#']) {
        return Err(ConfigError::new(
            &format!("{field}.path_prefix"),
            "must be a path, without query or fragment",
        ));
    }
    let methods = match raw.methods {
        None => None,
        Some(methods) if methods.is_empty() => {
            return Err(ConfigError::new(
                &format!("{field}.methods"),
                "must list at least one method (omit it for all methods)",
            ));
        }
        Some(methods) => Some(
            methods
                .into_iter()
                .enumerate()
                .map(|(index, method)| {
                    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(ConfigError::new(
                            &format!("{field}.methods[{index}]"),
                            format!("{method:?} is not an HTTP method"),
                        ));
                    }
                    Ok(method.to_ascii_uppercase())
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    if raw.public && !raw.scopes.is_empty() {
        return Err(ConfigError::new(
            &format!("{field}.scopes"),
            "a public rule cannot require scopes",
        ));
    }
    for (index, scope) in raw.scopes.iter().enumerate() {
        if scope.is_empty()
            || scope
                .chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c.is_control())
        {
            return Err(ConfigError::new(
                &format!("{field}.scopes[{index}]"),
                format!("{scope:?} is not a valid scope token"),
            ));
        }
    }
    Ok(Rule::new(raw.path_prefix, methods, raw.scopes, raw.public))
}

fn compile_forward(
    raw: Option<RawForward>,
    sources: &[TokenSource],
) -> Result<Forward, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Forward::default());
    };
    let optional = |value: Option<String>, field: &str| {
        value.map(|name| header_name(&name, field)).transpose()
    };
    let forward = Forward {
        subject_header: optional(raw.subject_header, "forward.subject_header")?,
        scopes_header: optional(raw.scopes_header, "forward.scopes_header")?,
        provider_header: optional(raw.provider_header, "forward.provider_header")?,
        claims: raw
            .claims
            .into_iter()
            .map(|(claim, header)| {
                let name = header_name(&header, &format!("forward.claims.{claim}"))?;
                Ok((claim, name))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?,
    };
    let names: Vec<&str> = forward.header_names().collect();
    for (index, name) in names.iter().enumerate() {
        if names.iter().take(index).any(|earlier| earlier == name) {
            return Err(ConfigError::new(
                "forward",
                format!("header {name:?} is used twice"),
            ));
        }
        if sources.iter().any(|source| source.header() == *name) {
            return Err(ConfigError::new(
                "forward",
                format!("header {name:?} is also a token header"),
            ));
        }
    }
    Ok(forward)
}

/// Validates an HTTP header name (RFC 9110 token) and lower-cases it, as Envoy stores names.
fn header_name(name: &str, field: &str) -> Result<String, ConfigError> {
    const SPECIALS: &[u8] = b"!#$%&'*+-.^_`|~";
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
    {
        return Err(ConfigError::new(
            field,
            format!("{name:?} is not a valid HTTP header name"),
        ));
    }
    let lower = name.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "host" | "connection" | "content-length" | "transfer-encoding" | "te" | "upgrade"
    ) {
        return Err(ConfigError::new(
            field,
            format!("{name:?} is reserved by HTTP and cannot be used here"),
        ));
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn hs_key() -> Value {
        json!({"kty": "oct", "kid": "k1", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0"})
    }

    fn valid() -> Value {
        json!({
            "providers": [{
                "name": "idp", "issuer": "https://idp", "audiences": ["api"],
                "algorithms": ["HS256"], "jwks": {"keys": [hs_key()]}
            }]
        })
    }

    fn error_of(config: Value) -> ConfigError {
        match Policy::from_json(config.to_string().as_bytes()) {
            Ok(_) => panic!("configuration was accepted: {config}"),
            Err(err) => err,
        }
    }

    fn with(mut config: Value, pointer: &str, value: Value) -> Value {
        *config.pointer_mut(pointer).unwrap() = value;
        config
    }

    #[test]
    fn minimal_configuration_gets_safe_defaults() {
        let policy = Policy::from_json(valid().to_string().as_bytes()).unwrap();
        assert_eq!(policy.realm, "edge");
        assert_eq!(
            policy.token_sources,
            vec![TokenSource::new("authorization", "Bearer ")]
        );
        assert!(policy.allow_cors_preflight);
        assert_eq!(policy.token_cache_entries, DEFAULT_CACHE_ENTRIES);
        assert_eq!(
            policy.providers[0].clock_skew_seconds,
            DEFAULT_CLOCK_SKEW_SECONDS
        );
        assert_eq!(policy.providers[0].scope_claims, ["scope", "scp"]);
    }

    #[test]
    fn bad_json_is_reported_without_a_field() {
        let err = Policy::from_json(b"{not json").err().unwrap();
        assert_eq!(err.field(), "");
        assert!(err.problem().contains("key must be a string"), "{err}");
    }

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let mut config = valid();
        config["providers"][0]["audience"] = json!("typo");
        let err = error_of(config);
        assert_eq!(err.field(), "providers[0].audience");
        assert!(
            err.problem().starts_with("unknown field `audience`"),
            "{err}"
        );
        let err = error_of(with(
            valid(),
            "/providers/0/jwks",
            json!({"keys": [], "extra": 1}),
        ));
        assert_eq!(err.field(), "providers[0].jwks.extra");
        let mut config = valid();
        config["rulez"] = json!([]);
        assert_eq!(error_of(config).field(), "rulez");
    }

    #[test]
    fn wrong_types_are_named_with_their_path() {
        let err = error_of(with(valid(), "/providers/0/audiences", json!("api")));
        assert_eq!(err.field(), "providers[0].audiences");
        assert!(err.problem().contains("expected a sequence"), "{err}");
    }

    #[test]
    fn empty_issuer_and_missing_audience_are_refused() {
        assert_eq!(
            error_of(with(valid(), "/providers/0/issuer", json!(" "))).to_string(),
            "providers[0].issuer: must not be empty"
        );
        assert_eq!(
            error_of(with(valid(), "/providers/0/audiences", json!([]))).field(),
            "providers[0].audiences"
        );
        assert_eq!(
            error_of(with(valid(), "/providers", json!([]))).field(),
            "providers"
        );
    }

    #[test]
    fn algorithm_none_and_unknown_algorithms_are_refused() {
        let err = error_of(with(
            valid(),
            "/providers/0/algorithms",
            json!(["HS256", "none"]),
        ));
        assert_eq!(err.field(), "providers[0].algorithms[1]");
        assert!(err.problem().contains("never accepted"));
        let err = error_of(with(valid(), "/providers/0/algorithms", json!(["HS257"])));
        assert!(
            err.problem().starts_with("unknown algorithm \"HS257\""),
            "{err}"
        );
    }

    #[test]
    fn bad_keys_are_named_down_to_the_member() {
        let err = error_of(with(valid(), "/providers/0/jwks/keys/0/k", json!("!!!")));
        assert_eq!(
            err.to_string(),
            "providers[0].jwks.keys[0].k: not valid base64url"
        );
    }

    #[test]
    fn duplicate_issuers_and_providers_are_refused() {
        let mut config = valid();
        let second = config["providers"][0].clone();
        config["providers"].as_array_mut().unwrap().push(second);
        assert_eq!(error_of(config.clone()).field(), "providers[1].name");
        config["providers"][1]["name"] = json!("other");
        assert_eq!(error_of(config).field(), "providers[1].issuer");
    }

    #[test]
    fn rules_are_validated() {
        let rule = |r: Value| {
            error_of(with(valid(), "", {
                let mut c = valid();
                c["rules"] = json!([r]);
                c
            }))
        };
        assert_eq!(
            rule(json!({"path_prefix": "devices"})).field(),
            "rules[0].path_prefix"
        );
        assert_eq!(
            rule(json!({"path_prefix": "/a", "public": true, "scopes": ["x"]})).field(),
            "rules[0].scopes"
        );
        assert_eq!(
            rule(json!({"path_prefix": "/a", "methods": []})).field(),
            "rules[0].methods"
        );
        assert_eq!(
            rule(json!({"path_prefix": "/a", "methods": ["GE T"]})).field(),
            "rules[0].methods[0]"
        );
        assert_eq!(
            rule(json!({"path_prefix": "/a", "scopes": ["a b"]})).field(),
            "rules[0].scopes[0]"
        );
    }

    #[test]
    fn header_names_are_validated_and_lower_cased() {
        let mut config = valid();
        config["token_headers"] = json!([{"name": "X-RPZ-Auth", "prefix": "Bearer "}]);
        config["forward"] = json!({"subject_header": "X-Auth-Subject"});
        let policy = Policy::from_json(config.to_string().as_bytes()).unwrap();
        assert_eq!(policy.token_sources[0].header(), "x-rpz-auth");
        assert_eq!(
            policy.forward.subject_header.as_deref(),
            Some("x-auth-subject")
        );

        let mut config = valid();
        config["forward"] = json!({"claims": {"email": "bad header"}});
        assert_eq!(error_of(config).field(), "forward.claims.email");
        let mut config = valid();
        config["forward"] = json!({"subject_header": "authorization"});
        assert!(error_of(config).problem().contains("also a token header"));
        let mut config = valid();
        config["token_headers"] = json!([]);
        assert_eq!(error_of(config).field(), "token_headers");
    }

    #[test]
    fn limits_are_enforced() {
        let mut config = valid();
        config["providers"][0]["clock_skew_seconds"] = json!(3600);
        assert_eq!(error_of(config).field(), "providers[0].clock_skew_seconds");
        let mut config = valid();
        config["token_cache"] = json!({"max_entries": 10_000_000});
        assert_eq!(error_of(config).field(), "token_cache.max_entries");
        let mut config = valid();
        config["realm"] = json!("a\"b");
        assert_eq!(error_of(config).field(), "realm");
    }
}
