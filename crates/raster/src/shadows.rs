//! The raster's shadow maps: which lights cast shadows (those whose `shadows` is on, in the
//! scene's light order, up to [`MAX_SHADOW_LAYERS`] layers: [`CASCADES`] for a directional
//! light, one for a spot light, six for a point light's cube), each layer's world-to-clip
//! matrix, and the per-light parameters the forward pass reads. A directional light's
//! cascades split the view's depth range (nearer cascades cover less, so their texels are
//! smaller), each an orthographic box around its slice of the view frustum, snapped to its
//! texels so that shadows do not shimmer as the camera moves, deep enough for everything in
//! the scene that may cast into it. Spot and point maps are fitted to the scene's bounds. Made from the GPU
//! scene's light list whenever its scene or versions change, and written to the raster's own
//! buffers by a transfer pass of the frame's graph.
//!
//! The maps live across frames; a layer is drawn again only when something that casts into it
//! changed (the scene, its casters' geometry, materials or transforms, the map size, the
//! viewport's hidden nodes) or its matrix did (a cascade follows the camera, a light moved),
//! or the view needs more of it than was drawn: a cascade is drawn and read only in its rect,
//! where its slice of the view meets the scene's bounds (grown by [`RECT_SLACK`] when drawn
//! again for that alone; empty: not drawn); [`Shadows::renders`] counts the frames that drew
//! any.

use framegraph::{Access, BufferHandle, FrameGraph};
use glam::{Mat4, Vec3};
use render::{GpuLight, GpuScene, RenderError};
use scene::{Versions, View};
use xpg::{vk, Buffer, Context};

/// Layers of shadow maps at most (a point light takes six: its cube's faces; a directional
/// light [`CASCADES`]).
pub const MAX_SHADOW_LAYERS: usize = 16;

/// Cascades of a directional light's shadow map.
pub const CASCADES: usize = 4;

/// The shadow data of one GPU scene (at its versions) and its buffers.
#[derive(Default)]
pub(crate) struct Shadows {
    key: Option<(u64, Versions)>,
    /// World-to-clip matrix of each shadow map layer: first the layers that do not depend on
    /// the view (spot and point lights: the scene's shared maps), then the view's (cascades).
    pub(crate) matrices: Vec<Mat4>,
    /// Per layer: the part of it that holds the casters' depths and may be read (uv min,
    /// max: a cascade's view slice, or more of it drawn before).
    pub(crate) rects: Vec<[f32; 4]>,
    /// Per layer: the part that receivers in the view need ([`build`]'s rects).
    needed: Vec<[f32; 4]>,
    /// How many of them are shared.
    pub(crate) shared: usize,
    /// Per light: first layer (or -1 without a shadow map), tan(half field of view) (0:
    /// orthographic), then near and far of the projection (spot, point: the depth bias in
    /// world units) or the number of cascades and where the rects start (directional).
    per_light: Vec<[f32; 4]>,
    /// Matrices (4 columns per layer), the per-light parameters, then the rects.
    buffer: Option<Buffer>,
    /// Written by a pass of the next graph.
    dirty: bool,
    /// The view's maps (its cascades), kept across frames.
    view_maps: MapSet,
    /// Layers this renderer drew in its last frame (shared and the view's).
    pub(crate) layers_drawn: usize,
    /// How many times the maps were drawn.
    pub(crate) renders: u64,
    /// Lights that should cast shadows but do not: past [`MAX_SHADOW_LAYERS`].
    pub(crate) dropped: usize,
}

/// What the shadow maps' content depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MapKey {
    scene: u64,
    /// [`Casters::generation`]: what casts shadows, where.
    casters: u64,
    size: u32,
    hidden: u64,
}

/// Follows what casts into the shadow maps of one GPU scene (kept in [`GpuScene::with_shared`]
/// so that every viewport agrees): a new generation when the scene's structure, materials
/// (alpha masks, emitters), deformations or geometry changed, or when its draws did (their
/// transforms, flags). A change of lights or of a light's node alone keeps the generation:
/// only the layers whose matrix moved are drawn again (one light moving keeps the others'
/// maps).
#[derive(Default)]
struct Casters {
    /// The scene and versions last seen, and a copy of its draws then (a copy: the GPU scene
    /// reuses its own lists).
    seen: Option<(u64, Versions)>,
    draws: Vec<render::GpuDraw>,
    generation: u64,
}

impl Casters {
    fn generation(&mut self, scene: &GpuScene) -> u64 {
        let v = scene.versions;
        let same = match self.seen {
            Some((id, seen)) if id == scene.id && seen == v => return self.generation,
            Some((id, seen)) => {
                id == scene.id
                    && (seen.structure, seen.materials, seen.deform, seen.geometry)
                        == (v.structure, v.materials, v.deform, v.geometry)
                    && bytemuck::cast_slice::<_, u8>(&self.draws)
                        == bytemuck::cast_slice::<_, u8>(scene.draw_list.as_slice())
            }
            None => false,
        };
        self.seen = Some((scene.id, v));
        if !same {
            // (The same draws need no copy.)
            self.generation += 1;
            self.draws.clear();
            self.draws.extend_from_slice(&scene.draw_list);
        }
        self.generation
    }
}

/// An array of shadow map layers kept across frames, and what they were drawn for.
#[derive(Default)]
struct MapSet {
    maps: Option<xpg::Image>,
    /// What the maps were drawn for (None: never), and each layer's matrix and drawn rect then.
    drawn: Option<MapKey>,
    drawn_matrices: Vec<Mat4>,
    drawn_rects: Vec<[f32; 4]>,
}

/// Whether rect `a` (uv min, max) holds rect `b`; an empty `b` is held by any.
fn holds(a: [f32; 4], b: [f32; 4]) -> bool {
    empty(b) || (a[0] <= b[0] && a[1] <= b[1] && a[2] >= b[2] && a[3] >= b[3])
}

/// Whether a rect holds no texel.
pub(crate) fn empty(r: [f32; 4]) -> bool {
    !(r[2] > r[0] && r[3] > r[1])
}

/// What a layer whose matrix stays is drawn again with when the view needs more of it than
/// was drawn: that rect grown by this share of the layer on each side (clamped to it), so
/// that a camera moving on does not redraw it every frame.
const RECT_SLACK: f32 = 1.0 / 16.0;

