//! # pathtracer: `Renderer` #2 (in progress)
//!
//! - [`PathTracer`]: a first version: BSDF-sampled paths through the GpuScene's TLAS with the
//!   shared BRDF, progressive accumulation (sum and sum of squares), Russian roulette.
//! - The CPU side of light sampling: the Walker/Vose alias table ([`AliasTable`], built in
//!   f64) and the weights of an equirect environment's pixels ([`environment_weights`]).
//!
//! Next event estimation through the alias tables, MIS, thin-lens depth of field, textures and
//! the reference comparisons come next (see the closing note of the path tracer issue).

mod alias;
mod lights;

pub use alias::{environment_weights, AliasEntry, AliasError, AliasTable};
pub use lights::{GpuLightSample, LightTable};

mod renderer;

pub use renderer::{PathTracer, Settings};
