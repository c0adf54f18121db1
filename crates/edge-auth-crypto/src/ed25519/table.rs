//! Fixed-point multiplication without doublings: for a point `P` known in advance (the base
//! point `B`, or an issuer's public key, negated), the table holds `j · 2^(5i) · P` for every
//! 5-bit window `i` (51 of them cover the 253 bits of a scalar below the order `L`) and
//! `j = 1..=16`, as affine points ready for a mixed addition.
//!
//! `k · P` is then the sum, over the windows, of one table entry (or its opposite) per signed
//! digit of `k` in base 32 (digits −15..=16): at most 51 mixed additions of 7 field products
//! each, and no doubling, against 253 doublings for a plain double-and-add.
//!
//! Memory: 51 × 16 points × 120 bytes = 97,920 bytes per table (95.6 KiB): one for `B` per
//! worker, built on first use, and one per issuer Ed25519 key, built when the key set is
//! loaded (816 additions and one batched inversion: natively about 0.45 ms, some fifteen checks).
//!
//! A point used once (a DPoP proof's key) is not worth a table: [`multiply`] takes the same
//! signed digits from the top, with 5 doublings per window and the 16 multiples made on the
//! spot.

use std::sync::OnceLock;

use crate::limbs::{signed_digits, WINDOW_BITS};

use super::point::{to_niels_batch, Niels, Point, BASE_ENCODED};
use super::scalar::Scalar;

/// Windows covering a scalar below `L < 2^253` (its signed recoding carries into no 52nd).
const WINDOWS: usize = 51;
/// Entries per window: `1·W ..= 16·W` for the window's base `W`.
const PER_WINDOW: usize = 1 << (WINDOW_BITS - 1);

/// Bytes one table holds (its points; the vector header aside).
pub(crate) const TABLE_BYTES: usize = WINDOWS * PER_WINDOW * std::mem::size_of::<Niels>();

/// The multiples of one point.
#[derive(Debug)]
pub(crate) struct Table {
    /// `WINDOWS` runs of `PER_WINDOW` points: entry `i * 16 + j - 1` is `j · 32^i · P`.
    points: Vec<Niels>,
}

impl Table {
    /// The table of `point`; `None` only if the batched inversion meets a zero `Z`, which
    /// the complete addition never produces.
    pub(crate) fn new(point: &Point) -> Option<Table> {
        let mut multiples = Vec::with_capacity(WINDOWS * PER_WINDOW);
        let mut base = *point;
        for _ in 0..WINDOWS {
            let cached = base.cached();
            let mut multiple = base;
            multiples.push(multiple);
            for _ in 1..PER_WINDOW {
                multiple = multiple.add_cached(&cached);
                multiples.push(multiple);
            }
            // 16 · base, doubled: the next window's base, 32 · base.
            base = multiple.double();
        }
        to_niels_batch(&multiples).map(|points| Table { points })
    }

    /// `acc + k · P` for `k < 2^253`; `false` (and `acc` unspecified) only if the table is
    /// malformed.
    pub(crate) fn add_multiple(&self, acc: &mut Point, k: &Scalar) -> bool {
        for (window, digit) in self
            .points
            .chunks_exact(PER_WINDOW)
            .zip(signed_digits::<WINDOWS>(k))
        {
            if digit == 0 {
                continue;
            }
            let Some(entry) = window.get(usize::from(digit.unsigned_abs()) - 1) else {
                return false;
            };
            *acc = if digit < 0 {
                acc.add_niels(&entry.neg())
            } else {
                acc.add_niels(entry)
            };
        }
        true
    }
}

/// The base point's table, built once per process (per Envoy worker) on first use.
pub(crate) fn base_table() -> Option<&'static Table> {
    static TABLE: OnceLock<Option<Table>> = OnceLock::new();
    TABLE
        .get_or_init(|| Point::decode(&BASE_ENCODED).and_then(|b| Table::new(&b)))
        .as_ref()
}

