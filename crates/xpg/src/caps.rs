//! What the physical device can do, probed once when the context is created.

use std::ffi::CStr;

use ash::vk;

/// Descriptor indexing support and limits (the bindless heap depends on them).
#[derive(Debug, Clone, Default)]
pub struct DescriptorIndexingCaps {
    /// `runtimeDescriptorArray`, `descriptorBindingPartiallyBound`,
    /// `descriptorBindingVariableDescriptorCount` and sampled-image update-after-bind.
    pub bindless: bool,
    /// Non-uniform indexing of sampled image arrays.
    pub sampled_image_non_uniform: bool,
    /// Non-uniform indexing of storage image arrays.
    pub storage_image_non_uniform: bool,
    /// Descriptors not used by pending work may be updated (`descriptorBindingUpdateUnusedWhilePending`).
    pub update_unused_while_pending: bool,
    /// Update-after-bind limit for sampled images in one set.
    pub max_sampled_images: u32,
    /// Update-after-bind limit for storage images in one set.
    pub max_storage_images: u32,
    /// Update-after-bind limit for samplers in one set.
    pub max_samplers: u32,
    /// Update-after-bind limit of all resources visible to one stage.
    pub max_per_stage_resources: u32,
}

/// Probed features and limits of the chosen device.
#[derive(Debug, Clone, Default)]
pub struct Caps {
    /// The device's name, as the driver reports it.
    pub device_name: String,
    /// Discrete, integrated, CPU, ...
    pub device_type: vk::PhysicalDeviceType,
    /// Vulkan version of the device.
    pub api_version: u32,
    /// Driver name and version text.
    pub driver: String,
    /// VK_KHR_ray_tracing_pipeline is supported (enabled with acceleration structures and
    /// deferred host operations when all three are: [`Caps::ray_tracing`]).
    pub ray_tracing_pipeline: bool,
    /// VK_KHR_acceleration_structure is supported.
    pub acceleration_structure: bool,
    /// Ray tracing is enabled on the device: [`Caps::ray_tracing_pipeline`],
    /// [`Caps::acceleration_structure`] and VK_KHR_deferred_host_operations.
    pub ray_tracing: bool,
    /// Ray tracing limits (zero without ray tracing).
    pub rt: RayTracingCaps,
    /// VK_KHR_ray_query is supported (not yet enabled; absent on some drivers, e.g. NVIDIA H100 driver 580).
    pub ray_query: bool,
    /// VK_EXT_mesh_shader is supported (not yet enabled).
    pub mesh_shader: bool,
    /// VK_KHR_pipeline_executable_properties with `pipelineExecutableInfo`: the driver reports
    /// per-pipeline statistics (registers, occupancy, ...). Enabled on request
    /// ([`crate::ContextDesc::shader_statistics`]).
    pub pipeline_executable_info: bool,
    /// VK_KHR_push_descriptor (required: per-pass resources are pushed at set 1).
    pub push_descriptor: bool,
    /// `maxPushDescriptors`.
    pub max_push_descriptors: u32,
    /// Descriptor indexing.
    pub descriptor_indexing: DescriptorIndexingCaps,
    /// Default subgroup size.
    pub subgroup_size: u32,
    /// Nanoseconds per timestamp tick.
    pub timestamp_period_ns: f32,
    /// The universal queue supports timestamps.
    pub timestamps: bool,
    /// `maxPushConstantsSize`.
    pub max_push_constants_size: u32,
    /// `maxImageDimension2D`.
    pub max_image_dimension_2d: u32,
    /// Buffer device address (required).
    pub buffer_device_address: bool,
    /// Dynamic rendering (required).
    pub dynamic_rendering: bool,
    /// Synchronization2 (required).
    pub synchronization2: bool,
    /// Timeline semaphores (required).
    pub timeline_semaphore: bool,
    /// Geometry shaders (enabled when supported): fragment shaders may read the primitive ID.
    pub geometry_shader: bool,
    /// 64-bit integers in shaders.
    pub shader_int64: bool,
    /// Storage images read and written without a format in the shader.
    pub storage_image_without_format: bool,
    /// Anisotropic filtering.
    pub sampler_anisotropy: bool,
    /// `maxSamplerAnisotropy`.
    pub max_sampler_anisotropy: f32,
    /// Sample counts supported by both color (float) and depth attachments (bit n: 2^n).
    pub framebuffer_sample_counts: vk::SampleCountFlags,
    /// Every device-local memory type is also host-visible (CPU renderers, integrated GPUs).
    pub unified_memory: bool,
    /// Size of the largest device-local heap that has a host-visible type, 0 if none.
    pub host_visible_device_heap: u64,
    /// Size of the largest device-local heap.
    pub device_local_heap: u64,
}

