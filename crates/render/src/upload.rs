//! [`GpuScene::upload`](crate::GpuScene::upload)'s steps, each named: the geometry packed
//! into shared vertex and index arrays, the draw lists (grouped by shader variant, blended
//! last, with the ray tracing lookup), the materials' checks, the environment, point and line
//! sets, the acceleration structures' view of the meshes.

use glam::{Mat4, Vec3};
use scene::{pack_srgba8, AlphaMode, Environment, Scene};
use xpg::vk;
use xpg::{Context, Image, ImageDesc, Uploader};

use crate::gpu::{
    check_primitive, storage, textured, DrawGroup, DrawSource, GpuDraw, GpuLines, GpuPoints,
    GpuSceneError, GpuVertex, PrimRange, SceneObject,
};

/// Every primitive's vertices, texture coordinates, tangents and indices, packed.
pub(crate) struct Geometry {
    pub vertices: Vec<GpuVertex>,
    /// Per vertex: TEXCOORD_0 in xy, TEXCOORD_1 (or TEXCOORD_0 again) in zw.
    pub uvs: Vec<[f32; 4]>,
    pub tangents: Vec<[f32; 4]>,
    pub indices: Vec<u32>,
    /// The indices as ray tracing reads them (the acceleration structures and the path
    /// tracer's attribute fetches), large primitives in spatial order; None: as `indices`.
    pub ray_indices: Option<Vec<u32>>,
    /// Per mesh, per primitive: where it is in the arrays.
    pub prim_ranges: Vec<Vec<PrimRange>>,
    /// Per mesh, per primitive: the scene triangle of each GPU triangle, for primitives
    /// whose triangles were put in spatial order ([`spatial_order`]); None: the scene's order.
    pub triangle_orders: Vec<Vec<Option<Vec<u32>>>>,
}

/// Primitives with at least this many triangles are uploaded in spatial order.
const SPATIAL_ORDER_MIN_TRIANGLES: usize = 4096;

/// The order in which ray tracing gets a primitive's triangles: by the Morton code of their
/// centroids (30 bits over the centroids' bounds), or None to keep the scene's order (small
/// primitives, or `XPG_TRIANGLE_ORDER=file` for measurements). CPU drivers build their ray
/// tracing hierarchies in the order triangles come: lavapipe took 397 s instead of 2 s to
/// path-trace a 180 k-triangle sphere at 256x256 and 16 spp when its triangles were shuffled,
/// as scanners and some exporters write them. The raster keeps the file's order (its vertex
/// cache: a 1 M-triangle terrain in Morton order took 10.9 instead of 10.2 ms per frame on an
/// H100). Entry k is the scene triangle that ray tracing sees as triangle k.
pub(crate) fn spatial_order(positions: &[[f32; 3]], indices: &[u32]) -> Option<Vec<u32>> {
    let n = indices.len() / 3;
    if n < SPATIAL_ORDER_MIN_TRIANGLES
        || std::env::var("XPG_TRIANGLE_ORDER").is_ok_and(|v| v == "file")
    {
        return None;
    }
    let centroid = |t: usize| {
        (0..3).fold(Vec3::ZERO, |c, k| c + Vec3::from(positions[indices[3 * t + k] as usize])) / 3.0
    };
    let (lo, hi) = (0..n)
        .fold((Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)), |(lo, hi), t| {
            (lo.min(centroid(t)), hi.max(centroid(t)))
        });
    let scale = 1023.0 / (hi - lo).max(Vec3::splat(1e-30));
    // Ten bits per axis, interleaved.
    let spread = |v: u32| {
        let mut x = v & 0x3ff;
        x = (x | (x << 16)) & 0x0300_00ff;
        x = (x | (x << 8)) & 0x0300_f00f;
        x = (x | (x << 4)) & 0x030c_30c3;
        (x | (x << 2)) & 0x0924_9249
    };
    let mut keyed: Vec<(u32, u32)> = (0..n)
        .map(|t| {
            let q = ((centroid(t) - lo) * scale).clamp(Vec3::ZERO, Vec3::splat(1023.0));
            let key = spread(q.x as u32) | spread(q.y as u32) << 1 | spread(q.z as u32) << 2;
            (key, t as u32)
        })
        .collect();
    keyed.sort_unstable();
    Some(keyed.into_iter().map(|(_, t)| t).collect())
}

