//! The Vulkan context: instance, validation, device choice, queue, allocator, the timeline
//! that every submission signals, and deferred destruction.
//!
//! # Deferred destruction
//! Every submission made through the context signals its timeline semaphore with the next
//! value. When a resource is dropped, its Vulkan objects are queued with the value of the latest
//! submission (the last one that can still use them) and destroyed once the GPU has passed that
//! value ([`Context::collect_garbage`], called on every submission and frame begin). A resource
//! must therefore not be dropped between recording a command buffer that uses it and submitting
//! that command buffer.

use std::ffi::{c_char, CStr, CString};
use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ash::vk;
use gpu_allocator::vulkan::{Allocator, AllocatorCreateDesc};

use crate::caps::{self, Caps};
use crate::debug::{messenger_callback, MessageCounts, MessageLog};

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

/// Which physical device to use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DeviceSelector {
    /// The environment variable `XPG_DEVICE` (an index or part of a name) if set, else the best
    /// suitable device: discrete, then integrated, virtual, CPU.
    #[default]
    Auto,
    /// The n-th physical device the loader lists.
    Index(usize),
    /// The first device whose name contains this text (case-insensitive).
    Name(String),
}

/// How to create a [`Context`].
#[derive(Debug, Clone)]
pub struct ContextDesc {
    /// Application name given to the driver.
    pub app_name: String,
    /// Enable the Khronos validation layer with synchronization validation.
    pub validation: bool,
    /// Which device.
    pub device: DeviceSelector,
    /// Uploads always go through the staging ring, even to host-visible memory (on lavapipe
    /// all memory is host-visible; this is how the staging path gets tested there).
    pub force_staging: bool,
    /// Where to load and save the pipeline cache; `None` keeps it in memory only.
    pub pipeline_cache_path: Option<PathBuf>,
    /// Ask the driver for each pipeline's statistics (VK_KHR_pipeline_executable_properties,
    /// when [`Caps::pipeline_executable_info`]): pipelines are then made with
    /// `CAPTURE_STATISTICS` and [`crate::Pipeline::statistics`] reads them (registers,
    /// occupancy, spills, as the driver names them). For benchmarks and tuning; off by default.
    pub shader_statistics: bool,
}

impl Default for ContextDesc {
    fn default() -> Self {
        Self {
            app_name: "xpg".into(),
            validation: false,
            device: DeviceSelector::Auto,
            force_staging: false,
            pipeline_cache_path: None,
            shader_statistics: false,
        }
    }
}

/// The surface extensions a context enables when the loader offers them.
pub(crate) const SURFACE_EXTENSIONS: [&CStr; 6] = [
    ash::khr::surface::NAME,
    ash::khr::xlib_surface::NAME,
    ash::khr::xcb_surface::NAME,
    ash::khr::wayland_surface::NAME,
    ash::khr::win32_surface::NAME,
    ash::ext::metal_surface::NAME,
];

/// Errors of [`Context::new`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The Vulkan loader (libvulkan.so.1) could not be loaded.
    #[error("cannot load the Vulkan loader: {0} (install libvulkan1; scripts/setup.sh does)")]
    Loader(#[from] ash::LoadingError),
    /// Validation was asked for but the layer is not installed.
    #[error("validation requested but VK_LAYER_KHRONOS_validation is not installed (package vulkan-validationlayers)")]
    NoValidationLayer,
    /// No device fits.
    #[error("no suitable Vulkan device: {0}")]
    NoDevice(String),
    /// The chosen device lacks required features.
    #[error("device '{device}' lacks required features: {}", .missing.join(", "))]
    MissingFeatures {
        /// The device.
        device: String,
        /// What it lacks.
        missing: Vec<&'static str>,
    },
    /// A Vulkan call failed.
    #[error("{call} failed: {result}")]
    Vk {
        /// The call.
        call: &'static str,
        /// Its result.
        result: vk::Result,
    },
    /// The memory allocator failed to start.
    #[error("gpu-allocator: {0}")]
    Allocator(#[from] gpu_allocator::AllocationError),
}

/// Errors of GPU work after set-up (submissions, waits, allocations).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// A Vulkan call failed.
    #[error("{call} failed: {result}")]
    Vk {
        /// The call.
        call: &'static str,
        /// Its result.
        result: vk::Result,
    },
    /// Memory allocation failed.
    #[error("allocation of {what} failed: {source}")]
    Allocation {
        /// What was being allocated.
        what: String,
        /// The allocator's error.
        source: gpu_allocator::AllocationError,
    },
    /// Invalid use of the API (wrong sizes, out-of-range mip level, ...).
    #[error("{0}")]
    Invalid(String),
}

