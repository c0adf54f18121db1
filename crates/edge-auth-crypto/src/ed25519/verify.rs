//! EdDSA verification with Ed25519 (RFC 8032 section 5.1.7), accepting exactly what
//! `ed25519-compact` 2.6 accepts, the verifier this one replaces.
//!
//! A signature `R ‖ S` of message `M` under key `A` is accepted when:
//! - it is 64 bytes, and `S < L` (a canonical scalar);
//! - `A` and `R` are canonical encodings (`y < p`; no `x = 0` with the sign bit set) of
//!   points of the curve, neither of small order (a divisor of 8);
//! - `8·(S·B − k·A − R)` is the identity, with `k = SHA-512(R ‖ A ‖ M) mod L`: the cofactored
//!   equation, as `ed25519-compact` checks it (so `R` off by a torsion point is accepted, as
//!   it is there).
//!
//! `S·B` comes from the base point's table ([`super::table`]), shared; `k·(−A)` from the
//! key's table, built with an issuer's key set. A check then costs one square root (decoding
//! `R`), about 100 mixed additions and four doublings; no inversion, since the last test is
//! whether `4·(S·B − k·A − R)` has `x = 0`. A key without its table (used once) pays 255
//! doublings for `k·(−A)` instead.
//!
//! One difference from `ed25519-compact`, which decodes and checks `A` on every call: here
//! `A` is decoded once, when the key is made. A key whose 32 bytes are not such a point is
//! still made (as `ed25519-compact`'s `PublicKey::from_slice` makes it), and verifies nothing.

use std::sync::Arc;

use sha2::{Digest, Sha512};

use super::point::Point;
use super::scalar;
use super::table::{base_table, multiply, Table, TABLE_BYTES};

/// An Ed25519 public key ready to verify EdDSA signatures, with or without its table of
/// multiples: [`Ed25519VerifyingKey::with_table`] is for keys that verify many tokens (an
/// issuer's, built when its key set is loaded); a key used once (a DPoP proof's) is cheaper
/// without.
#[derive(Clone, Debug)]
pub struct Ed25519VerifyingKey {
    /// The key as published: it is hashed into every check.
    encoded: [u8; 32],
    /// `−A`, or `None` when `encoded` is not a canonical point of large order.
    minus_a: Option<Point>,
    /// The multiples of `−A`; shared by the clones of a key set, never copied.
    table: Option<Arc<Table>>,
}

impl Ed25519VerifyingKey {
    /// Memory the table of one key holds, in bytes (95.6 KiB); the base point's table, one per
    /// worker, is the same size.
    pub const TABLE_BYTES: usize = TABLE_BYTES;

    /// The key encoded in these bytes (a JWK's `x`), or `None` if they are not 32. Like
    /// `ed25519-compact`'s `PublicKey::from_slice`, nothing else is refused here: a key that
    /// is not a canonical point of large order ([`Ed25519VerifyingKey::is_usable`]) verifies
    /// no signature. No table yet.
    pub fn from_bytes(bytes: &[u8]) -> Option<Ed25519VerifyingKey> {
        let encoded = <[u8; 32]>::try_from(bytes).ok()?;
        let minus_a = Point::decode(&encoded)
            .filter(|a| !a.has_small_order())
            .map(|a| a.neg());
        Some(Ed25519VerifyingKey {
            encoded,
            minus_a,
            table: None,
        })
    }

    /// The same key with its table built (and, the first time in a process, the base
    /// point's): each check then costs about a third of a check without.
    pub fn with_table(self) -> Ed25519VerifyingKey {
        let Some(minus_a) = &self.minus_a else {
            return self;
        };
        if self.table.is_some() || base_table().is_none() {
            return self;
        }
        let table = Table::new(minus_a).map(Arc::new);
        Ed25519VerifyingKey { table, ..self }
    }

    /// Whether the key carries its table.
    pub fn has_table(&self) -> bool {
        self.table.is_some()
    }

    /// Whether the key is a canonical encoding of a point of large order, so that it can
    /// verify anything at all.
    pub fn is_usable(&self) -> bool {
        self.minus_a.is_some()
    }

    /// Whether `signature` (`R ‖ S`, 64 bytes) is this key's Ed25519 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        let (r_bytes, s_bytes) = signature.split_at(32);
        let (Ok(r_bytes), Ok(s_bytes)) =
            (<[u8; 32]>::try_from(r_bytes), <[u8; 32]>::try_from(s_bytes))
        else {
            return false;
        };
        let s = scalar::from_bytes(&s_bytes);
        if !scalar::is_canonical(&s) {
            return false;
        }
        let Some(minus_a) = &self.minus_a else {
            return false;
        };
        let Some(r) = Point::decode(&r_bytes).filter(|r| !r.has_small_order()) else {
            return false;
        };
        let mut hash = Sha512::new();
        hash.update(r_bytes);
        hash.update(self.encoded);
        hash.update(message);
        let k = scalar::reduce_wide(&hash.finalize().into());
        let Some(base) = base_table() else {
            return false;
        };
        // k·(−A), then + S·B.
        let mut sum = match &self.table {
            Some(table) => {
                let mut sum = Point::IDENTITY;
                if !table.add_multiple(&mut sum, &k) {
                    return false;
                }
                sum
            }
            None => multiply(minus_a, &k),
        };
        if !base.add_multiple(&mut sum, &s) {
            return false;
        }
        sum.add_cached(&r.cached().neg()).has_small_order()
    }
}

