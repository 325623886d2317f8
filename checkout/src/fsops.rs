//! Directory-relative file-system helpers. Every call here works on a
//! directory file descriptor and a single validated name; none follows a
//! symlink in the final component (directories are opened `O_NOFOLLOW`,
//! stats use `AT_SYMLINK_NOFOLLOW`, removal never descends into symlinks).

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use oxtree_store::object::Xattrs;
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags, Timespec, Timestamps};
use rustix::io::Errno;

/// Deepest directory nesting `rm_rf_at` descends into.
const RM_MAX_DEPTH: usize = 1024;

/// Opens a directory relative to `parent`. Only the checkout root (a path
/// the caller named) may be reached through a symlink.
pub(crate) fn open_dir<P: rustix::path::Arg>(parent: BorrowedFd<'_>, name: P, follow: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    Ok(rustix::fs::openat(parent, name, flags, Mode::empty())?)
}

/// `mkdirat` that takes an existing entry as success (the later open
/// with `O_DIRECTORY` finds out whether it is a directory).
pub(crate) fn mkdir_exist_ok(dir: BorrowedFd<'_>, name: &str, mode: u32) -> rustix::io::Result<()> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A name for a temporary entry, unique in this process.
pub(crate) fn tmp_name(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!(".oxtree-{tag}-{}-{n}-{t:08x}", std::process::id())
}

/// `/proc/self/fd/N/NAME`: a path naming `name` in the directory `dir`
/// without resolving any path the tree controls (the final component is
/// not followed by the `l*` calls it is used with).
pub(crate) fn proc_path(dir: BorrowedFd<'_>, name: &str) -> String {
    format!("/proc/self/fd/{}/{name}", dir.as_raw_fd())
}

/// Removes `name` in `dir` and, if it is a directory, all it contains.
/// Symlinks are removed, never followed. A missing name is not an error.
pub(crate) fn rm_rf_at<P: rustix::path::Arg + Copy>(dir: BorrowedFd<'_>, name: P) -> io::Result<()> {
    rm_rf_depth(dir, name, 0)
}

fn rm_rf_depth<P: rustix::path::Arg + Copy>(dir: BorrowedFd<'_>, name: P, depth: usize) -> io::Result<()> {
    let st = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if st.st_mode & 0o170000 == 0o040000 {
        if depth >= RM_MAX_DEPTH {
            return Err(Errno::LOOP.into());
        }
        let fd = open_dir(dir, name, false)?;
        let mut names: Vec<std::ffi::CString> = Vec::new();
        let d = rustix::fs::Dir::read_from(&fd)?;
        for ent in d {
            let ent = ent?;
            let n: &CStr = ent.file_name();
            if n.to_bytes() == b"." || n.to_bytes() == b".." {
                continue;
            }
            names.push(n.to_owned());
        }
        for n in &names {
            rm_rf_depth(fd.as_fd(), n.as_c_str(), depth + 1)?;
        }
        drop(fd);
        match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    } else {
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Applies xattrs to an open file or directory.
pub(crate) fn set_fd_xattrs(fd: BorrowedFd<'_>, xattrs: &Xattrs) -> io::Result<()> {
    for (n, v) in xattrs.iter() {
        rustix::fs::fsetxattr(fd, n, v, rustix::fs::XattrFlags::empty())?;
    }
    Ok(())
}

/// Applies xattrs to `name` in `dir` without following it (symlinks,
/// device nodes).
pub(crate) fn set_name_xattrs(dir: BorrowedFd<'_>, name: &str, xattrs: &Xattrs) -> io::Result<()> {
    let p = proc_path(dir, name);
    for (n, v) in xattrs.iter() {
        rustix::fs::lsetxattr(p.as_str(), n, v, rustix::fs::XattrFlags::empty())?;
    }
    Ok(())
}

/// Sets a directory's mtime to 0 (the epoch, OSTree's constant timestamp),
/// leaving its atime alone.
pub(crate) fn zero_mtime(fd: BorrowedFd<'_>) -> io::Result<()> {
    let ts = Timestamps {
        last_access: Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_OMIT },
        last_modification: Timespec { tv_sec: 0, tv_nsec: 0 },
    };
    Ok(rustix::fs::futimens(fd, &ts)?)
}

/// `uid`/`gid` as rustix takes them; `!0` passes through as "leave alone",
/// as `fchown(2)` treats it (and as OSTree passes it on).
pub(crate) fn owner(uid: u32, gid: u32) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    (Some(rustix::fs::Uid::from_raw_unchecked(uid)), Some(rustix::fs::Gid::from_raw_unchecked(gid)))
}

/// A regular file created under its final name (`O_CREAT|O_EXCL`, so
/// nothing that exists is opened or followed) and removed again when
/// dropped before [`NewFile::keep`]: a failure part-way leaves no file.
///
/// Fresh checkouts write files this way, which saves the `linkat` and the
/// inode juggling of [`TmpFile`]; a crash can leave a short file, as it
/// can leave a half-made tree, and checkouts that must survive crashes
/// (deployments) are made under a temporary directory name.
pub(crate) struct NewFile<'d, 'n> {
    dir: BorrowedFd<'d>,
    name: &'n str,
    file: File,
    keep: bool,
}

impl<'d, 'n> NewFile<'d, 'n> {
    /// Creates `name` in `dir` with `mode` (less the umask); `EEXIST` if
    /// anything has that name.
    pub fn create(dir: BorrowedFd<'d>, name: &'n str, mode: u32) -> rustix::io::Result<Self> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(mode))?;
        Ok(NewFile { dir, name, file: File::from(fd), keep: false })
    }

    /// The open file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Keeps the file.
    pub fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for NewFile<'_, '_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = rustix::fs::unlinkat(self.dir, self.name, AtFlags::empty());
        }
    }
}

