//! The power-loss replayer: reads the trace `tests/shim/record_io.c` records and rebuilds, for each
//! completed `fsync`/`fdatasync`, the directory a power cut right after it would leave.
//!
//! The crash model, deliberately conservative ("only what a sync covered survives"):
//! - A file's data (writes, truncations, `O_TRUNC`) survives only once an `fsync` or `fdatasync` of
//!   that file (any descriptor of the same inode) has returned 0, and only the operations recorded
//!   before that call began; every later or unsynced one is dropped. `sync_file_range` makes nothing
//!   durable (it neither flushes the drive's cache nor the file's size).
//! - A directory entry (a create, `mkdir`, `rename`, `unlink`, `rmdir`) survives only once an
//!   `fsync` of its directory has returned 0, with the same rule; a file's own `fsync` does not make
//!   its name durable. A rename within one directory is atomic; one between directories is an
//!   unlink in the one and a link in the other, each durable with its own directory.
//! - The recorded directory itself exists (the test makes it before the first run).
//!
//! What it does not cover (ALICE and LazyFS explore more): an arbitrary subset or a prefix of the
//! unsynced operations surviving (each boundary is one state, "nothing unsynced"; the SIGKILL tests
//! cover "everything written survives"), reordered or torn writes within a file, a drive that lies
//! about its cache flush, and file systems that persist a file's name with its `fsync` (ext4 and XFS
//! do; the model is stricter). A trace holding an operation outside the model (a shared writable
//! `mmap`, `fallocate`, a rename across the directory's edge) is refused, not guessed at.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One recorded operation (the kinds of `record_io.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Open { flags: i32, ino: u64, path: PathBuf },
    Write { ino: u64, offset: u64, data: Vec<u8> },
    Truncate { ino: u64, len: u64 },
    Sync { how: SyncCall, ino: u64, began: u64, result: i32, path: PathBuf },
    Rename { from: PathBuf, to: PathBuf },
    Unlink { path: PathBuf },
    Mkdir { path: PathBuf },
    Rmdir { path: PathBuf },
    Out { data: Vec<u8> },
    Unknown { what: String },
}

/// Which sync call a `Sync` record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncCall {
    Fsync,
    Fdatasync,
    SyncFileRange,
}

/// A record: its sequence number and operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) seq: u64,
    pub(crate) op: Op,
}

const O_CREAT: i32 = 0o100;
const O_TRUNC: i32 = 0o1000;

/// Parses a whole trace.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let mut r = Reader { bytes, at: 0 };
    let mut records = Vec::new();
    while r.at < bytes.len() {
        let kind = r.u8()?;
        let seq = r.u64()?;
        let op = match kind {
            1 => Op::Open { flags: r.i32()?, ino: r.u64()?, path: r.path()? },
            2 => Op::Write { ino: r.u64()?, offset: r.u64()?, data: r.bytes()? },
            3 => Op::Truncate { ino: r.u64()?, len: r.u64()? },
            4 => {
                let how = match r.u8()? {
                    0 => SyncCall::Fsync,
                    1 => SyncCall::Fdatasync,
                    2 => SyncCall::SyncFileRange,
                    other => return Err(format!("unknown sync kind {other} at byte {}", r.at)),
                };
                Op::Sync { how, ino: r.u64()?, began: r.u64()?, result: r.i32()?, path: r.path()? }
            }
            5 => Op::Rename { from: r.path()?, to: r.path()? },
            6 => Op::Unlink { path: r.path()? },
            7 => Op::Mkdir { path: r.path()? },
            8 => Op::Rmdir { path: r.path()? },
            9 => Op::Out { data: r.bytes()? },
            10 => Op::Unknown { what: String::from_utf8_lossy(&r.bytes()?).into_owned() },
            other => return Err(format!("unknown record kind {other} at byte {}", r.at - 9)),
        };
        records.push(Record { seq, op });
    }
    Ok(records)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("the trace ends inside a record at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        let mut b = [0; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.u32().map(|v| v as i32)
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut b = [0; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn path(&mut self) -> Result<PathBuf, String> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes).map(PathBuf::from).map_err(|_| "a path that is not UTF-8".to_string())
    }
}

