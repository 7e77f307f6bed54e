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
        size: Some((w, h)),
        validation: true,
        msaa: 1,
        spp: 16,
        ..RenderRequest::new(scene)
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

/// Mean and 99th percentile of the absolute differences of the RGB bytes of two RGBA8 images.
pub fn compare(a: &[u8], b: &[u8]) -> (f64, u8) {
    let mut diffs: Vec<u8> = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .flat_map(|(p, q)| (0..3).map(move |c| p[c].abs_diff(q[c])))
        .collect();
    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len().max(1) as f64;
    diffs.sort_unstable();
    (mean, diffs.get(diffs.len() * 99 / 100).copied().unwrap_or(0))
}

/// Compares `img` (tonemapped) with tests/data/raster/NAME.png, an image made by this renderer
/// and looked at before it was committed: mean absolute difference under 1 and 99th
/// percentile under `p99_max` (8-bit sRGB), for rasterization and rounding differences between
/// drivers. `XPG_UPDATE_REFS=1` rewrites the reference instead.
pub fn assert_matches_stored(img: &RenderedImage, name: &str, p99_max: u8) {
    let path = data(&format!("raster/{name}.png"));
    if std::env::var("XPG_UPDATE_REFS").is_ok_and(|v| v == "1") {
        image::save_buffer(&path, &img.ldr, img.width, img.height, image::ExtendedColorType::Rgba8)
            .expect("write reference");
        return;
    }
    let reference =
        image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgba8();
    assert_eq!(reference.dimensions(), (img.width, img.height), "{name}");
    let (mean, p99) = compare(&img.ldr, reference.as_raw());
    assert!(
        mean < 1.0 && p99 < p99_max,
        "{name}: mean {mean:.3}, p99 {p99} against {}",
        path.display()
    );
}

/// A unit UV sphere (smooth normals, 96 x 48 quads) with `material`.
pub fn sphere(material: usize) -> scene::Primitive {
    scene::shapes::uv_sphere(material, 96, 48)
}
