//! Policy: what the compiled configuration decides for one request.
//!
//! [`decision`] runs a request through its stages in order: [`rules`] choose the route,
//! [`authenticate`] checks the credential against the verified-token [`cache`], the issuers'
//! keys or the API clients, [`sender`] the token's binding, [`caller`] the scopes and
//! allow-lists, [`confirm`] a rule's introspection of the token; a refusal becomes the response [`deny`] builds, and every decision carries its
//! [`outcome`] (what [`answer`] the stages reached, traced for [`explain`] through [`trace`]).
//! Two concerns have their own folders: [`sender`] (DPoP proofs and certificates, the replay
//! cache, nonces, challenges, RFC 9728 metadata) and [`abuse`] (failed-secret lockout and the
//! signature-check budget, in bounded records shared by the workers). The [`Policy`] itself is
//! produced once by [`crate::config`], which depends on this module, never the reverse.

pub mod abuse;
pub mod answer;
pub mod authenticate;
pub mod cache;
pub mod caller;
pub mod confirm;
pub mod decision;
pub mod deny;
pub mod explain;
pub mod outcome;
pub mod rules;
pub mod sender;
pub mod templates;
pub mod trace;

use crate::clients::ClientRegistry;
use crate::fleet::FleetSettings;
use crate::identity::Forward;
use crate::issuer::Endpoints;
use crate::jwt::provider::Provider;
use crate::request::credential::CredentialSources;
use crate::request::path::PathOptions;
use crate::request::transport::TlsVersion;
use abuse::AbuseLimits;
use rules::Rules;

/// The compiled configuration: everything a request needs, prepared once.
pub struct Policy {
    /// Realm named in `WWW-Authenticate` challenges.
    pub realm: String,
    /// Trusted issuers, looked up by the token's `iss`.
    pub providers: Vec<Provider>,
    /// What is fetched from each provider's issuer (keys, introspection), same index as
    /// `providers`.
    pub endpoints: Vec<Endpoints>,
    /// Where credentials are read from.
    pub credentials: CredentialSources,
    /// API key clients (for key pairs and Basic).
    pub clients: ClientRegistry,
    /// Request header naming the application the caller acts for.
    pub app_header: Option<String>,
    /// Trusted proxies in front of Envoy that append to `X-Forwarded-For` (0: use the peer).
    pub trusted_hops: usize,
    /// Oldest TLS version accepted downstream; `None` accepts plain text too.
    pub min_tls_version: Option<TlsVersion>,
    /// Whether any network allow-list exists, so the caller's address is worth asking Envoy
    /// for (a host call per request otherwise saved).
    pub uses_source_address: bool,
    /// Route rules, first match wins.
    pub rules: Rules,
    /// Identity headers added for the upstream.
    pub forward: Forward,
    /// Whether CORS preflight requests pass without a credential.
    pub allow_cors_preflight: bool,
    /// What the path check does with encoded delimiters and `;` parameters.
    pub paths: PathOptions,
    /// How many verified tokens each worker remembers (0 turns the cache off).
    pub token_cache_entries: usize,
    /// Sender-constrained tokens: DPoP and certificate binding, each off unless configured.
    pub sender: sender::SenderSettings,
    /// Whether the client certificate's digest is worth asking Envoy for (mTLS binding from the
    /// connection): a host call per request otherwise saved.
    pub uses_peer_certificate: bool,
    /// The RFC 9728 protected-resource metadata document, when configured.
    pub resource_metadata: Option<sender::resource_metadata::ResourceMetadata>,
    /// Report mode for what is checked before a route rule applies (path, TLS) and for routes
    /// without a `mode` of their own.
    pub report: bool,
    /// Whether each decision is published as filter state for Envoy's access log (a host call
    /// per request, so only when asked for).
    pub access_log_fields: bool,
    /// Failed-secret lockout and signature-check budget per source (off unless configured).
    pub abuse: AbuseLimits,
    /// The fleet's rate limit service, for DPoP proofs and failed secrets (off unless
    /// configured).
    pub fleet: Option<FleetSettings>,
}
