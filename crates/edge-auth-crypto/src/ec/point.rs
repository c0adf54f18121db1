//! Points of a curve `y² = x³ − 3x + b` ([`Curve`]: P-256 and P-384): affine points for tables
//! and keys, Jacobian points (`x = X/Z²`, `y = Y/Z³`) for sums, all coordinates in Montgomery
//! form.
//!
//! The additions handle every case a sum of public multiples can reach: a point added to
//! itself (a doubling), to its opposite (the point at infinity, `Z = 0`) or to infinity.
//! Formulas: Cohen–Miyaji–Ono addition (12M + 4S; mixed with an affine point 8M + 3S) and the
//! `a = −3` doubling dbl-2001-b (3M + 5S), from the Explicit-Formulas Database.

use super::curve::Curve;
use super::modular::Element;

/// A point on the curve other than infinity, in Montgomery form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affine<C: Curve> {
    pub(crate) x: C::Limbs,
    pub(crate) y: C::Limbs,
}

/// A point in Jacobian coordinates; `z == 0` is the point at infinity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian<C: Curve> {
    pub(crate) x: C::Limbs,
    pub(crate) y: C::Limbs,
    pub(crate) z: C::Limbs,
}

impl<C: Curve> Affine<C> {
    /// The generator `G`.
    pub(crate) fn generator() -> Affine<C> {
        Affine {
            x: C::to_mont(&C::GX),
            y: C::to_mont(&C::GY),
        }
    }

    /// A point from its big-endian coordinates (JWK `x` and `y`, 32 bytes each for P-256, 48
    /// for P-384): `None` unless both are below `p` (canonical) and the point is on the curve.
    /// The point at infinity has no affine coordinates, so it is never one (its usual
    /// encoding, `(0, 0)`, is off both curves, whose `b` is not zero).
    pub(crate) fn from_coordinates(x: &[u8], y: &[u8]) -> Option<Affine<C>> {
        let (x, y) = (C::Limbs::from_be_bytes(x)?, C::Limbs::from_be_bytes(y)?);
        if !x.less_than(&C::P) || !y.less_than(&C::P) {
            return None;
        }
        let point = Affine {
            x: C::to_mont(&x),
            y: C::to_mont(&y),
        };
        point.is_on_curve().then_some(point)
    }

    /// Whether `y² = x³ − 3x + b`.
    pub(crate) fn is_on_curve(&self) -> bool {
        let x2 = C::sqr(&self.x);
        let x3 = C::mul(&x2, &self.x);
        let three_x = C::add(&C::add(&self.x, &self.x), &self.x);
        let right = C::add(&C::sub(&x3, &three_x), &C::to_mont(&C::B));
        C::sqr(&self.y) == right
    }

    /// `−P`.
    pub(crate) fn neg(&self) -> Affine<C> {
        Affine {
            x: self.x,
            y: C::neg(&self.y),
        }
    }
}

impl<C: Curve> Jacobian<C> {
    /// The point at infinity.
    pub(crate) const INFINITY: Jacobian<C> = Jacobian {
        x: C::P_ONE,
        y: C::P_ONE,
        z: C::Limbs::ZERO,
    };

    pub(crate) fn from_affine(point: &Affine<C>) -> Jacobian<C> {
        Jacobian {
            x: point.x,
            y: point.y,
            z: C::P_ONE,
        }
    }

    pub(crate) fn is_infinity(&self) -> bool {
        self.z.is_zero()
    }

    /// `−P`.
    pub(crate) fn neg(&self) -> Jacobian<C> {
        Jacobian {
            x: self.x,
            y: C::neg(&self.y),
            z: self.z,
        }
    }

    /// `2P` (infinity stays infinity: its `Z` is zero, and so is the result's).
    pub(crate) fn double(&self) -> Jacobian<C> {
        let delta = C::sqr(&self.z);
        let gamma = C::sqr(&self.y);
        let beta = C::mul(&self.x, &gamma);
        let t = C::mul(&C::sub(&self.x, &delta), &C::add(&self.x, &delta));
        let alpha = C::add(&C::add(&t, &t), &t);
        let beta2 = C::add(&beta, &beta);
        let beta4 = C::add(&beta2, &beta2);
        let beta8 = C::add(&beta4, &beta4);
        let x = C::sub(&C::sqr(&alpha), &beta8);
        let y_plus_z = C::add(&self.y, &self.z);
        let z = C::sub(&C::sub(&C::sqr(&y_plus_z), &gamma), &delta);
        let gamma2 = C::sqr(&gamma);
        let gamma2_2 = C::add(&gamma2, &gamma2);
        let gamma2_4 = C::add(&gamma2_2, &gamma2_2);
        let gamma2_8 = C::add(&gamma2_4, &gamma2_4);
        let y = C::sub(&C::mul(&alpha, &C::sub(&beta4, &x)), &gamma2_8);
        Jacobian { x, y, z }
    }

