//! The light list of the path tracer: every emissive triangle (world space), the punctual
//! lights and the environment, with an alias table over their power for next event
//! estimation, each light's selection probability for MIS, and an alias table over the
//! environment's pixels.

use glam::{Mat4, Vec3};
use render::GpuScene;
use scene::{Environment, LightKind, Scene};

use crate::alias::{environment_weights, AliasEntry, AliasTable};
use crate::light_tree::{GpuLightNode, LightBounds, LightTree};

/// Light kinds in [`GpuLightSample::kind`].
pub const LIGHT_TRIANGLE: u32 = 0;
/// A point light.
pub const LIGHT_POINT: u32 = 1;
/// A spot light.
pub const LIGHT_SPOT: u32 = 2;
/// A directional light.
pub const LIGHT_DIRECTIONAL: u32 = 3;
/// The environment.
pub const LIGHT_ENVIRONMENT: u32 = 4;

/// One light as the shader reads it (80 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuLightSample {
    /// `LIGHT_*`.
    pub kind: u32,
    /// Triangle: mirrored flag, the draw, the triangle's index in the draw (emissive textures
    /// and alpha-tested emitters are read at the sampled point). Zero otherwise.
    pub pad: [u32; 3],
    /// Triangle: first vertex, area in w. Point/spot: position, range in w (0: unbounded).
    pub p0: [f32; 4],
    /// Triangle: second vertex. Spot/directional: direction of travel, cos(outer) in w.
    pub p1: [f32; 4],
    /// Triangle: third vertex. Spot: cos(inner) in x.
    pub p2: [f32; 4],
    /// Emitted radiance (triangle, environment scale 1), intensity (point, spot) or irradiance
    /// (directional).
    pub radiance: [f32; 4],
}

/// The light list and its sampling tables.
#[derive(Debug, Clone)]
pub struct LightTable {
    /// The lights.
    pub lights: Vec<GpuLightSample>,
    /// Alias entries over `lights` (by power, or uniform).
    pub alias: Vec<AliasEntry>,
    /// Per draw: index of the light of its first triangle (then one per triangle), or
    /// `u32::MAX` when its material emits nothing.
    pub draw_first_light: Vec<u32>,
    /// Index of the environment light, or `u32::MAX`.
    pub environment_light: u32,
    /// Alias entries over the environment's pixels (empty unless it is an equirect map).
    pub environment_alias: Vec<AliasEntry>,
    /// Each light's power (the weights of the selection by power), to switch the selection
    /// mode without the scene ([`LightTable::reselect`]).
    pub power: Vec<f64>,
    /// Lights `0..bounded` (emissive triangles, point and spot lights) come first and are in
    /// the light tree; the directional lights and the environment follow.
    pub bounded: u32,
    /// The light tree over the bounded lights (`crate::light_tree`).
    pub tree: Vec<GpuLightNode>,
    /// Per bounded light, its trail in the tree.
    pub trails: Vec<[u32; 2]>,
}

fn luminance(c: [f32; 3]) -> f64 {
    0.2126 * f64::from(c[0]) + 0.7152 * f64::from(c[1]) + 0.0722 * f64::from(c[2])
}

