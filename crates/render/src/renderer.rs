//! The `Renderer` trait: what every backend (raster, path tracer, a program's own) implements,
//! and the only way the viewer talks to one.
//!
//! A renderer adds its passes for one viewport to the frame's graph ([`Renderer::add_passes`]):
//! linear HDR radiance into [`RenderTargets::color`], the caller's passes at the
//! [`Hooks`] it offers, and what else it produced in [`RenderOutputs`] (a depth image).
//! Its settings are described by [`Setting`]s, so a user interface, a config file and a command
//! line can show and change them without knowing the renderer's type.

use std::collections::BTreeSet;

use framegraph::{FrameGraph, ImageHandle};
use scene::{Scene, View};
use xpg::vk;

use crate::gpu::GpuScene;

/// Errors of a renderer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// A shader failed to compile.
    #[error(transparent)]
    Shader(#[from] xpg::ShaderError),
    /// A pipeline could not be made.
    #[error(transparent)]
    Pipeline(#[from] xpg::PipelineError),
    /// A GPU call failed.
    #[error(transparent)]
    Gpu(#[from] xpg::GpuError),
    /// The GPU scene could not be used (or its acceleration structures built).
    #[error(transparent)]
    Scene(#[from] crate::gpu::GpuSceneError),
    /// The frame graph could not be compiled or recorded.
    #[error(transparent)]
    Graph(#[from] framegraph::ExecuteError),
    /// The device lacks a feature the renderer needs (ray tracing, a sample count, ...).
    #[error("{0}")]
    Unsupported(String),
    /// The target handed to `add_passes` is not what the renderer draws into.
    #[error("{0}")]
    Target(String),
    /// A shader lacks an entry point the renderer needs.
    #[error("{shader}: entry point {entry} missing")]
    MissingEntry {
        /// The shader file.
        shader: String,
        /// The entry point.
        entry: String,
    },
    /// No setting of that name (the known ones listed).
    #[error("{renderer}: no setting '{key}' (settings: {known})")]
    UnknownSetting {
        /// The renderer's name.
        renderer: String,
        /// The key asked for.
        key: String,
        /// The keys it has, comma separated.
        known: String,
    },
    /// A setting's value is of the wrong type or out of its range.
    #[error("{renderer}: {key} {value}: {why}")]
    BadSetting {
        /// The renderer's name.
        renderer: String,
        /// The setting.
        key: String,
        /// The value given (`= 65`, or the settings struct).
        value: String,
        /// What is expected.
        why: String,
    },
    /// A broken invariant of the renderer (a bug to report).
    #[error("internal error: {0}")]
    Internal(String),
    /// No renderer of that name in the registry (the known ones listed).
    #[error("unknown renderer '{name}' (available: {known})")]
    UnknownRenderer {
        /// The name asked for.
        name: String,
        /// The registered names, comma separated.
        known: String,
    },
}

/// A hook adding passes at a renderer's "after opaque" point: it gets the graph and the
/// view's color and depth there (`None`: not available single-sampled).
pub type AfterOpaque<'h, 'g> =
    dyn FnMut(&mut FrameGraph<'g>, Option<(&mut ImageHandle, Option<ImageHandle>)>) + 'h;

/// What a renderer draws into for one viewport.
#[derive(Debug)]
pub struct RenderTargets<'a> {
    /// Linear HDR radiance: an image of the graph of the view's size in the renderer's
    /// [`Renderer::hdr_format`]. Holds its new version afterwards.
    pub color: &'a mut ImageHandle,
}

/// Points where the caller adds passes of its own inside a renderer's passes.
#[derive(Default)]
pub struct Hooks<'h, 'g> {
    /// After the opaque geometry, before blended surfaces and overlays. It gets the color and
    /// the depth at that point, or `None` when the renderer cannot offer them single-sampled
    /// there (a multisampled raster). A renderer without a separate opaque stage (a path
    /// tracer) calls it after all its passes. Called at most once.
    pub after_opaque: Option<Box<AfterOpaque<'h, 'g>>>,
}

impl std::fmt::Debug for Hooks<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").field("after_opaque", &self.after_opaque.is_some()).finish()
    }
}

impl<'g> Hooks<'_, 'g> {
    /// Calls the after-opaque hook, if any (once: it is taken).
    pub fn call_after_opaque(
        &mut self,
        graph: &mut FrameGraph<'g>,
        at: Option<(&mut ImageHandle, Option<ImageHandle>)>,
    ) {
        if let Some(mut hook) = self.after_opaque.take() {
            hook(graph, at);
        }
    }
}

/// What a renderer produced besides the color.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOutputs {
    /// The view's depth (D32, single-sampled, 0 at the near plane) at its latest version in
    /// the graph, for later passes to read; `None` when the renderer has none (a path tracer,
    /// a multisampled raster).
    pub depth: Option<ImageHandle>,
}

