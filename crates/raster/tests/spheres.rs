//! Spheres as ray-cast impostors in the raster (lavapipe, validation on, zero messages): every
//! pixel shows what the ray through its centre hits first, computed here on the CPU with the
//! exact spheres (silhouettes and depth against each other and against a plane), and their
//! shading follows the exact normal. The same spheres drawn as their triangles fail the same
//! check, so it can tell.

use glam::{Mat4, Vec3};
use scene::{shapes, Camera, Material, Mesh, Node, Primitive, Scene};
use testkit::top::{draw, draw_with, quad, sun_above, top_view, unlit};

const SIZE: u32 = 64;
const YFOV: f32 = 0.9;
const EYE: Vec3 = Vec3::new(0.0, 0.0, 4.0);

struct Ball {
    centre: Vec3,
    radius: f32,
}

const BALLS: [Ball; 3] = [
    Ball { centre: Vec3::new(-0.6, 0.5, 0.0), radius: 0.7 },
    Ball { centre: Vec3::new(0.3, -0.2, 0.4), radius: 0.6 },
    // Far off the axis: perspective stretches its silhouette into an ellipse.
    Ball { centre: Vec3::new(1.2, 1.1, -0.5), radius: 0.35 },
];
/// The plane z = PLANE (facing the eye) cuts the first ball.
const PLANE: f32 = -0.3;

/// Unlit red, green and yellow balls (icosahedra: `subdivisions` 0) and a blue plane, seen by
/// a perspective camera at `EYE` looking down -z.
fn scene(impostors: bool) -> Scene {
    let colors = [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 1.0]];
    let mut meshes: Vec<Primitive> = BALLS
        .iter()
        .zip(colors)
        .map(|(b, c)| {
            let mut p =
                shapes::spheres(&[b.centre.to_array()], &[b.radius], &[c], 0).expect("spheres");
            assert_eq!(p.sphere_vertices, 12, "an icosahedron per sphere");
            if !impostors {
                p.sphere_vertices = 0;
            }
            p
        })
        .collect();
    // The 4x4 plane, facing +z.
    let mut plane = quad(0.0, 2.0, 1, false);
    for p in &mut plane.positions {
        *p = [p[0], -p[2], PLANE];
    }
    plane.normals = vec![[0.0, 0.0, 1.0]; 4];
    plane.indices = vec![0, 2, 1, 0, 3, 2];
    meshes.push(plane);
    let materials = vec![unlit("white", [1.0; 4]), unlit("blue", [0.0, 0.0, 1.0, 1.0])];
    let mut s = Scene { materials, ..Default::default() };
    for (i, p) in meshes.into_iter().enumerate() {
        s.meshes.push(Mesh { name: format!("mesh {i}"), primitives: vec![p] });
        s.nodes.push(Node::new(&format!("node {i}"), Mat4::IDENTITY).with_mesh(i));
    }
    s.cameras.push(Camera::perspective("eye", YFOV, Some(1.0)));
    s.nodes.push(Node::new("camera", Mat4::from_translation(EYE)).with_camera(0));
    s.update_world();
    s
}

/// What the ray through image point (`x`, `y`) (pixels, from the top left) hits first:
/// 0 nothing, 1-3 a ball, 4 the plane.
fn first_hit(x: f32, y: f32) -> u8 {
    let t = (YFOV / 2.0).tan();
    let ndc = (2.0 * x / SIZE as f32 - 1.0, 1.0 - 2.0 * y / SIZE as f32);
    let dir = Vec3::new(ndc.0 * t, ndc.1 * t, -1.0).normalize();
    let mut best = (f32::INFINITY, 0u8);
    for (k, b) in BALLS.iter().enumerate() {
        let oc = EYE - b.centre;
        let across = oc - oc.dot(dir) * dir;
        let h = b.radius * b.radius - across.length_squared();
        if h >= 0.0 {
            let t = -oc.dot(dir) - h.sqrt();
            if t < best.0 {
                best = (t, k as u8 + 1);
            }
        }
    }
    let t_plane = (PLANE - EYE.z) / dir.z;
    let on_plane = EYE + dir * t_plane;
    if t_plane < best.0 && on_plane.x.abs() <= 2.0 && on_plane.y.abs() <= 2.0 {
        best = (t_plane, 4);
    }
    best.1
}

