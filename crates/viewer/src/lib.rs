//! The viewer application's library part: the interactive viewer ([`app`], in a window with
//! [`window`] or offscreen with [`app::run_offscreen`]), headless rendering of a scene file
//! to an image ([`render`]) and the command line ([`cli`], which a program calls with its own
//! registry of renderers).

pub mod app;
pub mod camera;
pub mod cli;
pub mod config;
mod embed;
pub mod input;
mod inspector;
pub mod passes;
#[cfg(feature = "tracy")]
mod profiling;
mod reload;
pub mod window;

use std::path::{Path, PathBuf};

pub use embed::Viewer;
/// The Dear ImGui crate the viewer's UI uses (for [`Viewer::on_ui`] windows).
pub use imgui;

use anyhow::{bail, Context as _};
use framegraph::{Access, Bind, Executor, FrameGraph, ImageHandle, ImageInfo};
use render::{GpuScene, Hooks, Registry, RenderTargets, RendererInit, SettingValue};
use scene::{Scene, View};
use xpg::vk;
use xpg::{Context, ContextDesc, Image, ImageDesc, Pipeline, ShaderCompiler, ShaderDesc, Uploader};

/// The built-in renderers: `raster` (the forward rasterizer) and `pathtracer` (labelled
/// "path tracer"). The only place outside their crates where their types are named.
pub fn builtin_registry() -> Registry {
    let mut r = Registry::new();
    r.register("raster", raster::Raster::factory);
    r.register_labelled("pathtracer", "path tracer", pathtracer::PathTracer::factory);
    r
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
    /// Samples per pixel (1: no multisampling).
    pub msaa: u32,
    /// Path tracer: samples per pixel.
    pub spp: u32,
    /// Path tracer: longest path.
    pub max_depth: u32,
    /// Path tracer: seed.
    pub seed: u32,
    /// Path tracer: pick lights uniformly instead of by power (for comparisons).
    pub uniform_lights: bool,
    /// Path tracer: thin-lens aperture radius (0: pinhole) and focus distance.
    pub lens: (f32, f32),
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
            msaa: 1,
            spp: 64,
            max_depth: 64,
            seed: 0,
            uniform_lights: false,
            lens: (0.0, 1.0),
        }
    }
}

