//! Raster image tests of materials (lavapipe, validation on, zero messages): textures and
//! their GPU mip levels, normal maps, alpha blending and masking, colormap materials,
//! instancing. Scenes are built in memory and viewed from straight above through an
//! orthographic camera: image right = +x, image up = -z, the 2x2 quad at y = 0 fills the view.

use common::{render_scene, RenderedImage};
use glam::{Mat4, Quat, Vec3};
use scene::{
    AlphaMode, Camera, ColormapKind, ColormapMaterial, Environment, Light, LightKind, Material,
    Node, Texture, TexturePixels, TextureSampler, Wrap,
};

use common::top::{assert_close, draw, quad, top_view, unlit};
use common::{maybe_save, px, request, sphere};
use testkit as common;
use testkit::frames::Frames;

fn texture(name: &str, w: u32, h: u32, srgb: bool, texel: impl Fn(u32, u32) -> [u8; 4]) -> Texture {
    let pixels = (0..w * h).map(|i| texel(i % w, i / w)).collect();
    Texture {
        name: name.into(),
        width: w,
        height: h,
        pixels: TexturePixels::Rgba8(pixels),
        srgb,
        sampler: TextureSampler::default(),
    }
}

/// Nearest sampling maps each texel of a 32x32 sRGB texture to one pixel (decoded to linear);
/// a 1-texel red/blue checker of 224x224 on the same 32 px shows the average purple, which
/// only the GPU-made mip levels give (level 0 alone samples pure texels at these pixel
/// centres: 7 texels per pixel).
#[test]
fn textures_are_sampled_in_srgb_with_mip_levels_made_on_the_gpu() {
    let pattern = |x: u32, y: u32| [(x * 8) as u8, (y * 8) as u8, ((x * y) % 256) as u8, 255];
    let mut exact = texture("pattern", 32, 32, true, pattern);
    exact.sampler = TextureSampler {
        wrap_u: Wrap::ClampToEdge,
        wrap_v: Wrap::ClampToEdge,
        nearest_mag: true,
        nearest_min: true,
        linear_mips: false,
    };
    let checker = texture("checker", 224, 224, true, |x, y| {
        if (x + y) % 2 == 0 {
            [255, 0, 0, 255]
        } else {
            [0, 0, 255, 255]
        }
    });
    for (t, name) in [(exact, "texture_exact"), (checker, "texture_mips")] {
        let material = Material { base_color_texture: Some(0), ..unlit("textured", [1.0; 4]) };
        let scene = top_view(vec![quad(0.0, 1.0, 0, false)], vec![material], vec![t]);
        let img = draw(&scene, name, 32);
        for y in 0..32 {
            for x in 0..32 {
                let want = if name == "texture_exact" {
                    let e = pattern(x, y);
                    [0, 1, 2].map(|c| scene::srgb_to_linear(f32::from(e[c]) / 255.0))
                } else {
                    [0.5, 0.0, 0.5]
                };
                // Drivers decode sRGB within a fraction of an 8-bit step (NVIDIA: 0.976 for
                // 0.973), then the target holds half floats.
                let tol = if name == "texture_exact" { 5e-3 } else { 0.02 };
                assert_close(px(&img, x, y), want, tol, &format!("{name} pixel ({x},{y})"));
            }
        }
    }
}

/// A UV constant across the surface (its derivatives vanish) halfway between the two texels
/// of a 2x1 black/green sRGB texture samples their linear average, 0.5 green, at every pixel
/// (Khronos' TextureLinearInterpolationTest; lavapipe's anisotropic filter gave speckle here).
#[test]
fn constant_uvs_sample_the_filtered_texel() {
    let t = texture("black green", 2, 1, true, |x, _| [0, if x == 1 { 255 } else { 0 }, 0, 255]);
    let material = Material { base_color_texture: Some(0), ..unlit("textured", [1.0; 4]) };
    let mut q = quad(0.0, 1.0, 0, false);
    q.uvs = vec![[0.5, 0.5]; 4];
    let scene = top_view(vec![q], vec![material], vec![t]);
    let img = draw(&scene, "constant_uv", 16);
    for y in 0..16 {
        for x in 0..16 {
            assert_close(px(&img, x, y), [0.0, 0.5, 0.0], 0.01, &format!("pixel ({x},{y})"));
        }
    }
}

