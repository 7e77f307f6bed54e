//! A light hierarchy for next event estimation, in the manner of Conty & Kulla 2018 and
//! pbrt-v4's `BVHLightSampler`: a binary tree over the bounded lights (emissive triangles,
//! point and spot lights), each node with its spatial bounds, its power and a cone bounding
//! the directions its lights emit into. From a shading point, each step down picks a child
//! in proportion to an importance that bounds what the child can deliver there (power over
//! squared distance, times the best cosines the bounds allow, at the light and at the
//! surface), so lights that matter little at that point (behind a wall's plane, facing
//! away, far) are rarely chosen.
//!
//! The probability of the light reached is the product of the choices on the way; to weight
//! an emitter that a BSDF sample hits (MIS), the shader walks down again to that light along
//! its bit trail (`trails`: bit k = which child at depth k) from the same point and normal,
//! so the probabilities are exact. `shaders/pathtracer/pt.slang` evaluates the same
//! [`importance`] as here; the CPU versions ([`LightTree::sample`], [`LightTree::pmf`]) are
//! the tests' reference.

use glam::Vec3;

/// One node as the shader reads it (64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuLightNode {
    /// Bounds minimum; power (flux) in w.
    pub lo: [f32; 4],
    /// Bounds maximum; cos(theta_o) in w: the cone of the lights' normals (or directions).
    pub hi: [f32; 4],
    /// The cone's axis; cos(theta_e) in w: how far past theta_o they emit.
    pub axis: [f32; 4],
    /// x: a leaf's light index, else the second child (the first is the next node); y: 1 for
    /// a leaf.
    pub link: [u32; 4],
}

/// What bounds one light or a group of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LightBounds {
    /// Spatial bounds.
    pub lo: Vec3,
    /// Spatial bounds.
    pub hi: Vec3,
    /// Power (flux); zero: never chosen.
    pub phi: f32,
    /// Axis of the cone of normals (emitted directions bound by theta_o + theta_e).
    pub axis: Vec3,
    /// Cosine of the cone's half angle.
    pub cos_o: f32,
    /// Cosine of the spread past the cone (pi/2 for a Lambertian surface).
    pub cos_e: f32,
}

/// Powers, and sums of them, stay below this.
const PHI_MOST: f32 = 1e30;
/// Importances stay below this (so that two add up; a point light at the shading point).
const IMPORTANCE_MOST: f32 = 1e30;

/// A power the tree can add up: finite, not negative (NaN: 0); 0 where the light's position
/// is not finite.
fn clean(phi: f32, at: &[Vec3]) -> f32 {
    if phi > 0.0 && at.iter().all(|p| p.is_finite()) {
        phi.min(PHI_MOST)
    } else {
        0.0
    }
}

impl LightBounds {
    /// A one-sided emissive triangle of power `phi` (normal `normal`, unit or zero).
    pub fn triangle(p: [Vec3; 3], normal: Vec3, phi: f32) -> Self {
        let (axis, cos_o) = if normal.is_finite() && normal.length_squared() > 0.5 {
            (normal, 1.0)
        } else {
            (Vec3::Z, -1.0)
        };
        Self {
            lo: p[0].min(p[1]).min(p[2]),
            hi: p[0].max(p[1]).max(p[2]),
            phi: clean(phi, &p),
            axis,
            cos_o,
            cos_e: 0.0,
        }
    }

    /// A point light of power `phi` (emits everywhere).
    pub fn point(p: Vec3, phi: f32) -> Self {
        Self { lo: p, hi: p, phi: clean(phi, &[p]), axis: Vec3::Z, cos_o: -1.0, cos_e: 0.0 }
    }

    /// A spot light along `dir`, full intensity inside `cos_inner`, none outside `cos_outer`.
    pub fn spot(p: Vec3, dir: Vec3, cos_inner: f32, cos_outer: f32, phi: f32) -> Self {
        let inner = cos_inner.clamp(-1.0, 1.0).acos();
        let outer = cos_outer.clamp(-1.0, 1.0).acos().max(inner);
        // (A spread of at least 1e-3: cos(0) = 1 would leave no direction inside.)
        let cos_e = (outer - inner).max(1e-3).cos();
        let phi = clean(phi, &[p]);
        if dir.is_finite() && dir.length_squared() > 0.5 {
            Self { lo: p, hi: p, phi, axis: dir, cos_o: inner.cos(), cos_e }
        } else {
            // No direction to bound: every direction.
            Self { lo: p, hi: p, phi, axis: Vec3::Z, cos_o: -1.0, cos_e: 0.0 }
        }
    }

