//! Simple shapes built in code (for scenes made by a program, tests and examples): a UV
//! sphere, a cube and a plane, as [`Primitive`]s with normals and texture coordinates; and
//! shapes for data, as meshes that both renderers draw (and the path tracer traces):
//! [`spheres`], [`tubes`], [`arrows`], [`voxels`] and [`voxel_grid`], each one primitive
//! with its instances' colours as vertex colours.

use std::collections::HashSet;

use glam::Vec3;

use crate::model::Primitive;

/// A unit sphere around the origin with smooth normals: `segments` quads around, `rings`
/// from pole to pole (at least 3 and 2).
pub fn uv_sphere(material: usize, segments: u32, rings: u32) -> Primitive {
    let (nu, nv) = (segments.max(3), rings.max(2));
    let mut p = Primitive { material, ..Default::default() };
    for j in 0..=nv {
        let theta = std::f32::consts::PI * j as f32 / nv as f32;
        for i in 0..=nu {
            let phi = 2.0 * std::f32::consts::PI * i as f32 / nu as f32;
            let n = [theta.sin() * phi.cos(), theta.cos(), theta.sin() * phi.sin()];
            p.positions.push(n);
            p.normals.push(n);
            p.uvs.push([i as f32 / nu as f32, j as f32 / nv as f32]);
        }
    }
    for j in 0..nv {
        for i in 0..nu {
            let (a, b) = (j * (nu + 1) + i, (j + 1) * (nu + 1) + i);
            p.indices.extend([a, a + 1, b, a + 1, b + 1, b]);
        }
    }
    p
}