pub(crate) trait VkResultExt<T> {
    fn vk(self, call: &'static str) -> Result<T, GpuError>;
}
impl<T> VkResultExt<T> for Result<T, vk::Result> {
    fn vk(self, call: &'static str) -> Result<T, GpuError> {
        self.map_err(|result| GpuError::Vk { call, result })
    }
}
fn ctx_vk<T>(r: Result<T, vk::Result>, call: &'static str) -> Result<T, ContextError> {
    r.map_err(|result| ContextError::Vk { call, result })
}

type Garbage = Box<dyn FnOnce(&ash::Device, &mut Allocator) + Send>;

/// The state shared by the context and every resource made from it.
pub(crate) struct Shared {
    pub entry: ash::Entry,
    pub instance: ash::Instance,
    pub physical: vk::PhysicalDevice,
    pub device: ash::Device,
    pub caps: Caps,
    pub queue: vk::Queue,
    pub queue_family: u32,
    queue_lock: Mutex<()>,
    pub allocator: ManuallyDrop<Arc<Mutex<Allocator>>>,
    pub timeline: vk::Semaphore,
    /// The value the latest submission signals.
    submitted: AtomicU64,
    garbage: Mutex<Vec<(u64, Garbage)>>,
    pub pipeline_cache: vk::PipelineCache,
    pipeline_cache_path: Option<PathBuf>,
    pub force_staging: bool,
    debug_instance: Option<(ash::ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT)>,
    pub debug_device: Option<ash::ext::debug_utils::Device>,
    pub push_descriptor: ash::khr::push_descriptor::Device,
    /// Ray tracing entry points (when [`Caps::ray_tracing`]).
    pub ray_tracing: Option<RayTracingFns>,
    /// VK_KHR_pipeline_executable_properties, enabled ([`ContextDesc::shader_statistics`]
    /// and [`Caps::pipeline_executable_info`]).
    pub executable_properties: Option<ash::khr::pipeline_executable_properties::Device>,
    messages: Box<MessageLog>,
    /// VK_KHR_surface (instance) and VK_KHR_swapchain (device) are enabled.
    swapchain: bool,
}

/// The entry points of the ray tracing extensions.
pub(crate) struct RayTracingFns {
    pub accel: ash::khr::acceleration_structure::Device,
    pub pipeline: ash::khr::ray_tracing_pipeline::Device,
}

impl Shared {
    /// Queues `f` to run once the GPU has finished every submission made so far.
    pub(crate) fn defer(&self, f: impl FnOnce(&ash::Device, &mut Allocator) + Send + 'static) {
        let value = self.submitted.load(Ordering::Acquire);
        if let Ok(mut g) = self.garbage.lock() {
            g.push((value, Box::new(f)));
        }
    }

    pub(crate) fn completed_value(&self) -> u64 {
        // SAFETY: the timeline semaphore belongs to this device and lives as long as `self`.
        unsafe { self.device.get_semaphore_counter_value(self.timeline) }.unwrap_or(0)
    }

    pub(crate) fn collect_garbage(&self) {
        let done = self.completed_value();
        let ready: Vec<Garbage> = match self.garbage.lock() {
            Ok(mut g) => {
                let (ready, keep): (Vec<_>, Vec<_>) = g.drain(..).partition(|(v, _)| *v <= done);
                *g = keep;
                ready.into_iter().map(|(_, f)| f).collect()
            }
            Err(_) => return,
        };
        if ready.is_empty() {
            return;
        }
        let mut alloc = self.allocator.lock().unwrap_or_else(|e| e.into_inner());
        for f in ready {
            f(&self.device, &mut alloc);
        }
    }

