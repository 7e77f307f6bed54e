//! Building a frame: resources (transient or imported), typed versioned handles, passes.

use xpg::vk;

use crate::access::Access;
use crate::execute::ExecuteError;
use crate::pass_context::PassContext;

/// A handle to an image of the graph. Versioned: every write through
/// [`PassBuilder::write`] gives the handle a new version, and using an older copy of the
/// handle afterwards is reported by [`FrameGraph::compile`] as [`GraphError::StaleHandle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageHandle {
    pub(crate) id: u32,
    pub(crate) version: u32,
}

/// A handle to a buffer of the graph (versioned like [`ImageHandle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferHandle {
    pub(crate) id: u32,
    pub(crate) version: u32,
}

/// A handle to an acceleration structure of the graph (versioned like [`ImageHandle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccelHandle {
    pub(crate) id: u32,
    pub(crate) version: u32,
}

/// Anything a pass can declare an access to.
pub trait Handle: Copy {
    /// The resource index in its graph.
    fn id(&self) -> u32;
    /// The version this handle names.
    fn version(&self) -> u32;
    /// The same resource at another version.
    fn with_version(self, version: u32) -> Self;
}

macro_rules! impl_handle {
    ($t:ty) => {
        impl Handle for $t {
            fn id(&self) -> u32 {
                self.id
            }
            fn version(&self) -> u32 {
                self.version
            }
            fn with_version(self, version: u32) -> Self {
                Self { version, ..self }
            }
        }
    };
}
impl_handle!(ImageHandle);
impl_handle!(BufferHandle);
impl_handle!(AccelHandle);

/// Shape of an image (usage is derived from the accesses passes declare).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageInfo {
    /// Width, height, depth.
    pub extent: vk::Extent3D,
    /// Pixel format.
    pub format: vk::Format,
    /// Mip levels.
    pub mip_levels: u32,
    /// Array layers.
    pub array_layers: u32,
    /// Views of every layer are 2D-array views even with one layer (shaders declaring arrays).
    pub array: bool,
    /// Samples per texel (1, or 2, 4, 8, ... for multisampled attachments; one mip level).
    pub samples: u32,
}

impl ImageInfo {
    /// A 2D image with one mip and layer.
    pub fn d2(width: u32, height: u32, format: vk::Format) -> Self {
        Self {
            extent: vk::Extent3D { width, height, depth: 1 },
            format,
            mip_levels: 1,
            array_layers: 1,
            array: false,
            samples: 1,
        }
    }
    /// Multisampled with `samples` samples per texel.
    pub fn samples(mut self, samples: u32) -> Self {
        self.samples = samples;
        self
    }
    /// With `levels` mip levels.
    pub fn mips(mut self, levels: u32) -> Self {
        self.mip_levels = levels;
        self
    }
    /// With `layers` array layers.
    pub fn layers(mut self, layers: u32) -> Self {
        self.array_layers = layers;
        self
    }
    /// Always viewed as an array (2D-array views even with a single layer).
    pub fn array(mut self) -> Self {
        self.array = true;
        self
    }
}

/// A range of mip levels and array layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subresources {
    /// First mip level.
    pub base_mip: u32,
    /// Number of mip levels.
    pub mip_count: u32,
    /// First array layer.
    pub base_layer: u32,
    /// Number of layers.
    pub layer_count: u32,
}

impl Subresources {
    /// One mip level of every layer of `info`.
    pub fn mip(level: u32, info: &ImageInfo) -> Self {
        Self { base_mip: level, mip_count: 1, base_layer: 0, layer_count: info.array_layers }
    }
    /// Every mip and layer of `info`.
    pub fn all(info: &ImageInfo) -> Self {
        Self {
            base_mip: 0,
            mip_count: info.mip_levels,
            base_layer: 0,
            layer_count: info.array_layers,
        }
    }
}

/// The state of an imported resource at the start of the frame: the last access made to it
/// (an access of an earlier frame or outside the graph). `None` means its contents may be
/// discarded (layout UNDEFINED, nothing to wait for).
pub type InitialAccess = Option<Access>;

