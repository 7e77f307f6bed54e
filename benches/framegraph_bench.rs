//! Framegraph benchmarks: `compile()` time for graphs of 10, 100 and 1000 passes (goal: under
//! 1 ms for 1000), and transient memory with and without aliasing on a realistic frame
//! (cascaded shadow maps, a G-buffer, lighting, SSAO, a bloom chain, tonemapping).
//!
//! ```text
//! cargo bench --bench framegraph_bench
//! ```
//! Prints tables; asserts nothing.

use std::time::{Duration, Instant};

use framegraph::{Access, CompileOptions, Executor, FrameGraph, ImageInfo, Plan, Subresources};
use xpg::vk;

/// A graph of `n` passes shaped like a frame: each pass reads one or two earlier results and
/// writes a new one (colour, storage or buffer), every 10th pass is a 4-level mip chain step,
/// and the last passes write an imported output.
fn synthetic(n: usize) -> FrameGraph<'static> {
    let mut g = FrameGraph::new();
    let mut out = g.import_image_for_planning(
        "output",
        ImageInfo::d2(1920, 1080, vk::Format::B8G8R8A8_SRGB),
        None,
        Some(Access::Present),
    );
    let mut images = Vec::new();
    let mut buffers = Vec::new();
    for i in 0..n {
        let name = format!("p{i}");
        if i + 1 == n {
            let mut b = g.add_pass(&name);
            for h in images.iter().rev().take(2) {
                b = b.read(h, Access::SampledFragment);
            }
            b.write(&mut out, Access::ColorAttachmentWrite).record(|_| Ok(()));
            continue;
        }
        match i % 10 {
            9 => {
                let info = ImageInfo::d2(512, 512, vk::Format::R16G16B16A16_SFLOAT).mips(4);
                let mut m = g.create_image(&format!("mips{i}"), info);
                g.add_pass(&format!("{name}a"))
                    .write_range(&mut m, Access::StorageWriteCompute, Subresources::mip(0, &info))
                    .record(|_| Ok(()));
                for l in 1..4 {
                    g.add_pass(&format!("{name}m{l}"))
                        .read_range(&m, Access::SampledCompute, Subresources::mip(l - 1, &info))
                        .write_range(
                            &mut m,
                            Access::StorageWriteCompute,
                            Subresources::mip(l, &info),
                        )
                        .record(|_| Ok(()));
                }
                images.push(m);
            }
            k => {
                let mut nb = (k == 4).then(|| g.create_buffer(&format!("b{i}"), 1 << 20));
                let mut t = g.create_image(
                    &format!("t{i}"),
                    ImageInfo::d2(
                        1920 >> (k % 3),
                        1080 >> (k % 3),
                        vk::Format::R16G16B16A16_SFLOAT,
                    ),
                );
                let mut b = g.add_pass(&name);
                if let Some(h) = images.last() {
                    b = b.read(
                        h,
                        if k % 2 == 0 { Access::SampledFragment } else { Access::SampledCompute },
                    );
                }
                if images.len() > 3 {
                    b = b.read(&images[images.len() - 3], Access::SampledFragment);
                }
                if let Some(buf) = buffers.last() {
                    b = b.read(buf, Access::StorageReadCompute);
                }
                let access = if k % 2 == 0 {
                    Access::ColorAttachmentWrite
                } else {
                    Access::StorageWriteCompute
                };
                b = b.write(&mut t, access);
                if let Some(nb) = nb.as_mut() {
                    b = b.write(nb, Access::StorageWriteCompute);
                }
                b.record(|_| Ok(()));
                buffers.extend(nb);
                images.push(t);
            }
        }
    }
    g
}

