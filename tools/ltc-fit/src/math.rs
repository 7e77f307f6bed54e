//! Minimal f64 vector / 3x3 matrix helpers (row-major, `r[row][col]`).

use std::ops::{Add, Mul, Neg, Sub};

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct V3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

pub const fn v3(x: f64, y: f64, z: f64) -> V3 {
    V3 { x, y, z }
}

impl V3 {
    pub fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    pub fn cross(self, o: V3) -> V3 {
        v3(self.y * o.z - self.z * o.y, self.z * o.x - self.x * o.z, self.x * o.y - self.y * o.x)
    }
    pub fn len(self) -> f64 {
        self.dot(self).sqrt()
    }
    pub fn normalize(self) -> V3 {
        self * (1.0 / self.len())
    }
}

impl Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}
impl Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}
impl Mul<f64> for V3 {
    type Output = V3;
    fn mul(self, s: f64) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}
impl Neg for V3 {
    type Output = V3;
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

/// 3x3 matrix, row-major: `r[row][col]`, acting on column vectors (`M * v`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct M3 {
    pub r: [[f64; 3]; 3],
}

impl M3 {
    pub fn identity() -> M3 {
        M3 { r: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] }
    }
    pub fn from_cols(a: V3, b: V3, c: V3) -> M3 {
        M3 { r: [[a.x, b.x, c.x], [a.y, b.y, c.y], [a.z, b.z, c.z]] }
    }
    pub fn mul_v(&self, v: V3) -> V3 {
        let r = &self.r;
        v3(
            r[0][0] * v.x + r[0][1] * v.y + r[0][2] * v.z,
            r[1][0] * v.x + r[1][1] * v.y + r[1][2] * v.z,
            r[2][0] * v.x + r[2][1] * v.y + r[2][2] * v.z,
        )
    }
    pub fn mul_m(&self, o: &M3) -> M3 {
        let mut out = [[0.0; 3]; 3];
        for (i, row) in out.iter_mut().enumerate() {
            for (j, e) in row.iter_mut().enumerate() {
                *e = (0..3).map(|k| self.r[i][k] * o.r[k][j]).sum();
            }
        }
        M3 { r: out }
    }
    pub fn det(&self) -> f64 {
        let r = &self.r;
        r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
            - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
            + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0])
    }
    pub fn inverse(&self) -> M3 {
        let r = &self.r;
        let d = self.det();
        let c = |a: usize, b: usize, c: usize, e: usize| r[a][b] * r[c][e] - r[a][e] * r[c][b];
        let inv = [
            [c(1, 1, 2, 2), -c(0, 1, 2, 2), c(0, 1, 1, 2)],
            [-c(1, 0, 2, 2), c(0, 0, 2, 2), -c(0, 0, 1, 2)],
            [c(1, 0, 2, 1), -c(0, 0, 2, 1), c(0, 0, 1, 1)],
        ];
        let mut out = M3 { r: inv };
        for row in out.r.iter_mut() {
            for e in row.iter_mut() {
                *e /= d;
            }
        }
        out
    }
    pub fn scale(&self, s: f64) -> M3 {
        let mut o = *self;
        for row in o.r.iter_mut() {
            for e in row.iter_mut() {
                *e *= s;
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn inverse_roundtrip() {
        let m = M3 { r: [[0.3, 0.1, 0.7], [0.0, 1.2, -0.4], [0.5, 0.2, 0.9]] };
        let p = m.mul_m(&m.inverse());
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((p.r[i][j] - e).abs() < 1e-12);
            }
        }
    }
}

/// Midpoint quadrature of `f` over the unit sphere: n bands of cos(theta) by 2n of phi.
#[cfg(test)]
pub fn sphere_integral(n: usize, mut f: impl FnMut(V3) -> f64) -> f64 {
    use std::f64::consts::PI;
    let mut s = 0.0;
    for i in 0..n {
        let ct = -1.0 + 2.0 * (i as f64 + 0.5) / n as f64;
        let st = (1.0 - ct * ct).sqrt();
        for j in 0..2 * n {
            let p = PI * (j as f64 + 0.5) / n as f64;
            s += f(v3(st * p.cos(), st * p.sin(), ct));
        }
    }
    s * (2.0 / n as f64) * (PI / n as f64)
}
