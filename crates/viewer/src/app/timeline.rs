//! The scene's time (issue 22): the playback clock that sets the scene's time every frame
//! while it plays, and the Timeline panel under the viewports (play/pause, step, first/last,
//! speed, loop mode, the time and frame, a scrub bar with each animated object's sample ticks,
//! follow latest, export of frames). Keys: Space, Left/Right, Home/End (the config's `[keys]`);
//! the config's `[timeline]` and the Rust API ([`crate::app::App::playback_mut`],
//! [`crate::app::FrameInfo::playback`]) drive it too.

use scene::Scene;

/// What playback does at the end of the scene's time span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoopMode {
    /// Stop at the end.
    Once,
    /// Start again at the other end.
    #[default]
    Loop,
    /// Turn round and play backwards (ping-pong).
    Bounce,
}

/// The playback state.
#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    /// Advancing with the frames.
    pub playing: bool,
    /// The scene time shown, in seconds.
    pub time: f64,
    /// Scene seconds per second (negative: backwards).
    pub speed: f64,
    /// At the ends of the span.
    pub loop_mode: LoopMode,
    /// Stay at the latest time of data that is still arriving (the span's end as it grows).
    pub follow_latest: bool,
    /// Frames per second of the frame counter and of a step (None: the scene's own rate,
    /// else 30).
    pub fps: Option<f64>,
    /// Where the time was last put into the scene (None: never): a paused scene whose time
    /// did not move is left alone, so progressive renderers keep accumulating.
    applied: Option<f64>,
    /// Every property source had its value for `applied` (no stand-in shown).
    complete: bool,
}

impl Default for Playback {
    fn default() -> Self {
        Self {
            playing: true,
            time: 0.0,
            speed: 1.0,
            loop_mode: LoopMode::Loop,
            follow_latest: false,
            fps: None,
            applied: None,
            complete: true,
        }
    }
}

impl From<&crate::config::TimelineConfig> for Playback {
    fn from(c: &crate::config::TimelineConfig) -> Self {
        Self {
            playing: c.play,
            speed: c.speed,
            loop_mode: c.loop_mode,
            follow_latest: c.follow_latest,
            ..Default::default()
        }
    }
}

/// Something asked of the playback (keys, buttons, the API).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PlaybackCommand {
    /// Play or pause.
    TogglePlay,
    /// One frame forward (+1) or back (-1), pausing.
    Step(i32),
    /// The start of the span.
    First,
    /// The end of the span.
    Last,
    /// A time in seconds.
    Seek(f64),
}

impl Playback {
    /// The frame rate of the frame counter and steps for `scene`.
    pub fn frame_rate(&self, scene: &Scene) -> f64 {
        self.fps
            .or_else(|| scene.frame_rate())
            .filter(|f| f.is_finite() && *f > 0.0)
            .unwrap_or(crate::export::DEFAULT_FPS)
    }

    /// The frame index of the current time (time x rate, rounded).
    pub fn frame(&self, scene: &Scene) -> i64 {
        (self.time * self.frame_rate(scene)).round() as i64
    }

    /// Applies `cmd` (clamped to the scene's span) and puts the scene at the new time.
    pub fn command(&mut self, scene: &mut Scene, cmd: PlaybackCommand) {
        let Some((start, end)) = scene.time_span() else { return };
        match cmd {
            PlaybackCommand::TogglePlay => {
                self.playing = !self.playing;
                if self.playing && self.loop_mode == LoopMode::Once && self.time >= end {
                    self.time = start; // play again from the start
                }
            }
            PlaybackCommand::Step(n) => {
                self.playing = false;
                self.follow_latest = false;
                let rate = self.frame_rate(scene);
                let frame = (self.time * rate).round() + f64::from(n);
                self.time = (frame / rate).clamp(start, end);
            }
            PlaybackCommand::First => {
                self.follow_latest = false;
                self.time = start;
            }
            PlaybackCommand::Last => self.time = end,
            PlaybackCommand::Seek(t) if t.is_finite() => {
                self.follow_latest = false;
                self.time = t.clamp(start, end);
            }
            PlaybackCommand::Seek(_) => {}
        }
        self.apply(scene);
    }

