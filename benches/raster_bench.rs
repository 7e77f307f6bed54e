//! Raster renderer benchmark: frame time at 1920x1080 (CPU to build, compile and record the
//! frame's graph; GPU from the per-pass timestamps, frames run one at a time so that passes of
//! two frames never overlap in the timings) for the issue's workloads:
//! - 10,000 separate small meshes (cubes), each with its own transform, one directional light
//!   with a shadow map; then the same cubes with vertex colors;
//! - a small scene (two objects, a floor, the reference grid, two shadowed directional lights,
//!   no ambient occlusion), then without shadows and with ambient occlusion; env_diffuse with
//!   and without ambient occlusion.
//!
//! - 10 million points with per-point colors, 2 px, uniform in [-1,1]^3, camera at
//!   (2.5, -3.3, 2.1) looking at the origin, Z up (the Python viewer's benchmark setup).
//! - 1,000 overlapping transparent spheres (alpha 0.25, lit) over a floor, in each
//!   transparency mode (sorted, depth peeling with its layers used, weighted blended);
//! - many lights: many_lights (200 emissive quads) with 1,000 point and spot lights, with
//!   clustered culling and unculled, and with its emitters' area lights off;
//! - shapes for data: 1 M spheres, 1 M arrows, a 256^3 voxel grid (a solid ball and a noisy
//!   shell), as the meshes the scene makes of them.
//!
//! The data is generated here.
//!
//! ```text
//! cargo bench --bench raster_bench -- [--frames 50] [--objects 10000] [--msaa 4]
//!     [--only transparency,shapes,small,lights,objects]
//! ```

#[path = "common/shapes.rs"]
mod shapes;

use std::time::Instant;

use framegraph::{Executor, FrameGraph, ImageInfo};
use glam::{Mat4, Quat, Vec3};
use raster::{Raster, HDR_FORMAT};
use render::{GpuScene, Renderer, SettingValue};
use scene::{Camera, Environment, Light, LightKind, Material, Mesh, Node, Primitive, Scene, View};
use xpg::{Context, ContextDesc, FrameRing, ShaderCompiler};

fn cube() -> Primitive {
    let mut p = Primitive::default();
    let faces = [
        (Vec3::X, Vec3::Y, Vec3::Z),
        (-Vec3::X, Vec3::Y, -Vec3::Z),
        (Vec3::Y, Vec3::Z, Vec3::X),
        (-Vec3::Y, Vec3::Z, -Vec3::X),
        (Vec3::Z, Vec3::X, Vec3::Y),
        (-Vec3::Z, Vec3::X, -Vec3::Y),
    ];
    for (n, u, v) in faces {
        let base = p.positions.len() as u32;
        for (a, b) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            p.positions.push((0.5 * (n + u * a + v * b)).into());
            p.normals.push(n.into());
        }
        p.indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    }
    p
}

/// A single-sided dielectric (back faces culled) with roughness 0.6 and the full specular
/// layer.
fn glossy(name: &str, c: [f32; 3]) -> Material {
    Material { roughness: 0.6, specular: 1.0, double_sided: false, ..Material::lambert(name, c) }
}

