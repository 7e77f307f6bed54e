//! NumPy files as point clouds, since that is what researchers write:
//! - `.npy`: one N x 3 array of positions (any float or integer type), or a 3D array (Z x Y x
//!   X, as `grid[z, y, x]`) of an occupancy or density grid: voxels of edge 1 where the value
//!   is finite and above 0 (booleans: true), coloured through viridis over the filled values
//!   ([`crate::shapes::voxel_grid`]);
//! - `.npz`: named arrays: `positions` (N x 3, required), `colors` (N x 3 or N x 4; uint8
//!   0-255, or floats 0-1, both sRGB as displayed), `normals` (N x 3; checked, not drawn by
//!   points), `scalars` (N; shown through a viridis colormap over their finite range when there
//!   are no colours). Other arrays are ignored (a warning names them).

use std::path::Path;

use npyz::{DType, NpyFile, TypeChar};

use crate::{Colormap, ColormapKind, LoadError, PointSet, Scene};

/// An array's values as f64 (C order), its shape and whether it holds floats.
type Array = (Vec<f64>, Vec<u64>, bool);

fn values<R: std::io::Read>(npy: NpyFile<R>, name: &str) -> Result<Array, String> {
    let shape = npy.shape().to_vec();
    let order = npy.order();
    let DType::Plain(ts) = npy.dtype() else {
        return Err(format!("array '{name}' is a structured array (expected numbers)"));
    };
    let size = ts.size_field();
    let read = |e: std::io::Error| format!("array '{name}': {e}");
    macro_rules! as_f64 {
        ($t:ty) => {
            npy.into_vec::<$t>().map_err(read)?.into_iter().map(|v| v as f64).collect::<Vec<f64>>()
        };
    }
    let data: Vec<f64> = match (ts.type_char(), size) {
        (TypeChar::Float, 4) => as_f64!(f32),
        (TypeChar::Float, 8) => as_f64!(f64),
        (TypeChar::Int, 1) => as_f64!(i8),
        (TypeChar::Int, 2) => as_f64!(i16),
        (TypeChar::Int, 4) => as_f64!(i32),
        (TypeChar::Int, 8) => as_f64!(i64),
        (TypeChar::Uint, 1) => as_f64!(u8),
        (TypeChar::Uint, 2) => as_f64!(u16),
        (TypeChar::Uint, 4) => as_f64!(u32),
        (TypeChar::Uint, 8) => as_f64!(u64),
        (TypeChar::Bool, 1) => {
            npy.into_vec::<bool>().map_err(read)?.into_iter().map(f64::from).collect()
        }
        _ => return Err(format!("array '{name}' has type {ts} (expected float, int or uint)")),
    };
    // Fortran order: the first index is the fastest; made C order.
    let data = match (order, shape.as_slice()) {
        (npyz::Order::Fortran, [rows, cols]) => {
            let (r, c) = (*rows as usize, *cols as usize);
            (0..r * c).map(|k| data[(k % c) * r + k / c]).collect()
        }
        _ => data,
    };
    Ok((data, shape, ts.type_char() == TypeChar::Float))
}

/// `values` as N rows of `width`, checked (`widths` lists the ones accepted).
fn rows(
    (data, shape, _): Array,
    name: &str,
    widths: &[u64],
) -> Result<(Vec<f64>, usize, usize), String> {
    match shape.as_slice() {
        [n, w] if widths.contains(w) => Ok((data, *n as usize, *w as usize)),
        [n] if widths.contains(&1) => Ok((data, *n as usize, 1)),
        s => Err(format!(
            "array '{name}' has shape {s:?} (expected N x {})",
            widths.iter().map(u64::to_string).collect::<Vec<_>>().join(" or N x ")
        )),
    }
}

fn positions(data: &[f64], n: usize) -> Result<Vec<[f32; 3]>, String> {
    let p: Vec<[f32; 3]> = (0..n)
        .map(|i| [data[3 * i] as f32, data[3 * i + 1] as f32, data[3 * i + 2] as f32])
        .collect();
    if p.iter().flatten().any(|v| !v.is_finite()) {
        return Err("array 'positions' has non-finite (NaN or infinite) values".into());
    }
    Ok(p)
}

fn scene_of(points: PointSet) -> Scene {
    let mut s = Scene::default();
    s.point_sets.push(points);
    s
}

fn name_of(path: &Path) -> String {
    path.file_stem().map_or_else(|| "points".into(), |s| s.to_string_lossy().into_owned())
}

/// The most cells of a voxel grid read from a file (2^30, as 1024^3).
const MAX_GRID_CELLS: u64 = 1 << 30;

