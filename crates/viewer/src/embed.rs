//! The viewer inside a Rust program: [`Viewer`] opens files or a [`Scene`] built in code,
//! calls the program every frame to change the scene ([`Viewer::on_frame`]) and to add its
//! own Dear ImGui windows ([`Viewer::on_ui`]), in a window or offscreen.
//!
//! ```no_run
//! use viewer::Viewer;
//! # fn main() -> anyhow::Result<()> {
//! Viewer::new()
//!     .open("model.glb")
//!     .on_frame(|f| {
//!         // f.scene.set_local_transform(0, glam::Mat4::from_rotation_y(f.time as f32));
//!     })
//!     .on_ui(|ui, _f| {
//!         ui.window("My panel").build(|| ui.text("hello"));
//!     })
//!     .run()?;
//! # Ok(())
//! # }
//! ```
//!
//! The scene is changed through its setters (`Scene::set_local_transform`,
//! `Scene::material_mut`, `Scene::light_mut`), which bump its versions: the GPU copy follows
//! in place, and a structural change (meshes added) uploads it again. The remote protocol of
//! a later version sits on the same scene API.

use std::path::PathBuf;
use std::time::Instant;

use render::Registry;
use scene::Scene;

use crate::app::{App, FrameInfo, ViewerOptions};
use crate::window::WindowRun;

type OnFrame = Box<dyn FnMut(&mut FrameInfo<'_>)>;
type OnUi = Box<dyn FnMut(&imgui::Ui, &mut FrameInfo<'_>)>;

/// Builds and runs the viewer from a program (see the module docs).
pub struct Viewer {
    opts: ViewerOptions,
    scenes: Vec<Scene>,
    on_frame: Option<OnFrame>,
    on_ui: Option<OnUi>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("opts", &self.opts)
            .field("scenes", &self.scenes.len())
            .field("on_frame", &self.on_frame.is_some())
            .field("on_ui", &self.on_ui.is_some())
            .finish()
    }
}

impl Default for Viewer {
    fn default() -> Self {
        Self::new()
    }
}

impl Viewer {
    /// The viewer with its default options (one raster viewport, 1280x800).
    pub fn new() -> Self {
        Self::with_options(ViewerOptions::default())
    }

    /// The viewer with `opts` (files, size, viewports, registry, validation, ...).
    pub fn with_options(opts: ViewerOptions) -> Self {
        Self { opts, scenes: Vec::new(), on_frame: None, on_ui: None }
    }

    /// The options, to change any of them.
    pub fn options_mut(&mut self) -> &mut ViewerOptions {
        &mut self.opts
    }

    /// Opens a file (any format the viewer reads) at start.
    pub fn open(mut self, path: impl Into<PathBuf>) -> Self {
        self.opts.files.push(path.into());
        self
    }

    /// Shows a scene built in code (after the files; several add up).
    pub fn scene(mut self, scene: Scene) -> Self {
        self.scenes.push(scene);
        self
    }

    /// Window (or offscreen image) size.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.opts.size = (width, height);
        self
    }

    /// One viewport per name (renderers of the registry: "raster", "pathtracer", yours).
    pub fn viewports<S: AsRef<str>>(mut self, names: &[S]) -> Self {
        self.opts.viewports = names.iter().map(|n| n.as_ref().to_string()).collect();
        self
    }

    /// The renderers viewports can use (default: [`crate::builtin_registry`]).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.opts.registry = registry;
        self
    }

    /// Called at the start of every frame, before the UI and the renderers: change the scene
    /// here.
    pub fn on_frame(mut self, f: impl FnMut(&mut FrameInfo<'_>) + 'static) -> Self {
        self.on_frame = Some(Box::new(f));
        self
    }

    /// Called while the UI is built: add Dear ImGui windows with `ui` (their widgets may change
    /// the scene).
    pub fn on_ui(mut self, f: impl FnMut(&imgui::Ui, &mut FrameInfo<'_>) + 'static) -> Self {
        self.on_ui = Some(Box::new(f));
        self
    }

    fn into_parts(self) -> (ViewerOptions, crate::window::Setup) {
        let Viewer { opts, scenes, on_frame, on_ui } = self;
        let setup = move |app: &mut App| {
            app.add_scenes(scenes);
            if let Some(f) = on_frame {
                app.set_on_frame(f);
            }
            if let Some(f) = on_ui {
                app.set_on_ui(f);
            }
        };
        (opts, Box::new(setup))
    }

    /// Opens the window and runs until it is closed (or the options' frame count is drawn).
    pub fn run(self) -> anyhow::Result<WindowRun> {
        let (opts, setup) = self.into_parts();
        crate::window::run_window_with(opts, Instant::now(), Some(setup))
    }

    /// Runs `frames` frames without a window and returns the app (its images, statistics,
    /// scene); the options' screenshot, if any, is saved after the last frame.
    pub fn run_offscreen(mut self, frames: u64) -> anyhow::Result<App> {
        self.opts.frames = Some(frames);
        let (opts, setup) = self.into_parts();
        Ok(crate::app::run_offscreen_with(opts, Instant::now(), Some(setup))?.0)
    }
}
