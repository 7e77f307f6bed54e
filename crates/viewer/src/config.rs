//! The viewer's TOML configuration file: window, renderer defaults, camera convention, shader
//! folder and hot reload, key bindings. Every key is optional (a missing key keeps its
//! default); an unknown key or a bad value is an error naming its line. Command-line flags
//! override the file. `xpg-view --write-config[=FILE]` writes the defaults (never over an existing file).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Deserializer, Serialize};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[window]`
    pub window: WindowConfig,
    /// `[renderer]`
    pub renderer: RendererConfig,
    /// `[camera]`
    pub camera: CameraConfig,
    /// `[shaders]`
    pub shaders: ShaderConfig,
    /// `[keys]`
    pub keys: KeyConfig,
    /// `[timeline]`
    pub timeline: TimelineConfig,
    /// `[passes]`
    pub passes: PassesConfig,
    /// `[stream]`
    pub stream: StreamConfig,
    /// `[server]`
    pub server: ServerSection,
}

/// `[server]`: the viewer as a server for other programs (as `--listen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Listen at start: `PORT` or `ADDR:PORT` (empty: not unless `--listen`).
    pub listen: String,
    /// The token clients send (required when not bound to 127.0.0.1; generated when empty).
    pub token: String,
    /// The largest message in MiB.
    #[serde(deserialize_with = "budget")]
    pub max_message_mb: u64,
    /// Clients on this machine may pass arrays through shared memory (`/dev/shm`).
    pub shared_memory: bool,
    /// Elements of one array of a message.
    pub max_array_elements: u64,
    /// Bytes of a name or another string of a message.
    pub max_string_bytes: usize,
    /// Clients connected at once.
    pub max_clients: usize,
    /// Objects that clients hold in the scene at once, all together.
    pub max_objects: usize,
}

/// `[stream]`: sequences streamed from disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// The CPU cache of decoded frames, per sequence, in MiB.
    #[serde(deserialize_with = "budget")]
    pub cpu_budget_mb: u64,
    /// The GPU pool of uploaded frames, in MiB (a sequence that fits is uploaded once).
    #[serde(deserialize_with = "budget")]
    pub gpu_budget_mb: u64,
    /// Frames prefetched ahead of the playhead (0..=256).
    #[serde(deserialize_with = "ahead")]
    pub ahead: usize,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: String::new(),
            token: String::new(),
            max_message_mb: 1024,
            shared_memory: true,
            max_array_elements: protocol::Limits::default().array_elements,
            max_string_bytes: protocol::Limits::default().string_bytes,
            max_clients: 64,
            max_objects: 100_000,
        }
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self { cpu_budget_mb: 1024, gpu_budget_mb: 1024, ahead: 8 }
    }
}

fn budget<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    checked(d, |v: &u64| {
        if (1..=1 << 20).contains(v) {
            Ok(())
        } else {
            Err(format!("{v} MiB: expected 1..=1048576"))
        }
    })
}

fn ahead<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    checked(
        d,
        |v: &usize| {
            if *v <= 256 {
                Ok(())
            } else {
                Err(format!("ahead = {v}: expected 0..=256"))
            }
        },
    )
}

/// `[timeline]`: how the scene's time plays at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimelineConfig {
    /// Play at start.
    pub play: bool,
    /// Scene seconds per second (-8..=8).
    #[serde(deserialize_with = "speed")]
    pub speed: f64,
    /// At the ends: "once", "loop" or "bounce".
    #[serde(rename = "loop")]
    pub loop_mode: crate::app::LoopMode,
    /// Stay at the latest time of data still arriving.
    pub follow_latest: bool,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        Self { play: true, speed: 1.0, loop_mode: crate::app::LoopMode::Loop, follow_latest: false }
    }
}

fn speed<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    checked(d, |v: &f64| {
        if v.is_finite() && (-8.0..=8.0).contains(v) {
            Ok(())
        } else {
            Err(format!("speed = {v}: expected -8..=8"))
        }
    })
}

/// `[passes]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassesConfig {
    /// Folders of custom passes (each `*.toml` with its Slang file), run in name order.
    pub folders: Vec<String>,
}

/// `[window]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowConfig {
    /// Width and height in pixels.
    #[serde(deserialize_with = "size")]
    pub size: [u32; 2],
    /// Wait for vertical blank.
    pub vsync: bool,
}

