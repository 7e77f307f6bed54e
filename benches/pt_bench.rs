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
//! ```text
//! cargo bench --bench pt_bench -- [--frames 20] [--spp 4] [--no-shapes | --shapes-only]
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
    let gpu = GpuScene::upload(ctx, scene)?;
    let mut pt = PathTracer::new(ctx, compiler)?;
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

fn main() -> anyhow::Result<()> {
    let (mut frames, mut spp) = (20usize, 4u32);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--frames" => frames = args.next().unwrap_or_default().parse()?,
            "--spp" => spp = args.next().unwrap_or_default().parse()?,
            "--bench" | "--no-shapes" | "--shapes-only" => {}
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let ctx = Context::new(&ContextDesc::default())?;
    println!("device: {} ({})", ctx.caps().device_name, ctx.caps().driver);
    let compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
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
    let (sum, squares) = pt.accumulation().ok_or_else(|| anyhow::anyhow!("no accumulation"))?;
    let mut up = xpg::Uploader::new(&ctx, 4 << 20)?;
    let floats = |b: Vec<u8>| -> Vec<f32> {
        b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    let s = floats(up.read_image(sum, 0, 0, xpg::vk::ImageLayout::GENERAL)?);
    let q = floats(up.read_image(squares, 0, 0, xpg::vk::ImageLayout::GENERAL)?);
    let ref_var = image::open(refs("refs/cornell_box_var.exr"))?.to_rgb32f();
    let mut ratios = Vec::new();
    for (k, rv) in ref_var.pixels().enumerate() {
        let n = f64::from(s[4 * k + 3]).max(2.0);
        for c in 0..3 {
            let mean = f64::from(s[4 * k + c]) / n;
            let var = (f64::from(q[4 * k + c]) / n - mean * mean) * n / (n - 1.0);
            if rv.0[c] > 1e-6 {
                ratios.push(var.max(0.0) / f64::from(rv.0[c]));
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
    Ok(())
}
