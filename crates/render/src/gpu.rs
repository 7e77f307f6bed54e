//! `GpuScene`: the scene in GPU memory, uploaded once and shared by every renderer.
//!
//! Layout (all through buffer device addresses, scalar layout, matching `shaders/xpg/scene.slang`):
//! - `vertices`: `GpuVertex { float3 position; uint color; float3 normal; uint pad; }` of every
//!   primitive (color: sRGB RGBA8, 8 bits where they are perceptually even);
//! - `indices`: u32, per primitive, relative to its first vertex (drawn with a vertex offset);
//! - `draws`: one [`GpuDraw`] per (node, primitive): model and normal matrices, material;
//! - `materials`: [`GpuMaterial`] table; `lights`: [`GpuLight`] list in world space;
//! - the environment as an RGBA32F equirect image (1x1 for uniform or no environment).
//!
//! The upload is set-up work (xpg's staging path with explicit barriers), done when the scene's
//! structure changes; changes of transforms, materials and lights are written in place by
//! transfer passes of the frame's graph ([`GpuScene::update`]), the TLAS refitted there too.

use framegraph::Access;
use glam::{Mat4, Vec3};
use xpg::vk;
use xpg::{Buffer, BufferDesc, Context, Image, ImageDesc, MemoryUsage, Uploader};

pub use crate::textures::{GpuSampler, GpuTexture};
use scene::{pack_srgba8, AlphaMode, Environment, LightKind, Scene};

/// One vertex on the GPU.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuVertex {
    /// Object-space position.
    pub position: [f32; 3],
    /// Vertex color as sRGB RGBA8 (R in the low byte, alpha linear).
    pub color: u32,
    /// Object-space normal.
    pub normal: [f32; 3],
    /// Zero.
    pub pad: u32,
}

/// One draw: a primitive at a node.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuDraw {
    /// Object to world.
    pub model: [[f32; 4]; 4],
    /// Inverse transpose of `model` (normals).
    pub normal_model: [[f32; 4]; 4],
    /// Material index.
    pub material: u32,
    /// First index in the index buffer.
    pub first_index: u32,
    /// Index count.
    pub index_count: u32,
    /// First vertex in the vertex buffer.
    pub first_vertex: u32,
    /// 1 when the transform mirrors (negative determinant): the clockwise side is the front.
    pub mirrored: u32,
    /// Which placement of a mesh this draw belongs to: its TLAS instance
    /// ([`crate::SceneAccel::placements`]).
    pub placement: u32,
    /// Padding to the 16-byte stride of the shader's struct.
    pub pad: [u32; 2],
}

/// A material on the GPU.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuMaterial {
    /// Linear base color, alpha.
    pub base_color: [f32; 4],
    /// Emitted radiance (front face), then 0.
    pub emissive: [f32; 4],
    /// Metallic.
    pub metallic: f32,
    /// Perceptual roughness.
    pub roughness: f32,
    /// KHR_materials_specular factor.
    pub specular: f32,
    /// The `MATERIAL_*` bits.
    pub flags: u32,
    /// Textures as `image slot | sampler slot << 16` in the bindless heap, [`NO_TEXTURE`] for
    /// none: base color (for colormap materials: the colormap), metallic-roughness, normal,
    /// occlusion, emissive.
    pub textures: [u32; 5],
    /// Normal map scale.
    pub normal_scale: f32,
    /// Occlusion strength.
    pub occlusion_strength: f32,
    /// Alpha cutoff of masked materials.
    pub alpha_cutoff: f32,
    /// Colormap range: scalar at the first and last color.
    pub colormap_range: [f32; 2],
    /// Padding to 16 bytes.
    pub pad: [u32; 2],
}

/// [`GpuMaterial::textures`] entry of a missing texture.
pub const NO_TEXTURE: u32 = u32::MAX;
/// Both faces are shaded.
pub const MATERIAL_DOUBLE_SIDED: u32 = 1;
/// Alpha blended (drawn sorted after the opaque draws).
pub const MATERIAL_BLENDED: u32 = 2;
/// Unlit: the base color is the outgoing radiance.
pub const MATERIAL_UNLIT: u32 = 4;
/// Alpha tested against `alpha_cutoff`.
pub const MATERIAL_MASKED: u32 = 8;
/// The base color comes from the colormap texture at the scalar in the vertex's u coordinate.
pub const MATERIAL_COLORMAP: u32 = 16;

/// Draws of one shader variant, contiguous in [`GpuScene::draw_list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrawGroup {
    /// First draw.
    pub first: u32,
    /// Number of draws.
    pub count: u32,
    /// Its primitives have vertex colors.
    pub colored: bool,
    /// Its materials read textures (UVs and tangents are fetched).
    pub textured: bool,
}

/// A light in world space.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuLight {
    /// Position (point, spot), then kind (0 directional, 1 point, 2 spot).
    pub position_kind: [f32; 4],
    /// Direction the light travels (directional, spot), then cos(outer cone).
    pub direction_cos_outer: [f32; 4],
    /// Color * intensity, then cos(inner cone).
    pub radiance_cos_inner: [f32; 4],
    /// Shadow map layer (or -1 without a shadow map), tan(half field of view) (0: orthographic),
    /// near and far of the shadow projection (for the depth bias in world units).
    pub shadow: [f32; 4],
}

/// Lights with a shadow map (directional and spot lights, in scene order).
pub const MAX_SHADOWED_LIGHTS: usize = 4;

/// A point set on the GPU.
pub struct GpuPoints {
    /// Positions, three f32 per point.
    pub positions: Buffer,
    /// Colors, one packed RGBA8 (sRGB) u32 per point.
    pub colors: Buffer,
    /// Number of points.
    pub count: u32,
    /// Object to world.
    pub transform: Mat4,
    /// Size in pixels.
    pub size_px: f32,
}

