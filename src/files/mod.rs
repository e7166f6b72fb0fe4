//! The files a command reads and writes, made safe to name wrongly.
//!
//! - **Identity**: two paths name the same file when they reach one device and inode (links
//!   followed), or, for a file that does not exist yet, the same name in the same directory.
//!   [`check_distinct`] runs over every input and output of a command before work starts, so
//!   no output can overwrite an input or another output.
//! - **Outputs** ([`check_output`]): a symbolic link, a FIFO, a device or a directory is never
//!   replaced; the check creates a temporary file beside the target and looks at the target's
//!   immutable and append-only flags, so a save that would fail fails before a long run.
//! - **Atomic writes** ([`write_atomic`]): a temporary file created exclusively (`O_EXCL`,
//!   which also refuses a planted link) with an unpredictable name in the target's directory,
//!   written, synced, then renamed over the target. A crash leaves the old file or the new one.
//! - **Bounded reads** ([`read_limited`], [`read_lines_limited`]): every file is read up to a
//!   stated size, and data files up to a stated line length, so an endless input (`/dev/zero`)
//!   ends in an error naming the limit instead of filling memory.
//! - **Gzip** ([`gzip`]): models and checkpoints named `*.gz` are written compressed, and read
//!   decompressed by their magic bytes, within a limit on what they expand to.

use std::fs::{self, File};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub mod gzip;
pub mod json;

/// What a file is to a command, in messages: "model file", "checkpoint", "data file", ...
pub type Role = &'static str;

/// Where a path leads, for telling whether two paths name one file.
#[derive(Clone, Debug, PartialEq, Eq)]
enum FileKey {
    /// An existing file: its device and inode, links followed.
    Inode(u64, u64),
    /// A file that does not exist yet: the canonical path of its nearest existing ancestor
    /// with the rest of the path appended.
    Planned(PathBuf),
}

