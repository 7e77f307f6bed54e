//! # xpg-client: a Rust program's connection to `xpg-view --listen`
//!
//! ```no_run
//! let mut v = xpg_client::Client::connect("127.0.0.1:9870")?;
//! v.points("robot/scan", &[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], None)?;
//! let shot = v.screenshot(None)?; // width, height, RGBA8 pixels
//! # Ok::<(), xpg_client::ClientError>(())
//! ```
//!
//! Every call waits for the viewer's reply, so a call that returns has been applied (and a
//! screenshot shows every earlier call). Errors the viewer reports come back as
//! [`ClientError::Viewer`] with its message. [`Client::send`] streams without waiting (its
//! errors come back from a later call, or from [`Client::flush`]).
//!
//! On the viewer's machine (a loopback address, Linux, a viewer of protocol 1.1 or later),
//! large arrays travel through shared memory: a file in `/dev/shm` that this client writes
//! and the viewer reads, in a few regions reused once the viewer has answered the request
//! that used them ([`Client::set_shared_memory`] turns it off).

use std::collections::VecDeque;
use std::io::BufWriter;
use std::net::TcpStream;

use protocol::{Array, Dtype, Limits, Message, SharedBytes};
use serde_json::{json, Value};

/// Arrays of at least this many bytes in all go through shared memory when it is on.
const SHARED_FROM: usize = 256 << 10;

/// Regions of the shared-memory file (requests in flight that use it).
const REGIONS: usize = 4;

/// The regions start after the nonce the viewer reads back in the handshake.
const REGIONS_AT: u64 = 64;

/// At most this many requests sent without waiting are in flight (the viewer keeps a bounded
/// number of replies per client).
const MAX_PENDING: usize = 128;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The connection.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A message that could not be read.
    #[error(transparent)]
    Protocol(#[from] protocol::ProtocolError),
    /// The viewer refused the request: its message.
    #[error("viewer: {0}")]
    Viewer(String),
}

/// A connection to a viewer.
#[derive(Debug)]
pub struct Client {
    reader: std::io::BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    next_id: u64,
    limits: Limits,
    /// Events that arrived while waiting for a reply.
    events: VecDeque<Message>,
    /// Requests sent without waiting whose replies have not come yet.
    pending: VecDeque<u64>,
    /// An error the viewer reported for one of them (returned by the next call).
    deferred: Option<String>,
    /// The shared-memory file the viewer accepted in the handshake.
    shared: Option<SharedFile>,
    /// Large arrays go through it.
    use_shared: bool,
    /// The viewer's name and version (from its welcome).
    pub server: String,
    /// The viewer's protocol version.
    pub version: (u32, u32),
}

/// The shared-memory file: `REGIONS` regions of `region` bytes, each with the request that
/// last used it.
#[derive(Debug)]
struct SharedFile {
    file: std::fs::File,
    name: String,
    region: u64,
    users: [Option<u64>; REGIONS],
    next: usize,
}

impl SharedFile {
    /// A new file in `/dev/shm` (mode 0600) with a random nonce at its start; the nonce.
    fn create() -> std::io::Result<(Self, String)> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        if !cfg!(target_os = "linux") {
            return Err(std::io::ErrorKind::Unsupported.into());
        }
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("xpg-{}-{n}-{:x}", std::process::id(), nonce());
        let path = std::path::Path::new("/dev/shm").join(&name);
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let file = options.open(&path)?;
        let me = Self { file, name, region: 0, users: [None; REGIONS], next: 0 };
        let secret = format!("{:016x}{:016x}", nonce(), nonce());
        me.file.set_len(REGIONS_AT)?;
        write_at(&me.file, 0, secret.as_bytes())?;
        Ok((me, secret))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // The viewer may not have read the requests in flight yet: their file stays until
        // it has answered them.
        if !self.pending.is_empty() {
            let _ = self.flush();
        }
    }
}

impl Drop for SharedFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(std::path::Path::new("/dev/shm").join(&self.name));
    }
}

/// An array to send: its name, type, shape and bytes (little-endian, C order).
type Part<'a> = (&'a str, Dtype, Vec<usize>, &'a [u8]);

/// A screenshot: width, height and RGBA8 pixels (rows from the top).
pub type Screenshot = (u32, u32, Vec<u8>);

impl Client {
    /// Connects and shakes hands (protocol [`protocol::VERSION`]).
    pub fn connect(addr: &str) -> Result<Self, ClientError> {
        Self::connect_with_token(addr, None)
    }

