//! Clustered light culling: the view is cut into tiles of [`TILE_PX`] pixels and [`SLICES`]
//! depth slices (logarithmic in a perspective view) between its near plane and the scene's far
//! side; a compute pass (shaders/raster/clusters.slang, a workgroup per tile) lists, per
//! cluster, the lights that can reach it: directional lights always, point and spot lights and emissive triangles
//! within the distance where what they bring falls below the cutoff (W/m^2 of irradiance, the
//! `light_cutoff` setting); of those, the weakest are left out while what they could bring
//! together stays at most `light_share` of what the cluster's lights bring at least to a
//! surface facing them (bins of halving strength, the weakest bins first). A cluster's list is a bit per light (no cap on how many a cluster
//! holds); the forward shading loops over its cluster's lights instead of every light.
//! Beyond [`MAX_CLUSTERED_LIGHTS`] lights the lists would be too large: every light shades
//! every fragment.

use framegraph::{Access, BufferHandle, FrameGraph};
use glam::Vec3;
use render::RenderError;
use scene::View;
use xpg::{vk, Buffer, BufferDesc, Context, MemoryUsage, Pipeline, ShaderCompiler, ShaderDesc};

/// Tile size in pixels (`CLUSTER_TILE_PX` in shaders/raster/frame.slang).
pub(crate) const TILE_PX: u32 = 64;
/// Depth slices.
pub(crate) const SLICES: u32 = 16;
/// Threads of a tile's workgroup (`SLICES * LANES` in shaders/raster/clusters.slang).
const GROUP: u32 = SLICES * 16;
/// Lights (punctual and emissive triangles together) clustered at most.
pub const MAX_CLUSTERED_LIGHTS: u32 = 1 << 16;

/// Push constants of shaders/raster/clusters.slang.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ClusterPush {
    frame: u64,
    lights: u64,
    area: u64,
    clusters: u64,
    cutoff: f32,
    share: f32,
    pad: [u32; 2],
}

/// The view's depth frame for the clusters: forward direction and origin offset, and
/// (near, far, 1 for logarithmic slices) of the clustered depth range.
pub(crate) struct DepthFrame {
    pub(crate) forward: [f32; 4],
    pub(crate) depth: [f32; 4],
    pub(crate) grid: [u32; 4],
}

impl DepthFrame {
    /// For `view` of a scene within `bounds` with `lights` lights to cluster.
    pub(crate) fn new(view: &View, bounds: (Vec3, Vec3), lights: u32) -> Self {
        let to_world = view.view.inverse();
        let forward = to_world.transform_vector3(-Vec3::Z).try_normalize().unwrap_or(-Vec3::Z);
        let inverse = (view.proj * view.view).inverse();
        let near_centre = inverse.project_point3(Vec3::ZERO);
        let far_centre = inverse.project_point3(Vec3::Z);
        // Depth from the eye (perspective) or from the near plane (orthographic).
        let origin = if view.orthographic { near_centre } else { view.position };
        let depth = |p: Vec3| (p - origin).dot(forward);
        let (lo, hi) = bounds;
        let scene_far = (0..8)
            .map(|c| {
                let p = Vec3::new(
                    if c & 1 == 0 { lo.x } else { hi.x },
                    if c & 2 == 0 { lo.y } else { hi.y },
                    if c & 4 == 0 { lo.z } else { hi.z },
                );
                depth(p)
            })
            .fold(f32::MIN, f32::max);
        let near = depth(near_centre).max(if view.orthographic { 0.0 } else { 1e-6 });
        let far = depth(far_centre).min(scene_far).max(near * 1.001 + 1e-6);
        let tiles = |n: u32| n.div_ceil(TILE_PX).max(1);
        Self {
            forward: [forward.x, forward.y, forward.z, origin.dot(forward)],
            depth: [near, far, if view.orthographic { 0.0 } else { 1.0 }, 0.0],
            grid: [tiles(view.width), tiles(view.height), SLICES, lights.div_ceil(32).max(1)],
        }
    }

    fn clusters(&self) -> u32 {
        self.grid[0] * self.grid[1] * self.grid[2]
    }
}

/// The culling pipeline and the raster's cluster buffer.
pub(crate) struct Clusters {
    pipeline: Pipeline,
    buffer: Option<Buffer>,
}

impl Clusters {
    /// Compiles shaders/raster/clusters.slang.
    pub(crate) fn new(ctx: &Context, compiler: &ShaderCompiler) -> Result<Self, RenderError> {
        let file = "raster/clusters.slang";
        let code = compiler.compile(&ShaderDesc::new(compiler.shader_dir().join(file)))?;
        let entry = code.entry("build").ok_or_else(|| RenderError::MissingEntry {
            shader: file.into(),
            entry: "build".into(),
        })?;
        Ok(Self { pipeline: Pipeline::compute(ctx, entry, None)?, buffer: None })
    }

    /// Makes room for the clusters of `frame`.
    pub(crate) fn prepare(&mut self, ctx: &Context, frame: &DepthFrame) -> Result<(), RenderError> {
        let size = u64::from(frame.clusters()) * u64::from(frame.grid[3]) * 4;
        if self.buffer.as_ref().is_none_or(|b| b.size() < size) {
            // The old buffer is freed once the frames using it are done.
            self.buffer = Some(Buffer::new(
                ctx,
                &BufferDesc {
                    size: size.next_power_of_two(),
                    usage: vk::BufferUsageFlags::STORAGE_BUFFER,
                    memory: MemoryUsage::GpuOnly,
                    name: "raster light clusters",
                },
            )?);
        }
        Ok(())
    }

    /// Adds the pass that lists each cluster's lights for `frame` (after
    /// [`Clusters::prepare`]; its depth frame in the frame constants `fb`, at
    /// `frame_address`), reading `lights` (and `area`, the emissive triangles, if any).
    /// Returns the list buffer's handle and address.
    pub(crate) fn add_pass<'g>(
        &'g self,
        graph: &mut FrameGraph<'g>,
        frame: &DepthFrame,
        (fb, frame_address): (&BufferHandle, u64),
        lights: (&BufferHandle, u64),
        area: Option<(BufferHandle, u64)>,
        (cutoff, share): (f32, f32),
    ) -> Result<(BufferHandle, u64), RenderError> {
        let n = frame.grid[0] * frame.grid[1];
        let buffer = self
            .buffer
            .as_ref()
            .ok_or_else(|| RenderError::Internal("cluster buffer missing".into()))?;
        // Rewritten every frame: the write waits for the earlier frames' reads.
        let mut h = graph.import_buffer(buffer.name(), buffer, None, None);
        let push = ClusterPush {
            frame: frame_address,
            lights: lights.1,
            area: area.map_or(0, |a| a.1),
            clusters: buffer.address(),
            cutoff,
            share,
            pad: [0; 2],
        };
        let pipeline = &self.pipeline;
        let mut pass = graph
            .add_pass("raster light clusters")
            .read(fb, Access::StorageReadCompute)
            .read(lights.0, Access::StorageReadCompute);
        if let Some((a, _)) = &area {
            pass = pass.read(a, Access::StorageReadCompute);
        }
        pass.write(&mut h, Access::StorageWriteCompute).record(move |ctx| {
            pipeline.bind(ctx.cmd, None);
            pipeline.push(ctx.cmd, &push);
            // A workgroup per tile (its column of clusters), at most 65535 groups a row.
            let (rows, columns) = (n.div_ceil(65535), n.min(65535));
            pipeline.dispatch_threads(ctx.cmd, [columns * GROUP, rows, 1]);
            Ok(())
        });
        Ok((h, buffer.address()))
    }
}
