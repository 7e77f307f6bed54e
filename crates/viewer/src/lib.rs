//! The viewer application's library part: the interactive viewer ([`app`], in a window with
//! [`window`] or offscreen with [`app::run_offscreen`]), headless rendering of a scene file
//! to an image ([`render`]) and the command line ([`cli`], which a program calls with its own
//! registry of renderers).

pub mod app;
pub mod camera;
pub mod cli;
pub mod config;
mod embed;
pub mod export;
pub mod input;
mod inspector;
pub mod passes;
#[cfg(feature = "tracy")]
mod profiling;
mod reload;
pub mod server;
pub mod window;

use std::path::{Path, PathBuf};

pub use embed::Viewer;
/// The Dear ImGui crate the viewer's UI uses (for [`Viewer::on_ui`] windows).
pub use imgui;

use anyhow::{bail, Context as _};
use render::{GpuScene, Registry, RendererInit, SettingValue};
use scene::{Scene, View};
use xpg::{Context, ContextDesc, ShaderCompiler};

/// The built-in renderers: `raster` (the forward rasterizer) and `pathtracer` (labelled
/// "path tracer"). The only place outside their crates where their types are named.
pub fn builtin_registry() -> Registry {
    let mut r = Registry::new();
    r.register("raster", raster::Raster::factory);
    r.register_labelled("pathtracer", "path tracer", pathtracer::PathTracer::factory);
    r
}

/// Command-line shorthands of the built-in renderers (`--msaa`, `--spp`, ...), each a setting
/// of one of them; None: not given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shorthands {
    /// raster `msaa`.
    pub msaa: Option<u32>,
    /// pathtracer `samples_per_frame`.
    pub samples_per_frame: Option<u32>,
    /// pathtracer `max_depth`.
    pub max_depth: Option<u32>,
    /// pathtracer `seed`.
    pub seed: Option<u32>,
    /// pathtracer `light_selection`.
    pub light_selection: Option<pathtracer::LightSelection>,
    /// pathtracer `aperture` and `focus_distance`.
    pub lens: Option<(f32, f32)>,
    /// raster `grid` (on) with its spacing, opacity, fade and up axis.
    pub grid: Option<raster::Grid>,
    /// raster `transparency`.
    pub transparency: Option<raster::Transparency>,
}

/// The settings `shorthands` stand for in built-in renderer `name` (none for other
/// renderers): the one place that maps the shorthands, beside [`builtin_registry`].
pub fn builtin_shorthands(name: &str, shorthands: &Shorthands) -> Vec<(String, SettingValue)> {
    let mut out: Vec<(String, SettingValue)> = Vec::new();
    let mut set = |k: &str, v: Option<SettingValue>| {
        if let Some(v) = v {
            out.push((k.to_string(), v));
        }
    };
    let s = shorthands;
    match name {
        "raster" => {
            set("msaa", s.msaa.map(SettingValue::UInt));
            set("transparency", s.transparency.map(|t| SettingValue::UInt(t.index())));
            if let Some(g) = s.grid {
                set("grid", Some(SettingValue::Bool(true)));
                set("grid_spacing", Some(SettingValue::Float(g.spacing)));
                set("grid_opacity", Some(SettingValue::Float(g.opacity)));
                set("grid_fade", Some(SettingValue::Float(g.fade)));
                set("grid_z_up", Some(SettingValue::Bool(g.up == raster::GridUp::Z)));
            }
        }
        "pathtracer" => {
            set("samples_per_frame", s.samples_per_frame.map(SettingValue::UInt));
            set("max_depth", s.max_depth.map(SettingValue::UInt));
            set("seed", s.seed.map(SettingValue::UInt));
            set("light_selection", s.light_selection.map(|l| SettingValue::UInt(l.index())));
            set("aperture", s.lens.map(|l| SettingValue::Float(l.0)));
            set("focus_distance", s.lens.map(|l| SettingValue::Float(l.1)));
        }
        _ => {}
    }
    out
}

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// Scene file (.gltf / .glb).
    pub scene: PathBuf,
    /// Image size; None: 1280 wide at the camera's aspect ratio.
    pub size: Option<(u32, u32)>,
    /// Camera name (camera or node name); None: the first camera.
    pub camera: Option<String>,
    /// Renderer name in `registry` ("raster").
    pub renderer: String,
    /// The renderers by name (default: [`builtin_registry`]).
    pub registry: Registry,
    /// Settings of the renderer (`key`, `value`), applied after the shorthands below.
    pub settings: Vec<(String, SettingValue)>,
    /// Enable the validation layer and fail on any message.
    pub validation: bool,
    /// Draw a reference grid (raster; validated, then given as its settings: spacing,
    /// opacity, up axis and fade distance; the raster's default colour).
    pub grid: Option<raster::Grid>,
    /// The grid's up axis is the scene's ([`scene::Scene::up_axis`]), not `grid.up`.
    pub grid_up_from_scene: bool,
    /// Samples per pixel (1: no multisampling).
    pub msaa: u32,
    /// Raster: how transparent surfaces are composited (None: the raster's default).
    pub transparency: Option<raster::Transparency>,
    /// Path tracer: samples per pixel.
    pub spp: u32,
    /// Path tracer: longest path.
    pub max_depth: u32,
    /// Path tracer: seed.
    pub seed: u32,
    /// Path tracer: how lights are picked (the tree; by power or uniformly for comparisons).
    pub light_selection: pathtracer::LightSelection,
    /// Path tracer: thin-lens aperture radius (0: pinhole) and focus distance.
    pub lens: (f32, f32),
    /// A file without punctual lights or an environment gets the default lighting (off:
    /// exactly the file's own light, as the reference scenes' conventions ask).
    pub default_lighting: bool,
}

