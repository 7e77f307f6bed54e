//! Requests of clients (`--listen`, [`crate::server`]) applied to the app between frames,
//! through the scene's setters like any embedding program's edits. Objects are known by the
//! names clients give them. A screenshot is answered after the frame that follows every
//! earlier request of the queue has rendered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{Array, At, Message, Request};
use scene::stream::{Frame, FrameDecoder, FramePart, Stream, StreamSource};
use scene::{Property, Scene, Value};
use serde_json::json;

use crate::server::{Incoming, Replier, Server};

/// Frames per second of client sequences given by frame index.
pub const CLIENT_FPS: f64 = 30.0;

/// Longest time a frame spends applying requests before it renders.
const APPLY_BUDGET: Duration = Duration::from_millis(10);

/// Widgets of one client.
const MAX_WIDGETS: usize = 256;

/// The object a request makes (its name) and how many objects it may hold then, or None for
/// a request that makes none.
fn creates(r: &Request) -> Option<(&str, usize)> {
    match r {
        Request::Points { name, .. }
        | Request::Mesh { name, .. }
        | Request::Lines { name, .. }
        | Request::Axes { name, .. }
        | Request::Spheres { name, .. }
        | Request::Tubes { name, .. }
        | Request::Arrows { name, .. }
        | Request::Voxels { name, .. }
        | Request::Image { name, .. }
        | Request::Light { name, .. }
        | Request::SceneCamera { name, .. } => Some((name, 1)),
        // Its cameras are objects of their own (NAME/camera/I).
        Request::Frustum { name, poses, cameras, .. } => {
            Some((name, 1 + if *cameras { poses.len() } else { 0 }))
        }
        _ => None,
    }
}

/// An object a client made.
#[derive(Debug, Clone)]
enum Obj {
    Points { set: usize, stream: Option<Arc<Stream>> },
    Mesh { node: usize, mesh: usize, stream: Option<Arc<Stream>> },
    Lines { set: usize },
    Image { node: usize, texture: usize, stream: Option<Arc<Stream>> },
    Light { node: usize, light: usize },
    Camera { node: usize, camera: usize },
}

impl Obj {
    /// Whether `p` is a property of this object (of its node, set, mesh, light or image).
    fn owns(&self, p: Property) -> bool {
        use Property as P;
        let node = |n: usize| matches!(p, P::NodeVisible(k) | P::NodeTransform(k) if k == n);
        match *self {
            Obj::Points { set, .. } => matches!(p,
                P::PointPositions(i) | P::PointColors(i) | P::PointScalars(i) | P::PointFrame(i)
                | P::PointSize(i) | P::PointsVisible(i) | P::PointsTransform(i) if i == set),
            Obj::Lines { set } => matches!(p,
                P::LinePositions(i) | P::LineColors(i) | P::LinesVisible(i)
                | P::LinesTransform(i) if i == set),
            Obj::Mesh { node: n, mesh, .. } => {
                node(n)
                    || matches!(p,
                        P::Positions { mesh: m, .. } | P::Normals { mesh: m, .. }
                        | P::VertexColors { mesh: m, .. } | P::Scalars { mesh: m, .. }
                        | P::Indices { mesh: m, .. } | P::Triangles { mesh: m, .. }
                        | P::PrimitiveVisible { mesh: m, .. } if m == mesh)
            }
            Obj::Image { node: n, texture, .. } => node(n) || p == P::Texels(texture),
            Obj::Light { node: n, light } => {
                node(n) || matches!(p, P::LightColor(l) | P::LightIntensity(l) if l == light)
            }
            Obj::Camera { node: n, .. } => node(n),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Obj::Points { .. } => "points",
            Obj::Mesh { .. } => "mesh",
            Obj::Lines { .. } => "lines",
            Obj::Image { .. } => "image",
            Obj::Light { .. } => "light",
            Obj::Camera { .. } => "camera",
        }
    }
}

/// Client frames live in memory: nothing to decode.
#[derive(Debug)]
struct InMemory;

impl FrameDecoder for InMemory {
    fn decode(&self, path: &std::path::Path) -> Result<Frame, String> {
        Err(format!("{}: a client's frame is kept in memory", path.display()))
    }
}

/// A connected client: where its replies and events go, what it subscribed to, its widgets.
#[derive(Debug)]
struct ClientState {
    reply: Replier,
    events: Vec<String>,
    widgets: Vec<protocol::Widget>,
}

/// The server and what its clients made.
#[derive(Debug)]
pub(crate) struct Remote {
    /// None: objects made by a replayed recording only.
    pub(crate) server: Option<Server>,
    objects: HashMap<String, Obj>,
    /// Transforms that are objects of their own (groups): a `transform` of a name that is
    /// no object makes a node, and every object under `NAME/` hangs from it. Name to node.
    groups: HashMap<String, usize>,
    clients: std::collections::BTreeMap<u64, ClientState>,
    /// A client asked the viewer to stop.
    pub(crate) quit: bool,
    /// What was last sent to timeline and selection subscribers.
    sent_time: Option<(f64, bool)>,
    sent_selection: Option<Option<usize>>,
    /// Time spent applying requests (on the render thread).
    pub(crate) applying: Duration,
}

impl Remote {
    pub(crate) fn new(server: Option<Server>) -> Self {
        Self {
            server,
            objects: HashMap::new(),
            groups: HashMap::new(),
            clients: Default::default(),
            quit: false,
            sent_time: None,
            sent_selection: None,
            applying: Duration::ZERO,
        }
    }

    /// Sends `m` to every client subscribed to `event` (forgetting clients that are gone).
    fn broadcast(&mut self, event: &str, m: &Message) {
        self.clients.retain(|_, c| !c.events.iter().any(|e| e == event) || c.reply.send(m.clone()));
    }

    pub(crate) fn widget_count(&self) -> usize {
        self.clients.values().map(|c| c.widgets.len()).sum()
    }

    fn wants(&self, event: &str) -> bool {
        self.clients.values().any(|c| c.events.iter().any(|e| e == event))
    }
}

/// The keys sent to clients subscribed to `key` events, with their names.
const KEYS: &[(imgui::Key, &str)] = {
    use imgui::Key as K;
    &[
        (K::A, "A"),
        (K::B, "B"),
        (K::C, "C"),
        (K::D, "D"),
        (K::E, "E"),
        (K::F, "F"),
        (K::G, "G"),
        (K::H, "H"),
        (K::I, "I"),
        (K::J, "J"),
        (K::K, "K"),
        (K::L, "L"),
        (K::M, "M"),
        (K::N, "N"),
        (K::O, "O"),
        (K::P, "P"),
        (K::Q, "Q"),
        (K::R, "R"),
        (K::S, "S"),
        (K::T, "T"),
        (K::U, "U"),
        (K::V, "V"),
        (K::W, "W"),
        (K::X, "X"),
        (K::Y, "Y"),
        (K::Z, "Z"),
        (K::Alpha0, "0"),
        (K::Alpha1, "1"),
        (K::Alpha2, "2"),
        (K::Alpha3, "3"),
        (K::Alpha4, "4"),
        (K::Alpha5, "5"),
        (K::Alpha6, "6"),
        (K::Alpha7, "7"),
        (K::Alpha8, "8"),
        (K::Alpha9, "9"),
        (K::Space, "Space"),
        (K::Enter, "Enter"),
        (K::Escape, "Escape"),
        (K::Tab, "Tab"),
        (K::LeftArrow, "Left"),
        (K::RightArrow, "Right"),
        (K::UpArrow, "Up"),
        (K::DownArrow, "Down"),
        (K::Delete, "Delete"),
        (K::Backspace, "Backspace"),
    ]
};

/// A screenshot to answer after this frame.
pub(crate) struct Shot {
    viewport: Option<u32>,
    format: String,
    id: Option<u64>,
    reply: Replier,
    /// An EXR screenshot: the file the frame saves the viewport's HDR radiance into.
    exr: Option<std::path::PathBuf>,
    /// Not a screenshot but a pick at this pixel (answered after the frame too, so that it
    /// sees every earlier message of the client).
    pick: Option<(f32, f32)>,
}

type Reply = Result<Option<Message>, String>;

fn seconds(at: At) -> f64 {
    match at {
        At::Time(t) => t,
        At::Frame(f) => f as f64 / CLIENT_FPS,
    }
}

