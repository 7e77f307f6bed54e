//! glTF 2.0 (.gltf/.glb) loader, following tests/data/refs/README.md: node transforms T*R*S,
//! the scene's only camera, pure Lambertian through KHR_materials_specular, emission
//! `emissiveFactor * emissiveStrength` from the front face, flat shading without NORMAL,
//! radiometric punctual lights, and the environment in `scenes[0].extras.environment`
//! (`{"color": [r,g,b], "intensity": s}` or `{"uri": "sky.exr", "intensity": s}`).

use std::path::{Path, PathBuf};

use glam::{Mat4, Quat, Vec3};

use crate::color::pack_srgba8;
use crate::model::{
    AlphaMode, Camera, Environment, Light, LightKind, LineSet, Material, Mesh, Node, PointSet,
    Primitive, Projection, Scene, Texture, TexturePixels, TextureSampler, UvTransform, Wrap,
};

/// Errors of the loaders. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The glTF parser or importer failed (malformed JSON/GLB, missing buffer file, ...).
    #[error("{path}: {error}")]
    Gltf {
        /// The file.
        path: PathBuf,
        /// The parser's error (in the message, so not also a `source`: chains print it once).
        error: gltf::Error,
    },
    /// The file requires glTF extensions this loader does not support.
    #[error("{path}: needs glTF extension {}, which is not supported", extensions.join(", "))]
    Extension {
        /// The file.
        path: PathBuf,
        /// The required extensions it lacks.
        extensions: Vec<String>,
    },
    /// The file parses but its content is invalid.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A texture image of the file could not be read or decoded.
    #[error("{path}: texture image {image}: {message}")]
    Texture {
        /// The glTF file.
        path: PathBuf,
        /// The image's URI, or its index and name when embedded.
        image: String,
        /// What went wrong.
        message: String,
    },
    /// An image (environment map) could not be read.
    #[error("{path}: {error}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error (in the message only, like [`LoadError::Gltf`]'s).
        error: image::ImageError,
    },
}

/// Loads a glTF 2.0 file (.gltf with its buffers, or .glb) into a [`Scene`] with world
/// transforms computed.
pub fn load_gltf(path: impl AsRef<Path>) -> Result<Scene, LoadError> {
    let path = path.as_ref();
    let gltf_err = |error| LoadError::Gltf { path: path.to_path_buf(), error };
    let bytes = std::fs::read(path).map_err(|e| gltf_err(gltf::Error::Io(e)))?;
    let doc = parse(path, &bytes)?;
    let blob = doc.blob;
    let doc = doc.document;
    let base = path.parent().unwrap_or(Path::new("."));
    let buffers = if crate::meshopt::used(&doc) {
        crate::meshopt::import(path, &doc, base, blob)?
    } else {
        check_buffer_files(path, base, &doc)?;
        gltf::import_buffers(&doc, Some(base), blob).map_err(gltf_err)?
    };
    // glTF is +Y up.
    let mut scene = Scene { up: Some(Vec3::Y), ..Default::default() };
    // The steps, in order: materials (and their textures), meshes (lines and points apart),
    // lights, cameras, the node hierarchy (and the environment), then the lines and points
    // placed with their nodes.
    load_materials(path, &doc, &buffers, &mut scene)?;
    let (mut mesh_lines, mut mesh_points) = load_meshes(path, &doc, &buffers, &mut scene)?;
    load_lights(&doc, &mut scene);
    load_cameras(path, &doc, &mut scene)?;
    let placed = load_nodes(path, &doc, &mut scene)?;
    load_skins(path, &doc, &buffers, &mut scene, &placed)?;
    unshare_deformed_meshes(&mut scene, &mut mesh_lines, &mut mesh_points);
    load_animations(path, &doc, &buffers, &mut scene, &placed)?;
    scene.update_world();
    // An animated file opens at the start of its animation.
    if let Some((start, _)) = scene.time_span() {
        scene.set_time(start);
    }
    place_lines_and_points(&mut scene, &mesh_lines, &mesh_points);
    Ok(scene)
}

/// Required extensions this loader implements itself (the parser does not know them).
const OWN_EXTENSIONS: &[&str] = &[
    "KHR_mesh_quantization",
    "EXT_meshopt_compression",
    "KHR_meshopt_compression",
    "KHR_texture_transform",
    "KHR_materials_ior",
    "KHR_materials_transmission",
    "KHR_materials_volume",
    "KHR_materials_clearcoat",
    "KHR_materials_sheen",
    "KHR_materials_specular",
];

/// The document, validated. A required extension that neither this loader nor the parser
/// supports is refused first, in one error naming it (the validator would report it among
/// many consequences).
fn parse(path: &Path, bytes: &[u8]) -> Result<gltf::Gltf, LoadError> {
    let gltf_err = |error| LoadError::Gltf { path: path.to_path_buf(), error };
    let gltf::Gltf { document, blob } =
        gltf::Gltf::from_slice_without_validation(bytes).map_err(gltf_err)?;
    let mut json = document.into_json();
    let unsupported: Vec<String> = json
        .extensions_required
        .iter()
        .filter(|e| {
            !OWN_EXTENSIONS.contains(&e.as_str())
                && !gltf::json::extensions::ENABLED_EXTENSIONS.contains(&e.as_str())
        })
        .cloned()
        .collect();
    if !unsupported.is_empty() {
        return Err(LoadError::Extension { path: path.to_path_buf(), extensions: unsupported });
    }
    json.extensions_required.retain(|e| !OWN_EXTENSIONS.contains(&e.as_str()));
    let document = gltf::Document::from_json(json).map_err(gltf_err)?;
    Ok(gltf::Gltf { document, blob })
}

/// The buffer files a .gltf names, checked to exist first (the importer's error would not
/// name the missing file).
fn check_buffer_files(path: &Path, base: &Path, doc: &gltf::Document) -> Result<(), LoadError> {
    for b in doc.buffers() {
        let gltf::buffer::Source::Uri(uri) = b.source() else { continue };
        if uri.starts_with("data:") {
            continue;
        }
        let file = base.join(percent_decode(uri));
        if !file.is_file() {
            return Err(LoadError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "buffer {}: file '{uri}' not found ({})",
                    b.index(),
                    file.display()
                ),
            });
        }
    }
    Ok(())
}

