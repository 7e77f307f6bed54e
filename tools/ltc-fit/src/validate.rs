//! Validation: LTC polygon estimates from the written table vs. brute-force integrals.

use crate::brdf;
use crate::fit::{self, MIN_ALPHA};
use crate::ltc::{clip_to_horizon, ltc_polygon};
use crate::math::{v3, M3, V3};
use std::f64::consts::PI;

/// The tables as read back from `ltc_ggx.bin` (or from a reference file).
pub struct Table {
    pub n: usize,
    /// per texel: inverse(M)/inverse(M)[1][1] as (m00, m20, m02, m22)
    pub t1: Vec<[f32; 4]>,
    /// per texel: (norm, fres)
    pub t2: Vec<[f32; 2]>,
}

impl Table {
    /// What a shader does with linear filtering and uv = (r, sqrt(1-cosθ))·(N-1)/N + 0.5/N:
    /// bilinear interpolation between texel centres, clamp to edge.
    pub fn lookup(&self, roughness: f64, cos_theta: f64) -> (M3, f64, f64) {
        let n = self.n;
        let x = (roughness.clamp(0.0, 1.0)) * (n - 1) as f64;
        let y = ((1.0 - cos_theta).max(0.0).sqrt().clamp(0.0, 1.0)) * (n - 1) as f64;
        let (x0, y0) = ((x.floor() as usize).min(n - 2), (y.floor() as usize).min(n - 2));
        let (fx, fy) = (x - x0 as f64, y - y0 as f64);
        let w = [
            (x0, y0, (1.0 - fx) * (1.0 - fy)),
            (x0 + 1, y0, fx * (1.0 - fy)),
            (x0, y0 + 1, (1.0 - fx) * fy),
            (x0 + 1, y0 + 1, fx * fy),
        ];
        let mut t = [0.0f64; 4];
        let (mut norm, mut fres) = (0.0, 0.0);
        for &(i, j, wt) in &w {
            let k = i + j * n;
            for c in 0..4 {
                t[c] += wt * self.t1[k][c] as f64;
            }
            norm += wt * self.t2[k][0] as f64;
            fres += wt * self.t2[k][1] as f64;
        }
        (fit::unpack_minv(t), norm, fres)
    }
}

