//! Plugin configuration: the JSON schema users write, parsed strictly and compiled once into
//! the [`Policy`] the request path reads.
//!
//! Parsing rejects unknown fields everywhere; compiling validates meaning (non-empty issuer,
//! known algorithms, sound keys, valid header names). Every error names the field it is about,
//! as a path like `providers[0].jwks.keys[1].n`, so that a one-line log tells the operator
//! exactly what to fix. There is no partial success: a configuration compiles whole or not at all.
//!
//! The compile steps are `#[inline(never)]`: inlined, LLVM made one 21 KB `compile` of them, and
//! V8's TurboFan, which compiles every function when the module loads, needs memory that grows
//! faster than a function's size (Envoy kept 1.6-4.9 MiB more: docs/performance.md, Memory).
//! They run once per configuration, so the calls cost nothing that matters. For the same reason
//! the largest readers fill a default value field by field and `compile` takes fields out of
//! its `RawConfig`: an error then drops one value, not every field read so far.

mod abuse;
mod claims;
mod fleet;
mod introspect;
mod sender;
mod templates;

use crate::clients::{parse_digest_hex, Client, ClientRegistry};
pub use crate::error::ConfigError;
use crate::fleet::FleetSettings;
use crate::identity::{Forward, ForwardedClaim};
use crate::issuer::{introspection, remote_keys, revocation, Endpoints};
use crate::json::{Document, Fields, FromJson, Members, Node};
use crate::jwt::algorithm::{Algorithm, KeyFamily};
use crate::jwt::jwks::{JwkSetDocument, KeySet};
use crate::jwt::provider::Provider;
use crate::policy::abuse::AbuseLimits;
use crate::policy::rules::{PathMatch, Route, Rule, Rules};
use crate::policy::sender::resource_metadata::ResourceMetadata;
use crate::policy::sender::{CertificateSource, SenderSettings};
use crate::policy::Policy;
use crate::request::allowlist::{Cidr, OriginPattern};
use crate::request::credential::{CredentialKind, CredentialSources, TokenSource};
use crate::request::path::{canonical, LetterCase, PathOptions};
use crate::request::transport::TlsVersion;
use claims::ClaimTable;

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
/// Most proxy hops `trusted_hops` may name.
const MAX_TRUSTED_HOPS: usize = 10;

// ---- The JSON schema, mirrored exactly ----

#[derive(Default)]
struct RawConfig {
    realm: Option<String>,
    providers: Vec<RawProvider>,
    token_headers: Option<Vec<RawTokenHeader>>,
    rules: Vec<RawRule>,
    forward: Option<RawForward>,
    allow_cors_preflight: Option<bool>,
    paths: Option<RawPaths>,
    token_cache: Option<RawTokenCache>,
    api_keys: Option<RawApiKeys>,
    query_token: Option<RawQueryToken>,
    cookie_token: Option<RawCookieToken>,
    app_header: Option<String>,
    trusted_hops: Option<usize>,
    min_tls_version: Option<String>,
    dpop: Option<sender::RawDpop>,
    mtls: Option<sender::RawMtls>,
    resource_metadata: Option<sender::RawResourceMetadata>,
    mode: Option<String>,
    access_log_fields: Option<bool>,
    abuse: Option<abuse::RawAbuse>,
    fleet: Option<fleet::RawFleet>,
}

impl FromJson for RawConfig {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "realm",
                "providers",
                "token_headers",
                "rules",
                "forward",
                "allow_cors_preflight",
                "paths",
                "token_cache",
                "api_keys",
                "query_token",
                "cookie_token",
                "app_header",
                "trusted_hops",
                "min_tls_version",
                "dpop",
                "mtls",
                "resource_metadata",
                "mode",
                "access_log_fields",
                "abuse",
                "fleet",
            ],
        )?;
        let mut raw = RawConfig::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl RawConfig {
    /// Reads the fields in place: after an error the caller drops `raw` in one place,
    /// where a struct literal makes LLVM drop each field read so far after every `?`.
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.realm = fields.optional("realm")?;
        self.providers = fields.or_default("providers")?;
        self.token_headers = fields.optional("token_headers")?;
        self.rules = fields.or_default("rules")?;
        self.forward = fields.optional("forward")?;
        self.allow_cors_preflight = fields.optional("allow_cors_preflight")?;
        self.paths = fields.optional("paths")?;
        self.token_cache = fields.optional("token_cache")?;
        self.api_keys = fields.optional("api_keys")?;
        self.query_token = fields.optional("query_token")?;
        self.cookie_token = fields.optional("cookie_token")?;
        self.app_header = fields.optional("app_header")?;
        self.trusted_hops = fields.optional("trusted_hops")?;
        self.min_tls_version = fields.optional("min_tls_version")?;
        self.dpop = fields.optional("dpop")?;
        self.mtls = fields.optional("mtls")?;
        self.resource_metadata = fields.optional("resource_metadata")?;
        self.mode = fields.optional("mode")?;
        self.access_log_fields = fields.optional("access_log_fields")?;
        self.abuse = fields.optional("abuse")?;
        self.fleet = fields.optional("fleet")?;
        Ok(())
    }
}

/// The `paths` block: what to do with spellings some upstreams decode and others keep.
struct RawPaths {
    encoded_delimiters: Option<String>,
    parameters: Option<String>,
    letter_case: Option<String>,
}

impl FromJson for RawPaths {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["encoded_delimiters", "parameters", "letter_case"])?;
        Ok(RawPaths {
            encoded_delimiters: fields.optional("encoded_delimiters")?,
            parameters: fields.optional("parameters")?,
            letter_case: fields.optional("letter_case")?,
        })
    }
}

struct RawApiKeys {
    id_header: Option<String>,
    secret_header: Option<String>,
    basic: Option<bool>,
    clients: Vec<RawClient>,
}

impl FromJson for RawApiKeys {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["id_header", "secret_header", "basic", "clients"])?;
        Ok(RawApiKeys {
            id_header: fields.optional("id_header")?,
            secret_header: fields.optional("secret_header")?,
            basic: fields.optional("basic")?,
            clients: fields.required("clients")?,
        })
    }
}

#[derive(Default)]
struct RawClient {
    id: String,
    secret_sha256: String,
    apps: Vec<String>,
    scopes: Vec<String>,
    allowed_cidrs: Vec<String>,
    allowed_origins: Vec<String>,
}

impl FromJson for RawClient {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "id",
                "secret_sha256",
                "apps",
                "scopes",
                "allowed_cidrs",
                "allowed_origins",
            ],
        )?;
        let mut raw = RawClient::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl RawClient {
    /// Reads the fields in place, as `config::RawConfig::read` does: after an error the
    /// caller drops the whole in one place, not each field read so far after every `?`.
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.id = fields.required("id")?;
        self.secret_sha256 = fields.required("secret_sha256")?;
        self.apps = fields.or_default("apps")?;
        self.scopes = fields.or_default("scopes")?;
        self.allowed_cidrs = fields.or_default("allowed_cidrs")?;
        self.allowed_origins = fields.or_default("allowed_origins")?;
        Ok(())
    }
}

struct RawQueryToken {
    param: String,
}

impl FromJson for RawQueryToken {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["param"])?;
        Ok(RawQueryToken {
            param: fields.required("param")?,
        })
    }
}

struct RawCookieToken {
    name: String,
}

impl FromJson for RawCookieToken {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["name"])?;
        Ok(RawCookieToken {
            name: fields.required("name")?,
        })
    }
}

#[derive(Default)]
struct RawProvider {
    name: String,
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<String>,
    jwks: Option<JwkSetDocument>,
    remote_jwks: Option<remote_keys::RemoteJwksConfig>,
    discovery: Option<remote_keys::DiscoveryConfig>,
    introspection: Option<introspection::IntrospectionConfig>,
    revocation: Option<revocation::RevocationConfig>,
    clock_skew_seconds: Option<u64>,
    max_lifetime_seconds: Option<u64>,
    claims: Option<RawClaims>,
    allowed_cidrs: Vec<String>,
    allowed_origins: Vec<String>,
    sender_constraint: Option<String>,
    require_access_token_type: bool,
    claim_conditions: Vec<claims::RawCondition>,
}

