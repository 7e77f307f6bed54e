//! The viewer as a server (issue 24), measured in one run with an offscreen viewer in this
//! process (its frames on the main thread, clients on threads):
//! - raw loopback TCP throughput (one socket, 4 MiB writes), read into one buffer (the usual
//!   measure) and into a buffer per message (what a receiver that keeps the data must do);
//! - the server's reader side alone (read and checked, dropped on another thread);
//! - throughput: one client streaming `--points` point frames (positions f32 + colours RGBA8)
//!   into one object without waiting (`xpg_client::Client::send`), with the arrays in the
//!   messages (TCP) and through shared memory: MB/s and frames per second applied to the
//!   scene, the frames rendered and uploaded meanwhile, and where the time went (`--no-reuse`:
//!   the server reads every array into fresh memory, to measure what reusing storage saves);
//! - load: `--clients` clients each sending `--updates` updates of `--load-points` points to
//!   their own object while the viewer renders two viewports: nothing lost (each object holds
//!   its client's last frame, every message was received), frame time p50/p99 with and without
//!   the load;
//! - latency: a small update followed by a screenshot: the time to the screenshot's reply (the
//!   first frame that shows the update, read back), median and p99;
//! - pick latency: `App::pick` at pixels across the first viewport, with the clouds above in
//!   the scene (a submission of its own, waited for).
//!
//! ```text
//! cargo bench --bench server_bench -- [--frames 100] [--points 1000000] [--clients 8]
//!     [--updates 2000] [--load-points 100000] [--size 1920x1080] [--reader-only]
//!     [--stream-only] [--no-reuse]
//! ```

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use protocol::{Array, Limits, Message};
use serde_json::json;
use viewer::app::{run_offscreen, App, ViewerOptions};
use viewer::server::ServerConfig;

const MB: f64 = 1e6;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

/// Raw loopback TCP: `bytes` written in 4 MiB chunks; the receiver reads into one 4 MiB
/// buffer (`keep` None: the data is overwritten, the usual TCP benchmark) or into a new buffer
/// of `keep` bytes per message (what a receiver that keeps each message's data must do).
fn loopback_tcp(bytes: usize, keep: Option<usize>) -> f64 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let reader = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut got = 0;
        match keep {
            None => {
                let mut buf = vec![0u8; 4 << 20];
                while got < bytes {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
            }
            Some(size) => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u32>>(4);
                let dropper = std::thread::spawn(move || rx.iter().count());
                while got < bytes {
                    let mut buf = vec![0u32; size / 4];
                    if s.read_exact(bytemuck::cast_slice_mut(&mut buf)).is_err() {
                        break;
                    }
                    got += size;
                    let _ = tx.send(buf);
                }
                drop(tx);
                let _ = dropper.join();
            }
        }
    });
    let mut s = TcpStream::connect(addr).expect("connect");
    let chunk = vec![7u8; 4 << 20];
    let t = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        // Exactly `bytes`: the reader closes after them, and more would reset the connection.
        let n = chunk.len().min(bytes - sent);
        s.write_all(&chunk[..n]).expect("write");
        sent += n;
    }
    let _ = reader.join();
    bytes as f64 / MB / t.elapsed().as_secs_f64()
}

/// The viewer's reader side alone: `messages` sent `frames` times over loopback TCP, read and
/// checked as the server does (into requests, with their arrays as vectors), and dropped on
/// another thread (as the render thread does). MB/s of arrays.
fn reader_only(messages: &[Message], frames: usize) -> f64 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = std::sync::mpsc::sync_channel::<protocol::Envelope>(4);
    let reader = std::thread::spawn(move || {
        let (s, _) = l.accept().expect("accept");
        let mut r = std::io::BufReader::with_capacity(1 << 20, s);
        let limits = Limits::default();
        for _ in 0..frames {
            let m = Message::read_with(&mut r, &limits, viewer::server::fill_from_socket)
                .expect("read");
            let e = protocol::Request::parse_owned(m, &limits).expect("parse");
            tx.send(e).expect("send");
        }
    });
    let dropper = std::thread::spawn(move || rx.iter().count());
    let bytes: usize = messages[0].arrays.iter().map(|a| a.data.len()).sum();
    let mut s = std::io::BufWriter::with_capacity(8 << 20, TcpStream::connect(addr).expect("c"));
    let t = Instant::now();
    for k in 0..frames {
        messages[k % messages.len()].write(&mut s).expect("write");
    }
    drop(s);
    reader.join().expect("reader");
    assert_eq!(dropper.join().expect("dropper"), frames);
    (frames * bytes) as f64 / MB / t.elapsed().as_secs_f64()
}

