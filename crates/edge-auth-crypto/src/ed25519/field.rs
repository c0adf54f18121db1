//! Arithmetic modulo `p = 2^255 − 19`, on ten limbs of alternately 26 and 25 bits (radix
//! 2^25.5), little-endian: limb `i` weighs `2^⌈25.5·i⌉`.
//!
//! Why this shape: wasm32 has a native 32×32→64 multiply and no 64×64→128 one. A product here
//! is 100 partial products of at most 28 × 33 bits, each one `i64.mul`, summed in 64-bit
//! words without carries (the bounds are below), then one carry pass. Limb pairs whose
//! weights add up past `2^255` wrap around with a factor of 19 (`2^255 ≡ 19`), and two odd
//! limbs multiply to twice the weight of their index sum, hence the doubled odd limbs.
//!
//! Values are kept *carried* (limbs below `2^26` / `2^25`, limb 1 a little above after the
//! wrap) by every product, square and [`Fe::carry`]; [`Fe::add`] and [`Fe::sub`] give uncarried
//! sums, which may only go straight into a product. The product's sums stay below 2^64 for
//! operands with even limbs below `2^28` and odd limbs below `2^27.1` (`2^28` and `2^27` being
//! four times the carried bounds; a sum or a difference of two carried values stays within).
//! Only public values (keys, signatures) pass through here: nothing runs in constant time.

/// Bits of limb `i`: 26 for even `i`, 25 for odd.
const MASK26: u64 = (1 << 26) - 1;
const MASK25: u64 = (1 << 25) - 1;

/// An element of the field, as ten limbs (see the module documentation for their bounds).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fe(pub(crate) [u32; 10]);

/// `2p`, limb by limb: added before a subtraction so that no limb goes negative.
const TWO_P: [u32; 10] = [
    0x7ff_ffda, 0x3ff_fffe, 0x7ff_fffe, 0x3ff_fffe, 0x7ff_fffe, 0x3ff_fffe, 0x7ff_fffe, 0x3ff_fffe,
    0x7ff_fffe, 0x3ff_fffe,
];

