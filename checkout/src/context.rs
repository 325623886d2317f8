//! The state one checkout shares across its threads: the options, what the
//! repository mode allows, the open repository directories and counters.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use oxtree_store::{Repo, RepoMode};

use crate::cache::Cache;
use crate::source::Source;
use crate::stats::Counters;
use crate::{CheckoutError, CheckoutOptions};

/// Shared checkout state.
pub(crate) struct Ctx<'a> {
    /// The repository.
    pub repo: &'a Repo,
    /// Its content objects.
    pub src: Source<'a>,
    /// The caller's options.
    pub opts: &'a CheckoutOptions,
    /// User mode (asked for, or forced by a bare-user-only repo).
    pub user: bool,
    /// Apply xattrs: not in user mode and not with `core.disable-xattrs`.
    pub apply_xattrs: bool,
    /// The repo stores content as real files with user-mode metadata
    /// (`bare-user`, `bare-user-only`): symlinks cannot be hardlinked.
    pub repo_usermode: bool,
    /// Objects can be hardlinked in this checkout mode.
    pub hardlinkable: bool,
    /// Mask directory modes to 0775.
    pub mask_dirs: bool,
    /// The skip list or a filter is in use.
    pub filtering: bool,
    /// The uncompressed-objects cache (archive repos in user mode).
    pub cache: Option<Cache>,
    /// `st_dev` of the repository, for `require_hardlinks`.
    pub repo_dev: u64,
    /// The repository's `tmp/`, where union checkouts stage the links that
    /// replace files (see [`crate::fsops::link_replace`]); `None` if it
    /// cannot be opened.
    pub stage: Option<OwnedFd>,
    /// The process's umask, if known: a file created with a mode it does
    /// not mask needs no `fchmod`.
    pub umask: Option<u32>,
    /// The destination as the caller named it, for messages.
    pub dest: PathBuf,
    /// What was done.
    pub counters: Counters,
}

impl<'a> Ctx<'a> {
    /// Sets up a checkout of `repo` into `dest`.
    pub fn new(repo: &'a Repo, opts: &'a CheckoutOptions, dest: &Path) -> Result<Self, CheckoutError> {
        let mode = repo.mode();
        let user = opts.user_mode || mode == RepoMode::BareUserOnly;
        let repo_usermode = matches!(mode, RepoMode::BareUser | RepoMode::BareUserOnly);
        let hardlinkable = (mode == RepoMode::Bare && !user) || (repo_usermode && user);
        let repo_dev = rustix::fs::stat(repo.path())
            .map_err(|e| CheckoutError::io(repo.path().to_path_buf(), "stat", e))?
            .st_dev as u64;
        let cache_allowed =
            repo.config().get_bool("core", "enable-uncompressed-cache").and_then(Result::ok).unwrap_or(true);
        let cache = if mode == RepoMode::Archive && user && !opts.disable_cache && cache_allowed {
            Some(Cache::open(repo)?)
        } else {
            None
        };
        Ok(Ctx {
            repo,
            src: Source::open(repo)?,
            opts,
            user,
            apply_xattrs: !user && !repo.xattrs_disabled(),
            repo_usermode,
            hardlinkable,
            mask_dirs: mode == RepoMode::BareUserOnly || opts.bareuseronly_dirs,
            filtering: opts.filtering(),
            cache,
            repo_dev,
            stage: crate::fsops::open_dir(rustix::fs::CWD, repo.path().join("tmp"), true).ok(),
            umask: oxtree_store::process_umask(),
            dest: dest.to_path_buf(),
            counters: Counters::default(),
        })
    }

    /// True when a file created with `mode` gets exactly that mode (see
    /// [`oxtree_store::created_with_mode`]).
    pub fn mode_as_created(&self, mode: u32) -> bool {
        oxtree_store::created_with_mode(mode, self.umask)
    }

    /// The destination path of `rel` (a filter-style path, `/a/b/`) plus
    /// `name`, for messages.
    pub fn path(&self, rel: &str, name: &str) -> PathBuf {
        let mut p = self.dest.join(rel.trim_start_matches('/'));
        if !name.is_empty() {
            p.push(name);
        }
        p
    }
}
