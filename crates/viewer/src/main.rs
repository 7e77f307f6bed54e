//! `xpg-view`: the viewer's command line with the built-in renderers (see [`viewer::cli`]).

fn main() -> anyhow::Result<()> {
    viewer::cli::run(viewer::builtin_registry())
}
