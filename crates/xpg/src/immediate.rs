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
        let shared = &self.shared;
        let pool = shared.immediate_pool.lock().unwrap_or_else(|e| e.into_inner());
        let info = vk::CommandBufferAllocateInfo::default()
            .command_pool(*pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: the pool is externally synchronised by its mutex, held until the end.
        let cmd = unsafe { shared.device.allocate_command_buffers(&info) }
            .vk("vkAllocateCommandBuffers")?[0];
        let free = |cmd| {
            // SAFETY: `cmd` is not pending (never submitted, or waited for below).
            unsafe { shared.device.free_command_buffers(*pool, &[cmd]) }
        };
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: freshly allocated command buffer.
        if let Err(e) = unsafe { shared.device.begin_command_buffer(cmd, &begin) } {
            free(cmd);
            return Err(GpuError::Vk { call: "vkBeginCommandBuffer", result: e });
        }
        self.begin_label(cmd, "immediate", [0.5, 0.5, 0.5, 1.0]);
        let out = record(cmd);
        self.end_label(cmd);
        // SAFETY: `cmd` is recording.
        let ended = unsafe { shared.device.end_command_buffer(cmd) }.vk("vkEndCommandBuffer");
        let result =
            ended.and_then(|_| shared.submit(&[cmd], &[], &[])).and_then(|v| shared.wait(v));
        if result.is_err() {
            // The submission may be in flight: wait for the device before freeing.
            // SAFETY: plain idle wait.
            let _ = unsafe { shared.device.device_wait_idle() };
        }
        free(cmd);
        result.map(|_| out)
    }
}
