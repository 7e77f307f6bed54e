//! The scene graph and its contents, in glTF's units and axes (meters, right-handed, +Y up).

use glam::{Mat4, Vec3};

/// How a material's alpha is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlphaMode {
    /// Alpha ignored.
    #[default]
    Opaque,
    /// Discarded below the cutoff.
    Mask(u32),
    /// Blended.
    Blend,
}

/// How a texture repeats outside [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Wrap {
    /// Tiles (glTF's default).
    #[default]
    Repeat,
    /// Tiles, every other copy mirrored.
    MirroredRepeat,
    /// The edge texel continues.
    ClampToEdge,
}

/// How a texture is filtered and repeated (glTF samplers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextureSampler {
    /// Along u.
    pub wrap_u: Wrap,
    /// Along v.
    pub wrap_v: Wrap,
    /// Nearest texel when magnified (else bilinear).
    pub nearest_mag: bool,
    /// Nearest texel when minified (else bilinear).
    pub nearest_min: bool,
    /// Trilinear filtering between mip levels (else the nearest level).
    pub linear_mips: bool,
}

impl Default for TextureSampler {
    fn default() -> Self {
        Self {
            wrap_u: Wrap::Repeat,
            wrap_v: Wrap::Repeat,
            nearest_mag: false,
            nearest_min: false,
            linear_mips: true,
        }
    }
}

/// Texel data of a [`Texture`], rows from the top.
#[derive(Debug, Clone, PartialEq)]
pub enum TexturePixels {
    /// 8-bit RGBA (sRGB-encoded color or linear data, as [`Texture::srgb`] says).
    Rgba8(Vec<[u8; 4]>),
    /// Linear floating-point RGBA (HDR and EXR images); stored as half floats on the GPU.
    RgbaF32(Vec<[f32; 4]>),
}

/// A 2D texture. Mip levels are generated on the GPU when the scene is uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Texture {
    /// Name (the image file or the glTF image).
    pub name: String,
    /// Width in texels.
    pub width: u32,
    /// Height in texels.
    pub height: u32,
    /// Texels, `width * height` of them.
    pub pixels: TexturePixels,
    /// 8-bit color data in sRGB encoding (base color, emissive), decoded to linear by the
    /// sampler; false for data (metallic-roughness, normals, occlusion) and float texels.
    pub srgb: bool,
    /// Filtering and wrapping.
    pub sampler: TextureSampler,
}

/// A texture used by a material: an index into [`Scene::textures`]. Which UV set it reads
/// and how they are transformed is the material's [`Material::uv_transforms`].
pub type TextureIndex = usize;

/// How one texture slot of a material reads its coordinates: the UV set (glTF `texCoord`:
/// 0 is [`Primitive::uvs`], 1 is [`Primitive::uvs1`]) and KHR_texture_transform's offset,
/// rotation (radians, counter-clockwise in UV space) and scale, applied as
/// `uv' = T(offset) * R(rotation) * S(scale) * uv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UvTransform {
    /// UV set: 0 or 1.
    pub set: u32,
    /// Translation, applied last.
    pub offset: [f32; 2],
    /// Rotation in radians.
    pub rotation: f32,
    /// Scale, applied first.
    pub scale: [f32; 2],
}

impl Default for UvTransform {
    fn default() -> Self {
        Self { set: 0, offset: [0.0; 2], rotation: 0.0, scale: [1.0; 2] }
    }
}

impl UvTransform {
    /// The two rows of the affine map `uv' = M * (u, v, 1)` (KHR_texture_transform's matrix).
    pub fn rows(&self) -> [[f32; 3]; 2] {
        let (s, c) = self.rotation.sin_cos();
        let [sx, sy] = self.scale;
        let [ox, oy] = self.offset;
        [[c * sx, s * sy, ox], [-s * sx, c * sy, oy]]
    }

    /// `uv` transformed.
    pub fn apply(&self, uv: [f32; 2]) -> [f32; 2] {
        let [a, b] = self.rows();
        [a[0] * uv[0] + a[1] * uv[1] + a[2], b[0] * uv[0] + b[1] * uv[1] + b[2]]
    }
}

/// [`Material::uv_transforms`] slot of each texture, in [`Material::textures`]'s order.
pub mod texture_slot {
    /// Base color.
    pub const BASE_COLOR: usize = 0;
    /// Metallic-roughness.
    pub const METALLIC_ROUGHNESS: usize = 1;
    /// Normal map.
    pub const NORMAL: usize = 2;
    /// Occlusion.
    pub const OCCLUSION: usize = 3;
    /// Emissive.
    pub const EMISSIVE: usize = 4;
    /// KHR_materials_transmission's texture (red).
    pub const TRANSMISSION: usize = 5;
    /// KHR_materials_clearcoat's strength texture (red).
    pub const CLEARCOAT: usize = 6;
    /// KHR_materials_clearcoat's roughness texture (green).
    pub const CLEARCOAT_ROUGHNESS: usize = 7;
    /// KHR_materials_sheen's color texture (sRGB).
    pub const SHEEN_COLOR: usize = 8;
    /// KHR_materials_sheen's roughness texture (alpha).
    pub const SHEEN_ROUGHNESS: usize = 9;
    /// The number of slots.
    pub const COUNT: usize = 10;
}

