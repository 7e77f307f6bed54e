//! Compute and graphics pipelines (dynamic rendering), with layouts built from reflection of
//! the SPIR-V and created through the context's `vk::PipelineCache`.
//!
//! # Layouts from reflection
//! Each stage's SPIR-V is reflected (`rspirv-reflect`): descriptor bindings per set and the push
//! constant block. Set 0 is the bindless heap ([`crate::bindless`]); a shader that declares
//! anything at set 0 that is not the heap's layout is rejected with a clear error. Other sets get
//! set layouts made from the reflected bindings (owned by the pipeline layout). Push constants
//! get one range covering the largest block, visible to every stage of the pipeline.

use std::collections::BTreeMap;
use std::sync::Arc;

use ash::vk;
use rspirv_reflect::{BindingCount, DescriptorType, Reflection};

use crate::bindless::{binding, BindlessHeap, BINDLESS_SET};
use crate::context::{Context, GpuError, Shared};
use crate::shader::EntryPointCode;

/// Errors of pipeline creation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The SPIR-V could not be reflected.
    #[error("reflection of entry point `{entry}` failed: {message}")]
    Reflection {
        /// The entry point.
        entry: String,
        /// What failed.
        message: String,
    },
    /// The shader's resources do not fit the framework's layout rules.
    #[error("entry point `{entry}`: {message}")]
    Layout {
        /// The entry point.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// A Vulkan call failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// `CAPTURE_STATISTICS` when the context asked for pipeline statistics.
pub(crate) fn capture_flags(ctx: &Context) -> vk::PipelineCreateFlags {
    if ctx.shared.executable_properties.is_some() {
        vk::PipelineCreateFlags::CAPTURE_STATISTICS_KHR
    } else {
        vk::PipelineCreateFlags::empty()
    }
}

/// One statistic of a pipeline executable, as the driver gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum StatisticValue {
    /// A yes/no fact.
    Bool(bool),
    /// A signed count.
    I64(i64),
    /// An unsigned count (registers, bytes, ...).
    U64(u64),
    /// A ratio or a measure.
    F64(f64),
}

impl std::fmt::Display for StatisticValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bool(v) => write!(f, "{v}"),
            Self::I64(v) => write!(f, "{v}"),
            Self::U64(v) => write!(f, "{v}"),
            Self::F64(v) => write!(f, "{v}"),
        }
    }
}

/// The statistics of one executable of a pipeline (a shader stage as the driver compiled it;
/// a ray tracing pipeline has one per shader, or per group, as the driver chooses).
#[derive(Clone, Debug)]
pub struct ExecutableStatistics {
    /// The driver's name for the executable.
    pub name: String,
    /// The driver's description of it.
    pub description: String,
    /// The stages it runs.
    pub stages: vk::ShaderStageFlags,
    /// Its subgroup size.
    pub subgroup_size: u32,
    /// (name, value, description) of each statistic.
    pub statistics: Vec<(String, StatisticValue, String)>,
}

fn c_text(chars: &[std::ffi::c_char]) -> String {
    // The driver's strings are NUL-terminated within their fixed arrays.
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub(crate) fn vk_err(call: &'static str) -> impl Fn(vk::Result) -> PipelineError {
    move |result| PipelineError::Gpu(GpuError::Vk { call, result })
}

/// A pipeline layout with the set layouts it owns.
pub struct PipelineLayout {
    shared: Arc<Shared>,
    raw: vk::PipelineLayout,
    owned_set_layouts: Vec<vk::DescriptorSetLayout>,
    push_constants: Option<vk::PushConstantRange>,
    uses_bindless: bool,
    /// Bindings of the push-descriptor set ([`PUSH_SET`]): binding -> (type, count).
    push_set: BTreeMap<u32, (vk::DescriptorType, u32)>,
}

/// The descriptor set index whose descriptors are pushed per draw/dispatch
/// (VK_KHR_push_descriptor): a pass's own images and buffers. The validation layer tracks
/// these exactly, unlike the bindless heap whose every descriptor a shader might reach.
pub const PUSH_SET: u32 = 1;

/// One descriptor to push at [`PUSH_SET`] with [`Pipeline::push_descriptors`].
#[derive(Debug, Clone, Copy)]
pub enum DescriptorWrite {
    /// A storage image view, in layout GENERAL.
    StorageImage {
        /// Binding number.
        binding: u32,
        /// The view.
        view: vk::ImageView,
    },
    /// A sampled image view in layout READ_ONLY_OPTIMAL; `sampler` is used when the binding
    /// is a combined image sampler (`Sampler2D` in Slang).
    SampledImage {
        /// Binding number.
        binding: u32,
        /// The view.
        view: vk::ImageView,
        /// Sampler for combined bindings.
        sampler: vk::Sampler,
    },
    /// A sampler.
    Sampler {
        /// Binding number.
        binding: u32,
        /// The sampler.
        sampler: vk::Sampler,
    },
    /// A storage or uniform buffer range.
    Buffer {
        /// Binding number.
        binding: u32,
        /// The buffer.
        buffer: vk::Buffer,
        /// Offset in bytes.
        offset: u64,
        /// Bytes (`vk::WHOLE_SIZE` for the rest).
        range: u64,
    },
    /// A top-level acceleration structure (`RaytracingAccelerationStructure` in Slang).
    AccelerationStructure {
        /// Binding number.
        binding: u32,
        /// The structure.
        accel: vk::AccelerationStructureKHR,
    },
}

impl std::fmt::Debug for PipelineLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineLayout")
            .field("push_constants", &self.push_constants)
            .field("uses_bindless", &self.uses_bindless)
            .field("extra_sets", &self.owned_set_layouts.len())
            .finish()
    }
}

