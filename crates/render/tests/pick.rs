//! Picking (issue 25): what is under a pixel, for meshes (the triangle), points (the point,
//! within its size) and lines (the segment, within its width); the nearest wins; hidden nodes
//! and objects are skipped; lavapipe with validation on.

use glam::{Mat4, Vec3};
use render::{PickTarget, Picker};
use scene::{LineSet, Node, PointSet, Primitive, Scene, View};
use testkit as common;

const SIZE: u32 = 120;

/// A quad in the z = 0 plane (x, y in -1..1, two triangles) on node 0, moved by `offset`;
/// three points in front of it (z = 0.5) and one behind (z = -0.5); a horizontal segment
/// at y = -0.6, z = 0.2.
fn scene(offset: Vec3) -> Scene {
    let mut s = Scene::default();
    s.materials.push(scene::Material::lambert("grey", [0.5, 0.5, 0.5]));
    let prim = Primitive {
        positions: vec![[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]],
        normals: vec![[0.0, 0.0, 1.0]; 4],
        indices: vec![0, 1, 2, 0, 2, 3],
        material: 0,
        ..Default::default()
    };
    s.meshes.push(scene::Mesh { name: "quad".into(), primitives: vec![prim] });
    s.nodes.push(Node::new("quad", Mat4::from_translation(offset)).with_mesh(0));
    s.update_world();
    let mut p = PointSet::new(
        "points",
        vec![[0.5, 0.5, 0.5], [-0.5, 0.6, 0.5], [0.2, -0.2, 0.5], [-0.5, -0.2, -0.5]],
    );
    p.size_px = 6.0;
    s.point_sets.push(p);
    s.line_sets.push(LineSet {
        name: "line".into(),
        transform: Mat4::IDENTITY,
        positions: vec![[-0.8, -0.6, 0.2], [0.8, -0.6, 0.2]],
        colors: Vec::new(),
        strip: false,
        width_px: 3.0,
        visible: true,
        node: None,
    });
    s
}

fn view() -> View {
    View {
        view: Mat4::from_translation(Vec3::new(0.0, 0.0, -4.0)),
        proj: scene::camera::perspective(60f32.to_radians(), 1.0, 0.1, 100.0),
        position: Vec3::new(0.0, 0.0, 4.0),
        orthographic: false,
        width: SIZE,
        height: SIZE,
    }
}

/// The pixel (from the top left) where `world` is seen.
fn pixel_of(v: &View, world: Vec3) -> (f32, f32) {
    let ndc = (v.proj * v.view).project_point3(world);
    ((ndc.x * 0.5 + 0.5) * v.width as f32, (ndc.y * 0.5 + 0.5) * v.height as f32)
}

