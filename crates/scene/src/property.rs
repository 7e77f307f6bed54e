//! Properties over time: any property of an object (visibility, material parameters, lights,
//! the positions, colours, scalars, normals and indices of point sets, line sets and mesh
//! primitives, colormap ranges) constant, animated by a [`Track`] of [`Value`]s (at a fixed
//! rate or at timestamps; step or linear; ends and holes as the track says), or supplied on
//! demand by a [`PropertySource`] (streaming, a remote program). [`Scene::set_time`] samples
//! each at the scene time and applies it through [`Scene::set_property`], which bumps the
//! versions the GPU copy follows: values in place, a changed count (topology) by an upload.

use std::sync::Arc;

use glam::{Vec3, Vec4};

use crate::time::{Animatable, Track};
use crate::Scene;

/// A property's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A switch (visibility).
    Bool(bool),
    /// A number (roughness, intensity, point size).
    Float(f32),
    /// A colour or a vector (base colour rgb, emission, light colour).
    Vec3(Vec3),
    /// An RGBA colour.
    Vec4(Vec4),
    /// Numbers per element (scalars) or a pair (a colormap range).
    Floats(Vec<f32>),
    /// Three numbers per element (positions, normals).
    Vec3s(Vec<[f32; 3]>),
    /// Linear RGBA per vertex (mesh vertex colours).
    Vec4s(Vec<[f32; 4]>),
    /// sRGB RGBA8 per element (point and line colours).
    Colors(Vec<[u8; 4]>),
    /// Triangle indices.
    Indices(Vec<u32>),
    /// A streamed frame (points: positions, colours, scalars), shared, not copied.
    Frame(crate::stream::FrameRef),
    /// An object-to-world transform.
    Transform(glam::Mat4),
    /// A triangle mesh: positions and the triangles over them (a new topology at once).
    Triangles {
        /// Positions.
        positions: Vec<[f32; 3]>,
        /// Triangle list indices into `positions`.
        indices: Vec<u32>,
    },
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a switch",
            Value::Float(_) => "a number",
            Value::Vec3(_) => "three numbers",
            Value::Vec4(_) => "four numbers",
            Value::Floats(_) => "numbers",
            Value::Vec3s(_) => "triples",
            Value::Vec4s(_) => "quadruples",
            Value::Colors(_) => "RGBA8 colours",
            Value::Indices(_) => "indices",
            Value::Frame(_) => "a streamed frame",
            Value::Triangles { .. } => "triangles",
            Value::Transform(_) => "a transform",
        }
    }
}

fn mix<const N: usize>(a: &[[f32; N]], b: &[[f32; N]], s: f32) -> Vec<[f32; N]> {
    a.iter().zip(b).map(|(x, y)| std::array::from_fn(|k| x[k] + (y[k] - x[k]) * s)).collect()
}

fn sum<const N: usize>(terms: [(&Vec<[f32; N]>, f32); 4]) -> Vec<[f32; N]> {
    let n = terms.iter().map(|(v, _)| v.len()).min().unwrap_or(0);
    (0..n).map(|i| std::array::from_fn(|k| terms.iter().map(|(v, w)| v[i][k] * w).sum())).collect()
}

/// Linear between values of the same kind and length; otherwise (switches, colours in bytes,
/// indices, a count that changes: topology) the earlier value holds until the next sample.
impl Animatable for Value {
    fn lerp(a: &Self, b: &Self, s: f32) -> Self {
        use Value as V;
        match (a, b) {
            (V::Float(x), V::Float(y)) => V::Float(x + (y - x) * s),
            (V::Vec3(x), V::Vec3(y)) => V::Vec3(x.lerp(*y, s)),
            (V::Vec4(x), V::Vec4(y)) => V::Vec4(x.lerp(*y, s)),
            (V::Floats(x), V::Floats(y)) if x.len() == y.len() => {
                V::Floats(Animatable::lerp(x, y, s))
            }
            (V::Transform(x), V::Transform(y)) => {
                // Scale, rotation (the shorter arc) and translation apart; matrices that do
                // not decompose (a zero scale) element by element.
                let (sa, ra, ta) = x.to_scale_rotation_translation();
                let (sb, rb, tb) = y.to_scale_rotation_translation();
                let m = glam::Mat4::from_scale_rotation_translation(
                    sa.lerp(sb, s),
                    ra.slerp(rb, s),
                    ta.lerp(tb, s),
                );
                V::Transform(if m.is_finite() { m } else { *x + (*y - *x) * s })
            }
            (V::Vec3s(x), V::Vec3s(y)) if x.len() == y.len() => V::Vec3s(mix(x, y, s)),
            (V::Vec4s(x), V::Vec4s(y)) if x.len() == y.len() => V::Vec4s(mix(x, y, s)),
            _ => {
                if s >= 1.0 {
                    b.clone()
                } else {
                    a.clone()
                }
            }
        }
    }
    fn combine(terms: [(&Self, f32); 4]) -> Self {
        use Value as V;
        match terms.map(|t| t.0) {
            [V::Float(a), V::Float(b), V::Float(c), V::Float(d)] => {
                let w = terms.map(|t| t.1);
                V::Float(a * w[0] + b * w[1] + c * w[2] + d * w[3])
            }
            [V::Vec3(a), V::Vec3(b), V::Vec3(c), V::Vec3(d)] => {
                let w = terms.map(|t| t.1);
                V::Vec3(*a * w[0] + *b * w[1] + *c * w[2] + *d * w[3])
            }
            [V::Vec3s(a), V::Vec3s(b), V::Vec3s(c), V::Vec3s(d)] => {
                let w = terms.map(|t| t.1);
                V::Vec3s(sum([(a, w[0]), (b, w[1]), (c, w[2]), (d, w[3])]))
            }
            [V::Floats(a), V::Floats(b), V::Floats(c), V::Floats(d)] => {
                let w = terms.map(|t| t.1);
                V::Floats(Animatable::combine([(a, w[0]), (b, w[1]), (c, w[2]), (d, w[3])]))
            }
            // The spline's value term (the second) where kinds differ.
            _ => terms[1].0.clone(),
        }
    }
}

