//! The windowed viewer: a winit 0.30 event loop driving [`App::frame`] with a swapchain.

use std::time::Instant;

use anyhow::{bail, Context as _};
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, MouseButton, MouseScrollDelta, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::PhysicalKey;
use winit::raw_window_handle::{HasDisplayHandle, HasWindowHandle};
use winit::window::{Window, WindowId};
use xpg::{Swapchain, SwapchainDesc};

use crate::app::{make_context, App, ViewerOptions};
use crate::input::{Button, InputEvent};

/// What a windowed run reports when it ends.
#[derive(Debug, Clone, Default)]
pub struct WindowRun {
    /// Frames drawn.
    pub frames: u64,
    /// Swapchain (re)creations.
    pub swapchain_recreations: u64,
    /// Validation messages (with `--validation`).
    pub validation_messages: u64,
    /// Milliseconds from `started` to the end of the first frame.
    pub first_frame_ms: Option<f64>,
    /// The `--screenshot` was read back from the swapchain image (what was presented).
    pub screenshot_from_swapchain: bool,
}

/// Applied to the app once it is made (the [`crate::Viewer`] builder's scene and callbacks).
pub(crate) type Setup = Box<dyn FnOnce(&mut App)>;

struct Handler {
    opts: Option<ViewerOptions>,
    setup: Option<Setup>,
    /// The context, made on another thread from the start of the run.
    pending: Option<crate::app::PendingContext>,
    // Field order = drop order: the app (and its GPU work) before the swapchain, the
    // swapchain before the window.
    app: Option<App>,
    swapchain: Option<Swapchain>,
    window: Option<Window>,
    error: Option<anyhow::Error>,
    run: WindowRun,
    /// Kept to count validation messages after everything else is gone.
    ctx: Option<xpg::Context>,
    started: Instant,
    scripted: bool,
}

impl Handler {
    fn fail(&mut self, el: &ActiveEventLoop, e: anyhow::Error) {
        tracing::error!("{e:#}");
        if self.error.is_none() {
            self.error = Some(e);
        }
        el.exit();
    }

    fn init(&mut self, el: &ActiveEventLoop) -> anyhow::Result<()> {
        let Some(opts) = self.opts.take() else { return Ok(()) };
        let (w, h) = opts.size;
        // While the device is made on its own thread: the window, then the files.
        let t = Instant::now();
        let window = el
            .create_window(
                Window::default_attributes()
                    .with_title("xpg-view")
                    .with_inner_size(PhysicalSize::new(w, h)),
            )
            .context("creating the window")?;
        let window_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let loaded = crate::app::load_files(&opts.files, &opts.sequence);
        let files_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let (ctx, context_ms) = match self.pending.take() {
            Some(p) => p.wait()?,
            None => (make_context(&opts)?, 0.0),
        };
        let waited_ms = t.elapsed().as_secs_f64() * 1e3;
        let size = window.inner_size();
        let display = window.display_handle().context("display handle")?.as_raw();
        let raw = window.window_handle().context("window handle")?.as_raw();
        // SAFETY: the window (and its display) outlive the swapchain: `Handler` drops the
        // swapchain before the window (field order) and `exiting` drops both in that order.
        let swapchain = unsafe {
            Swapchain::new(
                &ctx,
                display,
                raw,
                size.width.max(1),
                size.height.max(1),
                SwapchainDesc { vsync: opts.vsync, frames_in_flight: crate::app::FRAMES_IN_FLIGHT },
            )
        }
        .context("creating the swapchain")?;
        self.ctx = Some(ctx.clone());
        let mut app = App::new_with(opts, ctx, Some(swapchain.format()), Some(loaded))?;
        app.startup.splice(
            0..0,
            [
                ("vulkan context (own thread)", context_ms),
                ("window (beside the context)", window_ms),
                ("files (load, beside the context)", files_ms),
                ("waiting for the context", waited_ms),
            ],
        );
        if let Some(setup) = self.setup.take() {
            setup(&mut app);
        }
        self.scripted = app.opts.script.is_some();
        self.swapchain = Some(swapchain);
        self.app = Some(app);
        window.request_redraw();
        self.window = Some(window);
        Ok(())
    }

    fn redraw(&mut self, el: &ActiveEventLoop) -> anyhow::Result<()> {
        let (Some(app), Some(window)) = (self.app.as_mut(), self.window.as_ref()) else {
            return Ok(());
        };
        let size = window.inner_size();
        // The last frame's window screenshot is read back from the swapchain image.
        if app.opts.screenshot.is_some()
            && app.opts.frames.is_some_and(|n| app.stats.frames + 1 == n)
        {
            app.capture_next_frame();
        }
        let drawn = app.frame(self.swapchain.as_mut(), (size.width, size.height))?;
        if drawn {
            self.run.frames = app.stats.frames;
            if self.run.first_frame_ms.is_none() {
                app.context().wait_idle()?;
                self.run.first_frame_ms = Some(self.started.elapsed().as_secs_f64() * 1e3);
            }
        }
        if let Some((w, h)) = app.requested_size.take() {
            let _ = window.request_inner_size(PhysicalSize::new(w, h));
        }
        let done = app.opts.frames.is_some_and(|n| app.stats.frames >= n);
        if done || app.quit || app.quit_requested() {
            if let Some(p) = app.opts.screenshot.clone() {
                app.save_window(&p)?;
                self.run.screenshot_from_swapchain = app.captured_swapchain();
            }
            el.exit();
        } else if drawn {
            window.request_redraw();
        }
        // Minimised (nothing drawn): the next `Resized` asks for a redraw.
        Ok(())
    }
}

