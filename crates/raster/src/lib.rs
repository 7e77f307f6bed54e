//! # raster: `Renderer` #1, a forward PBR rasterizer
//!
//! The environment as background, then every mesh draw shaded with the shared BRDF
//! (`shaders/xpg/brdf.slang`) under the scene's punctual lights, image-based lighting from the
//! environment (prefiltered maps made once per scene, [`ibl`]), emission from front faces,
//! textures, alpha masks and MSAA (resolved into the target). Everything is a framegraph pass;
//! the per-view constants are written by a transfer pass (`vkCmdUpdateBuffer`) so the graph
//! orders them against the draws of this and the previous frame.
//!
//! Lights cast shadows (unless their `shadows` is off): cascades fitted to the view for a
//! directional light, one depth layer for a spot light, a cube of six for a point light (up to
//! [`MAX_SHADOW_LAYERS`]; the matrices are the raster's, made in `shadows.rs`), 3x3 PCF. The maps are kept across frames and drawn
//! again only when what casts into them changed; nodes whose `cast_shadows` is off are left
//! out of them.
//! Blended surfaces are composited by depth peeling (exact), weighted blended sums or sorted
//! per draw, chosen per viewport ([`Transparency`], `oit.rs`).
//!
//! An optional reference grid ([`Grid`]) is blended over the opaque result, depth tested.
//! Line sets are screen-space rectangles of a width in pixels, depth tested and written; point
//! sets are screen-space splats.

mod ao;
mod area;
mod clusters;
mod ibl;
mod list;
mod oit;
mod shadows;
mod sun;

pub use area::MAX_AREA_LIGHTS;

pub use oit::{PeelStats, Transparency, MAX_PEEL_LAYERS};
pub use shadows::MAX_SHADOW_LAYERS;

use framegraph::{Access, Bind, FrameGraph, ImageHandle, ImageInfo};
use glam::Mat4;
use render::{
    check_setting, GpuLight, GpuScene, Hooks, RenderError, RenderOutputs, RenderTargets, Renderer,
    Setting, SettingValue,
};
use scene::View;
use xpg::vk;
use xpg::{
    Buffer, BufferDesc, Context, GraphicsDesc, MemoryUsage, Pipeline, Sampler, ShaderCompiler,
    ShaderDesc,
};

/// Bytes per `VkDrawIndexedIndirectCommand`.
const INDIRECT_STRIDE: u32 = 20;

/// Format of the HDR target the raster renderer draws into.
/// (Half floats: half the bandwidth of 32-bit targets, which fill-rate-poor compute GPUs feel;
/// ~3 significant digits, enough for display and for EXR output.)
pub const HDR_FORMAT: vk::Format = vk::Format::R16G16B16A16_SFLOAT;
const DEPTH_FORMAT: vk::Format = vk::Format::D32_SFLOAT;
/// Format of the view's shadow maps (directional lights' cascades, drawn again whenever the
/// camera or the light moves) when their depth range allows it (`Shadows::view_depth_16`):
/// 16-bit depth writes and clears cost the fill-bound H100 a fifth less per layer than
/// 32-bit ones (turning sun 1.30 -> 1.06 ms). Their projection is orthographic (depth linear
/// in distance): one step of 1 / 65535 of the depth range, which the shader adds to the bias,
/// is at most a texel there. Spot, point and emitter maps (perspective depth, drawn rarely)
/// and cascades of deeper ranges keep [`DEPTH_FORMAT`].
const CASCADE_FORMAT: vk::Format = vk::Format::D16_UNORM;

/// Per-view constants (`shaders/raster/frame.slang`).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FrameData {
    view_proj: [[f32; 4]; 4],
    inv_view_proj: [[f32; 4]; 4],
    camera_pos: [f32; 4],
    env_mean_kind: [f32; 4],
    light_count: u32,
    width: u32,
    height: u32,
    area_count: u32,
    view_forward: [f32; 4],
    cluster_depth: [f32; 4],
    cluster_grid: [u32; 4],
    ao: [f32; 4],
    shadow_split: [u32; 4],
    /// The grid when the visibility buffer's shading draws it (spacing 0 when not).
    grid: GridStyle,
    /// The visibility buffer's triangle numbering ([`triangle_bases`]): the buffer's device
    /// address and its number of draws.
    triangle_bases: u64,
    draw_count: u32,
    pad: u32,
    /// The area lights' LTC table ([`area::ltc_table`]): its device address (0: no area
    /// lights).
    ltc: u64,
    pad2: [u32; 2],
}

/// `GridStyle` of shaders/raster/frame.slang (32 bytes with its padding).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct GridStyle {
    color: [f32; 4],
    spacing: f32,
    up: u32,
    fade: f32,
    pad: u32,
}

impl GridStyle {
    fn of(grid: &Grid) -> Self {
        Self {
            color: [grid.color[0], grid.color[1], grid.color[2], grid.opacity],
            spacing: grid.spacing,
            up: match grid.up {
                GridUp::Y => 1,
                GridUp::Z => 2,
            },
            fade: grid.fade,
            pad: 0,
        }
    }
}

/// Push constants of every raster pass (`RasterPush` in shaders/raster/frame.slang).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RasterPush {
    frame: u64,
    vertices: u64,
    draws: u64,
    materials: u64,
    lights: u64,
    shadows: u64,
    light_shadows: u64,
    uvs: u64,
    tangents: u64,
    sh: u64,
    hidden: u64,
    draw: u32,
    shadow_layer: u32,
    oit: u64,
    peel_layer: u32,
    peel_draws: u32,
    area_lights: u64,
    clusters: u64,
}

/// Which plane the reference grid lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridUp {
    /// The XZ plane (glTF's +Y up).
    Y,
    /// The XY plane (+Z up, common for scans and robotics data).
    Z,
}

/// The reference grid drawn over the scene (depth tested, not written).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// World units between lines; every tenth line is stronger.
    pub spacing: f32,
    /// The plane's normal axis.
    pub up: GridUp,
    /// Linear color of the lines.
    pub color: [f32; 3],
    /// Opacity of the minor lines (major lines and the axes are opaque).
    pub opacity: f32,
    /// Distance from the eye at which the lines have faded out (perspective views).
    pub fade: f32,
}

impl Grid {
    /// Checks the settings: finite color, opacity in [0, 1], spacing and fade distance
    /// positive and not so small that the shader's line coordinates overflow.
    pub fn validate(&self) -> Result<(), RenderError> {
        let ok = self.color.iter().all(|c| c.is_finite() && *c >= 0.0)
            && (0.0..=1.0).contains(&self.opacity)
            && self.spacing.is_finite()
            && self.spacing >= 1e-6
            && self.fade.is_finite()
            && self.fade > 0.0;
        if ok {
            Ok(())
        } else {
            Err(RenderError::BadSetting {
                renderer: "raster".into(),
                key: "grid".into(),
                value: format!("{self:?}"),
                why: "color finite and >= 0, opacity in [0, 1], spacing >= 1e-6 and fade > 0 \
                      are required"
                    .into(),
            })
        }
    }
}

