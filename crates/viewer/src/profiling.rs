//! Tracy GPU zones (feature `tracy`): the framegraph's per-pass GPU timestamps, read back a
//! frame or two after they were recorded, are sent to Tracy as GPU zones of one context
//! named after the device, beside the CPU spans and frame marks that `tracing` sends.
//!
//! Calibration: the context is created with the first pass start it sees as the GPU time of
//! "now" (no calibrated-timestamps extension is used), so the GPU track sits one to two frames
//! (the frames in flight) late against the CPU track; the zones' lengths and order are exact.

use framegraph::PassTiming;
use tracing_tracy::client::{Client, GpuContext, GpuContextType};

/// The GPU context and the last zone sent (timings are sent once each, in increasing order).
#[derive(Default)]
pub(crate) struct GpuZones {
    ctx: Option<GpuContext>,
    last_end: f64,
}

impl GpuZones {
    /// Sends `timings` (one frame's passes) as GPU zones, unless already sent.
    pub(crate) fn send(&mut self, device: &str, timings: &[PassTiming]) {
        let Some(first) = timings.first() else { return };
        if first.start_ns <= self.last_end {
            return;
        }
        if self.ctx.is_none() {
            // Only when a Tracy client runs (the tracing layer starts one).
            let Some(client) = Client::running() else { return };
            match client.new_gpu_context(
                Some(device),
                GpuContextType::Vulkan,
                first.start_ns as i64,
                1.0,
            ) {
                Ok(c) => self.ctx = Some(c),
                Err(e) => {
                    tracing::warn!("Tracy GPU context: {e}");
                    return;
                }
            }
        }
        let Some(ctx) = &self.ctx else { return };
        for t in timings {
            match ctx.span_alloc(&t.name, "framegraph pass", file!(), line!()) {
                Ok(mut span) => {
                    span.end_zone();
                    span.upload_timestamp_start(t.start_ns as i64);
                    span.upload_timestamp_end(t.end_ns as i64);
                }
                Err(e) => {
                    tracing::warn!("Tracy GPU zone: {e}");
                    return;
                }
            }
            self.last_end = self.last_end.max(t.end_ns);
        }
    }
}