/// A 3D array (Z x Y x X) as a voxel grid: one mesh of the faces between filled and empty
/// cells.
fn voxel_scene<R: std::io::Read>(path: &Path, npy: NpyFile<R>) -> Result<Scene, String> {
    let shape = npy.shape().to_vec();
    let cells = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    if shape.contains(&0) || cells.is_none_or(|c| c > MAX_GRID_CELLS) {
        return Err(format!(
            "a grid of shape {shape:?} (expected Z x Y x X, each > 0, at most 2^30 cells)"
        ));
    }
    let fortran = npy.order() == npyz::Order::Fortran;
    let (data, _, _) = values(npy, "grid")?;
    let [nz, ny, nx] = [shape[0] as usize, shape[1] as usize, shape[2] as usize];
    // x fastest (C order of Z x Y x X); Fortran order has z fastest.
    let grid: Vec<f32> = if fortran {
        let mut g = vec![0.0f32; data.len()];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    g[x + nx * (y + ny * z)] = data[z + nz * (y + ny * x)] as f32;
                }
            }
        }
        g
    } else {
        data.iter().map(|&v| v as f32).collect()
    };
    let prim =
        crate::shapes::voxel_grid([nx, ny, nz], &grid, 0.0, [0.0; 3], 1.0, ColormapKind::Viridis)
            .map_err(|e| e.to_string())?;
    let name = name_of(path);
    let mut s = Scene::default();
    s.materials.push(crate::Material::lambert(&name, [1.0; 3]));
    s.meshes.push(crate::Mesh { name: name.clone(), primitives: vec![prim] });
    s.nodes.push(crate::Node::new(&name, glam::Mat4::IDENTITY).with_mesh(0));
    s.update_world();
    Ok(s)
}

/// Loads a `.npy` file (N x 3 positions) as a point cloud, or a 3D array as a voxel grid.
pub fn load_npy(path: impl AsRef<Path>) -> Result<Scene, LoadError> {
    let path = path.as_ref();
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    let file = std::fs::File::open(path).map_err(|e| invalid(e.to_string()))?;
    let npy = NpyFile::new(std::io::BufReader::new(file)).map_err(|e| invalid(e.to_string()))?;
    if npy.shape().len() == 3 {
        return voxel_scene(path, npy).map_err(invalid);
    }
    let (data, n, _) =
        rows(values(npy, "positions").map_err(invalid)?, "positions", &[3]).map_err(invalid)?;
    let p = positions(&data, n).map_err(invalid)?;
    Ok(scene_of(PointSet::new(&name_of(path), p)))
}

/// Loads a `.npz` archive (`positions`, optional `colors`, `normals`, `scalars`) as a point
/// cloud; with `radii` (N, or 1 for all) as spheres, with `vectors` (N x 3) as arrows (both:
/// both), coloured by `colors`, else `scalars`, else (arrows) their lengths, through viridis.
pub fn load_npz(path: impl AsRef<Path>) -> Result<Scene, LoadError> {
    let path = path.as_ref();
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    let mut npz = npyz::npz::NpzArchive::open(path).map_err(|e| invalid(e.to_string()))?;
    let names: Vec<String> = npz.array_names().map(str::to_string).collect();
    let mut array = |name: &str| -> Result<Option<Array>, String> {
        match npz.by_name(name).map_err(|e| format!("array '{name}': {e}"))? {
            Some(npy) => values(npy, name).map(Some),
            None => Ok(None),
        }
    };
    let (data, n, _) = match array("positions").map_err(invalid)? {
        Some(a) => rows(a, "positions", &[3]).map_err(invalid)?,
        None => {
            return Err(invalid(format!(
                "no 'positions' array (the archive has: {})",
                if names.is_empty() { "nothing".to_string() } else { names.join(", ") }
            )))
        }
    };
    let mut points = PointSet::new(&name_of(path), positions(&data, n).map_err(invalid)?);
    let count = |what: &str, m: usize| {
        if m == n {
            Ok(())
        } else {
            Err(invalid(format!("array '{what}' has {m} rows for {n} positions")))
        }
    };
    if let Some(a) = array("colors").map_err(invalid)? {
        // Integers (uint8) as they are; floats 0-1 scaled to bytes.
        let scale = if a.2 { 255.0 } else { 1.0 };
        let (c, m, w) = rows(a, "colors", &[3, 4]).map_err(invalid)?;
        count("colors", m)?;
        if c.iter().any(|v| !v.is_finite()) {
            return Err(invalid("array 'colors' has non-finite values".into()));
        }
        let to8 = |v: f64| (v * scale).round().clamp(0.0, 255.0) as u8;
        points.colors = (0..m)
            .map(|i| {
                let px = |k: usize| to8(c[w * i + k]);
                [px(0), px(1), px(2), if w == 4 { px(3) } else { 255 }]
            })
            .collect();
    }
    if let Some(a) = array("normals").map_err(invalid)? {
        let (v, m, _) = rows(a, "normals", &[3]).map_err(invalid)?;
        count("normals", m)?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(invalid("array 'normals' has non-finite values".into()));
        }
    }
    if let Some(a) = array("scalars").map_err(invalid)? {
        let (v, m, _) = rows(a, "scalars", &[1]).map_err(invalid)?;
        count("scalars", m)?;
        points.scalars = v.iter().map(|&x| x as f32).collect();
        if points.colors.is_empty() {
            points.colormap = Some(Colormap::fit(ColormapKind::Viridis, &points.scalars));
        }
    }
    let radii = match array("radii").map_err(invalid)? {
        Some(a) => {
            let (v, m, _) = rows(a, "radii", &[1]).map_err(invalid)?;
            if m != 1 {
                count("radii", m)?;
            }
            Some(v.iter().map(|&x| x as f32).collect::<Vec<f32>>())
        }
        None => None,
    };
    let vectors = match array("vectors").map_err(invalid)? {
        Some(a) => {
            let (v, m, _) = rows(a, "vectors", &[3]).map_err(invalid)?;
            count("vectors", m)?;
            Some(
                positions(&v, m)
                    .map_err(|_| invalid("array 'vectors' has non-finite values".into()))?,
            )
        }
        None => None,
    };
    let mut scene = if radii.is_none() && vectors.is_none() {
        scene_of(points)
    } else {
        shapes_scene(&points, radii.as_deref(), vectors.as_deref()).map_err(invalid)?
    };
    const READ: [&str; 6] = ["positions", "colors", "normals", "scalars", "radii", "vectors"];
    let unknown: Vec<&String> = names.iter().filter(|n| !READ.contains(&n.as_str())).collect();
    if !unknown.is_empty() {
        let w =
            format!("{}: arrays {unknown:?} ignored (read: {})", path.display(), READ.join(", "));
        tracing::warn!("{w}");
        scene.warnings.push(w);
    }
    Ok(scene)
}

