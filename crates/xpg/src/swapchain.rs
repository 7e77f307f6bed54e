//! Window surfaces and swapchains (through raw-window-handle and ash-window: xpg does not
//! depend on a windowing library).
//!
//! One frame with a swapchain:
//! 1. [`Swapchain::acquire`] (after [`crate::FrameRing::begin`], which waited for the frame
//!    slot) gives a [`SwapchainImage`]; `None` while the window is minimised (zero extent).
//! 2. The frame imports `image`/`view` (contents discarded, final state present) and is
//!    submitted with [`crate::FrameRing::end_with`], waiting on `acquired` and signalling
//!    `rendered`.
//! 3. [`Swapchain::present`] waits on `rendered`.
//!
//! Out-of-date and suboptimal results mark the swapchain for recreation, which the next
//! `acquire` does (at the window's current size), as does a size change.

use ash::vk;
use raw_window_handle::{RawDisplayHandle, RawWindowHandle};

use crate::context::{Context, GpuError, VkResultExt};

/// What the swapchain should be like.
#[derive(Debug, Clone, Copy)]
pub struct SwapchainDesc {
    /// Wait for vertical blank (FIFO) or not (MAILBOX, else IMMEDIATE, else FIFO).
    pub vsync: bool,
    /// Frames in flight of the program (one acquire semaphore each).
    pub frames_in_flight: usize,
}

/// An acquired swapchain image.
#[derive(Debug, Clone, Copy)]
pub struct SwapchainImage {
    /// Index in the swapchain.
    pub index: u32,
    /// The image (usage: color attachment, transfer destination).
    pub image: vk::Image,
    /// A 2D view of it.
    pub view: vk::ImageView,
    /// Its format.
    pub format: vk::Format,
    /// Its size.
    pub extent: vk::Extent2D,
    /// Its usage: color attachment and transfer destination, and transfer source where the
    /// surface allows (to read back what was presented).
    pub usage: vk::ImageUsageFlags,
    /// Signalled when the image is ready to be written: wait on it in the frame's submission.
    pub acquired: vk::Semaphore,
    /// Signal it from the frame's submission; presenting waits on it.
    pub rendered: vk::Semaphore,
}

/// A window surface and its swapchain.
pub struct Swapchain {
    ctx: Context,
    surface_fns: ash::khr::surface::Instance,
    fns: ash::khr::swapchain::Device,
    surface: vk::SurfaceKHR,
    swapchain: vk::SwapchainKHR,
    images: Vec<vk::Image>,
    views: Vec<vk::ImageView>,
    /// One per swapchain image: a present's wait is known to be over once its image is
    /// acquired again.
    rendered: Vec<vk::Semaphore>,
    /// One per frame in flight: reused once that frame slot's submission completed.
    acquire: Vec<vk::Semaphore>,
    format: vk::SurfaceFormatKHR,
    extent: vk::Extent2D,
    desc: SwapchainDesc,
    stale: bool,
    /// The window size the swapchain was last made for (the surface may clamp it).
    requested: (u32, u32),
    usage: vk::ImageUsageFlags,
    recreations: u64,
}

impl std::fmt::Debug for Swapchain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Swapchain")
            .field("images", &self.images.len())
            .field("format", &self.format.format)
            .field("extent", &self.extent)
            .finish()
    }
}