impl RenderRequest {
    /// A raster render of `scene` at its default size, no multisampling, 64 samples and 64
    /// bounces for the path tracer.
    pub fn new(scene: PathBuf) -> Self {
        Self {
            scene,
            size: None,
            camera: None,
            renderer: "raster".into(),
            registry: builtin_registry(),
            settings: Vec::new(),
            validation: false,
            grid: None,
            grid_up_from_scene: false,
            msaa: 1,
            transparency: None,
            spp: 64,
            max_depth: 64,
            seed: 0,
            light_selection: pathtracer::LightSelection::Tree,
            lens: (0.0, 1.0),
            default_lighting: true,
        }
    }
}

/// Parses `WxH`.
pub fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s.split_once(['x', 'X']).with_context(|| format!("size '{s}' is not WxH"))?;
    let w: u32 = w.trim().parse().with_context(|| format!("width in '{s}'"))?;
    let h: u32 = h.trim().parse().with_context(|| format!("height in '{s}'"))?;
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        bail!("size {w}x{h} out of range (1..=16384)");
    }
    Ok((w, h))
}

/// Loads a scene file by its extension (.gltf, .glb, .obj, .ply, images); with
/// `default_lighting`, a scene without punctual lights or an environment gets a default key
/// light and a dim environment (whatever it emits).
pub fn load_scene(path: &Path, default_lighting: bool) -> anyhow::Result<Scene> {
    load_scenes(&[path.to_path_buf()], &Default::default(), default_lighting)
}

/// Loads one input: a file as [`scene::load`] does, or a sequence (a folder or a glob) with
/// `sequence`'s options (frame rate or timestamps, budget, prefetch).
pub fn load_input(
    path: &Path,
    sequence: &scene::sequence::SequenceOptions,
) -> Result<Scene, scene::LoadError> {
    let spec = path.to_string_lossy();
    if scene::sequence::is_sequence(&spec) {
        scene::sequence::open_with(&spec, sequence)
    } else {
        scene::load(path)
    }
}

/// Loads every input into one scene (one timeline), as [`load_input`]; then, with
/// `default_lighting`, a scene without punctual lights or an environment gets the default
/// lighting.
pub fn load_scenes(
    paths: &[PathBuf],
    sequence: &scene::sequence::SequenceOptions,
    default_lighting: bool,
) -> anyhow::Result<Scene> {
    let mut scene = Scene::default();
    for (k, p) in paths.iter().enumerate() {
        let s = load_input(p, sequence)?;
        if k == 0 {
            scene = s;
        } else {
            scene.append(s);
        }
    }
    let path = paths.first().map_or_else(PathBuf::new, PathBuf::clone);
    if default_lighting && scene.add_default_lighting() {
        tracing::info!("{}: no lights or environment: default lighting added", path.display());
    }
    Ok(scene)
}

