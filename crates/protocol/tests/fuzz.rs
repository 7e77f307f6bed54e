//! The decoder under a million mutated messages (a mutation loop on stable Rust: cargo-fuzz
//! needs nightly), and a corpus of malformed messages as regression tests: every input gets a
//! message or an error, never a panic, and no allocation beyond the limits.

use protocol::{Array, Limits, Message, Request};
use serde_json::json;

/// xorshift64*: reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let xyz = Array::f32("positions", &[3, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    [
        Message::new(json!({"type": "hello", "version": [1, 0], "client": "fuzz"}), vec![]),
        Message::new(
            json!({"type": "points", "id": 1, "name": "a/b", "time": 1.5}),
            vec![xyz.clone(), Array::u8("colors", &[3, 4], &[1; 12])],
        ),
        Message::new(
            json!({"type": "mesh", "id": 2, "name": "m", "color": [1, 0, 0, 1]}),
            vec![
                xyz.clone(),
                Array { name: "vertices".into(), ..xyz.clone() },
                Array {
                    name: "faces".into(),
                    dtype: protocol::Dtype::U32,
                    shape: vec![1, 3],
                    data: [0u32, 1, 2]
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect::<Vec<u8>>()
                        .into(),
                },
            ],
        ),
        Message::new(json!({"type": "lines", "name": "l", "strip": true}), vec![xyz.clone()]),
        Message::new(
            json!({"type": "image", "name": "i"}),
            vec![Array::u8("pixels", &[2, 2, 3], &[9; 12])],
        ),
        Message::new(
            json!({"type": "transform", "name": "a"}),
            vec![Array::f32("matrix", &[4, 4], &[1.0; 16])],
        ),
        Message::new(json!({"type": "playback", "action": "seek", "time": 2.0}), vec![]),
        Message::new(json!({"type": "camera", "eye": [0, 0, 5], "target": [0, 0, 0]}), vec![]),
        Message::new(json!({"type": "screenshot", "id": 9, "format": "png"}), vec![]),
        Message::new(json!({"type": "query", "id": 4}), vec![]),
        Message::new(json!({"type": "remove_frame", "name": "a", "frame": 3}), vec![]),
        Message::new(
            json!({"type": "transform", "name": "a", "time": 0.5}),
            vec![Array::f32("matrix", &[4, 4], &[0.5; 16])],
        ),
        Message::new(
            json!({"type": "light", "name": "s", "kind": "spot", "color": [1, 1, 1],
                   "intensity": 2, "position": [0, 1, 0], "direction": [0, -1, 0],
                   "cone": [10, 20], "range": 3, "shadows": false, "frame": 2}),
            vec![],
        ),
        Message::new(
            json!({"type": "material", "name": "m", "base_color": [1, 0, 0, 1], "metallic": 0.5,
                   "roughness": 0.2, "emissive": [0, 0, 1], "time": 1}),
            vec![],
        ),
        Message::new(
            json!({"type": "scene_camera", "name": "c", "eye": [0, 0, 3], "target": [0, 0, 0],
                   "fov": 50}),
            vec![],
        ),
        Message::new(json!({"type": "subscribe", "events": ["key", "pick", "timeline"]}), vec![]),
        Message::new(
            json!({"type": "widget", "name": "w", "kind": "slider", "label": "s", "min": 0,
                   "max": 1, "value": 0.5}),
            vec![],
        ),
        Message::new(json!({"type": "viewport", "action": "set", "key": "k", "value": 3}), vec![]),
        Message::new(json!({"type": "pick", "id": 3, "x": 10.5, "y": 4}), vec![]),
        Message::new(
            json!({"type": "spheres", "name": "s", "radius": 0.1, "detail": 2}),
            vec![Array { name: "centers".into(), ..xyz.clone() }],
        ),
        Message::new(
            json!({"type": "arrows", "name": "a", "colormap": "coolwarm"}),
            vec![
                Array { name: "origins".into(), ..xyz.clone() },
                Array { name: "vectors".into(), ..xyz.clone() },
            ],
        ),
        Message::new(
            json!({"type": "voxels", "name": "v", "threshold": 0.5}),
            vec![Array::f32("grid", &[2, 2, 2], &[1.0; 8])],
        ),
        Message::new(
            json!({"type": "frustum", "name": "f", "cameras": true}),
            vec![Array::f32("poses", &[1, 4, 4], &[1.0; 16])],
        ),
        {
            // Arrays in shared memory (1.1): the specs name a file, the payload is empty.
            let mut m =
                Message::new(json!({"type": "points", "id": 5, "name": "s"}), vec![xyz.clone()]);
            m.shared.push((0, protocol::SharedBytes { file: "xpg-1-2-ab".into(), offset: 64 }));
            m
        },
    ]
    .iter()
    .map(Message::to_bytes)
    .collect()
}

