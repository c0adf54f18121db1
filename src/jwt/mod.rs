//! JWT: checking a compact JWS access token against a trusted provider.
//!
//! [`token`] parses the token and runs the checks in order, cheapest first (size, shape, `alg`
//! allow-list, `iss`, `kid`, `exp`/`nbf`/lifetime, `aud`, then the signature); [`provider`]
//! is what the configuration trusts about one issuer; [`jwks`] turns a JWK Set into
//! verification keys and verifies signatures with them (`rsa` is edge-auth's own RSA
//! verifier, `ec` its own ES256 and ES384 verifier, `ed25519` its own EdDSA verifier, both on
//! `limbs`; all four in crates/edge-auth-crypto, [`algorithm`] the JWS algorithms and key families).
//! [`mint`] signs tokens, for the tests and the `edge-auth` tool only: the filter never signs.
//! Sender-constrained tokens: [`dpop`] checks DPoP proofs (RFC 9449), [`confirmation`] a token's
//! binding (`cnf`) to the proof's key or the client certificate (RFC 8705). [`claims`]: the
//! claim conditions routes and providers set (paths into nested claims, exact comparisons).

//!
//! The raw crypto (`rsa`, `ec`, `ed25519`) is crate-private: keys are built through
//! [`jwks`], which applies the size, exponent and point checks. The test crates and the bench
//! probes that hold the verifiers against reference implementations reach them through the
//! narrow [`verifiers`].

pub mod algorithm;
pub mod claims;
pub mod confirmation;
pub mod dpop;
pub mod jwks;
#[cfg(not(target_arch = "wasm32"))]
pub mod mint;
pub mod provider;
pub mod token;

// The raw kernels live in crates/edge-auth-crypto (built at opt-level 3, issue 22).
pub(crate) use edge_auth_crypto::{ec, ed25519, rsa};

/// The verifying-key types of the own verifiers, for `tests/core/es256.rs`, `es384.rs`, `eddsa.rs` and
/// `bench/ecprobe`, which compare them with reference implementations; the RSA key (and its
/// unpadded public operation) only with the `rsa-reference` feature, for `bench/ecprobe`'s
/// rsaprobe. Nothing here applies the key policy of [`jwks`]: the filter never uses it.
#[doc(hidden)]
pub mod verifiers {
    pub use super::ec::ecdsa::{P256VerifyingKey, P384VerifyingKey};
    pub use super::ed25519::verify::Ed25519VerifyingKey;
    #[cfg(feature = "rsa-reference")]
    pub use super::rsa::{RsaHash, RsaPadding, RsaPublicKey};
}
