//! The visibility buffer (opaque untextured surfaces drawn as ids, shaded in compute; lavapipe,
//! validation on, zero messages) gives the image the forward pass gives: the reference scenes
//! (emissive area lights, many lights, an environment with ambient occlusion) and a scene of
//! vertex colors, an alpha mask, a double-sided back face, a mirrored node, sphere impostors
//! and a textured mesh (still drawn by the forward pass, in front of and behind the others).

use glam::{Mat4, Vec3};
use render::SettingValue;
use scene::{shapes, Material, Mesh, Node, Scene, Texture, TexturePixels};
use testkit::{render_scene, request, RenderRequest, RenderedImage};

const SIZE: u32 = 64;

/// Pixels whose radiance differs by more than 1 % (relative, or 1e-3 absolute), and the
/// largest relative difference.
fn differences(a: &RenderedImage, b: &RenderedImage) -> (usize, f32) {
    let mut count = 0;
    let mut worst = 0.0f32;
    for (p, q) in a.hdr.iter().zip(&b.hdr) {
        for c in 0..3 {
            let d = (p[c] - q[c]).abs();
            let rel = d / q[c].abs().max(1e-3);
            if d > 1e-3 && rel > 0.01 {
                count += 1;
                worst = worst.max(rel);
                break;
            }
        }
    }
    (count, worst)
}

fn both(s: &Scene, name: &str, default_lighting: bool) -> (RenderedImage, RenderedImage) {
    let draw = |on: bool| {
        let req = RenderRequest {
            default_lighting,
            settings: vec![("visibility_buffer".into(), SettingValue::Bool(on))],
            ..request(format!("{name}_{on}").into(), SIZE, SIZE)
        };
        let img = render_scene(s, &req).expect("render");
        testkit::maybe_save(&img, &format!("visibility_{name}_{on}"));
        img
    };
    (draw(true), draw(false))
}

#[test]
fn visibility_buffer_shades_the_reference_scenes_as_the_forward_pass() {
    for name in ["cornell_box", "many_lights", "env_diffuse"] {
        let mut s = scene::load(testkit::data(&format!("refs/scenes/{name}.gltf"))).expect("load");
        s.update_world();
        let (on, off) = both(&s, name, false);
        let (count, worst) = differences(&on, &off);
        eprintln!("{name}: {count} pixels differ by over 1 % (worst {worst:.3})");
        // A few silhouette pixels may round the other way.
        assert!(count <= (SIZE * SIZE / 200) as usize, "{name}: {count} pixels, worst {worst}");
    }
}

/// The names of the passes of a frame of `s` drawn by a raster with `settings`.
fn pass_names(s: &Scene, settings: &[(&str, SettingValue)]) -> Vec<String> {
    use render::Renderer;
    let ctx = testkit::gpu(false);
    let compiler = xpg::ShaderCompiler::new([xpg::ShaderCompiler::project_shader_dir()]);
    let mut raster = raster::Raster::new(&ctx, &compiler).expect("raster");
    for (k, v) in settings {
        raster.set(k, *v).expect("setting");
    }
    let gpu = render::GpuScene::upload(&ctx, s).expect("upload");
    let view = scene::View::from_scene(s, None, SIZE, SIZE).expect("view");
    let mut graph = framegraph::FrameGraph::new();
    let target = testkit::frames::raster_passes(&mut graph, &mut raster, &gpu, &view);
    testkit::frames::keep(&mut graph, &target);
    let executor = framegraph::Executor::new(&ctx, 1);
    let plan = executor.compile(&graph).expect("compile");
    plan.passes.iter().map(|p| p.name.clone()).collect()
}

/// The reference grid over env_diffuse (ground, spheres, sky): drawn by the visibility buffer's
/// shading (nothing textured, no points or lines), it is the grid its own pass blends over the
/// forward pass's image, in front of and behind the spheres.
#[test]
fn visibility_buffer_draws_the_grid_as_its_pass_does() {
    let mut s = scene::load(testkit::data("refs/scenes/env_diffuse.gltf")).expect("load");
    s.update_world();
    let draw = |on: bool| {
        let req = RenderRequest {
            default_lighting: false,
            settings: vec![
                ("visibility_buffer".into(), SettingValue::Bool(on)),
                ("grid".into(), SettingValue::Bool(true)),
                ("grid_spacing".into(), SettingValue::Float(0.25)),
                ("ambient_occlusion".into(), SettingValue::Bool(false)),
            ],
            ..request(format!("grid_{on}").into(), SIZE, SIZE)
        };
        let img = render_scene(&s, &req).expect("render");
        testkit::maybe_save(&img, &format!("visibility_grid_{on}"));
        img
    };
    let (on, off) = (draw(true), draw(false));
    let plain = {
        let req = RenderRequest {
            default_lighting: false,
            settings: vec![("ambient_occlusion".into(), SettingValue::Bool(false))],
            ..request("no grid".into(), SIZE, SIZE)
        };
        render_scene(&s, &req).expect("render")
    };
    // The shading drew the grid: no grid pass with the visibility buffer, one without.
    let grid = [("grid", SettingValue::Bool(true))];
    let folded = pass_names(&s, &[grid[0], ("visibility_buffer", SettingValue::Bool(true))]);
    let forward = pass_names(&s, &[grid[0], ("visibility_buffer", SettingValue::Bool(false))]);
    assert!(
        !folded.iter().any(|p| p == "raster grid")
            && folded.iter().any(|p| p == "raster visibility shading"),
        "{folded:?}"
    );
    assert!(forward.iter().any(|p| p == "raster grid"), "{forward:?}");
    let (count, worst) = differences(&on, &off);
    let (lines, _) = differences(&off, &plain);
    eprintln!("grid: {lines} pixels show it; {count} differ by over 1 % (worst {worst:.3})");
    assert!(lines > (SIZE * SIZE / 10) as usize, "the grid shows: {lines} pixels");
    assert!(count <= (SIZE * SIZE / 200) as usize, "{count} pixels, worst {worst}");
}

