//! The `samverkan` command line (API.md §3): parsing is in `main.rs`'s `Cli`, the work is here;
//! the auditor's verifier is `cli/audit.rs`, the witness `cli/witness.rs`.

mod audit;
mod remote;
mod witness;

use std::io::{BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use ledger::jsonl;
use ledger::{LedgerConfig, Position};

use crate::app::{App, AppConfig, DataDir, Opened, Role, Running, SnapshotStart};
use crate::http::ServerConfig;

/// The collaboration ledger of Stockholm county's municipalities and Region Stockholm.
#[derive(Debug, Parser)]
#[command(name = "samverkan", version, about)]
pub struct Cli {
    /// How log lines are written to standard error: `text` (colours only on a terminal) or `json`
    /// (one object a line). Levels come from `RUST_LOG` (default: `info` for serve, with an access
    /// log line per request; `warn` for the one-shot commands).
    #[arg(long, global = true, default_value = "text", env = "SAMVERKAN_LOG_FORMAT", value_parser = ["text", "json"])]
    pub log_format: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve GraphQL on ADDR. An empty data directory is first seeded with the real HÖK history.
    Serve {
        /// The data directory.
        #[arg(long, default_value = "data", env = "SAMVERKAN_DATA")]
        data: PathBuf,
        /// Where to listen: host:port, a host name (localhost:8080) or an address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Do not seed an empty ledger with the fixtures.
        #[arg(long)]
        no_seed: bool,
        /// Require a token for reads as well as for writes.
        #[arg(long)]
        reads_require_token: bool,
        /// An origin allowed to call the API from a browser; repeat for more, `*` for any.
        #[arg(long = "cors-origin")]
        cors_origins: Vec<String>,
        /// The verifier key of a witness whose cosignatures to accept and serve; repeat for more.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// Verify the whole ledger in the background every this many seconds while serving (the
        /// chain, every event, the Merkle tree, the signed root; results in /metrics); 0: never.
        #[arg(long, default_value_t = 3600)]
        verify_every: u64,
        /// Limits against hostile or broken clients.
        #[command(flatten)]
        limits: ServeLimits,
    },
    /// Import a JSON Lines file: all of it, or nothing. Through the server when one runs.
    Import {
        /// The file.
        file: PathBuf,
        /// Where: the data directory, or the server running on it.
        #[command(flatten)]
        via: Via,
    },
    /// Write every event as JSON Lines to stdout: one consistent snapshot, also while a server
    /// runs (the online backup).
    Export {
        /// Where: the data directory, or the server running on it.
        #[command(flatten)]
        via: Via,
        /// Also write the signed checkpoint of exactly the exported events to this file, for
        /// `samverkan audit --log`.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Prove, trusting nothing the server says, that a log is the one its key signed and that it
    /// extends the checkpoint pinned last time; then pin the new one.
    Audit {
        /// The server's base URL (http://host:port): reads its checkpoint and entry bundles.
        #[arg(long, conflicts_with = "log", required_unless_present = "log")]
        server: Option<String>,
        /// An export file (instead of a server), with `--checkpoint`.
        #[arg(long, requires = "checkpoint")]
        log: Option<PathBuf>,
        /// The signed checkpoint written with the export (`export --checkpoint`).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The log's verifier key (`samverkan key show`), or a file holding it.
        #[arg(long)]
        key: String,
        /// The pinned checkpoint: checked against if the file exists, replaced by the new
        /// checkpoint after a successful audit.
        #[arg(long)]
        pin: Option<PathBuf>,
        /// Require cosignatures by at least this many of the `--witness` keys (from a server: the
        /// largest checkpoint that many cosigned).
        #[arg(long, default_value_t = 0)]
        require_witnesses: usize,
        /// A witness's verifier key; repeat for more.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
    },
    /// Act as a witness: check that the server's latest checkpoint extends the one this witness
    /// cosigned last, cosign it, and post the cosignature to the server.
    Witness {
        /// The server's base URL.
        #[arg(long)]
        server: String,
        /// The log's verifier key (`samverkan key show`), or a file holding it.
        #[arg(long)]
        log_key: String,
        /// The witness's signing key file; created (mode 0600) if missing, named by `--name`.
        #[arg(long)]
        key: PathBuf,
        /// The witness's name for a new key, e.g. `witness.nacka.se/ledger`.
        #[arg(long)]
        name: Option<String>,
        /// Where the witness keeps the checkpoint it cosigned last (default: the key file + `.state`).
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// The log's key.
    Key {
        /// What to do with the key.
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Walk the hash chain and the Merkle tree; exit non-zero on any break. Through the server
    /// when one runs.
    Verify {
        /// Where: the data directory, or the server running on it.
        #[command(flatten)]
        via: Via,
    },
    /// What applied on DATE, as a table: every agreement with its status and version.
    At {
        /// The date (YYYY-MM-DD).
        date: String,
        /// Answer as the ledger knew it at this instant (RFC 3339), default now.
        #[arg(long)]
        known_at: Option<String>,
        /// Where: the data directory, or the server running on it.
        #[command(flatten)]
        via: Via,
    },
    /// Manage API tokens.
    Token {
        /// What to do with tokens.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
}

/// `serve`'s limits against hostile or broken clients (issue 20).
#[derive(Debug, clap::Args)]
pub struct ServeLimits {
    /// Seconds a client may take to send a request's head (from connecting, or from its last
    /// answer on a kept-alive connection, so also the idle keep-alive timeout).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds a request may take, body and work included; then 408, and its work stops.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
    /// After SIGTERM or Ctrl-C, seconds requests in flight may take to finish before the server
    /// exits anyway (WebSockets are closed with 1001 at once).
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace: u64,
    /// The most connections open at once, WebSockets included; more are refused with 503.
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// The most GraphQL requests one client (a valid token, else an IP address) may have running
    /// at once; more are refused with 429.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests_per_client: u64,
    /// The largest GraphQL answer in bytes; a larger one is refused with RESPONSE_TOO_LARGE.
    #[arg(long, default_value_t = 8 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_response_bytes: u64,
}

impl ServeLimits {
    /// The server configuration with these limits.
    fn apply(&self, config: ServerConfig) -> ServerConfig {
        use std::time::Duration;
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        ServerConfig {
            header_timeout: Duration::from_secs(self.header_timeout),
            request_timeout: Duration::from_secs(self.request_timeout),
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
            max_connections: size(self.max_connections),
            max_requests_per_client: size(self.max_requests_per_client),
            max_response_bytes: size(self.max_response_bytes),
            ..config
        }
    }
}

/// Key subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the verifier key (note `vkey` form) that auditors pin. Works while a server runs.
    Show {
        /// The data directory.
        #[arg(long, default_value = "data", env = "SAMVERKAN_DATA")]
        data: PathBuf,
    },
}

/// Token subcommands. Each works through the server when one runs on the data directory.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (only the token, on stdout). It is stored hashed.
    Create {
        /// ADMIN, SECRETARIAT, PARTY, AUDITOR or READER.
        #[arg(long)]
        role: String,
        /// The party of a PARTY token.
        #[arg(long)]
        party: Option<String>,
        /// A name for the token; recorded as `recordedBy` on what it records.
        #[arg(long)]
        name: String,
        /// The last day (YYYY-MM-DD, UTC) the token works; default: no expiry.
        #[arg(long)]
        expires: Option<String>,
        /// Where: the data directory, or the server running on it.
        #[command(flatten)]
        via: Via,
    },
    /// List the tokens: names, roles, parties, created, expires, revoked – never secrets.
    List {
        /// Where: the data directory, or the server running on it.
        #[command(flatten)]
        via: Via,
    },
    /// Revoke a token: refused from now on, also on open WebSocket connections. It stays listed.
    Revoke {
        /// The token's name.
        name: String,
        /// Where: the data directory, or the server running on it.
        #[command(flatten)]
        via: Via,
    },
}

/// Where a command works: on the data directory itself, or – when a server holds it, or `--url`
/// names one – through that server.
#[derive(Debug, clap::Args)]
pub struct Via {
    /// The data directory. While a server runs on it, the command goes through that server with
    /// the token the server left in the directory.
    #[arg(long, default_value = "data", env = "SAMVERKAN_DATA")]
    pub data: PathBuf,
    /// Work through the server at this URL (e.g. http://127.0.0.1:8080) instead, with --token.
    #[arg(long, env = "SAMVERKAN_URL")]
    pub url: Option<String>,
    /// The token for --url: ADMIN for tokens; ADMIN, SECRETARIAT or AUDITOR for export and
    /// verify; ADMIN or SECRETARIAT for import.
    #[arg(long, env = "SAMVERKAN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The whole program behind the `samverkan` binary: the command line from the process arguments,
/// logging to stderr (see [`Cli::log_format`]), and one line on stderr with the error and its causes
/// on failure. Public so that the crash and bad-input tests can build a child process that runs
/// exactly this code.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `--help` and `--version` print to stdout and succeed.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("samverkan: {}", usage_error(&e));
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(&cli);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("samverkan: {}", crate::error::readable_message(&format!("{e:#}")));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs to standard error: filtered by `RUST_LOG`, by default `info` for `serve` (its start, the
/// access log, refused commands) and `warn` for the one-shot commands, which keep to their one line;
/// as text (ANSI colours only on a terminal) or as JSON lines.
fn init_logging(cli: &Cli) {
    let default = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = if cli.log_format == "json" {
        builder.json().with_current_span(false).try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
    // A second initialisation (a test running the program twice in one process) keeps the first.
    drop(installed);
}

/// A command-line usage error as the one line API.md §3 promises, e.g. "unrecognized subcommand
/// 'frobnicate'; try 'samverkan --help'". clap renders a paragraph (the error, tips, a usage line,
/// a hint); this keeps the error and its tips and drops the usage and the hint.
pub fn usage_error(error: &clap::Error) -> String {
    if error.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap would print the whole help; name the commands instead.
        let command = <Cli as clap::CommandFactory>::command();
        let names: Vec<&str> = command.get_subcommands().map(clap::Command::get_name).collect();
        return format!("a command is needed: {}; try 'samverkan --help'", names.join(", "));
    }
    let rendered = error.render().to_string();
    let mut parts: Vec<String> = Vec::new();
    for paragraph in rendered.split("\n\n") {
        let text = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() || text.starts_with("Usage:") || text.starts_with("For more information") {
            continue;
        }
        parts.push(text.strip_prefix("error: ").unwrap_or(&text).to_owned());
    }
    parts.push("try 'samverkan --help'".to_owned());
    parts.join("; ")
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            data,
            listen,
            no_seed,
            reads_require_token,
            cors_origins,
            witnesses,
            verify_every,
            limits,
        } => {
            for vkey in &witnesses {
                ledger::merkle::cosignature::check_vkey(vkey).with_context(|| format!("--witness {vkey}"))?;
            }
            let config = limits.apply(ServerConfig { cors_origins, ..ServerConfig::default() });
            let verify_every = (verify_every > 0).then(|| std::time::Duration::from_secs(verify_every));
            serve(&data, listen, !no_seed, AppConfig { reads_require_token, witnesses }, config, verify_every)
        }
        Command::Import { file, via } => import(&file, &via),
        Command::Export { via, checkpoint } => export(&via, checkpoint.as_deref()),
        Command::Audit { server, log, checkpoint, key, pin, require_witnesses, witnesses } => {
            let source = match (server, log, checkpoint) {
                (Some(url), _, _) => audit::Source::Server(url),
                (None, Some(log), Some(checkpoint)) => audit::Source::File { log, checkpoint },
                _ => anyhow::bail!("give --server URL, or --log FILE with --checkpoint FILE"),
            };
            if require_witnesses > witnesses.len() {
                anyhow::bail!("--require-witnesses {require_witnesses} needs at least that many --witness keys");
            }
            audit::run(
                &source,
                &key,
                pin.as_deref(),
                &audit::Witnesses { keys: witnesses, required: require_witnesses },
            )
        }
        Command::Witness { server, log_key, key, name, state } => {
            let state = state.unwrap_or_else(|| {
                let mut path = key.clone().into_os_string();
                path.push(".state");
                PathBuf::from(path)
            });
            witness::run(&server, &log_key, &key, name.as_deref(), &state)
        }
        Command::Key { command: KeyCommand::Show { data } } => {
            println!("{}", DataDir::verifier_key(&data)?);
            Ok(())
        }
        Command::Verify { via } => verify(&via),
        Command::At { date, known_at, via } => at(&date, known_at.as_deref(), &via),
        Command::Token { command: TokenCommand::Create { role, party, name, expires, via } } => {
            let role = Role::parse(&role, party.as_deref()).map_err(anyhow::Error::msg)?;
            let expires_on = expires.as_deref().map(str::parse::<ledger::Date>).transpose()?;
            // A typo in --data must not become a new, empty ledger with a token in it: a missing
            // directory is refused (an existing empty one, made on purpose, becomes a data directory).
            if via.url.is_none() && !via.data.exists() {
                anyhow::bail!(
                    "{} is not a Samverkan data directory (it does not exist); `samverkan serve --data {}` makes one",
                    via.data.display(),
                    via.data.display()
                );
            }
            let empty = via.data.read_dir().is_ok_and(|mut entries| entries.next().is_none());
            let token = match if empty && via.url.is_none() {
                Target::Here(Box::new(open_existing_or_new(&via.data)?))
            } else {
                target(&via)?
            } {
                Target::Server(server) => {
                    let party = match &role {
                        Role::Party(p) => Some(p.to_string()),
                        _ => None,
                    };
                    server.create_token(role.name(), party.as_deref(), &name, expires.as_deref())?
                }
                Target::Here(dir) => {
                    if let Role::Party(party) = &role {
                        let mut projections = projections::Projections::new();
                        crate::app::apply_new(&mut projections, &dir.ledger)?;
                        if projections
                            .party_registration_view(party, ledger::Date::MAX, ledger::Timestamp::now())
                            .is_none()
                        {
                            anyhow::bail!(
                                "no party \"{party}\" is registered in {}; a PARTY token names a registered party",
                                via.data.display()
                            );
                        }
                    }
                    dir.tokens.create(&role, &name, expires_on)?
                }
            };
            println!("{token}");
            Ok(())
        }
        Command::Token { command: TokenCommand::List { via } } => {
            let tokens = match target(&via)? {
                Target::Server(server) => server.list_tokens()?,
                Target::Here(dir) => dir.tokens.list()?,
            };
            ignore_closed_pipe(write_tokens(&tokens))
        }
        Command::Token { command: TokenCommand::Revoke { name, via } } => {
            let revoked = match target(&via)? {
                Target::Server(server) => server.revoke_token(&name)?,
                Target::Here(dir) => dir.tokens.revoke(&name)?,
            };
            let when = revoked.token.revoked_at.as_deref().unwrap_or("-");
            if revoked.already {
                println!("the token {name:?} was already revoked (at {when})");
            } else {
                println!("revoked the token {name:?} at {when}");
            }
            Ok(())
        }
        Command::Schema => {
            print!("{}", crate::schema::sdl());
            Ok(())
        }
    }
}

fn open_existing_or_new(data: &Path) -> anyhow::Result<DataDir> {
    DataDir::open(data, LedgerConfig::default())
}

/// Where a command does its work.
enum Target {
    /// The data directory, opened by this process.
    Here(Box<DataDir>),
    /// The server holding it, or the one `--url` names.
    Server(remote::Remote),
}

/// The data directory of `via`, opened here, or the server to go through: the one `--url` names,
/// or the one holding the directory. Never makes a data directory.
fn target(via: &Via) -> anyhow::Result<Target> {
    if let Some(url) = &via.url {
        return Ok(Target::Server(remote::Remote::at_url(url, via.token.clone())));
    }
    Ok(match DataDir::open_or_running(&via.data)? {
        Opened::Here(dir) => Target::Here(dir),
        Opened::Running(mut running) => {
            if via.token.is_some() {
                running.token.clone_from(&via.token);
            }
            Target::Server(remote::Remote::running(running, &via.data))
        }
    })
}

/// [`target`] for the commands that only read (`export`, `verify`): a data directory no server
/// holds is opened read-only ([`DataDir::open_read_only`]), writing nothing into it, so that a
/// rescue export works on a full disk.
fn target_read_only(via: &Via) -> anyhow::Result<Target> {
    if let Some(url) = &via.url {
        return Ok(Target::Server(remote::Remote::at_url(url, via.token.clone())));
    }
    Ok(match DataDir::open_read_only(&via.data)? {
        Opened::Here(dir) => Target::Here(dir),
        Opened::Running(mut running) => {
            if via.token.is_some() {
                running.token.clone_from(&via.token);
            }
            Target::Server(remote::Remote::running(running, &via.data))
        }
    })
}

/// A reader that stops early (`… | head`) is done, not failed.
fn ignore_closed_pipe(written: std::io::Result<()>) -> anyhow::Result<()> {
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(Into::into),
    }
}

/// A bar of events on a terminal (`None` elsewhere): counts and a whole-number rate.
fn progress_bar(total: u64, what: &str) -> Option<ProgressBar> {
    bar_of(total, what, "{msg} {bar:40} {human_pos}/{human_len} ({per_sec:0}, {eta})")
}

/// A bar of a file's bytes on a terminal (`None` elsewhere): sizes and rate in KiB, MiB, GiB.
fn bytes_bar(total: u64, what: &str) -> Option<ProgressBar> {
    bar_of(total, what, "{msg} {bar:40} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})")
}

fn bar_of(total: u64, what: &str, template: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    Some(bar)
}

fn import(file: &Path, via: &Via) -> anyhow::Result<()> {
    let metadata = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if metadata.is_dir() {
        anyhow::bail!("{} is a directory, not a JSON Lines file", file.display());
    }
    let size = metadata.len();
    // Restoring into a new directory is what import is for: a missing one is made (an existing one
    // that is not a data directory is refused by the layout check).
    let target = if via.url.is_none() && !via.data.join(crate::app::LEDGER_DIR).is_dir() {
        Target::Here(Box::new(open_existing_or_new(&via.data)?))
    } else {
        target(via)?
    };
    let dir = match target {
        Target::Server(server) => return import_through(&server, file, size),
        Target::Here(dir) => dir,
    };
    // Three phases, each on its own bar on a terminal: the ledger folded into the projections the
    // lines are judged against; the file read, staged and judged a step at a time (by its bytes);
    // the publish that makes it all visible at once.
    let existing = dir.ledger.head().position.get();
    let mut projections = projections::Projections::new();
    if existing > 0 {
        let bar = progress_bar(existing, "folding the ledger");
        crate::app::apply_new(&mut projections, &dir.ledger)
            .with_context(|| format!("{} was not imported", file.display()))?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let source = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let reader = BufReader::new(Counted { inner: source, read: std::sync::Arc::clone(&read) });
    let bar = bytes_bar(size, "reading, checking and staging");
    let (report, projections) =
        crate::app::import_staged(&dir.ledger, projections, jsonl::lines(reader), &mut |step| {
            if let Some(b) = &bar {
                match step {
                    crate::app::ImportProgress::Staged { .. } => {
                        b.set_position(read.load(std::sync::atomic::Ordering::Relaxed));
                    }
                    crate::app::ImportProgress::Publishing => b.set_message("publishing (making it durable)"),
                }
            }
        })
        .with_context(|| format!("{} was not imported", file.display()))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let count = report.appended + report.already_stored;
    // An empty file is almost always a mistake (a failed export, the wrong file); say so rather
    // than report success.
    if count == 0 {
        anyhow::bail!("{} holds no events; nothing was imported", file.display());
    }
    eprintln!(
        "imported {} events ({} already stored) from {count} lines; head is now {}",
        report.appended,
        report.already_stored,
        dir.ledger.head().position
    );
    // The projections the lines were judged on are the ledger's as published: kept as the start-up
    // snapshot (`app/snapshot.rs`), so that the first `serve` after a restore starts from them
    // instead of folding every event (at a million events 0.7 s and ~390 MiB after a county-wide
    // question instead of 2.1 s and ~680 MiB). A failure costs only that: the import is complete.
    if report.appended > 0 {
        // A phase of its own on a terminal (about 2 s at a million events), its length unknown.
        let spinner = std::io::stderr().is_terminal().then(|| {
            let spinner = ProgressBar::new_spinner();
            spinner.set_message("writing the start-up snapshot for the next serve");
            spinner.enable_steady_tick(std::time::Duration::from_millis(100));
            spinner
        });
        // The ledger keeps its indexes for the next open meanwhile, on the other core (its close
        // would write them after the snapshot; it sees they are kept and does not again).
        let saved = std::thread::scope(|scope| {
            scope.spawn(|| dir.ledger.keep_indexes());
            crate::app::save_snapshot(&via.data, &projections)
        });
        if let Some(spinner) = spinner {
            spinner.finish_and_clear();
        }
        if let Err(e) = saved {
            eprintln!(
                "samverkan: the start-up snapshot was not written ({e:#}); the next start folds the whole ledger"
            );
        }
    }
    // The command ends here and the process with it: the projections (millions of allocations at a
    // million events, a tenth of a second to free one by one) go with the process. The ledger is
    // closed as usual when `dir` is dropped.
    std::mem::forget(projections);
    Ok(())
}

/// A reader that counts the bytes read through it (an import's progress by the file's bytes).
struct Counted<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// `import` through a server: the file is sent (a bar of the bytes sent, on a terminal), then the
/// server validates and appends it all or nothing.
fn import_through(server: &remote::Remote, file: &Path, size: u64) -> anyhow::Result<()> {
    let bar = bytes_bar(size, "sending");
    let sending = bar.clone();
    let imported = server.import(file, move |sent| {
        if let Some(b) = &sending {
            b.set_position(sent);
            if sent >= size {
                b.set_message("validating and appending");
            }
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let imported = imported.with_context(|| format!("{} was not imported", file.display()))?;
    eprintln!(
        "imported {} events ({} already stored) through the server; head is now {}",
        imported.appended, imported.already_stored, imported.head
    );
    Ok(())
}

fn export(via: &Via, checkpoint: Option<&Path>) -> anyhow::Result<()> {
    let target = target_read_only(via)?;
    let stdout = std::io::stdout();
    let mut out = StdoutWriter { inner: std::io::BufWriter::new(stdout.lock()), failed: None };
    let exported = match &target {
        Target::Server(server) => {
            // Exactly the events the latest checkpoint covers, when it is wanted with them.
            let through = match checkpoint {
                Some(path) => {
                    let (note, size) = server.checkpoint()?;
                    std::fs::write(path, note).with_context(|| format!("cannot write {}", path.display()))?;
                    Some(size)
                }
                None => None,
            };
            let bar = progress_bar(0, "exporting");
            let exported = server.export(through, &mut out, &mut |done, total| {
                if let Some(b) = &bar {
                    b.set_length(total);
                    b.set_position(done);
                }
            });
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            exported.map(|_| ())
        }
        Target::Here(dir) => {
            if let Some(path) = checkpoint {
                // The ledger is this process's alone (its lock), so its checkpoint covers exactly
                // what is exported below.
                let signed = dir.ledger.checkpoint().context("the ledger has no signed checkpoint")?;
                std::fs::write(path, signed.note()).with_context(|| format!("cannot write {}", path.display()))?;
            }
            let bar = progress_bar(dir.ledger.head().position.get(), "exporting");
            let exported = jsonl::export(&dir.ledger, &mut out, &mut |done: Position, _| {
                if let Some(b) = &bar {
                    b.set_position(done.get());
                }
            });
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            exported.map(|_| ()).map_err(anyhow::Error::from)
        }
    }
    .and_then(|()| out.flush().map_err(Into::into));
    if let Some(e) = out.failed {
        // A reader that stops early (`export | head`) is done, not failed.
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(());
        }
        anyhow::bail!("cannot write the export to standard output: {e}");
    }
    exported
}

/// Standard output for `export`, remembering a failed write so that the error names standard output
/// (a full disk, a closed pipe) rather than the ledger.
struct StdoutWriter<W> {
    inner: W,
    failed: Option<std::io::Error>,
}

impl<W: Write> StdoutWriter<W> {
    fn remember<T>(&mut self, result: std::io::Result<T>) -> std::io::Result<T> {
        result.map_err(|e| {
            let reported = std::io::Error::new(e.kind(), e.to_string());
            self.failed.get_or_insert(e);
            reported
        })
    }
}

impl<W: Write> Write for StdoutWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.remember(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.remember(result)
    }
}

fn verify(via: &Via) -> anyhow::Result<()> {
    let dir = match target_read_only(via)? {
        Target::Server(server) => {
            let report = server.verify().context("verification failed")?;
            println!(
                "ok: {} events, head {} {}, tree root {} (verified by the server while it serves)",
                report.events, report.events, report.head_hash, report.root
            );
            return Ok(());
        }
        Target::Here(dir) => dir,
    };
    let bar = progress_bar(dir.ledger.head().position.get(), "verifying");
    let report = dir.ledger.verify(&mut |done, _| {
        if let Some(b) = &bar {
            b.set_position(done.get());
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = report.context("verification failed")?;
    println!(
        "ok: {} events, head {} {}, tree root {}",
        report.events, report.head.position, report.head.hash, report.root
    );
    Ok(())
}

fn at(date: &str, known_at: Option<&str>, via: &Via) -> anyhow::Result<()> {
    let at: ledger::Date = date.parse()?;
    let known: ledger::Timestamp = match known_at {
        Some(t) => t.parse()?,
        None => ledger::Timestamp::now(),
    };
    let rows: Vec<Row> = match target(via)? {
        Target::Server(server) => server
            .agreements(&at.to_string(), Some(&known.to_string()))?
            .into_iter()
            .map(|a| Row {
                bound: a.parties.iter().filter(|p| p.bound).count(),
                parties: a.parties.len(),
                id: a.id,
                status: a.status,
                version: a.version.map_or("-".to_owned(), |v| v.to_string()),
                from: a.in_force_from.unwrap_or_else(|| "-".to_owned()),
                until: a.in_force_until.unwrap_or_else(|| "-".to_owned()),
                title: a.title,
            })
            .collect(),
        Target::Here(dir) => {
            let mut projections = projections::Projections::new();
            crate::app::apply_new(&mut projections, &dir.ledger)?;
            projections
                .agreements(at, known)
                .iter()
                .map(|a| Row {
                    id: a.id.to_string(),
                    status: a.status.as_str().to_owned(),
                    version: a.version.map_or("-".to_owned(), |v| v.to_string()),
                    from: a.in_force_from.map_or("-".to_owned(), |d| d.to_string()),
                    until: a.in_force_until.map_or("-".to_owned(), |d| d.to_string()),
                    bound: a.parties.iter().filter(|p| p.bound).count(),
                    parties: a.parties.len(),
                    title: a.title.clone(),
                })
                .collect()
        }
    };
    ignore_closed_pipe(write_table(at, known, &rows))
}

/// One agreement in the table of `samverkan at`, wherever it came from.
struct Row {
    id: String,
    status: String,
    version: String,
    from: String,
    until: String,
    bound: usize,
    parties: usize,
    title: String,
}

/// The table of `samverkan at` on standard output.
fn write_table(at: ledger::Date, known: ledger::Timestamp, rows: &[Row]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "What applied on {at}, as known at {known} ({} agreements)", rows.len())?;
    writeln!(
        out,
        "{:<28} {:<21} {:>7} {:<10} {:<10} {:>5}  TITLE",
        "AGREEMENT", "STATUS", "VERSION", "FROM", "UNTIL", "BOUND"
    )?;
    for a in rows {
        let title: String = a.title.chars().take(60).collect();
        writeln!(
            out,
            "{:<28} {:<21} {:>7} {:<10} {:<10} {:>2}/{:<2}  {title}",
            a.id, a.status, a.version, a.from, a.until, a.bound, a.parties,
        )?;
    }
    out.flush()
}

/// The table of `samverkan token list` on standard output.
fn write_tokens(tokens: &[crate::app::TokenInfo]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<28} {:<12} {:<16} {:<28} {:<10} REVOKED", "NAME", "ROLE", "PARTY", "CREATED", "EXPIRES")?;
    for t in tokens {
        writeln!(
            out,
            "{:<28} {:<12} {:<16} {:<28} {:<10} {}",
            t.name,
            t.role,
            t.party.as_deref().unwrap_or("-"),
            t.created_at,
            t.expires.map_or("-".to_owned(), |d| d.to_string()),
            t.revoked_at.as_deref().unwrap_or("-"),
        )?;
    }
    out.flush()
}

fn serve(
    data: &Path,
    listen: String,
    seed: bool,
    app_config: AppConfig,
    config: ServerConfig,
    verify_every: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // The signal handlers go in before anything else, so that a SIGTERM at any moment from here on
    // stops the server gracefully rather than killing it with the default action.
    let signal = {
        let _runtime = runtime.enter();
        shutdown_signal().context("cannot install the handlers of SIGTERM and SIGINT")?
    };
    // Listen first: a serve that cannot listen (the port is taken) leaves the data directory as it
    // was – not created, not seeded.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen.as_str()))
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let dir = open_existing_or_new(data)?;
    dir.warn_if_open_to_others();
    if seed {
        if let Some(report) = crate::app::seed_if_empty(&dir.ledger).context("seeding the fixtures failed")? {
            tracing::info!(events = report.appended, "seeded an empty ledger with the fixtures");
        }
    }
    // The command line's way in while this server holds the directory (`server.json`, 0600).
    let local_token = dir.tokens.create_ephemeral(Role::Admin, "samverkan-cli")?;
    let (start, found) = crate::app::load_snapshot(data, &dir.ledger);
    let state = App::new_from(dir.ledger.clone(), Arc::new(dir.tokens), app_config, start)
        .map_err(|e| anyhow::anyhow!("cannot fold the ledger: {}", e.message))?;
    // One line on how the projections were built, after the serving line (which scripts read
    // first): an operator sees at once whether the snapshot served, and why not.
    let head = state.head().position.get();
    let how = match found {
        SnapshotStart::Snapshot { position } => {
            format!(
                "samverkan: started from the snapshot at position {position}; folded {} events after it",
                head - position
            )
        }
        SnapshotStart::None => format!("samverkan: no snapshot; folded the whole ledger ({head} events)"),
        SnapshotStart::Refused(reason) => {
            format!("samverkan: the snapshot was not used ({reason}); folded the whole ledger ({head} events)")
        }
    };
    let stopping = Arc::clone(&state);
    let url = format!("http://{local}");
    // What the command line tells a user who runs a command on this directory meanwhile.
    if let Err(e) = (Running { pid: std::process::id(), url: url.clone(), token: Some(local_token) }).write(data) {
        tracing::warn!(error = %e, "could not record the server in the data directory");
    }
    let served = runtime.block_on(async move {
        let _follower = state.spawn_follower();
        let _verifier = verify_every.map(|every| state.spawn_verifier(every));
        tracing::info!(%local, data = %data.display(), "serving GraphQL on {url}/graphql");
        // The line tests and scripts read the address from: "serving http://…/graphql" first.
        eprintln!("samverkan: serving {url}/graphql (GraphiQL) and the dashboard at {url}/ (data: {})", data.display());
        eprintln!("{how}");
        crate::http::serve(listener, state, config, signal).await?;
        Ok::<(), anyhow::Error>(())
    });
    // The projections as they are now, for the next start (module docs of `app/snapshot.rs`).
    match stopping.projections() {
        Ok(projections) => match crate::app::save_snapshot(data, &projections) {
            Ok(()) => tracing::info!(position = projections.head().get(), "wrote the snapshot of the projections"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "could not write the snapshot of the projections"),
        },
        Err(e) => tracing::warn!(error = %e.message, "could not write the snapshot of the projections"),
    }
    dir.ledger.keep_indexes();
    drop(stopping);
    Running::remove(data);
    // The loop has waited its grace period; work still running on blocking threads (a query past
    // its deadline finishing its last resolver, a background verification) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    served
}

/// Completes at SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called, not
/// when the future is first polled: the server loop first polls it only once its first accept is
/// pending, and on a loaded machine a SIGTERM sent before that used to kill the process outright –
/// a subscriber then saw its connection end without the 1001 close frame.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
