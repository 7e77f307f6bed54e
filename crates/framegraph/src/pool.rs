//! The transient pool: the images, buffers and acceleration structures of one graph shape,
//! created once in the memory blocks the plan assigns (aliased), kept while the shape stays
//! the same across frames and released after the submissions that use them.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use gpu_allocator::vulkan::{Allocation, AllocationCreateDesc, AllocationScheme};
use gpu_allocator::MemoryLocation;
use xpg::vk;
use xpg::GpuError;

use crate::compile::{Plan, TransientDesc};
use crate::execute::{ExecuteError, Executor};
use crate::graph::ImageInfo;
use crate::pass_context::{release_views, ViewEntry};

pub(crate) struct TransientImage {
    pub(crate) image: vk::Image,
    pub(crate) view: vk::ImageView,
    pub(crate) info: ImageInfo,
}

pub(crate) struct TransientBuffer {
    pub(crate) buffer: vk::Buffer,
    pub(crate) address: vk::DeviceAddress,
}

/// The transients of one graph shape, kept while the shape stays the same.
#[derive(Default)]
pub(crate) struct TransientPool {
    pub(crate) key: u64,
    pub(crate) images: HashMap<u32, TransientImage>,
    pub(crate) buffers: HashMap<u32, TransientBuffer>,
    /// Transient acceleration structures and their buffers (also in `buffers`).
    pub(crate) accels: HashMap<u32, (vk::AccelerationStructureKHR, vk::Buffer)>,
    pub(crate) memory: Vec<Allocation>,
    pub(crate) views: HashMap<(vk::Image, u32, u32), ViewEntry>,
}

impl Executor {
    /// Creates the transients of `plan` unless the pool already holds this exact shape.
    pub(crate) fn ensure_pool(&mut self, plan: &Plan) -> Result<(), ExecuteError> {
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

    pub(crate) fn release_pool(&mut self) {
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

/// Whether the plan's block can hold a resource with the device's real requirements (a plan
/// compiled with estimates, not [`Executor::compile`], may not).
pub(crate) fn check_fits(
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
pub(crate) fn create_view(
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

pub(crate) fn image_create_info(
    info: &ImageInfo,
    usage: vk::ImageUsageFlags,
) -> vk::ImageCreateInfo<'static> {
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