/// KHR_texture_transform and the second UV set, in both renderers: a 2x2 texture (red,
/// green / blue, white) read through set 1 with offset (0.5, 0) and half scale shows its
/// green texel everywhere; the extension's own example (offset (0, 1), a quarter turn, half
/// scale) reads the lower-left quadrant, blue.
#[test]
fn texture_transforms_and_uv_sets_in_both_renderers() {
    use scene::{texture_slot, UvTransform};
    let texels = [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255], [255, 255, 255, 255]];
    let mut t = texture("quadrants", 2, 2, false, |x, y| texels[(y * 2 + x) as usize]);
    t.sampler.nearest_mag = true;
    t.sampler.nearest_min = true;
    let quarter = std::f32::consts::FRAC_PI_2;
    for (transform, want, what) in [
        (
            UvTransform { set: 1, offset: [0.5, 0.0], rotation: 0.0, scale: [0.5; 2] },
            [0.0, 1.0, 0.0],
            "green",
        ),
        (
            UvTransform { set: 1, offset: [0.0, 1.0], rotation: quarter, scale: [0.5; 2] },
            [0.0, 0.0, 1.0],
            "blue",
        ),
    ] {
        let mut material = Material { base_color_texture: Some(0), ..unlit("textured", [1.0; 4]) };
        material.uv_transforms[texture_slot::BASE_COLOR] = transform;
        let mut q = quad(0.0, 1.0, 0, false);
        // Set 0 would read another texel: the transform applies to set 1.
        q.uvs1 = q.uvs.clone();
        q.uvs = vec![[0.9, 0.9]; 4];
        let scene = top_view(vec![q], vec![material], vec![t.clone()]);
        for renderer in ["raster", "pathtracer"] {
            let req = common::RenderRequest {
                renderer: renderer.into(),
                spp: 1,
                ..request(format!("uv transform ({renderer})").into(), 16, 16)
            };
            let img = render_scene(&scene, &req).expect("render");
            for (x, y) in [(8, 8), (2, 13), (13, 2)] {
                assert_close(px(&img, x, y), want, 0.01, &format!("{renderer} {what} ({x},{y})"));
            }
        }
    }
}

/// KHR_materials_transmission's texture, in both renderers: a smooth white quad (ior 1, thin)
/// whose transmission texture is 0 on the left and 1 on the right, over an unlit red quad,
/// under a white sky: the left half is the white surface, the right half shows the red one.
#[test]
fn transmission_textures_in_both_renderers() {
    let mut mask =
        texture("transmission", 2, 1, false, |x, _| [if x == 1 { 255 } else { 0 }, 0, 0, 255]);
    mask.sampler.nearest_mag = true;
    mask.sampler.nearest_min = true;
    let glass = Material {
        ior: 1.0,
        transmission: 1.0,
        transmission_texture: Some(0),
        roughness: 0.0,
        ..Material::lambert("glass", [1.0; 3])
    };
    let mut scene = top_view(
        vec![quad(0.0, 1.0, 1, false), quad(0.5, 1.0, 0, false)],
        vec![glass, unlit("red", [0.8, 0.1, 0.1, 1.0])],
        vec![mask],
    );
    scene.environment = Environment::Uniform([1.0; 3]);
    for renderer in ["raster", "pathtracer"] {
        let req = common::RenderRequest {
            renderer: renderer.into(),
            spp: 16,
            ..request(format!("transmission texture ({renderer})").into(), 16, 16)
        };
        let img = render_scene(&scene, &req).expect("render");
        maybe_save(&img, &format!("transmission_texture_{renderer}"));
        // Means over a block inside each half (the path tracer's noise averages out).
        let mean = |x0: u32| {
            let mut m = [0.0f32; 4];
            for y in 4..12 {
                for x in x0..x0 + 4 {
                    let p = px(&img, x, y);
                    (0..3).for_each(|c| m[c] += p[c] / 32.0);
                }
            }
            m
        };
        assert_close(mean(2), [1.0, 1.0, 1.0], 0.03, &format!("{renderer}: opaque half"));
        assert_close(mean(10), [0.8, 0.1, 0.1], 0.03, &format!("{renderer}: clear half"));
    }
}

/// A constant normal map tilting the normal 45 degrees towards +u (then towards image up,
/// i.e. -v) on a Lambertian quad, lit by a sun from that same side 45 degrees off vertical:
/// radiance = albedo / pi * E (n . l = 1; a map read the wrong way round gives 0, no map
/// cos 45). Both with the mesh's tangents and with the derivative frame of meshes without.
#[test]
fn normal_maps_tilt_the_normal_in_the_tangent_frame() {
    let (albedo, e) = (0.5f32, 2.0f32);
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let encode = |v: f32| ((v * 0.5 + 0.5) * 255.0).round() as u8;
    for (towards_u, tangents) in [(true, true), (true, false), (false, true), (false, false)] {
        let n = if towards_u { [s, 0.0, s] } else { [0.0, s, s] };
        let map =
            texture("normal", 4, 4, false, |_, _| [encode(n[0]), encode(n[1]), encode(n[2]), 255]);
        let material =
            Material { normal_texture: Some(0), ..Material::lambert("bumpy", [albedo; 3]) };
        let mut scene = top_view(vec![quad(0.0, 1.0, 0, tangents)], vec![material], vec![map]);
        // Light from +x (towards u) or from -z (image up), 45 degrees from the normal; it
        // travels along its node's -Z.
        let to_light = if towards_u { Vec3::new(s, s, 0.0) } else { Vec3::new(0.0, s, -s) };
        let rot = Quat::from_rotation_arc(-Vec3::Z, -to_light);
        scene.lights.push(Light {
            name: "sun".into(),
            kind: LightKind::Directional,
            color: [1.0; 3],
            intensity: e,
            shadows: true,
            range: None,
        });
        scene.nodes.push(Node::new("sun", Mat4::from_quat(rot)).with_light(0));
        scene.update_world();
        let name = format!(
            "normal_map_{}_{}",
            if towards_u { "u" } else { "v" },
            if tangents { "tangents" } else { "derivatives" }
        );
        let img = draw(&scene, &name, 16);
        let want = albedo / std::f32::consts::PI * e;
        for (x, y) in [(8, 8), (3, 12), (12, 3)] {
            assert_close(
                px(&img, x, y),
                [want; 3],
                0.01 * want,
                &format!("{name} pixel ({x},{y})"),
            );
        }
    }
}

