//! Time in the scene (issue 22), measured:
//! - 10,000 objects with animated transforms (translation and rotation tracks of 120 linear
//!   keys each), rendered by the raster at 1920x1080: CPU per frame to put the scene at the
//!   time (`Scene::set_time`) and to record the GPU copy's update (`GpuScene::update`), and
//!   the frame's GPU time (the update's transfer passes and the raster);
//! - a skinned mesh of 100 k vertices (four joints per vertex of a chain of 64): the deform
//!   pass's GPU time, and with ray tracing the BLAS refit and TLAS update;
//! - export of 300 frames at 1920x1080 with the raster to PNG (`viewer::export`): frames/s.
//!
//! ```text
//! cargo bench --bench time_bench -- [--frames 100] [--objects 10000] [--vertices 100000]
//!     [--export 300] [--out DIR]
//! ```

use std::time::Instant;

use framegraph::{Executor, FrameGraph, ImageInfo};
use glam::{Mat4, Quat, Vec3};
use raster::{Raster, HDR_FORMAT};
use render::{GpuScene, Renderer};
use scene::time::{Timing, Track};
use scene::{Camera, Environment, Light, LightKind, Material, Mesh, Node, NodeAnimation, Scene};
use scene::{Skin, View};
use xpg::{Context, ContextDesc, FrameRing, ShaderCompiler};

fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `n` cubes on a grid, each moving on a circle and turning (120 keys over 4 s), a floor,
/// a shadowed sun, a camera.
fn animated_cubes(n: usize) -> Scene {
    let mut s = Scene {
        meshes: vec![
            Mesh { name: "cube".into(), primitives: vec![scene::shapes::cube(0)] },
            Mesh { name: "floor".into(), primitives: vec![scene::shapes::plane(1, 60.0)] },
        ],
        materials: vec![
            Material::lambert("cubes", [0.8, 0.3, 0.2]),
            Material::lambert("floor", [0.7, 0.7, 0.7]),
        ],
        cameras: vec![Camera {
            zfar: Some(500.0),
            ..Camera::perspective("cam", 50f32.to_radians(), None)
        }],
        lights: vec![Light {
            name: "sun".into(),
            kind: LightKind::Directional,
            color: [1.0; 3],
            intensity: 2.0,
            shadows: true,
            range: None,
        }],
        environment: Environment::Uniform([0.1, 0.12, 0.15]),
        ..Default::default()
    };
    let side = (n as f32).sqrt().ceil() as usize;
    let spread = 100.0 / side.max(1) as f32;
    let keys = 120;
    for i in 0..n {
        let c = Vec3::new(
            ((i % side) as f32 - side as f32 / 2.0) * spread,
            0.6,
            ((i / side) as f32 - side as f32 / 2.0) * spread,
        );
        let phase = i as f32 * 0.37;
        let translations = (0..keys)
            .map(|k| {
                let a = phase + k as f32 / keys as f32 * std::f32::consts::TAU;
                Some(c + 0.3 * spread * Vec3::new(a.cos(), 0.0, a.sin()))
            })
            .collect();
        let rotations =
            (0..keys).map(|k| Some(Quat::from_rotation_y(phase + k as f32 * 0.1))).collect();
        let rate = Timing::Rate { fps: 30.0, start: 0.0 };
        let node = s.nodes.len();
        let sc = Vec3::splat(spread * 0.3);
        s.nodes.push(
            Node::new(
                &format!("cube{i}"),
                Mat4::from_scale_rotation_translation(sc, Quat::IDENTITY, c),
            )
            .with_mesh(0),
        );
        s.animations.push(NodeAnimation {
            node,
            rest: (sc, Quat::IDENTITY, c),
            translation: Track::new(rate.clone(), translations).ok(),
            rotation: Track::new(rate, rotations).ok(),
            scale: None,
            weights: None,
        });
    }
    s.nodes.push(Node::new("floor", Mat4::IDENTITY).with_mesh(1));
    let sun = Quat::from_rotation_y(0.8) * Quat::from_rotation_x(-0.9);
    s.nodes.push(Node::new("sun", Mat4::from_quat(sun)).with_light(0));
    let eye = Vec3::new(40.0, 45.0, 70.0);
    let cam = glam::camera::rh::view::look_at_mat4(eye, Vec3::ZERO, Vec3::Y).inverse();
    s.nodes.push(Node::new("camera", cam).with_camera(0));
    s.update_world();
    s
}

