//! One viewport: its camera, the renderers made for it through the registry (by name), its
//! image in the UI and its visibility mask.

use super::*;
use std::path::PathBuf;

use anyhow::bail;
use imgui::TextureId;
use render::{BoxedRenderer, RendererInit, SettingValue};
use xpg::vk;
use xpg::{Context, Image, ShaderCompiler};

use crate::camera::{Camera, Up};

/// The HDR format of a viewport without a renderer.
pub(super) const DEFAULT_HDR: vk::Format = vk::Format::R16G16B16A16_SFLOAT;

pub(super) struct ViewportImage {
    /// What the UI shows: a history image, so the graph knows the state the previous frame
    /// left it in (it ends every frame sampled by the UI).
    pub(super) ldr: framegraph::HistoryImage,
    pub(super) texture: TextureId,
    pub(super) set: vk::DescriptorSet,
    pub(super) width: u32,
    pub(super) height: u32,
}

pub(super) struct Viewport {
    pub(super) id: u32,
    pub(super) camera: Camera,
    /// The name of the renderer it shows.
    pub(super) kind: String,
    /// The renderers made for it so far, by name (switching back is instant).
    pub(super) renderers: Vec<(String, BoxedRenderer)>,
    pub(super) image: Option<ViewportImage>,
    /// Shown this frame (its window is visible): only those render.
    pub(super) shown: bool,
    /// Save this viewport (PNG from the tonemapped image, EXR from the HDR radiance).
    pub(super) screenshot: Option<PathBuf>,
    /// The HDR copy for an EXR screenshot.
    pub(super) hdr_copy: Option<Image>,
    pub(super) error: Option<String>,
    /// Nodes this viewport does not show (its visibility mask).
    pub(super) hidden: std::collections::BTreeSet<u32>,
    /// The file camera last chosen (C steps to the next).
    pub(super) file_camera: Option<usize>,
    /// Why a custom pass cannot run in this viewport (it keeps rendering without it).
    pub(super) pass_error: Option<String>,
    /// Its window had the focus in the last frame.
    pub(super) focused: bool,
    /// Where the left button went down on the image (a click picks if it comes up there).
    pub(super) press: Option<[f32; 2]>,
    /// What the last click picked (shown on the image).
    pub(super) picked: Option<String>,
    /// What the cursor is over: its box (object to world, object-space corners), outlined.
    pub(super) hover: Option<(glam::Mat4, glam::Vec3, glam::Vec3)>,
    /// The active viewport among several (outlined).
    pub(super) active: bool,
}

/// The settings a new renderer `name` starts with: the shorthand flags of the built-ins, then
/// the `--set NAME.KEY=VALUE` settings of `opts`.
pub(super) fn initial_settings(opts: &ViewerOptions, name: &str) -> Vec<(String, SettingValue)> {
    let shorthands = crate::Shorthands {
        msaa: Some(opts.msaa),
        samples_per_frame: Some(opts.spp.clamp(1, 64)),
        max_depth: Some(opts.max_depth.clamp(1, 1024)),
        transparency: opts.transparency,
        ..Default::default()
    };
    let mut out = crate::builtin_shorthands(name, &shorthands);
    out.extend(
        opts.renderer_settings.iter().filter(|(r, ..)| r == name).map(|(_, k, v)| (k.clone(), *v)),
    );
    out
}

/// Makes renderer `name` through the registry of `opts`, with its initial settings.
pub(super) fn make_renderer(
    ctx: &Context,
    compiler: &ShaderCompiler,
    opts: &ViewerOptions,
    name: &str,
) -> Result<BoxedRenderer, render::RenderError> {
    let settings = initial_settings(opts, name);
    let init = RendererInit { ctx, compiler, settings: &settings, z_up: opts.up == Up::Z };
    opts.registry.create(name, &init)
}

impl App {
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

    /// Why a custom pass could not run in viewport `id` in the last frame, if one could not.
    pub fn viewport_pass_error(&self, id: u32) -> Option<&str> {
        self.viewports.iter().find(|v| v.id == id).and_then(|v| v.pass_error.as_deref())
    }

    /// The viewports: (id, renderer name), in order.
    pub fn viewports(&self) -> Vec<(u32, String)> {
        self.viewports.iter().map(|v| (v.id, v.kind.clone())).collect()
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
    pub(super) fn ensure_renderer(&mut self, vp: &mut Viewport) {
        vp.error = None;
        if vp.renderer().is_some() {
            return;
        }
        let name = vp.kind.clone();
        let premade = self.premade.iter().position(|(n, _)| *n == name);
        let (r, files) = match premade {
            Some(i) => self.premade.swap_remove(i).1,
            None => self
                .compiler
                .recording(|| make_renderer(&self.ctx, &self.compiler, &self.opts, &name)),
        };
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
}