impl FromJson for RawProvider {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "name",
                "issuer",
                "audiences",
                "algorithms",
                "jwks",
                "remote_jwks",
                "discovery",
                "introspection",
                "revocation",
                "clock_skew_seconds",
                "max_lifetime_seconds",
                "claims",
                "allowed_cidrs",
                "allowed_origins",
                "sender_constraint",
                "require_access_token_type",
                "claim_conditions",
            ],
        )?;
        let mut raw = RawProvider::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl RawProvider {
    /// Reads the fields in place: after an error the caller drops `raw` in one place,
    /// where a struct literal makes LLVM drop each field read so far after every `?`.
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.name = fields.required("name")?;
        self.issuer = fields.required("issuer")?;
        self.audiences = fields.required("audiences")?;
        self.algorithms = fields.required("algorithms")?;
        self.jwks = fields.optional("jwks")?;
        self.remote_jwks = fields.optional("remote_jwks")?;
        self.discovery = fields.optional("discovery")?;
        self.introspection = fields.optional("introspection")?;
        self.revocation = fields.optional("revocation")?;
        self.clock_skew_seconds = fields.optional("clock_skew_seconds")?;
        self.max_lifetime_seconds = fields.optional("max_lifetime_seconds")?;
        self.claims = fields.optional("claims")?;
        self.allowed_cidrs = fields.or_default("allowed_cidrs")?;
        self.allowed_origins = fields.or_default("allowed_origins")?;
        self.sender_constraint = fields.optional("sender_constraint")?;
        self.require_access_token_type = fields.or_default("require_access_token_type")?;
        self.claim_conditions = fields.or_default("claim_conditions")?;
        Ok(())
    }
}

struct RawClaims {
    scopes: Option<String>,
    apps: Option<String>,
    allowed_cidrs: Option<String>,
}

impl FromJson for RawClaims {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["scopes", "apps", "allowed_cidrs"])?;
        Ok(RawClaims {
            scopes: fields.optional("scopes")?,
            apps: fields.optional("apps")?,
            allowed_cidrs: fields.optional("allowed_cidrs")?,
        })
    }
}

struct RawTokenHeader {
    name: String,
    prefix: Option<String>,
}

impl FromJson for RawTokenHeader {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["name", "prefix"])?;
        Ok(RawTokenHeader {
            name: fields.required("name")?,
            prefix: fields.optional("prefix")?,
        })
    }
}

#[derive(Default)]
struct RawRule {
    path_prefix: Option<String>,
    path_template: Option<String>,
    bind: Option<Members<templates::RawBinding>>,
    methods: Option<Vec<String>>,
    scopes: Vec<String>,
    public: bool,
    accept: Option<Vec<String>>,
    require_app: bool,
    sender_constraint: Option<String>,
    mode: Option<String>,
    providers: Option<Vec<String>>,
    audiences: Option<Vec<String>>,
    claim_conditions: Option<Vec<claims::RawCondition>>,
    clients_skip_claim_conditions: bool,
    introspect: Option<introspect::RawIntrospect>,
}

impl FromJson for RawRule {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "path_prefix",
                "path_template",
                "bind",
                "methods",
                "scopes",
                "public",
                "accept",
                "require_app",
                "sender_constraint",
                "mode",
                "providers",
                "audiences",
                "claim_conditions",
                "clients_skip_claim_conditions",
                "introspect",
            ],
        )?;
        let mut raw = RawRule::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl RawRule {
    /// Reads the fields in place (as [`RawConfig::read`]).
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.path_prefix = fields.optional("path_prefix")?;
        self.path_template = fields.optional("path_template")?;
        self.bind = fields.optional("bind")?;
        self.methods = fields.optional("methods")?;
        self.scopes = fields.or_default("scopes")?;
        self.public = fields.or_default("public")?;
        self.accept = fields.optional("accept")?;
        self.require_app = fields.or_default("require_app")?;
        self.sender_constraint = fields.optional("sender_constraint")?;
        self.mode = fields.optional("mode")?;
        self.providers = fields.optional("providers")?;
        self.audiences = fields.optional("audiences")?;
        self.claim_conditions = fields.optional("claim_conditions")?;
        self.clients_skip_claim_conditions = fields.or_default("clients_skip_claim_conditions")?;
        self.introspect = fields.optional("introspect")?;
        Ok(())
    }
}

#[derive(Default)]
struct RawForward {
    subject_header: Option<String>,
    scopes_header: Option<String>,
    provider_header: Option<String>,
    client_header: Option<String>,
    credential_header: Option<String>,
    application_header: Option<String>,
    confirmation_header: Option<String>,
    claims: Members<String>,
}

impl FromJson for RawForward {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "subject_header",
                "scopes_header",
                "provider_header",
                "client_header",
                "credential_header",
                "application_header",
                "confirmation_header",
                "claims",
            ],
        )?;
        let mut raw = RawForward::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl RawForward {
    /// Reads the fields in place (as [`RawConfig::read`]).
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.subject_header = fields.optional("subject_header")?;
        self.scopes_header = fields.optional("scopes_header")?;
        self.provider_header = fields.optional("provider_header")?;
        self.client_header = fields.optional("client_header")?;
        self.credential_header = fields.optional("credential_header")?;
        self.application_header = fields.optional("application_header")?;
        self.confirmation_header = fields.optional("confirmation_header")?;
        self.claims = fields.or_default("claims")?;
        Ok(())
    }
}

struct RawTokenCache {
    max_entries: usize,
}

impl FromJson for RawTokenCache {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["max_entries"])?;
        Ok(RawTokenCache {
            max_entries: fields.required("max_entries")?,
        })
    }
}

impl Policy {
    /// Parses and compiles a plugin configuration (JSON bytes).
    pub fn from_json(bytes: &[u8]) -> Result<Policy, ConfigError> {
        compile(crate::json::read::<RawConfig>(bytes)?)
    }
}

#[inline(never)]
fn compile(raw: RawConfig) -> Result<Policy, ConfigError> {
    // Fields are taken out of `raw`, not moved: an error then drops one `RawConfig`, not each
    // field left (the drops after every `?` made most of this function's code).
    let mut raw = raw;
    let realm = compile_realm(raw.realm.take())?;
    check_credentials_configured(&raw)?;
    let sender_settings = sender::compile_sender(raw.dpop.take(), raw.mtls.take())?;
    let mut claim_table = ClaimTable::default();
    let (mut providers, endpoints) = compile_providers(
        std::mem::take(&mut raw.providers),
        &sender_settings,
        &mut claim_table,
    )?;
    let (credentials, clients) =
        compile_credentials(&mut raw, !providers.is_empty(), &sender_settings)?;
    let app_header = raw
        .app_header
        .take()
        .map(|name| header_name(&name, "app_header"))
        .transpose()?;
    let report = report_mode(raw.mode.as_deref(), "mode")?.unwrap_or(false);
    let paths = compile_paths(raw.paths.take())?;
    let context = RuleContext {
        credentials: &credentials,
        has_app_header: app_header.is_some(),
        sender_settings: &sender_settings,
        global_report: report,
        paths,
        providers: &providers,
        endpoints: &endpoints,
    };
    let rules = compile_rules(std::mem::take(&mut raw.rules), &context, &mut claim_table)?;
    claim_table.share(&mut providers);
    let forward = compile_forward(raw.forward.take(), &credentials, app_header.as_deref())?;
    let limits = compile_limits(&mut raw, &endpoints, &sender_settings)?;
    let policy = Policy {
        uses_peer_certificate: uses_peer_certificate(&sender_settings),
        sender: sender_settings,
        resource_metadata: None,
        uses_source_address: uses_source_address(&clients, &providers),
        report,
        access_log_fields: raw.access_log_fields.unwrap_or(false),
        realm,
        providers,
        endpoints,
        credentials,
        clients,
        app_header,
        trusted_hops: limits.trusted_hops,
        min_tls_version: limits.min_tls_version,
        rules,
        forward,
        allow_cors_preflight: raw.allow_cors_preflight.unwrap_or(true),
        paths,
        token_cache_entries: limits.token_cache_entries,
        abuse: limits.abuse,
        fleet: limits.fleet,
    };
    with_resource_metadata(policy, raw.resource_metadata.take())
}

