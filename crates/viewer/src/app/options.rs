//! What the viewer starts with ([`ViewerOptions`]), which panels are open, frame statistics.

use std::path::PathBuf;

use render::{Registry, SettingValue};

use crate::camera::Up;
use crate::input::Script;

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
    /// How raster viewports composite transparent surfaces (None: the raster's default).
    pub transparency: Option<raster::Transparency>,
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
    /// Files without punctual lights or an environment get the default lighting (a key
    /// light and a dim environment), whatever they emit.
    pub default_lighting: bool,
    /// How the scene's time plays at start (the config's `[timeline]`).
    pub playback: super::Playback,
    /// How sequences open (`--fps`, `--timestamps`, the config's `[stream]` CPU budget and
    /// prefetch).
    pub sequence: scene::sequence::SequenceOptions,
    /// The GPU budget of streamed frames in bytes (the config's `[stream]`).
    pub frame_budget: u64,
    /// Listen for clients (`--listen`, the config's `[server]`).
    pub listen: Option<crate::server::ServerConfig>,
}

impl Default for ViewerOptions {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            size: (1280, 800),
            vsync: true,
            msaa: 4,
            transparency: None,
            viewports: vec!["raster".into()],
            registry: crate::builtin_registry(),
            renderer_settings: Vec::new(),
            up: Up::Auto,
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
            default_lighting: true,
            playback: Default::default(),
            sequence: Default::default(),
            frame_budget: render::DEFAULT_FRAME_BUDGET,
            listen: None,
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
