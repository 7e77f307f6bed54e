//! `compile()`: pure CPU, in named phases (after Granite's bake):
//! 1. **validate**: errors recorded while the graph was built (stale handles, bad ranges);
//! 2. **cull**: keep passes with side effects or writes to imported resources, and, going
//!    backwards, every pass that produced a version a kept pass uses;
//! 3. **lifetimes**: first and last kept pass of every transient, its usage from its accesses;
//! 4. **aliasing**: memory blocks shared by transients with disjoint lifetimes ([`crate::alias`]);
//! 5. **barriers**: per-subresource state tracking ([`crate::barriers`]).
//!
//! Pass order is declaration order (deterministic; declaration order is always a valid order
//! since a handle exists only after the pass that wrote it).

use std::fmt::Write as _;

use xpg::vk;

use crate::access::AccessInfo;
use crate::alias::{self, AliasRequest, MemoryBlock};
use crate::barriers::{self, Barrier, Dependency, ImageTransition, SubState};
use crate::graph::{
    FrameGraph, GraphError, ImageInfo, Origin, PassAccess, ResourceKind, Subresources,
};

/// What a transient resource is, as the executor must create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransientDesc {
    /// An image with the union of the usages its accesses need.
    Image {
        /// Shape.
        info: ImageInfo,
        /// Usage.
        usage: vk::ImageUsageFlags,
    },
    /// A buffer.
    Buffer {
        /// Bytes.
        size: u64,
        /// Usage.
        usage: vk::BufferUsageFlags,
    },
    /// An acceleration structure: a buffer of `size` bytes holding it.
    Accel {
        /// Bytes of storage.
        size: u64,
        /// Top (else bottom) level.
        top_level: bool,
    },
}

/// Usage of the buffer behind a transient acceleration structure.
pub(crate) const ACCEL_BUFFER_USAGE: vk::BufferUsageFlags = vk::BufferUsageFlags::from_raw(
    vk::BufferUsageFlags::ACCELERATION_STRUCTURE_STORAGE_KHR.as_raw()
        | vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS.as_raw(),
);

/// Memory requirements of a transient (from the device, or estimated for planning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRequirements {
    /// Bytes.
    pub size: u64,
    /// Alignment.
    pub alignment: u64,
    /// Allowed memory types.
    pub memory_type_bits: u32,
}

/// Options of [`FrameGraph::compile_with`].
#[derive(Default)]
pub struct CompileOptions<'a> {
    /// Do not alias transient memory (for comparisons).
    pub no_aliasing: bool,
    /// Memory requirements of a transient; `None` estimates them from the shape.
    pub requirements: Option<&'a dyn Fn(&TransientDesc) -> MemoryRequirements>,
}

impl std::fmt::Debug for CompileOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompileOptions").field("no_aliasing", &self.no_aliasing).finish()
    }
}

/// An estimate for planning without a device: tightly packed texels (4 bytes when the format
/// is unknown), every mip, aligned to 64 KiB.
pub fn estimate_requirements(desc: &TransientDesc) -> MemoryRequirements {
    const ALIGN: u64 = 64 << 10;
    let size = match desc {
        TransientDesc::Image { info, .. } => {
            let texel = xpg::format_texel_size(info.format).unwrap_or(4) as u64;
            (0..info.mip_levels)
                .map(|m| {
                    let e = info.extent;
                    let d = |v: u32| (v >> m).max(1) as u64;
                    d(e.width) * d(e.height) * d(e.depth) * texel * info.array_layers as u64
                })
                .sum::<u64>()
        }
        TransientDesc::Buffer { size, .. } | TransientDesc::Accel { size, .. } => *size,
    };
    MemoryRequirements {
        size: size.next_multiple_of(ALIGN),
        alignment: ALIGN,
        memory_type_bits: !0,
    }
}

/// A pass that survived culling, with the barriers recorded before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPass {
    /// Index of the pass in declaration order.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Barriers to record before it (one `vkCmdPipelineBarrier2`).
    pub barriers: Vec<Barrier>,
}

/// Memory placement of one transient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransientAlloc {
    /// Resource id.
    pub resource: u32,
    /// Name.
    pub name: String,
    /// What to create.
    pub desc: TransientDesc,
    /// First plan position (index into [`Plan::passes`]) that uses it.
    pub first: usize,
    /// Last plan position that uses it.
    pub last: usize,
    /// Its memory requirements.
    pub requirements: MemoryRequirements,
    /// Its memory block (index into [`Plan::blocks`]).
    pub block: usize,
    /// The transient that used the block before it, if any.
    pub follows: Option<u32>,
}

