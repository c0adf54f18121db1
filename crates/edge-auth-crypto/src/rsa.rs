//! RSA signature verification (RS256/384/512: RSASSA-PKCS1-v1_5; PS256/384/512: RSASSA-PSS),
//! written for wasm32.
//!
//! jwt-simple's pure-Rust RSA backend (rsa 0.9 with 64-bit digits) needs 128-bit products, which
//! wasm emulates: about 2.2 ms per RS256 check inside Envoy's V8. Here the per-key Montgomery
//! constants are computed once, when the JWKS is parsed ([`RsaPublicKey::new`]), and a check is
//! one exponentiation by the public exponent followed by an encode-and-compare (PKCS#1 v1.5) or
//! the EMSA-PSS verification of RFC 8017 section 9.1.2.
//!
//! The arithmetic (`Montgomery`) uses 28-bit limbs (27 above 3,582 bits) held in `u32`, so a
//! product is one native 32 x 32 -> 64-bit multiply, and a whole column of a product and of its
//! Montgomery reduction adds up in a `u64` without carries (product scanning; wasm has no
//! add-with-carry). Squares take each cross product once. Numbers stay below `2n` between
//! products, and the last product, by the plain signature, leaves Montgomery form: e = 65537
//! costs 18 products (1 into Montgomery form, 16 squares, 1 multiply). An issuer's key
//! ([`RsaPublicKey::with_pkcs1_constants`]) checks PKCS#1 v1.5 signatures with no conversion at
//! all, 17 products, against the expected encoding scaled by a per-key power of `R`
//! (`Pkcs1Expected`). In wasm builds with
//! SIMD128 (the filter's) the columns are summed four limbs at a time with `i64x2.extmul`.
//! RSA-2048 verify under node --no-liftoff (V8, as in Envoy): about 39 µs, against 88 µs for
//! the previous 32-bit version (66 µs without SIMD); see `make profile`.
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
    /// The modulus is even, too small to be a key, or larger than 13,822 bits.
    BadModulus,
    /// The public exponent is even, below 3, or wider than 64 bits.
    BadExponent,
}

/// An RSA public key with its Montgomery constants, ready to verify.
#[derive(Clone, Debug)]
pub struct RsaPublicKey {
    /// Modulus, little-endian 32-bit limbs, no leading zero limb (the range check of a signature).
    n: Vec<u32>,
    /// The same modulus prepared for the exponentiation.
    mont: Montgomery,
    /// Public exponent.
    e: u64,
    /// Size of the modulus in bits and in bytes.
    bits: usize,
    bytes: usize,
    /// `-n^-1 mod 2^32`, for the 32-bit reference arithmetic the tests compare with.
    #[cfg(any(test, feature = "rsa-reference"))]
    n0_inv: u32,
    /// `R^2 mod n` with `R = 2^(32 * limbs)`, for the 32-bit reference arithmetic.
    #[cfg(any(test, feature = "rsa-reference"))]
    r2: Vec<u32>,
    /// The constants of the PKCS#1 v1.5 check in Montgomery form, for the one hash an issuer's
    /// key serves ([`RsaPublicKey::with_pkcs1_constants`]); `None` for a key used once.
    pkcs1: Option<Pkcs1Expected>,
}

/// What an EMSA-PKCS1-v1_5 encoding `EM` turns into when the exponentiation never enters or
/// leaves Montgomery form.
///
/// Treating the signature `s` itself as the Montgomery form of `s / R`, the 16 squares and one
/// product of e = 65537 give `y = s^e * T mod n` with `T = R^(1-e) mod n` (in general: any odd
/// `e`): no product by `R^2 mod n` on the way in, none by 1 on the way out. `T` is invertible
/// (`n` is odd), so `s^e = EM (mod n)` exactly when `y = EM * T (mod n)`. `EM` is a constant `C`
/// (`00 01 ff..ff 00 DigestInfo` followed by zeros) plus the digest `H` in its low bytes, so
/// `EM * T = C * T + H * T`: `C * T mod n` is computed here once, and `H * T` per check by a
/// short product (the digest's few limbs against `n`'s, reduced by as many limbs).
#[derive(Clone, Debug)]
struct Pkcs1Expected {
    /// The hash the constants are for.
    hash: RsaHash,
    /// `C * T mod n`, fully reduced, little-endian `w`-bit limbs.
    fixed: Vec<u32>,
    /// `T * 2^(w * digest_limbs) mod n`, most significant limb first: the short product
    /// divides that power out again.
    scale_rev: Vec<u32>,
    /// Limbs of `w` bits a digest of `hash` takes.
    digest_limbs: usize,
}

/// Montgomery arithmetic modulo `n` on `W`-bit limbs (`W` = [`LIMB_BITS`], or
/// [`LIMB_BITS_LARGE`] for moduli too large for it), each held in a `u32`.
///
/// Why not 32-bit limbs: wasm multiplies 32 x 32 -> 64 bits natively but has no add-with-carry,
/// so a 32-bit schoolbook step pays a shift, a mask and a store for every carry. With limbs of
/// at most 28 bits a product is below 2^56, and a whole column of a product (product scanning)
/// adds up in one `u64` without any carry; the carry is propagated once per column. Each inner
/// step is one multiply and one add. The Montgomery reduction runs in the same columns
/// (finely integrated product scanning): the factor `m_c` of column `c` is chosen when that
/// column is complete.
///
/// Overflow bound (checked by a test with all limbs at their maximum and the largest accepted
/// modulus): column `c` adds at most `2 * limbs` products (`limbs` of `a * b` or of the doubled
/// square, `limbs` of `m * n`), each at most `(2^W - 1)^2`, to the carry of the column before.
/// If that carry is below `2 * limbs * 2^W`, the column's sum is at most
/// `2 * limbs * (2^(2W) - 2^W + 1) < 2 * limbs * 2^(2W)`, and its carry again below
/// `2 * limbs * 2^W`. So no sum overflows a `u64` when `2 * limbs * 2^(2W) <= 2^64`, that is
/// `limbs <= 2^(63 - 2W)`: 128 limbs of 28 bits (moduli up to 3,582 bits), 512 limbs of 27 bits.
///
/// `R = 2^(W * limbs)` with `limbs * W >= bits + 2`, so `R > 4n`: every product of two numbers
/// below `2n` is again below `2n`, and the exponentiation never subtracts `n` until the end.
#[derive(Clone, Debug)]
struct Montgomery {
    /// Bits per limb: [`LIMB_BITS`] or [`LIMB_BITS_LARGE`].
    w: u32,
    /// `n` in `w`-bit limbs, most significant first. Product scanning pairs limb `i` of one
    /// factor with limb `c - i` of the other; with the second one reversed, both run forward.
    n_rev: Vec<u32>,
    /// `-n^-1 mod 2^w`.
    n0_inv: u32,
    /// `R^2 mod n` in `w`-bit limbs, most significant first: turns a number into Montgomery
    /// form in one product.
    r2_rev: Vec<u32>,
    /// `u32::MAX`, but read from memory at run time: the SIMD column sums (module `simd`) mask
    /// their operands with it, a no-op LLVM cannot prove, which keeps it from undoing their
    /// `i64x2.extmul`. Unused by the scalar column sums.
    all_ones: u32,
}

