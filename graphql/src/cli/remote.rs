//! The command line through a running server: when a server holds the data directory (or `--url`
//! names one), `token`, `export`, `verify`, `import` and `at` ask it over HTTP – the `/admin/`
//! endpoints and GraphQL – instead of opening the directory. The server found through its data
//! directory is called with the local administration token it left in `server.json`; one named
//! by `--url` with `--token`.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::de::DeserializeOwned;

use crate::app::{Imported, Revoked, Running, TokenInfo, Verified};
use crate::http::EXPORT_THROUGH;

/// A server to work through.
#[derive(Debug)]
pub(super) struct Remote {
    url: String,
    token: Option<String>,
    /// Where the server was found, for messages: `--url`, or the data directory's `server.json`.
    found: String,
    agent: ureq::Agent,
}

/// One row of `samverkan at`, from GraphQL.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgreementRow {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) status: String,
    pub(super) version: Option<u32>,
    pub(super) in_force_from: Option<String>,
    pub(super) in_force_until: Option<String>,
    pub(super) parties: Vec<Bound>,
}

/// Whether a participation binds (for the BOUND column).
#[derive(Debug, serde::Deserialize)]
pub(super) struct Bound {
    pub(super) bound: bool,
}

impl Remote {
    /// The server at `url`, called with `token`.
    pub(super) fn at_url(url: &str, token: Option<String>) -> Self {
        Self::new(url.trim_end_matches('/').to_owned(), token, format!("--url {url}"))
    }

    /// The server that said in `data`'s `server.json` that it holds the directory.
    pub(super) fn running(running: Running, data: &Path) -> Self {
        let found = format!("the server running on {} (pid {})", data.display(), running.pid);
        Self::new(running.url.trim_end_matches('/').to_owned(), running.token, found)
    }

    fn new(url: String, token: Option<String>, found: String) -> Self {
        // No overall deadline: an export or import of a large log takes as long as it takes.
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Self { url, token, found, agent }
    }

    fn authorization(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    fn get(&self, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let request = self.agent.get(&format!("{}{path}", self.url));
        match self.authorization() {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    fn post(&self, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        let request = self.agent.post(&format!("{}{path}", self.url));
        match self.authorization() {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    /// POSTs a JSON body, accepting JSON.
    fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        self.post(path)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .send(body.to_string())
    }

    /// The error for a request that got no answer.
    fn unreachable(&self, e: ureq::Error) -> anyhow::Error {
        anyhow::anyhow!("cannot reach {} at {}: {e}", self.found, self.url)
    }

    /// The answer's body as `T`, or the server's refusal as one line.
    fn answer<T: DeserializeOwned>(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<T> {
        let mut response = response.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let body =
            response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_vec().map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            anyhow::bail!("{}", refusal(status, &body));
        }
        serde_json::from_slice(&body)
            .with_context(|| format!("the server's answer is not what was expected ({status})"))
    }

    /// Creates a token through the server; returns it.
    pub(super) fn create_token(
        &self,
        role: &str,
        party: Option<&str>,
        name: &str,
        expires: Option<&str>,
    ) -> anyhow::Result<String> {
        #[derive(serde::Deserialize)]
        struct Created {
            token: String,
        }
        let body = serde_json::json!({"role": role, "party": party, "name": name, "expires": expires});
        let created: Created = self.answer(self.post_json("/admin/tokens", &body))?;
        Ok(created.token)
    }

    /// Every token, through the server.
    pub(super) fn list_tokens(&self) -> anyhow::Result<Vec<TokenInfo>> {
        #[derive(serde::Deserialize)]
        struct Listed {
            tokens: Vec<TokenInfo>,
        }
        let listed: Listed = self.answer(self.get("/admin/tokens").call())?;
        Ok(listed.tokens)
    }

    /// Revokes a token through the server.
    pub(super) fn revoke_token(&self, name: &str) -> anyhow::Result<Revoked> {
        let path = format!("/admin/tokens/{}/revoke", percent_encode(name));
        self.answer(self.post(&path).send_empty())
    }

    /// Verifies the ledger through the server.
    pub(super) fn verify(&self) -> anyhow::Result<Verified> {
        self.answer(self.post("/admin/verify").send_empty())
    }

    /// The latest signed checkpoint (`GET /checkpoint`) and the tree size it states.
    pub(super) fn checkpoint(&self) -> anyhow::Result<(String, u64)> {
        let mut response = self.get("/checkpoint").call().map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let note = response.body_mut().read_to_string().map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            anyhow::bail!("{}", refusal(status, note.as_bytes()));
        }
        // A C2SP checkpoint's second line is its tree size. The size only chooses how much to
        // export; an auditor checks the note's signature against the events themselves.
        let size =
            note.lines().nth(1).and_then(|l| l.parse::<u64>().ok()).context("the server's checkpoint has no size")?;
        Ok((note, size))
    }

    /// Streams the export of positions 1..=`through` (default the head) into `out`; fails when the
    /// server ends it early. Returns the number of events.
    pub(super) fn export(
        &self,
        through: Option<u64>,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64, u64),
    ) -> anyhow::Result<u64> {
        let path = match through {
            Some(n) => format!("/admin/export?through={n}"),
            None => "/admin/export".to_owned(),
        };
        let mut response = self.get(&path).call().map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
            anyhow::bail!("{}", refusal(status, &body));
        }
        let promised = response
            .headers()
            .get(EXPORT_THROUGH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .context("the server's export does not say how many events it holds")?;
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut lines = 0u64;
        loop {
            let read = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    anyhow::bail!("the export from {} broke off after {lines} of {promised} events: {e}", self.url)
                }
            };
            let piece = buffer.get(..read).unwrap_or_default();
            out.write_all(piece)?;
            lines += piece.iter().filter(|b| **b == b'\n').count() as u64;
            progress(lines, promised);
        }
        if lines != promised {
            anyhow::bail!("the export from {} broke off after {lines} of {promised} events", self.url);
        }
        out.flush()?;
        Ok(lines)
    }

