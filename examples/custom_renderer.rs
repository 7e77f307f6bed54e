//! A renderer of your own beside the built-ins: `depth`, a false-colour depth view, registered
//! in the viewer's registry and opened in a viewport next to the raster. It appears in every
//! viewport's renderer menu, its `contrast` setting in the viewport's Settings popup, and the
//! command line takes `--set depth.contrast=16`.
//!
//! ```text
//! cargo run --release --example custom_renderer -- tests/data/refs/scenes/env_diffuse.gltf
//! cargo run --release --example custom_renderer -- SCENE --offscreen depth.png
//! ```
//!
//! It composes through the trait only: it asks the registry for a single-sampled `raster`
//! (a `Box<dyn Renderer>`), lets it draw, and runs its own compute shader
//! (`examples/passes/depth_false_color.slang`) over the depth the raster hands back. No
//! barrier is written by hand: the pass declares what it reads and writes.

use std::path::PathBuf;

use anyhow::Context as _;
use framegraph::{Access, Bind, FrameGraph};
use render::{
    check_setting, BoxedRenderer, GpuScene, Hooks, RenderError, RenderOutputs, RenderTargets,
    Renderer, RendererInit, Setting, SettingValue,
};
use scene::View;
use xpg::{Pipeline, ShaderDesc};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Push {
    width: u32,
    height: u32,
    mix: f32,
    contrast: f32,
}

/// Depth as false colour, over the raster's opaque geometry.
struct DepthView {
    inner: BoxedRenderer,
    pipeline: Pipeline,
    contrast: f32,
}

impl DepthView {
    fn factory(init: &RendererInit<'_>) -> Result<BoxedRenderer, RenderError> {
        // The raster single-sampled: its depth is handed out only then.
        let msaa = [("msaa".to_string(), SettingValue::UInt(1))];
        let raster = RendererInit { settings: &msaa, ..*init };
        let inner = viewer::builtin_registry().create("raster", &raster)?;
        let shader = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("examples/passes/depth_false_color.slang");
        let code = init.compiler.compile(&ShaderDesc::new(shader))?;
        let entry = code.entry("main").ok_or_else(|| RenderError::MissingEntry {
            shader: "depth_false_color.slang".into(),
            entry: "main".into(),
        })?;
        let pipeline = Pipeline::compute(init.ctx, entry, None)?;
        Ok(Box::new(DepthView { inner, pipeline, contrast: 8.0 }))
    }
}

impl Renderer for DepthView {
    fn name(&self) -> &str {
        "depth"
    }

    fn hdr_format(&self) -> xpg::vk::Format {
        self.inner.hdr_format()
    }

    fn add_passes<'g>(
        &'g mut self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        targets: RenderTargets<'_>,
        hooks: &mut Hooks<'_, 'g>,
    ) -> Result<RenderOutputs, RenderError> {
        let color = targets.color;
        let out = self.inner.add_passes(graph, scene, view, RenderTargets { color }, hooks)?;
        let depth = out.depth.ok_or_else(|| RenderError::Target("no depth".into()))?;
        let (pipeline, c) = (&self.pipeline, *color);
        let push =
            Push { width: view.width, height: view.height, mix: 1.0, contrast: self.contrast };
        graph
            .add_pass("depth false colour")
            .read(&depth, Access::SampledCompute)
            .write(color, Access::StorageWriteCompute)
            .record(move |pass| {
                pipeline.bind(pass.cmd, None);
                pass.push_descriptors(
                    pipeline,
                    &[
                        Bind::Storage { binding: 0, image: &c, mip: 0 },
                        Bind::Sampled {
                            binding: 1,
                            image: &depth,
                            mip: None,
                            sampler: xpg::vk::Sampler::null(),
                        },
                    ],
                )?;
                pipeline.push(pass.cmd, &push);
                pipeline.dispatch_threads(pass.cmd, [push.width, push.height, 1]);
                Ok(())
            });
        Ok(out)
    }

    fn scene_changed(&mut self, scene: &scene::Scene, gpu: &GpuScene) {
        self.inner.scene_changed(scene, gpu);
    }

    fn set_hidden_nodes(&mut self, nodes: &std::collections::BTreeSet<u32>) {
        self.inner.set_hidden_nodes(nodes);
    }

    fn settings(&self) -> Vec<Setting> {
        vec![Setting::quantity("contrast", "depth contrast", self.contrast, 1.0, 64.0)]
    }

    fn set(&mut self, key: &str, value: SettingValue) -> Result<(), RenderError> {
        if let SettingValue::Float(x) = check_setting("depth", &self.settings(), key, value)? {
            self.contrast = x;
        }
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    viewer::cli::init_logging();
    let started = std::time::Instant::now();
    let mut args = std::env::args().skip(1);
    let mut files = Vec::new();
    let mut offscreen = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--offscreen" => {
                offscreen = Some(PathBuf::from(args.next().context("--offscreen OUT.png")?))
            }
            _ => files.push(PathBuf::from(a)),
        }
    }
    let mut registry = viewer::builtin_registry();
    registry.register_labelled("depth", "depth view", DepthView::factory);
    let opts = viewer::app::ViewerOptions {
        files,
        viewports: vec!["raster".into(), "depth".into()],
        registry,
        ..Default::default()
    };
    match offscreen {
        Some(out) => {
            let opts = viewer::app::ViewerOptions {
                size: (960, 400),
                frames: Some(3),
                screenshot: Some(out.clone()),
                ..opts
            };
            let app = viewer::app::run_offscreen(opts)?;
            if let Some(e) = app.viewport_error(2) {
                anyhow::bail!("the depth viewport failed: {e}");
            }
            println!("wrote {}", out.display());
        }
        None => {
            viewer::window::run_window(opts, started)?;
        }
    }
    Ok(())
}