/// A tube of about `vertices` vertices along +y skinned to a chain of 64 joints (each vertex
/// on the four nearest), swaying.
fn skinned_tube(vertices: usize) -> Scene {
    let joints = 64usize;
    let around = 64usize;
    let rings = (vertices / around).max(2);
    let mut p = scene::Primitive::default();
    for r in 0..rings {
        let y = r as f32 / (rings - 1) as f32 * 8.0;
        for k in 0..around {
            let a = k as f32 / around as f32 * std::f32::consts::TAU;
            p.positions.push([0.3 * a.cos(), y, 0.3 * a.sin()]);
            p.normals.push([a.cos(), 0.0, a.sin()]);
            let j = y / 8.0 * (joints - 1) as f32;
            let j0 = (j.floor() as usize).min(joints - 4);
            let w: Vec<f32> = (0..4).map(|m| 1.0 / (1.0 + (j - (j0 + m) as f32).abs())).collect();
            p.joints.push(std::array::from_fn(|m| (j0 + m) as u16));
            p.weights.push([w[0], w[1], w[2], w[3]]);
        }
    }
    for r in 0..rings - 1 {
        for k in 0..around {
            let (a, b) = ((r * around + k) as u32, (r * around + (k + 1) % around) as u32);
            let (c, d) = (a + around as u32, b + around as u32);
            p.indices.extend([a, c, b, b, c, d]);
        }
    }
    let mut s = Scene {
        meshes: vec![Mesh { name: "tube".into(), primitives: vec![p] }],
        materials: vec![Material::lambert("tube", [0.6, 0.6, 0.6])],
        cameras: vec![Camera::perspective("cam", 50f32.to_radians(), None)],
        ..Default::default()
    };
    let mut tube = Node::new("tube", Mat4::IDENTITY).with_mesh(0);
    tube.skin = Some(0);
    s.nodes.push(tube);
    let mut inverse_bind = Vec::new();
    for j in 0..joints {
        let y = j as f32 / (joints - 1) as f32 * 8.0;
        let mut n = Node::new(&format!("j{j}"), Mat4::from_translation(Vec3::new(0.0, y, 0.0)));
        n.local = if j == 0 {
            n.local
        } else {
            Mat4::from_translation(Vec3::new(0.0, 8.0 / (joints - 1) as f32, 0.0))
        };
        n.parent = (j > 0).then_some(j);
        s.nodes.push(n);
        inverse_bind.push(Mat4::from_translation(Vec3::new(0.0, -y, 0.0)));
    }
    s.skins.push(Skin { name: "chain".into(), joints: (1..=joints).collect(), inverse_bind });
    let cam = glam::camera::rh::view::look_at_mat4(
        Vec3::new(6.0, 4.0, 6.0),
        Vec3::new(0.0, 4.0, 0.0),
        Vec3::Y,
    )
    .inverse();
    s.nodes.push(Node::new("camera", cam).with_camera(0));
    s.add_default_lighting();
    s.update_world();
    s
}

