//! Export of frames (issue 22): each exported frame is exactly the scene at its time, as a
//! single `render` of the scene set to that time gives it, in both renderers (the path
//! tracer's acceleration structure follows the moving object); movies through ffmpeg.
//! Lavapipe with validation on.

use std::path::{Path, PathBuf};

use glam::{Mat4, Quat, Vec3};
use scene::time::{Timing, Track};
use scene::{shapes, Camera, Material, Mesh, Node, NodeAnimation, Scene};
use viewer::export::{export, ExportOutput, ExportProgress, ExportRequest};
use viewer::RenderRequest;

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xpg-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A floor, a red cube moving along +X by 1 unit per second from x = -1 (t = 0) to 1 (t = 2), a camera above, the
/// default lighting.
fn moving_cube() -> Scene {
    let mesh = |name: &str, p| Mesh { name: name.into(), primitives: vec![p] };
    let mut s = Scene {
        materials: vec![
            Material::lambert("floor", [0.6, 0.6, 0.6]),
            Material::lambert("cube", [0.9, 0.1, 0.1]),
        ],
        meshes: vec![mesh("floor", shapes::plane(0, 3.0)), mesh("cube", shapes::cube(1))],
        cameras: vec![Camera::perspective("top", 50f32.to_radians(), Some(1.5))],
        ..Default::default()
    };
    s.nodes.push(Node::new("floor", Mat4::IDENTITY).with_mesh(0));
    let rest = Mat4::from_scale_rotation_translation(
        Vec3::splat(0.3),
        Quat::IDENTITY,
        Vec3::new(-1.0, 0.3, 0.0),
    );
    s.nodes.push(Node::new("cube", rest).with_mesh(1));
    let eye = glam::camera::rh::view::look_at_mat4(Vec3::new(0.0, 4.0, 3.0), Vec3::ZERO, Vec3::Y)
        .inverse();
    s.nodes.push(Node::new("camera", eye).with_camera(0));
    let track = Track::new(
        Timing::Rate { fps: 0.5, start: 0.0 },
        vec![Some(Vec3::new(-1.0, 0.3, 0.0)), Some(Vec3::new(1.0, 0.3, 0.0))],
    )
    .expect("track");
    s.animations.push(NodeAnimation {
        node: 1,
        rest: (Vec3::splat(0.3), Quat::IDENTITY, Vec3::new(-1.0, 0.3, 0.0)),
        translation: Some(track),
        rotation: None,
        scale: None,
        weights: None,
    });
    s.update_world();
    s.add_default_lighting();
    s
}

fn request(renderer: &str) -> RenderRequest {
    RenderRequest {
        size: Some((96, 64)),
        renderer: renderer.into(),
        validation: true,
        spp: 4,
        max_depth: 4,
        ..RenderRequest::new("moving cube".into())
    }
}

fn read_png(p: &Path) -> Vec<u8> {
    image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).to_rgba8().into_raw()
}

/// The red cube's centroid in x (pixels) in an RGBA8 image `w` wide.
fn red_centroid(px: &[u8], w: usize) -> f64 {
    let (mut sum, mut n) = (0.0, 0.0);
    for (i, p) in px.chunks_exact(4).enumerate() {
        if u16::from(p[0]) > 2 * u16::from(p[1].max(p[2]).max(20)) {
            sum += (i % w) as f64;
            n += 1.0;
        }
    }
    assert!(n > 20.0, "the cube is in view ({n} red pixels)");
    sum / n
}

/// Exports frames `first..=last` of `scene` at `fps` with `renderer` into a new folder
/// (`f_%03d.png`); returns the folder.
fn export_to(
    name: &str,
    renderer: &str,
    mut scene: Scene,
    (first, last): (u64, u64),
    fps: f64,
) -> PathBuf {
    let dir = tempdir(name);
    let ex = ExportRequest {
        frames: (first, last),
        fps: Some(fps),
        output: ExportOutput::parse(&dir.join("f_%03d.png")).expect("pattern"),
        progress_bar: false,
    };
    export(&mut scene, &request(renderer), &ex, None, &ExportProgress::default()).expect("export");
    dir
}