#[test]
fn pick_finds_the_nearest_triangle_point_or_segment() {
    let ctx = common::gpu(false);
    let compiler = xpg::ShaderCompiler::new([xpg::ShaderCompiler::project_shader_dir()]);
    let picker = Picker::new(&ctx, &compiler).expect("picker");
    let s = scene(Vec3::ZERO);
    let gpu = render::GpuScene::upload(&ctx, &s).expect("upload");
    let v = view();
    let none = Default::default();
    let at = |world: Vec3| {
        let (x, y) = pixel_of(&v, world);
        picker.pick(&gpu, &v, x, y, &none).expect("pick")
    };
    // The quad where nothing is in front: the second triangle (0, 2, 3) holds (-0.6, 0.3).
    let hit = at(Vec3::new(-0.6, 0.3, 0.0)).expect("the quad");
    assert_eq!(hit.target, PickTarget::Mesh { draw: 0, node: 0, primitive: 0, sphere: false });
    assert_eq!(hit.element, 1, "the triangle");
    assert!((hit.position - Vec3::new(-0.6, 0.3, 0.0)).length() < 0.03, "{:?}", hit.position);
    // A point in front of the quad wins; a point behind it does not.
    let hit = at(Vec3::new(-0.5, 0.6, 0.5)).expect("a point");
    assert_eq!((hit.target, hit.element), (PickTarget::Points(0), 1));
    let hit = at(Vec3::new(-0.5, -0.2, -0.5)).expect("the quad in front");
    assert!(matches!(hit.target, PickTarget::Mesh { .. }), "{hit:?}");
    // Within a point's footprint (6 pixels: 2 pixels off its centre), not beyond.
    let (x, y) = pixel_of(&v, Vec3::new(0.5, 0.5, 0.5));
    let hit = picker.pick(&gpu, &v, x + 2.0, y, &none).expect("pick").expect("a point");
    assert_eq!((hit.target, hit.element), (PickTarget::Points(0), 0));
    let far = picker.pick(&gpu, &v, x + 6.0, y, &none).expect("pick").expect("the quad");
    assert!(matches!(far.target, PickTarget::Mesh { .. }), "{far:?}");
    // The segment, in front of the quad.
    let hit = at(Vec3::new(0.3, -0.6, 0.2)).expect("the line");
    assert_eq!((hit.target, hit.element), (PickTarget::Lines(0), 0));
    // Nothing beside the quad; nothing outside the view.
    assert_eq!(at(Vec3::new(1.6, 1.6, 0.0)), None);
    assert_eq!(picker.pick(&gpu, &v, -1.0, 3.0, &none).expect("pick"), None);
    // A node hidden in this view is not picked: what is behind it is.
    let hidden = [0u32].into_iter().collect();
    let (x, y) = pixel_of(&v, Vec3::new(-0.5, -0.2, -0.5));
    let hit = picker.pick(&gpu, &v, x, y, &hidden).expect("pick").expect("the point behind");
    assert_eq!((hit.target, hit.element), (PickTarget::Points(0), 3));
    common::assert_clean(&ctx);
}

/// Spheres (drawn as impostors) are picked as the exact spheres: the element is the sphere, a
/// pixel just inside a silhouette (outside the icosahedron the triangles make) hits it, and the
/// nearer of two overlapping spheres wins.
#[test]
fn pick_sphere_by_its_exact_silhouette() {
    let ctx = common::gpu(false);
    let compiler = xpg::ShaderCompiler::new([xpg::ShaderCompiler::project_shader_dir()]);
    let picker = Picker::new(&ctx, &compiler).expect("picker");
    let mut s = Scene::default();
    s.materials.push(scene::Material::lambert("grey", [0.5, 0.5, 0.5]));
    let centers = [[-0.5, 0.0, 0.0], [0.3, 0.0, 0.6], [0.0, 0.8, 0.0]];
    let balls = scene::shapes::spheres(&centers, &[0.5, 0.3, 0.2], &[], 0).expect("spheres");
    s.meshes.push(scene::Mesh { name: "balls".into(), primitives: vec![balls] });
    // Moved and scaled: picked where it is drawn.
    let model = Mat4::from_scale_rotation_translation(
        Vec3::splat(1.5),
        glam::Quat::IDENTITY,
        Vec3::new(0.0, -0.2, 0.0),
    );
    s.nodes.push(Node::new("balls", model).with_mesh(0));
    s.update_world();
    let gpu = render::GpuScene::upload(&ctx, &s).expect("upload");
    let v = view();
    let none = Default::default();
    let at = |world: Vec3| {
        let (x, y) = pixel_of(&v, world);
        picker.pick(&gpu, &v, x, y, &none).expect("pick")
    };
    let world = |c: [f32; 3]| model.transform_point3(Vec3::from(c));
    for (k, c) in centers.iter().enumerate() {
        let hit = at(world(*c)).expect("a sphere");
        assert!(matches!(hit.target, PickTarget::Mesh { sphere: true, .. }), "{hit:?}");
        assert_eq!(hit.element, k as u32, "sphere {k}");
    }
    // The third sphere (radius 0.2 * 1.5) seen 0.97 of its radius off its centre towards the
    // camera's x: inside the sphere, outside the icosahedron's outline there.
    let c = world(centers[2]);
    let r = 0.3;
    let eye = Vec3::new(0.0, 0.0, 4.0);
    // The silhouette seen from the eye: the tangent cone's circle in the plane through c.
    let d = (c - eye).length();
    let side = (c - eye).cross(Vec3::Y).normalize();
    let rim = c + side * (0.97 * r * d / (d * d - r * r).sqrt());
    let hit = at(rim).expect("the rim of sphere 2");
    assert_eq!(hit.element, 2);
    let beyond = c + side * (1.08 * r * d / (d * d - r * r).sqrt());
    assert_eq!(at(beyond), None, "beyond the silhouette");
    // Where spheres 0 and 1 overlap on screen, the nearer (1, centre z = 0.9, radius 0.45)
    // wins; the hit is on its front, about 0.375 off its axis: z near 0.9 + 0.25 (sphere 0
    // reaches z = 0.75 at most).
    let hit = at(world([0.05, 0.0, 0.6])).expect("the overlap");
    assert_eq!(hit.element, 1);
    assert!((hit.position.z - 1.14).abs() < 0.03, "the front of sphere 1: {:?}", hit.position);
    common::assert_clean(&ctx);
}