#[cfg(unix)]
fn inode(meta: &fs::Metadata) -> Option<FileKey> {
    use std::os::unix::fs::MetadataExt;
    Some(FileKey::Inode(meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn inode(_meta: &fs::Metadata) -> Option<FileKey> {
    None
}

fn file_key(path: &Path) -> FileKey {
    if let Ok(meta) = fs::metadata(path) {
        if let Some(key) = inode(&meta) {
            return key;
        }
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // The nearest ancestor that exists, canonical (links resolved), then the missing rest.
    let mut rest = Vec::new();
    let mut base = absolute.as_path();
    loop {
        if let Ok(canonical) = fs::canonicalize(base) {
            let mut planned = canonical;
            planned.extend(rest.iter().rev());
            return FileKey::Planned(planned);
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                base = parent;
            }
            _ => return FileKey::Planned(absolute),
        }
    }
}

/// Whether two paths name one existing file, by the same identity [`check_distinct`] uses.
pub fn same_file(a: &Path, b: &Path) -> bool {
    a.exists() && b.exists() && file_key(a) == file_key(b)
}

/// One file a command reads or writes.
#[derive(Clone, Copy, Debug)]
pub struct Use<'a> {
    pub role: Role,
    pub path: &'a Path,
    pub output: bool,
}

impl<'a> Use<'a> {
    pub fn input(role: Role, path: &'a Path) -> Self {
        Self {
            role,
            path,
            output: false,
        }
    }

    pub fn output(role: Role, path: &'a Path) -> Self {
        Self {
            role,
            path,
            output: true,
        }
    }
}

/// Fails when an output is the same file as an input or as another output. `allowed` lists
/// pairs of roles that may share a file by design (an interrupted run's checkpoint replacing
/// the checkpoint it resumed from). Inputs may share a file with each other.
pub fn check_distinct(uses: &[Use<'_>], allowed: &[(Role, Role)]) -> Result<()> {
    let keys: Vec<FileKey> = uses.iter().map(|u| file_key(u.path)).collect();
    for (i, a) in uses.iter().enumerate() {
        for (j, b) in uses.iter().enumerate().skip(i + 1) {
            let permitted = allowed
                .iter()
                .any(|&(x, y)| (x, y) == (a.role, b.role) || (y, x) == (a.role, b.role));
            if !(a.output || b.output) || permitted || keys[i] != keys[j] {
                continue;
            }
            let (written, other) = if a.output { (a, b) } else { (b, a) };
            return Err(Error::SameFile {
                first_role: a.role,
                first: a.path.to_path_buf(),
                second_role: b.role,
                second: b.path.to_path_buf(),
                advice: format!(
                    "the {} would overwrite the {}; give the {} another path",
                    written.role, other.role, written.role
                ),
            });
        }
    }
    Ok(())
}

/// The directory a file is written in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new temporary file beside `path`: hidden, `.NAME.tmp-PID-RANDOM`, created exclusively.
/// The process id lets a reader tell whose it is; the random part makes it unguessable.
fn temp_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let prefix = format!(".{name}.tmp-{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).rand_bytes(10);
    // As `File::create` makes files: 0666 less the umask, not tempfile's private 0600, so a
    // model is as readable as any file the user writes (a server running as another user).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(parent_dir(path))
}

/// What kind of file a non-regular file is, for messages.
fn kind_of(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        return "a directory";
    }
    "not a regular file"
}

/// Checks, before any work, that [`write_atomic`] can later replace `path`:
/// - an existing `path` must be a regular file: a symbolic link is refused rather than
///   replaced by a regular file (or written through, which would change a file the command
///   was not given), and so are FIFOs, devices and directories;
/// - it must not be immutable or append-only (`chattr +i`/`+a`), which refuse the rename;
/// - the directory must exist and take a new file (one is created and removed).
pub fn check_output(path: &Path, role: Role) -> Result<()> {
    let refuse = |why: String| Error::Output {
        role,
        path: path.to_path_buf(),
        message: why,
    };
    if path.as_os_str().is_empty() || path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return Err(refuse(
            "the path names a directory, not a file; give a file name such as model.json".into(),
        ));
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = fs::read_link(path)
                .map(|t| format!(" to {}", t.display()))
                .unwrap_or_default();
            return Err(refuse(format!(
                "it is a symbolic link{target}; outputs are replaced whole, never written \
                 through a link: give the path of the file itself, or remove the link"
            )));
        }
        Ok(meta) if meta.is_dir() => {
            return Err(refuse(format!(
                "it is a directory; give a file name inside it, e.g. {}",
                path.join("model.json").display()
            )))
        }
        Ok(meta) if !meta.is_file() => {
            return Err(refuse(format!(
                "it is not a regular file ({}); give the path of a regular file",
                kind_of(meta.file_type())
            )))
        }
        Ok(_) => {
            if let Some(flag) = unreplaceable_flag(path) {
                return Err(refuse(format!(
                    "it is {flag}, so it cannot be replaced; clear the flag (chattr -i / -a) \
                     or give another path"
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io_role("cannot write", role, path, e)),
    }
    temp_beside(path).map_err(|e| Error::io_role("cannot write", role, path, e))?;
    Ok(())
}

/// `Some("immutable")` or `Some("append-only")` when the file carries that inode flag.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn unreplaceable_flag(path: &Path) -> Option<&'static str> {
    use std::os::fd::AsRawFd;
    // _IOR('f', 1, long) on 64-bit Linux; the kernel reads and writes an int.
    const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
    const FS_IMMUTABLE_FL: libc::c_int = 0x10;
    const FS_APPEND_FL: libc::c_int = 0x20;
    let file = File::open(path).ok()?;
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int through the pointer, which is valid and aligned
    // for the call; the descriptor is open for its duration. File systems without inode flags
    // return an error, which reads as "no flag".
    let result = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_GETFLAGS as _, &mut flags) };
    if result != 0 {
        return None;
    }
    if flags & FS_IMMUTABLE_FL != 0 {
        Some("immutable")
    } else if flags & FS_APPEND_FL != 0 {
        Some("append-only")
    } else {
        None
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn unreplaceable_flag(_path: &Path) -> Option<&'static str> {
    None
}

/// Writes `bytes` to `path` through an exclusive temporary file and a rename in the same
/// directory (see the module docs). Runs [`check_output`]'s checks again first: the target
/// may have changed since the start.
pub fn write_atomic(path: &Path, bytes: &[u8], role: Role) -> Result<()> {
    check_output(path, role)?;
    let fail = |e: io::Error| Error::io_role("cannot write", role, path, e);
    let mut temp = temp_beside(path).map_err(fail)?;
    temp.write_all(bytes).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    // Make the rename itself durable; not every platform can open a directory.
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The error for a file longer than its limit; `what` says what was measured ("the file",
/// "its decompressed content").
fn too_large(role: Role, path: &Path, what: &'static str, limit: u64) -> Error {
    Error::TooLarge {
        role,
        path: path.to_path_buf(),
        what,
        limit,
    }
}

/// Reads a whole file of at most `limit` bytes; a longer one (or an endless stream) is an
/// error naming the limit, found after reading `limit + 1` bytes at most.
pub fn read_limited(path: &Path, limit: u64, role: Role) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io_role("cannot read", role, path, e))?;
    read_limited_from(file, path, (limit, "the file"), role)
}

/// [`read_limited`] from an open reader; `path` names it in messages, and the limit comes with
/// what it bounds ("the file", or for a decompressing reader "its decompressed content").
///
/// Memory never grows past `limit` + 1 bytes, however long the stream: the buffer doubles up
/// to that and no further, and is zeroed a [`READ_CHUNK`] at a time, just ahead of the reads.
/// (`read_to_end` doubles past any limit and zero-fills what it reserved for a reader that
/// cannot take uninitialised memory, as a decompressor cannot: a gzip bomb stopped at the
/// 4 GiB model limit held 8.4 GB that way.)
pub fn read_limited_from(
    mut reader: impl Read,
    path: &Path,
    (limit, what): (u64, &'static str),
    role: Role,
) -> Result<Vec<u8>> {
    let most = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    // bytes[..filled] is what was read; the rest of `bytes` is zeroed room for the next read.
    let mut bytes = Vec::new();
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            if bytes.len() == bytes.capacity() {
                let target = (2 * bytes.len()).max(READ_CHUNK / 8).min(most);
                bytes.reserve_exact(target - bytes.len());
            }
            let room = (bytes.capacity() - bytes.len()).min(READ_CHUNK);
            if room == 0 {
                break; // limit + 1 bytes read
            }
            bytes.resize(bytes.len() + room, 0);
        }
        match reader.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io_role("cannot read", role, path, e)),
        }
    }
    bytes.truncate(filled);
    if filled as u64 > limit {
        return Err(too_large(role, path, what, limit));
    }
    Ok(bytes)
}