impl MapSet {
    /// The maps for `matrices` imported into `graph` (one layer per matrix, at least one), and
    /// the layers to draw in it: all when what casts into them changed (`key`) or the maps are
    /// new, else those whose matrix changed or whose drawn part does not hold what `rects`
    /// (per layer) needs now; empty rects are not drawn. `rects` becomes what each layer
    /// holds (drawn now or before: what may be read). The same maps imported twice into one
    /// graph (two viewports sharing them) are one resource there, drawn by the first.
    fn import(
        &mut self,
        ctx: &Context,
        graph: &mut FrameGraph<'_>,
        (name, format): (&str, vk::Format),
        key: MapKey,
        (matrices, rects): (&[Mat4], &mut [[f32; 4]]),
    ) -> Result<(framegraph::ImageHandle, Vec<u32>), RenderError> {
        let (layers, size) = (matrices.len().max(1) as u32, key.size);
        let fits = self.maps.as_ref().is_some_and(|m| {
            m.extent().width == size && m.array_layers() == layers && m.format() == format
        });
        if !fits {
            // The old maps are freed once the frames using them are done.
            self.maps = Some(xpg::Image::new(
                ctx,
                &xpg::ImageDesc::d2(
                    name,
                    size,
                    size,
                    format,
                    vk::ImageUsageFlags::DEPTH_STENCIL_ATTACHMENT | vk::ImageUsageFlags::SAMPLED,
                )
                .layers(layers)
                .array(),
            )?);
            self.drawn = None;
        }
        let maps = self
            .maps
            .as_ref()
            .ok_or_else(|| RenderError::Internal("shadow maps missing".into()))?;
        let all = self.drawn != Some(key) || self.drawn_rects.len() != rects.len();
        let mut draw = Vec::new();
        for (l, rect) in rects.iter_mut().enumerate() {
            let moved = all || self.drawn_matrices.get(l) != Some(&matrices[l]);
            let before = self.drawn_rects.get(l).copied().unwrap_or([0.0; 4]);
            if !moved && holds(before, *rect) {
                *rect = before;
                continue;
            }
            if !moved {
                // The same matrix, more of it needed: a little more than that.
                let grow = |v: f32, d: f32| (v + d).clamp(0.0, 1.0);
                let s = RECT_SLACK;
                *rect = [grow(rect[0], -s), grow(rect[1], -s), grow(rect[2], s), grow(rect[3], s)];
            }
            if !empty(*rect) {
                draw.push(l as u32);
            }
        }
        let info = framegraph::ImageInfo::d2(size, size, format).layers(layers).array();
        // New maps: nothing to wait for, no content. Else as the last frame's forward pass
        // left them (sampled): a layer drawn again waits for those reads.
        let initial = fits.then_some(Access::SampledFragment);
        let h = graph.import_image(
            name,
            maps.raw(),
            maps.view(),
            info,
            initial,
            Some(Access::SampledFragment),
        );
        self.drawn = Some(key);
        self.drawn_matrices = matrices.to_vec();
        self.drawn_rects = rects.to_vec();
        Ok((h, draw))
    }
}

/// The shadow maps of spot and point lights (and of emitters), which do not depend on the
/// view: one set per GPU scene for every viewport that draws it with the same map size,
/// hidden nodes and number of shared layers (viewports whose area-light settings differ may
/// give the emitters different numbers of maps) ([`GpuScene::with_shared`]).
#[derive(Default)]
struct SharedMaps {
    sets: Vec<((u32, u64, usize), MapSet)>,
}

/// Views with different hidden nodes, map sizes or shared layer counts at most, each with its
/// own shared set.
const SHARED_SETS: usize = 8;

/// The shadow maps of one frame: the scene's shared layers and the view's, and the layers to
/// draw: (matrix index, whether it is a shared layer, its layer in its maps).
pub(crate) struct FrameMaps {
    pub(crate) shared: framegraph::ImageHandle,
    pub(crate) view: framegraph::ImageHandle,
    pub(crate) draw: Vec<(u32, bool, u32)>,
}

impl Shadows {
    /// Brings the data up to `scene` seen in `view` with maps of `size` texels (a new scene,
    /// lights or transforms that changed, cascades that follow the camera).
    pub(crate) fn refresh(
        &mut self,
        ctx: &Context,
        scene: &GpuScene,
        (lights, casts): (&[GpuLight], &[bool]),
        view: &View,
        size: u32,
    ) -> Result<(), RenderError> {
        let fit = Fit { bounds: scene.bounds, view: Some(view), size };
        let Layers { matrices, rects, shared, per_light } = build(lights, casts, &fit);
        self.shared = shared;
        let dropped = dropped(&per_light, casts);
        if dropped != self.dropped && dropped > 0 {
            tracing::warn!(
                "{dropped} light(s) cast no shadow: their maps would pass {MAX_SHADOW_LAYERS} \
                 layers (directional lights take 4, point lights 6, spot lights 1)"
            );
        }
        self.dropped = dropped;
        let key = (scene.id, scene.versions);
        if self.key == Some(key)
            && matrices == self.matrices
            && per_light == self.per_light
            && rects == self.needed
        {
            return Ok(());
        }
        (self.matrices, self.per_light, self.rects) = (matrices, per_light, rects.clone());
        self.needed = rects;
        // 4 columns per matrix, one vec4 per light, one per rect.
        let size = (80 * self.matrices.len() + 16 * self.per_light.len()) as u64;
        if self.buffer.as_ref().is_none_or(|b| b.size() < size) {
            // The old buffer is freed once the frames using it are done.
            self.buffer = Some(Buffer::new(
                ctx,
                &xpg::BufferDesc {
                    size: size.next_power_of_two().max(256),
                    usage: vk::BufferUsageFlags::STORAGE_BUFFER
                        | vk::BufferUsageFlags::TRANSFER_DST,
                    memory: xpg::MemoryUsage::GpuOnly,
                    name: "raster shadows",
                },
            )?);
        }
        self.key = Some(key);
        self.dirty = true;
        Ok(())
    }

    fn bytes(&self) -> Vec<u8> {
        let cols: Vec<[[f32; 4]; 4]> = self.matrices.iter().map(|m| m.to_cols_array_2d()).collect();
        let mut out = bytemuck::cast_slice(&cols).to_vec();
        out.extend_from_slice(bytemuck::cast_slice(&self.per_light));
        out.extend_from_slice(bytemuck::cast_slice(&self.rects));
        out
    }

    /// Imports the buffer into `graph`, with a transfer pass writing it first when the data
    /// changed. None before the first [`Shadows::refresh`].
    pub(crate) fn import(&mut self, graph: &mut FrameGraph<'_>) -> Option<BufferHandle> {
        let buffer = self.buffer.as_ref()?;
        // Rewritten: the write waits for every earlier use (earlier frames read it in vertex
        // and fragment stages). Else it was last read, its write long made visible.
        let initial = (!self.dirty).then_some(Access::StorageReadVertex);
        let mut h = graph.import_buffer(buffer.name(), buffer, initial, None);
        if std::mem::take(&mut self.dirty) {
            let bytes = self.bytes();
            let hh = h;
            graph
                .add_pass("raster shadow data")
                .write(&mut h, Access::TransferDst)
                .record(move |pc| pc.update_buffer(&hh, 0, &bytes));
        }
        Some(h)
    }

