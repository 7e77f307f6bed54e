//! Points and lines with a size in pixels, drawn the same way by every renderer over its
//! image (shaders/overlay): lines expanded to screen-space rectangles, points splatted by
//! compute into a per-pixel 64-bit buffer (nearest wins) and composited, both depth tested
//! against and written into the renderer's depth. The raster passes its own depth buffer; a
//! renderer without one (the path tracer) writes the depths of its primary hits into a float
//! image, which [`Overlay::depth_from_image`] turns into a depth attachment.

use framegraph::{
    Access, Bind, BufferHandle, ExecuteError, FrameGraph, ImageHandle, ImageInfo, PassContext,
};
use scene::View;
use xpg::vk;
use xpg::{
    Buffer, BufferDesc, Context, GraphicsDesc, MemoryUsage, Pipeline, ShaderCompiler, ShaderDesc,
};

use crate::{GpuScene, RenderError};

/// The depth format of the overlay's passes.
pub const OVERLAY_DEPTH_FORMAT: vk::Format = vk::Format::D32_SFLOAT;

/// View constants (`OverlayView` in shaders/overlay/view.slang).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct OverlayView {
    view_proj: [[f32; 4]; 4],
    width: u32,
    height: u32,
    pad: [u32; 2],
}

/// Push constants of shaders/overlay/lines.slang.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LinesPush {
    model: [[f32; 4]; 4],
    view: u64,
    positions: u64,
    colors: u64,
    width: f32,
    pad: u32,
}

/// Push constants of shaders/overlay/points_splat.slang.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SplatPush {
    model: [[f32; 4]; 4],
    view: u64,
    positions: u64,
    colors: u64,
    count: u32,
    size: f32,
    width: u32,
    height: u32,
    first: u32,
    /// Points of a diameter in world units: that diameter in pixels at clip w = 1 (divided by
    /// each point's w); 0: `size` pixels.
    world: f32,
}

/// Push constants of shaders/overlay/points_resolve.slang.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ResolvePush {
    width: u32,
    height: u32,
}

/// The overlay's pipelines and view constants; one per renderer instance (per viewport).
pub struct Overlay {
    splat: Pipeline,
    resolve: Pipeline,
    lines: Pipeline,
    depth: Pipeline,
    view: Buffer,
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay").finish_non_exhaustive()
    }
}

/// A color or depth attachment kept from earlier passes (loaded and stored).
fn attachment(view: vk::ImageView) -> vk::RenderingAttachmentInfo<'static> {
    vk::RenderingAttachmentInfo::default()
        .image_view(view)
        .image_layout(vk::ImageLayout::ATTACHMENT_OPTIMAL)
        .load_op(vk::AttachmentLoadOp::LOAD)
        .store_op(vk::AttachmentStoreOp::STORE)
}

