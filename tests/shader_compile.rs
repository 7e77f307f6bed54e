//! Slang compilation: errors, the cache, dependency tracking.

mod common;

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
    assert_eq!(c.stats(), xpg::CompileStats { compiles: 1, cache_hits: 1 });

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