impl Default for Grid {
    fn default() -> Self {
        Self { spacing: 1.0, up: GridUp::Y, color: [0.5; 3], opacity: 0.5, fade: 100.0 }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GridPush {
    frame: u64,
    pad0: u64,
    style: GridStyle,
}

/// The visibility buffer's pipelines.
struct Visibility {
    triangles: Pipeline,
    spheres: Pipeline,
    shade: Pipeline,
    /// `shade` for scenes whose every material is Lambertian (forward.slang's LAMBERT=1:
    /// fewer registers, more threads in flight), made on the first frame of such a scene.
    lambert_code: xpg::EntryPointCode,
    lambert: Option<Pipeline>,
}

/// Format of the visibility buffer: a number for each triangle (or sphere) of the frame's
/// draws, from 1 (0: nothing), [`triangle_bases`]. Half the bytes of a (draw, triangle) pair:
/// the pass took 0.50 ms instead of 0.74 at 1080p on an H100.
const VISIBILITY_FORMAT: vk::Format = vk::Format::R32_UINT;

/// The visibility buffer's number of the first triangle of each draw: 1, then each draw's
/// triangles after the previous (a sphere draw's spheres are fewer than its triangles).
/// None when the numbers pass `u32` (the scene is drawn without the visibility buffer).
fn triangle_bases(draws: &[render::GpuDraw]) -> Option<Vec<u32>> {
    let mut next = 1u64;
    let mut out = Vec::with_capacity(draws.len());
    for d in draws {
        out.push(u32::try_from(next).ok()?);
        next += u64::from(d.index_count / 3);
    }
    u32::try_from(next).ok()?;
    Some(out)
}

/// The raster renderer.
pub struct Raster {
    /// The reference grid, if drawn.
    pub grid: Option<Grid>,
    grid_pipeline: Pipeline,
    /// Lines and points (shared with the other renderers).
    overlay: render::Overlay,
    background: Pipeline,
    /// Forward variants indexed by `vertex colors | textured << 1`.
    forward: [Pipeline; 4],
    /// Opaque spheres as ray-cast impostors ([`render::DrawGroup::spheres`]).
    sphere_impostors: Pipeline,
    /// Without MSAA: the visibility pass (triangles, sphere impostors) and the compute pass
    /// that shades what it saw.
    visibility: Option<Visibility>,
    /// Opaque untextured surfaces through the visibility buffer (without MSAA): drawn by a
    /// pass that only writes which triangle is nearest, shaded once per pixel in compute
    /// (fragment work is scarce on compute GPUs: an H100 runs it on two of its TPCs).
    pub visibility_buffer: bool,
    /// The transparent pass (vertex colors and textures, premultiplied blending, depth tested
    /// but not written).
    forward_blended: Pipeline,
    /// How blended surfaces are composited.
    pub transparency: Transparency,
    /// Depth peeling and weighted blended transparency.
    oit: oit::Oit,
    /// Shadow pipelines: into [`DEPTH_FORMAT`] maps (the shared ones, the view's when deep) and
    /// into [`CASCADE_FORMAT`] ones (the view's), each plain and with the alpha test of masked
    /// materials (textured draws).
    shadow: [[Pipeline; 2]; 2],
    shadow_sampler: Sampler,
    /// Width and height of each shadow map layer.
    pub shadow_size: u32,
    /// Nodes this view does not draw (a viewport's visibility mask): their draws are culled
    /// in the vertex shaders (forward, transparent and shadow passes alike).
    pub hidden_nodes: std::collections::BTreeSet<u32>,
    /// The grid's style while it is off (what the `grid` setting turns on).
    grid_style: Grid,
    /// The frame constants, then (with hidden nodes) one bit per draw.
    frame_buffer: Buffer,
    env_sampler: Sampler,
    ibl: ibl::Ibl,
    /// Shadow matrices and per-light parameters of the current scene.
    shadows: shadows::Shadows,
    /// Emissive triangles lighting the scene.
    area: area::AreaLights,
    /// [`triangle_bases`] of the scene's draws, and for which scene (id, structure, draws):
    /// None until made; an empty list when they do not fit.
    triangle_bases: list::DeviceList<u32>,
    bases_of: Option<(u64, u64, usize)>,
    /// Whether they do (else emission is only seen, as without area lights).
    pub area_lights: bool,
    /// Emitters with a shadow map at most (the strongest; within the layers that the
    /// punctual lights leave).
    pub area_light_shadows: u32,
    /// The lights that cast into shadow maps this frame when emitters do: the shading lights,
    /// then the emitters' (reused storage).
    shadow_lights: (Vec<GpuLight>, Vec<bool>),
    /// The environment's sun (an HDR sky's) as a shadowed directional light, taken out of
    /// the image-based lighting.
    pub environment_sun: bool,
    sun: sun::SunLight,
    /// Clustered light culling (else every light shades every fragment).
    pub clustered: bool,
    /// Irradiance (W/m^2) below which a point or spot light or an emissive triangle is left
    /// out of a cluster.
    pub light_cutoff: f32,
    /// Share of a cluster's light that its weakest lights may take away: they are left out
    /// while what they could bring together stays at most this share of what the cluster's
    /// lights bring at least (to a surface facing them, unoccluded) (0: none).
    pub light_share: f32,
    clusters: clusters::Clusters,
    /// Screen-space ambient occlusion of the environment's light (when the scene has an
    /// environment).
    pub ambient_occlusion: bool,
    /// Its radius in world units (0: from the view and the scene's size).
    pub ao_radius: f32,
    ao: ao::Ao,
    msaa: u32,
    ctx: Context,
}

impl std::fmt::Debug for Raster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raster").finish()
    }
}

impl Raster {
    /// What depth peeling did two frames ago (None before that, or when it did not run).
    pub fn peel_stats(&self) -> Option<PeelStats> {
        self.oit.stats
    }

    /// How many times the shadow maps were drawn (again only when what casts into them
    /// changed).
    pub fn shadow_renders(&self) -> u64 {
        self.shadows.renders
    }

    /// How many shadow map layers this renderer drew in its last frame (those of spot and
    /// point lights only when no other viewport of the scene drew them first).
    pub fn shadow_layers_drawn(&self) -> usize {
        self.shadows.layers_drawn
    }

    /// How many times the image-based lighting maps were made (once per scene drawn; later
    /// frames reuse them).
    pub fn ibl_builds(&self) -> u64 {
        self.ibl.builds
    }

    /// Compiles the shaders (from the project's `shaders/` through `compiler`) and builds the
    /// pipelines; no multisampling.
    pub fn new(ctx: &Context, compiler: &ShaderCompiler) -> Result<Self, RenderError> {
        Self::with_msaa(ctx, compiler, 1)
    }

