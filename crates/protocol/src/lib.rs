//! # protocol: the viewer's wire protocol (version 1.5)
//!
//! What a program sends to `xpg-view --listen` and what it gets back, described for clients in
//! other languages in `docs/protocol.md`. Every message, in both directions:
//!
//! ```text
//! u32 little-endian  n: the header's length in bytes
//! n bytes            the header: a UTF-8 JSON object ("type", an optional "id", fields, and
//!                    "arrays": [{"name", "dtype", "shape"}, ...])
//! payload            each listed array's bytes in order, raw little-endian, C order, back to
//!                    back (product(shape) x itemsize each)
//! ```
//!
//! The first message of a connection is `hello` with the client's `[major, minor]`; the viewer
//! answers `welcome` or an `error` naming both versions and closes. Every size is checked
//! against [`Limits`] before anything is allocated; [`ProtocolError::is_fatal`] says when the
//! stream can no longer be trusted (then the connection is closed). Nothing here knows scenes
//! or Vulkan: [`Request`] is the checked form of a message, which the viewer applies.

use std::io::{Read, Write};

use serde_json::{json, Map, Value};

/// The protocol version this crate speaks: major (incompatible changes), minor (additions).
pub const VERSION: (u32, u32) = (1, 5);

/// The port the viewer listens on by default (on 127.0.0.1).
pub const DEFAULT_PORT: u16 = 9870;

/// Bounds on what one message may hold (checked before anything is allocated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of a header.
    pub header_bytes: usize,
    /// Bytes of a message's arrays together.
    pub payload_bytes: u64,
    /// Elements of one array.
    pub array_elements: u64,
    /// Arrays of one message.
    pub arrays: usize,
    /// Bytes of a name or another string.
    pub string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_bytes: 1 << 20,
            payload_bytes: 1 << 30,
            array_elements: 1 << 30,
            arrays: 16,
            string_bytes: 4096,
        }
    }
}

/// Why a message cannot be read or is not a valid request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The connection failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A size over its limit.
    #[error("{what} of {size} over the limit of {limit}")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The header is not a JSON object, or its array list is malformed.
    #[error("header: {0}")]
    Header(String),
    /// The message is well formed but not a valid request.
    #[error("{0}")]
    Invalid(String),
    /// The client speaks another major version.
    #[error(
        "protocol version {}.{} of the client is not supported: this viewer speaks {}.{}",
        client.0, client.1, VERSION.0, VERSION.1
    )]
    Version {
        /// The client's version.
        client: (u32, u32),
    },
}

impl ProtocolError {
    /// Whether the stream can no longer be trusted (the framing itself is broken, or the
    /// client must not go on): the connection is closed after the error reply.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Io(_) | Self::TooLarge { .. } | Self::Header(_) | Self::Version { .. })
    }
}

/// An array's element type (NumPy's `dtype.str`, with or without its byte-order mark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// uint8
    U8,
    /// int8
    I8,
    /// uint16
    U16,
    /// int16
    I16,
    /// uint32
    U32,
    /// int32
    I32,
    /// int64
    I64,
    /// float32
    F32,
    /// float64
    F64,
}

impl Dtype {
    /// `u1`, `<f4`, `|u1`, `float32`, ...; None: unknown or big-endian.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.strip_prefix(['<', '|', '=']).unwrap_or(s);
        Some(match s {
            "u1" | "uint8" => Self::U8,
            "i1" | "int8" => Self::I8,
            "u2" | "uint16" => Self::U16,
            "i2" | "int16" => Self::I16,
            "u4" | "uint32" => Self::U32,
            "i4" | "int32" => Self::I32,
            "i8" | "int64" => Self::I64,
            "f4" | "float32" => Self::F32,
            "f8" | "float64" => Self::F64,
            _ => return None,
        })
    }

    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "u1",
            Self::I8 => "i1",
            Self::U16 => "u2",
            Self::I16 => "i2",
            Self::U32 => "u4",
            Self::I32 => "i4",
            Self::I64 => "i8",
            Self::F32 => "f4",
            Self::F64 => "f8",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::I64 | Self::F64 => 8,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }
}

/// An array of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Its name in the header.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape (C order).
    pub shape: Vec<usize>,
    /// Raw little-endian bytes.
    pub data: Payload,
}

/// An array's bytes, held in an allocation aligned for its element type, so that `f4`, `u4`
/// and `u1` arrays become typed vectors without a copy (see [`Array::take_vec3s`]). It reads
/// and writes as a byte slice.
#[derive(Clone, PartialEq, Default)]
pub struct Payload(Storage);

#[derive(Clone, PartialEq)]
enum Storage {
    B1(Vec<u8>),
    B2(Vec<u16>),
    B4(Vec<u32>),
    B8(Vec<u64>),
}

impl Default for Storage {
    fn default() -> Self {
        Self::B1(Vec::new())
    }
}

impl Payload {
    /// The little-endian bytes of 4-byte `words` (kept aligned).
    fn words(words: impl Iterator<Item = [u8; 4]>) -> Self {
        Self(Storage::B4(words.map(u32::from_ne_bytes).collect()))
    }

    /// The bytes as a vector of `T` without a copy, when the allocation fits `T` (its
    /// alignment, and a whole number of elements) and the host is little-endian; else
    /// itself back.
    pub fn into_vec<T: bytemuck::Pod>(self) -> Result<Vec<T>, Self> {
        use bytemuck::allocation::try_cast_vec;
        if cfg!(target_endian = "big") {
            return Err(self);
        }
        match self.0 {
            Storage::B1(v) => try_cast_vec(v).map_err(|(_, v)| Self(Storage::B1(v))),
            Storage::B2(v) => try_cast_vec(v).map_err(|(_, v)| Self(Storage::B2(v))),
            Storage::B4(v) => try_cast_vec(v).map_err(|(_, v)| Self(Storage::B4(v))),
            Storage::B8(v) => try_cast_vec(v).map_err(|(_, v)| Self(Storage::B8(v))),
        }
    }
}

/// Room for an array's bytes that the reader of a shared-memory array fills
/// ([`Message::resolve_shared`]): an allocation aligned as [`Payload`]'s, not yet initialised,
/// so that a large array is not written twice (zeros, then the data).
pub struct Unfilled {
    storage: Storage,
    bytes: usize,
}

impl Unfilled {
    fn new(bytes: usize, size: usize) -> Self {
        let storage = match size {
            2 if bytes % 2 == 0 => Storage::B2(Vec::with_capacity(bytes / 2)),
            4 if bytes % 4 == 0 => Storage::B4(Vec::with_capacity(bytes / 4)),
            8 if bytes % 8 == 0 => Storage::B8(Vec::with_capacity(bytes / 8)),
            _ => Storage::B1(Vec::with_capacity(bytes)),
        };
        Self { storage, bytes }
    }

    /// Fills it from `r` (through zeros first: safe code cannot read into memory that is not
    /// initialised).
    pub fn read_from(mut self, r: &mut impl Read) -> std::io::Result<Payload> {
        let n = self.bytes;
        match &mut self.storage {
            Storage::B1(v) => v.resize(n, 0),
            Storage::B2(v) => v.resize(n / 2, 0),
            Storage::B4(v) => v.resize(n / 4, 0),
            Storage::B8(v) => v.resize(n / 8, 0),
        }
        let mut data = Payload(self.storage);
        r.read_exact(&mut data)?;
        Ok(data)
    }

    /// How many bytes to fill.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// Fills `v`'s allocation instead of a new one, when its elements are 4-byte words
    /// (`f4`, `u4`, `i4` arrays) and `v` has room for [`Unfilled::len`] bytes but not more
    /// than twice that; else gives `v` back. Memory already touched fills without a page
    /// fault (and the kernel's zeroing) every 4 KiB.
    pub fn reuse_words(&mut self, v: Vec<u32>) -> Result<(), Vec<u32>> {
        self.adopt(v, |s| matches!(s, Storage::B4(_)), Storage::B4)
    }

    /// [`Unfilled::reuse_words`] for arrays of bytes (`u1`, `i1`, `b1`).
    pub fn reuse_bytes(&mut self, v: Vec<u8>) -> Result<(), Vec<u8>> {
        self.adopt(v, |s| matches!(s, Storage::B1(_)), Storage::B1)
    }

    /// Takes `v` as its storage when its storage is of `v`'s kind (`same`) and `v` fits.
    fn adopt<T>(
        &mut self,
        mut v: Vec<T>,
        same: fn(&Storage) -> bool,
        wrap: fn(Vec<T>) -> Storage,
    ) -> Result<(), Vec<T>> {
        if !same(&self.storage) || !self.fits(v.capacity() * size_of::<T>()) {
            return Err(v);
        }
        v.clear();
        self.storage = wrap(v);
        Ok(())
    }

    /// Whether an allocation of `room` bytes would be reused: room for [`Unfilled::len`]
    /// bytes, not more than twice that.
    pub fn fits(&self, room: usize) -> bool {
        room >= self.bytes && room <= 2 * self.bytes.max(4096)
    }

    /// The unit its storage is aligned to: 1, 2, 4 or 8 bytes (4: [`Unfilled::reuse_words`],
    /// 1: [`Unfilled::reuse_bytes`]).
    pub fn unit(&self) -> usize {
        match self.storage {
            Storage::B1(_) => 1,
            Storage::B2(_) => 2,
            Storage::B4(_) => 4,
            Storage::B8(_) => 8,
        }
    }

