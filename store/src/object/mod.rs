//! OSTree's object model: object types and names, and the metadata objects.

mod commit;
mod dirmeta;
mod dirtree;
mod file;
mod xattrs;

pub use commit::{Commit, CommitMetadata};
pub use dirmeta::DirMeta;
pub use dirtree::{check_unique_names, validate_name, DirEntry, DirTree, FileEntry, MAX_RECURSION};
pub use file::{FileHeader, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
pub use xattrs::Xattrs;

use crate::gvariant;
use crate::Checksum;

/// Errors in object data.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The GVariant bytes are malformed.
    #[error(transparent)]
    GVariant(#[from] gvariant::Error),
    /// The object decodes but breaks an OSTree rule.
    #[error("{0}")]
    Invalid(String),
}

/// The kinds of object in a repository, with OSTree's numeric ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    /// Content: a regular file or symlink with its metadata (1).
    File = 1,
    /// A directory listing (2).
    DirTree = 2,
    /// A directory's uid, gid, mode and xattrs (3).
    DirMeta = 3,
    /// A commit (4).
    Commit = 4,
    /// The marker left for a deleted commit (5).
    TombstoneCommit = 5,
    /// A commit's detached metadata (6).
    CommitMeta = 6,
    /// A payload link (7).
    PayloadLink = 7,
    /// Split xattrs (8).
    FileXattrs = 8,
    /// Link to split xattrs (9).
    FileXattrsLink = 9,
}

impl ObjectType {
    /// The type with OSTree's numeric id.
    pub fn from_id(id: u8) -> Option<ObjectType> {
        Some(match id {
            1 => ObjectType::File,
            2 => ObjectType::DirTree,
            3 => ObjectType::DirMeta,
            4 => ObjectType::Commit,
            5 => ObjectType::TombstoneCommit,
            6 => ObjectType::CommitMeta,
            7 => ObjectType::PayloadLink,
            8 => ObjectType::FileXattrs,
            9 => ObjectType::FileXattrsLink,
            _ => return None,
        })
    }

    /// OSTree's name for the type (`file`, `dirtree`, `commit`, …).
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::File => "file",
            ObjectType::DirTree => "dirtree",
            ObjectType::DirMeta => "dirmeta",
            ObjectType::Commit => "commit",
            ObjectType::TombstoneCommit => "tombstone-commit",
            ObjectType::CommitMeta => "commitmeta",
            ObjectType::PayloadLink => "payload-link",
            ObjectType::FileXattrs => "file-xattrs",
            ObjectType::FileXattrsLink => "file-xattrs-link",
        }
    }

    /// Parses a type name.
    pub fn from_name(s: &str) -> Option<ObjectType> {
        (1..=9).filter_map(ObjectType::from_id).find(|t| t.name() == s)
    }

    /// True for metadata objects (OSTree's `IS_META`: dirtree to commitmeta).
    pub fn is_meta(self) -> bool {
        matches!(
            self,
            ObjectType::DirTree
                | ObjectType::DirMeta
                | ObjectType::Commit
                | ObjectType::TombstoneCommit
                | ObjectType::CommitMeta
        )
    }

    /// The loose-object file extension; `archive` picks `.filez` for files.
    pub fn extension(self, archive: bool) -> &'static str {
        match self {
            ObjectType::File if archive => "filez",
            other => other.name(),
        }
    }

    /// The type stored under the loose-object extension `ext` in a repo
    /// that is `archive` or not.
    pub fn from_extension(ext: &str, archive: bool) -> Option<ObjectType> {
        (1..=9).filter_map(ObjectType::from_id).find(|t| t.extension(archive) == ext)
    }
}

/// The path of a loose object relative to the repository: `objects/XX/REST.EXT`.
pub fn loose_path(csum: &Checksum, ty: ObjectType, archive: bool) -> String {
    let hex = csum.to_hex();
    format!("objects/{}/{}.{}", &hex[..2], &hex[2..], ty.extension(archive))
}

/// SHA-256 over the bytes of a metadata object: its name.
pub fn metadata_checksum(bytes: &[u8]) -> Checksum {
    Checksum::digest(bytes)
}
