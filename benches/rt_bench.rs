//! Ray tracing benchmark: a generated mesh of about 1 M triangles (a bumpy 708x708 grid):
//! BLAS build time (GPU timestamps of the build pass), its size before and after compaction,
//! the TLAS build, and primary rays per second at 1920x1080 (one ray per pixel, closest hit
//! writes the instance index; median over the frames).
//!
//! ```text
//! cargo bench --bench rt_bench -- [--frames 50] [--grid 708]
//! ```

use framegraph::{Access, Bind, Executor, FrameGraph};
use glam::{Mat4, Vec3};
use xpg::vk;
use xpg::{
    AccelerationStructure, BlasTriangles, Buffer, BufferDesc, CompactedSizeQueries, Context,
    ContextDesc, MemoryUsage, Pipeline, RayTracingDesc, ShaderCompiler, ShaderDesc, Uploader,
};

fn upload(
    ctx: &Context,
    name: &str,
    bytes: &[u8],
    usage: vk::BufferUsageFlags,
) -> anyhow::Result<Buffer> {
    let mut b = Buffer::new(
        ctx,
        &BufferDesc { size: bytes.len() as u64, usage, memory: MemoryUsage::DeviceUpload, name },
    )?;
    let mut up = Uploader::new(ctx, 64 << 20)?;
    up.upload_buffer(&mut b, 0, bytes)?;
    up.flush()?;
    Ok(b)
}

