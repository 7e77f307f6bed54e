//! Time in the scene (issue 22, its first part): values that vary with the scene time. A
//! [`Track`] holds samples at a fixed rate or at explicit timestamps and maps a time to a value:
//! step, linear (rotations by slerp) or glTF's cubic spline between samples; outside its range
//! it holds, repeats, mirrors or disappears; a missing sample (a hole) holds the last one or
//! hides the object.

use glam::{Quat, Vec3};

/// How values between two samples are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interpolation {
    /// The earlier sample's value until the next sample.
    Step,
    /// Linear (rotations: spherical linear).
    #[default]
    Linear,
    /// glTF's cubic Hermite spline with per-sample in and out tangents.
    CubicSpline,
}

/// What a track gives outside the time span of its samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndMode {
    /// The first sample before, the last one after.
    #[default]
    Hold,
    /// The span again and again.
    Repeat,
    /// The span forwards, then backwards, and so on.
    Mirror,
    /// Nothing: the object is hidden.
    Disappear,
}

/// What a missing sample means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Holes {
    /// The last sample before it (or, at the start, the first one after).
    #[default]
    HoldLast,
    /// The object is hidden while a missing sample is involved.
    Hide,
}

/// When the samples are.
#[derive(Debug, Clone, PartialEq)]
pub enum Timing {
    /// Sample k at `start + k / fps` seconds.
    Rate {
        /// Samples per second (> 0).
        fps: f64,
        /// Time of the first sample.
        start: f64,
    },
    /// Sample k at `times[k]` seconds (strictly increasing).
    Times(Vec<f64>),
}

impl Timing {
    fn time(&self, k: usize) -> f64 {
        match self {
            Timing::Rate { fps, start } => start + k as f64 / fps,
            Timing::Times(t) => t[k],
        }
    }

    /// The sample at or before `t` (the first one when `t` is earlier), for `n` samples.
    fn index_before(&self, t: f64, n: usize) -> usize {
        let k = match self {
            Timing::Rate { fps, start } => ((t - start) * fps).floor().max(0.0) as usize,
            Timing::Times(times) => times.partition_point(|&x| x <= t).saturating_sub(1),
        };
        k.min(n - 1)
    }
}

/// A value that can be interpolated.
pub trait Animatable: Clone {
    /// Linear interpolation (rotations: slerp), `s` in [0, 1].
    fn lerp(a: &Self, b: &Self, s: f32) -> Self;
    /// `a * wa + b * wb + c * wc + d * wd` (the cubic spline's basis; rotations normalized).
    fn combine(terms: [(&Self, f32); 4]) -> Self;
}

impl Animatable for f32 {
    fn lerp(a: &Self, b: &Self, s: f32) -> Self {
        a + (b - a) * s
    }
    fn combine(terms: [(&Self, f32); 4]) -> Self {
        terms.iter().map(|(v, w)| **v * w).sum()
    }
}

impl Animatable for Vec3 {
    fn lerp(a: &Self, b: &Self, s: f32) -> Self {
        a.lerp(*b, s)
    }
    fn combine(terms: [(&Self, f32); 4]) -> Self {
        terms.iter().map(|(v, w)| **v * *w).sum()
    }
}

impl Animatable for Quat {
    fn lerp(a: &Self, b: &Self, s: f32) -> Self {
        a.slerp(*b, s)
    }
    fn combine(terms: [(&Self, f32); 4]) -> Self {
        let v: glam::Vec4 = terms.iter().map(|(q, w)| glam::Vec4::from(**q) * *w).sum();
        Quat::from_vec4(v).normalize()
    }
}

impl Animatable for Vec<f32> {
    fn lerp(a: &Self, b: &Self, s: f32) -> Self {
        a.iter().zip(b).map(|(x, y)| x + (y - x) * s).collect()
    }
    fn combine(terms: [(&Self, f32); 4]) -> Self {
        let n = terms.iter().map(|(v, _)| v.len()).min().unwrap_or(0);
        (0..n).map(|i| terms.iter().map(|(v, w)| v[i] * w).sum()).collect()
    }
}