/// One primitive's vertex data as the GPU takes it.
pub(crate) struct PrimitiveVertices {
    pub vertices: Vec<GpuVertex>,
    pub uvs: Vec<[f32; 4]>,
    pub tangents: Vec<[f32; 4]>,
}

/// Primitive `pi` of mesh `mi`'s vertices, UVs (or colormap scalars) and tangents; deformed
/// by node `deforming` when it deforms the mesh (the CPU reference of the deform pass).
pub(crate) fn primitive_vertices(
    scene: &Scene,
    mi: usize,
    pi: usize,
    deforming: Option<usize>,
) -> PrimitiveVertices {
    let p = &scene.meshes[mi].primitives[pi];
    let white = pack_srgba8([1.0; 4]);
    let deformed = deforming.and_then(|node| scene.deformed(node, pi));
    let (positions, normals, tangent_data) = match &deformed {
        Some(d) => (&d.positions, &d.normals, &d.tangents),
        None => (&p.positions, &p.normals, &p.tangents),
    };
    let vertices = positions
        .iter()
        .zip(normals)
        .enumerate()
        .map(|(k, (&position, &normal))| GpuVertex {
            position,
            color: p.colors.get(k).map_or(white, |&c| pack_srgba8(c)),
            normal,
            pad: 0,
        })
        .collect();
    let colormap = scene.materials.get(p.material).is_some_and(|m| m.colormap.is_some());
    let n = p.positions.len();
    let uvs = if colormap {
        // The scalar rides in u (NaN kept: the shader shows it in the NaN color).
        let s = |k: usize| p.scalars.get(k).copied().unwrap_or(f32::NAN);
        (0..n).map(|k| [s(k), 0.0, 0.0, 0.0]).collect()
    } else {
        let uv0 = |k: usize| p.uvs.get(k).copied().unwrap_or([0.0; 2]);
        let uv1 = |k: usize| p.uvs1.get(k).copied().unwrap_or(uv0(k));
        (0..n)
            .map(|k| {
                let ([a, b], [c, d]) = (uv0(k), uv1(k));
                [a, b, c, d]
            })
            .collect()
    };
    let tangents = if tangent_data.is_empty() { vec![[0.0; 4]; n] } else { tangent_data.clone() };
    PrimitiveVertices { vertices, uvs, tangents }
}

