//! Structured commands for the validator target: fuzz bytes steer the mutation of a real event (a
//! fixture line or a golden sample) into a typed `NewEvent` that usually parses, so the fuzzer
//! spends its time in the rules rather than in the JSON parser.
//!
//! The input is read as a stream of choices; a missing byte reads as 0, which always means "keep",
//! so a short input is a small change and the three-byte input `[0, hi, lo]` is one command:
//! template `hi·256+lo` unchanged (which is how the corpus is seeded).

use std::sync::OnceLock;

use ledger::{Date, EventData, EventId, NewEvent, Slug, Timestamp};
use serde_json::Value;

use crate::{GOLDEN, HISTORY, NOW};

/// A proposed command and the horizon to judge and query it on.
#[derive(Debug)]
pub struct Command {
    /// The event proposed.
    pub event: NewEvent,
    /// A record time to validate it "as known at" besides now.
    pub known: Timestamp,
    /// The valid-time date to query the resulting state on.
    pub at: Date,
    /// Whether to run every whole-state query afterwards, not only the touched stream's.
    pub everything: bool,
}

/// A real event to start from.
#[derive(Debug)]
struct Template {
    type_name: String,
    effective: Date,
    data: Value,
}

/// The templates and the pools of real values mutations draw from.
#[derive(Debug, Default)]
struct Pools {
    templates: Vec<Template>,
    slugs: Vec<String>,
    words: Vec<String>,
    dates: Vec<Date>,
    times: Vec<Timestamp>,
    ids: Vec<EventId>,
}

fn pools() -> &'static Pools {
    static POOLS: OnceLock<Pools> = OnceLock::new();
    POOLS.get_or_init(|| {
        let mut pools = Pools::default();
        let fallback = Date::from_ymd(2022, 6, 13).unwrap_or_else(Date::today_utc);
        for line in HISTORY.lines().chain(GOLDEN.lines()) {
            let Ok(Value::Object(line)) = serde_json::from_str::<Value>(line) else { continue };
            let text = |field: &str| line.get(field).and_then(Value::as_str).map(str::to_owned);
            let (Some(type_name), Some(data)) = (text("type"), line.get("data").cloned()) else { continue };
            let effective = text("effective").and_then(|d| d.parse().ok()).unwrap_or(fallback);
            if let Some(id) = text("id").and_then(|id| id.parse().ok()) {
                pools.ids.push(id);
            }
            if let Some(t) = text("recordedAt").and_then(|t| t.parse().ok()) {
                pools.times.push(t);
            }
            pools.dates.push(effective);
            collect(&data, &mut pools);
            pools.templates.push(Template { type_name, effective, data });
        }
        for pool in [&mut pools.slugs, &mut pools.words] {
            pool.sort();
            pool.dedup();
        }
        pools.dates.sort();
        pools.dates.dedup();
        pools
    })
}