/// The result of [`FrameGraph::compile`]: everything needed to record the frame, inspectable
/// without a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Kept passes, in order.
    pub passes: Vec<PlannedPass>,
    /// Names of culled passes.
    pub culled: Vec<String>,
    /// Barriers after the last pass (imported resources into their final states).
    pub final_barriers: Vec<Barrier>,
    /// Transients that kept passes use.
    pub transients: Vec<TransientAlloc>,
    /// Memory blocks of the transients.
    pub blocks: Vec<MemoryBlock>,
    /// Resource names by id.
    pub resource_names: Vec<String>,
    /// Hash of the graph's resources and pass accesses: [`Executor::execute`](crate::Executor)
    /// refuses a plan compiled from another graph.
    pub graph_fingerprint: u64,
    /// History images (by resource id): the state the frame leaves each subresource in.
    pub(crate) history_end: Vec<(u32, Vec<SubState>)>,
}

impl Plan {
    /// Bytes of transient memory with aliasing (the sum of the blocks).
    pub fn transient_memory(&self) -> u64 {
        self.blocks.iter().map(|b| b.size).sum()
    }
    /// Bytes the transients would take without aliasing.
    pub fn transient_memory_unaliased(&self) -> u64 {
        self.transients.iter().map(|t| t.requirements.size).sum()
    }
    /// Every barrier of the plan, in recording order.
    pub fn all_barriers(&self) -> impl Iterator<Item = &Barrier> {
        self.passes.iter().flat_map(|p| &p.barriers).chain(&self.final_barriers)
    }
    /// The placement of the transient `name`.
    pub fn transient(&self, name: &str) -> Option<&TransientAlloc> {
        self.transients.iter().find(|t| t.name == name)
    }

    fn describe(&self, b: &Barrier) -> String {
        let name = self.resource_names.get(b.resource as usize).map(String::as_str).unwrap_or("?");
        fn f<T: std::fmt::Debug>(v: T, empty: bool) -> String {
            if empty {
                "NONE".into()
            } else {
                format!("{v:?}")
            }
        }
        let scopes = format!(
            "{}/{} -> {}/{}",
            f(b.src_stage, b.src_stage.is_empty()),
            f(b.src_access, b.src_access.is_empty()),
            f(b.dst_stage, b.dst_stage.is_empty()),
            f(b.dst_access, b.dst_access.is_empty())
        );
        match b.image {
            Some(i) => format!(
                "'{name}' mips {}..{} layers {}..{}: {:?} -> {:?}, {scopes}",
                i.range.base_mip,
                i.range.base_mip + i.range.mip_count,
                i.range.base_layer,
                i.range.base_layer + i.range.layer_count,
                i.old_layout,
                i.new_layout
            ),
            None => format!("'{name}': {scopes}"),
        }
    }

    /// The plan as Graphviz DOT: passes as boxes in order (culled ones left out), barriers as
    /// edge labels, transients with their memory block.
    pub fn to_dot(&self) -> String {
        let mut s = String::from(
            "digraph plan {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for (i, p) in self.passes.iter().enumerate() {
            let _ = writeln!(s, "  p{i} [label=\"{}: {}\"];", i, p.name.replace('"', "'"));
            if i > 0 {
                let label: Vec<String> =
                    p.barriers.iter().map(|b| self.describe(b).replace('"', "'")).collect();
                let _ = writeln!(s, "  p{} -> p{i} [label=\"{}\"];", i - 1, label.join("\\n"));
            }
        }
        for t in &self.transients {
            let _ = writeln!(
                s,
                "  t{} [shape=ellipse, label=\"{} ({} KiB, block {})\"];\n  t{} -> p{} [style=dotted];\n  t{} -> p{} [style=dotted];",
                t.resource,
                t.name.replace('"', "'"),
                t.requirements.size >> 10,
                t.block,
                t.resource,
                t.first,
                t.resource,
                t.last
            );
        }
        s.push_str("}\n");
        s
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "plan: {} passes, {} culled {:?}",
            self.passes.len(),
            self.culled.len(),
            self.culled
        )?;
        for (i, p) in self.passes.iter().enumerate() {
            writeln!(f, "  [{i}] {}", p.name)?;
            for b in &p.barriers {
                writeln!(f, "      barrier {}", self.describe(b))?;
            }
        }
        if !self.final_barriers.is_empty() {
            writeln!(f, "  [end]")?;
            for b in &self.final_barriers {
                writeln!(f, "      barrier {}", self.describe(b))?;
            }
        }
        for t in &self.transients {
            writeln!(
                f,
                "  transient '{}' passes {}..={} {} KiB block {}{}",
                t.name,
                t.first,
                t.last,
                t.requirements.size >> 10,
                t.block,
                t.follows
                    .map(|r| {
                        let n = self.resource_names.get(r as usize).map(String::as_str);
                        format!(" after '{}'", n.unwrap_or("?"))
                    })
                    .unwrap_or_default()
            )?;
        }
        writeln!(
            f,
            "  transient memory: {} KiB in {} blocks ({} KiB without aliasing)",
            self.transient_memory() >> 10,
            self.blocks.len(),
            self.transient_memory_unaliased() >> 10
        )
    }
}

