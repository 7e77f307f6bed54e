//! # render: the GPU side every renderer shares
//!
//! - [`GpuScene`]: the CPU [`scene::Scene`] uploaded once (geometry through device addresses,
//!   a material table, the light list, textures, the environment map) and updated in place by
//!   framegraph transfer passes; shared by every viewport and renderer.
//! - [`SceneAccel`]: the ray tracing acceleration structures over the same vertex buffers.
//! - The [`Renderer`] trait, the seam between the viewer and a rendering backend, and the
//!   [`Registry`] of renderers by name (the built-ins register there; programs add their own).
//! - [`headless`]: one view rendered into memory (tonemapped and read back) without a window.

mod accel;
mod deform;
mod frames;
mod gpu;
pub mod headless;
mod overlay;
mod pick;
mod registry;
mod renderer;
mod staging;
mod textures;
mod upload;

pub use accel::{MaskedTlas, Placement, SceneAccel};
pub use frames::{FrameAddresses, FramePool, FramePoolStats, DEFAULT_FRAME_BUDGET};
pub use gpu::{
    DrawGroup, GpuDraw, GpuLight, GpuLines, GpuMaterial, GpuSampler, GpuScene, GpuSceneError,
    GpuTexture, SceneObject, SceneUpdate, DRAW_NO_SHADOW, MATERIAL_BLENDED, MATERIAL_COLORMAP,
    MATERIAL_DOUBLE_SIDED, MATERIAL_MASKED, MATERIAL_UNLIT, NO_TEXTURE,
};
pub use overlay::{Overlay, OVERLAY_DEPTH_FORMAT};
pub use pick::{Pick, PickTarget, Picker};
pub use registry::{BoxedRenderer, Factory, Registry, RendererInit};
pub use renderer::*;
