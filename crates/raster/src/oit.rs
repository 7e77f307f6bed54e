//! Transparency: how blended surfaces are composited over the opaque image, chosen per
//! viewport ([`Transparency`], the raster's `transparency` setting).
//!
//! - **Sorted**: each blended draw on its own, back to front by the distance of its centre
//!   (wrong where surfaces intersect or a mesh overlaps itself).
//! - **Depth peeling** (exact): layer k holds, per pixel (per sample with MSAA), the nearest
//!   blended fragment behind layer k-1 and in front of the opaque depth. Each layer is
//!   composited under the ones before it (front to back), and the sum over the opaque image.
//!   Each layer is two passes: its depth (a cheap shader: the tests against the opaque and
//!   the previous layer's depths and the material's discards, depth test LESS), then the
//!   shading of exactly the fragments at that depth (test EQUAL, early tests: one shaded
//!   fragment per pixel and layer, not every fragment behind the previous layer).
//!   The number of layers follows the content without the CPU waiting: every layer's draws
//!   are an indirect draw whose count a word of `counts` gives, and a layer that draws a
//!   fragment sets the next layer's word (`shaders/raster/forward.slang`, OIT=1). Layers after
//!   the first empty one draw nothing and composite nothing. At most `cap` layers are peeled;
//!   [`PeelStats`] tells how many had fragments and whether the cap was reached.
//! - **Weighted blended** (McGuire and Bavoil 2013, approximate, one geometry pass): weighted
//!   sums of premultiplied colors and the product of (1 - alpha), resolved over the image.
//!
//! Fragments at exactly the same depth as one already peeled in the same pixel are not peeled
//! again (coplanar transparent surfaces show one of them).

use framegraph::{Access, Bind, FrameGraph, ImageHandle, ImageInfo};
use render::{GpuScene, RenderError};
use xpg::vk;
use xpg::{Blend, Buffer, BufferDesc, Context, GraphicsDesc, MemoryUsage, Pipeline};

use super::{attachment, depth_read_only, Lighting, RasterPush, SceneBuffers, HDR_FORMAT};

/// How a raster viewport composites blended surfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transparency {
    /// Blended draws sorted back to front per draw.
    Sorted,
    /// Exact order-independent transparency by depth peeling.
    #[default]
    Peeling,
    /// Weighted blended order-independent transparency (approximate, fast).
    Weighted,
}

impl Transparency {
    /// The names the command line, the config file and the UI use, in index order.
    pub const NAMES: [&'static str; 3] = ["sorted", "peeling", "wboit"];

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::NAMES[self.index() as usize]
    }

    /// The mode of a name (`sorted`, `peeling`, `wboit`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name.trim()))
            .and_then(Self::from_index)
    }

    /// Its index (the value of the `transparency` setting).
    pub fn index(self) -> u32 {
        match self {
            Transparency::Sorted => 0,
            Transparency::Peeling => 1,
            Transparency::Weighted => 2,
        }
    }

    /// The mode of an index.
    pub fn from_index(i: usize) -> Option<Self> {
        [Transparency::Sorted, Transparency::Peeling, Transparency::Weighted].get(i).copied()
    }
}

/// What depth peeling did in a recent frame of a viewport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeelStats {
    /// Layers that had fragments.
    pub layers: u32,
    /// The most layers peeled.
    pub cap: u32,
    /// The last allowed layer had fragments: farther transparent surfaces may be missing.
    pub cap_hit: bool,
}

// The words of `counts`: a full-screen `VkDrawIndirectCommand` (0..4), the cap (4), then the
// draw count of layer k (5 + k; `shaders/raster/forward.slang` sets word 6 + k when layer k
// draws a fragment).
const CAP_WORD: usize = 4;
const LAYER_WORD: usize = 5;
/// Byte offset of layer `k`'s draw count.
fn layer_offset(k: u32) -> u64 {
    4 * (LAYER_WORD as u64 + u64::from(k))
}
/// Format of the weighted sums (half floats: the weights are scaled to stay far below 65504
/// for hundreds of overlapping fragments, and the mean is scale-invariant).
const SUM_FORMAT: vk::Format = vk::Format::R16G16B16A16_SFLOAT;
/// Format of the revealage (the product of 1 - alpha).
const REVEAL_FORMAT: vk::Format = vk::Format::R16_SFLOAT;

