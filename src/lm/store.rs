//! The token stream of a corpus, in memory up to a bound and in a temporary file beyond it,
//! so that pretraining's memory does not grow with the corpus.
//!
//! Values are written once, in order ([`IdStore::push`]), then read back by position
//! ([`IdStore::read`]). Past `memory_ids` values everything moves to an anonymous temporary
//! file (deleted when the store is dropped, or by the OS if the process dies) of little-endian
//! `u32`s, read with positioned reads so chunks of different rows can be fetched in any order.

use std::fs::File;
use std::io::{BufWriter, Write};
#[cfg(unix)]
use std::os::unix::fs::FileExt;

use crate::error::{Error, Result};

/// A write-once, read-by-position sequence of `u32`.
#[derive(Debug)]
pub struct IdStore {
    memory: Vec<u32>,
    memory_ids: usize,
    file: Option<BufWriter<File>>,
    /// The file once writing has finished.
    finished: Option<File>,
    len: u64,
}

impl IdStore {
    /// A store that keeps up to `memory_ids` values in memory.
    pub fn new(memory_ids: usize) -> Self {
        Self {
            memory: Vec::new(),
            memory_ids,
            file: None,
            finished: None,
            len: 0,
        }
    }

    /// Appends a value.
    pub fn push(&mut self, id: u32) -> Result<()> {
        self.len += 1;
        if let Some(file) = &mut self.file {
            return file.write_all(&id.to_le_bytes()).map_err(spill_error);
        }
        if self.memory.len() < self.memory_ids {
            self.memory.push(id);
            return Ok(());
        }
        // Past the bound: move what memory holds to a file and continue there.
        let mut file = BufWriter::new(tempfile::tempfile().map_err(spill_error)?);
        for &v in &self.memory {
            file.write_all(&v.to_le_bytes()).map_err(spill_error)?;
        }
        file.write_all(&id.to_le_bytes()).map_err(spill_error)?;
        self.memory = Vec::new();
        self.file = Some(file);
        Ok(())
    }

    /// Ends writing; the store is then read-only.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(file) = self.file.take() {
            let file = file.into_inner().map_err(|e| spill_error(e.into_error()))?;
            self.finished = Some(file);
        }
        Ok(())
    }

    /// Values stored.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the values live in a temporary file.
    pub fn spilled(&self) -> bool {
        self.file.is_some() || self.finished.is_some()
    }

    /// `len` values from position `start` (after [`Self::finish`]).
    pub fn read(&self, start: u64, len: usize) -> Result<Vec<u32>> {
        debug_assert!(start + len as u64 <= self.len);
        let Some(file) = &self.finished else {
            let s = start as usize;
            return Ok(self.memory[s..s + len].to_vec());
        };
        let mut bytes = vec![0u8; len * 4];
        read_at(file, &mut bytes, start * 4).map_err(spill_error)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

fn spill_error(e: std::io::Error) -> Error {
    Error::Io {
        action: "cannot use the temporary file of the token stream in",
        path: std::env::temp_dir(),
        cause: e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_past_its_bound_reads_back_what_was_written() {
        for bound in [0, 5, 1000] {
            let mut store = IdStore::new(bound);
            for i in 0..100u32 {
                store.push(i * 7).unwrap();
            }
            store.finish().unwrap();
            assert_eq!(store.spilled(), bound < 100);
            assert_eq!(store.len(), 100);
            assert_eq!(store.read(10, 3).unwrap(), [70, 77, 84]);
            assert_eq!(store.read(99, 1).unwrap(), [693]);
        }
    }
}
