//! The `xpg-view render` command line: outputs and errors.

use std::path::PathBuf;
use std::process::Command;

fn scene(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/refs/scenes").join(name)
}

fn xpg_view(args: &[&str]) -> (bool, String) {
    // Never the developer's own config file.
    let home = std::env::temp_dir().join(format!("xpg-cli-home-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_xpg-view"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("XDG_CONFIG_HOME", &home)
        .output()
        .expect("run xpg-view");
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn render_writes_png_and_exr_and_reports_bad_input() {
    let dir = std::env::temp_dir().join(format!("xpg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    let furnace = scene("furnace_sphere.gltf");
    let furnace = furnace.to_str().expect("utf-8 path");
    let png = dir.join("f.png");
    let (ok, text) = xpg_view(&[
        "render",
        furnace,
        "--out",
        png.to_str().expect("path"),
        "--size",
        "48x32",
        "--validation",
    ]);
    assert!(ok, "{text}");
    let img = image::open(&png).expect("png").to_rgba8();
    assert_eq!(img.dimensions(), (48, 32));
    // The background is the environment (radiance 1 -> white after the sRGB transform).
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255, 255]);

    let exr = dir.join("f.exr");
    let (ok, text) =
        xpg_view(&["render", furnace, "--out", exr.to_str().expect("path"), "--size", "32x32"]);
    assert!(ok, "{text}");
    let hdr = image::open(&exr).expect("exr").to_rgb32f();
    let center = hdr.get_pixel(16, 16).0;
    assert!((center[0] - 0.8).abs() < 2e-3, "linear radiance of the sphere: {center:?}");

    // Default size: 1280 wide at the camera's aspect ratio (1:1 here).
    let def = dir.join("d.png");
    let (ok, text) = xpg_view(&["render", furnace, "--out", def.to_str().expect("path")]);
    assert!(ok, "{text}");
    assert_eq!(image::open(&def).expect("png").to_rgba8().dimensions(), (1280, 1280));

    let (ok, text) = xpg_view(&["render", "missing.gltf", "--out", png.to_str().expect("path")]);
    assert!(!ok && text.contains("missing.gltf"), "{text}");
    let (ok, text) = xpg_view(&["render", furnace, "--out", "out.bmp"]);
    assert!(
        !ok && text.contains("out.bmp") && text.contains("unsupported output format"),
        "{text}"
    );
    let (ok, text) =
        xpg_view(&["render", furnace, "--out", png.to_str().expect("path"), "--size", "12"]);
    assert!(!ok && text.contains("WxH"), "{text}");
    let (ok, text) =
        xpg_view(&["render", furnace, "--out", png.to_str().expect("path"), "--camera", "nope"]);
    assert!(!ok && text.contains("nope"), "{text}");

    // --grid draws over the scene (the many_lights floor is the y = 0 plane); a spacing that
    // is not positive is an error naming the flag.
    let lights = scene("many_lights.gltf");
    let lights = lights.to_str().expect("utf-8 path");
    let render = |name: &str, extra: &[&str]| {
        let out = dir.join(name);
        let mut args = vec!["render", lights, "--out", out.to_str().expect("path")];
        args.extend(["--size", "48x32", "--validation"]);
        args.extend(extra);
        let (ok, text) = xpg_view(&args);
        assert!(ok, "{text}");
        image::open(&out).expect("png").to_rgba8()
    };
    let plain = render("plain.png", &[]);
    let grid = render("grid.png", &["--grid=0.25"]);
    let changed = plain.pixels().zip(grid.pixels()).filter(|(a, b)| a != b).count();
    assert!(changed > 48 * 32 / 20, "the grid changed {changed} pixels");
    render("grid_z.png", &["--grid", "--up", "z"]);
    let (ok, text) = xpg_view(&["render", lights, "--out", "g.png", "--grid=0"]);
    assert!(!ok && text.contains("--grid=0") && text.contains("spacing"), "{text}");
    // `--grid` takes no separate value (the scene path after it stays the scene), and `--up`
    // alone is an error.
    let out = dir.join("g2.png");
    let (ok, text) = xpg_view(&["render", "--grid", lights, "--out", out.to_str().expect("path")]);
    assert!(ok, "{text}");
    let (ok, text) = xpg_view(&["render", lights, "--out", "g.png", "--up", "z"]);
    assert!(!ok && text.contains("--grid"), "{text}");
}

/// `render --aov` writes what the path tracer's samples hit first next to the image: on the
/// furnace sphere (albedo 0.8 in a uniform environment) the sphere's albedo, unit normals and
/// finite distances, and around it albedo 1, no normal and infinite distances. The raster has
/// none.
#[test]
fn render_writes_the_path_tracers_aovs() {
    let dir = std::env::temp_dir().join(format!("xpg-cli-aov-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    let furnace = scene("furnace_sphere.gltf");
    let furnace = furnace.to_str().expect("utf-8 path");
    let out = dir.join("f.exr");
    let out = out.to_str().expect("path");
    let args = ["render", furnace, "--out", out, "--size", "32x32", "--spp", "4"];
    let (ok, text) = xpg_view(&[&args[..], &["--renderer", "pathtracer", "--aov"]].concat());
    assert!(ok, "{text}");
    assert!(text.contains("f_albedo.exr") && text.contains("f_depth.exr"), "{text}");
    let read = |name: &str| image::open(dir.join(name)).expect(name).to_rgb32f();
    let (albedo, normal, depth) = (read("f_albedo.exr"), read("f_normal.exr"), read("f_depth.exr"));
    let centre = (16, 16);
    let a = albedo.get_pixel(centre.0, centre.1).0;
    assert!(a.iter().all(|c| (c - 0.8).abs() < 1e-3), "the sphere's albedo: {a:?}");
    assert_eq!(albedo.get_pixel(0, 0).0, [1.0; 3], "the environment");
    let n = normal.get_pixel(centre.0, centre.1).0;
    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    assert!((len - 1.0).abs() < 1e-3, "a unit normal: {n:?}");
    assert_eq!(normal.get_pixel(0, 0).0, [0.0; 3]);
    let d = depth.get_pixel(centre.0, centre.1).0[0];
    assert!(d.is_finite() && d > 0.0, "distance to the sphere: {d}");
    assert!(depth.get_pixel(0, 0).0[0].is_infinite());
    let (ok, text) = xpg_view(&[&args[..], &["--aov"]].concat());
    assert!(!ok && text.contains("--aov"), "{text}");
}

/// `--write-config` writes the defaults (which parse back to them); a config file with a bad
/// value stops the viewer with its file name and line; flags override the file.
#[test]
fn config_file_written_read_and_rejected() {
    let dir = std::env::temp_dir().join(format!("xpg-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    let cfg = dir.join("sub/config.toml");
    let arg = format!("--write-config={}", cfg.display());
    let (ok, text) = xpg_view(&[&arg]);
    assert!(ok, "{text}");
    let written = viewer::config::Config::load(&cfg).expect("written config parses");
    assert_eq!(written, viewer::config::Config::default());
    // It never overwrites a file.
    let (ok, text) = xpg_view(&[&arg]);
    assert!(!ok && text.contains("exists"), "{text}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[renderer]\nmsaa = 3\n").expect("write");
    let furnace = scene("furnace_sphere.gltf");
    let (ok, text) = xpg_view(&[
        furnace.to_str().expect("path"),
        "--config",
        bad.to_str().expect("path"),
        "--offscreen",
        "64x48",
        "--no-cache",
    ]);
    assert!(!ok, "a bad config is an error");
    assert!(text.contains("bad.toml") && text.contains("line 2"), "{text}");

    // A good file whose values the flags override.
    let shot = dir.join("shot.png");
    std::fs::write(&bad, "[window]\nsize = [100, 80]\n[renderer]\nmsaa = 2\n").expect("write");
    let (ok, text) = xpg_view(&[
        furnace.to_str().expect("path"),
        "--config",
        bad.to_str().expect("path"),
        "--offscreen",
        "96x64",
        "--msaa",
        "1",
        "--frames",
        "2",
        "--screenshot",
        shot.to_str().expect("path"),
        "--no-cache",
        "--validation",
    ]);
    assert!(ok, "{text}");
    assert_eq!(image::open(&shot).expect("shot").width(), 96, "--offscreen overrides [window]");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--write-config` without a file writes the user's config file (the README's promise; it
/// used to fail with "a value is required"); renderer settings from `--set` are checked
/// against the renderer and name it.
#[test]
fn write_config_defaults_to_the_users_file_and_set_is_checked() {
    let home = std::env::temp_dir().join(format!("xpg-cli-home-{}", std::process::id()));
    let path = home.join("xpg-view/config.toml");
    let _ = std::fs::remove_file(&path);
    let (ok, text) = xpg_view(&["--write-config"]);
    assert!(ok, "{text}");
    assert!(text.contains("config.toml"), "{text}");
    let written = viewer::config::Config::load(&path).expect("written config parses");
    assert_eq!(written, viewer::config::Config::default());
    let _ = std::fs::remove_file(&path);

    let furnace = scene("furnace_sphere.gltf");
    let furnace = furnace.to_str().expect("utf-8 path");
    let (ok, text) = xpg_view(&[furnace, "--offscreen", "64x48", "--set", "nosuch.spp=2"]);
    assert!(!ok && text.contains("unknown renderer 'nosuch'"), "{text}");
    let (ok, text) = xpg_view(&[
        furnace,
        "--offscreen",
        "64x48",
        "--no-cache",
        "--viewports",
        "raster",
        "--set",
        "raster.shadow_size=2048",
    ]);
    assert!(ok, "{text}");
    let (ok, text) = xpg_view(&["render", furnace, "--out", "x.png", "--set", "shadow_size=1"]);
    assert!(!ok && text.contains("shadow_size = 1") && text.contains("256 ..= 8192"), "{text}");
}

/// Sequences on the command line: `--sequence` with `--fps`, a folder with `--timestamps`
/// (its other columns plotted), a CSV of series beside a scene; a file that fails is reported
/// by name, the export goes on to the end and the command fails.
#[test]
fn render_sequences_at_a_rate_or_timestamps_and_report_failed_frames() {
    let dir = std::env::temp_dir().join(format!("xpg-cli-seq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let frames = dir.join("scans");
    std::fs::create_dir_all(&frames).expect("tempdir");
    for k in 0..6 {
        let body = if k == 3 {
            "ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nend_header\n1\n".to_string()
        } else {
            let mut b = String::from(
                "ply\nformat ascii 1.0\nelement vertex 30\nproperty float x\nproperty float y\nproperty float z\nend_header\n",
            );
            for i in 0..30 {
                b += &format!("{} {} 0\n", -1.0 + k as f32 * 0.3, -1.0 + i as f32 * 0.07);
            }
            b
        };
        std::fs::write(frames.join(format!("scan{k}.ply")), body).expect("ply");
    }
    let pattern = format!("{}/scan*.ply", frames.display());
    let out = dir.join("o_%02d.png");
    let (ok, text) = xpg_view(&[
        "render",
        "--sequence",
        &pattern,
        "--fps",
        "10",
        "--frames",
        "0-5",
        "--out",
        out.to_str().expect("path"),
        "--size",
        "48x32",
        "--validation",
    ]);
    assert!(!ok, "a failed frame fails the command: {text}");
    assert!(text.contains("frame 3") && text.contains("scan3.ply"), "{text}");
    assert!(text.contains("1 of 6 frames"), "{text}");
    for k in 0..6 {
        assert!(dir.join(format!("o_{k:02}.png")).is_file(), "frame {k} written: {text}");
    }
    // Frame 3 holds the last good data (frame 2's).
    let (f2, f3) = (
        image::open(dir.join("o_02.png")).expect("2").to_rgba8(),
        image::open(dir.join("o_03.png")).expect("3").to_rgba8(),
    );
    assert_eq!(f2.as_raw(), f3.as_raw(), "frame 3 shows frame 2's points");

    // A folder with timestamps: the frame shown at 0.35 s is the third (0, 0.1, 0.3, ...).
    let times = dir.join("times.csv");
    std::fs::write(&times, "time,loss\n0,1.0\n0.1,0.5\n0.3,0.25\n0.5,0.2\n0.8,0.1\n1.2,0.05\n")
        .expect("csv");
    let one = dir.join("one.png");
    let (ok, text) = xpg_view(&[
        "render",
        frames.to_str().expect("path"),
        "--timestamps",
        times.to_str().expect("path"),
        "--time",
        "0.35",
        "--out",
        one.to_str().expect("path"),
        "--size",
        "48x32",
    ]);
    assert!(ok, "{text}");
    assert!(one.is_file());
    // Timestamps of another count, a bad rate: errors that say so.
    std::fs::write(&times, "0\n0.5\n").expect("csv");
    let (ok, text) = xpg_view(&[
        "render",
        frames.to_str().expect("path"),
        "--timestamps",
        times.to_str().expect("path"),
        "--out",
        one.to_str().expect("path"),
    ]);
    assert!(!ok && text.contains("2 times for the 6 frames"), "{text}");
    let (ok, text) =
        xpg_view(&["render", &pattern, "--fps", "0", "--out", one.to_str().expect("path")]);
    assert!(!ok && text.contains("--fps"), "{text}");
    // A CSV of series opens beside a scene (plots on the timeline).
    let series = dir.join("series.csv");
    std::fs::write(&series, "time,temperature\n0,20\n1,21.5\n").expect("csv");
    let furnace = scene("furnace_sphere.gltf");
    let (ok, text) = xpg_view(&[
        "render",
        furnace.to_str().expect("path"),
        series.to_str().expect("path"),
        "--out",
        one.to_str().expect("path"),
        "--size",
        "16x16",
    ]);
    assert!(ok, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
