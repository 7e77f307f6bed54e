//! History resources: images whose contents and synchronization state carry over from one
//! frame to the next (an accumulation buffer, a previous frame for temporal filters, a
//! viewport's displayed image).
//!
//! The model is kajiya's temporal resources: the resource lives outside any one graph; each
//! frame's graph takes it with [`FrameGraph::use_history`], which starts its tracking from
//! where the previous frame's plan left every subresource (layout, last writes and reads), and
//! the executor records the plan's end state back into it once the frame is recorded
//! ([`FrameGraph::commit_history`] does the same for plan-only use). Nobody tracks "was this
//! image used before" by hand: a fresh image starts undefined with nothing to wait for, and
//! [`HistoryImage::discard`] drops the contents (the next use starts from layout UNDEFINED)
//! while still waiting for the previous frame's accesses.

use std::sync::{Arc, Mutex, PoisonError};

use xpg::{vk, Context, GpuError, Image, ImageDesc};

use crate::access::Access;
use crate::barriers::SubState;
use crate::compile::Plan;
use crate::graph::{
    FrameGraph, GraphError, ImageHandle, ImageInfo, ImportedRaw, Origin, ResourceKind,
};

/// Between frames: where each subresource stands.
#[derive(Debug, Default)]
pub(crate) struct HistoryState {
    /// End state of the last committed frame (None: never used).
    subs: Option<Vec<SubState>>,
    /// The next frame starts from undefined contents.
    discard: bool,
    /// Bumped by every commit and discard: a graph built on an older state must not run.
    generation: u64,
}

pub(crate) type HistoryCell = Arc<Mutex<HistoryState>>;

/// A graph resource's link to its history: the state it started from and where to put the
/// state it ends in.
#[derive(Debug, Clone)]
pub(crate) struct HistoryLink {
    pub cell: HistoryCell,
    /// Per subresource, the state at the start of the frame (None: fresh).
    pub resume: Option<Vec<SubState>>,
    /// The state's generation when the graph took it.
    pub generation: u64,
}

/// An image that keeps its contents and its state across frames (see the module docs).
#[derive(Debug)]
pub struct HistoryImage {
    name: String,
    info: ImageInfo,
    image: Option<Image>,
    state: HistoryCell,
}

impl HistoryImage {
    /// Creates the image (`usage` as the passes that will use it need; it starts undefined).
    pub fn new(
        ctx: &Context,
        name: &str,
        info: ImageInfo,
        usage: vk::ImageUsageFlags,
    ) -> Result<Self, GpuError> {
        let desc = ImageDesc {
            extent: info.extent,
            format: info.format,
            mip_levels: info.mip_levels,
            array_layers: info.array_layers,
            usage,
            cube: false,
            array: info.array,
            name,
        };
        let image = Image::new(ctx, &desc)?;
        Ok(Self { name: name.to_string(), info, image: Some(image), state: HistoryCell::default() })
    }

    /// Takes over an image made elsewhere (one that has never been used by the GPU).
    pub fn from_image(image: Image) -> Self {
        let e = image.extent();
        let info = ImageInfo {
            extent: e,
            format: image.format(),
            mip_levels: image.mip_levels(),
            array_layers: image.array_layers(),
            array: false,
            samples: 1,
        };
        Self {
            name: image.name().to_string(),
            info,
            image: Some(image),
            state: HistoryCell::default(),
        }
    }

    /// A history image with no Vulkan object, for plan tests and tools.
    pub fn for_planning(name: &str, info: ImageInfo) -> Self {
        Self { name: name.to_string(), info, image: None, state: HistoryCell::default() }
    }

    /// The image (None for one made by [`HistoryImage::for_planning`]).
    pub fn image(&self) -> Option<&Image> {
        self.image.as_ref()
    }