/// Errors of a track's construction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackError {
    /// No samples.
    #[error("a track needs at least one sample")]
    Empty,
    /// Timestamps that are not finite or not strictly increasing, or a rate that is not
    /// positive.
    #[error("sample times must be finite and strictly increasing (a rate positive): {0}")]
    Timing(String),
    /// A count that does not match.
    #[error("{0}")]
    Count(String),
}

/// Samples of a value over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Track<T> {
    timing: Timing,
    /// One per sample; None: a hole.
    values: Vec<Option<T>>,
    /// With [`Interpolation::CubicSpline`]: (in, out) tangents per sample.
    tangents: Vec<(T, T)>,
    /// Between samples.
    pub interpolation: Interpolation,
    /// Outside the span.
    pub end: EndMode,
    /// Missing samples.
    pub holes: Holes,
}

impl<T: Animatable> Track<T> {
    /// A track of `values` at `timing` (checked), linear, holding at its ends and over holes.
    pub fn new(timing: Timing, values: Vec<Option<T>>) -> Result<Self, TrackError> {
        if values.is_empty() {
            return Err(TrackError::Empty);
        }
        match &timing {
            Timing::Rate { fps, start } => {
                if !(fps.is_finite() && *fps > 0.0 && start.is_finite()) {
                    return Err(TrackError::Timing(format!("rate {fps} from {start}")));
                }
            }
            Timing::Times(t) => {
                if t.len() != values.len() {
                    return Err(TrackError::Count(format!(
                        "{} times for {} samples",
                        t.len(),
                        values.len()
                    )));
                }
                let increasing =
                    |w: &&[f64]| w[0].partial_cmp(&w[1]) == Some(std::cmp::Ordering::Less);
                if let Some(w) = t.windows(2).find(|w| !increasing(w)) {
                    return Err(TrackError::Timing(format!("{} then {}", w[0], w[1])));
                }
                if t.iter().any(|x| !x.is_finite()) {
                    return Err(TrackError::Timing("a time is not finite".into()));
                }
            }
        }
        Ok(Self {
            timing,
            values,
            tangents: Vec::new(),
            interpolation: Interpolation::Linear,
            end: EndMode::Hold,
            holes: Holes::HoldLast,
        })
    }

    /// The same track as a cubic spline with these (in, out) tangents per sample (glTF's
    /// CUBICSPLINE: tangents per second of the span).
    pub fn with_tangents(mut self, tangents: Vec<(T, T)>) -> Result<Self, TrackError> {
        if tangents.len() != self.values.len() {
            return Err(TrackError::Count(format!(
                "{} tangent pairs for {} samples",
                tangents.len(),
                self.values.len()
            )));
        }
        self.tangents = tangents;
        self.interpolation = Interpolation::CubicSpline;
        Ok(self)
    }

    /// The time span of the samples.
    pub fn span(&self) -> (f64, f64) {
        (self.timing.time(0), self.timing.time(self.values.len() - 1))
    }

    /// Puts `value` at time `t` (finite): it replaces a sample at that time, else it is
    /// inserted in time order (a track at a rate becomes one at times). Spline tangents are
    /// dropped: the track becomes linear.
    pub fn insert(&mut self, t: f64, value: T) -> Result<(), TrackError> {
        if !t.is_finite() {
            return Err(TrackError::Timing(format!("time {t}")));
        }
        let n = self.values.len();
        let mut times: Vec<f64> = (0..n).map(|k| self.timing.time(k)).collect();
        let k = times.partition_point(|x| *x < t);
        if times.get(k) == Some(&t) {
            self.values[k] = Some(value);
        } else {
            times.insert(k, t);
            self.values.insert(k, Some(value));
        }
        self.timing = Timing::Times(times);
        if self.interpolation == Interpolation::CubicSpline {
            self.tangents.clear();
            self.interpolation = Interpolation::Linear;
        }
        Ok(())
    }

    /// When the samples are.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the track has no samples (never: [`Track::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The time of sample `k`.
    pub fn sample_time(&self, k: usize) -> Option<f64> {
        (k < self.values.len()).then(|| self.timing.time(k))
    }

