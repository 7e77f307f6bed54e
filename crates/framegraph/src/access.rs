//! The closed set of ways a pass can touch a resource, each mapped to a synchronization2 stage
//! mask, access mask and image layout.
//!
//! Read-only image accesses all use `READ_ONLY_OPTIMAL` and attachment writes
//! `ATTACHMENT_OPTIMAL` (Vulkan 1.3 / synchronization2): a depth image can then be sampled and
//! bound as a read-only depth attachment in the same pass without a layout conflict, and a
//! bindless descriptor written once is valid for every read-only use. Storage images use
//! `GENERAL`.

use xpg::vk;
use xpg::vk::{AccessFlags2 as A, ImageLayout as L, PipelineStageFlags2 as S};

/// How a pass uses a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Access {
    /// Color attachment, written (load op CLEAR or DONT_CARE).
    ColorAttachmentWrite,
    /// Color attachment, read and written (load op LOAD, blending).
    ColorAttachmentReadWrite,
    /// Depth(/stencil) attachment, tested and written.
    DepthAttachmentWrite,
    /// Depth(/stencil) attachment, tested only (read-only depth).
    DepthAttachmentRead,
    /// Sampled image / read by vertex shaders.
    SampledVertex,
    /// Sampled image / read by fragment shaders.
    SampledFragment,
    /// Sampled image / read by compute shaders.
    SampledCompute,
    /// Sampled image / read by ray tracing shaders.
    SampledRayTracing,
    /// Storage image or storage buffer (device address) read by vertex shaders.
    StorageReadVertex,
    /// Storage image or buffer read by fragment shaders.
    StorageReadFragment,
    /// Storage image or buffer read by compute shaders.
    StorageReadCompute,
    /// Storage image or buffer read by ray tracing shaders.
    StorageReadRayTracing,
    /// Storage image or buffer written (and possibly read) by fragment shaders.
    StorageWriteFragment,
    /// Storage image or buffer written (and possibly read) by compute shaders.
    StorageWriteCompute,
    /// Storage image or buffer written (and possibly read) by ray tracing shaders.
    StorageWriteRayTracing,
    /// Uniform buffer read by vertex shaders.
    UniformVertex,
    /// Uniform buffer read by fragment shaders.
    UniformFragment,
    /// Uniform buffer read by compute shaders.
    UniformCompute,
    /// Uniform buffer read by ray tracing shaders.
    UniformRayTracing,
    /// Source of a copy or blit.
    TransferSrc,
    /// Destination of a copy, blit or clear.
    TransferDst,
    /// Indirect draw/dispatch arguments.
    IndirectBuffer,
    /// Vertex buffer.
    VertexBuffer,
    /// Index buffer.
    IndexBuffer,
    /// Geometry, instance or scratch data read by an acceleration structure build.
    AccelBuildInput,
    /// An acceleration structure read by another build (a BLAS read by a TLAS build).
    AccelBuildRead,
    /// An acceleration structure (or scratch) written by a build.
    AccelBuildOutput,
    /// An acceleration structure traced by ray tracing shaders.
    RayTracingRead,
    /// Presented to a swapchain (a final state; nothing on the GPU after it).
    Present,
    /// Read by the host after the frame (readback).
    HostRead,
}

/// What an [`Access`] means to synchronization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessInfo {
    /// Pipeline stages that perform the access.
    pub stage: vk::PipelineStageFlags2,
    /// Memory access types.
    pub access: vk::AccessFlags2,
    /// Required image layout (UNDEFINED for buffer-only accesses).
    pub layout: vk::ImageLayout,
    /// Whether the access writes.
    pub write: bool,
}

const fn info(stage: S, access: A, layout: L, write: bool) -> AccessInfo {
    AccessInfo { stage, access, layout, write }
}

const FRAG_TESTS: S =
    S::from_raw(S::EARLY_FRAGMENT_TESTS.as_raw() | S::LATE_FRAGMENT_TESTS.as_raw());
const STORAGE_RW: A =
    A::from_raw(A::SHADER_STORAGE_READ.as_raw() | A::SHADER_STORAGE_WRITE.as_raw());

