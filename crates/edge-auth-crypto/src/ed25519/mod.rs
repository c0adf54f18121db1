//! Edge-auth's own Ed25519 verifier (EdDSA, RFC 8032), written for wasm32 like [`super::ec`].
//!
//! `ed25519-compact` (64-bit limbs, `u128` products that wasm emulates) cost about 200 µs per
//! check in Envoy's V8. Here: ten limbs of 25.5 bits ([`field`]: every partial product a
//! native wasm multiply), extended twisted Edwards points with complete additions
//! ([`point`]), scalars modulo the group order ([`scalar`]), and precomputed multiples
//! ([`table`]) of the base point and of each issuer key, built when the key set is loaded, so
//! a check does no point doubling in its multiplications ([`verify`]). It accepts exactly what
//! `ed25519-compact` 2.6 accepts; the tests (`tests/core/eddsa.rs`) hold the two together on
//! random and edge-case inputs.

mod field;
mod point;
mod scalar;
mod table;
pub mod verify;