/// Which property of which object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// A node (and what it draws) shown ([`Value::Bool`]).
    NodeVisible(usize),
    /// A node's transform relative to its parent ([`Value::Transform`]).
    NodeTransform(usize),
    /// A material's base colour factor ([`Value::Vec4`], or [`Value::Vec3`] keeping alpha).
    BaseColor(usize),
    /// A material's emission ([`Value::Vec3`]).
    Emissive(usize),
    /// A material's metalness ([`Value::Float`]).
    Metallic(usize),
    /// A material's roughness ([`Value::Float`]).
    Roughness(usize),
    /// A colormap material's range ([`Value::Floats`] of two: min, max).
    ColormapRange(usize),
    /// A light's colour ([`Value::Vec3`]).
    LightColor(usize),
    /// A light's intensity ([`Value::Float`]).
    LightIntensity(usize),
    /// A point set's positions ([`Value::Vec3s`]; another count is a new topology).
    PointPositions(usize),
    /// A point set's colours ([`Value::Colors`]).
    PointColors(usize),
    /// A point set's scalars through its colormap ([`Value::Floats`]).
    PointScalars(usize),
    /// A point set's whole data from a streamed frame ([`Value::Frame`]: positions, and
    /// colours and scalars when the frame has them). Any count: the GPU copy draws the frame
    /// from its pool of uploaded frames (no upload when it was shown before).
    PointFrame(usize),
    /// A point set's point size in pixels ([`Value::Float`]).
    PointSize(usize),
    /// A point set shown ([`Value::Bool`]).
    PointsVisible(usize),
    /// A point set's object-to-world transform ([`Value::Transform`]).
    PointsTransform(usize),
    /// A line set's vertices ([`Value::Vec3s`]).
    LinePositions(usize),
    /// A line set's colours ([`Value::Colors`]).
    LineColors(usize),
    /// A line set shown ([`Value::Bool`]).
    LinesVisible(usize),
    /// A line set's object-to-world transform ([`Value::Transform`]).
    LinesTransform(usize),
    /// A mesh primitive's positions ([`Value::Vec3s`]).
    Positions {
        /// The mesh.
        mesh: usize,
        /// Its primitive.
        primitive: usize,
    },
    /// A mesh primitive's normals ([`Value::Vec3s`]).
    Normals {
        /// The mesh.
        mesh: usize,
        /// Its primitive.
        primitive: usize,
    },
    /// A mesh primitive's vertex colours ([`Value::Vec4s`], linear).
    VertexColors {
        /// The mesh.
        mesh: usize,
        /// Its primitive.
        primitive: usize,
    },
    /// A mesh primitive's scalars (colormap materials; [`Value::Floats`]).
    Scalars {
        /// The mesh.
        mesh: usize,
        /// Its primitive.
        primitive: usize,
    },
    /// A mesh primitive's positions and triangles together ([`Value::Triangles`]: a mesh
    /// whose vertex count and triangles change from sample to sample).
    Triangles {
        /// The mesh.
        mesh: usize,
        /// Its primitive.
        primitive: usize,
    },
    /// A mesh primitive's triangles ([`Value::Indices`]: a new topology).
    Indices {
        /// The mesh.
        mesh: usize,
        /// Its primitive.
        primitive: usize,
    },
    /// A texture's texels ([`Value::Colors`] for an 8-bit texture, [`Value::Vec4s`] for a
    /// floating-point one; width x height of them). The GPU copy uploads the scene again
    /// (textures are read bindless, outside the frame graph's accesses).
    Texels(usize),
    /// A mesh primitive shown ([`Value::Bool`]).
    PrimitiveVisible {
        /// The mesh.
        mesh: usize,
        /// Its primitive.
        primitive: usize,
    },
}

/// How far the indices of a scene appended to another move (see [`Property::shifted`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Offsets {
    /// Nodes.
    pub nodes: usize,
    /// Meshes.
    pub meshes: usize,
    /// Materials.
    pub materials: usize,
    /// Lights.
    pub lights: usize,
    /// Point sets.
    pub point_sets: usize,
    /// Line sets.
    pub line_sets: usize,
    /// Textures.
    pub textures: usize,
}

impl Property {
    /// The same property of the same object once its scene is appended after others.
    pub fn shifted(self, o: &Offsets) -> Self {
        use Property as P;
        match self {
            P::NodeVisible(i) => P::NodeVisible(i + o.nodes),
            P::NodeTransform(i) => P::NodeTransform(i + o.nodes),
            P::BaseColor(i) => P::BaseColor(i + o.materials),
            P::Emissive(i) => P::Emissive(i + o.materials),
            P::Metallic(i) => P::Metallic(i + o.materials),
            P::Roughness(i) => P::Roughness(i + o.materials),
            P::ColormapRange(i) => P::ColormapRange(i + o.materials),
            P::LightColor(i) => P::LightColor(i + o.lights),
            P::LightIntensity(i) => P::LightIntensity(i + o.lights),
            P::PointPositions(i) => P::PointPositions(i + o.point_sets),
            P::PointColors(i) => P::PointColors(i + o.point_sets),
            P::PointScalars(i) => P::PointScalars(i + o.point_sets),
            P::PointFrame(i) => P::PointFrame(i + o.point_sets),
            P::PointSize(i) => P::PointSize(i + o.point_sets),
            P::PointsVisible(i) => P::PointsVisible(i + o.point_sets),
            P::PointsTransform(i) => P::PointsTransform(i + o.point_sets),
            P::LinePositions(i) => P::LinePositions(i + o.line_sets),
            P::LineColors(i) => P::LineColors(i + o.line_sets),
            P::LinesVisible(i) => P::LinesVisible(i + o.line_sets),
            P::LinesTransform(i) => P::LinesTransform(i + o.line_sets),
            P::Texels(i) => P::Texels(i + o.textures),
            P::Positions { mesh, primitive } => P::Positions { mesh: mesh + o.meshes, primitive },
            P::Normals { mesh, primitive } => P::Normals { mesh: mesh + o.meshes, primitive },
            P::VertexColors { mesh, primitive } => {
                P::VertexColors { mesh: mesh + o.meshes, primitive }
            }
            P::Scalars { mesh, primitive } => P::Scalars { mesh: mesh + o.meshes, primitive },
            P::Triangles { mesh, primitive } => P::Triangles { mesh: mesh + o.meshes, primitive },
            P::Indices { mesh, primitive } => P::Indices { mesh: mesh + o.meshes, primitive },
            P::PrimitiveVisible { mesh, primitive } => {
                P::PrimitiveVisible { mesh: mesh + o.meshes, primitive }
            }
        }
    }
}