/// `n` cubes on a jittered grid, each its own node; a floor; `suns` directional lights.
fn scene(n: usize, suns: usize) -> Scene {
    let mut s = Scene {
        meshes: vec![
            Mesh { name: "cube".into(), primitives: vec![cube()] },
            Mesh {
                name: "floor".into(),
                primitives: vec![Primitive {
                    positions: vec![
                        [-60.0, 0.0, -60.0],
                        [60.0, 0.0, -60.0],
                        [60.0, 0.0, 60.0],
                        [-60.0, 0.0, 60.0],
                    ],
                    normals: vec![[0.0, 1.0, 0.0]; 4],
                    indices: vec![0, 2, 1, 0, 3, 2],
                    material: 1,
                    ..Default::default()
                }],
            },
        ],
        materials: vec![glossy("red", [0.8, 0.3, 0.2]), glossy("floor", [0.7, 0.7, 0.7])],
        cameras: vec![Camera {
            zfar: Some(500.0),
            ..Camera::perspective("cam", 50f32.to_radians(), None)
        }],
        environment: Environment::Uniform([0.1, 0.12, 0.15]),
        ..Default::default()
    };
    let side = (n as f32).sqrt().ceil() as usize;
    let mut seed = 12345u64;
    let mut rand = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    for i in 0..n {
        let (x, z) = ((i % side) as f32, (i / side) as f32);
        let spread = 100.0 / side.max(1) as f32;
        let t = Vec3::new(
            (x - side as f32 / 2.0) * spread,
            0.5 + rand(),
            (z - side as f32 / 2.0) * spread,
        );
        let r = Quat::from_rotation_y(rand() * std::f32::consts::TAU);
        let sc = Vec3::splat(spread * 0.4);
        let local = Mat4::from_scale_rotation_translation(sc, r, t);
        s.nodes.push(Node::new(&format!("cube{i}"), local).with_mesh(0));
    }
    s.nodes.push(Node::new("floor", Mat4::IDENTITY).with_mesh(1));
    for k in 0..suns {
        s.lights.push(Light {
            name: format!("sun{k}"),
            kind: LightKind::Directional,
            color: [1.0; 3],
            intensity: 2.0,
            shadows: true,
            range: None,
        });
        let rot = Quat::from_rotation_y(0.8 + k as f32) * Quat::from_rotation_x(-0.9);
        s.nodes.push(Node::new(&format!("sun{k}"), Mat4::from_quat(rot)).with_light(k));
    }
    let eye = Vec3::new(40.0, 45.0, 70.0);
    let cam = glam::camera::rh::view::look_at_mat4(eye, Vec3::ZERO, Vec3::Y).inverse();
    s.nodes.push(Node::new("camera", cam).with_camera(0));
    s.update_world();
    s
}

/// `n` points uniform in [-1,1]^3 with random colors; camera at (2.5, -3.3, 2.1) looking at the
/// origin with +Z up; nothing else (black background).
fn points_scene(n: usize) -> Scene {
    let mut seed = 987654321u64;
    let mut rand = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as u32
    };
    let unit = |r: u32| (r as f32 / (1u64 << 31) as f32) * 2.0 - 1.0;
    let positions = (0..n).map(|_| [unit(rand()), unit(rand()), unit(rand())]).collect();
    let colors = (0..n).map(|_| rand().to_le_bytes()).map(|c| [c[0], c[1], c[2], 255]).collect();
    let eye = Vec3::new(2.5, -3.3, 2.1);
    let cam = glam::camera::rh::view::look_at_mat4(eye, Vec3::ZERO, Vec3::Z).inverse();
    let mut s = Scene {
        nodes: vec![Node::new("camera", cam).with_camera(0)],
        cameras: vec![Camera {
            zfar: Some(100.0),
            ..Camera::perspective("cam", 45f32.to_radians(), None)
        }],
        point_sets: vec![scene::PointSet { colors, ..scene::PointSet::new("cloud", positions) }],
        ..Default::default()
    };
    s.update_world();
    s
}

/// `n` spheres (alpha 0.25, random colours) in a 20 m cube over a floor: many overlap along
/// every ray through the middle.
fn transparent_scene(n: usize) -> Scene {
    let mut s = scene(0, 1);
    let mut seed = 4242u64;
    let mut rand = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    s.meshes.push(Mesh { name: "sphere".into(), primitives: Vec::new() });
    let mesh = s.meshes.len() - 1;
    for i in 0..n {
        let material = s.materials.len();
        let mut m = Material::lambert(&format!("glass {i}"), [rand(), rand(), rand()]);
        m.base_color[3] = 0.25;
        m.alpha = scene::AlphaMode::Blend;
        s.materials.push(m);
        let mut p = scene::shapes::uv_sphere(material, 24, 12);
        let c = Vec3::new(rand() - 0.5, rand() * 0.5, rand() - 0.5) * 20.0;
        let r = 1.0 + 2.0 * rand();
        for q in &mut p.positions {
            *q = (Vec3::from(*q) * r + c + Vec3::Y * 2.0).into();
        }
        s.meshes[mesh].primitives.push(p);
    }
    s.nodes.push(Node::new("spheres", Mat4::IDENTITY).with_mesh(mesh));
    s.update_world();
    s
}

