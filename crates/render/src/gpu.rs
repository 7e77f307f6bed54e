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
use xpg::{Buffer, BufferDesc, Context, Image, MemoryUsage, Uploader};

pub use crate::textures::{GpuSampler, GpuTexture};
use scene::{AlphaMode, LightKind, Scene};

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
    /// Spheres drawn as impostors (opaque, untextured): the vertices of one sphere
    /// ([`scene::Primitive::sphere_vertices`]); 0: triangles.
    pub sphere_vertices: u32,
    /// [`DRAW_NO_SHADOW`] when its node casts no shadow.
    pub flags: u32,
}

/// [`GpuDraw::flags`]: the draw casts no shadow (its node's `cast_shadows` is off).
pub const DRAW_NO_SHADOW: u32 = 1;

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
    /// Per texture slot (as `textures`), two rows of its UV transform `uv' = M (uv, 1)`
    /// (KHR_texture_transform); the first row's w is the UV set (0 or 1).
    pub uv_transforms: [[f32; 4]; 10],
    /// ior, transmission, thickness (0: thin-walled), clearcoat roughness.
    pub layers0: [f32; 4],
    /// The volume's attenuation coefficient per channel (1/m), clearcoat strength.
    pub layers1: [f32; 4],
    /// Sheen color, sheen roughness.
    pub layers2: [f32; 4],
    /// The UV transforms of the layers' texture slots (as `uv_transforms`).
    pub uv_transforms2: [[f32; 4]; 10],
    /// The layers' textures (as `textures`): transmission, clear coat, clear coat roughness,
    /// sheen color, sheen roughness.
    pub textures2: [u32; 5],
    /// Padding to 16 bytes.
    pub pad2: [u32; 3],
}

impl GpuMaterial {
    /// Whether the material's BRDF is Lambert's alone wherever it is shaded (shaders/xpg/
    /// brdf.slang's `brdf_is_lambert`): no specular layer, no metal, no coat and no sheen.
    /// Textures only scale these factors, so zero factors are zero everywhere (a NaN factor
    /// counts as a lobe).
    pub fn is_lambert(&self) -> bool {
        self.specular == 0.0
            && self.metallic == 0.0
            && self.layers1[3] <= 0.0
            && self.layers2[..3].iter().all(|&c| c <= 0.0)
    }
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
    /// Spheres (opaque, untextured) a renderer may draw as impostors
    /// ([`GpuDraw::sphere_vertices`]); their indexed draws are the spheres' triangles.
    pub spheres: bool,
}

/// A light in world space.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuLight {
    /// Position (point, spot), then kind (0 directional, 1 point, 2 spot).
    pub position_kind: [f32; 4],
    /// Direction the light travels (directional, spot), then cos(outer cone).
    pub direction_cos_outer: [f32; 4],
    /// Color * intensity, then cos(inner cone).
    pub radiance_cos_inner: [f32; 4],
    /// [`scene::Light::range`] (point, spot; 0: unbounded); then a renderer's own use (the
    /// raster's emitter shadows: z, the radius of their soft shadows).
    pub range: [f32; 4],
}

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
    /// Diameter in world units instead (0: `size_px`).
    pub size_world: f32,
    /// Drawn.
    pub visible: bool,
    /// Object-space bounds of the positions (None: no points).
    pub local_bounds: Option<(Vec3, Vec3)>,
    /// Points the buffers above hold.
    pub(crate) capacity: u32,
    /// A streamed frame's slot in the scene's [`crate::FramePool`], drawn instead of the
    /// buffers above (`count` is the frame's).
    pub pooled: Option<crate::FrameAddresses>,
}

impl GpuPoints {
    /// Device addresses of the positions and colours drawn.
    pub fn addresses(&self) -> crate::FrameAddresses {
        self.pooled.unwrap_or(crate::FrameAddresses {
            positions: self.positions.address(),
            colors: self.colors.address(),
        })
    }
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
    /// Drawn.
    pub visible: bool,
    /// Object-space bounds of the vertices (None: none).
    pub local_bounds: Option<(Vec3, Vec3)>,
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
    /// Lights (also after transform changes: lights hang on nodes) and the scene's bounds.
    pub lights: bool,
    /// Deformed meshes (skins after transform changes, morph target weights): their
    /// vertices and acceleration structures.
    pub deform: bool,
    /// Point sets, line sets and mesh vertices whose values changed (same counts).
    pub geometry: bool,
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
    /// An object of the scene is inconsistent (an index out of range, lengths that differ,
    /// values that are not finite, ...): which object, and what is wrong with it.
    #[error("invalid scene: {object}: {problem}")]
    Invalid {
        /// The object.
        object: SceneObject,
        /// What is wrong.
        problem: String,
    },
    /// Set-up work recorded outside a frame (acceleration structure builds, texture mip
    /// generation) failed.
    #[error("{work}: {source}")]
    SetUp {
        /// What was being done.
        work: &'static str,
        /// The graph's error.
        source: framegraph::ExecuteError,
    },
    /// The scene changed in a way an update cannot follow.
    #[error("{0}")]
    StructureChanged(String),
    /// A shader of the GPU scene's own passes (the deform pass) could not be built.
    #[error("{0}")]
    Shader(String),
}

/// The object of a scene an error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SceneObject {
    /// Primitive `primitive` of mesh `mesh` (by name).
    Primitive {
        /// The mesh's name.
        mesh: String,
        /// The primitive's index in it.
        primitive: usize,
    },
    /// A material, by name.
    Material(String),
    /// A texture, by name.
    Texture(String),
    /// A point set, by name.
    PointSet(String),
    /// A line set, by name.
    LineSet(String),
    /// A node, by index.
    Node(usize),
}

impl std::fmt::Display for SceneObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Primitive { mesh, primitive } => write!(f, "mesh '{mesh}' primitive {primitive}"),
            Self::Material(n) => write!(f, "material '{n}'"),
            Self::Texture(n) => write!(f, "texture '{n}'"),
            Self::PointSet(n) => write!(f, "point set '{n}'"),
            Self::LineSet(n) => write!(f, "line set '{n}'"),
            Self::Node(i) => write!(f, "node {i}"),
        }
    }
}

impl GpuSceneError {
    /// [`GpuSceneError::Invalid`] about `object`.
    pub fn invalid(object: SceneObject, problem: impl Into<String>) -> Self {
        Self::Invalid { object, problem: problem.into() }
    }
}

/// Object-space bounds of every vertex of mesh `m` (None: none).
fn mesh_local_bounds(m: &scene::Mesh) -> Option<(Vec3, Vec3)> {
    let all: Vec<[f32; 3]> =
        m.primitives.iter().flat_map(|p| p.positions.iter().copied()).collect();
    crate::upload::local_bounds(&all)
}