/// glTF metallic-roughness material.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    /// Name.
    pub name: String,
    /// Linear base color and alpha.
    pub base_color: [f32; 4],
    /// Metalness.
    pub metallic: f32,
    /// Perceptual roughness.
    pub roughness: f32,
    /// Emitted radiance: `emissiveFactor * emissiveStrength`, W/(m^2 sr), front face only.
    pub emissive: [f32; 3],
    /// KHR_materials_specular `specularFactor` (0 removes the dielectric specular layer).
    pub specular: f32,
    /// Both faces are shaded.
    pub double_sided: bool,
    /// Alpha mode.
    pub alpha: AlphaMode,
    /// KHR_materials_unlit: the surface shows its base color, unaffected by lights (for
    /// scanned colors, labels and data already shaded).
    pub unlit: bool,
    /// Base color texture (sRGB RGB, linear alpha), multiplies `base_color`.
    pub base_color_texture: Option<TextureIndex>,
    /// Metallic (blue) and roughness (green) texture, multiplies the factors.
    pub metallic_roughness_texture: Option<TextureIndex>,
    /// Tangent-space normal map.
    pub normal_texture: Option<TextureIndex>,
    /// Scale of the normal map's x and y.
    pub normal_scale: f32,
    /// Ambient occlusion (red), applied to the environment light.
    pub occlusion_texture: Option<TextureIndex>,
    /// 0: occlusion ignored, 1: full.
    pub occlusion_strength: f32,
    /// Emissive texture (sRGB), multiplies `emissive`.
    pub emissive_texture: Option<TextureIndex>,
    /// Colors from a scalar per vertex ([`Primitive::scalars`]) through a colormap, instead
    /// of the base color.
    pub colormap: Option<ColormapMaterial>,
    /// The UV set and transform of each texture slot (base color, metallic-roughness,
    /// normal, occlusion, emissive, then the layers': see [`texture_slot`]).
    pub uv_transforms: [UvTransform; texture_slot::COUNT],
    /// KHR_materials_ior: the dielectric's index of refraction (1.5: f0 = 0.04), which sets
    /// its Fresnel reflectance and its refraction.
    pub ior: f32,
    /// KHR_materials_transmission: the fraction of the dielectric's light that passes
    /// through the surface (specular transmission, rough with the roughness, tinted by the
    /// base color) instead of being scattered diffusely.
    pub transmission: f32,
    /// KHR_materials_volume: 0 makes a transmissive surface thin-walled (light passes
    /// without bending); above 0 the mesh encloses a volume, refracting at its boundary and
    /// attenuating inside.
    pub thickness: f32,
    /// KHR_materials_volume: the distance light travels inside before only
    /// `attenuation_color` of it is left (infinite: no attenuation).
    pub attenuation_distance: f32,
    /// KHR_materials_volume: what is left of white light after `attenuation_distance`.
    pub attenuation_color: [f32; 3],
    /// KHR_materials_clearcoat: strength of a clear dielectric coat (ior 1.5) over the
    /// material.
    pub clearcoat: f32,
    /// KHR_materials_clearcoat: the coat's perceptual roughness.
    pub clearcoat_roughness: f32,
    /// KHR_materials_sheen: color of a sheen layer (cloth; black: none).
    pub sheen_color: [f32; 3],
    /// KHR_materials_sheen: the sheen's perceptual roughness.
    pub sheen_roughness: f32,
    /// The layers' textures (each multiplies its factor): transmission (red), clear coat
    /// strength (red) and roughness (green), sheen color (sRGB) and roughness (alpha).
    pub transmission_texture: Option<TextureIndex>,
    /// See [`Material::transmission_texture`].
    pub clearcoat_texture: Option<TextureIndex>,
    /// See [`Material::transmission_texture`].
    pub clearcoat_roughness_texture: Option<TextureIndex>,
    /// See [`Material::transmission_texture`].
    pub sheen_color_texture: Option<TextureIndex>,
    /// See [`Material::transmission_texture`].
    pub sheen_roughness_texture: Option<TextureIndex>,
}

/// Colors from a scalar attribute: `min` maps to the colormap's first color, `max` to its
/// last, values outside are clamped, NaN gets [`crate::colormap::NAN_COLOR`]. Changing the
/// range rewrites only the material table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColormapMaterial {
    /// The map.
    pub kind: crate::colormap::ColormapKind,
    /// Scalar at the first color.
    pub min: f32,
    /// Scalar at the last color.
    pub max: f32,
}

impl Material {
    /// The textures this material uses.
    pub fn textures(&self) -> impl Iterator<Item = TextureIndex> + '_ {
        [
            self.base_color_texture,
            self.metallic_roughness_texture,
            self.normal_texture,
            self.occlusion_texture,
            self.emissive_texture,
            self.transmission_texture,
            self.clearcoat_texture,
            self.clearcoat_roughness_texture,
            self.sheen_color_texture,
            self.sheen_roughness_texture,
        ]
        .into_iter()
        .flatten()
    }
}

impl Material {
    /// A pure Lambertian material (no specular layer, like the reference scenes'), double sided.
    pub fn lambert(name: &str, albedo: [f32; 3]) -> Self {
        Self {
            name: name.into(),
            base_color: [albedo[0], albedo[1], albedo[2], 1.0],
            metallic: 0.0,
            roughness: 1.0,
            specular: 0.0,
            double_sided: true,
            ..Default::default()
        }
    }
}

impl Default for Material {
    fn default() -> Self {
        Self {
            name: "default".into(),
            base_color: [1.0; 4],
            metallic: 1.0,
            roughness: 1.0,
            emissive: [0.0; 3],
            specular: 1.0,
            double_sided: false,
            alpha: AlphaMode::Opaque,
            unlit: false,
            base_color_texture: None,
            metallic_roughness_texture: None,
            normal_texture: None,
            normal_scale: 1.0,
            occlusion_texture: None,
            occlusion_strength: 1.0,
            emissive_texture: None,
            colormap: None,
            uv_transforms: [UvTransform::default(); texture_slot::COUNT],
            ior: 1.5,
            transmission: 0.0,
            thickness: 0.0,
            attenuation_distance: f32::INFINITY,
            attenuation_color: [1.0; 3],
            clearcoat: 0.0,
            clearcoat_roughness: 0.0,
            sheen_color: [0.0; 3],
            sheen_roughness: 0.0,
            transmission_texture: None,
            clearcoat_texture: None,
            clearcoat_roughness_texture: None,
            sheen_color_texture: None,
            sheen_roughness_texture: None,
        }
    }
}