/// Step 1: packs every mesh primitive once (draws refer to them), after checking it.
pub(crate) fn pack_geometry(scene: &Scene) -> Result<Geometry, GpuSceneError> {
    let mut vertices: Vec<GpuVertex> = Vec::new();
    let mut uvs: Vec<[f32; 4]> = Vec::new();
    let mut tangents: Vec<[f32; 4]> = Vec::new();
    let mut indices: Vec<u32> = Vec::new();
    // Each mesh primitive once; draws refer to it.
    let mut prim_ranges: Vec<Vec<PrimRange>> = Vec::new();
    let mut triangle_orders = Vec::new();
    let mut ray_indices: Option<Vec<u32>> = None;
    for (mi, m) in scene.meshes.iter().enumerate() {
        let mut ranges = Vec::new();
        let mut orders = Vec::new();
        // A deformed mesh starts deformed (the CPU reference of the deform pass).
        let deforming = scene.deforming_node(mi);
        for (pi, p) in m.primitives.iter().enumerate() {
            if let Some(message) = check_primitive(p, scene) {
                let object = SceneObject::Primitive { mesh: m.name.clone(), primitive: pi };
                return Err(GpuSceneError::invalid(object, message));
            }
            let first_vertex = u32::try_from(vertices.len())
                .map_err(|_| GpuSceneError::TooLarge("more than 4 G vertices".into()))?;
            let first_index = u32::try_from(indices.len())
                .map_err(|_| GpuSceneError::TooLarge("more than 4 G indices".into()))?;
            let data = primitive_vertices(scene, mi, pi, deforming);
            let n = p.positions.len();
            vertices.extend(data.vertices);
            uvs.extend(data.uvs);
            tangents.extend(data.tangents);
            let order = spatial_order(&p.positions, &p.indices);
            if let Some(o) = &order {
                // The first reordered primitive starts the ray tracing copy.
                let ray = ray_indices.get_or_insert_with(|| indices.clone());
                ray.extend(o.iter().flat_map(|&t| &p.indices[3 * t as usize..3 * t as usize + 3]));
            } else if let Some(ray) = &mut ray_indices {
                ray.extend_from_slice(&p.indices);
            }
            indices.extend_from_slice(&p.indices);
            orders.push(order);
            let (lo, hi) = p.positions.iter().fold(
                (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
                |(lo, hi), &v| (lo.min(Vec3::from(v)), hi.max(Vec3::from(v))),
            );
            ranges.push(PrimRange {
                first_index,
                index_count: p.indices.len() as u32,
                first_vertex,
                vertex_count: n as u32,
                material: p.material,
                colored: !p.colors.is_empty(),
                sphere_vertices: sphere_vertices(p),
                center: if n > 0 { 0.5 * (lo + hi) } else { Vec3::ZERO },
            });
        }
        prim_ranges.push(ranges);
        triangle_orders.push(orders);
    }
    Ok(Geometry { vertices, uvs, tangents, indices, ray_indices, prim_ranges, triangle_orders })
}

/// Vertices per sphere of a primitive made by `scene::shapes::spheres` whose vertex and index
/// counts are whole spheres of that tessellation (a closed triangulated sphere of `v` vertices
/// has `2 v - 4` triangles); else 0 (drawn as triangles).
fn sphere_vertices(p: &scene::Primitive) -> u32 {
    let v = p.sphere_vertices as usize;
    if v < 4 || p.positions.is_empty() || p.positions.len() % v != 0 {
        return 0;
    }
    let spheres = p.positions.len() / v;
    if p.indices.len() != spheres * 3 * (2 * v - 4) || !p.joints.is_empty() || !p.targets.is_empty()
    {
        return 0;
    }
    p.sphere_vertices
}

/// The draws of every placed mesh primitive.
pub(crate) struct DrawLists {
    pub draw_list: Vec<GpuDraw>,
    pub draw_sources: Vec<DrawSource>,
    pub groups: Vec<DrawGroup>,
    /// Blended draws: index and world-space centre (for sorting).
    pub blended: Vec<(u32, Vec3)>,
    pub placements: Vec<crate::accel::Placement>,
    pub placement_worlds: Vec<Mat4>,
    /// Per placement an offset, then per (placement, geometry) its draw.
    pub geometry_draws: Vec<u32>,
}

/// Step 2: one draw per placed primitive, grouped by shader variant (vertex colors,
/// textures) so that a renderer draws each group with one indirect call; blended draws last;
/// the lookup from a ray tracing hit (placement, geometry) to its draw.
pub(crate) fn build_draw_lists(
    scene: &Scene,
    prim_ranges: &[Vec<PrimRange>],
) -> Result<DrawLists, GpuSceneError> {
    // Opaque and alpha-tested draws grouped by shader variant (vertex colors, textures),
    // so that a renderer draws each group with one indirect call; blended draws last.
    type Drawn = (GpuDraw, DrawSource);
    // Key 4: spheres drawn as impostors.
    let mut by_variant: [Vec<Drawn>; 5] = Default::default();
    let mut blended_list: Vec<Drawn> = Vec::new();
    let mut placements = Vec::new();
    let mut placement_worlds = Vec::new();
    for (ni, n) in scene.nodes.iter().enumerate() {
        let Some(m) = n.mesh else { continue };
        for (instance, world) in n.draw_transforms().enumerate() {
            let placement = placements.len() as u32;
            placements.push(crate::accel::Placement {
                node: ni as u32,
                instance: instance as u32,
                mesh: m as u32,
            });
            placement_worlds.push(crate::gpu::shown(scene, ni, world, None));
            for (geometry, r) in prim_ranges.get(m).into_iter().flatten().enumerate() {
                let world = crate::gpu::shown(scene, ni, world, Some(geometry));
                let draw = GpuDraw {
                    material: r.material as u32,
                    first_index: r.first_index,
                    index_count: r.index_count,
                    first_vertex: r.first_vertex,
                    placement,
                    // Opaque, untextured spheres only (blended ones are drawn, and picked, as
                    // their triangles).
                    sphere_vertices: {
                        let m = &scene.materials[r.material];
                        if textured(m) || crate::gpu::drawn_blended(m) {
                            0
                        } else {
                            r.sphere_vertices
                        }
                    },
                    flags: if n.cast_shadows { 0 } else { crate::gpu::DRAW_NO_SHADOW },
                    ..GpuDraw::placed(world)
                };
                let source = DrawSource {
                    node: ni as u32,
                    instance: instance as u32,
                    center: r.center,
                    geometry: geometry as u32,
                };
                let mat = &scene.materials[r.material];
                if crate::gpu::drawn_blended(mat) {
                    blended_list.push((draw, source));
                } else if draw.sphere_vertices > 0 {
                    by_variant[4].push((draw, source));
                } else {
                    by_variant[usize::from(r.colored) | usize::from(textured(mat)) << 1]
                        .push((draw, source));
                }
            }
        }
    }
    let mut draw_list = Vec::new();
    let mut draw_sources = Vec::new();
    let mut groups = Vec::new();
    for (key, list) in by_variant.into_iter().enumerate() {
        if !list.is_empty() {
            groups.push(DrawGroup {
                first: draw_list.len() as u32,
                count: list.len() as u32,
                colored: key & 1 != 0 || key == 4,
                textured: key & 2 != 0,
                spheres: key == 4,
            });
            for (d, src) in list {
                draw_list.push(d);
                draw_sources.push(src);
            }
        }
    }
    let mut blended = Vec::new();
    for (d, src) in blended_list {
        blended.push((
            draw_list.len() as u32,
            Mat4::from_cols_array_2d(&d.model).transform_point3(src.center),
        ));
        draw_list.push(d);
        draw_sources.push(src);
    }
    if u32::try_from(draw_list.len()).is_err() {
        return Err(GpuSceneError::TooLarge("more than 4 G draws".into()));
    }
    // Ray tracing hits name (placement, geometry); the draw of each: per placement an
    // offset into the entries that follow the offsets.
    let mut geometry_draws: Vec<u32> = Vec::with_capacity(placements.len() + draw_list.len());
    let mut at = placements.len() as u32;
    for p in &placements {
        geometry_draws.push(at);
        at += prim_ranges.get(p.mesh as usize).map_or(0, |r| r.len() as u32);
    }
    geometry_draws.resize(at as usize, u32::MAX);
    for (d, (draw, src)) in draw_list.iter().zip(&draw_sources).enumerate() {
        let slot = geometry_draws[draw.placement as usize] + src.geometry;
        geometry_draws[slot as usize] = d as u32;
    }
    Ok(DrawLists {
        draw_list,
        draw_sources,
        groups,
        blended,
        placements,
        placement_worlds,
        geometry_draws,
    })
}

/// Step 3: the materials' texture indices and colormap ranges checked; the colormaps in use.
pub(crate) fn check_materials(scene: &Scene) -> Result<Vec<scene::ColormapKind>, GpuSceneError> {
    let mut kinds: Vec<scene::ColormapKind> = Vec::new();
    for m in &scene.materials {
        for t in m.textures() {
            if t >= scene.textures.len() {
                return Err(GpuSceneError::invalid(
                    SceneObject::Material(m.name.clone()),
                    format!("texture {t} of {}", scene.textures.len()),
                ));
            }
        }
        if let Some(c) = m.colormap {
            if !(c.min.is_finite() && c.max.is_finite()) {
                return Err(GpuSceneError::invalid(
                    SceneObject::Material(m.name.clone()),
                    format!("colormap range {}..{} is not finite", c.min, c.max),
                ));
            }
            if !kinds.contains(&c.kind) {
                kinds.push(c.kind);
            }
        }
    }
    Ok(kinds)
}

/// Step 4: the environment as an RGBA32F image (1x1 for none or a uniform colour) and its
/// kind (0 none, 1 uniform, 2 map).
pub(crate) fn upload_environment(
    ctx: &Context,
    up: &mut Uploader,
    scene: &Scene,
) -> Result<(Image, u32), GpuSceneError> {
    let (env_w, env_h, env_texels, environment_kind) = match &scene.environment {
        Environment::None => (1, 1, vec![[0.0f32; 4]], 0),
        Environment::Uniform(c) => (1, 1, vec![[c[0], c[1], c[2], 1.0]], 1),
        Environment::Equirect { width, height, texels } => (*width, *height, texels.clone(), 2),
    };
    let environment = Image::new(
        ctx,
        &ImageDesc::d2(
            "environment",
            env_w,
            env_h,
            vk::Format::R32G32B32A32_SFLOAT,
            vk::ImageUsageFlags::SAMPLED,
        ),
    )?;
    up.upload_image(
        &environment,
        &[bytemuck::cast_slice(&env_texels)],
        vk::ImageLayout::READ_ONLY_OPTIMAL,
    )?;
    Ok((environment, environment_kind))
}

/// A point set's diameter in world units (0: its size is in pixels).
pub(crate) fn world_size(ps: &scene::PointSet) -> f32 {
    ps.size_world.filter(|w| w.is_finite() && *w > 0.0).unwrap_or(0.0)
}

/// The bounds of `positions` (None: none).
pub(crate) fn local_bounds(positions: &[[f32; 3]]) -> Option<(Vec3, Vec3)> {
    if positions.is_empty() {
        return None;
    }
    // No branch per point (a pass at memory speed over large clouds).
    let far = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
    Some(positions.iter().fold(far, |(lo, hi), &v| (lo.min(v.into()), hi.max(v.into()))))
}

/// A point set's colors as the GPU takes them (packed sRGB RGBA8: its own, else its scalars
/// through its colormap, else white), checked.
pub(crate) fn point_colors(ps: &scene::PointSet) -> Result<Vec<u32>, GpuSceneError> {
    check_points(ps)?;
    Ok(pack_colors(&ps.colors, &ps.scalars, ps.colormap, ps.positions.len()))
}

/// Checks a point set as the GPU takes it (counts, finite values, size).
pub(crate) fn check_points(ps: &scene::PointSet) -> Result<(), GpuSceneError> {
    u32::try_from(ps.positions.len()).map_err(|_| {
        GpuSceneError::TooLarge(format!("point set '{}': more than 4 G points", ps.name))
    })?;
    if !ps.colors.is_empty() && ps.colors.len() != ps.positions.len() {
        return Err(GpuSceneError::invalid(
            SceneObject::PointSet(ps.name.clone()),
            format!("{} colors for {} points", ps.colors.len(), ps.positions.len()),
        ));
    }
    if !ps.size_px.is_finite()
        || ps.size_px <= 0.0
        || ps.size_px > 64.0
        || !scene::all_finite(&ps.positions)
        || !ps.transform.is_finite()
    {
        return Err(GpuSceneError::invalid(
            SceneObject::PointSet(ps.name.clone()),
            "non-finite positions or transform, or size outside (0, 64]",
        ));
    }
    if ps.colors.is_empty() && !ps.scalars.is_empty() && ps.scalars.len() != ps.positions.len() {
        return Err(GpuSceneError::invalid(
            SceneObject::PointSet(ps.name.clone()),
            format!("{} scalars for {} points", ps.scalars.len(), ps.positions.len()),
        ));
    }
    Ok(())
}

/// Packed sRGBA8 colours of `n` points: `colors`, else `scalars` through `colormap`, else
/// white (lengths checked by the caller).
pub(crate) fn pack_colors(
    colors: &[[u8; 4]],
    scalars: &[f32],
    colormap: Option<scene::Colormap>,
    n: usize,
) -> Vec<u32> {
    if let (true, false, Some(map)) = (colors.is_empty(), scalars.is_empty(), colormap) {
        scalars.iter().map(|&v| u32::from_le_bytes(map.color(v))).collect()
    } else if colors.is_empty() {
        vec![u32::MAX; n]
    } else {
        colors.iter().map(|c| u32::from_le_bytes(*c)).collect()
    }
}

/// What the packed colours of a point set's frames are made from (a GPU pool keeps frames
/// whose colours were made the same way).
pub(crate) fn color_key(
    colors: &[[u8; 4]],
    scalars: &[f32],
    colormap: Option<scene::Colormap>,
) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match (colors.is_empty(), scalars.is_empty(), colormap) {
        (false, ..) => 1u8.hash(&mut h),
        (true, false, Some(m)) => {
            2u8.hash(&mut h);
            format!("{:?}", m.kind).hash(&mut h);
            m.min.to_bits().hash(&mut h);
            m.max.to_bits().hash(&mut h);
        }
        _ => 0u8.hash(&mut h),
    }
    h.finish()
}

