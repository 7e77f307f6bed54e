//! Renders a triangle offscreen (no window, no GPU needed: lavapipe works) and writes a PNG.
//!
//! ```text
//! cargo run --release --example offscreen_triangle -- [OUTPUT.png] [WIDTH] [HEIGHT]
//! ```
//! Environment: `XPG_VALIDATION=1` turns the validation layer on; `XPG_DEVICE` picks a device.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use xpg::sync::{image_barrier, AccessScope};
use xpg::vk;
use xpg::{
    Context, ContextDesc, GraphicsDesc, Image, ImageDesc, Pipeline, ShaderCompiler, ShaderDesc,
    Uploader,
};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let output = PathBuf::from(args.next().unwrap_or_else(|| "triangle.png".into()));
    let width: u32 = args
        .next()
        .map(|s| s.parse())
        .transpose()
        .context("WIDTH must be a number")?
        .unwrap_or(512);
    let height: u32 = args
        .next()
        .map(|s| s.parse())
        .transpose()
        .context("HEIGHT must be a number")?
        .unwrap_or(512);
    if width == 0 || height == 0 || width > 16384 || height > 16384 {
        bail!("image size {width}x{height} out of range (1..=16384)");
    }
    let validation = std::env::var("XPG_VALIDATION").is_ok_and(|v| v != "0");

    let ctx = Context::new(&ContextDesc {
        app_name: "offscreen_triangle".into(),
        validation,
        ..Default::default()
    })
    .context("creating the Vulkan context")?;
    println!("device: {} ({})", ctx.caps().device_name, ctx.caps().driver);

    let shader_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/shaders/triangle.slang");
    let compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
    let code = compiler
        .compile(&ShaderDesc::new(&shader_path))
        .context("compiling the triangle shader")?;
    let (vs, fs) = (
        code.entry("vs_main").context("vs_main missing")?,
        code.entry("fs_main").context("fs_main missing")?,
    );
    let format = vk::Format::R8G8B8A8_SRGB;
    let pipeline = Pipeline::graphics(&ctx, &GraphicsDesc::new("triangle", vs, fs, format), None)?;
    let target = Image::new(
        &ctx,
        &ImageDesc::d2("target", width, height, format, vk::ImageUsageFlags::COLOR_ATTACHMENT),
    )?;

    let device = ctx.device();
    ctx.immediate(|cmd| {
        // One-off submission outside a frame: explicit barriers (the framegraph does this for frames).
        image_barrier(
            device,
            cmd,
            target.raw(),
            target.full_range(),
            AccessScope::UNDEFINED,
            AccessScope::COLOR_ATTACHMENT,
        );
        let color = [vk::RenderingAttachmentInfo::default()
            .image_view(target.view())
            .image_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::STORE)
            .clear_value(vk::ClearValue {
                color: vk::ClearColorValue { float32: [0.02, 0.02, 0.03, 1.0] },
            })];
        // SAFETY: `cmd` is recording; the target is in COLOR_ATTACHMENT_OPTIMAL (barrier above).
        unsafe {
            xpg::begin_rendering(device, cmd, vk::Extent2D { width, height }, &color, None);
            pipeline.bind(cmd, None);
            device.cmd_draw(cmd, 3, 1, 0, 0);
            device.cmd_end_rendering(cmd);
        }
    })?;
    let mut uploader = Uploader::new(&ctx, 1 << 20)?;
    let pixels = uploader.read_image(&target, 0, 0, vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)?;
    image::save_buffer(&output, &pixels, width, height, image::ExtendedColorType::Rgba8)
        .with_context(|| format!("writing {}", output.display()))?;
    let m = ctx.validation_messages();
    if validation && m.total() > 0 {
        bail!("{} validation messages", m.total());
    }
    println!("wrote {} ({width}x{height})", output.display());
    Ok(())
}