/// Where the memory of a resource comes from.
#[derive(Debug, Clone, Hash)]
pub(crate) enum Origin {
    /// Created (and pooled, and possibly aliased) by the graph.
    Transient,
    /// Owned outside the graph.
    Imported { initial: InitialAccess, final_access: Option<Access> },
}

/// Raw objects of an imported resource.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ImportedRaw {
    Image {
        image: vk::Image,
        view: vk::ImageView,
    },
    Buffer {
        buffer: vk::Buffer,
        address: vk::DeviceAddress,
    },
    Accel {
        accel: vk::AccelerationStructureKHR,
        buffer: vk::Buffer,
    },
    /// Imported for planning only (CPU tests); has no objects.
    None,
}

#[derive(Debug, Clone, Hash)]
pub(crate) enum ResourceKind {
    Image(ImageInfo),
    Buffer {
        size: u64,
    },
    /// An acceleration structure: bytes of storage and level (known for transients; 0 and
    /// top-level for imports, whose storage exists already).
    Accel {
        size: u64,
        top_level: bool,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct ResourceNode {
    pub name: String,
    pub kind: ResourceKind,
    pub origin: Origin,
    pub raw: ImportedRaw,
    /// The latest version (number of writes so far).
    pub version: u32,
    /// For a history image: the state it starts from and where its end state goes.
    pub history: Option<crate::history::HistoryLink>,
}

/// One declared access of a pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassAccess {
    pub resource: u32,
    /// The version the pass saw (before its own write).
    pub version: u32,
    /// The version this access produced (writes only).
    pub produced: Option<u32>,
    pub access: Access,
    pub range: Option<Subresources>,
}

pub(crate) type RecordFn<'g> =
    Box<dyn FnOnce(&mut PassContext<'_>) -> Result<(), ExecuteError> + 'g>;

pub(crate) struct PassNode<'g> {
    pub name: String,
    pub accesses: Vec<PassAccess>,
    pub side_effect: bool,
    pub record: Option<RecordFn<'g>>,
}

/// Errors found while building or compiling a graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A handle older than the resource's latest version was used.
    #[error("pass '{pass}' uses version {used} of '{resource}', but it was since written (now version {current}): use the handle the writing pass updated")]
    StaleHandle {
        /// The pass.
        pass: String,
        /// The resource.
        resource: String,
        /// Version of the handle used.
        used: u32,
        /// The latest version.
        current: u32,
    },
    /// A handle of another graph (or made up).
    #[error("pass '{pass}' uses a handle that belongs to no resource of this graph")]
    UnknownHandle {
        /// The pass.
        pass: String,
    },
    /// An access that does not fit the resource (an image access on a buffer, a range out of
    /// the image, a range on a buffer).
    #[error("pass '{pass}': {message}")]
    InvalidAccess {
        /// The pass.
        pass: String,
        /// What is wrong.
        message: String,
    },
    /// A history image changed since this graph took it (another graph's frame was
    /// committed, or its contents were discarded): build the frame's graph again.
    #[error("history image '{resource}' changed since this graph took it: build the graph again")]
    StaleHistory {
        /// The image.
        resource: String,
    },
    /// One pass needs the same subresource in two layouts.
    #[error("pass '{pass}' uses '{resource}' in two layouts ({first:?} and {second:?}) at once")]
    LayoutConflict {
        /// The pass.
        pass: String,
        /// The resource.
        resource: String,
        /// First layout.
        first: vk::ImageLayout,
        /// Second layout.
        second: vk::ImageLayout,
    },
}

/// A frame's graph: resources and passes, in submission order.
///
/// ```
/// use framegraph::{Access, FrameGraph, ImageInfo};
/// use xpg::vk;
/// let mut graph = FrameGraph::new();
/// let mut target = graph.create_image("target", ImageInfo::d2(64, 64, vk::Format::R8G8B8A8_UNORM));
/// graph.add_pass("fill").write(&mut target, Access::StorageWriteCompute).record(|_ctx| {
///     // bind a pipeline, push constants, dispatch into _ctx.cmd
///     Ok(())
/// });
/// graph.add_pass("show").read(&target, Access::SampledFragment).side_effect().record(|_| Ok(()));
/// let plan = graph.compile().expect("valid graph");
/// assert_eq!(plan.passes.len(), 2);
/// ```
#[derive(Default)]
pub struct FrameGraph<'g> {
    pub(crate) resources: Vec<ResourceNode>,
    pub(crate) passes: Vec<PassNode<'g>>,
    pub(crate) errors: Vec<GraphError>,
}

