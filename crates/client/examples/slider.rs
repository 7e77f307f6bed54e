//! A slider and a button in the viewer drive this program: the slider sets the radius of a
//! ring of points, the button scatters them again. `xpg-view --listen` in one terminal, then
//! `cargo run -p xpg-client --example slider` (stops after a minute, or when the viewer
//! closes).

use std::time::{Duration, Instant};

fn ring(radius: f32, jitter: &[f32]) -> Vec<[f32; 3]> {
    let n = jitter.len();
    (0..n)
        .map(|i| {
            let a = i as f32 / n as f32 * std::f32::consts::TAU;
            let r = radius * (1.0 + 0.1 * jitter[i]);
            [r * a.cos(), r * a.sin(), 0.1 * jitter[(i * 7) % n]]
        })
        .collect()
}

fn main() -> Result<(), xpg_client::ClientError> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9870".into());
    let mut v = xpg_client::Client::connect(&addr)?;
    let mut seed = 0x9e37_79b9u32;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as f32 / u32::MAX as f32 - 0.5
    };
    let mut jitter: Vec<f32> = (0..5000).map(|_| rand()).collect();
    let mut radius = 1.0f32;
    v.points("ring", &ring(radius, &jitter), None)?;
    v.slider("radius", "Ring radius", (0.1, 5.0), f64::from(radius))?;
    v.button("scatter", "Scatter")?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let Some(e) = v.next_event(Duration::from_millis(100))? else { continue };
        match e.header.get("name").and_then(|n| n.as_str()) {
            Some("radius") => {
                radius = e.header["value"].as_f64().unwrap_or(1.0) as f32;
            }
            Some("scatter") => jitter = (0..jitter.len()).map(|_| rand()).collect(),
            _ => continue,
        }
        v.points("ring", &ring(radius, &jitter), None)?;
    }
    v.remove_widget("radius")?;
    v.remove_widget("scatter")?;
    Ok(())
}
