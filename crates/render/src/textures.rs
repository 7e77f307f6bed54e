//! Scene textures on the GPU: level 0 uploaded through the staging ring, the other mip levels
//! generated on the GPU by a chain of blits recorded as framegraph passes (the graph places
//! every barrier between levels), each texture and sampler in the bindless heap.

use std::collections::HashMap;

use framegraph::{Access, FrameGraph, ImageInfo, Subresources};
use xpg::vk;
use xpg::{BindlessHeap, BindlessIndex, Context, Image, ImageDesc, Sampler, Uploader};

use crate::gpu::{GpuSceneError, SceneObject};
use scene::{Texture, TexturePixels, TextureSampler, Wrap};

/// A texture in GPU memory (READ_ONLY_OPTIMAL, every mip level filled).
pub struct GpuTexture {
    /// Its slot in the bindless heap's sampled images (declared before `image`: dropped first).
    pub slot: BindlessIndex,
    /// The image.
    pub image: Image,
}

/// A sampler in the bindless heap.
pub struct GpuSampler {
    /// Its slot (declared before `sampler`: dropped first).
    pub slot: BindlessIndex,
    /// The sampler.
    pub sampler: Sampler,
}

/// The GPU format of a texture: 8-bit sRGB or UNORM, or half floats for float texels.
pub fn texture_format(t: &Texture) -> vk::Format {
    match (&t.pixels, t.srgb) {
        (TexturePixels::Rgba8(_), true) => vk::Format::R8G8B8A8_SRGB,
        (TexturePixels::Rgba8(_), false) => vk::Format::R8G8B8A8_UNORM,
        (TexturePixels::RgbaF32(_), _) => vk::Format::R16G16B16A16_SFLOAT,
    }
}

/// Whether the device can make mip levels of `format` by linear blits and filter it linearly.
fn blit_mips_supported(ctx: &Context, format: vk::Format) -> bool {
    // SAFETY: valid physical device of this instance.
    let props = unsafe {
        ctx.instance().get_physical_device_format_properties(ctx.physical_device(), format)
    };
    let need = vk::FormatFeatureFlags::BLIT_SRC
        | vk::FormatFeatureFlags::BLIT_DST
        | vk::FormatFeatureFlags::SAMPLED_IMAGE_FILTER_LINEAR;
    props.optimal_tiling_features.contains(need)
}

fn texel_bytes(t: &Texture) -> Result<Vec<u8>, String> {
    let n = t.width as usize * t.height as usize;
    let bytes = match &t.pixels {
        TexturePixels::Rgba8(p) if p.len() == n => bytemuck::cast_slice(p).to_vec(),
        TexturePixels::RgbaF32(p) if p.len() == n => {
            if p.iter().flatten().any(|v| !v.is_finite()) {
                return Err("non-finite (NaN or infinite) texels".into());
            }
            // Half floats end at 65504 (a sun in an HDR image can be brighter): clamp rather
            // than turn into infinity.
            let halves: Vec<u16> = p
                .iter()
                .flatten()
                .map(|&v| half::f16::from_f32(v.clamp(-65504.0, 65504.0)).to_bits())
                .collect();
            bytemuck::cast_slice(&halves).to_vec()
        }
        TexturePixels::Rgba8(p) => return Err(format!("{} texels for {n}", p.len())),
        TexturePixels::RgbaF32(p) => return Err(format!("{} texels for {n}", p.len())),
    };
    Ok(bytes)
}