/// Step 5: the point sets, checked.
pub(crate) fn upload_points(
    ctx: &Context,
    up: &mut Uploader,
    scene: &Scene,
) -> Result<Vec<GpuPoints>, GpuSceneError> {
    let mut points = Vec::new();
    for ps in &scene.point_sets {
        let colors = point_colors(ps)?;
        points.push(GpuPoints {
            positions: storage(
                ctx,
                "point positions",
                bytemuck::cast_slice(&ps.positions),
                up,
                vk::BufferUsageFlags::empty(),
            )?,
            colors: storage(
                ctx,
                "point colors",
                bytemuck::cast_slice(&colors),
                up,
                vk::BufferUsageFlags::empty(),
            )?,
            count: colors.len() as u32,
            transform: ps.transform,
            size_px: ps.size_px,
            size_world: world_size(ps),
            visible: ps.visible,
            local_bounds: local_bounds(&ps.positions),
            capacity: colors.len() as u32,
            pooled: None,
        });
    }
    Ok(points)
}

/// A line set as separate segments: the endpoints and their packed colors, checked.
pub(crate) fn line_segments(
    ls: &scene::LineSet,
) -> Result<(Vec<[f32; 3]>, Vec<u32>), GpuSceneError> {
    if !ls.colors.is_empty() && ls.colors.len() != ls.positions.len() {
        return Err(GpuSceneError::invalid(
            SceneObject::LineSet(ls.name.clone()),
            format!("{} colors for {} vertices", ls.colors.len(), ls.positions.len()),
        ));
    }
    let problem = if !(ls.width_px > 0.0 && ls.width_px <= 64.0) {
        Some(format!("width {} outside (0, 64] px", ls.width_px))
    } else if ls.positions.iter().flatten().any(|v| !v.is_finite()) {
        Some("non-finite (NaN or infinite) positions".to_string())
    } else if !ls.transform.is_finite() {
        Some("non-finite transform".to_string())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(GpuSceneError::invalid(SceneObject::LineSet(ls.name.clone()), problem));
    }
    let n = ls.positions.len();
    let pairs: Vec<usize> = if ls.strip {
        (0..n.saturating_sub(1)).flat_map(|i| [i, i + 1]).collect()
    } else {
        (0..n / 2 * 2).collect()
    };
    if u32::try_from(pairs.len() / 2).ok().filter(|s| *s < u32::MAX / 6).is_none() {
        return Err(GpuSceneError::TooLarge(format!("line set '{}': too many segments", ls.name)));
    }
    let positions: Vec<[f32; 3]> = pairs.iter().map(|&i| ls.positions[i]).collect();
    let colors: Vec<u32> = pairs
        .iter()
        .map(|&i| ls.colors.get(i).map_or(u32::MAX, |c| u32::from_le_bytes(*c)))
        .collect();
    Ok((positions, colors))
}