    /// [`Client::connect`] to a viewer that asks for a token.
    pub fn connect_with_token(addr: &str, token: Option<&str>) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let local = stream.peer_addr().is_ok_and(|a| a.ip().to_canonical().is_loopback());
        // Shared memory offered on this machine: a file with a nonce the viewer reads back.
        let offer = if local { SharedFile::create().ok() } else { None };
        let mut c = Self {
            reader: std::io::BufReader::new(stream.try_clone()?),
            writer: BufWriter::new(stream),
            next_id: 1,
            limits: Limits::default(),
            events: Default::default(),
            pending: Default::default(),
            deferred: None,
            shared: None,
            use_shared: false,
            server: String::new(),
            version: (0, 0),
        };
        let v = protocol::VERSION;
        let mut hello = json!({"type": "hello", "version": [v.0, v.1],
                               "client": "xpg-client (Rust)", "token": token});
        if let (Some((f, nonce)), Value::Object(h)) = (&offer, &mut hello) {
            h.insert("shm".into(), json!(f.name));
            h.insert("shm_nonce".into(), json!(nonce));
        }
        Message::new(hello, vec![]).write(&mut c.writer)?;
        let reply = Message::read(&mut c.reader, &c.limits)?;
        match reply.kind() {
            "welcome" => {
                c.server = reply.header.get("server").and_then(Value::as_str).unwrap_or("").into();
                let v = reply.header.get("version").and_then(Value::as_array);
                let n = |k: usize| v.and_then(|v| v.get(k)).and_then(Value::as_u64).unwrap_or(0);
                c.version = (n(0) as u32, n(1) as u32);
                // The viewer read the nonce back: it sees this file (else it goes).
                if reply.header.get("shared_memory") == Some(&Value::Bool(true)) {
                    c.shared = offer.map(|(f, _)| f);
                    c.use_shared = c.shared.is_some();
                }
                Ok(c)
            }
            _ => Err(ClientError::Viewer(message_of(&reply))),
        }
    }

    /// The next event (a subscribed key, timeline or selection change, a widget of this
    /// client), waiting up to `timeout`; events that arrived while waiting for replies come
    /// first. None: none came.
    pub fn next_event(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<Option<Message>, ClientError> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        // Wait (up to the timeout) for the first bytes only, then read the whole message:
        // a timeout never cuts a message in two.
        use std::io::BufRead as _;
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout.max(std::time::Duration::from_millis(1))))?;
        let ready = match self.reader.fill_buf() {
            Ok(b) => Ok(!b.is_empty()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        };
        self.reader.get_ref().set_read_timeout(None)?;
        if !ready? {
            return Ok(None);
        }
        let m = Message::read(&mut self.reader, &self.limits)?;
        // A reply to a request sent without waiting: taken off the list (its error kept).
        let of = m.id().and_then(|r| self.pending.iter().position(|&p| p == r));
        if let Some(k) = of {
            self.pending.remove(k);
        }
        match m.kind() {
            "event" => Ok(Some(m)),
            "error" if of.is_some() => {
                self.deferred.get_or_insert(message_of(&m));
                Ok(None)
            }
            "error" => Err(ClientError::Viewer(message_of(&m))),
            _ => Ok(None),
        }
    }

    /// Passes large arrays through shared memory (`on`: where the viewer accepted it in the
    /// handshake, being on this machine and seeing this client's file), or in the messages.
    pub fn set_shared_memory(&mut self, on: bool) -> Result<(), ClientError> {
        if !on {
            self.flush()?;
        }
        self.use_shared = on && self.shared.is_some();
        Ok(())
    }

    /// Whether large arrays go through shared memory.
    pub fn shared_memory(&self) -> bool {
        self.use_shared
    }

    /// The name in `/dev/shm` of the shared-memory file the viewer accepted, if any.
    pub fn shared_memory_file(&self) -> Option<&str> {
        self.shared.as_ref().map(|f| f.name.as_str())
    }

    /// Sends `header` and `arrays` with a new id and waits for the reply.
    pub fn request(&mut self, header: Value, arrays: Vec<Array>) -> Result<Message, ClientError> {
        let parts: Vec<Part<'_>> = arrays
            .iter()
            .map(|a| (a.name.as_str(), a.dtype, a.shape.clone(), &a.data[..]))
            .collect();
        self.call(header, &parts)
    }

    /// Sends `header` and `arrays` without waiting for the reply (streaming): an error the
    /// viewer reports for it comes back from a later call or [`Client::flush`].
    pub fn send(&mut self, header: Value, arrays: &[Array]) -> Result<(), ClientError> {
        let parts: Vec<Part<'_>> = arrays
            .iter()
            .map(|a| (a.name.as_str(), a.dtype, a.shape.clone(), &a.data[..]))
            .collect();
        // A bounded number in flight (the oldest waited for).
        while self.pending.len() >= MAX_PENDING {
            if let Some(&oldest) = self.pending.front() {
                self.wait_quietly(oldest)?;
            }
        }
        let id = self.send_parts(header, &parts)?;
        self.pending.push_back(id);
        Ok(())
    }

    /// Waits until the viewer has answered every request sent; the first error it reported.
    pub fn flush(&mut self) -> Result<(), ClientError> {
        while let Some(&id) = self.pending.front() {
            self.wait(id)?;
        }
        match self.deferred.take() {
            Some(e) => Err(ClientError::Viewer(e)),
            None => Ok(()),
        }
    }

    fn call(&mut self, header: Value, parts: &[Part<'_>]) -> Result<Message, ClientError> {
        if let Some(e) = self.deferred.take() {
            return Err(ClientError::Viewer(e));
        }
        let id = self.send_parts(header, parts)?;
        self.wait(id)
    }

    /// Writes a request (its large arrays into a region of the shared-memory file); returns
    /// its id.
    fn send_parts(&mut self, mut header: Value, parts: &[Part<'_>]) -> Result<u64, ClientError> {
        // An array whose bytes do not match its shape would break the framing: refused here.
        for (name, dtype, shape, bytes) in parts {
            let want = shape.iter().try_fold(dtype.size(), |n, &d| n.checked_mul(d));
            if want != Some(bytes.len()) {
                return Err(ClientError::Protocol(protocol::ProtocolError::Invalid(format!(
                    "array '{name}': {} bytes for shape {shape:?} of {}",
                    bytes.len(),
                    dtype.name()
                ))));
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        if let Value::Object(m) = &mut header {
            m.insert("id".into(), json!(id));
        }
        let align = |x: u64| x.div_ceil(64) * 64;
        let total: u64 = parts.iter().map(|p| align(p.3.len() as u64)).sum();
        let shared = self.use_shared && total as usize >= SHARED_FROM;
        // The arrays' specs, without their bytes (written below, or into shared memory).
        let mut m = Message::new(header, Vec::new());
        for (name, dtype, shape, _) in parts {
            m.arrays.push(Array {
                name: name.to_string(),
                dtype: *dtype,
                shape: shape.clone(),
                data: Default::default(),
            });
        }
        if shared {
            let base = self.region_for(total)?;
            if let Some(f) = &mut self.shared {
                let mut at = base;
                for (i, part) in parts.iter().enumerate() {
                    write_at(&f.file, at, part.3)?;
                    m.shared.push((i, SharedBytes { file: f.name.clone(), offset: at }));
                    at += align(part.3.len() as u64);
                }
                f.users[((base - REGIONS_AT) / f.region.max(1)) as usize % REGIONS] = Some(id);
            }
            m.write(&mut self.writer)?;
        } else {
            use std::io::Write as _;
            // The header (array bytes empty in `m`), then the arrays' bytes as they are.
            let mut head = Vec::new();
            m.write(&mut head)?;
            self.writer.write_all(&head)?;
            for p in parts {
                self.writer.write_all(p.3)?;
            }
            self.writer.flush()?;
        }
        Ok(id)
    }

    /// The offset of a free region of at least `bytes` (waiting for the request that used it;
    /// growing the file, once every region is free, when they are too small).
    fn region_for(&mut self, bytes: u64) -> Result<u64, ClientError> {
        let Some(f) = &self.shared else { return Ok(0) };
        if f.region < bytes {
            let users: Vec<u64> = f.users.iter().flatten().copied().collect();
            for id in users {
                self.wait_quietly(id)?;
            }
            let Some(f) = &mut self.shared else { return Ok(0) };
            f.region = bytes.next_power_of_two().max(1 << 20);
            f.file.set_len(REGIONS_AT + f.region * REGIONS as u64)?;
            f.users = [None; REGIONS];
        }
        let Some(f) = &mut self.shared else { return Ok(0) };
        let k = f.next;
        f.next = (k + 1) % REGIONS;
        let (user, region) = (f.users[k].take(), f.region);
        if let Some(id) = user {
            self.wait_quietly(id)?;
        }
        Ok(REGIONS_AT + k as u64 * region)
    }

    /// Waits for `id`'s reply if it is still to come (the viewer's error in it is kept for
    /// later; a broken connection is an error now).
    fn wait_quietly(&mut self, id: u64) -> Result<(), ClientError> {
        if self.pending.contains(&id) {
            match self.wait(id) {
                Ok(_) => {}
                Err(ClientError::Viewer(e)) => {
                    self.deferred.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads until `id`'s reply (events are kept; replies to requests sent without waiting
    /// are taken off the list, an error among them kept for later).
    fn wait(&mut self, id: u64) -> Result<Message, ClientError> {
        loop {
            let reply = Message::read(&mut self.reader, &self.limits)?;
            if reply.kind() == "event" {
                self.events.push_back(reply);
                continue;
            }
            let of = reply.id();
            if let Some(k) = of.and_then(|r| self.pending.iter().position(|&p| p == r)) {
                self.pending.remove(k);
            }
            if reply.kind() == "error" && (of == Some(id) || of.is_none()) {
                return Err(ClientError::Viewer(message_of(&reply)));
            }
            if reply.kind() == "error" {
                self.deferred.get_or_insert(message_of(&reply));
            }
            if of == Some(id) {
                return Ok(reply);
            }
        }
    }

    /// A point cloud: created, or replaced when `name` exists. `colors`: sRGB RGBA8.
    pub fn points(
        &mut self,
        name: &str,
        positions: &[[f32; 3]],
        colors: Option<&[[u8; 4]]>,
    ) -> Result<(), ClientError> {
        self.points_at(name, positions, colors, None)
    }

    /// A sample of a point sequence at `time` seconds (None: static).
    pub fn points_at(
        &mut self,
        name: &str,
        positions: &[[f32; 3]],
        colors: Option<&[[u8; 4]]>,
        time: Option<f64>,
    ) -> Result<(), ClientError> {
        // The caller's bytes as they are (no copy on a little-endian machine).
        let p = le_words(positions);
        let mut parts: Vec<Part<'_>> =
            vec![("positions", Dtype::F32, vec![positions.len(), 3], &p)];
        if let Some(c) = colors {
            parts.push(("colors", Dtype::U8, vec![c.len(), 4], c.as_flattened()));
        }
        self.call(json!({"type": "points", "name": name, "time": time}), &parts)?;
        Ok(())
    }

    /// A triangle mesh (`faces`: three vertex indices each) with a base colour.
    pub fn mesh(
        &mut self,
        name: &str,
        vertices: &[[f32; 3]],
        faces: &[[u32; 3]],
        color: Option<[f32; 4]>,
    ) -> Result<(), ClientError> {
        let faces = Array::u32("faces", &[faces.len(), 3], faces.as_flattened());
        self.request(
            json!({"type": "mesh", "name": name, "color": color}),
            vec![vec3s("vertices", vertices), faces],
        )?;
        Ok(())
    }

    /// A mesh with per-vertex `colors` (sRGB RGBA8), static or (with `time`) a sample of a
    /// mesh sequence (each sample its own vertices, faces and colours).
    pub fn mesh_at(
        &mut self,
        name: &str,
        vertices: &[[f32; 3]],
        faces: &[[u32; 3]],
        colors: Option<&[[u8; 4]]>,
        time: Option<f64>,
    ) -> Result<(), ClientError> {
        let (v, f) = (le_words(vertices), le_words(faces));
        let mut parts: Vec<Part<'_>> = vec![
            ("vertices", Dtype::F32, vec![vertices.len(), 3], &v),
            ("faces", Dtype::U32, vec![faces.len(), 3], &f),
        ];
        if let Some(c) = colors {
            parts.push(("colors", Dtype::U8, vec![c.len(), 4], c.as_flattened()));
        }
        self.call(json!({"type": "mesh", "name": name, "time": time}), &parts)?;
        Ok(())
    }

    /// An image (`pixels`: `height` rows of `width` sRGB RGBA8 pixels, from the top), shown
    /// on a quad; with `time`, a sample of an image sequence.
    pub fn image(
        &mut self,
        name: &str,
        width: usize,
        height: usize,
        pixels: &[[u8; 4]],
        time: Option<f64>,
    ) -> Result<(), ClientError> {
        let px: Part<'_> = ("pixels", Dtype::U8, vec![height, width, 4], pixels.as_flattened());
        self.call(json!({"type": "image", "name": name, "time": time}), &[px])?;
        Ok(())
    }

    /// Subscribes to `events` ("key", "timeline", "selection"), replacing the earlier list;
    /// they come from [`Client::next_event`].
    pub fn subscribe(&mut self, events: &[&str]) -> Result<(), ClientError> {
        self.request(json!({"type": "subscribe", "events": events}), vec![])?;
        Ok(())
    }

    /// A slider in the viewer's Clients panel: its changes come as "widget" events
    /// (`name`, `value`).
    pub fn slider(
        &mut self,
        name: &str,
        label: &str,
        range: (f64, f64),
        value: f64,
    ) -> Result<(), ClientError> {
        self.widget(json!({"name": name, "kind": "slider", "label": label, "min": range.0,
                           "max": range.1, "value": value}))
    }

    /// A button in the viewer's Clients panel: a click comes as a "widget" event (value true).
    pub fn button(&mut self, name: &str, label: &str) -> Result<(), ClientError> {
        self.widget(json!({"name": name, "kind": "button", "label": label}))
    }

    /// A checkbox in the viewer's Clients panel.
    pub fn checkbox(&mut self, name: &str, label: &str, value: bool) -> Result<(), ClientError> {
        self.widget(json!({"name": name, "kind": "checkbox", "label": label, "value": value}))
    }

    /// A line of text in the viewer's Clients panel (declared again to change it).
    pub fn text(&mut self, name: &str, text: &str) -> Result<(), ClientError> {
        self.widget(json!({"name": name, "kind": "text", "label": name, "value": text}))
    }

    /// Removes a widget of this client.
    pub fn remove_widget(&mut self, name: &str) -> Result<(), ClientError> {
        self.widget(json!({"name": name, "remove": true}))
    }

    fn widget(&mut self, mut w: Value) -> Result<(), ClientError> {
        if let Value::Object(m) = &mut w {
            m.insert("type".into(), json!("widget"));
        }
        self.request(w, vec![])?;
        Ok(())
    }

    /// The first viewport's camera (the reply's header: `eye`, `target`, `up`, `fov` in degrees).
    pub fn camera(&mut self) -> Result<Value, ClientError> {
        Ok(Value::Object(self.request(json!({"type": "camera"}), vec![])?.header))
    }

    /// Line segments (pairs of `positions`), or a strip.
    pub fn lines(
        &mut self,
        name: &str,
        positions: &[[f32; 3]],
        strip: bool,
    ) -> Result<(), ClientError> {
        self.request(
            json!({"type": "lines", "name": name, "strip": strip}),
            vec![vec3s("positions", positions)],
        )?;
        Ok(())
    }

    /// Coordinate-axis triads (x red, y green, z blue, `length` long) at `poses` (row-major
    /// 4 x 4 object-to-world matrices), as one object.
    pub fn axes(
        &mut self,
        name: &str,
        poses: &[[[f32; 4]; 4]],
        length: f32,
    ) -> Result<(), ClientError> {
        let v: Vec<f32> = poses.iter().flatten().flatten().copied().collect();
        let a = Array::f32("poses", &[poses.len(), 4, 4], &v);
        self.request(json!({"type": "axes", "name": name, "length": length}), vec![a])?;
        Ok(())
    }

    /// Camera frusta at `poses` (row-major camera-to-world matrices; the camera looks down
    /// -Z, +Y up): vertical field of view `fov` in degrees, `aspect` width / height, drawn to
    /// `depth` from the eye.
    pub fn frustum(
        &mut self,
        name: &str,
        poses: &[[[f32; 4]; 4]],
        fov: f32,
        aspect: f32,
        depth: f32,
    ) -> Result<(), ClientError> {
        let v: Vec<f32> = poses.iter().flatten().flatten().copied().collect();
        let a = Array::f32("poses", &[poses.len(), 4, 4], &v);
        let h =
            json!({"type": "frustum", "name": name, "fov": fov, "aspect": aspect, "depth": depth});
        self.request(h, vec![a])?;
        Ok(())
    }

    /// Spheres at `centers` of `radii` (one for all, or one each), `colors` (none, or one
    /// each, sRGB), icospheres of `detail` subdivisions (0-4): one mesh (protocol 1.2).
    pub fn spheres(
        &mut self,
        name: &str,
        centers: &[[f32; 3]],
        radii: &[f32],
        colors: &[[u8; 4]],
        detail: u32,
    ) -> Result<(), ClientError> {
        let mut arrays = vec![vec3s("centers", centers)];
        let mut h = json!({"type": "spheres", "name": name, "detail": detail});
        match radii {
            [r] => h["radius"] = json!(r),
            _ => arrays.push(Array::f32("radii", &[radii.len()], radii)),
        }
        if !colors.is_empty() {
            arrays.push(Array::u8("colors", &[colors.len(), 4], colors.as_flattened()));
        }
        self.request(h, arrays)?;
        Ok(())
    }

    /// Tubes of world-space `radius` along segments (pairs of `positions`) or a strip, with
    /// closed ends (protocol 1.2).
    pub fn tubes(
        &mut self,
        name: &str,
        positions: &[[f32; 3]],
        strip: bool,
        radius: f32,
    ) -> Result<(), ClientError> {
        let h = json!({"type": "tubes", "name": name, "strip": strip, "radius": radius});
        self.request(h, vec![vec3s("positions", positions)])?;
        Ok(())
    }

    /// Arrows from `origins` along `vectors` times `scale`, coloured by length (viridis)
    /// (protocol 1.2).
    pub fn arrows(
        &mut self,
        name: &str,
        origins: &[[f32; 3]],
        vectors: &[[f32; 3]],
        scale: f32,
    ) -> Result<(), ClientError> {
        let h = json!({"type": "arrows", "name": name, "scale": scale});
        self.request(h, vec![vec3s("origins", origins), vec3s("vectors", vectors)])?;
        Ok(())
    }

    /// Voxels of edge `size` at integer `cells` (x, y, z) coloured by `values` (none, or one
    /// each) through viridis (protocol 1.2).
    pub fn voxels(
        &mut self,
        name: &str,
        cells: &[[i32; 3]],
        values: &[f32],
        size: f32,
    ) -> Result<(), ClientError> {
        let mut arrays = vec![Array::i32("cells", &[cells.len(), 3], cells.as_flattened())];
        if !values.is_empty() {
            arrays.push(Array::f32("values", &[values.len()], values));
        }
        self.request(json!({"type": "voxels", "name": name, "size": size}), arrays)?;
        Ok(())
    }

    /// A dense voxel grid of `dims` (x, y, z) `values` (x fastest): cells above `threshold`
    /// filled, coloured through viridis (protocol 1.2).
    pub fn voxel_grid(
        &mut self,
        name: &str,
        dims: [usize; 3],
        values: &[f32],
        size: f32,
        threshold: f32,
    ) -> Result<(), ClientError> {
        let a = Array::f32("grid", &[dims[2], dims[1], dims[0]], values);
        let h = json!({"type": "voxels", "name": name, "size": size, "threshold": threshold});
        self.request(h, vec![a])?;
        Ok(())
    }

    /// An object's transform (`rows`: a row-major 4 x 4 matrix, as NumPy writes it).
    pub fn transform(&mut self, name: &str, rows: [[f32; 4]; 4]) -> Result<(), ClientError> {
        let v: Vec<f32> = rows.iter().flatten().copied().collect();
        self.request(
            json!({"type": "transform", "name": name}),
            vec![Array::f32("matrix", &[4, 4], &v)],
        )?;
        Ok(())
    }

    /// Deletes an object (or every object under `name/`).
    pub fn delete(&mut self, name: &str) -> Result<(), ClientError> {
        self.request(json!({"type": "delete", "name": name}), vec![])?;
        Ok(())
    }

    /// Plays, pauses or seeks the timeline.
    pub fn playback(&mut self, play: Option<bool>, seek: Option<f64>) -> Result<(), ClientError> {
        let action = match play {
            Some(true) => "play",
            Some(false) => "pause",
            None => "seek",
        };
        self.request(json!({"type": "playback", "action": action, "time": seek}), vec![])?;
        Ok(())
    }

    /// Sets the first viewport's camera.
    pub fn look_at(
        &mut self,
        eye: [f32; 3],
        target: [f32; 3],
        up: [f32; 3],
    ) -> Result<(), ClientError> {
        self.request(json!({"type": "camera", "eye": eye, "target": target, "up": up}), vec![])?;
        Ok(())
    }

    /// The scene's client objects (the reply's header).
    pub fn query(&mut self) -> Result<Value, ClientError> {
        Ok(Value::Object(self.request(json!({"type": "query"}), vec![])?.header))
    }

    /// A screenshot of viewport `viewport` (None: the first), after every earlier call.
    pub fn screenshot(&mut self, viewport: Option<u32>) -> Result<Screenshot, ClientError> {
        let r = self.request(json!({"type": "screenshot", "viewport": viewport}), vec![])?;
        let dim = |k: &str| r.header.get(k).and_then(Value::as_u64).unwrap_or(0) as u32;
        let px = r.array("pixels").map(|a| a.data.to_vec()).unwrap_or_default();
        Ok((dim("width"), dim("height"), px))
    }

    /// Sets a setting of a viewport's renderer (None: the first viewport): a switch, a
    /// number or an option's name, e.g. `set("transparency", json!("peeling"))` (protocol 1.2).
    pub fn set(
        &mut self,
        viewport: Option<u32>,
        key: &str,
        value: Value,
    ) -> Result<(), ClientError> {
        let h = json!({"type": "viewport", "action": "set", "viewport": viewport, "key": key,
                       "value": value});
        self.request(h, vec![])?;
        Ok(())
    }

    /// What is under pixel (`x`, `y`) (from the top left) of viewport `viewport` (None: the
    /// first), after every earlier call: the reply's header (`hit`, and when true `kind`,
    /// `name`, `object`, `index`, `position`, ...).
    pub fn pick(&mut self, viewport: Option<u32>, x: f32, y: f32) -> Result<Value, ClientError> {
        let h = json!({"type": "pick", "viewport": viewport, "x": x, "y": y});
        Ok(Value::Object(self.request(h, vec![])?.header))
    }

    /// An object's transform at `time` (a sample over time: scale, rotation and translation
    /// are interpolated between samples).
    pub fn transform_at(
        &mut self,
        name: &str,
        rows: [[f32; 4]; 4],
        time: f64,
    ) -> Result<(), ClientError> {
        let m = Array::f32("matrix", &[4, 4], rows.as_flattened());
        self.request(json!({"type": "transform", "name": name, "time": time}), vec![m])?;
        Ok(())
    }

    /// A light named `name` (created, or changed when it exists; with [`Light::time`], its
    /// colour, intensity and pose are a sample over time).
    pub fn light(&mut self, name: &str, light: &Light) -> Result<(), ClientError> {
        let kind = match light.kind {
            LightKind::Directional => "directional",
            LightKind::Point => "point",
            LightKind::Spot => "spot",
        };
        let h = json!({"type": "light", "name": name, "kind": kind, "color": light.color,
                       "intensity": light.intensity, "position": light.position,
                       "direction": light.direction, "cone": light.cone, "range": light.range,
                       "shadows": light.shadows, "time": light.time});
        self.request(h, vec![])?;
        Ok(())
    }

    /// Changes the material of mesh object `name` (what is None stays).
    pub fn material(&mut self, name: &str, material: &Material) -> Result<(), ClientError> {
        let h = json!({"type": "material", "name": name, "base_color": material.base_color,
                       "metallic": material.metallic, "roughness": material.roughness,
                       "emissive": material.emissive, "time": material.time});
        self.request(h, vec![])?;
        Ok(())
    }

    /// A camera of the scene named `name` (one more to look through; C in a viewport steps
    /// through them), with a vertical field of view in degrees.
    pub fn scene_camera(
        &mut self,
        name: &str,
        eye: [f32; 3],
        target: [f32; 3],
        up: [f32; 3],
        fov: f32,
    ) -> Result<(), ClientError> {
        let h = json!({"type": "scene_camera", "name": name, "eye": eye, "target": target,
                       "up": up, "fov": fov});
        self.request(h, vec![])?;
        Ok(())
    }

    /// Removes the sample at `time` of object `name`'s sequence.
    pub fn remove_frame(&mut self, name: &str, time: f64) -> Result<(), ClientError> {
        self.request(json!({"type": "remove_frame", "name": name, "time": time}), vec![])?;
        Ok(())
    }

    /// Adds a viewport with `renderer` (None: the raster); returns its id.
    pub fn add_viewport(&mut self, renderer: Option<&str>) -> Result<u32, ClientError> {
        let r = self
            .request(json!({"type": "viewport", "action": "add", "renderer": renderer}), vec![])?;
        r.header.get("viewport").and_then(Value::as_u64).map(|v| v as u32).ok_or_else(|| {
            ClientError::Viewer("'viewport' add: the reply has no viewport id".into())
        })
    }

    /// Closes viewport `viewport`.
    pub fn close_viewport(&mut self, viewport: u32) -> Result<(), ClientError> {
        let h = json!({"type": "viewport", "action": "close", "viewport": viewport});
        self.request(h, vec![])?;
        Ok(())
    }

    /// Renders viewport `viewport` with `renderer` (`raster`, `pathtracer` or a registered
    /// name).
    pub fn set_renderer(&mut self, viewport: u32, renderer: &str) -> Result<(), ClientError> {
        let h = json!({"type": "viewport", "action": "renderer", "viewport": viewport,
                       "renderer": renderer});
        self.request(h, vec![])?;
        Ok(())
    }

    /// Asks the viewer to stop.
    pub fn quit(&mut self) -> Result<(), ClientError> {
        self.request(json!({"type": "quit"}), vec![])?;
        Ok(())
    }
}

/// What a light is (protocol `light`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LightKind {
    /// Along `direction`; intensity in W/m^2.
    Directional,
    /// At `position`; intensity in W/sr.
    Point,
    /// At `position` along `direction`, within `cone`; intensity in W/sr.
    Spot,
}

/// A light for [`Client::light`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Light {
    /// What it is.
    pub kind: LightKind,
    /// Linear colour.
    pub color: [f32; 3],
    /// W/m^2 (directional) or W/sr (point, spot).
    pub intensity: f32,
    /// Where it is (point, spot).
    pub position: [f32; 3],
    /// Where its light goes (directional, spot).
    pub direction: [f32; 3],
    /// A spot's inner and outer cone angles in degrees.
    pub cone: [f32; 2],
    /// Point and spot lights: where the light reaches zero (None: unbounded).
    pub range: Option<f32>,
    /// Casts shadows (in the raster).
    pub shadows: bool,
    /// A sample at this time (None: for all times).
    pub time: Option<f64>,
}

impl Light {
    fn new(kind: LightKind, intensity: f32) -> Self {
        Self {
            kind,
            color: [1.0; 3],
            intensity,
            position: [0.0; 3],
            direction: [0.0, -1.0, 0.0],
            cone: [20.0, 30.0],
            range: None,
            shadows: true,
            time: None,
        }
    }

    /// A white sun along `direction`.
    pub fn directional(direction: [f32; 3], intensity: f32) -> Self {
        Self { direction, ..Self::new(LightKind::Directional, intensity) }
    }

    /// A white point light at `position`.
    pub fn point(position: [f32; 3], intensity: f32) -> Self {
        Self { position, ..Self::new(LightKind::Point, intensity) }
    }

    /// A white spot at `position` along `direction`.
    pub fn spot(position: [f32; 3], direction: [f32; 3], intensity: f32) -> Self {
        Self { position, direction, ..Self::new(LightKind::Spot, intensity) }
    }
}

/// A mesh object's material for [`Client::material`] (None: unchanged).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Material {
    /// Base colour, linear RGBA.
    pub base_color: Option<[f32; 4]>,
    /// Metalness 0-1.
    pub metallic: Option<f32>,
    /// Roughness 0-1.
    pub roughness: Option<f32>,
    /// Emitted radiance, linear RGB.
    pub emissive: Option<[f32; 3]>,
    /// Samples at this time (None: for all times).
    pub time: Option<f64>,
}

/// The little-endian bytes of 4-byte values (borrowed on a little-endian machine).
fn le_words<T: bytemuck::Pod>(v: &[T]) -> std::borrow::Cow<'_, [u8]> {
    let bytes: &[u8] = bytemuck::cast_slice(v);
    if cfg!(target_endian = "little") {
        return std::borrow::Cow::Borrowed(bytes);
    }
    std::borrow::Cow::Owned(bytes.chunks_exact(4).flat_map(|w| [w[3], w[2], w[1], w[0]]).collect())
}

/// Writes `bytes` at `offset` of `file` (large ones from a few threads).
fn write_at(file: &std::fs::File, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt as _;
        const CHUNK: usize = 4 << 20;
        if bytes.len() <= CHUNK {
            return file.write_all_at(bytes, offset);
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
        let per = bytes.len().div_ceil(threads).div_ceil(CHUNK) * CHUNK;
        std::thread::scope(|s| {
            let jobs: Vec<_> = bytes
                .chunks(per)
                .enumerate()
                .map(|(k, c)| s.spawn(move || file.write_all_at(c, offset + (k * per) as u64)))
                .collect();
            jobs.into_iter().try_for_each(|j| {
                j.join().unwrap_or_else(|_| Err(std::io::ErrorKind::Other.into()))
            })
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (file, offset, bytes);
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// A number that differs between runs (the file names of shared memory).
fn nonce() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn vec3s(name: &str, v: &[[f32; 3]]) -> Array {
    Array::f32(name, &[v.len(), 3], v.as_flattened())
}

fn message_of(m: &Message) -> String {
    m.header.get("message").and_then(Value::as_str).unwrap_or("(no message)").to_string()
}
