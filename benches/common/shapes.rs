//! The shapes-for-data workloads of the raster and path tracer benchmarks: 1 M spheres, 1 M
//! arrows and a 256^3 voxel grid, as the meshes `scene::shapes` makes of them, each with a
//! camera, a sun and a sky.

use glam::{Mat4, Quat, Vec3};
use scene::{Camera, Environment, Light, LightKind, Material, Mesh, Node, Primitive, Scene};

fn rng(mut seed: u64) -> impl FnMut() -> f32 {
    move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// `prim` (vertex colours) under a camera looking at the centre of `[-s, s]^3` from outside.
fn framed(name: &str, prim: Primitive, s: f32) -> Scene {
    let mut scene = Scene {
        meshes: vec![Mesh { name: name.into(), primitives: vec![prim] }],
        materials: vec![Material::lambert(name, [1.0; 3])],
        cameras: vec![Camera { zfar: Some(50.0 * s), ..Camera::perspective("cam", 0.8, None) }],
        environment: Environment::Uniform([0.3, 0.35, 0.4]),
        lights: vec![Light {
            name: "sun".into(),
            kind: LightKind::Directional,
            color: [1.0; 3],
            intensity: 2.0,
            shadows: true,
            range: None,
        }],
        ..Default::default()
    };
    scene.nodes.push(Node::new(name, Mat4::IDENTITY).with_mesh(0));
    let sun = Quat::from_rotation_y(0.7) * Quat::from_rotation_x(-0.9);
    scene.nodes.push(Node::new("sun", Mat4::from_quat(sun)).with_light(0));
    let eye = Vec3::new(1.6, 1.2, 2.2) * s;
    let cam = glam::camera::rh::view::look_at_mat4(eye, Vec3::ZERO, Vec3::Y).inverse();
    scene.nodes.push(Node::new("camera", cam).with_camera(0));
    scene.update_world();
    scene
}

/// `n` spheres of radius 0.004-0.01 uniform in [-1, 1]^3, coloured by height (icosahedra).
pub fn spheres(n: usize) -> Scene {
    let mut r = rng(7);
    let centers: Vec<[f32; 3]> =
        (0..n).map(|_| [r() * 2.0 - 1.0, r() * 2.0 - 1.0, r() * 2.0 - 1.0]).collect();
    let radii: Vec<f32> = (0..n).map(|_| 0.004 + 0.006 * r()).collect();
    let heights: Vec<f32> = centers.iter().map(|c| c[1]).collect();
    let colors = scene::shapes::colormapped(&heights, scene::ColormapKind::Viridis);
    let prim = scene::shapes::spheres(&centers, &radii, &colors, 0).expect("spheres");
    framed("spheres", prim, 1.0)
}

/// `n` arrows of a swirling field on a jittered grid in [-1, 1]^3, coloured by length.
pub fn arrows(n: usize) -> Scene {
    let mut r = rng(11);
    let side = (n as f32).cbrt().ceil() as usize;
    let step = 2.0 / side as f32;
    let (mut origins, mut vectors) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let g = [i % side, (i / side) % side, i / (side * side)];
        let o = Vec3::from(g.map(|k| -1.0 + (k as f32 + r()) * step));
        let v = Vec3::new(-o.z, 0.3 * o.x, o.x) * (0.5 + o.length());
        origins.push(o.to_array());
        vectors.push(v.to_array());
    }
    let lengths: Vec<f32> = vectors.iter().map(|v| Vec3::from(*v).length()).collect();
    let colors = scene::shapes::colormapped(&lengths, scene::ColormapKind::Viridis);
    let prim =
        scene::shapes::arrows(&origins, &vectors, 0.6 * step, None, &colors).expect("arrows");
    framed("arrows", prim, 1.0)
}

/// A `d`^3 grid: a solid ball of radius 0.4 d and 2 % of the other cells filled at random,
/// valued by their distance from the centre.
pub fn voxels(d: usize) -> Scene {
    let mut r = rng(13);
    let c = d as f32 / 2.0;
    let mut values = vec![f32::NAN; d * d * d];
    for z in 0..d {
        for y in 0..d {
            for x in 0..d {
                let dist = Vec3::new(x as f32 - c, y as f32 - c, z as f32 - c).length();
                if dist < 0.4 * d as f32 || r() < 0.02 {
                    values[x + d * (y + d * z)] = dist;
                }
            }
        }
    }
    let size = 2.0 / d as f32;
    let prim = scene::shapes::voxel_grid(
        [d, d, d],
        &values,
        f32::NEG_INFINITY,
        [-1.0; 3],
        size,
        scene::ColormapKind::Viridis,
    )
    .expect("voxels");
    framed("voxels", prim, 1.0)
}

/// The three workloads with their labels.
pub fn workloads() -> Vec<(String, Scene)> {
    let t = std::time::Instant::now();
    let balls = spheres(1_000_000);
    // The same spheres as their triangles (what the raster drew before impostors; the path
    // tracer traces these).
    let mut faceted = balls.clone();
    for p in faceted.meshes.iter_mut().flat_map(|m| &mut m.primitives) {
        p.sphere_vertices = 0;
    }
    let out = vec![
        ("1 M spheres (raster: impostors; path tracer: icosahedra)".to_string(), balls),
        ("1 M spheres as icosahedra (triangles in both)".to_string(), faceted),
        ("1 M arrows".to_string(), arrows(1_000_000)),
        ("256^3 voxel grid (ball + 2 % noise)".to_string(), voxels(256)),
    ];
    for (label, s) in &out {
        let tris: usize =
            s.meshes.iter().flat_map(|m| &m.primitives).map(|p| p.indices.len() / 3).sum();
        println!("shapes: {label}: {tris} triangles");
    }
    println!("shapes: made in {:.1} s", t.elapsed().as_secs_f64());
    out
}
