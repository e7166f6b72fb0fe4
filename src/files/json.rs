//! JSON files of the model and checkpoint formats on disk: read within a limit (gzip
//! decompressed whatever the name, a large file in two halves at once) and written atomically
//! (gzip-compressed when the name ends in `.gz`). Below every format: it knows bytes, not
//! models.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{gzip, Role};
use crate::error::{Error, Result};

/// Files of more than this many bytes are read in two halves at once.
const PARALLEL_BYTES: usize = 1 << 20;

/// Writes a JSON file (a model or a checkpoint) atomically: as it is, or gzip-compressed when
/// its name ends in `.gz` (`model.json.gz`), so the name says what the bytes are.
pub fn write_file(path: &Path, json: &[u8], role: Role) -> Result<()> {
    if !gzip::is_gzip_name(path) {
        return crate::files::write_atomic(path, json, role);
    }
    let bytes = gzip::compress(json).map_err(|e| Error::io_role("cannot write", role, path, e))?;
    crate::files::write_atomic(path, &bytes, role)
}

/// Reads the JSON text of a model or a checkpoint, at most `limit` bytes of it. A file that
/// starts with gzip's magic bytes is decompressed, whatever its name, and `limit` bounds what
/// it expands to: that is what is held in memory, and a small file can expand without end.
pub fn read_file(path: &Path, limit: u64, role: Role) -> Result<Vec<u8>> {
    let fail = |e| Error::io_role("cannot read", role, path, e);
    let file = File::open(path).map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if meta.is_dir() {
        return Err(fail(std::io::Error::other(
            "it is a directory; give the path of a file",
        )));
    }
    // Compressed or not, a file larger than the limit cannot hold a document within it.
    if meta.is_file() && meta.len() > limit {
        return Err(Error::TooLarge {
            role,
            path: path.to_path_buf(),
            what: "the file",
            limit,
        });
    }
    let mut reader = BufReader::with_capacity(READ_BLOCK, file);
    if gzip::is_gzip(reader.fill_buf().map_err(fail)?) {
        let decoder = BufReader::with_capacity(READ_BLOCK, gzip::Decoder::new(reader));
        return read_json(decoder, path, (limit, "its decompressed content"), role);
    }
    #[cfg(unix)]
    if let Some(bytes) = read_in_halves(reader.get_ref(), &meta) {
        return Ok(bytes);
    }
    read_json(reader, path, (limit, "the file"), role)
}

/// The block in which [`read_file`] looks for gzip's magic bytes and JSON's opening brace.
const READ_BLOCK: usize = 1 << 16;

/// A large regular file read whole in two halves at once, or `None` for anything else (a
/// pipe, a device, a file that changed length), which is then read plainly. Its buffer is
/// fresh memory, and filling it costs a page fault per 4 KiB (about 2.7 us each on a VM, 15 ms
/// of the 20 ms it takes to read a 23 MB model), which two threads take in parallel.
#[cfg(unix)]
fn read_in_halves(file: &File, meta: &std::fs::Metadata) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let len = usize::try_from(meta.len()).ok()?;
    if !meta.is_file() || len < PARALLEL_BYTES || rayon::current_num_threads() < 2 {
        return None;
    }
    // Zeroed memory comes from calloc, so the pages are first touched by the reads.
    let mut bytes = vec![0u8; len];
    let (head, tail) = bytes.split_at_mut(len / 2);
    let (a, b) = rayon::join(
        || file.read_exact_at(head, 0),
        || file.read_exact_at(tail, (len / 2) as u64),
    );
    // All of it: nothing past the length read at the start.
    let whole = a.is_ok() && b.is_ok() && matches!(file.read_at(&mut [0u8], len as u64), Ok(0));
    whole.then_some(bytes)
}

/// Reads a JSON document from `reader` within `limit` (and what it bounds, for the error); a
/// stream that does not start like JSON (`/dev/zero`) is refused after its first block.
fn read_json(
    mut reader: impl BufRead,
    path: &Path,
    limit: (u64, &'static str),
    role: Role,
) -> Result<Vec<u8>> {
    let start = reader
        .fill_buf()
        .map_err(|e| Error::io_role("cannot read", role, path, e))?;
    let first = start
        .strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(start)
        .iter()
        .find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        return Err(Error::Model {
            path: path.to_path_buf(),
            message: format!(
                "not valid JSON (it starts with byte 0x{:02x}); give a {role} written by \
                 rnn-sentiment",
                first.copied().unwrap_or_default()
            ),
        });
    }
    crate::files::read_limited_from(reader, path, limit, role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_read_in_halves_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            1000,
            PARALLEL_BYTES,
            PARALLEL_BYTES + 1,
            3 * PARALLEL_BYTES + 7,
        ] {
            // JSON files start with `{`; what follows is any bytes.
            let bytes: Vec<u8> = (0..len)
                .map(|i| if i == 0 { b'{' } else { (i * 7 % 251) as u8 })
                .collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(
                read_file(&path, 1 << 30, "model file").unwrap(),
                bytes,
                "{len}"
            );
        }
        let missing = dir.path().join("missing");
        let e = read_file(&missing, 1 << 30, "model file").unwrap_err();
        assert!(e.to_string().starts_with("cannot read model file"), "{e}");
    }

    #[test]
    fn json_files_are_read_within_their_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        std::fs::write(&path, "{\"a\": 1}").unwrap();
        assert!(read_file(&path, 8, "model file").is_ok());
        let e = read_file(&path, 7, "checkpoint").unwrap_err().to_string();
        assert!(
            e.contains("checkpoint") && e.contains("limit of 7 bytes"),
            "{e}"
        );
        std::fs::write(&path, "a,b\n").unwrap();
        let e = read_file(&path, 100, "model file").unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        // An endless stream that is not JSON is refused after its first block.
        if std::path::Path::new("/dev/zero").exists() {
            let e = read_file(std::path::Path::new("/dev/zero"), 1 << 40, "model file")
                .unwrap_err()
                .to_string();
            assert!(e.contains("0x00"), "{e}");
        }
    }
}