/// A cube from -1 to 1 on every axis, flat shaded (four vertices per face).
pub fn cube(material: usize) -> Primitive {
    let mut p = Primitive { material, ..Default::default() };
    // Each face: its normal and two axes spanning it (u x v = normal: counter-clockwise
    // seen from outside).
    let faces: [([f32; 3], [f32; 3], [f32; 3]); 6] = [
        ([1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]),
        ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
        ([0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]),
        ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
        ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
        ([0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
    ];
    for (n, u, v) in faces {
        let base = p.positions.len() as u32;
        for (su, sv) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
            p.positions.push(std::array::from_fn(|k| n[k] + su * u[k] + sv * v[k]));
            p.normals.push(n);
            p.uvs.push([(su + 1.0) * 0.5, (1.0 - sv) * 0.5]);
        }
        p.indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    }
    p
}

/// A square in the XZ plane from -`half` to `half`, facing +Y.
pub fn plane(material: usize, half: f32) -> Primitive {
    let mut p = Primitive { material, ..Default::default() };
    for (x, z) in [(-half, half), (half, half), (half, -half), (-half, -half)] {
        p.positions.push([x, 0.0, z]);
        p.normals.push([0.0, 1.0, 0.0]);
        p.uvs.push([(x / half + 1.0) * 0.5, (z / half + 1.0) * 0.5]);
    }
    p.indices.extend([0, 1, 2, 0, 2, 3]);
    p
}

/// Segments (pairs of points, with their colours) of coordinate-axis triads at `poses`
/// (object to world): x red, y green, z blue, each `length` long.
pub fn axes_segments(poses: &[glam::Mat4], length: f32) -> (Vec<[f32; 3]>, Vec<[u8; 4]>) {
    let mut p = Vec::with_capacity(poses.len() * 6);
    let mut c = Vec::with_capacity(poses.len() * 6);
    for m in poses {
        let o = m.transform_point3(Vec3::ZERO);
        for (axis, color) in [
            (Vec3::X, [230, 50, 50, 255]),
            (Vec3::Y, [60, 200, 60, 255]),
            (Vec3::Z, [60, 110, 240, 255]),
        ] {
            p.push(o.to_array());
            p.push(m.transform_point3(axis * length).to_array());
            c.extend([color, color]);
        }
    }
    (p, c)
}

/// Segments of camera frusta at `poses` (camera to world; the camera looks down -Z with +Y
/// up, as glTF's): the pyramid from the eye to the rectangle at `depth` of a vertical field
/// of view `yfov` (radians) and `aspect` (width / height), and a triangle over its top edge
/// that shows which way is up.
/// (Pose `i`'s segments are `i * FRUSTUM_SEGMENTS ..`.)
pub fn frustum_segments(poses: &[glam::Mat4], yfov: f32, aspect: f32, depth: f32) -> Vec<[f32; 3]> {
    let h = depth * (0.5 * yfov).tan();
    let w = h * aspect;
    let mut out = Vec::with_capacity(poses.len() * 2 * FRUSTUM_SEGMENTS as usize);
    for m in poses {
        let at = |x: f32, y: f32, z: f32| m.transform_point3(Vec3::new(x, y, z)).to_array();
        let eye = at(0.0, 0.0, 0.0);
        let c = [at(-w, -h, -depth), at(w, -h, -depth), at(w, h, -depth), at(-w, h, -depth)];
        for k in 0..4 {
            out.extend([eye, c[k], c[k], c[(k + 1) % 4]]);
        }
        let top = at(0.0, 1.5 * h, -depth);
        out.extend([c[3], top, top, c[2]]);
    }
    out
}

/// Segments per pose of [`frustum_segments`]: four edges from the eye, four of the far
/// rectangle, two of the up triangle.
pub const FRUSTUM_SEGMENTS: u32 = 10;

/// Why shape data cannot be made into a mesh.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

/// The colour of instance `i` of `n` from `colors` (linear RGBA): none (white), one for all,
/// or one each.
fn color_of(colors: &[[f32; 4]], i: usize) -> [f32; 4] {
    match colors.len() {
        0 => [1.0; 4],
        1 => colors[0],
        _ => colors.get(i).copied().unwrap_or([1.0; 4]),
    }
}

/// Checks that `colors` has 0, 1 or `n` entries and `values` are finite.
fn check(what: &str, n: usize, colors: &[[f32; 4]]) -> Result<(), ShapeError> {
    if colors.len() > 1 && colors.len() != n {
        return Err(ShapeError(format!(
            "{what}: {} colours for {n} instances (expected 0, 1 or {n})",
            colors.len()
        )));
    }
    if colors.iter().flatten().any(|c| !c.is_finite()) {
        return Err(ShapeError(format!("{what}: a colour is not finite")));
    }
    Ok(())
}

/// A unit icosphere: the icosahedron with each triangle split `subdivisions` times (0: 12
/// vertices, 1: 42, 2: 162, 3: 642).
pub fn icosphere(subdivisions: u32) -> (Vec<Vec3>, Vec<u32>) {
    let t = (1.0 + 5f32.sqrt()) / 2.0;
    let mut v: Vec<Vec3> = [
        (-1.0, t, 0.0),
        (1.0, t, 0.0),
        (-1.0, -t, 0.0),
        (1.0, -t, 0.0),
        (0.0, -1.0, t),
        (0.0, 1.0, t),
        (0.0, -1.0, -t),
        (0.0, 1.0, -t),
        (t, 0.0, -1.0),
        (t, 0.0, 1.0),
        (-t, 0.0, -1.0),
        (-t, 0.0, 1.0),
    ]
    .iter()
    .map(|&(x, y, z)| Vec3::new(x, y, z).normalize())
    .collect();
    let mut f: Vec<[u32; 3]> = vec![
        [0, 11, 5],
        [0, 5, 1],
        [0, 1, 7],
        [0, 7, 10],
        [0, 10, 11],
        [1, 5, 9],
        [5, 11, 4],
        [11, 10, 2],
        [10, 7, 6],
        [7, 1, 8],
        [3, 9, 4],
        [3, 4, 2],
        [3, 2, 6],
        [3, 6, 8],
        [3, 8, 9],
        [4, 9, 5],
        [2, 4, 11],
        [6, 2, 10],
        [8, 6, 7],
        [9, 8, 1],
    ];
    for _ in 0..subdivisions.min(6) {
        let mut mid = std::collections::HashMap::new();
        let mut midpoint = |a: u32, b: u32, v: &mut Vec<Vec3>| {
            *mid.entry((a.min(b), a.max(b))).or_insert_with(|| {
                v.push(((v[a as usize] + v[b as usize]) * 0.5).normalize());
                v.len() as u32 - 1
            })
        };
        let mut next = Vec::with_capacity(f.len() * 4);
        for [a, b, c] in f {
            let ab = midpoint(a, b, &mut v);
            let bc = midpoint(b, c, &mut v);
            let ca = midpoint(c, a, &mut v);
            next.extend([[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]);
        }
        f = next;
    }
    (v, f.into_iter().flatten().collect())
}

/// Spheres at `centers` of `radii` (one for all or one each), coloured by `colors` (none,
/// one or one each, linear RGBA), as icospheres of `subdivisions` (see [`icosphere`]).
pub fn spheres(
    centers: &[[f32; 3]],
    radii: &[f32],
    colors: &[[f32; 4]],
    subdivisions: u32,
) -> Result<Primitive, ShapeError> {
    let n = centers.len();
    check("spheres", n, colors)?;
    if radii.is_empty() || (radii.len() > 1 && radii.len() != n) {
        return Err(ShapeError(format!(
            "spheres: {} radii for {n} spheres (expected 1 or {n})",
            radii.len()
        )));
    }
    if radii.iter().any(|r| !(r.is_finite() && *r >= 0.0)) {
        return Err(ShapeError("spheres: a radius is negative or not finite".into()));
    }
    if !crate::all_finite(centers) {
        return Err(ShapeError("spheres: a centre is not finite".into()));
    }
    let (unit, tris) = icosphere(subdivisions);
    let mut p = Primitive::default();
    p.positions.reserve(n * unit.len());
    p.normals.reserve(n * unit.len());
    p.indices.reserve(n * tris.len());
    for (i, c) in centers.iter().enumerate() {
        let r = if radii.len() == 1 { radii[0] } else { radii[i] };
        let base = p.positions.len() as u32;
        let c = Vec3::from(*c);
        for u in &unit {
            p.positions.push((c + *u * r).to_array());
            p.normals.push(u.to_array());
        }
        if !colors.is_empty() {
            p.colors.extend(std::iter::repeat_n(color_of(colors, i), unit.len()));
        }
        p.indices.extend(tris.iter().map(|t| base + t));
    }
    if n > 0 {
        p.sphere_vertices = unit.len() as u32;
    }
    Ok(p)
}

/// Two unit vectors perpendicular to `d` (unit) and to each other.
fn basis(d: Vec3) -> (Vec3, Vec3) {
    let a = if d.x.abs() < 0.9 { Vec3::X } else { Vec3::Y };
    let u = d.cross(a).normalize();
    (u, d.cross(u))
}

/// Appends a cone frustum from `a` (radius `ra`) to `b` (radius `rb`) with `sides` sides,
/// smooth around, coloured `ca` at `a` and `cb` at `b`; with `cap_a`/`cap_b`, flat disks
/// close its ends.
#[allow(clippy::too_many_arguments)]
fn frustum_part(
    p: &mut Primitive,
    a: Vec3,
    b: Vec3,
    ra: f32,
    rb: f32,
    ca: [f32; 4],
    cb: [f32; 4],
    sides: u32,
    caps: (bool, bool),
    colored: bool,
) {
    let axis = b - a;
    let len = axis.length();
    if len.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return;
    }
    let d = axis / len;
    let (u, v) = basis(d);
    // The side's normal leans along the axis by the slope of the cone.
    let slope = (ra - rb) / len;
    let base = p.positions.len() as u32;
    for k in 0..sides {
        let phi = std::f32::consts::TAU * k as f32 / sides as f32;
        let radial = u * phi.cos() + v * phi.sin();
        let n = (radial + d * slope).normalize();
        for (o, r, c) in [(a, ra, ca), (b, rb, cb)] {
            p.positions.push((o + radial * r).to_array());
            p.normals.push(n.to_array());
            if colored {
                p.colors.push(c);
            }
        }
    }
    for k in 0..sides {
        let (i0, i1) = (base + 2 * k, base + 2 * ((k + 1) % sides));
        // Counter-clockwise seen from outside.
        p.indices.extend([i0, i1, i0 + 1, i1, i1 + 1, i0 + 1]);
    }
    for (on, o, r, c, n) in [(caps.0, a, ra, ca, -d), (caps.1, b, rb, cb, d)] {
        if !on || r <= 0.0 {
            continue;
        }
        let centre = p.positions.len() as u32;
        p.positions.push(o.to_array());
        p.normals.push(n.to_array());
        if colored {
            p.colors.push(c);
        }
        for k in 0..sides {
            let phi = std::f32::consts::TAU * k as f32 / sides as f32;
            p.positions.push((o + (u * phi.cos() + v * phi.sin()) * r).to_array());
            p.normals.push(n.to_array());
            if colored {
                p.colors.push(c);
            }
        }
        for k in 0..sides {
            let (i0, i1) = (centre + 1 + k, centre + 1 + (k + 1) % sides);
            if n.dot(d) > 0.0 {
                p.indices.extend([centre, i0, i1]);
            } else {
                p.indices.extend([centre, i1, i0]);
            }
        }
    }
}

/// Tubes (cylinders of world-space `radius` with `sides` sides) along line segments:
/// `positions` in pairs, or a strip when `strip`; `colors` none, one, or one per vertex
/// (interpolated along each segment). `caps` closes both ends of every segment.
pub fn tubes(
    positions: &[[f32; 3]],
    strip: bool,
    radius: f32,
    colors: &[[f32; 4]],
    sides: u32,
    caps: bool,
) -> Result<Primitive, ShapeError> {
    check("tubes", positions.len(), colors)?;
    if !(radius.is_finite() && radius > 0.0) {
        return Err(ShapeError(format!("tubes: radius {radius} (expected > 0)")));
    }
    if !crate::all_finite(positions) {
        return Err(ShapeError("tubes: a position is not finite".into()));
    }
    let sides = sides.clamp(3, 64);
    let segments: Vec<(usize, usize)> = if strip {
        (1..positions.len()).map(|i| (i - 1, i)).collect()
    } else {
        (0..positions.len() / 2).map(|i| (2 * i, 2 * i + 1)).collect()
    };
    let mut p = Primitive::default();
    for (i, j) in segments {
        let (a, b) = (Vec3::from(positions[i]), Vec3::from(positions[j]));
        let (ca, cb) = (color_of(colors, i), color_of(colors, j));
        let colored = !colors.is_empty();
        frustum_part(&mut p, a, b, radius, radius, ca, cb, sides, (caps, caps), colored);
    }
    Ok(p)
}

/// Arrows from `origins` along `vectors` times `scale`: a shaft of `radius` (None: 4 % of the
/// longest arrow) and a cone head twice as wide, a quarter of the arrow long (at most six
/// shaft radii), coloured by `colors` (none, one or one each). Arrows of length zero are
/// left out.
pub fn arrows(
    origins: &[[f32; 3]],
    vectors: &[[f32; 3]],
    scale: f32,
    radius: Option<f32>,
    colors: &[[f32; 4]],
) -> Result<Primitive, ShapeError> {
    let n = origins.len();
    if vectors.len() != n {
        return Err(ShapeError(format!("arrows: {n} origins and {} vectors", vectors.len())));
    }
    check("arrows", n, colors)?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(ShapeError(format!("arrows: scale {scale} (expected > 0)")));
    }
    if !crate::all_finite(origins) || !crate::all_finite(vectors) {
        return Err(ShapeError("arrows: an origin or a vector is not finite".into()));
    }
    let longest = vectors.iter().map(|v| Vec3::from(*v).length() * scale).fold(0.0, f32::max);
    let r = match radius {
        Some(r) if r.is_finite() && r > 0.0 => r,
        Some(r) => return Err(ShapeError(format!("arrows: radius {r} (expected > 0)"))),
        None => 0.04 * longest,
    };
    let sides = 12;
    let mut p = Primitive::default();
    let colored = !colors.is_empty();
    for i in 0..n {
        let o = Vec3::from(origins[i]);
        let v = Vec3::from(vectors[i]) * scale;
        let len = v.length();
        if len.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || r <= 0.0 {
            continue;
        }
        let head = (0.25 * len).min(6.0 * r);
        let neck = o + v * ((len - head) / len);
        let c = color_of(colors, i);
        frustum_part(&mut p, o, neck, r, r, c, c, sides, (true, false), colored);
        frustum_part(&mut p, neck, o + v, 2.0 * r, 0.0, c, c, sides, (true, false), colored);
    }
    Ok(p)
}

