//! The scene's acceleration structures (when the device has ray tracing): one compacted BLAS
//! per mesh, its primitives as geometries read in place from the GpuScene's vertex and index
//! buffers (no second copy), and a TLAS with one instance per placement of a mesh (node x
//! instance), rebuilt or updated in place when transforms change. Builds, the compacted-size
//! queries, the compacting copies and updates are framegraph passes.

use std::sync::Arc;

use framegraph::{Access, FrameGraph};
use glam::Mat4;
use xpg::vk;
use xpg::{
    AccelerationStructure, BlasTriangles, Buffer, BufferDesc, CompactedSizeQueries, Context,
    MemoryUsage, Uploader,
};

use crate::gpu::{GpuSceneError, GpuVertex};

/// One placement of a mesh: a TLAS instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The node.
    pub node: u32,
    /// Which of the node's placements ([`scene::Node::draw_transform`]).
    pub instance: u32,
    /// The mesh.
    pub mesh: u32,
}

/// The scene's acceleration structures.
pub struct SceneAccel {
    /// One BLAS per mesh (None for meshes without triangles): compacted, or for deformed
    /// meshes updatable in place ([`xpg::BLAS_DEFORM_FLAGS`]).
    pub blases: Vec<Option<Arc<AccelerationStructure>>>,
    /// Per mesh: the geometry of a deformed mesh's BLAS, which its refits read again.
    deform_geometry: Vec<Option<Arc<Vec<BlasTriangles>>>>,
    /// The top level: instance `i` is `placements[i]`, its custom index `i`.
    pub tlas: Arc<AccelerationStructure>,
    /// The TLAS instances (64 bytes each).
    pub instances: Arc<Buffer>,
    /// What each TLAS instance places.
    pub placements: Vec<Placement>,
    /// Bytes of the BLASes before and after compaction.
    pub blas_bytes: (u64, u64),
    /// Per mesh: seen from behind (a double-sided primitive); else back faces are culled.
    pub double_sided: Vec<bool>,
}

impl std::fmt::Debug for SceneAccel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SceneAccel")
            .field("blases", &self.blases.len())
            .field("instances", &self.placements.len())
            .field("blas_bytes", &self.blas_bytes)
            .finish()
    }
}

/// A primitive of a mesh inside the shared buffers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MeshPrim {
    pub first_vertex: u32,
    pub vertex_count: u32,
    pub first_index: u32,
    pub index_count: u32,
    pub opaque: bool,
    /// Seen from behind too (glTF `doubleSided`); else back faces are culled, as in the
    /// raster.
    pub double_sided: bool,
}

fn run<'a>(ctx: &Context, build: impl FnOnce(&mut FrameGraph<'a>)) -> Result<(), GpuSceneError> {
    let mut graph = FrameGraph::new();
    build(&mut graph);
    framegraph::run_once(ctx, graph)
        .map_err(|source| GpuSceneError::SetUp { work: "acceleration structures", source })
}

fn scratch_address(
    pc: &framegraph::PassContext<'_>,
    h: &framegraph::BufferHandle,
) -> Result<u64, framegraph::ExecuteError> {
    let a = u64::from(pc.context().caps().rt.min_scratch_offset_alignment).max(1);
    Ok(pc.buffer_address(h)?.div_ceil(a) * a)
}

/// Row-major 3x4 of an object-to-world matrix.
pub(crate) fn rows(m: Mat4) -> [[f32; 4]; 3] {
    let r = m.transpose().to_cols_array_2d();
    [r[0], r[1], r[2]]
}

/// The instance records of `placements` at `worlds` over `blases`; meshes with a double-sided
/// primitive (`double_sided[mesh]`) are seen from behind, the others cull back faces (rays
/// ask for it).
pub(crate) fn instance_bytes(
    placements: &[Placement],
    worlds: &[Mat4],
    blases: &[Option<Arc<AccelerationStructure>>],
    double_sided: &[bool],
) -> Vec<u8> {
    use rayon::prelude::*;
    let record = |(i, (out, (p, w))): (usize, (&mut [u8], (&Placement, &Mat4)))| {
        let address =
            blases.get(p.mesh as usize).and_then(|b| b.as_ref()).map_or(0, |b| b.address());
        let flags = if double_sided.get(p.mesh as usize).copied().unwrap_or(true) {
            vk::GeometryInstanceFlagsKHR::TRIANGLE_FACING_CULL_DISABLE
        } else {
            vk::GeometryInstanceFlagsKHR::empty()
        };
        let inst = xpg::tlas_instance(rows(*w), i as u32, 0xff, 0, address, flags);
        // SAFETY: VkAccelerationStructureInstanceKHR is 64 plain bytes.
        out.copy_from_slice(unsafe {
            std::slice::from_raw_parts((&raw const inst).cast::<u8>(), 64)
        });
    };
    let n = placements.len().min(worlds.len());
    let mut out = vec![0u8; n * 64];
    if n >= 2048 {
        out.par_chunks_mut(64)
            .zip(placements.par_iter().zip(worlds.par_iter()))
            .enumerate()
            .with_min_len(512)
            .for_each(record);
    } else {
        out.chunks_mut(64).zip(placements.iter().zip(worlds)).enumerate().for_each(record);
    }
    out
}

