//! Recording a [`Plan`]: transient resources created once and pooled across frames (memory
//! aliased as the plan says), barriers recorded before each pass, each pass inside a debug label
//! and a pair of GPU timestamps read back when its frame slot comes round again.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use gpu_allocator::vulkan::{Allocation, AllocationCreateDesc, AllocationScheme};
use gpu_allocator::MemoryLocation;
use xpg::vk;
use xpg::{BindlessHeap, BindlessIndex, Context, GpuError, TimestampPool};

use crate::compile::{CompileOptions, MemoryRequirements, Plan, TransientDesc};
use crate::graph::{
    BufferHandle, FrameGraph, GraphError, Handle, ImageHandle, ImageInfo, ImportedRaw, ResourceKind,
};

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

struct TransientImage {
    image: vk::Image,
    view: vk::ImageView,
    info: ImageInfo,
}

struct TransientBuffer {
    buffer: vk::Buffer,
    address: vk::DeviceAddress,
}

/// Views and bindless slots made for one image (whole image: `mip == u32::MAX`).
#[derive(Default)]
struct ViewEntry {
    view: vk::ImageView,
    owned: bool,
    sampled: Option<BindlessIndex>,
    storage: Option<BindlessIndex>,
}

/// The transients of one graph shape, kept while the shape stays the same.
#[derive(Default)]
struct TransientPool {
    key: u64,
    images: HashMap<u32, TransientImage>,
    buffers: HashMap<u32, TransientBuffer>,
    /// Transient acceleration structures and their buffers (also in `buffers`).
    accels: HashMap<u32, (vk::AccelerationStructureKHR, vk::Buffer)>,
    memory: Vec<Allocation>,
    views: HashMap<(vk::Image, u32, u32), ViewEntry>,
}

struct FrameSlot {
    timestamps: Option<TimestampPool>,
    names: Vec<String>,
    recorded: bool,
    /// Views of imported images made during this slot's last frame (released with it).
    frame_views: HashMap<(vk::Image, u32, u32), ViewEntry>,
}

/// Records plans. Keep one per renderer/viewer for the life of the frame loop.
///
/// One `execute` per command buffer, and submit that command buffer before the next `execute`
/// or before dropping the executor: pooled objects replaced by a new graph shape are released
/// after the submissions made so far, which must include the ones that use them.
pub struct Executor {
    ctx: Context,
    pool: TransientPool,
    slots: Vec<FrameSlot>,
    frame: u64,
    last_timings: Vec<PassTiming>,
    objects_created: u64,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("frame", &self.frame)
            .field("objects_created", &self.objects_created)
            .finish()
    }
}

/// One of a pass's resources, bound at [`xpg::PUSH_SET`] by [`PassContext::push_descriptors`].
#[derive(Debug, Clone, Copy)]
pub enum Bind<'h> {
    /// A storage image (one mip), layout GENERAL: declare a `Storage*` access.
    Storage {
        /// Binding number.
        binding: u32,
        /// The image.
        image: &'h ImageHandle,
        /// Mip level.
        mip: u32,
    },
    /// A sampled image (one mip, or all with `None`), layout READ_ONLY_OPTIMAL: declare a
    /// `Sampled*` access. `sampler` serves combined bindings (`Sampler2D`).
    Sampled {
        /// Binding number.
        binding: u32,
        /// The image.
        image: &'h ImageHandle,
        /// Mip level, or every level.
        mip: Option<u32>,
        /// Sampler (null for plain sampled-image bindings).
        sampler: vk::Sampler,
    },
    /// A storage or uniform buffer, whole.
    Buffer {
        /// Binding number.
        binding: u32,
        /// The buffer.
        buffer: &'h BufferHandle,
    },
    /// A top-level acceleration structure: declare [`Access::RayTracingRead`](crate::Access).
    Accel {
        /// Binding number.
        binding: u32,
        /// The structure.
        accel: &'h crate::AccelHandle,
    },
}

