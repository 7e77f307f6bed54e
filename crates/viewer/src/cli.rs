//! The command line of `xpg-view`, as a library function: `xpg-view [FILES...]` opens the
//! viewer window (or runs it offscreen with `--offscreen WxH`); `xpg-view render SCENE --out
//! FILE` renders one image headless. A program with renderers of its own calls [`run`] with
//! its registry, and they appear in `--viewports`, `render --renderer` and `--set`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use render::{Registry, SettingValue};

#[derive(Parser)]
#[command(
    name = "xpg-view",
    version,
    about = "3D data viewer: opens glTF/GLB, OBJ, PLY and image files in a window",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    view: ViewArgs,
}

#[derive(clap::Args)]
struct ViewArgs {
    /// Files to open (.gltf, .glb, .obj, .ply, .png, .jpg, .hdr, .exr, .npy, .npz; .csv: time
    /// series to plot), or sequences: a folder of frame files or a quoted glob ('scans/*.ply').
    files: Vec<PathBuf>,
    #[command(flatten)]
    sequence: SequenceArgs,
    /// Serve other programs (the Python and Rust clients): `--listen` (127.0.0.1:9870),
    /// `--listen PORT` or `--listen ADDR:PORT`. Another address than 127.0.0.1 needs a token
    /// (`--token`, or one generated and printed); the traffic is not encrypted. With
    /// --offscreen and no --frames, runs until a client sends `quit` or a signal stops it.
    #[arg(long, value_name = "[ADDR:]PORT", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    listen: Option<String>,
    /// The token clients must send (with --listen).
    #[arg(long)]
    token: Option<String>,
    /// Save what clients send (with its timing) to FILE (.xpgrec); `xpg-view FILE.xpgrec`
    /// replays it onto the timeline.
    #[arg(long, value_name = "FILE", requires = "listen")]
    record: Option<PathBuf>,
    /// Window size WxH (default 1280x800). Flags override the config file.
    #[arg(long)]
    size: Option<String>,
    /// Vertical sync: on (default) or off.
    #[arg(long, value_parser = ["on", "off"])]
    vsync: Option<String>,
    /// Raster multisampling: samples per pixel (1 = off, 2, 4 (default), 8).
    #[arg(long)]
    msaa: Option<u32>,
    /// How raster viewports composite transparent surfaces: peeling (exact, default), wboit
    /// (weighted blended, approximate) or sorted (per object).
    #[arg(long, value_parser = raster::Transparency::NAMES)]
    transparency: Option<String>,
    /// The viewports to open, one renderer each (comma-separated names of registered
    /// renderers: raster, pathtracer, ...; default raster).
    #[arg(long, value_delimiter = ',')]
    viewports: Option<Vec<String>>,
    /// A renderer setting, `RENDERER.KEY=VALUE` (repeatable), e.g. `raster.shadow_size=4096`,
    /// `pathtracer.firefly_clamp=on`: the keys are those of the viewport's Settings popup.
    #[arg(long = "set", value_name = "RENDERER.KEY=VALUE")]
    set: Vec<String>,
    /// World up axis (camera convention): auto (default: the files' convention, glTF +Y; a PLY
    /// or OBJ flat in Z is +Z up), y or z.
    #[arg(long, value_parser = ["auto", "y", "z"])]
    up: Option<String>,
    /// Path tracer: samples per pixel per frame (default 1).
    #[arg(long)]
    spp: Option<u32>,
    /// Path tracer: longest path (bounces; default 8).
    #[arg(long)]
    max_depth: Option<u32>,
    /// The config file (default: ~/.config/xpg-view/config.toml when it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write the default configuration to FILE (default: the user's config file) and exit.
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true)]
    write_config: Option<Option<PathBuf>>,
    /// Run without a window, rendering WxH images (the same frame: viewports, UI, tonemap).
    #[arg(long, value_name = "WxH")]
    offscreen: Option<String>,
    /// Stop after N frames.
    #[arg(long)]
    frames: Option<u64>,
    /// After the last frame, save the whole window to this file (.png or .exr).
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// Scripted input (see `crate::input`); real input is then ignored.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Run with the Vulkan validation layer; any message makes the exit status non-zero.
    #[arg(long)]
    validation: bool,
    /// Folder of the pipeline and shader caches (default: the user's cache folder).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Keep no caches on disk.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Print timings at the end (frames, first frame, mean frame time, GPU time).
    #[arg(long)]
    stats: bool,
    /// Take the project's shaders from DIR (a copy of `shaders/` to edit while the viewer
    /// runs) instead of the built-in folder.
    #[arg(long, value_name = "DIR")]
    shader_dir: Option<PathBuf>,
    /// Do not watch shader files (no hot reload).
    #[arg(long)]
    no_hot_reload: bool,
    /// Show the files' own light only: no default lighting for files without punctual
    /// lights or an environment.
    #[arg(long)]
    no_default_lighting: bool,
    /// A folder of custom passes (each `NAME.toml` with its Slang shader; repeatable; adds to
    /// the config file's).
    #[arg(long = "passes", value_name = "DIR")]
    passes: Vec<PathBuf>,
    /// Panels to open at start (comma-separated: stats, graph, inspector).
    #[arg(long, value_delimiter = ',', value_parser = ["stats", "graph", "inspector"])]
    panels: Vec<String>,
}