/// `[renderer]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RendererConfig {
    /// The viewports opened at start, one renderer each ("raster", "pathtracer").
    #[serde(deserialize_with = "renderers")]
    pub viewports: Vec<String>,
    /// Raster multisampling (1, 2, 4 or 8).
    #[serde(deserialize_with = "msaa")]
    pub msaa: u32,
    /// How raster viewports composite transparent surfaces: "peeling" (exact), "wboit"
    /// (weighted blended, approximate) or "sorted" (per object).
    #[serde(deserialize_with = "transparency")]
    pub transparency: String,
    /// Path tracer samples per pixel per frame (1..=64).
    #[serde(deserialize_with = "spp")]
    pub spp: u32,
    /// Path tracer longest path (1..=1024).
    #[serde(deserialize_with = "depth")]
    pub max_depth: u32,
    /// Settings per renderer: `[renderer.settings.raster]` `shadow_size = 4096` (the keys of
    /// the viewport's Settings popup; checked when the renderer is made).
    pub settings: std::collections::BTreeMap<String, toml::Table>,
}

impl RendererConfig {
    /// The `[renderer.settings.*]` values as (renderer, key, value), the renderers checked
    /// against `registry`.
    pub fn setting_values(
        &self,
        registry: &render::Registry,
    ) -> anyhow::Result<Vec<(String, String, render::SettingValue)>> {
        use render::SettingValue;
        let mut out = Vec::new();
        for (name, table) in &self.settings {
            let name = registry.resolve(name).context("[renderer.settings]")?;
            for (key, value) in table {
                let v = match value {
                    toml::Value::Boolean(b) => SettingValue::Bool(*b),
                    toml::Value::Integer(i) if (0..=i64::from(u32::MAX)).contains(i) => {
                        SettingValue::UInt(*i as u32)
                    }
                    toml::Value::Float(f) if f.is_finite() => SettingValue::Float(*f as f32),
                    other => bail!(
                        "[renderer.settings.{name}] {key} = {other}: expected a switch or a \
                         number"
                    ),
                };
                out.push((name.to_string(), key.clone(), v));
            }
        }
        Ok(out)
    }
}

/// `[camera]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// The world's up axis: "auto" (the files' convention, else detected), "y" (glTF) or "z".
    #[serde(deserialize_with = "up")]
    pub up: String,
}

/// `[shaders]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShaderConfig {
    /// A copy of the project's `shaders/` to run on (empty: the built-in folder).
    pub dir: String,
    /// Watch the shader files and reload on change.
    pub hot_reload: bool,
}

/// `[keys]`: shortcuts as `"ctrl+n"`, `"f12"`, `"x"` (modifiers ctrl, shift, alt; keys a-z,
/// 0-9, f1-f12, escape, tab, space, enter, delete, left, right, up, down, home, end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyConfig {
    /// Add a raster viewport.
    #[serde(deserialize_with = "binding")]
    pub add_raster_viewport: String,
    /// Add a path tracing viewport.
    #[serde(deserialize_with = "binding")]
    pub add_path_tracer_viewport: String,
    /// Lay the viewports out side by side again.
    #[serde(deserialize_with = "binding")]
    pub split_evenly: String,
    /// Save the whole window.
    #[serde(deserialize_with = "binding")]
    pub screenshot_window: String,
    /// Save the focused viewport.
    #[serde(deserialize_with = "binding")]
    pub screenshot_viewport: String,
    /// Close the focused viewport.
    #[serde(deserialize_with = "binding")]
    pub close_viewport: String,
    /// Frame everything in the focused viewport.
    #[serde(deserialize_with = "binding")]
    pub frame_all: String,
    /// Play or pause the scene's time.
    #[serde(deserialize_with = "binding")]
    pub play_pause: String,
    /// One frame back (pausing).
    #[serde(deserialize_with = "binding")]
    pub step_back: String,
    /// One frame forward (pausing).
    #[serde(deserialize_with = "binding")]
    pub step_forward: String,
    /// The first frame.
    #[serde(deserialize_with = "binding")]
    pub first_frame: String,
    /// The last frame.
    #[serde(deserialize_with = "binding")]
    pub last_frame: String,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self { size: [1280, 800], vsync: true }
    }
}
impl Default for RendererConfig {
    fn default() -> Self {
        Self {
            viewports: vec!["raster".into()],
            msaa: 4,
            transparency: raster::Transparency::default().name().into(),
            spp: 1,
            max_depth: 8,
            settings: Default::default(),
        }
    }
}
impl Default for CameraConfig {
    fn default() -> Self {
        Self { up: "auto".into() }
    }
}
impl Default for ShaderConfig {
    fn default() -> Self {
        Self { dir: String::new(), hot_reload: true }
    }
}
impl Default for KeyConfig {
    fn default() -> Self {
        Self {
            add_raster_viewport: "ctrl+n".into(),
            add_path_tracer_viewport: "ctrl+p".into(),
            split_evenly: "ctrl+l".into(),
            screenshot_window: "f12".into(),
            screenshot_viewport: "p".into(),
            close_viewport: "x".into(),
            frame_all: "f".into(),
            play_pause: "space".into(),
            step_back: "left".into(),
            step_forward: "right".into(),
            first_frame: "home".into(),
            last_frame: "end".into(),
        }
    }
}
fn checked<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    ok: impl FnOnce(&T) -> Result<(), String>,
) -> Result<T, D::Error> {
    let v = T::deserialize(d)?;
    ok(&v).map_err(serde::de::Error::custom)?;
    Ok(v)
}