    /// The maps of this frame imported into `graph`: the scene's shared maps (spot and point
    /// lights; drawn by the first viewport that needs them) and the view's (cascades), and
    /// the layers to draw in them: all when what casts into them changed (`scene`, its
    /// [`Casters`], the map `size`, the `hidden` nodes' hash) or the maps are new, else those
    /// whose matrix changed or whose drawn rect does not hold what the view needs; the rects
    /// become what the layers hold (the shadow data is written again when they change). The
    /// shared maps are of the first format, the view's of the second.
    pub(crate) fn import_maps(
        &mut self,
        ctx: &Context,
        graph: &mut FrameGraph<'_>,
        scene: &GpuScene,
        size: u32,
        hidden: u64,
        (shared_format, view_format): (vk::Format, vk::Format),
    ) -> Result<FrameMaps, RenderError> {
        let casters = scene.with_shared(|c: &mut Casters| c.generation(scene));
        let key = MapKey { scene: scene.id, casters, size, hidden };
        let (shared_matrices, view_matrices) = self.matrices.split_at(self.shared);
        let before = self.rects.clone();
        let (shared_rects, view_rects) = self.rects.split_at_mut(self.shared);
        let (shared, shared_draw) = scene.with_shared(|store: &mut SharedMaps| {
            let set = (size, hidden, shared_matrices.len());
            let at = match store.sets.iter().position(|(k, _)| *k == set) {
                Some(at) => at,
                None => {
                    if store.sets.len() == SHARED_SETS {
                        store.sets.remove(0);
                    }
                    store.sets.push((set, MapSet::default()));
                    store.sets.len() - 1
                }
            };
            let name = ("shared shadow maps", shared_format);
            store.sets[at].1.import(ctx, graph, name, key, (shared_matrices, shared_rects))
        })?;
        let (view, view_draw) = self.view_maps.import(
            ctx,
            graph,
            ("shadow maps", view_format),
            key,
            (view_matrices, view_rects),
        )?;
        // The rects the forward pass reads are what the layers hold.
        if self.rects != before {
            self.dirty = true;
        }
        let s = self.shared as u32;
        let draw: Vec<(u32, bool, u32)> = shared_draw
            .into_iter()
            .map(|l| (l, true, l))
            .chain(view_draw.into_iter().map(|l| (s + l, false, l)))
            .collect();
        self.layers_drawn = draw.len();
        if !draw.is_empty() {
            self.renders += 1;
        }
        Ok(FrameMaps { shared, view, draw })
    }

    /// Whether the view's maps (directional lights: orthographic) may hold 16-bit depth for
    /// maps of `size` texels: one step of it, 1 / 65535 of each layer's depth range, is at most
    /// one of its texels (the bias already allows a texel of depth per unit of slope), so a
    /// deep scene (kilometres along the light) keeps 32-bit depth.
    pub(crate) fn view_depth_16(&self, size: u32) -> bool {
        depth_16(&self.matrices[self.shared.min(self.matrices.len())..], size)
    }

    /// Device addresses of the matrices and of the per-light parameters (0 before the first
    /// refresh).
    pub(crate) fn addresses(&self) -> (u64, u64) {
        let base = self.buffer.as_ref().map_or(0, Buffer::address);
        if base == 0 {
            return (0, 0);
        }
        (base, base + 64 * self.matrices.len() as u64)
    }
}

/// What the maps are fitted to: the scene's bounds, the view (cascades; None: a directional
/// light gets one map around the whole scene) and the maps' size in texels (snapping).
pub(crate) struct Fit<'a> {
    pub(crate) bounds: (Vec3, Vec3),
    pub(crate) view: Option<&'a View>,
    pub(crate) size: u32,
}

/// The shadow map layers of some lights: what [`build`] makes.
#[derive(Debug)]
struct Layers {
    /// World-to-clip, per layer: the shared ones (spot, point), then the view's.
    matrices: Vec<Mat4>,
    /// Per layer, the part drawn and read: uv min and max (a cascade's view slice, with room
    /// for the filter; the whole layer for the others).
    rects: Vec<[f32; 4]>,
    /// How many layers are shared.
    shared: usize,
    /// Per light: first layer (-1: none), tan(half field of view) (0: orthographic), then
    /// near and far (spot, point) or the number of cascades and the index of the first rect
    /// among the per-light entries and rects that follow them (directional).
    per_light: Vec<[f32; 4]>,
}

/// Whether the orthographic maps of `matrices` (world to clip) of `size` texels may hold
/// 16-bit depth ([`Shadows::view_depth_16`]).
fn depth_16(matrices: &[Mat4], size: u32) -> bool {
    matrices.iter().all(|m| {
        // Per world unit: x of the map (2 / width) and depth (1 / range).
        let row = |i: usize| Vec3::new(m.x_axis[i], m.y_axis[i], m.z_axis[i]).length();
        let (per_x, per_z) = (row(0), row(2));
        let texel = 2.0 / (per_x * size.max(1) as f32);
        per_z > 0.0 && 1.0 / (per_z * 65535.0) <= texel
    })
}

/// The full layer, as a rect.
pub(crate) const WHOLE: [f32; 4] = [0.0, 0.0, 1.0, 1.0];

/// The texels of a layer of `extent` that rect `rect` (uv min, max) covers, at least one
/// (the render area of its shadow pass).
pub(crate) fn texel_area(rect: [f32; 4], extent: vk::Extent2D) -> vk::Rect2D {
    let texel = |uv: f32, n: u32| ((uv * n as f32) as u32).min(n.saturating_sub(1));
    let (x0, y0) = (texel(rect[0], extent.width), texel(rect[1], extent.height));
    let x1 = texel(rect[2], extent.width).saturating_add(1).min(extent.width);
    let y1 = texel(rect[3], extent.height).saturating_add(1).min(extent.height);
    vk::Rect2D {
        offset: vk::Offset2D { x: x0 as i32, y: y0 as i32 },
        extent: vk::Extent2D { width: x1.saturating_sub(x0), height: y1.saturating_sub(y0) },
    }
}

