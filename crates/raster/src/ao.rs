//! Screen-space ambient occlusion: the environment's light is occluded by nearby surfaces
//! (contact shadows under objects, darker creases), which image-based lighting alone cannot
//! know.
//!
//! Per frame, when on and the scene has an environment (nothing else is ambient):
//! 1. a depth pass of the opaque surfaces seen from the camera (single-sampled whatever the
//!    MSAA; spheres exact, through their impostors' depth; alpha masks and the back faces of
//!    single-sided materials discarded, as the forward pass does);
//! 2. `gtao` (shaders/raster/ao.slang): ground-truth ambient occlusion (Jimenez et al. 2016):
//!    the cosine-weighted visible part of the hemisphere from the horizons in two slices per
//!    pixel within a world-space radius, normals from the depth;
//! 3. `denoise`: the mean over 4 x 4 pixels (every slice rotation) near the pixel's plane.
//!
//! The forward pass multiplies the result into its image-based lighting: the diffuse part
//! through a multiple-bounce fit by the surface's albedo, the specular part through a
//! specular occlusion of the view angle and roughness. Direct light is left alone (shadow maps
//! handle it), and so are blended surfaces (their pixel's occlusion belongs to what is
//! behind them).

use framegraph::{Access, Bind, BufferHandle, FrameGraph, ImageHandle, ImageInfo};
use render::{DrawGroup, RenderError};
use xpg::{vk, BindlessHeap, Context, GraphicsDesc, Pipeline, ShaderCompiler, ShaderDesc};

use crate::{attachment, MeshDraws, RasterPush, SceneBuffers, DEPTH_FORMAT};

/// Format of the occlusion images (one float per pixel; storage on every device).
const AO_FORMAT: vk::Format = vk::Format::R32_SFLOAT;

/// Push constants of shaders/raster/ao.slang.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AoPush {
    frame: u64,
}

/// The pipelines of the ambient occlusion.
pub(crate) struct Ao {
    /// The camera's depth: untextured, textured (alpha masks), sphere impostors.
    depth: [Pipeline; 2],
    depth_spheres: Pipeline,
    gtao: Pipeline,
    denoise: Pipeline,
}

/// What the depth pass draws: the scene's opaque draw groups.
pub(crate) struct Draws<'g> {
    pub(crate) meshes: MeshDraws,
    pub(crate) groups: &'g [DrawGroup],
    /// Sphere impostor draws (draw, vertices).
    pub(crate) spheres: Vec<(u32, u32)>,
    pub(crate) heap: &'g BindlessHeap,
}

impl Ao {
    /// Compiles the depth variants of shaders/raster/shadow.slang (CAMERA=1) and of the
    /// sphere impostors (`sphere_defines`: forward.slang's), and the compute passes.
    pub(crate) fn new(
        ctx: &Context,
        compiler: &ShaderCompiler,
        sphere_defines: Vec<(String, String)>,
    ) -> Result<Self, RenderError> {
        let dir = compiler.shader_dir().to_path_buf();
        let heap = ctx.bindless()?;
        let entry = |c: &xpg::CompiledShader, file: &str, n: &str| {
            c.entry(n)
                .cloned()
                .ok_or_else(|| RenderError::MissingEntry { shader: file.into(), entry: n.into() })
        };
        let depth_pipeline = |file: &str, defines: Vec<(String, String)>, fragment: &str| {
            let code =
                compiler.compile(&ShaderDesc { defines, ..ShaderDesc::new(dir.join(file)) })?;
            let (vs, fs) = (entry(&code, file, "vs_main")?, entry(&code, file, fragment)?);
            let mut desc = GraphicsDesc::new("raster ao depth", &vs, &fs, vk::Format::UNDEFINED)
                .depth(DEPTH_FORMAT, true, vk::CompareOp::LESS);
            desc.color_formats.clear();
            Ok::<_, RenderError>(Pipeline::graphics(ctx, &desc, Some(heap))?)
        };
        let camera = |textured: bool| {
            let flag = if textured { "1" } else { "0" };
            depth_pipeline(
                "raster/shadow.slang",
                vec![("CAMERA".into(), "1".into()), ("TEXTURED".into(), flag.into())],
                "fs_camera",
            )
        };
        let file = "raster/ao.slang";
        let code = compiler.compile(&ShaderDesc::new(dir.join(file)))?;
        Ok(Self {
            depth: [camera(false)?, camera(true)?],
            depth_spheres: depth_pipeline("raster/forward.slang", sphere_defines, "fs_depth")?,
            gtao: Pipeline::compute(ctx, &entry(&code, file, "gtao")?, None)?,
            denoise: Pipeline::compute(ctx, &entry(&code, file, "denoise")?, None)?,
        })
    }

