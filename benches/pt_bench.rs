//! Path tracer benchmark: paths per second at 1920x1080 (one path per sample: camera ray,
//! bounces with next event estimation, Russian roulette from depth 3, max depth 64; the
//! accumulation included), from the GPU time of the path tracing pass (median of the frames),
//! on cornell_box, many_lights, env_diffuse and a generated scene of about 1 M triangles (in
//! grid order and shuffled; `XPG_TRIANGLE_ORDER=file` uploads them in the file's order).
//! Also the time to bring a 512x512 cornell_box to the per-pixel noise of the reference
//! (16384 spp Mitsuba render): from the ratio of our per-sample variance to the reference's.
//!
//! Then the shapes for data (1 M spheres, 1 M arrows, a 256^3 voxel grid, `common/shapes.rs`;
//! `--no-shapes` leaves them out, `--shapes-only` runs them alone).
//!
//! Efficiency (issue 28), on every reference scene (the shared ones and the project's own,
//! tests/data/refs): paths per second at 1920x1080 and the per-sample variance at the
//! reference's 256x256 (from `--var-spp` samples, 1024) over the reference's own per-sample variance
//! (Mitsuba's, from its 128 batches): the median pixel's ratio and the ratio of the means;
//! efficiency = 1 / (variance x time per sample), ours over Mitsuba's where `--mitsuba FILE`
//! gives Mitsuba's paths per second on the same machine (`tools/refs/mitsuba_time.py` writes
//! it). Each with the light tree and with the alias table (by power), and Russian roulette
//! from depth 3 (ours) and 5 (Mitsuba's). `--efficiency-only` runs this alone;
//! `--variance-only` leaves out its timings (the variances do not depend on the device: on a
//! machine without a GPU, lavapipe gives them).
//!
//! `--shader-stats` prints the driver's statistics of the path tracer's pipeline instead
//! (registers, occupancy, spills; VK_KHR_pipeline_executable_properties).
//!
//! ```text
//! cargo bench --bench pt_bench -- [--frames 20] [--spp 4] [--no-shapes | --shapes-only]
//!     [--efficiency-only] [--variance-only] [--var-spp 1024] [--mitsuba FILE] [--shader-stats]
//! ```

#[path = "common/shapes.rs"]
mod shapes;

use std::path::PathBuf;

use framegraph::{Access, Executor, FrameGraph, ImageInfo};
use glam::{Mat4, Vec3};
use pathtracer::PathTracer;
use render::{GpuScene, Renderer};
use scene::{Scene, View};
use xpg::{Context, ContextDesc, ShaderCompiler};

