//! glTF loading: the reference scenes and their conventions, and malformed files giving clear
//! errors that name the file.

use std::path::{Path, PathBuf};

use scene::{load_gltf, Environment, LightKind};

fn refs(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/refs/scenes").join(name)
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xpg-scene-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A one-triangle glTF with the given positions and indices in an embedded buffer.
fn triangle_gltf(positions: [[f32; 3]; 3], indices: [u32; 3], buffer_uri: Option<&str>) -> String {
    let mut bin: Vec<u8> = positions.iter().flatten().flat_map(|f| f.to_le_bytes()).collect();
    bin.extend(indices.iter().flat_map(|i| i.to_le_bytes()));
    let uri = buffer_uri
        .map(str::to_string)
        .unwrap_or_else(|| format!("data:application/octet-stream;base64,{}", base64(&bin)));
    format!(
        r#"{{"asset":{{"version":"2.0"}},"scene":0,"scenes":[{{"nodes":[0]}}],"nodes":[{{"mesh":0}}],
        "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}},"indices":1}}]}}],
        "buffers":[{{"byteLength":{len},"uri":"{uri}"}}],
        "bufferViews":[{{"buffer":0,"byteOffset":0,"byteLength":36}},{{"buffer":0,"byteOffset":36,"byteLength":12}}],
        "accessors":[{{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3","min":[0,0,0],"max":[1,1,0]}},
                     {{"bufferView":1,"componentType":5125,"count":3,"type":"SCALAR"}}]}}"#,
        len = bin.len()
    )
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, contents).expect("write");
    p
}

#[test]
fn reference_scenes_load_with_their_conventions() {
    let cornell = load_gltf(refs("cornell_box.gltf")).expect("cornell box");
    assert_eq!(cornell.cameras.len(), 1);
    assert!(
        cornell.materials.iter().any(|m| m.emissive.iter().any(|&e| e > 0.0)),
        "an emissive quad"
    );
    assert!(cornell
        .materials
        .iter()
        .filter(|m| m.name != "default")
        .all(|m| m.specular == 0.0 && m.metallic == 0.0));

    let many = load_gltf(refs("many_lights.gltf")).expect("many lights");
    assert_eq!(many.lights.len(), 3);
    assert!(many.lights.iter().all(|l| l.kind == LightKind::Point));
    let emitters = many.materials.iter().filter(|m| m.emissive.iter().any(|&e| e > 0.0)).count();
    assert_eq!(emitters, 200);

    let env = load_gltf(refs("env_diffuse.gltf")).expect("env diffuse");
    match &env.environment {
        Environment::Equirect { width, height, texels } => {
            assert_eq!(*width, 2 * *height, "equirect is 2:1");
            assert_eq!(texels.len(), (*width * *height) as usize);
        }
        other => panic!("expected the sky map, got {other:?}"),
    }

    let furnace = load_gltf(refs("furnace_sphere.gltf")).expect("furnace");
    assert_eq!(furnace.environment, Environment::Uniform([1.0, 1.0, 1.0]));
    // No NORMAL: flat shading, each triangle unwelded with its face normal.
    let p = &furnace.meshes[0].primitives[0];
    assert_eq!(p.positions.len(), p.indices.len());
    for t in p.indices.chunks_exact(3) {
        assert_eq!(p.normals[t[0] as usize], p.normals[t[1] as usize]);
        assert_eq!(p.normals[t[1] as usize], p.normals[t[2] as usize]);
    }
}

