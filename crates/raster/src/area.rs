//! Emissive surfaces as area lights of the raster: every triangle of an emissive material, in
//! world space with its emitted radiance, lights the scene from its front face (the
//! counter-clockwise side, as the path tracer and the references have it); two triangles in a
//! row that make a convex quad in one plane are one light (fewer polygons to integrate). The forward shader
//! integrates each triangle exactly for the diffuse lobe (the cosine-weighted solid angle of
//! the triangle clipped to the horizon: a linearly transformed cosine with the identity
//! transform, Lambert's polygon formula) and evaluates the specular lobes toward the point of
//! the triangle nearest the reflected ray, with the roughness widened by the triangle's size.
//! Shadows: the most powerful emitters (an emissive draw each, up to the `area_light_shadows`
//! setting and the layers that the punctual lights leave) get a cube shadow map from their
//! centre, like a point light's, read with percentage-closer soft shadows for a disk of their
//! size. Emissive surfaces cast no shadow into emitters' maps (an emitter would shadow its own
//! light). The others are unshadowed. Emission from a texture lights nothing (it still shows on its
//! surface).
//! Rebuilt on the CPU when the scene changes ([`render::Renderer::scene_changed`]) and
//! written to the raster's buffer by a transfer pass of the next frame's graph.

use framegraph::{BufferHandle, FrameGraph};
use glam::{Mat4, Vec3};
use render::{GpuLight, GpuScene, RenderError};
use xpg::Context;

use crate::list::DeviceList;

/// Emissive triangles lit with at most (the first ones, in draw order; with the punctual
/// lights, within what clustering takes: `clusters::MAX_CLUSTERED_LIGHTS`).
pub const MAX_AREA_LIGHTS: usize = 1 << 15;

/// One emissive triangle (`GpuAreaLight` in shaders/raster/frame.slang): its corners
/// counter-clockwise seen from the side it lights, with its emitter's centre in their w; its
/// radiance, with its emitter's rank by power in w (-1: none; the first `shadow_split.y`
/// emitters are shadowed).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct GpuAreaLight {
    p0: [f32; 4],
    p1: [f32; 4],
    p2: [f32; 4],
    /// A quad's fourth corner, w 1 (two triangles of one plane that share an edge and make a
    /// convex quad are one light); w 0 for a triangle.
    p3: [f32; 4],
    radiance: [f32; 4],
    /// The corners' mean, and the largest squared distance from it to a corner (what the
    /// shading and the clusters test first).
    middle: [f32; 4],
    /// The unit normal of the side it lights, and its area.
    normal: [f32; 4],
}

impl GpuAreaLight {
    /// `middle` and `normal` from the corners.
    fn with_shape(mut self) -> Self {
        let v = |p: [f32; 4]| Vec3::from_slice(&p[..3]);
        let quad = self.p3[3] > 0.5;
        let corners: Vec<Vec3> = [self.p0, self.p1, self.p2, self.p3]
            .into_iter()
            .take(if quad { 4 } else { 3 })
            .map(v)
            .collect();
        let middle = corners.iter().copied().sum::<Vec3>() / corners.len() as f32;
        let extent2 = corners.iter().map(|c| (*c - middle).length_squared()).fold(0.0, f32::max);
        let [a, b, c] = [0, 1, 2].map(|i| corners[i]);
        // Twice the area: a triangle's cross product; a convex quad's, its diagonals'.
        let twice = if quad { (c - a).cross(corners[3] - b) } else { (b - a).cross(c - a) };
        let normal = (b - a).cross(c - a).normalize_or_zero();
        self.middle = middle.extend(extent2).to_array();
        self.normal = normal.extend(0.5 * twice.length()).to_array();
        self
    }
}

