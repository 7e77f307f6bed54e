//! Ray tracing: acceleration structures (BLAS over existing vertex and index buffers by device
//! address, compaction, TLAS build and in-place update from an instance buffer) and ray tracing
//! pipelines with their shader binding table. Everything here records commands; the caller
//! (normally a framegraph pass declaring `AccelBuildInput` / `AccelBuildOutput` /
//! `AccelBuildRead` / `RayTracingRead` accesses) orders them.
//!
//! Only the ray tracing pipeline is used (raygen / miss / closest-hit / any-hit), never ray
//! queries: some devices (an NVIDIA H100 with driver 580) have no VK_KHR_ray_query.

use std::sync::Arc;

use ash::vk;

use crate::context::{Context, GpuError, RayTracingFns, Shared, VkResultExt};
use crate::pipeline::{vk_err, Pipeline, PipelineError, StageModules};
use crate::resource::{Buffer, BufferDesc, MemoryUsage};
use crate::{BindlessHeap, EntryPointCode, PipelineLayout, Uploader};

fn fns(shared: &Shared) -> Result<&RayTracingFns, GpuError> {
    shared.ray_tracing.as_ref().ok_or_else(|| {
        GpuError::Invalid(format!(
            "device '{}' has no ray tracing (VK_KHR_ray_tracing_pipeline, \
             VK_KHR_acceleration_structure, VK_KHR_deferred_host_operations)",
            shared.caps.device_name
        ))
    })
}

/// Triangles of a bottom-level structure, read in place from existing buffers: positions as
/// three f32 at the start of each vertex (any stride), u32 indices relative to the first
/// vertex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlasTriangles {
    /// Address of the first vertex.
    pub vertex_address: vk::DeviceAddress,
    /// Bytes from one vertex to the next.
    pub vertex_stride: u64,
    /// Number of vertices the indices may reach.
    pub vertex_count: u32,
    /// Address of the first index.
    pub index_address: vk::DeviceAddress,
    /// Number of triangles (3 indices each).
    pub triangle_count: u32,
    /// No any-hit shader runs for these triangles (VK_GEOMETRY_OPAQUE_BIT); false for
    /// alpha-tested geometry.
    pub opaque: bool,
}

/// Sizes of a build: the structure's storage, the scratch of a build and of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccelSizes {
    /// Storage of the structure.
    pub structure: u64,
    /// Scratch of a full build (add [`RayTracingCaps::min_scratch_offset_alignment`]
    /// (crate::RayTracingCaps) to allocate an aligned range).
    pub build_scratch: u64,
    /// Scratch of an update.
    pub update_scratch: u64,
}

/// A bottom- or top-level acceleration structure and the buffer that stores it.
pub struct AccelerationStructure {
    shared: Arc<Shared>,
    raw: vk::AccelerationStructureKHR,
    buffer: Buffer,
    address: vk::DeviceAddress,
    kind: vk::AccelerationStructureTypeKHR,
    name: String,
}

impl std::fmt::Debug for AccelerationStructure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccelerationStructure")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("size", &self.buffer.size())
            .finish()
    }
}

fn triangles_geometry(t: &BlasTriangles) -> vk::AccelerationStructureGeometryKHR<'static> {
    let tri = vk::AccelerationStructureGeometryTrianglesDataKHR::default()
        .vertex_format(vk::Format::R32G32B32_SFLOAT)
        .vertex_data(vk::DeviceOrHostAddressConstKHR { device_address: t.vertex_address })
        .vertex_stride(t.vertex_stride)
        .max_vertex(t.vertex_count.saturating_sub(1))
        .index_type(vk::IndexType::UINT32)
        .index_data(vk::DeviceOrHostAddressConstKHR { device_address: t.index_address });
    vk::AccelerationStructureGeometryKHR::default()
        .geometry_type(vk::GeometryTypeKHR::TRIANGLES)
        .geometry(vk::AccelerationStructureGeometryDataKHR { triangles: tri })
        .flags(if t.opaque { vk::GeometryFlagsKHR::OPAQUE } else { vk::GeometryFlagsKHR::empty() })
}