    /// Submits to the universal queue, adding a signal of the context timeline; returns the
    /// value that signals completion.
    pub(crate) fn submit(
        &self,
        cmds: &[vk::CommandBuffer],
        waits: &[vk::SemaphoreSubmitInfo<'_>],
        signals: &[vk::SemaphoreSubmitInfo<'_>],
    ) -> Result<u64, GpuError> {
        let _q = self.queue_lock.lock().unwrap_or_else(|e| e.into_inner());
        let value = self.submitted.load(Ordering::Acquire) + 1;
        let cmd_infos: Vec<_> = cmds
            .iter()
            .map(|&c| vk::CommandBufferSubmitInfo::default().command_buffer(c))
            .collect();
        let mut sig: Vec<vk::SemaphoreSubmitInfo<'_>> = signals.to_vec();
        sig.push(
            vk::SemaphoreSubmitInfo::default()
                .semaphore(self.timeline)
                .value(value)
                .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS),
        );
        let submit = vk::SubmitInfo2::default()
            .command_buffer_infos(&cmd_infos)
            .wait_semaphore_infos(waits)
            .signal_semaphore_infos(&sig);
        // SAFETY: the queue is externally synchronised by `queue_lock`; the command buffers are
        // recorded and executable (the caller's contract), the semaphores belong to this device.
        unsafe { self.device.queue_submit2(self.queue, &[submit], vk::Fence::null()) }
            .vk("vkQueueSubmit2")?;
        self.submitted.store(value, Ordering::Release);
        drop(_q);
        self.collect_garbage();
        Ok(value)
    }

    /// Blocks until the timeline reaches `value`.
    pub(crate) fn wait(&self, value: u64) -> Result<(), GpuError> {
        let sems = [self.timeline];
        let values = [value];
        let info = vk::SemaphoreWaitInfo::default().semaphores(&sems).values(&values);
        // SAFETY: the semaphore belongs to this device.
        unsafe { self.device.wait_semaphores(&info, u64::MAX) }.vk("vkWaitSemaphores")?;
        self.collect_garbage();
        Ok(())
    }

    pub(crate) fn latest_submitted(&self) -> u64 {
        self.submitted.load(Ordering::Acquire)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: every object below was created from this device/instance; after
        // device_wait_idle no work uses them, and each is destroyed exactly once, children first.
        unsafe {
            let _ = self.device.device_wait_idle();
            let all: Vec<Garbage> = match self.garbage.get_mut() {
                Ok(g) => g.drain(..).map(|(_, f)| f).collect(),
                Err(e) => e.into_inner().drain(..).map(|(_, f)| f).collect(),
            };
            {
                let mut alloc = self.allocator.lock().unwrap_or_else(|e| e.into_inner());
                for f in all {
                    f(&self.device, &mut alloc);
                }
            }
            if let Some(path) = &self.pipeline_cache_path {
                if let Ok(data) = self.device.get_pipeline_cache_data(self.pipeline_cache) {
                    // Write then rename, so an interrupted write never leaves a truncated cache.
                    let tmp = path.with_extension("tmp");
                    if let Err(e) =
                        std::fs::write(&tmp, data).and_then(|_| std::fs::rename(&tmp, path))
                    {
                        tracing::warn!("cannot save pipeline cache {}: {e}", path.display());
                    }
                }
            }
            self.device.destroy_pipeline_cache(self.pipeline_cache, None);
            self.device.destroy_semaphore(self.timeline, None);
            let alloc = ManuallyDrop::take(&mut self.allocator);
            if Arc::strong_count(&alloc) > 1 {
                // Someone still holds the allocator (Context::allocator): destroying the device
                // under it would let safe code call into a destroyed device. Leak both instead.
                tracing::error!(
                    "the allocator is still shared when the context is dropped: leaking the device"
                );
                std::mem::forget(alloc);
                if let Some((di, m)) = self.debug_instance.take() {
                    di.destroy_debug_utils_messenger(m, None);
                }
                return;
            }
            drop(alloc);
            self.device.destroy_device(None);
            if let Some((di, m)) = self.debug_instance.take() {
                di.destroy_debug_utils_messenger(m, None);
            }
            self.instance.destroy_instance(None);
        }
    }
}

/// The Vulkan context. Cheap to clone (an `Arc`); resources keep it alive.
#[derive(Clone)]
pub struct Context {
    pub(crate) shared: Arc<Shared>,
    /// The one bindless heap of this device (made on first use; outside `Shared`, since the
    /// heap holds an `Arc<Shared>` itself).
    heap: Arc<std::sync::OnceLock<crate::BindlessHeap>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("device", &self.shared.caps.device_name).finish()
    }
}

impl Context {
    /// Creates the instance, the device and everything shared.
    ///
    /// ```no_run
    /// let ctx = xpg::Context::new(&xpg::ContextDesc { validation: true, ..Default::default() })?;
    /// println!("{}", ctx.caps().device_name);
    /// # Ok::<(), xpg::ContextError>(())
    /// ```
    pub fn new(desc: &ContextDesc) -> Result<Self, ContextError> {
        let started = std::time::Instant::now();
        let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1e3;
        // SAFETY: loading the system Vulkan loader; its entry points are used per the spec.
        let entry = unsafe { ash::Entry::load() }?;

        // ---- instance
        // SAFETY: plain enumeration calls on a loaded entry.
        let layers = unsafe { entry.enumerate_instance_layer_properties() }.unwrap_or_default();
        let has_layer = layers.iter().any(|l| l.layer_name_as_c_str() == Ok(VALIDATION_LAYER));
        if desc.validation && !has_layer {
            return Err(ContextError::NoValidationLayer);
        }
        // SAFETY: as above.
        let inst_exts =
            unsafe { entry.enumerate_instance_extension_properties(None) }.unwrap_or_default();
        let has_ext = |n: &CStr| inst_exts.iter().any(|e| e.extension_name_as_c_str() == Ok(n));
        let debug_utils = has_ext(ash::ext::debug_utils::NAME);
        let mut ext_names: Vec<*const c_char> = Vec::new();
        if debug_utils {
            ext_names.push(ash::ext::debug_utils::NAME.as_ptr());
        }
        // Window surfaces: every platform surface extension the loader offers, so that a
        // windowed program needs nothing special at context creation (headless ones are
        // unaffected: these extensions create nothing by themselves).
        let surface = has_ext(ash::khr::surface::NAME);
        if surface {
            for name in SURFACE_EXTENSIONS {
                if has_ext(name) {
                    ext_names.push(name.as_ptr());
                }
            }
        }
        let mut layer_names: Vec<*const c_char> = Vec::new();
        let mut validation_features_ext = false;
        if desc.validation {
            layer_names.push(VALIDATION_LAYER.as_ptr());
            // SAFETY: the layer name is a valid NUL-terminated string.
            let lexts =
                unsafe { entry.enumerate_instance_extension_properties(Some(VALIDATION_LAYER)) }
                    .unwrap_or_default();
            if lexts
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(ash::ext::validation_features::NAME))
            {
                ext_names.push(ash::ext::validation_features::NAME.as_ptr());
                validation_features_ext = true;
            }
        }
        let app_name = CString::new(desc.app_name.replace('\0', "")).unwrap_or_default();
        let app = vk::ApplicationInfo::default()
            .application_name(&app_name)
            .engine_name(c"xpg")
            .api_version(vk::API_VERSION_1_3);
        // Synchronization validation: the Debian layer 1.3.239 predates VK_EXT_layer_settings.
        let enables = [vk::ValidationFeatureEnableEXT::SYNCHRONIZATION_VALIDATION];
        let mut vfeatures =
            vk::ValidationFeaturesEXT::default().enabled_validation_features(&enables);
        let mut inst_info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_layer_names(&layer_names)
            .enabled_extension_names(&ext_names);
        if desc.validation && validation_features_ext {
            inst_info = inst_info.push_next(&mut vfeatures);
        }
        // SAFETY: every pointer in inst_info refers to locals that outlive the call.
        let instance =
            ctx_vk(unsafe { entry.create_instance(&inst_info, None) }, "vkCreateInstance")?;
        tracing::debug!("Vulkan instance after {:.1} ms", ms(started));

