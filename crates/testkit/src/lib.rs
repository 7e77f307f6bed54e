//! Shared set-up of the GPU tests of the workspace's crates: a validated context on lavapipe
//! and the zero-message check, the test data folder, image comparisons, and a headless
//! render of a scene by any renderer factory (no viewer involved), so that each crate tests
//! itself (`cargo test -p raster`, `-p pathtracer`, ...).

pub mod frames;
pub mod top;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
pub use render::headless::RenderedImage;
use render::{GpuScene, Registry, RendererInit, SettingValue};
use scene::{Scene, View};
use xpg::{Context, ContextDesc, ShaderCompiler};

/// Logs to the test output (`RUST_LOG`, warnings by default).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    crash::report_segfaults();
}

/// A crash in native code (the Vulkan driver, the validation layer, Slang) ends a test
/// process with no word of where. This prints the crashing thread's name and backtrace to
/// stderr first, so that a crash seen once in CI can be found.
mod crash {
    use std::sync::Once;

    static PREVIOUS: std::sync::OnceLock<libc::sigaction> = std::sync::OnceLock::new();

    extern "C" fn on_segfault(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
        // SAFETY: alarm and sigaction are async-signal-safe. The alarm ends the process (its
        // default action) should printing deadlock, for example on a lock the crash held.
        unsafe { libc::alarm(20) };
        let thread = std::thread::current();
        let bt = std::backtrace::Backtrace::force_capture();
        // Straight to the file, not `eprintln!`, which the test harness captures.
        let text = format!("\nSIGSEGV in thread {:?}:\n{bt}\n", thread.name().unwrap_or("?"));
        let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
        if let Some(prev) = PREVIOUS.get() {
            // SAFETY: puts back the handler found at install time (the runtime's stack
            // overflow report, or the default); returning re-runs the faulting instruction,
            // which then ends the process as it would have.
            unsafe { libc::sigaction(libc::SIGSEGV, prev, std::ptr::null_mut()) };
        }
    }

    pub fn report_segfaults() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            // SAFETY: a zeroed sigaction is a valid "no handler, no flags" value, and the
            // previous one is kept to be restored. The handler runs on the crashing thread's
            // own stack (the runtime's alternate stack is too small for a backtrace), so a
            // stack overflow still ends the process at once.
            unsafe {
                let mut prev: libc::sigaction = std::mem::zeroed();
                let mut action: libc::sigaction = std::mem::zeroed();
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    on_segfault;
                action.sa_sigaction = handler as usize;
                action.sa_flags = libc::SA_SIGINFO;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(libc::SIGSEGV, &action, &mut prev) == 0 {
                    let _ = PREVIOUS.set(prev);
                }
            }
        });
    }
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

/// The workspace's root folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file under the workspace's tests/data.
pub fn data(rel: &str) -> PathBuf {
    root().join("tests/data").join(rel)
}

/// A test shader under the workspace's tests/shaders.
pub fn test_shader(name: &str) -> PathBuf {
    root().join("tests/shaders").join(name)
}

/// A compiler of the project's shaders (a new one: its statistics and cache are its own).
pub fn compiler() -> Arc<ShaderCompiler> {
    Arc::new(ShaderCompiler::new([ShaderCompiler::project_shader_dir()]))
}

/// The compiler of the project's shaders that the test kit's renders share within one test
/// process: a shader that one test compiled is not compiled again by the next (its cache
/// checks the files' contents, so an edit is still seen).
pub fn shared_compiler() -> Arc<ShaderCompiler> {
    static SHARED: std::sync::OnceLock<Arc<ShaderCompiler>> = std::sync::OnceLock::new();
    Arc::clone(SHARED.get_or_init(compiler))
}

