//! Which operating-system user runs the embedded server: this process's own user, or the
//! system's `postgres` user when this process is root.

use std::fs;
use std::os::unix::fs::{MetadataExt, chown};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::{EmbeddedError, io};

/// Whether this process runs with root's effective user id.
pub fn running_as_root() -> bool {
    effective_uid() == Some(0)
}

/// The effective uid, read from /proc so that no unsafe system call is needed.
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[derive(Debug, Clone, Copy)]
pub(super) struct ServerUser {
    /// The uid and gid to switch to; `None` runs the server as this process's user.
    switch_to: Option<(u32, u32)>,
}

impl ServerUser {
    pub(super) fn for_this_process() -> Result<Self, EmbeddedError> {
        if !running_as_root() {
            return Ok(Self { switch_to: None });
        }
        let ids = postgres_ids().ok_or(EmbeddedError::NoPostgresUser)?;
        Ok(Self { switch_to: Some(ids) })
    }

    pub(super) fn is_other_user(&self) -> bool {
        self.switch_to.is_some()
    }

    /// Runs `command` as the server's user.
    pub(super) fn apply(&self, command: &mut Command) {
        if let Some((uid, gid)) = self.switch_to {
            command.uid(uid).gid(gid);
        }
    }

    /// Hands `path` to the server's user.
    pub(super) fn give(&self, path: &Path) -> Result<(), EmbeddedError> {
        if let Some((uid, gid)) = self.switch_to {
            chown(path, Some(uid), Some(gid))
                .map_err(io(format!("handing {} to the postgres user", path.display())))?;
        }
        Ok(())
    }

    /// Fails when a parent of `path` is closed to other users, which would keep the server's
    /// user out of its own files.
    pub(super) fn check_can_reach(&self, path: &Path) -> Result<(), EmbeddedError> {
        let absolute =
            fs::canonicalize(path).map_err(io(format!("resolving {}", path.display())))?;
        for ancestor in absolute.ancestors().skip(1) {
            let mode = fs::metadata(ancestor).map(|meta| meta.mode()).unwrap_or(0);
            if mode & 0o001 == 0 {
                return Err(EmbeddedError::Unreachable(path.to_path_buf()));
            }
        }
        Ok(())
    }
}

/// The uid and gid of the `postgres` account, from /etc/passwd.
fn postgres_ids() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() != Some(&"postgres") || fields.len() < 4 {
            return None;
        }
        Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
    })
}
