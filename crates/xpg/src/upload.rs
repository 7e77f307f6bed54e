//! Uploads to and readbacks from GPU memory.
//!
//! Two upload paths, chosen per destination:
//! - **direct**: the destination buffer is host-visible and coherent (resizable BAR, unified
//!   memory, or [`MemoryUsage::Upload`](crate::MemoryUsage)) -> `memcpy` into its mapping.
//! - **staging**: bytes go into a ring buffer in host memory, then a GPU copy moves them.
//!   Images always take this path (optimal tiling). [`ContextDesc::force_staging`]
//!   (crate::ContextDesc) forces it for buffers too; on lavapipe every memory type is
//!   host-visible, so this override is how the staging code runs in CI.
//!
//! # The ring
//! The ring is one host-visible buffer used circularly. Each chunk copied is a region tagged
//! with the timeline value of the submission that reads it; a region is reused only once the
//! GPU has passed that value, so copying chunk n+1 on the CPU overlaps the GPU copy of chunk n.
//! Uploads larger than the ring are split into chunks of at most half the ring.
//!
//! These are set-up operations outside a frame (explicit barriers, see [`crate::immediate`]);
//! per-frame uploads are framegraph passes.

use std::collections::VecDeque;

use ash::vk;

use crate::context::{Context, GpuError, VkResultExt};
use crate::resource::{format_texel_size, Buffer, BufferDesc, Image, MemoryUsage};
use crate::ring::{RingAllocator, PENDING};
use crate::sync::{image_barrier, memory_barrier, AccessScope};

/// Which path an upload took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadPath {
    /// `memcpy` into the destination's mapping.
    Direct,
    /// Through the staging ring and a GPU copy.
    Staging,
}

/// The staging ring plus a readback buffer, for set-up uploads and readbacks.
pub struct Uploader {
    ctx: Context,
    buffer: Buffer,
    /// Which parts of `buffer` the GPU may still read.
    ring: RingAllocator,
    pool: vk::CommandPool,
    /// Command buffers with the value of their submission, oldest first.
    cmds: VecDeque<(vk::CommandBuffer, u64)>,
    readback: Option<Buffer>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader").field("capacity", &self.buffer.size()).finish()
    }
}

/// Data of one mip level of an image: every array layer, tightly packed, layer after layer.
pub type MipData<'a> = &'a [u8];

impl Uploader {
    /// A ring of `capacity` bytes (at least 64 KiB).
    pub fn new(ctx: &Context, capacity: u64) -> Result<Self, GpuError> {
        let capacity = capacity.max(64 << 10);
        let ring = Buffer::new(
            ctx,
            &BufferDesc {
                size: capacity,
                usage: vk::BufferUsageFlags::TRANSFER_SRC,
                memory: MemoryUsage::Upload,
                name: "staging ring",
            },
        )?;
        if !ring.is_mapped() {
            return Err(GpuError::Invalid(
                "staging ring memory is not host-visible and coherent".into(),
            ));
        }
        let info = vk::CommandPoolCreateInfo::default().queue_family_index(ctx.queue().1).flags(
            vk::CommandPoolCreateFlags::TRANSIENT
                | vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER,
        );
        // SAFETY: valid create info; destroyed in Drop after the device is idle for it.
        let pool =
            unsafe { ctx.device().create_command_pool(&info, None) }.vk("vkCreateCommandPool")?;
        Ok(Self {
            ctx: ctx.clone(),
            ring: RingAllocator::new(ring.size()),
            buffer: ring,
            pool,
            cmds: VecDeque::new(),
            readback: None,
        })
    }

    /// Ring size in bytes.
    pub fn capacity(&self) -> u64 {
        self.buffer.size()
    }

