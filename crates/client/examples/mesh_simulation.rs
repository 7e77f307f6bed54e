//! A simulation streaming a mesh per step (a wave on a grid), replaced live:
//! `xpg-view --listen`, then `cargo run -p xpg-client --example mesh_simulation`.

fn main() -> Result<(), xpg_client::ClientError> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9870".into());
    let mut v = xpg_client::Client::connect(&addr)?;
    let n = 64usize;
    let mut faces = Vec::new();
    for j in 0..n - 1 {
        for i in 0..n - 1 {
            let a = (j * n + i) as u32;
            let n = n as u32;
            faces.push([a, a + 1, a + n]);
            faces.push([a + 1, a + n + 1, a + n]);
        }
    }
    for step in 0..300 {
        let vertices: Vec<[f32; 3]> = (0..n * n)
            .map(|k| {
                let (x, y) =
                    ((k % n) as f32 / n as f32 * 2.0 - 1.0, (k / n) as f32 / n as f32 * 2.0 - 1.0);
                let z = 0.1 * (6.0 * (x * x + y * y).sqrt() - step as f32 * 0.1).sin();
                [x, z, y]
            })
            .collect();
        v.mesh("wave", &vertices, &faces, Some([0.3, 0.6, 0.9, 1.0]))?;
    }
    Ok(())
}
