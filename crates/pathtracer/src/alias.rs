//! Walker's alias method with Vose's construction: O(n) build, O(1) sampling of index i with
//! probability w_i / sum(w). Built in f64 so that weights spanning many orders of magnitude keep
//! their probabilities; the GPU gets f32 entries with each index's exact probability (for MIS).

/// Errors of [`AliasTable::new`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AliasError {
    /// No weights.
    #[error("an alias table needs at least one weight")]
    Empty,
    /// A weight is negative, NaN or infinite.
    #[error("weight {index} is {value}: weights must be finite and >= 0")]
    BadWeight {
        /// Which.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// Every weight is zero.
    #[error("all {0} weights are zero")]
    AllZero(usize),
    /// More entries than a u32 index can name.
    #[error("{0} weights: more than 2^32")]
    TooMany(usize),
}

/// One entry as the GPU reads it (16 bytes): pick entry `k` uniformly, keep `k` with
/// probability `keep`, else take `alias`; `pdf` is entry `k`'s own probability w_k / sum(w).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AliasEntry {
    /// Probability of keeping this entry when it is picked.
    pub keep: f32,
    /// The other entry of this column.
    pub alias: u32,
    /// This entry's selection probability.
    pub pdf: f32,
    /// Zero.
    pub pad: u32,
}

/// An alias table over `n` weights.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasTable {
    keep: Vec<f64>,
    alias: Vec<u32>,
    pdf: Vec<f64>,
    total: f64,
}

impl AliasTable {
    /// Builds the table (Vose): columns of height 1, each split between at most two entries.
    pub fn new(weights: &[f64]) -> Result<Self, AliasError> {
        let n = weights.len();
        if n == 0 {
            return Err(AliasError::Empty);
        }
        if u32::try_from(n).is_err() {
            return Err(AliasError::TooMany(n));
        }
        if let Some((index, &value)) =
            weights.iter().enumerate().find(|(_, w)| !(w.is_finite() && **w >= 0.0))
        {
            return Err(AliasError::BadWeight { index, value });
        }
        let total: f64 = weights.iter().sum();
        if total <= 0.0 || !total.is_finite() {
            return Err(AliasError::AllZero(n));
        }
        let pdf: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let mut scaled: Vec<f64> = pdf.iter().map(|p| p * n as f64).collect();
        let mut keep = vec![1.0f64; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            keep[s] = scaled[s];
            alias[s] = l as u32;
            // The large entry gives what the small one lacks.
            scaled[l] = (scaled[l] + scaled[s]) - 1.0;
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Left over (rounding): full columns of their own.
        for i in small.into_iter().chain(large) {
            keep[i] = 1.0;
            alias[i] = i as u32;
        }
        Ok(Self { keep, alias, pdf, total })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keep.len()
    }

    /// Whether there are no entries (never: construction needs one).
    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    /// Sum of the weights.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// Entry `i`'s probability w_i / sum(w).
    pub fn pdf(&self, i: usize) -> f64 {
        self.pdf.get(i).copied().unwrap_or(0.0)
    }

    /// The probability with which [`AliasTable::sample`] returns each index, computed from the
    /// table's columns (what the construction must make equal to w_i / sum(w)).
    pub fn table_probabilities(&self) -> Vec<f64> {
        let n = self.len() as f64;
        let mut p: Vec<f64> = self.keep.iter().map(|k| k / n).collect();
        for (k, &a) in self.keep.iter().zip(&self.alias) {
            p[a as usize] += (1.0 - k) / n;
        }
        p
    }

    /// The index for two uniform numbers in [0, 1): `u` picks a column, `v` one of its two
    /// entries (the GPU does the same with its entries).
    pub fn sample(&self, u: f64, v: f64) -> usize {
        let n = self.len();
        let k = ((u * n as f64) as usize).min(n - 1);
        if v < self.keep[k] {
            k
        } else {
            self.alias[k] as usize
        }
    }

    /// The entries for the GPU.
    pub fn gpu_entries(&self) -> Vec<AliasEntry> {
        (0..self.len())
            .map(|i| AliasEntry {
                keep: self.keep[i] as f32,
                alias: self.alias[i],
                pdf: self.pdf[i] as f32,
                pad: 0,
            })
            .collect()
    }
}

/// Importance of each pixel of an equirect environment (rows from the top, RGBA): luminance
/// times sin(polar angle), the solid angle of the pixel's row. Sampling a pixel with these
/// weights and a direction uniformly inside it has the density
/// `pdf_pixel * width * height / (2 pi^2 sin(theta))` per solid angle.
pub fn environment_weights(width: u32, height: u32, texels: &[[f32; 4]]) -> Vec<f64> {
    let mut w = Vec::with_capacity(texels.len());
    for (k, t) in texels.iter().enumerate() {
        let row = k as u32 / width.max(1);
        let theta = std::f64::consts::PI * (f64::from(row) + 0.5) / f64::from(height.max(1));
        let lum = 0.2126 * f64::from(t[0]) + 0.7152 * f64::from(t[1]) + 0.0722 * f64::from(t[2]);
        w.push(if lum.is_finite() && lum > 0.0 { lum * theta.sin() } else { 0.0 });
    }
    w
}