    /// Both together.
    fn union(&self, b: &Self) -> Self {
        if self.phi <= 0.0 {
            return *b;
        }
        if b.phi <= 0.0 {
            return *self;
        }
        let (axis, cos_o) = cone_union((self.axis, self.cos_o), (b.axis, b.cos_o));
        Self {
            lo: self.lo.min(b.lo),
            hi: self.hi.max(b.hi),
            phi: (self.phi + b.phi).min(PHI_MOST),
            axis,
            cos_o,
            cos_e: self.cos_e.min(b.cos_e),
        }
    }

    fn centroid(&self) -> Vec3 {
        0.5 * (self.lo + self.hi)
    }

    /// pbrt-v4's cost of a node (`BVHLightSampler::EvaluateCost`): power times the measure
    /// of its directions times its surface area, stretched along `dim` by `kr`.
    fn cost(&self, kr: f32) -> f32 {
        use std::f32::consts::PI;
        let theta_o = self.cos_o.clamp(-1.0, 1.0).acos();
        let theta_e = self.cos_e.clamp(-1.0, 1.0).acos();
        let theta_w = (theta_o + theta_e).min(PI);
        let sin_o = (1.0 - self.cos_o * self.cos_o).max(0.0).sqrt();
        let m_omega = 2.0 * PI * (1.0 - self.cos_o)
            + PI / 2.0
                * (2.0 * theta_w * sin_o - (theta_o - 2.0 * theta_w).cos() - 2.0 * theta_o * sin_o
                    + self.cos_o);
        let d = self.hi - self.lo;
        let area = 2.0 * (d.x * d.y + d.y * d.z + d.z * d.x);
        // Points (no extent) still cost by power and directions.
        self.phi * m_omega * kr * area.max(1e-12)
    }

    fn gpu(&self, link: [u32; 4]) -> GpuLightNode {
        GpuLightNode {
            lo: [self.lo.x, self.lo.y, self.lo.z, self.phi],
            hi: [self.hi.x, self.hi.y, self.hi.z, self.cos_o],
            axis: [self.axis.x, self.axis.y, self.axis.z, self.cos_e],
            link,
        }
    }
}

/// The smallest cone (axis, cos half angle) holding cones `a` and `b` (pbrt-v4's
/// `DirectionCone::Union`).
fn cone_union(a: (Vec3, f32), b: (Vec3, f32)) -> (Vec3, f32) {
    use std::f32::consts::PI;
    // Every direction already (the common case high in the tree), or the same cone.
    if a.1 <= -1.0 || (a.0 == b.0 && a.1 <= b.1) {
        return a;
    }
    if b.1 <= -1.0 || (a.0 == b.0 && b.1 <= a.1) {
        return b;
    }
    let theta_a = a.1.clamp(-1.0, 1.0).acos();
    let theta_b = b.1.clamp(-1.0, 1.0).acos();
    let theta_d = a.0.angle_between(b.0);
    if (theta_d + theta_b).min(PI) <= theta_a {
        return a;
    }
    if (theta_d + theta_a).min(PI) <= theta_b {
        return b;
    }
    // (Widened a little: `angle_between` rounds.)
    let theta_o = 0.5 * (theta_a + theta_d + theta_b) + 1e-4;
    if theta_o >= PI {
        return (Vec3::Z, -1.0);
    }
    let wr = a.0.cross(b.0);
    if wr.length_squared() < 1e-12 {
        return (Vec3::Z, -1.0);
    }
    let axis = glam::Quat::from_axis_angle(wr.normalize(), theta_o - theta_a) * a.0;
    (axis.normalize(), theta_o.cos())
}

