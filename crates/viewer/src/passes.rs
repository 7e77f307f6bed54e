//! Custom passes from the user's folder (`xpg-view --passes DIR`): each pass is a TOML file
//! describing a compute shader (a Slang file beside it) and its accesses to the viewport's
//! named targets; the viewer inserts it into every viewport's framegraph at the named point,
//! shows its parameters as sliders and reloads it like any shader.
//!
//! ```toml
//! # outline.toml
//! shader = "outline.slang"     # default: the TOML file's name with .slang
//! entry = "main"               # a [shader("compute")] entry point
//! insert = "before_tonemap"    # or "after_opaque", "after_tonemap"
//! # dispatch = [64, 64, 1]     # threads to run (default: one per pixel); before any table
//!
//! [[target]]                   # bound as `[[vk::binding(binding, 1)]]` (set 1)
//! name = "color"               # the viewport's color: HDR rgba16f before the tonemap,
//! access = "read_write"        #   rgba8 (sRGB-encoded) after; "read", "write", "read_write"
//! binding = 0                  #   (a storage image: RWTexture2D<float4>)
//!
//! [[target]]
//! name = "color_in"            # a copy of the color before this pass (read only; sampled:
//! binding = 1                  #   Texture2D<float4>, read with Load), for neighbourhoods
//!
//! [[target]]
//! name = "depth"               # the raster's depth (read only; Texture2D<float>; 0 near);
//! binding = 2                  #   a path tracer or a multisampled raster has none
//!
//! [[param]]                    # push constants: uint width, uint height, then the floats
//! name = "strength"
//! default = 1.0
//! min = 0.0
//! max = 4.0
//! ```
//! The pass runs one thread per pixel (`numthreads` of the entry point); pixels outside the
//! image are the shader's to skip (`if (id.x >= pc.width || id.y >= pc.height) return;`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use framegraph::{Access, Bind, FrameGraph, ImageHandle, ImageInfo};
use serde::Deserialize;
use xpg::{vk, Context, Pipeline, ShaderCompiler, ShaderDesc};

/// Where a pass goes in a viewport's graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsertPoint {
    /// After the opaque geometry (the raster's meshes, lines and points; before its grid
    /// and blended surfaces): HDR color and depth. A multisampled raster has no
    /// single-sampled color there (run with --msaa 1); the path tracer runs it after its
    /// image.
    AfterOpaque,
    /// On the renderer's HDR radiance, before the tonemap.
    BeforeTonemap,
    /// On the tonemapped 8-bit image.
    AfterTonemap,
}

/// What a pass does with a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Reads it.
    Read,
    /// Writes it (every pixel).
    Write,
    /// Reads and writes it in place.
    ReadWrite,
}

/// A target a pass names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// "color", "color_in" or "depth".
    pub name: String,
    /// How (default: read).
    #[serde(default = "read")]
    pub access: Mode,
    /// Its binding in set 1 (the push descriptor set).
    pub binding: u32,
}

fn read() -> Mode {
    Mode::Read
}

/// A float parameter (a slider).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Its label.
    pub name: String,
    /// Its start value.
    pub default: f32,
    /// Slider range.
    pub min: f32,
    /// Slider range.
    pub max: f32,
}

/// A pass's TOML file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassSpec {
    /// The Slang file (relative to the TOML file); default: the TOML's name with `.slang`.
    pub shader: Option<String>,
    /// The compute entry point (default "main").
    #[serde(default = "main_entry")]
    pub entry: String,
    /// Where it goes.
    pub insert: InsertPoint,
    /// Its targets.
    #[serde(default, rename = "target")]
    pub targets: Vec<TargetSpec>,
    /// Its parameters.
    #[serde(default, rename = "param")]
    pub params: Vec<ParamSpec>,
    /// Threads to run, `[x, y, z]` (default: one per pixel of the viewport).
    pub dispatch: Option<[u32; 3]>,
}

fn main_entry() -> String {
    "main".into()
}

/// At most this many float parameters (push constants: 8 + 4 * 24 bytes <= 128).
const MAX_PARAMS: usize = 24;