fn instances_geometry(address: vk::DeviceAddress) -> vk::AccelerationStructureGeometryKHR<'static> {
    let inst = vk::AccelerationStructureGeometryInstancesDataKHR::default()
        .array_of_pointers(false)
        .data(vk::DeviceOrHostAddressConstKHR { device_address: address });
    vk::AccelerationStructureGeometryKHR::default()
        .geometry_type(vk::GeometryTypeKHR::INSTANCES)
        .geometry(vk::AccelerationStructureGeometryDataKHR { instances: inst })
}

fn sizes(
    ctx: &Context,
    kind: vk::AccelerationStructureTypeKHR,
    geometries: &[vk::AccelerationStructureGeometryKHR<'_>],
    counts: &[u32],
    flags: vk::BuildAccelerationStructureFlagsKHR,
) -> Result<AccelSizes, GpuError> {
    let f = fns(&ctx.shared)?;
    let info = vk::AccelerationStructureBuildGeometryInfoKHR::default()
        .ty(kind)
        .flags(flags)
        .mode(vk::BuildAccelerationStructureModeKHR::BUILD)
        .geometries(geometries);
    let mut out = vk::AccelerationStructureBuildSizesInfoKHR::default();
    // SAFETY: valid build info; `counts` has one entry per geometry.
    unsafe {
        f.accel.get_acceleration_structure_build_sizes(
            vk::AccelerationStructureBuildTypeKHR::DEVICE,
            &info,
            counts,
            &mut out,
        )
    };
    Ok(AccelSizes {
        structure: out.acceleration_structure_size,
        build_scratch: out.build_scratch_size,
        update_scratch: out.update_scratch_size,
    })
}

/// Flags of bottom-level builds: fast tracing, compactable.
pub const BLAS_FLAGS: vk::BuildAccelerationStructureFlagsKHR =
    vk::BuildAccelerationStructureFlagsKHR::from_raw(
        vk::BuildAccelerationStructureFlagsKHR::PREFER_FAST_TRACE.as_raw()
            | vk::BuildAccelerationStructureFlagsKHR::ALLOW_COMPACTION.as_raw(),
    );
/// Flags of bottom-level builds of geometry that moves (deformed meshes): fast tracing,
/// updatable in place (refitted when only the vertices move).
pub const BLAS_DEFORM_FLAGS: vk::BuildAccelerationStructureFlagsKHR =
    vk::BuildAccelerationStructureFlagsKHR::from_raw(
        vk::BuildAccelerationStructureFlagsKHR::PREFER_FAST_TRACE.as_raw()
            | vk::BuildAccelerationStructureFlagsKHR::ALLOW_UPDATE.as_raw(),
    );
/// Flags of top-level builds: fast tracing, updatable in place.
pub const TLAS_FLAGS: vk::BuildAccelerationStructureFlagsKHR =
    vk::BuildAccelerationStructureFlagsKHR::from_raw(
        vk::BuildAccelerationStructureFlagsKHR::PREFER_FAST_TRACE.as_raw()
            | vk::BuildAccelerationStructureFlagsKHR::ALLOW_UPDATE.as_raw(),
    );

/// One instance of a top-level structure (`VkAccelerationStructureInstanceKHR`).
///
/// `transform` is the top three rows of the object-to-world matrix (row-major); `flags` such
/// as `FORCE_OPAQUE` or `TRIANGLE_FACING_CULL_DISABLE` (facing is decided in object space:
/// counter-clockwise seen from the ray origin is the front, in a right-handed system).
pub fn tlas_instance(
    transform: [[f32; 4]; 3],
    custom_index: u32,
    mask: u8,
    hit_group_offset: u32,
    blas_address: vk::DeviceAddress,
    flags: vk::GeometryInstanceFlagsKHR,
) -> vk::AccelerationStructureInstanceKHR {
    let m = transform;
    vk::AccelerationStructureInstanceKHR {
        transform: vk::TransformMatrixKHR {
            matrix: [
                m[0][0], m[0][1], m[0][2], m[0][3], m[1][0], m[1][1], m[1][2], m[1][3], m[2][0],
                m[2][1], m[2][2], m[2][3],
            ],
        },
        instance_custom_index_and_mask: vk::Packed24_8::new(custom_index & 0xff_ffff, mask),
        instance_shader_binding_table_record_offset_and_flags: vk::Packed24_8::new(
            hit_group_offset & 0xff_ffff,
            flags.as_raw() as u8,
        ),
        acceleration_structure_reference: vk::AccelerationStructureReferenceKHR {
            device_handle: blas_address,
        },
    }
}

/// [`AccelerationStructure::record_tlas_build`] for a structure owned elsewhere (a
/// framegraph transient).
///
/// # Safety
/// As [`AccelerationStructure::record_tlas_build`]; `tlas` is a top-level structure of this
/// device with room for `count` instances.
pub unsafe fn record_tlas_build_raw(
    ctx: &Context,
    cmd: vk::CommandBuffer,
    tlas: vk::AccelerationStructureKHR,
    instances: vk::DeviceAddress,
    count: u32,
    scratch: vk::DeviceAddress,
    update: bool,
) -> Result<(), GpuError> {
    // SAFETY: the caller's contract.
    unsafe { tlas_build(&ctx.shared, cmd, tlas, instances, count, scratch, update) }
}

/// The TLAS build both public entry points record.
///
/// # Safety
/// As [`record_tlas_build_raw`].
unsafe fn tlas_build(
    shared: &Shared,
    cmd: vk::CommandBuffer,
    tlas: vk::AccelerationStructureKHR,
    instances: vk::DeviceAddress,
    count: u32,
    scratch: vk::DeviceAddress,
    update: bool,
) -> Result<(), GpuError> {
    let f = fns(shared)?;
    let g = [instances_geometry(instances)];
    let range = [vk::AccelerationStructureBuildRangeInfoKHR {
        primitive_count: count,
        primitive_offset: 0,
        first_vertex: 0,
        transform_offset: 0,
    }];
    let mut info = vk::AccelerationStructureBuildGeometryInfoKHR::default()
        .ty(vk::AccelerationStructureTypeKHR::TOP_LEVEL)
        .flags(TLAS_FLAGS)
        .mode(if update {
            vk::BuildAccelerationStructureModeKHR::UPDATE
        } else {
            vk::BuildAccelerationStructureModeKHR::BUILD
        })
        .dst_acceleration_structure(tlas)
        .geometries(&g)
        .scratch_data(vk::DeviceOrHostAddressKHR { device_address: scratch });
    if update {
        info = info.src_acceleration_structure(tlas);
    }
    // SAFETY: the caller's contract.
    unsafe { f.accel.cmd_build_acceleration_structures(cmd, &[info], &[&range]) };
    Ok(())
}

/// Bytes of one [`tlas_instance`].
pub const TLAS_INSTANCE_SIZE: u64 = 64;

impl AccelerationStructure {
    /// Sizes of a bottom-level structure over `geometries` (built with [`BLAS_FLAGS`]).
    pub fn blas_sizes(ctx: &Context, geometries: &[BlasTriangles]) -> Result<AccelSizes, GpuError> {
        Self::blas_sizes_with(ctx, geometries, BLAS_FLAGS)
    }

    /// Sizes of a bottom-level structure over `geometries` built with `flags`
    /// ([`BLAS_FLAGS`] or [`BLAS_DEFORM_FLAGS`]).
    pub fn blas_sizes_with(
        ctx: &Context,
        geometries: &[BlasTriangles],
        flags: vk::BuildAccelerationStructureFlagsKHR,
    ) -> Result<AccelSizes, GpuError> {
        let g: Vec<_> = geometries.iter().map(triangles_geometry).collect();
        let counts: Vec<u32> = geometries.iter().map(|t| t.triangle_count).collect();
        sizes(ctx, vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL, &g, &counts, flags)
    }

    /// Sizes of a top-level structure of up to `instances` instances ([`TLAS_FLAGS`]).
    pub fn tlas_sizes(ctx: &Context, instances: u32) -> Result<AccelSizes, GpuError> {
        let g = [instances_geometry(0)];
        sizes(ctx, vk::AccelerationStructureTypeKHR::TOP_LEVEL, &g, &[instances], TLAS_FLAGS)
    }

    /// An empty structure of `kind` with `size` bytes of storage (from the sizes above, or
    /// the compacted size).
    pub fn new(
        ctx: &Context,
        name: &str,
        kind: vk::AccelerationStructureTypeKHR,
        size: u64,
    ) -> Result<Self, GpuError> {
        let f = fns(&ctx.shared)?;
        let buffer = Buffer::new(
            ctx,
            &BufferDesc {
                size: size.max(256),
                usage: vk::BufferUsageFlags::ACCELERATION_STRUCTURE_STORAGE_KHR,
                memory: MemoryUsage::GpuOnly,
                name,
            },
        )?;
        let info = vk::AccelerationStructureCreateInfoKHR::default()
            .buffer(buffer.raw())
            .size(size)
            .ty(kind);
        // SAFETY: the buffer has ACCELERATION_STRUCTURE_STORAGE usage and at least `size` bytes.
        let raw = unsafe { f.accel.create_acceleration_structure(&info, None) }
            .vk("vkCreateAccelerationStructureKHR")?;
        let ai =
            vk::AccelerationStructureDeviceAddressInfoKHR::default().acceleration_structure(raw);
        // SAFETY: `raw` was just created.
        let address = unsafe { f.accel.get_acceleration_structure_device_address(&ai) };
        ctx.set_name(raw, name);
        Ok(Self { shared: Arc::clone(&ctx.shared), raw, buffer, address, kind, name: name.into() })
    }

    /// The Vulkan handle.
    pub fn raw(&self) -> vk::AccelerationStructureKHR {
        self.raw
    }
    /// The device address (what a TLAS instance refers to).
    pub fn address(&self) -> vk::DeviceAddress {
        self.address
    }
    /// The buffer that stores it.
    pub fn buffer(&self) -> &Buffer {
        &self.buffer
    }
    /// Bytes of storage.
    pub fn size(&self) -> u64 {
        self.buffer.size()
    }
    /// Bottom or top level.
    pub fn kind(&self) -> vk::AccelerationStructureTypeKHR {
        self.kind
    }

    /// Records a build of this bottom-level structure over `geometries` with [`BLAS_FLAGS`].
    ///
    /// # Safety
    /// `cmd` is recording; the geometry buffers hold what `geometries` says and are visible to
    /// the build stage; `scratch` is the device address of at least `build_scratch` bytes,
    /// aligned to `min_scratch_offset_alignment`, not used by other work meanwhile; the caller
    /// orders later uses of the structure after the build.
    pub unsafe fn record_blas_build(
        &self,
        cmd: vk::CommandBuffer,
        geometries: &[BlasTriangles],
        scratch: vk::DeviceAddress,
    ) -> Result<(), GpuError> {
        // SAFETY: the caller's contract.
        unsafe { self.record_blas_build_with(cmd, geometries, scratch, BLAS_FLAGS, false) }
    }

    /// Records a build with `flags`, or with `update` an in-place update (a refit: the same
    /// geometries with moved vertices, built before with [`BLAS_DEFORM_FLAGS`]).
    ///
    /// # Safety
    /// As [`AccelerationStructure::record_blas_build`]; for an update the structure was
    /// built with `flags` including `ALLOW_UPDATE` over geometries of the same counts, and
    /// the scratch holds `update_scratch` bytes.
    pub unsafe fn record_blas_build_with(
        &self,
        cmd: vk::CommandBuffer,
        geometries: &[BlasTriangles],
        scratch: vk::DeviceAddress,
        flags: vk::BuildAccelerationStructureFlagsKHR,
        update: bool,
    ) -> Result<(), GpuError> {
        let f = fns(&self.shared)?;
        let g: Vec<_> = geometries.iter().map(triangles_geometry).collect();
        let ranges: Vec<vk::AccelerationStructureBuildRangeInfoKHR> = geometries
            .iter()
            .map(|t| vk::AccelerationStructureBuildRangeInfoKHR {
                primitive_count: t.triangle_count,
                primitive_offset: 0,
                first_vertex: 0,
                transform_offset: 0,
            })
            .collect();
        let mut info = vk::AccelerationStructureBuildGeometryInfoKHR::default()
            .ty(vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL)
            .flags(flags)
            .mode(if update {
                vk::BuildAccelerationStructureModeKHR::UPDATE
            } else {
                vk::BuildAccelerationStructureModeKHR::BUILD
            })
            .dst_acceleration_structure(self.raw)
            .geometries(&g)
            .scratch_data(vk::DeviceOrHostAddressKHR { device_address: scratch });
        if update {
            info = info.src_acceleration_structure(self.raw);
        }
        // SAFETY: the caller's contract; one range per geometry.
        unsafe { f.accel.cmd_build_acceleration_structures(cmd, &[info], &[&ranges]) };
        Ok(())
    }

    /// Records a build (or, with `update`, an in-place update: same instance count, built
    /// before with [`TLAS_FLAGS`]) of this top-level structure from `count` instances at
    /// `instances` (64 bytes each, [`tlas_instance`]).
    ///
    /// # Safety
    /// As [`AccelerationStructure::record_blas_build`]; every referenced BLAS is built and
    /// alive until the TLAS is no longer used; for an update the scratch holds
    /// `update_scratch` bytes.
    pub unsafe fn record_tlas_build(
        &self,
        cmd: vk::CommandBuffer,
        instances: vk::DeviceAddress,
        count: u32,
        scratch: vk::DeviceAddress,
        update: bool,
    ) -> Result<(), GpuError> {
        // SAFETY: the caller's contract.
        unsafe { tlas_build(&self.shared, cmd, self.raw, instances, count, scratch, update) }
    }

    /// Records writing this (built, compactable) structure's compacted size into query
    /// `index` of `pool` (a pool of ACCELERATION_STRUCTURE_COMPACTED_SIZE queries, reset).
    ///
    /// # Safety
    /// `cmd` is recording; the build is complete and visible to the build stage (a barrier
    /// from the build's write to `ACCELERATION_STRUCTURE_READ` in the build stage).
    pub unsafe fn record_compacted_size_query(
        &self,
        cmd: vk::CommandBuffer,
        pool: vk::QueryPool,
        index: u32,
    ) -> Result<(), GpuError> {
        let f = fns(&self.shared)?;
        // SAFETY: the caller's contract.
        unsafe {
            f.accel.cmd_write_acceleration_structures_properties(
                cmd,
                &[self.raw],
                vk::QueryType::ACCELERATION_STRUCTURE_COMPACTED_SIZE_KHR,
                pool,
                index,
            )
        };
        Ok(())
    }

    /// Records a compacting copy of this structure into `dst` (made with the queried
    /// compacted size).
    ///
    /// # Safety
    /// `cmd` is recording; this structure is built and visible to the copy (build stage);
    /// `dst` is not in use; later uses of `dst` are ordered after the copy.
    pub unsafe fn record_compact_into(
        &self,
        cmd: vk::CommandBuffer,
        dst: &AccelerationStructure,
    ) -> Result<(), GpuError> {
        let f = fns(&self.shared)?;
        let info = vk::CopyAccelerationStructureInfoKHR::default()
            .src(self.raw)
            .dst(dst.raw)
            .mode(vk::CopyAccelerationStructureModeKHR::COMPACT);
        // SAFETY: the caller's contract.
        unsafe { f.accel.cmd_copy_acceleration_structure(cmd, &info) };
        Ok(())
    }
}

impl Drop for AccelerationStructure {
    fn drop(&mut self) {
        let raw = self.raw;
        if let Some(f) = self.shared.ray_tracing.as_ref() {
            let accel = f.accel.clone();
            // SAFETY: deferred until no submission uses the structure; its buffer (a field) is
            // dropped after this and deferred too, so it outlives the structure.
            self.shared
                .defer(move |_, _| unsafe { accel.destroy_acceleration_structure(raw, None) });
        }
    }
}

/// A pool of compacted-size queries, read back on the CPU.
pub struct CompactedSizeQueries {
    shared: Arc<Shared>,
    pool: vk::QueryPool,
    count: u32,
}

impl std::fmt::Debug for CompactedSizeQueries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactedSizeQueries").field("count", &self.count).finish()
    }
}

