//! The log's Merkle tree (RFC 6962 §2.1): leaves, stored hashes, roots and proofs.
//!
//! **Leaf *i* is the event at position *i*+1.** Its bytes are the RFC 8785 (JCS) canonical form of
//! the event's JSON exactly as `export` writes it (API.md §4, every field), so anyone can recompute
//! them from an exported line in any language: parse the line, canonicalise it, hash
//! `SHA-256(0x00 ‖ bytes)`. Interior nodes are `SHA-256(0x01 ‖ left ‖ right)`.
//!
//! **Storage** follows Go's `sumdb/tlog` (through `tlog_tiles`, a port of it): every hash of every
//! complete subtree, at its "stored hash index", in the sled tree `tree_hashes` (a run of
//! consecutive hashes per commit group, `store/layout.rs`), written in the same transaction as the
//! events it covers; `meta/tree_size` names how many leaves they cover. A root,
//! an inclusion proof or a consistency proof then reads at most a few dozen stored hashes, and a
//! C2SP hash tile is 256 consecutive stored hashes of one level.
//!
//! [`MemoryTree`] is the same tree in memory, for the auditor (`audit`), which trusts nothing stored.

pub mod checkpoint;
pub mod cosignature;

use tlog_tiles::HashReader;
pub use tlog_tiles::{EMPTY_HASH, Hash as TreeHash, Tile};

use crate::error::{LedgerError, Result};
use crate::event::RecordedEvent;
use crate::id::Position;

/// The largest leaf, in bytes: an entry of a C2SP entry bundle carries a 16-bit length.
pub const MAX_LEAF_BYTES: usize = u16::MAX as usize;

/// The height of a C2SP tile: 256 hashes (tlog-tiles fixes it at 8).
pub const TILE_HEIGHT: u8 = 8;

/// The leaf bytes of an event: the RFC 8785 canonical form of its export JSON.
pub fn leaf_bytes(event: &RecordedEvent) -> Result<Vec<u8>> {
    crate::jsonl::canonical_json(event)
}

/// The leaf bytes of one exported line (any JSON object; its key order and spacing do not matter).
pub fn leaf_bytes_of_line(line: &str) -> std::result::Result<Vec<u8>, String> {
    let json: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    if !json.is_object() {
        return Err("not a JSON object".into());
    }
    crate::jsonl::canonical_value(&json).map_err(|e| e.to_string())
}

/// `SHA-256(0x00 ‖ bytes)`, the RFC 6962 leaf hash.
pub fn leaf_hash(bytes: &[u8]) -> TreeHash {
    tlog_tiles::record_hash(bytes)
}

/// The leaf hash of an event, checking that its leaf fits an entry bundle.
pub(crate) fn event_leaf_hash(event: &RecordedEvent) -> Result<TreeHash> {
    let bytes = leaf_bytes(event)?;
    if bytes.len() > MAX_LEAF_BYTES {
        return Err(LedgerError::InvalidEvent(format!(
            "{} is {} bytes in its canonical JSON form; the limit is {MAX_LEAF_BYTES}",
            event.type_name(),
            bytes.len()
        )));
    }
    Ok(leaf_hash(&bytes))
}

/// A proof request the tree cannot answer, in words for the caller.
pub(crate) fn bad_request(reason: impl Into<String>) -> LedgerError {
    LedgerError::Proof(reason.into())
}

/// A failure inside the tree code: the stored hashes do not add up.
fn tree_error(e: tlog_tiles::Error) -> LedgerError {
    LedgerError::Corrupt { position: Position::new(0), reason: format!("Merkle tree: {e}") }
}

/// Stored hashes: the base a tree reads from.
pub(crate) trait Stored {
    /// The hashes at `indexes`, or an error if one is missing.
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<TreeHash>>;
}

/// Adapts [`Stored`] to `tlog_tiles`' reader, keeping our error.
struct Reader<'a, S: Stored + ?Sized> {
    stored: &'a S,
    error: std::cell::RefCell<Option<LedgerError>>,
}

impl<'a, S: Stored + ?Sized> Reader<'a, S> {
    fn new(stored: &'a S) -> Self {
        Self { stored, error: std::cell::RefCell::new(None) }
    }

    /// Our error if the reader failed, else the tree's.
    fn error(&self, e: tlog_tiles::Error) -> LedgerError {
        self.error.borrow_mut().take().unwrap_or_else(|| tree_error(e))
    }
}

impl<S: Stored + ?Sized> HashReader for Reader<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> std::result::Result<Vec<TreeHash>, tlog_tiles::Error> {
        self.stored.hashes(indexes).map_err(|e| {
            *self.error.borrow_mut() = Some(e);
            tlog_tiles::Error::IndexesNotInTree
        })
    }
}

/// The root of the tree of `size` leaves over `stored`.
pub(crate) fn root<S: Stored + ?Sized>(stored: &S, size: u64) -> Result<TreeHash> {
    let reader = Reader::new(stored);
    tlog_tiles::tree_hash(size, &reader).map_err(|e| reader.error(e))
}

