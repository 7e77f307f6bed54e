//! A custom render pass with its own Slang shader from the user's folder, end to end:
//! compile the shader, declare the pass in a frame graph, let the graph place the barriers,
//! execute, and write a PNG.
//!
//! ```text
//! cargo run --release --example custom_pass -- [OUTPUT.png] [SHADER_DIR]
//! ```
//! `SHADER_DIR` (default `examples/user_shaders`) holds `rings.slang`, which imports the
//! project's `xpg.color` module.

use std::path::PathBuf;

use anyhow::Context as _;
use framegraph::{Access, Bind, Executor, FrameGraph, ImageInfo};
use xpg::vk;
use xpg::{Context, ContextDesc, Image, ImageDesc, Pipeline, ShaderCompiler, ShaderDesc, Uploader};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    width: u32,
    height: u32,
    time: f32,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new("warn")).init();
    let mut args = std::env::args().skip(1);
    let output = PathBuf::from(args.next().unwrap_or_else(|| "custom_pass.png".into()));
    let user_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/user_shaders"));
    let validation = std::env::var("XPG_VALIDATION").is_ok_and(|v| v != "0");
    let (width, height) = (640u32, 360u32);

    let ctx = Context::new(&ContextDesc { validation, ..Default::default() })
        .context("Vulkan context")?;
    // The user's folder first, then the project's modules.
    let compiler = ShaderCompiler::new([user_dir.clone(), ShaderCompiler::project_shader_dir()]);
    let code = compiler
        .compile(&ShaderDesc::new(user_dir.join("rings.slang")))
        .context("compiling the user's shader")?;
    let pipeline = Pipeline::compute(&ctx, &code.entry_points[0], None)?;
    let pipeline = &pipeline; // pass closures capture by move: a reference to the pipeline

    let format = vk::Format::R8G8B8A8_UNORM;
    let output_image = Image::new(
        &ctx,
        &ImageDesc::d2("output", width, height, format, vk::ImageUsageFlags::TRANSFER_DST),
    )?;

    // The frame: the custom pass draws into a transient canvas, a copy pass moves it into the
    // imported output image. No barrier is written by hand.
    let mut graph = FrameGraph::new();
    let mut canvas = graph.create_image("canvas", ImageInfo::d2(width, height, format));
    let mut out = graph.import_image(
        "output",
        output_image.raw(),
        output_image.view(),
        ImageInfo::d2(width, height, format),
        None,
        None,
    );

    let c = canvas;
    graph.add_pass("rings").write(&mut canvas, Access::StorageWriteCompute).record(move |pass| {
        pipeline.bind(pass.cmd, None);
        pass.push_descriptors(pipeline, &[Bind::Storage { binding: 0, image: &c, mip: 0 }])?;
        pipeline.push(pass.cmd, &Params { width, height, time: 0.3 });
        pipeline.dispatch_threads(pass.cmd, [width, height, 1]);
        Ok(())
    });
    let (c, o) = (canvas, out);
    graph
        .add_pass("copy")
        .read(&canvas, Access::TransferSrc)
        .write(&mut out, Access::TransferDst)
        .record(move |pass| pass.copy_image(&c, &o));

    let mut executor = Executor::new(&ctx, 1);
    let plan = executor.compile(&graph)?;
    print!("{plan}");
    ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))??;

    let mut uploader = Uploader::new(&ctx, 1 << 20)?;
    let pixels = uploader.read_image(&output_image, 0, 0, vk::ImageLayout::TRANSFER_DST_OPTIMAL)?;
    image::save_buffer(&output, &pixels, width, height, image::ExtendedColorType::Rgba8)
        .with_context(|| format!("writing {}", output.display()))?;
    if validation {
        let m = ctx.validation_messages();
        anyhow::ensure!(m.total() == 0, "{} validation messages", m.total());
    }
    println!("wrote {}", output.display());
    Ok(())
}
