//! Running the viewer without a window (machines without a display, tests, benchmarks).

use super::*;
use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use xpg::{Context, ContextDesc};

/// Makes the Vulkan context the viewer uses.
pub fn make_context(opts: &ViewerOptions) -> anyhow::Result<Context> {
    context_for(opts.validation, opts.cache_dir.as_deref())
}

fn context_for(validation: bool, cache_dir: Option<&Path>) -> anyhow::Result<Context> {
    let _span = tracing::info_span!("vulkan context").entered();
    Context::new(&ContextDesc {
        app_name: "xpg-view".into(),
        validation,
        pipeline_cache_path: cache_dir.map(|d| {
            let _ = std::fs::create_dir_all(d);
            d.join("pipelines.bin")
        }),
        ..Default::default()
    })
    .context("creating the Vulkan context")
}

/// The Vulkan context being made on another thread (most of a warm start is the driver's
/// vkCreateDevice: the window, the files and the UI are made meanwhile).
pub(crate) struct PendingContext {
    thread: std::thread::JoinHandle<anyhow::Result<(Context, f64)>>,
}

/// Starts making the context for `opts`.
pub(crate) fn start_context(opts: &ViewerOptions) -> PendingContext {
    let (validation, cache_dir) = (opts.validation, opts.cache_dir.clone());
    let thread = std::thread::spawn(move || {
        let t = Instant::now();
        let ctx = context_for(validation, cache_dir.as_deref())?;
        Ok((ctx, t.elapsed().as_secs_f64() * 1e3))
    });
    PendingContext { thread }
}

impl PendingContext {
    /// The context and the milliseconds it took to make.
    pub(crate) fn wait(self) -> anyhow::Result<(Context, f64)> {
        match self.thread.join() {
            Ok(r) => r,
            Err(_) => bail!("the thread making the Vulkan context panicked"),
        }
    }
}

/// Runs the viewer without a window: `frames` frames of `opts.size`, then the screenshot.
/// Returns the app (for its statistics and images).
pub fn run_offscreen(opts: ViewerOptions) -> anyhow::Result<App> {
    Ok(run_offscreen_timed(opts, Instant::now())?.0)
}

/// [`run_offscreen`], also returning a timing summary: time from `started` to the app being
/// ready and to the end of the first frame (GPU included), the mean wall time per frame after
/// the first 10 (frames in flight, as in the window), the mean GPU time per frame from
/// timestamps, and the shader compiler's counters.
pub fn run_offscreen_timed(opts: ViewerOptions, started: Instant) -> anyhow::Result<(App, String)> {
    run_offscreen_with(opts, started, None)
}

/// [`run_offscreen_timed`], with `setup` applied to the app once it is made.
pub(crate) fn run_offscreen_with(
    opts: ViewerOptions,
    started: Instant,
    setup: Option<crate::window::Setup>,
) -> anyhow::Result<(App, String)> {
    // The device is made on another thread while the files load.
    let pending = start_context(&opts);
    let t = Instant::now();
    let loaded = load_files(&opts.files, &opts.sequence);
    let files_ms = t.elapsed().as_secs_f64() * 1e3;
    let (ctx, context_ms) = pending.wait()?;
    let mut app = App::new_with(opts, ctx, None, Some(loaded))?;
    if let Some(setup) = setup {
        setup(&mut app);
    }
    app.startup.insert(0, ("files (load, beside the context)", files_ms));
    app.startup.insert(0, ("vulkan context (own thread)", context_ms));
    let ready_ms = started.elapsed().as_secs_f64() * 1e3;
    // A server without a frame count runs until a client sends `quit` (or a signal).
    let serve = app.server_addr().is_some() && app.opts.frames.is_none();
    let frames = if serve { u64::MAX } else { app.opts.frames.unwrap_or(1).max(1) };
    let mut first_ms = 0.0;
    let warmup = 10.min(frames - 1);
    let mut steady_start = Instant::now();
    let mut gpu_sum = 0.0f64;
    let mut gpu_n = 0u32;
    let (mut cpu_sum, mut cpu_n) = (0.0f64, 0u32);
    let mut pass_sums: Vec<(String, f64)> = Vec::new();
    let mut rendered = 0u64;
    for i in 0..frames {
        if app.quit_requested() {
            break;
        }
        let size = app.requested_size.take().unwrap_or(app.size);
        app.frame(None, size)?;
        rendered += 1;
        if serve && !app.playback.playing {
            // Idle between clients' requests: not a busy loop.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if i == 0 {
            app.ctx.wait_idle()?;
            first_ms = started.elapsed().as_secs_f64() * 1e3;
        }
        if i + 1 == warmup.max(1) {
            steady_start = Instant::now();
        }
        if i >= warmup.max(1) {
            cpu_sum += f64::from(app.stats.cpu_ms);
            cpu_n += 1;
        }
        if i >= warmup.max(1) && app.stats.gpu_ms > 0.0 {
            gpu_sum += f64::from(app.stats.gpu_ms);
            gpu_n += 1;
            for (name, ms) in &app.stats.passes {
                match pass_sums.iter_mut().find(|(n, _)| n == name) {
                    Some(e) => e.1 += f64::from(*ms),
                    None => pass_sums.push((name.clone(), f64::from(*ms))),
                }
            }
        }
    }
    app.ctx.wait_idle()?;
    let frames = rendered;
    let steady = frames.saturating_sub(warmup.max(1));
    let frame_ms = if steady > 0 {
        steady_start.elapsed().as_secs_f64() * 1e3 / steady as f64
    } else {
        f64::NAN
    };
    if let Some(p) = app.opts.screenshot.clone() {
        app.save_window(&p)?;
    }
    let n = app.validation_messages();
    if app.opts.validation && n > 0 {
        bail!("{n} validation messages:\n{}", app.ctx.validation_messages().recent.join("\n"));
    }
    let cs = app.compiler.stats();
    let summary = format!(
        "frames {frames} size {}x{} ready_ms {ready_ms:.1} first_frame_ms {first_ms:.1} \
         frame_ms {frame_ms:.3} gpu_ms {:.3} shader_compiles {} shader_disk_hits {}",
        app.size.0,
        app.size.1,
        if gpu_n > 0 { gpu_sum / f64::from(gpu_n) } else { f64::NAN },
        cs.compiles,
        cs.disk_hits
    );
    let mut summary = summary;
    if cpu_n > 0 {
        summary += &format!(" cpu_ms {:.3}", cpu_sum / f64::from(cpu_n));
    }
    if !app.reload_ms.is_empty() {
        summary += "\nshader reloads (ms from the file change to the end of the first frame \
                    using it):";
        for ms in &app.reload_ms {
            summary += &format!(" {ms:.1}");
        }
    }
    summary += "\nstartup (ms):";
    for (phase, ms) in &app.startup {
        summary += &format!(" [{phase}] {ms:.1}");
    }
    if gpu_n > 0 {
        summary += "\npasses (mean GPU ms):";
        for (name, sum) in &pass_sums {
            summary += &format!(" [{name}] {:.3}", sum / f64::from(gpu_n));
        }
    }
    Ok((app, summary))
}