/// Triangle `t` ([a, b, c], counter-clockwise seen from its front) and the triangle `u` made
/// one convex quad, counter-clockwise from the same side, when they share an edge (in opposite
/// directions) and lie in one plane.
fn quad_of(t: [Vec3; 3], u: [Vec3; 3]) -> Option<[Vec3; 4]> {
    let (nt, nu) = ((t[1] - t[0]).cross(t[2] - t[0]), (u[1] - u[0]).cross(u[2] - u[0]));
    let n = nt.try_normalize()?;
    if nu.try_normalize()?.dot(n) < 1.0 - 1e-6 {
        return None;
    }
    for i in 0..3 {
        let (from, to) = (t[i], t[(i + 1) % 3]);
        // `u` has the edge to -> from; its third corner goes between from and to.
        let Some(j) = (0..3).find(|&j| u[j] == to && u[(j + 1) % 3] == from) else { continue };
        let d = u[(j + 2) % 3];
        // In the plane (a corner off it is a fold, not a quad).
        if (d - t[0]).dot(n).abs() > 1e-5 * (d - t[0]).length().max(1e-12) {
            return None;
        }
        let q = [from, d, to, t[(i + 2) % 3]];
        // Convex: every corner turns the same way as the front's normal.
        let convex = (0..4).all(|k| {
            let (a, b, c) = (q[k], q[(k + 1) % 4], q[(k + 2) % 4]);
            (b - a).cross(c - b).dot(n) > 0.0
        });
        return convex.then_some(q);
    }
    None
}

/// An emitter: the emissive triangles of one draw.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Emitter {
    /// Its area-weighted centre, where its shadow map is made from.
    centre: Vec3,
    /// The radius of the disk that stands for it in the soft shadows: a flat emitter's of
    /// the same area, another's distance from the centre to its farthest corner.
    radius: f32,
    /// Luminance of its radiance times its area.
    power: f32,
}

/// The area lights of the scene last seen and their buffer, and the emitters by power (the
/// strongest first).
pub(crate) struct AreaLights {
    list: DeviceList<GpuAreaLight>,
    emitters: Vec<Emitter>,
    /// The GGX lobe's linearly transformed cosines ([`ltc_table`]), set on the first import.
    ltc: DeviceList<[f32; 4]>,
}

impl Default for AreaLights {
    fn default() -> Self {
        Self {
            list: DeviceList::new("raster area lights"),
            emitters: Vec::new(),
            ltc: DeviceList::new("raster ltc table"),
        }
    }
}

/// Entries per side of the LTC tables.
pub(crate) const LTC_SIZE: usize = 64;

/// The linearly transformed cosines (Heitz et al. 2016) fitted to the shared BRDF's GGX lobe
/// (`tools/ltc-fit`, whose README gives the fit and the layout of `data/ltc_ggx.bin`), as the
/// forward shader reads them: 64 x 64 entries, column perceptual roughness r = i / 63, row
/// t = j / 63 = sqrt(1 - cos theta_v), entry i + 64 j; first the inverse matrices (m00, m20,
/// m02, m22; m11 = 1), then (norm, fres, 0, 0): the lobe's directional albedo with Fresnel 1
/// and its part weighted by (1 - v.h)^5, so that the albedo with Schlick's Fresnel is
/// f0 (norm - fres) + f90 fres.
pub(crate) fn ltc_table() -> Result<Vec<[f32; 4]>, RenderError> {
    const FILE: &[u8] = include_bytes!("../data/ltc_ggx.bin");
    let n = LTC_SIZE * LTC_SIZE;
    let word = |k: usize| -> Option<[u8; 4]> { FILE.get(4 * k..4 * k + 4)?.try_into().ok() };
    let header_ok = FILE.get(..4) == Some(b"LTCG".as_slice())
        && word(1).map(u32::from_le_bytes) == Some(1)
        && word(2).map(u32::from_le_bytes) == Some(LTC_SIZE as u32)
        && FILE.len() == 16 + n * 24;
    if !header_ok {
        return Err(RenderError::Internal("the LTC table (ltc_ggx.bin) is malformed".into()));
    }
    let float = |k: usize| word(4 + k).map_or(0.0, f32::from_le_bytes);
    let matrices =
        (0..n).map(|e| [float(4 * e), float(4 * e + 1), float(4 * e + 2), float(4 * e + 3)]);
    let albedo = (0..n).map(|e| [float(4 * n + 2 * e), float(4 * n + 2 * e + 1), 0.0, 0.0]);
    Ok(matrices.chain(albedo).collect())
}

