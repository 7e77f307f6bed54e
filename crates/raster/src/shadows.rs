//! The raster's shadow maps: which lights cast shadows (directional and spot lights, up to
//! [`MAX_SHADOWED_LIGHTS`], in the scene's light order), each one's world-to-clip matrix
//! fitted to the scene's bounds, and the per-light parameters the forward pass reads. Made
//! from the GPU scene's light list whenever its scene or versions change, and written to the
//! raster's own buffers by a transfer pass of the frame's graph.

use framegraph::{Access, BufferHandle, FrameGraph};
use glam::{Mat4, Vec3};
use render::{GpuLight, GpuScene, RenderError};
use scene::Versions;
use xpg::{vk, Buffer, Context};

/// Lights with a shadow map (directional and spot lights, in scene order).
pub const MAX_SHADOWED_LIGHTS: usize = 4;

/// The shadow data of one GPU scene (at its versions) and its buffers.
#[derive(Default)]
pub(crate) struct Shadows {
    key: Option<(u64, Versions)>,
    /// World-to-clip matrix of each shadow map layer.
    pub(crate) matrices: Vec<Mat4>,
    /// Per light: layer (or -1 without a shadow map), tan(half field of view) (0:
    /// orthographic), near and far of the projection (for the depth bias in world units).
    per_light: Vec<[f32; 4]>,
    /// Matrices (4 columns per layer), then the per-light parameters.
    buffer: Option<Buffer>,
    /// Written by a pass of the next graph.
    dirty: bool,
}

impl Shadows {
    /// Brings the data up to `scene` (a new scene, or lights or transforms that changed).
    pub(crate) fn refresh(&mut self, ctx: &Context, scene: &GpuScene) -> Result<(), RenderError> {
        let key = (scene.id, scene.versions);
        if self.key == Some(key) {
            return Ok(());
        }
        (self.matrices, self.per_light) = build(&scene.light_list, scene.bounds);
        // 4 columns per matrix, then one vec4 per light.
        let size = (64 * self.matrices.len() + 16 * self.per_light.len()) as u64;
        if self.buffer.as_ref().is_none_or(|b| b.size() < size) {
            // The old buffer is freed once the frames using it are done.
            self.buffer = Some(Buffer::new(
                ctx,
                &xpg::BufferDesc {
                    size: size.next_power_of_two().max(256),
                    usage: vk::BufferUsageFlags::STORAGE_BUFFER
                        | vk::BufferUsageFlags::TRANSFER_DST,
                    memory: xpg::MemoryUsage::GpuOnly,
                    name: "raster shadows",
                },
            )?);
        }
        self.key = Some(key);
        self.dirty = true;
        Ok(())
    }

    fn bytes(&self) -> Vec<u8> {
        let cols: Vec<[[f32; 4]; 4]> = self.matrices.iter().map(|m| m.to_cols_array_2d()).collect();
        let mut out = bytemuck::cast_slice(&cols).to_vec();
        out.extend_from_slice(bytemuck::cast_slice(&self.per_light));
        out
    }

    /// Imports the buffer into `graph`, with a transfer pass writing it first when the data
    /// changed. None before the first [`Shadows::refresh`].
    pub(crate) fn import(&mut self, graph: &mut FrameGraph<'_>) -> Option<BufferHandle> {
        let buffer = self.buffer.as_ref()?;
        // Rewritten: the write waits for every earlier use (earlier frames read it in vertex
        // and fragment stages). Else it was last read, its write long made visible.
        let initial = (!self.dirty).then_some(Access::StorageReadVertex);
        let mut h = graph.import_buffer(buffer.name(), buffer, initial, None);
        if std::mem::take(&mut self.dirty) {
            let bytes = self.bytes();
            let hh = h;
            graph
                .add_pass("raster shadow data")
                .write(&mut h, Access::TransferDst)
                .record(move |pc| pc.update_buffer(&hh, 0, &bytes));
        }
        Some(h)
    }

    /// Device addresses of the matrices and of the per-light parameters (0 before the first
    /// refresh).
    pub(crate) fn addresses(&self) -> (u64, u64) {
        let base = self.buffer.as_ref().map_or(0, Buffer::address);
        if base == 0 {
            return (0, 0);
        }
        (base, base + 64 * self.matrices.len() as u64)
    }
}

