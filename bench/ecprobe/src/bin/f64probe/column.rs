//! The first f64 kernel (variant 1 of docs/performance.md's f64 table): today's product scanning
//! (crates/edge-auth-crypto/src/rsa.rs) with W-bit limbs held in f64 (W = 23 for 2048 bits: 90
//! limbs), four limbs per step as two `f64x2.mul` + `f64x2.add` per operand pair. Every limb
//! product is below 2^(2W) <= 2^46 and exact; a column's products of a*b and of m*n are summed
//! separately (each at most `limbs` products, below 2^53 when limbs <= 2^(53 - 2W): exact),
//! converted to integers (`i64.trunc_sat_f64_s`), and the carry kept in a u64.

pub struct F64Mont<const W: u32> {
    pub k: usize,
    n_rev: Vec<f64>,
    n_le: Vec<u32>,
    n0: u64,
    n0_inv: u32,
    r2_rev: Vec<f64>,
}

/// `limbs` little-endian `w`-bit limbs of a big-endian number.
pub fn w_limbs_from_be(bytes: &[u8], w: u32, limbs: usize) -> Vec<u32> {
    let mask = (1u64 << w) - 1;
    let mut out = Vec::with_capacity(limbs + 1);
    let (mut buffer, mut held) = (0u64, 0u32);
    for &byte in bytes.iter().rev() {
        buffer |= u64::from(byte) << held;
        held += 8;
        if held >= w {
            out.push((buffer & mask) as u32);
            buffer >>= w;
            held -= w;
        }
    }
    out.push(buffer as u32);
    out.resize(limbs, 0);
    out
}

pub fn be_from_w_limbs(limbs: &[u32], w: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 4);
    let (mut buffer, mut held) = (0u64, 0u32);
    for &limb in limbs {
        buffer |= u64::from(limb) << held;
        held += w;
        while held >= 8 {
            out.push(buffer as u8);
            buffer >>= 8;
            held -= 8;
        }
    }
    out.push(buffer as u8);
    out.resize(len, 0);
    out.reverse();
    out
}

fn ge(x: &[u32], n: &[u32]) -> bool {
    for (a, b) in x.iter().rev().zip(n.iter().rev()) {
        if a != b {
            return a > b;
        }
    }
    true
}

fn sub_in_place(x: &mut [u32], n: &[u32], w: u32) {
    let mask = (1u32 << w) - 1;
    let mut borrow = 0u32;
    for (xi, &ni) in x.iter_mut().zip(n) {
        let diff = xi.wrapping_sub(ni).wrapping_sub(borrow);
        borrow = diff >> 31;
        *xi = diff & mask;
    }
}