/// A URI's %XX escapes decoded (other bytes kept).
pub(crate) fn percent_decode(uri: &str) -> String {
    let bytes = uri.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |k: usize| bytes.get(k).and_then(|&c| (c as char).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, ..) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Step 1: the materials (checked to be finite) and the textures they use, then the default
/// material for primitives without one (the last).
fn load_materials(
    path: &Path,
    doc: &gltf::Document,
    buffers: &[gltf::buffer::Data],
    scene: &mut Scene,
) -> Result<(), LoadError> {
    use crate::model::texture_slot as slot;
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    let mut textures = TextureCache::default();
    for m in doc.materials() {
        let name = m.name().unwrap_or("").to_string();
        let pbr = m.pbr_metallic_roughness();
        let strength = m.emissive_strength().unwrap_or(1.0);
        let e = m.emissive_factor();
        let specular = m.specular().map(|s| s.specular_factor()).unwrap_or(1.0);
        let alpha = match m.alpha_mode() {
            gltf::material::AlphaMode::Opaque => AlphaMode::Opaque,
            gltf::material::AlphaMode::Mask => {
                AlphaMode::Mask(m.alpha_cutoff().unwrap_or(0.5).to_bits())
            }
            gltf::material::AlphaMode::Blend => AlphaMode::Blend,
        };
        let mut mat = Material {
            name: name.clone(),
            base_color: pbr.base_color_factor(),
            metallic: pbr.metallic_factor(),
            roughness: pbr.roughness_factor(),
            emissive: [e[0] * strength, e[1] * strength, e[2] * strength],
            specular,
            double_sided: m.double_sided(),
            alpha,
            unlit: m.unlit(),
            normal_scale: m.normal_texture().map_or(1.0, |t| t.scale()),
            occlusion_strength: m.occlusion_texture().map_or(1.0, |t| t.strength()),
            colormap: None,
            ..Default::default()
        };
        // Each texture slot: the texture, its UV set and KHR_texture_transform.
        let ext = "KHR_texture_transform";
        let mut slots = Slots { textures: &mut textures, path, buffers, material: &name };
        let mut take = |scene: &mut Scene,
                        mat: &mut Material,
                        at: usize,
                        info: Option<gltf::texture::Info<'_>>,
                        srgb: bool| {
            let info = info.as_ref().map(|t| (t.texture(), t.tex_coord(), t.extension_value(ext)));
            slots.take(scene, mat, at, info, srgb)
        };
        if let Some(sg) = m.pbr_specular_glossiness() {
            // KHR_materials_pbrSpecularGlossiness, converted on load (see specular_glossiness).
            mat.base_color_texture =
                take(scene, &mut mat, slot::BASE_COLOR, sg.diffuse_texture(), true)?;
            specular_glossiness(&mut mat, &sg);
            let gloss = sg.specular_glossiness_texture();
            if let Some(t) = take(scene, &mut mat, slot::METALLIC_ROUGHNESS, gloss, false)? {
                let factor = sg.glossiness_factor();
                mat.metallic_roughness_texture = Some(roughness_from_glossiness(scene, t, factor));
                (mat.metallic, mat.roughness) = (0.0, 1.0);
            }
        } else {
            mat.base_color_texture =
                take(scene, &mut mat, slot::BASE_COLOR, pbr.base_color_texture(), true)?;
            let mr = pbr.metallic_roughness_texture();
            mat.metallic_roughness_texture =
                take(scene, &mut mat, slot::METALLIC_ROUGHNESS, mr, false)?;
        }
        mat.emissive_texture = take(scene, &mut mat, slot::EMISSIVE, m.emissive_texture(), true)?;
        let t = m.normal_texture();
        let normal = t.as_ref().map(|t| (t.texture(), t.tex_coord(), t.extension_value(ext)));
        mat.normal_texture = slots.take(scene, &mut mat, slot::NORMAL, normal, false)?;
        let t = m.occlusion_texture();
        let occlusion = t.as_ref().map(|t| (t.texture(), t.tex_coord(), t.extension_value(ext)));
        mat.occlusion_texture = slots.take(scene, &mut mat, slot::OCCLUSION, occlusion, false)?;
        layers(path, &m, &mut mat, &mut scene.warnings);
        layer_textures(path, doc, &m, &mut slots, scene, &mut mat)?;
        let finite = mat.base_color.iter().chain(&mat.emissive).chain([
            &mat.metallic,
            &mat.roughness,
            &mat.specular,
            &mat.normal_scale,
            &mat.occlusion_strength,
            &mat.ior,
            &mat.transmission,
            &mat.thickness,
            &mat.clearcoat,
            &mat.clearcoat_roughness,
            &mat.sheen_roughness,
        ]);
        let finite = finite.into_iter().chain(&mat.attenuation_color).chain(&mat.sheen_color);
        // (The attenuation distance may be infinite: no attenuation.)
        if finite.into_iter().any(|v| !v.is_finite()) || mat.attenuation_distance.is_nan() {
            return Err(invalid(format!("material '{}' has a non-finite factor", mat.name)));
        }
        scene.materials.push(mat);
    }
    scene.materials.push(Material::default());
    Ok(())
}

/// The textures of one material's slots, with the loader's context.
struct Slots<'a> {
    textures: &'a mut TextureCache,
    path: &'a Path,
    buffers: &'a [gltf::buffer::Data],
    material: &'a str,
}

impl Slots<'_> {
    /// Slot `at` of `mat`: its texture (None when absent or unreadable) and, in
    /// `mat.uv_transforms[at]`, its UV set and transform.
    fn take(
        &mut self,
        scene: &mut Scene,
        mat: &mut Material,
        at: usize,
        info: Option<(gltf::Texture<'_>, u32, Option<&gltf::json::Value>)>,
        srgb: bool,
    ) -> Result<Option<usize>, LoadError> {
        let Some((tex, set, transform)) = info else { return Ok(None) };
        let t = uv_transform(set, transform).map_err(|e| LoadError::Invalid {
            path: self.path.to_path_buf(),
            message: format!("material '{}': {e}", self.material),
        })?;
        mat.uv_transforms[at] = if t.set > 1 {
            // Two UV sets are read (what exporters write); a third is drawn with the first.
            let w = format!(
                "{}: material '{}' reads TEXCOORD_{}; drawn with TEXCOORD_0",
                self.path.display(),
                self.material,
                t.set
            );
            tracing::warn!("{w}");
            scene.warnings.push(w);
            UvTransform { set: 0, ..t }
        } else {
            t
        };
        self.textures.get(scene, self.path, self.buffers, Some(tex), srgb)
    }
}

/// A metallic-roughness texture made from a specular-glossiness one: roughness (green) =
/// 1 - glossiness factor x alpha, metallic (blue) 0.
fn roughness_from_glossiness(scene: &mut Scene, gloss: usize, factor: f32) -> usize {
    let src = &scene.textures[gloss];
    let pixels = match &src.pixels {
        TexturePixels::Rgba8(p) => p
            .iter()
            .map(|t| {
                let r = 1.0 - factor.clamp(0.0, 1.0) * f32::from(t[3]) / 255.0;
                [255, (r * 255.0).round() as u8, 0, 255]
            })
            .collect(),
        // glTF images decode to 8 bits.
        TexturePixels::RgbaF32(_) => return gloss,
    };
    let made = Texture {
        name: format!("{} (roughness)", src.name),
        width: src.width,
        height: src.height,
        pixels: TexturePixels::Rgba8(pixels),
        srgb: false,
        sampler: src.sampler,
    };
    scene.textures.push(made);
    scene.textures.len() - 1
}

/// The material extensions on top of metallic-roughness: KHR_materials_ior, transmission,
/// volume, clearcoat and sheen (their factors; [`layer_textures`] reads their textures; the
/// clear coat's normal map is not drawn, and `warnings` says so).
fn layers(path: &Path, m: &gltf::Material<'_>, mat: &mut Material, warnings: &mut Vec<String>) {
    let num = |v: &gltf::json::Value, key: &str, default: f32| {
        v.get(key).and_then(|x| x.as_f64()).map_or(default, |x| x as f32)
    };
    let rgb = |v: &gltf::json::Value, key: &str, default: [f32; 3]| {
        v.get(key)
            .and_then(|x| x.as_array())
            .filter(|a| a.len() == 3)
            .map_or(default, |a| std::array::from_fn(|k| a[k].as_f64().unwrap_or(0.0) as f32))
    };
    if let Some(v) = m.extension_value("KHR_materials_ior") {
        // 0 (a perfect mirror's Fresnel) or at least 1.
        mat.ior = num(v, "ior", 1.5);
        if !(mat.ior == 0.0 || mat.ior >= 1.0) {
            let w = format!(
                "{}: material '{}': ior {} is neither 0 nor at least 1; 1.5 used",
                path.display(),
                mat.name,
                mat.ior
            );
            tracing::warn!("{w}");
            warnings.push(w);
            mat.ior = 1.5;
        }
    }
    let mut untextured = |ext: &str, v: &gltf::json::Value, textures: &[&str]| {
        for t in textures.iter().filter(|t| v.get(**t).is_some()) {
            let w = format!(
                "{}: material '{}': {ext} {t} is not drawn (its factor is)",
                path.display(),
                mat.name
            );
            tracing::warn!("{w}");
            warnings.push(w);
        }
    };
    if let Some(v) = m.extension_value("KHR_materials_transmission") {
        mat.transmission = num(v, "transmissionFactor", 0.0).clamp(0.0, 1.0);
    }
    if let Some(v) = m.extension_value("KHR_materials_volume") {
        mat.thickness = num(v, "thicknessFactor", 0.0).max(0.0);
        mat.attenuation_distance = num(v, "attenuationDistance", f32::INFINITY).max(0.0);
        mat.attenuation_color = rgb(v, "attenuationColor", [1.0; 3]);
        // The thickness texture would scale a thickness the path tracer does not use (it
        // traces the mesh's own): only the flag "has a volume" matters.
    }
    if let Some(v) = m.extension_value("KHR_materials_clearcoat") {
        mat.clearcoat = num(v, "clearcoatFactor", 0.0).clamp(0.0, 1.0);
        mat.clearcoat_roughness = num(v, "clearcoatRoughnessFactor", 0.0).clamp(0.0, 1.0);
        untextured("KHR_materials_clearcoat", v, &["clearcoatNormalTexture"]);
    }
    if let Some(v) = m.extension_value("KHR_materials_sheen") {
        mat.sheen_color = rgb(v, "sheenColorFactor", [0.0; 3]);
        mat.sheen_roughness = num(v, "sheenRoughnessFactor", 0.0).clamp(0.0, 1.0);
    }
}

