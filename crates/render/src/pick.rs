//! Picking: what is under a pixel of a view, the same for every renderer.
//!
//! A pick is a one-pixel id buffer made by compute (shaders/overlay/pick.slang): one dispatch
//! per visible object tests its elements against the pixel and keeps the nearest (a 64-bit
//! atomic min of depth and element index in the object's slot); the slots are read back and
//! the nearest object wins. Triangles are hit by the ray through the pixel's centre (both
//! sides), points within their round footprint (`size_px`), segments within their width: what
//! the renderers draw. It runs as its own submission and waits for it (a click, a hover, a
//! client's request: about a millisecond on a GPU), reading the scene as the last frame left it.

use std::collections::BTreeSet;

use framegraph::{Access, Bind, FrameGraph};
use glam::{Mat4, Vec3, Vec4};
use scene::View;
use xpg::vk;
use xpg::{Buffer, BufferDesc, Context, MemoryUsage, Pipeline, ShaderCompiler, ShaderDesc};

use crate::{GpuScene, RenderError};

/// What a pick found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pick {
    /// The object.
    pub target: PickTarget,
    /// The element: the triangle of the primitive (the sphere of spheres drawn as impostors),
    /// the point, or the segment.
    pub element: u32,
    /// NDC depth of the hit (0 near, 1 far).
    pub depth: f32,
    /// The hit in world space: the point of the pixel's ray at the hit's depth.
    pub position: Vec3,
}

/// The object a pick found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PickTarget {
    /// A mesh primitive drawn for a node: draw `draw` of [`GpuScene::draw_list`], the node,
    /// the mesh's primitive.
    Mesh {
        /// The draw.
        draw: usize,
        /// The node that places the mesh.
        node: usize,
        /// The primitive of the node's mesh.
        primitive: usize,
        /// The primitive is spheres drawn as impostors: the element is a sphere.
        sphere: bool,
    },
    /// Point set `i` of the scene.
    Points(usize),
    /// Line set `i` of the scene.
    Lines(usize),
}

/// Push constants of shaders/overlay/pick.slang (128 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PickPush {
    to_pixel: [[f32; 4]; 4],
    origin: [f32; 4],
    direction: [f32; 4],
    data: u64,
    indices: u64,
    count: u32,
    first: u32,
    slot: u32,
    sphere_vertices: u32,
}

/// The pick pipeline.
pub struct Picker {
    ctx: Context,
    pipeline: Pipeline,
}

impl std::fmt::Debug for Picker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picker").finish_non_exhaustive()
    }
}

const POINTS: u32 = 0;
const TRIANGLES: u32 = 1;
const SEGMENTS: u32 = 2;
const SPHERES: u32 = 3;

/// One object to test.
struct Job {
    target: PickTarget,
    kind: u32,
    model: Mat4,
    data: u64,
    indices: u64,
    count: u32,
    radius: f32,
    sphere_vertices: u32,
}

impl Picker {
    /// Compiles the pick shader.
    pub fn new(ctx: &Context, compiler: &ShaderCompiler) -> Result<Self, RenderError> {
        let file = "overlay/pick.slang";
        let code = compiler.compile(&ShaderDesc::new(compiler.shader_dir().join(file)))?;
        let entry = code.entry("pick").cloned().ok_or_else(|| RenderError::MissingEntry {
            shader: file.into(),
            entry: "pick".into(),
        })?;
        Ok(Self { ctx: ctx.clone(), pipeline: Pipeline::compute(ctx, &entry, None)? })
    }