/// The bounds of the request path and the fleet it shares state with.
struct Limits {
    token_cache_entries: usize,
    trusted_hops: usize,
    min_tls_version: Option<TlsVersion>,
    abuse: AbuseLimits,
    fleet: Option<FleetSettings>,
}

/// `token_cache`, `trusted_hops`, `min_tls_version`, `abuse` and `fleet`.
#[inline(never)]
fn compile_limits(
    raw: &mut RawConfig,
    endpoints: &[Endpoints],
    sender_settings: &SenderSettings,
) -> Result<Limits, ConfigError> {
    let token_cache_entries = compile_cache_entries(raw.token_cache.take())?;
    let trusted_hops = compile_trusted_hops(raw.trusted_hops)?;
    let min_tls_version = raw
        .min_tls_version
        .take()
        .map(compile_min_tls)
        .transpose()?;
    check_introspection(endpoints, token_cache_entries)?;
    let abuse = abuse::compile_abuse(raw.abuse.take())?;
    let fleet = fleet::compile_fleet(
        raw.fleet.take(),
        sender_settings.dpop.is_some(),
        abuse.lockout.is_some(),
    )?;
    Ok(Limits {
        token_cache_entries,
        trusted_hops,
        min_tls_version,
        abuse,
        fleet,
    })
}

/// Where callers' credentials are read (token headers, query parameter, cookie, API key
/// headers, Basic) and the API clients.
#[inline(never)]
fn compile_credentials(
    raw: &mut RawConfig,
    jwt_enabled: bool,
    sender_settings: &SenderSettings,
) -> Result<(CredentialSources, ClientRegistry), ConfigError> {
    let token_sources =
        compile_token_headers(raw.token_headers.take(), jwt_enabled, sender_settings)?;
    let query_param = raw
        .query_token
        .take()
        .map(compile_query_param)
        .transpose()?;
    let cookie_name = raw
        .cookie_token
        .take()
        .map(compile_cookie_name)
        .transpose()?;
    let (api_key_headers, basic, clients) = match raw.api_keys.take() {
        None => (None, false, ClientRegistry::default()),
        Some(api_keys) => compile_api_keys(api_keys, &token_sources)?,
    };
    let credentials = CredentialSources {
        token_headers: token_sources,
        query_param,
        cookie_name,
        api_key_headers,
        basic,
    };
    Ok((credentials, clients))
}

/// Whether a check reads the caller's address: a network list of a client or a provider.
fn uses_source_address(clients: &ClientRegistry, providers: &[Provider]) -> bool {
    clients.any_network_list()
        || providers
            .iter()
            .any(|p| !p.allowed_cidrs.is_empty() || p.cidrs_claim.is_some())
}

/// Whether mTLS binding reads the certificate of the connection (not a forwarded header).
fn uses_peer_certificate(sender_settings: &SenderSettings) -> bool {
    sender_settings
        .mtls
        .is_some_and(|mtls| mtls.certificate_source == CertificateSource::Connection)
}

/// `resource_metadata`, described from the compiled policy (RFC 9728).
#[inline(never)]
fn with_resource_metadata(
    mut policy: Policy,
    raw: Option<sender::RawResourceMetadata>,
) -> Result<Policy, ConfigError> {
    if let Some(metadata) = raw {
        policy.resource_metadata = Some(ResourceMetadata::for_policy(
            &policy,
            &metadata.resource,
            metadata.documentation.as_deref(),
            "resource_metadata",
        )?);
    }
    Ok(policy)
}

/// `realm`: printable ASCII without quotes or backslashes (it is quoted in challenges).
#[inline(never)]
fn compile_realm(realm: Option<String>) -> Result<String, ConfigError> {
    let realm = realm.unwrap_or_else(|| DEFAULT_REALM.to_string());
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
    Ok(realm)
}

/// Some credential can be verified: a provider or API keys; token sources need a provider.
#[inline(never)]
fn check_credentials_configured(raw: &RawConfig) -> Result<(), ConfigError> {
    let providers = &raw.providers;
    if providers.is_empty() && raw.api_keys.is_none() {
        return Err(ConfigError::new(
            "providers",
            "configure at least one provider, or api_keys",
        ));
    }
    if providers.is_empty() {
        for (name, set) in [
            ("token_headers", raw.token_headers.is_some()),
            ("query_token", raw.query_token.is_some()),
            ("cookie_token", raw.cookie_token.is_some()),
        ] {
            if set {
                return Err(ConfigError::new(
                    name,
                    "tokens need at least one provider to verify them",
                ));
            }
        }
    }
    Ok(())
}

/// `providers[]`: each compiled, names and issuers unique.
#[inline(never)]
fn compile_providers(
    raw: Vec<RawProvider>,
    sender_settings: &SenderSettings,
    claim_table: &mut ClaimTable,
) -> Result<(Vec<Provider>, Vec<Endpoints>), ConfigError> {
    let mut providers: Vec<Provider> = Vec::with_capacity(raw.len());
    let mut endpoints: Vec<Endpoints> = Vec::with_capacity(raw.len());
    for (index, provider) in raw.into_iter().enumerate() {
        let field = format!("providers[{index}]");
        let (compiled, fetched) = compile_provider(provider, &field, sender_settings, claim_table)?;
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
        endpoints.push(fetched);
    }
    Ok((providers, endpoints))
}

/// `token_headers[]` (default `authorization: Bearer` when tokens are on), each header once;
/// `Authorization: DPoP <token>` is read wherever DPoP is configured.
#[inline(never)]
fn compile_token_headers(
    raw: Option<Vec<RawTokenHeader>>,
    jwt_enabled: bool,
    sender_settings: &SenderSettings,
) -> Result<Vec<TokenSource>, ConfigError> {
    let mut token_sources = match raw {
        None if !jwt_enabled => Vec::new(),
        None => vec![TokenSource::new("authorization", "Bearer ")],
        Some(headers) if headers.is_empty() => {
            return Err(ConfigError::new(
                "token_headers",
                "must name at least one header (omit it for `authorization: Bearer`)",
            ));
        }
        Some(headers) => {
            let mut sources = Vec::with_capacity(headers.len());
            for (index, header) in headers.into_iter().enumerate() {
                sources.push(compile_token_header(index, header)?);
            }
            sources
        }
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
    if sender_settings.dpop.is_some() && jwt_enabled {
        token_sources.push(TokenSource::new("authorization", "DPoP "));
    }
    Ok(token_sources)
}

/// `token_headers[index]`.
#[inline(never)]
fn compile_token_header(index: usize, header: RawTokenHeader) -> Result<TokenSource, ConfigError> {
    let name = header_name(&header.name, &format!("token_headers[{index}].name"))?;
    let prefix = header.prefix.unwrap_or_default();
    if prefix.chars().any(|c| c.is_control()) {
        return Err(ConfigError::new(
            &format!("token_headers[{index}].prefix"),
            "must not contain control characters",
        ));
    }
    Ok(TokenSource::new(&name, &prefix))
}

/// `query_token.param`: a plain parameter name.
#[inline(never)]
fn compile_query_param(query: RawQueryToken) -> Result<String, ConfigError> {
    let valid = !query.param.is_empty()
        && query
            .param
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b));
    if valid {
        Ok(query.param)
    } else {
        Err(ConfigError::new(
            "query_token.param",
            "must be a plain parameter name (letters, digits, - _ . ~)",
        ))
    }
}

