//! Issuer: what edge-auth fetches from a provider's issuer at run time.
//!
//! [`remote_keys`] follows a JWKS URL (directly or through OpenID [`discovery`]): the compiled
//! fetch settings, the fetch lease shared by the workers, backoff, and the per-worker key slot
//! that decisions read. [`introspection`] asks an RFC 7662 endpoint about opaque tokens and
//! interprets its answers. All of it is host-independent: the HTTP calls and the shared data
//! live in [`crate::host`], which only moves bytes in and out of these state machines.

pub mod discovery;
pub mod introspection;
pub mod remote_keys;

use introspection::Introspection;
use remote_keys::RemoteKeys;

/// What is fetched from one provider's issuer, compiled from `providers[i]`.
#[derive(Default)]
pub struct Endpoints {
    /// Where the keys are fetched from, for `remote_jwks` and `discovery` providers.
    pub remote: Option<RemoteKeys>,
    /// The RFC 7662 endpoint that vouches for its opaque tokens, if any.
    pub introspection: Option<Introspection>,
}
