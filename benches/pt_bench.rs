//! Path tracer benchmark: paths per second at 1920x1080 (one path per sample: camera ray,
//! bounces with next event estimation, Russian roulette from depth 3, max depth 64; the
//! accumulation included), from the GPU time of the path tracing pass (median of the frames),
//! on cornell_box, many_lights, env_diffuse and a generated scene of about 1 M triangles (in
//! grid order and shuffled; `XPG_TRIANGLE_ORDER=file` uploads them in the file's order).
//! Also the time to bring a 512x512 cornell_box to the per-pixel noise of the reference
//! (16384 spp Mitsuba render): from the ratio of our per-sample variance to the reference's
//! with independent numbers, and from the error itself with the Sobol sequence
//! (`--cornell-only` runs this alone).
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
//! from depth 3 (ours) and 5 (Mitsuba's), with the Sobol sequence and independent numbers.
//! With the Sobol sequence the error falls faster than the per-sample variance says, so the
//! table also gives the error itself as a variance: N x (the mean squared error against the
//! reference - the reference's own noise) over the mean of Mitsuba's per-sample variance,
//! and the efficiency from it. `--defaults-only` runs the light tree, roulette from 3, with
//! each sequence. `--efficiency-only` runs this alone;
//! `--variance-only` leaves out its timings (the variances do not depend on the device: on a
//! machine without a GPU, lavapipe gives them).
//!
//! `--shader-stats` prints the driver's statistics of the path tracer's pipeline instead
//! (registers, occupancy, spills; VK_KHR_pipeline_executable_properties).
//!
//! ```text
//! cargo bench --bench pt_bench -- [--frames 20] [--spp 4] [--no-shapes | --shapes-only]
//!     [--efficiency-only] [--variance-only] [--defaults-only] [--var-spp 1024] [--mitsuba FILE]
//!     [--cornell-only | --no-cornell] [--shader-stats]
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
    let mut r = Renders::new(ctx, compiler, scene, (w, h), spp, settings)?;
    let ms = r.frames(frames + 1)?;
    Ok((ms, r.pt))
}

/// A path tracer accumulating one view of a scene, frame after frame.
struct Renders<'a> {
    ctx: &'a Context,
    gpu: GpuScene,
    pt: PathTracer,
    view: View,
    executor: Executor,
}

impl<'a> Renders<'a> {
    fn new(
        ctx: &'a Context,
        compiler: &ShaderCompiler,
        scene: &Scene,
        (w, h): (u32, u32),
        spp: u32,
        settings: pathtracer::Settings,
    ) -> anyhow::Result<Self> {
        let gpu = GpuScene::upload(ctx, scene)?;
        let mut pt = PathTracer::new(ctx, compiler)?;
        pt.settings = settings;
        pt.settings.samples_per_frame = spp;
        pt.scene_changed(scene, &gpu);
        let view =
            View::from_scene(scene, None, w, h).ok_or_else(|| anyhow::anyhow!("no camera"))?;
        Ok(Self { ctx, gpu, pt, view, executor: Executor::new(ctx, 1) })
    }

    /// `n` more frames; the median GPU milliseconds of their path tracing passes.
    fn frames(&mut self, n: usize) -> anyhow::Result<f64> {
        let (w, h) = (self.view.width, self.view.height);
        let mut ms = Vec::new();
        for _ in 0..n {
            let mut graph = FrameGraph::new();
            let mut target = graph.create_image("hdr", ImageInfo::d2(w, h, raster::HDR_FORMAT));
            self.pt.add_passes(
                &mut graph,
                &self.gpu,
                &self.view,
                render::RenderTargets { color: &mut target },
                &mut render::Hooks::default(),
            )?;
            graph
                .add_pass("keep")
                .read(&target, Access::TransferSrc)
                .side_effect()
                .record(|_| Ok(()));
            let plan = self.executor.compile(&graph)?;
            let executor = &mut self.executor;
            self.ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))??;
            if let Some(t) = self.executor.last_timings().iter().find(|t| t.name == "path trace") {
                ms.push(t.gpu_ms);
            }
        }
        self.ctx.wait_idle()?;
        Ok(median(ms))
    }
}

/// The mean and the per-sample variance per pixel and channel of the accumulation of `pt`.
fn mean_and_variance(ctx: &Context, pt: &PathTracer) -> anyhow::Result<Vec<([f64; 3], [f64; 3])>> {
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
            let mean = [0, 1, 2].map(|c| f64::from(s[4 * k + c]) / n);
            let var = [0, 1, 2].map(|c| {
                ((f64::from(q[4 * k + c]) / n - mean[c] * mean[c]) * n / (n - 1.0)).max(0.0)
            });
            (mean, var)
        })
        .collect())
}