impl CompactedSizeQueries {
    /// `count` queries, reset on the host.
    pub fn new(ctx: &Context, count: u32) -> Result<Self, GpuError> {
        let info = vk::QueryPoolCreateInfo::default()
            .query_type(vk::QueryType::ACCELERATION_STRUCTURE_COMPACTED_SIZE_KHR)
            .query_count(count.max(1));
        fns(&ctx.shared)?;
        // SAFETY: valid create info; ray tracing (which the query type belongs to) is enabled.
        let pool =
            unsafe { ctx.device().create_query_pool(&info, None) }.vk("vkCreateQueryPool")?;
        // SAFETY: fresh pool; host query reset is a Vulkan 1.2 core feature xpg enables.
        unsafe { ctx.device().reset_query_pool(pool, 0, count.max(1)) };
        Ok(Self { shared: Arc::clone(&ctx.shared), pool, count })
    }
    /// The pool.
    pub fn raw(&self) -> vk::QueryPool {
        self.pool
    }
    /// The sizes, once the work that wrote them has completed.
    pub fn read(&self) -> Result<Vec<u64>, GpuError> {
        let mut out = vec![0u64; self.count as usize];
        // SAFETY: the pool holds `count` queries of 64-bit results.
        unsafe {
            self.shared.device.get_query_pool_results(
                self.pool,
                0,
                &mut out,
                vk::QueryResultFlags::TYPE_64 | vk::QueryResultFlags::WAIT,
            )
        }
        .vk("vkGetQueryPoolResults")?;
        Ok(out)
    }
}

