//! The LTC fit (Heitz, Dupuy, Hill, Neubelt 2016; structure of the public fitting code
//! `fitLTC.cpp`): for each (roughness, view angle) entry, minimise with Nelder–Mead the
//! MIS-estimated error  ∫ |f·cos - norm·D_ltc|³  between the BRDF·cos and the scaled LTC.

use crate::brdf;
use crate::ltc::{cosine_dir, Ltc};
use crate::math::{v3, M3, V3};
use crate::nelder_mead;

/// Smallest alpha: the renderer clamps a = max(roughness², 1e-3) in `ggx_dv`.
pub const MIN_ALPHA: f64 = 1e-3;
/// The view angle is clamped below 90° (as in the reference) so that nv > 0.
pub const MAX_THETA: f64 = 1.57;

pub struct Config {
    pub n: usize,
    /// samples per axis for the error estimate (ns² from each of the two strategies)
    pub nsample: usize,
    /// number of samples for norm / fresnel / average direction
    pub nnorm: usize,
    pub verbose: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Entry {
    /// the fitted LTC matrix M in the local frame (n = +z, v = (sinθ, 0, cosθ))
    pub m: M3,
    /// ∫ D·V·nl dω
    pub norm: f64,
    /// ∫ D·V·nl·(1 - v·h)^5 dω
    pub fres: f64,
    /// ∫ |f·cos - norm·D_ltc| dω / norm (L1 misfit of the normalised lobes, in [0, 2])
    pub l1: f64,
    pub evals: usize,
}

/// Perceptual roughness of column `i` (i = 0..n-1) and the alpha fitted for it.
pub fn roughness_alpha(n: usize, i: usize) -> (f64, f64) {
    let r = i as f64 / (n - 1) as f64;
    (r, (r * r).max(MIN_ALPHA))
}

/// View angle of row `j`: t = j/(n-1) = sqrt(1 - cosθ)  ->  cosθ = 1 - t², θ clamped to 1.57.
pub fn view_angle(n: usize, j: usize) -> (f64, V3) {
    let t = j as f64 / (n - 1) as f64;
    let theta = (1.0 - t * t).acos().min(MAX_THETA);
    (theta, v3(theta.sin(), 0.0, theta.cos()))
}

/// norm, fresnel and the (normalised, y-cleared) average direction of D·V·nl, by VNDF
/// sampling (weight f·cos/pdf = G2/G1) on an `np`-point golden-ratio (Fibonacci) lattice.
/// A lattice rather than a square grid: the integrand jumps where l crosses the horizon,
/// and a grid aligned with that edge (normal incidence) has an O(1/sqrt(np)) error.
pub fn avg_terms(v: V3, a: f64, np: usize) -> (f64, f64, V3) {
    const G: f64 = 0.618_033_988_749_894_8;
    let (mut norm, mut fres, mut dir) = (0.0, 0.0, v3(0.0, 0.0, 0.0));
    for k in 0..np {
        let u1 = (k as f64 * G + 0.5).fract();
        let u2 = (k as f64 + 0.5) / np as f64;
        let l = brdf::sample(v, a, u1, u2);
        let (f, pdf) = brdf::eval(v, l, a);
        if pdf > 0.0 && f > 0.0 {
            let w = f / pdf;
            let h = (v + l).normalize();
            norm += w;
            fres += w * (1.0 - v.dot(h).max(0.0)).powi(5);
            dir = dir + l * w;
        }
    }
    let k = 1.0 / np as f64;
    dir.y = 0.0;
    (norm * k, fres * k, dir.normalize())
}

struct BrdfSample {
    l: V3,
    f: f64,
    pdf: f64,
}

struct Problem<'a> {
    v: V3,
    a: f64,
    amp: f64,
    bs: Vec<BrdfSample>,
    cos_dirs: &'a [V3],
}

impl Problem<'_> {
    /// MIS estimate (balance heuristic, one sample of each strategy per stratum) of
    /// ∫ g(|f·cos - amp·D_ltc|) dω.
    fn integrate(&self, ltc: &Ltc, g: impl Fn(f64) -> f64) -> f64 {
        let mut e = 0.0;
        for d in self.cos_dirs {
            let (l, pl) = ltc.sample_from(*d);
            let (f, pb) = brdf::eval(self.v, l, self.a);
            e += g((f - self.amp * pl).abs()) / (pl + pb);
        }
        for s in &self.bs {
            let pl = ltc.pdf(s.l);
            e += g((s.f - self.amp * pl).abs()) / (pl + s.pdf);
        }
        e / self.cos_dirs.len() as f64
    }
    fn error(&self, ltc: &Ltc) -> f64 {
        self.integrate(ltc, |x| x * x * x)
    }
}

/// M = [X Y Z] · [[m11, 0, m13], [0, m22, 0], [0, 0, 1]]  (reference parametrisation)
fn build_m(frame: &M3, m11: f64, m22: f64, m13: f64) -> M3 {
    frame.mul_m(&M3 { r: [[m11, 0.0, m13], [0.0, m22, 0.0], [0.0, 0.0, 1.0]] })
}

