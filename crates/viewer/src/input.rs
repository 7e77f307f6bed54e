//! Input events, from the window or from a script. Both go through the same path (into Dear
//! ImGui's input queue), so a scripted run and a windowed or offscreen one agree exactly.
//!
//! Script format: one event per line, `FRAME EVENT ARGS...`, `#` starts a comment.
//! ```text
//! 2 move 320 200        # mouse position in window pixels
//! 2 down left           # button left|right|middle down
//! 3 move 360 210
//! 4 up left
//! 5 wheel 1             # wheel steps (positive: away from the user, zooms in)
//! 6 key down w          # a key (a-z, 0-9, f1-f12, escape, tab, space, enter, ctrl, shift, alt)
//! 9 key up w
//! 10 resize 500 300     # window (or offscreen image) size
//! 12 screenshot out.png # the whole window, .png or .exr
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

/// A mouse button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// Left (rotate, UI).
    Left,
    /// Right (pan).
    Right,
    /// Middle (pan).
    Middle,
}

/// One input event.
#[derive(Debug, Clone, PartialEq)]
pub enum InputEvent {
    /// The pointer moved to (x, y) window pixels.
    MouseMove(f32, f32),
    /// A button went down (true) or up.
    MouseButton(Button, bool),
    /// Wheel steps.
    Wheel(f32),
    /// A key went down (true) or up.
    Key(imgui::Key, bool),
    /// Text typed.
    Char(char),
    /// The window (or offscreen image) is now this size.
    Resize(u32, u32),
    /// Save the whole window to this file.
    Screenshot(PathBuf),
}

/// Scripted input: events tagged with the frame they happen before.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// (frame, event), sorted by frame.
    pub events: Vec<(u64, InputEvent)>,
}

impl Script {
    /// Reads a script file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading input script {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("input script {}", path.display()))
    }

    /// Parses script text (see the module documentation).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut events = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let ev = parse_line(line).with_context(|| format!("line {}: '{line}'", i + 1))?;
            events.push(ev);
        }
        events.sort_by_key(|(f, _)| *f);
        Ok(Self { events })
    }

    /// The events of frame `frame`.
    pub fn at(&self, frame: u64) -> impl Iterator<Item = &InputEvent> {
        self.events.iter().filter(move |(f, _)| *f == frame).map(|(_, e)| e)
    }

    /// The last frame with an event.
    pub fn last_frame(&self) -> u64 {
        self.events.last().map_or(0, |(f, _)| *f)
    }
}

fn parse_line(line: &str) -> anyhow::Result<(u64, InputEvent)> {
    let mut it = line.split_whitespace();
    let frame: u64 = it.next().context("missing frame")?.parse().context("frame number")?;
    let kind = it.next().context("missing event")?;
    let mut num = |what: &str| -> anyhow::Result<f32> {
        let v: f32 = it
            .next()
            .with_context(|| format!("missing {what}"))?
            .parse()
            .with_context(|| format!("{what} is not a number"))?;
        if !v.is_finite() {
            bail!("{what} is not finite");
        }
        Ok(v)
    };
    let ev = match kind {
        "move" => InputEvent::MouseMove(num("x")?, num("y")?),
        "wheel" => InputEvent::Wheel(num("steps")?),
        "resize" => {
            let (w, h) = (num("width")?, num("height")?);
            if !(1.0..=16384.0).contains(&w) || !(1.0..=16384.0).contains(&h) {
                bail!("size {w}x{h} out of range (1..=16384)");
            }
            InputEvent::Resize(w as u32, h as u32)
        }
        "down" | "up" => {
            let b = match it.next().context("missing button")? {
                "left" => Button::Left,
                "right" => Button::Right,
                "middle" => Button::Middle,
                other => bail!("unknown button '{other}' (left, right, middle)"),
            };
            InputEvent::MouseButton(b, kind == "down")
        }
        "key" => {
            let down = match it.next().context("missing down/up")? {
                "down" => true,
                "up" => false,
                other => bail!("'{other}': expected down or up"),
            };
            let name = it.next().context("missing key name")?;
            let key = key_from_name(name).with_context(|| format!("unknown key '{name}'"))?;
            InputEvent::Key(key, down)
        }
        "screenshot" => {
            let p = it.next().context("missing file")?;
            crate::check_output(Path::new(p))?;
            InputEvent::Screenshot(PathBuf::from(p))
        }
        other => bail!("unknown event '{other}' (move, down, up, wheel, key, resize, screenshot)"),
    };
    if let Some(extra) = it.next() {
        bail!("unexpected '{extra}'");
    }
    Ok((frame, ev))
}