impl std::fmt::Debug for GpuPoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuPoints").field("count", &self.count).finish()
    }
}

/// A line set on the GPU, as separate segments.
pub struct GpuLines {
    /// Segment endpoints, three f32 each, two per segment.
    pub positions: Buffer,
    /// Endpoint colors, one packed RGBA8 (sRGB) u32 each.
    pub colors: Buffer,
    /// Number of segments.
    pub segments: u32,
    /// Object to world.
    pub transform: Mat4,
    /// Width in pixels.
    pub width_px: f32,
}

impl std::fmt::Debug for GpuLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuLines").field("segments", &self.segments).finish()
    }
}

/// What [`GpuScene::update`] rewrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SceneUpdate {
    /// Draw transforms (and the blended draws' sorting centres).
    pub transforms: bool,
    /// The material table.
    pub materials: bool,
    /// Lights and shadow matrices (also after transform changes: lights hang on nodes and
    /// shadow maps cover the scene's bounds).
    pub lights: bool,
}

/// Errors of [`GpuScene::upload`] and [`GpuScene::update`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpuSceneError {
    /// A GPU call failed.
    #[error(transparent)]
    Gpu(#[from] xpg::GpuError),
    /// The scene does not fit the GPU layout (too many vertices for u32 indices, ...).
    #[error("{0}")]
    TooLarge(String),
    /// The scene's data is inconsistent (index or material out of range, ...).
    #[error("invalid scene: {0}")]
    Invalid(String),
    /// The scene changed in a way an update cannot follow.
    #[error("{0}")]
    StructureChanged(String),
}

/// The scene on the GPU.
pub struct GpuScene {
    /// Acceleration structures (when the device has ray tracing).
    pub accel: Option<crate::accel::SceneAccel>,
    /// For ray tracing hits: entry `p` (one per placement) is the offset of placement `p`'s
    /// list, whose entry `g` is the draw of geometry (primitive) `g`.
    pub geometry_draws: Buffer,
    ctx: Context,
    /// Unique per upload in this process (renderers key their caches on it).
    pub id: u64,
    /// Every vertex.
    pub vertices: Buffer,
    /// Every index.
    pub indices: Buffer,
    /// One entry per draw.
    pub draws: Buffer,
    /// One `VkDrawIndexedIndirectCommand` per draw (first instance = the draw's index), so a
    /// renderer draws every mesh with a single indirect call.
    pub indirect: Buffer,
    /// The material table.
    pub materials: Buffer,
    /// The lights (at least one entry, `light_count` valid).
    pub lights: Buffer,
    /// Number of valid lights.
    pub light_count: u32,
    /// World-to-clip matrices of the shadowed lights (columns), one per shadow map layer.
    pub shadows: Buffer,
    /// The same matrices on the CPU (their count is the number of shadow map layers).
    pub shadow_matrices: Vec<Mat4>,
    /// Point clouds.
    pub points: Vec<GpuPoints>,
    /// Line sets.
    pub lines: Vec<GpuLines>,
    /// Texture coordinates, one `[f32; 2]` per vertex (for colormap materials: the scalar in
    /// u); zero where a primitive has none.
    pub uvs: Buffer,
    /// Tangents, one `[f32; 4]` per vertex; zero where a primitive has none.
    pub tangents: Buffer,
    /// CPU copy of the draws (for recording draw calls): the opaque and alpha-tested ones in
    /// [`Self::groups`], then the blended ones ([`Self::blended`]).
    pub draw_list: Vec<GpuDraw>,
    /// Opaque and alpha-tested draws by shader variant, in list order.
    pub groups: Vec<DrawGroup>,
    /// The blended draws (at the end of the list), with the world-space centre of each, for
    /// sorting back to front.
    pub blended: Vec<(u32, Vec3)>,
    /// Textures (bindless, all mip levels).
    pub textures: Vec<GpuTexture>,
    /// Where each draw comes from (for updates).
    draw_sources: Vec<DrawSource>,
    /// Each texture's `image | sampler << 16` (the scene's, then the colormaps').
    texture_refs: Vec<u32>,
    /// The colormaps with a lookup texture, in texture order after the scene's textures.
    colormap_kinds: Vec<scene::ColormapKind>,
    /// The scene's versions this copy reflects.
    pub versions: scene::Versions,
    /// Number of materials, and each one's shader-variant key (textured, blended).
    material_count: usize,
    material_keys: Vec<(bool, bool, bool, bool)>,
    /// Samplers of the textures (bindless).
    pub samplers: Vec<GpuSampler>,

    /// Environment as an equirect image (RGBA32F, READ_ONLY_OPTIMAL).
    pub environment: Image,
    /// 0 none, 1 uniform, 2 equirect.
    pub environment_kind: u32,
    /// Mean environment radiance (ambient term of the raster renderer).
    pub environment_mean: [f32; 3],
}

impl std::fmt::Debug for GpuScene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuScene")
            .field("draws", &self.draw_list.len())
            .field("lights", &self.light_count)
            .finish()
    }
}

fn storage(
    ctx: &Context,
    name: &str,
    bytes: &[u8],
    up: &mut Uploader,
    usage: vk::BufferUsageFlags,
) -> Result<Buffer, xpg::GpuError> {
    let mut b = Buffer::new(
        ctx,
        &BufferDesc {
            size: bytes.len().max(16) as u64,
            usage: vk::BufferUsageFlags::STORAGE_BUFFER | usage,
            memory: MemoryUsage::DeviceUpload,
            name,
        },
    )?;
    if !bytes.is_empty() {
        up.upload_buffer(&mut b, 0, bytes)?;
    }
    Ok(b)
}

/// Where one mesh primitive lies in the shared vertex and index buffers.
struct PrimRange {
    first_index: u32,
    index_count: u32,
    first_vertex: u32,
    vertex_count: u32,
    material: usize,
    colored: bool,
    /// Object-space centre of its bounds.
    center: Vec3,
}