impl Drop for CompactedSizeQueries {
    fn drop(&mut self) {
        let pool = self.pool;
        // SAFETY: deferred until no submission uses the pool.
        self.shared.defer(move |device, _| unsafe { device.destroy_query_pool(pool, None) });
    }
}

/// The shader groups of a ray tracing pipeline.
#[derive(Debug, Clone)]
pub struct RayTracingDesc<'a> {
    /// Debug name.
    pub name: &'a str,
    /// The ray generation shader.
    pub raygen: &'a EntryPointCode,
    /// Miss shaders, in the order `TraceRay`'s miss index counts.
    pub miss: Vec<&'a EntryPointCode>,
    /// Triangle hit groups (closest hit and/or any hit), in the order the hit-group offset
    /// counts.
    pub hit_groups: Vec<(Option<&'a EntryPointCode>, Option<&'a EntryPointCode>)>,
    /// Maximum recursion depth of `TraceRay` calls (1: only the raygen traces).
    pub max_recursion: u32,
}

/// The shader binding table of a ray tracing pipeline: one buffer, three regions.
pub(crate) struct ShaderBindingTable {
    /// Holds the records the regions point into (kept alive with the pipeline).
    pub _buffer: Buffer,
    pub raygen: vk::StridedDeviceAddressRegionKHR,
    pub miss: vk::StridedDeviceAddressRegionKHR,
    pub hit: vk::StridedDeviceAddressRegionKHR,
}

