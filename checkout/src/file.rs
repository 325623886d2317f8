//! Checking out one file or symlink: the decision between a whiteout, a
//! hardlink (from `objects/` or the uncompressed cache) and a copy, as
//! OSTree makes it.
//!
//! * Hardlink when the repo is `bare` and the mode is not user mode, or the
//!   repo is `bare-user`/`bare-user-only` in user mode — except symlinks of
//!   those user-mode repos (stored as regular files or needing fresh
//!   ownership), which are created from their target.
//! * Always copy zero-length regular files (unless `force_copy_zerosized`
//!   is turned off) and, in user mode, files without owner-read (the copy
//!   gets `u+r`).
//! * Fall back to a copy when `linkat` fails with `EXDEV`, `EMLINK` or
//!   `EPERM`, unless `require_hardlinks`.

use std::os::fd::{AsFd, BorrowedFd};

use oxtree_store::object::FileEntry;

use crate::context::Ctx;
use crate::copy::copy_file;
use crate::link::{hardlink, LinkResult, LinkSource};
use crate::options::FilterInfo;
use crate::source::LoosePath;
use crate::stats::bump;
use crate::whiteout::{self, OVERLAY_PREFIX, WHITEOUT_PREFIX};
use crate::CheckoutError;

/// OSTree's wording when a hardlink is required but impossible.
fn hardlink_refusal(repo_usermode: bool) -> &'static str {
    if repo_usermode {
        "User repository mode requires user checkout mode to hardlink"
    } else {
        "Bare repository mode cannot hardlink in user checkout mode"
    }
}

/// Checks out `entry` into `dir`, whose filter path is `rel` (`/`, `/a/`).
pub(crate) fn checkout_file(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    entry: &FileEntry,
    rel: &str,
    filter: bool,
) -> Result<(), CheckoutError> {
    let name = entry.name.as_str();
    let csum = &entry.checksum;
    let mut obj = ctx.src.stat(csum)?;
    if filter {
        let path = format!("{rel}{name}");
        let info = FilterInfo { mode: obj.mode, uid: obj.uid, gid: obj.gid, size: obj.size };
        if !ctx.opts.wants(&path, &info) {
            bump(&ctx.counters.skipped);
            return Ok(());
        }
    }
    let symlink = obj.is_symlink();
    if !symlink && ctx.opts.whiteouts && name.starts_with(WHITEOUT_PREFIX) {
        return whiteout::remove(ctx, dir, name, rel);
    }
    if !symlink && ctx.opts.process_passthrough_whiteouts && name.starts_with(OVERLAY_PREFIX) {
        return whiteout::overlay(ctx, dir, name, rel, csum, &mut obj);
    }
    let zero = !symlink && obj.size == 0;
    let add_user_read = ctx.user && !symlink && obj.mode & 0o400 == 0;
    let mut need_copy = true;
    if (ctx.opts.force_copy_zerosized && zero) || add_user_read || ctx.opts.force_copy {
        // Copied below.
    } else {
        let usermode_symlink = ctx.repo_usermode && symlink;
        if ctx.opts.require_hardlinks && !ctx.hardlinkable && !usermode_symlink {
            return Err(CheckoutError::HardlinkRequired {
                path: ctx.path(rel, name),
                msg: hardlink_refusal(ctx.repo_usermode).into(),
            });
        }
        let loose = LoosePath::new(csum);
        if ctx.hardlinkable && !usermode_symlink {
            need_copy =
                hardlink(ctx, LinkSource { dir: ctx.src.objects.as_fd(), loose: &loose }, csum, dir, name, rel, true)?
                    == LinkResult::NotSupported;
        } else if let (Some(cache), false) = (&ctx.cache, symlink) {
            // From the cache, or else from what this checkout decompresses
            // for it (see the `cache` module).
            let mut res = LinkResult::NotSupported;
            if let Some(from) = cache.dir() {
                res = hardlink(ctx, LinkSource { dir: from.as_fd(), loose: &loose }, csum, dir, name, rel, true)?;
            }
            if res == LinkResult::NotSupported {
                if cache.extract(ctx, csum, &mut obj)? {
                    bump(&ctx.counters.cache_extracted);
                }
                if let Some(sdir) = cache.staged_dir() {
                    res = hardlink(ctx, LinkSource { dir: sdir.as_fd(), loose: &loose }, csum, dir, name, rel, false)?;
                }
            }
            need_copy = res == LinkResult::NotSupported;
        }
    }
    if need_copy {
        copy_file(ctx, dir, name, rel, csum, &mut obj, add_user_read)?;
    }
    Ok(())
}
