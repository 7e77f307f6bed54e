//! The interactive viewer: scene, viewports (each with a camera and a renderer), Dear ImGui
//! with docking, and one frame = one framegraph. The same [`App::frame`] runs in a window
//! (presenting to a swapchain) and offscreen (for machines without a display and for tests).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _};
use framegraph::{Access, Executor, FrameGraph, ImageInfo};
use glam::Vec3;
use imgui::TextureId;
use render::{BoxedRenderer, GpuScene, Hooks, Registry, RenderTargets, RendererInit, SettingValue};
use scene::Scene;
use xpg::vk;
use xpg::{
    Context, ContextDesc, FrameRing, Image, ImageDesc, Pipeline, Sampler, ShaderCompiler,
    Swapchain, Uploader,
};

use crate::camera::{AxisView, Camera, CameraMode, Up};
use crate::input::{Button, InputEvent, Script};

/// The HDR format of a viewport without a renderer.
const DEFAULT_HDR: vk::Format = vk::Format::R16G16B16A16_SFLOAT;

/// Everything the viewer starts with.
#[derive(Debug, Clone)]
pub struct ViewerOptions {
    /// Files to open.
    pub files: Vec<PathBuf>,
    /// Window (or offscreen image) size.
    pub size: (u32, u32),
    /// Wait for vertical blank.
    pub vsync: bool,
    /// Raster multisampling.
    pub msaa: u32,
    /// One viewport per entry, with the renderer of that name in `registry`.
    pub viewports: Vec<String>,
    /// The renderers viewports can use, by name (the built-ins: [`crate::builtin_registry`]).
    pub registry: Registry,
    /// Settings of renderers (`renderer`, `key`, `value`) applied when one is made, after
    /// the shorthands `msaa` (raster), `spp` and `max_depth` (path tracer).
    pub renderer_settings: Vec<(String, String, SettingValue)>,
    /// World up axis.
    pub up: Up,
    /// Path tracer samples per pixel per frame.
    pub spp: u32,
    /// Path tracer longest path.
    pub max_depth: u32,
    /// Validation layer on; a validation message makes the run fail.
    pub validation: bool,
    /// Pipeline and shader caches on disk (None: in memory only).
    pub cache_dir: Option<PathBuf>,
    /// Scripted input.
    pub script: Option<Script>,
    /// Stop after this many frames.
    pub frames: Option<u64>,
    /// Save the whole window after the last frame.
    pub screenshot: Option<PathBuf>,
    /// Seconds per frame for camera motion (None: measured). Scripted runs use a fixed step
    /// so that they are reproducible.
    pub fixed_dt: Option<f32>,
    /// Take the project's shaders from this folder (a copy to edit) instead of the built-in
    /// one.
    pub shader_dir: Option<PathBuf>,
    /// Watch the shader files and rebuild the pipelines when one changes.
    pub hot_reload: bool,
    /// Keyboard shortcuts.
    pub keys: crate::config::Keys,
    /// Panels open at start.
    pub panels: Panels,
    /// Folders of custom passes (`*.toml` + Slang, see [`crate::passes`]).
    pub pass_dirs: Vec<PathBuf>,
}

impl Default for ViewerOptions {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            size: (1280, 800),
            vsync: true,
            msaa: 4,
            viewports: vec!["raster".into()],
            registry: crate::builtin_registry(),
            renderer_settings: Vec::new(),
            up: Up::Y,
            spp: 1,
            max_depth: 8,
            validation: false,
            cache_dir: default_cache_dir(),
            script: None,
            frames: None,
            screenshot: None,
            fixed_dt: None,
            shader_dir: None,
            hot_reload: true,
            keys: Default::default(),
            panels: Panels::default(),
            pass_dirs: Vec::new(),
        }
    }
}

/// The user's cache folder for the viewer (`$XDG_CACHE_HOME/xpg-view` or the platform's).
pub fn default_cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("xpg-view"))
}

/// The optional panels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Panels {
    /// Frame times, GPU time per pass, GPU memory, path tracer samples.
    pub stats: bool,
    /// The current framegraph plan (passes, resources, barriers), exportable as DOT.
    pub graph: bool,
    /// The scene tree (visibility everywhere) and the inspector of the selected node.
    pub inspector: bool,
}

/// Timings of the frames so far.
#[derive(Debug, Clone, Default)]
pub struct FrameStats {
    /// Frames rendered.
    pub frames: u64,
    /// CPU time of the last frame (UI, graph, recording, submission; not the waits for a
    /// free frame slot and a swapchain image), milliseconds.
    pub cpu_ms: f32,
    /// GPU time of the last frame whose timestamps are available (sum over passes), ms.
    pub gpu_ms: f32,
    /// Per-pass GPU times of that frame.
    pub passes: Vec<(String, f32)>,
}

struct ViewportImage {
    ldr: Image,
    texture: TextureId,
    set: vk::DescriptorSet,
    width: u32,
    height: u32,
    /// Rendered at least once (its layout is known).
    used: bool,
}

struct Viewport {
    id: u32,
    camera: Camera,
    /// The name of the renderer it shows.
    kind: String,
    /// The renderers made for it so far, by name (switching back is instant).
    renderers: Vec<(String, BoxedRenderer)>,
    image: Option<ViewportImage>,
    /// Shown this frame (its window is visible): only those render.
    shown: bool,
    /// Save this viewport (PNG from the tonemapped image, EXR from the HDR radiance).
    screenshot: Option<PathBuf>,
    /// The HDR copy for an EXR screenshot.
    hdr_copy: Option<Image>,
    error: Option<String>,
    /// Nodes this viewport does not show (its visibility mask).
    hidden: std::collections::BTreeSet<u32>,
    /// The file camera last chosen (C steps to the next).
    file_camera: Option<usize>,
    /// Why a custom pass cannot run in this viewport (it keeps rendering without it).
    pass_error: Option<String>,
}

impl Viewport {
    /// A viewport with no renderer and no image yet.
    fn new(id: u32, camera: Camera, kind: String) -> Self {
        Viewport {
            id,
            camera,
            kind,
            renderers: Vec::new(),
            image: None,
            shown: false,
            screenshot: None,
            hdr_copy: None,
            error: None,
            hidden: Default::default(),
            file_camera: None,
            pass_error: None,
        }
    }

    /// An empty stand-in while the real one is taken out to be worked on.
    fn placeholder(&self) -> Self {
        Viewport::new(self.id, self.camera.clone(), self.kind.clone())
    }

    fn title(&self) -> String {
        format!("Viewport {} ({})###viewport{}", self.id, self.kind, self.id)
    }

    /// The renderer it shows, if made.
    fn renderer(&self) -> Option<&BoxedRenderer> {
        self.renderers.iter().find(|(n, _)| *n == self.kind).map(|(_, r)| r)
    }

    /// The renderer it shows, if made.
    fn renderer_mut(&mut self) -> Option<&mut BoxedRenderer> {
        self.renderers.iter_mut().find(|(n, _)| *n == self.kind).map(|(_, r)| r)
    }

    /// Whether it holds (or shows) a renderer of `name`.
    fn uses(&self, name: &str) -> bool {
        self.kind == name || self.renderers.iter().any(|(n, _)| n == name)
    }
}

/// The settings a new renderer `name` starts with: the shorthand flags of the built-ins, then
/// the `--set NAME.KEY=VALUE` settings of `opts`.
fn initial_settings(opts: &ViewerOptions, name: &str) -> Vec<(String, SettingValue)> {
    let mut out = Vec::new();
    match name {
        "raster" => out.push(("msaa".into(), SettingValue::UInt(opts.msaa))),
        "pathtracer" => {
            out.push(("samples_per_frame".into(), SettingValue::UInt(opts.spp.clamp(1, 64))));
            out.push(("max_depth".into(), SettingValue::UInt(opts.max_depth.clamp(1, 1024))));
        }
        _ => {}
    }
    out.extend(
        opts.renderer_settings.iter().filter(|(r, ..)| r == name).map(|(_, k, v)| (k.clone(), *v)),
    );
    out
}

/// Makes renderer `name` through the registry of `opts`, with its initial settings.
fn make_renderer(
    ctx: &Context,
    compiler: &ShaderCompiler,
    opts: &ViewerOptions,
    name: &str,
) -> Result<BoxedRenderer, render::RenderError> {
    let settings = initial_settings(opts, name);
    let init = RendererInit {
        ctx,
        compiler,
        settings: &settings,
        z_up: opts.up == Up::Z,
    };
    opts.registry.create(name, &init)
}

/// Which pipeline groups a reload rebuilds.
#[derive(Debug, Clone)]
struct Groups {
    tonemap: bool,
    /// The renderers (by name) to make again.
    renderers: Vec<String>,
    /// The custom passes of these folders.
    passes: Option<Vec<PathBuf>>,
}

/// Pipelines rebuilt after a shader change, on another thread, with the files each read.
struct Rebuilt {
    tonemap: Option<Pipeline>,
    /// One new renderer of each name rebuilt.
    renderers: Vec<(String, BoxedRenderer)>,
    /// The custom passes again, with the errors of those that failed.
    passes: Option<LoadedPasses>,
    files: Vec<(String, Vec<PathBuf>)>,
    /// The first built-in group that failed (then no built-in group is swapped in; the
    /// passes are).
    error: Option<String>,
}

/// Compiles and builds the groups asked for: the tonemap pipeline and one renderer of each
/// name. Any failure is the compiler's (or the driver's) message; nothing is swapped then.
fn rebuild(
    ctx: &Context,
    compiler: &ShaderCompiler,
    opts: &ViewerOptions,
    what: Groups,
) -> Result<Rebuilt, String> {
    let mut out = Rebuilt {
        tonemap: None,
        renderers: Vec::new(),
        passes: None,
        files: Vec::new(),
        error: None,
    };
    if let Some(dirs) = &what.passes {
        let mut loaded = load_passes(ctx, compiler, dirs);
        out.files.push(("passes".into(), std::mem::take(&mut loaded.files)));
        out.passes = Some(loaded);
    }
    if what.tonemap {
        let (t, files) = compiler.recording(|| crate::tonemap_pipeline(ctx, compiler));
        let t = t.map_err(|e| format!("{e:#}"));
        out.files.push(("tonemap".into(), files));
        match t {
            Ok(t) => out.tonemap = Some(t),
            Err(e) => out.error = Some(e),
        }
    }
    for name in &what.renderers {
        let t = Instant::now();
        let (r, files) = compiler.recording(|| make_renderer(ctx, compiler, opts, name));
        tracing::debug!("{name} rebuilt in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        out.files.push((name.clone(), files));
        match r {
            Ok(r) => out.renderers.push((name.clone(), r)),
            Err(e) => out.error = out.error.take().or(Some(e.to_string())),
        }
    }
    Ok(out)
}

/// The ImGui renderer and what its textures need.
struct UiGpu {
    renderer: imgui_rs_vulkan_renderer::Renderer,
    layout: vk::DescriptorSetLayout,
    pool: vk::DescriptorPool,
    /// Sets of released viewport images: (frames begun when released, set), freed on the
    /// render thread once the frames that used them are done (the pool is not thread-safe,
    /// so not through the context's deferred frees, which any thread may run).
    frees: Vec<(u64, vk::DescriptorSet)>,
    /// Frames begun.
    frames: u64,
    sampler: Sampler,
    ctx: Context,
}

impl Drop for UiGpu {
    fn drop(&mut self) {
        let _ = self.ctx.wait_idle();
        // SAFETY: the device is idle; the pool (and with it every set) and the layout are
        // this struct's own, destroyed once.
        unsafe {
            self.ctx.device().destroy_descriptor_pool(self.pool, None);
            self.ctx.device().destroy_descriptor_set_layout(self.layout, None);
        }
    }
}

/// A loaded (or failed) file.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// The path.
    pub path: PathBuf,
    /// Why it failed to load, if it did.
    pub error: Option<String>,
}

