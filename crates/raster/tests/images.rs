//! Raster image tests on lavapipe (validation layer on, zero messages): analytic values where
//! they exist, and the reference scenes against reference images stored in the repo.

use common::{render, render_scene, RenderedImage};
use glam::{Mat4, Quat, Vec3};
use scene::{
    Camera, Environment, Light, LightKind, LineSet, Material, Mesh, Node, Primitive, Scene,
};

use common::{data, maybe_save, px, refs_request, request};
use testkit as common;

/// White furnace: a Lambertian sphere of albedo 0.8 under a uniform environment of radiance 1
/// reflects exactly 0.8 (the raster's ambient term is exact for a uniform environment), and the
/// background is exactly 1 (tests/data/refs/README.md). Without the screen-space ambient
/// occlusion, which is not exact: reconstructing normals from the depth across the facets of
/// this flat-shaded sphere darkens a few pixels by up to 1.5 %.
#[test]
fn furnace_sphere_matches_the_analytic_values() {
    let req = common::RenderRequest {
        settings: vec![("ambient_occlusion".into(), render::SettingValue::Bool(false))],
        ..refs_request(data("refs/scenes/furnace_sphere.gltf"), 64, 64)
    };
    let img = render(&req).expect("render");
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
                    assert!(
                        (p[c] - 0.8).abs() < 2e-3,
                        "sphere pixel ({x},{y}) = {p:?}, expected 0.8"
                    );
                }
            } else if block.iter().all(|&b| !b) {
                background += 1;
                for c in 0..3 {
                    assert!(
                        (p[c] - 1.0).abs() < 1e-4,
                        "background pixel ({x},{y}) = {p:?}, expected 1"
                    );
                }
            }
        }
    }
    assert!(
        interior > 600 && background > 600,
        "{interior} interior, {background} background pixels"
    );
}

/// A 2x2 plane at y = 0 with `material`, a directional light of irradiance `e` tilted `theta`
/// from its normal (node 1), and a camera 3 m above looking down on it.
fn plane_under_sun(material: Material, e: f32, theta: f32, environment: Environment) -> Scene {
    let quad = Primitive {
        positions: vec![[-1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]],
        normals: vec![[0.0, 1.0, 0.0]; 4],
        indices: vec![0, 2, 1, 0, 3, 2],
        material: 0,
        ..Default::default()
    };
    // The light travels along its node's -Z: tilt it by theta from straight down.
    let light_rot = Quat::from_rotation_x(-90f32.to_radians()) * Quat::from_rotation_y(theta);
    let cam = Mat4::from_rotation_translation(
        Quat::from_rotation_x(-90f32.to_radians()),
        Vec3::new(0.0, 3.0, 0.0),
    );
    let mut scene = Scene {
        nodes: vec![
            Node::new("plane", Mat4::IDENTITY).with_mesh(0),
            Node::new("sun", Mat4::from_quat(light_rot)).with_light(0),
            Node::new("camera", cam).with_camera(0),
        ],
        meshes: vec![Mesh { name: "plane".into(), primitives: vec![quad] }],
        materials: vec![material],
        lights: vec![Light {
            name: "sun".into(),
            kind: LightKind::Directional,
            color: [1.0; 3],
            intensity: e,
            shadows: true,
            range: None,
        }],
        cameras: vec![Camera::perspective("top", 60f32.to_radians(), Some(1.0))],
        warnings: Vec::new(),
        environment,
        point_sets: Vec::new(),
        line_sets: Vec::new(),
        textures: Vec::new(),
        versions: Default::default(),
        up: None,
        animations: Vec::new(),
        skins: Vec::new(),
        clips: Vec::new(),
        active_clip: None,
        properties: Vec::new(),
        changed: Default::default(),
        plots: Vec::new(),
    };
    scene.update_world();
    scene
}

/// Asserts that the 8x8 pixels at the center of `img` have the radiance `want` (RGB, within
/// `tol`).
fn assert_center(img: &RenderedImage, want: [f32; 3], tol: f32) {
    let (cx, cy) = (img.width / 2, img.height / 2);
    for y in cy - 4..cy + 4 {
        for x in cx - 4..cx + 4 {
            let p = px(img, x, y);
            for c in 0..3 {
                assert!((p[c] - want[c]).abs() < tol, "pixel ({x},{y}) = {p:?}, expected {want:?}");
            }
        }
    }
}

