//! Skinning and morph targets on the GPU (issue 22): the deform pass's vertices against the
//! CPU reference (`scene::Scene::deformed`), at upload and after updates of the joints and
//! the weights; lavapipe with validation on.

use glam::{Mat4, Quat, Vec3};
use scene::{MorphTarget, Node, Primitive, Scene, Skin};
use testkit as common;

/// A strip along +x (10 quads) skinned to a chain of two joints (the first vertices to the
/// root, the last to the second joint, blended in between), with tangents; and a quad with
/// two morph targets (positions and normals) on another node.
fn skinned_scene() -> Scene {
    let mut strip = Primitive { material: 0, ..Default::default() };
    for i in 0..=10 {
        for y in [0.0, 0.2] {
            let x = i as f32 * 0.2;
            strip.positions.push([x, y, 0.0]);
            strip.normals.push([0.0, 0.0, 1.0]);
            strip.tangents.push([1.0, 0.0, 0.0, 1.0]);
            let w = (x / 2.0).clamp(0.0, 1.0);
            strip.joints.push([0, 1, 0, 0]);
            strip.weights.push([1.0 - w, w, 0.0, 0.0]);
        }
    }
    for i in 0..10u32 {
        let a = 2 * i;
        strip.indices.extend([a, a + 2, a + 1, a + 1, a + 2, a + 3]);
    }
    let quad = Primitive {
        positions: vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
        normals: vec![[0.0, 0.0, 1.0]; 4],
        indices: vec![0, 1, 2, 0, 2, 3],
        targets: vec![
            MorphTarget {
                positions: vec![[0.0, 0.0, 1.0], [0.0; 3], [0.0; 3], [0.0; 3]],
                normals: vec![[0.5, 0.0, 0.0]; 4],
                ..Default::default()
            },
            MorphTarget {
                positions: vec![[0.0; 3], [0.5, 0.0, 0.0], [0.0; 3], [0.0; 3]],
                ..Default::default()
            },
        ],
        material: 0,
        ..Default::default()
    };
    let mut s = Scene {
        materials: vec![scene::Material::lambert("m", [0.8; 3])],
        meshes: vec![
            scene::Mesh { name: "strip".into(), primitives: vec![strip] },
            scene::Mesh { name: "quad".into(), primitives: vec![quad] },
        ],
        ..Default::default()
    };
    // The skinned node sits somewhere else: its own transform must not move the vertices.
    let mut skinned = Node::new("skinned", Mat4::from_translation(Vec3::new(3.0, 1.0, 0.0)));
    skinned.mesh = Some(0);
    skinned.skin = Some(0);
    s.nodes.push(skinned);
    s.nodes.push(Node::new("root", Mat4::IDENTITY));
    let mut j1 = Node::new("j1", Mat4::from_translation(Vec3::new(1.0, 0.0, 0.0)));
    j1.parent = Some(1);
    s.nodes.push(j1);
    s.skins.push(Skin {
        name: "chain".into(),
        joints: vec![1, 2],
        inverse_bind: vec![Mat4::IDENTITY, Mat4::from_translation(Vec3::new(-1.0, 0.0, 0.0))],
    });
    let mut morphed = Node::new("morphed", Mat4::from_translation(Vec3::new(0.0, 2.0, 0.0)));
    morphed.mesh = Some(1);
    morphed.morph_weights = vec![0.25, 1.0];
    s.nodes.push(morphed);
    s.update_world();
    s
}

/// The GPU's positions, normals and tangents of mesh `mesh` primitive 0.
fn gpu_vertices(
    ctx: &xpg::Context,
    gpu: &render::GpuScene,
    first: u64,
    count: u64,
) -> scene::deform::Deformed {
    let mut up = xpg::Uploader::new(ctx, 1 << 20).expect("uploader");
    let v = up.read_buffer(&gpu.vertices, first * 32, count * 32).expect("read vertices");
    let t = up.read_buffer(&gpu.tangents, first * 16, count * 16).expect("read tangents");
    let f: &[f32] = bytemuck::cast_slice(&v);
    let t: &[f32] = bytemuck::cast_slice(&t);
    scene::deform::Deformed {
        positions: f.chunks_exact(8).map(|c| [c[0], c[1], c[2]]).collect(),
        normals: f.chunks_exact(8).map(|c| [c[4], c[5], c[6]]).collect(),
        tangents: t.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect(),
    }
}

fn assert_close(what: &str, gpu: &[[f32; 3]], cpu: &[[f32; 3]]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}");
    for (k, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let d = (0..3).map(|i| (g[i] - c[i]).abs()).fold(0.0, f32::max);
        assert!(d < 1e-5, "{what} {k}: GPU {g:?}, CPU {c:?}");
    }
}