impl super::App {
    /// Applies the requests waiting (up to a time budget, and up to the first screenshot,
    /// which is answered after this frame renders).
    pub(crate) fn apply_remote(&mut self) -> Vec<Shot> {
        let Some(mut remote) = self.remote.take() else { return Vec::new() };
        let start = Instant::now();
        let mut shots = Vec::new();
        while start.elapsed() < APPLY_BUDGET {
            let Some(Incoming { envelope, reply, client, bytes }) =
                remote.server.as_ref().and_then(Server::try_next)
            else {
                break;
            };
            // Its arrays are moved into the scene (or dropped) below.
            if let Some(s) = &remote.server {
                s.applied(bytes);
            }
            let Some(envelope) = envelope else {
                // The client left: its subscriptions, widgets and reply channel go (what it
                // put in the scene stays).
                remote.clients.remove(&client);
                continue;
            };
            let id = envelope.id;
            let state = remote.clients.entry(client).or_insert_with(|| ClientState {
                reply: reply.clone(),
                events: Vec::new(),
                widgets: Vec::new(),
            });
            let done = match envelope.request {
                Request::Screenshot { viewport, format } => {
                    // EXR: the frame saves the viewport's linear radiance (as its EXR button
                    // does) into a file read back after it.
                    let exr = (format == "exr").then(|| {
                        static N: std::sync::atomic::AtomicU64 =
                            std::sync::atomic::AtomicU64::new(0);
                        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        std::env::temp_dir()
                            .join(format!("xpg-shot-{}-{n}.exr", std::process::id()))
                    });
                    if let Some(path) = &exr {
                        let vp = match viewport {
                            Some(v) => self.viewports.iter_mut().find(|x| x.id == v),
                            None => self.viewports.first_mut(),
                        };
                        if let Some(vp) = vp.filter(|vp| vp.image.is_some()) {
                            vp.screenshot = Some(path.clone());
                        }
                    }
                    shots.push(Shot { viewport, format, id, reply, exr, pick: None });
                    break;
                }
                Request::Pick { viewport, x, y } => {
                    let format = String::new();
                    shots.push(Shot { viewport, format, id, reply, exr: None, pick: Some((x, y)) });
                    break;
                }
                Request::Subscribe { events } => {
                    state.events = events;
                    Ok(None)
                }
                Request::Widget(w) => {
                    let known = state.widgets.iter().any(|x| x.name == w.name);
                    if !known && !w.remove && state.widgets.len() >= MAX_WIDGETS {
                        Err(format!(
                            "widget '{}': a client has at most {MAX_WIDGETS} widgets",
                            w.name
                        ))
                    } else {
                        state.widgets.retain(|x| x.name != w.name);
                        if !w.remove {
                            state.widgets.push(w);
                        }
                        Ok(None)
                    }
                }
                request => self.apply_request(&mut remote, request),
            };
            let _ = match done {
                Ok(Some(mut m)) => {
                    m.header.insert("id".into(), json!(id));
                    reply.send(m)
                }
                Ok(None) => id.is_none() || reply.send(protocol::ok(id)),
                Err(e) => reply.send(protocol::error(id, &e)),
            };
        }
        remote.applying += start.elapsed();
        self.remote = Some(remote);
        shots
    }

    /// Sends this frame's events to the clients subscribed to them (keys pressed while no
    /// text is edited, the timeline, the selection), and draws the clients' widgets (their
    /// changes go back to their owners).
    pub(crate) fn remote_ui(&mut self, ui: &imgui::Ui, size: [f32; 2]) {
        let Some(remote) = self.remote.as_mut() else { return };
        let viewport = self.viewports.first().map(|v| v.id);
        if remote.wants("key") && !ui.io().want_text_input {
            for (k, name) in KEYS {
                if ui.is_key_pressed_no_repeat(*k) {
                    let m = protocol::event("key", json!({"key": name, "viewport": viewport}));
                    remote.broadcast("key", &m);
                }
            }
        }
        let now = (self.playback.time, self.playback.playing);
        if remote.wants("timeline") && remote.sent_time != Some(now) {
            let span = self.scene.time_span();
            let m = protocol::event(
                "timeline",
                json!({"time": now.0, "playing": now.1, "span": span.map(|s| [s.0, s.1])}),
            );
            remote.broadcast("timeline", &m);
            remote.sent_time = Some(now);
        }
        if remote.wants("selection") && remote.sent_selection != Some(self.selected) {
            let node = self.selected;
            let object = node.and_then(|n| {
                remote.objects.iter().find_map(|(name, o)| match o {
                    Obj::Mesh { node, .. } | Obj::Image { node, .. } if *node == n => {
                        Some(name.clone())
                    }
                    _ => None,
                })
            });
            let name = node.and_then(|n| self.scene.nodes.get(n)).map(|n| n.name.clone());
            let m =
                protocol::event("selection", json!({"node": node, "name": name, "object": object}));
            remote.broadcast("selection", &m);
            remote.sent_selection = Some(node);
        }
        if remote.clients.values().all(|c| c.widgets.is_empty()) {
            return;
        }
        let mut changed: Vec<(u64, String, serde_json::Value)> = Vec::new();
        ui.window("Clients")
            .position([size[0] - 300.0, size[1] * 0.5], imgui::Condition::FirstUseEver)
            .size([290.0, 200.0], imgui::Condition::FirstUseEver)
            .build(|| {
                for (&client, c) in remote.clients.iter_mut() {
                    let _id = ui.push_id_usize(client as usize);
                    for w in &mut c.widgets {
                        let _wid = ui.push_id(w.name.as_str());
                        match w.kind.as_str() {
                            "button" => {
                                if ui.button(&w.label) {
                                    changed.push((client, w.name.clone(), json!(true)));
                                }
                            }
                            "slider" => {
                                let mut v = w.value.as_f64().unwrap_or(w.range.0) as f32;
                                if ui.slider(&w.label, w.range.0 as f32, w.range.1 as f32, &mut v) {
                                    w.value = json!(v);
                                    changed.push((client, w.name.clone(), json!(v)));
                                }
                            }
                            "checkbox" => {
                                let mut v = w.value.as_bool().unwrap_or(false);
                                if ui.checkbox(&w.label, &mut v) {
                                    w.value = json!(v);
                                    changed.push((client, w.name.clone(), json!(v)));
                                }
                            }
                            "input" => {
                                let mut v = w.value.as_str().unwrap_or("").to_string();
                                if ui.input_text(&w.label, &mut v).enter_returns_true(true).build()
                                {
                                    w.value = json!(v);
                                    changed.push((client, w.name.clone(), json!(v)));
                                }
                            }
                            _ => {
                                let v = match &w.value {
                                    serde_json::Value::String(s) => s.clone(),
                                    serde_json::Value::Null => String::new(),
                                    v => v.to_string(),
                                };
                                ui.text_wrapped(format!("{}: {v}", w.label));
                            }
                        }
                    }
                }
            });
        for (client, name, value) in changed {
            let gone = remote.clients.get(&client).is_some_and(|c| {
                !c.reply.send(protocol::event("widget", json!({"name": name, "value": value})))
            });
            if gone {
                remote.clients.remove(&client);
            }
        }
    }

    /// Replays a recording (`--record`) onto the timeline: each request is applied as its
    /// client sent it, and point clouds, meshes and images sent without a time become samples
    /// at the time they arrived, so that the run can be scrubbed. Playback requests are left
    /// out (the timeline is the replay's). Returns the requests applied.
    pub(crate) fn replay(&mut self, path: &std::path::Path) -> anyhow::Result<usize> {
        let records = crate::server::read_recording(path, &protocol::Limits::default())?;
        let mut remote = self.remote.take().unwrap_or_else(|| Remote::new(None));
        let mut applied = 0;
        let mut failed = None;
        for (t, _, m) in records {
            let mut request = match Request::parse(&m, &protocol::Limits::default()) {
                Ok(e) => e.request,
                Err(e) => {
                    failed.get_or_insert(format!("record {applied}: {e}"));
                    continue;
                }
            };
            match &mut request {
                Request::Points { at, .. }
                | Request::Mesh { at, .. }
                | Request::Image { at, .. } => {
                    at.get_or_insert(At::Time(t));
                }
                Request::Playback(_) => continue,
                _ => {}
            }
            match self.apply_request(&mut remote, request) {
                Ok(_) => applied += 1,
                Err(e) => {
                    failed.get_or_insert(format!("record {applied}: {e}"));
                }
            }
        }
        self.remote = Some(remote);
        if let Some(e) = failed {
            tracing::warn!("{}: {e}", path.display());
        }
        Ok(applied)
    }

