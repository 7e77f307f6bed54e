//! The `Renderer` trait: what every backend (raster, path tracer) implements.

use framegraph::{FrameGraph, ImageHandle};

use crate::camera::View;
use crate::gpu::GpuScene;

/// Errors of a renderer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// A shader failed to compile.
    #[error(transparent)]
    Shader(#[from] xpg::ShaderError),
    /// A pipeline could not be made.
    #[error(transparent)]
    Pipeline(#[from] xpg::PipelineError),
    /// A GPU call failed.
    #[error(transparent)]
    Gpu(#[from] xpg::GpuError),
    /// Something else, described.
    #[error("{0}")]
    Other(String),
}

/// A hook adding passes at a renderer's "after opaque" point: it gets the graph and the
/// view's color and depth there (`None`: not available single-sampled).
pub type AfterOpaque<'h, 'g> =
    dyn FnMut(&mut FrameGraph<'g>, Option<(&mut ImageHandle, Option<ImageHandle>)>) + 'h;

/// A rendering backend. Per-viewport state (history, accumulation) is the renderer's own.
pub trait Renderer {
    /// Its name (for the UI and the CLI).
    fn name(&self) -> &str;
    /// Adds this renderer's passes for one viewport to `graph`; they write linear HDR radiance
    /// into `target` (an RGBA16F/32F image of the view's size), which then holds the new
    /// version.
    fn add_passes<'g>(
        &'g mut self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        target: &mut ImageHandle,
    ) -> Result<(), RenderError>;

    /// [`Renderer::add_passes_with_depth`], letting `after_opaque` add passes after the
    /// opaque geometry (before blended surfaces and overlays): it gets the color and the depth
    /// at that point, or `None` when the renderer cannot offer them single-sampled there (a
    /// multisampled raster). A renderer without a separate opaque stage (the path tracer)
    /// calls it after all its passes.
    fn add_passes_after_opaque<'g>(
        &'g mut self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        target: &mut ImageHandle,
        depth: &mut Option<ImageHandle>,
        after_opaque: &mut AfterOpaque<'_, 'g>,
    ) -> Result<(), RenderError> {
        self.add_passes_with_depth(graph, scene, view, target, depth)?;
        after_opaque(graph, Some((target, *depth)));
        Ok(())
    }

    /// [`Renderer::add_passes`], also giving the view's depth (D32, single-sampled, 0 at the
    /// near plane) at its latest version in `graph`, for later passes to read (user passes):
    /// `None` when the renderer has none (a path tracer, or a multisampled raster).
    fn add_passes_with_depth<'g>(
        &'g mut self,
        graph: &mut FrameGraph<'g>,
        scene: &'g GpuScene,
        view: &View,
        target: &mut ImageHandle,
        depth: &mut Option<ImageHandle>,
    ) -> Result<(), RenderError> {
        *depth = None;
        self.add_passes(graph, scene, view, target)
    }
}

/// Checks that `target` is an image of `graph` of the view's size and of `format`.
pub fn check_target(
    graph: &FrameGraph<'_>,
    target: &ImageHandle,
    view: &View,
    format: xpg::vk::Format,
) -> Result<(), RenderError> {
    let info = graph
        .image_info(target)
        .ok_or_else(|| RenderError::Other("target is not an image of this graph".into()))?;
    if info.format != format {
        return Err(RenderError::Other(format!(
            "target is {:?}; this renderer draws {format:?}",
            info.format
        )));
    }
    if info.extent.width != view.width || info.extent.height != view.height {
        return Err(RenderError::Other(format!(
            "target is {}x{}, the view {}x{}",
            info.extent.width, info.extent.height, view.width, view.height
        )));
    }
    Ok(())
}