/// A moved node is picked where it is drawn, and an update (new positions) is seen.
#[test]
fn pick_follows_transforms_and_updates() {
    let ctx = common::gpu(false);
    let compiler = xpg::ShaderCompiler::new([xpg::ShaderCompiler::project_shader_dir()]);
    let picker = Picker::new(&ctx, &compiler).expect("picker");
    let s = scene(Vec3::new(1.5, 0.0, 0.0));
    let gpu = render::GpuScene::upload(&ctx, &s).expect("upload");
    let v = view();
    let none = Default::default();
    let (x, y) = pixel_of(&v, Vec3::new(2.2, 0.5, 0.0));
    let hit = picker.pick(&gpu, &v, x, y, &none).expect("pick").expect("the moved quad");
    assert!(matches!(hit.target, PickTarget::Mesh { node: 0, .. }), "{hit:?}");
    assert!((hit.position - Vec3::new(2.2, 0.5, 0.0)).length() < 0.05, "{:?}", hit.position);
    let (x, y) = pixel_of(&v, Vec3::new(-0.9, 0.0, 0.0));
    assert_eq!(picker.pick(&gpu, &v, x, y, &none).expect("pick"), None, "moved away");
    common::assert_clean(&ctx);
}

/// Points sized in world units: their footprint follows the distance (a diameter of 0.4 at 4
/// units with a 60 degree field of view over 120 pixels: about 10 pixels).
#[test]
fn pick_points_sized_in_world_units() {
    let ctx = common::gpu(false);
    let compiler = xpg::ShaderCompiler::new([xpg::ShaderCompiler::project_shader_dir()]);
    let picker = Picker::new(&ctx, &compiler).expect("picker");
    let mut s = Scene::default();
    let mut p = PointSet::new("balls", vec![[0.0, 0.0, 0.0]]);
    p.size_world = Some(0.4);
    s.point_sets.push(p);
    let gpu = render::GpuScene::upload(&ctx, &s).expect("upload");
    let v = view();
    let none = Default::default();
    let (x, y) = pixel_of(&v, Vec3::ZERO);
    let diameter = 0.4 * 0.5 * v.proj.y_axis.y.abs() * SIZE as f32 / 4.0;
    assert!((10.0..11.0).contains(&diameter), "{diameter}");
    let at = |dx: f32| picker.pick(&gpu, &v, x + dx, y, &none).expect("pick");
    assert!(at(4.0).is_some(), "inside the footprint");
    assert_eq!(at(8.0), None, "outside it");
    common::assert_clean(&ctx);
}