fn align(v: u64, a: u64) -> u64 {
    v.div_ceil(a.max(1)) * a.max(1)
}

/// Where the records of a table go: (raygen offset, miss offset, hit offset, stride, total)
/// for handles of `handle` bytes, record stride aligned to `handle_align`, regions to
/// `base_align`.
pub fn sbt_layout(
    handle: u64,
    handle_align: u64,
    base_align: u64,
    miss: u64,
    hit: u64,
) -> (u64, u64, u64, u64, u64) {
    let stride = align(handle, handle_align);
    let raygen = 0;
    let miss_at = align(raygen + align(stride, base_align), base_align);
    let hit_at = align(miss_at + stride * miss, base_align);
    let total = hit_at + stride * hit.max(1);
    (raygen, miss_at, hit_at, stride, total)
}

impl Pipeline {
    /// A ray tracing pipeline from Slang entry points, with its shader binding table (one
    /// record per group, no record data); the layout comes from reflection like the others.
    pub fn ray_tracing<'a>(
        ctx: &Context,
        desc: &RayTracingDesc<'a>,
        heap: Option<&BindlessHeap>,
    ) -> Result<Self, PipelineError> {
        let f = fns(&ctx.shared)?;
        let check = |e: &EntryPointCode, want: vk::ShaderStageFlags| {
            if e.stage == want {
                Ok(())
            } else {
                Err(PipelineError::Layout {
                    entry: e.name.clone(),
                    message: format!("is a {:?} shader, expected {want:?}", e.stage),
                })
            }
        };
        check(desc.raygen, vk::ShaderStageFlags::RAYGEN_KHR)?;
        for m in &desc.miss {
            check(m, vk::ShaderStageFlags::MISS_KHR)?;
        }
        for (c, a) in &desc.hit_groups {
            if let Some(c) = c {
                check(c, vk::ShaderStageFlags::CLOSEST_HIT_KHR)?;
            }
            if let Some(a) = a {
                check(a, vk::ShaderStageFlags::ANY_HIT_KHR)?;
            }
        }
        let rt = ctx.caps().rt;
        if desc.max_recursion == 0 || desc.max_recursion > rt.max_ray_recursion_depth {
            return Err(PipelineError::Layout {
                entry: desc.raygen.name.clone(),
                message: format!(
                    "recursion depth {} outside 1..={}",
                    desc.max_recursion, rt.max_ray_recursion_depth
                ),
            });
        }
        // Stages: raygen, misses, then each hit group's shaders.
        let mut stages: Vec<&'a EntryPointCode> = vec![desc.raygen];
        stages.extend(desc.miss.iter().copied());
        let mut groups = vec![vk::RayTracingShaderGroupCreateInfoKHR::default()
            .ty(vk::RayTracingShaderGroupTypeKHR::GENERAL)
            .general_shader(0)
            .closest_hit_shader(vk::SHADER_UNUSED_KHR)
            .any_hit_shader(vk::SHADER_UNUSED_KHR)
            .intersection_shader(vk::SHADER_UNUSED_KHR)];
        for k in 0..desc.miss.len() {
            groups.push(
                vk::RayTracingShaderGroupCreateInfoKHR::default()
                    .ty(vk::RayTracingShaderGroupTypeKHR::GENERAL)
                    .general_shader(1 + k as u32)
                    .closest_hit_shader(vk::SHADER_UNUSED_KHR)
                    .any_hit_shader(vk::SHADER_UNUSED_KHR)
                    .intersection_shader(vk::SHADER_UNUSED_KHR),
            );
        }
        for (c, a) in &desc.hit_groups {
            let mut index = |e: Option<&'a EntryPointCode>| match e {
                Some(e) => {
                    stages.push(e);
                    stages.len() as u32 - 1
                }
                None => vk::SHADER_UNUSED_KHR,
            };
            let closest = index(*c);
            let any = index(*a);
            groups.push(
                vk::RayTracingShaderGroupCreateInfoKHR::default()
                    .ty(vk::RayTracingShaderGroupTypeKHR::TRIANGLES_HIT_GROUP)
                    .general_shader(vk::SHADER_UNUSED_KHR)
                    .closest_hit_shader(closest)
                    .any_hit_shader(any)
                    .intersection_shader(vk::SHADER_UNUSED_KHR),
            );
        }
        let layout = PipelineLayout::from_reflection(ctx, &stages, heap)?;
        let device = ctx.device();
        let modules = StageModules::new(device, &stages)?;
        let stage_infos = modules.infos();
        let info = vk::RayTracingPipelineCreateInfoKHR::default()
            .flags(crate::pipeline::capture_flags(ctx))
            .stages(&stage_infos)
            .groups(&groups)
            .max_pipeline_ray_recursion_depth(desc.max_recursion)
            .layout(layout.raw());
        // SAFETY: modules and layout are alive; the cache belongs to this device.
        let result = unsafe {
            f.pipeline.create_ray_tracing_pipelines(
                vk::DeferredOperationKHR::null(),
                ctx.pipeline_cache(),
                &[info],
                None,
            )
        };
        drop(stage_infos);
        drop(modules);
        let raw = result.map_err(|(_, e)| vk_err("vkCreateRayTracingPipelinesKHR")(e))?[0];
        ctx.set_name(raw, desc.name);
        let mut pipeline = Pipeline::from_parts(
            ctx,
            raw,
            layout,
            vk::PipelineBindPoint::RAY_TRACING_KHR,
            desc.name,
        );
        // The shader binding table.
        let handle = u64::from(rt.shader_group_handle_size);
        let group_count = groups.len() as u32;
        // SAFETY: the pipeline has `group_count` groups; the buffer holds a handle per group.
        let handles = unsafe {
            f.pipeline.get_ray_tracing_shader_group_handles(
                raw,
                0,
                group_count,
                (handle * u64::from(group_count)) as usize,
            )
        }
        .map_err(vk_err("vkGetRayTracingShaderGroupHandlesKHR"))?;
        let (miss_n, hit_n) = (desc.miss.len() as u64, desc.hit_groups.len() as u64);
        let (rg_at, miss_at, hit_at, stride, total) = sbt_layout(
            handle,
            u64::from(rt.shader_group_handle_alignment),
            u64::from(rt.shader_group_base_alignment),
            miss_n,
            hit_n,
        );
        let mut table = vec![0u8; total as usize];
        let mut put = |group: usize, at: u64| {
            let src = &handles[group * handle as usize..(group + 1) * handle as usize];
            table[at as usize..at as usize + handle as usize].copy_from_slice(src);
        };
        put(0, rg_at);
        for k in 0..miss_n {
            put(1 + k as usize, miss_at + k * stride);
        }
        for k in 0..hit_n {
            put(1 + miss_n as usize + k as usize, hit_at + k * stride);
        }
        // Region starts must be aligned to shaderGroupBaseAlignment as device addresses, not
        // only as offsets: room to move the table to an aligned address inside the buffer.
        let base_align = u64::from(rt.shader_group_base_alignment).max(1);
        let mut buffer = Buffer::new(
            ctx,
            &BufferDesc {
                size: total + base_align,
                usage: vk::BufferUsageFlags::SHADER_BINDING_TABLE_KHR,
                memory: MemoryUsage::DeviceUpload,
                name: "shader binding table",
            },
        )?;
        let base = align(buffer.address(), base_align);
        let mut up = Uploader::new(ctx, (total + 65536).max(1 << 16))?;
        let offset = base - buffer.address();
        up.upload_buffer(&mut buffer, offset, &table)?;
        up.flush()?;
        let region = |at: u64, stride: u64, size: u64| vk::StridedDeviceAddressRegionKHR {
            device_address: base + at,
            stride,
            size,
        };
        let rg_size = align(stride, u64::from(rt.shader_group_base_alignment));
        pipeline.sbt = Some(ShaderBindingTable {
            raygen: region(rg_at, rg_size, rg_size),
            miss: if miss_n > 0 {
                region(miss_at, stride, stride * miss_n)
            } else {
                Default::default()
            },
            hit: if hit_n > 0 {
                region(hit_at, stride, stride * hit_n)
            } else {
                Default::default()
            },
            _buffer: buffer,
        });
        Ok(pipeline)
    }

    /// Records `vkCmdTraceRaysKHR` over `size` rays with this pipeline's shader binding table.
    ///
    /// # Safety
    /// `cmd` is recording with this pipeline bound and its descriptors and push constants
    /// set; every resource the shaders use is visible to the ray tracing stage.
    pub unsafe fn trace_rays(
        &self,
        cmd: vk::CommandBuffer,
        size: [u32; 3],
    ) -> Result<(), GpuError> {
        let f = fns(&self.shared)?;
        let sbt = self.sbt.as_ref().ok_or_else(|| {
            GpuError::Invalid(format!("pipeline '{}' is not a ray tracing pipeline", self.name))
        })?;
        let callable = vk::StridedDeviceAddressRegionKHR::default();
        // SAFETY: the caller's contract; the regions lie in the table's buffer.
        unsafe {
            f.pipeline.cmd_trace_rays(
                cmd,
                &sbt.raygen,
                &sbt.miss,
                &sbt.hit,
                &callable,
                size[0],
                size[1],
                size[2],
            )
        };
        Ok(())
    }
}

