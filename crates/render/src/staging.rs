//! Staging buffers for copies recorded into a frame's graph (scene updates, streamed frames).
//!
//! A graph's pass closures are dropped once recorded, before the submission; a staging buffer
//! must live until the GPU has read it. [`Staging`] keeps each one until two submissions have
//! gone since it was made, then drops it (xpg defers its destruction until the GPU is done).

use framegraph::{Access, BufferHandle, FrameGraph};
use xpg::ash::vk;
use xpg::{Buffer, BufferDesc, Context, MemoryUsage};

use crate::gpu::GpuSceneError;

/// Writes up to this many bytes per buffer go inline into the command buffer
/// (`vkCmdUpdateBuffer`); larger ones through a staging buffer and a copy.
pub(crate) const INLINE_BYTES: usize = 64 << 10;

pub(crate) struct Staging {
    ctx: Context,
    /// Buffers of copies recorded but perhaps not yet submitted, with the latest submission's
    /// value when they were made.
    kept: Vec<(Buffer, u64)>,
}

impl Staging {
    pub(crate) fn new(ctx: &Context) -> Self {
        Self { ctx: ctx.clone(), kept: Vec::new() }
    }

    /// Drops the buffers whose copies were submitted.
    pub(crate) fn retire(&mut self) {
        let now = self.ctx.latest_submitted();
        self.kept.retain(|(_, made)| now < made + 2);
    }

    /// A mapped upload buffer of `size` bytes written by `fill`, imported into `graph` as a
    /// transfer source (the host's writes are made visible by the submission).
    pub(crate) fn stage(
        &mut self,
        graph: &mut FrameGraph<'_>,
        size: u64,
        name: &'static str,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<BufferHandle, GpuSceneError> {
        self.retire();
        let mut buffer = Buffer::new(
            &self.ctx,
            &BufferDesc {
                size: size.max(16),
                usage: vk::BufferUsageFlags::TRANSFER_SRC,
                memory: MemoryUsage::Upload,
                name,
            },
        )?;
        let map = buffer.mapped().ok_or_else(|| {
            GpuSceneError::Gpu(xpg::GpuError::Invalid(format!("{name}: memory is not mapped")))
        })?;
        fill(map);
        let h = graph.import_buffer(buffer.name(), &buffer, Some(Access::TransferSrc), None);
        self.kept.push((buffer, self.ctx.latest_submitted()));
        Ok(h)
    }

    /// A pass of `graph` that copies `regions` (source offset in the staging buffer `src`,
    /// destination offset, size) into `dst`.
    pub(crate) fn add_copy_pass(
        graph: &mut FrameGraph<'_>,
        pass: &str,
        src: BufferHandle,
        mut dst: BufferHandle,
        regions: Vec<vk::BufferCopy>,
    ) {
        let d = dst;
        graph
            .add_pass(pass)
            .read(&src, Access::TransferSrc)
            .write(&mut dst, Access::TransferDst)
            .record(move |ctx| {
                let (from, to) = (ctx.buffer(&src)?, ctx.buffer(&d)?);
                if !regions.is_empty() {
                    // SAFETY: recording; the graph ordered this copy after earlier uses of
                    // the destination; every region lies inside the staging buffer (sized for
                    // them) and inside the destination (the caller's offsets); the staging
                    // buffer is kept until this submission is made (then its destruction
                    // waits for the GPU).
                    unsafe { ctx.device().cmd_copy_buffer(ctx.cmd, from, to, &regions) };
                }
                Ok(())
            });
    }
}
