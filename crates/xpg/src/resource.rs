//! Buffers, images, image views and samplers. Each owns its memory and is destroyed when the
//! GPU is done with it (see the deferred destruction in [`crate::context`]).

use std::sync::Arc;

use ash::vk;
use gpu_allocator::vulkan::{Allocation, AllocationCreateDesc, AllocationScheme};
use gpu_allocator::MemoryLocation;

use crate::context::{Context, GpuError, Shared, VkResultExt};

/// Where a buffer's memory lives, by how it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryUsage {
    /// Device-local; written by the GPU or by uploads. On unified-memory devices (lavapipe,
    /// integrated GPUs) it is also host-visible and uploads take the direct path.
    GpuOnly,
    /// Device-local and filled by the CPU. Chosen from the memory heaps: where the CPU can
    /// write device-local memory in place ([`Caps::direct_device_upload`](crate::Caps):
    /// resizable BAR or unified memory) it is mapped and uploads are a `memcpy`; elsewhere it is
    /// plain GPU-only memory and uploads go through the staging ring.
    DeviceUpload,
    /// Written by the CPU, read by the GPU: device-local and host-visible when the device has
    /// such memory (resizable BAR, unified memory), else host memory.
    Upload,
    /// Written by the GPU, read by the CPU (host-cached when available).
    Readback,
}

impl MemoryUsage {
    fn location(self, caps: &crate::Caps) -> MemoryLocation {
        match self {
            MemoryUsage::GpuOnly => MemoryLocation::GpuOnly,
            // CpuToGpu prefers DEVICE_LOCAL | HOST_VISIBLE (the BAR heap) in gpu-allocator.
            MemoryUsage::DeviceUpload if caps.direct_device_upload() => MemoryLocation::CpuToGpu,
            MemoryUsage::DeviceUpload => MemoryLocation::GpuOnly,
            MemoryUsage::Upload => MemoryLocation::CpuToGpu,
            MemoryUsage::Readback => MemoryLocation::GpuToCpu,
        }
    }
}

/// How to create a [`Buffer`].
#[derive(Debug, Clone)]
pub struct BufferDesc<'a> {
    /// Size in bytes (> 0).
    pub size: u64,
    /// Usage; transfer source/destination and device address are always added.
    pub usage: vk::BufferUsageFlags,
    /// Memory placement.
    pub memory: MemoryUsage,
    /// Debug name.
    pub name: &'a str,
}

/// A buffer with its memory and device address.
pub struct Buffer {
    shared: Arc<Shared>,
    raw: vk::Buffer,
    allocation: Option<Allocation>,
    size: u64,
    address: vk::DeviceAddress,
    name: String,
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer").field("name", &self.name).field("size", &self.size).finish()
    }
}

