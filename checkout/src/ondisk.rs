//! The OSTree checksum of a file already in the destination, for
//! `--union-identical`: the header is built from `lstat` (owner, mode), the
//! symlink target and the xattrs, then the content is hashed, as a commit
//! of that file would.

use std::io::Read;
use std::os::fd::BorrowedFd;

use oxtree_store::object::{FileHeader, Xattrs, S_IFLNK, S_IFMT, S_IFREG};
use oxtree_store::repo::read_xattrs;
use oxtree_store::Checksum;
use rustix::fs::{Mode, OFlags, Stat};

use crate::fsops::proc_path;

/// Checksums `name` in `dir`, whose `lstat` is `st`. Returns `None` for
/// anything that cannot be a content object (directories, devices, a
/// target that is not UTF-8).
pub(crate) fn file_checksum(
    dir: BorrowedFd<'_>,
    name: &str,
    st: &Stat,
    ignore_xattrs: bool,
) -> std::io::Result<Option<Checksum>> {
    let fmt = st.st_mode & S_IFMT;
    if fmt != S_IFREG && fmt != S_IFLNK {
        return Ok(None);
    }
    let xattrs = if ignore_xattrs {
        Xattrs::new()
    } else {
        read_xattrs(std::path::Path::new(&proc_path(dir, name))).map_err(std::io::Error::other)?
    };
    let mut header =
        FileHeader { uid: st.st_uid, gid: st.st_gid, mode: st.st_mode, symlink_target: String::new(), xattrs };
    if fmt == S_IFLNK {
        let t = rustix::fs::readlinkat(dir, name, Vec::new())?;
        match t.into_string() {
            Ok(t) => header.symlink_target = t,
            Err(_) => return Ok(None),
        }
        return Ok(Some(header.hasher().finish()));
    }
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let mut f = std::fs::File::from(fd);
    let mut h = header.hasher();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Some(h.finish()))
}

/// OSTree's quick "could these be the same file" test before checksumming:
/// same mode, owner and (for regular files) size.
pub(crate) fn stat_equal(a: &Stat, b: &Stat) -> bool {
    a.st_mode == b.st_mode
        && a.st_uid == b.st_uid
        && a.st_gid == b.st_gid
        && (a.st_mode & S_IFMT != S_IFREG || a.st_size == b.st_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn checksum_of_a_file_on_disk_matches_its_header() {
        let d = std::env::temp_dir().join(format!("oxtree-ondisk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("f"), b"hello world\n").unwrap();
        std::os::unix::fs::symlink("f", d.join("l")).unwrap();
        let dir = crate::fsops::open_dir(rustix::fs::CWD, &d, false).unwrap();
        for (name, target, payload) in [("f", "", &b"hello world\n"[..]), ("l", "f", &b""[..])] {
            let st = rustix::fs::statat(dir.as_fd(), name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).unwrap();
            let h = FileHeader {
                uid: st.st_uid,
                gid: st.st_gid,
                mode: st.st_mode,
                symlink_target: target.into(),
                xattrs: Xattrs::new(),
            };
            let got = file_checksum(dir.as_fd(), name, &st, true).unwrap();
            assert_eq!(got, Some(h.checksum(payload)), "{name}");
        }
        let st = rustix::fs::statat(dir.as_fd(), ".", rustix::fs::AtFlags::empty()).unwrap();
        assert_eq!(file_checksum(dir.as_fd(), ".", &st, true).unwrap(), None);
        let _ = std::fs::remove_dir_all(&d);
    }
}