/// Blended materials over an opaque one, sorted back to front whatever the scene order:
/// red (alpha 0.5) over green (alpha 0.5) over opaque blue = (0.5, 0.25, 0.25).
#[test]
fn blended_materials_are_sorted_back_to_front() {
    let materials = vec![
        unlit("blue", [0.0, 0.0, 1.0, 1.0]),
        Material { alpha: AlphaMode::Blend, ..unlit("green", [0.0, 1.0, 0.0, 0.5]) },
        Material { alpha: AlphaMode::Blend, ..unlit("red", [1.0, 0.0, 0.0, 0.5]) },
    ];
    for red_first in [false, true] {
        let (green, red) = (quad(0.5, 1.0, 1, false), quad(1.0, 1.0, 2, false));
        let layers = if red_first { vec![red, green] } else { vec![green, red] };
        let mut meshes = vec![quad(0.0, 1.0, 0, false)];
        meshes.extend(layers);
        let scene = top_view(meshes, materials.clone(), Vec::new());
        let img = draw(&scene, &format!("blend_red_first_{red_first}"), 16);
        assert_close(
            px(&img, 8, 8),
            [0.5, 0.25, 0.25],
            2e-3,
            &format!("red listed first: {red_first}"),
        );
    }
}

/// Alpha testing: a texture transparent on its left half, cutoff 0.5, over an opaque blue
/// quad: blue on the left, the red texture on the right.
#[test]
fn masked_materials_discard_below_the_cutoff() {
    let alpha = texture("alpha", 8, 8, true, |x, _| [255, 255, 255, if x < 4 { 0 } else { 255 }]);
    let materials = vec![
        unlit("blue", [0.0, 0.0, 1.0, 1.0]),
        Material {
            alpha: AlphaMode::Mask(0.5f32.to_bits()),
            base_color_texture: Some(0),
            ..unlit("red cut-out", [1.0, 0.0, 0.0, 1.0])
        },
    ];
    let scene =
        top_view(vec![quad(0.0, 1.0, 0, false), quad(0.5, 1.0, 1, false)], materials, vec![alpha]);
    let img = draw(&scene, "mask", 16);
    for y in 0..16 {
        assert_close(px(&img, 2, y), [0.0, 0.0, 1.0], 1e-3, "left (discarded)");
        assert_close(px(&img, 13, y), [1.0, 0.0, 0.0], 1e-3, "right (kept)");
    }
}

/// A colormap material over a scalar ramp 0..1 along x: each pixel shows viridis at its
/// scalar (the CPU map, within the 256-entry table's interpolation), a range of 0..2 halves
/// the colors' positions, NaN scalars are black.
#[test]
fn colormap_materials_color_scalars_on_the_gpu() {
    for (max, nan) in [(1.0f32, false), (2.0, false), (1.0, true)] {
        let material = Material {
            colormap: Some(ColormapMaterial { kind: ColormapKind::Viridis, min: 0.0, max }),
            ..unlit("scalars", [1.0; 4])
        };
        let mut q = quad(0.0, 1.0, 0, false);
        q.scalars = if nan { vec![f32::NAN; 4] } else { vec![0.0, 1.0, 1.0, 0.0] };
        let scene = top_view(vec![q], vec![material], Vec::new());
        let img = draw(&scene, &format!("colormap_{max}_{nan}"), 32);
        let map = scene::Colormap::new(ColormapKind::Viridis, 0.0, max);
        for x in 0..32 {
            let s = (x as f32 + 0.5) / 32.0;
            let want = if nan {
                [0.0; 3]
            } else {
                let c = map.color(s);
                [0, 1, 2].map(|k| scene::srgb_to_linear(f32::from(c[k]) / 255.0))
            };
            assert_close(px(&img, x, 16), want, 0.01, &format!("max {max}, NaN {nan}, x {x}"));
        }
    }
}

/// Instancing: one node drawing its mesh at three instance transforms (relative to the
/// node): three small squares where the transforms put them, nothing elsewhere.
#[test]
fn instanced_meshes_are_drawn_at_every_instance() {
    let mut scene =
        top_view(vec![quad(0.0, 0.25, 0, false)], vec![unlit("white", [1.0; 4])], Vec::new());
    let at = |x: f32, z: f32| Mat4::from_translation(Vec3::new(x, 0.0, z));
    scene.nodes[0].local = Mat4::from_translation(Vec3::new(0.0, 0.0, 0.5));
    scene.nodes[0].instances = vec![at(-0.5, 0.0), at(0.5, 0.0), at(0.0, -1.0)];
    scene.update_world();
    let img = draw(&scene, "instances", 32);
    // Instance centres at world (-0.5, 0.5), (0.5, 0.5), (0, -0.5): pixels x = 16 + 16 wx,
    // y = 16 + 16 wz.
    let lit = |x: u32, y: u32| px(&img, x, y)[0] > 0.5;
    assert!(lit(8, 24) && lit(24, 24) && lit(16, 8), "an instance is missing");
    assert!(
        !lit(16, 24) && !lit(8, 8) && !lit(24, 8) && !lit(16, 16),
        "something drawn between the instances"
    );
    let (lo, hi) = scene.bounds().expect("bounds");
    assert!((lo - Vec3::new(-0.75, 0.0, -0.75)).abs().max_element() < 1e-5, "{lo}");
    assert!((hi - Vec3::new(0.75, 0.0, 0.75)).abs().max_element() < 1e-5, "{hi}");
}

