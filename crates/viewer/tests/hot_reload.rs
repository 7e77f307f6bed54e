//! Shader hot reload in the running viewer (offscreen, lavapipe, validation on): edits of a
//! shader, of a module it imports, a syntax error (the old pipeline keeps running and the error
//! names file:line), its fix. The viewer takes its shaders from a copy of `shaders/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use viewer::app::{run_offscreen, App, ViewerOptions};
use viewer::input::Script;

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read_dir").flatten() {
        let p = e.path();
        let to = dst.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &to);
        } else {
            std::fs::copy(&p, &to).expect("copy");
        }
    }
}

/// A scripted, validated offscreen viewer of env_diffuse (480x240, 4 frames) on the shader
/// folder `shaders`, with the custom passes of `passes`.
fn options(shaders: &Path, viewports: Vec<String>, passes: Option<&Path>) -> ViewerOptions {
    ViewerOptions {
        files: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/refs/scenes/env_diffuse.gltf")],
        size: (480, 240),
        viewports,
        validation: true,
        cache_dir: None,
        frames: Some(4),
        fixed_dt: Some(1.0 / 60.0),
        script: Some(Script::default()),
        shader_dir: Some(shaders.to_path_buf()),
        hot_reload: true,
        pass_dirs: passes.map(Path::to_path_buf).into_iter().collect(),
        ..Default::default()
    }
}

