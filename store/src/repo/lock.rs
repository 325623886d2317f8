//! The repository lock, compatible with OSTree's: an open-file-description
//! (OFD) lock on `<repo>/.lock`. Shared for writing transactions, exclusive
//! for pruning. OFD and `flock` locks do not see each other on Linux, so
//! anything else would not exclude a real `ostree` working on the same repo.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// How the lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Many holders: object writers.
    Shared,
    /// One holder: prune and deletion.
    Exclusive,
}

/// A held repo lock; released on drop (closing the file releases OFD locks).
#[derive(Debug)]
pub struct RepoLock {
    _file: File,
    /// How it is held.
    pub kind: LockKind,
}

fn ofd_lock(file: &File, kind: LockKind, wait: bool) -> io::Result<()> {
    let l_type = match kind {
        LockKind::Shared => libc::F_RDLCK,
        LockKind::Exclusive => libc::F_WRLCK,
    };
    // SAFETY: an all-zero `flock` is a valid value of this plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = l_type as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = 0;
    fl.l_len = 0;
    let cmd = if wait { libc::F_OFD_SETLKW } else { libc::F_OFD_SETLK };
    // SAFETY: the fd is open for the lifetime of `file`, and `fl` is a valid,
    // initialised flock struct that lives across the call.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl as *mut libc::flock) };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl RepoLock {
    /// Takes the lock, waiting up to `timeout` (`None` waits forever).
    pub fn acquire(repo: &Path, kind: LockKind, timeout: Option<Duration>) -> io::Result<RepoLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o660)
            .custom_flags(libc::O_CLOEXEC)
            .open(repo.join(".lock"))?;
        match timeout {
            None => ofd_lock(&file, kind, true)?,
            Some(t) => {
                let start = Instant::now();
                loop {
                    match ofd_lock(&file, kind, false) {
                        Ok(()) => break,
                        Err(e)
                            if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES))
                                && start.elapsed() < t =>
                        {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(RepoLock { _file: file, kind })
    }
}

/// Takes the exclusive lock of a transaction's staging directory: an OFD
/// lock on the sibling file `STAGING-lock`, as OSTree does (the lock lives
/// outside the directory, so it is held until the directory is gone).
/// `None` when another process holds it: the directory is in use.
pub(crate) fn try_lock_staging(lock_path: &Path) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(lock_path)?;
    match ofd_lock(&file, LockKind::Exclusive, false) {
        // A holder unlinks the file before it lets go (when it keeps the
        // directory for later): a lock won on the unlinked file is no
        // lock, and the directory counts as in use.
        Ok(()) if file.metadata()?.nlink() == 0 => Ok(None),
        Ok(()) => Ok(Some(file)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => Ok(None),
        Err(e) => Err(e),
    }
}
