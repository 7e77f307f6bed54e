//! The viewer's offscreen mode, in process (lavapipe, validation on: `run_offscreen` fails on
//! any validation message): caches on disk, bad files, renderer switches, viewport
//! screenshots.

use std::path::{Path, PathBuf};

use viewer::app::{run_offscreen, run_offscreen_timed, ViewerOptions};
use viewer::input::Script;

fn scene(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/refs/scenes").join(name)
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xpg-offscreen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn opts(files: Vec<PathBuf>, viewports: Vec<String>) -> ViewerOptions {
    ViewerOptions {
        files,
        size: (320, 200),
        viewports,
        validation: true,
        cache_dir: None,
        frames: Some(3),
        fixed_dt: Some(1.0 / 60.0),
        script: Some(Script::default()),
        ..Default::default()
    }
}

/// The viewport's columns of a window image (the scene panel takes the left 22%).
fn viewport_pixels(app: &viewer::app::App) -> Vec<u8> {
    let (w, h, px) = app.read_window().expect("read window");
    let x0 = (w as f32 * 0.3) as u32;
    let mut out = Vec::new();
    for y in 40..h {
        for x in x0..w {
            let i = ((y * w + x) * 4) as usize;
            out.extend_from_slice(&px[i..i + 3]);
        }
    }
    out
}

fn distinct_colours(px: &[u8]) -> usize {
    px.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect::<std::collections::HashSet<_>>().len()
}

#[test]
fn a_second_start_compiles_nothing() {
    let dir = temp("cache");
    let mut o =
        opts(vec![scene("cornell_box.gltf")], vec!["raster".to_string(), "pathtracer".to_string()]);
    o.cache_dir = Some(dir.clone());
    o.frames = Some(1);
    let (cold, cold_summary) =
        run_offscreen_timed(o.clone(), std::time::Instant::now()).expect("cold");
    let cold_stats = cold.compiler().stats();
    drop(cold);
    println!("cold: {cold_summary}");
    assert!(cold_stats.compiles > 0, "{cold_stats:?}");
    assert_eq!(cold_stats.disk_hits, 0);
    let pipelines = dir.join("pipelines.bin");
    let size = std::fs::metadata(&pipelines).map(|m| m.len()).unwrap_or(0);
    // (lavapipe caches nothing: its cache is the 32-byte header alone.)
    assert!(size >= 32, "the pipeline cache was saved ({size} bytes)");
    let (warm, warm_summary) = run_offscreen_timed(o, std::time::Instant::now()).expect("warm");
    println!("warm: {warm_summary}");
    let s = warm.compiler().stats();
    assert_eq!(s.compiles, 0, "{s:?}");
    assert_eq!(s.disk_hits, cold_stats.compiles, "every shader came from the disk cache");
    drop(warm);
    // A corrupt entry is ignored (compiled again), not trusted.
    for e in std::fs::read_dir(dir.join("shaders")).expect("shader cache dir").flatten() {
        std::fs::write(e.path(), b"XPGSPV01garbage").expect("corrupt");
    }
    let mut o = opts(vec![scene("cornell_box.gltf")], vec!["raster".to_string()]);
    o.cache_dir = Some(dir.clone());
    o.frames = Some(1);
    let app = run_offscreen(o).expect("corrupt cache");
    assert!(app.compiler().stats().compiles > 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_file_is_reported_and_the_rest_loads() {
    let dir = temp("bad");
    let bad = dir.join("broken.gltf");
    std::fs::write(&bad, "{ not json").expect("write");
    let missing = dir.join("missing.ply");
    let mut app = run_offscreen(opts(
        vec![scene("env_diffuse.gltf"), bad.clone(), missing.clone()],
        vec!["raster".to_string()],
    ))
    .expect("viewer runs");
    let files = app.files().to_vec();
    assert_eq!(files.len(), 3);
    assert!(files[0].error.is_none());
    let e1 = files[1].error.as_deref().expect("broken.gltf fails");
    let e2 = files[2].error.as_deref().expect("missing.ply fails");
    assert!(e1.contains("broken.gltf"), "{e1}");
    assert!(e2.contains("missing.ply"), "{e2}");
    let before = viewport_pixels(&app);
    assert!(distinct_colours(&before) > 50, "the good scene is drawn");
    // Dropping another bad file on the running viewer loses nothing.
    app.open_files(&[bad]);
    let uploads = app.scene_uploads();
    app.frame(None, (320, 200)).expect("frame");
    assert_eq!(app.scene_uploads(), uploads, "a failed file uploads nothing");
    assert_eq!(viewport_pixels(&app), before);
    assert_eq!(app.files().len(), 4);
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn switching_a_viewport_to_path_tracing_keeps_the_scene() {
    let mut app = run_offscreen(opts(vec![scene("cornell_box.gltf")], vec!["raster".to_string()]))
        .expect("viewer runs");
    let raster = viewport_pixels(&app);
    let uploads = app.scene_uploads();
    let id = app.viewports()[0].0;
    app.set_renderer(id, "pathtracer");
    for _ in 0..4 {
        app.frame(None, (320, 200)).expect("frame");
    }
    assert_eq!(app.viewports(), vec![(id, "pathtracer".to_string())]);
    assert_eq!(app.scene_uploads(), uploads, "switching renderers reloads nothing");
    let traced = viewport_pixels(&app);
    // The raster view of the Cornell box shows only the emitter (no area light shading); the
    // path tracer shows the lit walls: many more colours.
    let (r, t) = (distinct_colours(&raster), distinct_colours(&traced));
    println!("distinct colours: raster {r}, path traced {t}");
    assert!(t > 4 * r.max(1), "raster {r}, traced {t}");
    // And back: the raster image returns exactly.
    app.set_renderer(id, "raster");
    app.frame(None, (320, 200)).expect("frame");
    assert_eq!(viewport_pixels(&app), raster);
    assert_eq!(app.validation_messages(), 0);
}

#[test]
fn viewports_are_added_split_and_closed_by_shortcuts() {
    // Ctrl+P adds a path tracing viewport, Ctrl+N a raster one; a click in the first
    // viewport focuses it and X closes it.
    let script = Script::parse(
        "1 key down ctrl\n1 key down p\n2 key up p\n2 key up ctrl\n\
         4 key down ctrl\n4 key down n\n5 key up n\n5 key up ctrl\n\
         8 move 160 120\n8 down left\n9 up left\n10 key down x\n11 key up x\n",
    )
    .expect("script");
    let mut o = opts(vec![scene("env_diffuse.gltf")], vec!["raster".to_string()]);
    o.script = Some(script);
    o.frames = Some(14);
    o.size = (480, 240);
    let app = run_offscreen(o).expect("viewer runs");
    let kinds: Vec<String> = app.viewports().into_iter().map(|(_, k)| k).collect();
    assert_eq!(kinds, vec!["pathtracer".to_string(), "raster".to_string()]);
    assert_eq!(app.validation_messages(), 0);
}

#[test]
fn viewport_screenshots_png_and_exr() {
    let dir = temp("shots");
    let mut app = run_offscreen(opts(vec![scene("env_diffuse.gltf")], vec!["raster".to_string()]))
        .expect("viewer runs");
    let id = app.viewports()[0].0;
    let (png, exr) = (dir.join("vp.png"), dir.join("vp.exr"));
    app.screenshot_viewport(id, png.clone()).expect("png");
    app.frame(None, (320, 200)).expect("frame");
    app.screenshot_viewport(id, exr.clone()).expect("exr");
    app.frame(None, (320, 200)).expect("frame");
    assert!(app.screenshot_viewport(id, dir.join("vp.bmp")).is_err(), "unsupported format");
    let p = image::open(&png).expect("png written").to_rgba8();
    let e = image::open(&exr).expect("exr written").to_rgb32f();
    assert_eq!(p.dimensions(), e.dimensions());
    assert!(p.width() > 150 && p.height() > 100, "{:?}", p.dimensions());
    assert!(e.pixels().all(|px| px.0.iter().all(|v| v.is_finite() && *v >= 0.0)));
    // The PNG is the EXR tonemapped (clamp, sRGB) to within 8-bit rounding.
    let mut worst = 0f32;
    for (a, b) in p.pixels().zip(e.pixels()) {
        for c in 0..3 {
            let enc = linear_to_srgb(b.0[c].clamp(0.0, 1.0)) * 255.0;
            worst = worst.max((enc - f32::from(a.0[c])).abs());
        }
    }
    assert!(worst <= 1.5, "PNG vs tonemapped EXR: {worst}");
    let whole = dir.join("window.png");
    app.save_window(&whole).expect("window");
    assert_eq!(image::open(&whole).expect("window png").width(), 320);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

fn linear_to_srgb(c: f32) -> f32 {
    if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

/// Columns `x0..x1`, rows 48..140 (below the viewports' toolbars, above the error overlay
/// that covers the bottom third while a shader or pass error stands) of the window image.
fn region(app: &viewer::app::App, x0: u32, x1: u32) -> Vec<u8> {
    let (w, h, px) = app.read_window().expect("read window");
    let mut out = Vec::new();
    for y in 48..140.min(h - 8) {
        for x in x0..x1.min(w) {
            let i = ((y * w + x) * 4) as usize;
            out.extend_from_slice(&px[i..i + 3]);
        }
    }
    out
}

fn mean_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len().max(1) as f64
}

#[test]
fn visibility_masks_are_per_viewport() {
    // Two viewports of the same renderer; hiding every mesh in the first changes it and
    // leaves the second exactly as without any mask.
    for kind in ["raster".to_string(), "pathtracer".to_string()] {
        let run = |hide: bool| {
            let mut o = opts(vec![scene("env_diffuse.gltf")], vec![kind.clone(), kind.clone()]);
            o.size = (480, 240);
            o.frames = Some(3);
            let mut app = run_offscreen(o).expect("viewer runs");
            let first = app.viewports()[0].0;
            if hide {
                for n in app.mesh_nodes() {
                    app.set_node_visible(first, n, false);
                }
            }
            for _ in 0..3 {
                app.frame(None, (480, 240)).expect("frame");
            }
            assert_eq!(app.validation_messages(), 0);
            app
        };
        let plain = run(false);
        let mut masked = run(true);
        if let Some(d) = std::env::var_os("XPG_SAVE_IMAGES") {
            masked.save_window(&Path::new(&d).join(format!("masked_{kind:?}.png"))).expect("save");
        }
        let (v1, v2) = ((130, 270), (320, 470));
        let d1 = mean_diff(&region(&plain, v1.0, v1.1), &region(&masked, v1.0, v1.1));
        let d2 = mean_diff(&region(&plain, v2.0, v2.1), &region(&masked, v2.0, v2.1));
        println!("{kind:?}: masked viewport differs by {d1:.2}, the other by {d2:.4}");
        assert!(d1 > 5.0, "{kind:?}: hiding every mesh changed the viewport ({d1})");
        assert_eq!(d2, 0.0, "{kind:?}: the other viewport is unaffected");
        assert!(!masked.mesh_nodes().is_empty());
        if kind == "raster" {
            // Shown again: the raster image comes back exactly.
            let first = masked.viewports()[0].0;
            for n in masked.mesh_nodes() {
                masked.set_node_visible(first, n, true);
            }
            masked.frame(None, (480, 240)).expect("frame");
            assert_eq!(region(&masked, v1.0, v1.1), region(&plain, v1.0, v1.1));
        }
    }
}

#[test]
fn stats_and_framegraph_panels() {
    let mut o = opts(vec![scene("env_diffuse.gltf")], vec!["raster".to_string()]);
    o.panels = viewer::app::Panels { stats: true, graph: true, inspector: true };
    o.frames = Some(3);
    let mut app = run_offscreen(o).expect("viewer runs");
    let dir = temp("dot");
    let file = dir.join("plan.dot");
    app.export_framegraph_dot(file.clone());
    app.frame(None, (320, 200)).expect("frame");
    let dot = std::fs::read_to_string(&file).expect("DOT written");
    assert_eq!(dot, app.framegraph_dot());
    assert!(dot.starts_with("digraph"), "{dot}");
    for pass in ["imgui", "viewport 1 tonemap", "raster forward"] {
        assert!(dot.contains(pass), "the DOT names pass '{pass}'");
        assert!(app.framegraph_text().contains(pass));
    }
    assert!(app.framegraph_text().contains("barrier"));
    assert!(app.stats.passes.iter().any(|(n, _)| n == "raster forward"), "{:?}", app.stats.passes);
    assert_eq!(app.validation_messages(), 0);
    // Closed panels keep nothing.
    let plain = run_offscreen(opts(vec![scene("env_diffuse.gltf")], vec!["raster".to_string()]))
        .expect("viewer runs");
    assert!(plain.framegraph_dot().is_empty());
}

#[test]
fn inspector_edits_reach_both_renderers() {
    let mut o =
        opts(vec![scene("env_diffuse.gltf")], vec!["raster".to_string(), "pathtracer".to_string()]);
    o.size = (480, 240);
    o.frames = Some(6);
    let mut app = run_offscreen(o).expect("viewer runs");
    let pt = app.viewports()[1].0;
    let (v1, v2) = ((130, 270), (320, 470));
    let raster_before = region(&app, v1.0, v1.1);
    let traced_before = region(&app, v2.0, v2.1);
    let samples_before = app.samples(pt).expect("pt");
    // The red ball turns green.
    app.edit_scene(|s| {
        let node = s.nodes.iter().position(|n| n.name == "red_ball").expect("red_ball");
        let mesh = s.nodes[node].mesh.expect("mesh");
        let mat = s.meshes[mesh].primitives[0].material;
        if let Some(m) = s.material_mut(mat) {
            m.base_color = [0.1, 0.9, 0.1, 1.0];
        }
    });
    for _ in 0..2 {
        app.frame(None, (480, 240)).expect("frame");
    }
    let samples_after = app.samples(pt).expect("pt");
    assert!(
        samples_after < samples_before,
        "accumulation restarted ({samples_before} -> {samples_after})"
    );
    let raster_after = region(&app, v1.0, v1.1);
    let traced_after = region(&app, v2.0, v2.1);
    // More green than before in both.
    let green = |px: &[u8]| {
        px.chunks_exact(3)
            .filter(|c| c[1] > c[0].saturating_add(40) && c[1] > c[2].saturating_add(40))
            .count()
    };
    println!(
        "green pixels: raster {} -> {}, path traced {} -> {}",
        green(&raster_before),
        green(&raster_after),
        green(&traced_before),
        green(&traced_after)
    );
    assert!(green(&raster_after) > green(&raster_before) + 200);
    assert!(green(&traced_after) > green(&traced_before) + 200);
    // A transform: the white ball moves up; the raster image changes, the uploads do not.
    let uploads = app.scene_uploads();
    app.edit_scene(|s| {
        let node = s.nodes.iter().position(|n| n.name == "white_ball").expect("white_ball");
        let local = glam::Mat4::from_translation(glam::Vec3::Y * 0.5) * s.nodes[node].local;
        s.set_local_transform(node, local);
    });
    app.frame(None, (480, 240)).expect("frame");
    assert_eq!(app.scene_uploads(), uploads, "updated in place");
    let moved = region(&app, v1.0, v1.1);
    assert!(mean_diff(&moved, &raster_after) > 1.0);
    assert_eq!(app.validation_messages(), 0);
}

const INVERT_TOML: &str = "insert = \"after_tonemap\"\n[[target]]\nname = \"color\"\naccess = \"read_write\"\nbinding = 0\n";
const INVERT_SLANG: &str = "[[vk::binding(0, 1)]] [format(\"rgba8\")] RWTexture2D<float4> color;\n\
struct Push { uint width; uint height; };\n[[vk::push_constant]] ConstantBuffer<Push> pc;\n\
[shader(\"compute\")]\n[numthreads(8, 8, 1)]\nvoid main(uint3 id: SV_DispatchThreadID)\n{\n\
    if (id.x >= pc.width || id.y >= pc.height) return;\n    float4 c = color[id.xy];\n\
    color[id.xy] = float4(1.0 - c.rgb, c.a);\n}\n";

#[test]
fn custom_passes_from_a_folder() {
    let dir = temp("passes");
    std::fs::write(dir.join("invert.toml"), INVERT_TOML).expect("write");
    std::fs::write(dir.join("invert.slang"), INVERT_SLANG).expect("write");
    // A pass naming a target that does not exist is rejected with its file named.
    std::fs::write(
        dir.join("bad.toml"),
        "insert = \"before_tonemap\"\n[[target]]\nname = \"normals\"\nbinding = 0\n",
    )
    .expect("write");
    // A pass reading the depth: a path tracing viewport has none, and says so.
    let depth_dir = temp("passes-depth");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/passes");
    for f in ["depth_false_color.toml", "depth_false_color.slang"] {
        std::fs::copy(examples.join(f), depth_dir.join(f)).expect("copy example");
    }
    let run = |dirs: Vec<PathBuf>, kinds: Vec<String>| {
        let mut o = opts(vec![scene("env_diffuse.gltf")], kinds);
        o.size = (480, 240);
        o.msaa = 1;
        o.pass_dirs = dirs;
        run_offscreen(o).expect("viewer runs")
    };
    let plain = run(vec![], vec!["raster".to_string()]);
    let with = run(vec![dir.clone()], vec!["raster".to_string()]);
    let (names, errors) = with.user_passes();
    assert_eq!(names, vec!["invert".to_string()]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("bad.toml") && errors[0].contains("unknown target 'normals'"));
    let (a, b) = (region(&plain, 150, 470), region(&with, 150, 470));
    let inverted = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| (255 - i32::from(**x) - i32::from(**y)).abs() <= 1)
        .count();
    println!("{inverted} of {} channels inverted", a.len());
    assert!(inverted as f64 > 0.99 * a.len() as f64, "the pass inverted the viewport");
    assert_eq!(with.validation_messages(), 0);

    // The depth pass: the raster (single-sampled) shows false color, the path tracer reports.
    let both = run(vec![depth_dir.clone()], vec!["raster".to_string(), "pathtracer".to_string()]);
    let (r, p) = (both.viewports()[0].0, both.viewports()[1].0);
    assert!(both.viewport_pass_error(r).is_none());
    let e = both.viewport_pass_error(p).expect("the path tracer has no depth");
    assert!(e.contains("depth_false_color") && e.contains("depth"), "{e}");
    // The raster viewport is false color: saturated reds, yellows, greens, blues.
    let px = region(&both, 130, 270);
    let saturated = px
        .chunks_exact(3)
        .filter(|c| {
            c.iter().max().copied().unwrap_or(0) > 200 && c.iter().min().copied().unwrap_or(0) < 40
        })
        .count();
    // (The sky, at depth 1, is black.)
    let black = px.chunks_exact(3).filter(|c| c.iter().all(|&v| v < 8)).count();
    let n = px.len() / 3;
    println!("false color: {saturated} saturated, {black} black of {n}");
    assert!(saturated * 5 > n && (saturated + black) * 10 > n * 9, "false color");
    assert_eq!(both.validation_messages(), 0);
    drop((plain, with, both));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&depth_dir);
}

#[test]
fn custom_passes_reload_like_shaders() {
    let dir = temp("passes-reload");
    std::fs::write(dir.join("invert.toml"), INVERT_TOML).expect("write");
    std::fs::write(dir.join("invert.slang"), INVERT_SLANG).expect("write");
    let mut o = opts(vec![scene("env_diffuse.gltf")], vec!["raster".to_string()]);
    o.size = (480, 240);
    o.pass_dirs = vec![dir.clone()];
    o.hot_reload = true;
    let mut app = run_offscreen(o).expect("viewer runs");
    let before = region(&app, 130, 270);
    // The pass now writes black.
    let text = INVERT_SLANG.replace("float4(1.0 - c.rgb, c.a)", "float4(0.0, 0.0, 0.0, c.a)");
    std::fs::write(dir.join("invert.slang"), text).expect("edit");
    let t = std::time::Instant::now();
    while app.reloads() < 1 {
        assert!(t.elapsed().as_secs() < 240, "no reload of the pass");
        app.frame(None, (480, 240)).expect("frame");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    app.frame(None, (480, 240)).expect("frame");
    let after = region(&app, 130, 270);
    assert!(after.iter().all(|&v| v == 0), "the edited pass runs");
    assert!(before.iter().any(|&v| v > 0));
    // A broken TOML: reported, the last good pass keeps running.
    std::fs::write(dir.join("invert.toml"), "insert = \"sideways\"\n").expect("break");
    let t = std::time::Instant::now();
    while app.user_passes().1.is_empty() {
        assert!(t.elapsed().as_secs() < 240, "no error reported");
        app.frame(None, (480, 240)).expect("frame");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let e = app.user_passes().1.join("\n");
    assert!(e.contains("invert.toml") && e.contains("line 1"), "{e}");
    app.frame(None, (480, 240)).expect("frame");
    assert_eq!(app.user_passes().0, vec!["invert".to_string()], "the last good pass stays");
    // (Above the error overlay, which covers the bottom third.)
    let (w, _, px) = app.read_window().expect("read");
    let top: Vec<u8> = (48..140u32)
        .flat_map(|y| (130..270u32).map(move |x| (y, x)))
        .flat_map(|(y, x)| px[((y * w + x) * 4) as usize..][..3].to_vec())
        .collect();
    assert!(top.iter().all(|&v| v == 0), "the last good pass still runs");
    // Fixed, and a new pass file dropped into the folder: both load.
    std::fs::write(dir.join("invert.toml"), INVERT_TOML).expect("fix");
    std::fs::write(dir.join("zz_second.slang"), INVERT_SLANG).expect("write");
    std::fs::write(dir.join("zz_second.toml"), INVERT_TOML).expect("write");
    let t = std::time::Instant::now();
    while app.user_passes().0.len() < 2 || !app.user_passes().1.is_empty() {
        assert!(
            t.elapsed().as_secs() < 240,
            "the new pass was not loaded: {:?}",
            app.user_passes()
        );
        app.frame(None, (480, 240)).expect("frame");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(app.user_passes().0, vec!["invert".to_string(), "zz_second".to_string()]);
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_opaque_passes() {
    let dir = temp("passes-opaque");
    std::fs::write(
        dir.join("blue.toml"),
        "insert = \"after_opaque\"\n[[target]]\nname = \"color\"\naccess = \"write\"\nbinding = 0\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("blue.slang"),
        "[[vk::binding(0, 1)]] [format(\"rgba16f\")] RWTexture2D<float4> color;\n\
         struct Push { uint width; uint height; };\n[[vk::push_constant]] ConstantBuffer<Push> pc;\n\
         [shader(\"compute\")]\n[numthreads(8, 8, 1)]\nvoid main(uint3 id: SV_DispatchThreadID)\n\
         { if (id.x < pc.width && id.y < pc.height) color[id.xy] = float4(0, 0, 1, 1); }\n",
    )
    .expect("write");
    for msaa in [1, 4] {
        let mut o = opts(
            vec![scene("env_diffuse.gltf")],
            vec!["raster".to_string(), "pathtracer".to_string()],
        );
        o.size = (480, 240);
        o.msaa = msaa;
        o.pass_dirs = vec![dir.clone()];
        let app = run_offscreen(o).expect("viewer runs");
        let (r, p) = (app.viewports()[0].0, app.viewports()[1].0);
        let blue = |px: &[u8]| px.chunks_exact(3).all(|c| c[0] == 0 && c[1] == 0 && c[2] == 255);
        // The path tracer runs it after its image.
        assert!(blue(&region(&app, 320, 470)), "path tracer viewport");
        assert!(app.viewport_pass_error(p).is_none());
        if msaa == 1 {
            assert!(blue(&region(&app, 130, 270)), "raster viewport");
            assert!(app.viewport_pass_error(r).is_none());
        } else {
            let e = app.viewport_pass_error(r).expect("multisampled: reported");
            assert!(e.contains("--msaa 1"), "{e}");
            assert!(!blue(&region(&app, 130, 270)), "the raster renders without the pass");
        }
        assert_eq!(app.validation_messages(), 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A renderer of the test's own: clears its target to a colour it takes as a setting.
struct Solid {
    red: f32,
}

impl render::Renderer for Solid {
    fn name(&self) -> &str {
        "solid"
    }
    fn add_passes<'g>(
        &'g mut self,
        graph: &mut framegraph::FrameGraph<'g>,
        _scene: &'g render::GpuScene,
        _view: &scene::View,
        targets: render::RenderTargets<'_>,
        _hooks: &mut render::Hooks<'_, 'g>,
    ) -> Result<render::RenderOutputs, render::RenderError> {
        let (c, red) = (*targets.color, self.red);
        graph
            .add_pass("solid")
            .write(targets.color, framegraph::Access::TransferDst)
            .record(move |pass| pass.clear_color(&c, [red, 0.0, 0.0, 1.0]));
        Ok(render::RenderOutputs::default())
    }
    fn settings(&self) -> Vec<render::Setting> {
        vec![render::Setting::quantity("red", "red", self.red, 0.0, 1.0)]
    }
    fn set(&mut self, key: &str, value: render::SettingValue) -> Result<(), render::RenderError> {
        if let render::SettingValue::Float(x) =
            render::check_setting("solid", &self.settings(), key, value)?
        {
            self.red = x;
        }
        Ok(())
    }
}

/// A program's own renderer goes through the registry like the built-ins: a viewport opens
/// with it beside the raster, its settings come from the options (as `--set` gives them) and
/// from the settings API the UI uses, switching a viewport to it and back works, and an
/// unknown setting is refused with the known ones named.
#[test]
fn a_registered_renderer_runs_beside_the_builtins() {
    let mut registry = viewer::builtin_registry();
    registry.register("solid", |_init| Ok(Box::new(Solid { red: 0.0 })));
    let mut o = opts(vec![scene("env_diffuse.gltf")], vec!["raster".into(), "solid".into()]);
    o.registry = registry;
    o.renderer_settings = vec![("solid".into(), "red".into(), render::SettingValue::Float(1.0))];
    let mut app = run_offscreen(o).expect("viewer runs");
    let ids: Vec<(u32, String)> = app.viewports();
    assert_eq!(ids[1].1, "solid");
    let solid = ids[1].0;
    assert_eq!(app.viewport_error(solid), None);
    let red = app.renderer_settings(solid);
    assert_eq!(red[0].value, render::SettingValue::Float(1.0), "the option's value");
    let dir = temp("custom-renderer");
    let png = dir.join("solid.png");
    app.screenshot_viewport(solid, png.clone()).expect("png");
    app.frame(None, (320, 200)).expect("frame");
    let p = image::open(&png).expect("png written").to_rgba8();
    assert!(
        p.pixels().all(|px| px.0 == [255, 0, 0, 255]),
        "cleared to red: {:?}",
        p.get_pixel(0, 0)
    );
    app.set_renderer_setting(solid, "red", render::SettingValue::Float(0.0)).expect("set");
    let e = app
        .set_renderer_setting(solid, "blue", render::SettingValue::Float(0.0))
        .expect_err("unknown key");
    assert!(format!("{e:#}").contains("no setting 'blue'") && format!("{e:#}").contains("red"));
    app.screenshot_viewport(solid, png.clone()).expect("png");
    app.frame(None, (320, 200)).expect("frame");
    let p = image::open(&png).expect("png written").to_rgba8();
    assert!(p.pixels().all(|px| px.0 == [0, 0, 0, 255]), "now black: {:?}", p.get_pixel(0, 0));
    // Switch the raster viewport to it and back.
    let raster = ids[0].0;
    app.set_renderer(raster, "solid");
    app.frame(None, (320, 200)).expect("frame");
    app.set_renderer(raster, "raster");
    app.frame(None, (320, 200)).expect("frame");
    assert_eq!(app.viewports()[0].1, "raster");
    assert_eq!(app.validation_messages(), 0);
}

/// A program embeds the viewer: a scene built in code, moved every frame by `on_frame`
/// through the scene's setters (updated in place: one upload), recoloured by its `on_ui`
/// callback, which also draws a window of its own; the clock advances by the fixed step.
#[test]
fn a_program_embeds_the_viewer_with_a_scene_in_code() {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    let mesh = |p| scene::Mesh { name: "m".into(), primitives: vec![p] };
    let mut s = scene::Scene {
        materials: vec![
            scene::Material::lambert("floor", [0.5; 3]),
            scene::Material::lambert("box", [0.8, 0.1, 0.1]),
        ],
        meshes: vec![mesh(scene::shapes::plane(0, 3.0)), mesh(scene::shapes::cube(1))],
        ..Default::default()
    };
    s.nodes.push(scene::Node::new("floor", glam::Mat4::IDENTITY).with_mesh(0));
    s.nodes.push(scene::Node::new("box", glam::Mat4::from_translation(glam::Vec3::Y)).with_mesh(1));
    s.update_world();
    let times = Rc::new(RefCell::new(Vec::new()));
    let ui_calls = Rc::new(Cell::new(0u32));
    let green = Rc::new(Cell::new(false));
    let (t2, u2, g2) = (times.clone(), ui_calls.clone(), green.clone());
    let mut o = opts(Vec::new(), vec!["raster".to_string()]);
    o.size = (480, 240);
    let mut app = viewer::Viewer::with_options(o)
        .scene(s)
        .on_frame(move |f| {
            t2.borrow_mut().push((f.frame, f.time));
            // The box slides along x, one step per frame.
            let x = f.frame as f32 * 0.4 - 1.0;
            let local = glam::Mat4::from_translation(glam::Vec3::new(x, 1.0, 0.0));
            assert!(f.scene.set_local_transform(1, local));
        })
        .on_ui(move |ui, f| {
            u2.set(u2.get() + 1);
            ui.window("Program panel").size([200.0, 60.0], imgui::Condition::Always).build(|| {
                ui.text("from the program");
            });
            if g2.get() {
                if let Some(m) = f.scene.material_mut(1) {
                    m.base_color = [0.1, 0.8, 0.1, 1.0];
                }
                g2.set(false);
            }
        })
        .run_offscreen(2)
        .expect("viewer runs");
    assert_eq!(app.scene_uploads(), 1);
    let first = viewport_pixels(&app);
    app.frame(None, (480, 240)).expect("frame");
    let moved = viewport_pixels(&app);
    assert!(mean_diff(&first, &moved) > 0.5, "the box moved: {}", mean_diff(&first, &moved));
    let reds = |px: &[u8]| {
        px.chunks_exact(3).filter(|c| c[0] > c[1].saturating_add(60) && c[0] > c[2] + 60).count()
    };
    let greens = |px: &[u8]| {
        px.chunks_exact(3).filter(|c| c[1] > c[0].saturating_add(60) && c[1] > c[2] + 60).count()
    };
    assert!(reds(&moved) > 100, "a red box: {} red pixels", reds(&moved));
    green.set(true);
    app.frame(None, (480, 240)).expect("frame");
    let recoloured = viewport_pixels(&app);
    println!("red {} -> {}, green {}", reds(&moved), reds(&recoloured), greens(&recoloured));
    assert!(greens(&recoloured) > 100 && reds(&recoloured) < reds(&moved) / 10);
    assert_eq!(app.scene_uploads(), 1, "transforms and materials are updated in place");
    let times = times.borrow();
    assert_eq!(times.len(), 4);
    for (i, (frame, t)) in times.iter().enumerate() {
        assert_eq!(*frame, i as u64);
        assert!((t - (i + 1) as f64 / 60.0).abs() < 1e-6, "time {t} at frame {frame}");
    }
    assert_eq!(ui_calls.get(), 4);
    assert_eq!(app.scene().nodes[1].world.w_axis.x, 3.0 * 0.4 - 1.0);
    assert_eq!(app.validation_messages(), 0);
}

/// The Cornell box emits but has no punctual light or environment: the viewer gives it the
/// default lighting (emission lights nothing else), unless asked for the file's own light
/// only.
#[test]
fn emitting_files_get_the_default_lighting_unless_asked_not_to() {
    let mut o = opts(vec![scene("cornell_box.gltf")], vec!["raster".to_string()]);
    o.frames = Some(1);
    let app = run_offscreen(o.clone()).expect("viewer runs");
    assert!(app.scene().lights.iter().any(|l| l.name == "default key"));
    assert_eq!(app.scene().environment, scene::Environment::Uniform([0.25; 3]));
    let own = run_offscreen(ViewerOptions { default_lighting: false, ..o }).expect("viewer runs");
    assert!(own.scene().lights.is_empty());
    assert_eq!(own.scene().environment, scene::Environment::None);
}

/// A glTF file of a triangle moving 2 units along +x over 0..2 s (two linear keys).
fn animated_triangle(dir: &Path) -> PathBuf {
    let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut bin = f(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]); // positions: 36 bytes
    bin.extend(f(&[0.0, 2.0])); // times at 36
    bin.extend(f(&[0.0, 0.0, 0.0, 2.0, 0.0, 0.0])); // translations at 44
    std::fs::write(dir.join("tri.bin"), &bin).expect("bin");
    let gltf = r#"{"asset":{"version":"2.0"},"scene":0,"scenes":[{"nodes":[0]}],
        "nodes":[{"mesh":0}],
        "meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}],
        "animations":[{"samplers":[{"input":1,"output":2}],
            "channels":[{"sampler":0,"target":{"node":0,"path":"translation"}}]}],
        "buffers":[{"uri":"tri.bin","byteLength":68}],
        "bufferViews":[{"buffer":0,"byteOffset":0,"byteLength":36},
                       {"buffer":0,"byteOffset":36,"byteLength":8},
                       {"buffer":0,"byteOffset":44,"byteLength":24}],
        "accessors":[
          {"bufferView":0,"componentType":5126,"count":3,"type":"VEC3","min":[0,0,0],"max":[1,1,0]},
          {"bufferView":1,"componentType":5126,"count":2,"type":"SCALAR","min":[0],"max":[2]},
          {"bufferView":2,"componentType":5126,"count":2,"type":"VEC3"}]}"#;
    let path = dir.join("tri.gltf");
    std::fs::write(&path, gltf).expect("gltf");
    path
}

#[test]
fn timeline_keys_play_step_and_jump_and_export_writes_the_viewports_frames() {
    let dir = temp("timeline");
    // Space pauses; End jumps to the last frame; Left twice steps back two frames (30 fps);
    // Home goes to the first; Right once.
    let script = Script::parse(
        "2 key down space\n3 key up space\n4 key down end\n5 key up end\n\
         6 key down left\n7 key up left\n8 key down left\n9 key up left\n",
    )
    .expect("script");
    let mut o = opts(vec![animated_triangle(&dir)], vec!["raster".to_string()]);
    o.script = Some(script);
    o.frames = Some(11);
    let mut app = run_offscreen(o).expect("viewer runs");
    let p = app.playback();
    assert!(!p.playing, "Space paused");
    assert!((p.time - (2.0 - 2.0 / 30.0)).abs() < 1e-9, "End, then two steps back: {}", p.time);
    let x = app.scene().nodes[0].local.w_axis.x;
    assert!((f64::from(x) - p.time).abs() < 1e-5, "the scene is at the time: {x}");
    app.playback_command(viewer::app::PlaybackCommand::First);
    assert_eq!(app.playback().time, 0.0);
    app.frame(None, (320, 200)).expect("frame");
    // The Export button's work: frames 0-2 of the active viewport, at its size.
    let form = viewer::app::ExportForm {
        first: 0,
        last: 2,
        fps: 10.0,
        out: dir.join("e_%02d.png").display().to_string(),
        ..Default::default()
    };
    app.export_frames(form).expect("export starts");
    assert!(app.exporting());
    let summary = app.wait_export().expect("a job").expect("export");
    assert_eq!(summary.frames, 3);
    let (w, h) = image::image_dimensions(dir.join("e_02.png")).expect("frame 2");
    assert!(w > 100 && h > 100 && w < 320, "the viewport's size, not the window's: {w}x{h}");
    let (f0, f2) = (
        image::open(dir.join("e_00.png")).expect("0").to_rgba8(),
        image::open(dir.join("e_02.png")).expect("2").to_rgba8(),
    );
    assert_ne!(f0.as_raw(), f2.as_raw(), "the triangle moved between frames 0 and 2");
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
