//! ES256 and ES384 verification: ECDSA over P-256 with SHA-256 and over P-384 with SHA-384
//! (RFC 7518 section 3.4, FIPS 186-5 section 6.4.2), on this module's own arithmetic, one code
//! for both curves ([`Key`] over [`Curve`]). [`P256VerifyingKey`] is a concrete type, compiled
//! here at opt-level 3; [`P384VerifyingKey`] is the generic one, compiled by its user (the
//! filter) for size.
//!
//! A check is `R = u1·G + u2·Q` with `u1 = e/s`, `u2 = r/s` (mod `n`), accepted when `R` is
//! not infinity and its x-coordinate is `r` modulo `n`. Both products come from precomputed
//! tables ([`super::table`]): the generator's, shared, and the key's, built with an issuer's
//! key set. The cost per check is one inversion modulo `n` and about 100 mixed additions (154
//! for P-384), no doubling. A key without its table (used once) pays 256 doublings (384) for
//! `u2·Q` instead.
//!
//! What is refused, as RustCrypto `p256` and `p384` refuse it (the differential tests hold
//! them together): a signature that is not exactly 64 or 96 bytes (`r || s`, big-endian), `r`
//! or `s` zero or not below `n`. A high `s` (above `n/2`) is accepted, as both crates and
//! RFC 7518 do. The hash has as many bits as `n` on both curves, so FIPS 186-5's "leftmost
//! bits" are all of it, and reducing it modulo `n` takes at most one subtraction.

use std::sync::Arc;

use sha2::Digest;

use super::curve::Curve;
use super::modular::Element;
use super::p256::P256;
use super::p384::P384;
use super::point::{Affine, Jacobian};
use super::table::{multiply, Table};

/// A P-256 public key, for ES256 (64-byte signatures, SHA-256); its table is 52 KiB. A type
/// of its own, not generic, with its methods out of line, so that its code is compiled here,
/// in this crate built at opt-level 3: ES256 first sight is a bench target.
#[derive(Clone, Debug)]
pub struct P256VerifyingKey(Key<P256>);

impl P256VerifyingKey {
    /// Memory the table of one key holds, in bytes.
    pub const TABLE_BYTES: usize = Key::<P256>::TABLE_BYTES;

    /// [`Key::from_coordinates`].
    #[inline(never)]
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Option<P256VerifyingKey> {
        Key::from_coordinates(x, y).map(P256VerifyingKey)
    }

    /// [`Key::with_table`].
    #[inline(never)]
    pub fn with_table(self) -> P256VerifyingKey {
        P256VerifyingKey(self.0.with_table())
    }

    /// Whether the key carries its table.
    pub fn has_table(&self) -> bool {
        self.0.has_table()
    }

    /// [`Key::verify`].
    #[inline(never)]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.0.verify(message, signature)
    }
}

/// A P-384 public key, for ES384 (96-byte signatures, SHA-384); its table is 115.5 KiB.
///
/// The generic type itself, so that its check is compiled by the crate that uses it, the
/// filter, built for size (opt-level "s"): the P-384 code at opt-level 3 was about 22 KB of the
/// `.wasm` against about 15 KB, and no faster in V8 (bench/ecprobe, one run each way: 295–308
/// against 291–342 µs per check, RustCrypto `p384` 2.3–2.9 ms; docs/performance.md). Only the
/// curve's own functions (its field product, sum and difference) are compiled here, at 3.
pub type P384VerifyingKey = Key<P384>;

/// A public key ready to verify ECDSA signatures, with or without its table of multiples:
/// [`Key::with_table`] is for keys that verify many tokens (an issuer's, built when its key
/// set is loaded); a key used once (a DPoP proof's) is cheaper without.
#[derive(Debug)]
pub struct Key<C: Curve> {
    point: Affine<C>,
    /// Shared by the clones of a key set, never copied.
    table: Option<Arc<Table<C>>>,
}

impl<C: Curve> Clone for Key<C> {
    fn clone(&self) -> Self {
        Key {
            point: self.point,
            table: self.table.clone(),
        }
    }
}

impl<C: Curve> Key<C> {
    /// Memory the table of one key holds, in bytes.
    pub const TABLE_BYTES: usize = Table::<C>::BYTES;

    /// The key with these big-endian affine coordinates (JWK `x` and `y`), or `None` if either
    /// is not 32 (P-256) or 48 (P-384) bytes, not below `p`, or the point is not on the curve.
    /// No table yet.
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Option<Key<C>> {
        Some(Key {
            point: Affine::from_coordinates(x, y)?,
            table: None,
        })
    }

    /// The same key with its table built (and, the first time in a process, the generator's):
    /// each check then costs about a third of a check without.
    pub fn with_table(self) -> Key<C> {
        if self.table.is_some() || C::generator_table().is_none() {
            return self;
        }
        let table = Table::new(&self.point).map(Arc::new);
        Key { table, ..self }
    }

    /// Whether the key carries its table.
    pub fn has_table(&self) -> bool {
        self.table.is_some()
    }

    /// Whether `signature` (`r || s`, 64 bytes for P-256, 96 for P-384) is this key's
    /// ES256/ES384 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        // Halves of any length but 4L bytes each are refused by the parsing.
        let (r_bytes, s_bytes) = signature.split_at(signature.len() / 2);
        let (Some(r), Some(s)) = (
            C::Limbs::from_be_bytes(r_bytes),
            C::Limbs::from_be_bytes(s_bytes),
        ) else {
            return false;
        };
        if !in_scalar_range::<C>(&r) || !in_scalar_range::<C>(&s) {
            return false;
        }
        let Some(hash) = C::Limbs::from_be_bytes(&C::Hash::digest(message)) else {
            return false;
        };
        // The hash has as many bits as n (n > 2^(32L−1)), so it is below 2n.
        let e = hash.reduce_once(&C::N);
        let s_inv = C::scalar_invert_to_mont(&s);
        let u1 = C::scalar_mul(&e, &s_inv);
        let u2 = C::scalar_mul(&r, &s_inv);
        let Some(generator) = C::generator_table() else {
            return false;
        };
        let mut sum = match &self.table {
            Some(table) => {
                let mut sum = Jacobian::INFINITY;
                if !table.add_multiple(&mut sum, &u2) {
                    return false;
                }
                sum
            }
            None => multiply(&self.point, &u2),
        };
        if !generator.add_multiple(&mut sum, &u1) {
            return false;
        }
        x_matches(&sum, &r)
    }
}

/// Whether `0 < k < n`.
fn in_scalar_range<C: Curve>(k: &C::Limbs) -> bool {
    !k.is_zero() && k.less_than(&C::N)
}

/// Whether `R`'s affine x-coordinate (below `p`) is `r` modulo `n`: it is `r`, or `r + n`
/// when that is still below `p`. False for infinity.
fn x_matches<C: Curve>(point: &Jacobian<C>, r: &C::Limbs) -> bool {
    if point.has_x(r) {
        return true;
    }
    let (r_plus_n, carry) = r.add_raw(&C::N);
    carry == 0 && r_plus_n.less_than(&C::P) && point.has_x(&r_plus_n)
}
