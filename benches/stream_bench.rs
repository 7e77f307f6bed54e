//! Sequences streamed from disk (issue 23), measured in one run:
//! - the machine's own limits: cold disk read speed (O_DIRECT: the files are in the page
//!   cache after they are written) and upload bandwidth (host memory into a staging buffer,
//!   and a GPU copy from it into device memory);
//! - a sequence of `--frames` binary PLY files of `--points` points each (positions and an
//!   RGB colour: 15 bytes a point), written by the bench, played through the streaming engine
//!   (loader threads, the CPU cache, the GPU frame pool, the raster at 1920x1080) at the
//!   highest rate it sustains: each frame shown once it has arrived, the render loop never
//!   waiting for the disk; the files are dropped from the page cache first
//!   (`posix_fadvise(DONTNEED)`), so they are read cold. Frames/s, MB/s read, MB/s uploaded;
//! - the first `--preloaded` frames with a GPU budget that holds them all: time to fill the
//!   pool, then frames/s with no uploads.
//!
//! ```text
//! cargo bench --bench stream_bench -- [--frames 600] [--points 1000000] [--preloaded 300]
//!     [--dir /tmp/xpg-stream-bench] [--cpu-budget-mb 4096]
//! ```

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use framegraph::{Executor, FrameGraph, ImageInfo};
use raster::{Raster, HDR_FORMAT};
use render::{GpuScene, Renderer};
use scene::{Scene, View};
use xpg::{Buffer, BufferDesc, Context, ContextDesc, FrameRing, MemoryUsage, ShaderCompiler};

const MB: f64 = 1e6;

/// Writes frame `k` (`n` points on a wavy sheet that moves with k) unless it is there.
fn write_frame(path: &Path, k: usize, n: usize) -> std::io::Result<()> {
    let header = format!(
        "ply\nformat binary_little_endian 1.0\nelement vertex {n}\nproperty float x\n\
         property float y\nproperty float z\nproperty uchar red\nproperty uchar green\n\
         property uchar blue\nend_header\n"
    );
    if std::fs::metadata(path).is_ok_and(|m| m.len() == (header.len() + 15 * n) as u64) {
        return Ok(());
    }
    let side = (n as f64).sqrt().ceil() as usize;
    let mut b = Vec::with_capacity(header.len() + 15 * n);
    b.extend_from_slice(header.as_bytes());
    let phase = k as f32 * 0.05;
    for i in 0..n {
        let (x, y) = ((i % side) as f32 / side as f32, (i / side) as f32 / side as f32);
        let z = 0.1 * ((x * 12.0 + phase).sin() + (y * 9.0 - phase).cos());
        for v in [x * 2.0 - 1.0, y * 2.0 - 1.0, z] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[(x * 255.0) as u8, (y * 255.0) as u8, 128]);
    }
    let mut f = std::fs::File::create(path)?;
    f.write_all(&b)?;
    f.sync_all()
}

/// Drops a file's pages from the page cache (clean pages: written and synced).
fn drop_cached(path: &Path) {
    use std::os::fd::AsRawFd as _;
    if let Ok(f) = std::fs::File::open(path) {
        // SAFETY: a valid open descriptor; advice only.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
}

/// Reads `files` with O_DIRECT (around the page cache) in 8 MiB blocks on `threads` threads:
/// the disk's cold read speed in MB/s.
fn cold_read(files: &[PathBuf], threads: usize) -> f64 {
    let start = Instant::now();
    let total = std::sync::atomic::AtomicU64::new(0);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                const BLOCK: usize = 8 << 20;
                let layout = std::alloc::Layout::from_size_align(BLOCK, 4096).expect("layout");
                // SAFETY: a non-zero size; freed below.
                let ptr = unsafe { std::alloc::alloc(layout) };
                if ptr.is_null() {
                    return;
                }
                // SAFETY: `ptr` holds BLOCK bytes, aligned for O_DIRECT.
                let buf = unsafe { std::slice::from_raw_parts_mut(ptr, BLOCK) };
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = files.get(i) else { break };
                    let Ok(mut f) =
                        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(p)
                    else {
                        continue;
                    };
                    use std::io::Read as _;
                    while let Ok(n) = f.read(buf) {
                        if n == 0 {
                            break;
                        }
                        total.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                // SAFETY: allocated above with this layout.
                unsafe { std::alloc::dealloc(ptr, layout) };
            });
        }
    });
    total.into_inner() as f64 / MB / start.elapsed().as_secs_f64()
}