    /// The passes of one view of `width` x `height` (the frame constants `fb`, at
    /// `push.frame`, hold the radius): returns the occlusion image, for the forward pass to
    /// sample (`Access::SampledFragment`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_passes<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        (width, height): (u32, u32),
        fb: &BufferHandle,
        sb: &SceneBuffers,
        push: RasterPush,
        draws: Draws<'g>,
    ) -> ImageHandle {
        let mut depth =
            graph.create_image("raster ao depth", ImageInfo::d2(width, height, DEPTH_FORMAT));
        let d = depth;
        let (pipelines, spheres) = (&self.depth, &self.depth_spheres);
        graph
            .add_pass("raster ao depth")
            .read(fb, Access::StorageReadVertex)
            .read(fb, Access::StorageReadFragment)
            .read(&sb.draws, Access::StorageReadVertex)
            .read(&sb.materials, Access::StorageReadFragment)
            .write(&mut depth, Access::DepthAttachmentWrite)
            .record(move |ctx| {
                let extent = ctx.extent(&d, 0)?;
                let depth_att = attachment(ctx.view(&d)?, vk::AttachmentLoadOp::CLEAR);
                let device = ctx.device().clone();
                // SAFETY: once per pass; the attachment is this pass's declared image in the
                // layout of its declared attachment access.
                unsafe { ctx.begin_rendering(extent, &[], Some(&depth_att)) };
                for g in draws.groups {
                    let pipeline =
                        if g.spheres { spheres } else { &pipelines[usize::from(g.textured)] };
                    pipeline.bind(ctx.cmd, Some(draws.heap));
                    pipeline.push(ctx.cmd, &push);
                    crate::draw_group(&device, ctx.cmd, g, draws.meshes, &draws.spheres);
                }
                // SAFETY: closes the rendering scope begun above.
                unsafe { device.cmd_end_rendering(ctx.cmd) };
                Ok(())
            });
        self.occlusion(graph, (width, height), fb, &depth, push.frame)
    }

    /// The occlusion from `depth` (the camera's, of every opaque surface): GTAO, then the
    /// denoise. Returns the occlusion image.
    pub(crate) fn occlusion<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        (width, height): (u32, u32),
        fb: &BufferHandle,
        depth: &ImageHandle,
        frame: u64,
    ) -> ImageHandle {
        let info = ImageInfo::d2(width, height, AO_FORMAT);
        let mut raw = graph.create_image("raster ao raw", info);
        let mut ao = graph.create_image("raster ao", info);
        let push = AoPush { frame };
        // One compute pass of `pipeline` over the view: the depth at binding 0, `out` at 1,
        // `input` (if any) at 2.
        let pass = |graph: &mut FrameGraph<'g>,
                    name: &str,
                    pipeline: &'g Pipeline,
                    input: Option<ImageHandle>,
                    out: &mut ImageHandle| {
            let (d, o) = (*depth, *out);
            let mut builder = graph
                .add_pass(name)
                .read(fb, Access::StorageReadCompute)
                .read(depth, Access::SampledCompute);
            if let Some(i) = &input {
                builder = builder.read(i, Access::SampledCompute);
            }
            builder.write(out, Access::StorageWriteCompute).record(move |ctx| {
                pipeline.bind(ctx.cmd, None);
                let mut binds =
                    vec![sampled(0, &d), Bind::Storage { binding: 1, image: &o, mip: 0 }];
                if let Some(i) = &input {
                    binds.push(sampled(2, i));
                }
                ctx.push_descriptors(pipeline, &binds)?;
                pipeline.push(ctx.cmd, &push);
                pipeline.dispatch_threads(ctx.cmd, [width, height, 1]);
                Ok(())
            });
        };
        pass(graph, "raster ao gtao", &self.gtao, None, &mut raw);
        pass(graph, "raster ao denoise", &self.denoise, Some(raw), &mut ao);
        ao
    }

    /// A 1 x 1 stand-in for the forward pass's occlusion binding when there is none (the
    /// shader does not read it then).
    pub(crate) fn none(graph: &mut FrameGraph<'_>) -> ImageHandle {
        let mut image = graph.create_image("raster ao none", ImageInfo::d2(1, 1, AO_FORMAT));
        let h = image;
        graph.add_pass("raster ao none").write(&mut image, Access::TransferDst).record(
            move |ctx| {
                ctx.clear_color(&h, [1.0; 4])?;
                Ok(())
            },
        );
        image
    }
}

/// A sampled image binding without a sampler (`Texture2D`, read with `Load`).
pub(crate) fn sampled(binding: u32, image: &ImageHandle) -> Bind<'_> {
    Bind::Sampled { binding, image, mip: None, sampler: vk::Sampler::null() }
}

/// The occlusion radius in world units when the setting is 0 ("auto"): a tenth of how far
/// the eye is from the middle of the scene, kept between a hundredth and a tenth of the
/// scene's radius (so a vast ground plane does not make it vast, nor an eye inside the
/// scene tiny).
pub(crate) fn auto_radius(eye: glam::Vec3, bounds: (glam::Vec3, glam::Vec3)) -> f32 {
    let (lo, hi) = bounds;
    let centre = 0.5 * (lo + hi);
    let radius = 0.5 * (hi - lo).length();
    if !(radius.is_finite() && radius > 0.0) {
        return 1.0;
    }
    (0.1 * eye.distance(centre)).clamp(0.01 * radius, 0.1 * radius)
}

#[cfg(test)]
mod tests {
    use super::auto_radius;
    use glam::Vec3;

    #[test]
    fn auto_radius_follows_the_eye_within_the_scene() {
        let unit = (Vec3::splat(-1.0), Vec3::splat(1.0));
        let r = 3f32.sqrt();
        // Far away: a tenth of the scene's radius; near the centre: a hundredth.
        assert!((auto_radius(Vec3::new(0.0, 0.0, 100.0), unit) - 0.1 * r).abs() < 1e-6);
        assert!((auto_radius(Vec3::ZERO, unit) - 0.01 * r).abs() < 1e-6);
        // In between: a tenth of the distance.
        let big = (Vec3::splat(-100.0), Vec3::splat(100.0));
        assert!((auto_radius(Vec3::new(0.0, 0.0, 20.0), big) - 2.0).abs() < 1e-5);
        // Empty or broken bounds: 1.
        assert_eq!(auto_radius(Vec3::ZERO, (Vec3::ZERO, Vec3::ZERO)), 1.0);
        let nan = (Vec3::splat(f32::NAN), Vec3::ONE);
        assert_eq!(auto_radius(Vec3::ZERO, nan), 1.0);
    }
}