/// Compares the GPU copy with the CPU reference for both meshes.
fn check(ctx: &xpg::Context, gpu: &render::GpuScene, s: &Scene, when: &str) {
    let strip = s.deformed(0, 0).expect("strip");
    let scene::deform::Deformed { positions: p, normals: n, tangents: t } =
        gpu_vertices(ctx, gpu, 0, 22);
    assert_close(&format!("{when}: strip position"), &p, &strip.positions);
    assert_close(&format!("{when}: strip normal"), &n, &strip.normals);
    let t3: Vec<[f32; 3]> = t.iter().map(|t| [t[0], t[1], t[2]]).collect();
    let c3: Vec<[f32; 3]> = strip.tangents.iter().map(|t| [t[0], t[1], t[2]]).collect();
    assert_close(&format!("{when}: strip tangent"), &t3, &c3);
    assert!(t.iter().all(|t| t[3] == 1.0), "{when}: tangent signs kept");
    let quad = s.deformed(3, 0).expect("quad");
    let g = gpu_vertices(ctx, gpu, 22, 4);
    let (p, n) = (g.positions, g.normals);
    assert_close(&format!("{when}: quad position"), &p, &quad.positions);
    assert_close(&format!("{when}: quad normal"), &n, &quad.normals);
}

#[test]
fn skinning_and_morph_targets_on_the_gpu_match_the_cpu_reference() {
    let ctx = common::gpu(false);
    let mut s = skinned_scene();
    let mut gpu = render::GpuScene::upload(&ctx, &s).expect("upload");
    // At rest: the strip as it lies (bind pose), the quad morphed by 0.25 and 1.0.
    let quad = s.deformed(3, 0).expect("quad");
    assert_eq!(quad.positions[0], [0.0, 0.0, 0.25]);
    assert_eq!(quad.positions[1], [1.5, 0.0, 0.0]);
    check(&ctx, &gpu, &s, "upload");
    // Bend the chain: the second joint a quarter turn about z; move the skinned node (no
    // effect on its vertices in world space) and change the weights.
    let bent = Mat4::from_rotation_translation(
        Quat::from_rotation_z(std::f32::consts::FRAC_PI_2),
        Vec3::new(1.0, 0.0, 0.0),
    );
    assert!(s.set_local_transform(2, bent));
    assert!(s.set_local_transform(0, Mat4::from_translation(Vec3::new(-2.0, 0.0, 1.0))));
    assert!(s.set_morph_weights(3, &[1.0, 0.0]));
    let g = &mut gpu;
    let mut graph = framegraph::FrameGraph::new();
    let done = g.update(&s, &mut graph).expect("update");
    assert!(done.deform && done.transforms);
    framegraph::run_once(&ctx, graph).expect("execute");
    ctx.wait_idle().expect("idle");
    check(&ctx, &gpu, &s, "bent");
    // The strip's far end (x = 2, y = 0, all on the second joint) went round the joint at
    // (1, 0): to (1, 1), then into the skinned node's space (-(-2, 0, 1)).
    let strip = s.deformed(0, 0).expect("strip");
    let end = strip.positions[20];
    assert!((end[0] - 3.0).abs() < 1e-5 && (end[1] - 1.0).abs() < 1e-5, "{end:?}");
    assert!((end[2] + 1.0).abs() < 1e-5, "{end:?}");
    // The quad's first vertex, fully morphed by the first target.
    let p = gpu_vertices(&ctx, &gpu, 22, 1).positions;
    assert_eq!(p[0], [0.0, 0.0, 1.0]);
    // Nothing changed: no deform pass.
    let mut graph = framegraph::FrameGraph::new();
    assert!(!gpu.update(&s, &mut graph).expect("update").deform);
    drop(graph);
    common::assert_clean(&ctx);
}

