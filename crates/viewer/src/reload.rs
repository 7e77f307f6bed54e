//! Shader hot reload: watches exactly the files the shader compiler has read (every main file,
//! also of failed compiles, and every module they import), debounces the change events, and
//! tells the app when to rebuild its pipelines.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use notify::Watcher as _;

/// Quiet time after the last change event before a reload starts (editors write a file in
/// several steps).
const DEBOUNCE: Duration = Duration::from_millis(30);

/// Watches shader files.
pub(crate) struct ShaderWatcher {
    watcher: notify::RecommendedWatcher,
    rx: Receiver<notify::Result<notify::Event>>,
    /// Folders watched (non-recursively: a file replaced by rename is seen too).
    dirs: BTreeSet<PathBuf>,
    /// The files that matter, canonical.
    files: HashSet<PathBuf>,
    /// Folders whose new `*.toml` files matter too (custom pass folders), canonical, and as
    /// given.
    toml_dirs: HashSet<PathBuf>,
    toml_dirs_given: HashSet<PathBuf>,
    /// The extra files already handled (as given: no path work per frame).
    extra_given: HashSet<PathBuf>,
    /// How many files the compiler had reported at the last refresh.
    known: usize,
    /// The first change of the pending reload, the last event, the files changed.
    pending: Option<(Instant, Instant, HashSet<PathBuf>)>,
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

impl ShaderWatcher {
    /// A watcher with nothing to watch yet.
    pub(crate) fn new() -> notify::Result<Self> {
        let (tx, rx) = channel();
        let watcher = notify::recommended_watcher(move |ev| {
            let _ = tx.send(ev);
        })?;
        Ok(Self {
            watcher,
            rx,
            dirs: BTreeSet::new(),
            files: HashSet::new(),
            toml_dirs: HashSet::new(),
            toml_dirs_given: HashSet::new(),
            extra_given: HashSet::new(),
            known: 0,
            pending: None,
        })
    }

    /// Watches the compiler's files when their number changed since the last call (the count
    /// is read without waiting for a compile running on another thread).
    pub(crate) fn refresh(&mut self, compiler: &xpg::ShaderCompiler) {
        if compiler.watched_count() == self.known {
            return;
        }
        // Not while a compile holds the compiler: next frame.
        let Some(files) = compiler.try_watched_files() else { return };
        self.known = files.len();
        for f in files {
            let f = canonical(&f);
            if let Some(dir) = f.parent() {
                if !self.dirs.contains(dir) {
                    match self.watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
                        Ok(()) => {
                            self.dirs.insert(dir.to_path_buf());
                        }
                        Err(e) => tracing::warn!("cannot watch {}: {e}", dir.display()),
                    }
                }
            }
            self.files.insert(f);
        }
    }

    /// Also watches `files` (files the compiler does not read: the custom passes' TOML).
    pub(crate) fn watch_extra(&mut self, files: &[PathBuf]) {
        for given in files {
            if self.extra_given.contains(given) {
                continue;
            }
            self.extra_given.insert(given.clone());
            let f = canonical(given);
            if self.files.contains(&f) {
                continue;
            }
            if let Some(dir) = f.parent() {
                if !self.dirs.contains(dir) {
                    match self.watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
                        Ok(()) => {
                            self.dirs.insert(dir.to_path_buf());
                        }
                        Err(e) => tracing::warn!("cannot watch {}: {e}", dir.display()),
                    }
                }
            }
            self.files.insert(f);
        }
    }

    /// Also reports new (or any) `*.toml` files in `dirs` (custom pass folders).
    pub(crate) fn watch_toml_dirs(&mut self, dirs: &[PathBuf]) {
        for d in dirs {
            if self.toml_dirs_given.contains(d) {
                continue;
            }
            // A folder that does not exist (yet) is tried again next time.
            let Ok(c) = std::fs::canonicalize(d) else { continue };
            if !self.dirs.contains(&c) {
                match self.watcher.watch(&c, notify::RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        self.dirs.insert(c.clone());
                    }
                    Err(e) => {
                        tracing::warn!("cannot watch {}: {e}", c.display());
                        continue;
                    }
                }
            }
            self.toml_dirs.insert(c);
            self.toml_dirs_given.insert(d.clone());
        }
    }

    /// Takes the events so far. Once the changes have been quiet for the debounce time,
    /// returns the time of the first change and the files changed (canonical): the caller
    /// reloads what depends on them.
    pub(crate) fn poll(&mut self) -> Option<(Instant, HashSet<PathBuf>)> {
        let now = Instant::now();
        while let Ok(ev) = self.rx.try_recv() {
            let Ok(ev) = ev else { continue };
            if matches!(ev.kind, notify::EventKind::Access(_)) {
                continue;
            }
            for p in &ev.paths {
                let c = canonical(p);
                let new_toml = c.extension().is_some_and(|e| e == "toml")
                    && c.parent().is_some_and(|d| self.toml_dirs.contains(d));
                if self.files.contains(&c) || new_toml {
                    let entry = self.pending.get_or_insert_with(|| (now, now, HashSet::new()));
                    entry.1 = now;
                    entry.2.insert(c);
                }
            }
        }
        match &self.pending {
            Some((_, last, _)) if now.duration_since(*last) >= DEBOUNCE => {
                self.pending.take().map(|(first, _, files)| (first, files))
            }
            _ => None,
        }
    }
}

/// Canonical forms of `files` (for matching change events).
pub(crate) fn canonical_set(files: &[PathBuf]) -> HashSet<PathBuf> {
    files.iter().map(|f| canonical(f)).collect()
}