impl PipelineLayout {
    /// Builds the layout from the reflected SPIR-V of `stages`.
    pub fn from_reflection(
        ctx: &Context,
        stages: &[&EntryPointCode],
        heap: Option<&BindlessHeap>,
    ) -> Result<Self, PipelineError> {
        let mut sets: BTreeMap<u32, BTreeMap<u32, (DescriptorType, u32, vk::ShaderStageFlags)>> =
            BTreeMap::new();
        let mut push_size = 0u32;
        let mut all_stages = vk::ShaderStageFlags::empty();
        for ep in stages {
            all_stages |= ep.stage;
            let bytes: Vec<u8> = ep.spirv.iter().flat_map(|w| w.to_le_bytes()).collect();
            let refl = Reflection::new_from_spirv(&bytes).map_err(|e| {
                PipelineError::Reflection { entry: ep.name.clone(), message: e.to_string() }
            })?;
            let ds = refl.get_descriptor_sets().map_err(|e| PipelineError::Reflection {
                entry: ep.name.clone(),
                message: e.to_string(),
            })?;
            for (set, bindings) in ds {
                for (b, info) in bindings {
                    let count = match info.binding_count {
                        BindingCount::One => 1,
                        BindingCount::StaticSized(n) => n as u32,
                        BindingCount::Unbounded => 0,
                    };
                    let e = sets.entry(set).or_default().entry(b).or_insert((
                        info.ty,
                        count,
                        vk::ShaderStageFlags::empty(),
                    ));
                    if e.0 != info.ty {
                        return Err(PipelineError::Layout {
                            entry: ep.name.clone(),
                            message: format!("set {set} binding {b} ({}) has type {:?} in one stage and {:?} in another", info.name, e.0, info.ty),
                        });
                    }
                    e.2 |= ep.stage;
                }
            }
            if let Some(pc) = refl.get_push_constant_range().map_err(|e| {
                PipelineError::Reflection { entry: ep.name.clone(), message: e.to_string() }
            })? {
                push_size = push_size.max(pc.offset + pc.size);
            }
        }
        let entry_names = stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join("+");
        let layout_err =
            |message: String| PipelineError::Layout { entry: entry_names.clone(), message };
        if push_size > ctx.caps().max_push_constants_size {
            return Err(layout_err(format!(
                "push constants of {push_size} bytes exceed the device limit of {}",
                ctx.caps().max_push_constants_size
            )));
        }
        let uses_bindless = sets.contains_key(&BINDLESS_SET);
        if let Some(s0) = sets.get(&BINDLESS_SET) {
            for (&b, &(ty, _, _)) in s0 {
                let expected = match b {
                    binding::SAMPLED_IMAGES => DescriptorType::SAMPLED_IMAGE,
                    binding::STORAGE_IMAGES => DescriptorType::STORAGE_IMAGE,
                    binding::SAMPLERS => DescriptorType::SAMPLER,
                    binding::ACCELERATION_STRUCTURES => DescriptorType::ACCELERATION_STRUCTURE_KHR,
                    _ => return Err(layout_err(format!("set 0 is the bindless heap; binding {b} is not part of it (import xpg.bindless)"))),
                };
                if ty != expected {
                    return Err(layout_err(format!(
                        "set 0 binding {b} is {ty:?}, the bindless heap has {expected:?} there"
                    )));
                }
            }
        }
        if uses_bindless && heap.is_none() {
            return Err(layout_err(
                "the shader uses the bindless heap (set 0) but no heap was given".into(),
            ));
        }
        let wants_accels = sets
            .get(&BINDLESS_SET)
            .is_some_and(|s0| s0.contains_key(&binding::ACCELERATION_STRUCTURES));
        if wants_accels && heap.is_some_and(|h| h.capacity()[3] == 0) {
            return Err(layout_err(
                "the shader uses the heap's acceleration structures, which this device's heap \
                 does not have (no ray tracing or no update-after-bind for them)"
                    .into(),
            ));
        }
        let device = ctx.device();
        let max_set = sets.keys().next_back().copied();
        let mut set_layouts = Vec::new();
        let mut owned = Vec::new();
        let destroy_owned = |owned: &[vk::DescriptorSetLayout]| {
            for &l in owned {
                // SAFETY: created below, unused.
                unsafe { device.destroy_descriptor_set_layout(l, None) };
            }
        };
        let mut push_set = BTreeMap::new();
        if let Some(max_set) = max_set {
            for set in 0..=max_set {
                if set == BINDLESS_SET {
                    if let Some(h) = heap {
                        set_layouts.push(h.layout());
                        continue;
                    }
                }
                let mut bindings = Vec::new();
                let is_push = set == PUSH_SET;
                for (&b, &(ty, count, st)) in sets.get(&set).into_iter().flatten() {
                    if count == 0 {
                        destroy_owned(&owned);
                        return Err(layout_err(format!("set {set} binding {b}: unbounded arrays belong in the bindless heap (set 0)")));
                    }
                    bindings.push(
                        vk::DescriptorSetLayoutBinding::default()
                            .binding(b)
                            .descriptor_type(vk::DescriptorType::from_raw(ty.0 as i32))
                            .descriptor_count(count)
                            .stage_flags(st),
                    );
                    if is_push {
                        push_set.insert(b, (vk::DescriptorType::from_raw(ty.0 as i32), count));
                    }
                }
                let pushed: u32 = push_set.values().map(|v| v.1).sum();
                if is_push && pushed > ctx.caps().max_push_descriptors {
                    destroy_owned(&owned);
                    return Err(layout_err(format!(
                        "set {PUSH_SET} has {pushed} descriptors, the device pushes at most {}",
                        ctx.caps().max_push_descriptors
                    )));
                }
                let flags = if is_push {
                    vk::DescriptorSetLayoutCreateFlags::PUSH_DESCRIPTOR_KHR
                } else {
                    vk::DescriptorSetLayoutCreateFlags::empty()
                };
                let info =
                    vk::DescriptorSetLayoutCreateInfo::default().flags(flags).bindings(&bindings);
                // SAFETY: valid create info built from reflection.
                match unsafe { device.create_descriptor_set_layout(&info, None) } {
                    Ok(l) => {
                        owned.push(l);
                        set_layouts.push(l);
                    }
                    Err(e) => {
                        destroy_owned(&owned);
                        return Err(vk_err("vkCreateDescriptorSetLayout")(e));
                    }
                }
            }
        } else if let Some(h) = heap {
            // No descriptors reflected but a heap given: still bind-compatible with it.
            set_layouts.push(h.layout());
        }
        let push_constants = (push_size > 0).then(|| vk::PushConstantRange {
            stage_flags: all_stages,
            offset: 0,
            size: push_size.next_multiple_of(4),
        });
        let ranges: Vec<_> = push_constants.into_iter().collect();
        let info = vk::PipelineLayoutCreateInfo::default()
            .set_layouts(&set_layouts)
            .push_constant_ranges(&ranges);
        // SAFETY: the set layouts are alive; the push range is within the device limit.
        let raw = match unsafe { device.create_pipeline_layout(&info, None) } {
            Ok(l) => l,
            Err(e) => {
                destroy_owned(&owned);
                return Err(vk_err("vkCreatePipelineLayout")(e));
            }
        };
        Ok(Self {
            shared: Arc::clone(&ctx.shared),
            raw,
            owned_set_layouts: owned,
            push_constants,
            uses_bindless: uses_bindless || heap.is_some(),
            push_set,
        })
    }

