//! The interactive viewer: scene, viewports (each with a camera and a renderer), Dear ImGui
//! with docking, and one frame = one framegraph. The same [`App::frame`] runs in a window
//! (presenting to a swapchain) and offscreen (for machines without a display and for tests).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _};
use framegraph::Executor;
use render::{BoxedRenderer, GpuScene};
use scene::Scene;
use xpg::vk;
use xpg::{Context, FrameRing, Image, Pipeline, ShaderCompiler, Uploader};

use crate::camera::{Camera, Up};
use crate::input::InputEvent;

mod frame;
mod offscreen;
mod options;
mod panels;
mod pick;
mod rebuild;
mod remote;
mod timeline;
mod ui_gpu;
mod viewport;
mod viewport_graph;

pub use offscreen::{make_context, run_offscreen, run_offscreen_timed};
pub(crate) use offscreen::{run_offscreen_with, start_context, PendingContext};
pub use options::{default_cache_dir, FrameStats, Panels, ViewerOptions};
pub use pick::PickInfo;
pub use timeline::{ExportForm, LoopMode, Playback, PlaybackCommand};
#[allow(unused_imports)]
use {frame::*, panels::*, rebuild::*, ui_gpu::*, viewport::*};

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
            focused: false,
            press: None,
            picked: None,
            hover: None,
            active: false,
        }
    }

    /// Looks through the camera of node `node` (`cams`: the scene's camera nodes, as the
    /// viewport's camera list shows them).
    fn look_through(&mut self, scene: &Scene, node: usize, cams: &[(String, usize)]) {
        if self.camera.set_from_node(scene, node) {
            self.file_camera = cams.iter().position(|&(_, n)| n == node);
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

/// A renderer made ahead (or why not) and the shader files it read.
pub(super) type Premade = (Result<BoxedRenderer, render::RenderError>, Vec<PathBuf>);

/// Starts making each renderer the start's viewports name, one thread each.
#[allow(clippy::type_complexity)]
fn premake_renderers(
    ctx: &Context,
    compiler: &std::sync::Arc<ShaderCompiler>,
    opts: &ViewerOptions,
) -> Vec<(String, std::thread::JoinHandle<Premade>)> {
    let mut names: Vec<String> = Vec::new();
    for n in &opts.viewports {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let (ctx, compiler, opts, n) =
                (ctx.clone(), compiler.clone(), opts.clone(), name.clone());
            let thread = std::thread::spawn(move || {
                let _span = tracing::info_span!("make renderer", name = %n).entered();
                compiler.recording(|| make_renderer(&ctx, &compiler, &opts, &n))
            });
            (name, thread)
        })
        .collect()
}

/// A file and its scene, or why it failed to load.
pub(crate) type LoadedFile = (PathBuf, Result<Scene, String>);

/// Loads `paths` (no GPU work: this runs while the device is being made at start).
/// Whether `p` is a recording of clients (`--record`), replayed rather than loaded.
pub(crate) fn is_recording(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("xpgrec"))
}

pub(crate) fn load_files(
    paths: &[PathBuf],
    sequence: &scene::sequence::SequenceOptions,
) -> Vec<LoadedFile> {
    let _span = tracing::info_span!("load files", count = paths.len()).entered();
    paths
        .iter()
        .filter(|p| !is_recording(p))
        .map(|p| {
            let _span = tracing::info_span!("load", file = %p.display()).entered();
            let r = crate::load_input(p, sequence).map_err(|e| e.to_string());
            match &r {
                Ok(_) => tracing::info!("{}: loaded", p.display()),
                Err(msg) => tracing::error!("{}: {msg}", p.display()),
            }
            (p.clone(), r)
        })
        .collect()
}

/// A loaded (or failed) file.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// The path.
    pub path: PathBuf,
    /// Why it failed to load, if it did.
    pub error: Option<String>,
    /// What the loader left out (a missing texture, ...).
    pub warnings: Vec<String>,
}

