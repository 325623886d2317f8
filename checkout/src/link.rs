//! Checking out a file by hardlinking it from the object store (or the
//! uncompressed cache): one `linkat` in the common case, with OSTree's
//! handling of an existing destination per overwrite mode.

use std::os::fd::{AsFd, BorrowedFd};

use oxtree_store::Checksum;
use rustix::fs::AtFlags;
use rustix::io::Errno;

use crate::context::Ctx;
use crate::fsops::{link_replace, rm_rf_at};
use crate::ondisk::{file_checksum, stat_equal};
use crate::source::LoosePath;
use crate::stats::bump;
use crate::{CheckoutError, OverwriteMode};

/// What a hardlink attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkResult {
    /// No link was made; the caller copies instead.
    NotSupported,
    /// The destination existed and is kept.
    Kept,
    /// The destination is now a link to the object.
    Linked,
}

/// Where a hardlink comes from: a directory (`objects/` or the cache) and
/// the object's path below it.
#[derive(Clone, Copy)]
pub(crate) struct LinkSource<'a> {
    /// `objects/` or `uncompressed-objects-cache/`.
    pub dir: BorrowedFd<'a>,
    /// `XX/REST.file`.
    pub loose: &'a LoosePath,
}

/// Links `src` (object `csum`) as `name` in `dir`. `allow_noent` turns a
/// missing source into [`LinkResult::NotSupported`].
pub(crate) fn hardlink(
    ctx: &Ctx<'_>,
    src: LinkSource<'_>,
    csum: &Checksum,
    dir: BorrowedFd<'_>,
    name: &str,
    rel: &str,
    allow_noent: bool,
) -> Result<LinkResult, CheckoutError> {
    let (src_dir, loose) = (src.dir, src.loose);
    let err = |op: &'static str| move |e: Errno| CheckoutError::io(ctx.path(rel, name), op, e);
    let res = match rustix::fs::linkat(src_dir, loose.as_str(), dir, name, AtFlags::empty()) {
        Ok(()) => LinkResult::Linked,
        Err(Errno::MLINK | Errno::XDEV | Errno::PERM) if !ctx.opts.require_hardlinks => LinkResult::NotSupported,
        Err(Errno::NOENT) if allow_noent => LinkResult::NotSupported,
        Err(Errno::EXIST) => match ctx.opts.overwrite {
            OverwriteMode::None => return Err(err("linkat")(Errno::EXIST)),
            OverwriteMode::AddFiles => LinkResult::Kept,
            OverwriteMode::UnionFiles | OverwriteMode::UnionIdentical => {
                let src_st = rustix::fs::statat(src_dir, loose.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| CheckoutError::io(ctx.src.path(csum), "fstatat", e))?;
                let dst_st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(err("fstatat"))?;
                let mut identical = src_st.st_dev == dst_st.st_dev && src_st.st_ino == dst_st.st_ino;
                if !identical && stat_equal(&src_st, &dst_st) {
                    let actual = file_checksum(dir, name, &dst_st, ctx.repo.xattrs_disabled())
                        .map_err(|e| CheckoutError::io(ctx.path(rel, name), "checksum", e))?;
                    identical = actual == Some(*csum);
                }
                if identical {
                    LinkResult::Kept
                } else if ctx.opts.overwrite == OverwriteMode::UnionFiles {
                    if ctx.opts.whiteouts {
                        rm_rf_at(dir, name).map_err(|e| CheckoutError::io(ctx.path(rel, name), "rm_rf", e))?;
                    }
                    link_replace(src_dir, loose.as_str(), ctx.stage.as_ref().map(|f| f.as_fd()), dir, name)
                        .map_err(|e| CheckoutError::io(ctx.path(rel, name), "renameat", e))?;
                    LinkResult::Linked
                } else {
                    return Err(err("linkat")(Errno::EXIST));
                }
            }
        },
        Err(e) => return Err(err("linkat")(e)),
    };
    match res {
        LinkResult::Linked => bump(&ctx.counters.files_hardlinked),
        LinkResult::Kept => bump(&ctx.counters.files_kept),
        LinkResult::NotSupported => {}
    }
    Ok(res)
}
