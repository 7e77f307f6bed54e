//! Sequences of files, one per frame (issue 23, first part): what a glob (`scans/*.ply`) or a
//! folder of numbered files names, in natural order (`2.ply` before `10.ply`), and the frame
//! times a timestamps file gives (one time in seconds per line, or a CSV with a `time`
//! column).

use std::path::{Path, PathBuf};

/// Why a sequence cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// Nothing matches.
    #[error("{0}: no files")]
    Empty(String),
    /// The pattern is not a valid glob.
    #[error("{pattern}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// A file or folder could not be read.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The extensions a frame file may have (the formats `crate::load` reads).
pub const FRAME_EXTENSIONS: &[&str] =
    &["ply", "obj", "gltf", "glb", "png", "jpg", "jpeg", "hdr", "exr", "npy", "npz"];

/// Whether `spec` names a sequence: a folder, or a glob pattern (`*`, `?`, `[`) that is not
/// the name of a file.
pub fn is_sequence(spec: &str) -> bool {
    let p = Path::new(spec);
    !p.is_file() && (p.is_dir() || spec.contains(['*', '?', '[']))
}

/// The files of sequence `spec` in natural order: a glob's matches (files only), or a
/// folder's files of the frame formats (those of its most common extension, so that a
/// `timestamps.csv` or a README beside the frames is left out).
pub fn expand(spec: &str) -> Result<Vec<PathBuf>, SequenceError> {
    let mut files: Vec<PathBuf> = if Path::new(spec).is_dir() {
        let read = |e: std::io::Error| SequenceError::Read {
            path: PathBuf::from(spec),
            message: e.to_string(),
        };
        let mut all = Vec::new();
        for entry in std::fs::read_dir(spec).map_err(read)? {
            let p = entry.map_err(read)?.path();
            if p.is_file() && extension(&p).is_some_and(|e| FRAME_EXTENSIONS.contains(&e.as_str()))
            {
                all.push(p);
            }
        }
        // The most common frame extension wins.
        let mut counts: Vec<(String, usize)> = Vec::new();
        for p in &all {
            let e = extension(p).unwrap_or_default();
            match counts.iter_mut().find(|(x, _)| *x == e) {
                Some(c) => c.1 += 1,
                None => counts.push((e, 1)),
            }
        }
        let best = counts.iter().max_by_key(|c| c.1).map(|c| c.0.clone());
        all.retain(|p| extension(p) == best);
        all
    } else {
        let paths = glob::glob(spec).map_err(|e| SequenceError::Pattern {
            pattern: spec.to_string(),
            message: e.to_string(),
        })?;
        let mut out = Vec::new();
        for p in paths {
            let p = p.map_err(|e| SequenceError::Read {
                path: e.path().to_path_buf(),
                message: e.error().to_string(),
            })?;
            if p.is_file() {
                out.push(p);
            }
        }
        out
    };
    if files.is_empty() {
        return Err(SequenceError::Empty(spec.to_string()));
    }
    natural_sort(&mut files);
    Ok(files)
}

fn extension(p: &Path) -> Option<String> {
    p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase)
}

/// Sorts paths in natural order: runs of digits compare as numbers (`frame2` before
/// `frame10`).
pub fn natural_sort(paths: &mut [PathBuf]) {
    paths.sort_by(|a, b| natord::compare(&a.to_string_lossy(), &b.to_string_lossy()));
}

/// Frame times from a timestamps file: one time in seconds per line, or a CSV whose header
/// has a `time` column (comma, semicolon or tab separated). Blank lines and `#` comments are
/// skipped. The times must be finite and strictly increasing.
pub fn read_times(path: &Path) -> Result<Vec<f64>, SequenceError> {
    Ok(read_table(path)?.0)
}