/// The RFC 6962 audit path of leaf `index` in the tree of `size` leaves.
pub(crate) fn inclusion<S: Stored + ?Sized>(stored: &S, index: u64, size: u64) -> Result<Vec<TreeHash>> {
    if index >= size {
        return Err(bad_request(format!("leaf {index} is not in a tree of {size} leaves (leaves count from 0)")));
    }
    let reader = Reader::new(stored);
    tlog_tiles::prove_record(size, index, &reader).map_err(|e| reader.error(e))
}

/// The RFC 6962 consistency proof from the tree of `old` leaves to the tree of `new`.
pub(crate) fn consistency<S: Stored + ?Sized>(stored: &S, old: u64, new: u64) -> Result<Vec<TreeHash>> {
    if old == 0 || old > new {
        return Err(bad_request(format!("a consistency proof needs 1 ≤ from ≤ to, got from {old} and to {new}")));
    }
    let reader = Reader::new(stored);
    tlog_tiles::prove_tree(new, old, &reader).map_err(|e| reader.error(e))
}

/// The C2SP hash tile at `level`, `index`, `width` hashes wide (1–256), of the tree of `size`
/// leaves: the concatenated hashes at tree level `8·level`, nodes `256·index ..+ width`.
pub(crate) fn hash_tile<S: Stored + ?Sized>(
    stored: &S,
    level: u8,
    index: u64,
    width: u32,
    size: u64,
) -> Result<Vec<u8>> {
    let full = 1u64 << TILE_HEIGHT;
    if width == 0 || u64::from(width) > full || level > 7 {
        return Err(bad_request(format!("there is no tile {level}/{index} of width {width}")));
    }
    // How many complete nodes the tree has at that level.
    let shift = u32::from(TILE_HEIGHT) * u32::from(level);
    let nodes = if shift >= 64 { 0 } else { size >> shift };
    let end = index.checked_mul(full).and_then(|start| start.checked_add(u64::from(width)));
    if end.is_none_or(|end| end > nodes) {
        return Err(bad_request(format!("tile {level}/{index} of width {width} is beyond the tree of {size} leaves")));
    }
    let tile = tlog_tiles::Tile::new(TILE_HEIGHT, level, index, width, false);
    let reader = Reader::new(stored);
    tile.read_data(&reader).map_err(|e| reader.error(e))
}

/// Checks an inclusion proof: leaf `index` with hash `leaf` is in the tree of `size` leaves whose
/// root is `root`.
pub fn check_inclusion(proof: &[TreeHash], size: u64, root: TreeHash, index: u64, leaf: TreeHash) -> bool {
    index < size && tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf).is_ok()
}

/// Checks a consistency proof: the tree of `new` leaves with root `new_root` extends the tree of
/// `old` leaves with root `old_root`.
pub fn check_consistency(proof: &[TreeHash], old: u64, old_root: TreeHash, new: u64, new_root: TreeHash) -> bool {
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    (1..new).contains(&old) && tlog_tiles::check_tree(&proof.to_vec(), new, new_root, old, old_root).is_ok()
}

/// The hashes to store after `leaves` are appended to a tree of `size` leaves over `base`: the
/// first is stored at index `stored_hash_count(size)`, the rest follow it.
pub(crate) struct Growth<'a, S: Stored + ?Sized> {
    base: &'a S,
    start: u64,
    size: u64,
    added: Vec<TreeHash>,
}

impl<'a, S: Stored + ?Sized> Growth<'a, S> {
    /// Growth of the tree of `size` leaves stored in `base`.
    pub(crate) fn new(base: &'a S, size: u64) -> Self {
        Self { base, start: tlog_tiles::stored_hash_count(size), size, added: Vec::new() }
    }

    /// Appends one leaf.
    pub(crate) fn push(&mut self, leaf: TreeHash) -> Result<()> {
        let hashes = {
            let reader = Reader::new(&*self);
            tlog_tiles::stored_hashes_for_record_hash(self.size, leaf, &reader).map_err(|e| reader.error(e))?
        };
        self.added.extend(hashes);
        self.size += 1;
        Ok(())
    }

    /// The size after the pushes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The root after the pushes.
    pub(crate) fn root(&self) -> Result<TreeHash> {
        root(self, self.size)
    }

    /// The new stored hashes with their indexes.
    pub(crate) fn added(&self) -> impl Iterator<Item = (u64, &TreeHash)> {
        (self.start..).zip(self.added.iter())
    }
}

impl<S: Stored + ?Sized> Stored for Growth<'_, S> {
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<TreeHash>> {
        let old: Vec<u64> = indexes.iter().copied().filter(|i| *i < self.start).collect();
        let mut old = self.base.hashes(&old)?.into_iter();
        indexes
            .iter()
            .map(|i| {
                if *i < self.start {
                    old.next().ok_or_else(|| tree_error(tlog_tiles::Error::IndexesNotInTree))
                } else {
                    usize::try_from(*i - self.start)
                        .ok()
                        .and_then(|at| self.added.get(at).copied())
                        .ok_or_else(|| tree_error(tlog_tiles::Error::IndexesNotInTree))
                }
            })
            .collect()
    }
}

