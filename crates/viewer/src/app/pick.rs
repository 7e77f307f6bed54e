//! Picking in the viewer: a click in a viewport (press and release without a drag) picks
//! what is under the cursor (`render::Picker`): a mesh selects its node in the scene tree and
//! the inspector; the viewport shows the element picked and its values; clients subscribed to
//! "pick" hear of it. `App::pick` does the same for the embedding API and the protocol.

use render::{PickTarget, Picker};
use serde_json::json;

/// What a pick found, described for people and clients.
#[derive(Debug, Clone, PartialEq)]
pub struct PickInfo {
    /// The viewport.
    pub viewport: u32,
    /// "mesh", "points" or "lines".
    pub kind: &'static str,
    /// The node (meshes; a frustum's segment: the camera node of its pose, if it has one).
    pub node: Option<usize>,
    /// The draw (meshes: the node's placement of the primitive).
    pub draw: Option<usize>,
    /// The point or line set (points, lines).
    pub set: Option<usize>,
    /// The node's or the set's name.
    pub name: String,
    /// The triangle of the primitive (the sphere of spheres), the point or the segment.
    pub element: u32,
    /// The mesh is spheres (`scene::shapes::spheres`): `element` is a sphere, `position` its
    /// centre.
    pub sphere: bool,
    /// The hit in world space (a point: the point itself).
    pub position: [f32; 3],
    /// A point's colour (sRGB RGBA8), if it has one.
    pub color: Option<[u8; 4]>,
    /// A point's scalar, if it has one.
    pub scalar: Option<f32>,
}

impl PickInfo {
    /// The fields of a "pick" event or reply.
    pub fn to_json(&self) -> serde_json::Value {
        json!({"hit": true, "viewport": self.viewport, "kind": self.kind, "node": self.node,
               "set": self.set, "name": self.name, "index": self.element,
               "element": self.element_kind(),
               "position": self.position, "color": self.color, "scalar": self.scalar})
    }

    /// What `element` counts: "triangle", "sphere", "point" or "segment".
    pub fn element_kind(&self) -> &'static str {
        match self.kind {
            "mesh" if self.sphere => "sphere",
            "mesh" => "triangle",
            "points" => "point",
            _ => "segment",
        }
    }

    /// One line for the viewport.
    pub fn label(&self) -> String {
        let p = self.position;
        let what = self.element_kind();
        let mut s = format!(
            "{} {what} {}: ({:.4}, {:.4}, {:.4})",
            self.name, self.element, p[0], p[1], p[2]
        );
        if let Some(c) = self.color {
            s += &format!(" rgba {c:?}");
        }
        if let Some(v) = self.scalar {
            s += &format!(" value {v}");
        }
        if self.kind == "lines" && self.node.is_some() {
            s += " (a camera: look through it from the inspector)";
        }
        s
    }
}

impl super::App {
    /// The size in pixels of viewport `viewport`'s image (None: the first), what
    /// [`App::pick`](super::App::pick) takes pixels of.
    pub fn viewport_size(&self, viewport: Option<u32>) -> Option<(u32, u32)> {
        let vp = match viewport {
            Some(id) => self.viewports.iter().find(|v| v.id == id),
            None => self.viewports.first(),
        };
        vp.and_then(|v| v.image.as_ref()).map(|i| (i.width, i.height))
    }

