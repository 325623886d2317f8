//! `oxtree-fault`: fault points, the file-system steps whose order crash
//! safety rests on (the repository's renames into `objects/`, syncs, ref
//! writes and object removals in `oxtree-store`; the sysroot's renames,
//! syncs and removals in `oxtree-sysroot`), where the crash tests stop a
//! process. `oxtree-store` re-exports it as `oxtree_store::fault`.
//!
//! `OXTREE_TEST_FAULT` (a test seam; unset, it costs one check per point):
//! - `trace`: print `fault point N: OP PATH` to stderr at each point;
//! - `N`: the Nth point (from 1) fails with an injected error;
//! - `kill:N`: the process kills itself with SIGKILL at the Nth point, as
//!   a power cut would stop it, minus the loss of the page cache;
//! - `cut:N`: a power cut at the Nth point, page cache and all. The process
//!   kills itself there as for `kill:N`; until then it has appended to the
//!   file `OXTREE_TEST_FAULT_LOG` one `DEV INO` line for each file a sync
//!   made durable: a file after its fsync ([`synced`]), every file under a
//!   tree after a `syncfs` of it ([`synced_all`]). The test then empties
//!   every file it did not have before the run and that is not in the log:
//!   names kept, data lost, the worst a journalling file system leaves of
//!   writes nobody waited for.
//!
//! Points are counted across the process, so a command that changes both
//! a repository and a sysroot has one numbering.
//!
//! Stable: the variable and its four forms, and `OXTREE_TEST_FAULT_LOG`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

enum Fault {
    None,
    Trace,
    Fail(usize),
    Kill(usize),
    /// The point, and the log of what was made durable.
    Cut(usize, PathBuf),
}

fn mode() -> &'static Fault {
    static MODE: OnceLock<Fault> = OnceLock::new();
    MODE.get_or_init(|| match std::env::var("OXTREE_TEST_FAULT") {
        Ok(v) if v == "trace" => Fault::Trace,
        Ok(v) => {
            if let Some(n) = v.strip_prefix("kill:") {
                n.parse().map(Fault::Kill).unwrap_or(Fault::None)
            } else if let Some(n) = v.strip_prefix("cut:") {
                // Without a log nothing is recorded as durable, so that
                // the test, emptying every new file, cannot miss it.
                let log = std::env::var_os("OXTREE_TEST_FAULT_LOG").unwrap_or_default();
                n.parse().map(|n| Fault::Cut(n, log.into())).unwrap_or(Fault::None)
            } else {
                v.parse().map(Fault::Fail).unwrap_or(Fault::None)
            }
        }
        Err(_) => Fault::None,
    })
}

/// Marks a fault point before `op` on `path`: an error when this is the
/// point `OXTREE_TEST_FAULT` names.
pub fn point(op: &str, path: &Path) -> Result<(), String> {
    let m = mode();
    if matches!(m, Fault::None) {
        return Ok(());
    }
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst) + 1;
    match m {
        Fault::Trace => eprintln!("fault point {n}: {op} {}", path.display()),
        Fault::Fail(at) if *at == n => return Err(format!("injected fault at point {n}: {op} {}", path.display())),
        Fault::Kill(at) | Fault::Cut(at, _) if *at == n => {
            let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        }
        _ => {}
    }
    Ok(())
}

/// After an fsync of `path`: under `cut:N`, logs the file as durable.
pub fn synced(path: &Path) {
    if let Fault::Cut(_, log) = mode() {
        if let Ok(m) = path.symlink_metadata() {
            if m.is_file() {
                append(log, &format!("{} {}\n", m.dev(), m.ino()));
            }
        }
    }
}

/// After a `syncfs` of the file system holding `dir`: under `cut:N`, logs
/// every file under `dir` as durable (the rest of that file system too is
/// durable, but no test looks outside the tree it synced).
pub fn synced_all(dir: &Path) {
    let Fault::Cut(_, log) = mode() else { return };
    let mut lines = String::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else { continue };
            if m.is_dir() {
                todo.push(e.path());
            } else if m.is_file() {
                lines.push_str(&format!("{} {}\n", m.dev(), m.ino()));
            }
        }
    }
    append(log, &lines);
}

fn append(log: &Path, text: &str) {
    // A line lost here makes the test empty a file that was durable, which
    // it reports as damage: a failure seen, never one hidden.
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = f.write_all(text.as_bytes());
    }
}
