//! Slang -> SPIR-V compilation with an in-memory cache that knows the dependency files.
//!
//! # Cache
//! An entry is keyed by the hash of: the main file's path and source, the entry points, the
//! defines, the search paths and the pinned Slang release. Each entry also records the content
//! hash of every file Slang reported as a dependency (the main file and every module it imports,
//! transitively) at the time of the compile. A lookup is a hit only when every recorded file
//! still has the same content, so editing an imported module invalidates every module that
//! imports it, and the viewer's hot reload can watch exactly [`CompiledShader::dependencies`].
//! [`ShaderCompiler::with_disk_cache`] also keeps entries on disk (same key and check), so a
//! second process start compiles nothing.
//!
//! Each compile uses a fresh Slang session: a session caches loaded modules by name and would
//! otherwise return a stale imported module after it was edited. The global session (the
//! expensive part: the core module) is created once per process and shared by every
//! compiler, behind one lock: compiles of all compilers are serialised, since Slang's global
//! state is not safe to use from two threads at once (two compilers used to make two global
//! sessions that tests ran side by side).
//!
//! # Output fix
//! Slang writes `OpSource Slang` (source language 11), which Debian's validation layer 1.3.239
//! and spirv-val 2023.1 reject as an unknown enum. The operand is debug metadata only, so it is
//! rewritten to 0 (Unknown); see [`patch_op_source`].

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::ffi::CString;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ash::vk;
use shader_slang as slang;
use slang::Downcast;

/// The Slang release the project pins (scripts/setup.sh installs it); part of the cache key.
pub const SLANG_VERSION: &str = "2026.12";

/// What a cache key names besides the request: the pinned Slang release, this crate's version
/// and the cache format (bump it when compile options or the SPIR-V patching change).
const KEY_VERSION: &str = concat!("slang 2026.12 / xpg ", env!("CARGO_PKG_VERSION"), " / cache 2");

/// One diagnostic line of the compiler: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the compiler names (as it printed it).
    pub file: String,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, when the compiler gave one.
    pub column: Option<u32>,
    /// `error`, `warning`, `note`, ...
    pub severity: String,
    /// The compiler's message, code included (`error 20001: unexpected ...`).
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.column {
            Some(c) => write!(f, "{}:{}:{}: {}", self.file, self.line, c, self.message),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// Errors of [`ShaderCompiler::compile`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShaderError {
    /// The shader file could not be read.
    #[error("cannot read shader {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The path is not valid UTF-8 (Slang takes UTF-8 paths).
    #[error("shader path is not valid UTF-8: {0}")]
    NonUtf8Path(PathBuf),
    /// The compiler rejected the source. `Display` lists `file:line: message` per diagnostic.
    #[error("failed to compile {path}:\n{}", format_diagnostics(.diagnostics, .log))]
    Compile {
        /// The main file of the request.
        path: PathBuf,
        /// Parsed diagnostics (errors first as the compiler printed them).
        diagnostics: Vec<Diagnostic>,
        /// The compiler's whole output.
        log: String,
    },
    /// A requested entry point is not in the module.
    #[error("{path}: no entry point named `{name}`")]
    MissingEntryPoint {
        /// The main file.
        path: PathBuf,
        /// The entry point asked for.
        name: String,
    },
    /// The module defines no entry point and none was named.
    #[error("{0}: no entry points (mark them with [shader(\"...\")] or name them)")]
    NoEntryPoints(PathBuf),
    /// The Slang global session could not be created.
    #[error(
        "the Slang compiler could not be initialised (is .slang/ installed? run scripts/setup.sh)"
    )]
    Init,
    /// The compiler misbehaved (a panic inside the bindings, an empty result).
    #[error("internal Slang error while compiling {path}: {message}")]
    Internal {
        /// The main file.
        path: PathBuf,
        /// What happened.
        message: String,
    },
}

fn format_diagnostics(diags: &[Diagnostic], log: &str) -> String {
    if diags.is_empty() {
        return log.trim_end().to_string();
    }
    diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")
}