fn refs(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/refs").join(name)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A bumpy 708x708 grid (about 1 M triangles) under a sun and a sky.
fn big_scene() -> Scene {
    let n = 708u32;
    let mut p = scene::Primitive::default();
    for y in 0..=n {
        for x in 0..=n {
            let (u, v) = (x as f32 / n as f32 * 2.0 - 1.0, y as f32 / n as f32 * 2.0 - 1.0);
            p.positions.push([u * 5.0, 0.3 * (u * 9.0).sin() * (v * 7.0).cos(), v * 5.0]);
        }
    }
    for y in 0..n {
        for x in 0..n {
            let a = y * (n + 1) + x;
            p.indices.extend([a, a + n + 2, a + 1, a, a + n + 1, a + n + 2]);
        }
    }
    let p = scene::flat_shaded(&p);
    let mut s = Scene {
        meshes: vec![scene::Mesh { name: "grid".into(), primitives: vec![p] }],
        materials: vec![scene::Material::lambert("ground", [0.6, 0.55, 0.5])],
        cameras: vec![scene::Camera::perspective("cam", 50f32.to_radians(), None)],
        environment: scene::Environment::Uniform([0.4, 0.5, 0.7]),
        ..Default::default()
    };
    s.nodes.push(scene::Node::new("grid", Mat4::IDENTITY).with_mesh(0));
    let cam = glam::camera::rh::view::look_at_mat4(Vec3::new(0.0, 3.0, 7.0), Vec3::ZERO, Vec3::Y);
    s.nodes.push(scene::Node::new("camera", cam.inverse()).with_camera(0));
    s.lights.push(scene::Light {
        name: "sun".into(),
        kind: scene::LightKind::Directional,
        color: [1.0, 0.95, 0.9],
        intensity: 3.0,
        shadows: true,
        range: None,
    });
    let sun = glam::Quat::from_rotation_arc(-Vec3::Z, Vec3::new(-0.4, -1.0, -0.3).normalize());
    s.nodes.push(scene::Node::new("sun", Mat4::from_quat(sun)).with_light(0));
    s.update_world();
    s
}

/// GPU milliseconds per frame of `spp` samples at `w x h`, and the path tracer after it.
fn run(
    ctx: &Context,
    compiler: &ShaderCompiler,
    scene: &Scene,
    (w, h): (u32, u32),
    spp: u32,
    frames: usize,
) -> anyhow::Result<(f64, PathTracer)> {
    run_with(ctx, compiler, scene, (w, h), spp, frames, pathtracer::Settings::default())
}

/// [`run`] with `settings` (their samples per frame become `spp`).
fn run_with(
    ctx: &Context,
    compiler: &ShaderCompiler,
    scene: &Scene,
    (w, h): (u32, u32),
    spp: u32,
    frames: usize,
    settings: pathtracer::Settings,
) -> anyhow::Result<(f64, PathTracer)> {
    let gpu = GpuScene::upload(ctx, scene)?;
    let mut pt = PathTracer::new(ctx, compiler)?;
    pt.settings = settings;
    pt.settings.samples_per_frame = spp;
    pt.scene_changed(scene, &gpu);
    let view = View::from_scene(scene, None, w, h).ok_or_else(|| anyhow::anyhow!("no camera"))?;
    let mut executor = Executor::new(ctx, 1);
    let mut ms = Vec::new();
    for _ in 0..frames + 1 {
        let mut graph = FrameGraph::new();
        let mut target = graph.create_image("hdr", ImageInfo::d2(w, h, raster::HDR_FORMAT));
        pt.add_passes(
            &mut graph,
            &gpu,
            &view,
            render::RenderTargets { color: &mut target },
            &mut render::Hooks::default(),
        )?;
        graph.add_pass("keep").read(&target, Access::TransferSrc).side_effect().record(|_| Ok(()));
        let plan = executor.compile(&graph)?;
        ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))??;
        if let Some(t) = executor.last_timings().iter().find(|t| t.name == "path trace") {
            ms.push(t.gpu_ms);
        }
    }
    ctx.wait_idle()?;
    Ok((median(ms), pt))
}