type NodeId = usize;

#[derive(Debug)]
enum DataOp {
    Write { offset: u64, data: Vec<u8> },
    Truncate(u64),
}

#[derive(Debug)]
enum DirOp {
    Link(String, NodeId),
    Unlink(String),
    Rename(String, String),
}

#[derive(Debug, Default)]
struct Node {
    dir: bool,
    /// A file's content as a crash would leave it.
    durable: Vec<u8>,
    /// A file's operations no sync has covered yet.
    pending: Vec<(u64, DataOp)>,
    /// A directory's entries as a crash would leave them.
    entries: BTreeMap<String, NodeId>,
    /// A directory's operations no sync has covered yet.
    pending_entries: Vec<(u64, DirOp)>,
}

/// The recorded directory as the process saw it (live) and as a power cut would leave it (durable).
pub(crate) struct Model {
    nodes: Vec<Node>,
    /// The live namespace: every path under the root (the root itself included) and its node.
    live: HashMap<PathBuf, NodeId>,
    by_ino: HashMap<u64, NodeId>,
}

/// What one record did to the model.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing a crash could observe changed.
    Nothing,
    /// A sync completed: a crash right now leaves the durable state.
    Boundary,
}

impl Model {
    /// A model of `root`, which exists and is empty.
    pub(crate) fn new(root: &Path) -> Self {
        let mut live = HashMap::new();
        live.insert(root.to_path_buf(), 0);
        Self { nodes: vec![Node { dir: true, ..Node::default() }], live, by_ino: HashMap::new() }
    }

    fn split(&self, path: &Path) -> Result<(NodeId, String), String> {
        let parent = path.parent().ok_or_else(|| format!("{} has no parent", path.display()))?;
        let name = path.file_name().ok_or_else(|| format!("{} has no name", path.display()))?;
        let parent = *self
            .live
            .get(parent)
            .ok_or_else(|| format!("{}: its directory was never created under the root", path.display()))?;
        Ok((parent, name.to_string_lossy().into_owned()))
    }

    fn create(&mut self, path: &Path, dir: bool, seq: u64) -> Result<NodeId, String> {
        let (parent, name) = self.split(path)?;
        let id = self.nodes.len();
        self.nodes.push(Node { dir, ..Node::default() });
        self.live.insert(path.to_path_buf(), id);
        self.nodes[parent].pending_entries.push((seq, DirOp::Link(name, id)));
        Ok(id)
    }

    fn remove(&mut self, path: &Path, seq: u64) -> Result<(), String> {
        let (parent, name) = self.split(path)?;
        self.live.remove(path).ok_or_else(|| format!("{} removed but never created", path.display()))?;
        self.nodes[parent].pending_entries.push((seq, DirOp::Unlink(name)));
        Ok(())
    }

    fn node_of(&self, ino: u64, path: &Path) -> Result<NodeId, String> {
        self.by_ino
            .get(&ino)
            .or_else(|| self.live.get(path))
            .copied()
            .ok_or_else(|| format!("inode {ino} ({}) was never opened by path", path.display()))
    }