impl PassSpec {
    /// Parses and checks a pass file; errors name the file (and the line for TOML errors).
    pub fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let spec: PassSpec =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let name = path.display();
        if spec.targets.is_empty() {
            bail!("{name}: a pass needs at least one [[target]]");
        }
        if spec.dispatch.is_some_and(|d| d.iter().any(|&v| v == 0 || v > 1 << 20)) {
            bail!("{name}: dispatch: each count in 1..=1048576");
        }
        if spec.params.len() > MAX_PARAMS {
            bail!("{name}: at most {MAX_PARAMS} parameters");
        }
        for t in &spec.targets {
            match (t.name.as_str(), t.access) {
                ("color", _) => {}
                ("color_in" | "depth", Mode::Read) => {}
                ("color_in" | "depth", a) => {
                    bail!("{name}: target '{}' is read-only (access {a:?} is invalid)", t.name)
                }
                (other, _) => {
                    bail!("{name}: unknown target '{other}' (targets: color, color_in, depth)")
                }
            }
            if spec.targets.iter().filter(|u| u.binding == t.binding).count() > 1 {
                bail!("{name}: binding {} is used twice", t.binding);
            }
            if spec.targets.iter().filter(|u| u.name == t.name).count() > 1 {
                bail!("{name}: target '{}' is named twice", t.name);
            }
        }
        for p in &spec.params {
            if !(p.min.is_finite() && p.max.is_finite() && p.default.is_finite() && p.min < p.max) {
                bail!("{name}: parameter '{}': needs finite min < max and default", p.name);
            }
        }
        Ok(spec)
    }
}

/// A loaded pass.
pub struct UserPass {
    /// Its name (the TOML file's stem).
    pub name: String,
    /// Its description.
    pub spec: PassSpec,
    /// The parameter values (sliders).
    pub values: Vec<f32>,
    /// Enabled (a checkbox).
    pub enabled: bool,
    pipeline: Pipeline,
}

impl std::fmt::Debug for UserPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPass").field("name", &self.name).finish()
    }
}

/// Loads one pass (its TOML file): parses, compiles, makes the pipeline.
pub fn load_pass(
    ctx: &Context,
    compiler: &ShaderCompiler,
    toml_path: &Path,
) -> anyhow::Result<UserPass> {
    let text = std::fs::read_to_string(toml_path)
        .with_context(|| format!("reading {}", toml_path.display()))?;
    let spec = PassSpec::parse(&text, toml_path)?;
    let stem = toml_path.file_stem().and_then(|s| s.to_str()).unwrap_or("pass").to_string();
    let dir = toml_path.parent().unwrap_or(Path::new("."));
    let shader = dir.join(spec.shader.clone().unwrap_or_else(|| format!("{stem}.slang")));
    let code = compiler.compile(&ShaderDesc::new(&shader).entry(&spec.entry))?;
    let entry = code
        .entry(&spec.entry)
        .with_context(|| format!("{}: no entry point '{}'", shader.display(), spec.entry))?;
    if entry.stage != vk::ShaderStageFlags::COMPUTE {
        bail!("{}: '{}' is not a compute entry point", shader.display(), spec.entry);
    }
    let pipeline = Pipeline::compute(ctx, entry, None)
        .with_context(|| format!("{}: making the pipeline", shader.display()))?;
    check_layout(&spec, &pipeline, toml_path, &shader)?;
    if let Some(d) = spec.dispatch {
        // Workgroups per dimension, within the limit every device has (65535).
        for (i, (&threads, &size)) in d.iter().zip(&entry.workgroup_size).enumerate() {
            if threads.div_ceil(size.max(1)) > 65535 {
                bail!(
                    "{}: dispatch[{i}] = {threads} threads is more than 65535 workgroups of {size}",
                    toml_path.display()
                );
            }
        }
    }
    let values = spec.params.iter().map(|p| p.default).collect();
    Ok(UserPass { name: stem, spec, values, enabled: true, pipeline })
}