/// Torsion cases, made with this module's own point arithmetic and judged by
/// `ed25519-compact`: the two verifiers must agree, and these are the inputs on which the
/// cofactored equation differs from the cofactorless one.
#[cfg(test)]
mod tests {
    use super::super::scalar::{add_mod, from_bytes, mul_mod, reduce_wide, to_bytes, Scalar};
    use super::*;

    /// The eight points of order dividing 8, from one of order 8.
    fn torsion() -> Vec<Point> {
        let mut t8 = [0u8; 32];
        for (i, byte) in t8.iter_mut().enumerate() {
            *byte = u8::from_str_radix(
                &"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"
                    [2 * i..2 * i + 2],
                16,
            )
            .unwrap();
        }
        let t = Point::decode(&t8).unwrap();
        let mut points = vec![Point::IDENTITY];
        for _ in 1..8 {
            let last = *points.last().unwrap();
            points.push(last.add_cached(&t.cached()));
        }
        assert!(points.iter().all(|p| p.has_small_order()));
        assert!(points[7].add_cached(&t.cached()).equals(&Point::IDENTITY));
        points
    }

    fn hash_scalar(r: &[u8; 32], key: &[u8; 32], message: &[u8]) -> Scalar {
        let mut hash = Sha512::new();
        hash.update(r);
        hash.update(key);
        hash.update(message);
        reduce_wide(&hash.finalize().into())
    }

    /// Ours with and without the table, and `ed25519-compact`: all three agree; the answer.
    fn verdict(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        let reference = ed25519_compact::PublicKey::new(*key)
            .verify(message, &ed25519_compact::Signature::new(*signature))
            .is_ok();
        let untabled = Ed25519VerifyingKey::from_bytes(key).unwrap();
        let tabled = untabled.clone().with_table();
        assert_eq!(untabled.verify(message, signature), reference, "untabled");
        assert_eq!(tabled.verify(message, signature), reference, "tabled");
        reference
    }

    fn signature(r: &[u8; 32], s: &Scalar) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(r);
        out[32..].copy_from_slice(&to_bytes(s));
        out
    }

    #[test]
    fn torsion_in_r_or_in_the_key_is_judged_like_ed25519_compact() {
        let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
        // The secret scalar a (clamped hash of the seed), reduced; the nonce is a itself, so
        // the honest R is A.
        let mut wide = [0u8; 64];
        wide[..32].copy_from_slice(&Sha512::digest([7u8; 32])[..32]);
        wide[0] &= 248;
        wide[31] = (wide[31] & 127) | 64;
        let a = reduce_wide(&wide);
        let a_point = Point::decode(&pair.pk).unwrap();
        assert!(super::super::table::multiply(
            &Point::decode(&super::super::point::BASE_ENCODED).unwrap(),
            &a
        )
        .equals(&a_point));
        let message = b"torsion";
        let honest = signature(
            &pair.pk,
            &add_mod(&a, &mul_mod(&hash_scalar(&pair.pk, &pair.pk, message), &a)),
        );
        assert!(verdict(&pair.pk, message, &honest));
        let mut mixed_accepted = 0;
        for (i, t) in torsion().iter().enumerate() {
            // R + T: S·B − k·A − R' = −T, torsion: accepted (cofactored).
            let r = a_point.add_cached(&t.cached()).encode();
            let s = add_mod(&a, &mul_mod(&hash_scalar(&r, &pair.pk, message), &a));
            assert!(verdict(&pair.pk, message, &signature(&r, &s)), "R + T{i}");
            // A key with a torsion part, A + T: S·B − k·(A + T) − A = −k·T: accepted too.
            let key = a_point.add_cached(&t.cached()).encode();
            let k = hash_scalar(&pair.pk, &key, message);
            let s = add_mod(&a, &mul_mod(&k, &a));
            if verdict(&key, message, &signature(&pair.pk, &s)) {
                mixed_accepted += 1;
            }
            // R = T alone satisfies the equation with S = k·a, and is refused (small order).
            let r = t.encode();
            let s = mul_mod(&hash_scalar(&r, &pair.pk, message), &a);
            assert!(!verdict(&pair.pk, message, &signature(&r, &s)), "R = T{i}");
            // The key T: small order, refused whatever the signature (R = identity, S = 0).
            let mut forged = [0u8; 64];
            forged[0] = 1;
            assert!(!verdict(&t.encode(), message, &forged), "key T{i}");
            assert!(!Ed25519VerifyingKey::from_bytes(&t.encode())
                .unwrap()
                .is_usable());
        }
        assert_eq!(mixed_accepted, 8);
        assert_eq!(from_bytes(&to_bytes(&a)), a);
    }
}