/// What a pass's closure gets: its command buffer and the Vulkan objects behind its handles.
pub struct PassContext<'a> {
    /// The command buffer, recording.
    pub cmd: vk::CommandBuffer,
    ctx: &'a Context,
    graph_kinds: &'a [ResourceKind],
    raw: &'a [ImportedRaw],
    pool: &'a mut TransientPool,
    frame_views: &'a mut HashMap<(vk::Image, u32, u32), ViewEntry>,
    heap: Option<&'a BindlessHeap>,
    objects_created: &'a mut u64,
    pass: &'a str,
    /// Resources the pass declared: the only ones it may touch (barriers cover nothing else,
    /// and an undeclared transient's memory may belong to another one right now).
    declared: &'a [u32],
}

impl std::fmt::Debug for PassContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassContext").field("pass", &self.pass).finish()
    }
}

impl PassContext<'_> {
    /// The xpg context.
    pub fn context(&self) -> &Context {
        self.ctx
    }
    /// The logical device.
    pub fn device(&self) -> &xpg::ash::Device {
        self.ctx.device()
    }
    /// The pass name.
    pub fn pass_name(&self) -> &str {
        self.pass
    }

    fn check_declared(&self, id: u32) -> Result<(), ExecuteError> {
        if self.declared.contains(&id) {
            Ok(())
        } else {
            Err(self.err(
                "uses a resource it did not declare (add a read or write access for it)".into(),
            ))
        }
    }

    fn err(&self, message: String) -> ExecuteError {
        ExecuteError::Pass { pass: self.pass.to_string(), message }
    }

    fn image_parts(
        &self,
        h: &ImageHandle,
    ) -> Result<(vk::Image, vk::ImageView, ImageInfo), ExecuteError> {
        self.check_declared(h.id())?;
        let info = match self.graph_kinds.get(h.id() as usize) {
            Some(ResourceKind::Image(i)) => *i,
            _ => return Err(self.err("not an image handle of this graph".into())),
        };
        if let Some(t) = self.pool.images.get(&h.id()) {
            return Ok((t.image, t.view, t.info));
        }
        match self.raw.get(h.id() as usize) {
            Some(ImportedRaw::Image { image, view }) => Ok((*image, *view, info)),
            _ => Err(self.err(
                "the image has no Vulkan object (culled, or imported for planning only)".into(),
            )),
        }
    }

    /// The image behind a handle.
    pub fn image(&self, h: &ImageHandle) -> Result<vk::Image, ExecuteError> {
        self.image_parts(h).map(|p| p.0)
    }
    /// The view of every mip and layer.
    pub fn view(&self, h: &ImageHandle) -> Result<vk::ImageView, ExecuteError> {
        self.image_parts(h).map(|p| p.1)
    }
    /// The shape of an image.
    pub fn image_info(&self, h: &ImageHandle) -> Result<ImageInfo, ExecuteError> {
        self.image_parts(h).map(|p| p.2)
    }
    /// Width and height of mip `level`.
    pub fn extent(&self, h: &ImageHandle, level: u32) -> Result<vk::Extent2D, ExecuteError> {
        let i = self.image_parts(h)?.2;
        if level >= i.mip_levels {
            return Err(self.err(format!("mip {level} of an image with {} levels", i.mip_levels)));
        }
        Ok(vk::Extent2D {
            width: (i.extent.width >> level).max(1),
            height: (i.extent.height >> level).max(1),
        })
    }

    /// The buffer behind a handle.
    pub fn buffer(&self, h: &BufferHandle) -> Result<vk::Buffer, ExecuteError> {
        self.buffer_parts(h).map(|p| p.0)
    }
    /// The device address of a buffer.
    pub fn buffer_address(&self, h: &BufferHandle) -> Result<vk::DeviceAddress, ExecuteError> {
        self.buffer_parts(h).map(|p| p.1)
    }
    fn buffer_parts(
        &self,
        h: &BufferHandle,
    ) -> Result<(vk::Buffer, vk::DeviceAddress), ExecuteError> {
        self.check_declared(h.id())?;
        if let Some(t) = self.pool.buffers.get(&h.id()) {
            return Ok((t.buffer, t.address));
        }
        match self.raw.get(h.id() as usize) {
            Some(ImportedRaw::Buffer { buffer, address }) => Ok((*buffer, *address)),
            _ => Err(self.err("the buffer has no Vulkan object".into())),
        }
    }

    /// Pushes the pass's own resources as descriptors of set [`xpg::PUSH_SET`] of `pipeline`
    /// (bind the pipeline first). Views of single mips are made once and cached.
    pub fn push_descriptors(
        &mut self,
        pipeline: &xpg::Pipeline,
        binds: &[Bind<'_>],
    ) -> Result<(), ExecuteError> {
        let mut writes = Vec::with_capacity(binds.len());
        for b in binds {
            writes.push(match *b {
                Bind::Storage { binding, image, mip } => {
                    let view = self.level_view(image, Some(mip))?;
                    xpg::DescriptorWrite::StorageImage { binding, view }
                }
                Bind::Sampled { binding, image, mip, sampler } => {
                    let view = self.level_view(image, mip)?;
                    xpg::DescriptorWrite::SampledImage { binding, view, sampler }
                }
                Bind::Buffer { binding, buffer } => {
                    let (buffer, _) = self.buffer_parts(buffer)?;
                    xpg::DescriptorWrite::Buffer {
                        binding,
                        buffer,
                        offset: 0,
                        range: vk::WHOLE_SIZE,
                    }
                }
                Bind::Accel { binding, accel } => {
                    let (accel, _) = self.accel(accel)?;
                    xpg::DescriptorWrite::AccelerationStructure { binding, accel }
                }
            });
        }
        pipeline.push_descriptors(self.cmd, &writes).map_err(|e| self.err(e.to_string()))
    }

    /// The whole view for `None` or single-mip images, else a cached view of the mip.
    fn level_view(
        &mut self,
        h: &ImageHandle,
        mip: Option<u32>,
    ) -> Result<vk::ImageView, ExecuteError> {
        let info = self.image_parts(h)?.2;
        match mip {
            Some(level) if info.mip_levels > 1 => self.mip_view(h, level),
            Some(level) if level > 0 => Err(self.err(format!("mip {level} of a 1-mip image"))),
            _ => self.view(h),
        }
    }

    /// Begins dynamic rendering over the whole `extent` into `color` (and `depth`) and sets
    /// viewport and scissor to it ([`xpg::begin_rendering`]); the attachments are images the
    /// pass declared with attachment accesses, which put them in `ATTACHMENT_OPTIMAL` (or
    /// `READ_ONLY_OPTIMAL` for a depth read). End it with `cmd_end_rendering`.
    ///
    /// # Safety
    /// Rendering is not already begun in this pass; every attachment view belongs to an image
    /// the pass declared with an attachment access, in the layout that access gives it.
    pub unsafe fn begin_rendering(
        &self,
        extent: vk::Extent2D,
        color: &[vk::RenderingAttachmentInfo<'_>],
        depth: Option<&vk::RenderingAttachmentInfo<'_>>,
    ) {
        // SAFETY: `cmd` is recording while a pass closure runs; the caller's contract covers
        // the rest.
        unsafe { xpg::begin_rendering(self.device(), self.cmd, extent, color, depth) }
    }

    /// Copies mip 0 (every layer, the common extent) of `src` into `dst`; declare
    /// [`Access::TransferSrc`](crate::Access) on `src` and `TransferDst` on `dst`.
    pub fn copy_image(&self, src: &ImageHandle, dst: &ImageHandle) -> Result<(), ExecuteError> {
        let (s, _, si) = self.image_parts(src)?;
        let (d, _, di) = self.image_parts(dst)?;
        let layers = |i: &ImageInfo| vk::ImageSubresourceLayers {
            aspect_mask: xpg::format_aspect(i.format),
            mip_level: 0,
            base_array_layer: 0,
            layer_count: i.array_layers.min(si.array_layers).min(di.array_layers),
        };
        let region = vk::ImageCopy {
            src_subresource: layers(&si),
            dst_subresource: layers(&di),
            src_offset: vk::Offset3D::default(),
            dst_offset: vk::Offset3D::default(),
            extent: vk::Extent3D {
                width: si.extent.width.min(di.extent.width),
                height: si.extent.height.min(di.extent.height),
                depth: si.extent.depth.min(di.extent.depth),
            },
        };
        // SAFETY: `cmd` is recording; with the declared accesses the graph put both images in
        // the transfer layouts; the region lies inside both.
        unsafe {
            self.device().cmd_copy_image(
                self.cmd,
                s,
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                d,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                &[region],
            )
        };
        Ok(())
    }

    /// Clears every mip and layer of the color image `h` to `color`; declare
    /// [`Access::TransferDst`](crate::Access) on it.
    pub fn clear_color(&self, h: &ImageHandle, color: [f32; 4]) -> Result<(), ExecuteError> {
        let (image, _, info) = self.image_parts(h)?;
        let range = vk::ImageSubresourceRange {
            aspect_mask: vk::ImageAspectFlags::COLOR,
            base_mip_level: 0,
            level_count: info.mip_levels,
            base_array_layer: 0,
            layer_count: info.array_layers,
        };
        // SAFETY: `cmd` is recording; with the declared access the graph put the image in
        // TRANSFER_DST_OPTIMAL; the range is the whole image.
        unsafe {
            self.device().cmd_clear_color_image(
                self.cmd,
                image,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                &vk::ClearColorValue { float32: color },
                &[range],
            )
        };
        Ok(())
    }

    /// Writes `bytes` into buffer `h` at `offset` with `vkCmdUpdateBuffer`, 64 KiB per command:
    /// the data travel inside the command buffer, so there is no staging memory to keep alive.
    /// Declare [`Access::TransferDst`](crate::Access) on it. For the small per-frame tables
    /// (constants, light tables, transforms); `offset` and the length must be multiples of 4
    /// and lie inside the buffer.
    pub fn update_buffer(
        &self,
        h: &BufferHandle,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), ExecuteError> {
        let raw = self.buffer(h)?;
        if offset % 4 != 0 || bytes.len() % 4 != 0 {
            return Err(ExecuteError::Pass {
                pass: self.pass_name().into(),
                message: format!(
                    "update_buffer: offset {offset} and length {} must be multiples of 4",
                    bytes.len()
                ),
            });
        }
        for (k, chunk) in bytes.chunks(65536).enumerate() {
            // SAFETY: recording; with the declared access the graph ordered this write after
            // earlier uses of the buffer; offset and length are multiples of 4 (checked) and
            // each chunk is at most 64 KiB; the caller keeps them inside the buffer.
            unsafe {
                self.device().cmd_update_buffer(self.cmd, raw, offset + (k * 65536) as u64, chunk)
            };
        }
        Ok(())
    }

    /// The acceleration structure behind a handle, and the buffer that stores it.
    pub fn accel(
        &self,
        h: &crate::AccelHandle,
    ) -> Result<(vk::AccelerationStructureKHR, vk::Buffer), ExecuteError> {
        self.check_declared(h.id())?;
        match self.raw.get(h.id() as usize) {
            Some(ImportedRaw::Accel { accel, buffer }) => Ok((*accel, *buffer)),
            _ => {
                self.pool.accels.get(&h.id()).copied().ok_or_else(|| {
                    self.err("the acceleration structure has no Vulkan object".into())
                })
            }
        }
    }

    /// A view of one mip level (all layers), made once and cached.
    pub fn mip_view(&mut self, h: &ImageHandle, level: u32) -> Result<vk::ImageView, ExecuteError> {
        Ok(self.view_entry(h, Some(level), None)?.view)
    }

    /// A 2D view of one mip level of one array layer (a render target per layer), cached.
    pub fn layer_view(
        &mut self,
        h: &ImageHandle,
        level: u32,
        layer: u32,
    ) -> Result<vk::ImageView, ExecuteError> {
        let info = self.image_parts(h)?.2;
        if layer >= info.array_layers || info.extent.depth > 1 {
            return Err(
                self.err(format!("layer {layer} of an image with {} layers", info.array_layers))
            );
        }
        Ok(self.view_entry(h, Some(level), Some(layer))?.view)
    }

    fn view_entry(
        &mut self,
        h: &ImageHandle,
        level: Option<u32>,
        layer: Option<u32>,
    ) -> Result<&mut ViewEntry, ExecuteError> {
        let (image, whole, info) = self.image_parts(h)?;
        let transient = self.pool.images.contains_key(&h.id());
        let mip = level.unwrap_or(u32::MAX);
        let lay = layer.unwrap_or(u32::MAX);
        if let Some(l) = level {
            if l >= info.mip_levels {
                return Err(
                    self.err(format!("mip {l} of an image with {} levels", info.mip_levels))
                );
            }
        }
        let make = |ctx: &Context, created: &mut u64| -> Result<ViewEntry, ExecuteError> {
            let Some(l) = level else {
                return Ok(ViewEntry { view: whole, owned: false, ..Default::default() });
            };
            let view = create_view(ctx.device(), image, &info, l, 1, layer)?;
            *created += 1;
            Ok(ViewEntry { view, owned: true, ..Default::default() })
        };
        if transient {
            if !self.pool.views.contains_key(&(image, mip, lay)) {
                let e = make(self.ctx, self.objects_created)?;
                self.pool.views.insert((image, mip, lay), e);
            }
            self.pool
                .views
                .get_mut(&(image, mip, lay))
                .ok_or_else(|| ExecuteError::PlanMismatch("view cache".into()))
        } else {
            // Imported images: cached for this frame only (the owner may destroy the image).
            if !self.frame_views.contains_key(&(image, mip, lay)) {
                let e = make(self.ctx, self.objects_created)?;
                self.frame_views.insert((image, mip, lay), e);
            }
            self.frame_views
                .get_mut(&(image, mip, lay))
                .ok_or_else(|| ExecuteError::PlanMismatch("view cache".into()))
        }
    }

    /// The bindless index (sampled image array) of an image (`level: None` for all mips), valid
    /// for reads declared with a `Sampled*` or `DepthAttachmentRead` access (layout
    /// READ_ONLY_OPTIMAL).
    pub fn sampled_index(
        &mut self,
        h: &ImageHandle,
        level: Option<u32>,
    ) -> Result<u32, ExecuteError> {
        let heap =
            self.heap.ok_or_else(|| self.err("no bindless heap given to execute()".into()))?;
        let e = self.view_entry(h, level, None)?;
        let new = e.sampled.is_none();
        if new {
            // SAFETY: the view lives in the pool (transient) or the frame's view list, both of
            // which drop their slots before destroying their views (deferred).
            e.sampled = Some(unsafe {
                heap.add_sampled_image(e.view, vk::ImageLayout::READ_ONLY_OPTIMAL)
            }?);
        }
        let index = e.sampled.as_ref().map(|s| s.index()).unwrap_or(0);
        if new {
            *self.objects_created += 1;
        }
        Ok(index)
    }

    /// The bindless index (storage image array) of an image mip, for `Storage*` accesses
    /// (layout GENERAL).
    pub fn storage_index(&mut self, h: &ImageHandle, level: u32) -> Result<u32, ExecuteError> {
        let heap =
            self.heap.ok_or_else(|| self.err("no bindless heap given to execute()".into()))?;
        let e = self.view_entry(h, Some(level), None)?;
        let new = e.storage.is_none();
        if new {
            // SAFETY: as in `sampled_index`.
            e.storage = Some(unsafe { heap.add_storage_image(e.view) }?);
        }
        let index = e.storage.as_ref().map(|s| s.index()).unwrap_or(0);
        if new {
            *self.objects_created += 1;
        }
        Ok(index)
    }
}

fn release_views(ctx: &Context, entries: impl IntoIterator<Item = ViewEntry>) {
    let mut owned = Vec::new();
    for e in entries {
        drop(e.sampled);
        drop(e.storage);
        if e.owned {
            owned.push(e.view);
        }
    }
    if !owned.is_empty() {
        ctx.defer_release(move |device, _| {
            for v in owned {
                // SAFETY: deferred until the GPU finished every frame that used the view.
                unsafe { device.destroy_image_view(v, None) };
            }
        });
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
        let history = graph.history_cells();
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

    /// Creates the transients of `plan` unless the pool already holds this exact shape.
    fn ensure_pool(&mut self, plan: &Plan) -> Result<(), ExecuteError> {
        let mut h = DefaultHasher::new();
        for t in &plan.transients {
            (t.resource, t.desc, t.block, t.requirements.size).hash(&mut h);
        }
        for b in &plan.blocks {
            (b.size, b.alignment, b.memory_type_bits, b.linear, &b.resources).hash(&mut h);
        }
        let key = h.finish();
        if key == self.pool.key
            && (!self.pool.images.is_empty()
                || !self.pool.buffers.is_empty()
                || plan.transients.is_empty())
        {
            return Ok(());
        }
        self.release_pool();
        match self.build_pool(plan) {
            Ok(()) => {
                self.pool.key = key;
                Ok(())
            }
            Err(e) => {
                // Never keep a half-built pool.
                self.release_pool();
                Err(e)
            }
        }
    }

    fn build_pool(&mut self, plan: &Plan) -> Result<(), ExecuteError> {
        let device = self.ctx.device().clone();
        let allocator = self.ctx.allocator();
        for (bi, b) in plan.blocks.iter().enumerate() {
            let reqs = vk::MemoryRequirements {
                size: b.size,
                alignment: b.alignment,
                memory_type_bits: b.memory_type_bits,
            };
            let name = format!("transient block {bi}");
            let a = allocator
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .allocate(&AllocationCreateDesc {
                    name: &name,
                    requirements: reqs,
                    location: MemoryLocation::GpuOnly,
                    linear: b.linear,
                    // A block holds several resources: a plain sub-allocation.
                    allocation_scheme: AllocationScheme::GpuAllocatorManaged,
                })
                .map_err(|source| GpuError::Allocation { what: name.clone(), source })?;
            self.pool.memory.push(a);
            self.objects_created += 1;
        }
        for t in &plan.transients {
            let Some(mem) = self.pool.memory.get(t.block) else {
                return Err(ExecuteError::PlanMismatch(format!(
                    "block {} of '{}'",
                    t.block, t.name
                )));
            };
            // SAFETY: reading the handle; the allocation stays owned by the pool.
            let (memory, offset) = (unsafe { mem.memory() }, mem.offset());
            match t.desc {
                TransientDesc::Image { info, usage } => {
                    let ci = image_create_info(&info, usage);
                    // SAFETY: valid create info; destroyed with the pool (deferred).
                    let image = unsafe { device.create_image(&ci, None) }
                        .map_err(|result| GpuError::Vk { call: "vkCreateImage", result })?;
                    self.objects_created += 1;
                    // In the pool at once, so an error below still destroys it.
                    self.pool.images.insert(
                        t.resource,
                        TransientImage { image, view: vk::ImageView::null(), info },
                    );
                    // SAFETY: `image` was just created from `device`.
                    let reqs = unsafe { device.get_image_memory_requirements(image) };
                    check_fits(plan, t, reqs)?;
                    // SAFETY: the block satisfies the image's requirements (checked above);
                    // aliasing images share it by plan, never at overlapping lifetimes.
                    unsafe { device.bind_image_memory(image, memory, offset) }
                        .map_err(|result| GpuError::Vk { call: "vkBindImageMemory", result })?;
                    let viewable = vk::ImageUsageFlags::SAMPLED
                        | vk::ImageUsageFlags::STORAGE
                        | vk::ImageUsageFlags::COLOR_ATTACHMENT
                        | vk::ImageUsageFlags::DEPTH_STENCIL_ATTACHMENT;
                    if usage.intersects(viewable) {
                        let view = create_view(&device, image, &info, 0, info.mip_levels, None)?;
                        self.objects_created += 1;
                        if let Some(e) = self.pool.images.get_mut(&t.resource) {
                            e.view = view;
                        }
                    }
                }
                TransientDesc::Accel { size, top_level } => {
                    if !self.ctx.caps().ray_tracing {
                        return Err(ExecuteError::Gpu(GpuError::Invalid(format!(
                            "transient acceleration structure '{}': the device has no ray \
                             tracing",
                            t.name
                        ))));
                    }
                    let ci = vk::BufferCreateInfo::default()
                        .size(size)
                        .usage(crate::compile::ACCEL_BUFFER_USAGE);
                    // SAFETY: valid create info; destroyed with the pool (deferred).
                    let buffer = unsafe { device.create_buffer(&ci, None) }
                        .map_err(|result| GpuError::Vk { call: "vkCreateBuffer", result })?;
                    self.pool.buffers.insert(t.resource, TransientBuffer { buffer, address: 0 });
                    // SAFETY: `buffer` was just created from `device`.
                    let reqs = unsafe { device.get_buffer_memory_requirements(buffer) };
                    check_fits(plan, t, reqs)?;
                    // SAFETY: as for images.
                    unsafe { device.bind_buffer_memory(buffer, memory, offset) }
                        .map_err(|result| GpuError::Vk { call: "vkBindBufferMemory", result })?;
                    let kind = if top_level {
                        vk::AccelerationStructureTypeKHR::TOP_LEVEL
                    } else {
                        vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL
                    };
                    let accel = self.ctx.create_acceleration_structure(buffer, size, kind)?;
                    self.objects_created += 2;
                    self.pool.accels.insert(t.resource, (accel, buffer));
                }
                TransientDesc::Buffer { size, usage } => {
                    let ci = vk::BufferCreateInfo::default().size(size).usage(usage);
                    // SAFETY: valid create info; destroyed with the pool (deferred).
                    let buffer = unsafe { device.create_buffer(&ci, None) }
                        .map_err(|result| GpuError::Vk { call: "vkCreateBuffer", result })?;
                    self.objects_created += 1;
                    self.pool.buffers.insert(t.resource, TransientBuffer { buffer, address: 0 });
                    // SAFETY: `buffer` was just created from `device`.
                    let reqs = unsafe { device.get_buffer_memory_requirements(buffer) };
                    check_fits(plan, t, reqs)?;
                    // SAFETY: as for images.
                    unsafe { device.bind_buffer_memory(buffer, memory, offset) }
                        .map_err(|result| GpuError::Vk { call: "vkBindBufferMemory", result })?;
                    // SAFETY: the buffer has SHADER_DEVICE_ADDRESS usage and bound memory.
                    let address = unsafe {
                        device.get_buffer_device_address(
                            &vk::BufferDeviceAddressInfo::default().buffer(buffer),
                        )
                    };
                    if let Some(e) = self.pool.buffers.get_mut(&t.resource) {
                        e.address = address;
                    }
                }
            }
        }
        Ok(())
    }

    fn release_pool(&mut self) {
        let pool = std::mem::take(&mut self.pool);
        // Structures first: they are destroyed before the buffers holding them.
        for (accel, _) in pool.accels.values() {
            self.ctx.destroy_acceleration_structure(*accel);
        }
        release_views(&self.ctx, pool.views.into_values());
        let images: Vec<_> = pool.images.into_values().map(|t| (t.image, t.view)).collect();
        let buffers: Vec<_> = pool.buffers.into_values().map(|b| b.buffer).collect();
        let memory = pool.memory;
        if images.is_empty() && buffers.is_empty() && memory.is_empty() {
            return;
        }
        self.ctx.defer_release(move |device, alloc| {
            // SAFETY: deferred until the GPU finished every frame that used them; views before
            // images, objects before their memory.
            unsafe {
                for (image, view) in images {
                    device.destroy_image_view(view, None);
                    device.destroy_image(image, None);
                }
                for b in buffers {
                    device.destroy_buffer(b, None);
                }
            }
            for m in memory {
                let _ = alloc.free(m);
            }
        });
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

/// Whether the plan's block can hold a resource with the device's real requirements (a plan
/// compiled with estimates, not [`Executor::compile`], may not).
fn check_fits(
    plan: &Plan,
    t: &crate::TransientAlloc,
    reqs: vk::MemoryRequirements,
) -> Result<(), ExecuteError> {
    let fits = plan.blocks.get(t.block).is_some_and(|b| {
        reqs.size <= b.size
            && reqs.alignment > 0
            && b.alignment % reqs.alignment == 0
            && reqs.memory_type_bits & b.memory_type_bits != 0
    });
    if fits {
        Ok(())
    } else {
        Err(ExecuteError::PlanMismatch(format!(
            "'{}' needs {} bytes aligned to {} in memory types {:#x}, which its block does not give: compile the plan with Executor::compile",
            t.name, reqs.size, reqs.alignment, reqs.memory_type_bits
        )))
    }
}

/// A view of mips `[base_mip, base_mip + mip_count)` and every layer of an image.
fn create_view(
    device: &xpg::ash::Device,
    image: vk::Image,
    info: &ImageInfo,
    base_mip: u32,
    mip_count: u32,
    layer: Option<u32>,
) -> Result<vk::ImageView, GpuError> {
    let ty = if layer.is_some() {
        vk::ImageViewType::TYPE_2D
    } else if info.extent.depth > 1 {
        vk::ImageViewType::TYPE_3D
    } else if info.array_layers > 1 || info.array {
        vk::ImageViewType::TYPE_2D_ARRAY
    } else {
        vk::ImageViewType::TYPE_2D
    };
    let range = vk::ImageSubresourceRange {
        aspect_mask: xpg::format_aspect(info.format),
        base_mip_level: base_mip,
        level_count: mip_count,
        base_array_layer: layer.unwrap_or(0),
        layer_count: if layer.is_some() { 1 } else { info.array_layers },
    };
    let ci = vk::ImageViewCreateInfo::default()
        .image(image)
        .view_type(ty)
        .format(info.format)
        .subresource_range(range);
    // SAFETY: the image is alive (pooled transient, or imported and alive for the frame: the
    // caller's contract) and the range lies inside it.
    unsafe { device.create_image_view(&ci, None) }
        .map_err(|result| GpuError::Vk { call: "vkCreateImageView", result })
}

fn image_create_info(info: &ImageInfo, usage: vk::ImageUsageFlags) -> vk::ImageCreateInfo<'static> {
    vk::ImageCreateInfo::default()
        .image_type(if info.extent.depth > 1 {
            vk::ImageType::TYPE_3D
        } else {
            vk::ImageType::TYPE_2D
        })
        .format(info.format)
        .extent(info.extent)
        .mip_levels(info.mip_levels)
        .array_layers(info.array_layers)
        .samples(vk::SampleCountFlags::from_raw(info.samples))
        .tiling(vk::ImageTiling::OPTIMAL)
        .usage(usage)
        .initial_layout(vk::ImageLayout::UNDEFINED)
}

/// Compiles `graph`, records it into one immediate submission and waits for it: set-up work
/// done once (mip chains, acceleration structure builds), not frames.
pub fn run_once(ctx: &Context, graph: FrameGraph<'_>) -> Result<(), ExecuteError> {
    let mut executor = Executor::new(ctx, 1);
    let plan = executor.compile(&graph)?;
    ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))?
}
