//! Tokens and roles. Tokens are created with `samverkan token create`, shown once, and stored only as
//! their SHA-256 in `<data>/tokens.json`.
//!
//! Roles (API.md §3): `SECRETARIAT` may record anything; `PARTY` (with a party id) may record only
//! that party's own adoptions, declinations and notices; `AUDITOR` and `READER` only read.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use base64::Engine;
use ledger::{EventData, PartyId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Code};

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Records anything.
    Secretariat,
    /// Records its own party's adoptions, declinations and notices.
    Party(PartyId),
    /// Reads, including everything an audit needs.
    Auditor,
    /// Reads.
    Reader,
}

impl Role {
    /// The role's name.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Secretariat => "SECRETARIAT",
            Role::Party(_) => "PARTY",
            Role::Auditor => "AUDITOR",
            Role::Reader => "READER",
        }
    }

    /// Parses a role name and its party.
    pub fn parse(name: &str, party: Option<&str>) -> Result<Self, String> {
        match (name, party) {
            ("SECRETARIAT", None) => Ok(Role::Secretariat),
            ("AUDITOR", None) => Ok(Role::Auditor),
            ("READER", None) => Ok(Role::Reader),
            ("PARTY", Some(p)) => PartyId::new(p).map(Role::Party).map_err(|e| e.to_string()),
            ("PARTY", None) => Err("role PARTY needs --party ID".into()),
            ("SECRETARIAT" | "AUDITOR" | "READER", Some(_)) => Err(format!("role {name} takes no --party")),
            _ => Err(format!("unknown role {name:?}: expected SECRETARIAT, PARTY, AUDITOR or READER")),
        }
    }

    /// Whether this role may record `data`. The answer is a value for the error mapping: `Err` is
    /// the reason, for a `FORBIDDEN` error.
    pub fn may_record(&self, data: &EventData) -> Result<(), String> {
        match self {
            Role::Secretariat => Ok(()),
            Role::Auditor | Role::Reader => Err(format!("a {} token may only read", self.name())),
            Role::Party(own) => {
                let party = match data {
                    EventData::PartyAdopted(e) => Some(&e.party),
                    EventData::PartyDeclined(e) => Some(&e.party),
                    EventData::NoticeGiven(e) => Some(&e.party),
                    EventData::NoticeWithdrawn(e) => Some(&e.party),
                    _ => None,
                };
                match party {
                    Some(p) if p == own => Ok(()),
                    Some(p) => Err(format!("a PARTY token for {own} may not record for {p}")),
                    None => Err(format!(
                        "a PARTY token may only record its own party's adoptions, declinations and notices, not {}",
                        data.type_name()
                    )),
                }
            }
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token was presented.
    Anonymous,
    /// A valid token.
    Token {
        /// The token's name, recorded as `recordedBy`.
        name: String,
        /// Its role.
        role: Role,
    },
    /// A token was presented but is not known.
    Unknown,
}

impl Caller {
    /// The role, or the error for a mutation without a valid token.
    pub fn require_token(&self) -> Result<(&str, &Role), ApiError> {
        match self {
            Caller::Token { name, role } => Ok((name, role)),
            Caller::Anonymous => Err(ApiError::new(Code::Unauthenticated, "this needs Authorization: Bearer <token>")),
            Caller::Unknown => Err(ApiError::new(Code::Unauthenticated, "unknown token")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredToken {
    name: String,
    role: String,
    party: Option<String>,
    sha256: String,
    created_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<StoredToken>,
}

/// The tokens of a data directory.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    state: RwLock<Loaded>,
}

#[derive(Debug, Default)]
struct Loaded {
    by_hash: HashMap<String, (String, Role)>,
    modified: Option<SystemTime>,
}

/// The file name under the data directory.
pub(crate) const TOKEN_FILE: &str = "tokens.json";

impl TokenStore {
    /// Opens the token file of a data directory (it may not exist yet).
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let store = Self { path: data_dir.join(TOKEN_FILE), state: RwLock::new(Loaded::default()) };
        store.reload()?;
        Ok(store)
    }

    fn read_file(&self) -> anyhow::Result<TokenFile> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is not a valid token file: {e}", self.path.display()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(e.into()),
        }
    }

    fn reload(&self) -> anyhow::Result<()> {
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        let file = self.read_file()?;
        let mut by_hash = HashMap::new();
        for t in file.tokens {
            let role =
                Role::parse(&t.role, t.party.as_deref()).map_err(|e| anyhow::anyhow!("token {}: {e}", t.name))?;
            by_hash.insert(t.sha256, (t.name, role));
        }
        let mut state = self.state.write().map_err(|_| anyhow::anyhow!("token store lock poisoned"))?;
        *state = Loaded { by_hash, modified };
        Ok(())
    }

    /// Who a presented token belongs to. An unknown token triggers one re-read of the file if it
    /// changed on disk, so tokens created while the server runs work at once.
    pub fn authenticate(&self, token: Option<&str>) -> Caller {
        let Some(token) = token else { return Caller::Anonymous };
        let hash = hash_token(token);
        let lookup = |store: &Self| {
            store
                .state
                .read()
                .ok()
                .and_then(|s| s.by_hash.get(&hash).cloned())
                .map(|(name, role)| Caller::Token { name, role })
        };
        if let Some(caller) = lookup(self) {
            return caller;
        }
        let on_disk = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        let known = self.state.read().ok().and_then(|s| s.modified);
        if on_disk != known {
            if let Err(e) = self.reload() {
                tracing::warn!(error = %e, "could not reload tokens");
            }
            if let Some(caller) = lookup(self) {
                return caller;
            }
        }
        Caller::Unknown
    }

    /// Creates a token, stores its hash, and returns the token (shown once).
    pub fn create(&self, role: &Role, name: &str) -> anyhow::Result<String> {
        if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            anyhow::bail!("a token name is 1–100 printable characters");
        }
        let mut file = self.read_file()?;
        if file.tokens.iter().any(|t| t.name == name) {
            anyhow::bail!("a token named {name:?} exists already");
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let token = format!("svk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
        let party = match role {
            Role::Party(p) => Some(p.to_string()),
            _ => None,
        };
        file.tokens.push(StoredToken {
            name: name.to_owned(),
            role: role.name().to_owned(),
            party,
            sha256: hash_token(&token),
            created_at: Timestamp::now().to_string(),
        });
        write_atomically(&self.path, &serde_json::to_vec_pretty(&file)?)?;
        self.reload()?;
        Ok(token)
    }
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Writes a file so that a crash leaves either the old or the new content.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().ok_or_else(|| anyhow::anyhow!("{} has no parent directory", path.display()))?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        // Only the secretariat reads its token hashes (mode 0600).
        super::files::set_mode(&tmp, 0o600)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// The token of an `Authorization: Bearer <token>` header value.
pub(crate) fn bearer(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}
