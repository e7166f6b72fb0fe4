//! The library's one error type. Every variant carries what a user needs to find the problem:
//! the file, the line or field, the offending value, and what to do about it.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error while reading or writing `path`. (The field is not called
    /// `source`, so the message carries the OS error once instead of again as a cause.)
    #[error("{action} {}: {cause}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: io::Error,
    },

    /// An operating-system error on a file named by its role ("checkpoint", "report file").
    #[error("{action} {role} {}: {cause}", path.display())]
    IoRole {
        action: &'static str,
        role: &'static str,
        path: PathBuf,
        cause: io::Error,
    },

    /// An output path that must not be written: a link, a FIFO, a device, an immutable file.
    #[error("cannot write {role} {}: {message}", path.display())]
    Output {
        role: &'static str,
        path: PathBuf,
        message: String,
    },

    /// Two of a command's files are one, and one of them is an output.
    #[error(
        "{} ({first_role}) and {} ({second_role}) are the same file; {advice}",
        first.display(),
        second.display()
    )]
    SameFile {
        first_role: &'static str,
        first: PathBuf,
        second_role: &'static str,
        second: PathBuf,
        advice: String,
    },

    /// A file or a part of it beyond a size limit.
    #[error(
        "{role} {}: {what} is larger than the limit of {limit} bytes; is it the right file?",
        path.display()
    )]
    TooLarge {
        role: &'static str,
        path: PathBuf,
        what: &'static str,
        limit: u64,
    },

    /// A bad record in a data file (CSV/TSV or a text list); `line` is 1-based.
    #[error("{}, line {line}: {message}", path.display())]
    DataLine {
        path: PathBuf,
        line: u64,
        message: String,
    },

    /// A data file that is wrong as a whole (empty, missing a column, only one class, ...).
    #[error("{}: {message}", path.display())]
    DataFile { path: PathBuf, message: String },

    /// A model file that cannot be used; the message says which part is wrong.
    #[error("{}: not a usable rnn-sentiment model: {message}", path.display())]
    Model { path: PathBuf, message: String },

    /// A training checkpoint that cannot continue this run; the message says why.
    #[error("{}: cannot resume from this checkpoint: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },

    /// A configuration file that cannot be used.
    #[error("{}: {message}", path.display())]
    ConfigFile { path: PathBuf, message: String },

    /// An option value out of range (from the command line or a config file).
    #[error("invalid value for {name}: {message}")]
    InvalidOption { name: &'static str, message: String },

    /// The environment variable that caps the vector instructions names no level, or one
    /// this CPU lacks (see `kernels::simd`).
    #[error("environment variable {variable}={value:?}: {message}")]
    SimdLevel {
        variable: &'static str,
        value: String,
        message: String,
    },

    /// Training produced a non-finite loss or gradient.
    #[error(
        "training diverged at epoch {epoch}, batch {batch}: the {what} became {value}; \
         try a lower learning rate (--lr) or gradient clipping (--clip-norm)"
    )]
    Diverged {
        epoch: usize,
        batch: usize,
        what: &'static str,
        value: f64,
    },

    /// A report chart could not be drawn.
    #[error("cannot write the report: {0}")]
    Report(String),
}

/// Shorthand used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, cause: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            cause,
        }
    }

    /// Wraps an I/O error with what was being done to which kind of file.
    pub fn io_role(
        action: &'static str,
        role: &'static str,
        path: impl Into<PathBuf>,
        cause: io::Error,
    ) -> Self {
        Error::IoRole {
            action,
            role,
            path: path.into(),
            cause,
        }
    }

    /// An [`Error::InvalidOption`].
    pub fn option(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidOption {
            name,
            message: message.into(),
        }
    }
}