/// Unused in-memory data errors: a texture index out of range, texel count wrong.
#[test]
fn invalid_textures_are_errors_naming_them() {
    let material = Material { base_color_texture: Some(3), ..unlit("bad", [1.0; 4]) };
    let scene = top_view(vec![quad(0.0, 1.0, 0, false)], vec![material], Vec::new());
    let e = render_scene(&scene, &request("bad texture index".into(), 8, 8)).expect_err("index");
    assert!(format!("{e:#}").contains("texture 3"), "{e:#}");
    let mut short = texture("short", 4, 4, true, |_, _| [0; 4]);
    short.width = 5;
    let material = Material { base_color_texture: Some(0), ..unlit("m", [1.0; 4]) };
    let scene = top_view(vec![quad(0.0, 1.0, 0, false)], vec![material], vec![short]);
    let e = render_scene(&scene, &request("short texture".into(), 8, 8)).expect_err("texels");
    assert!(format!("{e:#}").contains("short"), "{e:#}");
    let _ = Environment::None;
}

/// An environment that is 1 in each channel where that axis' coordinate is positive:
/// red for +x, green for +y, blue for +z directions (equirect, the convention of tests/data/refs/README.md).
fn axis_environment(w: u32, h: u32) -> Environment {
    let texels = (0..w * h)
        .map(|k| {
            let (u, v) = ((k % w) as f32 + 0.5, (k / w) as f32 + 0.5);
            let (phi, theta) =
                (2.0 * std::f32::consts::PI * u / w as f32, std::f32::consts::PI * v / h as f32);
            let d = [theta.sin() * phi.sin(), theta.cos(), -theta.sin() * phi.cos()];
            [f32::from(d[0] > 0.0), f32::from(d[1] > 0.0), f32::from(d[2] > 0.0), 1.0]
        })
        .collect();
    Environment::Equirect { width: w, height: h, texels }
}

/// Image-based lighting from the equirect environment of [`axis_environment`]: a Lambertian
/// sphere of albedo 0.5 seen from above reflects, per channel, albedo * (1 + n_axis) / 2 (the
/// sky-view factor of a half-space of unit radiance), and a mirror sphere reflects the
/// environment along r = 2 (n . v) n - v: the channels of the axes r points into.
#[test]
fn image_based_lighting_matches_the_environment() {
    let diffuse = Material::lambert("diffuse", [0.5; 3]);
    let mirror = Material {
        name: "mirror".into(),
        base_color: [1.0; 4],
        metallic: 1.0,
        roughness: 0.0,
        ..Default::default()
    };
    for (material, name) in [(diffuse, "ibl_diffuse"), (mirror, "ibl_mirror")] {
        let mut scene = top_view(vec![sphere(0)], vec![material], Vec::new());
        scene.environment = axis_environment(128, 64);
        let img = draw(&scene, name, 48);
        let mut checked = 0;
        for y in 0..48u32 {
            for x in 0..48u32 {
                // Orthographic from +y, 2 m across: the sphere's normal under each pixel.
                let (wx, wz) = ((x as f32 + 0.5) / 24.0 - 1.0, (y as f32 + 0.5) / 24.0 - 1.0);
                let r2 = wx * wx + wz * wz;
                if r2 > 0.8 {
                    continue;
                }
                let n = Vec3::new(wx, (1.0 - r2).sqrt(), wz);
                let got = px(&img, x, y);
                let want = if name == "ibl_diffuse" {
                    [0.5 * (1.0 + n.x) / 2.0, 0.5 * (1.0 + n.y) / 2.0, 0.5 * (1.0 + n.z) / 2.0]
                } else {
                    let r = 2.0 * n.y * n - Vec3::Y;
                    // Away from the environment's edges (a texel blurs them).
                    if r.x.abs() < 0.1 || r.y.abs() < 0.1 || r.z.abs() < 0.1 {
                        continue;
                    }
                    [f32::from(r.x > 0.0), f32::from(r.y > 0.0), f32::from(r.z > 0.0)]
                };
                let tol = if name == "ibl_diffuse" { 0.01 } else { 0.05 };
                assert_close(got, want, tol, &format!("{name} pixel ({x},{y}), normal {n}"));
                checked += 1;
            }
        }
        assert!(checked > 300, "{name}: only {checked} pixels checked");
    }
}