/// `cookie_token.name`: a cookie name, an RFC 6265 token (RFC 9110 tchars).
#[inline(never)]
fn compile_cookie_name(cookie: RawCookieToken) -> Result<String, ConfigError> {
    const SPECIALS: &[u8] = b"!#$%&'*+-.^_`|~";
    let valid = !cookie.name.is_empty()
        && cookie
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b));
    if valid {
        Ok(cookie.name)
    } else {
        Err(ConfigError::new(
            "cookie_token.name",
            "must be a cookie name (letters, digits, ! # $ % & ' * + - . ^ _ ` | ~)",
        ))
    }
}

/// `rules[]`, in order, and the default route (any configured credential kind, no scope, the
/// token's provider's claim conditions).
#[inline(never)]
fn compile_rules(
    raw: Vec<RawRule>,
    context: &RuleContext,
    claim_table: &mut ClaimTable,
) -> Result<Rules, ConfigError> {
    let mut rules = Vec::with_capacity(raw.len());
    for (index, rule) in raw.into_iter().enumerate() {
        rules.push(compile_rule(
            rule,
            &format!("rules[{index}]"),
            context,
            claim_table,
        )?);
    }
    let default_route = Route {
        accept: CredentialKind::ALL
            .into_iter()
            .filter(|kind| context.credentials.offers(*kind))
            .collect(),
        report: context.global_report,
        ..Route::default()
    };
    Ok(Rules::new(rules, default_route))
}

/// `token_cache.max_entries`.
#[inline(never)]
fn compile_cache_entries(raw: Option<RawTokenCache>) -> Result<usize, ConfigError> {
    match raw {
        None => Ok(DEFAULT_CACHE_ENTRIES),
        Some(cache) if cache.max_entries > MAX_CACHE_ENTRIES => Err(ConfigError::new(
            "token_cache.max_entries",
            format!("at most {MAX_CACHE_ENTRIES}"),
        )),
        Some(cache) => Ok(cache.max_entries),
    }
}

/// `trusted_hops`.
#[inline(never)]
fn compile_trusted_hops(raw: Option<usize>) -> Result<usize, ConfigError> {
    let trusted_hops = raw.unwrap_or(0);
    if trusted_hops > MAX_TRUSTED_HOPS {
        return Err(ConfigError::new(
            "trusted_hops",
            format!("at most {MAX_TRUSTED_HOPS}"),
        ));
    }
    Ok(trusted_hops)
}

/// `min_tls_version`.
#[inline(never)]
fn compile_min_tls(name: String) -> Result<TlsVersion, ConfigError> {
    TlsVersion::parse(&name).ok_or_else(|| {
        ConfigError::new(
            "min_tls_version",
            format!("{name:?} is not one of TLSv1.0, TLSv1.1, TLSv1.2, TLSv1.3"),
        )
    })
}

/// At most one provider introspects (opaque tokens do not name their issuer), and its answers
/// need the token cache.
#[inline(never)]
fn check_introspection(endpoints: &[Endpoints], cache_entries: usize) -> Result<(), ConfigError> {
    let introspecting = endpoints
        .iter()
        .filter(|e| e.introspection.is_some())
        .count();
    if introspecting > 1 {
        return Err(ConfigError::new(
            "providers",
            "at most one provider may use introspection (opaque tokens do not name their issuer)",
        ));
    }
    if introspecting == 1 && cache_entries == 0 {
        return Err(ConfigError::new(
            "token_cache.max_entries",
            "introspection answers are kept in the token cache: it cannot be 0",
        ));
    }
    Ok(())
}

/// The `paths` block; both spellings are refused unless the block keeps them, and a path whose
/// rule depends on letter case unless the block says how the upstream compares letters.
#[inline(never)]
fn compile_paths(raw: Option<RawPaths>) -> Result<PathOptions, ConfigError> {
    let keep = |value: Option<String>, field: &str| match value.as_deref() {
        None | Some("reject") => Ok(false),
        Some("keep") => Ok(true),
        Some(other) => Err(ConfigError::new(
            field,
            format!("{other:?} is not \"reject\" or \"keep\""),
        )),
    };
    let Some(raw) = raw else {
        return Ok(PathOptions::default());
    };
    let letter_case = match raw.letter_case.as_deref() {
        None | Some("reject") => LetterCase::Reject,
        Some("sensitive") => LetterCase::Sensitive,
        Some("insensitive") => LetterCase::Insensitive,
        Some(other) => {
            return Err(ConfigError::new(
                "paths.letter_case",
                format!("{other:?} is not \"reject\", \"sensitive\" or \"insensitive\""),
            ))
        }
    };
    Ok(PathOptions {
        keep_encoded_delimiters: keep(raw.encoded_delimiters, "paths.encoded_delimiters")?,
        keep_parameters: keep(raw.parameters, "paths.parameters")?,
        letter_case,
    })
}

type ApiKeySetup = (Option<(String, String)>, bool, ClientRegistry);

#[inline(never)]
fn compile_api_keys(
    raw: RawApiKeys,
    token_sources: &[TokenSource],
) -> Result<ApiKeySetup, ConfigError> {
    let headers = match (raw.id_header, raw.secret_header) {
        (None, None) => None,
        (Some(id), Some(secret)) => {
            let id = header_name(&id, "api_keys.id_header")?;
            let secret = header_name(&secret, "api_keys.secret_header")?;
            if id == secret {
                return Err(ConfigError::new(
                    "api_keys.secret_header",
                    "must differ from id_header",
                ));
            }
            for (name, field) in [
                (&id, "api_keys.id_header"),
                (&secret, "api_keys.secret_header"),
            ] {
                if token_sources.iter().any(|source| source.header() == name)
                    || name == "authorization"
                {
                    return Err(ConfigError::new(
                        field,
                        format!("{name:?} is already a token or Basic header"),
                    ));
                }
            }
            Some((id, secret))
        }
        (Some(_), None) => {
            return Err(ConfigError::new(
                "api_keys.secret_header",
                "missing: a key pair needs both headers",
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "api_keys.id_header",
                "missing: a key pair needs both headers",
            ))
        }
    };
    let basic = raw.basic.unwrap_or(false);
    if headers.is_none() && !basic {
        return Err(ConfigError::new(
            "api_keys",
            "set id_header and secret_header, or basic: true, or both",
        ));
    }
    if raw.clients.is_empty() {
        return Err(ConfigError::new(
            "api_keys.clients",
            "at least one client is required",
        ));
    }
    let mut registry = ClientRegistry::default();
    for (index, raw_client) in raw.clients.into_iter().enumerate() {
        let field = format!("api_keys.clients[{index}]");
        let id = raw_client.id;
        if id.is_empty() || id.contains(':') || id.chars().any(|c| c.is_control() || c == ',') {
            return Err(ConfigError::new(
                &format!("{field}.id"),
                "must be non-empty, without ':' ',' or control characters",
            ));
        }
        let digest = parse_digest_hex(&raw_client.secret_sha256).ok_or_else(|| {
            ConfigError::new(
                &format!("{field}.secret_sha256"),
                "must be the 64-hex-digit SHA-256 of the secret (edge-auth hash-secret prints it); never the secret itself",
            )
        })?;
        let mut client = Client::new(id, digest);
        client.scopes = scope_list(raw_client.scopes, &format!("{field}.scopes"))?;
        client.apps = raw_client.apps;
        client.allowed_cidrs =
            cidr_list(&raw_client.allowed_cidrs, &format!("{field}.allowed_cidrs"))?;
        client.allowed_origins = origin_list(
            &raw_client.allowed_origins,
            &format!("{field}.allowed_origins"),
        )?;
        if !registry.insert(client) {
            return Err(ConfigError::new(
                &format!("{field}.id"),
                "duplicate client id",
            ));
        }
    }
    Ok((headers, basic, registry))
}