    /// Its shape.
    pub fn info(&self) -> ImageInfo {
        self.info
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next frame that uses it starts from undefined contents (layout UNDEFINED), after
    /// the previous frame's accesses to it.
    pub fn discard(&self) {
        let mut s = self.lock();
        s.discard = true;
        // A graph that took the image before keeps the contents: it must not run any more.
        s.generation += 1;
    }

    /// Whether the next frame starts from undefined contents (never used, or discarded).
    pub fn is_fresh(&self) -> bool {
        let s = self.lock();
        s.discard || s.subs.is_none()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HistoryState> {
        // The state is plain data written whole: a panic elsewhere cannot leave it half made.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FrameGraph<'_> {
    /// Takes history image `history` into this frame, starting from the state the last
    /// committed frame left it in. `final_access`: a state to leave it in at the end of the
    /// frame (for a use outside the graph, such as the UI sampling it); None leaves it as the
    /// frame's last pass did. Using the same history image twice in one graph returns the
    /// same resource at its latest version.
    pub fn use_history(
        &mut self,
        history: &HistoryImage,
        final_access: Option<Access>,
    ) -> ImageHandle {
        let taken = self
            .resources
            .iter()
            .any(|r| r.history.as_ref().is_some_and(|h| Arc::ptr_eq(&h.cell, &history.state)));
        if let (Some(img), false) = (&history.image, taken) {
            let raw = img.raw();
            let imported = self
                .resources
                .iter()
                .any(|r| matches!(r.raw, ImportedRaw::Image { image, .. } if image == raw));
            if imported {
                self.errors.push(GraphError::InvalidAccess {
                    pass: format!("(history '{}')", history.name),
                    message: "the image is also imported as a plain image: its state would be \
                              tracked twice"
                        .into(),
                });
            }
        }
        if let Some(id) = self
            .resources
            .iter()
            .position(|r| r.history.as_ref().is_some_and(|h| Arc::ptr_eq(&h.cell, &history.state)))
        {
            let r = &mut self.resources[id];
            if let (Origin::Imported { final_access: f, .. }, Some(a)) =
                (&mut r.origin, final_access)
            {
                *f = Some(a);
            }
            return ImageHandle { id: id as u32, version: r.version };
        }
        let (resume, generation) = {
            let s = history.lock();
            let resume = s.subs.clone().map(|mut subs| {
                if s.discard {
                    for sub in &mut subs {
                        sub.layout = vk::ImageLayout::UNDEFINED;
                    }
                }
                subs
            });
            (resume, s.generation)
        };
        let raw = match &history.image {
            Some(i) => ImportedRaw::Image { image: i.raw(), view: i.view() },
            None => ImportedRaw::None,
        };
        let id = self.add_resource(
            &history.name,
            ResourceKind::Image(history.info),
            Origin::Imported { initial: None, final_access },
            raw,
        );
        self.resources[id as usize].history =
            Some(HistoryLink { cell: history.state.clone(), resume, generation });
        ImageHandle { id, version: 0 }
    }

    /// Records the end state of this graph's history images as `plan` leaves them, so the
    /// next frame starts from it. [`Executor::execute`](crate::Executor::execute) calls it
    /// once the frame is recorded; call it yourself only when planning without executing.
    pub fn commit_history(&self, plan: &Plan) -> Result<(), GraphError> {
        let links = self.history_links();
        check_current(&links)?;
        commit(&links, plan);
        Ok(())
    }

    /// The history images of this graph: resource id, name and link.
    pub(crate) fn history_links(&self) -> Vec<(u32, String, HistoryLink)> {
        self.resources
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.history.clone().map(|h| (i as u32, r.name.clone(), h)))
            .collect()
    }
}

/// Fails when a history image changed (another frame committed, or it was discarded) since
/// the graph took it: the graph's barriers start from a state that is gone.
pub(crate) fn check_current(links: &[(u32, String, HistoryLink)]) -> Result<(), GraphError> {
    for (_, name, link) in links {
        let now = link.cell.lock().unwrap_or_else(PoisonError::into_inner).generation;
        if now != link.generation {
            return Err(GraphError::StaleHistory { resource: name.clone() });
        }
    }
    Ok(())
}

/// Records `plan`'s end states into the history images (by resource id).
pub(crate) fn commit(links: &[(u32, String, HistoryLink)], plan: &Plan) {
    for (r, end) in &plan.history_end {
        if let Some((_, _, link)) = links.iter().find(|(id, ..)| id == r) {
            let mut s = link.cell.lock().unwrap_or_else(PoisonError::into_inner);
            s.subs = Some(end.clone());
            s.discard = false;
            s.generation += 1;
        }
    }
}
