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
    /// A progressive renderer's first hits, where it keeps them ([`Renderer::aovs`]).
    pub aovs: Option<Aovs>,
}

/// What the samples of each pixel hit first, averaged over them (`render --aov`).
#[derive(Debug, Clone, PartialEq)]
pub struct Aovs {
    /// The albedo (base colour) of lit surfaces; 1 where a sample saw the environment, an
    /// emitter or an unlit surface.
    pub albedo: Vec<[f32; 3]>,
    /// The unit shading normal facing the camera (world space), of every surface; zero where
    /// no sample hit one.
    pub normal: Vec<[f32; 3]>,
    /// The distance from the camera along the ray (scene units), of every surface; infinite
    /// where no sample hit one.
    pub depth: Vec<f32>,
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
    let frames = frame_plan(renderer, spp);
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
        if last {
            take_the_rest(renderer, count, progressive)?;
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
            keep(&mut graph, &target);
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
    let mut aovs = None;
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
        if let Some((albedo, normal)) = renderer.aovs() {
            let a = f32x4(&up.read_image(albedo, 0, 0, vk::ImageLayout::GENERAL)?);
            let n = f32x4(&up.read_image(normal, 0, 0, vk::ImageLayout::GENERAL)?);
            aovs = Some(Aovs::from_sums(&s, &q, &a, &n));
        }
    }
    Ok(RenderedImage { width, height, hdr, ldr, variance, aovs })
}

impl Aovs {
    /// From the sums per pixel: of the samples (count in alpha), of their squares (surface
    /// hits in alpha), of the albedos and of the normals and distances.
    fn from_sums(
        sum: &[[f32; 4]],
        squares: &[[f32; 4]],
        albedo: &[[f32; 4]],
        normal: &[[f32; 4]],
    ) -> Self {
        let mut out = Self { albedo: Vec::new(), normal: Vec::new(), depth: Vec::new() };
        for (((s, q), a), n) in sum.iter().zip(squares).zip(albedo).zip(normal) {
            let samples = s[3].max(1.0);
            out.albedo.push([a[0] / samples, a[1] / samples, a[2] / samples]);
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            out.normal.push(if len > 0.0 {
                [n[0] / len, n[1] / len, n[2] / len]
            } else {
                [0.0; 3]
            });
            out.depth.push(if q[3] > 0.0 { n[3] / q[3] } else { f32::INFINITY });
        }
        out
    }
}

/// A pass that keeps `target` (and so the passes that write it) when nothing reads it: the
/// frames of a progressive renderer before its last.
fn keep(graph: &mut FrameGraph<'_>, target: &ImageHandle) {
    graph.add_pass("keep").read(target, Access::TransferSrc).side_effect().record(|_| Ok(()));
}

/// How many frames `renderer` needs for `spp` samples per pixel: one, or for a progressive
/// renderer as many as its `samples_per_frame` setting asks, with (total, per frame).
fn frame_plan(renderer: &dyn Renderer, spp: u32) -> (u32, Option<(u32, u32)>) {
    if renderer.samples().is_none() {
        return (1, None);
    }
    let per_frame = match renderer.settings().iter().find(|s| s.key == "samples_per_frame") {
        Some(Setting { value: SettingValue::UInt(n), .. }) => (*n).max(1),
        _ => 1,
    };
    let total = spp.max(1);
    (total.div_ceil(per_frame), Some((total, per_frame)))
}

/// Before the last of `count` frames of a progressive renderer: it takes what is left, so
/// that exactly the samples asked for are taken.
fn take_the_rest(
    renderer: &mut dyn Renderer,
    count: u32,
    progressive: Option<(u32, u32)>,
) -> Result<(), RenderError> {
    if let Some((total, per_frame)) = progressive {
        let left = total - (count - 1) * per_frame;
        if left != per_frame {
            renderer.set("samples_per_frame", SettingValue::UInt(left))?;
        }
    }
    Ok(())
}

/// What a [`FrameExporter`] reads back of each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readback {
    /// The tonemapped sRGB image ([`RenderedImage::ldr`]).
    pub ldr: bool,
    /// The HDR radiance ([`RenderedImage::hdr`], the renderer's target).
    pub hdr: bool,
}

/// A frame of a [`FrameExporter`]: the caller's tag and the image (the parts not read back
/// are empty; no variance).
#[derive(Debug)]
pub struct ExportedFrame {
    /// The tag given to [`FrameExporter::submit`].
    pub tag: u64,
    /// The image.
    pub image: RenderedImage,
}

