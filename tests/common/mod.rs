//! Shared set-up of the GPU tests: a validated context on lavapipe and the zero-message check.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use xpg::{Context, ContextDesc, ShaderCompiler};

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// A context with the validation layer and synchronization validation on. Fails loudly when
/// the device or the layer is missing: the set-up script guarantees both.
pub fn gpu(force_staging: bool) -> Context {
    init_tracing();
    Context::new(&ContextDesc {
        app_name: "xpg-tests".into(),
        validation: true,
        force_staging,
        ..Default::default()
    })
    .expect("Vulkan context with validation (run scripts/setup.sh)")
}

/// Asserts that the context received no validation warning or error.
pub fn assert_clean(ctx: &Context) {
    ctx.wait_idle().expect("wait idle");
    let m = ctx.validation_messages();
    assert_eq!(
        m.total(),
        0,
        "validation messages: {} errors, {} warnings:\n{}",
        m.errors,
        m.warnings,
        m.recent.join("\n---\n")
    );
}

pub fn test_shader(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/shaders").join(name)
}

pub fn compiler() -> Arc<ShaderCompiler> {
    Arc::new(ShaderCompiler::new([ShaderCompiler::project_shader_dir()]))
}

pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

// Helpers of the image tests (through the viewer's headless rendering).

use viewer::{RenderRequest, RenderedImage};

/// A file under tests/data.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(rel)
}

pub fn request(scene: PathBuf, w: u32, h: u32) -> RenderRequest {
    RenderRequest {
        scene,
        size: Some((w, h)),
        camera: None,
        renderer: "raster".into(),
        validation: true,
        grid: None,
        msaa: 1,
    }
}

/// Saves the tonemapped image under `$XPG_SAVE_IMAGES/` when that is set (for looking at them).
pub fn maybe_save(img: &RenderedImage, name: &str) {
    if let Ok(dir) = std::env::var("XPG_SAVE_IMAGES") {
        let path = PathBuf::from(dir).join(format!("{name}.png"));
        image::save_buffer(&path, &img.ldr, img.width, img.height, image::ExtendedColorType::Rgba8)
            .expect("save");
    }
}

pub fn px(img: &RenderedImage, x: u32, y: u32) -> [f32; 4] {
    img.hdr[(y * img.width + x) as usize]
}