impl Context {
    /// Creates an acceleration structure of `kind` over `size` bytes of `buffer` at offset 0
    /// (a buffer with ACCELERATION_STRUCTURE_STORAGE usage and bound memory), for owners that
    /// manage the memory themselves (the framegraph's transients). Destroy it with
    /// [`Context::destroy_acceleration_structure`].
    pub fn create_acceleration_structure(
        &self,
        buffer: vk::Buffer,
        size: u64,
        kind: vk::AccelerationStructureTypeKHR,
    ) -> Result<vk::AccelerationStructureKHR, GpuError> {
        let f = fns(&self.shared)?;
        let info =
            vk::AccelerationStructureCreateInfoKHR::default().buffer(buffer).size(size).ty(kind);
        // SAFETY: the caller's buffer has the storage usage, memory bound, `size` bytes.
        unsafe { f.accel.create_acceleration_structure(&info, None) }
            .vk("vkCreateAccelerationStructureKHR")
    }

    /// Destroys `accel` once the GPU has finished every submission made so far (queue this
    /// before releasing the memory it lives in).
    pub fn destroy_acceleration_structure(&self, accel: vk::AccelerationStructureKHR) {
        if let Some(f) = self.shared.ray_tracing.as_ref() {
            let a = f.accel.clone();
            // SAFETY: deferred until no submission uses the structure.
            self.shared.defer(move |_, _| unsafe { a.destroy_acceleration_structure(accel, None) });
        }
    }
}
