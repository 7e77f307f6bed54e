//! Ray tracing on lavapipe (validation on, zero messages): acceleration structures built in
//! framegraph passes over buffers by device address, a ray tracing pipeline with its shader
//! binding table, hit patterns compared with a CPU ray caster.

use framegraph::{Access, Bind, Executor, FrameGraph};
use xpg::vk;
use xpg::{
    AccelerationStructure, BlasTriangles, Buffer, BufferDesc, Context, MemoryUsage, Pipeline,
    RayTracingDesc, ShaderDesc, Uploader,
};

use testkit as common;

const W: u32 = 64;
const H: u32 = 48;
/// The traced rectangle of the xy plane.
const LO: [f32; 2] = [-2.0, -1.5];
const HI: [f32; 2] = [2.0, 1.5];

/// Two triangles (a unit square split along its diagonal) and a third one beside them (not
/// overlapping: coplanar overlaps are ties that drivers break differently).
const POSITIONS: [[f32; 3]; 7] = [
    [0.0, 0.0, 0.0],
    [1.0, 0.0, 0.0],
    [1.0, 1.0, 0.0],
    [0.0, 1.0, 0.0],
    [1.1, 0.0, 0.0],
    [1.9, 0.0, 0.0],
    [1.1, 0.8, 0.0],
];
const INDICES: [u32; 9] = [0, 1, 2, 0, 2, 3, 4, 5, 6];

/// Instances: row-major 3x4 transforms, custom indices; the last is nearer the rays' origin
/// (z = 1) and overlaps the first.
fn instances() -> Vec<([[f32; 4]; 3], u32)> {
    vec![
        ([[1.0, 0.0, 0.0, -1.8], [0.0, 1.0, 0.0, -1.2], [0.0, 0.0, 1.0, 0.0]], 10),
        ([[0.7, 0.0, 0.0, 0.3], [0.0, 1.4, 0.0, -1.0], [0.0, 0.0, 1.0, -0.5]], 20),
        ([[1.0, 0.0, 0.0, -1.3], [0.0, 1.0, 0.0, -0.7], [0.0, 0.0, 1.0, 1.0]], 30),
    ]
}

fn buffer(ctx: &Context, name: &str, bytes: &[u8], usage: vk::BufferUsageFlags) -> Buffer {
    let mut b = Buffer::new(
        ctx,
        &BufferDesc {
            size: bytes.len() as u64,
            usage: usage | vk::BufferUsageFlags::STORAGE_BUFFER,
            memory: MemoryUsage::DeviceUpload,
            name,
        },
    )
    .expect("buffer");
    let mut up = Uploader::new(ctx, 1 << 20).expect("uploader");
    up.upload_buffer(&mut b, 0, bytes).expect("upload");
    up.flush().expect("flush");
    b
}

/// CPU reference: (custom index + 1, primitive, barycentric u, v) of the nearest hit of the
/// ray through pixel (x, y), and the smallest barycentric coordinate there (how close to an
/// edge); `any_hit` applies the shader's alpha test (hits with u < 0.3 ignored).
fn cpu_hit(x: u32, y: u32, transforms: &[([[f32; 4]; 3], u32)], any_hit: bool) -> ([u32; 4], f32) {
    let t = [(x as f32 + 0.5) / W as f32, (y as f32 + 0.5) / H as f32];
    let o = [LO[0] + (HI[0] - LO[0]) * t[0], LO[1] + (HI[1] - LO[1]) * t[1]];
    let mut best: Option<(f32, [u32; 4], f32)> = None;
    for (m, custom) in transforms {
        let world = |p: [f32; 3]| {
            [0, 1, 2].map(|r| m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3])
        };
        for (prim, tri) in INDICES.chunks_exact(3).enumerate() {
            let [a, b, c] = [0, 1, 2].map(|k| world(POSITIONS[tri[k] as usize]));
            // The triangles lie in planes z = const: 2D barycentrics at the ray's (x, y).
            let det = (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1]);
            if det.abs() < 1e-12 {
                continue;
            }
            let u = ((o[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (o[1] - a[1])) / det;
            let v = ((b[0] - a[0]) * (o[1] - a[1]) - (o[0] - a[0]) * (b[1] - a[1])) / det;
            if u < 0.0 || v < 0.0 || u + v > 1.0 || (any_hit && u < 0.3) {
                continue;
            }
            let dist = 10.0 - a[2];
            let margin = u.min(v).min(1.0 - u - v);
            if best.is_none_or(|(d, _, _)| dist < d) {
                best = Some((dist, [custom + 1, prim as u32, u.to_bits(), v.to_bits()], margin));
            }
        }
    }
    best.map_or(([0; 4], 1.0), |(_, h, m)| (h, m))
}

impl Scene {
    /// An instance buffer over `blas` with `inst`.
    fn instances_for(&self, ctx: &Context, blas: u64, inst: &[([[f32; 4]; 3], u32)]) -> Buffer {
        let input = vk::BufferUsageFlags::ACCELERATION_STRUCTURE_BUILD_INPUT_READ_ONLY_KHR;
        buffer(ctx, "rt instances", &instance_bytes(blas, inst), input)
    }
}

