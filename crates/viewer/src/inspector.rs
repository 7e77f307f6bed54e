//! The scene tree (visibility in every viewport) and the inspector of the selected node: its
//! transform, the materials of its mesh, its light. Edits go through the scene's setters,
//! which bump its versions; the next frame updates the GPU copy in place and the path tracer
//! starts accumulating again.

use std::collections::BTreeSet;

use glam::{EulerRot, Mat4, Quat, Vec3};
use scene::Scene;

/// Depth of each node in the hierarchy (parents come before children).
fn depths(scene: &Scene) -> Vec<usize> {
    let mut d = vec![0usize; scene.nodes.len()];
    for (i, n) in scene.nodes.iter().enumerate() {
        if let Some(p) = n.parent.filter(|&p| p < i) {
            d[i] = d[p] + 1;
        }
    }
    d
}

/// The panel. `hidden` holds the nodes hidden everywhere; `selected` the inspected node.
/// Some(node): "look through this camera" was pressed on camera node `node`.
pub(crate) fn panel(
    ui: &imgui::Ui,
    scene: &mut Scene,
    hidden: &mut BTreeSet<u32>,
    selected: &mut Option<usize>,
    size: [f32; 2],
    open: &mut bool,
) -> Option<usize> {
    let mut look_through = None;
    ui.window("Inspector")
        .opened(open)
        .position([size[0] * 0.22 + 8.0, 40.0], imgui::Condition::FirstUseEver)
        .size([360.0, (size[1] - 60.0).max(100.0)], imgui::Condition::FirstUseEver)
        .build(|| {
            ui.text("Scene tree (tick: shown in every viewport)");
            let depth = depths(scene);
            ui.child_window("##tree").size([0.0, (size[1] * 0.3).max(80.0)]).border(true).build(
                || {
                    for (i, n) in scene.nodes.iter().enumerate() {
                        let mut shown = !hidden.contains(&(i as u32));
                        if ui.checkbox(format!("##vis{i}"), &mut shown) {
                            if shown {
                                hidden.remove(&(i as u32));
                            } else {
                                hidden.insert(i as u32);
                            }
                        }
                        ui.same_line();
                        let kind = match (n.mesh, n.light, n.camera) {
                            (Some(_), _, _) => "mesh",
                            (_, Some(_), _) => "light",
                            (_, _, Some(_)) => "camera",
                            _ => "node",
                        };
                        let name =
                            if n.name.is_empty() { format!("node {i}") } else { n.name.clone() };
                        let label =
                            format!("{}{name} ({kind})##sel{i}", "  ".repeat(depth[i].min(16)));
                        if ui.selectable_config(label).selected(*selected == Some(i)).build() {
                            *selected = Some(i);
                        }
                    }
                },
            );
            let Some(i) = selected.filter(|&i| i < scene.nodes.len()) else {
                ui.text_disabled("select a node to edit it");
                return;
            };
            ui.separator();
            if scene.nodes[i].camera.is_some()
                && ui.button("look through this camera (active viewport)")
            {
                look_through = Some(i);
            }
            node_editor(ui, scene, i);
        });
    look_through
}

