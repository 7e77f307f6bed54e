//! Export of a range of frames of an animated scene: `xpg-view render SCENE --frames
//! FIRST-LAST [--fps F] --out frames/%05d.png` (or `.exr`, or a movie through ffmpeg), and the
//! viewer's Export button. Frame i is the scene at time i / F.
//!
//! The frames go through [`render::headless::FrameExporter`] (two frames in flight, read back
//! while the GPU renders the next) and are written by a pool of threads (images) or piped to
//! ffmpeg in order (movies), so export runs at the speed of the slower of the GPU and the
//! encoders.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context as _};
use render::headless::{ExportedFrame, FrameExporter, Readback, RenderedImage};
use render::GpuScene;
use scene::{Scene, View};

use crate::RenderRequest;

/// How long an export waits for a frame's streamed data.
pub const SOURCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The frame rate of an export when neither the request nor the scene names one.
pub const DEFAULT_FPS: f64 = 30.0;

/// Where exported frames go.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportOutput {
    /// One image per frame: a path with one `%d` or `%0Nd` (replaced by the frame index),
    /// `.png` (tonemapped sRGB) or `.exr` (linear HDR radiance).
    Images(PathBuf),
    /// A movie encoded by ffmpeg (H.264, yuv420p): `.mp4`, `.mov` or `.mkv`.
    Movie(PathBuf),
}

impl ExportOutput {
    /// Reads `out`: a movie by its extension, else an image pattern (checked).
    pub fn parse(out: &Path) -> anyhow::Result<Self> {
        let ext = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("mp4" | "mov" | "mkv") => Ok(Self::Movie(out.to_path_buf())),
            Some("png" | "exr") => {
                let name = out.to_str().with_context(|| {
                    format!("{}: the output pattern is not valid UTF-8", out.display())
                })?;
                frame_pattern(name).with_context(|| {
                    format!(
                        "{}: an exported frame's file name needs one %d or %0Nd (the frame \
                         index), e.g. frames/%05d.png",
                        out.display()
                    )
                })?;
                Ok(Self::Images(out.to_path_buf()))
            }
            _ => bail!(
                "{}: unsupported output for frames (expected .png or .exr with %05d in the \
                 name, or a movie: .mp4, .mov, .mkv)",
                out.display()
            ),
        }
    }

    /// The file of frame `index` (for images).
    pub fn frame_path(&self, index: u64) -> PathBuf {
        match self {
            Self::Images(p) => {
                let name = p.to_string_lossy();
                match frame_pattern(&name) {
                    Some((start, end, width)) => PathBuf::from(format!(
                        "{}{:0width$}{}",
                        &name[..start],
                        index,
                        &name[end..],
                        width = width
                    )),
                    None => p.clone(),
                }
            }
            Self::Movie(p) => p.clone(),
        }
    }
}

/// The one `%d` / `%0Nd` in `name`: (start, end, width). None when there is none or more
/// than one.
fn frame_pattern(name: &str) -> Option<(usize, usize, usize)> {
    let mut found = None;
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'd' {
                let digits = &name[i + 1..j];
                if !digits.is_empty() && !digits.starts_with('0') {
                    return None; // %5d would pad with spaces: not a file name
                }
                let width = if digits.len() > 1 { digits[1..].parse().ok()? } else { 0 };
                if found.is_some() || width > 12 {
                    return None;
                }
                found = Some((i, j + 1, width));
                i = j;
            }
        }
        i += 1;
    }
    found
}

/// Parses `FIRST-LAST` (inclusive frame indices) or a single `N`.
pub fn parse_frames(s: &str) -> anyhow::Result<(u64, u64)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let first: u64 = a.trim().parse().with_context(|| format!("--frames '{s}': first frame"))?;
    let last: u64 = b.trim().parse().with_context(|| format!("--frames '{s}': last frame"))?;
    if last < first {
        bail!("--frames '{s}': the last frame is before the first");
    }
    if last - first >= 10_000_000 {
        bail!("--frames '{s}': more than ten million frames");
    }
    Ok((first, last))
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// First and last frame index (inclusive).
    pub frames: (u64, u64),
    /// Frames per second: frame i is the scene at time i / fps. None: the scene's own rate,
    /// else [`DEFAULT_FPS`].
    pub fps: Option<f64>,
    /// Where the frames go.
    pub output: ExportOutput,
    /// Show a progress bar on the terminal (when stderr is one).
    pub progress_bar: bool,
}