    /// [`Raster::new`] with `samples` samples per pixel (1: off; 2, 4, 8 as the device
    /// supports for float color and depth attachments), resolved into the target.
    pub fn with_msaa(
        ctx: &Context,
        compiler: &ShaderCompiler,
        samples: u32,
    ) -> Result<Self, RenderError> {
        let supported = ctx.caps().framebuffer_sample_counts;
        if !samples.is_power_of_two()
            || !supported.contains(vk::SampleCountFlags::from_raw(samples))
        {
            return Err(RenderError::Unsupported(format!(
                "MSAA with {samples} samples: this device supports {:?}",
                (0..7)
                    .map(|b| 1u32 << b)
                    .filter(|&n| supported.contains(vk::SampleCountFlags::from_raw(n)))
                    .collect::<Vec<_>>()
            )));
        }
        let sample_flags = vk::SampleCountFlags::from_raw(samples);
        let dir = compiler.shader_dir().to_path_buf();
        let heap = ctx.bindless()?;
        let entry = |c: &xpg::CompiledShader, n: &str| {
            c.entry(n).cloned().ok_or_else(|| RenderError::MissingEntry {
                shader: "raster".into(),
                entry: n.into(),
            })
        };
        // A pipeline from a file's `vs_main` and `fs_main`, drawing into the HDR target.
        let graphics = |file: &str,
                        name: &str,
                        depth: Option<(bool, vk::CompareOp)>,
                        blend: bool|
         -> Result<Pipeline, RenderError> {
            let code = compiler.compile(&ShaderDesc::new(dir.join(file)))?;
            let (vs, fs) = (entry(&code, "vs_main")?, entry(&code, "fs_main")?);
            let mut desc = GraphicsDesc::new(name, &vs, &fs, HDR_FORMAT);
            if let Some((write, compare)) = depth {
                desc = desc.depth(DEPTH_FORMAT, write, compare);
            }
            desc.blend = blend;
            desc.samples = sample_flags;
            Ok(Pipeline::graphics(ctx, &desc, None)?)
        };
        let background = graphics("raster/background.slang", "raster background", None, false)?;
        let msaa_flag = if samples > 1 { "1" } else { "0" };
        // `oit`: 0 sorted blending (or opaque), 1 a peeled layer, 2 weighted sums.
        // `spheres`: the impostor variant (SPHERES=1 in forward.slang).
        let defines = |colors: bool, textured: bool, blended: bool, oit: u32, spheres: bool| {
            let flag = |b: bool| if b { "1" } else { "0" }.to_string();
            vec![
                ("VERTEX_COLORS".into(), flag(colors)),
                ("TEXTURED".into(), flag(textured)),
                ("BLENDED".into(), flag(blended)),
                ("OIT".into(), oit.to_string()),
                ("MSAA".into(), msaa_flag.into()),
                ("SPHERES".into(), flag(spheres)),
            ]
        };
        let forward_pipeline = |colors: bool, textured: bool, blended: bool, oit: u32, spheres| {
            // OIT 3: a peeled layer's depth pass (OIT=1's `fs_depth`).
            let (define, fragment) = if oit == 3 { (1, "fs_depth") } else { (oit, "fs_main") };
            let code = compiler.compile(&ShaderDesc {
                defines: defines(colors, textured, blended, define, spheres),
                ..ShaderDesc::new(dir.join("raster/forward.slang"))
            })?;
            let (vs, fs) = (entry(&code, "vs_main")?, entry(&code, fragment)?);
            let name = format!(
                "raster forward{}{}{}{}{}",
                if spheres { ", sphere impostors" } else { "" },
                if colors { ", vertex colors" } else { "" },
                if textured { ", textured" } else { "" },
                if blended { ", blended" } else { "" },
                ["", ", peeled", ", weighted", ", peeled depth"][oit as usize]
            );
            let mut desc = GraphicsDesc::new(&name, &vs, &fs, HDR_FORMAT);
            desc = match oit {
                0 => {
                    desc.blend = blended;
                    desc.depth(
                        DEPTH_FORMAT,
                        !blended,
                        if blended { vk::CompareOp::LESS_OR_EQUAL } else { vk::CompareOp::LESS },
                    )
                }
                _ => oit::Oit::forward_desc(desc, oit, DEPTH_FORMAT),
            };
            desc.samples = sample_flags;
            Ok::<_, RenderError>(Pipeline::graphics(ctx, &desc, Some(heap))?)
        };
        let forward_variant = |colors: bool, textured: bool, blended: bool, oit: u32| {
            forward_pipeline(colors, textured, blended, oit, false)
        };
        let sphere_impostors = forward_pipeline(true, false, false, 0, true)?;
        // The visibility pass reads the primitive ID in its fragment shader (geometry shader
        // feature).
        let visibility = if samples == 1 && ctx.caps().geometry_shader {
            let code = compiler.compile(&ShaderDesc::new(dir.join("raster/visibility.slang")))?;
            let (vs, fs) = (entry(&code, "vs_main")?, entry(&code, "fs_main")?);
            let desc = GraphicsDesc::new("raster visibility", &vs, &fs, VISIBILITY_FORMAT).depth(
                DEPTH_FORMAT,
                true,
                vk::CompareOp::LESS,
            );
            let triangles = Pipeline::graphics(ctx, &desc, Some(heap))?;
            let code = compiler.compile(&ShaderDesc {
                defines: defines(true, false, false, 0, true),
                ..ShaderDesc::new(dir.join("raster/forward.slang"))
            })?;
            let (vs, fs) = (entry(&code, "vs_main")?, entry(&code, "fs_visibility")?);
            let desc = GraphicsDesc::new("raster visibility, spheres", &vs, &fs, VISIBILITY_FORMAT)
                .depth(DEPTH_FORMAT, true, vk::CompareOp::LESS);
            let spheres = Pipeline::graphics(ctx, &desc, Some(heap))?;
            let mut shade_defines = defines(true, false, false, 0, false);
            shade_defines.push(("VISIBILITY".into(), "1".into()));
            let code = compiler.compile(&ShaderDesc {
                defines: shade_defines.clone(),
                ..ShaderDesc::new(dir.join("raster/forward.slang"))
            })?;
            let shade = Pipeline::compute(ctx, &entry(&code, "cs_shade")?, Some(heap))?;
            shade_defines.push(("LAMBERT".into(), "1".into()));
            let code = compiler.compile(&ShaderDesc {
                defines: shade_defines,
                ..ShaderDesc::new(dir.join("raster/forward.slang"))
            })?;
            let lambert_code = entry(&code, "cs_shade")?;
            Some(Visibility { triangles, spheres, shade, lambert_code, lambert: None })
        } else {
            None
        };
        let forward = [
            forward_variant(false, false, false, 0)?,
            forward_variant(true, false, false, 0)?,
            forward_variant(false, true, false, 0)?,
            forward_variant(true, true, false, 0)?,
        ];
        let forward_blended = forward_variant(true, true, true, 0)?;
        let compile_oit = |mode: u32| {
            let code = compiler.compile(&ShaderDesc {
                defines: vec![("MODE".into(), mode.to_string()), ("MSAA".into(), msaa_flag.into())],
                ..ShaderDesc::new(dir.join("raster/oit.slang"))
            })?;
            Ok::<_, RenderError>((entry(&code, "vs_main")?, entry(&code, "fs_main")?))
        };
        let oit = oit::Oit::new(
            ctx,
            forward_variant(true, true, true, 3)?,
            forward_variant(true, true, true, 1)?,
            forward_variant(true, true, true, 2)?,
            &compile_oit,
            samples,
        )?;
        // Per textured: one compile, a pipeline for each map format ([`DEPTH_FORMAT`], then
        // [`CASCADE_FORMAT`]).
        let shadow_variant = |textured: bool| {
            let code = compiler.compile(&ShaderDesc {
                defines: vec![("TEXTURED".into(), if textured { "1" } else { "0" }.into())],
                ..ShaderDesc::new(dir.join("raster/shadow.slang"))
            })?;
            let svs = entry(&code, "vs_main")?;
            let sfs = if textured { Some(entry(&code, "fs_alpha")?) } else { None };
            let pipeline =
                |format: vk::Format| {
                    let mut sdesc =
                        GraphicsDesc::new("raster shadow", &svs, &svs, vk::Format::UNDEFINED)
                            .depth(format, true, vk::CompareOp::LESS);
                    sdesc.fragment = sfs.as_ref();
                    sdesc.color_formats.clear();
                    Pipeline::graphics(ctx, &sdesc, Some(heap))
                };
            Ok::<_, RenderError>([pipeline(DEPTH_FORMAT)?, pipeline(CASCADE_FORMAT)?])
        };
        let [shadow, cascade] = shadow_variant(false)?;
        let [shadow_alpha, cascade_alpha] = shadow_variant(true)?;
        let shadow = [[shadow, shadow_alpha], [cascade, cascade_alpha]];
        let overlay = render::Overlay::new(ctx, compiler, HDR_FORMAT, samples)?;
        // Depth tested, not written; blended.
        let grid_depth = Some((false, vk::CompareOp::LESS_OR_EQUAL));
        let grid_pipeline = graphics("raster/grid.slang", "raster grid", grid_depth, true)?;
        let shadow_sampler = Sampler::new(
            ctx,
            &vk::SamplerCreateInfo::default()
                .mag_filter(vk::Filter::LINEAR)
                .min_filter(vk::Filter::LINEAR)
                .address_mode_u(vk::SamplerAddressMode::CLAMP_TO_EDGE)
                .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_EDGE)
                .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_EDGE)
                .compare_enable(true)
                .compare_op(vk::CompareOp::LESS_OR_EQUAL),
        )?;
        let frame_buffer = frame_constants_buffer(ctx, size_of::<FrameData>() as u64)?;
        let env_sampler = Sampler::new(
            ctx,
            &vk::SamplerCreateInfo::default()
                .mag_filter(vk::Filter::LINEAR)
                .min_filter(vk::Filter::LINEAR)
                .address_mode_u(vk::SamplerAddressMode::REPEAT)
                .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_EDGE)
                .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_EDGE)
                .max_lod(vk::LOD_CLAMP_NONE),
        )?;
        Ok(Self {
            grid: None,
            grid_pipeline,
            overlay,
            background,
            forward,
            sphere_impostors,
            visibility,
            visibility_buffer: true,
            forward_blended,
            transparency: Transparency::default(),
            oit,
            shadow,
            shadow_sampler,
            shadow_size: 2048,
            frame_buffer,
            hidden_nodes: Default::default(),
            grid_style: Grid::default(),
            env_sampler,
            ibl: ibl::Ibl::new(ctx, compiler)?,
            shadows: Default::default(),
            area: Default::default(),
            triangle_bases: list::DeviceList::new("raster triangle bases"),
            bases_of: None,
            area_lights: true,
            area_light_shadows: 2,
            shadow_lights: Default::default(),
            environment_sun: false,
            sun: Default::default(),
            clustered: true,
            light_cutoff: 1e-3,
            light_share: 0.05,
            clusters: clusters::Clusters::new(ctx, compiler)?,
            ambient_occlusion: true,
            ao_radius: 0.0,
            ao: ao::Ao::new(ctx, compiler, defines(true, false, false, 0, true))?,
            msaa: samples,
            ctx: ctx.clone(),
        })
    }
}

fn attachment(
    view: vk::ImageView,
    load: vk::AttachmentLoadOp,
) -> vk::RenderingAttachmentInfo<'static> {
    vk::RenderingAttachmentInfo::default()
        .image_view(view)
        .image_layout(vk::ImageLayout::ATTACHMENT_OPTIMAL)
        .load_op(load)
        .store_op(vk::AttachmentStoreOp::STORE)
        .clear_value(vk::ClearValue {
            depth_stencil: vk::ClearDepthStencilValue { depth: 1.0, stencil: 0 },
        })
}

/// The raster renderer's per-view constants (and visibility mask), `size` bytes.
fn frame_constants_buffer(ctx: &Context, size: u64) -> Result<Buffer, RenderError> {
    Ok(Buffer::new(
        ctx,
        &BufferDesc {
            size,
            usage: vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::TRANSFER_DST,
            memory: MemoryUsage::GpuOnly,
            name: "raster frame constants",
        },
    )?)
}

/// The scene's buffers that [`GpuScene::update`] may rewrite, imported into the frame's graph.
struct SceneBuffers {
    draws: framegraph::BufferHandle,
    materials: framegraph::BufferHandle,
    lights: framegraph::BufferHandle,
    /// The raster's own shadow matrices and per-light parameters (written by a pass of this
    /// graph when the lights changed).
    shadows: framegraph::BufferHandle,
    /// The area lights, if any (written by a pass of this graph when they changed).
    area: Option<framegraph::BufferHandle>,
    /// Their LTC table, with them.
    ltc: Option<framegraph::BufferHandle>,
    /// Each light cluster's lights (written by a pass of this graph), when culling.
    clusters: Option<framegraph::BufferHandle>,
}

impl SceneBuffers {
    /// Declares what the forward shading reads (every variant: opaque, sorted, peeled,
    /// weighted): the scene's buffers, the lighting's maps and the frame constants `fb`.
    fn shading_reads<'p, 'g>(
        &self,
        pass: framegraph::PassBuilder<'p, 'g>,
        lighting: &Lighting,
        fb: &framegraph::BufferHandle,
    ) -> framegraph::PassBuilder<'p, 'g> {
        self.shading_reads_in(pass, lighting, fb, false)
    }

