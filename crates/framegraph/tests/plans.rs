//! Plan tests in the style of vulkano's task graph tests: each draws its graph, compiles it
//! without a device and asserts the exact barriers (stages, accesses, layouts, ranges).
//!
//! A transient's first use waits for the previous user of its memory: the block's previous
//! occupant, or (first occupant) the block's last occupant in the previous frame, since frames
//! in flight share the pooled transients. An imported resource with no known state waits for
//! everything before it (so the swapchain's acquire wait is in the chain).

use framegraph::{
    Access, Barrier, FrameGraph, GraphError, ImageInfo, ImageTransition, Plan, Subresources,
};
use xpg::vk;
use xpg::vk::{AccessFlags2 as A, ImageLayout as L, PipelineStageFlags2 as S};

const RGBA: vk::Format = vk::Format::R8G8B8A8_UNORM;
const NONE: (S, A) = (S::NONE, A::NONE);
const COMPUTE_W: (S, A) = (S::COMPUTE_SHADER, A::SHADER_STORAGE_WRITE);
const COMPUTE_RW: (S, A) = (
    S::COMPUTE_SHADER,
    A::from_raw(A::SHADER_STORAGE_READ.as_raw() | A::SHADER_STORAGE_WRITE.as_raw()),
);
const FRAG_SAMPLE: (S, A) = (S::FRAGMENT_SHADER, A::SHADER_SAMPLED_READ);
const FRAG_TESTS: S =
    S::from_raw(S::EARLY_FRAGMENT_TESTS.as_raw() | S::LATE_FRAGMENT_TESTS.as_raw());
/// An imported image of unknown state: every earlier command waited for (its contents are
/// discarded with the layout).
const UNKNOWN: (S, A) = (S::ALL_COMMANDS, A::NONE);
/// An imported buffer of unknown state: every earlier command waited for, and its writes,
/// whatever they were, made available (the contents are kept).
const UNKNOWN_BUFFER: (S, A) = (S::ALL_COMMANDS, A::MEMORY_WRITE);
const COMPUTE_SAMPLE: (S, A) = (S::COMPUTE_SHADER, A::SHADER_SAMPLED_READ);
/// A compute-written image sampled later (in fragment or compute) uses these stages/writes.
const COMPUTE_FRAG_W: (S, A) = (
    S::from_raw(S::COMPUTE_SHADER.as_raw() | S::FRAGMENT_SHADER.as_raw()),
    A::SHADER_STORAGE_WRITE,
);

fn id(plan: &Plan, name: &str) -> u32 {
    plan.resource_names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no resource {name}")) as u32
}

#[allow(clippy::too_many_arguments)]
fn img(
    plan: &Plan,
    name: &str,
    mips: (u32, u32),
    layers: (u32, u32),
    old: L,
    new: L,
    src: (S, A),
    dst: (S, A),
) -> Barrier {
    Barrier {
        resource: id(plan, name),
        image: Some(ImageTransition {
            range: Subresources {
                base_mip: mips.0,
                mip_count: mips.1 - mips.0,
                base_layer: layers.0,
                layer_count: layers.1 - layers.0,
            },
            old_layout: old,
            new_layout: new,
        }),
        src_stage: src.0,
        src_access: src.1,
        dst_stage: dst.0,
        dst_access: dst.1,
    }
}

fn mem(plan: &Plan, name: &str, src: (S, A), dst: (S, A)) -> Barrier {
    Barrier {
        resource: id(plan, name),
        image: None,
        src_stage: src.0,
        src_access: src.1,
        dst_stage: dst.0,
        dst_access: dst.1,
    }
}

fn pass<'p>(plan: &'p Plan, name: &str) -> &'p [Barrier] {
    &plan
        .passes
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no pass {name} in\n{plan}"))
        .barriers
}

fn compile(g: &FrameGraph<'_>) -> Plan {
    g.compile().unwrap_or_else(|e| panic!("compile: {e}"))
}