/// The IBL maps are computed by the first frame that draws a scene and reused by later
/// frames (fewer passes, no new build); a newly uploaded scene gets its own.
#[test]
fn ibl_maps_are_made_once_per_scene() {
    use framegraph::{Executor, FrameGraph};
    let ctx = common::gpu(false);
    let compiler = xpg::ShaderCompiler::new([xpg::ShaderCompiler::project_shader_dir()]);
    let mut raster = raster::Raster::new(&ctx, &compiler).expect("raster");
    let mut scene = top_view(vec![sphere(0)], vec![Material::lambert("l", [0.5; 3])], Vec::new());
    scene.environment = axis_environment(32, 16);
    let view = scene::View::from_scene(&scene, None, 16, 16).expect("view");
    let mut executor = Executor::new(&ctx, 1);
    let mut passes = Vec::new();
    let mut frame = |raster: &mut raster::Raster, gpu: &render::GpuScene| {
        let mut graph = FrameGraph::new();
        let target = testkit::frames::raster_passes(&mut graph, raster, gpu, &view);
        testkit::frames::keep(&mut graph, &target);
        let plan = executor.compile(&graph).expect("compile");
        passes.push(plan.passes.len());
        ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))
            .expect("submit")
            .expect("execute");
    };
    let first = render::GpuScene::upload(&ctx, &scene).expect("upload");
    frame(&mut raster, &first);
    frame(&mut raster, &first);
    assert_eq!(raster.ibl_builds(), 1);
    let second = render::GpuScene::upload(&ctx, &scene).expect("upload");
    frame(&mut raster, &second);
    assert_eq!(raster.ibl_builds(), 2);
    // Frame 1 made the LUT and the maps, frame 2 nothing, frame 3 the maps only.
    assert!(passes[0] > passes[2] && passes[2] > passes[1], "passes per frame: {passes:?}");
    ctx.wait_idle().expect("idle");
    let m = ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// Image files are scenes too: an image on a quad, unlit, framed exactly by an orthographic
