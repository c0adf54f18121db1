//! DPoP server nonces (RFC 9449 section 9), off unless `dpop.nonce_lifetime_seconds` is set:
//! a proof must then carry a `nonce` this server issued recently, so that even someone who could
//! use the client's key for a moment cannot make proofs for later.
//!
//! Nonces are stateless: `base64url(window || HMAC-SHA256(key, window)[..16])`, where `window` is
//! `now / lifetime` as 8 big-endian bytes and the key is 32 random bytes the host keeps in shared
//! data, so every worker issues and accepts the same nonces. A nonce is accepted in its own
//! window and the next one: it lives between one and two lifetimes. Comparison is constant-time:
//! `hmac`'s `verify_truncated_left` compares through `subtle`, the crate `clients` uses.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Bytes of the window number in a nonce.
const WINDOW_BYTES: usize = 8;
/// Bytes of the MAC kept in a nonce.
const MAC_BYTES: usize = 16;

/// The nonce for time `now` (Unix seconds).
pub fn issue(key: &[u8], now: u64, lifetime_seconds: u64) -> String {
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
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `nonce` was issued with `key` in the current window or the one before.
pub fn accepts(key: &[u8], nonce: &str, now: u64, lifetime_seconds: u64) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
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
    // Constant time: the leftmost MAC_BYTES of the MAC, as issued.
    mac(key, window).is_some_and(|mac| mac.verify_truncated_left(presented).is_ok())
}

fn mac(key: &[u8], window: u64) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(b"edge-auth dpop nonce ");
    mac.update(&window.to_be_bytes());
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    #[test]
    fn nonce_lives_one_to_two_lifetimes() {
        let nonce = issue(&KEY, 1000, 60); // window 16: 960..1019
        assert!(accepts(&KEY, &nonce, 1000, 60));
        assert!(accepts(&KEY, &nonce, 1079, 60));
        assert!(!accepts(&KEY, &nonce, 1080, 60));
        assert!(!accepts(&KEY, &nonce, 959, 60), "not before its window");
    }

    #[test]
    fn nonce_of_another_key_or_altered_is_refused() {
        let nonce = issue(&KEY, 1000, 60);
        assert!(!accepts(&[8u8; 32], &nonce, 1000, 60));
        let mut bytes = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        bytes[7] ^= 1; // another window with the same MAC
        assert!(!accepts(&KEY, &URL_SAFE_NO_PAD.encode(&bytes), 1000, 60));
        assert!(!accepts(&KEY, "not-a-nonce", 1000, 60));
        assert!(!accepts(&KEY, "", 1000, 60));
    }
}