/// The value of a renderer setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingValue {
    /// A switch.
    Bool(bool),
    /// A count.
    UInt(u32),
    /// A quantity.
    Float(f32),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Bool(b) => write!(f, "{b}"),
            SettingValue::UInt(v) => write!(f, "{v}"),
            SettingValue::Float(v) => write!(f, "{v}"),
        }
    }
}

impl SettingValue {
    /// Parses `text` without knowing the setting: `true`/`false`/`on`/`off` a switch, an
    /// unsigned integer a count, another finite number a quantity ([`Setting::check`] accepts
    /// a count where a quantity is expected).
    pub fn parse(text: &str) -> Option<SettingValue> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" => return Some(SettingValue::Bool(true)),
            "false" | "off" | "no" => return Some(SettingValue::Bool(false)),
            _ => {}
        }
        if let Ok(v) = t.parse::<u32>() {
            return Some(SettingValue::UInt(v));
        }
        t.parse::<f32>().ok().filter(|v| v.is_finite()).map(SettingValue::Float)
    }

    /// Parses `text` as a value of the same type as `self` (`true`/`false`/`on`/`off`, an
    /// unsigned integer, a float).
    pub fn parse_like(&self, text: &str) -> Option<SettingValue> {
        let t = text.trim();
        match self {
            SettingValue::Bool(_) => match t.to_ascii_lowercase().as_str() {
                "true" | "on" | "1" | "yes" => Some(SettingValue::Bool(true)),
                "false" | "off" | "0" | "no" => Some(SettingValue::Bool(false)),
                _ => None,
            },
            SettingValue::UInt(_) => t.parse().ok().map(SettingValue::UInt),
            SettingValue::Float(_) => {
                t.parse::<f32>().ok().filter(|v| v.is_finite()).map(SettingValue::Float)
            }
        }
    }

    /// As a float (for sliders and ranges).
    pub fn as_f64(&self) -> f64 {
        match *self {
            SettingValue::Bool(b) => f64::from(u8::from(b)),
            SettingValue::UInt(v) => f64::from(v),
            SettingValue::Float(v) => f64::from(v),
        }
    }
}

/// One setting of a renderer as a user interface, a config file and a command line see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// Its key (`samples_per_frame`): config files and `--set NAME.KEY=VALUE` use it.
    pub key: &'static str,
    /// Its label in the user interface.
    pub label: &'static str,
    /// The current value (its type is the setting's type).
    pub value: SettingValue,
    /// The range a slider shows and [`Renderer::set`] accepts (inclusive; ignored for
    /// switches).
    pub range: (f32, f32),
    /// A slider over several orders of magnitude.
    pub logarithmic: bool,
    /// Shown only when this switch (another key) is on.
    pub when: Option<&'static str>,
    /// Chosen when the renderer is made ([`crate::RendererInit::settings`]); shown, not
    /// changed, afterwards.
    pub fixed: bool,
    /// A choice among named options: the value is a count, the index of the option (empty
    /// for other settings).
    pub options: &'static [&'static str],
}

