//! Issuer: what edge-auth fetches from a provider's issuer at run time.
//!
//! [`remote_keys`] follows a JWKS URL (directly or through OpenID [`discovery`]): the compiled
//! fetch settings, the fetch lease shared by the workers, backoff, and the per-worker key slot
//! that decisions read. [`introspection`] asks an RFC 7662 endpoint about opaque tokens and
//! interprets its answers. [`revocation`] follows a provider's revocation list, fetched the same
//! way as the keys. [`WorkerKeys`] is what one worker holds of all of them, as decisions read it.
//! All of it is host-independent: the HTTP calls and the shared data
//! live in [`crate::host`], which only moves bytes in and out of these state machines.

pub mod discovery;
pub mod introspection;
pub mod remote_keys;
pub mod revocation;

use introspection::Introspection;
use remote_keys::{RemoteKeys, Slot};
use revocation::{Revocation, RevocationSlot};

use crate::identity::Identity;
use crate::jwt::jwks::KeySet;
use crate::jwt::provider::Provider;
use crate::jwt::token::{self, KeyLookup};

/// What is fetched from one provider's issuer, compiled from `providers[i]`.
#[derive(Default)]
pub struct Endpoints {
    /// Where the keys are fetched from, for `remote_jwks` and `discovery` providers.
    pub remote: Option<RemoteKeys>,
    /// The RFC 7662 endpoint that vouches for its opaque tokens, if any.
    pub introspection: Option<Introspection>,
    /// Where its revocation list is fetched, if it publishes one.
    pub revocation: Option<Revocation>,
}

/// A worker's keys for every provider: the fetched set of a remote provider (from its
/// [`Slot`], with `slots` indexed like `providers`), the inline set of any other.
pub struct WorkerKeys<'a> {
    /// The policy's providers.
    pub providers: &'a [Provider],
    /// What is fetched from each provider's issuer, indexed like `providers`.
    pub endpoints: &'a [Endpoints],
    /// One slot per provider.
    pub slots: &'a [Slot],
    /// One revocation slot per provider (empty: no lists).
    pub revocations: &'a [RevocationSlot],
}

impl KeyLookup for WorkerKeys<'_> {
    fn keys_of(&self, index: usize) -> Option<&KeySet> {
        let provider = self.providers.get(index)?;
        if self.endpoints.get(index)?.remote.is_some() {
            self.slots.get(index)?.keys.as_ref()
        } else {
            Some(&provider.keys).filter(|keys| !keys.is_empty())
        }
    }

    fn key_version(&self, index: usize) -> u64 {
        self.slots.get(index).map_or(0, |slot| slot.version)
    }

    fn revocation(&self, identity: &Identity, _now: u64) -> token::Revocation {
        let Some(settings) = self
            .endpoints
            .get(identity.provider)
            .and_then(|e| e.revocation.as_ref())
        else {
            return token::Revocation::Clear;
        };
        match self
            .revocations
            .get(identity.provider)
            .and_then(|slot| slot.list.as_ref())
        {
            Some(list) if list.revokes(identity) => token::Revocation::Revoked,
            Some(_) => token::Revocation::Clear,
            None if settings.refuse_until_fetched => token::Revocation::Unavailable,
            None => token::Revocation::Clear,
        }
    }
}
