//! Arithmetic modulo the primes of the ECDSA curves (a field prime `p`, a group order `n`) on
//! `L` 32-bit limbs, little-endian: eight for P-256 ([`super::p256`]), twelve for P-384
//! ([`super::p384`]). [`Element`] is what the curve code ([`super::point`], [`super::ecdsa`])
//! asks of a number; `[u32; L]` is one for every `L`.
//!
//! Why 32-bit limbs: wasm32 has a native 32×32→64 multiply and no 64×64→128 one, so every
//! partial product here is one `i64.mul`. A Montgomery product is the coarsely integrated
//! operand scanning of [`crate::limbs::mont_mul`] (shared with Ed25519's scalars); a curve may
//! replace it for its field (P-256's `p` folds the reduction's multiplies away).
//!
//! Every value handed out is fully reduced (below its modulus), so equal numbers have equal
//! limbs. Only public values (keys, signatures, hashes) pass through here: nothing needs to
//! run in constant time, and nothing does.

use std::fmt::Debug;

use crate::limbs::{add_raw, mont_mul, reduce_once, sub_raw};

/// A number of the curve code: a field element or a scalar, fully reduced unless said.
pub trait Element: Copy + Eq + Debug + Send + Sync + 'static {
    /// Zero.
    const ZERO: Self;
    /// A small number.
    fn small(value: u32) -> Self;
    /// The limbs, least significant first.
    #[cfg(test)]
    fn limbs(&self) -> &[u32];
    /// The big-endian number of exactly `4L` bytes; `None` for any other length.
    fn from_be_bytes(bytes: &[u8]) -> Option<Self>;
    /// Whether `self < other`.
    fn less_than(&self, other: &Self) -> bool;
    /// Whether `self` is zero.
    fn is_zero(&self) -> bool;
    /// `self + other` and the carry out (no reduction).
    fn add_raw(&self, other: &Self) -> (Self, u32);
    /// `self - other` and the borrow out (no reduction).
    fn sub_raw(&self, other: &Self) -> (Self, u32);
    /// `self + other mod m` for both below `m`.
    fn add_mod(&self, other: &Self, m: &Self) -> Self;
    /// `self - other mod m` for both below `m`.
    fn sub_mod(&self, other: &Self, m: &Self) -> Self;
    /// A number below `2m` reduced below `m`.
    fn reduce_once(&self, m: &Self) -> Self;
    /// The Montgomery product `self * other / 2^(32L) mod m` (`m0inv = -m^-1 mod 2^32`).
    fn mont_mul(&self, other: &Self, m: &Self, m0inv: u32) -> Self;
    /// `self^exponent` in Montgomery form, with the product `mul` and its `one`.
    fn pow(&self, exponent: &Self, one: &Self, mul: fn(&Self, &Self) -> Self) -> Self;
    /// `self^-1 mod m`, plain, for `0 < self < m` and a prime `m` (zero for zero).
    fn invert_mod(&self, m: &Self) -> Self;
}

impl<const L: usize> Element for [u32; L] {
    const ZERO: Self = [0; L];

    fn small(value: u32) -> Self {
        let mut out = [0; L];
        if let Some(first) = out.first_mut() {
            *first = value;
        }
        out
    }

    #[cfg(test)]
    fn limbs(&self) -> &[u32] {
        self
    }

    fn from_be_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 4 * L {
            return None;
        }
        let mut limbs = [0; L];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks_exact(4)) {
            *limb = chunk
                .iter()
                .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte));
        }
        Some(limbs)
    }

    #[inline(always)]
    fn less_than(&self, other: &Self) -> bool {
        sub_raw(self, other).1 != 0
    }

    #[inline(always)]
    fn is_zero(&self) -> bool {
        self.iter().all(|limb| *limb == 0)
    }

    #[inline(always)]
    fn add_raw(&self, other: &Self) -> (Self, u32) {
        add_raw(self, other)
    }

    #[inline(always)]
    fn sub_raw(&self, other: &Self) -> (Self, u32) {
        sub_raw(self, other)
    }

    #[inline(always)]
    fn add_mod(&self, other: &Self, m: &Self) -> Self {
        let (sum, carry) = add_raw(self, other);
        reduce_once(&sum, carry, m)
    }

    #[inline(always)]
    fn sub_mod(&self, other: &Self, m: &Self) -> Self {
        let (difference, borrow) = sub_raw(self, other);
        if borrow != 0 {
            add_raw(&difference, m).0
        } else {
            difference
        }
    }

    #[inline(always)]
    fn reduce_once(&self, m: &Self) -> Self {
        reduce_once(self, 0, m)
    }

    #[inline(always)]
    fn mont_mul(&self, other: &Self, m: &Self, m0inv: u32) -> Self {
        mont_mul(self, other, m, m0inv)
    }

    fn pow(&self, exponent: &Self, one: &Self, mul: fn(&Self, &Self) -> Self) -> Self {
        pow(self, exponent, one, mul)
    }

    fn invert_mod(&self, m: &Self) -> Self {
        invert_binary(self, m)
    }
}