    /// Finds `size` free bytes (aligned to 16), waiting for the GPU to release old regions.
    fn alloc(&mut self, size: u64) -> Result<u64, GpuError> {
        loop {
            self.ring.retire(self.ctx.shared.completed_value());
            if let Some(offset) = self.ring.alloc(size) {
                return Ok(offset);
            }
            match self.ring.oldest_value() {
                Some(v) if v != PENDING => self.ctx.wait(v)?,
                _ => {
                    return Err(GpuError::Invalid(format!(
                        "{size} bytes do not fit the staging ring of {} bytes",
                        self.buffer.size()
                    )))
                }
            }
        }
    }

    fn begin_cmd(&mut self) -> Result<vk::CommandBuffer, GpuError> {
        let device = self.ctx.device();
        let done = self.ctx.shared.completed_value();
        let cmd = if self.cmds.front().is_some_and(|c| c.1 <= done) {
            let (cmd, _) =
                self.cmds.pop_front().ok_or_else(|| GpuError::Invalid("empty".into()))?;
            // SAFETY: its submission has completed; the pool allows individual resets.
            unsafe { device.reset_command_buffer(cmd, vk::CommandBufferResetFlags::empty()) }
                .vk("vkResetCommandBuffer")?;
            cmd
        } else {
            let info = vk::CommandBufferAllocateInfo::default()
                .command_pool(self.pool)
                .level(vk::CommandBufferLevel::PRIMARY)
                .command_buffer_count(1);
            // SAFETY: the pool is owned by `self` (`&mut self`: externally synchronised).
            unsafe { device.allocate_command_buffers(&info) }.vk("vkAllocateCommandBuffers")?[0]
        };
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: `cmd` is in the initial state.
        unsafe { device.begin_command_buffer(cmd, &begin) }.vk("vkBeginCommandBuffer")?;
        Ok(cmd)
    }

    fn submit_cmd(&mut self, cmd: vk::CommandBuffer) -> Result<u64, GpuError> {
        // SAFETY: `cmd` is recording.
        unsafe { self.ctx.device().end_command_buffer(cmd) }.vk("vkEndCommandBuffer")?;
        let value = self.ctx.shared.submit(&[cmd], &[], &[])?;
        self.cmds.push_back((cmd, value));
        self.ring.commit(value);
        Ok(value)
    }

    fn stage(&mut self, data: &[u8]) -> Result<u64, GpuError> {
        // Regions still pending here belong to a chunk whose recording or submission failed:
        // the GPU never reads them.
        self.ring.commit(0);
        let off = self.alloc(data.len() as u64)?;
        let map = self
            .buffer
            .mapped()
            .ok_or_else(|| GpuError::Invalid("staging ring unmapped".into()))?;
        map[off as usize..off as usize + data.len()].copy_from_slice(data);
        Ok(off)
    }

    /// Writes `data` into `dst` at `offset`. Returns the path taken and the timeline value after
    /// which the data is in place and visible to all later GPU work (0 for the direct path: it is
    /// in place on return, and the next submission makes host writes visible).
    ///
    /// The caller must not upload into a buffer the GPU is still using.
    pub fn upload_buffer(
        &mut self,
        dst: &mut Buffer,
        offset: u64,
        data: &[u8],
    ) -> Result<(UploadPath, u64), GpuError> {
        let end = offset.checked_add(data.len() as u64);
        if end.is_none_or(|e| e > dst.size()) {
            return Err(GpuError::Invalid(format!(
                "upload of {} bytes at offset {offset} overruns buffer '{}' of {} bytes",
                data.len(),
                dst.name(),
                dst.size()
            )));
        }
        if data.is_empty() {
            return Ok((UploadPath::Direct, 0));
        }
        if !self.ctx.force_staging() {
            if let Some(map) = dst.mapped() {
                map[offset as usize..offset as usize + data.len()].copy_from_slice(data);
                return Ok((UploadPath::Direct, 0));
            }
        }
        let chunk = (self.buffer.size() / 2).max(1) as usize;
        let mut value = 0;
        for (i, part) in data.chunks(chunk).enumerate() {
            let src_off = self.stage(part)?;
            let cmd = self.begin_cmd()?;
            let device = self.ctx.device();
            if i == 0 {
                // Earlier GPU use of `dst` (reads or writes) happens before the copy writes it.
                memory_barrier(
                    device,
                    cmd,
                    AccessScope::any_access(vk::ImageLayout::UNDEFINED),
                    AccessScope::TRANSFER_DST,
                );
            }
            let region = [vk::BufferCopy {
                src_offset: src_off,
                dst_offset: offset + (i * chunk) as u64,
                size: part.len() as u64,
            }];
            // SAFETY: both buffers are alive; the ranges were checked above and by `alloc`.
            unsafe { device.cmd_copy_buffer(cmd, self.buffer.raw(), dst.raw(), &region) };
            // The copy's writes are visible to every later command (this and later submissions).
            memory_barrier(
                device,
                cmd,
                AccessScope::TRANSFER_DST,
                AccessScope::any_access(vk::ImageLayout::UNDEFINED),
            );
            value = self.submit_cmd(cmd)?;
        }
        Ok((UploadPath::Staging, value))
    }