    /// Answers the screenshots of this frame.
    pub(crate) fn answer_shots(&mut self, shots: Vec<Shot>) {
        for s in shots {
            let m = match s.pick {
                Some((x, y)) => self.pick_reply(s.viewport, x, y, s.id),
                None => self.shot(&s),
            };
            let m = m.unwrap_or_else(|e| protocol::error(s.id, &format!("{e:#}")));
            let _ = s.reply.send(m);
        }
    }

    fn pick_reply(
        &mut self,
        viewport: Option<u32>,
        x: f32,
        y: f32,
        id: Option<u64>,
    ) -> anyhow::Result<Message> {
        let picked = self.pick(viewport, x, y)?;
        let viewport = viewport.or(self.viewports.first().map(|v| v.id));
        let mut fields = self.pick_fields(viewport, x, y, picked.as_ref());
        fields.insert("type".into(), json!("pick"));
        fields.insert("id".into(), json!(id));
        Ok(Message::new(serde_json::Value::Object(fields), Vec::new()))
    }

    /// A pick's fields for clients: the pick's, the pixel, and the client object it hit.
    fn pick_fields(
        &self,
        viewport: Option<u32>,
        x: f32,
        y: f32,
        picked: Option<&super::PickInfo>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = match picked.map(super::PickInfo::to_json) {
            Some(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::from_iter([("hit".to_string(), json!(false))]),
        };
        let object = picked.zip(self.remote.as_ref()).and_then(|(p, r)| {
            r.objects.iter().find_map(|(name, o)| {
                let hit = match (o, p.kind) {
                    (Obj::Points { set, .. }, "points") | (Obj::Lines { set }, "lines") => {
                        p.set == Some(*set)
                    }
                    (Obj::Mesh { node, .. } | Obj::Image { node, .. }, "mesh") => {
                        p.node == Some(*node)
                    }
                    _ => false,
                };
                hit.then(|| name.clone())
            })
        });
        fields.insert("object".into(), json!(object));
        fields.insert("viewport".into(), json!(viewport));
        fields.insert("x".into(), json!(x));
        fields.insert("y".into(), json!(y));
        fields
    }

    /// Tells the clients subscribed to "pick" what a click in a viewport picked.
    pub(crate) fn broadcast_pick(
        &mut self,
        viewport: u32,
        x: f32,
        y: f32,
        picked: Option<&super::PickInfo>,
    ) {
        if !self.remote.as_ref().is_some_and(|r| r.wants("pick")) {
            return;
        }
        let fields = self.pick_fields(Some(viewport), x, y, picked);
        let m = protocol::event("pick", serde_json::Value::Object(fields));
        if let Some(r) = self.remote.as_mut() {
            r.broadcast("pick", &m);
        }
    }

    fn shot(&self, s: &Shot) -> anyhow::Result<Message> {
        let i = match s.viewport {
            Some(id) => self
                .viewports
                .iter()
                .position(|v| v.id == id)
                .ok_or_else(|| anyhow::anyhow!("no viewport {id}"))?,
            None if self.viewports.is_empty() => anyhow::bail!("no viewport"),
            None => 0,
        };
        let (w, h, px) = self.read_viewport(i)?;
        let header = json!({"type": "screenshot", "id": s.id, "width": w, "height": h,
                            "format": s.format});
        Ok(match s.format.as_str() {
            "png" => {
                let img = image::RgbaImage::from_raw(w, h, px)
                    .ok_or_else(|| anyhow::anyhow!("image size"))?;
                let mut bytes = std::io::Cursor::new(Vec::new());
                img.write_to(&mut bytes, image::ImageFormat::Png)?;
                let b = bytes.into_inner();
                Message::new(header, vec![Array::u8("png", &[b.len()], &b)])
            }
            "exr" => {
                let path = s.exr.as_ref().ok_or_else(|| anyhow::anyhow!("no EXR was asked"))?;
                let bytes = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("the viewport's EXR was not written: {e}"))?;
                let _ = std::fs::remove_file(path);
                Message::new(header, vec![Array::u8("exr", &[bytes.len()], &bytes)])
            }
            _ => Message::new(header, vec![Array::u8("pixels", &[h as usize, w as usize, 4], &px)]),
        })
    }

    fn apply_request(&mut self, remote: &mut Remote, request: Request) -> Reply {
        let made = creates(&request).map(|(name, _)| name.to_string());
        let reply = self.apply_object(remote, request)?;
        // What it made hangs from the group its name is under, if any.
        if let Some(name) = made {
            let under = format!("{name}/");
            let names: Vec<String> = remote
                .objects
                .keys()
                .filter(|k| **k == name || k.starts_with(&under))
                .cloned()
                .collect();
            for n in names {
                self.attach(remote, &n);
            }
        }
        Ok(reply)
    }

    /// Adds a node for a client (a group, or a set's node to hang by): before the default
    /// light's node, which stays last (the first scene appended removes it).
    fn push_client_node(&mut self, node: scene::Node) -> usize {
        let at =
            self.scene.nodes.len() - usize::from(self.defaults_added).min(self.scene.nodes.len());
        self.scene.nodes.insert(at, node);
        self.scene.versions.structure += 1;
        at
    }

    /// A node for a point or line set to hang by, at its transform `t`; the set's transform
    /// samples (`moved`) move that node from now on.
    fn hang_node(&mut self, name: &str, t: glam::Mat4, moved: Property) -> usize {
        let n = self.push_client_node(scene::Node::new(name, t));
        for k in &mut self.scene.properties {
            if k.property == moved {
                k.property = Property::NodeTransform(n);
            }
        }
        n
    }

    /// The node a point or line set hangs by (from a group), if it has one.
    fn set_node(&self, o: &Obj) -> Option<usize> {
        match *o {
            Obj::Points { set, .. } => self.scene.point_sets.get(set).and_then(|p| p.node),
            Obj::Lines { set } => self.scene.line_sets.get(set).and_then(|l| l.node),
            _ => None,
        }
    }

    /// The innermost group whose name is a path above `name` (its node).
    fn group_of(remote: &Remote, name: &str) -> Option<usize> {
        remote
            .groups
            .iter()
            .filter(|(g, _)| name.len() > g.len() + 1 && name.starts_with(g.as_str()))
            .filter(|(g, _)| name.as_bytes()[g.len()] == b'/')
            .max_by_key(|(g, _)| g.len())
            .map(|(_, &n)| n)
    }

    /// Hangs object (or group) `name` from the group above it: its node's parent is the
    /// group's node (point and line sets get a node of their own to hang by).
    fn attach(&mut self, remote: &Remote, name: &str) {
        let Some(group) = Self::group_of(remote, name) else { return };
        let node = match remote.objects.get(name) {
            Some(
                Obj::Mesh { node, .. }
                | Obj::Image { node, .. }
                | Obj::Light { node, .. }
                | Obj::Camera { node, .. },
            ) => Some(*node),
            Some(&Obj::Points { set, .. }) => {
                let p = self.scene.point_sets.get(set).map(|p| (p.node, p.transform));
                p.map(|(node, t)| {
                    node.unwrap_or_else(|| {
                        let n = self.hang_node(name, t, Property::PointsTransform(set));
                        self.scene.point_sets[set].node = Some(n);
                        n
                    })
                })
            }
            Some(&Obj::Lines { set }) => {
                let l = self.scene.line_sets.get(set).map(|l| (l.node, l.transform));
                l.map(|(node, t)| {
                    node.unwrap_or_else(|| {
                        let n = self.hang_node(name, t, Property::LinesTransform(set));
                        self.scene.line_sets[set].node = Some(n);
                        n
                    })
                })
            }
            None => remote.groups.get(name).copied(),
        };
        let Some(node) = node.filter(|&n| n != group) else { return };
        if let Some(n) = self.scene.nodes.get_mut(node) {
            if n.parent != Some(group) {
                n.parent = Some(group);
                let local = n.local;
                self.scene.set_local_transform(node, local);
            }
        }
    }

