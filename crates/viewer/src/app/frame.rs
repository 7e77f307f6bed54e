//! One frame: input to the UI, the UI, the scene's GPU copy brought up to date, every
//! viewport's passes, the window (ImGui, present or readback), compile, execute, submit.

use super::*;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use framegraph::{Access, FrameGraph, ImageInfo};
use xpg::vk;
use xpg::{Image, ImageDesc, Swapchain};

use crate::input::{Button, InputEvent};

/// The hook a renderer calls after its opaque geometry: adds the enabled `after_opaque`
/// custom passes there, or notes why they cannot run in this viewport.
pub(super) fn after_opaque_hook<'a, 'g: 'a>(
    user_passes: &'g [crate::passes::UserPass],
    error: &'a mut Option<String>,
    width: u32,
    height: u32,
) -> impl FnMut(
    &mut FrameGraph<'g>,
    Option<(&mut framegraph::ImageHandle, Option<framegraph::ImageHandle>)>,
) + 'a {
    move |graph, at| {
        let wanted = user_passes
            .iter()
            .filter(|p| p.enabled && p.spec.insert == crate::passes::InsertPoint::AfterOpaque);
        match at {
            Some((color, depth)) => {
                for up in wanted {
                    if let Err(e) = crate::passes::add_pass(graph, up, color, depth, width, height)
                    {
                        *error = Some(e.to_string());
                    }
                }
            }
            None => {
                if wanted.count() > 0 {
                    *error = Some(
                        "after_opaque passes need single-sampled color and depth: run the \
                         raster with --msaa 1"
                            .into(),
                    );
                }
            }
        }
    }
}

impl App {
    /// Feeds one input event to the UI (and through it to the viewports' cameras).
    pub fn input(&mut self, ev: &InputEvent) {
        match ev {
            InputEvent::Resize(w, h) => self.requested_size = Some((*w, *h)),
            InputEvent::Screenshot(p) => self.pending_screenshot.push(p.clone()),
            other => self.pending_input.push(other.clone()),
        }
    }

    pub(super) fn feed(io: &mut imgui::Io, ev: &InputEvent) {
        match ev {
            InputEvent::MouseMove(x, y) => io.add_mouse_pos_event([*x, *y]),
            InputEvent::MouseButton(b, down) => io.add_mouse_button_event(
                match b {
                    Button::Left => imgui::MouseButton::Left,
                    Button::Right => imgui::MouseButton::Right,
                    Button::Middle => imgui::MouseButton::Middle,
                },
                *down,
            ),
            InputEvent::Wheel(s) => io.add_mouse_wheel_event([0.0, *s]),
            InputEvent::Key(k, down) => {
                if let Some(m) = crate::input::modifier_of(*k) {
                    io.add_key_event(m, *down);
                }
                io.add_key_event(*k, *down);
            }
            InputEvent::Char(c) => io.add_input_character(*c),
            InputEvent::Resize(..) | InputEvent::Screenshot(_) => {}
        }
    }

    /// Whether the UI wanted text input in the last frame (then keys don't move cameras).
    pub fn wants_text(&self) -> bool {
        self.wants_text
    }

    /// Applies the scripted events of the current frame.
    pub(super) fn apply_script(&mut self) {
        let frame = self.script_frame;
        self.script_frame += 1;
        let events: Vec<InputEvent> = match &self.opts.script {
            Some(s) => s.at(frame).cloned().collect(),
            None => return,
        };
        for ev in &events {
            self.input(ev);
        }
    }

    /// Renders one frame of `size` (the window's or the offscreen image's), presenting to
    /// `swapchain` when there is one. Returns false when nothing was drawn (minimised).
    pub fn frame(
        &mut self,
        swapchain: Option<&mut Swapchain>,
        size: (u32, u32),
    ) -> anyhow::Result<bool> {
        self.apply_script();
        self.poll_reload();
        // Clients' requests, up to the first screenshot (answered once this frame rendered).
        let shots = self.apply_remote();
        if size.0 == 0 || size.1 == 0 {
            self.answer_shots(shots);
            return Ok(false);
        }
        let _guard = imgui_lock();
        let suspended = self.imgui.take().context("the UI context was lost")?;
        let mut imgui = match suspended.activate() {
            Ok(c) => c,
            Err(s) => {
                self.imgui = Some(s);
                bail!("another Dear ImGui context is current");
            }
        };
        let r = self.frame_with(&mut imgui, swapchain, size);
        self.wants_text = imgui.io().want_text_input;
        self.imgui = Some(imgui.suspend());
        self.answer_shots(shots);
        r
    }

