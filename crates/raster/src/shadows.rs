//! The raster's shadow maps: which lights cast shadows (those whose `shadows` is on, in the
//! scene's light order, up to [`MAX_SHADOW_LAYERS`] layers: one for a directional or spot
//! light, six for a point light's cube), each layer's world-to-clip matrix fitted to the
//! scene's bounds, and the per-light parameters the forward pass reads. Made from the GPU
//! scene's light list whenever its scene or versions change, and written to the raster's own
//! buffers by a transfer pass of the frame's graph.
//!
//! The maps do not depend on the view: they live across frames and are drawn again only when
//! something that casts into them changed (the scene, its versions, the map size, the
//! viewport's hidden nodes); [`Shadows::renders`] counts the times.

use framegraph::{Access, BufferHandle, FrameGraph};
use glam::{Mat4, Vec3};
use render::{GpuLight, GpuScene, RenderError};
use scene::Versions;
use xpg::{vk, Buffer, Context};

/// Layers of shadow maps at most (a point light takes six: its cube's faces).
pub const MAX_SHADOW_LAYERS: usize = 16;

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
    /// The maps (layers of `size` x `size` depth), kept across frames.
    maps: Option<xpg::Image>,
    /// What the maps were drawn for (None: never).
    drawn: Option<MapKey>,
    /// How many times the maps were drawn.
    pub(crate) renders: u64,
}

/// What the shadow maps' content depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MapKey {
    scene: u64,
    versions: Versions,
    size: u32,
    layers: u32,
    hidden: u64,
}