impl Fe {
    pub(crate) const ZERO: Fe = Fe([0; 10]);
    pub(crate) const ONE: Fe = Fe([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

    /// The curve constant `d = −121665/121666`.
    pub(crate) const D: Fe = Fe([
        0x359_78a3, 0x0d3_7284, 0x315_6ebd, 0x06a_0a0e, 0x001_c029, 0x179_e898, 0x3a0_3cbb,
        0x1ce_7198, 0x2e2_b6ff, 0x148_0db3,
    ]);
    /// `2d`.
    pub(crate) const D2: Fe = Fe([
        0x2b2_f159, 0x1a6_e509, 0x22a_dd7a, 0x0d4_141d, 0x003_8052, 0x0f3_d130, 0x340_7977,
        0x19c_e331, 0x1c5_6dff, 0x090_1b67,
    ]);
    /// `√−1 = 2^((p−1)/4)`.
    pub(crate) const SQRT_M1: Fe = Fe([
        0x20e_a0b0, 0x186_c9d2, 0x08f_189d, 0x035_697f, 0x0bd_0c60, 0x1fb_d7a7, 0x280_4c9e,
        0x1e1_6569, 0x004_fc1d, 0x0ae_0c92,
    ]);

    /// The number whose 255 low bits are `bytes` (little-endian; the top bit, an encoded
    /// point's sign, is ignored). Not reduced: `p ≤ y < 2^255` gives limbs of `y`, which the
    /// caller refuses first if it must be canonical ([`is_canonical`]).
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Fe {
        let mut limbs = [0u32; 10];
        let mut position = 0usize;
        for (i, limb) in limbs.iter_mut().enumerate() {
            let width = if i % 2 == 0 { 26 } else { 25 };
            // Five bytes from the limb's first one hold its bits (shift ≤ 7, width ≤ 26).
            let first = position / 8;
            let window = (0..5).fold(0u64, |acc, k| {
                acc | (u64::from(bytes.get(first + k).copied().unwrap_or(0)) << (8 * k))
            });
            let mask = (1u64 << width) - 1;
            *limb = ((window >> (position % 8)) & mask) as u32;
            position += width;
        }
        Fe(limbs)
    }

    /// The canonical little-endian encoding (fully reduced below `p`; the top bit is zero).
    #[cfg(test)]
    pub(crate) fn to_bytes(self) -> [u8; 32] {
        let limbs = self.reduced();
        let mut bytes = [0u8; 32];
        let mut acc = 0u64;
        let mut bits = 0u32;
        let mut out = bytes.iter_mut();
        for (i, limb) in limbs.iter().enumerate() {
            acc |= u64::from(*limb) << bits;
            bits += if i % 2 == 0 { 26 } else { 25 };
            while bits >= 8 {
                if let Some(byte) = out.next() {
                    *byte = acc as u8;
                }
                acc >>= 8;
                bits -= 8;
            }
        }
        if let Some(byte) = out.next() {
            *byte = acc as u8;
        }
        bytes
    }

    /// The limbs of the unique representative below `p`.
    fn reduced(&self) -> [u32; 10] {
        let carried = self.carry().0;
        // After the carry the value is below 2^255 + 2^52, so below 2p: it is at least p
        // exactly when adding 19 carries out of bit 255.
        let mut q = (u64::from(carried[0]) + 19) >> 26;
        for (i, limb) in carried.iter().enumerate().skip(1) {
            q = (u64::from(*limb) + q) >> if i % 2 == 0 { 26 } else { 25 };
        }
        // Subtract p = 2^255 − 19 q times: add 19q, drop bit 255.
        let mut limbs = [0u64; 10];
        for (wide, limb) in limbs.iter_mut().zip(carried) {
            *wide = u64::from(limb);
        }
        if let Some(first) = limbs.first_mut() {
            *first += 19 * q;
        }
        let mut out = [0u32; 10];
        let mut carry = 0u64;
        for (i, (o, wide)) in out.iter_mut().zip(limbs).enumerate() {
            let v = wide + carry;
            let (bits, mask) = if i % 2 == 0 {
                (26, MASK26)
            } else {
                (25, MASK25)
            };
            *o = (v & mask) as u32;
            carry = v >> bits;
        }
        out
    }

    /// Whether the value is zero modulo `p`.
    pub(crate) fn is_zero(&self) -> bool {
        self.reduced().iter().all(|limb| *limb == 0)
    }

    /// Whether the value's representative below `p` is odd (RFC 8032's "negative" `x`).
    pub(crate) fn is_odd(&self) -> bool {
        self.reduced().first().is_some_and(|limb| limb & 1 == 1)
    }

    /// Whether two values are equal modulo `p`.
    pub(crate) fn equals(&self, other: &Fe) -> bool {
        self.reduced() == other.reduced()
    }

    /// `self + other`, uncarried.
    #[inline(always)]
    pub(crate) fn add(&self, other: &Fe) -> Fe {
        let mut sum = [0u32; 10];
        for ((s, a), b) in sum.iter_mut().zip(self.0).zip(other.0) {
            *s = a + b;
        }
        Fe(sum)
    }

    /// `self − other` (plus `2p`, so no limb goes negative), uncarried; `other` carried.
    #[inline(always)]
    pub(crate) fn sub(&self, other: &Fe) -> Fe {
        let mut difference = [0u32; 10];
        for (((d, a), b), two_p) in difference.iter_mut().zip(self.0).zip(other.0).zip(TWO_P) {
            *d = a + two_p - b;
        }
        Fe(difference)
    }

    /// `−self`, uncarried; `self` carried.
    pub(crate) fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    /// The same value with carried limbs.
    pub(crate) fn carry(&self) -> Fe {
        let mut wide = [0u64; 10];
        for (w, limb) in wide.iter_mut().zip(self.0) {
            *w = u64::from(limb);
        }
        carry_wide(wide)
    }

    /// `self · other`, carried.
    // An unrolled product of ten limbs by ten: split, it would pass the limbs through memory.
    #[allow(clippy::too_many_lines)]
    #[inline(never)]
    pub(crate) fn mul(&self, other: &Fe) -> Fe {
        let [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9] = wide(&self.0);
        let [g0, g1, g2, g3, g4, g5, g6, g7, g8, g9] = wide(&other.0);
        // Odd limbs of f doubled, limbs of g times 19: the factors the products need.
        let (f1_2, f3_2, f5_2, f7_2, f9_2) = (2 * f1, 2 * f3, 2 * f5, 2 * f7, 2 * f9);
        let (g1_19, g2_19, g3_19, g4_19, g5_19) = (19 * g1, 19 * g2, 19 * g3, 19 * g4, 19 * g5);
        let (g6_19, g7_19, g8_19, g9_19) = (19 * g6, 19 * g7, 19 * g8, 19 * g9);
        let h0 = f0 * g0
            + f1_2 * g9_19
            + f2 * g8_19
            + f3_2 * g7_19
            + f4 * g6_19
            + f5_2 * g5_19
            + f6 * g4_19
            + f7_2 * g3_19
            + f8 * g2_19
            + f9_2 * g1_19;
        let h1 = f0 * g1
            + f1 * g0
            + f2 * g9_19
            + f3 * g8_19
            + f4 * g7_19
            + f5 * g6_19
            + f6 * g5_19
            + f7 * g4_19
            + f8 * g3_19
            + f9 * g2_19;
        let h2 = f0 * g2
            + f1_2 * g1
            + f2 * g0
            + f3_2 * g9_19
            + f4 * g8_19
            + f5_2 * g7_19
            + f6 * g6_19
            + f7_2 * g5_19
            + f8 * g4_19
            + f9_2 * g3_19;
        let h3 = f0 * g3
            + f1 * g2
            + f2 * g1
            + f3 * g0
            + f4 * g9_19
            + f5 * g8_19
            + f6 * g7_19
            + f7 * g6_19
            + f8 * g5_19
            + f9 * g4_19;
        let h4 = f0 * g4
            + f1_2 * g3
            + f2 * g2
            + f3_2 * g1
            + f4 * g0
            + f5_2 * g9_19
            + f6 * g8_19
            + f7_2 * g7_19
            + f8 * g6_19
            + f9_2 * g5_19;
        let h5 = f0 * g5
            + f1 * g4
            + f2 * g3
            + f3 * g2
            + f4 * g1
            + f5 * g0
            + f6 * g9_19
            + f7 * g8_19
            + f8 * g7_19
            + f9 * g6_19;
        let h6 = f0 * g6
            + f1_2 * g5
            + f2 * g4
            + f3_2 * g3
            + f4 * g2
            + f5_2 * g1
            + f6 * g0
            + f7_2 * g9_19
            + f8 * g8_19
            + f9_2 * g7_19;
        let h7 = f0 * g7
            + f1 * g6
            + f2 * g5
            + f3 * g4
            + f4 * g3
            + f5 * g2
            + f6 * g1
            + f7 * g0
            + f8 * g9_19
            + f9 * g8_19;
        let h8 = f0 * g8
            + f1_2 * g7
            + f2 * g6
            + f3_2 * g5
            + f4 * g4
            + f5_2 * g3
            + f6 * g2
            + f7_2 * g1
            + f8 * g0
            + f9_2 * g9_19;
        let h9 = f0 * g9
            + f1 * g8
            + f2 * g7
            + f3 * g6
            + f4 * g5
            + f5 * g4
            + f6 * g3
            + f7 * g2
            + f8 * g1
            + f9 * g0;
        carry_wide([h0, h1, h2, h3, h4, h5, h6, h7, h8, h9])
    }

    /// `self²`, carried: the 55 distinct products of [`Fe::mul`]'s 100.
    #[inline(never)]
    pub(crate) fn square(&self) -> Fe {
        let [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9] = wide(&self.0);
        let f0_2 = 2 * f0;
        let f1_2 = 2 * f1;
        let f1_4 = 4 * f1;
        let f2_2 = 2 * f2;
        let f3_2 = 2 * f3;
        let f3_4 = 4 * f3;
        let f4_2 = 2 * f4;
        let f5_2 = 2 * f5;
        let f5_4 = 4 * f5;
        let f5_19 = 19 * f5;
        let f6_2 = 2 * f6;
        let f6_19 = 19 * f6;
        let f7_2 = 2 * f7;
        let f7_4 = 4 * f7;
        let f7_19 = 19 * f7;
        let f8_2 = 2 * f8;
        let f8_19 = 19 * f8;
        let f9_2 = 2 * f9;
        let f9_19 = 19 * f9;
        let h0 = f0 * f0 + f1_4 * f9_19 + f2_2 * f8_19 + f3_4 * f7_19 + f4_2 * f6_19 + f5_2 * f5_19;
        let h1 = f0_2 * f1 + f2_2 * f9_19 + f3_2 * f8_19 + f4_2 * f7_19 + f5_2 * f6_19;
        let h2 = f0_2 * f2 + f1_2 * f1 + f3_4 * f9_19 + f4_2 * f8_19 + f5_4 * f7_19 + f6 * f6_19;
        let h3 = f0_2 * f3 + f1_2 * f2 + f4_2 * f9_19 + f5_2 * f8_19 + f6_2 * f7_19;
        let h4 = f0_2 * f4 + f1_4 * f3 + f2 * f2 + f5_4 * f9_19 + f6_2 * f8_19 + f7_2 * f7_19;
        let h5 = f0_2 * f5 + f1_2 * f4 + f2_2 * f3 + f6_2 * f9_19 + f7_2 * f8_19;
        let h6 = f0_2 * f6 + f1_4 * f5 + f2_2 * f4 + f3_2 * f3 + f7_4 * f9_19 + f8 * f8_19;
        let h7 = f0_2 * f7 + f1_2 * f6 + f2_2 * f5 + f3_2 * f4 + f8_2 * f9_19;
        let h8 = f0_2 * f8 + f1_4 * f7 + f2_2 * f6 + f3_4 * f5 + f4 * f4 + f9_2 * f9_19;
        let h9 = f0_2 * f9 + f1_2 * f8 + f2_2 * f7 + f3_2 * f6 + f4_2 * f5;
        carry_wide([h0, h1, h2, h3, h4, h5, h6, h7, h8, h9])
    }

    /// `self^(2^n)`: `n` squarings.
    pub(crate) fn square_times(&self, n: u32) -> Fe {
        let mut x = *self;
        for _ in 0..n {
            x = x.square();
        }
        x
    }

    /// `(self^(2^250 − 1), self^11)`: the common head of [`Fe::invert`] and
    /// [`Fe::pow_p58`] (an addition chain: 254 squarings, 11 products in all).
    fn pow_2_250_1(&self) -> (Fe, Fe) {
        let z2 = self.square();
        let z9 = z2.square_times(2).mul(self);
        let z11 = z9.mul(&z2);
        let z_5 = z11.square().mul(&z9); // 2^5 − 1
        let z_10 = z_5.square_times(5).mul(&z_5);
        let z_20 = z_10.square_times(10).mul(&z_10);
        let z_40 = z_20.square_times(20).mul(&z_20);
        let z_50 = z_40.square_times(10).mul(&z_10);
        let z_100 = z_50.square_times(50).mul(&z_50);
        let z_200 = z_100.square_times(100).mul(&z_100);
        let z_250 = z_200.square_times(50).mul(&z_50);
        (z_250, z11)
    }

    /// `self^−1 = self^(p−2)`, `p − 2 = (2^250 − 1)·2^5 + 11` (zero stays zero).
    pub(crate) fn invert(&self) -> Fe {
        let (z_250, z11) = self.pow_2_250_1();
        z_250.square_times(5).mul(&z11)
    }

    /// `self^((p−5)/8)`, `(p − 5)/8 = (2^250 − 1)·4 + 1`: the square root's exponent.
    pub(crate) fn pow_p58(&self) -> Fe {
        let (z_250, _) = self.pow_2_250_1();
        z_250.square_times(2).mul(self)
    }
}

/// Whether 32 bytes, top bit aside, encode a number below `p`: everything but the `19`
/// values `p ..= 2^255 − 1`, which are 0x7f, then 30 bytes 0xff, then a low byte ≥ 0xed.
pub(crate) fn is_canonical(bytes: &[u8; 32]) -> bool {
    let [low, middle @ .., high] = bytes;
    !(*high & 0x7f == 0x7f && middle.iter().all(|b| *b == 0xff) && *low >= 0xed)
}

/// The limbs in 64 bits, for products.
#[inline(always)]
fn wide(limbs: &[u32; 10]) -> [u64; 10] {
    let [l0, l1, l2, l3, l4, l5, l6, l7, l8, l9] = *limbs;
    [
        u64::from(l0),
        u64::from(l1),
        u64::from(l2),
        u64::from(l3),
        u64::from(l4),
        u64::from(l5),
        u64::from(l6),
        u64::from(l7),
        u64::from(l8),
        u64::from(l9),
    ]
}

/// Carries 64-bit limb sums (each below 2^64 − 2^39) into carried 32-bit limbs.
#[inline(always)]
fn carry_wide(mut h: [u64; 10]) -> Fe {
    let mut carry = 0u64;
    for (i, hi) in h.iter_mut().enumerate() {
        let v = *hi + carry;
        let (bits, mask) = if i % 2 == 0 {
            (26, MASK26)
        } else {
            (25, MASK25)
        };
        *hi = v & mask;
        carry = v >> bits;
    }
    // The carry out of limb 9 weighs 2^255 ≡ 19; once more into limb 1, which may then
    // exceed 2^25 by a little (a later product tolerates that).
    let [h0, h1, ..] = &mut h;
    *h0 += 19 * carry;
    *h1 += *h0 >> 26;
    *h0 &= MASK26;
    let mut out = [0u32; 10];
    for (o, hi) in out.iter_mut().zip(h) {
        *o = hi as u32;
    }
    Fe(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: fixed seed, so a failure repeats.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn bytes(&mut self) -> [u8; 32] {
            let mut out = [0u8; 32];
            for chunk in out.chunks_mut(8) {
                chunk.copy_from_slice(&self.next().to_le_bytes());
            }
            out[31] &= 0x7f;
            out
        }
    }

    /// A slow, independent reference: numbers as 32 bytes mod p, schoolbook on u32 digits.
    fn to_big(bytes: &[u8; 32]) -> Vec<u64> {
        bytes
            .chunks(4)
            .map(|c| u64::from(u32::from_le_bytes(c.try_into().unwrap())))
            .collect()
    }
    fn mul_ref(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
        // 512-bit product in 16 u32 digits, then fold 2^256 ≡ 38 until it fits, then reduce.
        let (a, b) = (to_big(a), to_big(b));
        let mut t = [0u64; 17];
        for i in 0..8 {
            for j in 0..8 {
                t[i + j] += (a[i] * b[j]) & 0xffff_ffff;
                t[i + j + 1] += (a[i] * b[j]) >> 32;
            }
            for k in 0..16 {
                t[k + 1] += t[k] >> 32;
                t[k] &= 0xffff_ffff;
            }
        }
        let mut x: Vec<u64> = t[..8].to_vec();
        let mut high: Vec<u64> = t[8..16].to_vec();
        for _ in 0..3 {
            let mut carry = 0u64;
            for k in 0..8 {
                let v = x[k] + high[k] * 38 + carry;
                x[k] = v & 0xffff_ffff;
                carry = v >> 32;
            }
            high = vec![0; 8];
            high[0] = carry;
        }
        let mut bytes = [0u8; 32];
        for k in 0..8 {
            bytes[4 * k..4 * k + 4].copy_from_slice(&(x[k] as u32).to_le_bytes());
        }
        // bytes < 2^256: reduce through Fe (from_bytes keeps 255 bits; add 19 per top bit).
        let top = bytes[31] >> 7;
        let fe = Fe::from_bytes(&bytes).add(&Fe([19 * u32::from(top), 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        fe.to_bytes()
    }

    #[test]
    fn constants_are_what_they_claim() {
        let d = Fe::D;
        // d · 121666 = −121665
        let n = Fe([121_666, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let m = Fe([121_665, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(d.mul(&n).equals(&m.neg()));
        assert!(Fe::D2.equals(&d.add(&d)));
        assert!(Fe::SQRT_M1.square().equals(&Fe::ONE.neg()));
        let two_p = Fe(TWO_P);
        assert!(two_p.is_zero());
    }

    #[test]
    fn products_match_the_slow_reference() {
        let mut rng = Rng(0x2551_9000_0001);
        for _ in 0..3000 {
            let (a, b) = (rng.bytes(), rng.bytes());
            let (fa, fb) = (Fe::from_bytes(&a), Fe::from_bytes(&b));
            assert_eq!(fa.mul(&fb).to_bytes(), mul_ref(&a, &b));
            assert_eq!(fa.square().to_bytes(), mul_ref(&a, &a));
            // Uncarried sums and differences as operands.
            let sum = fa.add(&fb);
            let difference = fa.sub(&fb);
            assert!(sum.mul(&difference).equals(&fa.square().sub(&fb.square())));
            assert!(difference.square().add(&sum.square()).carry().equals(
                &fa.square()
                    .add(&fb.square())
                    .carry()
                    .add(&fa.square().add(&fb.square()).carry())
            ));
        }
    }

    #[test]
    fn largest_operands_do_not_overflow() {
        // Limbs at the bounds the module allows: even 2^28 − 1, odd 2^27 − 1.
        let big = Fe([
            (1 << 28) - 1,
            (1 << 27) - 1,
            (1 << 28) - 1,
            (1 << 27) - 1,
            (1 << 28) - 1,
            (1 << 27) - 1,
            (1 << 28) - 1,
            (1 << 27) - 1,
            (1 << 28) - 1,
            (1 << 27) - 1,
        ]);
        let bytes = big.to_bytes();
        assert_eq!(big.mul(&big).to_bytes(), mul_ref(&bytes, &bytes));
        assert_eq!(big.square().to_bytes(), mul_ref(&bytes, &bytes));
    }

    #[test]
    fn encoding_is_canonical_and_round_trips() {
        let mut rng = Rng(3);
        for _ in 0..500 {
            let a = rng.bytes();
            if is_canonical(&a) {
                assert_eq!(Fe::from_bytes(&a).to_bytes(), a);
            }
        }
        // p and p + 1 .. 2^255 − 1 are not canonical and reduce to 0 .. 18.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!is_canonical(&p));
        assert!(Fe::from_bytes(&p).is_zero());
        let mut top = [0xffu8; 32];
        top[31] = 0x7f;
        assert!(!is_canonical(&top));
        assert_eq!(Fe::from_bytes(&top).to_bytes()[0], 18);
        let mut below = p;
        below[0] = 0xec;
        assert!(is_canonical(&below));
        assert_eq!(Fe::from_bytes(&below).to_bytes(), below);
        // The sign bit is ignored by from_bytes and by is_canonical.
        let mut signed = p;
        signed[31] = 0xff;
        assert!(!is_canonical(&signed));
    }

    #[test]
    fn inverse_and_square_root_exponent() {
        let mut rng = Rng(5);
        for _ in 0..20 {
            let a = Fe::from_bytes(&rng.bytes());
            if a.is_zero() {
                continue;
            }
            assert!(a.mul(&a.invert()).equals(&Fe::ONE));
            // a^((p−5)/8) squared, times a^2... : (a^((p-5)/8))^8 = a^(p-5) = a^-4.
            let r = a.pow_p58().square_times(3);
            assert!(r.mul(&a.square().square()).equals(&Fe::ONE));
        }
        assert!(Fe::ZERO.invert().is_zero());
    }
}
