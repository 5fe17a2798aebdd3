//! The shared harness of the fuzz targets: the real fixture history in a ledger and its projections,
//! built once per fuzzing process, the steps of a validated import short of its append, and the
//! queries a server runs on the state that results.
//!
//! Every step returns the product's typed errors and rejections, which the targets ignore: a fuzz
//! target fails only when something panics (or overflows, with `cargo fuzz --debug-assertions`).

mod command;

use std::hint::black_box;
use std::sync::OnceLock;

use ledger::jsonl::{self, ImportLine};
use ledger::{
    AgreementId, AppendOutcome, CaseId, Clock, Date, Durability, EventData, GroupId, Ledger, LedgerConfig, NewEvent,
    PartyId, ProblemId, RecordedEvent, StreamTarget, Timestamp,
};
use projections::{Projections, Rejection};

pub use command::{Command, MAX_COMMANDS, commands};

/// The real HÖK history (`fixtures/history.jsonl`).
pub const HISTORY: &str = include_str!("../../fixtures/history.jsonl");

/// One golden record per event type (`ledger/golden/records-v1.jsonl`).
pub const GOLDEN: &str = include_str!("../../ledger/golden/records-v1.jsonl");

/// The fixed record-time clock of the harness ledgers, 2030-01-01T00:00:00Z: after every fixture,
/// and fixed so that a crashing input replays exactly.
pub const NOW: Timestamp = Timestamp::from_micros(1_893_456_000_000_000);

/// A ledger and the projections of everything in it.
#[derive(Debug)]
pub struct World {
    /// The ledger; only ever previewed, never appended to after it is built.
    pub ledger: Ledger,
    /// The projections of the ledger's events.
    pub projections: Projections,
}

impl World {
    /// The ledger holding the fixture history (843 events).
    pub fn seeded() -> &'static World {
        static SEEDED: OnceLock<World> = OnceLock::new();
        SEEDED.get_or_init(|| World::open(true))
    }

    /// An empty ledger, as `samverkan import` into a new data directory sees it.
    pub fn empty() -> &'static World {
        static EMPTY: OnceLock<World> = OnceLock::new();
        EMPTY.get_or_init(|| World::open(false))
    }

    // The harness cannot run without its world, so failing to build it panics (once, at start-up),
    // which libFuzzer reports as a crash of the very first input rather than as silence.
    #[allow(clippy::expect_used)]
    fn open(seed: bool) -> World {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = LedgerConfig { durability: Durability::FlushOnly, clock: Clock::custom(|| NOW), ..LedgerConfig::default() };
        let ledger = Ledger::open(dir.path(), config).expect("a ledger in a new temporary directory");
        if seed {
            let lines = jsonl::read_lines(HISTORY.as_bytes(), &mut |_| {}).expect("the fixtures parse");
            jsonl::import(&ledger, lines).expect("the fixtures import");
        }
        let events: Vec<RecordedEvent> =
            ledger.read_from(ledger::Position::FIRST).collect::<Result<_, _>>().expect("the fixtures read back");
        let projections = Projections::from_events(&events).expect("the fixtures fold");
        // The world lives as long as the process, and libFuzzer ends it with `exit`, which runs no
        // destructors: remove the directory now so that no run leaves one behind. sled keeps its
        // files open, and nothing is written after this point (the harness only previews), so the
        // ledger keeps working on the unlinked files.
        drop(dir);
        World { ledger, projections }
    }

    /// What `graphql::import_validated` does before its append: the ledger's preview of the whole
    /// file as one atomic append, then the projections' validation of every new line against the
    /// ledger plus the file's earlier lines. Returns the events the append would store (leaving out
    /// lines already stored) and whether the validation accepted them; `None` if the ledger itself
    /// refuses the file.
    pub fn check_import(&self, lines: Vec<ImportLine>) -> Option<(Vec<RecordedEvent>, bool)> {
        let proposed: Vec<NewEvent> = lines.iter().map(|l| l.event.clone()).collect();
        let append = jsonl::append_of(lines);
        let committed = match self.ledger.preview(&append) {
            Ok(AppendOutcome::Committed(committed)) => committed,
            Ok(AppendOutcome::Conflict(_)) | Err(_) => return None,
        };
        let new: Vec<(NewEvent, RecordedEvent)> =
            proposed.into_iter().zip(committed).filter(|(_, c)| !c.already_stored).map(|(p, c)| (p, c.event)).collect();
        let batch: Vec<(&NewEvent, &RecordedEvent)> = new.iter().map(|(p, r)| (p, r)).collect();
        let accepted = self.projections.validate_batch(&batch).is_ok();
        Some((new.into_iter().map(|(_, r)| r).collect(), accepted))
    }

    /// The ledger's preview of appending `events` as one atomic append: for each, the event it
    /// would store (`None` for an idempotent retry of a stored one), or `None` for the whole append
    /// if the ledger would refuse it.
    pub fn preview(&self, events: &[&NewEvent]) -> Option<Vec<Option<RecordedEvent>>> {
        let append = events.iter().fold(ledger::Append::new(), |append, event| append.with((*event).clone()));
        match self.ledger.preview(&append) {
            Ok(AppendOutcome::Committed(committed)) => {
                Some(committed.into_iter().map(|c| (!c.already_stored).then_some(c.event)).collect())
            }
            Ok(AppendOutcome::Conflict(_)) | Err(_) => None,
        }
    }

    /// Validates `event` now and as known at `known`, as the mutations and the importer do.
    pub fn validate(&self, event: &NewEvent, known: Timestamp) -> Result<(), Rejection> {
        let _ = self.projections.validate_as_known_at(event, known);
        self.projections.validate(event)
    }

    /// The projections with `events` applied after the world's own: the state a server would fold
    /// after the append. `None` if the projections refuse an event (a typed error).
    pub fn projections_with<'a>(&self, events: impl IntoIterator<Item = &'a RecordedEvent>) -> Option<Projections> {
        let mut projections = self.projections.clone();
        for event in events {
            projections.apply(event).ok()?;
        }
        Some(projections)
    }
}

