//! Interactive cameras: orbit, trackball, fly and 2D pan/zoom, axis-aligned views, frame-all
//! and the cameras of the loaded files.

use glam::{Mat4, Quat, Vec3};
use scene::{Scene, View};

/// How mouse and keys move the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraMode {
    /// Rotate around the target, the world's up axis kept vertical.
    Orbit,
    /// Rotate around the target freely (about the view's own axes).
    Trackball,
    /// First person: WASD (Q/E down/up) moves, dragging looks around.
    Fly,
    /// Orthographic 2D: dragging pans, the wheel zooms.
    Pan2D,
}

impl CameraMode {
    /// Every mode, for menus.
    pub const ALL: [CameraMode; 4] =
        [CameraMode::Orbit, CameraMode::Trackball, CameraMode::Fly, CameraMode::Pan2D];
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            CameraMode::Orbit => "orbit",
            CameraMode::Trackball => "trackball",
            CameraMode::Fly => "fly",
            CameraMode::Pan2D => "2D pan/zoom",
        }
    }
}

/// The world's up axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Up {
    /// From the files: their convention (glTF: +Y), else +Z for data flat in Z, else +Y
    /// ([`scene::Scene::up_axis`]).
    #[default]
    Auto,
    /// +Y up (glTF).
    Y,
    /// +Z up (many CAD, robotics and lidar files).
    Z,
}

impl Up {
    /// The axis (+Y for `Auto` before it is resolved against a scene).
    pub fn axis(self) -> Vec3 {
        match self {
            Up::Z => Vec3::Z,
            Up::Y | Up::Auto => Vec3::Y,
        }
    }

    /// `Auto` decided for `scene` (+Z or +Y); the others as they are.
    pub fn resolve(self, scene: &Scene) -> Up {
        match self {
            Up::Auto if scene.up_axis().z > 0.5 => Up::Z,
            Up::Auto => Up::Y,
            up => up,
        }
    }
}

/// An axis-aligned view direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisView {
    /// Looking at the front (along +Y for Z-up, along -Z for Y-up).
    Front,
    /// Looking from the right (along -X).
    Right,
    /// Looking down the up axis.
    Top,
}

/// The state of one viewport's camera.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    /// Interaction mode.
    pub mode: CameraMode,
    /// World up.
    pub up: Up,
    /// The point the camera looks at and orbits around.
    pub target: Vec3,
    /// Distance from the eye to the target.
    pub distance: f32,
    /// Camera orientation (the camera looks along its local -Z, up is local +Y).
    pub rotation: Quat,
    /// Vertical field of view (perspective).
    pub yfov: f32,
    /// Orthographic projection.
    pub orthographic: bool,
    /// Half the visible height in world units (orthographic).
    pub ortho_half_height: f32,
    /// Size of the scene (near and far planes, speeds).
    pub scene_radius: f32,
    /// Centre of the scene's bounds (near and far planes).
    pub scene_center: Vec3,
}

/// Radians per pixel of mouse movement.
const ROTATE_SPEED: f32 = 0.008;

/// Times of an animation sampled for the bounds a view frames.
const ANIMATION_SAMPLES: usize = 32;

impl Camera {
    /// A camera framing `scene` from the front.
    pub fn new(scene: &Scene, up: Up) -> Self {
        let up = up.resolve(scene);
        let mut c = Self {
            mode: CameraMode::Orbit,
            up,
            target: Vec3::ZERO,
            distance: 1.0,
            rotation: Quat::IDENTITY,
            yfov: 45f32.to_radians(),
            orthographic: false,
            ortho_half_height: 1.0,
            scene_radius: 1.0,
            scene_center: Vec3::ZERO,
        };
        c.frame_all(scene);
        c.three_quarter(scene);
        // A file with a camera starts from it.
        if let Some(n) = scene.camera_node(None) {
            c.set_from_node(scene, n);
        }
        c
    }

