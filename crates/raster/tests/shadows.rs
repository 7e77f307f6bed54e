//! Shadows in the raster (lavapipe, validation on, zero messages): a point light casts through
//! the six faces of its cube map; a light's shadow switch and a node's cast flag turn shadows
//! off; the maps are kept between frames and drawn again only when what casts into them
//! changed. A Lambertian floor seen from straight above (testkit's `top` scenes), so that the
//! lit radiance is analytic: albedo / pi * I cos(theta) / r^2.

use glam::{Mat4, Vec3};
use scene::{Light, LightKind, Material, Node, Scene};
use testkit::frames::Frames;
use testkit::top::{draw, quad, sun_above, top_view};

const SIZE: u32 = 64;
/// The point light's height above the floor (y = 0) and intensity (W/sr).
const LIGHT_Y: f32 = 0.3;
const INTENSITY: f32 = 0.5;

/// A small square occluder of half-size `h` at height `y` centred at (`x`, `z`).
fn occluder(x: f32, y: f32, z: f32, h: f32) -> scene::Primitive {
    let mut q = quad(y, h, 1, false);
    for p in &mut q.positions {
        p[0] += x;
        p[2] += z;
    }
    q
}

/// A grey floor, four occluders at height 0.15 around a point light at (0, 0.3, 0): each
/// shadows the floor twice as far out (x or z from 0.6 to 0.8), seen by the light through
/// its +x, -x, +z and -z faces.
fn scene() -> Scene {
    let floor = quad(0.0, 1.0, 0, false);
    let mut meshes = vec![floor];
    for (x, z) in [(0.35, 0.0), (-0.35, 0.0), (0.0, 0.35), (0.0, -0.35)] {
        meshes.push(occluder(x, LIGHT_Y / 2.0, z, 0.05));
    }
    let mut materials = vec![Material::lambert("floor", [0.5; 3])];
    materials.push(Material::lambert("occluder", [0.5; 3]));
    let mut s = top_view(meshes, materials, Vec::new());
    s.lights.push(Light {
        name: "bulb".into(),
        kind: LightKind::Point,
        color: [1.0; 3],
        intensity: INTENSITY,
        shadows: true,
        range: None,
    });
    s.nodes.push(
        Node::new("bulb", Mat4::from_translation(Vec3::new(0.0, LIGHT_Y, 0.0))).with_light(0),
    );
    s.update_world();
    s
}

/// The pixel (column, row) of floor point (`x`, `z`) in the 2 m top view.
fn pixel(x: f32, z: f32) -> usize {
    let k = |v: f32| ((v + 1.0) * SIZE as f32 / 2.0) as usize;
    k(z) * SIZE as usize + k(x)
}

/// The floor's radiance at (`x`, `z`) lit by the bulb: albedo / pi * I cos / r^2.
fn lit(x: f32, z: f32) -> f32 {
    // The pixel's centre, where the shader evaluates it.
    let c = |v: f32| ((((v + 1.0) * SIZE as f32 / 2.0).floor() + 0.5) * 2.0 / SIZE as f32) - 1.0;
    let d = Vec3::new(c(x), -LIGHT_Y, c(z));
    let r2 = d.length_squared();
    0.5 / std::f32::consts::PI * INTENSITY * (LIGHT_Y / r2.sqrt()) / r2
}

/// The floor points in the four shadows, and beside them (lit), as (x, z).
const SHADOWED: [(f32, f32); 4] = [(0.7, 0.0), (-0.7, 0.0), (0.0, 0.7), (0.0, -0.7)];
const BESIDE: [(f32, f32); 4] = [(0.7, 0.25), (-0.7, -0.25), (0.25, 0.7), (-0.25, -0.7)];

fn check_lit(img: &[[f32; 4]], points: &[(f32, f32)], what: &str) {
    for &(x, z) in points {
        let (got, want) = (img[pixel(x, z)][0], lit(x, z));
        assert!((got - want).abs() < 0.05 * want, "{what} at ({x}, {z}): {got}, want {want}");
    }
}