#[inline(never)]
fn scope_list(scopes: Vec<String>, field: &str) -> Result<Vec<String>, ConfigError> {
    for (index, scope) in scopes.iter().enumerate() {
        if scope.is_empty()
            || scope
                .chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c.is_control())
        {
            return Err(ConfigError::new(
                &format!("{field}[{index}]"),
                format!("{scope:?} is not a valid scope token"),
            ));
        }
    }
    Ok(scopes)
}

fn cidr_list(list: &[String], field: &str) -> Result<Vec<Cidr>, ConfigError> {
    parsed_list(list, field, Cidr::parse)
}

fn origin_list(list: &[String], field: &str) -> Result<Vec<OriginPattern>, ConfigError> {
    parsed_list(list, field, OriginPattern::parse)
}

/// Each entry of a list of strings parsed by `parse`; the first refused names `field[index]`.
#[inline(never)]
fn parsed_list<T>(
    list: &[String],
    field: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    let mut parsed = Vec::with_capacity(list.len());
    for (index, text) in list.iter().enumerate() {
        match parse(text) {
            Ok(entry) => parsed.push(entry),
            Err(problem) => return Err(ConfigError::new(&format!("{field}[{index}]"), problem)),
        }
    }
    Ok(parsed)
}

/// `providers[i].algorithms`: known, signed algorithms, each once.
#[inline(never)]
fn compile_algorithms(names: &[String], field: &str) -> Result<Vec<Algorithm>, ConfigError> {
    let mut algorithms = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
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
    Ok(algorithms)
}

/// A JWK Set is public: an HMAC secret in one is a secret anyone can sign with, so a provider
/// whose keys are fetched lists no HMAC algorithm.
#[inline(never)]
fn refuse_fetched_secrets(names: &[String], field: &str) -> Result<(), ConfigError> {
    if let Some(index) = names.iter().position(|name| {
        Algorithm::from_name(name).is_some_and(|alg| alg.key_family() == KeyFamily::Secret)
    }) {
        return Err(ConfigError::new(
            &format!("{field}.algorithms[{index}]"),
            "HMAC algorithms need a shared secret, which is never fetched: keys from remote_jwks or discovery are public (RFC 8725 section 3.2); give the secret inline in jwks, or use an asymmetric algorithm",
        ));
    }
    Ok(())
}

/// `providers[i].claims`: each given name non-empty.
#[inline(never)]
fn compile_claims(raw: Option<RawClaims>, field: &str) -> Result<RawClaims, ConfigError> {
    let claims = raw.unwrap_or(RawClaims {
        scopes: None,
        apps: None,
        allowed_cidrs: None,
    });
    for (name, value) in [
        ("scopes", &claims.scopes),
        ("apps", &claims.apps),
        ("allowed_cidrs", &claims.allowed_cidrs),
    ] {
        if value.as_deref() == Some("") {
            return Err(ConfigError::new(
                &format!("{field}.claims.{name}"),
                "must name a claim",
            ));
        }
    }
    Ok(claims)
}

#[inline(never)]
fn compile_provider(
    raw: RawProvider,
    field: &str,
    sender_settings: &SenderSettings,
    claim_table: &mut ClaimTable,
) -> Result<(Provider, Endpoints), ConfigError> {
    check_provider_identity(&raw, field)?;
    let algorithms = compile_algorithms(&raw.algorithms, field)?;
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
    let endpoints = compile_endpoints(
        raw.remote_jwks,
        raw.discovery,
        raw.introspection,
        raw.revocation,
        &raw.issuer,
        field,
    )?;
    let (remote, introspection) = (&endpoints.remote, &endpoints.introspection);
    let keys = match (raw.jwks, remote) {
        (Some(jwks), None) => {
            KeySet::from_jwks(&jwks, &algorithms, &format!("{field}.jwks"))?.with_tables()
        }
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
    if remote.is_some() {
        refuse_fetched_secrets(&raw.algorithms, field)?;
    }
    let claims = compile_claims(raw.claims, field)?;
    let provider = Provider {
        name: raw.name,
        issuer: raw.issuer,
        audiences: raw.audiences,
        algorithms,
        keys,
        clock_skew_seconds,
        max_lifetime_seconds: raw.max_lifetime_seconds,
        scope_claims: match claims.scopes {
            Some(name) => vec![name],
            None => vec!["scope".to_string(), "scp".to_string()],
        },
        apps_claim: claims.apps,
        cidrs_claim: claims.allowed_cidrs,
        allowed_cidrs: cidr_list(&raw.allowed_cidrs, &format!("{field}.allowed_cidrs"))?,
        allowed_origins: origin_list(&raw.allowed_origins, &format!("{field}.allowed_origins"))?,
        require_access_token_type: raw.require_access_token_type,
        sender_constraint: sender::sender_constraint(
            raw.sender_constraint.as_deref(),
            &format!("{field}.sender_constraint"),
            sender_settings,
        )?
        .unwrap_or_default(),
        claim_conditions: claims::compile_conditions(
            raw.claim_conditions,
            &format!("{field}.claim_conditions"),
            claim_table,
        )?,
        // Filled in once every rule's conditions are known ([`ClaimTable::share`]).
        condition_claims: Vec::new(),
    };
    Ok((provider, endpoints))
}

/// A provider's name, issuer, audiences and algorithms are all given, none empty.
#[inline(never)]
fn check_provider_identity(raw: &RawProvider, field: &str) -> Result<(), ConfigError> {
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
    Ok(())
}

/// What is fetched from a provider's issuer: its keys, introspection, its revocation list.
#[inline(never)]
fn compile_endpoints(
    remote: Option<remote_keys::RemoteJwksConfig>,
    discovery: Option<remote_keys::DiscoveryConfig>,
    introspection: Option<introspection::IntrospectionConfig>,
    revocation: Option<revocation::RevocationConfig>,
    issuer: &str,
    field: &str,
) -> Result<Endpoints, ConfigError> {
    Ok(Endpoints {
        remote: remote_keys::compile(remote, discovery, issuer, field)?,
        introspection: introspection
            .map(|config| introspection::compile(config, issuer, field))
            .transpose()?,
        revocation: revocation
            .map(|config| revocation::compile(config, field))
            .transpose()?,
    })
}

/// `mode`: `"enforce"` (refuse) or `"report"` (forward, count and log what would be refused);
/// `Some(true)` for report.
#[inline(never)]
fn report_mode(mode: Option<&str>, field: &str) -> Result<Option<bool>, ConfigError> {
    match mode {
        None => Ok(None),
        Some("enforce") => Ok(Some(false)),
        Some("report") => Ok(Some(true)),
        Some(other) => Err(ConfigError::new(
            field,
            format!("must be \"enforce\" or \"report\", not {other:?}"),
        )),
    }
}

/// What every rule is compiled against.
struct RuleContext<'c> {
    credentials: &'c CredentialSources,
    has_app_header: bool,
    sender_settings: &'c SenderSettings,
    global_report: bool,
    paths: PathOptions,
    providers: &'c [Provider],
    endpoints: &'c [Endpoints],
}

