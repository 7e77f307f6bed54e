//! The viewer as a server (issue 24): a client (the Rust client crate) creates, replaces and
//! deletes objects, sends a sequence sample by sample, steers playback and the camera, takes
//! screenshots that show everything it sent before, and gets errors for bad requests; a
//! hostile connection is refused and closed while the others go on. Lavapipe, validation on.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use viewer::app::{run_offscreen, App, ViewerOptions};
use viewer::input::Script;
use viewer::server::ServerConfig;
use xpg_client::{Client, ClientError};

fn serving() -> App {
    serving_with(ViewerOptions { size: (200, 150), ..Default::default() }, "")
}

/// An offscreen viewer of `o` (its size, panels) listening on a free port, with validation,
/// a fixed time step and the scripted input `script`.
fn serving_with(o: ViewerOptions, script: &str) -> App {
    let o = ViewerOptions {
        validation: true,
        cache_dir: None,
        frames: Some(1),
        fixed_dt: Some(1.0 / 60.0),
        script: Some(Script::parse(script).expect("script")),
        listen: Some(listening_config()),
        ..o
    };
    run_offscreen(o).expect("viewer runs")
}

/// A server on a free port of 127.0.0.1 (the rest as by default).
fn listening_config() -> ServerConfig {
    ServerConfig { addr: "127.0.0.1:0".parse().expect("addr"), ..Default::default() }
}

/// An offscreen viewer of `size` with validation serving with `server`.
fn listening(size: (u32, u32), server: ServerConfig) -> App {
    let o = ViewerOptions {
        size,
        validation: true,
        cache_dir: None,
        frames: Some(1),
        script: Some(Script::default()),
        listen: Some(server),
        ..Default::default()
    };
    run_offscreen(o).expect("viewer runs")
}

/// Renders frames until `client` (on its thread) is done; returns its result.
fn drive<T: Send + 'static>(app: &mut App, client: impl FnOnce(String) -> T + Send + 'static) -> T {
    drive_at(app, (200, 150), client)
}

/// [`drive`] with frames of `size`.
fn drive_at<T: Send + 'static>(
    app: &mut App,
    size: (u32, u32),
    client: impl FnOnce(String) -> T + Send + 'static,
) -> T {
    let addr = app.server_addr().expect("listening").to_string();
    let h = std::thread::spawn(move || client(addr));
    let start = Instant::now();
    while !h.is_finished() {
        app.frame(None, size).expect("frame");
        assert!(start.elapsed() < Duration::from_secs(300), "the client never finished");
    }
    h.join().expect("client thread")
}

fn red_pixels(px: &[u8]) -> usize {
    px.chunks_exact(4).filter(|p| p[0] > 150 && p[1] < 80 && p[2] < 80).count()
}