/// A pass that builds (or updates) `tlas` from `instances` (whose BLASes `blases` are built).
pub(crate) fn add_tlas_pass(
    graph: &mut FrameGraph<'_>,
    ctx: &Context,
    tlas: &Arc<AccelerationStructure>,
    instances: &Arc<Buffer>,
    blases: &[Option<Arc<AccelerationStructure>>],
    count: u32,
    update: bool,
) -> Result<(), GpuSceneError> {
    let sizes = AccelerationStructure::tlas_sizes(ctx, count)?;
    let bytes = if update { sizes.update_scratch } else { sizes.build_scratch };
    let align = u64::from(ctx.caps().rt.min_scratch_offset_alignment);
    let mut scratch = graph.create_buffer("tlas scratch", bytes.max(16) + align);
    let ib = graph.import_buffer(instances.name(), instances, None, None);
    let reads: Vec<_> = blases
        .iter()
        .flatten()
        .map(|b| {
            graph.import_accel("blas", b.raw(), b.buffer().raw(), Some(Access::AccelBuildRead))
        })
        .collect();
    let mut th = graph.import_accel("tlas", tlas.raw(), tlas.buffer().raw(), None);
    let (sc, address, t) = (scratch, instances.address(), Arc::clone(tlas));
    let mut pass = graph
        .add_pass(if update { "update tlas" } else { "build tlas" })
        .read(&ib, Access::AccelBuildInput);
    for r in &reads {
        pass = pass.read(r, Access::AccelBuildRead);
    }
    pass.write(&mut th, Access::AccelBuildOutput)
        .write(&mut scratch, Access::AccelBuildOutput)
        .record(move |pc| {
            let scratch = scratch_address(pc, &sc)?;
            // SAFETY: the graph orders the instance writes and the BLAS builds before this
            // build and later traces after it; the scratch is this pass's, aligned.
            unsafe { t.record_tlas_build(pc.cmd, address, count, scratch, update) }
                .map_err(framegraph::ExecuteError::Gpu)
        });
    Ok(())
}