    /// Uploads every mip level of `image` (each `MipData` holds all layers of that level,
    /// tightly packed) through the staging ring and leaves the image in `final_layout`, visible
    /// to all later work. The image's earlier contents are discarded. Returns the timeline value
    /// of the last copy.
    pub fn upload_image(
        &mut self,
        image: &Image,
        mips: &[MipData<'_>],
        final_layout: vk::ImageLayout,
    ) -> Result<u64, GpuError> {
        let texel = format_texel_size(image.format()).ok_or_else(|| {
            GpuError::Invalid(format!(
                "image '{}': format {:?} cannot be uploaded",
                image.name(),
                image.format()
            ))
        })? as u64;
        if mips.is_empty() || mips.len() as u32 > image.mip_levels() {
            return Err(GpuError::Invalid(format!(
                "image '{}': {} mip levels of data for an image of {}",
                image.name(),
                mips.len(),
                image.mip_levels()
            )));
        }
        let layers = image.array_layers() as u64;
        for (level, data) in mips.iter().enumerate() {
            let e = image.mip_extent(level as u32);
            let want = e.width as u64 * e.height as u64 * e.depth as u64 * texel * layers;
            if data.len() as u64 != want {
                return Err(GpuError::Invalid(format!(
                    "image '{}' mip {level}: {} bytes given, {}x{}x{} x {layers} layers of {texel}-byte texels is {want}",
                    image.name(), data.len(), e.width, e.height, e.depth
                )));
            }
        }
        let range = image.full_range();
        let cap_rows = (self.buffer.size() / 2).max(1);
        let mut first = true;
        let mut value = 0;
        for (level, data) in mips.iter().enumerate() {
            let e = image.mip_extent(level as u32);
            let row = e.width as u64 * texel;
            let slice = row * e.height as u64 * e.depth as u64;
            if row > cap_rows {
                return Err(GpuError::Invalid(format!(
                    "image '{}': a row is larger than the staging ring",
                    image.name()
                )));
            }
            let rows_per_chunk = (cap_rows / row).clamp(1, u32::MAX as u64) as u32;
            for layer in 0..layers {
                let layer_data = &data[(layer * slice) as usize..((layer + 1) * slice) as usize];
                // 2D rows in chunks (3D images: whole slices only when they fit).
                let total_rows = e.height * e.depth;
                let mut y = 0u32;
                while y < total_rows {
                    let n = rows_per_chunk.min(total_rows - y);
                    let (z0, y0, nz, ny) = if e.depth > 1 {
                        let per = e.height;
                        if n < per {
                            return Err(GpuError::Invalid(format!(
                                "image '{}': a 3D slice is larger than the staging ring",
                                image.name()
                            )));
                        }
                        let nz = n / per;
                        (y / per, 0, nz, per)
                    } else {
                        (0, y, 1, n)
                    };
                    let rows = ny * nz;
                    let bytes =
                        &layer_data[(y as u64 * row) as usize..((y + rows) as u64 * row) as usize];
                    let src_off = self.stage(bytes)?;
                    let cmd = self.begin_cmd()?;
                    let device = self.ctx.device();
                    if first {
                        image_barrier(
                            device,
                            cmd,
                            image.raw(),
                            range,
                            // Earlier work may still sample or write the image.
                            AccessScope::DISCARD_AFTER_ANY,
                            AccessScope::TRANSFER_DST,
                        );
                        first = false;
                    } else {
                        // Orders this submission's copy after the previous ones into the image.
                        memory_barrier(
                            device,
                            cmd,
                            AccessScope::TRANSFER_DST,
                            AccessScope::TRANSFER_DST,
                        );
                    }
                    let copy = vk::BufferImageCopy {
                        buffer_offset: src_off,
                        buffer_row_length: 0,
                        buffer_image_height: 0,
                        image_subresource: vk::ImageSubresourceLayers {
                            aspect_mask: range.aspect_mask,
                            mip_level: level as u32,
                            base_array_layer: layer as u32,
                            layer_count: 1,
                        },
                        image_offset: vk::Offset3D { x: 0, y: y0 as i32, z: z0 as i32 },
                        image_extent: vk::Extent3D { width: e.width, height: ny, depth: nz },
                    };
                    // SAFETY: image in TRANSFER_DST_OPTIMAL; region inside the mip; source in the ring.
                    unsafe {
                        device.cmd_copy_buffer_to_image(
                            cmd,
                            self.buffer.raw(),
                            image.raw(),
                            vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                            &[copy],
                        )
                    };
                    let last =
                        level + 1 == mips.len() && layer + 1 == layers && y + rows >= total_rows;
                    if last {
                        image_barrier(
                            device,
                            cmd,
                            image.raw(),
                            range,
                            AccessScope::TRANSFER_DST,
                            AccessScope::any_access(final_layout),
                        );
                    }
                    value = self.submit_cmd(cmd)?;
                    y += rows;
                }
            }
        }
        Ok(value)
    }

    fn readback_buffer(&mut self, size: u64) -> Result<&mut Buffer, GpuError> {
        if self.readback.as_ref().is_none_or(|b| b.size() < size) {
            let size = size.next_power_of_two().max(64 << 10);
            self.readback = Some(Buffer::new(
                &self.ctx,
                &BufferDesc {
                    size,
                    usage: vk::BufferUsageFlags::TRANSFER_DST,
                    memory: MemoryUsage::Readback,
                    name: "readback",
                },
            )?);
        }
        self.readback.as_mut().ok_or_else(|| GpuError::Invalid("no readback buffer".into()))
    }

    /// Reads `len` bytes of `src` at `offset`, after all GPU work submitted so far. Blocks.
    pub fn read_buffer(
        &mut self,
        src: &Buffer,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, GpuError> {
        if offset.checked_add(len).is_none_or(|e| e > src.size()) {
            return Err(GpuError::Invalid(format!(
                "readback of {len} bytes at offset {offset} overruns buffer '{}' of {} bytes",
                src.name(),
                src.size()
            )));
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let ctx = self.ctx.clone();
        let device = ctx.device();
        if !ctx.force_staging() && src.is_mapped() {
            // Make every earlier GPU write visible to the host, then wait.
            ctx.immediate(|cmd| {
                memory_barrier(
                    device,
                    cmd,
                    AccessScope::any_write(vk::ImageLayout::UNDEFINED),
                    AccessScope::HOST_READ,
                )
            })?;
            let map = src.mapped_read().ok_or_else(|| GpuError::Invalid("unmapped".into()))?;
            return Ok(map[offset as usize..(offset + len) as usize].to_vec());
        }
        let rb = self.readback_buffer(len.max(1))?.raw();
        ctx.immediate(|cmd| {
            memory_barrier(
                device,
                cmd,
                AccessScope::any_write(vk::ImageLayout::UNDEFINED),
                AccessScope::TRANSFER_SRC,
            );
            let region = [vk::BufferCopy { src_offset: offset, dst_offset: 0, size: len }];
            // SAFETY: ranges checked above; both buffers alive.
            unsafe { device.cmd_copy_buffer(cmd, src.raw(), rb, &region) };
            memory_barrier(device, cmd, AccessScope::TRANSFER_DST, AccessScope::HOST_READ);
        })?;
        let rb = self
            .readback
            .as_ref()
            .and_then(|b| b.mapped_read())
            .ok_or_else(|| GpuError::Invalid("readback unmapped".into()))?;
        Ok(rb[..len as usize].to_vec())
    }

    /// Reads mip `level`, layer `layer` of `image` (tightly packed rows) after all GPU work
    /// submitted so far. The image must be in `layout` and is left in it. Blocks.
    pub fn read_image(
        &mut self,
        image: &Image,
        level: u32,
        layer: u32,
        layout: vk::ImageLayout,
    ) -> Result<Vec<u8>, GpuError> {
        let texel = format_texel_size(image.format()).ok_or_else(|| {
            GpuError::Invalid(format!(
                "image '{}': format {:?} cannot be read back",
                image.name(),
                image.format()
            ))
        })? as u64;
        if level >= image.mip_levels() || layer >= image.array_layers() {
            return Err(GpuError::Invalid(format!(
                "image '{}': no mip {level} / layer {layer}",
                image.name()
            )));
        }
        let e = image.mip_extent(level);
        let len = e.width as u64 * e.height as u64 * e.depth as u64 * texel;
        let rb = self.readback_buffer(len)?.raw();
        let ctx = self.ctx.clone();
        let device = ctx.device();
        let aspect = image.full_range().aspect_mask;
        let range = vk::ImageSubresourceRange {
            aspect_mask: aspect,
            base_mip_level: level,
            level_count: 1,
            base_array_layer: layer,
            layer_count: 1,
        };
        ctx.immediate(|cmd| {
            image_barrier(
                device,
                cmd,
                image.raw(),
                range,
                AccessScope::any_write(layout),
                AccessScope::TRANSFER_SRC,
            );
            let copy = vk::BufferImageCopy {
                buffer_offset: 0,
                buffer_row_length: 0,
                buffer_image_height: 0,
                image_subresource: vk::ImageSubresourceLayers {
                    aspect_mask: aspect,
                    mip_level: level,
                    base_array_layer: layer,
                    layer_count: 1,
                },
                image_offset: vk::Offset3D::default(),
                image_extent: e,
            };
            // SAFETY: image in TRANSFER_SRC_OPTIMAL; the readback buffer holds `len` bytes.
            unsafe {
                device.cmd_copy_image_to_buffer(
                    cmd,
                    image.raw(),
                    vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                    rb,
                    &[copy],
                )
            };
            image_barrier(
                device,
                cmd,
                image.raw(),
                range,
                AccessScope::TRANSFER_SRC,
                AccessScope::any_access(layout),
            );
            memory_barrier(device, cmd, AccessScope::TRANSFER_DST, AccessScope::HOST_READ);
        })?;
        let rb = self
            .readback
            .as_ref()
            .and_then(|b| b.mapped_read())
            .ok_or_else(|| GpuError::Invalid("readback unmapped".into()))?;
        Ok(rb[..len as usize].to_vec())
    }

    /// Blocks until every upload made so far has completed.
    pub fn flush(&mut self) -> Result<(), GpuError> {
        if let Some(&(_, v)) = self.cmds.back() {
            self.ctx.wait(v)?;
        }
        Ok(())
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        let last = self.cmds.back().map(|c| c.1).unwrap_or(0);
        if self.ctx.wait(last).is_err() {
            // SAFETY: an idle wait (so the pool is not in use) with the context's one queue
            // taken under its lock.
            let _ = self.ctx.with_queue(|_| unsafe { self.ctx.device().device_wait_idle() });
        }
        // SAFETY: every command buffer of the pool has completed (waited above).
        unsafe { self.ctx.device().destroy_command_pool(self.pool, None) };
    }
}