/// Upload bandwidth: (memcpy into a mapped staging buffer, GPU copy staging -> device), MB/s.
fn upload_bandwidth(ctx: &Context) -> anyhow::Result<(f64, f64)> {
    let size = 256u64 << 20;
    let mut staging = Buffer::new(
        ctx,
        &BufferDesc {
            size,
            usage: ash::vk::BufferUsageFlags::TRANSFER_SRC,
            memory: MemoryUsage::Upload,
            name: "bench staging",
        },
    )?;
    let device = Buffer::new(
        ctx,
        &BufferDesc {
            size,
            usage: ash::vk::BufferUsageFlags::STORAGE_BUFFER,
            memory: MemoryUsage::GpuOnly,
            name: "bench device",
        },
    )?;
    let src = vec![7u8; size as usize];
    let map = staging.mapped().ok_or_else(|| anyhow::anyhow!("staging not mapped"))?;
    map.copy_from_slice(&src);
    let reps = 8;
    let t = Instant::now();
    for r in 0..reps {
        // Another source each time (the copies are not folded into one).
        let from = std::hint::black_box(&src[(r % 2) * 64..]);
        let n = from.len();
        map[..n].copy_from_slice(from);
        std::hint::black_box(&mut *map);
    }
    let memcpy = (reps as u64 * size) as f64 / MB / t.elapsed().as_secs_f64();
    let region = [ash::vk::BufferCopy::default().size(size)];
    let (s, d) = (staging.raw(), device.raw());
    ctx.immediate(|cmd| {
        // SAFETY: both buffers hold `size` bytes; nothing else uses them.
        unsafe { ctx.device().cmd_copy_buffer(cmd, s, d, &region) }
    })?;
    let t = Instant::now();
    for _ in 0..reps {
        ctx.immediate(|cmd| {
            // SAFETY: as above.
            unsafe { ctx.device().cmd_copy_buffer(cmd, s, d, &region) }
        })?;
    }
    let copy = (reps as u64 * size) as f64 / MB / t.elapsed().as_secs_f64();
    Ok((memcpy, copy))
}

/// The renderer, the frame ring and the executor of a play-through.
struct Player {
    gpu: GpuScene,
    renderer: Raster,
    ring: FrameRing,
    executor: Executor,
    view: View,
}

impl Player {
    fn new(
        ctx: &Context,
        compiler: &ShaderCompiler,
        scene: &Scene,
        gpu_budget: u64,
    ) -> anyhow::Result<Self> {
        let mut gpu = GpuScene::upload(ctx, scene)?;
        gpu.set_frame_budget(gpu_budget);
        let view = View::framing(scene.animated_bounds(2), scene.up_axis(), 1920, 1080);
        Ok(Self {
            gpu,
            renderer: Raster::with_msaa(ctx, compiler, 1)?,
            ring: FrameRing::new(ctx, 2)?,
            executor: Executor::new(ctx, 2),
            view,
        })
    }

    /// One frame of the scene as it is (the update, the preload, the raster's passes).
    fn frame(&mut self, scene: &Scene) -> anyhow::Result<()> {
        let frame = self.ring.begin()?;
        let mut graph = FrameGraph::new();
        if self.gpu.versions != scene.versions {
            self.gpu.update(scene, &mut graph)?;
            self.renderer.scene_changed(scene, &self.gpu);
        }
        self.gpu.preload_frames(scene, &mut graph)?;
        let mut target = graph.create_image("hdr", ImageInfo::d2(1920, 1080, HDR_FORMAT));
        let g = &self.gpu;
        self.renderer.add_passes(
            &mut graph,
            g,
            &self.view,
            render::RenderTargets { color: &mut target },
            &mut render::Hooks::default(),
        )?;
        graph
            .add_pass("present stand-in")
            .read(&target, framegraph::Access::TransferSrc)
            .side_effect()
            .record(|_| Ok(()));
        let plan = self.executor.compile(&graph)?;
        self.executor.execute(graph, &plan, frame.cmd, None)?;
        self.ring.end(frame)?;
        Ok(())
    }
}

/// Plays frames 0..n of `scene`'s sequence, each once it has arrived (frames render while
/// they load: the count of frames rendered is reported too). Returns (seconds, frames
/// rendered).
fn play(player: &mut Player, scene: &mut Scene, n: usize) -> anyhow::Result<(f64, usize)> {
    let start = Instant::now();
    let mut rendered = 0;
    let mut k = 0;
    let (mut set_ms, mut frame_ms) = (Vec::new(), Vec::new());
    while k < n {
        let t = k as f64 / 30.0;
        let t0 = Instant::now();
        scene.set_time(t);
        let t1 = Instant::now();
        let shown = scene.point_sets[0].frame.as_ref().map(|f| f.index);
        player.frame(scene)?;
        set_ms.push((t1 - t0).as_secs_f64() * 1e3);
        frame_ms.push(t1.elapsed().as_secs_f64() * 1e3);
        rendered += 1;
        if shown == Some(k) {
            k += 1;
        }
    }
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "    median CPU per frame: Scene::set_time {:.2} ms, update + record + submit (waiting \
         for a free frame slot included) {:.2} ms; GPU frame {:.2} ms",
        med(set_ms),
        med(frame_ms),
        player.executor.last_timings().iter().map(|t| t.gpu_ms).sum::<f64>()
    );
    Ok((start.elapsed().as_secs_f64(), rendered))
}

