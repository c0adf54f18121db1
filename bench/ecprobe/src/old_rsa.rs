// edge-auth's RSA verifier as of fd76407 (32-bit limbs, CIOS product, separate squaring, 19
// Montgomery products per e = 65537 check), kept verbatim (tests removed, public_op made pub) as the `before` of
// bench/ecprobe's rsaprobe, so that both run interleaved in one process.
#![allow(dead_code)]
//! RSA signature verification (RS256/384/512: RSASSA-PKCS1-v1_5; PS256/384/512: RSASSA-PSS),
//! written for wasm32: 32-bit limbs, so every product is one native 64-bit multiply.
//!
//! jwt-simple's pure-Rust RSA backend (rsa 0.9 with 64-bit digits) needs 128-bit products, which
//! wasm emulates: about 2.2 ms per RS256 check inside Envoy's V8. Here the per-key Montgomery
//! constants are computed once, when the JWKS is parsed ([`RsaPublicKey::new`]), and a check is
//! one exponentiation by the public exponent (17 Montgomery products for e = 65537) followed by
//! an encode-and-compare (PKCS#1 v1.5) or the EMSA-PSS verification of RFC 8017 section 9.1.2.
//!
//! Only public values are involved, so nothing here needs to run in constant time.

use sha2::{Digest, Sha256, Sha384, Sha512};

/// The hash an RSA signature is made over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaHash {
    /// SHA-256 (RS256, PS256).
    Sha256,
    /// SHA-384 (RS384, PS384).
    Sha384,
    /// SHA-512 (RS512, PS512).
    Sha512,
}

/// The signature encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaPadding {
    /// EMSA-PKCS1-v1_5 (RFC 8017 section 9.2).
    Pkcs1v15,
    /// EMSA-PSS with MGF1 over the same hash and a salt as long as the hash (RFC 7518 section 3.5).
    Pss,
}

/// Why a public key was refused at configure time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaKeyError {
    /// The modulus is even, or too small to be a key.
    BadModulus,
    /// The public exponent is even, below 3, or wider than 64 bits.
    BadExponent,
}

/// An RSA public key with its Montgomery constants, ready to verify.
#[derive(Clone, Debug)]
pub struct RsaPublicKey {
    /// Modulus, little-endian 32-bit limbs, no leading zero limb.
    n: Vec<u32>,
    /// `-n^-1 mod 2^32`.
    n0_inv: u32,
    /// `R^2 mod n`, with `R = 2^(32 * limbs)`: turns a number into Montgomery form in one product.
    r2: Vec<u32>,
    /// Public exponent.
    e: u64,
    /// Size of the modulus in bits and in bytes.
    bits: usize,
    bytes: usize,
}

impl RsaHash {
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            hasher.finalize().to_vec()
        }
        match self {
            RsaHash::Sha256 => run::<Sha256>(parts),
            RsaHash::Sha384 => run::<Sha384>(parts),
            RsaHash::Sha512 => run::<Sha512>(parts),
        }
    }

    fn len(self) -> usize {
        match self {
            RsaHash::Sha256 => 32,
            RsaHash::Sha384 => 48,
            RsaHash::Sha512 => 64,
        }
    }

    /// DER of the DigestInfo prefix for EMSA-PKCS1-v1_5 (RFC 8017 section 9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            RsaHash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            RsaHash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            RsaHash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