impl Caps {
    /// Whether the CPU can write device-local memory in place for any size: unified memory, or
    /// a host-visible device-local heap covering at least half of the largest device-local heap
    /// (resizable BAR; the legacy 256 MiB BAR window does not count).
    pub fn direct_device_upload(&self) -> bool {
        self.unified_memory
            || (self.host_visible_device_heap > 0
                && self.host_visible_device_heap >= self.device_local_heap / 2)
    }

    /// The names of the features the framework needs and this device lacks.
    pub fn missing_required(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.api_version < vk::API_VERSION_1_3 {
            m.push("Vulkan 1.3");
        }
        if !self.dynamic_rendering {
            m.push("dynamicRendering");
        }
        if !self.synchronization2 {
            m.push("synchronization2");
        }
        if !self.timeline_semaphore {
            m.push("timelineSemaphore");
        }
        if !self.buffer_device_address {
            m.push("bufferDeviceAddress");
        }
        if !self.push_descriptor {
            m.push("VK_KHR_push_descriptor");
        }
        if !self.descriptor_indexing.update_unused_while_pending {
            m.push("descriptorBindingUpdateUnusedWhilePending");
        }
        if !self.descriptor_indexing.bindless {
            m.push("descriptor indexing (runtime arrays, partially bound, variable count, update after bind)");
        }
        m
    }
}

/// Extension names the device advertises.
pub(crate) fn device_extensions(instance: &ash::Instance, pd: vk::PhysicalDevice) -> Vec<String> {
    // SAFETY: `pd` was enumerated from `instance`.
    unsafe { instance.enumerate_device_extension_properties(pd) }
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.extension_name_as_c_str().ok().map(|s| s.to_string_lossy().into_owned()))
        .collect()
}

/// Limits of ray tracing pipelines and acceleration structures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RayTracingCaps {
    /// `shaderGroupHandleSize`.
    pub shader_group_handle_size: u32,
    /// `shaderGroupHandleAlignment`: stride alignment of records in a region.
    pub shader_group_handle_alignment: u32,
    /// `shaderGroupBaseAlignment`: alignment of each region's start.
    pub shader_group_base_alignment: u32,
    /// `maxRayRecursionDepth`.
    pub max_ray_recursion_depth: u32,
    /// `maxShaderGroupStride`.
    pub max_shader_group_stride: u32,
    /// `minAccelerationStructureScratchOffsetAlignment`.
    pub min_scratch_offset_alignment: u32,
    /// `maxInstanceCount` of a top-level structure.
    pub max_instance_count: u64,
    /// `maxPrimitiveCount` of a bottom-level structure.
    pub max_primitive_count: u64,
    /// Acceleration structures can be written to an update-after-bind descriptor set.
    pub update_after_bind: bool,
    /// `maxDescriptorSetUpdateAfterBindAccelerationStructures`.
    pub max_update_after_bind_accels: u32,
}

