//! The bindless descriptor heap: one descriptor set, bound at set 0 of every pipeline that
//! uses it, with three unbounded arrays:
//!
//! | binding | Slang (`shaders/xpg/bindless.slang`) | what |
//! |---|---|---|
//! | 0 | `Texture2D g_textures[]` | sampled images |
//! | 1 | `RWTexture2D<float4> g_storage_images[]` | storage images |
//! | 2 | `SamplerState g_samplers[]` | samplers |
//! | 3 | `RaytracingAccelerationStructure g_accels[]` (`shaders/xpg/bindless_rt.slang`) | acceleration structures (devices with ray tracing and update-after-bind for them) |
//!
//! Buffers are not in the heap: shaders reach them through device addresses.
//!
//! Indices are stable for the life of a [`BindlessIndex`]; when it is dropped the slot returns
//! to a free list once the GPU has finished every submission that may read it, and is handed
//! out again (LIFO). Slots are written with UPDATE_AFTER_BIND, so adding a resource never
//! disturbs work in flight.

use std::sync::{Arc, Mutex};

use ash::vk;

use crate::context::{Context, GpuError, Shared, VkResultExt};

/// Binding numbers of the heap's arrays.
pub mod binding {
    /// Sampled images.
    pub const SAMPLED_IMAGES: u32 = 0;
    /// Storage images.
    pub const STORAGE_IMAGES: u32 = 1;
    /// Samplers.
    pub const SAMPLERS: u32 = 2;
    /// Acceleration structures (ray tracing devices only).
    pub const ACCELERATION_STRUCTURES: u32 = 3;
}

/// The descriptor set index of the heap in pipeline layouts.
pub const BINDLESS_SET: u32 = 0;

/// Which array of the heap a slot belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotKind {
    /// Binding 0.
    SampledImage = 0,
    /// Binding 1.
    StorageImage = 1,
    /// Binding 2.
    Sampler = 2,
    /// Binding 3.
    AccelerationStructure = 3,
}

impl SlotKind {
    fn descriptor_type(self) -> vk::DescriptorType {
        match self {
            SlotKind::SampledImage => vk::DescriptorType::SAMPLED_IMAGE,
            SlotKind::StorageImage => vk::DescriptorType::STORAGE_IMAGE,
            SlotKind::Sampler => vk::DescriptorType::SAMPLER,
            SlotKind::AccelerationStructure => vk::DescriptorType::ACCELERATION_STRUCTURE_KHR,
        }
    }
}

#[derive(Debug, Default)]
struct FreeList {
    next: u32,
    free: Vec<u32>,
}

type FreeLists = Arc<Mutex<[FreeList; 4]>>;

/// A slot in the heap; its index is what shaders use. Dropping it frees the slot once the GPU
/// is done with it.
pub struct BindlessIndex {
    shared: Arc<Shared>,
    free: FreeLists,
    kind: SlotKind,
    index: u32,
}

impl std::fmt::Debug for BindlessIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindlessIndex")
            .field("kind", &self.kind)
            .field("index", &self.index)
            .finish()
    }
}

impl BindlessIndex {
    /// The index into the array of its kind.
    pub fn index(&self) -> u32 {
        self.index
    }
    /// Which array.
    pub fn kind(&self) -> SlotKind {
        self.kind
    }
}

impl Drop for BindlessIndex {
    fn drop(&mut self) {
        let (free, kind, index) = (Arc::clone(&self.free), self.kind, self.index);
        self.shared.defer(move |_, _| {
            if let Ok(mut f) = free.lock() {
                f[kind as usize].free.push(index);
            }
        });
    }
}

/// The heap. See the module documentation.
pub struct BindlessHeap {
    shared: Arc<Shared>,
    layout: vk::DescriptorSetLayout,
    pool: vk::DescriptorPool,
    set: vk::DescriptorSet,
    capacity: [u32; 4],
    free: FreeLists,
}

impl std::fmt::Debug for BindlessHeap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindlessHeap").field("capacity", &self.capacity).finish()
    }
}

