//! A mutable in-memory tree: what a commit will contain, before it is
//! written as dirtree and dirmeta objects.

use std::collections::BTreeMap;

use crate::object::{validate_name, DirEntry, DirMeta, DirTree, FileEntry, ObjectType, Xattrs};
use crate::repo::{Error, Repo, Transaction};
use crate::Checksum;

/// A directory being assembled. Maps are keyed by name; `String`'s order is
/// bytewise, which is the order OSTree requires in dirtrees.
#[derive(Debug, Clone, Default)]
pub struct MutableTree {
    /// The dirmeta object, once known.
    pub meta: Option<Checksum>,
    /// Files and symlinks: name to content checksum.
    pub files: BTreeMap<String, Checksum>,
    /// Subdirectories.
    pub dirs: BTreeMap<String, MutableTree>,
}

impl MutableTree {
    /// An empty tree.
    pub fn new() -> Self {
        MutableTree::default()
    }

    /// Loads a committed tree (recursively) so that more can be layered on.
    pub fn from_repo(repo: &Repo, tree: &Checksum, meta: &Checksum) -> Result<Self, Error> {
        let dt = repo.load_dirtree(tree)?;
        let mut out = MutableTree { meta: Some(*meta), ..Default::default() };
        for f in dt.files {
            out.files.insert(f.name, f.checksum);
        }
        for d in dt.dirs {
            out.dirs.insert(d.name, MutableTree::from_repo(repo, &d.tree, &d.meta)?);
        }
        Ok(out)
    }

    /// [`MutableTree::from_repo`] for a tree written in `tx` and not yet
    /// committed (or already stored).
    pub fn from_transaction(tx: &Transaction<'_>, tree: &Checksum, meta: &Checksum) -> Result<Self, Error> {
        let dt = match tx.read_staged_metadata(ObjectType::DirTree, tree) {
            Some(bytes) => DirTree::from_bytes(&bytes).map_err(|source| Error::BadObject {
                checksum: *tree,
                ty: ObjectType::DirTree,
                source,
            })?,
            None => tx.repo().load_dirtree(tree)?,
        };
        let mut out = MutableTree { meta: Some(*meta), ..Default::default() };
        for f in dt.files {
            out.files.insert(f.name, f.checksum);
        }
        for d in dt.dirs {
            out.dirs.insert(d.name, MutableTree::from_transaction(tx, &d.tree, &d.meta)?);
        }
        Ok(out)
    }

    /// The subdirectory at `path` (components), created as needed with
    /// `default_meta` for new directories. A file on the way is an error,
    /// as in OSTree: a tarball's `a/b` after a symlink `a` must not turn
    /// the link into a directory.
    pub fn ensure_dir(&mut self, path: &[&str], default_meta: Checksum) -> Result<&mut MutableTree, Error> {
        let mut cur = self;
        for c in path {
            validate_name(c).map_err(|e| Error::Invalid(e.to_string()))?;
            if cur.files.contains_key(*c) {
                return Err(Error::Invalid(format!("Can't replace file with directory: {c}")));
            }
            cur = cur
                .dirs
                .entry((*c).to_string())
                .or_insert_with(|| MutableTree { meta: Some(default_meta), ..Default::default() });
        }
        Ok(cur)
    }

    /// Puts a file at `name` in this directory, replacing a file; a
    /// directory there is an error, as in OSTree.
    pub fn put_file(&mut self, name: &str, csum: Checksum) -> Result<(), Error> {
        validate_name(name).map_err(|e| Error::Invalid(e.to_string()))?;
        if self.dirs.contains_key(name) {
            return Err(Error::Invalid(format!("Can't replace directory with file: {name}")));
        }
        self.files.insert(name.to_string(), csum);
        Ok(())
    }

    /// Overlays `other` onto this tree: its files and directories win.
    pub fn merge(&mut self, other: MutableTree) {
        if other.meta.is_some() {
            self.meta = other.meta;
        }
        for (n, c) in other.files {
            self.dirs.remove(&n);
            self.files.insert(n, c);
        }
        for (n, d) in other.dirs {
            self.files.remove(&n);
            match self.dirs.get_mut(&n) {
                Some(existing) => existing.merge(d),
                None => {
                    self.dirs.insert(n, d);
                }
            }
        }
    }

    /// Writes the tree bottom-up; returns (dirtree, dirmeta) of the root.
    /// Directories without metadata get root-owned 0755.
    pub fn write(&self, tx: &Transaction<'_>) -> Result<(Checksum, Checksum), Error> {
        let default_meta = DirMeta { uid: 0, gid: 0, mode: 0o040755, xattrs: Xattrs::new() };
        let meta = match self.meta {
            Some(m) => m,
            None => tx.write_metadata(ObjectType::DirMeta, &default_meta.to_bytes())?,
        };
        let mut dt = DirTree::default();
        for (n, c) in &self.files {
            dt.files.push(FileEntry { name: n.clone(), checksum: *c });
        }
        for (n, d) in &self.dirs {
            let (tree, meta) = d.write(tx)?;
            dt.dirs.push(DirEntry { name: n.clone(), tree, meta });
        }
        let tree = tx.write_metadata(ObjectType::DirTree, &dt.to_bytes())?;
        Ok((tree, meta))
    }
}