    /// Whether there is nothing to fill.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The start of the [`Unfilled::len`] bytes, valid for writes (not reads: they are not
    /// initialised).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        match &mut self.storage {
            Storage::B1(v) => v.as_mut_ptr(),
            Storage::B2(v) => v.as_mut_ptr().cast(),
            Storage::B4(v) => v.as_mut_ptr().cast(),
            Storage::B8(v) => v.as_mut_ptr().cast(),
        }
    }

    /// The bytes once filled.
    ///
    /// # Safety
    /// All [`Unfilled::len`] bytes from [`Unfilled::as_mut_ptr`] have been written.
    pub unsafe fn assume_filled(mut self) -> Payload {
        let bytes = self.bytes;
        // SAFETY: each vector has capacity for at least `bytes` bytes of its element type
        // (made so, or checked when reused), and the caller wrote all of them (any bit pattern
        // is a valid integer).
        unsafe {
            match &mut self.storage {
                Storage::B1(v) => v.set_len(bytes),
                Storage::B2(v) => v.set_len(bytes / 2),
                Storage::B4(v) => v.set_len(bytes / 4),
                Storage::B8(v) => v.set_len(bytes / 8),
            }
        }
        Payload(self.storage)
    }

    /// Fills it from `bytes` (of [`Unfilled::len`] bytes; else `None`).
    pub fn fill_from(mut self, bytes: &[u8]) -> Option<Payload> {
        if bytes.len() != self.bytes {
            return None;
        }
        // SAFETY: the allocation has room for `self.bytes` bytes, which are all written; the
        // regions cannot overlap (the allocation is this value's own).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.as_mut_ptr(), bytes.len());
            Some(self.assume_filled())
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Self(Storage::B1(v))
    }
}

impl std::ops::Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Storage::B1(v) => v,
            Storage::B2(v) => bytemuck::cast_slice(v),
            Storage::B4(v) => bytemuck::cast_slice(v),
            Storage::B8(v) => bytemuck::cast_slice(v),
        }
    }
}

impl std::ops::DerefMut for Payload {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Storage::B1(v) => v,
            Storage::B2(v) => bytemuck::cast_slice_mut(v),
            Storage::B4(v) => bytemuck::cast_slice_mut(v),
            Storage::B8(v) => bytemuck::cast_slice_mut(v),
        }
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payload({} bytes)", self.len())
    }
}

/// Whether any of `words` (f32 bit patterns) is NaN or infinite (all exponent bits set);
/// branch-free, so that it runs at memory speed.
fn any_non_finite(words: &[f32]) -> bool {
    let scan = |part: &[f32]| {
        part.chunks(4096).any(|c| {
            c.iter().fold(false, |acc, x| acc | (x.to_bits() & 0x7f80_0000 == 0x7f80_0000))
        })
    };
    // Large arrays (millions of points) by a few threads: the check is on the path of every
    // message, ahead of the render thread.
    const PER_THREAD: usize = 1 << 20;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    if words.len() < 2 * PER_THREAD || threads < 2 {
        return scan(words);
    }
    let per = words.len().div_ceil(threads);
    std::thread::scope(|s| {
        let jobs: Vec<_> = words.chunks(per).map(|c| s.spawn(move || scan(c))).collect();
        // A thread that could not finish counts as a failed check.
        jobs.into_iter().any(|j| j.join().unwrap_or(true))
    })
}

impl Array {
    /// An array of `values` (f32) with `shape`.
    pub fn f32(name: &str, shape: &[usize], values: &[f32]) -> Self {
        let data = Payload::words(values.iter().map(|v| v.to_le_bytes()));
        Self { name: name.into(), dtype: Dtype::F32, shape: shape.to_vec(), data }
    }

    /// An array of `values` (u32) with `shape`.
    pub fn u32(name: &str, shape: &[usize], values: &[u32]) -> Self {
        let data = Payload::words(values.iter().map(|v| v.to_le_bytes()));
        Self { name: name.into(), dtype: Dtype::U32, shape: shape.to_vec(), data }
    }

    /// An array of `values` (i32) with `shape`.
    pub fn i32(name: &str, shape: &[usize], values: &[i32]) -> Self {
        let data = Payload::words(values.iter().map(|v| v.to_le_bytes()));
        Self { name: name.into(), dtype: Dtype::I32, shape: shape.to_vec(), data }
    }

    /// An array of bytes with `shape`.
    pub fn u8(name: &str, shape: &[usize], values: &[u8]) -> Self {
        let data = values.to_vec().into();
        Self { name: name.into(), dtype: Dtype::U8, shape: shape.to_vec(), data }
    }

    /// Elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as f64.
    fn get(&self, i: usize) -> f64 {
        let s = self.dtype.size();
        let b = &self.data[i * s..(i + 1) * s];
        let mut a = [0u8; 8];
        a[..s].copy_from_slice(b);
        match self.dtype {
            Dtype::U8 => b[0] as f64,
            Dtype::I8 => b[0] as i8 as f64,
            Dtype::U16 => u16::from_le_bytes([a[0], a[1]]) as f64,
            Dtype::I16 => i16::from_le_bytes([a[0], a[1]]) as f64,
            Dtype::U32 => u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            Dtype::I32 => i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            Dtype::I64 => i64::from_le_bytes(a) as f64,
            Dtype::F32 => f32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64,
            Dtype::F64 => f64::from_le_bytes(a),
        }
    }

    /// Every element as f32 (any numeric type).
    pub fn to_f32(&self) -> Vec<f32> {
        if self.dtype == Dtype::F32 {
            if cfg!(target_endian = "little") {
                return bytemuck::pod_collect_to_vec(&self.data);
            }
            return self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
        }
        (0..self.len()).map(|i| self.get(i) as f32).collect()
    }

    /// Checks that the shape is `[N, cols]` (or `[N]` for `cols` = 1, or any of `cols` when
    /// several are allowed); returns N and the columns.
    pub fn rows(&self, cols: &[usize]) -> Result<(usize, usize), ProtocolError> {
        let ok = match self.shape.as_slice() {
            [n] if cols.contains(&1) => Some((*n, 1)),
            [n, c] if cols.contains(c) => Some((*n, *c)),
            _ => None,
        };
        ok.ok_or_else(|| {
            ProtocolError::Invalid(format!(
                "array '{}': shape {:?}, expected N x {}",
                self.name,
                self.shape,
                cols.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" or ")
            ))
        })
    }

    /// N x 3 positions (any numeric type), checked finite.
    pub fn vec3s(&self) -> Result<Vec<[f32; 3]>, ProtocolError> {
        self.rows(&[3])?;
        let out: Vec<[f32; 3]> = if self.dtype == Dtype::F32 && cfg!(target_endian = "little") {
            // The bytes copied as they are (the common case).
            bytemuck::pod_collect_to_vec(&self.data)
        } else if self.dtype == Dtype::F32 {
            self.data
                .chunks_exact(12)
                .map(|c| {
                    let f = |k: usize| f32::from_le_bytes([c[k], c[k + 1], c[k + 2], c[k + 3]]);
                    [f(0), f(4), f(8)]
                })
                .collect()
        } else {
            self.to_f32().chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
        };
        self.finite(bytemuck::cast_slice(&out))?;
        Ok(out)
    }

    fn finite(&self, values: &[f32]) -> Result<(), ProtocolError> {
        if any_non_finite(values) {
            return Err(ProtocolError::Invalid(format!(
                "array '{}': NaN or infinite values",
                self.name
            )));
        }
        Ok(())
    }

    /// Its bytes as a vector of `T` without a copy where they allow it (`want` is the
    /// dtype they must have); else `None`, its bytes left in place.
    fn take_as<T: bytemuck::Pod>(&mut self, want: Dtype) -> Option<Vec<T>> {
        if self.dtype != want {
            return None;
        }
        match std::mem::take(&mut self.data).into_vec() {
            Ok(v) => Some(v),
            Err(back) => {
                self.data = back;
                None
            }
        }
    }

    /// [`Array::vec3s`], taking the bytes (f32 data are not copied).
    pub fn take_vec3s(&mut self) -> Result<Vec<[f32; 3]>, ProtocolError> {
        self.rows(&[3])?;
        match self.take_as::<[f32; 3]>(Dtype::F32) {
            Some(v) => {
                self.finite(bytemuck::cast_slice(&v))?;
                Ok(v)
            }
            None => self.vec3s(),
        }
    }

    /// [`Array::colors`], taking the bytes (N x 4 uint8 data are not copied).
    pub fn take_colors(&mut self) -> Result<Vec<[u8; 4]>, ProtocolError> {
        let (_, c) = self.rows(&[3, 4])?;
        if c == 4 {
            if let Some(v) = self.take_as::<[u8; 4]>(Dtype::U8) {
                return Ok(v);
            }
        }
        self.colors()
    }

    /// Every element as f32, taking the bytes (f32 data are not copied).
    pub fn take_f32(&mut self) -> Vec<f32> {
        self.take_as::<f32>(Dtype::F32).unwrap_or_else(|| self.to_f32())
    }

    /// Colours, N x 3 or N x 4: uint8 as they are, floats in 0..1 scaled to bytes.
    pub fn colors(&self) -> Result<Vec<[u8; 4]>, ProtocolError> {
        let (n, c) = self.rows(&[3, 4])?;
        // Bytes as they are (the common case): copied, not converted one by one.
        if self.dtype == Dtype::U8 {
            return Ok(match c {
                4 => self.data.chunks_exact(4).map(|p| [p[0], p[1], p[2], p[3]]).collect(),
                _ => self.data.chunks_exact(3).map(|p| [p[0], p[1], p[2], 255]).collect(),
            });
        }
        let byte = |i: usize| -> u8 {
            if self.dtype.is_float() {
                let v = self.get(i);
                if v.is_finite() {
                    (v.clamp(0.0, 1.0) * 255.0).round() as u8
                } else {
                    0
                }
            } else {
                self.get(i).clamp(0.0, 255.0) as u8
            }
        };
        Ok((0..n)
            .map(|r| {
                let a = if c == 4 { byte(r * 4 + 3) } else { 255 };
                [byte(r * c), byte(r * c + 1), byte(r * c + 2), a]
            })
            .collect())
    }

    /// Indices (an integer type), each below `bound`.
    pub fn indices(&self, cols: usize, bound: usize) -> Result<Vec<u32>, ProtocolError> {
        self.rows(&[cols])?;
        if self.dtype.is_float() {
            return Err(ProtocolError::Invalid(format!(
                "array '{}': indices must be integers, not {}",
                self.name,
                self.dtype.name()
            )));
        }
        // 32-bit indices read in place (the common case).
        let words = bytemuck::try_cast_slice::<u8, u32>(&self.data).ok();
        if let (Some(words), true, true) =
            (words, matches!(self.dtype, Dtype::U32 | Dtype::I32), cfg!(target_endian = "little"))
        {
            if let Some(&v) = words.iter().find(|&&v| v as usize >= bound) {
                let v = if self.dtype == Dtype::I32 { i64::from(v as i32) } else { i64::from(v) };
                return Err(ProtocolError::Invalid(format!(
                    "array '{}': index {v} out of range (0..{bound})",
                    self.name
                )));
            }
            return Ok(words.to_vec());
        }
        (0..self.len())
            .map(|i| {
                let v = self.get(i);
                if v >= 0.0 && (v as usize) < bound {
                    Ok(v as u32)
                } else {
                    Err(ProtocolError::Invalid(format!(
                        "array '{}': index {v} out of range (0..{bound})",
                        self.name
                    )))
                }
            })
            .collect()
    }
}