/// 1,000 transparent spheres in each transparency mode.
fn transparency(ctx: &Context, compiler: &ShaderCompiler, frames: usize) -> anyhow::Result<()> {
    let glass = transparent_scene(1000);
    use raster::Transparency as T;
    for (mode, cap) in [(T::Sorted, 16), (T::Peeling, 16), (T::Peeling, 64), (T::Weighted, 16)] {
        let label = format!("1000 transparent spheres, {} (cap {cap})", mode.name());
        let settings = [
            ("transparency", SettingValue::UInt(mode.index())),
            ("peel_layers", SettingValue::UInt(cap)),
        ];
        run(ctx, compiler, &label, &glass, None, frames, 1, &settings, false)?;
    }
    let label = "1000 transparent spheres, peeling, MSAA 4x";
    let peeling = [("transparency", SettingValue::UInt(T::Peeling.index()))];
    run(ctx, compiler, label, &glass, None, frames, 4, &peeling, false)?;
    Ok(())
}

/// Settings given with `--set name=value`, applied to every workload after its own.
static EXTRA: std::sync::OnceLock<Vec<(String, SettingValue)>> = std::sync::OnceLock::new();
/// Nothing printed (the warm-up).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Frames of each workload not counted in its median.
const WARM_FRAMES: usize = 5;

/// A setting's value from the command line: true/false, a count or a quantity.
fn parse_setting(arg: &str) -> anyhow::Result<(String, SettingValue)> {
    let (k, v) =
        arg.split_once('=').ok_or_else(|| anyhow::anyhow!("--set {arg}: not name=value"))?;
    let value = match v {
        "true" | "on" => SettingValue::Bool(true),
        "false" | "off" => SettingValue::Bool(false),
        _ => match v.parse::<u32>() {
            Ok(n) => SettingValue::UInt(n),
            Err(_) => SettingValue::Float(
                v.parse().map_err(|_| anyhow::anyhow!("--set {arg}: not a value"))?,
            ),
        },
    };
    Ok((k.to_string(), value))
}