/// `rules[i]` at `field`.
#[inline(never)]
fn compile_rule(
    raw: RawRule,
    field: &str,
    context: &RuleContext,
    claim_table: &mut ClaimTable,
) -> Result<Rule, ConfigError> {
    let mut raw = raw;
    let path = compile_rule_path(&mut raw, field, context.paths)?;
    let methods = compile_methods(raw.methods.take(), field)?;
    if raw.public {
        for (name, set) in [
            ("bind", raw.bind.is_some()),
            ("scopes", !raw.scopes.is_empty()),
            ("accept", raw.accept.is_some()),
            ("require_app", raw.require_app),
            ("sender_constraint", raw.sender_constraint.is_some()),
            ("mode", raw.mode.is_some()),
            ("providers", raw.providers.is_some()),
            ("audiences", raw.audiences.is_some()),
            ("claim_conditions", raw.claim_conditions.is_some()),
            (
                "clients_skip_claim_conditions",
                raw.clients_skip_claim_conditions,
            ),
            ("introspect", raw.introspect.is_some()),
        ] {
            if set {
                return Err(ConfigError::new(
                    &format!("{field}.{name}"),
                    format!("a public rule cannot set {name}"),
                ));
            }
        }
        return Ok(Rule::public(path, methods));
    }
    let scopes = scope_list(std::mem::take(&mut raw.scopes), &format!("{field}.scopes"))?;
    let accept = compile_accept(raw.accept.take(), field, context.credentials)?;
    if raw.require_app && !context.has_app_header {
        return Err(ConfigError::new(
            &format!("{field}.require_app"),
            "needs app_header to name the application header",
        ));
    }
    let report = report_mode(raw.mode.as_deref(), &format!("{field}.mode"))?;
    let mut route = Route {
        scopes,
        accept,
        require_app: raw.require_app,
        sender_constraint: sender::sender_constraint(
            raw.sender_constraint.as_deref(),
            &format!("{field}.sender_constraint"),
            context.sender_settings,
        )?,
        report: report.unwrap_or(context.global_report),
        ..Route::default()
    };
    compile_token_requirements(&mut raw, field, context, claim_table, &mut route)?;
    route.bindings = compile_rule_bindings(&mut raw, field, &path, &route, context, claim_table)?;
    route.introspect_within = introspect::compile_rule_introspect(
        raw.introspect.take(),
        field,
        &route,
        context.providers,
        context.endpoints,
    )?;
    Ok(Rule::authenticated(path, methods, route))
}

/// `rules[i].path_prefix` or `.path_template`: exactly one.
#[inline(never)]
fn compile_rule_path(
    raw: &mut RawRule,
    field: &str,
    paths: PathOptions,
) -> Result<PathMatch, ConfigError> {
    match (raw.path_prefix.take(), raw.path_template.take()) {
        (Some(prefix), None) => Ok(PathMatch::Prefix(compile_path_prefix(
            prefix, field, paths,
        )?)),
        (None, Some(text)) => Ok(PathMatch::Template(templates::compile_template(
            &text,
            field,
            paths.letter_case,
        )?)),
        _ => Err(ConfigError::new(
            field,
            "give exactly one of path_prefix, path_template",
        )),
    }
}

/// `rules[i].bind`: only with a `path_template`, and not where letters compare without regard
/// to case (paths are then matched in lower case: a captured segment would not be the one sent).
#[inline(never)]
fn compile_rule_bindings(
    raw: &mut RawRule,
    field: &str,
    path: &PathMatch,
    route: &Route,
    context: &RuleContext,
    claim_table: &mut ClaimTable,
) -> Result<Vec<crate::policy::templates::Binding>, ConfigError> {
    let Some(bind) = raw.bind.take() else {
        return Ok(Vec::new());
    };
    let at = format!("{field}.bind");
    let PathMatch::Template(template) = path else {
        return Err(ConfigError::new(&at, "needs a path_template"));
    };
    if context.paths.letter_case == LetterCase::Insensitive {
        return Err(ConfigError::new(
            &at,
            "not with paths.letter_case \"insensitive\" (paths are matched in lower case)",
        ));
    }
    let accepts_tokens = route.accept.contains(&CredentialKind::Jwt);
    templates::compile_bindings(
        bind,
        field,
        template,
        accepts_tokens,
        header_name,
        claim_table,
    )
}

/// `rules[i].providers`, `.audiences`, `.claim_conditions` and
/// `.clients_skip_claim_conditions`: what the route asks of a token beyond its scopes (only
/// where the route accepts tokens).
#[inline(never)]
fn compile_token_requirements(
    raw: &mut RawRule,
    field: &str,
    context: &RuleContext,
    claim_table: &mut ClaimTable,
    route: &mut Route,
) -> Result<(), ConfigError> {
    let own_conditions = raw.claim_conditions.as_ref().is_some_and(|c| !c.is_empty());
    if !route.accept.contains(&CredentialKind::Jwt) {
        for (name, set) in [
            ("providers", raw.providers.is_some()),
            ("audiences", raw.audiences.is_some()),
            ("claim_conditions", own_conditions),
        ] {
            if set {
                return Err(ConfigError::new(
                    &format!("{field}.{name}"),
                    "applies to tokens, and the rule does not accept jwt",
                ));
            }
        }
    }
    if raw.clients_skip_claim_conditions && !own_conditions {
        return Err(ConfigError::new(
            &format!("{field}.clients_skip_claim_conditions"),
            "only with claim_conditions of the rule's own",
        ));
    }
    let providers = context.providers;
    route.providers = claims::compile_rule_providers(raw.providers.take(), field, providers)?;
    route.audiences =
        claims::compile_rule_audiences(raw.audiences.take(), field, providers, &route.providers)?;
    route.claim_conditions = raw
        .claim_conditions
        .take()
        .map(|list| {
            claims::compile_conditions(list, &format!("{field}.claim_conditions"), claim_table)
        })
        .transpose()?;
    route.clients_skip_claim_conditions = raw.clients_skip_claim_conditions;
    Ok(())
}

/// `rules[i].path_prefix`: a path in the canonical form requests are matched in (a prefix in
/// any other form would match nothing), in lower case where letters are compared without
/// regard to case.
#[inline(never)]
fn compile_path_prefix(
    prefix: String,
    field: &str,
    paths: PathOptions,
) -> Result<String, ConfigError> {
    let prefix_error = |problem: String| ConfigError::new(&format!("{field}.path_prefix"), problem);
    if !prefix.starts_with('/') {
        return Err(prefix_error("must start with '/'".into()));
    }
    if prefix.contains(['?', '#']) {
        return Err(prefix_error(
            "must be a path, without query or fragment".into(),
        ));
    }
    match canonical(&prefix, paths) {
        Err(err) => return Err(prefix_error(format!("is refused in requests: {err}"))),
        Ok(form) if form.path != prefix => {
            return Err(prefix_error(format!(
                "requests are matched as {:?}: write it that way",
                form.path
            )))
        }
        Ok(_) => {}
    }
    let mut prefix = prefix;
    if paths.letter_case == LetterCase::Insensitive {
        prefix.make_ascii_lowercase();
    }
    Ok(prefix)
}

/// `rules[i].methods`: upper-cased, `None` for every method.
#[inline(never)]
fn compile_methods(
    raw: Option<Vec<String>>,
    field: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(methods) = raw else {
        return Ok(None);
    };
    if methods.is_empty() {
        return Err(ConfigError::new(
            &format!("{field}.methods"),
            "must list at least one method (omit it for all methods)",
        ));
    }
    let mut upper = Vec::with_capacity(methods.len());
    for (index, method) in methods.iter().enumerate() {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ConfigError::new(
                &format!("{field}.methods[{index}]"),
                format!("{method:?} is not an HTTP method"),
            ));
        }
        upper.push(method.to_ascii_uppercase());
    }
    Ok(Some(upper))
}

/// `rules[i].accept`: configured credential kinds only; every configured one by default.
#[inline(never)]
fn compile_accept(
    raw: Option<Vec<String>>,
    field: &str,
    credentials: &CredentialSources,
) -> Result<Vec<CredentialKind>, ConfigError> {
    let Some(kinds) = raw else {
        return Ok(CredentialKind::ALL
            .into_iter()
            .filter(|kind| credentials.offers(*kind))
            .collect());
    };
    if kinds.is_empty() {
        return Err(ConfigError::new(
            &format!("{field}.accept"),
            "must list at least one credential kind (omit it for all)",
        ));
    }
    let mut accepted = Vec::with_capacity(kinds.len());
    for (index, name) in kinds.iter().enumerate() {
        let kind_field = format!("{field}.accept[{index}]");
        let kind = CredentialKind::from_name(name).ok_or_else(|| {
            ConfigError::new(
                &kind_field,
                format!("{name:?} is not one of jwt, api_key, basic"),
            )
        })?;
        if !credentials.offers(kind) {
            return Err(ConfigError::new(
                &kind_field,
                format!("{name} credentials are not configured"),
            ));
        }
        accepted.push(kind);
    }
    Ok(accepted)
}

