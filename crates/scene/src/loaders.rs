//! OBJ and PLY loaders, and loading any supported file by its extension.
//!
//! - PLY (ASCII or binary): a `vertex` element with x, y, z (and optionally red/green/blue
//!   (and alpha), as 8-bit or float, and nx/ny/nz; without colors, a scalar property such as
//!   intensity, quality or scalar_* is shown through viridis over its range). With a `face` element (vertex_indices or
//!   vertex_index lists, polygons triangulated as fans) it is a mesh; without, a point cloud.
//! - OBJ (with its MTL when present: `Kd` becomes the base color): triangulated meshes.
//!
//! Files without a camera get one that frames them ([`crate::View::from_scene`]).

use std::path::Path;

use glam::Mat4;

use crate::color::{srgb_to_linear, srgba8_to_linear};
use crate::colormap::{Colormap, ColormapKind};
use crate::gltf_loader::{load_gltf, LoadError};
use crate::model::{
    ColormapMaterial, LineSet, Material, Mesh, Node, PointSet, Primitive, Scene, Texture,
    TexturePixels, TextureSampler, Wrap,
};

/// Loads a scene from a .gltf, .glb, .obj or .ply file, an image (.png, .jpg, .jpeg, .hdr,
/// .exr) shown on a quad ([`load_image`]), NumPy points (.npy, .npz), a CSV of time series
/// (plots: a `time` column and a column per series), or a sequence (a folder or a glob, 30
/// frames per second: [`crate::sequence::open_with`] for other options).
pub fn load(path: impl AsRef<Path>) -> Result<Scene, LoadError> {
    let path = path.as_ref();
    // A folder or a glob: a sequence of frame files (30 per second).
    let spec = path.to_string_lossy();
    if crate::sequence::is_sequence(&spec) {
        return crate::sequence::open(&spec, 30.0);
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => {
            let invalid =
                |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
            let (_, plots) =
                crate::sequence::read_table(path).map_err(|e| invalid(e.to_string()))?;
            if plots.is_empty() {
                return Err(invalid("no numeric column beside 'time' to plot".into()));
            }
            Ok(Scene { plots, ..Default::default() })
        }
        Some("gltf") | Some("glb") => load_gltf(path),
        Some("obj") => load_obj(path),
        Some("ply") => load_ply(path),
        Some("png" | "jpg" | "jpeg" | "hdr" | "exr") => load_image(path),
        Some("npy") => crate::load_npy(path),
        Some("npz") => crate::load_npz(path),
        Some("tum" | "txt") => crate::trajectory::load_trajectory(path),
        _ => Err(LoadError::Invalid {
            path: path.to_path_buf(),
            message: "unsupported format (expected .gltf, .glb, .obj, .ply, .png, .jpg, \
                      .jpeg, .hdr, .exr, .npy, .npz, .csv, or a trajectory: .tum or .txt)"
                .into(),
        }),
    }
}

/// Reads an image file as a texture: 8-bit formats as sRGB RGBA8, 16-bit PNGs decoded from
/// sRGB to linear floats, HDR and EXR (floating point) as linear floats.
pub fn load_texture(path: impl AsRef<Path>) -> Result<Texture, LoadError> {
    let path = path.as_ref();
    let img =
        image::open(path).map_err(|error| LoadError::Image { path: path.to_path_buf(), error })?;
    let (width, height) = (img.width(), img.height());
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    use image::ColorType as C;
    let (pixels, srgb) = if matches!(img.color(), C::L8 | C::La8 | C::Rgb8 | C::Rgba8) {
        let texels = img.to_rgba8().pixels().map(|p| p.0).collect();
        (TexturePixels::Rgba8(texels), true)
    } else if matches!(img.color(), C::L16 | C::La16 | C::Rgb16 | C::Rgba16) {
        // 16-bit PNGs hold sRGB-encoded values too: decoded here to linear floats.
        let decode = |v: u16| srgb_to_linear(f32::from(v) / 65535.0);
        let texels = img
            .to_rgba16()
            .pixels()
            .map(|p| [decode(p.0[0]), decode(p.0[1]), decode(p.0[2]), f32::from(p.0[3]) / 65535.0])
            .collect();
        (TexturePixels::RgbaF32(texels), false)
    } else {
        let texels: Vec<[f32; 4]> = img.to_rgba32f().pixels().map(|p| p.0).collect();
        if texels.iter().flatten().any(|v| !v.is_finite()) {
            return Err(invalid(path, "non-finite (NaN or infinite) texels".into()));
        }
        (TexturePixels::RgbaF32(texels), false)
    };
    let sampler = TextureSampler {
        wrap_u: Wrap::ClampToEdge,
        wrap_v: Wrap::ClampToEdge,
        ..Default::default()
    };
    Ok(Texture { name, width, height, pixels, srgb, sampler })
}

