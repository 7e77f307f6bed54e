//! GPU timestamp queries.

use std::sync::Arc;

use ash::vk;

use crate::context::{Context, GpuError, Shared, VkResultExt};

/// A pool of timestamp queries, reset from the host.
pub struct TimestampPool {
    shared: Arc<Shared>,
    pool: vk::QueryPool,
    count: u32,
    period_ns: f64,
}

impl std::fmt::Debug for TimestampPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimestampPool").field("count", &self.count).finish()
    }
}

impl TimestampPool {
    /// A pool of `count` timestamps. Fails if the queue cannot write timestamps.
    pub fn new(ctx: &Context, count: u32) -> Result<Self, GpuError> {
        if !ctx.caps().timestamps {
            return Err(GpuError::Invalid("the queue does not support timestamps".into()));
        }
        let info = vk::QueryPoolCreateInfo::default()
            .query_type(vk::QueryType::TIMESTAMP)
            .query_count(count.max(1));
        // SAFETY: valid create info; destroyed (deferred) in Drop.
        let pool =
            unsafe { ctx.device().create_query_pool(&info, None) }.vk("vkCreateQueryPool")?;
        let this = Self {
            shared: Arc::clone(&ctx.shared),
            pool,
            count: count.max(1),
            period_ns: ctx.caps().timestamp_period_ns as f64,
        };
        this.reset();
        Ok(this)
    }

    /// Number of timestamps.
    pub fn capacity(&self) -> u32 {
        self.count
    }

    /// Resets every query from the host (hostQueryReset). Call only when no pending work
    /// writes them.
    pub fn reset(&self) {
        // SAFETY: the queries are not in use by pending work (caller's contract).
        unsafe { self.shared.device.reset_query_pool(self.pool, 0, self.count) };
    }

    /// Writes timestamp `index` once all earlier commands reached `stage`.
    pub fn write(
        &self,
        cmd: vk::CommandBuffer,
        stage: vk::PipelineStageFlags2,
        index: u32,
    ) -> Result<(), GpuError> {
        if index >= self.count {
            return Err(GpuError::Invalid(format!("timestamp {index} out of {}", self.count)));
        }
        // SAFETY: `cmd` is recording; the query was reset and is in range.
        unsafe { self.shared.device.cmd_write_timestamp2(cmd, stage, self.pool, index) };
        Ok(())
    }

    /// Reads `n` timestamps from `first`, in nanoseconds, waiting for them to be available:
    /// only read queries that submitted work writes (a query never written blocks forever).
    pub fn read_ns(&self, first: u32, n: u32) -> Result<Vec<f64>, GpuError> {
        if first.checked_add(n).is_none_or(|end| end > self.count) {
            return Err(GpuError::Invalid(format!(
                "timestamps {first}..{} out of {}",
                first as u64 + n as u64,
                self.count
            )));
        }
        let mut raw = vec![0u64; n as usize];
        // SAFETY: the range lies inside the pool; 64-bit results with WAIT.
        unsafe {
            self.shared.device.get_query_pool_results(
                self.pool,
                first,
                &mut raw,
                vk::QueryResultFlags::TYPE_64 | vk::QueryResultFlags::WAIT,
            )
        }
        .vk("vkGetQueryPoolResults")?;
        Ok(raw.iter().map(|&t| t as f64 * self.period_ns).collect())
    }

    /// Like [`TimestampPool::read_ns`] without waiting: `None` while any of the queries is not
    /// available yet (or was never written).
    pub fn try_read_ns(&self, first: u32, n: u32) -> Result<Option<Vec<f64>>, GpuError> {
        if first.checked_add(n).is_none_or(|end| end > self.count) {
            return Err(GpuError::Invalid(format!(
                "timestamps {first}..+{n} out of {}",
                self.count
            )));
        }
        let mut raw = vec![[0u64; 2]; n as usize];
        // SAFETY: the range lies inside the pool; each element holds a 64-bit value and its
        // 64-bit availability word.
        let r = unsafe {
            self.shared.device.get_query_pool_results(
                self.pool,
                first,
                &mut raw,
                vk::QueryResultFlags::TYPE_64 | vk::QueryResultFlags::WITH_AVAILABILITY,
            )
        };
        match r {
            Ok(()) | Err(vk::Result::NOT_READY) => {}
            Err(e) => return Err(GpuError::Vk { call: "vkGetQueryPoolResults", result: e }),
        }
        if raw.iter().any(|q| q[1] == 0) {
            return Ok(None);
        }
        Ok(Some(raw.iter().map(|q| q[0] as f64 * self.period_ns).collect()))
    }
}

impl Drop for TimestampPool {
    fn drop(&mut self) {
        let pool = self.pool;
        // SAFETY: deferred until no submission writes the queries.
        self.shared.defer(move |device, _| unsafe { device.destroy_query_pool(pool, None) });
    }
}
