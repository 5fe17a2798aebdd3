//! The compact indexes against a plain model (maps of ids and of streams' positions): the same
//! answers after any sequence of appends and removals of a staged tail, and after the round trip
//! through the kept file's form – with a random tag and with one under which every id of the test
//! shares a tag (so every lookup has many candidates to confirm); a kept form that does not put
//! every event in exactly one stream is refused.

use std::collections::HashMap;

use proptest::prelude::*;

use super::{Indexes, Tag};
use crate::id::{EventId, Position, StreamId};

fn id(n: u128) -> EventId {
    EventId::from_uuid(uuid::Uuid::from_u128(n))
}

fn stream(n: u8) -> StreamId {
    StreamId::parse(&format!("party/p{n}")).expect("stream")
}

/// What the indexes must answer.
#[derive(Default)]
struct Model {
    ids: Vec<EventId>,
    streams: HashMap<String, Vec<u64>>,
    of: Vec<String>,
}

impl Model {
    fn add(&mut self, id: EventId, stream: &StreamId) {
        self.ids.push(id);
        let position = self.ids.len() as u64;
        self.streams.entry(stream.as_str().to_owned()).or_default().push(position);
        self.of.push(stream.as_str().to_owned());
    }

    fn truncate(&mut self, keep: usize) {
        self.ids.truncate(keep);
        self.of.truncate(keep);
        for positions in self.streams.values_mut() {
            positions.retain(|p| *p <= keep as u64);
        }
    }
}