    /// Applies one record.
    pub(crate) fn apply(&mut self, record: &Record) -> Result<Step, String> {
        let seq = record.seq;
        match &record.op {
            Op::Open { flags, ino, path } => {
                let id = match self.live.get(path) {
                    Some(id) => *id,
                    None if flags & O_CREAT != 0 => self.create(path, false, seq)?,
                    None => return Err(format!("{} opened but never created", path.display())),
                };
                if flags & O_TRUNC != 0 && !self.nodes[id].dir {
                    self.nodes[id].pending.push((seq, DataOp::Truncate(0)));
                }
                self.by_ino.insert(*ino, id);
            }
            Op::Write { ino, offset, data } => {
                let id = *self.by_ino.get(ino).ok_or_else(|| format!("a write to inode {ino}, never opened"))?;
                self.nodes[id].pending.push((seq, DataOp::Write { offset: *offset, data: data.clone() }));
            }
            Op::Truncate { ino, len } => {
                let id = *self.by_ino.get(ino).ok_or_else(|| format!("a truncation of inode {ino}, never opened"))?;
                self.nodes[id].pending.push((seq, DataOp::Truncate(*len)));
            }
            Op::Sync { how: SyncCall::SyncFileRange, .. } | Op::Out { .. } => {}
            Op::Sync { result, .. } if *result != 0 => {}
            Op::Sync { ino, began, path, .. } => {
                let id = self.node_of(*ino, path)?;
                let node = &mut self.nodes[id];
                if node.dir {
                    let covered = node.pending_entries.iter().take_while(|(s, _)| s < began).count();
                    for (_, op) in node.pending_entries.drain(..covered) {
                        match op {
                            DirOp::Link(name, child) => {
                                node.entries.insert(name, child);
                            }
                            DirOp::Unlink(name) => {
                                node.entries.remove(&name);
                            }
                            DirOp::Rename(from, to) => match node.entries.remove(&from) {
                                Some(child) => {
                                    node.entries.insert(to, child);
                                }
                                None => return Err(format!("a durable rename of {from}, which is not durable")),
                            },
                        }
                    }
                } else {
                    let covered = node.pending.iter().take_while(|(s, _)| s < began).count();
                    for (_, op) in node.pending.drain(..covered) {
                        match op {
                            DataOp::Write { offset, data } => {
                                let end = offset as usize + data.len();
                                if node.durable.len() < end {
                                    node.durable.resize(end, 0);
                                }
                                node.durable[offset as usize..end].copy_from_slice(&data);
                            }
                            DataOp::Truncate(len) => node.durable.resize(len as usize, 0),
                        }
                    }
                }
                return Ok(Step::Boundary);
            }
            Op::Rename { from, to } => {
                let id = *self.live.get(from).ok_or_else(|| format!("{} renamed but never created", from.display()))?;
                if self.nodes[id].dir && self.live.keys().any(|p| p != from && p.starts_with(from)) {
                    return Err(format!("{}: renaming a directory with entries is outside the model", from.display()));
                }
                let (from_dir, from_name) = self.split(from)?;
                let (to_dir, to_name) = self.split(to)?;
                self.live.remove(from);
                self.live.insert(to.clone(), id);
                if from_dir == to_dir {
                    self.nodes[from_dir].pending_entries.push((seq, DirOp::Rename(from_name, to_name)));
                } else {
                    self.nodes[from_dir].pending_entries.push((seq, DirOp::Unlink(from_name)));
                    self.nodes[to_dir].pending_entries.push((seq, DirOp::Link(to_name, id)));
                }
            }
            Op::Unlink { path } | Op::Rmdir { path } => self.remove(path, seq)?,
            Op::Mkdir { path } => {
                self.create(path, true, seq)?;
            }
            Op::Unknown { what } => {
                return Err(format!("the trace holds {what}, which the crash model does not cover"));
            }
        }
        Ok(Step::Nothing)
    }

    /// Writes the durable state into `into` (an empty directory standing for the root).
    pub(crate) fn materialize(&self, into: &Path) -> std::io::Result<()> {
        self.materialize_dir(0, into)
    }

