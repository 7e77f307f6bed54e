//! Frames of one GPU scene drawn by one raster renderer, read back (for tests of what the
//! renderer keeps between frames).

/// Renders frames of one GpuScene with one renderer, reading the HDR result back.
pub struct Frames {
    /// The context (validation on).
    pub ctx: xpg::Context,
    /// The renderer.
    pub raster: raster::Raster,
    /// More viewports: renderers drawing the same scene in the same frames (before `raster`;
    /// their images are not read back).
    pub others: Vec<raster::Raster>,
    executor: framegraph::Executor,
    out: xpg::Image,
    size: u32,
}

impl Frames {
    /// A raster renderer drawing `size` x `size` frames.
    pub fn new(size: u32) -> Self {
        let ctx = crate::gpu(false);
        let compiler = crate::shared_compiler();
        let raster = raster::Raster::new(&ctx, &compiler).expect("raster");
        let usage = xpg::vk::ImageUsageFlags::TRANSFER_DST;
        let out = xpg::Image::new(
            &ctx,
            &xpg::ImageDesc::d2("out", size, size, raster::HDR_FORMAT, usage),
        )
        .expect("image");
        let executor = framegraph::Executor::new(&ctx, 1);
        Self { ctx, raster, others: Vec::new(), executor, out, size }
    }

    /// [`Frames::new`] with `n` more viewports ([`Frames::others`]).
    pub fn viewports(size: u32, n: usize) -> Self {
        let mut frames = Self::new(size);
        let compiler = crate::shared_compiler();
        for _ in 0..n {
            frames.others.push(raster::Raster::new(&frames.ctx, &compiler).expect("raster"));
        }
        frames
    }

    /// One frame of `gpu` seen from `scene`'s camera, after updating `gpu` from `scene` when
    /// `update` says so; returns the linear radiance.
    pub fn draw(
        &mut self,
        gpu: &mut render::GpuScene,
        scene: &scene::Scene,
        update: bool,
    ) -> Vec<[f32; 4]> {
        use framegraph::{Access, FrameGraph, ImageInfo};
        let view = scene::View::from_scene(scene, None, self.size, self.size).expect("view");
        let mut graph = FrameGraph::new();
        if update {
            gpu.update(scene, &mut graph).expect("update");
        }
        let gpu: &render::GpuScene = gpu;
        let info = ImageInfo::d2(self.size, self.size, raster::HDR_FORMAT);
        for other in &mut self.others {
            let target = raster_passes(&mut graph, other, gpu, &view);
            // Kept: nothing reads it.
            keep(&mut graph, &target);
        }
        let target = raster_passes(&mut graph, &mut self.raster, gpu, &view);
        let mut o = graph.import_image("out", self.out.raw(), self.out.view(), info, None, None);
        let (t, oo) = (target, o);
        graph
            .add_pass("copy out")
            .read(&target, Access::TransferSrc)
            .write(&mut o, Access::TransferDst)
            .record(move |pass| pass.copy_image(&t, &oo));
        let plan = self.executor.compile(&graph).expect("compile");
        self.ctx
            .immediate(|cmd| self.executor.execute(graph, &plan, cmd, None))
            .expect("submit")
            .expect("execute");
        let mut up = xpg::Uploader::new(&self.ctx, 1 << 20).expect("uploader");
        let layout = xpg::vk::ImageLayout::TRANSFER_DST_OPTIMAL;
        let bytes = up.read_image(&self.out, 0, 0, layout).expect("read back");
        bytes
            .chunks_exact(8)
            .map(|c| {
                [0, 1, 2, 3].map(|k| half::f16::from_le_bytes([c[2 * k], c[2 * k + 1]]).to_f32())
            })
            .collect()
    }
}

/// The passes of `raster` drawing `gpu` seen in `view` into a new HDR target of the view's
/// size, which it returns.
pub fn raster_passes<'g>(
    graph: &mut framegraph::FrameGraph<'g>,
    raster: &'g mut raster::Raster,
    gpu: &'g render::GpuScene,
    view: &scene::View,
) -> framegraph::ImageHandle {
    use render::Renderer;
    let info = framegraph::ImageInfo::d2(view.width, view.height, raster::HDR_FORMAT);
    let mut target = graph.create_image("hdr", info);
    raster
        .add_passes(
            graph,
            gpu,
            view,
            render::RenderTargets { color: &mut target },
            &mut render::Hooks::default(),
        )
        .expect("passes");
    target
}

/// Keeps `target` and what draws it in the graph though nothing reads it.
pub fn keep(graph: &mut framegraph::FrameGraph<'_>, target: &framegraph::ImageHandle) {
    graph
        .add_pass("keep")
        .read(target, framegraph::Access::TransferSrc)
        .side_effect()
        .record(|_| Ok(()));
}