impl LightTable {
    /// The lights of `scene` as uploaded in `gpu`; `uniform` selects every light with the same
    /// probability (for comparisons) instead of by power.
    pub fn build(scene: &Scene, gpu: &GpuScene, uniform: bool) -> Self {
        let mut lights = Vec::new();
        let mut weights = Vec::new();
        let mut bounds = Vec::new();
        let mut draw_first_light = vec![u32::MAX; gpu.draw_list.len()];
        for (d, draw) in gpu.draw_list.iter().enumerate() {
            let Some(m) = scene.materials.get(draw.material as usize) else { continue };
            if luminance(m.emissive) <= 0.0 {
                continue;
            }
            let Some((node, _, geometry)) = gpu.draw_origin(d) else { continue };
            let Some((mesh, prim)) = scene.nodes[node]
                .mesh
                .and_then(|mesh| Some((mesh, scene.meshes.get(mesh)?.primitives.get(geometry)?)))
            else {
                continue;
            };
            let world = Mat4::from_cols_array_2d(&draw.model);
            draw_first_light[d] = lights.len() as u32;
            // In the GPU copy's triangle order (the shaders' primitive indices).
            for ti in 0..prim.indices.len() / 3 {
                let st = gpu.scene_triangle(mesh, geometry, ti as u32) as usize;
                let t = &prim.indices[3 * st..3 * st + 3];
                let p = [0, 1, 2]
                    .map(|k| world.transform_point3(Vec3::from(prim.positions[t[k] as usize])));
                let area = 0.5 * (p[1] - p[0]).cross(p[2] - p[0]).length();
                lights.push(GpuLightSample {
                    kind: LIGHT_TRIANGLE,
                    pad: [draw.mirrored, d as u32, ti as u32],
                    p0: [p[0].x, p[0].y, p[0].z, area],
                    p1: [p[1].x, p[1].y, p[1].z, 0.0],
                    p2: [p[2].x, p[2].y, p[2].z, 0.0],
                    radiance: [m.emissive[0], m.emissive[1], m.emissive[2], 0.0],
                });
                // Flux of a one-sided Lambertian emitter: pi L A.
                let flux = std::f64::consts::PI * luminance(m.emissive) * f64::from(area);
                weights.push(flux);
                let normal = (p[1] - p[0]).cross(p[2] - p[0]).normalize_or_zero();
                let normal = if draw.mirrored != 0 { -normal } else { normal };
                bounds.push(LightBounds::triangle(p, normal, flux as f32));
            }
        }
        let (lo, hi) = scene.bounds().unwrap_or((Vec3::splat(-1.0), Vec3::splat(1.0)));
        let radius = f64::from((0.5 * (hi - lo).length()).max(1e-3));
        // Point and spot lights, then (after the bounded lights) the directional ones.
        let mut directional = Vec::new();
        for n in &scene.nodes {
            let Some(l) = n.light.and_then(|l| scene.lights.get(l)) else { continue };
            let pos = n.world.transform_point3(Vec3::ZERO);
            let dir = n.world.transform_vector3(-Vec3::Z).normalize_or_zero();
            let c = [l.color[0] * l.intensity, l.color[1] * l.intensity, l.color[2] * l.intensity];
            let (kind, p1, p2, w) = match l.kind {
                LightKind::Point => (LIGHT_POINT, [0.0; 4], [0.0; 4], 4.0 * std::f64::consts::PI),
                LightKind::Spot { inner, outer } => (
                    LIGHT_SPOT,
                    [dir.x, dir.y, dir.z, outer.cos()],
                    [inner.cos(), 0.0, 0.0, 0.0],
                    2.0 * std::f64::consts::PI * (1.0 - f64::from(outer.cos())).max(1e-4),
                ),
                LightKind::Directional => (
                    LIGHT_DIRECTIONAL,
                    [dir.x, dir.y, dir.z, 0.0],
                    [0.0; 4],
                    std::f64::consts::PI * radius * radius,
                ),
            };
            let light = GpuLightSample {
                kind,
                pad: [0, u32::MAX, 0],
                p0: [pos.x, pos.y, pos.z, l.range.filter(|r| *r > 0.0).unwrap_or(0.0)],
                p1,
                p2,
                radiance: [c[0], c[1], c[2], 0.0],
            };
            let flux = w * luminance(c);
            match l.kind {
                LightKind::Directional => directional.push((light, flux)),
                LightKind::Point => bounds.push(LightBounds::point(pos, flux as f32)),
                LightKind::Spot { inner, outer } => {
                    bounds.push(LightBounds::spot(pos, dir, inner.cos(), outer.cos(), flux as f32))
                }
            }
            if !matches!(l.kind, LightKind::Directional) {
                lights.push(light);
                weights.push(flux);
            }
        }
        let bounded = lights.len() as u32;
        for (light, flux) in directional {
            lights.push(light);
            weights.push(flux);
        }
        let mut environment_light = u32::MAX;
        let mut environment_alias = Vec::new();
        let env_power = luminance(scene.environment.mean_radiance());
        if env_power > 0.0 {
            environment_light = lights.len() as u32;
            lights.push(GpuLightSample {
                kind: LIGHT_ENVIRONMENT,
                pad: [0, u32::MAX, 0],
                p0: [0.0; 4],
                p1: [0.0; 4],
                p2: [0.0; 4],
                radiance: [1.0, 1.0, 1.0, 0.0],
            });
            // Flux through the scene's bounding sphere: pi L 4 pi r^2.
            weights.push(4.0 * std::f64::consts::PI.powi(2) * radius * radius * env_power);
            if let Environment::Equirect { width, height, texels } = &scene.environment {
                if let Ok(t) = AliasTable::new(&environment_weights(*width, *height, texels)) {
                    environment_alias = t.gpu_entries();
                }
            }
        }
        let alias = selection(&weights, uniform);
        if alias.is_empty() {
            // Nothing emits (or every weight is zero): no light sampling.
            return Self {
                lights: Vec::new(),
                alias,
                draw_first_light: vec![u32::MAX; gpu.draw_list.len()],
                environment_light: u32::MAX,
                environment_alias,
                power: Vec::new(),
                bounded: 0,
                tree: Vec::new(),
                trails: Vec::new(),
            };
        }
        let tree = LightTree::build(&bounds);
        Self {
            lights,
            alias,
            draw_first_light,
            environment_light,
            environment_alias,
            power: weights,
            bounded,
            tree: tree.nodes,
            trails: tree.trails,
        }
    }

    /// Selects lights by power (`uniform` false) or uniformly among those that emit.
    pub fn reselect(&mut self, uniform: bool) {
        if !self.lights.is_empty() {
            self.alias = selection(&self.power, uniform);
        }
    }
}

/// The alias entries selecting among lights of `power`.
fn selection(power: &[f64], uniform: bool) -> Vec<AliasEntry> {
    let weights: Vec<f64> = if uniform {
        power.iter().map(|w| if *w > 0.0 { 1.0 } else { 0.0 }).collect()
    } else {
        power.to_vec()
    };
    AliasTable::new(&weights).map(|t| t.gpu_entries()).unwrap_or_default()
}