fn subresources(
    kind: &ResourceKind,
    range: Option<Subresources>,
) -> impl Iterator<Item = (usize, Option<(u32, u32)>)> {
    let (info, r) = match kind {
        ResourceKind::Image(info) => {
            (Some(*info), range.unwrap_or_else(|| Subresources::all(info)))
        }
        _ => (None, Subresources { base_mip: 0, mip_count: 1, base_layer: 0, layer_count: 1 }),
    };
    (r.base_layer..r.base_layer + r.layer_count).flat_map(move |layer| {
        (r.base_mip..r.base_mip + r.mip_count).map(move |mip| match info {
            Some(i) => ((layer * i.mip_levels + mip) as usize, Some((mip, layer))),
            None => (0, None),
        })
    })
}

fn sub_count(kind: &ResourceKind) -> usize {
    match kind {
        ResourceKind::Image(i) => (i.mip_levels * i.array_layers) as usize,
        _ => 1,
    }
}

/// Per pass: the accesses combined per (resource, subresource), sorted by that key.
type Combined = Vec<((u32, usize), (AccessInfo, Option<(u32, u32)>))>;

/// A transient's first and last plan positions and the usage its accesses need.
type Lifetime = (usize, usize, vk::ImageUsageFlags, vk::BufferUsageFlags);

fn find(c: &Combined, key: (u32, usize)) -> Option<&(AccessInfo, Option<(u32, u32)>)> {
    c.binary_search_by_key(&key, |e| e.0).ok().map(|i| &c[i].1)
}

