//! The environment's sun as a shadowed directional light (setting `environment_sun`, off by
//! default): the sun of an HDR sky ([`scene::EnvSun`]: its brightest neighbourhood) is taken
//! out of the map the image-based lighting is made from and added after the scene's lights
//! as a directional light of the same energy, which casts cascaded shadows like any other.
//! The background still shows the whole sky. Found once per uploaded scene (the map does not
//! change in place).

use framegraph::{BufferHandle, FrameGraph};
use render::{GpuLight, GpuScene, RenderError};
use scene::EnvSun;
use xpg::Context;

use crate::list::DeviceList;

pub(crate) struct SunLight {
    /// The id of the scene last seen and its environment's sun.
    found: Option<(u64, Option<EnvSun>)>,
    /// The scene's lights with the sun after them, in the raster's buffer.
    lights: DeviceList<GpuLight>,
    /// Per entry of `lights`: it casts shadows.
    casts: Vec<bool>,
}

impl Default for SunLight {
    fn default() -> Self {
        Self {
            found: None,
            lights: DeviceList::new("raster lights with the sun"),
            casts: Vec::new(),
        }
    }
}

/// The directional light of `sun`: travelling away from it, its irradiance.
pub(crate) fn light(sun: &EnvSun) -> GpuLight {
    let [x, y, z] = sun.direction;
    let e = sun.irradiance;
    GpuLight {
        position_kind: [0.0; 4],
        direction_cos_outer: [-x, -y, -z, 0.0],
        radiance_cos_inner: [e[0], e[1], e[2], 0.0],
        range: [0.0; 4],
    }
}

impl SunLight {
    /// Finds the sun of a newly uploaded scene's environment.
    pub(crate) fn scene_changed(&mut self, scene: &scene::Scene, gpu: &GpuScene) {
        if self.found.is_none_or(|(id, _)| id != gpu.id) {
            self.found = Some((gpu.id, scene.environment.dominant_sun()));
        }
    }

    /// The sun of `gpu`'s environment, if it has one (None before it was looked for).
    pub(crate) fn sun(&self, gpu: &GpuScene) -> Option<EnvSun> {
        self.found.filter(|(id, _)| *id == gpu.id).and_then(|(_, sun)| sun)
    }

    /// The scene's lights and shadow switches with `sun`'s light after them.
    pub(crate) fn prepare(&mut self, gpu: &GpuScene, sun: &EnvSun) -> (&[GpuLight], &[bool]) {
        let mut lights = gpu.light_list.clone();
        lights.push(light(sun));
        self.lights.set(lights);
        self.casts.clone_from(&gpu.light_shadows);
        self.casts.resize(gpu.light_list.len(), false);
        self.casts.push(true);
        (self.lights.data(), &self.casts)
    }

    /// The buffer of the lights last prepared, written first when they changed.
    pub(crate) fn import(
        &mut self,
        ctx: &Context,
        graph: &mut FrameGraph<'_>,
    ) -> Result<(BufferHandle, u64), RenderError> {
        self.lights
            .import(ctx, graph)?
            .ok_or_else(|| RenderError::Internal("the sun's lights used before prepare()".into()))
    }
}