impl BindlessHeap {
    /// Creates the heap with capacities clamped to the device's limits (at most 16384 sampled
    /// images, 4096 storage images, 512 samplers, and on ray tracing devices that allow it 256
    /// acceleration structures).
    pub fn new(ctx: &Context) -> Result<Self, GpuError> {
        let di = &ctx.caps().descriptor_indexing;
        let rt = ctx.caps().rt;
        let accels = if ctx.caps().ray_tracing && rt.update_after_bind {
            rt.max_update_after_bind_accels.min(256)
        } else {
            0
        };
        let mut capacity = [
            di.max_sampled_images.min(16384),
            di.max_storage_images.min(4096),
            di.max_samplers.min(512),
            accels,
        ];
        // All three arrays are visible to every stage: scale them down to the per-stage total.
        let total: u64 = capacity.iter().map(|&c| c as u64).sum();
        if total > di.max_per_stage_resources as u64 {
            for c in &mut capacity {
                *c = (*c as u64 * di.max_per_stage_resources as u64 / total) as u32;
            }
        }
        if capacity[..3].contains(&0) {
            return Err(GpuError::Invalid(
                "the device allows no update-after-bind descriptors".into(),
            ));
        }
        let device = ctx.device();
        let mut kinds = vec![SlotKind::SampledImage, SlotKind::StorageImage, SlotKind::Sampler];
        if capacity[3] > 0 {
            kinds.push(SlotKind::AccelerationStructure);
        }
        let bindings: Vec<_> = kinds
            .iter()
            .map(|&k| {
                vk::DescriptorSetLayoutBinding::default()
                    .binding(k as u32)
                    .descriptor_type(k.descriptor_type())
                    .descriptor_count(capacity[k as usize])
                    .stage_flags(vk::ShaderStageFlags::ALL)
            })
            .collect();
        // UPDATE_UNUSED_WHILE_PENDING (a required feature): slots not read by pending work may be
        // written while that work runs, which is what adding a resource does.
        let flags = vk::DescriptorBindingFlags::PARTIALLY_BOUND
            | vk::DescriptorBindingFlags::UPDATE_AFTER_BIND
            | vk::DescriptorBindingFlags::UPDATE_UNUSED_WHILE_PENDING;
        let binding_flags = vec![flags; kinds.len()];
        let mut flags_info =
            vk::DescriptorSetLayoutBindingFlagsCreateInfo::default().binding_flags(&binding_flags);
        let info = vk::DescriptorSetLayoutCreateInfo::default()
            .flags(vk::DescriptorSetLayoutCreateFlags::UPDATE_AFTER_BIND_POOL)
            .bindings(&bindings)
            .push_next(&mut flags_info);
        // SAFETY: valid create info; descriptor indexing features are required and enabled.
        let layout = unsafe { device.create_descriptor_set_layout(&info, None) }
            .vk("vkCreateDescriptorSetLayout")?;
        let sizes: Vec<_> = kinds
            .iter()
            .map(|&k| vk::DescriptorPoolSize {
                ty: k.descriptor_type(),
                descriptor_count: capacity[k as usize],
            })
            .collect();
        let pool_info = vk::DescriptorPoolCreateInfo::default()
            .flags(vk::DescriptorPoolCreateFlags::UPDATE_AFTER_BIND)
            .max_sets(1)
            .pool_sizes(&sizes);
        // SAFETY: valid create info.
        let pool = match unsafe { device.create_descriptor_pool(&pool_info, None) } {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: unused layout.
                unsafe { device.destroy_descriptor_set_layout(layout, None) };
                return Err(GpuError::Vk { call: "vkCreateDescriptorPool", result: e });
            }
        };
        let layouts = [layout];
        let alloc =
            vk::DescriptorSetAllocateInfo::default().descriptor_pool(pool).set_layouts(&layouts);
        let mut heap = Self {
            shared: Arc::clone(&ctx.shared),
            layout,
            pool,
            set: vk::DescriptorSet::null(),
            capacity,
            free: Arc::new(Mutex::new(Default::default())),
        };
        // SAFETY: pool and layout were created above with room for this set.
        heap.set =
            unsafe { device.allocate_descriptor_sets(&alloc) }.vk("vkAllocateDescriptorSets")?[0];
        ctx.set_name(heap.set, "bindless heap");
        Ok(heap)
    }

    /// The set layout (set [`BINDLESS_SET`] of pipeline layouts).
    pub fn layout(&self) -> vk::DescriptorSetLayout {
        self.layout
    }
    /// The descriptor set.
    pub fn set(&self) -> vk::DescriptorSet {
        self.set
    }
    /// Capacity of each array: sampled images, storage images, samplers, acceleration
    /// structures (0 without ray tracing).
    pub fn capacity(&self) -> [u32; 4] {
        self.capacity
    }

    fn take(&self, kind: SlotKind) -> Result<BindlessIndex, GpuError> {
        let mut f = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let list = &mut f[kind as usize];
        let index = match list.free.pop() {
            Some(i) => i,
            None if list.next < self.capacity[kind as usize] => {
                list.next += 1;
                list.next - 1
            }
            None => {
                return Err(GpuError::Invalid(format!(
                    "bindless heap full: {} {kind:?} slots in use",
                    self.capacity[kind as usize]
                )))
            }
        };
        Ok(BindlessIndex {
            shared: Arc::clone(&self.shared),
            free: Arc::clone(&self.free),
            kind,
            index,
        })
    }

    fn write(&self, slot: &BindlessIndex, info: vk::DescriptorImageInfo) {
        let infos = [info];
        let write = vk::WriteDescriptorSet::default()
            .dst_set(self.set)
            .dst_binding(slot.kind as u32)
            .dst_array_element(slot.index)
            .descriptor_type(slot.kind.descriptor_type())
            .image_info(&infos);
        // SAFETY: the slot is in range and not read by pending work (fresh or recycled after
        // the GPU finished with it); the binding is UPDATE_AFTER_BIND.
        unsafe { self.shared.device.update_descriptor_sets(&[write], &[]) };
    }

    /// Puts a sampled image view (in `layout` when sampled) into the heap.
    ///
    /// # Safety
    /// `view` is a live handle of this context's device and stays alive until the returned
    /// slot is dropped and the GPU has finished the work that may read it (drop the slot before
    /// the resource, as deferred destruction then orders both).
    pub unsafe fn add_sampled_image(
        &self,
        view: vk::ImageView,
        layout: vk::ImageLayout,
    ) -> Result<BindlessIndex, GpuError> {
        let slot = self.take(SlotKind::SampledImage)?;
        self.write(
            &slot,
            vk::DescriptorImageInfo {
                sampler: vk::Sampler::null(),
                image_view: view,
                image_layout: layout,
            },
        );
        Ok(slot)
    }
    /// Puts a storage image view (layout GENERAL) into the heap.
    ///
    /// # Safety
    /// `view` is a live handle of this context's device and stays alive until the returned
    /// slot is dropped and the GPU has finished the work that may read it (drop the slot before
    /// the resource, as deferred destruction then orders both).
    pub unsafe fn add_storage_image(&self, view: vk::ImageView) -> Result<BindlessIndex, GpuError> {
        let slot = self.take(SlotKind::StorageImage)?;
        self.write(
            &slot,
            vk::DescriptorImageInfo {
                sampler: vk::Sampler::null(),
                image_view: view,
                image_layout: vk::ImageLayout::GENERAL,
            },
        );
        Ok(slot)
    }
    /// Puts a sampler into the heap.
    ///
    /// # Safety
    /// `sampler` is a live handle of this context's device and stays alive until the returned
    /// slot is dropped and the GPU has finished the work that may read it (drop the slot before
    /// the resource, as deferred destruction then orders both).
    pub unsafe fn add_sampler(&self, sampler: vk::Sampler) -> Result<BindlessIndex, GpuError> {
        let slot = self.take(SlotKind::Sampler)?;
        self.write(
            &slot,
            vk::DescriptorImageInfo {
                sampler,
                image_view: vk::ImageView::null(),
                image_layout: vk::ImageLayout::UNDEFINED,
            },
        );
        Ok(slot)
    }

    /// Puts a (top-level) acceleration structure into the heap.
    ///
    /// # Safety
    /// `accel` is a live handle of this context's device and stays alive until the returned
    /// slot is dropped and the GPU has finished the work that may read it.
    pub unsafe fn add_acceleration_structure(
        &self,
        accel: vk::AccelerationStructureKHR,
    ) -> Result<BindlessIndex, GpuError> {
        if self.capacity[3] == 0 {
            return Err(GpuError::Invalid(
                "the bindless heap has no acceleration structures (no ray tracing, or no \
                 update-after-bind for them)"
                    .into(),
            ));
        }
        let slot = self.take(SlotKind::AccelerationStructure)?;
        let accels = [accel];
        let mut info = vk::WriteDescriptorSetAccelerationStructureKHR::default()
            .acceleration_structures(&accels);
        let write = vk::WriteDescriptorSet::default()
            .dst_set(self.set)
            .dst_binding(slot.kind as u32)
            .dst_array_element(slot.index)
            .descriptor_type(vk::DescriptorType::ACCELERATION_STRUCTURE_KHR)
            .descriptor_count(1)
            .push_next(&mut info);
        // SAFETY: the slot is in range and not read by pending work; the binding is
        // UPDATE_AFTER_BIND.
        unsafe { self.shared.device.update_descriptor_sets(&[write], &[]) };
        Ok(slot)
    }

    /// Binds the heap at set [`BINDLESS_SET`] of `layout`.
    pub fn bind(
        &self,
        cmd: vk::CommandBuffer,
        bind_point: vk::PipelineBindPoint,
        layout: vk::PipelineLayout,
    ) {
        // SAFETY: `cmd` is recording; `layout` was made with this heap's set layout at set 0.
        unsafe {
            self.shared.device.cmd_bind_descriptor_sets(
                cmd,
                bind_point,
                layout,
                BINDLESS_SET,
                &[self.set],
                &[],
            )
        };
    }
}

impl Drop for BindlessHeap {
    fn drop(&mut self) {
        let (pool, layout) = (self.pool, self.layout);
        self.shared.defer(move |device, _| {
            // SAFETY: deferred until no submission uses the set; the set is freed with its pool.
            unsafe {
                device.destroy_descriptor_pool(pool, None);
                device.destroy_descriptor_set_layout(layout, None);
            }
        });
    }
}
