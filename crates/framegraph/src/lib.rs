//! # framegraph: declarative frame graph over xpg
//!
//! Passes declare what they read and write ([`Access`], a closed set mapped to
//! synchronization2 stages, accesses and layouts); [`FrameGraph::compile`] orders them
//! (declaration order), culls those that contribute to no output, tracks every subresource to
//! place the minimal barriers and layout transitions, and aliases the memory of transient
//! resources whose lifetimes do not overlap. The [`Plan`] it returns is plain data: tests assert
//! on it without a GPU, and it prints as text and Graphviz DOT. [`Executor::execute`] records a
//! plan into a command buffer, each pass inside a debug label and GPU timestamps, creating and
//! pooling the transient resources across frames.
//!
//! No renderer places a barrier by hand: if a pass needs one the graph does not place, the
//! access model is missing something and is fixed here.

mod access;
pub mod alias;
mod barriers;
mod compile;
mod execute;
mod graph;
mod history;
mod pass_context;
mod pool;

pub use access::{Access, AccessInfo};
pub use barriers::{Barrier, ImageTransition};
pub use compile::{
    estimate_requirements, CompileOptions, MemoryRequirements, Plan, PlannedPass, TransientAlloc,
    TransientDesc,
};
pub use execute::{run_once, ExecuteError, Executor, PassTiming};
pub use graph::{
    AccelHandle, BufferHandle, FrameGraph, GraphError, Handle, ImageHandle, ImageInfo,
    InitialAccess, PassBuilder, Subresources,
};
pub use history::HistoryImage;
pub use pass_context::{Bind, PassContext};