/// Values of any type, one per type.
type SharedData = std::collections::HashMap<std::any::TypeId, Box<dyn std::any::Any + Send>>;

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
    /// What renderers derive from this scene and share between their viewports, one value
    /// per type ([`GpuScene::with_shared`]).
    shared: std::sync::Mutex<SharedData>,
    /// Every vertex.
    pub vertices: Buffer,
    /// Every index (in the scene's order: what rasterizers draw).
    pub indices: Buffer,
    /// The indices ray tracing reads, where they differ ([`GpuScene::ray_tracing_indices`]).
    ray_indices: Option<Buffer>,
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
    /// Whether every material that a draw uses is Lambertian ([`GpuMaterial::is_lambert`]):
    /// a renderer may then shade the draws with a variant that has no specular lobes (fewer
    /// registers). Materials that nothing uses (glTF's default one) do not count.
    pub all_lambert: bool,
    /// The lights on the CPU, as in `lights` (renderers derive their own data from them, such
    /// as the raster's shadow matrices).
    pub light_list: Vec<GpuLight>,
    /// Per entry of `light_list`: it casts shadows ([`scene::Light::shadows`]).
    pub light_shadows: Vec<bool>,
    /// World-space bounds of the scene (a unit box around the origin when it is empty).
    pub bounds: (Vec3, Vec3),
    /// Point clouds.
    pub points: Vec<GpuPoints>,
    /// Streamed frames of point sets ([`scene::Property::PointFrame`]).
    frames: crate::frames::FramePool,
    /// Staging buffers of large updates.
    staging: crate::staging::Staging,
    /// Bytes written into its buffers by updates so far.
    updated_bytes: u64,
    /// Line sets.
    pub lines: Vec<GpuLines>,
    /// Texture coordinates, one `[f32; 4]` per vertex: TEXCOORD_0 in xy, TEXCOORD_1 (or
    /// TEXCOORD_0 again) in zw (for colormap materials: the scalar in x); zero where a
    /// primitive has none.
    pub uvs: Buffer,
    /// Tangents, one `[f32; 4]` per vertex; zero where a primitive has none.
    pub tangents: Buffer,
    /// Per mesh, per primitive: the scene triangle of each uploaded triangle where the upload
    /// reordered them ([`GpuScene::scene_triangle`]).
    triangle_orders: Vec<Vec<Option<Vec<u32>>>>,
    /// CPU copy of the draws (for recording draw calls): the opaque and alpha-tested ones in
    /// [`Self::groups`], then the blended ones ([`Self::blended`]).
    pub draw_list: std::sync::Arc<Vec<GpuDraw>>,
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
    /// Skins and morph targets, deformed by a compute pass of [`GpuScene::update`].
    deform: Option<crate::deform::GpuDeform>,
    /// Per mesh, per primitive: its first vertex and vertex count in the vertex buffers.
    prim_vertices: Vec<Vec<(u32, u32)>>,
    /// Per mesh: its BLAS can be refitted (deformed, or positions animated).
    refittable: Vec<bool>,
    /// The draw list before the last transform update, reused for the next when the frame
    /// that wrote it is done with it.
    scratch_draws: std::sync::Arc<Vec<GpuDraw>>,
    /// Per mesh: its object-space bounds at upload (None: no vertices), for the scene's
    /// bounds after transform changes (placements' boxes, not every vertex).
    mesh_bounds: Vec<Option<(Vec3, Vec3)>>,
    /// Number of materials, and each one's shader-variant key (textured, blended).
    material_count: usize,
    material_keys: Vec<(bool, bool, bool, bool, bool)>,
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

pub(crate) fn storage(
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

/// From this many draws or placements on, updates compute them in parallel.
const PARALLEL_FROM: usize = 2048;

/// What an update writes into a buffer.
enum Bytes<'s> {
    /// Its own bytes.
    Owned(Vec<u8>),
    /// The scene's bytes (copied into a staging buffer, or into an owned copy for an inline
    /// update, when the update is recorded).
    Scene(&'s [u8]),
    /// The draw list (shared with [`GpuScene::draw_list`], not copied).
    Draws(std::sync::Arc<Vec<GpuDraw>>),
}

impl Bytes<'_> {
    fn owned<T: bytemuck::Pod>(v: &[T]) -> Self {
        Bytes::Owned(bytemuck::cast_slice(v).to_vec())
    }
    fn as_bytes(&self) -> &[u8] {
        match self {
            Bytes::Owned(b) => b,
            Bytes::Scene(b) => b,
            Bytes::Draws(d) => bytemuck::cast_slice(&d[..]),
        }
    }
    /// Bytes that outlive the scene's borrow.
    fn into_static(self) -> Bytes<'static> {
        match self {
            Bytes::Owned(b) => Bytes::Owned(b),
            Bytes::Scene(b) => Bytes::Owned(b.to_vec()),
            Bytes::Draws(d) => Bytes::Draws(d),
        }
    }
}

/// Geometry written in place by [`GpuScene::update`].
enum GeometryWrite<'s> {
    Points {
        set: usize,
        positions: Bytes<'s>,
        colors: Bytes<'s>,
        size_px: f32,
        size_world: f32,
        visible: bool,
        transform: Mat4,
        bounds: Option<(Vec3, Vec3)>,
    },
    Lines {
        set: usize,
        positions: Vec<u8>,
        colors: Vec<u8>,
        width_px: f32,
        visible: bool,
        transform: Mat4,
        bounds: Option<(Vec3, Vec3)>,
    },
    PointsPlacement {
        set: usize,
        size_px: f32,
        size_world: f32,
        visible: bool,
        transform: Mat4,
    },
    LinesPlacement {
        set: usize,
        visible: bool,
        transform: Mat4,
    },
    Vertices {
        mesh: usize,
        first: u32,
        vertices: Vec<u8>,
        uvs: Vec<u8>,
        tangents: Vec<u8>,
    },
}

/// Where one mesh primitive lies in the shared vertex and index buffers.
pub(crate) struct PrimRange {
    pub(crate) first_index: u32,
    pub(crate) index_count: u32,
    pub(crate) first_vertex: u32,
    pub(crate) vertex_count: u32,
    pub(crate) material: usize,
    pub(crate) colored: bool,
    /// Vertices per sphere when the primitive is spheres whose counts check out; else 0.
    pub(crate) sphere_vertices: u32,
    /// Object-space centre of its bounds.
    pub(crate) center: Vec3,
}

/// In-memory scenes skip the loaders' checks: an out-of-range index would be an out-of-bounds
/// read on the GPU.
pub(crate) fn check_primitive(p: &scene::Primitive, scene: &Scene) -> Option<String> {
    let n = p.positions.len();
    let per_vertex = |what: &str, len: usize| {
        (len != 0 && len != n).then(|| format!("{len} {what} for {n} vertices"))
    };
    if p.normals.len() != n {
        Some("normal count differs from position count".to_string())
    } else if let Some(m) = per_vertex("colors", p.colors.len())
        .or_else(|| per_vertex("UVs", p.uvs.len()))
        .or_else(|| per_vertex("second UVs", p.uvs1.len()))
        .or_else(|| per_vertex("tangents", p.tangents.len()))
        .or_else(|| per_vertex("scalars", p.scalars.len()))
    {
        Some(m)
    } else if p.material >= scene.materials.len() {
        Some(format!("material {} of {}", p.material, scene.materials.len()))
    } else if p.indices.len() % 3 != 0 {
        Some(format!("{} indices is not a triangle list", p.indices.len()))
    } else if p
        .uvs
        .iter()
        .chain(&p.uvs1)
        .flatten()
        .chain(p.tangents.iter().flatten())
        .any(|v| !v.is_finite())
    {
        Some("non-finite UVs or tangents".to_string())
    } else {
        p.indices
            .iter()
            .find(|&&i| i as usize >= n)
            .map(|i| format!("index {i} out of range ({n} vertices)"))
    }
}

