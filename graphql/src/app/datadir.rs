//! The data directory: `ledger/` (the sled database), `tokens.json`, and the log's signing key
//! (`log.key`, mode 0600, never served or logged) with its verifier key (`log.vkey`). An empty
//! directory becomes one; anything else is refused rather than written into.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use ledger::merkle::checkpoint::LogKey;
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
    /// The key its checkpoints are signed with.
    pub log_key: Arc<LogKey>,
}

/// Why [`DataDir::open`] failed: another process holds the ledger, or anything else.
#[derive(Debug)]
enum OpenError {
    InUse,
    Other(anyhow::Error),
}

impl From<anyhow::Error> for OpenError {
    fn from(e: anyhow::Error) -> Self {
        OpenError::Other(e)
    }
}

/// The log's signing key, in note key form (`PRIVATE+KEY+…`).
pub(crate) const KEY_FILE: &str = "log.key";
/// The log's verifier key, `<origin>+<id>+<base64>`: public, what auditors pin.
pub(crate) const VKEY_FILE: &str = "log.vkey";

impl DataDir {
    /// Opens (creating if missing or empty) the data directory at `root`.
    pub fn open(root: &Path, config: LedgerConfig) -> anyhow::Result<Self> {
        match Self::open_inner(root, config) {
            Ok(dir) => Ok(dir),
            Err(OpenError::InUse) => anyhow::bail!("{}", in_use(root)),
            Err(OpenError::Other(e)) => Err(e),
        }
    }

    fn open_inner(root: &Path, config: LedgerConfig) -> Result<Self, OpenError> {
        check_layout(root)?;
        let new = !root.exists();
        std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        if new {
            // Tokens and the ledger are the secretariat's own: no one else on the machine reads them.
            super::files::set_mode(root, 0o700).with_context(|| format!("cannot restrict {}", root.display()))?;
        }
        let (log_key, new_key) = open_log_key(root)?;
        let config = LedgerConfig { log_key: Some(log_key.clone()), ..config };

        // The indexes are rebuilt while the caller starts its work (a server folds its
        // projections): `LiveProjections::load` waits for them before anything is served.
        let ledger = match Ledger::open_while_indexing(root.join(LEDGER_DIR), config) {
            Ok(ledger) => ledger,
            Err(ledger::LedgerError::InUse { .. }) => return Err(OpenError::InUse),
            Err(e) => {
                let context = format!("cannot open the ledger in {}", root.display());
                return Err(OpenError::Other(anyhow::Error::new(e).context(context)));
            }
        };
        // A new key is written only once the ledger opened: a directory that is refused gets nothing.
        if let Some(new) = new_key {
            new.save(root)?;
        }
        let tokens = TokenStore::open(root)?;
        Ok(Self { root: root.to_path_buf(), ledger, tokens, log_key })
    }

    /// Reads the verifier key of the data directory at `root` without opening its ledger (works
    /// while a server runs on it).
    pub fn verifier_key(root: &Path) -> anyhow::Result<String> {
        let path = root.join(VKEY_FILE);
        let vkey = std::fs::read_to_string(&path).with_context(|| {
            format!("cannot read the verifier key {} (is {} a data directory?)", path.display(), root.display())
        })?;
        Ok(vkey.trim().to_owned())
    }

    /// Logs a warning for the data directory or token file when others on the machine can read
    /// them (the server calls this at start; one-shot commands keep to their one line).
    pub fn warn_if_open_to_others(&self) {
        super::files::warn_if_open_to_others(&self.root, 0o077);
        super::files::warn_if_open_to_others(&self.root.join(super::auth::TOKEN_FILE), 0o077);
        super::files::warn_if_open_to_others(&self.root.join(KEY_FILE), 0o077);
    }
}

/// Reads the log key of the data directory, or makes a new one when there is none (a new
/// directory, or one from before signed checkpoints), returned to be saved once the ledger has
/// opened. Its origin, the name auditors see in every checkpoint, is `samverkan/` and a random
/// 16-hex-digit log id, unique per data directory.
fn open_log_key(root: &Path) -> anyhow::Result<(Arc<LogKey>, Option<NewKey>)> {
    let key_path = root.join(KEY_FILE);
    let vkey_path = root.join(VKEY_FILE);
    if !key_path.exists() {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no randomness for a log key: {e}"))?;
        let origin = format!("samverkan/{}", hex::encode(id));
        let (skey, vkey) = LogKey::generate(&origin)?;
        let key = LogKey::open(&skey, &vkey)?;
        return Ok((key, Some(NewKey { skey, vkey })));
    }
    let skey = std::fs::read_to_string(&key_path).with_context(|| format!("cannot read {}", key_path.display()))?;
    let vkey = std::fs::read_to_string(&vkey_path).with_context(|| format!("cannot read {}", vkey_path.display()))?;
    let key =
        LogKey::open(&skey, &vkey).with_context(|| format!("the log key in {} cannot be used", root.display()))?;
    Ok((key, None))
}

/// A log key made by [`open_log_key`], not yet on disk.
struct NewKey {
    skey: String,
    vkey: String,
}

impl NewKey {
    /// Writes `log.vkey`, then `log.key` under a temporary name with mode 0600 from its creation,
    /// renamed into place: the secret is never readable by others, not even for a moment, and
    /// never half-written.
    fn save(self, root: &Path) -> anyhow::Result<()> {
        let (key_path, vkey_path) = (root.join(KEY_FILE), root.join(VKEY_FILE));
        let tmp = root.join(format!("{KEY_FILE}.tmp"));
        write_private(&tmp, &self.skey).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::write(&vkey_path, format!("{}\n", self.vkey))
            .with_context(|| format!("cannot write {}", vkey_path.display()))?;
        std::fs::rename(&tmp, &key_path).with_context(|| format!("cannot write {}", key_path.display()))?;
        tracing::info!(vkey = %self.vkey, "created the log's signing key; auditors pin its verifier key");
        Ok(())
    }
}

