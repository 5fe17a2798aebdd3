//! The ledger benchmark of issue 6: durable appends against the disk's limit and against SQLite,
//! rebuild from disk, as-of queries, subscriptions and footprint, in one run, each number beside
//! its baseline from the same run. Prints one Markdown table (BENCHMARKS.md records it).
//!
//! ```sh
//! cargo run --release -j2 --bin bench -- --size smoke   # about a minute, 20,000 events
//! cargo run --release -j2 --bin bench -- --size full    # 1,000,000 events
//! ```
//!
//! Sections (`--only` takes their names): `single` (1), `concurrent` (2), `rebuild` (3), `queries`
//! (4), `subscriptions` (5), `footprint` (6), `tlog` (7, the transparency log), `writers` (8, concurrent
//! GraphQL mutations over HTTP beside the ledger's own writers), `import` (9, `samverkan import` of
//! the dataset's export: events/s and peak RSS). Everything is written under `--dir` (default: a
//! fresh temporary directory, removed at the end), on the disk being measured.

mod append;
mod dataset;
mod footprint;
mod import;
mod queries;
mod rebuild;
mod report;
mod server;
mod sqlite;
mod subscriptions;
mod tlog;
mod writers;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};

use crate::report::Report;

/// The `samverkan` binary's allocator, so that the bench measures what users run.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(name = "bench", about = "Samverkan's ledger benchmark (issue 6)")]
struct Args {
    /// The preset: `smoke` (about a minute) or `full` (1M events).
    #[arg(long, value_enum, default_value = "smoke")]
    size: Size,
    /// Override the number of generated events.
    #[arg(long)]
    events: Option<usize>,
    /// Where to write: a missing or empty directory, left in place afterwards (default: a fresh
    /// temporary directory, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Run only these sections (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
    /// Section 2 only: which sides to run (for `strace -c` of one side at a time).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Side::Raw, Side::Ledger, Side::Sqlite])]
    sides: Vec<Side>,
    /// Section 5 only: the subscriber counts of its latency rounds (comma-separated; `0` for none,
    /// the catch-up replay alone).
    #[arg(long, value_delimiter = ',')]
    subscribers: Vec<usize>,
    #[command(subcommand)]
    child: Option<Child>,
}

#[derive(Debug, Subcommand)]
enum Child {
    /// Runs the `samverkan` command line (section 6's server process); not for direct use.
    #[command(hide = true)]
    ServeChild {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Size {
    Smoke,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    Single,
    Concurrent,
    Rebuild,
    Queries,
    Subscriptions,
    Footprint,
    Tlog,
    Writers,
    Import,
}

/// The sides of section 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Side {
    Raw,
    Ledger,
    Sqlite,
}

/// How much of everything to do.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) events: usize,
    pub(crate) single_appends: usize,
    pub(crate) writers: Vec<usize>,
    pub(crate) window: Duration,
    pub(crate) rounds_concurrent: usize,
    pub(crate) sides: Vec<Side>,
    pub(crate) rebuild_rounds: usize,
    pub(crate) queries: usize,
    pub(crate) http_queries: usize,
    pub(crate) subscribers: Vec<usize>,
    pub(crate) sub_appends: usize,
    pub(crate) replay_events: usize,
}

impl Plan {
    fn of(size: Size) -> Self {
        match size {
            Size::Smoke => Self {
                events: 20_000,
                single_appends: 200,
                writers: vec![1, 8, 64],
                window: Duration::from_secs(1),
                rounds_concurrent: 1,
                sides: Vec::new(),
                rebuild_rounds: 3,
                queries: 2_000,
                http_queries: 30,
                subscribers: vec![1, 100, 1000],
                sub_appends: 20,
                replay_events: 20_000,
            },
            Size::Full => Self {
                events: 1_000_000,
                single_appends: 1_000,
                writers: vec![1, 8, 64],
                window: Duration::from_secs(1),
                rounds_concurrent: 5,
                sides: Vec::new(),
                rebuild_rounds: 3,
                queries: 10_000,
                http_queries: 30,
                subscribers: vec![1, 100, 1000],
                sub_appends: 100,
                replay_events: 1_000_000,
            },
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".to_owned(), |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Child::ServeChild { args }) = args.child {
        let cli = <graphql::cli::Cli as Parser>::parse_from(std::iter::once("samverkan".to_owned()).chain(args));
        return graphql::cli::run(cli);
    }
    let mut plan = Plan::of(args.size);
    if let Some(events) = args.events {
        plan.events = events;
        plan.replay_events = events;
    }
    plan.sides = args.sides.clone();
    if !args.subscribers.is_empty() {
        plan.subscribers = args.subscribers.iter().copied().filter(|n| *n > 0).collect();
    }
    let run = |s: Section| args.only.is_empty() || args.only.contains(&s);

    let temp;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            anyhow::ensure!(std::fs::read_dir(dir)?.next().is_none(), "{} is not empty", dir.display());
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new().prefix("samverkan-bench-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let started = Instant::now();
    let load_before = load_average();
    eprintln!("bench: {:?}, {} events, in {}; load average {load_before}", args.size, plan.events, dir.display());
    let mut report = Report::default();

    let mut fsync_p50 = None;
    if run(Section::Single) || run(Section::Subscriptions) {
        eprintln!("section 1: single appends");
        fsync_p50 = Some(append::single(&plan, &dir, &mut report)?.raw_fdatasync_p50);
    }
    if run(Section::Concurrent) {
        eprintln!("section 2: concurrent appends");
        append::concurrent(&plan, &dir, &mut report)?;
    }
    if run(Section::Writers) {
        eprintln!("section 8: concurrent GraphQL writers");
        writers::run(&plan, &dir, &mut report)?;
    }
    if run(Section::Rebuild)
        || run(Section::Queries)
        || run(Section::Subscriptions)
        || run(Section::Footprint)
        || run(Section::Tlog)
        || run(Section::Import)
    {
        eprintln!("building the dataset");
        let data = dataset::build(plan.events, &dir, &mut report)?;
        if run(Section::Tlog) {
            eprintln!("section 7: the transparency log");
            tlog::run(&plan, &data, &dir, &mut report)?;
        }
        if run(Section::Import) {
            eprintln!("section 9: import");
            import::run(&data, &dir, &mut report)?;
        }
        eprintln!("section 3: rebuild");
        let rebuilt = rebuild::run(&plan, &data, &mut report)?;
        if run(Section::Footprint) {
            eprintln!("section 6: footprint");
            footprint::run(&data, &mut report)?;
        }
        if run(Section::Queries) {
            eprintln!("section 4: queries in process");
            queries::in_process(&plan, &rebuilt.projections, data.head.recorded_at, &mut report)?;
        }
        drop(rebuilt.projections);
        if run(Section::Queries) || run(Section::Subscriptions) {
            eprintln!("starting the server");
            let server = server::Server::start(&data)?;
            if run(Section::Queries) {
                eprintln!("section 4: queries over HTTP");
                queries::over_http(&plan, &server, &mut report)?;
            }
            if run(Section::Subscriptions) {
                eprintln!("section 5: subscriptions");
                subscriptions::run(&plan, &server, fsync_p50.unwrap_or(0.0), rebuilt.read_rate, &mut report)?;
            }
            server.runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }

    report.sort();
    println!(
        "\nbench --size {:?}: {} events; {:.0} s; load average {load_before} at start, {} at end\n",
        args.size,
        plan.events,
        started.elapsed().as_secs_f64(),
        load_average()
    );
    print!("{}", report.markdown());
    Ok(())
}