/// A Lambertian plane under a directional light: radiance = albedo / pi * E * cos(theta).
#[test]
fn lambertian_plane_under_a_directional_light_is_analytic() {
    let albedo = 0.5f32;
    let e = 3.0f32;
    let theta = 60f32.to_radians();
    let material = Material::lambert("lambert", [albedo; 3]);
    let scene = plane_under_sun(material, e, theta, Environment::None);
    let dir = scene.nodes[1].world.transform_vector3(-Vec3::Z);
    assert!(
        (dir.dot(-Vec3::Y) - theta.cos()).abs() < 1e-5,
        "light at {theta} rad from the normal: {dir}"
    );
    let img = render_scene(&scene, &request("plane (in memory)".into(), 32, 32)).expect("render");
    maybe_save(&img, "plane");
    let want = albedo / std::f32::consts::PI * e * theta.cos();
    assert_center(&img, [want; 3], 1e-3);
    // Outside the plane: no environment, black.
    assert_eq!(px(&img, 0, 0)[..3], [0.0; 3]);
}

/// A mirrored node (scale -1 in x) keeps its outward normals: the same analytic radiance as
/// the unmirrored plane (the normal matrix is det(M) M^-T times the determinant's sign; without
/// the sign the plane faces down and goes black).
#[test]
fn mirrored_nodes_keep_outward_normals() {
    let (albedo, e, theta) = (0.5f32, 3.0f32, 60f32.to_radians());
    let mut scene =
        plane_under_sun(Material::lambert("lambert", [albedo; 3]), e, theta, Environment::None);
    scene.nodes[0].local = Mat4::from_scale(Vec3::new(-1.0, 1.0, 1.0));
    scene.update_world();
    let img = render_scene(&scene, &request("mirrored plane".into(), 32, 32)).expect("render");
    let want = albedo / std::f32::consts::PI * e * theta.cos();
    assert_center(&img, [want; 3], 1e-3);
}

/// An orthographic camera `2 * ymag` = 4 high over the 2x2 plane: the plane covers exactly the
/// middle half of the image at any camera height (a perspective camera's would shrink), with
/// the analytic Lambertian radiance.
#[test]
fn orthographic_camera_keeps_sizes_at_any_distance() {
    let (albedo, e, theta) = (0.5f32, 3.0f32, 60f32.to_radians());
    let mut scene =
        plane_under_sun(Material::lambert("lambert", [albedo; 3]), e, theta, Environment::None);
    scene.cameras[0] = Camera::orthographic("ortho", 2.0, Some(1.0));
    let want = albedo / std::f32::consts::PI * e * theta.cos();
    for height in [3.0f32, 10.0] {
        scene.nodes[2].local = Mat4::from_rotation_translation(
            Quat::from_rotation_x(-90f32.to_radians()),
            Vec3::new(0.0, height, 0.0),
        );
        scene.update_world();
        let img = render_scene(&scene, &request(format!("ortho at {height} m").into(), 32, 32))
            .expect("render");
        maybe_save(&img, &format!("ortho_{height}"));
        // Pixel centers 8.5 .. 23.5 lie on the plane (|x| < 1 of 2), 7.5 and 24.5 off it.
        for k in 0..32u32 {
            for (x, y) in [(k, 16), (16, k)] {
                let on = (8..24).contains(&x) && (8..24).contains(&y);
                let p = px(&img, x, y);
                let expected = if on { want } else { 0.0 };
                assert!(
                    (p[0] - expected).abs() < 1e-3,
                    "camera at {height} m: pixel ({x},{y}) = {p:?}, expected {expected}"
                );
            }
        }
    }
}

/// The reference grid, from straight above through an orthographic camera 4 m high on 32 px
/// (8 px per 1 m line spacing, image right = +x, image up = -z), with nothing else or with an
/// unlit white 2x2 quad above or below the grid plane.
fn grid_image(quad_height: Option<f32>) -> RenderedImage {
    grid_image_up(quad_height, raster::GridUp::Y)
}

/// [`grid_image`] for a grid with either up axis (Z up: the camera looks down -Z from z = 3,
/// image right = +x, image up = +y; the quad is then at z = `quad_height`).
fn grid_image_up(quad_height: Option<f32>, up: raster::GridUp) -> RenderedImage {
    let cam = match up {
        raster::GridUp::Y => Mat4::from_rotation_translation(
            Quat::from_rotation_x(-90f32.to_radians()),
            Vec3::new(0.0, 3.0, 0.0),
        ),
        raster::GridUp::Z => Mat4::from_translation(Vec3::new(0.0, 0.0, 3.0)),
    };
    let mut scene = Scene {
        nodes: vec![Node::new("camera", cam).with_camera(0)],
        cameras: vec![Camera::orthographic("top", 2.0, Some(1.0))],
        materials: vec![Material { unlit: true, ..Material::lambert("white", [1.0; 3]) }],
        ..Default::default()
    };
    if let Some(h) = quad_height {
        let corners = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];
        let positions = corners
            .iter()
            .map(|&[a, b]| match up {
                raster::GridUp::Y => [a, h, b],
                raster::GridUp::Z => [a, b, h],
            })
            .collect();
        let quad = Primitive {
            positions,
            normals: vec![[0.0, 1.0, 0.0]; 4],
            indices: vec![0, 2, 1, 0, 3, 2],
            ..Default::default()
        };
        scene.meshes.push(Mesh { name: "quad".into(), primitives: vec![quad] });
        scene.nodes.push(Node::new("quad", Mat4::IDENTITY).with_mesh(0));
    }
    scene.update_world();
    let mut req = request(format!("grid, quad at {quad_height:?}").into(), 32, 32);
    req.grid = Some(raster::Grid { up, ..Default::default() });
    let img = render_scene(&scene, &req).expect("render");
    maybe_save(&img, &format!("grid_{up:?}_{}", quad_height.unwrap_or(0.0)));
    img
}