impl<const W: u32> F64Mont<W> {
    pub fn new(n_be: &[u8]) -> F64Mont<W> {
        let bits = {
            let first = n_be.iter().position(|b| *b != 0).unwrap_or(n_be.len());
            let rest = &n_be[first..];
            rest.len() * 8 - rest.first().map_or(8, |b| b.leading_zeros() as usize)
        };
        let k = (bits + 2).div_ceil(W as usize);
        assert!(k <= 1 << (53 - 2 * W), "too many limbs for exact f64 sums");
        let n_le = w_limbs_from_be(n_be, W, k);
        let low = n_le[0];
        let mut inv = low;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(low.wrapping_mul(inv)));
        }
        let mask = (1u32 << W) - 1;
        // R^2 mod n by doubling 1, 2 W k times.
        let mut x = vec![0u32; k];
        x[0] = 1;
        for _ in 0..2 * W as usize * k {
            let mut carry = 0u32;
            for limb in x.iter_mut() {
                let v = (*limb << 1) | carry;
                carry = v >> W;
                *limb = v & mask;
            }
            if ge(&x, &n_le) {
                sub_in_place(&mut x, &n_le, W);
            }
        }
        F64Mont {
            k,
            n_rev: n_le.iter().rev().map(|&l| f64::from(l)).collect(),
            n0: u64::from(low),
            n0_inv: inv.wrapping_neg() & mask,
            r2_rev: x.iter().rev().map(|&l| f64::from(l)).collect(),
            n_le,
        }
    }

    /// `s^e mod n`, big-endian, `len` bytes.
    pub fn pow(&self, s: &[u8], e: u64, len: usize) -> Vec<u8> {
        let k = self.k;
        let plain: Vec<f64> = w_limbs_from_be(s, W, k)
            .iter()
            .map(|&l| f64::from(l))
            .collect();
        let plain_rev: Vec<f64> = plain.iter().rev().copied().collect();
        let (mut x, mut m) = (vec![0f64; k], vec![0f64; k]);
        self.mul(&plain, &self.r2_rev, &mut m, &mut x);
        let base_rev: Vec<f64> = x.iter().rev().copied().collect();
        let mut y = vec![0f64; k];
        let mut reversed = vec![0f64; k];
        let top = 63 - e.leading_zeros();
        for bit in (0..top).rev() {
            self.sqr(&x, &mut reversed, &mut m, &mut y);
            let factor = if bit == 0 { &plain_rev } else { &base_rev };
            if (e >> bit) & 1 == 1 {
                self.mul(&y, factor, &mut m, &mut x);
            } else {
                std::mem::swap(&mut x, &mut y);
            }
        }
        let mut out: Vec<u32> = x.iter().map(|&l| l as u32).collect();
        if ge(&out, &self.n_le) {
            sub_in_place(&mut out, &self.n_le, W);
        }
        be_from_w_limbs(&out, W, len)
    }

    #[inline(always)]
    fn close_low(&self, acc: &mut u64, m: &mut [f64], c: usize) {
        let mask = (1u32 << W) - 1;
        let mc = (*acc as u32).wrapping_mul(self.n0_inv) & mask;
        *acc += u64::from(mc) * self.n0;
        if let Some(slot) = m.get_mut(c) {
            *slot = f64::from(mc);
        }
        *acc >>= W;
    }

    #[inline(always)]
    fn close_high(acc: &mut u64, out: &mut [f64], limb: usize) {
        if let Some(slot) = out.get_mut(limb) {
            *slot = f64::from((*acc & ((1u64 << W) - 1)) as u32);
        }
        *acc >>= W;
    }

    #[inline(never)]
    pub fn mul(&self, a: &[f64], b_rev: &[f64], m: &mut [f64], out: &mut [f64]) {
        let n_rev = &self.n_rev;
        let k = self.k;
        let b0 = b_rev.last().copied().unwrap_or(0.0);
        let mut acc = 0u64;
        for c in 0..k {
            let high = k - 1 - c;
            let (Some(a_low), Some(m_low), Some(b_high), Some(n_high)) = (
                a.get(..c),
                m.get(..c),
                b_rev.get(high..k - 1),
                n_rev.get(high..k - 1),
            ) else {
                return;
            };
            let (ab, mn) = dot2(a_low, b_high, m_low, n_high);
            let ab = ab + a.get(c).copied().unwrap_or(0.0) * b0;
            acc += int(ab) + int(mn);
            self.close_low(&mut acc, m, c);
        }
        for c in k..2 * k - 1 {
            let low = c + 1 - k;
            let (Some(a_high), Some(m_high), Some(b_low), Some(n_low)) = (
                a.get(low..),
                m.get(low..),
                b_rev.get(..k - low),
                n_rev.get(..k - low),
            ) else {
                return;
            };
            let (ab, mn) = dot2(a_high, b_low, m_high, n_low);
            acc += int(ab) + int(mn);
            Self::close_high(&mut acc, out, c - k);
        }
        if let Some(top) = out.last_mut() {
            *top = acc as f64;
        }
    }

    #[inline(never)]
    pub fn sqr(&self, a: &[f64], reversed: &mut [f64], m: &mut [f64], out: &mut [f64]) {
        for (r, &limb) in reversed.iter_mut().zip(a.iter().rev()) {
            *r = limb;
        }
        let n_rev = &self.n_rev;
        let k = self.k;
        let mut acc = 0u64;
        for c in 0..k {
            let high = k - 1 - c;
            let half = c.div_ceil(2);
            let (Some(a_low), Some(a_high), Some(m_low), Some(n_high)) = (
                a.get(..half),
                reversed.get(high..high + half),
                m.get(..c),
                n_rev.get(high..k - 1),
            ) else {
                return;
            };
            acc += 2 * int(dot(a_low, a_high)) + square_term(a, c) + int(dot(m_low, n_high));
            self.close_low(&mut acc, m, c);
        }
        for c in k..2 * k - 1 {
            let low = c + 1 - k;
            let half = c.div_ceil(2);
            let (Some(a_low), Some(a_high), Some(m_high), Some(n_low)) = (
                a.get(low..half),
                reversed.get(..half - low),
                m.get(low..),
                n_rev.get(..k - low),
            ) else {
                return;
            };
            acc += 2 * int(dot(a_low, a_high)) + square_term(a, c) + int(dot(m_high, n_low));
            Self::close_high(&mut acc, out, c - k);
        }
        if let Some(top) = out.last_mut() {
            *top = acc as f64;
        }
    }
}