/// The shadow layers of the lights of `lights` that cast shadows (`casts`, per light) and
/// every light's parameters.
fn build(lights: &[GpuLight], casts: &[bool], fit: &Fit<'_>) -> Layers {
    let bounds = fit.bounds;
    // Shared (spot and point) and view (directional) layers numbered apart; the view's come
    // after the shared ones once all are known.
    let (mut shared, mut view_layers) = (Vec::new(), Vec::new());
    let mut view_rects = Vec::new();
    // The rects follow the per-light entries.
    let rects_at = lights.len() as f32;
    let mut per_light: Vec<([f32; 4], bool)> = lights
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let kind = l.position_kind[3];
            let point = (0.5..=1.5).contains(&kind);
            let directional = kind < 0.5;
            let layers = match (point, directional, fit.view) {
                (true, _, _) => 6,
                (_, true, Some(_)) => CASCADES,
                _ => 1,
            };
            if !casts.get(i).copied().unwrap_or(true)
                || shared.len() + view_layers.len() + layers > MAX_SHADOW_LAYERS
            {
                return ([-1.0, 0.0, 0.0, 0.0], false);
            }
            let pos = Vec3::from_slice(&l.position_kind[..3]);
            let dir = Vec3::from_slice(&l.direction_cos_outer[..3]);
            if point {
                let first = shared.len() as f32;
                let (faces, near, far) = cube_matrices(pos, bounds, l.range[0]);
                shared.extend(faces);
                // tan(half fov) = 1, or an emitter's radius (its soft shadows).
                let second = if l.range[2] > 0.0 { l.range[2] } else { 1.0 };
                return ([first, second, near, far], false);
            }
            if let (true, Some(view)) = (directional, fit.view) {
                let first = view_layers.len() as f32;
                let maps = cascades(dir, view, bounds, fit.size);
                let count = maps.len() as f32;
                for (m, rect) in maps {
                    view_layers.push(m);
                    view_rects.push(rect);
                }
                return ([first, 0.0, count, rects_at], true);
            }
            let spot_outer = (kind > 1.5).then(|| l.direction_cos_outer[3].clamp(-1.0, 1.0).acos());
            let (m, tan_half, near, far) = shadow_matrix(spot_outer, pos, dir, bounds, l.range[0]);
            // A directional light without a view: one map around the scene, not shared
            // either (only tests fit without a view).
            let first = if directional { view_layers.len() } else { shared.len() } as f32;
            if directional {
                view_layers.push(m);
                view_rects.push(WHOLE);
                ([first, tan_half, 1.0, rects_at], true)
            } else {
                shared.push(m);
                ([first, tan_half, near, far], false)
            }
        })
        .collect();
    let count = shared.len();
    for (p, in_view) in &mut per_light {
        if *in_view {
            p[0] += count as f32;
        }
    }
    let mut rects = vec![WHOLE; count];
    rects.extend(view_rects);
    shared.extend(view_layers);
    Layers {
        matrices: shared,
        rects,
        shared: count,
        per_light: per_light.into_iter().map(|(p, _)| p).collect(),
    }
}

/// The shadow map layers that `lights` would take (those that cast: `casts`) with a view.
pub(crate) fn layers_wanted(lights: &[GpuLight], casts: &[bool]) -> usize {
    lights
        .iter()
        .zip(casts)
        .filter(|(_, &c)| c)
        .map(|(l, _)| match l.position_kind[3] {
            k if k < 0.5 => CASCADES,
            k if k < 1.5 => 6,
            _ => 1,
        })
        .sum()
}

/// How many lights that cast shadows got no layer (`build`'s `per_light`): past the cap.
fn dropped(per_light: &[[f32; 4]], casts: &[bool]) -> usize {
    per_light
        .iter()
        .enumerate()
        .filter(|(i, p)| casts.get(*i).copied().unwrap_or(true) && p[0] < 0.0)
        .count()
}

/// The corners of box `(lo, hi)`.
fn corners((lo, hi): (Vec3, Vec3)) -> [Vec3; 8] {
    std::array::from_fn(|c| {
        Vec3::new(
            if c & 1 == 0 { lo.x } else { hi.x },
            if c & 2 == 0 { lo.y } else { hi.y },
            if c & 4 == 0 { lo.z } else { hi.z },
        )
    })
}

/// How much larger than a slice's sphere the scene's may be for one box around the scene to
/// stand for that slice and those after it.
const SCENE_BOX_RATIO: f32 = 1.5;

/// The up vector of a directional light's maps travelling along `dir` (normalized) that
/// turns them about `dir` to the smallest rectangle around the scene's `bounds` seen along
/// `dir` (a side of the smallest one lies along an edge of the outline; the outline's edges
/// are among the lines through two corners): a scene that is long or flat fills its maps' rects
/// with less empty space (a floor seen by a low sun: half the texels of an unturned map). It
/// depends on the light and the bounds alone, not on the view (the texel grid stays put as the
/// camera moves). The world's up (or +z for a light along it) unless another is 0.1 % smaller.
fn aligned_up(dir: Vec3, bounds: (Vec3, Vec3)) -> Vec3 {
    let up = if dir.y.abs() > 0.99 { Vec3::Z } else { Vec3::Y };
    let rotation = glam::camera::rh::view::look_to_mat4(Vec3::ZERO, dir, up);
    // About the bounds' centre: far from the origin, rounding would tilt the edges.
    let centre = (bounds.0 + bounds.1) * 0.5;
    let outline = corners(bounds).map(|c| rotation.transform_vector3(c - centre).truncate());
    // The area of the rectangle around the outline with a side along `e` (unit).
    let area = |e: glam::Vec2| {
        let n = e.perp();
        let (mut u, mut v) = ((f32::MAX, f32::MIN), (f32::MAX, f32::MIN));
        for p in outline {
            let (a, b) = (p.dot(e), p.dot(n));
            u = (u.0.min(a), u.1.max(a));
            v = (v.0.min(b), v.1.max(b));
        }
        (u.1 - u.0) * (v.1 - v.0)
    };
    let mut best = (glam::Vec2::Y, area(glam::Vec2::Y));
    for (i, a) in outline.iter().enumerate() {
        for b in &outline[i + 1..] {
            let Some(e) = (*b - *a).try_normalize() else { continue };
            let s = area(e);
            if s < best.1 * 0.999 {
                best = (e, s);
            }
        }
    }
    let e = best.0;
    rotation.inverse().transform_vector3(Vec3::new(e.x, e.y, 0.0)).try_normalize().unwrap_or(up)
}