    fn materialize_dir(&self, id: NodeId, into: &Path) -> std::io::Result<()> {
        for (name, child) in &self.nodes[id].entries {
            let path = into.join(name);
            if self.nodes[*child].dir {
                std::fs::create_dir(&path)?;
                self.materialize_dir(*child, &path)?;
            } else {
                std::fs::write(&path, &self.nodes[*child].durable)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, op: Op) -> Record {
        Record { seq, op }
    }

    fn durable(model: &Model) -> BTreeMap<String, Vec<u8>> {
        let dir = tempfile::tempdir().expect("tempdir");
        model.materialize(dir.path()).expect("materialize");
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(dir.path()).expect("read_dir") {
            let entry = entry.expect("entry");
            let content = std::fs::read(entry.path()).unwrap_or_default();
            out.insert(entry.file_name().to_string_lossy().into_owned(), content);
        }
        out
    }

    fn sync(seq: u64, ino: u64, began: u64, path: &str) -> Record {
        rec(seq, Op::Sync { how: SyncCall::Fdatasync, ino, began, result: 0, path: path.into() })
    }

    #[test]
    fn a_file_keeps_only_what_a_sync_of_it_covered_and_its_name_needs_the_directory_synced() {
        let mut m = Model::new(Path::new("/r"));
        let ops = [
            rec(0, Op::Open { flags: O_CREAT, ino: 7, path: "/r/f".into() }),
            rec(1, Op::Write { ino: 7, offset: 0, data: b"abc".to_vec() }),
            sync(3, 7, 2, "/r/f"),
            rec(4, Op::Write { ino: 7, offset: 3, data: b"def".to_vec() }),
        ];
        for op in &ops {
            m.apply(op).expect("apply");
        }
        assert!(durable(&m).is_empty(), "the name was never synced: the file is not there");
        m.apply(&rec(6, Op::Sync { how: SyncCall::Fsync, ino: 1, began: 5, result: 0, path: "/r".into() }))
            .expect("dir sync");
        assert_eq!(durable(&m).get("f").map(Vec::as_slice), Some(&b"abc"[..]), "the unsynced write is dropped");
        // A write recorded while a sync was running (after it began) is not covered by it.
        m.apply(&rec(8, Op::Write { ino: 7, offset: 0, data: b"X".to_vec() })).expect("write");
        assert_eq!(m.apply(&sync(9, 7, 7, "/r/f")), Ok(Step::Boundary));
        assert_eq!(durable(&m).get("f").map(Vec::as_slice), Some(&b"abcdef"[..]));
        m.apply(&sync(11, 7, 10, "/r/f")).expect("sync");
        assert_eq!(durable(&m).get("f").map(Vec::as_slice), Some(&b"Xbcdef"[..]));
    }

    #[test]
    fn a_rename_survives_only_with_its_directory_sync_and_the_old_content_stays_meanwhile() {
        let mut m = Model::new(Path::new("/r"));
        let dir_sync =
            |seq, began| rec(seq, Op::Sync { how: SyncCall::Fsync, ino: 1, began, result: 0, path: "/r".into() });
        for op in [
            rec(0, Op::Open { flags: O_CREAT, ino: 2, path: "/r/HEAD".into() }),
            rec(1, Op::Write { ino: 2, offset: 0, data: b"old".to_vec() }),
            sync(3, 2, 2, "/r/HEAD"),
            dir_sync(5, 4),
            rec(6, Op::Open { flags: O_CREAT | O_TRUNC, ino: 3, path: "/r/HEAD.tmp".into() }),
            rec(7, Op::Write { ino: 3, offset: 0, data: b"new".to_vec() }),
            sync(9, 3, 8, "/r/HEAD.tmp"),
            rec(10, Op::Rename { from: "/r/HEAD.tmp".into(), to: "/r/HEAD".into() }),
        ] {
            m.apply(&op).expect("apply");
        }
        assert_eq!(durable(&m).get("HEAD").map(Vec::as_slice), Some(&b"old"[..]));
        m.apply(&dir_sync(12, 11)).expect("dir sync");
        let state = durable(&m);
        assert_eq!(state.get("HEAD").map(Vec::as_slice), Some(&b"new"[..]));
        assert!(!state.contains_key("HEAD.tmp"));
    }

    #[test]
    fn an_operation_outside_the_model_is_refused() {
        let mut m = Model::new(Path::new("/r"));
        let refused = m.apply(&rec(0, Op::Unknown { what: "a shared writable mmap".into() }));
        assert!(refused.is_err_and(|e| e.contains("mmap")));
    }
}
