//! The path tracing renderer: one ray generation shader per pixel walks `spp` paths per frame
//! through the GpuScene's TLAS (BSDF sampling with the shared BRDF, next event estimation
//! through the light tables, MIS, the environment, Russian roulette) and accumulates the sum
//! and the sum of squares per pixel across frames; the mean goes to the target. Accumulation
//! restarts when the scene, its versions, the view or the settings change.

use framegraph::{Access, Bind, FrameGraph, HistoryImage, ImageHandle, ImageInfo};
use glam::Mat4;
use render::{
    check_setting, GpuScene, Hooks, RenderError, RenderOutputs, RenderTargets, Renderer, Setting,
    SettingValue,
};
use scene::View;
use xpg::vk;
use xpg::{Context, Image, Pipeline, RayTracingDesc, Sampler, ShaderCompiler, ShaderDesc};

/// Settings of the path tracer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Samples per pixel per frame.
    pub samples_per_frame: u32,
    /// Longest path (segments).
    pub max_depth: u32,
    /// Russian roulette from this depth on.
    pub rr_start: u32,
    /// Seed of the random sequences.
    pub seed: u32,
    /// How next event estimation picks a light.
    pub light_selection: LightSelection,
    /// Where the paths' random numbers come from.
    pub sequence: Sequence,
    /// Thin-lens aperture radius in scene units (0: pinhole).
    pub aperture: f32,
    /// Distance from the camera that is in focus (with an aperture).
    pub focus_distance: f32,
    /// Largest luminance one sample may carry (biased; None: unbiased).
    pub firefly_clamp: Option<f32>,
    /// Accumulate the first hits' albedo, normal and distance ([`PathTracer::aovs`]).
    pub aovs: bool,
    /// Show the accumulation through the denoiser (`crate::denoise`; it needs the AOVs).
    pub denoise: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            samples_per_frame: 4,
            max_depth: 64,
            rr_start: 3,
            seed: 0,
            light_selection: LightSelection::Tree,
            sequence: Sequence::Sobol,
            aperture: 0.0,
            focus_distance: 1.0,
            firefly_clamp: None,
            aovs: false,
            denoise: false,
        }
    }
}

/// How next event estimation picks a light.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LightSelection {
    /// The light tree (`crate::light_tree`) for emissive triangles, point and spot lights,
    /// chosen by what they can deliver at the shading point; the directional lights and the
    /// environment one share each.
    #[default]
    Tree,
    /// Every light by its power (the alias table), wherever the shading point is.
    Power,
    /// Every light with the same probability (for comparisons).
    Uniform,
}

/// Where the paths' random numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sequence {
    /// The main dimensions (the pixel and lens positions; at each vertex the light choice and
    /// position, the BSDF sample, roulette) from a padded Owen-scrambled Sobol sequence per
    /// pixel (Burley 2020): stratified over a pixel's samples, so the error falls faster than
    /// with independent numbers. Still unbiased.
    #[default]
    Sobol,
    /// Independent numbers (PCG) everywhere: each sample independent of the others, as the
    /// per-sample variance assumes.
    Independent,
}

impl Sequence {
    /// The names, in the order of the setting's options.
    pub const NAMES: [&'static str; 2] = ["sobol", "independent"];

    /// The setting's option index.
    pub fn index(self) -> u32 {
        match self {
            Self::Sobol => 0,
            Self::Independent => 1,
        }
    }

    /// The sequence of option `index` (out of range: Sobol).
    pub fn from_index(index: u32) -> Self {
        match index {
            1 => Self::Independent,
            _ => Self::Sobol,
        }
    }

    /// The sequence named `name` (case-insensitive), if any.
    pub fn parse(name: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|n| n.eq_ignore_ascii_case(name.trim()))?;
        Some(Self::from_index(i as u32))
    }
}

