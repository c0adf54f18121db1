//! Fixed-point multiplication without doublings: for a point `P` known in advance (the
//! generator, or a configured or fetched public key), the table holds `j · 2^(5i) · P` for
//! every 5-bit window `i` (52 of them cover 256 bits, 77 cover 384) and `j = 1..=16`, as
//! affine points.
//!
//! `k · P` is then the sum, over the windows, of one table entry (or its opposite) per
//! signed digit of `k` in base 32 (digits −15..=16): at most 52 mixed additions and no
//! doubling, against 256 doublings for a plain double-and-add.
//!
//! Memory: P-256, 52 × 16 points × 64 bytes = 53,248 bytes per table (52 KiB); P-384, 77 × 16
//! × 96 bytes = 118,272 (115.5 KiB). One for the generator per worker, built on first use, and
//! one per issuer ES256/ES384 key, built when the key set is loaded (about 12,500 field
//! products for P-256, 18,500 for P-384: as much work as about ten signature checks).
//!
//! A point used once (a DPoP proof's key) is not worth a table: [`multiply`] takes the same
//! signed digits from the top, with 5 doublings per window and 16 multiples made on the spot
//! (about three times the work of a table lookup sum, a tenth of building the table).

use crate::limbs::WINDOW_BITS;

use super::curve::Curve;
use super::point::{to_affine_batch, Affine, Jacobian};

/// Entries per window: `1·B ..= 16·B` for the window's base `B`.
const PER_WINDOW: usize = 1 << (WINDOW_BITS - 1);

/// The multiples of one point.
#[derive(Debug)]
pub struct Table<C: Curve> {
    /// `C::WINDOWS` runs of `PER_WINDOW` points: entry `i * 16 + j - 1` is `j · 32^i · P`.
    points: Vec<Affine<C>>,
}

impl<C: Curve> Table<C> {
    /// Bytes one table holds (its points; the vector header aside).
    pub(crate) const BYTES: usize = C::WINDOWS * PER_WINDOW * std::mem::size_of::<Affine<C>>();

    /// The table of `point`; `None` only if a multiple is the point at infinity, which cannot
    /// happen for a point of the curve (its order `n` is a prime far above `16 · 32^(WINDOWS−1)`).
    pub(crate) fn new(point: &Affine<C>) -> Option<Table<C>> {
        let mut multiples = Vec::with_capacity(C::WINDOWS * PER_WINDOW);
        let mut base = Jacobian::from_affine(point);
        for _ in 0..C::WINDOWS {
            let mut multiple = base;
            multiples.push(multiple);
            for _ in 1..PER_WINDOW {
                multiple = multiple.add(&base);
                multiples.push(multiple);
            }
            // 16 · base, doubled: the next window's base, 32 · base.
            base = multiple.double();
        }
        to_affine_batch(&multiples).map(|points| Table { points })
    }

    /// `acc + k · P`; `false` (and `acc` unspecified) only if the table is malformed.
    pub(crate) fn add_multiple(&self, acc: &mut Jacobian<C>, k: &C::Limbs) -> bool {
        for (window, &digit) in self
            .points
            .chunks_exact(PER_WINDOW)
            .zip(C::digits(k).as_ref())
        {
            if digit == 0 {
                continue;
            }
            let Some(entry) = window.get(usize::from(digit.unsigned_abs()) - 1) else {
                return false;
            };
            *acc = if digit < 0 {
                acc.add_affine(&entry.neg())
            } else {
                acc.add_affine(entry)
            };
        }
        true
    }
}

