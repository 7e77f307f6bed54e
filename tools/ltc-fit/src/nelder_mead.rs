//! Downhill simplex (Nelder–Mead) minimiser with the Numerical Recipes termination test
//! (relative spread of the function values), as used by the reference fitting code.

pub struct NmResult {
    pub x: Vec<f64>,
    pub f: f64,
    pub evals: usize,
}

/// Minimises `f` starting at `start`; the initial simplex steps `delta[i]` along axis i.
pub fn minimize(
    start: &[f64],
    delta: &[f64],
    tol: f64,
    max_iters: usize,
    mut f: impl FnMut(&[f64]) -> f64,
) -> NmResult {
    let dim = start.len();
    let mut evals = 0usize;
    let mut eval = |x: &[f64], evals: &mut usize| {
        *evals += 1;
        let v = f(x);
        if v.is_nan() {
            f64::INFINITY
        } else {
            v
        }
    };
    let mut s: Vec<Vec<f64>> = (0..=dim)
        .map(|i| {
            let mut p = start.to_vec();
            if i > 0 {
                p[i - 1] += delta[i - 1];
            }
            p
        })
        .collect();
    let mut fv: Vec<f64> = s.iter().map(|p| eval(p, &mut evals)).collect();

    for _ in 0..max_iters {
        // order: best first
        let mut idx: Vec<usize> = (0..=dim).collect();
        idx.sort_by(|&a, &b| fv[a].partial_cmp(&fv[b]).unwrap());
        s = idx.iter().map(|&i| s[i].clone()).collect();
        fv = idx.iter().map(|&i| fv[i]).collect();
        let (lo, hi, nh) = (0, dim, dim.saturating_sub(1));

        let (a, b) = (fv[lo].abs(), fv[hi].abs());
        if 2.0 * (a - b).abs() <= (a + b) * tol + 1e-300 {
            break;
        }

        // centroid of all but the worst
        let mut o = vec![0.0; dim];
        for p in &s[..dim] {
            for i in 0..dim {
                o[i] += p[i] / dim as f64;
            }
        }
        let along =
            |t: f64| -> Vec<f64> { (0..dim).map(|i| o[i] + t * (o[i] - s[hi][i])).collect() };

        let r = along(1.0);
        let fr = eval(&r, &mut evals);
        if fr < fv[lo] {
            let e = along(2.0);
            let fe = eval(&e, &mut evals);
            if fe < fr {
                s[hi] = e;
                fv[hi] = fe;
            } else {
                s[hi] = r;
                fv[hi] = fr;
            }
            continue;
        }
        if fr < fv[nh] {
            s[hi] = r;
            fv[hi] = fr;
            continue;
        }
        // contraction: outside if the reflected point beats the worst, else inside
        let (c, fc) = if fr < fv[hi] {
            let c = along(0.5);
            let fc = eval(&c, &mut evals);
            (c, fc)
        } else {
            let c = along(-0.5);
            let fc = eval(&c, &mut evals);
            (c, fc)
        };
        if fc < fv[hi].min(fr) {
            s[hi] = c;
            fv[hi] = fc;
            continue;
        }
        // shrink towards the best
        for k in 1..=dim {
            for i in 0..dim {
                s[k][i] = s[0][i] + 0.5 * (s[k][i] - s[0][i]);
            }
            fv[k] = eval(&s[k], &mut evals);
        }
    }
    let best = (0..=dim).min_by(|&a, &b| fv[a].partial_cmp(&fv[b]).unwrap()).unwrap();
    NmResult { x: s[best].clone(), f: fv[best], evals }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rosenbrock() {
        let r = super::minimize(&[-1.2, 1.0], &[0.1, 0.1], 1e-14, 5000, |x| {
            (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2)
        });
        assert!((r.x[0] - 1.0).abs() < 1e-3 && (r.x[1] - 1.0).abs() < 1e-3, "{:?}", r.x);
    }
}