/// A timestamps file with its other columns: the times (as [`read_times`]) and each other
/// numeric column of a CSV as a named series, one value per time (an empty or non-numeric
/// cell: NaN, a gap in the plot).
pub fn read_table(path: &Path) -> Result<(Vec<f64>, Vec<crate::Plot>), SequenceError> {
    let err = |message: String| SequenceError::Read { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    let split = |l: &str| -> Vec<String> {
        l.split([',', ';', '\t']).map(|c| c.trim().trim_matches('"').to_string()).collect()
    };
    // A header: the first line names columns (not a number).
    let mut column = None;
    let mut names = Vec::new();
    if let Some((_, first)) = lines.peek() {
        let cells = split(first);
        if cells.first().is_some_and(|c| c.parse::<f64>().is_err()) {
            let at = cells
                .iter()
                .position(|c| c.eq_ignore_ascii_case("time"))
                .ok_or_else(|| err(format!("the header {cells:?} has no 'time' column")))?;
            column = Some(at);
            names = cells;
            lines.next();
        }
    }
    let mut times = Vec::new();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for (n, l) in lines {
        let cells = split(l);
        let cell = match column {
            Some(c) => cells.get(c).cloned().ok_or_else(|| err(format!("line {n}: no time")))?,
            None => l.to_string(),
        };
        let t: f64 = cell.parse().map_err(|_| err(format!("line {n}: '{cell}' is not a time")))?;
        if !t.is_finite() || times.last().is_some_and(|&p| t <= p) {
            return Err(err(format!("line {n}: {t} (times must be finite and increasing)")));
        }
        times.push(t);
        for (k, col) in columns.iter_mut().enumerate() {
            col.push(cells.get(k).and_then(|c| c.parse::<f64>().ok()).unwrap_or(f64::NAN));
        }
    }
    if times.is_empty() {
        return Err(err("no times".into()));
    }
    let plots = names
        .into_iter()
        .zip(columns)
        .enumerate()
        .filter(|(k, (name, values))| {
            Some(*k) != column && !name.is_empty() && values.iter().any(|v| v.is_finite())
        })
        .map(|(_, (name, values))| crate::Plot { name, times: times.clone(), values })
        .collect();
    Ok((times, plots))
}

/// How [`open_with`] opens a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceOptions {
    /// Frames per second (when there is no timestamps file).
    pub fps: f64,
    /// A timestamps file (one time per frame; see [`read_table`]); its other columns become
    /// plots on the timeline.
    pub timestamps: Option<PathBuf>,
    /// The CPU cache's budget in bytes.
    pub budget: usize,
    /// Frames prefetched ahead of the playhead.
    pub ahead: usize,
}

impl Default for SequenceOptions {
    fn default() -> Self {
        Self { fps: 30.0, timestamps: None, budget: DEFAULT_BUDGET, ahead: 8 }
    }
}

/// The cache budget of a sequence opened by [`open`]: 1 GiB.
pub const DEFAULT_BUDGET: usize = 1 << 30;

/// Opens sequence `spec` (a glob or a folder, see [`expand`]) at `fps` frames per second
/// ([`open_with`] with the default options otherwise).
pub fn open(spec: &str, fps: f64) -> Result<crate::Scene, crate::LoadError> {
    open_with(spec, &SequenceOptions { fps, ..Default::default() })
}

/// How many frames [`open_with`] decodes at once to know the bounds of a sequence (evenly
/// spaced, the first and the last among them).
pub const BOUNDS_SAMPLES: usize = 9;

