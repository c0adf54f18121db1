//! P-256 points (`y² = x³ − 3x + b` over the field of `p`): affine points for tables and keys,
//! Jacobian points (`x = X/Z²`, `y = Y/Z³`) for sums, all coordinates in Montgomery form.
//!
//! The additions handle every case a sum of public multiples can reach: a point added to
//! itself (a doubling), to its opposite (the point at infinity, `Z = 0`) or to infinity.
//! Formulas: Cohen–Miyaji–Ono addition (12M + 4S; mixed with an affine point 8M + 3S) and the
//! `a = −3` doubling dbl-2001-b (3M + 5S), from the Explicit-Formulas Database.

use super::modular::{fp, from_be_bytes, is_zero, less_than, Limbs, P, P_ONE, ZERO};

/// The curve constant `b`, plain.
const B: Limbs = [
    0x27d2_604b,
    0x3bce_3c3e,
    0xcc53_b0f6,
    0x651d_06b0,
    0x7698_86bc,
    0xb3eb_bd55,
    0xaa3a_93e7,
    0x5ac6_35d8,
];
/// The generator's coordinates, plain.
const GX: Limbs = [
    0xd898_c296,
    0xf4a1_3945,
    0x2deb_33a0,
    0x7703_7d81,
    0x63a4_40f2,
    0xf8bc_e6e5,
    0xe12c_4247,
    0x6b17_d1f2,
];
const GY: Limbs = [
    0x37bf_51f5,
    0xcbb6_4068,
    0x6b31_5ece,
    0x2bce_3357,
    0x7c0f_9e16,
    0x8ee7_eb4a,
    0xfe1a_7f9b,
    0x4fe3_42e2,
];

/// A point on the curve other than infinity, in Montgomery form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Affine {
    pub(crate) x: Limbs,
    pub(crate) y: Limbs,
}

/// A point in Jacobian coordinates; `z == 0` is the point at infinity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian {
    pub(crate) x: Limbs,
    pub(crate) y: Limbs,
    pub(crate) z: Limbs,
}

impl Affine {
    /// The generator `G`.
    pub(crate) fn generator() -> Affine {
        Affine {
            x: fp::to_mont(&GX),
            y: fp::to_mont(&GY),
        }
    }

    /// A point from its big-endian coordinates (JWK `x` and `y`, 32 bytes each): `None` unless
    /// both are below `p` (canonical) and the point is on the curve.
    pub(crate) fn from_coordinates(x: &[u8], y: &[u8]) -> Option<Affine> {
        let (x, y) = (from_be_bytes(x)?, from_be_bytes(y)?);
        if !less_than(&x, &P) || !less_than(&y, &P) {
            return None;
        }
        let point = Affine {
            x: fp::to_mont(&x),
            y: fp::to_mont(&y),
        };
        point.is_on_curve().then_some(point)
    }

    /// Whether `y² = x³ − 3x + b`.
    pub(crate) fn is_on_curve(&self) -> bool {
        let x2 = fp::sqr(&self.x);
        let x3 = fp::mul(&x2, &self.x);
        let three_x = fp::add(&fp::add(&self.x, &self.x), &self.x);
        let right = fp::add(&fp::sub(&x3, &three_x), &fp::to_mont(&B));
        fp::sqr(&self.y) == right
    }

    /// `−P`.
    pub(crate) fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: fp::neg(&self.y),
        }
    }
}

impl Jacobian {
    /// The point at infinity.
    pub(crate) const INFINITY: Jacobian = Jacobian {
        x: P_ONE,
        y: P_ONE,
        z: ZERO,
    };

    pub(crate) fn from_affine(point: &Affine) -> Jacobian {
        Jacobian {
            x: point.x,
            y: point.y,
            z: P_ONE,
        }
    }

    pub(crate) fn is_infinity(&self) -> bool {
        is_zero(&self.z)
    }

    /// `−P`.
    pub(crate) fn neg(&self) -> Jacobian {
        Jacobian {
            x: self.x,
            y: fp::neg(&self.y),
            z: self.z,
        }
    }

    /// `2P` (infinity stays infinity: its `Z` is zero, and so is the result's).
    pub(crate) fn double(&self) -> Jacobian {
        let delta = fp::sqr(&self.z);
        let gamma = fp::sqr(&self.y);
        let beta = fp::mul(&self.x, &gamma);
        let t = fp::mul(&fp::sub(&self.x, &delta), &fp::add(&self.x, &delta));
        let alpha = fp::add(&fp::add(&t, &t), &t);
        let beta2 = fp::add(&beta, &beta);
        let beta4 = fp::add(&beta2, &beta2);
        let beta8 = fp::add(&beta4, &beta4);
        let x = fp::sub(&fp::sqr(&alpha), &beta8);
        let y_plus_z = fp::add(&self.y, &self.z);
        let z = fp::sub(&fp::sub(&fp::sqr(&y_plus_z), &gamma), &delta);
        let gamma2 = fp::sqr(&gamma);
        let gamma2_2 = fp::add(&gamma2, &gamma2);
        let gamma2_4 = fp::add(&gamma2_2, &gamma2_2);
        let gamma2_8 = fp::add(&gamma2_4, &gamma2_4);
        let y = fp::sub(&fp::mul(&alpha, &fp::sub(&beta4, &x)), &gamma2_8);
        Jacobian { x, y, z }
    }

