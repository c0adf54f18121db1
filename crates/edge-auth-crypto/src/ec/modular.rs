//! Arithmetic modulo the two 256-bit primes of P-256 (the field prime `p` and the group order
//! `n`), in Montgomery form on eight 32-bit limbs, little-endian.
//!
//! Why 32-bit limbs: wasm32 has a native 32×32→64 multiply and no 64×64→128 one, so every
//! partial product here is one `i64.mul`. A Montgomery product is the coarsely integrated
//! operand scanning of [`mont_mul`] (shared with Ed25519's scalars, [`crate::limbs`]); with `p`, whose `-p^-1 mod 2^32` is 1 and whose limbs are
//! 0, 1 and 2^32 − 1, the compiler folds most of the reduction's multiplies away.
//!
//! Every value handed out is fully reduced (below its modulus), so equal numbers have equal
//! limbs. Only public values (keys, signatures, hashes) pass through here: nothing needs to
//! run in constant time, and nothing does.

pub(crate) use crate::limbs::{add_raw, sub_raw, Limbs, ZERO};
use crate::limbs::{mont_mul, reduce_once};

/// The field prime `p = 2^256 − 2^224 + 2^192 + 2^96 − 1`.
pub(crate) const P: Limbs = [
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0,
    0,
    1,
    0xffff_ffff,
];
/// `2^512 mod p`: one Montgomery product with it puts a number into Montgomery form.
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
/// `2^256 mod p`: one, in Montgomery form.
pub(crate) const P_ONE: Limbs = [
    1,
    0,
    0,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_ffff,
    0xffff_fffe,
    0,
];

/// The group order `n` (the number of points on the curve).
pub(crate) const N: Limbs = [
    0xfc63_2551,
    0xf3b9_cac2,
    0xa717_9e84,
    0xbce6_faad,
    0xffff_ffff,
    0xffff_ffff,
    0,
    0xffff_ffff,
];
/// `-n^-1 mod 2^32`.
const N_M0INV: u32 = 0xee00_bc4f;
/// `2^512 mod n`.
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
/// `2^256 mod n`: one, in Montgomery form.
#[cfg(test)]
const N_ONE: Limbs = [
    0x039c_daaf,
    0x0c46_353d,
    0x58e8_617b,
    0x4319_0552,
    0,
    0,
    0xffff_ffff,
    0,
];

/// `a + b mod m` for `a, b < m`.
#[inline(always)]
fn mod_add(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
    let (sum, carry) = add_raw(a, b);
    reduce_once(&sum, carry, m)
}

/// `a - b mod m` for `a, b < m`.
#[inline(always)]
fn mod_sub(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
    let (difference, borrow) = sub_raw(a, b);
    if borrow != 0 {
        add_raw(&difference, m).0
    } else {
        difference
    }
}

/// Whether `a < b`.
pub(crate) fn less_than(a: &Limbs, b: &Limbs) -> bool {
    sub_raw(a, b).1 != 0
}

/// Whether `a` is zero.
pub(crate) fn is_zero(a: &Limbs) -> bool {
    a.iter().all(|limb| *limb == 0)
}

/// A 32-byte big-endian number (a JWK coordinate, half of an ES256 signature, a SHA-256 hash);
/// `None` for any other length.
pub(crate) fn from_be_bytes(bytes: &[u8]) -> Option<Limbs> {
    if bytes.len() != 32 {
        return None;
    }
    let mut limbs = ZERO;
    for (limb, chunk) in limbs.iter_mut().zip(bytes.rchunks_exact(4)) {
        *limb = chunk
            .iter()
            .fold(0u32, |acc, byte| (acc << 8) | u32::from(*byte));
    }
    Some(limbs)
}

