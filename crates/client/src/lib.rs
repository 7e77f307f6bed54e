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
//! [`ClientError::Viewer`] with its message.

use std::io::BufWriter;
use std::net::TcpStream;

use protocol::{Array, Limits, Message};
use serde_json::{json, Value};

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
    events: std::collections::VecDeque<Message>,
    /// The viewer's name and version (from its welcome).
    pub server: String,
}

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
        let mut c = Self {
            reader: std::io::BufReader::new(stream.try_clone()?),
            writer: BufWriter::new(stream),
            next_id: 1,
            limits: Limits::default(),
            events: Default::default(),
            server: String::new(),
        };
        let v = protocol::VERSION;
        let hello = json!({"type": "hello", "version": [v.0, v.1], "client": "xpg-client (Rust)",
                           "token": token});
        Message::new(hello, vec![]).write(&mut c.writer)?;
        let reply = Message::read(&mut c.reader, &c.limits)?;
        match reply.kind() {
            "welcome" => {
                c.server = reply.header.get("server").and_then(Value::as_str).unwrap_or("").into();
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
        match m.kind() {
            "event" => Ok(Some(m)),
            "error" => Err(ClientError::Viewer(message_of(&m))),
            _ => Ok(None),
        }
    }

    /// Sends `header` and `arrays` with a new id and waits for the reply.
    pub fn request(
        &mut self,
        mut header: Value,
        arrays: Vec<Array>,
    ) -> Result<Message, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        if let Value::Object(m) = &mut header {
            m.insert("id".into(), json!(id));
        }
        Message::new(header, arrays).write(&mut self.writer)?;
        loop {
            let reply = Message::read(&mut self.reader, &self.limits)?;
            if reply.kind() == "event" {
                self.events.push_back(reply);
                continue;
            }
            if reply.kind() == "error" {
                return Err(ClientError::Viewer(message_of(&reply)));
            }
            if reply.id() == Some(id) {
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
        let mut arrays = vec![vec3s("positions", positions)];
        if let Some(c) = colors {
            arrays.push(Array::u8("colors", &[c.len(), 4], c.as_flattened()));
        }
        self.request(json!({"type": "points", "name": name, "time": time}), arrays)?;
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
        let mut arrays = vec![
            vec3s("vertices", vertices),
            Array::u32("faces", &[faces.len(), 3], faces.as_flattened()),
        ];
        if let Some(c) = colors {
            arrays.push(Array::u8("colors", &[c.len(), 4], c.as_flattened()));
        }
        self.request(json!({"type": "mesh", "name": name, "time": time}), arrays)?;
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
        let px = Array::u8("pixels", &[height, width, 4], pixels.as_flattened());
        self.request(json!({"type": "image", "name": name, "time": time}), vec![px])?;
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

    /// Asks the viewer to stop.
    pub fn quit(&mut self) -> Result<(), ClientError> {
        self.request(json!({"type": "quit"}), vec![])?;
        Ok(())
    }
}

fn vec3s(name: &str, v: &[[f32; 3]]) -> Array {
    Array::f32(name, &[v.len(), 3], v.as_flattened())
}

fn message_of(m: &Message) -> String {
    m.header.get("message").and_then(Value::as_str).unwrap_or("(no message)").to_string()
}
