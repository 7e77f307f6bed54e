//! Streaming a sequence of frame files (issue 23, the CPU side of the engine): frames are
//! decoded on loader threads into a cache with a memory budget (least recently used frames
//! go first), prefetched ahead of the playhead in the direction of playback; a seek drops the
//! prefetches that no longer matter. Nothing here blocks the caller: [`Stream::frame_at`]
//! gives the frame at a time if it is loaded, else the nearest loaded one. Frames can be
//! appended, inserted and removed while it runs: the cache knows frames by identity, not by
//! index. A file that fails to decode is remembered with its error (and skipped over).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

/// One decoded frame of a sequence: points (positions, colours, scalars), a mesh (positions
/// and triangles) or an image.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    /// Positions (points, or a mesh's vertices).
    pub positions: Vec<[f32; 3]>,
    /// Triangles over `positions` (empty: points).
    pub indices: Vec<u32>,
    /// An image (a sequence of images).
    pub image: Option<crate::Texture>,
    /// sRGB RGBA8 colours (empty: none).
    pub colors: Vec<[u8; 4]>,
    /// Scalars (empty: none).
    pub scalars: Vec<f32>,
    /// The bounds of the positions (filled by the stream once decoded; None: not known).
    pub bounds: Option<([f32; 3], [f32; 3])>,
}

impl Frame {
    /// Its size in memory (what the budget counts).
    pub fn bytes(&self) -> usize {
        let image = self.image.as_ref().map_or(0, |t| match &t.pixels {
            crate::TexturePixels::Rgba8(p) => p.len() * 4,
            crate::TexturePixels::RgbaF32(p) => p.len() * 16,
        });
        self.positions.len() * 12
            + self.indices.len() * 4
            + self.colors.len() * 4
            + self.scalars.len() * 4
            + image
            + 64
    }

    /// The bounds of its positions (None: no points).
    pub fn compute_bounds(&self) -> Option<(glam::Vec3, glam::Vec3)> {
        let mut it = self.positions.iter().map(|&p| glam::Vec3::from(p));
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), p| (lo.min(p), hi.max(p))))
    }

    /// Checks what a decoder gave (on the loader thread, so that showing it costs nothing):
    /// finite positions, colours and scalars of the positions' count; fills `bounds`.
    pub fn check(&mut self) -> Result<(), String> {
        let n = self.positions.len();
        if !crate::all_finite(&self.positions) {
            return Err("non-finite (NaN or infinite) positions".into());
        }
        if !(self.colors.is_empty() || self.colors.len() == n) {
            return Err(format!("{} colours for {n} points", self.colors.len()));
        }
        if !(self.scalars.is_empty() || self.scalars.len() == n) {
            return Err(format!("{} scalars for {n} points", self.scalars.len()));
        }
        if self.indices.len() % 3 != 0 || self.indices.iter().any(|&i| i as usize >= n) {
            return Err(format!("indices that are not a triangle list of {n} vertices"));
        }
        self.bounds = self.compute_bounds().map(|(lo, hi)| (lo.to_array(), hi.to_array()));
        Ok(())
    }
}

/// A frame shown by a point set ([`crate::Property::PointFrame`]): the stream it comes from,
/// its identity there, and its data. The GPU copy keeps frames by identity (a pool of frames
/// already uploaded), so that showing a frame again uploads nothing.
#[derive(Debug, Clone)]
pub struct FrameRef {
    /// The stream.
    pub stream: Arc<Stream>,
    /// The frame's identity in it (stable across inserts and removals).
    pub id: u64,
    /// Its index in the sequence when it was taken.
    pub index: usize,
    /// The data.
    pub frame: Arc<Frame>,
}

impl FrameRef {
    /// (stream, frame) identity: what GPU pools key on.
    pub fn key(&self) -> (u64, u64) {
        (self.stream.id(), self.id)
    }
}