    /// Advances by `dt` seconds of viewer time while playing (or follows the latest time)
    /// and puts the scene at the time when it changed.
    pub fn advance(&mut self, scene: &mut Scene, dt: f32) {
        let Some((start, end)) = scene.time_span() else { return };
        if self.follow_latest {
            self.time = end;
        } else if self.playing {
            let mut t = self.time + f64::from(dt) * self.speed;
            let len = end - start;
            if t > end || t < start {
                match self.loop_mode {
                    LoopMode::Loop if len > 0.0 => t = start + (t - start).rem_euclid(len),
                    LoopMode::Bounce if len > 0.0 => {
                        // Reflect at the end it passed and turn round.
                        t = if t > end { 2.0 * end - t } else { 2.0 * start - t };
                        t = t.clamp(start, end);
                        self.speed = -self.speed;
                    }
                    _ => {
                        t = t.clamp(start, end);
                        self.playing = false;
                    }
                }
            }
            self.time = t;
        }
        self.apply(scene);
    }

    /// Puts the scene at `self.time` unless it is there already.
    fn apply(&mut self, scene: &mut Scene) {
        // Streamed data not there at the last application showed a stand-in (the nearest
        // loaded frame): applied again each frame until the real one has arrived.
        if self.applied != Some(self.time) || !self.complete {
            // Asked before: data that arrives while the time is set is taken next frame.
            let ready = scene.properties_ready(self.time);
            scene.set_time(self.time);
            self.applied = Some(self.time);
            self.complete = ready;
        }
    }

    /// The timeline panel (while the scene has animations); its Export button opens
    /// `export`.
    pub fn panel(
        &mut self,
        ui: &imgui::Ui,
        scene: &mut Scene,
        size: [f32; 2],
        export: &mut ExportForm,
    ) {
        let Some((start, end)) = scene.time_span() else { return };
        ui.window("Timeline")
            .position([size[0] * 0.15, size[1] - 110.0], imgui::Condition::FirstUseEver)
            .size([size[0] * 0.7, 100.0], imgui::Condition::FirstUseEver)
            .build(|| {
                let mut cmd = None;
                if ui.button("|<") {
                    cmd = Some(PlaybackCommand::First);
                }
                ui.same_line();
                if ui.button("<") {
                    cmd = Some(PlaybackCommand::Step(-1));
                }
                ui.same_line();
                if ui.button(if self.playing { "Pause" } else { "Play " }) {
                    cmd = Some(PlaybackCommand::TogglePlay);
                }
                ui.same_line();
                if ui.button(">") {
                    cmd = Some(PlaybackCommand::Step(1));
                }
                ui.same_line();
                if ui.button(">|") {
                    cmd = Some(PlaybackCommand::Last);
                }
                ui.same_line();
                ui.set_next_item_width(90.0);
                let modes = ["once", "loop", "bounce"];
                let mut m = self.loop_mode as usize;
                if ui.combo_simple_string("##loop", &mut m, &modes) {
                    self.loop_mode = [LoopMode::Once, LoopMode::Loop, LoopMode::Bounce][m];
                }
                ui.same_line();
                ui.set_next_item_width(90.0);
                imgui::Drag::new("speed")
                    .speed(0.01)
                    .display_format("%.2fx")
                    .range(-8.0, 8.0)
                    .flags(imgui::SliderFlags::ALWAYS_CLAMP)
                    .build(ui, &mut self.speed);
                ui.same_line();
                ui.checkbox("follow latest", &mut self.follow_latest);
                if scene.clips.len() > 1 {
                    ui.same_line();
                    ui.set_next_item_width(140.0);
                    let mut names = vec!["all animations".to_string()];
                    names.extend(scene.clips.iter().map(|c| c.name.clone()));
                    let mut k = scene.active_clip.map_or(0, |c| c + 1);
                    if ui.combo_simple_string("##clip", &mut k, &names) {
                        scene.play_clip(k.checked_sub(1));
                        cmd = Some(PlaybackCommand::First);
                    }
                }
                ui.same_line();
                ui.text(format!(
                    "{:.3} s  frame {} @ {:.0} fps  ({start:.2}-{end:.2} s)",
                    self.time,
                    self.frame(scene),
                    self.frame_rate(scene)
                ));
                ui.same_line();
                if ui.button("Export...") {
                    export.open = true;
                    let rate = self.frame_rate(scene);
                    export.first = (start * rate).round().max(0.0) as i32;
                    export.last = (end * rate).round().max(0.0) as i32;
                    export.fps = rate as f32;
                }
                let mut t = self.time as f32;
                ui.set_next_item_width(-1.0);
                let [x0, y0] = ui.cursor_screen_pos();
                if ui
                    .slider_config("##time", start as f32, end as f32)
                    .flags(imgui::SliderFlags::ALWAYS_CLAMP)
                    .build(&mut t)
                {
                    cmd = Some(PlaybackCommand::Seek(f64::from(t)));
                }
                // Each animated object's samples as ticks under the scrub bar, and what
                // streamed sources have loaded as a bar over it.
                let [x1, y1] = ui.item_rect_max();
                ticks(ui, scene, (start, end), [x0, y0], [x1, y1]);
                loaded_bars(ui, scene, (start, end), [x0, y0], [x1, y1]);
                // A frame whose file failed: its path and reason (playback goes on; the
                // frame shows the last good data).
                ui.dummy([0.0, 10.0]);
                for st in scene.streams() {
                    if let Some((path, e)) = st.index_at(self.time).and_then(|k| st.error(k)) {
                        ui.text_colored(
                            [1.0, 0.4, 0.3, 1.0],
                            format!("frame {}: {}: {e}", self.frame(scene), path.display()),
                        );
                    }
                }
                if let Some(c) = cmd {
                    self.command(scene, c);
                }
            });
        self.plots_panel(ui, scene, size, (start, end));
    }