/// Geometry whose values changed in place (same counts): the GPU copy rewrites it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GeometryRef {
    /// A point set.
    Points(usize),
    /// A line set.
    Lines(usize),
    /// A mesh primitive's vertices.
    Primitive(usize, usize),
    /// A point set's transform, size or visibility (not its data).
    PointsPlacement(usize),
    /// A line set's transform or visibility (not its data).
    LinesPlacement(usize),
    /// A mesh primitive shown or hidden.
    PrimitiveShown(usize, usize),
}

/// Values supplied on demand (the next frame of a stream, a remote program's latest).
pub trait PropertySource: Send + Sync + std::fmt::Debug {
    /// The value at scene time `t`; None: hidden (or not there yet).
    fn sample(&self, t: f64) -> Option<Value>;
    /// The times it has values for (its span: the first and last).
    fn sample_times(&self) -> Vec<f64>;
    /// Whether its value at `t` is the one of time `t` (not a stand-in while it loads): what
    /// an export waits for. Default: always.
    fn ready(&self, _t: f64) -> bool {
        true
    }
    /// The time ranges whose values are at hand (the timeline's buffer bar). Default: none
    /// to show.
    fn loaded(&self) -> Vec<(f64, f64)> {
        Vec::new()
    }
    /// The stream behind it, if any (budgets, statistics, errors per frame).
    fn stream(&self) -> Option<&Arc<crate::stream::Stream>> {
        None
    }
    /// Bounds of the positions it gives over all its times, as far as known (the default
    /// camera frames them). Default: unknown.
    fn bounds(&self) -> Option<(Vec3, Vec3)> {
        None
    }
}

/// Where a property's values come from.
#[derive(Debug, Clone)]
pub enum Samples {
    /// Samples in the scene (interpolation, ends and holes as the track says).
    Track(Track<Value>),
    /// A source asked at each time.
    Source(Arc<dyn PropertySource>),
}

impl PartialEq for Samples {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Samples::Track(a), Samples::Track(b)) => a == b,
            (Samples::Source(a), Samples::Source(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// One property over time.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyTrack {
    /// The property.
    pub property: Property,
    /// Its values.
    pub samples: Samples,
}

impl PropertyTrack {
    /// The times of its samples.
    pub fn sample_times(&self) -> Vec<f64> {
        match &self.samples {
            Samples::Track(t) => (0..t.len()).filter_map(|k| t.sample_time(k)).collect(),
            Samples::Source(s) => s.sample_times(),
        }
    }

    /// Its time span.
    pub fn span(&self) -> Option<(f64, f64)> {
        match &self.samples {
            Samples::Track(t) => Some(t.span()),
            Samples::Source(s) => {
                let times = s.sample_times();
                Some((*times.first()?, *times.last()?))
            }
        }
    }

    fn sample(&self, t: f64) -> Option<Value> {
        match &self.samples {
            Samples::Track(k) => k.sample(t),
            Samples::Source(s) => s.sample(t),
        }
    }
}

/// Why a value cannot be set.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PropertyError {
    /// No such object.
    #[error("{0:?}: no such object")]
    NoObject(Property),
    /// A value of the wrong kind.
    #[error("{property:?} takes {expected}, not {got}")]
    Kind {
        /// The property.
        property: Property,
        /// What it takes.
        expected: &'static str,
        /// What it got.
        got: &'static str,
    },
    /// Values that are not finite, or a count that does not fit the object.
    #[error("{0:?}: {1}")]
    Invalid(Property, String),
}

impl Scene {
    /// Puts a sample of `property` at time `t` into its track (made if it has none): checked
    /// by setting it now (the next [`Scene::set_time`] puts the track's value at that time).
    /// Values between samples are interpolated where they can be (numbers, vectors,
    /// transforms), else held.
    pub fn set_property_at(
        &mut self,
        property: Property,
        t: f64,
        value: Value,
    ) -> Result<(), PropertyError> {
        let bad = |m: String| PropertyError::Invalid(property, m);
        if !t.is_finite() {
            return Err(bad(format!("time {t}")));
        }
        self.set_property(property, value.clone())?;
        match self.properties.iter_mut().find(|p| p.property == property) {
            Some(PropertyTrack { samples: Samples::Track(k), .. }) => {
                k.insert(t, value).map_err(|e| bad(e.to_string()))
            }
            Some(_) => Err(bad("its samples come from a source".into())),
            None => {
                let k = Track::new(crate::time::Timing::Times(vec![t]), vec![Some(value)])
                    .map_err(|e| bad(e.to_string()))?;
                self.properties.push(PropertyTrack { property, samples: Samples::Track(k) });
                Ok(())
            }
        }
    }

    /// Sets one property to `value`, checked, and bumps what the GPU copy follows: values of
    /// the same count in place ([`crate::Versions::geometry`], [`Scene::changed`]), a new
    /// count or new triangles by an upload (`structure`). Nothing changes on an error.
    pub fn set_property(&mut self, property: Property, value: Value) -> Result<(), PropertyError> {
        self.set_property_keeping(property, value, &mut None)
    }

    /// [`Scene::set_property`], giving back the value it replaced where that is a large
    /// array (a point set's positions or colours; `None` for the rest), so that its memory
    /// can be used again (a server reading the next frame of a stream into it).
    pub fn replace_property(
        &mut self,
        property: Property,
        value: Value,
    ) -> Result<Option<Value>, PropertyError> {
        let mut replaced = None;
        self.set_property_keeping(property, value, &mut replaced)?;
        Ok(replaced)
    }

