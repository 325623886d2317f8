//! The crate's error type. Every variant names the path or the object that
//! failed, so that a caller can print it as is.

use std::path::PathBuf;

use oxtree_store::Checksum;

/// Errors from a checkout.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Reading from the repository failed (missing or corrupt object, I/O).
    #[error(transparent)]
    Store(#[from] oxtree_store::Error),
    /// A file-system call on the destination (or the repo) failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The path the call was about.
        path: PathBuf,
        /// The call, as OSTree names it in its messages (`mkdirat`, `linkat`, …).
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A dirtree holds a name that is not a single, safe path component.
    #[error("Corrupted dirtree object {tree}: invalid file name {name:?}")]
    InvalidName {
        /// The dirtree.
        tree: Checksum,
        /// The offending name.
        name: String,
    },
    /// A whiteout names nothing usable (`.wh.`, `.wh..`, `.ostree-wh...`).
    #[error("{}: Invalid whiteout '{name}'", path.display())]
    InvalidWhiteout {
        /// Where the whiteout file is in the destination.
        path: PathBuf,
        /// The whiteout file's name.
        name: String,
    },
    /// A content object is neither a regular file nor a symlink, or its
    /// metadata cannot be used.
    #[error("Corrupted file object {checksum}: {msg}")]
    BadFileObject {
        /// The object.
        checksum: Checksum,
        /// What is wrong.
        msg: String,
    },
    /// The tree nests deeper than OSTree allows (a hostile or looping tree).
    #[error("Corrupted dirtree object {tree}: exceeded maximum recursion depth of {max}")]
    TooDeep {
        /// The dirtree found past the limit.
        tree: Checksum,
        /// The limit.
        max: usize,
    },
    /// `subpath` does not exist in the tree.
    #[error("No such file or directory: {0}")]
    NoSuchPath(String),
    /// `subpath` goes through a file.
    #[error("Not a directory: {0}")]
    NotADirectory(String),
    /// A file could not be hardlinked and `require_hardlinks` forbids a copy.
    #[error("{}: {msg}", path.display())]
    HardlinkRequired {
        /// The destination path.
        path: PathBuf,
        /// Why (OSTree's wording).
        msg: String,
    },
    /// The options contradict each other.
    #[error("{0}")]
    InvalidOptions(String),
}

impl CheckoutError {
    /// Wraps an errno from rustix with the path and the call.
    pub(crate) fn io(path: PathBuf, op: &'static str, e: impl Into<std::io::Error>) -> Self {
        CheckoutError::Io { path, op, source: e.into() }
    }

    /// The OS error number, when this is an I/O error.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            CheckoutError::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}