    /// `P + Q` for an affine `Q` (mixed addition), every case included.
    pub(crate) fn add_affine(&self, other: &Affine) -> Jacobian {
        if self.is_infinity() {
            return Jacobian::from_affine(other);
        }
        let z2 = fp::sqr(&self.z);
        let u2 = fp::mul(&other.x, &z2);
        let s2 = fp::mul(&other.y, &fp::mul(&z2, &self.z));
        let h = fp::sub(&u2, &self.x);
        let r = fp::sub(&s2, &self.y);
        if is_zero(&h) {
            return if is_zero(&r) {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let h2 = fp::sqr(&h);
        let h3 = fp::mul(&h2, &h);
        let v = fp::mul(&self.x, &h2);
        let x = fp::sub(&fp::sub(&fp::sqr(&r), &h3), &fp::add(&v, &v));
        let y = fp::sub(&fp::mul(&r, &fp::sub(&v, &x)), &fp::mul(&self.y, &h3));
        let z = fp::mul(&self.z, &h);
        Jacobian { x, y, z }
    }

    /// `P + Q`, every case included (for building tables).
    pub(crate) fn add(&self, other: &Jacobian) -> Jacobian {
        if self.is_infinity() {
            return *other;
        }
        if other.is_infinity() {
            return *self;
        }
        let z1z1 = fp::sqr(&self.z);
        let z2z2 = fp::sqr(&other.z);
        let u1 = fp::mul(&self.x, &z2z2);
        let u2 = fp::mul(&other.x, &z1z1);
        let s1 = fp::mul(&self.y, &fp::mul(&z2z2, &other.z));
        let s2 = fp::mul(&other.y, &fp::mul(&z1z1, &self.z));
        let h = fp::sub(&u2, &u1);
        let r = fp::sub(&s2, &s1);
        if is_zero(&h) {
            return if is_zero(&r) {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let h2 = fp::sqr(&h);
        let h3 = fp::mul(&h2, &h);
        let v = fp::mul(&u1, &h2);
        let x = fp::sub(&fp::sub(&fp::sqr(&r), &h3), &fp::add(&v, &v));
        let y = fp::sub(&fp::mul(&r, &fp::sub(&v, &x)), &fp::mul(&s1, &h3));
        let z = fp::mul(&fp::mul(&self.z, &other.z), &h);
        Jacobian { x, y, z }
    }

    /// Whether the affine x-coordinate of this point, a number below `p`, is `x` (plain,
    /// below `p`): `X == x·Z²`, so no inversion is needed. False for infinity.
    pub(crate) fn has_x(&self, x: &Limbs) -> bool {
        !self.is_infinity() && fp::mul(&fp::to_mont(x), &fp::sqr(&self.z)) == self.x
    }
}

/// The affine forms of `points` with one field inversion for all of them (Montgomery's
/// trick); `None` if any of them is the point at infinity.
pub(crate) fn to_affine_batch(points: &[Jacobian]) -> Option<Vec<Affine>> {
    // prefix[i] = z[0] * ... * z[i-1]
    let mut prefix = Vec::with_capacity(points.len());
    let mut product = P_ONE;
    for point in points {
        if point.is_infinity() {
            return None;
        }
        prefix.push(product);
        product = fp::mul(&product, &point.z);
    }
    // Walking back, `inverse` is (z[0] * ... * z[i])^-1.
    let mut inverse = fp::invert(&product);
    let mut affine = Vec::with_capacity(points.len());
    for (point, before) in points.iter().zip(&prefix).rev() {
        let z_inv = fp::mul(&inverse, before);
        inverse = fp::mul(&inverse, &point.z);
        let z_inv2 = fp::sqr(&z_inv);
        affine.push(Affine {
            x: fp::mul(&point.x, &z_inv2),
            y: fp::mul(&point.y, &fp::mul(&z_inv2, &z_inv)),
        });
    }
    affine.reverse();
    Some(affine)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affine(point: &Jacobian) -> Affine {
        to_affine_batch(&[*point]).unwrap()[0]
    }

    #[test]
    fn generator_is_on_the_curve_and_a_bad_point_is_not() {
        let g = Affine::generator();
        assert!(g.is_on_curve());
        assert!(g.neg().is_on_curve());
        assert!(!Affine {
            x: g.x,
            y: fp::add(&g.y, &P_ONE)
        }
        .is_on_curve());
    }

    #[test]
    fn additions_agree_with_doublings_and_cancel_opposites() {
        let g = Affine::generator();
        let gj = Jacobian::from_affine(&g);
        let two = gj.double();
        assert_eq!(affine(&gj.add_affine(&g)), affine(&two));
        assert_eq!(affine(&gj.add(&gj)), affine(&two));
        let three_a = two.add_affine(&g);
        let three_b = gj.add(&two);
        assert_eq!(affine(&three_a), affine(&three_b));
        assert!(three_a.add_affine(&affine(&three_b).neg()).is_infinity());
        assert!(gj.add(&Jacobian::from_affine(&g.neg())).is_infinity());
        assert_eq!(affine(&Jacobian::INFINITY.add_affine(&g)), g);
        assert!(Jacobian::INFINITY.double().is_infinity());
        assert!(affine(&three_a).is_on_curve());
        assert!(to_affine_batch(&[gj, Jacobian::INFINITY]).is_none());
    }
}
