//! # pathtracer: `Renderer` #2 (in progress)
//!
//! What exists so far is the CPU side of light sampling: the Walker/Vose alias table
//! ([`AliasTable`], built in f64) and the weights of an equirect environment's pixels for
//! importance sampling ([`environment_weights`]). The ray tracing pipeline, accumulation,
//! next event estimation with MIS and the reference comparisons come next (see the closing
//! note of the path tracer issue).

mod alias;

pub use alias::{environment_weights, AliasEntry, AliasError, AliasTable};
