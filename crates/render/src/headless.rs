//! One view rendered into memory without a window: a renderer's passes (as many frames as a
//! progressive renderer needs for the samples asked for), the display transform (tonemap)
//! and the read-back. `xpg-view render` and the renderers' own tests use it; the viewer's
//! viewports use the same tonemap pass.

use framegraph::{Access, Bind, Executor, FrameGraph, ImageHandle, ImageInfo};
use scene::View;
use xpg::vk;
use xpg::{Context, Image, ImageDesc, Pipeline, ShaderCompiler, ShaderDesc, Uploader};

use crate::{
    GpuScene, Hooks, RenderError, RenderOutputs, RenderTargets, Renderer, Setting, SettingValue,
};

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
    /// A progressive renderer's per-sample variance per pixel and channel (from its
    /// accumulated second moments).
    pub variance: Option<Vec<[f32; 4]>>,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TonemapPush {
    width: u32,
    height: u32,
    exposure: f32,
}

/// The display transform's pipeline (`post/tonemap.slang` of the compiler's shader folder).
pub fn tonemap_pipeline(ctx: &Context, compiler: &ShaderCompiler) -> Result<Pipeline, RenderError> {
    let code =
        compiler.compile(&ShaderDesc::new(compiler.shader_dir().join("post/tonemap.slang")))?;
    let entry = code.entry_points.first().ok_or_else(|| RenderError::MissingEntry {
        shader: "post/tonemap.slang".into(),
        entry: "(any)".into(),
    })?;
    Ok(Pipeline::compute(ctx, entry, None)?)
}

/// Adds the tonemap pass: `hdr` (sampled) to `ldr` (an RGBA8 storage image), both `size`.
pub fn add_tonemap_pass<'g>(
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

/// RGBA pixels of an HDR image read back in `format` (RGBA16F or RGBA32F).
pub fn hdr_pixels(bytes: &[u8], format: vk::Format) -> Result<Vec<[f32; 4]>, RenderError> {
    match format {
        vk::Format::R16G16B16A16_SFLOAT => Ok(bytes
            .chunks_exact(8)
            .map(|c| {
                [0, 1, 2, 3].map(|k| {
                    half::f16::from_bits(u16::from_le_bytes([c[2 * k], c[2 * k + 1]])).to_f32()
                })
            })
            .collect()),
        vk::Format::R32G32B32A32_SFLOAT => Ok(f32x4(bytes)),
        other => Err(RenderError::Unsupported(format!(
            "HDR images in {other:?} cannot be read back (RGBA16F or RGBA32F)"
        ))),
    }
}

fn f32x4(bytes: &[u8]) -> Vec<[f32; 4]> {
    bytes
        .chunks_exact(16)
        .map(|c| {
            [0, 1, 2, 3]
                .map(|k| f32::from_le_bytes([c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]]))
        })
        .collect()
}

/// A view's HDR target (the view's size, the renderer's [`Renderer::hdr_format`]), named
/// `name`, and the renderer's passes into it: what the viewer's viewports and [`render_view`]
/// both add for a view. The target is returned also when the renderer fails (to clear it).
pub fn add_view_passes<'g>(
    graph: &mut FrameGraph<'g>,
    name: &str,
    renderer: &'g mut dyn Renderer,
    gpu: &'g GpuScene,
    view: &View,
    hooks: &mut Hooks<'_, 'g>,
) -> (ImageHandle, Result<RenderOutputs, RenderError>) {
    let info = ImageInfo::d2(view.width, view.height, renderer.hdr_format());
    let mut target = graph.create_image(name, info);
    let out = renderer.add_passes(graph, gpu, view, RenderTargets { color: &mut target }, hooks);
    (target, out)
}