impl Swapchain {
    /// A surface for the window and a swapchain of `width` x `height` (clamped to what the
    /// surface allows).
    ///
    /// # Safety
    /// The handles refer to a live window and display that outlive the returned swapchain.
    pub unsafe fn new(
        ctx: &Context,
        display: RawDisplayHandle,
        window: RawWindowHandle,
        width: u32,
        height: u32,
        desc: SwapchainDesc,
    ) -> Result<Self, GpuError> {
        if !ctx.supports_swapchain() {
            return Err(GpuError::Invalid(
                "this Vulkan instance/device has no VK_KHR_surface / VK_KHR_swapchain".into(),
            ));
        }
        // The platform's surface extension must be one the context enabled (Context::new
        // enables every one of its list that the loader offers).
        let required = ash_window::enumerate_required_extensions(display)
            .map_err(|result| GpuError::Vk { call: "enumerate_required_extensions", result })?;
        // SAFETY: plain enumeration on a loaded entry.
        let available = unsafe { ctx.entry().enumerate_instance_extension_properties(None) }
            .unwrap_or_default();
        for &name in required {
            // SAFETY: ash-window returns pointers to static NUL-terminated names.
            let name = unsafe { std::ffi::CStr::from_ptr(name) };
            let known = crate::context::SURFACE_EXTENSIONS.contains(&name);
            if !known || !available.iter().any(|e| e.extension_name_as_c_str() == Ok(name)) {
                return Err(GpuError::Invalid(format!(
                    "the window needs {name:?}, which this Vulkan instance does not have"
                )));
            }
        }
        // SAFETY: the caller guarantees the handles are live; the instance enabled the
        // platform's surface extension (checked above).
        let surface = unsafe {
            ash_window::create_surface(ctx.entry(), ctx.instance(), display, window, None)
        }
        .vk("vkCreateSurfaceKHR")?;
        let surface_fns = ash::khr::surface::Instance::new(ctx.entry(), ctx.instance());
        let fns = ash::khr::swapchain::Device::new(ctx.instance(), ctx.device());
        let mut sc = Self {
            ctx: ctx.clone(),
            surface_fns,
            fns,
            surface,
            swapchain: vk::SwapchainKHR::null(),
            images: Vec::new(),
            views: Vec::new(),
            rendered: Vec::new(),
            acquire: Vec::new(),
            format: vk::SurfaceFormatKHR::default(),
            extent: vk::Extent2D::default(),
            desc,
            stale: true,
            requested: (0, 0),
            usage: vk::ImageUsageFlags::empty(),
            recreations: 0,
        };
        // SAFETY: valid queue family and surface.
        let present = unsafe {
            sc.surface_fns.get_physical_device_surface_support(
                ctx.physical_device(),
                ctx.queue().1,
                surface,
            )
        }
        .vk("vkGetPhysicalDeviceSurfaceSupportKHR")?;
        if !present {
            return Err(GpuError::Invalid("the queue cannot present to this window".into()));
        }
        for _ in 0..desc.frames_in_flight.max(1) {
            let s = sc.semaphore()?;
            sc.acquire.push(s);
        }
        sc.format = sc.choose_format()?;
        sc.recreate(width, height)?;
        Ok(sc)
    }

    fn semaphore(&self) -> Result<vk::Semaphore, GpuError> {
        // SAFETY: plain binary semaphore creation; destroyed in Drop.
        unsafe { self.ctx.device().create_semaphore(&vk::SemaphoreCreateInfo::default(), None) }
            .vk("vkCreateSemaphore")
    }

    /// The current format (8-bit UNORM when the surface offers one: the UI writes sRGB
    /// values itself).
    pub fn format(&self) -> vk::Format {
        self.format.format
    }
    /// The current size.
    pub fn extent(&self) -> vk::Extent2D {
        self.extent
    }
    /// How many times the swapchain was (re)created.
    pub fn recreations(&self) -> u64 {
        self.recreations
    }
    /// Marks the swapchain for recreation (the window was resized).
    pub fn invalidate(&mut self) {
        self.stale = true;
    }

    fn choose_format(&self) -> Result<vk::SurfaceFormatKHR, GpuError> {
        // SAFETY: valid physical device and surface.
        let formats = unsafe {
            self.surface_fns
                .get_physical_device_surface_formats(self.ctx.physical_device(), self.surface)
        }
        .vk("vkGetPhysicalDeviceSurfaceFormatsKHR")?;
        [vk::Format::B8G8R8A8_UNORM, vk::Format::R8G8B8A8_UNORM]
            .iter()
            .find_map(|f| {
                formats
                    .iter()
                    .find(|s| s.format == *f && s.color_space == vk::ColorSpaceKHR::SRGB_NONLINEAR)
            })
            .copied()
            .ok_or_else(|| {
                GpuError::Invalid(format!(
                    "the surface offers no 8-bit UNORM sRGB-nonlinear format ({formats:?})"
                ))
            })
    }

    /// Waits until the queue (presents included) is idle: a present's wait on a semaphore
    /// is not covered by the context's timeline.
    fn wait_queue_idle(&self) -> Result<(), GpuError> {
        self.ctx.wait_idle()?;
        // SAFETY: the queue is used under the context's queue lock.
        self.ctx
            .with_queue(|q| unsafe { self.ctx.device().queue_wait_idle(q) })
            .vk("vkQueueWaitIdle")
    }

