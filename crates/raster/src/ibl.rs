//! Image-based lighting: irradiance, prefiltered specular and the BRDF lookup table, made by
//! compute passes (`shaders/raster/ibl.slang`) in the first frame that draws a scene and kept
//! for the next frames (keyed by the scene's id); the lookup table depends on the BRDF only and
//! is made once per renderer.

use framegraph::{Access, Bind, BufferHandle, FrameGraph, ImageHandle, ImageInfo, Subresources};
use render::{GpuScene, RenderError};
use scene::EnvSun;
use xpg::vk;
use xpg::{
    Buffer, BufferDesc, Context, Image, ImageDesc, MemoryUsage, Pipeline, Sampler, ShaderCompiler,
    ShaderDesc,
};

/// Format of every IBL map.
const IBL_FORMAT: vk::Format = vk::Format::R16G16B16A16_SFLOAT;
/// The small equirect copy of the environment the maps are made from, and its mip levels.
const SMALL: (u32, u32, u32) = (256, 128, 9);
/// Level of the small map the irradiance's spherical harmonics sum over (64x32).
const IRRADIANCE_SOURCE_LEVEL: u32 = 2;
/// Prefiltered specular: level k holds roughness k / (levels - 1); level 0 is 256x128.
pub(crate) const PREFILTERED_LEVELS: u32 = 6;
const PREFILTER_SAMPLES: u32 = 128;
/// The lookup table: n.v along x, roughness along y.
const LUT_SIZE: u32 = 32;
const LUT_SAMPLES: u32 = 512;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct IblPush {
    width: u32,
    height: u32,
    src_width: u32,
    src_height: u32,
    roughness: f32,
    samples: u32,
    src_levels: f32,
    pad: u32,
    /// Downsample: the sun taken out (scene::EnvSun): its direction and cos(radius), and
    /// the luminance its texels are scaled down to (infinite: nothing taken out).
    sun: [f32; 4],
    sun_threshold: f32,
    pad2: [u32; 3],
}

/// The maps of one scene.
struct Maps {
    scene_id: u64,
    /// The sun taken out of the environment first, if any.
    sun: Option<EnvSun>,
    /// The irradiance: 9 RGB spherical-harmonic coefficients (float4 each).
    sh: Buffer,
    prefiltered: Image,
}

/// The IBL maps and the pipelines that make them.
pub(crate) struct Ibl {
    downsample: Pipeline,
    mip_down: Pipeline,
    irradiance: Pipeline,
    prefilter: Pipeline,
    brdf_lut: Pipeline,
    /// Bilinear and trilinear, repeating in u (longitude), clamped in v.
    pub(crate) sampler: Sampler,
    /// Bilinear, clamped.
    pub(crate) lut_sampler: Sampler,
    lut: Image,
    lut_made: bool,
    maps: Option<Maps>,
    /// How many times maps were made (for tests of the cache).
    pub(crate) builds: u64,
}

/// The maps in this frame's graph, ready to sample in fragment shaders.
#[derive(Clone, Copy)]
pub(crate) struct IblHandles {
    /// The irradiance's spherical harmonics (read through its device address).
    pub(crate) sh: BufferHandle,
    /// Its device address.
    pub(crate) sh_address: u64,
    pub(crate) prefiltered: ImageHandle,
    pub(crate) lut: ImageHandle,
}

fn map_image(ctx: &Context, name: &str, w: u32, h: u32, levels: u32) -> Result<Image, RenderError> {
    let usage = vk::ImageUsageFlags::SAMPLED | vk::ImageUsageFlags::STORAGE;
    Ok(Image::new(ctx, &ImageDesc::d2(name, w, h, IBL_FORMAT, usage).mips(levels))?)
}