pub fn fit_table(cfg: &Config) -> Vec<Entry> {
    let n = cfg.n;
    let ns = cfg.nsample;
    let cos_dirs: Vec<V3> = (0..ns * ns)
        .map(|k| {
            cosine_dir(((k % ns) as f64 + 0.5) / ns as f64, ((k / ns) as f64 + 0.5) / ns as f64)
        })
        .collect();
    let mut tab: Vec<Option<Entry>> = vec![None; n * n];
    // parameters carried from the previous fit, as in the reference
    let (mut m11, mut m22, mut m13) = (1.0f64, 1.0f64, 0.0f64);
    let t0 = std::time::Instant::now();

    for ai in (0..n).rev() {
        let (_r, a) = roughness_alpha(n, ai);
        for tj in 0..n {
            let (_theta, v) = view_angle(n, tj);
            let (norm, fres, avg) = avg_terms(v, a, cfg.nnorm);
            let bs: Vec<BrdfSample> = (0..ns * ns)
                .map(|k| {
                    let u1 = ((k % ns) as f64 + 0.5) / ns as f64;
                    let u2 = ((k / ns) as f64 + 0.5) / ns as f64;
                    let l = brdf::sample(v, a, u1, u2);
                    let (f, pdf) = brdf::eval(v, l, a);
                    BrdfSample { l, f, pdf }
                })
                .collect();
            let prob = Problem { v, a, amp: norm, bs, cos_dirs: &cos_dirs };

            // 1. first guess
            let isotropic = tj == 0;
            let frame = if isotropic {
                // normal incidence: lobe rotationally symmetric about +z
                if ai == n - 1 {
                    m11 = 1.0;
                    m22 = 1.0;
                } else {
                    let prev = tab[ai + 1].unwrap().m; // previous (rougher) fit at θ = 0
                    m11 = prev.r[0][0];
                    m22 = prev.r[1][1];
                }
                m13 = 0.0;
                M3::identity()
            } else {
                // frame around the average direction, parameters of the previous θ
                M3::from_cols(v3(avg.z, 0.0, -avg.x), v3(0.0, 1.0, 0.0), avg)
            };

            // 2. Nelder–Mead over (ln m11, ln m22, m13/m11) (isotropic: ln m11 only)
            let to_m = |q: &[f64]| -> M3 {
                if isotropic {
                    let s = q[0].exp();
                    build_m(&frame, s, s, 0.0)
                } else {
                    let s = q[0].exp();
                    build_m(&frame, s, q[1].exp(), q[2] * s)
                }
            };
            let start: Vec<f64> = if isotropic {
                vec![m11.max(1e-7).ln()]
            } else {
                vec![m11.max(1e-7).ln(), m22.max(1e-7).ln(), m13 / m11.max(1e-7)]
            };
            let obj = |q: &[f64]| prob.error(&Ltc::new(to_m(q)));
            let delta = vec![0.05; start.len()];
            let mut res = nelder_mead::minimize(&start, &delta, 1e-5, 200, obj);
            // one restart from the optimum (guards against a collapsed simplex)
            let res2 = nelder_mead::minimize(&res.x, &delta, 1e-5, 200, obj);
            let evals = res.evals + res2.evals;
            if res2.f <= res.f {
                res = res2;
            }
            let q = &res.x;
            m11 = q[0].exp();
            if isotropic {
                m22 = m11;
                m13 = 0.0;
            } else {
                m22 = q[1].exp();
                m13 = q[2] * m11;
            }
            let mut m = to_m(q);
            // kill the coefficients that are zero by symmetry
            m.r[0][1] = 0.0;
            m.r[1][0] = 0.0;
            m.r[1][2] = 0.0;
            m.r[2][1] = 0.0;
            let l1 = prob.integrate(&Ltc::new(m), |x| x) / norm;
            tab[ai + tj * n] = Some(Entry { m, norm, fres, l1, evals });
        }
        if cfg.verbose {
            let row: Vec<Entry> = (0..n).map(|tj| tab[ai + tj * n].unwrap()).collect();
            let worst = row.iter().map(|e| e.l1).fold(0.0, f64::max);
            let evals: usize = row.iter().map(|e| e.evals).sum();
            eprintln!(
                "roughness {:2}/{} (alpha {:.5}): max L1 misfit {:.4}, {:5} evals, {:6.1}s",
                ai,
                n - 1,
                a,
                worst,
                evals,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    tab.into_iter().map(|e| e.unwrap()).collect()
}

/// The 4 stored numbers: inverse(M) divided by its middle element inverse(M)[1][1], then
/// (m00, m20, m02, m22) in row/column notation (Hill's layout, see README).
pub fn pack_minv(m: &M3) -> [f64; 4] {
    let inv = m.inverse();
    let inv = inv.scale(1.0 / inv.r[1][1]);
    [inv.r[0][0], inv.r[2][0], inv.r[0][2], inv.r[2][2]]
}

/// Rebuilds the (normalised) inverse matrix from the 4 stored numbers.
pub fn unpack_minv(t: [f64; 4]) -> M3 {
    M3 { r: [[t[0], 0.0, t[2]], [0.0, 1.0, 0.0], [t[1], 0.0, t[3]]] }
}
