//! P-256 (ES256): its constants on eight 32-bit limbs, and a field product shaped by its prime.
//!
//! `p = 2^256 − 2^224 + 2^192 + 2^96 − 1` has `-p^-1 mod 2^32 = 1` and limbs that are 0, 1 and
//! 2^32 − 1, so the Montgomery reduction needs no multiply at all ([`P256::mul`]): ES256 first
//! sight is a bench target, and this product is most of it. Scalars (modulo `n`) use the
//! generic Montgomery product of [`crate::limbs::mont_mul`].

use std::sync::OnceLock;

use sha2::Sha256;

use super::curve::Curve;
use super::table::Table;
use crate::limbs::{reduce_once, signed_digits, Limbs, ZERO};

/// The curve P-256 (FIPS 186-5, SEC 2 `secp256r1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct P256;

impl Curve for P256 {
    type Limbs = Limbs;
    type Digits = [i8; 52];
    type Hash = Sha256;

    /// `p = 2^256 − 2^224 + 2^192 + 2^96 − 1`.
    const P: Limbs = [
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0,
        0,
        0,
        1,
        0xffff_ffff,
    ];
    const P_ONE: Limbs = [
        1,
        0,
        0,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_fffe,
        0,
    ];
    const P_R2: Limbs = [
        3,
        0,
        0xffff_ffff,
        0xffff_fffb,
        0xffff_fffe,
        0xffff_ffff,
        0xffff_fffd,
        4,
    ];
    const N: Limbs = [
        0xfc63_2551,
        0xf3b9_cac2,
        0xa717_9e84,
        0xbce6_faad,
        0xffff_ffff,
        0xffff_ffff,
        0,
        0xffff_ffff,
    ];
    const N_M0INV: u32 = 0xee00_bc4f;
    const N_R2: Limbs = [
        0xbe79_eea2,
        0x8324_4c95,
        0x49bd_6fa6,
        0x4699_799c,
        0x2b6b_ec59,
        0x2845_b239,
        0xf3d9_5620,
        0x66e1_2d94,
    ];
    const B: Limbs = [
        0x27d2_604b,
        0x3bce_3c3e,
        0xcc53_b0f6,
        0x651d_06b0,
        0x7698_86bc,
        0xb3eb_bd55,
        0xaa3a_93e7,
        0x5ac6_35d8,
    ];
    const GX: Limbs = [
        0xd898_c296,
        0xf4a1_3945,
        0x2deb_33a0,
        0x7703_7d81,
        0x63a4_40f2,
        0xf8bc_e6e5,
        0xe12c_4247,
        0x6b17_d1f2,
    ];
    const GY: Limbs = [
        0x37bf_51f5,
        0xcbb6_4068,
        0x6b31_5ece,
        0x2bce_3357,
        0x7c0f_9e16,
        0x8ee7_eb4a,
        0xfe1a_7f9b,
        0x4fe3_42e2,
    ];
    /// 52 windows of 5 bits: 256 bits and the recoding's carry.
    const WINDOWS: usize = 52;

    /// Montgomery product: the 512-bit product, then a Montgomery reduction that uses the
    /// shape of `p` instead of multiplies. With `-p^-1 mod 2^32 = 1`, the multiple of `p` that
    /// clears word `i` is `q = word i`, and `q·p = q·2^256 − q·2^224 + q·2^192 + q·2^96 − q`
    /// only adds or subtracts `q` at words `i+3`, `i+6`, `i+7` and `i+8` (the `−q` at word
    /// `i` clears it). Signed 64-bit words hold the pending sums; each word's carry moves up
    /// before the word is used.
    #[inline(never)]
    fn mul(a: &Limbs, b: &Limbs) -> Limbs {
        let mut product = [0u32; 16];
        for (i, &ai) in a.iter().enumerate() {
            let ai = u64::from(ai);
            let Some(row) = product.get_mut(i..i + 9) else {
                continue;
            };
            let mut carry = 0u64;
            for (p, &bj) in row.iter_mut().zip(b) {
                let sum = u64::from(*p) + ai * u64::from(bj) + carry;
                *p = sum as u32;
                carry = sum >> 32;
            }
            if let Some(last) = row.last_mut() {
                *last = carry as u32;
            }
        }
        let mut words = [0i64; 17];
        for (w, &p) in words.iter_mut().zip(&product) {
            *w = i64::from(p);
        }
        for i in 0..8 {
            if let Some([w0, w1, _, w3, _, _, w6, w7, w8]) = words.get_mut(i..i + 9) {
                let q = *w0 & 0xffff_ffff;
                *w1 += *w0 >> 32;
                *w3 += q;
                *w6 += q;
                *w7 -= q;
                *w8 += q;
            }
        }
        let mut out = ZERO;
        let mut carry = 0i64;
        for (o, &w) in out.iter_mut().zip(words.iter().skip(8)) {
            let v = w + carry;
            *o = (v & 0xffff_ffff) as u32;
            carry = v >> 32;
        }
        let top = words[16] + carry;
        reduce_once(&out, top as u32, &Self::P)
    }

    fn digits(k: &Limbs) -> [i8; 52] {
        signed_digits::<52>(k)
    }

    fn generator_cell() -> &'static OnceLock<Option<Table<P256>>> {
        static TABLE: OnceLock<Option<Table<P256>>> = OnceLock::new();
        &TABLE
    }
}

#[cfg(test)]
mod tests {
    use super::super::modular::tests::{check_curve_arithmetic, Rng};
    use super::super::modular::Element;
    use super::*;
    use crate::limbs::{mont_mul, sub_raw};

    /// The generic Montgomery product with `p`: the reference [`P256::mul`] is tested against.
    fn mul_generic(a: &Limbs, b: &Limbs) -> Limbs {
        mont_mul(a, b, &P256::P, 1)
    }

    #[test]
    fn arithmetic_matches_the_slow_references() {
        check_curve_arithmetic::<P256, 8>();
        assert_eq!(P256::P[0].wrapping_mul(1), u32::MAX, "-p^-1 mod 2^32");
    }

    #[test]
    fn the_shaped_field_product_matches_the_generic_one() {
        let mut rng = Rng(13);
        let max = sub_raw(&P256::P, &Limbs::small(1)).0;
        for (a, b) in [
            (max, max),
            (max, ZERO),
            (P256::P_ONE, max),
            (max, Limbs::small(1)),
        ] {
            assert_eq!(P256::mul(&a, &b), mul_generic(&a, &b));
        }
        for _ in 0..20000 {
            let (a, b) = (rng.below(&P256::P), rng.below(&P256::P));
            assert_eq!(P256::mul(&a, &b), mul_generic(&a, &b), "{a:x?} {b:x?}");
        }
    }
}