/// Checks the TOML against what the shader declares: every target at a binding of set 1 of
/// the right kind (color: a storage image; color_in, depth: a sampled image), no other
/// binding, no bindless heap, and push constants of `uint width, height` plus one float per
/// parameter.
fn check_layout(
    spec: &PassSpec,
    pipeline: &Pipeline,
    toml: &Path,
    shader: &Path,
) -> anyhow::Result<()> {
    let layout = pipeline.layout();
    let (t, s) = (toml.display(), shader.display());
    if layout.uses_bindless() {
        bail!("{s}: user passes cannot use the bindless heap (set 0); bind targets in set 1");
    }
    let declared = layout.push_bindings();
    for target in &spec.targets {
        let want = if target.name == "color" {
            vk::DescriptorType::STORAGE_IMAGE
        } else {
            vk::DescriptorType::SAMPLED_IMAGE
        };
        match declared.iter().find(|(b, _, _)| *b == target.binding) {
            None => bail!(
                "{t}: target '{}' is at binding {}, which {s} does not declare in set 1",
                target.name,
                target.binding
            ),
            Some((_, ty, _)) if *ty != want => bail!(
                "{t}: target '{}' at binding {} is a {ty:?} in {s}; it must be a {want:?} ({})",
                target.name,
                target.binding,
                if target.name == "color" { "RWTexture2D<float4>" } else { "Texture2D" }
            ),
            Some(_) => {}
        }
    }
    for (b, ty, _) in &declared {
        if !spec.targets.iter().any(|t| t.binding == *b) {
            bail!("{s}: binding {b} ({ty:?}) of set 1 is not a target of {t}");
        }
    }
    let want = 8 + 4 * spec.params.len() as u32;
    let have = layout.push_constants().map_or(0, |r| r.size);
    if have != want {
        bail!(
            "{s}: push constants of {have} bytes; {t} means {want} (uint width, uint height, \
             then one float per [[param]])"
        );
    }
    Ok(())
}

