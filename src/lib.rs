//! edge-auth: authentication at the edge, as a proxy-wasm HTTP filter for Envoy.
//!
//! A request travels through the crate like this:
//! 1. [`filter`] (wasm only) reads the request headers from Envoy into a plain
//!    [`credential::Request`] and the clock into Unix seconds;
//! 2. [`decision::authorize`] matches the route ([`rules`]), finds the bearer token
//!    ([`credential`]), looks it up in the verified-token [`cache`] or validates it
//!    ([`token`], with keys from [`jwks`] held by each [`provider`]), and checks scopes;
//! 3. the resulting [`decision::Decision`] is either header changes for the upstream, a
//!    [`deny::DenyResponse`], or a wait: for the issuer's keys ([`key_source`], which fetches
//!    them directly or through [`discovery`]) or for an [`introspection`] answer about an opaque
//!    token; [`filter`] applies it, pausing and resuming the request for a wait.
//!
//! Everything except [`filter`] is host-independent and tested natively; the configuration is
//! parsed and compiled once by [`config`].

pub mod algorithm;
pub mod allowlist;
pub mod api_keys;
pub mod cache;
pub mod config;
pub mod credential;
pub mod decision;
pub mod deny;
pub mod discovery;
pub mod introspection;
pub mod jwks;
pub mod key_source;
#[cfg(not(target_arch = "wasm32"))]
pub mod mint;
pub mod provider;
pub mod query_token;
pub mod rsa;
pub mod rules;
pub mod token;
pub mod transport;

#[cfg(target_arch = "wasm32")]
mod filter;
#[cfg(target_arch = "wasm32")]
mod issuer_calls;
