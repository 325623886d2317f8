//! The objects the importer writes for what no package states: the
//! metadata of directories a package only has files in, and the headers of
//! files oxtree makes itself (`tmpfiles.d` lines, `add-files`). Import,
//! compose and layering use the same ones, so their trees agree.

use oxtree_store::build::CommitFilter;
use oxtree_store::object::{DirMeta, FileHeader, ObjectType, Xattrs};
use oxtree_store::repo::Transaction;
use oxtree_store::{Checksum, RepoMode};

const S_IFDIR: u32 = 0o040000;

/// Writes (or finds) the dirmeta of a directory no package states:
/// root-owned, 0755, no xattrs.
pub fn default_dirmeta(tx: &Transaction<'_>) -> Result<Checksum, oxtree_store::Error> {
    let meta = DirMeta { uid: 0, gid: 0, mode: S_IFDIR | 0o755, xattrs: Xattrs::new() };
    tx.write_metadata(ObjectType::DirMeta, &meta.to_bytes())
}

/// The header of a file owned by `uid`:`gid` with `mode` (type bits
/// included) as a repo in `repo_mode` stores it: bare-user-only keeps no
/// owners and no xattrs.
pub fn file_header(repo_mode: RepoMode, uid: u32, gid: u32, mode: u32, target: String, xattrs: Xattrs) -> FileHeader {
    let (uid, gid, mode) = CommitFilter::default().apply(repo_mode, "", uid, gid, mode);
    let xattrs = if repo_mode == RepoMode::BareUserOnly { Xattrs::new() } else { xattrs };
    FileHeader { uid, gid, mode, symlink_target: target, xattrs }
}

/// The header of a regular file oxtree writes itself: root-owned, `mode`.
pub fn own_file_header(repo_mode: RepoMode, mode: u32) -> FileHeader {
    file_header(repo_mode, 0, 0, mode, String::new(), Xattrs::new())
}
