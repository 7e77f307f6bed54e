//! The GPU pool of streamed frames (issue 23, the GPU side of the streaming engine).
//!
//! A point set whose data come from a stream ([`scene::Property::PointFrame`]) is drawn from
//! this pool: one device buffer, suballocated into a slot per frame (positions, then packed
//! colours), with a byte budget and least-recently-used eviction. Showing a frame that is
//! resident uploads nothing: the point set's device addresses move to its slot. A frame that
//! is not is copied in by a transfer pass of the frame's graph, from a staging buffer that the
//! pass owns (freed once the GPU is done with it). When a sequence fits the budget, the pool
//! asks its stream for every frame in the background and uploads them as they arrive (a
//! bounded number of bytes per frame), so that it then plays with no uploads at all.

use std::collections::HashMap;

use framegraph::FrameGraph;
use xpg::ash::vk;
use xpg::{Buffer, BufferDesc, Context, MemoryUsage};

use crate::gpu::GpuSceneError;
use crate::staging::Staging;

/// Slots start at multiples of this (storage buffer offsets, cache lines).
const ALIGN: u64 = 256;

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// The default GPU budget of the pool: 1 GiB.
pub const DEFAULT_FRAME_BUDGET: u64 = 1 << 30;

/// At most this many bytes of frames that are not shown are uploaded per frame (filling a
/// pool ahead of playback must not stall the frame it runs in).
pub const PRELOAD_BYTES_PER_FRAME: u64 = 256 << 20;

/// Counters of the pool (the stats panel, tests, benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FramePoolStats {
    /// Frames resident.
    pub frames: usize,
    /// Bytes of resident frames.
    pub bytes: u64,
    /// The budget.
    pub budget: u64,
    /// The pool buffer's size (the budget, or a frame larger than it).
    pub capacity: u64,
    /// Frames uploaded so far.
    pub uploads: u64,
    /// Bytes uploaded so far.
    pub uploaded_bytes: u64,
    /// Frames evicted so far.
    pub evictions: u64,
    /// Frames uploaded by the last frame's update.
    pub last_uploads: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    offset: u64,
    size: u64,
    /// Bytes of positions (the colours follow, aligned).
    colors_at: u64,
    /// What the colours were made from (colours, or scalars through which colormap).
    color_key: u64,
    last_used: u64,
}

/// A frame to copy into the pool: its key, what its colours were made from, its data.
pub(crate) struct FrameData<'a> {
    pub key: (u64, u64),
    pub color_key: u64,
    pub positions: &'a [[f32; 3]],
    pub colors: &'a [u32],
}

/// Device addresses of a resident frame's positions and colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameAddresses {
    /// Three f32 per point.
    pub positions: u64,
    /// One packed sRGBA8 u32 per point.
    pub colors: u64,
}

/// The pool (one per [`crate::GpuScene`], kept across uploads of the scene).
pub struct FramePool {
    ctx: Context,
    buffer: Option<Buffer>,
    budget: u64,
    slots: HashMap<(u64, u64), Slot>,
    /// Free ranges (offset, size), sorted, coalesced.
    free: Vec<(u64, u64)>,
    clock: u64,
    stats: FramePoolStats,
    /// Staging buffers of the copies in.
    staging: Staging,
}

impl std::fmt::Debug for FramePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramePool").field("stats", &self.stats()).finish()
    }
}

impl FramePool {
    /// An empty pool of `budget` bytes (the buffer is made at the first frame).
    pub fn new(ctx: &Context, budget: u64) -> Self {
        Self {
            ctx: ctx.clone(),
            buffer: None,
            budget,
            slots: HashMap::new(),
            free: Vec::new(),
            clock: 0,
            stats: FramePoolStats { budget, ..Default::default() },
            staging: Staging::new(ctx),
        }
    }

