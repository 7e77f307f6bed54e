//! Render data headless and get the images back: start `xpg-view --listen --offscreen 640x480`,
//! then `cargo run -p xpg-client --example screenshots`.

fn main() -> Result<(), xpg_client::ClientError> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9870".into());
    let mut v = xpg_client::Client::connect(&addr)?;
    let cloud: Vec<[f32; 3]> = (0..20_000)
        .map(|i| {
            let a = i as f32 * 0.01;
            [a.cos(), (i as f32 / 20_000.0) * 2.0 - 1.0, a.sin()]
        })
        .collect();
    v.points("helix", &cloud, None)?;
    for (k, eye) in [[3.0, 1.0, 3.0], [-3.0, 1.0, 3.0], [0.0, 4.0, 0.01]].iter().enumerate() {
        v.look_at(*eye, [0.0, 0.0, 0.0], [0.0, 1.0, 0.0])?;
        let (w, h, px) = v.screenshot(None)?;
        let mean = px.iter().map(|&b| f64::from(b)).sum::<f64>() / px.len().max(1) as f64;
        println!("view {k}: {w}x{h}, mean byte {mean:.1}");
    }
    Ok(())
}
