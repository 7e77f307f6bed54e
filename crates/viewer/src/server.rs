//! The viewer as a server (`xpg-view --listen`): other programs send it data and requests in
//! the [`protocol`] crate's format. Network work runs on threads of its own (one reader and one
//! writer per client); checked requests reach the render thread through one bounded queue
//! (a fast client blocks on it: backpressure, no unbounded memory) and are applied between
//! frames by [`crate::app::App`] through the same scene API a Rust program uses. Each client's
//! messages are applied in the order sent.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use anyhow::Context as _;
use protocol::{Envelope, Limits, Message, ProtocolError, Request};

/// How the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The address (127.0.0.1:9870 by default).
    pub addr: SocketAddr,
    /// A token clients must send in `hello` (required when not bound to loopback).
    pub token: Option<String>,
    /// Message size limits.
    pub limits: Limits,
    /// Requests waiting for the render thread, all clients together.
    pub queue: usize,
    /// Bytes of arrays received and not yet applied, all clients together: past it, the
    /// server stops reading sockets until the render thread catches up (backpressure by
    /// memory, not only by count).
    pub memory: u64,
    /// Save every request that changes the scene, with its time, to this file (`--record`;
    /// `xpg-view FILE` replays it onto the timeline).
    pub record: Option<std::path::PathBuf>,
    /// Clients connected over loopback may pass arrays through shared memory (files
    /// `/dev/shm/xpg-*` of this user, read on the connection's thread).
    pub shared_memory: bool,
    /// Clients connected at once (more are refused with an error).
    pub max_clients: usize,
    /// Objects that clients hold in the scene at once, all clients together (a request that
    /// would make more gets an error; deleted objects do not count).
    pub max_objects: usize,
    /// Storage of arrays that a new frame replaced is filled again with the next frames read
    /// (no page faults on fresh memory; [`Recycled`]). Off only to measure what it saves.
    pub reuse_storage: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], protocol::DEFAULT_PORT)),
            token: None,
            limits: Limits::default(),
            queue: 64,
            memory: 2 << 30,
            record: None,
            shared_memory: true,
            max_clients: 64,
            max_objects: 100_000,
            reuse_storage: true,
        }
    }
}

/// Parses `--listen`'s value: `PORT`, `ADDR:PORT` or empty (the default address).
pub fn parse_listen(s: &str) -> anyhow::Result<SocketAddr> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(ServerConfig::default().addr);
    }
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().with_context(|| format!("--listen '{s}': expected PORT or ADDR:PORT"))
}

/// Where replies to one client go (its writer thread).
#[derive(Debug, Clone)]
pub struct Replier {
    tx: SyncSender<Message>,
}