/// Triangles with one material. Without normals in the file, the loader unwelds the triangles
/// and gives each its face normal (glTF's flat-shading rule), so `normals` is always filled.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Primitive {
    /// Positions.
    pub positions: Vec<[f32; 3]>,
    /// Normals (one per position).
    pub normals: Vec<[f32; 3]>,
    /// Linear RGBA vertex colors multiplying the base color (glTF `COLOR_0`), one per position;
    /// empty: white.
    pub colors: Vec<[f32; 4]>,
    /// Texture coordinates (glTF `TEXCOORD_0`: u right, v down), one per position; empty:
    /// none (textures then read texel (0, 0)).
    pub uvs: Vec<[f32; 2]>,
    /// The second texture coordinates (glTF `TEXCOORD_1`), for textures whose
    /// [`UvTransform::set`] is 1; empty: those read [`Primitive::uvs`].
    pub uvs1: Vec<[f32; 2]>,
    /// Tangents (xyz) with the bitangent sign (w), one per position; empty: normal maps get
    /// their frame from screen-space derivatives of the position and UVs.
    pub tangents: Vec<[f32; 4]>,
    /// One scalar per position for a colormap material (NaN allowed: drawn in the NaN
    /// color); empty: none.
    pub scalars: Vec<f32>,
    /// Triangle list indices.
    pub indices: Vec<u32>,
    /// Index into [`Scene::materials`].
    pub material: usize,
    /// Skinning: four joints per vertex (indices into the drawing node's [`Skin::joints`],
    /// glTF `JOINTS_0`); empty: not skinned.
    pub joints: Vec<[u16; 4]>,
    /// Skinning: the four joints' weights per vertex (glTF `WEIGHTS_0`), one per joint entry.
    pub weights: Vec<[f32; 4]>,
    /// Morph targets: displacements added with the drawing node's
    /// [`Node::morph_weights`].
    pub targets: Vec<crate::deform::MorphTarget>,
    /// Not drawn (a property over time hid it).
    pub hidden: bool,
    /// Spheres ([`crate::shapes::spheres`]): every this many vertices are one sphere's
    /// [`crate::shapes::icosphere`] (its vertices 0 and 3 antipodal, so they give the centre
    /// and radius) and `2 * n - 4` of the triangles, in order. The raster draws opaque ones
    /// as ray-cast impostors (exact silhouettes and depth) and picking hits the exact spheres;
    /// the path tracer, shadow maps and transparent passes take the triangles. New triangles
    /// ([`crate::Property::Triangles`], indices) reset it. 0: a plain mesh.
    pub sphere_vertices: u32,
}

/// A node's transform over time: translation, rotation and scale tracks (each optional) over
/// its rest transform.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeAnimation {
    /// Index into [`Scene::nodes`].
    pub node: usize,
    /// The rest transform: scale, rotation, translation (the parts no track animates).
    pub rest: (Vec3, glam::Quat, Vec3),
    /// Translation over time.
    pub translation: Option<crate::time::Track<Vec3>>,
    /// Rotation over time.
    pub rotation: Option<crate::time::Track<glam::Quat>>,
    /// Scale over time.
    pub scale: Option<crate::time::Track<Vec3>>,
    /// Morph target weights over time (one value per target of the node's mesh).
    pub weights: Option<crate::time::Track<Vec<f32>>>,
}

/// One of a file's animations (a glTF animation: "Walk", "Run").
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Name.
    pub name: String,
    /// Its node animations.
    pub animations: Vec<NodeAnimation>,
}

impl NodeAnimation {
    /// The local transform at time `t` and whether it is shown (a track that hides, by its
    /// end mode or a hole, hides the node; its part keeps the rest value); None: no
    /// translation, rotation or scale track.
    pub fn local_at(&self, t: f64) -> Option<(Mat4, bool)> {
        if self.translation.is_none() && self.rotation.is_none() && self.scale.is_none() {
            return None;
        }
        let (s0, r0, t0) = self.rest;
        let tr = self.translation.as_ref().map(|k| k.sample(t));
        let rot = self.rotation.as_ref().map(|k| k.sample(t));
        let sc = self.scale.as_ref().map(|k| k.sample(t));
        let shown =
            !(matches!(tr, Some(None)) || matches!(rot, Some(None)) || matches!(sc, Some(None)));
        let local = Mat4::from_scale_rotation_translation(
            sc.flatten().unwrap_or(s0),
            rot.flatten().unwrap_or(r0).normalize(),
            tr.flatten().unwrap_or(t0),
        );
        Some((local, shown))
    }

    /// The times of its samples (every track's, sorted, without repeats): the timeline's
    /// ticks.
    pub fn sample_times(&self) -> Vec<f64> {
        fn times<T: crate::time::Animatable>(t: &Option<crate::time::Track<T>>) -> Vec<f64> {
            t.as_ref()
                .map_or(Vec::new(), |t| (0..t.len()).filter_map(|k| t.sample_time(k)).collect())
        }
        let mut all = times(&self.translation);
        all.extend(times(&self.rotation));
        all.extend(times(&self.scale));
        all.extend(times(&self.weights));
        all.sort_by(f64::total_cmp);
        all.dedup();
        all
    }
}

/// A mesh.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mesh {
    /// Name.
    pub name: String,
    /// Its primitives.
    pub primitives: Vec<Primitive>,
}

/// Punctual light kinds (KHR_lights_punctual).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LightKind {
    /// Along the node's -Z; `intensity` is irradiance in W/m^2.
    Directional,
    /// At the node's origin; `intensity` is radiant intensity in W/sr.
    Point,
    /// At the node's origin along -Z, with cone angles in radians.
    Spot {
        /// Full intensity inside this angle.
        inner: f32,
        /// Zero outside this angle.
        outer: f32,
    },
}

/// A light; position and direction come from its node.
#[derive(Debug, Clone, PartialEq)]
pub struct Light {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: LightKind,
    /// Linear color.
    pub color: [f32; 3],
    /// Intensity (radiometric: the glTF number taken as W/sr or W/m^2, no photometric
    /// conversion; tests/data/refs/README.md).
    pub intensity: f32,
    /// Casts shadows (the raster's shadow maps; the path tracer's shadows are exact either
    /// way).
    pub shadows: bool,
    /// Point and spot lights: the distance where the light reaches zero (KHR_lights_punctual
    /// `range`; None: unbounded). Both renderers apply that extension's recommended window,
    /// `max(1 - (d / range)^4, 0)`, to the inverse-square falloff, and the raster culls the
    /// light beyond it.
    pub range: Option<f32>,
}

impl Light {
    /// The window [`Light::range`] applies at distance `d` (1 without a range).
    pub fn range_window(&self, d: f32) -> f32 {
        match self.range {
            Some(r) if r > 0.0 => (1.0 - (d / r).powi(4)).max(0.0),
            _ => 1.0,
        }
    }
}

/// How a camera projects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Projection {
    /// Full vertical field of view, radians.
    Perspective { yfov: f32 },
    /// Half the height of the view volume in world units (glTF `ymag`); the width follows the
    /// image's aspect ratio.
    Orthographic { ymag: f32 },
}

