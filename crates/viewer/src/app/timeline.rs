//! Playback of the scene's time (issue 22, a first timeline): a panel under the viewports
//! while the scene has animations (play/pause, the time, speed, loop), and the clock that sets
//! the scene's time every frame while it plays.

use scene::Scene;

/// The playback state.
#[derive(Debug, Clone, PartialEq)]
pub struct Playback {
    /// Advancing with the frames.
    pub playing: bool,
    /// The scene time shown, in seconds.
    pub time: f64,
    /// Scene seconds per second.
    pub speed: f64,
    /// Start again at the end (else stop there).
    pub looping: bool,
}

impl Default for Playback {
    fn default() -> Self {
        Self { playing: true, time: 0.0, speed: 1.0, looping: true }
    }
}

impl Playback {
    /// Advances by `dt` seconds of viewer time while playing and puts the scene at the time
    /// (only when it changed: a paused scene is left as it is, so progressive renderers keep
    /// accumulating).
    pub fn advance(&mut self, scene: &mut Scene, dt: f32) {
        let Some((start, end)) = scene.time_span() else { return };
        if !self.playing {
            return;
        }
        let mut t = self.time + f64::from(dt) * self.speed;
        let len = end - start;
        if t > end || t < start {
            if self.looping && len > 0.0 {
                t = start + (t - start).rem_euclid(len);
            } else {
                t = t.clamp(start, end);
                self.playing = false;
            }
        }
        self.time = t;
        scene.set_time(t);
    }

    /// The timeline panel (shown while the scene has animations); a moved slider sets the
    /// scene's time.
    pub fn panel(&mut self, ui: &imgui::Ui, scene: &mut Scene, size: [f32; 2]) {
        let Some((start, end)) = scene.time_span() else { return };
        ui.window("Timeline")
            .position([size[0] * 0.25, size[1] - 90.0], imgui::Condition::FirstUseEver)
            .size([size[0] * 0.5, 80.0], imgui::Condition::FirstUseEver)
            .build(|| {
                if ui.button(if self.playing { "Pause" } else { "Play" }) {
                    self.playing = !self.playing;
                }
                ui.same_line();
                ui.checkbox("loop", &mut self.looping);
                ui.same_line();
                ui.set_next_item_width(120.0);
                imgui::Drag::new("speed")
                    .speed(0.01)
                    .display_format("%.2fx")
                    .range(-8.0, 8.0)
                    .flags(imgui::SliderFlags::ALWAYS_CLAMP)
                    .build(ui, &mut self.speed);
                ui.same_line();
                ui.text(format!("{:.3} s of {start:.2}-{end:.2} s", self.time));
                let mut t = self.time as f32;
                ui.set_next_item_width(-1.0);
                if ui
                    .slider_config("##time", start as f32, end as f32)
                    .flags(imgui::SliderFlags::ALWAYS_CLAMP)
                    .build(&mut t)
                {
                    self.time = f64::from(t);
                    scene.set_time(self.time);
                }
            });
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
        p.looping = false;
        p.advance(&mut s, 5.0);
        assert_eq!((p.time, p.playing), (3.0, false), "stops at the end");
        let v = s.versions.transforms;
        p.advance(&mut s, 1.0);
        assert_eq!(s.versions.transforms, v, "paused: the scene is left alone");
    }
}
