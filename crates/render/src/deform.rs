//! Deformed meshes on the GPU: skins and morph targets applied by a compute pass
//! (`shaders/xpg/deform.slang`) that writes the deformed vertices in place into the scene's
//! vertex and tangent buffers, so that both renderers, the shadow maps and the acceleration
//! structures (refitted after it) see them with nothing of their own.
//!
//! At upload the deformed vertices are computed on the CPU ([`scene::Scene::deformed`], the
//! same arithmetic), so a scene renders deformed without any update; the rest data, the
//! morph target displacements and per frame the joint matrices and weights live in buffers of
//! their own.

use framegraph::{Access, FrameGraph};
use xpg::vk;
use xpg::{Buffer, Context, Pipeline, ShaderCompiler, ShaderDesc, Uploader};

use crate::gpu::{storage, GpuSceneError, PrimRange, SceneObject};

/// Rest data of a deformed vertex (`DeformVertex` in the shader).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DeformVertex {
    position: [f32; 3],
    normal: [f32; 3],
    tangent: [f32; 4],
    joints: [u32; 4],
    weights: [f32; 4],
}

/// One morph target's displacement of one vertex (`MorphDelta`).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MorphDelta {
    position: [f32; 3],
    normal: [f32; 3],
    tangent: [f32; 3],
}

/// A joint's matrices (`JointMatrix`): columns.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuJoint {
    position: [[f32; 4]; 4],
    normal: [[f32; 4]; 3],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DeformPush {
    vertices: u64,
    tangents: u64,
    rest: u64,
    deltas: u64,
    joints: u64,
    weights: u64,
    count: u32,
    target_count: u32,
    flags: u32,
    /// First vertex of this dispatch.
    first: u32,
}

const SKINNED: u32 = 1;
const TANGENTS: u32 = 2;

/// One deformed primitive: a dispatch.
#[derive(Debug, Clone, Copy)]
struct Job {
    first_vertex: u32,
    count: u32,
    /// First entry in the rest buffer.
    rest: u64,
    /// First entry in the deltas buffer.
    deltas: u64,
    target_count: u32,
    /// First joint of its node's skin in the joints buffer (skinned primitives).
    joints: Option<u32>,
    /// First entry of its node's weights in the weights buffer.
    weights: u32,
    tangents: bool,
}

/// What a node contributes per frame: its joint matrices, its morph weights.
#[derive(Debug, Clone, Copy)]
struct Deformer {
    node: usize,
    /// First joint slot and joint count (skinned).
    joints: Option<(u32, u32)>,
    /// First weight slot and target count.
    weights: (u32, u32),
}

/// The deformed meshes of a [`crate::GpuScene`].
pub(crate) struct GpuDeform {
    pipeline: std::sync::Arc<Pipeline>,
    rest: Buffer,
    deltas: Buffer,
    joints: Buffer,
    weights: Buffer,
    jobs: Vec<Job>,
    deformers: Vec<Deformer>,
    /// The meshes deformed (their BLASes are refitted), in order.
    pub(crate) meshes: Vec<usize>,
}