/// How an export went.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    /// Frames written.
    pub frames: u64,
    /// Wall time in seconds, from the first frame submitted to the last one written.
    pub seconds: f64,
    /// The frame rate used.
    pub fps: f64,
    /// Frames whose file of a streamed sequence failed to load (the frame shows the last
    /// good data): the exported frame's index, the file and the reason.
    pub failed: Vec<(u64, PathBuf, String)>,
}

impl ExportSummary {
    /// One line per failed frame (empty when none failed).
    pub fn failures(&self) -> String {
        self.failed.iter().map(|(i, p, e)| format!("frame {i}: {}: {e}\n", p.display())).collect()
    }
}

/// Progress of an export, shared with another thread (the viewer's Export panel).
#[derive(Debug, Default)]
pub struct ExportProgress {
    /// Frames written so far.
    pub done: std::sync::atomic::AtomicU64,
    /// Frames in all.
    pub total: std::sync::atomic::AtomicU64,
    /// Set to stop the export (it fails with "cancelled").
    pub cancel: AtomicBool,
}

/// Exports `ex.frames` of `scene` as `req` says (renderer, settings, size, camera, samples):
/// frame i is `scene` set to time i / fps and rendered exactly as `render` renders one image.
/// `view`: a fixed view (the viewer's camera) of the output's size; None: the request's
/// camera at each frame's time (an animated camera moves).
pub fn export(
    scene: &mut Scene,
    req: &RenderRequest,
    ex: &ExportRequest,
    view: Option<View>,
    progress: &ExportProgress,
) -> anyhow::Result<ExportSummary> {
    let fps = ex.fps.or_else(|| scene.frame_rate()).unwrap_or(DEFAULT_FPS);
    if !(fps.is_finite() && fps > 0.0) {
        bail!("--fps {fps}: the frame rate must be positive");
    }
    let size = match &view {
        Some(v) => (v.width, v.height),
        None => crate::render_size(scene, req),
    };
    if let ExportOutput::Movie(_) = ex.output {
        check_ffmpeg()?;
    }
    if let Some(dir) = ex.output.frame_path(ex.frames.0).parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let (first, last) = ex.frames;
    let total = last - first + 1;
    progress.total.store(total, Ordering::Relaxed);
    progress.done.store(0, Ordering::Relaxed);
    let time = |i: u64| i as f64 / fps;
    // Without a camera in the file: one view framing the bounds of every exported frame (at
    // most 256 of them sampled evenly), not each frame's own.
    let view = match view {
        Some(v) => Some(v),
        None if scene.camera_node(req.camera.as_deref()).is_none() && req.camera.is_none() => {
            let samples = total.min(256);
            let times = (0..samples)
                .map(|k| first + k * (total - 1) / (samples - 1).max(1))
                .map(time)
                .collect::<Vec<_>>();
            // Streamed data is waited for: the view holds the frames as they will be.
            let mut bounds: Option<(glam::Vec3, glam::Vec3)> = None;
            for t in times {
                if !scene.set_time_waiting(t, SOURCE_TIMEOUT) {
                    bail!("the data of {t:.3} s did not arrive in {SOURCE_TIMEOUT:?}");
                }
                if let Some((lo, hi)) = scene.bounds() {
                    bounds = Some(bounds.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                }
            }
            Some(View::framing(bounds, scene.up_axis(), size.0, size.1))
        }
        None => None,
    };
    scene.set_time(time(first));
    let mut h = crate::Headless::new(scene, req)?;
    let readback = match &ex.output {
        ExportOutput::Images(p) if is_exr(p) => Readback { ldr: false, hdr: true },
        _ => Readback { ldr: true, hdr: false },
    };
    let mut exporter =
        FrameExporter::new(&h.ctx, &h.compiler, size, h.renderer.hdr_format(), readback)?;
    let bar = progress_bar(ex.progress_bar, total);
    let started = Instant::now();
    let writer = Writer::start(&ex.output, size, fps)?;
    let streams = scene.streams();
    let mut failed = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for i in first..=last {
            if progress.cancel.load(Ordering::Relaxed) {
                bail!("export cancelled after {} frames", progress.done.load(Ordering::Relaxed));
            }
            // Each frame exactly at its time: streamed data is waited for.
            if !scene.set_time_waiting(time(i), SOURCE_TIMEOUT) {
                bail!(
                    "frame {i}: the data of {:.3} s did not arrive in {SOURCE_TIMEOUT:?}",
                    time(i)
                );
            }
            // A frame file that failed: reported by name; the frame holds the last good data.
            for st in &streams {
                if let Some((path, e)) = st.index_at(time(i)).and_then(|k| st.error(k)) {
                    tracing::warn!("frame {i}: {}: {e}", path.display());
                    failed.push((i, path, e));
                }
            }
            if h.gpu_scene.needs_upload(scene) {
                // Topology changed: drain, then a new GPU copy.
                writer.send_all(exporter.finish()?)?;
                h.gpu_scene = GpuScene::upload(&h.ctx, scene).context("uploading the scene")?;
                h.renderer.scene_changed(scene, &h.gpu_scene);
            }
            let v = match &view {
                Some(v) => *v,
                None => crate::request_view(scene, req, size)?,
            };
            let done = exporter.submit(
                h.renderer.as_mut(),
                &mut h.gpu_scene,
                Some(scene),
                &v,
                req.spp,
                i,
            )?;
            writer.send_all(done)?;
            update(&bar, progress, writer.written());
        }
        writer.send_all(exporter.finish()?)?;
        Ok(())
    })();
    let written = writer.finish();
    bar.finish_and_clear();
    // A writer's own error says more than the loop's "writing failed".
    let frames = written?;
    result?;
    update(&bar, progress, frames);
    h.check_validation()?;
    Ok(ExportSummary { frames, seconds: started.elapsed().as_secs_f64(), fps, failed })
}