/// Parses Slang's diagnostic output. Two layouts are understood:
/// - rustc-like (Slang 2026): `error[E20002]: syntax error` followed by ` --> path:5:13`;
/// - classic: `path(5): error 20001: message` or `path(5, 13): ...`.
///
/// Lines that are not a located diagnostic (source excerpts, carets, "compilation ceased") are
/// skipped.
pub fn parse_diagnostics(log: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut pending: Option<(String, String)> = None; // (severity, message) awaiting its location
    for line in log.lines() {
        let trimmed = line.trim_start();
        if let Some(loc) = trimmed.strip_prefix("--> ") {
            if let (Some((severity, message)), Some((file, line_no, column))) =
                (pending.take(), split_location(loc.trim()))
            {
                out.push(Diagnostic { file, line: line_no, column, severity, message });
            }
            continue;
        }
        if let Some(header) = diagnostic_header(line) {
            pending = Some(header);
            continue;
        }
        if let Some(d) = classic_diagnostic(line) {
            out.push(d);
        }
    }
    out
}

/// `error[E20002]: syntax error` -> ("error", "error[E20002]: syntax error").
fn diagnostic_header(line: &str) -> Option<(String, String)> {
    const SEVERITIES: [&str; 5] = ["fatal error", "internal error", "error", "warning", "note"];
    let sev = SEVERITIES.iter().find(|s| line.starts_with(**s))?;
    let rest = &line[sev.len()..];
    let rest = if rest.starts_with('[') { &rest[rest.find(']')? + 1..] } else { rest };
    rest.starts_with(':').then(|| (sev.replace(' ', "_"), line.trim().to_string()))
}

/// `path:line:col` or `path:line`, where the path may itself contain ':'.
fn split_location(loc: &str) -> Option<(String, u32, Option<u32>)> {
    let mut parts = loc.rsplitn(3, ':');
    let last = parts.next()?.trim().parse::<u32>().ok()?;
    let middle = parts.next()?;
    match (middle.trim().parse::<u32>(), parts.next()) {
        (Ok(line), Some(file)) => Some((file.to_string(), line, Some(last))),
        _ => {
            let file = loc.rsplit_once(':')?.0;
            Some((file.to_string(), last, None))
        }
    }
}

fn classic_diagnostic(line: &str) -> Option<Diagnostic> {
    let close = line.find("): ")?;
    let head = &line[..close];
    let open = head.rfind('(')?;
    let mut nums = head[open + 1..].split(',').map(|s| s.trim().parse::<u32>());
    let line_no = nums.next()?.ok()?;
    let column = nums.next().and_then(|r| r.ok());
    let message = line[close + 3..].trim().to_string();
    let severity =
        message.split_whitespace().next().unwrap_or("").trim_end_matches(':').to_string();
    Some(Diagnostic { file: head[..open].to_string(), line: line_no, column, severity, message })
}

/// What to compile: one Slang file, its entry points and options.
#[derive(Debug, Clone, Default)]
pub struct ShaderDesc {
    /// The main `.slang` file.
    pub path: PathBuf,
    /// Entry points to compile, by name. Empty: every entry point the module defines with a
    /// `[shader("...")]` attribute.
    pub entry_points: Vec<String>,
    /// Preprocessor defines (`name`, `value`).
    pub defines: Vec<(String, String)>,
    /// Extra folders searched by `import` and `#include`, before the compiler's own.
    pub search_paths: Vec<PathBuf>,
}

impl ShaderDesc {
    /// A request for `path` with every entry point it defines.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), ..Default::default() }
    }
    /// Names one entry point (call once per entry point).
    pub fn entry(mut self, name: &str) -> Self {
        self.entry_points.push(name.to_string());
        self
    }
    /// Adds a preprocessor define.
    pub fn define(mut self, name: &str, value: &str) -> Self {
        self.defines.push((name.to_string(), value.to_string()));
        self
    }
    /// Adds a search path for imports and includes.
    pub fn search_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.search_paths.push(path.into());
        self
    }
}

/// One compiled entry point.
#[derive(Debug, Clone)]
pub struct EntryPointCode {
    /// The entry point's name, also its name in the SPIR-V module.
    pub name: String,
    /// Its pipeline stage.
    pub stage: vk::ShaderStageFlags,
    /// SPIR-V words (version 1.5 or later), patched to pass the validation layer.
    pub spirv: Arc<Vec<u32>>,
    /// Compute workgroup size (zeros for other stages).
    pub workgroup_size: [u32; 3],
}