    /// The UI of this frame (panels, viewport windows, overlays): what it asks for is done
    /// after the frame.
    fn build_ui(&mut self, ui: &imgui::Ui, (w, h): (u32, u32), dt: f32) -> Vec<Action> {
        let mut actions = Vec::new();
        let dock_id = dockspace();
        if self.layout_dirty {
            let titles: Vec<String> = self.viewports.iter().map(Viewport::title).collect();
            build_layout(dock_id, &titles, [w as f32, h as f32]);
            self.layout_dirty = false;
        }
        let gpu_ready = self.gpu.is_some();
        // Scripted runs (fixed time step) show no timings, so that their images repeat.
        let stats = self.opts.fixed_dt.is_none().then_some(&self.stats);
        side_panel(
            ui,
            &self.opts.registry,
            &self.files,
            &self.viewports,
            stats,
            gpu_ready,
            &mut self.panels,
            &mut actions,
        );
        passes_panel(ui, &mut self.user_passes, &self.pass_errors);
        self.remote_ui(ui, [w as f32, h as f32]);
        if self.panels.stats {
            let memory = gpu_memory(&self.ctx);
            let size = [w as f32, h as f32];
            let streaming = streaming_lines(&self.scene, self.gpu.as_ref());
            stats_panel(
                ui,
                &self.stats,
                &self.viewports,
                memory,
                &streaming,
                size,
                &mut self.panels.stats,
            );
        }
        let mut look_through = None;
        if self.panels.inspector {
            let size = [w as f32, h as f32];
            let mut open = true;
            look_through = crate::inspector::panel(
                ui,
                &mut self.scene,
                &mut self.hidden_everywhere,
                &mut self.selected,
                size,
                &mut open,
            );
            self.panels.inspector = open;
        }
        if self.panels.graph {
            let size = [w as f32, h as f32];
            graph_panel(ui, &self.plan_text, size, &mut self.panels.graph, &mut actions);
        }
        self.playback.panel(ui, &mut self.scene, [w as f32, h as f32], &mut self.export_form);
        self.export_window(ui, [w as f32, h as f32], &mut actions);
        let ctx = &self.ctx;
        let cams: Vec<(String, usize)> = self
            .scene
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.camera.is_some())
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let several = self.viewports.len() > 1;
        let active = self.active_viewport.or(self.viewports.first().map(|v| v.id));
        if let Some(node) = look_through {
            if let Some(vp) = self.viewports.iter_mut().find(|v| Some(v.id) == active) {
                vp.look_through(&self.scene, node, &cams);
            }
        }
        for vp in &mut self.viewports {
            vp.active = several && Some(vp.id) == active;
            viewport_window(
                ui,
                &self.opts.registry,
                ctx,
                &mut self.ui_gpu,
                vp,
                &self.scene,
                &cams,
                dt,
                &self.opts.keys,
                &mut actions,
            );
        }
        if let Some(v) = self.viewports.iter().find(|v| v.focused) {
            self.active_viewport = Some(v.id);
        }
        if let Some(f) = self.on_ui.as_mut() {
            let (time, frame) = (self.time, self.stats.frames);
            let playback = &mut self.playback;
            f(ui, &mut FrameInfo { scene: &mut self.scene, time, dt, frame, playback });
        }
        global_keys(ui, &self.opts.keys, &mut actions);
        let errors: Vec<&str> = self
            .shader_error
            .iter()
            .map(String::as_str)
            .chain(self.pass_errors.iter().map(String::as_str))
            .collect();
        if !errors.is_empty() {
            shader_error_overlay(ui, &errors.join("\n"), [w as f32, h as f32]);
        }
        actions
    }

    pub(super) fn frame_with(
        &mut self,
        imgui: &mut imgui::Context,
        swapchain: Option<&mut Swapchain>,
        size: (u32, u32),
    ) -> anyhow::Result<bool> {
        let started = Instant::now();
        let _frame_span = tracing::info_span!("frame").entered();
        for ev in self.pending_input.drain(..) {
            Self::feed(imgui.io_mut(), &ev);
        }
        // The frame slot first (its acquire semaphore is free then), then the image: the
        // frame is as large as the swapchain image (the window system decides its extent;
        // asking the window for its size separately races with resizes).
        let waited = Instant::now();
        let frame = self.ring.begin()?;
        self.ui_gpu.frame_begun();
        let acquired = match swapchain {
            // SAFETY: `frame.slot` is a slot of this app's ring of FRAMES_IN_FLIGHT (the
            // swapchain was made with the same count); `begin` waited for the slot's previous
            // submission; the image is submitted below on every path (an error after this
            // point ends the program, which waits for the device before destroying anything).
            Some(sc) => match unsafe { sc.acquire(size.0, size.1, frame.slot)? } {
                Some(img) => Some((sc, img)),
                None => {
                    // Minimised: submit the empty frame (the ring slot must complete).
                    self.ring.end(frame)?;
                    return Ok(false);
                }
            },
            None => None,
        };
        // Time spent waiting for the GPU (frame slot) and the window system (image): not CPU
        // work of this frame.
        let wait_s = waited.elapsed().as_secs_f32();
        let size = acquired.as_ref().map_or(size, |(_, i)| (i.extent.width, i.extent.height));
        let (w, h) = size;
        self.size = size;
        let dt = self
            .opts
            .fixed_dt
            .unwrap_or_else(|| self.last_frame.elapsed().as_secs_f32().clamp(1e-4, 0.25));
        self.last_frame = Instant::now();
        self.time += f64::from(dt);
        self.playback.advance(&mut self.scene, dt);
        if let Some(f) = self.on_frame.as_mut() {
            let _s = tracing::info_span!("on_frame").entered();
            let (time, frame) = (self.time, self.stats.frames);
            let playback = &mut self.playback;
            f(&mut FrameInfo { scene: &mut self.scene, time, dt, frame, playback });
        }
        {
            let io = imgui.io_mut();
            io.display_size = [w as f32, h as f32];
            io.delta_time = dt;
        }
        // ---- UI
        let actions = {
            let _s = tracing::info_span!("ui").entered();
            self.build_ui(imgui.new_frame(), (w, h), dt)
        };
        let draw_data = imgui.render();

        // ---- resources of this size
        if self.target.as_ref().is_none_or(|t| t.extent().width != w || t.extent().height != h) {
            self.target = Some(Image::new(
                &self.ctx,
                &ImageDesc::d2(
                    "window",
                    w,
                    h,
                    self.target_format,
                    vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::TRANSFER_SRC,
                ),
            )?);
        }
        // ---- the frame's graph
        // Capture the swapchain image this frame (a window screenshot is due).
        let capture = acquired
            .as_ref()
            .is_some_and(|(_, i)| i.usage.contains(vk::ImageUsageFlags::TRANSFER_SRC))
            && (self.capture_next || !self.pending_screenshot.is_empty());
        self.capture_next = false;
        if capture {
            let fmt = acquired.as_ref().map_or(self.target_format, |(_, i)| i.format);
            if self.capture.as_ref().is_none_or(|c| {
                c.extent().width != w || c.extent().height != h || c.format() != fmt
            }) {
                self.capture = Some(Image::new(
                    &self.ctx,
                    &ImageDesc::d2(
                        "swapchain capture",
                        w,
                        h,
                        fmt,
                        vk::ImageUsageFlags::TRANSFER_DST | vk::ImageUsageFlags::TRANSFER_SRC,
                    ),
                )?);
            }
        }
        self.captured = capture;
        let structure_changed = self.gpu.as_ref().is_some_and(|g| g.needs_upload(&self.scene));
        if (structure_changed || std::mem::take(&mut self.reupload))
            && self.failed_upload != Some(self.scene.versions)
        {
            self.upload_scene();
            if self.gpu.as_ref().is_none_or(|g| g.versions != self.scene.versions) {
                // It failed (and said so once): not again until the scene changes.
                self.failed_upload = Some(self.scene.versions);
            }
        }
        let target = self.target.as_ref().context("no target")?;
        let target_info = ImageInfo::d2(w, h, self.target_format);
        // Edits of the scene (inspector): a new structure uploads again; transforms,
        // materials and lights are updated in place by transfer passes of this frame's graph.
        let mut graph = FrameGraph::new();
        if let Some(g) = self.gpu.as_mut() {
            if g.versions != self.scene.versions {
                match g.update(&self.scene, &mut graph) {
                    Ok(_) => {
                        // What renderers derive from the scene (the path tracer's light
                        // tables) follows, through passes of this graph.
                        for vp in &mut self.viewports {
                            for (_, r) in &mut vp.renderers {
                                r.scene_changed(&self.scene, g);
                            }
                        }
                    }
                    Err(e) => {
                        // Upload it again next frame (a structure change, or values the
                        // in-place update refuses), once per version of the scene.
                        if self.failed_update != Some(self.scene.versions) {
                            tracing::error!("scene update: {e}; uploading the scene again");
                            self.failed_update = Some(self.scene.versions);
                            self.reupload = true;
                        }
                    }
                }
            }
        }
        // Streamed sequences that fit the GPU frame budget are copied ahead of playback.
        if let Some(g) = self.gpu.as_mut() {
            if let Err(e) = g.preload_frames(&self.scene, &mut graph) {
                tracing::warn!("preloading streamed frames: {e}");
            }
        }
        let mut ldr_handles = Vec::new();
        let tonemap = self.tonemap.as_ref();
        let scene_gpu = self.gpu.as_ref();
        let user_passes = &self.user_passes;
        let viewports_span = tracing::info_span!("viewport passes").entered();
        for vp in self.viewports.iter_mut() {
            let ldr = viewport_graph::add_viewport_passes(
                &mut graph,
                &self.ctx,
                vp,
                scene_gpu,
                tonemap,
                user_passes,
                &self.hidden_everywhere,
            )?;
            ldr_handles.extend(ldr);
        }
        let mut win = graph.import_image(
            "window",
            target.raw(),
            target.view(),
            target_info,
            None,
            Some(Access::TransferSrc),
        );
        {
            let ui_renderer = &mut self.ui_gpu.renderer;
            let mut pass = graph.add_pass("imgui").write(&mut win, Access::ColorAttachmentWrite);
            for l in &ldr_handles {
                pass = pass.read(l, Access::SampledFragment);
            }
            let w_h = win;
            pass.record(move |pass| {
                let view = pass.view(&w_h)?;
                let color = [vk::RenderingAttachmentInfo::default()
                    .image_view(view)
                    .image_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
                    .load_op(vk::AttachmentLoadOp::CLEAR)
                    .store_op(vk::AttachmentStoreOp::STORE)
                    .clear_value(vk::ClearValue {
                        color: vk::ClearColorValue { float32: [0.06, 0.06, 0.07, 1.0] },
                    })];
                let info = vk::RenderingInfo::default()
                    .render_area(vk::Rect2D {
                        offset: vk::Offset2D::default(),
                        extent: vk::Extent2D { width: w, height: h },
                    })
                    .layer_count(1)
                    .color_attachments(&color);
                // SAFETY: the pass declared the window image as a color attachment; the
                // rendering scope is closed below on every path.
                unsafe { pass.device().cmd_begin_rendering(pass.cmd, &info) };
                let r = ui_renderer.cmd_draw(pass.cmd, draw_data);
                // SAFETY: closes the scope begun above.
                unsafe { pass.device().cmd_end_rendering(pass.cmd) };
                r.map_err(|e| framegraph::ExecuteError::Pass {
                    pass: "imgui".into(),
                    message: e.to_string(),
                })
            });
        }
        if let Some((_, img)) = &acquired {
            let mut sw = graph.import_image(
                "swapchain",
                img.image,
                img.view,
                ImageInfo::d2(img.extent.width, img.extent.height, img.format),
                None,
                Some(Access::Present),
            );
            let (src, dst) = (win, sw);
            graph
                .add_pass("present copy")
                .read(&win, Access::TransferSrc)
                .write(&mut sw, Access::TransferDst)
                .record(move |pass| pass.copy_image(&src, &dst));
            // A screenshot in a window is read back from the swapchain image itself (what
            // was presented), through a copy made after the present copy.
            if capture {
                let cap = self.capture.as_ref().context("capture image")?;
                let mut c = graph.import_image(
                    "capture",
                    cap.raw(),
                    cap.view(),
                    ImageInfo::d2(w, h, img.format),
                    None,
                    Some(Access::TransferSrc),
                );
                let (src, dst) = (sw, c);
                graph
                    .add_pass("capture swapchain")
                    .read(&sw, Access::TransferSrc)
                    .write(&mut c, Access::TransferDst)
                    .record(move |pass| pass.copy_image(&src, &dst));
            }
        } else {
            graph
                .add_pass("keep window")
                .read(&win, Access::TransferSrc)
                .side_effect()
                .record(|_| Ok(()));
        }
        drop(viewports_span);
        let plan = {
            let _s = tracing::info_span!("compile").entered();
            self.executor.compile(&graph)?
        };
        tracing::trace!("frame {}:\n{plan}", self.stats.frames);
        if self.panels.graph {
            // The framegraph panel shows this frame's plan.
            self.plan_text = plan.to_string();
        }
        if let Some(path) = self.dot_export.take() {
            self.plan_dot = plan.to_dot();
            match std::fs::write(&path, &self.plan_dot) {
                Ok(()) => tracing::info!("wrote {}", path.display()),
                Err(e) => tracing::error!("writing {}: {e}", path.display()),
            }
        }
        {
            let _s = tracing::info_span!("record").entered();
            self.executor.execute(graph, &plan, frame.cmd, None)?;
        }
        let value = match &acquired {
            Some((_, img)) => {
                let waits = [vk::SemaphoreSubmitInfo::default()
                    .semaphore(img.acquired)
                    .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
                let signals = [vk::SemaphoreSubmitInfo::default()
                    .semaphore(img.rendered)
                    .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
                // SAFETY: both are the swapchain's binary semaphores: `acquired` has a pending
                // signal from this frame's acquire, `rendered` is unsignalled (its last wait,
                // the previous present of this image, finished before it was acquired again).
                unsafe { self.ring.end_with(frame, &waits, &signals)? }
            }
            None => self.ring.end(frame)?,
        };
        if let Some((sc, img)) = acquired {
            // SAFETY: acquired from `sc` this frame; the submission above signals `rendered`
            // and the graph left the image in PRESENT_SRC (its final access).
            unsafe { sc.present(&img)? };
        }
        if let Some(t0) = self.reload_latency.take() {
            // The first frame with the new pipelines: done when the GPU is.
            self.ctx.wait(value)?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            tracing::info!("shaders reloaded: {ms:.0} ms from the change to the first frame");
            self.last_reload_ms = Some(ms);
            self.reload_ms.push(ms);
        }
        self.stats.frames += 1;
        #[cfg(feature = "tracy")]
        tracing_tracy::client::frame_mark();
        self.stats.cpu_ms = (started.elapsed().as_secs_f32() - wait_s) * 1e3;
        let t = self.executor.last_timings();
        #[cfg(feature = "tracy")]
        self.gpu_zones.send(&self.ctx.caps().device_name, t);
        if !t.is_empty() {
            self.stats.passes = t.iter().map(|p| (p.name.clone(), p.gpu_ms as f32)).collect();
            self.stats.gpu_ms = t.iter().map(|p| p.gpu_ms as f32).sum();
        }
        // ---- after the frame: screenshots, actions
        let shots: Vec<PathBuf> = self.pending_screenshot.drain(..).collect();
        let want_vp = self.viewports.iter().any(|v| v.screenshot.is_some());
        if !shots.is_empty() || want_vp {
            self.ctx.wait(value)?;
        }
        for p in shots {
            if let Err(e) = self.save_window(&p) {
                tracing::error!("screenshot {}: {e:#}", p.display());
            }
        }
        for i in 0..self.viewports.len() {
            if let Some(p) = self.viewports[i].screenshot.take() {
                match self.save_viewport(i, &p) {
                    Ok(()) => tracing::info!("saved {}", p.display()),
                    Err(e) => tracing::error!("screenshot {}: {e:#}", p.display()),
                }
                self.viewports[i].hdr_copy = None;
            }
        }
        for a in actions {
            self.act(a);
        }
        Ok(true)
    }
}

/// The streaming engine's state for the stats panel: each sequence's CPU cache, and the GPU
/// pool of frames.
pub(super) fn streaming_lines(scene: &Scene, gpu: Option<&GpuScene>) -> Vec<String> {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let streams = scene.streams();
    let mut out = Vec::new();
    for (k, st) in streams.iter().enumerate() {
        let s = st.stats();
        out.push(format!(
            "sequence {k}: {}/{} frames cached, {:.0}/{:.0} MiB CPU; {} decoded, {} evicted, \
             {} wanted, {} failed",
            s.cached,
            s.frames,
            mib(s.bytes as u64),
            mib(s.budget as u64),
            s.decoded,
            s.evicted,
            s.wanted,
            st.errors().len()
        ));
    }
    if let (false, Some(g)) = (streams.is_empty(), gpu) {
        let p = g.frame_stats();
        out.push(format!(
            "GPU frames: {} resident, {:.0}/{:.0} MiB; {} uploads ({:.0} MiB), {} last frame, \
             {} evicted",
            p.frames,
            mib(p.bytes),
            mib(p.budget),
            p.uploads,
            mib(p.uploaded_bytes),
            p.last_uploads,
            p.evictions
        ));
    }
    out
}