impl Buffer {
    /// Creates a buffer and binds fresh memory to it.
    pub fn new(ctx: &Context, desc: &BufferDesc<'_>) -> Result<Self, GpuError> {
        if desc.size == 0 {
            return Err(GpuError::Invalid(format!("buffer '{}': size 0", desc.name)));
        }
        let shared = Arc::clone(&ctx.shared);
        let device = &shared.device;
        let usage = desc.usage
            | vk::BufferUsageFlags::TRANSFER_SRC
            | vk::BufferUsageFlags::TRANSFER_DST
            | vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS;
        let info = vk::BufferCreateInfo::default().size(desc.size).usage(usage);
        // SAFETY: valid create info; the buffer is destroyed in `Drop` (deferred).
        let raw = unsafe { device.create_buffer(&info, None) }.vk("vkCreateBuffer")?;
        // SAFETY: `raw` was just created from `device`.
        let reqs = unsafe { device.get_buffer_memory_requirements(raw) };
        let allocation = shared.allocator.lock().unwrap_or_else(|e| e.into_inner()).allocate(
            &AllocationCreateDesc {
                name: desc.name,
                requirements: reqs,
                location: desc.memory.location(&shared.caps),
                linear: true,
                allocation_scheme: AllocationScheme::GpuAllocatorManaged,
            },
        );
        let allocation = match allocation {
            Ok(a) => a,
            Err(source) => {
                // SAFETY: the buffer is unused and unbound.
                unsafe { device.destroy_buffer(raw, None) };
                return Err(GpuError::Allocation {
                    what: format!("buffer '{}'", desc.name),
                    source,
                });
            }
        };
        // SAFETY: the allocation satisfies `reqs` and is bound once.
        let bound =
            unsafe { device.bind_buffer_memory(raw, allocation.memory(), allocation.offset()) };
        let address = bound.map(|_| {
            // SAFETY: the buffer has SHADER_DEVICE_ADDRESS usage and bound memory.
            unsafe {
                device
                    .get_buffer_device_address(&vk::BufferDeviceAddressInfo::default().buffer(raw))
            }
        });
        let mut buffer = Self {
            shared,
            raw,
            allocation: Some(allocation),
            size: desc.size,
            address: 0,
            name: desc.name.to_string(),
        };
        buffer.address = address.vk("vkBindBufferMemory")?;
        ctx.set_name(raw, desc.name);
        Ok(buffer)
    }

    /// The Vulkan handle.
    pub fn raw(&self) -> vk::Buffer {
        self.raw
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The GPU address for shaders (`T*` in Slang).
    pub fn address(&self) -> vk::DeviceAddress {
        self.address
    }
    /// Debug name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The mapped bytes when the memory is host-visible and coherent.
    ///
    /// Writing here while the GPU may read the buffer is a data race the caller must avoid.
    pub fn mapped(&mut self) -> Option<&mut [u8]> {
        let a = self.allocation.as_mut()?;
        if !a.memory_properties().contains(vk::MemoryPropertyFlags::HOST_COHERENT) {
            return None;
        }
        a.mapped_slice_mut().map(|s| &mut s[..self.size as usize])
    }
    /// Whether [`Buffer::mapped`] gives access.
    pub fn is_mapped(&self) -> bool {
        self.allocation.as_ref().is_some_and(|a| {
            a.mapped_ptr().is_some()
                && a.memory_properties().contains(vk::MemoryPropertyFlags::HOST_COHERENT)
        })
    }
    /// Reads the mapped bytes (see [`Buffer::mapped`]).
    pub fn mapped_read(&self) -> Option<&[u8]> {
        let a = self.allocation.as_ref()?;
        if !a.memory_properties().contains(vk::MemoryPropertyFlags::HOST_COHERENT) {
            return None;
        }
        a.mapped_slice().map(|s| &s[..self.size as usize])
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let raw = self.raw;
        let allocation = self.allocation.take();
        self.shared.defer(move |device, alloc| {
            // SAFETY: deferred until the GPU finished every submission that could use `raw`.
            unsafe { device.destroy_buffer(raw, None) };
            if let Some(a) = allocation {
                let _ = alloc.free(a);
            }
        });
    }
}

/// How to create an [`Image`].
#[derive(Debug, Clone)]
pub struct ImageDesc<'a> {
    /// Width, height, depth (depth 1 for 2D images).
    pub extent: vk::Extent3D,
    /// Pixel format (sRGB formats allowed).
    pub format: vk::Format,
    /// Mip levels (>= 1).
    pub mip_levels: u32,
    /// Array layers (>= 1; 6 with `cube` for cube maps).
    pub array_layers: u32,
    /// Usage flags; TRANSFER_SRC and TRANSFER_DST are always added.
    pub usage: vk::ImageUsageFlags,
    /// A cube-compatible image.
    pub cube: bool,
    /// Viewed as a 2D array even with one layer (shaders that declare arrays).
    pub array: bool,
    /// Debug name.
    pub name: &'a str,
}

