//! # xpg: a thin Vulkan layer over ash and gpu-allocator, with Slang shaders
//!
//! What it promises:
//! - A [`Context`] with an instance, optional validation (synchronization validation on),
//!   validation messages routed to `tracing` and counted per context
//!   ([`Context::validation_messages`]), a device chosen by type or by the caller, its
//!   [`Caps`], one universal queue, and a shared `gpu_allocator` allocator.
//! - Resources ([`Buffer`], [`Image`], [`Sampler`]) that own their memory and are destroyed
//!   only after the GPU has finished every submission made before they were dropped.
//! - Every submission signals the context's timeline semaphore; [`FrameRing`] paces frames in
//!   flight with it.
//! - Uploads and readbacks ([`Uploader`]): a staging ring, and a direct path into host-visible
//!   device memory chosen from the memory heaps (with an override that forces staging).
//! - [`Pipeline`]s (compute, graphics with dynamic rendering) whose layouts are built from
//!   reflection; one `vk::PipelineCache` (optionally persisted).
//! - A [`BindlessHeap`] of sampled images, storage images and samplers; buffers go through
//!   device addresses.
//! - [`ShaderCompiler`]: Slang to SPIR-V with an in-memory cache that tracks dependency files.
//!
//! # Safety model
//! Functions that take raw Vulkan handles from outside and whose misuse is undefined behaviour
//! beyond a validation message are `unsafe fn` with a `# Safety` section ([`Context::submit`],
//! [`FrameRing::end_with`], [`BindlessHeap::add_sampled_image`] and its siblings). The
//! command-recording helpers ([`sync::image_barrier`], [`Pipeline::bind`],
//! [`Pipeline::dispatch_threads`], labels, timestamps) are safe functions over a
//! `vk::CommandBuffer` by design, as in this layer they are only handed command buffers that xpg
//! itself began ([`Context::immediate`], [`FrameRing::begin`]); their one unchecked contract is
//! that the command buffer is still recording, which the validation layer reports. The
//! framegraph wraps recording in an API where that cannot be violated.
//!
//! Also the caller's part: a resource is not dropped between recording a use and submitting it;
//! one-off submissions ([`Context::immediate`]) record their own explicit barriers ([`sync`]).
//! Per-frame work places no barrier by hand: the framegraph crate does.

#![warn(missing_docs)]

mod bindless;
mod caps;
mod context;
mod debug;
mod frame;
mod immediate;
mod pipeline;
mod query;
mod raytracing;
mod resource;
mod ring;
pub mod shader;
mod swapchain;
pub mod sync;
mod upload;

pub use ash;
pub use ash::vk;
pub use bindless::{
    binding as bindless_binding, BindlessHeap, BindlessIndex, SlotKind, BINDLESS_SET,
};
pub use caps::{Caps, DescriptorIndexingCaps, RayTracingCaps};
pub use context::{Context, ContextDesc, ContextError, DeviceSelector, GpuError};
pub use debug::MessageCounts;
pub use frame::{Frame, FrameRing};
pub use pipeline::{
    begin_rendering, begin_rendering_area, Blend, DescriptorWrite, ExecutableStatistics,
    GraphicsDesc, Pipeline, PipelineError, PipelineLayout, StatisticValue, PUSH_SET,
};
pub use query::TimestampPool;
pub use raw_window_handle;
pub use raytracing::{
    record_tlas_build_raw, sbt_layout, tlas_instance, AccelSizes, AccelerationStructure,
    BlasTriangles, CompactedSizeQueries, RayTracingDesc, BLAS_DEFORM_FLAGS, BLAS_FLAGS, TLAS_FLAGS,
    TLAS_INSTANCE_SIZE,
};
pub use resource::{
    format_aspect, format_texel_size, full_mip_count, Buffer, BufferDesc, Image, ImageDesc,
    ImageView, MemoryUsage, Sampler,
};
pub use shader::{
    CompileStats, CompiledShader, Diagnostic, EntryPointCode, ShaderCompiler, ShaderDesc,
    ShaderError,
};
pub use swapchain::{Swapchain, SwapchainDesc, SwapchainImage};
pub use upload::{MipData, UploadPath, Uploader};