impl std::fmt::Debug for FrameGraph<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameGraph")
            .field("resources", &self.resources.len())
            .field("passes", &self.passes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl<'g> FrameGraph<'g> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// A resource already imported with the same Vulkan object: its id and latest version.
    /// The first import's initial state stands; a later `final_access` replaces the earlier.
    fn imported_again(
        &mut self,
        same: impl Fn(&ImportedRaw) -> bool,
        final_access: Option<Access>,
    ) -> Option<(u32, u32)> {
        let id = self.resources.iter().position(|r| same(&r.raw))?;
        let r = &mut self.resources[id];
        if let (Origin::Imported { final_access: f, .. }, Some(a)) = (&mut r.origin, final_access) {
            *f = Some(a);
        }
        Some((id as u32, r.version))
    }

    pub(crate) fn add_resource(
        &mut self,
        name: &str,
        kind: ResourceKind,
        origin: Origin,
        raw: ImportedRaw,
    ) -> u32 {
        if let Some(message) = invalid_shape(&kind) {
            self.errors
                .push(GraphError::InvalidAccess { pass: format!("(resource '{name}')"), message });
        }
        if let Origin::Imported { initial, final_access } = &origin {
            let is_image = matches!(kind, ResourceKind::Image(_));
            for a in initial.iter().chain(final_access) {
                if is_image && !is_image_access(*a) {
                    self.errors.push(GraphError::InvalidAccess {
                        pass: format!("(import '{name}')"),
                        message: format!("{a:?} is not a state an image can be in"),
                    });
                }
            }
        }
        self.resources.push(ResourceNode {
            name: name.to_string(),
            kind,
            origin,
            raw,
            version: 0,
            history: None,
        });
        (self.resources.len() - 1) as u32
    }

    /// A transient image: created by the graph (pooled across frames, memory possibly shared
    /// with transients whose lifetimes do not overlap), contents undefined at its first use.
    pub fn create_image(&mut self, name: &str, info: ImageInfo) -> ImageHandle {
        let id = self.add_resource(
            name,
            ResourceKind::Image(info),
            Origin::Transient,
            ImportedRaw::None,
        );
        ImageHandle { id, version: 0 }
    }

    /// A transient acceleration structure of `size` bytes of storage (from
    /// `AccelerationStructure::blas_sizes` / `tlas_sizes`), created by the graph on memory
    /// it may share with transients whose lifetimes do not overlap; empty until a pass
    /// builds it (`Access::AccelBuildOutput`).
    pub fn create_accel(
        &mut self,
        name: &str,
        kind: vk::AccelerationStructureTypeKHR,
        size: u64,
    ) -> AccelHandle {
        let top_level = kind == vk::AccelerationStructureTypeKHR::TOP_LEVEL;
        if size == 0 {
            self.errors.push(GraphError::InvalidAccess {
                pass: format!("(resource '{name}')"),
                message: "an acceleration structure of 0 bytes".into(),
            });
        }
        let id = self.add_resource(
            name,
            ResourceKind::Accel { size, top_level },
            Origin::Transient,
            ImportedRaw::None,
        );
        AccelHandle { id, version: 0 }
    }

    /// A transient buffer of `size` bytes.
    pub fn create_buffer(&mut self, name: &str, size: u64) -> BufferHandle {
        let id = self.add_resource(
            name,
            ResourceKind::Buffer { size },
            Origin::Transient,
            ImportedRaw::None,
        );
        BufferHandle { id, version: 0 }
    }

    /// An image owned outside the graph (swapchain image, history image). `initial` is its last
    /// access before this frame (`None`: contents may be discarded); `final_access` the state it
    /// must be left in (e.g. [`Access::Present`]), if any.
    ///
    /// Importing an image already imported into this graph (the same `vk::Image`) returns the
    /// existing resource at its latest version, so that independent parts of a program (a
    /// scene update and a renderer) are ordered by their accesses; the first import's
    /// `initial` stands, a later `final_access` replaces an earlier one.
    pub fn import_image(
        &mut self,
        name: &str,
        image: vk::Image,
        view: vk::ImageView,
        info: ImageInfo,
        initial: InitialAccess,
        final_access: Option<Access>,
    ) -> ImageHandle {
        if let Some((id, version)) = self.imported_again(
            |raw| matches!(raw, ImportedRaw::Image { image: i, .. } if *i == image),
            final_access,
        ) {
            return ImageHandle { id, version };
        }
        let id = self.add_resource(
            name,
            ResourceKind::Image(info),
            Origin::Imported { initial, final_access },
            ImportedRaw::Image { image, view },
        );
        ImageHandle { id, version: 0 }
    }

    /// A buffer owned outside the graph (`initial` and `final_access` as for images; `None`
    /// initial: unknown, the first access waits for all earlier work). Importing the same
    /// `vk::Buffer` again returns the existing resource at its latest version, as for images.
    pub fn import_buffer(
        &mut self,
        name: &str,
        buffer: &xpg::Buffer,
        initial: InitialAccess,
        final_access: Option<Access>,
    ) -> BufferHandle {
        let raw = buffer.raw();
        if let Some((id, version)) = self.imported_again(
            |r| matches!(r, ImportedRaw::Buffer { buffer: b, .. } if *b == raw),
            final_access,
        ) {
            return BufferHandle { id, version };
        }
        let id = self.add_resource(
            name,
            ResourceKind::Buffer { size: buffer.size() },
            Origin::Imported { initial, final_access },
            ImportedRaw::Buffer { buffer: raw, address: buffer.address() },
        );
        BufferHandle { id, version: 0 }
    }

    /// An acceleration structure owned outside the graph, with the buffer that stores it
    /// (`initial` as for buffers; importing the same structure again returns the existing
    /// resource at its latest version).
    pub fn import_accel(
        &mut self,
        name: &str,
        accel: vk::AccelerationStructureKHR,
        buffer: vk::Buffer,
        initial: InitialAccess,
    ) -> AccelHandle {
        if let Some((id, version)) = self.imported_again(
            |r| matches!(r, ImportedRaw::Accel { accel: a, .. } if *a == accel),
            None,
        ) {
            return AccelHandle { id, version };
        }
        let id = self.add_resource(
            name,
            ResourceKind::Accel { size: 0, top_level: true },
            Origin::Imported { initial, final_access: None },
            ImportedRaw::Accel { accel, buffer },
        );
        AccelHandle { id, version: 0 }
    }

    /// An image that exists only for planning (no Vulkan objects): for plan tests and tools.
    pub fn import_image_for_planning(
        &mut self,
        name: &str,
        info: ImageInfo,
        initial: InitialAccess,
        final_access: Option<Access>,
    ) -> ImageHandle {
        let id = self.add_resource(
            name,
            ResourceKind::Image(info),
            Origin::Imported { initial, final_access },
            ImportedRaw::None,
        );
        ImageHandle { id, version: 0 }
    }

    /// A buffer that exists only for planning (no Vulkan objects).
    pub fn import_buffer_for_planning(
        &mut self,
        name: &str,
        size: u64,
        initial: InitialAccess,
        final_access: Option<Access>,
    ) -> BufferHandle {
        let id = self.add_resource(
            name,
            ResourceKind::Buffer { size },
            Origin::Imported { initial, final_access },
            ImportedRaw::None,
        );
        BufferHandle { id, version: 0 }
    }

    /// An acceleration structure that exists only for planning.
    pub fn import_accel_for_planning(&mut self, name: &str, initial: InitialAccess) -> AccelHandle {
        let id = self.add_resource(
            name,
            ResourceKind::Accel { size: 0, top_level: true },
            Origin::Imported { initial, final_access: None },
            ImportedRaw::None,
        );
        AccelHandle { id, version: 0 }
    }

    /// Starts a pass. Declare its accesses, then give it its recording closure with
    /// [`PassBuilder::record`].
    pub fn add_pass(&mut self, name: &str) -> PassBuilder<'_, 'g> {
        PassBuilder {
            graph: self,
            node: Some(PassNode {
                name: name.to_string(),
                accesses: Vec::new(),
                side_effect: false,
                record: None,
            }),
        }
    }

    /// The image info of a handle (None for buffers or unknown handles).
    pub fn image_info(&self, image: &ImageHandle) -> Option<ImageInfo> {
        match self.resources.get(image.id as usize).map(|r| &r.kind) {
            Some(ResourceKind::Image(i)) => Some(*i),
            _ => None,
        }
    }

    /// Number of passes declared so far.
    pub fn pass_count(&self) -> usize {
        self.passes.len()
    }
}

