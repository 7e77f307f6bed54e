//! The path tracer on lavapipe (validation on, zero messages).

use viewer::{render, RenderRequest};

mod common;
use common::{data, maybe_save, px, request};

fn pt(scene: &str, w: u32, h: u32, spp: u32) -> viewer::RenderedImage {
    let req = RenderRequest { renderer: "pathtracer".into(), spp, ..request(data(scene), w, h) };
    let img = render(&req).expect("path traced render");
    maybe_save(&img, &format!("pt_{}", scene.rsplit('/').next().unwrap_or(scene)));
    img
}

/// White furnace (../shared/refs/README.md): the convex Lambertian sphere of albedo 0.8 under
/// a uniform environment of 1 reflects exactly 0.8 (every path: one bounce, then the
/// environment: cosine sampling of a Lambertian surface has weight = albedo), the background
/// is exactly 1. Pixels whose 3x3 neighbourhood mixes both (edges) are skipped.
#[test]
fn white_furnace_is_analytic() {
    let img = pt("refs/scenes/furnace_sphere.gltf", 64, 64, 8);
    let on_sphere = |x: u32, y: u32| (px(&img, x, y)[0] - 1.0).abs() > 0.05;
    let (mut interior, mut background) = (0, 0);
    for y in 1..63 {
        for x in 1..63 {
            let block: Vec<bool> =
                (0..9).map(|k| on_sphere(x + k % 3 - 1, y + k / 3 - 1)).collect();
            let p = px(&img, x, y);
            if block.iter().all(|&b| b) {
                interior += 1;
                for c in 0..3 {
                    assert!((p[c] - 0.8).abs() < 1e-3, "sphere pixel ({x},{y}) = {p:?}");
                }
            } else if block.iter().all(|&b| !b) {
                background += 1;
                for c in 0..3 {
                    assert!((p[c] - 1.0).abs() < 1e-4, "background pixel ({x},{y}) = {p:?}");
                }
            }
        }
    }
    assert!(interior > 600 && background > 600, "{interior} interior, {background} background");
}