/// Per-sample variance per pixel and channel of the accumulation of `pt` (w x h).
fn per_sample_variance(ctx: &Context, pt: &PathTracer) -> anyhow::Result<Vec<[f64; 3]>> {
    Ok(mean_and_variance(ctx, pt)?.into_iter().map(|(_, v)| v).collect())
}

/// Our per-sample variance over the reference's: the median pixel's ratio (where the
/// reference's is above 1e-6) and the ratio of the image means.
fn variance_ratios(var: &[[f64; 3]], ref_var: &image::Rgb32FImage) -> (f64, f64) {
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
    (median(ratios), ours / theirs.max(1e-30))
}

/// The error of `pt`'s image after `n` samples as a per-sample variance: n x (the mean squared
/// error against the reference `name` - the reference's own noise, its per-sample variance
/// over its 16384 samples), over the mean of the reference's per-sample variance (Mitsuba's).
/// With independent samples this is the ratio of the means of the per-sample variances; with
/// a stratified sequence the error falls faster than 1/n and this is lower.
fn error_variance_ratio(ctx: &Context, pt: &PathTracer, name: &str, n: u32) -> anyhow::Result<f64> {
    let ours = mean_and_variance(ctx, pt)?;
    let reference = image::open(refs(&format!("refs/{name}.exr")))?.to_rgb32f();
    let ref_var = image::open(refs(&format!("refs/{name}_var.exr")))?.to_rgb32f();
    let (mut excess, mut theirs, mut count) = (0.0, 0.0, 0.0);
    for (((mean, _), r), rv) in ours.iter().zip(reference.pixels()).zip(ref_var.pixels()) {
        for ((m, &r), &rv) in mean.iter().zip(&r.0).zip(&rv.0) {
            let (r, rv) = (f64::from(r), f64::from(rv));
            excess += (m - r).powi(2) - rv / 16384.0;
            theirs += rv;
            count += 1.0;
        }
    }
    Ok(f64::from(n) * (excess / count) / (theirs / count).max(1e-30))
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
    use pathtracer::{LightSelection, Sequence, Settings};
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
        "| scene | lights, roulette from, numbers | M paths/s (1920x1080) | per-sample variance \
         / Mitsuba's (median pixel, means) | error as a variance / Mitsuba's ({var_spp} spp) | \
         efficiency / Mitsuba's (median, means; from the error) |"
    );
    println!("|---|---|---:|---|---:|---|");
    for name in ["cornell_box", "many_lights", "env_diffuse", "interior_sky", "emitters_10k"] {
        let scene = scene::load(refs(&format!("scenes/{name}.gltf")))?;
        let ref_var = image::open(refs(&format!("refs/{name}_var.exr")))?.to_rgb32f();
        let configs = [
            (LightSelection::Tree, 3, Sequence::Sobol),
            (LightSelection::Tree, 3, Sequence::Independent),
            (LightSelection::Power, 3, Sequence::Independent),
            (LightSelection::Tree, 5, Sequence::Sobol),
        ];
        // `--defaults-only`: the defaults (tree, 3, Sobol) and independent numbers.
        let defaults_only = std::env::args().any(|a| a == "--defaults-only");
        for (lights, rr, sequence) in configs.into_iter().take(if defaults_only { 2 } else { 4 }) {
            let settings =
                Settings { light_selection: lights, rr_start: rr, sequence, ..Settings::default() };
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
            let error = error_variance_ratio(ctx, &pt, name, 64 * var_frames as u32)?;
            let (med, means) = variance_ratios(&var, &ref_var);
            let eff = rates.get(name).map_or("(no Mitsuba timing)".to_string(), |&m| {
                // 1 / (var x time): ours over Mitsuba's = (1 / ratio) x (our rate / theirs).
                format!(
                    "{:.2}x, {:.2}x; {:.2}x",
                    paths / m / med,
                    paths / m / means,
                    paths / m / error
                )
            });
            println!(
                "| {name} | {}, {rr}, {} | {:.0} | {med:.3}, {means:.3} | {error:.3} | {eff} |",
                LightSelection::NAMES[lights.index() as usize],
                Sequence::NAMES[sequence.index() as usize],
                paths / 1e6
            );
        }
    }
    Ok(())
}