    /// Looks from `eye` at `target` with `up` as the screen's up (a program's camera).
    pub fn look_at(&mut self, eye: Vec3, target: Vec3, up: Vec3) {
        let d = target - eye;
        if !(d.is_finite() && d.length() > 1e-6) {
            return;
        }
        let up = if up.cross(d).length() > 1e-6 { up.normalize() } else { self.up.axis() };
        self.target = target;
        self.distance = d.length();
        self.rotation = look_rotation(d, up);
    }

    /// The eye position.
    pub fn eye(&self) -> Vec3 {
        self.target + self.rotation * Vec3::new(0.0, 0.0, self.distance)
    }

    /// Looks at the scene from a three-quarter view (45 degrees round the up axis, 30 above)
    /// at the distance that makes its bounds fill the view (the first view of a file without
    /// a camera).
    pub fn three_quarter(&mut self, scene: &Scene) {
        // The whole animation's bounds (what moves stays in view).
        let bounds = scene
            .animated_bounds(ANIMATION_SAMPLES)
            .filter(|(lo, hi)| lo.is_finite() && hi.is_finite());
        let bounds = bounds.unwrap_or((Vec3::splat(-1.0), Vec3::splat(1.0)));
        // The viewport's aspect is not known yet: fit a square view (wider ones fit more).
        let up = self.up.axis();
        let (eye, target) = scene::camera::three_quarter_view(bounds, up, self.yfov, 1.0);
        self.target = target;
        self.distance = (eye - target).length().max(1e-3);
        self.rotation = look_rotation(target - eye, up);
    }

    /// Looks at the scene's bounds so that all of it is visible.
    pub fn frame_all(&mut self, scene: &Scene) {
        let bounds = scene.animated_bounds(ANIMATION_SAMPLES);
        let (lo, hi) = bounds.unwrap_or((Vec3::splat(-1.0), Vec3::splat(1.0)));
        let (lo, hi) = if lo.is_finite() && hi.is_finite() {
            (lo, hi)
        } else {
            (Vec3::splat(-1.0), Vec3::splat(1.0))
        };
        self.target = 0.5 * (lo + hi);
        self.scene_center = self.target;
        let radius = (0.5 * (hi - lo).length()).max(1e-3);
        self.scene_radius = radius;
        self.distance = radius / (0.5 * self.yfov).sin() * 1.1;
        self.ortho_half_height = radius * 1.1;
    }

    /// Turns to an axis-aligned view (`opposite`: from the other side).
    pub fn set_axis_view(&mut self, view: AxisView, opposite: bool) {
        // Forward direction (from eye to target) and the camera's up (a camera's `up` is
        // resolved when it is made; `Auto` reads as +Y).
        let (forward, cam_up) = match (self.up, view) {
            (Up::Y | Up::Auto, AxisView::Front) => (-Vec3::Z, Vec3::Y),
            (Up::Y | Up::Auto, AxisView::Right) => (-Vec3::X, Vec3::Y),
            (Up::Y | Up::Auto, AxisView::Top) => (-Vec3::Y, -Vec3::Z),
            (Up::Z, AxisView::Front) => (Vec3::Y, Vec3::Z),
            (Up::Z, AxisView::Right) => (-Vec3::X, Vec3::Z),
            (Up::Z, AxisView::Top) => (-Vec3::Z, Vec3::Y),
        };
        let forward = if opposite { -forward } else { forward };
        self.rotation = look_rotation(forward, cam_up);
    }

