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
        std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        let ledger = Ledger::open(root.join(LEDGER_DIR), config)
            .with_context(|| format!("cannot open the ledger in {}", root.display()))?;
        let tokens = TokenStore::open(root)?;
        Ok(Self { root: root.to_path_buf(), ledger, tokens })
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