impl AreaLights {
    /// The emissive triangles of `scene` as `gpu` places them.
    pub(crate) fn rebuild(&mut self, scene: &scene::Scene, gpu: &GpuScene) {
        let mut lights: Vec<GpuAreaLight> = Vec::new();
        // Per emitter: its triangles in `lights`, its centre and its power.
        let mut emitters: Vec<(std::ops::Range<usize>, Emitter)> = Vec::new();
        'draws: for (d, draw) in gpu.draw_list.iter().enumerate() {
            let Some(m) = scene.materials.get(draw.material as usize) else { continue };
            // Emission from a texture (a model's lamps, a screen) shows on the surface but
            // lights nothing in the raster: a light per triangle of such meshes would be many
            // and mostly dark.
            if !m.emissive.iter().any(|&e| e > 0.0)
                || !m.emissive.iter().all(|e| e.is_finite())
                || m.emissive_texture.is_some()
            {
                continue;
            }
            let Some((node, _, geometry)) = gpu.draw_origin(d) else { continue };
            let Some(prim) = scene.nodes.get(node).and_then(|n| {
                scene.meshes.get(n.mesh?).and_then(|mesh| mesh.primitives.get(geometry))
            }) else {
                continue;
            };
            if prim.hidden {
                continue;
            }
            let world = Mat4::from_cols_array_2d(&draw.model);
            let first = lights.len();
            let (mut weighted, mut area, mut normal) = (Vec3::ZERO, 0.0f32, Vec3::ZERO);
            for t in prim.indices.chunks_exact(3) {
                if lights.len() == MAX_AREA_LIGHTS {
                    tracing::warn!("more than {MAX_AREA_LIGHTS} emissive triangles: the rest light nothing in the raster");
                    break 'draws;
                }
                let corner = |k: usize| {
                    prim.positions
                        .get(t[k] as usize)
                        .map(|&p| world.transform_point3(Vec3::from(p)))
                };
                let (Some(a), Some(mut b), Some(mut c)) = (corner(0), corner(1), corner(2)) else {
                    continue;
                };
                // A mirroring transform turns the front to the clockwise side.
                if draw.mirrored != 0 {
                    std::mem::swap(&mut b, &mut c);
                }
                if (b - a).cross(c - a).length_squared() <= 0.0 {
                    continue;
                }
                let e = m.emissive;
                // With the triangle before it (of this draw, not yet in a quad), one quad.
                let quad = lights[first..].last().filter(|l| l.p3[3] == 0.0).and_then(|l| {
                    quad_of([l.p0, l.p1, l.p2].map(|p| Vec3::from_slice(&p[..3])), [a, b, c])
                });
                match (quad, lights[first..].last_mut()) {
                    (Some(q), Some(l)) => {
                        [l.p0, l.p1, l.p2, l.p3] = q.map(|p| p.extend(0.0).to_array());
                        l.p3[3] = 1.0;
                    }
                    _ => lights.push(GpuAreaLight {
                        p0: a.extend(0.0).to_array(),
                        p1: b.extend(0.0).to_array(),
                        p2: c.extend(0.0).to_array(),
                        p3: [0.0; 4],
                        radiance: [e[0], e[1], e[2], -1.0],
                        middle: [0.0; 4],
                        normal: [0.0; 4],
                    }),
                }
                let cross = (b - a).cross(c - a);
                let t_area = 0.5 * cross.length();
                weighted += (a + b + c) / 3.0 * t_area;
                area += t_area;
                normal += 0.5 * cross;
            }
            if area > 0.0 {
                let centre = weighted / area;
                let extent = lights[first..]
                    .iter()
                    .flat_map(|l| [l.p0, l.p1, l.p2, if l.p3[3] > 0.0 { l.p3 } else { l.p0 }])
                    .map(|p| (Vec3::from_slice(&p[..3]) - centre).length())
                    .fold(0.0f32, f32::max);
                let e = m.emissive;
                let power = (0.2126 * e[0] + 0.7152 * e[1] + 0.0722 * e[2]) * area;
                // Flat: its triangles' area-weighted normals add up to its area.
                let radius = if normal.length() >= 0.999 * area {
                    (area / std::f32::consts::PI).sqrt()
                } else {
                    extent
                };
                let emitter = Emitter { centre, radius, power };
                emitters.push((first..lights.len(), emitter));
            }
        }
        // The strongest first (ties in draw order); each triangle learns its emitter's centre
        // and rank.
        let mut order: Vec<usize> = (0..emitters.len()).collect();
        order.sort_by(|&i, &j| emitters[j].1.power.total_cmp(&emitters[i].1.power).then(i.cmp(&j)));
        for (rank, &i) in order.iter().enumerate() {
            let (ref triangles, em) = emitters[i];
            for l in &mut lights[triangles.clone()] {
                (l.p0[3], l.p1[3], l.p2[3]) = (em.centre.x, em.centre.y, em.centre.z);
                l.radiance[3] = rank as f32;
            }
        }
        self.emitters = order.iter().map(|&i| emitters[i].1).collect();
        self.list.set(lights.into_iter().map(GpuAreaLight::with_shape).collect());
    }

    /// The shadow-casting point lights of the `count` strongest emitters (at most as many as
    /// there are): at each centre, the radius of their soft shadows in `range[2]`.
    pub(crate) fn shadow_lights(&self, count: usize) -> impl Iterator<Item = GpuLight> + '_ {
        self.emitters.iter().take(count).map(|e| GpuLight {
            position_kind: [e.centre.x, e.centre.y, e.centre.z, 1.0],
            direction_cos_outer: [0.0, 0.0, 0.0, -1.0],
            radiance_cos_inner: [0.0, 0.0, 0.0, -1.0],
            range: [0.0, 0.0, e.radius, 0.0],
        })
    }

    /// How many emitters there are.
    pub(crate) fn emitters(&self) -> usize {
        self.emitters.len()
    }

    /// How many there are.
    pub(crate) fn count(&self) -> u32 {
        self.list.data().len() as u32
    }

    /// Imports the buffer into `graph` (None without area lights), with a transfer pass
    /// writing it first when the lights changed.
    pub(crate) fn import(
        &mut self,
        ctx: &Context,
        graph: &mut FrameGraph<'_>,
    ) -> Result<Option<(BufferHandle, u64)>, RenderError> {
        self.list.import(ctx, graph)
    }

    /// The LTC table ([`ltc_table`]) imported into `graph` (written by a pass of the first
    /// graph): its handle and device address.
    pub(crate) fn import_ltc(
        &mut self,
        ctx: &Context,
        graph: &mut FrameGraph<'_>,
    ) -> Result<(BufferHandle, u64), RenderError> {
        if self.ltc.data().is_empty() {
            self.ltc.set(ltc_table()?);
        }
        self.ltc
            .import(ctx, graph)?
            .ok_or_else(|| RenderError::Internal("the LTC table is empty".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded table reads: every inverse matrix finite with m22 > 0 (m11 = 1), the
    /// albedo within (0, 1] with its Fresnel part below it; at normal view rougher lobes are
    /// wider; the albedo is 1 for a smooth lobe at normal view and exact at roughness 1.
    #[test]
    fn ltc_table_reads_and_is_plausible() {
        let t = ltc_table().expect("the embedded table");
        let n = LTC_SIZE * LTC_SIZE;
        assert_eq!(t.len(), 2 * n);
        for (e, m) in t[..n].iter().enumerate() {
            assert!(m.iter().all(|v| v.is_finite()) && m[3] > 0.0, "entry {e}: {m:?}");
        }
        for (e, a) in t[n..].iter().enumerate() {
            let (norm, fres) = (a[0], a[1]);
            assert!(norm > 0.0 && norm <= 1.0 + 1e-3, "entry {e}: norm {norm}");
            assert!((0.0..=norm).contains(&fres), "entry {e}: fres {fres} of {norm}");
        }
        // Row 0 (normal view): an isotropic lobe, m00 = m22 x (alpha scale); rougher: wider.
        let m00 = |i: usize, j: usize| t[i + LTC_SIZE * j][0] / t[i + LTC_SIZE * j][3];
        assert!(
            m00(63, 0) < m00(20, 0) && m00(20, 0) < m00(5, 0),
            "{} {} {}",
            m00(63, 0),
            m00(20, 0),
            m00(5, 0)
        );
        // Smooth GGX at normal view: albedo near 1 (Fresnel 1).
        assert!(t[n + 5][0] > 0.95, "{:?}", t[n + 5]);
        // Roughness 1 (alpha 1): D = 1 / pi and V = 1 / (2 (nl + nv)), so the albedo is
        // exactly 1 - nv ln((1 + nv) / nv) (1 - ln 2 at normal view).
        for j in 0..LTC_SIZE {
            let t_j = j as f32 / (LTC_SIZE - 1) as f32;
            let nv = (1.0 - t_j * t_j).max(1.57f32.cos());
            let exact = 1.0 - nv * ((1.0 + nv) / nv).ln();
            let norm = t[n + 63 + LTC_SIZE * j][0];
            assert!((norm - exact).abs() < 2e-3, "row {j}: albedo {norm}, exactly {exact}");
        }
    }

    #[test]
    fn two_triangles_of_a_quad_are_one_light() {
        let c = [
            Vec3::new(0.0, 0.0, 0.0),
            Vec3::new(1.0, 0.0, 0.0),
            Vec3::new(1.0, 1.0, 0.0),
            Vec3::new(0.0, 1.0, 0.0),
        ];
        // Split along either diagonal, in either order of the corners.
        for (t, u) in [
            ([0, 1, 2], [0, 2, 3]),
            ([0, 2, 3], [0, 1, 2]),
            ([0, 1, 3], [1, 2, 3]),
            ([1, 2, 3], [3, 0, 1]),
        ] {
            let q = quad_of(t.map(|i| c[i]), u.map(|i| c[i])).expect("a quad");
            // The same four corners, counter-clockwise about +z.
            let area2: f32 = (0..4).map(|k| q[k].cross(q[(k + 1) % 4]).z).sum();
            assert!((area2 - 2.0).abs() < 1e-6, "{t:?} {u:?}: {q:?}");
            assert!(c.iter().all(|p| q.contains(p)), "{q:?}");
        }
        // Facing the other way, folded, concave (a dent at corner 0), or sharing no edge: two
        // lights.
        let flipped = [c[0], c[3], c[2]];
        assert_eq!(quad_of([c[0], c[1], c[2]], flipped), None);
        let folded = [c[0], c[2], Vec3::new(0.0, 1.0, 0.5)];
        assert_eq!(quad_of([c[0], c[1], c[2]], folded), None);
        let dent = [c[0], c[2], Vec3::new(-0.5, -0.2, 0.0)];
        assert_eq!(quad_of([c[0], c[1], c[2]], dent), None);
        let apart = [Vec3::new(5.0, 0.0, 0.0), Vec3::new(6.0, 0.0, 0.0), Vec3::new(6.0, 1.0, 0.0)];
        assert_eq!(quad_of([c[0], c[1], c[2]], apart), None);
    }
}
