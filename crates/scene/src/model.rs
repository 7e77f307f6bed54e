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

/// glTF metallic-roughness material (factors; textures come with a later issue).
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
    /// Triangle list indices.
    pub indices: Vec<u32>,
    /// Index into [`Scene::materials`].
    pub material: usize,
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
    /// conversion; ../shared/refs/README.md).
    pub intensity: f32,
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
}

impl Scene {
    /// Recomputes every node's world transform (parents come first).
    pub fn update_world(&mut self) {
        for i in 0..self.nodes.len() {
            let parent =
                self.nodes[i].parent.map(|p| self.nodes[p].world).unwrap_or(Mat4::IDENTITY);
            self.nodes[i].world = parent * self.nodes[i].local;
        }
    }

    /// World-space bounds of all mesh vertices and points (None without geometry).
    pub fn bounds(&self) -> Option<(Vec3, Vec3)> {
        let mut b: Option<(Vec3, Vec3)> = None;
        for n in &self.nodes {
            let Some(m) = n.mesh.and_then(|m| self.meshes.get(m)) else { continue };
            for p in &m.primitives {
                for &v in &p.positions {
                    let w = n.world.transform_point3(Vec3::from(v));
                    b = Some(match b {
                        None => (w, w),
                        Some((lo, hi)) => (lo.min(w), hi.max(w)),
                    });
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

    /// Whether nothing lights the scene: no lights, no environment, no emissive material.
    pub fn is_unlit(&self) -> bool {
        self.lights.is_empty()
            && self.environment == Environment::None
            && !self.materials.iter().any(|m| m.emissive.iter().any(|&e| e > 0.0))
    }

    /// Gives an unlit scene (typically an OBJ or PLY file) a default lighting: a directional
    /// key light from above and a dim uniform environment. Returns whether it did.
    pub fn add_default_lighting(&mut self) -> bool {
        if !self.is_unlit() {
            return false;
        }
        let dir = Vec3::new(-0.4, -1.0, -0.3).normalize();
        let rot = glam::Quat::from_rotation_arc(-Vec3::Z, dir);
        self.lights.push(Light {
            name: "default key".into(),
            kind: LightKind::Directional,
            color: [1.0; 3],
            intensity: 2.5,
        });
        self.nodes
            .push(Node::new("default key", Mat4::from_quat(rot)).with_light(self.lights.len() - 1));
        self.environment = Environment::Uniform([0.25; 3]);
        true
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