struct Scene {
    vertices: Buffer,
    indices: Buffer,
    instances: Buffer,
    blas: AccelerationStructure,
    tlas: AccelerationStructure,
    triangles: BlasTriangles,
}

fn instance_bytes(blas: u64, inst: &[([[f32; 4]; 3], u32)]) -> Vec<u8> {
    let v: Vec<vk::AccelerationStructureInstanceKHR> = inst
        .iter()
        .map(|(m, c)| {
            xpg::tlas_instance(*m, *c, 0xff, 0, blas, vk::GeometryInstanceFlagsKHR::empty())
        })
        .collect();
    // SAFETY: VkAccelerationStructureInstanceKHR is 64 plain bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), v.len() * 64) }.to_vec()
}

fn scene(ctx: &Context, opaque: bool) -> Scene {
    let input = vk::BufferUsageFlags::ACCELERATION_STRUCTURE_BUILD_INPUT_READ_ONLY_KHR;
    let vertices = buffer(ctx, "rt vertices", bytemuck::cast_slice(&POSITIONS), input);
    let indices = buffer(ctx, "rt indices", bytemuck::cast_slice(&INDICES), input);
    let triangles = BlasTriangles {
        vertex_address: vertices.address(),
        vertex_stride: 12,
        vertex_count: POSITIONS.len() as u32,
        index_address: indices.address(),
        triangle_count: 3,
        opaque,
    };
    let sizes = AccelerationStructure::blas_sizes(ctx, &[triangles]).expect("sizes");
    let blas = AccelerationStructure::new(
        ctx,
        "rt blas",
        vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL,
        sizes.structure,
    )
    .expect("blas");
    let inst: Vec<vk::AccelerationStructureInstanceKHR> = instances()
        .iter()
        .map(|(m, c)| {
            xpg::tlas_instance(
                *m,
                *c,
                0xff,
                0,
                blas.address(),
                vk::GeometryInstanceFlagsKHR::empty(),
            )
        })
        .collect();
    // SAFETY: VkAccelerationStructureInstanceKHR is 64 plain bytes.
    let bytes = unsafe { std::slice::from_raw_parts(inst.as_ptr().cast::<u8>(), inst.len() * 64) };
    let instances = buffer(ctx, "rt instances", bytes, input);
    let tsizes = AccelerationStructure::tlas_sizes(ctx, 3).expect("tlas sizes");
    let tlas = AccelerationStructure::new(
        ctx,
        "rt tlas",
        vk::AccelerationStructureTypeKHR::TOP_LEVEL,
        tsizes.structure,
    )
    .expect("tlas");
    Scene { vertices, indices, instances, blas, tlas, triangles }
}

/// Scratch space for a build: `bytes` plus room to align the address.
fn scratch(
    graph: &mut FrameGraph<'_>,
    ctx: &Context,
    name: &str,
    bytes: u64,
) -> framegraph::BufferHandle {
    graph.create_buffer(name, bytes + u64::from(ctx.caps().rt.min_scratch_offset_alignment))
}

fn aligned(address: u64, ctx: &Context) -> u64 {
    let a = u64::from(ctx.caps().rt.min_scratch_offset_alignment).max(1);
    address.div_ceil(a) * a
}

/// Records `build` into a graph and runs it.
fn execute<'a>(ctx: &Context, build: impl FnOnce(&mut FrameGraph<'a>)) {
    let mut graph = FrameGraph::new();
    build(&mut graph);
    framegraph::run_once(ctx, graph).expect("execute");
}

/// A pass building `blas` over `tri` (vertex and index buffers declared as build inputs).
fn add_blas_build<'a>(
    graph: &mut FrameGraph<'a>,
    ctx: &Context,
    s: &'a Scene,
    blas: &'a AccelerationStructure,
) {
    let vb = graph.import_buffer("vertices", &s.vertices, Some(Access::AccelBuildInput), None);
    let ib = graph.import_buffer("indices", &s.indices, Some(Access::AccelBuildInput), None);
    let mut h = graph.import_accel("blas", blas.raw(), blas.buffer().raw(), None);
    let sizes = AccelerationStructure::blas_sizes(ctx, &[s.triangles]).expect("sizes");
    let mut scratch = scratch(graph, ctx, "blas scratch", sizes.build_scratch);
    let (sc, tri) = (scratch, s.triangles);
    graph
        .add_pass("build blas")
        .read(&vb, Access::AccelBuildInput)
        .read(&ib, Access::AccelBuildInput)
        .write(&mut h, Access::AccelBuildOutput)
        .write(&mut scratch, Access::AccelBuildOutput)
        .record(move |pc| {
            let scratch = aligned(pc.buffer_address(&sc)?, pc.context());
            // SAFETY: the graph ordered the inputs before and later reads after this build;
            // the scratch is this pass's, aligned, large enough.
            unsafe { blas.record_blas_build(pc.cmd, &[tri], scratch) }
                .map_err(framegraph::ExecuteError::Gpu)?;
            Ok(())
        });
}

