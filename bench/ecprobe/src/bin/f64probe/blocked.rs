//! The blocked f64 kernel (variant 6 of docs/performance.md's f64 table, the fastest found):
//! Montgomery products on 22-bit limbs held in f64, product scanning by blocks of `B` = 8
//! columns with one f64x2 lane per column: `acc[v] += splat(x[i]) * y[c0 + 2v - i..][..2]`
//! (`f64x2.mul` + `f64x2.add`, `mulpd` + `addpd` in V8, no lane shuffle).
//!
//! Exactness: limbs are below 2^22, so a product is below 2^44 and exact in f64 (a square's
//! doubled cross products below 2^45). A column of a product and its reduction holds at most
//! `2k` such products, so with `k <= 128` limbs every lane sum is an integer below 2^52: every
//! partial sum is exact, and `sum + 2^52` carries the sum in its low 52 mantissa bits, which is
//! how a lane becomes an integer (no float-to-int conversion). The carry between columns lives in
//! a u64. The Montgomery digits of a block's own columns are not known when its lanes are summed:
//! their products with `n`'s low limbs (a triangle of 28 per block) are added in integers as the
//! columns close. A square's products near the diagonal (`i` in `c0/2..c0/2+4`) are one more
//! vector step with per-lane weights 2 (cross product), 1 (the square) or 0 (above the diagonal).
//!
//! Numbers live in padded buffers, `[0; P] ++ limbs ++ [0; P]` (k a multiple of `B`), so the
//! windows of a block's first and last columns read zeros instead of branching.

use crate::column::{be_from_w_limbs, w_limbs_from_be};

pub const P: usize = B;
const W: u32 = 22;