/// Grid lines land where they belong with the expected coverage (a pixel centered 1/2 px off a
/// line is half covered: minor lines 0.5 gray at opacity 0.5 give 0.125 over black), the axes
/// are red (x) and blue (z), geometry above the plane hides the grid and geometry below it
/// does not.
#[test]
fn grid_lines_axes_and_occlusion() {
    let img = grid_image(None);
    let close = |p: [f32; 4], v: f32| p[..3].iter().all(|c| (c - v).abs() < 0.01);
    for k in [3u32, 4, 12, 20, 28] {
        assert!(close(px(&img, k, 4), 0.0), "between lines ({k},4): {:?}", px(&img, k, 4));
    }
    for x in [7u32, 8, 23, 24] {
        let p = px(&img, x, 4);
        assert!(close(p, 0.125), "line x = +-1 at ({x},4): {p:?}");
    }
    for x in [15u32, 16] {
        let p = px(&img, x, 4);
        assert!(p[2] > 2.0 * p[0] && p[2] > 0.2, "z axis (blue) at ({x},4): {p:?}");
        let p = px(&img, 4, x);
        assert!(p[0] > 2.0 * p[2] && p[0] > 0.2, "x axis (red) at (4,{x}): {p:?}");
    }

    let above = grid_image(Some(0.5));
    for (x, y) in [(8u32, 12u32), (12, 12), (15, 20), (16, 16), (20, 23)] {
        assert!(close(px(&above, x, y), 1.0), "quad above ({x},{y}): {:?}", px(&above, x, y));
    }
    assert!(close(px(&above, 7, 4), 0.125), "grid outside the quad: {:?}", px(&above, 7, 4));
    let below = grid_image(Some(-0.5));
    assert!(close(px(&below, 12, 12), 1.0), "{:?}", px(&below, 12, 12));
    for (x, y) in [(8u32, 12u32), (23, 20)] {
        let p = px(&below, x, y);
        assert!(close(p, 0.875), "grid over the quad below ({x},{y}): {p:?}");
    }

    // Z up: the same lines in the XY plane; the x = 0 axis (along y) blue, y = 0 (along x) red,
    // and a quad above the plane (z = 0.5) hides the grid.
    let z = grid_image_up(Some(0.5), raster::GridUp::Z);
    assert!(close(px(&z, 7, 4), 0.125) && close(px(&z, 4, 7), 0.125), "{:?}", px(&z, 7, 4));
    assert!(close(px(&z, 4, 4), 0.0), "{:?}", px(&z, 4, 4));
    let (axis_y, axis_x) = (px(&z, 15, 4), px(&z, 4, 16));
    assert!(axis_y[2] > 2.0 * axis_y[0], "x = 0 axis: {axis_y:?}");
    assert!(axis_x[0] > 2.0 * axis_x[2], "y = 0 axis: {axis_x:?}");
    assert!(close(px(&z, 16, 16), 1.0), "quad above: {:?}", px(&z, 16, 16));

    // Settings that would put NaN into the image are errors.
    let scene = Scene {
        line_sets: vec![line_set("l", vec![[0.0; 3], [1.0; 3]], vec![], 1.0)],
        ..Default::default()
    };
    for grid in [
        raster::Grid { opacity: f32::NAN, ..Default::default() },
        raster::Grid { spacing: 1e-38, ..Default::default() },
        raster::Grid { color: [f32::INFINITY, 0.0, 0.0], ..Default::default() },
    ] {
        let mut req = request("in memory".into(), 8, 8);
        req.grid = Some(grid);
        let e = render_scene(&scene, &req).expect_err("invalid grid");
        assert!(format!("{e:#}").contains("grid Grid"), "{e:#}");
    }
}

fn line_set(name: &str, positions: Vec<[f32; 3]>, colors: Vec<[u8; 4]>, width: f32) -> LineSet {
    LineSet {
        name: name.into(),
        transform: Mat4::IDENTITY,
        positions,
        colors,
        strip: false,
        width_px: width,
        visible: true,
        node: None,
    }
}