    /// Takes the place of the camera of node `node` of `scene` (position, direction, field
    /// of view, projection); the target is put at the distance of the scene's centre.
    pub fn set_from_node(&mut self, scene: &Scene, node: usize) -> bool {
        let Some(n) = scene.nodes.get(node) else { return false };
        let Some(cam) = n.camera.and_then(|c| scene.cameras.get(c)) else { return false };
        let (_, rot, eye) = n.world.to_scale_rotation_translation();
        let rot = rot.normalize();
        if !rot.is_finite() || !eye.is_finite() {
            return false;
        }
        self.rotation = rot;
        let forward = rot * -Vec3::Z;
        let center = scene.bounds().map(|(lo, hi)| 0.5 * (lo + hi)).unwrap_or(Vec3::ZERO);
        let d = (center - eye).dot(forward).max(self.scene_radius * 0.1).max(1e-3);
        self.distance = d;
        self.target = eye + forward * d;
        match cam.projection {
            scene::Projection::Perspective { yfov } => {
                self.yfov = yfov.clamp(1f32.to_radians(), 170f32.to_radians());
                self.orthographic = false;
            }
            scene::Projection::Orthographic { ymag } => {
                self.orthographic = true;
                self.ortho_half_height = ymag.abs().max(1e-6);
            }
        }
        true
    }

    /// Mouse drag with the rotate button by (dx, dy) pixels.
    pub fn rotate(&mut self, dx: f32, dy: f32) {
        let up = self.up.axis();
        match self.mode {
            CameraMode::Orbit | CameraMode::Fly => {
                let eye = self.eye();
                let yaw = Quat::from_axis_angle(up, -dx * ROTATE_SPEED);
                let mut r = yaw * self.rotation;
                let pitched = r * Quat::from_axis_angle(Vec3::X, -dy * ROTATE_SPEED);
                // Keep the view off the poles (the up axis stays up); a pitch away from a pole
                // is always taken (from a top view, a small drag tilts back).
                let (before, after) =
                    ((r * -Vec3::Z).dot(up).abs(), (pitched * -Vec3::Z).dot(up).abs());
                if after < 0.995 || after < before {
                    r = pitched;
                }
                self.rotation = r.normalize();
                if self.mode == CameraMode::Fly {
                    // Looking around keeps the eye in place.
                    self.target = eye - self.rotation * Vec3::new(0.0, 0.0, self.distance);
                }
            }
            CameraMode::Trackball => {
                let axis = Vec3::new(-dy, -dx, 0.0);
                let angle = axis.length() * ROTATE_SPEED;
                if angle > 0.0 {
                    self.rotation = (self.rotation
                        * Quat::from_axis_angle(axis.normalize(), angle))
                    .normalize();
                }
            }
            // Dragging pans in 2D (the viewer calls `pan` with the viewport's height).
            CameraMode::Pan2D => {}
        }
    }

    /// Mouse drag with the pan button by (dx, dy) pixels in a viewport `height` pixels high.
    pub fn pan(&mut self, dx: f32, dy: f32, height: f32) {
        let world_per_px = if self.orthographic || self.mode == CameraMode::Pan2D {
            2.0 * self.ortho_half_height / height.max(1.0)
        } else {
            2.0 * self.distance * (0.5 * self.yfov).tan() / height.max(1.0)
        };
        let right = self.rotation * Vec3::X;
        let cam_up = self.rotation * Vec3::Y;
        self.target += (-dx * right + dy * cam_up) * world_per_px;
    }

    /// Mouse wheel by `steps` (positive: closer).
    pub fn zoom(&mut self, steps: f32) {
        let f = 0.9f32.powf(steps.clamp(-20.0, 20.0));
        if self.orthographic || self.mode == CameraMode::Pan2D {
            self.ortho_half_height = (self.ortho_half_height * f).max(1e-6);
        } else if self.mode == CameraMode::Fly {
            self.target += self.rotation * -Vec3::Z * (1.0 - f) * self.scene_radius;
        } else {
            self.distance = (self.distance * f).max(self.scene_radius * 1e-4);
        }
    }

    /// Fly mode: moves by `(right, up, forward)` times `dt` seconds at a speed relative to
    /// the scene's size.
    pub fn fly(&mut self, dir: Vec3, dt: f32) {
        let speed = self.scene_radius * 0.8;
        let world = self.rotation * Vec3::new(dir.x, dir.y, -dir.z);
        self.target += world * speed * dt;
    }