/// `moving_light`: the first light's node turns a little every frame (the scene updated in
/// the frame's graph): no shadow map can be kept.
#[allow(clippy::too_many_arguments)]
fn run(
    ctx: &Context,
    compiler: &ShaderCompiler,
    label: &str,
    scene: &Scene,
    grid: Option<raster::Grid>,
    frames: usize,
    msaa: u32,
    settings: &[(&str, SettingValue)],
    moving_light: bool,
) -> anyhow::Result<()> {
    let (w, h) = (1920, 1080);
    let mut scene = scene.clone();
    let mut gpu = GpuScene::upload(ctx, &scene)?;
    let light_node = scene.nodes.iter().position(|n| n.light.is_some());
    let mut renderer = Raster::with_msaa(ctx, compiler, msaa)?;
    renderer.scene_changed(&scene, &gpu);
    renderer.grid = grid;
    for (k, v) in settings {
        renderer.set(k, *v)?;
    }
    for (k, v) in EXTRA.get().into_iter().flatten() {
        renderer.set(k, *v)?;
    }
    let view = View::from_scene(&scene, None, w, h).ok_or_else(|| anyhow::anyhow!("no camera"))?;
    let mut ring = FrameRing::new(ctx, 2)?;
    let mut executor = Executor::new(ctx, 2);
    let mut cpu = Vec::new();
    let mut gpu_ms = Vec::new();
    let mut phases: Vec<[f64; 3]> = Vec::new();
    for k in 0..frames {
        let frame = ring.begin()?;
        let t = Instant::now();
        let mut graph = FrameGraph::new();
        if let (true, Some(n)) = (moving_light, light_node) {
            let local = scene.nodes[n].local;
            let turn = Mat4::from_rotation_y(0.01 * (k as f32 + 1.0));
            scene.set_local_transform(n, turn * local);
            gpu.update(&scene, &mut graph)?;
            renderer.scene_changed(&scene, &gpu);
        }
        let gpu = &gpu;
        let mut target = graph.create_image("hdr", ImageInfo::d2(w, h, HDR_FORMAT));
        renderer.add_passes(
            &mut graph,
            gpu,
            &view,
            render::RenderTargets { color: &mut target },
            &mut render::Hooks::default(),
        )?;
        // Keep the target alive (nothing reads it in a benchmark).
        graph
            .add_pass("present stand-in")
            .read(&target, framegraph::Access::TransferSrc)
            .side_effect()
            .record(|_| Ok(()));
        let t_build = t.elapsed();
        let plan = executor.compile(&graph)?;
        let t_compile = t.elapsed();
        executor.execute(graph, &plan, frame.cmd, None)?;
        let t_all = t.elapsed();
        cpu.push(t_all.as_secs_f64() * 1e3);
        phases
            .push([t_build, t_compile - t_build, t_all - t_compile].map(|d| d.as_secs_f64() * 1e3));
        let value = ring.end(frame)?;
        // One frame at a time: with frames in flight, the timestamps of one frame's passes
        // would include the other frame's overlapping work.
        ctx.wait(value)?;
        let total: f64 = executor.last_timings().iter().map(|t| t.gpu_ms).sum();
        // The first frames (pipelines and memory first touched) are not counted.
        if total > 0.0 && (k >= WARM_FRAMES || frames <= WARM_FRAMES) {
            gpu_ms.push(total);
        }
    }
    ctx.wait_idle()?;
    let med = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let per_pass: Vec<String> =
        executor.last_timings().iter().map(|t| format!("{} {:.3}", t.name, t.gpu_ms)).collect();
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    println!(
        "| {label} | {} draws | CPU {:.3} ms | GPU {:.3} ms |",
        gpu.draw_list.len(),
        med(cpu),
        med(gpu_ms)
    );
    println!("|   passes (ms): {} |", per_pass.join(", "));
    println!("|   shadow map layers drawn in the last frame: {} |", renderer.shadow_layers_drawn());
    if let Some(s) =
        renderer.peel_stats().filter(|_| renderer.transparency == raster::Transparency::Peeling)
    {
        println!(
            "|   depth peeling: {} layers with fragments, cap {}{} |",
            s.layers,
            s.cap,
            if s.cap_hit { " (reached)" } else { "" }
        );
    }
    let ph = |k: usize| med(phases.iter().map(|p| p[k]).collect());
    println!(
        "|   CPU phases (ms): build {:.3}, compile {:.3}, record {:.3} |",
        ph(0),
        ph(1),
        ph(2)
    );
    Ok(())
}

/// many_lights (200 emissive quads, 3 point lights) with 1,000 point and spot lights more
/// spread over its room (0.05-0.5 W/sr: each reaches a few metres before falling below the
/// cutoff), clustered and unculled.
fn many_lights(ctx: &Context, compiler: &ShaderCompiler, frames: usize) -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/refs/scenes/many_lights.gltf");
    let mut s = scene::load(&path)?;
    let (lo, hi) = s.bounds().unwrap_or((Vec3::splat(-1.0), Vec3::splat(1.0)));
    let mut seed = 5u64;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    let own = s.lights.len();
    for k in 0..1000 {
        let p = lo + (hi - lo) * Vec3::new(rnd(), rnd(), rnd());
        let kind =
            if k % 4 == 0 { LightKind::Spot { inner: 0.4, outer: 0.6 } } else { LightKind::Point };
        s.lights.push(Light {
            name: format!("extra {k}"),
            kind,
            color: [rnd(), rnd(), rnd()],
            intensity: 0.05 + 0.45 * rnd(),
            shadows: false,
            range: None,
        });
        let down = Mat4::from_rotation_x(-std::f32::consts::FRAC_PI_2);
        let node = Node::new(&format!("extra {k}"), Mat4::from_translation(p) * down);
        s.nodes.push(node.with_light(s.lights.len() - 1));
    }
    s.update_world();
    // The extra lights as lamps of a 2 m range (KHR_lights_punctual `range`), and unbounded.
    let mut bounded = s.clone();
    for l in &mut bounded.lights[own..] {
        l.range = Some(2.0);
    }
    for (clustered, area, vis, range) in [
        (true, true, true, true),
        (true, true, true, false),
        (false, true, true, true),
        (true, false, true, true),
        (true, true, false, true),
    ] {
        let label = format!(
            "many_lights + 1,000 point/spot lights{}, {}{}{}",
            if range { " of 2 m range" } else { " (unbounded)" },
            if clustered { "clustered" } else { "unculled" },
            if area { "" } else { ", area lights off" },
            if vis { "" } else { ", forward shading (no visibility buffer)" }
        );
        let settings = [
            ("clustered", SettingValue::Bool(clustered)),
            ("area_lights", SettingValue::Bool(area)),
            ("visibility_buffer", SettingValue::Bool(vis)),
        ];
        let scene = if range { &bounded } else { &s };
        run(ctx, compiler, &label, scene, None, frames, 1, &settings, false)?;
    }
    // Every surface glossy (its Lambert materials given a specular layer): the emitters'
    // GGX lobes integrated with linearly transformed cosines.
    let mut glossy = bounded.clone();
    for m in &mut glossy.materials {
        if m.emissive.iter().all(|&e| e == 0.0) {
            m.specular = 1.0;
            m.roughness = 0.4;
        }
    }
    let label =
        "many_lights + 1,000 point/spot lights of 2 m range, clustered, every surface glossy";
    let settings = [("clustered", SettingValue::Bool(true))];
    run(ctx, compiler, label, &glossy, None, frames, 1, &settings, false)?;
    Ok(())
}