impl<'a> ImageDesc<'a> {
    /// A 2D image of one mip level and layer.
    pub fn d2(
        name: &'a str,
        width: u32,
        height: u32,
        format: vk::Format,
        usage: vk::ImageUsageFlags,
    ) -> Self {
        Self {
            extent: vk::Extent3D { width, height, depth: 1 },
            format,
            mip_levels: 1,
            array_layers: 1,
            usage,
            cube: false,
            array: false,
            name,
        }
    }
    /// Viewed as a 2D array even with one layer.
    pub fn array(mut self) -> Self {
        self.array = true;
        self
    }
    /// Sets the number of mip levels.
    pub fn mips(mut self, levels: u32) -> Self {
        self.mip_levels = levels;
        self
    }
    /// Sets the number of array layers.
    pub fn layers(mut self, layers: u32) -> Self {
        self.array_layers = layers;
        self
    }
}

/// The number of mip levels of a full chain for a `width x height` image.
pub fn full_mip_count(width: u32, height: u32) -> u32 {
    32 - width.max(height).max(1).leading_zeros()
}

/// The aspect of a format (color, depth, depth+stencil).
pub fn format_aspect(format: vk::Format) -> vk::ImageAspectFlags {
    match format {
        vk::Format::D16_UNORM | vk::Format::D32_SFLOAT | vk::Format::X8_D24_UNORM_PACK32 => {
            vk::ImageAspectFlags::DEPTH
        }
        vk::Format::D16_UNORM_S8_UINT
        | vk::Format::D24_UNORM_S8_UINT
        | vk::Format::D32_SFLOAT_S8_UINT => {
            vk::ImageAspectFlags::DEPTH | vk::ImageAspectFlags::STENCIL
        }
        vk::Format::S8_UINT => vk::ImageAspectFlags::STENCIL,
        _ => vk::ImageAspectFlags::COLOR,
    }
}

/// Bytes per texel of uncompressed color formats the framework uploads and reads back.
pub fn format_texel_size(format: vk::Format) -> Option<u32> {
    use vk::Format as F;
    Some(match format {
        F::R8_UNORM | F::R8_UINT | F::R8_SRGB => 1,
        F::R8G8_UNORM | F::R16_SFLOAT | F::R16_UINT | F::D16_UNORM => 2,
        F::R8G8B8A8_UNORM
        | F::R8G8B8A8_SRGB
        | F::B8G8R8A8_UNORM
        | F::B8G8R8A8_SRGB
        | F::R32_SFLOAT
        | F::R32_UINT
        | F::R16G16_SFLOAT
        | F::A2B10G10R10_UNORM_PACK32
        | F::B10G11R11_UFLOAT_PACK32
        | F::D32_SFLOAT
        | F::R8G8B8A8_UINT => 4,
        F::R16G16B16A16_SFLOAT | F::R32G32_SFLOAT | F::R16G16B16A16_UNORM => 8,
        F::R32G32B32A32_SFLOAT | F::R32G32B32A32_UINT => 16,
        _ => return None,
    })
}

/// An image with its memory and a default view of every mip and layer.
pub struct Image {
    shared: Arc<Shared>,
    raw: vk::Image,
    view: vk::ImageView,
    allocation: Option<Allocation>,
    desc_extent: vk::Extent3D,
    format: vk::Format,
    mip_levels: u32,
    array_layers: u32,
    name: String,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("name", &self.name)
            .field("extent", &self.desc_extent)
            .field("format", &self.format)
            .finish()
    }
}

