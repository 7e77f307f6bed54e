//! The sun of an HDR sky: the environment's dominant direction, taken out of the map as a
//! directional light so that a rasterizer can shadow it (image-based lighting cannot).
//!
//! The sun is the brightest texel's neighbourhood: the texels within [`EnvSun::cos_radius`] of
//! it whose luminance exceeds [`EnvSun::threshold`]. Each such texel keeps the threshold's
//! luminance (its color scaled down to it) and gives the rest to the light, so the map
//! without the sun plus the light carry exactly the map's energy. A renderer that removes
//! the sun applies [`EnvSun::clamp`] to every texel (same mask, same scaling) and adds a
//! directional light of [`EnvSun::irradiance`] from [`EnvSun::direction`].

use crate::Environment;

/// The peak must be this many times the mean luminance for a sun to stand out.
const PEAK_OVER_MEAN: f32 = 50.0;
/// Texels above this many times the mean luminance (or a thousandth of the peak, whichever is
/// larger) belong to the sun.
const THRESHOLD_OVER_MEAN: f32 = 8.0;
/// The largest angular radius of the sun's neighbourhood (degrees), at least 3 texels.
const RADIUS_DEGREES: f32 = 10.0;

/// A sun found in an environment map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvSun {
    /// Unit direction towards the sun (world space; the map's equirect convention).
    pub direction: [f32; 3],
    /// Irradiance (W/m^2 per channel) on a surface facing the sun: what the map gives up.
    pub irradiance: [f32; 3],
    /// Cosine of the angular radius of the neighbourhood searched.
    pub cos_radius: f32,
    /// Luminance above which a texel of the neighbourhood is the sun's.
    pub threshold: f32,
}

/// Rec. 709 luminance.
pub fn luminance(c: [f32; 3]) -> f32 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