/// A message: its header and its arrays.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    /// The header's fields ("arrays" removed).
    pub header: Map<String, Value>,
    /// The arrays, in order.
    pub arrays: Vec<Array>,
    /// Arrays whose bytes are not in the message but in shared memory (protocol 1.1): the
    /// array's index, and where its bytes are. Their `data` is empty until the receiver
    /// reads them ([`Message::resolve_shared`]).
    pub shared: Vec<(usize, SharedBytes)>,
}

/// Where an array's bytes are when a client on the same machine wrote them into shared
/// memory instead of the message: the file `/dev/shm/NAME` at `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedBytes {
    /// The file's name in `/dev/shm`: `xpg-` then letters, digits, `.`, `_` or `-`.
    pub file: String,
    /// Where the array's bytes start in it.
    pub offset: u64,
}

impl SharedBytes {
    /// Whether `file` is a name a client may give: no path, the `xpg-` prefix.
    pub fn valid_name(file: &str) -> bool {
        file.len() <= 200
            && file.strip_prefix("xpg-").is_some_and(|rest| {
                !rest.is_empty()
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            })
    }
}

impl Message {
    /// A message of `header` (a JSON object) and `arrays`.
    pub fn new(header: Value, arrays: Vec<Array>) -> Self {
        let header = match header {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Self { header, arrays, shared: Vec::new() }
    }

    /// Reads the bytes of its shared-memory arrays with `read(file, offset, into)` (which
    /// fills `into`), into storage aligned for their types; afterwards it is an ordinary
    /// message (written with its bytes inline).
    pub fn resolve_shared<E>(
        &mut self,
        mut read: impl FnMut(&str, u64, Unfilled) -> Result<Payload, E>,
    ) -> Result<(), E> {
        for (i, at) in std::mem::take(&mut self.shared) {
            if let Some(a) = self.arrays.get_mut(i) {
                let bytes = a.len() * a.dtype.size();
                a.data = read(&at.file, at.offset, Unfilled::new(bytes, a.dtype.size()))?;
            }
        }
        Ok(())
    }

    /// Its type.
    pub fn kind(&self) -> &str {
        self.header.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// Its request id.
    pub fn id(&self) -> Option<u64> {
        self.header.get("id").and_then(Value::as_u64)
    }

    /// The array named `name`.
    pub fn array(&self, name: &str) -> Option<&Array> {
        self.arrays.iter().find(|a| a.name == name)
    }

    /// Writes it: the header length, the header, the arrays.
    pub fn write(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut header = self.header.clone();
        let shared = |i: usize| self.shared.iter().find(|(k, _)| *k == i).map(|(_, s)| s);
        let list: Vec<Value> = self
            .arrays
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut spec = json!({"name": a.name, "dtype": a.dtype.name(), "shape": a.shape});
                if let (Some(s), Value::Object(m)) = (shared(i), &mut spec) {
                    m.insert("shm".into(), json!(s.file));
                    m.insert("offset".into(), json!(s.offset));
                }
                spec
            })
            .collect();
        if !list.is_empty() {
            header.insert("arrays".into(), Value::Array(list));
        }
        let text = serde_json::to_vec(&Value::Object(header))?;
        let n = u32::try_from(text.len()).map_err(std::io::Error::other)?;
        w.write_all(&n.to_le_bytes())?;
        w.write_all(&text)?;
        for (i, a) in self.arrays.iter().enumerate() {
            if shared(i).is_none() {
                w.write_all(&a.data)?;
            }
        }
        w.flush()
    }

    /// Reads one message (sizes checked against `limits` before anything is allocated).
    pub fn read(r: &mut impl Read, limits: &Limits) -> Result<Self, ProtocolError> {
        Self::read_with(r, limits, |r, into| into.read_from(r))
    }

    /// [`Message::read`], with the bytes of each inline array read by `fill(r, room)` (for a
    /// reader that can fill memory that is not initialised, such as a socket read by the
    /// system call; see [`Unfilled`]).
    pub fn read_with<R: Read>(
        r: &mut R,
        limits: &Limits,
        mut fill: impl FnMut(&mut R, Unfilled) -> std::io::Result<Payload>,
    ) -> Result<Self, ProtocolError> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let n = u32::from_le_bytes(len) as usize;
        if n > limits.header_bytes {
            return Err(ProtocolError::TooLarge {
                what: "a header",
                size: n as u64,
                limit: limits.header_bytes as u64,
            });
        }
        let mut text = vec![0u8; n];
        r.read_exact(&mut text)?;
        let (header, specs) = parse_header(&text, limits)?;
        let mut arrays = Vec::with_capacity(specs.len());
        let mut shared = Vec::new();
        for (name, dtype, shape, bytes, at) in specs {
            let data = match at {
                // In shared memory: read by the receiver if it accepts it.
                Some(at) => {
                    shared.push((arrays.len(), at));
                    Payload::default()
                }
                None => {
                    // Aligned for its type: f32 positions become a typed vector without a
                    // copy.
                    fill(r, Unfilled::new(bytes as usize, dtype.size()))?
                }
            };
            arrays.push(Array { name, dtype, shape, data });
        }
        Ok(Self { header, arrays, shared })
    }

    /// [`Message::read`] from the start of `bytes`; returns the message and the bytes used.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<(Self, usize), ProtocolError> {
        let mut cursor = std::io::Cursor::new(bytes);
        let m = Self::read(&mut cursor, limits)?;
        Ok((m, cursor.position() as usize))
    }

    /// Its bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        // Writing into memory cannot fail but for a header over 4 GiB.
        let _ = self.write(&mut v);
        v
    }
}

type ArraySpec = (String, Dtype, Vec<usize>, u64, Option<SharedBytes>);

/// The header's fields and its array list, checked against `limits`.
fn parse_header(
    text: &[u8],
    limits: &Limits,
) -> Result<(Map<String, Value>, Vec<ArraySpec>), ProtocolError> {
    let header: Value =
        serde_json::from_slice(text).map_err(|e| ProtocolError::Header(e.to_string()))?;
    let Value::Object(mut header) = header else {
        return Err(ProtocolError::Header("not a JSON object".into()));
    };
    let list = match header.remove("arrays") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(l)) => l,
        Some(_) => return Err(ProtocolError::Header("'arrays' is not a list".into())),
    };
    if list.len() > limits.arrays {
        return Err(ProtocolError::TooLarge {
            what: "the number of arrays",
            size: list.len() as u64,
            limit: limits.arrays as u64,
        });
    }
    let mut specs = Vec::with_capacity(list.len());
    let mut total: u64 = 0;
    for (k, a) in list.iter().enumerate() {
        let bad = |m: &str| ProtocolError::Header(format!("array {k}: {m}"));
        let name = a.get("name").and_then(Value::as_str).ok_or_else(|| bad("no name"))?;
        if name.len() > limits.string_bytes {
            return Err(bad("name too long"));
        }
        let dtype = a.get("dtype").and_then(Value::as_str).ok_or_else(|| bad("no dtype"))?;
        let dtype = Dtype::parse(dtype).ok_or_else(|| {
            bad(&format!(
                "dtype '{dtype}' (expected u1, i1, u2, i2, u4, i4, i8, f4 or f8, little-endian)"
            ))
        })?;
        let shape = a.get("shape").and_then(Value::as_array).ok_or_else(|| bad("no shape"))?;
        if shape.len() > 4 {
            return Err(bad("more than 4 dimensions"));
        }
        let mut dims = Vec::with_capacity(shape.len());
        let mut elements: u64 = 1;
        for d in shape {
            let d = d.as_u64().ok_or_else(|| bad("a dimension is not a whole number"))?;
            elements = elements.checked_mul(d).ok_or_else(|| bad("shape overflows"))?;
            if elements > limits.array_elements {
                return Err(ProtocolError::TooLarge {
                    what: "an array's elements",
                    size: elements,
                    limit: limits.array_elements,
                });
            }
            dims.push(d as usize);
        }
        let bytes = elements * dtype.size() as u64;
        total = total.saturating_add(bytes);
        if total > limits.payload_bytes {
            return Err(ProtocolError::TooLarge {
                what: "a message's arrays (bytes)",
                size: total,
                limit: limits.payload_bytes,
            });
        }
        let at = match a.get("shm") {
            None | Some(Value::Null) => None,
            Some(f) => {
                let file = f.as_str().filter(|f| SharedBytes::valid_name(f)).ok_or_else(|| {
                    bad("'shm' is not a file name of the form xpg-NAME (letters, digits, . _ -)")
                })?;
                let offset = a.get("offset").map_or(Some(0), Value::as_u64);
                let offset = offset.ok_or_else(|| bad("'offset' is not a whole number"))?;
                Some(SharedBytes { file: file.to_string(), offset })
            }
        };
        specs.push((name.to_string(), dtype, dims, bytes, at));
    }
    Ok((header, specs))
}