struct ReadSlot {
    ldr: Option<xpg::Buffer>,
    hdr: Option<xpg::Buffer>,
    /// The tag of the frame whose copies this slot's buffers receive.
    pending: Option<u64>,
}

/// Renders a sequence of frames of one size into memory, pipelined: each frame's graph
/// (the scene's changes, the renderer's passes, the tonemap and copies into host-readable
/// buffers) is submitted without waiting, two frames in flight, and a frame is read back when
/// its slot comes round again, while the GPU runs the next. So export runs at the speed of
/// the slower of the GPU and the reader, not of their sum.
pub struct FrameExporter {
    ctx: Context,
    tonemap: Pipeline,
    executor: Executor,
    ring: xpg::FrameRing,
    slots: Vec<ReadSlot>,
    width: u32,
    height: u32,
    hdr_format: vk::Format,
    readback: Readback,
}

impl std::fmt::Debug for FrameExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameExporter")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("readback", &self.readback)
            .finish()
    }
}

/// Frames in flight of a [`FrameExporter`].
const EXPORT_IN_FLIGHT: usize = 2;

impl FrameExporter {
    /// An exporter of `width` x `height` frames of a renderer whose HDR format is
    /// `hdr_format`, reading back what `readback` asks for.
    pub fn new(
        ctx: &Context,
        compiler: &ShaderCompiler,
        (width, height): (u32, u32),
        hdr_format: vk::Format,
        readback: Readback,
    ) -> Result<Self, RenderError> {
        let tonemap = tonemap_pipeline(ctx, compiler)?;
        let texel = xpg::format_texel_size(hdr_format).ok_or_else(|| {
            RenderError::Unsupported(format!("HDR images in {hdr_format:?} cannot be read back"))
        })?;
        let pixels = u64::from(width) * u64::from(height);
        let buffer = |name: &str, size: u64| {
            xpg::Buffer::new(
                ctx,
                &xpg::BufferDesc {
                    size,
                    usage: vk::BufferUsageFlags::TRANSFER_DST,
                    memory: xpg::MemoryUsage::Readback,
                    name,
                },
            )
        };
        let mut slots = Vec::new();
        for _ in 0..EXPORT_IN_FLIGHT {
            slots.push(ReadSlot {
                ldr: readback.ldr.then(|| buffer("export ldr", pixels * 4)).transpose()?,
                hdr: readback
                    .hdr
                    .then(|| buffer("export hdr", pixels * u64::from(texel)))
                    .transpose()?,
                pending: None,
            });
        }
        Ok(Self {
            ctx: ctx.clone(),
            tonemap,
            executor: Executor::new(ctx, EXPORT_IN_FLIGHT),
            ring: xpg::FrameRing::new(ctx, EXPORT_IN_FLIGHT)?,
            slots,
            width,
            height,
            hdr_format,
            readback,
        })
    }

    /// Submits one frame, tagged `tag`: with `scene`, first the GPU copy's updates for what
    /// changed in it (and the renderer told), then `view` rendered by `renderer` (restarted,
    /// and for a progressive renderer exactly `spp` samples, over several submissions), then
    /// the tonemap and the copies. Returns the frames that finished meanwhile, in order.
    /// A scene whose structure changed must be uploaded again first.
    pub fn submit(
        &mut self,
        renderer: &mut dyn Renderer,
        gpu: &mut GpuScene,
        scene: Option<&scene::Scene>,
        view: &View,
        spp: u32,
        tag: u64,
    ) -> Result<Vec<ExportedFrame>, RenderError> {
        if (view.width, view.height) != (self.width, self.height) {
            return Err(RenderError::Target(format!(
                "the exporter makes {}x{} frames; the view is {}x{}",
                self.width, self.height, view.width, view.height
            )));
        }
        if renderer.hdr_format() != self.hdr_format {
            return Err(RenderError::Target(format!(
                "the exporter reads {:?}; the renderer draws {:?}",
                self.hdr_format,
                renderer.hdr_format()
            )));
        }
        renderer.reset();
        let (count, progressive) = frame_plan(renderer, spp);
        let mut done = Vec::new();
        for frame in 0..count {
            let last = frame + 1 == count;
            if last {
                take_the_rest(renderer, count, progressive)?;
            }
            let slot = self.begin(&mut done)?;
            let mut graph = FrameGraph::new();
            if let (0, Some(scene)) = (frame, scene) {
                let changed = gpu.update(scene, &mut graph)?;
                if changed.transforms || changed.materials || changed.lights {
                    renderer.scene_changed(scene, gpu);
                }
            }
            let cmd = slot.0.cmd;
            let result = self.record(graph, &mut *renderer, gpu, view, (cmd, slot.1), last);
            let value = self.ring.end(slot.0);
            result?;
            value?;
            if last {
                self.slots[slot.1].pending = Some(tag);
            }
        }
        if let Some((_, per_frame)) = progressive {
            renderer.set("samples_per_frame", SettingValue::UInt(per_frame))?;
        }
        Ok(done)
    }