impl FrameGraph<'_> {
    /// Compiles with default options (aliasing on, estimated memory requirements).
    pub fn compile(&self) -> Result<Plan, GraphError> {
        self.compile_with(&CompileOptions::default())
    }

    /// Compiles the graph into a [`Plan`]. Pure CPU; the graph is not consumed.
    pub fn compile_with(&self, options: &CompileOptions<'_>) -> Result<Plan, GraphError> {
        // The phases, in order (Granite's bake() reads the same way).
        self.validate()?;
        let (order, culled) = self.cull();
        let combined: Vec<Combined> =
            order.iter().map(|&p| self.combine(p)).collect::<Result<_, _>>()?;
        // Positions that touch each subresource, in order (for the readers' look-ahead).
        // As one flat array per subresource (compressed rows: few allocations).
        let uses = Uses::new(&self.resources, &combined);
        let life = self.lifetimes(&order);
        let (transients, blocks) = self.alias(&life, options)?;
        let (passes, final_barriers, history_end) =
            self.place_barriers(&combined, &uses, &order, &transients, &blocks);
        Ok(Plan {
            history_end,
            passes,
            culled,
            final_barriers,
            transients,
            blocks,
            resource_names: self.resources.iter().map(|r| r.name.clone()).collect(),
            graph_fingerprint: self.fingerprint(),
        })
    }

    /// Phase 1, validate: the errors recorded while the graph was built (stale handles, bad
    /// accesses and shapes).
    fn validate(&self) -> Result<(), GraphError> {
        match self.errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Phase 2, cull: the passes that contribute to an output (a side effect or a write to an
    /// imported resource), in declaration order, and the names of the others.
    fn cull(&self) -> (Vec<usize>, Vec<String>) {
        let live = self.live_passes();
        let order: Vec<usize> = (0..self.passes.len()).filter(|&i| live[i]).collect();
        let culled = (0..self.passes.len())
            .filter(|&i| !live[i])
            .map(|i| self.passes[i].name.clone())
            .collect();
        (order, culled)
    }

    /// Phase 3, lifetimes: per transient, the first and last plan positions that use it and
    /// the usage its accesses need.
    fn lifetimes(&self, order: &[usize]) -> Vec<Option<Lifetime>> {
        let mut life: Vec<Option<Lifetime>> = vec![None; self.resources.len()];
        for (pos, &p) in order.iter().enumerate() {
            for a in &self.passes[p].accesses {
                if matches!(self.resources[a.resource as usize].origin, Origin::Transient) {
                    let e = life[a.resource as usize].get_or_insert((
                        pos,
                        pos,
                        vk::ImageUsageFlags::empty(),
                        vk::BufferUsageFlags::empty(),
                    ));
                    e.1 = pos;
                    e.2 |= a.access.image_usage();
                    e.3 |= a.access.buffer_usage();
                }
            }
        }
        life
    }

    /// Phase 4, aliasing: what to create for each transient and the memory block it lives in
    /// (transients whose lifetimes do not overlap share memory).
    fn alias(
        &self,
        life: &[Option<Lifetime>],
        options: &CompileOptions<'_>,
    ) -> Result<(Vec<TransientAlloc>, Vec<MemoryBlock>), GraphError> {
        let estimate = estimate_requirements;
        let reqs_fn: &dyn Fn(&TransientDesc) -> MemoryRequirements =
            options.requirements.unwrap_or(&estimate);
        let mut transients = Vec::new();
        let mut requests = Vec::new();
        for (r, l) in life.iter().enumerate() {
            let Some((first, last, iu, bu)) = *l else { continue };
            let r = r as u32;
            let res = &self.resources[r as usize];
            let desc = match res.kind {
                ResourceKind::Image(_) if iu.is_empty() => {
                    return Err(GraphError::InvalidAccess {
                        pass: format!("(resource '{}')", res.name),
                        message: "no declared access gives the transient image a usage".into(),
                    })
                }
                ResourceKind::Image(info) => TransientDesc::Image { info, usage: iu },
                ResourceKind::Buffer { size } => TransientDesc::Buffer {
                    size,
                    usage: bu | vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS,
                },
                ResourceKind::Accel { size, top_level } => TransientDesc::Accel { size, top_level },
            };
            let requirements = reqs_fn(&desc);
            requests.push(AliasRequest {
                resource: r,
                first,
                last,
                size: requirements.size,
                alignment: requirements.alignment,
                memory_type_bits: requirements.memory_type_bits,
                linear: matches!(desc, TransientDesc::Buffer { .. } | TransientDesc::Accel { .. }),
            });
            transients.push(TransientAlloc {
                resource: r,
                name: res.name.clone(),
                desc,
                first,
                last,
                requirements,
                block: 0,
                follows: None,
            });
        }
        let (blocks, placement) = alias::assign(&requests, !options.no_aliasing);
        for (t, (block, follows)) in transients.iter_mut().zip(placement) {
            t.block = block;
            t.follows = follows;
        }
        Ok((transients, blocks))
    }

    /// Phase 5, barriers: every subresource tracked from its initial state through the kept
    /// passes; the barriers before each pass, the final transitions of imported resources and
    /// the state history images end the frame in.
    #[allow(clippy::type_complexity)]
    fn place_barriers(
        &self,
        combined: &[Combined],
        uses: &Uses,
        order: &[usize],
        transients: &[TransientAlloc],
        blocks: &[MemoryBlock],
    ) -> (Vec<PlannedPass>, Vec<Barrier>, Vec<(u32, Vec<SubState>)>) {
        // What each transient does over the whole frame (stages, write accesses): the source
        // scope for whatever uses its memory next, in this frame (aliasing) or the next one
        // (frames in flight share the pooled transients).
        let mut scope =
            vec![(vk::PipelineStageFlags2::NONE, vk::AccessFlags2::NONE); self.resources.len()];
        for c in combined {
            for &((r, _), (info, _)) in c {
                let e = &mut scope[r as usize];
                e.0 |= info.stage;
                e.1 |= barriers::writes_of(info.access);
            }
        }
        // Memory predecessor of each transient: the previous occupant of its block, or for the
        // first occupant the block's last occupant (of the previous frame). What it waits
        // for is everything any occupant of the block does in a frame: occupants differ in
        // size, so a part of the memory may have been last touched by an occupant before the
        // previous one (a large shadow map, then a small target, then another small target
        // over the same start of the block), and an execution chain through the previous
        // occupant's barriers covers only that occupant's own memory.
        let mut block_scope =
            vec![(vk::PipelineStageFlags2::NONE, vk::AccessFlags2::NONE); blocks.len()];
        for t in transients {
            if let Some(b) = block_scope.get_mut(t.block) {
                b.0 |= scope[t.resource as usize].0;
                b.1 |= scope[t.resource as usize].1;
            }
        }
        let mut predecessor: Vec<Option<(u32, usize)>> = vec![None; self.resources.len()];
        for t in transients {
            let prev =
                t.follows.or_else(|| blocks.get(t.block).and_then(|b| b.resources.last().copied()));
            predecessor[t.resource as usize] = prev.map(|p| (p, t.first));
        }
        let transient_block: std::collections::HashMap<u32, usize> =
            transients.iter().map(|t| (t.resource, t.block)).collect();
        let mut states = self.initial_states();
        let finals_info: Vec<Option<AccessInfo>> = self
            .resources
            .iter()
            .map(|r| match r.origin {
                Origin::Imported { final_access: Some(a), .. } => Some(a.info()),
                _ => None,
            })
            .collect();
        let mut started = vec![false; self.resources.len()];
        let mut passes = Vec::with_capacity(order.len());
        for (pos, &p) in order.iter().enumerate() {
            let mut out = Vec::new();
            for &((r, sub), (info, mip_layer)) in &combined[pos] {
                let res = &self.resources[r as usize];
                let is_image = matches!(res.kind, ResourceKind::Image(_));
                if let Some((prev, first)) = predecessor[r as usize] {
                    if first == pos && !started[r as usize] {
                        started[r as usize] = true;
                        // The memory's previous user must be done first (execution), and its
                        // writes made available: an image barrier's access scope covers only
                        // its own image, so another resource's writes need a memory barrier.
                        let (stage, access) = transient_block
                            .get(&r)
                            .and_then(|&b| block_scope.get(b).copied())
                            .unwrap_or(scope[prev as usize]);
                        for s in states[r as usize].iter_mut() {
                            *s = SubState {
                                write_stage: stage,
                                write_access: access,
                                ..SubState::FRESH
                            };
                        }
                        if prev != r && !access.is_empty() {
                            out.push(Barrier {
                                resource: prev,
                                image: None,
                                src_stage: stage,
                                src_access: access,
                                dst_stage: scope[r as usize].0,
                                dst_access: vk::AccessFlags2::MEMORY_READ
                                    | vk::AccessFlags2::MEMORY_WRITE,
                            });
                        }
                    }
                }
                let fin = finals_info[r as usize];
                let later = || later_reads(combined, uses, pos, r, sub, info, is_image, fin);
                let (barrier, after) =
                    barriers::transition(&states[r as usize][sub], info, is_image, later);
                states[r as usize][sub] = after;
                if let Some(dep) = barrier {
                    out.push(make_barrier(r, mip_layer, dep));
                }
            }
            passes.push(PlannedPass {
                index: p,
                name: self.passes[p].name.clone(),
                barriers: barriers::merge(out),
            });
        }
        let finals = self.final_transitions(&mut states);
        let history_end = (0..self.resources.len())
            .filter(|&r| self.resources[r].history.is_some())
            .map(|r| (r as u32, states[r].clone()))
            .collect();
        (passes, finals, history_end)
    }

    /// Where each subresource starts: a history image where the last committed frame left
    /// it, an imported resource after its initial access, a transient fresh.
    fn initial_states(&self) -> Vec<Vec<SubState>> {
        self.resources
            .iter()
            .map(|r| {
                let is_image = matches!(r.kind, ResourceKind::Image(_));
                let n = sub_count(&r.kind);
                // A history image resumes where the last committed frame left it.
                if let Some(resume) = r.history.as_ref().and_then(|h| h.resume.as_ref()) {
                    if resume.len() == n {
                        return resume.clone();
                    }
                }
                let s = match &r.origin {
                    Origin::Imported { initial: Some(a), .. } if !a.info().stage.is_empty() => {
                        SubState::after(a.info(), is_image)
                    }
                    // Unknown or presented before: wait for everything before (the acquire
                    // semaphore's wait stage, whatever it is, is then in the chain), and an
                    // unknown buffer's earlier writes, whatever they were, are made available
                    // (its contents are kept, unlike an image's of unknown layout).
                    Origin::Imported { initial, .. } => SubState {
                        layout: match initial {
                            Some(a) if is_image => a.info().layout,
                            _ => vk::ImageLayout::UNDEFINED,
                        },
                        write_stage: vk::PipelineStageFlags2::ALL_COMMANDS,
                        write_access: if is_image {
                            vk::AccessFlags2::NONE
                        } else {
                            vk::AccessFlags2::MEMORY_WRITE
                        },
                        ..SubState::FRESH
                    },
                    Origin::Transient => SubState::FRESH,
                };
                // A history image used for the first time starts fresh: nothing touched it.
                let s = if r.history.is_some() { SubState::FRESH } else { s };
                vec![s; n]
            })
            .collect()
    }

    /// Imported resources with a final access, transitioned into it after the last pass.
    fn final_transitions(&self, states: &mut [Vec<SubState>]) -> Vec<Barrier> {
        let mut finals = Vec::new();
        for (r, res) in self.resources.iter().enumerate() {
            if let Origin::Imported { final_access: Some(fa), .. } = res.origin {
                let is_image = matches!(res.kind, ResourceKind::Image(_));
                for (sub, mip_layer) in subresources(&res.kind, None) {
                    let (barrier, after) = barriers::transition(
                        &states[r][sub],
                        fa.info(),
                        is_image,
                        Default::default,
                    );
                    states[r][sub] = after;
                    if let Some(dep) = barrier {
                        finals.push(make_barrier(r as u32, mip_layer, dep));
                    }
                }
            }
        }
        barriers::merge(finals)
    }

    /// Hash of everything a plan depends on: resource shapes and origins, pass names and
    /// accesses.
    pub(crate) fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = FxHasher::default();
        for r in &self.resources {
            (&r.kind, &r.origin).hash(&mut h);
            r.history.as_ref().map(|l| &l.resume).hash(&mut h);
        }
        for p in &self.passes {
            p.name.hash(&mut h);
            p.side_effect.hash(&mut h);
            for a in &p.accesses {
                (a.resource, a.version, a.produced, a.access, a.range).hash(&mut h);
            }
        }
        h.finish()
    }

    fn live_passes(&self) -> Vec<bool> {
        // producer[resource][version] = the pass that wrote that version.
        let mut producer: Vec<Vec<Option<usize>>> =
            self.resources.iter().map(|r| vec![None; r.version as usize + 1]).collect();
        for (p, pass) in self.passes.iter().enumerate() {
            for a in &pass.accesses {
                if let Some(v) = a.produced {
                    if let Some(slot) = producer[a.resource as usize].get_mut(v as usize) {
                        *slot = Some(p);
                    }
                }
            }
        }
        let mut live = vec![false; self.passes.len()];
        let mut stack: Vec<usize> = self
            .passes
            .iter()
            .enumerate()
            .filter(|(_, pass)| {
                pass.side_effect
                    || pass.accesses.iter().any(|a| {
                        a.access.info().write
                            && matches!(
                                self.resources[a.resource as usize].origin,
                                Origin::Imported { .. }
                            )
                    })
            })
            .map(|(i, _)| i)
            .collect();
        while let Some(p) = stack.pop() {
            if std::mem::replace(&mut live[p], true) {
                continue;
            }
            for a in &self.passes[p].accesses {
                if a.version > 0 {
                    let q =
                        producer[a.resource as usize].get(a.version as usize).copied().flatten();
                    if let Some(q) = q {
                        if q != p && !live[q] {
                            stack.push(q);
                        }
                    }
                }
            }
        }
        live
    }

    fn combine(&self, p: usize) -> Result<Combined, GraphError> {
        let pass = &self.passes[p];
        let mut out: Combined = Vec::new();
        for a in &pass.accesses {
            let PassAccess { resource, access, range, .. } = *a;
            let res = &self.resources[resource as usize];
            for (sub, mip_layer) in subresources(&res.kind, range) {
                out.push(((resource, sub), (access.info(), mip_layer)));
            }
        }
        out.sort_by_key(|e| e.0);
        // Merge equal keys in place.
        let mut w = 0;
        for k in 0..out.len() {
            if w > 0 && out[w - 1].0 == out[k].0 {
                let (key, (info, _)) = out[k];
                let c = &mut out[w - 1].1 .0;
                let is_image =
                    matches!(self.resources[key.0 as usize].kind, ResourceKind::Image(_));
                if is_image && c.layout != info.layout {
                    return Err(GraphError::LayoutConflict {
                        pass: pass.name.clone(),
                        resource: self.resources[key.0 as usize].name.clone(),
                        first: c.layout,
                        second: info.layout,
                    });
                }
                c.stage |= info.stage;
                c.access |= info.access;
                c.write |= info.write;
            } else {
                out[w] = out[k];
                w += 1;
            }
        }
        out.truncate(w);
        Ok(out)
    }
}