/// A key by its script name.
pub fn key_from_name(name: &str) -> Option<imgui::Key> {
    use imgui::Key as K;
    let n = name.to_ascii_lowercase();
    let letters = [
        K::A,
        K::B,
        K::C,
        K::D,
        K::E,
        K::F,
        K::G,
        K::H,
        K::I,
        K::J,
        K::K,
        K::L,
        K::M,
        K::N,
        K::O,
        K::P,
        K::Q,
        K::R,
        K::S,
        K::T,
        K::U,
        K::V,
        K::W,
        K::X,
        K::Y,
        K::Z,
    ];
    let digits = [
        K::Alpha0,
        K::Alpha1,
        K::Alpha2,
        K::Alpha3,
        K::Alpha4,
        K::Alpha5,
        K::Alpha6,
        K::Alpha7,
        K::Alpha8,
        K::Alpha9,
    ];
    let fkeys =
        [K::F1, K::F2, K::F3, K::F4, K::F5, K::F6, K::F7, K::F8, K::F9, K::F10, K::F11, K::F12];
    let b = n.as_bytes();
    if b.len() == 1 && b[0].is_ascii_lowercase() {
        return Some(letters[(b[0] - b'a') as usize]);
    }
    if b.len() == 1 && b[0].is_ascii_digit() {
        return Some(digits[(b[0] - b'0') as usize]);
    }
    if let Some(f) = n.strip_prefix('f').and_then(|d| d.parse::<usize>().ok()) {
        return (1..=12).contains(&f).then(|| fkeys[f - 1]);
    }
    Some(match n.as_str() {
        "escape" | "esc" => K::Escape,
        "tab" => K::Tab,
        "space" => K::Space,
        "enter" => K::Enter,
        "backspace" => K::Backspace,
        "delete" => K::Delete,
        "left" => K::LeftArrow,
        "right" => K::RightArrow,
        "up" => K::UpArrow,
        "down" => K::DownArrow,
        "home" => K::Home,
        "end" => K::End,
        "ctrl" => K::LeftCtrl,
        "shift" => K::LeftShift,
        "alt" => K::LeftAlt,
        _ => return None,
    })
}

/// The modifier "key" ImGui also wants when a modifier key changes.
pub fn modifier_of(key: imgui::Key) -> Option<imgui::Key> {
    use imgui::Key as K;
    match key {
        K::LeftCtrl | K::RightCtrl => Some(K::ModCtrl),
        K::LeftShift | K::RightShift => Some(K::ModShift),
        K::LeftAlt | K::RightAlt => Some(K::ModAlt),
        K::LeftSuper | K::RightSuper => Some(K::ModSuper),
        _ => None,
    }
}

/// A winit key as an ImGui key.
pub fn key_from_winit(code: winit::keyboard::KeyCode) -> Option<imgui::Key> {
    use imgui::Key as K;
    use winit::keyboard::KeyCode as C;
    let name = match code {
        C::Escape => "escape",
        C::Tab => "tab",
        C::Space => "space",
        C::Enter | C::NumpadEnter => "enter",
        C::Backspace => "backspace",
        C::Delete => "delete",
        C::ArrowLeft => "left",
        C::ArrowRight => "right",
        C::ArrowUp => "up",
        C::ArrowDown => "down",
        C::Home => "home",
        C::End => "end",
        C::ControlLeft => "ctrl",
        C::ControlRight => return Some(K::RightCtrl),
        C::ShiftLeft => "shift",
        C::ShiftRight => return Some(K::RightShift),
        C::AltLeft => "alt",
        C::AltRight => return Some(K::RightAlt),
        C::Numpad1 => "1",
        C::Numpad3 => "3",
        C::Numpad5 => "5",
        C::Numpad7 => "7",
        other => {
            let s = format!("{other:?}");
            let s = s.strip_prefix("Key").or_else(|| s.strip_prefix("Digit")).unwrap_or(&s);
            return key_from_name(s);
        }
    };
    key_from_name(name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_event_and_sorts() {
        let s = Script::parse(
            "# drag\n3 move 10 20\n2 down left\n4 up right # x\n5 wheel -2\n6 key down w\n\
             7 key up f5\n8 resize 320 200\n9 screenshot a.png\n",
        )
        .unwrap();
        assert_eq!(s.events.len(), 8);
        assert_eq!(s.events[0], (2, InputEvent::MouseButton(Button::Left, true)));
        assert_eq!(s.at(3).next(), Some(&InputEvent::MouseMove(10.0, 20.0)));
        assert_eq!(s.at(6).next(), Some(&InputEvent::Key(imgui::Key::W, true)));
        assert_eq!(s.at(7).next(), Some(&InputEvent::Key(imgui::Key::F5, false)));
        assert_eq!(s.last_frame(), 9);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            ("1 move 2", "line 1"),
            ("1 move 2 3\nx move 1 1", "line 2"),
            ("1 jump", "unknown event"),
            ("1 key down nosuchkey", "unknown key"),
            ("1 resize 0 10", "out of range"),
            ("1 move nan 1", "not finite"),
            ("1 down left extra", "unexpected"),
            ("1 screenshot a.bmp", "unsupported output format"),
        ] {
            let e = format!("{:#}", Script::parse(text).unwrap_err());
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn winit_keys_map() {
        use winit::keyboard::KeyCode as C;
        assert_eq!(key_from_winit(C::KeyW), Some(imgui::Key::W));
        assert_eq!(key_from_winit(C::Digit7), Some(imgui::Key::Alpha7));
        assert_eq!(key_from_winit(C::F12), Some(imgui::Key::F12));
        assert_eq!(key_from_winit(C::Escape), Some(imgui::Key::Escape));
    }
}