/// When a sample of a sequence is set: a time in seconds or a frame index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    /// Scene time in seconds.
    Time(f64),
    /// Frame index (at the viewer's frame rate for client data, 30 per second).
    Frame(u64),
}

/// A playback request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Playback {
    /// Play (true) or pause (false).
    pub play: Option<bool>,
    /// Go to this time.
    pub seek: Option<f64>,
    /// Scene seconds per second.
    pub speed: Option<f64>,
}

/// The checked form of a client's message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// The first message: the client's version, name and token.
    Hello {
        /// Its protocol version.
        version: (u32, u32),
        /// Its name (for logs).
        client: String,
        /// The token, when the viewer asks for one.
        token: Option<String>,
        /// Shared memory offered (1.1): the client's file in `/dev/shm` and the nonce it wrote
        /// at its start; the viewer reads it back to know that it sees the client's file.
        shm: Option<(String, String)>,
    },
    /// A point cloud (created, replaced, or a sample of its sequence `at`).
    Points {
        /// Its name (a path such as `robot/scan`).
        name: String,
        /// Positions.
        positions: Vec<[f32; 3]>,
        /// Colours (empty: none).
        colors: Vec<[u8; 4]>,
        /// Scalars through a colormap (empty: none).
        scalars: Vec<f32>,
        /// Point size in pixels.
        size: Option<f32>,
        /// Point diameter in world units instead (1.1).
        size_world: Option<f32>,
        /// A sample of a sequence (None: static).
        at: Option<At>,
    },
    /// A triangle mesh.
    Mesh {
        /// Its name.
        name: String,
        /// Vertex positions.
        vertices: Vec<[f32; 3]>,
        /// Triangles (three indices each).
        faces: Vec<u32>,
        /// Per-vertex colours (empty: the base colour).
        colors: Vec<[u8; 4]>,
        /// Base colour, linear RGBA.
        color: Option<[f32; 4]>,
        /// A sample of a sequence (None: static).
        at: Option<At>,
    },
    /// Lines: segments (pairs of points), or a strip.
    Lines {
        /// Its name.
        name: String,
        /// Vertices.
        positions: Vec<[f32; 3]>,
        /// Consecutive vertices joined (else pairs).
        strip: bool,
        /// Per-vertex colours (empty: white).
        colors: Vec<[u8; 4]>,
        /// Width in pixels.
        width: Option<f32>,
        /// A sample at a time or frame (1.5; None: set now, for all times).
        at: Option<At>,
    },
    /// Coordinate-axis triads at poses (1.1): one line set, x red, y green, z blue.
    Axes {
        /// Its name.
        name: String,
        /// Object to world, column-major, one per triad.
        poses: Vec<[f32; 16]>,
        /// The axes' length.
        length: f32,
        /// Width in pixels.
        width: Option<f32>,
    },
    /// Spheres (1.2): one mesh of icospheres.
    Spheres {
        /// Its name.
        name: String,
        /// Centres.
        centers: Vec<[f32; 3]>,
        /// One radius for all, or one each.
        radii: Vec<f32>,
        /// Colours (none, or one each), sRGB RGBA8.
        colors: Vec<[u8; 4]>,
        /// Values shown through `colormap` (none, or one each).
        values: Vec<f32>,
        /// The colormap of `values`.
        colormap: Colormap,
        /// Icosphere subdivisions (0-4).
        detail: u32,
    },
    /// Tubes along line segments (1.2): one mesh of cylinders of a world-space radius.
    Tubes {
        /// Its name.
        name: String,
        /// Vertices: pairs, or a strip.
        positions: Vec<[f32; 3]>,
        /// Consecutive vertices joined (else pairs).
        strip: bool,
        /// Radius in world units.
        radius: f32,
        /// Per-vertex colours (none, or one each).
        colors: Vec<[u8; 4]>,
        /// Close each segment's ends.
        caps: bool,
    },
    /// Arrows (1.2): one mesh; coloured by `colors`, else by length through `colormap`.
    Arrows {
        /// Its name.
        name: String,
        /// Where each arrow starts.
        origins: Vec<[f32; 3]>,
        /// Each arrow's vector (times `scale`).
        vectors: Vec<[f32; 3]>,
        /// Length factor.
        scale: f32,
        /// Shaft radius (None: 4 % of the longest arrow).
        radius: Option<f32>,
        /// Colours (none, or one each).
        colors: Vec<[u8; 4]>,
        /// The colormap of the lengths (without `colors`).
        colormap: Colormap,
    },
    /// Voxels (1.2): a list of occupied cells or a dense grid; one mesh of their outer faces.
    Voxels {
        /// Its name.
        name: String,
        /// Occupied cells (integer coordinates) of a list, or the grid's size (x, y, z) and
        /// its values (x fastest) for a grid.
        cells: VoxelCells,
        /// Where cell (0, 0, 0)'s lowest corner is.
        origin: [f32; 3],
        /// Edge length of a cell.
        size: f32,
        /// A list's colours (none, or one each).
        colors: Vec<[u8; 4]>,
        /// A list's values (none, or one each) or a grid's, through `colormap`.
        colormap: Colormap,
    },
    /// Camera frusta at poses (1.1): one line set.
    Frustum {
        /// Its name.
        name: String,
        /// Camera to world, column-major (the camera looks down -Z, +Y up).
        poses: Vec<[f32; 16]>,
        /// Vertical field of view in degrees.
        fov: f32,
        /// Width / height.
        aspect: f32,
        /// How far the drawn rectangle is from the eye.
        depth: f32,
        /// Colour, sRGB RGBA8.
        color: [u8; 4],
        /// Also a camera of the scene at each pose (1.2), to look through.
        cameras: bool,
    },
    /// An image on a quad.
    Image {
        /// Its name.
        name: String,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// RGBA8, row by row from the top.
        pixels: Vec<[u8; 4]>,
        /// A sample of a sequence (None: static); samples have the first one's size.
        at: Option<At>,
    },
    /// An object's transform (column-major 4 x 4).
    Transform {
        /// The object.
        name: String,
        /// Column-major matrix.
        matrix: [f32; 16],
        /// A sample at a time or frame (1.5; None: set now, for all times).
        at: Option<At>,
    },
    /// Deletes an object (or every object under `name/`).
    Delete {
        /// The name or prefix.
        name: String,
    },
    /// Playback.
    Playback(Playback),
    /// Reads the first viewport's camera (no fields) or sets it.
    Camera {
        /// Eye, target, up (None: a read).
        set: Option<([f32; 3], [f32; 3], [f32; 3])>,
        /// The viewport (None: the first).
        viewport: Option<u32>,
    },
    /// A screenshot of a viewport, after every earlier message of this client.
    Screenshot {
        /// The viewport (None: the first).
        viewport: Option<u32>,
        /// "rgba8" (raw), "png" or "exr" (linear HDR radiance, the file's bytes).
        format: String,
    },
    /// What is under a pixel of a viewport (1.1).
    Pick {
        /// The viewport (None: the first).
        viewport: Option<u32>,
        /// The pixel, from the viewport's top left.
        x: f32,
        /// The pixel, from the viewport's top left.
        y: f32,
    },
    /// The scene's objects.
    Query,
    /// Removes the sample of a client sequence at a time.
    RemoveFrame {
        /// The object.
        name: String,
        /// The sample's time.
        at: At,
    },
    /// A light (created, or changed when `name` exists).
    Light {
        /// Its name.
        name: String,
        /// `directional`, `point` or `spot`.
        kind: String,
        /// Linear colour.
        color: [f32; 3],
        /// Intensity (W/m^2 for directional lights, W/sr for the others).
        intensity: f32,
        /// Casts shadows (in the raster; 1.3, default true).
        shadows: bool,
        /// Point and spot lights: the distance where the light reaches zero (1.4; None:
        /// unbounded).
        range: Option<f32>,
        /// Position (point, spot).
        position: [f32; 3],
        /// Direction the light travels (directional, spot).
        direction: [f32; 3],
        /// A spot's inner and outer cone angles in degrees.
        cone: (f32, f32),
        /// A sample at a time or frame (1.5; None: set now, for all times).
        at: Option<At>,
    },
    /// A mesh object's material.
    Material {
        /// The mesh object.
        name: String,
        /// Base colour, linear RGBA.
        base_color: Option<[f32; 4]>,
        /// Metalness 0-1.
        metallic: Option<f32>,
        /// Roughness 0-1.
        roughness: Option<f32>,
        /// Emitted radiance, linear RGB.
        emissive: Option<[f32; 3]>,
        /// A sample at a time or frame (1.5; None: set now, for all times).
        at: Option<At>,
    },
    /// A camera of the scene (one more to look through; C steps through them).
    SceneCamera {
        /// Its name.
        name: String,
        /// Where it is.
        eye: [f32; 3],
        /// What it looks at.
        target: [f32; 3],
        /// Its up.
        up: [f32; 3],
        /// Vertical field of view in degrees.
        fov: f32,
    },
    /// Asks the viewer to stop (its window closes, an offscreen viewer ends).
    Quit,
    /// Events this client wants (replacing its earlier list): `key`, `timeline`,
    /// `selection` (a widget's events always go to the client that declared it).
    Subscribe {
        /// The events.
        events: Vec<String>,
    },
    /// A widget of this client in the viewer's Clients panel (declared, changed, or removed).
    Widget(Widget),
    /// Adds, closes or changes the renderer of a viewport.
    Viewport {
        /// "add", "close", "renderer" or "set" (1.2).
        action: String,
        /// The viewport (close, renderer, set).
        viewport: Option<u32>,
        /// The renderer's name (add, renderer).
        renderer: Option<String>,
        /// A setting of the viewport's renderer and its value (set): a switch, a number, or
        /// the name of an option (`"transparency": "peeling"`).
        setting: Option<(String, SettingText)>,
    },
}