/// A camera; it looks down its node's -Z with +Y up.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Name.
    pub name: String,
    /// Perspective or orthographic.
    pub projection: Projection,
    /// Width / height, if the file gives one.
    pub aspect: Option<f32>,
    /// Near plane.
    pub znear: f32,
    /// Far plane (None: infinite).
    pub zfar: Option<f32>,
}

impl Camera {
    /// A perspective camera with `yfov` (radians), near 0.1 and far 1000.
    pub fn perspective(name: &str, yfov: f32, aspect: Option<f32>) -> Self {
        let projection = Projection::Perspective { yfov };
        Self { name: name.into(), projection, aspect, znear: 0.1, zfar: Some(1000.0) }
    }
    /// An orthographic camera `2 * ymag` high, near 0.1 and far 1000.
    pub fn orthographic(name: &str, ymag: f32, aspect: Option<f32>) -> Self {
        let projection = Projection::Orthographic { ymag };
        Self { name: name.into(), projection, aspect, znear: 0.1, zfar: Some(1000.0) }
    }
}

/// Light arriving from infinitely far away.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Environment {
    /// Black.
    #[default]
    None,
    /// The same radiance from every direction.
    Uniform([f32; 3]),
    /// An equirectangular map (rows from +Y down, centre column along +Z, u = 0.25 along +X),
    /// linear RGB radiance already multiplied by its intensity.
    Equirect {
        /// Width in texels.
        width: u32,
        /// Height in texels.
        height: u32,
        /// RGBA32F texels, row-major from the top row.
        texels: Vec<[f32; 4]>,
    },
}

impl Environment {
    /// Mean radiance over the sphere of directions (texels weighted by their solid angle).
    pub fn mean_radiance(&self) -> [f32; 3] {
        match self {
            Environment::None => [0.0; 3],
            Environment::Uniform(c) => *c,
            Environment::Equirect { width, height, texels } => {
                let (mut sum, mut wsum) = ([0.0f64; 3], 0.0f64);
                for j in 0..*height {
                    let theta = std::f64::consts::PI * (j as f64 + 0.5) / *height as f64;
                    let w = theta.sin();
                    for i in 0..*width {
                        let t = texels[(j * width + i) as usize];
                        for c in 0..3 {
                            sum[c] += w * t[c] as f64;
                        }
                        wsum += w;
                    }
                }
                if wsum > 0.0 {
                    sum.map(|v| (v / wsum) as f32)
                } else {
                    [0.0; 3]
                }
            }
        }
    }
}

/// A node of the hierarchy.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Name.
    pub name: String,
    /// Parent node.
    pub parent: Option<usize>,
    /// Transform relative to the parent (T * R * S).
    pub local: Mat4,
    /// Transform to world space (kept up to date by [`Scene::update_world`]).
    pub world: Mat4,
    /// Mesh drawn at this node.
    pub mesh: Option<usize>,
    /// Camera at this node.
    pub camera: Option<usize>,
    /// Light at this node.
    pub light: Option<usize>,
    /// Instancing: the mesh is drawn once per transform here (each relative to the node's
    /// world transform); empty: once, at the node.
    pub instances: Vec<Mat4>,
    /// The skin that deforms this node's mesh (index into [`Scene::skins`]): its vertices
    /// follow the joints, and the node's own transform does not move them (glTF).
    pub skin: Option<usize>,
    /// The weights of its mesh's morph targets (missing ones are 0).
    pub morph_weights: Vec<f32>,
    /// Drawn (with what it draws; its children have their own).
    pub visible: bool,
    /// Its mesh casts shadows in the raster (its own; children have their own).
    pub cast_shadows: bool,
}

/// A point cloud drawn as screen-space splats.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSet {
    /// Name.
    pub name: String,
    /// Object to world.
    pub transform: Mat4,
    /// Positions.
    pub positions: Vec<[f32; 3]>,
    /// Per-point sRGB colors (RGBA8); empty: every point white.
    pub colors: Vec<[u8; 4]>,
    /// Point size in pixels (>= 1).
    pub size_px: f32,
    /// Point diameter in world units instead (round splats that grow as they come nearer;
    /// the drawn size is clamped to 1-64 pixels).
    pub size_world: Option<f32>,
    /// One scalar per point shown through `colormap` when there are no `colors` (NaN: the
    /// colormap's NaN color).
    pub scalars: Vec<f32>,
    /// The colormap (and range) of `scalars`.
    pub colormap: Option<crate::colormap::Colormap>,
    /// Drawn.
    pub visible: bool,
    /// Follows this node: `transform` is its world transform at every time (a glTF file's
    /// points under an animated node).
    pub node: Option<usize>,
    /// The streamed frame its data are (set through [`crate::Property::PointFrame`]; None
    /// otherwise): the GPU copy draws it from its pool of frames.
    pub frame: Option<crate::stream::FrameRef>,
}

impl PointSet {
    /// White 2 px points at `positions`, identity transform.
    pub fn new(name: &str, positions: Vec<[f32; 3]>) -> Self {
        Self {
            name: name.into(),
            transform: Mat4::IDENTITY,
            positions,
            colors: Vec::new(),
            size_px: 2.0,
            size_world: None,
            scalars: Vec::new(),
            colormap: None,
            visible: true,
            node: None,
            frame: None,
        }
    }
}

/// Lines of a fixed width in pixels (unlit, depth tested). Not attached to a node: loaders
/// place the lines of a glTF node's mesh with the node's world transform at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSet {
    /// Name.
    pub name: String,
    /// Object to world.
    pub transform: Mat4,
    /// Vertices.
    pub positions: Vec<[f32; 3]>,
    /// Per-vertex sRGB colors (RGBA8), interpolated along each segment; empty: white.
    pub colors: Vec<[u8; 4]>,
    /// A strip (each vertex joined to the next) or a list (vertex pairs; an odd last one is
    /// ignored).
    pub strip: bool,
    /// Width in pixels (> 0, at most 64).
    pub width_px: f32,
    /// Drawn.
    pub visible: bool,
    /// Follows this node: `transform` is its world transform at every time (a glTF file's
    /// lines under an animated node).
    pub node: Option<usize>,
}

