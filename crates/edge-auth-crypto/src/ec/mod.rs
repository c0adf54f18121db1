//! Edge-auth's own ES256 and ES384 verifiers (ECDSA over P-256 and P-384), written for wasm32
//! like [`super::rsa`].
//!
//! RustCrypto `p256` 0.14 costs about 0.9–1.2 ms per check in Envoy's V8. Here: 32-bit limbs
//! ([`modular`]: every partial product a native wasm multiply), points with complete case
//! handling ([`point`]), and precomputed multiples ([`table`]) for the generator and for each
//! key, built when the key set is loaded, so a check does no point doubling at all
//! ([`ecdsa`]). One code serves both curves: [`curve::Curve`] gives it a curve's width,
//! constants and field product ([`p256`]'s shaped by its prime, [`p384`]'s generic), and the
//! compiler makes a copy per curve. The tests hold it against `p256` and `p384` 0.14 on random
//! and edge-case inputs (`tests/core/es256.rs`, `es384.rs`).

mod curve;
pub mod ecdsa;
mod modular;
mod p256;
mod p384;
mod point;
mod table;