/// Little-endian f32s of `bytes`.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// What to render, as the viewer's `render` command takes it (the built-ins' shorthands
/// mapped to their settings here, so that the renderers are tested without the viewer).
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// Scene file (or a name for messages when the scene is given in memory).
    pub scene: PathBuf,
    /// Image size; None: 1280 wide at the camera's aspect ratio.
    pub size: Option<(u32, u32)>,
    /// Camera name; None: the first camera (or one framing the scene).
    pub camera: Option<String>,
    /// "raster" or "pathtracer".
    pub renderer: String,
    /// More settings of the renderer, applied after the shorthands below.
    pub settings: Vec<(String, SettingValue)>,
    /// Raster: a reference grid (validated first).
    pub grid: Option<raster::Grid>,
    /// Raster: samples per pixel (1: no multisampling).
    pub msaa: u32,
    /// Path tracer: samples per pixel.
    pub spp: u32,
    /// Path tracer: longest path.
    pub max_depth: u32,
    /// Path tracer: seed.
    pub seed: u32,
    /// Path tracer: how lights are picked (the tree; by power or uniformly for comparisons).
    pub light_selection: pathtracer::LightSelection,
    /// Path tracer: thin-lens aperture radius and focus distance.
    pub lens: (f32, f32),
    /// A file without punctual lights or an environment gets the default lighting (off for
    /// the reference scenes, lit exactly by what they hold).
    pub default_lighting: bool,
}

/// A raster render of `scene` at `w` x `h` without multisampling (16 samples, 64 bounces for
/// the path tracer).
pub fn request(scene: PathBuf, w: u32, h: u32) -> RenderRequest {
    RenderRequest {
        scene,
        size: Some((w, h)),
        camera: None,
        renderer: "raster".into(),
        settings: Vec::new(),
        grid: None,
        msaa: 1,
        spp: 16,
        max_depth: 64,
        seed: 0,
        light_selection: pathtracer::LightSelection::Tree,
        lens: (0.0, 1.0),
        default_lighting: true,
    }
}

/// [`request`] for a reference scene of tests/data/refs: lit exactly by what it holds (no
/// default lighting, as its conventions ask, also for the emitter-only cornell_box).
pub fn refs_request(scene: PathBuf, w: u32, h: u32) -> RenderRequest {
    RenderRequest { default_lighting: false, ..request(scene, w, h) }
}

/// Loads `req.scene` (default lighting when nothing lights it) and renders it.
pub fn render(req: &RenderRequest) -> anyhow::Result<RenderedImage> {
    let mut scene =
        scene::load(&req.scene).with_context(|| format!("loading {}", req.scene.display()))?;
    if req.default_lighting {
        scene.add_default_lighting();
    }
    render_scene(&scene, req)
}

/// Renders `scene` as `req` says, on a validated context; any validation message is an error.
pub fn render_scene(scene: &Scene, req: &RenderRequest) -> anyhow::Result<RenderedImage> {
    let (w, h) = match req.size {
        Some(s) => s,
        None => View::default_size(scene, req.camera.as_deref(), 1280),
    };
    let view = View::from_scene(scene, req.camera.as_deref(), w, h)
        .with_context(|| format!("{}: no camera {:?}", req.scene.display(), req.camera))?;
    let mut settings: Vec<(String, SettingValue)> = Vec::new();
    let mut set = |k: &str, v: SettingValue| settings.push((k.to_string(), v));
    match req.renderer.as_str() {
        "raster" => {
            set("msaa", SettingValue::UInt(req.msaa));
            if let Some(g) = req.grid {
                g.validate()?;
                set("grid", SettingValue::Bool(true));
                set("grid_spacing", SettingValue::Float(g.spacing));
                set("grid_opacity", SettingValue::Float(g.opacity));
                set("grid_fade", SettingValue::Float(g.fade));
                set("grid_z_up", SettingValue::Bool(g.up == raster::GridUp::Z));
            }
        }
        "pathtracer" => {
            set("samples_per_frame", SettingValue::UInt(req.spp.clamp(1, 16)));
            set("max_depth", SettingValue::UInt(req.max_depth.max(1)));
            set("seed", SettingValue::UInt(req.seed));
            set("light_selection", SettingValue::UInt(req.light_selection.index()));
            set("aperture", SettingValue::Float(req.lens.0));
            set("focus_distance", SettingValue::Float(req.lens.1));
        }
        other => bail!("no renderer '{other}' in the test kit"),
    }
    settings.extend(req.settings.iter().cloned());
    let ctx = gpu(false);
    let compiler = shared_compiler();
    let gpu_scene = GpuScene::upload(&ctx, scene)?;
    let init = RendererInit { ctx: &ctx, compiler: &compiler, settings: &settings, z_up: false };
    // Made as the viewer makes them: the factory, then the settings.
    let mut registry = Registry::new();
    registry.register("raster", raster::Raster::factory);
    registry.register("pathtracer", pathtracer::PathTracer::factory);
    let mut renderer = registry.create(&req.renderer, &init)?;
    renderer.scene_changed(scene, &gpu_scene);
    let img = render::headless::render_view(
        &ctx,
        &compiler,
        renderer.as_mut(),
        &gpu_scene,
        &view,
        req.spp,
    )?;
    ctx.wait_idle()?;
    let m = ctx.validation_messages();
    if m.total() > 0 {
        bail!(
            "{}: {} validation messages:\n{}",
            req.scene.display(),
            m.total(),
            m.recent.join("\n")
        );
    }
    Ok(img)
}