/// `world` where node `node` draws primitive `prim` of its mesh (None: the whole mesh, as a
/// TLAS instance), or the zero matrix where it is hidden (the node, that primitive, or every
/// primitive of the mesh): nothing rasterizes and no ray finds it.
pub(crate) fn shown(scene: &Scene, node: usize, world: Mat4, prim: Option<usize>) -> Mat4 {
    let Some(n) = scene.nodes.get(node) else { return Mat4::ZERO };
    let prims = n.mesh.and_then(|m| scene.meshes.get(m)).map_or(&[][..], |m| &m.primitives[..]);
    let hidden = match prim {
        Some(p) => prims.get(p).is_some_and(|p| p.hidden),
        None => !prims.is_empty() && prims.iter().all(|p| p.hidden),
    };
    if n.visible && !hidden {
        world
    } else {
        Mat4::ZERO
    }
}

/// Whether draws of `m` need the textured shader variant.
/// (Alpha-tested materials too: their shadow pass needs the alpha test, which the textured
/// variants have.)
pub(crate) fn textured(m: &scene::Material) -> bool {
    m.textures().next().is_some() || m.colormap.is_some() || matches!(m.alpha, AlphaMode::Mask(_))
}

/// What fixes a material's draws' shader variants, vertex data and ray tracing geometry:
/// (textured, blended, colormap: the UV buffer holds its scalars, opaque: the BLAS geometry's
/// OPAQUE flag, which no TLAS update can change).
fn material_key(m: &scene::Material) -> (bool, bool, bool, bool, bool) {
    let opaque = m.alpha == AlphaMode::Opaque;
    // Transmission also fixes the TLAS instances' culling (crossed from inside).
    (textured(m), drawn_blended(m), m.colormap.is_some(), opaque, m.transmission > 0.0)
}

