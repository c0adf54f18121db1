//! Numbers as `L` 32-bit limbs, little-endian (eight for 256 bits, twelve for 384): what the
//! ECDSA curves' fields and scalars ([`crate::ec::modular`]: P-256 and P-384) and Ed25519's
//! scalars ([`crate::ed25519`]) share, and the signed base-32 digits all three curves' tables
//! of multiples are indexed by. Generic over `L` (a const parameter): each width is compiled
//! on its own, with its loops as fixed as if written for it.
//!
//! Why 32-bit limbs: wasm32 has a native 32×32→64 multiply and no 64×64→128 one, so every
//! partial product here is one `i64.mul`. Only public values (keys, signatures, hashes) pass
//! through here: nothing needs to run in constant time, and nothing does.

/// A 256-bit number, least significant limb first.
pub(crate) type Limbs = [u32; 8];

/// Zero.
pub(crate) const ZERO: Limbs = [0; 8];

/// `a * b / 2^(32L) mod m` for `a < 2^(32L)` and `b < m` (the sum before the last subtraction
/// is then below `2m`), `m` odd with `m0inv = -m^-1 mod 2^32`, fully reduced.
#[inline(always)]
pub(crate) fn mont_mul<const L: usize>(
    a: &[u32; L],
    b: &[u32; L],
    m: &[u32; L],
    m0inv: u32,
) -> [u32; L] {
    let mut t = [0; L];
    let mut top = 0u32;
    for &bi in b {
        let bi = u64::from(bi);
        // t += a * b[i]
        let mut carry = 0u64;
        for (tj, &aj) in t.iter_mut().zip(a) {
            let sum = u64::from(*tj) + u64::from(aj) * bi + carry;
            *tj = sum as u32;
            carry = sum >> 32;
        }
        let sum = u64::from(top) + carry;
        top = sum as u32;
        let overflow = (sum >> 32) as u32;
        // t = (t + q * m) / 2^32, q chosen so that the low limb vanishes.
        let q = u64::from(t.first().map_or(0, |t0| t0.wrapping_mul(m0inv)));
        let mut carry = 0u64;
        for (tj, &mj) in t.iter_mut().zip(m) {
            let sum = u64::from(*tj) + q * u64::from(mj) + carry;
            *tj = sum as u32;
            carry = sum >> 32;
        }
        let sum = u64::from(top) + carry;
        t.rotate_left(1);
        if let Some(last) = t.last_mut() {
            *last = sum as u32;
        }
        top = overflow + (sum >> 32) as u32;
    }
    reduce_once(&t, top, m)
}

/// `t + top * 2^(32L)` minus `m` if that is at least `m` (the value is below `2m`).
#[inline(always)]
pub(crate) fn reduce_once<const L: usize>(t: &[u32; L], top: u32, m: &[u32; L]) -> [u32; L] {
    let (difference, borrow) = sub_raw(t, m);
    if top != 0 || borrow == 0 {
        difference
    } else {
        *t
    }
}

/// `a + b` and the carry out.
#[inline(always)]
pub(crate) fn add_raw<const L: usize>(a: &[u32; L], b: &[u32; L]) -> ([u32; L], u32) {
    let mut sum = [0; L];
    let mut carry = 0u64;
    for ((s, &x), &y) in sum.iter_mut().zip(a).zip(b) {
        let t = u64::from(x) + u64::from(y) + carry;
        *s = t as u32;
        carry = t >> 32;
    }
    (sum, carry as u32)
}

/// `a - b mod 2^(32L)` and the borrow out (1 when `a < b`).
#[inline(always)]
pub(crate) fn sub_raw<const L: usize>(a: &[u32; L], b: &[u32; L]) -> ([u32; L], u32) {
    let mut difference = [0; L];
    let mut borrow = 0u64;
    for ((d, &x), &y) in difference.iter_mut().zip(a).zip(b) {
        let t = u64::from(x).wrapping_sub(u64::from(y)).wrapping_sub(borrow);
        *d = t as u32;
        borrow = t >> 63;
    }
    (difference, borrow as u32)
}

/// Bits per digit of [`signed_digits`].
pub(crate) const WINDOW_BITS: usize = 5;

/// `k` as `N` signed base-32 digits `d[i]` in −15..=16, `k = Σ d[i] · 32^i`, least significant
/// first (`N` must cover the bits of `k` plus the carry of the recoding).
pub(crate) fn signed_digits<const N: usize>(k: &[u32]) -> [i8; N] {
    let half = 1u32 << (WINDOW_BITS - 1);
    let mut digits = [0i8; N];
    let mut carry = 0u32;
    for (i, digit) in digits.iter_mut().enumerate() {
        let value = window_bits(k, i * WINDOW_BITS) + carry;
        if value > half {
            *digit = (value as i32 - (1 << WINDOW_BITS)) as i8;
            carry = 1;
        } else {
            *digit = value as i8;
            carry = 0;
        }
    }
    digits
}

/// The `WINDOW_BITS` bits of `k` from bit `position` up (zeros past its last limb).
fn window_bits(k: &[u32], position: usize) -> u32 {
    let (limb, shift) = (position / 32, position % 32);
    let low = k.get(limb).map_or(0, |l| l >> shift);
    let high = if shift + WINDOW_BITS > 32 {
        k.get(limb + 1).map_or(0, |l| l << (32 - shift))
    } else {
        0
    };
    (low | high) & ((1 << WINDOW_BITS) - 1)
}