fn size<'de, D: Deserializer<'de>>(d: D) -> Result<[u32; 2], D::Error> {
    checked(d, |s: &[u32; 2]| {
        if s.iter().all(|v| (1..=16384).contains(v)) {
            Ok(())
        } else {
            Err(format!("size {s:?} out of range (1..=16384 each)"))
        }
    })
}
fn msaa<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    checked(d, |v: &u32| {
        if [1, 2, 4, 8].contains(v) {
            Ok(())
        } else {
            Err(format!("msaa = {v}: expected 1, 2, 4 or 8"))
        }
    })
}
fn transparency<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: &String| match raster::Transparency::parse(v) {
        Some(_) => Ok(()),
        None => Err(format!(
            "transparency = {v:?}: expected one of {}",
            raster::Transparency::NAMES.join(", ")
        )),
    })
}
fn spp<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    checked(d, |v: &u32| {
        if (1..=64).contains(v) {
            Ok(())
        } else {
            Err(format!("spp = {v}: expected 1..=64"))
        }
    })
}
fn depth<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    checked(d, |v: &u32| {
        if (1..=1024).contains(v) {
            Ok(())
        } else {
            Err(format!("max_depth = {v}: expected 1..=1024"))
        }
    })
}
fn up<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: &String| match v.as_str() {
        "auto" | "y" | "z" => Ok(()),
        other => Err(format!("up = \"{other}\": expected \"auto\", \"y\" or \"z\"")),
    })
}
thread_local! {
    /// The renderer names a config being parsed may use (see [`Config::parse_with`]).
    static KNOWN_RENDERERS: std::cell::RefCell<Option<render::Registry>> =
        const { std::cell::RefCell::new(None) };
}

fn renderers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    checked(d, |v: &Vec<String>| {
        KNOWN_RENDERERS.with(|k| {
            let k = k.borrow();
            let builtin;
            let registry = match k.as_ref() {
                Some(r) => r,
                None => {
                    builtin = crate::builtin_registry();
                    &builtin
                }
            };
            for r in v {
                registry.resolve(r).map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    })
}
fn binding<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: &String| KeyBinding::parse(v).map(|_| ()).map_err(|e| e.to_string()))
}

/// A parsed shortcut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyBinding {
    /// Ctrl held.
    pub ctrl: bool,
    /// Shift held.
    pub shift: bool,
    /// Alt held.
    pub alt: bool,
    /// The key.
    pub key: imgui::Key,
}

