//! A live random walk of points: `xpg-view --listen` in one terminal, then
//! `cargo run -p xpg-client --example random_walk`.

fn main() -> Result<(), xpg_client::ClientError> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9870".into());
    let mut v = xpg_client::Client::connect(&addr)?;
    let mut p = vec![[0.0f32; 3]; 2000];
    let mut seed = 0x1234_5678u32;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as f32 / u32::MAX as f32 - 0.5
    };
    for _ in 0..600 {
        for q in &mut p {
            for c in q.iter_mut() {
                *c += 0.02 * rand();
            }
        }
        v.points("walk", &p, None)?;
        std::thread::sleep(std::time::Duration::from_millis(16));
    }
    Ok(())
}