/// The shadow matrices of the shadowed lights of `lights` and every light's parameters.
fn build(lights: &[GpuLight], bounds: (Vec3, Vec3)) -> (Vec<Mat4>, Vec<[f32; 4]>) {
    let mut matrices = Vec::new();
    let per_light = lights
        .iter()
        .map(|l| {
            let kind = l.position_kind[3];
            let shadowed = !(0.5..=1.5).contains(&kind);
            if !shadowed || matrices.len() >= MAX_SHADOWED_LIGHTS {
                return [-1.0, 0.0, 0.0, 0.0];
            }
            let pos = Vec3::from_slice(&l.position_kind[..3]);
            let dir = Vec3::from_slice(&l.direction_cos_outer[..3]);
            let spot_outer = (kind > 1.5).then(|| l.direction_cos_outer[3].clamp(-1.0, 1.0).acos());
            let (m, tan_half, near, far) = shadow_matrix(spot_outer, pos, dir, bounds);
            matrices.push(m);
            [(matrices.len() - 1) as f32, tan_half, near, far]
        })
        .collect();
    (matrices, per_light)
}

/// World-to-clip matrix of a shadow map: an orthographic box around the scene bounds for a
/// directional light, the cone's perspective for a spot light of half-angle `spot_outer`
/// (Vulkan depth 0..1, y down).
fn shadow_matrix(
    spot_outer: Option<f32>,
    pos: Vec3,
    dir: Vec3,
    (lo, hi): (Vec3, Vec3),
) -> (Mat4, f32, f32, f32) {
    let center = 0.5 * (lo + hi);
    let radius = (0.5 * (hi - lo).length()).max(1e-3);
    let dir = if dir.length_squared() > 0.0 { dir } else { -Vec3::Y };
    let up = if dir.y.abs() > 0.99 { Vec3::Z } else { Vec3::Y };
    match spot_outer {
        Some(outer) => {
            let view = glam::camera::rh::view::look_to_mat4(pos, dir, up);
            let dist = (pos - center).length();
            let far = dist + 2.0 * radius;
            // As near as the scene allows: depth precision is spent near the near plane.
            let near = (dist - radius).max(far * 1e-3).max(1e-3);
            let fov = (2.0 * outer).clamp(0.01, 3.1);
            (scene::camera::perspective(fov, 1.0, near, far) * view, (0.5 * fov).tan(), near, far)
        }
        None => {
            let eye = center - dir * (2.0 * radius);
            let view = glam::camera::rh::view::look_to_mat4(eye, dir, up);
            // Orthographic: depth 0 at `eye`, 1 at four radii; y down for Vulkan.
            let (r, far) = (radius, 4.0 * radius);
            let m = Mat4::from_cols(
                glam::Vec4::new(1.0 / r, 0.0, 0.0, 0.0),
                glam::Vec4::new(0.0, -1.0 / r, 0.0, 0.0),
                glam::Vec4::new(0.0, 0.0, -1.0 / far, 0.0),
                glam::Vec4::new(0.0, 0.0, 0.0, 1.0),
            ) * view;
            (m, 0.0, 0.0, far)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn light(kind: f32, dir: [f32; 3], cos_outer: f32) -> GpuLight {
        GpuLight {
            position_kind: [0.0, 2.0, 0.0, kind],
            direction_cos_outer: [dir[0], dir[1], dir[2], cos_outer],
            radiance_cos_inner: [1.0, 1.0, 1.0, 1.0],
        }
    }

    /// Directional and spot lights get layers in scene order up to the cap; point lights and
    /// the lights past the cap get none; the scene's bounds land inside every map.
    #[test]
    fn shadowed_lights_layers_and_fit() {
        let down = [0.0, -1.0, 0.0];
        let mut lights = vec![light(1.0, down, -1.0)];
        lights.extend((0..MAX_SHADOWED_LIGHTS + 1).map(|i| {
            if i % 2 == 0 {
                light(0.0, down, -1.0)
            } else {
                light(2.0, down, 0.6f32.cos())
            }
        }));
        let bounds = (Vec3::new(-1.0, 0.0, -1.0), Vec3::new(1.0, 0.5, 1.0));
        let (matrices, per_light) = build(&lights, bounds);
        assert_eq!(matrices.len(), MAX_SHADOWED_LIGHTS);
        let layers: Vec<f32> = per_light.iter().map(|p| p[0]).collect();
        assert_eq!(layers, [-1.0, 0.0, 1.0, 2.0, 3.0, -1.0]);
        // Orthographic for the directional light, tan(0.6) for the spot light.
        assert_eq!(per_light[1][1], 0.0);
        assert!((per_light[2][1] - 0.6f32.tan()).abs() < 1e-5, "{:?}", per_light[2]);
        for m in &matrices {
            for corner in 0..8 {
                let c = |bit: usize, a: f32, b: f32| if corner >> bit & 1 == 0 { a } else { b };
                let p = Vec3::new(c(0, -1.0, 1.0), c(1, 0.0, 0.5), c(2, -1.0, 1.0));
                let clip = *m * p.extend(1.0);
                let ndc = clip.truncate() / clip.w;
                assert!(
                    ndc.x.abs() <= 1.0 && ndc.y.abs() <= 1.0 && (0.0..=1.0).contains(&ndc.z),
                    "corner {p} at {ndc}"
                );
            }
        }
    }
}
