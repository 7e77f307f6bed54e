//! Shader hot reload: the pipeline groups (the tonemap, each renderer by name, the custom
//! passes) that read a changed file are rebuilt on another thread and swapped in; on an
//! error the last good ones keep running.

use super::*;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use render::BoxedRenderer;
use xpg::{Context, Pipeline, ShaderCompiler};

/// Which pipeline groups a reload rebuilds.
#[derive(Debug, Clone)]
pub(super) struct Groups {
    pub(super) tonemap: bool,
    /// The renderers (by name) to make again.
    pub(super) renderers: Vec<String>,
    /// The custom passes of these folders.
    pub(super) passes: Option<Vec<PathBuf>>,
}

/// Pipelines rebuilt after a shader change, on another thread, with the files each read.
pub(super) struct Rebuilt {
    pub(super) tonemap: Option<Pipeline>,
    /// One new renderer of each name rebuilt.
    pub(super) renderers: Vec<(String, BoxedRenderer)>,
    /// The custom passes again, with the errors of those that failed.
    pub(super) passes: Option<LoadedPasses>,
    pub(super) files: Vec<(String, Vec<PathBuf>)>,
    /// The first built-in group that failed (then no built-in group is swapped in; the
    /// passes are).
    pub(super) error: Option<String>,
}

/// Compiles and builds the groups asked for: the tonemap pipeline and one renderer of each
/// name. Any failure is the compiler's (or the driver's) message; nothing is swapped then.
pub(super) fn rebuild(
    ctx: &Context,
    compiler: &ShaderCompiler,
    opts: &ViewerOptions,
    what: Groups,
) -> Result<Rebuilt, String> {
    let mut out = Rebuilt {
        tonemap: None,
        renderers: Vec::new(),
        passes: None,
        files: Vec::new(),
        error: None,
    };
    if let Some(dirs) = &what.passes {
        let mut loaded = load_passes(ctx, compiler, dirs);
        out.files.push(("passes".into(), std::mem::take(&mut loaded.files)));
        out.passes = Some(loaded);
    }
    if what.tonemap {
        let (t, files) = compiler.recording(|| crate::tonemap_pipeline(ctx, compiler));
        let t = t.map_err(|e| format!("{e:#}"));
        out.files.push(("tonemap".into(), files));
        match t {
            Ok(t) => out.tonemap = Some(t),
            Err(e) => out.error = Some(e),
        }
    }
    for name in &what.renderers {
        let t = Instant::now();
        let (r, files) = compiler.recording(|| make_renderer(ctx, compiler, opts, name));
        tracing::debug!("{name} rebuilt in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        out.files.push((name.clone(), files));
        match r {
            Ok(r) => out.renderers.push((name.clone(), r)),
            Err(e) => out.error = out.error.take().or(Some(e.to_string())),
        }
    }
    Ok(out)
}

/// The custom passes of some folders, as loaded.
pub(super) struct LoadedPasses {
    pub(super) passes: Vec<crate::passes::UserPass>,
    /// Messages of those that failed.
    pub(super) errors: Vec<String>,
    /// Names (file stems) of those that failed.
    pub(super) failed: Vec<String>,
    /// The TOML files (watched besides the shaders).
    pub(super) tomls: Vec<PathBuf>,
    /// Every file they read (TOML files, shaders and their imports), to watch.
    pub(super) files: Vec<PathBuf>,
}

/// Loads every pass of `dirs`.
pub(super) fn load_passes(
    ctx: &Context,
    compiler: &ShaderCompiler,
    dirs: &[PathBuf],
) -> LoadedPasses {
    let mut out = LoadedPasses {
        passes: Vec::new(),
        errors: Vec::new(),
        failed: Vec::new(),
        tomls: Vec::new(),
        files: Vec::new(),
    };
    for dir in dirs {
        match crate::passes::pass_files(dir) {
            Ok(list) => {
                for f in list {
                    out.files.push(f.clone());
                    out.tomls.push(f.clone());
                    let (r, read) =
                        compiler.recording(|| crate::passes::load_pass(ctx, compiler, &f));
                    out.files.extend(read);
                    match r {
                        Ok(p) => out.passes.push(p),
                        Err(e) => {
                            out.errors.push(format!("{e:#}"));
                            let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned());
                            out.failed.extend(stem);
                        }
                    }
                }
            }
            Err(e) => out.errors.push(format!("{e:#}")),
        }
    }
    out
}

