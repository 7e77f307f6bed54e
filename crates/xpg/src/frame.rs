//! Frames in flight, paced by the context's timeline semaphore.
//!
//! Each of the `n` slots owns a command pool and a primary command buffer. `begin` waits until
//! the slot's previous submission has finished (timeline value), resets its pool and starts
//! recording; `end` submits and remembers the value that signals completion. So at most `n`
//! frames are in flight and a slot's commands are never reset while the GPU runs them.

use ash::vk;

use crate::context::{Context, GpuError, VkResultExt};

struct Slot {
    pool: vk::CommandPool,
    cmd: vk::CommandBuffer,
    value: u64,
}

/// A ring of frames in flight.
pub struct FrameRing {
    ctx: Context,
    slots: Vec<Slot>,
    next: usize,
    frame_index: u64,
}

impl std::fmt::Debug for FrameRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameRing")
            .field("slots", &self.slots.len())
            .field("frame_index", &self.frame_index)
            .finish()
    }
}

/// A frame being recorded.
#[derive(Debug)]
pub struct Frame {
    /// The primary command buffer, recording.
    pub cmd: vk::CommandBuffer,
    /// Which slot (0..frames in flight).
    pub slot: usize,
    /// Frames begun before this one.
    pub index: u64,
}

impl FrameRing {
    /// `frames_in_flight` slots (at least 1).
    pub fn new(ctx: &Context, frames_in_flight: usize) -> Result<Self, GpuError> {
        let mut ring = Self { ctx: ctx.clone(), slots: Vec::new(), next: 0, frame_index: 0 };
        for _ in 0..frames_in_flight.max(1) {
            let info = vk::CommandPoolCreateInfo::default()
                .queue_family_index(ctx.queue().1)
                .flags(vk::CommandPoolCreateFlags::TRANSIENT);
            // SAFETY: valid create info; destroyed in Drop.
            let pool = unsafe { ctx.device().create_command_pool(&info, None) }
                .vk("vkCreateCommandPool")?;
            ring.slots.push(Slot { pool, cmd: vk::CommandBuffer::null(), value: 0 });
            let alloc =
                vk::CommandBufferAllocateInfo::default().command_pool(pool).command_buffer_count(1);
            // SAFETY: the pool was just created.
            let cmd = unsafe { ctx.device().allocate_command_buffers(&alloc) }
                .vk("vkAllocateCommandBuffers")?[0];
            if let Some(s) = ring.slots.last_mut() {
                s.cmd = cmd;
            }
        }
        Ok(ring)
    }

    /// Frames in flight.
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    /// Never empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Waits for the next slot to be free and starts recording its command buffer.
    pub fn begin(&mut self) -> Result<Frame, GpuError> {
        let slot = self.next;
        let s = &self.slots[slot];
        self.ctx.wait(s.value)?;
        let device = self.ctx.device();
        // SAFETY: the slot's previous submission completed (waited above).
        unsafe { device.reset_command_pool(s.pool, vk::CommandPoolResetFlags::empty()) }
            .vk("vkResetCommandPool")?;
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: the command buffer was reset with its pool.
        unsafe { device.begin_command_buffer(s.cmd, &begin) }.vk("vkBeginCommandBuffer")?;
        let frame = Frame { cmd: s.cmd, slot, index: self.frame_index };
        self.frame_index += 1;
        self.next = (self.next + 1) % self.slots.len();
        Ok(frame)
    }

    /// Ends recording and submits. Returns the timeline value that marks the frame complete.
    pub fn end(&mut self, frame: Frame) -> Result<u64, GpuError> {
        // SAFETY: no extra semaphores; the frame's command buffer is this ring's own.
        unsafe { self.end_with(frame, &[], &[]) }
    }

    /// Like [`FrameRing::end`], also waiting on / signalling the given semaphores (swapchain
    /// acquire and present).
    ///
    /// # Safety
    /// The semaphores are live semaphores of this context's device; binary ones have a
    /// pending signal (waits) or are unsignalled (signals); timeline values are valid.
    pub unsafe fn end_with(
        &mut self,
        frame: Frame,
        waits: &[vk::SemaphoreSubmitInfo<'_>],
        signals: &[vk::SemaphoreSubmitInfo<'_>],
    ) -> Result<u64, GpuError> {
        // SAFETY: `frame.cmd` is recording (returned by `begin`).
        unsafe { self.ctx.device().end_command_buffer(frame.cmd) }.vk("vkEndCommandBuffer")?;
        let value = self.ctx.shared.submit(&[frame.cmd], waits, signals)?;
        self.slots[frame.slot].value = value;
        Ok(value)
    }
}

impl Drop for FrameRing {
    fn drop(&mut self) {
        let last = self.slots.iter().map(|s| s.value).max().unwrap_or(0);
        if self.ctx.wait(last).is_err() {
            // SAFETY: an idle wait with every queue taken (the context's one queue, under its
            // lock: another thread may be submitting).
            let _ = self.ctx.with_queue(|_| unsafe { self.ctx.device().device_wait_idle() });
        }
        for s in &self.slots {
            // SAFETY: every submission of the slot completed (waited above).
            unsafe { self.ctx.device().destroy_command_pool(s.pool, None) };
        }
    }
}