/// `base^exponent` in Montgomery form with the product `mul` and its `one`: 4-bit fixed
/// windows, most significant first (252 squares and at most 78 products for 256 bits).
fn pow(base: &Limbs, exponent: &Limbs, one: &Limbs, mul: fn(&Limbs, &Limbs) -> Limbs) -> Limbs {
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

/// Field arithmetic modulo `p`: every operand and result in Montgomery form.
pub(crate) mod fp {
    use super::*;

    /// Montgomery product: the 512-bit product, then a Montgomery reduction that uses the
    /// shape of `p` instead of multiplies. With `-p^-1 mod 2^32 = 1`, the multiple of `p` that
    /// clears word `i` is `q = word i`, and `q·p = q·2^256 − q·2^224 + q·2^192 + q·2^96 − q`
    /// only adds or subtracts `q` at words `i+3`, `i+6`, `i+7` and `i+8` (the `−q` at word
    /// `i` clears it). Signed 64-bit words hold the pending sums; each word's carry moves up
    /// before the word is used.
    #[inline(never)]
    pub(crate) fn mul(a: &Limbs, b: &Limbs) -> Limbs {
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
        reduce_once(&out, top as u32, &P)
    }

    /// The generic Montgomery product with `p`: the reference [`mul`] is tested against.
    #[cfg(test)]
    pub(crate) fn mul_generic(a: &Limbs, b: &Limbs) -> Limbs {
        mont_mul(a, b, &P, 1)
    }

    /// Montgomery square.
    pub(crate) fn sqr(a: &Limbs) -> Limbs {
        mul(a, a)
    }

    /// `a + b`.
    pub(crate) fn add(a: &Limbs, b: &Limbs) -> Limbs {
        mod_add(a, b, &P)
    }

    /// `a - b`.
    pub(crate) fn sub(a: &Limbs, b: &Limbs) -> Limbs {
        mod_sub(a, b, &P)
    }

    /// `-a`.
    pub(crate) fn neg(a: &Limbs) -> Limbs {
        mod_sub(&ZERO, a, &P)
    }

    /// A number below `p` into Montgomery form.
    pub(crate) fn to_mont(a: &Limbs) -> Limbs {
        mul(a, &P_R2)
    }

    /// `a^-1` (Fermat: `a^(p-2)`); zero stays zero.
    pub(crate) fn invert(a: &Limbs) -> Limbs {
        let exponent = sub_raw(&P, &[2, 0, 0, 0, 0, 0, 0, 0]).0;
        pow(a, &exponent, &P_ONE, mul)
    }
}

/// Arithmetic modulo the group order `n`.
pub(crate) mod fn_ {
    use super::*;

    /// Montgomery product.
    #[inline(never)]
    pub(crate) fn mul(a: &Limbs, b: &Limbs) -> Limbs {
        mont_mul(a, b, &N, N_M0INV)
    }

    /// `s^-1` for a plain (not Montgomery) `0 < s < n`, in Montgomery form: a Montgomery
    /// product of a plain number with it is the plain product `x * s^-1 mod n`.
    ///
    /// Binary extended Euclid (HAC 14.61, for an odd prime modulus): about 500 shifts and
    /// subtractions of eight limbs, a tenth of the work of Fermat's `s^(n-2)`. Its running
    /// time depends on `s`, which is public (a signature's `s`).
    pub(crate) fn invert_to_mont(s: &Limbs) -> Limbs {
        let inverse = invert_binary(s);
        mul(&inverse, &N_R2)
    }

    /// `s^-1 mod n`, plain, for `0 < s < n` (zero for `s = 0`).
    fn invert_binary(s: &Limbs) -> Limbs {
        const ONE: Limbs = [1, 0, 0, 0, 0, 0, 0, 0];
        if is_zero(s) {
            return ZERO;
        }
        // Invariants: x1 * s = u and x2 * s = v (mod n); gcd(u, v) = gcd(s, n) = 1.
        let (mut u, mut v) = (*s, N);
        let (mut x1, mut x2) = (ONE, ZERO);
        // u or v reaching zero would mean gcd(s, n) > 1: impossible for a prime n and
        // 0 < s < n, but checked, so that no input can loop forever.
        while u != ONE && v != ONE && !is_zero(&u) && !is_zero(&v) {
            while u[0] & 1 == 0 {
                u = shift_right(&u, 0);
                x1 = halve(&x1);
            }
            while v[0] & 1 == 0 {
                v = shift_right(&v, 0);
                x2 = halve(&x2);
            }
            if less_than(&u, &v) {
                v = sub_raw(&v, &u).0;
                x2 = mod_sub(&x2, &x1, &N);
            } else {
                u = sub_raw(&u, &v).0;
                x1 = mod_sub(&x1, &x2, &N);
            }
        }
        if u == ONE {
            x1
        } else {
            x2
        }
    }

    /// `x / 2 mod n` for `x < n`.
    fn halve(x: &Limbs) -> Limbs {
        if x[0] & 1 == 0 {
            shift_right(x, 0)
        } else {
            let (sum, carry) = add_raw(x, &N);
            shift_right(&sum, carry)
        }
    }

    /// `(x + top * 2^256) / 2`.
    fn shift_right(x: &Limbs, top: u32) -> Limbs {
        let mut out = ZERO;
        let mut high = top;
        for (o, &limb) in out.iter_mut().zip(x).rev() {
            *o = (limb >> 1) | (high << 31);
            high = limb & 1;
        }
        out
    }

    /// `s^-1` by Fermat's little theorem, in Montgomery form: the slow reference the tests
    /// hold [`invert_to_mont`] against.
    #[cfg(test)]
    pub(crate) fn invert_fermat_to_mont(s: &Limbs) -> Limbs {
        let s_mont = mul(s, &N_R2);
        let exponent = sub_raw(&N, &[2, 0, 0, 0, 0, 0, 0, 0]).0;
        pow(&s_mont, &exponent, &N_ONE, mul)
    }

    /// A number below `2n` reduced below `n` (a SHA-256 hash as a scalar).
    pub(crate) fn reduce(a: &Limbs) -> Limbs {
        reduce_once(a, 0, &N)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slow, independent reference: `a * b mod m` by double-and-add over the bits of `b`.
    fn mul_mod_slow(a: &Limbs, b: &Limbs, m: &Limbs) -> Limbs {
        let mut acc = ZERO;
        for bit in (0..256).rev() {
            acc = mod_add(&acc, &acc, m);
            if (b[bit / 32] >> (bit % 32)) & 1 == 1 {
                acc = mod_add(&acc, a, m);
            }
        }
        acc
    }

    /// `2^256 mod m` the slow way (`2^256 - m`, as `m > 2^255`).
    fn r_mod(m: &Limbs) -> Limbs {
        sub_raw(&ZERO, m).0
    }

    /// xorshift64*: a fixed-seed generator, so a failure repeats.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
        }
        fn below(&mut self, m: &Limbs) -> Limbs {
            loop {
                let mut x = ZERO;
                for limb in x.iter_mut() {
                    *limb = self.next();
                }
                // Edge-heavy: sometimes small, sometimes near the modulus.
                match self.next() % 8 {
                    0 => x[1..].fill(0),
                    1 => x = sub_raw(m, &[self.next() % 4 + 1, 0, 0, 0, 0, 0, 0, 0]).0,
                    _ => {}
                }
                if less_than(&x, m) {
                    return x;
                }
            }
        }
    }

    #[test]
    fn constants_are_what_they_claim() {
        assert_eq!(P_ONE, r_mod(&P));
        assert_eq!(N_ONE, r_mod(&N));
        assert_eq!(P_R2, mul_mod_slow(&P_ONE, &P_ONE, &P));
        assert_eq!(N_R2, mul_mod_slow(&N_ONE, &N_ONE, &N));
        assert_eq!(N[0].wrapping_mul(N_M0INV), u32::MAX, "-n^-1 mod 2^32");
        assert_eq!(P[0].wrapping_mul(1), u32::MAX, "-p^-1 mod 2^32");
    }

    #[test]
    fn montgomery_products_match_the_slow_reference() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            for (m, mul) in [(&P, fp::mul as fn(&Limbs, &Limbs) -> Limbs), (&N, fn_::mul)] {
                let (a, b) = (rng.below(m), rng.below(m));
                // mont(a) * b / R = a * b.
                let a_mont = mul_mod_slow(&a, &r_mod(m), m);
                assert_eq!(mul(&a_mont, &b), mul_mod_slow(&a, &b, m));
                assert!(less_than(&mul(&a, &b), m));
                assert_eq!(mod_add(&a, &b, m), {
                    let (s, c) = add_raw(&a, &b);
                    if c != 0 || !less_than(&s, m) {
                        sub_raw(&s, m).0
                    } else {
                        s
                    }
                });
                assert_eq!(mod_add(&mod_sub(&a, &b, m), &b, m), a);
            }
        }
    }

    #[test]
    fn inverses_multiply_to_one() {
        let mut rng = Rng(7);
        for _ in 0..20 {
            let a = fp::to_mont(&rng.below(&P));
            if is_zero(&a) {
                continue;
            }
            assert_eq!(fp::mul(&a, &fp::invert(&a)), P_ONE);
            let s = rng.below(&N);
            if is_zero(&s) {
                continue;
            }
            // s * (s^-1 R) / R = 1, plain.
            assert_eq!(
                fn_::mul(&s, &fn_::invert_to_mont(&s)),
                [1, 0, 0, 0, 0, 0, 0, 0]
            );
        }
    }

    #[test]
    fn the_shaped_field_product_matches_the_generic_one() {
        let mut rng = Rng(13);
        let max = sub_raw(&P, &[1, 0, 0, 0, 0, 0, 0, 0]).0;
        for (a, b) in [
            (max, max),
            (max, ZERO),
            (P_ONE, max),
            (max, [1, 0, 0, 0, 0, 0, 0, 0]),
        ] {
            assert_eq!(fp::mul(&a, &b), fp::mul_generic(&a, &b));
        }
        for _ in 0..20000 {
            let (a, b) = (rng.below(&P), rng.below(&P));
            assert_eq!(fp::mul(&a, &b), fp::mul_generic(&a, &b), "{a:x?} {b:x?}");
        }
    }

    #[test]
    fn binary_inversion_matches_fermat() {
        let mut rng = Rng(11);
        let edges: [Limbs; 4] = [
            [1, 0, 0, 0, 0, 0, 0, 0],
            [2, 0, 0, 0, 0, 0, 0, 0],
            sub_raw(&N, &[1, 0, 0, 0, 0, 0, 0, 0]).0,
            sub_raw(&N, &[2, 0, 0, 0, 0, 0, 0, 0]).0,
        ];
        for s in edges.into_iter().chain((0..500).map(|_| rng.below(&N))) {
            if is_zero(&s) {
                continue;
            }
            assert_eq!(
                fn_::invert_to_mont(&s),
                fn_::invert_fermat_to_mont(&s),
                "{s:x?}"
            );
        }
        assert_eq!(fn_::invert_to_mont(&ZERO), ZERO);
    }

    #[test]
    fn byte_parsing_is_big_endian_and_length_checked() {
        let mut bytes = [0u8; 32];
        bytes[31] = 1;
        bytes[0] = 0x80;
        let x = from_be_bytes(&bytes).unwrap();
        assert_eq!(x[0], 1);
        assert_eq!(x[7], 0x8000_0000);
        assert!(from_be_bytes(&bytes[..31]).is_none());
        assert!(from_be_bytes(&[0; 33]).is_none());
    }
}