/// The result of a compile (or a cache hit).
#[derive(Debug, Clone)]
pub struct CompiledShader {
    /// The entry points, in the order asked for (or the module's order).
    pub entry_points: Vec<EntryPointCode>,
    /// Every file the result depends on, as Slang reported it: the main file and every
    /// imported module or included file. Hot reload watches these.
    pub dependencies: Vec<PathBuf>,
}

impl CompiledShader {
    /// The entry point named `name`.
    pub fn entry(&self, name: &str) -> Option<&EntryPointCode> {
        self.entry_points.iter().find(|e| e.name == name)
    }
}

/// Counters of the compiler, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Calls that ran the Slang compiler.
    pub compiles: u64,
    /// Calls answered from the cache (in memory or on disk).
    pub cache_hits: u64,
    /// Of those, answered from the disk cache.
    pub disk_hits: u64,
}

struct CacheEntry {
    deps: Vec<(PathBuf, u64)>,
    result: CompiledShader,
}

struct Global(slang::GlobalSession);
// SAFETY: a Slang global session may be used from any thread as long as calls are not
// concurrent; it is only reached through the `Mutex` of [`GLOBAL`].
unsafe impl Send for Global {}

/// The process's Slang global session, made on the first compile of any compiler.
static GLOBAL: Mutex<Option<Global>> = Mutex::new(None);

struct Inner {
    cache: HashMap<u64, CacheEntry>,
    /// Request identity (everything but the sources) -> its latest cache key, so that each
    /// edit replaces the entry of the previous version instead of piling up.
    latest: HashMap<u64, u64>,
    stats: CompileStats,
    /// Every file a compile read or reported (the main files, also of failed compiles, and
    /// their dependencies): what hot reload watches.
    watched: std::collections::BTreeSet<PathBuf>,
    /// Threads recording the files their compiles depend on ([`ShaderCompiler::recording`]).
    recording: HashMap<std::thread::ThreadId, std::collections::BTreeSet<PathBuf>>,
    /// `watched.len()`, shared with the compiler for reading without the lock.
    watched_count: Arc<std::sync::atomic::AtomicUsize>,
}

impl Inner {
    fn note(&mut self, files: &[PathBuf]) {
        self.watched.extend(files.iter().cloned());
        self.watched_count.store(self.watched.len(), std::sync::atomic::Ordering::Release);
        if let Some(r) = self.recording.get_mut(&std::thread::current().id()) {
            r.extend(files.iter().cloned());
        }
    }
}

/// Compiles Slang to SPIR-V and caches the results. Cheap to share (`Arc`), thread-safe
/// (compiles are serialised).
pub struct ShaderCompiler {
    search_paths: Vec<PathBuf>,
    /// The folder the renderers take their shaders from ([`ShaderCompiler::shader_dir`]).
    shader_dir: PathBuf,
    /// How many files are watched, readable without the lock (which a compile holds).
    watched_len: Arc<std::sync::atomic::AtomicUsize>,
    inner: Mutex<Inner>,
    /// Where compiled results are also kept between runs (one file per request and source).
    disk: Option<PathBuf>,
}

impl std::fmt::Debug for ShaderCompiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShaderCompiler").field("search_paths", &self.search_paths).finish()
    }
}

impl ShaderCompiler {
    /// A compiler whose every request also searches `search_paths` (after the request's own),
    /// for example the project's `shaders/` folder so that a user's shader can import it.
    /// The Slang global session is created on the first compile.
    pub fn new(search_paths: impl IntoIterator<Item = PathBuf>) -> Self {
        let watched_len = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Self {
            search_paths: search_paths.into_iter().collect(),
            shader_dir: Self::project_shader_dir(),
            watched_len: Arc::clone(&watched_len),
            inner: Mutex::new(Inner {
                cache: HashMap::new(),
                latest: HashMap::new(),
                stats: Default::default(),
                watched: Default::default(),
                recording: HashMap::new(),
                watched_count: watched_len,
            }),
            disk: None,
        }
    }

