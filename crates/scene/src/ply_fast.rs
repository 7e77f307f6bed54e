//! The fast path of [`crate::load_ply`] for binary point clouds (a `vertex` element of scalar
//! properties and nothing else: what scanners, simulations and sequences write): the
//! vertices are read straight from the bytes at their offsets, about a hundred times faster
//! than a generic parser that makes a map per vertex. Anything else (ASCII, faces, lists)
//! goes to the generic parser: [`points`] returns None.

use std::path::Path;

use crate::colormap::{Colormap, ColormapKind};
use crate::gltf_loader::LoadError;
use crate::model::{PointSet, Scene};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Ty {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "char" | "int8" => Ty::I8,
            "uchar" | "uint8" => Ty::U8,
            "short" | "int16" => Ty::I16,
            "ushort" | "uint16" => Ty::U16,
            "int" | "int32" => Ty::I32,
            "uint" | "uint32" => Ty::U32,
            "float" | "float32" => Ty::F32,
            "double" | "float64" => Ty::F64,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Ty::I8 | Ty::U8 => 1,
            Ty::I16 | Ty::U16 => 2,
            Ty::I32 | Ty::U32 | Ty::F32 => 4,
            Ty::F64 => 8,
        }
    }
}

struct Prop {
    name: String,
    ty: Ty,
    offset: usize,
}

/// Reads property `p` of the vertex at `base`.
#[inline]
fn read(b: &[u8], base: usize, p: &Prop, le: bool) -> f64 {
    let at = base + p.offset;
    macro_rules! get {
        ($t:ty, $n:expr) => {{
            let mut a = [0u8; $n];
            a.copy_from_slice(&b[at..at + $n]);
            if le {
                <$t>::from_le_bytes(a) as f64
            } else {
                <$t>::from_be_bytes(a) as f64
            }
        }};
    }
    match p.ty {
        Ty::I8 => b[at] as i8 as f64,
        Ty::U8 => b[at] as f64,
        Ty::I16 => get!(i16, 2),
        Ty::U16 => get!(u16, 2),
        Ty::I32 => get!(i32, 4),
        Ty::U32 => get!(u32, 4),
        Ty::F32 => get!(f32, 4),
        Ty::F64 => get!(f64, 8),
    }
}

/// A binary point cloud read directly; None: not such a file (the generic parser reads it).
pub(crate) fn points(path: &Path) -> Option<Result<Scene, LoadError>> {
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    // The header (text lines up to "end_header") from the file's start; the rest is read
    // only when this path applies.
    let mut head = vec![0u8; 64 << 10];
    let n = {
        use std::io::Read as _;
        let mut f = std::fs::File::open(path).ok()?;
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(_) => return None,
            }
        }
        n
    };
    let end = head[..n].windows(11).position(|w| w == b"end_header\n")? + 11;
    let header = std::str::from_utf8(&head[..end]).ok()?.to_string();
    let mut lines = header.lines().map(str::trim);
    if lines.next()? != "ply" {
        return None;
    }
    let mut le = None;
    let mut count = None;
    let mut props: Vec<Prop> = Vec::new();
    let mut stride = 0usize;
    for l in lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["format", "binary_little_endian", _] => le = Some(true),
            ["format", "binary_big_endian", _] => le = Some(false),
            ["format", ..] => return None,
            ["comment", ..] | ["obj_info", ..] | ["end_header"] | [] => {}
            ["element", "vertex", n] if count.is_none() => count = Some(n.parse::<usize>().ok()?),
            // Another element (faces, edges): the generic parser.
            ["element", ..] => return None,
            ["property", ty, name] if count.is_some() => {
                let ty = Ty::parse(ty)?;
                props.push(Prop { name: name.to_string(), ty, offset: stride });
                stride += ty.size();
            }
            _ => return None,
        }
    }
    let (le, count) = (le?, count?);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Some(Err(invalid(e.to_string()))),
    };
    let body = bytes.get(end..).unwrap_or_default();
    if stride == 0 {
        return None;
    }
    if body.len() / stride < count {
        return Some(Err(invalid(format!(
            "PLY: {count} vertices of {stride} bytes need {} bytes; the file has {}",
            count.saturating_mul(stride),
            body.len()
        ))));
    }
    let find = |n: &str| props.iter().find(|p| p.name == n);
    let (Some(x), Some(y), Some(z)) = (find("x"), find("y"), find("z")) else {
        return Some(Err(invalid("the vertices lack x, y or z".into())));
    };
    let mut positions = Vec::with_capacity(count);
    for i in 0..count {
        let base = i * stride;
        let p = [
            read(body, base, x, le) as f32,
            read(body, base, y, le) as f32,
            read(body, base, z, le) as f32,
        ];
        if !p.iter().all(|v| v.is_finite()) {
            return Some(Err(invalid("non-finite (NaN or infinite) positions".into())));
        }
        positions.push(p);
    }
    // Colours as the generic path reads them: floats in 0..1, integers clamped to 0..255.
    let channel = |p: &Prop, base: usize| -> u8 {
        let v = read(body, base, p, le);
        match p.ty {
            // In the property's own precision (as the generic parser rounds).
            Ty::F32 => ((v as f32).clamp(0.0, 1.0) * 255.0).round() as u8,
            Ty::F64 => (v.clamp(0.0, 1.0) * 255.0).round() as u8,
            _ => v.clamp(0.0, 255.0) as u8,
        }
    };
    let mut colors = Vec::new();
    if let (Some(r), Some(g), Some(b)) = (find("red"), find("green"), find("blue")) {
        let a = find("alpha");
        colors = (0..count)
            .map(|i| {
                let base = i * stride;
                let alpha = a.map_or(255, |a| channel(a, base));
                [channel(r, base), channel(g, base), channel(b, base), alpha]
            })
            .collect();
    }
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("points");
    let mut set = PointSet { colors, ..PointSet::new(name, positions) };
    if set.colors.is_empty() {
        const NAMES: [&str; 5] = ["intensity", "quality", "scalar", "value", "confidence"];
        let scalar = NAMES
            .iter()
            .find_map(|n| find(n))
            .or_else(|| props.iter().find(|p| p.name.starts_with("scalar_")));
        if let Some(p) = scalar {
            let values: Vec<f32> =
                (0..count).map(|i| read(body, i * stride, p, le) as f32).collect();
            let map = Colormap::fit(ColormapKind::Viridis, &values);
            tracing::info!(
                "{}: vertex property '{}' shown through viridis over [{}, {}]",
                path.display(),
                p.name,
                map.min,
                map.max
            );
            set.scalars = values;
            set.colormap = Some(map);
        }
    }
    let mut scene = Scene::default();
    scene.point_sets.push(set);
    scene.update_world();
    Some(Ok(scene))
}