/// Whether `bytes` decoded as a message, and whether that message parsed as a request.
fn check(bytes: &[u8], limits: &Limits) -> (bool, bool) {
    match Message::decode(bytes, limits) {
        Ok((m, used)) => {
            assert!(used <= bytes.len());
            for a in &m.arrays {
                assert!(a.data.len() as u64 <= limits.payload_bytes);
            }
            (true, Request::parse(&m, limits).is_ok())
        }
        Err(_) => (false, false),
    }
}

#[test]
fn a_million_mutated_messages_never_panic() {
    let limits = Limits { payload_bytes: 1 << 20, array_elements: 1 << 18, ..Default::default() };
    let seeds = seeds();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut decoded, mut parsed, mut total) = (0u64, 0u64, 0u64);
    // Every seed is a valid request as it is (but the one whose array is still in shared
    // memory: the server reads it in first).
    for b in &seeds {
        let shared = String::from_utf8_lossy(b).contains("\"shm\"");
        assert_eq!(check(b, &limits), (true, !shared), "{}", String::from_utf8_lossy(b));
    }
    for _ in 0..1_000_000 {
        let mut b = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let n = b.len();
            match rng.below(7) {
                0 if n > 0 => b[rng.below(n)] ^= 1 << rng.below(8),
                1 if n > 0 => b[rng.below(n)] = rng.next() as u8,
                2 if n > 0 => {
                    let at = rng.below(n);
                    b.truncate(at);
                }
                3 => {
                    let at = rng.below(n + 1);
                    b.insert(
                        at,
                        b"{}[]\",:0123456789-e.".get(rng.below(20)).copied().unwrap_or(b'0'),
                    );
                }
                4 if n >= 4 => {
                    // The header length itself.
                    let v = rng.next() as u32 % 4096;
                    b[..4].copy_from_slice(&v.to_le_bytes());
                }
                5 if n > 8 => {
                    // A digit of a shape or a number in the JSON.
                    if let Some(k) =
                        (4..n).map(|_| 4 + rng.below(n - 4)).find(|&k| b[k].is_ascii_digit())
                    {
                        b[k] = b'0' + rng.below(10) as u8;
                    }
                }
                _ => {
                    let extra: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                    b.extend(extra);
                }
            }
        }
        total += 1;
        let (d, p) = check(&b, &limits);
        decoded += u64::from(d);
        parsed += u64::from(p);
    }
    assert_eq!(total, 1_000_000);
    // The mutations keep a share of the inputs decodable (they reach the request parser).
    assert!(decoded > 10_000, "only {decoded} decoded");
    // ... and a share of those are still requests (they reach the viewer's side).
    assert!(parsed > 5_000, "only {parsed} parsed");
}