/// The pass files (`*.toml`) of `dir`, sorted by name (the order they run in).
pub fn pass_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the pass folder {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Adds `pass` to `graph` for a viewport of `width` x `height`: `color` is the viewport's
/// color at this point (HDR or tonemapped), `depth` the renderer's depth if it has one.
/// Fails (adding nothing) when the pass names a target the viewport lacks, or expects the
/// other color format (rgba16f before the tonemap, rgba8 after it).
pub fn add_pass<'g>(
    graph: &mut FrameGraph<'g>,
    pass: &'g UserPass,
    color: &mut ImageHandle,
    depth: Option<ImageHandle>,
    width: u32,
    height: u32,
) -> anyhow::Result<()> {
    let format = graph.image_info(color).context("color target")?.format;
    let expected = match pass.spec.insert {
        InsertPoint::AfterOpaque | InsertPoint::BeforeTonemap => vk::Format::R16G16B16A16_SFLOAT,
        InsertPoint::AfterTonemap => vk::Format::R8G8B8A8_UNORM,
    };
    if format != expected {
        bail!("pass '{}': the color here is {format:?}, not {expected:?}", pass.name);
    }
    let wants = |n: &str| pass.spec.targets.iter().find(|t| t.name == n);
    if wants("depth").is_some() && depth.is_none() {
        bail!(
            "pass '{}' reads the depth, which this viewport's renderer does not give (the \
             raster gives it with --msaa 1)",
            pass.name
        );
    }
    // A copy of the color before the pass, for passes that read neighbourhoods.
    let color_in = if wants("color_in").is_some() {
        let mut copy = graph
            .create_image(&format!("{} color_in", pass.name), ImageInfo::d2(width, height, format));
        let (s, d) = (*color, copy);
        graph
            .add_pass(&format!("{} copy", pass.name))
            .read(color, Access::TransferSrc)
            .write(&mut copy, Access::TransferDst)
            .record(move |p| p.copy_image(&s, &d));
        Some(copy)
    } else {
        None
    };
    let mut builder = graph.add_pass(&pass.name);
    for t in &pass.spec.targets {
        builder = match (t.name.as_str(), t.access) {
            ("color", Mode::Read) => builder.read(color, Access::StorageReadCompute),
            ("color", _) => builder.write(color, Access::StorageWriteCompute),
            ("color_in", _) => match &color_in {
                Some(c) => builder.read(c, Access::SampledCompute),
                None => builder,
            },
            ("depth", _) => match &depth {
                Some(d) => builder.read(d, Access::SampledCompute),
                None => builder,
            },
            _ => builder,
        };
    }
    let (c, ci, dp) = (*color, color_in, depth);
    builder.record(move |p| {
        let pl = &pass.pipeline;
        pl.bind(p.cmd, None);
        let binds: Vec<Bind<'_>> = pass
            .spec
            .targets
            .iter()
            .filter_map(|t| match t.name.as_str() {
                "color" => Some(Bind::Storage { binding: t.binding, image: &c, mip: 0 }),
                "color_in" => ci.as_ref().map(|h| Bind::Sampled {
                    binding: t.binding,
                    image: h,
                    mip: None,
                    sampler: vk::Sampler::null(),
                }),
                "depth" => dp.as_ref().map(|h| Bind::Sampled {
                    binding: t.binding,
                    image: h,
                    mip: None,
                    sampler: vk::Sampler::null(),
                }),
                _ => None,
            })
            .collect();
        // Checked at load; should binding still fail, the pass is skipped (logged), not the
        // frame.
        if let Err(e) = p.push_descriptors(pl, &binds) {
            tracing::error!("pass '{}': {e}", pass.name);
            return Ok(());
        }
        if let Some(range) = pl.layout().push_constants() {
            let mut bytes: Vec<u8> = Vec::with_capacity(8 + 4 * pass.values.len());
            bytes.extend(width.to_le_bytes());
            bytes.extend(height.to_le_bytes());
            for v in &pass.values {
                bytes.extend(v.to_le_bytes());
            }
            bytes.resize(range.size as usize, 0);
            pl.push_bytes(p.cmd, &bytes);
        }
        pl.dispatch_threads(p.cmd, pass.spec.dispatch.unwrap_or([width, height, 1]));
        Ok(())
    });
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<PassSpec> {
        PassSpec::parse(text, Path::new("p.toml"))
    }

    #[test]
    fn specs_parse_and_bad_ones_are_named() {
        let ok = parse(
            "insert = \"before_tonemap\"\n[[target]]\nname = \"color\"\naccess = \"read_write\"\n\
             binding = 0\n[[param]]\nname = \"k\"\ndefault = 1.0\nmin = 0.0\nmax = 2.0\n",
        )
        .unwrap();
        assert_eq!(ok.entry, "main");
        assert_eq!(ok.targets[0].access, Mode::ReadWrite);
        assert_eq!(ok.dispatch, None);
        let d = parse("insert = \"after_opaque\"\ndispatch = [64, 32, 1]\n[[target]]\nname = \"color\"\nbinding = 0\n").unwrap();
        assert_eq!(d.dispatch, Some([64, 32, 1]));
        assert_eq!(d.insert, InsertPoint::AfterOpaque);
        for (text, want) in [
            ("insert = \"after_transparent\"\n[[target]]\nname=\"color\"\nbinding=0\n", "unknown variant"),
            ("insert = \"before_tonemap\"\n[[target]]\nname=\"normals\"\nbinding=0\n", "unknown target 'normals'"),
            ("insert = \"before_tonemap\"\n[[target]]\nname=\"depth\"\naccess=\"write\"\nbinding=0\n", "read-only"),
            ("insert = \"before_tonemap\"\n[[target]]\nname=\"color\"\naccess=\"sideways\"\nbinding=0\n", "unknown variant"),
            ("insert = \"before_tonemap\"\n", "at least one"),
            ("insert = \"before_tonemap\"\ndispatch = [0, 1, 1]\n[[target]]\nname=\"color\"\nbinding=0\n", "dispatch"),
            ("insert = \"before_tonemap\"\ncolour = 1\n", "unknown field"),
            ("insert = \"before_tonemap\"\n[[target]]\nname=\"color\"\nbinding=0\n[[target]]\nname=\"depth\"\nbinding=0\n", "binding 0 is used twice"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("p.toml"), "{want}: {e}");
        }
    }
}