    /// The plots (scalar series over time) on the timeline's time axis, with its cursor;
    /// clicking or dragging in a plot seeks.
    fn plots_panel(&mut self, ui: &imgui::Ui, scene: &mut Scene, size: [f32; 2], span: (f64, f64)) {
        if scene.plots.is_empty() {
            return;
        }
        let (start, end) = span;
        let mut seek = None;
        ui.window("Plots")
            .position([size[0] * 0.15, size[1] - 320.0], imgui::Condition::FirstUseEver)
            .size([size[0] * 0.7, 200.0], imgui::Condition::FirstUseEver)
            .build(|| {
                let n = scene.plots.len();
                let avail = ui.content_region_avail();
                let row = ((avail[1] - 4.0 * n as f32) / n as f32).clamp(28.0, 120.0);
                for (k, plot) in scene.plots.iter().enumerate() {
                    let [x0, y0] = ui.cursor_screen_pos();
                    let w = avail[0].max(10.0);
                    let _id = ui.push_id_usize(k);
                    ui.invisible_button("##plot", [w, row]);
                    let (x1, y1) = (x0 + w, y0 + row);
                    let x_of = |t: f64| x0 + ((t - start) / (end - start).max(1e-12)) as f32 * w;
                    if ui.is_item_active() {
                        let mx = ui.io().mouse_pos[0];
                        let t = start + f64::from((mx - x0) / w).clamp(0.0, 1.0) * (end - start);
                        seek = Some(t);
                    }
                    let draw = ui.get_window_draw_list();
                    draw.add_rect([x0, y0], [x1, y1], [0.1, 0.1, 0.12, 1.0]).filled(true).build();
                    if let Some((lo, hi)) = plot.range() {
                        let span = if hi > lo { hi - lo } else { 1.0 };
                        let y_of = |v: f64| y1 - 3.0 - ((v - lo) / span) as f32 * (row - 6.0);
                        // At most a point per pixel column (a series of a million samples
                        // draws what the pixels can show).
                        let mut last: Option<[f32; 2]> = None;
                        let mut column = i64::MIN;
                        for (&t, &v) in plot.times.iter().zip(&plot.values) {
                            if !v.is_finite() {
                                last = None;
                                continue;
                            }
                            let p = [x_of(t), y_of(v)];
                            if p[0] as i64 == column && last.is_some() {
                                continue;
                            }
                            column = p[0] as i64;
                            if let Some(q) = last {
                                draw.add_line(q, p, [0.4, 0.8, 1.0, 1.0]).build();
                            }
                            last = Some(p);
                        }
                        draw.add_text(
                            [x0 + 4.0, y0 + 2.0],
                            [0.8, 0.8, 0.8, 1.0],
                            format!("{}  [{lo:.4} .. {hi:.4}]", plot.name),
                        );
                    } else {
                        draw.add_text([x0 + 4.0, y0 + 2.0], [0.8, 0.8, 0.8, 1.0], &plot.name);
                    }
                    // The timeline's cursor, and the value there.
                    let cx = x_of(self.time);
                    draw.add_line([cx, y0], [cx, y1], [1.0, 0.8, 0.2, 1.0]).build();
                    if let Some(v) = plot.value_at(self.time) {
                        draw.add_text(
                            [cx + 4.0, y1 - 16.0],
                            [1.0, 0.8, 0.2, 1.0],
                            format!("{v:.4}"),
                        );
                    }
                }
            });
        if let Some(t) = seek {
            self.command(scene, PlaybackCommand::Seek(t));
        }
    }
}