/// The tree: nodes depth first (a node's first child follows it), each light's trail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LightTree {
    /// The nodes; empty when there are no bounded lights.
    pub nodes: Vec<GpuLightNode>,
    /// Per light (the order given to [`LightTree::build`]): the path from the root, bit k set
    /// where the second child is taken at depth k (low word first).
    pub trails: Vec<[u32; 2]>,
}

/// Deeper than this, nodes split at the median (the trails have 64 bits, the shader walks at
/// most 64 levels: 2^24 lights reach their leaves by depth 63).
const MEDIAN_FROM_DEPTH: u32 = 39;
/// Nodes of more lights than this search for the best split (two lights split one way).
const SEARCH_FROM: usize = 2;
/// Buckets per axis of the split search.
const BUCKETS: usize = 12;

impl LightTree {
    /// The tree over `lights` (bounded lights: triangles, points, spots).
    pub fn build(lights: &[LightBounds]) -> Self {
        let mut tree = Self { nodes: Vec::new(), trails: vec![[0, 0]; lights.len()] };
        if lights.is_empty() || lights.len() > (1 << 24) {
            return Self::default();
        }
        // The lights with their indices, reordered in place as the tree splits them (one
        // contiguous run per node).
        let mut items: Vec<(u32, LightBounds)> =
            lights.iter().enumerate().map(|(i, l)| (i as u32, *l)).collect();
        tree.split(&mut items, 0, 0);
        tree
    }

    /// Adds the node over `items` (at `depth`, reached by `trail`), then its children.
    fn split(&mut self, items: &mut [(u32, LightBounds)], depth: u32, trail: u64) {
        let bounds = items.iter().skip(1).fold(items[0].1, |b, (_, l)| b.union(l));
        let at = self.nodes.len();
        if items.len() == 1 {
            let light = items[0].0;
            self.nodes.push(bounds.gpu([light, 1, 0, 0]));
            self.trails[light as usize] = [trail as u32, (trail >> 32) as u32];
            return;
        }
        self.nodes.push(bounds.gpu([0; 4]));
        // (Two lights split only one way.)
        let searched = depth < MEDIAN_FROM_DEPTH && items.len() > SEARCH_FROM;
        let mid = if searched { best_split(items) } else { None };
        let mid = mid.unwrap_or_else(|| {
            // The median along the widest axis of the centroids.
            let (lo, hi) =
                items.iter().fold((Vec3::INFINITY, Vec3::NEG_INFINITY), |(lo, hi), (_, l)| {
                    let c = l.centroid();
                    (lo.min(c), hi.max(c))
                });
            let dim = (hi - lo).max_position();
            let k = items.len() / 2;
            items.select_nth_unstable_by(k, |(_, a), (_, b)| {
                let (a, b) = (a.centroid()[dim], b.centroid()[dim]);
                a.total_cmp(&b)
            });
            k
        });
        let (left, right) = items.split_at_mut(mid);
        self.split(left, depth + 1, trail);
        let second = self.nodes.len() as u32;
        self.nodes[at].link = [second, 0, 0, 0];
        self.split(right, depth + 1, trail | (1u64 << depth));
    }

    /// The light chosen at `p` (surface normal `n`; zero: a point in a medium) with the random
    /// numbers of `u` (one per level), and its probability; None when nothing can light `p`.
    pub fn sample(&self, p: Vec3, n: Vec3, mut u: impl FnMut() -> f32) -> Option<(u32, f32)> {
        let mut k = 0usize;
        let mut pmf = 1.0f32;
        loop {
            let node = self.nodes.get(k)?;
            if node.link[1] == 1 {
                return (k > 0 || importance(node, p, n) > 0.0).then_some((node.link[0], pmf));
            }
            let (c0, c1) = (k + 1, node.link[0] as usize);
            let i0 = importance(self.nodes.get(c0)?, p, n);
            let i1 = importance(self.nodes.get(c1)?, p, n);
            if i0 <= 0.0 && i1 <= 0.0 {
                return None;
            }
            // (Each child's probability on its own: 1 - p0 would round a small one to 0.)
            let (p0, p1) = (i0 / (i0 + i1), i1 / (i0 + i1));
            if u() < p0 {
                (k, pmf) = (c0, pmf * p0);
            } else {
                (k, pmf) = (c1, pmf * p1);
            }
        }
    }