/// Things the UI asks for, done after the UI is built.
enum Action {
    AddViewport(String),
    Close(u32),
    SetRenderer(u32, String),
    Relayout,
    Screenshot(PathBuf),
    ExportDot(PathBuf),
}

/// The viewer.
pub struct App {
    /// What it was started with.
    pub opts: ViewerOptions,
    ctx: Context,
    compiler: std::sync::Arc<ShaderCompiler>,
    /// Shader hot reload: the watcher, the rebuild running on another thread (with the time
    /// of the change that started it), the last error, counters.
    watcher: Option<crate::reload::ShaderWatcher>,
    reload_job: Option<(Instant, std::sync::mpsc::Receiver<Result<Rebuilt, String>>)>,
    reload_again: Option<(Instant, HashSet<PathBuf>)>,
    /// The pipeline groups the last reload rebuilt.
    last_rebuilt: Vec<String>,
    /// The rebuild thread (joined before the app goes).
    rebuild_thread: Option<std::thread::JoinHandle<()>>,
    /// The shader files each pipeline group was last built from (canonical): "tonemap",
    /// "raster", "pathtracer". A change rebuilds only the groups that read the file.
    deps: std::collections::HashMap<String, HashSet<PathBuf>>,
    shader_error: Option<String>,
    reloads: u64,
    reload_latency: Option<Instant>,
    /// Milliseconds from the last shader change to the end of the first frame using it.
    pub last_reload_ms: Option<f64>,
    /// Every reload's latency so far (ms).
    pub reload_ms: Vec<f64>,
    scene: Scene,
    gpu: Option<GpuScene>,
    files: Vec<FileEntry>,
    viewports: Vec<Viewport>,
    next_id: u32,
    /// Dear ImGui keeps one current context per process: each App keeps its own suspended
    /// and activates it, under [`IMGUI`], for the UI part of a frame.
    imgui: Option<imgui::SuspendedContext>,
    /// Input received since the last frame (given to ImGui when the frame starts).
    pending_input: Vec<InputEvent>,
    wants_text: bool,
    // Dropped before the context's last clone (fields drop in order; `ctx` is an Arc).
    ui_gpu: UiGpu,
    executor: Executor,
    ring: FrameRing,
    /// None while the tonemap shader fails to compile (viewports show a plain colour).
    tonemap: Option<Pipeline>,
    target: Option<Image>,
    target_format: vk::Format,
    layout_dirty: bool,
    scene_uploads: u64,
    /// Milliseconds spent in each phase of `new` (for `--stats`).
    pub startup: Vec<(&'static str, f64)>,
    /// The swapchain copy of the last frame that captured one.
    capture: Option<Image>,
    capture_next: bool,
    captured: bool,
    /// Frames whose scripted events were applied (also frames that drew nothing).
    script_frame: u64,
    /// The default light and environment were added (removed again when a file comes).
    defaults_added: bool,
    pending_screenshot: Vec<PathBuf>,
    last_frame: Instant,
    /// Frame statistics.
    pub stats: FrameStats,
    /// Which panels are open.
    pub panels: Panels,
    /// The custom passes, and the errors of those that failed to load.
    user_passes: Vec<crate::passes::UserPass>,
    pass_errors: Vec<String>,
    /// The passes' TOML files (watched besides the shaders).
    pass_files: Vec<PathBuf>,
    /// A refused in-place update asks for an upload; the scene versions an update or an
    /// upload failed for (not tried again until the scene changes).
    reupload: bool,
    failed_update: Option<scene::Versions>,
    failed_upload: Option<scene::Versions>,
    /// Nodes hidden in every viewport (the scene tree's toggles).
    hidden_everywhere: std::collections::BTreeSet<u32>,
    /// The node the inspector shows.
    selected: Option<usize>,
    plan_text: String,
    plan_dot: String,
    /// Write the next frame's plan as DOT here.
    dot_export: Option<PathBuf>,
    /// Requested window size change (scripted resize), for the window to apply.
    pub requested_size: Option<(u32, u32)>,
    /// Current size of the offscreen image / last window size.
    pub size: (u32, u32),
    /// The user asked to quit.
    pub quit: bool,
}

/// Frames in flight of the viewer (its frame ring, the ImGui renderer and the swapchain's
/// acquire semaphores all use this count).
pub const FRAMES_IN_FLIGHT: usize = 2;

/// Serialises the use of Dear ImGui's process-wide current context between apps.
static IMGUI: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn imgui_lock() -> std::sync::MutexGuard<'static, ()> {
    IMGUI.lock().unwrap_or_else(|e| e.into_inner())
}