impl LightSelection {
    /// The names, in the order of the setting's options.
    pub const NAMES: [&'static str; 3] = ["tree", "power", "uniform"];

    /// The setting's option index.
    pub fn index(self) -> u32 {
        match self {
            Self::Tree => 0,
            Self::Power => 1,
            Self::Uniform => 2,
        }
    }

    /// The selection of option `index` (out of range: the tree).
    pub fn from_index(index: u32) -> Self {
        match index {
            1 => Self::Power,
            2 => Self::Uniform,
            _ => Self::Tree,
        }
    }

    /// The selection named `name` (case-insensitive), if any.
    pub fn parse(name: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|n| n.eq_ignore_ascii_case(name.trim()))?;
        Some(Self::from_index(i as u32))
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Push {
    inv_view_proj: [[f32; 4]; 4],
    camera_pos: [f32; 4],
    vertices: u64,
    indices: u64,
    draws: u64,
    materials: u64,
    geometry_draws: u64,
    width: u32,
    height: u32,
    frame: u32,
    spp: u32,
    max_depth: u32,
    rr_start: u32,
    env_kind: u32,
    seed: u32,
    lights: u64,
    light_alias: u64,
    draw_first_light: u64,
    env_alias: u64,
    light_count: u32,
    env_light: u32,
    env_width: u32,
    env_height: u32,
    aperture: f32,
    focus_distance: f32,
    uvs: u64,
    firefly_clamp: f32,
    flags: u32,
    light_tree: u64,
    light_trails: u64,
    light_bounded: u32,
    pad: u32,
}

/// [`Push::flags`]: write the depth of each pixel's centre ray (for the overlay).
const FLAG_DEPTH: u32 = 1;
/// [`Push::flags`]: accumulate the AOVs.
const FLAG_AOV: u32 = 2;
/// [`Push::flags`]: pick lights with the light tree.
const FLAG_TREE: u32 = 4;
/// [`Push::flags`]: the main dimensions from the Owen-scrambled Sobol sequence.
const FLAG_SOBOL: u32 = 8;

/// The light tables of one scene on the GPU.
struct LightBuffers {
    scene_id: u64,
    versions: scene::Versions,
    /// Uniform selection (the alias table's weights).
    uniform: bool,
    lights: xpg::Buffer,
    alias: xpg::Buffer,
    draw_first_light: xpg::Buffer,
    env_alias: xpg::Buffer,
    tree: xpg::Buffer,
    trails: xpg::Buffer,
    count: u32,
    env_light: u32,
    bounded: u32,
    /// The tree has nodes.
    has_tree: bool,
}

impl LightBuffers {
    fn all(&self) -> [&xpg::Buffer; 6] {
        [
            &self.lights,
            &self.alias,
            &self.draw_first_light,
            &self.env_alias,
            &self.tree,
            &self.trails,
        ]
    }
}

/// A storage buffer of `bytes.len()` bytes (at least 16) that a transfer pass fills.
fn table_buffer(ctx: &Context, name: &str, bytes: usize) -> Result<xpg::Buffer, RenderError> {
    Ok(xpg::Buffer::new(
        ctx,
        &xpg::BufferDesc {
            size: (bytes as u64).max(16),
            usage: vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::TRANSFER_DST,
            memory: xpg::MemoryUsage::GpuOnly,
            name,
        },
    )?)
}

struct Accumulation {
    /// Sum and sum of squares of the samples: history images (the graph carries their state
    /// from frame to frame; a restart discards their contents).
    sum: HistoryImage,
    squares: HistoryImage,
    /// The AOV sums (first hits' albedo and hits; normal and distance), when asked for.
    aovs: Option<[HistoryImage; 2]>,
    /// Samples per pixel so far.
    samples: u32,
    /// Frames so far.
    frames: u32,
    key: Vec<u8>,
}

/// The path tracer.
pub struct PathTracer {
    /// Settings (a change restarts the accumulation).
    pub settings: Settings,
    /// Nodes this view does not show (a viewport's visibility mask): rays pass through their
    /// placements (a top level of its own with their instance masks 0). A change restarts
    /// the accumulation.
    pub hidden_nodes: std::collections::BTreeSet<u32>,
    /// That top level and what it was built for (scene id, versions, hidden placements).
    masked: Option<(Vec<u8>, render::MaskedTlas)>,
    pipeline: Pipeline,
    /// Points and lines over the traced image.
    overlay: render::Overlay,
    env_sampler: Sampler,
    accum: Option<Accumulation>,
    /// The light tables of the last scene change (CPU), with the scene id and versions they
    /// were built for; they reach the GPU through a pass of the next frame.
    table: Option<(u64, scene::Versions, crate::LightTable)>,
    lights: Option<LightBuffers>,
    /// The luminance the firefly clamp uses when it is switched on.
    clamp_luminance: f32,
    denoiser: crate::denoise::Denoiser,
    ctx: Context,
}

impl std::fmt::Debug for PathTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PathTracer").field("settings", &self.settings).finish()
    }
}