impl Node {
    /// A root node with nothing attached (world = local until [`Scene::update_world`]).
    pub fn new(name: &str, local: Mat4) -> Self {
        Self {
            name: name.into(),
            parent: None,
            local,
            world: local,
            mesh: None,
            camera: None,
            light: None,
            instances: Vec::new(),
            skin: None,
            morph_weights: Vec::new(),
            visible: true,
            cast_shadows: true,
        }
    }
    /// With mesh `m`.
    pub fn with_mesh(mut self, m: usize) -> Self {
        self.mesh = Some(m);
        self
    }
    /// With camera `c`.
    pub fn with_camera(mut self, c: usize) -> Self {
        self.camera = Some(c);
        self
    }
    /// With light `l`.
    pub fn with_light(mut self, l: usize) -> Self {
        self.light = Some(l);
        self
    }
    /// With its mesh drawn once per transform of `instances` (relative to the node).
    pub fn with_instances(mut self, instances: Vec<Mat4>) -> Self {
        self.instances = instances;
        self
    }
    /// Placement `i` of its mesh (see [`Node::draw_transforms`]).
    pub fn draw_transform(&self, i: usize) -> Option<Mat4> {
        if self.instances.is_empty() {
            (i == 0).then_some(self.world)
        } else {
            self.instances.get(i).map(|t| self.world * *t)
        }
    }
    /// Where its mesh is drawn: the world transform, or world * each instance.
    pub fn draw_transforms(&self) -> impl Iterator<Item = Mat4> + '_ {
        let single = self.instances.is_empty().then_some(self.world);
        single.into_iter().chain(self.instances.iter().map(|i| self.world * *i))
    }
}

/// A scalar series over time (a loss curve, a sensor reading, a per-frame statistic).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plot {
    /// Its name (the legend).
    pub name: String,
    /// Times in seconds, increasing.
    pub times: Vec<f64>,
    /// One value per time (NaN: a gap).
    pub values: Vec<f64>,
}

impl Plot {
    /// The value at `t` (linear between samples; None outside them or in a gap).
    pub fn value_at(&self, t: f64) -> Option<f64> {
        let k = self.times.partition_point(|&x| x <= t);
        if k == 0 {
            return None;
        }
        let (t0, v0) = (self.times[k - 1], *self.values.get(k - 1)?);
        let v = match (self.times.get(k), self.values.get(k)) {
            (Some(&t1), Some(&v1)) => v0 + (v1 - v0) * (t - t0) / (t1 - t0),
            _ if t > t0 => return None,
            _ => v0,
        };
        v.is_finite().then_some(v)
    }

    /// The finite range of its values (None: none).
    pub fn range(&self) -> Option<(f64, f64)> {
        let (lo, hi) = self
            .values
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        (lo <= hi).then_some((lo, hi))
    }
}

/// A whole scene.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scene {
    /// Nodes (parents before children).
    pub nodes: Vec<Node>,
    /// Meshes.
    pub meshes: Vec<Mesh>,
    /// Materials (never empty once loaded: index 0 is a default when the file has none).
    pub materials: Vec<Material>,
    /// Lights.
    pub lights: Vec<Light>,
    /// Cameras.
    pub cameras: Vec<Camera>,
    /// Environment.
    pub environment: Environment,
    /// Point clouds.
    pub point_sets: Vec<PointSet>,
    /// Line sets.
    pub line_sets: Vec<LineSet>,
    /// Textures used by the materials.
    pub textures: Vec<Texture>,
    /// What the loaders replaced or left out, each naming its file (a missing or unreadable
    /// texture: the material is drawn with its factor alone).
    pub warnings: Vec<String>,
    /// The up axis the file's convention gives (glTF: +Y); None: none (PLY, OBJ, scenes in
    /// code): [`Scene::up_axis`] detects it from the bounds.
    pub up: Option<Vec3>,
    /// Node transforms over time (glTF animation channels); [`Scene::set_time`] applies them:
    /// the clip or clips playing ([`Scene::play_clip`]).
    pub animations: Vec<NodeAnimation>,
    /// The file's animations (glTF: one per animation), each a set of node animations.
    pub clips: Vec<Clip>,
    /// The clip playing (None: all of them, or none when there are none).
    pub active_clip: Option<usize>,
    /// Skins (joints and inverse bind matrices) of skinned nodes.
    pub skins: Vec<crate::deform::Skin>,
    /// Other properties over time (visibility, materials, lights, point, line and mesh
    /// data); [`Scene::set_time`] applies them.
    pub properties: Vec<crate::property::PropertyTrack>,
    /// Geometry whose values changed in place, with the [`Versions::geometry`] of the
    /// change (what a GPU copy older than that rewrites).
    pub changed: std::collections::BTreeMap<crate::property::GeometryRef, u64>,
    /// Scalar series over time shown in the timeline's plot panel (a CSV's columns, a
    /// sequence's per-frame values, a program's own).
    pub plots: Vec<Plot>,
    /// Change counters: a [`crate::GpuScene`] updates what changed since its upload or last
    /// update. The setters below bump them; code that edits the fields directly bumps them
    /// itself.
    pub versions: Versions,
}

/// Change counters of a [`Scene`], one per kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Versions {
    /// Anything the GPU copy cannot follow in place: meshes, nodes, primitives, textures,
    /// instances, lights added or removed, point and line sets (upload the scene again).
    pub structure: u64,
    /// Node transforms (local or world).
    pub transforms: u64,
    /// Material parameters (factors, texture choices among the existing textures, colormap
    /// ranges).
    pub materials: u64,
    /// Light parameters (kind, color, intensity, cones).
    pub lights: u64,
    /// Morph target weights ([`Node::morph_weights`]). Skinned meshes follow `transforms`.
    pub deform: u64,
    /// Values of point sets, line sets and mesh vertices of the same count
    /// ([`Scene::changed`] says which).
    pub geometry: u64,
}

impl Scene {
    /// The time span of the scene's animations (None: nothing animated).
    pub fn time_span(&self) -> Option<(f64, f64)> {
        self.animations
            .iter()
            .flat_map(|a| {
                let t = a.translation.as_ref().map(|t| t.span());
                let r = a.rotation.as_ref().map(|r| r.span());
                let s = a.scale.as_ref().map(|s| s.span());
                let w = a.weights.as_ref().map(|w| w.span());
                [t, r, s, w].into_iter().flatten()
            })
            .chain(self.properties.iter().filter_map(|p| p.span()))
            .chain(self.plots.iter().filter_map(|p| Some((*p.times.first()?, *p.times.last()?))))
            .reduce(|(a0, a1), (b0, b1)| (a0.min(b0), a1.max(b1)))
    }

