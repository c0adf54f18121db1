//! DPoP server nonces (RFC 9449 section 9), off unless `dpop.nonce_lifetime_seconds` is set:
//! a proof must then carry a `nonce` this server issued recently, so that even someone who could
//! use the client's key for a moment cannot make proofs for later.
//!
//! Nonces are stateless: `base64url(window || HMAC-SHA256(key, window)[..16])`, where `window` is
//! `now / lifetime` as 8 big-endian bytes. The keys are `dpop.nonce_keys` when configured (the
//! same in every Envoy of a fleet: the first issues, all are accepted, so a key can be rotated
//! in), else one 32-byte random key the host keeps in shared data (every worker of one Envoy
//! agrees, no other Envoy does). A nonce is accepted in its own window and the next one: it
//! lives between one and two lifetimes. Comparison is constant-time: `hmac`'s
//! `verify_truncated_left` compares through `subtle`, the crate `clients` uses, and every key is
//! tried, so the time taken does not say which key matched.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::request::credential::NonceKey;

/// Bytes of the window number in a nonce.
const WINDOW_BYTES: usize = 8;
/// Bytes of the MAC kept in a nonce.
const MAC_BYTES: usize = 16;

/// The nonce for time `now` (Unix seconds), made with `key` (the first configured one).
pub fn issue(key: &NonceKey, now: u64, lifetime_seconds: u64) -> String {
    let window = now / lifetime_seconds.max(1);
    let mut bytes = window.to_be_bytes().to_vec();
    if let Some(mac) = mac(key, window) {
        bytes.extend_from_slice(
            mac.finalize()
                .into_bytes()
                .get(..MAC_BYTES)
                .unwrap_or_default(),
        );
    }
    crate::base64::encode_url(&bytes)
}

/// Whether `nonce` was issued with any of `keys` in the current window or the one before.
pub fn accepts(keys: &[NonceKey], nonce: &str, now: u64, lifetime_seconds: u64) -> bool {
    let Some(bytes) = crate::base64::decode_url(nonce) else {
        return false;
    };
    if bytes.len() != WINDOW_BYTES + MAC_BYTES {
        return false;
    }
    let (window_bytes, presented) = bytes.split_at(WINDOW_BYTES);
    let mut window = [0u8; WINDOW_BYTES];
    window.copy_from_slice(window_bytes);
    let window = u64::from_be_bytes(window);
    let current = now / lifetime_seconds.max(1);
    if window != current && window.saturating_add(1) != current {
        return false;
    }
    // Constant time: the leftmost MAC_BYTES of the MAC, as issued; every key tried (`fold`, not
    // `any`: no early exit).
    keys.iter().fold(false, |matched, key| {
        let valid =
            mac(key, window).is_some_and(|mac| mac.verify_truncated_left(presented).is_ok());
        matched | valid
    })
}

fn mac(key: &NonceKey, window: u64) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()?;
    mac.update(b"edge-auth dpop nonce ");
    mac.update(&window.to_be_bytes());
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn key(byte: u8) -> NonceKey {
        NonceKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn nonce_lives_one_to_two_lifetimes() {
        let keys = [key(7)];
        let nonce = issue(&keys[0], 1000, 60); // window 16: 960..1019
        assert!(accepts(&keys, &nonce, 1000, 60));
        assert!(accepts(&keys, &nonce, 1079, 60));
        assert!(!accepts(&keys, &nonce, 1080, 60));
        assert!(!accepts(&keys, &nonce, 959, 60), "not before its window");
    }

    #[test]
    fn nonce_of_another_key_or_altered_is_refused() {
        let keys = [key(7)];
        let nonce = issue(&keys[0], 1000, 60);
        assert!(!accepts(&[key(8)], &nonce, 1000, 60));
        assert!(!accepts(&[], &nonce, 1000, 60), "no key accepts nothing");
        let mut bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        bytes[7] ^= 1; // another window with the same MAC
        assert!(!accepts(&keys, &URL_SAFE_NO_PAD.encode(&bytes), 1000, 60));
        assert!(!accepts(&keys, "not-a-nonce", 1000, 60));
        assert!(!accepts(&keys, "", 1000, 60));
    }

    /// Rotation: a nonce of the old key stays good while the old key is listed after the new
    /// one, and is refused once the old key is gone; the new first key issues.
    #[test]
    fn a_nonce_of_any_listed_key_is_accepted_until_its_key_is_removed() {
        let (old, new) = (key(1), key(2));
        let nonce = issue(&old, 1000, 60);
        assert!(accepts(std::slice::from_ref(&old), &nonce, 1000, 60));
        assert!(accepts(&[new.clone(), old.clone()], &nonce, 1000, 60));
        assert!(accepts(&[old.clone(), new.clone()], &nonce, 1000, 60));
        assert!(!accepts(std::slice::from_ref(&new), &nonce, 1000, 60));
        let issued_by_new = issue(&new, 1000, 60);
        assert_ne!(issued_by_new, nonce);
        assert!(accepts(&[new, old.clone()], &issued_by_new, 1000, 60));
        assert!(!accepts(&[old], &issued_by_new, 1000, 60));
    }
}