/// Probes `pd`. Only feature structs of extensions the device advertises are chained, so the
/// loader and an older validation layer never see a structure they do not know.
pub(crate) fn probe(instance: &ash::Instance, pd: vk::PhysicalDevice) -> Caps {
    let exts = device_extensions(instance, pd);
    let has = |n: &CStr| exts.iter().any(|e| e.as_bytes() == n.to_bytes());

    let mut f11 = vk::PhysicalDeviceVulkan11Features::default();
    let mut f12 = vk::PhysicalDeviceVulkan12Features::default();
    let mut f13 = vk::PhysicalDeviceVulkan13Features::default();
    let mut rt = vk::PhysicalDeviceRayTracingPipelineFeaturesKHR::default();
    let mut accel = vk::PhysicalDeviceAccelerationStructureFeaturesKHR::default();
    let mut rq = vk::PhysicalDeviceRayQueryFeaturesKHR::default();
    let mut mesh = vk::PhysicalDeviceMeshShaderFeaturesEXT::default();
    let mut exec = vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR::default();
    let has_exec = has(ash::khr::pipeline_executable_properties::NAME);
    let has_rt = has(ash::khr::ray_tracing_pipeline::NAME);
    let has_accel = has(ash::khr::acceleration_structure::NAME);
    let has_rq = has(ash::khr::ray_query::NAME);
    let has_mesh = has(ash::ext::mesh_shader::NAME);
    // SAFETY: `pd` belongs to `instance`; apiVersion is read before chaining 1.2/1.3 structs.
    let props = unsafe { instance.get_physical_device_properties(pd) };
    let mut caps = Caps { api_version: props.api_version, ..Default::default() };
    let mut features2 = vk::PhysicalDeviceFeatures2::default();
    if props.api_version >= vk::API_VERSION_1_3 {
        features2 = features2.push_next(&mut f11).push_next(&mut f12).push_next(&mut f13);
        if has_rt {
            features2 = features2.push_next(&mut rt);
        }
        if has_accel {
            features2 = features2.push_next(&mut accel);
        }
        if has_rq {
            features2 = features2.push_next(&mut rq);
        }
        if has_mesh {
            features2 = features2.push_next(&mut mesh);
        }
        if has_exec {
            features2 = features2.push_next(&mut exec);
        }
    }
    // SAFETY: every struct in the chain is known to a Vulkan 1.3 loader or belongs to an
    // extension the device advertises.
    unsafe { instance.get_physical_device_features2(pd, &mut features2) };
    let f10 = features2.features;

    let mut di_props = vk::PhysicalDeviceDescriptorIndexingProperties::default();
    let mut subgroup = vk::PhysicalDeviceSubgroupProperties::default();
    let mut driver = vk::PhysicalDeviceDriverProperties::default();
    let mut push_props = vk::PhysicalDevicePushDescriptorPropertiesKHR::default();
    let mut props2 = vk::PhysicalDeviceProperties2::default();
    if props.api_version >= vk::API_VERSION_1_2 {
        props2 = props2.push_next(&mut di_props).push_next(&mut subgroup).push_next(&mut driver);
        if has(ash::khr::push_descriptor::NAME) {
            props2 = props2.push_next(&mut push_props);
        }
    }
    // SAFETY: the chained structs are core in the device's version (checked above); `pd`
    // belongs to `instance`.
    unsafe { instance.get_physical_device_properties2(pd, &mut props2) };
    let limits = props.limits;

    caps.device_name =
        props.device_name_as_c_str().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    caps.device_type = props.device_type;
    caps.driver = format!(
        "{} {}",
        driver.driver_name_as_c_str().map(|s| s.to_string_lossy()).unwrap_or_default(),
        driver.driver_info_as_c_str().map(|s| s.to_string_lossy()).unwrap_or_default()
    );
    caps.ray_tracing_pipeline = has_rt && rt.ray_tracing_pipeline == vk::TRUE;
    caps.pipeline_executable_info = has_exec && exec.pipeline_executable_info == vk::TRUE;
    caps.acceleration_structure = has_accel && accel.acceleration_structure == vk::TRUE;
    caps.ray_tracing = caps.ray_tracing_pipeline
        && caps.acceleration_structure
        && has(ash::khr::deferred_host_operations::NAME)
        && props.api_version >= vk::API_VERSION_1_3;
    if caps.ray_tracing {
        let mut rtp = vk::PhysicalDeviceRayTracingPipelinePropertiesKHR::default();
        let mut asp = vk::PhysicalDeviceAccelerationStructurePropertiesKHR::default();
        let mut p2 =
            vk::PhysicalDeviceProperties2::default().push_next(&mut rtp).push_next(&mut asp);
        // SAFETY: both structs belong to extensions the device advertises.
        unsafe { instance.get_physical_device_properties2(pd, &mut p2) };
        caps.rt = RayTracingCaps {
            shader_group_handle_size: rtp.shader_group_handle_size,
            shader_group_handle_alignment: rtp.shader_group_handle_alignment,
            shader_group_base_alignment: rtp.shader_group_base_alignment,
            max_ray_recursion_depth: rtp.max_ray_recursion_depth,
            max_shader_group_stride: rtp.max_shader_group_stride,
            min_scratch_offset_alignment: asp.min_acceleration_structure_scratch_offset_alignment,
            max_instance_count: asp.max_instance_count,
            max_primitive_count: asp.max_primitive_count,
            update_after_bind: accel.descriptor_binding_acceleration_structure_update_after_bind
                == vk::TRUE,
            max_update_after_bind_accels: asp
                .max_descriptor_set_update_after_bind_acceleration_structures,
        };
    }
    caps.ray_query = has_rq && rq.ray_query == vk::TRUE;
    caps.mesh_shader = has_mesh && mesh.mesh_shader == vk::TRUE;
    caps.push_descriptor = has(ash::khr::push_descriptor::NAME);
    caps.descriptor_indexing = DescriptorIndexingCaps {
        bindless: f12.descriptor_indexing == vk::TRUE
            && f12.runtime_descriptor_array == vk::TRUE
            && f12.descriptor_binding_partially_bound == vk::TRUE
            && f12.descriptor_binding_variable_descriptor_count == vk::TRUE
            && f12.descriptor_binding_sampled_image_update_after_bind == vk::TRUE
            && f12.descriptor_binding_storage_image_update_after_bind == vk::TRUE,
        sampled_image_non_uniform: f12.shader_sampled_image_array_non_uniform_indexing == vk::TRUE,
        storage_image_non_uniform: f12.shader_storage_image_array_non_uniform_indexing == vk::TRUE,
        update_unused_while_pending: f12.descriptor_binding_update_unused_while_pending == vk::TRUE,
        max_sampled_images: di_props
            .max_descriptor_set_update_after_bind_sampled_images
            .min(di_props.max_per_stage_descriptor_update_after_bind_sampled_images),
        max_storage_images: di_props
            .max_descriptor_set_update_after_bind_storage_images
            .min(di_props.max_per_stage_descriptor_update_after_bind_storage_images),
        max_samplers: di_props
            .max_descriptor_set_update_after_bind_samplers
            .min(di_props.max_per_stage_descriptor_update_after_bind_samplers),
        max_per_stage_resources: di_props.max_per_stage_update_after_bind_resources,
    };
    caps.subgroup_size = subgroup.subgroup_size;
    caps.max_push_descriptors = push_props.max_push_descriptors;
    caps.timestamp_period_ns = limits.timestamp_period;
    caps.max_push_constants_size = limits.max_push_constants_size;
    caps.max_image_dimension_2d = limits.max_image_dimension2_d;
    caps.buffer_device_address = f12.buffer_device_address == vk::TRUE;
    caps.dynamic_rendering = f13.dynamic_rendering == vk::TRUE;
    caps.synchronization2 = f13.synchronization2 == vk::TRUE;
    caps.timeline_semaphore = f12.timeline_semaphore == vk::TRUE;
    caps.shader_int64 = f10.shader_int64 == vk::TRUE;
    caps.geometry_shader = f10.geometry_shader == vk::TRUE;
    caps.storage_image_without_format = f10.shader_storage_image_read_without_format == vk::TRUE
        && f10.shader_storage_image_write_without_format == vk::TRUE;
    caps.sampler_anisotropy = f10.sampler_anisotropy == vk::TRUE;
    caps.max_sampler_anisotropy = limits.max_sampler_anisotropy;
    caps.framebuffer_sample_counts =
        limits.framebuffer_color_sample_counts & limits.framebuffer_depth_sample_counts;

    // SAFETY: `pd` belongs to `instance`.
    let mem = unsafe { instance.get_physical_device_memory_properties(pd) };
    let types = &mem.memory_types[..mem.memory_type_count as usize];
    let local = vk::MemoryPropertyFlags::DEVICE_LOCAL;
    let visible = vk::MemoryPropertyFlags::HOST_VISIBLE;
    caps.unified_memory = types
        .iter()
        .filter(|t| t.property_flags.contains(local))
        .all(|t| t.property_flags.contains(visible));
    caps.device_local_heap = types
        .iter()
        .filter(|t| t.property_flags.contains(local))
        .map(|t| mem.memory_heaps[t.heap_index as usize].size)
        .max()
        .unwrap_or(0);
    caps.host_visible_device_heap = types
        .iter()
        .filter(|t| t.property_flags.contains(local | visible))
        .map(|t| mem.memory_heaps[t.heap_index as usize].size)
        .max()
        .unwrap_or(0);
    caps
}