/// Declares one pass. Reads take `&handle`, writes `&mut handle` (the handle moves to the new
/// version), so a pass reads like a sentence:
/// `graph.add_pass("blur").read(&src, Access::SampledCompute).write(&mut dst, Access::StorageWriteCompute).record(...)`.
pub struct PassBuilder<'a, 'g> {
    graph: &'a mut FrameGraph<'g>,
    node: Option<PassNode<'g>>,
}

impl<'g> PassBuilder<'_, 'g> {
    fn declare<H: Handle>(
        &mut self,
        handle: &H,
        access: Access,
        range: Option<Subresources>,
    ) -> Option<u32> {
        let node = self.node.as_mut()?;
        let Some(res) = self.graph.resources.get_mut(handle.id() as usize) else {
            self.graph.errors.push(GraphError::UnknownHandle { pass: node.name.clone() });
            return None;
        };
        // A pass may use a resource at the version it saw before its own write of it (read mip
        // i-1, write mip i of one image, in either declaration order).
        let own_earlier = node.accesses.iter().any(|a| {
            a.resource == handle.id() && a.access.info().write && a.version == handle.version()
        });
        if handle.version() != res.version && !own_earlier {
            self.graph.errors.push(GraphError::StaleHandle {
                pass: node.name.clone(),
                resource: res.name.clone(),
                used: handle.version(),
                current: res.version,
            });
        }
        let info = access.info();
        let bad = match (&res.kind, range) {
            (ResourceKind::Image(_), _) if !is_image_access(access) => {
                Some(format!("{access:?} is not an image access ('{}' is an image)", res.name))
            }
            (ResourceKind::Image(i), Some(r)) => {
                let ok = r.mip_count > 0
                    && r.layer_count > 0
                    && r.base_mip.checked_add(r.mip_count).is_some_and(|e| e <= i.mip_levels)
                    && r.base_layer.checked_add(r.layer_count).is_some_and(|e| e <= i.array_layers);
                (!ok).then(|| {
                    format!(
                        "range {r:?} is outside '{}' ({} mips, {} layers)",
                        res.name, i.mip_levels, i.array_layers
                    )
                })
            }
            (ResourceKind::Buffer { .. } | ResourceKind::Accel { .. }, Some(_)) => {
                Some(format!("'{}' is not an image: no subresource range", res.name))
            }
            (ResourceKind::Buffer { .. } | ResourceKind::Accel { .. }, None)
                if matches!(
                    access,
                    Access::ColorAttachmentWrite
                        | Access::ColorAttachmentReadWrite
                        | Access::DepthAttachmentWrite
                        | Access::DepthAttachmentRead
                        | Access::SampledVertex
                        | Access::SampledFragment
                        | Access::SampledCompute
                        | Access::SampledRayTracing
                        | Access::Present
                ) =>
            {
                Some(format!("{access:?} needs an image; '{}' is not one", res.name))
            }
            _ => None,
        };
        if let Some(message) = bad {
            self.graph.errors.push(GraphError::InvalidAccess { pass: node.name.clone(), message });
            return None;
        }
        let version = if own_earlier { handle.version() } else { res.version };
        let produced = info.write.then(|| {
            res.version += 1;
            res.version
        });
        node.accesses.push(PassAccess { resource: handle.id(), version, produced, access, range });
        Some(res.version)
    }

    /// Declares a read of the whole resource.
    pub fn read<H: Handle>(mut self, handle: &H, access: Access) -> Self {
        self.declare(handle, access, None);
        self
    }

    /// Declares a read of some mips/layers of an image.
    pub fn read_range(mut self, handle: &ImageHandle, access: Access, range: Subresources) -> Self {
        self.declare(handle, access, Some(range));
        self
    }

    /// Declares a write (the access must be a writing one, or it is a read); the handle moves to
    /// the version this pass produces.
    pub fn write<H: Handle>(mut self, handle: &mut H, access: Access) -> Self {
        if let Some(v) = self.declare(handle, access, None) {
            *handle = handle.with_version(v);
        }
        self
    }

    /// Declares a write of some mips/layers of an image.
    pub fn write_range(
        mut self,
        handle: &mut ImageHandle,
        access: Access,
        range: Subresources,
    ) -> Self {
        if let Some(v) = self.declare(handle, access, Some(range)) {
            *handle = handle.with_version(v);
        }
        self
    }

    /// Keeps the pass even when nothing reads what it writes (readbacks, debug output).
    pub fn side_effect(mut self) -> Self {
        if let Some(n) = self.node.as_mut() {
            n.side_effect = true;
        }
        self
    }

    /// Gives the pass its recording closure and adds it to the graph. The closure records into
    /// `ctx.cmd`; an `Err` stops [`Executor::execute`](crate::Executor::execute).
    pub fn record(mut self, f: impl FnOnce(&mut PassContext<'_>) -> Result<(), ExecuteError> + 'g) {
        if let Some(mut n) = self.node.take() {
            n.record = Some(Box::new(f));
            self.graph.passes.push(n);
        }
    }
}