        let messages = Box::new(MessageLog::default());
        let debug_instance = if debug_utils {
            let di = ash::ext::debug_utils::Instance::new(&entry, &instance);
            let info = vk::DebugUtilsMessengerCreateInfoEXT::default()
                .message_severity(
                    vk::DebugUtilsMessageSeverityFlagsEXT::ERROR
                        | vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
                        | vk::DebugUtilsMessageSeverityFlagsEXT::INFO,
                )
                .message_type(
                    vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                        | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                        | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE,
                )
                .pfn_user_callback(Some(messenger_callback))
                .user_data(std::ptr::from_ref::<MessageLog>(&messages).cast_mut().cast());
            // SAFETY: the callback is a valid `extern "system"` fn; user_data points at the boxed
            // log, which `Shared` owns and drops after destroying the messenger.
            match unsafe { di.create_debug_utils_messenger(&info, None) } {
                Ok(m) => Some((di, m)),
                Err(e) => {
                    tracing::warn!("vkCreateDebugUtilsMessengerEXT failed: {e}");
                    None
                }
            }
        } else {
            None
        };
        // From here on, failure must destroy the instance: build the rest in a closure.
        let destroy_instance = |instance: &ash::Instance,
                                dbg: Option<(
            ash::ext::debug_utils::Instance,
            vk::DebugUtilsMessengerEXT,
        )>| {
            // SAFETY: nothing created from the instance survives (the device creation failed).
            unsafe {
                if let Some((di, m)) = dbg {
                    di.destroy_debug_utils_messenger(m, None);
                }
                instance.destroy_instance(None);
            }
        };
        let (physical, caps, queue_family) = match pick_device(&instance, &desc.device) {
            Ok(v) => v,
            Err(e) => {
                destroy_instance(&instance, debug_instance);
                return Err(e);
            }
        };
        tracing::info!(device = %caps.device_name, driver = %caps.driver, "Vulkan device");