/// `base^exponent` in Montgomery form with the product `mul` and its `one`: 4-bit fixed
/// windows, most significant first (`32L − 4` squares and at most `8L` products).
fn pow<const L: usize>(
    base: &[u32; L],
    exponent: &[u32; L],
    one: &[u32; L],
    mul: fn(&[u32; L], &[u32; L]) -> [u32; L],
) -> [u32; L] {
    let mut powers = [*one; 16];
    let mut previous = *one;
    for power in powers.iter_mut().skip(1) {
        previous = mul(&previous, base);
        *power = previous;
    }
    let mut acc = *one;
    for limb in exponent.iter().rev() {
        for shift in (0..8).rev() {
            for _ in 0..4 {
                acc = mul(&acc, &acc);
            }
            let nibble = ((limb >> (4 * shift)) & 15) as usize;
            if let Some(power) = powers.get(nibble).filter(|_| nibble != 0) {
                acc = mul(&acc, power);
            }
        }
    }
    acc
}

/// `s^-1 mod n`, plain, for `0 < s < n` and an odd prime `n` (zero for `s = 0`).
///
/// Binary extended Euclid (HAC 14.61, for an odd prime modulus): about `64L` shifts and
/// subtractions of `L` limbs, a tenth of the work of Fermat's `s^(n-2)`. Its running time
/// depends on `s`, which is public (a signature's `s`).
fn invert_binary<const L: usize>(s: &[u32; L], n: &[u32; L]) -> [u32; L] {
    let one = <[u32; L]>::small(1);
    if s.is_zero() {
        return [0; L];
    }
    // Invariants: x1 * s = u and x2 * s = v (mod n); gcd(u, v) = gcd(s, n) = 1.
    let (mut u, mut v) = (*s, *n);
    let (mut x1, mut x2) = (one, [0; L]);
    // u or v reaching zero would mean gcd(s, n) > 1: impossible for a prime n and
    // 0 < s < n, but checked, so that no input can loop forever.
    while u != one && v != one && !u.is_zero() && !v.is_zero() {
        while is_even(&u) {
            u = shift_right(&u, 0);
            x1 = halve(&x1, n);
        }
        while is_even(&v) {
            v = shift_right(&v, 0);
            x2 = halve(&x2, n);
        }
        if u.less_than(&v) {
            v = sub_raw(&v, &u).0;
            x2 = x2.sub_mod(&x1, n);
        } else {
            u = sub_raw(&u, &v).0;
            x1 = x1.sub_mod(&x2, n);
        }
    }
    if u == one {
        x1
    } else {
        x2
    }
}

/// Whether `x` is even.
#[inline(always)]
fn is_even<const L: usize>(x: &[u32; L]) -> bool {
    x.first().is_none_or(|low| low & 1 == 0)
}

/// `x / 2 mod n` for `x < n`.
fn halve<const L: usize>(x: &[u32; L], n: &[u32; L]) -> [u32; L] {
    if is_even(x) {
        shift_right(x, 0)
    } else {
        let (sum, carry) = add_raw(x, n);
        shift_right(&sum, carry)
    }
}