/// Frames are equal when they are the same frame of the same stream.
impl PartialEq for FrameRef {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

/// Decodes a frame file (on a loader thread).
pub trait FrameDecoder: Send + Sync {
    /// The frame in `path`, or why not.
    fn decode(&self, path: &Path) -> Result<Frame, String>;
}

/// The default decoder: any file [`crate::load`] reads, its point sets (or mesh vertices)
/// as points.
#[derive(Debug, Default)]
pub struct SceneDecoder;

impl FrameDecoder for SceneDecoder {
    fn decode(&self, path: &Path) -> Result<Frame, String> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg" | "hdr" | "exr")) {
            let texture = crate::load_texture(path).map_err(|e| e.to_string())?;
            return Ok(Frame { image: Some(texture), ..Default::default() });
        }
        let s = crate::load(path).map_err(|e| e.to_string())?;
        let mut f = Frame::default();
        // Meshes: their triangles in world space, one list.
        for n in &s.nodes {
            let Some(m) = n.mesh.and_then(|m| s.meshes.get(m)) else { continue };
            for p in &m.primitives {
                let first = f.positions.len() as u32;
                f.positions.extend(
                    p.positions
                        .iter()
                        .map(|&v| n.world.transform_point3(glam::Vec3::from(v)).to_array()),
                );
                f.indices.extend(p.indices.iter().map(|&i| i + first));
                // Vertex colours (sRGB bytes here), white where a primitive has none.
                if !p.colors.is_empty() || !f.colors.is_empty() {
                    f.colors.resize(first as usize, [255; 4]);
                    f.colors.extend(p.colors.iter().map(|&c| crate::pack_srgba8(c).to_le_bytes()));
                    f.colors.resize(f.positions.len(), [255; 4]);
                }
            }
        }
        if !f.positions.is_empty() {
            return Ok(f);
        }
        for p in &s.point_sets {
            let n = f.positions.len();
            f.positions.extend(
                p.positions
                    .iter()
                    .map(|&v| p.transform.transform_point3(glam::Vec3::from(v)).to_array()),
            );
            if !p.colors.is_empty() {
                f.colors.resize(n, [255; 4]);
                f.colors.extend(&p.colors);
            }
            if !p.scalars.is_empty() {
                f.scalars.resize(n, f32::NAN);
                f.scalars.extend(&p.scalars);
            }
        }
        let n = f.positions.len();
        if !f.colors.is_empty() {
            f.colors.resize(n, [255; 4]);
        }
        if !f.scalars.is_empty() {
            f.scalars.resize(n, f32::NAN);
        }
        Ok(f)
    }
}

/// A frame of the sequence: its file and time, known by a stable id.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    path: PathBuf,
    time: f64,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    next_id: u64,
    cache: HashMap<u64, Arc<Frame>>,
    /// Least recently used first.
    lru: VecDeque<u64>,
    bytes: usize,
    budget: usize,
    /// Frames to load, most wanted first.
    wanted: VecDeque<u64>,
    loading: HashSet<u64>,
    errors: HashMap<u64, String>,
    /// Frames to load when nothing is wanted (a GPU pool filling up), in order.
    background: VecDeque<u64>,
    /// The union of the bounds of every frame decoded so far.
    bounds: Option<(glam::Vec3, glam::Vec3)>,
    /// Frames a program put in memory ([`Stream::put`]): never evicted (nothing to reload).
    pinned: HashSet<u64>,
    decoded: u64,
    evicted: u64,
    shutdown: bool,
}

impl State {
    fn touch(&mut self, id: u64) {
        if let Some(k) = self.lru.iter().position(|&x| x == id) {
            self.lru.remove(k);
        }
        self.lru.push_back(id);
    }

    /// Drops the least recently used frames until the cache fits the budget (keeping
    /// `keep`, the frame just wanted most).
    fn evict(&mut self, keep: Option<u64>) {
        let mut k = 0;
        while self.bytes > self.budget && k < self.lru.len() {
            let id = self.lru[k];
            if Some(id) == keep || self.pinned.contains(&id) {
                k += 1;
                continue;
            }
            self.lru.remove(k);
            if let Some(f) = self.cache.remove(&id) {
                self.bytes -= f.bytes();
                self.evicted += 1;
            }
        }
    }

    /// The frame whose data index `k` shows: `k` itself, or when it failed the last frame
    /// before it that did not (None: none did).
    fn last_good(&self, k: usize) -> Option<usize> {
        (0..=k)
            .rev()
            .find(|&j| self.entries.get(j).is_some_and(|e| !self.errors.contains_key(&e.id)))
    }

    /// The index of the frame shown at `t` (the last at or before it; the first before).
    fn index_at(&self, t: f64) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        Some(self.entries.partition_point(|e| e.time <= t).saturating_sub(1))
    }
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    decoder: Arc<dyn FrameDecoder>,
}

/// Counters of a stream (for the stats panel and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Frames in the sequence.
    pub frames: usize,
    /// Frames in the cache.
    pub cached: usize,
    /// Bytes in the cache.
    pub bytes: usize,
    /// The cache's budget.
    pub budget: usize,
    /// Frames waiting to load.
    pub wanted: usize,
    /// Frames decoded so far.
    pub decoded: u64,
    /// Frames evicted so far.
    pub evicted: u64,
}