/// Limb width for moduli up to [`MAX_LIMBS`] such limbs (3,582 bits: every 2048- and 3072-bit key).
const LIMB_BITS: u32 = 28;
/// Limb width above that, up to [`MAX_LIMBS_LARGE`] limbs (13,822 bits).
const LIMB_BITS_LARGE: u32 = 27;
/// Most limbs of [`LIMB_BITS`] bits whose column sums fit a `u64`: `2^(63 - 2 * 28)`.
const MAX_LIMBS: usize = 1 << (63 - 2 * LIMB_BITS);
/// Most limbs of [`LIMB_BITS_LARGE`] bits whose column sums fit a `u64`: `2^(63 - 2 * 27)`.
const MAX_LIMBS_LARGE: usize = 1 << (63 - 2 * LIMB_BITS_LARGE);

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
        let bytes = bits.div_ceil(8);
        let mont = Montgomery::new(&n, bytes, inv.wrapping_neg()).ok_or(RsaKeyError::BadModulus)?;
        Ok(RsaPublicKey {
            #[cfg(any(test, feature = "rsa-reference"))]
            n0_inv: inv.wrapping_neg(),
            #[cfg(any(test, feature = "rsa-reference"))]
            r2: pow2_mod(&n, 64 * n.len()),
            mont,
            e,
            bytes,
            bits,
            n,
            pkcs1: None,
        })
    }

    /// The same key, its RS256/384/512 checks with `hash` made in Montgomery form
    /// ([`Pkcs1Expected`]): one Montgomery product fewer per check (17 instead of 18 for
    /// e = 65537) for about one check's worth of work once. For an issuer's keys,
    /// which verify many tokens; a key used for one check is cheaper without.
    #[must_use]
    pub fn with_pkcs1_constants(self, hash: RsaHash) -> RsaPublicKey {
        // Moduli of 27-bit limbs (above 3,582 bits) keep the plain check: one product in 18 is
        // less there, and a second copy of this code is not worth its bytes.
        let pkcs1 = (self.mont.w == LIMB_BITS)
            .then(|| self.pkcs1_expected::<LIMB_BITS>(hash))
            .flatten();
        RsaPublicKey { pkcs1, ..self }
    }

    /// The constants of [`Pkcs1Expected`], or `None` if the modulus is too short for `hash`
    /// (then no signature passes either way).
    fn pkcs1_expected<const W: u32>(&self, hash: RsaHash) -> Option<Pkcs1Expected> {
        let mont = &self.mont;
        let k = mont.n_rev.len();
        let digest_limbs = (8 * hash.len()).div_ceil(W as usize);
        let prefix = hash.digest_info_prefix();
        let ps_len = self.bytes.checked_sub(prefix.len() + hash.len() + 3)?;
        if ps_len < 8 || digest_limbs >= k {
            return None;
        }
        let encoded: Vec<u8> = [0x00u8, 0x01]
            .into_iter()
            .chain(std::iter::repeat_n(0xffu8, ps_len))
            .chain([0x00])
            .chain(prefix.iter().copied())
            .chain(std::iter::repeat_n(0x00, hash.len()))
            .collect();
        let mut one = vec![0u32; k];
        if let Some(first) = one.first_mut() {
            *first = 1;
        }
        // T = R^(1-e) mod n: the exponentiation of 1, taken as the Montgomery form of 1/R.
        let mut t = mont.pow_unconverted::<W>(&one, self.e);
        mont.reduce::<W>(&mut t);
        let t_rev: Vec<u32> = t.iter().rev().copied().collect();
        let mut scratch = vec![0u32; k];
        let (mut c_mont, mut fixed) = (vec![0u32; k], vec![0u32; k]);
        // C * T = (C * R^2 / R) * T / R.
        let c = w_limbs_from_be(&encoded, W, k);
        mont.mul::<W>(&c, &mont.r2_rev, &mut scratch, &mut c_mont);
        mont.mul::<W>(&c_mont, &t_rev, &mut scratch, &mut fixed);
        mont.reduce::<W>(&mut fixed);
        // T * 2^(W * digest_limbs) = T * (2^(W * (digest_limbs + k)) mod n) / R.
        let power = pow2_mod(&self.n, W as usize * (digest_limbs + k));
        let mut power_rev = w_limbs_from_be(&be_from_limbs(&power, self.bytes), W, k);
        power_rev.reverse();
        let mut scale = vec![0u32; k];
        mont.mul::<W>(&t, &power_rev, &mut scratch, &mut scale);
        mont.reduce::<W>(&mut scale);
        scale.reverse();
        Some(Pkcs1Expected {
            hash,
            fixed,
            scale_rev: scale,
            digest_limbs,
        })
    }

    /// Modulus size in bits (the tests' and the reference's; `jwks` checks sizes before).
    #[cfg(any(test, feature = "rsa-reference"))]
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
        if padding == RsaPadding::Pkcs1v15 {
            if let Some(expected) = self.pkcs1.as_ref().filter(|p| p.hash == hash) {
                return self.pkcs1v15_in_montgomery_form(expected, message, signature);
            }
        }
        let Some(em) = self.public_op(signature) else {
            return false;
        };
        let digest = hash.digest(&[message]);
        match padding {
            RsaPadding::Pkcs1v15 => self.pkcs1v15_matches(hash, &digest, &em),
            RsaPadding::Pss => self.pss_matches(hash, &digest, &em),
        }
    }

    /// RSAVP1 (RFC 8017 section 5.2.2): `signature^e mod n` as `bytes` big-endian bytes, or
    /// `None` if the signature is not a number below `n` of exactly the modulus length (section
    /// 8.2.2 step 1). Public for bench/ecprobe, which compares it with the previous version in
    /// wasm; [`RsaPublicKey::verify`] is the check to use.
    pub fn public_op(&self, signature: &[u8]) -> Option<Vec<u8>> {
        if signature.len() != self.bytes {
            return None;
        }
        let s = limbs_from_be(signature);
        if s.len() > self.n.len() || compare(&s, &self.n) != std::cmp::Ordering::Less {
            return None;
        }
        Some(if self.mont.w == LIMB_BITS {
            self.mont.pow::<LIMB_BITS>(signature, self.e, self.bytes)
        } else {
            self.mont
                .pow::<LIMB_BITS_LARGE>(signature, self.e, self.bytes)
        })
    }

    /// [`RsaPublicKey::verify`] for PKCS#1 v1.5 with [`Pkcs1Expected`]: the same range checks
    /// as [`RsaPublicKey::public_op`], then `s^e * T` against `EM * T` modulo `n`.
    fn pkcs1v15_in_montgomery_form(
        &self,
        expected: &Pkcs1Expected,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        if signature.len() != self.bytes {
            return false;
        }
        let s = limbs_from_be(signature);
        if s.len() > self.n.len() || compare(&s, &self.n) != std::cmp::Ordering::Less {
            return false;
        }
        let digest = expected.hash.digest(&[message]);
        self.pkcs1v15_scaled_matches::<LIMB_BITS>(expected, signature, &digest)
    }

    /// Whether `s^e * T = (C + H) * T (mod n)` for the big-endian `signature` `s < n` and the
    /// digest `H`: both sides fully reduced, then compared limb by limb.
    fn pkcs1v15_scaled_matches<const W: u32>(
        &self,
        expected: &Pkcs1Expected,
        signature: &[u8],
        digest: &[u8],
    ) -> bool {
        let mont = &self.mont;
        let k = mont.n_rev.len();
        let mut y = mont.pow_unconverted::<W>(&w_limbs_from_be(signature, W, k), self.e);
        mont.reduce::<W>(&mut y);
        y == self.pkcs1v15_scaled_expected::<W>(expected, digest)
    }

    /// `EM * T mod n`, fully reduced, for the digest `H`: `C * T + H * T`, the second by a
    /// short Montgomery product (`H` has `digest_limbs` limbs, each below `2n`).
    fn pkcs1v15_scaled_expected<const W: u32>(
        &self,
        expected: &Pkcs1Expected,
        digest: &[u8],
    ) -> Vec<u32> {
        let mont = &self.mont;
        let h = w_limbs_from_be(digest, W, expected.digest_limbs);
        let mut sum = mont.mul_short::<W>(&h, &expected.scale_rev);
        mont.reduce::<W>(&mut sum);
        // Both below n, so the sum is below 2n: one more reduction.
        let mask = (1u32 << W) - 1;
        let mut carry = 0u32;
        for (x, &f) in sum.iter_mut().zip(&expected.fixed) {
            let total = *x + f + carry;
            *x = total & mask;
            carry = total >> W;
        }
        mont.reduce::<W>(&mut sum);
        sum
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

/// The 32-bit Montgomery arithmetic of the previous version (coarsely integrated operand
/// scanning, a separate squaring), kept as the reference of the differential tests: natively
/// in `cargo test`, and in V8 by `bench/ecprobe`'s rsaprobe (feature `rsa-reference`), which
/// is where the SIMD128 column sums, compiled for wasm only, are compared with it.
#[cfg(any(test, feature = "rsa-reference"))]
impl RsaPublicKey {
    /// [`RsaPublicKey::public_op`] with the 32-bit CIOS arithmetic this module used before the
    /// redundant limbs of [`Montgomery`]: the reference the differential tests compare with.
    pub fn public_op_reference(&self, signature: &[u8]) -> Option<Vec<u8>> {
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
}

#[cfg(any(test, feature = "rsa-reference"))]
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

/// `2^p mod n`, by doubling 1 modulo `n` (configure time only).
fn pow2_mod(n: &[u32], p: usize) -> Vec<u32> {
    let k = n.len();
    let mut x = vec![0u32; k];
    if let Some(first) = x.first_mut() {
        *first = 1;
    }
    for _ in 0..p {
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

/// `limbs` little-endian `w`-bit limbs of a big-endian number that fits in them.
fn w_limbs_from_be(bytes: &[u8], w: u32, limbs: usize) -> Vec<u32> {
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

/// The low `len` bytes, big-endian, of a number in little-endian `w`-bit limbs.
fn be_from_w_limbs(limbs: &[u32], w: u32, len: usize) -> Vec<u8> {
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

impl Montgomery {
    /// The constants for the odd modulus `n` (32-bit limbs, `bytes` long), whose
    /// `-n^-1 mod 2^32` is `n0_inv32`; `None` if `n` is too large for the overflow bound.
    fn new(n: &[u32], bytes: usize, n0_inv32: u32) -> Option<Montgomery> {
        let bits = bit_length(n);
        let w = if (bits + 2).div_ceil(LIMB_BITS as usize) <= MAX_LIMBS {
            LIMB_BITS
        } else {
            LIMB_BITS_LARGE
        };
        let limbs = (bits + 2).div_ceil(w as usize);
        if limbs > MAX_LIMBS_LARGE {
            return None;
        }
        let mask = (1u32 << w) - 1;
        let n_be = be_from_limbs(n, bytes);
        let r2 = pow2_mod(n, 2 * w as usize * limbs);
        let mut n_rev = w_limbs_from_be(&n_be, w, limbs);
        n_rev.reverse();
        let mut r2_rev = w_limbs_from_be(&be_from_limbs(&r2, bytes), w, limbs);
        r2_rev.reverse();
        Some(Montgomery {
            w,
            n_rev,
            n0_inv: n0_inv32 & mask,
            r2_rev,
            all_ones: u32::MAX,
        })
    }

    /// `s^e mod n` as `len` big-endian bytes, for a big-endian `s < n` and an odd `e >= 3`.
    ///
    /// Left-to-right square-and-multiply in Montgomery form. The last step multiplies by `s`
    /// itself rather than by its Montgomery form `sR`, which divides the `R` out: no separate
    /// conversion back (e = 65537: one conversion in, 16 squares, 1 product).
    fn pow<const W: u32>(&self, s: &[u8], e: u64, len: usize) -> Vec<u8> {
        let k = self.n_rev.len();
        let plain = w_limbs_from_be(s, W, k);
        let plain_rev: Vec<u32> = plain.iter().rev().copied().collect();
        let (mut x, mut m) = (vec![0u32; k], vec![0u32; k]);
        self.mul::<W>(&plain, &self.r2_rev, &mut m, &mut x);
        let base_rev: Vec<u32> = x.iter().rev().copied().collect();
        let mut x = self.ladder::<W>(x, &base_rev, &plain_rev, e);
        self.reduce::<W>(&mut x);
        be_from_w_limbs(&x, W, len)
    }

    /// `b^e * R^(1-e) mod n`, below `2n`, for `b` below `2n` in little-endian limbs (as many as
    /// `n`'s) and an odd `e >= 3`: the exponentiation in Montgomery form of `b` taken as the
    /// Montgomery form of `b / R`, with no conversion in or out (e = 65537: 16 squares and
    /// 1 product). See [`Pkcs1Expected`].
    fn pow_unconverted<const W: u32>(&self, b: &[u32], e: u64) -> Vec<u32> {
        let b_rev: Vec<u32> = b.iter().rev().copied().collect();
        self.ladder::<W>(b.to_vec(), &b_rev, &b_rev, e)
    }

    /// Left-to-right square-and-multiply for the odd `e >= 3`, from `x` (the power of its top
    /// bit): a square per lower bit, then for a set bit a product by `base_rev`, or by
    /// `last_rev` for bit 0 (both most significant limb first). Shared by both
    /// exponentiations, so the products are compiled once.
    fn ladder<const W: u32>(
        &self,
        mut x: Vec<u32>,
        base_rev: &[u32],
        last_rev: &[u32],
        e: u64,
    ) -> Vec<u32> {
        let k = self.n_rev.len();
        let mut y = vec![0u32; k];
        let (mut m, mut reversed) = (vec![0u32; k], vec![0u32; k]);
        let top = 63 - e.leading_zeros();
        for bit in (0..top).rev() {
            self.sqr::<W>(&x, &mut reversed, &mut m, &mut y);
            let factor = if bit == 0 { last_rev } else { base_rev };
            if (e >> bit) & 1 == 1 {
                self.mul::<W>(&y, factor, &mut m, &mut x);
            } else {
                std::mem::swap(&mut x, &mut y);
            }
        }
        x
    }

    /// `a * b / 2^(W * h) mod n`, below `2n`, for a short `a` of `h` limbs (fewer than `n`'s),
    /// little-endian, and `b` below `n`, most significant limb first: the columns of
    /// [`Montgomery::mul`] with only `h` limbs of `a` and `h` reduction steps, about `2 * h`
    /// limb products per column instead of `2 * limbs`. `(a * b + m * n) / 2^(W * h)` with `a`
    /// and `m` below `2^(W * h)` and `b` below `n` is below `2n`.
    fn mul_short<const W: u32>(&self, a: &[u32], b_rev: &[u32]) -> Vec<u32> {
        let n_rev = &self.n_rev;
        let (k, h) = (n_rev.len(), a.len());
        let mut m = vec![0u32; h];
        let mut out = vec![0u32; k];
        if h == 0 || h >= k {
            return out;
        }
        let b0 = u64::from(b_rev.last().copied().unwrap_or(0));
        let mut acc = 0u64;
        for c in 0..h {
            let high = k - 1 - c;
            let (Some(a_low), Some(m_low), Some(b_high), Some(n_high)) = (
                a.get(..c),
                m.get(..c),
                b_rev.get(high..k - 1),
                n_rev.get(high..k - 1),
            ) else {
                return out;
            };
            acc += dot2(a_low, b_high, m_low, n_high, self.all_ones);
            acc += u64::from(a.get(c).copied().unwrap_or(0)) * b0;
            self.close_low_column::<W>(&mut acc, &mut m, c);
        }
        // Column c pairs a[i] and m[i] with b[c - i] and n[c - i], for i from max(0, c - k + 1)
        // to h - 1; b[c - i] is b_rev[k - 1 - c + i].
        for c in h..h + k - 1 {
            let low = (c + 1).saturating_sub(k);
            let start = k - 1 + low - c;
            let end = start + h - low;
            let (Some(a_high), Some(m_high), Some(b_part), Some(n_part)) = (
                a.get(low..),
                m.get(low..),
                b_rev.get(start..end),
                n_rev.get(start..end),
            ) else {
                return out;
            };
            acc += dot2(a_high, b_part, m_high, n_part, self.all_ones);
            close_high_column::<W>(&mut acc, &mut out, c - h);
        }
        if let Some(top) = out.last_mut() {
            *top = acc as u32;
        }
        out
    }

    /// Montgomery product `out = a * b / R mod n`, below `2n` for `a`, `b` below `2n`: product
    /// scanning with the reduction in the same columns. `a` little-endian, `b_rev` most
    /// significant limb first, `m` scratch; all as many limbs as `n`.
    #[inline(never)]
    fn mul<const W: u32>(&self, a: &[u32], b_rev: &[u32], m: &mut [u32], out: &mut [u32]) {
        let n_rev = &self.n_rev;
        let k = n_rev.len();
        let b0 = u64::from(b_rev.last().copied().unwrap_or(0));
        let mut acc = 0u64;
        // Columns 0..k: a[0..=c] * b[c..=0] and m[0..c] * n[c..1], then m[c] * n[0].
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
            acc += dot2(a_low, b_high, m_low, n_high, self.all_ones);
            acc += u64::from(a.get(c).copied().unwrap_or(0)) * b0;
            self.close_low_column::<W>(&mut acc, m, c);
        }
        // Columns k..2k-1: a[c-k+1..k] * b[k-1..c-k+1] and the same for m and n.
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
            acc += dot2(a_high, b_low, m_high, n_low, self.all_ones);
            close_high_column::<W>(&mut acc, out, c - k);
        }
        if let Some(top) = out.last_mut() {
            *top = acc as u32;
        }
    }

    /// Montgomery square `out = a * a / R mod n`, like [`Montgomery::mul`] with `b = a`, but each
    /// cross product `a[i] * a[j]`, `i < j`, is taken once and doubled: 16 of the 17 products
    /// of an e = 65537 exponentiation are squares. `reversed` is scratch for `a` backwards.
    #[inline(never)]
    fn sqr<const W: u32>(&self, a: &[u32], reversed: &mut [u32], m: &mut [u32], out: &mut [u32]) {
        for (r, &limb) in reversed.iter_mut().zip(a.iter().rev()) {
            *r = limb;
        }
        let n_rev = &self.n_rev;
        let k = n_rev.len();
        let mut acc = 0u64;
        for c in 0..k {
            let high = k - 1 - c;
            // Cross products a[i] * a[c - i] with i < c - i.
            let half = c.div_ceil(2);
            let (Some(a_low), Some(a_high), Some(m_low), Some(n_high)) = (
                a.get(..half),
                reversed.get(high..high + half),
                m.get(..c),
                n_rev.get(high..k - 1),
            ) else {
                return;
            };
            acc += 2 * dot(a_low, a_high, self.all_ones)
                + square_term(a, c)
                + dot(m_low, n_high, self.all_ones);
            self.close_low_column::<W>(&mut acc, m, c);
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
            acc += 2 * dot(a_low, a_high, self.all_ones)
                + square_term(a, c)
                + dot(m_high, n_low, self.all_ones);
            close_high_column::<W>(&mut acc, out, c - k);
        }
        if let Some(top) = out.last_mut() {
            *top = acc as u32;
        }
    }

    /// Ends column `c < limbs`: picks `m[c]` so that adding `m[c] * n[0]` clears the column's
    /// low `W` bits, then all_oness the carry.
    #[inline(always)]
    fn close_low_column<const W: u32>(&self, acc: &mut u64, m: &mut [u32], c: usize) {
        let mask = (1u32 << W) - 1;
        let n0 = u64::from(self.n_rev.last().copied().unwrap_or(0));
        let mc = (*acc as u32).wrapping_mul(self.n0_inv) & mask;
        *acc += u64::from(mc) * n0;
        if let Some(slot) = m.get_mut(c) {
            *slot = mc;
        }
        *acc >>= W;
    }

    /// `x = x - n` if `x >= n`: the one reduction at the end (`x < 2n`, limbs normalised).
    fn reduce<const W: u32>(&self, x: &mut [u32]) {
        let below = x
            .iter()
            .rev()
            .zip(&self.n_rev)
            .find(|(xi, ni)| xi != ni)
            .is_some_and(|(xi, ni)| xi < ni);
        if below {
            return;
        }
        let mask = (1u32 << W) - 1;
        let mut borrow = 0u32;
        for (xi, &ni) in x.iter_mut().zip(self.n_rev.iter().rev()) {
            // Both below 2^W <= 2^28: a negative difference shows in bit 31.
            let diff = xi.wrapping_sub(ni).wrapping_sub(borrow);
            borrow = diff >> 31;
            *xi = diff & mask;
        }
    }
}

/// Ends column `c >= limbs`: its low `W` bits are limb `c - limbs` of the result.
#[inline(always)]
fn close_high_column<const W: u32>(acc: &mut u64, out: &mut [u32], limb: usize) {
    if let Some(slot) = out.get_mut(limb) {
        *slot = (*acc & ((1u64 << W) - 1)) as u32;
    }
    *acc >>= W;
}

/// `a[c / 2]^2` for an even column `c` of a square, else 0.
#[inline(always)]
fn square_term(a: &[u32], c: usize) -> u64 {
    if c.is_multiple_of(2) {
        let limb = u64::from(a.get(c / 2).copied().unwrap_or(0));
        limb * limb
    } else {
        0
    }
}

/// `sum a[i] * b[i]`, one multiply and one add per step.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn dot(a: &[u32], b: &[u32], _all_ones: u32) -> u64 {
    a.iter()
        .zip(b)
        .fold(0, |sum, (&x, &y)| sum + u64::from(x) * u64::from(y))
}

/// `sum a[i] * b[i] + m[i] * n[i]`: a column of a product and of its reduction in one loop.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn dot2(a: &[u32], b: &[u32], m: &[u32], n: &[u32], _all_ones: u32) -> u64 {
    a.iter()
        .zip(b)
        .zip(m.iter().zip(n))
        .fold(0, |sum, ((&x, &y), (&u, &v))| {
            sum + u64::from(x) * u64::from(y) + u64::from(u) * u64::from(v)
        })
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd::{dot, dot2};

/// The column sums with wasm SIMD128, for builds with `-C target-feature=+simd128` (the filter's,
/// see `.cargo/config.toml`): four limbs per step, multiplied two at a time into 64-bit lanes
/// (`i64x2.extmul_low/high_i32x4_u`, which V8 compiles to `pmuludq` and two shuffles). LLVM's
/// own vectorisation of the scalar loops uses `i64x2.mul` instead, slower than scalar code in
/// V8. Lane sums are parts of a column sum, so the overflow bound of [`Montgomery`] covers them.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::{
        u32x4, u32x4_splat, u64x2_add, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4,
        u64x2_extract_lane, u64x2_splat, v128, v128_and,
    };

    /// Four limbs (LLVM merges the four loads into one `v128.load`).
    #[inline(always)]
    fn load(chunk: &[u32]) -> v128 {
        match *chunk {
            [a, b, c, d] => u32x4(a, b, c, d),
            _ => u64x2_splat(0),
        }
    }

    /// `sum + x * y`, lane by lane, in two 64-bit lanes. Without the masks LLVM folds each
    /// widening into a 64-bit extending load (`v128.load32x2_u`) and multiplies with
    /// `i64x2.mul`, which x64 lacks (V8 emulates it with three `pmuludq`, shifts and adds): slower
    /// than scalar code. A mask by a value it cannot prove constant keeps the `extmul`.
    #[inline(always)]
    fn products(sum: v128, x: v128, y: v128, all_ones: v128) -> v128 {
        let (x, y) = (v128_and(x, all_ones), v128_and(y, all_ones));
        let sum = u64x2_add(sum, u64x2_extmul_low_u32x4(x, y));
        u64x2_add(sum, u64x2_extmul_high_u32x4(x, y))
    }

    #[inline(always)]
    fn lanes(sum: v128) -> u64 {
        u64x2_extract_lane::<0>(sum) + u64x2_extract_lane::<1>(sum)
    }

    /// `sum a[i] * b[i]` (`a` and `b` of equal length).
    #[inline(always)]
    pub(super) fn dot(a: &[u32], b: &[u32], all_ones: u32) -> u64 {
        let all_ones = u32x4_splat(all_ones);
        let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
        let tail = a4.remainder().iter().zip(b4.remainder());
        let sum = a4.zip(b4).fold(u64x2_splat(0), |sum, (x, y)| {
            products(sum, load(x), load(y), all_ones)
        });
        tail.fold(lanes(sum), |sum, (&x, &y)| {
            sum + u64::from(x) * u64::from(y)
        })
    }

    /// `sum a[i] * b[i] + m[i] * n[i]` (all four of equal length).
    #[inline(always)]
    pub(super) fn dot2(a: &[u32], b: &[u32], m: &[u32], n: &[u32], all_ones: u32) -> u64 {
        let all_ones = u32x4_splat(all_ones);
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
        let sum = a4
            .zip(b4)
            .zip(m4.zip(n4))
            .fold(u64x2_splat(0), |sum, ((x, y), (u, v))| {
                products(
                    products(sum, load(x), load(y), all_ones),
                    load(u),
                    load(v),
                    all_ones,
                )
            });
        tail.fold(lanes(sum), |sum, ((&x, &y), (&u, &v))| {
            sum + u64::from(x) * u64::from(y) + u64::from(u) * u64::from(v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Vectors from `tests/data/gen_rsa_vectors.py` (OpenSSL through Python `cryptography`).
    #[test]
    fn known_answer_vectors_pass_and_every_broken_variant_fails() {
        let data: Value =
            serde_json::from_str(include_str!("../../../tests/data/rsa_vectors.json")).unwrap();
        let keys: Vec<RsaPublicKey> = data["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                let key = RsaPublicKey::new(
                    &unhex(k["n"].as_str().unwrap()),
                    &unhex(k["e"].as_str().unwrap()),
                )
                .unwrap();
                assert_eq!(key.bits() as u64, k["bits"].as_u64().unwrap());
                key
            })
            .collect();
        let vectors = data["vectors"].as_array().unwrap();
        assert!(vectors.len() > 200);
        for v in vectors {
            let key = &keys[v["key"].as_u64().unwrap() as usize];
            let hash = match v["hash"].as_str().unwrap() {
                "SHA256" => RsaHash::Sha256,
                "SHA384" => RsaHash::Sha384,
                _ => RsaHash::Sha512,
            };
            let padding = match v["scheme"].as_str().unwrap() {
                "PKCS1" => RsaPadding::Pkcs1v15,
                _ => RsaPadding::Pss,
            };
            let (message, signature) = (
                unhex(v["msg"].as_str().unwrap()),
                unhex(v["sig"].as_str().unwrap()),
            );
            // Both as a key used once and as an issuer's key (PKCS#1 in Montgomery form).
            let prepared = key.clone().with_pkcs1_constants(hash);
            assert!(
                prepared.pkcs1.is_some(),
                "every vector key has 28-bit limbs"
            );
            for key in [key, &prepared] {
                assert_eq!(
                    key.verify(hash, padding, &message, &signature),
                    v["valid"].as_bool().unwrap(),
                    "{} bits, {:?} {:?}, prepared: {}: {}",
                    key.bits(),
                    hash,
                    padding,
                    key.pkcs1.is_some(),
                    v["comment"]
                );
            }
        }
    }

    #[test]
    fn montgomery_constants_are_right_for_a_small_modulus() {
        // n = 2^64 - 59 (prime, odd): R = 2^64, so R mod n = 59 and R^2 mod n = 59^2.
        let key = RsaPublicKey::new(&(u64::MAX - 58).to_be_bytes(), &[1, 0, 1]).unwrap();
        assert_eq!(key.r2, [59 * 59, 0]);
        assert_eq!(
            key.n0_inv.wrapping_mul(key.n[0]),
            u32::MAX,
            "n0_inv = -1/n0"
        );
    }

    #[test]
    fn public_operation_matches_plain_modular_exponentiation() {
        // 3^65537 mod (2^64 - 59), computed with u128 square-and-multiply.
        let n: u128 = u128::from(u64::MAX - 58);
        let (mut acc, mut base, mut e) = (1u128, 3u128, 65537u32);
        while e > 0 {
            if e & 1 == 1 {
                acc = acc * base % n;
            }
            base = base * base % n;
            e >>= 1;
        }
        let key = RsaPublicKey::new(&(u64::MAX - 58).to_be_bytes(), &[1, 0, 1]).unwrap();
        let mut sig = [0u8; 8];
        sig[7] = 3;
        assert_eq!(key.public_op(&sig).unwrap(), (acc as u64).to_be_bytes());
    }

    /// `pow_unconverted` gives `s^e * R^(1-e) mod n`: against u128 arithmetic for
    /// n = 2^64 - 59 (a prime, so `R^-1 = R^(n-2)`), where `R = 2^84` (three 28-bit limbs).
    #[test]
    fn exponentiation_without_conversions_carries_the_power_of_r() {
        let n: u128 = u128::from(u64::MAX - 58);
        let pow = |mut base: u128, mut e: u128| {
            let mut acc = 1u128;
            base %= n;
            while e > 0 {
                if e & 1 == 1 {
                    acc = acc * base % n;
                }
                base = base * base % n;
                e >>= 1;
            }
            acc
        };
        let r = pow(2, 84);
        let r_inv = pow(r, n - 2);
        for e in [3u64, 65537, 0xffff_ffff] {
            let key = RsaPublicKey::new(&(u64::MAX - 58).to_be_bytes(), &e.to_be_bytes()).unwrap();
            assert_eq!(key.mont.w, LIMB_BITS);
            for s in [0u128, 1, 3, 0x1234_5678_9abc_def0, n - 1] {
                let limbs = w_limbs_from_be(&(s as u64).to_be_bytes(), LIMB_BITS, 3);
                let mut y = key.mont.pow_unconverted::<LIMB_BITS>(&limbs, e);
                key.mont.reduce::<LIMB_BITS>(&mut y);
                let expected = pow(s, u128::from(e)) * pow(r_inv, u128::from(e) - 1) % n;
                let got = be_from_w_limbs(&y, LIMB_BITS, 8);
                assert_eq!(got, (expected as u64).to_be_bytes(), "s = {s}, e = {e}");
            }
        }
    }

    /// The two sides of the PKCS#1 v1.5 check in Montgomery form against the plain arithmetic,
    /// on random moduli of both limb widths: `s^e * T` is `public_op(s) * T`, and the expected
    /// side for a digest is `EM * T` with `EM` encoded as `pkcs1v15_matches` expects it.
    fn assert_scaled_sides_agree<const W: u32>(key: &RsaPublicKey, hash: RsaHash, rng: &mut Rng) {
        let mont = &key.mont;
        let k = mont.n_rev.len();
        let expected = key.pkcs1.as_ref().unwrap();
        let mut one = vec![0u32; k];
        one[0] = 1;
        let mut t = mont.pow_unconverted::<W>(&one, key.e);
        mont.reduce::<W>(&mut t);
        let t_rev: Vec<u32> = t.iter().rev().copied().collect();
        // x * T mod n, fully reduced, through R^2 and two products.
        let times_t = |x_be: &[u8]| {
            let x = w_limbs_from_be(x_be, W, k);
            let (mut scratch, mut x_mont, mut out) = (vec![0; k], vec![0; k], vec![0; k]);
            mont.mul::<W>(&x, &mont.r2_rev, &mut scratch, &mut x_mont);
            mont.mul::<W>(&x_mont, &t_rev, &mut scratch, &mut out);
            mont.reduce::<W>(&mut out);
            out
        };
        let n_be = be_from_limbs(&key.n, key.bytes);
        for s in [
            vec![0u8; key.bytes],
            minus(&n_be, 1),
            rng.below(&n_be),
            rng.below(&n_be),
        ] {
            let mut y = mont.pow_unconverted::<W>(&w_limbs_from_be(&s, W, k), key.e);
            mont.reduce::<W>(&mut y);
            assert_eq!(
                y,
                times_t(&key.public_op(&s).unwrap()),
                "{} bits",
                key.bits()
            );
        }
        let prefix = hash.digest_info_prefix();
        for digest in [
            vec![0u8; hash.len()],
            vec![0xff; hash.len()],
            rng.bytes(hash.len()),
        ] {
            let ps_len = key.bytes - prefix.len() - hash.len() - 3;
            let mut em = vec![0x00, 0x01];
            em.extend(std::iter::repeat_n(0xff, ps_len));
            em.push(0x00);
            em.extend(prefix);
            em.extend(&digest);
            assert!(key.pkcs1v15_matches(hash, &digest, &em));
            let scaled = key.pkcs1v15_scaled_expected::<W>(expected, &digest);
            assert_eq!(scaled, times_t(&em), "{} bits, {hash:?}", key.bits());
            let mut other = digest.clone();
            other[hash.len() - 1] ^= 1;
            assert_ne!(scaled, key.pkcs1v15_scaled_expected::<W>(expected, &other));
        }
    }

    #[test]
    fn pkcs1_check_in_montgomery_form_agrees_with_the_plain_arithmetic() {
        let mut rng = Rng(0x00c0_ffee);
        for bits in [1024usize, 2047, 2048, 2049, 3072, 3581, 3582, 3583, 4096] {
            for e in [3u64, 65537, rng.next() | 1 | (1 << 63)] {
                let n = rng.modulus(bits);
                for hash in [RsaHash::Sha256, RsaHash::Sha384, RsaHash::Sha512] {
                    let key = RsaPublicKey::new(&n, &e.to_be_bytes())
                        .unwrap()
                        .with_pkcs1_constants(hash);
                    // Only 28-bit limbs get the check in Montgomery form.
                    assert_eq!(key.pkcs1.is_some(), key.mont.w == LIMB_BITS);
                    if key.pkcs1.is_some() {
                        assert_scaled_sides_agree::<LIMB_BITS>(&key, hash, &mut rng);
                    }
                }
            }
        }
    }

    /// Signatures 0, 1, n - 1, n, n + 1, all ones and wrong lengths: refused by the check in
    /// Montgomery form as by the plain one, for 2048- and 3072-bit keys (4096: the plain check)
    /// and e = 3 and 65537; and a key too short for a hash gets no constants.
    #[test]
    fn pkcs1_check_in_montgomery_form_refuses_edge_signatures() {
        let mut rng = Rng(0x0bad_5eed);
        for bits in [2048usize, 3072, 4096] {
            for e in [3u64, 65537] {
                let n = rng.modulus(bits);
                let plain = RsaPublicKey::new(&n, &e.to_be_bytes()).unwrap();
                let prepared = plain.clone().with_pkcs1_constants(RsaHash::Sha256);
                assert_eq!(prepared.pkcs1.is_some(), bits < 4096);
                let len = n.len();
                let mut one = vec![0u8; len];
                one[len - 1] = 1;
                for s in [
                    vec![0u8; len],
                    one,
                    minus(&n, 1),
                    n.clone(),
                    plus(&n, 1),
                    vec![0xff; len],
                    vec![0u8; len + 1],
                    vec![1u8; len - 1],
                    rng.below(&n),
                ] {
                    for key in [&plain, &prepared] {
                        assert!(!key.verify(RsaHash::Sha256, RsaPadding::Pkcs1v15, b"m", &s));
                    }
                }
            }
        }
        // 512 bits: 64 bytes, too short for SHA-512's 83-byte encoding.
        let key = RsaPublicKey::new(&rng.modulus(512), &[1, 0, 1])
            .unwrap()
            .with_pkcs1_constants(RsaHash::Sha512);
        assert!(key.pkcs1.is_none());
    }

    #[test]
    fn montgomery_square_equals_montgomery_product_with_itself() {
        let data: Value =
            serde_json::from_str(include_str!("../../../tests/data/rsa_vectors.json")).unwrap();
        for k in data["keys"].as_array().unwrap() {
            let key = RsaPublicKey::new(
                &unhex(k["n"].as_str().unwrap()),
                &unhex(k["e"].as_str().unwrap()),
            )
            .unwrap();
            let limbs = key.n.len();
            let (mut x, mut product, mut square) = (key.r2.clone(), vec![0; limbs], vec![0; limbs]);
            let (mut scratch, mut wide) = (vec![0; limbs + 2], vec![0; 2 * limbs + 1]);
            // x = n - 1 and a chain of squares of R^2, covering large and mixed values.
            let mut n_minus_1 = key.n.clone();
            n_minus_1[0] -= 1;
            for start in [n_minus_1, key.r2.clone()] {
                x.copy_from_slice(&start);
                for _ in 0..20 {
                    key.mont_mul(&x, &x, &mut product, &mut scratch);
                    key.mont_sqr(&x, &mut square, &mut wide);
                    assert_eq!(product, square, "{} bits", key.bits());
                    x.copy_from_slice(&square);
                }
            }
        }
    }

    /// xorshift64*: reproducible pseudo-random test inputs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }

        /// A random odd modulus of exactly `bits` bits.
        fn modulus(&mut self, bits: usize) -> Vec<u8> {
            let mut n = self.bytes(bits.div_ceil(8));
            let spare = 8 * n.len() - bits;
            n[0] = (n[0] >> spare) | (0x80 >> spare);
            *n.last_mut().unwrap() |= 1;
            n
        }

        /// A random number below `n`, as many bytes long as `n`, sometimes with leading zeros.
        fn below(&mut self, n: &[u8]) -> Vec<u8> {
            loop {
                let mut s = self.bytes(n.len());
                let zeros = (self.next() % 4) as usize * (self.next() % 8) as usize;
                s.iter_mut().take(zeros).for_each(|b| *b = 0);
                if s.as_slice() < n {
                    return s;
                }
            }
        }
    }

    fn minus(n: &[u8], small: u8) -> Vec<u8> {
        let mut x = n.to_vec();
        let mut borrow = small;
        for b in x.iter_mut().rev() {
            let (d, under) = b.overflowing_sub(borrow);
            *b = d;
            borrow = u8::from(under);
        }
        x
    }

    fn plus(n: &[u8], small: u8) -> Vec<u8> {
        let mut x = n.to_vec();
        let mut carry = small;
        for b in x.iter_mut().rev() {
            let (s, over) = b.overflowing_add(carry);
            *b = s;
            carry = u8::from(over);
        }
        x
    }

    /// The new arithmetic and the 32-bit reference agree on `s^e mod n`, and on refusing `s`.
    fn assert_agree(key: &RsaPublicKey, s: &[u8], what: &str) {
        assert_eq!(
            key.public_op(s),
            key.public_op_reference(s),
            "{what}: {} bits, e = {}",
            key.bits(),
            key.e
        );
    }

    #[test]
    fn public_operation_agrees_with_the_32_bit_reference_on_random_moduli() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let sizes = [
            64, 65, 100, 1023, 1024, 2047, 2048, 2049, 2056, 3072, 3582, 3583, 3584, 4095, 4096,
            6144, 8192,
        ];
        for &bits in &sizes {
            let cases = if bits > 4096 { 2 } else { 6 };
            for case in 0..cases {
                let n = rng.modulus(bits);
                let e: u64 = match case % 3 {
                    0 => 65537,
                    1 => 3,
                    _ => rng.next() | 1 | (1 << 63),
                };
                let key = RsaPublicKey::new(&n, &e.to_be_bytes()).unwrap();
                assert_agree(&key, &rng.below(&n), "random signature");
                if case == 0 {
                    let len = n.len();
                    let zero = vec![0u8; len];
                    let mut one = zero.clone();
                    one[len - 1] = 1;
                    for (s, what) in [
                        (zero.clone(), "s = 0"),
                        (one, "s = 1"),
                        (minus(&n, 1), "s = n - 1"),
                        (minus(&n, 2), "s = n - 2"),
                        (n.clone(), "s = n"),
                        (plus(&n, 1), "s = n + 1"),
                        (vec![0xff; len], "s = 2^bytes - 1"),
                        (vec![0u8; len + 1], "one byte too long"),
                        (vec![1u8; len - 1], "one byte too short"),
                        (Vec::new(), "empty"),
                    ] {
                        assert_agree(&key, &s, what);
                    }
                    assert_eq!(key.public_op(&zero).unwrap(), zero, "0^e = 0");
                    assert_eq!(key.public_op(&n), None, "s = n is refused");
                    // (n - 1)^e = (-1)^e = n - 1 for odd e.
                    assert_eq!(key.public_op(&minus(&n, 1)).unwrap(), minus(&n, 1));
                }
            }
        }
    }

    #[test]
    fn public_operation_agrees_on_moduli_with_all_limbs_at_their_maximum() {
        let mut rng = Rng(7);
        // 2^bits - 1 (all ones) and 2^bits - 2^(bits/2) + 1: limbs of the modulus at the top.
        for bits in [2048usize, 3072, 3582, 3583, 4096, 8192] {
            let all_ones = {
                let mut n = vec![0xffu8; bits.div_ceil(8)];
                n[0] = 0xff >> (8 * n.len() - bits);
                n
            };
            for e in [3u64, 65537, u64::MAX] {
                let key = RsaPublicKey::new(&all_ones, &e.to_be_bytes()).unwrap();
                for s in [
                    minus(&all_ones, 1),
                    minus(&all_ones, 2),
                    rng.below(&all_ones),
                ] {
                    assert_agree(&key, &s, "all-ones modulus");
                }
            }
        }
    }

    /// The overflow bound of [`Montgomery`]: the worst column (`2 * limbs` products of
    /// `(2^W - 1)^2` and the largest carry) fits a `u64` at the largest limb count each width
    /// allows and not at one more; and with every limb of both factors and of the modulus at its
    /// maximum no column sum overflows (debug builds check every addition) and squaring agrees
    /// with multiplying.
    #[test]
    fn montgomery_columns_do_not_overflow_with_every_limb_at_its_maximum() {
        fn check<const W: u32>(limbs: usize) {
            let worst = |limbs: u128| {
                let product = ((1u128 << W) - 1).pow(2);
                let carry = (2 * limbs) << W;
                2 * limbs * product + carry
            };
            assert!(
                worst(limbs as u128) <= u128::from(u64::MAX),
                "{W}-bit limbs"
            );
            assert!(
                worst(limbs as u128 + 1) > u128::from(u64::MAX),
                "{W}-bit limbs"
            );
            let top = (1u32 << W) - 1;
            // n = all ones: n[0] = -1 mod 2^W, so -n^-1 = 1.
            let mont = Montgomery {
                w: W,
                n_rev: vec![top; limbs],
                n0_inv: 1,
                r2_rev: vec![top; limbs],
                all_ones: u32::MAX,
            };
            let a = vec![top; limbs];
            let (mut m, mut reversed) = (vec![0; limbs], vec![0; limbs]);
            let (mut product, mut square) = (vec![0; limbs], vec![0; limbs]);
            mont.mul::<W>(&a, &a, &mut m, &mut product);
            mont.sqr::<W>(&a, &mut reversed, &mut m, &mut square);
            assert_eq!(product, square, "{W}-bit limbs");
        }
        check::<LIMB_BITS>(MAX_LIMBS);
        check::<LIMB_BITS_LARGE>(MAX_LIMBS_LARGE);
    }

    #[test]
    fn limb_widths_follow_the_modulus_size_and_oversized_moduli_are_refused() {
        let mut rng = Rng(11);
        let mut width = |bits| RsaPublicKey::new(&rng.modulus(bits), &[3]).map(|k| k.mont.w);
        assert_eq!(width(2048), Ok(LIMB_BITS));
        assert_eq!(width(3582), Ok(LIMB_BITS));
        assert_eq!(width(3583), Ok(LIMB_BITS_LARGE));
        assert_eq!(width(13_822), Ok(LIMB_BITS_LARGE));
        assert_eq!(width(13_823), Err(RsaKeyError::BadModulus));
    }

    /// Signatures made by jwt-simple (the `rsa` crate) with fresh keys of 2048, 3072 and 4096
    /// bits, for all six algorithms: both arithmetics accept them and refuse every bit flip
    /// tried, and a changed message.
    #[test]
    fn fresh_keys_of_every_size_verify_and_bit_flips_fail() {
        use jwt_simple::prelude::*;
        fn run(
            components: RSAPublicKeyComponents,
            token: String,
            hash: RsaHash,
            padding: RsaPadding,
        ) {
            let key = RsaPublicKey::new(&components.n, &components.e).unwrap();
            let prepared = key.clone().with_pkcs1_constants(hash);
            let (input, sig) = token.rsplit_once('.').unwrap();
            let sig = Base64UrlSafeNoPadding::decode_to_vec(sig, None).unwrap();
            let message = input.as_bytes();
            for key in [&key, &prepared] {
                assert!(
                    key.verify(hash, padding, message, &sig),
                    "{hash:?} {padding:?}"
                );
                assert!(!key.verify(hash, padding, &message[1..], &sig));
                for bit in [0, 1, 7, 8, 1000, 8 * sig.len() - 9, 8 * sig.len() - 1] {
                    let mut bad = sig.clone();
                    bad[bit / 8] ^= 1 << (bit % 8);
                    assert!(!key.verify(hash, padding, message, &bad), "bit {bit}");
                    assert_agree(key, &bad, "flipped bit");
                }
            }
            assert_agree(&key, &sig, "valid signature");
        }
        macro_rules! check {
            ($pair:ty, $bits:expr, $hash:expr, $padding:expr) => {
                let pair = <$pair>::generate($bits).unwrap();
                let claims = Claims::create(Duration::from_hours(1));
                let components = pair.public_key().to_components();
                run(components, pair.sign(claims).unwrap(), $hash, $padding);
            };
        }
        check!(RS256KeyPair, 2048, RsaHash::Sha256, RsaPadding::Pkcs1v15);
        check!(PS256KeyPair, 2048, RsaHash::Sha256, RsaPadding::Pss);
        check!(RS384KeyPair, 3072, RsaHash::Sha384, RsaPadding::Pkcs1v15);
        check!(PS384KeyPair, 3072, RsaHash::Sha384, RsaPadding::Pss);
        check!(RS512KeyPair, 4096, RsaHash::Sha512, RsaPadding::Pkcs1v15);
        check!(PS512KeyPair, 4096, RsaHash::Sha512, RsaPadding::Pss);
    }

    #[test]
    fn weak_or_malformed_keys_are_refused() {
        let n = [0xC5u8; 256];
        assert_eq!(
            RsaPublicKey::new(&[0xC4; 256], &[1, 0, 1]).err(),
            Some(RsaKeyError::BadModulus),
            "even modulus"
        );
        assert_eq!(
            RsaPublicKey::new(&n, &[1]).err(),
            Some(RsaKeyError::BadExponent)
        );
        assert_eq!(
            RsaPublicKey::new(&n, &[1, 0, 0]).err(),
            Some(RsaKeyError::BadExponent),
            "even exponent"
        );
        assert_eq!(
            RsaPublicKey::new(&n, &[1; 9]).err(),
            Some(RsaKeyError::BadExponent)
        );
        assert!(RsaPublicKey::new(&n, &[0, 0, 1, 0, 1]).is_ok());
    }
}