    /// A transform that is an object of its own (a group): made at `m` (or its sample at
    /// `at`), with every object and group under `NAME/` hung from it.
    fn remote_group(
        &mut self,
        remote: &mut Remote,
        name: &str,
        m: glam::Mat4,
        at: Option<At>,
    ) -> Reply {
        if let Some(&node) = remote.groups.get(name) {
            return self.set_at(Property::NodeTransform(node), Value::Transform(m), at);
        }
        let max = remote.server.as_ref().map_or(usize::MAX, Server::max_objects);
        if remote.objects.len() + remote.groups.len() >= max {
            return Err(format!(
                "'{name}': clients hold {max} objects and groups ([server] max_objects)"
            ));
        }
        let node = self.push_client_node(scene::Node::new(name, m));
        remote.groups.insert(name.to_string(), node);
        let under = format!("{name}/");
        let below: Vec<String> = remote
            .objects
            .keys()
            .chain(remote.groups.keys())
            .filter(|k| k.starts_with(&under))
            .cloned()
            .collect();
        // Itself under an outer group, and what is under it.
        self.attach(remote, name);
        for n in below {
            self.attach(remote, &n);
        }
        self.scene.update_world();
        if at.is_some() {
            self.set_at(Property::NodeTransform(node), Value::Transform(m), at)?;
        }
        Ok(None)
    }