    /// The probability that [`LightTree::sample`] picks `light` at `p` (normal `n`).
    pub fn pmf(&self, light: u32, p: Vec3, n: Vec3) -> f32 {
        let Some(&[lo, hi]) = self.trails.get(light as usize) else { return 0.0 };
        let mut trail = u64::from(lo) | (u64::from(hi) << 32);
        let mut k = 0usize;
        let mut pmf = 1.0f32;
        while let Some(node) = self.nodes.get(k) {
            if node.link[1] == 1 {
                return if k > 0 || importance(node, p, n) > 0.0 { pmf } else { 0.0 };
            }
            let (c0, c1) = (k + 1, node.link[0] as usize);
            let (Some(a), Some(b)) = (self.nodes.get(c0), self.nodes.get(c1)) else { return 0.0 };
            let (i0, i1) = (importance(a, p, n), importance(b, p, n));
            if i0 <= 0.0 && i1 <= 0.0 {
                return 0.0;
            }
            if trail & 1 == 0 {
                (k, pmf) = (c0, pmf * (i0 / (i0 + i1)));
            } else {
                (k, pmf) = (c1, pmf * (i1 / (i0 + i1)));
            }
            trail >>= 1;
        }
        0.0
    }
}

/// The split of `items` (reordered) with the least cost over 12 buckets per axis of the
/// centroids (pbrt-v4): the index of the first light of the second child, or None.
fn best_split(items: &mut [(u32, LightBounds)]) -> Option<usize> {
    let (mut lo, mut hi, mut blo, mut bhi) =
        (Vec3::INFINITY, Vec3::NEG_INFINITY, Vec3::INFINITY, Vec3::NEG_INFINITY);
    for (_, l) in items.iter() {
        let c = l.centroid();
        (lo, hi, blo, bhi) = (lo.min(c), hi.max(c), blo.min(l.lo), bhi.max(l.hi));
    }
    let diag = bhi - blo;
    let mut best: Option<(f32, usize, usize)> = None; // cost, axis, buckets on the left
    for dim in 0..3 {
        let extent = hi[dim] - lo[dim];
        if extent.is_nan() || extent <= 0.0 {
            continue;
        }
        let bucket = |l: &LightBounds| {
            let b = ((l.centroid()[dim] - lo[dim]) / extent * BUCKETS as f32) as usize;
            b.min(BUCKETS - 1)
        };
        let mut buckets: [Option<LightBounds>; BUCKETS] = [None; BUCKETS];
        for (_, l) in items.iter() {
            let b = &mut buckets[bucket(l)];
            *b = Some(b.map_or(*l, |x| x.union(l)));
        }
        let kr = diag.max_element() / diag[dim].max(1e-12);
        // The bounds of the buckets left of each split, and right of it.
        let join = |acc: Option<LightBounds>, b: &Option<LightBounds>| match (acc, b) {
            (Some(a), Some(b)) => Some(a.union(b)),
            (a, b) => a.or(*b),
        };
        let mut below = [None; BUCKETS];
        let mut above = [None; BUCKETS];
        for k in 1..BUCKETS {
            below[k] = join(below[k - 1], &buckets[k - 1]);
            above[BUCKETS - 1 - k] = join(above[BUCKETS - k], &buckets[BUCKETS - k]);
        }
        for split in 1..BUCKETS {
            // Left: buckets 0..split; right: split..BUCKETS.
            let right = join(above[split], &buckets[split]);
            let (Some(a), Some(b)) = (below[split], right) else { continue };
            let cost = a.cost(kr) + b.cost(kr);
            if cost.is_finite() && best.is_none_or(|(c, _, _)| cost < c) {
                best = Some((cost, dim, split));
            }
        }
    }
    let (_, dim, split) = best?;
    let extent = hi[dim] - lo[dim];
    let left = |l: &LightBounds| {
        let c = l.centroid()[dim];
        (((c - lo[dim]) / extent * BUCKETS as f32) as usize).min(BUCKETS - 1) < split
    };
    // Partition in place: lights of the left buckets first.
    let mut k = 0;
    for j in 0..items.len() {
        if left(&items[j].1) {
            items.swap(k, j);
            k += 1;
        }
    }
    (k > 0 && k < items.len()).then_some(k)
}