#[inline(never)]
fn compile_forward(
    raw: Option<RawForward>,
    credentials: &CredentialSources,
    app_header: Option<&str>,
) -> Result<Forward, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Forward::default());
    };
    let optional = |value: Option<String>, field: &str| {
        value.map(|name| header_name(&name, field)).transpose()
    };
    let mut forward = Forward {
        subject_header: optional(raw.subject_header, "forward.subject_header")?,
        scopes_header: optional(raw.scopes_header, "forward.scopes_header")?,
        provider_header: optional(raw.provider_header, "forward.provider_header")?,
        client_header: optional(raw.client_header, "forward.client_header")?,
        credential_header: optional(raw.credential_header, "forward.credential_header")?,
        application_header: optional(raw.application_header, "forward.application_header")?,
        confirmation_header: optional(raw.confirmation_header, "forward.confirmation_header")?,
        claims: Vec::with_capacity(raw.claims.0.len()),
    };
    for (claim, header) in raw.claims.0 {
        let field = format!("forward.claims.{claim}");
        let members = claims::claim_path(&claim, &field)?.members().to_vec();
        forward.claims.push(ForwardedClaim {
            header: header_name(&header, &field)?,
            path: claim,
            members,
        });
    }
    let mut credential_headers: Vec<&str> = credentials
        .token_headers
        .iter()
        .map(|s| s.header())
        .collect();
    if let Some((id, secret)) = &credentials.api_key_headers {
        credential_headers.extend([id.as_str(), secret.as_str()]);
    }
    if credentials.basic {
        credential_headers.push("authorization");
    }
    credential_headers.extend(app_header);
    let names: Vec<&str> = forward.header_names().collect();
    for (index, name) in names.iter().enumerate() {
        if names.iter().take(index).any(|earlier| earlier == name) {
            return Err(ConfigError::new(
                "forward",
                format!("header {name:?} is used twice"),
            ));
        }
        if credential_headers.contains(name) {
            return Err(ConfigError::new(
                "forward",
                format!("header {name:?} is also a credential or application header"),
            ));
        }
    }
    Ok(forward)
}

