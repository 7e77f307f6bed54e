//! EXT_meshopt_compression (and its Khronos successor KHR_meshopt_compression): buffer views
//! whose data is compressed by meshoptimizer's codecs (vertex attributes, triangle indices,
//! index sequences, with the octahedral, quaternion and exponential filters) into another
//! buffer. They are decoded into the views' own place in their buffer, which is often a
//! "fallback" buffer without data of its own (made zeroed here), so that accessors read the
//! decoded bytes as if the file had never been compressed.

use std::path::Path;

use crate::gltf_loader::{percent_decode, LoadError};

/// The extension's names.
const NAMES: [&str; 2] = ["EXT_meshopt_compression", "KHR_meshopt_compression"];

fn extension<'a>(
    v: impl Fn(&str) -> Option<&'a gltf::json::Value>,
) -> Option<&'a gltf::json::Value> {
    NAMES.iter().find_map(|n| v(n))
}

/// Whether any buffer view of `doc` is compressed.
pub(crate) fn used(doc: &gltf::Document) -> bool {
    doc.views().any(|v| extension(|n| v.extension_value(n)).is_some())
}

/// The buffers of `doc` with every compressed view decoded into place.
pub(crate) fn import(
    path: &Path,
    doc: &gltf::Document,
    base: &Path,
    blob: Option<Vec<u8>>,
) -> Result<Vec<gltf::buffer::Data>, LoadError> {
    let invalid = |message: String| LoadError::Invalid { path: path.to_path_buf(), message };
    let mut blob = blob;
    let mut buffers = Vec::new();
    for b in doc.buffers() {
        let fallback = extension(|n| b.extension_value(n))
            .and_then(|e| e.get("fallback"))
            .and_then(|f| f.as_bool())
            .unwrap_or(false);
        let mut data = if fallback {
            Vec::new()
        } else {
            match b.source() {
                gltf::buffer::Source::Bin => blob
                    .take()
                    .ok_or_else(|| invalid(format!("buffer {}: no binary chunk", b.index())))?,
                gltf::buffer::Source::Uri(uri) => read_uri(base, uri)
                    .map_err(|e| invalid(format!("buffer {} ('{uri}'): {e}", b.index())))?,
            }
        };
        if data.len() < b.length() && !fallback {
            return Err(invalid(format!(
                "buffer {}: {} bytes, the file says {}",
                b.index(),
                data.len(),
                b.length()
            )));
        }
        if fallback {
            // Made only as large as the views into it reach (not trusting its byteLength).
            let reach = doc
                .views()
                .filter(|v| v.buffer().index() == b.index())
                .map(|v| v.offset().checked_add(v.length()))
                .try_fold(0usize, |m, end| end.map(|e| m.max(e)))
                .filter(|&r| r <= b.length())
                .ok_or_else(|| {
                    invalid(format!("buffer {}: a view reaches past its end", b.index()))
                })?;
            data.resize(reach, 0);
        }
        buffers.push(gltf::buffer::Data(data));
    }
    for view in doc.views() {
        let Some(e) = extension(|n| view.extension_value(n)) else { continue };
        let what = format!("buffer view {}", view.index());
        let decoded = decode(e, &buffers).map_err(|m| invalid(format!("{what}: {m}")))?;
        let (at, len) = (view.offset(), view.length());
        let target = buffers
            .get_mut(view.buffer().index())
            .and_then(|b| b.0.get_mut(at..at.checked_add(len)?))
            .ok_or_else(|| invalid(format!("{what} lies outside its buffer")))?;
        if decoded.len() > target.len() {
            return Err(invalid(format!(
                "{what}: {} decoded bytes for a view of {}",
                decoded.len(),
                target.len()
            )));
        }
        target[..decoded.len()].copy_from_slice(&decoded);
    }
    Ok(buffers)
}

/// A buffer URI's bytes: a base64 data URI or a file next to the glTF.
fn read_uri(base: &Path, uri: &str) -> Result<Vec<u8>, String> {
    if let Some(rest) = uri.strip_prefix("data:") {
        let (_, data) = rest.split_once(";base64,").ok_or("a data URI that is not base64")?;
        return base64::decode(data).map_err(|e| e.to_string());
    }
    let file = base.join(percent_decode(uri));
    std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))
}

