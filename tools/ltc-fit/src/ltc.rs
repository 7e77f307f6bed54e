//! Linearly transformed cosine distribution and the polygon integral.

use crate::math::{v3, M3, V3};
use std::f64::consts::PI;

/// D(l) = D_o(normalize(Minv l)) · |det Minv| / |Minv l|³ with D_o = max(0, z)/π.
#[derive(Clone, Copy, Debug)]
pub struct Ltc {
    pub m: M3,
    pub minv: M3,
    pub det_minv: f64,
}

impl Ltc {
    pub fn new(m: M3) -> Ltc {
        let minv = m.inverse();
        Ltc { m, minv, det_minv: minv.det().abs() }
    }

    /// Normalised density (integrates to 1 over the sphere).
    #[inline]
    pub fn pdf(&self, l: V3) -> f64 {
        let lo = self.minv.mul_v(l);
        let len2 = lo.dot(lo);
        let len = len2.sqrt();
        let z = lo.z / len;
        if z <= 0.0 {
            return 0.0;
        }
        z / PI * self.det_minv / (len2 * len)
    }

    /// Maps a cosine-distributed unit direction `d` (d.z > 0) to l = normalize(M d);
    /// returns (l, pdf(l)).
    #[inline]
    pub fn sample_from(&self, d: V3) -> (V3, f64) {
        let md = self.m.mul_v(d);
        let len = md.len();
        let l = md * (1.0 / len);
        // Minv l = d / len  ->  pdf = (d.z/π) · |det Minv| · len³
        (l, d.z / PI * self.det_minv * len * len * len)
    }
}

/// Cosine-distributed direction for (u1, u2) as in the reference fitting code.
pub fn cosine_dir(u1: f64, u2: f64) -> V3 {
    let ct = u1.sqrt();
    let st = (1.0 - u1).max(0.0).sqrt();
    let phi = 2.0 * PI * u2;
    v3(st * phi.cos(), st * phi.sin(), ct)
}

/// Clips a polygon (any winding, convex or not) against the half-space z > 0
/// (Sutherland–Hodgman).
pub fn clip_to_horizon(poly: &[V3]) -> Vec<V3> {
    let mut out = Vec::with_capacity(poly.len() + 2);
    let n = poly.len();
    for i in 0..n {
        let a = poly[i];
        let b = poly[(i + 1) % n];
        if a.z > 0.0 {
            out.push(a);
        }
        if (a.z > 0.0) != (b.z > 0.0) {
            let t = a.z / (a.z - b.z);
            let mut p = a + (b - a) * t;
            p.z = 0.0;
            out.push(p);
        }
    }
    out
}

/// Exact cosine-weighted integral of the spherical polygon spanned by `poly` (points,
/// already clipped to z >= 0), divided by π: the form factor
///   F = 1/(2π) Σ acos(v_i·v_{i+1}) · normalize(v_i × v_{i+1}).z
/// Positive when dot((p1-p0)×(p2-p0), p0) > 0 (winding normal pointing away from the origin).
pub fn form_factor(poly: &[V3]) -> f64 {
    let n = poly.len();
    if n < 3 {
        return 0.0;
    }
    let mut sum = 0.0;
    for i in 0..n {
        let a = poly[i].normalize();
        let b = poly[(i + 1) % n].normalize();
        let c = a.cross(b);
        let s = c.len();
        let cth = a.dot(b).clamp(-1.0, 1.0);
        let theta = s.atan2(cth);
        let k = if s > 1e-12 { theta / s } else { 1.0 };
        sum += c.z * k;
    }
    sum / (2.0 * PI)
}

/// Standard LTC polygon evaluation in the local frame (n = +z, v in the xz-plane):
/// transform by Minv, clip to the horizon of the cosine, integrate. Two-sided (abs).
pub fn ltc_polygon(minv: &M3, poly: &[V3]) -> f64 {
    let p: Vec<V3> = poly.iter().map(|&q| minv.mul_v(q)).collect();
    form_factor(&clip_to_horizon(&p)).abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ltc_integrates_to_one() {
        let m = M3 { r: [[0.4, 0.0, 0.3], [0.0, 0.6, 0.0], [-0.2, 0.0, 1.0]] };
        let ltc = Ltc::new(m);
        let s = crate::math::sphere_integral(1000, |l| ltc.pdf(l));
        assert!((s - 1.0).abs() < 2e-3, "{s}");
    }
    #[test]
    fn hemisphere_form_factor() {
        // A huge quad at z = 1 covers almost the whole hemisphere: F -> 1.
        let q = [v3(-1e4, -1e4, 1.0), v3(1e4, -1e4, 1.0), v3(1e4, 1e4, 1.0), v3(-1e4, 1e4, 1.0)];
        assert!((form_factor(&q) - 1.0).abs() < 1e-3);
    }
}