/// The world-to-clip matrices of a directional light's cascades (up to [`CASCADES`]),
/// travelling along `dir`, for `view`: the view's depth range (up to the farthest corner of
/// the scene's `bounds`) split between logarithmic and uniform (the practical split scheme,
/// lambda 0.8), each slice of the frustum in a box around its bounding sphere (a sphere: the
/// same size whatever the camera's rotation), its centre snapped to whole texels of `size`,
/// deep enough for all of `bounds` in front of the slice. A slice whose sphere is at least
/// 1 / [`SCENE_BOX_RATIO`] of the scene's is replaced by a box around the whole scene, which
/// ends the list: every receiver is in it, at texels at most that ratio larger (a far slice,
/// whose texels are the smallest on screen), and it stays put as the camera moves (a small
/// scene takes fewer maps, drawn again less often).
fn cascades(dir: Vec3, view: &View, bounds: (Vec3, Vec3), size: u32) -> Vec<(Mat4, [f32; 4])> {
    let dir = dir.try_normalize().unwrap_or(-Vec3::Y);
    let to_world = view.view.inverse();
    let eye = to_world.transform_point3(Vec3::ZERO);
    let forward = to_world.transform_vector3(-Vec3::Z).try_normalize().unwrap_or(-Vec3::Z);
    let inverse = (view.proj * view.view).inverse();
    // The frustum's edge rays, from NDC depth 0 to 1.
    let rays: [(Vec3, Vec3); 4] =
        [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)].map(|(x, y)| {
            let a = inverse.project_point3(Vec3::new(x, y, 0.0));
            let b = inverse.project_point3(Vec3::new(x, y, 1.0));
            (a, b)
        });
    let depth = |p: Vec3| (p - eye).dot(forward);
    let near = depth(rays[0].0).max(0.0);
    let scene_far = corners(bounds).iter().map(|&c| depth(c)).fold(f32::MIN, f32::max);
    let far = depth(rays[0].1).min(scene_far).max(near + 1e-3);
    let split = |k: usize| {
        let t = k as f32 / CASCADES as f32;
        let uniform = near + (far - near) * t;
        let log = if near > 0.0 { near * (far / near).powf(t) } else { uniform };
        0.8 * log + 0.2 * uniform
    };
    // Where each edge ray reaches view depth d.
    let at = |(a, b): (Vec3, Vec3), d: f32| {
        let (da, db) = (depth(a), depth(b));
        let t = if (db - da).abs() > 1e-12 { (d - da) / (db - da) } else { 0.0 };
        a + (b - a) * t
    };
    let up = aligned_up(dir, bounds);
    let rotation = glam::camera::rh::view::look_to_mat4(Vec3::ZERO, dir, up);
    let scene_corners = corners(bounds);
    // A box around the sphere at `centre` of `radius`, its centre on the light's texel grid.
    let boxed = |centre: Vec3, radius: f32| {
        let texel = 2.0 * radius / size.max(1) as f32;
        let c = rotation.transform_point3(centre);
        let snapped = Vec3::new((c.x / texel).round() * texel, (c.y / texel).round() * texel, c.z);
        let centre = rotation.inverse().transform_point3(snapped);
        // Depth: from the nearest caster of the scene (or of the slice) to the slice's back.
        let along = |p: Vec3| p.dot(dir);
        let lo = scene_corners.iter().map(|&p| along(p)).fold(along(centre) - radius, f32::min);
        let hi = along(centre) + radius;
        let margin = 1e-3 * (hi - lo).max(1e-3);
        let light_eye = centre - dir * (along(centre) - lo + margin);
        let far = hi - lo + 2.0 * margin;
        let view = glam::camera::rh::view::look_to_mat4(light_eye, dir, up);
        Mat4::from_cols(
            glam::Vec4::new(1.0 / radius, 0.0, 0.0, 0.0),
            glam::Vec4::new(0.0, -1.0 / radius, 0.0, 0.0),
            glam::Vec4::new(0.0, 0.0, -1.0 / far, 0.0),
            glam::Vec4::new(0.0, 0.0, 0.0, 1.0),
        ) * view
    };
    // The scene's sphere, a little larger: the forward pass keeps a margin inside a box.
    let scene_centre = (bounds.0 + bounds.1) * 0.5;
    let scene_radius = ((bounds.1 - bounds.0).length() * 0.5 / 0.99).max(1e-3);
    let piece = |d0: f32, d1: f32| -> Vec<Vec3> {
        rays.iter().flat_map(|&r| [at(r, d0), at(r, d1)]).collect()
    };
    // The part of a map that the view's piece `piece` falls in (uv) where it meets the scene's
    // bounds (within both the piece's and its box clamped to the bounds; none when they do not
    // meet), 2 texels wider: the only texels a receiver there reads (the filter reaches 1.5
    // texels around it).
    // The bounds padded by 5 % of their size: surfaces may reach a little past them (sphere
    // impostors, vertices moved on the GPU after the bounds were taken).
    let pad = (bounds.1 - bounds.0).max_element() * 0.05 + 1e-4;
    let rect = |m: &Mat4, piece: &[Vec3]| {
        let lo = piece.iter().fold(Vec3::splat(f32::MAX), |a, &p| a.min(p));
        let hi = piece.iter().fold(Vec3::splat(f32::MIN), |a, &p| a.max(p));
        let (lo, hi) = (lo.max(bounds.0 - pad), hi.min(bounds.1 + pad));
        if !lo.cmple(hi).all() {
            return [0.0; 4];
        }
        let uv_box = |points: &mut dyn Iterator<Item = Vec3>| {
            points.fold((glam::Vec2::splat(f32::MAX), glam::Vec2::splat(f32::MIN)), |(a, b), p| {
                let uv = m.project_point3(p).truncate() * 0.5 + 0.5;
                (a.min(uv), b.max(uv))
            })
        };
        let (a_lo, a_hi) = uv_box(&mut piece.iter().copied());
        let (b_lo, b_hi) = uv_box(&mut corners((lo, hi)).into_iter());
        let margin = 2.0 / size.max(1) as f32;
        let lo = (a_lo.max(b_lo) - margin).max(glam::Vec2::ZERO);
        let hi = (a_hi.min(b_hi) + margin).min(glam::Vec2::ONE);
        if lo.cmplt(hi).all() {
            [lo.x, lo.y, hi.x, hi.y]
        } else {
            [0.0; 4]
        }
    };
    let mut out = Vec::with_capacity(CASCADES);
    for k in 0..CASCADES {
        let (d0, d1) = (split(k), split(k + 1));
        let slice = piece(d0, d1);
        let centre = slice.iter().copied().sum::<Vec3>() / slice.len() as f32;
        let radius = slice.iter().map(|p| (*p - centre).length()).fold(0.0f32, f32::max);
        // Rounded up (a steady size as the camera turns), at least a millimetre.
        let radius = ((radius * 64.0).ceil() / 64.0).max(1e-3);
        if radius * SCENE_BOX_RATIO >= scene_radius {
            // The rest of the view up to the scene's far side.
            let m = boxed(scene_centre, scene_radius);
            out.push((m, rect(&m, &piece(d0, far))));
            break;
        }
        let m = boxed(centre, radius);
        out.push((m, rect(&m, &slice)));
    }
    out
}