impl Shadows {
    /// Brings the data up to `scene` (a new scene, or lights or transforms that changed).
    pub(crate) fn refresh(&mut self, ctx: &Context, scene: &GpuScene) -> Result<(), RenderError> {
        let key = (scene.id, scene.versions);
        if self.key == Some(key) {
            return Ok(());
        }
        (self.matrices, self.per_light) =
            build(&scene.light_list, &scene.light_shadows, scene.bounds);
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

    /// The maps of this frame imported into `graph` (one layer per matrix, at least one), and
    /// whether they must be drawn in it: their content is stale (`scene`, its versions, the
    /// map `size` or the `hidden` nodes' hash differ from when they were drawn) or new.
    pub(crate) fn import_maps(
        &mut self,
        ctx: &Context,
        graph: &mut FrameGraph<'_>,
        scene: &GpuScene,
        size: u32,
        hidden: u64,
        format: vk::Format,
    ) -> Result<(framegraph::ImageHandle, bool), RenderError> {
        let layers = self.matrices.len().max(1) as u32;
        let key = MapKey { scene: scene.id, versions: scene.versions, size, layers, hidden };
        let fits = self.maps.as_ref().is_some_and(|m| {
            m.extent().width == size && m.array_layers() == layers && m.format() == format
        });
        if !fits {
            // The old maps are freed once the frames using them are done.
            self.maps = Some(xpg::Image::new(
                ctx,
                &xpg::ImageDesc::d2(
                    "shadow maps",
                    size,
                    size,
                    format,
                    vk::ImageUsageFlags::DEPTH_STENCIL_ATTACHMENT | vk::ImageUsageFlags::SAMPLED,
                )
                .layers(layers)
                .array(),
            )?);
            self.drawn = None;
        }
        let maps = self
            .maps
            .as_ref()
            .ok_or_else(|| RenderError::Internal("shadow maps missing".into()))?;
        let draw = self.drawn != Some(key);
        let info = framegraph::ImageInfo::d2(size, size, format).layers(layers).array();
        // Drawn in this frame: the first write waits for the earlier frames' reads. Else kept
        // as the last frame's forward pass left them (sampled).
        let (initial, last) = if draw {
            (None, Some(Access::SampledFragment))
        } else {
            (Some(Access::SampledFragment), None)
        };
        let h = graph.import_image("shadow maps", maps.raw(), maps.view(), info, initial, last);
        if draw {
            self.drawn = Some(key);
            self.renders += 1;
        }
        Ok((h, draw))
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

/// The shadow matrices of the lights of `lights` that cast shadows (`casts`, per light) and
/// every light's parameters.
fn build(lights: &[GpuLight], casts: &[bool], bounds: (Vec3, Vec3)) -> (Vec<Mat4>, Vec<[f32; 4]>) {
    let mut matrices = Vec::new();
    let per_light = lights
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let kind = l.position_kind[3];
            let point = (0.5..=1.5).contains(&kind);
            let layers = if point { 6 } else { 1 };
            if !casts.get(i).copied().unwrap_or(true) || matrices.len() + layers > MAX_SHADOW_LAYERS
            {
                return [-1.0, 0.0, 0.0, 0.0];
            }
            let pos = Vec3::from_slice(&l.position_kind[..3]);
            let dir = Vec3::from_slice(&l.direction_cos_outer[..3]);
            let first = matrices.len() as f32;
            if point {
                let (faces, near, far) = cube_matrices(pos, bounds);
                matrices.extend(faces);
                return [first, 1.0, near, far];
            }
            let spot_outer = (kind > 1.5).then(|| l.direction_cos_outer[3].clamp(-1.0, 1.0).acos());
            let (m, tan_half, near, far) = shadow_matrix(spot_outer, pos, dir, bounds);
            matrices.push(m);
            [first, tan_half, near, far]
        })
        .collect();
    (matrices, per_light)
}

/// The six faces of a point light's cube map at `pos` (+x, -x, +y, -y, +z, -z: the order the
/// forward shader picks them in by the major axis of the direction from the light), 90
/// degrees each, reaching the farthest corner of the scene's bounds; and near, far.
fn cube_matrices(pos: Vec3, (lo, hi): (Vec3, Vec3)) -> ([Mat4; 6], f32, f32) {
    let far = (0..8)
        .map(|c| {
            let corner = Vec3::new(
                if c & 1 == 0 { lo.x } else { hi.x },
                if c & 2 == 0 { lo.y } else { hi.y },
                if c & 4 == 0 { lo.z } else { hi.z },
            );
            (corner - pos).length()
        })
        .fold(0.0f32, f32::max)
        .max(1e-2)
        * 1.01;
    let near = (far * 1e-3).max(1e-4);
    let proj = scene::camera::perspective(std::f32::consts::FRAC_PI_2, 1.0, near, far);
    let faces = [
        (Vec3::X, -Vec3::Y),
        (-Vec3::X, -Vec3::Y),
        (Vec3::Y, Vec3::Z),
        (-Vec3::Y, -Vec3::Z),
        (Vec3::Z, -Vec3::Y),
        (-Vec3::Z, -Vec3::Y),
    ]
    .map(|(dir, up)| proj * glam::camera::rh::view::look_to_mat4(pos, dir, up));
    (faces, near, far)
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

    /// Layers in scene order: one for a directional or spot light, six for a point light;
    /// lights whose shadows are off get none, and neither do those past the layer cap; the
    /// scene's bounds land inside every map (a point light's: inside the union of its faces,
    /// each point in the face of its major axis).
    #[test]
    fn shadowed_lights_layers_and_fit() {
        let down = [0.0, -1.0, 0.0];
        let lights = vec![
            light(1.0, down, -1.0),
            light(0.0, down, -1.0),
            light(2.0, down, 0.6f32.cos()),
            light(0.0, down, -1.0),
            light(1.0, down, -1.0),
            light(1.0, down, -1.0),
        ];
        let casts = [true, true, true, false, true, true];
        let bounds = (Vec3::new(-1.0, 0.0, -1.0), Vec3::new(1.0, 0.5, 1.0));
        let (matrices, per_light) = build(&lights, &casts, bounds);
        let layers: Vec<f32> = per_light.iter().map(|p| p[0]).collect();
        // 6 + 1 + 1, the switched-off one none, 6 more (14), the last would pass 16.
        assert_eq!(layers, [0.0, 6.0, 7.0, -1.0, 8.0, -1.0]);
        assert_eq!(matrices.len(), 14);
        assert!(matrices.len() <= MAX_SHADOW_LAYERS);
        // Orthographic for the directional light, tan(0.6) for the spot, 1 for cube faces.
        assert_eq!(per_light[1][1], 0.0);
        assert!((per_light[2][1] - 0.6f32.tan()).abs() < 1e-5, "{:?}", per_light[2]);
        assert_eq!(per_light[0][1], 1.0);
        let inside = |m: &Mat4, p: Vec3| {
            let clip = *m * p.extend(1.0);
            let ndc = clip.truncate() / clip.w;
            clip.w > 0.0 && ndc.x.abs() <= 1.0 && ndc.y.abs() <= 1.0 && (0.0..=1.0).contains(&ndc.z)
        };
        let light_pos = Vec3::new(0.0, 2.0, 0.0);
        for corner in 0..8 {
            let c = |bit: usize, a: f32, b: f32| if corner >> bit & 1 == 0 { a } else { b };
            let p = Vec3::new(c(0, -1.0, 1.0), c(1, 0.0, 0.5), c(2, -1.0, 1.0));
            for m in &matrices[6..8] {
                assert!(inside(m, p), "corner {p} outside a directional or spot map");
            }
            // The point light's face of the major axis of p - light.
            let d = p - light_pos;
            let a = d.abs();
            let face = if a.x >= a.y && a.x >= a.z {
                usize::from(d.x <= 0.0)
            } else if a.y >= a.z {
                2 + usize::from(d.y <= 0.0)
            } else {
                4 + usize::from(d.z <= 0.0)
            };
            assert!(inside(&matrices[face], p), "corner {p} outside cube face {face}");
        }
        // Every direction lands in its face: the six face the six axes.
        for (face, dir) in
            [Vec3::X, -Vec3::X, Vec3::Y, -Vec3::Y, Vec3::Z, -Vec3::Z].iter().enumerate()
        {
            let p = light_pos + *dir * 1.5 + dir.any_orthonormal_vector() * 1.2;
            assert!(inside(&matrices[face], p), "face {face}: {p}");
        }
    }
}