/// The pipelines and buffers of order-independent transparency.
pub(crate) struct Oit {
    /// A peeled layer's depth (OIT=1, `fs_depth`).
    peel_depth: Pipeline,
    /// The forward shading of one peeled layer (OIT=1).
    peel: Pipeline,
    /// The forward shading into the weighted sums (OIT=2).
    weighted: Pipeline,
    /// A layer under the accumulation.
    under: Pipeline,
    /// The accumulation over the image.
    over: Pipeline,
    /// The weighted sums resolved over the image.
    resolve: Pipeline,
    /// The full-screen draw command, then one draw count per layer (GPU only).
    counts: Buffer,
    /// Copies of `counts`, one per frame in flight, read on the CPU for [`PeelStats`].
    readback: [Buffer; 2],
    frames: u64,
    /// The latest statistics read back (two frames old).
    pub stats: Option<PeelStats>,
    /// The most layers peeled.
    pub cap: u32,
    samples: u32,
}

/// The most layers the `peel_layers` setting allows.
pub const MAX_PEEL_LAYERS: u32 = 64;

fn counts_buffer(ctx: &Context, name: &str, memory: MemoryUsage) -> Result<Buffer, RenderError> {
    let size = 4 * (LAYER_WORD as u64 + u64::from(MAX_PEEL_LAYERS) + 2);
    Ok(Buffer::new(
        ctx,
        &BufferDesc {
            size,
            usage: vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::INDIRECT_BUFFER,
            memory,
            name,
        },
    )?)
}

impl Oit {
    /// `peel` and `weighted`: the forward pipelines of the peeling and weighted variants
    /// (made with the other forward variants); `compile` compiles `raster/oit.slang` with
    /// its defines.
    pub(crate) fn new(
        ctx: &Context,
        peel_depth: Pipeline,
        peel: Pipeline,
        weighted: Pipeline,
        compile: &dyn Fn(u32) -> Result<(xpg::EntryPointCode, xpg::EntryPointCode), RenderError>,
        samples: u32,
    ) -> Result<Self, RenderError> {
        let pipeline = |mode: u32, name: &str, formats: &[vk::Format], blend: Blend| {
            let (vs, fs) = compile(mode)?;
            let mut desc = GraphicsDesc::new(name, &vs, &fs, formats[0]);
            desc.color_formats = formats.to_vec();
            desc.blend_modes = vec![blend];
            desc.samples = vk::SampleCountFlags::from_raw(samples);
            Ok::<_, RenderError>(Pipeline::graphics(ctx, &desc, None)?)
        };
        Ok(Self {
            peel_depth,
            peel,
            weighted,
            under: pipeline(0, "raster peel under", &[HDR_FORMAT], Blend::Under)?,
            over: pipeline(1, "raster peel over", &[HDR_FORMAT], Blend::Premultiplied)?,
            resolve: pipeline(2, "raster weighted resolve", &[HDR_FORMAT], Blend::Premultiplied)?,
            counts: counts_buffer(ctx, "raster peel counts", MemoryUsage::GpuOnly)?,
            readback: [
                counts_buffer(ctx, "raster peel counts readback 0", MemoryUsage::Readback)?,
                counts_buffer(ctx, "raster peel counts readback 1", MemoryUsage::Readback)?,
            ],
            frames: 0,
            stats: None,
            cap: 16,
            samples,
        })
    }