impl Image {
    /// Creates an image in device-local memory (optimal tiling, layout UNDEFINED) and its
    /// default view.
    pub fn new(ctx: &Context, desc: &ImageDesc<'_>) -> Result<Self, GpuError> {
        let e = desc.extent;
        if e.width == 0
            || e.height == 0
            || e.depth == 0
            || desc.mip_levels == 0
            || desc.array_layers == 0
        {
            return Err(GpuError::Invalid(format!(
                "image '{}': zero extent, mips or layers",
                desc.name
            )));
        }
        let invalid =
            |what: String| Err(GpuError::Invalid(format!("image '{}': {what}", desc.name)));
        let max_mips = full_mip_count(e.width, e.height.max(e.depth));
        if desc.mip_levels > max_mips {
            return invalid(format!(
                "{} mip levels, a {}x{}x{} image has at most {max_mips}",
                desc.mip_levels, e.width, e.height, e.depth
            ));
        }
        if e.depth > 1 && (desc.array_layers > 1 || desc.cube) {
            return invalid("a 3D image has one layer and is not a cube".into());
        }
        if desc.cube && (e.width != e.height || desc.array_layers % 6 != 0) {
            return invalid(format!(
                "a cube needs square faces and layers in multiples of 6 ({}x{}, {} layers)",
                e.width, e.height, desc.array_layers
            ));
        }
        let shared = Arc::clone(&ctx.shared);
        let device = &shared.device;
        let image_type = if e.depth > 1 { vk::ImageType::TYPE_3D } else { vk::ImageType::TYPE_2D };
        let mut flags = vk::ImageCreateFlags::empty();
        if desc.cube {
            flags |= vk::ImageCreateFlags::CUBE_COMPATIBLE;
        }
        let usage =
            desc.usage | vk::ImageUsageFlags::TRANSFER_SRC | vk::ImageUsageFlags::TRANSFER_DST;
        // SAFETY: plain query on the context's physical device.
        let limits = unsafe {
            shared.instance.get_physical_device_image_format_properties(
                shared.physical,
                desc.format,
                image_type,
                vk::ImageTiling::OPTIMAL,
                usage,
                flags,
            )
        };
        let limits = match limits {
            Ok(l) => l,
            Err(e) => {
                return invalid(format!(
                    "format {:?} with usage {usage:?} is not supported by the device ({e})",
                    desc.format
                ))
            }
        };
        let m = limits.max_extent;
        if e.width > m.width || e.height > m.height || e.depth > m.depth {
            return invalid(format!(
                "extent {}x{}x{} exceeds the device's {}x{}x{}",
                e.width, e.height, e.depth, m.width, m.height, m.depth
            ));
        }
        if desc.array_layers > limits.max_array_layers || desc.mip_levels > limits.max_mip_levels {
            return invalid(format!(
                "{} layers / {} mips exceed the device's {} / {}",
                desc.array_layers, desc.mip_levels, limits.max_array_layers, limits.max_mip_levels
            ));
        }
        let info = vk::ImageCreateInfo::default()
            .flags(flags)
            .image_type(image_type)
            .format(desc.format)
            .extent(e)
            .mip_levels(desc.mip_levels)
            .array_layers(desc.array_layers)
            .samples(vk::SampleCountFlags::TYPE_1)
            .tiling(vk::ImageTiling::OPTIMAL)
            .usage(usage)
            .initial_layout(vk::ImageLayout::UNDEFINED);
        // SAFETY: valid create info; destroyed in `Drop` (deferred).
        let raw = unsafe { device.create_image(&info, None) }.vk("vkCreateImage")?;
        // SAFETY: `raw` was just created from `device`.
        let reqs = unsafe { device.get_image_memory_requirements(raw) };
        let allocation = shared.allocator.lock().unwrap_or_else(|e| e.into_inner()).allocate(
            &AllocationCreateDesc {
                name: desc.name,
                requirements: reqs,
                location: MemoryLocation::GpuOnly,
                linear: false,
                allocation_scheme: AllocationScheme::GpuAllocatorManaged,
            },
        );
        let allocation = match allocation {
            Ok(a) => a,
            Err(source) => {
                // SAFETY: unused, unbound image.
                unsafe { device.destroy_image(raw, None) };
                return Err(GpuError::Allocation {
                    what: format!("image '{}'", desc.name),
                    source,
                });
            }
        };
        let mut image = Self {
            shared: Arc::clone(&shared),
            raw,
            view: vk::ImageView::null(),
            allocation: Some(allocation),
            desc_extent: e,
            format: desc.format,
            mip_levels: desc.mip_levels,
            array_layers: desc.array_layers,
            name: desc.name.to_string(),
        };
        // SAFETY: reading the memory handle; it stays owned by the allocation.
        let a = image.allocation.as_ref().map(|a| (unsafe { a.memory() }, a.offset()));
        if let Some((mem, off)) = a {
            // SAFETY: the allocation satisfies `reqs` and is bound once.
            unsafe { device.bind_image_memory(raw, mem, off) }.vk("vkBindImageMemory")?;
        }
        let view_type = if desc.cube {
            if desc.array_layers > 6 {
                vk::ImageViewType::CUBE_ARRAY
            } else {
                vk::ImageViewType::CUBE
            }
        } else if e.depth > 1 {
            vk::ImageViewType::TYPE_3D
        } else if desc.array_layers > 1 || desc.array {
            vk::ImageViewType::TYPE_2D_ARRAY
        } else {
            vk::ImageViewType::TYPE_2D
        };
        // Images used only for transfers cannot have views.
        let viewable = vk::ImageUsageFlags::SAMPLED
            | vk::ImageUsageFlags::STORAGE
            | vk::ImageUsageFlags::COLOR_ATTACHMENT
            | vk::ImageUsageFlags::DEPTH_STENCIL_ATTACHMENT
            | vk::ImageUsageFlags::INPUT_ATTACHMENT;
        if desc.usage.intersects(viewable) {
            image.view = image.create_view_raw(view_type, image.full_range())?;
        }
        ctx.set_name(raw, desc.name);
        Ok(image)
    }