/// Every question the ledger asks, of every id and stream ever used, compared with the model.
fn same(indexes: &Indexes, model: &Model, used_ids: &[EventId], used_streams: &[StreamId]) {
    let id_at = |p: Position| Ok(model.ids.get(p.get() as usize - 1).copied());
    for (n, id) in used_ids.iter().enumerate() {
        let expected = model.ids.iter().position(|i| i == id).map(|i| Position::new(i as u64 + 1));
        assert_eq!(indexes.position_of(*id, id_at).expect("reads"), expected, "id {n}");
        let candidates = indexes.candidates(*id);
        assert!(candidates.windows(2).all(|w| w[0] < w[1]), "id {n}: candidates first first, once each");
        assert!(candidates.iter().all(|p| p.get() <= model.ids.len() as u64), "id {n}: a candidate past the log");
    }
    let end = model.ids.len() as u64;
    for stream in used_streams {
        let positions = model.streams.get(stream.as_str()).cloned().unwrap_or_default();
        assert_eq!(indexes.stream_version(stream), positions.len() as u64, "{stream}");
        for cut in [end, end / 2, 0] {
            let upto: Vec<Position> = positions.iter().filter(|p| **p <= cut).map(|p| Position::new(*p)).collect();
            assert_eq!(indexes.stream_positions(stream, Position::new(cut)), upto, "{stream} up to {cut}");
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// An event of the stream with this number.
    Add(u8),
    /// A staged tail of this many events removed.
    Remove(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(prop_oneof![8 => (0u8..40).prop_map(Op::Add), 1 => (0usize..30).prop_map(Op::Remove)], 1..400)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_indexes_answer_as_the_model_after_appends_and_removals(ops in ops(), shared_tag in any::<bool>()) {
        let mut indexes = if shared_tag { Indexes::tagged(Tag::constant()) } else { Indexes::empty() };
        let mut model = Model::default();
        let mut used_ids = Vec::new();
        let used_streams: Vec<StreamId> = (0..40).map(stream).collect();
        for (n, op) in ops.iter().enumerate() {
            match op {
                Op::Add(s) => {
                    let event = id(n as u128 + 1);
                    let position = Position::new(model.ids.len() as u64 + 1);
                    indexes.add(event, &used_streams[*s as usize], position).expect("adds");
                    model.add(event, &used_streams[*s as usize]);
                    used_ids.push(event);
                }
                Op::Remove(k) => {
                    let keep = model.ids.len().saturating_sub(*k);
                    indexes.truncate(Position::new(keep as u64));
                    model.truncate(keep);
                }
            }
        }
        same(&indexes, &model, &used_ids, &used_streams);
        // The kept file's form, read back.
        let end = model.ids.len() as u64;
        let kept: Vec<(Box<str>, Vec<u64>)> =
            indexes.streams_up_to(end).into_iter().map(|(name, positions)| (name.into(), positions)).collect();
        let read = Indexes::of_kept(kept, indexes.tag, model.ids.clone()).expect("the kept form is read");
        same(&read, &model, &used_ids, &used_streams);
        // And the file's bytes, read as the open reads them (straight into the indexes).
        let file = written(&indexes, end);
        let body = &file[super::HEADER..file.len() - 4];
        let multiplier = u128::from_le_bytes(file[60..super::HEADER].try_into().expect("16 bytes"));
        let tag = if shared_tag { Tag::constant() } else { Tag::with(multiplier) };
        prop_assert_eq!(tag, indexes.tag, "the file names the tag's multiplier");
        let read = super::decode_kept(body, end as usize, tag).and_then(super::KeptBuilder::finish).expect("the file is read");
        same(&read, &model, &used_ids, &used_streams);
        prop_assert!(super::decode_kept(body, end as usize + 1, tag).and_then(super::KeptBuilder::finish).is_none());
        prop_assert!(super::decode_kept(&body[..body.len() - 1], end as usize, tag).is_none());
        // The file written as it goes holds the bytes of the kept form built whole, at the end and
        // at a head behind the indexes (a writer one group ahead).
        for head in [end, end / 2, end.saturating_sub(1), 0] {
            prop_assert_eq!(written(&indexes, head), built(&indexes, head), "head {}", head);
        }
    }
}

fn head_at(end: u64) -> crate::sequence::Head {
    crate::sequence::Head { position: Position::new(end), ..crate::sequence::Head::EMPTY }
}

/// The kept file as [`super::write_kept`] writes it.
fn written(indexes: &Indexes, end: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    super::write_kept(&mut bytes, indexes, &indexes.tags[..end as usize], &head_at(end).hash).expect("written");
    bytes
}

/// The kept file built whole from [`Indexes::streams_up_to`], as the format describes it.
fn built(indexes: &Indexes, end: u64) -> Vec<u8> {
    let streams = indexes.streams_up_to(end);
    let tags = &indexes.tags[..end as usize];
    let mut bytes = super::MAGIC.to_vec();
    bytes.extend_from_slice(&super::FORMAT.to_le_bytes());
    bytes.extend_from_slice(&end.to_le_bytes());
    bytes.extend_from_slice(head_at(end).hash.as_bytes());
    bytes.extend_from_slice(&indexes.tag.multiplier.to_le_bytes());
    bytes.extend(bincode::serde::encode_to_vec((&streams, tags), super::config()).expect("encoded"));
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

#[test]
fn an_event_out_of_turn_is_refused() {
    let mut indexes = Indexes::empty();
    indexes.add(id(1), &stream(1), Position::new(1)).expect("adds");
    assert!(indexes.add(id(2), &stream(1), Position::new(3)).is_err(), "a gap");
    assert!(indexes.add(id(2), &stream(1), Position::new(1)).is_err(), "a position again");
    assert_eq!(indexes.stream_version(&stream(1)), 1);
    assert_eq!(indexes.candidates(id(2)), Vec::<Position>::new());
}

#[test]
fn a_kept_form_that_misplaces_an_event_is_refused() {
    let ids: Vec<EventId> = (1..=4).map(id).collect();
    let tag = Tag::random();
    let tags: Vec<u64> = ids.iter().map(|id| tag.of(*id)).collect();
    let kept = |streams: &[(&str, &[u64])]| -> Vec<(Box<str>, Vec<u64>)> {
        streams.iter().map(|(name, positions)| ((*name).into(), positions.to_vec())).collect()
    };
    let good = kept(&[("party/a", &[1, 3]), ("party/b", &[2, 4])]);
    let body = bincode::serde::encode_to_vec((&good, &tags), super::config()).expect("encoded");
    assert!(super::decode_kept(&body, ids.len(), tag).and_then(super::KeptBuilder::finish).is_some());
    assert!(Indexes::of_kept(good, tag, ids.clone()).is_some());
    for (what, streams) in [
        ("an event in two streams", kept(&[("party/a", &[1, 2, 3]), ("party/b", &[2, 4])])),
        ("an event in none", kept(&[("party/a", &[1, 3]), ("party/b", &[4])])),
        ("a position past the log", kept(&[("party/a", &[1, 3]), ("party/b", &[2, 4, 5])])),
        ("positions out of order", kept(&[("party/a", &[3, 1]), ("party/b", &[2, 4])])),
        ("position 0", kept(&[("party/a", &[0, 1, 3]), ("party/b", &[2, 4])])),
        ("a stream twice", kept(&[("party/a", &[1]), ("party/a", &[3]), ("party/b", &[2, 4])])),
    ] {
        let body = bincode::serde::encode_to_vec((&streams, &tags), super::config()).expect("encoded");
        assert!(Indexes::of_kept(streams, tag, ids.clone()).is_none(), "{what}");
        assert!(
            super::decode_kept(&body, ids.len(), tag).and_then(super::KeptBuilder::finish).is_none(),
            "{what}, read"
        );
    }
}

/// A candidate the log does not hold is corrupt, not "not found": the index says an event is
/// there. A candidate with another id is passed over; the first with the id is the answer.
#[test]
fn a_candidate_the_log_does_not_hold_is_corrupt() {
    let at = |n: u64| Position::new(n);
    let missing = super::first_confirmed(vec![at(1), at(2)], id(7), |p| Ok((p != at(2)).then_some((id(3), ()))));
    assert!(matches!(missing, Err(crate::LedgerError::Corrupt { position, .. }) if position == at(2)), "{missing:?}");
    let found =
        super::first_confirmed(vec![at(1), at(2), at(3)], id(7), |p| Ok(Some((id(p.get() as u128 * 7 / 2), p))))
            .expect("reads");
    assert_eq!(found, Some((at(2), at(2))), "the first candidate with the id");
}
