//! What a checkout may do: the options of `ostree checkout` and of
//! `OstreeRepoCheckoutAtOptions`, as one struct.

use std::collections::HashSet;
use std::fmt;

/// What to do when a path of the tree already exists in the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverwriteMode {
    /// Fail on anything that exists (the destination itself must not exist).
    #[default]
    None,
    /// `--union`: keep existing directories, replace existing files and
    /// symlinks (atomically, by rename, for regular files).
    UnionFiles,
    /// `--union-add`: keep everything that exists, only add what is new.
    AddFiles,
    /// `--union-identical`: accept an existing file only when it is the same
    /// inode or has the same OSTree checksum; otherwise fail. Directories
    /// merge. Requires [`CheckoutOptions::require_hardlinks`].
    UnionIdentical,
}

/// What a filter is told about an entry: its metadata as stored in the
/// repository (not as it will be on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterInfo {
    /// Full `st_mode`: `S_IFDIR`, `S_IFREG` or `S_IFLNK` plus permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Payload length for regular files, target length for symlinks, 0 for
    /// directories.
    pub size: u64,
}

impl FilterInfo {
    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }
    /// True for a symlink.
    pub fn is_symlink(&self) -> bool {
        self.mode & 0o170000 == 0o120000
    }
}

/// A filter callback: given the entry's path and metadata, `true` checks it
/// out and `false` leaves it (and, for a directory, everything below) out.
///
/// Paths are relative to the root of what is checked out (the subpath, if
/// one is given) and start with `/`; directories end with `/` and the root
/// itself is `/`. This is OSTree's `OstreeRepoCheckoutFilter` convention.
/// Filters run concurrently on several threads.
pub type CheckoutFilter = Box<dyn Fn(&str, &FilterInfo) -> bool + Send + Sync>;

/// Options for [`checkout`](crate::checkout) and
/// [`checkout_tree`](crate::checkout_tree). `Default` gives OSTree's
/// defaults for a checkout as root (`ostree checkout COMMIT DEST`).
pub struct CheckoutOptions {
    /// `-U`: do not change ownership and do not apply xattrs; strip setuid
    /// and setgid from copied files; copy files lacking owner-read with
    /// `u+r`. Forced on for `bare-user-only` repositories.
    pub user_mode: bool,
    /// What to do with paths that already exist (`--union`, `--union-add`,
    /// `--union-identical`).
    pub overwrite: OverwriteMode,
    /// `-H`: fail instead of copying when a file cannot be hardlinked.
    pub require_hardlinks: bool,
    /// `-C`: always copy, never hardlink. Directory mtimes are then left as
    /// they are instead of being set to 0.
    pub force_copy: bool,
    /// Copy zero-length regular files instead of hardlinking them, so that a
    /// widely shared empty object never reaches the link limit. On by
    /// default, as in OSTree 2022.7 where it can no longer be turned off;
    /// set it to `false` to hardlink empty files too.
    pub force_copy_zerosized: bool,
    /// `--subpath`: check out only this path of the tree (`/` or `None` for
    /// all). A directory becomes the destination; a file is placed inside
    /// the destination directory under its own name (the destination is
    /// created if needed, or used as is when it is `.`).
    pub subpath: Option<String>,
    /// `--whiteouts`: process Docker/OCI whiteouts: `.wh.NAME` removes
    /// `NAME` from the destination, `.wh..wh..opq` empties the directory
    /// first; the whiteout files themselves are not created.
    pub whiteouts: bool,
    /// `--process-passthrough-whiteouts`: a file `.ostree-wh.NAME` becomes a
    /// character device 0:0 named `NAME` (an overlayfs whiteout).
    pub process_passthrough_whiteouts: bool,
    /// `-M`: mask directory modes to `0775` (always done for
    /// `bare-user-only` repositories).
    pub bareuseronly_dirs: bool,
    /// `--skip-list`: paths to leave out, spelled as the filter sees them
    /// (see [`CheckoutFilter`]): `/etc/motd` for a file, `/usr/share/doc/`
    /// (trailing slash) for a directory and all it contains.
    pub skip: HashSet<String>,
    /// fsync each copied file and each directory before returning.
    pub fsync: bool,
    /// `--disable-cache`: for `archive` repositories in user mode, neither
    /// use nor fill the repository's `uncompressed-objects-cache` (which
    /// otherwise lets files be hardlinked; config
    /// `core.enable-uncompressed-cache`, default true, must also allow it).
    pub disable_cache: bool,
    /// A filter for library use (like `ostree_repo_checkout_at`'s); applied
    /// together with `skip`. Ignored, like `skip`, when the subpath names a
    /// single file.
    pub filter: Option<CheckoutFilter>,
}

