//! The file-system steps a sysroot change is made of, each one a *fault
//! point* the crash tests can stop at.
//!
//! `OXTREE_TEST_FAULT` (a test seam; unset, it costs one check):
//! - `trace`: print `fault point N: OP PATH` to stderr at each point;
//! - `N`: the Nth point (from 1) fails with an injected error;
//! - `kill:N`: the process kills itself with SIGKILL at the Nth point, as a
//!   power cut would stop it (minus the page cache, which `syncfs` covers).

use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::Error;

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

/// Marks a fault point before `op` on `path`.
pub(crate) fn point(op: &str, path: &Path) -> Result<(), Error> {
    let m = mode();
    if matches!(m, Fault::None) {
        return Ok(());
    }
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst) + 1;
    match m {
        Fault::Trace => eprintln!("fault point {n}: {op} {}", path.display()),
        Fault::Fail(at) if *at == n => {
            return Err(Error::Invalid(format!("injected fault at point {n}: {op} {}", path.display())))
        }
        Fault::Kill(at) if *at == n => {
            let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        }
        _ => {}
    }
    Ok(())
}

/// `rename(2)`.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    point("rename", to)?;
    std::fs::rename(from, to).map_err(Error::io(to))
}

/// `fsync(2)` of a file or directory.
pub(crate) fn fsync(p: &Path) -> Result<(), Error> {
    point("fsync", p)?;
    std::fs::File::open(p).and_then(|f| f.sync_all()).map_err(Error::io(p))
}

/// `syncfs(2)` of the file system holding `p`.
pub(crate) fn syncfs(p: &Path) -> Result<(), Error> {
    point("syncfs", p)?;
    let f = std::fs::File::open(p).map_err(Error::io(p))?;
    rustix::fs::syncfs(f.as_fd()).map_err(|e| Error::Io(p.display().to_string(), e.into()))
}

/// Writes `bytes` to `path` through `.NAME.tmp`, fsync and rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    point("write", &tmp)?;
    std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
    fsync(&tmp)?;
    rename(&tmp, path)
}

/// Points symlink `link` at `target` by renaming a new symlink over it.
pub(crate) fn swap_symlink(link: &Path, target: &str) -> Result<(), Error> {
    let name = link.file_name().unwrap_or_default().to_string_lossy();
    let tmp = link.with_file_name(format!("{name}.tmp"));
    remove_all(&tmp)?;
    std::os::unix::fs::symlink(target, &tmp).map_err(Error::io(&tmp))?;
    rename(&tmp, link)?;
    fsync(link.parent().unwrap_or(Path::new(".")))
}

/// `rm -rf`; a missing path is fine.
pub(crate) fn remove_all(p: &Path) -> Result<(), Error> {
    match p.symlink_metadata() {
        Ok(m) => {
            point("remove", p)?;
            if m.is_dir() {
                std::fs::remove_dir_all(p).map_err(Error::io(p))
            } else {
                std::fs::remove_file(p).map_err(Error::io(p))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io(p.display().to_string(), e)),
    }
}

/// Sets or clears `chattr +i` on a deployment root (best effort: a file
/// system without the flag has nothing to set or clear).
pub(crate) fn set_immutable(path: &Path, on: bool) {
    if let Ok(f) = std::fs::File::open(path) {
        if let Ok(flags) = rustix::fs::ioctl_getflags(&f) {
            let want = if on { flags | rustix::fs::IFlags::IMMUTABLE } else { flags - rustix::fs::IFlags::IMMUTABLE };
            if want != flags {
                let _ = rustix::fs::ioctl_setflags(&f, want);
            }
        }
    }
}