/// The textures of the material layers (KHR_materials_transmission, clearcoat and sheen), in
/// the extensions' JSON: each into its slot, with its UV set and transform.
fn layer_textures(
    path: &Path,
    doc: &gltf::Document,
    m: &gltf::Material<'_>,
    slots: &mut Slots<'_>,
    scene: &mut Scene,
    mat: &mut Material,
) -> Result<(), LoadError> {
    use crate::model::texture_slot as slot;
    let specs = [
        ("KHR_materials_transmission", "transmissionTexture", slot::TRANSMISSION, false),
        ("KHR_materials_clearcoat", "clearcoatTexture", slot::CLEARCOAT, false),
        ("KHR_materials_clearcoat", "clearcoatRoughnessTexture", slot::CLEARCOAT_ROUGHNESS, false),
        ("KHR_materials_sheen", "sheenColorTexture", slot::SHEEN_COLOR, true),
        ("KHR_materials_sheen", "sheenRoughnessTexture", slot::SHEEN_ROUGHNESS, false),
    ];
    for (ext, key, at, srgb) in specs {
        let Some(info) = m.extension_value(ext).and_then(|v| v.get(key)) else { continue };
        let index = info.get("index").and_then(|i| i.as_u64());
        let tex = index.and_then(|i| doc.textures().nth(usize::try_from(i).ok()?));
        let Some(tex) = tex else {
            return Err(LoadError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "material '{}': {ext} {key} names no texture ({})",
                    mat.name,
                    info.get("index").map_or("no index".into(), |i| i.to_string())
                ),
            });
        };
        let tex_coord = info
            .get("texCoord")
            .and_then(|c| c.as_u64())
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0);
        let transform = info.get("extensions").and_then(|e| e.get("KHR_texture_transform"));
        let t = slots.take(scene, mat, at, Some((tex, tex_coord, transform)), srgb)?;
        let field = match at {
            slot::TRANSMISSION => &mut mat.transmission_texture,
            slot::CLEARCOAT => &mut mat.clearcoat_texture,
            slot::CLEARCOAT_ROUGHNESS => &mut mat.clearcoat_roughness_texture,
            slot::SHEEN_COLOR => &mut mat.sheen_color_texture,
            _ => &mut mat.sheen_roughness_texture,
        };
        *field = t;
    }
    Ok(())
}

/// A texture slot's UV set (`texCoord`, which KHR_texture_transform may override) and
/// transform, from the extension's JSON object (absent: the identity).
fn uv_transform(tex_coord: u32, ext: Option<&gltf::json::Value>) -> Result<UvTransform, String> {
    let mut t = UvTransform { set: tex_coord, ..Default::default() };
    let Some(v) = ext else { return Ok(t) };
    let pair = |key: &str, default: [f32; 2]| -> Result<[f32; 2], String> {
        match v.get(key) {
            None => Ok(default),
            Some(a) => match a.as_array().map(|a| a.iter().map(|x| x.as_f64()).collect::<Vec<_>>())
            {
                Some(x) if x.len() == 2 && x.iter().all(|c| c.is_some_and(f64::is_finite)) => {
                    Ok([x[0].unwrap_or(0.0) as f32, x[1].unwrap_or(0.0) as f32])
                }
                _ => Err(format!("KHR_texture_transform {key} is not two finite numbers")),
            },
        }
    };
    t.offset = pair("offset", [0.0; 2])?;
    t.scale = pair("scale", [1.0; 2])?;
    t.rotation = match v.get("rotation") {
        None => 0.0,
        Some(r) => match r.as_f64() {
            Some(r) if r.is_finite() => r as f32,
            _ => return Err("KHR_texture_transform rotation is not a finite number".into()),
        },
    };
    if let Some(c) = v.get("texCoord") {
        t.set = c
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .ok_or("KHR_texture_transform texCoord is not an unsigned integer")?;
    }
    Ok(t)
}

/// KHR_materials_pbrSpecularGlossiness converted to metallic-roughness on load: the diffuse
/// color becomes the base color (its texture already taken), roughness = 1 - glossiness, and
/// the specular color sets KHR_materials_specular's strength of a dielectric (its largest
/// component over the dielectric 0.04) or, for a specular color above any dielectric's, a
/// metal of that color. The specular-glossiness texture has no metallic-roughness
/// equivalent without resampling: its factors are kept, and a warning would be noise, so the
/// conversion is documented (README) instead.
fn specular_glossiness(mat: &mut Material, sg: &gltf::material::PbrSpecularGlossiness<'_>) {
    mat.base_color = sg.diffuse_factor();
    mat.roughness = (1.0 - sg.glossiness_factor()).clamp(0.0, 1.0);
    let spec = sg.specular_factor();
    let peak = spec.iter().fold(0.0f32, |a, &b| a.max(b));
    // With a texture the factors only scale it (the specular factor is then usually 1):
    // only untextured materials can be told to be metals.
    let textured = sg.diffuse_texture().is_some() || sg.specular_glossiness_texture().is_some();
    if peak > 0.2 && !textured {
        // Brighter than any dielectric (f0 0.02-0.08): a metal whose base color is the
        // specular color, tinted by nothing else.
        mat.metallic = 1.0;
        mat.base_color = [spec[0], spec[1], spec[2], mat.base_color[3]];
        mat.base_color_texture = None;
    } else {
        mat.metallic = 0.0;
        mat.specular = (peak / 0.04).clamp(0.0, 1.0);
    }
}

/// Lines and point primitives of each mesh, placed with their nodes at the end.
type MeshExtras = (Vec<Vec<LineSet>>, Vec<Vec<PointSet>>);

