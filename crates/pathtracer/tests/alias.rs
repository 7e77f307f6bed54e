//! The alias table: exact probabilities (f64 build) for awkward weight vectors, and sampling
//! frequencies that pass a chi-square test.

use pathtracer::{environment_weights, AliasError, AliasTable};

/// PCG32 (O'Neill), enough for tests.
struct Pcg(u64);

impl Pcg {
    fn next_u32(&mut self) -> u32 {
        let old = self.0;
        self.0 = old.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let x = (((old >> 18) ^ old) >> 27) as u32;
        x.rotate_right((old >> 59) as u32)
    }
    fn uniform(&mut self) -> f64 {
        f64::from(self.next_u32()) / 4294967296.0
    }
}

/// Weight vectors: random, with zeros, spanning 10 orders of magnitude, a single one, one
/// dominant entry.
fn weight_vectors() -> Vec<Vec<f64>> {
    let mut rng = Pcg(0x853c49e6748fea9b);
    let mut out = Vec::new();
    for n in [1usize, 2, 7, 100, 1000, 4096] {
        out.push((0..n).map(|_| rng.uniform()).collect());
        out.push(
            (0..n)
                .map(|i| if i % 3 == 0 { 0.0 } else { 10f64.powf(rng.uniform() * 10.0 - 5.0) })
                .collect(),
        );
    }
    out.push(vec![1e-10, 1.0, 0.0, 1e-10, 3e-6]);
    out.push((0..500).map(|i| if i == 250 { 1e9 } else { 1e-1 }).collect());
    out
}

#[test]
fn probabilities_equal_the_normalized_weights() {
    for w in weight_vectors() {
        if w.iter().all(|&x| x == 0.0) {
            assert_eq!(AliasTable::new(&w), Err(AliasError::AllZero(w.len())));
            continue;
        }
        let t = AliasTable::new(&w).expect("table");
        let total: f64 = w.iter().sum();
        let p = t.table_probabilities();
        for (i, (&wi, &pi)) in w.iter().zip(&p).enumerate() {
            let want = wi / total;
            if wi == 0.0 {
                assert_eq!(pi, 0.0, "zero weight {i} must never be drawn");
            } else {
                assert!(
                    ((pi - want) / want).abs() < 1e-6,
                    "entry {i} of {}: table {pi:e}, weights {want:e}",
                    w.len()
                );
            }
            assert!((t.pdf(i) - want).abs() <= 1e-15 * want.max(1e-300), "pdf of {i}");
        }
        // The GPU entries carry the same numbers in f32.
        for (i, e) in t.gpu_entries().iter().enumerate() {
            assert!((0.0..=1.0).contains(&e.keep) && (e.alias as usize) < w.len());
            assert!((f64::from(e.pdf) - t.pdf(i)).abs() <= 1e-7 * t.pdf(i) + 1e-45);
        }
    }
}

/// Chi-square statistic of `counts` against `expected` (bins with an expected count under 5
/// merged), and its degrees of freedom.
fn chi_square(counts: &[u64], expected: &[f64]) -> (f64, usize) {
    let (mut stat, mut bins) = (0.0, 0usize);
    let (mut pooled_obs, mut pooled_exp) = (0.0, 0.0);
    for (&c, &e) in counts.iter().zip(expected) {
        if e < 5.0 {
            pooled_obs += c as f64;
            pooled_exp += e;
        } else {
            stat += (c as f64 - e).powi(2) / e;
            bins += 1;
        }
    }
    if pooled_exp > 0.0 {
        stat += (pooled_obs - pooled_exp).powi(2) / pooled_exp.max(1e-300);
        bins += 1;
    }
    (stat, bins.saturating_sub(1))
}

/// Critical value of chi-square with `dof` degrees of freedom at p = 0.001 (Wilson-Hilferty).
fn critical(dof: usize) -> f64 {
    let k = dof.max(1) as f64;
    let z = 3.0902; // the standard normal's 0.999 quantile
    k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}

#[test]
fn sampling_frequencies_pass_a_chi_square_test() {
    let mut rng = Pcg(42);
    let samples = 1_000_000u64;
    for w in weight_vectors().into_iter().filter(|w| w.len() > 1 && w.iter().any(|&x| x > 0.0)) {
        let t = AliasTable::new(&w).expect("table");
        let mut counts = vec![0u64; w.len()];
        for _ in 0..samples {
            counts[t.sample(rng.uniform(), rng.uniform())] += 1;
        }
        let total: f64 = w.iter().sum();
        let expected: Vec<f64> = w.iter().map(|x| x / total * samples as f64).collect();
        let (stat, dof) = chi_square(&counts, &expected);
        assert!(
            stat < critical(dof),
            "{} weights: chi2 {stat:.1} > {:.1} ({dof} dof)",
            w.len(),
            critical(dof)
        );
        // The test can fail: uniform sampling of the same weights does.
        if w.len() >= 100 {
            let mut uniform = vec![0u64; w.len()];
            for _ in 0..samples {
                uniform[((rng.uniform() * w.len() as f64) as usize).min(w.len() - 1)] += 1;
            }
            let (bad, dof) = chi_square(&uniform, &expected);
            assert!(bad > critical(dof), "uniform sampling passed: {bad}");
        }
    }
}

#[test]
fn bad_weights_are_errors() {
    assert_eq!(AliasTable::new(&[]), Err(AliasError::Empty));
    assert_eq!(AliasTable::new(&[0.0, 0.0]), Err(AliasError::AllZero(2)));
    assert!(matches!(
        AliasTable::new(&[1.0, f64::NAN]),
        Err(AliasError::BadWeight { index: 1, .. })
    ));
    assert!(matches!(AliasTable::new(&[-1.0]), Err(AliasError::BadWeight { index: 0, .. })));
    assert!(matches!(AliasTable::new(&[1.0, f64::INFINITY]), Err(AliasError::BadWeight { .. })));
}

/// Environment weights: luminance x sin(theta) per pixel (rows from the top), zero for black
/// or broken texels.
#[test]
fn environment_weights_follow_luminance_and_solid_angle() {
    let (w, h) = (4u32, 2u32);
    let mut texels = vec![[1.0f32, 1.0, 1.0, 1.0]; 8];
    texels[1] = [0.0, 0.0, 0.0, 1.0];
    texels[2] = [f32::NAN, 0.0, 0.0, 1.0];
    texels[5] = [2.0, 0.0, 0.0, 1.0];
    let weights = environment_weights(w, h, &texels);
    let s = (std::f64::consts::PI / 4.0).sin(); // both rows' centres: theta = pi/4, 3pi/4
    assert!((weights[0] - s).abs() < 1e-12);
    assert_eq!((weights[1], weights[2]), (0.0, 0.0));
    assert!((weights[5] - 2.0 * 0.2126 * s).abs() < 1e-7);
    assert!(AliasTable::new(&weights).is_ok());
}