impl App {
    /// Starts the viewer: the Vulkan context, the files, the UI. `target_format` is the
    /// swapchain's format (windowed) or None (offscreen: BGRA8, as most swapchains).
    pub fn new(
        opts: ViewerOptions,
        ctx: Context,
        target_format: Option<vk::Format>,
    ) -> anyhow::Result<Self> {
        let t0 = Instant::now();
        let mut compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
        if let Some(dir) = &opts.shader_dir {
            compiler = compiler.with_shader_dir(dir);
        }
        if let Some(dir) = &opts.cache_dir {
            compiler = compiler.with_disk_cache(dir.join("shaders"));
        }
        let watcher = if opts.hot_reload {
            match crate::reload::ShaderWatcher::new() {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!("shader hot reload is off: {e}");
                    None
                }
            }
        } else {
            None
        };
        let target_format = target_format.unwrap_or(vk::Format::B8G8R8A8_UNORM);
        // Everything fallible that needs no UI first: once the ImGui context exists, it is
        // only dropped under the lock (here, or by App's Drop).
        let (tonemap, tonemap_files) =
            compiler.recording(|| crate::tonemap_pipeline(&ctx, &compiler));
        // A tonemap that fails to compile is reported and fixed by a reload; the viewer runs.
        let (tonemap, startup_error) = match tonemap {
            Ok(t) => (Some(t), None),
            Err(e) => {
                tracing::error!("{e:#}");
                (None, Some(format!("{e:#}")))
            }
        };
        let ring = FrameRing::new(&ctx, FRAMES_IN_FLIGHT)?;
        let guard = imgui_lock();
        let mut imgui = match imgui::SuspendedContext::create().activate() {
            Ok(c) => c,
            Err(_) => bail!("another Dear ImGui context is current"),
        };
        imgui.set_ini_filename(None);
        imgui.set_log_filename(None);
        imgui.io_mut().config_flags |= imgui::ConfigFlags::DOCKING_ENABLE;
        imgui.io_mut().display_size = [opts.size.0 as f32, opts.size.1 as f32];
        imgui.style_mut().use_dark_colors();
        let ui_gpu = match make_ui_gpu(&ctx, &mut imgui, target_format) {
            Ok(u) => u,
            Err(e) => {
                drop(imgui); // under the lock
                return Err(e);
            }
        };
        let imgui = imgui.suspend();
        drop(guard);
        let mut app = Self {
            size: opts.size,
            executor: Executor::new(&ctx, FRAMES_IN_FLIGHT),
            ring,
            opts,
            compiler: std::sync::Arc::new(compiler),
            watcher,
            reload_job: None,
            reload_again: None,
            rebuild_thread: None,
            last_rebuilt: Vec::new(),
            deps: [("tonemap".to_string(), crate::reload::canonical_set(&tonemap_files))].into(),
            shader_error: startup_error,
            reloads: 0,
            reload_latency: None,
            last_reload_ms: None,
            reload_ms: Vec::new(),
            scene: Scene::default(),
            gpu: None,
            files: Vec::new(),
            viewports: Vec::new(),
            next_id: 1,
            imgui: Some(imgui),
            pending_input: Vec::new(),
            wants_text: false,
            ui_gpu,
            tonemap,
            target: None,
            target_format,
            layout_dirty: true,
            scene_uploads: 0,
            startup: Vec::new(),
            capture: None,
            capture_next: false,
            captured: false,
            script_frame: 0,
            defaults_added: false,
            pending_screenshot: Vec::new(),
            last_frame: Instant::now(),
            stats: FrameStats::default(),
            panels: Panels::default(),
            plan_text: String::new(),
            hidden_everywhere: Default::default(),
            reupload: false,
            failed_update: None,
            failed_upload: None,
            user_passes: Vec::new(),
            pass_errors: Vec::new(),
            pass_files: Vec::new(),
            selected: None,
            plan_dot: String::new(),
            dot_export: None,
            requested_size: None,
            quit: false,
            ctx,
        };
        app.startup.push(("ui and tonemap", t0.elapsed().as_secs_f64() * 1e3));
        let t = Instant::now();
        app.panels = app.opts.panels;
        let files = app.opts.files.clone();
        app.open_files(&files);
        app.startup.push(("files (load, upload)", t.elapsed().as_secs_f64() * 1e3));
        let t = Instant::now();
        for kind in app.opts.viewports.clone() {
            app.add_viewport(&kind);
        }
        app.startup.push(("renderers", t.elapsed().as_secs_f64() * 1e3));
        if !app.opts.pass_dirs.is_empty() {
            let mut loaded = load_passes(&app.ctx, &app.compiler, &app.opts.pass_dirs);
            let files = std::mem::take(&mut loaded.files);
            app.deps.insert("passes".into(), crate::reload::canonical_set(&files));
            app.apply_passes(loaded);
        }
        Ok(app)
    }

    /// The Vulkan context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The files opened so far, with their errors.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The shader compiler (for its cache statistics).
    pub fn compiler(&self) -> &ShaderCompiler {
        &self.compiler
    }

    /// Opens files next to what is loaded; a file that fails keeps its error (shown in the UI
    /// and logged) and changes nothing else.
    pub fn open_files(&mut self, paths: &[PathBuf]) {
        let mut changed = false;
        let first = !self.files.iter().any(|f| f.error.is_none());
        for p in paths {
            match scene::load(p) {
                Ok(s) => {
                    tracing::info!("{}: loaded", p.display());
                    if std::mem::take(&mut self.defaults_added) {
                        // The default lighting is the last light, node and the environment:
                        // the new file may bring its own.
                        self.scene.lights.pop();
                        self.scene.nodes.pop();
                        self.scene.environment = scene::Environment::None;
                    }
                    self.scene.append(s);
                    self.files.push(FileEntry { path: p.clone(), error: None });
                    changed = true;
                }
                Err(e) => {
                    let msg = format!("{e}");
                    tracing::error!("{}: {msg}", p.display());
                    self.files.push(FileEntry { path: p.clone(), error: Some(msg) });
                }
            }
        }
        if changed {
            if self.scene.add_default_lighting() {
                self.defaults_added = true;
                tracing::info!("no lights, environment or emitters: default lighting added");
            }
            self.upload_scene();
            for vp in &mut self.viewports {
                if first {
                    vp.camera = Camera::new(&self.scene, self.opts.up);
                } else {
                    vp.camera.scene_radius = Camera::new(&self.scene, self.opts.up).scene_radius;
                }
            }
        }
    }

    fn upload_scene(&mut self) {
        // The previous GpuScene's resources are freed once the GPU is done with them.
        match GpuScene::upload(&self.ctx, &self.scene) {
            Ok(g) => {
                self.scene_uploads += 1;
                for vp in &mut self.viewports {
                    vp.error = None;
                    for (_, r) in &mut vp.renderers {
                        r.scene_changed(&self.scene, &g);
                    }
                }
                self.gpu = Some(g);
            }
            Err(e) => {
                tracing::error!("uploading the scene: {e}");
                self.files.push(FileEntry {
                    path: PathBuf::from("(scene upload)"),
                    error: Some(e.to_string()),
                });
            }
        }
    }

    /// Samples per pixel the renderer of viewport `id` has accumulated (a progressive
    /// renderer, such as the path tracer).
    pub fn samples(&self, id: u32) -> Option<u32> {
        self.viewports.iter().find(|v| v.id == id).and_then(|v| v.renderer()?.samples())
    }

    /// The settings of the renderer viewport `id` shows.
    pub fn renderer_settings(&self, id: u32) -> Vec<render::Setting> {
        let vp = self.viewports.iter().find(|v| v.id == id);
        vp.and_then(|v| v.renderer()).map(|r| r.settings()).unwrap_or_default()
    }

    /// Changes a setting of the renderer viewport `id` shows (as its Settings popup does).
    pub fn set_renderer_setting(
        &mut self,
        id: u32,
        key: &str,
        value: SettingValue,
    ) -> anyhow::Result<()> {
        let vp = self.viewports.iter_mut().find(|v| v.id == id).context("no such viewport")?;
        let r = vp.renderer_mut().context("the viewport has no renderer")?;
        r.set(key, value)?;
        Ok(())
    }

    /// Edits the scene as the inspector does (the renderers follow in the next frame):
    /// `f` gets the scene and returns whether it changed something (through the setters that
    /// bump the scene's versions).
    pub fn edit_scene(&mut self, f: impl FnOnce(&mut Scene)) {
        f(&mut self.scene);
    }

    /// Hides (or shows) node `node` in every viewport, as the scene tree's toggle does.
    pub fn set_node_visible_everywhere(&mut self, node: u32, visible: bool) {
        if visible {
            self.hidden_everywhere.remove(&node);
        } else {
            self.hidden_everywhere.insert(node);
        }
    }

    /// The custom passes loaded (names, in the order they run) and the load errors.
    pub fn user_passes(&self) -> (Vec<String>, &[String]) {
        (self.user_passes.iter().map(|p| p.name.clone()).collect(), &self.pass_errors)
    }

    /// Why a custom pass could not run in viewport `id` in the last frame, if one could not.
    pub fn viewport_pass_error(&self, id: u32) -> Option<&str> {
        self.viewports.iter().find(|v| v.id == id).and_then(|v| v.pass_error.as_deref())
    }

    /// Writes the next frame's framegraph plan to `path` as Graphviz DOT (the Graph panel's
    /// `Export DOT`).
    pub fn export_framegraph_dot(&mut self, path: PathBuf) {
        self.dot_export = Some(path);
    }

    /// The last exported plan as DOT.
    pub fn framegraph_dot(&self) -> &str {
        &self.plan_dot
    }

    /// The last frame's plan as text (kept while the framegraph panel is open).
    pub fn framegraph_text(&self) -> &str {
        &self.plan_text
    }

    /// The pipeline groups ("tonemap", "raster", "pathtracer", "passes") the last reload
    /// rebuilt: those that read a changed file.
    pub fn last_rebuilt(&self) -> &[String] {
        &self.last_rebuilt
    }

    /// Successful shader reloads so far.
    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    /// The compiler's message of the last failed reload (file:line), until a reload succeeds.
    pub fn shader_error(&self) -> Option<&str> {
        self.shader_error.as_deref()
    }

    /// Whether a reload is being compiled or waits for its debounce.
    pub fn reload_pending(&self) -> bool {
        self.reload_job.is_some() || self.reload_again.is_some()
    }

    /// Checks the shader watcher, starts a rebuild on another thread after a change, and
    /// swaps in the rebuilt pipelines when it finished (keeping the old ones on an error).
    fn poll_reload(&mut self) {
        if let Some(w) = self.watcher.as_mut() {
            w.refresh(&self.compiler);
            w.watch_extra(&self.pass_files);
            w.watch_toml_dirs(&self.opts.pass_dirs);
            if let Some((t0, files)) = w.poll() {
                let e = self.reload_again.get_or_insert((t0, HashSet::new()));
                e.1.extend(files);
            }
        }
        if let Some((t0, rx)) = &self.reload_job {
            match rx.try_recv() {
                Ok(result) => {
                    let t0 = *t0;
                    self.reload_job = None;
                    self.apply_rebuilt(result, t0);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.reload_job = None;
                    self.shader_error = Some("the shader rebuild thread ended".into());
                }
            }
        }
        if self.reload_job.is_none() {
            if let Some((t0, files)) = self.reload_again.take() {
                self.start_rebuild(t0, &files);
            }
        }
    }

    fn start_rebuild(&mut self, t0: Instant, changed: &HashSet<PathBuf>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (ctx, compiler, opts) = (self.ctx.clone(), self.compiler.clone(), self.opts.clone());
        // Rebuild a group when it read a changed file, or when it is in use but has no
        // working build (a failed start or a failed reload).
        let failing = self.shader_error.is_some();
        let needs =
            |group: &str| failing || self.deps.get(group).is_none_or(|d| !d.is_disjoint(changed));
        // Every renderer in use: rebuilt when it read a changed file or its viewport is broken.
        let renderers: Vec<String> = opts
            .registry
            .names()
            .into_iter()
            .filter(|name| self.viewports.iter().any(|v| v.uses(name)))
            .filter(|name| {
                needs(name)
                    || self.viewports.iter().any(|v| v.kind == *name && v.error.is_some())
            })
            .map(str::to_string)
            .collect();
        // A file in a pass folder (a new pass, too) reloads the passes.
        let pass_dirs: HashSet<PathBuf> =
            self.opts.pass_dirs.iter().filter_map(|d| std::fs::canonicalize(d).ok()).collect();
        let in_pass_dir = changed.iter().any(|f| f.parent().is_some_and(|d| pass_dirs.contains(d)));
        let passes = (!self.opts.pass_dirs.is_empty()
            && (needs("passes") || in_pass_dir || !self.pass_errors.is_empty()))
        .then(|| self.opts.pass_dirs.clone());
        let what = Groups { tonemap: needs("tonemap"), renderers, passes };
        if !(what.tonemap || !what.renderers.is_empty() || what.passes.is_some()) {
            return;
        }
        tracing::info!("shader change: rebuilding {what:?}");
        let spawned = std::thread::Builder::new().name("shader rebuild".into()).spawn(move || {
            let _ = tx.send(rebuild(&ctx, &compiler, &opts, what));
        });
        match spawned {
            Ok(handle) => {
                self.reload_job = Some((t0, rx));
                self.rebuild_thread = Some(handle);
            }
            Err(e) => self.shader_error = Some(format!("cannot start the rebuild: {e}")),
        }
    }

    fn apply_rebuilt(&mut self, result: Result<Rebuilt, String>, t0: Instant) {
        let mut r = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("shader reload failed (the last good pipelines stay):\n{e}");
                self.shader_error = Some(e);
                return;
            }
        };
        let mut swapped = false;
        if let Some(loaded) = r.passes.take() {
            self.apply_passes(loaded);
            swapped |= self.pass_errors.is_empty();
        }
        if let Some(e) = r.error.take() {
            // A built-in group failed: the last good pipelines stay (the files it read are
            // watched, so the fix rebuilds it).
            tracing::error!("shader reload failed (the last good pipelines stay):\n{e}");
            self.shader_error = Some(e);
            for (group, files) in r.files.drain(..) {
                let set = crate::reload::canonical_set(&files);
                self.deps.entry(group).or_default().extend(set);
            }
            if swapped {
                self.reloads += 1;
                self.reload_latency = Some(t0);
            }
            return;
        }
        let rebuilt: Vec<String> = r.renderers.iter().map(|(n, _)| n.clone()).collect();
        let tonemap_group = r.tonemap.is_some();
        swapped |= tonemap_group || !rebuilt.is_empty();
        self.last_rebuilt = r.files.iter().map(|(g, _)| g.clone()).collect();
        for (group, files) in r.files.drain(..) {
            self.deps.insert(group, crate::reload::canonical_set(&files));
        }
        if let Some(t) = r.tonemap.take() {
            self.tonemap = Some(t);
        }
        // Every viewport gets a new renderer of each rebuilt name it uses: the first from the
        // rebuild, the others made here (their shaders are cache hits now), with the settings
        // of the one they replace. One that fails here keeps its old renderer (and says so in
        // the log). A new renderer starts from nothing (a path tracer accumulates again).
        let mut fresh_ones = r.renderers;
        for i in 0..self.viewports.len() {
            let stand_in = self.viewports[i].placeholder();
            let mut vp = std::mem::replace(&mut self.viewports[i], stand_in);
            for name in &rebuilt {
                if !vp.uses(name) {
                    continue;
                }
                let fresh = match fresh_ones.iter().position(|(n, _)| n == name) {
                    Some(k) => Ok(fresh_ones.swap_remove(k).1),
                    None => make_renderer(&self.ctx, &self.compiler, &self.opts, name),
                };
                let mut x = match fresh {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::error!("viewport {}: {name} kept: {e}", vp.id);
                        continue;
                    }
                };
                match vp.renderers.iter_mut().find(|(n, _)| n == name) {
                    Some((_, old)) => {
                        for s in old.settings().into_iter().filter(|s| !s.fixed) {
                            if let Err(e) = x.set(s.key, s.value) {
                                tracing::warn!("viewport {}: {e}", vp.id);
                            }
                        }
                        if let Some(g) = &self.gpu {
                            x.scene_changed(&self.scene, g);
                        }
                        *old = x;
                    }
                    None => {
                        if let Some(g) = &self.gpu {
                            x.scene_changed(&self.scene, g);
                        }
                        vp.renderers.push((name.clone(), x));
                    }
                }
                if vp.kind == *name {
                    vp.error = None;
                }
            }
            self.viewports[i] = vp;
        }
        if tonemap_group || !rebuilt.is_empty() {
            // The built-in groups this rebuild made all compiled.
            self.shader_error = None;
        }
        if swapped {
            self.reloads += 1;
            self.reload_latency = Some(t0);
        }
    }

    /// Swaps in reloaded custom passes, keeping each one's slider values and switch; a pass
    /// that failed to load keeps running in its last good form.
    fn apply_passes(&mut self, loaded: LoadedPasses) {
        let LoadedPasses { mut passes, errors, failed, tomls, .. } = loaded;
        self.pass_files = tomls;
        let mut old: Vec<crate::passes::UserPass> = std::mem::take(&mut self.user_passes);
        for p in &mut passes {
            if let Some(o) = old.iter().find(|o| o.name == p.name) {
                p.enabled = o.enabled;
                if o.spec.params == p.spec.params {
                    p.values.clone_from(&o.values);
                }
            }
        }
        old.retain(|o| failed.contains(&o.name) && !passes.iter().any(|p| p.name == o.name));
        passes.extend(old);
        passes.sort_by(|a, b| a.name.cmp(&b.name));
        self.user_passes = passes;
        if !errors.is_empty() {
            tracing::error!("custom passes:\n{}", errors.join("\n"));
        }
        self.pass_errors = errors;
    }

    /// The viewports: (id, renderer name), in order.
    pub fn viewports(&self) -> Vec<(u32, String)> {
        self.viewports.iter().map(|v| (v.id, v.kind.clone())).collect()
    }

    /// How many times the scene was uploaded to the GPU (once per change of its structure,
    /// never for a renderer switch).
    pub fn scene_uploads(&self) -> u64 {
        self.scene_uploads
    }

    /// The error a viewport shows, if any (its renderer could not be made).
    pub fn viewport_error(&self, id: u32) -> Option<&str> {
        self.viewports.iter().find(|v| v.id == id).and_then(|v| v.error.as_deref())
    }

    /// Switches viewport `id` to another renderer (the scene stays loaded; the previous
    /// renderer is kept for switching back).
    pub fn set_renderer(&mut self, id: u32, name: &str) {
        self.act(Action::SetRenderer(id, name.to_string()));
    }

    /// Closes viewport `id`.
    pub fn close_viewport(&mut self, id: u32) {
        self.act(Action::Close(id));
    }

    /// The nodes that place meshes (what a viewport's visibility mask can hide).
    pub fn mesh_nodes(&self) -> Vec<u32> {
        self.scene
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.mesh.is_some())
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Shows or hides node `node` (and so its mesh) in viewport `id` only.
    pub fn set_node_visible(&mut self, id: u32, node: u32, visible: bool) {
        if let Some(vp) = self.viewports.iter_mut().find(|v| v.id == id) {
            if visible {
                vp.hidden.remove(&node);
            } else {
                vp.hidden.insert(node);
            }
        }
    }

    /// Saves viewport `id` after the next frame: .png (tonemapped) or .exr (HDR radiance).
    pub fn screenshot_viewport(&mut self, id: u32, path: PathBuf) -> anyhow::Result<()> {
        crate::check_output(&path)?;
        let vp = self.viewports.iter_mut().find(|v| v.id == id).context("no such viewport")?;
        if vp.image.is_none() {
            bail!("viewport {id} has not been drawn yet");
        }
        vp.screenshot = Some(path);
        Ok(())
    }

    /// Adds a viewport with renderer `name` (the camera of the first viewport, if any).
    pub fn add_viewport(&mut self, name: &str) {
        let id = self.next_id;
        self.next_id += 1;
        let mut vp = Viewport::new(id, Camera::new(&self.scene, self.opts.up), name.to_string());
        if let Some(first) = self.viewports.first() {
            vp.camera = first.camera.clone();
        }
        self.ensure_renderer(&mut vp);
        self.viewports.push(vp);
        self.layout_dirty = true;
    }

    /// Makes the viewport's renderer if it has none yet (switching keeps both, so switching
    /// back is instant and the scene is never reloaded).
    fn ensure_renderer(&mut self, vp: &mut Viewport) {
        vp.error = None;
        if vp.renderer().is_some() {
            return;
        }
        let name = vp.kind.clone();
        let (r, files) = self
            .compiler
            .recording(|| make_renderer(&self.ctx, &self.compiler, &self.opts, &name));
        self.deps.insert(name.clone(), crate::reload::canonical_set(&files));
        match r {
            Ok(mut r) => {
                if let Some(g) = &self.gpu {
                    r.scene_changed(&self.scene, g);
                }
                vp.renderers.push((name, r));
            }
            Err(e) => vp.error = Some(format!("{}: {e}", self.opts.registry.label(&name))),
        }
    }

    /// Feeds one input event to the UI (and through it to the viewports' cameras).
    pub fn input(&mut self, ev: &InputEvent) {
        match ev {
            InputEvent::Resize(w, h) => self.requested_size = Some((*w, *h)),
            InputEvent::Screenshot(p) => self.pending_screenshot.push(p.clone()),
            other => self.pending_input.push(other.clone()),
        }
    }

    fn feed(io: &mut imgui::Io, ev: &InputEvent) {
        match ev {
            InputEvent::MouseMove(x, y) => io.add_mouse_pos_event([*x, *y]),
            InputEvent::MouseButton(b, down) => io.add_mouse_button_event(
                match b {
                    Button::Left => imgui::MouseButton::Left,
                    Button::Right => imgui::MouseButton::Right,
                    Button::Middle => imgui::MouseButton::Middle,
                },
                *down,
            ),
            InputEvent::Wheel(s) => io.add_mouse_wheel_event([0.0, *s]),
            InputEvent::Key(k, down) => {
                if let Some(m) = crate::input::modifier_of(*k) {
                    io.add_key_event(m, *down);
                }
                io.add_key_event(*k, *down);
            }
            InputEvent::Char(c) => io.add_input_character(*c),
            InputEvent::Resize(..) | InputEvent::Screenshot(_) => {}
        }
    }

    /// Whether the UI wanted text input in the last frame (then keys don't move cameras).
    pub fn wants_text(&self) -> bool {
        self.wants_text
    }

    /// Applies the scripted events of the current frame.
    fn apply_script(&mut self) {
        let frame = self.script_frame;
        self.script_frame += 1;
        let events: Vec<InputEvent> = match &self.opts.script {
            Some(s) => s.at(frame).cloned().collect(),
            None => return,
        };
        for ev in &events {
            self.input(ev);
        }
    }

    /// Renders one frame of `size` (the window's or the offscreen image's), presenting to
    /// `swapchain` when there is one. Returns false when nothing was drawn (minimised).
    pub fn frame(
        &mut self,
        swapchain: Option<&mut Swapchain>,
        size: (u32, u32),
    ) -> anyhow::Result<bool> {
        self.apply_script();
        self.poll_reload();
        if size.0 == 0 || size.1 == 0 {
            return Ok(false);
        }
        let _guard = imgui_lock();
        let suspended = self.imgui.take().context("the UI context was lost")?;
        let mut imgui = match suspended.activate() {
            Ok(c) => c,
            Err(s) => {
                self.imgui = Some(s);
                bail!("another Dear ImGui context is current");
            }
        };
        let r = self.frame_with(&mut imgui, swapchain, size);
        self.wants_text = imgui.io().want_text_input;
        self.imgui = Some(imgui.suspend());
        r
    }

    fn frame_with(
        &mut self,
        imgui: &mut imgui::Context,
        swapchain: Option<&mut Swapchain>,
        size: (u32, u32),
    ) -> anyhow::Result<bool> {
        let started = Instant::now();
        for ev in self.pending_input.drain(..) {
            Self::feed(imgui.io_mut(), &ev);
        }
        // The frame slot first (its acquire semaphore is free then), then the image: the
        // frame is as large as the swapchain image (the window system decides its extent;
        // asking the window for its size separately races with resizes).
        let waited = Instant::now();
        let frame = self.ring.begin()?;
        self.ui_gpu.frame_begun();
        let acquired = match swapchain {
            // SAFETY: `frame.slot` is a slot of this app's ring of FRAMES_IN_FLIGHT (the
            // swapchain was made with the same count); `begin` waited for the slot's previous
            // submission; the image is submitted below on every path (an error after this
            // point ends the program, which waits for the device before destroying anything).
            Some(sc) => match unsafe { sc.acquire(size.0, size.1, frame.slot)? } {
                Some(img) => Some((sc, img)),
                None => {
                    // Minimised: submit the empty frame (the ring slot must complete).
                    self.ring.end(frame)?;
                    return Ok(false);
                }
            },
            None => None,
        };
        // Time spent waiting for the GPU (frame slot) and the window system (image): not CPU
        // work of this frame.
        let wait_s = waited.elapsed().as_secs_f32();
        let size = acquired.as_ref().map_or(size, |(_, i)| (i.extent.width, i.extent.height));
        let (w, h) = size;
        self.size = size;
        let dt = self
            .opts
            .fixed_dt
            .unwrap_or_else(|| self.last_frame.elapsed().as_secs_f32().clamp(1e-4, 0.25));
        self.last_frame = Instant::now();
        {
            let io = imgui.io_mut();
            io.display_size = [w as f32, h as f32];
            io.delta_time = dt;
        }
        // ---- UI
        let mut actions = Vec::new();
        {
            let ui = imgui.new_frame();
            let dock_id = dockspace();
            if self.layout_dirty {
                let titles: Vec<String> = self.viewports.iter().map(Viewport::title).collect();
                build_layout(dock_id, &titles, [w as f32, h as f32]);
                self.layout_dirty = false;
            }
            let gpu_ready = self.gpu.is_some();
            // Scripted runs (fixed time step) show no timings, so that their images repeat.
            let stats = self.opts.fixed_dt.is_none().then_some(&self.stats);
            side_panel(
                ui,
                &self.opts.registry,
                &self.files,
                &self.viewports,
                stats,
                gpu_ready,
                &mut self.panels,
                &mut actions,
            );
            passes_panel(ui, &mut self.user_passes, &self.pass_errors);
            if self.panels.stats {
                let memory = gpu_memory(&self.ctx);
                let size = [w as f32, h as f32];
                stats_panel(ui, &self.stats, &self.viewports, memory, size, &mut self.panels.stats);
            }
            if self.panels.inspector {
                let size = [w as f32, h as f32];
                let mut open = true;
                crate::inspector::panel(
                    ui,
                    &mut self.scene,
                    &mut self.hidden_everywhere,
                    &mut self.selected,
                    size,
                    &mut open,
                );
                self.panels.inspector = open;
            }
            if self.panels.graph {
                let size = [w as f32, h as f32];
                graph_panel(ui, &self.plan_text, size, &mut self.panels.graph, &mut actions);
            }
            let ctx = &self.ctx;
            let cams: Vec<(String, usize)> = self
                .scene
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.camera.is_some())
                .map(|(i, n)| (n.name.clone(), i))
                .collect();
            for vp in &mut self.viewports {
                viewport_window(
                    ui,
                    &self.opts.registry,
                    ctx,
                    &mut self.ui_gpu,
                    vp,
                    &self.scene,
                    &cams,
                    dt,
                    &self.opts.keys,
                    &mut actions,
                );
            }
            global_keys(ui, &self.opts.keys, &mut actions);
            let errors: Vec<&str> = self
                .shader_error
                .iter()
                .map(String::as_str)
                .chain(self.pass_errors.iter().map(String::as_str))
                .collect();
            if !errors.is_empty() {
                shader_error_overlay(ui, &errors.join("\n"), [w as f32, h as f32]);
            }
        }
        let draw_data = imgui.render();

        // ---- resources of this size
        if self.target.as_ref().is_none_or(|t| t.extent().width != w || t.extent().height != h) {
            self.target = Some(Image::new(
                &self.ctx,
                &ImageDesc::d2(
                    "window",
                    w,
                    h,
                    self.target_format,
                    vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::TRANSFER_SRC,
                ),
            )?);
        }
        // ---- the frame's graph
        // Capture the swapchain image this frame (a window screenshot is due).
        let capture = acquired
            .as_ref()
            .is_some_and(|(_, i)| i.usage.contains(vk::ImageUsageFlags::TRANSFER_SRC))
            && (self.capture_next || !self.pending_screenshot.is_empty());
        self.capture_next = false;
        if capture {
            let fmt = acquired.as_ref().map_or(self.target_format, |(_, i)| i.format);
            if self.capture.as_ref().is_none_or(|c| {
                c.extent().width != w || c.extent().height != h || c.format() != fmt
            }) {
                self.capture = Some(Image::new(
                    &self.ctx,
                    &ImageDesc::d2(
                        "swapchain capture",
                        w,
                        h,
                        fmt,
                        vk::ImageUsageFlags::TRANSFER_DST | vk::ImageUsageFlags::TRANSFER_SRC,
                    ),
                )?);
            }
        }
        self.captured = capture;
        let structure_changed = self
            .gpu
            .as_ref()
            .is_some_and(|g| g.versions.structure != self.scene.versions.structure);
        if (structure_changed || std::mem::take(&mut self.reupload))
            && self.failed_upload != Some(self.scene.versions)
        {
            self.upload_scene();
            if self.gpu.as_ref().is_none_or(|g| g.versions != self.scene.versions) {
                // It failed (and said so once): not again until the scene changes.
                self.failed_upload = Some(self.scene.versions);
            }
        }
        let target = self.target.as_ref().context("no target")?;
        let target_info = ImageInfo::d2(w, h, self.target_format);
        // Edits of the scene (inspector): a new structure uploads again; transforms,
        // materials and lights are updated in place by transfer passes of this frame's graph.
        let mut graph = FrameGraph::new();
        if let Some(g) = self.gpu.as_mut() {
            if g.versions != self.scene.versions {
                match g.update(&self.scene, &mut graph) {
                    Ok(_) => {
                        // What renderers derive from the scene (the path tracer's light
                        // tables) follows, through passes of this graph.
                        for vp in &mut self.viewports {
                            for (_, r) in &mut vp.renderers {
                                r.scene_changed(&self.scene, g);
                            }
                        }
                    }
                    Err(e) => {
                        // Upload it again next frame (a structure change, or values the
                        // in-place update refuses), once per version of the scene.
                        if self.failed_update != Some(self.scene.versions) {
                            tracing::error!("scene update: {e}; uploading the scene again");
                            self.failed_update = Some(self.scene.versions);
                            self.reupload = true;
                        }
                    }
                }
            }
        }
        let mut ldr_handles = Vec::new();
        let tonemap = self.tonemap.as_ref();
        let scene_gpu = self.gpu.as_ref();
        let user_passes = &self.user_passes;
        for vp in self.viewports.iter_mut() {
            let Some(img) = vp.image.as_mut() else { continue };
            let (vw, vh) = (img.width, img.height);
            let initial = img.used.then_some(Access::SampledFragment);
            img.used = true;
            let mut ldr = graph.import_image(
                &format!("viewport {} ldr", vp.id),
                img.ldr.raw(),
                img.ldr.view(),
                ImageInfo::d2(vw, vh, vk::Format::R8G8B8A8_UNORM),
                initial,
                Some(Access::SampledFragment),
            );
            // This viewport's mask and the scene tree's (hidden everywhere).
            let hidden: std::collections::BTreeSet<u32> =
                vp.hidden.union(&self.hidden_everywhere).copied().collect();
            let view = vp.camera.view(vw, vh);
            let (shown, failed) = (vp.shown, vp.error.is_some());
            let renderer = vp.renderers.iter_mut().find(|(n, _)| *n == vp.kind).map(|(_, r)| r);
            let hdr_format = renderer.as_ref().map_or(DEFAULT_HDR, |r| r.hdr_format());
            let mut hdr = graph.create_image(
                &format!("viewport {} hdr", vp.id),
                ImageInfo::d2(vw, vh, hdr_format),
            );
            let mut rendered = false;
            let mut depth = None;
            // Custom passes after the opaque geometry (inside the renderer's passes).
            let mut opaque_error: Option<String> = None;
            let mut render_error: Option<String> = None;
            if let (Some(r), Some(g), true, false) = (renderer, scene_gpu, shown, failed) {
                r.set_hidden_nodes(&hidden);
                let mut hooks = Hooks {
                    after_opaque: Some(Box::new(after_opaque_hook(
                        user_passes,
                        &mut opaque_error,
                        vw,
                        vh,
                    ))),
                };
                // A renderer that fails shows its error in its viewport; the others go on.
                match r.add_passes(&mut graph, g, &view, RenderTargets { color: &mut hdr }, &mut hooks)
                {
                    Ok(out) => {
                        rendered = true;
                        depth = out.depth;
                    }
                    Err(e) => {
                        tracing::error!("viewport {}: {e}", vp.id);
                        render_error = Some(e.to_string());
                    }
                }
            }
            if render_error.is_some() {
                vp.error = render_error;
            }
            vp.pass_error = opaque_error;
            if !rendered {
                let h2 = hdr;
                graph
                    .add_pass(&format!("viewport {} clear", vp.id))
                    .write(&mut hdr, Access::TransferDst)
                    .record(move |pass| pass.clear_color(&h2, [0.02, 0.02, 0.025, 1.0]));
            }
            if let Some(path) = &vp.screenshot {
                if path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("exr"))
                {
                    let copy = Image::new(
                        &self.ctx,
                        &ImageDesc::d2(
                            "viewport hdr copy",
                            vw,
                            vh,
                            hdr_format,
                            vk::ImageUsageFlags::TRANSFER_DST | vk::ImageUsageFlags::TRANSFER_SRC,
                        ),
                    )?;
                    let mut c = graph.import_image(
                        "viewport hdr copy",
                        copy.raw(),
                        copy.view(),
                        ImageInfo::d2(vw, vh, hdr_format),
                        None,
                        Some(Access::TransferSrc),
                    );
                    let (src, dst) = (hdr, c);
                    graph
                        .add_pass("viewport hdr copy")
                        .read(&hdr, Access::TransferSrc)
                        .write(&mut c, Access::TransferDst)
                        .record(move |pass| pass.copy_image(&src, &dst));
                    vp.hdr_copy = Some(copy);
                }
            }
            let Some(tonemap) = tonemap else {
                // No tonemap (its shader failed to compile): the viewport shows grey.
                let l = ldr;
                graph
                    .add_pass(&format!("viewport {} no tonemap", vp.id))
                    .read(&hdr, Access::TransferSrc)
                    .write(&mut ldr, Access::TransferDst)
                    .record(move |pass| pass.clear_color(&l, [0.3, 0.3, 0.3, 1.0]));
                ldr_handles.push(ldr);
                continue;
            };
            // Custom passes on the HDR color; one that cannot run here is reported in the
            // viewport and skipped (nothing of it is added).
            for up in user_passes.iter().filter(|p| p.enabled) {
                if up.spec.insert == crate::passes::InsertPoint::BeforeTonemap && rendered {
                    if let Err(e) = crate::passes::add_pass(&mut graph, up, &mut hdr, depth, vw, vh)
                    {
                        vp.pass_error = Some(e.to_string());
                    }
                }
            }
            crate::add_tonemap_pass(
                &mut graph,
                &format!("viewport {} tonemap", vp.id),
                tonemap,
                &hdr,
                &mut ldr,
                (vw, vh),
            );
            for up in user_passes.iter().filter(|p| p.enabled) {
                if up.spec.insert == crate::passes::InsertPoint::AfterTonemap && rendered {
                    if let Err(e) = crate::passes::add_pass(&mut graph, up, &mut ldr, depth, vw, vh)
                    {
                        vp.pass_error = Some(e.to_string());
                    }
                }
            }
            ldr_handles.push(ldr);
        }
        let mut win = graph.import_image(
            "window",
            target.raw(),
            target.view(),
            target_info,
            None,
            Some(Access::TransferSrc),
        );
        {
            let ui_renderer = &mut self.ui_gpu.renderer;
            let mut pass = graph.add_pass("imgui").write(&mut win, Access::ColorAttachmentWrite);
            for l in &ldr_handles {
                pass = pass.read(l, Access::SampledFragment);
            }
            let w_h = win;
            pass.record(move |pass| {
                let view = pass.view(&w_h)?;
                let color = [vk::RenderingAttachmentInfo::default()
                    .image_view(view)
                    .image_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
                    .load_op(vk::AttachmentLoadOp::CLEAR)
                    .store_op(vk::AttachmentStoreOp::STORE)
                    .clear_value(vk::ClearValue {
                        color: vk::ClearColorValue { float32: [0.06, 0.06, 0.07, 1.0] },
                    })];
                let info = vk::RenderingInfo::default()
                    .render_area(vk::Rect2D {
                        offset: vk::Offset2D::default(),
                        extent: vk::Extent2D { width: w, height: h },
                    })
                    .layer_count(1)
                    .color_attachments(&color);
                // SAFETY: the pass declared the window image as a color attachment; the
                // rendering scope is closed below on every path.
                unsafe { pass.device().cmd_begin_rendering(pass.cmd, &info) };
                let r = ui_renderer.cmd_draw(pass.cmd, draw_data);
                // SAFETY: closes the scope begun above.
                unsafe { pass.device().cmd_end_rendering(pass.cmd) };
                r.map_err(|e| framegraph::ExecuteError::Pass {
                    pass: "imgui".into(),
                    message: e.to_string(),
                })
            });
        }
        if let Some((_, img)) = &acquired {
            let mut sw = graph.import_image(
                "swapchain",
                img.image,
                img.view,
                ImageInfo::d2(img.extent.width, img.extent.height, img.format),
                None,
                Some(Access::Present),
            );
            let (src, dst) = (win, sw);
            graph
                .add_pass("present copy")
                .read(&win, Access::TransferSrc)
                .write(&mut sw, Access::TransferDst)
                .record(move |pass| pass.copy_image(&src, &dst));
            // A screenshot in a window is read back from the swapchain image itself (what
            // was presented), through a copy made after the present copy.
            if capture {
                let cap = self.capture.as_ref().context("capture image")?;
                let mut c = graph.import_image(
                    "capture",
                    cap.raw(),
                    cap.view(),
                    ImageInfo::d2(w, h, img.format),
                    None,
                    Some(Access::TransferSrc),
                );
                let (src, dst) = (sw, c);
                graph
                    .add_pass("capture swapchain")
                    .read(&sw, Access::TransferSrc)
                    .write(&mut c, Access::TransferDst)
                    .record(move |pass| pass.copy_image(&src, &dst));
            }
        } else {
            graph
                .add_pass("keep window")
                .read(&win, Access::TransferSrc)
                .side_effect()
                .record(|_| Ok(()));
        }
        let plan = self.executor.compile(&graph)?;
        tracing::trace!("frame {}:\n{plan}", self.stats.frames);
        if self.panels.graph {
            // The framegraph panel shows this frame's plan.
            self.plan_text = plan.to_string();
        }
        if let Some(path) = self.dot_export.take() {
            self.plan_dot = plan.to_dot();
            match std::fs::write(&path, &self.plan_dot) {
                Ok(()) => tracing::info!("wrote {}", path.display()),
                Err(e) => tracing::error!("writing {}: {e}", path.display()),
            }
        }
        self.executor.execute(graph, &plan, frame.cmd, None)?;
        let value = match &acquired {
            Some((_, img)) => {
                let waits = [vk::SemaphoreSubmitInfo::default()
                    .semaphore(img.acquired)
                    .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
                let signals = [vk::SemaphoreSubmitInfo::default()
                    .semaphore(img.rendered)
                    .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
                // SAFETY: both are the swapchain's binary semaphores: `acquired` has a pending
                // signal from this frame's acquire, `rendered` is unsignalled (its last wait,
                // the previous present of this image, finished before it was acquired again).
                unsafe { self.ring.end_with(frame, &waits, &signals)? }
            }
            None => self.ring.end(frame)?,
        };
        if let Some((sc, img)) = acquired {
            // SAFETY: acquired from `sc` this frame; the submission above signals `rendered`
            // and the graph left the image in PRESENT_SRC (its final access).
            unsafe { sc.present(&img)? };
        }
        if let Some(t0) = self.reload_latency.take() {
            // The first frame with the new pipelines: done when the GPU is.
            self.ctx.wait(value)?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            tracing::info!("shaders reloaded: {ms:.0} ms from the change to the first frame");
            self.last_reload_ms = Some(ms);
            self.reload_ms.push(ms);
        }
        self.stats.frames += 1;
        self.stats.cpu_ms = (started.elapsed().as_secs_f32() - wait_s) * 1e3;
        let t = self.executor.last_timings();
        if !t.is_empty() {
            self.stats.passes = t.iter().map(|p| (p.name.clone(), p.gpu_ms as f32)).collect();
            self.stats.gpu_ms = t.iter().map(|p| p.gpu_ms as f32).sum();
        }
        // ---- after the frame: screenshots, actions
        let shots: Vec<PathBuf> = self.pending_screenshot.drain(..).collect();
        let want_vp = self.viewports.iter().any(|v| v.screenshot.is_some());
        if !shots.is_empty() || want_vp {
            self.ctx.wait(value)?;
        }
        for p in shots {
            if let Err(e) = self.save_window(&p) {
                tracing::error!("screenshot {}: {e:#}", p.display());
            }
        }
        for i in 0..self.viewports.len() {
            if let Some(p) = self.viewports[i].screenshot.take() {
                match self.save_viewport(i, &p) {
                    Ok(()) => tracing::info!("saved {}", p.display()),
                    Err(e) => tracing::error!("screenshot {}: {e:#}", p.display()),
                }
                self.viewports[i].hdr_copy = None;
            }
        }
        for a in actions {
            self.act(a);
        }
        Ok(true)
    }

    fn act(&mut self, a: Action) {
        match a {
            Action::AddViewport(k) => self.add_viewport(&k),
            Action::Close(id) => {
                if let Some(i) = self.viewports.iter().position(|v| v.id == id) {
                    let mut vp = self.viewports.remove(i);
                    release_image(&mut self.ui_gpu, &mut vp);
                }
                self.layout_dirty = true;
            }
            Action::SetRenderer(id, k) => {
                if let Some(i) = self.viewports.iter().position(|v| v.id == id) {
                    let mut vp = self.viewports.remove(i);
                    vp.kind = k;
                    self.ensure_renderer(&mut vp);
                    self.viewports.insert(i, vp);
                }
            }
            Action::Relayout => self.layout_dirty = true,
            Action::Screenshot(p) => self.pending_screenshot.push(p),
            Action::ExportDot(p) => self.dot_export = Some(p),
        }
    }

    /// Reads the whole window image of the last frame (RGBA8, sRGB-encoded).
    ///
    /// In a window, when the last frame captured its swapchain image (a screenshot was due:
    /// [`App::capture_next_frame`] or a scripted one), that is what is read: the pixels
    /// presented. Otherwise the window image the UI pass drew, which the present copies.
    pub fn read_window(&self) -> anyhow::Result<(u32, u32, Vec<u8>)> {
        let target = match (&self.capture, self.captured) {
            (Some(c), true) => c,
            _ => self.target.as_ref().context("no frame rendered yet")?,
        };
        self.ctx.wait_idle()?;
        let mut up = Uploader::new(&self.ctx, 4 << 20)?;
        let mut px = up.read_image(target, 0, 0, vk::ImageLayout::TRANSFER_SRC_OPTIMAL)?;
        if target.format() == vk::Format::B8G8R8A8_UNORM {
            for p in px.chunks_exact_mut(4) {
                p.swap(0, 2);
            }
        }
        let e = target.extent();
        Ok((e.width, e.height, px))
    }

    /// Saves the whole window (.png, or .exr as linear values).
    pub fn save_window(&self, path: &Path) -> anyhow::Result<()> {
        let (w, h, px) = self.read_window()?;
        save_rgba8(path, w, h, px)
    }

    fn save_viewport(&self, i: usize, path: &Path) -> anyhow::Result<()> {
        let vp = &self.viewports[i];
        let img = vp.image.as_ref().context("the viewport has no image yet")?;
        let mut up = Uploader::new(&self.ctx, 4 << 20)?;
        if let Some(copy) = &vp.hdr_copy {
            let bytes = up.read_image(copy, 0, 0, vk::ImageLayout::TRANSFER_SRC_OPTIMAL)?;
            let rgb: Vec<f32> = crate::hdr_pixels(&bytes, copy.format())?
                .into_iter()
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            let buf =
                image::Rgb32FImage::from_raw(img.width, img.height, rgb).context("image size")?;
            return buf.save(path).with_context(|| format!("writing {}", path.display()));
        }
        let px = up.read_image(&img.ldr, 0, 0, vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)?;
        save_rgba8(path, img.width, img.height, px)
    }

    /// Makes the next frame (in a window) copy its swapchain image for [`App::read_window`].
    pub fn capture_next_frame(&mut self) {
        self.capture_next = true;
    }

    /// Whether the last frame's window image was read back from the swapchain.
    pub fn captured_swapchain(&self) -> bool {
        self.captured
    }

    /// Validation messages so far (0 without validation).
    pub fn validation_messages(&self) -> u64 {
        self.ctx.validation_messages().total()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // A rebuild still compiling finishes first (it uses the device).
        if let Some(t) = self.rebuild_thread.take() {
            let _ = t.join();
        }
        // Every frame finishes (and deferred frees run) before the UI's pool goes.
        let _ = self.ctx.wait_idle();
        self.viewports.clear();
        let _ = self.ctx.wait_idle();
        // Destroying a Dear ImGui context briefly makes it the current one.
        let _g = imgui_lock();
        self.imgui = None;
    }
}