/// The six faces of a unit cell: normal axis and sign, as (axis, +1/-1).
const FACES: [(usize, i32); 6] = [(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)];

/// Appends face (axis, sign) of the cell at integer `cell`, of edge `size` from `origin`.
fn cell_face(p: &mut Primitive, origin: Vec3, size: f32, cell: [i32; 3], face: (usize, i32)) {
    let (axis, sign) = face;
    let (ua, va) = ((axis + 1) % 3, (axis + 2) % 3);
    let mut n = [0.0f32; 3];
    n[axis] = sign as f32;
    let corner = |du: f32, dv: f32| {
        let mut q = [cell[0] as f32, cell[1] as f32, cell[2] as f32];
        if sign > 0 {
            q[axis] += 1.0;
        }
        q[ua] += du;
        q[va] += dv;
        (origin + Vec3::from(q) * size).to_array()
    };
    let base = p.positions.len() as u32;
    for (du, dv) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)] {
        p.positions.push(corner(du, dv));
        p.normals.push(n);
    }
    // (u, v, axis) is right-handed: counter-clockwise from +axis.
    if sign > 0 {
        p.indices.extend([base, base + 1, base + 2, base, base + 2, base + 3]);
    } else {
        p.indices.extend([base, base + 2, base + 1, base, base + 3, base + 2]);
    }
}