fn node_editor(ui: &imgui::Ui, scene: &mut Scene, i: usize) {
    let node = &scene.nodes[i];
    ui.text(format!("node {i}: {}", node.name));
    let mesh = node.mesh;
    let (scale, rot, trans) = node.local.to_scale_rotation_translation();
    // A degenerate transform (a zero scale) has no rotation to show: identity.
    let rot = if rot.is_finite() { rot } else { Quat::IDENTITY };
    let (mut t, mut s) = (trans.to_array(), scale.to_array());
    let (ex, ey, ez) = rot.to_euler(EulerRot::XYZ);
    let mut r = [ex.to_degrees(), ey.to_degrees(), ez.to_degrees()];
    let mut changed = imgui::Drag::new("translation").speed(0.01).build_array(ui, &mut t);
    changed |= imgui::Drag::new("rotation (deg)").speed(0.5).build_array(ui, &mut r);
    changed |= imgui::Drag::new("scale").speed(0.01).build_array(ui, &mut s);
    // Scales keep away from zero (a singular transform has no inverse for normals).
    for v in &mut s {
        if v.abs() < 1e-4 {
            *v = 1e-4f32.copysign(*v);
        }
    }
    if changed && t.iter().chain(&r).chain(&s).all(|v| v.is_finite()) {
        let rot = Quat::from_euler(
            EulerRot::XYZ,
            r[0].to_radians(),
            r[1].to_radians(),
            r[2].to_radians(),
        );
        let local = Mat4::from_scale_rotation_translation(Vec3::from(s), rot, Vec3::from(t));
        scene.set_local_transform(i, local);
    }
    // The materials of its mesh.
    let mats: BTreeSet<usize> = mesh
        .and_then(|m| scene.meshes.get(m))
        .map(|m| m.primitives.iter().map(|p| p.material).collect())
        .unwrap_or_default();
    for m in mats {
        let Some(mat) = scene.materials.get(m) else { continue };
        ui.separator();
        ui.text(format!("material {m}: {}", mat.name));
        let mut edited = mat.clone();
        let clamp = imgui::SliderFlags::ALWAYS_CLAMP;
        let mut c = ui.color_edit4(format!("base color##m{m}"), &mut edited.base_color);
        c |= ui
            .slider_config(format!("metallic##m{m}"), 0.0, 1.0)
            .flags(clamp)
            .build(&mut edited.metallic);
        c |= ui
            .slider_config(format!("roughness##m{m}"), 0.0, 1.0)
            .flags(clamp)
            .build(&mut edited.roughness);
        c |= imgui::Drag::new(format!("emissive##m{m}"))
            .speed(0.05)
            .range(0.0, 1.0e6)
            .flags(clamp)
            .build_array(ui, &mut edited.emissive);
        // The layers a material has (shown only then: turning transmission on or off would
        // change how it is drawn, which an edit in place cannot).
        if edited.transmission > 0.0 {
            c |= ui
                .slider_config(format!("transmission##m{m}"), 0.001, 1.0)
                .flags(clamp)
                .build(&mut edited.transmission);
            c |= ui
                .slider_config(format!("ior##m{m}"), 1.0, 3.0)
                .flags(clamp)
                .build(&mut edited.ior);
        }
        if edited.clearcoat > 0.0 {
            c |= ui
                .slider_config(format!("clear coat##m{m}"), 0.0, 1.0)
                .flags(clamp)
                .build(&mut edited.clearcoat);
            c |= ui
                .slider_config(format!("coat roughness##m{m}"), 0.0, 1.0)
                .flags(clamp)
                .build(&mut edited.clearcoat_roughness);
        }
        if edited.sheen_color.iter().any(|&v| v > 0.0) {
            c |= ui.color_edit3(format!("sheen##m{m}"), &mut edited.sheen_color);
            c |= ui
                .slider_config(format!("sheen roughness##m{m}"), 0.0, 1.0)
                .flags(clamp)
                .build(&mut edited.sheen_roughness);
        }
        let layers =
            [edited.transmission, edited.ior, edited.clearcoat, edited.clearcoat_roughness]
                .into_iter()
                .chain(edited.sheen_color)
                .chain([edited.sheen_roughness]);
        let finite = edited.base_color.iter().chain(&edited.emissive).all(|v| v.is_finite())
            && edited.metallic.is_finite()
            && edited.roughness.is_finite()
            && layers.into_iter().all(f32::is_finite);
        for v in &mut edited.base_color {
            *v = v.clamp(0.0, 1.0);
        }
        if c && finite {
            if let Some(dst) = scene.material_mut(m) {
                *dst = edited;
            }
        }
    }
    if let Some(l) = scene.nodes[i].light {
        if let Some(light) = scene.lights.get(l) {
            ui.separator();
            ui.text(format!("light {l}: {} ({:?})", light.name, light.kind));
            let mut edited = light.clone();
            let mut c = ui.color_edit3(format!("color##l{l}"), &mut edited.color);
            c |= imgui::Drag::new(format!("intensity##l{l}"))
                .speed(0.05)
                .range(0.0, 1.0e9)
                .flags(imgui::SliderFlags::ALWAYS_CLAMP)
                .build(ui, &mut edited.intensity);
            for v in &mut edited.color {
                *v = v.clamp(0.0, 1.0);
            }
            let finite = edited.intensity.is_finite() && edited.intensity >= 0.0;
            if c && finite {
                if let Some(dst) = scene.light_mut(l) {
                    *dst = edited;
                }
            }
        }
    }
}
