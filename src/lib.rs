//! edge-auth: authentication at the edge, as a proxy-wasm HTTP filter for Envoy.
//!
//! A request travels through the crate like this (each folder is one stage):
//! 1. [`host`] (its callback logic behind a `Host` trait, its glue the one module that names
//!    proxy-wasm) reads the request headers, connection facts and the clock from Envoy into a
//!    plain [`request::credential::Request`];
//! 2. [`policy::decision::authorize`] matches the route ([`policy::rules`]), finds the one
//!    credential ([`request`]), and checks it: a bearer token against the verified-token
//!    [`policy::cache`] or by [`jwt`] (signature with the provider's keys, `iss`, `aud`, time,
//!    lifetime), an API key pair or Basic credential against [`clients`]; then scopes, claim
//!    conditions, path bindings, applications, networks, origins and TLS; last, on a rule with
//!    `introspect`, the issuer's confirmation of the token ([`policy::confirm`]);
//! 3. the [`policy::decision::Decision`] is header changes for the upstream (the caller's
//!    [`identity`]), a refusal ([`policy::deny`]), or a wait for what only the issuer can say:
//!    its keys or an introspection answer ([`issuer`]); [`host`] applies it, pausing and
//!    resuming the request for a wait.
//!
//! [`config`] parses the JSON once and compiles it into the [`policy::Policy`] the request path
//! reads. Dependencies point one way: `request` ← `jwt` ← `issuer` ← [`fleet`] ← `policy` ←
//! `config` ← `host`, with the leaves [`base64`], [`error`], [`json`] (the configuration's strict JSON
//! reading) and [`identity`] below them all and [`clients`]
//! beside `jwt`. [`fleet`] is the wire format of the rate limit service the Envoys of a fleet
//! share (used DPoP proofs, failed secrets). Everything except [`host`] is host-independent; all of it but the glue of [`host`]
//! (wasm only) is tested natively, the host's callbacks against a fake host.

pub mod base64;
pub mod error;
pub mod identity;
pub mod json;

pub mod request;

pub mod clients;
pub mod jwt;

pub mod issuer;

pub mod fleet;

pub mod policy;

pub mod config;

pub mod host;