    /// `P + Q` for an affine `Q` (mixed addition), every case included.
    pub(crate) fn add_affine(&self, other: &Affine<C>) -> Jacobian<C> {
        if self.is_infinity() {
            return Jacobian::from_affine(other);
        }
        let z2 = C::sqr(&self.z);
        let u2 = C::mul(&other.x, &z2);
        let s2 = C::mul(&other.y, &C::mul(&z2, &self.z));
        let h = C::sub(&u2, &self.x);
        let r = C::sub(&s2, &self.y);
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let h2 = C::sqr(&h);
        let h3 = C::mul(&h2, &h);
        let v = C::mul(&self.x, &h2);
        let x = C::sub(&C::sub(&C::sqr(&r), &h3), &C::add(&v, &v));
        let y = C::sub(&C::mul(&r, &C::sub(&v, &x)), &C::mul(&self.y, &h3));
        let z = C::mul(&self.z, &h);
        Jacobian { x, y, z }
    }

    /// `P + Q`, every case included (for building tables).
    pub(crate) fn add(&self, other: &Jacobian<C>) -> Jacobian<C> {
        if self.is_infinity() {
            return *other;
        }
        if other.is_infinity() {
            return *self;
        }
        let z1z1 = C::sqr(&self.z);
        let z2z2 = C::sqr(&other.z);
        let u1 = C::mul(&self.x, &z2z2);
        let u2 = C::mul(&other.x, &z1z1);
        let s1 = C::mul(&self.y, &C::mul(&z2z2, &other.z));
        let s2 = C::mul(&other.y, &C::mul(&z1z1, &self.z));
        let h = C::sub(&u2, &u1);
        let r = C::sub(&s2, &s1);
        if h.is_zero() {
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let h2 = C::sqr(&h);
        let h3 = C::mul(&h2, &h);
        let v = C::mul(&u1, &h2);
        let x = C::sub(&C::sub(&C::sqr(&r), &h3), &C::add(&v, &v));
        let y = C::sub(&C::mul(&r, &C::sub(&v, &x)), &C::mul(&s1, &h3));
        let z = C::mul(&C::mul(&self.z, &other.z), &h);
        Jacobian { x, y, z }
    }

    /// Whether the affine x-coordinate of this point, a number below `p`, is `x` (plain,
    /// below `p`): `X == x·Z²`, so no inversion is needed. False for infinity.
    pub(crate) fn has_x(&self, x: &C::Limbs) -> bool {
        !self.is_infinity() && C::mul(&C::to_mont(x), &C::sqr(&self.z)) == self.x
    }
}

/// The affine forms of `points` with one field inversion for all of them (Montgomery's
/// trick); `None` if any of them is the point at infinity.
pub(crate) fn to_affine_batch<C: Curve>(points: &[Jacobian<C>]) -> Option<Vec<Affine<C>>> {
    // prefix[i] = z[0] * ... * z[i-1]
    let mut prefix = Vec::with_capacity(points.len());
    let mut product = C::P_ONE;
    for point in points {
        if point.is_infinity() {
            return None;
        }
        prefix.push(product);
        product = C::mul(&product, &point.z);
    }
    // Walking back, `inverse` is (z[0] * ... * z[i])^-1.
    let mut inverse = C::invert(&product);
    let mut affine = Vec::with_capacity(points.len());
    for (point, before) in points.iter().zip(&prefix).rev() {
        let z_inv = C::mul(&inverse, before);
        inverse = C::mul(&inverse, &point.z);
        let z_inv2 = C::sqr(&z_inv);
        affine.push(Affine {
            x: C::mul(&point.x, &z_inv2),
            y: C::mul(&point.y, &C::mul(&z_inv2, &z_inv)),
        });
    }
    affine.reverse();
    Some(affine)
}

#[cfg(test)]
mod tests {
    use super::super::{p256::P256, p384::P384};
    use super::*;

    fn affine<C: Curve>(point: &Jacobian<C>) -> Affine<C> {
        to_affine_batch(&[*point]).unwrap()[0]
    }

    fn generator_is_on_the_curve_and_a_bad_point_is_not<C: Curve>() {
        let g = Affine::<C>::generator();
        assert!(g.is_on_curve());
        assert!(g.neg().is_on_curve());
        assert!(!Affine::<C> {
            x: g.x,
            y: C::add(&g.y, &C::P_ONE)
        }
        .is_on_curve());
    }

    fn additions_agree_with_doublings_and_cancel_opposites<C: Curve>() {
        let g = Affine::<C>::generator();
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
        assert!(Jacobian::<C>::INFINITY.double().is_infinity());
        assert!(affine(&three_a).is_on_curve());
        assert!(to_affine_batch(&[gj, Jacobian::INFINITY]).is_none());
    }

    #[test]
    fn p256_points_add_and_double() {
        generator_is_on_the_curve_and_a_bad_point_is_not::<P256>();
        additions_agree_with_doublings_and_cancel_opposites::<P256>();
    }

    #[test]
    fn p384_points_add_and_double() {
        generator_is_on_the_curve_and_a_bad_point_is_not::<P384>();
        additions_agree_with_doublings_and_cancel_opposites::<P384>();
    }
}