/// Lines from straight above (the grid test's orthographic view, 8 px per m, row = 16 + 8 z):
/// a red line 4 px wide covers exactly the 4 rows around it, a strip's segments are all
/// drawn, colors interpolate along a segment, and a quad above the lines hides them.
#[test]
fn lines_have_their_width_color_and_depth() {
    let cam = Mat4::from_rotation_translation(
        Quat::from_rotation_x(-90f32.to_radians()),
        Vec3::new(0.0, 3.0, 0.0),
    );
    let quad = Primitive {
        positions: vec![[-1.0, 0.5, -1.0], [1.0, 0.5, -1.0], [1.0, 0.5, 1.0], [-1.0, 0.5, 1.0]],
        normals: vec![[0.0, 1.0, 0.0]; 4],
        indices: vec![0, 2, 1, 0, 3, 2],
        ..Default::default()
    };
    let (red, white, black) = ([255, 0, 0, 255], [255; 4], [0, 0, 0, 255]);
    let mut strip = line_set(
        "strip",
        vec![[-1.5, 0.0, -1.5], [-1.5, 0.0, -1.25], [1.5, 0.0, -1.25]],
        vec![[0, 255, 0, 255]; 3],
        2.0,
    );
    strip.strip = true;
    let mut scene = Scene {
        nodes: vec![
            Node::new("camera", cam).with_camera(0),
            Node::new("quad", Mat4::IDENTITY).with_mesh(0),
        ],
        cameras: vec![Camera::orthographic("top", 2.0, Some(1.0))],
        meshes: vec![Mesh { name: "quad".into(), primitives: vec![quad] }],
        materials: vec![Material { unlit: true, ..Material::lambert("white", [1.0; 3]) }],
        line_sets: vec![
            line_set("red", vec![[-3.0, 0.0, 0.0], [3.0, 0.0, 0.0]], vec![red; 2], 4.0),
            line_set("ramp", vec![[-1.5, 0.0, 1.5], [1.5, 0.0, 1.5]], vec![black, white], 2.0),
            strip,
        ],
        ..Default::default()
    };
    scene.update_world();
    let img = render_scene(&scene, &request("lines (in memory)".into(), 32, 32)).expect("render");
    maybe_save(&img, "lines");
    let is = |x: u32, y: u32, want: [f32; 3]| {
        let p = px(&img, x, y);
        assert!(
            (0..3).all(|c| (p[c] - want[c]).abs() < 2e-3),
            "pixel ({x},{y}) = {p:?}, expected {want:?}"
        );
    };
    for x in [1u32, 4, 30] {
        for y in 14..18 {
            is(x, y, [1.0, 0.0, 0.0]);
        }
        is(x, 13, [0.0; 3]);
        is(x, 18, [0.0; 3]);
    }
    // Under the quad (cols and rows 8..24): hidden.
    is(16, 16, [1.0; 3]);
    is(9, 15, [1.0; 3]);
    // The strip: both segments (x = -1.5 -> col 4, z = -1.25 -> row 6), 2 px wide.
    is(3, 4, [0.0, 1.0, 0.0]);
    is(20, 5, [0.0, 1.0, 0.0]);
    is(20, 7, [0.0; 3]);
    // The ramp (row 28): black to white, increasing left to right, about half way in the middle.
    let ramp: Vec<f32> = (6..26).map(|x| px(&img, x, 28)[0]).collect();
    assert!(ramp.windows(2).all(|w| w[1] >= w[0]), "{ramp:?}");
    assert!((px(&img, 16, 28)[0] - 0.5).abs() < 0.05, "{:?}", px(&img, 16, 28));
}

/// A line from behind a perspective camera to in front of it is clipped at the near plane:
/// only its part in front shows (below the center, from the bottom edge up), nothing above, and
/// it keeps its width (the screen direction comes from the clipped endpoint; the one behind the
/// camera would project mirrored).
#[test]
fn lines_crossing_the_near_plane_are_clipped() {
    let mut scene = Scene {
        nodes: vec![Node::new("camera", Mat4::IDENTITY).with_camera(0)],
        cameras: vec![Camera::perspective("wide", 90f32.to_radians(), Some(1.0))],
        line_sets: vec![line_set(
            "through",
            vec![[1.0, -0.5, 5.0], [-0.2, -0.5, -5.0]],
            vec![[255; 4]; 2],
            2.0,
        )],
        ..Default::default()
    };
    scene.update_world();
    let img = render_scene(&scene, &request("near-plane line".into(), 32, 32)).expect("render");
    maybe_save(&img, "lines_near");
    for y in 20..32u32 {
        let lit = (0..32).filter(|&x| px(&img, x, y)[0] > 0.5).count();
        assert!((1..=4).contains(&lit), "row {y}: {lit} pixels of a 2 px line");
    }
    for y in 0..16u32 {
        for x in 0..32u32 {
            assert_eq!(px(&img, x, y)[..3], [0.0; 3], "above the horizon ({x},{y})");
        }
    }
}

