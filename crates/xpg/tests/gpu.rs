//! GPU tests of xpg on lavapipe, each with the validation layer (synchronization validation on)
//! and asserting zero validation messages.

use testkit as common;

use common::{assert_clean, compiler, f32s, gpu, test_shader};
use xpg::sync::{image_barrier, AccessScope};
use xpg::vk;
use xpg::{
    BindlessHeap, Buffer, BufferDesc, GraphicsDesc, Image, ImageDesc, MemoryUsage, Pipeline,
    Sampler, ShaderDesc, UploadPath, Uploader,
};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FillParams {
    out: u64,
    count: u32,
    mul: u32,
}

fn compute_fill(force_staging: bool) {
    let ctx = gpu(force_staging);
    let shaders = compiler();
    let code =
        shaders.compile(&ShaderDesc::new(test_shader("fill.slang"))).expect("compile fill.slang");
    let pipeline = Pipeline::compute(&ctx, &code.entry_points[0], None).expect("pipeline");
    assert_eq!(pipeline.workgroup_size(), [64, 1, 1]);
    assert!(pipeline.layout().push_constants().is_some_and(|p| p.size >= 16));

    let count = 1000u32;
    let out = Buffer::new(
        &ctx,
        &BufferDesc {
            size: count as u64 * 4,
            usage: vk::BufferUsageFlags::STORAGE_BUFFER,
            memory: MemoryUsage::GpuOnly,
            name: "fill out",
        },
    )
    .expect("buffer");
    ctx.immediate(|cmd| {
        pipeline.bind(cmd, None);
        pipeline.push(cmd, &FillParams { out: out.address(), count, mul: 3 });
        pipeline.dispatch_threads(cmd, [count, 1, 1]);
    })
    .expect("dispatch");
    let mut up = Uploader::new(&ctx, 1 << 20).expect("uploader");
    let bytes = up.read_buffer(&out, 0, out.size()).expect("readback");
    let got: Vec<u32> =
        bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    for (i, v) in got.iter().enumerate() {
        assert_eq!(*v, i as u32 * 3 + 7, "element {i}");
    }
    drop((pipeline, out, up));
    assert_clean(&ctx);
}

#[test]
fn compute_writes_buffer_read_back() {
    compute_fill(false);
}

#[test]
fn compute_writes_buffer_read_back_through_staging() {
    compute_fill(true);
}