impl Access {
    /// Stage, access, layout and write flag.
    pub const fn info(self) -> AccessInfo {
        use Access::*;
        match self {
            ColorAttachmentWrite => info(
                S::COLOR_ATTACHMENT_OUTPUT,
                A::COLOR_ATTACHMENT_WRITE,
                L::ATTACHMENT_OPTIMAL,
                true,
            ),
            ColorAttachmentReadWrite => info(
                S::COLOR_ATTACHMENT_OUTPUT,
                A::from_raw(A::COLOR_ATTACHMENT_READ.as_raw() | A::COLOR_ATTACHMENT_WRITE.as_raw()),
                L::ATTACHMENT_OPTIMAL,
                true,
            ),
            DepthAttachmentWrite => info(
                FRAG_TESTS,
                A::from_raw(
                    A::DEPTH_STENCIL_ATTACHMENT_READ.as_raw()
                        | A::DEPTH_STENCIL_ATTACHMENT_WRITE.as_raw(),
                ),
                L::ATTACHMENT_OPTIMAL,
                true,
            ),
            DepthAttachmentRead => {
                info(FRAG_TESTS, A::DEPTH_STENCIL_ATTACHMENT_READ, L::READ_ONLY_OPTIMAL, false)
            }
            SampledVertex => {
                info(S::VERTEX_SHADER, A::SHADER_SAMPLED_READ, L::READ_ONLY_OPTIMAL, false)
            }
            SampledFragment => {
                info(S::FRAGMENT_SHADER, A::SHADER_SAMPLED_READ, L::READ_ONLY_OPTIMAL, false)
            }
            SampledCompute => {
                info(S::COMPUTE_SHADER, A::SHADER_SAMPLED_READ, L::READ_ONLY_OPTIMAL, false)
            }
            SampledRayTracing => {
                info(S::RAY_TRACING_SHADER_KHR, A::SHADER_SAMPLED_READ, L::READ_ONLY_OPTIMAL, false)
            }
            StorageReadVertex => info(S::VERTEX_SHADER, A::SHADER_STORAGE_READ, L::GENERAL, false),
            StorageReadFragment => {
                info(S::FRAGMENT_SHADER, A::SHADER_STORAGE_READ, L::GENERAL, false)
            }
            StorageReadCompute => {
                info(S::COMPUTE_SHADER, A::SHADER_STORAGE_READ, L::GENERAL, false)
            }
            StorageReadRayTracing => {
                info(S::RAY_TRACING_SHADER_KHR, A::SHADER_STORAGE_READ, L::GENERAL, false)
            }
            StorageWriteFragment => info(S::FRAGMENT_SHADER, STORAGE_RW, L::GENERAL, true),
            StorageWriteCompute => info(S::COMPUTE_SHADER, STORAGE_RW, L::GENERAL, true),
            StorageWriteRayTracing => info(S::RAY_TRACING_SHADER_KHR, STORAGE_RW, L::GENERAL, true),
            UniformVertex => info(S::VERTEX_SHADER, A::UNIFORM_READ, L::UNDEFINED, false),
            UniformFragment => info(S::FRAGMENT_SHADER, A::UNIFORM_READ, L::UNDEFINED, false),
            UniformCompute => info(S::COMPUTE_SHADER, A::UNIFORM_READ, L::UNDEFINED, false),
            UniformRayTracing => {
                info(S::RAY_TRACING_SHADER_KHR, A::UNIFORM_READ, L::UNDEFINED, false)
            }
            TransferSrc => info(S::ALL_TRANSFER, A::TRANSFER_READ, L::TRANSFER_SRC_OPTIMAL, false),
            TransferDst => info(S::ALL_TRANSFER, A::TRANSFER_WRITE, L::TRANSFER_DST_OPTIMAL, true),
            IndirectBuffer => info(S::DRAW_INDIRECT, A::INDIRECT_COMMAND_READ, L::UNDEFINED, false),
            VertexBuffer => {
                info(S::VERTEX_ATTRIBUTE_INPUT, A::VERTEX_ATTRIBUTE_READ, L::UNDEFINED, false)
            }
            IndexBuffer => info(S::INDEX_INPUT, A::INDEX_READ, L::UNDEFINED, false),
            AccelBuildInput => {
                info(S::ACCELERATION_STRUCTURE_BUILD_KHR, A::SHADER_READ, L::UNDEFINED, false)
            }
            AccelBuildRead => info(
                S::ACCELERATION_STRUCTURE_BUILD_KHR,
                A::ACCELERATION_STRUCTURE_READ_KHR,
                L::UNDEFINED,
                false,
            ),
            AccelBuildOutput => info(
                S::ACCELERATION_STRUCTURE_BUILD_KHR,
                A::from_raw(
                    A::ACCELERATION_STRUCTURE_READ_KHR.as_raw()
                        | A::ACCELERATION_STRUCTURE_WRITE_KHR.as_raw(),
                ),
                L::UNDEFINED,
                true,
            ),
            RayTracingRead => info(
                S::RAY_TRACING_SHADER_KHR,
                A::ACCELERATION_STRUCTURE_READ_KHR,
                L::UNDEFINED,
                false,
            ),
            Present => info(S::NONE, A::NONE, L::PRESENT_SRC_KHR, false),
            HostRead => info(S::HOST, A::HOST_READ, L::UNDEFINED, false),
        }
    }