pub struct Blocked {
    pub k: usize,
    n_pad: Vec<f64>,
    n_le: Vec<u32>,
    n0_inv: u32,
    n_low: [u64; B],
    r2_pad: Vec<f64>,
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod v {
    pub use core::arch::wasm32::v128 as V;
    use core::arch::wasm32::{f64x2, f64x2_add, f64x2_mul, f64x2_splat};
    #[inline(always)]
    pub fn zero() -> V {
        f64x2_splat(0.0)
    }
    #[inline(always)]
    pub fn splat(x: f64) -> V {
        f64x2_splat(x)
    }
    #[inline(always)]
    pub fn pair(x: f64, y: f64) -> V {
        f64x2(x, y)
    }
    #[inline(always)]
    pub fn mul(x: V, y: V) -> V {
        f64x2_mul(x, y)
    }
    #[inline(always)]
    pub fn add(x: V, y: V) -> V {
        f64x2_add(x, y)
    }
    #[inline(always)]
    pub fn bits(x: V) -> [u64; 2] {
        use core::arch::wasm32::u64x2_extract_lane;
        [u64x2_extract_lane::<0>(x), u64x2_extract_lane::<1>(x)]
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod v {
    pub type V = [f64; 2];
    #[inline(always)]
    pub fn zero() -> V {
        [0.0; 2]
    }
    #[inline(always)]
    pub fn splat(x: f64) -> V {
        [x; 2]
    }
    #[inline(always)]
    pub fn pair(x: f64, y: f64) -> V {
        [x, y]
    }
    #[inline(always)]
    pub fn mul(x: V, y: V) -> V {
        [x[0] * y[0], x[1] * y[1]]
    }
    #[inline(always)]
    pub fn add(x: V, y: V) -> V {
        [x[0] + y[0], x[1] + y[1]]
    }
    #[inline(always)]
    pub fn bits(x: V) -> [u64; 2] {
        [x[0].to_bits(), x[1].to_bits()]
    }
}

use v::V;

/// Columns per block, and f64x2 accumulators.
pub const B: usize = 8;
const NV: usize = B / 2;
type Acc = [V; NV];

/// acc lanes += x[i] * y window for x[i], for i in 0..x.len() (windows in reverse).
#[inline(always)]
fn run(acc: &mut Acc, x: &[f64], y: &[f64]) {
    let mut s = *acc;
    for (&xi, win) in x.iter().zip(y.windows(B).rev()) {
        let xs = v::splat(xi);
        for (sv, pair) in s.iter_mut().zip(win.chunks_exact(2)) {
            if let &[y0, y1] = pair {
                *sv = v::add(*sv, v::mul(xs, v::pair(y0, y1)));
            }
        }
    }
    *acc = s;
}

/// The same for two pairs at once: x*y + u*z over the same index range.
#[inline(always)]
fn run2(acc: &mut Acc, x: &[f64], y: &[f64], u: &[f64], z: &[f64]) {
    let mut s = *acc;
    for ((&xi, yw), (&ui, zw)) in x
        .iter()
        .zip(y.windows(B).rev())
        .zip(u.iter().zip(z.windows(B).rev()))
    {
        let (xs, us) = (v::splat(xi), v::splat(ui));
        for (sv, (yp, zp)) in s.iter_mut().zip(yw.chunks_exact(2).zip(zw.chunks_exact(2))) {
            if let (&[y0, y1], &[z0, z1]) = (yp, zp) {
                *sv = v::add(
                    *sv,
                    v::add(v::mul(xs, v::pair(y0, y1)), v::mul(us, v::pair(z0, z1))),
                );
            }
        }
    }
    *acc = s;
}

/// Slice of padded buffer `pad` (number at P..) for x indices lo..hi against column block c0:
/// positions (c0 - (hi - 1)) .. (c0 - lo + B), shifted by P.
#[inline(always)]
fn window(pad: &[f64], c0: usize, lo: usize, hi: usize) -> &[f64] {
    pad.get(P + c0 + 1 - hi..P + c0 - lo + B).unwrap_or(&[])
}

/// The lane sums as integers: each is an integer below 2^52, so x + 2^52 has x in its low
/// mantissa bits.
#[inline(always)]
fn lane_values(acc: &Acc) -> [u64; B] {
    let mut out = [0u64; B];
    let magic = v::splat(4_503_599_627_370_496.0);
    for (pair, s) in out.chunks_exact_mut(2).zip(acc) {
        let [x, y] = v::bits(v::add(*s, magic));
        if let [p, q] = pair {
            *p = x ^ 0x4330_0000_0000_0000;
            *q = y ^ 0x4330_0000_0000_0000;
        }
    }
    out
}

impl Blocked {
    pub fn new(n_be: &[u8]) -> Blocked {
        let first = n_be.iter().position(|b| *b != 0).unwrap_or(n_be.len());
        let rest = &n_be[first..];
        let bits = rest.len() * 8 - rest.first().map_or(8, |b| b.leading_zeros() as usize);
        let k = (bits + 2).div_ceil(W as usize).next_multiple_of(B);
        assert!(k <= 128);
        let n_le = w_limbs_from_be(n_be, W, k);
        let low = n_le[0];
        let mut inv = low;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(low.wrapping_mul(inv)));
        }
        let mask = (1u32 << W) - 1;
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
                sub_in_place(&mut x, &n_le);
            }
        }
        Blocked {
            k,
            n_pad: padded(&n_le),
            n0_inv: inv.wrapping_neg() & mask,
            n_low: std::array::from_fn(|i| u64::from(n_le[i])),
            r2_pad: padded(&x),
            n_le,
        }
    }

    pub fn pow(&self, s: &[u8], e: u64, len: usize) -> Vec<u8> {
        let k = self.k;
        let plain = padded(&w_limbs_from_be(s, W, k));
        let mut x = vec![0f64; k + 2 * P];
        let mut m = vec![0f64; k];
        self.mul(&plain, &self.r2_pad, &mut m, &mut x);
        let base = x.clone();
        let mut y = vec![0f64; k + 2 * P];
        let top = 63 - e.leading_zeros();
        for bit in (0..top).rev() {
            self.sqr(&x, &mut m, &mut y);
            let factor = if bit == 0 { &plain } else { &base };
            if (e >> bit) & 1 == 1 {
                self.mul(&y, factor, &mut m, &mut x);
            } else {
                std::mem::swap(&mut x, &mut y);
            }
        }
        let mut out: Vec<u32> = x[P..P + k].iter().map(|&l| l as u32).collect();
        if ge(&out, &self.n_le) {
            sub_in_place(&mut out, &self.n_le);
        }
        be_from_w_limbs(&out, W, len)
    }

    /// Closes the B columns of a low block: lane sums, the triangle of the block's own digits,
    /// the digit of each column.
    #[inline(always)]
    fn close_low(&self, acc: &Acc, carry: &mut u64, m: &mut [f64], c0: usize) {
        let mask = (1u32 << W) - 1;
        let sums = lane_values(acc);
        let n = &self.n_low;
        let mut digits = [0u64; B];
        for t in 0..B {
            let mut total = *carry + sums[t];
            for s in 0..t {
                total += digits[s] * n[t - s];
            }
            let mc = (total as u32).wrapping_mul(self.n0_inv) & mask;
            total += u64::from(mc) * n[0];
            digits[t] = u64::from(mc);
            *carry = total >> W;
        }
        if let Some(slots) = m.get_mut(c0..c0 + B) {
            for (slot, &d) in slots.iter_mut().zip(&digits) {
                *slot = d as u32 as f64;
            }
        }
    }

    #[inline(always)]
    fn close_high(acc: &Acc, carry: &mut u64, out: &mut [f64], c0: usize, k: usize) {
        let mask = (1u64 << W) - 1;
        let sums = lane_values(acc);
        for (t, &s) in sums.iter().enumerate() {
            *carry += s;
            if let Some(slot) = out.get_mut(P + c0 + t - k) {
                *slot = (*carry & mask) as f64;
            }
            *carry >>= W;
        }
    }

    /// out = a * b / R (padded buffers), m scratch of k.
    #[inline(never)]
    pub fn mul(&self, a: &[f64], b: &[f64], m: &mut [f64], out: &mut [f64]) {
        let k = self.k;
        let a_limbs = a.get(P..P + k).unwrap_or(&[]);
        let n = &self.n_pad;
        let mut carry = 0u64;
        for c0 in (0..k).step_by(B) {
            let mut acc = [v::zero(); NV];
            let (Some(ax), Some(mx)) = (a_limbs.get(..c0), m.get(..c0)) else {
                return;
            };
            run2(&mut acc, ax, window(b, c0, 0, c0), mx, window(n, c0, 0, c0));
            run(
                &mut acc,
                a_limbs.get(c0..c0 + B).unwrap_or(&[]),
                window(b, c0, c0, c0 + B),
            );
            self.close_low(&acc, &mut carry, m, c0);
        }
        for c0 in (k..2 * k).step_by(B) {
            let lo = c0 + 1 - k;
            let mut acc = [v::zero(); NV];
            let (Some(ax), Some(mx)) = (a_limbs.get(lo..), m.get(lo..)) else {
                return;
            };
            run2(&mut acc, ax, window(b, c0, lo, k), mx, window(n, c0, lo, k));
            Self::close_high(&acc, &mut carry, out, c0, k);
        }
    }

    /// out = a * a / R (padded buffers), m scratch of k.
    #[inline(never)]
    pub fn sqr(&self, a: &[f64], m: &mut [f64], out: &mut [f64]) {
        let k = self.k;
        let a_limbs = a.get(P..P + k).unwrap_or(&[]);
        let mut doubled = [0f64; 128];
        for (d, &x) in doubled.iter_mut().zip(a_limbs) {
            *d = 2.0 * x;
        }
        let n = &self.n_pad;
        let mut carry = 0u64;
        for c0 in (0..k).step_by(B) {
            let mut acc = [v::zero(); NV];
            let half = c0 / 2;
            run(
                &mut acc,
                doubled.get(..half).unwrap_or(&[]),
                window(a, c0, 0, half),
            );
            run(&mut acc, m.get(..c0).unwrap_or(&[]), window(n, c0, 0, c0));
            add_square_diag(&mut acc, a, c0);
            self.close_low(&acc, &mut carry, m, c0);
        }
        for c0 in (k..2 * k).step_by(B) {
            let lo = c0 + 1 - k;
            let half = c0 / 2;
            let mut acc = [v::zero(); NV];
            if lo < half {
                run(
                    &mut acc,
                    doubled.get(lo..half).unwrap_or(&[]),
                    window(a, c0, lo, half),
                );
            }
            run(&mut acc, m.get(lo..).unwrap_or(&[]), window(n, c0, lo, k));
            add_square_diag(&mut acc, a, c0);
            Self::close_high(&acc, &mut carry, out, c0, k);
        }
    }
}