/// A pass building (or updating) the scene's TLAS from `instances` (over `blas`).
fn add_tlas_build<'a>(
    graph: &mut FrameGraph<'a>,
    ctx: &Context,
    s: &'a Scene,
    instances: &'a Buffer,
    blas: &'a AccelerationStructure,
    update: bool,
) {
    let instb = graph.import_buffer("instances", instances, Some(Access::AccelBuildInput), None);
    let bh =
        graph.import_accel("blas", blas.raw(), blas.buffer().raw(), Some(Access::AccelBuildRead));
    let mut th = graph.import_accel("tlas", s.tlas.raw(), s.tlas.buffer().raw(), None);
    let sizes = AccelerationStructure::tlas_sizes(ctx, 3).expect("sizes");
    let bytes = if update { sizes.update_scratch } else { sizes.build_scratch };
    let mut scratch = scratch(graph, ctx, "tlas scratch", bytes);
    let (sc, address) = (scratch, instances.address());
    graph
        .add_pass(if update { "update tlas" } else { "build tlas" })
        .read(&instb, Access::AccelBuildInput)
        .read(&bh, Access::AccelBuildRead)
        .write(&mut th, Access::AccelBuildOutput)
        .write(&mut scratch, Access::AccelBuildOutput)
        .record(move |pc| {
            let scratch = aligned(pc.buffer_address(&sc)?, pc.context());
            // SAFETY: as for the BLAS; the BLAS is built (declared read).
            unsafe { s.tlas.record_tlas_build(pc.cmd, address, 3, scratch, update) }
                .map_err(framegraph::ExecuteError::Gpu)?;
            Ok(())
        });
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct TracePush {
    lo: [f32; 2],
    hi: [f32; 2],
    width: u32,
    height: u32,
    hit_group: u32,
    pad: u32,
}

/// A pass tracing W x H rays through the scene's TLAS with `hit_group` into `out`.
fn add_trace<'a>(
    graph: &mut FrameGraph<'a>,
    s: &'a Scene,
    pipeline: &'a Pipeline,
    out: &Buffer,
    hit_group: u32,
) {
    let tlas = graph.import_accel(
        "tlas",
        s.tlas.raw(),
        s.tlas.buffer().raw(),
        Some(Access::RayTracingRead),
    );
    let mut hits = graph.import_buffer("hits", out, None, Some(Access::TransferSrc));
    let (t, h) = (tlas, hits);
    graph
        .add_pass("trace")
        .read(&tlas, Access::RayTracingRead)
        .write(&mut hits, Access::StorageWriteRayTracing)
        .record(move |pc| {
            pipeline.bind(pc.cmd, None);
            pc.push_descriptors(
                pipeline,
                &[Bind::Accel { binding: 0, accel: &t }, Bind::Buffer { binding: 1, buffer: &h }],
            )?;
            pipeline.push(
                pc.cmd,
                &TracePush { lo: LO, hi: HI, width: W, height: H, hit_group, pad: 0 },
            );
            // SAFETY: pipeline bound, descriptors and push constants set, the TLAS built and
            // the output declared.
            unsafe { pipeline.trace_rays(pc.cmd, [W, H, 1]) }
                .map_err(framegraph::ExecuteError::Gpu)?;
            Ok(())
        });
}

fn hits_buffer(ctx: &Context) -> Buffer {
    Buffer::new(
        ctx,
        &BufferDesc {
            size: u64::from(W * H) * 16,
            usage: vk::BufferUsageFlags::STORAGE_BUFFER,
            memory: MemoryUsage::GpuOnly,
            name: "rt hits",
        },
    )
    .expect("out")
}

fn read_hits(ctx: &Context, out: &Buffer) -> Vec<[u32; 4]> {
    let mut up = Uploader::new(ctx, 1 << 20).expect("uploader");
    let bytes = up.read_buffer(out, 0, out.size()).expect("read back");
    bytes
        .chunks_exact(16)
        .map(|c| {
            [0, 1, 2, 3]
                .map(|k| u32::from_le_bytes([c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]]))
        })
        .collect()
}

/// Builds the BLAS and TLAS in one graph, traces W x H rays with `hit_group`, returns the
/// hit records.
fn build_and_trace(ctx: &Context, s: &Scene, pipeline: &Pipeline, hit_group: u32) -> Vec<[u32; 4]> {
    let out = hits_buffer(ctx);
    execute(ctx, |g| {
        add_blas_build(g, ctx, s, &s.blas);
        add_tlas_build(g, ctx, s, &s.instances, &s.blas, false);
        add_trace(g, s, pipeline, &out, hit_group);
    });
    read_hits(ctx, &out)
}

fn pipeline(ctx: &Context) -> Pipeline {
    let compiler = common::compiler();
    let code =
        compiler.compile(&ShaderDesc::new(common::test_shader("rt_hits.slang"))).expect("compile");
    let e = |n: &str| code.entry(n).unwrap_or_else(|| panic!("entry {n}"));
    let desc = RayTracingDesc {
        name: "rt hits",
        raygen: e("raygen"),
        miss: vec![e("miss")],
        hit_groups: vec![(Some(e("chit")), None), (Some(e("chit")), Some(e("ahit")))],
        max_recursion: 1,
    };
    Pipeline::ray_tracing(ctx, &desc, None).expect("ray tracing pipeline")
}