    /// Plays clip `clip` of [`Scene::clips`] (None: all of them together; where two animate
    /// the same channel of a node, the later one). Nodes the new choice does not animate
    /// go back to their rest transforms. False when there is no such clip.
    pub fn play_clip(&mut self, clip: Option<usize>) -> bool {
        if clip.is_some_and(|c| c >= self.clips.len()) {
            return false;
        }
        // What played before goes back to rest (and shown).
        for a in std::mem::take(&mut self.animations) {
            if let Some(n) = self.nodes.get_mut(a.node) {
                let (s, r, t) = a.rest;
                n.local = Mat4::from_scale_rotation_translation(s, r, t);
                n.visible = true;
            }
        }
        let chosen: Vec<&Clip> = match clip {
            Some(c) => vec![&self.clips[c]],
            None => self.clips.iter().collect(),
        };
        let mut by_node: std::collections::BTreeMap<usize, NodeAnimation> = Default::default();
        for a in chosen.into_iter().flat_map(|c| &c.animations) {
            match by_node.get_mut(&a.node) {
                None => {
                    by_node.insert(a.node, a.clone());
                }
                Some(m) => {
                    m.translation = a.translation.clone().or(m.translation.take());
                    m.rotation = a.rotation.clone().or(m.rotation.take());
                    m.scale = a.scale.clone().or(m.scale.take());
                    m.weights = a.weights.clone().or(m.weights.take());
                }
            }
        }
        self.animations = by_node.into_values().collect();
        self.active_clip = clip;
        self.update_world();
        self.versions.transforms += 1;
        true
    }

    /// The scene's own frame rate: that of its first track sampled at a fixed rate (None when
    /// every track has explicit timestamps, as glTF's do).
    pub fn frame_rate(&self) -> Option<f64> {
        self.animations.iter().find_map(|a| {
            let t = a.translation.as_ref().map(|t| t.timing());
            let r = a.rotation.as_ref().map(|r| r.timing());
            let s = a.scale.as_ref().map(|s| s.timing());
            let w = a.weights.as_ref().map(|w| w.timing());
            [t, r, s, w].into_iter().flatten().find_map(|t| match t {
                crate::time::Timing::Rate { fps, .. } => Some(*fps),
                crate::time::Timing::Times(_) => None,
            })
        })
    }

    /// Puts every animated node where its tracks say it is at scene time `t` (seconds): the
    /// animated parts of its rest transform replaced by their samples (a part whose track
    /// hides the object keeps its rest value). Bumps the transforms version when anything is
    /// animated.
    pub fn set_time(&mut self, t: f64) {
        if !self.properties.is_empty() {
            self.apply_properties(t);
        }
        if self.animations.is_empty() {
            return;
        }
        // Each node's sampling is independent: with many animated nodes, every node samples
        // its own animation in parallel (the last animation of a node wins, as in order).
        use rayon::prelude::*;
        let mut of_node = vec![u32::MAX; self.nodes.len()];
        for (i, a) in self.animations.iter().enumerate() {
            if let Some(slot) = of_node.get_mut(a.node) {
                *slot = i as u32;
            }
        }
        let animations = &self.animations;
        // Roots get their world transform here too (in parallel); children below, in order.
        let apply = |(n, &i): (&mut Node, &u32)| -> bool {
            let a = animations.get(i as usize);
            if let Some((local, visible)) = a.and_then(|a| a.local_at(t)) {
                (n.local, n.visible) = (local, visible);
            }
            if n.parent.is_none() {
                n.world = n.local;
            }
            let Some(a) = a else { return false };
            match a.weights.as_ref().and_then(|k| k.sample(t)) {
                Some(w) => {
                    n.morph_weights = w;
                    true
                }
                None => false,
            }
        };
        let morphed = if self.animations.len() >= 2048 {
            self.nodes
                .par_iter_mut()
                .zip(&of_node)
                .with_min_len(256)
                .map(apply)
                .reduce(|| false, |a, b| a | b)
        } else {
            self.nodes.iter_mut().zip(&of_node).map(apply).fold(false, |a, b| a | b)
        };
        self.update_child_worlds();
        self.follow_nodes();
        self.versions.transforms += 1;
        if morphed {
            self.versions.deform += 1;
        }
    }

    /// Point and line sets that follow a node take its world transform (when it changed).
    fn follow_nodes(&mut self) {
        use crate::property::{Property, Value};
        let mut moves = Vec::new();
        for (i, p) in self.point_sets.iter().enumerate() {
            if let Some(w) = p.node.and_then(|n| self.nodes.get(n)).map(|n| n.world) {
                if w != p.transform {
                    moves.push((Property::PointsTransform(i), w));
                }
            }
        }
        for (i, l) in self.line_sets.iter().enumerate() {
            if let Some(w) = l.node.and_then(|n| self.nodes.get(n)).map(|n| n.world) {
                if w != l.transform {
                    moves.push((Property::LinesTransform(i), w));
                }
            }
        }
        for (p, w) in moves {
            // A non-finite world transform keeps the last one (the error says why).
            if let Err(e) = self.set_property(p, Value::Transform(w)) {
                tracing::debug!("{e}");
            }
        }
    }

    /// Sets node `node`'s morph target weights and bumps the deform version. False when
    /// there is no such node or a weight is not finite.
    pub fn set_morph_weights(&mut self, node: usize, weights: &[f32]) -> bool {
        let Some(n) = self.nodes.get_mut(node) else { return false };
        if !weights.iter().all(|w| w.is_finite()) {
            return false;
        }
        n.morph_weights = weights.to_vec();
        self.versions.deform += 1;
        true
    }

    /// Sets node `node`'s local transform, recomputes the world transforms and bumps the
    /// transforms version. False when there is no such node.
    pub fn set_local_transform(&mut self, node: usize, local: Mat4) -> bool {
        let Some(n) = self.nodes.get_mut(node) else { return false };
        n.local = local;
        self.update_world();
        self.follow_nodes();
        self.versions.transforms += 1;
        true
    }

