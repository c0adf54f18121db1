//! The DPoP server-nonce key in proxy-wasm shared data: 32 random bytes every worker uses to
//! issue and check nonces ([`crate::policy::sender::dpop_nonce`]), so a nonce from one worker is good
//! at all of them. Only when `dpop.nonce_keys` is not configured: this key is one Envoy's own, so
//! another Envoy of a fleet refuses its nonces (configured keys, in the policy, never come here).
//!
//! Made at configure time by the first worker that finds none. Workers starting together may
//! each write one; the last write wins, and since the key is read from shared data on every use
//! (never kept per worker), all workers agree from then on. At worst a nonce issued in that
//! first instant is refused once and the client is handed a new one. The random bytes come from
//! the glue (`getrandom` is linked into the wasm filter only).

use super::Host;

use crate::request::credential::NonceKey;

/// The shared-data key holding the nonce key.
const SHARED_KEY: &str = "edge-auth.dpop-nonce-key";
/// Bytes of the nonce key.
pub const KEY_BYTES: usize = NonceKey::BYTES;

/// Creates the nonce key from `random` (fresh random bytes, `None` if there is no randomness)
/// unless one exists; `false` if it cannot (no randomness, host error).
pub(crate) fn create_nonce_key(host: &dyn Host, random: Option<[u8; KEY_BYTES]>) -> bool {
    if let Ok((Some(existing), _)) = host.get_shared_data(SHARED_KEY) {
        if existing.len() == KEY_BYTES {
            return true;
        }
    }
    let Some(key) = random else {
        log::error!("cannot make the DPoP nonce key: no randomness");
        return false;
    };
    match host.set_shared_data(SHARED_KEY, &key, None) {
        Ok(()) => true,
        Err(status) => {
            log::error!("cannot store the DPoP nonce key: {status:?}");
            false
        }
    }
}

/// The current nonce key, if there is one: in a [`NonceKey`], whose `Debug` shows nothing.
pub(crate) fn nonce_key(host: &dyn Host) -> Option<NonceKey> {
    match host.get_shared_data(SHARED_KEY) {
        Ok((Some(key), _)) => NonceKey::from_bytes(&key),
        _ => None,
    }
}
