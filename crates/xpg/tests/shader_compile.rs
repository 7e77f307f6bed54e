//! Slang compilation: errors, the cache, dependency tracking.

use testkit as common;

use std::path::Path;

use common::{compiler, test_shader};
use xpg::{ShaderCompiler, ShaderDesc, ShaderError};

fn write(p: &Path, s: &str) {
    std::fs::write(p, s).expect("write shader");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("xpg-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tempdir");
    d
}

#[test]
fn syntax_error_names_file_and_line() {
    let dir = tempdir("syntax");
    let file = dir.join("broken.slang");
    write(
        &file,
        "// line 1\n[shader(\"compute\")]\n[numthreads(1,1,1)]\nvoid main() {\n    int x = ;\n}\n",
    );
    let c = ShaderCompiler::new([]);
    let err = c.compile(&ShaderDesc::new(&file)).expect_err("a syntax error must be an Err");
    let ShaderError::Compile { diagnostics, .. } = &err else {
        panic!("expected Compile, got {err:?}")
    };
    let first = diagnostics.first().unwrap_or_else(|| panic!("at least one diagnostic in: {err}"));
    assert!(first.file.ends_with("broken.slang"), "{first:?}");
    assert_eq!(first.line, 5, "{first:?}");
    assert_eq!(first.severity, "error");
    let text = err.to_string();
    assert!(text.contains("broken.slang:5:"), "message names file:line: {text}");
    assert!(text.contains("syntax error"), "message has the compiler text: {text}");
    // A missing file is an Io error naming the file.
    let missing = c.compile(&ShaderDesc::new(dir.join("nope.slang"))).expect_err("missing");
    assert!(missing.to_string().contains("nope.slang"), "{missing}");
    // A missing entry point names it.
    let ok = dir.join("ok.slang");
    write(&ok, "[shader(\"compute\")]\n[numthreads(1,1,1)]\nvoid main() {}\n");
    let e = c.compile(&ShaderDesc::new(&ok).entry("other")).expect_err("missing entry point");
    assert!(e.to_string().contains("other"), "{e}");
}

#[test]
fn second_compile_is_a_cache_hit() {
    let c = compiler();
    let desc = ShaderDesc::new(test_shader("fill.slang"));
    let a = c.compile(&desc).expect("first");
    assert_eq!(c.stats().compiles, 1);
    let b = c.compile(&desc).expect("second");
    assert_eq!(c.stats().compiles, 1, "no second compiler call");
    assert_eq!(c.stats().cache_hits, 1);
    assert_eq!(a.entry_points[0].spirv, b.entry_points[0].spirv);
    // Different defines are a different entry.
    c.compile(&desc.clone().define("UNUSED", "1")).expect("with define");
    assert_eq!(c.stats().compiles, 2);
}

#[test]
fn editing_an_imported_module_invalidates_its_importer() {
    let dir = tempdir("deps");
    let lib = dir.join("colors.slang");
    let main = dir.join("main.slang");
    write(&lib, "public uint base_value() { return 1; }\n");
    write(
        &main,
        "import colors;\nstruct P { uint* out; };\n[[vk::push_constant]] ConstantBuffer<P> pc;\n[shader(\"compute\")]\n[numthreads(1,1,1)]\nvoid main() { pc.out[0] = base_value(); }\n",
    );
    let c = ShaderCompiler::new([]);
    let desc = ShaderDesc::new(&main);
    let first = c.compile(&desc).expect("first");
    let canon = |p: &Path| p.canonicalize().expect("canonical");
    let deps: Vec<_> = first.dependencies.iter().filter_map(|d| d.canonicalize().ok()).collect();
    assert!(deps.contains(&canon(&main)), "deps {:?}", first.dependencies);
    assert!(
        deps.contains(&canon(&lib)),
        "the imported module is a dependency: {:?}",
        first.dependencies
    );
    c.compile(&desc).expect("hit");
    assert_eq!(c.stats(), xpg::CompileStats { compiles: 1, cache_hits: 1, disk_hits: 0 });

    write(&lib, "public uint base_value() { return 2; }\n");
    let second = c.compile(&desc).expect("after edit");
    assert_eq!(c.stats().compiles, 2, "the edit of the imported module forced a recompile");
    assert_ne!(first.entry_points[0].spirv, second.entry_points[0].spirv, "new code");

    // A broken import is an error naming the imported file; the cache stays usable: once the
    // file is mended, the earlier result comes back without a compile.
    write(&lib, "public uint base_value() { return 2 }\n");
    let err = c.compile(&desc).expect_err("broken import");
    assert!(err.to_string().contains("colors.slang"), "{err}");
    assert_eq!(c.stats().compiles, 3);
    write(&lib, "public uint base_value() { return 2; }\n");
    let mended = c.compile(&desc).expect("mended");
    assert_eq!(c.stats().compiles, 3, "cache hit after the fix");
    assert_eq!(mended.entry_points[0].spirv, second.entry_points[0].spirv);
}