/// ```text
/// [gen] --storage write--> (img) --sampled--> [show]*
/// ```
#[test]
fn compute_write_then_fragment_sample() {
    let mut g = FrameGraph::new();
    let mut t = g.create_image("img", ImageInfo::d2(64, 64, RGBA));
    g.add_pass("gen").write(&mut t, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("show").read(&t, Access::SampledFragment).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(
        pass(&p, "gen"),
        [img(&p, "img", (0, 1), (0, 1), L::UNDEFINED, L::GENERAL, COMPUTE_FRAG_W, COMPUTE_RW)]
    );
    assert_eq!(
        pass(&p, "show"),
        [img(&p, "img", (0, 1), (0, 1), L::GENERAL, L::READ_ONLY_OPTIMAL, COMPUTE_W, FRAG_SAMPLE)]
    );
    assert!(p.final_barriers.is_empty());
}

/// ```text
/// [a] --write--> (img) --sampled--> [b] ; [c] --storage write--> (img)   write-after-read
/// [a] --write--> (buf) --read-->    [b] ; [c] --transfer write--> (buf)
/// ```
#[test]
fn write_after_read_is_an_execution_dependency() {
    let mut g = FrameGraph::new();
    let mut t = g.create_image("img", ImageInfo::d2(8, 8, RGBA));
    let mut b = g.create_buffer("buf", 256);
    g.add_pass("a")
        .write(&mut t, Access::StorageWriteCompute)
        .write(&mut b, Access::StorageWriteCompute)
        .record(|_| Ok(()));
    // b only reads: without a side effect it would be culled (nothing depends on it).
    g.add_pass("b")
        .read(&t, Access::SampledFragment)
        .read(&b, Access::StorageReadFragment)
        .side_effect()
        .record(|_| Ok(()));
    g.add_pass("c")
        .write(&mut t, Access::StorageWriteCompute)
        .write(&mut b, Access::TransferDst)
        .side_effect()
        .record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(
        pass(&p, "c"),
        [
            img(
                &p,
                "img",
                (0, 1),
                (0, 1),
                L::READ_ONLY_OPTIMAL,
                L::GENERAL,
                (S::FRAGMENT_SHADER, A::NONE),
                COMPUTE_RW
            ),
            mem(&p, "buf", (S::FRAGMENT_SHADER, A::NONE), (S::ALL_TRANSFER, A::TRANSFER_WRITE)),
        ]
    );
}

/// ```text
/// [a] --write--> (buf) --write--> [b]*     write-after-write
/// ```
#[test]
fn write_after_write_makes_the_first_write_available() {
    let mut g = FrameGraph::new();
    let mut b = g.create_buffer("buf", 64);
    g.add_pass("a").write(&mut b, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("b").write(&mut b, Access::StorageWriteCompute).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(
        pass(&p, "a"),
        [mem(&p, "buf", COMPUTE_W, COMPUTE_RW)],
        "waits for the previous frame's use of the pooled buffer"
    );
    assert_eq!(pass(&p, "b"), [mem(&p, "buf", COMPUTE_W, COMPUTE_RW)]);
}

/// ```text
///               +--sampled (fragment)--> [r1]
/// [w] --> (img) +--sampled (fragment)--> [r2]*
///               +--sampled (compute)---> [r3]*
/// ```
#[test]
fn readers_share_one_barrier_and_read_after_read_needs_none() {
    let mut g = FrameGraph::new();
    let mut t = g.create_image("img", ImageInfo::d2(8, 8, RGBA));
    g.add_pass("w").write(&mut t, Access::ColorAttachmentWrite).record(|_| Ok(()));
    g.add_pass("r1").read(&t, Access::SampledFragment).side_effect().record(|_| Ok(()));
    g.add_pass("r2").read(&t, Access::SampledFragment).side_effect().record(|_| Ok(()));
    g.add_pass("r3").read(&t, Access::SampledCompute).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    let dst = (S::FRAGMENT_SHADER | S::COMPUTE_SHADER, A::SHADER_SAMPLED_READ);
    assert_eq!(
        pass(&p, "r1"),
        [img(
            &p,
            "img",
            (0, 1),
            (0, 1),
            L::ATTACHMENT_OPTIMAL,
            L::READ_ONLY_OPTIMAL,
            (S::COLOR_ATTACHMENT_OUTPUT, A::COLOR_ATTACHMENT_WRITE),
            dst
        )]
    );
    assert!(pass(&p, "r2").is_empty());
    assert!(pass(&p, "r3").is_empty());
}

/// ```text
/// [depth] --depth write--> (z) --depth read-only + sampled--> [light]*
/// ```
#[test]
fn depth_write_then_read_only_depth_and_sampled_in_one_pass() {
    let mut g = FrameGraph::new();
    let mut z = g.create_image("z", ImageInfo::d2(32, 32, vk::Format::D32_SFLOAT));
    g.add_pass("depth").write(&mut z, Access::DepthAttachmentWrite).record(|_| Ok(()));
    g.add_pass("light")
        .read(&z, Access::DepthAttachmentRead)
        .read(&z, Access::SampledFragment)
        .side_effect()
        .record(|_| Ok(()));
    let p = compile(&g);
    let depth_rw = A::DEPTH_STENCIL_ATTACHMENT_READ | A::DEPTH_STENCIL_ATTACHMENT_WRITE;
    assert_eq!(
        pass(&p, "depth"),
        [img(
            &p,
            "z",
            (0, 1),
            (0, 1),
            L::UNDEFINED,
            L::ATTACHMENT_OPTIMAL,
            (FRAG_TESTS | S::FRAGMENT_SHADER, A::DEPTH_STENCIL_ATTACHMENT_WRITE),
            (FRAG_TESTS, depth_rw)
        )]
    );
    assert_eq!(
        pass(&p, "light"),
        [img(
            &p,
            "z",
            (0, 1),
            (0, 1),
            L::ATTACHMENT_OPTIMAL,
            L::READ_ONLY_OPTIMAL,
            (FRAG_TESTS, A::DEPTH_STENCIL_ATTACHMENT_WRITE),
            (
                FRAG_TESTS | S::FRAGMENT_SHADER,
                A::DEPTH_STENCIL_ATTACHMENT_READ | A::SHADER_SAMPLED_READ
            ),
        )]
    );
}

/// ```text
/// [mip0] -> (m:0) -> [down1] -> (m:1) -> [down2] -> (m:2) -> [down3] -> (m:3)
///                                                            all mips -> [show]*
/// ```
#[test]
fn mip_chain_each_mip_written_from_the_previous() {
    let info = ImageInfo::d2(64, 64, RGBA).mips(4);
    let mut g = FrameGraph::new();
    let mut m = g.create_image("m", info);
    g.add_pass("mip0")
        .write_range(&mut m, Access::StorageWriteCompute, Subresources::mip(0, &info))
        .record(|_| Ok(()));
    for level in 1..4 {
        g.add_pass(&format!("down{level}"))
            .read_range(&m, Access::SampledCompute, Subresources::mip(level - 1, &info))
            .write_range(&mut m, Access::StorageWriteCompute, Subresources::mip(level, &info))
            .record(|_| Ok(()));
    }
    g.add_pass("show").read(&m, Access::SampledFragment).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(p.passes.len(), 5, "{p}");
    assert_eq!(
        pass(&p, "mip0"),
        [img(&p, "m", (0, 1), (0, 1), L::UNDEFINED, L::GENERAL, COMPUTE_FRAG_W, COMPUTE_RW)]
    );
    for level in 1..4u32 {
        // The read barrier of mip level-1 also covers the final fragment read (shared).
        assert_eq!(
            pass(&p, &format!("down{level}")),
            [
                img(
                    &p,
                    "m",
                    (level - 1, level),
                    (0, 1),
                    L::GENERAL,
                    L::READ_ONLY_OPTIMAL,
                    COMPUTE_W,
                    (S::COMPUTE_SHADER | S::FRAGMENT_SHADER, A::SHADER_SAMPLED_READ)
                ),
                img(
                    &p,
                    "m",
                    (level, level + 1),
                    (0, 1),
                    L::UNDEFINED,
                    L::GENERAL,
                    COMPUTE_FRAG_W,
                    COMPUTE_RW
                ),
            ],
            "down{level}"
        );
    }
    assert_eq!(
        pass(&p, "show"),
        [img(&p, "m", (3, 4), (0, 1), L::GENERAL, L::READ_ONLY_OPTIMAL, COMPUTE_W, FRAG_SAMPLE)]
    );
}

/// ```text
/// (swapchain, imported, discard) --color write--> [draw] --> PRESENT
/// ```
#[test]
fn imported_swapchain_image_ends_in_present() {
    let mut g = FrameGraph::new();
    let mut sc = g.import_image_for_planning(
        "swapchain",
        ImageInfo::d2(640, 480, vk::Format::B8G8R8A8_SRGB),
        None,
        Some(Access::Present),
    );
    g.add_pass("draw").write(&mut sc, Access::ColorAttachmentWrite).record(|_| Ok(()));
    let p = compile(&g);
    let color = (S::COLOR_ATTACHMENT_OUTPUT, A::COLOR_ATTACHMENT_WRITE);
    assert_eq!(
        pass(&p, "draw"),
        [img(&p, "swapchain", (0, 1), (0, 1), L::UNDEFINED, L::ATTACHMENT_OPTIMAL, UNKNOWN, color)]
    );
    assert_eq!(
        p.final_barriers,
        [img(
            &p,
            "swapchain",
            (0, 1),
            (0, 1),
            L::ATTACHMENT_OPTIMAL,
            L::PRESENT_SRC_KHR,
            color,
            NONE
        )]
    );
    assert!(p.culled.is_empty(), "writing an imported resource keeps the pass");
}

/// ```text
/// [build blas] -> (blas) -> [build tlas] -> (tlas) -> [trace] -> (out, imported)
/// ```
/// The Debian validation layer does not check ray tracing synchronization: this is the check.
#[test]
fn acceleration_structure_build_then_trace() {
    let mut g = FrameGraph::new();
    let mut blas = g.import_accel_for_planning("blas", None);
    let mut tlas = g.import_accel_for_planning("tlas", None);
    let mut out = g.import_image_for_planning(
        "out",
        ImageInfo::d2(16, 16, vk::Format::R32G32B32A32_SFLOAT),
        None,
        None,
    );
    g.add_pass("build blas").write(&mut blas, Access::AccelBuildOutput).record(|_| Ok(()));
    g.add_pass("build tlas")
        .read(&blas, Access::AccelBuildRead)
        .write(&mut tlas, Access::AccelBuildOutput)
        .record(|_| Ok(()));
    g.add_pass("trace")
        .read(&tlas, Access::RayTracingRead)
        .write(&mut out, Access::StorageWriteRayTracing)
        .record(|_| Ok(()));
    let p = compile(&g);
    let built = (S::ACCELERATION_STRUCTURE_BUILD_KHR, A::ACCELERATION_STRUCTURE_WRITE_KHR);
    let build_rw = (
        S::ACCELERATION_STRUCTURE_BUILD_KHR,
        A::ACCELERATION_STRUCTURE_READ_KHR | A::ACCELERATION_STRUCTURE_WRITE_KHR,
    );
    // Imported with no known state: the build waits for everything before it.
    assert_eq!(pass(&p, "build blas"), [mem(&p, "blas", UNKNOWN_BUFFER, build_rw)]);
    assert_eq!(
        pass(&p, "build tlas"),
        [
            mem(
                &p,
                "blas",
                built,
                (S::ACCELERATION_STRUCTURE_BUILD_KHR, A::ACCELERATION_STRUCTURE_READ_KHR)
            ),
            mem(&p, "tlas", UNKNOWN_BUFFER, build_rw),
        ]
    );
    assert_eq!(
        pass(&p, "trace"),
        [
            mem(&p, "tlas", built, (S::RAY_TRACING_SHADER_KHR, A::ACCELERATION_STRUCTURE_READ_KHR)),
            img(
                &p,
                "out",
                (0, 1),
                (0, 1),
                L::UNDEFINED,
                L::GENERAL,
                UNKNOWN,
                (S::RAY_TRACING_SHADER_KHR, COMPUTE_RW.1)
            ),
        ]
    );
}

/// ```text
/// [a] -> (t1) -> [b]*          kept
/// [c] -> (t2) -> [d]           culled: nothing reads d's output, no side effect
/// ```
#[test]
fn unused_branch_is_culled() {
    let mut g = FrameGraph::new();
    let mut t1 = g.create_image("t1", ImageInfo::d2(8, 8, RGBA));
    let mut t2 = g.create_image("t2", ImageInfo::d2(8, 8, RGBA));
    let mut t3 = g.create_buffer("t3", 16);
    g.add_pass("a").write(&mut t1, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("c").write(&mut t2, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("b").read(&t1, Access::SampledCompute).side_effect().record(|_| Ok(()));
    g.add_pass("d")
        .read(&t2, Access::SampledCompute)
        .write(&mut t3, Access::StorageWriteCompute)
        .record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(p.passes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(p.culled, ["c", "d"]);
    assert!(
        p.transient("t2").is_none() && p.transient("t3").is_none(),
        "culled transients get no memory"
    );
}

/// ```text
/// [p0] -> (a) -> [p1] -> (b) -> [p2]*     a: passes 0..1, c: passes 2..3 -> share
/// [p1] -> (c) .......................     b overlaps both
/// ```
#[test]
fn aliasing_disjoint_lifetimes_share_overlapping_never() {
    let info = ImageInfo::d2(256, 256, RGBA);
    let mut g = FrameGraph::new();
    let mut a = g.create_image("a", info);
    let mut b = g.create_image("b", info);
    let mut c = g.create_image("c", info);
    let mut out = g.create_buffer("out", 64);
    g.add_pass("p0").write(&mut a, Access::ColorAttachmentWrite).record(|_| Ok(()));
    g.add_pass("p1")
        .read(&a, Access::SampledFragment)
        .write(&mut b, Access::ColorAttachmentWrite)
        .record(|_| Ok(()));
    g.add_pass("p2")
        .read(&b, Access::SampledFragment)
        .write(&mut c, Access::ColorAttachmentWrite)
        .record(|_| Ok(()));
    g.add_pass("p3")
        .read(&c, Access::SampledCompute)
        .write(&mut out, Access::StorageWriteCompute)
        .side_effect()
        .record(|_| Ok(()));
    let p = compile(&g);
    let t = |n: &str| p.transient(n).unwrap_or_else(|| panic!("no transient {n}"));
    let (ta, tb, tc) = (t("a"), t("b"), t("c"));
    assert_eq!((ta.first, ta.last, tb.first, tb.last, tc.first, tc.last), (0, 1, 1, 2, 2, 3));
    assert_eq!(ta.block, tc.block, "disjoint lifetimes share a block");
    assert_ne!(ta.block, tb.block, "overlapping lifetimes never do");
    assert_ne!(tb.block, tc.block);
    assert_eq!(tc.follows, Some(id(&p, "a")));
    assert!(p.transient_memory() < p.transient_memory_unaliased());
    // The aliased image starts from UNDEFINED after every access any occupant of the block
    // makes in a frame (a: written as a color attachment in p0, sampled by fragment shaders in
    // p1; c: attachment, then compute): occupants may differ in size, so part of the memory
    // may last have been touched by an occupant before the previous one. a's pending writes
    // are made available by a memory barrier (an image barrier on c cannot cover a).
    let color = (S::COLOR_ATTACHMENT_OUTPUT, A::COLOR_ATTACHMENT_WRITE);
    let c_stages = S::COLOR_ATTACHMENT_OUTPUT | S::COMPUTE_SHADER;
    let a_scope = (
        S::COLOR_ATTACHMENT_OUTPUT | S::FRAGMENT_SHADER | S::COMPUTE_SHADER,
        A::COLOR_ATTACHMENT_WRITE,
    );
    let p2 = pass(&p, "p2");
    assert!(
        p2.contains(&mem(&p, "a", a_scope, (c_stages, A::MEMORY_READ | A::MEMORY_WRITE))),
        "{p2:?}"
    );
    assert!(
        p2.contains(&img(
            &p,
            "c",
            (0, 1),
            (0, 1),
            L::UNDEFINED,
            L::ATTACHMENT_OPTIMAL,
            a_scope,
            color
        )),
        "{p2:?}"
    );
    // And a, the block's first occupant, waits for c of the previous frame the same way.
    let c_scope = a_scope;
    let p0 = pass(&p, "p0");
    assert!(
        p0.contains(&mem(
            &p,
            "c",
            c_scope,
            (S::COLOR_ATTACHMENT_OUTPUT | S::FRAGMENT_SHADER, A::MEMORY_READ | A::MEMORY_WRITE)
        )),
        "{p0:?}"
    );
}

/// Without aliasing every transient has its own block.
#[test]
fn aliasing_can_be_disabled() {
    let info = ImageInfo::d2(64, 64, RGBA);
    let mut g = FrameGraph::new();
    let mut a = g.create_image("a", info);
    let mut c = g.create_image("c", info);
    g.add_pass("p0").write(&mut a, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("p1").read(&a, Access::SampledCompute).side_effect().record(|_| Ok(()));
    g.add_pass("p2").write(&mut c, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("p3").read(&c, Access::SampledCompute).side_effect().record(|_| Ok(()));
    let aliased = compile(&g);
    assert_eq!(aliased.blocks.len(), 1);
    let plain = g
        .compile_with(&framegraph::CompileOptions { no_aliasing: true, requirements: None })
        .expect("compile");
    assert_eq!(plain.blocks.len(), 2);
    assert_eq!(plain.transient_memory(), plain.transient_memory_unaliased());
    // Alone in its block, c waits for its own use in the previous frame.
    assert_eq!(
        pass(&plain, "p2"),
        [img(&plain, "c", (0, 1), (0, 1), L::UNDEFINED, L::GENERAL, COMPUTE_W, COMPUTE_RW)]
    );
}

/// ```text
/// (tex, imported) --transfer write--> [upload] --sampled--> [draw]*
/// ```
#[test]
fn transfer_upload_then_sample() {
    let mut g = FrameGraph::new();
    let mut tex = g.import_image_for_planning("tex", ImageInfo::d2(4, 4, RGBA), None, None);
    g.add_pass("upload").write(&mut tex, Access::TransferDst).record(|_| Ok(()));
    g.add_pass("draw").read(&tex, Access::SampledFragment).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    let tw = (S::ALL_TRANSFER, A::TRANSFER_WRITE);
    assert_eq!(
        pass(&p, "upload"),
        [img(&p, "tex", (0, 1), (0, 1), L::UNDEFINED, L::TRANSFER_DST_OPTIMAL, UNKNOWN, tw)]
    );
    assert_eq!(
        pass(&p, "draw"),
        [img(
            &p,
            "tex",
            (0, 1),
            (0, 1),
            L::TRANSFER_DST_OPTIMAL,
            L::READ_ONLY_OPTIMAL,
            tw,
            FRAG_SAMPLE
        )]
    );
}

/// ```text
/// [cull] --storage write--> (args) --indirect + vertex--> [draw]*
/// ```
#[test]
fn compute_written_buffer_read_as_indirect_and_vertex_in_one_barrier() {
    let mut g = FrameGraph::new();
    let mut args = g.create_buffer("args", 1024);
    g.add_pass("cull").write(&mut args, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("draw")
        .read(&args, Access::IndirectBuffer)
        .read(&args, Access::VertexBuffer)
        .side_effect()
        .record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(
        pass(&p, "draw"),
        [mem(
            &p,
            "args",
            COMPUTE_W,
            (
                S::DRAW_INDIRECT | S::VERTEX_ATTRIBUTE_INPUT,
                A::INDIRECT_COMMAND_READ | A::VERTEX_ATTRIBUTE_READ
            )
        )]
    );
}

/// ```text
/// (history, imported, last sampled by fragment) --storage write--> [accumulate]
/// ```
#[test]
fn imported_image_starts_from_its_initial_access() {
    let mut g = FrameGraph::new();
    let mut h = g.import_image_for_planning(
        "history",
        ImageInfo::d2(8, 8, vk::Format::R32G32B32A32_SFLOAT),
        Some(Access::SampledFragment),
        Some(Access::SampledFragment),
    );
    g.add_pass("accumulate").write(&mut h, Access::StorageWriteCompute).record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(
        pass(&p, "accumulate"),
        [img(
            &p,
            "history",
            (0, 1),
            (0, 1),
            L::READ_ONLY_OPTIMAL,
            L::GENERAL,
            (S::FRAGMENT_SHADER, A::NONE),
            COMPUTE_RW
        )]
    );
    assert_eq!(
        p.final_barriers,
        [img(
            &p,
            "history",
            (0, 1),
            (0, 1),
            L::GENERAL,
            L::READ_ONLY_OPTIMAL,
            COMPUTE_W,
            FRAG_SAMPLE
        )]
    );
}

/// Per-layer tracking: writing layer 1 of an array leaves layer 0 alone.
#[test]
fn array_layers_are_tracked_separately() {
    let info = ImageInfo::d2(8, 8, RGBA).layers(2);
    let mut g = FrameGraph::new();
    let mut arr = g.create_image("arr", info);
    let l0 = Subresources { base_mip: 0, mip_count: 1, base_layer: 0, layer_count: 1 };
    let l1 = Subresources { base_layer: 1, ..l0 };
    g.add_pass("w0").write_range(&mut arr, Access::StorageWriteCompute, l0).record(|_| Ok(()));
    g.add_pass("r0").read_range(&arr, Access::SampledFragment, l0).side_effect().record(|_| Ok(()));
    g.add_pass("w1").write_range(&mut arr, Access::StorageWriteCompute, l1).record(|_| Ok(()));
    g.add_pass("all").read(&arr, Access::SampledFragment).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(
        pass(&p, "w1"),
        [img(&p, "arr", (0, 1), (1, 2), L::UNDEFINED, L::GENERAL, COMPUTE_FRAG_W, COMPUTE_RW)]
    );
    // Layer 0 was made visible to fragment reads in r0 already: only layer 1 changes.
    assert_eq!(
        pass(&p, "all"),
        [img(&p, "arr", (0, 1), (1, 2), L::GENERAL, L::READ_ONLY_OPTIMAL, COMPUTE_W, FRAG_SAMPLE)]
    );
}

#[test]
fn stale_handle_is_an_error_not_a_hazard() {
    let mut g = FrameGraph::new();
    let mut t = g.create_image("t", ImageInfo::d2(8, 8, RGBA));
    let old = t;
    g.add_pass("w").write(&mut t, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("late").read(&old, Access::SampledFragment).side_effect().record(|_| Ok(()));
    match g.compile() {
        Err(GraphError::StaleHandle { pass, resource, used, current }) => {
            assert_eq!((pass.as_str(), resource.as_str(), used, current), ("late", "t", 0, 1));
        }
        other => panic!("expected a stale-handle error, got {other:?}"),
    }
}

#[test]
fn bad_accesses_are_errors() {
    let mut g = FrameGraph::new();
    let info = ImageInfo::d2(8, 8, RGBA);
    let mut t = g.create_image("t", info);
    let b = g.create_buffer("b", 16);
    g.add_pass("two layouts")
        .read(&t, Access::SampledFragment)
        .read(&t, Access::StorageReadFragment)
        .side_effect()
        .record(|_| Ok(()));
    assert!(matches!(g.compile(), Err(GraphError::LayoutConflict { .. })));

    let mut g = FrameGraph::new();
    let mut t2 = g.create_image("t", info);
    g.add_pass("range")
        .write_range(&mut t2, Access::StorageWriteCompute, Subresources::mip(3, &info))
        .record(|_| Ok(()));
    assert!(matches!(g.compile(), Err(GraphError::InvalidAccess { .. })), "mip 3 of a 1-mip image");

    let mut g = FrameGraph::new();
    let b2 = g.create_buffer("b", 16);
    g.add_pass("sample a buffer")
        .read(&b2, Access::SampledFragment)
        .side_effect()
        .record(|_| Ok(()));
    let e = g.compile().expect_err("buffer sampled as image");
    assert!(e.to_string().contains("needs an image"), "{e}");
    let _ = (&mut t, b);
}

/// ```text
/// the same 6-pass graph built twice -> identical plans, text and DOT
/// ```
#[test]
fn same_graph_same_plan_and_printable() {
    let build = || {
        let mut g = FrameGraph::new();
        let info = ImageInfo::d2(32, 32, RGBA).mips(2);
        let mut a = g.create_image("a", info);
        let mut bb = g.create_image("b", ImageInfo::d2(32, 32, RGBA));
        let mut sc = g.import_image_for_planning(
            "swapchain",
            ImageInfo::d2(32, 32, RGBA),
            None,
            Some(Access::Present),
        );
        g.add_pass("gen")
            .write_range(&mut a, Access::StorageWriteCompute, Subresources::mip(0, &info))
            .record(|_| Ok(()));
        g.add_pass("down")
            .read_range(&a, Access::SampledCompute, Subresources::mip(0, &info))
            .write_range(&mut a, Access::StorageWriteCompute, Subresources::mip(1, &info))
            .record(|_| Ok(()));
        g.add_pass("raster")
            .read(&a, Access::SampledFragment)
            .write(&mut bb, Access::ColorAttachmentWrite)
            .record(|_| Ok(()));
        g.add_pass("post")
            .read(&bb, Access::StorageReadCompute)
            .write(&mut sc, Access::StorageWriteCompute)
            .record(|_| Ok(()));
        g.compile().expect("compile")
    };
    let (p1, p2) = (build(), build());
    assert_eq!(p1, p2);
    let text = p1.to_string();
    let dot = p1.to_dot();
    assert_eq!(text, p2.to_string());
    for name in ["gen", "down", "raster", "post"] {
        assert!(text.contains(name) && dot.contains(name), "{name} missing:\n{text}\n{dot}");
    }
    assert!(dot.starts_with("digraph plan {") && dot.trim_end().ends_with('}'));
    assert!(text.contains("PRESENT_SRC_KHR"), "{text}");
}

/// ```text
/// (readback, imported buffer, final HOST_READ) <- [fill] ; -> [check]* ; -> host
/// ```
/// The final state is a reader too: the barrier before the last GPU reader also makes the data
/// visible to the host.
#[test]
fn final_host_read_is_covered_by_the_readers_barrier() {
    let mut g = FrameGraph::new();
    let mut b = g.import_buffer_for_planning("readback", 256, None, Some(Access::HostRead));
    g.add_pass("fill").write(&mut b, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("check").read(&b, Access::StorageReadCompute).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    let dst = (S::COMPUTE_SHADER | S::HOST, A::SHADER_STORAGE_READ | A::HOST_READ);
    assert_eq!(pass(&p, "check"), [mem(&p, "readback", COMPUTE_W, dst)]);
    assert!(p.final_barriers.is_empty(), "{p}");
}

/// ```text
/// (history, imported, final SAMPLED_FRAGMENT) <- [write] ; -> [blur (compute sample)]
/// ```
#[test]
fn final_read_state_joins_the_readers_barrier() {
    let info = ImageInfo::d2(8, 8, RGBA);
    let mut g = FrameGraph::new();
    let mut h = g.import_image_for_planning("history", info, None, Some(Access::SampledFragment));
    let mut out = g.import_image_for_planning("out", info, None, None);
    g.add_pass("write").write(&mut h, Access::StorageWriteCompute).record(|_| Ok(()));
    g.add_pass("blur")
        .read(&h, Access::SampledCompute)
        .write(&mut out, Access::StorageWriteCompute)
        .record(|_| Ok(()));
    let p = compile(&g);
    let dst = (S::COMPUTE_SHADER | S::FRAGMENT_SHADER, A::SHADER_SAMPLED_READ);
    assert!(pass(&p, "blur").contains(&img(
        &p,
        "history",
        (0, 1),
        (0, 1),
        L::GENERAL,
        L::READ_ONLY_OPTIMAL,
        COMPUTE_W,
        dst
    )));
    assert!(p.final_barriers.is_empty(), "{p}");
}

/// ```text
/// (tex, imported, last sampled by fragment) -> [cs (compute sample)]*
/// ```
/// The earlier write was made visible to fragment shaders only: compute needs a barrier
/// chained after them, with nothing left to make available.
#[test]
fn imported_read_state_needs_a_barrier_for_another_stage() {
    let mut g = FrameGraph::new();
    let t = g.import_image_for_planning(
        "tex",
        ImageInfo::d2(8, 8, RGBA),
        Some(Access::SampledFragment),
        None,
    );
    g.add_pass("fs again").read(&t, Access::SampledFragment).side_effect().record(|_| Ok(()));
    g.add_pass("cs").read(&t, Access::SampledCompute).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    assert!(pass(&p, "fs again").is_empty(), "already visible to fragment shaders");
    assert_eq!(
        pass(&p, "cs"),
        [img(
            &p,
            "tex",
            (0, 1),
            (0, 1),
            L::READ_ONLY_OPTIMAL,
            L::READ_ONLY_OPTIMAL,
            (S::FRAGMENT_SHADER, A::NONE),
            COMPUTE_SAMPLE
        )]
    );
}

/// A pass writing two mips through an older copy of the handle is not culled.
#[test]
fn pass_writing_twice_through_an_older_handle_copy_is_kept() {
    let info = ImageInfo::d2(8, 8, RGBA).mips(2);
    let mut g = FrameGraph::new();
    let mut t = g.create_image("t", info);
    let mut b = t;
    g.add_pass("both mips")
        .write_range(&mut t, Access::StorageWriteCompute, Subresources::mip(0, &info))
        .write_range(&mut b, Access::StorageWriteCompute, Subresources::mip(1, &info))
        .record(|_| Ok(()));
    g.add_pass("show").read(&b, Access::SampledFragment).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(p.passes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["both mips", "show"]);
}

#[test]
fn host_read_of_an_image_and_bad_shapes_are_errors() {
    let mut g = FrameGraph::new();
    let t = g.create_image("t", ImageInfo::d2(8, 8, RGBA));
    g.add_pass("host").read(&t, Access::HostRead).side_effect().record(|_| Ok(()));
    assert!(matches!(g.compile(), Err(GraphError::InvalidAccess { .. })));
    let mut g = FrameGraph::new();
    let _ = g.create_image("too many mips", ImageInfo::d2(8, 8, RGBA).mips(40));
    assert!(g.compile().is_err());
    let mut g = FrameGraph::new();
    let _ = g.create_buffer("empty", 0);
    assert!(g.compile().is_err());
    let mut g = FrameGraph::new();
    let _ = g.import_image_for_planning(
        "x",
        ImageInfo::d2(8, 8, RGBA),
        Some(Access::IndexBuffer),
        None,
    );
    assert!(g.compile().is_err(), "an image cannot be in an index-buffer state");
}

/// Two parts of a program import the same image (same `vk::Image`): one resource, the second
/// import sees the first one's writes (latest version), and the write is ordered before the
/// read with its barrier.
/// ```text
/// import A (initial: sampled) --[update]: transfer write--> (tex) ; import B --sampled--> [draw]*
/// ```
#[test]
fn importing_the_same_object_twice_is_one_resource() {
    use xpg::vk::Handle;
    let mut g = FrameGraph::new();
    let (raw, view) = (vk::Image::from_raw(0x1234), vk::ImageView::from_raw(0x5678));
    let info = ImageInfo::d2(8, 8, RGBA);
    let mut a = g.import_image("tex", raw, view, info, Some(Access::SampledFragment), None);
    g.add_pass("update").write(&mut a, Access::TransferDst).record(|_| Ok(()));
    let b = g.import_image("tex again", raw, view, info, None, Some(Access::SampledFragment));
    assert_eq!(b, a, "the second import names the same resource at its latest version");
    g.add_pass("draw").read(&b, Access::SampledFragment).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    assert_eq!(p.resource_names.len(), 1);
    const TRANSFER_W: (S, A) = (S::ALL_TRANSFER, A::TRANSFER_WRITE);
    assert_eq!(
        pass(&p, "update"),
        [img(
            &p,
            "tex",
            (0, 1),
            (0, 1),
            L::READ_ONLY_OPTIMAL,
            L::TRANSFER_DST_OPTIMAL,
            (S::FRAGMENT_SHADER, A::NONE),
            TRANSFER_W
        )]
    );
    assert_eq!(
        pass(&p, "draw"),
        [img(
            &p,
            "tex",
            (0, 1),
            (0, 1),
            L::TRANSFER_DST_OPTIMAL,
            L::READ_ONLY_OPTIMAL,
            TRANSFER_W,
            FRAG_SAMPLE
        )]
    );
}

/// The whole ray tracing path of a frame:
/// ```text
/// [upload] -transfer write-> (vertices) -build input-> [build blas] -> (blas)
///   -> [build tlas] <-build input- (instances) ; (tlas) -> [trace] -> (out) -sampled-> [show]*
/// ```
#[test]
fn upload_build_trace_then_sample() {
    let mut g = FrameGraph::new();
    let mut vertices = g.import_buffer_for_planning("vertices", 4096, None, None);
    let instances =
        g.import_buffer_for_planning("instances", 64, Some(Access::AccelBuildInput), None);
    let mut blas = g.import_accel_for_planning("blas", None);
    let mut tlas = g.import_accel_for_planning("tlas", None);
    let mut out = g.create_image("out", ImageInfo::d2(16, 16, vk::Format::R32G32B32A32_SFLOAT));
    g.add_pass("upload").write(&mut vertices, Access::TransferDst).record(|_| Ok(()));
    g.add_pass("build blas")
        .read(&vertices, Access::AccelBuildInput)
        .write(&mut blas, Access::AccelBuildOutput)
        .record(|_| Ok(()));
    g.add_pass("build tlas")
        .read(&instances, Access::AccelBuildInput)
        .read(&blas, Access::AccelBuildRead)
        .write(&mut tlas, Access::AccelBuildOutput)
        .record(|_| Ok(()));
    g.add_pass("trace")
        .read(&tlas, Access::RayTracingRead)
        .write(&mut out, Access::StorageWriteRayTracing)
        .record(|_| Ok(()));
    g.add_pass("show").read(&out, Access::SampledFragment).side_effect().record(|_| Ok(()));
    let p = compile(&g);
    let build = S::ACCELERATION_STRUCTURE_BUILD_KHR;
    let built = (build, A::ACCELERATION_STRUCTURE_WRITE_KHR);
    let build_rw =
        (build, A::ACCELERATION_STRUCTURE_READ_KHR | A::ACCELERATION_STRUCTURE_WRITE_KHR);
    // The upload's transfer write is made visible to the build's reads of its inputs.
    assert_eq!(
        pass(&p, "upload"),
        [mem(&p, "vertices", UNKNOWN_BUFFER, (S::ALL_TRANSFER, A::TRANSFER_WRITE))]
    );
    assert_eq!(
        pass(&p, "build blas"),
        [
            mem(&p, "vertices", (S::ALL_TRANSFER, A::TRANSFER_WRITE), (build, A::SHADER_READ)),
            mem(&p, "blas", UNKNOWN_BUFFER, build_rw),
        ]
    );
    // The instances were last read by a build (known state): nothing to wait for.
    assert_eq!(
        pass(&p, "build tlas"),
        [
            mem(&p, "blas", built, (build, A::ACCELERATION_STRUCTURE_READ_KHR)),
            mem(&p, "tlas", UNKNOWN_BUFFER, build_rw),
        ]
    );
    let rt = S::RAY_TRACING_SHADER_KHR;
    assert_eq!(
        pass(&p, "trace"),
        [
            mem(&p, "tlas", built, (rt, A::ACCELERATION_STRUCTURE_READ_KHR)),
            // A transient's first use waits for its memory's last user in the previous frame
            // (itself: written by the trace, sampled by the fragment shader).
            img(
                &p,
                "out",
                (0, 1),
                (0, 1),
                L::UNDEFINED,
                L::GENERAL,
                (rt | S::FRAGMENT_SHADER, A::SHADER_STORAGE_WRITE),
                (rt, COMPUTE_RW.1)
            ),
        ]
    );
    assert_eq!(
        pass(&p, "show"),
        [img(
            &p,
            "out",
            (0, 1),
            (0, 1),
            L::GENERAL,
            L::READ_ONLY_OPTIMAL,
            (rt, A::SHADER_STORAGE_WRITE),
            FRAG_SAMPLE
        )]
    );
}

/// A TLAS updated in place between two traces: the update waits for the first trace's reads
/// (execution dependency, nothing to make available), the second trace for the update.
/// ```text
/// (tlas) -> [trace 1] -> (a)* ; [update tlas] -> (tlas) -> [trace 2] -> (b)*
/// ```
#[test]
fn tlas_update_between_two_traces() {
    let mut g = FrameGraph::new();
    let mut tlas = g.import_accel_for_planning("tlas", Some(Access::AccelBuildOutput));
    let mut a = g.import_buffer_for_planning("a", 64, None, None);
    let mut b = g.import_buffer_for_planning("b", 64, None, None);
    g.add_pass("trace 1")
        .read(&tlas, Access::RayTracingRead)
        .write(&mut a, Access::StorageWriteRayTracing)
        .side_effect()
        .record(|_| Ok(()));
    g.add_pass("update tlas").write(&mut tlas, Access::AccelBuildOutput).record(|_| Ok(()));
    g.add_pass("trace 2")
        .read(&tlas, Access::RayTracingRead)
        .write(&mut b, Access::StorageWriteRayTracing)
        .side_effect()
        .record(|_| Ok(()));
    let p = compile(&g);
    let (build, rt) = (S::ACCELERATION_STRUCTURE_BUILD_KHR, S::RAY_TRACING_SHADER_KHR);
    let built = (build, A::ACCELERATION_STRUCTURE_WRITE_KHR);
    let build_rw =
        (build, A::ACCELERATION_STRUCTURE_READ_KHR | A::ACCELERATION_STRUCTURE_WRITE_KHR);
    let rt_storage_w = (rt, COMPUTE_RW.1);
    assert_eq!(
        pass(&p, "trace 1"),
        [
            mem(&p, "tlas", built, (rt, A::ACCELERATION_STRUCTURE_READ_KHR)),
            mem(&p, "a", UNKNOWN_BUFFER, rt_storage_w),
        ]
    );
    assert_eq!(pass(&p, "update tlas"), [mem(&p, "tlas", (rt, A::NONE), build_rw)]);
    assert_eq!(
        pass(&p, "trace 2"),
        [
            mem(&p, "tlas", built, (rt, A::ACCELERATION_STRUCTURE_READ_KHR)),
            mem(&p, "b", UNKNOWN_BUFFER, rt_storage_w),
        ]
    );
}

/// Two traces reading one TLAS (into different outputs): no barrier between them for the
/// TLAS, each output only waits for its unknown past.
#[test]
fn two_traces_share_a_tlas_without_barriers() {
    let mut g = FrameGraph::new();
    let tlas = g.import_accel_for_planning("tlas", Some(Access::AccelBuildOutput));
    let mut a = g.import_buffer_for_planning("a", 64, None, None);
    let mut b = g.import_buffer_for_planning("b", 64, None, None);
    for (name, out) in [("trace a", &mut a), ("trace b", &mut b)] {
        g.add_pass(name)
            .read(&tlas, Access::RayTracingRead)
            .write(out, Access::StorageWriteRayTracing)
            .side_effect()
            .record(|_| Ok(()));
    }
    let p = compile(&g);
    let rt = S::RAY_TRACING_SHADER_KHR;
    let built = (S::ACCELERATION_STRUCTURE_BUILD_KHR, A::ACCELERATION_STRUCTURE_WRITE_KHR);
    assert_eq!(
        pass(&p, "trace a"),
        [
            mem(&p, "tlas", built, (rt, A::ACCELERATION_STRUCTURE_READ_KHR)),
            mem(&p, "a", UNKNOWN_BUFFER, (rt, COMPUTE_RW.1)),
        ]
    );
    assert_eq!(pass(&p, "trace b"), [mem(&p, "b", UNKNOWN_BUFFER, (rt, COMPUTE_RW.1))]);
}

/// Transient acceleration structures: the graph plans their storage like buffers (linear
/// memory it may share), the TLAS build waits for the BLAS build, the trace for the TLAS.
/// ```text
/// [build blas] -> (blas, transient) -> [build tlas] -> (tlas, transient) -> [trace] -> (out)*
/// ```
#[test]
fn transient_acceleration_structures() {
    let mut g = FrameGraph::new();
    let mut blas = g.create_accel("blas", vk::AccelerationStructureTypeKHR::BOTTOM_LEVEL, 1 << 20);
    let mut tlas = g.create_accel("tlas", vk::AccelerationStructureTypeKHR::TOP_LEVEL, 4096);
    let mut out = g.import_buffer_for_planning("out", 64, None, None);
    g.add_pass("build blas").write(&mut blas, Access::AccelBuildOutput).record(|_| Ok(()));
    g.add_pass("build tlas")
        .read(&blas, Access::AccelBuildRead)
        .write(&mut tlas, Access::AccelBuildOutput)
        .record(|_| Ok(()));
    g.add_pass("trace")
        .read(&tlas, Access::RayTracingRead)
        .write(&mut out, Access::StorageWriteRayTracing)
        .side_effect()
        .record(|_| Ok(()));
    let p = compile(&g);
    let descs: Vec<_> = p.transients.iter().map(|t| (t.name.as_str(), t.desc)).collect();
    assert_eq!(
        descs,
        [
            ("blas", framegraph::TransientDesc::Accel { size: 1 << 20, top_level: false }),
            ("tlas", framegraph::TransientDesc::Accel { size: 4096, top_level: true }),
        ]
    );
    let built = (S::ACCELERATION_STRUCTURE_BUILD_KHR, A::ACCELERATION_STRUCTURE_WRITE_KHR);
    assert!(pass(&p, "build tlas").contains(&mem(
        &p,
        "blas",
        built,
        (S::ACCELERATION_STRUCTURE_BUILD_KHR, A::ACCELERATION_STRUCTURE_READ_KHR)
    )));
    assert!(pass(&p, "trace").contains(&mem(
        &p,
        "tlas",
        built,
        (S::RAY_TRACING_SHADER_KHR, A::ACCELERATION_STRUCTURE_READ_KHR)
    )));
}

/// A transient acceleration structure of 0 bytes is an error naming it.
#[test]
fn empty_transient_acceleration_structure_is_an_error() {
    let mut g = FrameGraph::new();
    let mut t = g.create_accel("empty", vk::AccelerationStructureTypeKHR::TOP_LEVEL, 0);
    g.add_pass("build").write(&mut t, Access::AccelBuildOutput).side_effect().record(|_| Ok(()));
    let e = g.compile().expect_err("0 bytes").to_string();
    assert!(e.contains("empty") && e.contains("0 bytes"), "{e}");
}

/// A history image across frames (the path tracer's accumulation): each frame's plan starts
/// from where the last committed frame left it, not from a state given by hand.
///
/// ```text
/// frame 1: [trace] --storage write--> (sum) --sampled--> [show]*     fresh: nothing to wait for
/// frame 2: the same graph                                            waits for frame 1's read
/// frame 3: [trace] only                                              write after write
/// frame 4: the same, after discard()                                 UNDEFINED, still waits
/// ```
#[test]
fn history_image_carries_its_state_across_frames() {
    let sum = framegraph::HistoryImage::for_planning(
        "sum",
        ImageInfo::d2(8, 8, vk::Format::R32G32B32A32_SFLOAT),
    );
    assert!(sum.is_fresh());
    let frame = |show: bool| {
        let mut g = FrameGraph::new();
        let mut h = g.use_history(&sum, None);
        // Taking it twice in one graph is one resource.
        assert_eq!(g.use_history(&sum, None), h);
        g.add_pass("trace").write(&mut h, Access::StorageWriteCompute).record(|_| Ok(()));
        if show {
            g.add_pass("show").read(&h, Access::SampledFragment).side_effect().record(|_| Ok(()));
        }
        let p = compile(&g);
        g.commit_history(&p).expect("current");
        p
    };
    let p1 = frame(true);
    assert_eq!(
        pass(&p1, "trace"),
        [img(&p1, "sum", (0, 1), (0, 1), L::UNDEFINED, L::GENERAL, NONE, COMPUTE_RW)]
    );
    assert_eq!(
        pass(&p1, "show"),
        [img(&p1, "sum", (0, 1), (0, 1), L::GENERAL, L::READ_ONLY_OPTIMAL, COMPUTE_W, FRAG_SAMPLE)]
    );
    assert!(p1.final_barriers.is_empty());
    assert!(!sum.is_fresh());
    let frag_read = (S::FRAGMENT_SHADER, A::NONE);
    let p2 = frame(true);
    assert_eq!(
        pass(&p2, "trace"),
        [img(&p2, "sum", (0, 1), (0, 1), L::READ_ONLY_OPTIMAL, L::GENERAL, frag_read, COMPUTE_RW)]
    );
    let p3 = frame(false);
    assert_eq!(
        pass(&p3, "trace"),
        [img(&p3, "sum", (0, 1), (0, 1), L::READ_ONLY_OPTIMAL, L::GENERAL, frag_read, COMPUTE_RW)]
    );
    // A plan that is compiled but not committed (not executed) does not advance the state.
    let mut g = FrameGraph::new();
    let mut h = g.use_history(&sum, None);
    g.add_pass("show").write(&mut h, Access::TransferDst).record(|_| Ok(()));
    compile(&g);
    let p4 = frame(false);
    assert_eq!(
        pass(&p4, "trace"),
        [img(&p4, "sum", (0, 1), (0, 1), L::GENERAL, L::GENERAL, COMPUTE_W, COMPUTE_RW)]
    );
    sum.discard();
    assert!(sum.is_fresh());
    let p5 = frame(false);
    assert_eq!(
        pass(&p5, "trace"),
        [img(&p5, "sum", (0, 1), (0, 1), L::UNDEFINED, L::GENERAL, COMPUTE_W, COMPUTE_RW)]
    );
    assert!(!sum.is_fresh());
}

/// A history image that ends each frame in a state for a use outside the graph (a viewport's
/// image that the UI samples): the first frame transitions from UNDEFINED, later frames from
/// that state.
#[test]
fn history_image_with_a_final_state() {
    let ldr = framegraph::HistoryImage::for_planning("ldr", ImageInfo::d2(8, 8, RGBA));
    let frame = || {
        let mut g = FrameGraph::new();
        let mut h = g.use_history(&ldr, Some(Access::SampledFragment));
        g.add_pass("tonemap").write(&mut h, Access::StorageWriteCompute).record(|_| Ok(()));
        let p = compile(&g);
        g.commit_history(&p).expect("current");
        p
    };
    let p1 = frame();
    assert_eq!(
        pass(&p1, "tonemap"),
        [img(&p1, "ldr", (0, 1), (0, 1), L::UNDEFINED, L::GENERAL, NONE, COMPUTE_RW)]
    );
    let to_ui =
        img(&p1, "ldr", (0, 1), (0, 1), L::GENERAL, L::READ_ONLY_OPTIMAL, COMPUTE_W, FRAG_SAMPLE);
    assert_eq!(p1.final_barriers, [to_ui]);
    let p2 = frame();
    assert_eq!(
        pass(&p2, "tonemap"),
        [img(
            &p2,
            "ldr",
            (0, 1),
            (0, 1),
            L::READ_ONLY_OPTIMAL,
            L::GENERAL,
            (S::FRAGMENT_SHADER, A::NONE),
            COMPUTE_RW
        )]
    );
    assert_eq!(p2.final_barriers, [to_ui]);
}

/// Two graphs built on the same state of a history image: once one frame is committed (or the
/// contents are discarded), the other refuses to commit (an executor refuses to run it): its
/// barriers start from a state that is gone. An image also imported as a plain image is an
/// error (its state would be tracked twice) only for real images, tested on the GPU side.
#[test]
fn stale_history_is_an_error() {
    let h = framegraph::HistoryImage::for_planning("h", ImageInfo::d2(4, 4, RGBA));
    let build = || {
        let mut g = FrameGraph::new();
        let mut x = g.use_history(&h, None);
        g.add_pass("w").write(&mut x, Access::StorageWriteCompute).record(|_| Ok(()));
        g
    };
    let (a, b) = (build(), build());
    let (pa, pb) = (compile(&a), compile(&b));
    a.commit_history(&pa).expect("first is current");
    assert_eq!(b.commit_history(&pb), Err(GraphError::StaleHistory { resource: "h".into() }));
    let c = build();
    let pc = compile(&c);
    h.discard();
    assert!(matches!(c.commit_history(&pc), Err(GraphError::StaleHistory { .. })));
    // A graph built after the discard is current.
    let d = build();
    let pd = compile(&d);
    d.commit_history(&pd).expect("current");
}