fn main() -> anyhow::Result<()> {
    let (mut frames, mut points, mut preloaded) = (600usize, 1_000_000usize, 300usize);
    let mut dir = std::env::temp_dir().join("xpg-stream-bench");
    let mut cpu_budget_mb = 4096usize;
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--frames" => frames = v.parse()?,
            "--points" => points = v.parse()?,
            "--preloaded" => preloaded = v.parse()?,
            "--dir" => dir = PathBuf::from(v),
            "--cpu-budget-mb" => cpu_budget_mb = v.parse()?,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    std::fs::create_dir_all(&dir)?;
    let t = Instant::now();
    let files: Vec<PathBuf> = (0..frames).map(|k| dir.join(format!("frame_{k:05}.ply"))).collect();
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get()).min(16);
    {
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = files.get(k) else { break };
                    if let Err(e) = write_frame(p, k, points) {
                        eprintln!("{}: {e}", p.display());
                    }
                });
            }
        });
    }
    let bytes: u64 = files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    println!(
        "wrote {frames} frames of {points} points ({:.1} MB each, {:.2} GB) in {:.1} s",
        bytes as f64 / frames as f64 / MB,
        bytes as f64 / 1e9,
        t.elapsed().as_secs_f64()
    );
    let cold = cold_read(&files, 8);
    println!("| cold disk read (O_DIRECT, 8 threads) | {cold:.0} MB/s |");
    let ctx = Context::new(&ContextDesc::default())?;
    println!("device: {}", ctx.caps().device_name);
    let compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
    let (memcpy, copy) = upload_bandwidth(&ctx)?;
    println!("| upload: memcpy into mapped staging | {memcpy:.0} MB/s |");
    println!("| upload: GPU copy staging -> device | {copy:.0} MB/s |");
    println!("| upload: both in series | {:.0} MB/s |", 1.0 / (1.0 / memcpy + 1.0 / copy));

    // Streaming: the whole sequence, cold, through a 1 GiB GPU pool.
    for p in &files {
        drop_cached(p);
    }
    let spec = format!("{}/frame_*.ply", dir.display());
    let options = scene::sequence::SequenceOptions {
        fps: 30.0,
        budget: cpu_budget_mb << 20,
        ahead: 16,
        ..Default::default()
    };
    let t = Instant::now();
    let mut scene = scene::sequence::open_with(&spec, &options)?;
    println!("opened (first frame and bounds samples) in {:.2} s", t.elapsed().as_secs_f64());
    let mut player = Player::new(&ctx, &compiler, &scene, render::DEFAULT_FRAME_BUDGET)?;
    let (secs, rendered) = play(&mut player, &mut scene, frames)?;
    ctx.wait_idle()?;
    let pool = player.gpu.frame_stats();
    let stream = scene.streams().pop().map(|s| s.stats());
    println!(
        "| streamed {frames} frames (cold) | {:.1} frames/s | read {:.0} MB/s | uploaded {:.0} \
         MB/s | {rendered} frames rendered | pool {pool:?} | cache {stream:?} |",
        frames as f64 / secs,
        bytes as f64 / MB / secs,
        pool.uploaded_bytes as f64 / MB / secs,
    );
    drop(player);
    drop(scene);

    // Preloaded: the first `preloaded` frames in a pool that holds them all.
    let first: Vec<PathBuf> = files.iter().take(preloaded).cloned().collect();
    let sub = dir.join("preloaded");
    let _ = std::fs::remove_dir_all(&sub);
    std::fs::create_dir_all(&sub)?;
    for p in &first {
        let name = p.file_name().ok_or_else(|| anyhow::anyhow!("name"))?;
        std::os::unix::fs::symlink(p, sub.join(name))?;
    }
    let spec = format!("{}/frame_*.ply", sub.display());
    let mut scene = scene::sequence::open_with(&spec, &options)?;
    let per = render::FramePool::slot_size(points);
    let budget = per * preloaded as u64 + (64 << 20);
    let mut player = Player::new(&ctx, &compiler, &scene, budget)?;
    let t = Instant::now();
    scene.set_time(0.0);
    let mut fill_frames = 0;
    while player.gpu.frame_stats().frames < preloaded {
        player.frame(&scene)?;
        fill_frames += 1;
        if t.elapsed().as_secs() > 600 {
            anyhow::bail!("the pool did not fill: {:?}", player.gpu.frame_stats());
        }
    }
    ctx.wait_idle()?;
    let fill = t.elapsed().as_secs_f64();
    let before = player.gpu.frame_stats();
    let (secs, rendered) = play(&mut player, &mut scene, preloaded)?;
    let (secs2, _) = play(&mut player, &mut scene, preloaded)?;
    ctx.wait_idle()?;
    let after = player.gpu.frame_stats();
    println!(
        "| preloaded {preloaded} frames | filled in {fill:.2} s ({fill_frames} frames, {:.0} MB/s) \
         | first lap {:.1} frames/s ({rendered} rendered) | second lap {:.1} frames/s | uploads \
         while playing: {} |",
        before.uploaded_bytes as f64 / MB / fill,
        preloaded as f64 / secs,
        preloaded as f64 / secs2,
        after.uploads - before.uploads
    );
    Ok(())
}