/// Vertex colors multiply the base color: a lit Lambertian plane whose vertices are all one
/// color reflects albedo * color / pi * E * cos(theta) (within the 8-bit sRGB storage of vertex
/// colors); a plane red on the left, blue on the right shades through between them, while a
/// small uncolored quad over its middle, drawn in the same frame by the variant without vertex
/// colors, stays white.
#[test]
fn vertex_colors_multiply_the_base_color() {
    let (albedo, e, theta) = (0.8f32, 2.0f32, 30f32.to_radians());
    let color = [0.2f32, 0.45, 0.7, 1.0];
    let mut scene =
        plane_under_sun(Material::lambert("white", [albedo; 3]), e, theta, Environment::None);
    scene.meshes[0].primitives[0].colors = vec![color; 4];
    let img =
        render_scene(&scene, &request("colored plane (in memory)".into(), 32, 32)).expect("render");
    let k = albedo / std::f32::consts::PI * e * theta.cos();
    let want = [color[0] * k, color[1] * k, color[2] * k];
    assert_center(&img, want, 0.01 * want[2]);

    // Vertices 0 and 3 at x = -1 (left in the image from above), 1 and 2 at x = +1.
    let (red, blue) = ([1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]);
    scene.meshes[0].primitives[0].colors = vec![red, blue, blue, red];
    let small = Primitive {
        positions: vec![[-0.2, 0.0, -0.2], [0.2, 0.0, -0.2], [0.2, 0.0, 0.2], [-0.2, 0.0, 0.2]],
        ..scene.meshes[0].primitives[0].clone()
    };
    let small = Primitive { colors: Vec::new(), ..small };
    scene.meshes.push(Mesh { name: "small".into(), primitives: vec![small] });
    let lift = Mat4::from_translation(Vec3::new(0.0, 0.1, 0.0));
    scene.nodes.push(Node::new("small", lift).with_mesh(1));
    scene.update_world();
    let img = render_scene(&scene, &request("gradient plane (in memory)".into(), 32, 32))
        .expect("render");
    maybe_save(&img, "vertex_colors");
    let center = px(&img, 16, 16);
    assert!(center[..3].iter().all(|c| (c - k).abs() < 0.01 * k), "uncolored quad {center:?}");
    let (left, mid, right) = (px(&img, 9, 16), px(&img, 16, 10), px(&img, 22, 16));
    assert!(left[0] > 0.8 * k && left[2] < 0.2 * k, "left {left:?}");
    assert!(right[2] > 0.8 * k && right[0] < 0.2 * k, "right {right:?}");
    assert!((mid[0] - mid[2]).abs() < 0.1 * k && mid[0] > 0.3 * k, "middle {mid:?}");
    assert_eq!(mid[1], 0.0, "no green anywhere: {mid:?}");
}

/// An unlit material (KHR_materials_unlit) shows its base color whatever the light and the
/// environment; the environment still shows around it.
#[test]
fn unlit_material_shows_its_base_color() {
    let color = [0.2f32, 0.45, 0.7];
    let material = Material { unlit: true, ..Material::lambert("unlit", color) };
    let scene = plane_under_sun(material, 10.0, 0.5, Environment::Uniform([0.3, 0.3, 0.3]));
    let img =
        render_scene(&scene, &request("unlit plane (in memory)".into(), 32, 32)).expect("render");
    maybe_save(&img, "unlit");
    assert_center(&img, color, 1e-3);
    for (c, v) in px(&img, 0, 0)[..3].iter().enumerate() {
        assert!((v - 0.3).abs() < 1e-3, "background channel {c} = {v}, expected 0.3");
    }
}

/// Mean and 99th-percentile absolute difference of two RGBA8 images (RGB channels, 0..255).
/// The reference scenes at 64x64 against reference images made by this renderer and looked at
/// before they were committed (tests/data/raster/*.png). Tolerance: mean absolute difference
/// under 1 and 99th percentile under 8 (8-bit sRGB), for rasterization and rounding differences
/// between drivers. `XPG_UPDATE_REFS=1` rewrites the references instead.
#[test]
fn reference_scenes_match_the_stored_raster_images() {
    for name in ["cornell_box", "many_lights", "env_diffuse", "furnace_sphere"] {
        let img = render(&refs_request(data(&format!("refs/scenes/{name}.gltf")), 64, 64))
            .expect("render");
        common::assert_matches_stored(&img, name, 8);
    }
}