/// Per-sample variance per pixel and channel of the accumulation of `pt` (w x h).
fn per_sample_variance(ctx: &Context, pt: &PathTracer) -> anyhow::Result<Vec<[f64; 3]>> {
    let (sum, squares) = pt.accumulation().ok_or_else(|| anyhow::anyhow!("no accumulation"))?;
    let mut up = xpg::Uploader::new(ctx, 4 << 20)?;
    let floats = |b: Vec<u8>| -> Vec<f32> {
        b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    let s = floats(up.read_image(sum, 0, 0, xpg::vk::ImageLayout::GENERAL)?);
    let q = floats(up.read_image(squares, 0, 0, xpg::vk::ImageLayout::GENERAL)?);
    Ok((0..s.len() / 4)
        .map(|k| {
            let n = f64::from(s[4 * k + 3]).max(2.0);
            [0, 1, 2].map(|c| {
                let mean = f64::from(s[4 * k + c]) / n;
                ((f64::from(q[4 * k + c]) / n - mean * mean) * n / (n - 1.0)).max(0.0)
            })
        })
        .collect())
}

/// Mitsuba's paths per second per scene (`tools/refs/mitsuba_time.py`'s JSON: {"scene":
/// paths per second}).
fn mitsuba_rates(path: &str) -> anyhow::Result<std::collections::HashMap<String, f64>> {
    let text = std::fs::read_to_string(path)?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let mut out = std::collections::HashMap::new();
    for (k, x) in v.as_object().ok_or_else(|| anyhow::anyhow!("{path}: not an object"))? {
        if let Some(r) = x.as_f64() {
            out.insert(k.clone(), r);
        }
    }
    Ok(out)
}

/// The efficiency table (see the file's documentation).
fn efficiency(
    ctx: &Context,
    compiler: &ShaderCompiler,
    frames: usize,
    mitsuba: Option<&str>,
) -> anyhow::Result<()> {
    use pathtracer::{LightSelection, Settings};
    let variance_only = std::env::args().any(|a| a == "--variance-only");
    let var_spp: u32 =
        std::env::args().skip_while(|a| a != "--var-spp").nth(1).map_or(Ok(1024), |v| v.parse())?;
    let rates = mitsuba.map(mitsuba_rates).transpose()?.unwrap_or_default();
    // The light tree's build (CPU, at each change of the scene's lights) for 10^4-10^6
    // emissive triangles scattered in a box, facing random ways.
    for n in [10_000usize, 100_000, 1_000_000] {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut u = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let bounds: Vec<_> = (0..n)
            .map(|_| {
                let c = Vec3::new(u(), u(), u()) * 20.0;
                let p = [c, c + Vec3::new(u(), u(), u()) * 0.1, c + Vec3::new(u(), u(), u()) * 0.1];
                let nrm = (p[1] - p[0]).cross(p[2] - p[0]).normalize_or_zero();
                pathtracer::light_tree::LightBounds::triangle(p, nrm, 1.0 + 100.0 * u())
            })
            .collect();
        let t = std::time::Instant::now();
        let tree = pathtracer::light_tree::LightTree::build(&bounds);
        println!(
            "light tree of {n} emissive triangles: built in {:.1} ms (CPU, one thread), {} nodes",
            t.elapsed().as_secs_f64() * 1e3,
            tree.nodes.len()
        );
    }
    println!();
    println!(
        "| scene | lights, roulette from | M paths/s (1920x1080) | per-sample variance / \
         Mitsuba's (median pixel, means) | efficiency / Mitsuba's (median, means) |"
    );
    println!("|---|---|---:|---|---|");
    for name in ["cornell_box", "many_lights", "env_diffuse", "interior_sky", "emitters_10k"] {
        let scene = scene::load(refs(&format!("scenes/{name}.gltf")))?;
        let ref_var = image::open(refs(&format!("refs/{name}_var.exr")))?.to_rgb32f();
        for (lights, rr) in
            [(LightSelection::Tree, 3), (LightSelection::Power, 3), (LightSelection::Tree, 5)]
        {
            let settings =
                Settings { light_selection: lights, rr_start: rr, ..Settings::default() };
            let paths = if variance_only {
                f64::NAN
            } else {
                let (ms, _) = run_with(ctx, compiler, &scene, (1920, 1080), 4, frames, settings)?;
                1920.0 * 1080.0 * 4.0 / (ms * 1e-3)
            };
            // `var_spp` samples (1024) at the reference's size, 64 a frame.
            let var_frames = (var_spp / 64).max(1) as usize;
            let (_, pt) =
                run_with(ctx, compiler, &scene, (256, 256), 64, var_frames - 1, settings)?;
            let var = per_sample_variance(ctx, &pt)?;
            let mut ratios = Vec::new();
            let (mut ours, mut theirs) = (0.0, 0.0);
            for (v, rv) in var.iter().zip(ref_var.pixels()) {
                for (&o, &r) in v.iter().zip(&rv.0) {
                    let r = f64::from(r);
                    ours += o;
                    theirs += r;
                    if r > 1e-6 {
                        ratios.push(o / r);
                    }
                }
            }
            let (med, means) = (median(ratios), ours / theirs.max(1e-30));
            let eff = rates.get(name).map_or("(no Mitsuba timing)".to_string(), |&m| {
                // 1 / (var x time): ours over Mitsuba's = (1 / ratio) x (our rate / theirs).
                format!("{:.2}x, {:.2}x", paths / m / med, paths / m / means)
            });
            println!(
                "| {name} | {}, {rr} | {:.0} | {med:.3}, {means:.3} | {eff} |",
                LightSelection::NAMES[lights.index() as usize],
                paths / 1e6
            );
        }
    }
    Ok(())
}

/// The driver's statistics of the path tracer's pipeline (registers, occupancy, spills: what
/// VK_KHR_pipeline_executable_properties reports), one table per executable.
fn print_shader_stats(ctx: &Context, compiler: &ShaderCompiler) -> anyhow::Result<()> {
    let pt = PathTracer::new(ctx, compiler)?;
    let Some(stats) = pt.pipeline().statistics() else {
        println!(
            "no pipeline statistics: '{}' lacks VK_KHR_pipeline_executable_properties",
            ctx.caps().device_name
        );
        return Ok(());
    };
    for e in stats? {
        println!("\n{} ({:?}, subgroup {}): {}", e.name, e.stages, e.subgroup_size, e.description);
        for (name, value, description) in &e.statistics {
            println!("  {name}: {value}  ({description})");
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let (mut frames, mut spp) = (20usize, 4u32);
    let mut mitsuba = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--frames" => frames = args.next().unwrap_or_default().parse()?,
            "--spp" => spp = args.next().unwrap_or_default().parse()?,
            "--mitsuba" => mitsuba = args.next(),
            "--var-spp" => {
                args.next();
            }
            "--bench" | "--no-shapes" | "--shapes-only" | "--efficiency-only"
            | "--variance-only" | "--shader-stats" => {}
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let shader_stats = std::env::args().any(|a| a == "--shader-stats");
    let ctx = Context::new(&ContextDesc { shader_statistics: shader_stats, ..Default::default() })?;
    println!("device: {} ({})", ctx.caps().device_name, ctx.caps().driver);
    let compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
    if shader_stats {
        return print_shader_stats(&ctx, &compiler);
    }
    if std::env::args().any(|a| a == "--efficiency-only" || a == "--variance-only") {
        return efficiency(&ctx, &compiler, frames, mitsuba.as_deref());
    }
    println!("| scene | triangles | GPU per frame ({spp} spp, 1920x1080) | paths/s |");
    println!("|---|---:|---:|---:|");
    let mut scenes: Vec<(String, Scene)> = Vec::new();
    for name in ["cornell_box", "many_lights", "env_diffuse"] {
        scenes.push((name.into(), scene::load(refs(&format!("scenes/{name}.gltf")))?));
    }
    scenes.push(("generated 1 M triangles".into(), big_scene()));
    if std::env::args().any(|a| a == "--shapes-only") {
        // (The path tracer traces spheres as their triangles either way: one of the two.)
        for (name, s) in shapes::workloads().into_iter().filter(|(n, _)| !n.contains(" as ")) {
            let tris: usize =
                s.meshes.iter().flat_map(|m| &m.primitives).map(|p| p.indices.len() / 3).sum();
            let (ms, _) = run(&ctx, &compiler, &s, (1920, 1080), spp, frames)?;
            let paths = 1920.0 * 1080.0 * f64::from(spp) / (ms * 1e-3);
            println!("| {name} | {tris} | {ms:.3} ms | {:.0} M |", paths / 1e6);
        }
        return Ok(());
    }
    if !std::env::args().any(|a| a == "--no-shapes") {
        scenes.extend(shapes::workloads().into_iter().filter(|(n, _)| !n.contains(" as ")));
    }
    // The same triangles in a random order (as scanners write them): the upload puts large
    // primitives in spatial order (`XPG_TRIANGLE_ORDER=file` keeps the file's, to compare).
    let mut shuffled = big_scene();
    for p in shuffled.meshes.iter_mut().flat_map(|m| &mut m.primitives) {
        let mut tris: Vec<[u32; 3]> =
            p.indices.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for i in (1..tris.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            tris.swap(i, (state % (i as u64 + 1)) as usize);
        }
        p.indices = tris.into_iter().flatten().collect();
    }
    scenes.push(("generated 1 M triangles, shuffled".into(), shuffled));
    for (name, s) in &scenes {
        let tris: usize =
            s.meshes.iter().flat_map(|m| &m.primitives).map(|p| p.indices.len() / 3).sum();
        let (ms, _) = run(&ctx, &compiler, s, (1920, 1080), spp, frames)?;
        let paths = 1920.0 * 1080.0 * f64::from(spp) / (ms * 1e-3);
        println!("| {name} | {tris} | {ms:.3} ms | {:.0} M |", paths / 1e6);
    }
    // Time to the reference's per-pixel noise on a 512x512 cornell_box: the reference's
    // standard error is sqrt(ref_var / 16384); ours after N samples sqrt(var / N).
    let cornell = &scenes[0].1;
    let (_, pt) = run(&ctx, &compiler, cornell, (256, 256), 64, 4)?;
    let var = per_sample_variance(&ctx, &pt)?;
    let ref_var = image::open(refs("refs/cornell_box_var.exr"))?.to_rgb32f();
    let mut ratios = Vec::new();
    for (v, rv) in var.iter().zip(ref_var.pixels()) {
        for (&o, &r) in v.iter().zip(&rv.0) {
            if r > 1e-6 {
                ratios.push(o / f64::from(r));
            }
        }
    }
    let needed = 16384.0 * median(ratios.clone());
    let (ms512, _) = run(&ctx, &compiler, cornell, (512, 512), spp, frames)?;
    let per_sample = ms512 / f64::from(spp);
    println!(
        "cornell_box 512x512: our per-sample variance / the reference's (median) = {:.3}; {:.0} spp \
         reach its noise: {:.2} s of GPU ({per_sample:.3} ms per sample)",
        median(ratios),
        needed,
        needed * per_sample / 1e3
    );
    efficiency(&ctx, &compiler, frames, mitsuba.as_deref())
}