/// Whether a rasterizer draws a material's surfaces with the blended ones (sorted, over the
/// opaque image): alpha blending, or transmission (seen through).
pub(crate) fn drawn_blended(m: &scene::Material) -> bool {
    m.alpha == AlphaMode::Blend || m.transmission > 0.0
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
    /// Runs `f` on this scene's shared value of type `T` (made with `T::default()` the first
    /// time): what a renderer derives from the scene and every viewport's renderer can reuse
    /// (the raster's shadow maps of spot and point lights). Dropped with the scene.
    pub fn with_shared<T: Default + Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // A panic inside `f` leaves the value as it was at the panic: still usable.
        let mut map = self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry =
            map.entry(std::any::TypeId::of::<T>()).or_insert_with(|| Box::new(T::default()));
        match entry.downcast_mut::<T>() {
            Some(value) => f(value),
            // Unreachable: the entry of T's id holds a T.
            None => f(&mut T::default()),
        }
    }

    /// Uploads `scene` (world transforms must be current).
    pub fn upload(ctx: &Context, scene: &Scene) -> Result<Self, GpuSceneError> {
        use crate::upload as step;
        let mut up = Uploader::new(ctx, 16 << 20)?;
        let heap = ctx.bindless()?;
        let step::Geometry {
            vertices,
            uvs,
            tangents,
            indices,
            ray_indices,
            prim_ranges,
            triangle_orders,
        } = step::pack_geometry(scene)?;
        let step::DrawLists {
            draw_list,
            draw_sources,
            groups,
            blended,
            placements,
            placement_worlds,
            geometry_draws,
        } = step::build_draw_lists(scene, &prim_ranges)?;
        // Textures: the scene's, then one lookup texture per colormap in use.
        let kinds = step::check_materials(scene)?;
        let mut all_textures: Vec<&scene::Texture> = scene.textures.iter().collect();
        let lut_textures: Vec<scene::Texture> =
            kinds.iter().map(|&k| colormap_texture(k)).collect();
        all_textures.extend(&lut_textures);
        let owned: Vec<scene::Texture> = all_textures.into_iter().cloned().collect();
        let textures = crate::textures::upload_textures(ctx, heap, &mut up, &owned)?;
        let (samplers, sampler_of) = crate::textures::make_samplers(ctx, heap, &owned)?;
        let texture_refs: Vec<u32> =
            (0..owned.len()).map(|t| textures[t].slot.index() | sampler_of[t] << 16).collect();
        let materials = build_materials(scene, &texture_refs, &kinds);
        let lights = build_lights(scene);
        let light_shadows = light_shadows(scene);
        let light_count = lights.len() as u32;
        let (environment, environment_kind) = step::upload_environment(ctx, &mut up, scene)?;
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
        // Ray tracing's copy where large primitives were put in spatial order.
        let ray_indices = match (&ray_indices, ctx.caps().ray_tracing) {
            (Some(r), true) => {
                Some(storage(ctx, "ray indices", bytemuck::cast_slice(r), &mut up, rt_input)?)
            }
            _ => None,
        };
        // Without that copy, ray tracing (if any) sees the scene's order.
        let triangle_orders = if ray_indices.is_some() { triangle_orders } else { Vec::new() };
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
        let points = step::upload_points(ctx, &mut up, scene)?;
        let lines = step::upload_lines(ctx, &mut up, scene)?;
        up.flush()?;
        // Direct (mapped) writes are made visible by the next submission; staged copies end
        // with a barrier to all later commands (xpg's upload contract).
        let deform = crate::deform::GpuDeform::new(ctx, scene, &prim_ranges, &mut up)?;
        up.flush()?;
        // Meshes whose vertices move (deformed, or positions over time) get refittable BLASes.
        let mut refittable = vec![false; scene.meshes.len()];
        for &m in deform.iter().flat_map(|d| &d.meshes) {
            refittable[m] = true;
        }
        for p in &scene.properties {
            if let scene::Property::Positions { mesh, .. }
            | scene::Property::Normals { mesh, .. }
            | scene::Property::Triangles { mesh, .. } = p.property
            {
                if let Some(r) = refittable.get_mut(mesh) {
                    *r = true;
                }
            }
        }
        let prim_vertices: Vec<Vec<(u32, u32)>> = prim_ranges
            .iter()
            .map(|r| r.iter().map(|p| (p.first_vertex, p.vertex_count)).collect())
            .collect();
        let accel = if ctx.caps().ray_tracing {
            let meshes = step::accel_meshes(scene, &prim_ranges);
            let deformed = &refittable;
            Some(crate::accel::SceneAccel::build(
                ctx,
                &vertices,
                ray_indices.as_ref().unwrap_or(&indices),
                &meshes,
                deformed,
                placements,
                &placement_worlds,
            )?)
        } else {
            None
        };
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut uploaded = Self {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            shared: Default::default(),
            accel,
            geometry_draws,
            ctx: ctx.clone(),
            vertices,
            indices,
            ray_indices,
            draws,
            indirect,
            materials: materials_buf,
            lights: lights_buf,
            light_count,
            all_lambert: draws_lambert(&draw_list, &materials),
            points,
            lines,
            light_list: lights,
            light_shadows,
            bounds: (Vec3::ZERO, Vec3::ZERO),
            draw_list: std::sync::Arc::new(draw_list),
            groups,
            blended,
            uvs,
            triangle_orders,
            tangents,
            textures,
            samplers,
            draw_sources,
            texture_refs,
            colormap_kinds: kinds,
            versions: scene.versions,
            frames: crate::frames::FramePool::new(ctx, crate::frames::DEFAULT_FRAME_BUDGET),
            staging: crate::staging::Staging::new(ctx),
            updated_bytes: 0,
            deform,
            prim_vertices,
            refittable,
            scratch_draws: Default::default(),
            mesh_bounds: scene.meshes.iter().map(mesh_local_bounds).collect(),
            material_count: scene.materials.len(),
            material_keys: scene.materials.iter().map(material_key).collect(),
            environment,
            environment_kind,
            environment_mean: scene.environment.mean_radiance(),
        };
        // The same bounds as every update computes (placements' boxes).
        uploaded.bounds = uploaded.placed_bounds(scene);
        Ok(uploaded)
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
        // A primitive shown or hidden: its draws are placed again (zero where hidden).
        let reshown = v.geometry != self.versions.geometry
            && scene.changed.iter().any(|(what, &stamp)| {
                stamp > self.versions.geometry
                    && matches!(what, scene::property::GeometryRef::PrimitiveShown(..))
            });
        let done = SceneUpdate {
            transforms: v.transforms != self.versions.transforms || reshown,
            materials: v.materials != self.versions.materials,
            lights: v.lights != self.versions.lights || v.transforms != self.versions.transforms,
            deform: self.deform.as_ref().is_some_and(|d| {
                v.deform != self.versions.deform
                    || (d.skinned() && v.transforms != self.versions.transforms)
            }),
            geometry: v.geometry != self.versions.geometry,
        };
        if self.needs_upload(scene) {
            return Err(structure(
                "a mesh's vertices changed and its acceleration structure cannot be refitted, \
                 or a deformed mesh's rest data changed",
            ));
        }
        let geometry = if done.geometry { self.geometry_changes(scene)? } else { Vec::new() };
        // Everything is computed and checked first; this copy changes only when all is well.
        let mut new_draws: Option<Vec<GpuDraw>> = None;
        if done.transforms {
            // Independent per draw: many draws are placed in parallel, into the list the last
            // update replaced when no frame holds it any more (else a new one); it replaces
            // the draw list only when all is well.
            use rayon::prelude::*;
            let mut draws = std::sync::Arc::try_unwrap(std::mem::take(&mut self.scratch_draws))
                .unwrap_or_default();
            draws.clear();
            let failed: std::sync::Mutex<Option<GpuSceneError>> = Default::default();
            let place = |(d, src): (&GpuDraw, &DrawSource)| -> GpuDraw {
                let world = scene
                    .nodes
                    .get(src.node as usize)
                    .and_then(|n| n.draw_transform(src.instance as usize))
                    .map(|w| shown(scene, src.node as usize, w, Some(src.geometry as usize)));
                let error = match world {
                    Some(w) if w.is_finite() => {
                        let placed = GpuDraw::placed(w);
                        return GpuDraw {
                            model: placed.model,
                            normal_model: placed.normal_model,
                            mirrored: placed.mirrored,
                            ..*d
                        };
                    }
                    Some(_) => GpuSceneError::invalid(
                        SceneObject::Node(src.node as usize),
                        "non-finite transform",
                    ),
                    None => structure("a drawn node or instance is gone"),
                };
                if let Ok(mut f) = failed.lock() {
                    f.get_or_insert(error);
                }
                *d
            };
            if self.draw_list.len() >= PARALLEL_FROM {
                let par = self.draw_list.par_iter().zip(self.draw_sources.par_iter());
                draws.par_extend(par.with_min_len(1024).map(place));
            } else {
                draws.extend(self.draw_list.iter().zip(&self.draw_sources).map(place));
            }
            if let Some(e) = failed.into_inner().ok().flatten() {
                self.scratch_draws = std::sync::Arc::new(draws);
                return Err(e);
            }
            new_draws = Some(draws);
        }
        // The TLAS instances follow the transforms.
        let mut new_instances = None;
        if let (true, Some(accel)) = (done.transforms, &self.accel) {
            use rayon::prelude::*;
            let world = |p: &crate::accel::Placement| {
                scene
                    .nodes
                    .get(p.node as usize)
                    .and_then(|n| n.draw_transform(p.instance as usize))
                    .map(|w| shown(scene, p.node as usize, w, None))
                    .ok_or_else(|| structure("a placed node or instance is gone"))
            };
            let worlds: Vec<Mat4> = if accel.placements.len() >= PARALLEL_FROM {
                // Straight into the list (an error is kept and returned after).
                let failed: std::sync::Mutex<Option<GpuSceneError>> = Default::default();
                let mut worlds = Vec::with_capacity(accel.placements.len());
                worlds.par_extend(accel.placements.par_iter().with_min_len(1024).map(|p| {
                    world(p).unwrap_or_else(|e| {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                        Mat4::ZERO
                    })
                }));
                if let Some(e) = failed.into_inner().ok().flatten() {
                    return Err(e);
                }
                worlds
            } else {
                accel.placements.iter().map(world).collect::<Result<_, _>>()?
            };
            new_instances = Some(crate::accel::instance_bytes(
                &accel.placements,
                &worlds,
                &accel.blases,
                &accel.double_sided,
            ));
        }
        let mut new_materials = None;
        if done.materials {
            if scene.materials.len() != self.material_count {
                return Err(structure("materials were added or removed"));
            }
            let keys: Vec<_> = scene.materials.iter().map(material_key).collect();
            if keys != self.material_keys {
                return Err(structure(
                    "a material gained or lost textures, alpha testing or blending, opacity, \
                     transmission or a colormap",
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
            let n = scene.textures.len();
            if let Some((m, t)) =
                scene.materials.iter().find_map(|m| m.textures().find(|&t| t >= n).map(|t| (m, t)))
            {
                return Err(GpuSceneError::invalid(
                    SceneObject::Material(m.name.clone()),
                    format!("texture {t} of {n}"),
                ));
            }
            new_materials = Some(build_materials(scene, &self.texture_refs, &self.colormap_kinds));
        }
        let mut new_lights = None;
        if done.lights {
            let lights = build_lights(scene);
            if lights.len() as u32 != self.light_count {
                return Err(structure("lights were added or removed"));
            }
            new_lights = Some(lights);
        }
        let mut bounds_moved = false;
        for change in &geometry {
            match change {
                GeometryWrite::Points {
                    set,
                    size_px,
                    size_world,
                    visible,
                    transform,
                    bounds,
                    ..
                } => {
                    let gp = &mut self.points[*set];
                    (gp.size_px, gp.visible, gp.transform) = (*size_px, *visible, *transform);
                    gp.size_world = *size_world;
                    bounds_moved |= gp.local_bounds != *bounds;
                    gp.local_bounds = *bounds;
                    // Its own buffers again (no longer a streamed frame's).
                    (gp.count, gp.pooled) = (gp.capacity, None);
                }
                GeometryWrite::Lines { set, width_px, visible, transform, bounds, .. } => {
                    let gl = &mut self.lines[*set];
                    (gl.width_px, gl.visible, gl.transform) = (*width_px, *visible, *transform);
                    bounds_moved |= gl.local_bounds != *bounds;
                    gl.local_bounds = *bounds;
                }
                GeometryWrite::PointsPlacement { set, size_px, size_world, visible, transform } => {
                    let gp = &mut self.points[*set];
                    (gp.size_px, gp.visible, gp.transform) = (*size_px, *visible, *transform);
                    gp.size_world = *size_world;
                }
                GeometryWrite::LinesPlacement { set, visible, transform } => {
                    let gl = &mut self.lines[*set];
                    (gl.visible, gl.transform) = (*visible, *transform);
                }
                GeometryWrite::Vertices { mesh, .. } => {
                    // The mesh's new vertices: its bounds again (shadow maps and light
                    // clusters are fitted to the scene's).
                    if let (Some(b), Some(m)) =
                        (self.mesh_bounds.get_mut(*mesh), scene.meshes.get(*mesh))
                    {
                        *b = mesh_local_bounds(m);
                        bounds_moved = true;
                    }
                }
            }
        }
        if bounds_moved {
            self.bounds = self.placed_bounds(scene);
        }
        if done.geometry {
            self.update_frames(scene, graph)?;
        }
        let mut writes: Vec<(&Buffer, u64, Bytes, &'static str)> = Vec::new();
        if let Some(draws) = new_draws {
            self.scratch_draws = std::mem::replace(&mut self.draw_list, std::sync::Arc::new(draws));
            // The blended draws' sorting centres.
            for b in &mut self.blended {
                let (d, src) = (&self.draw_list[b.0 as usize], &self.draw_sources[b.0 as usize]);
                b.1 = Mat4::from_cols_array_2d(&d.model).transform_point3(src.center);
            }
            // The pass reads the list itself (no copy of it).
            writes.push((
                &self.draws,
                0,
                Bytes::Draws(std::sync::Arc::clone(&self.draw_list)),
                "draws",
            ));
        }
        if let Some(materials) = new_materials {
            self.all_lambert = draws_lambert(&self.draw_list, &materials);
            let bytes = bytemuck::cast_slice(&materials).to_vec();
            writes.push((&self.materials, 0, Bytes::Owned(bytes), "materials"));
        }
        if let Some(lights) = new_lights {
            writes.push((&self.lights, 0, Bytes::owned(&lights), "lights"));
            self.light_list = lights;
            self.light_shadows = light_shadows(scene);
            self.bounds = self.placed_bounds(scene);
        }
        if let (Some(bytes), Some(accel)) = (new_instances, &self.accel) {
            writes.push((&accel.instances, 0, Bytes::Owned(bytes), "tlas instances"));
        }
        // Geometry values in place (the counts were checked).
        let mut refit = Vec::new();
        for change in geometry {
            match change {
                GeometryWrite::Points { set, positions, colors, .. } => {
                    let gp = &self.points[set];
                    writes.push((&gp.positions, 0, positions, "point positions"));
                    writes.push((&gp.colors, 0, colors, "point colors"));
                }
                GeometryWrite::Lines { set, positions, colors, .. } => {
                    let gl = &self.lines[set];
                    writes.push((&gl.positions, 0, Bytes::Owned(positions), "line positions"));
                    writes.push((&gl.colors, 0, Bytes::Owned(colors), "line colors"));
                }
                GeometryWrite::PointsPlacement { .. } | GeometryWrite::LinesPlacement { .. } => {}
                GeometryWrite::Vertices { mesh, first, vertices, uvs, tangents } => {
                    let first = u64::from(first);
                    writes.push((&self.vertices, first * 32, Bytes::Owned(vertices), "vertices"));
                    writes.push((&self.uvs, first * 16, Bytes::Owned(uvs), "uvs"));
                    writes.push((&self.tangents, first * 16, Bytes::Owned(tangents), "tangents"));
                    if !refit.contains(&mesh) {
                        refit.push(mesh);
                    }
                }
            }
        }
        // One pass per buffer: several writes to one buffer in order.
        type Writes<'b, 's> = Vec<(&'b Buffer, Vec<(u64, Bytes<'s>)>, &'static str)>;
        let mut by_buffer: Writes<'_, '_> = Vec::new();
        for (buffer, offset, bytes, what) in writes {
            match by_buffer.iter_mut().find(|(b, ..)| b.raw() == buffer.raw()) {
                Some((_, list, _)) => list.push((offset, bytes)),
                None => by_buffer.push((buffer, vec![(offset, bytes)], what)),
            }
        }
        // Large writes (new point clouds streamed in, many draws) go through one staging
        // buffer and copies: inline updates are meant for small data.
        let large = |list: &[(u64, Bytes)]| {
            list.iter().map(|(_, b)| b.as_bytes().len()).sum::<usize>()
                > crate::staging::INLINE_BYTES
        };
        self.updated_bytes += by_buffer
            .iter()
            .flat_map(|(_, list, _)| list)
            .map(|(_, b)| b.as_bytes().len() as u64)
            .sum::<u64>();
        let (staged, inline): (Writes<'_, '_>, Writes<'_, '_>) =
            by_buffer.into_iter().partition(|(_, list, _)| large(list));
        if !staged.is_empty() {
            let total: u64 = staged
                .iter()
                .flat_map(|(_, list, _)| list)
                .map(|(_, b)| b.as_bytes().len() as u64)
                .sum();
            let mut regions: Vec<Vec<vk::BufferCopy>> = Vec::new();
            let src = self.staging.stage(graph, total, "scene update staging", |map| {
                let mut at = 0usize;
                // Copied by several threads (large clouds: tens of MB).
                let mut copies: Vec<(&mut [u8], &[u8])> = Vec::new();
                let mut rest = map;
                for (_, list, _) in &staged {
                    let mut r = Vec::new();
                    for (offset, bytes) in list {
                        let bytes = bytes.as_bytes();
                        let (head, tail) = std::mem::take(&mut rest).split_at_mut(bytes.len());
                        copies.push((head, bytes));
                        rest = tail;
                        if !bytes.is_empty() {
                            r.push(
                                vk::BufferCopy::default()
                                    .src_offset(at as u64)
                                    .dst_offset(*offset)
                                    .size(bytes.len() as u64),
                            );
                        }
                        at += bytes.len();
                    }
                    regions.push(r);
                }
                use rayon::prelude::*;
                const PIECE: usize = 1 << 20;
                copies.into_par_iter().for_each(|(to, from)| {
                    to.par_chunks_mut(PIECE)
                        .zip(from.par_chunks(PIECE))
                        .for_each(|(t, f)| t.copy_from_slice(f));
                });
            })?;
            for ((buffer, _, what), r) in staged.into_iter().zip(regions) {
                // Unknown initial state: the copy waits for the previous frames' reads.
                let dst = graph.import_buffer(buffer.name(), buffer, None, None);
                let pass = format!("scene update {what}");
                crate::staging::Staging::add_copy_pass(graph, &pass, src, dst, r);
            }
        }
        for (buffer, list, what) in inline {
            let list: Vec<(u64, Bytes<'static>)> =
                list.into_iter().map(|(o, b)| (o, b.into_static())).collect();
            // Unknown initial state: the write waits for everything before (the previous
            // frames' reads).
            let mut h = graph.import_buffer(buffer.name(), buffer, None, None);
            let hh = h;
            graph
                .add_pass(&format!("scene update {what}"))
                .write(&mut h, Access::TransferDst)
                .record(move |pc| {
                    for (offset, bytes) in &list {
                        let bytes = bytes.as_bytes();
                        if !bytes.is_empty() {
                            pc.update_buffer(&hh, *offset, bytes)?;
                        }
                    }
                    Ok(())
                });
        }
        if let (false, Some(accel)) = (refit.is_empty(), &self.accel) {
            let indices = self.ray_indices.as_ref().unwrap_or(&self.indices);
            let tlas = !done.transforms && !done.deform;
            accel.add_refit_passes(graph, &self.ctx, &self.vertices, indices, &refit, tlas)?;
        }
        if let (true, Some(d)) = (done.deform, &self.deform) {
            d.add_passes(scene, graph, &self.vertices, &self.tangents)?;
            if let Some(accel) = &self.accel {
                let indices = self.ray_indices.as_ref().unwrap_or(&self.indices);
                // The TLAS update below (transforms) covers the refitted BLASes too.
                let tlas = !done.transforms;
                accel.add_refit_passes(
                    graph,
                    &self.ctx,
                    &self.vertices,
                    indices,
                    &d.meshes,
                    tlas,
                )?;
            }
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

    /// The scene's bounds from each placement's box of its mesh's upload-time bounds (cheap
    /// for many objects: no vertex is transformed); the point and line sets' vertices too.
    fn placed_bounds(&self, scene: &Scene) -> (Vec3, Vec3) {
        use rayon::prelude::*;
        type Bounds = Option<(Vec3, Vec3)>;
        let join = |a: Bounds, b: Bounds| match (a, b) {
            (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
            (a, b) => a.or(b),
        };
        // The box of a transformed box: the centre moved, the extent through |M|.
        let placed = |(lo, hi): (Vec3, Vec3), w: Mat4| -> (Vec3, Vec3) {
            let (c, e) = (0.5 * (lo + hi), 0.5 * (hi - lo));
            let m3 = glam::Mat3::from_mat4(w);
            let abs = glam::Mat3::from_cols(m3.x_axis.abs(), m3.y_axis.abs(), m3.z_axis.abs());
            let (wc, we) = (w.transform_point3(c), abs * e);
            (wc - we, wc + we)
        };
        let node = |n: &scene::Node| -> Bounds {
            let Some(Some(b)) = n.mesh.and_then(|m| self.mesh_bounds.get(m)) else { return None };
            n.draw_transforms().map(|w| Some(placed(*b, w))).fold(None, join)
        };
        let nodes = if scene.nodes.len() >= PARALLEL_FROM {
            scene.nodes.par_iter().with_min_len(1024).map(node).reduce(|| None, join)
        } else {
            scene.nodes.iter().map(node).fold(None, join)
        };
        let points = self.points.iter().filter_map(|p| Some(placed(p.local_bounds?, p.transform)));
        let lines = self.lines.iter().filter_map(|l| Some(placed(l.local_bounds?, l.transform)));
        match points.chain(lines).map(Some).fold(nodes, join) {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() => (lo, hi),
            _ => (Vec3::splat(-1.0), Vec3::splat(1.0)),
        }
    }

    /// Point sets showing streamed frames draw them from the frame pool: frames already there
    /// are used as they are; the others are copied in (evicting the least recently used).
    fn update_frames<'g>(
        &mut self,
        scene: &Scene,
        graph: &mut framegraph::FrameGraph<'g>,
    ) -> Result<(), GpuSceneError> {
        let shown: Vec<(usize, &scene::PointSet, u64)> = scene
            .point_sets
            .iter()
            .enumerate()
            .filter(|(i, ps)| ps.frame.is_some() && *i < self.points.len())
            .map(|(i, ps)| (i, ps, crate::upload::color_key(&ps.colors, &ps.scalars, ps.colormap)))
            .collect();
        if shown.is_empty() {
            return Ok(());
        }
        self.frames.begin_frame();
        // Twice at most: a frame larger than the pool makes it again, empty, and the frames
        // shown that it held go in again.
        for _ in 0..2 {
            // The frames shown now are used this frame: none of them is evicted below.
            let mut missing = Vec::new();
            for &(_, ps, ck) in &shown {
                let Some(f) = &ps.frame else { continue };
                if self.frames.use_frame(f.key(), ck).is_none() {
                    missing.push((ps, ck));
                }
            }
            if missing.is_empty() {
                break;
            }
            let colors: Vec<Vec<u32>> = missing
                .iter()
                .map(|(ps, _)| crate::upload::point_colors(ps))
                .collect::<Result<_, _>>()?;
            let data: Vec<crate::frames::FrameData<'_>> = missing
                .iter()
                .zip(&colors)
                .filter_map(|((ps, ck), c)| {
                    Some(crate::frames::FrameData {
                        key: ps.frame.as_ref()?.key(),
                        color_key: *ck,
                        positions: &ps.positions,
                        colors: c,
                    })
                })
                .collect();
            self.frames.upload(graph, &data, true)?;
        }
        for (i, ps, ck) in shown {
            let Some(f) = &ps.frame else { continue };
            let gp = &mut self.points[i];
            match self.frames.use_frame(f.key(), ck) {
                Some(a) => {
                    gp.pooled = Some(a);
                    gp.count = ps.positions.len() as u32;
                }
                // Did not fit (the budget is smaller than the frames shown at once): its own
                // buffers (the frame it was uploaded with) are drawn.
                None => {
                    tracing::warn!(
                        "point set '{}': its frame does not fit the GPU frame budget",
                        ps.name
                    );
                    (gp.count, gp.pooled) = (gp.capacity, None);
                }
            }
            (gp.size_px, gp.visible, gp.transform) = (ps.size_px, ps.visible, ps.transform);
            gp.size_world = crate::upload::world_size(ps);
            // The stream computed them on its loader thread.
            gp.local_bounds = match f.frame.bounds {
                Some((lo, hi)) => Some((Vec3::from(lo), Vec3::from(hi))),
                None => crate::upload::local_bounds(&ps.positions),
            };
        }
        Ok(())
    }

    /// Fills the frame pool ahead of playback when a whole sequence fits it: asks each
    /// streamed point set's stream for its frames in the background and copies those loaded
    /// (at most [`crate::frames::PRELOAD_BYTES_PER_FRAME`] bytes per call) with a transfer
    /// pass of `graph`. Such a sequence then plays with no uploads. Call once per frame;
    /// cheap when there is nothing to do. Returns the frames copied.
    pub fn preload_frames<'g>(
        &mut self,
        scene: &Scene,
        graph: &mut framegraph::FrameGraph<'g>,
    ) -> Result<usize, GpuSceneError> {
        let mut copied = 0;
        let mut budget_left = crate::frames::PRELOAD_BYTES_PER_FRAME;
        for (i, ps) in scene.point_sets.iter().enumerate() {
            let Some(f) = &ps.frame else { continue };
            if i >= self.points.len() {
                continue;
            }
            let stream = &f.stream;
            // A sequence that cannot fit, at the size of the frame shown, is not looked at
            // further (no walk over its frames every frame).
            let per = crate::frames::FramePool::slot_size(ps.positions.len());
            if per.saturating_mul(stream.stats().frames as u64) > self.frames.capacity() {
                continue;
            }
            let ck = crate::upload::color_key(&ps.colors, &ps.scalars, ps.colormap);
            let wanted: Vec<u64> = stream
                .ids()
                .into_iter()
                .filter(|&id| !self.frames.contains((stream.id(), id), ck))
                .collect();
            // Fits when the frames still missing fit the room left (frames of other sizes may
            // still not: the fill stops where one does not).
            if wanted.is_empty()
                || per.saturating_mul(wanted.len() as u64) > self.frames.free_bytes()
            {
                continue;
            }
            stream.background(wanted);
            let mut frames = Vec::new();
            for (id, frame) in stream.cached() {
                let n = frame.positions.len();
                let fits_count = (frame.colors.is_empty() || frame.colors.len() == n)
                    && (frame.scalars.is_empty() || frame.scalars.len() == n);
                if self.frames.contains((stream.id(), id), ck) || !fits_count {
                    continue;
                }
                // Colours made the way the shown frame's are (else it would not be found).
                if crate::upload::color_key(&frame.colors, &frame.scalars, ps.colormap) != ck {
                    continue;
                }
                let size = crate::frames::FramePool::slot_size(n);
                if size > budget_left {
                    break;
                }
                budget_left -= size;
                frames.push((id, frame));
            }
            let colors: Vec<Vec<u32>> = frames
                .iter()
                .map(|(_, f)| {
                    crate::upload::pack_colors(
                        &f.colors,
                        &f.scalars,
                        ps.colormap,
                        f.positions.len(),
                    )
                })
                .collect();
            let data: Vec<crate::frames::FrameData<'_>> = frames
                .iter()
                .zip(&colors)
                .map(|((id, f), c)| crate::frames::FrameData {
                    key: (stream.id(), *id),
                    color_key: ck,
                    positions: &f.positions,
                    colors: c,
                })
                .collect();
            copied += self.frames.upload(graph, &data, false)?;
        }
        Ok(copied)
    }

    /// Bytes written into the scene's buffers by updates so far (new point, line and vertex
    /// data, draws, materials, lights).
    pub fn updated_bytes(&self) -> u64 {
        self.updated_bytes
    }

    /// The frame pool's counters.
    pub fn frame_stats(&self) -> crate::FramePoolStats {
        self.frames.stats()
    }

    /// Sets the frame pool's GPU budget in bytes (a new size starts it again empty).
    pub fn set_frame_budget(&mut self, bytes: u64) {
        self.frames.set_budget(bytes);
    }

    /// Takes over `old`'s frame pool (an upload of the same scene again keeps the frames
    /// already on the GPU).
    pub fn keep_frames_from(&mut self, old: &mut GpuScene) {
        std::mem::swap(&mut self.frames, &mut old.frames);
    }

    /// The frame pool's buffer, for passes that read streamed frames to declare it.
    pub fn frame_buffer(&self) -> Option<&Buffer> {
        self.frames.buffer()
    }

    /// Whether `scene` changed in a way [`GpuScene::update`] cannot follow in place: its
    /// structure (counts, topology), or vertices of a mesh whose BLAS is not refittable or
    /// that is deformed (its rest data). Upload it again then.
    pub fn needs_upload(&self, scene: &Scene) -> bool {
        if scene.versions.structure != self.versions.structure {
            return true;
        }
        if scene.versions.geometry == self.versions.geometry {
            return false;
        }
        use scene::property::GeometryRef as G;
        let deformed = |m: usize| self.deform.as_ref().is_some_and(|d| d.meshes.contains(&m));
        let rt = self.accel.is_some();
        scene.changed.iter().any(|(what, &stamp)| {
            stamp > self.versions.geometry
                && match *what {
                    G::Primitive(m, _) => {
                        (rt && !self.refittable.get(m).copied().unwrap_or(false)) || deformed(m)
                    }
                    // The BLAS leaves a hidden primitive out (rebuilt by the upload).
                    G::PrimitiveShown(..) => rt,
                    _ => false,
                }
        })
    }

    /// The in-place writes of the geometry that changed since this copy's version, checked
    /// (a count that differs is a structure change).
    fn geometry_changes<'s>(
        &self,
        scene: &'s Scene,
    ) -> Result<Vec<GeometryWrite<'s>>, GpuSceneError> {
        use scene::property::GeometryRef;
        let structure = |what: String| {
            GpuSceneError::StructureChanged(format!("{what}: upload the scene again"))
        };
        let mut out = Vec::new();
        for (&what, &stamp) in &scene.changed {
            if stamp <= self.versions.geometry {
                continue;
            }
            match what {
                GeometryRef::Points(i) => {
                    let (Some(ps), Some(gp)) = (scene.point_sets.get(i), self.points.get(i)) else {
                        return Err(structure(format!("point set {i} is new")));
                    };
                    if ps.frame.is_some() {
                        // Drawn from the frame pool (see `update_frames`).
                        continue;
                    }
                    crate::upload::check_points(ps)?;
                    if ps.positions.len() != gp.capacity as usize {
                        return Err(structure(format!(
                            "point set '{}' changed its count",
                            ps.name
                        )));
                    }
                    // Colours of their own are already packed (RGBA8): not copied here.
                    let colors = if ps.colors.is_empty() {
                        let n = ps.positions.len();
                        Bytes::owned(&crate::upload::pack_colors(&[], &ps.scalars, ps.colormap, n))
                    } else {
                        Bytes::Scene(bytemuck::cast_slice(&ps.colors))
                    };
                    out.push(GeometryWrite::Points {
                        set: i,
                        positions: Bytes::Scene(bytemuck::cast_slice(&ps.positions)),
                        colors,
                        size_px: ps.size_px,
                        size_world: crate::upload::world_size(ps),
                        visible: ps.visible,
                        transform: ps.transform,
                        bounds: crate::upload::local_bounds(&ps.positions),
                    });
                }
                GeometryRef::Lines(i) => {
                    let (Some(ls), Some(gl)) = (scene.line_sets.get(i), self.lines.get(i)) else {
                        return Err(structure(format!("line set {i} is new")));
                    };
                    let (positions, colors) = crate::upload::line_segments(ls)?;
                    if positions.len() != 2 * gl.segments as usize {
                        return Err(structure(format!("line set '{}' changed its count", ls.name)));
                    }
                    out.push(GeometryWrite::Lines {
                        set: i,
                        positions: bytemuck::cast_slice(&positions).to_vec(),
                        colors: bytemuck::cast_slice(&colors).to_vec(),
                        width_px: ls.width_px,
                        visible: ls.visible,
                        transform: ls.transform,
                        bounds: crate::upload::local_bounds(&ls.positions),
                    });
                }
                // The draws follow (see `update`); without ray tracing nothing else does.
                GeometryRef::PrimitiveShown(..) => {}
                GeometryRef::PointsPlacement(i) => {
                    let ps = scene.point_sets.get(i).filter(|_| i < self.points.len());
                    let ps = ps.ok_or_else(|| structure(format!("point set {i} is new")))?;
                    if !(ps.transform.is_finite() && ps.size_px > 0.0 && ps.size_px <= 64.0) {
                        return Err(GpuSceneError::invalid(
                            SceneObject::PointSet(ps.name.clone()),
                            "non-finite transform, or size outside (0, 64]",
                        ));
                    }
                    out.push(GeometryWrite::PointsPlacement {
                        set: i,
                        size_px: ps.size_px,
                        size_world: crate::upload::world_size(ps),
                        visible: ps.visible,
                        transform: ps.transform,
                    });
                }
                GeometryRef::LinesPlacement(i) => {
                    let ls = scene.line_sets.get(i).filter(|_| i < self.lines.len());
                    let ls = ls.ok_or_else(|| structure(format!("line set {i} is new")))?;
                    if !ls.transform.is_finite() {
                        return Err(GpuSceneError::invalid(
                            SceneObject::LineSet(ls.name.clone()),
                            "non-finite transform",
                        ));
                    }
                    out.push(GeometryWrite::LinesPlacement {
                        set: i,
                        visible: ls.visible,
                        transform: ls.transform,
                    });
                }
                GeometryRef::Primitive(m, p) => {
                    let (Some(prim), Some(&(first, count))) = (
                        scene.meshes.get(m).and_then(|x| x.primitives.get(p)),
                        self.prim_vertices.get(m).and_then(|x| x.get(p)),
                    ) else {
                        return Err(structure(format!("mesh {m} primitive {p} is new")));
                    };
                    if prim.positions.len() != count as usize {
                        return Err(structure(format!("mesh {m} primitive {p} changed its count")));
                    }
                    if let Some(message) = check_primitive(prim, scene) {
                        let name = scene.meshes[m].name.clone();
                        let object = SceneObject::Primitive { mesh: name, primitive: p };
                        return Err(GpuSceneError::invalid(object, message));
                    }
                    let data = crate::upload::primitive_vertices(scene, m, p, None);
                    out.push(GeometryWrite::Vertices {
                        mesh: m,
                        first,
                        vertices: bytemuck::cast_slice(&data.vertices).to_vec(),
                        uvs: bytemuck::cast_slice(&data.uvs).to_vec(),
                        tangents: bytemuck::cast_slice(&data.tangents).to_vec(),
                    });
                }
            }
        }
        Ok(out)
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

    /// The indices as the acceleration structures hold them (large primitives in spatial
    /// order): what a ray tracing shader reads with `PrimitiveIndex()`.
    pub fn ray_tracing_indices(&self) -> &Buffer {
        self.ray_indices.as_ref().unwrap_or(&self.indices)
    }

    /// The scene triangle (index among the primitive's triangles) that ray tracing sees as
    /// triangle `t` of primitive `primitive` of mesh `mesh` (`PrimitiveIndex()` in a ray
    /// tracing shader, in [`GpuScene::ray_tracing_indices`]): large primitives are in spatial
    /// order there.
    pub fn scene_triangle(&self, mesh: usize, primitive: usize, t: u32) -> u32 {
        match self.triangle_orders.get(mesh).and_then(|m| m.get(primitive)) {
            Some(Some(order)) => order.get(t as usize).copied().unwrap_or(t),
            _ => t,
        }
    }
}

/// Where a draw comes from: a node, which placement of its mesh, and the primitive's
/// object-space centre.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrawSource {
    pub(crate) node: u32,
    pub(crate) instance: u32,
    pub(crate) center: Vec3,
    /// The primitive's index in its mesh (its geometry index in the mesh's BLAS).
    pub(crate) geometry: u32,
}

impl GpuDraw {
    /// A draw at `world` (model and normal matrices, mirror flag); the rest zero.
    pub(crate) fn placed(world: Mat4) -> Self {
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
            sphere_vertices: 0,
            flags: 0,
        }
    }
}

/// Whether every material of `draws` is Lambertian (one missing is not).
fn draws_lambert(draws: &[GpuDraw], materials: &[GpuMaterial]) -> bool {
    draws.iter().all(|d| materials.get(d.material as usize).is_some_and(GpuMaterial::is_lambert))
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
                uv_transforms: uv_rows(m, 0),
                layers0: [
                    m.ior.max(0.0),
                    m.transmission.clamp(0.0, 1.0),
                    m.thickness.max(0.0),
                    m.clearcoat_roughness.clamp(0.0, 1.0),
                ],
                layers1: {
                    let sigma = attenuation_coefficient(m);
                    [sigma[0], sigma[1], sigma[2], m.clearcoat.clamp(0.0, 1.0)]
                },
                layers2: [
                    m.sheen_color[0].max(0.0),
                    m.sheen_color[1].max(0.0),
                    m.sheen_color[2].max(0.0),
                    m.sheen_roughness.clamp(0.0, 1.0),
                ],
                uv_transforms2: uv_rows(m, 5),
                textures2: [
                    tex(m.transmission_texture),
                    tex(m.clearcoat_texture),
                    tex(m.clearcoat_roughness_texture),
                    tex(m.sheen_color_texture),
                    tex(m.sheen_roughness_texture),
                ],
                pad2: [0; 3],
            }
        })
        .collect()
}