/// Compares GPU hits with the CPU's: exact instance and primitive, barycentrics within 1e-4,
/// except at pixels whose CPU hit lies within 1e-3 of a triangle edge (either side may win
/// there). Returns how many pixels hit something.
fn compare(gpu: &[[u32; 4]], any_hit: bool) -> usize {
    compare_with(gpu, any_hit, &instances())
}

fn compare_with(gpu: &[[u32; 4]], any_hit: bool, inst: &[([[f32; 4]; 3], u32)]) -> usize {
    let (mut hits, mut skipped) = (0, 0);
    for y in 0..H {
        for x in 0..W {
            let (want, margin) = cpu_hit(x, y, inst, any_hit);
            let got = gpu[(y * W + x) as usize];
            if margin < 1e-3 || (any_hit && (f32::from_bits(want[2]) - 0.3).abs() < 1e-3) {
                skipped += 1;
                continue;
            }
            assert_eq!(got[..2], want[..2], "pixel ({x},{y}): instance+1 / primitive");
            if want[0] != 0 {
                hits += 1;
                for k in 2..4 {
                    let (g, w) = (f32::from_bits(got[k]), f32::from_bits(want[k]));
                    assert!((g - w).abs() < 1e-4, "pixel ({x},{y}): barycentric {g} vs {w}");
                }
            }
        }
    }
    assert!(skipped < (W * H / 20) as usize, "{skipped} edge pixels skipped");
    hits
}