impl ApplicationHandler for Handler {
    fn resumed(&mut self, el: &ActiveEventLoop) {
        if let Err(e) = self.init(el) {
            self.fail(el, e);
        }
    }

    fn window_event(&mut self, el: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        let ev = match event {
            WindowEvent::CloseRequested => {
                el.exit();
                return;
            }
            WindowEvent::RedrawRequested => {
                if let Err(e) = self.redraw(el) {
                    self.fail(el, e);
                }
                return;
            }
            WindowEvent::Resized(_) => {
                if let Some(sc) = self.swapchain.as_mut() {
                    sc.invalidate();
                }
                if let Some(w) = &self.window {
                    w.request_redraw();
                }
                return;
            }
            WindowEvent::DroppedFile(path) => {
                if let Some(app) = self.app.as_mut() {
                    app.open_files(&[path]);
                }
                return;
            }
            // A scripted run ignores the real pointer and keyboard, so that it is
            // reproducible.
            _ if self.scripted => return,
            WindowEvent::CursorMoved { position, .. } => {
                InputEvent::MouseMove(position.x as f32, position.y as f32)
            }
            WindowEvent::MouseInput { state, button, .. } => {
                let b = match button {
                    MouseButton::Left => Button::Left,
                    MouseButton::Right => Button::Right,
                    MouseButton::Middle => Button::Middle,
                    _ => return,
                };
                InputEvent::MouseButton(b, state == ElementState::Pressed)
            }
            WindowEvent::MouseWheel { delta, .. } => InputEvent::Wheel(match delta {
                MouseScrollDelta::LineDelta(_, y) => y,
                MouseScrollDelta::PixelDelta(p) => p.y as f32 / 40.0,
            }),
            WindowEvent::KeyboardInput { event, .. } => {
                if let Some(app) = self.app.as_mut() {
                    if event.state == ElementState::Pressed {
                        if let Some(t) = &event.text {
                            for c in t.chars().filter(|c| !c.is_control()) {
                                app.input(&InputEvent::Char(c));
                            }
                        }
                    }
                }
                let PhysicalKey::Code(code) = event.physical_key else { return };
                let Some(k) = crate::input::key_from_winit(code) else { return };
                InputEvent::Key(k, event.state == ElementState::Pressed)
            }
            _ => return,
        };
        if let Some(app) = self.app.as_mut() {
            app.input(&ev);
        }
    }

    fn exiting(&mut self, _el: &ActiveEventLoop) {
        if let Some(sc) = &self.swapchain {
            self.run.swapchain_recreations = sc.recreations();
        }
        self.app = None;
        self.swapchain = None;
        self.window = None;
        if let Some(ctx) = &self.ctx {
            let _ = ctx.wait_idle();
            self.run.validation_messages = ctx.validation_messages().total();
        }
    }
}

/// Opens the viewer window and runs until it is closed (or `opts.frames` frames were drawn).
/// `started` is when the program started (for the time to the first frame).
pub fn run_window(opts: ViewerOptions, started: Instant) -> anyhow::Result<WindowRun> {
    run_window_with(opts, started, None)
}

/// [`run_window`], with `setup` applied to the app once it is made.
pub(crate) fn run_window_with(
    opts: ViewerOptions,
    started: Instant,
    setup: Option<Setup>,
) -> anyhow::Result<WindowRun> {
    let validation = opts.validation;
    // The device first: it takes most of a warm start, and needs no window.
    let pending = Some(crate::app::start_context(&opts));
    let el = EventLoop::new().context(
        "creating the event loop: is there a display? (without one, run offscreen: --offscreen WxH)",
    )?;
    // Frames are driven by redraw requests (each drawn frame asks for the next); while
    // minimised nothing is drawn and the loop sleeps until an event.
    el.set_control_flow(ControlFlow::Wait);
    let mut h = Handler {
        opts: Some(opts),
        setup,
        pending,
        app: None,
        swapchain: None,
        window: None,
        error: None,
        run: WindowRun::default(),
        ctx: None,
        started,
        scripted: false,
    };
    el.run_app(&mut h).context("event loop")?;
    if let Some(e) = h.error {
        return Err(e);
    }
    if validation && h.run.validation_messages > 0 {
        bail!("{} validation messages (see the log)", h.run.validation_messages);
    }
    Ok(h.run)
}