impl Replier {
    /// Sends `m` to the client (dropped when the client is gone or not reading: a reply
    /// never blocks the render thread). False when the client is gone.
    pub fn send(&self, m: Message) -> bool {
        match self.tx.try_send(m) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!("a client does not read its replies: one dropped");
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// A checked request of a client, with where its reply goes.
#[derive(Debug)]
pub struct Incoming {
    /// The client (unique per connection).
    pub client: u64,
    /// Bytes of its arrays (given back with [`Server::applied`]).
    pub bytes: u64,
    /// The request; None: the client left (its last message: nothing of it follows, so the
    /// render thread forgets its subscriptions and widgets and lets its writer end).
    pub envelope: Option<Envelope>,
    /// Its reply channel.
    pub reply: Replier,
}

/// The listening server.
#[derive(Debug)]
pub struct Server {
    rx: Receiver<Incoming>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    clients: Arc<AtomicUsize>,
    served: Arc<AtomicU64>,
    recorder: Option<Arc<Recorder>>,
    inflight: Arc<AtomicU64>,
    timing: Arc<Timing>,
    max_objects: usize,
    recycled: Arc<Recycled>,
}

/// Where the connections' reader threads spent their time, all clients together (for
/// benchmarks and the stats panel).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerTimes {
    /// Reading messages off the sockets (including waiting for their bytes).
    pub reading: std::time::Duration,
    /// Checking them (the requests made of them).
    pub checking: std::time::Duration,
    /// Blocked on the render thread (the queue full or the memory budget reached).
    pub waiting: std::time::Duration,
    /// Array bytes received.
    pub bytes: u64,
    /// Applying the requests to the scene on the render thread (the viewer's part; zero
    /// from [`Server::times`]).
    pub applying: std::time::Duration,
}

#[derive(Debug, Default)]
struct Timing {
    reading: AtomicU64,
    checking: AtomicU64,
    waiting: AtomicU64,
    bytes: AtomicU64,
}

impl Timing {
    fn add(counter: &AtomicU64, since: std::time::Instant) {
        counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

impl Server {
    /// Binds `config.addr` and accepts clients on a thread. A non-loopback address needs a
    /// token: the one given, or one generated and printed.
    pub fn start(mut config: ServerConfig) -> anyhow::Result<Self> {
        if !config.addr.ip().is_loopback() && config.token.is_none() {
            let token = generate_token();
            println!(
                "listening on {} (not only this machine): clients must send the token {token}",
                config.addr
            );
            config.token = Some(token);
        }
        let listener = TcpListener::bind(config.addr)
            .with_context(|| format!("listening on {}", config.addr))?;
        let recorder = match &config.record {
            Some(p) => Some(Arc::new(Recorder::create(p)?)),
            None => None,
        };
        let addr = listener.local_addr()?;
        let (tx, rx) = sync_channel(config.queue.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let clients = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicU64::new(0));
        let (s, c, n) = (Arc::clone(&stop), Arc::clone(&clients), Arc::clone(&served));
        let kept = recorder.clone();
        let inflight = Arc::new(AtomicU64::new(0));
        let held = Arc::clone(&inflight);
        let timing = Arc::new(Timing::default());
        let timed = Arc::clone(&timing);
        let recycled = Arc::new(Recycled { off: !config.reuse_storage, ..Default::default() });
        let pool = Arc::clone(&recycled);
        let max_objects = config.max_objects;
        let config = Arc::new(config);
        std::thread::Builder::new().name("xpg server".into()).spawn(move || {
            let mut next = 1u64;
            for conn in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                if c.load(Ordering::Relaxed) >= config.max_clients {
                    // Refused before a thread is spent on it.
                    let m =
                        format!("the viewer serves at most {} clients at once", config.max_clients);
                    let _ = conn.set_write_timeout(Some(std::time::Duration::from_secs(1)));
                    let _ = protocol::error(None, &m).write(&mut conn);
                    // Its hello is read and dropped (closing on unread bytes would reset the
                    // connection, and the client could lose the error).
                    let _ = conn.shutdown(std::net::Shutdown::Write);
                    let _ = conn.set_read_timeout(Some(std::time::Duration::from_millis(100)));
                    let _ = (&conn).read(&mut [0u8; 4096]);
                    tracing::warn!("a client refused: {m}");
                    continue;
                }
                let id = next;
                next += 1;
                let (tx, config, count, n) =
                    (tx.clone(), Arc::clone(&config), Arc::clone(&c), Arc::clone(&n));
                let rec = recorder.clone();
                let (held, timed) = (Arc::clone(&held), Arc::clone(&timed));
                let pool = Arc::clone(&pool);
                c.fetch_add(1, Ordering::Relaxed);
                let spawned =
                    std::thread::Builder::new().name(format!("xpg client {id}")).spawn(move || {
                        let shared = Shared {
                            queue: &tx,
                            recycled: &pool,
                            clients: &count,
                            served: &n,
                            recorder: rec.as_deref(),
                            inflight: &held,
                            timing: &timed,
                        };
                        if let Err(e) = serve(conn, id, &config, &shared) {
                            tracing::info!("client {id}: {e}");
                        }
                    });
                if spawned.is_err() {
                    c.fetch_sub(1, Ordering::Relaxed);
                    tracing::error!("client {id}: no thread for it");
                }
            }
        })?;
        tracing::info!("listening on {addr}");
        Ok(Self {
            rx,
            addr,
            stop,
            clients,
            served,
            recorder: kept,
            inflight,
            timing,
            max_objects,
            recycled,
        })
    }

    /// The address it listens on (the port chosen when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next request waiting, if any (never blocks).
    pub fn try_next(&self) -> Option<Incoming> {
        self.rx.try_recv().ok()
    }

    /// Objects that clients may hold in the scene at once ([`ServerConfig::max_objects`]).
    pub fn max_objects(&self) -> usize {
        self.max_objects
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Requests received so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Where the reader threads spent their time so far.
    pub fn times(&self) -> ServerTimes {
        let d = |c: &AtomicU64| std::time::Duration::from_nanos(c.load(Ordering::Relaxed));
        ServerTimes {
            reading: d(&self.timing.reading),
            checking: d(&self.timing.checking),
            waiting: d(&self.timing.waiting),
            bytes: self.timing.bytes.load(Ordering::Relaxed),
            applying: std::time::Duration::ZERO,
        }
    }

    /// Where the render thread gives back array storage that it is done with.
    pub fn recycled(&self) -> &Recycled {
        &self.recycled
    }

    /// Gives back the bytes of a request the render thread is done with.
    pub fn applied(&self, bytes: u64) {
        self.inflight
            .fetch_sub(bytes.min(self.inflight.load(Ordering::Relaxed)), Ordering::Relaxed);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(r) = &self.recorder {
            r.flush();
        }
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
    }
}

/// A token of 128 random bits (from the OS's randomness through std's hasher keys).
fn generate_token() -> String {
    use std::io::Read as _;
    // 128 bits from the kernel's random source; the std hasher's random keys where there is
    // none (not a cryptographic source, but not guessable from outside either).
    let mut bytes = [0u8; 16];
    let kernel = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if kernel.is_err() {
        use std::hash::{BuildHasher, Hasher};
        for half in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(std::process::id() as u64);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal strings, compared in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(1);
    }
    diff == 0
}

/// What the client threads share.
/// Array storage the render thread is done with (a point set's positions and colours that a
/// new frame replaced), for the readers to fill with the next frames: fresh memory costs a
/// page fault, and the kernel's zeroing, every 4 KiB. At most [`Recycled::KEEP`] buffers of
/// each kind (a stream needs one: each frame applied gives one back, each frame read takes
/// one), each of at least [`Recycled::SMALLEST`] bytes, together at most [`Recycled::MOST`].
#[derive(Debug, Default)]
pub struct Recycled {
    /// Nothing is kept (`ServerConfig::reuse_storage` off).
    off: bool,
    words: std::sync::Mutex<Vec<Vec<u32>>>,
    bytes: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl Recycled {
    /// Buffers kept of each kind.
    pub const KEEP: usize = 2;
    /// Bytes kept of each kind.
    pub const MOST: usize = 256 << 20;
    /// Smaller buffers are not kept.
    pub const SMALLEST: usize = 256 << 10;

    fn keep<T>(&self, list: &std::sync::Mutex<Vec<Vec<T>>>, v: Vec<T>) {
        if self.off || v.capacity() * size_of::<T>() < Self::SMALLEST {
            return;
        }
        let mut l = list.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept: usize = l.iter().map(|v| v.capacity() * size_of::<T>()).sum();
        if l.len() < Self::KEEP && kept + v.capacity() * size_of::<T>() <= Self::MOST {
            l.push(v);
        }
        // Else `v` is freed here, after the lock is released.
    }

    /// Keeps the storage of 4-byte words (positions, scalars).
    pub fn give_words<T: bytemuck::Pod>(&self, v: Vec<T>) {
        if let Ok(w) = bytemuck::allocation::try_cast_vec::<T, u32>(v) {
            self.keep(&self.words, w);
        }
    }

    /// Keeps the storage of bytes (RGBA8 colours).
    pub fn give_bytes<T: bytemuck::Pod>(&self, v: Vec<T>) {
        if let Ok(b) = bytemuck::allocation::try_cast_vec::<T, u8>(v) {
            self.keep(&self.bytes, b);
        }
    }

    /// How many buffers of words and of bytes are kept.
    #[cfg(test)]
    fn kept(&self) -> (usize, usize) {
        fn len<T>(l: &std::sync::Mutex<Vec<Vec<T>>>) -> usize {
            l.lock().map_or(0, |l| l.len())
        }
        (len(&self.words), len(&self.bytes))
    }

    /// `room` in a kept buffer that fits it, if there is one.
    pub fn fill(&self, mut room: protocol::Unfilled) -> protocol::Unfilled {
        fn take<T>(l: &std::sync::Mutex<Vec<Vec<T>>>, room: &protocol::Unfilled) -> Option<Vec<T>> {
            let mut l = l.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let k = l.iter().position(|v| room.fits(v.capacity() * size_of::<T>()))?;
            Some(l.swap_remove(k))
        }
        if room.len() < Self::SMALLEST {
            return room;
        }
        // (A buffer that fits, of the room's unit, is always taken.)
        match room.unit() {
            4 => {
                if let Some(v) = take(&self.words, &room) {
                    let _ = room.reuse_words(v);
                }
            }
            1 => {
                if let Some(v) = take(&self.bytes, &room) {
                    let _ = room.reuse_bytes(v);
                }
            }
            _ => {}
        }
        room
    }
}

struct Shared<'a> {
    queue: &'a SyncSender<Incoming>,
    /// Storage to fill again.
    recycled: &'a Recycled,
    /// Clients connected (one less as soon as this one's reader ends).
    clients: &'a AtomicUsize,
    served: &'a AtomicU64,
    recorder: Option<&'a Recorder>,
    inflight: &'a AtomicU64,
    timing: &'a Timing,
}

/// One client: the handshake, then requests until it leaves or breaks the protocol.
fn serve(
    conn: TcpStream,
    client: u64,
    config: &ServerConfig,
    shared: &Shared<'_>,
) -> anyhow::Result<()> {
    let Shared { queue, recycled, clients, served, recorder, inflight, timing } = *shared;
    // One client less when its reader ends, however it ends.
    struct Leave<'a>(&'a AtomicUsize);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let leave = Leave(clients);
    conn.set_nodelay(true)?;
    // A client that stops reading its replies cannot hold the writer for ever, and one that
    // never says hello does not hold its place.
    conn.set_write_timeout(Some(std::time::Duration::from_secs(30)))?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let local =
        config.shared_memory && conn.peer_addr().is_ok_and(|a| a.ip().to_canonical().is_loopback());
    let mut shared_file: Option<String> = None;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, conn.try_clone()?);
    let (tx, rx) = sync_channel::<Message>(256);
    let writer = {
        let mut w = std::io::BufWriter::new(conn.try_clone()?);
        std::thread::Builder::new().name(format!("xpg client {client} writer")).spawn(
            move || {
                for m in rx {
                    if m.write(&mut w).is_err() {
                        break;
                    }
                }
                let _ = w.flush();
            },
        )?
    };
    let reply = Replier { tx };
    let result = (|| -> anyhow::Result<()> {
        // The handshake.
        let hello = Message::read(&mut reader, &config.limits)?;
        let refuse = |m: &str| {
            reply.send(protocol::error(hello.id(), m));
            anyhow::anyhow!("refused: {m}")
        };
        match Request::parse(&hello, &config.limits).map(|e| e.request) {
            Ok(Request::Hello { version, client: name, token, shm }) => {
                if version.0 != protocol::VERSION.0 {
                    return Err(refuse(&ProtocolError::Version { client: version }.to_string()));
                }
                if let Some(t) = &config.token {
                    if !token.as_deref().is_some_and(|g| same(g, t)) {
                        return Err(refuse("a wrong or missing token"));
                    }
                }
                tracing::info!(
                    "client {client} ({name}) connected, protocol {}.{}",
                    version.0,
                    version.1
                );
                // Shared memory: only the file the client named, once its nonce reads back
                // (the same machine and the same files: not through a tunnel or a container
                // of its own).
                shared_file = shm.filter(|_| local).and_then(|(file, nonce)| {
                    let mut back = vec![0u8; nonce.len()];
                    let same_bytes = read_shared(&file, 0, &mut back).is_ok()
                        && same(std::str::from_utf8(&back).unwrap_or(""), &nonce);
                    same_bytes.then_some(file)
                });
                conn.set_read_timeout(None)?;
                let server = concat!("xpg-view ", env!("CARGO_PKG_VERSION"));
                reply.send(protocol::welcome(server, shared_file.is_some()));
            }
            Ok(_) => return Err(refuse("the first message must be 'hello'")),
            Err(e) => return Err(refuse(&e.to_string())),
        }
        loop {
            // Not past the memory budget: wait for the render thread (TCP pushes back on
            // the client meanwhile).
            let t = std::time::Instant::now();
            while inflight.load(Ordering::Relaxed) > config.memory {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Timing::add(&timing.waiting, t);
            let t = std::time::Instant::now();
            let fill = |r: &mut _, room| fill_from_socket(r, recycled.fill(room));
            let mut m = match Message::read_with(&mut reader, &config.limits, fill) {
                Ok(m) => m,
                Err(ProtocolError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(());
                }
                Err(e) => {
                    // The framing is broken: nothing after can be trusted.
                    reply.send(protocol::error(None, &e.to_string()));
                    return Err(e.into());
                }
            };
            if !m.shared.is_empty() {
                // Arrays in shared memory (the rest of the stream is intact either way): only
                // from the file the client proved in its hello.
                let read = match &shared_file {
                    Some(own) => m.resolve_shared(|file, offset, into| {
                        if file != own {
                            return Err(format!(
                                "'{file}' is not the shared-memory file this client named in \
                                 its hello"
                            ));
                        }
                        read_shared_array(file, offset, recycled.fill(into))
                    }),
                    None => Err("arrays in shared memory: only for clients on this machine \
                                 (connected to a loopback address) that named their file in \
                                 'hello', where the viewer allows it ([server] shared_memory)"
                        .to_string()),
                };
                if let Err(e) = read {
                    reply.send(protocol::error(m.id(), &format!("'{}': {e}", m.kind())));
                    continue;
                }
            }
            Timing::add(&timing.reading, t);
            let t = std::time::Instant::now();
            served.fetch_add(1, Ordering::Relaxed);
            let bytes: u64 = m.arrays.iter().map(|a| a.data.len() as u64).sum();
            timing.bytes.fetch_add(bytes, Ordering::Relaxed);
            let id = m.id();
            // The arrays become the request's vectors without a copy, unless the message is
            // also kept for the recording.
            let parsed = match recorder {
                Some(r) => Request::parse(&m, &config.limits).inspect(|_| r.record(client, &m)),
                None => Request::parse_owned(m, &config.limits),
            };
            Timing::add(&timing.checking, t);
            match parsed {
                Ok(envelope) => {
                    inflight.fetch_add(bytes, Ordering::Relaxed);
                    let incoming =
                        Incoming { client, bytes, envelope: Some(envelope), reply: reply.clone() };
                    // Blocks while the render thread is behind (backpressure).
                    let t = std::time::Instant::now();
                    let sent = queue.send(incoming);
                    Timing::add(&timing.waiting, t);
                    if sent.is_err() {
                        return Ok(());
                    }
                }
                Err(e) => {
                    reply.send(protocol::error(id, &e.to_string()));
                    if e.is_fatal() {
                        return Err(e.into());
                    }
                }
            }
        }
    })();
    // After its last request (the queue keeps the order): the render thread drops what it
    // holds of this client, its reply sender included, so that the writer ends once it has
    // sent what is left. A client that stops reading cannot hold the writer for ever.
    let _ = queue.send(Incoming { client, bytes: 0, envelope: None, reply: reply.clone() });
    drop(leave);
    drop(reply);
    let _ = writer.join();
    let _ = conn.shutdown(std::net::Shutdown::Both);
    result
}

/// Fills `into` from `r`: what `r` holds first, then straight from the socket into the
/// array's storage (not zeroed first, as safe code must: at 16 MB a frame, zeroing costs as
/// much as a third of the read). Small arrays go through the buffer.
#[cfg(unix)]
pub fn fill_from_socket(
    r: &mut std::io::BufReader<TcpStream>,
    mut into: protocol::Unfilled,
) -> std::io::Result<protocol::Payload> {
    use std::io::BufRead as _;
    use std::os::fd::AsRawFd as _;
    let len = into.len();
    if len < 64 << 10 {
        return into.read_from(r);
    }
    let base = into.as_mut_ptr();
    let buffered = r.buffer();
    let done = buffered.len().min(len);
    // SAFETY: `base` has room for `len >= done` bytes, and the reader's buffer is another
    // allocation.
    unsafe { std::ptr::copy_nonoverlapping(buffered.as_ptr(), base, done) };
    r.consume(done);
    let fd = r.get_ref().as_raw_fd();
    read_fully(done, len, |at, n| {
        // SAFETY: `[at, at + n)` lies in the writable room at `base`; `fd` is the socket that
        // `r` holds open.
        unsafe { libc::recv(fd, base.add(at).cast(), n, libc::MSG_WAITALL) }
    })?;
    // SAFETY: all `len` bytes were written (copied, then received).
    Ok(unsafe { into.assume_filled() })
}

#[cfg(not(unix))]
pub fn fill_from_socket(
    r: &mut std::io::BufReader<TcpStream>,
    into: protocol::Unfilled,
) -> std::io::Result<protocol::Payload> {
    into.read_from(r)
}

/// Calls `read(at, n)` (a system call reading at most `n` bytes to position `at` of the
/// destination: the count read, 0 at the end, -1 with `errno`) until `[at, end)` is filled;
/// interrupted calls are made again.
#[cfg(unix)]
fn read_fully(
    mut at: usize,
    end: usize,
    mut read: impl FnMut(usize, usize) -> isize,
) -> std::io::Result<()> {
    while at < end {
        match read(at, end - at) {
            n if n > 0 => at += n as usize,
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Opens the shared-memory file `/dev/shm/NAME` (a name [`protocol::SharedBytes::valid_name`]
/// accepts) to read `len` bytes at `offset`: a regular file of this user, not a link, large
/// enough.
#[cfg(target_os = "linux")]
fn open_shared(name: &str, offset: u64, len: usize) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    if !protocol::SharedBytes::valid_name(name) {
        return Err(format!("'{name}' is not a shared-memory name (xpg-...)"));
    }
    let path = std::path::Path::new("/dev/shm").join(name);
    // Not blocking on a FIFO; the type is checked on what was opened.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = f.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
    // /proc/self belongs to this process's user.
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    if !meta.is_file() || Some(meta.uid()) != me || meta.nlink() != 1 {
        return Err(format!("{}: not a file of this user", path.display()));
    }
    if offset.checked_add(len as u64).is_none_or(|e| e > meta.len()) {
        return Err(format!(
            "{} holds {} bytes: {len} bytes at offset {offset} are past its end",
            path.display(),
            meta.len(),
        ));
    }
    Ok(f)
}

/// Reads `into.len()` bytes at `offset` of the shared-memory file `NAME` ([`open_shared`]).
#[cfg(target_os = "linux")]
fn read_shared(name: &str, offset: u64, into: &mut [u8]) -> Result<(), String> {
    use std::os::unix::fs::FileExt as _;
    let f = open_shared(name, offset, into.len())?;
    f.read_exact_at(into, offset).map_err(|e| format!("/dev/shm/{name}: {e}"))
}

/// An array's bytes at `offset` of the shared-memory file `NAME` ([`open_shared`]), read
/// straight into their storage (not zeroed first: at 16 MB a frame, zeroing took as long as
/// a third of the read), large arrays by several threads.
#[cfg(target_os = "linux")]
fn read_shared_array(
    name: &str,
    offset: u64,
    mut into: protocol::Unfilled,
) -> Result<protocol::Payload, String> {
    use rayon::prelude::*;
    use std::os::fd::AsRawFd as _;
    let len = into.len();
    let f = open_shared(name, offset, len)?;
    let fd = f.as_raw_fd();
    // An address, so that the threads can share it; each writes its own range of it.
    let base = into.as_mut_ptr() as usize;
    const CHUNK: usize = 512 << 10;
    (0..len.div_ceil(CHUNK))
        .into_par_iter()
        .try_for_each(|k| {
            read_fully(k * CHUNK, ((k + 1) * CHUNK).min(len), |at, n| {
                // SAFETY: `[at, at + n)` lies in this chunk of the `len` writable bytes at
                // `base`, which no other thread writes; `fd` stays open (`f` outlives the loop).
                unsafe {
                    libc::pread(
                        fd,
                        (base + at) as *mut libc::c_void,
                        n,
                        (offset + at as u64) as libc::off_t,
                    )
                }
            })
        })
        .map_err(|e| format!("/dev/shm/{name}: {e}"))?;
    drop(f);
    // SAFETY: every chunk was read in full (an error or a short file returned above).
    Ok(unsafe { into.assume_filled() })
}

#[cfg(not(target_os = "linux"))]
fn read_shared(name: &str, _: u64, _: &mut [u8]) -> Result<(), String> {
    Err(format!("'{name}': shared memory is read on Linux only"))
}

#[cfg(not(target_os = "linux"))]
fn read_shared_array(
    name: &str,
    _: u64,
    _: protocol::Unfilled,
) -> Result<protocol::Payload, String> {
    Err(format!("'{name}': shared memory is read on Linux only"))
}

/// The first bytes of a recording.
pub const RECORDING_MAGIC: &[u8; 8] = b"XPGREC1\n";

/// The kinds of requests a recording keeps: everything that changes the scene or the views
/// (not the handshake, questions, subscriptions, widgets or `quit`).
pub const RECORDED: &[&str] = &[
    "points",
    "mesh",
    "lines",
    "axes",
    "spheres",
    "tubes",
    "arrows",
    "voxels",
    "frustum",
    "image",
    "transform",
    "delete",
    "remove_frame",
    "light",
    "material",
    "scene_camera",
    "playback",
    "camera",
    "viewport",
];

/// Writes a recording: [`RECORDING_MAGIC`], then per request the seconds since the start
/// (f64 LE), the client (u64 LE) and the message as it came on the wire.
#[derive(Debug)]
pub struct Recorder {
    out: std::sync::Mutex<(std::io::BufWriter<std::fs::File>, std::time::Instant)>,
    start: std::time::Instant,
}

impl Recorder {
    /// Creates `path` (an existing file is replaced).
    pub fn create(path: &std::path::Path) -> anyhow::Result<Self> {
        let f =
            std::fs::File::create(path).with_context(|| format!("--record {}", path.display()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        w.write_all(RECORDING_MAGIC)?;
        w.flush()?;
        let now = std::time::Instant::now();
        Ok(Self { out: std::sync::Mutex::new((w, now)), start: now })
    }

    /// Appends `m` of `client` if it changes the scene (flushed at most ten times a second).
    pub fn record(&self, client: u64, m: &Message) {
        if !RECORDED.contains(&m.kind()) {
            return;
        }
        let t = self.start.elapsed().as_secs_f64();
        let mut g = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (w, flushed) = &mut *g;
        let ok = w.write_all(&t.to_le_bytes()).is_ok()
            && w.write_all(&client.to_le_bytes()).is_ok()
            && m.write(w).is_ok();
        if !ok {
            tracing::error!("recording: a write failed");
        } else if flushed.elapsed() > std::time::Duration::from_millis(100) {
            let _ = w.flush();
            *flushed = std::time::Instant::now();
        }
    }
}

impl Recorder {
    /// Writes what is buffered.
    pub fn flush(&self) {
        let mut g = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = g.0.flush();
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Reads a recording: (seconds, client, message) in order. A file cut short (a viewer that
/// was killed) gives the records before the cut.
pub fn read_recording(
    path: &std::path::Path,
    limits: &Limits,
) -> anyhow::Result<Vec<(f64, u64, Message)>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut r = std::io::BufReader::new(f);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).with_context(|| format!("{}: not a recording", path.display()))?;
    if &magic != RECORDING_MAGIC {
        anyhow::bail!("{}: not a recording of xpg-view (--record)", path.display());
    }
    let mut out = Vec::new();
    loop {
        let mut head = [0u8; 16];
        if r.read_exact(&mut head).is_err() {
            break;
        }
        let t = f64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        let client = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
        match Message::read(&mut r, limits) {
            Ok(m) => out.push((t, client, m)),
            Err(ProtocolError::Io(_)) => break,
            Err(e) => anyhow::bail!("{}: record {}: {e}", path.display(), out.len()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// Storage given back is filled with the next array that fits it, once; storage too
    /// small, too large for the array or of the other kind is not; at most `KEEP` are kept.
    #[test]
    fn storage_given_back_is_filled_again() {
        use std::io::Read as _;
        let pool = super::Recycled::default();
        let n = 100_000;
        let old: Vec<[f32; 3]> = vec![[1.0; 3]; n];
        let old_at = old.as_ptr() as usize;
        pool.give_words(old);
        pool.give_words(vec![[0f32; 3]; 10]);
        pool.give_bytes(vec![[0u8; 4]; 4 * n]);
        let p: Vec<f32> = (0..n * 3).map(|i| i as f32).collect();
        let m = protocol::Message::new(
            serde_json::json!({"type": "points", "name": "p"}),
            vec![protocol::Array::f32("positions", &[n, 3], &p)],
        );
        let bytes = m.to_bytes();
        let read = |pool: &super::Recycled| {
            let mut at = 0;
            let mut r = std::io::Cursor::new(&bytes);
            let got = protocol::Message::read_with(&mut r, &Default::default(), |r, room| {
                let mut room = pool.fill(room);
                at = room.as_mut_ptr() as usize;
                let mut tmp = vec![0u8; room.len()];
                r.read_exact(&mut tmp)?;
                room.fill_from(&tmp).ok_or_else(|| std::io::Error::other("length"))
            });
            (got.expect("read"), at)
        };
        let (got, at) = read(&pool);
        assert_eq!(at, old_at, "the kept storage was filled");
        assert_eq!(got, m);
        let (got, at) = read(&pool);
        assert_ne!(at, old_at, "and taken");
        assert_eq!(got, m);
        // Bytes (colours, 1.6 MB: four times the positions' room at most twice) are not
        // taken for words; at most KEEP buffers are kept.
        for _ in 0..3 {
            pool.give_words(vec![[0f32; 3]; n]);
        }
        assert_eq!(pool.kept(), (super::Recycled::KEEP, 1));
        // Switched off (`ServerConfig::reuse_storage`), nothing is kept.
        let off = super::Recycled { off: true, ..Default::default() };
        off.give_words(vec![[0f32; 3]; n]);
        off.give_bytes(vec![[0u8; 4]; n]);
        assert_eq!(off.kept(), (0, 0));
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let (a, b) = (super::generate_token(), super::generate_token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(super::same(&a, &a.clone()));
        assert!(!super::same(&a, &b) && !super::same(&a, &a[..31]) && !super::same("", &a));
    }
}
