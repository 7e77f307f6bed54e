//! What a renderer draws from: camera matrices and the image size.

use glam::{Mat4, Vec3, Vec4};

use crate::model::{Projection, Scene};

/// One viewport's camera, resolved to matrices (Vulkan clip space: depth 0..1, y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// World to view.
    pub view: Mat4,
    /// View to clip.
    pub proj: Mat4,
    /// Camera position in world space.
    pub position: Vec3,
    /// Parallel projection: every view ray has the camera's forward direction.
    pub orthographic: bool,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
}

/// A right-handed perspective projection for Vulkan (depth 0 at `near`, 1 at `far`, y down).
pub fn perspective(yfov: f32, aspect: f32, near: f32, far: f32) -> Mat4 {
    let f = 1.0 / (0.5 * yfov).tan();
    Mat4::from_cols(
        Vec4::new(f / aspect, 0.0, 0.0, 0.0),
        Vec4::new(0.0, -f, 0.0, 0.0),
        Vec4::new(0.0, 0.0, far / (near - far), -1.0),
        Vec4::new(0.0, 0.0, near * far / (near - far), 0.0),
    )
}

/// A right-handed orthographic projection for Vulkan, `2 * xmag` wide and `2 * ymag` high
/// (depth 0 at `near`, 1 at `far`, y down).
pub fn orthographic(xmag: f32, ymag: f32, near: f32, far: f32) -> Mat4 {
    Mat4::from_cols(
        Vec4::new(1.0 / xmag, 0.0, 0.0, 0.0),
        Vec4::new(0.0, -1.0 / ymag, 0.0, 0.0),
        Vec4::new(0.0, 0.0, 1.0 / (near - far), 0.0),
        Vec4::new(0.0, 0.0, near / (near - far), 1.0),
    )
}

impl View {
    /// The eye in homogeneous world coordinates: the camera position with w = 1, or for an
    /// orthographic view the direction towards the camera with w = 0, so that the direction to
    /// the viewer from a point `p` is `eye.xyz - p * eye.w` for both.
    pub fn eye(&self) -> Vec4 {
        if self.orthographic {
            // A degenerate (zero-scale) camera has no direction: fall back to +Z.
            let back = self.view.inverse().transform_vector3(Vec3::Z);
            back.try_normalize().unwrap_or(Vec3::Z).extend(0.0)
        } else {
            self.position.extend(1.0)
        }
    }

    /// The view of camera `camera` (its name or its node's name; the first camera when None),
    /// at `width x height`. A scene without a camera gets one that frames its bounds, looking
    /// down -Z from +Z.
    pub fn from_scene(
        scene: &Scene,
        camera: Option<&str>,
        width: u32,
        height: u32,
    ) -> Option<Self> {
        let aspect = width as f32 / height.max(1) as f32;
        match scene.camera_node(camera) {
            Some(n) => {
                let node = &scene.nodes[n];
                let cam = &scene.cameras[node.camera?];
                let world = node.world;
                let near = cam.znear.max(1e-4);
                // The clamp above may pass a far plane the file put very close.
                let far = cam.zfar.unwrap_or(1.0e4).max(near * 1.001);
                let proj = match cam.projection {
                    Projection::Perspective { yfov } => perspective(yfov, aspect, near, far),
                    Projection::Orthographic { ymag } => {
                        orthographic(ymag * aspect, ymag, near, far)
                    }
                };
                Some(Self {
                    view: world.inverse(),
                    proj,
                    position: world.transform_point3(Vec3::ZERO),
                    orthographic: matches!(cam.projection, Projection::Orthographic { .. }),
                    width,
                    height,
                })
            }
            None if camera.is_some() => None,
            None => {
                let (lo, hi) = scene.bounds().unwrap_or((Vec3::splat(-1.0), Vec3::splat(1.0)));
                let center = 0.5 * (lo + hi);
                let radius = (0.5 * (hi - lo).length()).max(1e-3);
                let yfov = 45f32.to_radians();
                let dist = radius / (0.5 * yfov).sin() * 1.1;
                let position = center + Vec3::Z * dist;
                Some(Self {
                    view: glam::camera::rh::view::look_at_mat4(position, center, Vec3::Y),
                    proj: perspective(
                        yfov,
                        aspect,
                        (dist - radius).max(dist * 1e-3) * 0.5,
                        dist + radius * 2.0,
                    ),
                    position,
                    orthographic: false,
                    width,
                    height,
                })
            }
        }
    }

    /// The camera's default size: `width` wide at the camera's aspect ratio (1:1 without one).
    pub fn default_size(scene: &Scene, camera: Option<&str>, width: u32) -> (u32, u32) {
        let aspect = scene
            .camera_node(camera)
            .and_then(|n| scene.nodes[n].camera)
            .and_then(|c| scene.cameras[c].aspect)
            .filter(|a| a.is_finite() && *a > 0.0)
            .unwrap_or(1.0);
        (width, ((width as f32 / aspect).round() as u32).max(1))
    }
}
