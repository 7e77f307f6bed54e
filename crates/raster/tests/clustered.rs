//! Clustered light culling in the raster (lavapipe, validation on, zero messages): 64 point
//! lights over a Lambertian floor seen from straight above. Unculled, every pixel is the
//! analytic sum of all lights; culled with an irradiance cutoff c, a pixel keeps at least every
//! light whose irradiance there is at least c (a light is left out of a cluster only when it
//! cannot reach c anywhere in it) and never gains light; with a large cutoff the culling
//! visibly leaves lights out.

use glam::{Mat4, Vec3};
use render::SettingValue;
use scene::{Light, LightKind, Material, Node, Scene};
use testkit::top::{draw_with, quad, top_view};

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

fn scene() -> Scene {
    let mut s = top_view(
        vec![quad(0.0, 1.0, 0, false)],
        vec![Material::lambert("floor", [ALBEDO; 3])],
        Vec::new(),
    );
    for (k, (p, intensity)) in lights().into_iter().enumerate() {
        s.lights.push(Light {
            name: format!("bulb {k}"),
            kind: LightKind::Point,
            color: [1.0; 3],
            intensity,
            shadows: false,
        });
        s.nodes.push(Node::new(&format!("bulb {k}"), Mat4::from_translation(p)).with_light(k));
    }
    s.update_world();
    s
}

/// Irradiance of each light at floor point `q`.
fn irradiances(q: Vec3) -> Vec<f32> {
    lights()
        .iter()
        .map(|&(p, i)| {
            let d = p - q;
            let r2 = d.length_squared();
            i * (d.y / r2.sqrt()) / r2
        })
        .collect()
}

fn render(s: &Scene, name: &str, settings: &[(&str, SettingValue)]) -> Vec<f32> {
    draw_with(s, name, SIZE, 1, settings).hdr.iter().map(|p| p[0]).collect()
}

#[test]
fn clustered_lighting_keeps_every_light_above_the_cutoff() {
    let s = scene();
    let all = render(&s, "clustered_off", &[("clustered", SettingValue::Bool(false))]);
    let cutoff = 0.5;
    let culled = render(
        &s,
        "clustered_cutoff",
        &[("clustered", SettingValue::Bool(true)), ("light_cutoff", SettingValue::Float(cutoff))],
    );
    let default = render(&s, "clustered_default", &[("clustered", SettingValue::Bool(true))]);
    let k = ALBEDO / std::f32::consts::PI;
    let (mut left_out, mut worst_default) = (0.0f32, 0.0f32);
    let mut checked = 0;
    for py in (0..SIZE).step_by(3) {
        for px in (0..SIZE).step_by(3) {
            checked += 1;
            let q = Vec3::new(
                (px as f32 + 0.5) * 2.0 / SIZE as f32 - 1.0,
                0.0,
                (py as f32 + 0.5) * 2.0 / SIZE as f32 - 1.0,
            );
            let e = irradiances(q);
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
    // The default cutoff (1e-3 W/m^2) leaves out nothing visible.
    assert!(worst_default < 0.01, "default cutoff: {worst_default}");
}
