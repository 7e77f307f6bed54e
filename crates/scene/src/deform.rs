//! Deformed meshes: skins (vertices that follow joints) and morph targets (displacements
//! blended by weights), as glTF defines them. The GPU deforms them in a compute pass (the
//! `render` crate); [`Scene::deformed`] is the same arithmetic on the CPU, the reference the
//! tests compare the GPU with, and what the upload starts from.

use glam::{Mat3, Mat4, Vec3, Vec4};

use crate::{Primitive, Scene};

/// A skin: the joint nodes that move a skinned mesh, with their inverse bind matrices.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Skin {
    /// Name.
    pub name: String,
    /// The joints (indices into [`Scene::nodes`]); a vertex's joint `j` is `joints[j]`.
    pub joints: Vec<usize>,
    /// One per joint: from the mesh's bind space to the joint's space.
    pub inverse_bind: Vec<Mat4>,
}

/// One morph target of a primitive: per-vertex displacements (each empty or one per vertex).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MorphTarget {
    /// Position displacements.
    pub positions: Vec<[f32; 3]>,
    /// Normal displacements.
    pub normals: Vec<[f32; 3]>,
    /// Tangent (xyz) displacements.
    pub tangents: Vec<[f32; 3]>,
}

/// A primitive's vertices after deformation, in its mesh's space.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deformed {
    /// Positions.
    pub positions: Vec<[f32; 3]>,
    /// Normals (unit length, or zero where the rest normal is zero).
    pub normals: Vec<[f32; 3]>,
    /// Tangents with their sign (empty when the primitive has none).
    pub tangents: Vec<[f32; 4]>,
}

/// A joint's matrices: mesh space at rest to mesh space now, and its normal matrix (the
/// inverse transpose of the upper 3x3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointMatrix {
    /// Positions.
    pub position: Mat4,
    /// Normals and tangents.
    pub normal: Mat3,
}

impl Primitive {
    /// Whether the primitive is deformed when drawn by a node: skinned (the node has a
    /// skin) or morphed (it has targets).
    pub fn is_deformed(&self, skinned_node: bool) -> bool {
        (skinned_node && !self.joints.is_empty()) || !self.targets.is_empty()
    }
}

impl Scene {
    /// The node that deforms mesh `mesh`: the first node drawing it that has a skin for its
    /// skinned primitives, or any first node drawing it when it has morph targets. None: the
    /// mesh is drawn as it is.
    pub fn deforming_node(&self, mesh: usize) -> Option<usize> {
        let m = self.meshes.get(mesh)?;
        let node = self.nodes.iter().position(|n| n.mesh == Some(mesh))?;
        let skinned = self.nodes[node].skin.is_some_and(|s| s < self.skins.len());
        m.primitives.iter().any(|p| p.is_deformed(skinned)).then_some(node)
    }

    /// The joint matrices of node `node`'s skin: `inverse(node world) * joint world *
    /// inverse bind` (glTF skinning, expressed in the node's space so that its draw
    /// transform places the result). None: no skin.
    pub fn joint_matrices(&self, node: usize) -> Option<Vec<JointMatrix>> {
        let n = self.nodes.get(node)?;
        let skin = self.skins.get(n.skin?)?;
        let to_mesh = n.world.inverse();
        Some(
            skin.joints
                .iter()
                .enumerate()
                .map(|(j, &joint)| {
                    let world = self.nodes.get(joint).map_or(Mat4::IDENTITY, |n| n.world);
                    let bind = skin.inverse_bind.get(j).copied().unwrap_or(Mat4::IDENTITY);
                    let m = to_mesh * world * bind;
                    let normal = Mat3::from_mat4(m).inverse().transpose();
                    JointMatrix {
                        position: m,
                        normal: if normal.is_finite() { normal } else { Mat3::IDENTITY },
                    }
                })
                .collect(),
        )
    }

    /// Primitive `prim` of node `node`'s mesh deformed by the node's skin and morph weights
    /// (None: no such primitive). The CPU reference of the GPU's deform pass.
    pub fn deformed(&self, node: usize, prim: usize) -> Option<Deformed> {
        let n = self.nodes.get(node)?;
        let p = self.meshes.get(n.mesh?)?.primitives.get(prim)?;
        let joints = if p.joints.is_empty() { None } else { self.joint_matrices(node) };
        let count = p.positions.len();
        let mut out = Deformed {
            positions: Vec::with_capacity(count),
            normals: Vec::with_capacity(count),
            tangents: Vec::with_capacity(p.tangents.len()),
        };
        for v in 0..count {
            let (pos, normal, tangent) = deform_vertex(p, v, &n.morph_weights, joints.as_deref());
            out.positions.push(pos.to_array());
            out.normals.push(normal.to_array());
            if let Some(t) = tangent {
                out.tangents.push(t.to_array());
            }
        }
        Some(out)
    }
}

