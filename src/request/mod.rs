//! Request: what a request carries and how its facts are read, before any credential is trusted.
//!
//! [`credential`] is the plain request the host hands over and the one credential found in it
//! (bearer token, API key pair or Basic), [`path`] the canonical path rules are matched against
//! (and the spellings refused), [`query_token`] the opt-in `?token=` parameter and the path
//! without it, [`cookie_token`] the opt-in token cookie and the `Cookie` headers without it,
//! [`transport`] the caller's address (through `trusted_hops`) and TLS version, [`source`] the
//! caller as the abuse limits count it (IPv6 grouped by prefix), and [`allowlist`] the
//! network (CIDR) and web-origin patterns those facts are matched against.

pub mod allowlist;
pub mod cookie_token;
pub mod credential;
pub mod path;
pub mod query_token;
pub mod source;
pub mod transport;