impl super::App {
    /// The Export form of the timeline (while open) and the progress of a running export.
    pub(super) fn export_window(
        &mut self,
        ui: &imgui::Ui,
        size: [f32; 2],
        actions: &mut Vec<super::Action>,
    ) {
        if let Some(job) = &self.export_job {
            if job.handle.is_finished() {
                let out = job.out.clone();
                self.export_status = Some(match self.wait_export() {
                    Some(Ok(s)) => format!(
                        "exported {} frames to {out} ({:.1} frames/s){}",
                        s.frames,
                        s.frames as f64 / s.seconds.max(1e-9),
                        if s.failed.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; {} frames could not be read (last good data shown):\n{}",
                                s.failed.len(),
                                s.failures()
                            )
                        }
                    ),
                    Some(Err(e)) => format!("export failed: {e:#}"),
                    None => String::new(),
                });
            }
        }
        if !self.export_form.open {
            return;
        }
        let mut open = true;
        let f = &mut self.export_form;
        let job = &self.export_job;
        let status = &self.export_status;
        ui.window("Export")
            .opened(&mut open)
            .position([size[0] * 0.5 - 180.0, size[1] - 300.0], imgui::Condition::FirstUseEver)
            .size([360.0, 180.0], imgui::Condition::FirstUseEver)
            .build(|| {
                ui.text("Frames of the active viewport (its camera and size)");
                ui.set_next_item_width(100.0);
                ui.input_int("first", &mut f.first).build();
                ui.same_line();
                ui.set_next_item_width(100.0);
                ui.input_int("last", &mut f.last).build();
                ui.set_next_item_width(100.0);
                ui.input_float("fps", &mut f.fps).build();
                ui.same_line();
                ui.set_next_item_width(100.0);
                ui.input_int("spp (path tracer)", &mut f.spp).build();
                ui.set_next_item_width(-1.0);
                ui.input_text("##out", &mut f.out).build();
                match job {
                    Some(j) => {
                        use std::sync::atomic::Ordering;
                        let done = j.progress.done.load(Ordering::Relaxed);
                        let total = j.progress.total.load(Ordering::Relaxed).max(1);
                        imgui::ProgressBar::new(done as f32 / total as f32)
                            .overlay_text(format!("{done}/{total}"))
                            .build(ui);
                        ui.same_line();
                        if ui.button("Cancel") {
                            j.progress.cancel.store(true, Ordering::Relaxed);
                        }
                    }
                    None => {
                        if ui.button("Export") {
                            actions.push(super::Action::ExportFrames);
                        }
                    }
                }
                if let Some(s) = status {
                    ui.text_wrapped(s);
                }
            });
        self.export_form.open = open;
    }
}