/// Notes every slug, vocabulary word and date in a payload.
fn collect(value: &Value, pools: &mut Pools) {
    match value {
        Value::String(s) => {
            if let Ok(date) = s.parse::<Date>() {
                pools.dates.push(date);
            } else if Slug::new(s.as_str()).is_ok() {
                pools.slugs.push(s.clone());
            } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                pools.words.push(s.clone());
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, pools)),
        Value::Object(fields) => fields.values().for_each(|v| collect(v, pools)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The fuzz input as a stream of choices; 0 once it runs out.
#[derive(Debug)]
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |n, _| (n << 8) | u64::from(self.byte()))
    }

    fn pick<'p, T>(&mut self, pool: &'p [T]) -> Option<&'p T> {
        let index = usize::from(self.u16());
        pool.get(index % pool.len().max(1))
    }

    fn date(&mut self, pools: &Pools, near: Date) -> Date {
        match self.byte() % 4 {
            0 => self.pick(&pools.dates).copied().unwrap_or(near),
            1 => {
                // A few days either side: where the rules' boundaries are.
                let shift = self.byte() as i8;
                let step = if shift < 0 { Date::previous_day } else { Date::next_day };
                (0..shift.unsigned_abs()).fold(near, |d, _| step(d))
            }
            2 => {
                // Anywhere chrono can represent, including the ends of its range.
                let year = i32::from(self.u16() as i16) * 8;
                Date::from_ymd(year, u32::from(self.byte() % 13), u32::from(self.byte() % 32)).unwrap_or(near)
            }
            _ => near.add_months(u32::from(self.byte())),
        }
    }

    fn time(&mut self, pools: &Pools, near: Date) -> Timestamp {
        match self.byte() % 4 {
            0 => NOW,
            1 => Timestamp::start_of(self.date(pools, near)),
            2 => Timestamp::from_micros(self.u64() as i64),
            _ => self.pick(&pools.times).copied().unwrap_or(NOW),
        }
    }

    fn number(&mut self) -> Value {
        match self.byte() % 10 {
            0 => Value::from(0),
            1 => Value::from(-1),
            2 => Value::from(i32::MAX),
            3 => Value::from(i32::MIN),
            4 => Value::from(u32::MAX),
            5 => Value::from(i64::MAX),
            6 => Value::from(i64::MIN),
            7 => Value::from(u64::MAX),
            8 => Value::from(1.5),
            _ => Value::from(self.byte() as i8),
        }
    }

    /// Mutates a JSON value in place, one choice per node.
    fn mutate(&mut self, value: &mut Value, pools: &Pools, near: Date) {
        let choice = self.byte() % 16;
        match choice {
            0..=7 => {}
            8 => {
                let is_id = value.as_str().is_some_and(|s| s.parse::<EventId>().is_ok());
                *value = if is_id {
                    self.pick(&pools.ids).map_or(Value::Null, |id| Value::from(id.to_string()))
                } else {
                    self.pick(&pools.slugs).map_or(Value::Null, |s| Value::from(s.as_str()))
                };
            }
            9 => *value = Value::from(self.date(pools, near).to_string()),
            10 => {
                let len = usize::from(self.byte() % 12);
                let bytes: Vec<u8> = (0..len).map(|_| self.byte()).collect();
                *value = Value::from(String::from_utf8_lossy(&bytes).into_owned());
            }
            11 => *value = self.number(),
            12 => *value = Value::Null,
            13 => {
                *value = match self.byte() % 4 {
                    0 => Value::from(""),
                    1 => Value::from(" \t"),
                    2 => Value::from(true),
                    _ => Value::from(false),
                }
            }
            14 => *value = self.pick(&pools.words).map_or(Value::Null, |w| Value::from(w.as_str())),
            _ => match value {
                Value::Array(items) => match self.byte() % 4 {
                    0 => items.clear(),
                    1 => drop(items.pop()),
                    2 => items.extend(items.first().cloned()),
                    _ => items.extend(self.pick(&pools.slugs).map(|s| Value::from(s.as_str()))),
                },
                Value::Object(fields) => {
                    let keys: Vec<String> = fields.keys().cloned().collect();
                    if let Some(key) = self.pick(&keys) {
                        fields.remove(key);
                    }
                }
                Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {
                    *value = Value::Array(Vec::new());
                }
            },
        }
        match value {
            Value::Array(items) => items.iter_mut().for_each(|v| self.mutate(v, pools, near)),
            Value::Object(fields) => fields.values_mut().for_each(|v| self.mutate(v, pools, near)),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
}

/// Flags in the third byte.
const NEW_EFFECTIVE: u8 = 1;
const REUSED_ID: u8 = 2;
const OTHER_KNOWN: u8 = 4;
const OTHER_TYPE: u8 = 8;
/// All four high bits: the whole-state queries cost a hundred times the rest, so one input in 16.
const EVERYTHING: u8 = 0xf0;

/// The most commands one input proposes.
pub const MAX_COMMANDS: usize = 4;

/// The commands the fuzz input describes: its first byte says how many (1 to [`MAX_COMMANDS`]),
/// then each is read in turn from the rest. A command whose mutated payload does not parse is left
/// out (the parser's typed error is the import target's concern).
///
pub fn commands(input: &[u8]) -> Vec<Command> {
    let pools = pools();
    let mut choices = Choices(input);
    let count = 1 + usize::from(choices.byte()) % MAX_COMMANDS;
    (0..count).filter_map(|index| choices.command(pools, index)).collect()
}

impl Choices<'_> {
    fn command(&mut self, pools: &Pools, index: usize) -> Option<Command> {
        let template = self.pick(&pools.templates)?;
        let flags = self.byte();
        let effective =
            if flags & NEW_EFFECTIVE != 0 { self.date(pools, template.effective) } else { template.effective };
        // A fixed id per command keeps every run of an input identical; a reused one tests
        // idempotency and id reuse.
        let fixed: Option<EventId> = format!("00000000-0000-4000-8000-{:012x}", 0xf000 + index).parse().ok();
        let id = if flags & REUSED_ID != 0 { self.pick(&pools.ids).copied().or(fixed) } else { fixed };
        let known = if flags & OTHER_KNOWN != 0 { self.time(pools, effective) } else { NOW };
        let type_name = if flags & OTHER_TYPE != 0 {
            self.pick(EventData::TYPES).copied().unwrap_or(template.type_name.as_str())
        } else {
            template.type_name.as_str()
        };
        let mut data = template.data.clone();
        self.mutate(&mut data, pools, effective);
        let at = match self.byte() {
            0 => effective,
            _ => self.date(pools, effective),
        };
        let data = EventData::from_json(type_name, data).ok()?;
        let mut event = NewEvent::new(effective, "fuzz", data);
        event.id = id;
        Some(Command { event, known, at, everything: flags & EVERYTHING == EVERYTHING })
    }
}
