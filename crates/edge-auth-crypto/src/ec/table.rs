//! Fixed-point multiplication without doublings: for a point `P` known in advance (the
//! generator, or a configured or fetched public key), the table holds `j · 2^(5i) · P` for
//! every 5-bit window `i` (52 of them cover 256 bits) and `j = 1..=16`, as affine points.
//!
//! `k · P` is then the sum, over the windows, of one table entry (or its opposite) per
//! signed digit of `k` in base 32 (digits −15..=16): at most 52 mixed additions and no
//! doubling, against 256 doublings for a plain double-and-add.
//!
//! Memory: 52 × 16 points × 64 bytes = 53,248 bytes per table (52 KiB): one for the
//! generator per worker, built on first use, and one per issuer ES256 key, built when the key
//! set is loaded (about 12,500 field products, as much work as about ten signature checks).
//!
//! A point used once (a DPoP proof's key) is not worth a table: [`multiply`] takes the same
//! signed digits from the top, with 5 doublings per window and 16 multiples made on the spot
//! (about three times the work of a table lookup sum, a tenth of building the table).

use std::sync::OnceLock;

use crate::limbs::{signed_digits, WINDOW_BITS};

use super::modular::Limbs;
use super::point::{to_affine_batch, Affine, Jacobian};

/// Windows covering a 256-bit scalar plus the carry of the signed recoding.
const WINDOWS: usize = 52;
/// Entries per window: `1·B ..= 16·B` for the window's base `B`.
const PER_WINDOW: usize = 1 << (WINDOW_BITS - 1);

/// Bytes one table holds (its points; the vector header aside).
pub(crate) const TABLE_BYTES: usize = WINDOWS * PER_WINDOW * std::mem::size_of::<Affine>();

/// The multiples of one point.
#[derive(Debug)]
pub(crate) struct Table {
    /// `WINDOWS` runs of `PER_WINDOW` points: entry `i * 16 + j - 1` is `j · 32^i · P`.
    points: Vec<Affine>,
}

impl Table {
    /// The table of `point`; `None` only if a multiple is the point at infinity, which cannot
    /// happen for a point of the curve (its order `n` is a prime far above 16 · 32^51).
    pub(crate) fn new(point: &Affine) -> Option<Table> {
        let mut multiples = Vec::with_capacity(WINDOWS * PER_WINDOW);
        let mut base = Jacobian::from_affine(point);
        for _ in 0..WINDOWS {
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
    pub(crate) fn add_multiple(&self, acc: &mut Jacobian, k: &Limbs) -> bool {
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
                acc.add_affine(&entry.neg())
            } else {
                acc.add_affine(entry)
            };
        }
        true
    }
}

/// The generator's table, built once per process (per Envoy worker) on first use.
pub(crate) fn generator_table() -> Option<&'static Table> {
    static TABLE: OnceLock<Option<Table>> = OnceLock::new();
    TABLE
        .get_or_init(|| Table::new(&Affine::generator()))
        .as_ref()
}

/// `k · P` without a table: windows from the most significant, each 5 doublings and at most
/// one addition of `±j · P` (`j = 1..=16`, computed here).
pub(crate) fn multiply(point: &Affine, k: &Limbs) -> Jacobian {
    let base = Jacobian::from_affine(point);
    let mut multiples = [base; PER_WINDOW];
    let mut previous = base;
    for multiple in multiples.iter_mut().skip(1) {
        previous = previous.add(&base);
        *multiple = previous;
    }
    let mut acc = Jacobian::INFINITY;
    for digit in signed_digits::<WINDOWS>(k).into_iter().rev() {
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
    use super::*;

    fn value_of(digits: &[i8; WINDOWS]) -> Vec<i128> {
        // Σ d[i] 32^i, as 8 x 32-bit limbs with signed carries.
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
        let cases: [Limbs; 4] = [
            [u32::MAX; 8],
            [0; 8],
            [
                0x1111_1111,
                0xf0f0_f0f0,
                0x8000_0001,
                0,
                7,
                0xffff_0000,
                1,
                0x8000_0000,
            ],
            super::super::modular::N,
        ];
        for k in cases {
            let digits = signed_digits::<WINDOWS>(&k);
            assert!(digits.iter().all(|d| (-15..=16).contains(d)), "{digits:?}");
            let value = value_of(&digits);
            let expected: Vec<i128> = k.iter().map(|l| i128::from(*l)).chain([0, 0]).collect();
            assert_eq!(value, expected);
        }
    }

    #[test]
    fn table_multiples_match_repeated_addition() {
        let g = Affine::generator();
        let table = generator_table().unwrap();
        assert_eq!(table.points.len(), WINDOWS * PER_WINDOW);
        // k = 1..40 against k additions of G.
        let mut expected = Jacobian::INFINITY;
        for k in 1u32..40 {
            expected = expected.add_affine(&g);
            let mut acc = Jacobian::INFINITY;
            assert!(table.add_multiple(&mut acc, &[k, 0, 0, 0, 0, 0, 0, 0]));
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

    #[test]
    fn multiplying_without_a_table_matches_the_table() {
        let g = Affine::generator();
        let table = generator_table().unwrap();
        let scalars: [Limbs; 4] = [
            [1, 0, 0, 0, 0, 0, 0, 0],
            [31, 17, 0, 0, 0, 0, 0, 0],
            [
                0x1234_5678,
                0x9abc_def0,
                0x0fed_cba9,
                0x8765_4321,
                1,
                2,
                3,
                0x7fff_ffff,
            ],
            [u32::MAX, u32::MAX, u32::MAX, u32::MAX, 0, 0, 0, 0x8000_0000],
        ];
        for k in scalars {
            let mut with_table = Jacobian::INFINITY;
            assert!(table.add_multiple(&mut with_table, &k));
            let both = to_affine_batch(&[with_table, multiply(&g, &k)]).unwrap();
            assert_eq!(both[0], both[1], "{k:x?}");
        }
        assert!(multiply(&g, &super::super::modular::N).is_infinity());
        assert!(multiply(&g, &[0; 8]).is_infinity());
    }

    #[test]
    fn order_times_generator_is_infinity() {
        let mut acc = Jacobian::INFINITY;
        assert!(generator_table()
            .unwrap()
            .add_multiple(&mut acc, &super::super::modular::N));
        assert!(acc.is_infinity());
    }
}
