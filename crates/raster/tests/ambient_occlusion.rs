//! Screen-space ambient occlusion in the raster (lavapipe, validation on, zero messages).
//!
//! A sphere resting on a Lambertian floor under a uniform white environment, seen from straight
//! above: the floor around the contact sees the sky through what the sphere leaves of it, and
//! its exact visibility (1 - the sphere's form factor, (r / d)^3 at distance d from the centre)
//! is what the occlusion must give; open and convex surfaces are not darkened; and on the
//! env_diffuse reference scene the occlusion brings the raster closer to Mitsuba's image.

use render::SettingValue;
use scene::{shapes, Environment, Material, Node, Scene};
use testkit::top::{draw_with, quad, top_view};

const SIZE: u32 = 256;
const R: f32 = 0.25;
const ALBEDO: f32 = 0.5;

/// The floor (material 0, albedo 0.5) and, with `sphere`, a sphere of radius R resting on it at
/// the origin (drawn as an impostor), under a uniform environment of radiance 1.
fn scene(sphere: bool) -> Scene {
    let mut meshes = vec![quad(0.0, 1.0, 0, false)];
    if sphere {
        let ball = shapes::spheres(&[[0.0, R, 0.0]], &[R], &[[1.0; 4]], 1).expect("sphere");
        assert!(ball.sphere_vertices > 0, "an impostor sphere");
        meshes.push(ball);
    }
    let materials =
        vec![Material::lambert("floor", [ALBEDO; 3]), Material::lambert("ball", [0.8; 3])];
    let mut s = top_view(meshes, materials, Vec::new());
    s.environment = Environment::Uniform([1.0; 3]);
    s
}

fn draw(s: &Scene, name: &str, ao: bool) -> testkit::RenderedImage {
    let settings =
        [("ambient_occlusion", SettingValue::Bool(ao)), ("ao_radius", SettingValue::Float(2.0))];
    draw_with(s, name, SIZE, 1, &settings)
}

/// The floor point of pixel (px, py): its distance from the contact point.
fn floor_distance(px: u32, py: u32) -> f32 {
    let x = (px as f32 + 0.5) * 2.0 / SIZE as f32 - 1.0;
    let z = (py as f32 + 0.5) * 2.0 / SIZE as f32 - 1.0;
    (x * x + z * z).sqrt()
}

/// What the forward pass makes of visibility `ao` on a surface of albedo `a` (the
/// multiple-bounce fit of shaders/raster/forward.slang).
fn multi_bounce(ao: f32, a: f32) -> f32 {
    let (x, y, z) = (2.0404 * a - 0.3324, -4.7951 * a + 0.6417, 2.7552 * a + 0.6903);
    ao.max(((ao * x + y) * ao + z) * ao).min(1.0)
}

#[test]
fn ambient_occlusion_of_a_sphere_on_a_floor_is_its_form_factor() {
    let s = scene(true);
    let on = draw(&s, "ambient_occlusion_sphere", true);
    let off = draw(&s, "ambient_occlusion_sphere_off", false);
    // Without occlusion the floor is exactly albedo x sky everywhere.
    let floor =
        |img: &testkit::RenderedImage, px: u32, py: u32| img.hdr[(py * SIZE + px) as usize][1];
    assert!((floor(&off, 4, 4) - ALBEDO).abs() < 2e-3, "unoccluded floor {}", floor(&off, 4, 4));
    // Rings of the floor around the sphere: the mean ratio (occluded / not) against the exact
    // visibility 1 - (r / d)^3 through the same multiple-bounce fit.
    // (The last ring's horizons lie past the longest screen radius, a quarter of the image
    // height: its occlusion is partly missed.)
    let rings = [(1.15, 1.4, 0.02), (1.4, 1.8, 0.02), (1.8, 2.5, 0.02), (2.5, 3.5, 0.03)];
    for (lo, hi, tol) in rings {
        let (mut got, mut want, mut n) = (0.0f64, 0.0f64, 0);
        for py in 0..SIZE {
            for px in 0..SIZE {
                let x = floor_distance(px, py) / R;
                if !(lo..hi).contains(&x) {
                    continue;
                }
                let d = (x * x + 1.0).sqrt();
                let visible = 1.0 - d.powi(-3);
                got += f64::from(floor(&on, px, py) / floor(&off, px, py));
                want += f64::from(multi_bounce(visible, ALBEDO));
                n += 1;
            }
        }
        let (got, want) = (got / n as f64, want / n as f64);
        eprintln!("floor at {lo}-{hi} r: occluded / open {got:.3}, exact {want:.3} ({n} pixels)");
        assert!((got - want).abs() < tol, "ring {lo}-{hi} r: {got} against {want}");
    }
    // The sphere's top (convex, open to the sky) is not darkened.
    let (mut worst, mut n) = (1.0f32, 0);
    for py in 0..SIZE {
        for px in 0..SIZE {
            if floor_distance(px, py) < 0.7 * R {
                worst = worst.min(floor(&on, px, py) / floor(&off, px, py));
                n += 1;
            }
        }
    }
    eprintln!("sphere top: least ratio {worst:.4} over {n} pixels");
    assert!(worst > 0.97, "the sphere's top darkened to {worst}");
}

