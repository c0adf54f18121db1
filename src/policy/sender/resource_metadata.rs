//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the JSON document clients fetch from
//! `/.well-known/oauth-protected-resource` to learn which authorization servers issue tokens for
//! this API, which scopes exist and how tokens may be presented.
//!
//! The document is built once from the compiled configuration: `resource` and
//! `resource_documentation` as configured, `authorization_servers` from the providers' issuers,
//! `scopes_supported` from the rules, `bearer_methods_supported` from where tokens are read,
//! and the sender-constraint members from the `dpop` and `mtls` blocks. The filter answers
//! `GET` on the metadata URL (the well-known path inserted before the resource's own path, RFC
//! 9728 section 3.1) and on the plain well-known path, without any credential; every 401
//! challenge names the URL in `resource_metadata` ([`crate::policy::sender::challenge`]).

use crate::json::write;

use crate::error::ConfigError;
use crate::jwt::confirmation::SenderConstraint;
use crate::policy::Policy;
use crate::request::credential::Request;

/// The well-known path of the document (RFC 9728 section 3).
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";
/// How long clients and caches may keep the document.
const MAX_AGE_SECONDS: u64 = 3600;

/// The compiled document and where it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetadata {
    /// The metadata URL, as challenges name it.
    pub url: String,
    /// Request paths answered with the document.
    paths: Vec<String>,
    /// The JSON document.
    body: String,
}

/// The local reply with the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataReply {
    /// HTTP status (200).
    pub status: u32,
    /// Response headers.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON document.
    pub body: String,
}

/// The members of the document, written in this order (empty lists and `None` left out).
struct Document<'a> {
    resource: &'a str,
    authorization_servers: Vec<&'a str>,
    scopes_supported: Vec<&'a str>,
    bearer_methods_supported: Vec<&'static str>,
    resource_documentation: Option<&'a str>,
    dpop_signing_alg_values_supported: Vec<&'static str>,
    dpop_bound_access_tokens_required: bool,
    tls_client_certificate_bound_access_tokens: bool,
}

impl ResourceMetadata {
    /// Builds the document for `policy` (compiled but for this member). `resource` must be an
    /// absolute http(s) URL without query or fragment; `field` names the block in errors.
    pub fn for_policy(
        policy: &Policy,
        resource: &str,
        documentation: Option<&str>,
        field: &str,
    ) -> Result<ResourceMetadata, ConfigError> {
        let bad = |problem: &str| ConfigError::new(&format!("{field}.resource"), problem);
        let (scheme, rest) = resource
            .split_once("://")
            .ok_or_else(|| bad("must be an absolute https URL"))?;
        if scheme != "https" && scheme != "http" {
            return Err(bad("must be an https (or, for tests, http) URL"));
        }
        if resource.contains(['?', '#']) || resource.chars().any(|c| c.is_control() || c == '"') {
            return Err(bad(
                "must have no query, fragment, quotes or control characters",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("must name a host"));
        }
        let path = path.trim_end_matches('/');
        let inserted = format!("{WELL_KNOWN_PATH}{path}");
        let url = format!("{scheme}://{authority}{inserted}");
        let mut paths = vec![inserted];
        if !path.is_empty() {
            paths.push(WELL_KNOWN_PATH.to_string());
        }
        if let Some(doc) = documentation {
            if !(doc.starts_with("https://") || doc.starts_with("http://")) {
                return Err(ConfigError::new(
                    &format!("{field}.documentation"),
                    "must be an absolute http(s) URL",
                ));
            }
        }

        let mut scopes: Vec<&str> = Vec::new();
        for scope in policy.rules.routes().flat_map(|route| route.scopes.iter()) {
            if !scopes.contains(&scope.as_str()) {
                scopes.push(scope);
            }
        }
        let credentials = &policy.credentials;
        let mut methods = Vec::new();
        if !credentials.token_headers.is_empty() {
            methods.push("header");
        }
        if credentials.query_param.is_some() {
            methods.push("query");
        }
        let document = Document {
            resource,
            authorization_servers: policy.providers.iter().map(|p| p.issuer.as_str()).collect(),
            scopes_supported: scopes,
            bearer_methods_supported: methods,
            resource_documentation: documentation,
            dpop_signing_alg_values_supported: policy
                .sender
                .dpop
                .as_ref()
                .map(|dpop| dpop.rules.algorithms.iter().map(|alg| alg.name()).collect())
                .unwrap_or_default(),
            dpop_bound_access_tokens_required: !policy.providers.is_empty()
                && policy
                    .providers
                    .iter()
                    .all(|p| p.sender_constraint == SenderConstraint::Dpop),
            tls_client_certificate_bound_access_tokens: policy.sender.mtls.is_some(),
        };
        Ok(ResourceMetadata {
            url,
            paths,
            body: document.write(),
        })
    }

    /// The JSON document.
    pub fn body(&self) -> &str {
        &self.body
    }
}

impl Document<'_> {
    fn write(&self) -> String {
        write::Object::new()
            .string("resource", self.resource)
            .strings("authorization_servers", &self.authorization_servers)
            .nonempty_strings("scopes_supported", &self.scopes_supported)
            .strings("bearer_methods_supported", &self.bearer_methods_supported)
            .optional_string("resource_documentation", self.resource_documentation)
            .nonempty_strings(
                "dpop_signing_alg_values_supported",
                &self.dpop_signing_alg_values_supported,
            )
            .bool(
                "dpop_bound_access_tokens_required",
                self.dpop_bound_access_tokens_required,
            )
            .bool(
                "tls_client_certificate_bound_access_tokens",
                self.tls_client_certificate_bound_access_tokens,
            )
            .finish()
    }
}

/// The document, when `request` asks for it (`GET` on a metadata path); `None` otherwise.
pub fn answer(policy: &Policy, request: &Request) -> Option<MetadataReply> {
    let metadata = policy.resource_metadata.as_ref()?;
    if request.method != "GET" || !metadata.paths.iter().any(|p| p == request.path_only()) {
        return None;
    }
    Some(MetadataReply {
        status: 200,
        headers: vec![
            ("content-type", "application/json".to_string()),
            (
                "cache-control",
                format!("public, max-age={MAX_AGE_SECONDS}"),
            ),
        ],
        body: metadata.body.clone(),
    })
}