/// `k · P` without a table, for `k < 2^253`: windows from the most significant, each 5
/// doublings and at most one addition of `±j · P` (`j = 1..=16`, computed here).
pub(crate) fn multiply(point: &Point, k: &Scalar) -> Point {
    let mut multiples = [point.cached(); PER_WINDOW];
    let mut previous = *point;
    for multiple in multiples.iter_mut().skip(1) {
        previous = previous.add_cached(&point.cached());
        *multiple = previous.cached();
    }
    let mut acc = Point::IDENTITY;
    for digit in signed_digits::<WINDOWS>(k).into_iter().rev() {
        for _ in 0..WINDOW_BITS {
            acc = acc.double();
        }
        if digit == 0 {
            continue;
        }
        if let Some(multiple) = multiples.get(usize::from(digit.unsigned_abs()) - 1) {
            acc = if digit < 0 {
                acc.add_cached(&multiple.neg())
            } else {
                acc.add_cached(multiple)
            };
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order `L`, and `L − 1`.
    const L: Scalar = [
        0x5cf5_d3ed,
        0x5812_631a,
        0xa2f7_9cd6,
        0x14de_f9de,
        0,
        0,
        0,
        0x1000_0000,
    ];

    fn value_of(digits: &[i8; WINDOWS]) -> Vec<i128> {
        let mut limbs = vec![0i128; 10];
        for (i, d) in digits.iter().enumerate() {
            let bit = i * WINDOW_BITS;
            limbs[bit / 32] += i128::from(*d) << (bit % 32);
        }
        for i in 0..9 {
            let carry = limbs[i].div_euclid(1 << 32);
            limbs[i] -= carry << 32;
            limbs[i + 1] += carry;
        }
        limbs
    }

    #[test]
    fn recoding_keeps_the_value_and_the_digit_range() {
        let mut l_minus_1 = L;
        l_minus_1[0] -= 1;
        let cases: [Scalar; 4] = [
            [
                u32::MAX,
                u32::MAX,
                u32::MAX,
                u32::MAX,
                u32::MAX,
                u32::MAX,
                u32::MAX,
                0x1fff_ffff,
            ],
            [0; 8],
            [
                0x1111_1111,
                0xf0f0_f0f0,
                0x8000_0001,
                0,
                7,
                0xffff_0000,
                1,
                0x0800_0000,
            ],
            l_minus_1,
        ];
        for k in cases {
            let digits = signed_digits::<WINDOWS>(&k);
            assert!(digits.iter().all(|d| (-15..=16).contains(d)), "{digits:?}");
            let expected: Vec<i128> = k.iter().map(|l| i128::from(*l)).chain([0, 0]).collect();
            assert_eq!(value_of(&digits), expected);
        }
    }

    #[test]
    fn table_multiples_match_repeated_addition_and_the_order() {
        let b = Point::decode(&BASE_ENCODED).unwrap();
        let table = base_table().unwrap();
        assert_eq!(table.points.len(), WINDOWS * PER_WINDOW);
        let mut expected = Point::IDENTITY;
        for k in 1u32..40 {
            expected = expected.add_cached(&b.cached());
            let mut acc = Point::IDENTITY;
            assert!(table.add_multiple(&mut acc, &[k, 0, 0, 0, 0, 0, 0, 0]));
            assert!(acc.equals(&expected), "k = {k}");
            assert!(
                multiply(&b, &[k, 0, 0, 0, 0, 0, 0, 0]).equals(&expected),
                "k = {k}"
            );
        }
        // L · B is the identity, and (L − 1) · B is −B.
        let mut acc = Point::IDENTITY;
        assert!(table.add_multiple(&mut acc, &L));
        assert!(acc.equals(&Point::IDENTITY));
        assert!(multiply(&b, &L).equals(&Point::IDENTITY));
        let mut l_minus_1 = L;
        l_minus_1[0] -= 1;
        let mut acc = Point::IDENTITY;
        assert!(table.add_multiple(&mut acc, &l_minus_1));
        assert!(acc.equals(&b.neg()));
    }

    #[test]
    fn multiplying_without_a_table_matches_the_table() {
        let b = Point::decode(&BASE_ENCODED).unwrap();
        let p = multiply(&b, &[0x0bad_cafe, 7, 0, 0, 0, 0, 0, 0]);
        let table = Table::new(&p).unwrap();
        let scalars: [Scalar; 3] = [
            [1, 0, 0, 0, 0, 0, 0, 0],
            [
                0x1234_5678,
                0x9abc_def0,
                0x0fed_cba9,
                0x8765_4321,
                1,
                2,
                3,
                0x0fff_ffff,
            ],
            [u32::MAX, u32::MAX, u32::MAX, u32::MAX, 0, 0, 0, 0x1000_0000],
        ];
        for k in scalars {
            let mut with_table = Point::IDENTITY;
            assert!(table.add_multiple(&mut with_table, &k));
            assert!(with_table.equals(&multiply(&p, &k)), "{k:x?}");
        }
    }
}