    /// What is under pixel (`x`, `y`) (from the top left) of viewport `viewport` (None: the
    /// first), as its renderer draws it (hidden nodes left out). None: nothing there, no such
    /// viewport, or no scene on the GPU yet.
    pub fn pick(
        &mut self,
        viewport: Option<u32>,
        x: f32,
        y: f32,
    ) -> anyhow::Result<Option<PickInfo>> {
        let vp = match viewport {
            Some(id) => self.viewports.iter().find(|v| v.id == id),
            None => self.viewports.first(),
        };
        let (Some(vp), Some(gpu)) = (vp, self.gpu.as_ref()) else { return Ok(None) };
        let Some(img) = vp.image.as_ref() else { return Ok(None) };
        let view = vp.camera.view(img.width, img.height);
        let hidden = vp.hidden.union(&self.hidden_everywhere).copied().collect();
        if self.picker.is_none() {
            self.picker = Some(Picker::new(&self.ctx, &self.compiler)?);
        }
        let Some(picker) = self.picker.as_ref() else { return Ok(None) };
        let Some(p) = picker.pick(gpu, &view, x, y, &hidden)? else { return Ok(None) };
        let s = &self.scene;
        let mut info = PickInfo {
            viewport: vp.id,
            kind: "mesh",
            node: None,
            draw: None,
            set: None,
            name: String::new(),
            element: p.element,
            sphere: false,
            position: p.position.to_array(),
            color: None,
            scalar: None,
        };
        match p.target {
            PickTarget::Mesh { node, draw, primitive, sphere } => {
                info.node = Some(node);
                info.draw = Some(draw);
                info.name = s.nodes.get(node).map(|n| n.name.clone()).unwrap_or_default();
                info.sphere = sphere;
                let prim = s
                    .nodes
                    .get(node)
                    .and_then(|n| s.meshes.get(n.mesh?))
                    .and_then(|m| m.primitives.get(primitive));
                if let (true, Some(prim)) = (sphere, prim) {
                    // The sphere's centre (its tessellation's vertices 0 and 3 are antipodal)
                    // and colour.
                    let first = p.element as usize * prim.sphere_vertices as usize;
                    let world =
                        gpu.draw_list.get(draw).map(|d| glam::Mat4::from_cols_array_2d(&d.model));
                    if let (Some(a), Some(b), Some(w)) =
                        (prim.positions.get(first), prim.positions.get(first + 3), world)
                    {
                        let c = 0.5 * (glam::Vec3::from(*a) + glam::Vec3::from(*b));
                        info.position = w.transform_point3(c).to_array();
                    }
                    info.color =
                        prim.colors.get(first).map(|&c| scene::pack_srgba8(c).to_le_bytes());
                }
            }
            PickTarget::Points(i) => {
                info.kind = "points";
                info.set = Some(i);
                if let Some(ps) = s.point_sets.get(i) {
                    info.name = ps.name.clone();
                    let k = p.element as usize;
                    if let Some(&q) = ps.positions.get(k) {
                        info.position = ps.transform.transform_point3(q.into()).to_array();
                    }
                    info.color = ps.colors.get(k).copied();
                    info.scalar = ps.scalars.get(k).copied();
                }
            }
            PickTarget::Lines(i) => {
                info.kind = "lines";
                info.set = Some(i);
                info.name = s.line_sets.get(i).map(|l| l.name.clone()).unwrap_or_default();
                // A frustum with cameras (protocol 'frustum', cameras: true): the camera of
                // the picked pose, to select and look through.
                let pose = p.element / scene::shapes::FRUSTUM_SEGMENTS;
                let camera = format!("{}/camera/{pose}", info.name);
                info.node = s.nodes.iter().position(|n| n.camera.is_some() && n.name == camera);
            }
        }
        Ok(Some(info))
    }

    /// A click at (`x`, `y`) of viewport `viewport`: picks, selects a mesh's node, keeps the
    /// line the viewport shows, tells subscribed clients.
    pub(super) fn clicked(&mut self, viewport: u32, x: f32, y: f32) {
        let picked = match self.pick(Some(viewport), x, y) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("pick: {e:#}");
                return;
            }
        };
        if let Some(n) = picked.as_ref().and_then(|p| p.node) {
            self.selected = Some(n);
        }
        if let Some(vp) = self.viewports.iter_mut().find(|v| v.id == viewport) {
            vp.picked = picked.as_ref().map(PickInfo::label);
        }
        self.broadcast_pick(viewport, x, y, picked.as_ref());
    }

    /// The cursor over viewport `viewport` at a pixel (None: it left): the box of what is
    /// under it, for the outline.
    pub(super) fn hovered(&mut self, viewport: u32, at: Option<(f32, f32)>) {
        let picked = match at {
            Some((x, y)) => self.pick(Some(viewport), x, y).ok().flatten(),
            None => None,
        };
        let hover = picked.and_then(|p| self.box_of(&p));
        if let Some(vp) = self.viewports.iter_mut().find(|v| v.id == viewport) {
            vp.hover = hover;
        }
    }

    /// The object-space box and the transform of what `p` picked.
    fn box_of(&self, p: &PickInfo) -> Option<(glam::Mat4, glam::Vec3, glam::Vec3)> {
        let gpu = self.gpu.as_ref()?;
        match (p.kind, p.set, p.node) {
            ("points", Some(i), _) => {
                let g = gpu.points.get(i)?;
                g.local_bounds.map(|(lo, hi)| (g.transform, lo, hi))
            }
            ("lines", Some(i), _) => {
                let g = gpu.lines.get(i)?;
                g.local_bounds.map(|(lo, hi)| (g.transform, lo, hi))
            }
            ("mesh", _, Some(node)) => {
                let n = self.scene.nodes.get(node)?;
                let m = self.scene.meshes.get(n.mesh?)?;
                let mut b: Option<(glam::Vec3, glam::Vec3)> = None;
                for &v in m.primitives.iter().flat_map(|p| &p.positions) {
                    let v = glam::Vec3::from(v);
                    b = Some(b.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
                }
                let draw = p.draw.and_then(|d| gpu.draw_model(d)).unwrap_or(n.world);
                b.map(|(lo, hi)| (draw, lo, hi))
            }
            _ => None,
        }
    }
}
