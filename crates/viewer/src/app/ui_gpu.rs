//! The GPU side of Dear ImGui: its renderer, the descriptor sets of the viewport images it
//! shows, and the process-wide lock on ImGui's current context.

use super::*;

use imgui::TextureId;
use xpg::vk;
use xpg::{Context, Image, ImageDesc, Sampler};

/// The ImGui renderer and what its textures need.
pub(super) struct UiGpu {
    pub(super) renderer: imgui_rs_vulkan_renderer::Renderer,
    pub(super) layout: vk::DescriptorSetLayout,
    pub(super) pool: vk::DescriptorPool,
    /// Sets of released viewport images: (frames begun when released, set), freed on the
    /// render thread once the frames that used them are done (the pool is not thread-safe,
    /// so not through the context's deferred frees, which any thread may run).
    pub(super) frees: Vec<(u64, vk::DescriptorSet)>,
    /// Frames begun.
    pub(super) frames: u64,
    pub(super) sampler: Sampler,
    pub(super) ctx: Context,
}

impl Drop for UiGpu {
    fn drop(&mut self) {
        let _ = self.ctx.wait_idle();
        // SAFETY: the device is idle; the pool (and with it every set) and the layout are
        // this struct's own, destroyed once.
        unsafe {
            self.ctx.device().destroy_descriptor_pool(self.pool, None);
            self.ctx.device().destroy_descriptor_set_layout(self.layout, None);
        }
    }
}

/// Serialises the use of Dear ImGui's process-wide current context between apps.
pub(super) static IMGUI: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(super) fn imgui_lock() -> std::sync::MutexGuard<'static, ()> {
    IMGUI.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn make_ui_gpu(
    ctx: &Context,
    imgui: &mut imgui::Context,
    format: vk::Format,
) -> anyhow::Result<UiGpu> {
    let device = ctx.device().clone();
    let pool_info = vk::CommandPoolCreateInfo::default().queue_family_index(ctx.queue().1);
    // SAFETY: valid create info; destroyed below once the renderer's upload finished.
    let cmd_pool = unsafe { device.create_command_pool(&pool_info, None) }?;
    let renderer = ctx.with_queue(|queue| {
        imgui_rs_vulkan_renderer::Renderer::with_gpu_allocator(
            ctx.allocator(),
            device.clone(),
            queue,
            cmd_pool,
            imgui_rs_vulkan_renderer::DynamicRendering {
                color_attachment_format: format,
                depth_attachment_format: None,
            },
            imgui,
            Some(imgui_rs_vulkan_renderer::Options {
                in_flight_frames: FRAMES_IN_FLIGHT,
                ..Default::default()
            }),
        )
    });
    // The renderer waits for its font upload before returning.
    // SAFETY: nothing allocated from the pool is pending.
    unsafe { device.destroy_command_pool(cmd_pool, None) };
    let renderer = renderer.context("creating the ImGui renderer")?;
    let layout = imgui_rs_vulkan_renderer::vulkan::create_vulkan_descriptor_set_layout(&device)
        .context("ImGui descriptor set layout")?;
    let pool = match create_pool(&device) {
        Ok(p) => p,
        Err(e) => {
            // SAFETY: created above, unused.
            unsafe { device.destroy_descriptor_set_layout(layout, None) };
            return Err(e);
        }
    };
    let sampler = Sampler::new(
        ctx,
        &vk::SamplerCreateInfo::default()
            .mag_filter(vk::Filter::NEAREST)
            .min_filter(vk::Filter::NEAREST)
            .address_mode_u(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_EDGE),
    )?;
    Ok(UiGpu { renderer, layout, pool, frees: Vec::new(), frames: 0, sampler, ctx: ctx.clone() })
}

pub(super) fn create_pool(device: &ash::Device) -> anyhow::Result<vk::DescriptorPool> {
    let sizes = [vk::DescriptorPoolSize {
        ty: vk::DescriptorType::COMBINED_IMAGE_SAMPLER,
        descriptor_count: 256,
    }];
    let info = vk::DescriptorPoolCreateInfo::default()
        .pool_sizes(&sizes)
        .max_sets(256)
        .flags(vk::DescriptorPoolCreateFlags::FREE_DESCRIPTOR_SET);
    // SAFETY: valid create info.
    Ok(unsafe { device.create_descriptor_pool(&info, None) }?)
}

/// (Re)creates the viewport's image when its size changed; the old one (and its descriptor
/// set) is freed once the GPU is done with it.
pub(super) fn ensure_image(
    ctx: &Context,
    ui: &mut UiGpu,
    vp: &mut Viewport,
    w: u32,
    h: u32,
) -> anyhow::Result<TextureId> {
    if let Some(img) = &vp.image {
        if img.width == w && img.height == h {
            return Ok(img.texture);
        }
    }
    let ldr = Image::new(
        ctx,
        &ImageDesc::d2(
            &format!("viewport {}", vp.id),
            w,
            h,
            vk::Format::R8G8B8A8_UNORM,
            vk::ImageUsageFlags::STORAGE
                | vk::ImageUsageFlags::SAMPLED
                | vk::ImageUsageFlags::TRANSFER_SRC
                | vk::ImageUsageFlags::TRANSFER_DST,
        ),
    )?;
    let set = imgui_rs_vulkan_renderer::vulkan::create_vulkan_descriptor_set(
        ctx.device(),
        ui.layout,
        ui.pool,
        ldr.view(),
        ui.sampler.raw(),
    )
    .context("viewport descriptor set")?;
    let texture = ui.renderer.textures().insert(set);
    release_image(ui, vp);
    let ldr = framegraph::HistoryImage::from_image(ldr);
    vp.image = Some(ViewportImage { ldr, texture, set, width: w, height: h });
    Ok(texture)
}

/// Frees the viewport's image and its ImGui descriptor set once the GPU is done with them.
pub(super) fn release_image(ui: &mut UiGpu, vp: &mut Viewport) {
    if let Some(old) = vp.image.take() {
        ui.renderer.textures().remove(old.texture);
        ui.frees.push((ui.frames, old.set));
        drop(old.ldr);
    }
}

impl UiGpu {
    /// After a frame slot was begun: frees the sets whose last use (a frame begun before their
    /// release) is done. With FRAMES_IN_FLIGHT slots, beginning frame `n` waited for frame
    /// `n - FRAMES_IN_FLIGHT`, so a set released when `k` frames had begun (last used by
    /// frame `k - 1`) is free once `k - 1 <= n - FRAMES_IN_FLIGHT`.
    pub(super) fn frame_begun(&mut self) {
        self.frames += 1;
        let n = self.frames - 1;
        let (done, keep): (Vec<_>, Vec<_>) =
            self.frees.drain(..).partition(|(k, _)| k + FRAMES_IN_FLIGHT as u64 <= n + 1);
        self.frees = keep;
        if !done.is_empty() {
            let sets: Vec<vk::DescriptorSet> = done.into_iter().map(|(_, s)| s).collect();
            // SAFETY: on the render thread, the only user of the pool; the frames that used
            // the sets completed (see above).
            unsafe {
                let _ = self.ctx.device().free_descriptor_sets(self.pool, &sets);
            }
        }
    }
}