/// Vertex `v` of `p`: its morph targets blended with `weights`, then skinned by `joints`
/// (weights normalized to sum 1; joints out of range count as the identity). Normals and
/// tangents are renormalized.
pub fn deform_vertex(
    p: &Primitive,
    v: usize,
    weights: &[f32],
    joints: Option<&[JointMatrix]>,
) -> (Vec3, Vec3, Option<Vec4>) {
    let mut pos = Vec3::from(p.positions[v]);
    let mut normal = p.normals.get(v).map_or(Vec3::ZERO, |&n| Vec3::from(n));
    let rest_tangent = p.tangents.get(v).map(|&t| Vec4::from(t));
    let mut tangent = rest_tangent.map_or(Vec3::ZERO, |t| t.truncate());
    for (t, target) in p.targets.iter().enumerate() {
        let w = weights.get(t).copied().unwrap_or(0.0);
        if w == 0.0 {
            continue;
        }
        let d = |a: &[[f32; 3]]| a.get(v).map_or(Vec3::ZERO, |&x| Vec3::from(x));
        pos += w * d(&target.positions);
        normal += w * d(&target.normals);
        tangent += w * d(&target.tangents);
    }
    if let (Some(joints), Some(js), Some(ws)) = (joints, p.joints.get(v), p.weights.get(v)) {
        let sum: f32 = ws.iter().sum();
        if sum > 0.0 {
            let (mut sp, mut sn, mut st) = (Vec3::ZERO, Vec3::ZERO, Vec3::ZERO);
            for k in 0..4 {
                let w = ws[k] / sum;
                if w == 0.0 {
                    continue;
                }
                let (m, nm) = joints
                    .get(usize::from(js[k]))
                    .map_or((Mat4::IDENTITY, Mat3::IDENTITY), |j| (j.position, j.normal));
                sp += w * m.transform_point3(pos);
                sn += w * (nm * normal);
                st += w * Mat3::from_mat4(m).mul_vec3(tangent);
            }
            (pos, normal, tangent) = (sp, sn, st);
        }
    }
    let unit = |x: Vec3| if x.length_squared() > 0.0 { x.normalize() } else { x };
    (pos, unit(normal), rest_tangent.map(|t| unit(tangent).extend(t.w)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mesh, Node};

    /// A two-vertex primitive skinned to two joints, one rotated a quarter turn about z.
    #[test]
    fn skinning_blends_joint_matrices_and_morphs_first() {
        let p = Primitive {
            positions: vec![[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
            normals: vec![[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]],
            joints: vec![[0, 0, 0, 0], [0, 1, 0, 0]],
            weights: vec![[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]], // the second normalized
            targets: vec![MorphTarget {
                positions: vec![[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut s = Scene {
            meshes: vec![Mesh { name: "m".into(), primitives: vec![p] }],
            skins: vec![Skin {
                name: "s".into(),
                joints: vec![1, 2],
                inverse_bind: vec![Mat4::IDENTITY, Mat4::IDENTITY],
            }],
            ..Default::default()
        };
        let mut n = Node::new("skinned", Mat4::from_translation(Vec3::new(5.0, 0.0, 0.0)));
        n.mesh = Some(0);
        n.skin = Some(0);
        n.morph_weights = vec![0.5];
        s.nodes.push(n);
        s.nodes.push(Node::new("j0", Mat4::from_translation(Vec3::new(0.0, 2.0, 0.0))));
        s.nodes.push(Node::new("j1", Mat4::from_rotation_z(std::f32::consts::FRAC_PI_2)));
        s.update_world();
        assert_eq!(s.deforming_node(0), Some(0));
        let d = s.deformed(0, 0).expect("deformed");
        // Vertex 0: morphed to (1, 0, 0.5), moved by j0 (+2 y), then into the node's space
        // (-5 x): (1 - 5, 2, 0.5).
        let close = |a: [f32; 3], b: [f32; 3]| (0..3).all(|k| (a[k] - b[k]).abs() < 1e-5);
        assert!(close(d.positions[0], [-4.0, 2.0, 0.5]), "{:?}", d.positions[0]);
        // Vertex 1: half j0 (1, 2, 0), half j1 (0, 1, 0); then -5 x: (-4.5, 1.5, 0).
        assert!(close(d.positions[1], [-4.5, 1.5, 0.0]), "{:?}", d.positions[1]);
        // Its normal: half (1, 0, 0), half (0, 1, 0), normalized.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!(close(d.normals[1], [h, h, 0.0]), "{:?}", d.normals[1]);
    }
}