#[test]
fn malformed_files_are_errors_naming_the_file() {
    let dir = tempdir("bad");
    let ok = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];

    let good = write(&dir, "good.gltf", triangle_gltf(ok, [0, 1, 2], None).as_bytes());
    assert!(load_gltf(&good).is_ok(), "the well-formed version loads");

    let bad_index = write(&dir, "bad_index.gltf", triangle_gltf(ok, [0, 1, 7], None).as_bytes());
    let e = load_gltf(&bad_index).expect_err("index out of range").to_string();
    assert!(e.contains("bad_index.gltf") && e.contains("out of range"), "{e}");

    let nan = write(
        &dir,
        "nan.gltf",
        triangle_gltf([[f32::NAN, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [0, 1, 2], None)
            .as_bytes(),
    );
    let e = load_gltf(&nan).expect_err("NaN positions").to_string();
    assert!(e.contains("nan.gltf") && e.contains("non-finite"), "{e}");

    let missing = write(
        &dir,
        "missing_buffer.gltf",
        triangle_gltf(ok, [0, 1, 2], Some("nowhere.bin")).as_bytes(),
    );
    let e = load_gltf(&missing).expect_err("missing buffer file").to_string();
    assert!(e.contains("missing_buffer.gltf") && e.contains("'nowhere.bin' not found"), "{e}");
    // A required extension the loader lacks is named first, alone.
    let draco = triangle_gltf(ok, [0, 1, 2], None).replacen(
        '{',
        r#"{"extensionsUsed":["KHR_draco_mesh_compression"],"extensionsRequired":["KHR_draco_mesh_compression"],"#,
        1,
    );
    let draco = write(&dir, "draco.gltf", draco.as_bytes());
    let e = load_gltf(&draco).expect_err("unsupported extension").to_string();
    assert_eq!(
        e,
        format!(
            "{}: needs glTF extension KHR_draco_mesh_compression, which is not supported",
            draco.display()
        )
    );
    // The parser's message is printed once, also through an error chain.
    let broken = write(&dir, "broken.gltf", b"{ not json");
    let e = load_gltf(&broken).expect_err("malformed JSON");
    assert!(e.to_string().starts_with(&format!("{}: ", broken.display())), "{e}");
    assert!(std::error::Error::source(&e).is_none(), "the cause is in the message only");

    // A truncated binary glTF: the header promises more than the file has.
    let mut glb = Vec::new();
    glb.extend_from_slice(b"glTF");
    glb.extend_from_slice(&2u32.to_le_bytes());
    glb.extend_from_slice(&1000u32.to_le_bytes());
    glb.extend_from_slice(&200u32.to_le_bytes());
    glb.extend_from_slice(b"JSON{\"asset\":");
    let truncated = write(&dir, "truncated.glb", &glb);
    let e = load_gltf(&truncated).expect_err("truncated glb").to_string();
    assert!(e.contains("truncated.glb"), "{e}");

    let garbage = write(&dir, "garbage.gltf", b"{ this is not json");
    assert!(load_gltf(&garbage).expect_err("garbage").to_string().contains("garbage.gltf"));

    // The environment map is missing: the error names the image file.
    let mut text = triangle_gltf(ok, [0, 1, 2], None);
    text = text.replace(r#""scenes":[{"nodes":[0]}]"#, r#""scenes":[{"nodes":[0],"extras":{"environment":{"uri":"sky_missing.exr","intensity":1.0}}}]"#);
    let no_sky = write(&dir, "no_sky.gltf", text.as_bytes());
    let e = load_gltf(&no_sky).expect_err("missing environment map").to_string();
    assert!(e.contains("sky_missing.exr"), "{e}");

    // Float indices: an Err, not the reader's panic.
    let float_idx = triangle_gltf(ok, [0, 1, 2], None)
        .replace(r#""componentType":5125"#, r#""componentType":5126"#);
    let f = write(&dir, "float_indices.gltf", float_idx.as_bytes());
    let e = load_gltf(&f).expect_err("float indices").to_string();
    assert!(e.contains("float_indices.gltf") && e.contains("index accessor"), "{e}");

    // A camera with a zero field of view.
    let cam = triangle_with_camera(
        r#"{"name":"flat","type":"perspective","perspective":{"yfov":0.0,"znear":0.1}}"#,
    );
    let c = write(&dir, "bad_camera.gltf", cam.as_bytes());
    let e = load_gltf(&c).expect_err("yfov 0").to_string();
    assert!(e.contains("bad_camera.gltf") && e.contains("flat"), "{e}");

    // A non-numeric environment intensity.
    let env = triangle_gltf(ok, [0, 1, 2], None).replace(
        r#""scenes":[{"nodes":[0]}]"#,
        r#""scenes":[{"nodes":[0],"extras":{"environment":{"color":[1,1,1],"intensity":"bright"}}}]"#,
    );
    let en = write(&dir, "bad_env.gltf", env.as_bytes());
    let e = load_gltf(&en).expect_err("intensity").to_string();
    assert!(e.contains("bad_env.gltf") && e.contains("intensity"), "{e}");

    assert!(load_gltf(dir.join("does_not_exist.gltf"))
        .expect_err("no file")
        .to_string()
        .contains("does_not_exist.gltf"));
}

/// A one-triangle glTF without normals whose COLOR_0 accessor is `color_type` (e.g. "VEC4")
/// with the given float values.
fn colored_triangle_gltf(color_type: &str, colors: &[f32]) -> String {
    let ok = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    let mut bin: Vec<u8> = ok.iter().flatten().flat_map(|f: &f32| f.to_le_bytes()).collect();
    bin.extend([0u32, 1, 2].iter().flat_map(|i| i.to_le_bytes()));
    bin.extend(colors.iter().flat_map(|f| f.to_le_bytes()));
    format!(
        r#"{{"asset":{{"version":"2.0"}},"scene":0,"scenes":[{{"nodes":[0]}}],"nodes":[{{"mesh":0}}],
        "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0,"COLOR_0":2}},"indices":1}}]}}],
        "buffers":[{{"byteLength":{len},"uri":"data:application/octet-stream;base64,{data}"}}],
        "bufferViews":[{{"buffer":0,"byteOffset":0,"byteLength":36}},{{"buffer":0,"byteOffset":36,"byteLength":12}},
                       {{"buffer":0,"byteOffset":48,"byteLength":{clen}}}],
        "accessors":[{{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3","min":[0,0,0],"max":[1,1,0]}},
                     {{"bufferView":1,"componentType":5125,"count":3,"type":"SCALAR"}},
                     {{"bufferView":2,"componentType":5126,"count":3,"type":"{color_type}"}}]}}"#,
        len = bin.len(),
        data = base64(&bin),
        clen = colors.len() * 4,
    )
}

/// COLOR_0 becomes linear vertex colors (following the vertices through flat-shading's
/// unwelding); an accessor type glTF does not allow for colors is an error naming the file.
#[test]
fn gltf_vertex_colors_are_loaded_and_checked() {
    let dir = tempdir("colors");
    let rgba = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 1.0, 1.0];
    let path = write(&dir, "colors.gltf", colored_triangle_gltf("VEC4", &rgba).as_bytes());
    let scene = load_gltf(&path).expect("load");
    let p = &scene.meshes[0].primitives[0];
    assert_eq!(p.colors, vec![[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.5], [0.0, 0.0, 1.0, 1.0]]);
    assert_eq!(p.normals.len(), 3, "flat shaded");

    let rgb = [0.25, 0.5, 0.75, 0.25, 0.5, 0.75, 0.25, 0.5, 0.75];
    let path = write(&dir, "rgb.gltf", colored_triangle_gltf("VEC3", &rgb).as_bytes());
    let scene = load_gltf(&path).expect("load");
    assert_eq!(scene.meshes[0].primitives[0].colors, vec![[0.25, 0.5, 0.75, 1.0]; 3]);

    let path = write(&dir, "vec2.gltf", colored_triangle_gltf("VEC2", &rgba[..6]).as_bytes());
    let e = load_gltf(&path).expect_err("VEC2 colors").to_string();
    assert!(e.contains("vec2.gltf") && e.contains("Colors"), "{e}");

    let nan = [f32::NAN; 12];
    let path = write(&dir, "nan_color.gltf", colored_triangle_gltf("VEC4", &nan).as_bytes());
    let e = load_gltf(&path).expect_err("NaN colors").to_string();
    assert!(e.contains("nan_color.gltf") && e.contains("COLOR_0"), "{e}");
}

/// The sRGB <-> linear conversions of vertex colors round-trip every 8-bit value.
#[test]
fn srgb8_colors_round_trip() {
    for b in 0..=255u8 {
        let lin = scene::srgba8_to_linear([b, b, b, b]);
        assert_eq!(scene::pack_srgba8(lin), u32::from_le_bytes([b; 4]), "byte {b} -> {lin:?}");
    }
    let blue = scene::srgba8_to_linear([255, 0, 188, 255])[2];
    assert!((blue - 0.502_886).abs() < 1e-5, "{blue}");
    assert_eq!(
        scene::pack_srgba8([2.0, -1.0, f32::NAN, 1.0]),
        u32::from_le_bytes([255, 0, 0, 255])
    );
}

/// The one-triangle glTF with a camera node whose JSON object is `camera`.
fn triangle_with_camera(camera: &str) -> String {
    let ok = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    triangle_gltf(ok, [0, 1, 2], None)
        .replace(
            r#""nodes":[{"mesh":0}]"#,
            &format!(r#""nodes":[{{"mesh":0}},{{"camera":0,"translation":[0,0,5]}}],"cameras":[{camera}]"#),
        )
        .replace(r#""scenes":[{"nodes":[0]}]"#, r#""scenes":[{"nodes":[0,1]}]"#)
}

/// Orthographic cameras load (ymag, aspect xmag/ymag, planes) and frame the view; bad ones are
/// errors naming the file and the camera.
#[test]
fn gltf_orthographic_cameras() {
    let dir = tempdir("ortho");
    let text = triangle_with_camera(
        r#"{"name":"top","type":"orthographic","orthographic":{"xmag":3,"ymag":1.5,"znear":0.5,"zfar":20}}"#,
    );
    let scene = load_gltf(write(&dir, "ortho.gltf", text.as_bytes())).expect("load");
    let cam = &scene.cameras[0];
    assert_eq!(cam.projection, scene::Projection::Orthographic { ymag: 1.5 });
    assert_eq!((cam.aspect, cam.znear, cam.zfar), (Some(2.0), 0.5, Some(20.0)));
    assert_eq!(scene::View::default_size(&scene, Some("top"), 200), (200, 100));
    let view = scene::View::from_scene(&scene, Some("top"), 200, 100).expect("view");
    assert!(view.orthographic);
    // A point 3 m right and 1.5 m up, anywhere in depth, lands on the top-right corner.
    for z in [-1.0f32, -10.0] {
        let clip = view.proj * view.view * glam::Vec4::new(3.0, 1.5, z, 1.0);
        assert!((clip.x - 1.0).abs() < 1e-5 && (clip.y + 1.0).abs() < 1e-5, "{clip}");
        assert!(clip.z > 0.0 && clip.z < 1.0 && clip.w == 1.0, "{clip}");
    }
    assert_eq!(view.eye(), glam::Vec4::new(0.0, 0.0, 1.0, 0.0), "towards the camera, w = 0");

    for (file, camera) in [
        (
            "zero_ymag.gltf",
            r#"{"name":"thin","type":"orthographic","orthographic":{"xmag":1,"ymag":0,"znear":0.1,"zfar":10}}"#,
        ),
        (
            "inverted.gltf",
            r#"{"name":"thin","type":"orthographic","orthographic":{"xmag":1,"ymag":1,"znear":10,"zfar":1}}"#,
        ),
    ] {
        let path = write(&dir, file, triangle_with_camera(camera).as_bytes());
        let e = load_gltf(&path).expect_err(file).to_string();
        assert!(e.contains(file) && e.contains("thin"), "{e}");
    }
}

/// glTF line and point primitives become line and point sets placed by their nodes: LINES,
/// LINE_STRIP, LINE_LOOP (closed) and POINTS; a bad index in one is an error naming the file.
#[test]
fn gltf_line_and_point_primitives() {
    let dir = tempdir("modes");
    let ok = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    let with_mode = |mode: u32, indices: [u32; 3]| {
        triangle_gltf(ok, indices, None)
            .replace(r#""indices":1}"#, &format!(r#""indices":1,"mode":{mode}}}"#))
            .replace(r#""nodes":[{"mesh":0}]"#, r#""nodes":[{"mesh":0,"translation":[0,0,2]}]"#)
    };
    let load = |name: &str, mode: u32| {
        load_gltf(write(&dir, name, with_mode(mode, [0, 1, 2]).as_bytes())).expect(name)
    };
    let moved = glam::Mat4::from_translation(glam::Vec3::new(0.0, 0.0, 2.0));

    let s = load("strip.gltf", 3);
    assert!(s.meshes[0].primitives.is_empty(), "no triangles");
    assert_eq!(s.line_sets.len(), 1);
    let l = &s.line_sets[0];
    assert!(l.strip);
    assert_eq!(l.positions, ok.to_vec());
    assert_eq!(l.transform, moved);
    assert_eq!(l.colors, vec![[255; 4]; 3], "white without material or colors");

    let l = &load("loop.gltf", 2).line_sets[0];
    assert!(l.strip);
    assert_eq!(l.positions.len(), 4);
    assert_eq!(l.positions[3], l.positions[0], "closed");

    let l = &load("lines.gltf", 1).line_sets[0];
    assert!(!l.strip);
    assert_eq!(l.positions.len(), 3, "a pair and an odd vertex (ignored when drawn)");

    let s = load("points.gltf", 0);
    assert_eq!(s.point_sets.len(), 1);
    assert_eq!(s.point_sets[0].positions.len(), 3);
    assert_eq!(s.point_sets[0].transform, moved);

    let bad = write(&dir, "bad_lines.gltf", with_mode(1, [0, 1, 9]).as_bytes());
    let e = load_gltf(&bad).expect_err("index out of range").to_string();
    assert!(e.contains("bad_lines.gltf") && e.contains("out of range"), "{e}");
}

/// Colormaps: the published stops at their positions, clamping outside the range, NaN, an empty
/// range, fitting to finite values only.
#[test]
fn colormaps_map_scalars_to_colors() {
    use scene::{Colormap, ColormapKind, NAN_COLOR};
    let v = Colormap::new(ColormapKind::Viridis, 10.0, 20.0);
    assert_eq!(v.color(10.0), [0x44, 0x01, 0x54, 255]);
    assert_eq!(v.color(15.0), [0x21, 0x91, 0x8c, 255]);
    assert_eq!(v.color(20.0), [0xfd, 0xe7, 0x25, 255]);
    assert_eq!(v.color(-1e30), v.color(10.0), "clamped below");
    assert_eq!(v.color(f32::INFINITY), v.color(20.0), "clamped above");
    assert_eq!(v.color(f32::NAN), NAN_COLOR);
    let cw = Colormap::new(ColormapKind::CoolWarm, -1.0, 1.0);
    assert_eq!(cw.color(0.0), [221, 221, 221, 255]);
    assert_eq!(Colormap::new(ColormapKind::Gray, 0.0, 4.0).color(1.0), [64, 64, 64, 255]);
    let flat = Colormap::new(ColormapKind::Gray, 3.0, 3.0);
    assert_eq!(flat.color(3.0), [128, 128, 128, 255], "an empty range shows the middle");
    let fit = Colormap::fit(ColormapKind::Viridis, &[f32::NAN, 2.0, f32::INFINITY, -1.0]);
    assert_eq!((fit.min, fit.max), (-1.0, 2.0));
    let none = Colormap::fit(ColormapKind::Viridis, &[f32::NAN]);
    assert_eq!((none.min, none.max), (0.0, 1.0));
}

/// A PLY point cloud without colors but with an intensity property is colored through viridis
/// over the intensity's range (scalars and colormap kept, so the range can change); a PLY mesh
/// with one gets a colormap material over its vertex scalars; PLY edges become a line set.
#[test]
fn ply_scalar_property_is_colormapped() {
    let dir = tempdir("ply_scalar");
    let cloud = write(
        &dir,
        "scan.ply",
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n\
          property float intensity\nend_header\n0 0 0 0\n1 0 0 5\n0 1 0 10\n",
    );
    let s = scene::load(&cloud).expect("scan");
    let set = &s.point_sets[0];
    assert!(set.colors.is_empty());
    assert_eq!(set.scalars, vec![0.0, 5.0, 10.0]);
    let map = set.colormap.expect("colormap");
    let c = map.apply(&set.scalars);
    assert_eq!(c, vec![[0x44, 0x01, 0x54, 255], [0x21, 0x91, 0x8c, 255], [0xfd, 0xe7, 0x25, 255]]);

    let mesh = write(
        &dir,
        "field.ply",
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n\
          property float quality\nelement face 1\nproperty list uchar int vertex_indices\n\
          element edge 2\nproperty int vertex1\nproperty int vertex2\nend_header\n\
          0 0 0 1\n1 0 0 2\n0 1 0 3\n3 0 1 2\n0 1\n1 2\n",
    );
    let s = scene::load(&mesh).expect("field");
    let p = &s.meshes[0].primitives[0];
    let cm = s.materials[p.material].colormap.expect("colormap material");
    assert_eq!((cm.kind, cm.min, cm.max), (scene::ColormapKind::Viridis, 1.0, 3.0));
    // Flat shaded (no normals): unwelded, the scalars follow their vertices.
    assert_eq!(p.scalars, vec![1.0, 2.0, 3.0]);
    let lines = &s.line_sets[0];
    assert!(!lines.strip);
    assert_eq!(
        lines.positions,
        vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    );
    let bad = write(
        &dir,
        "bad_edge.ply",
        b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\n\
          element edge 1\nproperty int vertex1\nproperty int vertex2\nend_header\n0 0 0\n0 7\n",
    );
    let e = scene::load(&bad).expect_err("edge index out of range").to_string();
    assert!(e.contains("bad_edge.ply") && e.contains("edge 0"), "{e}");
}

/// KHR_materials_unlit reaches the material; other materials stay lit.
#[test]
fn gltf_unlit_materials_are_loaded() {
    let dir = tempdir("unlit");
    let ok = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    let text = triangle_gltf(ok, [0, 1, 2], None)
        .replace(r#""indices":1}"#, r#""indices":1,"material":0}"#)
        .replace(
            r#""asset":{"version":"2.0"},"#,
            r#""asset":{"version":"2.0"},"extensionsUsed":["KHR_materials_unlit"],
            "materials":[{"name":"flat","pbrMetallicRoughness":{"baseColorFactor":[0.2,0.4,0.6,1]},
                          "extensions":{"KHR_materials_unlit":{}}},{"name":"lit"}],"#,
        );
    let scene = load_gltf(write(&dir, "unlit.gltf", text.as_bytes())).expect("load");
    let flat = scene.materials.iter().find(|m| m.name == "flat").expect("material 'flat'");
    assert!(flat.unlit, "{flat:?}");
    assert_eq!(flat.base_color, [0.2, 0.4, 0.6, 1.0]);
    let lit = scene.materials.iter().find(|m| m.name == "lit").expect("material 'lit'");
    assert!(!lit.unlit, "{lit:?}");
    assert_eq!(scene.meshes[0].primitives[0].material, 0);
}

#[test]
fn ply_point_clouds_meshes_and_malformed_files() {
    let dir = tempdir("ply");
    let cloud = write(
        &dir,
        "cloud.ply",
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n\
          property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n\
          0 0 0 255 0 0\n1 0 0 0 255 0\n0 1 0 0 0 255\n",
    );
    let s = scene::load(&cloud).expect("point cloud");
    assert_eq!(s.point_sets.len(), 1);
    assert_eq!(s.point_sets[0].positions.len(), 3);
    assert_eq!(s.point_sets[0].colors[1], [0, 255, 0, 255]);

    let mesh = write(
        &dir,
        "quad.ply",
        b"ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n\
          element face 1\nproperty list uchar int vertex_indices\nend_header\n\
          0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n",
    );
    let s = scene::load(&mesh).expect("mesh");
    assert_eq!(s.meshes.len(), 1);
    assert_eq!(s.meshes[0].primitives[0].indices.len(), 6, "a quad becomes two triangles");
    assert!(s.meshes[0].primitives[0].colors.is_empty());

    let colored = write(
        &dir,
        "colored_quad.ply",
        b"ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n\
          property uchar red\nproperty uchar green\nproperty uchar blue\n\
          element face 1\nproperty list uchar int vertex_indices\nend_header\n\
          0 0 0 255 0 0\n1 0 0 0 255 0\n1 1 0 0 0 255\n0 1 0 255 255 255\n4 0 1 2 3\n",
    );
    let s = scene::load(&colored).expect("colored mesh");
    let p = &s.meshes[0].primitives[0];
    // Flat shaded (no normals in the file): unwelded, each vertex keeps its color, as linear.
    assert_eq!(p.colors.len(), p.positions.len());
    for (q, c) in p.positions.iter().zip(&p.colors) {
        let want = match (q[0] as i32, q[1] as i32) {
            (0, 0) => [1.0, 0.0, 0.0, 1.0],
            (1, 0) => [0.0, 1.0, 0.0, 1.0],
            (1, 1) => [0.0, 0.0, 1.0, 1.0],
            _ => [1.0; 4],
        };
        assert_eq!(*c, want, "vertex {q:?}");
    }

    let bad_index = write(
        &dir,
        "bad_face.ply",
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n\
          element face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n1 1 0\n3 0 1 9\n",
    );
    let e = scene::load(&bad_index).expect_err("index out of range").to_string();
    assert!(e.contains("bad_face.ply") && e.contains("out of range"), "{e}");

    let nan = write(
        &dir,
        "nan.ply",
        b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\nnan 0 0\n",
    );
    let e = scene::load(&nan).expect_err("NaN").to_string();
    assert!(e.contains("nan.ply"), "{e}");

    let truncated = write(
        &dir,
        "truncated.ply",
        b"ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\n",
    );
    let e = scene::load(&truncated).expect_err("truncated").to_string();
    assert!(e.contains("truncated.ply"), "{e}");
    let e = scene::load(dir.join("scene.fbx")).expect_err("unsupported").to_string();
    assert!(e.contains("scene.fbx") && e.contains("unsupported"), "{e}");
}

#[test]
fn obj_meshes_with_materials_and_malformed_files() {
    let dir = tempdir("obj");
    write(&dir, "red.mtl", b"newmtl red\nKd 0.9 0.1 0.1\n");
    let obj = write(
        &dir,
        "tri.obj",
        b"mtllib red.mtl\no tri\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl red\nf 1 2 3\n",
    );
    let s = scene::load(&obj).expect("obj");
    assert_eq!(s.meshes.len(), 1);
    let p = &s.meshes[0].primitives[0];
    assert_eq!(p.indices.len(), 3);
    assert_eq!(s.materials[p.material].base_color, [0.9, 0.1, 0.1, 1.0]);
    // No normals in the file: flat shading, the face normal is +Z.
    assert_eq!(p.normals[0], [0.0, 0.0, 1.0]);
    assert!(s.is_unlit());
    assert!(p.colors.is_empty());

    // `v x y z r g b` vertex colors, display values decoded as sRGB.
    let colored =
        write(&dir, "colored.obj", b"v 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0 0 0.5\nf 1 2 3\n");
    let s = scene::load(&colored).expect("colored obj");
    let p = &s.meshes[0].primitives[0];
    assert_eq!(p.colors[..2], [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0]]);
    assert!((p.colors[2][2] - 0.214_041).abs() < 1e-5, "sRGB 0.5 -> linear: {:?}", p.colors[2]);

    let bad = write(&dir, "bad.obj", b"v 0 0 0\nv 1 0 0\nf 1 2 7\n");
    let e = scene::load(&bad).expect_err("bad index").to_string();
    assert!(e.contains("bad.obj"), "{e}");
    let e = scene::load(dir.join("none.obj")).expect_err("missing").to_string();
    assert!(e.contains("none.obj"), "{e}");
}

/// PNG bytes of a `w x h` RGBA8 image.
fn png(w: u32, h: u32, texel: impl Fn(u32, u32) -> [u8; 4]) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba(texel(x, y)));
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png).expect("encode png");
    bytes.into_inner()
}

/// A textured quad: base color and metallic-roughness share image 0 (`image0_uri`), the normal
/// map is image 1 (a PNG in a data URI), sampler 0 is nearest / clamp.
fn textured_quad_gltf(image0_uri: &str) -> String {
    let positions = [[-1.0f32, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]];
    let uvs = [[0.0f32, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let mut bin: Vec<u8> = positions.iter().flatten().flat_map(|f| f.to_le_bytes()).collect();
    bin.extend([[0.0f32, 1.0, 0.0]; 4].iter().flatten().flat_map(|f| f.to_le_bytes()));
    bin.extend(uvs.iter().flatten().flat_map(|f| f.to_le_bytes()));
    bin.extend([[1.0f32, 0.0, 0.0, 1.0]; 4].iter().flatten().flat_map(|f| f.to_le_bytes()));
    bin.extend([0u32, 2, 1, 0, 3, 2].iter().flat_map(|i| i.to_le_bytes()));
    let normal_png = base64(&png(2, 2, |_, _| [128, 128, 255, 255]));
    format!(
        r#"{{"asset":{{"version":"2.0"}},"scene":0,"scenes":[{{"nodes":[0]}}],"nodes":[{{"mesh":0}}],
        "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0,"NORMAL":1,"TEXCOORD_0":2,"TANGENT":3}},"indices":4,"material":0}}]}}],
        "materials":[{{"pbrMetallicRoughness":{{"baseColorTexture":{{"index":0}},"metallicRoughnessTexture":{{"index":0}}}},
                       "normalTexture":{{"index":1,"scale":0.5}},"occlusionTexture":{{"index":0,"strength":0.25}},
                       "emissiveTexture":{{"index":1}},"emissiveFactor":[1,1,1]}}],
        "textures":[{{"source":0,"sampler":0}},{{"source":1}}],
        "samplers":[{{"magFilter":9728,"minFilter":9728,"wrapS":33071,"wrapT":33648}}],
        "images":[{{"uri":"{image0_uri}"}},{{"uri":"data:image/png;base64,{normal_png}"}}],
        "buffers":[{{"byteLength":{len},"uri":"data:application/octet-stream;base64,{b64}"}}],
        "bufferViews":[{{"buffer":0,"byteOffset":0,"byteLength":48}},{{"buffer":0,"byteOffset":48,"byteLength":48}},
                       {{"buffer":0,"byteOffset":96,"byteLength":32}},{{"buffer":0,"byteOffset":128,"byteLength":64}},
                       {{"buffer":0,"byteOffset":192,"byteLength":24}}],
        "accessors":[{{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3","min":[-1,0,-1],"max":[1,0,1]}},
                     {{"bufferView":1,"componentType":5126,"count":4,"type":"VEC3"}},
                     {{"bufferView":2,"componentType":5126,"count":4,"type":"VEC2"}},
                     {{"bufferView":3,"componentType":5126,"count":4,"type":"VEC4"}},
                     {{"bufferView":4,"componentType":5125,"count":6,"type":"SCALAR"}}]}}"#,
        len = bin.len(),
        b64 = base64(&bin)
    )
}

/// glTF textures: every map of the material, sRGB for color and linear for data (one image
/// used both ways becomes two textures), samplers, UVs and tangents; a missing or corrupt
/// image leaves its maps out with a warning naming the glTF file and the image.
#[test]
fn gltf_textures_are_loaded_with_their_color_spaces() {
    let dir = tempdir("textures");
    write(&dir, "albedo.png", &png(4, 2, |x, y| [x as u8 * 60, y as u8 * 100, 7, 255]));
    let path = write(&dir, "quad.gltf", textured_quad_gltf("albedo.png").as_bytes());
    let s = load_gltf(&path).expect("textured quad");
    let m = &s.materials[0];
    let (base, mr, normal, occlusion, emissive) = (
        m.base_color_texture.expect("base color texture"),
        m.metallic_roughness_texture.expect("metallic-roughness texture"),
        m.normal_texture.expect("normal texture"),
        m.occlusion_texture.expect("occlusion texture"),
        m.emissive_texture.expect("emissive texture"),
    );
    assert_eq!(s.textures.len(), 4, "albedo sRGB + linear, normal linear, emissive sRGB");
    assert!(s.textures[base].srgb && !s.textures[mr].srgb && !s.textures[normal].srgb);
    assert!(s.textures[emissive].srgb);
    assert_eq!(mr, occlusion, "the same image in the same color space is one texture");
    assert_eq!((m.normal_scale, m.occlusion_strength), (0.5, 0.25));
    let t = &s.textures[base];
    assert_eq!((t.width, t.height), (4, 2));
    match &t.pixels {
        scene::TexturePixels::Rgba8(p) => assert_eq!(p[4 + 3], [180, 100, 7, 255]),
        other => panic!("expected RGBA8 texels, got {other:?}"),
    }
    assert!(t.sampler.nearest_mag && t.sampler.nearest_min);
    assert_eq!(
        (t.sampler.wrap_u, t.sampler.wrap_v),
        (scene::Wrap::ClampToEdge, scene::Wrap::MirroredRepeat)
    );
    let p = &s.meshes[0].primitives[0];
    assert_eq!(p.uvs, vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
    assert_eq!(p.tangents, vec![[1.0, 0.0, 0.0, 1.0]; 4]);

    // A missing or corrupt texture does not refuse the file: the material keeps its factors,
    // the other textures load, and the scene's warnings name the file and the image.
    for (name, image) in [("missing", "nowhere.png"), ("corrupt", "corrupt.png")] {
        write(&dir, "corrupt.png", b"\x89PNG not really");
        let file = write(&dir, &format!("{name}.gltf"), textured_quad_gltf(image).as_bytes());
        let s = load_gltf(&file).expect("loads without the texture");
        let m = &s.materials[0];
        assert_eq!(m.base_color_texture, None, "{name}");
        assert!(m.normal_texture.is_some() && m.emissive_texture.is_some(), "{name}");
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        let w = &s.warnings[0];
        assert!(w.contains(&format!("{name}.gltf")) && w.contains(image), "{w}");
    }
}

/// OBJ textures (`map_Kd`, sRGB, v flipped to glTF's convention) and polylines (`l`, which
/// the OBJ library skips); a missing texture is left out with a warning, a bad line index is
/// an error naming the file.
#[test]
fn obj_textures_and_polylines() {
    let dir = tempdir("obj_tex");
    write(&dir, "wood.png", &png(2, 2, |x, _| [x as u8 * 200, 100, 50, 255]));
    write(&dir, "wood.mtl", b"newmtl wood\nKd 1 1 1\nmap_Kd -bm 1 wood.png\n");
    let obj = write(
        &dir,
        "board.obj",
        b"mtllib wood.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 0.25\nusemtl wood\n\
          f 1/1 2/2 3/3\nl 1 2 3\nl -1/3 -3\n",
    );
    let s = scene::load(&obj).expect("textured obj");
    let p = &s.meshes[0].primitives[0];
    let m = &s.materials[p.material];
    let t = &s.textures[m.base_color_texture.expect("map_Kd")];
    assert!(t.srgb && (t.width, t.height) == (2, 2));
    assert_eq!(t.sampler.wrap_u, scene::Wrap::Repeat);
    let mut uvs = p.uvs.clone();
    uvs.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    assert_eq!(uvs, vec![[0.0, 0.75], [0.0, 1.0], [1.0, 1.0]], "v flipped");
    let l = &s.line_sets[0];
    assert_eq!(
        l.positions,
        vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0]
        ]
    );

    write(&dir, "lost.mtl", b"newmtl lost\nmap_Kd nowhere.png\n");
    let lost = write(
        &dir,
        "lost.obj",
        b"mtllib lost.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl lost\nf 1 2 3\n",
    );
    let s = scene::load(&lost).expect("loads without its texture");
    assert_eq!(s.materials[0].base_color_texture, None);
    assert!(s.warnings.iter().any(|w| w.contains("lost.obj") && w.contains("nowhere.png")));
    let bad = write(&dir, "badline.obj", b"v 0 0 0\nl 1 9\n");
    let e = scene::load(&bad).expect_err("bad line index").to_string();
    assert!(e.contains("badline.obj") && e.contains("line 2"), "{e}");
}

/// glTF TRIANGLE_STRIP (mode 5) and TRIANGLE_FAN (mode 6) primitives become triangle lists
/// in glTF's vertex order: every triangle of a square keeps the +Z facing winding.
#[test]
fn gltf_triangle_strips_and_fans() {
    let dir = tempdir("strips");
    for (mode, square) in [
        (5, [[0.0f32, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]),
        (6, [[0.0f32, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]),
    ] {
        let bin: Vec<u8> = square.iter().flatten().flat_map(|f| f.to_le_bytes()).collect();
        let gltf = format!(
            r#"{{"asset":{{"version":"2.0"}},"scene":0,"scenes":[{{"nodes":[0]}}],"nodes":[{{"mesh":0}}],
            "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}},"mode":{mode}}}]}}],
            "buffers":[{{"byteLength":48,"uri":"data:application/octet-stream;base64,{}"}}],
            "bufferViews":[{{"buffer":0,"byteOffset":0,"byteLength":48}}],
            "accessors":[{{"bufferView":0,"componentType":5126,"count":4,"type":"VEC3","min":[0,0,0],"max":[1,1,0]}}]}}"#,
            base64(&bin)
        );
        let path = write(&dir, &format!("mode{mode}.gltf"), gltf.as_bytes());
        let s = load_gltf(&path).expect("strip or fan");
        let p = &s.meshes[0].primitives[0];
        assert_eq!(p.indices.len(), 6, "mode {mode}: two triangles");
        assert!(p.normals.iter().all(|n| *n == [0.0, 0.0, 1.0]), "mode {mode}: {:?}", p.normals);
        let area: f32 = p
            .indices
            .chunks_exact(3)
            .map(|t| {
                let v = [0, 1, 2].map(|k| glam::Vec3::from(p.positions[t[k] as usize]));
                0.5 * (v[1] - v[0]).cross(v[2] - v[0]).z
            })
            .sum();
        assert!((area - 1.0).abs() < 1e-6, "mode {mode}: the square is covered once ({area})");
    }
}

/// Opening several files appends them: every index (parents, meshes, materials, textures,
/// cameras, lights) is shifted, world transforms and the environment are kept.
#[test]
fn scenes_append_with_shifted_indices() {
    let mut a = load_gltf(refs("cornell_box.gltf")).expect("cornell");
    let b = load_gltf(refs("env_diffuse.gltf")).expect("env_diffuse");
    let (na, ma, mata, la, ca) =
        (a.nodes.len(), a.meshes.len(), a.materials.len(), a.lights.len(), a.cameras.len());
    let ta = a.textures.len();
    let env_a = a.environment.clone();
    let structure = a.versions.structure;
    a.append(b.clone());
    assert_eq!(a.nodes.len(), na + b.nodes.len());
    assert_eq!(a.meshes.len(), ma + b.meshes.len());
    assert_eq!(a.materials.len(), mata + b.materials.len());
    assert_eq!(a.lights.len(), la + b.lights.len());
    assert_eq!(a.cameras.len(), ca + b.cameras.len());
    assert_eq!(a.textures.len(), ta + b.textures.len());
    assert!(a.versions.structure > structure);
    for (i, nb) in b.nodes.iter().enumerate() {
        let n = &a.nodes[na + i];
        assert_eq!(n.parent, nb.parent.map(|p| p + na));
        assert_eq!(n.mesh, nb.mesh.map(|m| m + ma));
        assert_eq!(n.camera, nb.camera.map(|c| c + ca));
        assert_eq!(n.light, nb.light.map(|l| l + la));
        assert!(n.world.abs_diff_eq(nb.world, 1e-5), "world transform of {}", n.name);
    }
    for (i, mb) in b.meshes.iter().enumerate() {
        for (p, pb) in a.meshes[ma + i].primitives.iter().zip(&mb.primitives) {
            assert_eq!(p.material, pb.material + mata);
        }
    }
    for (i, mb) in b.materials.iter().enumerate() {
        assert_eq!(a.materials[mata + i].base_color_texture, mb.base_color_texture.map(|t| t + ta));
    }
    // The first file's environment stays when it has one; an empty scene takes the other's.
    if env_a != Environment::None {
        assert_eq!(a.environment, env_a);
    }
    let mut empty = scene::Scene::default();
    empty.append(b.clone());
    assert_eq!(empty.environment, b.environment);
    assert_eq!(empty.nodes.len(), b.nodes.len());
}

/// `element tristrips` (the Stanford scans' encoding): strips split at -1, every other
/// triangle flipped to keep the winding, degenerate turns dropped; the same surface as the
/// face list of the same triangles. An unknown element is ignored (with a warning).
#[test]
fn ply_triangle_strips_are_meshes() {
    let dir = tempdir("ply_strips");
    let header = "ply\nformat ascii 1.0\nelement vertex 6\nproperty float x\nproperty float y\n\
                  property float z\n";
    let verts = "0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 2 0\n1 2 0\n";
    // Two strips: 0 1 2 3 (two triangles), then 2 3 4 4 5 (a degenerate turn).
    let strips = write(
        &dir,
        "strips.ply",
        format!(
            "{header}element tristrips 1\nproperty list int int vertex_indices\n\
             element camera 1\nproperty float view_px\nend_header\n{verts}\
             10 0 1 2 3 -1 2 3 4 4 5\n1.5\n"
        )
        .as_bytes(),
    );
    let s = scene::load(&strips).expect("tristrips load");
    assert!(s.point_sets.is_empty(), "read as a mesh, not points");
    let p = &s.meshes[0].primitives[0];
    // Flat shaded (no normals): three vertices per triangle, all facing +z like the first.
    assert_eq!(p.positions.len(), 3 * 3, "{:?}", p.positions);
    for n in &p.normals {
        assert_eq!(*n, [0.0, 0.0, 1.0]);
    }
    let faces = write(
        &dir,
        "faces.ply",
        format!(
            "{header}element face 3\nproperty list uchar int vertex_indices\nend_header\n{verts}\
             3 0 1 2\n3 2 1 3\n3 2 3 4\n"
        )
        .as_bytes(),
    );
    let f = scene::load(&faces).expect("faces load");
    assert_eq!(f.meshes[0].primitives[0].positions, p.positions);
    // A restart index that is not -1 is an error naming the strip.
    let bad = write(
        &dir,
        "bad_strip.ply",
        format!(
            "{header}element tristrips 1\nproperty list int int vertex_indices\nend_header\n\
             {verts}4 0 1 -2 3\n"
        )
        .as_bytes(),
    );
    let e = scene::load(&bad).expect_err("negative index").to_string();
    assert!(e.contains("bad_strip.ply") && e.contains("tristrip 0"), "{e}");
}

/// An OBJ of vertices without faces (a point cloud as MeshLab writes it, with colors and
/// normals) is a point cloud, not an empty mesh.
#[test]
fn obj_vertices_without_faces_are_points() {
    let dir = tempdir("obj_points");
    let obj = write(
        &dir,
        "cloud.obj",
        b"v 0 0 0 1 0 0\nvn 0 0 1\nv 1 0 0 0 1 0\nvn 0 0 1\nv 0 1 0 0 0 1\nvn 0 0 1\n",
    );
    let s = scene::load(&obj).expect("load");
    assert!(s.meshes.is_empty());
    assert_eq!(s.point_sets.len(), 1);
    let ps = &s.point_sets[0];
    assert_eq!(ps.positions, vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
    assert_eq!(ps.colors, vec![[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]]);
    let plain = write(&dir, "plain.obj", b"v 0 0 0\nv 1 0 0\n");
    let s = scene::load(&plain).expect("load");
    assert_eq!(s.point_sets[0].positions.len(), 2);
    assert!(s.point_sets[0].colors.is_empty() || s.point_sets[0].colors.len() == 2);
    let nan = write(&dir, "nan.obj", b"v 0 0 0\nv nan 0 0\n");
    let e = scene::load(&nan).map(|_| ()).expect_err("NaN").to_string();
    assert!(e.contains("nan.obj"), "{e}");
}

/// KHR_mesh_quantization (normalized u16 positions, i8 normals, u8 UVs, integer second UVs),
/// two UV sets and KHR_texture_transform (offset, rotation, scale, texCoord override) per
/// texture slot, a third UV set drawn with the first (warned), and
/// KHR_materials_pbrSpecularGlossiness converted to metallic-roughness on load.
#[test]
fn gltf_quantized_meshes_uv_sets_transforms_and_specular_glossiness() {
    let dir = tempdir("quantized");
    let mut bin: Vec<u8> = Vec::new();
    // Positions: normalized u16, stride 8.
    for p in [[0u16, 0, 0], [65535, 0, 0], [65535, 0, 65535], [0, 0, 65535]] {
        bin.extend(p.iter().flat_map(|c| c.to_le_bytes()));
        bin.extend([0, 0]);
    }
    // Normals: normalized i8, stride 4 (offset 32).
    for _ in 0..4 {
        bin.extend([0u8, 127, 0, 0]);
    }
    // TEXCOORD_0: normalized u8, stride 4 (offset 48).
    for t in [[0u8, 0], [255, 0], [255, 255], [0, 255]] {
        bin.extend([t[0], t[1], 0, 0]);
    }
    // TEXCOORD_1: unnormalized u16 (offset 64).
    for t in [[0u16, 0], [2, 0], [2, 2], [0, 2]] {
        bin.extend(t.iter().flat_map(|c| c.to_le_bytes()));
    }
    // Indices: u16 (offset 80).
    bin.extend([0u16, 2, 1, 0, 3, 2].iter().flat_map(|i| i.to_le_bytes()));
    let image = base64(&png(2, 2, |x, y| [10, 20, 30, if (x + y) % 2 == 0 { 255 } else { 0 }]));
    let gltf = format!(
        r#"{{"asset":{{"version":"2.0"}},
        "extensionsUsed":["KHR_mesh_quantization","KHR_texture_transform","KHR_materials_pbrSpecularGlossiness"],
        "extensionsRequired":["KHR_mesh_quantization","KHR_texture_transform"],
        "scene":0,"scenes":[{{"nodes":[0]}}],"nodes":[{{"mesh":0}}],
        "meshes":[{{"primitives":[
            {{"attributes":{{"POSITION":0,"NORMAL":1,"TEXCOORD_0":2,"TEXCOORD_1":3}},"indices":4,"material":0}},
            {{"attributes":{{"POSITION":0,"NORMAL":1,"TEXCOORD_0":2}},"indices":4,"material":1}}]}}],
        "materials":[
            {{"name":"transformed",
              "pbrMetallicRoughness":{{"baseColorTexture":{{"index":0,"extensions":{{"KHR_texture_transform":
                  {{"offset":[0.5,0.0],"rotation":0.3,"scale":[0.5,0.25],"texCoord":1}}}}}}}},
              "occlusionTexture":{{"index":0,"texCoord":1}},
              "normalTexture":{{"index":0,"texCoord":2}}}},
            {{"name":"specgloss","extensions":{{"KHR_materials_pbrSpecularGlossiness":
                {{"diffuseFactor":[0.2,0.4,0.6,1.0],"specularFactor":[0.04,0.04,0.04],"glossinessFactor":0.75,
                  "specularGlossinessTexture":{{"index":0}}}}}}}},
            {{"name":"specgloss textured","extensions":{{"KHR_materials_pbrSpecularGlossiness":
                {{"diffuseTexture":{{"index":0}}}}}}}},
            {{"name":"specgloss metal","extensions":{{"KHR_materials_pbrSpecularGlossiness":
                {{"diffuseFactor":[0.0,0.0,0.0,1.0],"specularFactor":[0.9,0.6,0.3]}}}}}}],
        "textures":[{{"source":0}}],
        "images":[{{"uri":"data:image/png;base64,{image}"}}],
        "buffers":[{{"byteLength":{len},"uri":"data:application/octet-stream;base64,{b64}"}}],
        "bufferViews":[{{"buffer":0,"byteOffset":0,"byteLength":32,"byteStride":8}},
                       {{"buffer":0,"byteOffset":32,"byteLength":16,"byteStride":4}},
                       {{"buffer":0,"byteOffset":48,"byteLength":16,"byteStride":4}},
                       {{"buffer":0,"byteOffset":64,"byteLength":16}},
                       {{"buffer":0,"byteOffset":80,"byteLength":12}}],
        "accessors":[{{"bufferView":0,"componentType":5123,"normalized":true,"count":4,"type":"VEC3","min":[0,0,0],"max":[65535,0,65535]}},
                     {{"bufferView":1,"componentType":5120,"normalized":true,"count":4,"type":"VEC3"}},
                     {{"bufferView":2,"componentType":5121,"normalized":true,"count":4,"type":"VEC2"}},
                     {{"bufferView":3,"componentType":5123,"count":4,"type":"VEC2"}},
                     {{"bufferView":4,"componentType":5123,"count":6,"type":"SCALAR"}}]}}"#,
        len = bin.len(),
        b64 = base64(&bin)
    );
    let path = write(&dir, "quantized.gltf", gltf.as_bytes());
    let s = load_gltf(&path).expect("quantized, transformed");
    let p = &s.meshes[0].primitives[0];
    assert_eq!(
        p.positions,
        vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    );
    assert_eq!(p.normals, vec![[0.0, 1.0, 0.0]; 4]);
    assert_eq!(p.uvs, vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
    assert_eq!(p.uvs1, vec![[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]);
    assert!(s.meshes[0].primitives[1].uvs1.is_empty());
    let m = &s.materials[0];
    use scene::texture_slot::{BASE_COLOR, NORMAL, OCCLUSION};
    let t = m.uv_transforms[BASE_COLOR];
    assert_eq!((t.set, t.offset, t.rotation, t.scale), (1, [0.5, 0.0], 0.3, [0.5, 0.25]));
    assert_eq!(m.uv_transforms[OCCLUSION], scene::UvTransform { set: 1, ..Default::default() });
    assert_eq!(m.uv_transforms[NORMAL].set, 0, "a third set is drawn with the first");
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("TEXCOORD_2"), "{}", s.warnings[0]);
    // The transform is KHR_texture_transform's T * R * S: rotation counter-clockwise in UV
    // space, so the spec's example (offset [0, 1], a quarter turn, half scale) reads the
    // image's lower-left quadrant.
    let quarter = scene::UvTransform {
        set: 0,
        offset: [0.0, 1.0],
        rotation: std::f32::consts::FRAC_PI_2,
        scale: [0.5, 0.5],
    };
    for (uv, want) in [([0.0, 0.0], [0.0, 1.0]), ([1.0, 0.0], [0.0, 0.5]), ([1.0, 1.0], [0.5, 0.5])]
    {
        let got = quarter.apply(uv);
        assert!(
            (got[0] - want[0]).abs() < 1e-6 && (got[1] - want[1]).abs() < 1e-6,
            "{uv:?}: {got:?}"
        );
    }
    // Specular-glossiness: diffuse -> base color, a dielectric whose roughness comes from the
    // glossiness (factor x the texture's alpha) in a made metallic-roughness texture.
    let g = &s.materials[1];
    assert_eq!(g.base_color, [0.2, 0.4, 0.6, 1.0]);
    assert_eq!((g.metallic, g.roughness, g.specular), (0.0, 1.0, 1.0));
    let r = &s.textures[g.metallic_roughness_texture.expect("roughness from glossiness")];
    match &r.pixels {
        // Alpha 255 -> roughness 1 - 0.75; alpha 0 -> 1.
        scene::TexturePixels::Rgba8(px) => {
            assert_eq!(px[0][1], 64);
            assert_eq!(px[1][1], 255);
        }
        other => panic!("expected RGBA8, got {other:?}"),
    }
    assert!(!r.srgb);
    // A diffuse texture with the default (white) specular factor stays a textured dielectric;
    // an untextured specular color brighter than any dielectric makes a metal of it.
    let t = &s.materials[2];
    assert!(t.base_color_texture.is_some() && t.metallic == 0.0, "{t:?}");
    let m = &s.materials[3];
    assert_eq!((m.metallic, m.base_color), (1.0, [0.9, 0.6, 0.3, 1.0]));

    // A required extension neither the loader nor the parser knows is named alone, even next
    // to ones it supports.
    let draco = gltf.replace(
        r#""extensionsRequired":["KHR_mesh_quantization","#,
        r#""extensionsRequired":["KHR_mesh_quantization","KHR_draco_mesh_compression","#,
    );
    let path = write(&dir, "draco.gltf", draco.as_bytes());
    let e = load_gltf(&path).expect_err("draco").to_string();
    assert!(
        e.ends_with("needs glTF extension KHR_draco_mesh_compression, which is not supported"),
        "{e}"
    );
}

/// KHR_materials_ior, transmission, volume, clearcoat and sheen are read (factors; a texture
/// of theirs is not drawn, with a warning naming it), and may be required.
#[test]
fn gltf_material_layers_are_loaded() {
    let dir = tempdir("layers");
    let tri = triangle_gltf([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [0, 1, 2], None);
    let gltf = tri
        .replacen(
            r#""asset":{"version":"2.0"},"#,
            r#""asset":{"version":"2.0"},
            "extensionsUsed":["KHR_materials_ior","KHR_materials_transmission","KHR_materials_volume","KHR_materials_clearcoat","KHR_materials_sheen"],
            "extensionsRequired":["KHR_materials_transmission","KHR_materials_volume"],
            "materials":[{"name":"glass","extensions":{
                "KHR_materials_ior":{"ior":1.33},
                "KHR_materials_transmission":{"transmissionFactor":0.9,"transmissionTexture":{"index":0,"texCoord":1}},
                "KHR_materials_volume":{"thicknessFactor":0.5,"attenuationDistance":2.0,"attenuationColor":[0.5,0.6,0.7]},
                "KHR_materials_clearcoat":{"clearcoatFactor":0.8,"clearcoatRoughnessFactor":0.2,
                    "clearcoatNormalTexture":{"index":0}},
                "KHR_materials_sheen":{"sheenColorFactor":[0.1,0.2,0.3],"sheenRoughnessFactor":0.4,
                    "sheenColorTexture":{"index":0,"extensions":{"KHR_texture_transform":{"scale":[2,2]}}}}}}],
            "textures":[{"source":0}],"images":[{"uri":"data:image/png;base64,IMAGE"}],"#,
            1,
        )
        .replacen(r#""indices":1}"#, r#""indices":1,"material":0}"#, 1)
        .replacen("IMAGE", &base64(&png(2, 2, |x, _| [x as u8 * 200, 50, 50, 255])), 1);
    let path = write(&dir, "layers.gltf", gltf.as_bytes());
    let s = load_gltf(&path).expect("layers");
    let m = &s.materials[0];
    assert_eq!((m.ior, m.transmission, m.thickness), (1.33, 0.9, 0.5));
    assert_eq!((m.attenuation_distance, m.attenuation_color), (2.0, [0.5, 0.6, 0.7]));
    assert_eq!((m.clearcoat, m.clearcoat_roughness), (0.8, 0.2));
    assert_eq!((m.sheen_color, m.sheen_roughness), ([0.1, 0.2, 0.3], 0.4));
    // The layers' textures: each slot with its UV set and transform; the image is linear for
    // transmission and sRGB for the sheen color (two textures); the clear coat's normal map is
    // not drawn (one warning).
    use scene::texture_slot::{SHEEN_COLOR, TRANSMISSION};
    let (t, c) =
        (m.transmission_texture.expect("transmission"), m.sheen_color_texture.expect("sheen"));
    assert!(!s.textures[t].srgb && s.textures[c].srgb);
    assert_eq!(m.uv_transforms[TRANSMISSION].set, 1);
    assert_eq!(m.uv_transforms[SHEEN_COLOR].scale, [2.0, 2.0]);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].contains("clearcoatNormalTexture"), "{}", s.warnings[0]);
    // An ior below 1 (other than 0) is replaced by 1.5, with a warning.
    let bad = gltf.replace(r#""ior":1.33"#, r#""ior":0.5"#);
    let s = load_gltf(write(&dir, "bad_ior.gltf", bad.as_bytes())).expect("bad ior");
    assert_eq!(s.materials[0].ior, 1.5);
    assert!(s.warnings.iter().any(|w| w.contains("ior 0.5")), "{:?}", s.warnings);
    // Defaults: no volume attenuation, ior 1.5.
    let d = scene::Material::default();
    assert_eq!((d.ior, d.transmission, d.attenuation_distance), (1.5, 0.0, f32::INFINITY));
}

/// EXT_meshopt_compression: positions (octahedral-free attributes) and triangle indices
/// compressed by meshoptimizer into one buffer, their views in a data-less fallback buffer,
/// decode to the original mesh; corrupt compressed data is an error naming the view.
#[test]
fn gltf_meshopt_compressed_buffers_decode() {
    let dir = tempdir("meshopt");
    let sphere = scene::shapes::uv_sphere(0, 16, 8);
    let positions: Vec<[f32; 4]> =
        sphere.positions.iter().map(|p| [p[0], p[1], p[2], 0.0]).collect();
    let vertices = meshopt::encode_vertex_buffer(&positions).expect("encode vertices");
    let indices = meshopt::encode_index_buffer(&sphere.indices, positions.len()).expect("encode");
    let mut packed = vertices.clone();
    packed.resize(packed.len().next_multiple_of(4), 0);
    let index_offset = packed.len();
    packed.extend(&indices);
    packed.resize(packed.len().next_multiple_of(4), 0);
    let (nv, ni) = (positions.len(), sphere.indices.len());
    let gltf = |data: &[u8]| {
        format!(
            r#"{{"asset":{{"version":"2.0"}},
            "extensionsUsed":["EXT_meshopt_compression"],"extensionsRequired":["EXT_meshopt_compression"],
            "scene":0,"scenes":[{{"nodes":[0]}}],"nodes":[{{"mesh":0}}],
            "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}},"indices":1}}]}}],
            "buffers":[{{"byteLength":{plen},"uri":"data:application/octet-stream;base64,{b64}"}},
                       {{"byteLength":{flen},"extensions":{{"EXT_meshopt_compression":{{"fallback":true}}}}}}],
            "bufferViews":[
                {{"buffer":1,"byteOffset":0,"byteLength":{vlen},"byteStride":16,
                  "extensions":{{"EXT_meshopt_compression":{{"buffer":0,"byteOffset":0,"byteLength":{vc},"byteStride":16,"count":{nv},"mode":"ATTRIBUTES"}}}}}},
                {{"buffer":1,"byteOffset":{vlen},"byteLength":{ilen},
                  "extensions":{{"EXT_meshopt_compression":{{"buffer":0,"byteOffset":{index_offset},"byteLength":{ic},"byteStride":4,"count":{ni},"mode":"TRIANGLES"}}}}}}],
            "accessors":[{{"bufferView":0,"componentType":5126,"count":{nv},"type":"VEC3","min":[-1,-1,-1],"max":[1,1,1]}},
                         {{"bufferView":1,"componentType":5125,"count":{ni},"type":"SCALAR"}}]}}"#,
            plen = data.len(),
            b64 = base64(data),
            flen = nv * 16 + ni * 4,
            vlen = nv * 16,
            ilen = ni * 4,
            vc = vertices.len(),
            ic = indices.len(),
        )
    };
    let path = write(&dir, "compressed.gltf", gltf(&packed).as_bytes());
    let s = load_gltf(&path).expect("meshopt");
    // No NORMAL: the loader unwelds for flat shading, so compare the triangles' corners
    // (each triangle's rotation may differ: the index codec keeps the winding).
    let p = &s.meshes[0].primitives[0];
    let corners = |pos: &[[f32; 3]], idx: &[u32]| {
        let mut t: Vec<[[u32; 3]; 3]> = idx
            .chunks_exact(3)
            .map(|c| {
                let v = [0, 1, 2].map(|k| pos[c[k] as usize].map(f32::to_bits));
                let k = (0..3).min_by_key(|&k| v[k]).unwrap_or(0);
                [v[k], v[(k + 1) % 3], v[(k + 2) % 3]]
            })
            .collect();
        t.sort_unstable();
        t
    };
    let same = corners(&p.positions, &p.indices) == corners(&sphere.positions, &sphere.indices);
    assert!(same, "the decoded triangles differ from the encoded ones");
    // Corrupt compressed vertices: an error naming the view, no panic.
    let mut bad = packed.clone();
    bad[..vertices.len()].fill(0xff);
    let path = write(&dir, "corrupt.gltf", gltf(&bad).as_bytes());
    let e = load_gltf(&path).expect_err("corrupt").to_string();
    assert!(e.contains("corrupt.gltf") && e.contains("buffer view 0"), "{e}");
}

/// The up axis: glTF says +Y whatever its shape; a PLY flat in Z (terrain, a lidar sweep) is
/// +Z up, one that is not is +Y; the default view of a +Z-up file looks with +Z up.
#[test]
fn up_axis_from_the_convention_or_the_shape() {
    let dir = tempdir("up");
    let ply = |name: &str, points: &[[f32; 3]]| {
        let mut text = format!(
            "ply\nformat ascii 1.0\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\nend_header\n",
            points.len()
        );
        for p in points {
            text.push_str(&format!("{} {} {}\n", p[0], p[1], p[2]));
        }
        scene::load(write(&dir, name, text.as_bytes())).expect("ply")
    };
    let terrain =
        ply("terrain.ply", &[[0.0, 0.0, 0.0], [4.0, 0.0, 0.2], [4.0, 3.0, 0.5], [0.0, 3.0, 0.1]]);
    assert_eq!(terrain.up_axis(), glam::Vec3::Z);
    let tall = ply("tall.ply", &[[0.0, 0.0, 0.0], [1.0, 1.0, 5.0], [0.5, 0.2, 2.0]]);
    assert_eq!(tall.up_axis(), glam::Vec3::Y);
    let flat = triangle_gltf([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 3.0, 0.0]], [0, 1, 2], None);
    let gltf = load_gltf(write(&dir, "flat.gltf", flat.as_bytes())).expect("gltf");
    assert_eq!(gltf.up_axis(), glam::Vec3::Y, "glTF is +Y up by its specification");
    // The default view of the terrain has +Z up on screen.
    let view = scene::View::from_scene(&terrain, None, 64, 64).expect("view");
    let camera_up = view.view.inverse().y_axis.truncate();
    assert!(camera_up.z > 0.5, "camera up {camera_up}");
}

/// glTF animation: a node's LINEAR translation, STEP rotation and CUBICSPLINE scale channels
/// sampled at chosen times against values computed by hand; the file opens at its first key.
#[test]
fn gltf_node_animation_channels() {
    let dir = tempdir("animation");
    let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut bin = Vec::new();
    // Triangle positions (36 bytes) and indices (12).
    bin.extend(f(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
    bin.extend([0u32, 1, 2].iter().flat_map(|i| i.to_le_bytes()));
    let times = bin.len(); // 48: times 0, 1, 2
    bin.extend(f(&[0.0, 1.0, 2.0]));
    let translations = bin.len(); // 60
    bin.extend(f(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 0.0]));
    let rotations = bin.len(); // 96: identity, a quarter turn about y, a half turn
    let s = std::f32::consts::FRAC_1_SQRT_2;
    bin.extend(f(&[0.0, 0.0, 0.0, 1.0, 0.0, s, 0.0, s, 0.0, 1.0, 0.0, 0.0]));
    let scales = bin.len(); // 144: cubic keys (in, value, out) x 3, zero tangents
    bin.extend(f(&[
        0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, //
        0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, //
        0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0,
    ]));
    let gltf = format!(
        r#"{{"asset":{{"version":"2.0"}},"scene":0,"scenes":[{{"nodes":[0]}}],
        "nodes":[{{"mesh":0,"translation":[5,5,5]}}],
        "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}},"indices":1}}]}}],
        "animations":[{{"name":"move","samplers":[
            {{"input":2,"output":3,"interpolation":"LINEAR"}},
            {{"input":2,"output":4,"interpolation":"STEP"}},
            {{"input":2,"output":5,"interpolation":"CUBICSPLINE"}}],
          "channels":[{{"sampler":0,"target":{{"node":0,"path":"translation"}}}},
                      {{"sampler":1,"target":{{"node":0,"path":"rotation"}}}},
                      {{"sampler":2,"target":{{"node":0,"path":"scale"}}}}]}}],
        "buffers":[{{"byteLength":{len},"uri":"data:application/octet-stream;base64,{b64}"}}],
        "bufferViews":[{{"buffer":0,"byteOffset":0,"byteLength":36}},{{"buffer":0,"byteOffset":36,"byteLength":12}},
                       {{"buffer":0,"byteOffset":{times},"byteLength":12}},{{"buffer":0,"byteOffset":{translations},"byteLength":36}},
                       {{"buffer":0,"byteOffset":{rotations},"byteLength":48}},{{"buffer":0,"byteOffset":{scales},"byteLength":108}}],
        "accessors":[{{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3","min":[0,0,0],"max":[1,1,0]}},
                     {{"bufferView":1,"componentType":5125,"count":3,"type":"SCALAR"}},
                     {{"bufferView":2,"componentType":5126,"count":3,"type":"SCALAR","min":[0],"max":[2]}},
                     {{"bufferView":3,"componentType":5126,"count":3,"type":"VEC3"}},
                     {{"bufferView":4,"componentType":5126,"count":3,"type":"VEC4"}},
                     {{"bufferView":5,"componentType":5126,"count":9,"type":"VEC3"}}]}}"#,
        len = bin.len(),
        b64 = base64(&bin)
    );
    let mut s = load_gltf(write(&dir, "animated.gltf", gltf.as_bytes())).expect("animated");
    assert_eq!(s.time_span(), Some((0.0, 2.0)));
    let trs = |s: &scene::Scene| s.nodes[0].local.to_scale_rotation_translation();
    let close = |a: glam::Vec3, b: [f32; 3]| (a - glam::Vec3::from(b)).length() < 1e-5;
    // Opened at the first key: the animation replaces the rest translation (5, 5, 5).
    let (sc, _, tr) = trs(&s);
    assert!(close(tr, [0.0, 0.0, 0.0]) && close(sc, [1.0; 3]), "{tr} {sc}");
    s.set_time(0.5);
    let (sc, rot, tr) = trs(&s);
    assert!(close(tr, [0.5, 0.0, 0.0]), "linear translation at 0.5 s: {tr}");
    assert!(rot.dot(glam::Quat::IDENTITY).abs() > 1.0 - 1e-6, "step rotation at 0.5 s: {rot}");
    // Zero tangents: 1 + 2 * (3 s^2 - 2 s^3) at s = 0.5: 2.
    assert!(close(sc, [2.0; 3]), "cubic scale at 0.5 s: {sc}");
    s.set_time(1.5);
    let (sc, rot, tr) = trs(&s);
    assert!(close(tr, [1.0, 1.0, 0.0]), "{tr}");
    let quarter = glam::Quat::from_rotation_y(std::f32::consts::FRAC_PI_2);
    assert!(rot.dot(quarter).abs() > 1.0 - 1e-6, "step rotation at 1.5 s: {rot}");
    assert!(close(sc, [3.0; 3]), "{sc}");
    // Past the end: held.
    s.set_time(10.0);
    assert!(close(trs(&s).2, [1.0, 2.0, 0.0]));
}

/// A file's animations are clips: ones that move different nodes play together (as in
/// InterpolationTest, one animation per cube), ones of the same nodes one at a time (the
/// first; another chosen with `play_clip`); morph target weights are animated.
#[test]
fn gltf_animations_are_clips_played_together_or_chosen() {
    let dir = tempdir("clips");
    let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut bin = f(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]); // triangle, 36
    bin.extend(f(&[0.0, 1.0])); // times at 36
    bin.extend(f(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0])); // +x at 44
    bin.extend(f(&[0.0, 0.0, 0.0, 0.0, 3.0, 0.0])); // +3y at 68
    bin.extend(f(&[0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0])); // morph target +z at 92
    bin.extend(f(&[0.0, 1.0])); // weights at 128
    let gltf = |second_node: usize| {
        format!(
            r#"{{"asset":{{"version":"2.0"}},"scene":0,"scenes":[{{"nodes":[0,1]}}],
            "nodes":[{{"mesh":0}},{{"mesh":1,"translation":[5,0,0]}}],
            "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}}}}]}},
                      {{"primitives":[{{"attributes":{{"POSITION":0}},"targets":[{{"POSITION":4}}]}}],"weights":[0.25]}}],
            "animations":[
              {{"name":"slide","samplers":[{{"input":1,"output":2}}],
                "channels":[{{"sampler":0,"target":{{"node":0,"path":"translation"}}}}]}},
              {{"name":"lift","samplers":[{{"input":1,"output":3}}],
                "channels":[{{"sampler":0,"target":{{"node":{second_node},"path":"translation"}}}}]}},
              {{"name":"morph","samplers":[{{"input":1,"output":5}}],
                "channels":[{{"sampler":0,"target":{{"node":1,"path":"weights"}}}}]}}],
            "buffers":[{{"byteLength":{len},"uri":"data:application/octet-stream;base64,{b64}"}}],
            "bufferViews":[{{"buffer":0,"byteOffset":0,"byteLength":36}},{{"buffer":0,"byteOffset":36,"byteLength":8}},
                           {{"buffer":0,"byteOffset":44,"byteLength":24}},{{"buffer":0,"byteOffset":68,"byteLength":24}},
                           {{"buffer":0,"byteOffset":92,"byteLength":36}},{{"buffer":0,"byteOffset":128,"byteLength":8}}],
            "accessors":[{{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3","min":[0,0,0],"max":[1,1,0]}},
                         {{"bufferView":1,"componentType":5126,"count":2,"type":"SCALAR","min":[0],"max":[1]}},
                         {{"bufferView":2,"componentType":5126,"count":2,"type":"VEC3"}},
                         {{"bufferView":3,"componentType":5126,"count":2,"type":"VEC3"}},
                         {{"bufferView":4,"componentType":5126,"count":3,"type":"VEC3"}},
                         {{"bufferView":5,"componentType":5126,"count":2,"type":"SCALAR"}}]}}"#,
            len = bin.len(),
            b64 = base64(&bin)
        )
    };
    // Different nodes: all three play.
    let mut s = load_gltf(write(&dir, "apart.gltf", gltf(1).as_bytes())).expect("apart");
    assert_eq!(s.clips.len(), 3);
    assert_eq!(s.active_clip, None);
    s.set_time(0.5);
    assert_eq!(s.nodes[0].local.w_axis.x, 0.5);
    assert_eq!(s.nodes[1].local.w_axis.y, 1.5);
    assert_eq!(s.nodes[1].morph_weights, vec![0.5], "the weights channel");
    let d = s.deformed(1, 0).expect("morphed");
    assert_eq!(d.positions[0], [0.0, 0.0, 0.5]);
    // The same node: the first plays; the second when chosen (the first's node at rest).
    let mut s = load_gltf(write(&dir, "same.gltf", gltf(0).as_bytes())).expect("same");
    assert_eq!(s.active_clip, Some(0));
    s.set_time(1.0);
    assert_eq!((s.nodes[0].local.w_axis.x, s.nodes[0].local.w_axis.y), (1.0, 0.0));
    assert!(s.play_clip(Some(1)));
    s.set_time(1.0);
    assert_eq!((s.nodes[0].local.w_axis.x, s.nodes[0].local.w_axis.y), (0.0, 3.0));
    assert_eq!(s.nodes[1].morph_weights, vec![0.25], "the morph clip is not playing");
    assert!(!s.play_clip(Some(7)));
}

