//! Shared fixtures for the end-to-end tests in `tests/it/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The repository root (schemas, fixtures).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A fresh, empty folder under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "attrib-test-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the `attrib` command line in process with these arguments.
pub fn attrib(args: &[&str]) -> anyhow_like::Result {
    use clap::Parser;
    let cli = attrib::cli::Cli::try_parse_from(std::iter::once("attrib").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    attrib::cli::run(cli).map_err(|e| format!("{e:#}"))
}

pub mod anyhow_like {
    /// The command's error, rendered.
    pub type Result = std::result::Result<(), String>;
}

/// Reads a CSV file into its header and rows.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().expect("header").iter().map(str::to_string).collect();
    let rows = r.records().map(|rec| rec.expect("row").iter().map(str::to_string).collect()).collect();
    (header, rows)
}