    /// Sends a JSON Lines file to be imported, all or nothing. `sent(bytes)` is told as it goes.
    pub(super) fn import(&self, file: &Path, sent: impl FnMut(u64) + 'static) -> anyhow::Result<Imported> {
        let opened = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        let reader = Counting { inner: opened, sent, total: 0 };
        let request = self.post("/admin/import").header("Content-Type", "application/jsonl");
        self.answer(request.send(ureq::SendBody::from_owned_reader(reader)))
    }

    /// The agreements of `samverkan at`, through GraphQL.
    pub(super) fn agreements(&self, at: &str, known_at: Option<&str>) -> anyhow::Result<Vec<AgreementRow>> {
        #[derive(serde::Deserialize)]
        struct Data {
            agreements: Vec<AgreementRow>,
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            data: Option<Data>,
            #[serde(default)]
            errors: Vec<serde_json::Value>,
        }
        let query = "query At($at: Date!, $known: DateTime) { agreements(at: $at, asKnownAt: $known) \
                     { id title status version inForceFrom inForceUntil parties { bound } } }";
        let body = serde_json::json!({"query": query, "variables": {"at": at, "known": known_at}});
        let mut response = self.post_json("/graphql", &body).map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| self.unreachable(e))?;
        let answer: Answer =
            serde_json::from_slice(&bytes).map_err(|_| anyhow::anyhow!("{}", refusal(status, &bytes)))?;
        match (answer.data, answer.errors.first()) {
            (Some(data), None) => Ok(data.agreements),
            (_, Some(error)) => anyhow::bail!(
                "{}",
                error.get("message").and_then(|m| m.as_str()).unwrap_or("the server refused the query")
            ),
            (None, None) => anyhow::bail!("the server answered no data ({status})"),
        }
    }
}

/// A file being sent, counting its bytes.
struct Counting<R, F> {
    inner: R,
    sent: F,
    total: u64,
}

impl<R: Read, F: FnMut(u64)> Read for Counting<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        (self.sent)(self.total);
        Ok(n)
    }
}

/// The one line a refusal says: the message of its GraphQL-shaped body, or its status and text.
fn refusal(status: ureq::http::StatusCode, body: &[u8]) -> String {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/errors/0/message").and_then(|m| m.as_str()).map(str::to_owned));
    match message {
        Some(message) => message,
        None => {
            let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
            format!("the server answered {status}: {}", text.trim())
        }
    }
}

/// A token name as one path segment.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