type Npz<'a, T> = &'a [(&'a str, &'a [u64], Vec<T>)];

/// Writes an `.npz` archive of `f32` arrays `(name, shape, values)` and `u8` ones.
fn write_npz(path: &Path, floats: Npz<'_, f32>, bytes: Npz<'_, u8>) {
    let mut npz = npyz::npz::NpzWriter::create(path).expect("npz");
    for (name, shape, v) in floats {
        write_array(&mut npz, name, shape, v);
    }
    for (name, shape, v) in bytes {
        write_array(&mut npz, name, shape, v);
    }
}

fn write_array<T: npyz::AutoSerialize + Copy, W: std::io::Write + std::io::Seek>(
    npz: &mut npyz::npz::NpzWriter<W>,
    name: &str,
    shape: &[u64],
    values: &[T],
) {
    use npyz::WriterBuilder;
    let opts = npyz::zip::write::FileOptions::default();
    let array = npz.array::<T>(name, opts).expect("array");
    let mut w = array.default_dtype().shape(shape).begin_nd().expect("begin");
    w.extend(values.iter().copied()).expect("write");
    w.finish().expect("finish");
}

/// A 3D `.npy` array (Z x Y x X) opens as a voxel grid: filled where above 0, only the faces
/// between filled and empty cells; a grid with a zero dimension is an error naming the file.
#[test]
fn voxel_grid_from_a_3d_npy_array() {
    let dir = tempdir("voxels");
    let write = |name: &str, shape: &[u64], values: &[f32]| {
        use npyz::WriterBuilder;
        let path = dir.join(name);
        let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("npy"));
        let opts = npyz::WriteOptions::<f32>::new().default_dtype().shape(shape).writer(file);
        let mut w = opts.begin_nd().expect("begin");
        w.extend(values.iter().copied()).expect("write");
        w.finish().expect("finish");
        path
    };
    // 2 x 2 x 3 (z, y, x): two cells filled, touching along x at z = 1, y = 0.
    let mut v = vec![0.0f32; 12];
    v[6] = 1.0; // z 1, y 0, x 0
    v[7] = 2.0; // z 1, y 0, x 1
    v[11] = f32::NAN; // empty
    let s = scene::load(write("grid.npy", &[2, 2, 3], &v)).expect("grid");
    let p = &s.meshes[0].primitives[0];
    assert_eq!(p.indices.len() / 6, 10, "two touching cells: 10 faces");
    assert!(p.positions.iter().all(|q| q[2] >= 1.0 && q[2] <= 2.0 && q[0] <= 2.0), "at z 1, x 0-2");
    assert_eq!(p.colors.len(), p.positions.len());
    let e = scene::load(write("empty.npy", &[2, 0, 3], &[])).expect_err("a zero dimension");
    assert!(e.to_string().contains("empty.npy") && e.to_string().contains("Z x Y x X"), "{e}");
}