/// Ticks at the sample times of each animated object (its tracks), a row per object (4 rows
/// cycling, at most one tick per pixel column per row).
fn ticks(ui: &imgui::Ui, scene: &Scene, (start, end): (f64, f64), lo: [f32; 2], hi: [f32; 2]) {
    let width = hi[0] - lo[0] - 12.0;
    if width <= 1.0 || end <= start {
        return;
    }
    let draw = ui.get_window_draw_list();
    // Node animations, then the other properties over time; the first ones (a scene of
    // thousands of animated objects would cost the UI its frame).
    let objects = scene
        .animations
        .iter()
        .map(|a| a.sample_times())
        .chain(scene.properties.iter().map(|p| p.sample_times()))
        .take(MAX_TICK_ROWS);
    let rows = (scene.animations.len() + scene.properties.len()).clamp(1, 4);
    for (row, times) in objects.enumerate() {
        let r = row % rows;
        let y = hi[1] + 2.0 + 3.0 * r as f32;
        let color = [
            [0.9, 0.7, 0.2, 0.9],
            [0.4, 0.8, 1.0, 0.9],
            [0.6, 1.0, 0.5, 0.9],
            [1.0, 0.5, 0.7, 0.9],
        ][r];
        let mut last = -1i64;
        for t in times {
            let x = lo[0] + 6.0 + ((t - start) / (end - start)) as f32 * width;
            let column = x as i64;
            if column == last {
                continue;
            }
            last = column;
            draw.add_line([x, y], [x, y + 3.0], color).build();
        }
    }
}

/// The time ranges streamed sources have loaded, as a thin bar along the scrub bar's top
/// (like a video player's buffer bar; one per source, the first four).
fn loaded_bars(
    ui: &imgui::Ui,
    scene: &Scene,
    (start, end): (f64, f64),
    lo: [f32; 2],
    hi: [f32; 2],
) {
    let width = hi[0] - lo[0] - 12.0;
    if width <= 1.0 || end <= start {
        return;
    }
    let draw = ui.get_window_draw_list();
    let sources = scene.properties.iter().filter_map(|p| match &p.samples {
        scene::Samples::Source(s) => Some(s),
        scene::Samples::Track(_) => None,
    });
    for (row, s) in sources.take(4).enumerate() {
        let y = lo[1] + 1.0 + 2.0 * row as f32;
        let x = |t: f64| lo[0] + 6.0 + ((t - start) / (end - start)).clamp(0.0, 1.0) as f32 * width;
        for (a, b) in s.loaded() {
            // A range of one sample still shows.
            let (xa, xb) = (x(a), x(b).max(x(a) + 2.0));
            draw.add_rect([xa, y], [xb, y + 2.0], [0.3, 0.9, 0.4, 0.9]).filled(true).build();
        }
        // Frames whose file failed, in red.
        if let Some(st) = s.stream() {
            let times = st.times();
            for (i, ..) in st.errors() {
                let Some(&t) = times.get(i) else { continue };
                let xa = x(t);
                draw.add_rect([xa - 1.0, y - 1.0], [xa + 2.0, y + 4.0], [1.0, 0.25, 0.2, 1.0])
                    .filled(true)
                    .build();
            }
        }
    }
}

/// The animated objects whose sample ticks the timeline draws.
const MAX_TICK_ROWS: usize = 64;

/// The Export popup's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportForm {
    /// Shown.
    pub open: bool,
    /// First and last frame index.
    pub first: i32,
    /// Last frame index.
    pub last: i32,
    /// Frames per second.
    pub fps: f32,
    /// Output: a pattern with %05d or a movie.
    pub out: String,
    /// Path tracer samples per pixel per frame.
    pub spp: i32,
}