#[test]
fn ambient_occlusion_leaves_an_open_floor_alone() {
    let s = scene(false);
    let on = draw(&s, "ambient_occlusion_floor", true);
    let worst = on.hdr.iter().map(|p| (p[1] - ALBEDO).abs()).fold(0.0f32, f32::max);
    assert!(worst < 2e-3, "open floor off by {worst}");
}

/// A perspective view with MSAA: the same sphere and floor seen from the side and above; the
/// occlusion still darkens the floor right next to the contact (seen past the sphere) and
/// leaves the far floor alone.
#[test]
fn ambient_occlusion_in_perspective_with_msaa() {
    let mut s = scene(true);
    let eye = glam::Vec3::new(0.0, 1.2, 1.6);
    // Looking at the origin from `eye` (camera -z toward it, +y up).
    let forward = (-eye).normalize();
    let right = forward.cross(glam::Vec3::Y).normalize();
    let up = right.cross(forward);
    let look = glam::Mat4::from_cols(
        right.extend(0.0),
        up.extend(0.0),
        (-forward).extend(0.0),
        eye.extend(1.0),
    );
    s.cameras[0] = scene::Camera::perspective("eye", 45f32.to_radians(), Some(1.0));
    let cam = s.nodes.iter().position(|n| n.camera.is_some()).expect("camera node");
    s.nodes[cam] = Node::new("camera", look).with_camera(0);
    s.update_world();
    let settings = |ao| {
        [("ambient_occlusion", SettingValue::Bool(ao)), ("ao_radius", SettingValue::Float(2.0))]
    };
    let on = draw_with(&s, "ambient_occlusion_perspective", 128, 4, &settings(true));
    let off = draw_with(&s, "ambient_occlusion_perspective_off", 128, 4, &settings(false));
    let ratio =
        |x: u32, y: u32| on.hdr[(y * 128 + x) as usize][1] / off.hdr[(y * 128 + x) as usize][1];
    // Project floor points beside the sphere (x = +-1.2 r, z = 0: visible past it) and far away.
    let view = scene::View::from_scene(&s, None, 128, 128).expect("view");
    let view_proj = view.proj * view.view;
    let pixel = |p: glam::Vec3| {
        let c = view_proj.project_point3(p);
        (((c.x * 0.5 + 0.5) * 128.0) as u32, ((0.5 - c.y * 0.5) * 128.0) as u32)
    };
    for side in [-1.0, 1.0] {
        let (x, y) = pixel(glam::Vec3::new(side * 1.2 * R, 0.0, 0.0));
        let r = ratio(x, y);
        let visible = 1.0 - (1.2f32 * 1.2 + 1.0).sqrt().powi(-3);
        eprintln!(
            "perspective: beside the contact ({x}, {y}) {r:.3}, exact {:.3}",
            multi_bounce(visible, ALBEDO)
        );
        assert!((r - multi_bounce(visible, ALBEDO)).abs() < 0.1, "beside the contact: {r}");
    }
    let (x, y) = pixel(glam::Vec3::new(0.8, 0.0, 0.8));
    assert!((ratio(x, y) - 1.0).abs() < 0.01, "far floor: {}", ratio(x, y));
}

/// env_diffuse (a sky with a small sun over spheres on a ground) against Mitsuba's reference:
/// with the occlusion the raster is nearer the reference (mean absolute error of 8 x 8 pixel
/// regions, relative to the reference's mean), printed for both.
#[test]
fn ambient_occlusion_brings_env_diffuse_closer_to_mitsuba() {
    let size = 128;
    let mut errors = Vec::new();
    for ao in [false, true] {
        let req = testkit::RenderRequest {
            settings: vec![("ambient_occlusion".into(), SettingValue::Bool(ao))],
            ..testkit::refs_request(
                testkit::data("refs/scenes/env_diffuse.gltf"),
                size as u32,
                size as u32,
            )
        };
        let img = testkit::render(&req).expect("render");
        testkit::maybe_save(
            &img,
            &format!("ambient_occlusion_env_diffuse_{}", if ao { "on" } else { "off" }),
        );
        errors.push(testkit::region_error(&img, "env_diffuse", 8));
    }
    eprintln!(
        "env_diffuse: region error relative to the reference's mean: without occlusion {:.4}, with {:.4}",
        errors[0], errors[1]
    );
    assert!(errors[1] < errors[0], "occlusion made it worse: {errors:?}");
}