/// NumPy point clouds: `.npy` positions; `.npz` with each optional array (uint8 and float
/// colours, normals, scalars through a colormap); wrong shapes, counts and missing arrays are
/// errors that name the file and the array.
#[test]
fn numpy_point_clouds_npy_and_npz() {
    let dir = tempdir("numpy");
    let pos: Vec<f32> = vec![0.0, 0.0, 0.0, 1.0, 2.0, 3.0];
    let npy = dir.join("p.npy");
    {
        use npyz::WriterBuilder;
        let file = std::io::BufWriter::new(std::fs::File::create(&npy).expect("npy"));
        let opts = npyz::WriteOptions::<f32>::new().default_dtype().shape(&[2, 3]).writer(file);
        let mut w = opts.begin_nd().expect("begin");
        w.extend(pos.iter().copied()).expect("write");
        w.finish().expect("finish");
    }
    let s = scene::load(&npy).expect("npy");
    assert_eq!(s.point_sets[0].positions, vec![[0.0; 3], [1.0, 2.0, 3.0]]);
    // Every optional array.
    let all = dir.join("all.npz");
    write_npz(
        &all,
        &[
            ("positions", &[2, 3], pos.clone()),
            ("normals", &[2, 3], vec![0.0, 0.0, 1.0, 0.0, 1.0, 0.0]),
            ("scalars", &[2], vec![1.0, 5.0]),
        ],
        &[("colors", &[2, 3], vec![255, 0, 0, 0, 128, 255])],
    );
    let s = scene::load(&all).expect("npz");
    let p = &s.point_sets[0];
    assert_eq!(p.colors, vec![[255, 0, 0, 255], [0, 128, 255, 255]]);
    assert_eq!(p.scalars, vec![1.0, 5.0]);
    // Float colours 0-1 with alpha; scalars alone get a colormap over their range.
    let floats = dir.join("floats.npz");
    write_npz(
        &floats,
        &[
            ("positions", &[2, 3], pos.clone()),
            ("colors", &[2, 4], vec![1.0, 0.5, 0.0, 1.0, 0.0, 0.0, 1.0, 0.5]),
        ],
        &[],
    );
    assert_eq!(
        scene::load(&floats).expect("floats").point_sets[0].colors,
        vec![[255, 128, 0, 255], [0, 0, 255, 128]]
    );
    let scalars = dir.join("scalars.npz");
    write_npz(
        &scalars,
        &[
            ("positions", &[2, 3], pos.clone()),
            ("scalars", &[2], vec![-1.0, 3.0]),
            ("extra", &[1], vec![0.0]),
        ],
        &[],
    );
    let s = scene::load(&scalars).expect("scalars");
    let map = s.point_sets[0].colormap.expect("a colormap");
    assert_eq!((map.min, map.max), (-1.0, 3.0));
    assert!(s.warnings.iter().any(|w| w.contains("extra")), "{:?}", s.warnings);
    // Bad input.
    let err = |name: &str, floats: &[(&str, &[u64], Vec<f32>)]| {
        let f = dir.join(name);
        write_npz(&f, floats, &[]);
        scene::load(&f).expect_err(name).to_string()
    };
    let e = err("noposition.npz", &[("points", &[2, 3], pos.clone())]);
    assert!(
        e.contains("noposition.npz") && e.contains("'positions'") && e.contains("points"),
        "{e}"
    );
    let e = err("shape.npz", &[("positions", &[3, 2], pos.clone())]);
    assert!(e.contains("shape [3, 2]") && e.contains("N x 3"), "{e}");
    let e =
        err("count.npz", &[("positions", &[2, 3], pos.clone()), ("scalars", &[3], vec![0.0; 3])]);
    assert!(e.contains("'scalars' has 3 rows for 2 positions"), "{e}");
    let e = err("nan.npz", &[("positions", &[2, 3], vec![f32::NAN; 6])]);
    assert!(e.contains("non-finite"), "{e}");
    std::fs::write(dir.join("garbage.npz"), b"not a zip").expect("write");
    assert!(scene::load(dir.join("garbage.npz"))
        .expect_err("garbage")
        .to_string()
        .contains("garbage.npz"));
}