/// A client's widget.
#[derive(Debug, Clone, PartialEq)]
pub struct Widget {
    /// Its name (unique per client; events carry it).
    pub name: String,
    /// `button`, `slider`, `checkbox`, `text` (shown) or `input` (edited text).
    pub kind: String,
    /// The label shown (default: the name).
    pub label: String,
    /// Its value: a number (slider), a switch (checkbox), text (text, input).
    pub value: Value,
    /// A slider's range.
    pub range: (f64, f64),
    /// Removes it.
    pub remove: bool,
}

/// The events a client can subscribe to.
pub const EVENTS: &[&str] = &["key", "timeline", "selection", "pick"];

/// An event sent to a client (no id).
pub fn event(kind: &str, fields: Value) -> Message {
    let mut h = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    h.insert("type".into(), json!("event"));
    h.insert("event".into(), json!(kind));
    Message { header: h, arrays: Vec::new(), shared: Vec::new() }
}

/// A request with its id (None: no reply is sent unless it fails).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The id the reply carries.
    pub id: Option<u64>,
    /// The request.
    pub request: Request,
}

fn string(m: &Message, key: &str, limits: &Limits) -> Result<String, ProtocolError> {
    let s = m
        .header
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ProtocolError::Invalid(format!("'{}': no '{key}'", m.kind())))?;
    if s.len() > limits.string_bytes || s.is_empty() {
        return Err(ProtocolError::Invalid(format!(
            "'{}': '{key}' empty or longer than {} bytes",
            m.kind(),
            limits.string_bytes
        )));
    }
    Ok(s.to_string())
}

fn array<'m>(m: &'m Message, name: &str) -> Result<&'m Array, ProtocolError> {
    m.array(name)
        .ok_or_else(|| ProtocolError::Invalid(format!("'{}': no array '{name}'", m.kind())))
}

fn number(m: &Message, key: &str) -> Result<Option<f64>, ProtocolError> {
    match m.header.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().filter(|x| x.is_finite()).map(Some).ok_or_else(|| {
            ProtocolError::Invalid(format!("'{}': '{key}' is not a number", m.kind()))
        }),
    }
}

fn vec_n<const N: usize>(m: &Message, key: &str) -> Result<Option<[f32; N]>, ProtocolError> {
    let Some(v) = m.header.get(key).filter(|v| !v.is_null()) else { return Ok(None) };
    let bad = || ProtocolError::Invalid(format!("'{}': '{key}' is not {N} numbers", m.kind()));
    let list = v.as_array().filter(|l| l.len() == N).ok_or_else(bad)?;
    let mut out = [0f32; N];
    for (o, x) in out.iter_mut().zip(list) {
        *o = x.as_f64().filter(|x| x.is_finite()).ok_or_else(bad)? as f32;
    }
    Ok(Some(out))
}

fn at(m: &Message) -> Result<Option<At>, ProtocolError> {
    match (number(m, "time")?, m.header.get("frame")) {
        (Some(t), _) => Ok(Some(At::Time(t))),
        (None, None | Some(Value::Null)) => Ok(None),
        (None, Some(f)) => f.as_u64().map(|f| Some(At::Frame(f))).ok_or_else(|| {
            ProtocolError::Invalid(format!("'{}': 'frame' is not a whole number", m.kind()))
        }),
    }
}

fn array_mut<'m>(m: &'m mut Message, name: &str) -> Result<&'m mut Array, ProtocolError> {
    let kind = m.kind().to_string();
    m.arrays
        .iter_mut()
        .find(|a| a.name == name)
        .ok_or_else(|| ProtocolError::Invalid(format!("'{kind}': no array '{name}'")))
}

fn optional_colors(m: &mut Message, n: usize) -> Result<Vec<[u8; 4]>, ProtocolError> {
    match m.arrays.iter_mut().find(|a| a.name == "colors") {
        None => Ok(Vec::new()),
        Some(a) => {
            let c = a.take_colors()?;
            if c.len() != n {
                return Err(ProtocolError::Invalid(format!(
                    "'{}': {} colours for {n} points",
                    m.kind(),
                    c.len()
                )));
            }
            Ok(c)
        }
    }
}

/// The value of a renderer setting as a client sends it.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingText {
    /// true / false.
    Bool(bool),
    /// A number.
    Number(f64),
    /// The name of an option of a choice.
    Name(String),
}

/// A colormap by name (`viridis`, `coolwarm`, `gray`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colormap {
    /// matplotlib's viridis.
    #[default]
    Viridis,
    /// Moreland's cool-warm.
    CoolWarm,
    /// Black to white.
    Gray,
}

/// The cells of a `voxels` request.
#[derive(Debug, Clone, PartialEq)]
pub enum VoxelCells {
    /// Occupied cells and their values (none, or one each).
    List {
        /// Integer coordinates.
        cells: Vec<[i32; 3]>,
        /// Values through the colormap.
        values: Vec<f32>,
    },
    /// A dense grid: a cell is occupied where its value is finite and above `threshold`.
    Grid {
        /// Cells along x, y and z.
        dims: [usize; 3],
        /// Values, x fastest (a NumPy array of shape (Z, Y, X)).
        values: Vec<f32>,
        /// Values at or below it (and NaN) are empty.
        threshold: f32,
    },
}

fn colormap(m: &Message) -> Result<Colormap, ProtocolError> {
    match m.header.get("colormap") {
        None | Some(Value::Null) => Ok(Colormap::Viridis),
        Some(v) => match v.as_str() {
            Some("viridis") => Ok(Colormap::Viridis),
            Some("coolwarm") => Ok(Colormap::CoolWarm),
            Some("gray") | Some("grey") => Ok(Colormap::Gray),
            _ => Err(ProtocolError::Invalid(format!(
                "'{}': colormap {v} (expected \"viridis\", \"coolwarm\" or \"gray\")",
                m.kind()
            ))),
        },
    }
}

/// An optional array of N values (`name`), any numeric dtype, N x 1 or N.
fn optional_values(m: &mut Message, name: &str, n: usize) -> Result<Vec<f32>, ProtocolError> {
    let kind = m.kind().to_string();
    match m.arrays.iter_mut().find(|a| a.name == name) {
        None => Ok(Vec::new()),
        Some(a) => {
            a.rows(&[1])?;
            let v = a.take_f32();
            if v.len() != n {
                return Err(ProtocolError::Invalid(format!(
                    "'{kind}': {} {name} for {n} elements",
                    v.len()
                )));
            }
            Ok(v)
        }
    }
}

/// A positive number `key` (None when absent), at most `max`.
fn positive(m: &Message, key: &str, max: f64) -> Result<Option<f32>, ProtocolError> {
    match number(m, key)? {
        None => Ok(None),
        Some(x) if x > 0.0 && x <= max => Ok(Some(x as f32)),
        Some(_) => {
            Err(ProtocolError::Invalid(format!("'{}': '{key}' outside (0, {max}]", m.kind())))
        }
    }
}

impl Request {
    /// Checks `m` as a request (its fields and arrays, their shapes and values).
    pub fn parse(m: &Message, limits: &Limits) -> Result<Envelope, ProtocolError> {
        Self::parse_owned(m.clone(), limits)
    }

