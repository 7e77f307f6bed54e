//! ltc-fit: fits Linearly Transformed Cosines to the renderer's GGX specular lobe
//! (D·V·nl of `ggx_dv` in shaders/xpg/brdf.slang) and writes `ltc_ggx.bin`.
//! See README.md for the file layout and the shader-side use.

mod brdf;
mod fit;
mod ltc;
mod math;
mod nelder_mead;
mod validate;

use std::io::Write;
use std::path::PathBuf;

const MAGIC: &[u8; 4] = b"LTCG";
const VERSION: u32 = 1;

fn usage() -> ! {
    eprintln!(
        "usage: ltc-fit [--out DIR] [--n 64] [--samples 32] [--norm-samples 65536] [--mc 2000000]\n\
         \x20              [--validate-only] [--no-validate] [--reference ltc.js]"
    );
    std::process::exit(2)
}

fn write_table(path: &PathBuf, n: usize, entries: &[fit::Entry]) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(16 + n * n * 24);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&VERSION.to_le_bytes());
    buf.extend_from_slice(&(n as u32).to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    for e in entries {
        for x in fit::pack_minv(&e.m) {
            buf.extend_from_slice(&(x as f32).to_le_bytes());
        }
    }
    for e in entries {
        buf.extend_from_slice(&(e.norm as f32).to_le_bytes());
        buf.extend_from_slice(&(e.fres as f32).to_le_bytes());
    }
    std::fs::File::create(path)?.write_all(&buf)
}

fn read_table(path: &PathBuf) -> Result<validate::Table, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let f32_at = |o: usize| f32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    if b.len() < 16 || &b[0..4] != MAGIC || u32_at(4) != VERSION {
        return Err("bad header".into());
    }
    let n = u32_at(8) as usize;
    if b.len() != 16 + n * n * 24 {
        return Err(format!("bad size {} for N = {n}", b.len()));
    }
    let t1 = (0..n * n).map(|k| std::array::from_fn(|c| f32_at(16 + (k * 4 + c) * 4))).collect();
    let o2 = 16 + n * n * 16;
    let t2 = (0..n * n).map(|k| [f32_at(o2 + k * 8), f32_at(o2 + k * 8 + 4)]).collect();
    Ok(validate::Table { n, t1, t2 })
}

fn main() {
    let mut out = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/out"));
    let (mut n, mut ns, mut nn, mut mc) = (64usize, 32usize, 65536usize, 2_000_000usize);
    let (mut do_fit, mut do_val) = (true, true);
    let mut reference: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--out" => out = PathBuf::from(val()),
            "--n" => n = val().parse().unwrap_or_else(|_| usage()),
            "--samples" => ns = val().parse().unwrap_or_else(|_| usage()),
            "--norm-samples" => nn = val().parse().unwrap_or_else(|_| usage()),
            "--mc" => mc = val().parse().unwrap_or_else(|_| usage()),
            "--reference" => reference = Some(PathBuf::from(val())),
            "--validate-only" => do_fit = false,
            "--no-validate" => do_val = false,
            _ => usage(),
        }
    }
    let path = out.join("ltc_ggx.bin");

    if do_fit {
        std::fs::create_dir_all(&out).expect("create output dir");
        let cfg = fit::Config { n, nsample: ns, nnorm: nn, verbose: true };
        let t0 = std::time::Instant::now();
        let entries = fit::fit_table(&cfg);
        let secs = t0.elapsed().as_secs_f64();
        write_table(&path, n, &entries).expect("write table");
        let evals: usize = entries.iter().map(|e| e.evals).sum();
        let mut l1: Vec<f64> = entries.iter().map(|e| e.l1).collect();
        l1.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("# LTC fit of D*V*nl (ggx_dv), N = {n}, {ns}x{ns} samples per strategy per error evaluation");
        println!(
            "fit time {secs:.1} s, {evals} error evaluations; L1 misfit of normalised lobes: median {:.4}, p95 {:.4}, max {:.4}",
            l1[l1.len() / 2],
            l1[l1.len() * 95 / 100],
            l1[l1.len() - 1]
        );
        let band = |lo: f64, hi: f64| {
            let mut w: f64 = 0.0;
            for (k, e) in entries.iter().enumerate() {
                let th = fit::view_angle(n, k / n).0.to_degrees();
                if th >= lo && th < hi {
                    w = w.max(e.l1);
                }
            }
            w
        };
        println!(
            "max L1 misfit by view angle: theta < 45°: {:.3}, 45-70°: {:.3}, 70-80°: {:.3}, >= 80°: {:.3}",
            band(0.0, 45.0),
            band(45.0, 70.0),
            band(70.0, 80.0),
            band(80.0, 91.0)
        );
        println!("wrote {} ({} bytes)", path.display(), 16 + n * n * 24);
    }

    let tab = read_table(&path).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let n = tab.n;
    println!("\n## Table check (read back from file): selected texels");
    println!("| i (r) | j (theta) | m00 | m20 | m02 | m22 | norm | fres |");
    println!("|---|---|---|---|---|---|---|---|");
    for &i in &[0usize, 13, 32, 57, 63] {
        for &j in &[0usize, 20, 45, 63] {
            if i >= n || j >= n {
                continue;
            }
            let (r, _) = fit::roughness_alpha(n, i);
            let (th, _) = fit::view_angle(n, j);
            let k = i + j * n;
            let t = tab.t1[k];
            println!(
                "| {i} ({r:.3}) | {j} ({:.1}°) | {:.5} | {:.5} | {:.5} | {:.5} | {:.5} | {:.5} |",
                th.to_degrees(),
                t[0],
                t[1],
                t[2],
                t[3],
                tab.t2[k][0],
                tab.t2[k][1]
            );
        }
    }
    let bad =
        tab.t1.iter().flatten().chain(tab.t2.iter().flatten()).filter(|x| !x.is_finite()).count();
    println!("non-finite values: {bad}");

    if do_val {
        let rt = reference.and_then(|p| {
            let t = std::fs::read_to_string(&p).ok().and_then(|s| validate::load_reference_js(&s));
            if t.is_none() {
                eprintln!("could not load reference table {}", p.display());
            }
            t
        });
        validate::run(&tab, rt.as_ref(), mc);
    }
}