#[test]
fn buffer_upload_paths_round_trip() {
    // Upload memory is host-visible everywhere: the direct path. GPU-only memory with staging
    // forced: the staging ring (also on lavapipe, where all memory is host-visible).
    // DeviceUpload memory: direct where the heaps allow it (lavapipe, resizable BAR).
    for (force, memory) in [
        (false, MemoryUsage::Upload),
        (false, MemoryUsage::DeviceUpload),
        (true, MemoryUsage::GpuOnly),
    ] {
        let ctx = gpu(force);
        let expected = match memory {
            MemoryUsage::Upload => UploadPath::Direct,
            MemoryUsage::DeviceUpload if ctx.caps().direct_device_upload() => UploadPath::Direct,
            _ => UploadPath::Staging,
        };
        let mut up = Uploader::new(&ctx, 256 << 10).expect("uploader");
        // Larger than the ring: exercises chunking and ring wrap-around.
        let data: Vec<u8> =
            (0..1_000_003u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let mut buf = Buffer::new(
            &ctx,
            &BufferDesc {
                size: data.len() as u64 + 13,
                usage: vk::BufferUsageFlags::STORAGE_BUFFER,
                memory,
                name: "round trip",
            },
        )
        .expect("buffer");
        let (path, _) = up.upload_buffer(&mut buf, 13, &data).expect("upload");
        assert_eq!(path, expected);
        let back = up.read_buffer(&buf, 13, data.len() as u64).expect("read");
        assert!(back == data, "round trip differs (force_staging={force})");
        // Out-of-range uploads are errors, not panics.
        let end = buf.size();
        assert!(up.upload_buffer(&mut buf, end, &[1]).is_err());
        drop((up, buf));
        assert_clean(&ctx);
    }
}

#[test]
fn offscreen_triangle_pixels() {
    let ctx = gpu(false);
    let shaders = compiler();
    let code =
        shaders.compile(&ShaderDesc::new(test_shader("triangle.slang"))).expect("compile triangle");
    let (vs, fs) = (code.entry("vs_main").expect("vs"), code.entry("fs_main").expect("fs"));
    let format = vk::Format::R8G8B8A8_UNORM;
    let pipeline = Pipeline::graphics(&ctx, &GraphicsDesc::new("triangle", vs, fs, format), None)
        .expect("pipeline");
    let (w, h) = (64u32, 48u32);
    let target = Image::new(
        &ctx,
        &ImageDesc::d2("target", w, h, format, vk::ImageUsageFlags::COLOR_ATTACHMENT),
    )
    .expect("image");
    let device = ctx.device();
    ctx.immediate(|cmd| {
        image_barrier(
            device,
            cmd,
            target.raw(),
            target.full_range(),
            AccessScope::UNDEFINED,
            AccessScope::COLOR_ATTACHMENT,
        );
        let color = [vk::RenderingAttachmentInfo::default()
            .image_view(target.view())
            .image_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
            .load_op(vk::AttachmentLoadOp::CLEAR)
            .store_op(vk::AttachmentStoreOp::STORE)
            .clear_value(vk::ClearValue {
                color: vk::ClearColorValue { float32: [0.0, 0.0, 0.25, 1.0] },
            })];
        // SAFETY: recording; the image is in COLOR_ATTACHMENT_OPTIMAL (barrier above).
        unsafe {
            xpg::begin_rendering(device, cmd, vk::Extent2D { width: w, height: h }, &color, None);
            pipeline.bind(cmd, None);
            device.cmd_draw(cmd, 3, 1, 0, 0);
            device.cmd_end_rendering(cmd);
        }
    })
    .expect("render");
    let mut up = Uploader::new(&ctx, 1 << 20).expect("uploader");
    let px = up.read_image(&target, 0, 0, vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL).expect("read");
    let at = |x: u32, y: u32| {
        let i = ((y * w + x) * 4) as usize;
        [px[i], px[i + 1], px[i + 2], px[i + 3]]
    };
    let fg = [255, 128, 0, 255];
    let bg = [0, 0, 64, 255];
    // UNORM conversion of 0.5 and 0.25 rounds differently across drivers (127 or 128).
    let near = |a: [u8; 4], b: [u8; 4]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 1);
    // The triangle (-1,-1), (-1,1), (1,1) covers the part below the diagonal from top-left to
    // bottom-right: pixel (x, y) is inside when y/h > x/w.
    assert!(near(at(2, h - 3), fg), "bottom-left is inside: {:?}", at(2, h - 3));
    assert!(near(at(w - 3, 2), bg), "top-right is outside: {:?}", at(w - 3, 2));
    let mut inside = 0;
    for y in 0..h {
        for x in 0..w {
            let (cx, cy) = ((x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32);
            let p = at(x, y);
            if (cy - cx).abs() > 0.05 {
                let expect = if cy > cx { fg } else { bg };
                assert!(near(p, expect), "pixel ({x}, {y}) is {p:?}, expected {expect:?}");
            }
            if near(p, fg) {
                inside += 1;
            }
        }
    }
    // Half the pixels (top-left fill rule puts the diagonal on one side): within one row.
    let half = (w * h / 2) as i32;
    assert!((inside - half).abs() <= w as i32, "{inside} pixels inside, expected about {half}");
    drop((pipeline, target, up));
    assert_clean(&ctx);
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MipParams {
    out: u64,
    texture: u32,
    sampler: u32,
    levels: u32,
    _pad: u32,
}

#[test]
fn texture_with_mips_uploaded_through_staging_then_sampled() {
    // force_staging: on lavapipe every memory type is host-visible; this makes the buffer path
    // stage too (images always do).
    let ctx = gpu(true);
    let shaders = compiler();
    let code =
        shaders.compile(&ShaderDesc::new(test_shader("sample_mips.slang"))).expect("compile");
    let heap = BindlessHeap::new(&ctx).expect("heap");
    let pipeline = Pipeline::compute(&ctx, &code.entry_points[0], Some(&heap)).expect("pipeline");
    assert!(pipeline.layout().uses_bindless());

    let (w, h) = (256u32, 128u32);
    let levels = xpg::full_mip_count(w, h);
    assert_eq!(levels, 9);
    let image = Image::new(
        &ctx,
        &ImageDesc::d2("mipped", w, h, vk::Format::R8G8B8A8_UNORM, vk::ImageUsageFlags::SAMPLED)
            .mips(levels),
    )
    .expect("image");
    // RGB: one color per level, distinct across levels (checked by sampling). Alpha: a pattern
    // of the texel position (checked by reading every level back), so a chunk copied to the
    // wrong rows is caught.
    let color = |l: u32| [(l * 40) as u8, 255 - (l * 30) as u8, (l * 17 + 5) as u8];
    let data: Vec<Vec<u8>> = (0..levels)
        .map(|l| {
            let e = image.mip_extent(l);
            (0..e.width * e.height)
                .flat_map(|i| {
                    let [r, g, b] = color(l);
                    [r, g, b, ((i / e.width) * 7 + (i % e.width) * 3) as u8]
                })
                .collect()
        })
        .collect();
    let mips: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    // A small ring (64 KiB, chunks of at most 32 KiB): the 128 KiB top level is split by rows
    // and the chunks wrap around the ring across submissions.
    let mut up = Uploader::new(&ctx, 64 << 10).expect("uploader");
    up.upload_image(&image, &mips, vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL).expect("upload");
    // Wrong data sizes are errors naming the image.
    let err = up
        .upload_image(&image, &[&[0u8; 3]], vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)
        .expect_err("wrong data size");
    assert!(err.to_string().contains("mipped"), "{err}");
    for (l, want) in data.iter().enumerate() {
        let back = up
            .read_image(&image, l as u32, 0, vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)
            .expect("read back");
        assert!(back == *want, "mip {l} read back differs from what was uploaded");
    }

    let sampler = Sampler::nearest(&ctx, vk::SamplerAddressMode::CLAMP_TO_EDGE).expect("sampler");
    // SAFETY: image and sampler outlive their slots (dropped after them below).
    let (tex_slot, smp_slot) = unsafe {
        (
            heap.add_sampled_image(image.view(), vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)
                .expect("slot"),
            heap.add_sampler(sampler.raw()).expect("slot"),
        )
    };
    let out = Buffer::new(
        &ctx,
        &BufferDesc {
            size: 16 * levels as u64,
            usage: vk::BufferUsageFlags::STORAGE_BUFFER,
            memory: MemoryUsage::GpuOnly,
            name: "mip colors",
        },
    )
    .expect("buffer");
    ctx.immediate(|cmd| {
        pipeline.bind(cmd, Some(&heap));
        pipeline.push(
            cmd,
            &MipParams {
                out: out.address(),
                texture: tex_slot.index(),
                sampler: smp_slot.index(),
                levels,
                _pad: 0,
            },
        );
        pipeline.dispatch_threads(cmd, [levels, 1, 1]);
    })
    .expect("dispatch");
    let got = f32s(&up.read_buffer(&out, 0, out.size()).expect("read"));
    for l in 0..levels {
        let want = color(l).map(|c| c as f32 / 255.0);
        let px = &got[(l * 4) as usize..(l * 4 + 4) as usize];
        for c in 0..3 {
            assert!(
                (px[c] - want[c]).abs() < 1.0 / 255.0,
                "mip {l} channel {c}: got {px:?}, want {want:?}"
            );
        }
    }
    drop((pipeline, out, up, tex_slot, smp_slot, image, sampler, heap));
    assert_clean(&ctx);
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct NonUniformParams {
    out: u64,
    first_texture: u32,
    texture_count: u32,
    sampler: u32,
    count: u32,
}

#[test]
fn bindless_array_indexed_non_uniformly() {
    let ctx = gpu(false);
    let shaders = compiler();
    let code = shaders.compile(&ShaderDesc::new(test_shader("nonuniform.slang"))).expect("compile");
    let heap = BindlessHeap::new(&ctx).expect("heap");
    let pipeline = Pipeline::compute(&ctx, &code.entry_points[0], Some(&heap)).expect("pipeline");
    let mut up = Uploader::new(&ctx, 1 << 20).expect("uploader");

    // A placeholder slot first, freed again, so that indices do not start at 0 and a freed slot
    // is recycled.
    let n = 5u32;
    let mut images = Vec::new();
    let mut slots = Vec::new();
    let color = |t: u32| [(t * 50) as u8, (200 - t * 30) as u8, (t * 13) as u8, 255];
    let filler = Image::new(
        &ctx,
        &ImageDesc::d2("filler", 4, 4, vk::Format::R8G8B8A8_UNORM, vk::ImageUsageFlags::SAMPLED),
    )
    .expect("image");
    up.upload_image(&filler, &[&[9u8; 64]], vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)
        .expect("upload");
    // SAFETY: every image and the sampler are dropped after the slots that name them, at the
    // end of the test (this slot and the ones below).
    let filler_slot =
        unsafe { heap.add_sampled_image(filler.view(), vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL) }
            .expect("slot");
    for t in 0..n {
        let img = Image::new(
            &ctx,
            &ImageDesc::d2("tex", 4, 4, vk::Format::R8G8B8A8_UNORM, vk::ImageUsageFlags::SAMPLED),
        )
        .expect("image");
        up.upload_image(&img, &[&color(t).repeat(16)], vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)
            .expect("upload");
        // SAFETY: see filler_slot.
        let slot = unsafe {
            heap.add_sampled_image(img.view(), vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)
        };
        slots.push(slot.expect("slot"));
        images.push(img);
    }
    let first = slots[0].index();
    for (t, s) in slots.iter().enumerate() {
        assert_eq!(s.index(), first + t as u32, "consecutive slots");
    }
    let filler_index = filler_slot.index();
    drop(filler_slot);
    ctx.wait_idle().expect("idle");
    // SAFETY: see filler_slot.
    let recycled =
        unsafe { heap.add_sampled_image(filler.view(), vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL) }
            .expect("slot");
    assert_eq!(recycled.index(), filler_index, "a freed slot is handed out again");

    let sampler = Sampler::nearest(&ctx, vk::SamplerAddressMode::CLAMP_TO_EDGE).expect("sampler");
    // SAFETY: see filler_slot.
    let smp = unsafe { heap.add_sampler(sampler.raw()) }.expect("slot");
    let count = 64u32;
    let out = Buffer::new(
        &ctx,
        &BufferDesc {
            size: 16 * count as u64,
            usage: vk::BufferUsageFlags::STORAGE_BUFFER,
            memory: MemoryUsage::GpuOnly,
            name: "nonuniform out",
        },
    )
    .expect("buffer");
    ctx.immediate(|cmd| {
        pipeline.bind(cmd, Some(&heap));
        pipeline.push(
            cmd,
            &NonUniformParams {
                out: out.address(),
                first_texture: first,
                texture_count: n,
                sampler: smp.index(),
                count,
            },
        );
        pipeline.dispatch_threads(cmd, [count, 1, 1]);
    })
    .expect("dispatch");
    let got = f32s(&up.read_buffer(&out, 0, out.size()).expect("read"));
    for i in 0..count {
        let t = (i * 7 + 3) % n;
        let want = color(t).map(|c| c as f32 / 255.0);
        let px = &got[(i * 4) as usize..(i * 4 + 4) as usize];
        for c in 0..4 {
            assert!(
                (px[c] - want[c]).abs() < 0.5 / 255.0,
                "thread {i} (texture {t}) channel {c}: got {px:?}, want {want:?}"
            );
        }
    }
    drop((pipeline, out, up, slots, images, recycled, filler, smp, sampler, heap));
    assert_clean(&ctx);
}

#[test]
fn frames_in_flight_and_timestamps() {
    let ctx = gpu(false);
    let mut frames = xpg::FrameRing::new(&ctx, 2).expect("frames");
    let ts = xpg::TimestampPool::new(&ctx, 2).expect("timestamps");
    let mut values = Vec::new();
    for i in 0..5 {
        let f = frames.begin().expect("begin");
        assert_eq!(f.index, i);
        assert_eq!(f.slot, (i % 2) as usize);
        ctx.begin_label(f.cmd, "frame", [1.0, 0.0, 0.0, 1.0]);
        if i == 4 {
            ts.write(f.cmd, vk::PipelineStageFlags2::TOP_OF_PIPE, 0).expect("ts");
            ts.write(f.cmd, vk::PipelineStageFlags2::BOTTOM_OF_PIPE, 1).expect("ts");
            assert!(ts.write(f.cmd, vk::PipelineStageFlags2::BOTTOM_OF_PIPE, 2).is_err());
        }
        ctx.end_label(f.cmd);
        values.push(frames.end(f).expect("end"));
    }
    assert!(values.windows(2).all(|w| w[1] > w[0]), "timeline values increase: {values:?}");
    ctx.wait_idle().expect("idle");
    let t = ts.read_ns(0, 2).expect("read timestamps");
    assert!(t[1] >= t[0], "timestamps ordered: {t:?}");
    drop((frames, ts));
    assert_clean(&ctx);
}

#[test]
fn caps_report_what_the_tests_need() {
    let ctx = gpu(false);
    let c = ctx.caps();
    assert!(c.missing_required().is_empty());
    assert!(c.descriptor_indexing.bindless && c.descriptor_indexing.sampled_image_non_uniform);
    // The set-up script guarantees lavapipe with ray tracing; later issues rely on it.
    assert!(c.ray_tracing_pipeline, "ray tracing pipeline missing on {}", c.device_name);
    assert!(c.acceleration_structure, "acceleration structures missing on {}", c.device_name);
    assert!(c.subgroup_size >= 1 && c.timestamp_period_ns > 0.0);
    assert_clean(&ctx);
}

/// The zero-message checks above can fail: two copies into one buffer without a barrier are a
/// write-after-write hazard that synchronization validation reports, counted by this context
/// only. (Accesses through device addresses are invisible to the layer: the framegraph's plan
/// tests cover those.)
#[test]
fn missing_barrier_is_reported_by_synchronization_validation() {
    let ctx = gpu(false);
    let bystander = gpu(false);
    let desc = |name| BufferDesc {
        size: 256,
        usage: vk::BufferUsageFlags::empty(),
        memory: MemoryUsage::GpuOnly,
        name,
    };
    let src = Buffer::new(&ctx, &desc("src")).expect("buffer");
    let dst = Buffer::new(&ctx, &desc("dst")).expect("buffer");
    let device = ctx.device();
    ctx.immediate(|cmd| {
        let region = [vk::BufferCopy { src_offset: 0, dst_offset: 0, size: 256 }];
        // SAFETY: both buffers are alive and large enough; the missing barrier is the point.
        unsafe {
            device.cmd_copy_buffer(cmd, src.raw(), dst.raw(), &region);
            device.cmd_copy_buffer(cmd, src.raw(), dst.raw(), &region);
        }
    })
    .expect("copies");
    let m = ctx.validation_messages();
    assert!(m.errors >= 1, "a write-after-write hazard must be reported: {m:?}");
    assert!(m.recent.iter().any(|r| r.contains("SYNC-HAZARD-WRITE-AFTER-WRITE")), "{:?}", m.recent);
    assert_eq!(bystander.validation_messages().total(), 0, "messages are counted per context");
}

/// Resources dropped while the GPU still uses them are destroyed only after that work
/// completes: destroying them at once would be reported by the validation layer
/// (VUID-vkDestroyBuffer-buffer-00922 and friends) and their memory would be freed early.
/// The work is held pending by a semaphore the host signals only after the drop.
#[test]
fn dropped_resources_outlive_pending_work() {
    let ctx = gpu(false);
    let device = ctx.device();
    let allocated =
        || ctx.allocator().lock().expect("allocator").generate_report().total_allocated_bytes;
    let mut frames = xpg::FrameRing::new(&ctx, 2).expect("frames");
    let mut gate_type = vk::SemaphoreTypeCreateInfo::default()
        .semaphore_type(vk::SemaphoreType::TIMELINE)
        .initial_value(0);
    // SAFETY: valid create info; destroyed at the end of the test after the device is idle.
    let gate = unsafe {
        device.create_semaphore(&vk::SemaphoreCreateInfo::default().push_next(&mut gate_type), None)
    }
    .expect("semaphore");
    let base = allocated();
    let desc = |name| BufferDesc {
        size: 4 << 20,
        usage: vk::BufferUsageFlags::empty(),
        memory: MemoryUsage::GpuOnly,
        name,
    };
    let src = Buffer::new(&ctx, &desc("src")).expect("buffer");
    let dst = Buffer::new(&ctx, &desc("dst")).expect("buffer");
    let img = Image::new(
        &ctx,
        &ImageDesc::d2("img", 256, 256, vk::Format::R8G8B8A8_UNORM, vk::ImageUsageFlags::SAMPLED),
    )
    .expect("image");
    let f = frames.begin().expect("frame");
    let region = [vk::BufferCopy { src_offset: 0, dst_offset: 0, size: 4 << 20 }];
    // SAFETY: recording; both buffers are 4 MiB.
    unsafe { device.cmd_copy_buffer(f.cmd, src.raw(), dst.raw(), &region) };
    let range = img.full_range();
    image_barrier(
        device,
        f.cmd,
        img.raw(),
        range,
        AccessScope::UNDEFINED,
        AccessScope::TRANSFER_DST,
    );
    let wait = [vk::SemaphoreSubmitInfo::default()
        .semaphore(gate)
        .value(1)
        .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
    // SAFETY: the gate is a live timeline semaphore of this device.
    unsafe { frames.end_with(f, &wait, &[]) }.expect("submit");
    // Dropped while the frame cannot have run yet.
    drop((src, dst, img));
    ctx.collect_garbage();
    let still_allocated = allocated() > base;
    // Release the frame before asserting, so that a failure fails instead of hanging.
    // SAFETY: the gate belongs to this device; signalling 1 from the host releases the frame.
    unsafe {
        device.signal_semaphore(&vk::SemaphoreSignalInfo::default().semaphore(gate).value(1))
    }
    .expect("signal");
    ctx.wait_idle().expect("idle");
    assert!(still_allocated, "memory of resources used by pending work must not be freed yet");
    assert_eq!(allocated(), base, "all memory freed once the GPU is done");
    drop(frames);
    // SAFETY: no pending work waits on the gate any more (device idle above).
    unsafe { device.destroy_semaphore(gate, None) };
    assert_clean(&ctx);
}

/// Bad input is a clear `Err` naming what was wrong, never a panic or a Vulkan error.
#[test]
fn bad_input_is_an_error_not_a_panic() {
    let ctx = gpu(false);
    let shaders = compiler();
    let d2 = |name, w, h| {
        ImageDesc::d2(name, w, h, vk::Format::R8G8B8A8_UNORM, vk::ImageUsageFlags::SAMPLED)
    };
    let err = |r: Result<Image, xpg::GpuError>| r.expect_err("must fail").to_string();
    assert!(err(Image::new(&ctx, &d2("empty", 0, 4))).contains("empty"));
    assert!(err(Image::new(&ctx, &d2("too many mips", 4, 4).mips(4))).contains("mip levels"));
    let huge = ctx.caps().max_image_dimension_2d + 1;
    assert!(err(Image::new(&ctx, &d2("huge", huge, 4))).contains("exceeds"));
    let mut cube = d2("cube", 8, 4).layers(6);
    cube.cube = true;
    assert!(err(Image::new(&ctx, &cube)).contains("square"));
    let img = Image::new(&ctx, &d2("ok", 8, 8)).expect("image");
    let range = vk::ImageSubresourceRange { level_count: u32::MAX - 1, ..img.full_range() };
    assert!(img.create_view(vk::ImageViewType::TYPE_2D, range).is_err(), "view range overflow");

    let mut up = Uploader::new(&ctx, 1 << 20).expect("uploader");
    let two_mips: [&[u8]; 2] = [&[0; 256], &[0; 64]];
    let e = up.upload_image(&img, &two_mips, vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL);
    assert!(e.expect_err("more mips than the image").to_string().contains("'ok'"));
    let buf = Buffer::new(
        &ctx,
        &BufferDesc {
            size: 16,
            usage: vk::BufferUsageFlags::empty(),
            memory: MemoryUsage::GpuOnly,
            name: "small",
        },
    )
    .expect("buffer");
    assert!(up.read_buffer(&buf, 0, 0).expect("empty read").is_empty());
    assert!(up.read_buffer(&buf, 8, 9).is_err(), "overrun");
    assert!(up.read_buffer(&buf, u64::MAX, 2).is_err(), "offset overflow");
    assert!(Buffer::new(
        &ctx,
        &BufferDesc {
            size: 0,
            usage: vk::BufferUsageFlags::empty(),
            memory: MemoryUsage::GpuOnly,
            name: "zero"
        }
    )
    .is_err());

    // A shader that reads the bindless heap, without a heap: a layout error naming it.
    let code =
        shaders.compile(&ShaderDesc::new(test_shader("sample_mips.slang"))).expect("compile");
    let e = Pipeline::compute(&ctx, &code.entry_points[0], None).expect_err("no heap given");
    assert!(e.to_string().contains("bindless heap"), "{e}");
    // A vertex shader is not a compute pipeline.
    let tri = shaders.compile(&ShaderDesc::new(test_shader("triangle.slang"))).expect("compile");
    let vs = tri.entry("vs_main").expect("vs");
    assert!(Pipeline::compute(&ctx, vs, None)
        .expect_err("vertex")
        .to_string()
        .contains("not compute"));
    drop((img, up, buf));
    assert_clean(&ctx);
}

/// Pipeline statistics are there only when asked for and supported; where the driver has
/// VK_KHR_pipeline_executable_properties, each executable of a compute pipeline is named,
/// runs the compute stage and has statistics (lavapipe lacks the extension: `None`).
#[test]
fn pipeline_statistics_only_when_asked_and_supported() {
    let shaders = compiler();
    let code =
        shaders.compile(&ShaderDesc::new(test_shader("fill.slang"))).expect("compile fill.slang");
    let ctx = gpu(false);
    let pipeline = Pipeline::compute(&ctx, &code.entry_points[0], None).expect("pipeline");
    assert!(pipeline.statistics().is_none(), "statistics without shader_statistics");
    drop(pipeline);
    assert_clean(&ctx);

    let ctx = xpg::Context::new(&xpg::ContextDesc {
        validation: true,
        shader_statistics: true,
        ..Default::default()
    })
    .expect("context");
    let pipeline = Pipeline::compute(&ctx, &code.entry_points[0], None).expect("pipeline");
    match pipeline.statistics() {
        None => assert!(!ctx.caps().pipeline_executable_info, "supported but not captured"),
        Some(stats) => {
            let stats = stats.expect("statistics");
            assert!(!stats.is_empty(), "no executables");
            for e in &stats {
                assert!(e.stages.contains(vk::ShaderStageFlags::COMPUTE), "{e:?}");
                assert!(!e.name.is_empty() && !e.statistics.is_empty(), "{e:?}");
            }
        }
    }
    drop(pipeline);
    assert_clean(&ctx);
}