/// In-memory scenes skip the loaders' checks: an out-of-range index would be an out-of-bounds
/// read on the GPU.
fn check_primitive(p: &scene::Primitive, scene: &Scene) -> Option<String> {
    let n = p.positions.len();
    let per_vertex = |what: &str, len: usize| {
        (len != 0 && len != n).then(|| format!("{len} {what} for {n} vertices"))
    };
    if p.normals.len() != n {
        Some("normal count differs from position count".to_string())
    } else if let Some(m) = per_vertex("colors", p.colors.len())
        .or_else(|| per_vertex("UVs", p.uvs.len()))
        .or_else(|| per_vertex("tangents", p.tangents.len()))
        .or_else(|| per_vertex("scalars", p.scalars.len()))
    {
        Some(m)
    } else if p.material >= scene.materials.len() {
        Some(format!("material {} of {}", p.material, scene.materials.len()))
    } else if p.indices.len() % 3 != 0 {
        Some(format!("{} indices is not a triangle list", p.indices.len()))
    } else if p.uvs.iter().flatten().chain(p.tangents.iter().flatten()).any(|v| !v.is_finite()) {
        Some("non-finite UVs or tangents".to_string())
    } else {
        p.indices
            .iter()
            .find(|&&i| i as usize >= n)
            .map(|i| format!("index {i} out of range ({n} vertices)"))
    }
}

/// Whether draws of `m` need the textured shader variant.
/// (Alpha-tested materials too: their shadow pass needs the alpha test, which the textured
/// variants have.)
fn textured(m: &scene::Material) -> bool {
    m.textures().next().is_some() || m.colormap.is_some() || matches!(m.alpha, AlphaMode::Mask(_))
}

/// What fixes a material's draws' shader variants, vertex data and ray tracing geometry:
/// (textured, blended, colormap: the UV buffer holds its scalars, opaque: the BLAS geometry's
/// OPAQUE flag, which no TLAS update can change).
fn material_key(m: &scene::Material) -> (bool, bool, bool, bool) {
    (textured(m), m.alpha == AlphaMode::Blend, m.colormap.is_some(), m.alpha == AlphaMode::Opaque)
}

/// The colormap lookup textures: 256 texels of each map, sRGB.
fn colormap_texture(kind: scene::ColormapKind) -> scene::Texture {
    let map = scene::Colormap::new(kind, 0.0, 255.0);
    let texels = (0..256).map(|i| map.color(i as f32)).collect();
    scene::Texture {
        name: format!("colormap {kind:?}"),
        width: 256,
        height: 1,
        pixels: scene::TexturePixels::Rgba8(texels),
        srgb: true,
        sampler: scene::TextureSampler {
            wrap_u: scene::Wrap::ClampToEdge,
            wrap_v: scene::Wrap::ClampToEdge,
            nearest_mag: false,
            nearest_min: false,
            linear_mips: false,
        },
    }
}