/// A light above a small occluder over a plane: the plane is black in the occluder's shadow (no
/// ambient) and analytic elsewhere; `lit(p)` is the expected radiance at ground point `p`.
fn shadow_scene_check(name: &str, light: Light, light_local: Mat4, lit: impl Fn(Vec3) -> f32) {
    let albedo = 0.5f32;
    let quad = |y: f32, h: f32| Primitive {
        positions: vec![[-h, y, -h], [h, y, -h], [h, y, h], [-h, y, h]],
        normals: vec![[0.0, 1.0, 0.0]; 4],
        indices: vec![0, 2, 1, 0, 3, 2],
        material: 0,
        ..Default::default()
    };
    let eye = Vec3::new(0.0, 3.0, 3.0);
    let cam = glam::camera::rh::view::look_at_mat4(eye, Vec3::ZERO, Vec3::Y).inverse();
    let mut scene = Scene {
        nodes: vec![
            Node::new("ground", Mat4::IDENTITY).with_mesh(0),
            Node::new("occluder", Mat4::IDENTITY).with_mesh(1),
            Node::new("light", light_local).with_light(0),
            Node::new("camera", cam).with_camera(0),
        ],
        meshes: vec![
            Mesh { name: "ground".into(), primitives: vec![quad(0.0, 1.5)] },
            Mesh { name: "occluder".into(), primitives: vec![quad(0.5, 0.3)] },
        ],
        materials: vec![Material::lambert("lambert", [albedo; 3])],
        lights: vec![light],
        cameras: vec![Camera::perspective("cam", 50f32.to_radians(), Some(1.0))],
        warnings: Vec::new(),
        environment: Environment::None,
        point_sets: Vec::new(),
        line_sets: Vec::new(),
        textures: Vec::new(),
        versions: Default::default(),
        up: None,
        animations: Vec::new(),
        skins: Vec::new(),
        clips: Vec::new(),
        active_clip: None,
        properties: Vec::new(),
        changed: Default::default(),
        plots: Vec::new(),
    };
    scene.update_world();
    let (w, h) = (96u32, 96u32);
    let img = render_scene(&scene, &request("shadow (in memory)".into(), w, h)).expect("render");
    maybe_save(&img, name);
    let view = scene::View::from_scene(&scene, None, w, h).expect("view");
    let pixel = |p: Vec3| {
        let c = view.proj * view.view * p.extend(1.0);
        let ndc = c.truncate() / c.w;
        (((ndc.x * 0.5 + 0.5) * w as f32) as u32, ((ndc.y * 0.5 + 0.5) * h as f32) as u32)
    };
    // In the shadow, on the visible side of the occluder (it hides z < -0.2 from this camera).
    let (sx, sy) = pixel(Vec3::new(0.0, 0.0, 0.15));
    let s = px(&img, sx, sy);
    assert!(s[0] < 0.02, "shadowed ground at ({sx},{sy}) = {s:?}");
    for p in [Vec3::new(1.0, 0.0, 1.0), Vec3::new(-0.9, 0.0, 0.6), Vec3::new(0.0, 0.5, 0.0)] {
        let (lx, ly) = pixel(p);
        let got = px(&img, lx, ly);
        let want = albedo / std::f32::consts::PI * lit(p);
        assert!(
            (got[0] - want).abs() < 2e-3 * want.max(1.0),
            "{name}: lit point {p} at ({lx},{ly}) = {got:?}, expected {want}"
        );
    }
}

#[test]
fn directional_light_casts_a_shadow() {
    let e = 2.0f32;
    let sun = Light {
        name: "sun".into(),
        kind: LightKind::Directional,
        color: [1.0; 3],
        intensity: e,
        shadows: true,
        range: None,
    };
    shadow_scene_check(
        "shadow_directional",
        sun,
        Mat4::from_rotation_x(-90f32.to_radians()),
        |_| e,
    );
}

/// A spot light above the occluder: perspective shadow map, I / r^2 * cos falloff.
#[test]
fn spot_light_casts_a_shadow() {
    let intensity = 20.0f32;
    let pos = Vec3::new(0.0, 3.0, 0.0);
    let spot = Light {
        name: "spot".into(),
        kind: LightKind::Spot { inner: 50f32.to_radians(), outer: 60f32.to_radians() },
        color: [1.0; 3],
        intensity,
        shadows: true,
        range: None,
    };
    let local = Mat4::from_rotation_translation(Quat::from_rotation_x(-90f32.to_radians()), pos);
    shadow_scene_check("shadow_spot", spot, local, move |p| {
        let d = pos - p;
        let r2 = d.length_squared();
        intensity / r2 * (d.normalize().y).max(0.0)
    });
}