    /// Counters.
    pub fn stats(&self) -> FramePoolStats {
        FramePoolStats {
            frames: self.slots.len(),
            bytes: self.slots.values().map(|s| s.size).sum(),
            budget: self.budget,
            capacity: self.buffer.as_ref().map_or(0, Buffer::size),
            ..self.stats
        }
    }

    /// Sets the budget; a pool of another size is made again (empty) at the next frame.
    pub fn set_budget(&mut self, budget: u64) {
        if budget != self.budget {
            self.budget = budget;
            self.clear();
        }
    }

    fn clear(&mut self) {
        self.stats.evictions += self.slots.len() as u64;
        self.slots.clear();
        self.free.clear();
        // Dropped buffers are freed once the GPU is done with them.
        self.buffer = None;
    }

    /// Starts a frame (the LRU clock).
    pub(crate) fn begin_frame(&mut self) {
        self.clock += 1;
        self.stats.last_uploads = 0;
        self.staging.retire();
    }

    /// Whether frame `key` is resident with colours made from `color_key`.
    pub fn contains(&self, key: (u64, u64), color_key: u64) -> bool {
        self.slots.get(&key).is_some_and(|s| s.color_key == color_key)
    }

    /// The addresses of resident frame `key` (marked used this frame).
    pub(crate) fn use_frame(&mut self, key: (u64, u64), color_key: u64) -> Option<FrameAddresses> {
        let clock = self.clock;
        let base = self.buffer.as_ref()?.address();
        let slot = self.slots.get_mut(&key).filter(|s| s.color_key == color_key)?;
        slot.last_used = clock;
        Some(FrameAddresses {
            positions: base + slot.offset,
            colors: base + slot.offset + slot.colors_at,
        })
    }

    /// Bytes a frame of `count` points takes in the pool.
    pub fn slot_size(count: usize) -> u64 {
        align(align(count as u64 * 12, 16) + count as u64 * 4, ALIGN).max(ALIGN)
    }