/// Creates `path` with mode 0600 and writes `text` to it.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// The file a running server writes into its data directory (mode 0600): its process id, its URL
/// and its local administration token, through which the command line works while it runs.
pub(crate) const SERVER_FILE: &str = "server.json";

/// What a running server says about itself in [`SERVER_FILE`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Running {
    /// Its process id.
    pub(crate) pid: u32,
    /// Where it serves.
    pub(crate) url: String,
    /// A token of role ADMIN that lives as long as the server process, in memory only: whoever can
    /// read the data directory's files may administer the server that holds them, as they could
    /// open the directory themselves were it not running. Absent in files of older servers.
    #[serde(default)]
    pub(crate) token: Option<String>,
}

impl Running {
    /// Records the server in the data directory (mode 0600, replaced atomically).
    pub(crate) fn write(&self, root: &Path) -> anyhow::Result<()> {
        let tmp = root.join(format!("{SERVER_FILE}.tmp"));
        write_private(&tmp, &serde_json::to_string(self)?)?;
        std::fs::rename(&tmp, root.join(SERVER_FILE))?;
        Ok(())
    }

    /// Reads the record of the server running on the data directory, if there is one.
    pub(crate) fn read(root: &Path) -> Option<Self> {
        std::fs::read(root.join(SERVER_FILE)).ok().and_then(|b| serde_json::from_slice::<Running>(&b).ok())
    }

    /// Removes the record (the server stops).
    pub(crate) fn remove(root: &Path) {
        let _ = std::fs::remove_file(root.join(SERVER_FILE));
    }
}

/// A data directory as a command finds it: free to open, or held by a running server that said
/// where it serves.
#[derive(Debug)]
pub(crate) enum Opened {
    /// Opened by this process.
    Here(Box<DataDir>),
    /// A server holds it.
    Running(Running),
}

impl DataDir {
    /// Opens an existing data directory, or, when a server holds it, says where that server is.
    /// A directory that is not a data directory is refused (never made into one).
    pub(crate) fn open_or_running(root: &Path) -> anyhow::Result<Opened> {
        if !root.join(LEDGER_DIR).is_dir() {
            anyhow::bail!("{} is not a Samverkan data directory (no {LEDGER_DIR}/ in it)", root.display());
        }
        match Self::open_inner(root, LedgerConfig::default()) {
            Ok(dir) => Ok(Opened::Here(Box::new(dir))),
            Err(OpenError::InUse) => match Running::read(root) {
                Some(running) if running.token.is_some() => Ok(Opened::Running(running)),
                _ => anyhow::bail!("{}", in_use(root)),
            },
            Err(OpenError::Other(e)) => Err(e),
        }
    }
}

impl DataDir {
    /// [`DataDir::open_or_running`] for commands that only read (`export`, `verify`): the ledger
    /// is opened with [`Ledger::open_read_only`], which reads a copy of sled's files and writes
    /// nothing into the data directory, so it works on a full disk. No log key is made where there
    /// is none (the ledger then has no signed checkpoint); a key file is only read.
    pub(crate) fn open_read_only(root: &Path) -> anyhow::Result<Opened> {
        if !root.join(LEDGER_DIR).is_dir() {
            anyhow::bail!("{} is not a Samverkan data directory (no {LEDGER_DIR}/ in it)", root.display());
        }
        let (log_key, new_key) = open_log_key(root)?;
        // A key made just now was never saved: nothing may be signed with it.
        let signing = new_key.is_none().then(|| log_key.clone());
        let config = LedgerConfig { log_key: signing, ..LedgerConfig::default() };
        let ledger = match Ledger::open_read_only(root.join(LEDGER_DIR), config) {
            Ok(ledger) => ledger,
            Err(ledger::LedgerError::InUse { .. }) => {
                return match Running::read(root) {
                    Some(running) if running.token.is_some() => Ok(Opened::Running(running)),
                    _ => anyhow::bail!("{}", in_use(root)),
                };
            }
            Err(e) => {
                let context = format!("cannot open the ledger in {}", root.display());
                return Err(anyhow::Error::new(e).context(context));
            }
        };
        let tokens = TokenStore::open(root)?;
        Ok(Opened::Here(Box::new(Self { root: root.to_path_buf(), ledger, tokens, log_key })))
    }
}

/// The message for a data directory whose ledger another process holds: which server, when it said.
fn in_use(root: &Path) -> String {
    match Running::read(root) {
        Some(r) => format!(
            "a server is running on the data directory {} (pid {}, {}) and did not leave its token in {SERVER_FILE}; \
             use --url {} with --token, or stop it",
            root.display(),
            r.pid,
            r.url,
            r.url
        ),
        None => format!(
            "the data directory {} is in use by another process (its ledger's lock is held) that did not say where it \
             serves; if it is a server, use --url URL with --token, or stop it",
            root.display()
        ),
    }
}

/// A data directory is missing, empty, has a `ledger/` subdirectory, or holds only a log key (put
/// there before a restore, so that the restored log is signed with the key auditors pinned).
fn check_layout(root: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", root.display())),
        Ok(meta) if !meta.is_dir() => anyhow::bail!("{} is not a directory", root.display()),
        Ok(_) => {
            let has_ledger = root.join(LEDGER_DIR).is_dir();
            let entries = std::fs::read_dir(root).with_context(|| format!("cannot read {}", root.display()))?;
            let only_keys = entries
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("cannot read {}", root.display()))?
                .iter()
                .all(|name| name == KEY_FILE || name == VKEY_FILE);
            if has_ledger || only_keys {
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