/// Sequences: a glob and a folder in natural order; timestamps from lines or a CSV column.
#[test]
fn sequences_from_globs_folders_and_timestamps() {
    use scene::sequence::{expand, read_times};
    let dir = tempdir("sequence");
    for i in [1, 2, 10, 9, 100] {
        std::fs::write(dir.join(format!("scan_{i}.ply")), b"ply").expect("write");
    }
    std::fs::write(dir.join("notes.txt"), b"x").expect("write");
    std::fs::write(dir.join("cover.png"), b"x").expect("write");
    let names = |v: Vec<PathBuf>| -> Vec<String> {
        v.iter().map(|p| p.file_name().expect("name").to_string_lossy().into_owned()).collect()
    };
    let want = ["scan_1.ply", "scan_2.ply", "scan_9.ply", "scan_10.ply", "scan_100.ply"];
    let glob = format!("{}/scan_*.ply", dir.display());
    assert_eq!(names(expand(&glob).expect("glob")), want);
    // A folder: its most common frame format (the cover image and the notes left out).
    assert_eq!(names(expand(&dir.display().to_string()).expect("folder")), want);
    assert!(expand(&format!("{}/none_*.ply", dir.display())).is_err());
    assert!(expand(&format!("{}/[", dir.display())).is_err(), "a bad pattern");
    let lines = dir.join("t.txt");
    std::fs::write(&lines, "# times\n0.0\n0.1\n\n0.25\n").expect("write");
    assert_eq!(read_times(&lines).expect("lines"), vec![0.0, 0.1, 0.25]);
    let csv = dir.join("t.csv");
    std::fs::write(&csv, "frame,time,x\n0,1.5,9\n1,2.0,9\n").expect("write");
    assert_eq!(read_times(&csv).expect("csv"), vec![1.5, 2.0]);
    std::fs::write(&csv, "frame,stamp\n0,1\n").expect("write");
    assert!(read_times(&csv).expect_err("no time").to_string().contains("no 'time' column"));
    std::fs::write(&lines, "0.0\n0.0\n").expect("write");
    assert!(read_times(&lines).expect_err("repeat").to_string().contains("line 2"));
    std::fs::write(&lines, "0.0\nabc\n").expect("write");
    assert!(read_times(&lines).expect_err("text").to_string().contains("'abc'"));
}