/// How sequences open (the viewer and `render`).
#[derive(clap::Args, Debug, Clone, Default)]
struct SequenceArgs {
    /// A sequence of frame files: a glob ('scans/*.ply', quoted) or a folder (repeatable;
    /// a folder or a glob among the files is one too).
    #[arg(long = "sequence", value_name = "PATTERN")]
    sequences: Vec<PathBuf>,
    /// Frames per second of the sequences (default 30). For `render --frames`, also the
    /// export's rate.
    #[arg(long)]
    fps: Option<f64>,
    /// A timestamps file for the sequences: one time in seconds per line, or a CSV with a
    /// `time` column (its other columns are plotted on the timeline).
    #[arg(long, value_name = "FILE")]
    timestamps: Option<PathBuf>,
}

impl SequenceArgs {
    /// The inputs (`files` then `--sequence`s) and how their sequences open.
    fn resolve(
        &self,
        files: &[PathBuf],
        cfg: &crate::config::StreamConfig,
    ) -> anyhow::Result<(Vec<PathBuf>, scene::sequence::SequenceOptions)> {
        if let Some(f) = self.fps {
            if !(f.is_finite() && f > 0.0 && f <= 100_000.0) {
                anyhow::bail!("--fps {f}: expected a rate in (0, 100000]");
            }
        }
        let options = scene::sequence::SequenceOptions {
            fps: self.fps.unwrap_or(30.0),
            timestamps: self.timestamps.clone(),
            budget: (cfg.cpu_budget_mb as usize).saturating_mul(1 << 20),
            ahead: cfg.ahead,
        };
        let inputs: Vec<PathBuf> = files.iter().chain(&self.sequences).cloned().collect();
        Ok((inputs, options))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Render a scene to an image: .png (tonemapped sRGB) or .exr (linear HDR radiance); with
    /// --frames, a range of frames of its animation to images or a movie.
    Render {
        /// Scene files and sequences (as the viewer's files; several open on one timeline;
        /// at least one, or a --sequence).
        scenes: Vec<PathBuf>,
        #[command(flatten)]
        sequence: SequenceArgs,
        /// Output image (.png or .exr). With --frames: a file name with the frame index as
        /// %05d (or %d, %0Nd), e.g. frames/%05d.png, or a movie (.mp4, .mov, .mkv; encoded by
        /// ffmpeg).
        #[arg(long)]
        out: PathBuf,
        /// Export frames FIRST-LAST (inclusive indices; frame i is the scene at time i / FPS).
        #[arg(long, value_name = "FIRST-LAST")]
        frames: Option<String>,
        /// Render the scene at this time in seconds (default: its first key).
        #[arg(long, conflicts_with = "frames")]
        time: Option<f64>,
        /// The file's animation to play: its name, its index or `all` (default: all when
        /// they move different nodes, else the first).
        #[arg(long)]
        animation: Option<String>,
        /// Image size WxH (default: 1280 wide at the camera's aspect ratio).
        #[arg(long)]
        size: Option<String>,
        /// Renderer (a registered name: raster, pathtracer, ...).
        #[arg(long, default_value = "raster")]
        renderer: String,
        /// A setting of the renderer, `KEY=VALUE` (repeatable; the keys of the viewer's
        /// Settings popup).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Camera (camera or node name; default: the first camera).
        #[arg(long)]
        camera: Option<String>,
        /// Run with the Vulkan validation layer and fail on any message.
        #[arg(long)]
        validation: bool,
        /// Draw a reference grid on the ground plane: `--grid` (1 unit spacing) or
        /// `--grid=SPACING`.
        #[arg(
            long,
            value_name = "SPACING",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "1"
        )]
        grid: Option<f32>,
        /// The grid's up axis: y (glTF) or z; default: the scene's (glTF +Y; a PLY or OBJ flat
        /// in Z is +Z up).
        #[arg(long, requires = "grid", value_parser = ["y", "z"])]
        up: Option<String>,
        /// Multisample anti-aliasing: samples per pixel (1 = off, 2, 4, 8).
        #[arg(long, default_value_t = 4)]
        msaa: u32,
        /// Raster: how transparent surfaces are composited: peeling (exact, default), wboit
        /// (weighted blended, approximate) or sorted (per object).
        #[arg(long, value_parser = raster::Transparency::NAMES)]
        transparency: Option<String>,
        /// Path tracer: samples per pixel.
        #[arg(long, default_value_t = 64)]
        spp: u32,
        /// Path tracer: longest path (bounces).
        #[arg(long, default_value_t = 64)]
        max_depth: u32,
        /// Path tracer: seed of the random sequences.
        #[arg(long, default_value_t = 0)]
        seed: u32,
        /// Path tracer: also write the per-sample variance per pixel and channel (.exr).
        #[arg(long)]
        variance: Option<PathBuf>,
        /// Path tracer: also write what the samples hit first, next to --out: OUT_albedo.exr
        /// (RGB; 1 where nothing lit was hit), OUT_normal.exr (world-space unit normal facing
        /// the camera; 0 where nothing was hit) and OUT_depth.exr (distance along the ray in
        /// scene units, in all three channels; infinite where nothing was hit).
        #[arg(long)]
        aov: bool,
        /// Path tracer: thin-lens aperture radius in scene units (0: pinhole).
        #[arg(long, default_value_t = 0.0)]
        aperture: f32,
        /// Path tracer: distance in focus (with --aperture).
        #[arg(long, default_value_t = 1.0)]
        focus: f32,
        /// Render the file's own light only: no default lighting when it has no punctual
        /// light or environment (the reference scenes' convention).
        #[arg(long)]
        no_default_lighting: bool,
    },
}