/// How much room [`read_limited_from`] zeroes ahead of its reads at a time.
const READ_CHUNK: usize = 1 << 20;

/// Reads all of `reader` (at most `limit` bytes), failing as soon as one line runs longer
/// than `max_line` bytes (the error names the line) or the whole past `limit`.
pub fn read_lines_limited(
    mut reader: impl BufRead,
    path: &Path,
    role: Role,
    limit: u64,
    max_line: usize,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    // Length of the line in progress and the number of line breaks seen so far.
    let (mut line_len, mut breaks) = (0usize, 0u64);
    loop {
        let chunk = reader
            .fill_buf()
            .map_err(|e| Error::io_role("cannot read", role, path, e))?;
        if chunk.is_empty() {
            return Ok(bytes);
        }
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large(role, path, "the file", limit));
        }
        let mut rest = chunk;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            if line_len + i > max_line {
                break;
            }
            line_len = 0;
            breaks += 1;
            rest = &rest[i + 1..];
        }
        line_len += rest.len();
        if line_len > max_line || memchr::memchr(b'\n', rest).is_some() {
            return Err(Error::DataLine {
                path: path.to_path_buf(),
                line: breaks + 1,
                message: format!(
                    "the line is longer than the limit of {max_line} bytes; is this a text \
                     file with one record per line?"
                ),
            });
        }
        let n = chunk.len();
        bytes.extend_from_slice(chunk);
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_to_one_file_clash_and_inputs_may_share() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.json");
        fs::write(&a, "x").unwrap();
        let dotted = dir.path().join(".").join("a.json");
        let uses = [
            Use::input("data file", &a),
            Use::output("model file", &dotted),
        ];
        let e = check_distinct(&uses, &[]).unwrap_err().to_string();
        assert!(e.contains("same file"), "{e}");
        // Two inputs may be one file; a permitted pair may too.
        check_distinct(&[Use::input("x", &a), Use::input("y", &a)], &[]).unwrap();
        check_distinct(&uses, &[("model file", "data file")]).unwrap();
        // Two outputs that do not exist yet clash by name.
        let new = dir.path().join("new.json");
        let new2 = dir.path().join("sub/../new.json");
        fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(check_distinct(
            &[
                Use::output("model file", &new),
                Use::output("report file", &new2)
            ],
            &[]
        )
        .is_err());
        let other = dir.path().join("other.json");
        check_distinct(
            &[
                Use::output("model file", &new),
                Use::output("report file", &other),
            ],
            &[],
        )
        .unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn links_are_followed_for_identity_and_refused_as_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.json");
        fs::write(&target, "keep").unwrap();
        let link = dir.path().join("l.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let hard = dir.path().join("h.json");
        fs::hard_link(&target, &hard).unwrap();
        for other in [&link, &hard] {
            assert!(check_distinct(
                &[
                    Use::input("config file", &target),
                    Use::output("model file", other)
                ],
                &[]
            )
            .is_err());
        }
        let e = check_output(&link, "model file").unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let e = write_atomic(&link, b"new", "model file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn atomic_writes_replace_whole_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new", "model file").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        check_output(&path, "model file").unwrap();
        let e = check_output(dir.path(), "model file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("directory"), "{e}");
        let e = check_output(Path::new("m.json/"), "model file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("names a directory"), "{e}");
        let e = check_output(&dir.path().join("no/m.json"), "checkpoint")
            .unwrap_err()
            .to_string();
        assert!(e.contains("checkpoint"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn written_files_get_the_usual_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        write_atomic(&path, b"x", "model file").unwrap();
        let reference = dir.path().join("plain");
        File::create(&reference).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&reference));
    }

    /// Hands out at most 1000 bytes a call, and counts what it handed out.
    struct Dribble<R>(R, u64);

    impl<R: Read> Read for Dribble<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1000);
            let n = self.0.read(&mut buf[..n])?;
            self.1 += n as u64;
            Ok(n)
        }
    }

    #[test]
    fn bounded_reads_take_short_reads_and_stop_just_past_the_limit() {
        let path = Path::new("stream");
        let limit = (3 << 20) + 5;
        let text: Vec<u8> = (0..limit).map(|i| (i % 251) as u8).collect();
        let read = read_limited_from(Dribble(&text[..], 0), path, (limit, "the file"), "x");
        assert!(read.unwrap() == text);
        // An endless stream: refused once one byte past the limit has been read.
        let mut endless = Dribble(io::repeat(7), 0);
        let e = read_limited_from(&mut endless, path, (limit, "its content"), "model file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("its content is larger than the limit"), "{e}");
        assert_eq!(endless.1, limit + 1);
    }

    #[test]
    fn reads_stop_at_their_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "a\nbb\nccc\n").unwrap();
        assert_eq!(read_limited(&path, 9, "config file").unwrap().len(), 9);
        let e = read_limited(&path, 8, "config file")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limit of 8 bytes"), "{e}");
        let read = |limit, max_line| {
            read_lines_limited(
                io::BufReader::with_capacity(2, File::open(&path).unwrap()),
                &path,
                "data file",
                limit,
                max_line,
            )
        };
        assert_eq!(read(100, 3).unwrap(), b"a\nbb\nccc\n");
        let e = read(100, 2).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("limit of 2 bytes"),
            "{e}"
        );
        assert!(read(5, 3).is_err());
        let e = read_lines_limited(
            io::BufReader::new(io::repeat(0).take(1 << 20)),
            &path,
            "data file",
            1 << 30,
            1000,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
