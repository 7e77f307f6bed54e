//! Sequences streamed from disk through the viewer (issue 23): the CPU cache and the GPU pool
//! of frames with small budgets (evictions), the frame shown on the GPU is the right file's,
//! a corrupt file is reported and skipped over, a slow source never holds up a frame,
//! frames appended, inserted and removed while it runs, memory flat over ten loops, and a
//! sequence that fits the GPU budget plays with no uploads. Lavapipe, validation on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use viewer::app::{run_offscreen, App, PlaybackCommand, ViewerOptions};
use viewer::input::Script;

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xpg-streaming-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Frame k's points: a count that changes with k, positions that say k.
fn frame_points(k: usize) -> Vec<[f32; 3]> {
    let n = 20 + (k % 5) * 10;
    (0..n).map(|i| [i as f32 * 0.04 - 1.0, k as f32 * 0.02 - 0.5, 0.1 * (k % 3) as f32]).collect()
}

/// A binary little-endian PLY of `points` with a colour per point.
fn write_ply(path: &Path, points: &[[f32; 3]]) {
    let mut b = format!(
        "ply\nformat binary_little_endian 1.0\nelement vertex {}\nproperty float x\n\
         property float y\nproperty float z\nproperty uchar red\nproperty uchar green\n\
         property uchar blue\nend_header\n",
        points.len()
    )
    .into_bytes();
    for p in points {
        for v in p {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[200, 80, 40]);
    }
    std::fs::write(path, b).expect("ply");
}

/// `n` frames f0.ply .. in `dir`; the ones in `corrupt` are garbage.
fn write_sequence(dir: &Path, n: usize, corrupt: &[usize]) {
    for k in 0..n {
        let p = dir.join(format!("f{k}.ply"));
        if corrupt.contains(&k) {
            std::fs::write(&p, b"ply\nformat binary_little_endian 1.0\nelement vertex 99\ngarbage")
                .expect("corrupt");
        } else {
            write_ply(&p, &frame_points(k));
        }
    }
}

fn opts(spec: &str) -> ViewerOptions {
    ViewerOptions {
        files: vec![PathBuf::from(spec)],
        size: (160, 120),
        validation: true,
        cache_dir: None,
        frames: Some(2),
        fixed_dt: Some(1.0 / 60.0),
        script: Some(Script::default()),
        ..Default::default()
    }
}

/// The positions the GPU draws for point set 0 now (from the frame pool, or its own buffer
/// for the frame uploaded with the scene).
fn gpu_positions(app: &App) -> Vec<[f32; 3]> {
    let g = app.gpu_scene().expect("uploaded");
    let p = &g.points[0];
    let mut up = xpg::Uploader::new(app.context(), 1 << 20).expect("uploader");
    let len = u64::from(p.count) * 12;
    let bytes = match (p.pooled, g.frame_buffer()) {
        (Some(a), Some(pool)) => {
            up.read_buffer(pool, a.positions - pool.address(), len).expect("read pool")
        }
        _ => up.read_buffer(&p.positions, 0, len).expect("read points"),
    };
    bytemuck::cast_slice(&bytes).to_vec()
}

/// Seeks to frame `k` (30 per second) and renders frames until the scene shows frame index
/// `want` (frames render meanwhile: nothing waits for the disk).
fn show(app: &mut App, k: usize, want: usize) {
    show_at(app, k as f64 / 30.0, want);
}