/// A realistic frame: 4 shadow cascades, a G-buffer, lighting, SSAO, bloom, a post chain.
fn realistic() -> FrameGraph<'static> {
    let (w, h) = (1920, 1080);
    let mut g = FrameGraph::new();
    let mut swapchain = g.import_image_for_planning(
        "swapchain",
        ImageInfo::d2(w, h, vk::Format::B8G8R8A8_SRGB),
        None,
        Some(Access::Present),
    );
    let mut cascades = Vec::new();
    for c in 0..4 {
        let mut s = g
            .create_image(&format!("shadow{c}"), ImageInfo::d2(2048, 2048, vk::Format::D32_SFLOAT));
        g.add_pass(&format!("shadow cascade {c}"))
            .write(&mut s, Access::DepthAttachmentWrite)
            .record(|_| Ok(()));
        cascades.push(s);
    }
    let mut albedo =
        g.create_image("gbuffer albedo", ImageInfo::d2(w, h, vk::Format::R8G8B8A8_SRGB));
    let mut normal =
        g.create_image("gbuffer normal", ImageInfo::d2(w, h, vk::Format::R16G16B16A16_SFLOAT));
    let mut material =
        g.create_image("gbuffer material", ImageInfo::d2(w, h, vk::Format::R8G8B8A8_UNORM));
    let mut depth = g.create_image("depth", ImageInfo::d2(w, h, vk::Format::D32_SFLOAT));
    g.add_pass("gbuffer")
        .write(&mut albedo, Access::ColorAttachmentWrite)
        .write(&mut normal, Access::ColorAttachmentWrite)
        .write(&mut material, Access::ColorAttachmentWrite)
        .write(&mut depth, Access::DepthAttachmentWrite)
        .record(|_| Ok(()));
    let mut ssao = g.create_image("ssao", ImageInfo::d2(w / 2, h / 2, vk::Format::R8_UNORM));
    g.add_pass("ssao")
        .read(&depth, Access::SampledCompute)
        .read(&normal, Access::SampledCompute)
        .write(&mut ssao, Access::StorageWriteCompute)
        .record(|_| Ok(()));
    let mut ssao_blur =
        g.create_image("ssao blur", ImageInfo::d2(w / 2, h / 2, vk::Format::R8_UNORM));
    g.add_pass("ssao blur")
        .read(&ssao, Access::SampledCompute)
        .write(&mut ssao_blur, Access::StorageWriteCompute)
        .record(|_| Ok(()));
    let mut hdr = g.create_image("hdr", ImageInfo::d2(w, h, vk::Format::R16G16B16A16_SFLOAT));
    let mut lighting = g
        .add_pass("lighting")
        .read(&albedo, Access::SampledFragment)
        .read(&normal, Access::SampledFragment)
        .read(&material, Access::SampledFragment)
        .read(&depth, Access::SampledFragment)
        .read(&ssao_blur, Access::SampledFragment);
    for s in &cascades {
        lighting = lighting.read(s, Access::SampledFragment);
    }
    lighting.write(&mut hdr, Access::ColorAttachmentWrite).record(|_| Ok(()));
    let bloom_info = ImageInfo::d2(w / 2, h / 2, vk::Format::R16G16B16A16_SFLOAT).mips(5);
    let mut bloom = g.create_image("bloom", bloom_info);
    g.add_pass("bloom extract")
        .read(&hdr, Access::SampledCompute)
        .write_range(&mut bloom, Access::StorageWriteCompute, Subresources::mip(0, &bloom_info))
        .record(|_| Ok(()));
    for l in 1..5 {
        g.add_pass(&format!("bloom down {l}"))
            .read_range(&bloom, Access::SampledCompute, Subresources::mip(l - 1, &bloom_info))
            .write_range(&mut bloom, Access::StorageWriteCompute, Subresources::mip(l, &bloom_info))
            .record(|_| Ok(()));
    }
    // Post chain at full resolution: TAA, motion blur, depth of field, tonemap to LDR, FXAA.
    let mut taa = g.create_image("taa", ImageInfo::d2(w, h, vk::Format::R16G16B16A16_SFLOAT));
    g.add_pass("taa")
        .read(&hdr, Access::SampledCompute)
        .read(&depth, Access::SampledCompute)
        .write(&mut taa, Access::StorageWriteCompute)
        .record(|_| Ok(()));
    let mut motion =
        g.create_image("motion blur", ImageInfo::d2(w, h, vk::Format::R16G16B16A16_SFLOAT));
    g.add_pass("motion blur")
        .read(&taa, Access::SampledCompute)
        .write(&mut motion, Access::StorageWriteCompute)
        .record(|_| Ok(()));
    let mut dof = g.create_image("dof", ImageInfo::d2(w, h, vk::Format::R16G16B16A16_SFLOAT));
    g.add_pass("depth of field")
        .read(&motion, Access::SampledCompute)
        .write(&mut dof, Access::StorageWriteCompute)
        .record(|_| Ok(()));
    let mut ldr = g.create_image("ldr", ImageInfo::d2(w, h, vk::Format::R8G8B8A8_UNORM));
    g.add_pass("tonemap")
        .read(&dof, Access::SampledFragment)
        .read(&bloom, Access::SampledFragment)
        .write(&mut ldr, Access::ColorAttachmentWrite)
        .record(|_| Ok(()));
    g.add_pass("fxaa")
        .read(&ldr, Access::SampledFragment)
        .write(&mut swapchain, Access::ColorAttachmentWrite)
        .record(|_| Ok(()));
    g
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