    /// The value at scene time `t`; None: hidden (outside the span with
    /// [`EndMode::Disappear`], or a hole with [`Holes::Hide`]).
    pub fn sample(&self, t: f64) -> Option<T> {
        let t = self.local_time(t)?;
        let n = self.values.len();
        let k = self.timing.index_before(t, n);
        let t0 = self.timing.time(k);
        if k + 1 >= n || t <= t0 {
            return self.value(k);
        }
        let t1 = self.timing.time(k + 1);
        let s = ((t - t0) / (t1 - t0)).clamp(0.0, 1.0) as f32;
        let (a, b) = match (&self.values[k], &self.values[k + 1]) {
            (Some(a), Some(b)) => (a, b),
            // A hole at either end of the segment: its rule.
            _ => return if s < 1.0 { self.value(k) } else { self.value(k + 1) },
        };
        Some(match self.interpolation {
            Interpolation::Step => a.clone(),
            Interpolation::Linear => T::lerp(a, b, s),
            Interpolation::CubicSpline => {
                let d = (t1 - t0) as f32;
                let (s2, s3) = (s * s, s * s * s);
                let out_a = &self.tangents[k].1;
                let in_b = &self.tangents[k + 1].0;
                T::combine([
                    (a, 2.0 * s3 - 3.0 * s2 + 1.0),
                    (out_a, d * (s3 - 2.0 * s2 + s)),
                    (b, -2.0 * s3 + 3.0 * s2),
                    (in_b, d * (s3 - s2)),
                ])
            }
        })
    }

    /// Sample `k`'s value by the hole rule.
    fn value(&self, k: usize) -> Option<T> {
        if let Some(v) = &self.values[k] {
            return Some(v.clone());
        }
        match self.holes {
            Holes::Hide => None,
            Holes::HoldLast => {
                self.values[..k].iter().rev().chain(&self.values[k + 1..]).find_map(|v| v.clone())
            }
        }
    }