/// Direction of equirect coordinates (u, v) in [0, 1]^2: rows from +Y down, the centre column
/// along +Z... as `equirect_dir` in shaders/raster/ibl.slang (u = 0.25 along +X).
pub fn equirect_dir(u: f32, v: f32) -> [f32; 3] {
    let (phi, theta) = (std::f32::consts::TAU * u, std::f32::consts::PI * v);
    let s = theta.sin();
    [s * phi.sin(), theta.cos(), -s * phi.cos()]
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

impl EnvSun {
    /// What is left of texel radiance `c` in direction `d` once the sun is taken out.
    pub fn clamp(&self, c: [f32; 3], d: [f32; 3]) -> [f32; 3] {
        let l = luminance(c);
        if dot(d, self.direction) > self.cos_radius && l > self.threshold {
            c.map(|x| x * (self.threshold / l))
        } else {
            c
        }
    }
}

impl Environment {
    /// The map's sun, if one stands out (a peak at least 50 times the mean luminance); None for
    /// uniform or empty environments and maps without one.
    pub fn dominant_sun(&self) -> Option<EnvSun> {
        let Environment::Equirect { width, height, texels } = self else { return None };
        let (w, h) = (*width as usize, *height as usize);
        if w == 0 || h == 0 || texels.len() < w * h {
            return None;
        }
        let rgb = |t: [f32; 4]| [t[0], t[1], t[2]];
        let solid = |j: usize| {
            let theta = std::f32::consts::PI * (j as f32 + 0.5) / h as f32;
            (std::f32::consts::TAU / w as f32) * (std::f32::consts::PI / h as f32) * theta.sin()
        };
        let dir = |i: usize, j: usize| {
            equirect_dir((i as f32 + 0.5) / w as f32, (j as f32 + 0.5) / h as f32)
        };
        // The peak and the mean luminance (by solid angle), finite texels only.
        let (mut peak, mut at) = (0.0f32, (0, 0));
        let (mut sum, mut area) = (0.0f64, 0.0f64);
        for j in 0..h {
            let s = solid(j);
            for i in 0..w {
                let l = luminance(rgb(texels[j * w + i]));
                if !l.is_finite() || l < 0.0 {
                    continue;
                }
                sum += f64::from(l * s);
                area += f64::from(s);
                if l > peak {
                    (peak, at) = (l, (i, j));
                }
            }
        }
        let mean = if area > 0.0 { (sum / area) as f32 } else { 0.0 };
        if !(peak > 0.0 && peak >= PEAK_OVER_MEAN * mean) {
            return None;
        }
        let threshold = (THRESHOLD_OVER_MEAN * mean).max(1e-3 * peak);
        let texel_degrees = 180.0 / h as f32;
        let radius = RADIUS_DEGREES.max(3.0 * texel_degrees).to_radians();
        let centre = dir(at.0, at.1);
        let mut sun =
            EnvSun { direction: centre, irradiance: [0.0; 3], cos_radius: radius.cos(), threshold };
        // What the sun's texels give up, and its direction weighted by it: only the rows
        // within the neighbourhood's angle of the peak's can hold any.
        let mut e = [0.0f64; 3];
        let mut mean_dir = [0.0f64; 3];
        let reach = (radius / std::f32::consts::PI * h as f32).ceil() as usize + 1;
        for j in at.1.saturating_sub(reach)..(at.1 + reach + 1).min(h) {
            let s = f64::from(solid(j));
            for i in 0..w {
                let d = dir(i, j);
                let c = rgb(texels[j * w + i]);
                if !c.iter().all(|x| x.is_finite()) {
                    continue;
                }
                let kept = sun.clamp(c, d);
                let weight = f64::from(luminance(c) - luminance(kept)) * s;
                for k in 0..3 {
                    e[k] += f64::from(c[k] - kept[k]) * s;
                    mean_dir[k] += weight * f64::from(d[k]);
                }
            }
        }
        let len = mean_dir.iter().map(|x| x * x).sum::<f64>().sqrt();
        if len.is_nan() || len <= 0.0 {
            return None;
        }
        sun.direction = mean_dir.map(|x| (x / len) as f32);
        sun.irradiance = e.map(|x| x as f32);
        // The mask stays centred on the peak texel (the renderer applies the same test).
        sun.direction =
            if dot(sun.direction, centre) > sun.cos_radius { sun.direction } else { centre };
        Some(sun)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sky of radiance 0.5 with a disc of radiance `sun` and angular radius 2 degrees at
    /// elevation 30 degrees toward +x.
    fn sky(w: u32, h: u32, sun: f32) -> (Environment, [f32; 3]) {
        let e = 30f32.to_radians();
        let to_sun = [e.cos(), e.sin(), 0.0];
        let mut texels = Vec::new();
        for j in 0..h {
            for i in 0..w {
                let d = equirect_dir((i as f32 + 0.5) / w as f32, (j as f32 + 0.5) / h as f32);
                let c = if dot(d, to_sun) > 2f32.to_radians().cos() { sun } else { 0.5 };
                texels.push([c, c, c, 1.0]);
            }
        }
        (Environment::Equirect { width: w, height: h, texels }, to_sun)
    }

    #[test]
    fn dominant_sun_is_found_with_the_energy_it_takes_out() {
        let (env, to_sun) = sky(512, 256, 20_000.0);
        let sun = env.dominant_sun().expect("a sun");
        let angle = dot(sun.direction, to_sun).clamp(-1.0, 1.0).acos().to_degrees();
        assert!(angle < 0.5, "sun direction off by {angle} degrees");
        // The disc's radiance above the threshold, times its solid angle.
        let omega = std::f32::consts::TAU * (1.0 - 2f32.to_radians().cos());
        let want = (20_000.0 - sun.threshold) * omega;
        let got = sun.irradiance[1];
        assert!((got - want).abs() < 0.05 * want, "irradiance {got}, expected about {want}");
        // Energy: the clamped map's mean plus the sun's irradiance over 4 pi is the map's mean.
        let Environment::Equirect { width, height, texels } = &env else { unreachable!() };
        let clamped: Vec<[f32; 4]> = (0..texels.len())
            .map(|k| {
                let (i, j) = (k as u32 % width, k as u32 / width);
                let d = equirect_dir(
                    (i as f32 + 0.5) / *width as f32,
                    (j as f32 + 0.5) / *height as f32,
                );
                let c = sun.clamp([texels[k][0], texels[k][1], texels[k][2]], d);
                [c[0], c[1], c[2], 1.0]
            })
            .collect();
        let rest = Environment::Equirect { width: *width, height: *height, texels: clamped };
        let total = env.mean_radiance()[1];
        let split = rest.mean_radiance()[1] + got / (4.0 * std::f32::consts::PI);
        assert!((split - total).abs() < 1e-3 * total, "{split} against {total}");
    }

    #[test]
    fn dominant_sun_absent_from_even_skies() {
        assert!(Environment::Uniform([1.0; 3]).dominant_sun().is_none());
        assert!(Environment::None.dominant_sun().is_none());
        let (dim, _) = sky(128, 64, 2.0);
        assert!(dim.dominant_sun().is_none(), "a disc 4 times the sky is no sun");
        let broken = Environment::Equirect { width: 4, height: 2, texels: vec![[1.0; 4]; 3] };
        assert!(broken.dominant_sun().is_none());
    }
}