    /// [`Request::parse`], taking the message: its arrays become the request's vectors
    /// without a copy where their types allow (f32 positions, uint8 RGBA colours).
    pub fn parse_owned(mut message: Message, limits: &Limits) -> Result<Envelope, ProtocolError> {
        let m = &mut message;
        let id = m.id();
        // Every array's bytes are there (shared memory read, sizes as the shapes say).
        if !m.shared.is_empty() {
            return Err(ProtocolError::Invalid(format!(
                "'{}': arrays in shared memory that were not read",
                m.kind()
            )));
        }
        if let Some(a) = m.arrays.iter().find(|a| a.data.len() != a.len() * a.dtype.size()) {
            return Err(ProtocolError::Invalid(format!(
                "array '{}': {} bytes for shape {:?} of {}",
                a.name,
                a.data.len(),
                a.shape,
                a.dtype.name()
            )));
        }
        let request = match m.kind() {
            "hello" => {
                let v = m
                    .header
                    .get("version")
                    .and_then(Value::as_array)
                    .filter(|v| v.len() == 2)
                    .and_then(|v| Some((v[0].as_u64()? as u32, v[1].as_u64()? as u32)))
                    .ok_or_else(|| {
                        ProtocolError::Header("'hello': 'version' is not [major, minor]".into())
                    })?;
                let client = m
                    .header
                    .get("client")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(128)
                    .collect();
                let token = m.header.get("token").and_then(Value::as_str).map(str::to_string);
                let file = m.header.get("shm").and_then(Value::as_str);
                let nonce = m.header.get("shm_nonce").and_then(Value::as_str);
                let shm = match (file, nonce) {
                    (Some(f), Some(n))
                        if SharedBytes::valid_name(f)
                            && (16..=64).contains(&n.len())
                            && n.bytes().all(|b| b.is_ascii_hexdigit()) =>
                    {
                        Some((f.to_string(), n.to_string()))
                    }
                    _ => None,
                };
                Request::Hello { version: v, client, token, shm }
            }
            "points" => {
                let positions = array_mut(m, "positions")?.take_vec3s()?;
                let n = positions.len();
                let colors = optional_colors(m, n)?;
                let scalars = match m.arrays.iter_mut().find(|a| a.name == "scalars") {
                    None => Vec::new(),
                    Some(a) => {
                        a.rows(&[1])?;
                        let s = a.take_f32();
                        if s.len() != n {
                            return Err(ProtocolError::Invalid(format!(
                                "'points': {} scalars for {n} points",
                                s.len()
                            )));
                        }
                        s
                    }
                };
                let size = number(m, "size")?.map(|s| s as f32);
                if size.is_some_and(|s| !(s > 0.0 && s <= 64.0)) {
                    return Err(ProtocolError::Invalid("'points': 'size' outside (0, 64]".into()));
                }
                let size_world = number(m, "size_world")?.map(|s| s as f32);
                if size_world.is_some_and(|s| !(s > 0.0 && s <= 1e9)) {
                    return Err(ProtocolError::Invalid(
                        "'points': 'size_world' outside (0, 1e9]".into(),
                    ));
                }
                Request::Points {
                    name: string(m, "name", limits)?,
                    positions,
                    colors,
                    scalars,
                    size,
                    size_world,
                    at: at(m)?,
                }
            }
            "mesh" => {
                let vertices = array_mut(m, "vertices")?.take_vec3s()?;
                let faces = array(m, "faces")?.indices(3, vertices.len())?;
                let colors = optional_colors(m, vertices.len())?;
                Request::Mesh {
                    name: string(m, "name", limits)?,
                    vertices,
                    faces,
                    colors,
                    color: vec_n::<4>(m, "color")?,
                    at: at(m)?,
                }
            }
            "lines" => {
                let positions = array_mut(m, "positions")?.take_vec3s()?;
                let strip = m.header.get("strip").and_then(Value::as_bool).unwrap_or(false);
                if !strip && positions.len() % 2 != 0 {
                    return Err(ProtocolError::Invalid(
                        "'lines': an odd number of vertices for segments (pairs)".into(),
                    ));
                }
                let colors = optional_colors(m, positions.len())?;
                let width = number(m, "width")?.map(|w| w as f32);
                if width.is_some_and(|w| !(w > 0.0 && w <= 64.0)) {
                    return Err(ProtocolError::Invalid("'lines': 'width' outside (0, 64]".into()));
                }
                Request::Lines {
                    name: string(m, "name", limits)?,
                    positions,
                    strip,
                    colors,
                    width,
                    at: at(m)?,
                }
            }
            "image" => {
                let a = array_mut(m, "pixels")?;
                let (h, w, c) = match a.shape.as_slice() {
                    [h, w, c] if (*c == 3 || *c == 4) && *h > 0 && *w > 0 => (*h, *w, *c),
                    [h, w] if *h > 0 && *w > 0 => (*h, *w, 1),
                    s => {
                        return Err(ProtocolError::Invalid(format!(
                            "'image': pixels of shape {s:?}, expected H x W x 3 or 4 (or H x W)"
                        )))
                    }
                };
                // Rows of pixels (the bytes stay where they are).
                a.shape = vec![h * w, c];
                let pixels = if c == 1 {
                    let float = a.dtype.is_float();
                    let v = a.to_f32();
                    let byte = |x: f32| {
                        if float {
                            (x.clamp(0.0, 1.0) * 255.0).round() as u8
                        } else {
                            x.clamp(0.0, 255.0) as u8
                        }
                    };
                    v.iter().map(|&x| [byte(x), byte(x), byte(x), 255]).collect()
                } else {
                    a.take_colors()?
                };
                Request::Image {
                    name: string(m, "name", limits)?,
                    width: w as u32,
                    height: h as u32,
                    pixels,
                    at: at(m)?,
                }
            }
            "transform" => {
                let a = array(m, "matrix")?;
                if a.shape != [4, 4] {
                    return Err(ProtocolError::Invalid(format!(
                        "'transform': matrix of shape {:?}, expected 4 x 4",
                        a.shape
                    )));
                }
                let v = a.to_f32();
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(ProtocolError::Invalid("'transform': non-finite matrix".into()));
                }
                // Rows on the wire (NumPy's C order): column-major here.
                let mut matrix = [0f32; 16];
                for r in 0..4 {
                    for c in 0..4 {
                        matrix[c * 4 + r] = v[r * 4 + c];
                    }
                }
                Request::Transform { name: string(m, "name", limits)?, matrix, at: at(m)? }
            }
            "spheres" => {
                let centers = array_mut(m, "centers")?.take_vec3s()?;
                let n = centers.len();
                let colors = optional_colors(m, n)?;
                let radii = match optional_values(m, "radii", n)? {
                    r if r.is_empty() => vec![positive(m, "radius", 1e9)?.unwrap_or(0.05)],
                    r => r,
                };
                if radii.iter().any(|r| !(r.is_finite() && *r >= 0.0 && *r <= 1e9)) {
                    return Err(ProtocolError::Invalid(
                        "'spheres': a radius is negative, too large or not finite".into(),
                    ));
                }
                let detail = number(m, "detail")?.unwrap_or(1.0);
                if !(0.0..=4.0).contains(&detail) || detail.fract() != 0.0 {
                    return Err(ProtocolError::Invalid("'spheres': 'detail' not 0-4".into()));
                }
                Request::Spheres {
                    name: string(m, "name", limits)?,
                    centers,
                    radii,
                    colors,
                    values: optional_values(m, "values", n)?,
                    colormap: colormap(m)?,
                    detail: detail as u32,
                }
            }
            "tubes" => {
                let positions = array_mut(m, "positions")?.take_vec3s()?;
                let strip = m.header.get("strip").and_then(Value::as_bool).unwrap_or(false);
                if !strip && positions.len() % 2 != 0 {
                    return Err(ProtocolError::Invalid(
                        "'tubes': an odd number of vertices for segments (pairs)".into(),
                    ));
                }
                let colors = optional_colors(m, positions.len())?;
                Request::Tubes {
                    name: string(m, "name", limits)?,
                    positions,
                    strip,
                    radius: positive(m, "radius", 1e9)?.unwrap_or(0.01),
                    colors,
                    caps: m.header.get("caps").and_then(Value::as_bool).unwrap_or(true),
                }
            }
            "arrows" => {
                let origins = array_mut(m, "origins")?.take_vec3s()?;
                let vectors = array_mut(m, "vectors")?.take_vec3s()?;
                if origins.len() != vectors.len() {
                    return Err(ProtocolError::Invalid(format!(
                        "'arrows': {} origins and {} vectors",
                        origins.len(),
                        vectors.len()
                    )));
                }
                let colors = optional_colors(m, origins.len())?;
                Request::Arrows {
                    name: string(m, "name", limits)?,
                    origins,
                    vectors,
                    scale: positive(m, "scale", 1e9)?.unwrap_or(1.0),
                    radius: positive(m, "radius", 1e9)?,
                    colors,
                    colormap: colormap(m)?,
                }
            }
            "voxels" => {
                let cells = if let Some(a) = m.arrays.iter_mut().find(|a| a.name == "grid") {
                    let dims = match a.shape.as_slice() {
                        [z, y, x] if *x > 0 && *y > 0 && *z > 0 => [*x, *y, *z],
                        s => {
                            return Err(ProtocolError::Invalid(format!(
                                "'voxels': grid of shape {s:?}, expected Z x Y x X"
                            )))
                        }
                    };
                    let values = a.take_f32();
                    VoxelCells::Grid {
                        dims,
                        values,
                        threshold: number(m, "threshold")?.unwrap_or(0.0) as f32,
                    }
                } else {
                    let a = array(m, "cells")?;
                    let (n, _) = a.rows(&[3])?;
                    if a.dtype.is_float() {
                        return Err(ProtocolError::Invalid(
                            "'voxels': cells must be integers".into(),
                        ));
                    }
                    let bound = f64::from(i32::MAX);
                    let mut cells = Vec::with_capacity(n);
                    for i in 0..n {
                        let c = [a.get(3 * i), a.get(3 * i + 1), a.get(3 * i + 2)];
                        if c.iter().any(|v| v.abs() >= bound) {
                            return Err(ProtocolError::Invalid(
                                "'voxels': a cell coordinate is out of the 32-bit range".into(),
                            ));
                        }
                        cells.push(c.map(|v| v as i32));
                    }
                    VoxelCells::List { cells, values: optional_values(m, "values", n)? }
                };
                let count = match &cells {
                    VoxelCells::List { cells, .. } => cells.len(),
                    VoxelCells::Grid { .. } => 0,
                };
                let colors = if count > 0 { optional_colors(m, count)? } else { Vec::new() };
                Request::Voxels {
                    name: string(m, "name", limits)?,
                    cells,
                    origin: vec_n::<3>(m, "origin")?.unwrap_or([0.0; 3]),
                    size: positive(m, "size", 1e9)?.unwrap_or(1.0),
                    colors,
                    colormap: colormap(m)?,
                }
            }
            "axes" | "frustum" => {
                let kind = m.kind().to_string();
                let a = array(m, "poses")?;
                let n = match a.shape.as_slice() {
                    [4, 4] => 1,
                    [n, 4, 4] => *n,
                    s => {
                        return Err(ProtocolError::Invalid(format!(
                            "'{kind}': poses of shape {s:?}, expected N x 4 x 4 (or 4 x 4)"
                        )))
                    }
                };
                // Each pose becomes up to 20 vertices: a bound on what a message makes.
                if n > 1 << 20 {
                    return Err(ProtocolError::Invalid(format!(
                        "'{kind}': {n} poses (at most {})",
                        1 << 20
                    )));
                }
                let v = a.to_f32();
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(ProtocolError::Invalid(format!("'{kind}': non-finite poses")));
                }
                // Rows on the wire (NumPy's C order): column-major here.
                let poses: Vec<[f32; 16]> = (0..n)
                    .map(|k| {
                        let mut p = [0f32; 16];
                        for r in 0..4 {
                            for c in 0..4 {
                                p[c * 4 + r] = v[k * 16 + r * 4 + c];
                            }
                        }
                        p
                    })
                    .collect();
                let positive = |key: &str, default: f64, max: f64| -> Result<f32, ProtocolError> {
                    let x = number(m, key)?.unwrap_or(default);
                    if x > 0.0 && x <= max {
                        Ok(x as f32)
                    } else {
                        Err(ProtocolError::Invalid(format!("'{kind}': '{key}' outside (0, {max}]")))
                    }
                };
                let name = string(m, "name", limits)?;
                if kind == "axes" {
                    let width = number(m, "width")?.map(|w| w as f32);
                    if width.is_some_and(|w| !(w > 0.0 && w <= 64.0)) {
                        return Err(ProtocolError::Invalid(
                            "'axes': 'width' outside (0, 64]".into(),
                        ));
                    }
                    Request::Axes { name, poses, length: positive("length", 1.0, 1e9)?, width }
                } else {
                    let c = vec_n::<4>(m, "color")?.unwrap_or([1.0, 0.8, 0.2, 1.0]);
                    let byte = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
                    Request::Frustum {
                        name,
                        poses,
                        fov: positive("fov", 60.0, 179.0)?,
                        aspect: positive("aspect", 4.0 / 3.0, 1e3)?,
                        depth: positive("depth", 0.5, 1e9)?,
                        color: [byte(c[0]), byte(c[1]), byte(c[2]), byte(c[3])],
                        cameras: m.header.get("cameras").and_then(Value::as_bool).unwrap_or(false),
                    }
                }
            }
            "delete" => Request::Delete { name: string(m, "name", limits)? },
            "playback" => {
                let play = match m.header.get("action").and_then(Value::as_str) {
                    Some("play") => Some(true),
                    Some("pause") => Some(false),
                    None | Some("seek") | Some("speed") => None,
                    Some(a) => {
                        return Err(ProtocolError::Invalid(format!(
                            "'playback': action '{a}' (expected play, pause, seek or speed)"
                        )))
                    }
                };
                let speed = number(m, "speed")?;
                if speed.is_some_and(|s| !(-8.0..=8.0).contains(&s)) {
                    return Err(ProtocolError::Invalid("'playback': speed outside -8..8".into()));
                }
                Request::Playback(Playback { play, seek: number(m, "time")?, speed })
            }
            "camera" => {
                let eye = vec_n::<3>(m, "eye")?;
                let target = vec_n::<3>(m, "target")?;
                let up = vec_n::<3>(m, "up")?.unwrap_or([0.0, 1.0, 0.0]);
                let set = match (eye, target) {
                    (Some(e), Some(t)) => Some((e, t, up)),
                    (None, None) => None,
                    _ => {
                        return Err(ProtocolError::Invalid(
                            "'camera': set needs both 'eye' and 'target'".into(),
                        ))
                    }
                };
                Request::Camera { set, viewport: viewport(m)? }
            }
            "screenshot" => {
                let format =
                    m.header.get("format").and_then(Value::as_str).unwrap_or("rgba8").to_string();
                if !["rgba8", "png", "exr"].contains(&format.as_str()) {
                    return Err(ProtocolError::Invalid(format!(
                        "'screenshot': format '{format}' (expected rgba8, png or exr)"
                    )));
                }
                Request::Screenshot { viewport: viewport(m)?, format }
            }
            "pick" => {
                let coord = |k: &str| {
                    number(m, k)?.map(|v| v as f32).ok_or_else(|| {
                        ProtocolError::Invalid(format!("'pick': '{k}' (pixels) is missing"))
                    })
                };
                Request::Pick { viewport: viewport(m)?, x: coord("x")?, y: coord("y")? }
            }
            "query" => Request::Query,
            "quit" => Request::Quit,
            "light" => {
                let kind = m.header.get("kind").and_then(Value::as_str).unwrap_or("directional");
                if !["directional", "point", "spot"].contains(&kind) {
                    return Err(ProtocolError::Invalid(format!(
                        "'light': kind '{kind}' (expected directional, point or spot)"
                    )));
                }
                let color = vec_n::<3>(m, "color")?.unwrap_or([1.0; 3]);
                let intensity = number(m, "intensity")?.unwrap_or(1.0) as f32;
                if intensity < 0.0 || color.iter().any(|c| *c < 0.0) {
                    return Err(ProtocolError::Invalid(
                        "'light': a negative colour or intensity".into(),
                    ));
                }
                let direction = vec_n::<3>(m, "direction")?.unwrap_or([0.0, -1.0, 0.0]);
                if direction.iter().map(|d| d * d).sum::<f32>() < 1e-12 {
                    return Err(ProtocolError::Invalid("'light': a zero direction".into()));
                }
                let cone = vec_n::<2>(m, "cone")?.unwrap_or([20.0, 30.0]);
                if !(0.0 <= cone[0] && cone[0] <= cone[1] && cone[1] < 90.0) {
                    return Err(ProtocolError::Invalid(
                        "'light': cone [inner, outer] in degrees, 0 <= inner <= outer < 90".into(),
                    ));
                }
                // Checked as the f32 it becomes (1e-50 would be 0: unbounded).
                let range = match number(m, "range")? {
                    None => None,
                    Some(r) if (r as f32).is_finite() && r as f32 > 0.0 => Some(r as f32),
                    Some(r) => {
                        return Err(ProtocolError::Invalid(format!(
                            "'light': range {r} is not a positive distance"
                        )))
                    }
                };
                Request::Light {
                    name: string(m, "name", limits)?,
                    kind: kind.to_string(),
                    color,
                    intensity,
                    shadows: m.header.get("shadows").and_then(Value::as_bool).unwrap_or(true),
                    range,
                    position: vec_n::<3>(m, "position")?.unwrap_or([0.0; 3]),
                    direction,
                    cone: (cone[0], cone[1]),
                    at: at(m)?,
                }
            }
            "material" => {
                let unit = |key: &str| -> Result<Option<f32>, ProtocolError> {
                    match number(m, key)? {
                        Some(v) if (0.0..=1.0).contains(&v) => Ok(Some(v as f32)),
                        Some(v) => Err(ProtocolError::Invalid(format!(
                            "'material': {key} {v} outside 0-1"
                        ))),
                        None => Ok(None),
                    }
                };
                Request::Material {
                    name: string(m, "name", limits)?,
                    base_color: vec_n::<4>(m, "base_color")?,
                    metallic: unit("metallic")?,
                    roughness: unit("roughness")?,
                    emissive: vec_n::<3>(m, "emissive")?,
                    at: at(m)?,
                }
            }
            "scene_camera" => {
                let eye = vec_n::<3>(m, "eye")?;
                let target = vec_n::<3>(m, "target")?;
                let (Some(eye), Some(target)) = (eye, target) else {
                    return Err(ProtocolError::Invalid(
                        "'scene_camera': needs 'eye' and 'target'".into(),
                    ));
                };
                let fov = number(m, "fov")?.unwrap_or(45.0) as f32;
                if !(fov > 1.0 && fov < 179.0) {
                    return Err(ProtocolError::Invalid(
                        "'scene_camera': fov outside (1, 179) degrees".into(),
                    ));
                }
                Request::SceneCamera {
                    name: string(m, "name", limits)?,
                    eye,
                    target,
                    up: vec_n::<3>(m, "up")?.unwrap_or([0.0, 1.0, 0.0]),
                    fov,
                }
            }
            "subscribe" => {
                let list = m.header.get("events").and_then(Value::as_array).ok_or_else(|| {
                    ProtocolError::Invalid("'subscribe': 'events' is not a list".into())
                })?;
                let mut events = Vec::new();
                for e in list {
                    let e = e.as_str().filter(|e| EVENTS.contains(e)).ok_or_else(|| {
                        ProtocolError::Invalid(format!(
                            "'subscribe': event {e} (expected {})",
                            EVENTS.join(", ")
                        ))
                    })?;
                    events.push(e.to_string());
                }
                Request::Subscribe { events }
            }
            "widget" => {
                let name = string(m, "name", limits)?;
                let remove = m.header.get("remove").and_then(Value::as_bool).unwrap_or(false);
                let kind =
                    m.header.get("kind").and_then(Value::as_str).unwrap_or("text").to_string();
                if !["button", "slider", "checkbox", "text", "input"].contains(&kind.as_str()) {
                    return Err(ProtocolError::Invalid(format!(
                        "'widget': kind '{kind}' (expected button, slider, checkbox, text or input)"
                    )));
                }
                let label = match m.header.get("label").and_then(Value::as_str) {
                    Some(l) if l.len() <= limits.string_bytes => l.to_string(),
                    Some(_) => {
                        return Err(ProtocolError::Invalid("'widget': label too long".into()))
                    }
                    None => name.clone(),
                };
                let value = m.header.get("value").cloned().unwrap_or(Value::Null);
                if value.as_str().is_some_and(|v| v.len() > limits.string_bytes) {
                    return Err(ProtocolError::Invalid("'widget': value too long".into()));
                }
                let lo = number(m, "min")?.unwrap_or(0.0);
                let hi = number(m, "max")?.unwrap_or(1.0);
                if kind == "slider" && lo >= hi {
                    return Err(ProtocolError::Invalid(
                        "'widget': a slider needs min < max".into(),
                    ));
                }
                Request::Widget(Widget { name, kind, label, value, range: (lo, hi), remove })
            }
            "remove_frame" => Request::RemoveFrame {
                name: string(m, "name", limits)?,
                at: at(m)?.ok_or_else(|| {
                    ProtocolError::Invalid("'remove_frame': no 'time' or 'frame'".into())
                })?,
            },
            "viewport" => {
                let action = string(m, "action", limits)?;
                if !["add", "close", "renderer", "set"].contains(&action.as_str()) {
                    return Err(ProtocolError::Invalid(format!(
                        "'viewport': action '{action}' (expected add, close, renderer or set)"
                    )));
                }
                let renderer = m.header.get("renderer").and_then(Value::as_str).map(str::to_string);
                let setting = if action == "set" {
                    let key = string(m, "key", limits)?;
                    let value = match m.header.get("value") {
                        Some(Value::Bool(b)) => SettingText::Bool(*b),
                        Some(Value::Number(n)) => {
                            SettingText::Number(n.as_f64().filter(|x| x.is_finite()).ok_or_else(
                                || ProtocolError::Invalid("'viewport': 'value' not finite".into()),
                            )?)
                        }
                        Some(Value::String(_)) => SettingText::Name(string(m, "value", limits)?),
                        _ => {
                            return Err(ProtocolError::Invalid(
                                "'viewport': set needs a 'value' (a switch, a number or a name)"
                                    .into(),
                            ))
                        }
                    };
                    Some((key, value))
                } else {
                    None
                };
                Request::Viewport { action, viewport: viewport(m)?, renderer, setting }
            }
            "" => return Err(ProtocolError::Invalid("a message without a 'type'".into())),
            other => return Err(ProtocolError::Invalid(format!("unknown message type '{other}'"))),
        };
        Ok(Envelope { id, request })
    }
}

