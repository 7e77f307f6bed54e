//! Explicit barriers for one-off set-up submissions outside a frame.
//!
//! Per-frame work gets its barriers from the framegraph; these helpers exist so that xpg is
//! usable and testable on its own (uploads, readbacks, tests). Each is a thin wrapper over
//! `vkCmdPipelineBarrier2` with one barrier.

use ash::vk;

/// One side of a dependency: the stages and accesses (and, for images, the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessScope {
    /// Pipeline stages.
    pub stage: vk::PipelineStageFlags2,
    /// Memory accesses.
    pub access: vk::AccessFlags2,
    /// Image layout (ignored for buffers and global barriers).
    pub layout: vk::ImageLayout,
}

impl AccessScope {
    /// Nothing before: the image contents are discarded (layout UNDEFINED).
    pub const UNDEFINED: Self = Self {
        stage: vk::PipelineStageFlags2::NONE,
        access: vk::AccessFlags2::NONE,
        layout: vk::ImageLayout::UNDEFINED,
    };
    /// Any earlier GPU work (reads and writes), contents discarded (layout UNDEFINED): for
    /// overwriting a whole image that earlier work may still use.
    pub const DISCARD_AFTER_ANY: Self = Self {
        stage: vk::PipelineStageFlags2::ALL_COMMANDS,
        access: vk::AccessFlags2::MEMORY_WRITE,
        layout: vk::ImageLayout::UNDEFINED,
    };
    /// Any earlier GPU work, any write, in `layout`.
    pub const fn any_write(layout: vk::ImageLayout) -> Self {
        Self {
            stage: vk::PipelineStageFlags2::ALL_COMMANDS,
            access: vk::AccessFlags2::MEMORY_WRITE,
            layout,
        }
    }
    /// Any later GPU work, reads and writes, in `layout`.
    pub const fn any_access(layout: vk::ImageLayout) -> Self {
        Self {
            stage: vk::PipelineStageFlags2::ALL_COMMANDS,
            access: vk::AccessFlags2::from_raw(
                vk::AccessFlags2::MEMORY_READ.as_raw() | vk::AccessFlags2::MEMORY_WRITE.as_raw(),
            ),
            layout,
        }
    }
    /// Copy destination.
    pub const TRANSFER_DST: Self = Self {
        stage: vk::PipelineStageFlags2::COPY,
        access: vk::AccessFlags2::TRANSFER_WRITE,
        layout: vk::ImageLayout::TRANSFER_DST_OPTIMAL,
    };
    /// Copy source.
    pub const TRANSFER_SRC: Self = Self {
        stage: vk::PipelineStageFlags2::COPY,
        access: vk::AccessFlags2::TRANSFER_READ,
        layout: vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
    };
    /// Host reads (after a wait).
    pub const HOST_READ: Self = Self {
        stage: vk::PipelineStageFlags2::HOST,
        access: vk::AccessFlags2::HOST_READ,
        layout: vk::ImageLayout::UNDEFINED,
    };
    /// Color attachment writes.
    pub const COLOR_ATTACHMENT: Self = Self {
        stage: vk::PipelineStageFlags2::COLOR_ATTACHMENT_OUTPUT,
        access: vk::AccessFlags2::from_raw(
            vk::AccessFlags2::COLOR_ATTACHMENT_WRITE.as_raw()
                | vk::AccessFlags2::COLOR_ATTACHMENT_READ.as_raw(),
        ),
        layout: vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL,
    };
    /// Sampled by any shader stage.
    pub const SHADER_READ: Self = Self {
        stage: vk::PipelineStageFlags2::ALL_COMMANDS,
        access: vk::AccessFlags2::SHADER_SAMPLED_READ,
        layout: vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL,
    };
    /// Storage writes by compute shaders.
    pub const COMPUTE_WRITE: Self = Self {
        stage: vk::PipelineStageFlags2::COMPUTE_SHADER,
        access: vk::AccessFlags2::from_raw(
            vk::AccessFlags2::SHADER_STORAGE_WRITE.as_raw()
                | vk::AccessFlags2::SHADER_STORAGE_READ.as_raw(),
        ),
        layout: vk::ImageLayout::GENERAL,
    };
}

/// Records an image barrier (with layout transition `src.layout -> dst.layout`).
pub fn image_barrier(
    device: &ash::Device,
    cmd: vk::CommandBuffer,
    image: vk::Image,
    range: vk::ImageSubresourceRange,
    src: AccessScope,
    dst: AccessScope,
) {
    let b = [vk::ImageMemoryBarrier2::default()
        .image(image)
        .subresource_range(range)
        .src_stage_mask(src.stage)
        .src_access_mask(src.access)
        .dst_stage_mask(dst.stage)
        .dst_access_mask(dst.access)
        .old_layout(src.layout)
        .new_layout(dst.layout)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)];
    // SAFETY: `cmd` is recording (caller's contract); the barrier references a live image.
    unsafe {
        device.cmd_pipeline_barrier2(cmd, &vk::DependencyInfo::default().image_memory_barriers(&b))
    };
}

/// Records a global memory barrier.
pub fn memory_barrier(
    device: &ash::Device,
    cmd: vk::CommandBuffer,
    src: AccessScope,
    dst: AccessScope,
) {
    let b = [vk::MemoryBarrier2::default()
        .src_stage_mask(src.stage)
        .src_access_mask(src.access)
        .dst_stage_mask(dst.stage)
        .dst_access_mask(dst.access)];
    // SAFETY: `cmd` is recording (caller's contract).
    unsafe {
        device.cmd_pipeline_barrier2(cmd, &vk::DependencyInfo::default().memory_barriers(&b))
    };
}