/// An image as a scene: a quad of height 1 and the image's aspect ratio in the XY plane,
/// facing +Z, showing the image unlit (its texels are the outgoing radiance: a `.png` render
/// of it gives back the image, a `.exr` render its linear values), and an orthographic camera
/// that frames it exactly.
pub fn load_image(path: impl AsRef<Path>) -> Result<Scene, LoadError> {
    let texture = load_texture(path)?;
    let mut scene = Scene::default();
    let aspect = texture.width as f32 / texture.height as f32;
    let name = texture.name.clone();
    scene.add_image_quad(texture, Mat4::from_scale(glam::Vec3::new(aspect, 1.0, 1.0)));
    scene.cameras.push(crate::model::Camera::orthographic(&name, 0.5, Some(aspect)));
    let cam = Node::new("camera", Mat4::from_translation(glam::Vec3::new(0.0, 0.0, 1.0)));
    scene.nodes.push(cam.with_camera(0));
    scene.update_world();
    Ok(scene)
}

fn invalid(path: &Path, message: String) -> LoadError {
    LoadError::Invalid { path: path.to_path_buf(), message }
}

fn finish(mut scene: Scene, meshes: Vec<Mesh>) -> Scene {
    for (i, m) in meshes.into_iter().enumerate() {
        scene.nodes.push(Node::new(&m.name, Mat4::IDENTITY).with_mesh(i));
        scene.meshes.push(m);
    }
    scene.update_world();
    scene
}

/// `p` (positions, indices and optionally colors and scalars) checked, smooth-shaded with
/// `normals`, or flat-shaded when they are None or invalid.
fn primitive(
    path: &Path,
    what: &str,
    p: Primitive,
    normals: Option<Vec<[f32; 3]>>,
) -> Result<Primitive, LoadError> {
    if p.positions.iter().flatten().any(|v| !v.is_finite()) {
        return Err(invalid(path, format!("{what}: non-finite (NaN or infinite) positions")));
    }
    if let Some(bad) = p.indices.iter().find(|&&i| i as usize >= p.positions.len()) {
        return Err(invalid(
            path,
            format!("{what}: index {bad} out of range ({} vertices)", p.positions.len()),
        ));
    }
    match normals {
        Some(n) if n.len() == p.positions.len() && n.iter().flatten().all(|v| v.is_finite()) => {
            Ok(Primitive { normals: n, ..p })
        }
        _ => Ok(crate::gltf_loader::flat_shaded(&p)),
    }
}