/// A sequence of 50 PLY files streamed through a small cache into a point set's positions
/// (a property whose source is the stream): each time shows its own file's points.
#[test]
fn stream_ply_files_into_a_point_set() {
    use scene::stream::{FramePart, SceneDecoder, Stream, StreamSource};
    use std::sync::Arc;
    let dir = tempdir("stream");
    let mut files = Vec::new();
    for k in 0..50 {
        let p = dir.join(format!("scan_{k}.ply"));
        let body = format!(
            "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n{k} 0 0\n{k} 1 0\n{k} 0 1\n"
        );
        std::fs::write(&p, body).expect("ply");
        files.push(p);
    }
    let files = scene::sequence::expand(&format!("{}/scan_*.ply", dir.display())).expect("glob");
    assert_eq!(files[10].file_name().and_then(|n| n.to_str()), Some("scan_10.ply"));
    let times = (0..50).map(|k| f64::from(k) / 10.0).collect();
    let stream = Arc::new(Stream::new(files, times, Arc::new(SceneDecoder), 4096, 2));
    let mut s = scene::Scene::default();
    s.point_sets.push(scene::PointSet::new("scan", vec![[-1.0; 3]; 3]));
    s.properties.push(scene::PropertyTrack {
        property: scene::Property::PointPositions(0),
        samples: scene::Samples::Source(Arc::new(StreamSource::new(
            Arc::clone(&stream),
            FramePart::Positions,
            4,
        ))),
    });
    assert_eq!(s.time_span(), Some((0.0, 4.9)));
    for k in 0..50 {
        let t = f64::from(k) / 10.0;
        let start = std::time::Instant::now();
        loop {
            s.set_time(t);
            if s.point_sets[0].positions.first().map(|p| p[0]) == Some(k as f32) {
                break;
            }
            assert!(start.elapsed().as_secs() < 10, "frame {k} never came");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(
            s.point_sets[0].positions,
            vec![[k as f32, 0.0, 0.0], [k as f32, 1.0, 0.0], [k as f32, 0.0, 1.0]]
        );
    }
    let st = stream.stats();
    assert!(st.evicted > 0 && st.bytes <= st.budget + 200, "{st:?}");
}

/// Binary point clouds take the fast path (read at their offsets); it gives what the generic
/// parser gives for the same data in ASCII: positions, colours (bytes and floats), a scalar
/// through viridis; little and big endian; a truncated file is an error naming it.
#[test]
fn binary_point_clouds_read_fast_as_the_generic_parser_does() {
    let dir = std::env::temp_dir().join(format!("xpg-plyfast-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let pts: Vec<[f32; 3]> =
        (0..37).map(|i| [i as f32 * 0.5, -(i as f32), 0.25 * i as f32]).collect();
    // (name, header properties, ascii cells per point, binary bytes per point (le, be))
    type Cells = fn(usize, [f32; 3]) -> (String, Vec<u8>, Vec<u8>);
    let cases: [(&str, &str, Cells); 3] = [
        (
            "rgb",
            "property float x\nproperty float y\nproperty float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n",
            |i, p| {
                let c = [(i * 7 % 256) as u8, (i * 3 % 256) as u8, 200u8];
                let text = format!("{} {} {} {} {} {}", p[0], p[1], p[2], c[0], c[1], c[2]);
                let mut le = Vec::new();
                let mut be = Vec::new();
                for v in p {
                    le.extend_from_slice(&v.to_le_bytes());
                    be.extend_from_slice(&v.to_be_bytes());
                }
                le.extend_from_slice(&c);
                be.extend_from_slice(&c);
                (text, le, be)
            },
        ),
        (
            "float_rgba",
            "property double x\nproperty double y\nproperty double z\nproperty float red\nproperty float green\nproperty float blue\nproperty float alpha\n",
            |i, p| {
                let c = [i as f32 / 40.0, 0.5, 1.5, 0.25];
                let text = format!(
                    "{} {} {} {} {} {} {}",
                    p[0], p[1], p[2], c[0], c[1], c[2], c[3]
                );
                let mut le = Vec::new();
                let mut be = Vec::new();
                for v in p {
                    le.extend_from_slice(&f64::from(v).to_le_bytes());
                    be.extend_from_slice(&f64::from(v).to_be_bytes());
                }
                for v in c {
                    le.extend_from_slice(&v.to_le_bytes());
                    be.extend_from_slice(&v.to_be_bytes());
                }
                (text, le, be)
            },
        ),
        (
            "intensity",
            "property float x\nproperty float y\nproperty float z\nproperty ushort intensity\n",
            |i, p| {
                let s = (i * 100) as u16;
                let text = format!("{} {} {} {}", p[0], p[1], p[2], s);
                let mut le = Vec::new();
                let mut be = Vec::new();
                for v in p {
                    le.extend_from_slice(&v.to_le_bytes());
                    be.extend_from_slice(&v.to_be_bytes());
                }
                le.extend_from_slice(&s.to_le_bytes());
                be.extend_from_slice(&s.to_be_bytes());
                (text, le, be)
            },
        ),
    ];
    for (name, props, cells) in cases {
        let head = |format: &str| {
            format!(
                "ply\nformat {format} 1.0\ncomment test\nelement vertex {}\n{props}end_header\n",
                pts.len()
            )
        };
        let (mut ascii, mut le, mut be) = (
            head("ascii").into_bytes(),
            head("binary_little_endian").into_bytes(),
            head("binary_big_endian").into_bytes(),
        );
        for (i, p) in pts.iter().enumerate() {
            let (t, l, b) = cells(i, *p);
            ascii.extend_from_slice(t.as_bytes());
            ascii.push(b'\n');
            le.extend(l);
            be.extend(b);
        }
        let (pa, pl, pb) = (
            dir.join(format!("{name}_a.ply")),
            dir.join(format!("{name}_l.ply")),
            dir.join(format!("{name}_b.ply")),
        );
        std::fs::write(&pa, &ascii).expect("write");
        std::fs::write(&pl, &le).expect("write");
        std::fs::write(&pb, &be).expect("write");
        let generic = scene::load_ply(&pa).expect("ascii").point_sets.remove(0);
        for p in [&pl, &pb] {
            let fast = scene::load_ply(p).expect("binary").point_sets.remove(0);
            assert_eq!(fast.positions, generic.positions, "{name}");
            assert_eq!(fast.colors, generic.colors, "{name}");
            assert_eq!(fast.scalars, generic.scalars, "{name}");
            assert_eq!(fast.colormap, generic.colormap, "{name}");
        }
        // Cut short: an error that names the file.
        std::fs::write(&pl, &le[..le.len() - 5]).expect("write");
        let e = scene::load_ply(&pl).expect_err("truncated").to_string();
        assert!(e.contains(&format!("{name}_l.ply")), "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Time series: a CSV's columns beside `time` (gaps where a cell is empty), read by
/// `scene::load` as plots; values between samples are linear; the timeline spans them.
#[test]
fn csv_time_series_are_plots() {
    let dir = std::env::temp_dir().join(format!("xpg-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let p = dir.join("run.csv");
    std::fs::write(&p, "time;loss;lr;note\n0;1.0;0.1;a\n1;0.5;;b\n3;0.25;0.05;c\n").expect("csv");
    let s = scene::load(&p).expect("csv");
    let names: Vec<&str> = s.plots.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["loss", "lr"], "numeric columns only");
    let loss = &s.plots[0];
    assert_eq!(loss.value_at(0.5), Some(0.75));
    assert_eq!(loss.value_at(2.0), Some(0.375));
    assert_eq!(loss.value_at(3.0), Some(0.25));
    assert_eq!(loss.value_at(-1.0), None);
    assert_eq!(loss.value_at(3.5), None);
    assert_eq!(loss.range(), Some((0.25, 1.0)));
    assert_eq!(s.plots[1].value_at(0.5), None, "a gap");
    assert_eq!(s.time_span(), Some((0.0, 3.0)));
    std::fs::write(&p, "time,note\n0,a\n").expect("csv");
    let e = scene::load(&p).expect_err("nothing to plot").to_string();
    assert!(e.contains("run.csv") && e.contains("numeric"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sequences of meshes (OBJ) and images (PNG) stream as a mesh and an image quad: the
/// scene at a frame's time has that file's triangles or texels.
#[test]
fn mesh_and_image_sequences_stream_their_frames() {
    let dir = std::env::temp_dir().join(format!("xpg-meshseq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for k in 0..4 {
        let x = k as f32;
        std::fs::write(
            dir.join(format!("m{k}.obj")),
            format!(
                "v {x} 0 0\nv {} 0 0\nv {x} 1 0\nv {} 1 0\nf 1 2 3\nf 2 4 3\n",
                x + 1.0,
                x + 1.0
            ),
        )
        .expect("obj");
        let img = image::RgbaImage::from_pixel(4, 2, image::Rgba([10 * k as u8, 200, 30, 255]));
        img.save(dir.join(format!("i{k}.png"))).expect("png");
    }
    let mut m = scene::load(format!("{}/m*.obj", dir.display())).expect("mesh sequence");
    assert_eq!(m.meshes.len(), 1);
    assert!(m.point_sets.is_empty());
    assert!(m.set_time_waiting(2.0 / 30.0, std::time::Duration::from_secs(10)));
    let p = &m.meshes[0].primitives[0];
    assert_eq!(p.indices.len(), 6);
    assert!(p.positions.iter().all(|v| v[0] >= 2.0 && v[0] <= 3.0), "frame 2: {:?}", p.positions);
    assert_eq!(p.normals.len(), p.positions.len(), "normals made for the new positions");
    // Meshes with vertex colours: each frame's own.
    for k in 0..3u8 {
        let ply = format!(
            "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n\
             property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n\
             element face 1\nproperty list uchar int vertex_indices\nend_header\n\
             0 0 0 {r} 0 0\n1 0 0 {r} 0 0\n0 1 0 {r} 0 0\n3 0 1 2\n",
            r = 100 * k + 55
        );
        std::fs::write(dir.join(format!("c{k}.ply")), ply).expect("ply");
    }
    let mut c = scene::load(format!("{}/c*.ply", dir.display())).expect("coloured meshes");
    let first = c.meshes[0].primitives[0].colors.clone();
    assert_eq!(first.len(), 3, "the first frame's colours");
    assert!(c.set_time_waiting(2.0 / 30.0, std::time::Duration::from_secs(10)));
    let p = &c.meshes[0].primitives[0];
    let want = scene::srgba8_to_linear([255, 0, 0, 255]);
    assert!(
        p.colors.iter().all(|c| (c[0] - want[0]).abs() < 1e-3 && c[1] == 0.0),
        "{:?}",
        p.colors
    );
    assert!(first[0][0] < p.colors[0][0], "frame 0 is darker: {first:?}");
    let mut i = scene::load(format!("{}/i*.png", dir.display())).expect("image sequence");
    assert_eq!(i.textures.len(), 1);
    assert!(i.set_time_waiting(3.0 / 30.0, std::time::Duration::from_secs(10)));
    match &i.textures[0].pixels {
        scene::TexturePixels::Rgba8(px) => {
            assert_eq!(px[0], [30, 200, 30, 255], "frame 3's texels")
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Shapes from NumPy archives: `radii` makes the positions spheres (one radius for all or one
/// each, coloured by the scalars), `vectors` arrows (coloured by their lengths); both give
/// both; bad radii and vectors are errors naming the file and the array.
#[test]
fn sphere_and_arrow_shapes_from_npz() {
    let dir = tempdir("npz_shapes");
    let pos: Vec<f32> = vec![0.0, 0.0, 0.0, 2.0, 0.0, 0.0];
    let balls = dir.join("balls.npz");
    write_npz(
        &balls,
        &[
            ("positions", &[2, 3], pos.clone()),
            ("radii", &[2], vec![0.5, 0.25]),
            ("scalars", &[2], vec![0.0, 1.0]),
        ],
        &[],
    );
    let s = scene::load(&balls).expect("spheres");
    assert!(s.point_sets.is_empty(), "spheres instead of points");
    assert_eq!(s.meshes.len(), 1);
    let p = &s.meshes[0].primitives[0];
    let v = p.sphere_vertices as usize;
    assert!(v >= 12 && p.positions.len() == 2 * v, "two spheres of {v} vertices");
    // Each sphere's vertices at its radius from its centre.
    for (k, (c, r)) in [([0.0, 0.0, 0.0], 0.5), ([2.0, 0.0, 0.0], 0.25)].iter().enumerate() {
        for q in &p.positions[k * v..(k + 1) * v] {
            let d = (glam::Vec3::from(*q) - glam::Vec3::from(*c)).length();
            assert!((d - r).abs() < 1e-5, "sphere {k}: {d}");
        }
    }
    // Viridis: dark purple at the low end, yellow at the high one.
    assert!(p.colors[0][2] > p.colors[0][1] && p.colors[v][1] > p.colors[v][2], "{:?}", p.colors);
    // One radius for all, arrows too.
    let both = dir.join("both.npz");
    write_npz(
        &both,
        &[
            ("positions", &[2, 3], pos.clone()),
            ("radii", &[1], vec![0.1]),
            ("vectors", &[2, 3], vec![0.0, 1.0, 0.0, 0.0, 0.0, 3.0]),
        ],
        &[],
    );
    let s = scene::load(&both).expect("both");
    let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["both/spheres", "both/arrows"]);
    let arrows = &s.meshes[1].primitives[0];
    let tip = arrows.positions.iter().map(|q| q[2]).fold(f32::MIN, f32::max);
    assert!((tip - 3.0).abs() < 1e-4, "the second arrow ends at z = 3: {tip}");
    // By length: the longer arrow is yellower.
    let last = arrows.colors.last().expect("colours");
    assert!(last[1] > arrows.colors[0][1], "{last:?}");
    let err = |name: &str, arrays: &[(&str, &[u64], Vec<f32>)]| {
        let f = dir.join(name);
        write_npz(&f, arrays, &[]);
        scene::load(&f).expect_err(name).to_string()
    };
    let e = err("radii.npz", &[("positions", &[2, 3], pos.clone()), ("radii", &[3], vec![1.0; 3])]);
    assert!(e.contains("radii.npz") && e.contains("'radii' has 3 rows for 2"), "{e}");
    let e = err("neg.npz", &[("positions", &[2, 3], pos.clone()), ("radii", &[1], vec![-1.0])]);
    assert!(e.contains("neg.npz") && e.contains("radius"), "{e}");
    let e = err(
        "vec.npz",
        &[("positions", &[2, 3], pos.clone()), ("vectors", &[2, 3], vec![f32::NAN; 6])],
    );
    assert!(e.contains("vec.npz") && e.contains("'vectors'"), "{e}");
}

/// Trajectories: a TUM file (timestamps, positions, quaternions, comments) and KITTI poses
/// (3 x 4 matrices) open as the path and an axis triad per pose, rotated as the poses are;
/// bad lines are errors naming the file and the line.
#[test]
fn trajectories_tum_and_kitti_open_as_axes_and_path() {
    let dir = tempdir("trajectories");
    let tum = dir.join("groundtruth.txt");
    // The second pose turned 90 degrees about z: its x axis points along +y.
    let h = std::f32::consts::FRAC_1_SQRT_2;
    std::fs::write(
        &tum,
        format!(
            "# timestamp tx ty tz qx qy qz qw\n1.0 0 0 0 0 0 0 1\n1.1 1 0 0 0 0 {h} {h}\n\n1.2 \
             2 0 0 0 0 0 1\n"
        ),
    )
    .expect("write");
    let s = scene::load(&tum).expect("tum");
    let path = s.line_sets.iter().find(|l| l.name == "groundtruth/path").expect("path");
    assert!(path.strip);
    assert_eq!(path.positions, vec![[0.0; 3], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]);
    let axes = s.line_sets.iter().find(|l| l.name == "groundtruth/poses").expect("axes");
    assert_eq!(axes.positions.len(), 3 * 6, "three segments per pose");
    // Pose 1's x axis (segment 0 of its triad: vertices 6 and 7) turned onto +y.
    let x = glam::Vec3::from(axes.positions[7]) - glam::Vec3::from(axes.positions[6]);
    assert!(x.x.abs() < 1e-5 && x.y > 0.0, "{x:?}");
    let kitti = dir.join("00.txt");
    std::fs::write(&kitti, "1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0 0 1 0 0 0 0 1 5\n").expect("write");
    let s = scene::load(&kitti).expect("kitti");
    let path = s.line_sets.iter().find(|l| l.name == "00/path").expect("path");
    assert_eq!(path.positions, vec![[0.0; 3], [0.0, 0.0, 5.0]], "the translation column");
    let bad = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).expect("write");
        scene::load(&f).expect_err(name).to_string()
    };
    let e = bad("mixed.txt", "1 0 0 0 0 0 0 1\n1 2 3\n");
    assert!(e.contains("mixed.txt") && e.contains("line 2") && e.contains("expected 8"), "{e}");
    let e = bad("word.tum", "1 0 0 zero 0 0 0 1\n");
    assert!(e.contains("word.tum") && e.contains("'zero'"), "{e}");
    let e = bad("quat.tum", "1 0 0 0 0 0 0 0\n");
    assert!(e.contains("quaternion"), "{e}");
    let e = bad("empty.txt", "# nothing\n");
    assert!(e.contains("no poses"), "{e}");
}

/// KHR_lights_punctual: a point light's `range` loads (none: unbounded); the scene keeps the
/// extension's window for it.
#[test]
fn gltf_light_range() {
    let dir = tempdir("range");
    let lights = r#""extensionsUsed":["KHR_lights_punctual"],"extensions":{"KHR_lights_punctual":{"lights":[{"type":"point","intensity":2,"range":2.5},{"type":"spot","spot":{"outerConeAngle":0.5}}]}},"#;
    let text = triangle_with_camera(
        r#"{"type":"perspective","perspective":{"yfov":0.8,"znear":0.1}}"#,
    )
    .replacen('{', &format!("{{{lights}"), 1)
    .replace(
        r#"{"camera":0,"translation":[0,0,5]}"#,
        r#"{"camera":0,"translation":[0,0,5]},{"extensions":{"KHR_lights_punctual":{"light":0}}},{"extensions":{"KHR_lights_punctual":{"light":1}}}"#,
    )
    .replace(r#""scenes":[{"nodes":[0,1]}]"#, r#""scenes":[{"nodes":[0,1,2,3]}]"#);
    let scene = load_gltf(write(&dir, "range.gltf", text.as_bytes())).expect("load");
    assert_eq!(scene.lights.len(), 2);
    let (point, spot) = (&scene.lights[0], &scene.lights[1]);
    assert_eq!((point.kind, point.range), (LightKind::Point, Some(2.5)));
    assert_eq!(spot.range, None);
    assert_eq!(point.range_window(0.0), 1.0);
    assert!((point.range_window(1.25) - (1.0 - 0.0625)).abs() < 1e-6);
    assert_eq!((point.range_window(2.5), point.range_window(3.0)), (0.0, 0.0));
    assert_eq!(spot.range_window(1e6), 1.0);
}
