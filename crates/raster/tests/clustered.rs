//! Clustered light culling in the raster (lavapipe, validation on, zero messages): 64 point
//! lights over a Lambertian floor seen from straight above. Unculled, every pixel is the
//! analytic sum of all lights; culled with an irradiance cutoff c, a pixel keeps at least every
//! light whose irradiance there is at least c (a light is left out of a cluster only when it
//! cannot reach c anywhere in it) and never gains light; with a large cutoff the culling
//! visibly leaves lights out.

use glam::Vec3;
use render::SettingValue;
use scene::{Material, Scene};
use testkit::top::{draw_with, point_light, quad, top_view};

/// Tiles of 64 pixels: a 4 x 4 grid of them.
const SIZE: u32 = 256;
const ALBEDO: f32 = 0.5;
const HEIGHT: f32 = 0.08;

/// The lights: an 8 x 8 grid over the floor, intensities from 0.002 to 0.02 W/sr.
fn lights() -> Vec<(Vec3, f32)> {
    (0..64)
        .map(|k| {
            let (i, j) = (k % 8, k / 8);
            let p = Vec3::new(-0.875 + 0.25 * i as f32, HEIGHT, -0.875 + 0.25 * j as f32);
            (p, 0.002 + 0.018 * ((k * 37) % 64) as f32 / 63.0)
        })
        .collect()
}

fn scene(range: Option<f32>) -> Scene {
    let mut s = top_view(
        vec![quad(0.0, 1.0, 0, false)],
        vec![Material::lambert("floor", [ALBEDO; 3])],
        Vec::new(),
    );
    for (p, intensity) in lights() {
        point_light(&mut s, p, intensity, range);
    }
    s
}

/// Irradiance of each light at floor point `q` (lights of `range`: KHR_lights_punctual's
/// window).
fn irradiances(q: Vec3, range: Option<f32>) -> Vec<f32> {
    lights()
        .iter()
        .map(|&(p, i)| {
            let d = p - q;
            let r2 = d.length_squared();
            let window = range.map_or(1.0, |r| (1.0 - (r2 / (r * r)).powi(2)).max(0.0));
            i * (d.y / r2.sqrt()) / r2 * window
        })
        .collect()
}

/// The floor point under pixel (px, py).
fn floor_at(px: u32, py: u32) -> Vec3 {
    Vec3::new(
        (px as f32 + 0.5) * 2.0 / SIZE as f32 - 1.0,
        0.0,
        (py as f32 + 0.5) * 2.0 / SIZE as f32 - 1.0,
    )
}

fn render(s: &Scene, name: &str, settings: &[(&str, SettingValue)]) -> Vec<f32> {
    draw_with(s, name, SIZE, 1, settings).hdr.iter().map(|p| p[0]).collect()
}

#[test]
fn clustered_lighting_keeps_every_light_above_the_cutoff() {
    let s = scene(None);
    let all = render(&s, "clustered_off", &[("clustered", SettingValue::Bool(false))]);
    let cutoff = 0.5;
    let culled = render(
        &s,
        "clustered_cutoff",
        &[
            ("clustered", SettingValue::Bool(true)),
            ("light_cutoff", SettingValue::Float(cutoff)),
            ("light_share", SettingValue::Float(0.0)),
        ],
    );
    let default = render(&s, "clustered_default", &[("clustered", SettingValue::Bool(true))]);
    let k = ALBEDO / std::f32::consts::PI;
    let (mut left_out, mut worst_default) = (0.0f32, 0.0f32);
    let mut checked = 0;
    for py in (0..SIZE).step_by(3) {
        for px in (0..SIZE).step_by(3) {
            checked += 1;
            let q = floor_at(px, py);
            let e = irradiances(q, None);
            let sum: f32 = e.iter().sum();
            let strong: f32 = e.iter().filter(|&&x| x >= cutoff).sum();
            let at = (py * SIZE + px) as usize;
            let (u, c) = (all[at], culled[at]);
            assert!(
                (u - k * sum).abs() <= 0.01 * k * sum + 1e-4,
                "unculled at {q}: {u}, want {}",
                k * sum
            );
            assert!(c <= u * 1.002 + 1e-5, "culling added light at {q}: {c} > {u}");
            assert!(
                c >= k * strong * 0.995 - 1e-5,
                "a light above the cutoff left out at {q}: {c} < {}",
                k * strong
            );
            left_out += u - c;
            worst_default = worst_default.max((u - default[at]).abs() / u);
        }
    }
    let mean_left_out = left_out / checked as f32;
    eprintln!("cutoff {cutoff}: mean radiance left out {mean_left_out:.4}; default cutoff: worst relative difference {worst_default:.2e}");
    assert!(mean_left_out > 0.01, "the culling left out too little to be culling: {mean_left_out}");
    // The default cutoff (1e-3 W/m^2) and share (5 %) leave out nothing visible.
    assert!(worst_default < 0.01, "default cutoff: {worst_default}");
}