    fn create_view_raw(
        &self,
        ty: vk::ImageViewType,
        range: vk::ImageSubresourceRange,
    ) -> Result<vk::ImageView, GpuError> {
        let info = vk::ImageViewCreateInfo::default()
            .image(self.raw)
            .view_type(ty)
            .format(self.format)
            .subresource_range(range);
        // SAFETY: the image is alive and the range lies inside it (checked by callers).
        unsafe { self.shared.device.create_image_view(&info, None) }.vk("vkCreateImageView")
    }

    /// A view of some mips/layers, destroyed (deferred) when dropped.
    pub fn create_view(
        &self,
        ty: vk::ImageViewType,
        range: vk::ImageSubresourceRange,
    ) -> Result<ImageView, GpuError> {
        let within = |base: u32, count: u32, total: u32| {
            let count =
                if count == vk::REMAINING_MIP_LEVELS { total.saturating_sub(base) } else { count };
            count > 0 && base.checked_add(count).is_some_and(|end| end <= total)
        };
        if !within(range.base_mip_level, range.level_count, self.mip_levels)
            || !within(range.base_array_layer, range.layer_count, self.array_layers)
        {
            return Err(GpuError::Invalid(format!(
                "image '{}': view range {range:?} out of bounds",
                self.name
            )));
        }
        Ok(ImageView { shared: Arc::clone(&self.shared), raw: self.create_view_raw(ty, range)? })
    }