/// camera. Rendered at its own size, a PNG comes back (8-bit sRGB, within one level: the HDR
/// target holds half floats) and an EXR's linear values come back in the HDR output, values
/// above 1 included; a corrupt image is an error naming the file.
#[test]
fn image_files_render_as_image_quads() {
    let dir = std::env::temp_dir().join(format!("xpg-images-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    let png = dir.join("pattern.png");
    let pattern = image::RgbaImage::from_fn(24, 16, |x, y| {
        image::Rgba([(x * 10) as u8, (y * 15) as u8, ((x + y) * 6) as u8, 255])
    });
    pattern.save(&png).expect("write png");
    let img = common_render(&png, 24, 16);
    for (k, (got, want)) in
        img.ldr.chunks_exact(4).zip(pattern.as_raw().chunks_exact(4)).enumerate()
    {
        for c in 0..3 {
            assert!(got[c].abs_diff(want[c]) <= 1, "texel {k}: {got:?} vs {want:?}");
        }
    }
    let exr = dir.join("radiance.exr");
    let values =
        image::Rgb32FImage::from_fn(8, 4, |x, y| image::Rgb([x as f32 * 0.5, y as f32, 3.5]));
    image::DynamicImage::ImageRgb32F(values.clone()).save(&exr).expect("write exr");
    let img = common_render(&exr, 8, 4);
    for (k, want) in values.pixels().enumerate() {
        let got = img.hdr[k];
        for c in 0..3 {
            assert!(
                (got[c] - want.0[c]).abs() <= 2e-3 * want.0[c].max(1.0),
                "texel {k}: {got:?} vs {want:?}"
            );
        }
    }
    // 16-bit PNGs are sRGB-encoded like 8-bit ones.
    let png16 = dir.join("pattern16.png");
    let wide: image::ImageBuffer<image::Rgba<u16>, Vec<u16>> =
        image::ImageBuffer::from_fn(24, 16, |x, y| {
            image::Rgba(pattern.get_pixel(x, y).0.map(|c| u16::from(c) * 257))
        });
    wide.save(&png16).expect("write 16-bit png");
    let img = common_render(&png16, 24, 16);
    for (k, (got, want)) in
        img.ldr.chunks_exact(4).zip(pattern.as_raw().chunks_exact(4)).enumerate()
    {
        for c in 0..3 {
            assert!(got[c].abs_diff(want[c]) <= 1, "16-bit texel {k}: {got:?} vs {want:?}");
        }
    }
    // Brighter than half floats hold (a sun): clamped to 65504, not infinite.
    let sun = dir.join("sun.exr");
    let bright =
        image::Rgb32FImage::from_fn(2, 2, |x, _| image::Rgb([if x == 0 { 1e6 } else { 1.0 }; 3]));
    image::DynamicImage::ImageRgb32F(bright).save(&sun).expect("write exr");
    let img =
        common::render(&common::RenderRequest { msaa: 1, ..request(sun, 2, 2) }).expect("sun");
    assert_eq!(img.hdr[0][0], 65504.0, "clamped: {:?}", img.hdr[0]);
    assert!(img.hdr.iter().flatten().all(|v| v.is_finite()));
    let corrupt = dir.join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\n garbage").expect("write");
    let e = common::render(&request(corrupt, 8, 8)).expect_err("corrupt image");
    assert!(format!("{e:#}").contains("corrupt.png"), "{e:#}");
}

fn common_render(path: &std::path::Path, w: u32, h: u32) -> RenderedImage {
    let img = common::render(&request(path.to_path_buf(), w, h)).expect("render image");
    maybe_save(&img, &path.file_stem().expect("name").to_string_lossy());
    img
}

/// MSAA: a white square whose left edge runs through the middle of a pixel column covers
/// half of that column's samples (4x: 0.5 after the resolve); without MSAA each pixel is
/// covered or not. Everything drawn (background, forward, lines, points, grid) goes through
/// the multisampled targets with zero validation messages.
#[test]
fn msaa_resolves_partial_coverage() {
    // 32 px over 2 m: the edge at x = 1/32 m lies in the middle of pixel column 16.
    let mut q = quad(0.0, 1.0, 0, false);
    for p in &mut q.positions {
        p[0] = if p[0] < 0.0 { 1.0 / 32.0 } else { 0.9 };
    }
    let mut scene = top_view(vec![q], vec![unlit("white", [1.0; 4])], Vec::new());
    scene.line_sets.push(scene::LineSet {
        name: "line".into(),
        transform: Mat4::IDENTITY,
        positions: vec![[-0.9, 0.1, -0.9], [-0.2, 0.1, 0.7]],
        colors: Vec::new(),
        strip: false,
        width_px: 1.5,
        visible: true,
        node: None,
    });
    scene.point_sets.push(scene::PointSet {
        name: "points".into(),
        transform: Mat4::IDENTITY,
        positions: vec![[-0.5, 0.2, 0.5]],
        colors: Vec::new(),
        size_px: 4.0,
        size_world: None,
        scalars: Vec::new(),
        colormap: None,
        visible: true,
        node: None,
        frame: None,
    });
    for msaa in [1, 4] {
        let req = common::RenderRequest { msaa, ..request(format!("msaa {msaa}").into(), 32, 32) };
        let img = render_scene(&scene, &req).expect("render");
        maybe_save(&img, &format!("msaa_{msaa}"));
        // The 4 px point at world (-0.5, 0.5): pixels 6..10 x 22..26.
        assert!(
            px(&img, 7, 23)[0] > 0.99 && px(&img, 8, 24)[0] > 0.99,
            "msaa {msaa}: point missing"
        );
        for y in 4..28 {
            let edge = px(&img, 16, y)[0];
            let inside = px(&img, 20, y)[0];
            assert!((inside - 1.0).abs() < 1e-3, "msaa {msaa}: inside pixel (20,{y}) = {inside}");
            if msaa == 1 {
                assert!(edge < 1e-3 || (edge - 1.0).abs() < 1e-3, "msaa 1: edge pixel {edge}");
            } else {
                assert!((edge - 0.5).abs() < 0.01, "msaa 4: edge pixel (16,{y}) = {edge}");
            }
        }
    }
    // The grid alone (a full-screen pass writing its own depth) with and without MSAA: the
    // same lines, softer edges.
    let empty = top_view(Vec::new(), Vec::new(), Vec::new());
    let grid = |msaa| {
        let req = common::RenderRequest {
            msaa,
            grid: Some(raster::Grid::default()),
            ..request(format!("grid msaa {msaa}").into(), 32, 32)
        };
        render_scene(&empty, &req).expect("grid")
    };
    let (one, four) = (grid(1), grid(4));
    maybe_save(&four, "msaa_grid");
    let diff: f32 = one.hdr.iter().zip(&four.hdr).map(|(a, b)| (a[0] - b[0]).abs()).sum::<f32>()
        / one.hdr.len() as f32;
    let lit = four.hdr.iter().filter(|p| p[0] > 0.05).count();
    assert!(diff < 0.05 && lit > 32, "grid with MSAA: mean difference {diff}, {lit} pixels lit");
}

/// Incremental updates: moving a node, recoloring a material and dimming the light between
/// two frames of one GpuScene give the same image as a fresh upload of the edited scene,
/// through transfer passes ordered before the renderer's reads (zero validation messages);
/// nothing changed, nothing updated; a structural change is an error asking for an upload.
#[test]
fn gpu_scene_updates_follow_the_scene() {
    let mut scene = top_view(
        vec![quad(0.0, 1.0, 0, false), quad(0.5, 0.25, 1, false)],
        vec![Material::lambert("floor", [0.5; 3]), Material::lambert("box", [0.8, 0.2, 0.2])],
        Vec::new(),
    );
    let rot = Quat::from_rotation_arc(-Vec3::Z, Vec3::new(-0.3, -1.0, -0.2).normalize());
    scene.lights.push(Light {
        name: "sun".into(),
        kind: LightKind::Directional,
        color: [1.0; 3],
        intensity: 3.0,
        shadows: true,
        range: None,
    });
    scene.nodes.push(Node::new("sun", Mat4::from_quat(rot)).with_light(0));
    scene.update_world();
    let mut frames = Frames::new(32);
    let mut gpu = render::GpuScene::upload(&frames.ctx, &scene).expect("upload");
    let before = frames.draw(&mut gpu, &scene, false);

    assert!(scene.set_local_transform(1, Mat4::from_translation(Vec3::new(0.5, 0.0, -0.4))));
    scene.material_mut(1).expect("material").base_color = [0.1, 0.3, 0.9, 1.0];
    scene.light_mut(0).expect("light").intensity = 2.0;
    let mut probe = gpu.versions;
    let after = frames.draw(&mut gpu, &scene, true);
    assert_ne!(probe, gpu.versions, "the update took the new versions");
    let mut fresh = render::GpuScene::upload(&frames.ctx, &scene).expect("upload");
    let expected = frames.draw(&mut fresh, &scene, false);
    let max_diff = after
        .iter()
        .zip(&expected)
        .flat_map(|(a, b)| (0..3).map(move |c| (a[c] - b[c]).abs()))
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-4, "updated vs fresh upload: max difference {max_diff}");
    let changed = before.iter().zip(&after).filter(|(a, b)| (a[2] - b[2]).abs() > 0.05).count();
    assert!(changed > 50, "only {changed} pixels changed");

    // A failed update leaves the copy as it was: a moved node together with a light added
    // behind the versions' back is refused, the draws keep their old transforms.
    let before_model = gpu.draw_model(1);
    let mut sneaky = scene.clone();
    assert!(sneaky.set_local_transform(1, Mat4::from_translation(Vec3::new(-0.5, 0.0, 0.0))));
    sneaky.lights.push(sneaky.lights[0].clone());
    sneaky.nodes.push(Node::new("second sun", Mat4::IDENTITY).with_light(1));
    sneaky.update_world();
    let mut g = framegraph::FrameGraph::new();
    let e = gpu.update(&sneaky, &mut g).expect_err("lights added").to_string();
    assert!(e.contains("lights"), "{e}");
    assert_eq!(gpu.draw_model(1), before_model);
    // A textured material turned into a colormap one needs other vertex data: refused.
    let mut swap = scene.clone();
    swap.material_mut(1).expect("material").colormap =
        Some(ColormapMaterial { kind: ColormapKind::Gray, min: 0.0, max: 1.0 });
    let e = gpu.update(&swap, &mut g).expect_err("colormap").to_string();
    assert!(e.contains("colormap"), "{e}");
    // Nothing changed: nothing to do.
    let mut graph = framegraph::FrameGraph::new();
    assert_eq!(gpu.update(&scene, &mut graph).expect("update"), render::SceneUpdate::default());
    assert_eq!(graph.pass_count(), 0);
    // Structure: an error naming the remedy.
    scene.versions.structure += 1;
    probe = gpu.versions;
    let e = gpu.update(&scene, &mut graph).expect_err("structure").to_string();
    assert!(e.contains("upload"), "{e}");
    assert_eq!(probe, gpu.versions);
    frames.ctx.wait_idle().expect("idle");
    let m = frames.ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// A scene of everything together, compared with a stored image (tests/data/raster/
/// showcase.png, looked at before it was committed): a sky environment (IBL and background),
/// a textured checker floor (mips, anisotropic minification towards the horizon), a
/// normal-mapped diffuse sphere, a mirror-like metal sphere, a blended glass pane, an
/// alpha-masked fence, a spot light with a shadow, a colormapped scalar strip, points, lines,
/// the grid, MSAA 4x.
#[test]
fn showcase_matches_the_stored_image() {
    let checker = texture("checker", 64, 64, true, |x, y| {
        if (x / 8 + y / 8) % 2 == 0 {
            [200, 190, 170, 255]
        } else {
            [60, 70, 90, 255]
        }
    });
    let bumps = texture("bumps", 32, 32, false, |x, y| {
        let (dx, dy) = ((x as f32 / 4.0).sin() * 0.5, (y as f32 / 4.0).cos() * 0.5);
        let n = Vec3::new(dx, dy, 1.0).normalize();
        let e = |v: f32| ((v * 0.5 + 0.5) * 255.0).round() as u8;
        [e(n.x), e(n.y), e(n.z), 255]
    });
    let fence = texture("fence", 16, 16, true, |x, y| {
        [180, 120, 60, if x % 8 < 3 || y % 8 < 2 { 255 } else { 0 }]
    });
    let mut floor = quad(0.0, 3.0, 0, false);
    floor.uvs = floor.uvs.iter().map(|t| [t[0] * 4.0, t[1] * 4.0]).collect();
    let mut ball = sphere(1);
    ball.uvs = ball.positions.iter().map(|p| [p[0].atan2(p[2]) * 2.0, p[1] * 2.0]).collect();
    let mut strip = quad(0.0, 1.0, 5, false);
    strip.scalars = vec![0.0, 1.0, 1.0, 0.0];
    let materials = vec![
        Material { base_color_texture: Some(0), ..Material::lambert("floor", [1.0; 3]) },
        Material { normal_texture: Some(1), ..Material::lambert("bumpy", [0.8, 0.3, 0.2]) },
        Material {
            name: "metal".into(),
            base_color: [0.95, 0.8, 0.5, 1.0],
            metallic: 1.0,
            roughness: 0.25,
            ..Default::default()
        },
        Material {
            alpha: AlphaMode::Blend,
            base_color: [0.3, 0.6, 0.9, 0.35],
            double_sided: true,
            ..Material::lambert("glass", [0.0; 3])
        },
        Material {
            alpha: AlphaMode::Mask(0.5f32.to_bits()),
            base_color_texture: Some(2),
            ..Material::lambert("fence", [1.0; 3])
        },
        Material {
            colormap: Some(ColormapMaterial { kind: ColormapKind::CoolWarm, min: 0.0, max: 1.0 }),
            ..Material::lambert("scalars", [1.0; 3])
        },
    ];
    let mut glass = quad(0.0, 0.6, 3, false);
    glass.positions = glass.positions.iter().map(|p| [p[0], p[2] + 0.7, 0.0]).collect();
    glass.normals = vec![[0.0, 0.0, 1.0]; 4];
    let mut fence_q = quad(0.0, 0.8, 4, false);
    fence_q.positions = fence_q.positions.iter().map(|p| [p[0], p[2] + 0.8, 0.0]).collect();
    fence_q.normals = vec![[0.0, 0.0, 1.0]; 4];
    let mut scene = top_view(
        vec![floor, ball, sphere(2), glass, fence_q, strip],
        materials,
        vec![checker, bumps, fence],
    );
    let place = |i: usize, t: Mat4| (i, t);
    for (i, t) in [
        place(
            1,
            Mat4::from_scale_rotation_translation(
                Vec3::splat(0.5),
                Quat::IDENTITY,
                Vec3::new(-0.8, 0.5, 0.0),
            ),
        ),
        place(
            2,
            Mat4::from_scale_rotation_translation(
                Vec3::splat(0.45),
                Quat::IDENTITY,
                Vec3::new(0.7, 0.45, -0.3),
            ),
        ),
        place(3, Mat4::from_translation(Vec3::new(0.0, 0.0, 0.9))),
        place(4, Mat4::from_translation(Vec3::new(1.6, 0.0, -1.4))),
        place(
            5,
            Mat4::from_scale_rotation_translation(
                Vec3::new(1.2, 1.0, 0.15),
                Quat::IDENTITY,
                Vec3::new(0.0, 0.01, 1.8),
            ),
        ),
    ] {
        scene.nodes[i].local = t;
    }
    // A perspective camera instead of the top view.
    let eye = Vec3::new(0.5, 2.2, 4.2);
    scene.cameras[0] = Camera::perspective("showcase", 45f32.to_radians(), Some(4.0 / 3.0));
    let cam = scene.nodes.len() - 1;
    scene.nodes[cam].local =
        glam::camera::rh::view::look_at_mat4(eye, Vec3::new(0.0, 0.4, 0.0), Vec3::Y).inverse();
    scene.lights.push(Light {
        name: "spot".into(),
        kind: LightKind::Spot { inner: 0.4, outer: 0.6 },
        color: [1.0, 0.95, 0.85],
        intensity: 120.0,
        shadows: true,
        range: None,
    });
    let spot = Mat4::from_rotation_translation(
        Quat::from_rotation_arc(-Vec3::Z, Vec3::new(-0.3, -1.0, -0.2).normalize()),
        Vec3::new(1.0, 3.5, 1.0),
    );
    scene.nodes.push(Node::new("spot", spot).with_light(0));
    let (w, h) = (64u32, 32u32);
    let sky = (0..w * h)
        .map(|k| {
            let v = ((k / w) as f32 + 0.5) / h as f32;
            let up = (1.0 - 2.0 * v).max(0.0);
            if v < 0.5 {
                [0.5 + 0.3 * (1.0 - up), 0.6 + 0.2 * (1.0 - up), 1.0, 1.0]
            } else {
                [0.25, 0.2, 0.15, 1.0]
            }
        })
        .collect();
    scene.environment = Environment::Equirect { width: w, height: h, texels: sky };
    scene.point_sets.push(scene::PointSet {
        colors: vec![[255, 220, 0, 255]; 40],
        size_px: 3.0,
        size_world: None,
        ..scene::PointSet::new(
            "dots",
            (0..40)
                .map(|i| {
                    let a = i as f32 * 0.157;
                    [2.0 * a.cos(), 0.05, 2.0 * a.sin() - 0.5]
                })
                .collect(),
        )
    });
    scene.line_sets.push(scene::LineSet {
        name: "frame".into(),
        transform: Mat4::IDENTITY,
        positions: vec![
            [-1.5, 0.02, -1.5],
            [1.5, 0.02, -1.5],
            [1.5, 1.2, -1.5],
            [-1.5, 1.2, -1.5],
            [-1.5, 0.02, -1.5],
        ],
        colors: Vec::new(),
        strip: true,
        width_px: 2.0,
        visible: true,
        node: None,
    });
    scene.update_world();
    let req = common::RenderRequest {
        msaa: 4,
        grid: Some(raster::Grid::default()),
        ..request("showcase".into(), 128, 96)
    };
    let img = render_scene(&scene, &req).expect("render");
    maybe_save(&img, "showcase");
    // Edges everywhere (MSAA, anisotropic filtering, the grid): the 99th percentile is looser
    // than for the reference scenes (the H200 differs from lavapipe by p99 14, mean 0.98).
    common::assert_matches_stored(&img, "showcase", 20);
}
