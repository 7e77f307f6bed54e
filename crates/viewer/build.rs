//! Gives the xpg-view binary an rpath to the project's Slang
//! libraries (.slang/lib, installed by scripts/setup.sh), so that they also run outside cargo.
fn main() {
    println!("cargo:rerun-if-env-changed=SLANG_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    if let Ok(dir) = std::env::var("SLANG_LIB_DIR") {
        if let Ok(abs) = std::path::Path::new(&dir).canonicalize() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", abs.display());
        }
    }
}