/// `k · P` without a table: windows from the most significant, each 5 doublings and at most
/// one addition of `±j · P` (`j = 1..=16`, computed here).
pub(crate) fn multiply<C: Curve>(point: &Affine<C>, k: &C::Limbs) -> Jacobian<C> {
    let base = Jacobian::from_affine(point);
    let mut multiples = [base; PER_WINDOW];
    let mut previous = base;
    for multiple in multiples.iter_mut().skip(1) {
        previous = previous.add(&base);
        *multiple = previous;
    }
    let mut acc = Jacobian::INFINITY;
    for &digit in C::digits(k).as_ref().iter().rev() {
        for _ in 0..WINDOW_BITS {
            acc = acc.double();
        }
        if digit == 0 {
            continue;
        }
        if let Some(multiple) = multiples.get(usize::from(digit.unsigned_abs()) - 1) {
            acc = if digit < 0 {
                acc.add(&multiple.neg())
            } else {
                acc.add(multiple)
            };
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::super::modular::Element;
    use super::super::{p256::P256, p384::P384};
    use super::*;

    /// `Σ d[i] 32^i` as 32-bit limbs with signed carries, two more than `k` has.
    fn value_of(digits: &[i8], limbs: usize) -> Vec<i128> {
        let mut value = vec![0i128; limbs + 2];
        for (i, d) in digits.iter().enumerate() {
            let bit = i * WINDOW_BITS;
            value[bit / 32] += i128::from(*d) << (bit % 32);
        }
        for i in 0..limbs + 1 {
            let carry = value[i].div_euclid(1 << 32);
            value[i] -= carry << 32;
            value[i + 1] += carry;
        }
        value
    }

    /// All ones, zero, small ones, mixed patterns, `n − 1` and `n`.
    fn scalars<const L: usize>(n: &[u32; L]) -> Vec<[u32; L]> {
        let mut mixed = [0; L];
        let pattern = [0x1111_1111, 0xf0f0_f0f0, 0x8000_0001, 0, 7, 0xffff_0000, 1];
        for (i, limb) in mixed.iter_mut().enumerate() {
            *limb = pattern[i % pattern.len()];
        }
        let mut high = [0; L];
        high[..4].fill(u32::MAX);
        high[L - 1] = 0x8000_0000;
        let mut small = [0; L];
        small[..2].copy_from_slice(&[31, 17]);
        vec![
            [u32::MAX; L],
            [0; L],
            <[u32; L]>::small(1),
            small,
            mixed,
            high,
            n.sub_raw(&<[u32; L]>::small(1)).0,
            *n,
        ]
    }

    fn recoding_keeps_the_value_and_the_digit_range<C: Curve<Limbs = [u32; L]>, const L: usize>() {
        for k in scalars(&C::N) {
            let digits = C::digits(&k);
            let digits = digits.as_ref();
            assert_eq!(digits.len(), C::WINDOWS);
            assert!(digits.iter().all(|d| (-15..=16).contains(d)), "{digits:?}");
            let expected: Vec<i128> = k.iter().map(|l| i128::from(*l)).chain([0, 0]).collect();
            assert_eq!(value_of(digits, L), expected);
        }
    }

    fn table_multiples_match_repeated_addition<C: Curve>() {
        let g = Affine::<C>::generator();
        let table = C::generator_table().unwrap();
        assert_eq!(table.points.len(), C::WINDOWS * PER_WINDOW);
        // k = 1..40 against k additions of G.
        let mut expected = Jacobian::INFINITY;
        for k in 1u32..40 {
            expected = expected.add_affine(&g);
            let mut acc = Jacobian::INFINITY;
            assert!(table.add_multiple(&mut acc, &C::Limbs::small(k)));
            let both = to_affine_batch(&[acc, expected]).unwrap();
            assert_eq!(both[0], both[1], "k = {k}");
        }
        // 32 · G is the second window's first entry.
        let mut thirty_two = Jacobian::from_affine(&g);
        for _ in 0..5 {
            thirty_two = thirty_two.double();
        }
        assert_eq!(
            to_affine_batch(&[thirty_two]).unwrap()[0],
            table.points[PER_WINDOW]
        );
    }

    /// Both ways of multiplying agree; `n · G` and `0 · G` are infinity both ways.
    fn multiplying_without_a_table_matches_the_table<C: Curve<Limbs = [u32; L]>, const L: usize>() {
        let g = Affine::<C>::generator();
        let table = C::generator_table().unwrap();
        for k in scalars(&C::N) {
            let mut with_table = Jacobian::INFINITY;
            assert!(table.add_multiple(&mut with_table, &k));
            let without = multiply(&g, &k);
            if k == C::N || k == [0; L] {
                assert!(with_table.is_infinity() && without.is_infinity(), "{k:x?}");
                continue;
            }
            let both = to_affine_batch(&[with_table, without]).unwrap();
            assert_eq!(both[0], both[1], "{k:x?}");
        }
    }

    #[test]
    fn p256_tables_and_recoding() {
        recoding_keeps_the_value_and_the_digit_range::<P256, 8>();
        table_multiples_match_repeated_addition::<P256>();
        multiplying_without_a_table_matches_the_table::<P256, 8>();
    }

    #[test]
    fn p384_tables_and_recoding() {
        recoding_keeps_the_value_and_the_digit_range::<P384, 12>();
        table_multiples_match_repeated_addition::<P384>();
        multiplying_without_a_table_matches_the_table::<P384, 12>();
    }
}