#[test]
fn point_light_shadow_falls_through_every_face_of_its_cube() {
    let img = draw(&scene(), "point_light_shadow", SIZE);
    for &(x, z) in &SHADOWED {
        let got = img.hdr[pixel(x, z)][0];
        assert!(got < 0.02 * lit(x, z), "shadow at ({x}, {z}): {got}, lit would be {}", lit(x, z));
    }
    check_lit(&img.hdr, &BESIDE, "beside the shadow");
    // Straight below the light (its -y face): lit.
    check_lit(&img.hdr, &[(0.1, 0.1)], "below the light");
}

#[test]
fn point_light_shadow_switch_and_cast_flag_turn_it_off() {
    let mut off = scene();
    off.light_mut(0).expect("light").shadows = false;
    let img = draw(&off, "point_light_shadow_off", SIZE);
    check_lit(&img.hdr, &SHADOWED, "the light's shadows off");
    // One occluder (node 1, at +x) casts none; the others still do.
    let mut s = scene();
    assert!(s.set_cast_shadows(1, false));
    let img = draw(&s, "point_light_shadow_no_cast", SIZE);
    check_lit(&img.hdr, &SHADOWED[..1], "the +x occluder casting none");
    let (x, z) = SHADOWED[1];
    assert!(img.hdr[pixel(x, z)][0] < 0.02 * lit(x, z), "the -x occluder still casts");
}