    /// [`SceneBuffers::shading_reads`] by the vertex and fragment stages, or (`compute`) by a
    /// compute shader (the visibility buffer's shading).
    fn shading_reads_in<'p, 'g>(
        &self,
        pass: framegraph::PassBuilder<'p, 'g>,
        lighting: &Lighting,
        fb: &framegraph::BufferHandle,
        compute: bool,
    ) -> framegraph::PassBuilder<'p, 'g> {
        let (vertex, storage, sampled) = if compute {
            (Access::StorageReadCompute, Access::StorageReadCompute, Access::SampledCompute)
        } else {
            (Access::StorageReadVertex, Access::StorageReadFragment, Access::SampledFragment)
        };
        let pass = match (&self.area, &self.ltc) {
            (Some(a), Some(l)) => pass.read(a, storage).read(l, storage),
            (Some(a), None) => pass.read(a, storage),
            _ => pass,
        };
        let pass = match &self.clusters {
            Some(c) => pass.read(c, storage),
            None => pass,
        };
        let pass = pass
            .read(&self.draws, vertex)
            .read(&self.materials, storage)
            .read(&self.lights, storage)
            .read(&self.shadows, storage)
            .read(&lighting.shadow_maps, sampled)
            .read(&lighting.shared_maps, sampled)
            .read(&lighting.ibl.sh, storage)
            .read(&lighting.ibl.prefiltered, sampled)
            .read(&lighting.ibl.lut, sampled);
        if compute {
            pass.read(fb, storage)
        } else {
            pass.read(fb, vertex).read(fb, storage)
        }
    }

    /// Imports them (the same resources as an update's earlier in this graph, if any; else
    /// last read by an earlier frame, their upload made visible before).
    fn import(
        graph: &mut FrameGraph<'_>,
        scene: &GpuScene,
        shadows: framegraph::BufferHandle,
        area: Option<framegraph::BufferHandle>,
    ) -> Self {
        let mut import = |b: &Buffer, a: Access| graph.import_buffer(b.name(), b, Some(a), None);
        Self {
            draws: import(&scene.draws, Access::StorageReadVertex),
            materials: import(&scene.materials, Access::StorageReadFragment),
            lights: import(&scene.lights, Access::StorageReadFragment),
            shadows,
            area,
            ltc: None,
            clusters: None,
        }
    }
}

/// What the forward shading samples besides the scene: shadow maps and IBL maps (set 1).
#[derive(Clone, Copy)]
struct Lighting {
    /// The view's shadow maps (cascades).
    shadow_maps: ImageHandle,
    /// The scene's shared ones (spot and point lights).
    shared_maps: ImageHandle,
    shadow_sampler: vk::Sampler,
    ibl: ibl::IblHandles,
    ibl_sampler: vk::Sampler,
    lut_sampler: vk::Sampler,
}

impl Lighting {
    fn new(
        ibl: &ibl::Ibl,
        shadow_sampler: vk::Sampler,
        [shadow_maps, shared_maps]: [ImageHandle; 2],
        maps: ibl::IblHandles,
    ) -> Self {
        Self {
            shadow_maps,
            shared_maps,
            shadow_sampler,
            ibl: maps,
            ibl_sampler: ibl.sampler.raw(),
            lut_sampler: ibl.lut_sampler.raw(),
        }
    }

    /// Bindings 0 to 3 of shaders/raster/forward.slang.
    fn binds(&self) -> [Bind<'_>; 4] {
        let sampled =
            |binding, image, sampler| Bind::Sampled { binding, image, mip: None, sampler };
        [
            sampled(0, &self.shadow_maps, self.shadow_sampler),
            sampled(1, &self.shared_maps, self.shadow_sampler),
            sampled(2, &self.ibl.prefiltered, self.ibl_sampler),
            sampled(3, &self.ibl.lut, self.lut_sampler),
        ]
    }
}

/// A depth attachment that is tested against, not written (`Access::DepthAttachmentRead`).
fn depth_read_only(view: vk::ImageView) -> vk::RenderingAttachmentInfo<'static> {
    attachment(view, vk::AttachmentLoadOp::LOAD)
        .image_layout(vk::ImageLayout::READ_ONLY_OPTIMAL)
        .store_op(vk::AttachmentStoreOp::NONE)
}

/// Every mesh draw of the scene as one indexed indirect multi-draw.
#[derive(Clone, Copy)]
struct MeshDraws {
    index_buffer: vk::Buffer,
    /// The index buffer's device address (the visibility buffer's shading reads it).
    index_address: u64,
    indirect: vk::Buffer,
    first: u32,
    count: u32,
}

impl MeshDraws {
    fn of(scene: &GpuScene) -> Self {
        Self {
            index_buffer: scene.indices.raw(),
            index_address: scene.indices.address(),
            indirect: scene.indirect.raw(),
            first: 0,
            count: scene.draw_list.len() as u32,
        }
    }

    /// The draws of one variant group.
    fn group(self, g: &render::DrawGroup) -> Self {
        Self { first: g.first, count: g.count, ..self }
    }

    /// Records the draws (the pipeline and push constants are bound by the caller).
    fn record(self, device: &xpg::ash::Device, cmd: vk::CommandBuffer) {
        if self.count == 0 {
            return;
        }
        // SAFETY: inside a rendering scope; the indirect buffer holds `count` commands whose
        // indices lie inside the scene's index buffer (GpuScene::upload validated them).
        unsafe {
            device.cmd_bind_index_buffer(cmd, self.index_buffer, 0, vk::IndexType::UINT32);
            let offset = u64::from(self.first) * u64::from(INDIRECT_STRIDE);
            device.cmd_draw_indexed_indirect(
                cmd,
                self.indirect,
                offset,
                self.count,
                INDIRECT_STRIDE,
            );
        }
    }
}

/// Records group `g`'s draws (pipeline and push constants bound by the caller): its indexed
/// draws, or for impostor spheres 6 vertices per sphere of each of `spheres` (draw, vertices).
fn draw_group(
    device: &xpg::ash::Device,
    cmd: vk::CommandBuffer,
    g: &render::DrawGroup,
    meshes: MeshDraws,
    spheres: &[(u32, u32)],
) {
    if !g.spheres {
        meshes.group(g).record(device, cmd);
        return;
    }
    for &(draw, vertices) in spheres {
        // SAFETY: inside a rendering scope (the caller's); the vertex shader reads vertices 0
        // and 3 of each of the draw's spheres, inside its range (upload checked that its
        // vertices are whole spheres).
        unsafe { device.cmd_draw(cmd, vertices, 1, 0, draw) };
    }
}

/// The sphere draws ([`render::DrawGroup::spheres`]) as (draw, vertices to draw: 6 per sphere).
fn sphere_draws(scene: &GpuScene) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for g in scene.groups.iter().filter(|g| g.spheres) {
        for i in g.first..g.first + g.count {
            let Some(d) = scene.draw_list.get(i as usize) else { continue };
            // A closed triangulated sphere of v vertices has 2 v - 4 triangles.
            let per_sphere = 3 * (2 * d.sphere_vertices.max(3) - 4);
            out.push((i, 6 * (d.index_count / per_sphere)));
        }
    }
    out
}

impl Renderer for Raster {
    fn name(&self) -> &str {
        "raster"
    }

    fn hdr_format(&self) -> vk::Format {
        HDR_FORMAT
    }