/// A TLAS of three instances of a three-triangle BLAS, traced by a raygen shader: the
/// instance, primitive and barycentrics of every pixel equal the CPU's (nearest hit: the
/// third instance covers part of the first).
#[test]
fn traced_hits_match_the_cpu() {
    let ctx = common::gpu(false);
    assert!(ctx.caps().ray_tracing, "the set-up guarantees ray tracing on lavapipe");
    let s = scene(&ctx, true);
    let p = pipeline(&ctx);
    let gpu = build_and_trace(&ctx, &s, &p, 0);
    let hits = compare(&gpu, false);
    assert!(hits > 300, "{hits} pixels hit");
    assert!(
        gpu.iter().any(|h| h[0] == 31) && gpu.iter().any(|h| h[0] == 11),
        "instances 10 and 30"
    );
    ctx.wait_idle().expect("idle");
    let m = ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// Alpha-tested geometry (not opaque) through the any-hit group: holes where u < 0.3, where
/// the ray goes on to what is behind, exactly as on the CPU.
#[test]
fn any_hit_shaders_cut_holes() {
    let ctx = common::gpu(false);
    let s = scene(&ctx, false);
    let p = pipeline(&ctx);
    let gpu = build_and_trace(&ctx, &s, &p, 1);
    let hits = compare(&gpu, true);
    let full = compare(&build_and_trace(&ctx, &s, &p, 0), false);
    assert!(hits > 100 && hits < full, "{hits} hits with holes, {full} without");
    ctx.wait_idle().expect("idle");
    let m = ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// Compaction: the BLAS's compacted size is queried after its build, a structure of that size
/// receives the compacting copy; it is smaller (on drivers that compact: not lavapipe) and a
/// TLAS over it traces the same hits as the CPU says.
#[test]
fn compacted_blas_is_smaller_and_traces_the_same() {
    let ctx = common::gpu(false);
    let s = scene(&ctx, true);
    let p = pipeline(&ctx);
    let queries = xpg::CompactedSizeQueries::new(&ctx, 1).expect("queries");
    let pool = queries.raw();
    let sr = &s;
    execute(&ctx, |g| {
        add_blas_build(g, &ctx, sr, &sr.blas);
        let bh = g.import_accel("blas", sr.blas.raw(), sr.blas.buffer().raw(), None);
        g.add_pass("compacted size").read(&bh, Access::AccelBuildRead).side_effect().record(
            move |pc| {
                // SAFETY: the build is ordered before this read by the graph.
                unsafe { sr.blas.record_compacted_size_query(pc.cmd, pool, 0) }
                    .map_err(framegraph::ExecuteError::Gpu)?;
                Ok(())
            },
        );
    });
    let size = queries.read().expect("sizes")[0];
    let full = AccelerationStructure::blas_sizes(&ctx, &[s.triangles]).expect("sizes").structure;
    // Lavapipe does not compact (it reports the build size, also for 8192 triangles); real
    // GPUs do (the NVIDIA numbers are in the benchmark).
    assert!(size > 0 && size <= full, "compacted {size} of {full}");
    if !ctx.caps().device_name.contains("llvmpipe") {
        assert!(size < full, "{}: compacted {size} of {full}", ctx.caps().device_name);
    }
    let compact = AccelerationStructure::new(
        &ctx,
        "rt blas compact",
        vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL,
        size,
    )
    .expect("compact");
    // The TLAS now instances the compacted BLAS.
    let instances = s.instances_for(&ctx, compact.address(), &instances());
    let out = hits_buffer(&ctx);
    let (sr, cr) = (&s, &compact);
    execute(&ctx, |g| {
        let src = g.import_accel(
            "blas",
            sr.blas.raw(),
            sr.blas.buffer().raw(),
            Some(Access::AccelBuildOutput),
        );
        let mut dst = g.import_accel("compact", cr.raw(), cr.buffer().raw(), None);
        g.add_pass("compact")
            .read(&src, Access::AccelBuildRead)
            .write(&mut dst, Access::AccelBuildOutput)
            .record(move |pc| {
                // SAFETY: the source is built; the destination is fresh and declared written.
                unsafe { sr.blas.record_compact_into(pc.cmd, cr) }
                    .map_err(framegraph::ExecuteError::Gpu)?;
                Ok(())
            });
        add_tlas_build(g, &ctx, sr, &instances, cr, false);
        add_trace(g, sr, &p, &out, 0);
    });
    let hits = compare(&read_hits(&ctx, &out), false);
    assert!(hits > 300, "{hits} pixels hit");
    ctx.wait_idle().expect("idle");
    let m = ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// An in-place TLAS update after moving an instance: the next trace sees the new hit
/// pattern (the CPU's with the moved instance).
#[test]
fn tlas_update_moves_an_instance() {
    let ctx = common::gpu(false);
    let s = scene(&ctx, true);
    let p = pipeline(&ctx);
    let before = build_and_trace(&ctx, &s, &p, 0);
    compare(&before, false);
    let mut moved = instances();
    moved[1].0[0][3] -= 1.2;
    moved[1].0[1][3] += 0.6;
    let bytes = instance_bytes(s.blas.address(), &moved);
    let out = hits_buffer(&ctx);
    execute(&ctx, |g| {
        let mut ib =
            g.import_buffer("instances", &s.instances, Some(Access::AccelBuildInput), None);
        let raw = s.instances.raw();
        let data = bytes.clone();
        g.add_pass("write instances").write(&mut ib, Access::TransferDst).record(move |pc| {
            // SAFETY: recording; 192 bytes (a multiple of 4) inside the buffer; the graph
            // orders this write after the earlier build's read.
            unsafe { pc.device().cmd_update_buffer(pc.cmd, raw, 0, &data) };
            Ok(())
        });
        add_tlas_build(g, &ctx, &s, &s.instances, &s.blas, true);
        add_trace(g, &s, &p, &out, 0);
    });
    let after = read_hits(&ctx, &out);
    compare_with(&after, false, &moved);
    let changed = before.iter().zip(&after).filter(|(a, b)| a[0] != b[0]).count();
    assert!(changed > 50, "only {changed} pixels changed");
    ctx.wait_idle().expect("idle");
    let m = ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// The cornell_box reference scene through the GpuScene's own acceleration structures (one
/// compacted BLAS per mesh over the scene's vertex and index buffers, a TLAS over the mesh
/// placements): the primary-visibility image (instance index as the value) equals a raster
/// render of the draws' placements from the same camera for >= 99.9 % of pixels.
#[test]
fn cornell_box_primary_visibility_matches_raster_ids() {
    // 129x128: >= 99.9 % (the criterion). 128x128: the room's 45-degree corner edges
    // pass exactly through pixel centres (a tie between two walls at the same point, which
    // raster and ray tracing break differently): 99.69 %, every difference on such an edge.
    assert!(cornell_ids_agreement(129, 128, false) >= 0.999);
    assert!(cornell_ids_agreement(128, 128, false) >= 0.995);
    // After moving the tall box through GpuScene::update (the TLAS updated in place, the
    // raster's draws rewritten): still the same image both ways.
    assert!(cornell_ids_agreement(129, 128, true) >= 0.999);
}

/// The share of pixels where ray-traced and raster ids agree (every difference checked to be
/// an edge between surfaces).
fn cornell_ids_agreement(w: u32, h: u32, move_box: bool) -> f64 {
    use framegraph::ImageInfo;
    let ctx = common::gpu(false);
    let mut scene = scene::load(common::data("refs/scenes/cornell_box.gltf")).expect("cornell box");
    let mut gpu = render::GpuScene::upload(&ctx, &scene).expect("upload");
    if move_box {
        let node = scene.nodes.iter().position(|n| n.name == "tall_box").expect("tall box");
        let local = glam::Mat4::from_translation(glam::Vec3::new(0.12, 0.0, 0.05))
            * scene.nodes[node].local;
        assert!(scene.set_local_transform(node, local));
        let g = &mut gpu;
        execute(&ctx, |graph| {
            let done = g.update(&scene, graph).expect("update");
            assert!(done.transforms);
        });
    }
    let gpu = gpu;
    let accel = gpu.accel.as_ref().expect("acceleration structures (ray tracing on lavapipe)");
    assert_eq!(accel.blases.len(), scene.meshes.len());
    assert!(accel.blas_bytes.1 <= accel.blas_bytes.0, "{:?}", accel.blas_bytes);
    let view = scene::View::from_scene(&scene, None, w, h).expect("camera");
    let vp = view.proj * view.view;
    let compiler = common::compiler();
    let rc = compiler
        .compile(&ShaderDesc::new(common::test_shader("ids_raster.slang")))
        .expect("compile");
    let (vs, fs) = (rc.entry("vs_main").expect("vs"), rc.entry("fs_main").expect("fs"));
    let desc = xpg::GraphicsDesc::new("ids", vs, fs, vk::Format::R32_UINT).depth(
        vk::Format::D32_SFLOAT,
        true,
        vk::CompareOp::LESS,
    );
    let raster = Pipeline::graphics(&ctx, &desc, None).expect("raster ids pipeline");
    let tc =
        compiler.compile(&ShaderDesc::new(common::test_shader("ids_rt.slang"))).expect("compile");
    let e = |n: &str| tc.entry(n).unwrap_or_else(|| panic!("entry {n}"));
    let rt = Pipeline::ray_tracing(
        &ctx,
        &RayTracingDesc {
            name: "ids",
            raygen: e("raygen"),
            miss: vec![e("miss")],
            hit_groups: vec![(Some(e("chit")), None)],
            max_recursion: 1,
        },
        None,
    )
    .expect("ray tracing pipeline");
    let out_img = xpg::Image::new(
        &ctx,
        &xpg::ImageDesc::d2(
            "raster ids",
            w,
            h,
            vk::Format::R32_UINT,
            vk::ImageUsageFlags::TRANSFER_DST,
        ),
    )
    .expect("image");
    let out_buf = Buffer::new(
        &ctx,
        &BufferDesc {
            size: u64::from(w * h) * 4,
            usage: vk::BufferUsageFlags::STORAGE_BUFFER,
            memory: MemoryUsage::GpuOnly,
            name: "rt ids",
        },
    )
    .expect("buffer");
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct RasterPush {
        view_proj: [[f32; 4]; 4],
        vertices: u64,
        draws: u64,
    }
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct RtPush {
        inv_view_proj: [[f32; 4]; 4],
        width: u32,
        height: u32,
    }
    let rpush = RasterPush {
        view_proj: vp.to_cols_array_2d(),
        vertices: gpu.vertices.address(),
        draws: gpu.draws.address(),
    };
    let tpush = RtPush { inv_view_proj: vp.inverse().to_cols_array_2d(), width: w, height: h };
    let draw_count = gpu.draw_list.len() as u32;
    let (index_buffer, indirect) = (gpu.indices.raw(), gpu.indirect.raw());
    let (rp, tp) = (&raster, &rt);
    execute(&ctx, |g| {
        let mut color = g.create_image("ids", ImageInfo::d2(w, h, vk::Format::R32_UINT));
        let mut depth = g.create_image("depth", ImageInfo::d2(w, h, vk::Format::D32_SFLOAT));
        let (c, d) = (color, depth);
        g.add_pass("raster ids")
            .write(&mut color, Access::ColorAttachmentWrite)
            .write(&mut depth, Access::DepthAttachmentWrite)
            .record(move |pc| {
                let att = |view, clear| {
                    vk::RenderingAttachmentInfo::default()
                        .image_view(view)
                        .image_layout(vk::ImageLayout::ATTACHMENT_OPTIMAL)
                        .load_op(vk::AttachmentLoadOp::CLEAR)
                        .store_op(vk::AttachmentStoreOp::STORE)
                        .clear_value(clear)
                };
                let colors = [att(
                    pc.view(&c)?,
                    vk::ClearValue { color: vk::ClearColorValue { uint32: [0; 4] } },
                )];
                let depth_att = att(
                    pc.view(&d)?,
                    vk::ClearValue {
                        depth_stencil: vk::ClearDepthStencilValue { depth: 1.0, stencil: 0 },
                    },
                );
                let extent = pc.extent(&c, 0)?;
                // SAFETY: once per pass, the attachments are this pass's declared images.
                unsafe { pc.begin_rendering(extent, &colors, Some(&depth_att)) };
                rp.bind(pc.cmd, None);
                rp.push(pc.cmd, &rpush);
                let device = pc.device();
                // SAFETY: inside the rendering scope; the indirect commands index the scene's
                // index buffer (validated at upload).
                unsafe {
                    device.cmd_bind_index_buffer(pc.cmd, index_buffer, 0, vk::IndexType::UINT32);
                    device.cmd_draw_indexed_indirect(pc.cmd, indirect, 0, draw_count, 20);
                    device.cmd_end_rendering(pc.cmd);
                }
                Ok(())
            });
        let mut o = g.import_image(
            "raster out",
            out_img.raw(),
            out_img.view(),
            ImageInfo::d2(w, h, vk::Format::R32_UINT),
            None,
            None,
        );
        let (cc, oo) = (color, o);
        g.add_pass("copy ids")
            .read(&color, Access::TransferSrc)
            .write(&mut o, Access::TransferDst)
            .record(move |pc| pc.copy_image(&cc, &oo));
        let tlas = g.import_accel(
            "tlas",
            accel.tlas.raw(),
            accel.tlas.buffer().raw(),
            Some(Access::AccelBuildOutput),
        );
        let mut ids = g.import_buffer("rt ids", &out_buf, None, Some(Access::TransferSrc));
        let (t, i) = (tlas, ids);
        g.add_pass("trace ids")
            .read(&tlas, Access::RayTracingRead)
            .write(&mut ids, Access::StorageWriteRayTracing)
            .record(move |pc| {
                tp.bind(pc.cmd, None);
                pc.push_descriptors(
                    tp,
                    &[
                        Bind::Accel { binding: 0, accel: &t },
                        Bind::Buffer { binding: 1, buffer: &i },
                    ],
                )?;
                tp.push(pc.cmd, &tpush);
                // SAFETY: bound, descriptors and constants set, the TLAS built at upload.
                unsafe { tp.trace_rays(pc.cmd, [w, h, 1]) }.map_err(framegraph::ExecuteError::Gpu)
            });
    });
    let mut up = Uploader::new(&ctx, 1 << 20).expect("uploader");
    let raster_ids =
        up.read_image(&out_img, 0, 0, vk::ImageLayout::TRANSFER_DST_OPTIMAL).expect("read");
    let rt_ids = up.read_buffer(&out_buf, 0, out_buf.size()).expect("read");
    let as_u32 = |b: &[u8]| -> Vec<u32> {
        b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    let (a, b) = (as_u32(&raster_ids), as_u32(&rt_ids));
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    // Every pixel that differs must be an edge between two surfaces: the traced id appears
    // among the raster's 3x3 neighbours (on lavapipe the 50 differing pixels of 16384 all lie
    // on the room's four corner edges, one per row, where two walls meet).
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        if x == y {
            continue;
        }
        let (px, py) = ((k as u32 % w) as i64, (k as u32 / w) as i64);
        let near =
            (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (px + dx, py + dy))).any(|(nx, ny)| {
                (0..w as i64).contains(&nx)
                    && (0..h as i64).contains(&ny)
                    && a[(ny * w as i64 + nx) as usize] == *y
            });
        assert!(near, "pixel ({px},{py}): ray traced {y}, raster {x}, not an edge");
    }
    let distinct: std::collections::BTreeSet<u32> = a.iter().copied().collect();
    assert!(distinct.len() >= 5, "the box's walls and blocks: {distinct:?}");
    let agree = same as f64 / a.len() as f64;
    eprintln!("cornell box {w}x{h}: {same} of {} pixels agree ({:.3} %)", a.len(), 100.0 * agree);
    ctx.wait_idle().expect("idle");
    let m = ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
    agree
}

/// The TLAS through the bindless heap (`g_accels[i]`, binding 3 of set 0) traces the same hits
/// as through a push descriptor.
#[test]
fn bindless_tlas_traces_the_same() {
    let ctx = common::gpu(false);
    let heap = ctx.bindless().expect("heap");
    assert!(heap.capacity()[3] > 0, "lavapipe allows acceleration structures in the heap");
    let s = scene(&ctx, true);
    let p = pipeline(&ctx);
    let reference = build_and_trace(&ctx, &s, &p, 0);
    let compiler = common::compiler();
    let code = compiler
        .compile(&ShaderDesc::new(common::test_shader("rt_bindless.slang")))
        .expect("compile");
    let e = |n: &str| code.entry(n).unwrap_or_else(|| panic!("entry {n}"));
    let bp = Pipeline::ray_tracing(
        &ctx,
        &RayTracingDesc {
            name: "rt bindless",
            raygen: e("raygen"),
            miss: vec![e("miss")],
            hit_groups: vec![(Some(e("chit")), None)],
            max_recursion: 1,
        },
        Some(heap),
    )
    .expect("pipeline");
    // SAFETY: the TLAS outlives the slot (dropped at the end of this test, after the wait).
    let slot = unsafe { heap.add_acceleration_structure(s.tlas.raw()) }.expect("slot");
    let out = hits_buffer(&ctx);
    let (sr, bpr, index) = (&s, &bp, slot.index());
    execute(&ctx, |g| {
        let tlas = g.import_accel(
            "tlas",
            sr.tlas.raw(),
            sr.tlas.buffer().raw(),
            Some(Access::AccelBuildOutput),
        );
        let mut hits = g.import_buffer("hits", &out, None, Some(Access::TransferSrc));
        let h = hits;
        g.add_pass("trace bindless")
            .read(&tlas, Access::RayTracingRead)
            .write(&mut hits, Access::StorageWriteRayTracing)
            .record(move |pc| {
                bpr.bind(pc.cmd, Some(heap));
                pc.push_descriptors(bpr, &[Bind::Buffer { binding: 1, buffer: &h }])?;
                pc_push(bpr, pc.cmd, index);
                // SAFETY: bound (with the heap), descriptors and constants set, TLAS built.
                unsafe { bpr.trace_rays(pc.cmd, [W, H, 1]) }.map_err(framegraph::ExecuteError::Gpu)
            });
    });
    assert_eq!(read_hits(&ctx, &out), reference);
    ctx.wait_idle().expect("idle");
    drop(slot);
    let m = ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// rt_bindless.slang's push constants: rt_hits.slang's, with the TLAS slot where the hit group
/// was.
fn pc_push(p: &Pipeline, cmd: vk::CommandBuffer, tlas: u32) {
    p.push(cmd, &TracePush { lo: LO, hi: HI, width: W, height: H, hit_group: tlas, pad: 0 });
}

/// A transient TLAS (created by the graph, on its pooled memory) built and traced in one
/// graph, twice with the same executor (the second frame reuses the pool): the same hits as
/// the imported TLAS.
#[test]
fn transient_tlas_traces_the_same() {
    let ctx = common::gpu(false);
    let s = scene(&ctx, true);
    let p = pipeline(&ctx);
    let reference = build_and_trace(&ctx, &s, &p, 0);
    let mut executor = Executor::new(&ctx, 1);
    for frame in 0..2 {
        let out = hits_buffer(&ctx);
        let mut graph = FrameGraph::new();
        let sizes = AccelerationStructure::tlas_sizes(&ctx, 3).expect("sizes");
        let mut tlas = graph.create_accel(
            "frame tlas",
            vk::AccelerationStructureTypeKHR::TOP_LEVEL,
            sizes.structure,
        );
        let instb =
            graph.import_buffer("instances", &s.instances, Some(Access::AccelBuildInput), None);
        let bh = graph.import_accel(
            "blas",
            s.blas.raw(),
            s.blas.buffer().raw(),
            Some(Access::AccelBuildOutput),
        );
        let mut scratch = scratch(&mut graph, &ctx, "tlas scratch", sizes.build_scratch);
        let (sc, t, address) = (scratch, tlas, s.instances.address());
        graph
            .add_pass("build transient tlas")
            .read(&instb, Access::AccelBuildInput)
            .read(&bh, Access::AccelBuildRead)
            .write(&mut tlas, Access::AccelBuildOutput)
            .write(&mut scratch, Access::AccelBuildOutput)
            .record(move |pc| {
                let scratch = aligned(pc.buffer_address(&sc)?, pc.context());
                let (raw, _) = pc.accel(&t)?;
                // SAFETY: a fresh transient structure of the queried size; inputs declared.
                unsafe {
                    xpg::record_tlas_build_raw(
                        pc.context(),
                        pc.cmd,
                        raw,
                        address,
                        3,
                        scratch,
                        false,
                    )
                }
                .map_err(framegraph::ExecuteError::Gpu)
            });
        let mut hits = graph.import_buffer("hits", &out, None, Some(Access::TransferSrc));
        let (tt, h, pr) = (tlas, hits, &p);
        graph
            .add_pass("trace")
            .read(&tlas, Access::RayTracingRead)
            .write(&mut hits, Access::StorageWriteRayTracing)
            .record(move |pc| {
                pr.bind(pc.cmd, None);
                pc.push_descriptors(
                    pr,
                    &[
                        Bind::Accel { binding: 0, accel: &tt },
                        Bind::Buffer { binding: 1, buffer: &h },
                    ],
                )?;
                pr.push(
                    pc.cmd,
                    &TracePush { lo: LO, hi: HI, width: W, height: H, hit_group: 0, pad: 0 },
                );
                // SAFETY: bound, descriptors and constants set, the transient TLAS built.
                unsafe { pr.trace_rays(pc.cmd, [W, H, 1]) }.map_err(framegraph::ExecuteError::Gpu)
            });
        let plan = executor.compile(&graph).expect("compile");
        ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))
            .expect("submit")
            .expect("execute");
        assert_eq!(read_hits(&ctx, &out), reference, "frame {frame}");
    }
    drop(executor);
    ctx.wait_idle().expect("idle");
    let m = ctx.validation_messages();
    assert_eq!(m.total(), 0, "{:?}", m.recent);
}

/// A pass that binds an acceleration structure it did not declare is an error (the graph
/// could not order it against builds), not a silent race.
#[test]
fn undeclared_acceleration_structures_are_errors() {
    let ctx = common::gpu(false);
    let s = scene(&ctx, true);
    let p = pipeline(&ctx);
    let _ = build_and_trace(&ctx, &s, &p, 0);
    let out = hits_buffer(&ctx);
    let mut graph = FrameGraph::new();
    let tlas = graph.import_accel(
        "tlas",
        s.tlas.raw(),
        s.tlas.buffer().raw(),
        Some(Access::AccelBuildOutput),
    );
    let mut hits = graph.import_buffer("hits", &out, None, None);
    let (t, h, pr) = (tlas, hits, &p);
    graph
        .add_pass("trace, TLAS not declared")
        .write(&mut hits, Access::StorageWriteRayTracing)
        .side_effect()
        .record(move |pc| {
            pr.bind(pc.cmd, None);
            pc.push_descriptors(
                pr,
                &[Bind::Accel { binding: 0, accel: &t }, Bind::Buffer { binding: 1, buffer: &h }],
            )?;
            Ok(())
        });
    let mut executor = Executor::new(&ctx, 1);
    let plan = executor.compile(&graph).expect("compile");
    let e = ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None)).expect("submit");
    let e = e.expect_err("undeclared TLAS").to_string();
    assert!(e.contains("not declared") || e.contains("declare"), "{e}");
}