/// Per frame: `step(scene, frame)` (CPU, timed as "scene"), the GPU copy's update (CPU,
/// timed), the raster's passes; frames one at a time. Prints the medians and the GPU time
/// of the passes whose names contain each of `passes`.
fn run(
    ctx: &Context,
    compiler: &ShaderCompiler,
    label: &str,
    mut scene: Scene,
    frames: usize,
    mut step: impl FnMut(&mut Scene, usize),
    passes: &[&str],
) -> anyhow::Result<()> {
    let (w, h) = (1920, 1080);
    let mut gpu = GpuScene::upload(ctx, &scene)?;
    let mut renderer = Raster::with_msaa(ctx, compiler, 1)?;
    let view = View::from_scene(&scene, None, w, h).ok_or_else(|| anyhow::anyhow!("no camera"))?;
    let mut ring = FrameRing::new(ctx, 2)?;
    let mut executor = Executor::new(ctx, 2);
    let (mut scene_ms, mut update_ms, mut cpu_ms, mut gpu_ms) = (vec![], vec![], vec![], vec![]);
    let mut pass_ms: Vec<Vec<f64>> = vec![Vec::new(); passes.len()];
    for f in 0..frames {
        let t0 = Instant::now();
        step(&mut scene, f);
        let t1 = Instant::now();
        let frame = ring.begin()?;
        let t2 = Instant::now();
        let mut graph = FrameGraph::new();
        let changed = gpu.update(&scene, &mut graph)?;
        renderer.scene_changed(&scene, &gpu);
        let t3 = Instant::now();
        let mut target = graph.create_image("hdr", ImageInfo::d2(w, h, HDR_FORMAT));
        let g = &gpu;
        renderer.add_passes(
            &mut graph,
            g,
            &view,
            render::RenderTargets { color: &mut target },
            &mut render::Hooks::default(),
        )?;
        graph
            .add_pass("present stand-in")
            .read(&target, framegraph::Access::TransferSrc)
            .side_effect()
            .record(|_| Ok(()));
        let plan = executor.compile(&graph)?;
        executor.execute(graph, &plan, frame.cmd, None)?;
        let t4 = Instant::now();
        let value = ring.end(frame)?;
        ctx.wait(value)?;
        let _ = changed;
        scene_ms.push((t1 - t0).as_secs_f64() * 1e3);
        update_ms.push((t3 - t2).as_secs_f64() * 1e3);
        cpu_ms.push((t4 - t2).as_secs_f64() * 1e3);
        let timings = executor.last_timings();
        let total: f64 = timings.iter().map(|t| t.gpu_ms).sum();
        if total > 0.0 {
            gpu_ms.push(total);
            for (k, p) in passes.iter().enumerate() {
                let sum: f64 =
                    timings.iter().filter(|t| t.name.contains(p)).map(|t| t.gpu_ms).sum();
                pass_ms[k].push(sum);
            }
        }
    }
    ctx.wait_idle()?;
    println!(
        "| {label} | set_time {:.3} ms | GpuScene::update {:.3} ms | CPU frame (update + raster \
         record) {:.3} ms | GPU frame {:.3} ms |",
        med(scene_ms),
        med(update_ms),
        med(cpu_ms),
        med(gpu_ms)
    );
    for (p, v) in passes.iter().zip(pass_ms) {
        println!("|   GPU passes '{p}': {:.3} ms (median) |", med(v));
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let (mut frames, mut objects, mut vertices, mut export) = (100usize, 10_000, 100_000, 300u64);
    let mut out = std::env::temp_dir().join("xpg-time-bench");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--frames" => frames = args.next().unwrap_or_default().parse()?,
            "--objects" => objects = args.next().unwrap_or_default().parse()?,
            "--vertices" => vertices = args.next().unwrap_or_default().parse()?,
            "--export" => export = args.next().unwrap_or_default().parse()?,
            "--out" => out = args.next().unwrap_or_default().into(),
            "--bench" => {}
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let ctx = Context::new(&ContextDesc::default())?;
    println!("device: {} ({})", ctx.caps().device_name, ctx.caps().driver);
    let compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
    let cubes = animated_cubes(objects);
    let label = format!("{objects} objects, animated transforms");
    run(
        &ctx,
        &compiler,
        &label,
        cubes.clone(),
        frames,
        |s, f| s.set_time(f as f64 / 60.0),
        &["scene update", "tlas"],
    )?;
    let tube = skinned_tube(vertices);
    let n = tube.meshes[0].primitives[0].positions.len();
    let label = format!("skinned mesh, {n} vertices, 64 joints");
    run(
        &ctx,
        &compiler,
        &label,
        tube,
        frames,
        |s, f| {
            let a = (f as f32 * 0.05).sin() * 0.05;
            for j in 2..=64 {
                let l = s.nodes[j].local;
                let t = l.w_axis.truncate();
                s.nodes[j].local = Mat4::from_rotation_translation(Quat::from_rotation_z(a), t);
            }
            s.update_world();
            s.versions.transforms += 1;
        },
        &["deform", "refit blas", "tlas"],
    )?;
    if export > 0 {
        // Export: the animated cubes (a tenth of them) at 1920x1080, raster, PNG.
        let mut scene = animated_cubes((objects / 10).max(1));
        let req = viewer::RenderRequest {
            size: Some((1920, 1080)),
            ..viewer::RenderRequest::new("animated cubes".into())
        };
        let ex = viewer::export::ExportRequest {
            frames: (0, export - 1),
            fps: Some(30.0),
            output: viewer::export::ExportOutput::parse(&out.join("f_%05d.png"))?,
            progress_bar: false,
        };
        let progress = viewer::export::ExportProgress::default();
        let started = Instant::now();
        let s = viewer::export::export(&mut scene, &req, &ex, None, &progress)?;
        println!(
            "| export {} frames 1920x1080 raster PNG | {:.2} s | {:.1} frames/s (including \
             start-up: {:.2} s) | {} encoder threads |",
            s.frames,
            s.seconds,
            s.frames as f64 / s.seconds,
            started.elapsed().as_secs_f64(),
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1))
        );
        let _ = std::fs::remove_dir_all(&out);
    }
    Ok(())
}