/// Parses `KEY=VALUE` into a setting.
fn parse_setting(s: &str) -> anyhow::Result<(String, SettingValue)> {
    let (k, v) = s.split_once('=').with_context(|| format!("'{s}': expected KEY=VALUE"))?;
    let value = SettingValue::parse(v)
        .with_context(|| format!("'{s}': the value is not a switch (on/off) or a number"))?;
    Ok((k.trim().to_string(), value))
}

/// Parses `RENDERER.KEY=VALUE` into a setting of a registered renderer.
pub fn parse_renderer_setting(
    s: &str,
    registry: &Registry,
) -> anyhow::Result<(String, String, SettingValue)> {
    let (name, rest) =
        s.split_once('.').with_context(|| format!("--set '{s}': expected RENDERER.KEY=VALUE"))?;
    let name = registry.resolve(name.trim()).with_context(|| format!("--set '{s}'"))?;
    let (k, v) = parse_setting(rest).context("--set")?;
    Ok((name.to_string(), k, v))
}

/// Sets up logging (`RUST_LOG`, warnings by default; with the `tracy` feature, spans also go
/// to a Tracy profiler on this machine).
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter);
    let registry = tracing_subscriber::registry().with(fmt);
    #[cfg(feature = "tracy")]
    let registry = registry.with(tracing_tracy::TracyLayer::default());
    let _ = registry.try_init();
}

/// `--listen PORT` and `--listen ADDR:PORT` as `--listen=...` (the value is optional, so the
/// parser alone would take a following word for a file to open): a word that reads as a port
/// or a socket address and is not a file is the flag's value.
fn listen_value_joined(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    for a in args {
        let value = a.to_str().filter(|v| {
            (v.parse::<u16>().is_ok() || v.parse::<std::net::SocketAddr>().is_ok())
                && !std::path::Path::new(v).exists()
        });
        if let (Some(v), Some(last)) = (value, out.last_mut()) {
            if last == "--listen" {
                *last = format!("--listen={v}").into();
                continue;
            }
        }
        out.push(a);
    }
    out
}

