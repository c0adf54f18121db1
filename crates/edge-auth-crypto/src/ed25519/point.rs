//! Points of edwards25519, the twisted Edwards curve `−x² + y² = 1 + d·x²·y²` over the field
//! of [`super::field`]: decoding (RFC 8032 section 5.1.3), and the group law in extended
//! coordinates `(X : Y : Z : T)`, `x = X/Z`, `y = Y/Z`, `x·y = T/Z` (Hisil, Wong, Carter and
//! Dawson, "Twisted Edwards curves revisited", 2008, section 3.1 with `a = −1`).
//!
//! The addition is their unified one: with `a = −1` a square and `d` a non-square in this
//! field it is complete, so it needs no case for doubling, opposites or the identity, and
//! `Z` never becomes zero. Three forms of a point being added: [`Niels`] (affine, for tables:
//! 7 products per addition), [`Cached`] (projective, for sums made on the spot: 8), and the
//! doubling (4 products, 4 squares).

use super::field::{is_canonical, Fe};

/// A point in extended coordinates.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Point {
    x: Fe,
    y: Fe,
    z: Fe,
    t: Fe,
}

/// An affine point as an addition wants it: `y + x`, `y − x`, `2d·x·y` (carried).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Niels {
    y_plus_x: Fe,
    y_minus_x: Fe,
    xy2d: Fe,
}

/// A projective point as an addition wants it: `Y + X`, `Y − X`, `2Z`, `2d·T`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cached {
    y_plus_x: Fe,
    y_minus_x: Fe,
    z2: Fe,
    t2d: Fe,
}

/// The base point `B` (RFC 8032 section 5.1: `y = 4/5`, `x` even), encoded.
pub(crate) const BASE_ENCODED: [u8; 32] = [
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
];

impl Point {
    /// The neutral element `(0, 1)`.
    pub(crate) const IDENTITY: Point = Point {
        x: Fe::ZERO,
        y: Fe::ONE,
        z: Fe::ONE,
        t: Fe::ZERO,
    };

    /// The point these 32 bytes encode (RFC 8032 section 5.1.3), refusing what
    /// `ed25519-compact` refuses: `y` not below `p` (a non-canonical encoding), no `x` with
    /// `−x² + y² = 1 + d·x²·y²`, and `x = 0` with the sign bit set.
    pub(crate) fn decode(bytes: &[u8; 32]) -> Option<Point> {
        if !is_canonical(bytes) {
            return None;
        }
        let y = Fe::from_bytes(bytes);
        let y2 = y.square();
        // x² = u/v
        let u = y2.sub(&Fe::ONE).carry();
        let v = y2.mul(&Fe::D).add(&Fe::ONE).carry();
        // The candidate root x = u·v³·(u·v⁷)^((p−5)/8); then v·x² is u, −u, or neither.
        let v3 = v.square().mul(&v);
        let uv7 = u.mul(&v3.square().mul(&v));
        let mut x = u.mul(&v3).mul(&uv7.pow_p58());
        let vx2 = v.mul(&x.square());
        if !vx2.equals(&u) {
            if !vx2.equals(&u.neg()) {
                return None;
            }
            x = x.mul(&Fe::SQRT_M1);
        }
        let sign = bytes.last().is_some_and(|byte| byte >> 7 == 1);
        if sign && x.is_zero() {
            return None;
        }
        if x.is_odd() != sign {
            x = x.neg().carry();
        }
        Some(Point {
            x,
            y,
            z: Fe::ONE,
            t: x.mul(&y),
        })
    }

    /// The encoding: `y`, and the parity of `x` in the top bit (one inversion).
    #[cfg(test)]
    pub(crate) fn encode(&self) -> [u8; 32] {
        let z_inv = self.z.invert();
        let x = self.x.mul(&z_inv);
        let mut bytes = self.y.mul(&z_inv).to_bytes();
        if let Some(last) = bytes.last_mut() {
            *last |= u8::from(x.is_odd()) << 7;
        }
        bytes
    }

    /// `−P`.
    pub(crate) fn neg(&self) -> Point {
        Point {
            x: self.x.neg().carry(),
            y: self.y,
            z: self.z,
            t: self.t.neg().carry(),
        }
    }

    /// `2P`.
    pub(crate) fn double(&self) -> Point {
        // dbl-2008-hwcd with a = −1, every intermediate negated (which the products cancel).
        let a = self.x.square();
        let b = self.y.square();
        let z2 = self.z.square();
        let c = z2.add(&z2);
        let h = a.add(&b);
        let e = h.sub(&self.x.add(&self.y).square());
        let g = a.sub(&b).carry();
        let f = c.add(&g);
        Point {
            x: e.mul(&f),
            y: g.mul(&h),
            z: f.mul(&g),
            t: e.mul(&h),
        }
    }

    /// `P + Q` for an affine `Q` (mixed addition).
    pub(crate) fn add_niels(&self, q: &Niels) -> Point {
        let a = self.y.sub(&self.x).mul(&q.y_minus_x);
        let b = self.y.add(&self.x).mul(&q.y_plus_x);
        let c = self.t.mul(&q.xy2d);
        let d = self.z.add(&self.z);
        self.finish_add(&a, &b, &c, &d)
    }

    /// `P + Q` for a projective `Q`.
    pub(crate) fn add_cached(&self, q: &Cached) -> Point {
        let a = self.y.sub(&self.x).mul(&q.y_minus_x);
        let b = self.y.add(&self.x).mul(&q.y_plus_x);
        let c = self.t.mul(&q.t2d);
        let d = self.z.mul(&q.z2);
        self.finish_add(&a, &b, &c, &d)
    }