/// Frames of one scene draw the maps once; they are kept (the same image) until a node moves,
/// which draws them again with the shadow moved.
#[test]
fn shadow_maps_are_drawn_again_only_when_what_casts_changes() {
    let mut s = scene();
    let mut frames = Frames::new(SIZE);
    let mut gpu = render::GpuScene::upload(&frames.ctx, &s).expect("upload");
    let first = frames.draw(&mut gpu, &s, false);
    let second = frames.draw(&mut gpu, &s, false);
    let third = frames.draw(&mut gpu, &s, false);
    assert_eq!(frames.raster.shadow_renders(), 1, "drawn once for three frames");
    assert_eq!(first, second);
    assert_eq!(first, third);
    let (x, z) = SHADOWED[0];
    assert!(third[pixel(x, z)][0] < 0.02 * lit(x, z), "the kept maps still shadow");
    // The +x occluder moves aside (z + 0.25): its old shadow is lit, a new one appears twice
    // as far from the light's foot (z = 0.5).
    assert!(s.set_local_transform(1, Mat4::from_translation(Vec3::new(0.0, 0.0, 0.25))));
    let moved = frames.draw(&mut gpu, &s, true);
    assert_eq!(frames.raster.shadow_renders(), 2, "drawn again after the move");
    check_lit(&moved, &SHADOWED[..1], "where the occluder was");
    let (nx, nz) = (0.7, 0.5);
    assert!(moved[pixel(nx, nz)][0] < 0.02 * lit(nx, nz), "the moved occluder's shadow");
    frames.draw(&mut gpu, &s, false);
    assert_eq!(frames.raster.shadow_renders(), 2, "kept again");
    // Hiding the occluder in this view draws them again without it.
    frames.raster.hidden_nodes.insert(2);
    let hidden = frames.draw(&mut gpu, &s, false);
    assert_eq!(frames.raster.shadow_renders(), 3);
    check_lit(&hidden, &SHADOWED[1..2], "the hidden -x occluder");
    frames.ctx.wait_idle().expect("idle");
    let m = frames.ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// A light that moves draws its own maps again and keeps the others': the bulb's cube stays
/// while a spot light (pointing up, lighting nothing in view) moves; a light's intensity
/// changing draws nothing; a caster moving draws every map.
#[test]
fn shadow_maps_of_a_moving_light_are_drawn_again_and_the_others_kept() {
    let mut s = scene();
    s.lights.push(Light {
        name: "spot".into(),
        kind: LightKind::Spot { inner: 0.3, outer: 0.5 },
        color: [1.0; 3],
        intensity: 1.0,
        shadows: true,
        range: None,
    });
    let up = Mat4::from_rotation_x(std::f32::consts::FRAC_PI_2);
    let at = |x: f32| Mat4::from_translation(Vec3::new(x, 0.5, 0.0)) * up;
    s.nodes.push(Node::new("spot", at(0.0)).with_light(1));
    s.update_world();
    let spot = s.nodes.len() - 1;
    let mut frames = Frames::new(SIZE);
    let mut gpu = render::GpuScene::upload(&frames.ctx, &s).expect("upload");
    let first = frames.draw(&mut gpu, &s, false);
    assert_eq!(frames.raster.shadow_layers_drawn(), 7, "the cube and the spot's map");
    assert!(s.set_local_transform(spot, at(0.2)));
    let moved = frames.draw(&mut gpu, &s, true);
    assert_eq!(frames.raster.shadow_layers_drawn(), 1, "only the spot's map");
    assert_eq!(first, moved, "the spot lights nothing in view; the bulb's shadows kept");
    for &(x, z) in &SHADOWED {
        assert!(moved[pixel(x, z)][0] < 0.02 * lit(x, z), "kept shadow at ({x}, {z})");
    }
    s.light_mut(1).expect("spot").intensity = 2.0;
    frames.draw(&mut gpu, &s, true);
    assert_eq!(frames.raster.shadow_layers_drawn(), 0, "an intensity draws no map");
    assert!(s.set_local_transform(1, Mat4::from_translation(Vec3::new(0.0, 0.0, 0.25))));
    let caster = frames.draw(&mut gpu, &s, true);
    assert_eq!(frames.raster.shadow_layers_drawn(), 7, "a caster moved: every map");
    check_lit(&caster, &SHADOWED[..1], "where the occluder was");
    frames.ctx.wait_idle().expect("idle");
    let m = frames.ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// Two viewports of one scene: the point light's cube (the same whatever the view) is drawn
/// once, by the first viewport, and both show its shadows; a viewport that hides a node has
/// maps of its own.
#[test]
fn point_light_shadow_maps_are_shared_by_viewports() {
    let s = scene();
    let mut frames = Frames::viewports(SIZE, 1);
    let gpu = render::GpuScene::upload(&frames.ctx, &s).expect("upload");
    let mut gpu = gpu;
    let first = frames.draw(&mut gpu, &s, false);
    assert_eq!(frames.others[0].shadow_layers_drawn(), 6, "the first viewport draws the cube");
    assert_eq!(frames.raster.shadow_layers_drawn(), 0, "the second one uses it");
    for &(x, z) in &SHADOWED {
        assert!(first[pixel(x, z)][0] < 0.02 * lit(x, z), "shadow at ({x}, {z})");
    }
    check_lit(&first, &BESIDE, "beside the shadows");
    frames.draw(&mut gpu, &s, false);
    assert_eq!(frames.others[0].shadow_layers_drawn() + frames.raster.shadow_layers_drawn(), 0);
    // Hiding the +x occluder in the read-back viewport: its own maps, without it.
    frames.raster.hidden_nodes.insert(1);
    let hidden = frames.draw(&mut gpu, &s, false);
    assert_eq!(frames.raster.shadow_layers_drawn(), 6);
    assert_eq!(frames.others[0].shadow_layers_drawn(), 0);
    check_lit(&hidden, &SHADOWED[..1], "the hidden occluder's");
    let (x, z) = SHADOWED[1];
    assert!(hidden[pixel(x, z)][0] < 0.02 * lit(x, z), "the other occluders still cast");
    frames.ctx.wait_idle().expect("idle");
    let m = frames.ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// A directional light over a large scene: a 20 cm square 20 cm above a 200 m floor, seen
/// from 1 m away. The shadow comes from the first cascade (a few metres wide: millimetre
/// texels): floor points under the square are dark, points 5 cm outside its edge are lit,
/// though one map over the whole floor would have 14 cm texels.
/// A grey floor of half-size `floor` with a square of half-size `half` at `height` over its
/// centre, lit by a sun of 3 W/m^2 straight above, seen at 96 x 96 by a perspective camera
/// at `eye` (vertical field `yfov`) looking at the centre: the red channel at floor point
/// (x, 0, z).
fn square_over_floor(
    name: &str,
    (floor, height, half): (f32, f32, f32),
    eye: Vec3,
    yfov: f32,
) -> impl Fn(f32, f32) -> f32 {
    let floor = quad(0.0, floor, 0, false);
    let square = occluder(0.0, height, 0.0, half);
    let materials =
        vec![Material::lambert("floor", [0.5; 3]), Material::lambert("square", [0.5; 3])];
    let mut s = top_view(vec![floor, square], materials, Vec::new());
    let cam = glam::camera::rh::view::look_at_mat4(eye, Vec3::ZERO, Vec3::Y).inverse();
    s.cameras[0] = scene::Camera::perspective(name, yfov, Some(1.0));
    let camera_node = s.nodes.iter().position(|n| n.camera.is_some()).expect("camera");
    assert!(s.set_local_transform(camera_node, cam));
    sun_above(&mut s, 3.0);
    s.update_world();
    let size = 96;
    let img = draw(&s, name, size);
    let view = scene::View::from_scene(&s, None, size, size).expect("view");
    move |x: f32, z: f32| {
        let ndc = (view.proj * view.view).project_point3(Vec3::new(x, 0.0, z));
        let px = ((ndc.x * 0.5 + 0.5) * size as f32) as usize;
        let py = ((ndc.y * 0.5 + 0.5) * size as f32) as usize;
        img.hdr[py * size as usize + px][0]
    }
}

#[test]
fn cascade_shadow_of_a_small_object_on_a_large_floor_is_sharp() {
    // A perspective camera 1 m up and 0.8 m back, looking at the square's foot.
    let at =
        square_over_floor("cascade_small_shadow", (100.0, 0.2, 0.1), Vec3::new(0.0, 1.0, 0.8), 1.0);
    // Lit: albedo / pi * E.
    let lit = 0.5 / std::f32::consts::PI * 3.0;
    // Under the square where the eye sees the floor below it: the ray to floor point z
    // passes the square's height at 0.16 + 0.8 z, in front of its edge (z = 0.1) for z above
    // -0.075.
    for (x, z) in [(0.0, 0.05), (0.07, 0.08), (-0.07, -0.05), (0.0, 0.0)] {
        let v = at(x, z);
        assert!(v < 0.05 * lit, "in the shadow at ({x}, {z}): {v}");
    }
    for (x, z) in [(0.15, 0.05), (-0.15, 0.0), (0.0, 0.15), (0.3, 0.3)] {
        let v = at(x, z);
        assert!((v - lit).abs() < 0.03 * lit, "lit at ({x}, {z}): {v}, want {lit}");
    }
}

/// A view from 60 m above a 20 m floor with a 2 m square 3 m over it, the sun straight above:
/// the cascades of the slices near the eye meet nothing of the scene and are not drawn; the
/// square's shadow, from the cascades that are, lies under it, the floor around it lit.
#[test]
fn cascade_shadow_seen_from_far_above_skips_the_empty_slices() {
    let at =
        square_over_floor("cascade_far_above", (10.0, 3.0, 1.0), Vec3::new(0.0, 60.0, 20.0), 0.5);
    let lit = 0.5 / std::f32::consts::PI * 3.0;
    // The floor under the square, seen below its near edge: the ray from the eye (20 m back)
    // to (x, 0, z) passes the square's height at z + (20 - z) / 20, past its edge z = 1.
    for (x, z) in [(0.0, 0.3), (0.5, 0.5), (-0.5, 0.7)] {
        let v = at(x, z);
        assert!(v < 0.05 * lit, "in the shadow at ({x}, {z}): {v}");
    }
    for (x, z) in [(2.0, 0.0), (-2.5, 1.0), (0.0, 3.0), (5.0, -5.0)] {
        let v = at(x, z);
        assert!((v - lit).abs() < 0.03 * lit, "lit at ({x}, {z}): {v}, want {lit}");
    }
}
