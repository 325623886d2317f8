//! Small file-system helpers: xattrs, durable writes, and errors that carry
//! the path.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::object::Xattrs;

use super::Error;

/// Wraps an I/O error with the path it concerns.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

fn not_supported(e: &rustix::io::Errno) -> bool {
    *e == rustix::io::Errno::NOTSUP || *e == rustix::io::Errno::OPNOTSUPP
}

/// Reads all xattrs of `path` without following symlinks, sorted, with
/// zero-length values dropped (as OSTree does). A file system without xattr
/// support reads as no xattrs.
pub fn read_xattrs(path: &Path) -> Result<Xattrs, Error> {
    let err = |e: rustix::io::Errno| Error::Io { path: path.to_path_buf(), source: e.into() };
    let mut names = vec![0u8; 1024];
    let n = loop {
        match rustix::fs::llistxattr(path, &mut names[..]) {
            Ok(n) => break n,
            Err(e) if e == rustix::io::Errno::RANGE => {
                let need: usize = rustix::fs::llistxattr(path, &mut [0u8; 0][..]).map_err(err)?;
                names.resize(need.max(names.len() * 2), 0);
            }
            Err(e) if not_supported(&e) => return Ok(Xattrs::new()),
            Err(e) => return Err(err(e)),
        }
    };
    let mut pairs = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let mut val = vec![0u8; 256];
        let len = loop {
            match rustix::fs::lgetxattr(path, name, &mut val[..]) {
                Ok(l) => break l,
                Err(e) if e == rustix::io::Errno::RANGE => {
                    let need: usize = rustix::fs::lgetxattr(path, name, &mut [0u8; 0][..]).map_err(err)?;
                    val.resize(need.max(val.len() * 2), 0);
                }
                Err(e) if e == rustix::io::Errno::NODATA => break 0,
                Err(e) => return Err(err(e)),
            }
        };
        val.truncate(len);
        pairs.push((name.to_vec(), val));
    }
    Ok(Xattrs::from_pairs(pairs))
}

/// Reads one xattr of an open file, `None` if absent.
pub fn fget_xattr(file: &File, name: &str) -> io::Result<Option<Vec<u8>>> {
    let mut val = vec![0u8; 256];
    loop {
        match rustix::fs::fgetxattr(file, name, &mut val[..]) {
            Ok(l) => {
                val.truncate(l);
                return Ok(Some(val));
            }
            Err(e) if e == rustix::io::Errno::RANGE => {
                let need: usize = rustix::fs::fgetxattr(file, name, &mut [0u8; 0][..])?;
                val.resize(need.max(val.len() * 2), 0);
            }
            Err(e) if e == rustix::io::Errno::NODATA => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Applies xattrs to an open file.
pub fn fset_xattrs(file: &File, xattrs: &Xattrs) -> io::Result<()> {
    for (n, v) in xattrs.iter() {
        rustix::fs::fsetxattr(file, n, v, rustix::fs::XattrFlags::empty())?;
    }
    Ok(())
}

/// Applies xattrs to a path without following a final symlink.
pub fn lset_xattrs(path: &Path, xattrs: &Xattrs) -> io::Result<()> {
    for (n, v) in xattrs.iter() {
        rustix::fs::lsetxattr(path, n, v, rustix::fs::XattrFlags::empty())?;
    }
    Ok(())
}

/// Writes `data` to `path` atomically: a temporary file in the same
/// directory, fsync'd when `fsync`, renamed over `path`, and the directory
/// fsync'd.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32, fsync: bool) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}-{}", std::process::id(), unique()));
    let result = (|| {
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(io_err(&tmp))?;
        f.write_all(data).map_err(io_err(&tmp))?;
        rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(mode))
            .map_err(|e| Error::Io { path: tmp.clone(), source: e.into() })?;
        if fsync {
            f.sync_data().map_err(io_err(&tmp))?;
            crate::fault::synced(&tmp);
        }
        std::fs::rename(&tmp, path).map_err(io_err(path))?;
        if fsync {
            fsync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsyncs a directory.
pub fn fsync_dir(dir: &Path) -> Result<(), Error> {
    let d = File::open(dir).map_err(io_err(dir))?;
    d.sync_all().map_err(io_err(dir))
}

/// A process-unique counter for temporary names.
pub(crate) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    (N.fetch_add(1, Ordering::Relaxed) << 32) ^ t
}