/// KHR_materials_volume's attenuation as a coefficient per channel, -ln(color) / distance
/// (0 without a volume or at an infinite distance; a black channel absorbs everything within
/// a micrometre).
fn attenuation_coefficient(m: &scene::Material) -> [f32; 3] {
    let d = m.attenuation_distance;
    if m.thickness <= 0.0 || !(d.is_finite() && d > 0.0) {
        return [0.0; 3];
    }
    m.attenuation_color.map(|c| (-c.clamp(1e-6, 1.0).ln() / d).min(1e6))
}

/// The rows of the UV transforms of a material's five texture slots from `first`, the set in
/// the first row's w (colormap materials read their scalar from the first set, untransformed).
fn uv_rows(m: &scene::Material, first: usize) -> [[f32; 4]; 10] {
    let mut rows = [[0.0; 4]; 10];
    for (k, t) in m.uv_transforms.iter().skip(first).take(5).enumerate() {
        let slot = first + k;
        let t = if m.colormap.is_some() && slot == 0 { scene::UvTransform::default() } else { *t };
        let [a, b] = t.rows();
        rows[2 * k] = [a[0], a[1], a[2], t.set.min(1) as f32];
        rows[2 * k + 1] = [b[0], b[1], b[2], 0.0];
    }
    rows
}

/// Per light of [`build_lights`]: whether it casts shadows.
fn light_shadows(scene: &Scene) -> Vec<bool> {
    scene
        .nodes
        .iter()
        .filter_map(|n| n.light.and_then(|l| scene.lights.get(l)))
        .map(|l| l.shadows)
        .collect()
}

/// The light list in world space.
fn build_lights(scene: &Scene) -> Vec<GpuLight> {
    let mut lights = Vec::new();
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
        lights.push(GpuLight {
            position_kind: [pos.x, pos.y, pos.z, kind],
            direction_cos_outer: [dir.x, dir.y, dir.z, cos_outer],
            radiance_cos_inner: [rad[0], rad[1], rad[2], cos_inner],
            range: [l.range.filter(|r| *r > 0.0).unwrap_or(0.0), 0.0, 0.0, 0.0],
        });
    }
    lights
}