/// A connection with the raw protocol (pipelining: requests without ids).
struct Raw {
    s: std::io::BufWriter<TcpStream>,
    r: std::io::BufReader<TcpStream>,
}

impl Raw {
    fn connect(addr: &str) -> Self {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let mut c = Self {
            s: std::io::BufWriter::with_capacity(8 << 20, s.try_clone().expect("clone")),
            r: std::io::BufReader::new(s),
        };
        c.send(&Message::new(
            json!({"type": "hello", "version": [1, 0], "client": "bench"}),
            vec![],
        ));
        let w = c.read();
        assert_eq!(w.kind(), "welcome");
        c
    }
    fn send(&mut self, m: &Message) {
        m.write(&mut self.s).expect("send");
    }
    fn read(&mut self) -> Message {
        Message::read(&mut self.r, &Limits::default()).expect("reply")
    }
    /// A request with an id, and its reply (errors abort the bench).
    fn call(&mut self, header: serde_json::Value) -> Message {
        self.send(&Message::new(header, vec![]));
        let m = self.read();
        assert_ne!(m.kind(), "error", "{:?}", m.header);
        m
    }
}

fn cloud(n: usize, k: usize) -> Vec<Array> {
    let mut p = Vec::with_capacity(n * 3);
    for i in 0..n {
        let a = i as f32 * 0.001 + k as f32 * 0.01;
        p.extend_from_slice(&[
            a.cos() * (1.0 + i as f32 / n as f32),
            a.sin(),
            (i % 100) as f32 * 0.01,
        ]);
    }
    let c: Vec<u8> = (0..n).flat_map(|i| [(i % 256) as u8, (k % 256) as u8, 128, 255]).collect();
    vec![Array::f32("positions", &[n, 3], &p), Array::u8("colors", &[n, 4], &c)]
}

/// Renders frames until `done` says so; returns the frame times (ms).
fn run_until(app: &mut App, size: (u32, u32), mut done: impl FnMut() -> bool) -> Vec<f64> {
    let mut times = Vec::new();
    let start = Instant::now();
    while !done() {
        let t = Instant::now();
        app.frame(None, size).expect("frame");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert!(start.elapsed() < Duration::from_secs(900), "the bench did not finish");
    }
    times
}