    /// The Vulkan handle.
    pub fn raw(&self) -> vk::PipelineLayout {
        self.raw
    }
    /// The push constant range, if the shaders have a push constant block.
    pub fn push_constants(&self) -> Option<vk::PushConstantRange> {
        self.push_constants
    }
    /// The bindings of the push-descriptor set (set 1) the shaders declare: (binding, type,
    /// count), in binding order.
    pub fn push_bindings(&self) -> Vec<(u32, vk::DescriptorType, u32)> {
        self.push_set.iter().map(|(&b, &(t, c))| (b, t, c)).collect()
    }
    /// Whether set 0 is the bindless heap.
    pub fn uses_bindless(&self) -> bool {
        self.uses_bindless
    }
    /// The layouts of sets other than the heap, made from reflection (index = set - 1 when the
    /// heap is set 0).
    pub fn owned_set_layouts(&self) -> &[vk::DescriptorSetLayout] {
        &self.owned_set_layouts
    }
}

impl Drop for PipelineLayout {
    fn drop(&mut self) {
        let (raw, owned) = (self.raw, std::mem::take(&mut self.owned_set_layouts));
        self.shared.defer(move |device, _| {
            // SAFETY: deferred until no submission uses the layout.
            unsafe {
                device.destroy_pipeline_layout(raw, None);
                for l in owned {
                    device.destroy_descriptor_set_layout(l, None);
                }
            }
        });
    }
}

/// A compute, graphics or ray tracing pipeline with its layout (and, for ray tracing, its
/// shader binding table).
pub struct Pipeline {
    pub(crate) shared: Arc<Shared>,
    raw: vk::Pipeline,
    layout: PipelineLayout,
    bind_point: vk::PipelineBindPoint,
    workgroup_size: [u32; 3],
    pub(crate) name: String,
    pub(crate) sbt: Option<crate::raytracing::ShaderBindingTable>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("bind_point", &self.bind_point)
            .finish()
    }
}