/// Runs `xpg-view` with the process's arguments and `registry`'s renderers.
pub fn run(registry: Registry) -> anyhow::Result<()> {
    init_logging();
    let started = std::time::Instant::now();
    let cli = Cli::parse_from(listen_value_joined(std::env::args_os()));
    match cli.command {
        None => view(cli.view, registry, started)?,
        Some(Command::Render {
            scenes,
            sequence,
            out,
            frames,
            time,
            animation,
            size,
            renderer,
            set,
            camera,
            validation,
            grid,
            up,
            msaa,
            transparency,
            spp,
            max_depth,
            seed,
            variance,
            aov,
            aperture,
            focus,
            no_default_lighting,
        }) => {
            let size = size.as_deref().map(crate::parse_size).transpose()?;
            let cfg = crate::config::Config::default();
            let (inputs, seq) = sequence.resolve(&scenes, &cfg.stream)?;
            let scene =
                inputs.first().cloned().context("render: name a scene file or a --sequence")?;
            let fps = sequence.fps;
            let export = match &frames {
                Some(f) => Some(crate::export::ExportRequest {
                    frames: crate::export::parse_frames(f)?,
                    fps,
                    output: crate::export::ExportOutput::parse(&out)?,
                    progress_bar: true,
                }),
                None => {
                    crate::check_output(&out)?;
                    None
                }
            };
            if let Some(t) = time.filter(|t| !t.is_finite()) {
                anyhow::bail!("--time {t}: not a time in seconds");
            }
            let grid = grid
                .map(|spacing| {
                    let up = match up.as_deref() {
                        Some("z") => raster::GridUp::Z,
                        _ => raster::GridUp::Y,
                    };
                    let grid = raster::Grid { spacing, up, ..Default::default() };
                    grid.validate().map_err(|e| anyhow::anyhow!("--grid={spacing}: {e}"))?;
                    Ok::<_, anyhow::Error>(grid)
                })
                .transpose()?;
            let mut settings =
                set.iter().map(|s| parse_setting(s)).collect::<anyhow::Result<Vec<_>>>()?;
            registry.resolve(&renderer).context("--renderer")?;
            if aov {
                if renderer != "pathtracer" {
                    anyhow::bail!("--aov: only the path tracer keeps what its samples hit");
                }
                settings.push(("aovs".into(), SettingValue::Bool(true)));
            }
            let req = crate::RenderRequest {
                scene,
                size,
                camera,
                renderer,
                registry,
                settings,
                validation,
                grid,
                grid_up_from_scene: up.is_none(),
                msaa,
                transparency: transparency.as_deref().and_then(raster::Transparency::parse),
                spp,
                max_depth,
                seed,
                light_selection: pathtracer::LightSelection::Tree,
                lens: (aperture, focus),
                default_lighting: !no_default_lighting,
            };
            if let Some(ex) = export {
                if variance.is_some() || aov {
                    anyhow::bail!("--variance and --aov are for one image, not with --frames");
                }
                let mut scene = crate::load_scenes(&inputs, &seq, req.default_lighting)?;
                if let Some(a) = &animation {
                    crate::choose_animation(&mut scene, a)?;
                }
                let progress = crate::export::ExportProgress::default();
                let s = crate::export::export(&mut scene, &req, &ex, None, &progress)
                    .with_context(|| format!("exporting {}", req.scene.display()))?;
                println!(
                    "wrote {} frames to {} in {:.2} s ({:.1} frames/s; {} frames per second of \
                     scene time)",
                    s.frames,
                    out.display(),
                    s.seconds,
                    s.frames as f64 / s.seconds.max(1e-9),
                    s.fps
                );
                if !s.failed.is_empty() {
                    eprint!("{}", s.failures());
                    anyhow::bail!(
                        "{} of {} frames could not be read (each shows the last good data)",
                        s.failed.len(),
                        s.frames
                    );
                }
                return Ok(());
            }
            let mut scene = crate::load_scenes(&inputs, &seq, req.default_lighting)?;
            if let Some(a) = &animation {
                crate::choose_animation(&mut scene, a)?;
            }
            let t = time.or_else(|| scene.time_span().map(|s| s.0));
            if let Some(t) = t {
                // Streamed data is waited for.
                if !scene.set_time_waiting(t, crate::export::SOURCE_TIMEOUT) {
                    anyhow::bail!("the data of {t} s did not arrive");
                }
            }
            let img = crate::render_scene(&scene, &req)
                .with_context(|| format!("rendering {}", req.scene.display()))?;
            crate::save(&img, &out)?;
            if let Some(v) = &variance {
                crate::save_variance(&img, v)?;
                println!("wrote {}", v.display());
            }
            if aov {
                for path in crate::save_aovs(&img, &out)? {
                    println!("wrote {}", path.display());
                }
            }
            println!("wrote {} ({}x{})", out.display(), img.width, img.height);
        }
    }
    Ok(())
}