fn main() {
    println!("## compile() time (median; graph building measured separately)");
    println!("| passes | build | compile | compile per pass |");
    println!("|---:|---:|---:|---:|");
    for n in [10usize, 100, 1000] {
        // The generator's mip-chain steps add passes: pick its size so the graph has n passes.
        let k = (1..=n).rev().find(|&k| synthetic(k).pass_count() <= n).unwrap_or(n);
        let reps = (20_000 / n).clamp(50, 2000);
        let mut build = Vec::new();
        let mut compile = Vec::new();
        let mut passes = 0;
        for _ in 0..reps {
            let t = Instant::now();
            let g = synthetic(k);
            build.push(t.elapsed());
            let t = Instant::now();
            let plan = g.compile().expect("valid graph");
            compile.push(t.elapsed());
            passes = plan.passes.len();
        }
        let c = median(compile);
        println!(
            "| {n} ({passes} kept) | {:.3} ms | {:.3} ms | {:.2} us |",
            median(build).as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e3,
            c.as_secs_f64() * 1e6 / passes as f64
        );
    }

    println!("\n## Transient memory of a realistic 1920x1080 frame (4 shadow cascades, G-buffer, SSAO, lighting, bloom, TAA, motion blur, DOF, tonemap, FXAA)");
    let g = realistic();
    let report = |label: &str, plan: &Plan| {
        println!(
            "| {label} | {:.1} MiB in {} blocks | {:.1} MiB unaliased | {:.0}% saved |",
            mib(plan.transient_memory()),
            plan.blocks.len(),
            mib(plan.transient_memory_unaliased()),
            100.0
                * (1.0 - plan.transient_memory() as f64 / plan.transient_memory_unaliased() as f64)
        );
    };
    println!("| requirements | aliased | without aliasing | |");
    println!("|---|---:|---:|---:|");
    report("estimated (texels)", &g.compile().expect("compile"));
    let unaliased =
        g.compile_with(&CompileOptions { no_aliasing: true, requirements: None }).expect("compile");
    assert_eq!(unaliased.transient_memory(), unaliased.transient_memory_unaliased());
    match xpg::Context::new(&xpg::ContextDesc::default()) {
        Ok(ctx) => {
            let executor = Executor::new(&ctx, 1);
            match executor.compile(&g) {
                Ok(plan) => report(&format!("device ({})", ctx.caps().device_name), &plan),
                Err(e) => println!("device requirements failed: {e}"),
            }
        }
        Err(e) => println!("(no Vulkan device for real requirements: {e})"),
    }
    let plan = g.compile().expect("compile");
    println!("\n{plan}");
}
