//! Checking out a directory: create it `0700`, apply its xattrs, fill it
//! (files first, then subdirectories, in parallel), and only then give it
//! its mode, owner and mtime 0 — so nobody else can use a half-made
//! directory, and the mtime is not disturbed by the filling.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};

use oxtree_store::object::DirMeta;
use rayon::prelude::*;
use rustix::fs::Mode;
use rustix::io::Errno;

use crate::context::Ctx;
use crate::file::checkout_file;
use crate::fsops::{open_dir, owner, rm_rf_at, set_fd_xattrs, zero_mtime};
use crate::options::FilterInfo;
use crate::stats::bump;
use crate::tree::Tree;
use crate::whiteout::OPAQUE_WHITEOUT;
use crate::{CheckoutError, OverwriteMode};

/// Directories with at least this many files have them checked out in
/// parallel chunks (unless whiteouts make the order matter).
const PARALLEL_FILES: usize = 64;
/// Files per parallel chunk.
const FILE_CHUNK: usize = 32;

/// Checks out `tree` (metadata `meta`) as `name` in `parent`. `rel` is the
/// directory's filter path (`/` for the root, `/a/b/` below); `root` allows
/// the destination itself (named by the caller) to be reached through a
/// symlink.
pub(crate) fn checkout_dir(
    ctx: &Ctx<'_>,
    parent: BorrowedFd<'_>,
    name: &OsStr,
    tree: &Tree,
    meta: &DirMeta,
    rel: &str,
    root: bool,
) -> Result<(), CheckoutError> {
    let path = || ctx.path(rel, "");
    if ctx.filtering {
        let info = FilterInfo { mode: meta.mode, uid: meta.uid, gid: meta.gid, size: 0 };
        if !ctx.opts.wants(rel, &info) {
            bump(&ctx.counters.skipped);
            return Ok(());
        }
    }
    if ctx.opts.whiteouts && tree.has_file(OPAQUE_WHITEOUT) {
        if name == "." || name == ".." {
            return Err(CheckoutError::InvalidWhiteout { path: path(), name: OPAQUE_WHITEOUT.into() });
        }
        rm_rf_at(parent, name).map_err(|e| CheckoutError::io(path(), "rm_rf", e))?;
    }
    let did_exist = match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700)) {
        Ok(()) => false,
        Err(Errno::EXIST) if ctx.opts.overwrite != OverwriteMode::None => true,
        Err(e) => return Err(CheckoutError::io(path(), "mkdirat", e)),
    };
    let dfd = open_dir(parent, name, root).map_err(|e| CheckoutError::io(path(), "opendir", e))?;
    let dir = dfd.as_fd();
    if ctx.opts.require_hardlinks {
        let st = rustix::fs::fstat(dir).map_err(|e| CheckoutError::io(path(), "fstat", e))?;
        if st.st_dev as u64 != ctx.repo_dev {
            return Err(CheckoutError::HardlinkRequired {
                path: path(),
                msg: format!(
                    "Unable to do hardlink checkout across devices (src={} destination={})",
                    ctx.repo_dev, st.st_dev
                ),
            });
        }
    }
    if !did_exist && ctx.apply_xattrs && !meta.xattrs.is_empty() {
        set_fd_xattrs(dir, &meta.xattrs).map_err(|e| CheckoutError::io(path(), "fsetxattr", e))?;
    }

    let filter = ctx.filtering;
    if !ctx.opts.whiteouts && tree.files.len() >= PARALLEL_FILES {
        tree.files
            .par_chunks(FILE_CHUNK)
            .try_for_each(|chunk| chunk.iter().try_for_each(|f| checkout_file(ctx, dir, f, rel, filter)))?;
    } else {
        tree.files.iter().try_for_each(|f| checkout_file(ctx, dir, f, rel, filter))?;
    }
    let sub = |d: &crate::tree::Subdir| {
        let sub_rel = format!("{rel}{}/", d.name);
        checkout_dir(ctx, dir, OsStr::new(&d.name), &d.tree, &d.meta, &sub_rel, false)
    };
    if tree.dirs.len() > 1 {
        tree.dirs.par_iter().try_for_each(sub)?;
    } else {
        tree.dirs.iter().try_for_each(sub)?;
    }

    if !did_exist {
        let mode = if ctx.mask_dirs { meta.mode & 0o775 } else { meta.mode & 0o7777 };
        rustix::fs::fchmod(dir, Mode::from_raw_mode(mode)).map_err(|e| CheckoutError::io(path(), "fchmod", e))?;
        if !ctx.user {
            let (u, g) = owner(meta.uid, meta.gid);
            rustix::fs::fchown(dir, u, g).map_err(|e| CheckoutError::io(path(), "fchown", e))?;
        }
        if !ctx.opts.force_copy {
            zero_mtime(dir).map_err(|e| CheckoutError::io(path(), "futimens", e))?;
        }
        bump(&ctx.counters.dirs_created);
    } else {
        bump(&ctx.counters.dirs_existing);
    }
    if ctx.opts.fsync {
        rustix::fs::fsync(dir).map_err(|e| CheckoutError::io(path(), "fsync", e))?;
    }
    Ok(())
}
