//! One-off submissions for set-up work outside any frame.
//!
//! The caller records explicit barriers (see [`crate::sync`]); the submission is waited for
//! before returning, so nothing recorded here overlaps later work on the CPU side. Later GPU
//! work is ordered after it by submission order, and the barriers recorded inside make its
//! writes visible.

use ash::vk;

use crate::context::{Context, GpuError, VkResultExt};

impl Context {
    /// Records `record` into a fresh command buffer, submits it, waits for it and returns what
    /// `record` returned.
    ///
    /// ```no_run
    /// # fn f(ctx: &xpg::Context) -> Result<(), xpg::GpuError> {
    /// ctx.immediate(|cmd| {
    ///     // record commands and explicit barriers (xpg::sync) into `cmd`
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn immediate<R>(&self, record: impl FnOnce(vk::CommandBuffer) -> R) -> Result<R, GpuError> {
        let device = &self.shared.device;
        // A transient pool per call: set-up work is rare, and no lock is held while `record`
        // runs, so `record` may itself use other one-off submissions.
        let info = vk::CommandPoolCreateInfo::default()
            .queue_family_index(self.shared.queue_family)
            .flags(vk::CommandPoolCreateFlags::TRANSIENT);
        // SAFETY: valid create info; destroyed below once its command buffer completed.
        let pool = unsafe { device.create_command_pool(&info, None) }.vk("vkCreateCommandPool")?;
        let result = self.record_and_wait(pool, record);
        if result.is_err() {
            // The submission may be in flight: wait for the device before destroying the pool.
            // SAFETY: an idle wait with the context's one queue taken under its lock.
            let _ = self.with_queue(|_| unsafe { device.device_wait_idle() });
        }
        // SAFETY: the pool's command buffer completed (waited for) or was never submitted.
        unsafe { device.destroy_command_pool(pool, None) };
        result
    }

    fn record_and_wait<R>(
        &self,
        pool: vk::CommandPool,
        record: impl FnOnce(vk::CommandBuffer) -> R,
    ) -> Result<R, GpuError> {
        let device = &self.shared.device;
        let info = vk::CommandBufferAllocateInfo::default()
            .command_pool(pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: the pool is owned by this call alone.
        let cmd =
            unsafe { device.allocate_command_buffers(&info) }.vk("vkAllocateCommandBuffers")?[0];
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: freshly allocated command buffer.
        unsafe { device.begin_command_buffer(cmd, &begin) }.vk("vkBeginCommandBuffer")?;
        self.begin_label(cmd, "immediate", [0.5, 0.5, 0.5, 1.0]);
        let out = record(cmd);
        self.end_label(cmd);
        // SAFETY: `cmd` is recording.
        unsafe { device.end_command_buffer(cmd) }.vk("vkEndCommandBuffer")?;
        let value = self.shared.submit(&[cmd], &[], &[])?;
        self.shared.wait(value)?;
        Ok(out)
    }
}