    fn set_property_keeping(
        &mut self,
        property: Property,
        value: Value,
        replaced: &mut Option<Value>,
    ) -> Result<(), PropertyError> {
        use Property as P;
        use Value as V;
        let kind = |expected: &'static str, got: &Value| PropertyError::Kind {
            property,
            expected,
            got: got.kind(),
        };
        let none = || PropertyError::NoObject(property);
        let bad = |m: &str| PropertyError::Invalid(property, m.to_string());
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        match property {
            P::NodeVisible(n) => {
                let V::Bool(b) = value else { return Err(kind("a switch", &value)) };
                self.nodes.get_mut(n).ok_or_else(none)?.visible = b;
                self.versions.transforms += 1;
            }
            P::NodeTransform(n) => {
                let V::Transform(m) = value else { return Err(kind("a transform", &value)) };
                if !m.is_finite() {
                    return Err(bad("a non-finite transform"));
                }
                if !self.set_local_transform(n, m) {
                    return Err(none());
                }
            }
            P::BaseColor(m)
            | P::Emissive(m)
            | P::Metallic(m)
            | P::Roughness(m)
            | P::ColormapRange(m) => {
                let mat = self.materials.get_mut(m).ok_or_else(none)?;
                match (property, &value) {
                    (P::BaseColor(_), V::Vec4(c)) if c.is_finite() => mat.base_color = c.to_array(),
                    (P::BaseColor(_), V::Vec3(c)) if c.is_finite() => {
                        mat.base_color = [c.x, c.y, c.z, mat.base_color[3]]
                    }
                    (P::Emissive(_), V::Vec3(c)) if c.is_finite() => mat.emissive = c.to_array(),
                    (P::Metallic(_), V::Float(x)) if x.is_finite() => {
                        mat.metallic = x.clamp(0.0, 1.0)
                    }
                    (P::Roughness(_), V::Float(x)) if x.is_finite() => {
                        mat.roughness = x.clamp(0.0, 1.0)
                    }
                    (P::ColormapRange(_), V::Floats(r)) if r.len() == 2 && finite(r) => {
                        let map =
                            mat.colormap.as_mut().ok_or_else(|| bad("not a colormap material"))?;
                        (map.min, map.max) = (r[0], r[1]);
                    }
                    (P::BaseColor(_), _) => {
                        return Err(kind("four (or three) finite numbers", &value))
                    }
                    (P::Emissive(_), _) => return Err(kind("three finite numbers", &value)),
                    (P::ColormapRange(_), _) => return Err(kind("two finite numbers", &value)),
                    _ => return Err(kind("a finite number", &value)),
                }
                self.versions.materials += 1;
            }
            P::LightColor(l) | P::LightIntensity(l) => {
                let light = self.lights.get_mut(l).ok_or_else(none)?;
                match (&value, property) {
                    (V::Vec3(c), P::LightColor(_)) if c.is_finite() => light.color = c.to_array(),
                    (V::Float(x), P::LightIntensity(_)) if x.is_finite() && *x >= 0.0 => {
                        light.intensity = *x
                    }
                    (_, P::LightColor(_)) => return Err(kind("three finite numbers", &value)),
                    _ => return Err(kind("a number >= 0", &value)),
                }
                self.versions.lights += 1;
            }
            P::Texels(i) => {
                let tex = self.textures.get_mut(i).ok_or_else(none)?;
                let n = tex.width as usize * tex.height as usize;
                match (&mut tex.pixels, value) {
                    (crate::TexturePixels::Rgba8(p), V::Colors(c)) if c.len() == n => *p = c,
                    (crate::TexturePixels::RgbaF32(p), V::Vec4s(c))
                        if c.len() == n && c.iter().all(|x| finite(x)) =>
                    {
                        *p = c
                    }
                    (_, v) => {
                        return Err(kind("width x height texels of the texture's kind", &v));
                    }
                }
                self.versions.structure += 1;
            }
            P::PointFrame(i) => {
                let ps = self.point_sets.get_mut(i).ok_or_else(none)?;
                let V::Frame(f) = value else { return Err(kind("a streamed frame", &value)) };
                if ps.frame.as_ref() == Some(&f) {
                    return Ok(());
                }
                let d = &f.frame;
                let n = d.positions.len();
                // Positions were checked on the loader thread (`Frame::check`); a frame made
                // by hand without bounds is checked here.
                if d.bounds.is_none() && !d.positions.iter().all(|v| finite(v)) {
                    return Err(bad("non-finite positions"));
                }
                if !(d.colors.is_empty() || d.colors.len() == n)
                    || !(d.scalars.is_empty() || d.scalars.len() == n)
                {
                    return Err(bad("colours or scalars of another count than the positions"));
                }
                ps.positions.clone_from(&d.positions);
                ps.colors.clone_from(&d.colors);
                ps.scalars.clone_from(&d.scalars);
                ps.frame = Some(f);
                // Any count: the GPU draws frames from its pool (no new topology).
                self.geometry_changed(GeometryRef::Points(i), false);
            }
            P::PointPositions(i)
            | P::PointColors(i)
            | P::PointScalars(i)
            | P::PointSize(i)
            | P::PointsVisible(i)
            | P::PointsTransform(i) => {
                let ps = self.point_sets.get_mut(i).ok_or_else(none)?;
                let n = ps.positions.len();
                if matches!(property, P::PointPositions(_) | P::PointColors(_) | P::PointScalars(_))
                {
                    // Its data are no longer a streamed frame's.
                    ps.frame = None;
                }
                let topology = match (property, value) {
                    (P::PointSize(_), V::Float(x)) if x.is_finite() && x > 0.0 && x <= 64.0 => {
                        ps.size_px = x;
                        self.geometry_changed(GeometryRef::PointsPlacement(i), false);
                        return Ok(());
                    }
                    (P::PointsVisible(_), V::Bool(b)) => {
                        ps.visible = b;
                        self.geometry_changed(GeometryRef::PointsPlacement(i), false);
                        return Ok(());
                    }
                    (P::PointsTransform(_), V::Transform(m)) if m.is_finite() => {
                        ps.transform = m;
                        self.geometry_changed(GeometryRef::PointsPlacement(i), false);
                        return Ok(());
                    }
                    (P::PointPositions(_), V::Vec3s(p)) => {
                        if !crate::all_finite(&p) {
                            return Err(bad("non-finite positions"));
                        }
                        let changed = p.len() != n;
                        if changed {
                            // Per-point data of the old count goes with it.
                            if ps.colors.len() != p.len() {
                                ps.colors.clear();
                            }
                            if ps.scalars.len() != p.len() {
                                ps.scalars.clear();
                            }
                        }
                        *replaced = Some(V::Vec3s(std::mem::replace(&mut ps.positions, p)));
                        changed
                    }
                    (P::PointColors(_), V::Colors(c)) if c.len() == n || c.is_empty() => {
                        *replaced = Some(V::Colors(std::mem::replace(&mut ps.colors, c)));
                        false
                    }
                    (P::PointScalars(_), V::Floats(s)) if s.len() == n || s.is_empty() => {
                        ps.scalars = s;
                        false
                    }
                    (_, v) => {
                        return Err(kind("values of the point set's kind and count", &v));
                    }
                };
                self.geometry_changed(GeometryRef::Points(i), topology);
            }
            P::LinePositions(i) | P::LineColors(i) | P::LinesVisible(i) | P::LinesTransform(i) => {
                let ls = self.line_sets.get_mut(i).ok_or_else(none)?;
                let n = ls.positions.len();
                let topology = match (property, value) {
                    (P::LinesVisible(_), V::Bool(b)) => {
                        ls.visible = b;
                        self.geometry_changed(GeometryRef::LinesPlacement(i), false);
                        return Ok(());
                    }
                    (P::LinesTransform(_), V::Transform(m)) if m.is_finite() => {
                        ls.transform = m;
                        self.geometry_changed(GeometryRef::LinesPlacement(i), false);
                        return Ok(());
                    }
                    (P::LinePositions(_), V::Vec3s(p)) => {
                        if !crate::all_finite(&p) {
                            return Err(bad("non-finite positions"));
                        }
                        let changed = p.len() != n;
                        if changed && ls.colors.len() != p.len() {
                            ls.colors.clear();
                        }
                        ls.positions = p;
                        changed
                    }
                    (P::LineColors(_), V::Colors(c)) if c.len() == n || c.is_empty() => {
                        ls.colors = c;
                        false
                    }
                    (_, v) => return Err(kind("values of the line set's kind and count", &v)),
                };
                self.geometry_changed(GeometryRef::Lines(i), topology);
            }
            P::Positions { mesh, primitive }
            | P::Normals { mesh, primitive }
            | P::VertexColors { mesh, primitive }
            | P::Scalars { mesh, primitive }
            | P::Indices { mesh, primitive }
            | P::Triangles { mesh, primitive }
            | P::PrimitiveVisible { mesh, primitive } => {
                let p = self
                    .meshes
                    .get_mut(mesh)
                    .and_then(|m| m.primitives.get_mut(primitive))
                    .ok_or_else(none)?;
                let n = p.positions.len();
                let topology = match (property, value) {
                    (P::Positions { .. }, V::Vec3s(v)) => {
                        if !v.iter().all(|x| finite(x)) {
                            return Err(bad("non-finite positions"));
                        }
                        if v.len() != n && p.indices.iter().any(|&i| i as usize >= v.len()) {
                            return Err(bad(
                                "fewer positions than the triangles use: set the indices first",
                            ));
                        }
                        let changed = v.len() != n;
                        if changed {
                            // Per-vertex data of the old count goes (normals are made
                            // again below).
                            p.colors.clear();
                            p.uvs.clear();
                            p.uvs1.clear();
                            p.tangents.clear();
                            p.scalars.clear();
                            p.joints.clear();
                            p.weights.clear();
                            p.targets.clear();
                        }
                        p.positions = v;
                        if changed || p.normals.len() != p.positions.len() {
                            p.normals = smooth_normals(&p.positions, &p.indices);
                        }
                        changed
                    }
                    (P::Normals { .. }, V::Vec3s(v))
                        if v.len() == n && v.iter().all(|x| finite(x)) =>
                    {
                        p.normals = v;
                        false
                    }
                    // Empty: no vertex colours.
                    (P::VertexColors { .. }, V::Vec4s(v))
                        if (v.is_empty() || v.len() == n) && v.iter().all(|x| finite(x)) =>
                    {
                        p.colors = v;
                        false
                    }
                    (P::Scalars { .. }, V::Floats(v)) if v.len() == n => {
                        p.scalars = v;
                        false
                    }
                    (P::Indices { .. }, V::Indices(v)) => {
                        if v.len() % 3 != 0 || v.iter().any(|&i| i as usize >= n) {
                            return Err(bad(
                                "indices: not a triangle list of this primitive's vertices",
                            ));
                        }
                        p.indices = v;
                        p.sphere_vertices = 0;
                        true
                    }
                    (P::Triangles { .. }, V::Triangles { positions, indices }) => {
                        if !positions.iter().all(|x| finite(x))
                            || indices.len() % 3 != 0
                            || indices.iter().any(|&i| i as usize >= positions.len())
                        {
                            return Err(bad("non-finite positions, or indices that are not a triangle list of them"));
                        }
                        let changed = positions.len() != n || indices != p.indices;
                        if positions.len() != n {
                            p.colors.clear();
                            p.uvs.clear();
                            p.uvs1.clear();
                            p.tangents.clear();
                            p.scalars.clear();
                            p.joints.clear();
                            p.weights.clear();
                            p.targets.clear();
                        }
                        p.normals = smooth_normals(&positions, &indices);
                        p.positions = positions;
                        p.indices = indices;
                        // New triangles: no longer spheres' tessellations.
                        p.sphere_vertices = 0;
                        changed
                    }
                    (P::PrimitiveVisible { .. }, V::Bool(b)) => {
                        p.hidden = !b;
                        self.geometry_changed(GeometryRef::PrimitiveShown(mesh, primitive), false);
                        return Ok(());
                    }
                    (_, v) => return Err(kind("values of the primitive's kind and count", &v)),
                };
                self.geometry_changed(GeometryRef::Primitive(mesh, primitive), topology);
            }
        }
        Ok(())
    }

    /// Records that `what` changed: in place, or (`topology`) by an upload.
    fn geometry_changed(&mut self, what: GeometryRef, topology: bool) {
        if topology {
            self.versions.structure += 1;
        } else {
            self.versions.geometry += 1;
            self.changed.insert(what, self.versions.geometry);
        }
    }

    /// Applies every property track at time `t` (a hidden sample hides its object).
    pub(crate) fn apply_properties(&mut self, t: f64) {
        let tracks = std::mem::take(&mut self.properties);
        for track in &tracks {
            let value = track.sample(t);
            let shown = value.is_some();
            let result = match value {
                Some(v) => self.set_property(track.property, v),
                None => self.set_shown(track.property, false),
            };
            if let Err(e) = result {
                tracing::debug!("property track at {t} s: {e}");
            }
            if shown {
                // A value brings a hidden object back.
                let _ = self.set_shown(track.property, true);
            }
        }
        self.properties = tracks;
    }

    /// The streams behind the scene's properties (each once).
    pub fn streams(&self) -> Vec<Arc<crate::stream::Stream>> {
        let mut out: Vec<Arc<crate::stream::Stream>> = Vec::new();
        for p in &self.properties {
            if let Samples::Source(s) = &p.samples {
                if let Some(st) = s.stream() {
                    if !out.iter().any(|o| Arc::ptr_eq(o, st)) {
                        out.push(Arc::clone(st));
                    }
                }
            }
        }
        out
    }

    /// The union of the bounds the property sources know over all their times (a streamed
    /// sequence's frames), placed by their point sets' transforms; None: none known.
    pub fn sources_bounds(&self) -> Option<(Vec3, Vec3)> {
        let mut out: Option<(Vec3, Vec3)> = None;
        for p in &self.properties {
            let Samples::Source(s) = &p.samples else { continue };
            let Some((lo, hi)) = s.bounds() else { continue };
            let m = match p.property {
                Property::PointFrame(i) | Property::PointPositions(i) => {
                    self.point_sets.get(i).map_or(glam::Mat4::IDENTITY, |p| p.transform)
                }
                Property::LinePositions(i) => {
                    self.line_sets.get(i).map_or(glam::Mat4::IDENTITY, |l| l.transform)
                }
                _ => glam::Mat4::IDENTITY,
            };
            for k in 0..8 {
                let c = Vec3::new(
                    if k & 1 == 0 { lo.x } else { hi.x },
                    if k & 2 == 0 { lo.y } else { hi.y },
                    if k & 4 == 0 { lo.z } else { hi.z },
                );
                let w = m.transform_point3(c);
                out = Some(out.map_or((w, w), |(a, b)| (a.min(w), b.max(w))));
            }
        }
        out
    }

    /// Whether every property's value at `t` is there (sources still loading are not).
    pub fn properties_ready(&self, t: f64) -> bool {
        self.properties.iter().all(|p| match &p.samples {
            Samples::Track(_) => true,
            Samples::Source(s) => s.ready(t),
        })
    }

    /// Puts the scene at time `t` once every source has its value for `t` (waiting up to
    /// `timeout`; what an export does). False when the time ran out (the scene is then at
    /// `t` with what was there).
    pub fn set_time_waiting(&mut self, t: f64, timeout: std::time::Duration) -> bool {
        let start = std::time::Instant::now();
        loop {
            // Asked before the time is set: data that arrives meanwhile is taken next time
            // round (asked after, a stand-in taken just before it arrived would pass).
            let ready = self.properties_ready(t);
            self.set_time(t);
            if ready {
                return true;
            }
            if start.elapsed() > timeout {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Shows or hides the object of `property` (when its visibility differs).
    fn set_shown(&mut self, property: Property, shown: bool) -> Result<(), PropertyError> {
        use Property as P;
        let target = match property {
            P::NodeVisible(n) | P::NodeTransform(n) => Some(P::NodeVisible(n)),
            P::PointPositions(i)
            | P::PointColors(i)
            | P::PointScalars(i)
            | P::PointFrame(i)
            | P::PointSize(i)
            | P::PointsVisible(i)
            | P::PointsTransform(i) => Some(P::PointsVisible(i)),
            P::LinePositions(i) | P::LineColors(i) | P::LinesVisible(i) | P::LinesTransform(i) => {
                Some(P::LinesVisible(i))
            }
            P::Positions { mesh, primitive }
            | P::Normals { mesh, primitive }
            | P::VertexColors { mesh, primitive }
            | P::Scalars { mesh, primitive }
            | P::Indices { mesh, primitive }
            | P::Triangles { mesh, primitive }
            | P::PrimitiveVisible { mesh, primitive } => {
                Some(P::PrimitiveVisible { mesh, primitive })
            }
            // Materials and lights have no visibility of their own.
            _ => None,
        };
        let Some(target) = target else { return Ok(()) };
        let now = match target {
            P::NodeVisible(n) => self.nodes.get(n).map(|n| n.visible),
            P::PointsVisible(i) => self.point_sets.get(i).map(|p| p.visible),
            P::LinesVisible(i) => self.line_sets.get(i).map(|l| l.visible),
            P::PrimitiveVisible { mesh, primitive } => {
                self.meshes.get(mesh).and_then(|m| m.primitives.get(primitive)).map(|p| !p.hidden)
            }
            _ => None,
        };
        if now == Some(shown) {
            return Ok(());
        }
        // A value track on the visibility itself says so with its values.
        if property == target && shown {
            return Ok(());
        }
        self.set_property(target, Value::Bool(shown))
    }
}

/// Area-weighted vertex normals of a triangle list (zero for unused vertices).
pub fn smooth_normals(positions: &[[f32; 3]], indices: &[u32]) -> Vec<[f32; 3]> {
    let mut n = vec![Vec3::ZERO; positions.len()];
    for t in indices.chunks_exact(3) {
        let i = [t[0] as usize, t[1] as usize, t[2] as usize];
        if i.iter().any(|&k| k >= positions.len()) {
            continue;
        }
        let v = i.map(|k| Vec3::from(positions[k]));
        let face = (v[1] - v[0]).cross(v[2] - v[0]);
        for k in i {
            n[k] += face;
        }
    }
    n.into_iter().map(|v| v.normalize_or_zero().to_array()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{EndMode, Holes, Timing};
    use crate::{Material, Mesh, Node, PointSet, Primitive};

    #[test]
    fn world_transforms_follow_parents_that_come_after_their_children() {
        let mut s = Scene::default();
        let t = |x: f32| glam::Mat4::from_translation(Vec3::new(x, 0.0, 0.0));
        // 0's parent is 2, 2's is 1; 3 and 4 are a cycle; 5 names a missing parent.
        for (name, x, parent) in
            [("a", 1.0, Some(2)), ("root", 10.0, None), ("mid", 100.0, Some(1))]
                .into_iter()
                .chain([("c1", 1.0, Some(4)), ("c2", 2.0, Some(3)), ("lost", 5.0, Some(99))])
        {
            let mut n = Node::new(name, t(x));
            n.parent = parent;
            s.nodes.push(n);
        }
        s.update_world();
        let x = |i: usize| s.nodes[i].world.w_axis.x;
        assert_eq!((x(0), x(1), x(2)), (111.0, 10.0, 110.0));
        assert!(x(3).is_finite() && x(4).is_finite());
        assert_eq!(x(5), 5.0);
    }

    #[test]
    fn samples_set_at_times_interpolate_transforms_and_hold_switches() {
        let mut s = Scene::default();
        s.nodes.push(Node::new("n", glam::Mat4::IDENTITY));
        s.update_world();
        let turned = glam::Mat4::from_rotation_translation(
            glam::Quat::from_rotation_y(std::f32::consts::FRAC_PI_2),
            Vec3::new(2.0, 0.0, 0.0),
        );
        // Out of order: the earlier sample goes before.
        s.set_property_at(Property::NodeTransform(0), 1.0, Value::Transform(turned))
            .expect("sample");
        s.set_property_at(Property::NodeTransform(0), 0.0, Value::Transform(glam::Mat4::IDENTITY))
            .expect("sample");
        s.set_property_at(Property::NodeVisible(0), 0.0, Value::Bool(true)).expect("sample");
        s.set_property_at(Property::NodeVisible(0), 1.0, Value::Bool(false)).expect("sample");
        s.set_time(0.5);
        let (_, r, t) = s.nodes[0].world.to_scale_rotation_translation();
        assert!((t - Vec3::new(1.0, 0.0, 0.0)).length() < 1e-5, "{t}");
        assert!((r.angle_between(glam::Quat::IDENTITY) - std::f32::consts::FRAC_PI_4).abs() < 1e-4);
        assert!(s.nodes[0].visible, "a switch holds until its next sample");
        s.set_time(1.0);
        assert!(!s.nodes[0].visible);
        // The same time again replaces its sample.
        s.set_property_at(Property::NodeVisible(0), 1.0, Value::Bool(true)).expect("sample");
        s.set_time(1.0);
        assert!(s.nodes[0].visible);
        assert_eq!(s.properties.iter().map(|p| p.sample_times().len()).sum::<usize>(), 4);
        // Checked: a time that is not finite, a value of another kind, no such node.
        let at = |s: &mut Scene, p, t, v| s.set_property_at(p, t, v).is_err();
        assert!(at(&mut s, Property::NodeVisible(0), f64::NAN, Value::Bool(true)));
        assert!(at(&mut s, Property::NodeTransform(0), 2.0, Value::Float(1.0)));
        assert!(at(&mut s, Property::NodeTransform(5), 2.0, Value::Transform(turned)));
        assert_eq!(s.properties.iter().map(|p| p.sample_times().len()).sum::<usize>(), 4);
    }

    fn scene() -> Scene {
        let tri = Primitive {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            normals: vec![[0.0, 0.0, 1.0]; 3],
            indices: vec![0, 1, 2],
            ..Default::default()
        };
        let mut s = Scene {
            materials: vec![Material::lambert("m", [1.0, 0.0, 0.0])],
            meshes: vec![Mesh { name: "tri".into(), primitives: vec![tri] }],
            point_sets: vec![PointSet::new("pts", vec![[0.0; 3]; 2])],
            ..Default::default()
        };
        s.nodes.push(Node::new("n", glam::Mat4::IDENTITY).with_mesh(0));
        s
    }

    fn track(times: &[f64], values: Vec<Option<Value>>) -> Track<Value> {
        Track::new(Timing::Times(times.to_vec()), values).expect("track")
    }

    #[test]
    fn property_tracks_interpolate_step_and_hide() {
        let mut s = scene();
        s.properties.push(PropertyTrack {
            property: Property::BaseColor(0),
            samples: Samples::Track(track(
                &[0.0, 2.0],
                vec![Some(Value::Vec3(Vec3::ZERO)), Some(Value::Vec3(Vec3::new(1.0, 0.5, 0.0)))],
            )),
        });
        // Points: same count from 0 to 1 s (linear), three points from 2 s (a topology).
        s.properties.push(PropertyTrack {
            property: Property::PointPositions(0),
            samples: Samples::Track(track(
                &[0.0, 1.0, 2.0],
                vec![
                    Some(Value::Vec3s(vec![[0.0; 3], [0.0; 3]])),
                    Some(Value::Vec3s(vec![[2.0, 0.0, 0.0], [0.0; 3]])),
                    Some(Value::Vec3s(vec![[1.0; 3]; 3])),
                ],
            )),
        });
        // The node is hidden by a hole at 1 s (hide) and after 3 s (disappear).
        let mut vis =
            track(&[0.0, 1.0, 3.0], vec![Some(Value::Bool(true)), None, Some(Value::Bool(true))]);
        (vis.holes, vis.end, vis.interpolation) =
            (Holes::Hide, EndMode::Disappear, crate::time::Interpolation::Step);
        s.properties.push(PropertyTrack {
            property: Property::NodeVisible(0),
            samples: Samples::Track(vis),
        });
        assert_eq!(s.time_span(), Some((0.0, 3.0)));
        let v0 = s.versions;
        s.set_time(0.5);
        assert_eq!(s.materials[0].base_color, [0.25, 0.125, 0.0, 1.0], "linear, alpha kept");
        assert_eq!(s.point_sets[0].positions[0], [1.0, 0.0, 0.0]);
        assert!(s.nodes[0].visible);
        assert!(s.versions.materials > v0.materials && s.versions.geometry > v0.geometry);
        assert_eq!(s.versions.structure, v0.structure, "same count: in place");
        assert!(s.changed.contains_key(&GeometryRef::Points(0)));
        s.set_time(1.5);
        assert!(!s.nodes[0].visible, "a hole hides");
        let v1 = s.versions;
        s.set_time(2.5);
        assert_eq!(s.point_sets[0].positions.len(), 3, "the later sample holds until the next");
        assert!(s.versions.structure > v1.structure, "another count: a new topology");
        assert!(!s.nodes[0].visible, "still in the hole's interval (step)");
        s.set_time(3.0);
        assert!(s.nodes[0].visible);
        s.set_time(3.5);
        assert!(!s.nodes[0].visible, "disappears after its span");
        s.set_time(0.0);
        assert!(s.nodes[0].visible && s.point_sets[0].positions.len() == 2);
    }

    #[test]
    fn set_property_checks_kinds_counts_and_values() {
        let mut s = scene();
        let before = s.clone();
        let e = s.set_property(Property::Roughness(0), Value::Vec3(Vec3::ONE)).expect_err("kind");
        assert!(e.to_string().contains("takes a finite number"), "{e}");
        assert!(s.set_property(Property::Roughness(3), Value::Float(0.5)).is_err(), "no material");
        assert!(s.set_property(Property::Metallic(0), Value::Float(f32::NAN)).is_err());
        let nan = Value::Vec3s(vec![[f32::NAN; 3]; 2]);
        assert!(s.set_property(Property::PointPositions(0), nan).is_err());
        let wrong = Value::Colors(vec![[0; 4]; 5]);
        assert!(s.set_property(Property::PointColors(0), wrong).is_err(), "5 colours, 2 points");
        let mesh = Property::Indices { mesh: 0, primitive: 0 };
        assert!(s.set_property(mesh, Value::Indices(vec![0, 1, 7])).is_err(), "index out of range");
        assert_eq!(s, before, "nothing changed on errors");
        // A mesh's topology at once: a quad of 4 vertices and 2 triangles.
        let quad = Value::Triangles {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]],
            indices: vec![0, 1, 2, 0, 2, 3],
        };
        s.set_property(Property::Triangles { mesh: 0, primitive: 0 }, quad).expect("triangles");
        let p = &s.meshes[0].primitives[0];
        assert_eq!((p.positions.len(), p.normals.len(), p.indices.len()), (4, 4, 6));
        assert!((p.normals[1][2] - 1.0).abs() < 1e-6, "smooth normals made: {:?}", p.normals[1]);
        assert!(s.versions.structure > before.versions.structure);
        // Positions of the same count: in place.
        let v = s.versions;
        let moved = Value::Vec3s(vec![[0.0, 0.0, 1.0]; 4]);
        s.set_property(Property::Positions { mesh: 0, primitive: 0 }, moved).expect("positions");
        assert_eq!(s.versions.structure, v.structure);
        assert_eq!(s.changed.get(&GeometryRef::Primitive(0, 0)), Some(&s.versions.geometry));
    }

    #[test]
    fn texels_over_time_replace_a_texture() {
        let mut s = scene();
        s.textures.push(crate::Texture {
            name: "t".into(),
            width: 2,
            height: 1,
            pixels: crate::TexturePixels::Rgba8(vec![[0; 4]; 2]),
            srgb: true,
            sampler: Default::default(),
        });
        let v = s.versions;
        let red = Value::Colors(vec![[255, 0, 0, 255]; 2]);
        s.set_property(Property::Texels(0), red).expect("texels");
        assert_eq!(s.textures[0].pixels, crate::TexturePixels::Rgba8(vec![[255, 0, 0, 255]; 2]));
        assert!(s.versions.structure > v.structure, "the GPU copy uploads again");
        let wrong = Value::Colors(vec![[0; 4]; 3]);
        assert!(s.set_property(Property::Texels(0), wrong).is_err(), "3 texels for 2x1");
        let floats = Value::Vec4s(vec![[0.0; 4]; 2]);
        assert!(s.set_property(Property::Texels(0), floats).is_err(), "an 8-bit texture");
    }

    #[test]
    fn points_and_lines_follow_their_node_and_transforms_are_properties() {
        let mut s = scene();
        s.point_sets[0].node = Some(0);
        let track = Track::new(
            Timing::Times(vec![0.0, 1.0]),
            vec![Some(Vec3::ZERO), Some(Vec3::new(4.0, 0.0, 0.0))],
        )
        .expect("track");
        s.animations.push(crate::NodeAnimation {
            node: 0,
            rest: (Vec3::ONE, glam::Quat::IDENTITY, Vec3::ZERO),
            translation: Some(track),
            rotation: None,
            scale: None,
            weights: None,
        });
        s.set_time(0.5);
        assert_eq!(s.point_sets[0].transform.w_axis.x, 2.0, "the points follow their node");
        assert!(s.changed.contains_key(&GeometryRef::PointsPlacement(0)));
        assert!(!s.changed.contains_key(&GeometryRef::Points(0)), "no data rewritten");
        let v = s.versions;
        s.set_time(0.5);
        assert_eq!(s.versions.geometry, v.geometry, "unchanged: nothing to write");
        let bad = Value::Transform(glam::Mat4::from_translation(Vec3::splat(f32::NAN)));
        assert!(s.set_property(Property::PointsTransform(0), bad).is_err());
        let moved = Value::Transform(glam::Mat4::from_translation(Vec3::Y));
        s.set_property(Property::PointsTransform(0), moved).expect("transform");
        assert_eq!(s.point_sets[0].transform.w_axis.y, 1.0);
    }

    #[test]
    fn appended_scenes_keep_their_properties_on_their_objects() {
        let mut a = scene();
        let mut b = scene();
        b.properties.push(PropertyTrack {
            property: Property::PointPositions(0),
            samples: Samples::Track(track(&[0.0], vec![Some(Value::Vec3s(vec![[5.0; 3]; 2]))])),
        });
        b.properties.push(PropertyTrack {
            property: Property::Positions { mesh: 0, primitive: 0 },
            samples: Samples::Track(track(&[0.0], vec![Some(Value::Vec3s(vec![[1.0; 3]; 3]))])),
        });
        a.append(b);
        assert_eq!(a.properties[0].property, Property::PointPositions(1));
        assert_eq!(a.properties[1].property, Property::Positions { mesh: 1, primitive: 0 });
        a.set_time(0.0);
        assert_eq!(a.point_sets[1].positions[0], [5.0; 3]);
        assert_eq!(a.point_sets[0].positions[0], [0.0; 3], "the first scene's points stay");
        assert_eq!(a.meshes[1].primitives[0].positions[0], [1.0; 3]);
    }

    #[derive(Debug)]
    struct Clock;
    impl PropertySource for Clock {
        fn sample(&self, t: f64) -> Option<Value> {
            (t < 10.0).then(|| Value::Float(t as f32 / 10.0))
        }
        fn sample_times(&self) -> Vec<f64> {
            vec![0.0, 10.0]
        }
    }

    #[test]
    fn a_source_supplies_values_on_demand() {
        let mut s = scene();
        s.properties.push(PropertyTrack {
            property: Property::Roughness(0),
            samples: Samples::Source(Arc::new(Clock)),
        });
        assert_eq!(s.time_span(), Some((0.0, 10.0)));
        s.set_time(4.0);
        assert_eq!(s.materials[0].roughness, 0.4);
    }
}