pub(crate) fn shader_module(
    device: &ash::Device,
    code: &[u32],
) -> Result<vk::ShaderModule, PipelineError> {
    let info = vk::ShaderModuleCreateInfo::default().code(code);
    // SAFETY: `code` is SPIR-V produced by the compiler (validated by the layer when enabled).
    unsafe { device.create_shader_module(&info, None) }.map_err(vk_err("vkCreateShaderModule"))
}

/// Shader modules and entry names of a pipeline's stages; the modules are destroyed when this
/// drops (after pipeline creation, which is all they are needed for).
pub(crate) struct StageModules<'d> {
    device: &'d ash::Device,
    modules: Vec<vk::ShaderModule>,
    names: Vec<std::ffi::CString>,
    stages: Vec<vk::ShaderStageFlags>,
}

impl<'d> StageModules<'d> {
    pub(crate) fn new(
        device: &'d ash::Device,
        code: &[&EntryPointCode],
    ) -> Result<Self, PipelineError> {
        let mut this = Self { device, modules: Vec::new(), names: Vec::new(), stages: Vec::new() };
        for s in code {
            // On an error, `this` drops the modules made so far.
            this.modules.push(shader_module(device, &s.spirv)?);
            this.names.push(std::ffi::CString::new(s.name.as_str()).unwrap_or_default());
            this.stages.push(s.stage);
        }
        Ok(this)
    }

    /// One stage create info per entry point, in order.
    pub(crate) fn infos(&self) -> Vec<vk::PipelineShaderStageCreateInfo<'_>> {
        self.stages
            .iter()
            .zip(&self.modules)
            .zip(&self.names)
            .map(|((&s, &m), n)| {
                vk::PipelineShaderStageCreateInfo::default().stage(s).module(m).name(n)
            })
            .collect()
    }
}

impl Drop for StageModules<'_> {
    fn drop(&mut self) {
        for &m in &self.modules {
            // SAFETY: the modules are only used by pipeline creation calls that have returned.
            unsafe { self.device.destroy_shader_module(m, None) };
        }
    }
}

/// Fixed-function state of a graphics pipeline (dynamic rendering, dynamic viewport/scissor).
#[derive(Debug, Clone)]
pub struct GraphicsDesc<'a> {
    /// Vertex stage.
    pub vertex: &'a EntryPointCode,
    /// Fragment stage (none for depth-only passes).
    pub fragment: Option<&'a EntryPointCode>,
    /// Color attachment formats.
    pub color_formats: Vec<vk::Format>,
    /// Depth attachment format.
    pub depth_format: Option<vk::Format>,
    /// Primitive topology.
    pub topology: vk::PrimitiveTopology,
    /// Face culling.
    pub cull_mode: vk::CullModeFlags,
    /// Which winding is front-facing.
    pub front_face: vk::FrontFace,
    /// Fill, line or point.
    pub polygon_mode: vk::PolygonMode,
    /// Depth test (compare LESS_OR_EQUAL... see `depth_compare`).
    pub depth_test: bool,
    /// Depth writes.
    pub depth_write: bool,
    /// Depth comparison.
    pub depth_compare: vk::CompareOp,
    /// Premultiplied-alpha blending on every color attachment (see `blend_modes`).
    pub blend: bool,
    /// Blending per color attachment, overriding `blend` when not empty (one per attachment).
    pub blend_modes: Vec<Blend>,
    /// Samples per pixel of the attachments (multisampling).
    pub samples: vk::SampleCountFlags,
    /// Vertex buffer bindings (empty when vertices come from device addresses).
    pub vertex_bindings: Vec<vk::VertexInputBindingDescription>,
    /// Vertex attributes.
    pub vertex_attributes: Vec<vk::VertexInputAttributeDescription>,
    /// Debug name.
    pub name: &'a str,
}

/// How a color attachment blends what a fragment shader writes (`src`) with what it holds
/// (`dst`); colors are premultiplied by alpha.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blend {
    /// Written as is.
    Off,
    /// `src + (1 - src.a) dst`: over, back to front.
    Premultiplied,
    /// `dst + (1 - dst.a) src`: under, front to back (depth peeling's accumulation).
    Under,
    /// `src + dst` (weighted blended transparency's sums).
    Additive,
    /// `dst (1 - src)` per channel (weighted blended transparency's revealage).
    Revealage,
}

impl Blend {
    fn state(self) -> vk::PipelineColorBlendAttachmentState {
        use vk::BlendFactor as F;
        let (src, dst) = match self {
            Blend::Off | Blend::Premultiplied => (F::ONE, F::ONE_MINUS_SRC_ALPHA),
            Blend::Under => (F::ONE_MINUS_DST_ALPHA, F::ONE),
            Blend::Additive => (F::ONE, F::ONE),
            Blend::Revealage => (F::ZERO, F::ONE_MINUS_SRC_COLOR),
        };
        let (src_a, dst_a) = match self {
            Blend::Revealage => (F::ZERO, F::ONE_MINUS_SRC_ALPHA),
            _ => (src, dst),
        };
        vk::PipelineColorBlendAttachmentState::default()
            .blend_enable(self != Blend::Off)
            .src_color_blend_factor(src)
            .dst_color_blend_factor(dst)
            .color_blend_op(vk::BlendOp::ADD)
            .src_alpha_blend_factor(src_a)
            .dst_alpha_blend_factor(dst_a)
            .alpha_blend_op(vk::BlendOp::ADD)
            .color_write_mask(vk::ColorComponentFlags::RGBA)
    }
}