fn aligned(ctx: &Context, address: u64) -> u64 {
    let a = u64::from(ctx.caps().rt.min_scratch_offset_alignment).max(1);
    address.div_ceil(a) * a
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Push {
    inv_view_proj: [[f32; 4]; 4],
    width: u32,
    height: u32,
}

fn main() -> anyhow::Result<()> {
    let (mut frames, mut n) = (50usize, 708u32);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--frames" => frames = args.next().unwrap_or_default().parse()?,
            "--grid" => n = args.next().unwrap_or_default().parse()?,
            "--bench" => {}
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let ctx = Context::new(&ContextDesc::default())?;
    println!("device: {} ({})", ctx.caps().device_name, ctx.caps().driver);
    anyhow::ensure!(ctx.caps().ray_tracing, "no ray tracing on this device");
    // A bumpy grid over [-1, 1]^2 (z up to 0.05), n x n quads.
    let mut positions: Vec<[f32; 3]> = Vec::with_capacity(((n + 1) * (n + 1)) as usize);
    for y in 0..=n {
        for x in 0..=n {
            let (u, v) = (x as f32 / n as f32 * 2.0 - 1.0, y as f32 / n as f32 * 2.0 - 1.0);
            positions.push([u, v, 0.05 * (u * 17.0).sin() * (v * 13.0).cos()]);
        }
    }
    let mut indices: Vec<u32> = Vec::with_capacity((n * n * 6) as usize);
    for y in 0..n {
        for x in 0..n {
            let a = y * (n + 1) + x;
            indices.extend([a, a + 1, a + n + 2, a, a + n + 2, a + n + 1]);
        }
    }
    let triangles = indices.len() as u32 / 3;
    let input = vk::BufferUsageFlags::ACCELERATION_STRUCTURE_BUILD_INPUT_READ_ONLY_KHR
        | vk::BufferUsageFlags::STORAGE_BUFFER;
    let vb = upload(&ctx, "vertices", bytemuck::cast_slice(&positions), input)?;
    let ib = upload(&ctx, "indices", bytemuck::cast_slice(&indices), input)?;
    let tri = BlasTriangles {
        vertex_address: vb.address(),
        vertex_stride: 12,
        vertex_count: positions.len() as u32,
        index_address: ib.address(),
        triangle_count: triangles,
        opaque: true,
    };
    let sizes = AccelerationStructure::blas_sizes(&ctx, &[tri])?;
    let blas = AccelerationStructure::new(
        &ctx,
        "blas",
        vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL,
        sizes.structure,
    )?;
    let align = u64::from(ctx.caps().rt.min_scratch_offset_alignment);
    // BLAS builds, timed (the same structure rebuilt each time; the last one stays).
    let mut executor = Executor::new(&ctx, 1);
    let queries = CompactedSizeQueries::new(&ctx, 1)?;
    let pool = queries.raw();
    let mut build_ms = Vec::new();
    for k in 0..5 {
        let mut graph = FrameGraph::new();
        let mut h = graph.import_accel("blas", blas.raw(), blas.buffer().raw(), None);
        let mut scratch = graph.create_buffer("scratch", sizes.build_scratch + align);
        let sc = scratch;
        let (vh, ih) = (
            graph.import_buffer("vertices", &vb, Some(Access::AccelBuildInput), None),
            graph.import_buffer("indices", &ib, Some(Access::AccelBuildInput), None),
        );
        let blas_ref = &blas;
        graph
            .add_pass("build blas")
            .read(&vh, Access::AccelBuildInput)
            .read(&ih, Access::AccelBuildInput)
            .write(&mut h, Access::AccelBuildOutput)
            .write(&mut scratch, Access::AccelBuildOutput)
            .record(move |pc| {
                let s = aligned(pc.context(), pc.buffer_address(&sc)?);
                // SAFETY: inputs uploaded and declared; scratch aligned and large enough.
                unsafe { blas_ref.record_blas_build(pc.cmd, &[tri], s) }
                    .map_err(framegraph::ExecuteError::Gpu)
            });
        if k == 4 {
            graph.add_pass("compacted size").read(&h, Access::AccelBuildRead).side_effect().record(
                move |pc| {
                    // SAFETY: ordered after the build by the graph.
                    unsafe { blas_ref.record_compacted_size_query(pc.cmd, pool, 0) }
                        .map_err(framegraph::ExecuteError::Gpu)
                },
            );
        }
        let plan = executor.compile(&graph)?;
        ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))??;
        ctx.wait_idle()?;
        // The timings of a submission come back with the next execute: run an empty graph.
        let empty = FrameGraph::new();
        let plan = executor.compile(&empty)?;
        ctx.immediate(|cmd| executor.execute(empty, &plan, cmd, None))??;
        if let Some(t) = executor.last_timings().iter().find(|t| t.name == "build blas") {
            build_ms.push(t.gpu_ms);
        }
    }
    let compacted = queries.read()?[0];
    let compact = AccelerationStructure::new(
        &ctx,
        "blas compact",
        vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL,
        compacted,
    )?;
    // TLAS with one instance of the compacted BLAS.
    let inst = xpg::tlas_instance(
        [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
        0,
        0xff,
        0,
        compact.address(),
        vk::GeometryInstanceFlagsKHR::empty(),
    );
    // SAFETY: VkAccelerationStructureInstanceKHR is 64 plain bytes.
    let inst_bytes = unsafe { std::slice::from_raw_parts((&raw const inst).cast::<u8>(), 64) };
    let instances = upload(
        &ctx,
        "instances",
        inst_bytes,
        vk::BufferUsageFlags::ACCELERATION_STRUCTURE_BUILD_INPUT_READ_ONLY_KHR,
    )?;
    let tsizes = AccelerationStructure::tlas_sizes(&ctx, 1)?;
    let tlas = AccelerationStructure::new(
        &ctx,
        "tlas",
        vk::AccelerationStructureTypeKHR::TOP_LEVEL,
        tsizes.structure,
    )?;
    {
        let mut graph = FrameGraph::new();
        let src = graph.import_accel(
            "blas",
            blas.raw(),
            blas.buffer().raw(),
            Some(Access::AccelBuildOutput),
        );
        let mut dst = graph.import_accel("compact", compact.raw(), compact.buffer().raw(), None);
        let (b, c) = (&blas, &compact);
        graph
            .add_pass("compact")
            .read(&src, Access::AccelBuildRead)
            .write(&mut dst, Access::AccelBuildOutput)
            .record(move |pc| {
                // SAFETY: the source is built (earlier submission); the destination is fresh.
                unsafe { b.record_compact_into(pc.cmd, c) }.map_err(framegraph::ExecuteError::Gpu)
            });
        let ih = graph.import_buffer("instances", &instances, Some(Access::AccelBuildInput), None);
        let mut th = graph.import_accel("tlas", tlas.raw(), tlas.buffer().raw(), None);
        let mut scratch = graph.create_buffer("tlas scratch", tsizes.build_scratch + align);
        let (sc, t, address) = (scratch, &tlas, instances.address());
        graph
            .add_pass("build tlas")
            .read(&ih, Access::AccelBuildInput)
            .read(&dst, Access::AccelBuildRead)
            .write(&mut th, Access::AccelBuildOutput)
            .write(&mut scratch, Access::AccelBuildOutput)
            .record(move |pc| {
                let s = aligned(pc.context(), pc.buffer_address(&sc)?);
                // SAFETY: the compacted BLAS is built (declared read); scratch aligned.
                unsafe { t.record_tlas_build(pc.cmd, address, 1, s, false) }
                    .map_err(framegraph::ExecuteError::Gpu)
            });
        let plan = executor.compile(&graph)?;
        ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))??;
    }
    // Primary rays at 1920x1080 from above the grid.
    let (w, h) = (1920u32, 1080u32);
    let view = glam::camera::rh::view::look_at_mat4(Vec3::new(0.0, -2.2, 1.6), Vec3::ZERO, Vec3::Z);
    let proj = scene::camera::perspective(50f32.to_radians(), w as f32 / h as f32, 0.05, 100.0);
    let inv: Mat4 = (proj * view).inverse();
    let compiler = ShaderCompiler::new([ShaderCompiler::project_shader_dir()]);
    let code = compiler.compile(&ShaderDesc::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/shaders/rt_primary.slang"),
    ))?;
    let e = |name: &str| code.entry(name).ok_or_else(|| anyhow::anyhow!("entry {name}"));
    let pipeline = Pipeline::ray_tracing(
        &ctx,
        &RayTracingDesc {
            name: "primary",
            raygen: e("raygen")?,
            miss: vec![e("miss")?],
            hit_groups: vec![(Some(e("chit")?), None)],
            max_recursion: 1,
        },
        None,
    )?;
    let out = Buffer::new(
        &ctx,
        &BufferDesc {
            size: u64::from(w * h) * 4,
            usage: vk::BufferUsageFlags::STORAGE_BUFFER,
            memory: MemoryUsage::GpuOnly,
            name: "ids",
        },
    )?;
    let push = Push { inv_view_proj: inv.to_cols_array_2d(), width: w, height: h };
    let mut trace_ms = Vec::new();
    for _ in 0..frames + 1 {
        let mut graph = FrameGraph::new();
        let th = graph.import_accel(
            "tlas",
            tlas.raw(),
            tlas.buffer().raw(),
            Some(Access::AccelBuildOutput),
        );
        let mut oh = graph.import_buffer("ids", &out, None, None);
        let (t, o, p) = (th, oh, &pipeline);
        graph
            .add_pass("trace")
            .read(&th, Access::RayTracingRead)
            .write(&mut oh, Access::StorageWriteRayTracing)
            .side_effect()
            .record(move |pc| {
                p.bind(pc.cmd, None);
                pc.push_descriptors(
                    p,
                    &[
                        Bind::Accel { binding: 0, accel: &t },
                        Bind::Buffer { binding: 1, buffer: &o },
                    ],
                )?;
                p.push(pc.cmd, &push);
                // SAFETY: bound, descriptors and constants set, the TLAS built.
                unsafe { p.trace_rays(pc.cmd, [w, h, 1]) }.map_err(framegraph::ExecuteError::Gpu)
            });
        let plan = executor.compile(&graph)?;
        ctx.immediate(|cmd| executor.execute(graph, &plan, cmd, None))??;
        if let Some(t) = executor.last_timings().iter().find(|t| t.name == "trace") {
            trace_ms.push(t.gpu_ms);
        }
    }
    ctx.wait_idle()?;
    let trace = median(trace_ms);
    println!("| mesh | {triangles} triangles |");
    println!("| BLAS build (GPU, median of 5) | {:.3} ms |", median(build_ms));
    println!(
        "| BLAS size | {:.1} MiB built, {:.1} MiB compacted ({:.0} %) |",
        blas.size() as f64 / 1048576.0,
        compacted as f64 / 1048576.0,
        100.0 * compacted as f64 / blas.size() as f64
    );
    println!(
        "| primary rays 1920x1080 (GPU, median of {frames}) | {:.3} ms, {:.0} Mrays/s |",
        trace,
        f64::from(w * h) / (trace * 1e-3) / 1e6
    );
    Ok(())
}