/// A sequence of frame files streamed through a cache.
pub struct Stream {
    id: u64,
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("stats", &self.stats()).finish()
    }
}

impl Stream {
    /// A stream of `files` at `times` (one each, increasing), decoded by `decoder` on
    /// `threads` loader threads into a cache of at most `budget` bytes.
    pub fn new(
        files: Vec<PathBuf>,
        times: Vec<f64>,
        decoder: Arc<dyn FrameDecoder>,
        budget: usize,
        threads: usize,
    ) -> Self {
        let mut state = State { budget, ..Default::default() };
        for (path, time) in files.into_iter().zip(times) {
            let id = state.next_id;
            state.next_id += 1;
            state.entries.push(Entry { id, path, time });
        }
        let shared = Arc::new(Shared { state: Mutex::new(state), work: Condvar::new(), decoder });
        let threads = (0..threads.max(1))
            .map(|_| {
                let s = Arc::clone(&shared);
                std::thread::spawn(move || loader(&s))
            })
            .collect();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { id, shared, threads }
    }

    /// Unique in this process.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock (a loader panicked) still holds consistent data: every change is
        // made under it in one step.
        self.shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks for the frame at `t` and the `ahead` frames after it in the direction of playback
    /// (`forward`), most wanted first; earlier requests that are not among them are dropped
    /// (a seek). Never waits.
    pub fn request(&self, t: f64, forward: bool, ahead: usize) {
        self.request_strided(t, forward, ahead, 1);
    }

    /// [`Stream::request`] for playback that moves `stride` frames at a time (faster than
    /// the sequence's rate): the frames it will show, `ahead` of them.
    pub fn request_strided(&self, t: f64, forward: bool, ahead: usize, stride: usize) {
        let stride = stride.max(1);
        let mut s = self.state();
        let Some(k) = s.index_at(t) else { return };
        let n = s.entries.len();
        let mut wanted = VecDeque::new();
        for step in 0..=ahead {
            let d = step.saturating_mul(stride);
            let i = if forward { k.checked_add(d) } else { k.checked_sub(d) };
            let Some(i) = i.filter(|&i| i < n) else { break };
            let id = s.entries[i].id;
            if !s.cache.contains_key(&id) && !s.loading.contains(&id) && !s.errors.contains_key(&id)
            {
                wanted.push_back(id);
            }
        }
        // A frame that failed shows the last good one before it: wanted first.
        if let Some(j) = s.last_good(k) {
            let id = s.entries[j].id;
            if j != k && !s.cache.contains_key(&id) && !s.loading.contains(&id) {
                wanted.push_front(id);
            }
        }
        s.wanted = wanted;
        let shown = s.entries[k].id;
        if s.cache.contains_key(&shown) {
            s.touch(shown);
        }
        drop(s);
        self.shared.work.notify_all();
    }

    /// The frame shown at `t`: its index, and the frame if it is loaded, else the nearest
    /// loaded one (its index says which). None: nothing loaded yet. Never waits.
    pub fn frame_at(&self, t: f64) -> Option<(usize, Arc<Frame>)> {
        let mut s = self.state();
        let k = s.index_at(t)?;
        let n = s.entries.len();
        let get = |i: usize| s.cache.get(&s.entries[i].id).map(|f| (i, Arc::clone(f)));
        // A frame that failed holds the last good one before it.
        let failed = s.errors.contains_key(&s.entries[k].id);
        let before = if failed { (0..k).rev().find_map(get) } else { None };
        let found = before.or_else(|| {
            (0..n)
                .flat_map(|d| [k.checked_sub(d), k.checked_add(d).filter(|&i| i < n)])
                .flatten()
                .find_map(get)
        });
        if let Some((i, _)) = &found {
            let id = s.entries[*i].id;
            s.touch(id);
        }
        found
    }

    /// [`Stream::frame_at`] as a [`FrameRef`].
    pub fn frame_ref_at(self: &Arc<Self>, t: f64) -> Option<FrameRef> {
        let (index, frame) = self.frame_at(t)?;
        let id = self.state().entries.get(index)?.id;
        Some(FrameRef { stream: Arc::clone(self), id, index, frame })
    }

    /// The index of the frame shown at `t` (whether loaded or not).
    pub fn index_at(&self, t: f64) -> Option<usize> {
        self.state().index_at(t)
    }