/// A rendered image.
#[derive(Debug, Clone)]
pub struct RenderedImage {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Linear HDR radiance, RGBA32F, row-major from the top row.
    pub hdr: Vec<[f32; 4]>,
    /// Tonemapped sRGB (RGBA8).
    pub ldr: Vec<u8>,
    /// Path tracer: per-sample variance per pixel and channel (from the accumulated second
    /// moments).
    pub variance: Option<Vec<[f32; 4]>>,
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

/// Loads a scene file by its extension (.gltf, .glb, .obj, .ply); a scene that nothing lights
/// gets a default key light and a dim environment.
pub fn load_scene(path: &Path) -> anyhow::Result<Scene> {
    let mut scene = scene::load(path)?;
    if scene.add_default_lighting() {
        tracing::info!(
            "{}: no lights, environment or emitters: default lighting added",
            path.display()
        );
    }
    Ok(scene)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TonemapPush {
    width: u32,
    height: u32,
    exposure: f32,
}

/// The display transform's pipeline (`post/tonemap.slang` of the compiler's shader folder).
pub(crate) fn tonemap_pipeline(
    ctx: &Context,
    compiler: &ShaderCompiler,
) -> anyhow::Result<Pipeline> {
    let code = compiler
        .compile(&ShaderDesc::new(compiler.shader_dir().join("post/tonemap.slang")))
        .context("compiling the tonemap shader")?;
    let entry = code.entry_points.first().context("tonemap.slang: no entry point")?;
    Ok(Pipeline::compute(ctx, entry, None)?)
}

/// Adds the tonemap pass: `hdr` (sampled) to `ldr` (an RGBA8 storage image), both `size`.
pub(crate) fn add_tonemap_pass<'g>(
    graph: &mut FrameGraph<'g>,
    name: &str,
    pipeline: &'g Pipeline,
    hdr: &ImageHandle,
    ldr: &mut ImageHandle,
    size: (u32, u32),
) {
    let (t, l, (width, height)) = (*hdr, *ldr, size);
    graph
        .add_pass(name)
        .read(hdr, Access::SampledCompute)
        .write(ldr, Access::StorageWriteCompute)
        .record(move |pass| {
            pipeline.bind(pass.cmd, None);
            pass.push_descriptors(
                pipeline,
                &[
                    Bind::Sampled {
                        binding: 0,
                        image: &t,
                        mip: None,
                        sampler: vk::Sampler::null(),
                    },
                    Bind::Storage { binding: 1, image: &l, mip: 0 },
                ],
            )?;
            pipeline.push(pass.cmd, &TonemapPush { width, height, exposure: 1.0 });
            pipeline.dispatch_threads(pass.cmd, [width, height, 1]);
            Ok(())
        });
}

/// Renders `req` headless and returns both the HDR radiance and the tonemapped image.
pub fn render(req: &RenderRequest) -> anyhow::Result<RenderedImage> {
    let scene = load_scene(&req.scene)?;
    render_scene(&scene, req)
}

/// Renders an already loaded scene (`req.scene` only names it in messages).
pub fn render_scene(scene: &Scene, req: &RenderRequest) -> anyhow::Result<RenderedImage> {
    let (width, height) = match req.size {
        Some(s) => s,
        None => View::default_size(scene, req.camera.as_deref(), 1280),
    };
    let view =
        View::from_scene(scene, req.camera.as_deref(), width, height).with_context(|| {
            format!(
                "{}: no camera named '{}'",
                req.scene.display(),
                req.camera.as_deref().unwrap_or("")
            )
        })?;
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
    let mut settings: Vec<(String, SettingValue)> = Vec::new();
    let mut set = |k: &str, v: SettingValue| settings.push((k.to_string(), v));
    match name.as_str() {
        "raster" => {
            set("msaa", SettingValue::UInt(req.msaa));
            if let Some(g) = req.grid {
                g.validate()?;
                set("grid", SettingValue::Bool(true));
                set("grid_spacing", SettingValue::Float(g.spacing));
                set("grid_opacity", SettingValue::Float(g.opacity));
                set("grid_fade", SettingValue::Float(g.fade));
                set("grid_z_up", SettingValue::Bool(g.up == raster::GridUp::Z));
            }
        }
        "pathtracer" => {
            set("samples_per_frame", SettingValue::UInt(req.spp.clamp(1, 16)));
            set("max_depth", SettingValue::UInt(req.max_depth.max(1)));
            set("seed", SettingValue::UInt(req.seed));
            set("uniform_lights", SettingValue::Bool(req.uniform_lights));
            set("aperture", SettingValue::Float(req.lens.0));
            set("focus_distance", SettingValue::Float(req.lens.1));
        }
        _ => {}
    }
    settings.extend(req.settings.iter().cloned());
    let init = RendererInit { ctx: &ctx, compiler: &compiler, settings: &settings, z_up: false };
    let mut renderer = req
        .registry
        .create(&name, &init)
        .with_context(|| format!("building the {name} renderer"))?;
    renderer.scene_changed(scene, &gpu_scene);
    let hdr_format = renderer.hdr_format();
    if renderer.samples().is_some() {
        // A progressive renderer: all frames but the last accumulate only; the last takes what
        // is left, so that exactly `spp` samples are taken.
        let per_frame = match renderer.settings().iter().find(|s| s.key == "samples_per_frame") {
            Some(render::Setting { value: SettingValue::UInt(n), .. }) => (*n).max(1),
            _ => 1,
        };
        let total = req.spp.max(1);
        let frames = total.div_ceil(per_frame);
        let mut executor = Executor::new(&ctx, 1);
        for _ in 1..frames {
            let mut graph = FrameGraph::new();
            let mut target = graph.create_image("hdr", ImageInfo::d2(width, height, hdr_format));
            renderer.add_passes(
                &mut graph,
                &gpu_scene,
                &view,
                RenderTargets { color: &mut target },
                &mut Hooks::default(),
            )?;
            graph
                .add_pass("keep")
                .read(&target, Access::TransferSrc)
                .side_effect()
                .record(|_| Ok(()));
            let plan = executor.compile(&graph)?;
            ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))??;
        }
        if frames > 1 || per_frame != total {
            renderer
                .set("samples_per_frame", SettingValue::UInt(total - (frames - 1) * per_frame))?;
        }
    }
    let tonemap = tonemap_pipeline(&ctx, &compiler)?;

    let hdr_out = Image::new(
        &ctx,
        &ImageDesc::d2("hdr output", width, height, hdr_format, vk::ImageUsageFlags::TRANSFER_DST),
    )?;
    let ldr_out = Image::new(
        &ctx,
        &ImageDesc::d2(
            "ldr output",
            width,
            height,
            vk::Format::R8G8B8A8_UNORM,
            vk::ImageUsageFlags::TRANSFER_DST,
        ),
    )?;
    let mut executor = Executor::new(&ctx, 1);
    {
        let mut graph = FrameGraph::new();
        let mut target = graph.create_image("hdr", ImageInfo::d2(width, height, hdr_format));
        renderer.add_passes(
            &mut graph,
            &gpu_scene,
            &view,
            RenderTargets { color: &mut target },
            &mut Hooks::default(),
        )?;
        let mut ldr =
            graph.create_image("ldr", ImageInfo::d2(width, height, vk::Format::R8G8B8A8_UNORM));
        let mut hdr_o = graph.import_image(
            "hdr output",
            hdr_out.raw(),
            hdr_out.view(),
            ImageInfo::d2(width, height, hdr_format),
            None,
            None,
        );
        let mut ldr_o = graph.import_image(
            "ldr output",
            ldr_out.raw(),
            ldr_out.view(),
            ImageInfo::d2(width, height, vk::Format::R8G8B8A8_UNORM),
            None,
            None,
        );
        add_tonemap_pass(&mut graph, "tonemap", &tonemap, &target, &mut ldr, (width, height));
        let (t, o) = (target, hdr_o);
        graph
            .add_pass("copy hdr")
            .read(&target, Access::TransferSrc)
            .write(&mut hdr_o, Access::TransferDst)
            .record(move |pass| pass.copy_image(&t, &o));
        let (l, o) = (ldr, ldr_o);
        graph
            .add_pass("copy ldr")
            .read(&ldr, Access::TransferSrc)
            .write(&mut ldr_o, Access::TransferDst)
            .record(move |pass| pass.copy_image(&l, &o));
        let plan = executor.compile(&graph)?;
        tracing::debug!("{plan}");
        ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))??;
    }
    let mut up = Uploader::new(&ctx, 4 << 20)?;
    let hdr_bytes = up.read_image(&hdr_out, 0, 0, vk::ImageLayout::TRANSFER_DST_OPTIMAL)?;
    let ldr = up.read_image(&ldr_out, 0, 0, vk::ImageLayout::TRANSFER_DST_OPTIMAL)?;
    let mut hdr = hdr_pixels(&hdr_bytes, hdr_format)?;
    // The path tracer: the mean in full precision and the per-sample variance from its
    // accumulated sums and squares (RGBA32F, GENERAL after the last frame).
    let mut variance = None;
    if let Some((sum, squares)) = renderer.accumulation() {
        ctx.wait_idle()?;
        let floats = |b: Vec<u8>| -> Vec<[f32; 4]> {
            b.chunks_exact(16)
                .map(|c| {
                    [0, 1, 2, 3].map(|k| {
                        f32::from_le_bytes([c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]])
                    })
                })
                .collect()
        };
        let s = floats(up.read_image(sum, 0, 0, vk::ImageLayout::GENERAL)?);
        let q = floats(up.read_image(squares, 0, 0, vk::ImageLayout::GENERAL)?);
        let mut var = Vec::with_capacity(s.len());
        hdr = s
            .iter()
            .zip(&q)
            .map(|(s, q)| {
                let n = f64::from(s[3]).max(1.0);
                let mean = [0, 1, 2].map(|c| f64::from(s[c]) / n);
                let v = [0, 1, 2].map(|c| {
                    let m2 = f64::from(q[c]) / n;
                    ((m2 - mean[c] * mean[c]) * n / (n - 1.0).max(1.0)).max(0.0) as f32
                });
                var.push([v[0], v[1], v[2], 1.0]);
                [mean[0] as f32, mean[1] as f32, mean[2] as f32, 1.0]
            })
            .collect();
        variance = Some(var);
    }
    if req.validation {
        ctx.wait_idle()?;
        let m = ctx.validation_messages();
        if m.total() > 0 {
            bail!("{} validation messages:\n{}", m.total(), m.recent.join("\n"));
        }
    }
    Ok(RenderedImage { width, height, hdr, ldr, variance })
}

/// RGBA pixels of an HDR image read back in `format` (RGBA16F or RGBA32F).
pub(crate) fn hdr_pixels(bytes: &[u8], format: vk::Format) -> anyhow::Result<Vec<[f32; 4]>> {
    match format {
        vk::Format::R16G16B16A16_SFLOAT => Ok(bytes
            .chunks_exact(8)
            .map(|c| {
                [0, 1, 2, 3].map(|k| {
                    half::f16::from_bits(u16::from_le_bytes([c[2 * k], c[2 * k + 1]])).to_f32()
                })
            })
            .collect()),
        vk::Format::R32G32B32A32_SFLOAT => Ok(bytes
            .chunks_exact(16)
            .map(|c| {
                [0, 1, 2, 3].map(|k| {
                    f32::from_le_bytes([c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]])
                })
            })
            .collect()),
        other => bail!("HDR images in {other:?} cannot be read back (RGBA16F or RGBA32F)"),
    }
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
