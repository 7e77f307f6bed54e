//! The sky's sun as a shadowed directional light (`environment_sun`; lavapipe, validation on,
//! zero messages): a floor under a small roof, lit by a sky with a small bright sun. With the
//! option the open floor gets exactly the irradiance of the map (the sun's energy moved from
//! the map to the light) and the roof's shadow is lit by the sky alone; without it there is no
//! shadow. On env_diffuse the option brings the raster closer to Mitsuba's reference.

use render::SettingValue;
use scene::{equirect_dir, Environment, Material, Scene};
use testkit::top::{draw_with, quad, top_view};

const SIZE: u32 = 64;
const SKY: f32 = 0.2;
const SUN: f32 = 20_000.0;
const SUN_RADIUS_DEGREES: f32 = 1.0;

/// An equirect sky of radiance SKY with a sun disc straight above (+y).
fn sky() -> Environment {
    let (w, h) = (512u32, 256u32);
    let cos_sun = SUN_RADIUS_DEGREES.to_radians().cos();
    let mut texels = Vec::new();
    for j in 0..h {
        for i in 0..w {
            let d = equirect_dir((i as f32 + 0.5) / w as f32, (j as f32 + 0.5) / h as f32);
            let c = if d[1] > cos_sun { SUN } else { SKY };
            texels.push([c, c, c, 1.0]);
        }
    }
    Environment::Equirect { width: w, height: h, texels }
}

/// A Lambertian floor (albedo 0.5) and a small black roof above its middle (the 0.6 m square
/// at 0.5 m).
fn scene() -> Scene {
    let floor = quad(0.0, 1.0, 0, false);
    let roof = quad(0.5, 0.3, 1, false);
    let materials = vec![Material::lambert("floor", [0.5; 3]), Material::lambert("roof", [0.0; 3])];
    let mut s = top_view(vec![floor, roof], materials, Vec::new());
    s.environment = sky();
    s
}

fn draw(s: &Scene, name: &str, sun: bool) -> testkit::RenderedImage {
    let settings = [
        ("environment_sun", SettingValue::Bool(sun)),
        ("ambient_occlusion", SettingValue::Bool(false)),
    ];
    draw_with(s, name, SIZE, 1, &settings)
}

/// The radiance of the open floor under `env`, exactly: albedo / pi times the irradiance,
/// summed over the map's texels above the horizon.
fn open_floor(env: &Environment) -> f32 {
    let Environment::Equirect { width, height, texels } = env else { unreachable!() };
    let (w, h) = (*width as usize, *height as usize);
    let mut e = 0.0f64;
    for j in 0..h {
        let theta = std::f64::consts::PI * (j as f64 + 0.5) / h as f64;
        let omega =
            std::f64::consts::TAU / w as f64 * std::f64::consts::PI / h as f64 * theta.sin();
        for i in 0..w {
            let d = equirect_dir((i as f32 + 0.5) / w as f32, (j as f32 + 0.5) / h as f32);
            e += f64::from(texels[j * w + i][1]) * f64::from(d[1].max(0.0)) * omega;
        }
    }
    (0.5 * e / std::f64::consts::PI) as f32
}

#[test]
fn environment_sun_lights_the_open_floor_as_the_map_does() {
    let s = scene();
    let on = draw(&s, "environment_sun_on", true);
    let off = draw(&s, "environment_sun_off", false);
    let g = |img: &testkit::RenderedImage, x: u32, y: u32| img.hdr[(y * SIZE + x) as usize][1];
    // The sun straight above: the roof's shadow lies under the roof; the corner is open.
    let (open_on, open_off) = (g(&on, 5, 5), g(&off, 5, 5));
    let exact = open_floor(&s.environment);
    eprintln!(
        "open floor: sun as a light {open_on:.4}, in the map {open_off:.4}, exact {exact:.4}"
    );
    // As a light the sun's energy arrives exactly; in the map's spherical harmonics, spread.
    assert!((open_on - exact).abs() < 0.01 * exact, "sun as a light: {open_on}, exact {exact}");
    assert!((open_off - exact).abs() < 0.1 * exact, "sun in the map: {open_off}, exact {exact}");
}