/// What node `node` can deliver at `p` with surface normal `n` (zero: no surface), an upper
/// bound up to a constant (pbrt-v4's `LightBounds::Importance`, one-sided at the surface: the
/// path tracer samples lights for reflection only, on the side `n` faces). The shader's
/// `light_importance` is the same.
pub fn importance(node: &GpuLightNode, p: Vec3, n: Vec3) -> f32 {
    let lo = Vec3::new(node.lo[0], node.lo[1], node.lo[2]);
    let hi = Vec3::new(node.hi[0], node.hi[1], node.hi[2]);
    let (phi, cos_o, cos_e) = (node.lo[3], node.hi[3], node.axis[3]);
    let axis = Vec3::new(node.axis[0], node.axis[1], node.axis[2]);
    if phi <= 0.0 {
        return 0.0;
    }
    let pc = 0.5 * (lo + hi);
    let diag = (hi - lo).length();
    let d2 = p.distance_squared(pc).max(0.5 * diag);
    // cos(max(0, a - b)) and sin(max(0, a - b)) from the cosines and sines of a and b.
    let cos_sub =
        |sa: f32, ca: f32, sb: f32, cb: f32| if ca > cb { 1.0 } else { ca * cb + sa * sb };
    let sin_sub =
        |sa: f32, ca: f32, sb: f32, cb: f32| if ca > cb { 0.0 } else { sa * cb - ca * sb };
    let wi = (p - pc).normalize_or_zero();
    let cos_w = axis.dot(wi);
    let sin_w = (1.0 - cos_w * cos_w).max(0.0).sqrt();
    // The cone of directions from p that the bounds subtend (their bounding sphere).
    let r2 = 0.25 * diag * diag;
    let dc2 = p.distance_squared(pc);
    let inside = p.cmpge(lo).all() && p.cmple(hi).all();
    let cos_b = if inside || dc2 < r2 { -1.0 } else { (1.0 - r2 / dc2).max(0.0).sqrt() };
    let sin_b = (1.0 - cos_b * cos_b).max(0.0).sqrt();
    let sin_o = (1.0 - cos_o * cos_o).max(0.0).sqrt();
    let cos_x = cos_sub(sin_w, cos_w, sin_o, cos_o);
    let sin_x = sin_sub(sin_w, cos_w, sin_o, cos_o);
    let cos_p = cos_sub(sin_x, cos_x, sin_b, cos_b);
    if cos_p <= cos_e {
        return 0.0;
    }
    let mut imp = (phi * cos_p / d2).min(IMPORTANCE_MOST);
    if n != Vec3::ZERO {
        // The angle between n and the direction to the light, less the bounds' spread.
        let cos_i = -wi.dot(n);
        let sin_i = (1.0 - cos_i * cos_i).max(0.0).sqrt();
        imp *= cos_sub(sin_i, cos_i, sin_b, cos_b).max(0.0);
    }
    if imp > 0.0 {
        imp
    } else {
        0.0 // (and NaN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic random sequence in [0, 1).
    fn rng(seed: u64) -> impl FnMut() -> f32 {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32) / (1u64 << 24) as f32
        }
    }

    /// Lights of every kind scattered in a box: small triangles facing random ways, points,
    /// spots, with powers over four orders of magnitude (some zero).
    fn lights(n: usize, seed: u64) -> Vec<LightBounds> {
        let mut u = rng(seed);
        let mut v = || Vec3::new(u() * 2.0 - 1.0, u() * 2.0 - 1.0, u() * 2.0 - 1.0);
        (0..n)
            .map(|k| {
                let c = 4.0 * v();
                let phi = if k % 17 == 0 { 0.0 } else { 10f32.powf(4.0 * (v().x * 0.5 + 0.5)) };
                match k % 5 {
                    0 => LightBounds::point(c, phi),
                    1 => LightBounds::spot(c, v().normalize(), 0.9, 0.7, phi),
                    _ => {
                        let p = [c, c + 0.2 * v(), c + 0.2 * v()];
                        let nrm = (p[1] - p[0]).cross(p[2] - p[0]).normalize_or_zero();
                        LightBounds::triangle(p, nrm, phi)
                    }
                }
            })
            .collect()
    }

    /// At points and normals anywhere, the probabilities of all lights sum to at most 1 (a
    /// node's bound can exceed what its children can deliver: then the walk ends without a
    /// light, as in pbrt-v4, which costs a sample, not a bias); one leaf per light.
    #[test]
    fn light_tree_probabilities_sum_to_at_most_one() {
        for (n, seed) in [(1, 1), (2, 2), (7, 3), (300, 4), (5000, 5)] {
            let ls = lights(n, seed);
            let tree = LightTree::build(&ls);
            assert_eq!(tree.nodes.len(), 2 * n - 1, "{n} lights: one leaf each");
            let mut u = rng(seed + 100);
            for _ in 0..20 {
                let p = Vec3::new(u(), u(), u()) * 10.0 - 5.0;
                let nrm = Vec3::new(u() - 0.5, u() - 0.5, u() - 0.5).normalize();
                for nn in [nrm, Vec3::ZERO] {
                    let sum: f64 = (0..n as u32).map(|l| f64::from(tree.pmf(l, p, nn))).sum();
                    assert!(sum <= 1.0 + 1e-4, "{n} lights: sum {sum}");
                }
            }
        }
    }

    /// Sampling picks each light as often as its probability says, and no light as often as
    /// what the probabilities leave (5 standard deviations).
    #[test]
    fn light_tree_samples_follow_their_probabilities() {
        let ls = lights(40, 9);
        let tree = LightTree::build(&ls);
        let (p, nrm) = (Vec3::new(0.5, -0.3, 0.2), Vec3::new(0.0, 1.0, 0.0));
        let mut u = rng(77);
        let draws = 200_000;
        let mut counts = vec![0u32; ls.len() + 1];
        for _ in 0..draws {
            if let Some((l, pmf)) = tree.sample(p, nrm, &mut u) {
                assert!((pmf - tree.pmf(l, p, nrm)).abs() <= 1e-6 * pmf.max(1.0), "light {l}");
                counts[l as usize] += 1;
            } else {
                counts[ls.len()] += 1;
            }
        }
        let pmf: Vec<f64> = (0..ls.len() as u32).map(|l| f64::from(tree.pmf(l, p, nrm))).collect();
        let none = 1.0 - pmf.iter().sum::<f64>();
        for (l, &c) in counts.iter().enumerate() {
            let q = pmf.get(l).copied().unwrap_or(none);
            let expect = q * f64::from(draws);
            let sd = (expect * (1.0 - q)).sqrt().max(1.0);
            assert!((f64::from(c) - expect).abs() < 5.0 * sd, "light {l}: {c} vs {expect:.1}");
        }
    }

    /// The importance is a bound: wherever a point of a triangle light faces the shading
    /// point and lies above its surface, every node on the light's way has importance > 0
    /// (else light sampling would miss light that BSDF sampling finds, a bias).
    #[test]
    fn light_tree_importance_never_excludes_a_light_that_reaches() {
        let ls = lights(500, 21);
        let tree = LightTree::build(&ls);
        let mut u = rng(5);
        let mut checked = 0;
        for _ in 0..3000 {
            let p = Vec3::new(u(), u(), u()) * 10.0 - 5.0;
            let nrm = Vec3::new(u() - 0.5, u() - 0.5, u() - 0.5).normalize();
            let l = (u() * ls.len() as f32) as usize % ls.len();
            let b = &ls[l];
            if b.phi <= 0.0 || b.cos_o < 0.99 {
                continue; // points and spots: checked by the sum above
            }
            // A point inside the triangle's bounds on its plane is not enough: use the
            // bounds' corners that face p within the hemispheres (a conservative check).
            let q = b.lo + (b.hi - b.lo) * Vec3::new(u(), u(), u());
            let to_p = p - q;
            if to_p.dot(b.axis) <= 0.0 || (-to_p).dot(nrm) <= 0.0 {
                continue;
            }
            checked += 1;
            assert!(tree.pmf(l as u32, p, nrm) > 0.0, "light {l} from {p} (normal {nrm})");
        }
        assert!(checked > 200, "{checked} cases");
    }

    /// Nearby lights in front of the surface get most of the probability, those behind its
    /// plane none.
    #[test]
    fn light_tree_prefers_what_matters() {
        let facing_down = |c: Vec3, phi| {
            let p = [c, c + Vec3::new(0.1, 0.0, 0.0), c + Vec3::new(0.0, 0.0, 0.1)];
            LightBounds::triangle(p, Vec3::NEG_Y, phi)
        };
        let ls = vec![
            facing_down(Vec3::new(0.0, 1.0, 0.0), 1.0),  // near, above
            facing_down(Vec3::new(8.0, 1.0, 0.0), 1.0),  // far, above
            facing_down(Vec3::new(0.0, -1.0, 0.0), 1e3), // below the floor: faces away too
            LightBounds::point(Vec3::new(0.0, -2.0, 0.0), 1e3), // below the floor's plane
        ];
        let tree = LightTree::build(&ls);
        let (p, n) = (Vec3::ZERO, Vec3::Y);
        let pmf: Vec<f32> = (0..4).map(|l| tree.pmf(l, p, n)).collect();
        assert!(pmf[0] > 0.99, "{pmf:?}");
        assert!(pmf[1] > 0.0, "{pmf:?}");
        assert_eq!((pmf[2], pmf[3]), (0.0, 0.0), "{pmf:?}");
        // With no surface (n = 0), the point below counts.
        assert!(tree.pmf(3, p, Vec3::ZERO) > 0.5);
    }

    /// A hard-edged spot (inner and outer angles equal) still lights what is inside its
    /// cone; a light at a non-finite position is never picked; a point light at the shading
    /// point has a finite importance.
    #[test]
    fn light_tree_keeps_hard_edged_spots() {
        let ls = vec![
            LightBounds::spot(Vec3::new(0.0, 2.0, 0.0), Vec3::NEG_Y, 0.9, 0.9, 10.0),
            LightBounds::spot(Vec3::new(1.0, 2.0, 0.0), Vec3::NEG_Y, 0.9, 0.95, 10.0),
            LightBounds::point(Vec3::new(f32::NAN, 0.0, 0.0), 10.0),
            LightBounds::point(Vec3::new(0.0, 0.0, 0.0), 10.0),
        ];
        let tree = LightTree::build(&ls);
        let (p, n) = (Vec3::new(0.1, 0.0, 0.0), Vec3::Y);
        assert!(tree.pmf(0, p, n) > 0.0 && tree.pmf(1, p, n) > 0.0);
        assert_eq!(tree.pmf(2, p, n), 0.0);
        let pmf: f32 = (0..4).map(|l| tree.pmf(l, Vec3::ZERO, Vec3::ZERO)).sum();
        assert!(pmf.is_finite() && pmf > 0.0 && pmf <= 1.0 + 1e-4, "{pmf}");
    }

    #[test]
    fn cone_union_holds_both() {
        let mut u = rng(3);
        for _ in 0..1000 {
            let a = Vec3::new(u() - 0.5, u() - 0.5, u() - 0.5).normalize();
            let b = Vec3::new(u() - 0.5, u() - 0.5, u() - 0.5).normalize();
            let (ca, cb) = (u() * 2.0 - 1.0, u() * 2.0 - 1.0);
            let (w, c) = cone_union((a, ca), (b, cb));
            // Both axes, and the cones' edges, lie inside.
            if c <= -1.0 + 1e-6 {
                continue; // every direction
            }
            let angle = w.angle_between(a) + ca.acos();
            assert!(angle <= c.acos() + 1e-3, "a: {angle} > {}", c.acos());
            let angle = w.angle_between(b) + cb.acos();
            assert!(angle <= c.acos() + 1e-3, "b: {angle} > {}", c.acos());
        }
    }
}