impl GpuScene {
    /// Uploads `scene` (world transforms must be current).
    pub fn upload(ctx: &Context, scene: &Scene) -> Result<Self, GpuSceneError> {
        let mut up = Uploader::new(ctx, 16 << 20)?;
        let heap = ctx.bindless()?;
        let mut vertices: Vec<GpuVertex> = Vec::new();
        let mut uvs: Vec<[f32; 2]> = Vec::new();
        let mut tangents: Vec<[f32; 4]> = Vec::new();
        let mut indices: Vec<u32> = Vec::new();
        // Each mesh primitive once; draws refer to it.
        let mut prim_ranges: Vec<Vec<PrimRange>> = Vec::new();
        for m in &scene.meshes {
            let mut ranges = Vec::new();
            for (pi, p) in m.primitives.iter().enumerate() {
                if let Some(message) = check_primitive(p, scene) {
                    return Err(GpuSceneError::Invalid(format!(
                        "mesh '{}' primitive {pi}: {message}",
                        m.name
                    )));
                }
                let first_vertex = u32::try_from(vertices.len())
                    .map_err(|_| GpuSceneError::TooLarge("more than 4 G vertices".into()))?;
                let first_index = u32::try_from(indices.len())
                    .map_err(|_| GpuSceneError::TooLarge("more than 4 G indices".into()))?;
                let white = pack_srgba8([1.0; 4]);
                vertices.extend(p.positions.iter().zip(&p.normals).enumerate().map(
                    |(k, (&position, &normal))| GpuVertex {
                        position,
                        color: p.colors.get(k).map_or(white, |&c| pack_srgba8(c)),
                        normal,
                        pad: 0,
                    },
                ));
                let colormap = scene.materials[p.material].colormap.is_some();
                let n = p.positions.len();
                if colormap {
                    // The scalar rides in u (NaN kept: the shader shows it in the NaN color).
                    let s = |k: usize| p.scalars.get(k).copied().unwrap_or(f32::NAN);
                    uvs.extend((0..n).map(|k| [s(k), 0.0]));
                } else if p.uvs.is_empty() {
                    uvs.extend(std::iter::repeat_n([0.0; 2], n));
                } else {
                    uvs.extend_from_slice(&p.uvs);
                }
                if p.tangents.is_empty() {
                    tangents.extend(std::iter::repeat_n([0.0; 4], n));
                } else {
                    tangents.extend_from_slice(&p.tangents);
                }
                indices.extend_from_slice(&p.indices);
                let (lo, hi) = p.positions.iter().fold(
                    (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
                    |(lo, hi), &v| (lo.min(Vec3::from(v)), hi.max(Vec3::from(v))),
                );
                ranges.push(PrimRange {
                    first_index,
                    index_count: p.indices.len() as u32,
                    first_vertex,
                    vertex_count: n as u32,
                    material: p.material,
                    colored: !p.colors.is_empty(),
                    center: if n > 0 { 0.5 * (lo + hi) } else { Vec3::ZERO },
                });
            }
            prim_ranges.push(ranges);
        }
        // Opaque and alpha-tested draws grouped by shader variant (vertex colors, textures),
        // so that a renderer draws each group with one indirect call; blended draws last.
        type Drawn = (GpuDraw, DrawSource);
        let mut by_variant: [Vec<Drawn>; 4] = Default::default();
        let mut blended_list: Vec<Drawn> = Vec::new();
        let mut placements = Vec::new();
        let mut placement_worlds = Vec::new();
        for (ni, n) in scene.nodes.iter().enumerate() {
            let Some(m) = n.mesh else { continue };
            for (instance, world) in n.draw_transforms().enumerate() {
                let placement = placements.len() as u32;
                placements.push(crate::accel::Placement {
                    node: ni as u32,
                    instance: instance as u32,
                    mesh: m as u32,
                });
                placement_worlds.push(world);
                for (geometry, r) in prim_ranges.get(m).into_iter().flatten().enumerate() {
                    let draw = GpuDraw {
                        material: r.material as u32,
                        first_index: r.first_index,
                        index_count: r.index_count,
                        first_vertex: r.first_vertex,
                        placement,
                        ..GpuDraw::placed(world)
                    };
                    let source = DrawSource {
                        node: ni as u32,
                        instance: instance as u32,
                        center: r.center,
                        geometry: geometry as u32,
                    };
                    let mat = &scene.materials[r.material];
                    if mat.alpha == AlphaMode::Blend {
                        blended_list.push((draw, source));
                    } else {
                        by_variant[usize::from(r.colored) | usize::from(textured(mat)) << 1]
                            .push((draw, source));
                    }
                }
            }
        }
        let mut draw_list = Vec::new();
        let mut draw_sources = Vec::new();
        let mut groups = Vec::new();
        for (key, list) in by_variant.into_iter().enumerate() {
            if !list.is_empty() {
                groups.push(DrawGroup {
                    first: draw_list.len() as u32,
                    count: list.len() as u32,
                    colored: key & 1 != 0,
                    textured: key & 2 != 0,
                });
                for (d, src) in list {
                    draw_list.push(d);
                    draw_sources.push(src);
                }
            }
        }
        let mut blended = Vec::new();
        for (d, src) in blended_list {
            blended.push((
                draw_list.len() as u32,
                Mat4::from_cols_array_2d(&d.model).transform_point3(src.center),
            ));
            draw_list.push(d);
            draw_sources.push(src);
        }
        if u32::try_from(draw_list.len()).is_err() {
            return Err(GpuSceneError::TooLarge("more than 4 G draws".into()));
        }
        // Ray tracing hits name (placement, geometry); the draw of each: per placement an
        // offset into the entries that follow the offsets.
        let mut geometry_draws: Vec<u32> = Vec::with_capacity(placements.len() + draw_list.len());
        let mut at = placements.len() as u32;
        for p in &placements {
            geometry_draws.push(at);
            at += prim_ranges.get(p.mesh as usize).map_or(0, |r| r.len() as u32);
        }
        geometry_draws.resize(at as usize, u32::MAX);
        for (d, (draw, src)) in draw_list.iter().zip(&draw_sources).enumerate() {
            let slot = geometry_draws[draw.placement as usize] + src.geometry;
            geometry_draws[slot as usize] = d as u32;
        }
        // Textures: the scene's, then one lookup texture per colormap in use.
        let mut all_textures: Vec<&scene::Texture> = scene.textures.iter().collect();
        let mut kinds: Vec<scene::ColormapKind> = Vec::new();
        for m in &scene.materials {
            for t in m.textures() {
                if t >= scene.textures.len() {
                    return Err(GpuSceneError::Invalid(format!(
                        "material '{}': texture {t} of {}",
                        m.name,
                        scene.textures.len()
                    )));
                }
            }
            if let Some(c) = m.colormap {
                if !(c.min.is_finite() && c.max.is_finite()) {
                    return Err(GpuSceneError::Invalid(format!(
                        "material '{}': colormap range {}..{} is not finite",
                        m.name, c.min, c.max
                    )));
                }
                if !kinds.contains(&c.kind) {
                    kinds.push(c.kind);
                }
            }
        }
        let lut_textures: Vec<scene::Texture> =
            kinds.iter().map(|&k| colormap_texture(k)).collect();
        all_textures.extend(&lut_textures);
        let owned: Vec<scene::Texture> = all_textures.into_iter().cloned().collect();
        let textures = crate::textures::upload_textures(ctx, heap, &mut up, &owned)?;
        let (samplers, sampler_of) = crate::textures::make_samplers(ctx, heap, &owned)?;
        let texture_refs: Vec<u32> =
            (0..owned.len()).map(|t| textures[t].slot.index() | sampler_of[t] << 16).collect();
        let materials = build_materials(scene, &texture_refs, &kinds);
        let (lights, shadow_matrices) = build_lights(scene);
        let light_count = lights.len() as u32;
        let (env_w, env_h, env_texels, environment_kind) = match &scene.environment {
            Environment::None => (1, 1, vec![[0.0f32; 4]], 0),
            Environment::Uniform(c) => (1, 1, vec![[c[0], c[1], c[2], 1.0]], 1),
            Environment::Equirect { width, height, texels } => (*width, *height, texels.clone(), 2),
        };
        let environment = Image::new(
            ctx,
            &ImageDesc::d2(
                "environment",
                env_w,
                env_h,
                vk::Format::R32G32B32A32_SFLOAT,
                vk::ImageUsageFlags::SAMPLED,
            ),
        )?;
        up.upload_image(
            &environment,
            &[bytemuck::cast_slice(&env_texels)],
            vk::ImageLayout::READ_ONLY_OPTIMAL,
        )?;
        let geometry_draws = storage(
            ctx,
            "geometry draws",
            bytemuck::cast_slice(&geometry_draws),
            &mut up,
            vk::BufferUsageFlags::empty(),
        )?;
        let uvs = storage(
            ctx,
            "uvs",
            bytemuck::cast_slice(&uvs),
            &mut up,
            vk::BufferUsageFlags::empty(),
        )?;
        let tangents = storage(
            ctx,
            "tangents",
            bytemuck::cast_slice(&tangents),
            &mut up,
            vk::BufferUsageFlags::empty(),
        )?;
        // With ray tracing, the acceleration structures read the geometry in place.
        let rt_input = if ctx.caps().ray_tracing {
            vk::BufferUsageFlags::ACCELERATION_STRUCTURE_BUILD_INPUT_READ_ONLY_KHR
        } else {
            vk::BufferUsageFlags::empty()
        };
        let vertices =
            storage(ctx, "vertices", bytemuck::cast_slice(&vertices), &mut up, rt_input)?;
        let indices = storage(
            ctx,
            "indices",
            bytemuck::cast_slice(&indices),
            &mut up,
            vk::BufferUsageFlags::INDEX_BUFFER | rt_input,
        )?;
        let commands: Vec<vk::DrawIndexedIndirectCommand> = draw_list
            .iter()
            .enumerate()
            .map(|(i, d)| vk::DrawIndexedIndirectCommand {
                index_count: d.index_count,
                instance_count: 1,
                first_index: d.first_index,
                vertex_offset: 0,
                first_instance: i as u32,
            })
            .collect();
        // SAFETY: DrawIndexedIndirectCommand is five 32-bit integers (repr(C), no padding).
        let command_bytes = unsafe {
            std::slice::from_raw_parts(
                commands.as_ptr().cast::<u8>(),
                size_of_val(commands.as_slice()),
            )
        };
        let indirect = storage(
            ctx,
            "indirect draws",
            command_bytes,
            &mut up,
            vk::BufferUsageFlags::INDIRECT_BUFFER,
        )?;
        let draws = storage(
            ctx,
            "draws",
            bytemuck::cast_slice(&draw_list),
            &mut up,
            vk::BufferUsageFlags::empty(),
        )?;
        let materials_buf = storage(
            ctx,
            "materials",
            bytemuck::cast_slice(&materials),
            &mut up,
            vk::BufferUsageFlags::empty(),
        )?;
        let lights_buf = storage(
            ctx,
            "lights",
            bytemuck::cast_slice(&lights),
            &mut up,
            vk::BufferUsageFlags::empty(),
        )?;
        let shadow_cols: Vec<[[f32; 4]; 4]> =
            shadow_matrices.iter().map(|m| m.to_cols_array_2d()).collect();
        let shadows = storage(
            ctx,
            "shadow matrices",
            bytemuck::cast_slice(&shadow_cols),
            &mut up,
            vk::BufferUsageFlags::empty(),
        )?;
        let mut points = Vec::new();
        for ps in &scene.point_sets {
            let count = u32::try_from(ps.positions.len()).map_err(|_| {
                GpuSceneError::TooLarge(format!("point set '{}': more than 4 G points", ps.name))
            })?;
            if !ps.colors.is_empty() && ps.colors.len() != ps.positions.len() {
                return Err(GpuSceneError::Invalid(format!(
                    "point set '{}': {} colors for {} points",
                    ps.name,
                    ps.colors.len(),
                    ps.positions.len()
                )));
            }
            if !ps.size_px.is_finite()
                || ps.size_px <= 0.0
                || ps.size_px > 64.0
                || ps.positions.iter().flatten().any(|v| !v.is_finite())
                || !ps.transform.is_finite()
            {
                return Err(GpuSceneError::Invalid(format!(
                    "point set '{}': non-finite positions or transform, or size outside (0, 64]",
                    ps.name
                )));
            }
            if ps.colors.is_empty()
                && !ps.scalars.is_empty()
                && ps.scalars.len() != ps.positions.len()
            {
                return Err(GpuSceneError::Invalid(format!(
                    "point set '{}': {} scalars for {} points",
                    ps.name,
                    ps.scalars.len(),
                    ps.positions.len()
                )));
            }
            let colors: Vec<u32> = if let (true, false, Some(map)) =
                (ps.colors.is_empty(), ps.scalars.is_empty(), ps.colormap)
            {
                ps.scalars.iter().map(|&v| u32::from_le_bytes(map.color(v))).collect()
            } else if ps.colors.is_empty() {
                vec![u32::MAX; ps.positions.len()]
            } else {
                ps.colors.iter().map(|c| u32::from_le_bytes(*c)).collect()
            };
            points.push(GpuPoints {
                positions: storage(
                    ctx,
                    "point positions",
                    bytemuck::cast_slice(&ps.positions),
                    &mut up,
                    vk::BufferUsageFlags::empty(),
                )?,
                colors: storage(
                    ctx,
                    "point colors",
                    bytemuck::cast_slice(&colors),
                    &mut up,
                    vk::BufferUsageFlags::empty(),
                )?,
                count,
                transform: ps.transform,
                size_px: ps.size_px,
            });
        }
        let mut lines = Vec::new();
        for ls in &scene.line_sets {
            if !ls.colors.is_empty() && ls.colors.len() != ls.positions.len() {
                return Err(GpuSceneError::Invalid(format!(
                    "line set '{}': {} colors for {} vertices",
                    ls.name,
                    ls.colors.len(),
                    ls.positions.len()
                )));
            }
            let problem = if !(ls.width_px > 0.0 && ls.width_px <= 64.0) {
                Some(format!("width {} outside (0, 64] px", ls.width_px))
            } else if ls.positions.iter().flatten().any(|v| !v.is_finite()) {
                Some("non-finite (NaN or infinite) positions".to_string())
            } else if !ls.transform.is_finite() {
                Some("non-finite transform".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(GpuSceneError::Invalid(format!("line set '{}': {problem}", ls.name)));
            }
            let n = ls.positions.len();
            let pairs: Vec<usize> = if ls.strip {
                (0..n.saturating_sub(1)).flat_map(|i| [i, i + 1]).collect()
            } else {
                (0..n / 2 * 2).collect()
            };
            let segments = u32::try_from(pairs.len() / 2).ok().filter(|s| *s < u32::MAX / 6);
            let segments = segments.ok_or_else(|| {
                GpuSceneError::TooLarge(format!("line set '{}': too many segments", ls.name))
            })?;
            if segments == 0 {
                continue;
            }
            let positions: Vec<[f32; 3]> = pairs.iter().map(|&i| ls.positions[i]).collect();
            let colors: Vec<u32> = pairs
                .iter()
                .map(|&i| ls.colors.get(i).map_or(u32::MAX, |c| u32::from_le_bytes(*c)))
                .collect();
            lines.push(GpuLines {
                positions: storage(
                    ctx,
                    "line positions",
                    bytemuck::cast_slice(&positions),
                    &mut up,
                    vk::BufferUsageFlags::empty(),
                )?,
                colors: storage(
                    ctx,
                    "line colors",
                    bytemuck::cast_slice(&colors),
                    &mut up,
                    vk::BufferUsageFlags::empty(),
                )?,
                segments,
                transform: ls.transform,
                width_px: ls.width_px,
            });
        }
        up.flush()?;
        // Direct (mapped) writes are made visible by the next submission; staged copies end
        // with a barrier to all later commands (xpg's upload contract).
        let accel = if ctx.caps().ray_tracing {
            let meshes: Vec<Vec<crate::accel::MeshPrim>> = prim_ranges
                .iter()
                .map(|ranges| {
                    ranges
                        .iter()
                        .map(|r| crate::accel::MeshPrim {
                            first_vertex: r.first_vertex,
                            vertex_count: r.vertex_count,
                            first_index: r.first_index,
                            index_count: r.index_count,
                            opaque: scene.materials[r.material].alpha == AlphaMode::Opaque,
                        })
                        .collect()
                })
                .collect();
            Some(crate::accel::SceneAccel::build(
                ctx,
                &vertices,
                &indices,
                &meshes,
                placements,
                &placement_worlds,
            )?)
        } else {
            None
        };
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            accel,
            geometry_draws,
            ctx: ctx.clone(),
            vertices,
            indices,
            draws,
            indirect,
            materials: materials_buf,
            lights: lights_buf,
            light_count,
            points,
            lines,
            shadows,
            shadow_matrices,
            draw_list,
            groups,
            blended,
            uvs,
            tangents,
            textures,
            samplers,
            draw_sources,
            texture_refs,
            colormap_kinds: kinds,
            versions: scene.versions,
            material_count: scene.materials.len(),
            material_keys: scene.materials.iter().map(material_key).collect(),
            environment,
            environment_kind,
            environment_mean: scene.environment.mean_radiance(),
        })
    }

