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

/// Where to look from to see all of `bounds` from a three-quarter view (45 degrees round `up`
/// from the front, 30 degrees above), filling a perspective view of vertical field of view
/// `yfov` and `aspect` (width / height): the eye and the target (the bounds' centre). The
/// front is +Z for Y up (glTF), -Y for Z up. The distance fits the bounds' eight corners, not
/// a sphere around them, so the model fills the view.
pub fn three_quarter_view(bounds: (Vec3, Vec3), up: Vec3, yfov: f32, aspect: f32) -> (Vec3, Vec3) {
    let (lo, hi) = bounds;
    let target = 0.5 * (lo + hi);
    let up = up.normalize_or(Vec3::Y);
    let front = if up.z.abs() > 0.9 { -Vec3::Y * up.z.signum() } else { Vec3::Z };
    let right = up.cross(front).normalize_or(Vec3::X);
    let (az, el) = (45f32.to_radians(), 30f32.to_radians());
    let to_eye = (el.cos() * (az.cos() * front + az.sin() * right) + el.sin() * up).normalize();
    // The camera's frame (as look_at makes it).
    let forward = -to_eye;
    let cam_right = forward.cross(up).normalize_or(right);
    let cam_up = cam_right.cross(forward);
    let tan_v = (0.5 * yfov).tan().max(1e-3);
    let tan_h = tan_v * aspect.max(1e-3);
    let mut distance: f32 = 1e-3;
    for k in 0..8 {
        let c = Vec3::new(
            if k & 1 == 0 { lo.x } else { hi.x },
            if k & 2 == 0 { lo.y } else { hi.y },
            if k & 4 == 0 { lo.z } else { hi.z },
        ) - target;
        let (x, y, z) = (c.dot(cam_right), c.dot(cam_up), c.dot(to_eye));
        // A 5 % margin round the corners.
        distance = distance.max(z + 1.05 * x.abs() / tan_h).max(z + 1.05 * y.abs() / tan_v);
    }
    let radius = (0.5 * (hi - lo).length()).max(1e-3);
    // Outside the bounds' sphere, so that the near plane clips nothing.
    let distance = distance.max(radius * 1.01);
    (target + to_eye * distance, target)
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
            None => Some(Self::framing(scene.bounds(), scene.up_axis(), width, height)),
        }
    }

    /// The default view of `bounds` (None: the unit cube) with `up` up: from three quarters
    /// above, framing them (what [`View::from_scene`] gives a scene without a camera).
    pub fn framing(bounds: Option<(Vec3, Vec3)>, up: Vec3, width: u32, height: u32) -> Self {
        let aspect = width as f32 / height.max(1) as f32;
        let (lo, hi) = bounds.unwrap_or((Vec3::splat(-1.0), Vec3::splat(1.0)));
        let radius = (0.5 * (hi - lo).length()).max(1e-3);
        let yfov = 45f32.to_radians();
        let (position, center) = three_quarter_view((lo, hi), up, yfov, aspect);
        let dist = (position - center).length();
        Self {
            view: glam::camera::rh::view::look_at_mat4(position, center, up),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ndc(m: Mat4, p: Vec3) -> Vec3 {
        let c = m * p.extend(1.0);
        c.truncate() / c.w
    }

    /// The three-quarter view keeps every corner of the bounds in the image and fills it (a
    /// corner near an edge), for a cube, a flat square in the XZ plane (seen from above, not
    /// edge-on) and a Z-up slab, at two aspect ratios.
    #[test]
    fn three_quarter_view_fills_the_image() {
        let cases = [
            ((Vec3::splat(-1.0), Vec3::splat(1.0)), Vec3::Y),
            ((Vec3::new(-2.0, 0.0, -2.0), Vec3::new(2.0, 0.0, 2.0)), Vec3::Y),
            ((Vec3::new(-3.0, -1.0, 0.0), Vec3::new(3.0, 1.0, 0.2)), Vec3::Z),
        ];
        for ((lo, hi), up) in cases {
            for aspect in [1.0, 16.0 / 9.0] {
                let yfov = 45f32.to_radians();
                let (eye, target) = three_quarter_view((lo, hi), up, yfov, aspect);
                let view = glam::camera::rh::view::look_at_mat4(eye, target, up);
                let m = perspective(yfov, aspect, 1e-3, 1e4) * view;
                let mut most: f32 = 0.0;
                for k in 0..8 {
                    let c = Vec3::new(
                        if k & 1 == 0 { lo.x } else { hi.x },
                        if k & 2 == 0 { lo.y } else { hi.y },
                        if k & 4 == 0 { lo.z } else { hi.z },
                    );
                    let p = ndc(m, c);
                    assert!(p.x.abs() <= 1.0 && p.y.abs() <= 1.0, "{lo}..{hi}: corner {c} at {p}");
                    most = most.max(p.x.abs()).max(p.y.abs());
                }
                assert!(most > 0.9, "{lo}..{hi} at aspect {aspect}: fills {most}");
                // Above the model: the eye is on the up side of the centre.
                assert!((eye - target).dot(up) > 0.0);
            }
        }
    }
}