/// Writes 8-bit sRGB pixels as PNG, or as linear floats to EXR.
pub fn save_rgba8(path: &Path, w: u32, h: u32, px: Vec<u8>) -> anyhow::Result<()> {
    crate::check_output(path)?;
    if path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("exr")) {
        let rgb: Vec<f32> = px
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]].map(|c| scene::srgb_to_linear(f32::from(c) / 255.0)))
            .collect();
        let buf = image::Rgb32FImage::from_raw(w, h, rgb).context("image size")?;
        return buf.save(path).with_context(|| format!("writing {}", path.display()));
    }
    image::save_buffer(path, &px, w, h, image::ExtendedColorType::Rgba8)
        .with_context(|| format!("writing {}", path.display()))
}

fn make_ui_gpu(
    ctx: &Context,
    imgui: &mut imgui::Context,
    format: vk::Format,
) -> anyhow::Result<UiGpu> {
    let device = ctx.device().clone();
    let pool_info = vk::CommandPoolCreateInfo::default().queue_family_index(ctx.queue().1);
    // SAFETY: valid create info; destroyed below once the renderer's upload finished.
    let cmd_pool = unsafe { device.create_command_pool(&pool_info, None) }?;
    let renderer = ctx.with_queue(|queue| {
        imgui_rs_vulkan_renderer::Renderer::with_gpu_allocator(
            ctx.allocator(),
            device.clone(),
            queue,
            cmd_pool,
            imgui_rs_vulkan_renderer::DynamicRendering {
                color_attachment_format: format,
                depth_attachment_format: None,
            },
            imgui,
            Some(imgui_rs_vulkan_renderer::Options {
                in_flight_frames: FRAMES_IN_FLIGHT,
                ..Default::default()
            }),
        )
    });
    // The renderer waits for its font upload before returning.
    // SAFETY: nothing allocated from the pool is pending.
    unsafe { device.destroy_command_pool(cmd_pool, None) };
    let renderer = renderer.context("creating the ImGui renderer")?;
    let layout = imgui_rs_vulkan_renderer::vulkan::create_vulkan_descriptor_set_layout(&device)
        .context("ImGui descriptor set layout")?;
    let pool = match create_pool(&device) {
        Ok(p) => p,
        Err(e) => {
            // SAFETY: created above, unused.
            unsafe { device.destroy_descriptor_set_layout(layout, None) };
            return Err(e);
        }
    };
    let sampler = Sampler::new(
        ctx,
        &vk::SamplerCreateInfo::default()
            .mag_filter(vk::Filter::NEAREST)
            .min_filter(vk::Filter::NEAREST)
            .address_mode_u(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_EDGE),
    )?;
    Ok(UiGpu { renderer, layout, pool, frees: Vec::new(), frames: 0, sampler, ctx: ctx.clone() })
}