/// One compressed view's bytes, decoded (and filtered).
fn decode(e: &gltf::json::Value, buffers: &[gltf::buffer::Data]) -> Result<Vec<u8>, String> {
    let int = |key: &str| e.get(key).and_then(|v| v.as_u64()).map(|v| v as usize);
    let source = int("buffer").ok_or("no source buffer")?;
    let offset = int("byteOffset").unwrap_or(0);
    let length = int("byteLength").ok_or("no byteLength")?;
    let stride = int("byteStride").ok_or("no byteStride")?;
    let count = int("count").ok_or("no count")?;
    let mode = e.get("mode").and_then(|v| v.as_str()).ok_or("no mode")?;
    let filter = e.get("filter").and_then(|v| v.as_str()).unwrap_or("NONE");
    let src = buffers
        .get(source)
        .and_then(|b| b.0.get(offset..offset.checked_add(length)?))
        .ok_or("compressed data lies outside its buffer")?;
    let size = count.checked_mul(stride).filter(|&s| s <= 1 << 31).ok_or("too large")?;
    // Words, so that the decoders' and filters' typed writes are aligned.
    let mut words = vec![0u32; size.div_ceil(4)];
    let out: &mut [u8] = &mut bytemuck_bytes(&mut words)[..size];
    let code = match mode {
        "ATTRIBUTES" => {
            if stride == 0 || stride % 4 != 0 || stride > 256 {
                return Err(format!("attribute stride {stride}"));
            }
            // SAFETY: `out` holds count * stride bytes (4-byte aligned), which the decoder
            // writes at most; it reads at most src.len() bytes of `src` (meshoptimizer
            // validates its input).
            unsafe {
                meshopt::ffi::meshopt_decodeVertexBuffer(
                    out.as_mut_ptr().cast(),
                    count,
                    stride,
                    src.as_ptr(),
                    src.len(),
                )
            }
        }
        "TRIANGLES" | "INDICES" => {
            if stride != 2 && stride != 4 {
                return Err(format!("index stride {stride}"));
            }
            let decoder = if mode == "TRIANGLES" {
                if count % 3 != 0 {
                    return Err(format!("{count} triangle indices"));
                }
                meshopt::ffi::meshopt_decodeIndexBuffer
            } else {
                meshopt::ffi::meshopt_decodeIndexSequence
            };
            // SAFETY: as above: `out` holds count indices of `stride` bytes, aligned for them.
            unsafe { decoder(out.as_mut_ptr().cast(), count, stride, src.as_ptr(), src.len()) }
        }
        other => return Err(format!("unknown mode '{other}'")),
    };
    if code != 0 {
        return Err(format!("meshoptimizer could not decode it (code {code})"));
    }
    // Filters (attributes only), in place.
    let filter_fn: Option<unsafe extern "C" fn(*mut std::ffi::c_void, usize, usize)> = match filter
    {
        "NONE" => None,
        "OCTAHEDRAL" if stride == 4 || stride == 8 => Some(meshopt::ffi::meshopt_decodeFilterOct),
        "QUATERNION" if stride == 8 => Some(meshopt::ffi::meshopt_decodeFilterQuat),
        "EXPONENTIAL" => Some(meshopt::ffi::meshopt_decodeFilterExp),
        other => return Err(format!("filter '{other}' with stride {stride}")),
    };
    if let Some(f) = filter_fn {
        if mode != "ATTRIBUTES" {
            return Err(format!("filter '{filter}' on {mode}"));
        }
        // SAFETY: `out` holds `count` elements of `stride` bytes, 4-byte aligned, the layout
        // each filter was checked to take above.
        unsafe { f(out.as_mut_ptr().cast(), count, stride) };
    }
    Ok(out.to_vec())
}

/// The bytes of `words` (little-endian machines: glTF data is little-endian, as meshoptimizer
/// writes it).
fn bytemuck_bytes(words: &mut [u32]) -> &mut [u8] {
    let len = size_of_val(words);
    // SAFETY: u8 has no alignment or validity requirements; the slice covers exactly the
    // words' memory, borrowed mutably for the result's lifetime.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}