    /// The view for an image of `width` x `height`.
    pub fn view(&self, width: u32, height: u32) -> View {
        let aspect = width as f32 / height.max(1) as f32;
        let eye = self.eye();
        let world = Mat4::from_rotation_translation(self.rotation, eye);
        let r = self.scene_radius.max(1e-4);
        let ortho = self.orthographic || self.mode == CameraMode::Pan2D;
        // Near and far enclose the scene's bounding sphere as seen from the eye (wherever
        // the eye is: flying, zoomed in, far away).
        let forward = self.rotation * -Vec3::Z;
        let center_depth = (self.scene_center - eye).dot(forward);
        let far = (center_depth + 1.05 * r).max(r * 1e-2);
        let proj = if ortho {
            // A parallel view may start behind the eye: everything of the scene is in front.
            let near = (center_depth - 1.05 * r).min(0.0);
            scene::camera::orthographic(
                self.ortho_half_height * aspect,
                self.ortho_half_height,
                near,
                far.max(near + 1e-3),
            )
        } else {
            let near = (center_depth - 1.05 * r).max(r * 1e-3).max(1e-5);
            scene::camera::perspective(self.yfov, aspect, near, far.max(near * 2.0))
        };
        View { view: world.inverse(), proj, position: eye, orthographic: ortho, width, height }
    }
}