impl<'a> GraphicsDesc<'a> {
    /// With a depth attachment of `format`, the depth test `compare`, and depth writes if
    /// `write`.
    pub fn depth(mut self, format: vk::Format, write: bool, compare: vk::CompareOp) -> Self {
        self.depth_format = Some(format);
        self.depth_test = true;
        self.depth_write = write;
        self.depth_compare = compare;
        self
    }

    /// Triangles, no culling, no depth, no blending, one color attachment of `color`.
    pub fn new(
        name: &'a str,
        vertex: &'a EntryPointCode,
        fragment: &'a EntryPointCode,
        color: vk::Format,
    ) -> Self {
        Self {
            vertex,
            fragment: Some(fragment),
            color_formats: vec![color],
            depth_format: None,
            topology: vk::PrimitiveTopology::TRIANGLE_LIST,
            cull_mode: vk::CullModeFlags::NONE,
            front_face: vk::FrontFace::COUNTER_CLOCKWISE,
            polygon_mode: vk::PolygonMode::FILL,
            depth_test: false,
            depth_write: false,
            depth_compare: vk::CompareOp::GREATER_OR_EQUAL,
            blend: false,
            blend_modes: Vec::new(),
            samples: vk::SampleCountFlags::TYPE_1,
            vertex_bindings: Vec::new(),
            vertex_attributes: Vec::new(),
            name,
        }
    }
}

impl Pipeline {
    pub(crate) fn from_parts(
        ctx: &Context,
        raw: vk::Pipeline,
        layout: PipelineLayout,
        bind_point: vk::PipelineBindPoint,
        name: &str,
    ) -> Self {
        Self {
            shared: Arc::clone(&ctx.shared),
            raw,
            layout,
            bind_point,
            workgroup_size: [1, 1, 1],
            name: name.into(),
            sbt: None,
        }
    }

    /// A compute pipeline from one compute entry point.
    pub fn compute(
        ctx: &Context,
        entry: &EntryPointCode,
        heap: Option<&BindlessHeap>,
    ) -> Result<Self, PipelineError> {
        if entry.stage != vk::ShaderStageFlags::COMPUTE {
            return Err(PipelineError::Layout {
                entry: entry.name.clone(),
                message: format!("is a {:?} shader, not compute", entry.stage),
            });
        }
        let layout = PipelineLayout::from_reflection(ctx, &[entry], heap)?;
        let device = ctx.device();
        let module = shader_module(device, &entry.spirv)?;
        let name = std::ffi::CString::new(entry.name.as_str()).unwrap_or_default();
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(module)
            .name(&name);
        let info = [vk::ComputePipelineCreateInfo::default()
            .flags(capture_flags(ctx))
            .stage(stage)
            .layout(layout.raw)];
        // SAFETY: module and layout are alive; the cache belongs to this device.
        let result = unsafe { device.create_compute_pipelines(ctx.pipeline_cache(), &info, None) };
        // SAFETY: the module is no longer needed once the pipeline exists (or failed).
        unsafe { device.destroy_shader_module(module, None) };
        let raw = result.map_err(|(_, e)| vk_err("vkCreateComputePipelines")(e))?[0];
        ctx.set_name(raw, &entry.name);
        Ok(Self {
            shared: Arc::clone(&ctx.shared),
            raw,
            layout,
            bind_point: vk::PipelineBindPoint::COMPUTE,
            workgroup_size: entry.workgroup_size,
            name: entry.name.clone(),
            sbt: None,
        })
    }