    /// Takes the project's shaders from `dir` instead of [`ShaderCompiler::project_shader_dir`]
    /// (a copy to edit while the viewer runs): renderers find their shaders through
    /// [`ShaderCompiler::shader_dir`], and `dir` replaces the project folder among the search
    /// paths (so `import xpg.color;` finds the copy's module).
    pub fn with_shader_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let project = Self::project_shader_dir();
        for p in &mut self.search_paths {
            if *p == project {
                *p = dir.clone();
            }
        }
        if !self.search_paths.contains(&dir) {
            self.search_paths.push(dir.clone());
        }
        self.shader_dir = dir;
        self
    }

    /// The folder of the project's shaders this compiler uses (see
    /// [`ShaderCompiler::with_shader_dir`]).
    pub fn shader_dir(&self) -> &Path {
        &self.shader_dir
    }

    /// Every file compiles so far read or depended on (main files, also of failed compiles,
    /// and every module they import): the files to watch for hot reload.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        self.lock().watched.iter().cloned().collect()
    }

    /// [`ShaderCompiler::watched_files`], or None when a compile holds the compiler (on
    /// another thread): a render loop asks again next frame instead of waiting.
    pub fn try_watched_files(&self) -> Option<Vec<PathBuf>> {
        match self.inner.try_lock() {
            Ok(g) => Some(g.watched.iter().cloned().collect()),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                Some(p.into_inner().watched.iter().cloned().collect())
            }
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// How many files [`ShaderCompiler::watched_files`] has, without waiting for a compile
    /// that is running on another thread.
    pub fn watched_count(&self) -> usize {
        self.watched_len.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Runs `f` and returns, with its result, every file the compiles it made on this thread
    /// read (main files, also of failed compiles, and their imports; cache hits included):
    /// what a renderer built in `f` depends on.
    pub fn recording<R>(&self, f: impl FnOnce() -> R) -> (R, Vec<PathBuf>) {
        let id = std::thread::current().id();
        self.lock().recording.insert(id, Default::default());
        let r = f();
        let files = self.lock().recording.remove(&id).unwrap_or_default();
        (r, files.into_iter().collect())
    }

    /// Also keeps every result in `dir` (created when needed), so that a later process
    /// compiles only what changed. A disk entry is used only when its request, its main
    /// source and every dependency file it recorded are unchanged; unreadable or corrupt
    /// entries are ignored (and rewritten).
    pub fn with_disk_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.disk = Some(dir.into());
        self
    }

    /// The folder of the project's own Slang modules (`shaders/` at the workspace root).
    ///
    /// `XPG_SHADER_DIR` overrides it; otherwise the source tree's folder when it exists (a
    /// build run where it was built), else `shaders/` next to the executable, else
    /// `shaders/` in the current folder (a binary copied elsewhere with its shaders).
    pub fn project_shader_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("XPG_SHADER_DIR") {
            return PathBuf::from(d);
        }
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shaders");
        if built.is_dir() {
            return built;
        }
        let beside_exe = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|p| p.join("shaders")))
            .filter(|d| d.is_dir());
        beside_exe.unwrap_or_else(|| PathBuf::from("shaders"))
    }

    /// Counters so far.
    pub fn stats(&self) -> CompileStats {
        self.lock().stats
    }

    /// Drops every cached result.
    pub fn clear_cache(&self) {
        self.lock().cache.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compiles `desc`, or returns the cached result when neither the request nor any of the
    /// files it depended on last time has changed.
    pub fn compile(&self, desc: &ShaderDesc) -> Result<CompiledShader, ShaderError> {
        let path = absolute(&desc.path);
        self.lock().note(std::slice::from_ref(&path));
        let source = std::fs::read(&path)
            .map_err(|source| ShaderError::Io { path: path.clone(), source })?;
        let mut inner = self.lock();
        // The key names the pinned Slang release (not the session's build tag, so that a
        // disk cache hit needs no Slang session at all).
        let identity = self.request_identity(&path, desc, KEY_VERSION);
        let key = {
            let mut h = DefaultHasher::new();
            identity.hash(&mut h);
            source.hash(&mut h);
            h.finish()
        };
        if let Some(entry) = inner.cache.get(&key) {
            if entry.deps.iter().all(|(p, h)| file_hash(p) == Some(*h)) {
                let result = entry.result.clone();
                inner.note(&result.dependencies);
                inner.stats.cache_hits += 1;
                return Ok(result);
            }
        }
        // One file per request (path, entry points, defines...), holding the result for one
        // source: an edit replaces it instead of piling up files.
        let disk_file = self.disk.as_ref().map(|d| d.join(format!("{identity:016x}.spv-cache")));
        if let Some(entry) = disk_file.as_deref().and_then(|f| disk::read(f, key)) {
            if entry.deps.iter().all(|(p, h)| file_hash(p) == Some(*h)) {
                let result = entry.result.clone();
                inner.stats.cache_hits += 1;
                inner.stats.disk_hits += 1;
                inner.note(&result.dependencies);
                if let Some(old) = inner.latest.insert(identity, key) {
                    if old != key {
                        inner.cache.remove(&old);
                    }
                }
                inner.cache.insert(key, entry);
                return Ok(result);
            }
        }
        // Always taken after `inner` (never the other way round), so the two locks cannot
        // deadlock. A panic in a compile is caught below, so the session stays usable.
        let mut shared = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        if shared.is_none() {
            let g = slang::GlobalSession::new().ok_or(ShaderError::Init)?;
            *shared = Some(Global(g));
        }
        inner.stats.compiles += 1;
        let started = std::time::SystemTime::now();
        let Some(Global(global)) = shared.as_ref() else { return Err(ShaderError::Init) };
        let span = tracing::debug_span!("slang_compile", path = %path.display());
        let _g = span.enter();
        let t = std::time::Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compile_uncached(global, &path, desc, &self.search_paths)
        }));
        drop(shared);
        tracing::debug!(
            "compiled {} {:?} in {:.1} ms",
            path.display(),
            desc.defines,
            t.elapsed().as_secs_f64() * 1e3
        );
        let result = result.unwrap_or_else(|p| {
            let message = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(ShaderError::Internal { path: path.clone(), message })
        });
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                // Watch what the failure involves: the files its diagnostics name and the
                // dependencies of this request's last good result (an import that broke).
                let mut files: Vec<PathBuf> = Vec::new();
                if let ShaderError::Compile { diagnostics, .. } = &e {
                    files.extend(
                        diagnostics.iter().map(|d| PathBuf::from(&d.file)).filter(|f| f.is_file()),
                    );
                }
                if let Some(last) = inner.latest.get(&identity).and_then(|k| inner.cache.get(k)) {
                    files.extend(last.result.dependencies.iter().cloned());
                }
                inner.note(&files);
                return Err(e);
            }
        };
        inner.note(&result.dependencies);
        // A dependency edited while the compiler ran may or may not be in the result: such a
        // result is returned but not cached, so the next request compiles again.
        let edited_during_compile = result
            .dependencies
            .iter()
            .any(|p| std::fs::metadata(p).and_then(|m| m.modified()).is_ok_and(|t| t >= started));
        if !edited_during_compile {
            let deps = result
                .dependencies
                .iter()
                .map(|p| (p.clone(), file_hash(p).unwrap_or(0)))
                .collect();
            if let Some(old) = inner.latest.insert(identity, key) {
                if old != key {
                    inner.cache.remove(&old);
                }
            }
            let entry = CacheEntry { deps, result: result.clone() };
            if let Some(f) = &disk_file {
                if let Err(e) = disk::write(f, key, &entry) {
                    tracing::warn!("shader disk cache {}: {e}", f.display());
                }
            }
            inner.cache.insert(key, entry);
        }
        Ok(result)
    }

    fn request_identity(&self, path: &Path, desc: &ShaderDesc, version: &str) -> u64 {
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        desc.entry_points.hash(&mut h);
        desc.defines.hash(&mut h);
        desc.search_paths.hash(&mut h);
        self.search_paths.hash(&mut h);
        version.hash(&mut h);
        h.finish()
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn file_hash(p: &Path) -> Option<u64> {
    let bytes = std::fs::read(p).ok()?;
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

fn utf8(p: &Path) -> Result<&str, ShaderError> {
    p.to_str().ok_or_else(|| ShaderError::NonUtf8Path(p.to_path_buf()))
}

fn compile_error(path: &Path, err: slang::Error) -> ShaderError {
    let log = err.to_string();
    ShaderError::Compile { path: path.to_path_buf(), diagnostics: parse_diagnostics(&log), log }
}

fn compile_uncached(
    global: &slang::GlobalSession,
    path: &Path,
    desc: &ShaderDesc,
    default_search: &[PathBuf],
) -> Result<CompiledShader, ShaderError> {
    let path_str = utf8(path)?;
    let mut search: Vec<CString> = Vec::new();
    let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for p in std::iter::once(&parent).chain(&desc.search_paths).chain(default_search) {
        let s = utf8(p)?;
        search.push(CString::new(s).map_err(|_| ShaderError::NonUtf8Path(p.clone()))?);
    }
    let search_ptrs: Vec<*const std::ffi::c_char> = search.iter().map(|s| s.as_ptr()).collect();

    let mut options = slang::CompilerOptions::default()
        .emit_spirv_directly(true)
        .vulkan_use_entry_point_name(true)
        .matrix_layout_column(true)
        .optimization(slang::OptimizationLevel::Default);
    for (k, v) in &desc.defines {
        options = options.macro_define(k, v);
    }
    let targets = [slang::TargetDesc::default()
        .format(slang::CompileTarget::Spirv)
        .profile(global.find_profile("spirv_1_5"))];
    let session_desc = slang::SessionDesc::default()
        .targets(&targets)
        .search_paths(&search_ptrs)
        .options(&options);
    let session = global.create_session(&session_desc).ok_or_else(|| ShaderError::Internal {
        path: path.to_path_buf(),
        message: "createSession failed".into(),
    })?;
    let module = session.load_module(path_str).map_err(|e| compile_error(path, e))?;

    let entry_points: Vec<slang::EntryPoint> = if desc.entry_points.is_empty() {
        let all: Vec<_> = (0..module.entry_point_count())
            .filter_map(|i| module.entry_point_by_index(i))
            .collect();
        if all.is_empty() {
            return Err(ShaderError::NoEntryPoints(path.to_path_buf()));
        }
        all
    } else {
        desc.entry_points
            .iter()
            .map(|n| {
                module.find_entry_point_by_name(n).ok_or_else(|| ShaderError::MissingEntryPoint {
                    path: path.to_path_buf(),
                    name: n.clone(),
                })
            })
            .collect::<Result<_, _>>()?
    };

    let mut components = vec![module.downcast().clone()];
    components.extend(entry_points.iter().map(|e| e.downcast().clone()));
    let program =
        session.create_composite_component_type(&components).map_err(|e| compile_error(path, e))?;
    let linked = program.link().map_err(|e| compile_error(path, e))?;
    let layout = linked.layout(0).map_err(|e| compile_error(path, e))?;

    let mut out = Vec::with_capacity(entry_points.len());
    for (i, _) in entry_points.iter().enumerate() {
        let refl = layout.entry_point_by_index(i as u32).ok_or_else(|| ShaderError::Internal {
            path: path.to_path_buf(),
            message: format!("no reflection for entry point {i}"),
        })?;
        let blob = linked.entry_point_code(i as i64, 0).map_err(|e| compile_error(path, e))?;
        let mut words = spirv_words(blob.as_slice()).ok_or_else(|| ShaderError::Internal {
            path: path.to_path_buf(),
            message: "compiler returned malformed SPIR-V".into(),
        })?;
        patch_op_source(&mut words);
        let stage = stage_flags(refl.stage());
        let workgroup_size = if stage == vk::ShaderStageFlags::COMPUTE {
            let s = refl.compute_thread_group_size();
            [s[0] as u32, s[1] as u32, s[2] as u32]
        } else {
            [0; 3]
        };
        out.push(EntryPointCode {
            name: refl.name().to_string(),
            stage,
            spirv: Arc::new(words),
            workgroup_size,
        });
    }
    let mut dependencies: Vec<PathBuf> =
        module.dependency_file_paths().map(|p| absolute(Path::new(p))).collect();
    if !dependencies.iter().any(|d| d == path) {
        dependencies.insert(0, path.to_path_buf());
    }
    dependencies.dedup();
    Ok(CompiledShader { entry_points: out, dependencies })
}

fn stage_flags(stage: slang::Stage) -> vk::ShaderStageFlags {
    use slang::Stage as S;
    match stage {
        S::Vertex => vk::ShaderStageFlags::VERTEX,
        S::Hull => vk::ShaderStageFlags::TESSELLATION_CONTROL,
        S::Domain => vk::ShaderStageFlags::TESSELLATION_EVALUATION,
        S::Geometry => vk::ShaderStageFlags::GEOMETRY,
        S::Fragment => vk::ShaderStageFlags::FRAGMENT,
        S::Compute => vk::ShaderStageFlags::COMPUTE,
        S::RayGeneration => vk::ShaderStageFlags::RAYGEN_KHR,
        S::Intersection => vk::ShaderStageFlags::INTERSECTION_KHR,
        S::AnyHit => vk::ShaderStageFlags::ANY_HIT_KHR,
        S::ClosestHit => vk::ShaderStageFlags::CLOSEST_HIT_KHR,
        S::Miss => vk::ShaderStageFlags::MISS_KHR,
        S::Callable => vk::ShaderStageFlags::CALLABLE_KHR,
        S::Mesh => vk::ShaderStageFlags::MESH_EXT,
        S::Amplification => vk::ShaderStageFlags::TASK_EXT,
        _ => vk::ShaderStageFlags::empty(),
    }
}

fn spirv_words(bytes: &[u8]) -> Option<Vec<u32>> {
    if bytes.len() % 4 != 0 || bytes.len() < 20 {
        return None;
    }
    let words: Vec<u32> =
        bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (words[0] == 0x0723_0203).then_some(words)
}

/// Rewrites the source-language operand of every `OpSource` from Slang (11) to Unknown (0).
///
/// Debian's validation layer 1.3.239 and spirv-val 2023.1 predate the Slang enum value and
/// reject the module; the operand is debug information only.
pub fn patch_op_source(words: &mut [u32]) {
    const OP_SOURCE: u32 = 3;
    const SOURCE_LANGUAGE_SLANG: u32 = 11;
    let mut i = 5; // header: magic, version, generator, bound, schema
    while i < words.len() {
        let count = (words[i] >> 16) as usize;
        let opcode = words[i] & 0xffff;
        if count == 0 {
            break; // malformed: stop rather than loop forever
        }
        if opcode == OP_SOURCE && i + 1 < words.len() && words[i + 1] == SOURCE_LANGUAGE_SLANG {
            words[i + 1] = 0;
        }
        i += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_located_diagnostics() {
        let log = "/a/b/x.slang(12): error 20001: unexpected identifier, expected ';'\n    foo bar\n        ^~~\n/a/b/y.slang(3, 7): warning 15205: something\n";
        let d = parse_diagnostics(log);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].file, "/a/b/x.slang");
        assert_eq!(d[0].line, 12);
        assert_eq!(d[0].severity, "error");
        assert_eq!(
            d[0].to_string(),
            "/a/b/x.slang:12: error 20001: unexpected identifier, expected ';'"
        );
        assert_eq!(d[1].column, Some(7));
        assert_eq!(d[1].severity, "warning");
    }

    #[test]
    fn parses_rustc_style_diagnostics() {
        let log = "error[E20002]: syntax error\n --> /tmp/a:b/broken.slang:5:13\n  |\n5 | int x = ;\n  |         ^ syntax error.\nerror[E39999]: import failed due to compilation error\nfatal error[E40003]: compilation ceased\n";
        let d = parse_diagnostics(log);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].file, "/tmp/a:b/broken.slang");
        assert_eq!((d[0].line, d[0].column), (5, Some(13)));
        assert_eq!(d[0].severity, "error");
        assert_eq!(d[0].to_string(), "/tmp/a:b/broken.slang:5:13: error[E20002]: syntax error");
    }

    #[test]
    fn patches_op_source_only() {
        // header + OpSource Slang 1 + OpCapability Shader (opcode 17, operand 1)
        let mut w = vec![0x0723_0203, 0x10500, 0, 10, 0, (3 << 16) | 3, 11, 1, (2 << 16) | 17, 11];
        patch_op_source(&mut w);
        assert_eq!(w[6], 0);
        assert_eq!(w[9], 11, "operands of other instructions are untouched");
    }
}