/// Opens sequence `spec` as one object whose data are streamed from the files
/// ([`crate::stream`]), by the first frame's kind: a point set (positions, and colours and
/// scalars when the frames have them) through [`crate::Property::PointFrame`]; a mesh (files
/// with triangles: OBJ, glTF, PLY with faces) through [`crate::Property::Triangles`]; an
/// image on a quad (image files, each of the first's size) through
/// [`crate::Property::Texels`]. A few frames are decoded now (the first, and
/// [`BOUNDS_SAMPLES`] spread over the sequence for its bounds), the others on loader threads
/// as the time moves. A timestamps file's other columns become plots.
pub fn open_with(spec: &str, options: &SequenceOptions) -> Result<crate::Scene, crate::LoadError> {
    use crate::stream::{FrameDecoder, FramePart, SceneDecoder, Stream, StreamSource};
    use std::sync::Arc;
    let invalid = |path: &Path, message: String| crate::LoadError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let files = expand(spec).map_err(|e| invalid(Path::new(spec), e.to_string()))?;
    let name = Path::new(spec.trim_end_matches(['/', '\\']))
        .file_name()
        .map_or_else(|| spec.to_string(), |n| n.to_string_lossy().into_owned());
    let (times, mut plots) = match &options.timestamps {
        Some(path) => {
            let (times, plots) = read_table(path).map_err(|e| invalid(path, e.to_string()))?;
            if times.len() != files.len() {
                return Err(invalid(
                    path,
                    format!("{} times for the {} frames of {spec}", times.len(), files.len()),
                ));
            }
            (times, plots)
        }
        None => {
            let fps = options.fps;
            if !(fps.is_finite() && fps > 0.0) {
                return Err(invalid(Path::new(spec), format!("frame rate {fps}")));
            }
            ((0..files.len()).map(|k| k as f64 / fps).collect(), Vec::new())
        }
    };
    for p in &mut plots {
        p.name = format!("{name}: {}", p.name);
    }
    let decoder: Arc<dyn FrameDecoder> = Arc::new(SceneDecoder);
    let first = decoder.decode(&files[0]).map_err(|e| invalid(&files[0], e))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let n = files.len();
    let stream = Arc::new(Stream::new(files, times, decoder, options.budget, threads));
    // The bounds of the whole sequence (for the default camera), from frames spread over it.
    let samples: Vec<usize> =
        (0..BOUNDS_SAMPLES.min(n))
            .map(|k| {
                if BOUNDS_SAMPLES.min(n) > 1 {
                    k * (n - 1) / (BOUNDS_SAMPLES.min(n) - 1)
                } else {
                    0
                }
            })
            .collect();
    stream.load_now(&samples, std::time::Duration::from_secs(30));
    let (mut scene, property, part) = if let Some(image) = &first.image {
        // Images: a quad with the first image, its texels from each frame's file.
        let mut scene = crate::Scene::default();
        let aspect = image.width as f32 / image.height.max(1) as f32;
        scene.add_image_quad(
            crate::Texture { name: name.clone(), ..image.clone() },
            glam::Mat4::from_scale(glam::Vec3::new(aspect, 1.0, 1.0)),
        );
        scene.update_world();
        (scene, crate::Property::Texels(0), FramePart::Texels)
    } else if !first.indices.is_empty() {
        // Meshes: one primitive whose triangles are each frame's.
        let mut scene = crate::Scene::default();
        scene.materials.push(crate::Material::lambert(&name, [0.8, 0.8, 0.8]));
        let indices = first.indices.clone();
        let normals = crate::property::smooth_normals(&first.positions, &indices);
        let prim = crate::Primitive {
            positions: first.positions.clone(),
            normals,
            indices,
            colors: first.colors.iter().map(|&c| crate::srgba8_to_linear(c)).collect(),
            material: 0,
            ..Default::default()
        };
        scene.meshes.push(crate::Mesh { name: name.clone(), primitives: vec![prim] });
        scene.nodes.push(crate::Node::new(&name, glam::Mat4::IDENTITY).with_mesh(0));
        scene.update_world();
        (scene, crate::Property::Triangles { mesh: 0, primitive: 0 }, FramePart::Triangles)
    } else {
        let mut points = crate::PointSet::new(&name, first.positions.clone());
        points.colors = first.colors.clone();
        points.scalars = first.scalars.clone();
        if !first.scalars.is_empty() {
            points.colormap = Some(crate::colormap::Colormap::fit(
                crate::colormap::ColormapKind::Viridis,
                &first.scalars,
            ));
        }
        let mut scene = crate::Scene::default();
        scene.point_sets.push(points);
        (scene, crate::Property::PointFrame(0), FramePart::Whole)
    };
    let source = StreamSource::new(Arc::clone(&stream), part, options.ahead);
    scene
        .properties
        .push(crate::PropertyTrack { property, samples: crate::Samples::Source(Arc::new(source)) });
    if part == FramePart::Triangles {
        // Each frame's vertex colours (none: none), set after its triangles.
        let colors = StreamSource::new(Arc::clone(&stream), FramePart::VertexColors, 0);
        scene.properties.push(crate::PropertyTrack {
            property: crate::Property::VertexColors { mesh: 0, primitive: 0 },
            samples: crate::Samples::Source(Arc::new(colors)),
        });
    }
    scene.plots = plots;
    Ok(scene)
}