    /// A graphics pipeline for dynamic rendering.
    pub fn graphics(
        ctx: &Context,
        desc: &GraphicsDesc<'_>,
        heap: Option<&BindlessHeap>,
    ) -> Result<Self, PipelineError> {
        let mut stages_code = vec![desc.vertex];
        stages_code.extend(desc.fragment);
        let layout = PipelineLayout::from_reflection(ctx, &stages_code, heap)?;
        let device = ctx.device();
        let modules = StageModules::new(device, &stages_code)?;
        let stages = modules.infos();
        let vertex_input = vk::PipelineVertexInputStateCreateInfo::default()
            .vertex_binding_descriptions(&desc.vertex_bindings)
            .vertex_attribute_descriptions(&desc.vertex_attributes);
        let input_assembly =
            vk::PipelineInputAssemblyStateCreateInfo::default().topology(desc.topology);
        let viewport =
            vk::PipelineViewportStateCreateInfo::default().viewport_count(1).scissor_count(1);
        let raster = vk::PipelineRasterizationStateCreateInfo::default()
            .polygon_mode(desc.polygon_mode)
            .cull_mode(desc.cull_mode)
            .front_face(desc.front_face)
            .line_width(1.0);
        let multisample =
            vk::PipelineMultisampleStateCreateInfo::default().rasterization_samples(desc.samples);
        let depth = vk::PipelineDepthStencilStateCreateInfo::default()
            .depth_test_enable(desc.depth_test)
            .depth_write_enable(desc.depth_write)
            .depth_compare_op(desc.depth_compare);
        let attachments: Vec<_> = if desc.blend_modes.is_empty() {
            let mode = if desc.blend { Blend::Premultiplied } else { Blend::Off };
            vec![mode.state(); desc.color_formats.len()]
        } else {
            desc.blend_modes.iter().map(|m| m.state()).collect()
        };
        let blend = vk::PipelineColorBlendStateCreateInfo::default().attachments(&attachments);
        let dynamic_states = [vk::DynamicState::VIEWPORT, vk::DynamicState::SCISSOR];
        let dynamic = vk::PipelineDynamicStateCreateInfo::default().dynamic_states(&dynamic_states);
        let mut rendering = vk::PipelineRenderingCreateInfo::default()
            .color_attachment_formats(&desc.color_formats)
            .depth_attachment_format(desc.depth_format.unwrap_or(vk::Format::UNDEFINED));
        let info = [vk::GraphicsPipelineCreateInfo::default()
            .flags(capture_flags(ctx))
            .stages(&stages)
            .vertex_input_state(&vertex_input)
            .input_assembly_state(&input_assembly)
            .viewport_state(&viewport)
            .rasterization_state(&raster)
            .multisample_state(&multisample)
            .depth_stencil_state(&depth)
            .color_blend_state(&blend)
            .dynamic_state(&dynamic)
            .layout(layout.raw)
            .push_next(&mut rendering)];
        // SAFETY: every referenced state struct and module is alive during the call.
        let result = unsafe { device.create_graphics_pipelines(ctx.pipeline_cache(), &info, None) };
        drop(stages);
        drop(modules);
        let raw = result.map_err(|(_, e)| vk_err("vkCreateGraphicsPipelines")(e))?[0];
        ctx.set_name(raw, desc.name);
        Ok(Self {
            shared: Arc::clone(&ctx.shared),
            raw,
            layout,
            bind_point: vk::PipelineBindPoint::GRAPHICS,
            workgroup_size: [0; 3],
            name: desc.name.to_string(),
            sbt: None,
        })
    }

    /// The Vulkan handle.
    pub fn raw(&self) -> vk::Pipeline {
        self.raw
    }

    /// The driver's statistics of each executable of this pipeline (registers, occupancy,
    /// spills, ... as the driver names them). `None` unless the context was made with
    /// [`crate::ContextDesc::shader_statistics`] on a device that has
    /// VK_KHR_pipeline_executable_properties ([`crate::Caps::pipeline_executable_info`]).
    pub fn statistics(&self) -> Option<Result<Vec<ExecutableStatistics>, PipelineError>> {
        let f = self.shared.executable_properties.as_ref()?;
        let info = vk::PipelineInfoKHR::default().pipeline(self.raw);
        let read = || {
            // SAFETY: the pipeline is alive and belongs to this device, which has the
            // extension and its feature enabled; ash sizes the output array from the count.
            let executables = unsafe { f.get_pipeline_executable_properties(&info) }
                .map_err(vk_err("vkGetPipelineExecutablePropertiesKHR"))?;
            let mut out = Vec::with_capacity(executables.len());
            for (index, e) in executables.iter().enumerate() {
                let exec = vk::PipelineExecutableInfoKHR::default()
                    .pipeline(self.raw)
                    .executable_index(index as u32);
                // SAFETY: as above; `index` is below the count the driver returned.
                let stats = unsafe { f.get_pipeline_executable_statistics(&exec) }
                    .map_err(vk_err("vkGetPipelineExecutableStatisticsKHR"))?;
                let statistics = stats
                    .iter()
                    .map(|s| {
                        // SAFETY: `format` says which member of the union the driver wrote.
                        let value = unsafe {
                            match s.format {
                                vk::PipelineExecutableStatisticFormatKHR::BOOL32 => {
                                    StatisticValue::Bool(s.value.b32 != 0)
                                }
                                vk::PipelineExecutableStatisticFormatKHR::INT64 => {
                                    StatisticValue::I64(s.value.i64)
                                }
                                vk::PipelineExecutableStatisticFormatKHR::FLOAT64 => {
                                    StatisticValue::F64(s.value.f64)
                                }
                                _ => StatisticValue::U64(s.value.u64),
                            }
                        };
                        (c_text(&s.name), value, c_text(&s.description))
                    })
                    .collect();
                out.push(ExecutableStatistics {
                    name: c_text(&e.name),
                    description: c_text(&e.description),
                    stages: e.stages,
                    subgroup_size: e.subgroup_size,
                    statistics,
                });
            }
            Ok(out)
        };
        Some(read())
    }