/// One client streams `frames` of `messages` into one object without waiting for replies
/// (through the socket, or `shared` memory), then waits for the last: the rate at which they
/// were applied, and where the time went.
#[allow(clippy::too_many_arguments)]
fn stream_phase(
    app: &mut App,
    addr: &str,
    size: (u32, u32),
    messages: &std::sync::Arc<Vec<Message>>,
    frames: usize,
    shared: bool,
    tcp: f64,
    kept: f64,
) {
    let frame_bytes: usize = messages[0].arrays.iter().map(|a| a.data.len()).sum();
    let (a, msgs) = (addr.to_string(), std::sync::Arc::clone(messages));
    let client = std::thread::spawn(move || {
        let mut c = xpg_client::Client::connect(&a).expect("connect");
        c.set_shared_memory(shared).expect("shared memory");
        assert_eq!(c.shared_memory(), shared, "shared memory where asked");
        let header = json!({"type": "points", "name": "stream"});
        // The object exists first (its upload is not part of the stream).
        c.send(header.clone(), &msgs[0].arrays).expect("send");
        c.flush().expect("flush");
        let t = Instant::now();
        for k in 0..frames {
            c.send(header.clone(), &msgs[k % msgs.len()].arrays).expect("send");
        }
        c.flush().expect("flush");
        t.elapsed().as_secs_f64()
    });
    let before = app.server_times().unwrap_or_default();
    let uploads = app.gpu_scene().map(|g| g.updated_bytes()).unwrap_or(0);
    let times = run_until(app, size, || client.is_finished());
    let secs = client.join().expect("client");
    let after = app.server_times().unwrap_or_default();
    let uploaded = app.gpu_scene().map(|g| g.updated_bytes()).unwrap_or(0) - uploads;
    let rate = (frames * frame_bytes) as f64 / MB / secs;
    println!(
        "| one client, {frames} frames of {:.1} MB, {} | {:.1} frames/s applied, {rate:.0} MB/s \
         | {:.0}% of loopback TCP ({:.0}% of TCP into a buffer per message) | {} viewer frames \
         rendered meanwhile, {:.1} frames uploaded per second |",
        frame_bytes as f64 / MB,
        if shared { "arrays through shared memory" } else { "arrays in the messages (TCP)" },
        frames as f64 / secs,
        100.0 * rate / tcp,
        100.0 * rate / kept,
        times.len(),
        uploaded as f64 / frame_bytes as f64 / secs,
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / frames as f64;
    println!(
        "| per frame of the stream | reader thread: reading {:.2} ms, checking {:.2} ms, \
         blocked {:.2} ms | render thread: applying {:.2} ms; viewer frame {:.2} ms (mean) |",
        ms(after.reading - before.reading),
        ms(after.checking - before.checking),
        ms(after.waiting - before.waiting),
        ms(after.applying - before.applying),
        times.iter().sum::<f64>() / times.len().max(1) as f64,
    );
}

fn main() {
    let (mut frames, mut points, mut clients, mut updates, mut load_points) =
        (100usize, 1_000_000usize, 8usize, 2000usize, 100_000usize);
    let mut size = (1920u32, 1080u32);
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--frames" => frames = v.parse().expect("--frames"),
            "--points" => points = v.parse().expect("--points"),
            "--clients" => clients = v.parse().expect("--clients"),
            "--updates" => updates = v.parse().expect("--updates"),
            "--load-points" => load_points = v.parse().expect("--load-points"),
            "--size" => size = viewer::parse_size(&v).expect("--size"),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    let tcp = loopback_tcp(4 << 30, None);
    println!("| raw loopback TCP (one socket, 4 MiB writes, read into one 4 MiB buffer) | {tcp:.0} MB/s |");
    let frame_bytes = points * 16;
    let kept = loopback_tcp((4 << 30) / frame_bytes * frame_bytes, Some(frame_bytes));
    println!(
        "| raw loopback TCP, each {:.0} MB message read into a buffer of its own | {kept:.0} MB/s |",
        frame_bytes as f64 / MB
    );

    // Throughput.
    // Made once: the client's side costs only the socket writes.
    let messages: Vec<Message> = (0..4)
        .map(|k| Message::new(json!({"type": "points", "name": "stream"}), cloud(points, k)))
        .collect();
    let read = reader_only(&messages, frames);
    println!(
        "| the reader side alone (read, checked, dropped on another thread) | {read:.0} MB/s | \
         {:.0}% of loopback TCP |",
        100.0 * read / tcp
    );
    if args.iter().any(|a| a == "--reader-only") {
        return;
    }

    let opts = ViewerOptions {
        size,
        vsync: false,
        cache_dir: None,
        frames: Some(1),
        hot_reload: false,
        viewports: vec!["raster".into(), "raster".into()],
        listen: Some(ServerConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            reuse_storage: !args.iter().any(|a| a == "--no-reuse"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut app = run_offscreen(opts).expect("viewer");
    app.playback_mut().playing = false;
    let addr = app.server_addr().expect("listening").to_string();
    println!("device: {}", app.context().caps().device_name);

    let messages = std::sync::Arc::new(messages);
    for shared in [false, true] {
        stream_phase(&mut app, &addr, size, &messages, frames, shared, tcp, kept);
    }
    if args.iter().any(|a| a == "--stream-only") {
        return;
    }

    // Frame time without load, then with it.
    let mut idle = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        app.frame(None, size).expect("frame");
        idle.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let a = addr.clone();
            std::thread::spawn(move || {
                let mut r = Raw::connect(&a);
                let base = cloud(load_points, c);
                for k in 0..updates {
                    // The last value of the first coordinate says which update it was.
                    let mut arrays = base.clone();
                    arrays[0].data[..4].copy_from_slice(&(k as f32).to_le_bytes());
                    r.send(&Message::new(
                        json!({"type": "points", "name": format!("load/{c}")}),
                        arrays,
                    ));
                }
                r.s.flush().expect("flush");
                r.call(json!({"type": "query", "id": 1}));
            })
        })
        .collect();
    let t = Instant::now();
    let mut loaded = run_until(&mut app, size, || handles.iter().all(|h| h.is_finished()));
    let load_secs = t.elapsed().as_secs_f64();
    for h in handles {
        h.join().expect("client");
    }
    // Nothing lost: each object holds its client's last update.
    let s = app.scene();
    for c in 0..clients {
        let p = s.point_sets.iter().find(|p| p.name == format!("load/{c}")).expect("object");
        assert_eq!(p.positions.len(), load_points);
        assert_eq!(p.positions[0][0], (updates - 1) as f32, "client {c}'s last update");
    }
    println!(
        "| load: {clients} clients x {updates} updates of {load_points} points, 2 viewports at \
         {}x{} | {:.1} s, {:.0} MB/s in all, nothing lost | frame time p50 {:.2} ms, p99 {:.2} \
         ms (no load: p50 {:.2} ms, p99 {:.2} ms) |",
        size.0,
        size.1,
        load_secs,
        (clients * updates * load_points * 16) as f64 / MB / load_secs,
        pct(&mut loaded, 0.5),
        pct(&mut loaded, 0.99),
        pct(&mut idle, 0.5),
        pct(&mut idle, 0.99),
    );

    // Latency: a small update, then a screenshot of the frame that shows it.
    let a = addr.clone();
    let client = std::thread::spawn(move || {
        let mut c = Raw::connect(&a);
        let mut lat = Vec::new();
        for k in 0..200 {
            let t = Instant::now();
            c.send(&Message::new(json!({"type": "points", "name": "small"}), cloud(100, k)));
            c.call(json!({"type": "screenshot", "id": k, "viewport": null}));
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lat
    });
    run_until(&mut app, size, || client.is_finished());
    let mut lat = client.join().expect("client");
    println!(
        "| latency: a 100-point update to the screenshot of the first frame showing it | median \
         {:.2} ms | p99 {:.2} ms |",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );

    // Pick latency: what is under a pixel of the first viewport, with everything above in
    // the scene (the 1 M-point cloud, the load's clouds); picks at pixels across the view.
    let points: usize = app.scene().point_sets.iter().map(|p| p.positions.len()).sum();
    let mut picks = Vec::new();
    let mut hits = 0;
    let (w, h) = app.viewport_size(None).expect("a viewport");
    for k in 0..200 {
        let (x, y) = ((k * 37 % w as usize) as f32, (k * 53 % h as usize) as f32);
        let t = Instant::now();
        hits += usize::from(app.pick(None, x, y).expect("pick").is_some());
        picks.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "| pick latency ({points} points in the scene; {hits} of 200 picks hit) | median {:.2} ms \
         | p99 {:.2} ms |",
        pct(&mut picks, 0.5),
        pct(&mut picks, 0.99)
    );
}