#[inline(always)]
fn int(x: f64) -> u64 {
    x as i64 as u64
}

#[inline(always)]
fn square_term(a: &[f64], c: usize) -> u64 {
    if c % 2 == 0 {
        let limb = a.get(c / 2).copied().unwrap_or(0.0) as u64;
        limb * limb
    } else {
        0
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |s, (&x, &y)| s + x * y)
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn dot2(a: &[f64], b: &[f64], m: &[f64], n: &[f64]) -> (f64, f64) {
    (dot(a, b), dot(m, n))
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd::{dot, dot2};

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::{f64x2, f64x2_add, f64x2_extract_lane, f64x2_mul, f64x2_splat, v128};

    #[inline(always)]
    fn pair(x: f64, y: f64) -> v128 {
        f64x2(x, y)
    }

    #[inline(always)]
    fn lanes(v: v128) -> f64 {
        f64x2_extract_lane::<0>(v) + f64x2_extract_lane::<1>(v)
    }

    #[inline(always)]
    pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
        let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
        let tail = a4.remainder().iter().zip(b4.remainder());
        let zero = f64x2_splat(0.0);
        let (s0, s1) = a4
            .zip(b4)
            .fold((zero, zero), |(s0, s1), (x, y)| match (x, y) {
                (&[x0, x1, x2, x3], &[y0, y1, y2, y3]) => (
                    f64x2_add(s0, f64x2_mul(pair(x0, x1), pair(y0, y1))),
                    f64x2_add(s1, f64x2_mul(pair(x2, x3), pair(y2, y3))),
                ),
                _ => (s0, s1),
            });
        tail.fold(lanes(f64x2_add(s0, s1)), |s, (&x, &y)| s + x * y)
    }

    #[inline(always)]
    pub(super) fn dot2(a: &[f64], b: &[f64], m: &[f64], n: &[f64]) -> (f64, f64) {
        let (a4, b4, m4, n4) = (
            a.chunks_exact(4),
            b.chunks_exact(4),
            m.chunks_exact(4),
            n.chunks_exact(4),
        );
        let tail = a4
            .remainder()
            .iter()
            .zip(b4.remainder())
            .zip(m4.remainder().iter().zip(n4.remainder()));
        let zero = f64x2_splat(0.0);
        let (s0, s1, t0, t1) = a4.zip(b4).zip(m4.zip(n4)).fold(
            (zero, zero, zero, zero),
            |(s0, s1, t0, t1), ((x, y), (u, v))| match (x, y, u, v) {
                (&[x0, x1, x2, x3], &[y0, y1, y2, y3], &[u0, u1, u2, u3], &[v0, v1, v2, v3]) => (
                    f64x2_add(s0, f64x2_mul(pair(x0, x1), pair(y0, y1))),
                    f64x2_add(s1, f64x2_mul(pair(x2, x3), pair(y2, y3))),
                    f64x2_add(t0, f64x2_mul(pair(u0, u1), pair(v0, v1))),
                    f64x2_add(t1, f64x2_mul(pair(u2, u3), pair(v2, v3))),
                ),
                _ => (s0, s1, t0, t1),
            },
        );
        tail.fold(
            (lanes(f64x2_add(s0, s1)), lanes(f64x2_add(t0, t1))),
            |(s, t), ((&x, &y), (&u, &v))| (s + x * y, t + u * v),
        )
    }
}
