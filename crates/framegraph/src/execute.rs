//! Recording a [`Plan`]: transient resources created once and pooled across frames (memory
//! aliased as the plan says), barriers recorded before each pass, each pass inside a debug label
//! and a pair of GPU timestamps read back when its frame slot comes round again.

use std::collections::HashMap;

use xpg::vk;
use xpg::{BindlessHeap, Context, GpuError, TimestampPool};

use crate::compile::{CompileOptions, MemoryRequirements, Plan, TransientDesc};
use crate::graph::{FrameGraph, GraphError, ImportedRaw, ResourceKind};
use crate::pass_context::{release_views, PassContext, ViewEntry};
use crate::pool::{image_create_info, TransientPool};

/// Errors of compiling with the device's requirements and of executing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError {
    /// The graph is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A Vulkan call or allocation failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// The plan does not belong to this graph (compile the graph you execute).
    #[error("the plan does not match the graph: {0}")]
    PlanMismatch(String),
    /// A pass's recording closure failed.
    #[error("pass '{pass}': {message}")]
    Pass {
        /// The pass.
        pass: String,
        /// What failed.
        message: String,
    },
}

/// GPU time of one pass of an earlier frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PassTiming {
    /// Pass name.
    pub name: String,
    /// Milliseconds between the timestamps around the pass.
    pub gpu_ms: f64,
    /// The timestamps around the pass, in nanoseconds of the GPU's clock (for profilers that
    /// place GPU zones on a timeline, such as Tracy's).
    pub start_ns: f64,
    /// See `start_ns`.
    pub end_ns: f64,
}

pub(crate) struct FrameSlot {
    pub(crate) timestamps: Option<TimestampPool>,
    pub(crate) names: Vec<String>,
    pub(crate) recorded: bool,
    /// Views of imported images made during this slot's last frame (released with it).
    pub(crate) frame_views: HashMap<(vk::Image, u32, u32), ViewEntry>,
}

/// Records plans. Keep one per renderer/viewer for the life of the frame loop.
///
/// One `execute` per command buffer, and submit that command buffer before the next `execute`
/// or before dropping the executor: pooled objects replaced by a new graph shape are released
/// after the submissions made so far, which must include the ones that use them.
pub struct Executor {
    pub(crate) ctx: Context,
    pub(crate) pool: TransientPool,
    pub(crate) slots: Vec<FrameSlot>,
    pub(crate) frame: u64,
    pub(crate) last_timings: Vec<PassTiming>,
    pub(crate) objects_created: u64,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("frame", &self.frame)
            .field("objects_created", &self.objects_created)
            .finish()
    }
}

impl Executor {
    /// An executor for `frames_in_flight` frames (the same number as the [`xpg::FrameRing`]
    /// whose command buffers it records into: timestamps of a slot are read when it comes
    /// round again, after the ring has waited for it).
    pub fn new(ctx: &Context, frames_in_flight: usize) -> Self {
        let slots = (0..frames_in_flight.max(1))
            .map(|_| FrameSlot {
                timestamps: None,
                names: Vec::new(),
                recorded: false,
                frame_views: HashMap::new(),
            })
            .collect();
        Self {
            ctx: ctx.clone(),
            pool: TransientPool::default(),
            slots,
            frame: 0,
            last_timings: Vec::new(),
            objects_created: 0,
        }
    }

    /// Vulkan objects (images, buffers, views, memory blocks, bindless slots, query pools)
    /// this executor has created so far.
    pub fn objects_created(&self) -> u64 {
        self.objects_created
    }

    /// GPU time per pass of the most recent frame whose timestamps are available.
    pub fn last_timings(&self) -> &[PassTiming] {
        &self.last_timings
    }