/// Seen from the side: a wall casts the sun's shadow on the floor beside it.
#[test]
fn environment_sun_shadow_falls_beside_a_wall() {
    let mut s = scene();
    // Tilt the sun: 45 degrees from the zenith toward +x (the roof's shadow moves by 0.5 m
    // toward -x, out from under it).
    let Environment::Equirect { width, height, texels } = &mut s.environment else {
        unreachable!()
    };
    let (w, h) = (*width, *height);
    let to_sun = [std::f32::consts::FRAC_1_SQRT_2, std::f32::consts::FRAC_1_SQRT_2, 0.0];
    let cos_sun = SUN_RADIUS_DEGREES.to_radians().cos();
    for j in 0..h {
        for i in 0..w {
            let d = equirect_dir((i as f32 + 0.5) / w as f32, (j as f32 + 0.5) / h as f32);
            let c = d[0] * to_sun[0] + d[1] * to_sun[1] > cos_sun;
            texels[(j * w + i) as usize] =
                if c { [SUN, SUN, SUN, 1.0] } else { [SKY, SKY, SKY, 1.0] };
        }
    }
    let on = draw(&s, "environment_sun_tilted_on", true);
    let off = draw(&s, "environment_sun_tilted_off", false);
    let g = |img: &testkit::RenderedImage, x: f32, z: f32| {
        let px = ((x + 1.0) * 0.5 * SIZE as f32) as u32;
        let py = ((z + 1.0) * 0.5 * SIZE as f32) as u32;
        img.hdr[(py * SIZE + px) as usize][1]
    };
    // The shadow: the roof [-0.3, 0.3]^2 at 0.5 m moved by 0.5 m toward -x: x in [-0.8, -0.2];
    // its visible part beside the roof: x in [-0.8, -0.3].
    let (shadow_on, shadow_off) = (g(&on, -0.6, 0.0), g(&off, -0.6, 0.0));
    let (open_on, open_off) = (g(&on, 0.6, 0.6), g(&off, 0.6, 0.6));
    let exact = open_floor(&s.environment);
    eprintln!(
        "tilted sun: shadow {shadow_on:.4} (map only {shadow_off:.4}), open {open_on:.4} (map \
         only {open_off:.4}, exact {exact:.4})"
    );
    // In the shadow only the sky lights the floor (the roof hides a little of it too).
    let sky_only = 0.5 * SKY;
    assert!(shadow_on < 1.05 * sky_only && shadow_on > 0.7 * sky_only, "shadow {shadow_on}");
    assert!(shadow_off > 10.0 * sky_only, "without the option there is no shadow: {shadow_off}");
    assert!((open_on - exact).abs() < 0.01 * exact, "open floor {open_on}, exact {exact}");
}

/// env_diffuse: the sky's sun shadows the spheres on the ground, as in Mitsuba's reference.
#[test]
fn environment_sun_brings_env_diffuse_closer_to_mitsuba() {
    let size = 128;
    let mut errors = Vec::new();
    for sun in [false, true] {
        let req = testkit::RenderRequest {
            settings: vec![("environment_sun".into(), SettingValue::Bool(sun))],
            ..testkit::refs_request(testkit::data("refs/scenes/env_diffuse.gltf"), size, size)
        };
        let img = testkit::render(&req).expect("render");
        testkit::maybe_save(&img, &format!("environment_sun_env_diffuse_{sun}"));
        errors.push(testkit::region_error(&img, "env_diffuse", 8));
    }
    eprintln!(
        "env_diffuse: region error relative to the reference's mean: sun in the map {:.4}, \
         sun as a shadowed light {:.4}",
        errors[0], errors[1]
    );
    assert!(errors[1] < errors[0], "the sun as a light made it worse: {errors:?}");
}
