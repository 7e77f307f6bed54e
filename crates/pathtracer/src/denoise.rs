//! The denoiser of the interactive path-traced viewport (`shaders/pathtracer/denoise.slang`):
//! an edge-avoiding a-trous filter of the accumulated mean, guided by the first hits' albedo,
//! normal and position (the path tracer's AOVs) and by the per-pixel variance that the
//! accumulation's sums of squares give. As samples accumulate the variance falls and the
//! filter lets more of the image through unchanged.

use framegraph::{Access, Bind, FrameGraph, ImageHandle, ImageInfo};
use render::RenderError;
use xpg::vk;
use xpg::{Context, EntryPointCode, Pipeline, ShaderCompiler, ShaderDesc};

/// Passes of the filter (kernel steps 1, 2, 4, 8, 16 pixels: a 125-pixel reach).
pub const ITERATIONS: u32 = 5;

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DenoisePush {
    inv_view_proj: [[f32; 4]; 4],
    width: u32,
    height: u32,
    step: u32,
    pad0: u32,
    sigma_luminance: f32,
    sigma_normal: f32,
    sigma_plane: f32,
    pad: f32,
}

/// The filter's pipelines (first, middle and last pass), made on first use.
pub(crate) struct Denoiser {
    code: [EntryPointCode; 3],
    pipelines: Option<[Pipeline; 3]>,
}

/// The images a denoising pass reads: the accumulation's sums and squares and the AOV sums.
pub(crate) struct Guides {
    pub sum: ImageHandle,
    pub squares: ImageHandle,
    pub albedo: ImageHandle,
    pub normal: ImageHandle,
}

impl Denoiser {
    /// Compiles the three variants (their pipelines are made by [`Denoiser::add_passes`]).
    pub fn new(compiler: &ShaderCompiler) -> Result<Self, RenderError> {
        let path = compiler.shader_dir().join("pathtracer/denoise.slang");
        let variant = |mode: u32| -> Result<EntryPointCode, RenderError> {
            let code = compiler.compile(&ShaderDesc {
                defines: vec![("MODE".into(), mode.to_string())],
                ..ShaderDesc::new(path.clone())
            })?;
            code.entry("atrous").cloned().ok_or_else(|| RenderError::MissingEntry {
                shader: "pathtracer/denoise.slang".into(),
                entry: "atrous".into(),
            })
        };
        Ok(Self { code: [variant(0)?, variant(1)?, variant(2)?], pipelines: None })
    }

    /// Adds the filter's passes: `ITERATIONS` compute passes from the accumulation (`g`) into
    /// `target`. `inv_view_proj`: the view's, to place the first hits.
    pub fn add_passes<'g>(
        &'g mut self,
        ctx: &Context,
        graph: &mut FrameGraph<'g>,
        (width, height): (u32, u32),
        inv_view_proj: [[f32; 4]; 4],
        g: &Guides,
        target: &mut ImageHandle,
    ) -> Result<(), RenderError> {
        if self.pipelines.is_none() {
            let p = |c: &EntryPointCode| Pipeline::compute(ctx, c, None);
            self.pipelines = Some([p(&self.code[0])?, p(&self.code[1])?, p(&self.code[2])?]);
        }
        let pipelines = self
            .pipelines
            .as_ref()
            .ok_or_else(|| RenderError::Internal("denoiser pipelines".into()))?;
        let info = ImageInfo::d2(width, height, vk::Format::R32G32B32A32_SFLOAT);
        let mut images =
            [graph.create_image("pt denoise a", info), graph.create_image("pt denoise b", info)];
        let (sum, squares, albedo, normal) = (g.sum, g.squares, g.albedo, g.normal);
        for k in 0..ITERATIONS {
            let mode = if k == 0 {
                0
            } else if k + 1 == ITERATIONS {
                2
            } else {
                1
            };
            let pipeline = &pipelines[mode];
            let push = DenoisePush {
                inv_view_proj,
                width,
                height,
                step: 1 << k,
                pad0: 0,
                sigma_luminance: 4.0,
                sigma_normal: 64.0,
                sigma_plane: 1.0,
                pad: 0.0,
            };
            let src = images[(k as usize + 1) % 2];
            let mut pass = graph
                .add_pass(&format!("pt denoise {k}"))
                .read(&sum, Access::StorageReadCompute)
                .read(&albedo, Access::StorageReadCompute)
                .read(&normal, Access::StorageReadCompute);
            pass = if mode == 0 {
                pass.read(&squares, Access::StorageReadCompute)
            } else {
                pass.read(&src, Access::StorageReadCompute)
            };
            let out = if mode == 2 { &mut *target } else { &mut images[k as usize % 2] };
            let o = *out;
            pass.write(out, Access::StorageWriteCompute).record(move |pc| {
                pipeline.bind(pc.cmd, None);
                let storage = |binding: u32, image| Bind::Storage { binding, image, mip: 0 };
                let mut binds = vec![storage(0, &sum), storage(2, &albedo), storage(3, &normal)];
                match mode {
                    0 => binds.extend([storage(1, &squares), storage(5, &o)]),
                    1 => binds.extend([storage(4, &src), storage(5, &o)]),
                    _ => binds.extend([storage(4, &src), storage(6, &o)]),
                }
                pc.push_descriptors(pipeline, &binds)?;
                pipeline.push(pc.cmd, &push);
                pipeline.dispatch_threads(pc.cmd, [width, height, 1]);
                Ok(())
            });
        }
        Ok(())
    }
}