/// Runs `draw` inside a rendering scope over `target` and `depth` (both loaded and stored, in
/// the layouts of the pass's declared attachment accesses).
fn draw_over(
    ctx: &mut PassContext<'_>,
    target: &ImageHandle,
    depth: &ImageHandle,
    draw: impl FnOnce(&mut PassContext<'_>) -> Result<(), ExecuteError>,
) -> Result<(), ExecuteError> {
    let extent = ctx.extent(target, 0)?;
    let color = [attachment(ctx.view(target)?)];
    let depth_att = attachment(ctx.view(depth)?);
    // SAFETY: once per pass; the attachments are this pass's declared images in the layouts of
    // their declared attachment accesses.
    unsafe { ctx.begin_rendering(extent, &color, Some(&depth_att)) };
    let drawn = draw(ctx);
    // SAFETY: closes the rendering scope begun above (also after a failed draw).
    unsafe { ctx.device().cmd_end_rendering(ctx.cmd) };
    drawn
}

impl Overlay {
    /// Pipelines drawing into `color_format` targets with `samples` samples per pixel, depth
    /// in [`OVERLAY_DEPTH_FORMAT`].
    pub fn new(
        ctx: &Context,
        compiler: &ShaderCompiler,
        color_format: vk::Format,
        samples: u32,
    ) -> Result<Self, RenderError> {
        let dir = compiler.shader_dir().to_path_buf();
        let sample_flags = vk::SampleCountFlags::from_raw(samples);
        let entry = |c: &xpg::CompiledShader, shader: &str, n: &str| {
            c.entry(n)
                .cloned()
                .ok_or_else(|| RenderError::MissingEntry { shader: shader.into(), entry: n.into() })
        };
        let graphics = |file: &str, name: &str, color: bool, compare: vk::CompareOp| {
            let code = compiler.compile(&ShaderDesc::new(dir.join(file)))?;
            let (vs, fs) = (entry(&code, file, "vs_main")?, entry(&code, file, "fs_main")?);
            let format = if color { color_format } else { vk::Format::UNDEFINED };
            let mut desc = GraphicsDesc::new(name, &vs, &fs, format).depth(
                OVERLAY_DEPTH_FORMAT,
                true,
                compare,
            );
            if !color {
                desc.color_formats.clear();
            }
            desc.samples = if color { sample_flags } else { vk::SampleCountFlags::TYPE_1 };
            Ok::<_, RenderError>(Pipeline::graphics(ctx, &desc, None)?)
        };
        let sp = compiler.compile(&ShaderDesc::new(dir.join("overlay/points_splat.slang")))?;
        let splat =
            Pipeline::compute(ctx, &entry(&sp, "overlay/points_splat.slang", "splat")?, None)?;
        let resolve = graphics(
            "overlay/points_resolve.slang",
            "overlay points resolve",
            true,
            vk::CompareOp::LESS,
        )?;
        let lines =
            graphics("overlay/lines.slang", "overlay lines", true, vk::CompareOp::LESS_OR_EQUAL)?;
        let depth = graphics("overlay/depth.slang", "overlay depth", false, vk::CompareOp::ALWAYS)?;
        let view = Buffer::new(
            ctx,
            &BufferDesc {
                size: size_of::<OverlayView>() as u64,
                usage: vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::TRANSFER_DST,
                memory: MemoryUsage::GpuOnly,
                name: "overlay view",
            },
        )?;
        Ok(Self { splat, resolve, lines, depth, view })
    }

    /// Whether `scene` has anything the overlay draws.
    pub fn has_content(scene: &GpuScene) -> bool {
        !scene.points.is_empty() || !scene.lines.is_empty()
    }

    /// A single-sampled depth attachment of `view`'s size holding the depths of `depths`, an
    /// R32_SFLOAT image of Vulkan NDC depths (1: nothing), for [`Overlay::add_passes`].
    pub fn depth_from_image<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        depths: &ImageHandle,
        view: &View,
    ) -> ImageHandle {
        let mut depth = graph.create_image(
            "overlay depth",
            ImageInfo::d2(view.width, view.height, OVERLAY_DEPTH_FORMAT),
        );
        let (d, src) = (depth, *depths);
        let pipeline = &self.depth;
        graph
            .add_pass("overlay depth")
            .read(depths, Access::StorageReadFragment)
            .write(&mut depth, Access::DepthAttachmentWrite)
            .record(move |ctx| {
                let extent = ctx.extent(&d, 0)?;
                let att = attachment(ctx.view(&d)?).load_op(vk::AttachmentLoadOp::DONT_CARE);
                // SAFETY: once per pass; the attachment is this pass's declared image in the
                // layout of its declared access.
                unsafe { ctx.begin_rendering(extent, &[], Some(&att)) };
                pipeline.bind(ctx.cmd, None);
                ctx.push_descriptors(
                    pipeline,
                    &[Bind::Storage { binding: 0, image: &src, mip: 0 }],
                )?;
                // SAFETY: inside the rendering scope begun above.
                unsafe {
                    ctx.device().cmd_draw(ctx.cmd, 3, 1, 0, 0);
                    ctx.device().cmd_end_rendering(ctx.cmd);
                }
                Ok(())
            });
        depth
    }

    /// The scene's lines, then its points, drawn into `target` (the renderer's HDR image, as
    /// many samples as the pipelines were made for) depth tested against and written into
    /// `depth`. Unlit: their colors are the radiance.
    pub fn add_passes<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        target: &mut ImageHandle,
        depth: &mut ImageHandle,
    ) {
        if !Self::has_content(scene) {
            return;
        }
        let constants = OverlayView {
            view_proj: (view.proj * view.view).to_cols_array_2d(),
            width: view.width,
            height: view.height,
            pad: [0; 2],
        };
        // Initial state unknown (an earlier frame read it): the write waits for earlier work.
        let mut vb = graph.import_buffer("overlay view", &self.view, None, None);
        let buffer = self.view.raw();
        graph.add_pass("overlay view").write(&mut vb, Access::TransferDst).record(move |ctx| {
            // SAFETY: recording; the graph ordered this write after earlier reads; the data
            // is a multiple of 4 bytes and under 64 KiB.
            unsafe {
                ctx.device().cmd_update_buffer(ctx.cmd, buffer, 0, bytemuck::bytes_of(&constants))
            };
            Ok(())
        });
        let address = self.view.address();
        if !scene.lines.is_empty() {
            self.add_line_pass(graph, scene, target, depth, &vb, address);
        }
        if !scene.points.is_empty() {
            self.add_point_passes(graph, scene, view, target, depth, &vb, address);
        }
    }

    /// Every line set, expanded to screen-space rectangles, depth tested and written.
    fn add_line_pass<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        target: &mut ImageHandle,
        depth: &mut ImageHandle,
        vb: &BufferHandle,
        view: u64,
    ) {
        let (t, d) = (*target, *depth);
        let pipeline = &self.lines;
        let sets = &scene.lines;
        // The vertices are read through device addresses: declared, so that an update's
        // writes earlier in this graph come first.
        let data: Vec<BufferHandle> = sets
            .iter()
            .flat_map(|l| [&l.positions, &l.colors])
            .map(|b| graph.import_buffer(b.name(), b, Some(Access::StorageReadVertex), None))
            .collect();
        let mut pass = graph.add_pass("overlay lines");
        for h in &data {
            pass = pass.read(h, Access::StorageReadVertex);
        }
        pass.read(vb, Access::StorageReadVertex)
            .write(target, Access::ColorAttachmentReadWrite)
            .write(depth, Access::DepthAttachmentWrite)
            .record(move |ctx| {
                draw_over(ctx, &t, &d, |ctx| {
                    pipeline.bind(ctx.cmd, None);
                    for set in sets.iter().filter(|s| s.visible && s.segments > 0) {
                        let push = LinesPush {
                            model: set.transform.to_cols_array_2d(),
                            view,
                            positions: set.positions.address(),
                            colors: set.colors.address(),
                            width: set.width_px,
                            pad: 0,
                        };
                        pipeline.push(ctx.cmd, &push);
                        // SAFETY: inside the rendering scope draw_over began; the shader reads
                        // 2 * segments endpoints, which the buffers hold.
                        unsafe { ctx.device().cmd_draw(ctx.cmd, 6 * set.segments, 1, 0, 0) };
                    }
                    Ok(())
                })
            });
    }

    /// Points: clear a per-pixel 64-bit buffer, splat every point by compute (atomic min of
    /// depth and color), then composite with the depth in a full-screen pass.
    #[allow(clippy::too_many_arguments)]
    fn add_point_passes<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        target: &mut ImageHandle,
        depth: &mut ImageHandle,
        vb: &BufferHandle,
        view_address: u64,
    ) {
        let (w, h) = (view.width, view.height);
        // Pixels per world unit at clip w = 1 (the projection's vertical scale).
        let focal = 0.5 * view.proj.y_axis.y.abs() * h as f32;
        let mut splats = graph.create_buffer("point splats", w as u64 * h as u64 * 8);
        let s = splats;
        graph.add_pass("points clear").write(&mut splats, Access::TransferDst).record(move |ctx| {
            let buffer = ctx.buffer(&s)?;
            // SAFETY: recording; the graph ordered this fill after earlier uses of the buffer.
            unsafe { ctx.device().cmd_fill_buffer(ctx.cmd, buffer, 0, vk::WHOLE_SIZE, u32::MAX) };
            Ok(())
        });
        let s = splats;
        let splat = &self.splat;
        let sets = &scene.points;
        // The points are read through device addresses (their buffers, or streamed frames in
        // the frame pool): declared, so that an update's writes earlier in this graph come
        // first.
        let data: Vec<BufferHandle> = sets
            .iter()
            .flat_map(|p| [&p.positions, &p.colors])
            .chain(scene.frame_buffer())
            .map(|b| graph.import_buffer(b.name(), b, Some(Access::StorageReadCompute), None))
            .collect();
        let mut pass = graph.add_pass("points splat");
        for h in &data {
            pass = pass.read(h, Access::StorageReadCompute);
        }
        pass.read(vb, Access::StorageReadCompute)
            .write(&mut splats, Access::StorageWriteCompute)
            .record(move |ctx| {
                splat.bind(ctx.cmd, None);
                ctx.push_descriptors(splat, &[Bind::Buffer { binding: 0, buffer: &s }])?;
                const PER_DISPATCH: u32 = 65535 * 256;
                for set in sets.iter().filter(|s| s.visible) {
                    let mut first = 0;
                    while first < set.count {
                        let at = set.addresses();
                        let push = SplatPush {
                            view: view_address,
                            positions: at.positions,
                            colors: at.colors,
                            model: set.transform.to_cols_array_2d(),
                            count: set.count,
                            size: set.size_px,
                            width: w,
                            height: h,
                            first,
                            world: set.size_world * focal,
                        };
                        splat.push(ctx.cmd, &push);
                        splat.dispatch_threads(
                            ctx.cmd,
                            [(set.count - first).min(PER_DISPATCH), 1, 1],
                        );
                        first = first.saturating_add(PER_DISPATCH);
                    }
                }
                Ok(())
            });
        let (t, d, s) = (*target, *depth, splats);
        let resolve = &self.resolve;
        graph
            .add_pass("points resolve")
            .read(&splats, Access::StorageReadFragment)
            .write(target, Access::ColorAttachmentReadWrite)
            .write(depth, Access::DepthAttachmentWrite)
            .record(move |ctx| {
                draw_over(ctx, &t, &d, |ctx| {
                    resolve.bind(ctx.cmd, None);
                    ctx.push_descriptors(resolve, &[Bind::Buffer { binding: 0, buffer: &s }])?;
                    resolve.push(ctx.cmd, &ResolvePush { width: w, height: h });
                    // SAFETY: inside the rendering scope draw_over began.
                    unsafe { ctx.device().cmd_draw(ctx.cmd, 3, 1, 0, 0) };
                    Ok(())
                })
            });
    }
}