    fn add_passes<'g>(
        &'g mut self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        targets: RenderTargets<'_>,
        hooks: &mut Hooks<'_, 'g>,
    ) -> Result<RenderOutputs, RenderError> {
        let depth = self.record_passes(graph, scene, view, targets.color, hooks)?;
        Ok(RenderOutputs { depth })
    }

    fn status(&self) -> Option<String> {
        let peeling =
            self.oit.stats.filter(|_| self.transparency == Transparency::Peeling).map(|s| {
                format!(
                    "{} peeled layer{}{}",
                    s.layers,
                    if s.layers == 1 { "" } else { "s" },
                    if s.cap_hit { " (the cap: raise peel_layers)" } else { "" }
                )
            });
        let dropped = self.shadows.dropped;
        let shadows = (dropped > 0).then(|| {
            format!("{dropped} light(s) without shadows (past {MAX_SHADOW_LAYERS} map layers)")
        });
        let parts: Vec<String> = [peeling, shadows].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    fn set_hidden_nodes(&mut self, nodes: &std::collections::BTreeSet<u32>) {
        self.hidden_nodes.clone_from(nodes);
    }

    fn scene_changed(&mut self, scene: &scene::Scene, gpu: &GpuScene) {
        self.area.rebuild(scene, gpu);
        self.sun.scene_changed(scene, gpu);
    }

    fn settings(&self) -> Vec<Setting> {
        let g = self.grid.unwrap_or(self.grid_style);
        vec![
            Setting::count("msaa", "multisampling", self.msaa, 1, 8).fixed(),
            Setting::switch("grid", "reference grid", self.grid.is_some()),
            Setting::quantity("grid_spacing", "grid spacing", g.spacing, 0.001, 1000.0)
                .logarithmic()
                .when("grid"),
            Setting::quantity("grid_opacity", "grid opacity", g.opacity, 0.0, 1.0).when("grid"),
            Setting::switch("grid_z_up", "grid in the XY plane (+Z up)", g.up == GridUp::Z)
                .when("grid"),
            Setting::quantity("grid_fade", "grid fade distance", g.fade, 0.001, 1e9)
                .logarithmic()
                .when("grid"),
            Setting::count("shadow_size", "shadow map size", self.shadow_size, 256, 8192),
            Setting::choice(
                "transparency",
                "transparency",
                self.transparency.index(),
                &Transparency::NAMES,
            ),
            Setting::count("peel_layers", "most peeled layers", self.oit.cap, 1, MAX_PEEL_LAYERS),
            Setting::switch("area_lights", "emissive surfaces light the scene", self.area_lights),
            Setting::count(
                "area_light_shadows",
                "emitters casting shadows (the strongest)",
                self.area_light_shadows,
                0,
                (MAX_SHADOW_LAYERS / 6) as u32,
            )
            .when("area_lights"),
            Setting::switch(
                "environment_sun",
                "the sky's sun as a shadowed light",
                self.environment_sun,
            ),
            Setting::switch("clustered", "clustered light culling", self.clustered),
            Setting::switch(
                "visibility_buffer",
                "shade opaque surfaces in compute (visibility buffer; without MSAA)",
                self.visibility_buffer,
            ),
            Setting::switch(
                "ambient_occlusion",
                "ambient occlusion (of the environment's light)",
                self.ambient_occlusion,
            ),
            Setting::quantity("ao_radius", "occlusion radius (0: auto)", self.ao_radius, 0.0, 1e6)
                .logarithmic()
                .when("ambient_occlusion"),
            Setting::quantity("light_cutoff", "light cutoff (W/m^2)", self.light_cutoff, 1e-6, 1e3)
                .logarithmic()
                .when("clustered"),
            Setting::quantity(
                "light_share",
                "light left out per cluster",
                self.light_share,
                0.0,
                0.5,
            )
            .when("clustered"),
        ]
    }

    fn set(&mut self, key: &str, value: SettingValue) -> Result<(), RenderError> {
        let v = check_setting("raster", &self.settings(), key, value)?;
        let mut g = self.grid.unwrap_or(self.grid_style);
        match (key, v) {
            ("msaa", SettingValue::UInt(n)) if n == self.msaa => {}
            ("msaa", v) => {
                return Err(RenderError::BadSetting {
                    renderer: "raster".into(),
                    key: key.into(),
                    value: format!("= {v}"),
                    why: format!("fixed when the renderer is made (now {})", self.msaa),
                })
            }
            ("grid", SettingValue::Bool(on)) => self.grid = on.then_some(g),
            ("grid_spacing", SettingValue::Float(x)) => g.spacing = x,
            ("grid_opacity", SettingValue::Float(x)) => g.opacity = x,
            ("grid_fade", SettingValue::Float(x)) => g.fade = x,
            ("grid_z_up", SettingValue::Bool(z)) => g.up = if z { GridUp::Z } else { GridUp::Y },
            ("shadow_size", SettingValue::UInt(n)) => self.shadow_size = n,
            ("transparency", SettingValue::UInt(n)) => {
                self.transparency = Transparency::from_index(n as usize).unwrap_or_default()
            }
            ("peel_layers", SettingValue::UInt(n)) => self.oit.cap = n,
            ("area_lights", SettingValue::Bool(on)) => self.area_lights = on,
            ("area_light_shadows", SettingValue::UInt(n)) => self.area_light_shadows = n,
            ("environment_sun", SettingValue::Bool(on)) => self.environment_sun = on,
            ("clustered", SettingValue::Bool(on)) => self.clustered = on,
            ("visibility_buffer", SettingValue::Bool(on)) => self.visibility_buffer = on,
            ("ambient_occlusion", SettingValue::Bool(on)) => self.ambient_occlusion = on,
            ("ao_radius", SettingValue::Float(x)) => self.ao_radius = x,
            ("light_cutoff", SettingValue::Float(x)) => self.light_cutoff = x,
            ("light_share", SettingValue::Float(x)) => self.light_share = x,
            _ => {}
        }
        self.grid_style = g;
        if self.grid.is_some() {
            self.grid = Some(g);
        }
        Ok(())
    }
}

impl Raster {
    /// The factory the registry holds: `msaa` from the initial settings (default 1) and the
    /// grid in the plane of the world's up axis.
    pub fn factory(init: &render::RendererInit<'_>) -> Result<render::BoxedRenderer, RenderError> {
        let msaa = match init.setting("msaa") {
            Some(SettingValue::UInt(n)) => n,
            _ => 1,
        };
        let mut r = Raster::with_msaa(init.ctx, init.compiler, msaa)?;
        if init.z_up {
            r.grid_style.up = GridUp::Z;
        }
        Ok(Box::new(r))
    }
}