impl KeyBinding {
    /// Parses `"ctrl+shift+n"`, `"f12"`, `"x"`.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let mut b = KeyBinding { ctrl: false, shift: false, alt: false, key: imgui::Key::Escape };
        let parts: Vec<&str> = s.split('+').map(str::trim).collect();
        let Some((key, mods)) = parts.split_last() else { bail!("empty key binding") };
        for m in mods {
            match m.to_ascii_lowercase().as_str() {
                "ctrl" => b.ctrl = true,
                "shift" => b.shift = true,
                "alt" => b.alt = true,
                other => bail!("'{s}': unknown modifier '{other}' (ctrl, shift, alt)"),
            }
        }
        b.key = crate::input::key_from_name(key)
            .with_context(|| format!("'{s}': unknown key '{key}'"))?;
        Ok(b)
    }

    /// Whether it was pressed in this frame (modifiers exactly as bound).
    pub fn pressed(&self, ui: &imgui::Ui) -> bool {
        let io = ui.io();
        io.key_ctrl == self.ctrl
            && io.key_shift == self.shift
            && io.key_alt == self.alt
            && ui.is_key_pressed_no_repeat(self.key)
    }
}

/// The parsed shortcuts of a [`KeyConfig`].
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    /// See [`KeyConfig`].
    pub add_raster_viewport: KeyBinding,
    /// See [`KeyConfig`].
    pub add_path_tracer_viewport: KeyBinding,
    /// See [`KeyConfig`].
    pub split_evenly: KeyBinding,
    /// See [`KeyConfig`].
    pub screenshot_window: KeyBinding,
    /// See [`KeyConfig`].
    pub screenshot_viewport: KeyBinding,
    /// See [`KeyConfig`].
    pub close_viewport: KeyBinding,
    /// See [`KeyConfig`].
    pub frame_all: KeyBinding,
    /// See [`KeyConfig`].
    pub play_pause: KeyBinding,
    /// See [`KeyConfig`].
    pub step_back: KeyBinding,
    /// See [`KeyConfig`].
    pub step_forward: KeyBinding,
    /// See [`KeyConfig`].
    pub first_frame: KeyBinding,
    /// See [`KeyConfig`].
    pub last_frame: KeyBinding,
}

impl KeyConfig {
    /// The bindings, parsed.
    pub fn parse(&self) -> anyhow::Result<Keys> {
        Ok(Keys {
            add_raster_viewport: KeyBinding::parse(&self.add_raster_viewport)?,
            add_path_tracer_viewport: KeyBinding::parse(&self.add_path_tracer_viewport)?,
            split_evenly: KeyBinding::parse(&self.split_evenly)?,
            screenshot_window: KeyBinding::parse(&self.screenshot_window)?,
            screenshot_viewport: KeyBinding::parse(&self.screenshot_viewport)?,
            close_viewport: KeyBinding::parse(&self.close_viewport)?,
            frame_all: KeyBinding::parse(&self.frame_all)?,
            play_pause: KeyBinding::parse(&self.play_pause)?,
            step_back: KeyBinding::parse(&self.step_back)?,
            step_forward: KeyBinding::parse(&self.step_forward)?,
            first_frame: KeyBinding::parse(&self.first_frame)?,
            last_frame: KeyBinding::parse(&self.last_frame)?,
        })
    }
}

/// A key without modifiers.
fn plain(key: imgui::Key) -> KeyBinding {
    KeyBinding { ctrl: false, shift: false, alt: false, key }
}

impl Default for Keys {
    fn default() -> Self {
        // The defaults parse (a unit test checks).
        KeyConfig::default().parse().unwrap_or(Keys {
            add_raster_viewport: KeyBinding {
                ctrl: true,
                shift: false,
                alt: false,
                key: imgui::Key::N,
            },
            add_path_tracer_viewport: KeyBinding {
                ctrl: true,
                shift: false,
                alt: false,
                key: imgui::Key::P,
            },
            split_evenly: KeyBinding { ctrl: true, shift: false, alt: false, key: imgui::Key::L },
            screenshot_window: KeyBinding {
                ctrl: false,
                shift: false,
                alt: false,
                key: imgui::Key::F12,
            },
            screenshot_viewport: KeyBinding {
                ctrl: false,
                shift: false,
                alt: false,
                key: imgui::Key::P,
            },
            close_viewport: KeyBinding {
                ctrl: false,
                shift: false,
                alt: false,
                key: imgui::Key::X,
            },
            frame_all: KeyBinding { ctrl: false, shift: false, alt: false, key: imgui::Key::F },
            play_pause: plain(imgui::Key::Space),
            step_back: plain(imgui::Key::LeftArrow),
            step_forward: plain(imgui::Key::RightArrow),
            first_frame: plain(imgui::Key::Home),
            last_frame: plain(imgui::Key::End),
        })
    }
}

