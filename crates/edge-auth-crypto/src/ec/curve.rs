//! What a short Weierstrass curve with `a = −3` brings to the shared ECDSA code: its numbers'
//! width, its constants, its field product, its hash and its generator's table. P-256
//! ([`super::p256`]) and P-384 ([`super::p384`]) implement [`Curve`]; [`super::point`],
//! [`super::table`] and [`super::ecdsa`] are written once over it, and the compiler makes one
//! copy of them per curve, with the curve's constants folded in.

use std::fmt::Debug;
use std::sync::OnceLock;

use sha2::Digest;

use super::modular::Element;
use super::point::Affine;
use super::table::Table;

/// A curve `y² = x³ − 3x + b` over the field of a prime `p`, with a generator of prime order
/// `n`. Field elements are in Montgomery form (`x·2^(32L) mod p`) unless said to be plain.
pub trait Curve: Copy + Debug + Eq + Send + Sync + 'static {
    /// A field element or a scalar: `L` 32-bit limbs.
    type Limbs: Element;
    /// A scalar's signed base-32 digits, one per window of the tables.
    type Digits: AsRef<[i8]>;
    /// The hash of the curve's ECDSA in JWS (SHA-256 for ES256, SHA-384 for ES384).
    type Hash: Digest;
    /// The field prime `p`.
    const P: Self::Limbs;
    /// `2^(32L) mod p`: one, in Montgomery form.
    const P_ONE: Self::Limbs;
    /// `2^(64L) mod p`: one Montgomery product with it puts a number into Montgomery form.
    const P_R2: Self::Limbs;
    /// The group order `n`.
    const N: Self::Limbs;
    /// `-n^-1 mod 2^32`.
    const N_M0INV: u32;
    /// `2^(64L) mod n`.
    const N_R2: Self::Limbs;
    /// The curve constant `b`, plain.
    const B: Self::Limbs;
    /// The generator's coordinates, plain.
    const GX: Self::Limbs;
    const GY: Self::Limbs;
    /// Windows of 5 bits covering a scalar plus the carry of the signed recoding.
    const WINDOWS: usize;

    /// The field's Montgomery product.
    fn mul(a: &Self::Limbs, b: &Self::Limbs) -> Self::Limbs;

    /// `k`'s signed base-32 digits ([`crate::limbs::signed_digits`]), `WINDOWS` of them.
    fn digits(k: &Self::Limbs) -> Self::Digits;

    /// Where the generator's table is kept: a `static` of the curve's own.
    fn generator_cell() -> &'static OnceLock<Option<Table<Self>>>;

    /// The generator's table, built once per process (per Envoy worker) on first use. Generic,
    /// so compiled where it is used: P-384's by the filter, for size (`super::ecdsa`).
    fn generator_table() -> Option<&'static Table<Self>> {
        Self::generator_cell()
            .get_or_init(|| Table::new(&Affine::generator()))
            .as_ref()
    }

    /// Montgomery square.
    fn sqr(a: &Self::Limbs) -> Self::Limbs {
        Self::mul(a, a)
    }

    /// `a + b mod p`.
    fn add(a: &Self::Limbs, b: &Self::Limbs) -> Self::Limbs {
        a.add_mod(b, &Self::P)
    }

    /// `a - b mod p`.
    fn sub(a: &Self::Limbs, b: &Self::Limbs) -> Self::Limbs {
        a.sub_mod(b, &Self::P)
    }

    /// `-a mod p`.
    fn neg(a: &Self::Limbs) -> Self::Limbs {
        Self::Limbs::ZERO.sub_mod(a, &Self::P)
    }

    /// A number below `p` into Montgomery form.
    fn to_mont(a: &Self::Limbs) -> Self::Limbs {
        Self::mul(a, &Self::P_R2)
    }

    /// `a^-1` (Fermat: `a^(p-2)`); zero stays zero.
    fn invert(a: &Self::Limbs) -> Self::Limbs {
        let exponent = Self::P.sub_raw(&Self::Limbs::small(2)).0;
        a.pow(&exponent, &Self::P_ONE, Self::mul)
    }

    /// The Montgomery product modulo `n`.
    #[inline(never)]
    fn scalar_mul(a: &Self::Limbs, b: &Self::Limbs) -> Self::Limbs {
        a.mont_mul(b, &Self::N, Self::N_M0INV)
    }

    /// `s^-1` for a plain (not Montgomery) `0 < s < n`, in Montgomery form: a Montgomery
    /// product of a plain number with it is the plain product `x * s^-1 mod n`.
    fn scalar_invert_to_mont(s: &Self::Limbs) -> Self::Limbs {
        Self::scalar_mul(&s.invert_mod(&Self::N), &Self::N_R2)
    }
}
