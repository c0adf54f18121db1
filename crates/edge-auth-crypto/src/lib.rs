//! Edge-auth's own signature kernels: RSA ([`rsa`]), ES256 and ES384 ([`ec`]) and Ed25519
//! ([`ed25519`]), on the shared 32-bit limbs of `limbs`.
//!
//! A crate of its own only so that cargo can build it at `opt-level = 3` while the filter
//! (`edge-auth`) is built for size (`[profile.release.package.edge-auth-crypto]` in the root
//! `Cargo.toml`, issue 22): these are the loops whose speed RS256/ES256/EdDSA first sight is.
//! (ES384's check is generic code that the filter compiles, for size: [`ec::ecdsa`].)
//! Nothing here checks a key policy (sizes, exponents, curves): keys are built through
//! `edge_auth::jwt::jwks`, which does; the filter reaches these kernels only through it.

#![forbid(unsafe_code)]

pub mod ec;
pub mod ed25519;
mod limbs;
pub mod rsa;
