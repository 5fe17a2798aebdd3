//! Tokens and roles. Tokens are created with `samverkan token create`, shown once, and stored only as
//! their SHA-256 in `<data>/tokens.json`.
//!
//! Roles (API.md §3): `ADMIN` manages tokens and runs the operations (export, verify, import) and
//! records no event itself; `SECRETARIAT` may record anything; `PARTY` (with a party id) may record
//! only that party's own adoptions, declinations and notices; `AUDITOR` and `READER` only read.
//! Tokens may carry an expiry (the last day they work) and be revoked; a revoked token stays in the
//! file, marked, so that who had access stays on record.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use ledger::{Date, EventData, PartyId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, Code};

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// Manages tokens and runs the operations (export, verify, import); records no event itself.
    Admin,
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
            Role::Admin => "ADMIN",
            Role::Secretariat => "SECRETARIAT",
            Role::Party(_) => "PARTY",
            Role::Auditor => "AUDITOR",
            Role::Reader => "READER",
        }
    }

    /// Parses a role name and its party.
    pub fn parse(name: &str, party: Option<&str>) -> Result<Self, String> {
        match (name, party) {
            ("ADMIN", None) => Ok(Role::Admin),
            ("SECRETARIAT", None) => Ok(Role::Secretariat),
            ("AUDITOR", None) => Ok(Role::Auditor),
            ("READER", None) => Ok(Role::Reader),
            ("PARTY", Some(p)) => PartyId::new(p).map(Role::Party).map_err(|e| e.to_string()),
            ("PARTY", None) => Err("role PARTY needs --party ID".into()),
            ("ADMIN" | "SECRETARIAT" | "AUDITOR" | "READER", Some(_)) => Err(format!("role {name} takes no --party")),
            _ => Err(format!("unknown role {name:?}: expected ADMIN, SECRETARIAT, PARTY, AUDITOR or READER")),
        }
    }

    /// Whether this role may record `data`. The answer is a value for the error mapping: `Err` is
    /// the reason, for a `FORBIDDEN` error.
    pub fn may_record(&self, data: &EventData) -> Result<(), String> {
        match self {
            Role::Secretariat => Ok(()),
            Role::Auditor | Role::Reader => Err(format!("a {} token may only read", self.name())),
            Role::Admin => Err("an ADMIN token manages tokens and operations; it records no events".to_owned()),
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// A token that was revoked.
    Revoked {
        /// Its name.
        name: String,
    },
    /// A token past its expiry day.
    Expired {
        /// Its name.
        name: String,
    },
}

impl Caller {
    /// The role, or the error for a mutation without a valid token.
    pub fn require_token(&self) -> Result<(&str, &Role), ApiError> {
        match self {
            Caller::Token { name, role } => Ok((name, role)),
            Caller::Anonymous => Err(ApiError::new(Code::Unauthenticated, "this needs Authorization: Bearer <token>")),
            Caller::Unknown => Err(ApiError::new(Code::Unauthenticated, "unknown token")),
            Caller::Revoked { name } => {
                Err(ApiError::new(Code::Unauthenticated, format!("the token {name:?} was revoked")))
            }
            Caller::Expired { name } => {
                Err(ApiError::new(Code::Unauthenticated, format!("the token {name:?} has expired")))
            }
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
    /// The last day (UTC) the token works; none: no expiry. Absent in files from before expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<Date>,
    /// When it was revoked; a revoked token stays listed, and its name is never reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<StoredToken>,
}

/// What `token list` shows of a token: everything but its secret (and its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its role's name.
    pub role: String,
    /// The party of a PARTY token.
    pub party: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// The last day it works, if it expires.
    pub expires: Option<Date>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
}

impl From<&StoredToken> for TokenInfo {
    fn from(t: &StoredToken) -> Self {
        Self {
            name: t.name.clone(),
            role: t.role.clone(),
            party: t.party.clone(),
            created_at: t.created_at.clone(),
            expires: t.expires,
            revoked_at: t.revoked_at.clone(),
        }
    }
}

/// What revoking a token did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    /// The token as it is now.
    pub token: TokenInfo,
    /// It had been revoked before (nothing changed).
    pub already: bool,
}

/// Why a token operation was refused: a value for the caller to show (its `Display` is the
/// message), apart from failures to read or write the token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The request is wrong (a bad name, a duplicate, an expiry in the past, an unknown token).
    #[error("{0}")]
    Refused(String),
    /// No token has that name.
    #[error("no token is named {0:?}")]
    NotFound(String),
    /// The token file could not be read or written.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

/// The tokens of a data directory.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    state: RwLock<Loaded>,
    /// Tokens that live only as long as this value, never in the file: the running server's
    /// local administration token, which it hands to the command line in `server.json`.
    ephemeral: RwLock<HashMap<String, (String, Role)>>,
    /// Moves on every revocation (and every reload), so that what holds a token's authority open –
    /// a WebSocket subscription – can check it again at once.
    changed: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Loaded {
    by_hash: HashMap<String, Entry>,
    /// Each token's state by name (names are unique), for [`TokenStore::still_valid`].
    by_name: HashMap<String, Entry>,
    modified: Option<SystemTime>,
    /// When the file's modification time was last compared (at most once a second).
    checked: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    role: Role,
    expires: Option<Date>,
    revoked: bool,
}

impl Entry {
    /// Who a presented token with this entry is, today.
    fn caller(&self, today: Date) -> Caller {
        if self.revoked {
            Caller::Revoked { name: self.name.clone() }
        } else if self.expires.is_some_and(|last| today > last) {
            Caller::Expired { name: self.name.clone() }
        } else {
            Caller::Token { name: self.name.clone(), role: self.role.clone() }
        }
    }
}

/// The file name under the data directory.
pub(crate) const TOKEN_FILE: &str = "tokens.json";

/// How often a presented token makes the store look at the file's modification time, so that a
/// file changed by hand (a token revoked with the server stopped, then started) is read again.
const RECHECK: Duration = Duration::from_secs(1);

impl TokenStore {
    /// Opens the token file of a data directory (it may not exist yet).
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let store = Self {
            path: data_dir.join(TOKEN_FILE),
            state: RwLock::new(Loaded::default()),
            ephemeral: RwLock::new(HashMap::new()),
            changed: tokio::sync::watch::Sender::new(0),
        };
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
        let mut by_name = HashMap::new();
        for t in file.tokens {
            let role =
                Role::parse(&t.role, t.party.as_deref()).map_err(|e| anyhow::anyhow!("token {}: {e}", t.name))?;
            let entry = Entry { name: t.name.clone(), role, expires: t.expires, revoked: t.revoked_at.is_some() };
            by_name.insert(t.name, entry.clone());
            by_hash.insert(t.sha256, entry);
        }
        let mut state = self.state.write().map_err(|_| anyhow::anyhow!("token store lock poisoned"))?;
        *state = Loaded { by_hash, by_name, modified, checked: Some(Instant::now()) };
        drop(state);
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Reads the file again if it changed on disk since it was read, looking at most once per
    /// [`RECHECK`] unless `now` is set.
    fn refresh(&self, force: bool) {
        let due = self.state.read().ok().is_some_and(|s| force || s.checked.is_none_or(|c| c.elapsed() >= RECHECK));
        if !due {
            return;
        }
        let on_disk = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        let known = match self.state.write() {
            Ok(mut s) => {
                s.checked = Some(Instant::now());
                s.modified
            }
            Err(_) => return,
        };
        if on_disk != known {
            if let Err(e) = self.reload() {
                tracing::warn!(error = %e, "could not reload tokens");
            }
        }
    }

    /// Who a presented token belongs to: a valid token's name and role, or why it is refused
    /// (unknown, revoked, expired). Tokens created or revoked while the server runs count at
    /// once: through the server they change this store, and a changed file is read again.
    pub fn authenticate(&self, token: Option<&str>) -> Caller {
        let Some(token) = token else { return Caller::Anonymous };
        let hash = hash_token(token);
        if let Some((name, role)) = self.ephemeral.read().ok().and_then(|e| e.get(&hash).cloned()) {
            return Caller::Token { name, role };
        }
        let lookup = |store: &Self| {
            let today = Date::today_utc();
            store.state.read().ok().and_then(|s| s.by_hash.get(&hash).map(|e| e.caller(today)))
        };
        self.refresh(false);
        if let Some(caller) = lookup(self) {
            return caller;
        }
        // A token made a moment ago by another process: look at the file now, not in a second.
        self.refresh(true);
        lookup(self).unwrap_or(Caller::Unknown)
    }

    /// Whether the token named `name` still works (not revoked, not expired): asked again by what
    /// holds a token's authority for long, such as a subscription.
    pub fn still_valid(&self, name: &str) -> bool {
        if self.ephemeral.read().ok().is_some_and(|e| e.values().any(|(n, _)| n == name)) {
            return true;
        }
        self.refresh(false);
        let today = Date::today_utc();
        self.state
            .read()
            .ok()
            .and_then(|s| s.by_name.get(name).map(|e| matches!(e.caller(today), Caller::Token { .. })))
            .unwrap_or(false)
    }

    /// A receiver that sees a change whenever tokens may have been revoked.
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Creates a token, stores its hash, and returns the token (shown once). `expires` is the
    /// last day (UTC) it works.
    pub fn create(&self, role: &Role, name: &str, expires: Option<Date>) -> Result<String, TokenError> {
        if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(TokenError::Refused("a token name is 1–100 printable characters".to_owned()));
        }
        if let Some(last) = expires.filter(|last| *last < Date::today_utc()) {
            return Err(TokenError::Refused(format!(
                "--expires {last} is in the past; a token works through its expiry day"
            )));
        }
        let mut file = self.read_file()?;
        if let Some(existing) = file.tokens.iter().find(|t| t.name == name) {
            let state = if existing.revoked_at.is_some() { " (revoked; names are not reused)" } else { "" };
            return Err(TokenError::Refused(format!("a token named {name:?} exists already{state}")));
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
            expires,
            revoked_at: None,
        });
        write_atomically(&self.path, &serde_json::to_vec_pretty(&file).map_err(anyhow::Error::from)?)?;
        self.reload()?;
        Ok(token)
    }

    /// Every token, oldest first, without secrets.
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        Ok(self.read_file()?.tokens.iter().map(TokenInfo::from).collect())
    }

    /// Revokes the token named `name`: from now on it is refused, also on open WebSocket
    /// connections. It stays in the file, marked, so that the record of who had access remains.
    pub fn revoke(&self, name: &str) -> Result<Revoked, TokenError> {
        let mut file = self.read_file()?;
        let Some(token) = file.tokens.iter_mut().find(|t| t.name == name) else {
            return Err(TokenError::NotFound(name.to_owned()));
        };
        if token.revoked_at.is_some() {
            return Ok(Revoked { token: TokenInfo::from(&*token), already: true });
        }
        token.revoked_at = Some(Timestamp::now().to_string());
        let info = TokenInfo::from(&*token);
        write_atomically(&self.path, &serde_json::to_vec_pretty(&file).map_err(anyhow::Error::from)?)?;
        self.reload()?;
        Ok(Revoked { token: info, already: false })
    }

    /// Adds a token that lives only in memory, for as long as this store (the running server's
    /// local administration token), and returns it.
    pub fn create_ephemeral(&self, role: Role, name: &str) -> anyhow::Result<String> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let token = format!("svl_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
        self.ephemeral
            .write()
            .map_err(|_| anyhow::anyhow!("token store lock poisoned"))?
            .insert(hash_token(&token), (name.to_owned(), role));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TokenStore::open(dir.path()).expect("store");
        (dir, store)
    }

    #[test]
    fn a_token_works_through_its_expiry_day_and_not_after() {
        let (dir, store) = store();
        let today = Date::today_utc();
        let token = store.create(&Role::Reader, "portal", Some(today)).expect("created");
        assert!(matches!(store.authenticate(Some(&token)), Caller::Token { .. }));
        assert!(store.still_valid("portal"));
        // The same token, had its last day been yesterday.
        let path = dir.path().join(TOKEN_FILE);
        let text = std::fs::read_to_string(&path).expect("file");
        let yesterday = today.previous_day().to_string();
        std::fs::write(&path, text.replace(&today.to_string(), &yesterday)).expect("write");
        store.reload().expect("reload");
        assert_eq!(store.authenticate(Some(&token)), Caller::Expired { name: "portal".to_owned() });
        assert!(!store.still_valid("portal"));
        let message = Caller::Expired { name: "portal".to_owned() }.require_token().expect_err("refused").message;
        assert!(message.contains("expired"), "{message}");
    }

    #[test]
    fn an_expiry_in_the_past_is_refused() {
        let (_dir, store) = store();
        let yesterday = Date::today_utc().previous_day();
        let refused = store.create(&Role::Reader, "late", Some(yesterday)).expect_err("refused");
        assert!(refused.to_string().contains("in the past"), "{refused}");
        assert!(store.list().expect("list").is_empty(), "nothing stored");
    }

    #[test]
    fn a_revoked_token_is_refused_stays_listed_and_its_name_is_not_reused() {
        let (_dir, store) = store();
        let token = store.create(&Role::Secretariat, "registrator", None).expect("created");
        let mut changes = store.watch_changes();
        changes.mark_unchanged();
        let revoked = store.revoke("registrator").expect("revoked");
        assert!(!revoked.already && revoked.token.revoked_at.is_some());
        assert!(changes.has_changed().expect("open"), "watchers learn of the revocation");
        assert_eq!(store.authenticate(Some(&token)), Caller::Revoked { name: "registrator".to_owned() });
        assert!(store.revoke("registrator").expect("again").already);
        let listed = store.list().expect("list");
        assert_eq!(listed.len(), 1);
        assert!(listed.first().is_some_and(|t| t.revoked_at.is_some()));
        let reused = store.create(&Role::Reader, "registrator", None).expect_err("refused");
        assert!(reused.to_string().contains("names are not reused"), "{reused}");
        assert!(matches!(store.revoke("nobody"), Err(TokenError::NotFound(_))));
    }

    #[test]
    fn the_servers_local_token_is_an_admin_that_never_reaches_the_file() {
        let (dir, store) = store();
        let token = store.create_ephemeral(Role::Admin, "samverkan-cli").expect("made");
        assert_eq!(
            store.authenticate(Some(&token)),
            Caller::Token { name: "samverkan-cli".to_owned(), role: Role::Admin }
        );
        assert!(!dir.path().join(TOKEN_FILE).exists());
        let renamed =
            ledger::GroupRenamed { group: ledger::GroupId::new("vis").expect("slug"), name: "VIS".to_owned() };
        assert!(Role::Admin.may_record(&EventData::GroupRenamed(renamed)).is_err(), "an ADMIN records no events");
    }
}