/// Vertex colors, an alpha-masked quad (its cut-out part shows what is behind), a
/// double-sided quad seen from behind, a mirrored single-sided quad, impostor spheres and a
/// textured quad over part of them.
#[test]
fn visibility_buffer_shades_every_kind_of_opaque_surface_as_the_forward_pass() {
    let quad = |z: f32, material: usize| {
        let mut q = testkit::top::quad(0.0, 0.5, material, false);
        for p in &mut q.positions {
            p[1] = z;
        }
        q
    };
    // Vertex colors on the floor.
    let mut floor = testkit::top::quad(0.0, 1.0, 0, false);
    floor.colors = vec![[1.0, 0.2, 0.2, 1.0], [0.2, 1.0, 0.2, 1.0], [0.2, 0.2, 1.0, 1.0], [1.0; 4]];
    // Masked by its vertex alpha: the half with alpha under the cutoff is cut out.
    let mut masked = quad(0.2, 1);
    masked.colors = vec![[1.0, 1.0, 1.0, 0.0], [1.0; 4], [1.0; 4], [1.0, 1.0, 1.0, 0.0]];
    // Double-sided, facing down (seen from above: its back).
    let mut back = quad(0.3, 2);
    back.indices = vec![0, 1, 2, 0, 2, 3];
    let balls =
        shapes::spheres(&[[0.5, 0.4, 0.5], [-0.5, 0.3, 0.5]], &[0.2, 0.15], &[[1.0; 4]; 2], 3)
            .expect("spheres");
    let mut textured = quad(0.5, 4);
    textured.positions = vec![[0.3, 0.5, 0.3], [0.8, 0.5, 0.3], [0.8, 0.5, 0.8], [0.3, 0.5, 0.8]];
    let materials = vec![
        Material::lambert("floor", [0.8; 3]),
        Material {
            alpha: scene::AlphaMode::Mask(0.5f32.to_bits()),
            ..Material::lambert("masked", [0.3, 0.6, 0.9])
        },
        Material { double_sided: true, ..Material::lambert("back", [0.9, 0.6, 0.2]) },
        Material { metallic: 0.5, roughness: 0.3, ..Material::lambert("balls", [0.7; 3]) },
        Material { base_color_texture: Some(0), ..Material::lambert("textured", [1.0; 3]) },
    ];
    let checker = Texture {
        name: "checker".into(),
        width: 4,
        height: 4,
        pixels: TexturePixels::Rgba8(
            (0..16)
                .map(|i| if (i % 4 + i / 4) % 2 == 0 { [255; 4] } else { [20, 20, 20, 255] })
                .collect(),
        ),
        srgb: true,
        sampler: Default::default(),
    };
    let mut s = testkit::top::top_view(
        vec![floor, masked, back, balls, textured],
        materials,
        vec![checker],
    );
    // The back quad moved aside and mirrored (its winding flips with the transform).
    let mirrored = s.nodes.iter().position(|n| n.mesh == Some(2)).expect("node");
    s.nodes[mirrored].local = Mat4::from_translation(Vec3::new(-0.4, 0.0, -0.4))
        * Mat4::from_scale(Vec3::new(-0.6, 1.0, 0.6));
    s.meshes.push(Mesh { name: "again".into(), primitives: vec![quad(0.25, 0)] });
    s.nodes
        .push(Node::new("again", Mat4::from_translation(Vec3::new(0.5, 0.0, -0.5))).with_mesh(5));
    s.update_world();
    testkit::top::sun_above(&mut s, 2.0);
    s.environment = scene::Environment::Uniform([0.3, 0.35, 0.4]);
    let (on, off) = both(&s, "kinds", false);
    let (count, worst) = differences(&on, &off);
    eprintln!("kinds: {count} pixels differ by over 1 % (worst {worst:.3})");
    assert!(count <= (SIZE * SIZE / 200) as usize, "{count} pixels, worst {worst}");
    // The scene is really there: the floor's colors, the masked cut, the textured quad.
    let distinct: std::collections::BTreeSet<[u16; 3]> =
        on.hdr.iter().map(|p| [p[0], p[1], p[2]].map(|c| (c * 20.0) as u16)).collect();
    assert!(distinct.len() > 50, "{} distinct colors", distinct.len());
}
