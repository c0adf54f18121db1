//! Edge-auth's own ES256 verifier (ECDSA over P-256), written for wasm32 like [`super::rsa`].
//!
//! RustCrypto `p256` 0.14 costs about 0.9–1.2 ms per check in Envoy's V8. Here: 32-bit limbs
//! ([`modular`]: every partial product a native wasm multiply), points with complete case
//! handling ([`point`]), and precomputed multiples ([`table`]) for the generator and for each
//! key, built when the key set is loaded, so a check does no point doubling at all
//! ([`ecdsa`]). The tests hold it against `p256` 0.14 on random and edge-case inputs.

pub mod ecdsa;
mod modular;
mod point;
mod table;
