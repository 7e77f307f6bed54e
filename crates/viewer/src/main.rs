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
        Command::Render { scene, out, size, renderer, camera, validation } => {
            let size = size.as_deref().map(viewer::parse_size).transpose()?;
            viewer::check_output(&out)?;
            let req = viewer::RenderRequest { scene, size, camera, renderer, validation };
            let img = viewer::render(&req)
                .with_context(|| format!("rendering {}", req.scene.display()))?;
            viewer::save(&img, &out)?;
            println!("wrote {} ({}x{})", out.display(), img.width, img.height);
        }
    }
    Ok(())
}
