//! The panels: the Scene panel, the viewport windows with their toolbars and settings
//! popups (drawn from the renderers' own setting descriptions), stats, the frame graph, the
//! shader error overlay, the docking layout and the global shortcuts.

use super::*;
use std::path::PathBuf;

use glam::Vec3;
use render::{Registry, SettingValue};
use scene::Scene;
use xpg::Context;

use crate::camera::{AxisView, CameraMode};

pub(super) fn dockspace() -> u32 {
    // SAFETY: called between new_frame and render, with the main viewport of the current
    // context; no window class.
    unsafe {
        imgui::sys::igDockSpaceOverViewport(
            imgui::sys::igGetMainViewport(),
            imgui::sys::ImGuiDockNodeFlags_PassthruCentralNode as i32,
            std::ptr::null(),
        )
    }
}

/// The default layout: the scene panel on the left, the viewports side by side.
pub(super) fn build_layout(dock_id: u32, titles: &[String], size: [f32; 2]) {
    let cstrings: Vec<std::ffi::CString> =
        titles.iter().map(|t| std::ffi::CString::new(t.as_str()).unwrap_or_default()).collect();
    // SAFETY: DockBuilder calls on the current context during a frame; every string is a
    // live NUL-terminated CString; the out-pointers are locals.
    unsafe {
        use imgui::sys;
        sys::igDockBuilderRemoveNode(dock_id);
        sys::igDockBuilderAddNode(dock_id, sys::ImGuiDockNodeFlags_DockSpace);
        sys::igDockBuilderSetNodeSize(dock_id, sys::ImVec2 { x: size[0], y: size[1] });
        let (mut left, mut main) = (0u32, 0u32);
        sys::igDockBuilderSplitNode(dock_id, sys::ImGuiDir_Left, 0.22, &mut left, &mut main);
        sys::igDockBuilderDockWindow(c"Scene".as_ptr(), left);
        let n = cstrings.len();
        let mut rest = main;
        for (i, t) in cstrings.iter().enumerate() {
            if i + 1 < n {
                let (mut a, mut b) = (0u32, 0u32);
                sys::igDockBuilderSplitNode(
                    rest,
                    sys::ImGuiDir_Left,
                    1.0 / (n - i) as f32,
                    &mut a,
                    &mut b,
                );
                sys::igDockBuilderDockWindow(t.as_ptr(), a);
                rest = b;
            } else {
                sys::igDockBuilderDockWindow(t.as_ptr(), rest);
            }
        }
        sys::igDockBuilderFinish(dock_id);
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn side_panel(
    ui: &imgui::Ui,
    registry: &Registry,
    files: &[FileEntry],
    viewports: &[Viewport],
    stats: Option<&FrameStats>,
    gpu_ready: bool,
    panels: &mut Panels,
    actions: &mut Vec<Action>,
) {
    ui.window("Scene").build(|| {
        ui.checkbox("Stats", &mut panels.stats);
        ui.same_line();
        ui.checkbox("Graph", &mut panels.graph);
        ui.same_line();
        ui.checkbox("Inspector", &mut panels.inspector);
        ui.text("Files");
        if files.is_empty() {
            ui.text_disabled("(none: drop files on the window)");
        }
        for f in files {
            let name = f
                .path
                .file_name()
                .map_or_else(|| f.path.display().to_string(), |n| n.to_string_lossy().into_owned());
            match &f.error {
                None => ui.text(&name),
                Some(e) => {
                    ui.text_colored([1.0, 0.35, 0.3, 1.0], format!("{name}: failed"));
                    ui.text_wrapped(e);
                }
            }
            for w in &f.warnings {
                ui.text_colored([1.0, 0.8, 0.3, 1.0], "warning:");
                ui.same_line();
                ui.text_wrapped(w);
            }
        }
        if !gpu_ready {
            ui.text_disabled("nothing to draw yet");
        }
        ui.separator();
        ui.text("Viewports");
        for name in registry.names() {
            if ui.button(format!("+ {}", registry.label(name))) {
                actions.push(Action::AddViewport(name.to_string()));
            }
            ui.same_line();
        }
        if ui.button("Split evenly") {
            actions.push(Action::Relayout);
        }
        for vp in viewports {
            let extra = match vp.renderer().and_then(|r| r.samples()) {
                Some(n) => format!(", {n} spp"),
                None => String::new(),
            };
            ui.text(format!("{}: {}{extra}", vp.id, vp.kind));
            if let Some(e) = &vp.error {
                ui.text_colored([1.0, 0.35, 0.3, 1.0], e);
            }
        }
        ui.separator();
        if let Some(stats) = stats {
            ui.text(format!("CPU {:.2} ms, GPU {:.2} ms", stats.cpu_ms, stats.gpu_ms));
        }
        let grey = ui.push_style_color(imgui::StyleColor::Text, [0.55, 0.55, 0.6, 1.0]);
        ui.text_wrapped(
            "Ctrl+N raster, Ctrl+P path tracer, Ctrl+L layout, F12 screenshot. In a \
             viewport: drag rotate, right/middle drag pan, wheel zoom, WASD/QE fly, F frame \
             all, 1/3/7 axis views (Ctrl: opposite), 5 ortho, C next file camera, P save \
             viewport, X close. Animation: Space play/pause, Left/Right step, Home/End \
             first/last frame.",
        );
        grey.pop();
    });
}

/// The compiler's message of a failed reload, over everything until a reload succeeds.
pub(super) fn shader_error_overlay(ui: &imgui::Ui, error: &str, size: [f32; 2]) {
    let height = (size[1] * 0.35).clamp(60.0, 400.0);
    ui.window("Shader error")
        .position([8.0, size[1] - height - 8.0], imgui::Condition::Always)
        .size([size[0] - 16.0, height], imgui::Condition::Always)
        .collapsible(false)
        .focus_on_appearing(false)
        .build(|| {
            ui.text_colored([1.0, 0.45, 0.4, 1.0], error);
            ui.text_disabled(
                "The last good shaders keep running (if there were any). Save a fix: it \
                 reloads.",
            );
        });
}

/// The custom passes: on/off and their parameters (in the Scene panel's window).
pub(super) fn passes_panel(
    ui: &imgui::Ui,
    passes: &mut [crate::passes::UserPass],
    errors: &[String],
) {
    if passes.is_empty() && errors.is_empty() {
        return;
    }
    ui.window("Scene").build(|| {
        ui.separator();
        ui.text("Custom passes");
        for p in passes.iter_mut() {
            ui.checkbox(format!("{}##pass", p.name), &mut p.enabled);
            for (spec, v) in p.spec.params.iter().zip(p.values.iter_mut()) {
                ui.slider(format!("{}##{}", spec.name, p.name), spec.min, spec.max, v);
            }
        }
        for e in errors {
            ui.text_colored([1.0, 0.35, 0.3, 1.0], e);
        }
    });
}

/// GPU memory the allocator holds: (bytes in allocations, bytes in its memory blocks).
pub(super) fn gpu_memory(ctx: &Context) -> (u64, u64) {
    let alloc = ctx.allocator();
    let a = alloc.lock().unwrap_or_else(|e| e.into_inner());
    let r = a.generate_report();
    (r.total_allocated_bytes, r.total_reserved_bytes)
}

pub(super) fn stats_panel(
    ui: &imgui::Ui,
    stats: &FrameStats,
    viewports: &[Viewport],
    memory: (u64, u64),
    streaming: &[String],
    size: [f32; 2],
    open: &mut bool,
) {
    ui.window("Stats")
        .opened(open)
        .position([size[0] - 380.0, 40.0], imgui::Condition::FirstUseEver)
        .size([370.0, (size[1] - 60.0).min(420.0)], imgui::Condition::FirstUseEver)
        .build(|| {
            ui.text(format!(
                "frame {}: CPU {:.2} ms, GPU {:.2} ms",
                stats.frames, stats.cpu_ms, stats.gpu_ms
            ));
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            ui.text(format!(
                "GPU memory: {:.1} MiB in use, {:.1} MiB reserved",
                mib(memory.0),
                mib(memory.1)
            ));
            for vp in viewports {
                if let Some(n) = vp.renderer().and_then(|r| r.samples()) {
                    ui.text(format!("viewport {}: {n} samples per pixel", vp.id));
                }
            }
            for line in streaming {
                ui.text_wrapped(line);
            }
            ui.separator();
            ui.text("GPU time per pass (ms)");
            for (name, ms) in &stats.passes {
                ui.text(format!("{ms:8.3}  {name}"));
            }
        });
}

pub(super) fn graph_panel(
    ui: &imgui::Ui,
    plan: &str,
    size: [f32; 2],
    open: &mut bool,
    actions: &mut Vec<Action>,
) {
    ui.window("Frame graph")
        .opened(open)
        .position([size[0] * 0.25, 40.0], imgui::Condition::FirstUseEver)
        .size([size[0] * 0.45, size[1] * 0.6], imgui::Condition::FirstUseEver)
        .build(|| {
            if ui.button("Export DOT") {
                let n = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                actions.push(Action::ExportDot(PathBuf::from(format!("xpg-framegraph-{n}.dot"))));
            }
            ui.text_wrapped(plan);
        });
}

pub(super) fn global_keys(ui: &imgui::Ui, keys: &crate::config::Keys, actions: &mut Vec<Action>) {
    if ui.io().want_text_input {
        return;
    }
    if keys.add_raster_viewport.pressed(ui) {
        actions.push(Action::AddViewport("raster".into()));
    }
    if keys.add_path_tracer_viewport.pressed(ui) {
        actions.push(Action::AddViewport("pathtracer".into()));
    }
    if keys.split_evenly.pressed(ui) {
        actions.push(Action::Relayout);
    }
    use super::PlaybackCommand as P;
    for (key, cmd) in [
        (&keys.play_pause, P::TogglePlay),
        (&keys.step_back, P::Step(-1)),
        (&keys.step_forward, P::Step(1)),
        (&keys.first_frame, P::First),
        (&keys.last_frame, P::Last),
    ] {
        if key.pressed(ui) {
            actions.push(Action::Playback(cmd));
        }
    }
    if keys.screenshot_window.pressed(ui) {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        actions.push(Action::Screenshot(PathBuf::from(format!("xpg-window-{n}.png"))));
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn viewport_window(
    ui: &imgui::Ui,
    registry: &Registry,
    ctx: &Context,
    ui_gpu: &mut UiGpu,
    vp: &mut Viewport,
    scene: &Scene,
    cams: &[(String, usize)],
    dt: f32,
    keys: &crate::config::Keys,
    actions: &mut Vec<Action>,
) {
    use imgui::{Key, MouseButton};
    let mut open = true;
    vp.shown = false;
    let title = vp.title();
    let _pad = ui.push_style_var(imgui::StyleVar::WindowPadding([2.0, 2.0]));
    ui.window(&title)
        .opened(&mut open)
        .scroll_bar(false)
        .scrollable(false)
        .collapsible(false)
        .build(|| {
            // Toolbar.
            let names = registry.names();
            let labels: Vec<&str> = names.iter().map(|n| registry.label(n)).collect();
            let mut kind_i = names.iter().position(|n| *n == vp.kind).unwrap_or(0);
            ui.set_next_item_width(110.0);
            if ui.combo_simple_string("##renderer", &mut kind_i, &labels) {
                if let Some(name) = names.get(kind_i) {
                    actions.push(Action::SetRenderer(vp.id, name.to_string()));
                }
            }
            ui.same_line();
            let mut mode_i = CameraMode::ALL.iter().position(|m| *m == vp.camera.mode).unwrap_or(0);
            ui.set_next_item_width(110.0);
            let names: Vec<&str> = CameraMode::ALL.iter().map(|m| m.name()).collect();
            if ui.combo_simple_string("##camera mode", &mut mode_i, &names) {
                vp.camera.mode = CameraMode::ALL[mode_i];
            }
            if !cams.is_empty() {
                ui.same_line();
                let mut ci = 0usize;
                let mut names = vec!["file camera..."];
                names.extend(cams.iter().map(|(n, _)| n.as_str()));
                ui.set_next_item_width(120.0);
                if ui.combo_simple_string("##file camera", &mut ci, &names) && ci > 0 {
                    vp.look_through(scene, cams[ci - 1].1, cams);
                }
            }
            ui.same_line();
            if ui.button("Settings") {
                ui.open_popup("##settings");
            }
            ui.popup("##settings", || renderer_settings(ui, vp));
            ui.same_line();
            if ui.button("Objects") {
                ui.open_popup("##objects");
            }
            ui.popup("##objects", || {
                let mut any = false;
                for (i, n) in scene.nodes.iter().enumerate() {
                    if n.mesh.is_none() {
                        continue;
                    }
                    any = true;
                    let mut shown = !vp.hidden.contains(&(i as u32));
                    let label =
                        if n.name.is_empty() { format!("node {i}") } else { n.name.clone() };
                    if ui.checkbox(format!("{label}##node{i}"), &mut shown) {
                        if shown {
                            vp.hidden.remove(&(i as u32));
                        } else {
                            vp.hidden.insert(i as u32);
                        }
                    }
                }
                if !any {
                    ui.text_disabled("no meshes");
                }
            });
            ui.same_line();
            if ui.button("PNG") {
                vp.screenshot = Some(viewport_shot_name(vp.id, "png"));
            }
            ui.same_line();
            if ui.button("EXR") {
                vp.screenshot = Some(viewport_shot_name(vp.id, "exr"));
            }
            let avail = ui.content_region_avail();
            let (w, h) = (avail[0].floor().max(1.0) as u32, avail[1].floor().max(1.0) as u32);
            let texture = match ensure_image(ctx, ui_gpu, vp, w, h) {
                Ok(t) => t,
                Err(e) => {
                    ui.text_colored([1.0, 0.35, 0.3, 1.0], format!("{e:#}"));
                    return;
                }
            };
            vp.shown = true;
            let pos = ui.cursor_screen_pos();
            imgui::Image::new(texture, [w as f32, h as f32]).build(ui);
            ui.set_cursor_screen_pos(pos);
            ui.invisible_button_flags(
                "##canvas",
                [w as f32, h as f32],
                imgui::ButtonFlags::MOUSE_BUTTON_LEFT
                    | imgui::ButtonFlags::MOUSE_BUTTON_RIGHT
                    | imgui::ButtonFlags::MOUSE_BUTTON_MIDDLE,
            );
            let io = ui.io();
            let [dx, dy] = io.mouse_delta;
            // The canvas's state (items drawn below change what `is_item_*` ask about).
            let (canvas_hovered, canvas_active) = (ui.is_item_hovered(), ui.is_item_active());
            if ui.is_item_active() {
                if ui.is_mouse_down(MouseButton::Left) {
                    if vp.camera.mode == CameraMode::Pan2D {
                        vp.camera.pan(dx, dy, h as f32);
                    } else {
                        vp.camera.rotate(dx, dy);
                    }
                } else if ui.is_mouse_down(MouseButton::Right)
                    || ui.is_mouse_down(MouseButton::Middle)
                {
                    vp.camera.pan(dx, dy, h as f32);
                }
            }
            if ui.is_item_hovered() && io.mouse_wheel != 0.0 {
                vp.camera.zoom(io.mouse_wheel);
            }
            // A click (the left button up where it went down) picks what is under it.
            let at = [io.mouse_pos[0] - pos[0], io.mouse_pos[1] - pos[1]];
            if ui.is_item_clicked_with_button(MouseButton::Left) {
                vp.press = Some(at);
            }
            if ui.is_mouse_released(MouseButton::Left) {
                if let Some(p) = vp.press.take() {
                    if (at[0] - p[0]).hypot(at[1] - p[1]) < 3.0 {
                        actions.push(Action::Pick(vp.id, at[0], at[1]));
                    }
                }
            }
            if let Some(text) = &vp.picked {
                ui.set_cursor_screen_pos([pos[0] + 8.0, pos[1] + h as f32 - 24.0]);
                ui.text(text);
            }
            // What the cursor is over (picked when it moves), outlined by its box.
            if canvas_hovered && !canvas_active {
                if io.mouse_delta != [0.0, 0.0] {
                    actions.push(Action::Hover(vp.id, Some((at[0], at[1]))));
                }
            } else if vp.hover.is_some() {
                actions.push(Action::Hover(vp.id, None));
            }
            let draw = ui.get_window_draw_list();
            if let Some((model, lo, hi)) = vp.hover {
                let v = vp.camera.view(w, h);
                let to_image = v.proj * v.view * model;
                let corner = |k: usize| {
                    let c = Vec3::new(
                        if k & 1 == 0 { lo.x } else { hi.x },
                        if k & 2 == 0 { lo.y } else { hi.y },
                        if k & 4 == 0 { lo.z } else { hi.z },
                    );
                    let p = to_image * c.extend(1.0);
                    (p.w > 0.0).then(|| {
                        [
                            pos[0] + (p.x / p.w * 0.5 + 0.5) * w as f32,
                            pos[1] + (p.y / p.w * 0.5 + 0.5) * h as f32,
                        ]
                    })
                };
                let corners: Vec<Option<[f32; 2]>> = (0..8).map(corner).collect();
                for (a, b) in [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7)]
                    .into_iter()
                    .chain([(0, 4), (1, 5), (2, 6), (3, 7)])
                {
                    if let (Some(p), Some(q)) = (corners[a], corners[b]) {
                        draw.add_line(p, q, [1.0, 0.75, 0.2, 0.9]).thickness(1.5).build();
                    }
                }
            }
            if vp.active {
                let end = [pos[0] + w as f32, pos[1] + h as f32];
                draw.add_rect(pos, end, [0.35, 0.6, 1.0, 1.0]).thickness(2.0).build();
            }
            if let Some(e) = vp.error.as_ref().or(vp.pass_error.as_ref()) {
                ui.set_cursor_screen_pos([pos[0] + 8.0, pos[1] + 8.0]);
                ui.text_colored([1.0, 0.35, 0.3, 1.0], e);
            }
            vp.focused = ui.is_window_focused();
            if ui.is_window_focused() && !io.want_text_input {
                let ctrl = io.key_ctrl;
                if vp.camera.mode == CameraMode::Fly {
                    let axis = |p: Key, n: Key| {
                        f32::from(u8::from(ui.is_key_down(p)))
                            - f32::from(u8::from(ui.is_key_down(n)))
                    };
                    let dir =
                        Vec3::new(axis(Key::D, Key::A), axis(Key::E, Key::Q), axis(Key::W, Key::S));
                    if dir != Vec3::ZERO {
                        vp.camera.fly(dir, dt);
                    }
                }
                if keys.frame_all.pressed(ui) {
                    vp.camera.frame_all(scene);
                }
                if keys.screenshot_viewport.pressed(ui) {
                    vp.screenshot = Some(viewport_shot_name(vp.id, "png"));
                }
                if keys.close_viewport.pressed(ui) {
                    actions.push(Action::Close(vp.id));
                }
                if !ctrl {
                    if ui.is_key_pressed_no_repeat(Key::Alpha5) {
                        vp.camera.orthographic = !vp.camera.orthographic;
                    }
                    if ui.is_key_pressed_no_repeat(Key::C) && !cams.is_empty() {
                        let next = vp.file_camera.map_or(0, |c| (c + 1) % cams.len());
                        vp.look_through(scene, cams[next].1, cams);
                    }
                }
                for (k, v) in [
                    (Key::Alpha1, AxisView::Front),
                    (Key::Alpha3, AxisView::Right),
                    (Key::Alpha7, AxisView::Top),
                ] {
                    if ui.is_key_pressed_no_repeat(k) {
                        vp.camera.set_axis_view(v, ctrl);
                    }
                }
            }
        });
    if !open {
        actions.push(Action::Close(vp.id));
    }
}

/// The viewport's renderer settings, as the renderer describes them (a change of the path
/// tracer's restarts its accumulation: the settings are part of its image's key).
pub(super) fn renderer_settings(ui: &imgui::Ui, vp: &mut Viewport) {
    let clamp = imgui::SliderFlags::ALWAYS_CLAMP;
    let id = vp.id;
    let Some(r) = vp.renderer_mut() else { return };
    if let Some(status) = r.status() {
        ui.text(format!("{}: {status}", r.name()));
    }
    let settings = r.settings();
    for s in &settings {
        let shown = s.when.is_none_or(|k| {
            settings.iter().any(|o| o.key == k && o.value == SettingValue::Bool(true))
        });
        if !shown {
            continue;
        }
        if s.fixed {
            ui.text_disabled(format!("{}: {}", s.label, s.value));
            continue;
        }
        let flags = if s.logarithmic { clamp | imgui::SliderFlags::LOGARITHMIC } else { clamp };
        let changed = match s.value {
            SettingValue::UInt(v) if !s.options.is_empty() => {
                let mut i = v as usize;
                ui.combo_simple_string(s.label, &mut i, s.options)
                    .then_some(SettingValue::UInt(i as u32))
            }
            SettingValue::Bool(mut b) => {
                ui.checkbox(s.label, &mut b).then_some(SettingValue::Bool(b))
            }
            SettingValue::UInt(mut v) => ui
                .slider_config(s.label, s.range.0 as u32, s.range.1 as u32)
                .flags(flags)
                .build(&mut v)
                .then_some(SettingValue::UInt(v)),
            SettingValue::Float(mut v) => ui
                .slider_config(s.label, s.range.0, s.range.1)
                .flags(flags)
                .build(&mut v)
                .then_some(SettingValue::Float(v)),
        };
        if let Some(v) = changed {
            if let Err(e) = r.set(s.key, v) {
                tracing::error!("viewport {id}: {e}");
            }
        }
    }
    if r.samples().is_some() && ui.button("restart accumulation") {
        r.reset();
    }
}

pub(super) fn viewport_shot_name(id: u32, ext: &str) -> PathBuf {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    PathBuf::from(format!("xpg-viewport{id}-{n}.{ext}"))
}