/// The relative cut: with `light_share` s, the lights left out of a cluster bring at most s
/// times what all its lights bring to a surface facing them, so a floor pixel loses at most s
/// times the sum of every light's irradiance there on a surface facing it (the analytic sum,
/// without the floor's cosine), never gains light, and does lose some.
#[test]
fn clustered_lights_left_out_bring_at_most_their_share() {
    let s = scene(None);
    let all = render(&s, "clustered_share_off", &[("clustered", SettingValue::Bool(false))]);
    let share = 0.05;
    let culled = render(
        &s,
        "clustered_share",
        &[
            ("clustered", SettingValue::Bool(true)),
            ("light_cutoff", SettingValue::Float(1e-6)),
            ("light_share", SettingValue::Float(share)),
        ],
    );
    let k = ALBEDO / std::f32::consts::PI;
    let (mut lost, mut worst) = (0usize, 0.0f32);
    for py in (0..SIZE).step_by(3) {
        for px in (0..SIZE).step_by(3) {
            let q = floor_at(px, py);
            let facing: f32 = lights().iter().map(|&(p, i)| i / (p - q).length_squared()).sum();
            let at = (py * SIZE + px) as usize;
            let (u, c) = (all[at], culled[at]);
            assert!(c <= u * 1.002 + 1e-5, "culling added light at {q}: {c} > {u}");
            assert!(
                u - c <= share * k * facing * 1.01 + 1e-5,
                "more than the share left out at {q}: {} of {}",
                u - c,
                k * facing
            );
            if u - c > 1e-3 * u {
                lost += 1;
            }
            worst = worst.max((u - c) / u);
        }
    }
    eprintln!("share {share}: {lost} pixels lost light, worst relative loss {worst:.4}");
    assert!(lost > 100, "the share left nothing out: {lost} pixels lost light");
}

/// Lights with a range (KHR_lights_punctual): each reaches zero at it through the extension's
/// window, culled or not; the clusters drop a light beyond its range, so the culled image is
/// the unculled one (both the analytic sum), and the floor past every light's range is black.
#[test]
fn clustered_lights_with_a_range_reach_zero_at_it() {
    let range = 0.15;
    let s = scene(Some(range));
    let all = render(&s, "clustered_range_off", &[("clustered", SettingValue::Bool(false))]);
    let culled = render(&s, "clustered_range", &[("clustered", SettingValue::Bool(true))]);
    let k = ALBEDO / std::f32::consts::PI;
    let (mut dark, mut lit) = (0, 0);
    for py in (0..SIZE).step_by(3) {
        for px in (0..SIZE).step_by(3) {
            let want = k * irradiances(floor_at(px, py), Some(range)).iter().sum::<f32>();
            let at = (py * SIZE + px) as usize;
            for (what, got) in [("unculled", all[at]), ("clustered", culled[at])] {
                assert!(
                    (got - want).abs() <= 0.01 * want + 1e-4,
                    "{what} at ({px}, {py}): {got}, want {want}"
                );
            }
            if want == 0.0 {
                dark += 1;
                assert_eq!(culled[at], 0.0, "light past the range at ({px}, {py})");
            } else {
                lit += 1;
            }
        }
    }
    // The range reaches 0.127 across the floor: the midpoints between neighbours (0.125 away)
    // are lit, the centres of the grid's squares (0.177 away) dark.
    assert!(dark > 100 && lit > 100, "dark {dark}, lit {lit}");
}

/// The default relative cut on many_lights (200 emitters whose power spans four orders of
/// magnitude, 3 point lights): against no cut, no pixel gains light and the light lost is
/// small everywhere (the bound is 5 % of what the lights would bring to a surface facing
/// each of them; far less reaches a surface that faces some of them only).
#[test]
fn clustered_default_share_changes_many_lights_little() {
    let size = 128u32;
    let render = |share: Option<f32>| {
        let settings = share
            .map(|s| vec![("light_share".to_string(), SettingValue::Float(s))])
            .unwrap_or_default();
        let req = testkit::RenderRequest {
            settings,
            ..testkit::refs_request(testkit::data("refs/scenes/many_lights.gltf"), size, size)
        };
        testkit::render(&req).expect("render many_lights")
    };
    let (all, cut) = (render(Some(0.0)), render(None));
    testkit::maybe_save(&cut, "clustered_many_lights_default_share");
    let lum = |p: [f32; 4]| 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
    let (mut worst, mut sum, mut lit) = (0.0f32, 0.0f32, 0usize);
    for (a, c) in all.hdr.iter().zip(&cut.hdr) {
        let (a, c) = (lum(*a), lum(*c));
        assert!(c <= a * 1.001 + 1e-6, "the cut added light: {c} > {a}");
        if a > 1e-3 {
            lit += 1;
            worst = worst.max((a - c) / a);
            sum += (a - c) / a;
        }
    }
    let mean = sum / lit.max(1) as f32;
    eprintln!("many_lights, default share against none: mean relative loss {mean:.2e}, worst {worst:.2e} over {lit} pixels");
    assert!(lit > (size * size / 2) as usize, "{lit} lit pixels");
    assert!(mean < 5e-3 && worst < 0.03, "mean {mean}, worst {worst}");
}