/// What a rendered pixel shows, by its colour (as `first_hit`; 5: none of them).
fn shown(p: [f32; 4]) -> u8 {
    let on = |c: f32| c > 0.5;
    match (on(p[0]), on(p[1]), on(p[2])) {
        (false, false, false) => 0,
        (true, false, false) => 1,
        (false, true, false) => 2,
        (true, true, false) => 3,
        (false, false, true) => 4,
        _ => 5,
    }
}

/// Pixels whose colour is not what the ray through their centre hits first, leaving out those
/// within 0.05 px of an edge (where the answer turns on rounding; 0.5 px with MSAA); and how
/// many were checked.
fn mismatches(impostors: bool, msaa: u32) -> (usize, usize) {
    let name = format!("sphere_{}_msaa{msaa}", if impostors { "impostors" } else { "mesh" });
    let img = draw_with(&scene(impostors), &name, SIZE, msaa, &[]);
    let (mut wrong, mut checked) = (0, 0);
    for y in 0..SIZE {
        for x in 0..SIZE {
            let (cx, cy) = (x as f32 + 0.5, y as f32 + 0.5);
            let want = first_hit(cx, cy);
            // Multisampled edges blend what the samples (up to half a pixel away) see.
            let e = if msaa > 1 { 0.5 } else { 0.05 };
            let edge = [(e, 0.0), (-e, 0.0), (0.0, e), (0.0, -e)]
                .iter()
                .any(|&(dx, dy)| first_hit(cx + dx, cy + dy) != want);
            if edge {
                continue;
            }
            checked += 1;
            if shown(img.hdr[(y * SIZE + x) as usize]) != want {
                wrong += 1;
            }
        }
    }
    (wrong, checked)
}

#[test]
fn sphere_impostors_show_the_exact_spheres_silhouettes_and_intersections() {
    let (wrong, checked) = mismatches(true, 1);
    let (mesh_wrong, _) = mismatches(false, 1);
    // With MSAA a fragment still tests the ray through the pixel's centre (per-pixel edges).
    let (msaa_wrong, _) = mismatches(true, 4);
    eprintln!(
        "impostors: {wrong} of {checked} pixels wrong (MSAA 4: {msaa_wrong}); icosahedra: \
         {mesh_wrong}"
    );
    assert!(checked > 3900, "{checked} pixels checked");
    assert_eq!(wrong, 0, "{wrong} pixels differ from the exact spheres");
    assert_eq!(msaa_wrong, 0, "with MSAA, {msaa_wrong} pixels differ from the exact spheres");
    // The icosahedra the path tracer takes differ visibly: the check can tell.
    assert!(mesh_wrong > 100, "the triangles differ in only {mesh_wrong} pixels");
}

#[test]
fn sphere_impostors_are_shaded_with_the_exact_normal() {
    // A white Lambertian ball under a sun straight above, seen from above (orthographic): its
    // radiance goes as the normal's height, sqrt(1 - rho^2) at distance rho from the centre.
    let r = 0.8;
    let ball = shapes::spheres(&[[0.0, 0.0, 0.0]], &[r], &[], 1).expect("spheres");
    let mut s = top_view(vec![ball], vec![Material::lambert("white", [1.0; 3])], Vec::new());
    sun_above(&mut s, 3.0);
    s.update_world();
    let img = draw(&s, "sphere_impostor_shading", SIZE);
    // Pixel (x, y) of the 2 m view: centre at ((x + 0.5) / 32 - 1, ...).
    let at = |x: u32, y: u32| img.hdr[(y * SIZE + x) as usize][0];
    let world = |k: u32| (k as f32 + 0.5) / (SIZE as f32 / 2.0) - 1.0;
    let centre = 0.5 * (at(31, 31) + at(32, 32));
    // Lambert: albedo / pi * E * cos(theta).
    let want_centre = 3.0 / std::f32::consts::PI * (1.0 - world(31).powi(2) * 2.0 / (r * r)).sqrt();
    assert!(
        (centre - want_centre).abs() < 0.02 * want_centre,
        "centre {centre}, want {want_centre}"
    );
    for x in [40u32, 48, 52, 55] {
        let rho = (world(x).powi(2) + world(31).powi(2)).sqrt() / r;
        let want = 3.0 / std::f32::consts::PI * (1.0 - rho * rho).sqrt();
        let got = at(x, 31);
        assert!((got - want).abs() < 0.02, "pixel {x}: rho {rho:.3}, got {got}, want {want}");
    }
}