fn viewport(m: &Message) -> Result<Option<u32>, ProtocolError> {
    match m.header.get("viewport") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().and_then(|v| u32::try_from(v).ok()).map(Some).ok_or_else(|| {
            ProtocolError::Invalid(format!("'{}': 'viewport' is not a viewport id", m.kind()))
        }),
    }
}

/// The `welcome` reply to a `hello`.
pub fn welcome(server: &str, shared_memory: bool) -> Message {
    Message::new(
        json!({"type": "welcome", "version": [VERSION.0, VERSION.1], "server": server,
               "shared_memory": shared_memory}),
        vec![],
    )
}

/// An `ok` reply to request `id`.
pub fn ok(id: Option<u64>) -> Message {
    Message::new(json!({"type": "ok", "id": id}), vec![])
}

/// An `error` reply to request `id` (None: a message without an id, or the connection).
pub fn error(id: Option<u64>, message: &str) -> Message {
    Message::new(json!({"type": "error", "id": id, "message": message}), vec![])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `read_with` hands each inline array's room to the filler (aligned for its type, of its
    /// size), and a message read through a filler equals one read as usual; shared-memory
    /// arrays are filled the same way.
    #[test]
    fn arrays_filled_by_the_reader_equal_arrays_read() {
        let p: Vec<f32> = (0..3001 * 3).map(|i| i as f32).collect();
        let c: Vec<u8> = (0..3001 * 4).map(|i| (i * 7) as u8).collect();
        let m = Message::new(
            json!({"type": "points", "name": "p"}),
            vec![Array::f32("positions", &[3001, 3], &p), Array::u8("colors", &[3001, 4], &c)],
        );
        let bytes = m.to_bytes();
        let mut seen = Vec::new();
        let mut r = std::io::Cursor::new(&bytes);
        let read = Message::read_with(&mut r, &Limits::default(), |r, mut room| {
            let ptr = room.as_mut_ptr();
            seen.push((room.len(), ptr as usize % 4));
            let mut tmp = vec![0u8; room.len()];
            r.read_exact(&mut tmp)?;
            Ok(room.fill_from(&tmp).expect("same length"))
        })
        .expect("read");
        assert_eq!(seen, vec![(3001 * 12, 0), (3001 * 4, 0)]);
        assert_eq!(read, Message::decode(&bytes, &Limits::default()).expect("decode").0);
        assert_eq!(
            read.arrays[0].data.clone().into_vec::<[f32; 3]>().ok().map(|v| v[3000]),
            Some([9000.0, 9001.0, 9002.0])
        );
        // A filler given the wrong number of bytes gets nothing.
        let mut r = std::io::Cursor::new(&bytes);
        let short = Message::read_with(&mut r, &Limits::default(), |_, room| {
            room.fill_from(&[1, 2, 3]).ok_or_else(|| std::io::Error::other("short"))
        });
        assert!(short.is_err());
        // Shared memory: the reader fills the room of each array.
        let mut s = m.clone();
        s.arrays[0].data = Payload::default();
        s.shared.push((0, SharedBytes { file: "xpg-t".into(), offset: 8 }));
        s.resolve_shared(|file, offset, room| {
            assert_eq!((file, offset, room.len()), ("xpg-t", 8, 3001 * 12));
            room.fill_from(bytemuck::cast_slice(&p)).ok_or(())
        })
        .expect("resolve");
        assert_eq!(s, m);
    }

    /// Arrays read off the wire become the request's vectors in place (f32 positions, RGBA8
    /// colours, f32 scalars, u32 faces); other types are converted; both parse the same.
    #[test]
    fn arrays_read_become_vectors_without_a_copy() {
        let n = 1000;
        let p: Vec<f32> = (0..n * 3).map(|i| i as f32 * 0.5).collect();
        let c: Vec<u8> = (0..n * 4).map(|i| i as u8).collect();
        let m = Message::new(
            json!({"type": "points", "name": "p"}),
            vec![
                Array::f32("positions", &[n, 3], &p),
                Array::u8("colors", &[n, 4], &c),
                Array::f32("scalars", &[n], &p[..n]),
            ],
        );
        let read = Message::decode(&m.to_bytes(), &Limits::default()).expect("decode").0;
        let at: Vec<*const u8> = read.arrays.iter().map(|a| a.data.as_ptr()).collect();
        let borrowed = Request::parse(&read, &Limits::default()).expect("parse");
        let owned = Request::parse_owned(read, &Limits::default()).expect("parse");
        assert_eq!(borrowed, owned);
        let Request::Points { positions, colors, scalars, .. } = owned.request else {
            panic!("points")
        };
        assert_eq!(positions.as_ptr() as *const u8, at[0], "positions were copied");
        assert_eq!(colors.as_ptr() as *const u8, at[1], "colours were copied");
        assert_eq!(scalars.as_ptr() as *const u8, at[2], "scalars were copied");
        assert_eq!(positions[7], [10.5, 11.0, 11.5]);
        assert_eq!(colors[1], [4, 5, 6, 7]);
        // f64 positions and RGB colours are converted; a NaN is refused either way.
        let d: Vec<u8> = p.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
        let f64s = Array {
            name: "positions".into(),
            dtype: Dtype::F64,
            shape: vec![n, 3],
            data: d.into(),
        };
        let m = Message::new(json!({"type": "points", "name": "p"}), vec![f64s]);
        let read = Message::decode(&m.to_bytes(), &Limits::default()).expect("decode").0;
        match Request::parse_owned(read, &Limits::default()).expect("parse").request {
            Request::Points { positions, .. } => assert_eq!(positions[7], [10.5, 11.0, 11.5]),
            other => panic!("{other:?}"),
        }
        let mut nan = p.clone();
        nan[2999] = f32::NAN;
        let m = Message::new(
            json!({"type": "points", "name": "p"}),
            vec![Array::f32("positions", &[n, 3], &nan)],
        );
        let read = Message::decode(&m.to_bytes(), &Limits::default()).expect("decode").0;
        let e = Request::parse_owned(read, &Limits::default()).expect_err("NaN");
        assert!(e.to_string().contains("NaN"), "{e}");
        // A large array is checked by several threads: a NaN in the last one's part.
        let mut large = vec![0.5f32; 3 << 20];
        assert!(!any_non_finite(&large));
        large[(3 << 20) - 2] = f32::INFINITY;
        assert!(any_non_finite(&large));
        large[(3 << 20) - 2] = 0.0;
        large[5] = f32::NAN;
        assert!(any_non_finite(&large));
        // Faces: u32 read in place, checked against the vertex count.
        let m = Message::new(
            json!({"type": "mesh", "name": "m"}),
            vec![
                Array::f32("vertices", &[3, 3], &p[..9]),
                Array::u32("faces", &[1, 3], &[0, 1, 3]),
            ],
        );
        let read = Message::decode(&m.to_bytes(), &Limits::default()).expect("decode").0;
        let e = Request::parse_owned(read, &Limits::default()).expect_err("index 3 of 3");
        assert!(e.to_string().contains("index 3 out of range"), "{e}");
    }

    #[test]
    fn messages_round_trip_and_parse() {
        let m = Message::new(
            json!({"type": "points", "id": 3, "name": "robot/scan", "time": 0.5}),
            vec![
                Array::f32("positions", &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
                Array::u8("colors", &[2, 3], &[255, 0, 0, 0, 255, 0]),
            ],
        );
        let bytes = m.to_bytes();
        let (back, used) = Message::decode(&bytes, &Limits::default()).expect("decode");
        assert_eq!(used, bytes.len());
        assert_eq!(back, m);
        let e = Request::parse(&back, &Limits::default()).expect("parse");
        assert_eq!(e.id, Some(3));
        match e.request {
            Request::Points { name, positions, colors, at, .. } => {
                assert_eq!(name, "robot/scan");
                assert_eq!(positions[1], [3.0, 4.0, 5.0]);
                assert_eq!(colors[0], [255, 0, 0, 255]);
                assert_eq!(at, Some(At::Time(0.5)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sizes_are_checked_before_allocation() {
        let limits = Limits { header_bytes: 64, ..Default::default() };
        let mut b = 1000u32.to_le_bytes().to_vec();
        b.extend(vec![b' '; 1000]);
        assert!(matches!(Message::decode(&b, &limits), Err(ProtocolError::TooLarge { .. })));
        // An array of 2^40 elements is refused from its header alone.
        let h = br#"{"type":"points","arrays":[{"name":"positions","dtype":"f4","shape":[1099511627776,3]}]}"#;
        let mut b = (h.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(h);
        let e = Message::decode(&b, &Limits::default()).expect_err("too large");
        assert!(e.is_fatal() && e.to_string().contains("over the limit"), "{e}");
    }
}