/// A unit UV sphere (smooth normals, 96 x 48 quads) with `material`.
pub fn sphere(material: usize) -> scene::Primitive {
    scene::shapes::uv_sphere(material, 96, 48)
}

/// Saves the tonemapped image under `$XPG_SAVE_IMAGES/` when that is set (for looking at them).
pub fn maybe_save(img: &RenderedImage, name: &str) {
    if let Ok(dir) = std::env::var("XPG_SAVE_IMAGES") {
        let path = PathBuf::from(dir).join(format!("{name}.png"));
        image::save_buffer(&path, &img.ldr, img.width, img.height, image::ExtendedColorType::Rgba8)
            .expect("save");
    }
}

/// The Mitsuba reference of scene `name` (tests/data/refs/refs/NAME.exr) averaged over
/// blocks down to `size` x `size` (its width a multiple of `size`), row-major RGB.
pub fn reference_at(name: &str, size: usize) -> Vec<[f64; 3]> {
    let reference = image::open(data(&format!("refs/refs/{name}.exr")))
        .unwrap_or_else(|e| panic!("{name}.exr: {e}"))
        .to_rgb32f();
    let f = (reference.width() as usize / size).max(1);
    let mut out = vec![[0.0; 3]; size * size];
    for (k, o) in out.iter_mut().enumerate() {
        let (x, y) = (k % size, k / size);
        for j in 0..f {
            for i in 0..f {
                let p = reference.get_pixel((x * f + i) as u32, (y * f + j) as u32);
                for c in 0..3 {
                    o[c] += f64::from(p[c]) / (f * f) as f64;
                }
            }
        }
    }
    out
}

/// Pixel (x, y) of the HDR image.
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

/// The mean absolute luminance error of `img` against the Mitsuba reference
/// tests/data/refs/refs/NAME.exr (box-filtered down to the image's size, a whole multiple of
/// it), per square region of `region` pixels, relative to the reference's mean: how far the
/// image's light is from the reference's at the scale of its shading, not its noise.
pub fn region_error(img: &RenderedImage, name: &str, region: usize) -> f64 {
    let reference = image::open(data(&format!("refs/refs/{name}.exr")))
        .unwrap_or_else(|e| panic!("reference {name}: {e}"))
        .to_rgb32f();
    let (w, h) = (img.width as usize, img.height as usize);
    let f = reference.width() as usize / w;
    assert_eq!(reference.height() as usize / f, h, "{name}: reference size");
    let lum = |c: [f32; 3]| f64::from(scene::luminance(c));
    let r = |x: usize, y: usize| -> f64 {
        let mut s = 0.0;
        for j in 0..f {
            for i in 0..f {
                let p = reference.get_pixel((x * f + i) as u32, (y * f + j) as u32);
                s += lum([p[0], p[1], p[2]]);
            }
        }
        s / (f * f) as f64
    };
    let o = |x: usize, y: usize| {
        let p = img.hdr[y * w + x];
        lum([p[0], p[1], p[2]])
    };
    let (mut err, mut mean) = (0.0, 0.0);
    for ry in 0..h / region {
        for rx in 0..w / region {
            let (mut so, mut sr) = (0.0, 0.0);
            for y in ry * region..(ry + 1) * region {
                for x in rx * region..(rx + 1) * region {
                    so += o(x, y);
                    sr += r(x, y);
                }
            }
            err += (so - sr).abs();
            mean += sr;
        }
    }
    err / mean
}