impl Setting {
    /// A switch.
    pub fn switch(key: &'static str, label: &'static str, on: bool) -> Self {
        Self {
            key,
            label,
            value: SettingValue::Bool(on),
            range: (0.0, 1.0),
            logarithmic: false,
            when: None,
            fixed: false,
            options: &[],
        }
    }
    /// A count in `min..=max`.
    pub fn count(key: &'static str, label: &'static str, v: u32, min: u32, max: u32) -> Self {
        let range = (min as f32, max as f32);
        Self {
            key,
            label,
            value: SettingValue::UInt(v),
            range,
            logarithmic: false,
            when: None,
            fixed: false,
            options: &[],
        }
    }
    /// A quantity in `min..=max`.
    pub fn quantity(key: &'static str, label: &'static str, v: f32, min: f32, max: f32) -> Self {
        Self {
            key,
            label,
            value: SettingValue::Float(v),
            range: (min, max),
            logarithmic: false,
            when: None,
            fixed: false,
            options: &[],
        }
    }
    /// One of `options` (by index; names are accepted where text is parsed,
    /// [`Setting::parse_option`]).
    pub fn choice(
        key: &'static str,
        label: &'static str,
        index: u32,
        options: &'static [&'static str],
    ) -> Self {
        let last = options.len().saturating_sub(1) as u32;
        Self { options, ..Self::count(key, label, index, 0, last) }
    }

    /// The value of option `name` of a choice (case-insensitive), if it is one.
    pub fn parse_option(&self, name: &str) -> Option<SettingValue> {
        self.options
            .iter()
            .position(|o| o.eq_ignore_ascii_case(name.trim()))
            .map(|i| SettingValue::UInt(i as u32))
    }

    /// The slider is logarithmic.
    pub fn logarithmic(mut self) -> Self {
        self.logarithmic = true;
        self
    }
    /// Chosen when the renderer is made, not changed afterwards.
    pub fn fixed(mut self) -> Self {
        self.fixed = true;
        self
    }
    /// Shown only while switch `key` is on.
    pub fn when(mut self, key: &'static str) -> Self {
        self.when = Some(key);
        self
    }

    /// Checks `value` against this setting's type and range; the value to store.
    pub fn check(&self, renderer: &str, value: SettingValue) -> Result<SettingValue, RenderError> {
        let bad = |why: String| RenderError::BadSetting {
            renderer: renderer.into(),
            key: self.key.into(),
            value: format!("= {value}"),
            why,
        };
        let (lo, hi) = (f64::from(self.range.0), f64::from(self.range.1));
        let v = match (self.value, value) {
            (SettingValue::Bool(_), SettingValue::Bool(b)) => return Ok(SettingValue::Bool(b)),
            (SettingValue::Bool(_), SettingValue::UInt(v @ (0 | 1))) => {
                return Ok(SettingValue::Bool(v == 1))
            }
            (SettingValue::UInt(_), SettingValue::UInt(v)) => SettingValue::UInt(v),
            (SettingValue::Float(_), SettingValue::Float(v)) => SettingValue::Float(v),
            (SettingValue::Float(_), SettingValue::UInt(v)) => SettingValue::Float(v as f32),
            (want, _) => return Err(bad(format!("expected a value like {want}"))),
        };
        let x = v.as_f64();
        if !x.is_finite() || x < lo || x > hi {
            return Err(bad(format!("expected {} ..= {}", self.range.0, self.range.1)));
        }
        Ok(v)
    }
}