    /// The descriptions of the forward variants' pipelines (depth, attachments, blending)
    /// for `oit` 1 (a peeled layer's shading), 2 (weighted) or 3 (a peeled layer's depth).
    pub(crate) fn forward_desc<'a>(
        desc: GraphicsDesc<'a>,
        oit: u32,
        depth: vk::Format,
    ) -> GraphicsDesc<'a> {
        if oit == 3 {
            // The layer's own depth: the nearest fragment behind the previous layer wins.
            let mut d = desc.depth(depth, true, vk::CompareOp::LESS);
            d.color_formats.clear();
            d.blend = false;
            d
        } else if oit == 1 {
            // Exactly the fragments that won the depth pass, shaded once each.
            let mut d = desc.depth(depth, false, vk::CompareOp::EQUAL);
            d.blend = false;
            d
        } else {
            let mut d = desc.depth(depth, false, vk::CompareOp::LESS_OR_EQUAL);
            d.color_formats = vec![SUM_FORMAT, REVEAL_FORMAT];
            d.blend_modes = vec![Blend::Additive, Blend::Revealage];
            d
        }
    }

    /// Starts a frame that peels: reads the statistics of the frame that last used this
    /// frame's readback copy (two frames ago: finished, as a viewport keeps at most two frames
    /// in flight); returns that copy's index for [`Oit::add_peeling`].
    pub(crate) fn begin_peeling(&mut self) -> usize {
        let slot = (self.frames % 2) as usize;
        self.frames += 1;
        if self.frames > 2 {
            if let Some(bytes) = self.readback[slot].mapped_read() {
                let words: Vec<u32> = bytes
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let cap = words.get(CAP_WORD).copied().unwrap_or(0).min(MAX_PEEL_LAYERS);
                let drew = |k: u32| words.get(LAYER_WORD + k as usize + 1).is_some_and(|&w| w > 0);
                let layers = (0..cap).take_while(|&k| drew(k)).count();
                self.stats = Some(PeelStats {
                    layers: layers as u32,
                    cap,
                    cap_hit: layers as u32 >= cap && cap > 0,
                });
            }
        }
        slot
    }

    /// Depth peeling of the scene's blended draws over `target` (`depth`: the opaque depth,
    /// at the target's sample count).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_peeling<'g>(
        &'g self,
        slot: usize,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        target: &mut ImageHandle,
        depth: &ImageHandle,
        lighting: Lighting,
        fb: &framegraph::BufferHandle,
        push: RasterPush,
        sb: &SceneBuffers,
        heap: &'g xpg::BindlessHeap,
    ) -> Result<(), RenderError> {
        let Some((first, count)) = blended_range(scene) else { return Ok(()) };
        let cap = self.cap.clamp(1, MAX_PEEL_LAYERS);
        let info = graph.image_info(target).ok_or_else(|| {
            RenderError::Internal("depth peeling: the target is not in the graph".into())
        })?;
        let (w, h) = (info.extent.width, info.extent.height);
        let samples = self.samples;
        let image = |graph: &mut FrameGraph<'g>, name: &str, format| {
            graph.create_image(name, ImageInfo::d2(w, h, format).samples(samples))
        };
        let mut layer_color = image(graph, "peel layer", HDR_FORMAT);
        let mut layer_depth = [
            image(graph, "peel depth a", super::DEPTH_FORMAT),
            image(graph, "peel depth b", super::DEPTH_FORMAT),
        ];
        let mut acc = image(graph, "peel accumulation", HDR_FORMAT);
        let mut counts = graph.import_buffer(self.counts.name(), &self.counts, None, None);
        // The full-screen draw, the cap (word 4), then layer 0 draws every blended draw and
        // the later ones nothing until a layer before them draws.
        let mut words = vec![0u32; LAYER_WORD + cap as usize + 2];
        words[..4].copy_from_slice(&[3, 1, 0, 0]);
        words[CAP_WORD] = cap;
        words[LAYER_WORD] = count;
        let counts_raw = self.counts.raw();
        graph.add_pass("raster peel reset").write(&mut counts, Access::TransferDst).record(
            move |ctx| {
                // SAFETY: recording; fewer than 64 KiB, a multiple of 4 bytes; the graph
                // ordered it after the previous frame's uses.
                unsafe {
                    ctx.device().cmd_update_buffer(
                        ctx.cmd,
                        counts_raw,
                        0,
                        bytemuck::cast_slice(&words),
                    )
                };
                Ok(())
            },
        );
        let counts_address = self.counts.address();
        let indirect = scene.indirect.raw();
        let index_buffer = scene.indices.raw();
        let opaque = *depth;
        for k in 0..cap {
            let (cur, prev) = if k % 2 == 0 { (0, 1) } else { (1, 0) };
            let prev_depth = if k == 0 { opaque } else { layer_depth[prev] };
            let (c, d) = (layer_color, layer_depth[cur]);
            let layer_push =
                RasterPush { oit: counts_address, peel_layer: k, peel_draws: count, ..push };
            // The layer's draws: every blended draw while the layers before it had fragments.
            let draw = move |device: &xpg::ash::Device, cmd: vk::CommandBuffer| {
                // SAFETY: inside a rendering scope; the blended draws' commands lie in the
                // scene's indirect buffer (first..first + count), the count word in `counts`
                // never exceeds `count`.
                unsafe {
                    device.cmd_bind_index_buffer(cmd, index_buffer, 0, vk::IndexType::UINT32);
                    device.cmd_draw_indexed_indirect_count(
                        cmd,
                        indirect,
                        u64::from(first) * u64::from(super::INDIRECT_STRIDE),
                        counts_raw,
                        layer_offset(k),
                        count,
                        super::INDIRECT_STRIDE,
                    );
                }
            };
            // Pass 1: the layer's depth (the nearest fragment behind the previous layer).
            let depth_pipeline = &self.peel_depth;
            let counts_read = counts;
            graph
                .add_pass(&format!("raster peel {k} depth"))
                .read(&sb.draws, Access::StorageReadVertex)
                .read(&sb.materials, Access::StorageReadFragment)
                .read(fb, Access::StorageReadVertex)
                .read(&opaque, Access::SampledFragment)
                .read(&prev_depth, Access::SampledFragment)
                .read(&counts_read, Access::IndirectBuffer)
                .write(&mut counts, Access::StorageWriteFragment)
                .write(&mut layer_depth[cur], Access::DepthAttachmentWrite)
                .record(move |ctx| {
                    let extent = ctx.extent(&d, 0)?;
                    let depth_att = attachment(ctx.view(&d)?, vk::AttachmentLoadOp::CLEAR);
                    let device = ctx.device().clone();
                    // SAFETY: once per pass; the attachment is this pass's declared image in the
                    // layout of its declared attachment access.
                    unsafe { ctx.begin_rendering(extent, &[], Some(&depth_att)) };
                    depth_pipeline.bind(ctx.cmd, Some(heap));
                    let sampled = |binding, image| Bind::Sampled {
                        binding,
                        image,
                        mip: None,
                        sampler: vk::Sampler::null(),
                    };
                    ctx.push_descriptors(
                        depth_pipeline,
                        &[sampled(4, &opaque), sampled(5, &prev_depth)],
                    )?;
                    depth_pipeline.push(ctx.cmd, &layer_push);
                    draw(&device, ctx.cmd);
                    // SAFETY: closes the rendering scope begun above.
                    unsafe { device.cmd_end_rendering(ctx.cmd) };
                    Ok(())
                });
            // Pass 2: the fragments at exactly that depth, shaded once each.
            let pipeline = &self.peel;
            sb.shading_reads(graph.add_pass(&format!("raster peel {k}")), &lighting, fb)
                .read(&counts, Access::IndirectBuffer)
                .read(&layer_depth[cur], Access::DepthAttachmentRead)
                .write(&mut layer_color, Access::ColorAttachmentWrite)
                .record(move |ctx| {
                    let extent = ctx.extent(&c, 0)?;
                    let mut color = [attachment(ctx.view(&c)?, vk::AttachmentLoadOp::CLEAR)];
                    color[0] = color[0].clear_value(vk::ClearValue {
                        color: vk::ClearColorValue { float32: [0.0; 4] },
                    });
                    let depth_att = depth_read_only(ctx.view(&d)?);
                    let device = ctx.device().clone();
                    // SAFETY: once per pass; the attachments are this pass's declared images in
                    // the layouts of their declared attachment accesses.
                    unsafe { ctx.begin_rendering(extent, &color, Some(&depth_att)) };
                    pipeline.bind(ctx.cmd, Some(heap));
                    ctx.push_descriptors(pipeline, &lighting.binds())?;
                    pipeline.push(ctx.cmd, &layer_push);
                    draw(&device, ctx.cmd);
                    // SAFETY: closes the rendering scope begun above.
                    unsafe { device.cmd_end_rendering(ctx.cmd) };
                    Ok(())
                });
            // Under what the layers before it left (cleared by the first).
            let a = acc;
            let under = &self.under;
            let load =
                if k == 0 { vk::AttachmentLoadOp::CLEAR } else { vk::AttachmentLoadOp::LOAD };
            graph
                .add_pass(&format!("raster peel {k} under"))
                .read(&layer_color, Access::SampledFragment)
                .read(&counts, Access::IndirectBuffer)
                .write(&mut acc, Access::ColorAttachmentReadWrite)
                .record(move |ctx| {
                    let extent = ctx.extent(&a, 0)?;
                    let mut color = [attachment(ctx.view(&a)?, load)];
                    color[0] = color[0].clear_value(vk::ClearValue {
                        color: vk::ClearColorValue { float32: [0.0; 4] },
                    });
                    // SAFETY: once per pass; the attachment is this pass's declared image.
                    unsafe { ctx.begin_rendering(extent, &color, None) };
                    under.bind(ctx.cmd, None);
                    ctx.push_descriptors(
                        under,
                        &[Bind::Sampled {
                            binding: 0,
                            image: &c,
                            mip: None,
                            sampler: vk::Sampler::null(),
                        }],
                    )?;
                    let device = ctx.device();
                    // SAFETY: inside the rendering scope; the draw command is the first 16
                    // bytes of `counts`; the count word is 0 or the layer's draw count
                    // (clamped to one draw).
                    unsafe {
                        device.cmd_draw_indirect_count(
                            ctx.cmd,
                            counts_raw,
                            0,
                            counts_raw,
                            layer_offset(k + 1),
                            1,
                            16,
                        );
                        device.cmd_end_rendering(ctx.cmd);
                    }
                    Ok(())
                });
        }
        // The layers over the opaque image.
        self.add_fullscreen(graph, "raster peel over", &self.over, &[acc], target);
        // A copy of the counts for the statistics.
        let rb = &self.readback[slot];
        let mut copy = graph.import_buffer(rb.name(), rb, None, Some(Access::HostRead));
        let (src, dst) = (self.counts.raw(), rb.raw());
        let size = self.counts.size();
        graph
            .add_pass("raster peel statistics")
            .read(&counts, Access::TransferSrc)
            .write(&mut copy, Access::TransferDst)
            .record(move |ctx| {
                let region = vk::BufferCopy { src_offset: 0, dst_offset: 0, size };
                // SAFETY: recording; both buffers are `size` bytes, in the declared states.
                unsafe { ctx.device().cmd_copy_buffer(ctx.cmd, src, dst, &[region]) };
                Ok(())
            });
        Ok(())
    }

    /// Weighted blended transparency of the scene's blended draws over `target`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_weighted<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        target: &mut ImageHandle,
        depth: &ImageHandle,
        lighting: Lighting,
        fb: &framegraph::BufferHandle,
        push: RasterPush,
        sb: &SceneBuffers,
        heap: &'g xpg::BindlessHeap,
    ) -> Result<(), RenderError> {
        let Some((first, count)) = blended_range(scene) else { return Ok(()) };
        let info = graph.image_info(target).ok_or_else(|| {
            RenderError::Internal("weighted transparency: the target is not in the graph".into())
        })?;
        let (w, h) = (info.extent.width, info.extent.height);
        let samples = self.samples;
        let mut sum =
            graph.create_image("weighted sums", ImageInfo::d2(w, h, SUM_FORMAT).samples(samples));
        let mut reveal = graph.create_image(
            "weighted revealage",
            ImageInfo::d2(w, h, REVEAL_FORMAT).samples(samples),
        );
        let (s, r, d) = (sum, reveal, *depth);
        let pipeline = &self.weighted;
        let indirect = scene.indirect.raw();
        let index_buffer = scene.indices.raw();
        sb.shading_reads(graph.add_pass("raster weighted"), &lighting, fb)
            .read(depth, Access::DepthAttachmentRead)
            .write(&mut sum, Access::ColorAttachmentWrite)
            .write(&mut reveal, Access::ColorAttachmentWrite)
            .record(move |ctx| {
                let extent = ctx.extent(&s, 0)?;
                let clear = |view, value: [f32; 4]| {
                    attachment(view, vk::AttachmentLoadOp::CLEAR).clear_value(vk::ClearValue {
                        color: vk::ClearColorValue { float32: value },
                    })
                };
                let color = [clear(ctx.view(&s)?, [0.0; 4]), clear(ctx.view(&r)?, [1.0; 4])];
                let depth_att = depth_read_only(ctx.view(&d)?);
                let device = ctx.device().clone();
                // SAFETY: once per pass; the attachments are this pass's declared images in the
                // layouts of their declared attachment accesses.
                unsafe { ctx.begin_rendering(extent, &color, Some(&depth_att)) };
                pipeline.bind(ctx.cmd, Some(heap));
                ctx.push_descriptors(pipeline, &lighting.binds())?;
                pipeline.push(ctx.cmd, &push);
                // SAFETY: inside the rendering scope; the blended draws' commands lie in the
                // scene's indirect buffer.
                unsafe {
                    device.cmd_bind_index_buffer(ctx.cmd, index_buffer, 0, vk::IndexType::UINT32);
                    device.cmd_draw_indexed_indirect(
                        ctx.cmd,
                        indirect,
                        u64::from(first) * u64::from(super::INDIRECT_STRIDE),
                        count,
                        super::INDIRECT_STRIDE,
                    );
                    device.cmd_end_rendering(ctx.cmd);
                }
                Ok(())
            });
        self.add_fullscreen(
            graph,
            "raster weighted resolve",
            &self.resolve,
            &[sum, reveal],
            target,
        );
        Ok(())
    }

    /// A full-screen pass of `pipeline` reading `sources` (bindings 0, 1, ...) and blending
    /// into `target`.
    fn add_fullscreen<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        name: &str,
        pipeline: &'g Pipeline,
        sources: &[ImageHandle],
        target: &mut ImageHandle,
    ) {
        let mut pass = graph.add_pass(name);
        for s in sources {
            pass = pass.read(s, Access::SampledFragment);
        }
        let t = *target;
        let sources = sources.to_vec();
        pass.write(target, Access::ColorAttachmentReadWrite).record(move |ctx| {
            let extent = ctx.extent(&t, 0)?;
            let color = [attachment(ctx.view(&t)?, vk::AttachmentLoadOp::LOAD)];
            // SAFETY: once per pass; the attachment is this pass's declared image.
            unsafe { ctx.begin_rendering(extent, &color, None) };
            pipeline.bind(ctx.cmd, None);
            let binds: Vec<Bind<'_>> = sources
                .iter()
                .enumerate()
                .map(|(i, image)| Bind::Sampled {
                    binding: i as u32,
                    image,
                    mip: None,
                    sampler: vk::Sampler::null(),
                })
                .collect();
            ctx.push_descriptors(pipeline, &binds)?;
            let device = ctx.device();
            // SAFETY: inside the rendering scope begun above.
            unsafe {
                device.cmd_draw(ctx.cmd, 3, 1, 0, 0);
                device.cmd_end_rendering(ctx.cmd);
            }
            Ok(())
        });
    }
}

/// The scene's blended draws as (first, count) in its draw list and indirect buffer (they
/// come last, one after another); None when there are none.
fn blended_range(scene: &GpuScene) -> Option<(u32, u32)> {
    let first = scene.blended.iter().map(|b| b.0).min()?;
    let count = scene.blended.len() as u32;
    let last = scene.blended.iter().map(|b| b.0).max()?;
    (last - first + 1 == count && (last as usize) < scene.draw_list.len()).then_some((first, count))
}
