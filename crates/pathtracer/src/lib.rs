//! # pathtracer: `Renderer` #2, a progressive path tracer
//!
//! - [`PathTracer`]: paths through the GpuScene's TLAS (a ray tracing pipeline: the GPU machine
//!   has no ray query) with the shared BRDF and textures; next event estimation of punctual
//!   lights, emissive triangles and the environment through alias tables, combined with BSDF
//!   sampling by multiple importance sampling; Russian roulette; thin-lens depth of field; an
//!   optional firefly clamp; progressive accumulation (sum and sum of squares, so the
//!   per-sample variance is known). Checked against the Mitsuba references in
//!   `tests/data/refs/README.md`.
//! - The CPU side of light sampling: the Walker/Vose alias table ([`AliasTable`], built in
//!   f64), the light list ([`LightTable`]) and the weights of an equirect environment's pixels
//!   ([`environment_weights`]), and the light tree that picks lights by where they matter
//!   ([`light_tree`]). The tables reach the GPU through passes of the frame's graph.

mod alias;
pub mod light_tree;
mod lights;

pub use alias::{environment_weights, AliasEntry, AliasError, AliasTable};
pub use lights::{GpuLightSample, LightTable};

mod denoise;
mod renderer;

pub use renderer::{LightSelection, PathTracer, Sequence, Settings};