/// An in-memory scene with an out-of-range index is an error, not an out-of-bounds GPU read.
#[test]
fn invalid_in_memory_scene_is_an_error() {
    let mut scene = Scene {
        nodes: vec![Node::new("n", Mat4::IDENTITY).with_mesh(0)],
        meshes: vec![Mesh {
            name: "broken".into(),
            primitives: vec![Primitive {
                positions: vec![[0.0; 3]; 3],
                normals: vec![[0.0, 1.0, 0.0]; 3],
                indices: vec![0, 1, 5],
                material: 0,
                ..Default::default()
            }],
        }],
        materials: vec![Material::default()],
        ..Default::default()
    };
    scene.update_world();
    let e = render_scene(&scene, &request("broken (in memory)".into(), 8, 8)).expect_err("invalid");
    assert!(format!("{e:#}").contains("index 5 out of range"), "{e:#}");

    // Line sets: NaN positions, a zero width, a color count that does not match.
    let ok = || line_set("bad lines", vec![[0.0; 3], [1.0; 3]], Vec::new(), 2.0);
    let nan = LineSet { positions: vec![[0.0; 3], [f32::NAN; 3]], ..ok() };
    let thin = LineSet { width_px: 0.0, ..ok() };
    let colors = LineSet { colors: vec![[255; 4]; 3], ..ok() };
    for (lines, why) in [(nan, "non-finite"), (thin, "width"), (colors, "3 colors")] {
        let scene = Scene { line_sets: vec![lines], ..Default::default() };
        let e = render_scene(&scene, &request("lines (in memory)".into(), 8, 8))
            .expect_err("invalid lines");
        let text = format!("{e:#}");
        assert!(text.contains("bad lines") && text.contains(why), "{text}");
    }
}

/// Points are splatted by compute and composited with the triangles' depth: a point in front
/// of the plane shows its color, a point behind the plane is hidden.
#[test]
fn points_are_splatted_and_depth_tested_against_triangles() {
    let quad = Primitive {
        positions: vec![[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]],
        normals: vec![[0.0, 0.0, 1.0]; 4],
        indices: vec![0, 1, 2, 0, 2, 3],
        material: 0,
        ..Default::default()
    };
    let cam = Mat4::from_translation(Vec3::new(0.0, 0.0, 3.0));
    let mut scene = Scene {
        nodes: vec![
            Node::new("wall", Mat4::IDENTITY).with_mesh(0),
            Node::new("camera", cam).with_camera(0),
        ],
        meshes: vec![Mesh { name: "wall".into(), primitives: vec![quad] }],
        materials: vec![Material { double_sided: false, ..Material::lambert("wall", [0.2; 3]) }],
        cameras: vec![Camera::perspective("cam", 60f32.to_radians(), Some(1.0))],
        environment: Environment::Uniform([1.0, 1.0, 1.0]),
        point_sets: vec![scene::PointSet {
            name: "pts".into(),
            transform: Mat4::IDENTITY,
            // In front of the wall (z > 0) at the left, behind it at the right.
            positions: vec![[-0.5, 0.0, 0.5], [0.5, 0.0, -0.5]],
            colors: vec![[255, 0, 0, 255], [0, 255, 0, 255]],
            size_px: 4.0,
            size_world: None,
            scalars: Vec::new(),
            colormap: None,
            visible: true,
            node: None,
            frame: None,
        }],
        ..Default::default()
    };
    scene.update_world();
    let (w, h) = (64u32, 64u32);
    let img = render_scene(&scene, &request("points (in memory)".into(), w, h)).expect("render");
    maybe_save(&img, "points");
    let view = scene::View::from_scene(&scene, None, w, h).expect("view");
    let pixel = |p: Vec3| {
        let c = view.proj * view.view * p.extend(1.0);
        let ndc = c.truncate() / c.w;
        (((ndc.x * 0.5 + 0.5) * w as f32) as u32, ((ndc.y * 0.5 + 0.5) * h as f32) as u32)
    };
    let (rx, ry) = pixel(Vec3::new(-0.5, 0.0, 0.5));
    assert_eq!(px(&img, rx, ry), [1.0, 0.0, 0.0, 1.0], "the red point in front of the wall");
    let (gx, gy) = pixel(Vec3::new(0.5, 0.0, -0.5));
    let wall = px(&img, gx, gy);
    assert!(
        (wall[0] - 0.2).abs() < 1e-3 && (wall[1] - 0.2).abs() < 1e-3,
        "the green point is behind the wall: {wall:?}"
    );
}

