//! Whiteouts. Docker/OCI whiteouts (`--whiteouts`): a file `.wh.NAME`
//! removes `NAME` from the destination directory and is not created itself;
//! `.wh..wh..opq` in a directory empties that directory before it is filled
//! (see `dir.rs`). Overlayfs passthrough whiteouts
//! (`--process-passthrough-whiteouts`): a file `.ostree-wh.NAME` becomes the
//! character device 0:0 `NAME`, with the file's permission bits (and owner
//! and xattrs outside user mode).

use std::os::fd::{AsFd, BorrowedFd};

use oxtree_store::Checksum;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::context::Ctx;
use crate::fsops::{owner, rm_rf_at};
use crate::source::Obj;
use crate::stats::bump;
use crate::CheckoutError;

/// The prefix of a Docker/OCI whiteout.
pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
/// The name of an opaque-directory whiteout.
pub(crate) const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// The prefix of a quoted overlayfs whiteout.
pub(crate) const OVERLAY_PREFIX: &str = ".ostree-wh.";

/// The name a whiteout acts on: non-empty and not `.` or `..` (it cannot
/// hold `/`, being part of a validated name).
fn target<'n>(ctx: &Ctx<'_>, rel: &str, name: &'n str, prefix: &str) -> Result<&'n str, CheckoutError> {
    let t = &name[prefix.len()..];
    if t.is_empty() || t == "." || t == ".." {
        return Err(CheckoutError::InvalidWhiteout { path: ctx.path(rel, name), name: name.to_string() });
    }
    Ok(t)
}

/// Processes `.wh.NAME`: removes `NAME` (recursively) from `dir`.
pub(crate) fn remove(ctx: &Ctx<'_>, dir: BorrowedFd<'_>, name: &str, rel: &str) -> Result<(), CheckoutError> {
    let t = target(ctx, rel, name, WHITEOUT_PREFIX)?;
    rm_rf_at(dir, t).map_err(|e| CheckoutError::io(ctx.path(rel, t), "rm_rf", e))?;
    bump(&ctx.counters.whiteouts);
    Ok(())
}

/// Processes `.ostree-wh.NAME`: creates the character device 0:0 `NAME`.
pub(crate) fn overlay(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    name: &str,
    rel: &str,
    csum: &Checksum,
    obj: &mut Obj,
) -> Result<(), CheckoutError> {
    let t = target(ctx, rel, name, OVERLAY_PREFIX)?;
    let err = |op: &'static str| move |e: rustix::io::Errno| CheckoutError::io(ctx.path(rel, t), op, e);
    let perms = obj.mode & 0o7777;
    rustix::fs::mknodat(dir, t, FileType::CharacterDevice, Mode::from_raw_mode(perms), rustix::fs::makedev(0, 0))
        .map_err(err("mknodat"))?;
    if !ctx.user {
        // Work on the node we made through an O_PATH descriptor, so that
        // nothing swapped in under the name is followed.
        let fd = rustix::fs::openat(dir, t, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
            .map_err(err("openat"))?;
        let st = rustix::fs::fstat(&fd).map_err(err("fstat"))?;
        if st.st_mode & 0o170000 != 0o020000 {
            return Err(err("mknodat")(rustix::io::Errno::EXIST));
        }
        let via = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        if ctx.apply_xattrs {
            let x = ctx.src.xattrs(csum, obj)?;
            for (n, v) in x.iter() {
                rustix::fs::setxattr(via.as_str(), n, v, rustix::fs::XattrFlags::empty())
                    .map_err(err("Setting xattrs for whiteout char device"))?;
            }
        }
        let (u, g) = owner(obj.uid, obj.gid);
        rustix::fs::chownat(fd.as_fd(), "", u, g, AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW)
            .map_err(err("fchownat"))?;
        rustix::fs::chmod(via.as_str(), Mode::from_raw_mode(perms)).map_err(err("fchmodat"))?;
    }
    bump(&ctx.counters.whiteouts);
    Ok(())
}