fn create_pool(device: &ash::Device) -> anyhow::Result<vk::DescriptorPool> {
    let sizes = [vk::DescriptorPoolSize {
        ty: vk::DescriptorType::COMBINED_IMAGE_SAMPLER,
        descriptor_count: 256,
    }];
    let info = vk::DescriptorPoolCreateInfo::default()
        .pool_sizes(&sizes)
        .max_sets(256)
        .flags(vk::DescriptorPoolCreateFlags::FREE_DESCRIPTOR_SET);
    // SAFETY: valid create info.
    Ok(unsafe { device.create_descriptor_pool(&info, None) }?)
}

/// (Re)creates the viewport's image when its size changed; the old one (and its descriptor
/// set) is freed once the GPU is done with it.
fn ensure_image(
    ctx: &Context,
    ui: &mut UiGpu,
    vp: &mut Viewport,
    w: u32,
    h: u32,
) -> anyhow::Result<TextureId> {
    if let Some(img) = &vp.image {
        if img.width == w && img.height == h {
            return Ok(img.texture);
        }
    }
    let ldr = Image::new(
        ctx,
        &ImageDesc::d2(
            &format!("viewport {}", vp.id),
            w,
            h,
            vk::Format::R8G8B8A8_UNORM,
            vk::ImageUsageFlags::STORAGE
                | vk::ImageUsageFlags::SAMPLED
                | vk::ImageUsageFlags::TRANSFER_SRC
                | vk::ImageUsageFlags::TRANSFER_DST,
        ),
    )?;
    let set = imgui_rs_vulkan_renderer::vulkan::create_vulkan_descriptor_set(
        ctx.device(),
        ui.layout,
        ui.pool,
        ldr.view(),
        ui.sampler.raw(),
    )
    .context("viewport descriptor set")?;
    let texture = ui.renderer.textures().insert(set);
    release_image(ui, vp);
    vp.image = Some(ViewportImage { ldr, texture, set, width: w, height: h, used: false });
    Ok(texture)
}