    /// (Re)creates the swapchain for a window of `width` x `height`. Returns false when the
    /// surface has no area (minimised): nothing can be presented then.
    fn recreate(&mut self, width: u32, height: u32) -> Result<bool, GpuError> {
        let phys = self.ctx.physical_device();
        // SAFETY: valid physical device and surface.
        let caps = unsafe {
            self.surface_fns.get_physical_device_surface_capabilities(phys, self.surface)
        }
        .vk("vkGetPhysicalDeviceSurfaceCapabilitiesKHR")?;
        self.requested = (width, height);
        // Not `clamp`: a surface may report min > max (e.g. a max of 0 while minimised).
        let fit = |v: u32, lo: u32, hi: u32| v.max(lo).min(hi);
        let extent = if caps.current_extent.width != u32::MAX {
            caps.current_extent
        } else {
            vk::Extent2D {
                width: fit(width, caps.min_image_extent.width, caps.max_image_extent.width),
                height: fit(height, caps.min_image_extent.height, caps.max_image_extent.height),
            }
        };
        if extent.width == 0 || extent.height == 0 {
            return Ok(false);
        }
        let format = self.format;
        // SAFETY: as above.
        let modes = unsafe {
            self.surface_fns.get_physical_device_surface_present_modes(phys, self.surface)
        }
        .vk("vkGetPhysicalDeviceSurfacePresentModesKHR")?;
        let mode = if self.desc.vsync {
            vk::PresentModeKHR::FIFO
        } else {
            [vk::PresentModeKHR::MAILBOX, vk::PresentModeKHR::IMMEDIATE]
                .into_iter()
                .find(|m| modes.contains(m))
                .unwrap_or(vk::PresentModeKHR::FIFO)
        };
        let usage = vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::TRANSFER_DST;
        if !caps.supported_usage_flags.contains(usage) {
            return Err(GpuError::Invalid(format!(
                "swapchain images cannot be {usage:?} (supported: {:?})",
                caps.supported_usage_flags
            )));
        }
        let usage = usage | (caps.supported_usage_flags & vk::ImageUsageFlags::TRANSFER_SRC);
        self.usage = usage;
        let mut count = caps.min_image_count + 1;
        if caps.max_image_count > 0 {
            count = count.min(caps.max_image_count);
        }
        let alpha = [
            vk::CompositeAlphaFlagsKHR::OPAQUE,
            vk::CompositeAlphaFlagsKHR::INHERIT,
            vk::CompositeAlphaFlagsKHR::PRE_MULTIPLIED,
            vk::CompositeAlphaFlagsKHR::POST_MULTIPLIED,
        ]
        .into_iter()
        .find(|a| caps.supported_composite_alpha.contains(*a))
        .unwrap_or(vk::CompositeAlphaFlagsKHR::OPAQUE);
        // Every image of the old swapchain may still be in use by the GPU or a queued
        // present (and the semaphores with it): recreation is rare, so wait.
        self.wait_queue_idle()?;
        let old = self.swapchain;
        let info = vk::SwapchainCreateInfoKHR::default()
            .surface(self.surface)
            .min_image_count(count)
            .image_format(format.format)
            .image_color_space(format.color_space)
            .image_extent(extent)
            .image_array_layers(1)
            .image_usage(usage)
            .image_sharing_mode(vk::SharingMode::EXCLUSIVE)
            .pre_transform(caps.current_transform)
            .composite_alpha(alpha)
            .present_mode(mode)
            .clipped(true)
            .old_swapchain(old);
        // SAFETY: valid create info; `old` (possibly null) is retired by this call.
        let swapchain =
            unsafe { self.fns.create_swapchain(&info, None) }.vk("vkCreateSwapchainKHR")?;
        self.destroy_images();
        if old != vk::SwapchainKHR::null() {
            // SAFETY: retired above; the queue is idle (presents included), so none of its
            // images is in use.
            unsafe { self.fns.destroy_swapchain(old, None) };
        }
        self.swapchain = swapchain;
        // SAFETY: the swapchain was just created.
        self.images =
            unsafe { self.fns.get_swapchain_images(swapchain) }.vk("vkGetSwapchainImagesKHR")?;
        for &image in &self.images {
            let view_info = vk::ImageViewCreateInfo::default()
                .image(image)
                .view_type(vk::ImageViewType::TYPE_2D)
                .format(format.format)
                .subresource_range(vk::ImageSubresourceRange {
                    aspect_mask: vk::ImageAspectFlags::COLOR,
                    level_count: 1,
                    layer_count: 1,
                    ..Default::default()
                });
            // SAFETY: the image belongs to the swapchain; views are destroyed before it.
            let view = unsafe { self.ctx.device().create_image_view(&view_info, None) }
                .vk("vkCreateImageView")?;
            self.views.push(view);
            let s = self.semaphore()?;
            self.rendered.push(s);
        }
        self.extent = extent;
        self.stale = false;
        self.recreations += 1;
        tracing::debug!(?extent, format = ?format.format, ?mode, images = self.images.len(), "swapchain");
        Ok(true)
    }