/// The on-disk form of a cache entry: a small versioned binary file.
mod disk {
    use super::{CacheEntry, CompiledShader, EntryPointCode};
    use ash::vk;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    const MAGIC: &[u8; 8] = b"XPGSPV02";
    const SPIRV_MAGIC: u32 = 0x0723_0203;

    /// FNV-1a over the bytes: detects a damaged file (the SPIR-V goes to the driver).
    fn checksum(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    pub(super) fn write(path: &Path, key: u64, e: &CacheEntry) -> std::io::Result<()> {
        let mut b: Vec<u8> = Vec::new();
        b.extend(MAGIC);
        b.extend(key.to_le_bytes());
        let put_u32 = |b: &mut Vec<u8>, v: u32| b.extend(v.to_le_bytes());
        let put_str = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u32).to_le_bytes());
            b.extend(s.as_bytes());
        };
        put_u32(&mut b, e.deps.len() as u32);
        for (p, h) in &e.deps {
            put_str(&mut b, &p.to_string_lossy());
            b.extend(h.to_le_bytes());
        }
        put_u32(&mut b, e.result.dependencies.len() as u32);
        for p in &e.result.dependencies {
            put_str(&mut b, &p.to_string_lossy());
        }
        put_u32(&mut b, e.result.entry_points.len() as u32);
        for ep in &e.result.entry_points {
            put_str(&mut b, &ep.name);
            put_u32(&mut b, ep.stage.as_raw());
            for w in ep.workgroup_size {
                put_u32(&mut b, w);
            }
            put_u32(&mut b, ep.spirv.len() as u32);
            for w in ep.spirv.iter() {
                put_u32(&mut b, *w);
            }
        }
        let sum = checksum(&b);
        b.extend(sum.to_le_bytes());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Write then rename: a concurrent reader never sees half a file.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &b)?;
        std::fs::rename(&tmp, path)
    }

    struct Reader<'a>(&'a [u8]);
    impl Reader<'_> {
        fn bytes(&mut self, n: usize) -> Option<&[u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, rest) = self.0.split_at(n);
            self.0 = rest;
            Some(a)
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
        }
        fn u64(&mut self) -> Option<u64> {
            Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
        }
        fn string(&mut self) -> Option<String> {
            let n = self.u32()? as usize;
            String::from_utf8(self.bytes(n)?.to_vec()).ok()
        }
        /// A count that the remaining bytes can hold (each item at least `min` bytes).
        fn count(&mut self, min: usize) -> Option<usize> {
            let n = self.u32()? as usize;
            (n.saturating_mul(min) <= self.0.len()).then_some(n)
        }
    }

    /// None for a missing, truncated, damaged or otherwise unreadable file, or one that
    /// holds the result for another key (another source of the same request).
    pub(super) fn read(path: &Path, key: u64) -> Option<CacheEntry> {
        let data = std::fs::read(path).ok()?;
        let (body, sum) = data.split_at_checked(data.len().checked_sub(8)?)?;
        if checksum(body) != u64::from_le_bytes(sum.try_into().ok()?) {
            return None;
        }
        let mut r = Reader(body);
        if r.bytes(8)? != MAGIC || r.u64()? != key {
            return None;
        }
        let mut deps = Vec::new();
        for _ in 0..r.count(12)? {
            let p = PathBuf::from(r.string()?);
            deps.push((p, r.u64()?));
        }
        let mut dependencies = Vec::new();
        for _ in 0..r.count(4)? {
            dependencies.push(PathBuf::from(r.string()?));
        }
        let mut entry_points = Vec::new();
        for _ in 0..r.count(24)? {
            let name = r.string()?;
            let stage = vk::ShaderStageFlags::from_raw(r.u32()?);
            // One known stage.
            let known = vk::ShaderStageFlags::ALL_GRAPHICS
                | vk::ShaderStageFlags::COMPUTE
                | vk::ShaderStageFlags::RAYGEN_KHR
                | vk::ShaderStageFlags::ANY_HIT_KHR
                | vk::ShaderStageFlags::CLOSEST_HIT_KHR
                | vk::ShaderStageFlags::MISS_KHR
                | vk::ShaderStageFlags::INTERSECTION_KHR
                | vk::ShaderStageFlags::CALLABLE_KHR
                | vk::ShaderStageFlags::TASK_EXT
                | vk::ShaderStageFlags::MESH_EXT;
            if stage.as_raw().count_ones() != 1 || !known.contains(stage) {
                return None;
            }
            let workgroup_size = [r.u32()?, r.u32()?, r.u32()?];
            let n = r.count(4)?;
            let mut spirv = Vec::with_capacity(n);
            for _ in 0..n {
                spirv.push(r.u32()?);
            }
            if spirv.first() != Some(&SPIRV_MAGIC) {
                return None;
            }
            entry_points.push(EntryPointCode {
                name,
                stage,
                spirv: Arc::new(spirv),
                workgroup_size,
            });
        }
        if !r.0.is_empty() || entry_points.is_empty() {
            return None;
        }
        Some(CacheEntry { deps, result: CompiledShader { entry_points, dependencies } })
    }
}