impl SceneAccel {
    /// Builds the structures of a scene whose meshes lie in `vertices` / `indices` as
    /// `meshes` says, placed at `placements` / `worlds`; the meshes `deformed` says get
    /// BLASes that can be refitted ([`SceneAccel::add_refit_passes`]).
    pub(crate) fn build(
        ctx: &Context,
        vertices: &Buffer,
        indices: &Buffer,
        meshes: &[Vec<MeshPrim>],
        deformed: &[bool],
        placements: Vec<Placement>,
        worlds: &[Mat4],
    ) -> Result<Self, GpuSceneError> {
        let deforms = |m: usize| deformed.get(m).copied().unwrap_or(false);
        let stride = size_of::<GpuVertex>() as u64;
        let double_sided: Vec<bool> =
            meshes.iter().map(|m| m.iter().any(|p| p.double_sided)).collect();
        let geometry: Vec<Vec<BlasTriangles>> = meshes
            .iter()
            .map(|prims| {
                // Every primitive is a geometry (an empty one with 0 triangles), so that
                // GeometryIndex() is the primitive's index; meshes without any triangle get no
                // BLAS.
                if prims.iter().all(|p| p.index_count < 3) {
                    return Vec::new();
                }
                prims
                    .iter()
                    .map(|p| BlasTriangles {
                        vertex_address: vertices.address() + u64::from(p.first_vertex) * stride,
                        vertex_stride: stride,
                        vertex_count: p.vertex_count,
                        index_address: indices.address() + u64::from(p.first_index) * 4,
                        triangle_count: p.index_count / 3,
                        opaque: p.opaque,
                    })
                    .collect()
            })
            .collect();
        let mut full: Vec<Option<(AccelerationStructure, u64)>> = Vec::new();
        for (m, g) in geometry.iter().enumerate() {
            if g.is_empty() {
                full.push(None);
                continue;
            }
            let flags = if deforms(m) { xpg::BLAS_DEFORM_FLAGS } else { xpg::BLAS_FLAGS };
            let sizes = AccelerationStructure::blas_sizes_with(ctx, g, flags)?;
            let blas = AccelerationStructure::new(
                ctx,
                &format!("blas {m}"),
                vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL,
                sizes.structure,
            )?;
            full.push(Some((blas, sizes.build_scratch)));
        }
        // One compacted-size query per BLAS to compact (every query of the pool is written
        // before it is read: reading an unwritten one with WAIT would never return).
        let compacts =
            |m: usize, e: &Option<(AccelerationStructure, u64)>| e.is_some() && !deforms(m);
        let built = full.iter().enumerate().filter(|(m, e)| compacts(*m, e)).count() as u32;
        let queries = if built > 0 { Some(CompactedSizeQueries::new(ctx, built)?) } else { None };
        let pool = queries.as_ref().map_or(vk::QueryPool::null(), |q| q.raw());
        let slot: Vec<u32> = full
            .iter()
            .enumerate()
            .scan(0u32, |k, (m, e)| {
                let at = *k;
                *k += u32::from(compacts(m, e));
                Some(at)
            })
            .collect();
        let align = u64::from(ctx.caps().rt.min_scratch_offset_alignment);
        run(ctx, |graph| {
            let vb = graph.import_buffer("vertices", vertices, Some(Access::AccelBuildInput), None);
            let ib = graph.import_buffer("indices", indices, Some(Access::AccelBuildInput), None);
            for (m, entry) in full.iter().enumerate() {
                let Some((blas, scratch_bytes)) = entry else { continue };
                let g = &geometry[m];
                let (flags, compact) = if deforms(m) {
                    (xpg::BLAS_DEFORM_FLAGS, false)
                } else {
                    (xpg::BLAS_FLAGS, true)
                };
                let mut h = graph.import_accel("blas", blas.raw(), blas.buffer().raw(), None);
                let mut scratch = graph.create_buffer("blas scratch", scratch_bytes + align);
                let (sc, query) = (scratch, slot[m]);
                graph
                    .add_pass(&format!("build blas {m}"))
                    .read(&vb, Access::AccelBuildInput)
                    .read(&ib, Access::AccelBuildInput)
                    .write(&mut h, Access::AccelBuildOutput)
                    .write(&mut scratch, Access::AccelBuildOutput)
                    .record(move |pc| {
                        let scratch = scratch_address(pc, &sc)?;
                        // SAFETY: the inputs were uploaded before (made visible to all later
                        // work); the scratch is this pass's, aligned, large enough.
                        unsafe { blas.record_blas_build_with(pc.cmd, g, scratch, flags, false) }
                            .map_err(framegraph::ExecuteError::Gpu)
                    });
                if !compact {
                    continue;
                }
                graph
                    .add_pass(&format!("compacted size {m}"))
                    .read(&h, Access::AccelBuildRead)
                    .side_effect()
                    .record(move |pc| {
                        // SAFETY: the graph orders the build before this read.
                        unsafe { blas.record_compacted_size_query(pc.cmd, pool, query) }
                            .map_err(framegraph::ExecuteError::Gpu)
                    });
            }
        })?;
        let compacted = match &queries {
            Some(q) => q.read()?,
            None => Vec::new(),
        };
        let mut blases: Vec<Option<Arc<AccelerationStructure>>> = Vec::with_capacity(full.len());
        let mut deform_geometry = Vec::with_capacity(full.len());
        let mut bytes = (0, 0);
        for (m, entry) in full.iter_mut().enumerate() {
            if deforms(m) {
                // Kept as built: refits need an updatable structure.
                let kept = entry.take().map(|(b, _)| Arc::new(b));
                if let Some(b) = &kept {
                    bytes.0 += b.size();
                    bytes.1 += b.size();
                }
                deform_geometry.push(kept.is_some().then(|| Arc::new(geometry[m].clone())));
                blases.push(kept);
                continue;
            }
            deform_geometry.push(None);
            blases.push(match entry {
                Some((blas, _)) => {
                    let size = compacted
                        .get(slot[m] as usize)
                        .copied()
                        .filter(|&s| s > 0)
                        .unwrap_or(blas.size());
                    bytes.0 += blas.size();
                    bytes.1 += size;
                    Some(Arc::new(AccelerationStructure::new(
                        ctx,
                        &format!("blas {m} compacted"),
                        vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL,
                        size,
                    )?))
                }
                None => None,
            });
        }
        // Custom instance indices have 24 bits.
        let count = u32::try_from(placements.len())
            .ok()
            .filter(|&c| u64::from(c) <= ctx.caps().rt.max_instance_count.min(1 << 24))
            .ok_or_else(|| {
                GpuSceneError::TooLarge(format!("{} TLAS instances", placements.len()))
            })?;
        let instance_data = instance_bytes(&placements, worlds, &blases, &double_sided);
        let mut instance_buffer = Buffer::new(
            ctx,
            &BufferDesc {
                size: (instance_data.len() as u64).max(64),
                usage: vk::BufferUsageFlags::ACCELERATION_STRUCTURE_BUILD_INPUT_READ_ONLY_KHR
                    | vk::BufferUsageFlags::TRANSFER_DST,
                memory: MemoryUsage::DeviceUpload,
                name: "tlas instances",
            },
        )?;
        if !instance_data.is_empty() {
            let mut up = Uploader::new(ctx, (instance_data.len() as u64 + 65536).max(1 << 16))?;
            up.upload_buffer(&mut instance_buffer, 0, &instance_data)?;
            up.flush()?;
        }
        let tsizes = AccelerationStructure::tlas_sizes(ctx, count)?;
        let tlas = Arc::new(AccelerationStructure::new(
            ctx,
            "tlas",
            vk::AccelerationStructureTypeKHR::TOP_LEVEL,
            tsizes.structure,
        )?);
        let instances = Arc::new(instance_buffer);
        let mut err = None;
        run(ctx, |graph| {
            for (m, (src, dst)) in full.iter().zip(&blases).enumerate() {
                let (Some((src, _)), Some(dst)) = (src, dst) else { continue };
                let s = graph.import_accel(
                    "blas",
                    src.raw(),
                    src.buffer().raw(),
                    Some(Access::AccelBuildOutput),
                );
                let mut d =
                    graph.import_accel("blas compacted", dst.raw(), dst.buffer().raw(), None);
                graph
                    .add_pass(&format!("compact blas {m}"))
                    .read(&s, Access::AccelBuildRead)
                    .write(&mut d, Access::AccelBuildOutput)
                    .record(move |pc| {
                        // SAFETY: the source was built by the previous submission; the
                        // destination is fresh, declared written.
                        unsafe { src.record_compact_into(pc.cmd, dst) }
                            .map_err(framegraph::ExecuteError::Gpu)
                    });
            }
            if let Err(e) = add_tlas_pass(graph, ctx, &tlas, &instances, &blases, count, false) {
                err = Some(e);
            }
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        // The uncompacted structures go (deferred until the GPU is done with them).
        drop(full);
        Ok(Self {
            blases,
            deform_geometry,
            tlas,
            instances,
            placements,
            blas_bytes: bytes,
            double_sided,
        })
    }

    /// Passes that refit the BLASes of `meshes` (deformed: built updatable) to the vertices
    /// now in `vertices` (written earlier in the graph), then, with `update_tlas`, update the
    /// TLAS over them (else the caller does).
    pub(crate) fn add_refit_passes(
        &self,
        graph: &mut FrameGraph<'_>,
        ctx: &Context,
        vertices: &Buffer,
        indices: &Buffer,
        meshes: &[usize],
        update_tlas: bool,
    ) -> Result<(), GpuSceneError> {
        let vb = graph.import_buffer(vertices.name(), vertices, None, None);
        let ib = graph.import_buffer(indices.name(), indices, None, None);
        let align = u64::from(ctx.caps().rt.min_scratch_offset_alignment);
        for &m in meshes {
            let (Some(Some(blas)), Some(Some(g))) =
                (self.blases.get(m), self.deform_geometry.get(m))
            else {
                continue;
            };
            let sizes = AccelerationStructure::blas_sizes_with(ctx, g, xpg::BLAS_DEFORM_FLAGS)?;
            let mut scratch =
                graph.create_buffer("blas refit scratch", sizes.update_scratch.max(16) + align);
            let mut h = graph.import_accel("blas", blas.raw(), blas.buffer().raw(), None);
            let (sc, b, g) = (scratch, Arc::clone(blas), Arc::clone(g));
            graph
                .add_pass(&format!("refit blas {m}"))
                .read(&vb, Access::AccelBuildInput)
                .read(&ib, Access::AccelBuildInput)
                .write(&mut h, Access::AccelBuildOutput)
                .write(&mut scratch, Access::AccelBuildOutput)
                .record(move |pc| {
                    let scratch = scratch_address(pc, &sc)?;
                    // SAFETY: the graph orders the vertex writes before this update and the
                    // traces after it; the structure was built updatable over the same
                    // geometry; the scratch is this pass's, aligned, of the update size.
                    unsafe {
                        b.record_blas_build_with(pc.cmd, &g, scratch, xpg::BLAS_DEFORM_FLAGS, true)
                    }
                    .map_err(framegraph::ExecuteError::Gpu)
                });
        }
        if !update_tlas {
            return Ok(());
        }
        let count = self.placements.len() as u32;
        add_tlas_pass(graph, ctx, &self.tlas, &self.instances, &self.blases, count, true)
    }
}

/// Debug check that the instance record layout is what Vulkan expects.
const _: () = assert!(size_of::<vk::AccelerationStructureInstanceKHR>() == 64);

/// A top level of the scene's placements with some of them masked out (instance mask 0: no
/// ray finds them): a viewport's visibility mask for ray tracing. It uses the scene's BLASes;
/// only the instance records are its own.
pub struct MaskedTlas {
    /// The structure.
    pub tlas: Arc<AccelerationStructure>,
    /// Its instance records.
    pub instances: Arc<Buffer>,
    count: u32,
}

impl std::fmt::Debug for MaskedTlas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskedTlas").field("instances", &self.count).finish()
    }
}