pub use render::headless::RenderedImage;
pub(crate) use render::headless::{add_tonemap_pass, hdr_pixels, tonemap_pipeline};

/// Renders `req` headless and returns both the HDR radiance and the tonemapped image.
pub fn render(req: &RenderRequest) -> anyhow::Result<RenderedImage> {
    let scene = load_scene(&req.scene, req.default_lighting)?;
    render_scene(&scene, req)
}

/// Renders an already loaded scene (`req.scene` only names it in messages).
pub fn render_scene(scene: &Scene, req: &RenderRequest) -> anyhow::Result<RenderedImage> {
    let (width, height) = render_size(scene, req);
    let view = request_view(scene, req, (width, height))?;
    let mut h = Headless::new(scene, req)?;
    let img = render::headless::render_view(
        &h.ctx,
        &h.compiler,
        h.renderer.as_mut(),
        &h.gpu_scene,
        &view,
        req.spp,
    )?;
    h.check_validation()?;
    Ok(img)
}

/// The image size of `req` for `scene`: its own, else 1280 wide at the camera's aspect.
fn render_size(scene: &Scene, req: &RenderRequest) -> (u32, u32) {
    match req.size {
        Some(s) => s,
        None => View::default_size(scene, req.camera.as_deref(), 1280),
    }
}

/// `req`'s camera in `scene` (where the scene's time put it), at `size`.
fn request_view(scene: &Scene, req: &RenderRequest, (w, h): (u32, u32)) -> anyhow::Result<View> {
    View::from_scene(scene, req.camera.as_deref(), w, h).with_context(|| {
        format!(
            "{}: no camera named '{}'",
            req.scene.display(),
            req.camera.as_deref().unwrap_or("")
        )
    })
}

/// What a headless render of a request needs: a Vulkan context, the compiler, the scene's
/// GPU copy and the renderer made and set up as the request says.
pub(crate) struct Headless {
    pub(crate) ctx: Context,
    pub(crate) compiler: ShaderCompiler,
    pub(crate) gpu_scene: GpuScene,
    pub(crate) renderer: Box<dyn render::Renderer>,
    validation: bool,
}

impl Headless {
    pub(crate) fn new(scene: &Scene, req: &RenderRequest) -> anyhow::Result<Self> {
        let name = req.registry.resolve(&req.renderer)?.to_string();
        let ctx = Context::new(&ContextDesc {
            app_name: "xpg-view".into(),
            validation: req.validation,
            ..Default::default()
        })
        .context("creating the Vulkan context")?;
        let compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
        let gpu_scene = GpuScene::upload(&ctx, scene).context("uploading the scene")?;
        // The request's shorthands, for the built-ins that have them, then its settings.
        if let Some(g) = req.grid {
            g.validate()?;
        }
        let grid = req.grid.map(|mut g| {
            if req.grid_up_from_scene {
                g.up = if scene.up_axis().z > 0.5 { raster::GridUp::Z } else { raster::GridUp::Y };
            }
            g
        });
        let shorthands = Shorthands {
            msaa: Some(req.msaa),
            samples_per_frame: Some(req.spp.clamp(1, 16)),
            max_depth: Some(req.max_depth.max(1)),
            seed: Some(req.seed),
            light_selection: Some(req.light_selection),
            lens: Some(req.lens),
            grid,
            transparency: req.transparency,
        };
        let mut settings = builtin_shorthands(&name, &shorthands);
        settings.extend(req.settings.iter().cloned());
        let init =
            RendererInit { ctx: &ctx, compiler: &compiler, settings: &settings, z_up: false };
        let mut renderer = req
            .registry
            .create(&name, &init)
            .with_context(|| format!("building the {name} renderer"))?;
        renderer.scene_changed(scene, &gpu_scene);
        Ok(Self { ctx, compiler, gpu_scene, renderer, validation: req.validation })
    }

