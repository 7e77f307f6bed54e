//! Window tests: the viewer in a real window (X11 under Xvfb, lavapipe). winit allows one event
//! loop per process, so each case runs `xpg-view` as a child process; this binary has
//! `harness = false` and needs a display (`.ci/run` runs the tests under `xvfb-run -a`).
//!
//! Every run has `--validation`: the viewer exits non-zero on any validation message.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scene(name: &str) -> PathBuf {
    root().join("tests/data/refs/scenes").join(name)
}

fn out_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("xpg-window-tests-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs xpg-view with `args`; returns stderr (the log) and stdout. Fails the test on a
/// non-zero exit.
fn xpg_view(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xpg-view"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running xpg-view");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "xpg-view {args:?} failed ({}):\n{stderr}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    (stderr, String::from_utf8_lossy(&out.stdout).into_owned())
}

struct Img {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

fn load(p: &Path) -> Img {
    let i = image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).to_rgba8();
    Img { w: i.width(), h: i.height(), px: i.into_raw() }
}

/// Mean absolute difference (0..255, RGB) and the fraction of pixels off by more than 24,
/// over the columns `x0..x1`.
fn diff(a: &Img, b: &Img, x0: u32, x1: u32) -> (f64, f64) {
    assert_eq!((a.w, a.h), (b.w, b.h), "image sizes differ");
    let (mut sum, mut bad, mut n) = (0u64, 0u64, 0u64);
    for y in 0..a.h {
        for x in x0..x1.min(a.w) {
            let i = ((y * a.w + x) * 4) as usize;
            let d = (0..3).map(|c| a.px[i + c].abs_diff(b.px[i + c]) as u64).collect::<Vec<_>>();
            sum += d.iter().sum::<u64>();
            bad += u64::from(d.iter().any(|&v| v > 24));
            n += 1;
        }
    }
    (sum as f64 / (3 * n) as f64, bad as f64 / n as f64)
}

fn assert_close(what: &str, a: &Img, b: &Img, mean_max: f64, bad_max: f64) {
    let (mean, bad) = diff(a, b, 0, a.w);
    println!("  {what}: mean |diff| {mean:.3}/255, {:.3}% pixels off by > 24", bad * 100.0);
    assert!(mean <= mean_max && bad <= bad_max, "{what}: mean {mean}, bad {bad}");
}

const SIZE: &str = "480x300";

/// An orbit drag in the first viewport (the scene panel takes the left 22%).
const DRAG: &str = "1 move 200 150\n2 down left\n3 move 210 151\n4 move 222 154\n5 up left\n";