impl PathTracer {
    /// The ray tracing pipeline (for its driver statistics: [`Pipeline::statistics`]).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Compiles `shaders/pathtracer/pt.slang` into a ray tracing pipeline.
    pub fn new(ctx: &Context, compiler: &ShaderCompiler) -> Result<Self, RenderError> {
        if !ctx.caps().ray_tracing {
            return Err(RenderError::Unsupported(format!(
                "the path tracer needs ray tracing, which '{}' lacks",
                ctx.caps().device_name
            )));
        }
        let code = compiler
            .compile(&ShaderDesc::new(compiler.shader_dir().join("pathtracer/pt.slang")))?;
        let e = |n: &str| {
            code.entry(n).ok_or_else(|| RenderError::MissingEntry {
                shader: "pathtracer/pt.slang".into(),
                entry: n.into(),
            })
        };
        let pipeline = Pipeline::ray_tracing(
            ctx,
            &RayTracingDesc {
                name: "path tracer",
                raygen: e("raygen")?,
                miss: vec![e("miss")?],
                hit_groups: vec![(Some(e("chit")?), Some(e("ahit")?))],
                max_recursion: 1,
            },
            Some(ctx.bindless()?),
        )?;
        let env_sampler = Sampler::new(
            ctx,
            &vk::SamplerCreateInfo::default()
                .mag_filter(vk::Filter::LINEAR)
                .min_filter(vk::Filter::LINEAR)
                .address_mode_u(vk::SamplerAddressMode::REPEAT)
                .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_EDGE)
                .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_EDGE),
        )?;
        Ok(Self {
            settings: Settings::default(),
            hidden_nodes: Default::default(),
            masked: None,
            pipeline,
            overlay: render::Overlay::new(ctx, compiler, vk::Format::R16G16B16A16_SFLOAT, 1)?,
            env_sampler,
            accum: None,
            table: None,
            lights: None,
            clamp_luminance: 10.0,
            denoiser: crate::denoise::Denoiser::new(compiler)?,
            ctx: ctx.clone(),
        })
    }

    /// The factory the registry holds.
    pub fn factory(init: &render::RendererInit<'_>) -> Result<render::BoxedRenderer, RenderError> {
        Ok(Box::new(PathTracer::new(init.ctx, init.compiler)?))
    }

    /// Adds the pass that writes the light tables to the GPU when they are newer than the
    /// GPU copy (a scene change, or another selection mode).
    fn add_light_upload(&mut self, graph: &mut FrameGraph<'_>) -> Result<(), RenderError> {
        let uniform = self.settings.light_selection == LightSelection::Uniform;
        let Some((scene_id, versions, table)) = self.table.as_mut() else { return Ok(()) };
        if self.lights.as_ref().is_some_and(|l| {
            l.scene_id == *scene_id && l.versions == *versions && l.uniform == uniform
        }) {
            return Ok(());
        }
        table.reselect(uniform);
        let t = &*table;
        let ctx = &self.ctx;
        let parts: [(&str, Vec<u8>); 6] = [
            ("pt lights", bytemuck::cast_slice(&t.lights).to_vec()),
            ("pt light alias", bytemuck::cast_slice(&t.alias).to_vec()),
            ("pt draw lights", bytemuck::cast_slice(&t.draw_first_light).to_vec()),
            ("pt environment alias", bytemuck::cast_slice(&t.environment_alias).to_vec()),
            ("pt light tree", bytemuck::cast_slice(&t.tree).to_vec()),
            ("pt light trails", bytemuck::cast_slice(&t.trails).to_vec()),
        ];
        let [l, a, d, e, tr, tt] =
            [0, 1, 2, 3, 4, 5].map(|i| table_buffer(ctx, parts[i].0, parts[i].1.len()));
        let buffers = LightBuffers {
            scene_id: *scene_id,
            versions: *versions,
            uniform,
            lights: l?,
            alias: a?,
            draw_first_light: d?,
            env_alias: e?,
            tree: tr?,
            trails: tt?,
            count: t.alias.len() as u32,
            env_light: t.environment_light,
            bounded: t.bounded,
            has_tree: !t.tree.is_empty(),
        };
        for ((name, bytes), buffer) in parts.into_iter().zip(buffers.all()) {
            if bytes.is_empty() {
                continue;
            }
            // New buffers: nothing earlier uses them.
            let mut h = graph.import_buffer(name, buffer, None, None);
            let hh = h;
            graph
                .add_pass(&format!("{name} upload"))
                .write(&mut h, Access::TransferDst)
                .record(move |pc| pc.update_buffer(&hh, 0, &bytes));
        }
        // The previous tables are freed once the frames using them are done.
        self.lights = Some(buffers);
        Ok(())
    }
}

