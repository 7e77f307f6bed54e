//! The framegraph on lavapipe with synchronization validation: a 6-pass graph (compute
//! generates an image, a per-mip downsample chain, a raster pass sampling it, a post pass, a
//! copy into an imported image) gives the expected pixels with zero validation messages, the
//! same plan on every frame, and no new Vulkan objects after the first frame.

use testkit as common;

use common::{assert_clean, compiler, gpu, test_shader};
use framegraph::{Access, Bind, Executor, FrameGraph, ImageHandle, ImageInfo, Plan, Subresources};
use xpg::vk;
use xpg::{FrameRing, GraphicsDesc, Image, ImageDesc, Pipeline, Sampler, ShaderDesc, Uploader};

const SIZE: u32 = 64;
const LOD: u32 = 2;
const OUT: u32 = SIZE >> LOD;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Size {
    width: u32,
    height: u32,
}

struct Pipelines {
    generate: Pipeline,
    downsample: Pipeline,
    raster: Pipeline,
    post: Pipeline,
}

/// Builds the frame's graph: the 6 passes of the module documentation, plus an unused branch
/// that must be culled. Each pass binds its own images as push descriptors (set 1), so the
/// validation layer sees exactly what every dispatch and draw touches.
fn build<'g>(p: &'g Pipelines, sampler: vk::Sampler, output: &Image) -> FrameGraph<'g> {
    let info = ImageInfo::d2(SIZE, SIZE, vk::Format::R8G8B8A8_UNORM).mips(LOD + 1);
    let mut g = FrameGraph::new();
    let mut tex = g.create_image("tex", info);
    let mut scene = g.create_image("scene", ImageInfo::d2(OUT, OUT, vk::Format::R8G8B8A8_UNORM));
    let mut post = g.create_image("post", ImageInfo::d2(OUT, OUT, vk::Format::R8G8B8A8_UNORM));
    let mut unused = g.create_image("unused", ImageInfo::d2(8, 8, vk::Format::R8G8B8A8_UNORM));
    let mut out = g.import_image(
        "output",
        output.raw(),
        output.view(),
        ImageInfo::d2(OUT, OUT, vk::Format::R8G8B8A8_UNORM),
        None,
        None,
    );

    let t = tex;
    g.add_pass("generate")
        .write_range(&mut tex, Access::StorageWriteCompute, Subresources::mip(0, &info))
        .record(move |ctx| {
            p.generate.bind(ctx.cmd, None);
            ctx.push_descriptors(&p.generate, &[Bind::Storage { binding: 0, image: &t, mip: 0 }])?;
            p.generate.push(ctx.cmd, &Size { width: SIZE, height: SIZE });
            p.generate.dispatch_threads(ctx.cmd, [SIZE, SIZE, 1]);
            Ok(())
        });
    for level in 1..=LOD {
        let t: ImageHandle = tex;
        g.add_pass(&format!("downsample {level}"))
            .read_range(&tex, Access::SampledCompute, Subresources::mip(level - 1, &info))
            .write_range(&mut tex, Access::StorageWriteCompute, Subresources::mip(level, &info))
            .record(move |ctx| {
                let e = ctx.extent(&t, level)?;
                p.downsample.bind(ctx.cmd, None);
                ctx.push_descriptors(
                    &p.downsample,
                    &[
                        Bind::Sampled { binding: 0, image: &t, mip: Some(level - 1), sampler },
                        Bind::Storage { binding: 1, image: &t, mip: level },
                    ],
                )?;
                p.downsample.push(ctx.cmd, &Size { width: e.width, height: e.height });
                p.downsample.dispatch_threads(ctx.cmd, [e.width, e.height, 1]);
                Ok(())
            });
    }
    let (t, s) = (tex, scene);
    g.add_pass("raster")
        .read(&tex, Access::SampledFragment)
        .write(&mut scene, Access::ColorAttachmentWrite)
        .record(move |ctx| {
            let view = ctx.view(&s)?;
            let extent = ctx.extent(&s, 0)?;
            let device = ctx.device().clone();
            let color = [vk::RenderingAttachmentInfo::default()
                .image_view(view)
                .image_layout(vk::ImageLayout::ATTACHMENT_OPTIMAL)
                .load_op(vk::AttachmentLoadOp::DONT_CARE)
                .store_op(vk::AttachmentStoreOp::STORE)];
            // SAFETY: once per pass; the attachments are this pass's declared images in the
            // layouts of their declared attachment accesses.
            unsafe { ctx.begin_rendering(extent, &color, None) };
            p.raster.bind(ctx.cmd, None);
            ctx.push_descriptors(
                &p.raster,
                &[Bind::Sampled { binding: 0, image: &t, mip: None, sampler }],
            )?;
            #[repr(C)]
            #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
            struct Lod(f32);
            p.raster.push(ctx.cmd, &Lod(LOD as f32));
            // SAFETY: recording inside the rendering begun above.
            unsafe {
                device.cmd_draw(ctx.cmd, 3, 1, 0, 0);
                device.cmd_end_rendering(ctx.cmd);
            }
            Ok(())
        });
    let (s, po) = (scene, post);
    g.add_pass("post")
        .read(&scene, Access::SampledCompute)
        .write(&mut post, Access::StorageWriteCompute)
        .record(move |ctx| {
            p.post.bind(ctx.cmd, None);
            ctx.push_descriptors(
                &p.post,
                &[
                    Bind::Sampled {
                        binding: 0,
                        image: &s,
                        mip: None,
                        sampler: vk::Sampler::null(),
                    },
                    Bind::Storage { binding: 1, image: &po, mip: 0 },
                ],
            )?;
            p.post.push(ctx.cmd, &Size { width: OUT, height: OUT });
            p.post.dispatch_threads(ctx.cmd, [OUT, OUT, 1]);
            Ok(())
        });
    g.add_pass("unused branch").write(&mut unused, Access::StorageWriteCompute).record(|_| {
        Err(framegraph::ExecuteError::Pass {
            pass: "unused branch".into(),
            message: "must be culled".into(),
        })
    });
    let (po, o) = (post, out);
    g.add_pass("copy to output")
        .read(&post, Access::TransferSrc)
        .write(&mut out, Access::TransferDst)
        .record(move |ctx| ctx.copy_image(&po, &o));
    g
}

