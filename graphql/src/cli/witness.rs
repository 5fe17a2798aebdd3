//! `samverkan witness`: a party's witness of the log (C2SP tlog-cosignature). Each run fetches the
//! server's latest checkpoint, checks the log's signature, proves with the server's consistency
//! proof that it extends the checkpoint this witness cosigned last (or is that one), cosigns it,
//! posts the cosigned note to `POST /checkpoint/cosignature`, and keeps it as its new state. A
//! witness needs no copy of the log: the proof is enough to know that it never cosigns two
//! histories.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ledger::merkle::cosignature::WitnessKey;

use super::audit::{agent, consistency_proof, get, read_key, write_pin};

/// One witness run.
pub(crate) fn run(url: &str, log_key: &str, key: &Path, name: Option<&str>, state: &Path) -> anyhow::Result<()> {
    let url = url.trim_end_matches('/');
    let log_vkey = read_key(log_key)?;
    let witness = open_or_create(key, name)?;
    let agent = agent();
    let note = String::from_utf8(get(&agent, url, "checkpoint")?).context("the checkpoint is not UTF-8")?;
    let last = match std::fs::read_to_string(state) {
        Ok(last) => Some(last),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read the witness state {}", state.display())),
    };
    let (now, before) = ledger::audit::check_checkpoints(&note, &log_vkey, last.as_deref())?;
    if let Some(before) = &before {
        if before.size > 0 && before.size < now.size {
            let proof = consistency_proof(&agent, url, before.size, now.size)?;
            if !ledger::merkle::check_consistency(&proof, before.size, before.root, now.size, now.root) {
                anyhow::bail!(
                    "the checkpoint of {} events does not extend the one of {} this witness cosigned: refusing to cosign",
                    now.size,
                    before.size
                );
            }
        }
    }
    // The note as the log signed it, without other witnesses' cosignatures, plus this one.
    let body = ledger::merkle::cosignature::only_signed_by(now.note(), &now.origin)?;
    let time = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let cosigned = witness.cosign(&body, time)?;
    let mut response = agent
        .post(&format!("{url}/checkpoint/cosignature"))
        .header("Content-Type", "text/plain; charset=utf-8")
        .config()
        .http_status_as_error(false)
        .build()
        .send(cosigned.as_str())
        .with_context(|| format!("POST {url}/checkpoint/cosignature"))?;
    let status = response.status();
    let answer = response.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("the server refused the cosignature ({status}): {}", answer.trim());
    }
    write_pin(state, now.note())?;
    println!("cosigned the checkpoint of {} events as {}; {}", now.size, witness.vkey(), answer.trim());
    Ok(())
}

/// The witness key in `path`, created (mode 0600) when the file is missing.
fn open_or_create(path: &Path, name: Option<&str>) -> anyhow::Result<WitnessKey> {
    if path.exists() {
        let skey = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(WitnessKey::open(&skey)?);
    }
    let name = name.context("the witness key file does not exist: give --name to create one")?;
    let skey = WitnessKey::generate(name)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(format!("{skey}\n").as_bytes())?;
    file.sync_all()?;
    let key = WitnessKey::open(&skey)?;
    eprintln!(
        "samverkan: created the witness key {}; its verifier key, for the server's --witness: {}",
        path.display(),
        key.vkey()
    );
    Ok(key)
}