fn accumulation_image(
    ctx: &Context,
    name: &str,
    w: u32,
    h: u32,
) -> Result<HistoryImage, RenderError> {
    let usage = vk::ImageUsageFlags::STORAGE | vk::ImageUsageFlags::TRANSFER_SRC;
    let info = ImageInfo::d2(w, h, vk::Format::R32G32B32A32_SFLOAT);
    Ok(HistoryImage::new(ctx, name, info, usage)?)
}

const SETTING_KEYS: [&str; 12] = [
    "samples_per_frame",
    "max_depth",
    "rr_start",
    "seed",
    "light_selection",
    "aperture",
    "focus_distance",
    "firefly_clamp",
    "clamp_luminance",
    "denoise",
    "aovs",
    "sequence",
];

impl Renderer for PathTracer {
    fn name(&self) -> &str {
        "pathtracer"
    }

    fn add_passes<'g>(
        &'g mut self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        targets: RenderTargets<'_>,
        hooks: &mut Hooks<'_, 'g>,
    ) -> Result<RenderOutputs, RenderError> {
        let target = targets.color;
        let depth = self.trace(graph, scene, view, target)?;
        hooks.call_after_opaque(graph, Some((target, depth)));
        Ok(RenderOutputs { depth })
    }

    fn scene_changed(&mut self, scene: &scene::Scene, gpu: &GpuScene) {
        let uniform = self.settings.light_selection == LightSelection::Uniform;
        let table = crate::LightTable::build(scene, gpu, uniform);
        self.table = Some((gpu.id, gpu.versions, table));
    }

    fn reset(&mut self) {
        if let Some(a) = self.accum.as_mut() {
            a.key.clear();
        }
    }

    fn set_hidden_nodes(&mut self, nodes: &std::collections::BTreeSet<u32>) {
        self.hidden_nodes.clone_from(nodes);
    }

    fn settings(&self) -> Vec<Setting> {
        let s = &self.settings;
        let k = SETTING_KEYS;
        vec![
            Setting::count(k[0], "samples per frame", s.samples_per_frame, 1, 64),
            Setting::count(k[1], "max depth", s.max_depth, 1, 1024),
            Setting::count(k[2], "roulette from", s.rr_start, 1, 64),
            Setting::count(k[3], "seed", s.seed, 0, 1 << 24),
            Setting::choice(
                k[4],
                "light selection",
                s.light_selection.index(),
                &LightSelection::NAMES,
            ),
            Setting::quantity(k[5], "aperture", s.aperture, 0.0, 100.0),
            Setting::quantity(k[6], "focus distance", s.focus_distance, 0.001, 1e5).logarithmic(),
            Setting::switch(k[7], "firefly clamp", s.firefly_clamp.is_some()),
            Setting::quantity(
                k[8],
                "clamp luminance",
                s.firefly_clamp.unwrap_or(self.clamp_luminance),
                0.1,
                1000.0,
            )
            .logarithmic()
            .when(k[7]),
            Setting::switch(k[9], "denoise (interactive)", s.denoise),
            Setting::switch(k[10], "first-hit albedo, normal, depth", s.aovs),
            Setting::choice(k[11], "random numbers", s.sequence.index(), &Sequence::NAMES),
        ]
    }

    fn set(&mut self, key: &str, value: SettingValue) -> Result<(), RenderError> {
        let v = check_setting("pathtracer", &self.settings(), key, value)?;
        let s = &mut self.settings;
        match (key, v) {
            ("samples_per_frame", SettingValue::UInt(n)) => s.samples_per_frame = n,
            ("max_depth", SettingValue::UInt(n)) => s.max_depth = n,
            ("rr_start", SettingValue::UInt(n)) => s.rr_start = n,
            ("seed", SettingValue::UInt(n)) => s.seed = n,
            ("light_selection", SettingValue::UInt(i)) => {
                s.light_selection = LightSelection::from_index(i)
            }
            ("aperture", SettingValue::Float(x)) => s.aperture = x,
            ("focus_distance", SettingValue::Float(x)) => s.focus_distance = x,
            ("firefly_clamp", SettingValue::Bool(b)) => {
                s.firefly_clamp = b.then_some(self.clamp_luminance)
            }
            ("denoise", SettingValue::Bool(b)) => s.denoise = b,
            ("aovs", SettingValue::Bool(b)) => s.aovs = b,
            ("sequence", SettingValue::UInt(i)) => s.sequence = Sequence::from_index(i),
            ("clamp_luminance", SettingValue::Float(x)) => {
                self.clamp_luminance = x;
                if s.firefly_clamp.is_some() {
                    s.firefly_clamp = Some(x);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn status(&self) -> Option<String> {
        Some(format!("{} samples per pixel so far", self.samples().unwrap_or(0)))
    }

    fn samples(&self) -> Option<u32> {
        Some(self.accum.as_ref().map_or(0, |a| a.samples))
    }

    fn accumulation(&self) -> Option<(&Image, &Image)> {
        self.accum.as_ref().and_then(|a| Some((a.sum.image()?, a.squares.image()?)))
    }

    fn aovs(&self) -> Option<(&Image, &Image)> {
        let [albedo, normal] = self.accum.as_ref()?.aovs.as_ref()?;
        Some((albedo.image()?, normal.image()?))
    }
}

impl PathTracer {
    /// The path tracing pass (and the light table upload before it) into `target`.
    /// The path-traced image in `target`, with the scene's points and lines drawn over it
    /// (render::Overlay) depth tested against the primary hits, whose depths (a depth image)
    /// it returns then.
    fn trace<'g>(
        &'g mut self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        target: &mut ImageHandle,
    ) -> Result<Option<ImageHandle>, RenderError> {
        // Everything fallible first: the frame counters advance below.
        render::check_target(graph, target, view, vk::Format::R16G16B16A16_SFLOAT)?;
        let overlay = render::Overlay::has_content(scene);
        let accel = scene.accel.as_ref().ok_or_else(|| {
            RenderError::Unsupported(
                "the scene has no acceleration structures (no ray tracing)".into(),
            )
        })?;
        self.add_light_upload(graph)?;
        let heap = self.ctx.bindless()?;
        let (w, h) = (view.width, view.height);
        let vp: Mat4 = view.proj * view.view;
        // What the image depends on: scene, its versions, view, size, settings.
        let mut key = Vec::new();
        key.extend(scene.id.to_le_bytes());
        key.extend(format!("{:?}", scene.versions).bytes());
        key.extend(bytemuck::bytes_of(&vp.to_cols_array()));
        key.extend([w, h].iter().flat_map(|v| v.to_le_bytes()));
        // (Not the samples per frame: the image converges to the same thing.)
        let st = self.settings;
        key.extend([st.max_depth, st.rr_start, st.seed].iter().flat_map(|v| v.to_le_bytes()));
        key.push(st.light_selection.index() as u8);
        key.push(st.sequence.index() as u8);
        key.extend(st.aperture.to_le_bytes());
        key.extend(st.focus_distance.to_le_bytes());
        key.extend(st.firefly_clamp.unwrap_or(0.0).to_le_bytes());
        key.push(u8::from(self.lights.as_ref().is_some_and(|l| l.scene_id == scene.id)));
        // AOVs (asked for, or for the denoiser) from the first sample on.
        let aov_on = self.settings.aovs || self.settings.denoise;
        key.push(u8::from(aov_on));
        let hidden: Vec<u32> = if self.hidden_nodes.is_empty() {
            Vec::new()
        } else {
            accel
                .placements
                .iter()
                .enumerate()
                .filter(|(_, p)| self.hidden_nodes.contains(&p.node))
                .map(|(i, _)| i as u32)
                .collect()
        };
        key.extend(hidden.iter().flat_map(|i| i.to_le_bytes()));
        let fresh = self.accum.as_ref().is_none_or(|a| a.key != key);
        if fresh {
            let same_size = self.accum.as_ref().is_some_and(|a| {
                let e = a.sum.info().extent;
                (e.width, e.height) == (w, h)
            });
            if !same_size {
                self.accum = Some(Accumulation {
                    sum: accumulation_image(&self.ctx, "pt sum", w, h)?,
                    squares: accumulation_image(&self.ctx, "pt squares", w, h)?,
                    aovs: None,
                    samples: 0,
                    frames: 0,
                    key: key.clone(),
                });
            }
            if let Some(a) = self.accum.as_mut() {
                (a.samples, a.frames, a.key) = (0, 0, key);
                // The shader overwrites on frame 0: the old sums need not be kept.
                a.sum.discard();
                a.squares.discard();
                if !aov_on {
                    a.aovs = None;
                } else if let Some(aovs) = a.aovs.as_mut() {
                    aovs.iter().for_each(HistoryImage::discard);
                } else {
                    a.aovs = Some([
                        accumulation_image(&self.ctx, "pt aov albedo", w, h)?,
                        accumulation_image(&self.ctx, "pt aov normal", w, h)?,
                    ]);
                }
            }
        }
        let settings = self.settings;
        // Light tables made for another scene, version or selection mode are not used.
        let uniform = settings.light_selection == LightSelection::Uniform;
        let lights = self.lights.as_ref().filter(|l| {
            l.scene_id == scene.id && l.versions == scene.versions && l.uniform == uniform
        });
        let tree = settings.light_selection == LightSelection::Tree
            && lights.is_some_and(|l| l.has_tree || l.bounded == 0);
        let env = scene.environment.extent();
        let a = self
            .accum
            .as_mut()
            .ok_or_else(|| RenderError::Internal("accumulation images missing".into()))?;
        let push = Push {
            inv_view_proj: vp.inverse().to_cols_array_2d(),
            camera_pos: view.eye().to_array(),
            vertices: scene.vertices.address(),
            indices: scene.ray_tracing_indices().address(),
            draws: scene.draws.address(),
            materials: scene.materials.address(),
            geometry_draws: scene.geometry_draws.address(),
            width: w,
            height: h,
            frame: a.frames,
            spp: settings.samples_per_frame.max(1),
            max_depth: settings.max_depth.max(1),
            rr_start: settings.rr_start,
            env_kind: scene.environment_kind,
            seed: settings.seed,
            lights: lights.map_or(0, |l| l.lights.address()),
            light_alias: lights.map_or(0, |l| l.alias.address()),
            draw_first_light: lights.map_or(0, |l| l.draw_first_light.address()),
            env_alias: lights.map_or(0, |l| l.env_alias.address()),
            light_count: lights.map_or(0, |l| l.count),
            env_light: lights.map_or(u32::MAX, |l| l.env_light),
            env_width: if lights.is_some_and(|l| l.env_alias.size() > 16) { env.width } else { 0 },
            env_height: env.height,
            aperture: settings.aperture.max(0.0),
            focus_distance: settings.focus_distance.max(1e-6),
            uvs: scene.uvs.address(),
            firefly_clamp: settings.firefly_clamp.unwrap_or(0.0).max(0.0),
            flags: if overlay { FLAG_DEPTH } else { 0 }
                | if aov_on { FLAG_AOV } else { 0 }
                | if tree { FLAG_TREE } else { 0 }
                | if settings.sequence == Sequence::Sobol { FLAG_SOBOL } else { 0 },
            light_tree: lights.map_or(0, |l| l.tree.address()),
            light_trails: lights.map_or(0, |l| l.trails.address()),
            light_bounded: lights.map_or(0, |l| l.bounded),
            pad: 0,
        };
        a.frames += 1;
        a.samples += settings.samples_per_frame.max(1);
        let a = &*a;
        let tlas = if hidden.is_empty() {
            graph.import_accel(
                "tlas",
                accel.tlas.raw(),
                accel.tlas.buffer().raw(),
                Some(Access::AccelBuildOutput),
            )
        } else {
            // The top level without the hidden placements, rebuilt when they, the scene or
            // its versions (transforms) change.
            let mut mkey = scene.id.to_le_bytes().to_vec();
            mkey.extend(format!("{:?}", scene.versions).bytes());
            mkey.extend(hidden.iter().flat_map(|i| i.to_le_bytes()));
            let stale = self.masked.as_ref().is_none_or(|(k, _)| *k != mkey);
            if stale {
                let same_scene = self.masked.as_ref().is_some_and(|(k, _)| k[..8] == mkey[..8]);
                let m = match self.masked.take() {
                    Some((_, m)) if same_scene => m,
                    _ => accel.masked_tlas(&self.ctx).map_err(RenderError::Scene)?,
                };
                self.masked = Some((mkey, m));
            }
            let m =
                &self.masked.as_ref().ok_or_else(|| RenderError::Internal("masked tlas".into()))?.1;
            if stale {
                accel.add_masked_build(graph, &self.ctx, m, &hidden).map_err(RenderError::Scene)?;
            }
            graph.import_accel(
                "masked tlas",
                m.tlas.raw(),
                m.tlas.buffer().raw(),
                Some(Access::AccelBuildOutput),
            )
        };
        let env = scene.import_environment(graph);
        let mut sum = graph.use_history(&a.sum, None);
        let mut squares = graph.use_history(&a.squares, None);
        let buffers: Vec<_> = [
            &scene.vertices,
            scene.ray_tracing_indices(),
            &scene.draws,
            &scene.materials,
            &scene.geometry_draws,
        ]
        .into_iter()
        .map(|b| graph.import_buffer(b.name(), b, Some(Access::StorageReadVertex), None))
        .collect();
        // The light tables (written by an upload pass of this graph or of an earlier frame).
        let light_buffers: Vec<_> = lights
            .iter()
            .flat_map(|l| l.all())
            .map(|b| graph.import_buffer(b.name(), b, None, None))
            .collect();
        // The primary hits' depths, where points or lines are drawn over the image (else an
        // unused 1 x 1 image fills the binding).
        let (dw, dh) = if overlay { (w, h) } else { (1, 1) };
        let mut depths =
            graph.create_image("path tracer depths", ImageInfo::d2(dw, dh, vk::Format::R32_SFLOAT));
        // The AOV sums, or unused 1 x 1 images.
        let mut aovs = match &a.aovs {
            Some([albedo, normal]) => {
                [graph.use_history(albedo, None), graph.use_history(normal, None)]
            }
            None => {
                let info = ImageInfo::d2(1, 1, vk::Format::R32G32B32A32_SFLOAT);
                [graph.create_image("pt no albedo", info), graph.create_image("pt no normal", info)]
            }
        };
        let (t, e, s, q, out, z) = (tlas, env, sum, squares, *target, depths);
        let [aov_a, aov_n] = aovs;
        let pipeline = &self.pipeline;
        let sampler = self.env_sampler.raw();
        let mut pass = graph
            .add_pass("path trace")
            .read(&tlas, Access::RayTracingRead)
            .read(&env, Access::SampledRayTracing);
        for b in buffers.iter().chain(&light_buffers) {
            pass = pass.read(b, Access::StorageReadRayTracing);
        }
        pass.write(&mut sum, Access::StorageWriteRayTracing)
            .write(&mut squares, Access::StorageWriteRayTracing)
            .write(target, Access::StorageWriteRayTracing)
            .write(&mut depths, Access::StorageWriteRayTracing)
            .write(&mut aovs[0], Access::StorageWriteRayTracing)
            .write(&mut aovs[1], Access::StorageWriteRayTracing)
            .record(move |pc| {
                pipeline.bind(pc.cmd, Some(heap));
                pc.push_descriptors(
                    pipeline,
                    &[
                        Bind::Accel { binding: 0, accel: &t },
                        Bind::Sampled { binding: 1, image: &e, mip: None, sampler },
                        Bind::Storage { binding: 2, image: &s, mip: 0 },
                        Bind::Storage { binding: 3, image: &q, mip: 0 },
                        Bind::Storage { binding: 4, image: &out, mip: 0 },
                        Bind::Storage { binding: 5, image: &z, mip: 0 },
                        Bind::Storage { binding: 6, image: &aov_a, mip: 0 },
                        Bind::Storage { binding: 7, image: &aov_n, mip: 0 },
                    ],
                )?;
                pipeline.push(pc.cmd, &push);
                // SAFETY: bound, descriptors and constants set; the TLAS was built at upload
                // (or by an update pass earlier in this graph, ordered by the declared read).
                unsafe { pipeline.trace_rays(pc.cmd, [w, h, 1]) }
                    .map_err(framegraph::ExecuteError::Gpu)
            });
        if settings.denoise {
            let guides = crate::denoise::Guides { sum, squares, albedo: aovs[0], normal: aovs[1] };
            let inv = push.inv_view_proj;
            self.denoiser.add_passes(&self.ctx, graph, (w, h), inv, &guides, target)?;
        }
        if !overlay {
            return Ok(None);
        }
        let mut depth = self.overlay.depth_from_image(graph, &depths, view);
        self.overlay.add_passes(graph, scene, view, target, &mut depth);
        Ok(Some(depth))
    }
}
