//! The registry of renderers: name -> factory. The viewer makes every viewport's renderer
//! through it; the built-ins register there (in the viewer) and a program registers its own,
//! which then appear in the viewport's renderer menu, `--viewports`, the config file and
//! `render --renderer`.
//!
//! ```ignore
//! let mut registry = Registry::new();
//! registry.register("normals", |init| Ok(Box::new(Normals::new(init.ctx, init.compiler)?)));
//! let r = registry.create("normals", &RendererInit::new(&ctx, &compiler))?;
//! ```

use std::sync::Arc;

use xpg::{Context, ShaderCompiler};

use crate::renderer::{RenderError, Renderer, SettingValue};

/// A renderer that can move to the thread that rebuilds it after a shader change.
pub type BoxedRenderer = Box<dyn Renderer + Send>;

/// Makes a renderer. Called on the render thread and on the shader rebuild thread.
pub type Factory = dyn Fn(&RendererInit<'_>) -> Result<BoxedRenderer, RenderError> + Send + Sync;

/// What a factory gets.
#[derive(Debug, Clone, Copy)]
pub struct RendererInit<'a> {
    /// The Vulkan context.
    pub ctx: &'a Context,
    /// The shader compiler (its shader folder may be a user's copy; the files a factory
    /// compiles are watched for hot reload).
    pub compiler: &'a ShaderCompiler,
    /// Settings to start with (`(key, value)`): a factory reads those fixed at creation (the
    /// raster's `msaa`); [`Registry::create`] applies all of them afterwards through
    /// [`Renderer::set`].
    pub settings: &'a [(String, SettingValue)],
    /// The world's up axis is +Z (scans, robotics) rather than glTF's +Y.
    pub z_up: bool,
}

impl<'a> RendererInit<'a> {
    /// No initial settings.
    pub fn new(ctx: &'a Context, compiler: &'a ShaderCompiler) -> Self {
        Self { ctx, compiler, settings: &[], z_up: false }
    }

    /// The initial value of `key`, if given.
    pub fn setting(&self, key: &str) -> Option<SettingValue> {
        self.settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// Renderers by name, in registration order.
#[derive(Clone, Default)]
pub struct Registry {
    /// (name, label in the user interface, factory)
    entries: Vec<(String, String, Arc<Factory>)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` under `name` (replacing one of the same name); the user
    /// interface shows the name.
    pub fn register(
        &mut self,
        name: &str,
        factory: impl Fn(&RendererInit<'_>) -> Result<BoxedRenderer, RenderError>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        self.register_labelled(name, name, factory)
    }

    /// [`Registry::register`] with another label in the user interface ("path tracer").
    pub fn register_labelled(
        &mut self,
        name: &str,
        label: &str,
        factory: impl Fn(&RendererInit<'_>) -> Result<BoxedRenderer, RenderError>
            + Send
            + Sync
            + 'static,
    ) -> &mut Self {
        let f: Arc<Factory> = Arc::new(factory);
        match self.entries.iter_mut().find(|(n, ..)| n == name) {
            Some(e) => (e.1, e.2) = (label.to_string(), f),
            None => self.entries.push((name.to_string(), label.to_string(), f)),
        }
        self
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, ..)| n.as_str()).collect()
    }

    /// The label of `name` in the user interface (the name itself when unknown).
    pub fn label<'s>(&'s self, name: &'s str) -> &'s str {
        self.entries.iter().find(|(n, ..)| n == name).map_or(name, |(_, l, _)| l.as_str())
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, ..)| n == name)
    }

    /// The registered name `name` refers to, or an error listing the names.
    pub fn resolve<'s>(&'s self, name: &str) -> Result<&'s str, RenderError> {
        self.entries.iter().map(|(n, ..)| n.as_str()).find(|n| *n == name).ok_or_else(|| {
            RenderError::UnknownRenderer { name: name.into(), known: self.names().join(", ") }
        })
    }

    /// Makes renderer `name` and applies `init.settings` to it.
    pub fn create(
        &self,
        name: &str,
        init: &RendererInit<'_>,
    ) -> Result<BoxedRenderer, RenderError> {
        let name = self.resolve(name)?;
        let factory =
            self.entries.iter().find(|(n, ..)| n == name).map(|(.., f)| Arc::clone(f)).ok_or_else(
                || RenderError::UnknownRenderer {
                    name: name.into(),
                    known: self.names().join(", "),
                },
            )?;
        let mut r = factory(init)?;
        for (k, v) in init.settings {
            r.set(k, *v)?;
        }
        Ok(r)
    }
}