    /// Compiles `graph` with the device's real memory requirements for the transients.
    pub fn compile(&self, graph: &FrameGraph<'_>) -> Result<Plan, ExecuteError> {
        let device = self.ctx.device();
        // Transient acceleration structures need ray tracing before anything is queried with
        // their (extension) buffer usage.
        if !self.ctx.caps().ray_tracing {
            if let Some(r) = graph.resources.iter().find(|r| {
                matches!(r.kind, ResourceKind::Accel { .. })
                    && matches!(r.origin, crate::graph::Origin::Transient)
            }) {
                return Err(ExecuteError::Gpu(GpuError::Invalid(format!(
                    "transient acceleration structure '{}': the device has no ray tracing",
                    r.name
                ))));
            }
        }
        let requirements = |desc: &TransientDesc| -> MemoryRequirements {
            let reqs = match desc {
                TransientDesc::Image { info, usage } => {
                    let ci = image_create_info(info, *usage);
                    let q = vk::DeviceImageMemoryRequirements::default().create_info(&ci);
                    let mut out = vk::MemoryRequirements2::default();
                    // SAFETY: valid create info (maintenance4 is core in Vulkan 1.3).
                    unsafe { device.get_device_image_memory_requirements(&q, &mut out) };
                    out.memory_requirements
                }
                TransientDesc::Accel { size, .. } => {
                    let ci = vk::BufferCreateInfo::default()
                        .size(*size)
                        .usage(crate::compile::ACCEL_BUFFER_USAGE);
                    let q = vk::DeviceBufferMemoryRequirements::default().create_info(&ci);
                    let mut out = vk::MemoryRequirements2::default();
                    // SAFETY: valid create info.
                    unsafe { device.get_device_buffer_memory_requirements(&q, &mut out) };
                    out.memory_requirements
                }
                TransientDesc::Buffer { size, usage } => {
                    let ci = vk::BufferCreateInfo::default().size(*size).usage(*usage);
                    let q = vk::DeviceBufferMemoryRequirements::default().create_info(&ci);
                    let mut out = vk::MemoryRequirements2::default();
                    // SAFETY: valid create info.
                    unsafe { device.get_device_buffer_memory_requirements(&q, &mut out) };
                    out.memory_requirements
                }
            };
            MemoryRequirements {
                size: reqs.size,
                alignment: reqs.alignment,
                memory_type_bits: reqs.memory_type_bits,
            }
        };
        Ok(graph.compile_with(&CompileOptions {
            no_aliasing: false,
            requirements: Some(&requirements),
        })?)
    }

    /// Records `plan` (compiled from `graph`, ideally with [`Executor::compile`]) into `cmd`,
    /// which must be recording. Transients are created on the first frame of a graph shape and
    /// reused while the shape stays the same.
    pub fn execute(
        &mut self,
        graph: FrameGraph<'_>,
        plan: &Plan,
        cmd: vk::CommandBuffer,
        heap: Option<&BindlessHeap>,
    ) -> Result<(), ExecuteError> {
        if plan.graph_fingerprint != graph.fingerprint()
            || plan.resource_names.len() != graph.resources.len()
            || plan
                .passes
                .iter()
                .any(|p| graph.passes.get(p.index).is_none_or(|gp| gp.name != p.name))
        {
            return Err(ExecuteError::PlanMismatch("resources or passes differ".into()));
        }
        // History images must still be where the graph found them.
        crate::history::check_current(&graph.history_links())?;
        self.ensure_pool(plan)?;
        let slot_index = (self.frame % self.slots.len() as u64) as usize;
        self.frame += 1;
        self.collect_timings(slot_index)?;
        let needed = (plan.passes.len() * 2).max(2) as u32;
        if self.ctx.caps().timestamps {
            // Every slot's pool is made together, so that a steady frame loop creates nothing
            // after its first frame. A slot's queries are reset only when it comes round again.
            if self.slots[slot_index].timestamps.as_ref().is_none_or(|t| t.capacity() < needed) {
                for (i, s) in self.slots.iter_mut().enumerate() {
                    if i == slot_index || !s.recorded {
                        s.timestamps = Some(TimestampPool::new(&self.ctx, needed)?);
                        self.objects_created += 1;
                    }
                }
            }
        }
        let slot = &mut self.slots[slot_index];
        release_views(&self.ctx, slot.frame_views.drain().map(|(_, v)| v));
        if let Some(t) = &slot.timestamps {
            t.reset();
        }
        slot.names = plan.passes.iter().map(|p| p.name.clone()).collect();
        slot.recorded = false;

        let kinds: Vec<ResourceKind> = graph.resources.iter().map(|r| r.kind.clone()).collect();
        let declared: Vec<Vec<u32>> =
            graph.passes.iter().map(|p| p.accesses.iter().map(|a| a.resource).collect()).collect();
        let raws: Vec<ImportedRaw> = graph.resources.iter().map(|r| r.raw).collect();
        // History images start the next frame where this one leaves them (recorded below,
        // once the frame is; the cells outlive the graph, whose closures are consumed).
        let history = graph.history_links();
        let mut records: Vec<_> = graph.passes.into_iter().map(|p| p.record).collect();
        let device = self.ctx.device().clone();
        for (pos, planned) in plan.passes.iter().enumerate() {
            self.record_barriers(&device, cmd, &planned.barriers, &kinds, &raws)?;
            let slot = &mut self.slots[slot_index];
            self.ctx.begin_label(cmd, &planned.name, [0.3, 0.6, 0.9, 1.0]);
            if let Some(t) = &slot.timestamps {
                t.write(cmd, vk::PipelineStageFlags2::TOP_OF_PIPE, pos as u32 * 2)?;
            }
            if let Some(record) = records.get_mut(planned.index).and_then(Option::take) {
                let mut pc = PassContext {
                    cmd,
                    ctx: &self.ctx,
                    graph_kinds: &kinds,
                    raw: &raws,
                    pool: &mut self.pool,
                    frame_views: &mut slot.frame_views,
                    heap,
                    objects_created: &mut self.objects_created,
                    pass: &planned.name,
                    declared: &declared[planned.index],
                };
                if let Err(e) = record(&mut pc) {
                    self.ctx.end_label(cmd);
                    return Err(e);
                }
            }
            if let Some(t) = &slot.timestamps {
                t.write(cmd, vk::PipelineStageFlags2::BOTTOM_OF_PIPE, pos as u32 * 2 + 1)?;
            }
            self.ctx.end_label(cmd);
        }
        self.record_barriers(&device, cmd, &plan.final_barriers, &kinds, &raws)?;
        crate::history::commit(&history, plan);
        // Only a fully recorded frame has timestamps worth reading back.
        self.slots[slot_index].recorded = true;
        Ok(())
    }

