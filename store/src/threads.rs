//! How many worker threads the parallel file-system walks use (commit from
//! a directory, checkout).

/// The worker count for parallel work that mostly waits on the file
/// system: twice the cores, at least 4, so that more reads are in flight
/// than there are cores (with a cold cache most workers wait on inode,
/// directory and data reads). `OXTREE_THREADS=N` (N > 0) overrides it.
pub fn worker_threads() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    std::env::var("OXTREE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or((cores * 2).max(4))
}