/// Uploads `textures`, generates their mip levels on the GPU and adds them to `heap`.
pub(crate) fn upload_textures(
    ctx: &Context,
    heap: &BindlessHeap,
    up: &mut Uploader,
    textures: &[Texture],
) -> Result<Vec<GpuTexture>, GpuSceneError> {
    let mut out = Vec::with_capacity(textures.len());
    // (texture index, mip levels) of those whose mips the GPU makes.
    let mut chains = Vec::new();
    for (i, t) in textures.iter().enumerate() {
        let invalid = |m: String| GpuSceneError::invalid(SceneObject::Texture(t.name.clone()), m);
        if t.width == 0 || t.height == 0 {
            return Err(invalid(format!("size {}x{}", t.width, t.height)));
        }
        let bytes = texel_bytes(t).map_err(invalid)?;
        let format = texture_format(t);
        let levels = if blit_mips_supported(ctx, format) {
            xpg::full_mip_count(t.width, t.height)
        } else {
            1
        };
        let image = Image::new(
            ctx,
            &ImageDesc::d2(&t.name, t.width, t.height, format, vk::ImageUsageFlags::SAMPLED)
                .mips(levels),
        )?;
        // One level: ready to sample. Several: left for the blits.
        let layout = if levels > 1 {
            vk::ImageLayout::TRANSFER_DST_OPTIMAL
        } else {
            vk::ImageLayout::READ_ONLY_OPTIMAL
        };
        up.upload_image(&image, &[&bytes], layout)?;
        if levels > 1 {
            chains.push((i, levels));
        }
        // SAFETY: the view lives in `image`, which outlives the slot (GpuTexture drops the slot
        // first, and deferred destruction keeps both until the GPU is done).
        let slot =
            unsafe { heap.add_sampled_image(image.view(), vk::ImageLayout::READ_ONLY_OPTIMAL) }?;
        out.push(GpuTexture { slot, image });
    }
    if chains.is_empty() {
        return Ok(out);
    }
    // The uploads above end with a barrier to all later work.
    up.flush()?;
    let mut graph = FrameGraph::new();
    for &(i, levels) in &chains {
        let img = &out[i].image;
        let e = img.extent();
        let info = ImageInfo::d2(e.width, e.height, img.format()).mips(levels);
        let mut h = graph.import_image(
            &textures[i].name,
            img.raw(),
            img.view(),
            info,
            Some(Access::TransferDst),
            Some(Access::SampledFragment),
        );
        for level in 1..levels {
            let (src, dst) = (img.mip_extent(level - 1), img.mip_extent(level));
            let hh = h;
            graph
                .add_pass(&format!("mip {level} of {}", textures[i].name))
                .read_range(&h, Access::TransferSrc, Subresources::mip(level - 1, &info))
                .write_range(&mut h, Access::TransferDst, Subresources::mip(level, &info))
                .record(move |pc| {
                    let image = pc.image(&hh)?;
                    let layers = |mip| {
                        vk::ImageSubresourceLayers::default()
                            .aspect_mask(vk::ImageAspectFlags::COLOR)
                            .mip_level(mip)
                            .layer_count(1)
                    };
                    let corner = |e: vk::Extent3D| vk::Offset3D {
                        x: e.width as i32,
                        y: e.height as i32,
                        z: 1,
                    };
                    let region = vk::ImageBlit::default()
                        .src_subresource(layers(level - 1))
                        .src_offsets([vk::Offset3D::default(), corner(src)])
                        .dst_subresource(layers(level))
                        .dst_offsets([vk::Offset3D::default(), corner(dst)]);
                    // SAFETY: recording; the graph put level-1 in TRANSFER_SRC and level in
                    // TRANSFER_DST with the barriers between them; the format supports linear
                    // blits (checked before choosing several levels).
                    unsafe {
                        pc.device().cmd_blit_image(
                            pc.cmd,
                            image,
                            vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                            image,
                            vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                            &[region],
                            vk::Filter::LINEAR,
                        )
                    };
                    Ok(())
                });
        }
    }
    framegraph::run_once(ctx, graph)
        .map_err(|source| GpuSceneError::SetUp { work: "mip generation", source })?;
    Ok(out)
}

/// One bindless sampler per distinct [`TextureSampler`] the textures use; returns the slot of
/// each texture's sampler.
pub(crate) fn make_samplers(
    ctx: &Context,
    heap: &BindlessHeap,
    textures: &[Texture],
) -> Result<(Vec<GpuSampler>, Vec<u32>), GpuSceneError> {
    let mut samplers: Vec<GpuSampler> = Vec::new();
    let mut known: HashMap<TextureSampler, usize> = HashMap::new();
    let mut of_texture = Vec::with_capacity(textures.len());
    for t in textures {
        let s = t.sampler;
        let index = match known.get(&s) {
            Some(&i) => i,
            None => {
                let address = |w: Wrap| match w {
                    Wrap::Repeat => vk::SamplerAddressMode::REPEAT,
                    Wrap::MirroredRepeat => vk::SamplerAddressMode::MIRRORED_REPEAT,
                    Wrap::ClampToEdge => vk::SamplerAddressMode::CLAMP_TO_EDGE,
                };
                let filter =
                    |nearest: bool| if nearest { vk::Filter::NEAREST } else { vk::Filter::LINEAR };
                // Anisotropic filtering on GPUs only: lavapipe's returns garbage (speckle)
                // where the UV derivatives vanish (a UV constant across a surface, as in
                // Khronos' TextureLinearInterpolationTest), and on a CPU it costs up to 8
                // taps per sample.
                let gpu = ctx.caps().device_type != vk::PhysicalDeviceType::CPU;
                let anisotropy = if ctx.caps().sampler_anisotropy && gpu {
                    ctx.caps().max_sampler_anisotropy.min(8.0)
                } else {
                    1.0
                };
                let info = vk::SamplerCreateInfo::default()
                    .mag_filter(filter(s.nearest_mag))
                    .min_filter(filter(s.nearest_min))
                    .mipmap_mode(if s.linear_mips {
                        vk::SamplerMipmapMode::LINEAR
                    } else {
                        vk::SamplerMipmapMode::NEAREST
                    })
                    .address_mode_u(address(s.wrap_u))
                    .address_mode_v(address(s.wrap_v))
                    .address_mode_w(vk::SamplerAddressMode::REPEAT)
                    .anisotropy_enable(anisotropy > 1.0 && !s.nearest_min)
                    .max_anisotropy(anisotropy.max(1.0))
                    .max_lod(vk::LOD_CLAMP_NONE);
                let sampler = Sampler::new(ctx, &info)?;
                // SAFETY: the sampler outlives its slot (GpuSampler drops the slot first).
                let slot = unsafe { heap.add_sampler(sampler.raw()) }?;
                samplers.push(GpuSampler { slot, sampler });
                known.insert(s, samplers.len() - 1);
                samplers.len() - 1
            }
        };
        of_texture.push(samplers[index].slot.index());
    }
    Ok((samplers, of_texture))
}
