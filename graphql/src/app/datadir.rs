//! The data directory: `ledger/` (the sled database) and `tokens.json`. An empty directory becomes
//! one; anything else is refused rather than written into.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ledger::{Ledger, LedgerConfig};

use super::auth::TokenStore;

/// The subdirectory holding the sled database.
pub(crate) const LEDGER_DIR: &str = "ledger";

/// An opened data directory.
#[derive(Debug)]
pub struct DataDir {
    /// The directory.
    pub root: PathBuf,
    /// The ledger in it.
    pub ledger: Ledger,
    /// Its tokens.
    pub tokens: TokenStore,
}

impl DataDir {
    /// Opens (creating if missing or empty) the data directory at `root`.
    pub fn open(root: &Path, config: LedgerConfig) -> anyhow::Result<Self> {
        check_layout(root)?;
        let new = !root.exists();
        std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        if new {
            // Tokens and the ledger are the secretariat's own: no one else on the machine reads them.
            super::files::set_mode(root, 0o700).with_context(|| format!("cannot restrict {}", root.display()))?;
        }

        let ledger = match Ledger::open(root.join(LEDGER_DIR), config) {
            Ok(ledger) => ledger,
            Err(ledger::LedgerError::InUse { .. }) => anyhow::bail!("{}", in_use(root)),
            Err(e) => return Err(e).with_context(|| format!("cannot open the ledger in {}", root.display())),
        };
        let tokens = TokenStore::open(root)?;
        Ok(Self { root: root.to_path_buf(), ledger, tokens })
    }

    /// Logs a warning for the data directory or token file when others on the machine can read
    /// them (the server calls this at start; one-shot commands keep to their one line).
    pub fn warn_if_open_to_others(&self) {
        super::files::warn_if_open_to_others(&self.root, 0o077);
        super::files::warn_if_open_to_others(&self.root.join(super::auth::TOKEN_FILE), 0o077);
    }
}

/// The file a running server writes into its data directory: its process id and URL.
pub(crate) const SERVER_FILE: &str = "server.json";

/// What a running server says about itself in [`SERVER_FILE`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Running {
    /// Its process id.
    pub(crate) pid: u32,
    /// Where it serves.
    pub(crate) url: String,
}

impl Running {
    /// Records the server in the data directory (replaced atomically).
    pub(crate) fn write(&self, root: &Path) -> anyhow::Result<()> {
        let tmp = root.join(format!("{SERVER_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(self)?)?;
        std::fs::rename(&tmp, root.join(SERVER_FILE))?;
        Ok(())
    }

    /// Removes the record (the server stops).
    pub(crate) fn remove(root: &Path) {
        let _ = std::fs::remove_file(root.join(SERVER_FILE));
    }
}

/// The message for a data directory whose ledger another process holds: which server, when it said.
fn in_use(root: &Path) -> String {
    let running = std::fs::read(root.join(SERVER_FILE)).ok().and_then(|b| serde_json::from_slice::<Running>(&b).ok());
    match running {
        Some(r) => format!(
            "a server is running on the data directory {} (pid {}, {}); stop it first – the command line cannot go through a running server yet",
            root.display(),
            r.pid,
            r.url
        ),
        None => format!(
            "the data directory {} is in use by another process (its ledger's lock is held), probably a server; stop it first",
            root.display()
        ),
    }
}

/// A data directory is missing, empty, or has a `ledger/` subdirectory.
fn check_layout(root: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", root.display())),
        Ok(meta) if !meta.is_dir() => anyhow::bail!("{} is not a directory", root.display()),
        Ok(_) => {
            let has_ledger = root.join(LEDGER_DIR).is_dir();
            let mut entries = std::fs::read_dir(root).with_context(|| format!("cannot read {}", root.display()))?;
            if has_ledger || entries.next().is_none() {
                Ok(())
            } else {
                anyhow::bail!(
                    "{} is not a Samverkan data directory (it is not empty and has no {LEDGER_DIR}/); \
                     pass --data with a data directory or an empty one",
                    root.display()
                )
            }
        }
    }
}
