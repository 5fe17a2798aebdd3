//! `samverkan audit`: the auditor's verifier, run on the auditor's own machine. It reads the log
//! from a server (the C2SP checkpoint and entry bundles, over HTTP) or from an export file with its
//! checkpoint, recomputes every leaf and the root itself (`ledger::audit`), checks the signature
//! with the verifier key it was given, proves that the log extends the checkpoint pinned last time,
//! and pins the new one. Nothing the server says is trusted that can be checked.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use ledger::audit::{AuditError, AuditReport};
use ledger::merkle::{self, TILE_HEIGHT, Tile, TreeHash};

/// Where the log comes from.
#[derive(Debug)]
pub(crate) enum Source {
    /// A running server's base URL.
    Server(String),
    /// An export file and the checkpoint file written with it.
    File {
        /// The JSON Lines export.
        log: PathBuf,
        /// The signed checkpoint of exactly those events.
        checkpoint: PathBuf,
    },
}

/// The witnesses an audit demands.
#[derive(Debug, Default)]
pub(crate) struct Witnesses {
    /// Their verifier keys.
    pub(crate) keys: Vec<String>,
    /// How many of them must have cosigned.
    pub(crate) required: usize,
}

impl Witnesses {
    /// Refuses a checkpoint that too few of the witnesses cosigned.
    fn check(&self, note: &str) -> anyhow::Result<Vec<String>> {
        if self.required == 0 {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = self.keys.iter().map(|k| read_key(k)).collect::<anyhow::Result<_>>()?;
        let names = ledger::merkle::cosignature::cosigners(note, &keys).context("the checkpoint's cosignatures")?;
        if names.len() < self.required {
            anyhow::bail!(
                "the checkpoint carries cosignatures by {} of the witnesses given, {} are required",
                names.len(),
                self.required
            );
        }
        Ok(names)
    }
}

/// Runs an audit and prints what it established.
pub(crate) fn run(source: &Source, key: &str, pin: Option<&Path>, witnesses: &Witnesses) -> anyhow::Result<()> {
    let vkey = read_key(key)?;
    let pinned = match pin {
        Some(path) if path.exists() => {
            Some(std::fs::read_to_string(path).with_context(|| format!("cannot read the pin {}", path.display()))?)
        }
        _ => None,
    };
    let report = match source {
        Source::File { log, checkpoint } => {
            let note = std::fs::read_to_string(checkpoint)
                .with_context(|| format!("cannot read the checkpoint {}", checkpoint.display()))?;
            let cosigned = witnesses.check(&note)?;
            let file = std::fs::File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
            let leaves = std::io::BufReader::new(file).lines().enumerate().map(|(i, line)| {
                let position = i as u64 + 1;
                let line = line.map_err(|e| AuditError::Leaf { position, reason: e.to_string() })?;
                merkle::leaf_bytes_of_line(&line).map_err(|reason| AuditError::Leaf { position, reason })
            });
            (ledger::audit::audit(leaves, &note, &vkey, pinned.as_deref(), None)?, cosigned)
        }
        Source::Server(url) => audit_server(url.trim_end_matches('/'), &vkey, pinned.as_deref(), witnesses)?,
    };
    let (report, cosigned) = report;
    print_report(&report);
    if !cosigned.is_empty() {
        println!("ok: cosigned by {} witness(es): {}", cosigned.len(), cosigned.join(", "));
    }
    if let Some(path) = pin {
        write_pin(path, report.checkpoint.note())?;
        println!("pinned: the checkpoint of {} events is in {}", report.checkpoint.size, path.display());
    }
    Ok(())
}

/// The verifier key: given as is, or the path of a file holding it.
pub(super) fn read_key(key: &str) -> anyhow::Result<String> {
    let path = Path::new(key);
    if path.is_file() {
        return Ok(std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the verifier key {}", path.display()))?
            .trim()
            .to_owned());
    }
    Ok(key.trim().to_owned())
}

fn print_report(report: &AuditReport) {
    let c = &report.checkpoint;
    println!("ok: {} events, root {}, signed by {}", c.size, c.root, c.origin);
    match &report.pinned {
        Some(pin) => println!(
            "ok: the log extends the pinned checkpoint of {} events ({} appended since, none changed)",
            pin.size,
            c.size - pin.size
        ),
        None => println!("no pinned checkpoint: this one is trusted from now on"),
    }
    if report.uncovered > 0 {
        println!("note: {} events after the checkpoint are not covered by it", report.uncovered);
    }
}

/// Replaces the pin atomically: a crash leaves the old pin or the new one.
pub(super) fn write_pin(path: &Path, note: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, note).with_context(|| format!("cannot write the pin {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write the pin {}", path.display()))?;
    Ok(())
}

/// The HTTP client of the auditor and the witness.
pub(super) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(120))).build().into()
}

