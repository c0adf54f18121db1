//! Scalars modulo the group order `L = 2^252 + 27742317777372353535851937790883648493`:
//! the range check of a signature's `S` and the reduction of the SHA-512 hash `k`, on eight
//! 32-bit limbs, little-endian (the order of RFC 8032's encodings), with the Montgomery product
//! and the carries of [`crate::limbs`].

use crate::limbs::{add_raw, mont_mul, sub_raw, Limbs};

/// A number below `2^256`, least significant limb first.
pub(crate) type Scalar = Limbs;

/// The order `L` of the base point.
const L: Scalar = [
    0x5cf5_d3ed,
    0x5812_631a,
    0xa2f7_9cd6,
    0x14de_f9de,
    0,
    0,
    0,
    0x1000_0000,
];
/// `−L^−1 mod 2^32`.
const L_M0INV: u32 = 0x1254_7e1b;
/// `2^256 mod L`.
const R1: Scalar = [
    0x8d98_951d,
    0xd6ec_3174,
    0x737d_cf70,
    0xc6ef_5bf4,
    0xffff_fffe,
    0xffff_ffff,
    0xffff_ffff,
    0x0fff_ffff,
];
/// `2^512 mod L`.
const R2: Scalar = [
    0x449c_0f01,
    0xa406_11e3,
    0x6885_9347,
    0xd00e_1ba7,
    0x17f5_be65,
    0xceec_73d2,
    0x7c30_9a3d,
    0x0399_411b,
];

/// 32 little-endian bytes as a number.
pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Scalar {
    let mut limbs = [0u32; 8];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(4)) {
        *limb = chunk
            .iter()
            .rev()
            .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte));
    }
    limbs
}

/// Whether `s < L`: RFC 8032 section 5.1.7 refuses any other `S`, and so does
/// `ed25519-compact` (a non-canonical `S` would make signatures malleable).
pub(crate) fn is_canonical(s: &Scalar) -> bool {
    sub_raw(s, &L).1 != 0
}

/// A 64-byte little-endian number (a SHA-512 hash) modulo `L`: its halves `lo + hi·2^256`,
/// each taken through one Montgomery product (`lo·R1/2^256 = lo`, `hi·R2/2^256 = hi·2^256`).
pub(crate) fn reduce_wide(bytes: &[u8; 64]) -> Scalar {
    let (low, high) = bytes.split_at(32);
    let (Ok(low), Ok(high)) = (<[u8; 32]>::try_from(low), <[u8; 32]>::try_from(high)) else {
        return [0; 8];
    };
    let low = mont_mul(&from_bytes(&low), &R1, &L, L_M0INV);
    let high = mont_mul(&from_bytes(&high), &R2, &L, L_M0INV);
    let (sum, carry) = add_raw(&low, &high);
    // Both below L < 2^253: no carry, and one subtraction at most.
    let (difference, borrow) = sub_raw(&sum, &L);
    if borrow != 0 && carry == 0 {
        sum
    } else {
        difference
    }
}

/// `a·b mod L` for `a, b < L` (for the tests, which make signatures).
#[cfg(test)]
pub(crate) fn mul_mod(a: &Scalar, b: &Scalar) -> Scalar {
    mont_mul(&mont_mul(a, b, &L, L_M0INV), &R2, &L, L_M0INV)
}

/// `a + b mod L` for `a, b < L` (for the tests).
#[cfg(test)]
pub(crate) fn add_mod(a: &Scalar, b: &Scalar) -> Scalar {
    let (sum, _) = add_raw(a, b);
    let (difference, borrow) = sub_raw(&sum, &L);
    if borrow != 0 {
        sum
    } else {
        difference
    }
}

/// The little-endian bytes of a number (for the tests).
#[cfg(test)]
pub(crate) fn to_bytes(a: &Scalar) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (chunk, limb) in bytes.chunks_exact_mut(4).zip(a) {
        chunk.copy_from_slice(&limb.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x mod L` the slow way: shift in the bits of x from the top, subtracting L when due.
    fn reduce_slow(bytes: &[u8]) -> Scalar {
        let mut acc = [0u32; 8];
        for byte in bytes.iter().rev() {
            for bit in (0..8).rev() {
                let (doubled, _) = add_raw(&acc, &acc);
                let mut next = doubled;
                next[0] |= u32::from((byte >> bit) & 1);
                let (reduced, borrow) = sub_raw(&next, &L);
                acc = if borrow != 0 { next } else { reduced };
            }
        }
        acc
    }

    #[test]
    fn constants_are_what_they_claim() {
        assert_eq!(L[0].wrapping_mul(L_M0INV), u32::MAX);
        let mut one_then_zeros = [0u8; 33];
        one_then_zeros[32] = 1;
        assert_eq!(R1, reduce_slow(&one_then_zeros));
        let mut r2 = [0u8; 65];
        r2[64] = 1;
        assert_eq!(R2, reduce_slow(&r2));
    }

    #[test]
    fn wide_reduction_matches_the_slow_reference() {
        let mut state = 0x5ca1_ab1e_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        };
        let mut cases = vec![[0xffu8; 64], [0u8; 64]];
        let mut l_bytes = [0u8; 64];
        for (i, limb) in L.iter().enumerate() {
            l_bytes[4 * i..4 * i + 4].copy_from_slice(&limb.to_le_bytes());
        }
        cases.push(l_bytes);
        for _ in 0..500 {
            let mut bytes = [0u8; 64];
            bytes.iter_mut().for_each(|b| *b = next());
            cases.push(bytes);
        }
        for bytes in cases {
            assert_eq!(reduce_wide(&bytes), reduce_slow(&bytes), "{bytes:02x?}");
        }
    }

    #[test]
    fn canonical_means_below_the_order() {
        let minus_one = sub_raw(&L, &[1, 0, 0, 0, 0, 0, 0, 0]).0;
        assert!(is_canonical(&minus_one));
        assert!(is_canonical(&[0; 8]));
        assert!(!is_canonical(&L));
        assert!(!is_canonical(&add_raw(&L, &[1, 0, 0, 0, 0, 0, 0, 0]).0));
        assert!(!is_canonical(&[u32::MAX; 8]));
        let mut bytes = [0u8; 32];
        bytes[0] = 0xed;
        bytes[31] = 0x10;
        assert_eq!(from_bytes(&bytes)[0], 0xed);
        assert_eq!(from_bytes(&bytes)[7], 0x1000_0000);
    }
}
