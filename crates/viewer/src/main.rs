//! `xpg-view`: the viewer's command line. For now: `xpg-view render SCENE --out FILE`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xpg-view", version, about = "3D data viewer (headless rendering for now)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a scene to an image: .png (tonemapped sRGB) or .exr (linear HDR radiance).
    Render {
        /// Scene file (.gltf, .glb, .obj or .ply).
        scene: PathBuf,
        /// Output image (.png or .exr).
        #[arg(long)]
        out: PathBuf,
        /// Image size WxH (default: 1280 wide at the camera's aspect ratio).
        #[arg(long)]
        size: Option<String>,
        /// Renderer.
        #[arg(long, default_value = "raster")]
        renderer: String,
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
        /// The grid's up axis: y (glTF) or z.
        #[arg(long, requires = "grid", value_parser = ["y", "z"])]
        up: Option<String>,
        /// Multisample anti-aliasing: samples per pixel (1 = off, 2, 4, 8).
        #[arg(long, default_value_t = 4)]
        msaa: u32,
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
        /// Path tracer: thin-lens aperture radius in scene units (0: pinhole).
        #[arg(long, default_value_t = 0.0)]
        aperture: f32,
        /// Path tracer: distance in focus (with --aperture).
        #[arg(long, default_value_t = 1.0)]
        focus: f32,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match Cli::parse().command {
        Command::Render {
            scene,
            out,
            size,
            renderer,
            camera,
            validation,
            grid,
            up,
            msaa,
            spp,
            max_depth,
            seed,
            variance,
            aperture,
            focus,
        } => {
            let size = size.as_deref().map(viewer::parse_size).transpose()?;
            viewer::check_output(&out)?;
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
            let req = viewer::RenderRequest {
                scene,
                size,
                camera,
                renderer,
                validation,
                grid,
                msaa,
                spp,
                max_depth,
                seed,
                uniform_lights: false,
                lens: (aperture, focus),
            };
            let img = viewer::render(&req)
                .with_context(|| format!("rendering {}", req.scene.display()))?;
            viewer::save(&img, &out)?;
            if let Some(v) = &variance {
                viewer::save_variance(&img, v)?;
                println!("wrote {}", v.display());
            }
            println!("wrote {} ({}x{})", out.display(), img.width, img.height);
        }
    }
    Ok(())
}
