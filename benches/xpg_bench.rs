//! Benchmarks of the xpg layer: upload bandwidth (staging ring vs direct write into
//! host-visible device memory) for 1 MiB .. 1 GiB, and Slang compile time cold vs cached.
//!
//! ```text
//! cargo bench --bench xpg_bench -- [--max-mb 1024] [--root PATH]
//! ```
//! `--root` is the project folder holding `shaders/` and `tests/shaders/` (default: this
//! checkout). Prints a table; asserts nothing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use xpg::vk;
use xpg::{
    Buffer, BufferDesc, Context, ContextDesc, MemoryUsage, ShaderCompiler, ShaderDesc, UploadPath,
    Uploader,
};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn gib_s(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / (1u64 << 30) as f64
}

fn main() -> anyhow::Result<()> {
    let mut max_mb = 1024u64;
    let mut root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--max-mb" => {
                max_mb =
                    args.next().context("--max-mb needs a value")?.parse().context("--max-mb")?
            }
            "--root" => root = PathBuf::from(args.next().context("--root needs a value")?),
            "--bench" => {}
            other => anyhow::bail!("unknown argument {other}"),
        }
    }

    let direct_ctx = Context::new(&ContextDesc::default()).context("context")?;
    let staging_ctx = Context::new(&ContextDesc { force_staging: true, ..Default::default() })
        .context("context")?;
    let caps = direct_ctx.caps();
    println!("device: {} ({})", caps.device_name, caps.driver);
    println!(
        "memory: unified={} device-local heap={} MiB, host-visible device-local heap={} MiB, direct device upload={}",
        caps.unified_memory,
        caps.device_local_heap >> 20,
        caps.host_visible_device_heap >> 20,
        caps.direct_device_upload()
    );

    println!("\n## Upload bandwidth (median of repeats; staging includes the GPU copy and wait)");
    println!("| size | direct (memcpy into mapped device-local) GiB/s | staging (ring + GPU copy) GiB/s | staging / direct time |");
    println!("|---:|---:|---:|---:|");
    let mut up_direct = Uploader::new(&direct_ctx, 64 << 20)?;
    let mut up_staging = Uploader::new(&staging_ctx, 64 << 20)?;
    let mut mb = 1u64;
    while mb <= max_mb {
        let size = mb << 20;
        let data: Vec<u8> = (0..size).map(|i| ((i * 31) >> 7) as u8).collect();
        let reps = (256 / mb).clamp(3, 20) as usize;

        let direct = if direct_ctx.caps().direct_device_upload() {
            let mut dst = Buffer::new(
                &direct_ctx,
                &BufferDesc {
                    size,
                    usage: vk::BufferUsageFlags::STORAGE_BUFFER,
                    memory: MemoryUsage::DeviceUpload,
                    name: "bench direct",
                },
            )?;
            let mut times = Vec::new();
            for _ in 0..reps {
                let t = Instant::now();
                let (path, _) = up_direct.upload_buffer(&mut dst, 0, &data)?;
                times.push(t.elapsed());
                anyhow::ensure!(path == UploadPath::Direct, "direct path expected, got {path:?}");
            }
            Some(median(times))
        } else {
            None // no resizable BAR / unified memory: DeviceUpload memory stages
        };

        let mut dst = Buffer::new(
            &staging_ctx,
            &BufferDesc {
                size,
                usage: vk::BufferUsageFlags::STORAGE_BUFFER,
                memory: MemoryUsage::GpuOnly,
                name: "bench staged",
            },
        )?;
        let mut times = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let (path, _) = up_staging.upload_buffer(&mut dst, 0, &data)?;
            up_staging.flush()?;
            times.push(t.elapsed());
            anyhow::ensure!(path == UploadPath::Staging, "staging path expected, got {path:?}");
        }
        let staged = median(times);
        drop(dst);
        staging_ctx.wait_idle()?;
        direct_ctx.wait_idle()?;
        match direct {
            Some(direct) => println!(
                "| {mb} MiB | {:.2} | {:.2} | {:.2} |",
                gib_s(size, direct),
                gib_s(size, staged),
                staged.as_secs_f64() / direct.as_secs_f64()
            ),
            None => println!("| {mb} MiB | n/a | {:.2} | n/a |", gib_s(size, staged)),
        }
        mb *= 4;
    }

    println!("\n## Slang compile time");
    println!(
        "| shader | first compile (incl. global session) | cold compile | cached | cold / cached |"
    );
    println!("|---|---:|---:|---:|---:|");
    let shaders = root.join("shaders");
    for name in ["fill.slang", "sample_mips.slang", "triangle.slang"] {
        let compiler = ShaderCompiler::new([shaders.clone()]);
        let desc = ShaderDesc::new(root.join("tests/shaders").join(name));
        let t = Instant::now();
        compiler.compile(&desc).with_context(|| format!("compiling {name}"))?;
        let first = t.elapsed();
        let mut cold = Vec::new();
        let mut cached = Vec::new();
        for _ in 0..5 {
            compiler.clear_cache();
            let t = Instant::now();
            compiler.compile(&desc)?;
            cold.push(t.elapsed());
            let t = Instant::now();
            compiler.compile(&desc)?;
            cached.push(t.elapsed());
        }
        let (cold, cached) = (median(cold), median(cached));
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.3} ms | {:.0}x |",
            first.as_secs_f64() * 1e3,
            cold.as_secs_f64() * 1e3,
            cached.as_secs_f64() * 1e3,
            cold.as_secs_f64() / cached.as_secs_f64()
        );
        let s = compiler.stats();
        anyhow::ensure!(s.compiles == 6 && s.cache_hits == 5, "unexpected cache behaviour {s:?}");
    }
    Ok(())
}