/// `GET {url}/{path}`, its body (up to 64 MiB).
pub(super) fn get(agent: &ureq::Agent, url: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    let mut response = agent
        .get(&format!("{url}/{path}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .with_context(|| format!("GET {url}/{path}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .with_context(|| format!("reading {url}/{path}"))?;
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        anyhow::bail!("GET {url}/{path}: {status}: {}", text.trim());
    }
    Ok(body)
}

/// Fetches the checkpoint (the witnessed one, if witnesses are required) and every entry bundle it
/// covers, and audits them.
fn audit_server(
    url: &str,
    vkey: &str,
    pinned: Option<&str>,
    witnesses: &Witnesses,
) -> anyhow::Result<(AuditReport, Vec<String>)> {
    let agent = agent();
    let get = |path: &str| get(&agent, url, path);
    let path = if witnesses.required > 0 {
        format!("checkpoint/witnessed?min={}", witnesses.required)
    } else {
        "checkpoint".to_owned()
    };
    let note = String::from_utf8(get(&path)?).context("the checkpoint is not UTF-8")?;
    let cosigned = witnesses.check(&note)?;
    // Checked before anything is fetched: a forged or split checkpoint needs no events to refuse.
    let (now, pin) = ledger::audit::check_checkpoints(&note, vkey, pinned)?;
    let proof = match &pin {
        Some(pin) if pin.size > 0 && pin.size < now.size => Some(consistency_proof(&agent, url, pin.size, now.size)?),
        _ => None,
    };
    // The bundles are fetched as the audit reads them: memory holds one bundle and the tree's
    // hashes, never the whole log.
    let full = 1u64 << TILE_HEIGHT;
    let bundles = now.size.div_ceil(full);
    let leaves = (0..bundles).flat_map(|index| {
        let width = (now.size - index * full).min(full) as u32;
        let path = Tile::new(TILE_HEIGHT, 0, index, width, true).path();
        let c2sp = path.replacen(&format!("tile/{TILE_HEIGHT}/data/"), "tile/entries/", 1);
        match get(&c2sp) {
            Ok(bundle) => read_bundle(&bundle, index * full, width),
            Err(e) => vec![Err(AuditError::Leaf { position: index * full + 1, reason: format!("{e:#}") })],
        }
    });
    Ok((ledger::audit::audit(leaves, &note, vkey, pinned, proof.as_deref())?, cosigned))
}

/// The leaves of one entry bundle, each checked to be an event's JSON in canonical form.
fn read_bundle(bundle: &[u8], first: u64, width: u32) -> Vec<Result<Vec<u8>, AuditError>> {
    let mut out = Vec::with_capacity(width as usize);
    let mut rest = bundle;
    for i in 0..u64::from(width) {
        let position = first + i + 1;
        let leaf = (|| {
            let [a, b, tail @ ..] = rest else { return Err("the entry bundle ends early".to_owned()) };
            let len = usize::from(u16::from_be_bytes([*a, *b]));
            if tail.len() < len {
                return Err("the entry bundle ends inside an entry".to_owned());
            }
            let (entry, after) = tail.split_at(len);
            rest = after;
            let text = std::str::from_utf8(entry).map_err(|_| "the entry is not UTF-8".to_owned())?;
            if merkle::leaf_bytes_of_line(text)? != entry {
                return Err("the entry is not an event's JSON in RFC 8785 form".to_owned());
            }
            Ok(entry.to_vec())
        })();
        out.push(leaf.map_err(|reason| AuditError::Leaf { position, reason }));
    }
    if !rest.is_empty() {
        out.push(Err(AuditError::Leaf {
            position: first + u64::from(width),
            reason: "the entry bundle has more entries than its width".into(),
        }));
    }
    out
}

/// The server's consistency proof, through GraphQL.
pub(super) fn consistency_proof(agent: &ureq::Agent, url: &str, from: u64, to: u64) -> anyhow::Result<Vec<TreeHash>> {
    let body = serde_json::json!({
        "query": "query($from: Int!, $to: Int) { consistencyProof(from: $from, to: $to) { hashes } }",
        "variables": {"from": from, "to": to},
    });
    let mut response = agent
        .post(&format!("{url}/graphql"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .with_context(|| format!("POST {url}/graphql"))?;
    let answer: serde_json::Value =
        serde_json::from_slice(&response.body_mut().read_to_vec()?).context("the consistency proof is not JSON")?;
    let hashes = answer
        .pointer("/data/consistencyProof/hashes")
        .and_then(|h| h.as_array())
        .with_context(|| format!("the server gave no consistency proof: {answer}"))?;
    hashes
        .iter()
        .map(|h| {
            let bytes = h
                .as_str()
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .context("a consistency proof hash is not 32 bytes of base64")?;
            Ok(TreeHash(bytes))
        })
        .collect()
}