    /// With validation on: fails when the layer said anything.
    pub(crate) fn check_validation(&self) -> anyhow::Result<()> {
        if self.validation {
            self.ctx.wait_idle()?;
            let m = self.ctx.validation_messages();
            if m.total() > 0 {
                bail!("{} validation messages:\n{}", m.total(), m.recent.join("\n"));
            }
        }
        Ok(())
    }
}

/// Plays the animation `which` of `scene`: a clip's name, its index, or `all`; from its
/// first key.
pub fn choose_animation(scene: &mut Scene, which: &str) -> anyhow::Result<()> {
    let clip = if which.eq_ignore_ascii_case("all") {
        None
    } else if let Some(i) = scene.clips.iter().position(|c| c.name == which) {
        Some(i)
    } else {
        let names: Vec<&str> = scene.clips.iter().map(|c| c.name.as_str()).collect();
        let i: usize = which.parse().map_err(|_| {
            anyhow::anyhow!(
                "--animation {which}: no such animation (the file's: {names:?}, or all)"
            )
        })?;
        if i >= scene.clips.len() {
            bail!("--animation {which}: the file has {} animations ({names:?})", scene.clips.len());
        }
        Some(i)
    };
    scene.play_clip(clip);
    if let Some((start, _)) = scene.time_span() {
        scene.set_time(start);
    }
    Ok(())
}

/// Checks that `out` names a supported output format (before spending time rendering).
pub fn check_output(out: &Path) -> anyhow::Result<()> {
    let ext = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") | Some("exr") => Ok(()),
        _ => bail!("{}: unsupported output format (expected .png or .exr)", out.display()),
    }
}

/// Writes the path tracer's per-sample variance of `img` to `out` (.exr).
pub fn save_variance(img: &RenderedImage, out: &Path) -> anyhow::Result<()> {
    let var = img.variance.as_ref().context("no variance: only the path tracer makes one")?;
    if out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref()
        != Some("exr")
    {
        bail!("{}: the variance is written as .exr", out.display());
    }
    let rgb: Vec<f32> = var.iter().flat_map(|p| [p[0], p[1], p[2]]).collect();
    let buf = image::Rgb32FImage::from_raw(img.width, img.height, rgb).context("image size")?;
    buf.save(out).with_context(|| format!("writing {}", out.display()))
}

/// Writes the first hits of `img` (`render --aov`) next to `out`: `STEM_albedo.exr`,
/// `STEM_normal.exr` and `STEM_depth.exr`; returns their paths.
pub fn save_aovs(img: &RenderedImage, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let aovs = img.aovs.as_ref().context("no AOVs: only the path tracer keeps them")?;
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("render");
    let dir = out.parent().unwrap_or(Path::new(""));
    let depth: Vec<[f32; 3]> = aovs.depth.iter().map(|&d| [d; 3]).collect();
    let mut written = Vec::new();
    for (name, rgb) in [("albedo", &aovs.albedo), ("normal", &aovs.normal), ("depth", &depth)] {
        let path = dir.join(format!("{stem}_{name}.exr"));
        let flat: Vec<f32> = rgb.iter().flatten().copied().collect();
        let buf =
            image::Rgb32FImage::from_raw(img.width, img.height, flat).context("image size")?;
        buf.save(&path).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `img` to `out`: `.png` tonemapped sRGB, `.exr` linear HDR radiance.
pub fn save(img: &RenderedImage, out: &Path) -> anyhow::Result<()> {
    let ext = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("png") => image::save_buffer(
            out,
            &img.ldr,
            img.width,
            img.height,
            image::ExtendedColorType::Rgba8,
        )
        .with_context(|| format!("writing {}", out.display())),
        Some("exr") => {
            let rgb: Vec<f32> = img.hdr.iter().flat_map(|p| [p[0], p[1], p[2]]).collect();
            let buf =
                image::Rgb32FImage::from_raw(img.width, img.height, rgb).context("image size")?;
            buf.save(out).with_context(|| format!("writing {}", out.display()))
        }
        _ => bail!("{}: unsupported output format (expected .png or .exr)", out.display()),
    }
}