/// The most triangles the spheres and arrows of one file make (as the protocol's shapes).
const MAX_SHAPE_TRIANGLES: u64 = 1 << 28;

/// Triangles of an arrow (`crate::shapes::arrows`: a 12-sided shaft and head, capped).
const ARROW_TRIANGLES: u64 = 72;

/// Spheres of `radii` (one each, or one for all) and/or arrows along `vectors` at the points'
/// positions, coloured by the points' colours, else their scalars (viridis), else (arrows)
/// their lengths (viridis) or white (spheres): one mesh node each.
fn shapes_scene(
    points: &PointSet,
    radii: Option<&[f32]>,
    vectors: Option<&[[f32; 3]]>,
) -> Result<Scene, String> {
    let n = points.positions.len();
    // The raster draws spheres exactly (impostors); the tessellation is what the path
    // tracer traces: finer for fewer spheres.
    let detail = match n {
        0..=10_000 => 3,
        10_001..=200_000 => 2,
        _ => 0,
    };
    let triangles = n as u64
        * (if radii.is_some() { 20 << (2 * detail) } else { 0 }
            + if vectors.is_some() { ARROW_TRIANGLES } else { 0 });
    if triangles > MAX_SHAPE_TRIANGLES {
        return Err(format!(
            "{n} spheres or arrows make {triangles} triangles (at most 2^28 from a file)"
        ));
    }
    let by_values = |values: &[f32]| crate::shapes::colormapped(values, ColormapKind::Viridis);
    let colors: Vec<[f32; 4]> = if !points.colors.is_empty() {
        points.colors.iter().map(|&c| crate::srgba8_to_linear(c)).collect()
    } else if !points.scalars.is_empty() {
        by_values(&points.scalars)
    } else {
        Vec::new()
    };
    let mut s = Scene::default();
    s.materials.push(crate::Material::lambert(&points.name, [1.0; 3]));
    let mut add = |name: String, prim: crate::Primitive| {
        s.meshes.push(crate::Mesh { name: name.clone(), primitives: vec![prim] });
        let mesh = s.meshes.len() - 1;
        s.nodes.push(crate::Node::new(&name, glam::Mat4::IDENTITY).with_mesh(mesh));
    };
    if let Some(radii) = radii {
        let prim = crate::shapes::spheres(&points.positions, radii, &colors, detail)
            .map_err(|e| e.to_string())?;
        add(format!("{}/spheres", points.name), prim);
    }
    if let Some(vectors) = vectors {
        let colors = if colors.is_empty() {
            let lengths: Vec<f32> = vectors.iter().map(|v| glam::Vec3::from(*v).length()).collect();
            by_values(&lengths)
        } else {
            colors
        };
        let prim = crate::shapes::arrows(&points.positions, vectors, 1.0, None, &colors)
            .map_err(|e| e.to_string())?;
        add(format!("{}/arrows", points.name), prim);
    }
    s.update_world();
    Ok(s)
}