/// The GPU time to bring a 512x512 cornell_box to the reference's noise. With independent
/// numbers that takes `independent_needed` samples (from the per-sample variance against the
/// reference's, at its size). The Sobol sequence's error falls faster than 1/N, so its count
/// comes from its error itself: against its own image after 32768 samples (the truth here:
/// its error is far below the rest), at N = 256, 512, ... samples, with the independent
/// numbers' error after 1024 samples (against the same truth) scaled to `independent_needed`
/// as the target; between two counts, log-log interpolation. (Against the reference itself
/// the error stops falling near 2-3 times the reference's noise: the two renderers differ
/// by about that much, far below what the image tests resolve.)
fn cornell_time_to_noise(
    ctx: &Context,
    compiler: &ShaderCompiler,
    cornell: &Scene,
    independent_needed: f64,
) -> anyhow::Result<()> {
    use pathtracer::{Sequence, Settings};
    let size = (512, 512);
    let per_frame = 256u32;
    let mse = |a: &[([f64; 3], [f64; 3])], b: &[([f64; 3], [f64; 3])]| {
        let se: f64 =
            a.iter().zip(b).flat_map(|(x, y)| (0..3).map(|c| (x.0[c] - y.0[c]).powi(2))).sum();
        se / (3 * a.len()) as f64
    };
    // Sobol: the means at each checkpoint, then the truth.
    let sobol = Settings { sequence: Sequence::Sobol, ..Settings::default() };
    let mut r = Renders::new(ctx, compiler, cornell, size, per_frame, sobol)?;
    let mut done = 0u32;
    let mut checkpoints = Vec::new();
    let mut ms = Vec::new();
    for n in (8..=15).map(|k| 1u32 << k) {
        ms.push(r.frames(((n - done) / per_frame) as usize)?);
        done = n;
        checkpoints.push((n, mean_and_variance(ctx, &r.pt)?));
    }
    let truth = mean_and_variance(ctx, &r.pt)?;
    let sobol_ms = median(ms) / f64::from(per_frame);
    let indep = Settings { sequence: Sequence::Independent, ..Settings::default() };
    let mut r = Renders::new(ctx, compiler, cornell, size, per_frame, indep)?;
    let indep_ms = r.frames(4)? / f64::from(per_frame);
    let target = mse(&mean_and_variance(ctx, &r.pt)?, &truth) * 1024.0 / independent_needed;
    println!(
        "cornell_box 512x512, independent numbers: {independent_needed:.0} spp reach the \
         reference's noise: {:.2} s of GPU ({indep_ms:.3} ms per sample)",
        independent_needed * indep_ms / 1e3
    );
    let errors: Vec<(f64, f64)> = checkpoints
        .iter()
        .filter(|(n, _)| *n < done)
        .map(|(n, m)| (f64::from(*n), mse(m, &truth)))
        .collect();
    for (n, e) in &errors {
        println!(
            "cornell_box 512x512, Sobol, {n} spp: mean squared error / the target = {:.3}",
            e / target
        );
    }
    let needed = errors.windows(2).find(|w| w[1].1 <= target).map(|w| {
        let ((n0, e0), (n1, e1)) = (w[0], w[1]);
        if e0 <= target {
            n0
        } else {
            let t = (e0 / target).ln() / (e0 / e1).ln();
            n0 * (n1 / n0).powf(t)
        }
    });
    match needed {
        Some(n) => println!(
            "cornell_box 512x512, Sobol: {n:.0} spp reach the reference's noise: {:.2} s of GPU \
             ({sobol_ms:.3} ms per sample)",
            n * sobol_ms / 1e3
        ),
        None => println!("cornell_box 512x512, Sobol: not at the reference's noise by 16384 spp"),
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
            | "--variance-only" | "--shader-stats" | "--cornell-only" | "--no-cornell"
            | "--defaults-only" => {}
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
    let cornell_only = std::env::args().any(|a| a == "--cornell-only");
    for (name, s) in scenes.iter().filter(|_| !cornell_only) {
        let tris: usize =
            s.meshes.iter().flat_map(|m| &m.primitives).map(|p| p.indices.len() / 3).sum();
        let (ms, _) = run(&ctx, &compiler, s, (1920, 1080), spp, frames)?;
        let paths = 1920.0 * 1080.0 * f64::from(spp) / (ms * 1e-3);
        println!("| {name} | {tris} | {ms:.3} ms | {:.0} M |", paths / 1e6);
    }
    if std::env::args().any(|a| a == "--no-cornell") {
        return Ok(());
    }
    // Time to the reference's per-pixel noise on a 512x512 cornell_box: the reference's
    // standard error is sqrt(ref_var / 16384); with independent numbers ours after N samples
    // is sqrt(var / N) (`cornell_time_to_noise` for the Sobol sequence).
    let cornell = &scenes[0].1;
    let independent =
        pathtracer::Settings { sequence: pathtracer::Sequence::Independent, ..Default::default() };
    let (_, pt) = run_with(&ctx, &compiler, cornell, (256, 256), 64, 4, independent)?;
    let var = per_sample_variance(&ctx, &pt)?;
    let ref_var = image::open(refs("refs/cornell_box_var.exr"))?.to_rgb32f();
    let independent_needed = 16384.0 * variance_ratios(&var, &ref_var).0;
    cornell_time_to_noise(&ctx, &compiler, cornell, independent_needed)?;
    efficiency(&ctx, &compiler, frames, mitsuba.as_deref())
}
