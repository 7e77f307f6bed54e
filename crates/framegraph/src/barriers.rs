//! Barrier placement: walks the live passes in order, tracking the state of every subresource
//! (each mip level of each layer of an image, the whole of a buffer), and emits the minimal
//! barriers:
//!
//! - read after read in the same layout: none;
//! - read after write: one barrier whose destination covers this reader **and every later
//!   reader in the same layout before the next write** (so several readers share it);
//! - write after read: an execution dependency only (no memory access to make available);
//! - write after write: the earlier write made available, visible to the new one;
//! - any layout change: an image barrier whose source covers the last write and every read
//!   since (the transition must wait for them);
//! - a transient's first use starts from UNDEFINED; if its memory was used by an earlier
//!   transient (aliasing), that one's accesses are the source scope.
//!
//! Per-subresource barriers of one pass are then merged into ranges.

use xpg::vk;

use crate::access::AccessInfo;
use crate::graph::Subresources;

/// One barrier of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    /// Resource id in the graph.
    pub resource: u32,
    /// For images: the subresources and the layout transition.
    pub image: Option<ImageTransition>,
    /// Source stages.
    pub src_stage: vk::PipelineStageFlags2,
    /// Source accesses (made available).
    pub src_access: vk::AccessFlags2,
    /// Destination stages.
    pub dst_stage: vk::PipelineStageFlags2,
    /// Destination accesses (made visible).
    pub dst_access: vk::AccessFlags2,
}

/// The image part of a [`Barrier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageTransition {
    /// Mips and layers.
    pub range: Subresources,
    /// Layout before.
    pub old_layout: vk::ImageLayout,
    /// Layout after.
    pub new_layout: vk::ImageLayout,
}

/// The write bits of an access mask: only writes need to be made available (source scope).
pub(crate) fn writes_of(access: vk::AccessFlags2) -> vk::AccessFlags2 {
    use vk::AccessFlags2 as A;
    access
        & (A::SHADER_WRITE
            | A::SHADER_STORAGE_WRITE
            | A::COLOR_ATTACHMENT_WRITE
            | A::DEPTH_STENCIL_ATTACHMENT_WRITE
            | A::TRANSFER_WRITE
            | A::HOST_WRITE
            | A::MEMORY_WRITE
            | A::ACCELERATION_STRUCTURE_WRITE_KHR)
}

/// Tracked state of one subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SubState {
    pub layout: vk::ImageLayout,
    pub write_stage: vk::PipelineStageFlags2,
    pub write_access: vk::AccessFlags2,
    pub read_stage: vk::PipelineStageFlags2,
    pub read_access: vk::AccessFlags2,
    pub visible_stage: vk::PipelineStageFlags2,
    pub visible_access: vk::AccessFlags2,
}

impl SubState {
    pub(crate) const FRESH: Self = Self {
        layout: vk::ImageLayout::UNDEFINED,
        write_stage: vk::PipelineStageFlags2::NONE,
        write_access: vk::AccessFlags2::NONE,
        read_stage: vk::PipelineStageFlags2::NONE,
        read_access: vk::AccessFlags2::NONE,
        visible_stage: vk::PipelineStageFlags2::NONE,
        visible_access: vk::AccessFlags2::NONE,
    };

    /// The state after `last` (an access before the frame).
    pub(crate) fn after(last: AccessInfo, is_image: bool) -> Self {
        let layout = if is_image { last.layout } else { vk::ImageLayout::UNDEFINED };
        if last.write {
            Self {
                layout,
                write_stage: last.stage,
                write_access: writes_of(last.access),
                ..Self::FRESH
            }
        } else {
            // The write before it was made visible to this read only: other readers need a
            // barrier chained after it (source = its stage, nothing left to make available).
            Self {
                layout,
                write_stage: last.stage,
                read_stage: last.stage,
                read_access: last.access,
                visible_stage: last.stage,
                visible_access: last.access,
                ..Self::FRESH
            }
        }
    }
}

/// The barrier (if any) that must precede `next` on a subresource in state `state`, and the
/// state after `next`. `later_reads` is the union of the reads that follow `next` in the same
/// layout before the next write (used to share one barrier among readers).
/// A dependency to record before an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dependency {
    pub src_stage: vk::PipelineStageFlags2,
    pub src_access: vk::AccessFlags2,
    pub dst_stage: vk::PipelineStageFlags2,
    pub dst_access: vk::AccessFlags2,
    pub old_layout: vk::ImageLayout,
    pub new_layout: vk::ImageLayout,
}