/// Reads of subresource `sub` of `r` in the passes after `pos`, in `info`'s layout, up to the
/// next write or layout change.
#[allow(clippy::too_many_arguments)]
fn later_reads(
    combined: &[Combined],
    uses: &Uses,
    pos: usize,
    r: u32,
    sub: usize,
    info: AccessInfo,
    is_image: bool,
    final_access: Option<AccessInfo>,
) -> (vk::PipelineStageFlags2, vk::AccessFlags2) {
    let mut acc = (vk::PipelineStageFlags2::NONE, vk::AccessFlags2::NONE);
    if info.write {
        return acc;
    }
    let list = uses.of(r, sub);
    let start = list.partition_point(|&p| p <= pos);
    for &p in &list[start..] {
        if let Some((next, _)) = find(&combined[p], (r, sub)) {
            if next.write || (is_image && next.layout != info.layout) {
                return acc;
            }
            acc.0 |= next.stage;
            acc.1 |= next.access;
        }
    }
    // The required final state is the last reader (a host readback, a history image sampled by
    // the next frame).
    if let Some(f) = final_access {
        if !f.write && (!is_image || f.layout == info.layout) {
            acc.0 |= f.stage;
            acc.1 |= f.access;
        }
    }
    acc
}

fn make_barrier(resource: u32, mip_layer: Option<(u32, u32)>, dep: Dependency) -> Barrier {
    Barrier {
        resource,
        image: mip_layer.map(|(mip, layer)| ImageTransition {
            range: Subresources { base_mip: mip, mip_count: 1, base_layer: layer, layer_count: 1 },
            old_layout: dep.old_layout,
            new_layout: dep.new_layout,
        }),
        src_stage: dep.src_stage,
        src_access: dep.src_access,
        dst_stage: dep.dst_stage,
        dst_access: dep.dst_access,
    }
}