/// Occupied cells (integer coordinates, each a cube of edge `size` whose lowest corner is
/// `origin + cell * size`), coloured by `colors` (none, one or one each). Only the faces
/// between an occupied and an empty cell are made.
pub fn voxels(
    cells: &[[i32; 3]],
    origin: [f32; 3],
    size: f32,
    colors: &[[f32; 4]],
) -> Result<Primitive, ShapeError> {
    check("voxels", cells.len(), colors)?;
    if !(size.is_finite() && size > 0.0 && origin.iter().all(|v| v.is_finite())) {
        return Err(ShapeError(format!("voxels: size {size}, origin {origin:?}")));
    }
    let occupied: HashSet<[i32; 3]> = cells.iter().copied().collect();
    let mut p = Primitive::default();
    let origin = Vec3::from(origin);
    for (i, &c) in cells.iter().enumerate() {
        for face in FACES {
            let mut nb = c;
            nb[face.0] = nb[face.0].saturating_add(face.1);
            if !occupied.contains(&nb) {
                cell_face(&mut p, origin, size, c, face);
                if !colors.is_empty() {
                    p.colors.extend([color_of(colors, i); 4]);
                }
            }
        }
    }
    Ok(p)
}

/// A dense grid of `dims` (x fastest, then y, then z) of `values`: a cell is occupied where
/// its value is finite and above `threshold`, coloured by `colormap` over the occupied
/// values' range. Only faces between occupied and empty cells are made.
pub fn voxel_grid(
    dims: [usize; 3],
    values: &[f32],
    threshold: f32,
    origin: [f32; 3],
    size: f32,
    colormap: crate::ColormapKind,
) -> Result<Primitive, ShapeError> {
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if count != Some(values.len()) {
        return Err(ShapeError(format!("voxel grid: {dims:?} cells but {} values", values.len())));
    }
    if !(size.is_finite() && size > 0.0 && origin.iter().all(|v| v.is_finite())) {
        return Err(ShapeError(format!("voxel grid: size {size}, origin {origin:?}")));
    }
    let [nx, ny, nz] = dims;
    let at = |x: usize, y: usize, z: usize| x + nx * (y + ny * z);
    let filled = |v: f32| v.is_finite() && v > threshold;
    let occupied_values: Vec<f32> = values.iter().copied().filter(|&v| filled(v)).collect();
    let map = crate::Colormap::fit(colormap, &occupied_values);
    let origin = Vec3::from(origin);
    let mut p = Primitive::default();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let v = values[at(x, y, z)];
                if !filled(v) {
                    continue;
                }
                let color = crate::srgba8_to_linear(map.color(v));
                let cell = [x as i32, y as i32, z as i32];
                for face in FACES {
                    let mut q = [x as i64, y as i64, z as i64];
                    q[face.0] += i64::from(face.1);
                    let inside = q.iter().zip(dims).all(|(&c, d)| c >= 0 && (c as usize) < d);
                    let open =
                        !inside || !filled(values[at(q[0] as usize, q[1] as usize, q[2] as usize)]);
                    if open {
                        cell_face(&mut p, origin, size, cell, face);
                        p.colors.extend([color; 4]);
                    }
                }
            }
        }
    }
    Ok(p)
}