    /// What is under pixel (`x`, `y`) (from the top left; a fraction picks the pixel it falls
    /// in) of `view` in `scene`, leaving out the nodes in `hidden` (hidden in
    /// this view). None: nothing, or a pixel outside the view.
    pub fn pick(
        &self,
        scene: &GpuScene,
        view: &View,
        x: f32,
        y: f32,
        hidden: &BTreeSet<u32>,
    ) -> Result<Option<Pick>, RenderError> {
        let (w, h) = (view.width as f32, view.height as f32);
        if !(x >= 0.0 && y >= 0.0 && x < w && y < h) {
            return Ok(None);
        }
        let view_proj = view.proj * view.view;
        let inverse = view_proj.inverse();
        if !inverse.is_finite() {
            return Ok(None);
        }
        // The pixel's centre (a cursor between pixel centres picks the pixel it is in).
        let (cx, cy) = (x.floor() + 0.5, y.floor() + 0.5);
        // The ray through it: its points at NDC depth 0 and 1.
        let ndc = Vec3::new(cx / w * 2.0 - 1.0, cy / h * 2.0 - 1.0, 0.0);
        let near = inverse.project_point3(ndc);
        let far = inverse.project_point3(Vec3::new(ndc.x, ndc.y, 1.0));
        // Clip space to (pixel offset from the pixel's centre, depth), after the divide.
        let viewport = Mat4::from_cols(
            Vec4::new(0.5 * w, 0.0, 0.0, 0.0),
            Vec4::new(0.0, 0.5 * h, 0.0, 0.0),
            Vec4::new(0.0, 0.0, 1.0, 0.0),
            Vec4::new(0.5 * w - cx, 0.5 * h - cy, 0.0, 1.0),
        );
        let focal = 0.5 * view.proj.y_axis.y.abs() * h;
        let jobs = jobs(scene, hidden, focal);
        if jobs.is_empty() {
            return Ok(None);
        }
        let result = Buffer::new(
            &self.ctx,
            &BufferDesc {
                size: jobs.len() as u64 * 8,
                usage: vk::BufferUsageFlags::STORAGE_BUFFER | vk::BufferUsageFlags::TRANSFER_DST,
                memory: MemoryUsage::Readback,
                name: "pick result",
            },
        )?;
        let pushes: Vec<(PickPush, u32)> = jobs
            .iter()
            .enumerate()
            .filter_map(|(slot, j)| {
                let to_object = j.model.inverse();
                if !to_object.is_finite() {
                    return None; // a hidden (collapsed) draw
                }
                let o = to_object.transform_point3(near);
                let d = to_object.transform_point3(far) - o;
                let push = PickPush {
                    to_pixel: (viewport * view_proj * j.model).to_cols_array_2d(),
                    origin: [o.x, o.y, o.z, j.radius],
                    direction: [d.x, d.y, d.z, f32::from_bits(j.kind)],
                    data: j.data,
                    indices: j.indices,
                    count: j.count,
                    first: 0,
                    slot: slot as u32,
                    sphere_vertices: j.sphere_vertices,
                };
                Some((push, j.count))
            })
            .collect();
        let mut graph = FrameGraph::new();
        let mut out = graph.import_buffer("pick result", &result, None, Some(Access::HostRead));
        let o = out;
        graph.add_pass("pick clear").write(&mut out, Access::TransferDst).record(move |ctx| {
            let buffer = ctx.buffer(&o)?;
            // SAFETY: recording; the graph ordered this fill before the dispatches.
            unsafe { ctx.device().cmd_fill_buffer(ctx.cmd, buffer, 0, vk::WHOLE_SIZE, u32::MAX) };
            Ok(())
        });
        // The scene's data is read through device addresses: declared (unknown initial
        // state: the reads wait for the frames before, which may have written it).
        let mut sources: Vec<&Buffer> = vec![&scene.vertices, &scene.indices];
        sources.extend(scene.points.iter().map(|p| &p.positions));
        sources.extend(scene.lines.iter().map(|l| &l.positions));
        sources.extend(scene.frame_buffer());
        let reads: Vec<_> =
            sources.into_iter().map(|b| graph.import_buffer(b.name(), b, None, None)).collect();
        let pipeline = &self.pipeline;
        let o = out;
        let mut pass = graph.add_pass("pick");
        for r in &reads {
            pass = pass.read(r, Access::StorageReadCompute);
        }
        pass.write(&mut out, Access::StorageWriteCompute).record(move |ctx| {
            pipeline.bind(ctx.cmd, None);
            ctx.push_descriptors(pipeline, &[Bind::Buffer { binding: 0, buffer: &o }])?;
            const PER_DISPATCH: u32 = 65535 * 256;
            for (push, count) in &pushes {
                let mut first = 0;
                while first < *count {
                    pipeline.push(ctx.cmd, &PickPush { first, ..*push });
                    pipeline.dispatch_threads(ctx.cmd, [(count - first).min(PER_DISPATCH), 1, 1]);
                    first = first.saturating_add(PER_DISPATCH);
                }
            }
            Ok(())
        });
        framegraph::run_once(&self.ctx, graph)?;
        let bytes = result.mapped_read().ok_or_else(|| {
            RenderError::Gpu(xpg::GpuError::Invalid("the pick result is not mapped".into()))
        })?;
        let slots: &[u64] = bytemuck::cast_slice(bytes);
        let best = slots
            .iter()
            .enumerate()
            .filter(|(_, &v)| v != u64::MAX)
            .min_by_key(|(_, &v)| v)
            .map(|(slot, &v)| (slot, v));
        let Some((slot, v)) = best else { return Ok(None) };
        let depth = f32::from_bits((v >> 32) as u32);
        let element = v as u32;
        // The hit in world space: on the ray at that depth.
        let position = inverse.project_point3(Vec3::new(ndc.x, ndc.y, depth));
        Ok(Some(Pick { target: jobs[slot].target, element, depth, position }))
    }
}