    fn apply_object(&mut self, remote: &mut Remote, request: Request) -> Reply {
        if let Some((name, n)) = creates(&request) {
            let max = remote.server.as_ref().map_or(usize::MAX, Server::max_objects);
            let held = remote.objects.len() + remote.groups.len();
            // What it replaces (a frustum's cameras too) does not count twice.
            let cameras = format!("{name}/camera/");
            let old = remote
                .objects
                .keys()
                .filter(|k| *k == name || (n > 1 && k.starts_with(&cameras)))
                .count();
            if (held - old).saturating_add(n) > max {
                return Err(format!(
                    "'{name}': clients hold {held} objects, at most {max} ([server] max_objects); \
                     delete some first"
                ));
            }
        }
        match request {
            Request::Hello { .. } => Err("'hello' again".into()),
            Request::Points { name, positions, colors, scalars, size, size_world, at } => {
                self.remote_points(remote, name.clone(), positions, colors, scalars, size, at)?;
                // Sized in world units (or back to pixels): a change of how it is drawn.
                if let Some(Obj::Points { set, .. }) = remote.objects.get(&name) {
                    if let Some(p) = self.scene.point_sets.get_mut(*set) {
                        if p.size_world != size_world {
                            p.size_world = size_world;
                            self.scene.versions.structure += 1;
                        }
                    }
                }
                Ok(None)
            }
            Request::Mesh { name, vertices, faces, colors, color, at } => {
                self.remote_mesh(remote, name, vertices, faces, colors, color, at)
            }
            Request::Axes { name, poses, length, width } => {
                let poses: Vec<glam::Mat4> =
                    poses.iter().map(glam::Mat4::from_cols_array).collect();
                let (positions, colors) = scene::shapes::axes_segments(&poses, length);
                if !scene::all_finite(&positions) {
                    return Err("'axes': the poses and length give non-finite positions".into());
                }
                let width = Some(width.unwrap_or(2.0));
                let lines =
                    Request::Lines { name, positions, strip: false, colors, width, at: None };
                self.apply_request(remote, lines)
            }
            Request::Spheres { name, centers, radii, colors, values, colormap, detail } => {
                shape_bound(&name, centers.len(), 20 << (2 * detail))?;
                let colors = shape_colors(&colors, &values, colormap);
                let prim = scene::shapes::spheres(&centers, &radii, &colors, detail)
                    .map_err(|e| format!("'spheres': {e}"))?;
                self.remote_shape(remote, name, prim)
            }
            Request::Tubes { name, positions, strip, radius, colors, caps } => {
                shape_bound(&name, positions.len(), 48)?;
                let colors = shape_colors(&colors, &[], Default::default());
                let prim = scene::shapes::tubes(&positions, strip, radius, &colors, 12, caps)
                    .map_err(|e| format!("'tubes': {e}"))?;
                self.remote_shape(remote, name, prim)
            }
            Request::Arrows { name, origins, vectors, scale, radius, colors, colormap } => {
                shape_bound(&name, origins.len(), 72)?;
                // Without colours, by length.
                let lengths: Vec<f32> = if colors.is_empty() {
                    vectors.iter().map(|v| glam::Vec3::from(*v).length()).collect()
                } else {
                    Vec::new()
                };
                let colors = shape_colors(&colors, &lengths, colormap);
                let prim = scene::shapes::arrows(&origins, &vectors, scale, radius, &colors)
                    .map_err(|e| format!("'arrows': {e}"))?;
                self.remote_shape(remote, name, prim)
            }
            Request::Voxels { name, cells, origin, size, colors, colormap } => {
                let prim = match cells {
                    protocol::VoxelCells::List { cells, values } => {
                        shape_bound(&name, cells.len(), 12)?;
                        let colors = shape_colors(&colors, &values, colormap);
                        scene::shapes::voxels(&cells, origin, size, &colors)
                    }
                    protocol::VoxelCells::Grid { dims, values, threshold } => {
                        shape_bound(&name, values.len(), 12)?;
                        scene::shapes::voxel_grid(
                            dims,
                            &values,
                            threshold,
                            origin,
                            size,
                            colormap_kind(colormap),
                        )
                    }
                }
                .map_err(|e| format!("'voxels': {e}"))?;
                self.remote_shape(remote, name, prim)
            }
            Request::Frustum { name, poses, fov, aspect, depth, color, cameras } => {
                let poses: Vec<glam::Mat4> =
                    poses.iter().map(glam::Mat4::from_cols_array).collect();
                let positions =
                    scene::shapes::frustum_segments(&poses, fov.to_radians(), aspect, depth);
                if !scene::all_finite(&positions) {
                    return Err("'frustum': the poses and sizes give non-finite positions".into());
                }
                if cameras && poses.len() > MAX_FRUSTUM_CAMERAS {
                    return Err(format!(
                        "'frustum': cameras for {} poses (at most {MAX_FRUSTUM_CAMERAS})",
                        poses.len()
                    ));
                }
                let colors = vec![color; positions.len()];
                let lines = Request::Lines {
                    name: name.clone(),
                    positions,
                    strip: false,
                    colors,
                    width: None,
                    at: None,
                };
                self.apply_request(remote, lines)?;
                // Cameras to look through (C in a viewport steps through the scene's cameras),
                // named NAME/camera/I: replaced with the frusta, deleted with NAME.
                let prefix = format!("{name}/camera/");
                let old: Vec<String> =
                    remote.objects.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
                for k in old {
                    self.forget(remote, &k);
                }
                if cameras {
                    for (i, pose) in poses.iter().enumerate() {
                        self.remote_camera(
                            remote,
                            format!("{prefix}{i}"),
                            *pose,
                            fov.to_radians(),
                        )?;
                    }
                }
                Ok(None)
            }
            Request::Lines { name, positions, strip, colors, width, at } => {
                if let Some(Obj::Lines { set }) = remote.objects.get(&name).cloned() {
                    let same = self.scene.line_sets.get(set).is_some_and(|l| l.strip == strip);
                    if same {
                        self.set_at(Property::LinePositions(set), Value::Vec3s(positions), at)?;
                        self.set_at(Property::LineColors(set), Value::Colors(colors), at)?;
                        if let Some(w) = width {
                            if let Some(l) = self.scene.line_sets.get_mut(set) {
                                l.width_px = w;
                                self.scene.versions.structure += 1;
                            }
                        }
                        return Ok(None);
                    }
                }
                self.forget(remote, &name);
                let mut s = Scene::default();
                s.line_sets.push(scene::LineSet {
                    name: name.clone(),
                    transform: glam::Mat4::IDENTITY,
                    positions,
                    colors,
                    strip,
                    width_px: width.unwrap_or(1.0),
                    visible: true,
                    node: None,
                });
                let set = self.scene.line_sets.len();
                let first = at.map(|_| {
                    let l = &s.line_sets[0];
                    (Value::Vec3s(l.positions.clone()), Value::Colors(l.colors.clone()))
                });
                self.append_scenes(vec![s]);
                remote.objects.insert(name, Obj::Lines { set });
                // The first sample of lines over time.
                if let Some((p, c)) = first {
                    self.set_at(Property::LinePositions(set), p, at)?;
                    self.set_at(Property::LineColors(set), c, at)?;
                }
                Ok(None)
            }
            Request::Image { name, width, height, pixels, at } => {
                let existing = remote.objects.get(&name).cloned();
                let size_of = |this: &Self, texture: usize| {
                    this.scene.textures.get(texture).map(|t| (t.width, t.height))
                };
                if let Some(Obj::Image { texture, stream, .. }) = &existing {
                    let same = size_of(self, *texture) == Some((width, height));
                    match (at, stream) {
                        (Some(at), Some(s)) if same => {
                            let image = image_texture(&name, width, height, pixels);
                            s.put(seconds(at), Frame { image: Some(image), ..Default::default() })?;
                            self.reapply_time();
                            return Ok(None);
                        }
                        (Some(_), Some(_)) => {
                            return Err(format!(
                                "'{name}': a sample of {width}x{height}, the sequence's images are \
                                 {}x{}",
                                size_of(self, *texture).map_or(0, |s| s.0),
                                size_of(self, *texture).map_or(0, |s| s.1)
                            ));
                        }
                        (None, None) if same => {
                            return self.set(Property::Texels(*texture), Value::Colors(pixels));
                        }
                        _ => {}
                    }
                }
                self.forget(remote, &name);
                let texture = image_texture(&name, width, height, pixels);
                let mut s = Scene::default();
                let aspect = width as f32 / height.max(1) as f32;
                s.add_image_quad(
                    texture.clone(),
                    glam::Mat4::from_scale(glam::Vec3::new(aspect, 1.0, 1.0)),
                );
                s.update_world();
                // A sequence: its images in memory, each sample's texels set at its time.
                let stream = at
                    .map(|at| {
                        let frame = Frame { image: Some(texture), ..Default::default() };
                        client_sequence(&mut s, Property::Texels(0), FramePart::Texels, at, frame)
                    })
                    .transpose()?;
                let (mesh, tex) = (self.scene.meshes.len(), self.scene.textures.len());
                self.append_scenes(vec![s]);
                self.reapply_time();
                let node = self.node_of_mesh(mesh)?;
                remote.objects.insert(name, Obj::Image { node, texture: tex, stream });
                Ok(None)
            }
            Request::Transform { name, matrix, at } => {
                let m = glam::Mat4::from_cols_array(&matrix);
                let Some(object) = remote.objects.get(&name) else {
                    // Not an object: a group, made if new.
                    return self.remote_group(remote, &name, m, at);
                };
                // A set hung from a group moves by its own node.
                if let Some(node) = self.set_node(object) {
                    return self.set_at(Property::NodeTransform(node), Value::Transform(m), at);
                }
                match object {
                    Obj::Points { set, .. } => {
                        self.set_at(Property::PointsTransform(*set), Value::Transform(m), at)
                    }
                    Obj::Lines { set } => {
                        self.set_at(Property::LinesTransform(*set), Value::Transform(m), at)
                    }
                    Obj::Mesh { node, .. }
                    | Obj::Image { node, .. }
                    | Obj::Light { node, .. }
                    | Obj::Camera { node, .. } => {
                        // An image keeps its aspect scale under the client's transform.
                        let base = match remote.objects.get(&name) {
                            Some(Obj::Image { texture, .. }) => {
                                let t = self.scene.textures.get(*texture);
                                let aspect =
                                    t.map_or(1.0, |t| t.width as f32 / t.height.max(1) as f32);
                                glam::Mat4::from_scale(glam::Vec3::new(aspect, 1.0, 1.0))
                            }
                            _ => glam::Mat4::IDENTITY,
                        };
                        let node = *node;
                        self.set_at(Property::NodeTransform(node), Value::Transform(m * base), at)
                    }
                }
            }
            Request::Delete { name } => {
                let prefix = format!("{}/", name.trim_end_matches('/'));
                let names: Vec<String> = remote
                    .objects
                    .keys()
                    .filter(|k| **k == name || k.starts_with(&prefix))
                    .cloned()
                    .collect();
                let groups: Vec<String> = remote
                    .groups
                    .keys()
                    .filter(|k| **k == name || k.starts_with(&prefix))
                    .cloned()
                    .collect();
                if names.is_empty() && groups.is_empty() {
                    return Err(no_object(&name));
                }
                for n in names {
                    self.forget(remote, &n);
                }
                for g in groups {
                    if let Some(node) = remote.groups.remove(&g) {
                        let p = Property::NodeTransform(node);
                        self.scene.properties.retain(|t| t.property != p);
                    }
                }
                Ok(None)
            }
            Request::Playback(p) => {
                if let Some(t) = p.seek {
                    self.playback.command(&mut self.scene, super::PlaybackCommand::Seek(t));
                }
                if let Some(s) = p.speed {
                    self.playback.speed = s;
                }
                if let Some(play) = p.play {
                    self.playback.playing = play;
                }
                Ok(None)
            }
            Request::Camera { set, viewport } => {
                let vp = match viewport {
                    Some(id) => self.viewports.iter_mut().find(|v| v.id == id),
                    None => self.viewports.first_mut(),
                }
                .ok_or("no such viewport")?;
                if let Some((eye, target, up)) = set {
                    vp.camera.look_at(eye.into(), target.into(), up.into());
                    return Ok(None);
                }
                let c = &vp.camera;
                let up = c.up.axis();
                Ok(Some(Message::new(
                    json!({"type": "camera", "eye": c.eye().to_array(), "target": c.target.to_array(),
                           "up": up.to_array(), "fov": c.yfov.to_degrees(),
                           "viewport": vp.id}),
                    vec![],
                )))
            }
            Request::Viewport { action, viewport, renderer, setting } => match action.as_str() {
                "add" => {
                    let name = renderer.unwrap_or_else(|| "raster".into());
                    let name =
                        self.opts.registry.resolve(&name).map_err(|e| e.to_string())?.to_string();
                    self.add_viewport(&name);
                    let id = self.viewports.last().map_or(0, |v| v.id);
                    self.layout_dirty = true;
                    Ok(Some(Message::new(json!({"type": "viewport", "viewport": id}), vec![])))
                }
                "close" => {
                    let id = viewport.ok_or("'viewport': close needs 'viewport'")?;
                    if !self.viewports.iter().any(|v| v.id == id) {
                        return Err(format!("no viewport {id}"));
                    }
                    self.act(super::Action::Close(id));
                    Ok(None)
                }
                "set" => {
                    let id =
                        viewport.or(self.viewports.first().map(|v| v.id)).ok_or("no viewport")?;
                    let (key, text) = setting.ok_or("'viewport': set needs 'key' and 'value'")?;
                    let vp = self
                        .viewports
                        .iter_mut()
                        .find(|v| v.id == id)
                        .ok_or_else(|| format!("no viewport {id}"))?;
                    let r =
                        vp.renderer_mut().ok_or_else(|| format!("viewport {id}: no renderer"))?;
                    let settings = r.settings();
                    let s = settings.iter().find(|s| s.key == key).ok_or_else(|| {
                        let known: Vec<&str> = settings.iter().map(|s| s.key).collect();
                        format!("{}: no setting '{key}' (known: {})", r.name(), known.join(", "))
                    })?;
                    let value = match text {
                        protocol::SettingText::Bool(b) => render::SettingValue::Bool(b),
                        protocol::SettingText::Number(x)
                            if x >= 0.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX) =>
                        {
                            render::SettingValue::UInt(x as u32)
                        }
                        protocol::SettingText::Number(x) => render::SettingValue::Float(x as f32),
                        protocol::SettingText::Name(n) => s.parse_option(&n).ok_or_else(|| {
                            format!("{key} = {n:?}: expected one of {}", s.options.join(", "))
                        })?,
                    };
                    r.set(&key, value).map_err(|e| e.to_string())?;
                    Ok(None)
                }
                _ => {
                    let id =
                        viewport.or(self.viewports.first().map(|v| v.id)).ok_or("no viewport")?;
                    let name = renderer.ok_or("'viewport': 'renderer' needs a renderer name")?;
                    let name =
                        self.opts.registry.resolve(&name).map_err(|e| e.to_string())?.to_string();
                    self.act(super::Action::SetRenderer(id, name));
                    Ok(None)
                }
            },
            Request::Query => {
                let objects = self.object_list(remote);
                let (t0, t1) = self.scene.time_span().unwrap_or((0.0, 0.0));
                Ok(Some(Message::new(
                    json!({"type": "objects", "objects": objects, "time": self.playback.time,
                           "renderers": self.opts.registry.names(),
                           "span": [t0, t1], "viewports": self.viewports.iter().map(|v| v.id).collect::<Vec<_>>()}),
                    vec![],
                )))
            }
            Request::RemoveFrame { name, at } => match remote.objects.get(&name) {
                Some(
                    Obj::Points { stream: Some(s), .. }
                    | Obj::Mesh { stream: Some(s), .. }
                    | Obj::Image { stream: Some(s), .. },
                ) => {
                    if s.remove_at(seconds(at)) {
                        self.reapply_time();
                        Ok(None)
                    } else {
                        Err(format!("'{name}': no frame at {} s", seconds(at)))
                    }
                }
                Some(_) => Err(format!("'{name}' has no frames")),
                None => Err(no_object(&name)),
            },
            Request::Quit => {
                remote.quit = true;
                Ok(None)
            }
            Request::Light {
                name,
                kind,
                color,
                intensity,
                shadows,
                range,
                position,
                direction,
                cone,
                at,
            } => {
                let kind = match kind.as_str() {
                    "point" => scene::LightKind::Point,
                    "spot" => scene::LightKind::Spot {
                        inner: cone.0.to_radians(),
                        outer: cone.1.to_radians(),
                    },
                    _ => scene::LightKind::Directional,
                };
                let (pos, dir) =
                    (glam::Vec3::from(position), glam::Vec3::from(direction).normalize());
                let up = if dir.cross(glam::Vec3::Y).length() > 1e-3 {
                    glam::Vec3::Y
                } else {
                    glam::Vec3::Z
                };
                // The light shines along its node's -Z.
                let m = glam::Mat4::from_rotation_translation(
                    crate::camera::look_rotation(dir, up),
                    pos,
                );
                // Colour, intensity and pose: now, or samples over time.
                let set_light = |app: &mut Self, node: usize, light: usize| -> Reply {
                    app.set_at(Property::LightColor(light), Value::Vec3(color.into()), at)?;
                    app.set_at(Property::LightIntensity(light), Value::Float(intensity), at)?;
                    app.set_at(Property::NodeTransform(node), Value::Transform(m), at)
                };
                if let Some(Obj::Light { node, light }) = remote.objects.get(&name).cloned() {
                    if self.scene.lights.get(light).is_some_and(|l| l.kind == kind) {
                        if let Some(l) = self.scene.light_mut(light) {
                            l.shadows = shadows;
                            l.range = range;
                        }
                        return set_light(self, node, light);
                    }
                }
                self.forget(remote, &name);
                let mut s = Scene::default();
                s.lights.push(scene::Light {
                    name: name.clone(),
                    kind,
                    color,
                    intensity,
                    shadows,
                    range,
                });
                s.nodes.push(scene::Node::new(&name, m).with_light(0));
                s.update_world();
                self.append_scenes(vec![s]);
                let light = self
                    .scene
                    .lights
                    .iter()
                    .rposition(|l| l.name == name)
                    .ok_or("the light is missing")?;
                let node = self
                    .scene
                    .nodes
                    .iter()
                    .position(|n| n.light == Some(light))
                    .ok_or("the light's node is missing")?;
                remote.objects.insert(name, Obj::Light { node, light });
                if at.is_some() {
                    set_light(self, node, light)?;
                }
                Ok(None)
            }
            Request::Material { name, base_color, metallic, roughness, emissive, at } => {
                let Some(Obj::Mesh { mesh, .. }) = remote.objects.get(&name) else {
                    return Err(match remote.objects.get(&name) {
                        Some(o) => format!("'{name}' is {} (materials are for meshes)", o.kind()),
                        None => no_object(&name),
                    });
                };
                let m = self
                    .scene
                    .meshes
                    .get(*mesh)
                    .and_then(|m| m.primitives.first())
                    .map(|p| p.material)
                    .ok_or("the mesh is missing")?;
                if let Some(c) = base_color {
                    self.set_at(Property::BaseColor(m), Value::Vec4(c.into()), at)?;
                }
                if let Some(v) = metallic {
                    self.set_at(Property::Metallic(m), Value::Float(v), at)?;
                }
                if let Some(v) = roughness {
                    self.set_at(Property::Roughness(m), Value::Float(v), at)?;
                }
                if let Some(e) = emissive {
                    self.set_at(Property::Emissive(m), Value::Vec3(e.into()), at)?;
                }
                Ok(None)
            }
            Request::SceneCamera { name, eye, target, up, fov } => {
                let (e, t) = (glam::Vec3::from(eye), glam::Vec3::from(target));
                let up = glam::Vec3::from(up);
                let ok = (t - e).length() > 1e-6 && (t - e).cross(up).length() > 1e-6;
                let m = glam::Mat4::from_rotation_translation(
                    crate::camera::look_rotation(t - e, up),
                    e,
                );
                if !ok || !m.is_finite() {
                    return Err("'scene_camera': eye, target and up do not make a view".into());
                }
                self.remote_camera(remote, name, m, fov.to_radians())
            }
            Request::Screenshot { .. }
            | Request::Pick { .. }
            | Request::Subscribe { .. }
            | Request::Widget(_) => Ok(None),
            _ => Err("a request this viewer does not know".into()),
        }
    }

    /// The node that draws mesh `mesh` (found after an append: default lighting may have
    /// moved node indices).
    fn node_of_mesh(&self, mesh: usize) -> Result<usize, String> {
        self.scene
            .nodes
            .iter()
            .position(|n| n.mesh == Some(mesh))
            .ok_or_else(|| "the new object's node is missing".to_string())
    }

    /// The objects clients made, by name: `{"name", "kind", "count", "frames"}` (count:
    /// points, vertices, pixels or 1; frames: samples of its sequence, 0 if static).
    fn object_list(&self, remote: &Remote) -> Vec<serde_json::Value> {
        let mut names: Vec<&String> = remote.objects.keys().collect();
        names.sort();
        let mut objects: Vec<serde_json::Value> = names
            .into_iter()
            .map(|n| {
                let o = &remote.objects[n];
                let count = match o {
                    Obj::Points { set, .. } => {
                        self.scene.point_sets.get(*set).map_or(0, |p| p.positions.len())
                    }
                    Obj::Lines { set } => {
                        self.scene.line_sets.get(*set).map_or(0, |l| l.positions.len())
                    }
                    Obj::Mesh { mesh, .. } => self
                        .scene
                        .meshes
                        .get(*mesh)
                        .map_or(0, |m| m.primitives.iter().map(|p| p.positions.len()).sum()),
                    Obj::Light { .. } | Obj::Camera { .. } => 1,
                    Obj::Image { texture, .. } => self
                        .scene
                        .textures
                        .get(*texture)
                        .map_or(0, |t| (t.width * t.height) as usize),
                };
                let frames = match o {
                    Obj::Points { stream: Some(s), .. }
                    | Obj::Mesh { stream: Some(s), .. }
                    | Obj::Image { stream: Some(s), .. } => s.times().len(),
                    _ => 0,
                };
                json!({"name": n, "kind": o.kind(), "count": count, "frames": frames})
            })
            .collect();
        let mut groups: Vec<&String> = remote.groups.keys().collect();
        groups.sort();
        objects.extend(
            groups
                .into_iter()
                .map(|n| json!({"name": n, "kind": "transform", "count": 1, "frames": 0})),
        );
        objects
    }

    /// The objects clients made (or a replayed recording): (name, kind, frames of its
    /// sequence, 0 if static), by name.
    pub fn remote_objects(&self) -> Vec<(String, String, usize)> {
        let Some(r) = self.remote.as_ref() else { return Vec::new() };
        let field = |o: &serde_json::Value, k: &str| o[k].as_str().unwrap_or("").to_string();
        self.object_list(r)
            .iter()
            .map(|o| {
                (field(o, "name"), field(o, "kind"), o["frames"].as_u64().unwrap_or(0) as usize)
            })
            .collect()
    }

    /// Sets `p` to `v` for all times (None: a track it had goes) or puts a sample of it at
    /// `at` (its track, made if needed; the scene shows the playback time's value).
    fn set_at(&mut self, p: Property, v: Value, at: Option<At>) -> Reply {
        match at {
            None => {
                self.scene.properties.retain(|t| t.property != p);
                self.set(p, v)
            }
            Some(at) => {
                self.scene.set_property_at(p, seconds(at), v).map_err(|e| e.to_string())?;
                self.reapply_time();
                Ok(None)
            }
        }
    }

    fn set(&mut self, p: Property, v: Value) -> Reply {
        self.scene.set_property(p, v).map(|_| None).map_err(|e| e.to_string())
    }

    /// The scene at the playback time again (a client's sequence changed under it).
    fn reapply_time(&mut self) {
        self.scene.set_time(self.playback.time);
    }

    /// Hides a client's object and forgets its name (the scene keeps its slot: indices of
    /// other objects do not move).
    fn forget(&mut self, remote: &mut Remote, name: &str) {
        let Some(o) = remote.objects.remove(name) else { return };
        // Its properties over time go with it (a set's own node's too).
        self.scene.properties.retain(|t| !o.owns(t.property));
        if let Some(n) = self.set_node(&o) {
            self.scene.properties.retain(|t| t.property != Property::NodeTransform(n));
        }
        // A mesh's material over time (its own material: clients' meshes share none).
        if let Obj::Mesh { mesh, .. } = o {
            let materials: Vec<usize> = self
                .scene
                .meshes
                .get(mesh)
                .map(|m| m.primitives.iter().map(|p| p.material).collect())
                .unwrap_or_default();
            self.scene.properties.retain(|t| match t.property {
                Property::BaseColor(m)
                | Property::Emissive(m)
                | Property::Metallic(m)
                | Property::Roughness(m) => !materials.contains(&m),
                _ => true,
            });
        }
        let r = match o {
            Obj::Points { set, stream } => {
                if stream.is_some() {
                    self.scene.properties.retain(|p| p.property != Property::PointFrame(set));
                }
                // Its data goes (create and delete loops do not grow the viewer's memory).
                if let Some(p) = self.scene.point_sets.get_mut(set) {
                    p.positions = Vec::new();
                    p.colors = Vec::new();
                    p.scalars = Vec::new();
                    p.frame = None;
                    self.scene.versions.structure += 1;
                }
                self.scene.set_property(Property::PointsVisible(set), Value::Bool(false))
            }
            Obj::Lines { set } => {
                if let Some(l) = self.scene.line_sets.get_mut(set) {
                    l.positions = Vec::new();
                    l.colors = Vec::new();
                    self.scene.versions.structure += 1;
                }
                self.scene.set_property(Property::LinesVisible(set), Value::Bool(false))
            }
            Obj::Mesh { node, mesh, stream } => {
                if stream.is_some() {
                    let p = Property::Triangles { mesh, primitive: 0 };
                    self.scene.properties.retain(|t| t.property != p);
                }
                // Its data goes: one degenerate triangle stays (a mesh keeps a primitive).
                if let Some(m) = self.scene.meshes.get_mut(mesh) {
                    for p in &mut m.primitives {
                        let material = p.material;
                        *p = scene::Primitive {
                            positions: vec![[0.0; 3]; 3],
                            normals: vec![[0.0, 0.0, 1.0]; 3],
                            indices: vec![0, 1, 2],
                            material,
                            hidden: true,
                            ..Default::default()
                        };
                    }
                    self.scene.versions.structure += 1;
                }
                self.scene.set_property(Property::NodeVisible(node), Value::Bool(false))
            }
            Obj::Image { node, texture, stream } => {
                if stream.is_some() {
                    self.scene.properties.retain(|t| t.property != Property::Texels(texture));
                }
                // Its texels go: one stays.
                if let Some(t) = self.scene.textures.get_mut(texture) {
                    t.width = 1;
                    t.height = 1;
                    t.pixels = scene::TexturePixels::Rgba8(vec![[0; 4]]);
                    self.scene.versions.structure += 1;
                }
                self.scene.set_property(Property::NodeVisible(node), Value::Bool(false))
            }
            // A light is switched off; a camera's node no longer holds it (C no longer steps
            // to it).
            Obj::Light { light, .. } => {
                self.scene.set_property(Property::LightIntensity(light), Value::Float(0.0))
            }
            Obj::Camera { node, .. } => {
                if let Some(n) = self.scene.nodes.get_mut(node) {
                    n.camera = None;
                }
                self.scene.versions.structure += 1;
                Ok(())
            }
        };
        if let Err(e) = r {
            tracing::warn!("deleting '{name}': {e}");
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn remote_points(
        &mut self,
        remote: &mut Remote,
        name: String,
        positions: Vec<[f32; 3]>,
        colors: Vec<[u8; 4]>,
        scalars: Vec<f32>,
        size: Option<f32>,
        at: Option<At>,
    ) -> Reply {
        let existing = remote.objects.get(&name).cloned();
        if let Some(at) = at {
            // A sample of the object's sequence: frames in memory, drawn through the frame
            // pool like a sequence from disk.
            let frame = Frame { positions, colors, scalars, ..Default::default() };
            if let Some(Obj::Points { set, stream: Some(s) }) = &existing {
                s.put(seconds(at), frame)?;
                if let Some(sz) = size {
                    self.set(Property::PointSize(*set), Value::Float(sz))?;
                }
                self.reapply_time();
                return Ok(None);
            }
            self.forget(remote, &name);
            let mut ps = scene::PointSet::new(&name, frame.positions.clone());
            ps.colors = frame.colors.clone();
            ps.scalars = frame.scalars.clone();
            if !ps.scalars.is_empty() {
                ps.colormap = Some(scene::Colormap::fit(scene::ColormapKind::Viridis, &ps.scalars));
            }
            ps.size_px = size.unwrap_or(ps.size_px);
            let mut s = Scene::default();
            s.point_sets.push(ps);
            let stream =
                client_sequence(&mut s, Property::PointFrame(0), FramePart::Whole, at, frame)?;
            let set = self.scene.point_sets.len();
            self.append_scenes(vec![s]);
            self.reapply_time();
            remote.objects.insert(name, Obj::Points { set, stream: Some(stream) });
            return Ok(None);
        }
        if let Some(Obj::Points { set, stream: None }) = existing {
            // What the new frame replaces goes back to the server's readers, to be filled
            // with the next one (large arrays only).
            let recycle = |old: Option<Value>| match (old, &remote.server) {
                (Some(Value::Vec3s(v)), Some(server)) => server.recycled().give_words(v),
                (Some(Value::Colors(v)), Some(server)) => server.recycled().give_bytes(v),
                _ => {}
            };
            let replace = |s: &mut Scene, p, v| s.replace_property(p, v).map_err(|e| e.to_string());
            recycle(replace(
                &mut self.scene,
                Property::PointPositions(set),
                Value::Vec3s(positions),
            )?);
            recycle(replace(&mut self.scene, Property::PointColors(set), Value::Colors(colors))?);
            if !scalars.is_empty() {
                let fit = scene::Colormap::fit(scene::ColormapKind::Viridis, &scalars);
                if let Some(p) = self.scene.point_sets.get_mut(set) {
                    if p.colormap.is_none() {
                        p.colormap = Some(fit);
                        self.scene.versions.structure += 1;
                    }
                }
            }
            self.set(Property::PointScalars(set), Value::Floats(scalars))?;
            if let Some(sz) = size {
                self.set(Property::PointSize(set), Value::Float(sz))?;
            }
            return Ok(None);
        }
        self.forget(remote, &name);
        let mut ps = scene::PointSet::new(&name, positions);
        ps.colors = colors;
        if !scalars.is_empty() {
            ps.colormap = Some(scene::Colormap::fit(scene::ColormapKind::Viridis, &scalars));
        }
        ps.scalars = scalars;
        ps.size_px = size.unwrap_or(ps.size_px);
        let mut s = Scene::default();
        s.point_sets.push(ps);
        let set = self.scene.point_sets.len();
        self.append_scenes(vec![s]);
        remote.objects.insert(name, Obj::Points { set, stream: None });
        Ok(None)
    }

    /// A camera of the scene named `name` at `pose` (camera to world) with a vertical field
    /// of view `yfov` (radians): moved if it exists.
    fn remote_camera(
        &mut self,
        remote: &mut Remote,
        name: String,
        pose: glam::Mat4,
        yfov: f32,
    ) -> Reply {
        if let Some(Obj::Camera { node, camera }) = remote.objects.get(&name).cloned() {
            if let Some(c) = self.scene.cameras.get_mut(camera) {
                c.projection = scene::Projection::Perspective { yfov };
            }
            self.scene.set_local_transform(node, pose);
            return Ok(None);
        }
        self.forget(remote, &name);
        let mut s = Scene::default();
        s.cameras.push(scene::Camera::perspective(&name, yfov, None));
        s.nodes.push(scene::Node::new(&name, pose).with_camera(0));
        s.update_world();
        let camera = self.scene.cameras.len();
        self.append_scenes(vec![s]);
        let node = self
            .scene
            .nodes
            .iter()
            .position(|n| n.camera == Some(camera))
            .ok_or("the camera's node is missing")?;
        remote.objects.insert(name, Obj::Camera { node, camera });
        Ok(None)
    }

    /// A shape made into a mesh (spheres, tubes, arrows, voxels): a new object of `name`
    /// (replacing any), white where its vertices have no colour.
    fn remote_shape(&mut self, remote: &mut Remote, name: String, prim: scene::Primitive) -> Reply {
        self.forget(remote, &name);
        let mut s = Scene::default();
        s.materials.push(scene::Material::lambert(&name, [1.0, 1.0, 1.0]));
        s.meshes.push(scene::Mesh { name: name.clone(), primitives: vec![prim] });
        s.nodes.push(scene::Node::new(&name, glam::Mat4::IDENTITY).with_mesh(0));
        s.update_world();
        let mesh = self.scene.meshes.len();
        self.append_scenes(vec![s]);
        self.reapply_time();
        let node = self.node_of_mesh(mesh)?;
        remote.objects.insert(name, Obj::Mesh { node, mesh, stream: None });
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    fn remote_mesh(
        &mut self,
        remote: &mut Remote,
        name: String,
        vertices: Vec<[f32; 3]>,
        faces: Vec<u32>,
        colors: Vec<[u8; 4]>,
        color: Option<[f32; 4]>,
        at: Option<At>,
    ) -> Reply {
        let linear: Vec<[f32; 4]> = colors.iter().map(|&c| scene::srgba8_to_linear(c)).collect();
        let existing = remote.objects.get(&name).cloned();
        if let (Some(at), Some(Obj::Mesh { stream: Some(s), .. })) = (at, &existing) {
            // Another sample of the mesh's sequence.
            s.put(
                seconds(at),
                Frame { positions: vertices, indices: faces, colors, ..Default::default() },
            )?;
            self.reapply_time();
            return Ok(None);
        }
        if let (None, Some(Obj::Mesh { mesh, stream: None, .. })) = (at, &existing) {
            let mesh = *mesh;
            let p = Property::Triangles { mesh, primitive: 0 };
            self.set(p, Value::Triangles { positions: vertices, indices: faces })?;
            if !linear.is_empty() {
                self.set(Property::VertexColors { mesh, primitive: 0 }, Value::Vec4s(linear))?;
            }
            return Ok(None);
        }
        self.forget(remote, &name);
        let mut s = Scene::default();
        let base = color.unwrap_or([0.8, 0.8, 0.8, 1.0]);
        let mut material = scene::Material::lambert(&name, [base[0], base[1], base[2]]);
        material.base_color[3] = base[3];
        s.materials.push(material);
        let normals = scene::property::smooth_normals(&vertices, &faces);
        // A sequence: its samples in memory, each frame's triangles and vertex colours set
        // at its time.
        let stream = at
            .map(|at| {
                let frame = Frame {
                    positions: vertices.clone(),
                    indices: faces.clone(),
                    colors,
                    ..Default::default()
                };
                let p = Property::Triangles { mesh: 0, primitive: 0 };
                let stream = client_sequence(&mut s, p, FramePart::Triangles, at, frame)?;
                s.properties.push(scene::PropertyTrack {
                    property: Property::VertexColors { mesh: 0, primitive: 0 },
                    samples: scene::Samples::Source(Arc::new(StreamSource::new(
                        Arc::clone(&stream),
                        FramePart::VertexColors,
                        0,
                    ))),
                });
                Ok::<_, String>(stream)
            })
            .transpose()?;
        let prim = scene::Primitive {
            positions: vertices,
            normals,
            indices: faces,
            colors: linear,
            material: 0,
            ..Default::default()
        };
        s.meshes.push(scene::Mesh { name: name.clone(), primitives: vec![prim] });
        s.nodes.push(scene::Node::new(&name, glam::Mat4::IDENTITY).with_mesh(0));
        s.update_world();
        let mesh = self.scene.meshes.len();
        self.append_scenes(vec![s]);
        self.reapply_time();
        let node = self.node_of_mesh(mesh)?;
        remote.objects.insert(name, Obj::Mesh { node, mesh, stream });
        Ok(None)
    }
}

/// The most triangles a shape request may make (spheres, tubes, arrows, voxels): 2^28, 8 GiB
/// of vertices and indices on the GPU.
const MAX_SHAPE_TRIANGLES: usize = 1 << 28;

/// The most cameras a `frustum` request makes (one per pose).
const MAX_FRUSTUM_CAMERAS: usize = 256;

/// Refuses a shape of `count` instances of up to `each` triangles that could exceed
/// [`MAX_SHAPE_TRIANGLES`] (before any is made).
fn shape_bound(name: &str, count: usize, each: usize) -> Result<(), String> {
    match count.checked_mul(each) {
        Some(t) if t <= MAX_SHAPE_TRIANGLES => Ok(()),
        _ => Err(format!(
            "'{name}': {count} shapes of up to {each} triangles each: more than \
             {MAX_SHAPE_TRIANGLES} triangles"
        )),
    }
}

/// The scene's colormap of a protocol colormap.
fn colormap_kind(c: protocol::Colormap) -> scene::ColormapKind {
    match c {
        protocol::Colormap::Viridis => scene::ColormapKind::Viridis,
        protocol::Colormap::CoolWarm => scene::ColormapKind::CoolWarm,
        protocol::Colormap::Gray => scene::ColormapKind::Gray,
    }
}

/// Linear colours of a shape's instances: `colors` (sRGB) if any, else `values` through
/// `colormap` over their range, else none (white).
fn shape_colors(colors: &[[u8; 4]], values: &[f32], colormap: protocol::Colormap) -> Vec<[f32; 4]> {
    if !colors.is_empty() {
        colors.iter().map(|&c| scene::srgba8_to_linear(c)).collect()
    } else if !values.is_empty() {
        scene::shapes::colormapped(values, colormap_kind(colormap))
    } else {
        Vec::new()
    }
}

/// A client's sequence: its first sample `frame` at `at` in an in-memory stream whose
/// frames set `property` (the `part` of each frame) of `scene`'s object.
fn client_sequence(
    scene: &mut Scene,
    property: Property,
    part: FramePart,
    at: At,
    frame: Frame,
) -> Result<Arc<Stream>, String> {
    let stream = Arc::new(Stream::new(Vec::new(), Vec::new(), Arc::new(InMemory), usize::MAX, 1));
    stream.put(seconds(at), frame)?;
    scene.properties.push(scene::PropertyTrack {
        property,
        samples: scene::Samples::Source(Arc::new(StreamSource::new(Arc::clone(&stream), part, 0))),
    });
    Ok(stream)
}

/// A client's RGBA8 image as a texture.
fn image_texture(name: &str, width: u32, height: u32, pixels: Vec<[u8; 4]>) -> scene::Texture {
    scene::Texture {
        name: name.to_string(),
        width,
        height,
        pixels: scene::TexturePixels::Rgba8(pixels),
        srgb: true,
        sampler: Default::default(),
    }
}

fn no_object(name: &str) -> String {
    format!("no object '{name}'")
}