    /// Room for `size` bytes: first fit, evicting the least recently used frames not used
    /// this frame (`evict`: whether it may). None: no room.
    fn allocate(&mut self, size: u64, evict: bool) -> Option<u64> {
        loop {
            if let Some(k) = self.free.iter().position(|&(_, s)| s >= size) {
                let (offset, s) = self.free[k];
                if s == size {
                    self.free.remove(k);
                } else {
                    self.free[k] = (offset + size, s - size);
                }
                return Some(offset);
            }
            if !evict {
                return None;
            }
            let victim = self
                .slots
                .iter()
                .filter(|(_, s)| s.last_used < self.clock)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(&k, _)| k)?;
            self.release(victim);
            self.stats.evictions += 1;
        }
    }

    fn release(&mut self, key: (u64, u64)) {
        let Some(slot) = self.slots.remove(&key) else { return };
        let k = self.free.partition_point(|&(o, _)| o < slot.offset);
        self.free.insert(k, (slot.offset, slot.size));
        // Coalesce with the neighbours.
        if k + 1 < self.free.len() && self.free[k].0 + self.free[k].1 == self.free[k + 1].0 {
            self.free[k].1 += self.free[k + 1].1;
            self.free.remove(k + 1);
        }
        if k > 0 && self.free[k - 1].0 + self.free[k - 1].1 == self.free[k].0 {
            self.free[k - 1].1 += self.free[k].1;
            self.free.remove(k);
        }
    }

    /// Makes sure the pool buffer exists and can hold a slot of `size` bytes.
    fn ensure_buffer(&mut self, size: u64) -> Result<(), GpuSceneError> {
        let have = self.buffer.as_ref().map_or(0, Buffer::size);
        if have >= size && have > 0 {
            return Ok(());
        }
        self.clear();
        let capacity = align(self.budget.max(size), ALIGN);
        let buffer = Buffer::new(
            &self.ctx,
            &BufferDesc {
                size: capacity,
                usage: vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::TRANSFER_DST,
                memory: MemoryUsage::GpuOnly,
                name: "streamed frames",
            },
        )?;
        self.buffer = Some(buffer);
        self.free = vec![(0, capacity)];
        Ok(())
    }

    /// Adds the frames of `frames` that are not resident with a transfer pass of `graph`
    /// (one staging buffer for all): `evict` says whether older frames may make room (the
    /// frames shown; a background fill never evicts). Returns how many were placed; a frame
    /// that does not fit is left out.
    pub(crate) fn upload<'g>(
        &mut self,
        graph: &mut FrameGraph<'g>,
        frames: &[FrameData<'_>],
        evict: bool,
    ) -> Result<usize, GpuSceneError> {
        let mut placed: Vec<(u64, &FrameData<'_>, u64)> = Vec::new();
        let todo: Vec<&FrameData<'_>> =
            frames.iter().filter(|f| !self.contains(f.key, f.color_key)).collect();
        let Some(largest) = todo.iter().map(|f| Self::slot_size(f.positions.len())).max() else {
            return Ok(0);
        };
        // Made (or made larger, empty, for a frame over the budget: frames shown keep their
        // slots otherwise) before any slot is placed.
        if evict || self.buffer.is_none() {
            self.ensure_buffer(largest)?;
        }
        for f in todo {
            // Colours made from something else: the old slot goes.
            self.release(f.key);
            let size = Self::slot_size(f.positions.len());
            let Some(offset) = self.allocate(size, evict) else { continue };
            let colors_at = align(f.positions.len() as u64 * 12, 16);
            self.slots.insert(
                f.key,
                Slot { offset, size, colors_at, color_key: f.color_key, last_used: self.clock },
            );
            placed.push((offset, f, colors_at));
        }
        if placed.is_empty() {
            return Ok(0);
        }
        let total: u64 = placed.iter().map(|(_, f, _)| f.positions.len() as u64 * 16).sum();
        let mut regions = Vec::with_capacity(placed.len() * 2);
        let src = self.staging.stage(graph, total, "streamed frames staging", |map| {
            let mut at = 0usize;
            for (offset, f, colors_at) in &placed {
                let p: &[u8] = bytemuck::cast_slice(f.positions);
                let c: &[u8] = bytemuck::cast_slice(f.colors);
                map[at..at + p.len()].copy_from_slice(p);
                map[at + p.len()..at + p.len() + c.len()].copy_from_slice(c);
                for (src, dst, n) in
                    [(at, *offset, p.len()), (at + p.len(), offset + colors_at, c.len())]
                {
                    if n > 0 {
                        regions.push(
                            vk::BufferCopy::default()
                                .src_offset(src as u64)
                                .dst_offset(dst)
                                .size(n as u64),
                        );
                    }
                }
                at += p.len() + c.len();
            }
        })?;
        self.stats.uploads += placed.len() as u64;
        self.stats.uploaded_bytes += total;
        self.stats.last_uploads += placed.len() as u32;
        let Some(pool) = &self.buffer else { return Ok(0) };
        // Unknown initial state: the copy waits for earlier frames' reads of evicted slots.
        let dst = graph.import_buffer(pool.name(), pool, None, None);
        Staging::add_copy_pass(graph, "stream upload", src, dst, regions);
        Ok(placed.len())
    }

    /// The pool buffer (for readers to declare their accesses), if made.
    pub fn buffer(&self) -> Option<&Buffer> {
        self.buffer.as_ref()
    }

    /// The bytes it can hold: its buffer's size, or the budget before the buffer is made.
    pub fn capacity(&self) -> u64 {
        self.buffer.as_ref().map_or(self.budget, Buffer::size)
    }

    /// Free bytes (not counting what evictions could make).
    pub fn free_bytes(&self) -> u64 {
        match &self.buffer {
            Some(_) => self.free.iter().map(|f| f.1).sum(),
            None => self.budget,
        }
    }
}