impl GpuDeform {
    /// The deformation of `scene`'s meshes laid out as `ranges` says; None when no mesh is
    /// deformed.
    pub(crate) fn new(
        ctx: &Context,
        scene: &scene::Scene,
        ranges: &[Vec<PrimRange>],
        up: &mut Uploader,
    ) -> Result<Option<Self>, GpuSceneError> {
        let mut rest: Vec<DeformVertex> = Vec::new();
        let mut deltas: Vec<MorphDelta> = Vec::new();
        let (mut jobs, mut deformers, mut meshes) = (Vec::new(), Vec::new(), Vec::new());
        let (mut joint_slots, mut weight_slots) = (0u32, 0u32);
        for (m, mesh) in scene.meshes.iter().enumerate() {
            let Some(node) = scene.deforming_node(m) else { continue };
            let n = &scene.nodes[node];
            let skin = n.skin.and_then(|s| scene.skins.get(s));
            let joint_count = skin.map_or(0, |s| s.joints.len() as u32);
            let targets = mesh.primitives.iter().map(|p| p.targets.len()).max().unwrap_or(0);
            let deformer = Deformer {
                node,
                joints: skin.map(|_| (joint_slots, joint_count)),
                weights: (weight_slots, targets as u32),
            };
            joint_slots += joint_count;
            weight_slots += targets as u32;
            deformers.push(deformer);
            meshes.push(m);
            for (pi, p) in mesh.primitives.iter().enumerate() {
                let skinned = skin.is_some() && !p.joints.is_empty();
                if !p.is_deformed(skin.is_some()) {
                    continue;
                }
                let invalid = |message: String| {
                    GpuSceneError::invalid(
                        SceneObject::Primitive { mesh: mesh.name.clone(), primitive: pi },
                        message,
                    )
                };
                let count = p.positions.len();
                if skinned && (p.joints.len() != count || p.weights.len() != count) {
                    return Err(invalid(format!(
                        "{} joints and {} weights for {count} vertices",
                        p.joints.len(),
                        p.weights.len()
                    )));
                }
                if let Some(j) = p.joints.iter().flatten().find(|&&j| u32::from(j) >= joint_count) {
                    if skinned {
                        return Err(invalid(format!("joint {j} of a skin with {joint_count}")));
                    }
                }
                if p.weights.iter().flatten().any(|w| !w.is_finite() || *w < 0.0) {
                    return Err(invalid("negative or non-finite skin weights".into()));
                }
                for (t, target) in p.targets.iter().enumerate() {
                    for (what, a) in [
                        ("positions", &target.positions),
                        ("normals", &target.normals),
                        ("tangents", &target.tangents),
                    ] {
                        if !(a.is_empty() || a.len() == count)
                            || a.iter().flatten().any(|v| !v.is_finite())
                        {
                            return Err(invalid(format!(
                                "morph target {t}: {} {what} for {count} vertices, or \
                                 non-finite ones",
                                a.len()
                            )));
                        }
                    }
                }
                let range = &ranges[m][pi];
                jobs.push(Job {
                    first_vertex: range.first_vertex,
                    count: count as u32,
                    rest: rest.len() as u64,
                    deltas: deltas.len() as u64,
                    target_count: p.targets.len() as u32,
                    joints: skinned.then_some(deformer.joints.map_or(0, |j| j.0)),
                    weights: deformer.weights.0,
                    tangents: !p.tangents.is_empty(),
                });
                for v in 0..count {
                    rest.push(DeformVertex {
                        position: p.positions[v],
                        normal: p.normals.get(v).copied().unwrap_or([0.0; 3]),
                        tangent: p.tangents.get(v).copied().unwrap_or([0.0; 4]),
                        joints: p.joints.get(v).map_or([0; 4], |j| j.map(u32::from)),
                        weights: p.weights.get(v).copied().unwrap_or([0.0; 4]),
                    });
                }
                for target in &p.targets {
                    let d = |a: &[[f32; 3]], v: usize| a.get(v).copied().unwrap_or([0.0; 3]);
                    deltas.extend((0..count).map(|v| MorphDelta {
                        position: d(&target.positions, v),
                        normal: d(&target.normals, v),
                        tangent: d(&target.tangents, v),
                    }));
                }
            }
        }
        if jobs.is_empty() {
            return Ok(None);
        }
        let compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
        let code = compiler
            .compile(&ShaderDesc::new(compiler.shader_dir().join("xpg/deform.slang")))
            .map_err(|e| GpuSceneError::Shader(format!("xpg/deform.slang: {e}")))?;
        let entry = code
            .entry("deform")
            .ok_or_else(|| GpuSceneError::Shader("xpg/deform.slang: no entry 'deform'".into()))?;
        let pipeline = Pipeline::compute(ctx, entry, None)
            .map_err(|e| GpuSceneError::Shader(format!("xpg/deform.slang: {e}")))?;
        let none = vk::BufferUsageFlags::empty();
        let joints = vec![0u8; joint_slots as usize * size_of::<GpuJoint>()];
        let weights = vec![0u8; weight_slots as usize * 4];
        let out = Self {
            pipeline: std::sync::Arc::new(pipeline),
            rest: storage(ctx, "deform rest", bytemuck::cast_slice(&rest), up, none)?,
            deltas: storage(ctx, "deform deltas", bytemuck::cast_slice(&deltas), up, none)?,
            joints: storage(ctx, "joint matrices", &joints, up, none)?,
            weights: storage(ctx, "morph weights", &weights, up, none)?,
            jobs,
            deformers,
            meshes,
        };
        Ok(Some(out))
    }

    /// Whether a skin is among the deformations (they follow every transform change).
    pub(crate) fn skinned(&self) -> bool {
        self.deformers.iter().any(|d| d.joints.is_some())
    }