#[test]
fn user_folder_imports_project_modules() {
    let dir = tempdir("user");
    let main = dir.join("user_pass.slang");
    write(
        &main,
        "import xpg.bindless;\n[shader(\"compute\")]\n[numthreads(8,8,1)]\nvoid main(uint3 t: SV_DispatchThreadID) { g_storage_images[0][t.xy] = float4(1); }\n",
    );
    let c = compiler();
    let out = c.compile(&ShaderDesc::new(&main)).expect("a user's shader imports xpg.bindless");
    assert_eq!(out.entry_points[0].workgroup_size, [8, 8, 1]);
    assert!(
        out.dependencies.iter().any(|d| d.ends_with("xpg/bindless.slang")),
        "{:?}",
        out.dependencies
    );
}

/// The disk cache: a new compiler (a new process) gets the result without compiling; an
/// edit of an imported module is seen there too; a corrupt entry is compiled again.
#[test]
fn disk_cache_survives_the_compiler_and_checks_dependencies() {
    let dir = tempdir("disk");
    let cache = dir.join("cache");
    let lib = dir.join("colors.slang");
    let main = dir.join("main.slang");
    write(&lib, "public uint base_value() { return 1; }\n");
    write(
        &main,
        "import colors;\nstruct P { uint* out; };\n[[vk::push_constant]] ConstantBuffer<P> pc;\n[shader(\"compute\")]\n[numthreads(1,1,1)]\nvoid main() { pc.out[0] = base_value(); }\n",
    );
    let desc = ShaderDesc::new(&main);
    let first = ShaderCompiler::new([]).with_disk_cache(&cache);
    let a = first.compile(&desc).expect("first");
    assert_eq!(first.stats().compiles, 1);
    let second = ShaderCompiler::new([]).with_disk_cache(&cache);
    let b = second.compile(&desc).expect("from disk");
    assert_eq!(second.stats(), xpg::CompileStats { compiles: 0, cache_hits: 1, disk_hits: 1 });
    assert_eq!(a.entry_points[0].spirv, b.entry_points[0].spirv);
    assert_eq!(a.entry_points[0].workgroup_size, b.entry_points[0].workgroup_size);
    assert_eq!(a.dependencies, b.dependencies);
    // The imported module changes: the disk entry is stale.
    write(&lib, "public uint base_value() { return 2; }\n");
    let third = ShaderCompiler::new([]).with_disk_cache(&cache);
    let c = third.compile(&desc).expect("after edit");
    assert_eq!(third.stats().compiles, 1);
    assert_ne!(a.entry_points[0].spirv, c.entry_points[0].spirv);
    // One file per request: the edit replaced the entry instead of adding one.
    assert_eq!(std::fs::read_dir(&cache).expect("cache dir").count(), 1);
    // A flipped byte inside the SPIR-V (the file still parses) is detected and not trusted.
    for e in std::fs::read_dir(&cache).expect("cache dir").flatten() {
        let mut data = std::fs::read(e.path()).expect("read");
        let at = data.len() - 64;
        data[at] ^= 0x10;
        std::fs::write(e.path(), &data).expect("flip");
    }
    let flipped = ShaderCompiler::new([]).with_disk_cache(&cache);
    let f = flipped.compile(&desc).expect("after a flipped byte");
    assert_eq!(flipped.stats().compiles, 1, "a damaged entry is compiled again");
    assert_eq!(c.entry_points[0].spirv, f.entry_points[0].spirv);
    // Truncated entries are ignored.
    for e in std::fs::read_dir(&cache).expect("cache dir").flatten() {
        let data = std::fs::read(e.path()).expect("read");
        std::fs::write(e.path(), &data[..data.len() / 2]).expect("truncate");
    }
    let fourth = ShaderCompiler::new([]).with_disk_cache(&cache);
    let d = fourth.compile(&desc).expect("after truncation");
    assert_eq!(fourth.stats().compiles, 1);
    assert_eq!(c.entry_points[0].spirv, d.entry_points[0].spirv);
}