/// Finds `key` among `settings` and checks `value` for it (the first step of every
/// [`Renderer::set`]).
pub fn check_setting(
    renderer: &str,
    settings: &[Setting],
    key: &str,
    value: SettingValue,
) -> Result<SettingValue, RenderError> {
    match settings.iter().find(|s| s.key == key) {
        Some(s) => s.check(renderer, value),
        None => Err(RenderError::UnknownSetting {
            renderer: renderer.into(),
            key: key.into(),
            known: settings.iter().map(|s| s.key).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// A rendering backend for one viewport. Per-viewport state (history, accumulation) is the
/// renderer's own; the scene is the [`GpuScene`] every renderer shares.
pub trait Renderer {
    /// Its name in the registry (for the UI, the config file and the CLI).
    fn name(&self) -> &str;

    /// The format of the HDR color it draws (the caller makes the target in it).
    fn hdr_format(&self) -> vk::Format {
        vk::Format::R16G16B16A16_SFLOAT
    }

    /// Adds this renderer's passes for one viewport to `graph`: linear HDR radiance into
    /// `targets.color` (which then holds the new version), the caller's passes at `hooks`.
    fn add_passes<'g>(
        &'g mut self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        targets: RenderTargets<'_>,
        hooks: &mut Hooks<'_, 'g>,
    ) -> Result<RenderOutputs, RenderError>;

    /// The CPU scene changed in what `gpu` (already updated, or uploaded again) shows: the
    /// renderer rebuilds what it derives from the scene (light tables, ...) in its next
    /// `add_passes`, through passes of that frame's graph.
    fn scene_changed(&mut self, _scene: &Scene, _gpu: &GpuScene) {}

    /// Starts again from nothing (a progressive renderer restarts its accumulation): after a
    /// shader reload or anything else it cannot see.
    fn reset(&mut self) {}

    /// Nodes this view does not show (a viewport's visibility mask).
    fn set_hidden_nodes(&mut self, _nodes: &BTreeSet<u32>) {}

    /// Its settings with their current values.
    fn settings(&self) -> Vec<Setting> {
        Vec::new()
    }

    /// Changes setting `key` (checked against [`Renderer::settings`] with [`check_setting`]).
    fn set(&mut self, key: &str, value: SettingValue) -> Result<(), RenderError> {
        check_setting(self.name(), &self.settings(), key, value).map(|_| ())
    }

    /// A line of status for the user interface ("120 samples per pixel").
    fn status(&self) -> Option<String> {
        None
    }

    /// A progressive renderer: samples per pixel accumulated so far.
    fn samples(&self) -> Option<u32> {
        None
    }

    /// A progressive renderer: its accumulation images (the sum of samples with the count in
    /// alpha, and the sum of squares; RGBA32F, GENERAL after its last frame ran), from which
    /// the mean and the per-sample variance follow.
    fn accumulation(&self) -> Option<(&xpg::Image, &xpg::Image)> {
        None
    }

    /// A progressive renderer's sums of its samples' first hits, when it keeps them: the
    /// albedo (RGB; alpha: samples that hit a lit surface) and the normal (XYZ; W: the
    /// distance), RGBA32F, with the number of samples that hit any surface in the alpha of the
    /// accumulation's squares ([`crate::headless::Aovs`] is what they give).
    fn aovs(&self) -> Option<(&xpg::Image, &xpg::Image)> {
        None
    }
}

/// Checks that `target` is an image of `graph` of the view's size and of `format`.
pub fn check_target(
    graph: &FrameGraph<'_>,
    target: &ImageHandle,
    view: &View,
    format: vk::Format,
) -> Result<(), RenderError> {
    let info = graph
        .image_info(target)
        .ok_or_else(|| RenderError::Target("target is not an image of this graph".into()))?;
    if info.format != format {
        return Err(RenderError::Target(format!(
            "target is {:?}; this renderer draws {format:?}",
            info.format
        )));
    }
    if info.extent.width != view.width || info.extent.height != view.height {
        return Err(RenderError::Target(format!(
            "target is {}x{}, the view {}x{}",
            info.extent.width, info.extent.height, view.width, view.height
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_by_type_and_range() {
        let s =
            [Setting::count("spp", "samples", 4, 1, 64), Setting::switch("grid", "grid", false)];
        assert_eq!(
            check_setting("r", &s, "spp", SettingValue::UInt(8)).unwrap(),
            SettingValue::UInt(8)
        );
        let e = check_setting("r", &s, "spp", SettingValue::UInt(65)).unwrap_err().to_string();
        assert!(e.contains("spp = 65") && e.contains("1 ..= 64"), "{e}");
        let e = check_setting("r", &s, "spp", SettingValue::Bool(true)).unwrap_err().to_string();
        assert!(e.contains("expected a value like"), "{e}");
        let e = check_setting("r", &s, "nope", SettingValue::UInt(1)).unwrap_err().to_string();
        assert!(e.contains("no setting 'nope'") && e.contains("spp, grid"), "{e}");
        assert_eq!(SettingValue::Bool(false).parse_like("on"), Some(SettingValue::Bool(true)));
        assert_eq!(SettingValue::Float(0.0).parse_like("nan"), None);
        assert_eq!(SettingValue::UInt(0).parse_like("-3"), None);
    }
}