    /// Passes that write this frame's joint matrices and weights of `scene` and deform the
    /// vertices into `vertices` and `tangents`.
    pub(crate) fn add_passes(
        &self,
        scene: &scene::Scene,
        graph: &mut FrameGraph<'_>,
        vertices: &Buffer,
        tangents: &Buffer,
    ) -> Result<(), GpuSceneError> {
        let mut joints: Vec<GpuJoint> = Vec::new();
        let mut weights: Vec<f32> = Vec::new();
        for d in &self.deformers {
            if let Some((_, count)) = d.joints {
                let m = scene.joint_matrices(d.node).ok_or_else(|| {
                    GpuSceneError::StructureChanged(
                        "a skinned node lost its skin: upload the scene again".into(),
                    )
                })?;
                if m.len() as u32 != count {
                    return Err(GpuSceneError::StructureChanged(
                        "a skin's joints changed: upload the scene again".into(),
                    ));
                }
                joints.extend(m.iter().map(|j| {
                    let c = j.normal.to_cols_array_2d();
                    GpuJoint {
                        position: j.position.to_cols_array_2d(),
                        normal: c.map(|c| [c[0], c[1], c[2], 0.0]),
                    }
                }));
            }
            let w = &scene.nodes.get(d.node).map(|n| n.morph_weights.clone()).unwrap_or_default();
            weights.extend(
                (0..d.weights.1 as usize)
                    .map(|t| w.get(t).copied().filter(|x| x.is_finite()).unwrap_or(0.0)),
            );
        }
        let mut jh = graph.import_buffer(self.joints.name(), &self.joints, None, None);
        let mut wh = graph.import_buffer(self.weights.name(), &self.weights, None, None);
        let (j, w) = (jh, wh);
        let (jb, wb): (Vec<u8>, Vec<u8>) =
            (bytemuck::cast_slice(&joints).to_vec(), bytemuck::cast_slice(&weights).to_vec());
        graph
            .add_pass("deform inputs")
            .write(&mut jh, Access::TransferDst)
            .write(&mut wh, Access::TransferDst)
            .record(move |pc| {
                if !jb.is_empty() {
                    pc.update_buffer(&j, 0, &jb)?;
                }
                if !wb.is_empty() {
                    pc.update_buffer(&w, 0, &wb)?;
                }
                Ok(())
            });
        let rh = graph.import_buffer(self.rest.name(), &self.rest, None, None);
        let dh = graph.import_buffer(self.deltas.name(), &self.deltas, None, None);
        let mut vh = graph.import_buffer(vertices.name(), vertices, None, None);
        let mut th = graph.import_buffer(tangents.name(), tangents, None, None);
        let pipeline = std::sync::Arc::clone(&self.pipeline);
        let base = (
            vertices.address(),
            tangents.address(),
            self.rest.address(),
            self.deltas.address(),
            self.joints.address(),
            self.weights.address(),
        );
        let pushes: Vec<DeformPush> = self
            .jobs
            .iter()
            .map(|job| DeformPush {
                vertices: base.0 + u64::from(job.first_vertex) * 32,
                tangents: base.1 + u64::from(job.first_vertex) * 16,
                rest: base.2 + job.rest * size_of::<DeformVertex>() as u64,
                deltas: base.3 + job.deltas * size_of::<MorphDelta>() as u64,
                joints: base.4 + u64::from(job.joints.unwrap_or(0)) * size_of::<GpuJoint>() as u64,
                weights: base.5 + u64::from(job.weights) * 4,
                count: job.count,
                target_count: job.target_count,
                flags: if job.joints.is_some() { SKINNED } else { 0 }
                    | if job.tangents { TANGENTS } else { 0 },
                first: 0,
            })
            .collect();
        graph
            .add_pass("deform")
            .read(&jh, Access::StorageReadCompute)
            .read(&wh, Access::StorageReadCompute)
            .read(&rh, Access::StorageReadCompute)
            .read(&dh, Access::StorageReadCompute)
            .write(&mut vh, Access::StorageWriteCompute)
            .write(&mut th, Access::StorageWriteCompute)
            .record(move |pc| {
                // Every address lies in a buffer this pass declared, inside the ranges the
                // upload laid out; dispatches are split at 65535 groups.
                pipeline.bind(pc.cmd, None);
                for p in &pushes {
                    let mut first = 0;
                    while first < p.count {
                        let n = (p.count - first).min(65535 * 64);
                        pipeline.push(pc.cmd, &DeformPush { first, ..*p });
                        pipeline.dispatch_threads(pc.cmd, [n, 1, 1]);
                        first += n;
                    }
                }
                Ok(())
            });
        Ok(())
    }
}