fn is_exr(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("exr"))
}

fn progress_bar(on: bool, total: u64) -> indicatif::ProgressBar {
    if !on {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{wide_bar} {pos}/{len} frames  {per_sec:.1}  {elapsed} elapsed, {eta} left",
    ) {
        bar.set_style(style);
    }
    bar
}

fn update(bar: &indicatif::ProgressBar, progress: &ExportProgress, written: u64) {
    progress.done.store(written, Ordering::Relaxed);
    bar.set_position(written);
}

/// Fails clearly when ffmpeg cannot be run.
fn check_ffmpeg() -> anyhow::Result<()> {
    let ok = std::process::Command::new("ffmpeg")
        .arg("-version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!(
            "movies are encoded by ffmpeg, which is not installed (scripts/setup.sh installs \
             it); or export images: --out frames/%05d.png"
        );
    }
    Ok(())
}

/// The threads that write exported frames: a pool of image encoders, or one thread that
/// pipes frames in order to ffmpeg.
struct Writer {
    tx: Option<mpsc::SyncSender<ExportedFrame>>,
    threads: Vec<std::thread::JoinHandle<anyhow::Result<u64>>>,
    written: Arc<std::sync::atomic::AtomicU64>,
    failed: Arc<AtomicBool>,
}

impl Writer {
    fn start(output: &ExportOutput, (w, h): (u32, u32), fps: f64) -> anyhow::Result<Self> {
        let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let workers = match output {
            ExportOutput::Movie(_) => 1,
            ExportOutput::Images(_) => std::thread::available_parallelism()
                .map(|n| n.get().saturating_sub(1))
                .unwrap_or(1)
                .clamp(1, 16),
        };
        let (tx, rx) = mpsc::sync_channel::<ExportedFrame>(2 * workers);
        let rx = Arc::new(Mutex::new(rx));
        let mut threads = Vec::new();
        match output {
            ExportOutput::Movie(path) => {
                let mut child = ffmpeg(path, (w, h), fps)?;
                let (rx, written, failed) = (rx.clone(), written.clone(), failed.clone());
                let path = path.clone();
                threads.push(std::thread::spawn(move || {
                    let r = pipe_movie(&mut child, &rx, &written, &path);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    r
                }));
            }
            ExportOutput::Images(_) => {
                for _ in 0..workers {
                    let (rx, written, failed) = (rx.clone(), written.clone(), failed.clone());
                    let output = output.clone();
                    threads.push(std::thread::spawn(move || {
                        let mut n = 0;
                        loop {
                            let next =
                                rx.lock().map_err(|_| anyhow::anyhow!("writer lock"))?.recv();
                            let Ok(frame) = next else { return Ok(n) };
                            let path = output.frame_path(frame.tag);
                            if let Err(e) = crate::save(&frame.image, &path) {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                            n += 1;
                            written.fetch_add(1, Ordering::Relaxed);
                        }
                    }));
                }
            }
        }
        Ok(Self { tx: Some(tx), threads, written, failed })
    }

    fn send_all(&self, frames: Vec<ExportedFrame>) -> anyhow::Result<()> {
        for f in frames {
            let sent = self.tx.as_ref().is_some_and(|tx| tx.send(f).is_ok());
            if !sent || self.failed.load(Ordering::Relaxed) {
                bail!("writing the frames failed (see below)");
            }
        }
        Ok(())
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Closes the queue, waits for the writers and returns the frames written (or the first
    /// writer's error).
    fn finish(mut self) -> anyhow::Result<u64> {
        drop(self.tx.take());
        let mut total = 0;
        let mut first_err = None;
        for t in self.threads.drain(..) {
            match t.join() {
                Ok(Ok(n)) => total += n,
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(anyhow::anyhow!("a frame writer panicked"));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
}

/// ffmpeg reading raw RGBA frames on stdin and writing H.264 to `path` (odd sizes padded to
/// even, as yuv420p needs).
fn ffmpeg(path: &Path, (w, h): (u32, u32), fps: f64) -> anyhow::Result<std::process::Child> {
    std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgba"])
        .args(["-s", &format!("{w}x{h}"), "-framerate", &format!("{fps}"), "-i", "-"])
        .args(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .args(["-crf", "18", "-preset", "medium"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting ffmpeg")
}

fn pipe_movie(
    child: &mut std::process::Child,
    rx: &Mutex<mpsc::Receiver<ExportedFrame>>,
    written: &std::sync::atomic::AtomicU64,
    path: &Path,
) -> anyhow::Result<u64> {
    let mut n = 0;
    {
        let mut stdin = child.stdin.take().context("ffmpeg's input")?;
        loop {
            let next = rx.lock().map_err(|_| anyhow::anyhow!("writer lock"))?.recv();
            let Ok(frame) = next else { break };
            let RenderedImage { ldr, .. } = frame.image;
            if let Err(e) = stdin.write_all(&ldr) {
                let msg = ffmpeg_error(child);
                bail!("ffmpeg stopped while writing {}: {e}{msg}", path.display());
            }
            n += 1;
            written.fetch_add(1, Ordering::Relaxed);
        }
    }
    let out = child.wait_with_output_ref()?;
    if !out.0.success() {
        bail!("ffmpeg failed writing {} ({}): {}", path.display(), out.0, out.1.trim());
    }
    Ok(n)
}

fn ffmpeg_error(child: &mut std::process::Child) -> String {
    let _ = child.kill();
    match child.wait_with_output_ref() {
        Ok((_, err)) if !err.trim().is_empty() => format!(": {}", err.trim()),
        _ => String::new(),
    }
}

/// `wait_with_output` for a child whose stdin was taken: its status and stderr.
trait WaitRef {
    fn wait_with_output_ref(&mut self) -> anyhow::Result<(std::process::ExitStatus, String)>;
}

impl WaitRef for std::process::Child {
    fn wait_with_output_ref(&mut self) -> anyhow::Result<(std::process::ExitStatus, String)> {
        let mut err = String::new();
        if let Some(mut e) = self.stderr.take() {
            use std::io::Read as _;
            let _ = e.read_to_string(&mut err);
        }
        Ok((self.wait().context("waiting for ffmpeg")?, err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_patterns() {
        let o = ExportOutput::parse(Path::new("out/f_%05d.png")).expect("pattern");
        assert_eq!(o.frame_path(42), PathBuf::from("out/f_00042.png"));
        let o = ExportOutput::parse(Path::new("a%d.exr")).expect("pattern");
        assert_eq!(o.frame_path(7), PathBuf::from("a7.exr"));
        assert!(ExportOutput::parse(Path::new("out.png")).is_err());
        assert!(ExportOutput::parse(Path::new("%d_%d.png")).is_err());
        assert!(ExportOutput::parse(Path::new("%5d.png")).is_err());
        assert!(ExportOutput::parse(Path::new("x.gif")).is_err());
        assert_eq!(
            ExportOutput::parse(Path::new("m.MP4")).expect("movie"),
            ExportOutput::Movie("m.MP4".into())
        );
        assert_eq!(parse_frames("3-10").expect("range"), (3, 10));
        assert_eq!(parse_frames("5").expect("one"), (5, 5));
        assert!(parse_frames("10-3").is_err());
        assert!(parse_frames("a-3").is_err());
        assert!(parse_frames("-3").is_err());
    }
}