impl Ibl {
    pub(crate) fn new(ctx: &Context, compiler: &ShaderCompiler) -> Result<Self, RenderError> {
        let code =
            compiler.compile(&ShaderDesc::new(compiler.shader_dir().join("raster/ibl.slang")))?;
        let pipeline = |name: &str| -> Result<Pipeline, RenderError> {
            let entry = code.entry(name).ok_or_else(|| RenderError::MissingEntry {
                shader: "raster/ibl.slang".into(),
                entry: name.into(),
            })?;
            Ok(Pipeline::compute(ctx, entry, None)?)
        };
        let sampler = Sampler::new(
            ctx,
            &vk::SamplerCreateInfo::default()
                .mag_filter(vk::Filter::LINEAR)
                .min_filter(vk::Filter::LINEAR)
                .mipmap_mode(vk::SamplerMipmapMode::LINEAR)
                .address_mode_u(vk::SamplerAddressMode::REPEAT)
                .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_EDGE)
                .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_EDGE)
                .max_lod(vk::LOD_CLAMP_NONE),
        )?;
        let lut_sampler = Sampler::linear(ctx, vk::SamplerAddressMode::CLAMP_TO_EDGE)?;
        Ok(Self {
            downsample: pipeline("downsample")?,
            mip_down: pipeline("mip_down")?,
            irradiance: pipeline("irradiance")?,
            prefilter: pipeline("prefilter")?,
            brdf_lut: pipeline("brdf_lut")?,
            sampler,
            lut_sampler,
            lut: map_image(ctx, "ibl brdf lut", LUT_SIZE, LUT_SIZE, 1)?,
            lut_made: false,
            maps: None,
            builds: 0,
        })
    }

    /// Makes room for `scene`'s maps (new images when the scene changed). Returns whether the
    /// maps (and the lookup table) must be computed in this frame: (maps, lut).
    /// `sun`: taken out of the environment before the maps are made (its light is then the
    /// renderer's to add).
    pub(crate) fn prepare(
        &mut self,
        ctx: &Context,
        scene: &GpuScene,
        sun: Option<EnvSun>,
    ) -> Result<(bool, bool), RenderError> {
        let lut = !self.lut_made;
        self.lut_made = true;
        if self.maps.as_ref().is_some_and(|m| m.scene_id == scene.id && m.sun == sun) {
            return Ok((false, lut));
        }
        let (w, h, _) = SMALL;
        self.maps = Some(Maps {
            scene_id: scene.id,
            sun,
            sh: Buffer::new(
                ctx,
                &BufferDesc {
                    size: 9 * 16,
                    usage: vk::BufferUsageFlags::STORAGE_BUFFER,
                    memory: MemoryUsage::GpuOnly,
                    name: "ibl irradiance sh",
                },
            )?,
            prefiltered: map_image(ctx, "ibl prefiltered", w, h, PREFILTERED_LEVELS)?,
        });
        self.builds += 1;
        Ok((true, lut))
    }

    /// Imports the maps into `graph`, with the passes that compute them when `compute` says
    /// so (from [`Ibl::prepare`]), reading the environment `env`.
    pub(crate) fn add_passes<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        env: &ImageHandle,
        env_size: (u32, u32),
        (maps, lut): (bool, bool),
    ) -> Result<IblHandles, RenderError> {
        let m = self
            .maps
            .as_ref()
            .ok_or_else(|| RenderError::Internal("IBL maps used before prepare()".into()))?;
        let import = |g: &mut FrameGraph<'g>, name: &str, image: &Image, fresh: bool| {
            let e = image.extent();
            let info = ImageInfo::d2(e.width, e.height, IBL_FORMAT).mips(image.mip_levels());
            let (initial, last) = if fresh {
                (None, Some(Access::SampledFragment))
            } else {
                (Some(Access::SampledFragment), None)
            };
            g.import_image(name, image.raw(), image.view(), info, initial, last)
        };
        let (initial, last) = if maps {
            (None, Some(Access::StorageReadFragment))
        } else {
            (Some(Access::StorageReadFragment), None)
        };
        let mut handles = IblHandles {
            sh: graph.import_buffer("ibl irradiance sh", &m.sh, initial, last),
            sh_address: m.sh.address(),
            prefiltered: import(graph, "ibl prefiltered", &m.prefiltered, maps),
            lut: import(graph, "ibl brdf lut", &self.lut, lut),
        };
        let sampler = self.sampler.raw();
        let dispatch = |pipeline: &'g Pipeline, push: IblPush| {
            move |ctx: &mut framegraph::PassContext<'_>, binds: &[Bind<'_>]| {
                pipeline.bind(ctx.cmd, None);
                ctx.push_descriptors(pipeline, binds)?;
                pipeline.push(ctx.cmd, &push);
                pipeline.dispatch_threads(ctx.cmd, [push.width, push.height, 1]);
                Ok::<(), framegraph::ExecuteError>(())
            }
        };
        let push = |w: u32, h: u32, sw: u32, sh: u32| IblPush {
            width: w,
            height: h,
            src_width: sw,
            src_height: sh,
            roughness: 0.0,
            samples: 0,
            src_levels: 0.0,
            pad: 0,
            sun: [0.0, 0.0, 0.0, 2.0],
            sun_threshold: f32::INFINITY,
            pad2: [0; 3],
        };
        if lut {
            let run = dispatch(
                &self.brdf_lut,
                IblPush { samples: LUT_SAMPLES, ..push(LUT_SIZE, LUT_SIZE, 1, 1) },
            );
            let out = handles.lut;
            graph
                .add_pass("ibl brdf lut")
                .write(&mut handles.lut, Access::StorageWriteCompute)
                .record(move |ctx| run(ctx, &[Bind::Storage { binding: 1, image: &out, mip: 0 }]));
        }
        if !maps {
            return Ok(handles);
        }
        let (sw, sh, levels) = SMALL;
        let small_info = ImageInfo::d2(sw, sh, IBL_FORMAT).mips(levels);
        let mut small = graph.create_image("ibl small environment", small_info);
        let (src, dst) = (*env, small);
        let mut down = push(sw, sh, env_size.0, env_size.1);
        if let Some(sun) = m.sun {
            let d = sun.direction;
            down.sun = [d[0], d[1], d[2], sun.cos_radius];
            down.sun_threshold = sun.threshold;
        }
        let run = dispatch(&self.downsample, down);
        graph
            .add_pass("ibl downsample")
            .read(env, Access::SampledCompute)
            .write_range(&mut small, Access::StorageWriteCompute, Subresources::mip(0, &small_info))
            .record(move |ctx| {
                run(
                    ctx,
                    &[
                        Bind::Sampled { binding: 0, image: &src, mip: None, sampler },
                        Bind::Storage { binding: 1, image: &dst, mip: 0 },
                    ],
                )
            });
        let size = |level: u32| ((sw >> level).max(1), (sh >> level).max(1));
        for level in 1..levels {
            let ((w, h), (pw, ph)) = (size(level), size(level - 1));
            let run = dispatch(&self.mip_down, push(w, h, pw, ph));
            let s = small;
            graph
                .add_pass(&format!("ibl mip {level}"))
                .read_range(
                    &small,
                    Access::SampledCompute,
                    Subresources::mip(level - 1, &small_info),
                )
                .write_range(
                    &mut small,
                    Access::StorageWriteCompute,
                    Subresources::mip(level, &small_info),
                )
                .record(move |ctx| {
                    run(
                        ctx,
                        &[
                            Bind::Sampled { binding: 0, image: &s, mip: Some(level - 1), sampler },
                            Bind::Storage { binding: 1, image: &s, mip: level },
                        ],
                    )
                });
        }
        let (iw, ih) = size(IRRADIANCE_SOURCE_LEVEL);
        let run = dispatch(&self.irradiance, push(9, 1, iw, ih));
        let (s, sh_out) = (small, handles.sh);
        graph
            .add_pass("ibl irradiance")
            .read_range(
                &small,
                Access::SampledCompute,
                Subresources::mip(IRRADIANCE_SOURCE_LEVEL, &small_info),
            )
            .write(&mut handles.sh, Access::StorageWriteCompute)
            .record(move |ctx| {
                run(
                    ctx,
                    &[
                        Bind::Sampled {
                            binding: 0,
                            image: &s,
                            mip: Some(IRRADIANCE_SOURCE_LEVEL),
                            sampler,
                        },
                        Bind::Buffer { binding: 2, buffer: &sh_out },
                    ],
                )
            });
        let pref_info = ImageInfo::d2(sw, sh, IBL_FORMAT).mips(PREFILTERED_LEVELS);
        for level in 0..PREFILTERED_LEVELS {
            let (w, h) = size(level);
            let roughness = level as f32 / (PREFILTERED_LEVELS - 1) as f32;
            let p = IblPush {
                roughness,
                samples: PREFILTER_SAMPLES,
                src_levels: levels as f32,
                ..push(w, h, sw, sh)
            };
            let run = dispatch(&self.prefilter, p);
            let (s, out) = (small, handles.prefiltered);
            graph
                .add_pass(&format!("ibl prefilter {level}"))
                .read(&small, Access::SampledCompute)
                .write_range(
                    &mut handles.prefiltered,
                    Access::StorageWriteCompute,
                    Subresources::mip(level, &pref_info),
                )
                .record(move |ctx| {
                    run(
                        ctx,
                        &[
                            Bind::Sampled { binding: 0, image: &s, mip: None, sampler },
                            Bind::Storage { binding: 1, image: &out, mip: level },
                        ],
                    )
                });
        }
        Ok(handles)
    }
}