    fn destroy_images(&mut self) {
        let device = self.ctx.device();
        // SAFETY: called with the queue idle, presents included (recreate and Drop wait): no
        // view or semaphore is in use.
        unsafe {
            for v in self.views.drain(..) {
                device.destroy_image_view(v, None);
            }
            for s in self.rendered.drain(..) {
                device.destroy_semaphore(s, None);
            }
        }
        self.images.clear();
    }

    /// Acquires the next image for a window now `width` x `height`; `frame_slot` is the frame
    /// ring's slot of the frame that will use it. `None`: nothing to draw into (minimised);
    /// skip the frame. The frame is as large as the image's `extent` (the surface decides).
    ///
    /// # Safety
    /// `frame_slot` < `SwapchainDesc::frames_in_flight`, and the previous submission of that
    /// slot (which waited on this slot's acquire semaphore) has completed
    /// (`FrameRing::begin` waits for it); every acquired image is submitted (waiting on
    /// `acquired`) before the slot's next acquire.
    pub unsafe fn acquire(
        &mut self,
        width: u32,
        height: u32,
        frame_slot: usize,
    ) -> Result<Option<SwapchainImage>, GpuError> {
        if width == 0 || height == 0 {
            return Ok(None);
        }
        if (self.stale || self.requested != (width, height)) && !self.recreate(width, height)? {
            return Ok(None);
        }
        let acquired = self.acquire[frame_slot % self.acquire.len()];
        for _ in 0..2 {
            // SAFETY: `acquired` is unsignalled: its last wait (the frame slot's previous
            // submission) completed, or it was never used; no fence.
            let r = unsafe {
                self.fns.acquire_next_image(self.swapchain, u64::MAX, acquired, vk::Fence::null())
            };
            match r {
                // Suboptimal still presents correctly; a size change recreates anyway (some
                // window systems report suboptimal on every frame).
                Ok((index, _suboptimal)) => {
                    let i = index as usize;
                    return Ok(Some(SwapchainImage {
                        index,
                        image: self.images[i],
                        view: self.views[i],
                        format: self.format.format,
                        extent: self.extent,
                        usage: self.usage,
                        acquired,
                        rendered: self.rendered[i],
                    }));
                }
                Err(vk::Result::ERROR_OUT_OF_DATE_KHR) => {
                    if !self.recreate(width, height)? {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(GpuError::Vk { call: "vkAcquireNextImageKHR", result: e }),
            }
        }
        Ok(None)
    }

    /// Presents `image` (after the frame's submission, which signals `image.rendered`).
    ///
    /// # Safety
    /// `image` was acquired from this swapchain (since its last recreation) and a submission
    /// that signals `image.rendered` and leaves the image in PRESENT_SRC was made.
    pub unsafe fn present(&mut self, image: &SwapchainImage) -> Result<(), GpuError> {
        let waits = [image.rendered];
        let swapchains = [self.swapchain];
        let indices = [image.index];
        let info = vk::PresentInfoKHR::default()
            .wait_semaphores(&waits)
            .swapchains(&swapchains)
            .image_indices(&indices);
        // SAFETY: the queue is used under the context's queue lock; the image was acquired
        // from this swapchain and its frame submitted (signalling `rendered`).
        let r = self.ctx.with_queue(|q| unsafe { self.fns.queue_present(q, &info) });
        match r {
            Ok(_) => Ok(()),
            Err(vk::Result::ERROR_OUT_OF_DATE_KHR) => {
                self.stale = true;
                Ok(())
            }
            Err(e) => Err(GpuError::Vk { call: "vkQueuePresentKHR", result: e }),
        }
    }
}

impl Drop for Swapchain {
    fn drop(&mut self) {
        if self.wait_queue_idle().is_err() {
            // SAFETY: a last resort on a lost device; the queue is taken under its lock.
            let _ = self.ctx.with_queue(|_| unsafe { self.ctx.device().device_wait_idle() });
        }
        // SAFETY: the queue is idle, presents included; every object is this swapchain's own,
        // destroyed once, children before the swapchain and the swapchain before its surface.
        unsafe {
            self.destroy_images();
            for s in self.acquire.drain(..) {
                self.ctx.device().destroy_semaphore(s, None);
            }
            if self.swapchain != vk::SwapchainKHR::null() {
                self.fns.destroy_swapchain(self.swapchain, None);
            }
            self.surface_fns.destroy_surface(self.surface, None);
        }
    }
}
