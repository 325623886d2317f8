//! How many worker threads the parallel walks use (commit from a
//! directory, checkout, pull). `OXTREE_THREADS=N` (N > 0) overrides them all.

/// The worker count for work bound by the CPU, such as an `archive`
/// commit, which compresses what it reads: twice the cores, at least 4, so
/// that more reads are in flight than there are cores (with a cold cache
/// workers also wait on inode, directory and data reads).
pub fn worker_threads() -> usize {
    overridden().unwrap_or((cores() * 2).max(4))
}

/// The worker count for work that mostly waits for the disk (checkout,
/// commit into the bare modes): eight per core, between 16 and 64. On a
/// two-core machine 16 workers made a cold-cache checkout of a root file
/// system a quarter to a third faster than 4 (hardlink, copy and archive
/// checkouts alike); more than 16 gained nothing.
pub fn io_threads() -> usize {
    overridden().unwrap_or((cores() * 8).clamp(16, 64))
}

/// `default`, unless `OXTREE_THREADS` says otherwise (for pulls, whose
/// request count is their own).
pub fn threads_or(default: usize) -> usize {
    overridden().unwrap_or(default)
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

fn overridden() -> Option<usize> {
    std::env::var("OXTREE_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0)
}