    fn collect_timings(&mut self, slot_index: usize) -> Result<(), ExecuteError> {
        let slot = &mut self.slots[slot_index];
        if !slot.recorded {
            return Ok(());
        }
        slot.recorded = false;
        let Some(t) = &slot.timestamps else { return Ok(()) };
        let n = slot.names.len() as u32;
        if n == 0 {
            return Ok(());
        }
        // Not waiting: a frame that was recorded but never submitted never becomes available.
        let Some(ns) = t.try_read_ns(0, n * 2)? else { return Ok(()) };
        self.last_timings = slot
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| PassTiming {
                name: name.clone(),
                gpu_ms: (ns[i * 2 + 1] - ns[i * 2]).max(0.0) / 1e6,
                start_ns: ns[i * 2],
                end_ns: ns[i * 2 + 1].max(ns[i * 2]),
            })
            .collect();
        Ok(())
    }

    fn record_barriers(
        &self,
        device: &xpg::ash::Device,
        cmd: vk::CommandBuffer,
        barriers: &[crate::Barrier],
        kinds: &[ResourceKind],
        raws: &[ImportedRaw],
    ) -> Result<(), ExecuteError> {
        if barriers.is_empty() {
            return Ok(());
        }
        let mut images = Vec::new();
        let mut memory = Vec::new();
        for b in barriers {
            match b.image {
                Some(t) => {
                    let image =
                        match (self.pool.images.get(&b.resource), raws.get(b.resource as usize)) {
                            (Some(ti), _) => ti.image,
                            (None, Some(ImportedRaw::Image { image, .. })) => *image,
                            _ => {
                                return Err(ExecuteError::PlanMismatch(format!(
                                    "image {} has no Vulkan object",
                                    b.resource
                                )))
                            }
                        };
                    let format = match kinds.get(b.resource as usize) {
                        Some(ResourceKind::Image(i)) => i.format,
                        _ => vk::Format::UNDEFINED,
                    };
                    images.push(
                        vk::ImageMemoryBarrier2::default()
                            .image(image)
                            .subresource_range(vk::ImageSubresourceRange {
                                aspect_mask: xpg::format_aspect(format),
                                base_mip_level: t.range.base_mip,
                                level_count: t.range.mip_count,
                                base_array_layer: t.range.base_layer,
                                layer_count: t.range.layer_count,
                            })
                            .old_layout(t.old_layout)
                            .new_layout(t.new_layout)
                            .src_stage_mask(b.src_stage)
                            .src_access_mask(b.src_access)
                            .dst_stage_mask(b.dst_stage)
                            .dst_access_mask(b.dst_access)
                            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
                            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED),
                    );
                }
                // Buffers and acceleration structures: a global memory barrier (as precise as a
                // buffer barrier on every driver we know, and one per pass is enough).
                None => memory.push(
                    vk::MemoryBarrier2::default()
                        .src_stage_mask(b.src_stage)
                        .src_access_mask(b.src_access)
                        .dst_stage_mask(b.dst_stage)
                        .dst_access_mask(b.dst_access),
                ),
            }
        }
        let dep =
            vk::DependencyInfo::default().image_memory_barriers(&images).memory_barriers(&memory);
        // SAFETY: `cmd` is recording (the caller's contract); the images are alive for the frame.
        unsafe { device.cmd_pipeline_barrier2(cmd, &dep) };
        Ok(())
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        for s in &mut self.slots {
            release_views(&self.ctx, s.frame_views.drain().map(|(_, v)| v));
        }
        self.release_pool();
    }
}

/// Compiles `graph`, records it into one immediate submission and waits for it: set-up work
/// done once (mip chains, acceleration structure builds), not frames.
pub fn run_once(ctx: &Context, graph: FrameGraph<'_>) -> Result<(), ExecuteError> {
    let mut executor = Executor::new(ctx, 1);
    let plan = executor.compile(&graph)?;
    ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))?
}