/// For each subresource, the plan positions that access it, in order: compressed rows over all
/// subresources of all resources.
struct Uses {
    /// First flat subresource index of each resource.
    base: Vec<usize>,
    /// Row start per flat subresource (+1 sentinel).
    start: Vec<usize>,
    positions: Vec<usize>,
}

impl Uses {
    fn new(resources: &[crate::graph::ResourceNode], combined: &[Combined]) -> Self {
        let mut base = Vec::with_capacity(resources.len() + 1);
        let mut n = 0;
        for r in resources {
            base.push(n);
            n += sub_count(&r.kind);
        }
        let mut count = vec![0usize; n + 1];
        for c in combined {
            for &((r, sub), _) in c {
                count[base[r as usize] + sub + 1] += 1;
            }
        }
        for i in 1..count.len() {
            count[i] += count[i - 1];
        }
        let mut fill = count.clone();
        let mut positions = vec![0; count[n]];
        for (pos, c) in combined.iter().enumerate() {
            for &((r, sub), _) in c {
                let k = base[r as usize] + sub;
                positions[fill[k]] = pos;
                fill[k] += 1;
            }
        }
        Self { base, start: count, positions }
    }

    fn of(&self, r: u32, sub: usize) -> &[usize] {
        let k = self.base[r as usize] + sub;
        &self.positions[self.start[k]..self.start[k + 1]]
    }
}

/// A small, fast, non-cryptographic hasher (the rustc "Fx" multiply-rotate scheme) for the
/// graph fingerprint, which is hashed on every compile.
#[derive(Default)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}