impl SceneAccel {
    /// A top level for this scene's placements, to be filled by [`SceneAccel::add_masked_build`].
    pub fn masked_tlas(&self, ctx: &Context) -> Result<MaskedTlas, GpuSceneError> {
        let count = self.placements.len() as u32;
        let sizes = AccelerationStructure::tlas_sizes(ctx, count)?;
        let tlas = Arc::new(AccelerationStructure::new(
            ctx,
            "masked tlas",
            vk::AccelerationStructureTypeKHR::TOP_LEVEL,
            sizes.structure,
        )?);
        let instances = Arc::new(Buffer::new(
            ctx,
            &BufferDesc {
                size: (u64::from(count) * 64).max(64),
                usage: vk::BufferUsageFlags::ACCELERATION_STRUCTURE_BUILD_INPUT_READ_ONLY_KHR
                    | vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS
                    | vk::BufferUsageFlags::TRANSFER_DST,
                memory: MemoryUsage::GpuOnly,
                name: "masked tlas instances",
            },
        )?);
        Ok(MaskedTlas { tlas, instances, count })
    }

    /// Passes that copy the scene's instance records (after any update of them in this
    /// graph) into `out`, give the placements in `hidden` the mask 0, and build `out`'s top
    /// level. `out` must have been made by [`SceneAccel::masked_tlas`] of this scene.
    pub fn add_masked_build(
        &self,
        graph: &mut FrameGraph<'_>,
        ctx: &Context,
        out: &MaskedTlas,
        hidden: &[u32],
    ) -> Result<(), GpuSceneError> {
        if out.count != self.placements.len() as u32 {
            return Err(GpuSceneError::TooLarge("masked top level made for another scene".into()));
        }
        let src = graph.import_buffer(self.instances.name(), &self.instances, None, None);
        let mut dst = graph.import_buffer(out.instances.name(), &out.instances, None, None);
        let bytes = u64::from(out.count) * 64;
        let hidden: Vec<u32> = hidden.iter().copied().filter(|&i| i < out.count).collect();
        let (s, d) = (src, dst);
        graph
            .add_pass("copy tlas instances")
            .read(&src, Access::TransferSrc)
            .write(&mut dst, Access::TransferDst)
            .record(move |pc| {
                let (sb, db) = (pc.buffer(&s)?, pc.buffer(&d)?);
                if bytes > 0 {
                    // SAFETY: both buffers are declared by this pass (transfer source and
                    // destination) and hold at least `bytes` bytes.
                    unsafe {
                        pc.device().cmd_copy_buffer(
                            pc.cmd,
                            sb,
                            db,
                            &[vk::BufferCopy { src_offset: 0, dst_offset: 0, size: bytes }],
                        );
                    }
                }
                Ok(())
            });
        if !hidden.is_empty() {
            let d = dst;
            graph.add_pass("mask tlas instances").write(&mut dst, Access::TransferDst).record(
                move |pc| {
                    let db = pc.buffer(&d)?;
                    for &i in &hidden {
                        // instanceCustomIndex (24 bits) = i, mask (8 bits) = 0.
                        // SAFETY: the pass declared the buffer as a transfer destination; the
                        // offset is 4-byte aligned and inside record `i` (< count).
                        unsafe {
                            pc.device().cmd_update_buffer(
                                pc.cmd,
                                db,
                                u64::from(i) * 64 + 48,
                                &i.to_le_bytes(),
                            );
                        }
                    }
                    Ok(())
                },
            );
        }
        add_tlas_pass(graph, ctx, &out.tlas, &out.instances, &self.blases, out.count, false)
    }
}