/// Step 2: the meshes; every primitive checked (accessor types, indices in range, finite
/// values), strips and fans made lists, no normals meaning flat shading; line and point
/// primitives kept apart.
fn load_meshes(
    path: &Path,
    doc: &gltf::Document,
    buffers: &[gltf::buffer::Data],
    scene: &mut Scene,
) -> Result<MeshExtras, LoadError> {
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    // The default material is the last one (step 1).
    let default_material = scene.materials.len() - 1;
    let mut mesh_lines: Vec<Vec<LineSet>> = Vec::new();
    let mut mesh_points: Vec<Vec<PointSet>> = Vec::new();
    for mesh in doc.meshes() {
        use gltf::mesh::Mode;
        let mut out = Mesh { name: mesh.name().unwrap_or("").to_string(), primitives: Vec::new() };
        let (mut lines, mut points) = (Vec::new(), Vec::new());
        for (pi, prim) in mesh.primitives().enumerate() {
            let what = || format!("mesh '{}' primitive {pi}", mesh.name().unwrap_or(""));
            // Strips and fans become triangle lists below; every glTF mode is drawn.
            let (mode, triangles_from) = match prim.mode() {
                m @ (Mode::TriangleStrip | Mode::TriangleFan) => (Mode::Triangles, Some(m)),
                m => (m, None),
            };
            // Accessor types the reader would misread (or panic on): check them first.
            use gltf::accessor::{DataType, Dimensions};
            use gltf::mesh::Semantic;
            let check = |sem: Semantic,
                         types: &[DataType],
                         dims: &[Dimensions]|
             -> Result<bool, LoadError> {
                match prim.get(&sem) {
                    None => Ok(false),
                    Some(a) if types.contains(&a.data_type()) && dims.contains(&a.dimensions()) => {
                        Ok(true)
                    }
                    Some(a) => Err(invalid(format!(
                        "{}: {sem:?} accessor is {:?} {:?}, expected {types:?} {dims:?}",
                        what(),
                        a.data_type(),
                        a.dimensions()
                    ))),
                }
            };
            // Floats, or KHR_mesh_quantization's integers (normalized or not for positions
            // and UVs; normalized signed for normals and tangents).
            use DataType::{F32, I16, I8, U16, U8};
            let any = &[F32, I8, U8, I16, U16][..];
            let signed = &[F32, I8, I16][..];
            check(Semantic::Positions, any, &[Dimensions::Vec3])?;
            let has_normals = check(Semantic::Normals, signed, &[Dimensions::Vec3])?;
            let has_colors =
                check(Semantic::Colors(0), &[U8, U16, F32], &[Dimensions::Vec3, Dimensions::Vec4])?;
            let has_uvs = check(Semantic::TexCoords(0), any, &[Dimensions::Vec2])?;
            let has_uvs1 = check(Semantic::TexCoords(1), any, &[Dimensions::Vec2])?;
            let has_tangents = check(Semantic::Tangents, signed, &[Dimensions::Vec4])?;
            let has_joints = check(Semantic::Joints(0), &[U8, U16], &[Dimensions::Vec4])?;
            let has_weights = check(Semantic::Weights(0), &[F32, U8, U16], &[Dimensions::Vec4])?;
            if prim.get(&Semantic::Joints(1)).is_some() {
                let w = format!(
                    "{}: {}: more than four joints per vertex (JOINTS_1): the first four move it",
                    path.display(),
                    what()
                );
                tracing::warn!("{w}");
                scene.warnings.push(w);
            }
            if let Some(a) = prim.indices() {
                let int = matches!(a.data_type(), U8 | U16 | DataType::U32);
                if !int || a.dimensions() != Dimensions::Scalar {
                    return Err(invalid(format!(
                        "{}: index accessor is {:?} {:?}, expected unsigned integer scalars",
                        what(),
                        a.data_type(),
                        a.dimensions()
                    )));
                }
            }
            let reader = prim.reader(|b| buffers.get(b.index()).map(|d| &d.0[..]));
            let get = |b: gltf::Buffer<'_>| buffers.get(b.index()).map(|d| &d.0[..]);
            let positions: Vec<[f32; 3]> = prim
                .get(&Semantic::Positions)
                .and_then(|a| read_floats(a, get))
                .ok_or_else(|| invalid(format!("{}: no POSITION", what())))?;
            if positions.iter().flatten().any(|v| !v.is_finite()) {
                return Err(invalid(format!("{}: non-finite (NaN or infinite) positions", what())));
            }
            let indices: Vec<u32> = match (reader.read_indices(), prim.indices()) {
                (Some(i), _) => i.into_u32().collect(),
                (None, None) => (0..positions.len() as u32).collect(),
                (None, Some(_)) => {
                    return Err(invalid(format!(
                        "{}: index accessor lies outside its buffer",
                        what()
                    )))
                }
            };
            let indices = match triangles_from {
                Some(m) => triangle_list(m, &indices),
                None => indices,
            };
            if mode == Mode::Triangles && indices.len() % 3 != 0 {
                return Err(invalid(format!(
                    "{}: {} indices is not a triangle list",
                    what(),
                    indices.len()
                )));
            }
            if let Some(bad) = indices.iter().find(|&&i| i as usize >= positions.len()) {
                return Err(invalid(format!(
                    "{}: index {bad} out of range ({} vertices)",
                    what(),
                    positions.len()
                )));
            }
            // Quantized normals are unit only to their precision.
            let normals: Option<Vec<[f32; 3]>> = prim
                .get(&Semantic::Normals)
                .and_then(|a| read_floats(a, get))
                .map(|n| n.into_iter().map(|v| Vec3::from(v).normalize_or_zero().into()).collect());
            if has_normals && normals.is_none() {
                return Err(invalid(format!(
                    "{}: NORMAL accessor lies outside its buffer",
                    what()
                )));
            }
            let attr = |name: &str, declared: bool, values: Option<Vec<f32>>, n: usize| {
                attribute(name, declared, values, n, positions.len())
                    .map_err(|m| invalid(format!("{}: {m}", what())))
            };
            let flat4 = |v: Vec<[f32; 4]>| v.into_iter().flatten().collect::<Vec<f32>>();
            let colors = attr(
                "COLOR_0",
                has_colors,
                reader.read_colors(0).map(|c| flat4(c.into_rgba_f32().collect())),
                4,
            )?;
            let colors: Vec<[f32; 4]> =
                colors.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect();
            let flat2 = |v: Vec<[f32; 2]>| v.into_iter().flatten().collect::<Vec<f32>>();
            let pairs = |v: Vec<f32>| v.chunks_exact(2).map(|c| [c[0], c[1]]).collect::<Vec<_>>();
            let uvs = attr(
                "TEXCOORD_0",
                has_uvs,
                prim.get(&Semantic::TexCoords(0)).and_then(|a| read_floats(a, get)).map(flat2),
                2,
            )?;
            let uvs1 = attr(
                "TEXCOORD_1",
                has_uvs1,
                prim.get(&Semantic::TexCoords(1)).and_then(|a| read_floats(a, get)).map(flat2),
                2,
            )?;
            let (uvs, uvs1) = (pairs(uvs), pairs(uvs1));
            let tangents = attr(
                "TANGENT",
                has_tangents,
                prim.get(&Semantic::Tangents).and_then(|a| read_floats(a, get)).map(flat4),
                4,
            )?;
            let tangents: Vec<[f32; 4]> =
                tangents.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect();
            // Skinning: both attributes or neither.
            let (joints, weights) = if has_joints && has_weights {
                let joints = attr(
                    "JOINTS_0",
                    true,
                    prim.get(&Semantic::Joints(0)).and_then(|a| read_floats(a, get)).map(flat4),
                    4,
                )?;
                let weights = attr(
                    "WEIGHTS_0",
                    true,
                    prim.get(&Semantic::Weights(0)).and_then(|a| read_floats(a, get)).map(flat4),
                    4,
                )?;
                if weights.iter().any(|&w| w < 0.0) {
                    return Err(invalid(format!("{}: negative WEIGHTS_0", what())));
                }
                let quad = |v: &[f32]| [v[0], v[1], v[2], v[3]];
                let joints: Vec<[u16; 4]> =
                    joints.chunks_exact(4).map(|c| quad(c).map(|j| j as u16)).collect();
                (joints, weights.chunks_exact(4).map(quad).collect())
            } else {
                if has_joints || has_weights {
                    let w = format!(
                        "{}: {}: JOINTS_0 without WEIGHTS_0 or the reverse: not skinned",
                        path.display(),
                        what()
                    );
                    tracing::warn!("{w}");
                    scene.warnings.push(w);
                }
                (Vec::new(), Vec::new())
            };
            let mut targets = Vec::new();
            for (ti, t) in prim.morph_targets().enumerate() {
                let read = |a: Option<gltf::Accessor<'_>>, name: &str| match a {
                    None => Ok(Vec::new()),
                    Some(a)
                        if a.dimensions() != Dimensions::Vec3 || a.data_type() == DataType::U32 =>
                    {
                        Err(invalid(format!(
                            "{}: morph target {ti} {name} is {:?} {:?}, expected VEC3",
                            what(),
                            a.data_type(),
                            a.dimensions()
                        )))
                    }
                    Some(a) => read_floats::<3>(a, get)
                        .filter(|v| {
                            v.len() == positions.len() && v.iter().flatten().all(|x| x.is_finite())
                        })
                        .ok_or_else(|| {
                            invalid(format!(
                                "{}: morph target {ti} {name}: count or values invalid",
                                what()
                            ))
                        }),
                };
                targets.push(crate::deform::MorphTarget {
                    positions: read(t.positions(), "POSITION")?,
                    normals: read(t.normals(), "NORMAL")?,
                    tangents: read(t.tangents(), "TANGENT")?,
                });
            }
            if mode != Mode::Triangles {
                // Unlit, in the vertex colors times the material's base color.
                let base = prim
                    .material()
                    .index()
                    .and_then(|m| scene.materials.get(m))
                    .map_or([1.0; 4], |m| m.base_color);
                let color = |i: u32| {
                    let c = colors.get(i as usize).copied().unwrap_or([1.0; 4]);
                    pack_srgba8(std::array::from_fn(|k| c[k] * base[k])).to_le_bytes()
                };
                let mut order = indices;
                if mode == Mode::LineLoop && order.len() > 1 {
                    order.push(order[0]);
                }
                let positions = order.iter().map(|&i| positions[i as usize]).collect();
                let colors = order.iter().map(|&i| color(i)).collect();
                let name = format!("{} {pi}", mesh.name().unwrap_or("mesh"));
                if mode == Mode::Points {
                    let (transform, size_px) = (Mat4::IDENTITY, 2.0);
                    points.push(PointSet {
                        transform,
                        colors,
                        size_px,
                        ..PointSet::new(&name, positions)
                    });
                } else {
                    let strip = mode != Mode::Lines;
                    let transform = Mat4::IDENTITY;
                    lines.push(LineSet {
                        name,
                        transform,
                        positions,
                        colors,
                        strip,
                        width_px: 1.0,
                        visible: true,
                        node: None,
                    });
                }
                continue;
            }
            let material = prim.material().index().unwrap_or(default_material);
            let primitive = match normals {
                Some(n)
                    if n.len() == positions.len() && n.iter().flatten().all(|v| v.is_finite()) =>
                {
                    Primitive {
                        positions,
                        normals: n,
                        colors,
                        uvs,
                        uvs1,
                        tangents,
                        indices,
                        material,
                        joints,
                        weights,
                        targets,
                        ..Default::default()
                    }
                }
                Some(_) => {
                    return Err(invalid(format!("{}: NORMAL count or values invalid", what())))
                }
                // Flat shading: the file's tangents belong to its (absent) smooth normals;
                // normal maps fall back to the derivative frame.
                None => {
                    let p = Primitive {
                        positions,
                        colors,
                        uvs,
                        uvs1,
                        indices,
                        material,
                        joints,
                        weights,
                        targets,
                        ..Default::default()
                    };
                    flat_shaded(&p)
                }
            };
            out.primitives.push(primitive);
        }
        scene.meshes.push(out);
        mesh_lines.push(lines);
        mesh_points.push(points);
    }

    Ok((mesh_lines, mesh_points))
}

