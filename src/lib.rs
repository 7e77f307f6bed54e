//! Facade of the workspace: re-exports its crates so that the root `examples/`, `tests/` and
//! `benches/` can use them.
pub use framegraph;
pub use xpg;