    /// Its layout.
    pub fn layout(&self) -> &PipelineLayout {
        &self.layout
    }
    /// Compute workgroup size (zeros for graphics).
    pub fn workgroup_size(&self) -> [u32; 3] {
        self.workgroup_size
    }

    /// Binds the pipeline, and the bindless heap when the layout uses it.
    pub fn bind(&self, cmd: vk::CommandBuffer, heap: Option<&BindlessHeap>) {
        // SAFETY: `cmd` is recording (caller's contract); the pipeline is alive.
        unsafe { self.shared.device.cmd_bind_pipeline(cmd, self.bind_point, self.raw) };
        if self.layout.uses_bindless {
            if let Some(h) = heap {
                h.bind(cmd, self.bind_point, self.layout.raw);
            }
        }
    }

    /// Sets push constants from a plain-old-data value (`#[repr(C)]`, matching the shader's
    /// block; `bytemuck::Pod` rules out padding). Does nothing if the pipeline has no push
    /// constants; bytes beyond the shader's block are dropped.
    pub fn push<T: bytemuck::Pod>(&self, cmd: vk::CommandBuffer, value: &T) {
        self.push_bytes(cmd, bytemuck::bytes_of(value));
    }

    /// Sets push constants from raw bytes (see [`Pipeline::push`]).
    pub fn push_bytes(&self, cmd: vk::CommandBuffer, bytes: &[u8]) {
        let Some(range) = self.layout.push_constants else { return };
        let len = bytes.len().min(range.size as usize);
        if len == 0 {
            return;
        }
        // vkCmdPushConstants takes multiples of 4 bytes (the range size is one): pad a short tail.
        let mut padded = Vec::new();
        let data = if len % 4 == 0 {
            &bytes[..len]
        } else {
            padded.extend_from_slice(&bytes[..len]);
            padded.resize(len.next_multiple_of(4), 0);
            &padded[..]
        };
        // SAFETY: `cmd` is recording; `data` lies inside the layout's push range.
        unsafe {
            self.shared.device.cmd_push_constants(cmd, self.layout.raw, range.stage_flags, 0, data)
        };
    }

    /// Pushes descriptors of [`PUSH_SET`] for the following draws/dispatches. Each write must
    /// match the binding's type from reflection (a sampled image may go to a sampled-image or a
    /// combined-image-sampler binding).
    pub fn push_descriptors(
        &self,
        cmd: vk::CommandBuffer,
        writes: &[DescriptorWrite],
    ) -> Result<(), PipelineError> {
        let layout = &self.layout;
        let mismatch = |binding: u32, what: &str| PipelineError::Layout {
            entry: self.name.clone(),
            message: format!("set {PUSH_SET} binding {binding}: {what}"),
        };
        let mut images = Vec::with_capacity(writes.len());
        let mut buffers = Vec::with_capacity(writes.len());
        let mut accels = Vec::new();
        let mut kinds = Vec::with_capacity(writes.len());
        for w in writes {
            let (binding, want) = match *w {
                DescriptorWrite::StorageImage { binding, .. } => (binding, "a storage image"),
                DescriptorWrite::SampledImage { binding, .. } => (binding, "a sampled image"),
                DescriptorWrite::Sampler { binding, .. } => (binding, "a sampler"),
                DescriptorWrite::Buffer { binding, .. } => (binding, "a buffer"),
                DescriptorWrite::AccelerationStructure { binding, .. } => {
                    (binding, "an acceleration structure")
                }
            };
            let Some(&(ty, _)) = layout.push_set.get(&binding) else {
                return Err(mismatch(binding, "the shader has no such binding"));
            };
            use vk::DescriptorType as T;
            let ok = matches!(
                (w, ty),
                (DescriptorWrite::StorageImage { .. }, T::STORAGE_IMAGE)
                    | (
                        DescriptorWrite::SampledImage { .. },
                        T::SAMPLED_IMAGE | T::COMBINED_IMAGE_SAMPLER
                    )
                    | (DescriptorWrite::Sampler { .. }, T::SAMPLER)
                    | (DescriptorWrite::Buffer { .. }, T::STORAGE_BUFFER | T::UNIFORM_BUFFER)
                    | (
                        DescriptorWrite::AccelerationStructure { .. },
                        T::ACCELERATION_STRUCTURE_KHR
                    )
            );
            if !ok {
                return Err(mismatch(binding, &format!("is {ty:?}, given {want}")));
            }
            match *w {
                DescriptorWrite::StorageImage { view, .. } => {
                    images.push(vk::DescriptorImageInfo {
                        sampler: vk::Sampler::null(),
                        image_view: view,
                        image_layout: vk::ImageLayout::GENERAL,
                    })
                }
                DescriptorWrite::SampledImage { view, sampler, .. } => {
                    images.push(vk::DescriptorImageInfo {
                        sampler,
                        image_view: view,
                        image_layout: vk::ImageLayout::READ_ONLY_OPTIMAL,
                    })
                }
                DescriptorWrite::Sampler { sampler, .. } => images.push(vk::DescriptorImageInfo {
                    sampler,
                    image_view: vk::ImageView::null(),
                    image_layout: vk::ImageLayout::UNDEFINED,
                }),
                DescriptorWrite::Buffer { buffer, offset, range, .. } => {
                    buffers.push(vk::DescriptorBufferInfo { buffer, offset, range })
                }
                DescriptorWrite::AccelerationStructure { accel, .. } => accels.push(accel),
            }
            let kind = match w {
                DescriptorWrite::Buffer { .. } => 1,
                DescriptorWrite::AccelerationStructure { .. } => 2,
                _ => 0,
            };
            kinds.push((binding, ty, kind));
        }
        let mut accel_writes: Vec<vk::WriteDescriptorSetAccelerationStructureKHR<'_>> = accels
            .chunks(1)
            .map(|a| {
                vk::WriteDescriptorSetAccelerationStructureKHR::default().acceleration_structures(a)
            })
            .collect();
        let mut accel_iter = accel_writes.iter_mut();
        let (mut ii, mut bi) = (0, 0);
        let mut sets: Vec<vk::WriteDescriptorSet<'_>> = Vec::with_capacity(kinds.len());
        for &(binding, ty, kind) in &kinds {
            let w = vk::WriteDescriptorSet::default().dst_binding(binding).descriptor_type(ty);
            sets.push(match kind {
                1 => {
                    bi += 1;
                    w.buffer_info(&buffers[bi - 1..bi])
                }
                2 => match accel_iter.next() {
                    Some(a) => w.descriptor_count(1).push_next(a),
                    None => continue,
                },
                _ => {
                    ii += 1;
                    w.image_info(&images[ii - 1..ii])
                }
            });
        }
        // SAFETY: `cmd` is recording (the recording helpers' contract); the layout has a push
        // descriptor set at PUSH_SET whose binding types were checked above.
        unsafe {
            self.shared.push_descriptor.cmd_push_descriptor_set(
                cmd,
                self.bind_point,
                layout.raw,
                PUSH_SET,
                &sets,
            )
        };
        Ok(())
    }