fn two_viewports(dir: &Path) {
    let script = dir.join("drag.txt");
    std::fs::write(&script, DRAG).expect("script");
    let cache = dir.join("cache");
    let common = |mode: &str, out: &Path| -> Vec<String> {
        let mut v: Vec<String> = vec![
            scene("env_diffuse.gltf").display().to_string(),
            "--viewports".into(),
            "raster,pathtracer".into(),
            "--frames".into(),
            "8".into(),
            "--screenshot".into(),
            out.display().to_string(),
            "--validation".into(),
            "--cache-dir".into(),
            cache.display().to_string(),
            "--script".into(),
            script.display().to_string(),
            "--vsync".into(),
            "off".into(),
        ];
        if mode == "window" {
            v.extend(["--size".into(), SIZE.into()]);
        } else {
            v.extend(["--offscreen".into(), SIZE.into()]);
        }
        v
    };
    let win = dir.join("window.png");
    let mut args = common("window", &win);
    args.push("--stats".into());
    let (_, stdout) = xpg_view(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // The window's screenshot is read back from the presented swapchain image.
    assert!(stdout.contains("screenshot_from_swapchain true"), "{stdout}");
    let off = dir.join("offscreen.png");
    let args = common("offscreen", &off);
    xpg_view(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (w, o) = (load(&win), load(&off));
    // The offscreen mode runs exactly the window's frame.
    assert_close("window vs offscreen", &w, &o, 0.05, 0.0005);
    // Against the stored reference (XPG_UPDATE_REFS=1 rewrites it).
    let reference = root().join("tests/data/viewer/two_viewports.png");
    if std::env::var_os("XPG_UPDATE_REFS").is_some() {
        std::fs::create_dir_all(reference.parent().expect("parent")).expect("dir");
        std::fs::copy(&win, &reference).expect("update reference");
    }
    assert_close("window vs reference", &w, &load(&reference), 1.0, 0.005);
    // The drag moved the camera: without it the raster viewport differs.
    let still = dir.join("still.png");
    let mut args = common("offscreen", &still);
    let i = args.iter().position(|a| a == "--script").expect("script arg");
    args.drain(i..i + 2);
    xpg_view(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let s = load(&still);
    let (mean, _) = diff(&w, &s, (w.w as f32 * 0.25) as u32, w.w / 2);
    println!("  drag vs no drag in the raster viewport: mean |diff| {mean:.2}/255");
    assert!(mean > 3.0, "the scripted drag did not move the camera ({mean})");
}

fn resize_storm(dir: &Path) {
    // 50 resizes to sizes from a fixed pseudo-random sequence, one per frame, then back to
    // the start size and a fresh layout (Ctrl+L).
    let mut script = String::new();
    let mut x = 12345u32;
    for f in 1..=50 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let w = 120 + (x >> 8) % 700;
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let h = 90 + (x >> 8) % 500;
        script += &format!("{f} resize {w} {h}\n");
    }
    script += "52 resize 480 300\n60 key down ctrl\n60 key down l\n61 key up l\n61 key up ctrl\n";
    let path = dir.join("storm.txt");
    std::fs::write(&path, script).expect("script");
    let cache = dir.join("cache");
    let run = |extra: &[&str], out: &Path| -> String {
        let mut args = vec![
            scene("env_diffuse.gltf").display().to_string(),
            "--frames".into(),
            "66".into(),
            "--screenshot".into(),
            out.display().to_string(),
            "--validation".into(),
            "--cache-dir".into(),
            cache.display().to_string(),
            "--vsync".into(),
            "off".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        xpg_view(&args.iter().map(String::as_str).collect::<Vec<_>>()).1
    };
    let storm = dir.join("storm.png");
    let stdout = run(&["--size", SIZE, "--script", &path.display().to_string(), "--stats"], &storm);
    let recreations: u64 = stdout
        .split_whitespace()
        .skip_while(|w| *w != "swapchain_recreations")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no swapchain_recreations in {stdout}"));
    println!("  swapchain recreated {recreations} times");
    // At least most of the 50 sizes, but not one recreation per frame (66 frames).
    assert!(
        (40..=58).contains(&recreations),
        "the resizes reached the swapchain, and only they ({recreations})"
    );
    let calm_script = dir.join("calm.txt");
    std::fs::write(&calm_script, "60 key down ctrl\n60 key down l\n61 key up l\n61 key up ctrl\n")
        .expect("script");
    let calm = dir.join("calm.png");
    run(&["--offscreen", SIZE, "--script", &calm_script.display().to_string()], &calm);
    assert_close("after 50 resizes vs never resized", &load(&storm), &load(&calm), 0.05, 0.0005);
}

fn bad_file(dir: &Path) {
    let bad = dir.join("broken.gltf");
    std::fs::write(&bad, "{ this is not json").expect("bad file");
    let out = dir.join("bad.png");
    let (stderr, _) = xpg_view(&[
        &scene("env_diffuse.gltf").display().to_string(),
        &bad.display().to_string(),
        "--size",
        SIZE,
        "--frames",
        "3",
        "--screenshot",
        &out.display().to_string(),
        "--validation",
        "--no-cache",
    ]);
    assert!(
        stderr.contains("broken.gltf") && stderr.contains("ERROR"),
        "the log names the bad file:\n{stderr}"
    );
    // The good file is shown: the viewport is not the empty background.
    let img = load(&out);
    let (x0, x1) = ((img.w as f32 * 0.3) as u32, img.w - 10);
    let mut distinct = std::collections::HashSet::new();
    for y in 40..img.h - 10 {
        for x in x0..x1 {
            let i = ((y * img.w + x) * 4) as usize;
            distinct.insert([img.px[i], img.px[i + 1], img.px[i + 2]]);
        }
    }
    println!("  bad file: {} distinct colours in the viewport", distinct.len());
    assert!(distinct.len() > 50, "the good file's scene is drawn ({})", distinct.len());
}

fn main() {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        eprintln!(
            "window tests need a display: run them under Xvfb (`xvfb-run -a cargo test`), as \
             .ci/run does"
        );
        std::process::exit(1);
    }
    let dir = out_dir();
    type Case = (&'static str, fn(&Path));
    let cases: [Case; 3] = [
        ("two viewports, scripted orbit, window = offscreen = reference", two_viewports),
        ("resize storm", resize_storm),
        ("bad file on the command line", bad_file),
    ];
    let mut failed = 0;
    for (name, f) in cases {
        println!("test {name} ...");
        let r = std::panic::catch_unwind(|| f(&dir));
        match r {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failed > 0 {
        eprintln!("{failed} window test(s) failed");
        std::process::exit(1);
    }
    println!("test result: ok. {} passed", cases.len());
}
