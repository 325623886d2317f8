//! Building commits: a mutable tree assembled from directories, tar streams
//! and existing commits, written bottom-up as dirtree/dirmeta objects, then
//! the commit object.

mod devino;
mod from_dir;
mod from_tar;
mod mtree;

pub use devino::{devino_cache, DevinoCache};
pub use from_dir::write_directory;
pub use from_tar::write_tar;
pub use mtree::MutableTree;

use std::collections::{HashMap, HashSet};

use crate::gvariant::Value;
use crate::object::{Commit, CommitMetadata, DirMeta, FileHeader, Xattrs, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::repo::{Error, RepoMode, Transaction};
use crate::Checksum;

/// How entries' metadata is taken and modified while committing
/// (`ostree commit`'s modifier options).
#[derive(Debug, Clone, Default)]
pub struct CommitFilter {
    /// Override every entry's uid (`--owner-uid`).
    pub owner_uid: Option<u32>,
    /// Override every entry's gid (`--owner-gid`).
    pub owner_gid: Option<u32>,
    /// uid/gid 0, modes masked to 0755, no xattrs (`--canonical-permissions`;
    /// always on in bare-user-only repos).
    pub canonical_permissions: bool,
    /// Remove write bits from files with an execute bit (`--mode-ro-executables`).
    pub mode_ro_executables: bool,
    /// Do not read xattrs (`--no-xattrs`).
    pub no_xattrs: bool,
    /// Paths (absolute within the tree, e.g. `/usr/share/doc`) to leave out
    /// (`--skip-list`).
    pub skip: HashSet<String>,
    /// Mode changes per path (`--statoverride`).
    pub statoverride: HashMap<String, StatOverride>,
    /// Files whose inode is a content object of the repo are taken as that
    /// object without reading them, when their metadata after the modifiers
    /// is the object's (`--link-checkout-speedup`).
    pub devino: Option<std::sync::Arc<DevinoCache>>,
    /// Take every devino hit as its object, whatever the modifiers say
    /// (`--devino-canonical`, `-I`).
    pub devino_canonical: bool,
    /// The source files may be moved into the repo (`--consume`): in bare
    /// and bare-user-only repos regular files are adopted, not copied.
    pub consume: bool,
}

/// A `--statoverride` line's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatOverride {
    /// `+MODE`: add these permission bits.
    Add(u32),
    /// `=MODE`: set the permission bits.
    Set(u32),
}

impl CommitFilter {
    /// Whether xattrs are read at all in this repo with these options.
    pub(crate) fn wants_xattrs(&self, mode: RepoMode, disabled: bool) -> bool {
        !(self.no_xattrs || self.canonical_permissions || disabled || mode == RepoMode::BareUserOnly)
    }

    fn canonical(&self, mode: RepoMode) -> bool {
        self.canonical_permissions || mode == RepoMode::BareUserOnly
    }

    /// Applies the modifiers to (uid, gid, mode) of the entry at `path`.
    pub fn apply(&self, repo_mode: RepoMode, path: &str, uid: u32, gid: u32, mode: u32) -> (u32, u32, u32) {
        let mut uid = self.owner_uid.unwrap_or(uid);
        let mut gid = self.owner_gid.unwrap_or(gid);
        let mut mode = mode;
        let fmt = mode & S_IFMT;
        if let Some(o) = self.statoverride.get(path) {
            mode = match o {
                StatOverride::Add(bits) => mode | bits,
                StatOverride::Set(bits) => fmt | (bits & 0o7777),
            };
        }
        if self.mode_ro_executables && fmt == S_IFREG && mode & 0o111 != 0 {
            mode &= !0o222;
        }
        if self.canonical(repo_mode) {
            uid = 0;
            gid = 0;
            if fmt == S_IFREG {
                mode &= S_IFREG | 0o755;
            } else if fmt == S_IFDIR {
                mode &= S_IFDIR | 0o755;
            }
        }
        (uid, gid, mode)
    }

    pub(crate) fn file_header(
        &self,
        repo_mode: RepoMode,
        path: &str,
        st: (u32, u32, u32),
        target: String,
        xattrs: Xattrs,
    ) -> FileHeader {
        let (uid, gid, mode) = self.apply(repo_mode, path, st.0, st.1, st.2);
        FileHeader {
            uid,
            gid,
            mode,
            symlink_target: if mode & S_IFMT == S_IFLNK { target } else { String::new() },
            xattrs,
        }
    }

    pub(crate) fn dir_meta(&self, repo_mode: RepoMode, path: &str, st: (u32, u32, u32), xattrs: Xattrs) -> DirMeta {
        let (uid, gid, mode) = self.apply(repo_mode, path, st.0, st.1, st.2);
        DirMeta { uid, gid, mode, xattrs }
    }
}

/// What goes into a commit object besides the tree.
#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    /// Subject line.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Parent commit.
    pub parent: Option<Checksum>,
    /// Seconds since the epoch.
    pub timestamp: u64,
    /// Metadata, in order.
    pub metadata: CommitMetadata,
}

/// Writes a commit for the tree whose root dirtree and dirmeta are given.
pub fn write_commit(tx: &Transaction<'_>, info: &CommitInfo, root: (Checksum, Checksum)) -> Result<Checksum, Error> {
    tx.write_commit(&commit_object(info, root))
}

/// The commit object [`write_commit`] writes (whose bytes are what a
/// signature signs).
pub fn commit_object(info: &CommitInfo, root: (Checksum, Checksum)) -> Commit {
    Commit {
        metadata: info.metadata.clone(),
        parent: info.parent,
        related: Vec::new(),
        subject: info.subject.clone(),
        body: info.body.clone(),
        timestamp: info.timestamp,
        root_tree: root.0,
        root_meta: root.1,
    }
}

/// The `ostree.sizes` entry of one object: checksum, archived size,
/// unpacked size (protobuf varints) and the object type byte.
pub fn sizes_entry(csum: &Checksum, archived: u64, unpacked: u64, objtype: u8) -> Value<'static> {
    let mut b = csum.as_bytes().to_vec();
    for mut v in [archived, unpacked] {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                b.push(byte);
                break;
            }
            b.push(byte | 0x80);
        }
    }
    b.push(objtype);
    Value::Bytes(b.into())
}
