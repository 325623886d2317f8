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

/// Stack of the I/O pool's workers: a tree walk takes a few frames per
/// directory level, up to [`MAX_RECURSION`](crate::object::MAX_RECURSION)
/// levels (only touched pages are ever mapped in).
const IO_STACK: usize = 16 << 20;

/// A shared pool of [`io_threads`] workers for the walks that wait on one
/// cold read after another (a commit's dirtrees, the object directories),
/// created on first use; `None` if the threads cannot be started, and the
/// caller then works on its own thread.
pub(crate) fn io_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(io_threads()).stack_size(IO_STACK).build().ok())
        .as_ref()
}

/// Runs `f` on the I/O pool (so that its rayon calls use the pool's
/// workers), or on this thread if there is no pool.
pub(crate) fn io_install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match io_pool() {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// `items` mapped by `f`, in order: on the I/O pool when there is more than
/// one, else on this thread.
pub(crate) fn io_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    match io_pool() {
        Some(pool) if items.len() > 1 => pool.install(|| items.par_iter().map(&f).collect()),
        _ => items.iter().map(f).collect(),
    }
}
