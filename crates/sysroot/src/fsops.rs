//! The file-system steps a sysroot change is made of, each one a *fault
//! point* the crash tests can stop at (`OXTREE_TEST_FAULT`, see
//! [`oxtree_store::fault`]).

use std::os::fd::AsFd;
use std::path::Path;

use crate::Error;

/// Marks a fault point before `op` on `path` (see [`oxtree_store::fault`]).
pub(crate) fn point(op: &str, path: &Path) -> Result<(), Error> {
    oxtree_store::fault::point(op, path).map_err(Error::Invalid)
}

/// `rename(2)`.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<(), Error> {
    point("rename", to)?;
    std::fs::rename(from, to).map_err(Error::io(to))
}

/// `fsync(2)` of a file or directory.
pub(crate) fn fsync(p: &Path) -> Result<(), Error> {
    point("fsync", p)?;
    std::fs::File::open(p).and_then(|f| f.sync_all()).map_err(Error::io(p))?;
    oxtree_store::fault::synced(p);
    Ok(())
}

/// `syncfs(2)` of the file system holding `p`.
pub(crate) fn syncfs(p: &Path) -> Result<(), Error> {
    point("syncfs", p)?;
    let f = std::fs::File::open(p).map_err(Error::io(p))?;
    rustix::fs::syncfs(f.as_fd()).map_err(|e| Error::Io(p.display().to_string(), e.into()))?;
    oxtree_store::fault::synced_all(p);
    Ok(())
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