/// Loads an OBJ file (triangulated; MTL diffuse colors when the library loads).
pub fn load_obj(path: impl AsRef<Path>) -> Result<Scene, LoadError> {
    let path = path.as_ref();
    let opts = tobj::LoadOptions { triangulate: true, single_index: true, ..Default::default() };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(path, format!("OBJ: {e}")))?;
    // The OBJ library reads `l` polylines as polygons: they are taken out here and become a
    // line set below.
    let faces_only: String = text
        .lines()
        .filter(|l| l.split_whitespace().next() != Some("l"))
        .flat_map(|l| [l, "\n"])
        .collect();
    let dir = path.parent().unwrap_or(Path::new("."));
    let (models, materials) =
        tobj::load_obj_buf(&mut faces_only.as_bytes(), &opts, |mtl| tobj::load_mtl(dir.join(mtl)))
            .map_err(|e| invalid(path, format!("OBJ: {e}")))?;
    let mut scene = Scene::default();
    match materials {
        Ok(mats) => {
            for m in mats {
                let mut mat = Material::lambert(&m.name, m.diffuse.unwrap_or([0.8; 3]));
                // `map_Kd`: the diffuse color texture (sRGB, repeating), times Kd.
                // Options (`-bm 1`, `-s 2 2 1`, ...) come before the file name: the last word.
                let file = m.diffuse_texture.as_deref().and_then(|f| f.split_whitespace().last());
                if let Some(file) = file {
                    match load_texture(dir.join(file)) {
                        Ok(mut t) => {
                            t.sampler = TextureSampler::default();
                            scene.textures.push(t);
                            mat.base_color_texture = Some(scene.textures.len() - 1);
                        }
                        Err(e) => {
                            // The material is drawn with its color alone; the file says so.
                            let w = format!(
                                "{}: material '{}': {e}; drawn without it",
                                path.display(),
                                m.name
                            );
                            tracing::warn!("{w}");
                            scene.warnings.push(w);
                        }
                    }
                }
                scene.materials.push(mat);
            }
        }
        Err(e) => tracing::warn!(
            "{}: material library not loaded ({e}); default material",
            path.display()
        ),
    }
    let default = scene.materials.len();
    scene.materials.push(Material::lambert("default", [0.8; 3]));
    let mut meshes = Vec::new();
    for m in models {
        let mesh = &m.mesh;
        let positions: Vec<[f32; 3]> =
            mesh.positions.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        let normals = (!mesh.normals.is_empty())
            .then(|| mesh.normals.chunks_exact(3).map(|n| [n[0], n[1], n[2]]).collect());
        let material = mesh.material_id.filter(|&i| i < default).unwrap_or(default);
        // `v x y z r g b` colors: display values (what scanners and MeshLab write, like the
        // bytes of PLY files), decoded as sRGB.
        let colors = if mesh.vertex_color.len() == mesh.positions.len() {
            let lin = |v: f32| srgb_to_linear(v.clamp(0.0, 1.0));
            mesh.vertex_color
                .chunks_exact(3)
                .map(|c| [lin(c[0]), lin(c[1]), lin(c[2]), 1.0])
                .collect()
        } else {
            Vec::new()
        };
        // OBJ's v points up, glTF's (and the scene model's) down.
        let uvs = if mesh.texcoords.len() / 2 == positions.len() {
            mesh.texcoords.chunks_exact(2).map(|t| [t[0], 1.0 - t[1]]).collect()
        } else {
            Vec::new()
        };
        if uvs.iter().flatten().any(|v: &f32| !v.is_finite()) {
            return Err(invalid(
                path,
                format!("object '{}': non-finite texture coordinates", m.name),
            ));
        }
        if mesh.indices.is_empty() {
            // Vertices without faces (a point cloud as MeshLab writes it): points.
            if positions.is_empty() {
                continue;
            }
            if positions.iter().flatten().any(|v| !v.is_finite()) {
                return Err(invalid(
                    path,
                    format!("object '{}': non-finite (NaN or infinite) positions", m.name),
                ));
            }
            let name = if m.name.is_empty() { "points" } else { m.name.as_str() };
            let colors = colors.iter().map(|&c| crate::color::pack_srgba8(c).to_le_bytes());
            let set = PointSet { colors: colors.collect(), ..PointSet::new(name, positions) };
            scene.point_sets.push(set);
            continue;
        }
        let p = Primitive {
            positions,
            colors,
            uvs,
            indices: mesh.indices.clone(),
            material,
            ..Default::default()
        };
        let p = primitive(path, &format!("object '{}'", m.name), p, normals)?;
        meshes.push(Mesh { name: m.name.clone(), primitives: vec![p] });
    }
    if let Some(lines) = obj_lines(path, &text)? {
        scene.line_sets.push(lines);
    }
    if meshes.is_empty() && scene.line_sets.is_empty() && scene.point_sets.is_empty() {
        // Vertices and no faces (a point cloud as MeshLab writes it): the OBJ library drops
        // them, so they are read here.
        if let Some(points) = obj_vertex_cloud(path, &text)? {
            scene.point_sets.push(points);
        }
    }
    if meshes.is_empty() && scene.line_sets.is_empty() && scene.point_sets.is_empty() {
        return Err(invalid(path, "no geometry".into()));
    }
    Ok(finish(scene, meshes))
}

