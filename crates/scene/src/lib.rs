//! # scene: the CPU data model both renderers share
//!
//! - [`Scene`]: nodes with transforms, meshes, point sets, line sets, materials (glTF
//!   metallic-roughness with the specular and emissive-strength extensions), punctual lights,
//!   cameras, an environment; versions that say what changed since the GPU copy was made.
//! - Loaders: glTF 2.0 ([`load_gltf`], following the conventions of the reference scenes in
//!   `tests/data/refs/README.md`: environment in the scene's extras, flat shading without
//!   normals, front-face emission), OBJ, PLY and images ([`load`] by extension).
//! - Cameras ([`View`]: what a renderer draws), colormaps, colour helpers.
//!
//! This crate knows nothing of the GPU: it depends on no Vulkan crate. The GPU copy of a scene,
//! the `Renderer` trait and the registry of renderers are in the `render` crate above it.

pub mod camera;
mod color;
mod colormap;
pub mod deform;
mod env_sun;
mod gltf_loader;
mod loaders;
mod meshopt;
mod model;
mod numpy;
mod ply_fast;
pub mod property;
pub mod sequence;
pub mod shapes;
pub mod stream;
pub mod time;
pub mod trajectory;

pub use camera::View;
pub use color::{pack_srgba8, srgb_to_linear, srgba8_to_linear};
pub use colormap::{Colormap, ColormapKind, NAN_COLOR};
pub use deform::{MorphTarget, Skin};
pub use env_sun::{equirect_dir, luminance, EnvSun};
pub use gltf_loader::{flat_shaded, load_gltf, LoadError};
pub use loaders::{load, load_image, load_obj, load_ply, load_texture};
pub use model::texture_slot;
pub use model::{
    AlphaMode, Camera, Clip, ColormapMaterial, Environment, Light, LightKind, LineSet, Material,
    Mesh, Node, NodeAnimation, Plot, PointSet, Primitive, Projection, Scene, Texture,
    TexturePixels, TextureSampler, UvTransform, Versions, Wrap,
};
pub use numpy::{load_npy, load_npz};
pub use property::{Property, PropertyTrack, Samples, Value};

/// Whether every coordinate of `points` is finite: no branch per value (NaN and infinity
/// have every exponent bit set), so that it runs at memory speed on large clouds.
pub fn all_finite(points: &[[f32; 3]]) -> bool {
    let values: &[f32] = points.as_flattened();
    values
        .chunks(4096)
        .all(|c| c.iter().fold(true, |ok, x| ok & (x.to_bits() & 0x7f80_0000 != 0x7f80_0000)))
}
