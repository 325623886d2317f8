//! Fault points: the file-system steps whose order crash safety rests on
//! (renames into `objects/`, syncs, ref writes, object removals here; the
//! sysroot's renames, syncs and removals in `oxtree-sysroot`), where the
//! crash tests stop a process.
//!
//! `OXTREE_TEST_FAULT` (a test seam; unset, it costs one check per point):
//! - `trace`: print `fault point N: OP PATH` to stderr at each point;
//! - `N`: the Nth point (from 1) fails with an injected error;
//! - `kill:N`: the process kills itself with SIGKILL at the Nth point, as
//!   a power cut would stop it (minus the page cache, which the syncs
//!   before each commit point cover).
//!
//! Points are counted across the process, so a command that changes both
//! a repository and a sysroot has one numbering.
//!
//! Stable: the variable and its three forms.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

enum Fault {
    None,
    Trace,
    Fail(usize),
    Kill(usize),
}

fn mode() -> &'static Fault {
    static MODE: OnceLock<Fault> = OnceLock::new();
    MODE.get_or_init(|| match std::env::var("OXTREE_TEST_FAULT") {
        Ok(v) if v == "trace" => Fault::Trace,
        Ok(v) => match v.strip_prefix("kill:") {
            Some(n) => n.parse().map(Fault::Kill).unwrap_or(Fault::None),
            None => v.parse().map(Fault::Fail).unwrap_or(Fault::None),
        },
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
        Fault::Kill(at) if *at == n => {
            let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        }
        _ => {}
    }
    Ok(())
}