/// Things the UI asks for, done after the UI is built.
enum Action {
    AddViewport(String),
    Close(u32),
    SetRenderer(u32, String),
    Relayout,
    Screenshot(PathBuf),
    ExportDot(PathBuf),
    Playback(PlaybackCommand),
    /// A click on viewport `id` at a pixel (from its top left).
    Pick(u32, f32, f32),
    /// The cursor moved over viewport `id` to a pixel (None: it left).
    Hover(u32, Option<(f32, f32)>),
    /// Export frames of the active viewport as the Export form says.
    ExportFrames,
}

/// An export running on its own thread.
struct ExportJob {
    progress: std::sync::Arc<crate::export::ExportProgress>,
    handle: std::thread::JoinHandle<anyhow::Result<crate::export::ExportSummary>>,
    out: String,
}

/// What a program that embeds the viewer gets each frame: the scene to change through its
/// setters (the GPU copy follows in place: transforms, materials, lights; a structural change
/// uploads the scene again) and the clock.
pub struct FrameInfo<'a> {
    /// The scene.
    pub scene: &'a mut Scene,
    /// Seconds of viewer time (the sum of the frames' time steps: fixed with
    /// `ViewerOptions::fixed_dt`, so scripted runs repeat).
    pub time: f64,
    /// This frame's time step, in seconds.
    pub dt: f32,
    /// Frames drawn before this one.
    pub frame: u64,
    /// The scene time's playback: play, pause, seek ([`Playback::command`]).
    pub playback: &'a mut Playback,
}

