//! The viewer inside a Rust program: a scene built in code (a floor, a ring of cubes around a
//! sphere), animated every frame through the scene's setters (the GPU copy is updated in
//! place, never uploaded again), and a Dear ImGui panel of the program's own with a slider
//! for the speed and a colour for the sphere.
//!
//! ```text
//! cargo run --release --example embed                      # a window
//! cargo run --release --example embed -- --offscreen out.png   # 60 frames without a window
//! ```

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::Context as _;
use glam::{Mat4, Quat, Vec3};
use scene::{shapes, Material, Mesh, Node, Scene};
use viewer::Viewer;

/// The scene and the index of the node that carries the ring of cubes.
fn build_scene() -> (Scene, usize) {
    let mesh = |name: &str, p| Mesh { name: name.into(), primitives: vec![p] };
    let mut s = Scene {
        materials: vec![
            Material::lambert("floor", [0.55, 0.55, 0.5]),
            Material { roughness: 0.35, ..Material::lambert("cubes", [0.9, 0.35, 0.1]) },
            Material { roughness: 0.2, ..Material::lambert("ball", [0.2, 0.45, 0.9]) },
        ],
        meshes: vec![
            mesh("floor", shapes::plane(0, 4.0)),
            mesh("cube", shapes::cube(1)),
            mesh("ball", shapes::uv_sphere(2, 64, 32)),
        ],
        ..Default::default()
    };
    s.nodes.push(Node::new("floor", Mat4::IDENTITY).with_mesh(0));
    s.nodes.push(Node::new("ball", Mat4::from_translation(Vec3::Y)).with_mesh(2));
    // The ring: one node whose rotation turns eight cube children.
    let ring = s.nodes.len();
    s.nodes.push(Node::new("ring", Mat4::from_translation(Vec3::Y)));
    for k in 0..8 {
        let a = k as f32 / 8.0 * std::f32::consts::TAU;
        let local = Mat4::from_scale_rotation_translation(
            Vec3::splat(0.25),
            Quat::from_rotation_y(a),
            Vec3::new(2.2 * a.cos(), 0.0, 2.2 * a.sin()),
        );
        let mut n = Node::new(&format!("cube {k}"), local).with_mesh(1);
        n.parent = Some(ring);
        s.nodes.push(n);
    }
    s.update_world();
    (s, ring)
}

fn main() -> anyhow::Result<()> {
    viewer::cli::init_logging();
    let mut args = std::env::args().skip(1);
    let mut offscreen = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--offscreen" => {
                offscreen = Some(PathBuf::from(args.next().context("--offscreen OUT.png")?))
            }
            other => anyhow::bail!("unknown argument {other} (try --offscreen OUT.png)"),
        }
    }
    let (scene, ring) = build_scene();
    // State the panel and the animation share (both run on the viewer's thread).
    let speed = Rc::new(Cell::new(0.8f32));
    let angle = Rc::new(Cell::new(0.0f32));
    let (speed_ui, angle_ui) = (speed.clone(), angle.clone());
    let viewer = Viewer::new()
        .size(1100, 700)
        .scene(scene)
        .on_frame(move |f| {
            angle.set(angle.get() + speed.get() * f.dt);
            let turn = Mat4::from_translation(Vec3::Y) * Mat4::from_rotation_y(angle.get());
            f.scene.set_local_transform(ring, turn);
        })
        .on_ui(move |ui, f| {
            ui.window("Embedded program")
                .position([20.0, 420.0], viewer::imgui::Condition::FirstUseEver)
                .size([300.0, 130.0], viewer::imgui::Condition::FirstUseEver)
                .build(|| {
                    let mut s = speed_ui.get();
                    if ui.slider("speed (rad/s)", -3.0, 3.0, &mut s) {
                        speed_ui.set(s);
                    }
                    let ball = 2;
                    let mut c = f.scene.materials[ball].base_color;
                    if ui.color_edit4("ball", &mut c) {
                        // Only on a change: material_mut bumps the materials version.
                        if let Some(m) = f.scene.material_mut(ball) {
                            m.base_color = c;
                        }
                    }
                    ui.text(format!("t = {:.2} s, ring at {:.2} rad", f.time, angle_ui.get()));
                });
        });
    match offscreen {
        Some(out) => {
            let mut viewer = viewer;
            viewer.options_mut().screenshot = Some(out.clone());
            let app = viewer.run_offscreen(60)?;
            println!("wrote {} ({} scene upload)", out.display(), app.scene_uploads());
        }
        None => {
            viewer.run()?;
        }
    }
    Ok(())
}