fn view(a: ViewArgs, registry: Registry, started: std::time::Instant) -> anyhow::Result<()> {
    use crate::app::ViewerOptions;
    use crate::config::Config;
    if let Some(p) = &a.write_config {
        let path = match p {
            Some(p) => p.clone(),
            None => {
                Config::default_path().context("no config folder on this system: name a file")?
            }
        };
        if !a.files.is_empty() {
            anyhow::bail!(
                "--write-config takes its file with '=' (--write-config=FILE); got files {:?}",
                a.files
            );
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        use std::io::Write as _;
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).open(&path).with_context(
                || format!("writing {} (an existing file is never overwritten)", path.display()),
            )?;
        f.write_all(Config::default_text()?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote the default configuration to {}", path.display());
        return Ok(());
    }
    // The config file (an explicit one must exist), then the flags over it.
    let cfg_path = a.config.clone().or_else(|| Config::default_path().filter(|p| p.is_file()));
    let cfg = match &cfg_path {
        Some(p) => Config::load_with(p, &registry)?,
        None => Config::default(),
    };
    // Folders in the config file are relative to the file's folder.
    let cfg_dir =
        cfg_path.as_deref().and_then(|p| p.parent()).map(PathBuf::from).unwrap_or_default();
    let from_cfg = |f: &str| cfg_dir.join(f);
    if let Some(m) = a.msaa {
        if ![1, 2, 4, 8].contains(&m) {
            anyhow::bail!("--msaa {m}: expected 1, 2, 4 or 8");
        }
    }
    if a.spp.is_some_and(|v| !(1..=64).contains(&v)) {
        anyhow::bail!("--spp: expected 1..=64");
    }
    if a.max_depth.is_some_and(|v| !(1..=1024).contains(&v)) {
        anyhow::bail!("--max-depth: expected 1..=1024");
    }
    let keys = cfg.keys.parse().context("[keys]")?;
    let size = match (&a.offscreen, &a.size) {
        (Some(s), _) => crate::parse_size(s).context("--offscreen")?,
        (None, Some(s)) => crate::parse_size(s).context("--size")?,
        (None, None) => (cfg.window.size[0], cfg.window.size[1]),
    };
    let viewports = a
        .viewports
        .clone()
        .unwrap_or(cfg.renderer.viewports.clone())
        .iter()
        .map(|s| registry.resolve(s.trim()).map(str::to_string))
        .collect::<Result<Vec<_>, _>>()
        .context("--viewports")?;
    // The config file's settings, then the flags'.
    let mut renderer_settings = cfg.renderer.setting_values(&registry)?;
    for s in &a.set {
        renderer_settings.push(parse_renderer_setting(s, &registry)?);
    }
    let up = a.up.clone().unwrap_or(cfg.camera.up.clone());
    let shader_dir = a
        .shader_dir
        .clone()
        .or_else(|| (!cfg.shaders.dir.is_empty()).then(|| from_cfg(&cfg.shaders.dir)));
    if let Some(p) = &a.screenshot {
        crate::check_output(p)?;
    }
    let script = a.script.as_deref().map(crate::input::Script::load).transpose()?;
    let scripted = script.is_some();
    let (files, sequence) = a.sequence.resolve(&a.files, &cfg.stream)?;
    let listen = match (&a.listen, cfg.server.listen.is_empty()) {
        (Some(l), _) => Some(l.clone()),
        (None, false) => Some(cfg.server.listen.clone()),
        (None, true) => None,
    };
    let listen = listen
        .map(|l| -> anyhow::Result<crate::server::ServerConfig> {
            let token = a
                .token
                .clone()
                .or_else(|| (!cfg.server.token.is_empty()).then(|| cfg.server.token.clone()));
            let limits = protocol::Limits {
                payload_bytes: cfg.server.max_message_mb.saturating_mul(1 << 20),
                array_elements: cfg.server.max_array_elements,
                string_bytes: cfg.server.max_string_bytes,
                ..Default::default()
            };
            Ok(crate::server::ServerConfig {
                addr: crate::server::parse_listen(&l)?,
                token,
                limits,
                record: a.record.clone(),
                shared_memory: cfg.server.shared_memory,
                max_clients: cfg.server.max_clients.max(1),
                max_objects: cfg.server.max_objects,
                ..Default::default()
            })
        })
        .transpose()?;
    let opts = ViewerOptions {
        listen,
        files,
        sequence,
        frame_budget: cfg.stream.gpu_budget_mb.saturating_mul(1 << 20),
        size,
        vsync: a.vsync.as_deref().map_or(cfg.window.vsync, |v| v == "on"),
        msaa: a.msaa.unwrap_or(cfg.renderer.msaa),
        transparency: raster::Transparency::parse(
            a.transparency.as_deref().unwrap_or(&cfg.renderer.transparency),
        ),
        viewports,
        registry,
        renderer_settings,
        up: match up.as_str() {
            "z" => crate::camera::Up::Z,
            "y" => crate::camera::Up::Y,
            _ => crate::camera::Up::Auto,
        },
        spp: a.spp.unwrap_or(cfg.renderer.spp),
        max_depth: a.max_depth.unwrap_or(cfg.renderer.max_depth),
        validation: a.validation,
        cache_dir: if a.no_cache {
            None
        } else {
            a.cache_dir.or_else(crate::app::default_cache_dir)
        },
        script,
        frames: a.frames,
        screenshot: a.screenshot,
        fixed_dt: scripted.then_some(1.0 / 60.0),
        shader_dir,
        hot_reload: !a.no_hot_reload && cfg.shaders.hot_reload,
        default_lighting: !a.no_default_lighting,
        keys,
        playback: crate::app::Playback::from(&cfg.timeline),
        pass_dirs: cfg
            .passes
            .folders
            .iter()
            .map(|f| from_cfg(f))
            .chain(a.passes.iter().cloned())
            .collect(),
        panels: crate::app::Panels {
            stats: a.panels.iter().any(|p| p == "stats"),
            graph: a.panels.iter().any(|p| p == "graph"),
            inspector: a.panels.iter().any(|p| p == "inspector"),
        },
    };
    if let Some(d) = &opts.shader_dir {
        if !d.is_dir() {
            anyhow::bail!(
                "shader folder {} (--shader-dir or [shaders] dir): not a folder",
                d.display()
            );
        }
    }
    if a.offscreen.is_some() {
        let frames = opts.frames.unwrap_or(1);
        let app = crate::app::run_offscreen_timed(opts, started)?;
        for f in app.0.files().iter().filter(|f| f.error.is_some()) {
            eprintln!("{}: {}", f.path.display(), f.error.as_deref().unwrap_or(""));
        }
        if a.stats {
            println!("{}", app.1);
        }
        println!("rendered {frames} frames offscreen");
    } else {
        let run = crate::window::run_window(opts, started)?;
        if a.stats {
            println!(
                "frames {} first_frame_ms {:.1} swapchain_recreations {} \
                 screenshot_from_swapchain {}",
                run.frames,
                run.first_frame_ms.unwrap_or(f64::NAN),
                run.swapchain_recreations,
                run.screenshot_from_swapchain
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::listen_value_joined;

    fn joined(args: &[&str]) -> Vec<String> {
        let os = args.iter().map(std::ffi::OsString::from);
        listen_value_joined(os).into_iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn listen_takes_a_port_or_an_address_after_a_space() {
        assert_eq!(joined(&["xpg-view", "--listen", "9871"]), ["xpg-view", "--listen=9871"]);
        assert_eq!(
            joined(&["xpg-view", "--listen", "127.0.0.1:9871", "a.ply"]),
            ["xpg-view", "--listen=127.0.0.1:9871", "a.ply"]
        );
        // A file after it stays a file; so does anything that is not an address.
        assert_eq!(joined(&["xpg-view", "--listen", "a.ply"]), ["xpg-view", "--listen", "a.ply"]);
        assert_eq!(joined(&["xpg-view", "--listen=9", "8"]), ["xpg-view", "--listen=9", "8"]);
        let listen = |s: &str| crate::server::parse_listen(s).map(|a| a.to_string()).ok();
        assert_eq!(listen("").as_deref(), Some("127.0.0.1:9870"));
        assert_eq!(listen("9871").as_deref(), Some("127.0.0.1:9871"));
        assert_eq!(listen("[::1]:9871").as_deref(), Some("[::1]:9871"));
        assert_eq!(listen("somewhere"), None);
    }
}