/// The moving cube with green points that follow its node (placed by the node's world
/// transform at every time, no data rewritten).
fn with_follower(mut s: Scene) -> Scene {
    let mut points = scene::PointSet::new("follower", vec![[0.0, 2.0, 0.0], [1.0, 2.0, 0.0]]);
    (points.node, points.size_px, points.colors) = (Some(1), 4.0, vec![[0, 255, 0, 255]; 2]);
    points.transform = s.nodes[1].world;
    s.point_sets.push(points);
    s
}

/// Exports frames 0-4 at 2 frames per second (times 0, 0.5, 1, 1.5, 2) with `renderer` and
/// checks frames 1 and 3 against single renders of the scene set to 0.5 and 1.5 s.
fn exported_frames_are_renders_at_their_times(renderer: &str) {
    let dir = tempdir(renderer);
    let req = request(renderer);
    let ex = ExportRequest {
        frames: (0, 4),
        fps: Some(2.0),
        output: ExportOutput::parse(&dir.join("f_%03d.png")).expect("pattern"),
        progress_bar: false,
    };
    let mut scene = with_follower(moving_cube());
    let progress = ExportProgress::default();
    let summary = export(&mut scene, &req, &ex, None, &progress).expect("export");
    assert_eq!(summary.frames, 5);
    assert_eq!(summary.fps, 2.0);
    assert_eq!(progress.done.load(std::sync::atomic::Ordering::Relaxed), 5);
    let mut centroids = Vec::new();
    for (i, t) in [(1u64, 0.5), (3, 1.5)] {
        let exported = read_png(&dir.join(format!("f_{i:03}.png")));
        let mut at = with_follower(moving_cube());
        at.set_time(t);
        let single = viewer::render_scene(&at, &req).expect("render");
        let differ = exported.iter().zip(&single.ldr).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ, 0,
            "{renderer}: frame {i} differs from the render at {t} s in {differ} bytes"
        );
        let green = exported.chunks_exact(4).filter(|p| p[1] > 200 && p[0] < 80).count();
        assert!(green > 0, "{renderer}: the follower points are drawn");
        centroids.push(red_centroid(&exported, 96));
    }
    // The cube moved right by a visible amount between the two times (1 unit).
    assert!(
        centroids[1] - centroids[0] > 10.0,
        "{renderer}: the cube moves right: centroids {centroids:?}"
    );
    // Frames 0 and 4 hold the ends: the cube at x = -1 and x = 1.
    let (f0, f4) = (read_png(&dir.join("f_000.png")), read_png(&dir.join("f_004.png")));
    assert!(red_centroid(&f0, 96) < centroids[0] && red_centroid(&f4, 96) > centroids[1]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_raster_frames_equal_renders_at_their_times() {
    exported_frames_are_renders_at_their_times("raster");
}

/// The path tracer's image of the moving cube at two times: its acceleration structure
/// follows the transforms updated in place (the single renders build theirs from scratch).
#[test]
fn export_pathtracer_moving_object_follows_its_acceleration_structure() {
    exported_frames_are_renders_at_their_times("pathtracer");
}

/// A floor and a red cube whose top half is skinned to a joint that slides +X over 2 s (the
/// cube shears), seen from the same camera.
fn shearing_cube() -> Scene {
    let mut s = moving_cube();
    s.animations.clear();
    let cube = &mut s.meshes[1].primitives[0];
    for p in &cube.positions {
        let top = p[1] > 0.0;
        cube.joints.push([0, 1, 0, 0]);
        cube.weights.push(if top { [0.0, 1.0, 0.0, 0.0] } else { [1.0, 0.0, 0.0, 0.0] });
    }
    s.skins.push(scene::Skin {
        name: "shear".into(),
        joints: vec![3, 4],
        inverse_bind: vec![Mat4::IDENTITY; 2],
    });
    s.nodes[1].skin = Some(0);
    // The joints: both at the cube's node (their world is the node's, so at rest the cube is
    // as it was).
    let at = s.nodes[1].local;
    s.nodes.push(Node::new("j0", at));
    s.nodes.push(Node::new("j1", at));
    let track = Track::new(
        Timing::Rate { fps: 0.5, start: 0.0 },
        vec![Some(Vec3::new(-1.0, 0.3, 0.0)), Some(Vec3::new(0.0, 0.3, 0.0))],
    )
    .expect("track");
    s.animations.push(NodeAnimation {
        node: 4,
        rest: (Vec3::splat(0.3), Quat::IDENTITY, Vec3::new(-1.0, 0.3, 0.0)),
        translation: Some(track),
        rotation: None,
        scale: None,
        weights: None,
    });
    s.update_world();
    s
}

/// The path tracer's image of a skinned mesh at two times: the deform pass moves its
/// vertices and its BLAS is refitted (the single renders upload it deformed and build it).
#[test]
fn export_pathtracer_skinned_mesh_follows_its_refitted_blas() {
    let req = request("pathtracer");
    let dir = export_to("skinned", "pathtracer", shearing_cube(), (0, 4), 2.0);
    let mut centroids = Vec::new();
    for (i, t) in [(0u64, 0.0), (3, 1.5)] {
        let exported = read_png(&dir.join(format!("f_{i:03}.png")));
        let mut at = shearing_cube();
        at.set_time(t);
        let single = viewer::render_scene(&at, &req).expect("render");
        let differ = exported.iter().zip(&single.ldr).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "frame {i} differs from the render at {t} s in {differ} bytes");
        centroids.push(red_centroid(&exported, 96));
    }
    // The top half slid right by 0.75: the red area's centroid moves right.
    assert!(centroids[1] - centroids[0] > 4.0, "the cube shears: centroids {centroids:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The floor rising (its vertices over time, same count: written in place, its BLAS
/// refitted), points moving and then growing in number at 1.5 s (a new topology: uploaded
/// again), the cube hidden by a hole at 1 s and its colour going from red to orange.
fn properties_over_time() -> Scene {
    use scene::time::{Holes, Interpolation};
    use scene::{Property, PropertyTrack, Samples, Value};
    let mut s = moving_cube();
    s.animations.clear();
    let floor = s.meshes[0].primitives[0].positions.clone();
    let raised: Vec<[f32; 3]> = floor.iter().map(|p| [p[0], p[1] + 0.2, p[2]]).collect();
    let track = |times: &[f64], values: Vec<Option<Value>>| {
        Track::new(Timing::Times(times.to_vec()), values).expect("track")
    };
    let mut props = vec![
        PropertyTrack {
            property: Property::Positions { mesh: 0, primitive: 0 },
            samples: Samples::Track(track(
                &[0.0, 2.0],
                vec![Some(Value::Vec3s(floor)), Some(Value::Vec3s(raised))],
            )),
        },
        PropertyTrack {
            property: Property::PointPositions(0),
            samples: Samples::Track(track(
                &[0.0, 1.0, 1.5],
                vec![
                    Some(Value::Vec3s(vec![[0.0, 0.5, 1.0], [0.5, 0.5, 1.0]])),
                    Some(Value::Vec3s(vec![[0.0, 1.0, 1.0], [0.5, 1.0, 1.0]])),
                    Some(Value::Vec3s(vec![[0.0, 1.0, 1.0], [0.5, 1.0, 1.0], [1.0, 1.0, 1.0]])),
                ],
            )),
        },
        PropertyTrack {
            property: Property::PointColors(0),
            samples: Samples::Track(track(
                &[0.0, 1.5],
                vec![
                    Some(Value::Colors(vec![[0, 255, 0, 255]; 2])),
                    Some(Value::Colors(vec![[0, 255, 0, 255]; 3])),
                ],
            )),
        },
        PropertyTrack {
            property: Property::BaseColor(1),
            samples: Samples::Track(track(
                &[0.0, 2.0],
                vec![
                    Some(Value::Vec3(Vec3::new(0.9, 0.1, 0.1))),
                    Some(Value::Vec3(Vec3::new(0.9, 0.4, 0.1))),
                ],
            )),
        },
    ];
    let mut vis =
        track(&[0.0, 0.75, 1.25], vec![Some(Value::Bool(true)), None, Some(Value::Bool(true))]);
    (vis.holes, vis.interpolation) = (Holes::Hide, Interpolation::Step);
    props.push(PropertyTrack { property: Property::NodeVisible(1), samples: Samples::Track(vis) });
    s.properties = props;
    let mut points = scene::PointSet::new("points", vec![[0.0, 0.5, 1.0], [0.5, 0.5, 1.0]]);
    points.size_px = 5.0;
    points.colors = vec![[0, 255, 0, 255]; 2];
    s.point_sets.push(points);
    s.set_time(0.0);
    s
}

/// Every property over time exported in both renderers equals single renders at the times.
#[test]
fn export_properties_over_time_follow_in_both_renderers() {
    for renderer in ["raster", "pathtracer"] {
        let req = request(renderer);
        let dir =
            export_to(&format!("props-{renderer}"), renderer, properties_over_time(), (0, 4), 2.0);
        let mut frames = Vec::new();
        for i in 0..=4u64 {
            let t = i as f64 / 2.0;
            let exported = read_png(&dir.join(format!("f_{i:03}.png")));
            let mut at = properties_over_time();
            at.set_time(t);
            let single = viewer::render_scene(&at, &req).expect("render");
            let differ = exported.iter().zip(&single.ldr).filter(|(a, b)| a != b).count();
            assert_eq!(differ, 0, "{renderer}: frame {i} differs from the render at {t} s");
            frames.push(exported);
        }
        let red = |px: &[u8]| {
            px.chunks_exact(4)
                .filter(|p| u16::from(p[0]) > 2 * u16::from(p[1].max(p[2]).max(20)))
                .count()
        };
        assert!(red(&frames[0]) > 20, "{renderer}: the cube at 0 s");
        assert_eq!(red(&frames[2]), 0, "{renderer}: the cube hidden at 1 s");
        let green =
            |px: &[u8]| px.chunks_exact(4).filter(|p| p[1] > 200 && p[0] < 60 && p[2] < 60).count();
        assert!(
            green(&frames[4]) > green(&frames[0]),
            "{renderer}: three points at 2 s, two at 0 s ({} vs {})",
            green(&frames[4]),
            green(&frames[0])
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The cube's mesh with a second primitive (a blue cube beside it) hidden from 1 s on.
fn hiding_primitive() -> Scene {
    use scene::time::Interpolation;
    use scene::{Property, PropertyTrack, Samples, Value};
    let mut s = moving_cube();
    s.animations.clear();
    s.materials.push(Material::lambert("blue", [0.1, 0.1, 0.9]));
    let mut blue = shapes::cube(2);
    for p in &mut blue.positions {
        p[0] += 3.0;
    }
    s.meshes[1].primitives.push(blue);
    let mut t = Track::new(
        Timing::Times(vec![0.0, 1.0]),
        vec![Some(Value::Bool(true)), Some(Value::Bool(false))],
    )
    .expect("track");
    t.interpolation = Interpolation::Step;
    s.properties.push(PropertyTrack {
        property: Property::PrimitiveVisible { mesh: 1, primitive: 1 },
        samples: Samples::Track(t),
    });
    s.set_time(0.0);
    s
}

/// A primitive hidden alone disappears in both renderers (the path tracer's BLAS leaves it
/// out), and the frames equal single renders.
#[test]
fn export_a_hidden_primitive_is_hidden_in_both_renderers() {
    for renderer in ["raster", "pathtracer"] {
        let req = request(renderer);
        let dir = export_to(&format!("hide-{renderer}"), renderer, hiding_primitive(), (0, 2), 1.0);
        let blue = |px: &[u8]| {
            px.chunks_exact(4)
                .filter(|p| u16::from(p[2]) > 2 * u16::from(p[0].max(p[1]).max(20)))
                .count()
        };
        for i in 0..=2u64 {
            let exported = read_png(&dir.join(format!("f_{i:03}.png")));
            let mut at = hiding_primitive();
            at.set_time(i as f64);
            let single = viewer::render_scene(&at, &req).expect("render");
            assert_eq!(exported, single.ldr, "{renderer}: frame {i} equals the render at {i} s");
            if i == 0 {
                assert!(blue(&exported) > 10, "{renderer}: the blue cube is there at 0 s");
            } else {
                assert_eq!(blue(&exported), 0, "{renderer}: the blue cube is hidden at {i} s");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn export_movie_through_ffmpeg() {
    let dir = tempdir("movie");
    let out = dir.join("movie.mp4");
    let req = RenderRequest { size: Some((95, 63)), ..request("raster") };
    let ex = ExportRequest {
        frames: (2, 7),
        fps: Some(3.0),
        output: ExportOutput::parse(&out).expect("movie"),
        progress_bar: false,
    };
    let mut scene = moving_cube();
    let summary = export(&mut scene, &req, &ex, None, &ExportProgress::default()).expect("export");
    assert_eq!(summary.frames, 6);
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames,width,height,codec_name", "-of", "csv=p=0"])
        .arg(&out)
        .output()
        .expect("ffprobe (scripts/setup.sh installs ffmpeg)");
    let text = String::from_utf8_lossy(&probe.stdout);
    // Odd sizes are padded to even ones (yuv420p).
    assert_eq!(text.trim(), "h264,96,64,6", "ffprobe: {text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_rejects_bad_outputs_and_ranges() {
    let err = |p: &str| ExportOutput::parse(Path::new(p)).expect_err(p).to_string();
    assert!(err("frames/out.png").contains("%d"), "{}", err("frames/out.png"));
    assert!(err("movie.avi").contains("unsupported"));
    assert!(viewer::export::parse_frames("9-2").is_err());
    // A file name without the frame index is refused on the command line too.
    let exe = env!("CARGO_BIN_EXE_xpg-view");
    let out = std::process::Command::new(exe)
        .args(["render", "missing.gltf", "--frames", "0-3", "--out", "one.png"])
        .output()
        .expect("run xpg-view");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("one.png") && stderr.contains("%d"), "{stderr}");
}

/// A sequence of PLY files (a glob) exported frame by frame: each frame is exactly its own
/// file's points (streamed data is waited for), as a single render of that time shows them.
#[test]
fn export_a_streamed_sequence_frame_by_frame() {
    let dir = tempdir("sequence");
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).expect("dir");
    for k in 0..8 {
        let mut body = String::from(
            "ply\nformat ascii 1.0\nelement vertex 40\nproperty float x\nproperty float y\nproperty float z\nend_header\n",
        );
        for i in 0..40 {
            body += &format!("{} {} 0\n", -1.0 + k as f32 * 0.25, -1.0 + i as f32 * 0.05);
        }
        std::fs::write(frames.join(format!("f{k}.ply")), body).expect("ply");
    }
    let spec = format!("{}/f*.ply", frames.display());
    let req = RenderRequest { renderer: "raster".into(), ..request("raster") };
    let ex = ExportRequest {
        frames: (0, 7),
        fps: Some(30.0),
        output: ExportOutput::parse(&dir.join("o_%02d.png")).expect("pattern"),
        progress_bar: false,
    };
    let mut scene = scene::load(&spec).expect("sequence");
    export(&mut scene, &req, &ex, None, &ExportProgress::default()).expect("export");
    let mut columns = Vec::new();
    for k in [0u64, 3, 7] {
        let exported = read_png(&dir.join(format!("o_{k:02}.png")));
        let mut at = scene::load(&spec).expect("sequence");
        // The export framed every exported frame; a single render frames its own: compare
        // where the points are instead, through the scene's data at that time.
        assert!(at.set_time_waiting(k as f64 / 30.0, std::time::Duration::from_secs(30)));
        assert_eq!(at.point_sets[0].positions[0][0], -1.0 + k as f32 * 0.25, "frame {k}'s data");
        // White points on the grey background: the column they are drawn in moves right.
        let white: Vec<usize> = exported
            .chunks_exact(4)
            .enumerate()
            .filter(|(_, p)| p[0] > 200 && p[1] > 200 && p[2] > 200)
            .map(|(i, _)| i % 96)
            .collect();
        assert!(!white.is_empty(), "frame {k} shows points");
        columns.push(white.iter().sum::<usize>() as f64 / white.len() as f64);
    }
    assert!(
        columns[0] < columns[1] && columns[1] < columns[2],
        "the points move right: {columns:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sequence of OBJ meshes (a red square moving right) and one of PNG images (a colour per
/// frame) exported in both renderers: each frame shows its own file.
#[test]
fn export_mesh_and_image_sequences_in_both_renderers() {
    let dir = tempdir("meshseq");
    let (meshes, images) = (dir.join("m"), dir.join("i"));
    std::fs::create_dir_all(&meshes).expect("dir");
    std::fs::create_dir_all(&images).expect("dir");
    for k in 0..3 {
        let x = k as f32 * 0.6 - 1.2;
        std::fs::write(
            meshes.join(format!("m{k}.obj")),
            // Two fixed specks mark the bounds, so that the view does not follow the square.
            format!(
                "v {x} -0.4 0\nv {} -0.4 0\nv {x} 0.4 0\nv {} 0.4 0\nf 1 2 3\nf 2 4 3\n\
                 v -1.5 -1 0\nv -1.49 -1 0\nv -1.5 -0.99 0\nf 5 6 7\n\
                 v 1.5 1 0\nv 1.49 1 0\nv 1.5 0.99 0\nf 8 9 10\n",
                x + 0.8,
                x + 0.8
            ),
        )
        .expect("obj");
        let c = [[220u8, 30, 30], [30, 220, 30], [30, 30, 220]][k];
        image::RgbaImage::from_pixel(8, 8, image::Rgba([c[0], c[1], c[2], 255]))
            .save(images.join(format!("i{k}.png")))
            .expect("png");
    }
    for renderer in ["raster", "pathtracer"] {
        // Meshes: the square moves right (pixels unlike the background's corner).
        let mut s = scene::load(meshes.join("").to_str().expect("utf-8")).expect("meshes");
        s.add_default_lighting();
        // Seen from the front (+Y up), not from above.
        s.up = Some(Vec3::Y);
        let out = export_to(&format!("mesh-{renderer}"), renderer, s, (0, 2), 30.0);
        let mut xs = Vec::new();
        for k in 0..3u64 {
            let px = read_png(&out.join(format!("f_{k:03}.png")));
            let bg = [px[0], px[1], px[2]];
            let cols: Vec<usize> = px
                .chunks_exact(4)
                .enumerate()
                .filter(|(_, p)| (0..3).any(|c| p[c].abs_diff(bg[c]) > 8))
                .map(|(i, _)| i % 96)
                .collect();
            assert!(cols.len() > 20, "{renderer} frame {k}: the square is drawn");
            xs.push(cols.iter().sum::<usize>() as f64 / cols.len() as f64);
        }
        assert!(xs[0] < xs[1] && xs[1] < xs[2], "{renderer}: the square moves right: {xs:?}");
        let _ = std::fs::remove_dir_all(&out);
        // Images: the quad fills the middle of the view with each frame's colour.
        let s = scene::load(images.join("").to_str().expect("utf-8")).expect("images");
        let out = export_to(&format!("img-{renderer}"), renderer, s, (0, 2), 30.0);
        for k in 0..3u64 {
            let px = read_png(&out.join(format!("f_{k:03}.png")));
            let centre = &px[(32 * 96 + 48) * 4..(32 * 96 + 48) * 4 + 3];
            let brightest = centre.iter().enumerate().max_by_key(|c| c.1).map(|c| c.0);
            assert_eq!(brightest, Some(k as usize), "{renderer} frame {k}: {centre:?}");
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