/// Step 6: the line sets as segment lists, checked (one entry per line set, empty ones
/// too, so that updates find theirs by index).
pub(crate) fn upload_lines(
    ctx: &Context,
    up: &mut Uploader,
    scene: &Scene,
) -> Result<Vec<GpuLines>, GpuSceneError> {
    let mut lines = Vec::new();
    for ls in &scene.line_sets {
        let (positions, colors) = line_segments(ls)?;
        lines.push(GpuLines {
            positions: storage(
                ctx,
                "line positions",
                bytemuck::cast_slice(&positions),
                up,
                vk::BufferUsageFlags::empty(),
            )?,
            colors: storage(
                ctx,
                "line colors",
                bytemuck::cast_slice(&colors),
                up,
                vk::BufferUsageFlags::empty(),
            )?,
            segments: (positions.len() / 2) as u32,
            transform: ls.transform,
            width_px: ls.width_px,
            visible: ls.visible,
            local_bounds: local_bounds(&ls.positions),
        });
    }
    Ok(lines)
}

/// Step 7: the meshes as the acceleration structures see them.
pub(crate) fn accel_meshes(
    scene: &Scene,
    prim_ranges: &[Vec<PrimRange>],
) -> Vec<Vec<crate::accel::MeshPrim>> {
    prim_ranges
        .iter()
        .enumerate()
        .map(|(m, ranges)| {
            ranges
                .iter()
                .enumerate()
                .map(|(p, r)| crate::accel::MeshPrim {
                    first_vertex: r.first_vertex,
                    vertex_count: r.vertex_count,
                    first_index: r.first_index,
                    // A hidden primitive is an empty geometry (no ray finds it; the geometry
                    // indices of the others stay).
                    index_count: if scene.meshes[m].primitives[p].hidden {
                        0
                    } else {
                        r.index_count
                    },
                    opaque: scene.materials[r.material].alpha == AlphaMode::Opaque,
                    // Transmissive surfaces are crossed from inside too (their volume's
                    // far side).
                    double_sided: scene.materials[r.material].double_sided
                        || scene.materials[r.material].transmission > 0.0,
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large primitive whose triangles come shuffled is packed in spatial order: the packed
    /// triangles are the scene's, permuted as `triangle_orders` says, and consecutive ones lie
    /// much closer together than in the file; small primitives keep their order.
    #[test]
    fn large_primitives_are_packed_in_spatial_order() {
        let mut big = scene::shapes::uv_sphere(0, 96, 48);
        let n = big.indices.len() / 3;
        assert!(n >= SPATIAL_ORDER_MIN_TRIANGLES);
        // A fixed pseudo-random shuffle of the triangles.
        let mut tris: Vec<[u32; 3]> =
            big.indices.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect();
        let mut state = 12345u64;
        for i in (1..tris.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            tris.swap(i, (state >> 33) as usize % (i + 1));
        }
        big.indices = tris.iter().flatten().copied().collect();
        let small = scene::shapes::cube(0);
        let mut s = Scene { materials: vec![scene::Material::default()], ..Default::default() };
        s.meshes.push(scene::Mesh { name: "big".into(), primitives: vec![big.clone()] });
        s.meshes.push(scene::Mesh { name: "small".into(), primitives: vec![small.clone()] });
        let g = pack_geometry(&s).expect("pack");
        // The raster's indices keep the file's order; ray tracing's are reordered.
        assert_eq!(g.indices[..big.indices.len()], big.indices[..]);
        let ray = g.ray_indices.as_ref().expect("a ray tracing copy");
        assert_eq!(ray.len(), g.indices.len());
        let order = g.triangle_orders[0][0].as_ref().expect("reordered");
        let mut seen = vec![false; n];
        for (k, &t) in order.iter().enumerate() {
            assert!(!std::mem::replace(&mut seen[t as usize], true), "triangle {t} twice");
            let t = t as usize;
            assert_eq!(ray[3 * k..3 * k + 3], big.indices[3 * t..3 * t + 3]);
        }
        let centroid = |idx: &[u32], t: usize| {
            (0..3).fold(Vec3::ZERO, |c, k| c + Vec3::from(big.positions[idx[3 * t + k] as usize]))
        };
        let mean_step = |idx: &[u32]| {
            (1..n).map(|t| centroid(idx, t).distance(centroid(idx, t - 1))).sum::<f32>()
                / (n - 1) as f32
        };
        let (before, after) = (mean_step(&big.indices), mean_step(&ray[..3 * n]));
        assert!(after < before / 10.0, "mean step {before} -> {after}");
        assert!(g.triangle_orders[1][0].is_none(), "small primitives keep their order");
        let r = &g.prim_ranges[1][0];
        for packed in [&g.indices, ray] {
            let packed = &packed[r.first_index as usize..(r.first_index + r.index_count) as usize];
            assert_eq!(packed, &small.indices[..]);
        }
    }
}