/// Renders `view` of `gpu` with `renderer` (whose `scene_changed` was called for it) and
/// reads it back. A progressive renderer (one that counts `samples`) is reset and takes
/// exactly `spp` samples per pixel: every frame but the last at its `samples_per_frame`, the
/// last what is left (its setting is restored afterwards); its image is then the mean of its
/// accumulated sums in full precision, with the per-sample variance.
pub fn render_view(
    ctx: &Context,
    compiler: &ShaderCompiler,
    renderer: &mut dyn Renderer,
    gpu: &GpuScene,
    view: &View,
    spp: u32,
) -> Result<RenderedImage, RenderError> {
    let (width, height) = (view.width, view.height);
    let hdr_format = renderer.hdr_format();
    // A progressive renderer starts over: exactly `spp` samples of this view.
    renderer.reset();
    let tonemap = tonemap_pipeline(ctx, compiler)?;
    let frames = if renderer.samples().is_some() {
        let per_frame = match renderer.settings().iter().find(|s| s.key == "samples_per_frame") {
            Some(Setting { value: SettingValue::UInt(n), .. }) => (*n).max(1),
            _ => 1,
        };
        let total = spp.max(1);
        let frames = total.div_ceil(per_frame);
        (frames, Some((total, per_frame)))
    } else {
        (1, None)
    };
    let hdr_out = Image::new(
        ctx,
        &ImageDesc::d2("hdr output", width, height, hdr_format, vk::ImageUsageFlags::TRANSFER_DST),
    )?;
    let ldr_info = ImageInfo::d2(width, height, vk::Format::R8G8B8A8_UNORM);
    let ldr_out = Image::new(
        ctx,
        &ImageDesc::d2(
            "ldr output",
            width,
            height,
            vk::Format::R8G8B8A8_UNORM,
            vk::ImageUsageFlags::TRANSFER_DST,
        ),
    )?;
    let mut executor = Executor::new(ctx, 1);
    let (count, progressive) = frames;
    for frame in 0..count {
        let last = frame + 1 == count;
        if let (true, Some((total, per_frame))) = (last, progressive) {
            // The last frame takes what is left, so that exactly `spp` samples are taken.
            let left = total - (count - 1) * per_frame;
            if left != per_frame {
                renderer.set("samples_per_frame", SettingValue::UInt(left))?;
            }
        }
        let mut graph = FrameGraph::new();
        let info = ImageInfo::d2(width, height, hdr_format);
        let mut hooks = Hooks::default();
        let (target, out) =
            add_view_passes(&mut graph, "hdr", &mut *renderer, gpu, view, &mut hooks);
        out?;
        if last {
            let mut ldr = graph.create_image("ldr", ldr_info);
            let (h, l) = (hdr_out.raw(), ldr_out.raw());
            let mut hdr_o = graph.import_image("hdr output", h, hdr_out.view(), info, None, None);
            let mut ldr_o =
                graph.import_image("ldr output", l, ldr_out.view(), ldr_info, None, None);
            add_tonemap_pass(&mut graph, "tonemap", &tonemap, &target, &mut ldr, (width, height));
            for (name, src, dst) in
                [("copy hdr", target, &mut hdr_o), ("copy ldr", ldr, &mut ldr_o)]
            {
                let d = *dst;
                graph
                    .add_pass(name)
                    .read(&src, Access::TransferSrc)
                    .write(dst, Access::TransferDst)
                    .record(move |pass| pass.copy_image(&src, &d));
            }
        } else {
            // Only the accumulation matters: keep the passes that write the target.
            graph
                .add_pass("keep")
                .read(&target, Access::TransferSrc)
                .side_effect()
                .record(|_| Ok(()));
        }
        let plan = executor.compile(&graph)?;
        tracing::debug!("{plan}");
        ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))??;
    }
    if let Some((_, per_frame)) = progressive {
        // The renderer keeps its own setting.
        renderer.set("samples_per_frame", SettingValue::UInt(per_frame))?;
    }
    let mut up = Uploader::new(ctx, 4 << 20)?;
    let hdr_bytes = up.read_image(&hdr_out, 0, 0, vk::ImageLayout::TRANSFER_DST_OPTIMAL)?;
    let ldr = up.read_image(&ldr_out, 0, 0, vk::ImageLayout::TRANSFER_DST_OPTIMAL)?;
    let mut hdr = hdr_pixels(&hdr_bytes, hdr_format)?;
    // A progressive renderer: the mean in full precision and the per-sample variance from its
    // accumulated sums and squares (RGBA32F, GENERAL after the last frame).
    let mut variance = None;
    if let Some((sum, squares)) = renderer.accumulation() {
        ctx.wait_idle()?;
        let s = f32x4(&up.read_image(sum, 0, 0, vk::ImageLayout::GENERAL)?);
        let q = f32x4(&up.read_image(squares, 0, 0, vk::ImageLayout::GENERAL)?);
        let mut var = Vec::with_capacity(s.len());
        hdr = s
            .iter()
            .zip(&q)
            .zip(&hdr)
            .map(|((s, q), shown)| {
                let n = f64::from(s[3]).max(1.0);
                let mean = [0, 1, 2].map(|c| f64::from(s[c]) / n);
                let v = [0, 1, 2].map(|c| {
                    let m2 = f64::from(q[c]) / n;
                    ((m2 - mean[c] * mean[c]) * n / (n - 1.0).max(1.0)).max(0.0) as f32
                });
                var.push([v[0], v[1], v[2], 1.0]);
                let mean = [mean[0] as f32, mean[1] as f32, mean[2] as f32, 1.0];
                // Where the target holds something else than the mean (points and lines
                // drawn over the traced image), the target is the image.
                if overdrawn(shown, &mean) {
                    *shown
                } else {
                    mean
                }
            })
            .collect();
        variance = Some(var);
    }
    Ok(RenderedImage { width, height, hdr, ldr, variance })
}

/// Whether a pixel of the target (`shown`) differs from the renderer's mean by more than the
/// target's rounding (half floats: 2^-11 relative, rounded either way, and infinite beyond
/// their range): something was drawn over it.
fn overdrawn(shown: &[f32; 4], mean: &[f32; 4]) -> bool {
    let same = |s: f32, m: f32| {
        (s - m).abs() <= 2e-3 * m.abs() + 1e-6
            || (s.is_nan() && m.is_nan())
            || (s.is_infinite() && m.abs() > 65504.0 && s.signum() == m.signum())
    };
    (0..3).any(|c| !same(shown[c], mean[c]))
}