impl Default for ExportForm {
    fn default() -> Self {
        Self { open: false, first: 0, last: 0, fps: 30.0, out: "frames/%05d.png".into(), spp: 64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scene::time::{Timing, Track};

    fn animated() -> Scene {
        let mut s = Scene::default();
        s.nodes.push(scene::Node::new("n", glam::Mat4::IDENTITY));
        let track = Track::new(
            Timing::Times(vec![1.0, 3.0]),
            vec![Some(glam::Vec3::ZERO), Some(glam::Vec3::new(2.0, 0.0, 0.0))],
        )
        .expect("track");
        s.animations.push(scene::NodeAnimation {
            node: 0,
            rest: (glam::Vec3::ONE, glam::Quat::IDENTITY, glam::Vec3::ZERO),
            translation: Some(track),
            rotation: None,
            scale: None,
            weights: None,
        });
        s
    }

    #[test]
    fn playback_loops_or_stops_and_moves_the_scene() {
        let mut s = animated();
        let mut p = Playback { time: 1.0, ..Default::default() };
        p.advance(&mut s, 1.0);
        assert_eq!(p.time, 2.0);
        assert_eq!(s.nodes[0].local.w_axis.x, 1.0);
        p.advance(&mut s, 1.5);
        assert_eq!(p.time, 1.5, "3.5 s loops to 1.5 s");
        p.loop_mode = LoopMode::Once;
        p.advance(&mut s, 5.0);
        assert_eq!((p.time, p.playing), (3.0, false), "stops at the end");
        let v = s.versions.transforms;
        p.advance(&mut s, 1.0);
        assert_eq!(s.versions.transforms, v, "paused: the scene is left alone");
        // Bounce: 2.5 + 1 passes the end by 0.5: back to 2.5, now backwards.
        let mut p = Playback { time: 2.5, loop_mode: LoopMode::Bounce, ..Default::default() };
        p.advance(&mut s, 1.0);
        assert_eq!((p.time, p.speed), (2.5, -1.0));
        p.advance(&mut s, 1.0);
        assert_eq!(p.time, 1.5);
    }

    #[test]
    fn steps_first_last_seek_and_follow_latest() {
        let mut s = animated();
        let mut p = Playback { time: 2.0, fps: Some(10.0), ..Default::default() };
        p.command(&mut s, PlaybackCommand::Step(1));
        assert!(!p.playing, "a step pauses");
        assert!((p.time - 2.1).abs() < 1e-12 && p.frame(&s) == 21, "{}", p.time);
        p.command(&mut s, PlaybackCommand::Step(-3));
        assert!((p.time - 1.8).abs() < 1e-12);
        assert!((s.nodes[0].local.w_axis.x - 0.8).abs() < 1e-6, "the scene follows");
        p.command(&mut s, PlaybackCommand::Last);
        assert_eq!(p.time, 3.0);
        p.command(&mut s, PlaybackCommand::First);
        assert_eq!(p.time, 1.0);
        p.command(&mut s, PlaybackCommand::Seek(9.0));
        assert_eq!(p.time, 3.0, "seeks are clamped to the span");
        p.command(&mut s, PlaybackCommand::Seek(f64::NAN));
        assert_eq!(p.time, 3.0);
        p.command(&mut s, PlaybackCommand::TogglePlay);
        assert!(p.playing);
        // Follow latest: the span grows (a new last key), the time follows it.
        p.follow_latest = true;
        let a = &mut s.animations[0];
        let grown = Track::new(
            Timing::Times(vec![1.0, 3.0, 5.0]),
            vec![Some(glam::Vec3::ZERO), Some(glam::Vec3::X), Some(glam::Vec3::Y)],
        )
        .expect("track");
        a.translation = Some(grown);
        p.advance(&mut s, 0.01);
        assert_eq!(p.time, 5.0);
    }
}
