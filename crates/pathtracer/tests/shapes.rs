//! Shapes for data in both renderers (lavapipe, validation on, zero messages): spheres,
//! arrows, voxels and tubes made by `scene::shapes` are meshes, so the path tracer traces the
//! same geometry the raster draws. Seen from straight above (testkit's `top` camera), each
//! shape in its own colour: both renderers must cover the same pixels with the same hue.

use glam::Vec3;
use render::SettingValue;
use scene::{shapes, Environment, Material, Primitive, Scene};
use testkit::top::top_view;
use testkit::{render_scene, request, RenderRequest, RenderedImage};

/// The four shapes side by side (x from -1 to 1, image right), on nothing (black).
fn shapes_scene() -> Scene {
    let red = [[1.0, 0.05, 0.05, 1.0]];
    let green = [[0.05, 1.0, 0.05, 1.0]];
    let blue = [[0.05, 0.05, 1.0, 1.0]];
    let yellow = [[1.0, 1.0, 0.05, 1.0]];
    // Spheres in the top left quarter, arrows top right, voxels bottom left, tubes bottom
    // right (image up = -z).
    let spheres = shapes::spheres(
        &[[-0.7, 0.2, -0.7], [-0.35, 0.2, -0.45], [-0.6, 0.3, -0.3]],
        &[0.2, 0.12, 0.1],
        &red,
        2,
    )
    .expect("spheres");
    let arrows = shapes::arrows(
        &[[0.2, 0.2, -0.3], [0.5, 0.2, -0.3]],
        &[[0.0, 0.0, -0.6], [0.3, 0.0, -0.5]],
        1.0,
        Some(0.05),
        &green,
    )
    .expect("arrows");
    let cells: Vec<[i32; 3]> = (0..4).flat_map(|x| (0..3).map(move |z| [x, 0, z])).collect();
    let voxels = shapes::voxels(&cells, [-0.9, 0.0, 0.3], 0.15, &blue).expect("voxels");
    let tubes = shapes::tubes(
        &[[0.2, 0.3, 0.4], [0.8, 0.3, 0.4], [0.8, 0.3, 0.8]],
        true,
        0.06,
        &yellow,
        16,
        true,
    )
    .expect("tubes");
    let materials = vec![Material::lambert("white", [1.0; 3])];
    let meshes: Vec<Primitive> = vec![spheres, arrows, voxels, tubes];
    let mut s = top_view(meshes, materials, Vec::new());
    // Lit evenly from everywhere: the colour of a surface is its albedo times the sky.
    s.environment = Environment::Uniform([1.0, 1.0, 1.0]);
    s
}

fn render(scene: &Scene, renderer: &str, size: u32) -> RenderedImage {
    let req = RenderRequest {
        renderer: renderer.into(),
        spp: 16,
        max_depth: 4,
        default_lighting: false,
        settings: if renderer == "raster" {
            vec![("grid".into(), SettingValue::Bool(false))]
        } else {
            Vec::new()
        },
        ..request(format!("shapes_{renderer}").into(), size, size)
    };
    let img = render_scene(scene, &req).expect("render");
    testkit::maybe_save(&img, &format!("shapes_{renderer}"));
    img
}

/// Which shape a pixel shows, by its hue: 0 background, 1 red, 2 green, 3 blue, 4 yellow.
fn class(p: [f32; 4]) -> u8 {
    let c = Vec3::new(p[0], p[1], p[2]);
    if c.max_element() < 0.08 {
        return 0;
    }
    let n = c / c.max_element();
    match (n.x > 0.5, n.y > 0.5, n.z > 0.5) {
        (true, false, false) => 1,
        (false, true, false) => 2,
        (false, false, true) => 3,
        (true, true, false) => 4,
        _ => 5,
    }
}

#[test]
fn spheres_arrows_voxels_and_tubes_are_the_same_in_both_renderers() {
    let scene = shapes_scene();
    let size = 48;
    let raster = render(&scene, "raster", size);
    let traced = render(&scene, "pathtracer", size);
    let (a, b): (Vec<u8>, Vec<u8>) =
        raster.hdr.iter().zip(&traced.hdr).map(|(p, q)| (class(*p), class(*q))).unzip();
    let agree = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f32 / a.len() as f32;
    let covered = |img: &[u8], k: u8| img.iter().filter(|&&c| c == k).count();
    for (k, name) in [(1, "spheres"), (2, "arrows"), (3, "voxels"), (4, "tubes")] {
        let (n, m) = (covered(&a, k), covered(&b, k));
        assert!(n > 20, "{name}: {n} raster pixels");
        let ratio = n as f32 / m.max(1) as f32;
        assert!((0.9..1.1).contains(&ratio), "{name}: {n} raster pixels, {m} traced");
    }
    // Edges differ (the raster has no anti-aliasing here, the traced pixels are averages).
    assert!(agree > 0.95, "the renderers agree on {:.1} % of the pixels", 100.0 * agree);
}