    /// Brings this copy up to date with `scene` (the one it was uploaded from, edited since):
    /// recomputes what the scene's versions say changed (draw transforms, the material table,
    /// the lights and shadow matrices) and adds transfer passes to `graph` that write the new
    /// contents into the scene's buffers. Renderers import those buffers into the same graph
    /// (the graph merges imports of one buffer), so their reads are ordered after the writes;
    /// the writes wait for all earlier work, so frames in flight still reading the old contents
    /// finish first. Structural changes (see [`scene::Versions::structure`], or a material
    /// change that moves a draw to another shader variant) are an error that leaves this copy
    /// as it was: upload the scene again. Returns what was updated.
    ///
    /// The GPU side changes when `graph` runs: execute it (before the next update) or upload
    /// again; this copy already records the new versions.
    pub fn update<'g>(
        &mut self,
        scene: &Scene,
        graph: &mut framegraph::FrameGraph<'g>,
    ) -> Result<SceneUpdate, GpuSceneError> {
        let v = scene.versions;
        let structure = |what: &str| {
            GpuSceneError::StructureChanged(format!(
                "{what}: upload the scene again (GpuScene::upload)"
            ))
        };
        if v.structure != self.versions.structure {
            return Err(structure("the scene's structure changed"));
        }
        let done = SceneUpdate {
            transforms: v.transforms != self.versions.transforms,
            materials: v.materials != self.versions.materials,
            lights: v.lights != self.versions.lights || v.transforms != self.versions.transforms,
        };
        // Everything is computed and checked first; this copy changes only when all is well.
        let mut new_draws: Option<(Vec<GpuDraw>, Vec<Vec3>)> = None;
        if done.transforms {
            let mut draws = self.draw_list.clone();
            let mut centers = Vec::with_capacity(draws.len());
            for (d, src) in draws.iter_mut().zip(&self.draw_sources) {
                let world = scene
                    .nodes
                    .get(src.node as usize)
                    .and_then(|n| n.draw_transform(src.instance as usize))
                    .ok_or_else(|| structure("a drawn node or instance is gone"))?;
                if !world.is_finite() {
                    return Err(GpuSceneError::Invalid(format!(
                        "node {}: non-finite transform",
                        src.node
                    )));
                }
                let placed = GpuDraw::placed(world);
                (d.model, d.normal_model, d.mirrored) =
                    (placed.model, placed.normal_model, placed.mirrored);
                centers.push(world.transform_point3(src.center));
            }
            new_draws = Some((draws, centers));
        }
        // The TLAS instances follow the transforms.
        let mut new_instances = None;
        if let (true, Some(accel)) = (done.transforms, &self.accel) {
            let worlds = accel
                .placements
                .iter()
                .map(|p| {
                    scene
                        .nodes
                        .get(p.node as usize)
                        .and_then(|n| n.draw_transform(p.instance as usize))
                        .ok_or_else(|| structure("a placed node or instance is gone"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            new_instances =
                Some(crate::accel::instance_bytes(&accel.placements, &worlds, &accel.blases));
        }
        let mut new_materials = None;
        if done.materials {
            if scene.materials.len() != self.material_count {
                return Err(structure("materials were added or removed"));
            }
            let keys: Vec<_> = scene.materials.iter().map(material_key).collect();
            if keys != self.material_keys {
                return Err(structure(
                    "a material gained or lost textures, alpha testing or blending, opacity or a \
                     colormap",
                ));
            }
            let new_kind = scene.materials.iter().filter_map(|m| m.colormap).any(|c| {
                !(self.colormap_kinds.contains(&c.kind) && c.min.is_finite() && c.max.is_finite())
            });
            if new_kind {
                return Err(structure(
                    "a colormap without a lookup texture, or a non-finite range",
                ));
            }
            if scene.materials.iter().flat_map(|m| m.textures()).any(|t| t >= scene.textures.len())
            {
                return Err(GpuSceneError::Invalid(
                    "a material's texture index is out of range".into(),
                ));
            }
            new_materials = Some(build_materials(scene, &self.texture_refs, &self.colormap_kinds));
        }
        let mut new_lights = None;
        if done.lights {
            let (lights, shadow_matrices) = build_lights(scene);
            if lights.len() as u32 != self.light_count
                || shadow_matrices.len() != self.shadow_matrices.len()
            {
                return Err(structure("lights were added or removed"));
            }
            new_lights = Some((lights, shadow_matrices));
        }
        let mut writes: Vec<(&Buffer, Vec<u8>, &'static str)> = Vec::new();
        if let Some((draws, centers)) = new_draws {
            self.draw_list = draws;
            for b in &mut self.blended {
                b.1 = centers[b.0 as usize];
            }
            writes.push((&self.draws, bytemuck::cast_slice(&self.draw_list).to_vec(), "draws"));
        }
        if let Some(materials) = new_materials {
            writes.push((&self.materials, bytemuck::cast_slice(&materials).to_vec(), "materials"));
        }
        if let Some((lights, shadow_matrices)) = new_lights {
            writes.push((&self.lights, bytemuck::cast_slice(&lights).to_vec(), "lights"));
            let cols: Vec<[[f32; 4]; 4]> =
                shadow_matrices.iter().map(|m| m.to_cols_array_2d()).collect();
            if !cols.is_empty() {
                writes.push((
                    &self.shadows,
                    bytemuck::cast_slice(&cols).to_vec(),
                    "shadow matrices",
                ));
            }
            self.shadow_matrices = shadow_matrices;
        }
        if let (Some(bytes), Some(accel)) = (new_instances, &self.accel) {
            writes.push((&accel.instances, bytes, "tlas instances"));
        }
        for (buffer, bytes, what) in writes {
            // Unknown initial state: the write waits for everything before (the previous
            // frames' reads).
            let mut h = graph.import_buffer(buffer.name(), buffer, None, None);
            let hh = h;
            graph
                .add_pass(&format!("scene update {what}"))
                .write(&mut h, Access::TransferDst)
                .record(move |pc| pc.update_buffer(&hh, 0, &bytes));
        }
        if let (true, Some(accel)) = (done.transforms, &self.accel) {
            // In place: same instances, same BLASes (built with ALLOW_UPDATE).
            let count = accel.placements.len() as u32;
            crate::accel::add_tlas_pass(
                graph,
                &self.ctx,
                &accel.tlas,
                &accel.instances,
                &accel.blases,
                count,
                true,
            )?;
        }
        self.versions = v;
        Ok(done)
    }

    /// The environment image in `graph` (RGBA32F, read-only after the upload; the same resource
    /// for every renderer of the frame).
    pub fn import_environment(
        &self,
        graph: &mut framegraph::FrameGraph<'_>,
    ) -> framegraph::ImageHandle {
        let e = self.environment.extent();
        let info = framegraph::ImageInfo::d2(e.width, e.height, vk::Format::R32G32B32A32_SFLOAT);
        graph.import_image(
            "environment",
            self.environment.raw(),
            self.environment.view(),
            info,
            Some(Access::SampledFragment),
            None,
        )
    }

    /// Where draw `i` comes from: (node, placement of the node's mesh, primitive of the mesh).
    pub fn draw_origin(&self, i: usize) -> Option<(usize, usize, usize)> {
        self.draw_sources
            .get(i)
            .map(|s| (s.node as usize, s.instance as usize, s.geometry as usize))
    }

    /// World transform of draw `i`.
    pub fn draw_model(&self, i: usize) -> Option<Mat4> {
        self.draw_list.get(i).map(|d| Mat4::from_cols_array_2d(&d.model))
    }
}

/// Where a draw comes from: a node, which placement of its mesh, and the primitive's
/// object-space centre.
#[derive(Debug, Clone, Copy)]
struct DrawSource {
    node: u32,
    instance: u32,
    center: Vec3,
    /// The primitive's index in its mesh (its geometry index in the mesh's BLAS).
    geometry: u32,
}

impl GpuDraw {
    /// A draw at `world` (model and normal matrices, mirror flag); the rest zero.
    fn placed(world: Mat4) -> Self {
        // Cofactor matrix of the 3x3 part: det(M) times the inverse transpose, defined for
        // singular transforms too; times the determinant's sign, so that a mirror keeps
        // outward normals outward.
        let (a, b, c) = (world.x_axis.truncate(), world.y_axis.truncate(), world.z_axis.truncate());
        let sign = if world.determinant() < 0.0 { -1.0 } else { 1.0 };
        let normal_model =
            Mat4::from_mat3(glam::Mat3::from_cols(b.cross(c), c.cross(a), a.cross(b)) * sign);
        Self {
            model: world.to_cols_array_2d(),
            normal_model: normal_model.to_cols_array_2d(),
            material: 0,
            first_index: 0,
            index_count: 0,
            first_vertex: 0,
            mirrored: u32::from(world.determinant() < 0.0),
            placement: 0,
            pad: [0; 2],
        }
    }
}

/// The material table. `texture_refs`: each texture's packed bindless reference (the scene's
/// textures, then one colormap lookup texture per entry of `kinds`).
fn build_materials(
    scene: &Scene,
    texture_refs: &[u32],
    kinds: &[scene::ColormapKind],
) -> Vec<GpuMaterial> {
    let tex = |t: Option<usize>| t.and_then(|t| texture_refs.get(t).copied()).unwrap_or(NO_TEXTURE);
    scene
        .materials
        .iter()
        .map(|m| {
            let (cutoff, masked) = match m.alpha {
                AlphaMode::Mask(bits) => (f32::from_bits(bits), true),
                _ => (0.0, false),
            };
            let (base_tex, range) = match m.colormap {
                Some(c) => {
                    let lut =
                        kinds.iter().position(|&k| k == c.kind).map(|k| scene.textures.len() + k);
                    (tex(lut), [c.min, c.max])
                }
                None => (tex(m.base_color_texture), [0.0, 1.0]),
            };
            GpuMaterial {
                base_color: m.base_color,
                emissive: [m.emissive[0], m.emissive[1], m.emissive[2], 0.0],
                metallic: m.metallic.clamp(0.0, 1.0),
                roughness: m.roughness.clamp(0.0, 1.0),
                specular: m.specular.max(0.0),
                flags: if m.double_sided { MATERIAL_DOUBLE_SIDED } else { 0 }
                    | if m.alpha == AlphaMode::Blend { MATERIAL_BLENDED } else { 0 }
                    | if m.unlit { MATERIAL_UNLIT } else { 0 }
                    | if masked { MATERIAL_MASKED } else { 0 }
                    | if m.colormap.is_some() { MATERIAL_COLORMAP } else { 0 },
                textures: [
                    base_tex,
                    tex(m.metallic_roughness_texture),
                    tex(m.normal_texture),
                    tex(m.occlusion_texture),
                    tex(m.emissive_texture),
                ],
                normal_scale: m.normal_scale,
                occlusion_strength: m.occlusion_strength.clamp(0.0, 1.0),
                alpha_cutoff: cutoff,
                colormap_range: range,
                pad: [0; 2],
            }
        })
        .collect()
}

/// The light list in world space and the shadow matrices of the shadowed lights.
fn build_lights(scene: &Scene) -> (Vec<GpuLight>, Vec<Mat4>) {
    let mut lights = Vec::new();
    let mut shadow_matrices: Vec<Mat4> = Vec::new();
    let bounds = scene.bounds().unwrap_or((Vec3::splat(-1.0), Vec3::splat(1.0)));
    for n in &scene.nodes {
        let Some(l) = n.light.and_then(|l| scene.lights.get(l)) else { continue };
        let pos = n.world.transform_point3(Vec3::ZERO);
        let dir = n.world.transform_vector3(-Vec3::Z).normalize_or_zero();
        let rad = [l.color[0] * l.intensity, l.color[1] * l.intensity, l.color[2] * l.intensity];
        let (kind, cos_outer, cos_inner) = match l.kind {
            LightKind::Directional => (0.0, -1.0, -1.0),
            LightKind::Point => (1.0, -1.0, -1.0),
            LightKind::Spot { inner, outer } => (2.0, outer.cos(), inner.cos()),
        };
        let shadow = match l.kind {
            LightKind::Directional | LightKind::Spot { .. }
                if shadow_matrices.len() < MAX_SHADOWED_LIGHTS =>
            {
                let (m, tan_half, near, far) = shadow_matrix(l.kind, pos, dir, bounds);
                shadow_matrices.push(m);
                [(shadow_matrices.len() - 1) as f32, tan_half, near, far]
            }
            _ => [-1.0, 0.0, 0.0, 0.0],
        };
        lights.push(GpuLight {
            position_kind: [pos.x, pos.y, pos.z, kind],
            direction_cos_outer: [dir.x, dir.y, dir.z, cos_outer],
            radiance_cos_inner: [rad[0], rad[1], rad[2], cos_inner],
            shadow,
        });
    }
    (lights, shadow_matrices)
}

/// World-to-clip matrix of a shadow map: an orthographic box around the scene bounds for a
/// directional light, the cone's perspective for a spot light (Vulkan depth 0..1, y down).
fn shadow_matrix(
    kind: LightKind,
    pos: Vec3,
    dir: Vec3,
    (lo, hi): (Vec3, Vec3),
) -> (Mat4, f32, f32, f32) {
    let center = 0.5 * (lo + hi);
    let radius = (0.5 * (hi - lo).length()).max(1e-3);
    let dir = if dir.length_squared() > 0.0 { dir } else { -Vec3::Y };
    let up = if dir.y.abs() > 0.99 { Vec3::Z } else { Vec3::Y };
    match kind {
        LightKind::Spot { outer, .. } => {
            let view = glam::camera::rh::view::look_to_mat4(pos, dir, up);
            let dist = (pos - center).length();
            let far = dist + 2.0 * radius;
            // As near as the scene allows: depth precision is spent near the near plane.
            let near = (dist - radius).max(far * 1e-3).max(1e-3);
            let fov = (2.0 * outer).clamp(0.01, 3.1);
            (scene::camera::perspective(fov, 1.0, near, far) * view, (0.5 * fov).tan(), near, far)
        }
        _ => {
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
