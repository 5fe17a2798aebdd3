//! A writer that takes the CRC-32 of what passes through it: the guard against damage of the
//! files kept beside the log as caches, written as they are encoded – the ledger's kept indexes
//! (`INDEXES`) and the projections' start-up snapshot.

use std::io::Write;

/// Writes to `W`, keeping the CRC-32 (`crc32fast`) of every byte written through.
#[derive(Debug)]
pub struct Crc32Writer<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Crc32Writer<W> {
    /// A writer to `inner`, its checksum of nothing yet.
    pub fn new(inner: W) -> Self {
        Self { inner, crc: crc32fast::Hasher::new() }
    }

    /// The writer it wrote to, and the CRC-32 of what was written through it.
    pub fn finish(self) -> (W, u32) {
        (self.inner, self.crc.finalize())
    }
}

impl<W: Write> Write for Crc32Writer<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.crc.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::Crc32Writer;

    /// Written in pieces, the bytes arrive whole and the checksum is that of all of them.
    #[test]
    fn the_checksum_is_that_of_every_byte_written_through() {
        let mut out = Crc32Writer::new(Vec::new());
        out.write_all(b"samverkan ").expect("writes");
        out.write_all(b"ledger").expect("writes");
        let (bytes, crc) = out.finish();
        assert_eq!(bytes, b"samverkan ledger");
        assert_eq!(crc, crc32fast::hash(b"samverkan ledger"));
        assert_ne!(crc, crc32fast::hash(b"samverkan"));
    }
}