impl App {
    /// The pipeline groups ("tonemap", "raster", "pathtracer", "passes") the last reload
    /// rebuilt: those that read a changed file.
    pub fn last_rebuilt(&self) -> &[String] {
        &self.last_rebuilt
    }

    /// Successful shader reloads so far.
    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    /// The compiler's message of the last failed reload (file:line), until a reload succeeds.
    pub fn shader_error(&self) -> Option<&str> {
        self.shader_error.as_deref()
    }

    /// Whether a reload is being compiled or waits for its debounce.
    pub fn reload_pending(&self) -> bool {
        self.reload_job.is_some() || self.reload_again.is_some()
    }

    /// Checks the shader watcher, starts a rebuild on another thread after a change, and
    /// swaps in the rebuilt pipelines when it finished (keeping the old ones on an error).
    pub(super) fn poll_reload(&mut self) {
        if let Some(w) = self.watcher.as_mut() {
            w.refresh(&self.compiler);
            w.watch_extra(&self.pass_files);
            w.watch_toml_dirs(&self.opts.pass_dirs);
            if let Some((t0, files)) = w.poll() {
                let e = self.reload_again.get_or_insert((t0, HashSet::new()));
                e.1.extend(files);
            }
        }
        if let Some((t0, rx)) = &self.reload_job {
            match rx.try_recv() {
                Ok(result) => {
                    let t0 = *t0;
                    self.reload_job = None;
                    self.apply_rebuilt(result, t0);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.reload_job = None;
                    self.shader_error = Some("the shader rebuild thread ended".into());
                }
            }
        }
        if self.reload_job.is_none() {
            if let Some((t0, files)) = self.reload_again.take() {
                self.start_rebuild(t0, &files);
            }
        }
    }

    pub(super) fn start_rebuild(&mut self, t0: Instant, changed: &HashSet<PathBuf>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let (ctx, compiler, opts) = (self.ctx.clone(), self.compiler.clone(), self.opts.clone());
        // Rebuild a group when it read a changed file, or when it is in use but has no
        // working build (a failed start or a failed reload).
        let failing = self.shader_error.is_some();
        let needs =
            |group: &str| failing || self.deps.get(group).is_none_or(|d| !d.is_disjoint(changed));
        // Every renderer in use: rebuilt when it read a changed file or its viewport is broken.
        let renderers: Vec<String> = opts
            .registry
            .names()
            .into_iter()
            .filter(|name| self.viewports.iter().any(|v| v.uses(name)))
            .filter(|name| {
                needs(name) || self.viewports.iter().any(|v| v.kind == *name && v.error.is_some())
            })
            .map(str::to_string)
            .collect();
        // A file in a pass folder (a new pass, too) reloads the passes.
        let pass_dirs: HashSet<PathBuf> =
            self.opts.pass_dirs.iter().filter_map(|d| std::fs::canonicalize(d).ok()).collect();
        let in_pass_dir = changed.iter().any(|f| f.parent().is_some_and(|d| pass_dirs.contains(d)));
        let passes = (!self.opts.pass_dirs.is_empty()
            && (needs("passes") || in_pass_dir || !self.pass_errors.is_empty()))
        .then(|| self.opts.pass_dirs.clone());
        let what = Groups { tonemap: needs("tonemap"), renderers, passes };
        if !(what.tonemap || !what.renderers.is_empty() || what.passes.is_some()) {
            return;
        }
        tracing::info!("shader change: rebuilding {what:?}");
        let spawned = std::thread::Builder::new().name("shader rebuild".into()).spawn(move || {
            let _ = tx.send(rebuild(&ctx, &compiler, &opts, what));
        });
        match spawned {
            Ok(handle) => {
                self.reload_job = Some((t0, rx));
                self.rebuild_thread = Some(handle);
            }
            Err(e) => self.shader_error = Some(format!("cannot start the rebuild: {e}")),
        }
    }