/// The six faces of a point light's cube map at `pos` (+x, -x, +y, -y, +z, -z: the order the
/// forward shader picks them in by the major axis of the direction from the light), 90
/// degrees each, reaching the farthest corner of the scene's bounds or the light's range
/// (`range`); and near, far.
fn cube_matrices(pos: Vec3, bounds: (Vec3, Vec3), range: f32) -> ([Mat4; 6], f32, f32) {
    let far = corners(bounds)
        .iter()
        .map(|&corner| (corner - pos).length())
        .fold(0.0f32, f32::max)
        .min(if range > 0.0 { range } else { f32::INFINITY })
        .max(1e-2)
        * 1.01;
    let near = (far * 1e-3).max(1e-4);
    let proj = scene::camera::perspective(std::f32::consts::FRAC_PI_2, 1.0, near, far);
    let faces = [
        (Vec3::X, -Vec3::Y),
        (-Vec3::X, -Vec3::Y),
        (Vec3::Y, Vec3::Z),
        (-Vec3::Y, -Vec3::Z),
        (Vec3::Z, -Vec3::Y),
        (-Vec3::Z, -Vec3::Y),
    ]
    .map(|(dir, up)| proj * glam::camera::rh::view::look_to_mat4(pos, dir, up));
    (faces, near, far)
}