    /// Material `i` to edit (bumps the materials version).
    pub fn material_mut(&mut self, i: usize) -> Option<&mut Material> {
        self.versions.materials += 1;
        self.materials.get_mut(i)
    }

    /// Whether node `i`'s mesh casts shadows ([`Node::cast_shadows`]); false: no such node.
    pub fn set_cast_shadows(&mut self, i: usize, on: bool) -> bool {
        let Some(n) = self.nodes.get_mut(i) else { return false };
        if n.cast_shadows != on {
            n.cast_shadows = on;
            self.versions.structure += 1;
        }
        true
    }

    /// Light `i` to edit (bumps the lights version).
    pub fn light_mut(&mut self, i: usize) -> Option<&mut Light> {
        self.versions.lights += 1;
        self.lights.get_mut(i)
    }

    /// [`Scene::update_world`] for the nodes that have a parent (roots' world transforms
    /// are their local ones, already set).
    fn update_child_worlds(&mut self) {
        for i in 0..self.nodes.len() {
            if let Some(p) = self.nodes[i].parent {
                let parent = self.nodes.get(p).map_or(Mat4::IDENTITY, |p| p.world);
                self.nodes[i].world = parent * self.nodes[i].local;
            }
        }
    }

    /// Recomputes every node's world transform (from the roots down, in any node order).
    pub fn update_world(&mut self) {
        // Parents before their children whatever the nodes' order (a parent may come after
        // its children: a group added later); a parent out of range or a cycle counts as none.
        let n = self.nodes.len();
        // 0: to do, 1: on the chain being walked, 2: done.
        let mut state = vec![0u8; n];
        let mut chain = Vec::new();
        for i in 0..n {
            let mut k = Some(i);
            while let Some(j) = k.filter(|&j| state[j] == 0) {
                state[j] = 1;
                chain.push(j);
                k = self.nodes[j].parent.filter(|&p| p < n);
            }
            while let Some(j) = chain.pop() {
                let parent = self.nodes[j].parent.filter(|&p| p < n && state[p] == 2);
                let parent = parent.map_or(Mat4::IDENTITY, |p| self.nodes[p].world);
                self.nodes[j].world = parent * self.nodes[j].local;
                state[j] = 2;
            }
        }
    }

    /// The scene's up axis: the file's convention, or else +Z when the bounds are flat in Z
    /// (less than half as deep as they are wide in X and Y: terrain, lidar sweeps, floor
    /// plans, which Z-up tools write), else +Y.
    pub fn up_axis(&self) -> Vec3 {
        if let Some(up) = self.up.filter(|u| u.is_finite() && u.length_squared() > 0.0) {
            return up.normalize();
        }
        match self.bounds() {
            Some((lo, hi)) if (hi - lo).is_finite() => {
                let e = hi - lo;
                if e.z < 0.5 * e.x.min(e.y) {
                    Vec3::Z
                } else {
                    Vec3::Y
                }
            }
            _ => Vec3::Y,
        }
    }

    /// World-space bounds of all mesh vertices and points (None without geometry).
    pub fn bounds(&self) -> Option<(Vec3, Vec3)> {
        self.bounds_of(&self.nodes)
    }