type OnFrame = Box<dyn FnMut(&mut FrameInfo<'_>)>;
type OnUi = Box<dyn FnMut(&imgui::Ui, &mut FrameInfo<'_>)>;

/// The viewer.
pub struct App {
    /// The embedding program's callbacks and the viewer time they see.
    on_frame: Option<OnFrame>,
    on_ui: Option<OnUi>,
    time: f64,
    /// Renderers made on other threads at start, taken by the first viewports.
    premade: Vec<(String, Premade)>,
    /// The framegraph's pass times as Tracy GPU zones.
    #[cfg(feature = "tracy")]
    gpu_zones: crate::profiling::GpuZones,
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
    /// A file or a scene in code was added (the cameras were framed on it).
    has_content: bool,
    pending_screenshot: Vec<PathBuf>,
    last_frame: Instant,
    /// The scene time's playback (the timeline).
    playback: Playback,
    /// The Export form of the timeline, the export running (if any) and how the last ended.
    export_form: ExportForm,
    export_job: Option<ExportJob>,
    /// The server and its clients' objects (`--listen`).
    remote: Option<remote::Remote>,
    export_status: Option<String>,
    /// The viewport last focused (exports show its view).
    active_viewport: Option<u32>,
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
    /// The pick pipeline (made at the first pick).
    picker: Option<render::Picker>,
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

impl App {
    /// Starts the viewer: the Vulkan context, the files, the UI. `target_format` is the
    /// swapchain's format (windowed) or None (offscreen: BGRA8, as most swapchains).
    pub fn new(
        opts: ViewerOptions,
        ctx: Context,
        target_format: Option<vk::Format>,
    ) -> anyhow::Result<Self> {
        Self::new_with(opts, ctx, target_format, None)
    }

    /// [`App::new`] with `opts.files` already loaded (by [`load_files`]).
    pub(crate) fn new_with(
        opts: ViewerOptions,
        ctx: Context,
        target_format: Option<vk::Format>,
        preloaded: Option<Vec<LoadedFile>>,
    ) -> anyhow::Result<Self> {
        let t0 = Instant::now();
        let playback = opts.playback.clone();
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
        let compiler = std::sync::Arc::new(compiler);
        // The start's renderers are made on their own threads (pipelines from the caches)
        // while the tonemap, the UI and the files are made here.
        let premaking = premake_renderers(&ctx, &compiler, &opts);
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
            on_frame: None,
            on_ui: None,
            time: 0.0,
            premade: Vec::new(),
            #[cfg(feature = "tracy")]
            gpu_zones: Default::default(),
            size: opts.size,
            executor: Executor::new(&ctx, FRAMES_IN_FLIGHT),
            ring,
            opts,
            compiler,
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
            has_content: false,
            pending_screenshot: Vec::new(),
            last_frame: Instant::now(),
            playback,
            export_form: Default::default(),
            export_job: None,
            remote: None,
            export_status: None,
            active_viewport: None,
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
            picker: None,
            plan_dot: String::new(),
            dot_export: None,
            requested_size: None,
            quit: false,
            ctx,
        };
        app.startup.push(("ui and tonemap", t0.elapsed().as_secs_f64() * 1e3));
        let t = Instant::now();
        app.panels = app.opts.panels;
        match preloaded {
            Some(loaded) => {
                app.add_loaded(loaded);
                app.replay_recordings(&app.opts.files.clone());
                app.startup.push(("files (upload)", t.elapsed().as_secs_f64() * 1e3));
            }
            None => {
                let files = app.opts.files.clone();
                app.open_files(&files);
                app.startup.push(("files (load, upload)", t.elapsed().as_secs_f64() * 1e3));
            }
        }
        let t = Instant::now();
        app.premade = premaking
            .into_iter()
            .map(|(name, thread)| {
                let made = thread.join().unwrap_or_else(|_| {
                    let e = render::RenderError::Internal(format!("making {name} panicked"));
                    (Err(e), Vec::new())
                });
                (name, made)
            })
            .collect();
        for kind in app.opts.viewports.clone() {
            app.add_viewport(&kind);
        }
        app.premade.clear();
        app.startup.push(("renderers (waited for)", t.elapsed().as_secs_f64() * 1e3));
        if let Some(cfg) = app.opts.listen.clone() {
            let server = crate::server::Server::start(cfg)?;
            // What clients (and `xpg_viewer.spawn`) read to find the port.
            {
                use std::io::Write as _;
                println!("listening on {}", server.addr());
                let _ = std::io::stdout().flush();
            }
            app.remote = Some(remote::Remote::new(Some(server)));
        }
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
        let loaded = load_files(paths, &self.opts.sequence);
        self.add_loaded(loaded);
        self.replay_recordings(paths);
    }

    /// Replays the recordings of clients (`--record`) among `paths` onto the timeline.
    fn replay_recordings(&mut self, paths: &[PathBuf]) {
        for p in paths.iter().filter(|p| is_recording(p)) {
            let error = self.replay(p).err().map(|e| format!("{e:#}"));
            if let Some(e) = &error {
                tracing::error!("{e}");
            }
            self.files.push(FileEntry { path: p.clone(), error, warnings: Vec::new() });
        }
    }

    /// Adds files loaded by [`load_files`] (perhaps on another thread, while the device was
    /// being made).
    fn add_loaded(&mut self, loaded: Vec<LoadedFile>) {
        let mut scenes = Vec::new();
        for (path, result) in loaded {
            match result {
                Ok(s) => {
                    let warnings = s.warnings.clone();
                    self.files.push(FileEntry { path, error: None, warnings });
                    scenes.push(s);
                }
                Err(msg) => {
                    self.files.push(FileEntry { path, error: Some(msg), warnings: Vec::new() })
                }
            }
        }
        self.append_scenes(scenes);
    }

    /// Adds a scene built in code next to what is loaded (as a file would be: default
    /// lighting when nothing lights it, cameras framing it). Change it later through
    /// [`App::edit_scene`] or an `on_frame` callback ([`crate::Viewer`]).
    pub fn add_scene(&mut self, scene: Scene) {
        self.append_scenes(vec![scene]);
    }

    /// [`App::add_scene`] for several scenes (one upload).
    pub fn add_scenes(&mut self, scenes: Vec<Scene>) {
        self.append_scenes(scenes);
    }

    fn append_scenes(&mut self, scenes: Vec<Scene>) {
        if scenes.is_empty() {
            return;
        }
        // The cameras frame the first content with a place (a light or a camera alone has
        // no bounds to frame); later additions only widen their range.
        for s in scenes {
            if std::mem::take(&mut self.defaults_added) {
                // The default lighting is the last light, node and the environment: the new
                // scene may bring its own.
                self.scene.lights.pop();
                self.scene.nodes.pop();
                self.scene.environment = scene::Environment::None;
            }
            self.scene.append(s);
        }
        if self.opts.default_lighting && self.scene.add_default_lighting() {
            self.defaults_added = true;
            tracing::info!("no lights or environment: default lighting added");
        }
        let _span = tracing::info_span!("upload scene").entered();
        self.upload_scene();
        let first = !self.has_content && self.scene.bounds().is_some();
        self.has_content |= first;
        if first && self.opts.up == Up::Auto {
            // The up axis the files give or their shape says, for the cameras and the grid.
            self.opts.up = Up::Auto.resolve(&self.scene);
            let z = render::SettingValue::Bool(self.opts.up == Up::Z);
            for (_, r) in self.viewports.iter_mut().flat_map(|vp| vp.renderers.iter_mut()) {
                if r.settings().iter().any(|s| s.key == "grid_z_up") {
                    if let Err(e) = r.set("grid_z_up", z) {
                        tracing::warn!("grid up axis: {e}");
                    }
                }
            }
        }
        for vp in &mut self.viewports {
            if first {
                vp.camera = Camera::new(&self.scene, self.opts.up);
            } else {
                vp.camera.scene_radius = Camera::new(&self.scene, self.opts.up).scene_radius;
            }
        }
    }

    /// Calls `f` at the start of every frame with the scene and the clock (see
    /// [`crate::Viewer::on_frame`]).
    pub fn set_on_frame(&mut self, f: impl FnMut(&mut FrameInfo<'_>) + 'static) {
        self.on_frame = Some(Box::new(f));
    }

    /// Calls `f` while the UI is built, to add the program's own Dear ImGui windows (see
    /// [`crate::Viewer::on_ui`]).
    pub fn set_on_ui(&mut self, f: impl FnMut(&imgui::Ui, &mut FrameInfo<'_>) + 'static) {
        self.on_ui = Some(Box::new(f));
    }

    /// The scene's GPU copy (None before the first upload, or when it failed).
    pub fn gpu_scene(&self) -> Option<&GpuScene> {
        self.gpu.as_ref()
    }

    /// The scene (read only; change it with [`App::edit_scene`]).
    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    fn upload_scene(&mut self) {
        // The previous GpuScene's resources are freed once the GPU is done with them.
        match GpuScene::upload(&self.ctx, &self.scene) {
            Ok(mut g) => {
                self.scene_uploads += 1;
                // Streamed frames already on the GPU stay there.
                match self.gpu.as_mut() {
                    Some(old) => g.keep_frames_from(old),
                    None => g.set_frame_budget(self.opts.frame_budget),
                }
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
                    warnings: Vec::new(),
                });
            }
        }
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

    /// How many times the scene was uploaded to the GPU (once per change of its structure,
    /// never for a renderer switch).
    pub fn scene_uploads(&self) -> u64 {
        self.scene_uploads
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
            Action::Playback(cmd) => self.playback.command(&mut self.scene, cmd),
            Action::Pick(id, x, y) => self.clicked(id, x, y),
            Action::Hover(id, at) => self.hovered(id, at),
            Action::ExportFrames => {
                if let Err(e) = self.start_export() {
                    self.export_status = Some(format!("export failed: {e:#}"));
                }
            }
        }
    }

    /// The scene time's playback.
    pub fn playback(&self) -> &Playback {
        &self.playback
    }

    /// The scene time's playback, to change (`command` puts the scene at the new time).
    pub fn playback_mut(&mut self) -> &mut Playback {
        &mut self.playback
    }

    /// Plays, pauses, steps or seeks the scene's time.
    pub fn playback_command(&mut self, cmd: PlaybackCommand) {
        self.playback.command(&mut self.scene, cmd);
    }

    /// What the timeline's Export button does: starts exporting frames of the active
    /// viewport (its renderer, settings, camera and size) as `form` says, on a thread with
    /// its own GPU context ([`App::wait_export`] waits for it).
    pub fn export_frames(&mut self, form: ExportForm) -> anyhow::Result<()> {
        self.export_form = form;
        self.start_export()
    }

    fn start_export(&mut self) -> anyhow::Result<()> {
        if self.export_job.is_some() {
            bail!("an export is running");
        }
        let f = &self.export_form;
        if f.first < 0 || f.last < f.first {
            bail!("frames {}-{}: not a range", f.first, f.last);
        }
        let output = crate::export::ExportOutput::parse(Path::new(f.out.trim()))?;
        let id = self.active_viewport.or_else(|| self.viewports.first().map(|v| v.id));
        let vp =
            self.viewports.iter().find(|v| Some(v.id) == id).context("no viewport to export")?;
        let (w, h) = vp.image.as_ref().map_or(self.size, |i| (i.width, i.height));
        let view = vp.camera.view(w.max(1), h.max(1));
        let settings: Vec<(String, render::SettingValue)> = vp
            .renderer()
            .map(|r| r.settings().iter().map(|s| (s.key.to_string(), s.value)).collect())
            .unwrap_or_default();
        let req = crate::RenderRequest {
            size: Some((view.width, view.height)),
            renderer: vp.kind.clone(),
            registry: self.opts.registry.clone(),
            settings,
            spp: f.spp.clamp(1, 1 << 16) as u32,
            max_depth: self.opts.max_depth,
            msaa: self.opts.msaa,
            ..crate::RenderRequest::new(PathBuf::from("the viewer's scene"))
        };
        let ex = crate::export::ExportRequest {
            frames: (f.first as u64, f.last as u64),
            fps: Some(f64::from(f.fps)),
            output,
            progress_bar: false,
        };
        let mut scene = self.scene.clone();
        let progress = std::sync::Arc::new(crate::export::ExportProgress::default());
        let p = progress.clone();
        let handle = std::thread::Builder::new()
            .name("export".into())
            .spawn(move || crate::export::export(&mut scene, &req, &ex, Some(view), &p))
            .context("starting the export thread")?;
        self.export_status = None;
        self.export_job = Some(ExportJob { progress, handle, out: f.out.clone() });
        Ok(())
    }

    /// Whether an export started from the timeline is running.
    pub fn exporting(&self) -> bool {
        self.export_job.is_some()
    }

    /// Waits for the export started from the timeline (if any) and returns how it went.
    pub fn wait_export(&mut self) -> Option<anyhow::Result<crate::export::ExportSummary>> {
        let job = self.export_job.take()?;
        Some(job.handle.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the export panicked"))))
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

    /// Viewport `i`'s last image, tonemapped RGBA8 (width, height, pixels).
    pub(crate) fn read_viewport(&self, i: usize) -> anyhow::Result<(u32, u32, Vec<u8>)> {
        let vp = self.viewports.get(i).context("no such viewport")?;
        let img = vp.image.as_ref().context("the viewport has no image yet")?;
        let ldr = img.ldr.image().context("the viewport's image has no Vulkan object")?;
        self.ctx.wait_idle()?;
        let mut up = Uploader::new(&self.ctx, 4 << 20)?;
        let px = up.read_image(ldr, 0, 0, vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)?;
        Ok((img.width, img.height, px))
    }

    /// The address the server listens on (`--listen`), if it does.
    pub fn server_addr(&self) -> Option<std::net::SocketAddr> {
        self.remote.as_ref().and_then(|r| r.server.as_ref()).map(|r| r.addr())
    }

    /// Clients connected now, and widgets that clients have declared (all together).
    pub fn server_clients(&self) -> (usize, usize) {
        let Some(r) = self.remote.as_ref() else { return (0, 0) };
        (r.server.as_ref().map_or(0, crate::server::Server::clients), r.widget_count())
    }

    /// Where the server's time went (its reader threads, and applying on this thread).
    pub fn server_times(&self) -> Option<crate::server::ServerTimes> {
        let r = self.remote.as_ref()?;
        let times = r.server.as_ref()?.times();
        Some(crate::server::ServerTimes { applying: r.applying, ..times })
    }

    /// Whether a client asked the viewer to stop.
    pub fn quit_requested(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| r.quit)
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
        let ldr = img.ldr.image().context("the viewport's image has no Vulkan object")?;
        let px = up.read_image(ldr, 0, 0, vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)?;
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