/// Vertex values over time are written in place (and the BLAS refitted) where the mesh has
/// a positions track; elsewhere (a BLAS that cannot be refitted) the scene asks for an
/// upload; a new count always does.
#[test]
fn vertex_values_over_time_are_written_in_place() {
    use scene::{Property, PropertyTrack, Samples, Value};
    let ctx = common::gpu(false);
    let mut s = skinned_scene();
    let quad = Property::Positions { mesh: 1, primitive: 0 };
    let moved = vec![[0.0, 0.0, 2.0], [1.0, 0.0, 2.0], [1.0, 1.0, 2.0], [0.0, 1.0, 2.0]];
    let track = scene::time::Track::new(
        scene::time::Timing::Times(vec![0.0, 1.0]),
        vec![
            Some(Value::Vec3s(s.meshes[1].primitives[0].positions.clone())),
            Some(Value::Vec3s(moved.clone())),
        ],
    )
    .expect("track");
    // The quad is morphed: its rest data would go stale, so give it no targets here.
    s.meshes[1].primitives[0].targets.clear();
    s.properties.push(PropertyTrack { property: quad, samples: Samples::Track(track) });
    let mut gpu = render::GpuScene::upload(&ctx, &s).expect("upload");
    let before = gpu.bounds;
    s.set_time(1.0);
    assert!(!gpu.needs_upload(&s));
    let mut graph = framegraph::FrameGraph::new();
    let done = gpu.update(&s, &mut graph).expect("update");
    assert!(done.geometry);
    // The scene's bounds (what shadow maps and light clusters are fitted to) follow: the quad
    // now reaches z = 2.
    assert!(
        before.1.z < 1.5 && (gpu.bounds.1.z - 2.0).abs() < 1e-5,
        "bounds {before:?} -> {:?}",
        gpu.bounds
    );
    framegraph::run_once(&ctx, graph).expect("execute");
    ctx.wait_idle().expect("idle");
    assert_eq!(gpu_vertices(&ctx, &gpu, 22, 4).positions, moved);
    // Another count: an upload.
    s.set_property(quad, Value::Vec3s(vec![[0.0; 3]; 5])).expect("five");
    assert!(gpu.needs_upload(&s));
    common::assert_clean(&ctx);
}

/// Thousands of animated objects take the parallel paths (sampling, draws, TLAS records,
/// bounds): the results are those of the scene in order, one object hidden among them.
#[test]
fn many_animated_objects_update_in_parallel_exactly() {
    use scene::time::{Timing, Track};
    let ctx = common::gpu(false);
    let n = 2600;
    let mut s = Scene {
        materials: vec![scene::Material::lambert("m", [0.8; 3])],
        meshes: vec![scene::Mesh { name: "cube".into(), primitives: vec![scene::shapes::cube(0)] }],
        ..Default::default()
    };
    for i in 0..n {
        let x = (i % 50) as f32;
        let z = (i / 50) as f32;
        s.nodes.push(
            Node::new(&format!("c{i}"), Mat4::from_translation(Vec3::new(x, 0.0, z))).with_mesh(0),
        );
        let keys = vec![Some(Vec3::new(x, 0.0, z)), Some(Vec3::new(x, 1.0 + i as f32 * 0.01, z))];
        let spin = vec![Some(Quat::IDENTITY), Some(Quat::from_rotation_y(i as f32 * 0.001))];
        s.animations.push(scene::NodeAnimation {
            node: i,
            rest: (Vec3::ONE, Quat::IDENTITY, Vec3::new(x, 0.0, z)),
            translation: Track::new(Timing::Rate { fps: 1.0, start: 0.0 }, keys).ok(),
            rotation: Track::new(Timing::Rate { fps: 1.0, start: 0.0 }, spin).ok(),
            scale: None,
            weights: None,
        });
    }
    s.update_world();
    let mut gpu = render::GpuScene::upload(&ctx, &s).expect("upload");
    s.set_time(0.25);
    s.nodes[7].visible = false;
    // Each node where its animation says (sampled in order here).
    for (i, node) in s.nodes.iter().enumerate() {
        let (local, shown) = s.animations[i].local_at(0.25).expect("animated");
        assert!(shown);
        assert_eq!(node.world, local, "node {i}");
    }
    let mut graph = framegraph::FrameGraph::new();
    assert!(gpu.update(&s, &mut graph).expect("update").transforms);
    framegraph::run_once(&ctx, graph).expect("execute");
    ctx.wait_idle().expect("idle");
    let mut up = xpg::Uploader::new(&ctx, 1 << 20).expect("uploader");
    let bytes = up.read_buffer(&gpu.draws, 0, gpu.draws.size()).expect("draws");
    let on_gpu: &[render::GpuDraw] = bytemuck::cast_slice(&bytes[..gpu.draw_list.len() * 160]);
    for (i, d) in gpu.draw_list.iter().enumerate() {
        let (node, _, _) = gpu.draw_origin(i).expect("origin");
        let want = if node == 7 { Mat4::ZERO } else { s.nodes[node].world };
        assert_eq!(Mat4::from_cols_array_2d(&d.model), want, "draw {i} (node {node})");
        assert_eq!(on_gpu[i].model, d.model, "draw {i} on the GPU");
    }
    // The bounds hold every moved cube: the lowest at y = 0.25 (its bottom at -0.25), the
    // highest at 0.25 * (1 + 25.99) (its top 0.5 above).
    let (lo, hi) = gpu.bounds;
    assert!(lo.y <= -0.25 + 1e-4 && hi.y >= 0.25 * (1.0 + 25.99) + 0.5 - 1e-3, "{lo} {hi}");
    common::assert_clean(&ctx);
}