/// The whole tree in memory: what an auditor builds from leaves it recomputed itself.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    hashes: Vec<TreeHash>,
    size: u64,
}

impl Stored for Vec<TreeHash> {
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<TreeHash>> {
        indexes
            .iter()
            .map(|i| {
                usize::try_from(*i)
                    .ok()
                    .and_then(|i| self.get(i).copied())
                    .ok_or_else(|| tree_error(tlog_tiles::Error::IndexesNotInTree))
            })
            .collect()
    }
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf by its hash.
    pub fn push(&mut self, leaf: TreeHash) -> Result<()> {
        let reader = Reader::new(&self.hashes);
        let new = tlog_tiles::stored_hashes_for_record_hash(self.size, leaf, &reader).map_err(|e| reader.error(e))?;
        self.hashes.extend(new);
        self.size += 1;
        Ok(())
    }

    /// How many leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<TreeHash> {
        if size > self.size {
            return Err(bad_request(format!("the tree has {} leaves, not {size}", self.size)));
        }
        root(&self.hashes, size)
    }

    /// The audit path of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<TreeHash>> {
        if size > self.size {
            return Err(bad_request(format!("the tree has {} leaves, not {size}", self.size)));
        }
        inclusion(&self.hashes, index, size)
    }

    /// The consistency proof from the first `old` leaves to the first `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>> {
        if new > self.size {
            return Err(bad_request(format!("the tree has {} leaves, not {new}", self.size)));
        }
        consistency(&self.hashes, old, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's tree hash, written out recursively from §2.1: the reference the stored-hash
    /// arithmetic must agree with.
    fn reference_root(leaves: &[TreeHash]) -> TreeHash {
        match leaves.len() {
            0 => EMPTY_HASH,
            1 => leaves[0],
            n => {
                // The largest power of two smaller than n.
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                tlog_tiles::node_hash(reference_root(&leaves[..k]), reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<TreeHash> {
        (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect()
    }

    #[test]
    fn roots_match_the_rfc_definition_and_growth_matches_memory() {
        let all = leaves(70);
        let mut tree = MemoryTree::new();
        for (i, leaf) in all.iter().enumerate() {
            assert_eq!(tree.root(i as u64).ok(), Some(reference_root(&all[..i])), "size {i}");
            tree.push(*leaf).ok();
        }
        // Growing a stored tree in two steps stores exactly what growing it at once does.
        let mut first = MemoryTree::new();
        for leaf in &all[..33] {
            first.push(*leaf).ok();
        }
        let mut growth = Growth::new(&first.hashes, 33);
        for leaf in &all[33..] {
            growth.push(*leaf).ok();
        }
        let mut stored = first.hashes.clone();
        stored.extend(growth.added().map(|(_, h)| *h));
        assert_eq!(stored, tree.hashes);
        assert_eq!(growth.root().ok(), Some(reference_root(&all)));
    }

    #[test]
    fn proofs_check_and_wrong_ones_do_not() {
        let all = leaves(37);
        let mut tree = MemoryTree::new();
        for leaf in &all {
            tree.push(*leaf).ok();
        }
        for size in 1..=37u64 {
            let root = tree.root(size).unwrap_or(EMPTY_HASH);
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size).unwrap_or_default();
                assert!(check_inclusion(&proof, size, root, index, all[index as usize]));
                assert!(!check_inclusion(&proof, size, root, index, all[(index as usize + 1) % 37]) || size == 1);
            }
            for old in 1..=size {
                let proof = tree.consistency_proof(old, size).unwrap_or_default();
                let old_root = tree.root(old).unwrap_or(EMPTY_HASH);
                assert!(check_consistency(&proof, old, old_root, size, root), "{old} → {size}");
                if old < size {
                    assert!(!check_consistency(&proof, old, leaf_hash(b"other"), size, root));
                }
            }
        }
        assert!(matches!(tree.inclusion_proof(5, 5), Err(LedgerError::Proof(_))));
        assert!(matches!(tree.consistency_proof(0, 5), Err(LedgerError::Proof(_))));
        assert!(matches!(tree.consistency_proof(6, 5), Err(LedgerError::Proof(_))));
    }

    #[test]
    fn hash_tiles_are_the_level_hashes() {
        let mut tree = MemoryTree::new();
        for leaf in leaves(300) {
            tree.push(leaf).ok();
        }
        let tile = hash_tile(&tree.hashes, 0, 0, 256, 300).unwrap_or_default();
        assert_eq!(tile.len(), 256 * 32);
        assert_eq!(&tile[..32], leaf_hash(b"leaf 0").0.as_slice());
        let partial = hash_tile(&tree.hashes, 0, 1, 44, 300).unwrap_or_default();
        assert_eq!(&partial[..32], leaf_hash(b"leaf 256").0.as_slice());
        assert!(hash_tile(&tree.hashes, 0, 1, 45, 300).is_err());
        assert!(hash_tile(&tree.hashes, 1, 0, 1, 300).unwrap_or_default().len() == 32);
        assert!(hash_tile(&tree.hashes, 1, 0, 2, 300).is_err());
        assert!(hash_tile(&tree.hashes, 0, u64::MAX, 1, 300).is_err());
    }
}
