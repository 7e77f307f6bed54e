//! The Python client's pytest suite (clients/python/tests) against this build's `xpg-view`,
//! headless: part of `cargo test` so that the README's one test command runs it. It needs
//! the virtual environment `scripts/setup.sh` makes in `.venv/` (NumPy, pytest).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn python_client_pytest_suite() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh (it makes the Python environment of the client's tests)",
        python.display()
    );
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "clients/python/tests"])
        .current_dir(&root)
        // The working tree's client, and this build's viewer.
        .env("PYTHONPATH", root.join("clients/python"))
        .env("XPG_VIEW", env!("CARGO_BIN_EXE_xpg-view"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run pytest");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(text.contains("passed") && !text.contains("skipped"), "{text}");
}