    /// The common end of add-2008-hwcd-3: `A = (Y1−X1)(Y2−X2)`, `B = (Y1+X1)(Y2+X2)`,
    /// `C = 2d·T1·T2`, `D = 2·Z1·Z2`.
    #[inline(always)]
    fn finish_add(&self, a: &Fe, b: &Fe, c: &Fe, d: &Fe) -> Point {
        let e = b.sub(a);
        let f = d.sub(c);
        let g = d.add(c);
        let h = b.add(a);
        Point {
            x: e.mul(&f),
            y: g.mul(&h),
            z: f.mul(&g),
            t: e.mul(&h),
        }
    }

    /// The point in the form [`Point::add_cached`] takes.
    pub(crate) fn cached(&self) -> Cached {
        Cached {
            y_plus_x: self.y.add(&self.x),
            y_minus_x: self.y.sub(&self.x),
            z2: self.z.add(&self.z),
            t2d: self.t.mul(&Fe::D2),
        }
    }

    /// Whether the point's order divides 8 (the identity and the seven other torsion points):
    /// `4P` is then `(0, ±1)`, and only those two points have `x = 0`. `ed25519-compact` asks
    /// the same question the same way.
    pub(crate) fn has_small_order(&self) -> bool {
        self.double().double().x.is_zero()
    }

    /// Whether `P` and `Q` are the same point (for the tests).
    #[cfg(test)]
    pub(crate) fn equals(&self, q: &Point) -> bool {
        self.x.mul(&q.z).equals(&q.x.mul(&self.z)) && self.y.mul(&q.z).equals(&q.y.mul(&self.z))
    }
}

impl Niels {
    /// `−Q`: `x` negated swaps `y + x` and `y − x` and negates `2d·x·y`.
    pub(crate) fn neg(&self) -> Niels {
        Niels {
            y_plus_x: self.y_minus_x,
            y_minus_x: self.y_plus_x,
            xy2d: self.xy2d.neg(),
        }
    }
}

impl Cached {
    /// `−Q`.
    pub(crate) fn neg(&self) -> Cached {
        Cached {
            y_plus_x: self.y_minus_x,
            y_minus_x: self.y_plus_x,
            z2: self.z2,
            t2d: self.t2d.neg(),
        }
    }
}

/// The affine forms of `points` with one field inversion for all of them (Montgomery's
/// trick). `Z` is never zero for a point of the curve; `None` if it is anyway.
pub(crate) fn to_niels_batch(points: &[Point]) -> Option<Vec<Niels>> {
    // prefix[i] = z[0] · ... · z[i−1]
    let mut prefix = Vec::with_capacity(points.len());
    let mut product = Fe::ONE;
    for point in points {
        prefix.push(product);
        product = product.mul(&point.z);
    }
    if product.is_zero() {
        return None;
    }
    // Walking back, `inverse` is (z[0] · ... · z[i])^−1.
    let mut inverse = product.invert();
    let mut affine = Vec::with_capacity(points.len());
    for (point, before) in points.iter().zip(&prefix).rev() {
        let z_inv = inverse.mul(before);
        inverse = inverse.mul(&point.z);
        let x = point.x.mul(&z_inv);
        let y = point.y.mul(&z_inv);
        affine.push(Niels {
            y_plus_x: y.add(&x).carry(),
            y_minus_x: y.sub(&x).carry(),
            xy2d: x.mul(&y).mul(&Fe::D2),
        });
    }
    affine.reverse();
    Some(affine)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Point {
        Point::decode(&BASE_ENCODED).unwrap()
    }

    #[test]
    fn the_base_point_decodes_to_x_even_and_encodes_back() {
        let b = base();
        assert_eq!(b.encode(), BASE_ENCODED);
        // y = 4/5
        let four = Fe([4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let five = Fe([5, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(b.y.mul(&five).equals(&four));
        assert!(!b.x.is_odd());
    }

    #[test]
    fn the_group_law_is_consistent() {
        let b = base();
        let two = b.double();
        assert!(two.equals(&b.add_cached(&b.cached())));
        let niels = to_niels_batch(&[b, two]).unwrap();
        assert!(two.equals(&b.add_niels(&niels[0])));
        let three = two.add_niels(&niels[0]);
        assert!(three.equals(&b.add_cached(&two.cached())));
        assert!(three.equals(&b.add_niels(&niels[1])));
        // Opposites cancel to the identity; the identity is neutral.
        assert!(three
            .add_cached(&three.cached().neg())
            .equals(&Point::IDENTITY));
        assert!(b.add_niels(&niels[0].neg()).equals(&Point::IDENTITY));
        assert!(b.add_cached(&b.neg().cached()).equals(&Point::IDENTITY));
        assert!(Point::IDENTITY.add_niels(&niels[1]).equals(&two));
        assert!(Point::IDENTITY.double().equals(&Point::IDENTITY));
        // Encodings round-trip through decode.
        for p in [two, three, b.neg(), three.neg()] {
            assert!(Point::decode(&p.encode()).unwrap().equals(&p));
        }
        assert!(!b.has_small_order());
        assert!(Point::IDENTITY.has_small_order());
    }

    #[test]
    fn invalid_encodings_are_refused() {
        // y = 2 is not on the curve; y = p is not canonical; x = 0 with the sign bit.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert!(Point::decode(&two).is_none());
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(Point::decode(&p).is_none());
        let mut signed_identity = [0u8; 32];
        signed_identity[0] = 1;
        signed_identity[31] = 0x80;
        assert!(Point::decode(&signed_identity).is_none());
        signed_identity[31] = 0;
        assert!(Point::decode(&signed_identity).unwrap().has_small_order());
    }
}
