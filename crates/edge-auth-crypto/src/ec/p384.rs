//! P-384 (ES384): its constants on twelve 32-bit limbs, for the ECDSA code shared with P-256.
//!
//! Both of its moduli use the generic Montgomery product of [`crate::limbs::mont_mul`]: `p`'s
//! `-p^-1 mod 2^32` is 1, so the compiler drops that multiply, and its limbs of 0 and
//! 2^32 − 1 fold some more. No product shaped by `p` as P-256 has: ES384 is rare among
//! issuers, and the tables ([`super::table`]) already make a check cheaper than RustCrypto
//! `p384`'s, which this replaced (docs/performance.md).

use std::sync::OnceLock;

use sha2::Sha384;

use super::curve::Curve;
use super::modular::Element;
use super::table::Table;
use crate::limbs::{mont_mul, signed_digits};

/// A 384-bit number, least significant limb first.
type Limbs = [u32; 12];

/// The curve P-384 (FIPS 186-5, SEC 2 `secp384r1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct P384;

impl Curve for P384 {
    type Limbs = Limbs;
    type Digits = [i8; 77];
    type Hash = Sha384;

    /// `p = 2^384 − 2^128 − 2^96 + 2^32 − 1`.
    const P: Limbs = [
        0xffff_ffff,
        0,
        0,
        0xffff_ffff,
        0xffff_fffe,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ];
    const P_ONE: Limbs = [1, 0xffff_ffff, 0xffff_ffff, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    const P_R2: Limbs = [1, 0xffff_fffe, 0, 2, 0, 0xffff_fffe, 0, 2, 1, 0, 0, 0];
    const N: Limbs = [
        0xccc5_2973,
        0xecec_196a,
        0x48b0_a77a,
        0x581a_0db2,
        0xf437_2ddf,
        0xc763_4d81,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
        0xffff_ffff,
    ];
    const N_M0INV: u32 = 0xe88f_dc45;
    const N_R2: Limbs = [
        0x19b4_09a9,
        0x2d31_9b24,
        0xdf1a_a419,
        0xff3d_81e5,
        0xfcb8_2947,
        0xbc3e_483a,
        0x4aab_1cc5,
        0xd40d_4917,
        0x2826_6895,
        0x3fb0_5b7a,
        0x2b39_bf21,
        0x0c84_ee01,
    ];
    const B: Limbs = [
        0xd3ec_2aef,
        0x2a85_c8ed,
        0x8a2e_d19d,
        0xc656_398d,
        0x5013_875a,
        0x0314_088f,
        0xfe81_4112,
        0x181d_9c6e,
        0xe3f8_2d19,
        0x988e_056b,
        0xe23e_e7e4,
        0xb331_2fa7,
    ];
    const GX: Limbs = [
        0x7276_0ab7,
        0x3a54_5e38,
        0xbf55_296c,
        0x5502_f25d,
        0x8254_2a38,
        0x59f7_41e0,
        0x8ba7_9b98,
        0x6e1d_3b62,
        0xf320_ad74,
        0x8eb1_c71e,
        0xbe8b_0537,
        0xaa87_ca22,
    ];
    const GY: Limbs = [
        0x90ea_0e5f,
        0x7a43_1d7c,
        0x1d7e_819d,
        0x0a60_b1ce,
        0xb5f0_b8c0,
        0xe9da_3113,
        0x289a_147c,
        0xf8f4_1dbd,
        0x9292_dc29,
        0x5d9e_98bf,
        0x9626_2c6f,
        0x3617_de4a,
    ];
    /// 77 windows of 5 bits: 384 bits and the recoding's carry.
    const WINDOWS: usize = 77;

    /// The generic Montgomery product (`-p^-1 mod 2^32 = 1`).
    #[inline(never)]
    fn mul(a: &Limbs, b: &Limbs) -> Limbs {
        mont_mul(a, b, &Self::P, 1)
    }

    /// Out of line, unlike P-256's (the default): twelve-limb sums inlined in every point
    /// formula made the `.wasm` about 20 KB larger, for a few percent of a check.
    #[inline(never)]
    fn add(a: &Limbs, b: &Limbs) -> Limbs {
        a.add_mod(b, &Self::P)
    }

    #[inline(never)]
    fn sub(a: &Limbs, b: &Limbs) -> Limbs {
        a.sub_mod(b, &Self::P)
    }

    fn digits(k: &Limbs) -> [i8; 77] {
        signed_digits::<77>(k)
    }

    fn generator_cell() -> &'static OnceLock<Option<Table<P384>>> {
        static TABLE: OnceLock<Option<Table<P384>>> = OnceLock::new();
        &TABLE
    }
}

#[cfg(test)]
mod tests {
    use super::super::modular::tests::check_curve_arithmetic;
    use super::*;

    #[test]
    fn arithmetic_matches_the_slow_references() {
        check_curve_arithmetic::<P384, 12>();
        assert_eq!(P384::P[0].wrapping_mul(1), u32::MAX, "-p^-1 mod 2^32");
    }
}