    /// The image usage an image needs for this access (empty for buffer-only accesses).
    pub fn image_usage(self) -> vk::ImageUsageFlags {
        use vk::ImageUsageFlags as U;
        use Access::*;
        match self {
            ColorAttachmentWrite | ColorAttachmentReadWrite => U::COLOR_ATTACHMENT,
            DepthAttachmentWrite | DepthAttachmentRead => U::DEPTH_STENCIL_ATTACHMENT,
            SampledVertex | SampledFragment | SampledCompute | SampledRayTracing => U::SAMPLED,
            StorageReadVertex
            | StorageReadFragment
            | StorageReadCompute
            | StorageReadRayTracing
            | StorageWriteFragment
            | StorageWriteCompute
            | StorageWriteRayTracing => U::STORAGE,
            TransferSrc => U::TRANSFER_SRC,
            TransferDst => U::TRANSFER_DST,
            _ => U::empty(),
        }
    }

    /// The buffer usage a buffer needs for this access.
    pub fn buffer_usage(self) -> vk::BufferUsageFlags {
        use vk::BufferUsageFlags as U;
        use Access::*;
        match self {
            StorageReadVertex
            | StorageReadFragment
            | StorageReadCompute
            | StorageReadRayTracing
            | StorageWriteFragment
            | StorageWriteCompute
            | StorageWriteRayTracing => U::STORAGE_BUFFER,
            UniformVertex | UniformFragment | UniformCompute | UniformRayTracing => {
                U::UNIFORM_BUFFER
            }
            TransferSrc => U::TRANSFER_SRC,
            TransferDst => U::TRANSFER_DST,
            IndirectBuffer => U::INDIRECT_BUFFER,
            VertexBuffer => U::VERTEX_BUFFER,
            IndexBuffer => U::INDEX_BUFFER,
            AccelBuildInput => {
                U::ACCELERATION_STRUCTURE_BUILD_INPUT_READ_ONLY_KHR | U::STORAGE_BUFFER
            }
            AccelBuildRead | RayTracingRead => U::ACCELERATION_STRUCTURE_STORAGE_KHR,
            // Also the build's scratch buffer, which needs STORAGE_BUFFER.
            AccelBuildOutput => U::ACCELERATION_STRUCTURE_STORAGE_KHR | U::STORAGE_BUFFER,
            _ => U::empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The table against the Khronos synchronization examples
    //! (github.com/KhronosGroup/Vulkan-Docs/wiki/Synchronization-Examples, synchronization2
    //! forms). Each case: (source access, destination access, the example's src stage/access,
    //! dst stage/access, and old/new layout where it has one). Where the examples use
    //! SHADER_READ/SHADER_WRITE, the table uses the narrower synchronization2 bits
    //! (SHADER_SAMPLED_READ, SHADER_STORAGE_READ/WRITE), which the spec defines as subsets.
    use super::*;

    struct Case {
        name: &'static str,
        src: Access,
        dst: Access,
        src_stage: S,
        src_access: A,
        dst_stage: S,
        dst_access: A,
        layouts: Option<(L, L)>,
    }

    fn contains_access(table: A, example: A) -> bool {
        // The example's SHADER_READ/SHADER_WRITE are met by any of their subset bits.
        let widen = |a: A| {
            let mut a = a;
            if a.intersects(A::SHADER_SAMPLED_READ | A::SHADER_STORAGE_READ) {
                a |= A::SHADER_READ;
            }
            if a.contains(A::SHADER_STORAGE_WRITE) {
                a |= A::SHADER_WRITE;
            }
            a
        };
        widen(table).contains(example)
    }

    #[test]
    fn table_matches_khronos_synchronization_examples() {
        let cases = [
            Case {
                name: "compute writes storage buffer, compute reads it",
                src: Access::StorageWriteCompute,
                dst: Access::StorageReadCompute,
                src_stage: S::COMPUTE_SHADER,
                src_access: A::SHADER_WRITE,
                dst_stage: S::COMPUTE_SHADER,
                dst_access: A::SHADER_READ,
                layouts: None,
            },
            Case {
                name: "compute writes storage image, fragment samples it",
                src: Access::StorageWriteCompute,
                dst: Access::SampledFragment,
                src_stage: S::COMPUTE_SHADER,
                src_access: A::SHADER_WRITE,
                dst_stage: S::FRAGMENT_SHADER,
                dst_access: A::SHADER_READ,
                layouts: Some((L::GENERAL, L::READ_ONLY_OPTIMAL)),
            },
            Case {
                name: "compute writes buffer, draw reads it as indirect arguments",
                src: Access::StorageWriteCompute,
                dst: Access::IndirectBuffer,
                src_stage: S::COMPUTE_SHADER,
                src_access: A::SHADER_WRITE,
                dst_stage: S::DRAW_INDIRECT,
                dst_access: A::INDIRECT_COMMAND_READ,
                layouts: None,
            },
            Case {
                name: "compute writes buffer, read as vertex buffer",
                src: Access::StorageWriteCompute,
                dst: Access::VertexBuffer,
                src_stage: S::COMPUTE_SHADER,
                src_access: A::SHADER_WRITE,
                dst_stage: S::VERTEX_ATTRIBUTE_INPUT,
                dst_access: A::VERTEX_ATTRIBUTE_READ,
                layouts: None,
            },
            Case {
                name: "compute writes buffer, read as index buffer",
                src: Access::StorageWriteCompute,
                dst: Access::IndexBuffer,
                src_stage: S::COMPUTE_SHADER,
                src_access: A::SHADER_WRITE,
                dst_stage: S::INDEX_INPUT,
                dst_access: A::INDEX_READ,
                layouts: None,
            },
            Case {
                name: "color attachment written, sampled in a later fragment shader",
                src: Access::ColorAttachmentWrite,
                dst: Access::SampledFragment,
                src_stage: S::COLOR_ATTACHMENT_OUTPUT,
                src_access: A::COLOR_ATTACHMENT_WRITE,
                dst_stage: S::FRAGMENT_SHADER,
                dst_access: A::SHADER_READ,
                layouts: Some((L::ATTACHMENT_OPTIMAL, L::READ_ONLY_OPTIMAL)),
            },
            Case {
                name: "depth attachment written, sampled in a later fragment shader",
                src: Access::DepthAttachmentWrite,
                dst: Access::SampledFragment,
                src_stage: S::from_raw(
                    S::EARLY_FRAGMENT_TESTS.as_raw() | S::LATE_FRAGMENT_TESTS.as_raw(),
                ),
                src_access: A::DEPTH_STENCIL_ATTACHMENT_WRITE,
                dst_stage: S::FRAGMENT_SHADER,
                dst_access: A::SHADER_READ,
                layouts: Some((L::ATTACHMENT_OPTIMAL, L::READ_ONLY_OPTIMAL)),
            },
            Case {
                name: "transfer upload, sampled in a fragment shader",
                src: Access::TransferDst,
                dst: Access::SampledFragment,
                src_stage: S::ALL_TRANSFER,
                src_access: A::TRANSFER_WRITE,
                dst_stage: S::FRAGMENT_SHADER,
                dst_access: A::SHADER_READ,
                layouts: Some((L::TRANSFER_DST_OPTIMAL, L::READ_ONLY_OPTIMAL)),
            },
            Case {
                name: "color attachment written, then presented",
                src: Access::ColorAttachmentWrite,
                dst: Access::Present,
                src_stage: S::COLOR_ATTACHMENT_OUTPUT,
                src_access: A::COLOR_ATTACHMENT_WRITE,
                dst_stage: S::NONE,
                dst_access: A::NONE,
                layouts: Some((L::ATTACHMENT_OPTIMAL, L::PRESENT_SRC_KHR)),
            },
            Case {
                name: "acceleration structure built, traced",
                src: Access::AccelBuildOutput,
                dst: Access::RayTracingRead,
                src_stage: S::ACCELERATION_STRUCTURE_BUILD_KHR,
                src_access: A::ACCELERATION_STRUCTURE_WRITE_KHR,
                dst_stage: S::RAY_TRACING_SHADER_KHR,
                dst_access: A::ACCELERATION_STRUCTURE_READ_KHR,
                layouts: None,
            },
            Case {
                name: "BLAS built, read by the TLAS build",
                src: Access::AccelBuildOutput,
                dst: Access::AccelBuildRead,
                src_stage: S::ACCELERATION_STRUCTURE_BUILD_KHR,
                src_access: A::ACCELERATION_STRUCTURE_WRITE_KHR,
                dst_stage: S::ACCELERATION_STRUCTURE_BUILD_KHR,
                dst_access: A::ACCELERATION_STRUCTURE_READ_KHR,
                layouts: None,
            },
            Case {
                name: "compute writes buffer, host reads it",
                src: Access::StorageWriteCompute,
                dst: Access::HostRead,
                src_stage: S::COMPUTE_SHADER,
                src_access: A::SHADER_WRITE,
                dst_stage: S::HOST,
                dst_access: A::HOST_READ,
                layouts: None,
            },
        ];
        for c in cases {
            let (s, d) = (c.src.info(), c.dst.info());
            assert!(s.write, "{}: the source writes", c.name);
            assert_eq!(s.stage, c.src_stage, "{}: src stage", c.name);
            assert!(
                contains_access(s.access, c.src_access),
                "{}: src access {:?}",
                c.name,
                s.access
            );
            assert_eq!(d.stage, c.dst_stage, "{}: dst stage", c.name);
            assert!(
                contains_access(d.access, c.dst_access) || c.dst_access == A::NONE,
                "{}: dst access {:?}",
                c.name,
                d.access
            );
            if let Some((old, new)) = c.layouts {
                assert_eq!((s.layout, d.layout), (old, new), "{}: layouts", c.name);
            }
        }
    }

    #[test]
    fn writes_and_reads_are_classified() {
        use Access::*;
        for a in [
            ColorAttachmentWrite,
            ColorAttachmentReadWrite,
            DepthAttachmentWrite,
            StorageWriteCompute,
            TransferDst,
            AccelBuildOutput,
        ] {
            assert!(a.info().write, "{a:?}");
        }
        for a in [
            DepthAttachmentRead,
            SampledFragment,
            StorageReadCompute,
            TransferSrc,
            IndirectBuffer,
            RayTracingRead,
            HostRead,
            Present,
        ] {
            assert!(!a.info().write, "{a:?}");
        }
        // Sampled and read-only depth share a layout: both in one pass is legal.
        assert_eq!(DepthAttachmentRead.info().layout, SampledFragment.info().layout);
    }
}