    /// Dispatches enough workgroups to cover `threads` invocations.
    pub fn dispatch_threads(&self, cmd: vk::CommandBuffer, threads: [u32; 3]) {
        let g = self.workgroup_size.map(|s| s.max(1));
        // SAFETY: `cmd` is recording with this compute pipeline bound (caller's contract).
        unsafe {
            self.shared.device.cmd_dispatch(
                cmd,
                threads[0].div_ceil(g[0]),
                threads[1].div_ceil(g[1]),
                threads[2].div_ceil(g[2]),
            )
        };
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let raw = self.raw;
        // SAFETY: deferred until no submission uses the pipeline.
        self.shared.defer(move |device, _| unsafe { device.destroy_pipeline(raw, None) });
    }
}

/// Begins dynamic rendering over the whole `extent` into `color` (and `depth`), one layer, and
/// sets viewport (depth range 0..1) and scissor to the same area: the set-up every full-target
/// draw pass repeats.
///
/// # Safety
/// `cmd` is a command buffer of `device` in the recording state, outside any rendering, and the
/// attachments' images are in the layouts the attachment infos name.
pub unsafe fn begin_rendering(
    device: &ash::Device,
    cmd: vk::CommandBuffer,
    extent: vk::Extent2D,
    color: &[vk::RenderingAttachmentInfo<'_>],
    depth: Option<&vk::RenderingAttachmentInfo<'_>>,
) {
    let area = vk::Rect2D { offset: vk::Offset2D::default(), extent };
    // SAFETY: the caller's contract.
    unsafe { begin_rendering_area(device, cmd, extent, area, color, depth) }
}

/// [`begin_rendering`] within `area` of attachments of `extent`: the viewport covers the whole
/// extent, the render area and the scissor only `area` (load and store operations, clears
/// included, touch nothing outside it).
///
/// # Safety
/// As [`begin_rendering`]; `area` lies within `extent`.
pub unsafe fn begin_rendering_area(
    device: &ash::Device,
    cmd: vk::CommandBuffer,
    extent: vk::Extent2D,
    area: vk::Rect2D,
    color: &[vk::RenderingAttachmentInfo<'_>],
    depth: Option<&vk::RenderingAttachmentInfo<'_>>,
) {
    let mut info =
        vk::RenderingInfo::default().render_area(area).layer_count(1).color_attachments(color);
    if let Some(d) = depth {
        info = info.depth_attachment(d);
    }
    let viewport = vk::Viewport {
        x: 0.0,
        y: 0.0,
        width: extent.width as f32,
        height: extent.height as f32,
        min_depth: 0.0,
        max_depth: 1.0,
    };
    // SAFETY: the caller's contract (recording, attachments in the named layouts).
    unsafe {
        device.cmd_begin_rendering(cmd, &info);
        device.cmd_set_viewport(cmd, 0, &[viewport]);
        device.cmd_set_scissor(cmd, 0, &[area]);
    }
}