impl Drop for PassBuilder<'_, '_> {
    fn drop(&mut self) {
        // A pass without a closure still takes part (it may only exist for its accesses).
        if let Some(n) = self.node.take() {
            self.graph.passes.push(n);
        }
    }
}

/// Accesses an image can be declared with (or be in): those with an image layout.
fn is_image_access(a: Access) -> bool {
    a.info().layout != vk::ImageLayout::UNDEFINED
}

/// Why a resource shape cannot exist, if it cannot.
fn invalid_shape(kind: &ResourceKind) -> Option<String> {
    match kind {
        ResourceKind::Image(i) => {
            let e = i.extent;
            if e.width == 0
                || e.height == 0
                || e.depth == 0
                || i.mip_levels == 0
                || i.array_layers == 0
            {
                return Some("zero extent, mip levels or layers".into());
            }
            let max_mips = xpg::full_mip_count(e.width, e.height.max(e.depth));
            if i.mip_levels > max_mips {
                return Some(format!(
                    "{} mip levels, at most {max_mips} for this extent",
                    i.mip_levels
                ));
            }
            if e.depth > 1 && i.array_layers > 1 {
                return Some("a 3D image has one layer".into());
            }
            if !i.samples.is_power_of_two() || i.samples > 64 {
                return Some(format!("{} samples per texel (1, 2, 4, ... 64)", i.samples));
            }
            if i.samples > 1 && (i.mip_levels > 1 || e.depth > 1) {
                return Some("a multisampled image has one mip level and is 2D".into());
            }
            if i.array_layers > 2048 || (i.mip_levels as u64) * (i.array_layers as u64) > 1 << 16 {
                return Some(format!(
                    "{} layers x {} mips is too many subresources",
                    i.array_layers, i.mip_levels
                ));
            }
            None
        }
        ResourceKind::Buffer { size } if *size == 0 || *size > 1 << 40 => {
            Some(format!("buffer size {size} out of range (1 byte .. 1 TiB)"))
        }
        // Imports have size 0 (their storage exists); `create_accel` gives a size.
        ResourceKind::Accel { size, .. } if *size > 1 << 40 => {
            Some(format!("acceleration structure size {size} out of range (.. 1 TiB)"))
        }
        _ => None,
    }
}