/// Linear colours of `values` through `kind` over their finite range (colour by magnitude).
pub fn colormapped(values: &[f32], kind: crate::ColormapKind) -> Vec<[f32; 4]> {
    let map = crate::Colormap::fit(kind, values);
    values.iter().map(|&v| crate::srgba8_to_linear(map.color(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every triangle winds counter-clockwise seen from outside: its geometric normal points
    /// the way of its vertices' normals.
    fn outward(p: &Primitive) {
        assert_eq!(p.positions.len(), p.normals.len());
        assert_eq!(p.positions.len(), p.uvs.len());
        for t in p.indices.chunks_exact(3) {
            let [a, b, c] = [t[0], t[1], t[2]].map(|i| Vec3::from(p.positions[i as usize]));
            let g = (b - a).cross(c - a);
            if g.length() < 1e-5 {
                continue; // degenerate at a pole
            }
            let n: Vec3 =
                [t[0], t[1], t[2]].iter().map(|&i| Vec3::from(p.normals[i as usize])).sum();
            assert!(g.dot(n) > 0.0, "triangle {t:?} faces inwards");
        }
    }

    #[test]
    fn shapes_face_outwards_and_have_their_size() {
        let s = uv_sphere(0, 16, 8);
        outward(&s);
        assert!(s.positions.iter().all(|p| (Vec3::from(*p).length() - 1.0).abs() < 1e-5));
        let c = cube(2);
        outward(&c);
        assert_eq!((c.positions.len(), c.indices.len(), c.material), (24, 36, 2));
        assert!(c.positions.iter().flatten().all(|v| v.abs() == 1.0));
        let q = plane(0, 3.0);
        outward(&q);
        assert!(q.positions.iter().all(|p| p[1] == 0.0 && p[0].abs() == 3.0));
    }

    /// The largest distance of a primitive's vertices from `c`, and the smallest.
    fn extent(p: &Primitive, c: Vec3) -> (f32, f32) {
        p.positions
            .iter()
            .map(|q| (Vec3::from(*q) - c).length())
            .fold((0.0, f32::MAX), |(hi, lo), d| (hi.max(d), lo.min(d)))
    }

    #[test]
    fn spheres_have_their_centres_radii_and_colours() {
        let p = spheres(&[[0.0; 3], [5.0, 0.0, 0.0]], &[1.0, 2.0], &[[1.0, 0.0, 0.0, 1.0]], 1)
            .expect("spheres");
        outward(&Primitive { uvs: vec![[0.0; 2]; p.positions.len()], ..p.clone() });
        assert_eq!(p.positions.len(), 2 * 42);
        assert_eq!(p.colors.len(), p.positions.len());
        let first = Primitive { positions: p.positions[..42].to_vec(), ..Default::default() };
        let (hi, lo) = extent(&first, Vec3::ZERO);
        assert!((hi - 1.0).abs() < 1e-5 && (lo - 1.0).abs() < 1e-5);
        let second = Primitive { positions: p.positions[42..].to_vec(), ..Default::default() };
        let (hi, lo) = extent(&second, Vec3::new(5.0, 0.0, 0.0));
        assert!((hi - 2.0).abs() < 1e-5 && (lo - 2.0).abs() < 1e-5);
        assert!(spheres(&[[0.0; 3]; 3], &[1.0, 2.0], &[], 0).is_err(), "2 radii for 3 spheres");
        assert!(spheres(&[[f32::NAN; 3]], &[1.0], &[], 0).is_err());
        assert!(spheres(&[[0.0; 3]], &[-1.0], &[], 0).is_err());
        assert!(spheres(&[[0.0; 3]; 2], &[1.0], &[[1.0; 4]; 3], 0).is_err(), "3 colours for 2");
    }

    #[test]
    fn arrows_point_along_their_vectors_and_skip_zero_ones() {
        let p =
            arrows(&[[1.0, 0.0, 0.0], [0.0; 3]], &[[0.0, 2.0, 0.0], [0.0; 3]], 1.5, Some(0.1), &[])
                .expect("arrows");
        outward(&Primitive { uvs: vec![[0.0; 2]; p.positions.len()], ..p.clone() });
        let ys: Vec<f32> = p.positions.iter().map(|q| q[1]).collect();
        let (lo, hi) = ys.iter().fold((f32::MAX, f32::MIN), |(a, b), &y| (a.min(y), b.max(y)));
        assert!((lo - 0.0).abs() < 1e-6 && (hi - 3.0).abs() < 1e-5, "from 0 to 3 in y: {lo} {hi}");
        // Shaft radius 0.1, head radius 0.2, around x = 1.
        let r = p
            .positions
            .iter()
            .map(|q| ((q[0] - 1.0).powi(2) + q[2].powi(2)).sqrt())
            .fold(0.0, f32::max);
        assert!((r - 0.2).abs() < 1e-5, "widest {r}");
        assert!(arrows(&[[0.0; 3]], &[], 1.0, None, &[]).is_err());
    }

    #[test]
    fn tubes_cover_their_segments_with_caps() {
        let p = tubes(&[[0.0; 3], [0.0, 0.0, 2.0], [1.0, 0.0, 2.0]], true, 0.5, &[], 8, true)
            .expect("tubes");
        outward(&Primitive { uvs: vec![[0.0; 2]; p.positions.len()], ..p.clone() });
        // Two segments: 16 side vertices and two caps of 9 each.
        assert_eq!(p.positions.len(), 2 * (16 + 18));
        assert!(tubes(&[[0.0; 3], [1.0; 3]], false, 0.0, &[], 8, true).is_err());
    }

    #[test]
    fn voxels_make_only_the_faces_between_full_and_empty() {
        let p = voxels(&[[0, 0, 0], [1, 0, 0]], [0.0; 3], 0.5, &[]).expect("voxels");
        outward(&Primitive { uvs: vec![[0.0; 2]; p.positions.len()], ..p.clone() });
        assert_eq!(p.indices.len() / 6, 10, "two touching cells: 10 faces");
        assert!(p.positions.iter().all(|q| q[0] >= 0.0 && q[0] <= 1.0 && q[1] <= 0.5));
        // A full 3x3x3 grid: only its 54 outer faces, with colours from the map.
        let v: Vec<f32> = (0..27).map(|i| i as f32).collect();
        let g = voxel_grid([3, 3, 3], &v, -1.0, [0.0; 3], 1.0, crate::ColormapKind::Viridis)
            .expect("grid");
        outward(&Primitive { uvs: vec![[0.0; 2]; g.positions.len()], ..g.clone() });
        assert_eq!(g.indices.len() / 6, 54);
        assert_eq!(g.colors.len(), g.positions.len());
        // Empty where not above the threshold or NaN.
        let mut w = v.clone();
        w[13] = f32::NAN;
        let hollow = voxel_grid([3, 3, 3], &w, -1.0, [0.0; 3], 1.0, crate::ColormapKind::Gray)
            .expect("hollow");
        assert_eq!(hollow.indices.len() / 6, 60, "the hole's 6 inner faces too");
        assert!(voxel_grid([3, 3, 2], &v, 0.0, [0.0; 3], 1.0, crate::ColormapKind::Gray).is_err());
    }
}
