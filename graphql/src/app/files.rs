//! File permissions of the data directory: what only the secretariat may read.

use std::path::Path;

/// Sets a file's or directory's permission bits (Unix; elsewhere nothing to do).
#[cfg(unix)]
pub(crate) fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Sets a file's or directory's permission bits (Unix; elsewhere nothing to do).
#[cfg(not(unix))]
pub(crate) fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Logs a warning when `path` exists and has any of the `forbidden` permission bits (group or
/// other access to the data directory or the token file).
pub(crate) fn warn_if_open_to_others(path: &Path, forbidden: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & forbidden != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{mode:o}"),
                    "readable by others on this machine; `chmod go-rwx` it (tokens and the ledger are the secretariat's own)"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, forbidden);
}