/// Every `v x y z [r g b]` of an OBJ file as one point cloud (colors, display values read as
/// sRGB, when every vertex has them), or None without vertices.
fn obj_vertex_cloud(path: &Path, text: &str) -> Result<Option<PointSet>, LoadError> {
    let mut positions = Vec::new();
    let mut colors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next() != Some("v") {
            continue;
        }
        let c: Vec<f32> = words
            .map(|w| w.parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(path, format!("line {}: vertex: {e}", n + 1)))?;
        if c.len() < 3 || c.iter().any(|v| !v.is_finite()) {
            return Err(invalid(
                path,
                format!("line {}: a vertex needs three finite coordinates", n + 1),
            ));
        }
        positions.push([c[0], c[1], c[2]]);
        if c.len() >= 6 {
            let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            colors.push([byte(c[3]), byte(c[4]), byte(c[5]), 255]);
        }
    }
    if positions.is_empty() {
        return Ok(None);
    }
    if colors.len() != positions.len() {
        colors.clear();
    }
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("points");
    tracing::info!("{}: {} vertices without faces: a point cloud", path.display(), positions.len());
    Ok(Some(PointSet { colors, ..PointSet::new(name, positions) }))
}

/// The `l` statements of an OBJ file as one line set (each polyline's consecutive vertex
/// pairs), or None without any. Indices are 1-based or negative (relative to the vertices so
/// far); `v/vt` pairs keep the vertex.
fn obj_lines(path: &Path, text: &str) -> Result<Option<LineSet>, LoadError> {
    let mut vertices: Vec<[f32; 3]> = Vec::new();
    let mut segments: Vec<[f32; 3]> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("v") => {
                let c: Vec<f32> = words.take(3).filter_map(|w| w.parse().ok()).collect();
                vertices.push([
                    c.first().copied().unwrap_or(0.0),
                    c.get(1).copied().unwrap_or(0.0),
                    c.get(2).copied().unwrap_or(0.0),
                ]);
            }
            Some("l") => {
                let mut poly = Vec::new();
                for w in words {
                    let bad = || invalid(path, format!("line {}: bad vertex '{w}' in 'l'", n + 1));
                    let i: i64 =
                        w.split('/').next().and_then(|i| i.parse().ok()).ok_or_else(bad)?;
                    let index = if i < 0 { vertices.len() as i64 + i } else { i - 1 };
                    let v = usize::try_from(index)
                        .ok()
                        .and_then(|k| vertices.get(k))
                        .ok_or_else(bad)?;
                    poly.push(*v);
                }
                for pair in poly.windows(2) {
                    segments.extend_from_slice(pair);
                }
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Ok(None);
    }
    if segments.iter().flatten().any(|v| !v.is_finite()) {
        return Err(invalid(path, "non-finite (NaN or infinite) line vertices".into()));
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("obj");
    Ok(Some(LineSet {
        name: format!("{stem} lines"),
        transform: Mat4::IDENTITY,
        positions: segments,
        colors: Vec::new(),
        strip: false,
        width_px: 1.0,
        visible: true,
        node: None,
    }))
}

fn scalar(p: &ply_rs::ply::Property) -> Option<f64> {
    use ply_rs::ply::Property as P;
    Some(match *p {
        P::Char(v) => v as f64,
        P::UChar(v) => v as f64,
        P::Short(v) => v as f64,
        P::UShort(v) => v as f64,
        P::Int(v) => v as f64,
        P::UInt(v) => v as f64,
        P::Float(v) => v as f64,
        P::Double(v) => v,
        _ => return None,
    })
}

/// The triangles of one triangle strip, every other one flipped so that all keep the first's
/// winding; degenerate ones (a repeated vertex, which strips use to turn) are dropped.
pub(crate) fn strip_triangles(strip: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    for k in 2..strip.len() {
        let (a, b, c) = if k % 2 == 0 {
            (strip[k - 2], strip[k - 1], strip[k])
        } else {
            (strip[k - 1], strip[k - 2], strip[k])
        };
        if a != b && b != c && a != c {
            out.extend([a, b, c]);
        }
    }
    out
}

fn list(p: &ply_rs::ply::Property) -> Option<Vec<i64>> {
    use ply_rs::ply::Property as P;
    Some(match p {
        P::ListChar(v) => v.iter().map(|&x| x as i64).collect(),
        P::ListUChar(v) => v.iter().map(|&x| x as i64).collect(),
        P::ListShort(v) => v.iter().map(|&x| x as i64).collect(),
        P::ListUShort(v) => v.iter().map(|&x| x as i64).collect(),
        P::ListInt(v) => v.iter().map(|&x| x as i64).collect(),
        P::ListUInt(v) => v.iter().map(|&x| x as i64).collect(),
        _ => return None,
    })
}

/// The vertex property to color by when a PLY file has no colors: a common scalar name
/// (CloudCompare writes `scalar_*`, MeshLab `quality`, scanners `intensity`).
fn scalar_property(v: &ply_rs::ply::DefaultElement) -> Option<String> {
    const NAMES: [&str; 5] = ["intensity", "quality", "scalar", "value", "confidence"];
    let numeric = |k: &str| v.get(k).and_then(scalar).is_some();
    NAMES
        .iter()
        .map(|n| n.to_string())
        .find(|n| numeric(n))
        .or_else(|| v.keys().find(|k| k.starts_with("scalar_") && numeric(k)).cloned())
}

/// Loads a PLY file: a mesh when it has faces, else a point cloud.
pub fn load_ply(path: impl AsRef<Path>) -> Result<Scene, LoadError> {
    let path = path.as_ref();
    // Binary point clouds: read straight from the bytes.
    if let Some(r) = crate::ply_fast::points(path) {
        return r;
    }
    let file = std::fs::File::open(path).map_err(|e| invalid(path, e.to_string()))?;
    let mut reader = std::io::BufReader::new(file);
    let parser = ply_rs::parser::Parser::<ply_rs::ply::DefaultElement>::new();
    let ply = parser.read_ply(&mut reader).map_err(|e| invalid(path, format!("PLY: {e}")))?;
    let vertices =
        ply.payload.get("vertex").ok_or_else(|| invalid(path, "no 'vertex' element".into()))?;
    let get = |v: &ply_rs::ply::DefaultElement, k: &str| v.get(k).and_then(scalar);
    let mut positions = Vec::with_capacity(vertices.len());
    let mut normals = Vec::with_capacity(vertices.len());
    let mut colors = Vec::with_capacity(vertices.len());
    for (i, v) in vertices.iter().enumerate() {
        let p = match (get(v, "x"), get(v, "y"), get(v, "z")) {
            (Some(x), Some(y), Some(z)) => [x as f32, y as f32, z as f32],
            _ => return Err(invalid(path, format!("vertex {i} lacks x, y or z"))),
        };
        positions.push(p);
        if let (Some(x), Some(y), Some(z)) = (get(v, "nx"), get(v, "ny"), get(v, "nz")) {
            normals.push([x as f32, y as f32, z as f32]);
        }
        let channel = |k: &str| {
            v.get(k).map(|p| match p {
                ply_rs::ply::Property::Float(f) => (f.clamp(0.0, 1.0) * 255.0).round() as u8,
                ply_rs::ply::Property::Double(f) => (f.clamp(0.0, 1.0) * 255.0).round() as u8,
                other => scalar(other).unwrap_or(255.0).clamp(0.0, 255.0) as u8,
            })
        };
        if let (Some(r), Some(g), Some(b)) = (channel("red"), channel("green"), channel("blue")) {
            colors.push([r, g, b, channel("alpha").unwrap_or(255)]);
        }
    }
    // Without colors: a scalar property (intensity, quality, ...) through viridis over its
    // range, applied on the GPU (the range can change without touching the data).
    let mut scalars: Option<(Vec<f32>, Colormap)> = None;
    if colors.len() != positions.len() {
        colors.clear();
        if let Some(name) = vertices.first().and_then(scalar_property) {
            let values: Vec<f32> =
                vertices.iter().map(|v| get(v, &name).map_or(f32::NAN, |s| s as f32)).collect();
            let map = Colormap::fit(ColormapKind::Viridis, &values);
            tracing::info!(
                "{}: vertex property '{name}' shown through viridis over [{}, {}]",
                path.display(),
                map.min,
                map.max
            );
            scalars = Some((values, map));
        }
    }
    let faces = ply.payload.get("face").filter(|f| !f.is_empty());
    // Triangle strips (`element tristrips` with a `vertex_indices` list, -1 restarting a strip,
    // as the Stanford scans write them) become triangles like the faces.
    let strips = ply.payload.get("tristrips").filter(|t| !t.is_empty());
    for (name, e) in &ply.payload {
        let known = ["vertex", "face", "edge", "tristrips"].contains(&name.as_str());
        if !known && !e.is_empty() {
            tracing::warn!("{}: element '{name}' ({} entries) ignored", path.display(), e.len());
        }
    }
    let mut scene = Scene::default();
    // `edge` elements (vertex1, vertex2): a line set over the same vertices.
    if let Some(edges) = ply.payload.get("edge").filter(|e| !e.is_empty()) {
        let mut line = Vec::with_capacity(2 * edges.len());
        let mut line_colors = Vec::new();
        for (ei, e) in edges.iter().enumerate() {
            for key in ["vertex1", "vertex2"] {
                let i =
                    get(e, key).filter(|&i| i >= 0.0 && (i as usize) < positions.len()).ok_or_else(
                        || invalid(path, format!("edge {ei}: {key} missing or out of range")),
                    )? as usize;
                line.push(positions[i]);
                line_colors.extend(colors.get(i).copied());
            }
        }
        if line.iter().flatten().any(|v| !v.is_finite()) {
            return Err(invalid(path, "non-finite (NaN or infinite) edge positions".into()));
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("ply");
        scene.line_sets.push(LineSet {
            name: format!("{stem} edges"),
            transform: Mat4::IDENTITY,
            colors: if line_colors.len() == line.len() { line_colors } else { Vec::new() },
            positions: line,
            strip: false,
            width_px: 1.0,
            visible: true,
            node: None,
        });
    }
    match (faces, strips) {
        (None, None) => {
            if positions.iter().flatten().any(|v| !v.is_finite()) {
                return Err(invalid(path, "non-finite (NaN or infinite) positions".into()));
            }
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("points");
            let mut set = PointSet { colors, ..PointSet::new(name, positions) };
            if let Some((values, map)) = scalars {
                set.scalars = values;
                set.colormap = Some(map);
            }
            scene.point_sets.push(set);
            scene.update_world();
            Ok(scene)
        }
        (faces, strips) => {
            let mut indices = Vec::new();
            let index_list = |e: &ply_rs::ply::DefaultElement, what: &str, n: usize| {
                e.get("vertex_indices")
                    .or_else(|| e.get("vertex_index"))
                    .and_then(list)
                    .ok_or_else(|| invalid(path, format!("{what} {n} has no vertex_indices list")))
            };
            let index = |i: i64, what: &str, n: usize| {
                u32::try_from(i)
                    .map_err(|_| invalid(path, format!("{what} {n}: negative or huge index {i}")))
            };
            for (fi, f) in faces.into_iter().flatten().enumerate() {
                let l = index_list(f, "face", fi)?;
                for k in 1..l.len().saturating_sub(1) {
                    for &i in &[l[0], l[k], l[k + 1]] {
                        indices.push(index(i, "face", fi)?);
                    }
                }
            }
            for (si, t) in strips.into_iter().flatten().enumerate() {
                let l = index_list(t, "tristrip", si)?;
                for strip in l.split(|&i| i == -1) {
                    let strip: Vec<u32> = strip
                        .iter()
                        .map(|&i| index(i, "tristrip", si))
                        .collect::<Result<_, _>>()?;
                    indices.extend(strip_triangles(&strip));
                }
            }
            let mut material = Material::lambert("default", [0.8; 3]);
            let n = (normals.len() == positions.len()).then_some(normals);
            let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("mesh").to_string();
            // PLY colors are sRGB bytes; the mesh model holds linear colors.
            let linear = colors.iter().map(|c| srgba8_to_linear(*c)).collect();
            let mut p = Primitive { positions, colors: linear, indices, ..Default::default() };
            if let Some((values, map)) = scalars {
                p.scalars = values;
                material.colormap =
                    Some(ColormapMaterial { kind: map.kind, min: map.min, max: map.max });
            }
            scene.materials.push(material);
            let p = primitive(path, &format!("mesh '{name}'"), p, n)?;
            Ok(finish(scene, vec![Mesh { name, primitives: vec![p] }]))
        }
    }
}