impl Config {
    /// Parses config text; `name` names it in errors (which give the line and column). The
    /// viewports may name the built-in renderers.
    pub fn parse(text: &str, name: &str) -> anyhow::Result<Self> {
        Self::parse_with(text, name, &crate::builtin_registry())
    }

    /// [`Config::parse`] where the viewports may name the renderers of `registry`.
    pub fn parse_with(text: &str, name: &str, registry: &render::Registry) -> anyhow::Result<Self> {
        KNOWN_RENDERERS.with(|k| *k.borrow_mut() = Some(registry.clone()));
        let r = toml::from_str(text).map_err(|e| anyhow::anyhow!("{name}: {e}"));
        KNOWN_RENDERERS.with(|k| *k.borrow_mut() = None);
        r
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        Self::load_with(path, &crate::builtin_registry())
    }

    /// Reads a config file whose viewports may name the renderers of `registry`.
    pub fn load_with(path: &Path, registry: &render::Registry) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the config file {}", path.display()))?;
        Self::parse_with(&text, &path.display().to_string(), registry)
    }

    /// The defaults as a commented TOML file.
    pub fn default_text() -> anyhow::Result<String> {
        let body = toml::to_string_pretty(&Config::default()).context("serialising defaults")?;
        Ok(format!(
            "# xpg-view configuration. Every key is optional; command-line flags override it.\n\
             # [window] size = [width, height], vsync\n\
             # [renderer] viewports (\"raster\", \"pathtracer\"), msaa (1, 2, 4, 8), transparency \
             (\"peeling\", \"wboit\", \"sorted\"), spp (path tracer samples per frame), max_depth\n\
             # [renderer.settings.raster] shadow_size = 4096 (any key of a viewport's Settings \
             popup)\n\
             # [camera] up = \"auto\" | \"y\" | \"z\"\n\
             # [shaders] dir = a copy of shaders/ to edit (\"\": built in), hot_reload\n\
             # [keys] shortcuts like \"ctrl+n\", \"f12\", \"x\"\n\
             # [passes] folders = [\"my-passes\"] (custom passes: see the README)\n\n{body}"
        ))
    }

    /// The user's config file: `$XDG_CONFIG_HOME/xpg-view/config.toml` or the platform's.
    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("xpg-view").join("config.toml"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn written_defaults_parse_back_to_the_defaults() {
        let text = Config::default_text().unwrap();
        assert_eq!(Config::parse(&text, "defaults").unwrap(), Config::default());
        assert!(KeyConfig::default().parse().is_ok());
    }

    #[test]
    fn partial_files_keep_the_other_defaults() {
        let c = Config::parse("[renderer]\nmsaa = 8\n", "x").unwrap();
        assert_eq!(c.renderer.msaa, 8);
        assert_eq!(c.window, WindowConfig::default());
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, what) in [
            ("[window]\nvsync = true\nsize = [1280,\n", 3, "TOML syntax"),
            ("[window]\nvsync = true\ncolour = 3\n", 3, "unknown field"),
            ("[renderer]\n\nmsaa = 3\n", 3, "msaa = 3"),
            ("[camera]\nup = \"x\"\n", 2, "up = \"x\""),
            ("[keys]\nframe_all = \"hyper+f\"\n", 2, "unknown modifier"),
            ("[renderer]\nviewports = [\"raster\", \"rt\"]\n", 2, "unknown renderer"),
            ("[nosuchtable]\n", 1, "unknown field"),
        ] {
            let e = Config::parse(text, "cfg.toml").unwrap_err().to_string();
            assert!(e.contains(&format!("line {line}")), "{what}: {e}");
            assert!(e.starts_with("cfg.toml: "), "{e}");
            if what != "TOML syntax" {
                assert!(e.contains(what), "{what}: {e}");
            }
        }
    }

    #[test]
    fn key_bindings() {
        let b = KeyBinding::parse("ctrl+shift+f5").unwrap();
        assert!(b.ctrl && b.shift && !b.alt);
        assert_eq!(b.key, imgui::Key::F5);
        assert!(KeyBinding::parse("ctrl+").is_err());
        assert!(KeyBinding::parse("").is_err());
    }
}