/// Step 3: the punctual lights (KHR_lights_punctual).
fn load_lights(doc: &gltf::Document, scene: &mut Scene) {
    for l in doc.lights().into_iter().flatten() {
        use gltf::khr_lights_punctual::Kind;
        let kind = match l.kind() {
            Kind::Directional => LightKind::Directional,
            Kind::Point => LightKind::Point,
            Kind::Spot { inner_cone_angle, outer_cone_angle } => {
                LightKind::Spot { inner: inner_cone_angle, outer: outer_cone_angle }
            }
        };
        scene.lights.push(Light {
            name: l.name().unwrap_or("").to_string(),
            kind,
            color: l.color(),
            intensity: l.intensity(),
            shadows: true,
            // The extension requires a positive range; anything else counts as none.
            range: l.range().filter(|r| r.is_finite() && *r > 0.0),
        });
    }
}

/// Step 4: the cameras (checked: a usable projection).
fn load_cameras(path: &Path, doc: &gltf::Document, scene: &mut Scene) -> Result<(), LoadError> {
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    for c in doc.cameras() {
        match c.projection() {
            gltf::camera::Projection::Perspective(p) => {
                let name = c.name().unwrap_or("").to_string();
                let ok = p.yfov().is_finite()
                    && p.yfov() > 0.0
                    && p.yfov() < std::f32::consts::PI
                    && p.znear().is_finite()
                    && p.znear() > 0.0
                    && p.zfar().is_none_or(|f| f.is_finite() && f > p.znear())
                    && p.aspect_ratio().is_none_or(|a| a.is_finite() && a > 0.0);
                if !ok {
                    return Err(invalid(format!(
                        "camera '{name}': yfov must be in (0, pi), 0 < znear < zfar, aspect > 0"
                    )));
                }
                scene.cameras.push(Camera {
                    name,
                    projection: Projection::Perspective { yfov: p.yfov() },
                    aspect: p.aspect_ratio(),
                    znear: p.znear(),
                    zfar: p.zfar(),
                })
            }
            gltf::camera::Projection::Orthographic(o) => {
                let name = c.name().unwrap_or("").to_string();
                let positive = |v: f32| v.is_finite() && v > 0.0;
                let ok = positive(o.xmag())
                    && positive(o.ymag())
                    && o.znear().is_finite()
                    && o.znear() >= 0.0
                    && o.zfar().is_finite()
                    && o.zfar() > o.znear();
                if !ok {
                    return Err(invalid(format!(
                        "camera '{name}': orthographic xmag and ymag must be > 0, \
                         0 <= znear < zfar"
                    )));
                }
                scene.cameras.push(Camera {
                    name,
                    projection: Projection::Orthographic { ymag: o.ymag() },
                    aspect: Some(o.xmag() / o.ymag()),
                    znear: o.znear(),
                    zfar: Some(o.zfar()),
                });
            }
        }
    }

    Ok(())
}

