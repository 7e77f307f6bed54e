//! Emissive surfaces as area lights in the raster (lavapipe, validation on, zero messages): a
//! Lambertian floor under an emissive rectangle facing it has exactly the radiance of the
//! rectangle's form factor (Lambert's polygon formula, checked here against the closed form
//! for rectangles), only on the side the emitter faces; the emitter itself stays unseen from
//! behind.

use scene::{Material, Scene};
use testkit::top::{quad, top_view};
use testkit::{render_scene, request, RenderRequest};

const SIZE: u32 = 64;
const ALBEDO: f32 = 0.5;
const L: f32 = 2.0;
/// The emitter: the rectangle x in [X0, X1], z in [Z0, Z1] at height H.
const X0: f32 = -0.3;
const X1: f32 = 0.5;
const Z0: f32 = -0.4;
const Z1: f32 = 0.2;
const H: f32 = 0.4;

/// The cosine-weighted solid angle of the rectangle [0, a] x [0, b] at height h seen from a
/// point below its corner (0, 0): pi times the corner form factor.
fn corner(a: f32, b: f32, h: f32) -> f64 {
    let (x, y) = (f64::from(a.abs() / h), f64::from(b.abs() / h));
    let (sx, sy) = ((1.0 + x * x).sqrt(), (1.0 + y * y).sqrt());
    let f = 0.5 / std::f64::consts::PI * (x / sx * (y / sx).atan() + y / sy * (x / sy).atan());
    std::f64::consts::PI * f * f64::from(a.signum() * b.signum())
}

/// The emitter's cosine-weighted solid angle seen from floor point (x, z).
fn cosine_solid_angle(x: f32, z: f32) -> f64 {
    let g = |cx: f32, cz: f32| corner(cx - x, cz - z, H);
    g(X1, Z1) - g(X0, Z1) - g(X1, Z0) + g(X0, Z0)
}

fn scene(facing_down: bool) -> Scene {
    let floor = quad(0.0, 1.0, 0, false);
    let mut emitter = quad(H, 1.0, 1, false);
    emitter.positions = vec![[X0, H, Z0], [X1, H, Z0], [X1, H, Z1], [X0, H, Z1]];
    if facing_down {
        // Counter-clockwise seen from below: the front faces the floor.
        emitter.indices = vec![0, 1, 2, 0, 2, 3];
        emitter.normals = vec![[0.0, -1.0, 0.0]; 4];
    }
    let glow = Material {
        name: "glow".into(),
        base_color: [0.0, 0.0, 0.0, 1.0],
        emissive: [L; 3],
        ..Default::default()
    };
    top_view(vec![floor, emitter], vec![Material::lambert("floor", [ALBEDO; 3]), glow], Vec::new())
}

fn render(s: &Scene, name: &str) -> testkit::RenderedImage {
    // Lit by the emitter alone (no default light).
    let req = RenderRequest { default_lighting: false, ..request(name.into(), SIZE, SIZE) };
    let img = render_scene(s, &req).expect("render");
    testkit::maybe_save(&img, name);
    img
}

#[test]
fn area_light_diffuse_is_the_exact_form_factor() {
    let img = render(&scene(true), "area_light_rectangle");
    let mut worst = 0.0f64;
    let mut checked = 0;
    for py in (2..SIZE).step_by(5) {
        for px in (2..SIZE).step_by(5) {
            // The pixel's centre on the floor (the 2 m top view; image up = -z).
            let x = (px as f32 + 0.5) * 2.0 / SIZE as f32 - 1.0;
            let z = (py as f32 + 0.5) * 2.0 / SIZE as f32 - 1.0;
            let want = f64::from(ALBEDO * L) / std::f64::consts::PI * cosine_solid_angle(x, z);
            let got = f64::from(img.hdr[(py * SIZE + px) as usize][1]);
            worst = worst.max((got - want).abs() / want);
            checked += 1;
        }
    }
    eprintln!("area light: worst relative error {worst:.2e} over {checked} pixels");
    assert!(worst < 0.01, "worst relative error {worst}");
    // The closed form itself, against a midpoint sum of cos cos / r^2 over the rectangle.
    for (x, z) in [(0.1, -0.1), (0.7, 0.6), (-0.9, -0.9)] {
        let n = 400;
        let (dx, dz) = ((X1 - X0) / n as f32, (Z1 - Z0) / n as f32);
        let mut sum = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                let px = X0 + (i as f32 + 0.5) * dx - x;
                let pz = Z0 + (j as f32 + 0.5) * dz - z;
                let r2 = f64::from(px * px + pz * pz + H * H);
                sum += f64::from(H * H) / (r2 * r2) * f64::from(dx * dz);
            }
        }
        let g = cosine_solid_angle(x, z);
        assert!((g - sum).abs() < 1e-3 * sum, "at ({x}, {z}): closed form {g}, sum {sum}");
    }
}

