//! ES256 verification: ECDSA over P-256 with SHA-256 (RFC 7518 section 3.4, FIPS 186-5
//! section 6.4.2), on this module's own arithmetic.
//!
//! A check is `R = u1·G + u2·Q` with `u1 = e/s`, `u2 = r/s` (mod `n`), accepted when `R` is
//! not infinity and its x-coordinate is `r` modulo `n`. Both products come from precomputed
//! tables ([`super::table`]): the generator's, shared, and the key's, built with an issuer's
//! key set. The cost per check is one inversion modulo `n` and about 100 mixed additions, no
//! doubling. A key without its table (used once) pays 256 doublings for `u2·Q` instead.
//!
//! What is refused, as RustCrypto `p256` refuses it (the differential tests hold the two
//! together): a signature that is not exactly 64 bytes (`r || s`, big-endian), `r` or `s`
//! zero or not below `n`. A high `s` (above `n/2`) is accepted, as `p256` and RFC 7518 do.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::modular::{add_raw, fn_, from_be_bytes, is_zero, less_than, Limbs, N, P};
use super::point::{Affine, Jacobian};
use super::table::{generator_table, multiply, Table, TABLE_BYTES};

/// A P-256 public key ready to verify ES256 signatures, with or without its table of
/// multiples: [`P256VerifyingKey::with_table`] is for keys that verify many tokens (an issuer's,
/// built when its key set is loaded); a key used once (a DPoP proof's) is cheaper without.
#[derive(Clone, Debug)]
pub struct P256VerifyingKey {
    point: Affine,
    /// Shared by the clones of a key set, never copied.
    table: Option<Arc<Table>>,
}

impl P256VerifyingKey {
    /// Memory the table of one key holds, in bytes (52 KiB).
    pub const TABLE_BYTES: usize = TABLE_BYTES;

    /// The key with these big-endian affine coordinates (JWK `x` and `y`), or `None` if either
    /// is not 32 bytes, not below `p`, or the point is not on the curve. No table yet.
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Option<P256VerifyingKey> {
        Some(P256VerifyingKey {
            point: Affine::from_coordinates(x, y)?,
            table: None,
        })
    }

    /// The same key with its table built (and, the first time in a process, the generator's):
    /// each check then costs about a third of a check without.
    pub fn with_table(self) -> P256VerifyingKey {
        if self.table.is_some() || generator_table().is_none() {
            return self;
        }
        let table = Table::new(&self.point).map(Arc::new);
        P256VerifyingKey { table, ..self }
    }

    /// Whether the key carries its table.
    pub fn has_table(&self) -> bool {
        self.table.is_some()
    }

    /// Whether `signature` (`r || s`, 64 bytes) is this key's ES256 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != 64 {
            return false;
        }
        let (r_bytes, s_bytes) = signature.split_at(32);
        let (Some(r), Some(s)) = (from_be_bytes(r_bytes), from_be_bytes(s_bytes)) else {
            return false;
        };
        if !in_scalar_range(&r) || !in_scalar_range(&s) {
            return false;
        }
        let Some(hash) = from_be_bytes(&Sha256::digest(message)) else {
            return false;
        };
        // The hash has as many bits as n, so reducing it takes at most one subtraction.
        let e = fn_::reduce(&hash);
        let s_inv = fn_::invert_to_mont(&s);
        let u1 = fn_::mul(&e, &s_inv);
        let u2 = fn_::mul(&r, &s_inv);
        let Some(generator) = generator_table() else {
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
fn in_scalar_range(k: &Limbs) -> bool {
    !is_zero(k) && less_than(k, &N)
}

/// Whether `R`'s affine x-coordinate (below `p`) is `r` modulo `n`: it is `r`, or `r + n`
/// when that is still below `p`. False for infinity.
fn x_matches(point: &Jacobian, r: &Limbs) -> bool {
    if point.has_x(r) {
        return true;
    }
    let (r_plus_n, carry) = add_raw(r, &N);
    carry == 0 && less_than(&r_plus_n, &P) && point.has_x(&r_plus_n)
}