    /// Waits for every frame submitted and returns those not yet returned, in order.
    pub fn finish(&mut self) -> Result<Vec<ExportedFrame>, RenderError> {
        self.ctx.wait_idle()?;
        let mut done = Vec::new();
        let mut order: Vec<usize> = (0..self.slots.len()).collect();
        order.sort_by_key(|&k| self.slots[k].pending);
        for k in order {
            self.read(k, &mut done)?;
        }
        Ok(done)
    }

    /// Begins a frame of the ring (waiting for its slot's previous frame) and reads that
    /// frame back if it was an exported one.
    fn begin(&mut self, done: &mut Vec<ExportedFrame>) -> Result<(xpg::Frame, usize), RenderError> {
        let frame = self.ring.begin()?;
        let slot = frame.slot;
        if let Err(e) = self.read(slot, done) {
            // The command buffer is recording: submit it empty to keep the ring whole.
            self.ring.end(frame)?;
            return Err(e);
        }
        Ok((frame, slot))
    }

    fn read(&mut self, slot: usize, done: &mut Vec<ExportedFrame>) -> Result<(), RenderError> {
        let s = &mut self.slots[slot];
        let Some(tag) = s.pending.take() else { return Ok(()) };
        let pixels = self.width as usize * self.height as usize;
        let mapped = |b: &Option<xpg::Buffer>| -> Result<Option<Vec<u8>>, RenderError> {
            b.as_ref()
                .map(|b| {
                    b.mapped_read().map(<[u8]>::to_vec).ok_or_else(|| {
                        RenderError::Unsupported("the readback buffer is not mapped".into())
                    })
                })
                .transpose()
        };
        let ldr = mapped(&s.ldr)?.map(|mut v| {
            v.truncate(pixels * 4);
            v
        });
        let hdr = match mapped(&s.hdr)? {
            Some(bytes) => hdr_pixels(&bytes, self.hdr_format)?.into_iter().take(pixels).collect(),
            None => Vec::new(),
        };
        let image = RenderedImage {
            width: self.width,
            height: self.height,
            hdr,
            ldr: ldr.unwrap_or_default(),
            variance: None,
            aovs: None,
        };
        done.push(ExportedFrame { tag, image });
        Ok(())
    }

    /// Records one graph into the ring's frame: the renderer's passes, and for the last
    /// frame of an exported one the tonemap and the copies into slot `slot`'s buffers.
    fn record<'g>(
        &'g mut self,
        mut graph: FrameGraph<'g>,
        renderer: &'g mut dyn Renderer,
        gpu: &'g GpuScene,
        view: &View,
        (cmd, slot): (vk::CommandBuffer, usize),
        last: bool,
    ) -> Result<(), RenderError> {
        let Self { tonemap, executor, slots, width, height, .. } = self;
        let (width, height) = (*width, *height);
        let mut hooks = Hooks::default();
        let (target, out) = add_view_passes(&mut graph, "hdr", renderer, gpu, view, &mut hooks);
        out?;
        if last {
            let ldr_info = ImageInfo::d2(width, height, vk::Format::R8G8B8A8_UNORM);
            let mut ldr = graph.create_image("ldr", ldr_info);
            add_tonemap_pass(&mut graph, "tonemap", tonemap, &target, &mut ldr, (width, height));
            let s = &slots[slot];
            for (name, src, buffer) in
                [("read ldr", ldr, s.ldr.as_ref()), ("read hdr", target, s.hdr.as_ref())]
            {
                let Some(buffer) = buffer else { continue };
                let mut dst = graph.import_buffer(name, buffer, None, Some(Access::HostRead));
                let d = dst;
                graph
                    .add_pass(name)
                    .read(&src, Access::TransferSrc)
                    .write(&mut dst, Access::TransferDst)
                    .record(move |pass| pass.copy_image_to_buffer(&src, &d));
            }
        } else {
            keep(&mut graph, &target);
        }
        let plan = executor.compile(&graph)?;
        executor.execute(graph, &plan, cmd, None)?;
        Ok(())
    }
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
