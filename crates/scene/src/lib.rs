//! # scene: the data model both renderers share
//!
//! - [`Scene`]: nodes with transforms, meshes, materials (glTF metallic-roughness with the
//!   specular and emissive-strength extensions), punctual lights, cameras, an environment.
//! - Loaders: glTF 2.0 ([`load_gltf`]), following the conventions of the reference scenes
//!   (environment in the scene's extras, flat shading without normals, front-face emission).
//! - [`GpuScene`]: the scene uploaded once (geometry through device addresses, a material table,
//!   the light list, the environment map), shared by every viewport and renderer.
//! - The [`Renderer`] trait and the [`View`] a renderer draws.

mod accel;
pub mod camera;
mod colormap;
mod gltf_loader;
mod gpu;
mod loaders;
mod model;
mod renderer;
mod textures;

pub use accel::{MaskedTlas, Placement, SceneAccel};
pub use camera::View;
pub use colormap::{Colormap, ColormapKind, NAN_COLOR};
pub use gltf_loader::{flat_shaded, load_gltf, LoadError};
pub use gpu::{
    pack_srgba8, srgb_to_linear, srgba8_to_linear, DrawGroup, GpuDraw, GpuLight, GpuLines,
    GpuMaterial, GpuSampler, GpuScene, GpuSceneError, GpuTexture, SceneUpdate, MATERIAL_BLENDED,
    MATERIAL_COLORMAP, MATERIAL_DOUBLE_SIDED, MATERIAL_MASKED, MATERIAL_UNLIT, NO_TEXTURE,
};
pub use loaders::{load, load_image, load_obj, load_ply, load_texture};
pub use model::{
    AlphaMode, Camera, ColormapMaterial, Environment, Light, LightKind, LineSet, Material, Mesh,
    Node, PointSet, Primitive, Projection, Scene, Texture, TexturePixels, TextureSampler, Versions,
    Wrap,
};
pub use renderer::{check_target, AfterOpaque, RenderError, Renderer};