/// A PLY point cloud loaded as a file would be: default lighting is added to the unlit file, the
/// points are splatted, the background is the dim default environment.
#[test]
fn ply_point_cloud_renders_with_default_lighting() {
    let dir = std::env::temp_dir().join(format!("xpg-ply-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    let path = dir.join("cloud.ply");
    let mut text = String::from("ply\nformat ascii 1.0\nelement vertex 400\nproperty float x\nproperty float y\nproperty float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n");
    for i in 0..400 {
        let (x, y) = ((i % 20) as f32 / 19.0 - 0.5, (i / 20) as f32 / 19.0 - 0.5);
        text.push_str(&format!("{x} {y} 0 255 200 0\n"));
    }
    std::fs::write(&path, text).expect("write");
    let img = render(&request(path, 64, 64)).expect("render");
    maybe_save(&img, "ply_cloud");
    // The framed camera looks at the grid's centre: the centre pixel is a point's color
    // (sRGB (255, 200, 0) -> linear (1, 0.578, 0)) or the environment between points.
    let yellow = img
        .hdr
        .iter()
        .filter(|p| (p[0] - 1.0).abs() < 1e-2 && (p[1] - 0.578).abs() < 1e-2 && p[2] < 1e-3)
        .count();
    assert!(yellow > 100, "{yellow} point pixels");
    assert!(
        (px(&img, 0, 0)[0] - 0.25).abs() < 1e-3,
        "default environment behind: {:?}",
        px(&img, 0, 0)
    );
}

/// A scan in its common encodings (binary and ASCII PLY, PLY triangle strips, OBJ with
/// normals) gives the same image, in both renderers: an asymmetric bumpy sphere, smooth
/// normals, the loaders' default material, the default view and lighting. Each image is
/// compared with the binary PLY's: mean difference under 0.5 and 99th percentile at most 2
/// (8-bit).
#[test]
fn scan_encodings_give_the_same_image() {
    let dir = std::env::temp_dir().join(format!("xpg-scan-encodings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let s = scene::shapes::uv_sphere(0, 24, 12);
    let pos: Vec<[f32; 3]> =
        s.positions.iter().map(|p| [1.5 * p[0], p[1] + 0.3 * p[0] * p[0], 0.8 * p[2]]).collect();
    let (nrm, idx) = (&s.normals, &s.indices);
    let header = |format: &str, faces: &str| {
        format!(
            "ply\nformat {format} 1.0\nelement vertex {}\nproperty float x\nproperty float y\n\
             property float z\nproperty float nx\nproperty float ny\nproperty float nz\n{faces}end_header\n",
            pos.len()
        )
    };
    let face_element =
        format!("element face {}\nproperty list uchar int vertex_indices\n", idx.len() / 3);
    // Binary little endian.
    let mut bin = header("binary_little_endian", &face_element).into_bytes();
    for (p, n) in pos.iter().zip(nrm) {
        for v in p.iter().chain(n) {
            bin.extend(v.to_le_bytes());
        }
    }
    for t in idx.chunks_exact(3) {
        bin.push(3);
        for &i in t {
            bin.extend((i as i32).to_le_bytes());
        }
    }
    // ASCII.
    let mut ascii = header("ascii", &face_element);
    for (p, n) in pos.iter().zip(nrm) {
        ascii.push_str(&format!("{} {} {} {} {} {}\n", p[0], p[1], p[2], n[0], n[1], n[2]));
    }
    for t in idx.chunks_exact(3) {
        ascii.push_str(&format!("3 {} {} {}\n", t[0], t[1], t[2]));
    }
    // Triangle strips: one strip per triangle, -1 between them.
    let strip: Vec<String> =
        idx.chunks_exact(3).map(|t| format!("{} {} {}", t[0], t[1], t[2])).collect();
    let strip = strip.join(" -1 ");
    let count = strip.split(' ').count();
    let mut strips = header("ascii", "element tristrips 1\nproperty list int int vertex_indices\n");
    for (p, n) in pos.iter().zip(nrm) {
        strips.push_str(&format!("{} {} {} {} {} {}\n", p[0], p[1], p[2], n[0], n[1], n[2]));
    }
    strips.push_str(&format!("{count} {strip}\n"));
    // OBJ with normals.
    let mut obj = String::new();
    for (p, n) in pos.iter().zip(nrm) {
        obj.push_str(&format!("v {} {} {}\nvn {} {} {}\n", p[0], p[1], p[2], n[0], n[1], n[2]));
    }
    for t in idx.chunks_exact(3) {
        let v = [t[0] + 1, t[1] + 1, t[2] + 1];
        obj.push_str(&format!("f {0}//{0} {1}//{1} {2}//{2}\n", v[0], v[1], v[2]));
    }
    let files = [
        ("binary.ply", bin),
        ("ascii.ply", ascii.into_bytes()),
        ("strips.ply", strips.into_bytes()),
        ("scan.obj", obj.into_bytes()),
    ];
    for renderer in ["raster", "pathtracer"] {
        let mut first: Option<RenderedImage> = None;
        for (name, bytes) in &files {
            let path = dir.join(name);
            std::fs::write(&path, bytes).expect("write");
            let req = common::RenderRequest {
                renderer: renderer.into(),
                spp: 4,
                ..request(path, 48, 48)
            };
            let img = render(&req).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            match &first {
                None => first = Some(img),
                Some(reference) => {
                    let (mean, p99) = common::compare(&img.ldr, &reference.ldr);
                    assert!(
                        mean < 0.5 && p99 <= 2,
                        "{renderer}: {name} differs from binary.ply: mean {mean:.3}, p99 {p99}"
                    );
                }
            }
        }
    }
}