/// How a finished temporary file takes its final name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkMode {
    /// Fail with `EEXIST` if the name exists.
    NoReplace,
    /// Atomically replace whatever non-directory is there.
    Replace,
    /// Keep what exists and drop the new file.
    NoReplaceIgnoreExist,
}

/// A file being written that has no name yet (`O_TMPFILE`), or a hidden
/// temporary name where `O_TMPFILE` is not supported.
pub(crate) struct TmpFile<'d> {
    dir: BorrowedFd<'d>,
    file: File,
    name: Option<String>,
}

impl<'d> TmpFile<'d> {
    /// Opens an unnamed file in `dir`, mode 0600 until set.
    pub fn new(dir: BorrowedFd<'d>) -> io::Result<Self> {
        let flags = OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC;
        match rustix::fs::openat(dir, ".", flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => return Ok(TmpFile { dir, file: File::from(fd), name: None }),
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
        for _ in 0..128 {
            let name = tmp_name("tmp");
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(dir, name.as_str(), flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => return Ok(TmpFile { dir, file: File::from(fd), name: Some(name) }),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Errno::EXIST.into())
    }

    /// The open file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Gives the file the name `name` in `target`. Returns false when
    /// `NoReplaceIgnoreExist` kept an existing file.
    pub fn link(mut self, target: BorrowedFd<'_>, name: &str, mode: LinkMode) -> io::Result<bool> {
        match self.name.take() {
            None => self.link_anonymous(target, name, mode),
            Some(tmp) => {
                let r = link_named(self.dir, &tmp, target, name, mode);
                if !matches!(r, Ok(true)) {
                    let _ = rustix::fs::unlinkat(self.dir, tmp.as_str(), AtFlags::empty());
                }
                r
            }
        }
    }

    fn link_anonymous(&self, target: BorrowedFd<'_>, name: &str, mode: LinkMode) -> io::Result<bool> {
        match mode {
            LinkMode::NoReplace => self.linkat(target, name).map(|()| true),
            LinkMode::NoReplaceIgnoreExist => match self.linkat(target, name) {
                Ok(()) => Ok(true),
                Err(e) if e.raw_os_error() == Some(Errno::EXIST.raw_os_error()) => Ok(false),
                Err(e) => Err(e),
            },
            LinkMode::Replace => {
                for _ in 0..128 {
                    let tmp = tmp_name("union");
                    match self.linkat(target, &tmp) {
                        Ok(()) => {
                            return match rustix::fs::renameat(target, tmp.as_str(), target, name) {
                                Ok(()) => Ok(true),
                                Err(e) => {
                                    let _ = rustix::fs::unlinkat(target, tmp.as_str(), AtFlags::empty());
                                    Err(e.into())
                                }
                            };
                        }
                        Err(e) if e.raw_os_error() == Some(Errno::EXIST.raw_os_error()) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(Errno::EXIST.into())
            }
        }
    }

    /// Links the unnamed file as `name` in `target`: through `/proc` as
    /// unprivileged callers must, or with `AT_EMPTY_PATH` without `/proc`.
    fn linkat(&self, target: BorrowedFd<'_>, name: &str) -> io::Result<()> {
        let p = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        match rustix::fs::linkat(rustix::fs::CWD, p.as_str(), target, name, AtFlags::SYMLINK_FOLLOW) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT) if rustix::fs::statat(rustix::fs::CWD, "/proc/self/fd", AtFlags::empty()).is_err() => {
                Ok(rustix::fs::linkat(&self.file, "", target, name, AtFlags::EMPTY_PATH)?)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for TmpFile<'_> {
    fn drop(&mut self) {
        if let Some(n) = self.name.take() {
            let _ = rustix::fs::unlinkat(self.dir, n.as_str(), AtFlags::empty());
        }
    }
}

/// Renames a named temporary file into place per `mode`.
fn link_named(dir: BorrowedFd<'_>, tmp: &str, target: BorrowedFd<'_>, name: &str, mode: LinkMode) -> io::Result<bool> {
    match mode {
        LinkMode::Replace => Ok(rustix::fs::renameat(dir, tmp, target, name).map(|()| true)?),
        LinkMode::NoReplace | LinkMode::NoReplaceIgnoreExist => {
            let r = match rustix::fs::renameat_with(dir, tmp, target, name, RenameFlags::NOREPLACE) {
                Err(Errno::INVAL | Errno::NOSYS) => rustix::fs::linkat(dir, tmp, target, name, AtFlags::empty())
                    .and_then(|()| rustix::fs::unlinkat(dir, tmp, AtFlags::empty())),
                r => r,
            };
            match r {
                Ok(()) => Ok(true),
                Err(Errno::EXIST) if mode == LinkMode::NoReplaceIgnoreExist => Ok(false),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Hardlinks `src_name` (in `src`) over `name` in `dir` atomically: a link
/// under a temporary name, then `rename`. Like `rename(2)` it replaces
/// files and symlinks but not directories.
///
/// The temporary link is made in `stage` (the repository's `tmp/`) when
/// given, as OSTree does, so that a rename that fails (a directory in the
/// way) leaves `dir` untouched, its mtime included; if `stage` is on
/// another file system the link goes next to `name` instead.
pub(crate) fn link_replace(
    src: BorrowedFd<'_>,
    src_name: &str,
    stage: Option<BorrowedFd<'_>>,
    dir: BorrowedFd<'_>,
    name: &str,
) -> io::Result<()> {
    let tmp_dir = stage.unwrap_or(dir);
    for _ in 0..128 {
        let tmp = tmp_name("union");
        match rustix::fs::linkat(src, src_name, tmp_dir, tmp.as_str(), AtFlags::empty()) {
            Ok(()) => {
                return match rustix::fs::renameat(tmp_dir, tmp.as_str(), dir, name) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        let _ = rustix::fs::unlinkat(tmp_dir, tmp.as_str(), AtFlags::empty());
                        if e == Errno::XDEV && stage.is_some() {
                            return link_replace(src, src_name, None, dir, name);
                        }
                        Err(e.into())
                    }
                };
            }
            Err(Errno::EXIST) => continue,
            Err(Errno::XDEV) if stage.is_some() => return link_replace(src, src_name, None, dir, name),
            Err(e) => return Err(e.into()),
        }
    }
    Err(Errno::EXIST.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("oxtree-fsops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn new_files_are_gone_unless_kept_and_never_open_what_exists() {
        let d = tmpdir("newfile");
        let fd = open_dir(rustix::fs::CWD, &d, false).unwrap();
        let mut f = NewFile::create(fd.as_fd(), "dropped", 0o644).unwrap();
        f.file().write_all(b"half").unwrap();
        drop(f);
        assert!(!d.join("dropped").exists());
        let mut f = NewFile::create(fd.as_fd(), "kept", 0o644).unwrap();
        f.file().write_all(b"whole").unwrap();
        f.keep();
        assert_eq!(std::fs::read_to_string(d.join("kept")).unwrap(), "whole");
        // An existing name, even a dangling symlink, is EEXIST and is
        // neither followed nor removed.
        std::os::unix::fs::symlink(d.join("target"), d.join("link")).unwrap();
        assert_eq!(NewFile::create(fd.as_fd(), "link", 0o644).err(), Some(Errno::EXIST));
        assert_eq!(NewFile::create(fd.as_fd(), "kept", 0o644).err(), Some(Errno::EXIST));
        assert!(!d.join("target").exists());
        assert!(d.join("link").symlink_metadata().is_ok());
        assert_eq!(std::fs::read_to_string(d.join("kept")).unwrap(), "whole");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn rm_rf_removes_symlinks_not_their_targets() {
        let d = tmpdir("rmrf");
        let outside = d.join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "x").unwrap();
        let victim = d.join("victim");
        std::fs::create_dir_all(victim.join("a/b")).unwrap();
        std::fs::write(victim.join("a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, victim.join("a/link")).unwrap();
        let fd = open_dir(rustix::fs::CWD, &d, false).unwrap();
        rm_rf_at(fd.as_fd(), "victim").unwrap();
        rm_rf_at(fd.as_fd(), "not-there").unwrap();
        assert!(!victim.exists());
        assert!(outside.join("keep").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn tmpfile_link_modes() {
        let d = tmpdir("tmpfile");
        let fd = open_dir(rustix::fs::CWD, &d, false).unwrap();
        let make = |text: &str| {
            let mut t = TmpFile::new(fd.as_fd()).unwrap();
            t.file().write_all(text.as_bytes()).unwrap();
            t
        };
        assert!(make("one").link(fd.as_fd(), "f", LinkMode::NoReplace).unwrap());
        let e = make("two").link(fd.as_fd(), "f", LinkMode::NoReplace).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(Errno::EXIST.raw_os_error()));
        assert!(!make("three").link(fd.as_fd(), "f", LinkMode::NoReplaceIgnoreExist).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("f")).unwrap(), "one");
        assert!(make("four").link(fd.as_fd(), "f", LinkMode::Replace).unwrap());
        assert_eq!(std::fs::read_to_string(d.join("f")).unwrap(), "four");
        // No temporary names are left behind.
        let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
        let _ = std::fs::remove_dir_all(&d);
    }
}