impl Default for CheckoutOptions {
    fn default() -> Self {
        CheckoutOptions {
            user_mode: false,
            overwrite: OverwriteMode::None,
            require_hardlinks: false,
            force_copy: false,
            force_copy_zerosized: true,
            subpath: None,
            whiteouts: false,
            process_passthrough_whiteouts: false,
            bareuseronly_dirs: false,
            skip: HashSet::new(),
            fsync: false,
            disable_cache: false,
            filter: None,
        }
    }
}

impl fmt::Debug for CheckoutOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckoutOptions")
            .field("user_mode", &self.user_mode)
            .field("overwrite", &self.overwrite)
            .field("require_hardlinks", &self.require_hardlinks)
            .field("force_copy", &self.force_copy)
            .field("force_copy_zerosized", &self.force_copy_zerosized)
            .field("subpath", &self.subpath)
            .field("whiteouts", &self.whiteouts)
            .field("process_passthrough_whiteouts", &self.process_passthrough_whiteouts)
            .field("bareuseronly_dirs", &self.bareuseronly_dirs)
            .field("skip", &self.skip)
            .field("fsync", &self.fsync)
            .field("disable_cache", &self.disable_cache)
            .field("filter", &self.filter.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

impl CheckoutOptions {
    /// True when a path should be checked out (skip list and filter agree).
    pub(crate) fn wants(&self, path: &str, info: &FilterInfo) -> bool {
        if self.skip.contains(path) {
            return false;
        }
        match &self.filter {
            Some(f) => f(path, info),
            None => true,
        }
    }

    /// True when paths must be tracked for filtering.
    pub(crate) fn filtering(&self) -> bool {
        !self.skip.is_empty() || self.filter.is_some()
    }

    /// Rejects combinations OSTree rejects.
    pub(crate) fn validate(&self) -> Result<(), crate::CheckoutError> {
        if self.force_copy && self.require_hardlinks {
            return Err(crate::CheckoutError::InvalidOptions(
                "Cannot specify both --require-hardlinks and --force-copy".into(),
            ));
        }
        if self.overwrite == OverwriteMode::UnionIdentical && !self.require_hardlinks {
            return Err(crate::CheckoutError::InvalidOptions("--union-identical requires --require-hardlinks".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_list_and_filter_combine() {
        let info = FilterInfo { mode: 0o100644, uid: 0, gid: 0, size: 1 };
        let mut o = CheckoutOptions::default();
        assert!(!o.filtering() && o.wants("/a", &info));
        o.skip.insert("/usr/share/doc/".into());
        assert!(o.filtering());
        assert!(!o.wants("/usr/share/doc/", &info));
        assert!(o.wants("/usr/share/doc", &info), "only the exact spelling is skipped, as in ostree");
        o.filter = Some(Box::new(|p: &str, i: &FilterInfo| !p.ends_with(".txt") || i.is_dir()));
        assert!(!o.wants("/a.txt", &info));
        assert!(o.wants("/a.rs", &info));
        assert!(format!("{o:?}").contains("<fn>"));
    }

    #[test]
    fn contradictions_are_refused() {
        let o = CheckoutOptions { force_copy: true, require_hardlinks: true, ..Default::default() };
        assert!(o.validate().is_err());
        let o = CheckoutOptions { overwrite: OverwriteMode::UnionIdentical, ..Default::default() };
        assert!(o.validate().is_err());
        let o =
            CheckoutOptions { overwrite: OverwriteMode::UnionIdentical, require_hardlinks: true, ..Default::default() };
        assert!(o.validate().is_ok());
        assert!(CheckoutOptions::default().force_copy_zerosized);
    }
}