/// Every visible object with something to hit.
fn jobs(scene: &GpuScene, hidden: &BTreeSet<u32>, focal: f32) -> Vec<Job> {
    let mut jobs = Vec::new();
    let (vertices, indices) = (scene.vertices.address(), scene.indices.address());
    for (i, d) in scene.draw_list.iter().enumerate() {
        let Some((node, _, primitive)) = scene.draw_origin(i) else { continue };
        if d.index_count < 3 || hidden.contains(&(node as u32)) {
            continue;
        }
        // Spheres drawn as impostors are hit as spheres (the element: the sphere).
        let spheres = d.sphere_vertices >= 4;
        let count = if spheres {
            d.index_count / (3 * (2 * d.sphere_vertices - 4))
        } else {
            d.index_count / 3
        };
        jobs.push(Job {
            target: PickTarget::Mesh { draw: i, node, primitive, sphere: spheres },
            kind: if spheres { SPHERES } else { TRIANGLES },
            model: Mat4::from_cols_array_2d(&d.model),
            data: vertices + u64::from(d.first_vertex) * 32,
            indices: indices + u64::from(d.first_index) * 4,
            count,
            radius: 0.0,
            sphere_vertices: d.sphere_vertices,
        });
    }
    for (i, p) in scene.points.iter().enumerate() {
        if p.visible && p.count > 0 {
            jobs.push(Job {
                target: PickTarget::Points(i),
                kind: POINTS,
                model: p.transform,
                data: p.addresses().positions,
                indices: 0,
                count: p.count,
                sphere_vertices: 0,
                // The splat's footprint (at least the pixel itself); a diameter in world
                // units as a negative number: its pixels at clip w = 1.
                radius: if p.size_world > 0.0 {
                    -(p.size_world * focal)
                } else {
                    (0.5 * p.size_px.ceil()).max(0.5)
                },
            });
        }
    }
    for (i, l) in scene.lines.iter().enumerate() {
        if l.visible && l.segments > 0 {
            jobs.push(Job {
                target: PickTarget::Lines(i),
                kind: SEGMENTS,
                model: l.transform,
                data: l.positions.address(),
                indices: 0,
                count: l.segments,
                sphere_vertices: 0,
                radius: (0.5 * l.width_px).max(0.5) + 0.5,
            });
        }
    }
    jobs
}