/// The rotation that makes a camera look along `forward` with `up` as its up direction.
pub(crate) fn look_rotation(forward: Vec3, up: Vec3) -> Quat {
    let f = forward.normalize();
    let r = f.cross(up).normalize();
    let u = r.cross(f);
    Quat::from_mat3(&glam::Mat3::from_cols(r, u, -f)).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> Scene {
        let mut s = Scene::default();
        s.point_sets.push(scene::PointSet::new("p", vec![[-1.0, -1.0, -1.0], [1.0, 3.0, 1.0]]));
        s
    }

    #[test]
    fn frame_all_sees_the_bounds_centre_in_the_middle() {
        let s = scene();
        for up in [Up::Y, Up::Z] {
            let c = Camera::new(&s, up);
            let v = c.view(100, 100);
            let clip = v.proj * v.view * glam::Vec4::new(0.0, 1.0, 0.0, 1.0);
            assert!((clip.x / clip.w).abs() < 1e-4 && (clip.y / clip.w).abs() < 1e-4);
            let z = clip.z / clip.w;
            assert!(z > 0.0 && z < 1.0, "{z}");
            // The up axis points up on screen (Vulkan: -y is up).
            let top = v.proj * v.view * (Vec3::new(0.0, 1.0, 0.0) + up.axis()).extend(1.0);
            assert!(top.y / top.w < -0.01, "{up:?}");
        }
    }

    /// `Up::Auto` takes the scene's up axis: +Z for points flat in Z, +Y for the others
    /// and for glTF files.
    #[test]
    fn auto_up_follows_the_scene() {
        let mut flat = Scene::default();
        let points = vec![[0.0, 0.0, 0.0], [4.0, 3.0, 0.2], [1.0, 2.0, 0.1]];
        flat.point_sets.push(scene::PointSet::new("lidar", points));
        assert_eq!(Camera::new(&flat, Up::Auto).up, Up::Z);
        assert_eq!(Camera::new(&scene(), Up::Auto).up, Up::Y);
        flat.up = Some(Vec3::Y);
        assert_eq!(Camera::new(&flat, Up::Auto).up, Up::Y);
        assert_eq!(Camera::new(&flat, Up::Z).up, Up::Z, "an explicit axis stays");
    }

    #[test]
    fn orbit_keeps_distance_and_up() {
        let s = scene();
        let mut c = Camera::new(&s, Up::Y);
        let d = (c.eye() - c.target).length();
        for _ in 0..50 {
            c.rotate(13.0, 7.0);
        }
        assert!(((c.eye() - c.target).length() - d).abs() < 1e-3 * d);
        // The camera's right vector stays horizontal.
        assert!((c.rotation * Vec3::X).dot(Vec3::Y).abs() < 1e-4);
        // Pitch is limited short of the pole.
        assert!((c.rotation * -Vec3::Z).dot(Vec3::Y).abs() < 0.996);
    }

    #[test]
    fn fly_looking_keeps_the_eye_and_moving_moves_it() {
        let s = scene();
        let mut c = Camera::new(&s, Up::Z);
        c.mode = CameraMode::Fly;
        let eye = c.eye();
        c.rotate(40.0, -20.0);
        assert!((c.eye() - eye).length() < 1e-3);
        let fwd = c.rotation * -Vec3::Z;
        c.fly(Vec3::Z, 1.0);
        let moved = c.eye() - eye;
        assert!(moved.normalize().dot(fwd) > 0.999);
    }

    #[test]
    fn pan_and_zoom() {
        let s = scene();
        let mut c = Camera::new(&s, Up::Y);
        c.mode = CameraMode::Pan2D;
        let t = c.target;
        c.pan(-100.0, 0.0, 100.0);
        assert!((c.target - t).dot(Vec3::X) > 0.0);
        let h = c.ortho_half_height;
        c.zoom(1.0);
        assert!(c.ortho_half_height < h);
        assert!(c.view(10, 10).orthographic);
    }

    #[test]
    fn near_and_far_enclose_the_scene_wherever_the_eye_is() {
        let s = scene();
        let mut c = Camera::new(&s, Up::Y);
        let corners =
            [Vec3::new(-1.0, -1.0, -1.0), Vec3::new(1.0, 3.0, 1.0), Vec3::new(1.0, -1.0, 1.0)];
        let check = |c: &Camera, what: &str| {
            let v = c.view(64, 64);
            for p in corners {
                let clip = v.proj * v.view * p.extend(1.0);
                if clip.w <= 0.0 && !v.orthographic {
                    continue; // behind a perspective eye: not drawable anyway
                }
                let z = clip.z / clip.w;
                assert!((0.0..=1.0).contains(&z), "{what}: {p} at depth {z}");
            }
        };
        check(&c, "framed");
        // Far away (fly backwards 20 radii).
        c.mode = CameraMode::Fly;
        c.fly(-Vec3::Z, 20.0 / 0.8);
        check(&c, "far away");
        // Orthographic, zoomed close (eye inside the bounds).
        let mut c = Camera::new(&s, Up::Y);
        c.distance = 0.1;
        c.orthographic = true;
        check(&c, "orthographic inside");
    }

    #[test]
    fn orbit_tilts_back_from_a_top_view() {
        let mut c = Camera::new(&scene(), Up::Z);
        c.set_axis_view(AxisView::Top, false);
        let before = (c.rotation * -Vec3::Z).dot(Vec3::Z).abs();
        for _ in 0..5 {
            c.rotate(0.0, 3.0);
            c.rotate(0.0, -3.0);
        }
        c.rotate(0.0, 4.0);
        let after = (c.rotation * -Vec3::Z).dot(Vec3::Z).abs();
        assert!(after < before, "{before} -> {after}");
    }

    #[test]
    fn axis_views_look_along_axes() {
        let mut c = Camera::new(&scene(), Up::Z);
        c.set_axis_view(AxisView::Top, false);
        assert!((c.rotation * -Vec3::Z).dot(-Vec3::Z) > 0.9999);
        c.set_axis_view(AxisView::Right, true);
        assert!((c.rotation * -Vec3::Z).dot(Vec3::X) > 0.9999);
        assert!((c.rotation * Vec3::Y).dot(Vec3::Z) > 0.9999);
    }
}
