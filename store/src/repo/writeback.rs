//! Starting writeback of an object as soon as it is written.
//!
//! A transaction makes its objects durable with one `syncfs` at the end.
//! Left alone, the kernel writes nothing back before then (hundreds of
//! megabytes stay under its dirty thresholds), so the `syncfs` writes
//! everything while the CPUs wait. Asking for writeback of each larger
//! object once it is complete overlaps that I/O with the rest of the
//! transaction; the `syncfs` then has little left to wait for.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;

/// Objects smaller than this are left to the final `syncfs`: one more
/// syscall each would cost more than their writeback saves.
pub(crate) const WRITEBACK_FROM: u64 = 64 * 1024;

/// Starts (does not wait for) writeback of everything written to `f`.
/// Best effort: an error only means the final `syncfs` does the work.
pub(crate) fn start(f: &File) {
    // SAFETY: sync_file_range takes a file descriptor, which `f` keeps
    // open across the call, and plain integers; it touches no memory of
    // ours.
    let _ = unsafe { libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}
