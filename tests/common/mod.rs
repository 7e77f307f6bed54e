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