/// Frees the viewport's image and its ImGui descriptor set once the GPU is done with them.
fn release_image(ui: &mut UiGpu, vp: &mut Viewport) {
    if let Some(old) = vp.image.take() {
        ui.renderer.textures().remove(old.texture);
        ui.frees.push((ui.frames, old.set));
        drop(old.ldr);
    }
}

impl UiGpu {
    /// After a frame slot was begun: frees the sets whose last use (a frame begun before their
    /// release) is done. With FRAMES_IN_FLIGHT slots, beginning frame `n` waited for frame
    /// `n - FRAMES_IN_FLIGHT`, so a set released when `k` frames had begun (last used by
    /// frame `k - 1`) is free once `k - 1 <= n - FRAMES_IN_FLIGHT`.
    fn frame_begun(&mut self) {
        self.frames += 1;
        let n = self.frames - 1;
        let (done, keep): (Vec<_>, Vec<_>) =
            self.frees.drain(..).partition(|(k, _)| k + FRAMES_IN_FLIGHT as u64 <= n + 1);
        self.frees = keep;
        if !done.is_empty() {
            let sets: Vec<vk::DescriptorSet> = done.into_iter().map(|(_, s)| s).collect();
            // SAFETY: on the render thread, the only user of the pool; the frames that used
            // the sets completed (see above).
            unsafe {
                let _ = self.ctx.device().free_descriptor_sets(self.pool, &sets);
            }
        }
    }
}

fn dockspace() -> u32 {
    // SAFETY: called between new_frame and render, with the main viewport of the current
    // context; no window class.
    unsafe {
        imgui::sys::igDockSpaceOverViewport(
            imgui::sys::igGetMainViewport(),
            imgui::sys::ImGuiDockNodeFlags_PassthruCentralNode as i32,
            std::ptr::null(),
        )
    }
}

/// The default layout: the scene panel on the left, the viewports side by side.
fn build_layout(dock_id: u32, titles: &[String], size: [f32; 2]) {
    let cstrings: Vec<std::ffi::CString> =
        titles.iter().map(|t| std::ffi::CString::new(t.as_str()).unwrap_or_default()).collect();
    // SAFETY: DockBuilder calls on the current context during a frame; every string is a
    // live NUL-terminated CString; the out-pointers are locals.
    unsafe {
        use imgui::sys;
        sys::igDockBuilderRemoveNode(dock_id);
        sys::igDockBuilderAddNode(dock_id, sys::ImGuiDockNodeFlags_DockSpace);
        sys::igDockBuilderSetNodeSize(dock_id, sys::ImVec2 { x: size[0], y: size[1] });
        let (mut left, mut main) = (0u32, 0u32);
        sys::igDockBuilderSplitNode(dock_id, sys::ImGuiDir_Left, 0.22, &mut left, &mut main);
        sys::igDockBuilderDockWindow(c"Scene".as_ptr(), left);
        let n = cstrings.len();
        let mut rest = main;
        for (i, t) in cstrings.iter().enumerate() {
            if i + 1 < n {
                let (mut a, mut b) = (0u32, 0u32);
                sys::igDockBuilderSplitNode(
                    rest,
                    sys::ImGuiDir_Left,
                    1.0 / (n - i) as f32,
                    &mut a,
                    &mut b,
                );
                sys::igDockBuilderDockWindow(t.as_ptr(), a);
                rest = b;
            } else {
                sys::igDockBuilderDockWindow(t.as_ptr(), rest);
            }
        }
        sys::igDockBuilderFinish(dock_id);
    }
}