/// The expected output on the CPU: mip `LOD` of the gradient (box-filtered 4x4 blocks,
/// quantized at each level as the GPU does), inverted.
fn expected() -> Vec<[f32; 3]> {
    let q = |v: f32| (v * 255.0).round() / 255.0;
    let mut level: Vec<[f32; 3]> = (0..SIZE * SIZE)
        .map(|i| {
            let (x, y) = (i % SIZE, i / SIZE);
            [q((x as f32 + 0.5) / SIZE as f32), q((y as f32 + 0.5) / SIZE as f32), q(0.25)]
        })
        .collect();
    let mut size = SIZE;
    for _ in 0..LOD {
        let half = size / 2;
        level = (0..half * half)
            .map(|i| {
                let (x, y) = (i % half, i / half);
                let mut c = [0.0; 3];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let t = level[((y * 2 + dy) * size + x * 2 + dx) as usize];
                    for k in 0..3 {
                        c[k] += t[k] / 4.0;
                    }
                }
                c.map(q)
            })
            .collect();
        size = half;
    }
    level.iter().map(|c| c.map(|v| 1.0 - v)).collect()
}

#[test]
fn six_pass_graph_pixels_plans_and_reuse() {
    let ctx = gpu(false);
    let shaders = compiler();
    let compile = |name: &str| {
        shaders.compile(&ShaderDesc::new(test_shader(name))).unwrap_or_else(|e| panic!("{e}"))
    };
    let (g, d, r, po) = (
        compile("fg_generate.slang"),
        compile("fg_downsample.slang"),
        compile("fg_raster.slang"),
        compile("fg_post.slang"),
    );
    let raster_desc = GraphicsDesc::new(
        "fg raster",
        r.entry("vs_main").expect("vs"),
        r.entry("fs_main").expect("fs"),
        vk::Format::R8G8B8A8_UNORM,
    );
    let pipelines = Pipelines {
        generate: Pipeline::compute(&ctx, &g.entry_points[0], None).expect("generate"),
        downsample: Pipeline::compute(&ctx, &d.entry_points[0], None).expect("downsample"),
        raster: Pipeline::graphics(&ctx, &raster_desc, None).expect("raster"),
        post: Pipeline::compute(&ctx, &po.entry_points[0], None).expect("post"),
    };
    let sampler = Sampler::linear(&ctx, vk::SamplerAddressMode::CLAMP_TO_EDGE).expect("sampler");
    let output = Image::new(
        &ctx,
        &ImageDesc::d2(
            "output",
            OUT,
            OUT,
            vk::Format::R8G8B8A8_UNORM,
            vk::ImageUsageFlags::TRANSFER_DST,
        ),
    )
    .expect("output");

    let mut frames = FrameRing::new(&ctx, 2).expect("frames");
    let mut executor = Executor::new(&ctx, 2);
    let mut up = Uploader::new(&ctx, 1 << 20).expect("uploader");
    let want = expected();
    let mut plans: Vec<Plan> = Vec::new();
    let mut objects = Vec::new();
    for frame in 0..3 {
        let graph = build(&pipelines, sampler.raw(), &output);
        let plan = executor.compile(&graph).expect("compile");
        assert_eq!(plan.passes.len(), 6, "{plan}");
        assert_eq!(plan.culled, ["unused branch"]);
        let f = frames.begin().expect("frame");
        executor.execute(graph, &plan, f.cmd, None).expect("execute");
        let value = frames.end(f).expect("submit");
        ctx.wait(value).expect("wait");
        let px =
            up.read_image(&output, 0, 0, vk::ImageLayout::TRANSFER_DST_OPTIMAL).expect("read back");
        for (i, w) in want.iter().enumerate() {
            for k in 0..3 {
                let got = px[i * 4 + k] as f32 / 255.0;
                assert!(
                    (got - w[k]).abs() <= 3.0 / 255.0,
                    "frame {frame} pixel {i} channel {k}: {got} vs {}",
                    w[k]
                );
            }
        }
        if frame == 0 {
            println!("{plan}");
        }
        plans.push(plan);
        objects.push(executor.objects_created());
    }
    // Frames back to back, two in flight, no wait in between: the pooled transients are shared
    // by both frames, so each frame's first uses must wait for the previous frame's (the
    // synchronization validation checks across submissions).
    let mut last = 0;
    for _ in 0..4 {
        let graph = build(&pipelines, sampler.raw(), &output);
        let plan = executor.compile(&graph).expect("compile");
        let f = frames.begin().expect("frame");
        executor.execute(graph, &plan, f.cmd, None).expect("execute");
        last = frames.end(f).expect("submit");
    }
    ctx.wait(last).expect("wait");
    let px =
        up.read_image(&output, 0, 0, vk::ImageLayout::TRANSFER_DST_OPTIMAL).expect("read back");
    for (i, w) in want.iter().enumerate() {
        for k in 0..3 {
            assert!(
                (px[i * 4 + k] as f32 / 255.0 - w[k]).abs() <= 3.0 / 255.0,
                "back-to-back frames: pixel {i}"
            );
        }
    }
    assert_eq!(executor.objects_created(), objects[0], "still no new objects");
    assert_eq!(plans[0], plans[1], "the same graph compiles to the same plan");
    assert_eq!(plans[1], plans[2]);
    assert!(objects[0] > 0);
    assert_eq!(objects[0], objects[2], "no new Vulkan objects after the first frame: {objects:?}");
    let timings = executor.last_timings();
    assert_eq!(
        timings.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        plans[0].passes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>()
    );
    assert!(timings.iter().all(|t| t.gpu_ms >= 0.0 && t.gpu_ms.is_finite()));
    drop((executor, frames, up, sampler, output, pipelines));
    assert_clean(&ctx);
}