pub(crate) fn transition(
    state: &SubState,
    next: AccessInfo,
    is_image: bool,
    later_reads: impl FnOnce() -> (vk::PipelineStageFlags2, vk::AccessFlags2),
) -> (Option<Dependency>, SubState) {
    let new_layout = if is_image { next.layout } else { vk::ImageLayout::UNDEFINED };
    let layout_change = is_image && new_layout != state.layout;
    if next.write || layout_change {
        let src_stage = state.write_stage | state.read_stage;
        let src_access = state.write_access;
        let barrier = if src_stage.is_empty() && !layout_change {
            None
        } else {
            let (dst_stage, dst_access) = if next.write {
                (next.stage, next.access)
            } else {
                let later = later_reads();
                (next.stage | later.0, next.access | later.1)
            };
            Some(Dependency {
                src_stage,
                src_access,
                dst_stage,
                dst_access,
                old_layout: state.layout,
                new_layout,
            })
        };
        let after = if next.write {
            SubState {
                layout: new_layout,
                write_stage: next.stage,
                write_access: writes_of(next.access),
                ..SubState::FRESH
            }
        } else {
            // The transition made the last write visible to these readers.
            let (vs, va) =
                barrier.map(|b| (b.dst_stage, b.dst_access)).unwrap_or((next.stage, next.access));
            SubState {
                layout: new_layout,
                read_stage: next.stage,
                read_access: next.access,
                visible_stage: vs,
                visible_access: va,
                ..SubState::FRESH
            }
        };
        return (barrier, after);
    }
    // A read in the current layout.
    let mut after = *state;
    after.read_stage |= next.stage;
    after.read_access |= next.access;
    let covered =
        state.visible_stage.contains(next.stage) && state.visible_access.contains(next.access);
    if state.write_stage.is_empty() || covered {
        return (None, after);
    }
    let later = later_reads();
    let dst_stage = next.stage | later.0;
    let dst_access = next.access | later.1;
    after.visible_stage |= dst_stage;
    after.visible_access |= dst_access;
    // The write is now available, and visible to every read up to the next write (the
    // destination includes them): a later write only needs to wait for the reads, which chain
    // after this barrier.
    after.write_stage = vk::PipelineStageFlags2::NONE;
    after.write_access = vk::AccessFlags2::NONE;
    let dep = Dependency {
        src_stage: state.write_stage,
        src_access: state.write_access,
        dst_stage,
        dst_access,
        old_layout: state.layout,
        new_layout: state.layout,
    };
    (Some(dep), after)
}

/// Merges per-subresource image barriers of one pass into ranges: consecutive mips of a layer
/// first, then consecutive layers with the same mip range.
pub(crate) fn merge(mut barriers: Vec<Barrier>) -> Vec<Barrier> {
    if barriers.len() < 2 {
        return barriers;
    }
    let key = |b: &Barrier| {
        (
            b.resource,
            b.image.map(|i| (i.old_layout.as_raw(), i.new_layout.as_raw())),
            b.src_stage.as_raw(),
            b.src_access.as_raw(),
            b.dst_stage.as_raw(),
            b.dst_access.as_raw(),
        )
    };
    let range = |b: &Barrier| b.image.map(|i| i.range);
    barriers.sort_by_key(|b| (key(b), range(b).map(|r| (r.base_layer, r.base_mip))));
    let mut by_mip: Vec<Barrier> = Vec::new();
    for b in barriers {
        if let (Some(last), Some(r)) = (by_mip.last_mut(), b.image.map(|i| i.range)) {
            if key(last) == key(&b) {
                if let Some(li) = last.image.as_mut() {
                    let lr = &mut li.range;
                    if lr.base_layer == r.base_layer
                        && lr.layer_count == r.layer_count
                        && lr.base_mip + lr.mip_count == r.base_mip
                    {
                        lr.mip_count += r.mip_count;
                        continue;
                    }
                }
            }
        }
        if b.image.is_none() {
            if let Some(last) = by_mip.last_mut() {
                if key(last) == key(&b) {
                    continue;
                }
            }
        }
        by_mip.push(b);
    }
    by_mip.sort_by_key(|b| (key(b), range(b).map(|r| (r.base_mip, r.mip_count, r.base_layer))));
    let mut out: Vec<Barrier> = Vec::new();
    for b in by_mip {
        if let (Some(last), Some(r)) = (out.last_mut(), b.image.map(|i| i.range)) {
            if key(last) == key(&b) {
                if let Some(li) = last.image.as_mut() {
                    let lr = &mut li.range;
                    if lr.base_mip == r.base_mip
                        && lr.mip_count == r.mip_count
                        && lr.base_layer + lr.layer_count == r.base_layer
                    {
                        lr.layer_count += r.layer_count;
                        continue;
                    }
                }
            }
        }
        out.push(b);
    }
    // Stable, readable order: by resource, then by range.
    out.sort_by_key(|b| (b.resource, range(b).map(|r| (r.base_mip, r.base_layer))));
    out
}
