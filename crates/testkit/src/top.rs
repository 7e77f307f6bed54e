//! Small scenes seen from straight above through an orthographic camera (image right = +x,
//! image up = -z; the 2x2 quad at y = 0 fills the view), for the raster's image tests.

use glam::{Mat4, Quat, Vec3};
use scene::{Camera, Material, Mesh, Node, Primitive, Scene, Texture};

use render::SettingValue;

use crate::{maybe_save, render_scene, request, RenderRequest, RenderedImage};

/// A `2h x 2h` quad at height `y` facing +y, UVs u = +x, v = +z (image up = -z = v 0),
/// with tangents along +x when `tangents`.
pub fn quad(y: f32, h: f32, material: usize, tangents: bool) -> Primitive {
    Primitive {
        positions: vec![[-h, y, -h], [h, y, -h], [h, y, h], [-h, y, h]],
        normals: vec![[0.0, 1.0, 0.0]; 4],
        uvs: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
        tangents: if tangents { vec![[1.0, 0.0, 0.0, 1.0]; 4] } else { Vec::new() },
        indices: vec![0, 2, 1, 0, 3, 2],
        material,
        ..Default::default()
    }
}

/// A scene of `meshes` (one node each, drawn in this order) under an orthographic camera
/// 3 m above looking down, 2 m high (ymag 1).
pub fn top_view(meshes: Vec<Primitive>, materials: Vec<Material>, textures: Vec<Texture>) -> Scene {
    let cam = Mat4::from_rotation_translation(
        Quat::from_rotation_x(-90f32.to_radians()),
        Vec3::new(0.0, 3.0, 0.0),
    );
    let mut scene = Scene { materials, textures, ..Default::default() };
    for (i, p) in meshes.into_iter().enumerate() {
        scene.meshes.push(Mesh { name: format!("mesh {i}"), primitives: vec![p] });
        scene.nodes.push(Node::new(&format!("node {i}"), Mat4::IDENTITY).with_mesh(i));
    }
    scene.cameras.push(Camera::orthographic("top", 1.0, Some(1.0)));
    scene.nodes.push(Node::new("camera", cam).with_camera(0));
    scene.update_world();
    scene
}

/// Adds a white directional light of irradiance `intensity` shining straight down (-y), casting
/// shadows, on a node of its own.
pub fn sun_above(scene: &mut Scene, intensity: f32) {
    scene.lights.push(scene::Light {
        name: "sun".into(),
        kind: scene::LightKind::Directional,
        color: [1.0; 3],
        intensity,
        shadows: true,
        range: None,
    });
    let down = Mat4::from_rotation_x(-90f32.to_radians());
    scene.nodes.push(Node::new("sun", down).with_light(scene.lights.len() - 1));
    scene.update_world();
}

/// Adds a white point light of `intensity` (W/sr) at `position`, casting no shadow, with
/// `range` ([`scene::Light::range`]), on a node of its own.
pub fn point_light(scene: &mut Scene, position: Vec3, intensity: f32, range: Option<f32>) {
    let name = format!("bulb {}", scene.lights.len());
    scene.lights.push(scene::Light {
        name: name.clone(),
        kind: scene::LightKind::Point,
        color: [1.0; 3],
        intensity,
        shadows: false,
        range,
    });
    let node = Node::new(&name, Mat4::from_translation(position));
    scene.nodes.push(node.with_light(scene.lights.len() - 1));
    scene.update_world();
}

/// An unlit material of `color` (linear RGBA).
pub fn unlit(name: &str, color: [f32; 4]) -> Material {
    Material { name: name.into(), base_color: color, unlit: true, ..Default::default() }
}

/// Renders `scene` (raster, no MSAA) at `size` x `size`, saved as NAME with `XPG_SAVE_IMAGES`.
pub fn draw(scene: &Scene, name: &str, size: u32) -> RenderedImage {
    draw_with(scene, name, size, 1, &[])
}

/// [`draw`] with `msaa` samples and raster `settings`.
pub fn draw_with(
    scene: &Scene,
    name: &str,
    size: u32,
    msaa: u32,
    settings: &[(&str, SettingValue)],
) -> RenderedImage {
    let req = RenderRequest {
        msaa,
        settings: settings.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ..request(name.into(), size, size)
    };
    let img = render_scene(scene, &req).expect("render");
    maybe_save(&img, name);
    img
}

/// Each RGB channel of `got` within `tol` of `want`.
pub fn assert_close(got: [f32; 4], want: [f32; 3], tol: f32, what: &str) {
    for c in 0..3 {
        assert!((got[c] - want[c]).abs() <= tol, "{what}: {got:?}, expected {want:?} (+- {tol})");
    }
}
