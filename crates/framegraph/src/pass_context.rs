//! What a pass's recording closure gets: [`PassContext`] (its command buffer, the Vulkan
//! objects behind its handles, views and bindless slots made on demand) and [`Bind`].

use std::collections::HashMap;

use xpg::vk;
use xpg::{BindlessHeap, BindlessIndex, Context};

use crate::execute::ExecuteError;
use crate::graph::{BufferHandle, Handle, ImageHandle, ImageInfo, ImportedRaw, ResourceKind};
use crate::pool::{create_view, TransientPool};

/// Views and bindless slots made for one image (whole image: `mip == u32::MAX`).
#[derive(Default)]
pub(crate) struct ViewEntry {
    pub(crate) view: vk::ImageView,
    pub(crate) owned: bool,
    pub(crate) sampled: Option<BindlessIndex>,
    pub(crate) storage: Option<BindlessIndex>,
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
    pub(crate) ctx: &'a Context,
    pub(crate) graph_kinds: &'a [ResourceKind],
    pub(crate) raw: &'a [ImportedRaw],
    pub(crate) pool: &'a mut TransientPool,
    pub(crate) frame_views: &'a mut HashMap<(vk::Image, u32, u32), ViewEntry>,
    pub(crate) heap: Option<&'a BindlessHeap>,
    pub(crate) objects_created: &'a mut u64,
    pub(crate) pass: &'a str,
    /// Resources the pass declared: the only ones it may touch (barriers cover nothing else,
    /// and an undeclared transient's memory may belong to another one right now).
    pub(crate) declared: &'a [u32],
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

    /// [`PassContext::begin_rendering`] within `area` of the attachments (`extent`): loads,
    /// clears and stores touch only that part.
    ///
    /// # Safety
    /// As [`PassContext::begin_rendering`]; `area` lies within `extent`.
    pub unsafe fn begin_rendering_area(
        &self,
        extent: vk::Extent2D,
        area: vk::Rect2D,
        color: &[vk::RenderingAttachmentInfo<'_>],
        depth: Option<&vk::RenderingAttachmentInfo<'_>>,
    ) {
        // SAFETY: `cmd` is recording while a pass closure runs; the caller's contract covers
        // the rest.
        unsafe { xpg::begin_rendering_area(self.device(), self.cmd, extent, area, color, depth) }
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

    /// Copies mip 0, layer 0 of the color image `src` into `dst`, tightly packed rows from
    /// offset 0; declare [`Access::TransferSrc`](crate::Access) on `src` and `TransferDst` on
    /// `dst` (for a readback, import `dst` with the final access `HostRead`).
    pub fn copy_image_to_buffer(
        &self,
        src: &ImageHandle,
        dst: &BufferHandle,
    ) -> Result<(), ExecuteError> {
        let (image, _, info) = self.image_parts(src)?;
        let (buffer, _) = self.buffer_parts(dst)?;
        let texel = xpg::format_texel_size(info.format).ok_or_else(|| {
            self.err(format!("format {:?} cannot be copied to a buffer", info.format))
        })?;
        let e = info.extent;
        let need = u64::from(e.width) * u64::from(e.height) * u64::from(e.depth) * u64::from(texel);
        let size = match self.graph_kinds.get(dst.id() as usize) {
            Some(ResourceKind::Buffer { size }) => *size,
            _ => return Err(self.err("not a buffer handle of this graph".into())),
        };
        if size < need {
            return Err(self.err(format!("buffer of {size} bytes; the image needs {need}")));
        }
        let region = vk::BufferImageCopy {
            buffer_offset: 0,
            buffer_row_length: 0,
            buffer_image_height: 0,
            image_subresource: vk::ImageSubresourceLayers {
                aspect_mask: xpg::format_aspect(info.format),
                mip_level: 0,
                base_array_layer: 0,
                layer_count: 1,
            },
            image_offset: vk::Offset3D::default(),
            image_extent: e,
        };
        // SAFETY: `cmd` is recording; with the declared accesses the graph put the image in
        // TRANSFER_SRC_OPTIMAL; the buffer holds the whole region (checked above).
        unsafe {
            self.device().cmd_copy_image_to_buffer(
                self.cmd,
                image,
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                buffer,
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

pub(crate) fn release_views(ctx: &Context, entries: impl IntoIterator<Item = ViewEntry>) {
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