/// [`show`] at time `t`.
fn show_at(app: &mut App, t: f64, want: usize) {
    app.playback_command(PlaybackCommand::Seek(t));
    for _ in 0..2000 {
        app.frame(None, (160, 120)).expect("frame");
        let shown = app.scene().point_sets[0].frame.as_ref().map(|f| f.index);
        if shown == Some(want) && app.scene().properties_ready(t) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    panic!("{t} s never showed frame {want}");
}

#[test]
fn a_sequence_streams_through_small_budgets_with_the_right_frame_on_the_gpu() {
    let dir = temp("budgets");
    write_sequence(&dir, 50, &[25]);
    let spec = format!("{}/f*.ply", dir.display());
    let mut o = opts(&spec);
    // About four frames in the CPU cache, six in the GPU pool (the largest frame is 60
    // points: 720 bytes of positions, 240 of colours, in a 1 KiB slot).
    o.sequence.budget = 4 * 1100;
    o.sequence.ahead = 3;
    o.frame_budget = 6 * 1024;
    let mut app = run_offscreen(o).expect("viewer runs");
    app.playback_mut().playing = false;
    for k in 0..50 {
        // The corrupt file holds the last good frame.
        let want = if k == 25 { 24 } else { k };
        show(&mut app, k, want);
        assert_eq!(gpu_positions(&app), frame_points(want), "frame {k}: the GPU draws file {want}");
    }
    let stream = app.scene().streams().pop().expect("a stream");
    let errors = stream.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, 25);
    assert!(errors[0].1.ends_with("f25.ply"), "the file is named: {:?}", errors[0].1);
    let cpu = stream.stats();
    assert!(cpu.evicted > 0 && cpu.bytes <= cpu.budget, "CPU cache evicts: {cpu:?}");
    let gpu = app.gpu_scene().expect("gpu").frame_stats();
    assert!(gpu.evictions > 0 && gpu.bytes <= gpu.budget, "GPU pool evicts: {gpu:?}");
    assert!(gpu.uploads >= 49, "{gpu:?}");
    // Counts changed with every frame: no upload of the whole scene again.
    assert_eq!(app.scene_uploads(), 1);
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn memory_stays_flat_over_ten_loops_of_a_sequence_larger_than_the_budgets() {
    let dir = temp("loops");
    write_sequence(&dir, 20, &[]);
    let spec = format!("{}/f*.ply", dir.display());
    let mut o = opts(&spec);
    o.sequence.budget = 3 * 1100;
    o.sequence.ahead = 2;
    o.frame_budget = 4 * 1024;
    let mut app = run_offscreen(o).expect("viewer runs");
    app.playback_mut().playing = false;
    let mut after = Vec::new();
    for _ in 0..10 {
        for k in 0..20 {
            app.playback_command(PlaybackCommand::Seek(k as f64 / 30.0));
            app.frame(None, (160, 120)).expect("frame");
        }
        let stream = app.scene().streams().pop().expect("stream");
        let cpu = stream.stats();
        let gpu = app.gpu_scene().expect("gpu").frame_stats();
        assert!(cpu.bytes <= cpu.budget, "{cpu:?}");
        assert!(gpu.bytes <= gpu.budget && gpu.capacity == gpu.budget, "{gpu:?}");
        let alloc = app.context().allocator();
        let used = alloc.lock().map(|a| a.generate_report().total_allocated_bytes).unwrap_or(0);
        after.push((cpu.bytes, gpu.bytes, used));
    }
    // GPU memory of loop 10 is that of loop 2 (staging buffers are freed, the pool does not
    // grow); the caches stay within their budgets.
    let (second, last) = (after[1].2, after[9].2);
    assert!(last <= second + (1 << 20), "GPU memory grew from {second} to {last}: {after:?}");
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A decoder that takes its time: frame k is `frame_points(k)`.
struct Slow;

impl scene::stream::FrameDecoder for Slow {
    fn decode(&self, path: &Path) -> Result<scene::stream::Frame, String> {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let k: usize = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.trim_start_matches('f').parse().ok())
            .ok_or("not a frame")?;
        Ok(scene::stream::Frame { positions: frame_points(k), ..Default::default() })
    }
}

#[test]
fn a_slow_source_never_holds_up_a_frame_and_frames_change_while_it_runs() {
    use scene::stream::{FramePart, Stream, StreamSource};
    let dir = temp("slow");
    let files: Vec<PathBuf> = (0..30).map(|k| dir.join(format!("f{k}.ply"))).collect();
    let times: Vec<f64> = (0..30).map(|k| k as f64 / 30.0).collect();
    let stream = Arc::new(Stream::new(files, times, Arc::new(Slow), 1 << 20, 2));
    assert!(stream.load_now(&[0], std::time::Duration::from_secs(10)));
    let mut s = scene::Scene::default();
    s.point_sets.push(scene::PointSet::new("slow", frame_points(0)));
    s.properties.push(scene::PropertyTrack {
        property: scene::Property::PointFrame(0),
        samples: scene::Samples::Source(Arc::new(StreamSource::new(
            Arc::clone(&stream),
            FramePart::Whole,
            4,
        ))),
    });
    let mut o = opts("unused");
    o.files.clear();
    let mut app = run_offscreen(o).expect("viewer runs");
    app.add_scene(s);
    app.playback_mut().playing = false;
    app.frame(None, (160, 120)).expect("frame");
    // Far ahead: the frames render at once with the nearest loaded frame (0), and the
    // timeline's buffer bar does not cover the time asked for.
    let t = 20.0 / 30.0;
    app.playback_command(PlaybackCommand::Seek(t));
    for _ in 0..3 {
        app.frame(None, (160, 120)).expect("frame");
    }
    assert!(!stream.ready(t), "a 300 ms decode cannot have finished");
    assert_eq!(app.scene().point_sets[0].frame.as_ref().map(|f| f.index), Some(0));
    assert_eq!(gpu_positions(&app), frame_points(0));
    let loaded = stream.loaded_ranges();
    assert!(loaded.iter().all(|&(a, b)| !(a..=b).contains(&20)), "{loaded:?}");
    // It arrives while frames go on.
    show(&mut app, 20, 20);
    assert_eq!(gpu_positions(&app), frame_points(20));
    // Appended, inserted and removed while it runs (the scene API a remote program uses).
    assert!(stream.append(dir.join("f40.ply"), 1.0));
    show(&mut app, 30, 30);
    assert_eq!(gpu_positions(&app), frame_points(40), "the appended frame");
    assert!(stream.insert(21, dir.join("f33.ply"), 20.5 / 30.0));
    show_at(&mut app, 20.6 / 30.0, 21);
    assert_eq!(gpu_positions(&app), frame_points(33), "the inserted frame");
    assert!(stream.remove(21));
    app.playback_command(PlaybackCommand::Seek(0.0));
    show(&mut app, 20, 20);
    assert_eq!(gpu_positions(&app), frame_points(20), "the frame before it again");
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sequence_that_fits_the_gpu_budget_plays_with_no_uploads() {
    let dir = temp("fits");
    write_sequence(&dir, 24, &[]);
    let spec = format!("{}/f*.ply", dir.display());
    let mut app = run_offscreen(opts(&spec)).expect("viewer runs");
    app.playback_mut().playing = false;
    // The pool fills in the background (ahead of playback).
    for _ in 0..2000 {
        app.frame(None, (160, 120)).expect("frame");
        if app.gpu_scene().expect("gpu").frame_stats().frames == 24 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let before = app.gpu_scene().expect("gpu").frame_stats();
    assert_eq!(before.frames, 24, "every frame preloaded: {before:?}");
    for lap in 0..2 {
        for k in 0..24 {
            show(&mut app, k, k);
            assert_eq!(gpu_positions(&app), frame_points(k), "lap {lap} frame {k}");
        }
    }
    let after = app.gpu_scene().expect("gpu").frame_stats();
    assert_eq!(after.uploads, before.uploads, "no uploads while playing: {after:?}");
    assert_eq!(after.evictions, 0);
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