    /// The union of the bounds over the node animations' time span (`samples` times evenly
    /// spaced, the ends included): what a view must hold for the whole animation. The scene
    /// is left as it is; without animations, [`Scene::bounds`].
    pub fn animated_bounds(&self, samples: usize) -> Option<(Vec3, Vec3)> {
        // Streamed sequences: the bounds of the frames their sources know (spread over the
        // whole sequence), not of the frame shown now.
        let join = |a: Option<(Vec3, Vec3)>, b: Option<(Vec3, Vec3)>| match (a, b) {
            (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
            (a, b) => a.or(b),
        };
        join(self.node_animated_bounds(samples), self.sources_bounds())
    }

    fn node_animated_bounds(&self, samples: usize) -> Option<(Vec3, Vec3)> {
        let Some((start, end)) = self.time_span().filter(|_| !self.animations.is_empty()) else {
            return self.bounds();
        };
        let mut nodes = self.nodes.clone();
        let mut out: Option<(Vec3, Vec3)> = None;
        let n = samples.max(2);
        for k in 0..n {
            let t = start + (end - start) * k as f64 / (n - 1) as f64;
            for a in &self.animations {
                if let (Some(node), Some((local, _))) = (nodes.get_mut(a.node), a.local_at(t)) {
                    node.local = local;
                }
            }
            for i in 0..nodes.len() {
                let parent =
                    nodes[i].parent.and_then(|p| nodes.get(p)).map_or(Mat4::IDENTITY, |p| p.world);
                nodes[i].world = parent * nodes[i].local;
            }
            if let Some((lo, hi)) = self.bounds_of(&nodes) {
                out = Some(out.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
            }
        }
        out
    }

    /// [`Scene::bounds`] with the nodes placed as `nodes` says.
    fn bounds_of(&self, nodes: &[Node]) -> Option<(Vec3, Vec3)> {
        let mut b: Option<(Vec3, Vec3)> = None;
        for n in nodes {
            let Some(m) = n.mesh.and_then(|m| self.meshes.get(m)) else { continue };
            // Object-space bounds once, then their corners per placement.
            let mut object: Option<(Vec3, Vec3)> = None;
            for &v in m.primitives.iter().flat_map(|p| &p.positions) {
                let v = Vec3::from(v);
                object = Some(object.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
            }
            let Some((olo, ohi)) = object else { continue };
            if n.instances.is_empty() {
                // One placement: exact bounds of the transformed vertices.
                for &v in m.primitives.iter().flat_map(|p| &p.positions) {
                    let w = n.world.transform_point3(Vec3::from(v));
                    b = Some(b.map_or((w, w), |(lo, hi)| (lo.min(w), hi.max(w))));
                }
                continue;
            }
            for t in n.draw_transforms() {
                for k in 0..8 {
                    let c = Vec3::new(
                        if k & 1 == 0 { olo.x } else { ohi.x },
                        if k & 2 == 0 { olo.y } else { ohi.y },
                        if k & 4 == 0 { olo.z } else { ohi.z },
                    );
                    let w = t.transform_point3(c);
                    b = Some(b.map_or((w, w), |(lo, hi)| (lo.min(w), hi.max(w))));
                }
            }
        }
        let sets = self.point_sets.iter().map(|p| (&p.transform, &p.positions));
        let lines = self.line_sets.iter().map(|l| (&l.transform, &l.positions));
        for (transform, positions) in sets.chain(lines) {
            for &v in positions {
                let w = transform.transform_point3(Vec3::from(v));
                b = Some(match b {
                    None => (w, w),
                    Some((lo, hi)) => (lo.min(w), hi.max(w)),
                });
            }
        }
        b
    }

    /// Whether nothing lights the scene (no punctual light, no environment) while something
    /// needs light (a material that is not unlit, or nothing but points and lines, which need
    /// a background). Emissive materials do not count: what glows does not light the rest of
    /// a model (a helmet's lamps, a car's headlights).
    pub fn is_unlit(&self) -> bool {
        let all_unlit = !self.materials.is_empty() && self.materials.iter().all(|m| m.unlit);
        self.lights.is_empty() && self.environment == Environment::None && !all_unlit
    }

    /// Adds an image quad: a unit square (-0.5..0.5 in x and y, facing +Z, UV (0, 0) at the
    /// top left) showing `texture` unlit, double sided, placed by `transform`. Returns the
    /// node's index.
    pub fn add_image_quad(&mut self, texture: Texture, transform: Mat4) -> usize {
        self.versions.structure += 1;
        let name = texture.name.clone();
        self.textures.push(texture);
        self.materials.push(Material {
            name: name.clone(),
            base_color_texture: Some(self.textures.len() - 1),
            unlit: true,
            double_sided: true,
            ..Default::default()
        });
        let quad = Primitive {
            positions: vec![[-0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.5, -0.5, 0.0], [-0.5, -0.5, 0.0]],
            normals: vec![[0.0, 0.0, 1.0]; 4],
            uvs: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
            indices: vec![0, 2, 1, 0, 3, 2],
            material: self.materials.len() - 1,
            ..Default::default()
        };
        self.meshes.push(Mesh { name: name.clone(), primitives: vec![quad] });
        let node = Node::new(&name, transform).with_mesh(self.meshes.len() - 1);
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Gives an unlit scene (typically an OBJ or PLY file) a default lighting: a directional
    /// key light from above and a dim uniform environment. Returns whether it did.
    pub fn add_default_lighting(&mut self) -> bool {
        if !self.is_unlit() {
            return false;
        }
        self.versions.structure += 1;
        let dir = Vec3::new(-0.4, -1.0, -0.3).normalize();
        let rot = glam::Quat::from_rotation_arc(-Vec3::Z, dir);
        self.lights.push(Light {
            name: "default key".into(),
            kind: LightKind::Directional,
            color: [1.0; 3],
            intensity: 2.5,
            shadows: true,
            range: None,
        });
        self.nodes
            .push(Node::new("default key", Mat4::from_quat(rot)).with_light(self.lights.len() - 1));
        self.environment = Environment::Uniform([0.25; 3]);
        true
    }

    /// Adds everything of `other` to this scene (another file opened next to it): its nodes,
    /// meshes, materials, textures, lights, cameras, point and line sets, with every index
    /// shifted. The environment of `other` replaces this one only where this one has none.
    pub fn append(&mut self, other: Scene) {
        self.warnings.extend(other.warnings.iter().cloned());
        self.plots.extend(other.plots.iter().cloned());
        self.up = self.up.or(other.up);
        let (nodes, meshes, materials) =
            (self.nodes.len(), self.meshes.len(), self.materials.len());
        let (lights, cameras, textures) =
            (self.lights.len(), self.cameras.len(), self.textures.len());
        let skins = self.skins.len();
        let (point_sets, line_sets) = (self.point_sets.len(), self.line_sets.len());
        let offsets = crate::property::Offsets {
            nodes,
            meshes,
            materials,
            lights,
            point_sets,
            line_sets,
            textures,
        };
        self.properties.extend(other.properties.into_iter().map(|mut p| {
            p.property = p.property.shifted(&offsets);
            p
        }));
        // What changed in the other scene is written with this one's next update anyway
        // (it is uploaded again: its structure changed).
        self.versions.structure += 1;
        self.skins.extend(other.skins.into_iter().map(|mut s| {
            for j in &mut s.joints {
                *j += nodes;
            }
            s
        }));
        self.nodes.extend(other.nodes.into_iter().map(|mut n| {
            n.parent = n.parent.map(|p| p + nodes);
            n.skin = n.skin.map(|s| s + skins);
            n.mesh = n.mesh.map(|m| m + meshes);
            n.camera = n.camera.map(|c| c + cameras);
            n.light = n.light.map(|l| l + lights);
            n
        }));
        self.meshes.extend(other.meshes.into_iter().map(|mut m| {
            for p in &mut m.primitives {
                p.material += materials;
            }
            m
        }));
        self.materials.extend(other.materials.into_iter().map(|mut m| {
            for t in [
                &mut m.base_color_texture,
                &mut m.metallic_roughness_texture,
                &mut m.normal_texture,
                &mut m.occlusion_texture,
                &mut m.emissive_texture,
            ] {
                *t = t.map(|i| i + textures);
            }
            m
        }));
        self.textures.extend(other.textures);
        self.lights.extend(other.lights);
        self.cameras.extend(other.cameras);
        self.point_sets.extend(other.point_sets.into_iter().map(|mut p| {
            p.node = p.node.map(|n| n + nodes);
            p
        }));
        self.line_sets.extend(other.line_sets.into_iter().map(|mut l| {
            l.node = l.node.map(|n| n + nodes);
            l
        }));
        self.animations.extend(other.animations.into_iter().map(|mut a| {
            a.node += nodes;
            a
        }));
        self.clips.extend(other.clips.into_iter().map(|mut c| {
            for a in &mut c.animations {
                a.node += nodes;
            }
            c
        }));
        if self.environment == Environment::None {
            self.environment = other.environment;
        }
        self.update_world();
        self.versions.structure += 1;
    }

    /// The node holding camera `name` (or the first camera when `name` is None).
    pub fn camera_node(&self, name: Option<&str>) -> Option<usize> {
        self.nodes.iter().position(|n| {
            n.camera.is_some_and(|c| {
                name.is_none_or(|want| self.cameras[c].name == want || n.name == want)
            })
        })
    }
}
