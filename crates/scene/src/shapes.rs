//! Simple shapes built in code (for scenes made by a program, tests and examples): a UV
//! sphere, a cube and a plane, as [`Primitive`]s with normals and texture coordinates.

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
        let o = m.transform_point3(glam::Vec3::ZERO);
        for (axis, color) in [
            (glam::Vec3::X, [230, 50, 50, 255]),
            (glam::Vec3::Y, [60, 200, 60, 255]),
            (glam::Vec3::Z, [60, 110, 240, 255]),
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
pub fn frustum_segments(poses: &[glam::Mat4], yfov: f32, aspect: f32, depth: f32) -> Vec<[f32; 3]> {
    let h = depth * (0.5 * yfov).tan();
    let w = h * aspect;
    let mut out = Vec::with_capacity(poses.len() * 22);
    for m in poses {
        let at = |x: f32, y: f32, z: f32| m.transform_point3(glam::Vec3::new(x, y, z)).to_array();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every triangle winds counter-clockwise seen from outside: its geometric normal points
    /// the way of its vertices' normals.
    fn outward(p: &Primitive) {
        assert_eq!(p.positions.len(), p.normals.len());
        assert_eq!(p.positions.len(), p.uvs.len());
        for t in p.indices.chunks_exact(3) {
            let [a, b, c] = [t[0], t[1], t[2]].map(|i| glam::Vec3::from(p.positions[i as usize]));
            let g = (b - a).cross(c - a);
            if g.length() < 1e-5 {
                continue; // degenerate at a pole
            }
            let n: glam::Vec3 =
                [t[0], t[1], t[2]].iter().map(|&i| glam::Vec3::from(p.normals[i as usize])).sum();
            assert!(g.dot(n) > 0.0, "triangle {t:?} faces inwards");
        }
    }

    #[test]
    fn shapes_face_outwards_and_have_their_size() {
        let s = uv_sphere(0, 16, 8);
        outward(&s);
        assert!(s.positions.iter().all(|p| (glam::Vec3::from(*p).length() - 1.0).abs() < 1e-5));
        let c = cube(2);
        outward(&c);
        assert_eq!((c.positions.len(), c.indices.len(), c.material), (24, 36, 2));
        assert!(c.positions.iter().flatten().all(|v| v.abs() == 1.0));
        let q = plane(0, 3.0);
        outward(&q);
        assert!(q.positions.iter().all(|p| p[1] == 0.0 && p[0].abs() == 3.0));
    }
}