#[allow(clippy::too_many_arguments)]
fn side_panel(
    ui: &imgui::Ui,
    registry: &Registry,
    files: &[FileEntry],
    viewports: &[Viewport],
    stats: Option<&FrameStats>,
    gpu_ready: bool,
    panels: &mut Panels,
    actions: &mut Vec<Action>,
) {
    ui.window("Scene").build(|| {
        ui.checkbox("Stats", &mut panels.stats);
        ui.same_line();
        ui.checkbox("Graph", &mut panels.graph);
        ui.same_line();
        ui.checkbox("Inspector", &mut panels.inspector);
        ui.text("Files");
        if files.is_empty() {
            ui.text_disabled("(none: drop files on the window)");
        }
        for f in files {
            let name = f
                .path
                .file_name()
                .map_or_else(|| f.path.display().to_string(), |n| n.to_string_lossy().into_owned());
            match &f.error {
                None => ui.text(&name),
                Some(e) => {
                    ui.text_colored([1.0, 0.35, 0.3, 1.0], format!("{name}: failed"));
                    ui.text_wrapped(e);
                }
            }
        }
        if !gpu_ready {
            ui.text_disabled("nothing to draw yet");
        }
        ui.separator();
        ui.text("Viewports");
        for name in registry.names() {
            if ui.button(format!("+ {}", registry.label(name))) {
                actions.push(Action::AddViewport(name.to_string()));
            }
            ui.same_line();
        }
        if ui.button("Split evenly") {
            actions.push(Action::Relayout);
        }
        for vp in viewports {
            let extra = match vp.renderer().and_then(|r| r.samples()) {
                Some(n) => format!(", {n} spp"),
                None => String::new(),
            };
            ui.text(format!("{}: {}{extra}", vp.id, vp.kind));
            if let Some(e) = &vp.error {
                ui.text_colored([1.0, 0.35, 0.3, 1.0], e);
            }
        }
        ui.separator();
        if let Some(stats) = stats {
            ui.text(format!("CPU {:.2} ms, GPU {:.2} ms", stats.cpu_ms, stats.gpu_ms));
        }
        let grey = ui.push_style_color(imgui::StyleColor::Text, [0.55, 0.55, 0.6, 1.0]);
        ui.text_wrapped(
            "Ctrl+N raster, Ctrl+P path tracer, Ctrl+L layout, F12 screenshot. In a \
             viewport: drag rotate, right/middle drag pan, wheel zoom, WASD/QE fly, F frame \
             all, 1/3/7 axis views (Ctrl: opposite), 5 ortho, C next file camera, P save \
             viewport, X close.",
        );
        grey.pop();
    });
}

/// The compiler's message of a failed reload, over everything until a reload succeeds.
fn shader_error_overlay(ui: &imgui::Ui, error: &str, size: [f32; 2]) {
    let height = (size[1] * 0.35).clamp(60.0, 400.0);
    ui.window("Shader error")
        .position([8.0, size[1] - height - 8.0], imgui::Condition::Always)
        .size([size[0] - 16.0, height], imgui::Condition::Always)
        .collapsible(false)
        .focus_on_appearing(false)
        .build(|| {
            ui.text_colored([1.0, 0.45, 0.4, 1.0], error);
            ui.text_disabled(
                "The last good shaders keep running (if there were any). Save a fix: it \
                 reloads.",
            );
        });
}

/// The hook a renderer calls after its opaque geometry: adds the enabled `after_opaque`
/// custom passes there, or notes why they cannot run in this viewport.
fn after_opaque_hook<'a, 'g: 'a>(
    user_passes: &'g [crate::passes::UserPass],
    error: &'a mut Option<String>,
    width: u32,
    height: u32,
) -> impl FnMut(
    &mut FrameGraph<'g>,
    Option<(&mut framegraph::ImageHandle, Option<framegraph::ImageHandle>)>,
) + 'a {
    move |graph, at| {
        let wanted = user_passes
            .iter()
            .filter(|p| p.enabled && p.spec.insert == crate::passes::InsertPoint::AfterOpaque);
        match at {
            Some((color, depth)) => {
                for up in wanted {
                    if let Err(e) = crate::passes::add_pass(graph, up, color, depth, width, height)
                    {
                        *error = Some(e.to_string());
                    }
                }
            }
            None => {
                if wanted.count() > 0 {
                    *error = Some(
                        "after_opaque passes need single-sampled color and depth: run the \
                         raster with --msaa 1"
                            .into(),
                    );
                }
            }
        }
    }
}

/// The custom passes: on/off and their parameters (in the Scene panel's window).
fn passes_panel(ui: &imgui::Ui, passes: &mut [crate::passes::UserPass], errors: &[String]) {
    if passes.is_empty() && errors.is_empty() {
        return;
    }
    ui.window("Scene").build(|| {
        ui.separator();
        ui.text("Custom passes");
        for p in passes.iter_mut() {
            ui.checkbox(format!("{}##pass", p.name), &mut p.enabled);
            for (spec, v) in p.spec.params.iter().zip(p.values.iter_mut()) {
                ui.slider(format!("{}##{}", spec.name, p.name), spec.min, spec.max, v);
            }
        }
        for e in errors {
            ui.text_colored([1.0, 0.35, 0.3, 1.0], e);
        }
    });
}

/// The custom passes of some folders, as loaded.
struct LoadedPasses {
    passes: Vec<crate::passes::UserPass>,
    /// Messages of those that failed.
    errors: Vec<String>,
    /// Names (file stems) of those that failed.
    failed: Vec<String>,
    /// The TOML files (watched besides the shaders).
    tomls: Vec<PathBuf>,
    /// Every file they read (TOML files, shaders and their imports), to watch.
    files: Vec<PathBuf>,
}

/// Loads every pass of `dirs`.
fn load_passes(ctx: &Context, compiler: &ShaderCompiler, dirs: &[PathBuf]) -> LoadedPasses {
    let mut out = LoadedPasses {
        passes: Vec::new(),
        errors: Vec::new(),
        failed: Vec::new(),
        tomls: Vec::new(),
        files: Vec::new(),
    };
    for dir in dirs {
        match crate::passes::pass_files(dir) {
            Ok(list) => {
                for f in list {
                    out.files.push(f.clone());
                    out.tomls.push(f.clone());
                    let (r, read) =
                        compiler.recording(|| crate::passes::load_pass(ctx, compiler, &f));
                    out.files.extend(read);
                    match r {
                        Ok(p) => out.passes.push(p),
                        Err(e) => {
                            out.errors.push(format!("{e:#}"));
                            let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned());
                            out.failed.extend(stem);
                        }
                    }
                }
            }
            Err(e) => out.errors.push(format!("{e:#}")),
        }
    }
    out
}

/// GPU memory the allocator holds: (bytes in allocations, bytes in its memory blocks).
fn gpu_memory(ctx: &Context) -> (u64, u64) {
    let alloc = ctx.allocator();
    let a = alloc.lock().unwrap_or_else(|e| e.into_inner());
    let r = a.generate_report();
    (r.total_allocated_bytes, r.total_reserved_bytes)
}

fn stats_panel(
    ui: &imgui::Ui,
    stats: &FrameStats,
    viewports: &[Viewport],
    memory: (u64, u64),
    size: [f32; 2],
    open: &mut bool,
) {
    ui.window("Stats")
        .opened(open)
        .position([size[0] - 380.0, 40.0], imgui::Condition::FirstUseEver)
        .size([370.0, (size[1] - 60.0).min(420.0)], imgui::Condition::FirstUseEver)
        .build(|| {
            ui.text(format!(
                "frame {}: CPU {:.2} ms, GPU {:.2} ms",
                stats.frames, stats.cpu_ms, stats.gpu_ms
            ));
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            ui.text(format!(
                "GPU memory: {:.1} MiB in use, {:.1} MiB reserved",
                mib(memory.0),
                mib(memory.1)
            ));
            for vp in viewports {
                if let Some(n) = vp.renderer().and_then(|r| r.samples()) {
                    ui.text(format!("viewport {}: {n} samples per pixel", vp.id));
                }
            }
            ui.separator();
            ui.text("GPU time per pass (ms)");
            for (name, ms) in &stats.passes {
                ui.text(format!("{ms:8.3}  {name}"));
            }
        });
}

fn graph_panel(
    ui: &imgui::Ui,
    plan: &str,
    size: [f32; 2],
    open: &mut bool,
    actions: &mut Vec<Action>,
) {
    ui.window("Frame graph")
        .opened(open)
        .position([size[0] * 0.25, 40.0], imgui::Condition::FirstUseEver)
        .size([size[0] * 0.45, size[1] * 0.6], imgui::Condition::FirstUseEver)
        .build(|| {
            if ui.button("Export DOT") {
                let n = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                actions.push(Action::ExportDot(PathBuf::from(format!("xpg-framegraph-{n}.dot"))));
            }
            ui.text_wrapped(plan);
        });
}

fn global_keys(ui: &imgui::Ui, keys: &crate::config::Keys, actions: &mut Vec<Action>) {
    if ui.io().want_text_input {
        return;
    }
    if keys.add_raster_viewport.pressed(ui) {
        actions.push(Action::AddViewport("raster".into()));
    }
    if keys.add_path_tracer_viewport.pressed(ui) {
        actions.push(Action::AddViewport("pathtracer".into()));
    }
    if keys.split_evenly.pressed(ui) {
        actions.push(Action::Relayout);
    }
    if keys.screenshot_window.pressed(ui) {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        actions.push(Action::Screenshot(PathBuf::from(format!("xpg-window-{n}.png"))));
    }
}