impl Raster {
    /// The visibility pass over the opaque untextured groups (depth tested against what the
    /// forward pass drew, `depth`) and the compute pass that shades each pixel it saw into
    /// `target` (with `shade`: one of `v`'s shading pipelines).
    #[allow(clippy::too_many_arguments)]
    fn add_visibility<'g>(
        graph: &mut FrameGraph<'g>,
        (v, shade): (&'g Visibility, &'g Pipeline),
        (width, height): (u32, u32),
        (fb, sb, bases): (&framegraph::BufferHandle, &SceneBuffers, &framegraph::BufferHandle),
        (target, depth, clear_depth): (&mut ImageHandle, &mut ImageHandle, bool),
        (ao, lighting, (env, env_sampler)): (
            Result<ImageHandle, &'g ao::Ao>,
            &Lighting,
            (&ImageHandle, vk::Sampler),
        ),
        push: RasterPush,
        (meshes, groups, spheres, heap): (
            MeshDraws,
            &'g [render::DrawGroup],
            Vec<(u32, u32)>,
            &'g xpg::BindlessHeap,
        ),
    ) {
        let info = ImageInfo::d2(width, height, VISIBILITY_FORMAT);
        let mut visibility = graph.create_image("raster visibility", info);
        let (vi, d) = (visibility, *depth);
        graph
            .add_pass("raster visibility")
            .read(fb, Access::StorageReadVertex)
            .read(&sb.draws, Access::StorageReadVertex)
            .read(&sb.draws, Access::StorageReadFragment)
            .read(&sb.materials, Access::StorageReadFragment)
            .read(bases, Access::StorageReadVertex)
            .read(bases, Access::StorageReadFragment)
            .write(&mut visibility, Access::ColorAttachmentWrite)
            .write(depth, Access::DepthAttachmentWrite)
            .record(move |ctx| {
                let extent = ctx.extent(&vi, 0)?;
                let nothing = vk::ClearValue { color: vk::ClearColorValue { uint32: [0; 4] } };
                let color =
                    [attachment(ctx.view(&vi)?, vk::AttachmentLoadOp::CLEAR).clear_value(nothing)];
                // The forward pass's depth, or cleared when there was none.
                let load = if clear_depth {
                    vk::AttachmentLoadOp::CLEAR
                } else {
                    vk::AttachmentLoadOp::LOAD
                };
                let depth_att = attachment(ctx.view(&d)?, load);
                let device = ctx.device().clone();
                // SAFETY: once per pass; the attachments are this pass's declared images in the
                // layouts of their declared attachment accesses.
                unsafe { ctx.begin_rendering(extent, &color, Some(&depth_att)) };
                for g in groups.iter().filter(|g| !g.textured) {
                    let pipeline = if g.spheres { &v.spheres } else { &v.triangles };
                    pipeline.bind(ctx.cmd, Some(heap));
                    pipeline.push(ctx.cmd, &push);
                    draw_group(&device, ctx.cmd, g, meshes, &spheres);
                }
                // SAFETY: closes the rendering scope begun above.
                unsafe { device.cmd_end_rendering(ctx.cmd) };
                Ok(())
            });
        // The occlusion made earlier, or now from the visibility pass's depth.
        let ao_image = match ao {
            Ok(image) => image,
            Err(ao) => ao.occlusion(graph, (width, height), fb, depth, push.frame),
        };
        // The index buffer's address in `oit` (unused by opaque shading: forward.slang).
        let push = RasterPush { oit: meshes.index_address, ..push };
        let (t, ao, lighting, e) = (*target, ao_image, *lighting, *env);
        sb.shading_reads_in(graph.add_pass("raster visibility shading"), &lighting, fb, true)
            .read(&visibility, Access::SampledCompute)
            .read(bases, Access::StorageReadCompute)
            .read(&ao_image, Access::SampledCompute)
            .read(env, Access::SampledCompute)
            .read(depth, Access::SampledCompute)
            .write(target, Access::StorageWriteCompute)
            .record(move |ctx| {
                shade.bind(ctx.cmd, Some(heap));
                let [b0, b1, b2, b3] = lighting.binds();
                let sampled = ao::sampled;
                let binds = [
                    b0,
                    b1,
                    b2,
                    b3,
                    sampled(4, &vi),
                    Bind::Storage { binding: 5, image: &t, mip: 0 },
                    sampled(6, &ao),
                    Bind::Sampled { binding: 7, image: &e, mip: None, sampler: env_sampler },
                    sampled(8, &d),
                ];
                ctx.push_descriptors(shade, &binds)?;
                shade.push(ctx.cmd, &push);
                shade.dispatch_threads(ctx.cmd, [width, height, 1]);
                Ok(())
            });
    }

    /// Blended draws, sorted back to front by the distance of their centres from the eye, each
    /// drawn on its own over everything opaque (depth tested, not written).
    #[allow(clippy::too_many_arguments)]
    fn add_transparent_pass<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        target: &mut ImageHandle,
        depth: &ImageHandle,
        lighting: Lighting,
        fb: &framegraph::BufferHandle,
        push: RasterPush,
        sb: &SceneBuffers,
    ) -> Result<(), RenderError> {
        let eye = view.eye();
        // Farther first: perspective by distance, orthographic along the view direction.
        let key = |c: glam::Vec3| {
            if eye.w == 0.0 {
                c.dot(eye.truncate())
            } else {
                -(c - eye.truncate()).length_squared()
            }
        };
        let mut order: Vec<(f32, u32)> = scene.blended.iter().map(|&(i, c)| (key(c), i)).collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        let draws: Vec<(u32, u32, u32)> = order
            .iter()
            .filter_map(|&(_, i)| {
                scene.draw_list.get(i as usize).map(|d| (i, d.first_index, d.index_count))
            })
            .collect();
        let (t, d) = (*target, *depth);
        let pipeline = &self.forward_blended;
        let index_buffer = scene.indices.raw();
        let heap = self.ctx.bindless()?;
        sb.shading_reads(graph.add_pass("raster transparent"), &lighting, fb)
            .read(depth, Access::DepthAttachmentRead)
            .write(target, Access::ColorAttachmentReadWrite)
            .record(move |ctx| {
                let extent = ctx.extent(&t, 0)?;
                let color = [attachment(ctx.view(&t)?, vk::AttachmentLoadOp::LOAD)];
                let depth_att = depth_read_only(ctx.view(&d)?);
                let device = ctx.device().clone();
                // SAFETY: once per pass; the attachments are this pass's declared images in the
                // layouts of their declared attachment accesses.
                unsafe { ctx.begin_rendering(extent, &color, Some(&depth_att)) };
                pipeline.bind(ctx.cmd, Some(heap));
                ctx.push_descriptors(pipeline, &lighting.binds())?;
                pipeline.push(ctx.cmd, &push);
                // SAFETY: inside the rendering scope begun above; each draw's indices lie in
                // the scene's index buffer (validated at upload).
                unsafe {
                    device.cmd_bind_index_buffer(ctx.cmd, index_buffer, 0, vk::IndexType::UINT32);
                    for &(draw, first_index, count) in &draws {
                        device.cmd_draw_indexed(ctx.cmd, count, 1, first_index, 0, draw);
                    }
                    device.cmd_end_rendering(ctx.cmd);
                }
                Ok(())
            });
        Ok(())
    }

    /// The grid over everything opaque: depth tested against `depth`, blended into `target`.
    fn add_grid_pass<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        grid: &Grid,
        target: &mut ImageHandle,
        depth: &ImageHandle,
        fb: &framegraph::BufferHandle,
        frame: u64,
    ) {
        let push = GridPush { frame, pad0: 0, style: GridStyle::of(grid) };
        let (t, d) = (*target, *depth);
        let pipeline = &self.grid_pipeline;
        graph
            .add_pass("raster grid")
            .read(fb, Access::StorageReadFragment)
            .read(depth, Access::DepthAttachmentRead)
            .write(target, Access::ColorAttachmentReadWrite)
            .record(move |ctx| {
                let extent = ctx.extent(&t, 0)?;
                let color = [attachment(ctx.view(&t)?, vk::AttachmentLoadOp::LOAD)];
                let depth_att = depth_read_only(ctx.view(&d)?);
                // SAFETY: once per pass; the attachments are this pass's declared images in the
                // layouts of their declared attachment accesses.
                unsafe { ctx.begin_rendering(extent, &color, Some(&depth_att)) };
                pipeline.bind(ctx.cmd, None);
                pipeline.push(ctx.cmd, &push);
                let device = ctx.device();
                // SAFETY: inside the rendering scope begun above.
                unsafe {
                    device.cmd_draw(ctx.cmd, 3, 1, 0, 0);
                    device.cmd_end_rendering(ctx.cmd);
                }
                Ok(())
            });
    }
}