#[test]
fn area_lights_switched_off_light_nothing() {
    let draw = |on: bool| {
        let req = RenderRequest {
            default_lighting: false,
            settings: vec![("area_lights".into(), render::SettingValue::Bool(on))],
            ..request(format!("area_lights_{on}").into(), SIZE, SIZE)
        };
        render_scene(&scene(true), &req).expect("render")
    };
    // A floor point beside the emitter (facing down: the floor under it is lit).
    let floor = |img: &testkit::RenderedImage| img.hdr[(60 * SIZE + 60) as usize][1];
    let (on, off) = (floor(&draw(true)), floor(&draw(false)));
    assert!(on > 1e-3, "lit by the emitter: {on}");
    assert!(off == 0.0, "switched off: {off}");
}

#[test]
fn area_light_lights_only_the_side_it_faces() {
    // Facing up: the floor below is behind it and stays black; from above, its front shows.
    let img = render(&scene(false), "area_light_facing_away");
    let floor_far = img.hdr[(60 * SIZE + 60) as usize];
    assert!(floor_far[1] == 0.0, "behind the emitter: {floor_far:?}");
    let seen = img.hdr[(25 * SIZE + 34) as usize];
    assert!((seen[1] - L).abs() < 1e-2, "the emitter's front: {seen:?}");
}

/// The reference scenes lit by their emitters (cornell_box: one emissive quad; many_lights: 200
/// emissive quads and 3 point lights) against Mitsuba's references (tests/data/refs), box
/// filtered to the render's size: the image mean per channel and the mean absolute error of
/// 4 x 4 regions, relative to the reference. The raster has direct light only (no
/// interreflection, area lights unshadowed), so it may be darker or brighter than the
/// reference by what those add or take away: bounded loosely here; the numbers are printed.
#[test]
fn area_light_reference_scenes_against_mitsuba() {
    let size = 64usize;
    for (name, mean_range) in [("cornell_box", (0.45, 1.05)), ("many_lights", (0.6, 1.3))] {
        let req = testkit::refs_request(
            testkit::data(&format!("refs/scenes/{name}.gltf")),
            size as u32,
            size as u32,
        );
        let img = testkit::render(&req).expect("render");
        testkit::maybe_save(&img, &format!("area_light_{name}"));
        let reference = image::open(testkit::data(&format!("refs/refs/{name}.exr")))
            .expect("reference")
            .to_rgb32f();
        let f = reference.width() as usize / size;
        let r = |x: usize, y: usize, c: usize| -> f64 {
            let mut s = 0.0;
            for j in 0..f {
                for i in 0..f {
                    s += f64::from(reference.get_pixel((x * f + i) as u32, (y * f + j) as u32)[c]);
                }
            }
            s / (f * f) as f64
        };
        let o = |x: usize, y: usize, c: usize| f64::from(img.hdr[y * size + x][c]);
        let mut ratio = [0.0; 3];
        for (c, ratio) in ratio.iter_mut().enumerate() {
            let (mut so, mut sr) = (0.0, 0.0);
            for y in 0..size {
                for x in 0..size {
                    so += o(x, y, c);
                    sr += r(x, y, c);
                }
            }
            *ratio = so / sr;
        }
        // Regions of 16 x 16 pixels: |mean ours - mean ref| / mean ref (luminance-weighted).
        let region = size / 4;
        let mut regions = Vec::new();
        for ry in 0..4 {
            for rx in 0..4 {
                let (mut so, mut sr) = (0.0, 0.0);
                for y in ry * region..(ry + 1) * region {
                    for x in rx * region..(rx + 1) * region {
                        for (c, w) in [0.2126, 0.7152, 0.0722].iter().enumerate() {
                            so += w * o(x, y, c);
                            sr += w * r(x, y, c);
                        }
                    }
                }
                regions.push((so - sr).abs() / sr.max(1e-9));
            }
        }
        let worst = regions.iter().copied().fold(0.0, f64::max);
        let mean_region = regions.iter().sum::<f64>() / regions.len() as f64;
        eprintln!(
            "{name}: raster / Mitsuba image mean per channel {:.3} {:.3} {:.3}; 4x4 regions: \
             mean relative error {mean_region:.3}, worst {worst:.3}",
            ratio[0], ratio[1], ratio[2]
        );
        for c in ratio {
            assert!((mean_range.0..mean_range.1).contains(&c), "{name}: mean ratio {c}");
        }
    }
}