        // ---- device
        let mut feats = caps::enabled_features(&instance, physical);
        let prio = [1.0f32];
        let qinfo = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(queue_family)
            .queue_priorities(&prio)];
        let mut f2 = vk::PhysicalDeviceFeatures2::default()
            .features(feats.f10)
            .push_next(&mut feats.f11)
            .push_next(&mut feats.f12)
            .push_next(&mut feats.f13);
        let mut device_exts = vec![ash::khr::push_descriptor::NAME.as_ptr()];
        // SAFETY: plain enumeration on a valid physical device.
        let dev_exts =
            unsafe { instance.enumerate_device_extension_properties(physical) }.unwrap_or_default();
        let swapchain = surface
            && dev_exts
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(ash::khr::swapchain::NAME));
        if swapchain {
            device_exts.push(ash::khr::swapchain::NAME.as_ptr());
        }
        // Ray tracing (pipeline + acceleration structures) when the device has it.
        let mut accel_features = vk::PhysicalDeviceAccelerationStructureFeaturesKHR::default()
            .acceleration_structure(true)
            .descriptor_binding_acceleration_structure_update_after_bind(caps.rt.update_after_bind);
        let mut rt_features =
            vk::PhysicalDeviceRayTracingPipelineFeaturesKHR::default().ray_tracing_pipeline(true);
        if caps.ray_tracing {
            device_exts.extend([
                ash::khr::acceleration_structure::NAME.as_ptr(),
                ash::khr::ray_tracing_pipeline::NAME.as_ptr(),
                ash::khr::deferred_host_operations::NAME.as_ptr(),
            ]);
            f2 = f2.push_next(&mut accel_features).push_next(&mut rt_features);
        }
        let statistics = desc.shader_statistics && caps.pipeline_executable_info;
        let mut exec_features =
            vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR::default()
                .pipeline_executable_info(true);
        if statistics {
            device_exts.push(ash::khr::pipeline_executable_properties::NAME.as_ptr());
            f2 = f2.push_next(&mut exec_features);
        }
        let dev_info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&qinfo)
            .enabled_extension_names(&device_exts)
            .push_next(&mut f2);
        let t_device = std::time::Instant::now();
        tracing::debug!("device chosen after {:.1} ms", ms(started));
        // SAFETY: the feature structs enable only what the device reported as supported.
        let device = match unsafe { instance.create_device(physical, &dev_info, None) } {
            Ok(d) => d,
            Err(result) => {
                destroy_instance(&instance, debug_instance);
                return Err(ContextError::Vk { call: "vkCreateDevice", result });
            }
        };
        // SAFETY: the family and index 0 were requested in `dev_info`.
        let queue = unsafe { device.get_device_queue(queue_family, 0) };

        tracing::debug!("vkCreateDevice took {:.1} ms", ms(t_device));
        let allocator = Allocator::new(&AllocatorCreateDesc {
            instance: instance.clone(),
            device: device.clone(),
            physical_device: physical,
            debug_settings: Default::default(),
            buffer_device_address: true,
            allocation_sizes: Default::default(),
        });
        let allocator = match allocator {
            Ok(a) => a,
            Err(e) => {
                // SAFETY: nothing was created from the device yet.
                unsafe { device.destroy_device(None) };
                destroy_instance(&instance, debug_instance);
                return Err(e.into());
            }
        };
        let mut tl_type = vk::SemaphoreTypeCreateInfo::default()
            .semaphore_type(vk::SemaphoreType::TIMELINE)
            .initial_value(0);
        // SAFETY: valid create info; timelineSemaphore is a required, enabled feature.
        let timeline = unsafe {
            device
                .create_semaphore(&vk::SemaphoreCreateInfo::default().push_next(&mut tl_type), None)
        };
        // SAFETY: `physical` belongs to `instance`.
        let props = unsafe { instance.get_physical_device_properties(physical) };
        let initial = desc
            .pipeline_cache_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .filter(|data| pipeline_cache_matches(data, &props))
            .unwrap_or_default();
        let create_cache = |data: &[u8]| {
            // SAFETY: the driver validates the header of `data` and ignores a mismatching cache.
            unsafe {
                device.create_pipeline_cache(
                    &vk::PipelineCacheCreateInfo::default().initial_data(data),
                    None,
                )
            }
        };
        let pipeline_cache = create_cache(&initial).or_else(|_| create_cache(&[]));
        let debug_device =
            debug_instance.as_ref().map(|_| ash::ext::debug_utils::Device::new(&instance, &device));
        let push_descriptor = ash::khr::push_descriptor::Device::new(&instance, &device);
        let ray_tracing = caps.ray_tracing.then(|| RayTracingFns {
            accel: ash::khr::acceleration_structure::Device::new(&instance, &device),
            pipeline: ash::khr::ray_tracing_pipeline::Device::new(&instance, &device),
        });
        let executable_properties = statistics
            .then(|| ash::khr::pipeline_executable_properties::Device::new(&instance, &device));
        let shared = Shared {
            entry,
            instance,
            physical,
            device,
            caps,
            queue,
            queue_family,
            queue_lock: Mutex::new(()),
            allocator: ManuallyDrop::new(Arc::new(Mutex::new(allocator))),
            timeline: vk::Semaphore::null(),
            submitted: AtomicU64::new(0),
            garbage: Mutex::new(Vec::new()),
            pipeline_cache: vk::PipelineCache::null(),
            pipeline_cache_path: desc.pipeline_cache_path.clone(),
            force_staging: desc.force_staging,
            debug_instance,
            debug_device,
            push_descriptor,
            ray_tracing,
            executable_properties,
            messages,
            swapchain,
        };
        // Fill the handles in now, so that `Shared::drop` cleans up on any failure below.
        let mut shared = shared;
        shared.timeline = ctx_vk(timeline, "vkCreateSemaphore")?;
        shared.pipeline_cache = ctx_vk(pipeline_cache, "vkCreatePipelineCache")?;
        tracing::debug!("context ready after {:.1} ms", ms(started));
        Ok(Self { shared: Arc::new(shared), heap: Arc::default() })
    }

    /// The bindless heap shared by everything on this device (the scene's textures, renderers'
    /// pipelines, users' passes): one heap, so every pipeline layout that uses it is
    /// compatible. Made on first use.
    pub fn bindless(&self) -> Result<&crate::BindlessHeap, GpuError> {
        if let Some(h) = self.heap.get() {
            return Ok(h);
        }
        let heap = crate::BindlessHeap::new(self)?;
        // Another thread may have won the race; its heap is kept and this one dropped.
        let _ = self.heap.set(heap);
        self.heap.get().ok_or_else(|| GpuError::Invalid("bindless heap not set".into()))
    }

    /// The probed features and limits.
    pub fn caps(&self) -> &Caps {
        &self.shared.caps
    }
    /// The logical device.
    pub fn device(&self) -> &ash::Device {
        &self.shared.device
    }
    /// The instance.
    pub fn instance(&self) -> &ash::Instance {
        &self.shared.instance
    }
    /// The loader entry.
    pub fn entry(&self) -> &ash::Entry {
        &self.shared.entry
    }
    /// The physical device.
    pub fn physical_device(&self) -> vk::PhysicalDevice {
        self.shared.physical
    }
    /// The universal (graphics + compute + transfer) queue and its family. Submit through
    /// [`Context::submit`] (it signals the timeline that deferred destruction relies on) and use
    /// the queue for anything else (present) only inside [`Context::with_queue`].
    pub fn queue(&self) -> (vk::Queue, u32) {
        (self.shared.queue, self.shared.queue_family)
    }

    /// Runs `f` with the queue while holding the lock that externally synchronises it (for
    /// `vkQueuePresentKHR`).
    pub fn with_queue<R>(&self, f: impl FnOnce(vk::Queue) -> R) -> R {
        let _q = self.shared.queue_lock.lock().unwrap_or_else(|e| e.into_inner());
        f(self.shared.queue)
    }

    /// The memory allocator, shared (the ImGui renderer uses the same one). Drop every clone
    /// before the last [`Context`]: a clone still alive then makes the context leak the device
    /// rather than destroy it under the allocator.
    pub fn allocator(&self) -> Arc<Mutex<Allocator>> {
        Arc::clone(&self.shared.allocator)
    }
    /// The pipeline cache every pipeline of this context is created with.
    pub fn pipeline_cache(&self) -> vk::PipelineCache {
        self.shared.pipeline_cache
    }
    /// Whether uploads are forced through the staging ring.
    pub fn force_staging(&self) -> bool {
        self.shared.force_staging
    }

    /// Validation messages (warnings and errors) received so far by this context.
    pub fn validation_messages(&self) -> MessageCounts {
        self.shared.messages.snapshot()
    }

    /// Submits command buffers to the queue. The context timeline is signalled with a new value
    /// that is returned; wait for it with [`Context::wait`].
    ///
    /// # Safety
    /// The command buffers are executable (recorded and ended, from a pool of this device's
    /// queue family), and every resource they use stays alive until the returned value is
    /// reached (xpg resources guarantee this when dropped after the submission); the semaphores
    /// are live semaphores of this device, with valid values for timeline ones.
    pub unsafe fn submit(
        &self,
        cmds: &[vk::CommandBuffer],
        waits: &[vk::SemaphoreSubmitInfo<'_>],
        signals: &[vk::SemaphoreSubmitInfo<'_>],
    ) -> Result<u64, GpuError> {
        self.shared.submit(cmds, waits, signals)
    }

    /// Whether windows can be presented to (VK_KHR_surface and VK_KHR_swapchain enabled).
    pub fn supports_swapchain(&self) -> bool {
        self.shared.swapchain
    }

    /// The timeline value the latest submission signals (0: none yet). Work recorded now is
    /// in a later submission: a resource that work uses may be dropped once this value has
    /// moved past the one read when it was recorded (its destruction is then deferred until
    /// that submission finishes).
    pub fn latest_submitted(&self) -> u64 {
        self.shared.latest_submitted()
    }

    /// Blocks until the GPU has finished the submission that signalled `value`.
    pub fn wait(&self, value: u64) -> Result<(), GpuError> {
        self.shared.wait(value)
    }

    /// Blocks until every submission so far has finished, then frees deferred garbage.
    pub fn wait_idle(&self) -> Result<(), GpuError> {
        self.shared.wait(self.shared.latest_submitted())
    }

    /// Runs `release` once the GPU has finished every submission made so far: the way to
    /// destroy Vulkan objects made outside xpg's resource types (the framegraph's pooled
    /// transients). It gets the device and the allocator.
    pub fn defer_release(
        &self,
        release: impl FnOnce(&ash::Device, &mut Allocator) + Send + 'static,
    ) {
        self.shared.defer(release);
    }

    /// Frees resources dropped since the GPU finished using them.
    pub fn collect_garbage(&self) {
        self.shared.collect_garbage();
    }

    /// The context's timeline semaphore (signalled by every submission).
    pub fn timeline(&self) -> vk::Semaphore {
        self.shared.timeline
    }

    /// Names a Vulkan object for debuggers and validation messages (no-op without debug utils).
    pub(crate) fn set_name<H: vk::Handle>(&self, handle: H, name: &str) {
        if let Some(dd) = &self.shared.debug_device {
            let Ok(name) = CString::new(name.replace('\0', "")) else { return };
            let info =
                vk::DebugUtilsObjectNameInfoEXT::default().object_handle(handle).object_name(&name);
            // SAFETY: crate-internal: only called with live handles this context created.
            let _ = unsafe { dd.set_debug_utils_object_name(&info) };
        }
    }

    /// Opens a debug label region in `cmd` (shown by RenderDoc, Nsight, validation messages).
    pub fn begin_label(&self, cmd: vk::CommandBuffer, name: &str, color: [f32; 4]) {
        if let Some(dd) = &self.shared.debug_device {
            let Ok(name) = CString::new(name.replace('\0', "")) else { return };
            let label = vk::DebugUtilsLabelEXT::default().label_name(&name).color(color);
            // SAFETY: `cmd` is in the recording state (caller's contract).
            unsafe { dd.cmd_begin_debug_utils_label(cmd, &label) };
        }
    }

    /// Closes the label region opened last in `cmd`.
    pub fn end_label(&self, cmd: vk::CommandBuffer) {
        if let Some(dd) = &self.shared.debug_device {
            // SAFETY: `cmd` is recording and has an open label (caller's contract).
            unsafe { dd.cmd_end_debug_utils_label(cmd) };
        }
    }
}

/// Picks a physical device and its universal queue family.
fn pick_device(
    instance: &ash::Instance,
    selector: &DeviceSelector,
) -> Result<(vk::PhysicalDevice, Caps, u32), ContextError> {
    // SAFETY: enumeration on a valid instance.
    let devices =
        ctx_vk(unsafe { instance.enumerate_physical_devices() }, "vkEnumeratePhysicalDevices")?;
    if devices.is_empty() {
        return Err(ContextError::NoDevice(
            "the loader lists no physical device (no Vulkan driver installed?)".into(),
        ));
    }
    let selector = match selector {
        DeviceSelector::Auto => match std::env::var("XPG_DEVICE") {
            Ok(v) if !v.trim().is_empty() => match v.trim().parse::<usize>() {
                Ok(i) => DeviceSelector::Index(i),
                Err(_) => DeviceSelector::Name(v.trim().to_string()),
            },
            _ => DeviceSelector::Auto,
        },
        s => s.clone(),
    };
    let probed: Vec<(vk::PhysicalDevice, Caps, Option<u32>)> = devices
        .iter()
        .map(|&pd| (pd, caps::probe(instance, pd), universal_family(instance, pd)))
        .collect();
    let names = || {
        probed
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{i}: {}", p.1.device_name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match &selector {
        DeviceSelector::Index(i) => probed.get(*i).ok_or_else(|| {
            ContextError::NoDevice(format!("device index {i} out of range (devices: {})", names()))
        })?,
        DeviceSelector::Name(n) => {
            let n = n.to_lowercase();
            probed.iter().find(|p| p.1.device_name.to_lowercase().contains(&n)).ok_or_else(
                || {
                    ContextError::NoDevice(format!(
                        "no device name contains '{n}' (devices: {})",
                        names()
                    ))
                },
            )?
        }
        DeviceSelector::Auto => {
            let rank = |t: vk::PhysicalDeviceType| match t {
                vk::PhysicalDeviceType::DISCRETE_GPU => 0,
                vk::PhysicalDeviceType::INTEGRATED_GPU => 1,
                vk::PhysicalDeviceType::VIRTUAL_GPU => 2,
                vk::PhysicalDeviceType::CPU => 3,
                _ => 4,
            };
            probed
                .iter()
                .filter(|p| p.1.missing_required().is_empty() && p.2.is_some())
                .min_by_key(|p| rank(p.1.device_type))
                .or_else(|| probed.first())
                .ok_or_else(|| ContextError::NoDevice(names()))?
        }
    };
    let missing = chosen.1.missing_required();
    if !missing.is_empty() {
        return Err(ContextError::MissingFeatures {
            device: chosen.1.device_name.clone(),
            missing,
        });
    }
    let family = chosen.2.ok_or_else(|| {
        ContextError::NoDevice(format!("{} has no graphics+compute queue", chosen.1.device_name))
    })?;
    let mut caps = chosen.1.clone();
    // SAFETY: `family` indexes the device's queue family list.
    let qprops = unsafe { instance.get_physical_device_queue_family_properties(chosen.0) };
    caps.timestamps = qprops[family as usize].timestamp_valid_bits > 0;
    Ok((chosen.0, caps, family))
}

fn universal_family(instance: &ash::Instance, pd: vk::PhysicalDevice) -> Option<u32> {
    // SAFETY: `pd` belongs to `instance`.
    let props = unsafe { instance.get_physical_device_queue_family_properties(pd) };
    let want = vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE;
    props.iter().position(|p| p.queue_flags.contains(want)).map(|i| i as u32)
}

/// Whether `data` starts with a pipeline cache header (version one) for this very device, so
/// that a stale or foreign cache file is never handed to the driver.
fn pipeline_cache_matches(data: &[u8], props: &vk::PhysicalDeviceProperties) -> bool {
    let word =
        |i: usize| data.get(i * 4..i * 4 + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let ok = word(0).is_some_and(|len| len >= 32 && len as usize <= data.len())
        && word(1) == Some(vk::PipelineCacheHeaderVersion::ONE.as_raw() as u32)
        && word(2) == Some(props.vendor_id)
        && word(3) == Some(props.device_id)
        && data.get(16..32) == Some(&props.pipeline_cache_uuid[..]);
    if !ok && !data.is_empty() {
        tracing::info!("ignoring a pipeline cache file made for another device or driver");
    }
    ok
}