impl Raster {
    /// The raster's passes; `after_opaque` (if any) adds passes after the opaque geometry
    /// (meshes, lines, points), before the grid and the blended surfaces.
    fn record_passes<'g>(
        &'g mut self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        output: &mut ImageHandle,
        hooks: &mut Hooks<'_, 'g>,
    ) -> Result<Option<ImageHandle>, RenderError> {
        let target = &mut *output;
        let peel_slot = (self.transparency == Transparency::Peeling && !scene.blended.is_empty())
            .then(|| self.oit.begin_peeling());
        if let Some(grid) = &self.grid {
            grid.validate()?;
        }
        render::check_target(graph, target, view, HDR_FORMAT)?;
        // The IBL maps of this scene: made in this frame when new, else kept from earlier (the
        // graph must run: the maps count as made from here on).
        // With `environment_sun`, the sky's sun is taken out of the maps and lights the scene
        // as a directional light after the scene's own.
        let sun = if self.environment_sun { self.sun.sun(scene) } else { None };
        let ibl_work = self.ibl.prepare(&self.ctx, scene, sun)?;
        let light_lists = match &sun {
            Some(s) => self.sun.prepare(scene, s),
            None => (&scene.light_list[..], &scene.light_shadows[..]),
        };
        let light_count = light_lists.0.len() as u32;
        // The strongest emitters cast shadows in the layers that the lights leave, as point
        // lights after them (not shaded as such: the emitters' triangles read their maps).
        let free =
            MAX_SHADOW_LAYERS.saturating_sub(shadows::layers_wanted(light_lists.0, light_lists.1));
        let area_shadows = if self.area_lights {
            self.area.emitters().min(self.area_light_shadows as usize).min(free / 6)
        } else {
            0
        };
        let light_lists = if area_shadows > 0 {
            let (lights, casts) = &mut self.shadow_lights;
            lights.clear();
            lights.extend_from_slice(light_lists.0);
            lights.extend(self.area.shadow_lights(area_shadows));
            casts.clear();
            casts.extend_from_slice(light_lists.1);
            casts.resize(light_lists.0.len(), false);
            casts.resize(lights.len(), true);
            (&lights[..], &casts[..])
        } else {
            light_lists
        };
        // The shadow matrices of these lights, written by a pass when they changed.
        self.shadows.refresh(&self.ctx, scene, light_lists, view, self.shadow_size)?;
        let view_16 = self.shadows.view_depth_16(self.shadow_size);
        let (shadows_address, light_shadows_address) = self.shadows.addresses();
        let vp: Mat4 = view.proj * view.view;
        let area_count = if self.area_lights { self.area.count() } else { 0 };
        let lights = light_count + area_count;
        let clustered = self.clustered && lights <= clusters::MAX_CLUSTERED_LIGHTS;
        let depth_frame = clusters::DepthFrame::new(view, scene.bounds, lights);
        if clustered {
            self.clusters.prepare(&self.ctx, &depth_frame)?;
        }
        // Ambient occlusion: only the environment's light is occluded.
        let ao_on = self.ambient_occlusion && scene.environment_kind != 0;
        let ao_radius = if self.ao_radius > 0.0 {
            self.ao_radius
        } else {
            ao::auto_radius(view.position, scene.bounds)
        };
        // The visibility buffer's shading draws the grid itself when nothing is drawn between it
        // and the grid's own pass: no forward pass (nothing textured), no points or lines, no
        // hook after the opaque geometry.
        let bases_of = (scene.id, scene.versions.structure, scene.draw_list.len());
        if self.bases_of != Some(bases_of) {
            self.triangle_bases.set(triangle_bases(&scene.draw_list).unwrap_or_default());
            self.bases_of = Some(bases_of);
        }
        let bases = if self.visibility.is_some() && self.visibility_buffer && self.msaa == 1 {
            self.triangle_bases.import(&self.ctx, graph)?
        } else {
            None
        };
        let vis_on = bases.is_some();
        let grid_in_shading = self.grid.filter(|_| {
            vis_on
                && !scene.groups.iter().any(|g| g.textured)
                && !render::Overlay::has_content(scene)
                && hooks.after_opaque.is_none()
        });
        let mut frame = FrameData {
            view_proj: vp.to_cols_array_2d(),
            inv_view_proj: vp.inverse().to_cols_array_2d(),
            camera_pos: view.eye().to_array(),
            env_mean_kind: [
                scene.environment_mean[0],
                scene.environment_mean[1],
                scene.environment_mean[2],
                scene.environment_kind as f32,
            ],
            light_count,
            width: view.width,
            height: view.height,
            area_count,
            view_forward: depth_frame.forward,
            cluster_depth: depth_frame.depth,
            cluster_grid: depth_frame.grid,
            ao: [
                if ao_on { 1.0 } else { 0.0 },
                ao_radius,
                // The longest screen radius (samples would be too sparse beyond).
                (0.25 * view.height as f32).max(16.0),
                0.0,
            ],
            shadow_split: [
                self.shadows.shared as u32,
                area_shadows as u32,
                self.shadows.shared.saturating_sub(6 * area_shadows) as u32,
                u32::from(view_16),
            ],
            grid: grid_in_shading.as_ref().map(GridStyle::of).unwrap_or_default(),
            triangle_bases: bases.map_or(0, |b| b.1),
            draw_count: scene.draw_list.len() as u32,
            pad: 0,
            ltc: 0,
            pad2: [0; 2],
        };
        // The visibility mask: one bit per draw after the frame constants (16-byte aligned).
        let hidden_bits: Vec<u32> = if self.hidden_nodes.is_empty() {
            Vec::new()
        } else {
            let n = scene.draw_list.len();
            let mut bits = vec![0u32; n.div_ceil(32).max(1)];
            for (i, word) in (0..n).map(|i| (i, i / 32)) {
                if let Some((node, _, _)) = scene.draw_origin(i) {
                    if self.hidden_nodes.contains(&(node as u32)) {
                        bits[word] |= 1 << (i % 32);
                    }
                }
            }
            bits
        };
        let bits_offset = size_of::<FrameData>().next_multiple_of(16) as u64;
        let needed = bits_offset + 4 * hidden_bits.len() as u64;
        if self.frame_buffer.size() < needed {
            self.frame_buffer = frame_constants_buffer(&self.ctx, needed.next_power_of_two())?;
        }
        let push = RasterPush {
            hidden: if hidden_bits.is_empty() {
                0
            } else {
                self.frame_buffer.address() + bits_offset
            },
            frame: self.frame_buffer.address(),
            vertices: scene.vertices.address(),
            draws: scene.draws.address(),
            materials: scene.materials.address(),
            lights: scene.lights.address(),
            shadows: shadows_address,
            light_shadows: light_shadows_address,
            uvs: scene.uvs.address(),
            tangents: scene.tangents.address(),
            sh: 0,
            draw: 0,
            shadow_layer: 0,
            oit: 0,
            peel_layer: 0,
            peel_draws: 0,
            area_lights: 0,
            clusters: 0,
        };
        // Initial state unknown (the previous frame read it in several stages, compute included):
        // the update waits for all earlier work.
        let mut fb = graph.import_buffer("raster frame constants", &self.frame_buffer, None, None);
        // One layer per shadow matrix (at least one, so the forward pass always has a map),
        // kept from earlier frames unless what casts into them changed; first, since it settles
        // the rects of the shadow data.
        let hidden_hash = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.hidden_nodes.hash(&mut h);
            h.finish()
        };
        let shadow_frame = self.shadows.import_maps(
            &self.ctx,
            graph,
            scene,
            self.shadow_size,
            hidden_hash,
            (DEPTH_FORMAT, if view_16 { CASCADE_FORMAT } else { DEPTH_FORMAT }),
        )?;
        // The scene's buffers that updates rewrite (GpuScene::update): declared so that this
        // frame's reads come after an update's writes in the same graph.
        let shadows = self
            .shadows
            .import(graph)
            .ok_or_else(|| RenderError::Internal("shadow data missing after refresh".into()))?;
        let area = if self.area_lights { self.area.import(&self.ctx, graph)? } else { None };
        let ltc = match area {
            Some(_) => Some(self.area.import_ltc(&self.ctx, graph)?),
            None => None,
        };
        frame.ltc = ltc.map_or(0, |l| l.1);
        let mut sb = SceneBuffers::import(graph, scene, shadows, area.map(|a| a.0));
        sb.ltc = ltc.map(|l| l.0);
        let push = RasterPush { area_lights: area.map_or(0, |a| a.1), ..push };
        let push = if sun.is_some() {
            let (h, address) = self.sun.import(&self.ctx, graph)?;
            sb.lights = h;
            RasterPush { lights: address, ..push }
        } else {
            push
        };
        let env = scene.import_environment(graph);
        let env_size = (scene.environment.extent().width, scene.environment.extent().height);
        let ibl = self.ibl.add_passes(graph, &env, env_size, ibl_work)?;
        let push = RasterPush { sh: ibl.sh_address, ..push };
        // With MSAA everything is drawn into multisampled color and depth, resolved at the end.
        let ms = self.msaa;
        let resolve_into = (ms > 1).then_some(*target);
        let mut ms_color = match resolve_into {
            Some(_) => graph.create_image(
                "hdr multisampled",
                ImageInfo::d2(view.width, view.height, HDR_FORMAT).samples(ms),
            ),
            None => *target,
        };
        let target = &mut ms_color;
        let mut depth = graph.create_image(
            "depth",
            ImageInfo::d2(view.width, view.height, DEPTH_FORMAT).samples(ms),
        );
        // The frame constants and visibility mask first: the shadow passes read the mask.
        let buffer = self.frame_buffer.raw();
        graph.add_pass("raster constants").write(&mut fb, Access::TransferDst).record(move |ctx| {
            // SAFETY: recording; the graph ordered this write after the previous frame's reads;
            // the data is a multiple of 4 bytes and under 64 KiB.
            unsafe {
                ctx.device().cmd_update_buffer(ctx.cmd, buffer, 0, bytemuck::bytes_of(&frame));
                // The mask, in the 64 KiB pieces vkCmdUpdateBuffer takes.
                for (k, chunk) in hidden_bits.chunks(16384).enumerate() {
                    ctx.device().cmd_update_buffer(
                        ctx.cmd,
                        buffer,
                        bits_offset + k as u64 * 65536,
                        bytemuck::cast_slice(chunk),
                    );
                }
            };
            Ok(())
        });
        // Each light cluster's lights, for the shading passes.
        let push = if clustered {
            let (h, address) = self.clusters.add_pass(
                graph,
                &depth_frame,
                (&fb, self.frame_buffer.address()),
                (&sb.lights, push.lights),
                area,
                (self.light_cutoff, self.light_share),
            )?;
            sb.clusters = Some(h);
            RasterPush { clusters: address, ..push }
        } else {
            push
        };

        // The context's one bindless heap, where the scene's textures live.
        let heap = self.ctx.bindless()?;
        let meshes = MeshDraws::of(scene);
        let shadow_pipelines = &self.shadow;
        let groups = &scene.groups;
        let (mut shared_maps, mut shadow_maps) = (shadow_frame.shared, shadow_frame.view);
        for (layer, shared, at) in shadow_frame.draw {
            // Only the part of the layer that receivers read (a cascade's view slice).
            let rect = self.shadows.rects.get(layer as usize).copied().unwrap_or(shadows::WHOLE);
            let maps = if shared { &mut shared_maps } else { &mut shadow_maps };
            let sm = *maps;
            let range = framegraph::Subresources {
                base_mip: 0,
                mip_count: 1,
                base_layer: at,
                layer_count: 1,
            };
            graph
                .add_pass(&format!("raster shadow {layer}"))
                .read(&fb, Access::StorageReadVertex)
                .read(&sb.draws, Access::StorageReadVertex)
                .read(&sb.shadows, Access::StorageReadVertex)
                // The vertex stage reads the materials too: emissive surfaces cast nothing
                // into emitters' maps (shadow.slang).
                .read(&sb.materials, Access::StorageReadVertex)
                .read(&sb.materials, Access::StorageReadFragment)
                .write_range(maps, Access::DepthAttachmentWrite, range)
                .record(move |ctx| {
                    let extent = ctx.extent(&sm, 0)?;
                    let depth_att =
                        attachment(ctx.layer_view(&sm, 0, at)?, vk::AttachmentLoadOp::CLEAR);
                    let device = ctx.device().clone();
                    let area = shadows::texel_area(rect, extent);
                    // SAFETY: once per pass; the attachment is this pass's declared image in the
                    // layout of its declared attachment access; `area` lies within it. Only
                    // that part is cleared and drawn: the rest is never read.
                    unsafe { ctx.begin_rendering_area(extent, area, &[], Some(&depth_att)) };
                    for g in groups {
                        let pipeline = &shadow_pipelines[usize::from(!shared && view_16)]
                            [usize::from(g.textured)];
                        pipeline.bind(ctx.cmd, Some(heap));
                        pipeline.push(ctx.cmd, &RasterPush { shadow_layer: layer, ..push });
                        meshes.group(g).record(&device, ctx.cmd);
                    }
                    // SAFETY: closes the rendering scope begun above.
                    unsafe { device.cmd_end_rendering(ctx.cmd) };
                    Ok(())
                });
        }

        let sphere_draws = sphere_draws(scene);
        // Without MSAA, opaque untextured surfaces go through the visibility buffer: the
        // forward pass draws the textured ones alone (none: no forward pass), and the compute
        // pass that shades the others fills the background too.
        if let Some(v) = self.visibility.as_mut() {
            if scene.all_lambert && vis_on && v.lambert.is_none() {
                v.lambert = Some(Pipeline::compute(&self.ctx, &v.lambert_code, Some(heap))?);
            }
        }
        let vis = self.visibility.as_ref().zip(bases).filter(|_| vis_on);
        let forward_pass = vis.is_none() || groups.iter().any(|g| g.textured);
        // The occlusion from a depth pass of its own, or (None) with the visibility buffer and
        // no forward pass, from the visibility pass's depth (every opaque surface is there).
        let ao_image = match (ao_on, forward_pass) {
            (true, false) => None,
            (true, true) => {
                let draws = ao::Draws { meshes, groups, spheres: sphere_draws.clone(), heap };
                Some(self.ao.add_passes(graph, (view.width, view.height), &fb, &sb, push, draws))
            }
            (false, _) => Some(ao::Ao::none(graph)),
        };
        let (t, e) = (*target, env);
        let sampler = self.env_sampler.raw();
        let background = &self.background;
        // No environment or a uniform one: a clear to its color, no full-screen draw (0.4 ms
        // at 1080p on an H200).
        let m = scene.environment_mean;
        let clear_to = match scene.environment_kind {
            0 => Some([0.0, 0.0, 0.0, 1.0]),
            1 => Some([m[0], m[1], m[2], 1.0]),
            _ => None,
        };
        if vis.is_none() {
            graph
                .add_pass("raster background")
                .read(&fb, Access::StorageReadFragment)
                .read(&env, Access::SampledFragment)
                .write(target, Access::ColorAttachmentWrite)
                .record(move |ctx| {
                    let extent = ctx.extent(&t, 0)?;
                    let (load, draw) = match clear_to {
                        Some(_) => (vk::AttachmentLoadOp::CLEAR, false),
                        None => (vk::AttachmentLoadOp::DONT_CARE, true),
                    };
                    let mut color = [attachment(ctx.view(&t)?, load)];
                    color[0] = color[0].clear_value(vk::ClearValue {
                        color: vk::ClearColorValue { float32: clear_to.unwrap_or([0.0; 4]) },
                    });
                    let device = ctx.device().clone();
                    // SAFETY: once per pass; the attachments are this pass's declared images in the
                    // layouts of their declared attachment accesses.
                    unsafe { ctx.begin_rendering(extent, &color, None) };
                    if !draw {
                        // SAFETY: closes the rendering scope begun above.
                        unsafe { device.cmd_end_rendering(ctx.cmd) };
                        return Ok(());
                    }
                    background.bind(ctx.cmd, None);
                    ctx.push_descriptors(
                        background,
                        &[Bind::Sampled { binding: 0, image: &e, mip: None, sampler }],
                    )?;
                    background.push(ctx.cmd, &push);
                    // SAFETY: recording inside the rendering scope begun above.
                    unsafe {
                        device.cmd_draw(ctx.cmd, 3, 1, 0, 0);
                        device.cmd_end_rendering(ctx.cmd);
                    }
                    Ok(())
                });
        }

        let (t, d) = (*target, depth);
        let variants = &self.forward;
        let impostors = &self.sphere_impostors;
        let vis_spheres = if vis.is_some() { sphere_draws.clone() } else { Vec::new() };
        let lighting =
            Lighting::new(&self.ibl, self.shadow_sampler.raw(), [shadow_maps, shared_maps], ibl);
        if let (true, Some(ao_image)) = (forward_pass, ao_image) {
            sb.shading_reads(graph.add_pass("raster forward"), &lighting, &fb)
                .read(&ao_image, Access::SampledFragment)
                .write(target, Access::ColorAttachmentReadWrite)
                .write(&mut depth, Access::DepthAttachmentWrite)
                .record(move |ctx| {
                    let extent = ctx.extent(&t, 0)?;
                    let color = [attachment(ctx.view(&t)?, vk::AttachmentLoadOp::LOAD)];
                    let depth_att = attachment(ctx.view(&d)?, vk::AttachmentLoadOp::CLEAR);
                    let device = ctx.device().clone();
                    // SAFETY: once per pass; the attachments are this pass's declared images in the
                    // layouts of their declared attachment accesses.
                    unsafe { ctx.begin_rendering(extent, &color, Some(&depth_att)) };
                    for g in groups {
                        if vis.is_some() && !g.textured {
                            continue;
                        }
                        let pipeline = if g.spheres {
                            impostors
                        } else {
                            &variants[usize::from(g.colored) | usize::from(g.textured) << 1]
                        };
                        pipeline.bind(ctx.cmd, Some(heap));
                        let [b0, b1, b2, b3] = lighting.binds();
                        let ao = ao::sampled(6, &ao_image);
                        ctx.push_descriptors(pipeline, &[b0, b1, b2, b3, ao])?;
                        pipeline.push(ctx.cmd, &push);
                        draw_group(&device, ctx.cmd, g, meshes, &sphere_draws);
                    }
                    // SAFETY: closes the rendering scope begun above.
                    unsafe { device.cmd_end_rendering(ctx.cmd) };
                    Ok(())
                });
        }
        if let Some((v, (bases, _))) = vis {
            let w = (view.width, view.height);
            let ao = ao_image.ok_or(&self.ao);
            let maps = (ao, &lighting, (&env, sampler));
            let draws = (meshes, &groups[..], vis_spheres, heap);
            let images = (&mut *target, &mut depth, !forward_pass);
            // The Lambert variant where every drawn material is Lambertian.
            let shade = v.lambert.as_ref().filter(|_| scene.all_lambert).unwrap_or(&v.shade);
            let v = (v, shade);
            Self::add_visibility(graph, v, w, (&fb, &sb, &bases), images, maps, push, draws);
        }
        self.overlay.add_passes(graph, scene, view, target, &mut depth);
        // Single-sampled color and depth only: multisampled images cannot be storage images
        // or sampled like the others.
        if ms == 1 {
            hooks.call_after_opaque(graph, Some((&mut *target, Some(depth))));
        } else {
            hooks.call_after_opaque(graph, None);
        }
        if let (Some(grid), None) = (self.grid, grid_in_shading) {
            self.add_grid_pass(graph, &grid, target, &depth, &fb, push.frame);
        }
        if !scene.blended.is_empty() {
            match self.transparency {
                Transparency::Sorted => self.add_transparent_pass(
                    graph, scene, view, target, &depth, lighting, &fb, push, &sb,
                )?,
                Transparency::Peeling => self.oit.add_peeling(
                    peel_slot.unwrap_or(0),
                    graph,
                    scene,
                    target,
                    &depth,
                    lighting,
                    &fb,
                    push,
                    &sb,
                    heap,
                )?,
                Transparency::Weighted => self
                    .oit
                    .add_weighted(graph, scene, target, &depth, lighting, &fb, push, &sb, heap)?,
            }
        }
        match resolve_into {
            Some(mut out) => {
                let (src, dst) = (*target, out);
                graph
                    .add_pass("raster msaa resolve")
                    .read(target, Access::TransferSrc)
                    .write(&mut out, Access::TransferDst)
                    .record(move |ctx| {
                        let e = ctx.extent(&src, 0)?;
                        let layers = vk::ImageSubresourceLayers::default()
                            .aspect_mask(vk::ImageAspectFlags::COLOR)
                            .layer_count(1);
                        let region = vk::ImageResolve::default()
                            .src_subresource(layers)
                            .dst_subresource(layers)
                            .extent(vk::Extent3D { width: e.width, height: e.height, depth: 1 });
                        // SAFETY: recording; the graph put the multisampled source in
                        // TRANSFER_SRC and the single-sampled target (same format and size) in
                        // TRANSFER_DST.
                        unsafe {
                            ctx.device().cmd_resolve_image(
                                ctx.cmd,
                                ctx.image(&src)?,
                                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                                ctx.image(&dst)?,
                                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                                &[region],
                            )
                        };
                        Ok(())
                    });
                *output = out;
            }
            None => *output = *target,
        }
        Ok((ms == 1).then_some(depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(index_count: u32) -> render::GpuDraw {
        render::GpuDraw { index_count, ..bytemuck::Zeroable::zeroed() }
    }

    /// Each draw's first number follows the previous draw's triangles, from 1; a draw without
    /// triangles shares the next one's; numbers past `u32` give none.
    #[test]
    fn triangle_bases_number_every_triangle_of_the_frame_once() {
        let bases = triangle_bases(&[draw(6), draw(0), draw(36), draw(3)]);
        assert_eq!(bases, Some(vec![1, 3, 3, 15]));
        assert_eq!(triangle_bases(&[]), Some(Vec::new()));
        let big = draw(3 * (u32::MAX / 3));
        // 1 + 3 (2^32 - 1) / 3 = 2^32: one past.
        assert_eq!(triangle_bases(&[big, big]).map(|b| b.len()), Some(2));
        assert_eq!(triangle_bases(&[big, big, big]), None, "past u32");
    }
}
