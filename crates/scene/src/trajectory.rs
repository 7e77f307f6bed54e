//! Trajectories of poses from text files, as SLAM and odometry tools write them: the TUM RGB-D
//! format (`timestamp tx ty tz qx qy qz qw` per line, `#` comments) and KITTI odometry poses
//! (the 12 numbers of a 3 x 4 row-major matrix per line). Each opens as the path (a line
//! strip) and an axis triad at every pose (x red, y green, z blue; ten times the path's
//! median step long, kept between 1/200 and 1/10 of its extent).

use std::path::Path;

use glam::{Mat4, Quat, Vec3};

use crate::{LineSet, LoadError, Scene};

/// The most poses read from one file.
const MAX_POSES: usize = 1 << 22;

/// Which text format a trajectory file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrajectoryFormat {
    /// `timestamp tx ty tz qx qy qz qw` (TUM RGB-D).
    Tum,
    /// `r11 r12 r13 tx r21 r22 r23 ty r31 r32 r33 tz` (KITTI odometry).
    Kitti,
}

/// The poses (camera or body to world) of a TUM or KITTI file, and their times (TUM: the
/// timestamps; KITTI: none). The format is told by the number of values on the first data
/// line (8 or 12); every line must have as many.
pub fn read_trajectory(text: &str) -> Result<(TrajectoryFormat, Vec<Mat4>, Vec<f64>), String> {
    let mut format = None;
    let (mut poses, mut times) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let values: Vec<f64> = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .map(|t| t.parse::<f64>().map_err(|_| format!("line {}: '{t}' is not a number", i + 1)))
            .collect::<Result<_, _>>()?;
        let f = match (format, values.len()) {
            (None, 8) => *format.insert(TrajectoryFormat::Tum),
            (None, 12) => *format.insert(TrajectoryFormat::Kitti),
            (Some(f), n) if n == expected(f) => f,
            (f, n) => {
                return Err(format!(
                    "line {}: {n} values (expected {}: a TUM trajectory has 'timestamp tx ty \
                     tz qx qy qz qw', KITTI poses the 12 numbers of a 3 x 4 matrix)",
                    i + 1,
                    f.map_or("8 or 12".to_string(), |f| expected(f).to_string())
                ))
            }
        };
        // Finite as the f32 the poses hold (1e39 is not).
        if values.iter().any(|&v| !(v as f32).is_finite()) {
            return Err(format!("line {}: a value is not finite (as a 32-bit float)", i + 1));
        }
        if poses.len() == MAX_POSES {
            return Err(format!("more than {MAX_POSES} poses"));
        }
        let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        let pose = match f {
            TrajectoryFormat::Tum => {
                let q = Quat::from_xyzw(v[4], v[5], v[6], v[7]);
                if q.length().is_nan() || q.length() <= 1e-6 {
                    return Err(format!("line {}: the rotation quaternion is zero", i + 1));
                }
                times.push(values[0]);
                Mat4::from_rotation_translation(q.normalize(), Vec3::new(v[1], v[2], v[3]))
            }
            TrajectoryFormat::Kitti => Mat4::from_cols_array(&[
                v[0], v[4], v[8], 0.0, v[1], v[5], v[9], 0.0, v[2], v[6], v[10], 0.0, v[3], v[7],
                v[11], 1.0,
            ]),
        };
        poses.push(pose);
    }
    let format = format.ok_or("no poses (expected TUM or KITTI lines)")?;
    Ok((format, poses, times))
}

fn expected(f: TrajectoryFormat) -> usize {
    match f {
        TrajectoryFormat::Tum => 8,
        TrajectoryFormat::Kitti => 12,
    }
}

/// Loads a trajectory file ([`read_trajectory`]) as its path and axis triads.
pub fn load_trajectory(path: impl AsRef<Path>) -> Result<Scene, LoadError> {
    let path = path.as_ref();
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let (format, poses, _) = read_trajectory(&text).map_err(invalid)?;
    let name: String =
        path.file_stem().map_or_else(|| "trajectory".into(), |s| s.to_string_lossy().into());
    let centres: Vec<Vec3> = poses.iter().map(|m| m.w_axis.truncate()).collect();
    let (lo, hi) = centres
        .iter()
        .fold((Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)), |(lo, hi), &c| {
            (lo.min(c), hi.max(c))
        });
    let extent = (hi - lo).length();
    let mut steps: Vec<f32> = centres.windows(2).map(|w| (w[1] - w[0]).length()).collect();
    steps.sort_by(f32::total_cmp);
    let median = steps.get(steps.len() / 2).copied().unwrap_or(0.0);
    let length = (10.0 * median).max(extent / 200.0).min(extent / 10.0);
    let length = if length > 0.0 && length.is_finite() { length } else { 0.1 };
    let (positions, colors) = crate::shapes::axes_segments(&poses, length);
    let mut s = Scene::default();
    s.line_sets.push(LineSet {
        name: format!("{name}/path"),
        transform: Mat4::IDENTITY,
        positions: centres.iter().map(|c| c.to_array()).collect(),
        colors: Vec::new(),
        strip: true,
        width_px: 2.0,
        visible: true,
        node: None,
    });
    s.line_sets.push(LineSet {
        name: format!("{name}/poses"),
        transform: Mat4::IDENTITY,
        positions,
        colors,
        strip: false,
        width_px: 2.0,
        visible: true,
        node: None,
    });
    tracing::info!("{}: {} poses ({format:?})", path.display(), poses.len());
    Ok(s)
}