/// Runs the queries a server answers about the stream `event` belongs to, on the valid-time date
/// `at` and the record time `known`; with `everything`, also every list, timeline and county query.
///
/// Results go through `black_box` so that the optimiser cannot drop a query whose answer is unused.
pub fn query(projections: &Projections, event: &EventData, at: Date, known: Timestamp, everything: bool) {
    if let StreamTarget::Stream(stream) = event.stream() {
        let (kind, name) = stream.as_str().split_once('/').unwrap_or((stream.as_str(), ""));
        match kind {
            "agreement" => {
                if let Ok(id) = AgreementId::new(name) {
                    black_box(projections.agreement(&id, at, known));
                }
            }
            "party" => {
                if let Ok(id) = PartyId::new(name) {
                    black_box(projections.party(&id, at, known));
                    black_box(projections.party_registration_view(&id, at, known));
                }
            }
            "group" => {
                if let Ok(id) = GroupId::new(name) {
                    black_box(projections.group(&id, at, known));
                }
            }
            "case" => {
                if let Ok(id) = CaseId::new(name) {
                    black_box(projections.case(&id, at, known));
                }
            }
            "problem" => {
                if let Ok(id) = ProblemId::new(name) {
                    black_box(projections.problem(&id, at, known));
                }
            }
            "followup" => {
                if let Ok(year) = name.parse() {
                    black_box(projections.follow_up(year, known));
                }
            }
            _ => {
                black_box(projections.coordinators(at.year(), at, known));
                black_box(projections.priority_areas(at.year(), known));
                black_box(projections.funds(Some(at.year()), known));
            }
        }
    }
    if everything {
        black_box(projections.agreements(at, known));
        black_box(projections.parties(at, known));
        black_box(projections.groups(at, known));
        black_box(projections.cases(at, known));
        black_box(projections.problems(at, known));
        black_box(projections.funds(None, known));
        black_box(projections.findings(at, known));
        // A month either way: the timelines evaluate every agreement at every change in the range,
        // and a wide range would make these two queries most of the target's time.
        let month_before = Date::from_ymd(at.year(), at.month(), 1).map_or(at, |d| d.previous_day());
        black_box(projections.changes(month_before, at.add_months(1), known));
        black_box(projections.deadlines(at, at.add_months(1), known));
    }
}

/// Panics unless the event's export line parses back into the event that was stored: the
/// property that makes an export a backup (`samverkan import` of it reproduces the log).
pub fn round_trip(recorded: &ledger::RecordedEvent) {
    let line = match ledger::jsonl::to_json_line(recorded) {
        Ok(line) => line,
        Err(e) => panic!("a storable event does not export: {e}"),
    };
    let parsed = match ledger::jsonl::parse_line(1, &line) {
        Ok(parsed) => parsed,
        Err(e) => panic!("an exported line does not import: {e}\n{line}"),
    };
    let event = &parsed.event;
    assert_eq!(event.id, Some(recorded.id()), "id changed in {line}");
    assert_eq!(event.effective, recorded.effective(), "effective changed in {line}");
    assert_eq!(parsed.recorded_at, Some(recorded.recorded_at()), "recordedAt changed in {line}");
    assert_eq!(event.recorded_by, recorded.recorded_by(), "recordedBy changed in {line}");
    assert_eq!(event.source.as_ref(), recorded.source(), "source changed in {line}");
    assert_eq!(&event.data, recorded.data(), "data changed in {line}");
}
