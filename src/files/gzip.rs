//! Gzip for the JSON files rnn-sentiment writes (models, checkpoints): a name ending in `.gz`
//! is written compressed, and a file that starts with gzip's magic bytes is read decompressed
//! whatever its name, so a renamed file still loads.
//!
//! - **Deterministic**: the header carries no time stamp and no file name, the level is fixed
//!   ([`LEVEL`]) and the encoder is pinned by Cargo.lock, so the same model gives the same
//!   bytes, compressed as well as plain.
//! - **Bounded on what it expands to**: the decompressed size is the one that costs memory, so
//!   readers put their limit on the [`Decoder`]'s output (`Read::take`); a small file that
//!   expands without end (a gzip bomb) is refused once it passes the limit, never read whole.
//! - **Concatenated members** (`cat a.gz b.gz`, what `bgzip` writes) read as one stream, as
//!   `gunzip` reads them.

use std::io::{self, BufRead, Read, Write};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;
use flate2::{Compression, GzBuilder};

/// The first two bytes of every gzip file (RFC 1952).
pub const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The deflate level written: 1, the fastest. A model is mostly shortest-form decimal digits,
/// which no level squeezes much: on the 28 MB MR model level 1 keeps 45 % in 0.3 s, level 6
/// (zlib's default) 40 % in 3 s, level 9 40 % in 5.6 s. Ten times the wait for a tenth of
/// the size is a poor trade when a checkpoint (three to four times a model) is written while
/// the user waits at Ctrl-C; reading takes as long at every level.
pub const LEVEL: u32 = 1;

/// Whether a file with this name is written gzip-compressed: its extension is `gz`, in any
/// case (`model.json.gz`, `model.json.GZ`).
pub fn is_gzip_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// Whether bytes read from the start of a file are gzip's.
pub fn is_gzip(start: &[u8]) -> bool {
    start.starts_with(&MAGIC)
}

/// `bytes` as one gzip member with no time stamp and no file name, at [`LEVEL`].
pub fn compress(bytes: &[u8]) -> io::Result<Vec<u8>> {
    // Models and checkpoints compress to 44-46 %: room for half, grown only for odder input.
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::with_capacity(bytes.len() / 2), Compression::new(LEVEL));
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// A gzip stream read decompressed. A damaged or cut-short stream is an error saying so, in
/// the words of a user who was given a file, not of the deflate format.
pub struct Decoder<R: BufRead>(MultiGzDecoder<R>);

impl<R: BufRead> Decoder<R> {
    /// Decompresses `reader`, which starts at the gzip header.
    pub fn new(reader: R) -> Self {
        Self(MultiGzDecoder::new(reader))
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let what = match e.kind() {
                io::ErrorKind::UnexpectedEof => "cut short",
                _ => "damaged",
            };
            io::Error::new(
                e.kind(),
                format!(
                    "its gzip data is {what} ({e}); it may be from an interrupted copy or \
                     download: copy or write it again (`gzip -t FILE` checks a gzip file)"
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decompress(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Decoder::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn compressed_bytes_read_back_and_are_the_same_every_time() {
        let json = br#"{"format":"rnn-sentiment","data":[0.125,-0.5,1e-7]}"#.repeat(100);
        let gz = compress(&json).unwrap();
        assert!(is_gzip(&gz) && gz.len() < json.len() / 10);
        // No time stamp (bytes 4-7), no name flag (byte 3), "unknown" operating system.
        assert_eq!(gz[3], 0);
        assert_eq!(&gz[4..8], &[0, 0, 0, 0]);
        assert_eq!(gz[9], 255);
        assert_eq!(compress(&json).unwrap(), gz);
        assert_eq!(decompress(&gz).unwrap(), json);
        // Two members concatenated read as one stream, as gunzip reads them.
        let twice = [gz.clone(), gz.clone()].concat();
        assert_eq!(decompress(&twice).unwrap(), [json.clone(), json].concat());
    }

    #[test]
    fn damaged_and_cut_streams_are_errors_that_say_so() {
        let gz = compress(&b"{\"a\": [1, 2, 3]}".repeat(50)).unwrap();
        let e = decompress(&gz[..gz.len() / 2]).unwrap_err().to_string();
        assert!(e.contains("gzip data is cut short"), "{e}");
        let mut flipped = gz.clone();
        // A byte of the trailer's checksum: the data inflates, the check fails.
        let at = gz.len() - 6;
        flipped[at] ^= 0x55;
        let e = decompress(&flipped).unwrap_err().to_string();
        assert!(e.contains("gzip data is damaged"), "{e}");
    }

    #[test]
    fn names_ending_in_gz_are_written_compressed() {
        for (name, gz) in [
            ("m.json.gz", true),
            ("m.json.GZ", true),
            ("dir/m.gz", true),
            ("m.json", false),
            ("m.gzip", false),
            ("m.json.gz.ckpt", false),
            (".gz", false),
        ] {
            assert_eq!(is_gzip_name(Path::new(name)), gz, "{name}");
        }
    }
}
