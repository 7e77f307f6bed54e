//! Colormaps: scalar data (intensity, temperature, error) to colors.
//!
//! The maps are piecewise linear in sRGB between published stops: viridis (matplotlib's, 9
//! stops), cool-warm (Moreland's diverging map: blue, light gray, red) and gray. Values
//! outside `[min, max]` clamp; NaN gets the map's `nan` color (transparent-looking black).

/// Which map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColormapKind {
    /// Perceptually uniform, dark purple to yellow (matplotlib's default).
    #[default]
    Viridis,
    /// Diverging: blue below the middle, red above (Moreland's cool-warm).
    CoolWarm,
    /// Black to white.
    Gray,
}

/// A map with the data range it spans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Colormap {
    /// Which map.
    pub kind: ColormapKind,
    /// Value shown with the map's first color.
    pub min: f32,
    /// Value shown with the map's last color.
    pub max: f32,
}

/// matplotlib's viridis at 0, 1/8, ..., 1 (sRGB bytes: #440154 ... #fde725).
const VIRIDIS: [[u8; 3]; 9] = [
    [0x44, 0x01, 0x54],
    [0x47, 0x2d, 0x7b],
    [0x3b, 0x52, 0x8b],
    [0x2c, 0x72, 0x8e],
    [0x21, 0x91, 0x8c],
    [0x28, 0xae, 0x80],
    [0x5e, 0xc9, 0x62],
    [0xad, 0xdc, 0x30],
    [0xfd, 0xe7, 0x25],
];

/// Moreland's cool-warm at 0, 1/2, 1 (sRGB bytes).
const COOL_WARM: [[u8; 3]; 3] = [[59, 76, 192], [221, 221, 221], [180, 4, 38]];

const GRAY: [[u8; 3]; 2] = [[0, 0, 0], [255, 255, 255]];

/// The color shown for NaN.
pub const NAN_COLOR: [u8; 4] = [0, 0, 0, 255];

impl Colormap {
    /// A map over `[min, max]`.
    pub fn new(kind: ColormapKind, min: f32, max: f32) -> Self {
        Self { kind, min, max }
    }

    /// A map over the finite range of `values` (0..1 when there is none).
    pub fn fit(kind: ColormapKind, values: &[f32]) -> Self {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (min, max) =
            finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if min <= max {
            Self { kind, min, max }
        } else {
            Self { kind, min: 0.0, max: 1.0 }
        }
    }

    /// The sRGB RGBA8 color of `v` (opaque).
    pub fn color(&self, v: f32) -> [u8; 4] {
        if v.is_nan() {
            return NAN_COLOR;
        }
        let span = self.max - self.min;
        let t = if span.is_finite() && span > 0.0 {
            ((v - self.min) / span).clamp(0.0, 1.0)
        } else if v > self.max {
            1.0
        } else if v < self.min {
            0.0
        } else {
            0.5
        };
        let stops: &[[u8; 3]] = match self.kind {
            ColormapKind::Viridis => &VIRIDIS,
            ColormapKind::CoolWarm => &COOL_WARM,
            ColormapKind::Gray => &GRAY,
        };
        let x = t * (stops.len() - 1) as f32;
        let i = (x.floor() as usize).min(stops.len() - 2);
        let f = x - i as f32;
        let mix = |k: usize| {
            let (a, b) = (f32::from(stops[i][k]), f32::from(stops[i + 1][k]));
            (a + (b - a) * f).round().clamp(0.0, 255.0) as u8
        };
        [mix(0), mix(1), mix(2), 255]
    }

    /// The colors of `values`.
    pub fn apply(&self, values: &[f32]) -> Vec<[u8; 4]> {
        values.iter().map(|&v| self.color(v)).collect()
    }
}
