//! What a checkout did, counted across threads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of what a checkout wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckoutStats {
    /// Directories created.
    pub dirs_created: u64,
    /// Directories that already existed (union modes) and were kept.
    pub dirs_existing: u64,
    /// Files and symlinks hardlinked from the repository (or its cache).
    pub files_hardlinked: u64,
    /// Regular files written as copies.
    pub files_copied: u64,
    /// Symlinks created from their target.
    pub symlinks_created: u64,
    /// Payload bytes written by copies.
    pub bytes_copied: u64,
    /// Existing files kept (union-add, union-identical, already linked).
    pub files_kept: u64,
    /// Whiteouts processed (removals and overlayfs character devices).
    pub whiteouts: u64,
    /// Entries left out by the skip list or the filter.
    pub skipped: u64,
    /// Objects decompressed into `uncompressed-objects-cache`.
    pub cache_extracted: u64,
}

/// The shared counters behind [`CheckoutStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub dirs_created: AtomicU64,
    pub dirs_existing: AtomicU64,
    pub files_hardlinked: AtomicU64,
    pub files_copied: AtomicU64,
    pub symlinks_created: AtomicU64,
    pub bytes_copied: AtomicU64,
    pub files_kept: AtomicU64,
    pub whiteouts: AtomicU64,
    pub skipped: AtomicU64,
    pub cache_extracted: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// A snapshot.
    pub fn snapshot(&self) -> CheckoutStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CheckoutStats {
            dirs_created: g(&self.dirs_created),
            dirs_existing: g(&self.dirs_existing),
            files_hardlinked: g(&self.files_hardlinked),
            files_copied: g(&self.files_copied),
            symlinks_created: g(&self.symlinks_created),
            bytes_copied: g(&self.bytes_copied),
            files_kept: g(&self.files_kept),
            whiteouts: g(&self.whiteouts),
            skipped: g(&self.skipped),
            cache_extracted: g(&self.cache_extracted),
        }
    }
}
