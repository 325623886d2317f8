//! `oxtree-store`: an OSTree-compatible content-addressed object store.
//!
//! This crate owns the object model (checksums, commits, dirtrees, dirmeta,
//! file objects), the GVariant codec for those types, and the repository:
//! the four repo modes, loose objects, refs, config, transactions, the
//! commit builder, fsck, prune, diff and summaries.
//!
//! Stability: the object formats are OSTree's and will not change; the Rust
//! API is young and may change between 0.x releases.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod checksum;
pub mod gvariant;

pub use checksum::Checksum;
pub mod object;
pub mod repo;

pub use repo::{Error, Repo, RepoMode};

/// The OSTree release whose formats, commands and output oxtree mirrors
/// (what `--version` reports as `libostree`, and the HTTP user agent).
pub const OSTREE_COMPAT_VERSION: &str = "2022.7";
pub mod build;
pub mod calendar;
pub mod deltas;
pub mod diff;
pub mod export;
pub use oxtree_fault as fault;
pub mod fsck;
pub mod prune;
pub mod summary;
mod threads;
pub use threads::{io_threads, threads_or, worker_threads};
pub mod traverse;
mod umask;
pub use umask::{created_with_mode, process_umask};