/// Parses `g_ltc_1` / `g_ltc_2` from the public reference `fit/results/ltc.js`
/// (same channel layout; g_ltc_2 = norm, fresnel, 0, sphere).
pub fn load_reference_js(text: &str) -> Option<Table> {
    let arr = |name: &str| -> Option<Vec<f32>> {
        let start = text.find(name)?;
        let rest = &text[start..];
        let open = rest.find('[')?;
        let close = rest.find(']')?;
        Some(
            rest[open + 1..close].split(',').filter_map(|s| s.trim().parse::<f32>().ok()).collect(),
        )
    };
    let a = arr("g_ltc_1")?;
    let b = arr("g_ltc_2")?;
    let n = ((a.len() / 4) as f64).sqrt() as usize;
    if n * n * 4 != a.len() || b.len() != a.len() {
        return None;
    }
    Some(Table {
        n,
        t1: a.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect(),
        t2: b.chunks(4).map(|c| [c[0], c[1]]).collect(),
    })
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^= z >> 31;
        (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// A convex planar polygon light (positions relative to the shading point, local frame).
pub struct Polygon {
    pub name: &'static str,
    pub p: Vec<V3>,
}

pub fn test_polygons() -> Vec<Polygon> {
    vec![
        Polygon {
            name: "quad above",
            p: vec![v3(-0.5, -0.5, 1.0), v3(0.5, -0.5, 1.0), v3(0.5, 0.5, 1.0), v3(-0.5, 0.5, 1.0)],
        },
        Polygon {
            name: "tilted tri, side",
            p: vec![v3(-0.3, 0.4, 1.0), v3(-1.2, 0.6, 0.7), v3(-0.6, 1.3, 0.4)],
        },
        Polygon {
            name: "wall, below horizon",
            p: vec![
                v3(-1.0, -0.6, -0.4),
                v3(-1.0, 0.6, -0.4),
                v3(-1.0, 0.6, 1.2),
                v3(-1.0, -0.6, 1.2),
            ],
        },
    ]
}

/// Brute-force ∫_polygon D·V·nl dω: MIS (balance heuristic) of VNDF sampling and uniform
/// area sampling of the polygon, `n` samples each. Returns (estimate, standard error).
pub fn brute_force(poly: &Polygon, v: V3, a: f64, n: usize, seed: u64) -> (f64, f64) {
    let p = &poly.p;
    let nrm = (p[1] - p[0]).cross(p[2] - p[0]);
    let nhat = nrm.normalize();
    // fan triangulation
    let tris: Vec<(V3, V3, V3, f64)> = (1..p.len() - 1)
        .map(|i| (p[0], p[i], p[i + 1], 0.5 * (p[i] - p[0]).cross(p[i + 1] - p[0]).len()))
        .collect();
    let area: f64 = tris.iter().map(|t| t.3).sum();
    let hit = |l: V3| -> Option<f64> {
        let den = nhat.dot(l);
        if den.abs() < 1e-15 {
            return None;
        }
        let t = nhat.dot(p[0]) / den;
        if t <= 0.0 {
            return None;
        }
        let x = l * t;
        let k = p.len();
        let mut sign = 0.0;
        for i in 0..k {
            let s = (p[(i + 1) % k] - p[i]).cross(x - p[i]).dot(nhat);
            if sign == 0.0 {
                sign = s.signum();
            } else if s * sign < 0.0 {
                return None;
            }
        }
        Some(t)
    };
    let pdf_area = |l: V3, t: f64| t * t / (area * nhat.dot(l).abs());
    let mut rng = Rng(seed);
    let (mut s_a, mut s2_a, mut s_b, mut s2_b) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..n {
        // strategy A: BRDF (VNDF)
        let l = brdf::sample(v, a, rng.next(), rng.next());
        let c = match hit(l) {
            Some(t) => {
                let (f, pb) = brdf::eval(v, l, a);
                if f > 0.0 {
                    f / (pb + pdf_area(l, t))
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        s_a += c;
        s2_a += c * c;
        // strategy B: uniform point on the polygon
        let mut u = rng.next() * area;
        let mut tri = tris[tris.len() - 1];
        for t in &tris {
            if u < t.3 {
                tri = *t;
                break;
            }
            u -= t.3;
        }
        let (r1, r2) = (rng.next().sqrt(), rng.next());
        let x = tri.0 * (1.0 - r1) + tri.1 * (r1 * (1.0 - r2)) + tri.2 * (r1 * r2);
        let t = x.len();
        let l = x * (1.0 / t);
        let (f, pb) = brdf::eval(v, l, a);
        let c = if f > 0.0 { f / (pb + pdf_area(l, t)) } else { 0.0 };
        s_b += c;
        s2_b += c * c;
    }
    let nf = n as f64;
    let (ma, mb) = (s_a / nf, s_b / nf);
    let var = (s2_a / nf - ma * ma) / nf + (s2_b / nf - mb * mb) / nf;
    (ma + mb, var.max(0.0).sqrt())
}

/// ∫ D·V·nl dω and ∫ D·V·nl·(1-vh)^5 dω by midpoint quadrature in half-vector space
/// (θh from the GGX D·cos CDF, so the D·nh factor is absorbed): (norm, fres).
pub fn norm_quadrature_h(v: V3, a: f64, nu: usize, nphi: usize) -> (f64, f64) {
    let (mut s, mut sf) = (0.0, 0.0);
    for i in 0..nu {
        let u = (i as f64 + 0.5) / nu as f64;
        let t2 = a * a * u / (1.0 - u); // tan²θh
        let ch = 1.0 / (1.0 + t2).sqrt();
        let sh = (t2 / (1.0 + t2)).sqrt();
        for j in 0..nphi {
            let phi = PI * (j as f64 + 0.5) / nphi as f64; // half range, ×2 by symmetry
            let h = v3(sh * phi.cos(), sh * phi.sin(), ch);
            let vh = v.dot(h);
            if vh <= 0.0 {
                continue;
            }
            let l = h * (2.0 * vh) - v;
            if l.z <= 0.0 {
                continue;
            }
            // ∫ D V nl dωl = ∫ D(h) nh · [V nl 4 vh / nh] dωh
            let g = brdf::vis(a, l.z, v.z) * l.z * 4.0 * vh / ch;
            s += g;
            sf += g * (1.0 - vh).powi(5);
        }
    }
    let k = 1.0 / (nu * nphi) as f64;
    (s * k, sf * k)
}

/// ∫ D·V·nl dω by plain Monte Carlo with random half vectors from D·nh (not the VNDF
/// sampler used by the fit): (estimate, standard error).
pub fn norm_mc_h(v: V3, a: f64, n: usize, seed: u64) -> (f64, f64) {
    let mut rng = Rng(seed);
    let (mut s, mut s2) = (0.0, 0.0);
    for _ in 0..n {
        let u = rng.next();
        let phi = 2.0 * PI * rng.next();
        let t2 = a * a * u / (1.0 - u);
        let ch = 1.0 / (1.0 + t2).sqrt();
        let sh = (t2 / (1.0 + t2)).sqrt();
        let h = v3(sh * phi.cos(), sh * phi.sin(), ch);
        let vh = v.dot(h);
        let l = h * (2.0 * vh) - v;
        let g =
            if vh > 0.0 && l.z > 0.0 { brdf::vis(a, l.z, v.z) * l.z * 4.0 * vh / ch } else { 0.0 };
        s += g;
        s2 += g * g;
    }
    let m = s / n as f64;
    (m, ((s2 / n as f64 - m * m).max(0.0) / n as f64).sqrt())
}

pub fn run(tab: &Table, reference: Option<&Table>, mc: usize) {
    println!("\n## Polygon validation (two-sided, LTC = norm x clipped form factor of Minv-transformed polygon)");
    println!(
        "LTC values use the written f32 table with bilinear lookup at uv = (r, sqrt(1-cos theta))."
    );
    println!("Reference: MIS(VNDF + polygon-area) Monte Carlo, {} + {} samples.\n", mc, mc);
    let has_ref = reference.is_some();
    if has_ref {
        println!("| r | theta | polygon | brute force (±1σ) | LTC | rel. err | rel. err, pre-clipped | rel. err, Hill's table |");
        println!("|---|---|---|---|---|---|---|---|");
    } else {
        println!(
            "| r | theta | polygon | brute force (±1σ) | LTC | rel. err | rel. err, pre-clipped |"
        );
        println!("|---|---|---|---|---|---|---|");
    }
    let polys = test_polygons();
    let mut seed = 1u64;
    let mut worst: f64 = 0.0;
    for &r in &[0.2f64, 0.5, 0.9] {
        let a = (r * r).max(MIN_ALPHA);
        for &deg in &[0.0f64, 45.0, 75.0] {
            let th = deg.to_radians();
            let v = v3(th.sin(), 0.0, th.cos());
            let (minv, norm, _) = tab.lookup(r, th.cos());
            for poly in &polys {
                seed += 1;
                let (bf, se) = brute_force(poly, v, a, mc, seed * 7919);
                let est = norm * ltc_polygon(&minv, &poly.p);
                // variant: clip to the surface horizon first, then the usual LTC-space clip
                let est2 = norm * ltc_polygon(&minv, &clip_to_horizon(&poly.p));
                let rel = (est - bf) / bf;
                worst = worst.max(rel.abs());
                print!(
                    "| {r:.1} | {deg:.0}° | {} | {:.5} (±{:.5}) | {:.5} | {:+.1}% | {:+.1}% |",
                    poly.name,
                    bf,
                    se,
                    est,
                    100.0 * rel,
                    100.0 * (est2 - bf) / bf
                );
                if let Some(rt) = reference {
                    let (m2, n2, _) = rt.lookup(r, th.cos());
                    let e2 = n2 * ltc_polygon(&m2, &poly.p);
                    print!(" {:+.1}% |", 100.0 * (e2 - bf) / bf);
                }
                println!();
            }
        }
    }
    println!("\nmax |rel. err| (ours): {:.1}%", 100.0 * worst);

    println!("\n## Norm / Fresnel check at grid points (stored f32 vs. quadrature)");
    println!("Q_h: midpoint quadrature in half-vector space (u from the D*nh CDF, 4096 x 1024 over u, phi);");
    println!("MC_h: random D*nh half-vector sampling, 4M samples (±1σ).\n");
    println!("| i (r) | j (theta) | norm table | norm Q_h | norm MC_h | fres table | fres Q_h |");
    println!("|---|---|---|---|---|---|---|");
    let n = tab.n;
    let (mut worst_q, mut worst_s): (f64, f64) = (0.0, 0.0);
    for &i in &[0usize, 13, 32, 57, 63] {
        for &j in &[0usize, 20, 45, 63] {
            if i >= n || j >= n {
                continue;
            }
            let (r, a) = fit::roughness_alpha(n, i);
            let (th, v) = fit::view_angle(n, j);
            let k = i + j * n;
            let (qn, qf) = norm_quadrature_h(v, a, 4096, 1024);
            let (mn, ms) = norm_mc_h(v, a, 4_000_000, 1000 + k as u64);
            let ql = format!("{mn:.5} (±{ms:.5})");
            let (tn, tf) = (tab.t2[k][0] as f64, tab.t2[k][1] as f64);
            if j + 1 < n {
                worst_q = worst_q.max(((tn - qn) / qn).abs());
            }
            if ms > 0.0 {
                worst_s = worst_s.max((tn - mn).abs() / ms);
            }
            println!(
                "| {i} ({r:.3}) | {j} ({:.1}°) | {tn:.5} | {qn:.5} | {ql} | {tf:.5} | {qf:.5} |",
                th.to_degrees()
            );
        }
    }
    println!(
        "\nnorm: max |table - Q_h|/Q_h = {worst_q:.1e} (rows j < N-1; Q_h does not resolve the 89.95° row), max |table - MC_h| = {worst_s:.1} sigma"
    );

    if let Some(rt) = reference {
        if rt.n == n {
            let (mut dn, mut df, mut dm) = (0.0f64, 0.0f64, 0.0f64);
            for j in 0..n {
                for i in 3..n {
                    let k = i + j * n;
                    dn = dn.max((tab.t2[k][0] - rt.t2[k][0]).abs() as f64);
                    df = df.max((tab.t2[k][1] - rt.t2[k][1]).abs() as f64);
                }
            }
            // matrix entries: compare where both are well-conditioned (r >= 0.2)
            for j in 0..n {
                for i in 13..n {
                    let k = i + j * n;
                    for c in 0..4 {
                        dm = dm.max((tab.t1[k][c] - rt.t1[k][c]).abs() as f64);
                    }
                }
            }
            println!(
                "\nvs. public reference GGX table (r index >= 3): max |d norm| {dn:.2e}, max |d fres| {df:.2e}; max |d Minv entry| (r >= 0.2) {dm:.3}"
            );
        }
    }
}