#[allow(clippy::too_many_arguments)]
fn viewport_window(
    ui: &imgui::Ui,
    registry: &Registry,
    ctx: &Context,
    ui_gpu: &mut UiGpu,
    vp: &mut Viewport,
    scene: &Scene,
    cams: &[(String, usize)],
    dt: f32,
    keys: &crate::config::Keys,
    actions: &mut Vec<Action>,
) {
    use imgui::{Key, MouseButton};
    let mut open = true;
    vp.shown = false;
    let title = vp.title();
    let _pad = ui.push_style_var(imgui::StyleVar::WindowPadding([2.0, 2.0]));
    ui.window(&title)
        .opened(&mut open)
        .scroll_bar(false)
        .scrollable(false)
        .collapsible(false)
        .build(|| {
            // Toolbar.
            let names = registry.names();
            let labels: Vec<&str> = names.iter().map(|n| registry.label(n)).collect();
            let mut kind_i = names.iter().position(|n| *n == vp.kind).unwrap_or(0);
            ui.set_next_item_width(110.0);
            if ui.combo_simple_string("##renderer", &mut kind_i, &labels) {
                if let Some(name) = names.get(kind_i) {
                    actions.push(Action::SetRenderer(vp.id, name.to_string()));
                }
            }
            ui.same_line();
            let mut mode_i = CameraMode::ALL.iter().position(|m| *m == vp.camera.mode).unwrap_or(0);
            ui.set_next_item_width(110.0);
            let names: Vec<&str> = CameraMode::ALL.iter().map(|m| m.name()).collect();
            if ui.combo_simple_string("##camera mode", &mut mode_i, &names) {
                vp.camera.mode = CameraMode::ALL[mode_i];
            }
            if !cams.is_empty() {
                ui.same_line();
                let mut ci = 0usize;
                let mut names = vec!["file camera..."];
                names.extend(cams.iter().map(|(n, _)| n.as_str()));
                ui.set_next_item_width(120.0);
                if ui.combo_simple_string("##file camera", &mut ci, &names) && ci > 0 {
                    vp.file_camera = Some(ci - 1);
                    vp.camera.set_from_node(scene, cams[ci - 1].1);
                }
            }
            ui.same_line();
            if ui.button("Settings") {
                ui.open_popup("##settings");
            }
            ui.popup("##settings", || renderer_settings(ui, vp));
            ui.same_line();
            if ui.button("Objects") {
                ui.open_popup("##objects");
            }
            ui.popup("##objects", || {
                let mut any = false;
                for (i, n) in scene.nodes.iter().enumerate() {
                    if n.mesh.is_none() {
                        continue;
                    }
                    any = true;
                    let mut shown = !vp.hidden.contains(&(i as u32));
                    let label =
                        if n.name.is_empty() { format!("node {i}") } else { n.name.clone() };
                    if ui.checkbox(format!("{label}##node{i}"), &mut shown) {
                        if shown {
                            vp.hidden.remove(&(i as u32));
                        } else {
                            vp.hidden.insert(i as u32);
                        }
                    }
                }
                if !any {
                    ui.text_disabled("no meshes");
                }
            });
            ui.same_line();
            if ui.button("PNG") {
                vp.screenshot = Some(viewport_shot_name(vp.id, "png"));
            }
            ui.same_line();
            if ui.button("EXR") {
                vp.screenshot = Some(viewport_shot_name(vp.id, "exr"));
            }
            let avail = ui.content_region_avail();
            let (w, h) = (avail[0].floor().max(1.0) as u32, avail[1].floor().max(1.0) as u32);
            let texture = match ensure_image(ctx, ui_gpu, vp, w, h) {
                Ok(t) => t,
                Err(e) => {
                    ui.text_colored([1.0, 0.35, 0.3, 1.0], format!("{e:#}"));
                    return;
                }
            };
            vp.shown = true;
            let pos = ui.cursor_screen_pos();
            imgui::Image::new(texture, [w as f32, h as f32]).build(ui);
            ui.set_cursor_screen_pos(pos);
            ui.invisible_button_flags(
                "##canvas",
                [w as f32, h as f32],
                imgui::ButtonFlags::MOUSE_BUTTON_LEFT
                    | imgui::ButtonFlags::MOUSE_BUTTON_RIGHT
                    | imgui::ButtonFlags::MOUSE_BUTTON_MIDDLE,
            );
            let io = ui.io();
            let [dx, dy] = io.mouse_delta;
            if ui.is_item_active() {
                if ui.is_mouse_down(MouseButton::Left) {
                    if vp.camera.mode == CameraMode::Pan2D {
                        vp.camera.pan(dx, dy, h as f32);
                    } else {
                        vp.camera.rotate(dx, dy);
                    }
                } else if ui.is_mouse_down(MouseButton::Right)
                    || ui.is_mouse_down(MouseButton::Middle)
                {
                    vp.camera.pan(dx, dy, h as f32);
                }
            }
            if ui.is_item_hovered() && io.mouse_wheel != 0.0 {
                vp.camera.zoom(io.mouse_wheel);
            }
            if let Some(e) = vp.error.as_ref().or(vp.pass_error.as_ref()) {
                ui.set_cursor_screen_pos([pos[0] + 8.0, pos[1] + 8.0]);
                ui.text_colored([1.0, 0.35, 0.3, 1.0], e);
            }
            if ui.is_window_focused() && !io.want_text_input {
                let ctrl = io.key_ctrl;
                if vp.camera.mode == CameraMode::Fly {
                    let axis = |p: Key, n: Key| {
                        f32::from(u8::from(ui.is_key_down(p)))
                            - f32::from(u8::from(ui.is_key_down(n)))
                    };
                    let dir =
                        Vec3::new(axis(Key::D, Key::A), axis(Key::E, Key::Q), axis(Key::W, Key::S));
                    if dir != Vec3::ZERO {
                        vp.camera.fly(dir, dt);
                    }
                }
                if keys.frame_all.pressed(ui) {
                    vp.camera.frame_all(scene);
                }
                if keys.screenshot_viewport.pressed(ui) {
                    vp.screenshot = Some(viewport_shot_name(vp.id, "png"));
                }
                if keys.close_viewport.pressed(ui) {
                    actions.push(Action::Close(vp.id));
                }
                if !ctrl {
                    if ui.is_key_pressed_no_repeat(Key::Alpha5) {
                        vp.camera.orthographic = !vp.camera.orthographic;
                    }
                    if ui.is_key_pressed_no_repeat(Key::C) && !cams.is_empty() {
                        let next = vp.file_camera.map_or(0, |c| (c + 1) % cams.len());
                        vp.file_camera = Some(next);
                        vp.camera.set_from_node(scene, cams[next].1);
                    }
                }
                for (k, v) in [
                    (Key::Alpha1, AxisView::Front),
                    (Key::Alpha3, AxisView::Right),
                    (Key::Alpha7, AxisView::Top),
                ] {
                    if ui.is_key_pressed_no_repeat(k) {
                        vp.camera.set_axis_view(v, ctrl);
                    }
                }
            }
        });
    if !open {
        actions.push(Action::Close(vp.id));
    }
}

/// The viewport's renderer settings, as the renderer describes them (a change of the path
/// tracer's restarts its accumulation: the settings are part of its image's key).
fn renderer_settings(ui: &imgui::Ui, vp: &mut Viewport) {
    let clamp = imgui::SliderFlags::ALWAYS_CLAMP;
    let id = vp.id;
    let Some(r) = vp.renderer_mut() else { return };
    if let Some(status) = r.status() {
        ui.text(format!("{}: {status}", r.name()));
    }
    let settings = r.settings();
    for s in &settings {
        let shown = s.when.is_none_or(|k| {
            settings.iter().any(|o| o.key == k && o.value == SettingValue::Bool(true))
        });
        if !shown {
            continue;
        }
        if s.fixed {
            ui.text_disabled(format!("{}: {}", s.label, s.value));
            continue;
        }
        let flags = if s.logarithmic { clamp | imgui::SliderFlags::LOGARITHMIC } else { clamp };
        let changed = match s.value {
            SettingValue::Bool(mut b) => ui.checkbox(s.label, &mut b).then_some(SettingValue::Bool(b)),
            SettingValue::UInt(mut v) => ui
                .slider_config(s.label, s.range.0 as u32, s.range.1 as u32)
                .flags(flags)
                .build(&mut v)
                .then_some(SettingValue::UInt(v)),
            SettingValue::Float(mut v) => ui
                .slider_config(s.label, s.range.0, s.range.1)
                .flags(flags)
                .build(&mut v)
                .then_some(SettingValue::Float(v)),
        };
        if let Some(v) = changed {
            if let Err(e) = r.set(s.key, v) {
                tracing::error!("viewport {id}: {e}");
            }
        }
    }
    if r.samples().is_some() && ui.button("restart accumulation") {
        r.reset();
    }
}

fn viewport_shot_name(id: u32, ext: &str) -> PathBuf {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    PathBuf::from(format!("xpg-viewport{id}-{n}.{ext}"))
}

/// Makes the Vulkan context the viewer uses.
pub fn make_context(opts: &ViewerOptions) -> anyhow::Result<Context> {
    Context::new(&ContextDesc {
        app_name: "xpg-view".into(),
        validation: opts.validation,
        pipeline_cache_path: opts.cache_dir.as_ref().map(|d| {
            let _ = std::fs::create_dir_all(d);
            d.join("pipelines.bin")
        }),
        ..Default::default()
    })
    .context("creating the Vulkan context")
}

/// Runs the viewer without a window: `frames` frames of `opts.size`, then the screenshot.
/// Returns the app (for its statistics and images).
pub fn run_offscreen(opts: ViewerOptions) -> anyhow::Result<App> {
    Ok(run_offscreen_timed(opts, Instant::now())?.0)
}

/// [`run_offscreen`], also returning a timing summary: time from `started` to the app being
/// ready and to the end of the first frame (GPU included), the mean wall time per frame after
/// the first 10 (frames in flight, as in the window), the mean GPU time per frame from
/// timestamps, and the shader compiler's counters.
pub fn run_offscreen_timed(opts: ViewerOptions, started: Instant) -> anyhow::Result<(App, String)> {
    let t = Instant::now();
    let ctx = make_context(&opts)?;
    let context_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut app = App::new(opts, ctx, None)?;
    app.startup.insert(0, ("vulkan context", context_ms));
    let ready_ms = started.elapsed().as_secs_f64() * 1e3;
    let frames = app.opts.frames.unwrap_or(1).max(1);
    let mut first_ms = 0.0;
    let warmup = 10.min(frames - 1);
    let mut steady_start = Instant::now();
    let mut gpu_sum = 0.0f64;
    let mut gpu_n = 0u32;
    let (mut cpu_sum, mut cpu_n) = (0.0f64, 0u32);
    let mut pass_sums: Vec<(String, f64)> = Vec::new();
    for i in 0..frames {
        let size = app.requested_size.take().unwrap_or(app.size);
        app.frame(None, size)?;
        if i == 0 {
            app.ctx.wait_idle()?;
            first_ms = started.elapsed().as_secs_f64() * 1e3;
        }
        if i + 1 == warmup.max(1) {
            steady_start = Instant::now();
        }
        if i >= warmup.max(1) {
            cpu_sum += f64::from(app.stats.cpu_ms);
            cpu_n += 1;
        }
        if i >= warmup.max(1) && app.stats.gpu_ms > 0.0 {
            gpu_sum += f64::from(app.stats.gpu_ms);
            gpu_n += 1;
            for (name, ms) in &app.stats.passes {
                match pass_sums.iter_mut().find(|(n, _)| n == name) {
                    Some(e) => e.1 += f64::from(*ms),
                    None => pass_sums.push((name.clone(), f64::from(*ms))),
                }
            }
        }
    }
    app.ctx.wait_idle()?;
    let steady = frames.saturating_sub(warmup.max(1));
    let frame_ms = if steady > 0 {
        steady_start.elapsed().as_secs_f64() * 1e3 / steady as f64
    } else {
        f64::NAN
    };
    if let Some(p) = app.opts.screenshot.clone() {
        app.save_window(&p)?;
    }
    let n = app.validation_messages();
    if app.opts.validation && n > 0 {
        bail!("{n} validation messages:\n{}", app.ctx.validation_messages().recent.join("\n"));
    }
    let cs = app.compiler.stats();
    let summary = format!(
        "frames {frames} size {}x{} ready_ms {ready_ms:.1} first_frame_ms {first_ms:.1} \
         frame_ms {frame_ms:.3} gpu_ms {:.3} shader_compiles {} shader_disk_hits {}",
        app.size.0,
        app.size.1,
        if gpu_n > 0 { gpu_sum / f64::from(gpu_n) } else { f64::NAN },
        cs.compiles,
        cs.disk_hits
    );
    let mut summary = summary;
    if cpu_n > 0 {
        summary += &format!(" cpu_ms {:.3}", cpu_sum / f64::from(cpu_n));
    }
    if !app.reload_ms.is_empty() {
        summary += "\nshader reloads (ms from the file change to the end of the first frame \
                    using it):";
        for ms in &app.reload_ms {
            summary += &format!(" {ms:.1}");
        }
    }
    summary += "\nstartup (ms):";
    for (phase, ms) in &app.startup {
        summary += &format!(" [{phase}] {ms:.1}");
    }
    if gpu_n > 0 {
        summary += "\npasses (mean GPU ms):";
        for (name, sum) in &pass_sums {
            summary += &format!(" [{name}] {:.3}", sum / f64::from(gpu_n));
        }
    }
    Ok((app, summary))
}
