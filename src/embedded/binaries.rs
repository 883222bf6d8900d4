//! Finding the PostgreSQL server programs on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::EmbeddedError;

/// The configured directory, else what `pg_config --bindir` reports, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu keep the server programs there,
/// off the PATH).
pub fn find_bin_dir(configured: Option<&Path>) -> Result<PathBuf, EmbeddedError> {
    let candidates = configured
        .map(Path::to_path_buf)
        .into_iter()
        .chain(pg_config_bindir())
        .chain(debian_bin_dirs());

    for dir in candidates {
        if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
            return Ok(dir);
        }
        if configured.is_some_and(|configured| configured == dir) {
            return Err(EmbeddedError::BinariesMissing);
        }
    }
    Err(EmbeddedError::BinariesMissing)
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

fn debian_bin_dirs() -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    versions.into_iter().map(|(_, dir)| dir).collect()
}