    /// The frames loaded now, with their identities (what a GPU pool can take).
    pub fn cached(&self) -> Vec<(u64, Arc<Frame>)> {
        let s = self.state();
        s.entries.iter().filter_map(|e| Some((e.id, Arc::clone(s.cache.get(&e.id)?)))).collect()
    }

    /// The identities of the frames, in order.
    pub fn ids(&self) -> Vec<u64> {
        self.state().entries.iter().map(|e| e.id).collect()
    }

    /// Frames to load when nothing more urgent is wanted (replacing the earlier list): what a
    /// GPU pool that can hold the whole sequence asks for.
    pub fn background(&self, ids: Vec<u64>) {
        let mut s = self.state();
        s.background = ids.into_iter().filter(|id| !s.cache.contains_key(id)).collect();
        drop(s);
        self.shared.work.notify_all();
    }

    /// Loads frames `indices` and waits for them (at most `timeout`): the frames a sequence
    /// samples to know its bounds. False when the time ran out.
    pub fn load_now(&self, indices: &[usize], timeout: std::time::Duration) -> bool {
        let ids: Vec<u64> = {
            let mut s = self.state();
            let ids: Vec<u64> =
                indices.iter().filter_map(|&i| s.entries.get(i)).map(|e| e.id).collect();
            for &id in &ids {
                if !s.cache.contains_key(&id) && !s.wanted.contains(&id) {
                    s.wanted.push_back(id);
                }
            }
            ids
        };
        self.shared.work.notify_all();
        let start = std::time::Instant::now();
        loop {
            {
                let s = self.state();
                if ids.iter().all(|id| {
                    s.cache.contains_key(id)
                        || s.errors.contains_key(id)
                        || !s.entries.iter().any(|e| e.id == *id)
                }) {
                    return true;
                }
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// The union of the bounds of every frame decoded so far (frames evicted since count).
    pub fn bounds(&self) -> Option<(glam::Vec3, glam::Vec3)> {
        self.state().bounds
    }

    /// Every frame that failed so far: its index, path and the reason.
    pub fn errors(&self) -> Vec<(usize, PathBuf, String)> {
        let s = self.state();
        s.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((i, e.path.clone(), s.errors.get(&e.id)?.clone())))
            .collect()
    }

    /// Whether the frame of time `t` is loaded (or has failed: it will not come).
    pub fn ready(&self, t: f64) -> bool {
        let s = self.state();
        let Some(k) = s.index_at(t) else { return true };
        // A frame that failed is ready when the last good one before it is (what it shows).
        match s.last_good(k) {
            Some(j) => s.cache.contains_key(&s.entries[j].id),
            None => true,
        }
    }

    /// The error of frame `index`'s file, if it failed: its path and the reason.
    pub fn error(&self, index: usize) -> Option<(PathBuf, String)> {
        let s = self.state();
        let e = s.entries.get(index)?;
        s.errors.get(&e.id).map(|m| (e.path.clone(), m.clone()))
    }

    /// The ranges of frame indices loaded (for the timeline's buffer bar).
    pub fn loaded_ranges(&self) -> Vec<(usize, usize)> {
        let s = self.state();
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (i, e) in s.entries.iter().enumerate() {
            if s.cache.contains_key(&e.id) {
                match out.last_mut() {
                    Some(r) if r.1 + 1 == i => r.1 = i,
                    _ => out.push((i, i)),
                }
            }
        }
        out
    }

    /// The frame times.
    pub fn times(&self) -> Vec<f64> {
        self.state().entries.iter().map(|e| e.time).collect()
    }

    /// Counters.
    pub fn stats(&self) -> StreamStats {
        let s = self.state();
        StreamStats {
            frames: s.entries.len(),
            cached: s.cache.len(),
            bytes: s.bytes,
            budget: s.budget,
            wanted: s.wanted.len(),
            decoded: s.decoded,
            evicted: s.evicted,
        }
    }

    /// Sets the cache budget (evicting at once when it shrank).
    pub fn set_budget(&self, budget: usize) {
        let mut s = self.state();
        s.budget = budget;
        s.evict(None);
    }

    /// Inserts a frame file at index `at` (clamped) with time `time`. False when the time
    /// does not fall between its neighbours' (times stay increasing).
    pub fn insert(&self, at: usize, path: PathBuf, time: f64) -> bool {
        let mut s = self.state();
        let at = at.min(s.entries.len());
        let before = at.checked_sub(1).map(|i| s.entries[i].time);
        let after = s.entries.get(at).map(|e| e.time);
        if !time.is_finite()
            || before.is_some_and(|b| time <= b)
            || after.is_some_and(|a| time >= a)
        {
            return false;
        }
        let id = s.next_id;
        s.next_id += 1;
        s.entries.insert(at, Entry { id, path, time });
        true
    }

    /// Appends a frame file at `time` (after the last).
    pub fn append(&self, path: PathBuf, time: f64) -> bool {
        let n = self.state().entries.len();
        self.insert(n, path, time)
    }

    /// Puts `frame` (data in memory, from a program: never evicted, never read from disk) at
    /// `time`: a new frame in time order, or the data of the frame already at that time.
    /// Returns the frame's index, or why not (data that fails [`Frame::check`], a time that
    /// is not finite).
    pub fn put(&self, time: f64, mut frame: Frame) -> Result<usize, String> {
        if !time.is_finite() {
            return Err(format!("time {time}"));
        }
        frame.check()?;
        let bounds = frame.bounds.map(|(a, b)| (glam::Vec3::from(a), glam::Vec3::from(b)));
        let mut s = self.state();
        let at = s.entries.partition_point(|e| e.time < time);
        let same = s.entries.get(at).is_some_and(|e| e.time == time);
        // New data is a new frame (a new identity): what showed or uploaded the old one
        // (a point set, the GPU pool) sees the change.
        let id = s.next_id;
        s.next_id += 1;
        if same {
            let old = std::mem::replace(&mut s.entries[at].id, id);
            s.entries[at].path = PathBuf::new();
            if let Some(f) = s.cache.remove(&old) {
                s.bytes -= f.bytes();
            }
            s.lru.retain(|&x| x != old);
            s.wanted.retain(|&x| x != old);
            s.background.retain(|&x| x != old);
            s.errors.remove(&old);
            s.pinned.remove(&old);
        } else {
            s.entries.insert(at, Entry { id, path: PathBuf::new(), time });
        }
        if let Some((lo, hi)) = bounds {
            s.bounds = Some(s.bounds.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
        s.pinned.insert(id);
        s.bytes += frame.bytes();
        s.cache.insert(id, Arc::new(frame));
        Ok(at)
    }

    /// Removes the frame at exactly `time`. False when there is none.
    pub fn remove_at(&self, time: f64) -> bool {
        let index = self.state().entries.iter().position(|e| e.time == time);
        index.is_some_and(|i| self.remove(i))
    }

    /// Removes frame `index` (and its cached data). False when there is none.
    pub fn remove(&self, index: usize) -> bool {
        let mut s = self.state();
        if index >= s.entries.len() {
            return false;
        }
        let e = s.entries.remove(index);
        if let Some(f) = s.cache.remove(&e.id) {
            s.bytes -= f.bytes();
        }
        s.lru.retain(|&x| x != e.id);
        s.wanted.retain(|&x| x != e.id);
        s.background.retain(|&x| x != e.id);
        s.errors.remove(&e.id);
        s.pinned.remove(&e.id);
        true
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.state().shutdown = true;
        self.shared.work.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A loader thread: takes the most wanted frame, decodes it without the lock, stores it.
fn loader(shared: &Shared) {
    loop {
        let (id, path) = {
            let mut s = shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            loop {
                if s.shutdown {
                    return;
                }
                let next = s.wanted.pop_front().or_else(|| {
                    // Background frames only while the cache has room (they must not evict
                    // what playback wants).
                    while let Some(id) = s.background.pop_front() {
                        let busy = s.cache.contains_key(&id) || s.loading.contains(&id);
                        if !busy && !s.errors.contains_key(&id) && s.bytes < s.budget {
                            return Some(id);
                        }
                    }
                    None
                });
                if let Some(id) = next {
                    if let Some(e) = s.entries.iter().find(|e| e.id == id) {
                        let path = e.path.clone();
                        s.loading.insert(id);
                        break (id, path);
                    }
                    continue;
                }
                s = shared.work.wait(s).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        let result = shared.decoder.decode(&path).and_then(|mut f| f.check().map(|()| f));
        let bounds = result.as_ref().ok().and_then(|f| f.bounds);
        let mut s = shared.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.loading.remove(&id);
        // Removed meanwhile: dropped.
        if !s.entries.iter().any(|e| e.id == id) {
            continue;
        }
        match result {
            Ok(frame) => {
                if let Some((lo, hi)) =
                    bounds.map(|(a, b)| (glam::Vec3::from(a), glam::Vec3::from(b)))
                {
                    s.bounds = Some(s.bounds.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                }
                s.bytes += frame.bytes();
                s.cache.insert(id, Arc::new(frame));
                s.decoded += 1;
                s.touch(id);
                s.evict(Some(id));
            }
            Err(e) => {
                tracing::warn!("{}: {e}", path.display());
                s.errors.insert(id, e);
            }
        }
    }
}

/// Which part of a streamed frame a property takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePart {
    /// Positions ([`crate::Value::Vec3s`]).
    Positions,
    /// Colours ([`crate::Value::Colors`]).
    Colors,
    /// Scalars ([`crate::Value::Floats`]).
    Scalars,
    /// The whole frame ([`crate::Value::Frame`], for [`crate::Property::PointFrame`]): no
    /// copy, and the GPU keeps frames it has uploaded.
    Whole,
    /// A mesh frame ([`crate::Value::Triangles`], for [`crate::Property::Triangles`]).
    Triangles,
    /// A mesh frame's vertex colours, linear ([`crate::Value::Vec4s`], empty for none; for
    /// [`crate::Property::VertexColors`], after the frame's triangles).
    VertexColors,
    /// An image frame's texels ([`crate::Value::Colors`] or [`crate::Value::Vec4s`], for
    /// [`crate::Property::Texels`]).
    Texels,
}

/// The most frames between two consecutive times that count as playback speed (more: a
/// seek).
pub const MAX_STRIDE: usize = 16;

/// A [`crate::property::PropertySource`] over a stream: the frame at each time (or the
/// nearest loaded one), prefetching `ahead` frames in the direction the time moves.
#[derive(Debug)]
pub struct StreamSource {
    /// The stream.
    pub stream: Arc<Stream>,
    /// What the property takes of a frame.
    pub part: FramePart,
    /// Frames to prefetch ahead of the time asked for.
    pub ahead: usize,
    /// The last time asked for, and the frame index there.
    last: Mutex<(f64, Option<usize>)>,
}

impl StreamSource {
    /// `part` of `stream`'s frames, prefetching `ahead` frames.
    pub fn new(stream: Arc<Stream>, part: FramePart, ahead: usize) -> Self {
        Self { stream, part, ahead, last: Mutex::new((f64::NEG_INFINITY, None)) }
    }
}

impl crate::property::PropertySource for StreamSource {
    fn sample(&self, t: f64) -> Option<crate::Value> {
        // Direction and speed of playback from the last two times asked: playback that
        // skips frames (fast, or a slow machine) prefetches the frames it will show.
        let index = self.stream.index_at(t);
        let (forward, stride) = {
            let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let forward = t >= last.0;
            // A jump of more than a few frames is a seek, not a speed.
            let stride = match (index, last.1) {
                (Some(k), Some(j)) if k.abs_diff(j) <= MAX_STRIDE => k.abs_diff(j).max(1),
                _ => 1,
            };
            *last = (t, index);
            (forward, stride)
        };
        self.stream.request_strided(t, forward, self.ahead, stride);
        if self.part == FramePart::Whole {
            return self.stream.frame_ref_at(t).map(crate::Value::Frame);
        }
        let (_, frame) = self.stream.frame_at(t)?;
        Some(match self.part {
            FramePart::Positions => crate::Value::Vec3s(frame.positions.clone()),
            FramePart::Colors => crate::Value::Colors(frame.colors.clone()),
            FramePart::Scalars | FramePart::Whole => crate::Value::Floats(frame.scalars.clone()),
            FramePart::Triangles => crate::Value::Triangles {
                positions: frame.positions.clone(),
                indices: frame.indices.clone(),
            },
            FramePart::VertexColors => crate::Value::Vec4s(
                frame.colors.iter().map(|&c| crate::srgba8_to_linear(c)).collect(),
            ),
            FramePart::Texels => match &frame.image.as_ref()?.pixels {
                crate::TexturePixels::Rgba8(p) => crate::Value::Colors(p.clone()),
                crate::TexturePixels::RgbaF32(p) => crate::Value::Vec4s(p.clone()),
            },
        })
    }
    fn stream(&self) -> Option<&Arc<Stream>> {
        Some(&self.stream)
    }
    fn bounds(&self) -> Option<(glam::Vec3, glam::Vec3)> {
        self.stream.bounds()
    }
    fn sample_times(&self) -> Vec<f64> {
        self.stream.times()
    }
    fn ready(&self, t: f64) -> bool {
        self.stream.ready(t)
    }
    fn loaded(&self) -> Vec<(f64, f64)> {
        let times = self.stream.times();
        self.stream
            .loaded_ranges()
            .into_iter()
            .filter_map(|(a, b)| Some((*times.get(a)?, *times.get(b)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Frames named by their index: frame k has k + 1 points at x = k; `slow` per decode;
    /// the files in `bad` fail.
    struct Synthetic {
        slow: Duration,
        bad: Vec<usize>,
    }

    fn index(p: &Path) -> usize {
        p.to_string_lossy().trim_start_matches("frame").parse().unwrap_or(usize::MAX)
    }

    impl FrameDecoder for Synthetic {
        fn decode(&self, path: &Path) -> Result<Frame, String> {
            std::thread::sleep(self.slow);
            let k = index(path);
            if self.bad.contains(&k) {
                return Err("corrupt".into());
            }
            Ok(Frame { positions: vec![[k as f32, 0.0, 0.0]; 20], ..Default::default() })
        }
    }

    fn stream(n: usize, slow_ms: u64, bad: Vec<usize>, budget: usize, threads: usize) -> Stream {
        let files = (0..n).map(|k| PathBuf::from(format!("frame{k}"))).collect();
        let times = (0..n).map(|k| k as f64).collect();
        let decoder = Arc::new(Synthetic { slow: Duration::from_millis(slow_ms), bad });
        Stream::new(files, times, decoder, budget, threads)
    }

    /// Waits (a test only) until `t`'s own frame is shown; returns it.
    fn shown(s: &Stream, t: f64, ahead: usize) -> (usize, Arc<Frame>) {
        shown_at(s, t, t as usize, ahead)
    }

    /// Waits until frame `index` is shown at `t` (or has failed).
    fn shown_at(s: &Stream, t: f64, index: usize, ahead: usize) -> (usize, Arc<Frame>) {
        let start = Instant::now();
        loop {
            s.request(t, true, ahead);
            if let Some((i, f)) = s.frame_at(t) {
                if i == index || s.error(index).is_some() {
                    return (i, f);
                }
            }
            assert!(start.elapsed() < Duration::from_secs(10), "frame at {t} never came");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn frames_stream_through_a_budget_and_the_right_one_is_shown() {
        let frame = Frame { positions: vec![[0.0; 3]; 20], ..Default::default() }.bytes();
        let s = stream(50, 0, vec![], 8 * frame, 2);
        for loop_ in 0..10 {
            for k in 0..50 {
                let (i, f) = shown(&s, k as f64 + 0.5, 3);
                assert_eq!(i, k);
                assert_eq!(f.positions[0][0], k as f32, "frame {k} shows its own data");
            }
            let st = s.stats();
            assert!(st.bytes <= st.budget + frame, "loop {loop_}: {st:?}");
        }
        let st = s.stats();
        assert!(st.evicted > 400, "evictions happen: {st:?}");
        assert!(st.cached <= 9);
    }

    /// Playback that moves several frames per step prefetches the frames it will show (in
    /// its direction); a jump is a seek, not a speed.
    #[test]
    fn prefetch_follows_the_speed_and_direction_of_playback() {
        use crate::property::PropertySource;
        let s = Arc::new(stream(100, 500, vec![], usize::MAX, 1));
        let source = StreamSource::new(Arc::clone(&s), FramePart::Positions, 3);
        // What is wanted, and the expected list without what a loader took already.
        let check = |s: &Stream, expected: &[usize], what: &str| {
            let st = s.state();
            let index = |id: &u64| st.entries.iter().position(|e| e.id == *id);
            let wanted: Vec<usize> = st.wanted.iter().filter_map(index).collect();
            let taken: Vec<usize> =
                st.loading.iter().chain(st.cache.keys()).filter_map(index).collect();
            let expected: Vec<usize> =
                expected.iter().copied().filter(|k| !taken.contains(k)).collect();
            assert_eq!(wanted, expected, "{what}");
        };
        source.sample(10.0);
        source.sample(14.0);
        check(&s, &[14, 18, 22, 26], "four frames a step");
        source.sample(12.0);
        check(&s, &[12, 10, 8, 6], "backwards, two a step");
        source.sample(60.0);
        check(&s, &[60, 61, 62, 63], "a seek: the frames after it");
    }

    #[test]
    fn a_stream_source_reports_its_loaded_time_ranges() {
        use crate::property::PropertySource;
        let s = Arc::new(stream(10, 0, vec![], usize::MAX, 1));
        shown(&s, 2.0, 0);
        shown(&s, 3.0, 0);
        shown(&s, 7.0, 0);
        let source = StreamSource::new(Arc::clone(&s), FramePart::Positions, 0);
        assert_eq!(source.loaded(), vec![(2.0, 3.0), (7.0, 7.0)]);
        assert!(source.ready(2.5) && !source.ready(5.0));
    }

    #[test]
    fn a_slow_source_never_blocks_and_shows_the_nearest_loaded_frame() {
        // A decode takes a second; asking takes (much) less, however loaded the machine.
        let s = stream(20, 1000, vec![], usize::MAX, 1);
        let t0 = Instant::now();
        s.request(0.0, true, 0);
        assert!(s.frame_at(0.0).is_none(), "nothing loaded yet");
        assert!(t0.elapsed() < Duration::from_millis(300), "no wait: {:?}", t0.elapsed());
        shown(&s, 0.0, 0);
        // Frame 5 is not there: frame 0 (the nearest loaded) is shown, at once.
        let t1 = Instant::now();
        s.request(5.0, true, 0);
        let (i, _) = s.frame_at(5.0).expect("the nearest");
        assert_eq!(i, 0);
        assert!(t1.elapsed() < Duration::from_millis(300), "no wait: {:?}", t1.elapsed());
        assert_eq!(s.loaded_ranges(), vec![(0, 0)]);
    }

    #[test]
    fn a_seek_drops_prefetches_that_no_longer_matter() {
        let s = stream(100, 30, vec![], usize::MAX, 1);
        s.request(0.0, true, 30);
        std::thread::sleep(Duration::from_millis(45));
        s.request(80.0, true, 5);
        let early = |r: &[(usize, usize)]| -> usize {
            r.iter().filter(|r| r.0 < 50).map(|r| r.1.min(49) - r.0 + 1).sum()
        };
        let at_seek = early(&s.loaded_ranges());
        // Wait for the new window (asking for nothing else).
        let start = Instant::now();
        while !s.loaded_ranges().iter().any(|r| r.0 <= 80 && r.1 >= 85) {
            assert!(start.elapsed() < Duration::from_secs(10), "{:?}", s.loaded_ranges());
            std::thread::sleep(Duration::from_millis(2));
        }
        let loaded: Vec<(usize, usize)> = s.loaded_ranges();
        // At most the frame being decoded at the seek was added (one loader thread).
        assert!(early(&loaded) <= at_seek + 1, "the first prefetches were dropped: {loaded:?}");
        assert!(early(&loaded) < 25, "{loaded:?}");
        assert!(loaded.iter().any(|r| r.0 <= 80 && r.1 >= 85), "{loaded:?}");
    }

    #[test]
    fn a_corrupt_file_is_reported_and_skipped_over() {
        let s = stream(20, 0, vec![10], usize::MAX, 2);
        shown(&s, 9.0, 0);
        let start = Instant::now();
        while s.error(10).is_none() {
            s.request(10.0, true, 0);
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
        let (path, why) = s.error(10).expect("error");
        assert_eq!((path, why.as_str()), (PathBuf::from("frame10"), "corrupt"));
        assert_eq!(s.frame_at(10.5).expect("nearest").0, 9, "the last good frame holds");
        let (i, _) = shown(&s, 11.0, 0);
        assert_eq!(i, 11, "playback goes on");
    }

    #[test]
    fn frames_appended_inserted_and_removed_while_playing() {
        let s = stream(5, 0, vec![], usize::MAX, 2);
        for k in 0..5 {
            shown(&s, k as f64, 1);
        }
        assert!(s.append(PathBuf::from("frame7"), 5.0));
        assert!(!s.append(PathBuf::from("frame8"), 4.0), "times stay increasing");
        assert!(s.insert(2, PathBuf::from("frame9"), 1.5));
        assert_eq!(s.times(), vec![0.0, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0]);
        // The cache knows frames by identity: index 3 (time 2) is still frame 2's data.
        let (i, f) = shown_at(&s, 2.0, 3, 0);
        assert_eq!((i, f.positions[0][0]), (3, 2.0));
        let (i, f) = shown_at(&s, 1.5, 2, 0);
        assert_eq!((i, f.positions[0][0]), (2, 9.0));
        let (i, f) = shown_at(&s, 5.0, 6, 0);
        assert_eq!((i, f.positions[0][0]), (6, 7.0));
        assert!(s.remove(2));
        assert!(!s.remove(99));
        let (i, f) = shown_at(&s, 1.7, 1, 0);
        assert_eq!((i, f.positions[0][0]), (1, 1.0), "1.7 s shows the frame of 1 s again");
        assert_eq!(s.stats().frames, 6);
    }
}
