//! Native tests of the host-independent core: the whole decision for every credential kind,
//! issuer keys and introspection answers, the host's callback logic against a fake host, hostile input, the `edge-auth` tool, and the
//! documentation's examples and links. No Envoy: these run anywhere `cargo test` does.
//!
//! One test binary (one link) for all of them; shared fixtures live in `tests/support/`.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)] // tests fail by panicking
#![allow(clippy::too_many_lines)] // a table of cases reads best as one test

#[path = "../support/dpop.rs"]
mod dpop_client;
#[path = "../support/fixtures.rs"]
mod fixtures;

mod abuse;
mod access;
mod architecture;
mod authorization;
mod challenges;
mod cli;
mod connection_facts;
mod cookies;
mod decision;
mod docs;
mod ecdsa;
mod eddsa;
mod fake_host;
mod fleet;
mod fuzz_corpus;
mod host_callbacks;
mod host_calls;
mod hostile_input;
mod introspect_rule;
mod introspection;
mod introspection_answers;
mod json;
mod key_checks;
mod log_capture;
mod operations;
mod path_bindings;
mod properties;
mod remote_keys;
mod revocation;
mod sender_constrained;
mod spellings;
mod token;
