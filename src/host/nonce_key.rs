//! The DPoP server-nonce key in proxy-wasm shared data: 32 random bytes every worker uses to
//! issue and check nonces ([`crate::policy::dpop_nonce`]), so a nonce from one worker is good
//! at all of them.
//!
//! Made at configure time by the first worker that finds none. Workers starting together may
//! each write one; the last write wins, and since the key is read from shared data on every use
//! (never kept per worker), all workers agree from then on. At worst a nonce issued in that
//! first instant is refused once and the client is handed a new one.

use proxy_wasm::hostcalls;

use crate::request::credential::NonceKey;

/// The shared-data key holding the nonce key.
const SHARED_KEY: &str = "edge-auth.dpop-nonce-key";
/// Bytes of the nonce key.
const KEY_BYTES: usize = NonceKey::BYTES;

/// Creates the nonce key unless one exists; `false` if it cannot (no randomness, host error).
pub(crate) fn create_nonce_key() -> bool {
    if let Ok((Some(existing), _)) = hostcalls::get_shared_data(SHARED_KEY) {
        if existing.len() == KEY_BYTES {
            return true;
        }
    }
    let mut key = [0u8; KEY_BYTES];
    if let Err(err) = getrandom::getrandom(&mut key) {
        log::error!("cannot make the DPoP nonce key: no randomness ({err})");
        return false;
    }
    match hostcalls::set_shared_data(SHARED_KEY, Some(&key), None) {
        Ok(()) => true,
        Err(status) => {
            log::error!("cannot store the DPoP nonce key: {status:?}");
            false
        }
    }
}

/// The current nonce key, if there is one: in a [`NonceKey`], whose `Debug` shows nothing.
pub(crate) fn nonce_key() -> Option<NonceKey> {
    match hostcalls::get_shared_data(SHARED_KEY) {
        Ok((Some(key), _)) => NonceKey::from_bytes(&key),
        _ => None,
    }
}
