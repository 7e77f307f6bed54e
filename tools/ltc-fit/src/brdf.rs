//! The renderer's specular lobe (shaders/xpg/brdf.slang, `ggx_dv`) times the cosine, Fresnel = 1:
//!
//!   f(v,l)·nl = D(h)·V(v,l)·nl
//!   D = a² / (π (nh²(a²-1)+1)²)
//!   V = 0.5 / (nl·sqrt(nv²(1-a²)+a²) + nv·sqrt(nl²(1-a²)+a²))   (height-correlated Smith)
//!
//! in the local frame n = +z. Sampling uses the GGX distribution of visible normals
//! (Dupuy & Benyoub 2023 spherical-cap form), pdf(l) = G1(v)·D(h) / (4·nv).

use crate::math::{v3, V3};
use std::f64::consts::PI;

/// GGX NDF from an (unnormalised-free) half vector h with h.z > 0; written with
/// sin²/cos² so it keeps precision for tiny alpha (no 1 - nh² cancellation).
fn ndf(a: f64, h: V3) -> f64 {
    let s2 = h.x * h.x + h.y * h.y;
    let c2 = h.z * h.z;
    let l2 = s2 + c2;
    let a2 = a * a;
    let d = (c2 * a2 + s2) / l2;
    a2 / (PI * d * d)
}

/// Height-correlated Smith visibility term, exactly as in `ggx_dv`.
pub fn vis(a: f64, nl: f64, nv: f64) -> f64 {
    let a2 = a * a;
    0.5 / (nl * (nv * nv * (1.0 - a2) + a2).sqrt() + nv * (nl * nl * (1.0 - a2) + a2).sqrt())
}

/// Smith masking G1(v).
fn g1(a: f64, nv: f64) -> f64 {
    let a2 = a * a;
    2.0 * nv / (nv + (a2 + (1.0 - a2) * nv * nv).sqrt())
}

/// Returns (D·V·nl, pdf of `sample`) for unit v, l.
#[inline]
pub fn eval(v: V3, l: V3, a: f64) -> (f64, f64) {
    let nv = v.z;
    if nv <= 0.0 {
        return (0.0, 0.0);
    }
    let h = v + l;
    if h.z <= 0.0 {
        return (0.0, 0.0);
    }
    let d = ndf(a, h);
    let pdf = g1(a, nv) * d / (4.0 * nv);
    let nl = l.z;
    let f = if nl > 0.0 { d * vis(a, nl, nv) * nl } else { 0.0 };
    (f, pdf)
}

/// Reference evaluation straight from the shader formula (used by tests only).
#[cfg(test)]
pub fn eval_shader_form(v: V3, l: V3, a: f64) -> f64 {
    let h = (v + l).normalize();
    let (nh, nl, nv) = (h.z, l.z, v.z);
    if nl <= 0.0 || nv <= 0.0 {
        return 0.0;
    }
    let a2 = a * a;
    let d = nh * nh * (a2 - 1.0) + 1.0;
    let dd = a2 / (PI * d * d);
    dd * vis(a, nl, nv) * nl
}

/// Sample l from the visible-normal distribution (u1, u2 in [0,1)).
#[inline]
pub fn sample(v: V3, a: f64, u1: f64, u2: f64) -> V3 {
    let wi = v3(v.x * a, v.y * a, v.z).normalize();
    let phi = 2.0 * PI * u1;
    let z = (1.0 - u2) * (1.0 + wi.z) - wi.z;
    let st = (1.0 - z * z).max(0.0).sqrt();
    let c = v3(st * phi.cos(), st * phi.sin(), z);
    let hs = c + wi;
    let h = v3(hs.x * a, hs.y * a, hs.z).normalize();
    h * (2.0 * v.dot(h)) - v
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn matches_shader_form() {
        let v = v3(0.6, 0.0, 0.8);
        for &a in &[0.05, 0.3, 1.0] {
            for &l in &[v3(-0.5, 0.1, 0.86), v3(0.0, 0.0, 1.0), v3(-0.7, -0.2, 0.3)] {
                let l = l.normalize();
                let (f, _) = eval(v, l, a);
                let g = eval_shader_form(v, l, a);
                assert!((f - g).abs() <= 1e-9 * g.abs().max(1.0), "{f} {g}");
            }
        }
    }
    #[test]
    fn sampler_matches_pdf() {
        // E_sample[g] must equal ∫ g·pdf dω for a smooth test function g.
        let v = v3(0.8, 0.0, 0.6);
        let a = 0.3;
        let g = |l: V3| l.x + 2.0 * l.z * l.z + 0.5 * l.y * l.y;
        let ns = 1000;
        let mut e = 0.0;
        for j in 0..ns {
            for i in 0..ns {
                let l = sample(v, a, (i as f64 + 0.5) / ns as f64, (j as f64 + 0.5) / ns as f64);
                e += g(l);
            }
        }
        e /= (ns * ns) as f64;
        let q = crate::math::sphere_integral(1000, |l| g(l) * eval(v, l, a).1);
        assert!((e - q).abs() < 2e-3, "{e} {q}");
    }
    #[test]
    fn pdf_integrates_to_one() {
        // VNDF samples must have pdf consistent with eval: E[1/pdf] over samples ≈ 4π·P(pdf>0)-ish;
        // check instead that the pdf integrates to 1 over the sphere by quadrature.
        let v = v3(0.5, 0.0, (1.0f64 - 0.25).sqrt());
        let a = 0.5;
        let s = crate::math::sphere_integral(800, |l| eval(v, l, a).1);
        assert!((s - 1.0).abs() < 2e-3, "{s}");
    }
}