#[test]
fn a_client_feeds_steers_and_screenshots_the_viewer() {
    let mut app = serving();
    let result = drive(&mut app, |addr| -> Result<(), ClientError> {
        let mut v = Client::connect(&addr)?;
        assert!(v.server.starts_with("xpg-view"), "{}", v.server);
        // Red points fill the view (the first object: the camera frames it).
        let grid: Vec<[f32; 3]> =
            (0..400).map(|i| [(i % 20) as f32 * 0.05, (i / 20) as f32 * 0.05, 0.0]).collect();
        v.points("robot/scan", &grid, Some(&vec![[255, 0, 0, 255]; grid.len()]))?;
        let (w, h, px) = v.screenshot(None)?;
        assert_eq!((w as usize) * (h as usize) * 4, px.len());
        let red = red_pixels(&px);
        assert!(red > 50, "the points are in the screenshot: {red} red pixels");
        // Replaced: green now (same name), then another count.
        v.points("robot/scan", &grid[..100], Some(&vec![[0, 255, 0, 255]; 100]))?;
        let (_, _, px) = v.screenshot(None)?;
        assert_eq!(red_pixels(&px), 0, "the red points were replaced");
        // Other kinds.
        v.mesh(
            "robot/body",
            &[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            &[[0, 1, 2]],
            Some([0.2, 0.4, 0.9, 1.0]),
        )?;
        v.lines("path", &[[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]], true)?;
        v.transform(
            "robot/body",
            [
                [1.0, 0.0, 0.0, 0.5],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
        )?;
        // A sequence, sample by sample (frames of different counts).
        for k in 0..3 {
            let p: Vec<[f32; 3]> = (0..10 + k).map(|i| [i as f32 * 0.1, k as f32, 0.0]).collect();
            v.points_at("seq", &p, None, Some(k as f64 / 30.0))?;
        }
        // A sample sent again at the same time replaces it (another count: 15 points).
        let p: Vec<[f32; 3]> = (0..15).map(|i| [i as f32 * 0.1, 2.0, 0.0]).collect();
        v.points_at("seq", &p, None, Some(2.0 / 30.0))?;
        v.playback(Some(false), Some(2.0 / 30.0))?;
        let q = v.query()?;
        let objects = q["objects"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = objects.iter().filter_map(|o| o["name"].as_str()).collect();
        assert_eq!(names, ["path", "robot/body", "robot/scan", "seq"], "{q}");
        let seq = objects.iter().find(|o| o["name"] == "seq").cloned().unwrap_or_default();
        assert_eq!(seq["frames"], 3, "{q}");
        assert_eq!(seq["count"], 15, "the frame at the playback time, replaced: {q}");
        // Errors come back with the viewer's message; the connection goes on.
        let nan = v.points("bad", &[[f32::NAN, 0.0, 0.0]], None).expect_err("NaN");
        assert!(nan.to_string().contains("NaN"), "{nan}");
        let missing = v.delete("nothing").expect_err("no such object");
        assert!(missing.to_string().contains("no object 'nothing'"), "{missing}");
        v.delete("robot")?;
        let q = v.query()?;
        assert_eq!(q["objects"].as_array().map(Vec::len), Some(2), "robot/* deleted: {q}");
        // Events: the timeline moves (a seek) and subscribers hear of it.
        v.request(serde_json::json!({"type": "subscribe", "events": ["timeline"]}), vec![])?;
        v.playback(None, Some(1.0 / 30.0))?;
        let e = v.next_event(Duration::from_secs(10))?.expect("a timeline event");
        assert_eq!(e.header["event"], "timeline", "{:?}", e.header);
        // Widgets are declared, changed and removed.
        v.request(serde_json::json!({"type": "widget", "name": "speed", "kind": "slider", "min": 0, "max": 2, "value": 1}), vec![])?;
        v.request(serde_json::json!({"type": "widget", "name": "speed", "remove": true}), vec![])?;
        let bad = v.request(serde_json::json!({"type": "widget", "name": "w", "kind": "slider", "min": 1, "max": 0}), vec![]);
        assert!(bad.is_err());
        v.look_at([0.0, 0.0, 5.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0])?;
        let cam = v.request(serde_json::json!({"type": "camera"}), vec![])?;
        let eye = cam.header["eye"].as_array().cloned().unwrap_or_default();
        assert!((eye[2].as_f64().unwrap_or(0.0) - 5.0).abs() < 1e-3, "{:?}", cam.header);
        Ok(())
    });
    result.expect("client");
    // The GPU draws the replaced sample.
    let seq = app.scene().point_sets.iter().rposition(|p| p.name == "seq").expect("seq");
    app.playback_command(viewer::app::PlaybackCommand::Seek(2.0 / 30.0));
    app.frame(None, (200, 150)).expect("frame");
    assert_eq!(app.gpu_scene().expect("gpu").points[seq].count, 15);
    // The scene has what was sent (and deleted objects are hidden).
    let s = app.scene();
    assert!(s.point_sets.iter().any(|p| p.name == "seq" && p.visible));
    assert!(s.point_sets.iter().any(|p| p.name == "robot/scan" && !p.visible));
    assert_eq!(app.validation_messages(), 0);
}

#[test]
fn hostile_connections_are_refused_and_the_others_go_on() {
    let mut app = serving();
    let result = drive(&mut app, |addr| -> Result<(), ClientError> {
        let read_reply = |s: &mut TcpStream| -> serde_json::Value {
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_err() {
                return serde_json::Value::Null;
            }
            let mut h = vec![0u8; u32::from_le_bytes(len) as usize];
            let _ = s.read_exact(&mut h);
            serde_json::from_slice(&h).unwrap_or(serde_json::Value::Null)
        };
        // A good client first, kept open throughout.
        let mut good = Client::connect(&addr)?;
        good.points("kept", &[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], None)?;
        // Another major version: refused with both versions named, then closed.
        let mut s = TcpStream::connect(&addr)?;
        let hello =
            protocol::Message::new(serde_json::json!({"type": "hello", "version": [2, 0]}), vec![]);
        hello.write(&mut s)?;
        let r = read_reply(&mut s);
        let m = r["message"].as_str().unwrap_or("");
        let ours = format!("{}.{}", protocol::VERSION.0, protocol::VERSION.1);
        assert!(m.contains("2.0") && m.contains(&ours), "{r}");
        // Garbage after a good hello: an error, then the connection is closed.
        let mut s = TcpStream::connect(&addr)?;
        protocol::Message::new(serde_json::json!({"type": "hello", "version": [1, 0]}), vec![])
            .write(&mut s)?;
        assert_eq!(read_reply(&mut s)["type"], "welcome");
        s.write_all(&[5, 0, 0, 0, b'{', b'x', b'y', b'z', b'}'])?;
        let r = read_reply(&mut s);
        assert_eq!(r["type"], "error", "{r}");
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty(), "closed after a broken frame");
        // A header announcing 2^40 floats: refused before anything is allocated.
        let mut s = TcpStream::connect(&addr)?;
        protocol::Message::new(serde_json::json!({"type": "hello", "version": [1, 0]}), vec![])
            .write(&mut s)?;
        read_reply(&mut s);
        let h = br#"{"type":"points","name":"x","arrays":[{"name":"positions","dtype":"f4","shape":[1099511627776,3]}]}"#;
        s.write_all(&(h.len() as u32).to_le_bytes())?;
        s.write_all(h)?;
        let r = read_reply(&mut s);
        assert!(r["message"].as_str().unwrap_or("").contains("over the limit"), "{r}");
        // The good client and the scene go on.
        good.points("kept", &[[0.0, 0.0, 0.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]], None)?;
        let q = good.query()?;
        assert_eq!(q["objects"][0]["count"], 3, "{q}");
        good.quit()?;
        Ok(())
    });
    result.expect("client");
    assert!(app.quit_requested());
    assert_eq!(app.validation_messages(), 0);
}

/// A viewer with a token and small limits: clients without the token are refused; clients
/// that leave take their widgets and threads with them (the scene keeps their objects); the
/// objects clients hold and the clients connected at once are bounded, and deleting frees.
#[test]
fn tokens_limits_and_clients_that_leave() {
    let server = ServerConfig {
        token: Some("s3cret".into()),
        max_clients: 3,
        max_objects: 4,
        ..listening_config()
    };
    let mut app = listening((96, 72), server);
    let connect = |addr: &str| Client::connect_with_token(addr, Some("s3cret"));
    // Clients that just left may still count for a moment (until their reader sees the end).
    let connect_soon = move |addr: &str| {
        let start = Instant::now();
        loop {
            match connect(addr) {
                Err(e) if start.elapsed() < Duration::from_secs(20) => {
                    assert!(e.to_string().contains("at most 3 clients"), "{e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => return r,
            }
        }
    };
    drive_at(&mut app, (96, 72), move |addr| -> Result<(), ClientError> {
        for token in [None, Some("s3creT"), Some("s3cret ")] {
            let e = Client::connect_with_token(&addr, token).err().map(|e| e.to_string());
            assert!(e.as_deref().unwrap_or("").contains("token"), "{token:?}: {e:?}");
        }
        // Ten clients that declare a widget, make an object and leave (more than
        // max_clients: those that left do not count).
        for k in 0..10 {
            let mut c = connect_soon(&addr)?;
            c.button(&format!("b{k}"), "press")?;
            c.points(&format!("left/{k}"), &[[0.0, 0.0, k as f32]], None)?;
            if k > 0 {
                c.delete(&format!("left/{}", k - 1))?;
            }
        }
        let mut c = connect_soon(&addr)?;
        // left/9 and three more: the fifth is refused, naming the limit; a delete makes room.
        for k in 0..3 {
            c.points(&format!("o/{k}"), &[[1.0, 0.0, 0.0]], None)?;
        }
        let e = c.points("o/3", &[[1.0, 0.0, 0.0]], None).err().map(|e| e.to_string());
        assert!(e.as_deref().unwrap_or("").contains("max_objects"), "{e:?}");
        // Replacing an object that exists is not a new one.
        c.points("o/0", &[[2.0, 0.0, 0.0], [3.0, 0.0, 0.0]], None)?;
        c.delete("o/2")?;
        c.points("o/3", &[[1.0, 0.0, 0.0]], None)?;
        // At most three clients at once: this one and two more.
        let others = [connect_soon(&addr)?, connect_soon(&addr)?];
        let e = connect(&addr).err().map(|e| e.to_string());
        assert!(e.as_deref().unwrap_or("").contains("at most 3 clients"), "{e:?}");
        drop(others);
        c.quit()?;
        Ok(())
    })
    .expect("client");
    // Everyone has left: no client, no widget; the objects stay, deleted ones hold no data.
    let start = Instant::now();
    while app.server_clients() != (0, 0) {
        app.frame(None, (96, 72)).expect("frame");
        assert!(start.elapsed() < Duration::from_secs(20), "{:?}", app.server_clients());
    }
    let points = |name: &str| {
        app.scene().point_sets.iter().rev().find(|p| p.name == name).map(|p| p.positions.len())
    };
    assert_eq!(points("left/9"), Some(1));
    assert_eq!(points("left/0"), Some(0), "a deleted object's data is freed");
    assert_eq!(points("o/0"), Some(2));
    assert_eq!(app.validation_messages(), 0);
}

/// Properties over time from a client (protocol 1.5): a mesh's transform, a light's
/// intensity and pose, a material's colour and a polyline's vertices as samples at times,
/// interpolated between them; a value without a time replaces the samples.
#[test]
fn properties_over_time_from_a_client() {
    let mut app = serving();
    app.playback_mut().playing = false;
    drive(&mut app, |addr| -> Result<(), ClientError> {
        let mut v = Client::connect(&addr)?;
        // A light first: it has no place to frame; the cameras frame the mesh after it.
        v.light("first", &xpg_client::Light::directional([0.0, -1.0, 0.0], 1.0))?;
        v.mesh("box", &[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], &[[0, 1, 2]], None)?;
        let target = v.camera()?["target"].clone();
        let t: Vec<f64> = serde_json::from_value(target.clone()).unwrap_or_default();
        let framed = t.len() == 3 && (t[0] - 0.5).abs() < 1e-3 && (t[1] - 0.5).abs() < 1e-3;
        assert!(framed, "the camera frames the first object with a place: {target}");
        let at =
            |x: f32| [[1.0, 0.0, 0.0, x], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0; 4]];
        let rows = |x: f32| {
            let mut r = at(x);
            r[3][3] = 1.0;
            r
        };
        v.transform_at("box", rows(0.0), 0.0)?;
        v.transform_at("box", rows(4.0), 2.0)?;
        let lamp = |i: f32, t: f64| xpg_client::Light {
            time: Some(t),
            ..xpg_client::Light::point([0.0, 1.0 + i, 0.0], i)
        };
        v.light("lamp", &lamp(1.0, 0.0))?;
        v.light("lamp", &lamp(3.0, 2.0))?;
        let red = |c: [f32; 4], t: f64| xpg_client::Material {
            base_color: Some(c),
            time: Some(t),
            ..Default::default()
        };
        v.material("box", &red([1.0, 0.0, 0.0, 1.0], 0.0))?;
        v.material("box", &red([0.0, 0.0, 1.0, 1.0], 2.0))?;
        for (k, y) in [(0.0, 0.0f32), (2.0, 2.0)] {
            let h = serde_json::json!({"type": "lines", "name": "path", "strip": true, "time": k});
            let p = [[0.0, 0.0, 0.0], [1.0, y, 0.0], [2.0, 0.0, 0.0]];
            v.request(h, vec![protocol::Array::f32("positions", &[3, 3], p.as_flattened())])?;
        }
        // A time that is not a number: refused.
        let bad = v.request(
            serde_json::json!({"type": "transform", "name": "box", "time": "soon",
            "arrays": []}),
            vec![protocol::Array::f32("matrix", &[4, 4], rows(1.0).as_flattened())],
        );
        assert!(bad.is_err());
        Ok(())
    })
    .expect("client");
    app.playback_command(viewer::app::PlaybackCommand::Seek(1.0));
    app.frame(None, (200, 150)).expect("frame");
    let s = app.scene();
    let node = s.nodes.iter().find(|n| n.name == "box").expect("box");
    assert!((node.world.w_axis.x - 2.0).abs() < 1e-4, "halfway: {}", node.world.w_axis);
    let light = s.lights.iter().find(|l| l.name == "lamp").expect("lamp");
    assert!((light.intensity - 2.0).abs() < 1e-4, "{}", light.intensity);
    let lamp_node = s.nodes.iter().find(|n| n.light.is_some() && n.name == "lamp").expect("node");
    assert!((lamp_node.world.w_axis.y - 3.0).abs() < 1e-4, "{}", lamp_node.world.w_axis);
    let mesh = s.meshes.iter().rev().find(|m| m.name == "box").expect("mesh");
    let c = s.materials[mesh.primitives[0].material].base_color;
    assert!((c[0] - 0.5).abs() < 1e-4 && (c[2] - 0.5).abs() < 1e-4, "{c:?}");
    let path = s.line_sets.iter().find(|l| l.name == "path").expect("path");
    assert!((path.positions[1][1] - 1.0).abs() < 1e-4, "{:?}", path.positions);
    assert_eq!(s.time_span(), Some((0.0, 2.0)));
    // A transform without a time: for all times (the samples go).
    drive(&mut app, |addr| -> Result<(), ClientError> {
        let mut v = Client::connect(&addr)?;
        let mut r = [[0.0f32; 4]; 4];
        for (k, row) in r.iter_mut().enumerate() {
            row[k] = 1.0;
        }
        r[2][3] = 7.0;
        v.transform("box", r)
    })
    .expect("client");
    app.playback_command(viewer::app::PlaybackCommand::Seek(2.0));
    app.frame(None, (200, 150)).expect("frame");
    let node = app.scene().nodes.iter().find(|n| n.name == "box").expect("box");
    assert!((node.world.w_axis.z - 7.0).abs() < 1e-4 && node.world.w_axis.x.abs() < 1e-4);
    // Transforms as objects: a transform of a name that is no object is a group; what is
    // under NAME/ (made before or after it) moves with it, groups nest, and over time too.
    let q = drive(&mut app, |addr| -> Result<serde_json::Value, ClientError> {
        let mut v = Client::connect(&addr)?;
        let moved = |x: f32, y: f32| {
            [[1.0, 0.0, 0.0, x], [0.0, 1.0, 0.0, y], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
        };
        v.points("robot/scan", &[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], None)?;
        let tri = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        v.mesh("robot/arm/link", &tri, &[[0, 1, 2]], None)?;
        v.transform("robot", moved(0.0, 5.0))?;
        v.transform("robot/arm", moved(1.0, 0.0))?;
        v.points("robot/late", &[[0.0, 0.0, 0.0]], None)?;
        v.transform_at("robot", moved(0.0, 10.0), 1.0)?;
        v.transform_at("robot", moved(0.0, 20.0), 3.0)?;
        v.query()
    })
    .expect("client");
    let kinds: Vec<(String, String)> = q["objects"]
        .as_array()
        .map(|o| o.iter().map(|o| (o["name"].to_string(), o["kind"].to_string())).collect())
        .unwrap_or_default();
    assert!(kinds.contains(&("\"robot/arm\"".into(), "\"transform\"".into())), "{kinds:?}");
    app.playback_command(viewer::app::PlaybackCommand::Seek(2.0));
    app.frame(None, (200, 150)).expect("frame");
    let s = app.scene();
    let set = |n: &str| s.point_sets.iter().rev().find(|p| p.name == n).expect(n).transform;
    assert!((set("robot/scan").w_axis.y - 15.0).abs() < 1e-4, "{}", set("robot/scan").w_axis);
    assert!((set("robot/late").w_axis.y - 15.0).abs() < 1e-4, "{}", set("robot/late").w_axis);
    let link = s.nodes.iter().rev().find(|n| n.name == "robot/arm/link").expect("link");
    assert!((link.world.w_axis - glam::Vec4::new(1.0, 15.0, 0.0, 1.0)).length() < 1e-4);
    drive(&mut app, |addr| -> Result<(), ClientError> {
        let mut v = Client::connect(&addr)?;
        v.delete("robot")?;
        let q = v.query()?;
        let left = q["objects"].as_array().map_or(0, |o| {
            o.iter().filter(|o| o["name"].as_str().unwrap_or("").starts_with("robot")).count()
        });
        assert_eq!(left, 0, "{q}");
        Ok(())
    })
    .expect("client");
    assert_eq!(app.validation_messages(), 0);
}

/// Backpressure: a client that writes faster than the viewer applies (here the render thread
/// stops for a while) is held back by TCP once the queue and the memory budget are full; the
/// viewer does not buffer what it sends. When frames resume, every update arrives in order.
#[test]
fn a_fast_client_is_held_back_not_buffered() {
    let server = ServerConfig { queue: 2, memory: 4 << 20, ..listening_config() };
    let mut app = listening((64, 48), server);
    app.playback_mut().playing = false;
    let addr = app.server_addr().expect("listening").to_string();
    const N: usize = 100_000;
    const UPDATES: usize = 60;
    let client = std::thread::spawn(move || -> std::io::Result<serde_json::Value> {
        let mut s = TcpStream::connect(&addr)?;
        let hello = serde_json::json!({"type": "hello", "version": [1, 0], "client": "fast"});
        protocol::Message::new(hello, vec![]).write(&mut s)?;
        let limits = protocol::Limits::default();
        let mut r = std::io::BufReader::new(s.try_clone()?);
        protocol::Message::read(&mut r, &limits).map_err(std::io::Error::other)?;
        let mut w = std::io::BufWriter::new(s);
        let mut p = vec![0.5f32; N * 3];
        for k in 0..UPDATES {
            // Requests without ids: no reply unless they fail.
            p[0] = k as f32;
            let m = protocol::Message::new(
                serde_json::json!({"type": "points", "name": "fast"}),
                vec![protocol::Array::f32("positions", &[N, 3], &p)],
            );
            m.write(&mut w)?;
        }
        protocol::Message::new(serde_json::json!({"type": "query", "id": 1}), vec![])
            .write(&mut w)?;
        w.flush()?;
        let m = protocol::Message::read(&mut r, &limits).map_err(std::io::Error::other)?;
        Ok(serde_json::Value::Object(m.header))
    });
    // No frames for a while: the viewer stops reading (a queue of 2, a budget of 4 MiB).
    std::thread::sleep(Duration::from_millis(1500));
    let received = app.server_times().expect("server").bytes;
    let sent = (UPDATES * N * 12) as u64;
    assert!(received < 16 << 20, "{received} bytes of {sent} received while no frame ran");
    assert!(!client.is_finished(), "the client was not held back");
    let start = Instant::now();
    while !client.is_finished() {
        app.frame(None, (64, 48)).expect("frame");
        assert!(start.elapsed() < Duration::from_secs(120), "the client never finished");
    }
    let reply = client.join().expect("client thread").expect("client");
    assert_eq!(reply["type"], "objects", "{reply}");
    assert_eq!(app.server_times().expect("server").bytes, sent);
    let fast = app.scene().point_sets.iter().find(|p| p.name == "fast").expect("object");
    assert_eq!(fast.positions.len(), N);
    assert_eq!(fast.positions[0][0], (UPDATES - 1) as f32, "the last update wins");
    assert_eq!(app.validation_messages(), 0);
}

/// `--record` saves what clients send with its timing; opening the file replays it onto the
/// timeline: point clouds sent live become samples at the times they arrived.
#[test]
fn a_recording_replays_onto_the_timeline() {
    let dir = std::env::temp_dir().join(format!("xpg-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let rec = dir.join("run.xpgrec");
    let server = ServerConfig { record: Some(rec.clone()), ..listening_config() };
    let mut app = listening((160, 120), server);
    drive(&mut app, |addr| -> Result<(), ClientError> {
        let mut v = Client::connect(&addr)?;
        for k in 0..3usize {
            let p: Vec<[f32; 3]> = (0..5 + k).map(|i| [i as f32, k as f32, 0.0]).collect();
            v.points("walk", &p, None)?;
            std::thread::sleep(Duration::from_millis(150));
        }
        v.mesh("ground", &[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], &[[0, 1, 2]], None)?;
        v.light("lamp", &xpg_client::Light::point([0.0, 2.0, 0.0], 3.0))?;
        v.spheres("balls", &[[0.0, 0.0, 1.0]], &[0.2], &[], 1)?;
        v.screenshot(None)?; // not recorded
        std::thread::sleep(Duration::from_millis(150));
        // The mesh again: a second sample on the replay's timeline.
        let quad = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]];
        v.mesh("ground", &quad, &[[0, 1, 2], [0, 2, 3]], None)?;
        Ok(())
    })
    .expect("client");
    drop(app);
    let o = ViewerOptions {
        files: vec![rec.clone()],
        size: (160, 120),
        validation: true,
        cache_dir: None,
        frames: Some(1),
        script: Some(Script::default()),
        ..Default::default()
    };
    let mut app = run_offscreen(o).expect("replay");
    app.playback_mut().playing = false;
    assert!(app.files().iter().all(|f| f.error.is_none()), "{:?}", app.files());
    let (t0, t1) = app.scene().time_span().expect("a timeline");
    assert!(t1 - t0 > 0.25, "the samples keep their timing: {t0}..{t1}");
    // At the end, the last cloud (7 points); at the start, the first (5).
    app.playback_command(viewer::app::PlaybackCommand::Seek(t1));
    app.frame(None, (160, 120)).expect("frame");
    let walk = |app: &App| {
        app.scene().point_sets.iter().find(|p| p.name == "walk").map(|p| p.positions.len())
    };
    assert_eq!(walk(&app), Some(7));
    app.playback_command(viewer::app::PlaybackCommand::Seek(t0));
    app.frame(None, (160, 120)).expect("frame");
    assert_eq!(walk(&app), Some(5));
    // Everything that changes the scene was kept: lights and shapes too; the mesh sent twice
    // is a sequence of two samples.
    let q = app.remote_objects();
    let kind = |n: &str| q.iter().find(|o| o.0 == n).map(|o| (o.1.clone(), o.2));
    assert_eq!(kind("lamp"), Some(("light".to_string(), 0)), "{q:?}");
    assert_eq!(kind("balls").map(|k| k.0), Some("mesh".to_string()), "{q:?}");
    assert_eq!(kind("ground").map(|k| k.1), Some(2), "{q:?}");
    assert_eq!(app.validation_messages(), 0);
    drop(app);
    // A recording cut short (a viewer that was killed) replays up to the cut.
    let bytes = std::fs::read(&rec).expect("recording");
    let cut = dir.join("cut.xpgrec");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).expect("write");
    let o = ViewerOptions {
        files: vec![cut],
        size: (160, 120),
        cache_dir: None,
        frames: Some(1),
        script: Some(Script::default()),
        ..Default::default()
    };
    let app = run_offscreen(o).expect("replay of a cut recording");
    assert!(app.files().iter().all(|f| f.error.is_none()), "{:?}", app.files());
    let q = app.remote_objects();
    assert!(q.iter().any(|o| o.0 == "lamp") && q.iter().any(|o| o.0 == "walk"), "{q:?}");
    // Not a recording: a clear error, and the viewer goes on.
    let bad = dir.join("bad.xpgrec");
    std::fs::write(&bad, b"something else").expect("write");
    let o = ViewerOptions {
        files: vec![bad],
        size: (160, 120),
        cache_dir: None,
        frames: Some(1),
        script: Some(Script::default()),
        ..Default::default()
    };
    let app = run_offscreen(o).expect("viewer runs");
    let e = app.files()[0].error.clone().unwrap_or_default();
    assert!(e.contains("not a recording"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn mean_rgb(px: &[u8]) -> [f64; 3] {
    let n = (px.len() / 4).max(1) as f64;
    let mut m = [0.0; 3];
    for p in px.chunks_exact(4) {
        for c in 0..3 {
            m[c] += f64::from(p[c]) / n;
        }
    }
    m
}

/// Materials, lights and scene cameras as objects: a mesh turns red with its material, a blue
/// light makes it bluer, a camera is added to the scene.
#[test]
fn materials_lights_and_cameras_over_the_protocol() {
    let mut app = serving();
    drive(&mut app, |addr| -> Result<(), ClientError> {
        let mut v = Client::connect(&addr)?;
        let quad = [[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]];
        v.mesh("wall", &quad, &[[0, 1, 2], [0, 2, 3]], Some([0.8, 0.8, 0.8, 1.0]))?;
        v.look_at([0.0, 0.0, 2.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0])?;
        let grey = mean_rgb(&v.screenshot(None)?.2);
        v.request(serde_json::json!({"type": "material", "name": "wall", "base_color": [0.9, 0.05, 0.05, 1.0], "roughness": 0.8}), vec![])?;
        let red = mean_rgb(&v.screenshot(None)?.2);
        assert!(red[0] > red[1] + 20.0 && red[0] > red[2] + 20.0, "red: {red:?} (was {grey:?})");
        v.request(serde_json::json!({"type": "material", "name": "wall", "base_color": [0.9, 0.9, 0.9, 1.0]}), vec![])?;
        let before = mean_rgb(&v.screenshot(None)?.2);
        v.request(serde_json::json!({"type": "light", "name": "sun", "kind": "directional", "color": [0.1, 0.2, 1.0], "intensity": 4.0, "direction": [0.0, 0.0, -1.0]}), vec![])?;
        let lit = mean_rgb(&v.screenshot(None)?.2);
        assert!(lit[2] > before[2] + 5.0 && lit[2] - before[2] > lit[0] - before[0], "bluer: {lit:?} (was {before:?})");
        v.request(serde_json::json!({"type": "scene_camera", "name": "cam1", "eye": [0, 0, 5], "target": [0, 0, 0], "fov": 40}), vec![])?;
        let bad = v.request(serde_json::json!({"type": "material", "name": "sun"}), vec![]).expect_err("not a mesh");
        assert!(bad.to_string().contains("is light"), "{bad}");
        let bad = v.request(serde_json::json!({"type": "light", "name": "l", "kind": "spot", "cone": [40, 20]}), vec![]).expect_err("cone");
        assert!(bad.to_string().contains("cone"), "{bad}");
        v.request(serde_json::json!({"type": "light", "name": "bulb", "kind": "point", "intensity": 1.0, "position": [0, 0, 1], "range": 2.5}), vec![])?;
        let bad = v.request(serde_json::json!({"type": "light", "name": "bulb", "kind": "point", "range": -1}), vec![]).expect_err("range");
        assert!(bad.to_string().contains("range"), "{bad}");
        v.delete("sun")?;
        Ok(())
    })
    .expect("client");
    let s = app.scene();
    assert!(s.cameras.iter().any(|c| c.name == "cam1"));
    let sun = s.lights.iter().find(|l| l.name == "sun").expect("the light");
    assert_eq!(sun.intensity, 0.0, "deleted: switched off");
    let bulb = s.lights.iter().find(|l| l.name == "bulb").expect("the bulb");
    assert_eq!(bulb.range, Some(2.5), "the range arrived; the bad one changed nothing");
    assert_eq!(app.validation_messages(), 0);
}

/// A key pressed in the viewer (scripted input) reaches the clients subscribed to keys.
#[test]
fn key_presses_reach_subscribed_clients() {
    let o = ViewerOptions { size: (160, 120), ..Default::default() };
    let mut app = serving_with(o, "60 key down k\n61 key up k\n");
    let event = drive(&mut app, |addr| -> Result<serde_json::Value, ClientError> {
        let mut v = Client::connect(&addr)?;
        v.request(serde_json::json!({"type": "subscribe", "events": ["key"]}), vec![])?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(e) = v.next_event(Duration::from_millis(200))? {
                return Ok(serde_json::Value::Object(e.header));
            }
        }
        Ok(serde_json::Value::Null)
    })
    .expect("client");
    assert_eq!(event["event"], "key", "{event}");
    assert_eq!(event["key"], "K", "{event}");
}

/// A button a client declared, clicked in the viewer's Clients panel (scripted mouse input),
/// and an object selected in the scene tree reach the client as events.
#[test]
fn widget_clicks_and_selections_reach_their_clients() {
    // Where the inspector's first row and the Clients panel's first widget are at 640 x 480
    // (both windows are placed at fixed spots on first use): a click on each, the button
    // first (the inspector, once clicked, comes to the front and covers it).
    let script = "50 move 358 277\n52 down left\n54 up left\n\
                  56 move 356 300\n57 down left\n58 up left\n\
                  60 move 250 102\n62 down left\n64 up left\n";
    let o = ViewerOptions {
        size: (640, 480),
        panels: viewer::app::Panels { inspector: true, ..Default::default() },
        ..Default::default()
    };
    let mut app = serving_with(o, script);
    let events =
        drive_at(&mut app, (640, 480), |addr| -> Result<Vec<serde_json::Value>, ClientError> {
            let mut v = Client::connect(&addr)?;
            v.mesh(
                "robot/body",
                &[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                &[[0, 1, 2]],
                Some([0.2, 0.4, 0.9, 1.0]),
            )?;
            v.subscribe(&["selection"])?;
            v.button("go", "Go")?;
            v.checkbox("on", "On", false)?;
            let mut events = Vec::new();
            let start = Instant::now();
            // The initial selection (none), the row clicked, the button and the checkbox
            // clicked.
            while start.elapsed() < Duration::from_secs(60) && events.len() < 4 {
                if let Some(e) = v.next_event(Duration::from_millis(200))? {
                    events.push(serde_json::Value::Object(e.header));
                }
            }
            Ok(events)
        })
        .expect("client");
    let selected = events.iter().find(|e| e["event"] == "selection" && !e["node"].is_null());
    let selected = selected.unwrap_or_else(|| panic!("no selection event: {events:?}"));
    assert_eq!(selected["object"], "robot/body", "{selected}");
    assert_eq!(selected["name"], "robot/body", "{selected}");
    let clicked = events.iter().find(|e| e["event"] == "widget");
    let clicked = clicked.unwrap_or_else(|| panic!("no widget event: {events:?}"));
    assert_eq!(
        (&clicked["name"], &clicked["value"]),
        (&serde_json::json!("go"), &serde_json::json!(true))
    );
    let checked = events.iter().find(|e| e["event"] == "widget" && e["name"] == "on");
    let checked = checked.unwrap_or_else(|| panic!("no checkbox event: {events:?}"));
    assert_eq!(checked["value"], true, "{checked}");
    assert_eq!(app.validation_messages(), 0);
}

/// Samples of a mesh sequence keep their own vertex colours (and counts).
#[test]
fn mesh_samples_keep_their_vertex_colours() {
    let mut app = serving();
    let shots = drive(&mut app, |addr| -> Result<Vec<[f64; 3]>, ClientError> {
        let mut v = Client::connect(&addr)?;
        let quad = [[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]];
        let red = [[255, 0, 0, 255]; 4];
        v.mesh_at("blob", &quad, &[[0, 1, 2], [0, 2, 3]], Some(&red), Some(0.0))?;
        // The second sample: one triangle more (a fifth vertex), green.
        let mut five = quad.to_vec();
        five.push([0.0, 1.5, 0.0]);
        let green = [[0, 255, 0, 255]; 5];
        v.mesh_at("blob", &five, &[[0, 1, 2], [0, 2, 3], [3, 2, 4]], Some(&green), Some(1.0))?;
        let mut shots = Vec::new();
        for t in [1.0, 0.0] {
            v.playback(Some(false), Some(t))?;
            shots.push(mean_rgb(&v.screenshot(None)?.2));
        }
        Ok(shots)
    })
    .expect("client");
    let (at1, at0) = (shots[0], shots[1]);
    assert!(at1[1] > at1[0] + 20.0, "green at t = 1: {at1:?}");
    assert!(at0[0] > at0[1] + 20.0, "red at t = 0: {at0:?}");
    let prim = &app.scene().meshes.iter().find(|m| m.name == "blob").expect("mesh").primitives[0];
    assert_eq!((prim.positions.len(), prim.colors.len()), (4, 4), "the sample at t = 0");
    assert_eq!(app.validation_messages(), 0);
}

/// A client on this machine passes large arrays through shared memory (a file in /dev/shm
/// it writes, the viewer reads); streamed without waiting, they arrive in order; a message
/// naming a missing file, or bytes past a file's end, gets an error and the connection goes
/// on; the client's file is removed when it disconnects. Every byte of the arrays arrives, as
/// it does for large arrays in the messages (read from the socket into their storage).
#[test]
fn shared_memory_arrays_from_a_local_client() {
    let mut app = serving();
    let (file, kinds) = drive(&mut app, |addr| -> Result<(String, Vec<String>), ClientError> {
        let mut v = Client::connect(&addr)?;
        assert!(v.shared_memory(), "a local client of a 1.1 viewer uses shared memory");
        let n = 50_000; // 800 KB: through shared memory
        let p: Vec<[f32; 3]> = (0..n).map(|i| [i as f32, 1.0, 2.0]).collect();
        v.points("big", &p, Some(&vec![[255, 0, 0, 255]; n]))?;
        // Streamed: more requests than regions of the file, each its own values.
        for k in 0..10 {
            let q: Vec<[f32; 3]> = (0..n).map(|i| [i as f32, k as f32, 0.0]).collect();
            let arrays = [protocol::Array::f32("positions", &[n, 3], q.as_flattened())];
            v.send(serde_json::json!({"type": "points", "name": "streamed"}), &arrays)?;
        }
        v.flush()?;
        let files = vec![v.shared_memory_file().unwrap_or_default().to_string()];
        assert!(std::path::Path::new("/dev/shm").join(&files[0]).is_file(), "{files:?}");
        // Hostile or broken references.
        let mut kinds = Vec::new();
        let big = |file: &str, offset: u64| {
            let mut m = protocol::Message::new(
                serde_json::json!({"type": "points", "name": "bad"}),
                vec![protocol::Array::f32("positions", &[n, 3], &vec![0.0; n * 3])],
            );
            m.arrays[0].data = Default::default();
            m.shared.push((0, protocol::SharedBytes { file: file.into(), offset }));
            m
        };
        // A connection that named no file in its hello may use none.
        kinds.push(raw_call(&addr, None, &[big(&files[0], 64)]).remove(0));
        // One that named its own (the nonce read back) may use that one only, within it.
        let own = format!("xpg-test-{}", std::process::id());
        let path = std::path::Path::new("/dev/shm").join(&own);
        let nonce = "0123456789abcdef0123456789abcdef";
        let mut bytes = nonce.as_bytes().to_vec();
        bytes.resize(64 + n * 12, 0);
        std::fs::write(&path, &bytes)?;
        let replies = raw_call(
            &addr,
            Some((&own, nonce)),
            &[big(&files[0], 64), big(&own, 1 << 40), big(&own, 64)],
        );
        let _ = std::fs::remove_file(&path);
        kinds.extend(replies);
        v.points("after", &p[..10], None)?;
        // The same arrays in the messages, streamed back to back so that an array's first
        // bytes sit in the reader's buffer and the rest comes from the socket; sizes that are
        // no multiple of anything.
        let mut w = Client::connect(&addr)?;
        w.set_shared_memory(false)?;
        for (k, m) in [(0, 50_000), (1, 30_001), (2, 77_777)] {
            let q: Vec<[f32; 3]> = (0..m).map(|i| [i as f32, k as f32, -(i as f32)]).collect();
            let arrays = [protocol::Array::f32("positions", &[m, 3], q.as_flattened())];
            w.send(serde_json::json!({"type": "points", "name": format!("tcp/{k}")}), &arrays)?;
        }
        w.flush()?;
        w.query()?;
        Ok((files[0].clone(), kinds))
    })
    .expect("client");
    assert!(kinds[0].contains("named their file in 'hello'"), "{kinds:?}");
    assert!(kinds[1].contains("not the shared-memory file this client named"), "{kinds:?}");
    assert!(kinds[2].contains("past its end"), "{kinds:?}");
    assert_eq!(kinds[3], "ok", "its own file, within it: {kinds:?}");
    let s = app.scene();
    let big = s.point_sets.iter().find(|p| p.name == "big").expect("big");
    assert_eq!(big.positions.len(), 50_000);
    assert_eq!(big.positions[49_999], [49_999.0, 1.0, 2.0]);
    assert_eq!(big.colors[7], [255, 0, 0, 255]);
    // Every byte where it belongs (the file is read in chunks by several threads).
    assert!(big.positions.iter().enumerate().all(|(i, p)| *p == [i as f32, 1.0, 2.0]));
    assert!(big.colors.iter().all(|c| *c == [255, 0, 0, 255]));
    let streamed = s.point_sets.iter().find(|p| p.name == "streamed").expect("streamed");
    assert!(
        streamed.positions.iter().enumerate().all(|(i, p)| *p == [i as f32, 9.0, 0.0]),
        "the last request applied last, whole"
    );
    for (k, m) in [(0, 50_000), (1, 30_001), (2, 77_777)] {
        let name = format!("tcp/{k}");
        let t = s.point_sets.iter().find(|p| p.name == name).expect("tcp points");
        assert_eq!(t.positions.len(), m, "{name}");
        let exact = t.positions.iter().enumerate();
        assert!(exact.clone().all(|(i, p)| *p == [i as f32, k as f32, -(i as f32)]), "{name}");
    }
    assert!(s.point_sets.iter().any(|p| p.name == "after"));
    assert!(!std::path::Path::new("/dev/shm").join(&file).exists(), "{file} removed");
}

/// Requests on a new connection (its hello offering `shm`: a file and its nonce): each
/// reply's message ("ok" for an ok), then a query shows that the connection goes on.
fn raw_call(addr: &str, shm: Option<(&str, &str)>, ms: &[protocol::Message]) -> Vec<String> {
    let s = TcpStream::connect(addr).expect("connect");
    let mut w = std::io::BufWriter::new(s.try_clone().expect("clone"));
    let mut r = std::io::BufReader::new(s);
    let mut hello = serde_json::json!({"type": "hello", "version": [1, 1]});
    if let Some((file, nonce)) = shm {
        hello["shm"] = serde_json::json!(file);
        hello["shm_nonce"] = serde_json::json!(nonce);
    }
    protocol::Message::new(hello, vec![]).write(&mut w).expect("hello");
    let limits = protocol::Limits::default();
    let welcome = protocol::Message::read(&mut r, &limits).expect("welcome");
    let accepted = welcome.header.get("shared_memory") == Some(&serde_json::json!(true));
    assert_eq!(accepted, shm.is_some(), "{:?}", welcome.header);
    let mut out = Vec::new();
    for (k, m) in ms.iter().enumerate() {
        let mut m = m.clone();
        m.header.insert("id".into(), serde_json::json!(k));
        m.write(&mut w).expect("write");
        let reply = protocol::Message::read(&mut r, &limits).expect("reply");
        out.push(match reply.kind() {
            "ok" => "ok".to_string(),
            _ => reply.header.get("message").and_then(|m| m.as_str()).unwrap_or("").to_string(),
        });
    }
    protocol::Message::new(serde_json::json!({"type": "query", "id": 1}), vec![])
        .write(&mut w)
        .expect("write");
    let q = protocol::Message::read(&mut r, &limits).expect("the connection goes on");
    assert_eq!(q.kind(), "objects", "{:?}", q.header);
    out
}

/// A client asks what is under a pixel (after its earlier messages), and hears of clicks in
/// a viewport (scripted: press and release at the viewport's centre) as pick events.
#[test]
fn pick_over_the_protocol_and_clicks_reach_clients() {
    // The viewport's image at 640 x 480: below its toolbar, right of the side panel. A click
    // at its centre, then the cursor over the wall (outlined) and a picture of the window.
    let shot = std::env::temp_dir().join(format!("xpg-hover-{}.png", std::process::id()));
    let script = format!(
        "40 move 392 262\n42 down left\n44 up left\n50 move 420 330\n54 screenshot {}\n",
        shot.display()
    );
    let o = ViewerOptions { size: (640, 480), ..Default::default() };
    let mut app = serving_with(o, &script);
    let shot_path = shot.clone();
    let (asked, clicked) = drive_at(&mut app, (640, 480), move |addr| -> Result<_, ClientError> {
        let mut v = Client::connect(&addr)?;
        // A wall framed by the camera (the first object), a point in front of its centre.
        let wall = [[-2.0, -2.0, 0.0], [2.0, -2.0, 0.0], [2.0, 2.0, 0.0], [-2.0, 2.0, 0.0]];
        v.mesh("wall", &wall, &[[0, 1, 2], [0, 2, 3]], Some([0.5, 0.5, 0.5, 1.0]))?;
        v.subscribe(&["pick"])?;
        let (w, h, _) = v.screenshot(None)?;
        let (w, h) = (f64::from(w), f64::from(h));
        let asked = v.pick(None, (w * 0.3) as f32, (h * 0.5) as f32)?;
        let missed = v.pick(None, 1.0e6, 1.0)?;
        assert_eq!(missed["hit"], false, "{missed}");
        let start = Instant::now();
        let mut clicked = serde_json::Value::Null;
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(e) = v.next_event(Duration::from_millis(200))? {
                if e.header["event"] == "pick" {
                    clicked = serde_json::Value::Object(e.header);
                }
            }
            // Until the window's picture (frame 54) is taken.
            if !clicked.is_null() && std::fs::metadata(&shot_path).is_ok() {
                break;
            }
        }
        Ok((asked, clicked))
    })
    .expect("client");
    assert_eq!(asked["hit"], true, "{asked}");
    assert_eq!(asked["kind"], "mesh", "{asked}");
    assert_eq!(asked["object"], "wall", "{asked}");
    assert!(asked["position"][2].as_f64().is_some_and(|z| z.abs() < 1e-3), "{asked}");
    assert_eq!(clicked["hit"], true, "{clicked}");
    assert_eq!(clicked["object"], "wall", "{clicked}");
    // The hovered wall's outline (orange) is in the window's picture.
    let img = image::open(&shot).expect("the window's picture").to_rgba8();
    let outline =
        img.pixels().filter(|p| p[0] > 200 && (150..230).contains(&p[1]) && p[2] < 110).count();
    assert!(outline > 50, "{outline} outline pixels");
    let _ = std::fs::remove_file(&shot);
    assert_eq!(app.validation_messages(), 0);
}

/// Axis triads and camera frusta at poses: line sets with a segment per axis (x red, y green,
/// z blue) and per frustum edge; a frustum's far corners at the asked depth and field of view.
#[test]
fn frustum_and_axes_from_poses() {
    let mut app = serving();
    drive(&mut app, |addr| -> Result<(), ClientError> {
        let mut v = Client::connect(&addr)?;
        let id = [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let mut moved = id;
        moved[0][3] = 2.0; // translated by x = 2 (rows: translation in the last column)
        v.axes("poses", &[id, moved], 0.5)?;
        v.frustum("cams", &[moved], 90.0, 2.0, 1.0)?;
        let bad = v.frustum("bad", &[id], 200.0, 1.0, 1.0).expect_err("a field of view of 200");
        assert!(bad.to_string().contains("fov"), "{bad}");
        // With cameras to look through, one per pose.
        let poses: Vec<f32> = [id, moved].iter().flatten().flatten().copied().collect();
        let h = serde_json::json!({"type": "frustum", "name": "rig", "fov": 40.0, "cameras": true});
        v.request(h, vec![protocol::Array::f32("poses", &[2, 4, 4], &poses)])?;
        Ok(())
    })
    .expect("client");
    let s = app.scene();
    let axes = s.line_sets.iter().find(|l| l.name == "poses").expect("axes");
    assert_eq!(axes.positions.len(), 12, "3 segments per pose");
    assert_eq!(axes.positions[7], [2.5, 0.0, 0.0], "the second pose's x axis, 0.5 long");
    assert_eq!(axes.colors[6][0], 230, "x is red");
    assert_eq!(axes.colors[8][1], 200, "y is green");
    let rig: Vec<&scene::Camera> =
        s.cameras.iter().filter(|c| c.name.starts_with("rig/camera/")).collect();
    assert_eq!(rig.len(), 2, "a camera per pose");
    let node = s.nodes.iter().find(|n| n.name == "rig/camera/1").expect("the second camera's node");
    assert!((node.world.w_axis.x - 2.0).abs() < 1e-6, "at the second pose");
    let f = s.line_sets.iter().find(|l| l.name == "cams").expect("frustum");
    assert_eq!(f.positions.len(), 20, "4 edges from the eye, the rectangle, the up marker");
    assert_eq!(f.positions[0], [2.0, 0.0, 0.0], "the eye");
    // 90 degrees vertically at depth 1: half-height 1, half-width 2 (aspect 2).
    let far = f.positions[1];
    assert!(
        (far[0] - 0.0).abs() < 1e-5 && (far[1] + 1.0).abs() < 1e-5 && (far[2] + 1.0).abs() < 1e-5,
        "{far:?}"
    );
    assert_eq!(app.validation_messages(), 0);
}

/// A click on a frustum drawn with cameras (protocol 'frustum', cameras: true) picks its segment
/// and names the camera node of that pose, which the click selects to look through.
#[test]
fn frustum_pick_names_the_camera_of_its_pose() {
    let mut app = serving();
    let picked = drive(&mut app, |addr| -> Result<serde_json::Value, ClientError> {
        let mut v = Client::connect(&addr)?;
        let mut poses = Vec::new();
        for x in [0.0f32, 1.5] {
            poses.extend([1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
            poses.extend([x, 0.0, 0.0, 1.0]); // columns: translated by x
        }
        let h = serde_json::json!({"type": "frustum", "name": "rig", "fov": 60.0, "depth": 1.0,
                                   "cameras": true, "color": [255, 0, 255, 255]});
        v.request(h, vec![protocol::Array::f32("poses", &[2, 4, 4], &poses)])?;
        v.look_at([0.75, 2.0, 2.5], [0.75, 0.0, -0.5], [0.0, 1.0, 0.0])?;
        let (w, h, px) = v.screenshot(None)?;
        // The magenta pixels are the frusta's segments: pick them until one is hit.
        for y in 0..h {
            for x in 0..w {
                let p = &px[((y * w + x) * 4) as usize..][..4];
                if p[0] > 150 && p[2] > 150 && p[1] < 100 {
                    let pick = v.pick(None, x as f32, y as f32)?;
                    if pick["kind"] == "lines" {
                        return Ok(pick);
                    }
                }
            }
        }
        Ok(serde_json::Value::Null)
    })
    .expect("client");
    assert_eq!(picked["name"], "rig", "{picked}");
    assert_eq!(picked["element"], "segment", "{picked}");
    let pose = picked["index"].as_u64().expect("a segment") / 10;
    let node = picked["node"].as_u64().expect("the pose's camera node") as usize;
    let s = app.scene();
    assert_eq!(s.nodes[node].name, format!("rig/camera/{pose}"));
    assert!(s.nodes[node].camera.is_some());
    assert_eq!(app.validation_messages(), 0);
}

/// Spheres, arrows, voxels (a list and a grid) and tubes over the protocol become meshes of
/// the scene with their colours; bad shapes are refused with the reason and change nothing.
#[test]
fn spheres_arrows_voxels_and_tubes_over_the_protocol() {
    let mut app = serving();
    let shots = drive(&mut app, |addr| -> Result<Vec<Vec<u8>>, ClientError> {
        let mut v = Client::connect(&addr)?;
        let red = [[255, 0, 0, 255]];
        v.spheres("balls", &[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], &[0.4, 0.2], &[red[0]; 2], 2)?;
        v.look_at([0.5, 0.0, 4.0], [0.5, 0.0, 0.0], [0.0, 1.0, 0.0])?;
        let (w, h, balls) = v.screenshot(None)?;
        // The rightmost red pixel of the middle row: the rim of sphere 1 (impostors are picked
        // as the exact spheres), reported with the sphere's centre and colour.
        let row = h / 2;
        let x = (0..w)
            .rev()
            .find(|&x| balls[((row * w + x) * 4) as usize] > 150)
            .expect("a red pixel in the middle row");
        let pick = v.pick(None, x as f32, row as f32)?;
        assert_eq!(pick["element"], "sphere", "{pick}");
        assert_eq!(pick["index"], 1, "{pick}");
        let centre: Vec<f64> =
            pick["position"].as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect();
        assert!(
            centre.len() == 3 && (centre[0] - 1.0).abs() + centre[1].abs() + centre[2].abs() < 1e-5,
            "{pick}"
        );
        assert_eq!(pick["color"], serde_json::json!([255, 0, 0, 255]), "{pick}");
        v.arrows(
            "field",
            &[[0.0, -1.0, 0.0], [0.0, 0.0, 0.0]],
            &[[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]],
            0.5,
        )?;
        v.voxels("cells", &[[0, 0, 0], [1, 0, 0], [5, 5, 5]], &[0.0, 1.0, 2.0], 0.1)?;
        v.voxel_grid("grid", [2, 2, 2], &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0], 0.5, 0.5)?;
        v.tubes("path", &[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]], true, 0.05)?;
        let e = v.spheres("bad", &[[0.0; 3]; 3], &[1.0, 2.0], &[], 1).expect_err("2 radii for 3");
        assert!(e.to_string().contains("radii"), "{e}");
        let e = v.spheres("bad", &[[0.0; 3]], &[1.0], &[], 9).expect_err("detail 9");
        assert!(e.to_string().contains("detail"), "{e}");
        let e = v.arrows("bad", &[[0.0; 3]], &[], 1.0).expect_err("no vectors");
        assert!(e.to_string().contains("vectors"), "{e}");
        // The client refuses an array whose bytes do not match its shape (the framing).
        let e = v.voxel_grid("bad", [2, 2, 2], &[1.0; 7], 0.5, 0.0).expect_err("7 values");
        assert!(e.to_string().contains("grid"), "{e}");
        let e = v.voxel_grid("bad", [2, 2, 0], &[], 0.5, 0.0).expect_err("an empty grid");
        assert!(e.to_string().contains("Z x Y x X"), "{e}");
        Ok(vec![balls])
    })
    .expect("client");
    assert!(red_pixels(&shots[0]) > 200, "two red balls: {} red pixels", red_pixels(&shots[0]));
    let s = app.scene();
    let mesh = |name: &str| {
        let m = s.meshes.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("{name}"));
        m.primitives[0].clone()
    };
    let balls = mesh("balls");
    assert_eq!(balls.positions.len(), 2 * 162, "two icospheres of 2 subdivisions");
    assert!(balls.colors.iter().all(|c| c[0] > 0.99 && c[1] < 0.01), "red");
    let field = mesh("field");
    let top = field.positions.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
    assert!((top - 1.0).abs() < 1e-5, "the second arrow ends at y = 2 * 0.5: {top}");
    // By length (viridis): the longer arrow's vertices are yellower.
    assert!(field.colors.last().expect("colours")[1] > field.colors[0][1]);
    let cells = mesh("cells");
    assert_eq!(cells.indices.len() / 6, 16, "two touching cells (10 faces) and one alone (6)");
    let grid = mesh("grid");
    assert_eq!(grid.indices.len() / 6, 12, "two cells above 0.5, apart: 6 faces each");
    assert!(!mesh("path").indices.is_empty());
    assert!(s.meshes.iter().all(|m| m.name != "bad"), "nothing of the refused shapes");
    assert_eq!(app.validation_messages(), 0);
}

/// Points sized in world units are round splats that grow as they come nearer: a point of
/// diameter 0.5 covers about 4 times the pixels at half the distance.
#[test]
fn points_sized_in_world_units_grow_when_nearer() {
    let mut app = serving();
    let counts = drive(&mut app, |addr| -> Result<Vec<usize>, ClientError> {
        let mut v = Client::connect(&addr)?;
        let header = serde_json::json!({"type": "points", "name": "ball", "size_world": 0.5});
        let arrays = vec![
            protocol::Array::f32("positions", &[1, 3], &[0.0, 0.0, 0.0]),
            protocol::Array::u8("colors", &[1, 4], &[255, 0, 0, 255]),
        ];
        v.request(header, arrays)?;
        let mut counts = Vec::new();
        for d in [8.0, 4.0] {
            v.look_at([0.0, 0.0, d], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0])?;
            counts.push(red_pixels(&v.screenshot(None)?.2));
        }
        Ok(counts)
    })
    .expect("client");
    let (far, near) = (counts[0] as f64, counts[1] as f64);
    assert!(far >= 4.0, "{counts:?}");
    assert!((near / far - 4.0).abs() < 1.5, "about 4 times the pixels: {counts:?}");
    assert_eq!(app.validation_messages(), 0);
}