    /// Scene time to the track's own time by the end mode (None: hidden).
    fn local_time(&self, t: f64) -> Option<f64> {
        let (t0, t1) = self.span();
        if !t.is_finite() {
            return None;
        }
        if (t0..=t1).contains(&t) || t1 <= t0 {
            return Some(t.clamp(t0, t1));
        }
        let len = t1 - t0;
        Some(match self.end {
            EndMode::Hold => t.clamp(t0, t1),
            EndMode::Disappear => return None,
            EndMode::Repeat => t0 + (t - t0).rem_euclid(len),
            EndMode::Mirror => {
                let u = (t - t0).rem_euclid(2.0 * len);
                t0 + if u <= len { u } else { 2.0 * len - u }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(values: &[f32]) -> Track<f32> {
        Track::new(
            Timing::Times(vec![0.0, 1.0, 3.0][..values.len()].to_vec()),
            values.iter().map(|&v| Some(v)).collect(),
        )
        .expect("track")
    }

    #[test]
    fn step_and_linear_at_variable_rate() {
        let mut t = track(&[0.0, 10.0, 30.0]);
        assert_eq!(t.sample(0.5), Some(5.0));
        assert_eq!(t.sample(2.0), Some(20.0), "halfway between 1 s and 3 s");
        assert_eq!(t.sample(1.0), Some(10.0));
        t.interpolation = Interpolation::Step;
        assert_eq!(t.sample(0.99), Some(0.0));
        assert_eq!(t.sample(2.9), Some(10.0));
        assert_eq!(t.sample(3.0), Some(30.0));
        // A fixed rate: 4 samples per second from 1 s.
        let r = Track::new(
            Timing::Rate { fps: 4.0, start: 1.0 },
            vec![Some(0.0f32), Some(1.0), Some(3.0)],
        )
        .expect("rate");
        assert_eq!(r.span(), (1.0, 1.5));
        assert_eq!(r.sample(1.375), Some(2.0));
        assert_eq!(r.sample_time(2), Some(1.5));
    }

    #[test]
    fn end_modes() {
        let mut t = track(&[0.0, 10.0, 30.0]);
        assert_eq!((t.sample(-1.0), t.sample(5.0)), (Some(0.0), Some(30.0)), "hold");
        t.end = EndMode::Repeat;
        assert_eq!(t.sample(3.5), Some(5.0), "3.5 s is 0.5 s into the second pass");
        assert_eq!(t.sample(-2.5), Some(5.0));
        t.end = EndMode::Mirror;
        assert_eq!(t.sample(4.0), Some(20.0), "1 s back from the end: 2 s");
        assert_eq!(t.sample(5.5), Some(5.0), "2.5 s back from the end: 0.5 s");
        t.end = EndMode::Disappear;
        assert_eq!((t.sample(-0.1), t.sample(3.1), t.sample(3.0)), (None, None, Some(30.0)));
    }

    #[test]
    fn holes_hold_or_hide() {
        let mut t =
            Track::new(Timing::Rate { fps: 1.0, start: 0.0 }, vec![Some(1.0f32), None, Some(3.0)])
                .expect("track");
        assert_eq!(t.sample(1.0), Some(1.0), "the hole holds the last sample");
        assert_eq!(t.sample(0.5), Some(1.0));
        assert_eq!(t.sample(1.5), Some(1.0));
        assert_eq!(t.sample(2.0), Some(3.0));
        t.holes = Holes::Hide;
        assert_eq!((t.sample(0.5), t.sample(1.0), t.sample(1.5)), (Some(1.0), None, None));
        let first = Track::new(Timing::Rate { fps: 1.0, start: 0.0 }, vec![None, Some(2.0f32)])
            .expect("track");
        assert_eq!(first.sample(0.0), Some(2.0), "a leading hole takes the first sample after");
    }

    #[test]
    fn slerp_and_cubic_spline() {
        let q = Track::new(
            Timing::Times(vec![0.0, 2.0]),
            vec![Some(Quat::IDENTITY), Some(Quat::from_rotation_y(std::f32::consts::FRAC_PI_2))],
        )
        .expect("rotation");
        let half = q.sample(1.0).expect("value");
        assert!(half.angle_between(Quat::from_rotation_y(std::f32::consts::FRAC_PI_4)) < 1e-6);
        // glTF's cubic spline: value 0 with out tangent 1 at 0 s, value 1 with in tangent 1 at
        // 1 s: the straight line v = t.
        let c = Track::new(Timing::Times(vec![0.0, 1.0]), vec![Some(0.0f32), Some(1.0)])
            .and_then(|t| t.with_tangents(vec![(0.0, 1.0), (1.0, 0.0)]))
            .expect("spline");
        for t in [0.25f32, 0.5, 0.75] {
            let v = c.sample(f64::from(t)).expect("value");
            assert!((v - t).abs() < 1e-6, "{t}: {v}");
        }
        // Zero tangents: the smoothstep 3s^2 - 2s^3.
        let z = Track::new(Timing::Times(vec![0.0, 2.0]), vec![Some(0.0f32), Some(1.0)])
            .and_then(|t| t.with_tangents(vec![(0.0, 0.0), (0.0, 0.0)]))
            .expect("spline");
        assert!((z.sample(0.5).expect("value") - 0.15625).abs() < 1e-6);
    }

    #[test]
    fn bad_tracks_are_errors() {
        assert_eq!(Track::<f32>::new(Timing::Times(vec![]), vec![]), Err(TrackError::Empty));
        let e = Track::new(Timing::Times(vec![0.0, 0.0]), vec![Some(1.0f32), Some(2.0)]);
        assert!(matches!(e, Err(TrackError::Timing(_))));
        let e = Track::new(Timing::Rate { fps: 0.0, start: 0.0 }, vec![Some(1.0f32)]);
        assert!(matches!(e, Err(TrackError::Timing(_))));
        let e = Track::new(Timing::Times(vec![0.0]), vec![Some(1.0f32), Some(2.0)]);
        assert!(matches!(e, Err(TrackError::Count(_))));
        let t =
            Track::new(Timing::Times(vec![0.0, 1.0]), vec![Some(1.0f32), Some(2.0)]).expect("ok");
        assert!(matches!(t.with_tangents(vec![(0.0, 0.0)]), Err(TrackError::Count(_))));
        let one = Track::new(Timing::Times(vec![5.0]), vec![Some(7.0f32)]).expect("one sample");
        assert_eq!(
            (one.sample(0.0), one.sample(9.0), one.sample(f64::NAN)),
            (Some(7.0), Some(7.0), None)
        );
    }
}