/// The features the context turns on: the required ones plus the supported optional ones.
pub(crate) struct EnabledFeatures {
    pub f10: vk::PhysicalDeviceFeatures,
    pub f11: vk::PhysicalDeviceVulkan11Features<'static>,
    pub f12: vk::PhysicalDeviceVulkan12Features<'static>,
    pub f13: vk::PhysicalDeviceVulkan13Features<'static>,
}

/// Intersects what the framework wants with what `pd` supports.
pub(crate) fn enabled_features(
    instance: &ash::Instance,
    pd: vk::PhysicalDevice,
) -> EnabledFeatures {
    let mut s11 = vk::PhysicalDeviceVulkan11Features::default();
    let mut s12 = vk::PhysicalDeviceVulkan12Features::default();
    let mut s13 = vk::PhysicalDeviceVulkan13Features::default();
    let mut f2 = vk::PhysicalDeviceFeatures2::default()
        .push_next(&mut s11)
        .push_next(&mut s12)
        .push_next(&mut s13);
    // SAFETY: called only for devices of API version >= 1.3 (checked by the caller).
    unsafe { instance.get_physical_device_features2(pd, &mut f2) };
    let s10 = f2.features;
    let f10 = vk::PhysicalDeviceFeatures {
        shader_int64: s10.shader_int64,
        shader_int16: s10.shader_int16,
        shader_float64: s10.shader_float64,
        sampler_anisotropy: s10.sampler_anisotropy,
        fragment_stores_and_atomics: s10.fragment_stores_and_atomics,
        vertex_pipeline_stores_and_atomics: s10.vertex_pipeline_stores_and_atomics,
        shader_storage_image_read_without_format: s10.shader_storage_image_read_without_format,
        shader_storage_image_write_without_format: s10.shader_storage_image_write_without_format,
        fill_mode_non_solid: s10.fill_mode_non_solid,
        // Fragment shaders' primitive ID (the raster's visibility buffer) needs it.
        geometry_shader: s10.geometry_shader,
        wide_lines: s10.wide_lines,
        large_points: s10.large_points,
        independent_blend: s10.independent_blend,
        sample_rate_shading: s10.sample_rate_shading,
        multi_draw_indirect: s10.multi_draw_indirect,
        draw_indirect_first_instance: s10.draw_indirect_first_instance,
        depth_clamp: s10.depth_clamp,
        image_cube_array: s10.image_cube_array,
        shader_image_gather_extended: s10.shader_image_gather_extended,
        ..Default::default()
    };
    let f11 = vk::PhysicalDeviceVulkan11Features {
        shader_draw_parameters: s11.shader_draw_parameters,
        storage_buffer16_bit_access: s11.storage_buffer16_bit_access,
        variable_pointers: s11.variable_pointers,
        variable_pointers_storage_buffer: s11.variable_pointers_storage_buffer,
        ..Default::default()
    };
    let f12 = vk::PhysicalDeviceVulkan12Features {
        descriptor_indexing: s12.descriptor_indexing,
        runtime_descriptor_array: s12.runtime_descriptor_array,
        descriptor_binding_partially_bound: s12.descriptor_binding_partially_bound,
        descriptor_binding_variable_descriptor_count: s12
            .descriptor_binding_variable_descriptor_count,
        descriptor_binding_sampled_image_update_after_bind: s12
            .descriptor_binding_sampled_image_update_after_bind,
        descriptor_binding_storage_image_update_after_bind: s12
            .descriptor_binding_storage_image_update_after_bind,
        descriptor_binding_update_unused_while_pending: s12
            .descriptor_binding_update_unused_while_pending,
        shader_sampled_image_array_non_uniform_indexing: s12
            .shader_sampled_image_array_non_uniform_indexing,
        shader_storage_image_array_non_uniform_indexing: s12
            .shader_storage_image_array_non_uniform_indexing,
        buffer_device_address: s12.buffer_device_address,
        timeline_semaphore: s12.timeline_semaphore,
        host_query_reset: s12.host_query_reset,
        scalar_block_layout: s12.scalar_block_layout,
        vulkan_memory_model: s12.vulkan_memory_model,
        vulkan_memory_model_device_scope: s12.vulkan_memory_model_device_scope,
        shader_int8: s12.shader_int8,
        shader_buffer_int64_atomics: s12.shader_buffer_int64_atomics,
        shader_float16: s12.shader_float16,
        storage_buffer8_bit_access: s12.storage_buffer8_bit_access,
        uniform_and_storage_buffer8_bit_access: s12.uniform_and_storage_buffer8_bit_access,
        draw_indirect_count: s12.draw_indirect_count,
        sampler_filter_minmax: s12.sampler_filter_minmax,
        shader_output_layer: s12.shader_output_layer,
        shader_output_viewport_index: s12.shader_output_viewport_index,
        ..Default::default()
    };
    let f13 = vk::PhysicalDeviceVulkan13Features {
        dynamic_rendering: s13.dynamic_rendering,
        synchronization2: s13.synchronization2,
        maintenance4: s13.maintenance4,
        shader_demote_to_helper_invocation: s13.shader_demote_to_helper_invocation,
        subgroup_size_control: s13.subgroup_size_control,
        compute_full_subgroups: s13.compute_full_subgroups,
        ..Default::default()
    };
    EnabledFeatures { f10, f11, f12, f13 }
}