/// Validates an HTTP header name (RFC 9110 token) and lower-cases it, as Envoy stores names.
#[inline(never)]
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
            policy.credentials.token_headers,
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
    fn text_after_the_configuration_is_refused() {
        // Two documents one after the other used to be accepted, the second one silently unread.
        let text = format!("{} {{\"realm\": \"other\"}}", valid());
        let err = Policy::from_json(text.as_bytes()).err().unwrap();
        assert_eq!((err.field(), err.problem()), ("", "trailing characters"));
        assert!(Policy::from_json(format!("{},", valid()).as_bytes()).is_err());
    }

    #[test]
    fn json_cut_off_names_the_enclosing_field() {
        let err = Policy::from_json(br#"{"providers": ["#).err().unwrap();
        assert_eq!(err.field(), "providers");
        assert_eq!(err.problem(), "EOF while parsing a list");
        let err = Policy::from_json(br#"{"rules": [{"path_prefix": "/", "methods": [1]}]}"#)
            .err()
            .unwrap();
        assert_eq!(err.field(), "rules[0].methods[0]");
        let err = Policy::from_json(br#"{"rules": [{"path_prefix": "/", "methods": [{}]}]}"#)
            .err()
            .unwrap();
        assert_eq!(err.field(), "rules[0].methods[0]");
    }

    #[test]
    fn duplicate_fields_are_refused_naming_the_field() {
        let err = Policy::from_json(br#"{"realm": "a", "realm": "b"}"#)
            .err()
            .unwrap();
        assert_eq!(err.field(), "realm");
        assert_eq!(err.problem(), "duplicate field `realm`");
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
    fn path_templates_and_bindings_are_validated_naming_the_field() {
        let rule = |r: Value| {
            let mut c = valid();
            c["rules"] = json!([{"path_prefix": "/x"}, r]);
            error_of(c)
        };
        for (r, field, message) in [
            (json!({"scopes": []}), "rules[1]", "give exactly one of path_prefix, path_template"),
            (
                json!({"path_prefix": "/a", "path_template": "/a"}),
                "rules[1]",
                "give exactly one of path_prefix, path_template",
            ),
            (
                json!({"path_template": "/a/{b}/{b}"}),
                "rules[1].path_template",
                "names the variable {b} twice",
            ),
            (
                json!({"path_template": "/a/%2F/{b}"}),
                "rules[1].path_template",
                "has '%': literal segments are written as requests are matched (no %, ;, *, braces, spaces or non-ASCII)",
            ),
            (
                json!({"path_template": "/a/../{b}"}),
                "rules[1].path_template",
                "has a dot-segment (. or ..): requests with one are refused",
            ),
            (
                json!({"path_prefix": "/a", "bind": {"b": {"applications": true}}}),
                "rules[1].bind",
                "needs a path_template",
            ),
            (
                json!({"path_template": "/a/{b}", "bind": {"c": {"applications": true}}}),
                "rules[1].bind.c",
                "path_template has no variable {c}",
            ),
            (
                json!({"path_template": "/a/{b}", "bind": {"b": {}}}),
                "rules[1].bind.b",
                "give exactly one of claim, applications, header",
            ),
            (
                json!({"path_template": "/a/{b}", "bind": {"b": {"claim": "x", "header": "y"}}}),
                "rules[1].bind.b",
                "give exactly one of claim, applications, header",
            ),
            (
                json!({"path_template": "/a/{b}", "bind": {"b": {"claim": "a..b"}}}),
                "rules[1].bind.b.claim",
                "has an empty segment: separate member names with single dots",
            ),
            (
                json!({"path_template": "/a/{b}", "bind": {"b": {"header": "x y"}}}),
                "rules[1].bind.b.header",
                "\"x y\" is not a valid HTTP header name",
            ),
            (
                json!({"path_template": "/a/{b}", "bind": {"b": {"applications": false}}}),
                "rules[1].bind.b.applications",
                "must be true (omit the binding for none)",
            ),
            (
                json!({"path_template": "/a/{b}", "bind": {}}),
                "rules[1].bind",
                "must bind at least one variable (omit it for none)",
            ),
            (
                json!({"path_template": "/a/{b}", "public": true, "bind": {"b": {"applications": true}}}),
                "rules[1].bind",
                "a public rule cannot set bind",
            ),
        ] {
            let err = rule(r.clone());
            assert_eq!((err.field(), err.problem()), (field, message), "{r}");
        }
    }

    #[test]
    fn bindings_are_refused_where_paths_are_matched_in_lower_case() {
        let mut c = valid();
        c["paths"] = json!({"letter_case": "insensitive"});
        c["rules"] = json!([{"path_template": "/A/{b}", "bind": {"b": {"claim": "x"}}}]);
        assert_eq!(error_of(c.clone()).field(), "rules[0].bind");
        c["rules"] = json!([{"path_template": "/A/{b}"}]);
        assert!(Policy::from_json(c.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn header_names_are_validated_and_lower_cased() {
        let mut config = valid();
        config["token_headers"] = json!([{"name": "X-RPZ-Auth", "prefix": "Bearer "}]);
        config["forward"] = json!({"subject_header": "X-Auth-Subject"});
        let policy = Policy::from_json(config.to_string().as_bytes()).unwrap();
        assert_eq!(policy.credentials.token_headers[0].header(), "x-rpz-auth");
        assert_eq!(
            policy.forward.subject_header.as_deref(),
            Some("x-auth-subject")
        );

        let mut config = valid();
        config["forward"] = json!({"claims": {"email": "bad header"}});
        assert_eq!(error_of(config).field(), "forward.claims.email");
        for (path, problem) in [
            ("realm_access..roles", "has an empty segment"),
            (".roles", "has an empty segment"),
            ("a~2b", "has a \"~\" not followed by 0 or 1"),
            ("a\u{7}b", "must not contain control characters"),
        ] {
            let mut config = valid();
            config["forward"] = json!({"claims": {path: "x-roles"}});
            let err = error_of(config);
            assert_eq!(err.field(), format!("forward.claims.{path}"));
            assert!(err.problem().starts_with(problem), "{path}: {err}");
        }
        let mut config = valid();
        config["forward"] = json!({"subject_header": "authorization"});
        assert!(error_of(config).problem().contains("also a credential"));
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

    fn with_api_keys(api_keys: Value) -> Value {
        let mut config = valid();
        config["api_keys"] = api_keys;
        config
    }

    fn client() -> Value {
        json!({"id": "c1", "secret_sha256": crate::clients::secret_digest_hex(b"secret-of-c1-0123456789")})
    }

    #[test]
    fn api_key_setup_is_validated() {
        let ok = with_api_keys(
            json!({"id_header": "ClientId", "secret_header": "ClientSecret", "clients": [client()]}),
        );
        let policy = Policy::from_json(ok.to_string().as_bytes()).unwrap();
        assert_eq!(
            policy.credentials.api_key_headers,
            Some(("clientid".into(), "clientsecret".into()))
        );
        assert!(!policy.credentials.basic);

        let half = with_api_keys(json!({"id_header": "clientid", "clients": [client()]}));
        assert_eq!(error_of(half).field(), "api_keys.secret_header");
        let nothing = with_api_keys(json!({"clients": [client()]}));
        assert_eq!(error_of(nothing).field(), "api_keys");
        let empty = with_api_keys(json!({"basic": true, "clients": []}));
        assert_eq!(error_of(empty).field(), "api_keys.clients");
        let clash = with_api_keys(
            json!({"id_header": "authorization", "secret_header": "s", "clients": [client()]}),
        );
        assert_eq!(error_of(clash).field(), "api_keys.id_header");
    }

    #[test]
    fn plain_text_secrets_are_refused_naming_the_field() {
        let mut bad = client();
        bad["secret_sha256"] = json!("my-secret");
        let err = error_of(with_api_keys(json!({"basic": true, "clients": [bad]})));
        assert_eq!(err.field(), "api_keys.clients[0].secret_sha256");
        assert!(err.problem().contains("hash-secret"), "{err}");
    }

    #[test]
    fn client_lists_are_validated() {
        let mut bad = client();
        bad["allowed_cidrs"] = json!(["10.0.0.0/8", "10.0.0.1/8"]);
        let err = error_of(with_api_keys(json!({"basic": true, "clients": [bad]})));
        assert_eq!(err.field(), "api_keys.clients[0].allowed_cidrs[1]");
        let mut bad = client();
        bad["allowed_origins"] = json!(["https://app.example.com"]);
        let err = error_of(with_api_keys(json!({"basic": true, "clients": [bad]})));
        assert_eq!(err.field(), "api_keys.clients[0].allowed_origins[0]");
        let mut colon = client();
        colon["id"] = json!("a:b");
        assert_eq!(
            error_of(with_api_keys(json!({"basic": true, "clients": [colon]}))).field(),
            "api_keys.clients[0].id"
        );
        let twice = with_api_keys(json!({"basic": true, "clients": [client(), client()]}));
        assert_eq!(error_of(twice).field(), "api_keys.clients[1].id");
    }

    #[test]
    fn rule_accept_and_require_app_must_be_satisfiable() {
        let mut config = valid();
        config["rules"] = json!([{"path_prefix": "/legacy", "accept": ["basic"]}]);
        let err = error_of(config);
        assert_eq!(
            err.to_string(),
            "rules[0].accept[0]: basic credentials are not configured"
        );
        let mut config = valid();
        config["rules"] = json!([{"path_prefix": "/x", "accept": ["kerberos"]}]);
        assert_eq!(error_of(config).field(), "rules[0].accept[0]");
        let mut config = valid();
        config["rules"] = json!([{"path_prefix": "/x", "require_app": true}]);
        assert_eq!(error_of(config).field(), "rules[0].require_app");
        let mut config = valid();
        config["rules"] = json!([{"path_prefix": "/x", "public": true, "accept": ["jwt"]}]);
        assert_eq!(error_of(config).field(), "rules[0].accept");
    }

    #[test]
    fn transport_settings_are_validated() {
        let mut config = valid();
        config["min_tls_version"] = json!("TLS1.2");
        assert_eq!(error_of(config).field(), "min_tls_version");
        let mut config = valid();
        config["trusted_hops"] = json!(50);
        assert_eq!(error_of(config).field(), "trusted_hops");
        let mut config = valid();
        config["query_token"] = json!({"param": "to ken"});
        assert_eq!(error_of(config).field(), "query_token.param");
    }

    #[test]
    fn the_token_cookie_is_named_by_an_rfc_6265_token() {
        for good in ["access_token", "__Host-at", "a.b~c!"] {
            let mut config = valid();
            config["cookie_token"] = json!({"name": good});
            let policy = Policy::from_json(config.to_string().as_bytes()).unwrap();
            assert_eq!(policy.credentials.cookie_name.as_deref(), Some(good));
        }
        for bad in [
            "",
            "access token",
            "a=b",
            "a;b",
            "a,b",
            "\"quoted\"",
            "caf\u{e9}",
            "a\tb",
        ] {
            let mut config = valid();
            config["cookie_token"] = json!({"name": bad});
            let err = error_of(config);
            assert_eq!(
                err.to_string(),
                "cookie_token.name: must be a cookie name (letters, digits, ! # $ % & ' * + - . ^ _ ` | ~)",
                "{bad:?}"
            );
        }
        let mut config = valid();
        config["cookie_token"] = json!({"cookie": "access_token"});
        assert_eq!(error_of(config).field(), "cookie_token.cookie");
        assert!(Policy::from_json(valid().to_string().as_bytes())
            .unwrap()
            .credentials
            .cookie_name
            .is_none());
    }

    #[test]
    fn tokens_need_a_provider() {
        let config = json!({
            "api_keys": {"basic": true, "clients": [client()]},
            "query_token": {"param": "token"}
        });
        assert_eq!(error_of(config).field(), "query_token");
        let config = json!({
            "api_keys": {"basic": true, "clients": [client()]},
            "cookie_token": {"name": "access_token"}
        });
        assert_eq!(error_of(config).field(), "cookie_token");
        assert_eq!(error_of(json!({})).field(), "providers");
    }

    #[test]
    fn the_caller_address_is_needed_only_with_a_network_list() {
        assert!(
            !Policy::from_json(valid().to_string().as_bytes())
                .unwrap()
                .uses_source_address
        );
        let mut config = valid();
        config["providers"][0]["allowed_cidrs"] = json!(["10.0.0.0/8"]);
        assert!(
            Policy::from_json(config.to_string().as_bytes())
                .unwrap()
                .uses_source_address
        );
        let mut config = valid();
        config["providers"][0]["claims"] = json!({"allowed_cidrs": "ip"});
        assert!(
            Policy::from_json(config.to_string().as_bytes())
                .unwrap()
                .uses_source_address
        );
        let mut limited = client();
        limited["allowed_cidrs"] = json!(["::1/128"]);
        let config = with_api_keys(json!({"basic": true, "clients": [limited]}));
        assert!(
            Policy::from_json(config.to_string().as_bytes())
                .unwrap()
                .uses_source_address
        );
    }
}