/// Mean of the raster viewport's pixels (columns 130..270 of a 480-wide window, rows 40..140:
/// above the error overlay, which covers the bottom third while a compile error stands).
fn raster_mean(app: &App) -> f64 {
    let (w, h, px) = app.read_window().expect("read");
    let (mut sum, mut n) = (0u64, 0u64);
    for y in 40..140.min(h) {
        for x in 130..270.min(w) {
            let i = ((y * w + x) * 4) as usize;
            sum += u64::from(px[i]) + u64::from(px[i + 1]) + u64::from(px[i + 2]);
            n += 3;
        }
    }
    sum as f64 / n as f64
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read shader");
    assert!(text.contains(from), "{} has no '{from}'", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write shader");
}

/// Renders frames until `done` (or fails after a generous time: lavapipe compiles slowly).
fn frames_until(app: &mut App, what: &str, done: impl Fn(&App) -> bool) {
    let t = Instant::now();
    while !done(app) {
        assert!(t.elapsed() < Duration::from_secs(240), "timed out waiting for: {what}");
        app.frame(None, (480, 240)).expect("frame");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn editing_shaders_reloads_them_and_errors_keep_the_last_good_ones() {
    let dir = std::env::temp_dir().join(format!("xpg-hot-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let shaders = dir.join("shaders");
    copy_dir(&xpg::ShaderCompiler::project_shader_dir(), &shaders);
    let opts = options(&shaders, vec!["raster".to_string(), "pathtracer".to_string()], None);
    let mut app = run_offscreen(opts).expect("viewer runs");
    let pt = app.viewports()[1].0;
    let base = raster_mean(&app);
    let samples_before = app.samples(pt).expect("path tracer");
    assert!(samples_before >= 1, "{samples_before}");

    // 1. The tonemap shader: a quarter of the exposure.
    let tonemap = shaders.join("post/tonemap.slang");
    edit(&tonemap, "* pc.exposure;", "* pc.exposure * 0.25;");
    frames_until(&mut app, "the first reload", |a| a.reloads() >= 1);
    app.frame(None, (480, 240)).expect("frame");
    let darker = raster_mean(&app);
    println!("raster mean {base:.1} -> {darker:.1}; reload took {:?} ms", app.last_reload_ms);
    assert!(darker < 0.8 * base, "the new tonemap is used ({base} -> {darker})");
    assert_eq!(app.last_rebuilt(), ["tonemap"], "only what read the file is rebuilt");
    assert!(app.last_reload_ms.is_some());
    // Only the tonemap read the file: the path tracer kept its accumulation.
    assert!(app.samples(pt).expect("pt") > samples_before);

    // 2. A syntax error: the last good pipeline keeps running, the error names file:line.
    edit(&tonemap, "* pc.exposure * 0.25;", "* pc.exposure * 0.25 +;");
    frames_until(&mut app, "the compile error", |a| a.shader_error().is_some());
    let err = app.shader_error().expect("error").to_string();
    println!("reported: {}", err.lines().take(3).collect::<Vec<_>>().join(" | "));
    assert!(err.contains("tonemap.slang:"), "{err}");
    let line = err
        .split("tonemap.slang:")
        .skip(1)
        .find_map(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u32>().ok());
    assert!(line.is_some_and(|l| l > 1), "a line number: {err}");
    for _ in 0..3 {
        app.frame(None, (480, 240)).expect("frames go on");
    }
    assert!((raster_mean(&app) - darker).abs() < 0.5, "the last good tonemap still runs");
    assert_eq!(app.reloads(), 1);

    // 3. Fixed (back to the original): the new shader is used, the error is gone.
    edit(&tonemap, "* pc.exposure * 0.25 +;", "* pc.exposure;");
    frames_until(&mut app, "the fix", |a| a.reloads() >= 2);
    app.frame(None, (480, 240)).expect("frame");
    assert!(app.shader_error().is_none());
    assert!((raster_mean(&app) - base).abs() < 0.5, "the original image is back");

    // 4. An imported module (xpg/color.slang, imported by the tonemap and the raster):
    // no sRGB encoding makes the image darker; the raster is rebuilt too.
    let color = shaders.join("xpg/color.slang");
    let text = std::fs::read_to_string(&color).expect("color.slang");
    let marker = "public float3 linear_to_srgb(float3 c)\n{";
    assert!(text.contains(marker), "color.slang changed: update this test");
    edit(&color, marker, &format!("{marker}\n    if (true) return c;"));
    frames_until(&mut app, "the module reload", |a| a.reloads() >= 3);
    app.frame(None, (480, 240)).expect("frame");
    let linear = raster_mean(&app);
    println!("without sRGB encoding: {linear:.1}; rebuilt {:?}", app.last_rebuilt());
    // color.slang is imported by the tonemap, the raster and the path tracer: all rebuilt.
    for group in ["tonemap", "raster", "pathtracer"] {
        assert!(app.last_rebuilt().iter().any(|g| g == group), "{group}: {:?}", app.last_rebuilt());
    }
    assert!(linear < 0.85 * base, "the edited module is used ({base} -> {linear})");
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_shader_broken_at_start_is_reported_and_fixed_live() {
    let dir = std::env::temp_dir().join(format!("xpg-hot-reload-start-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let shaders = dir.join("shaders");
    copy_dir(&xpg::ShaderCompiler::project_shader_dir(), &shaders);
    let tonemap = shaders.join("post/tonemap.slang");
    edit(&tonemap, "* pc.exposure;", "* pc.exposure +;");
    let passes = dir.join("passes");
    std::fs::create_dir_all(&passes).expect("mkdir");
    let mut opts = options(&shaders, vec!["raster".to_string()], Some(&passes));
    opts.frames = Some(3);
    // The viewer starts and runs, showing the error.
    let mut app = run_offscreen(opts).expect("the viewer runs despite the broken shader");
    let err = app.shader_error().expect("the error is shown").to_string();
    assert!(err.contains("tonemap.slang:"), "{err}");
    // While it is broken, a custom pass dropped into the pass folder still loads.
    std::fs::write(
        passes.join("noop.toml"),
        "insert = \"before_tonemap\"\n[[target]]\nname = \"color\"\naccess = \"read_write\"\nbinding = 0\n",
    )
    .expect("write");
    std::fs::write(
        passes.join("noop.slang"),
        "[[vk::binding(0, 1)]] [format(\"rgba16f\")] RWTexture2D<float4> color;\n\
         struct Push { uint width; uint height; };\n[[vk::push_constant]] ConstantBuffer<Push> pc;\n\
         [shader(\"compute\")]\n[numthreads(8, 8, 1)]\nvoid main(uint3 id: SV_DispatchThreadID)\n\
         { if (id.x < pc.width && id.y < pc.height) color[id.xy] = color[id.xy]; }\n",
    )
    .expect("write");
    frames_until(&mut app, "the new pass", |a| a.user_passes().0 == ["noop".to_string()]);
    assert!(app.shader_error().is_some(), "the tonemap is still broken");
    let grey = raster_mean(&app);
    edit(&tonemap, "* pc.exposure +;", "* pc.exposure;");
    frames_until(&mut app, "the fix", |a| a.shader_error().is_none());
    app.frame(None, (480, 240)).expect("frame");
    assert!(app.shader_error().is_none());
    let fixed = raster_mean(&app);
    println!("broken at start: grey {grey:.1}, fixed {fixed:.1}");
    assert!((fixed - grey).abs() > 10.0, "the scene appears once the shader compiles");
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_custom_pass_does_not_block_other_reloads() {
    let dir = std::env::temp_dir().join(format!("xpg-hot-reload-pass-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let shaders = dir.join("shaders");
    copy_dir(&xpg::ShaderCompiler::project_shader_dir(), &shaders);
    let passes = dir.join("passes");
    std::fs::create_dir_all(&passes).expect("mkdir");
    // The TOML names binding 3; the shader declares binding 0: rejected at load.
    std::fs::write(
        passes.join("mismatch.toml"),
        "insert = \"after_tonemap\"\n[[target]]\nname = \"color\"\naccess = \"read_write\"\nbinding = 3\n",
    )
    .expect("write");
    std::fs::write(
        passes.join("mismatch.slang"),
        "[[vk::binding(0, 1)]] [format(\"rgba8\")] RWTexture2D<float4> color;\n\
         struct Push { uint width; uint height; };\n[[vk::push_constant]] ConstantBuffer<Push> pc;\n\
         [shader(\"compute\")]\n[numthreads(8, 8, 1)]\nvoid main(uint3 id: SV_DispatchThreadID)\n\
         { if (id.x < pc.width && id.y < pc.height) color[id.xy] = float4(0, 0, 0, 1); }\n",
    )
    .expect("write");
    let mut opts = options(&shaders, vec!["raster".to_string()], Some(&passes));
    opts.frames = Some(3);
    let mut app = run_offscreen(opts).expect("the viewer runs despite the broken pass");
    let (names, errors) = app.user_passes();
    assert!(names.is_empty());
    assert!(
        errors.iter().any(|e| e.contains("mismatch.toml") && e.contains("binding 3")),
        "{errors:?}"
    );
    let base = raster_mean(&app);
    // A tonemap edit is applied although the pass is still broken.
    edit(&shaders.join("post/tonemap.slang"), "* pc.exposure;", "* pc.exposure * 0.25;");
    frames_until(&mut app, "the tonemap reload", |a| a.reloads() >= 1);
    app.frame(None, (480, 240)).expect("frame");
    let darker = raster_mean(&app);
    assert!(darker < 0.8 * base, "{base} -> {darker}");
    assert!(!app.user_passes().1.is_empty(), "the pass is still reported");
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
