//! Makes the Slang shared libraries findable when tests and examples run under cargo.
//!
//! `shader-slang-sys` links `-lslang` from `SLANG_LIB_DIR` (set in .cargo/config.toml to the
//! project's `.slang/lib`, filled by scripts/setup.sh). At run time cargo overrides
//! LD_LIBRARY_PATH but puts every link-search path that lies inside `target/` on it, so the
//! libraries are symlinked into OUT_DIR and that folder is added as a link-search path.
//! Binaries run outside cargo also get an rpath to the project's `.slang/lib`.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=SLANG_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    let Ok(lib_dir) = std::env::var("SLANG_LIB_DIR") else {
        println!("cargo:warning=SLANG_LIB_DIR is not set: run scripts/setup.sh");
        return;
    };
    let lib_dir = PathBuf::from(lib_dir);
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let entries = match std::fs::read_dir(&lib_dir) {
        Ok(e) => e,
        Err(e) => {
            println!(
                "cargo:warning=cannot read Slang libraries in {}: {e}; run scripts/setup.sh",
                lib_dir.display()
            );
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("libslang") {
            continue;
        }
        let link = out.join(&name);
        let _ = std::fs::remove_file(&link);
        if let Err(e) = symlink(&entry.path(), &link) {
            println!("cargo:warning=cannot link {}: {e}", link.display());
        }
    }
    println!("cargo:rustc-link-search=native={}", out.display());
    if let Ok(abs) = lib_dir.canonicalize() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", abs.display());
    }
}

#[cfg(unix)]
fn symlink(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(src, dst)
}
#[cfg(not(unix))]
fn symlink(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::copy(src, dst).map(|_| ())
}
