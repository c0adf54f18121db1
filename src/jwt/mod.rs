//! JWT: checking a compact JWS access token against a trusted provider.
//!
//! [`token`] parses the token and runs the checks in order, cheapest first (size, shape, `alg`
//! allow-list, `iss`, `kid`, `exp`/`nbf`/lifetime, `aud`, then the signature); [`provider`]
//! is what the configuration trusts about one issuer; [`jwks`] turns a JWK Set into
//! verification keys and verifies signatures with them ([`rsa`] is edge-auth's own RSA
//! verifier, [`ec`] its own ES256 verifier, [`ed25519`] its own
//! EdDSA verifier, both on [`limbs`], [`algorithm`] the JWS algorithms and key families).
//! [`mint`] signs tokens, for the tests and the `edge-auth` tool only: the filter never signs.
//! Sender-constrained tokens: [`dpop`] checks DPoP proofs (RFC 9449), [`confirmation`] a token's
//! binding (`cnf`) to the proof's key or the client certificate (RFC 8705).

pub mod algorithm;
pub mod confirmation;
pub mod dpop;
pub mod ec;
pub mod ed25519;
pub mod jwks;
pub(crate) mod limbs;
#[cfg(not(target_arch = "wasm32"))]
pub mod mint;
pub mod provider;
pub mod rsa;
pub mod token;