/// `(x + top * 2^(32L)) / 2`.
fn shift_right<const L: usize>(x: &[u32; L], top: u32) -> [u32; L] {
    let mut out = [0; L];
    let mut high = top;
    for (o, &limb) in out.iter_mut().zip(x).rev() {
        *o = (limb >> 1) | (high << 31);
        high = limb & 1;
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    //! Checks every curve's arithmetic runs ([`check_curve_arithmetic`]), against slow and
    //! independent references.

    use super::super::curve::Curve;
    use super::*;

    /// A slow, independent reference: `a * b mod m` by double-and-add over the bits of `b`.
    pub(crate) fn mul_mod_slow<E: Element>(a: &E, b: &E, m: &E) -> E {
        let mut acc = E::ZERO;
        for limb in b.limbs().iter().rev() {
            for shift in (0..32).rev() {
                acc = acc.add_mod(&acc, m);
                if (limb >> shift) & 1 == 1 {
                    acc = acc.add_mod(a, m);
                }
            }
        }
        acc
    }

    /// `2^(32L) mod m` the slow way (`2^(32L) - m`, as `m > 2^(32L-1)`).
    pub(crate) fn r_mod<E: Element>(m: &E) -> E {
        E::ZERO.sub_raw(m).0
    }

    /// xorshift64*: a fixed-seed generator, so a failure repeats.
    pub(crate) struct Rng(pub(crate) u64);
    impl Rng {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
        }
        pub(crate) fn below<const L: usize>(&mut self, m: &[u32; L]) -> [u32; L] {
            loop {
                let mut x = [0; L];
                for limb in x.iter_mut() {
                    *limb = self.next();
                }
                // Edge-heavy: sometimes small, sometimes near the modulus.
                match self.next() % 8 {
                    0 => x[1..].fill(0),
                    1 => x = m.sub_raw(&<[u32; L]>::small(self.next() % 4 + 1)).0,
                    _ => {}
                }
                if x.less_than(m) {
                    return x;
                }
            }
        }
    }

    /// A curve's constants are what they claim: Montgomery's `1` and `R²` for `p` and `n`,
    /// `-n^-1 mod 2^32`.
    fn constants_are_what_they_claim<C: Curve<Limbs = [u32; L]>, const L: usize>() {
        assert_eq!(C::P_ONE, r_mod(&C::P));
        assert_eq!(C::P_R2, mul_mod_slow(&C::P_ONE, &C::P_ONE, &C::P));
        let n_one = r_mod(&C::N);
        assert_eq!(C::N_R2, mul_mod_slow(&n_one, &n_one, &C::N));
        assert_eq!(C::N[0].wrapping_mul(C::N_M0INV), u32::MAX, "-n^-1 mod 2^32");
    }

    /// Products, sums and differences against the slow reference, for `p` and for `n`.
    fn products_match_the_slow_reference<C: Curve<Limbs = [u32; L]>, const L: usize>() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            for (m, mul) in [
                (&C::P, C::mul as fn(&[u32; L], &[u32; L]) -> [u32; L]),
                (&C::N, C::scalar_mul),
            ] {
                let (a, b) = (rng.below(m), rng.below(m));
                // mont(a) * b / R = a * b.
                let a_mont = mul_mod_slow(&a, &r_mod(m), m);
                assert_eq!(mul(&a_mont, &b), mul_mod_slow(&a, &b, m));
                assert!(mul(&a, &b).less_than(m));
                assert_eq!(a.add_mod(&b, m), {
                    let (s, c) = a.add_raw(&b);
                    if c != 0 || !s.less_than(m) {
                        s.sub_raw(m).0
                    } else {
                        s
                    }
                });
                assert_eq!(a.sub_mod(&b, m).add_mod(&b, m), a);
            }
        }
    }

    /// Field inverses (Fermat) and scalar inverses (binary Euclid, against Fermat).
    fn inverses_multiply_to_one<C: Curve<Limbs = [u32; L]>, const L: usize>() {
        let mut rng = Rng(7);
        let one = <[u32; L]>::small(1);
        for _ in 0..20 {
            let a = C::to_mont(&rng.below(&C::P));
            if !a.is_zero() {
                assert_eq!(C::mul(&a, &C::invert(&a)), C::P_ONE);
            }
        }
        let edges = [
            one,
            <[u32; L]>::small(2),
            C::N.sub_raw(&one).0,
            C::N.sub_raw(&<[u32; L]>::small(2)).0,
        ];
        let n_one = r_mod(&C::N);
        let n_minus_2 = C::N.sub_raw(&<[u32; L]>::small(2)).0;
        for s in edges.into_iter().chain((0..300).map(|_| rng.below(&C::N))) {
            if s.is_zero() {
                continue;
            }
            let inverse = C::scalar_invert_to_mont(&s);
            // s * (s^-1 R) / R = 1, plain.
            assert_eq!(C::scalar_mul(&s, &inverse), one, "{s:x?}");
            // Fermat: s^(n-2), in Montgomery form.
            let s_mont = C::scalar_mul(&s, &C::N_R2);
            assert_eq!(inverse, s_mont.pow(&n_minus_2, &n_one, C::scalar_mul));
        }
        assert_eq!(C::scalar_invert_to_mont(&[0; L]), [0; L]);
    }

    /// Every check above, for one curve.
    pub(crate) fn check_curve_arithmetic<C: Curve<Limbs = [u32; L]>, const L: usize>() {
        constants_are_what_they_claim::<C, L>();
        products_match_the_slow_reference::<C, L>();
        inverses_multiply_to_one::<C, L>();
    }

    #[test]
    fn byte_parsing_is_big_endian_and_length_checked() {
        let mut bytes = [0u8; 48];
        bytes[47] = 1;
        bytes[0] = 0x80;
        let x = <[u32; 12]>::from_be_bytes(&bytes).unwrap();
        assert_eq!(x[0], 1);
        assert_eq!(x[11], 0x8000_0000);
        assert!(<[u32; 12]>::from_be_bytes(&bytes[..47]).is_none());
        assert!(<[u32; 12]>::from_be_bytes(&bytes[..32]).is_none());
        let y = <[u32; 8]>::from_be_bytes(&bytes[16..]).unwrap();
        assert_eq!((y[0], y[7]), (1, 0));
        assert!(<[u32; 8]>::from_be_bytes(&[0; 33]).is_none());
    }
}
