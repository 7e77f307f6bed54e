//! Emissive surfaces as area lights of the raster: every triangle of an emissive material, in
//! world space with its emitted radiance, lights the scene from its front face (the
//! counter-clockwise side, as the path tracer and the references have it). The forward shader
//! integrates each triangle exactly for the diffuse lobe (the cosine-weighted solid angle of
//! the triangle clipped to the horizon: a linearly transformed cosine with the identity
//! transform, Lambert's polygon formula) and evaluates the specular lobes toward the point of
//! the triangle nearest the reflected ray, with the roughness widened by the triangle's size.
//! Unshadowed. Emission from a texture lights nothing (it still shows on its surface).
//! Rebuilt on the CPU when the scene changes ([`render::Renderer::scene_changed`]) and
//! written to the raster's buffer by a transfer pass of the next frame's graph.

use framegraph::{BufferHandle, FrameGraph};
use glam::{Mat4, Vec3};
use render::{GpuScene, RenderError};
use xpg::Context;

use crate::list::DeviceList;

/// Emissive triangles lit with at most (the first ones, in draw order; with the punctual
/// lights, within what clustering takes: `clusters::MAX_CLUSTERED_LIGHTS`).
pub const MAX_AREA_LIGHTS: usize = 1 << 15;

/// One emissive triangle (`GpuAreaLight` in shaders/raster/forward.slang): its corners
/// counter-clockwise seen from the side it lights, and its radiance.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct GpuAreaLight {
    p0: [f32; 4],
    p1: [f32; 4],
    p2: [f32; 4],
    radiance: [f32; 4],
}

/// The area lights of the scene last seen and their buffer.
pub(crate) struct AreaLights(DeviceList<GpuAreaLight>);

impl Default for AreaLights {
    fn default() -> Self {
        Self(DeviceList::new("raster area lights"))
    }
}

impl AreaLights {
    /// The emissive triangles of `scene` as `gpu` places them.
    pub(crate) fn rebuild(&mut self, scene: &scene::Scene, gpu: &GpuScene) {
        let mut lights = Vec::new();
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
                lights.push(GpuAreaLight {
                    p0: a.extend(0.0).to_array(),
                    p1: b.extend(0.0).to_array(),
                    p2: c.extend(0.0).to_array(),
                    radiance: [e[0], e[1], e[2], 0.0],
                });
            }
        }
        self.0.set(lights);
    }

    /// How many there are.
    pub(crate) fn count(&self) -> u32 {
        self.0.data().len() as u32
    }

    /// Imports the buffer into `graph` (None without area lights), with a transfer pass
    /// writing it first when the lights changed.
    pub(crate) fn import(
        &mut self,
        ctx: &Context,
        graph: &mut FrameGraph<'_>,
    ) -> Result<Option<(BufferHandle, u64)>, RenderError> {
        self.0.import(ctx, graph)
    }
}