/// World-to-clip matrix of a shadow map: an orthographic box around the scene bounds for a
/// directional light, the cone's perspective for a spot light of half-angle `spot_outer`
/// (Vulkan depth 0..1, y down).
fn shadow_matrix(
    spot_outer: Option<f32>,
    pos: Vec3,
    dir: Vec3,
    (lo, hi): (Vec3, Vec3),
    range: f32,
) -> (Mat4, f32, f32, f32) {
    let center = 0.5 * (lo + hi);
    let radius = (0.5 * (hi - lo).length()).max(1e-3);
    let dir = if dir.length_squared() > 0.0 { dir } else { -Vec3::Y };
    let up = if dir.y.abs() > 0.99 { Vec3::Z } else { Vec3::Y };
    match spot_outer {
        Some(outer) => {
            let view = glam::camera::rh::view::look_to_mat4(pos, dir, up);
            let dist = (pos - center).length();
            // Nothing is lit past the light's range.
            let far =
                (dist + 2.0 * radius).min(if range > 0.0 { range * 1.01 } else { f32::INFINITY });
            let far = far.max(2e-3);
            // As near as the scene allows: depth precision is spent near the near plane.
            let near = (dist - radius).max(far * 1e-3).max(1e-3).min(0.5 * far);
            let fov = (2.0 * outer).clamp(0.01, 3.1);
            (scene::camera::perspective(fov, 1.0, near, far) * view, (0.5 * fov).tan(), near, far)
        }
        None => {
            let eye = center - dir * (2.0 * radius);
            let view = glam::camera::rh::view::look_to_mat4(eye, dir, up);
            // Orthographic: depth 0 at `eye`, 1 at four radii; y down for Vulkan.
            let (r, far) = (radius, 4.0 * radius);
            let m = Mat4::from_cols(
                glam::Vec4::new(1.0 / r, 0.0, 0.0, 0.0),
                glam::Vec4::new(0.0, -1.0 / r, 0.0, 0.0),
                glam::Vec4::new(0.0, 0.0, -1.0 / far, 0.0),
                glam::Vec4::new(0.0, 0.0, 0.0, 1.0),
            ) * view;
            (m, 0.0, 0.0, far)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn light(kind: f32, dir: [f32; 3], cos_outer: f32) -> GpuLight {
        GpuLight {
            position_kind: [0.0, 2.0, 0.0, kind],
            direction_cos_outer: [dir[0], dir[1], dir[2], cos_outer],
            radiance_cos_inner: [1.0, 1.0, 1.0, 1.0],
            range: [0.0; 4],
        }
    }

    /// Layers in scene order: one for a directional or spot light, six for a point light;
    /// lights whose shadows are off get none, and neither do those past the layer cap; the
    /// scene's bounds land inside every map (a point light's: inside the union of its faces,
    /// each point in the face of its major axis).
    #[test]
    fn shadowed_lights_layers_and_fit() {
        let down = [0.0, -1.0, 0.0];
        let lights = vec![
            light(1.0, down, -1.0),
            light(0.0, down, -1.0),
            light(2.0, down, 0.6f32.cos()),
            light(0.0, down, -1.0),
            light(1.0, down, -1.0),
            light(1.0, down, -1.0),
        ];
        let casts = [true, true, true, false, true, true];
        let bounds = (Vec3::new(-1.0, 0.0, -1.0), Vec3::new(1.0, 0.5, 1.0));
        let fit = Fit { bounds, view: None, size: 2048 };
        let Layers { matrices, shared, per_light, .. } = build(&lights, &casts, &fit);
        let layers: Vec<f32> = per_light.iter().map(|p| p[0]).collect();
        // 6 + 1 + 1, the switched-off one none, 6 more (14), the last would pass 16. The
        // point and spot lights' layers (shared by every view) first, then the directional
        // light's (the view's).
        assert_eq!(layers, [0.0, 13.0, 6.0, -1.0, 7.0, -1.0]);
        assert_eq!(shared, 13);
        // The one past the cap is reported (the switched-off one is not).
        assert_eq!(dropped(&per_light, &casts), 1);
        assert_eq!(matrices.len(), 14);
        assert!(matrices.len() <= MAX_SHADOW_LAYERS);
        // Orthographic for the directional light, tan(0.6) for the spot, 1 for cube faces.
        assert_eq!(per_light[1][1], 0.0);
        assert!((per_light[2][1] - 0.6f32.tan()).abs() < 1e-5, "{:?}", per_light[2]);
        assert_eq!(per_light[0][1], 1.0);
        let inside = |m: &Mat4, p: Vec3| {
            let clip = *m * p.extend(1.0);
            let ndc = clip.truncate() / clip.w;
            clip.w > 0.0 && ndc.x.abs() <= 1.0 && ndc.y.abs() <= 1.0 && (0.0..=1.0).contains(&ndc.z)
        };
        let light_pos = Vec3::new(0.0, 2.0, 0.0);
        for corner in 0..8 {
            let c = |bit: usize, a: f32, b: f32| if corner >> bit & 1 == 0 { a } else { b };
            let p = Vec3::new(c(0, -1.0, 1.0), c(1, 0.0, 0.5), c(2, -1.0, 1.0));
            for m in [&matrices[6], &matrices[13]] {
                assert!(inside(m, p), "corner {p} outside the spot or the directional map");
            }
            // The point light's face of the major axis of p - light.
            let d = p - light_pos;
            let a = d.abs();
            let face = if a.x >= a.y && a.x >= a.z {
                usize::from(d.x <= 0.0)
            } else if a.y >= a.z {
                2 + usize::from(d.y <= 0.0)
            } else {
                4 + usize::from(d.z <= 0.0)
            };
            assert!(inside(&matrices[face], p), "corner {p} outside cube face {face}");
        }
        // Every direction lands in its face: the six face the six axes.
        for (face, dir) in
            [Vec3::X, -Vec3::X, Vec3::Y, -Vec3::Y, Vec3::Z, -Vec3::Z].iter().enumerate()
        {
            let p = light_pos + *dir * 1.5 + dir.any_orthonormal_vector() * 1.2;
            assert!(inside(&matrices[face], p), "face {face}: {p}");
        }
    }

    /// A 1920x1080 perspective view from `eye` towards `target`, `fovy` high, over `depth`
    /// (near, far).
    fn view_at(eye: Vec3, target: Vec3, fovy: f32, (near, far): (f32, f32)) -> View {
        View {
            view: glam::camera::rh::view::look_at_mat4(eye, target, Vec3::Y),
            proj: scene::camera::perspective(fovy, 16.0 / 9.0, near, far),
            position: eye,
            orthographic: false,
            width: 1920,
            height: 1080,
        }
    }

    /// A directional light's cascades for a perspective view over a large scene: every point
    /// of the view frustum (up to the scene's far side) lies in some cascade, the nearest
    /// points in the first; nearer cascades are finer; everything of the scene between the
    /// light and a slice is in its depth range; the per-light entry counts the cascades.
    #[test]
    fn cascades_cover_the_view_and_are_finer_near_the_eye() {
        let bounds = (Vec3::new(-100.0, 0.0, -100.0), Vec3::new(100.0, 3.0, 100.0));
        let eye = Vec3::new(0.0, 1.7, 0.0);
        let view = view_at(eye, Vec3::new(0.0, 0.0, -20.0), 1.0, (0.1, 1000.0));
        let sun = light(0.0, [0.3, -1.0, 0.2], -1.0);
        let fit = Fit { bounds, view: Some(&view), size: 2048 };
        let Layers { matrices: m, rects, shared, per_light } = build(&[sun], &[true], &fit);
        assert_eq!(shared, 0, "cascades belong to the view");
        assert_eq!(m.len(), CASCADES);
        assert_eq!(per_light[0], [0.0, 0.0, CASCADES as f32, 1.0]);
        // Texel size of each cascade: 2 / (size * |row x|).
        let texel = |m: &Mat4| 2.0 / (2048.0 * m.row(0).truncate().length());
        for k in 1..CASCADES {
            assert!(texel(&m[k]) > texel(&m[k - 1]), "cascade {k} finer than {}", k - 1);
        }
        assert!(texel(&m[0]) < 0.01, "the first cascade's texels: {} m", texel(&m[0]));
        let inside = |m: &Mat4, p: Vec3| {
            let c = *m * p.extend(1.0);
            let n = c.truncate() / c.w;
            n.x.abs() <= 1.0 && n.y.abs() <= 1.0 && (0.0..=1.0).contains(&n.z)
        };
        // Points of the view frustum on the ground and in the air, near and far.
        let inverse = (view.proj * view.view).inverse();
        let mut checked = 0;
        for &(x, y) in &[(-0.9f32, -0.9f32), (0.9, 0.9), (0.0, 0.0), (-0.5, 0.7)] {
            for &d in &[0.2f32, 1.0, 5.0, 30.0, 120.0] {
                let a = inverse.project_point3(Vec3::new(x, y, 0.0));
                let b = inverse.project_point3(Vec3::new(x, y, 1.0));
                let p = a + (b - a).normalize() * d;
                if p.y < 0.0 || p.y > 3.0 || p.x.abs() > 100.0 || p.z.abs() > 100.0 {
                    continue;
                }
                let k = cascade_read(&m, &rects, p);
                let k = k.unwrap_or_else(|| panic!("{p} in no cascade's rect"));
                // A caster of the scene above it (towards the sun) is in the same box.
                let caster = p + Vec3::new(-0.3, 1.0, -0.2).normalize() * (3.0 - p.y).max(0.0);
                assert!(inside(&m[k], caster), "the caster above {p} is outside cascade {k}");
                checked += 1;
            }
        }
        assert!(checked >= 8, "{checked} points checked");
        // What is drawn: the slices' parts of the layers, well under the whole layers.
        let areas: Vec<f32> = rects.iter().map(|r| (r[2] - r[0]) * (r[3] - r[1])).collect();
        eprintln!("cascade rects' areas: {areas:?}");
        assert!(areas.iter().all(|a| *a > 0.0 && *a <= 1.0), "{areas:?}");
        assert!(areas.iter().sum::<f32>() < 0.8 * CASCADES as f32, "{areas:?}");
        let near = eye + (Vec3::new(0.0, 0.0, -20.0) - eye).normalize() * 0.5;
        assert!(inside(&m[0], near), "a point 0.5 m ahead is in the first cascade");
    }

    /// The cascade the forward pass reads for `p` (forward.slang `punctual_light`): the first
    /// whose rect holds it with room for the filter (1.5 texels of 2048), inside the edge's
    /// margin and the depth range.
    fn cascade_read(m: &[Mat4], rects: &[[f32; 4]], p: Vec3) -> Option<usize> {
        let texel = 1.5 / 2048.0;
        (0..m.len()).find(|&k| {
            let r = rects[k];
            let ndc = m[k].project_point3(p);
            let uv = ndc.truncate() * 0.5 + 0.5;
            (0.0..=1.0).contains(&ndc.z)
                && (m.len() == 1 || (ndc.x.abs() < 0.995 && ndc.y.abs() < 0.995))
                && uv.x >= r[0] + texel
                && uv.y >= r[1] + texel
                && uv.x <= r[2] - texel
                && uv.y <= r[3] - texel
        })
    }

    /// A view from far above a small flat scene: the slices near the eye, in the empty air,
    /// meet no part of the scene and get empty rects (nothing drawn); every point of the scene
    /// in view still has a cascade that holds it.
    #[test]
    fn cascades_of_empty_slices_are_not_drawn() {
        let bounds = (Vec3::new(-10.0, 0.0, -10.0), Vec3::new(10.0, 1.0, 10.0));
        let view = view_at(Vec3::new(0.0, 60.0, 20.0), Vec3::ZERO, 0.8, (0.05, 1000.0));
        let sun = light(0.0, [0.3, -1.0, 0.2], -1.0);
        let fit = Fit { bounds, view: Some(&view), size: 2048 };
        let Layers { matrices: m, rects, .. } = build(&[sun], &[true], &fit);
        let empties = rects.iter().filter(|r| empty(**r)).count();
        assert!(empties >= 1 && empties < m.len(), "{rects:?}");
        let view_proj = view.proj * view.view;
        let mut checked = 0;
        for i in 0..=20 {
            for j in 0..=20 {
                let p = Vec3::new(-10.0 + i as f32, (i * j % 2) as f32, -10.0 + j as f32);
                let ndc = view_proj.project_point3(p);
                if ndc.x.abs() > 1.0 || ndc.y.abs() > 1.0 || !(0.0..=1.0).contains(&ndc.z) {
                    continue;
                }
                let k = cascade_read(&m, &rects, p);
                assert!(k.is_some_and(|k| !empty(rects[k])), "{p}: {k:?}");
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked} points in view");
    }

    /// A small scene seen whole: the cascade whose slice is as large as the scene is a box
    /// around the whole scene and the last one, holding every point of the scene inside the
    /// forward pass's margin; it stays the same as the camera moves.
    #[test]
    fn cascades_of_a_small_scene_end_with_one_around_it() {
        let bounds = (Vec3::new(-2.0, 0.0, -2.0), Vec3::new(2.0, 1.0, 2.0));
        let view_from = |eye: Vec3| view_at(eye, Vec3::ZERO, 0.8, (0.05, 100.0));
        let sun = light(0.0, [0.3, -1.0, 0.2], -1.0);
        let (a, b) = (view_from(Vec3::new(0.0, 3.0, 6.0)), view_from(Vec3::new(0.5, 3.2, 6.0)));
        let fit = |v| Fit { bounds, view: Some(v), size: 2048 };
        let Layers { matrices: m, per_light, .. } = build(&[sun], &[true], &fit(&a));
        assert!(m.len() < CASCADES, "{} cascades for a 4 m scene", m.len());
        assert_eq!(per_light[0][2], m.len() as f32);
        let last = m.last().expect("a cascade");
        for corner in corners(bounds) {
            let c = *last * corner.extend(1.0);
            let n = c.truncate() / c.w;
            assert!(n.x.abs() < 0.995 && n.y.abs() < 0.995, "{corner} near the edge: {n}");
            assert!((0.0..=1.0).contains(&n.z), "{corner} out of depth: {n}");
        }
        let moved = build(&[sun], &[true], &fit(&b)).matrices;
        assert_eq!(moved.len(), m.len());
        assert_eq!(moved.last(), Some(last), "the scene's box does not follow the camera");
        assert_ne!(moved[0], m[0], "the first cascade does");
    }

    /// A directional light's maps turn about it to fit the scene: a wide floor seen by a sun
    /// from the side leaves less of the scene box's map to draw (the fill that a turning sun's
    /// maps cost), every corner of the scene in view inside it; the turn does not follow the
    /// camera.
    #[test]
    fn cascades_turn_about_the_light_to_fit_the_scene() {
        let bounds = (Vec3::new(-60.0, 0.0, -60.0), Vec3::new(60.0, 2.0, 60.0));
        let rot = glam::Quat::from_rotation_y(0.8) * glam::Quat::from_rotation_x(-0.9);
        let dir = rot * -Vec3::Z;
        let sun = light(0.0, dir.to_array(), -1.0);
        let view_from = |eye: Vec3| view_at(eye, Vec3::ZERO, 50f32.to_radians(), (0.1, 500.0));
        let views =
            [view_from(Vec3::new(40.0, 45.0, 70.0)), view_from(Vec3::new(-30.0, 40.0, 80.0))];
        let mut last = Vec::new();
        for v in &views {
            let fit = Fit { bounds, view: Some(v), size: 2048 };
            let Layers { matrices: m, rects, .. } = build(&[sun], &[true], &fit);
            // The light's layers are the only ones: the last is around the scene.
            let (box_m, r) = (m[m.len() - 1], rects[m.len() - 1]);
            let area = (r[2] - r[0]) * (r[3] - r[1]);
            // The sun comes along the floor's diagonal: its outline is a rhombus, with the
            // rect's padding of diagonals 187 and 155 m, in a box of twice the scene's radius
            // (171 m). Unturned (y up) its diagonals lie along the map's axes, a rect of 0.9 of
            // the map (clamped to it); turned to a side of the rhombus 0.62.
            assert!(area < 0.65, "the scene box's rect covers {area} of its map");
            // The rect holds what the view sees of the scene.
            let seen = |p: Vec3| {
                let c = v.proj * v.view * p.extend(1.0);
                let n = c.truncate() / c.w;
                c.w > 0.0 && n.x.abs() <= 1.0 && n.y.abs() <= 1.0
            };
            for corner in corners(bounds).into_iter().filter(|&c| seen(c)) {
                let uv = box_m.project_point3(corner).truncate() * 0.5 + 0.5;
                let inside = uv.cmpge(glam::Vec2::new(r[0], r[1])).all()
                    && uv.cmple(glam::Vec2::new(r[2], r[3])).all();
                assert!(inside, "{corner} at {uv} outside the rect {r:?}");
            }
            last.push(box_m);
        }
        assert_eq!(last[0], last[1], "the scene's box does not follow the camera");
    }

    /// Cascades keep 16-bit depth while a step of it is at most a texel: a 120 m scene's do,
    /// a 20 km one's (the same view near its middle, cascades as deep as the scene) do not.
    #[test]
    fn cascade_depth_is_16_bits_unless_the_scene_is_deep() {
        let sun = light(0.0, [0.3, -1.0, 0.2], -1.0);
        let v = view_at(Vec3::new(40.0, 45.0, 70.0), Vec3::ZERO, 0.9, (0.1, 500.0));
        for (half, want) in [(60.0, true), (10_000.0, false)] {
            let bounds = (Vec3::new(-half, 0.0, -half), Vec3::new(half, 2.0, half));
            let fit = Fit { bounds, view: Some(&v), size: 2048 };
            let m = build(&[sun], &[true], &fit).matrices;
            assert_eq!(depth_16(&m, 2048), want, "a scene {} m wide", 2.0 * half);
        }
    }
}
