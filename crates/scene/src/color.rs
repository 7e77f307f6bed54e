//! Colour helpers: the sRGB transfer function and the packed sRGB RGBA8 vertex colour.

/// The sRGB transfer function, encoded (0..1) to linear.
pub fn srgb_to_linear(e: f32) -> f32 {
    if e <= 0.04045 {
        e / 12.92
    } else {
        ((e + 0.055) / 1.055).powf(2.4)
    }
}

/// An sRGB RGBA8 color (alpha linear) as linear RGBA floats.
pub fn srgba8_to_linear(c: [u8; 4]) -> [f32; 4] {
    let decode = |b: u8| srgb_to_linear(f32::from(b) / 255.0);
    [decode(c[0]), decode(c[1]), decode(c[2]), f32::from(c[3]) / 255.0]
}

/// Linear RGBA (0..1, clamped) as the packed sRGB RGBA8 of a vertex colour (`GpuVertex::color` in the `render` crate).
pub fn pack_srgba8(c: [f32; 4]) -> u32 {
    let encode = |v: f32| {
        let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
        let e = if v <= 0.003_130_8 { v * 12.92 } else { 1.055 * v.powf(1.0 / 2.4) - 0.055 };
        (e * 255.0).round() as u8
    };
    let a = if c[3].is_finite() { (c[3].clamp(0.0, 1.0) * 255.0).round() as u8 } else { 0 };
    u32::from_le_bytes([encode(c[0]), encode(c[1]), encode(c[2]), a])
}