    /// Every mip and layer.
    pub fn full_range(&self) -> vk::ImageSubresourceRange {
        vk::ImageSubresourceRange {
            aspect_mask: format_aspect(self.format),
            base_mip_level: 0,
            level_count: self.mip_levels,
            base_array_layer: 0,
            layer_count: self.array_layers,
        }
    }
    /// The Vulkan handle.
    pub fn raw(&self) -> vk::Image {
        self.raw
    }
    /// The default view (all mips and layers); null for transfer-only images.
    pub fn view(&self) -> vk::ImageView {
        self.view
    }
    /// Extent of mip 0.
    pub fn extent(&self) -> vk::Extent3D {
        self.desc_extent
    }
    /// Extent of mip `level`.
    pub fn mip_extent(&self, level: u32) -> vk::Extent3D {
        let e = self.desc_extent;
        vk::Extent3D {
            width: (e.width >> level).max(1),
            height: (e.height >> level).max(1),
            depth: (e.depth >> level).max(1),
        }
    }
    /// Pixel format.
    pub fn format(&self) -> vk::Format {
        self.format
    }
    /// Mip levels.
    pub fn mip_levels(&self) -> u32 {
        self.mip_levels
    }
    /// Array layers.
    pub fn array_layers(&self) -> u32 {
        self.array_layers
    }
    /// Debug name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let (raw, view, allocation) = (self.raw, self.view, self.allocation.take());
        self.shared.defer(move |device, alloc| {
            // SAFETY: deferred until the GPU finished every submission that could use them.
            unsafe {
                device.destroy_image_view(view, None);
                device.destroy_image(raw, None);
            }
            if let Some(a) = allocation {
                let _ = alloc.free(a);
            }
        });
    }
}

/// An extra view of an [`Image`].
pub struct ImageView {
    shared: Arc<Shared>,
    raw: vk::ImageView,
}
impl std::fmt::Debug for ImageView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ImageView").field(&self.raw).finish()
    }
}
impl ImageView {
    /// The Vulkan handle.
    pub fn raw(&self) -> vk::ImageView {
        self.raw
    }
}
impl Drop for ImageView {
    fn drop(&mut self) {
        let raw = self.raw;
        // SAFETY: deferred until the GPU finished every submission that could use the view.
        self.shared.defer(move |device, _| unsafe { device.destroy_image_view(raw, None) });
    }
}

/// A sampler.
pub struct Sampler {
    shared: Arc<Shared>,
    raw: vk::Sampler,
}
impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Sampler").field(&self.raw).finish()
    }
}
impl Sampler {
    /// Creates a sampler from a full create info.
    pub fn new(ctx: &Context, info: &vk::SamplerCreateInfo<'_>) -> Result<Self, GpuError> {
        // SAFETY: valid create info for this device.
        let raw = unsafe { ctx.shared.device.create_sampler(info, None) }.vk("vkCreateSampler")?;
        Ok(Self { shared: Arc::clone(&ctx.shared), raw })
    }
    /// Trilinear filtering with `address` mode on all axes, every mip level.
    pub fn linear(ctx: &Context, address: vk::SamplerAddressMode) -> Result<Self, GpuError> {
        Self::new(
            ctx,
            &vk::SamplerCreateInfo::default()
                .mag_filter(vk::Filter::LINEAR)
                .min_filter(vk::Filter::LINEAR)
                .mipmap_mode(vk::SamplerMipmapMode::LINEAR)
                .address_mode_u(address)
                .address_mode_v(address)
                .address_mode_w(address)
                .max_lod(vk::LOD_CLAMP_NONE),
        )
    }
    /// Nearest filtering, nearest mip, `address` mode on all axes.
    pub fn nearest(ctx: &Context, address: vk::SamplerAddressMode) -> Result<Self, GpuError> {
        Self::new(
            ctx,
            &vk::SamplerCreateInfo::default()
                .mag_filter(vk::Filter::NEAREST)
                .min_filter(vk::Filter::NEAREST)
                .mipmap_mode(vk::SamplerMipmapMode::NEAREST)
                .address_mode_u(address)
                .address_mode_v(address)
                .address_mode_w(address)
                .max_lod(vk::LOD_CLAMP_NONE),
        )
    }
    /// The Vulkan handle.
    pub fn raw(&self) -> vk::Sampler {
        self.raw
    }
}
impl Drop for Sampler {
    fn drop(&mut self) {
        let raw = self.raw;
        // SAFETY: deferred until the GPU finished every submission that could use the sampler.
        self.shared.defer(move |device, _| unsafe { device.destroy_sampler(raw, None) });
    }
}