/// Step 5: the default scene's node hierarchy (parents first, transforms finite) and the
/// environment of the conventions.
fn load_nodes(
    path: &Path,
    doc: &gltf::Document,
    scene: &mut Scene,
) -> Result<Vec<Option<usize>>, LoadError> {
    // Each glTF node's index in the scene (None: not in the scene shown).
    let mut placed = vec![None; doc.nodes().len()];
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    let gscene = doc.default_scene().or_else(|| doc.scenes().next());
    if let Some(s) = &gscene {
        let mut stack: Vec<(gltf::Node<'_>, Option<usize>)> =
            s.nodes().map(|n| (n, None)).collect();
        stack.reverse();
        let mut depth = 0usize;
        while let Some((n, parent)) = stack.pop() {
            depth += 1;
            if depth > 1_000_000 {
                return Err(invalid("node hierarchy too large or cyclic".into()));
            }
            let local = match n.transform() {
                gltf::scene::Transform::Matrix { matrix } => Mat4::from_cols_array_2d(&matrix),
                gltf::scene::Transform::Decomposed { translation, rotation, scale } => {
                    Mat4::from_scale_rotation_translation(
                        Vec3::from(scale),
                        Quat::from_array(rotation),
                        Vec3::from(translation),
                    )
                }
            };
            if !local.is_finite() {
                return Err(invalid(format!(
                    "node '{}' has a non-finite transform",
                    n.name().unwrap_or("")
                )));
            }
            let index = scene.nodes.len();
            if let Some(p) = placed.get_mut(n.index()) {
                p.get_or_insert(index);
            }
            scene.nodes.push(Node {
                name: n.name().unwrap_or("").to_string(),
                parent,
                local,
                world: local,
                mesh: n.mesh().map(|m| m.index()),
                camera: n.camera().map(|c| c.index()),
                light: n.light().map(|l| l.index()),
                instances: Vec::new(),
                skin: n.skin().map(|s| s.index()),
                morph_weights: n
                    .weights()
                    .or_else(|| n.mesh().and_then(|m| m.weights()))
                    .map(|w| w.iter().map(|x| if x.is_finite() { *x } else { 0.0 }).collect())
                    .unwrap_or_default(),
                visible: true,
                cast_shadows: true,
            });
            let children: Vec<_> = n.children().collect();
            for c in children.into_iter().rev() {
                stack.push((c, Some(index)));
            }
        }
        // The conventions put the environment in `scenes[0].extras`.
        let first = doc.scenes().next();
        let extras = first.as_ref().map(|f| f.extras()).unwrap_or(s.extras());
        scene.environment = environment(path, extras)?;
    }
    Ok(placed)
}

/// Step 5a: the skins (joints as scene nodes, inverse bind matrices; identity where the file
/// gives none).
fn load_skins(
    path: &Path,
    doc: &gltf::Document,
    buffers: &[gltf::buffer::Data],
    scene: &mut Scene,
    placed: &[Option<usize>],
) -> Result<(), LoadError> {
    for skin in doc.skins() {
        let name = skin.name().unwrap_or("").to_string();
        let invalid = |m: &str| LoadError::Invalid {
            path: path.to_path_buf(),
            message: format!("skin '{name}': {m}"),
        };
        // A joint outside the scene shown stays where its bind matrix puts it.
        let joints: Vec<usize> = skin
            .joints()
            .map(|j| placed.get(j.index()).copied().flatten().unwrap_or(usize::MAX))
            .collect();
        let reader = skin.reader(|b| buffers.get(b.index()).map(|d| &d.0[..]));
        let inverse_bind: Vec<Mat4> =
            match (reader.read_inverse_bind_matrices(), skin.inverse_bind_matrices()) {
                (Some(m), _) => m.map(|c| Mat4::from_cols_array_2d(&c)).collect(),
                (None, None) => vec![Mat4::IDENTITY; joints.len()],
                (None, Some(_)) => {
                    return Err(invalid("inverse bind matrices lie outside their buffer"))
                }
            };
        if inverse_bind.len() < joints.len() || !inverse_bind.iter().all(|m| m.is_finite()) {
            return Err(invalid("inverse bind matrices: count or values invalid"));
        }
        scene.skins.push(crate::deform::Skin { name, joints, inverse_bind });
    }
    let (skins, meshes) = (scene.skins.len(), &scene.meshes);
    for n in &mut scene.nodes {
        if n.skin.is_some_and(|s| s >= skins) {
            n.skin = None;
        }
        // Joint indices past the skin's joints would read outside the joint matrices.
        if let (Some(s), Some(m)) = (n.skin, n.mesh.and_then(|m| meshes.get(m))) {
            let count = scene.skins[s].joints.len();
            if let Some(bad) = m
                .primitives
                .iter()
                .flat_map(|p| p.joints.iter().flatten())
                .find(|&&j| usize::from(j) >= count)
            {
                return Err(LoadError::Invalid {
                    path: path.to_path_buf(),
                    message: format!(
                        "node '{}': joint {bad} of a skin with {count} joints",
                        n.name
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Step 5b: each node that deforms a mesh (skin or morph targets) gets a mesh of its own,
/// since the deformation is the node's: a mesh drawn by several such nodes is copied.
fn unshare_deformed_meshes(
    scene: &mut Scene,
    mesh_lines: &mut Vec<Vec<LineSet>>,
    mesh_points: &mut Vec<Vec<PointSet>>,
) {
    let mut owner: Vec<bool> = vec![false; scene.meshes.len()];
    for i in 0..scene.nodes.len() {
        let Some(m) = scene.nodes[i].mesh.filter(|&m| m < scene.meshes.len()) else { continue };
        let skinned = scene.nodes[i].skin.is_some();
        if !scene.meshes[m].primitives.iter().any(|p| p.is_deformed(skinned)) {
            continue;
        }
        if !owner[m] {
            owner[m] = true;
            continue;
        }
        let copy = scene.meshes[m].clone();
        scene.meshes.push(copy);
        owner.push(true);
        mesh_lines.push(mesh_lines.get(m).cloned().unwrap_or_default());
        mesh_points.push(mesh_points.get(m).cloned().unwrap_or_default());
        scene.nodes[i].mesh = Some(scene.meshes.len() - 1);
    }
}

/// Step 5c: every animation of the file as a clip ([`Scene::clips`]): its node channels
/// (translation, rotation, scale, morph target weights; STEP, LINEAR and CUBICSPLINE) as
/// tracks over the nodes' rest transforms. What plays at first: every clip when no two
/// animate the same channel of a node (one animation per object, as in InterpolationTest),
/// else the first (clips of one skeleton: Walk, Run, ...); the timeline chooses another.
fn load_animations(
    path: &Path,
    doc: &gltf::Document,
    buffers: &[gltf::buffer::Data],
    scene: &mut Scene,
    placed: &[Option<usize>],
) -> Result<(), LoadError> {
    for (ai, anim) in doc.animations().enumerate() {
        let name = anim.name().map_or_else(|| format!("animation {ai}"), str::to_string);
        let animations = load_animation(path, &anim, &name, buffers, scene, placed)?;
        scene.clips.push(crate::model::Clip { name, animations });
    }
    if scene.clips.is_empty() {
        return Ok(());
    }
    // Together when no two clips animate the same channel of a node.
    let mut seen = std::collections::BTreeSet::new();
    let disjoint = scene.clips.iter().all(|c| {
        c.animations.iter().all(|a| {
            let channels = [
                a.translation.is_some(),
                a.rotation.is_some(),
                a.scale.is_some(),
                a.weights.is_some(),
            ];
            (0..4).filter(|&k| channels[k]).all(|k| seen.insert((a.node, k)))
        })
    });
    scene.play_clip(if disjoint { None } else { Some(0) });
    if !disjoint {
        let w = format!(
            "{}: {} animations of the same nodes; '{}' plays (choose another in the timeline)",
            path.display(),
            scene.clips.len(),
            scene.clips[0].name
        );
        tracing::info!("{w}");
    }
    Ok(())
}

/// One animation's channels, per node.
fn load_animation(
    path: &Path,
    anim: &gltf::Animation<'_>,
    name: &str,
    buffers: &[gltf::buffer::Data],
    scene: &Scene,
    placed: &[Option<usize>],
) -> Result<Vec<crate::model::NodeAnimation>, LoadError> {
    use crate::time::{Interpolation, Timing, Track};
    use gltf::animation::util::ReadOutputs;
    let invalid = |channel: usize, m: String| LoadError::Invalid {
        path: path.to_path_buf(),
        message: format!("animation '{name}' channel {channel}: {m}"),
    };
    let mut by_node: std::collections::BTreeMap<usize, crate::model::NodeAnimation> =
        Default::default();
    for (ci, ch) in anim.channels().enumerate() {
        let Some(node) = placed.get(ch.target().node().index()).copied().flatten() else {
            continue;
        };
        let reader = ch.reader(|b| buffers.get(b.index()).map(|d| &d.0[..]));
        let times: Vec<f64> = reader
            .read_inputs()
            .ok_or_else(|| invalid(ci, "no input times".into()))?
            .map(f64::from)
            .collect();
        let interpolation = match ch.sampler().interpolation() {
            gltf::animation::Interpolation::Step => Interpolation::Step,
            gltf::animation::Interpolation::Linear => Interpolation::Linear,
            gltf::animation::Interpolation::CubicSpline => Interpolation::CubicSpline,
        };
        let outputs = reader.read_outputs().ok_or_else(|| invalid(ci, "no outputs".into()))?;
        // A track of `values` (CUBICSPLINE: in-tangent, value, out-tangent per key).
        fn track<T: crate::time::Animatable>(
            times: &[f64],
            values: Vec<T>,
            interpolation: Interpolation,
        ) -> Result<Track<T>, String> {
            let timing = Timing::Times(times.to_vec());
            if interpolation != Interpolation::CubicSpline {
                let mut t = Track::new(timing, values.into_iter().map(Some).collect())
                    .map_err(|e| e.to_string())?;
                t.interpolation = interpolation;
                return Ok(t);
            }
            if values.len() != 3 * times.len() {
                return Err(format!("{} outputs for {} cubic keys", values.len(), times.len()));
            }
            let keys: Vec<Option<T>> = values.chunks(3).map(|c| Some(c[1].clone())).collect();
            let tangents = values.chunks(3).map(|c| (c[0].clone(), c[2].clone())).collect();
            Track::new(timing, keys)
                .and_then(|t| t.with_tangents(tangents))
                .map_err(|e| e.to_string())
        }
        let local = scene.nodes[node].local;
        let entry = by_node.entry(node).or_insert_with(|| crate::model::NodeAnimation {
            node,
            rest: local.to_scale_rotation_translation(),
            translation: None,
            rotation: None,
            scale: None,
            weights: None,
        });
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        match outputs {
            ReadOutputs::Translations(t) => {
                let v: Vec<Vec3> = t.map(Vec3::from).collect();
                if !v.iter().all(|x| x.is_finite()) {
                    return Err(invalid(ci, "non-finite translations".into()));
                }
                entry.translation =
                    Some(track(&times, v, interpolation).map_err(|m| invalid(ci, m))?);
            }
            ReadOutputs::Rotations(r) => {
                let v: Vec<Quat> = r.into_f32().map(Quat::from_array).collect();
                if !v.iter().all(|q| finite(&q.to_array())) {
                    return Err(invalid(ci, "non-finite rotations".into()));
                }
                entry.rotation = Some(track(&times, v, interpolation).map_err(|m| invalid(ci, m))?);
            }
            ReadOutputs::Scales(s) => {
                let v: Vec<Vec3> = s.map(Vec3::from).collect();
                if !v.iter().all(|x| x.is_finite()) {
                    return Err(invalid(ci, "non-finite scales".into()));
                }
                entry.scale = Some(track(&times, v, interpolation).map_err(|m| invalid(ci, m))?);
            }
            ReadOutputs::MorphTargetWeights(w) => {
                // One weight per target of the node's mesh, per key (and tangent).
                let targets = scene.nodes[node]
                    .mesh
                    .and_then(|m| scene.meshes.get(m))
                    .map_or(0, |m| m.primitives.iter().map(|p| p.targets.len()).max().unwrap_or(0));
                let flat: Vec<f32> = w.into_f32().collect();
                if targets == 0 {
                    continue;
                }
                if flat.len() % targets != 0 || !finite(&flat) {
                    return Err(invalid(
                        ci,
                        format!("{} weights for a mesh of {targets} targets", flat.len()),
                    ));
                }
                let v: Vec<Vec<f32>> = flat.chunks(targets).map(<[f32]>::to_vec).collect();
                entry.weights = Some(track(&times, v, interpolation).map_err(|m| invalid(ci, m))?);
            }
        }
    }
    Ok(by_node.into_values().collect())
}

/// Step 6: the meshes' lines and points, placed with the world transforms of the nodes
/// that draw them.
fn place_lines_and_points(
    scene: &mut Scene,
    mesh_lines: &[Vec<LineSet>],
    mesh_points: &[Vec<PointSet>],
) {
    let nodes = std::mem::take(&mut scene.nodes);
    for (i, n) in nodes.iter().enumerate() {
        let Some(m) = n.mesh else { continue };
        // They follow their node (an animated node moves them).
        for l in mesh_lines.get(m).into_iter().flatten() {
            scene.line_sets.push(LineSet { transform: n.world, node: Some(i), ..l.clone() });
        }
        for p in mesh_points.get(m).into_iter().flatten() {
            scene.point_sets.push(PointSet { transform: n.world, node: Some(i), ..p.clone() });
        }
    }
    scene.nodes = nodes;
}

/// Unwelds the triangles of `src` (its normals and tangents ignored) and gives each vertex its
/// face normal (glTF: no NORMAL means flat); colors, UVs and scalars (each empty or one per
/// position) follow their vertices.
pub fn flat_shaded(src: &Primitive) -> Primitive {
    let mut p = Primitive { material: src.material, ..Default::default() };
    for t in src.indices.chunks_exact(3) {
        let v = [0, 1, 2].map(|k| Vec3::from(src.positions[t[k] as usize]));
        let n = (v[1] - v[0]).cross(v[2] - v[0]).normalize_or_zero();
        for (k, vk) in v.into_iter().enumerate() {
            let i = t[k] as usize;
            p.indices.push(p.positions.len() as u32);
            p.positions.push(vk.into());
            p.normals.push(n.into());
            p.colors.extend(src.colors.get(i));
            p.uvs.extend(src.uvs.get(i));
            p.uvs1.extend(src.uvs1.get(i));
            p.scalars.extend(src.scalars.get(i));
            p.joints.extend(src.joints.get(i));
            p.weights.extend(src.weights.get(i));
        }
    }
    // Morph targets move the unwelded corners (their normals belonged to smooth ones).
    p.targets = src
        .targets
        .iter()
        .map(|t| crate::deform::MorphTarget {
            positions: if t.positions.is_empty() {
                Vec::new()
            } else {
                src.indices.iter().map(|&i| t.positions[i as usize]).collect()
            },
            ..Default::default()
        })
        .collect();
    p
}

/// A triangle strip or fan as a triangle list with glTF's vertex order (strip triangle i:
/// p_i, p_(i+1+i%2), p_(i+2-i%2); fan triangle i: p_(i+1), p_(i+2), p_0), so that every
/// triangle keeps the front-facing winding.
fn triangle_list(mode: gltf::mesh::Mode, p: &[u32]) -> Vec<u32> {
    let n = p.len().saturating_sub(2);
    let mut out = Vec::with_capacity(3 * n);
    for i in 0..n {
        let t = if mode == gltf::mesh::Mode::TriangleFan {
            [p[i + 1], p[i + 2], p[0]]
        } else {
            [p[i], p[i + 1 + i % 2], p[i + 2 - i % 2]]
        };
        out.extend(t);
    }
    out
}

/// An optional vertex attribute of `n` floats per vertex: empty when absent, an error when
/// declared but unreadable, of the wrong count or not finite.
fn attribute(
    name: &str,
    declared: bool,
    values: Option<Vec<f32>>,
    n: usize,
    vertices: usize,
) -> Result<Vec<f32>, String> {
    match values {
        None if declared => Err(format!("{name} accessor lies outside its buffer")),
        None => Ok(Vec::new()),
        Some(v) if v.len() != vertices * n || v.iter().any(|x| !x.is_finite()) => {
            Err(format!("{name} count or values invalid"))
        }
        Some(v) => Ok(v),
    }
}

/// An accessor's elements as floats, whatever their component type: floats as they are,
/// integers normalized to [0, 1] or [-1, 1] when the accessor says so, else converted
/// (KHR_mesh_quantization). None when the data lies outside its buffer.
fn read_floats<'a, 's, const N: usize>(
    accessor: gltf::Accessor<'a>,
    get: impl Clone + Fn(gltf::Buffer<'a>) -> Option<&'s [u8]>,
) -> Option<Vec<[f32; N]>>
where
    [f32; N]: gltf::accessor::Item,
    [i8; N]: gltf::accessor::Item,
    [u8; N]: gltf::accessor::Item,
    [i16; N]: gltf::accessor::Item,
    [u16; N]: gltf::accessor::Item,
{
    use gltf::accessor::{DataType, Iter};
    let norm = accessor.normalized();
    fn conv<T: Copy, const N: usize>(it: Iter<'_, [T; N]>, f: impl Fn(T) -> f32) -> Vec<[f32; N]>
    where
        [T; N]: gltf::accessor::Item,
    {
        it.map(|v| v.map(&f)).collect()
    }
    let scale = |max: f32| move |c: f32| if norm { (c / max).max(-1.0) } else { c };
    Some(match accessor.data_type() {
        DataType::F32 => Iter::<[f32; N]>::new(accessor, get)?.collect(),
        DataType::I8 => conv(Iter::<[i8; N]>::new(accessor, get)?, |c| scale(127.0)(c.into())),
        DataType::U8 => conv(Iter::<[u8; N]>::new(accessor, get)?, |c| scale(255.0)(c.into())),
        DataType::I16 => conv(Iter::<[i16; N]>::new(accessor, get)?, |c| scale(32767.0)(c.into())),
        DataType::U16 => conv(Iter::<[u16; N]>::new(accessor, get)?, |c| scale(65535.0)(c.into())),
        DataType::U32 => return None,
    })
}

/// Textures of a glTF file: each (texture, color space) pair becomes one scene texture; each
/// image is decoded once.
#[derive(Default)]
struct TextureCache {
    made: std::collections::HashMap<(usize, bool), usize>,
    /// Decoded images by index (None: could not be read, already reported).
    #[allow(clippy::type_complexity)]
    decoded: std::collections::HashMap<usize, Option<(u32, u32, Vec<[u8; 4]>)>>,
}

impl TextureCache {
    fn get(
        &mut self,
        scene: &mut Scene,
        path: &Path,
        buffers: &[gltf::buffer::Data],
        tex: Option<gltf::Texture<'_>>,
        srgb: bool,
    ) -> Result<Option<usize>, LoadError> {
        let Some(tex) = tex else { return Ok(None) };
        if let Some(&i) = self.made.get(&(tex.index(), srgb)) {
            return Ok(Some(i));
        }
        let image = tex.source();
        let (width, height, texels) = match self.decoded.get(&image.index()) {
            Some(Some(d)) => d.clone(),
            Some(None) => return Ok(None),
            None => match decode_image(path, buffers, &image) {
                Ok(d) => {
                    self.decoded.insert(image.index(), Some(d.clone()));
                    d
                }
                Err(e) => {
                    // One missing texture does not refuse the file: its materials are drawn
                    // with their factors alone, and the file says so.
                    let w = format!("{e}; drawn without it");
                    tracing::warn!("{w}");
                    scene.warnings.push(w);
                    self.decoded.insert(image.index(), None);
                    return Ok(None);
                }
            },
        };
        use gltf::texture::{MagFilter, MinFilter, WrappingMode};
        let wrap = |w: WrappingMode| match w {
            WrappingMode::Repeat => Wrap::Repeat,
            WrappingMode::MirroredRepeat => Wrap::MirroredRepeat,
            WrappingMode::ClampToEdge => Wrap::ClampToEdge,
        };
        let s = tex.sampler();
        let min = s.min_filter();
        let sampler = TextureSampler {
            wrap_u: wrap(s.wrap_s()),
            wrap_v: wrap(s.wrap_t()),
            nearest_mag: s.mag_filter() == Some(MagFilter::Nearest),
            nearest_min: matches!(
                min,
                Some(
                    MinFilter::Nearest
                        | MinFilter::NearestMipmapNearest
                        | MinFilter::NearestMipmapLinear
                )
            ),
            linear_mips: !matches!(
                min,
                Some(MinFilter::NearestMipmapNearest | MinFilter::LinearMipmapNearest)
            ),
        };
        let name = image.name().map_or_else(|| format!("image {}", image.index()), str::to_string);
        scene.textures.push(Texture {
            name,
            width,
            height,
            pixels: TexturePixels::Rgba8(texels),
            srgb,
            sampler,
        });
        self.made.insert((tex.index(), srgb), scene.textures.len() - 1);
        Ok(Some(scene.textures.len() - 1))
    }
}

/// Decodes a glTF image (file, data URI or buffer view) to RGBA8.
fn decode_image(
    path: &Path,
    buffers: &[gltf::buffer::Data],
    image: &gltf::image::Image<'_>,
) -> Result<(u32, u32, Vec<[u8; 4]>), LoadError> {
    let label = match image.source() {
        gltf::image::Source::Uri { uri, .. } if !uri.starts_with("data:") => format!("'{uri}'"),
        _ => format!("{} ({})", image.index(), image.name().unwrap_or("embedded")),
    };
    let err = |message: String| LoadError::Texture {
        path: path.to_path_buf(),
        image: label.clone(),
        message,
    };
    if let gltf::image::Source::View { view, .. } = image.source() {
        // The importer slices the buffer without a bounds check.
        let len = buffers.get(view.buffer().index()).map_or(0, |b| b.0.len());
        if view.offset().checked_add(view.length()).is_none_or(|end| end > len) {
            return Err(err("buffer view lies outside its buffer".into()));
        }
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let data = gltf::image::Data::from_source(image.source(), Some(base), buffers)
        .map_err(|e| err(e.to_string()))?;
    let (w, h) = (data.width, data.height);
    let px = &data.pixels;
    let n = w as usize * h as usize;
    use gltf::image::Format;
    let u16_at = |i: usize| -> u8 {
        let v = u16::from_ne_bytes([px[2 * i], px[2 * i + 1]]);
        ((u32::from(v) * 255 + 32767) / 65535) as u8
    };
    let f32_at = |i: usize| -> u8 {
        let v = f32::from_ne_bytes([px[4 * i], px[4 * i + 1], px[4 * i + 2], px[4 * i + 3]]);
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    let (channels, bytes) = match data.format {
        Format::R8 => (1, 1),
        Format::R8G8 => (2, 1),
        Format::R8G8B8 => (3, 1),
        Format::R8G8B8A8 => (4, 1),
        Format::R16 => (1, 2),
        Format::R16G16 => (2, 2),
        Format::R16G16B16 => (3, 2),
        Format::R16G16B16A16 => (4, 2),
        Format::R32G32B32FLOAT => (3, 4),
        Format::R32G32B32A32FLOAT => (4, 4),
    };
    if px.len() != n * channels * bytes || n == 0 {
        return Err(err(format!("{w}x{h} image with {} bytes of texels", px.len())));
    }
    let texels = (0..n)
        .map(|t| {
            let c = |k: usize| match bytes {
                1 => px[t * channels + k],
                2 => u16_at(t * channels + k),
                _ => f32_at(t * channels + k),
            };
            match channels {
                1 => [c(0), c(0), c(0), 255],
                2 => [c(0), c(0), c(0), c(1)],
                3 => [c(0), c(1), c(2), 255],
                _ => [c(0), c(1), c(2), c(3)],
            }
        })
        .collect();
    Ok((w, h, texels))
}

fn environment(path: &Path, extras: &gltf::json::Extras) -> Result<Environment, LoadError> {
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    let Some(raw) = extras else { return Ok(Environment::None) };
    let v: serde_json::Value =
        serde_json::from_str(raw.get()).map_err(|e| invalid(format!("scene extras: {e}")))?;
    let Some(env) = v.get("environment") else { return Ok(Environment::None) };
    let intensity = match env.get("intensity") {
        None => 1.0,
        Some(i) => i
            .as_f64()
            .ok_or_else(|| invalid(format!("environment intensity {i} is not a number")))?
            as f32,
    };
    if !intensity.is_finite() || intensity < 0.0 {
        return Err(invalid(format!(
            "environment intensity {intensity} is not a finite non-negative number"
        )));
    }
    if let Some(c) = env.get("color") {
        let c: Vec<f32> = c
            .as_array()
            .filter(|a| a.len() == 3)
            .map(|a| a.iter().filter_map(|x| x.as_f64()).map(|x| x as f32).collect())
            .filter(|v: &Vec<f32>| v.len() == 3 && v.iter().all(|x| x.is_finite()))
            .ok_or_else(|| invalid("environment color must be three finite numbers".into()))?;
        return Ok(Environment::Uniform([c[0] * intensity, c[1] * intensity, c[2] * intensity]));
    }
    if let Some(uri) = env.get("uri").and_then(|u| u.as_str()) {
        let file = path.parent().unwrap_or(Path::new(".")).join(uri);
        let img =
            image::open(&file).map_err(|error| LoadError::Image { path: file.clone(), error })?;
        let rgba = img.into_rgba32f();
        let (width, height) = rgba.dimensions();
        let texels: Vec<[f32; 4]> = rgba
            .pixels()
            .map(|p| {
                let c = |x: f32| if x.is_finite() { x.max(0.0) * intensity } else { 0.0 };
                [c(p.0[0]), c(p.0[1]), c(p.0[2]), 1.0]
            })
            .collect();
        return Ok(Environment::Equirect { width, height, texels });
    }
    Err(invalid("environment needs \"color\" or \"uri\"".into()))
}