/// Malformed messages seen or imagined: each is an error (or, where framing holds, a message
/// whose request is refused), never a panic.
#[test]
fn malformed_corpus_is_refused() {
    let limits = Limits::default();
    let frame = |h: &str, payload: &[u8]| {
        let mut b = (h.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(h.as_bytes());
        b.extend_from_slice(payload);
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short length", vec![1, 0]),
        ("length past the end", frame("{}", b"")[..3].to_vec()),
        ("not json", frame("hello", b"")),
        ("json array", frame("[1,2]", b"")),
        ("arrays not a list", frame(r#"{"type":"points","arrays":5}"#, b"")),
        (
            "array without dtype",
            frame(r#"{"type":"points","arrays":[{"name":"positions","shape":[1,3]}]}"#, b""),
        ),
        (
            "big-endian dtype",
            frame(
                r#"{"type":"points","arrays":[{"name":"positions","dtype":">f4","shape":[1,3]}]}"#,
                &[0; 12],
            ),
        ),
        (
            "negative dimension",
            frame(
                r#"{"type":"points","arrays":[{"name":"positions","dtype":"f4","shape":[-1,3]}]}"#,
                b"",
            ),
        ),
        (
            "float dimension",
            frame(
                r#"{"type":"points","arrays":[{"name":"positions","dtype":"f4","shape":[1.5,3]}]}"#,
                b"",
            ),
        ),
        (
            "overflowing shape",
            frame(
                r#"{"type":"points","arrays":[{"name":"positions","dtype":"f8","shape":[4294967296,4294967296,4294967296]}]}"#,
                b"",
            ),
        ),
        (
            "payload cut short",
            frame(
                r#"{"type":"points","arrays":[{"name":"positions","dtype":"f4","shape":[2,3]}]}"#,
                &[0; 10],
            ),
        ),
        (
            "too many arrays",
            frame(
                &format!(
                    r#"{{"type":"x","arrays":[{}]}}"#,
                    vec![r#"{"name":"a","dtype":"u1","shape":[0]}"#; 40].join(",")
                ),
                b"",
            ),
        ),
    ];
    let shm = |spec: &str| {
        frame(
            &format!(
                r#"{{"type":"points","name":"a","arrays":[{{"name":"positions","dtype":"f4","shape":[1,3],{spec}}}]}}"#
            ),
            b"",
        )
    };
    let cases: Vec<(&str, Vec<u8>)> = cases
        .into_iter()
        .chain([
            ("shared memory: a path", shm(r#""shm":"xpg-../../etc/passwd""#)),
            ("shared memory: another prefix", shm(r#""shm":"passwd""#)),
            ("shared memory: not a string", shm(r#""shm":5"#)),
            ("shared memory: negative offset", shm(r#""shm":"xpg-a","offset":-1"#)),
            ("shared memory: empty name", shm(r#""shm":"xpg-""#)),
        ])
        .collect();
    for (what, bytes) in cases {
        assert!(!check(&bytes, &limits).0, "{what}: decoded");
    }
    // Well framed, refused as requests.
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("no type", frame(r#"{"id":1}"#, b"")),
        ("unknown type", frame(r#"{"type":"format_disk"}"#, b"")),
        ("points without positions", frame(r#"{"type":"points","name":"a"}"#, b"")),
        (
            "positions of 2 columns",
            frame(
                r#"{"type":"points","name":"a","arrays":[{"name":"positions","dtype":"f4","shape":[1,2]}]}"#,
                &[0; 8],
            ),
        ),
        (
            "NaN positions",
            frame(
                r#"{"type":"points","name":"a","arrays":[{"name":"positions","dtype":"f4","shape":[1,3]}]}"#,
                &[0, 0, 0xc0, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
        ),
        (
            "face index out of range",
            frame(
                r#"{"type":"mesh","name":"m","arrays":[{"name":"vertices","dtype":"f4","shape":[1,3]},{"name":"faces","dtype":"u4","shape":[1,3]}]}"#,
                &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0],
            ),
        ),
        (
            "float faces",
            frame(
                r#"{"type":"mesh","name":"m","arrays":[{"name":"vertices","dtype":"f4","shape":[1,3]},{"name":"faces","dtype":"f4","shape":[1,3]}]}"#,
                &[0; 24],
            ),
        ),
        ("empty name", frame(r#"{"type":"delete","name":""}"#, b"")),
        ("huge name", frame(&format!(r#"{{"type":"delete","name":"{}"}}"#, "x".repeat(5000)), b"")),
        ("bad playback", frame(r#"{"type":"playback","action":"rewind"}"#, b"")),
        ("speed 1e9", frame(r#"{"type":"playback","speed":1e9}"#, b"")),
        ("camera eye only", frame(r#"{"type":"camera","eye":[0,0,1]}"#, b"")),
        ("screenshot as gif", frame(r#"{"type":"screenshot","format":"gif"}"#, b"")),
        ("hello without version", frame(r#"{"type":"hello"}"#, b"")),
        (
            "shared memory not read",
            frame(
                r#"{"type":"mesh","name":"m","arrays":[{"name":"vertices","dtype":"f4","shape":[3,3]},{"name":"faces","dtype":"i8","shape":[1,3],"shm":"xpg-x"}]}"#,
                &[0; 36],
            ),
        ),
    ];
    for (what, bytes) in requests {
        let (m, _) = Message::decode(&bytes, &limits).unwrap_or_else(|e| panic!("{what}: {e}"));
        let e = Request::parse(&m, &limits).expect_err(what);
        assert!(!e.to_string().is_empty(), "{what}");
    }
}