    pub(super) fn apply_rebuilt(&mut self, result: Result<Rebuilt, String>, t0: Instant) {
        let mut r = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("shader reload failed (the last good pipelines stay):\n{e}");
                self.shader_error = Some(e);
                return;
            }
        };
        let mut swapped = false;
        if let Some(loaded) = r.passes.take() {
            self.apply_passes(loaded);
            swapped |= self.pass_errors.is_empty();
        }
        if let Some(e) = r.error.take() {
            // A built-in group failed: the last good pipelines stay (the files it read are
            // watched, so the fix rebuilds it).
            tracing::error!("shader reload failed (the last good pipelines stay):\n{e}");
            self.shader_error = Some(e);
            for (group, files) in r.files.drain(..) {
                let set = crate::reload::canonical_set(&files);
                self.deps.entry(group).or_default().extend(set);
            }
            if swapped {
                self.reloads += 1;
                self.reload_latency = Some(t0);
            }
            return;
        }
        let rebuilt: Vec<String> = r.renderers.iter().map(|(n, _)| n.clone()).collect();
        let tonemap_group = r.tonemap.is_some();
        swapped |= tonemap_group || !rebuilt.is_empty();
        self.last_rebuilt = r.files.iter().map(|(g, _)| g.clone()).collect();
        for (group, files) in r.files.drain(..) {
            self.deps.insert(group, crate::reload::canonical_set(&files));
        }
        if let Some(t) = r.tonemap.take() {
            self.tonemap = Some(t);
        }
        // Every viewport gets a new renderer of each rebuilt name it uses: the first from the
        // rebuild, the others made here (their shaders are cache hits now), with the settings
        // of the one they replace. One that fails here keeps its old renderer (and says so in
        // the log). A new renderer starts from nothing (a path tracer accumulates again).
        let mut fresh_ones = r.renderers;
        for i in 0..self.viewports.len() {
            let stand_in = self.viewports[i].placeholder();
            let mut vp = std::mem::replace(&mut self.viewports[i], stand_in);
            for name in &rebuilt {
                if !vp.uses(name) {
                    continue;
                }
                let fresh = match fresh_ones.iter().position(|(n, _)| n == name) {
                    Some(k) => Ok(fresh_ones.swap_remove(k).1),
                    None => make_renderer(&self.ctx, &self.compiler, &self.opts, name),
                };
                let mut x = match fresh {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::error!("viewport {}: {name} kept: {e}", vp.id);
                        continue;
                    }
                };
                match vp.renderers.iter_mut().find(|(n, _)| n == name) {
                    Some((_, old)) => {
                        for s in old.settings().into_iter().filter(|s| !s.fixed) {
                            if let Err(e) = x.set(s.key, s.value) {
                                tracing::warn!("viewport {}: {e}", vp.id);
                            }
                        }
                        if let Some(g) = &self.gpu {
                            x.scene_changed(&self.scene, g);
                        }
                        *old = x;
                    }
                    None => {
                        if let Some(g) = &self.gpu {
                            x.scene_changed(&self.scene, g);
                        }
                        vp.renderers.push((name.clone(), x));
                    }
                }
                if vp.kind == *name {
                    vp.error = None;
                }
            }
            self.viewports[i] = vp;
        }
        if tonemap_group || !rebuilt.is_empty() {
            // The built-in groups this rebuild made all compiled.
            self.shader_error = None;
        }
        if swapped {
            self.reloads += 1;
            self.reload_latency = Some(t0);
        }
    }

    /// Swaps in reloaded custom passes, keeping each one's slider values and switch; a pass
    /// that failed to load keeps running in its last good form.
    pub(super) fn apply_passes(&mut self, loaded: LoadedPasses) {
        let LoadedPasses { mut passes, errors, failed, tomls, .. } = loaded;
        self.pass_files = tomls;
        let mut old: Vec<crate::passes::UserPass> = std::mem::take(&mut self.user_passes);
        for p in &mut passes {
            if let Some(o) = old.iter().find(|o| o.name == p.name) {
                p.enabled = o.enabled;
                if o.spec.params == p.spec.params {
                    p.values.clone_from(&o.values);
                }
            }
        }
        old.retain(|o| failed.contains(&o.name) && !passes.iter().any(|p| p.name == o.name));
        passes.extend(old);
        passes.sort_by(|a, b| a.name.cmp(&b.name));
        self.user_passes = passes;
        if !errors.is_empty() {
            tracing::error!("custom passes:\n{}", errors.join("\n"));
        }
        self.pass_errors = errors;
    }
}