impl RsaPublicKey {
    /// Builds a key from the big-endian modulus and exponent (JWK `n` and `e`) and precomputes
    /// its Montgomery constants. Size limits are the caller's policy (see `jwks`).
    pub fn new(n: &[u8], e: &[u8]) -> Result<RsaPublicKey, RsaKeyError> {
        let n = limbs_from_be(n);
        let bits = bit_length(&n);
        let low = n.first().copied().unwrap_or(0);
        if bits < 64 || low & 1 == 0 {
            return Err(RsaKeyError::BadModulus);
        }
        let e_bytes: Vec<u8> = e.iter().copied().skip_while(|b| *b == 0).collect();
        if e_bytes.len() > 8 {
            return Err(RsaKeyError::BadExponent);
        }
        let e = e_bytes
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        if e < 3 || e & 1 == 0 {
            return Err(RsaKeyError::BadExponent);
        }
        // Newton iteration for the inverse of an odd number mod 2^32: each step doubles the
        // number of correct low bits, starting from 3 correct bits (x = low works mod 8).
        let mut inv = low;
        for _ in 0..4 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(low.wrapping_mul(inv)));
        }
        let r2 = r_squared(&n);
        Ok(RsaPublicKey {
            n0_inv: inv.wrapping_neg(),
            r2,
            e,
            bytes: bits.div_ceil(8),
            bits,
            n,
        })
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Whether `signature` is a valid signature of `message` under this key.
    pub fn verify(
        &self,
        hash: RsaHash,
        padding: RsaPadding,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let Some(em) = self.public_op(signature) else {
            return false;
        };
        let digest = hash.digest(&[message]);
        match padding {
            RsaPadding::Pkcs1v15 => self.pkcs1v15_matches(hash, &digest, &em),
            RsaPadding::Pss => self.pss_matches(hash, &digest, &em),
        }
    }

    /// `signature^e mod n` as `bytes` big-endian bytes, or `None` if the signature is not a
    /// number below `n` of exactly the modulus length (RFC 8017 section 8.2.2 step 1).
    pub fn public_op(&self, signature: &[u8]) -> Option<Vec<u8>> {
        if signature.len() != self.bytes {
            return None;
        }
        let s = limbs_from_be(signature);
        let k = self.n.len();
        if s.len() > k || compare(&s, &self.n) != std::cmp::Ordering::Less {
            return None;
        }
        let mut s_full = vec![0u32; k];
        for (dst, src) in s_full.iter_mut().zip(&s) {
            *dst = *src;
        }
        let mut scratch = vec![0u32; k + 2];
        let mut wide = vec![0u32; 2 * k + 1];
        let mut base = vec![0u32; k];
        self.mont_mul(&s_full, &self.r2, &mut base, &mut scratch);
        let mut acc = base.clone();
        let mut tmp = vec![0u32; k];
        let top = 63 - self.e.leading_zeros();
        for bit in (0..top).rev() {
            self.mont_sqr(&acc, &mut tmp, &mut wide);
            if (self.e >> bit) & 1 == 1 {
                self.mont_mul(&tmp, &base, &mut acc, &mut scratch);
            } else {
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        // Out of Montgomery form: multiply by 1.
        let mut one = vec![0u32; k];
        if let Some(first) = one.first_mut() {
            *first = 1;
        }
        self.mont_mul(&acc, &one, &mut tmp, &mut scratch);
        Some(be_from_limbs(&tmp, self.bytes))
    }

    /// Montgomery product `out = a * b / R mod n` (coarsely integrated operand scanning),
    /// fully reduced. `a`, `b` and `out` have as many limbs as `n`, and are below `n`;
    /// `scratch` has two more.
    fn mont_mul(&self, a: &[u32], b: &[u32], out: &mut [u32], scratch: &mut [u32]) {
        scratch.fill(0);
        let n = &self.n;
        let k = n.len();
        let (t, top) = scratch.split_at_mut(k.min(scratch.len()));
        let [t_k, t_k1] = top else {
            return;
        };
        for &bi in b {
            let bi = u64::from(bi);
            // t += a * b[i]
            let mut carry = 0u64;
            for (tj, &aj) in t.iter_mut().zip(a) {
                let sum = u64::from(*tj) + u64::from(aj) * bi + carry;
                *tj = sum as u32;
                carry = sum >> 32;
            }
            let sum = u64::from(*t_k) + carry;
            *t_k = sum as u32;
            *t_k1 = (sum >> 32) as u32;
            // t = (t + m * n) / 2^32, with m chosen so the low limb vanishes.
            let mut limbs = t.iter_mut().zip(n);
            let Some((t0, &n0)) = limbs.next() else {
                return;
            };
            let m = u64::from(t0.wrapping_mul(self.n0_inv));
            let mut carry = (u64::from(*t0) + m * u64::from(n0)) >> 32;
            let mut previous: &mut u32 = t0;
            for (tj, &nj) in limbs {
                let sum = u64::from(*tj) + m * u64::from(nj) + carry;
                *previous = sum as u32;
                carry = sum >> 32;
                previous = tj;
            }
            let sum = u64::from(*t_k) + carry;
            *previous = sum as u32;
            let sum = u64::from(*t_k1) + (sum >> 32);
            *t_k = sum as u32;
            *t_k1 = 0;
        }
        reduce_once(t, *t_k, n, out);
    }

    /// Montgomery square `out = a * a / R mod n`, fully reduced: the full square first, using
    /// each cross product `a[i] * a[j]` once and doubling (about half the multiplies of a
    /// general product), then a separate Montgomery reduction. `wide` has `2 * limbs + 1` limbs.
    /// 16 of the 17 products of an e = 65537 exponentiation are squares.
    fn mont_sqr(&self, a: &[u32], out: &mut [u32], wide: &mut [u32]) {
        wide.fill(0);
        let n = &self.n;
        let k = n.len();
        // Cross products a[i] * a[j], i < j, land at position i + j; plain slice zips, so the
        // loops compile without per-step checks.
        for (i, &ai) in a.iter().enumerate() {
            let ai = u64::from(ai);
            let (Some(row), Some(rest)) = (wide.get_mut(2 * i + 1..i + k), a.get(i + 1..)) else {
                continue;
            };
            let mut carry = 0u64;
            for (w, &aj) in row.iter_mut().zip(rest) {
                let sum = u64::from(*w) + ai * u64::from(aj) + carry;
                *w = sum as u32;
                carry = sum >> 32;
            }
            // Position i + k: no earlier row reached it yet.
            if let Some(w) = wide.get_mut(i + k) {
                *w = carry as u32;
            }
        }
        // Double the cross products, then add the squares a[i]^2 at position 2i.
        let mut top_bit = 0u32;
        for w in wide.iter_mut().take(2 * k) {
            let next = *w >> 31;
            *w = (*w << 1) | top_bit;
            top_bit = next;
        }
        let mut carry = 0u64;
        for (pair, &ai) in wide.chunks_exact_mut(2).zip(a) {
            if let [lo, hi] = pair {
                let square = u64::from(ai) * u64::from(ai);
                let sum = u64::from(*lo) + (square & 0xffff_ffff) + carry;
                *lo = sum as u32;
                let sum = u64::from(*hi) + (square >> 32) + (sum >> 32);
                *hi = sum as u32;
                carry = sum >> 32;
            }
        }
        // Montgomery reduction: clear the low k limbs one at a time, adding multiples of n.
        for i in 0..k {
            let Some(window) = wide.get_mut(i..i + k) else {
                break;
            };
            let m = u64::from(
                window
                    .first()
                    .copied()
                    .unwrap_or(0)
                    .wrapping_mul(self.n0_inv),
            );
            let mut carry = 0u64;
            for (w, &nj) in window.iter_mut().zip(n) {
                let sum = u64::from(*w) + m * u64::from(nj) + carry;
                *w = sum as u32;
                carry = sum >> 32;
            }
            for w in wide.iter_mut().skip(i + k) {
                if carry == 0 {
                    break;
                }
                let sum = u64::from(*w) + carry;
                *w = sum as u32;
                carry = sum >> 32;
            }
        }
        let (_, high) = wide.split_at(k.min(wide.len()));
        let (t, top) = high.split_at(k.min(high.len()));
        reduce_once(t, top.first().copied().unwrap_or(0), n, out);
    }

    fn pkcs1v15_matches(&self, hash: RsaHash, digest: &[u8], em: &[u8]) -> bool {
        // EM = 0x00 || 0x01 || PS (0xff..., at least 8) || 0x00 || DigestInfo || H
        let prefix = hash.digest_info_prefix();
        let t_len = prefix.len() + digest.len();
        let Some(ps_len) = self.bytes.checked_sub(t_len + 3) else {
            return false;
        };
        if ps_len < 8 {
            return false;
        }
        let expected = [0x00u8, 0x01]
            .iter()
            .chain(std::iter::repeat_n(&0xffu8, ps_len))
            .chain(&[0x00u8])
            .chain(prefix)
            .chain(digest);
        expected.eq(em.iter())
    }

    fn pss_matches(&self, hash: RsaHash, digest: &[u8], em_full: &[u8]) -> bool {
        // RFC 8017 section 9.1.2 with emBits = modBits - 1 and sLen = hLen.
        let h_len = hash.len();
        let s_len = h_len;
        let em_bits = self.bits - 1;
        let em_len = em_bits.div_ceil(8);
        // I2OSP(m, emLen): when emLen < k, the dropped leading byte must be zero.
        let Some(skip) = em_full.len().checked_sub(em_len) else {
            return false;
        };
        let (dropped, em) = em_full.split_at(skip);
        if dropped.iter().any(|b| *b != 0) {
            return false;
        }
        if em_len < h_len + s_len + 2 {
            return false;
        }
        let Some((&last, rest)) = em.split_last() else {
            return false;
        };
        if last != 0xbc {
            return false;
        }
        let (masked_db, h) = rest.split_at(em_len - h_len - 1);
        let unused_bits = 8 * em_len - em_bits;
        let top_mask = 0xffu8.checked_shr(unused_bits as u32).unwrap_or(0);
        if masked_db.first().is_some_and(|b| b & !top_mask != 0) {
            return false;
        }
        let mut db = mgf1(hash, h, masked_db.len());
        for (d, m) in db.iter_mut().zip(masked_db) {
            *d ^= m;
        }
        if let Some(first) = db.first_mut() {
            *first &= top_mask;
        }
        let ps_len = em_len - h_len - s_len - 2;
        let (ps, rest) = db.split_at(ps_len);
        let Some((&separator, salt)) = rest.split_first() else {
            return false;
        };
        if ps.iter().any(|b| *b != 0) || separator != 0x01 || salt.len() != s_len {
            return false;
        }
        let h_expected = hash.digest(&[&[0u8; 8], digest, salt]);
        h_expected == h
    }
}

/// `out = t - n` if `top:t >= n`, else `out = t`; for Montgomery results, which are below `2n`.
fn reduce_once(t: &[u32], top: u32, n: &[u32], out: &mut [u32]) {
    if top != 0 || compare(t, n) != std::cmp::Ordering::Less {
        let mut borrow = 0i64;
        for (o, (&tj, &nj)) in out.iter_mut().zip(t.iter().zip(n)) {
            let diff = i64::from(tj) - i64::from(nj) + borrow;
            *o = diff as u32;
            borrow = diff >> 32;
        }
    } else {
        for (o, &tj) in out.iter_mut().zip(t) {
            *o = tj;
        }
    }
}

/// MGF1 (RFC 8017 appendix B.2.1): `len` bytes of mask from `seed`.
fn mgf1(hash: RsaHash, seed: &[u8], len: usize) -> Vec<u8> {
    let mut mask = Vec::with_capacity(len + hash.len());
    let mut counter: u32 = 0;
    while mask.len() < len {
        mask.extend(hash.digest(&[seed, &counter.to_be_bytes()]));
        counter = counter.wrapping_add(1);
    }
    mask.truncate(len);
    mask
}

/// Little-endian 32-bit limbs of a big-endian number, without leading zero limbs.
fn limbs_from_be(bytes: &[u8]) -> Vec<u32> {
    let mut limbs: Vec<u32> = bytes
        .rchunks(4)
        .map(|chunk| chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
        .collect();
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    limbs
}

/// The low `len` bytes of a little-endian limb number, big-endian.
fn be_from_limbs(limbs: &[u32], len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = limbs
        .iter()
        .flat_map(|limb| limb.to_le_bytes())
        .take(len)
        .collect();
    out.resize(len, 0);
    out.reverse();
    out
}

fn bit_length(limbs: &[u32]) -> usize {
    match limbs.last() {
        Some(top) => limbs.len() * 32 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// Compares two little-endian numbers of which `a` has at most as many limbs as `b`.
fn compare(a: &[u32], b: &[u32]) -> std::cmp::Ordering {
    let limb = |x: &[u32], i: usize| x.get(i).copied().unwrap_or(0);
    let len = a.len().max(b.len());
    for i in (0..len).rev() {
        match limb(a, i).cmp(&limb(b, i)) {
            std::cmp::Ordering::Equal => continue,
            other => return other,
        }
    }
    std::cmp::Ordering::Equal
}

/// `R^2 mod n` for `R = 2^(32 * limbs(n))`, by doubling 1 modulo `n` (configure time only).
fn r_squared(n: &[u32]) -> Vec<u32> {
    let k = n.len();
    let mut x = vec![0u32; k];
    if let Some(first) = x.first_mut() {
        *first = 1;
    }
    for _ in 0..(64 * k) {
        // x = 2x mod n; x < n, so 2x < 2n and one subtraction suffices.
        let mut carry = 0u32;
        for limb in x.iter_mut() {
            let next = *limb >> 31;
            *limb = (*limb << 1) | carry;
            carry = next;
        }
        if carry != 0 || compare(&x, n) != std::cmp::Ordering::Less {
            let mut borrow = 0i64;
            for (xj, &nj) in x.iter_mut().zip(n) {
                let diff = i64::from(*xj) - i64::from(nj) + borrow;
                *xj = diff as u32;
                borrow = diff >> 32;
            }
        }
    }
    x
}
