//! `oxtree-checkout`: turning an OSTree tree into files, with the semantics
//! of `ostree checkout` 2022.7 (spec §17).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use oxtree_checkout::{checkout, CheckoutOptions};
//! use oxtree_store::Repo;
//! let repo = Repo::open("repo".as_ref())?;
//! let commit = repo.resolve_rev("main", false)?.ok_or("no such ref")?;
//! let stats = checkout(&repo, &commit, "out".as_ref(), &CheckoutOptions { user_mode: true, ..Default::default() })?;
//! println!("{} files hardlinked", stats.files_hardlinked);
//! # Ok(()) }
//! ```
//!
//! How it works:
//!
//! 1. The whole tree (dirtrees and dirmetas) is loaded into memory first,
//!    every name validated and the depth bounded, so a hostile tree fails
//!    before anything is written.
//! 2. Directories are created `0700` relative to their parent's descriptor
//!    (`mkdirat` + `openat(O_NOFOLLOW)`), filled, and only then given mode,
//!    owner and mtime 0. Subdirectories (and large directories' files) are
//!    checked out in parallel.
//! 3. Each file is one `linkat` from `objects/` when the repository mode
//!    and the checkout mode allow (after one metadata call on the object),
//!    otherwise a copy (written under its name, or through `O_TMPFILE`
//!    when it replaces a file), or a whiteout.
//!
//! Safety of the destination: names come only from validated dirtree
//! entries, every call is relative to a directory descriptor that was
//! opened without following symlinks, and no symlink is ever followed
//! except the destination path the caller gave. Existing symlinks in the
//! way of a directory (union modes) make the checkout fail instead of being
//! followed — unlike OSTree, which would follow them.
//!
//! A commit that only the `core.parent` repository holds is checked out
//! from there. Hardlinked checkouts keep the objects' device and inode, so
//! `commit --link-checkout-speedup` of one (whose device/inode cache
//! `oxtree-store` builds from `objects/`) skips reading the files.
//!
//! Not done: SELinux labelling (`--selinux-policy`), which needs libselinux.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cache;
mod context;
mod copy;
mod dir;
mod error;
mod file;
mod fsops;
mod link;
mod ondisk;
mod options;
mod source;
mod stats;
mod tree;
mod whiteout;

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::Path;

use oxtree_store::object::FileEntry;
use oxtree_store::{Checksum, Repo};
use rustix::fs::Mode;
use rustix::io::Errno;

pub use cache::checkout_gc;
pub use error::CheckoutError;
pub use options::{CheckoutFilter, CheckoutOptions, FilterInfo, OverwriteMode};
pub use stats::CheckoutStats;

use context::Ctx;
use tree::{Loader, Target};

/// Stack size of the checkout's worker threads: recursion goes one frame
/// group per directory level, up to [`tree::MAX_DEPTH`].
const WORKER_STACK: usize = 64 << 20;

/// Checks out `commit` into `dest`.
///
/// `dest` must not exist unless an overwrite mode other than
/// [`OverwriteMode::None`] is chosen; its parent must exist. With
/// [`CheckoutOptions::subpath`] only that part of the tree is checked out.
pub fn checkout(
    repo: &Repo,
    commit: &Checksum,
    dest: &Path,
    opts: &CheckoutOptions,
) -> Result<CheckoutStats, CheckoutError> {
    let c = repo.load_commit(commit)?;
    // A commit that only the parent repository (`core.parent`) has is
    // checked out from there, where its objects are.
    if !repo.has_local_object(oxtree_store::object::ObjectType::Commit, commit) {
        if let Some(parent) = repo.parent_repo() {
            return checkout(parent, commit, dest, opts);
        }
    }
    checkout_tree(repo, &c.root_tree, &c.root_meta, dest, opts)
}

/// Checks out the directory `tree` with metadata `meta` into `dest` (see
/// [`checkout`]).
pub fn checkout_tree(
    repo: &Repo,
    tree: &Checksum,
    meta: &Checksum,
    dest: &Path,
    opts: &CheckoutOptions,
) -> Result<CheckoutStats, CheckoutError> {
    opts.validate()?;
    let run = || run(repo, (*tree, *meta), dest, opts);
    let threads = oxtree_store::io_threads();
    match rayon::ThreadPoolBuilder::new().num_threads(threads).stack_size(WORKER_STACK).build() {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}

fn run(
    repo: &Repo,
    root: (Checksum, Checksum),
    dest: &Path,
    opts: &CheckoutOptions,
) -> Result<CheckoutStats, CheckoutError> {
    let loader = Loader::new(repo);
    let target = loader.resolve(root, opts.subpath.as_deref().unwrap_or("/"))?;
    let ctx = Ctx::new(repo, opts, dest)?;
    // The destination's parent, and the final component to create in it.
    let (parent_path, name): (&Path, &OsStr) = match dest.file_name() {
        Some(n) => match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => (p, n),
            _ => (Path::new("."), n),
        },
        None => (dest, OsStr::new(".")),
    };
    let result = checkout_target(&ctx, loader, target, dest, parent_path, name);
    // Files decompressed for the cache enter it only now (see `cache`),
    // also after a failed checkout: they are complete.
    let finished = ctx.cache.as_ref().map_or(Ok(()), |c| c.finish(repo));
    result?;
    finished?;
    Ok(ctx.counters.snapshot())
}

fn checkout_target(
    ctx: &Ctx<'_>,
    loader: Loader<'_>,
    target: Target,
    dest: &Path,
    parent_path: &Path,
    name: &OsStr,
) -> Result<(), CheckoutError> {
    let parent = fsops::open_dir(rustix::fs::CWD, parent_path, true)
        .map_err(|e| CheckoutError::io(parent_path.to_path_buf(), "opendir", e))?;
    match target {
        Target::Dir(tree, meta) => {
            let tree = loader.tree(&tree, 0)?;
            let meta = loader.meta(&meta)?;
            drop(loader);
            dir::checkout_dir(ctx, parent.as_fd(), name, &tree, &meta, "/", true)?;
        }
        Target::File(fname, checksum) => {
            // Like OSTree: the destination is a directory holding the file;
            // `.` means "here". The filter is not applied.
            if name != "." {
                match rustix::fs::mkdirat(parent.as_fd(), name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(CheckoutError::io(dest.to_path_buf(), "mkdirat", e)),
                }
            }
            let dfd = fsops::open_dir(parent.as_fd(), name, true)
                .map_err(|e| CheckoutError::io(dest.to_path_buf(), "opendir", e))?;
            let entry = FileEntry { name: fname, checksum };
            file::checkout_file(ctx, dfd.as_fd(), &entry, "/", false)?;
        }
    }
    Ok(())
}