/// The products near the diagonal of a square's block c0..c0+B: a[h + j] * a[c - h - j] for
/// j in 0..B/2 (h = c0 / 2), weighted 2 below the diagonal (cross products, taken once), 1 on
/// it (the square a[c/2]^2) and 0 above it; every weight times a limb product is below 2^45.
#[inline(always)]
fn add_square_diag(acc: &mut Acc, a_pad: &[f64], c0: usize) {
    let h = c0 / 2;
    for j in 0..B / 2 {
        let (Some(&x), Some(win)) = (a_pad.get(P + h + j), a_pad.get(P + h - j..P + h - j + B))
        else {
            return;
        };
        let xs = v::splat(x);
        for (vi, (sv, pair)) in acc.iter_mut().zip(win.chunks_exact(2)).enumerate() {
            if let &[y0, y1] = pair {
                let w = |t: usize| {
                    if 2 * j < t {
                        2.0
                    } else if 2 * j == t {
                        1.0
                    } else {
                        0.0
                    }
                };
                let weights = v::pair(w(2 * vi), w(2 * vi + 1));
                *sv = v::add(*sv, v::mul(v::mul(xs, weights), v::pair(y0, y1)));
            }
        }
    }
}

fn padded(limbs: &[u32]) -> Vec<f64> {
    let mut out = vec![0f64; limbs.len() + 2 * P];
    for (o, &l) in out.iter_mut().skip(P).zip(limbs) {
        *o = f64::from(l);
    }
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

fn sub_in_place(x: &mut [u32], n: &[u32]) {
    let mask = (1u32 << W) - 1;
    let mut borrow = 0u32;
    for (xi, &ni) in x.iter_mut().zip(n) {
        let diff = xi.wrapping_sub(ni).wrapping_sub(borrow);
        borrow = diff >> 31;
        *xi = diff & mask;
    }
}