/// The Python viewer's scene (two objects, a floor, the grid, two shadowed suns, no MSAA, no
/// ambient occlusion): with the shadow maps kept (nothing moves), and with a sun turning
/// every frame; then what each feature costs on it: without shadows, with ambient
/// occlusion; and env_diffuse with and without ambient occlusion.
fn small_scene(ctx: &Context, compiler: &ShaderCompiler, frames: usize) -> anyhow::Result<()> {
    let (small, grid) = (scene(2, 2), Some(raster::Grid::default()));
    let no_ao = [("ambient_occlusion", SettingValue::Bool(false))];
    for (label, moving) in [
        ("small scene: 2 objects, floor, grid, 2 shadowed suns (shadows kept)", false),
        ("small scene, a sun turning every frame (shadows drawn every frame)", true),
    ] {
        run(ctx, compiler, label, &small, grid, frames, 1, &no_ao, moving)?;
    }
    let forward = [
        ("ambient_occlusion", SettingValue::Bool(false)),
        ("visibility_buffer", SettingValue::Bool(false)),
    ];
    let label = "small scene (shadows kept), forward shading (no visibility buffer)";
    run(ctx, compiler, label, &small, grid, frames, 1, &forward, false)?;
    let mut unshadowed = small.clone();
    for l in &mut unshadowed.lights {
        l.shadows = false;
    }
    let label = "small scene, suns without shadows";
    run(ctx, compiler, label, &unshadowed, grid, frames, 1, &no_ao, false)?;
    let label = "small scene, ambient occlusion on (shadows kept)";
    run(ctx, compiler, label, &small, grid, frames, 1, &[], false)?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/refs/scenes/env_diffuse.gltf");
    let env = scene::load(&path)?;
    for (ao, sun) in [(false, false), (true, false), (true, true)] {
        let label = format!(
            "env_diffuse, ambient occlusion {}{}",
            if ao { "on" } else { "off" },
            if sun { ", the sky's sun as a shadowed light" } else { "" }
        );
        let settings = [
            ("ambient_occlusion", SettingValue::Bool(ao)),
            ("environment_sun", SettingValue::Bool(sun)),
        ];
        run(ctx, compiler, &label, &env, None, frames, 1, &settings, false)?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut frames = 50usize;
    let mut objects = 10_000usize;
    let mut points = 10_000_000usize;
    let mut msaa = 4u32;
    // `--only transparency`, `shapes`, `small`, `lights` or `objects` (the 10,000 objects): those groups alone.
    let mut only: Option<String> = None;
    let mut extra = Vec::new();
    let mut warm_up = 200usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--frames" => frames = args.next().unwrap_or_default().parse()?,
            "--objects" => objects = args.next().unwrap_or_default().parse()?,
            "--points" => points = args.next().unwrap_or_default().parse()?,
            "--msaa" => msaa = args.next().unwrap_or_default().parse()?,
            "--only" => only = Some(args.next().unwrap_or_default()),
            "--warm-up" => warm_up = args.next().unwrap_or_default().parse()?,
            "--set" => extra.push(parse_setting(&args.next().unwrap_or_default())?),
            "--bench" => {}
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let ctx = Context::new(&ContextDesc::default())?;
    println!("device: {} ({})", ctx.caps().device_name, ctx.caps().driver);
    let compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
    EXTRA.get_or_init(|| extra);
    // About a second of GPU work first (`--warm-up` frames), unmeasured: clocks up from idle.
    QUIET.store(true, std::sync::atomic::Ordering::Relaxed);
    let (small, grid) = (scene(2, 2), Some(raster::Grid::default()));
    run(&ctx, &compiler, "warm-up", &small, grid, warm_up, 1, &[], true)?;
    QUIET.store(false, std::sync::atomic::Ordering::Relaxed);
    println!("| workload | | CPU build+compile+record (median) | GPU (median, sum of passes) |");
    println!("|---|---|---:|---:|");
    let group = |g: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == g));
    if group("transparency") {
        transparency(&ctx, &compiler, frames)?;
    }
    let named = |g: &str| only.as_deref().is_some_and(|o| o.split(',').any(|x| x == g));
    if named("small") {
        small_scene(&ctx, &compiler, frames)?;
    }
    if group("lights") {
        many_lights(&ctx, &compiler, frames)?;
    }
    if group("shapes") {
        for (label, s) in shapes::workloads() {
            let no_ao = [("ambient_occlusion", SettingValue::Bool(false))];
            run(&ctx, &compiler, &label, &s, None, frames, 1, &no_ao, false)?;
        }
    }
    if only.as_deref().is_some_and(|o| !o.split(',').any(|x| x == "objects")) {
        return Ok(());
    }
    // Without ambient occlusion (as measured before it existed; small_scene measures its cost).
    let no_ao = [("ambient_occlusion", SettingValue::Bool(false))];
    let many = scene(objects, 1);
    run(
        &ctx,
        &compiler,
        &format!("{objects} objects, 1 shadowed sun"),
        &many,
        None,
        frames,
        1,
        &no_ao,
        false,
    )?;
    let label = format!("{objects} objects, 1 shadowed sun, MSAA {msaa}x");
    run(&ctx, &compiler, &label, &many, None, frames, msaa, &no_ao, false)?;
    // The same with a 256x256 base color texture (the textured forward variant, bindless).
    let mut textured = many.clone();
    let cube = &mut textured.meshes[0].primitives[0];
    cube.uvs = (0..cube.positions.len()).map(|i| [(i % 2) as f32, ((i / 2) % 2) as f32]).collect();
    textured.textures.push(scene::Texture {
        name: "checker".into(),
        width: 256,
        height: 256,
        pixels: scene::TexturePixels::Rgba8(
            (0..256 * 256)
                .map(|i| {
                    if (i % 256 / 32 + i / 256 / 32) % 2 == 0 {
                        [230; 4]
                    } else {
                        [40, 40, 40, 255]
                    }
                })
                .collect(),
        ),
        srgb: true,
        sampler: Default::default(),
    });
    textured.materials[0].base_color_texture = Some(0);
    let label = format!("{objects} objects, base color texture, 1 shadowed sun");
    run(&ctx, &compiler, &label, &textured, None, frames, 1, &no_ao, false)?;
    // The same with vertex colors on the cubes (the forward variant with the color varying).
    let mut colored = many;
    let cube = &mut colored.meshes[0].primitives[0];
    cube.colors =
        cube.positions.iter().map(|p| [p[0] + 0.5, p[1] + 0.5, p[2] + 0.5, 1.0]).collect();
    let label = format!("{objects} objects with vertex colors, 1 shadowed sun");
    run(&ctx, &compiler, &label, &colored, None, frames, 1, &no_ao, false)?;
    if only.is_some() {
        return Ok(());
    }
    small_scene(&ctx, &compiler, frames)?;
    let (small, grid) = (scene(2, 2), Some(raster::Grid::default()));
    let label = format!("small scene, MSAA {msaa}x");
    run(&ctx, &compiler, &label, &small, grid, frames, msaa, &no_ao, false)?;
    let cloud = points_scene(points);
    run(&ctx, &compiler, &format!("{points} points, 2 px"), &cloud, None, frames, 1, &[], false)?;
    Ok(())
}
