//! The tree to check out, loaded into memory before anything is written.
//!
//! Every dirtree and dirmeta below the root is read once (shared subtrees
//! and the few distinct dirmetas are loaded once and shared), every name is
//! validated, and the depth is bounded. A hostile tree is therefore rejected
//! before the first file-system call on the destination, and the checkout
//! itself walks memory, not the repository.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use oxtree_store::object::{validate_name, DirMeta, FileEntry};
use oxtree_store::{Checksum, Repo};
use rayon::prelude::*;

use crate::CheckoutError;

/// The deepest nesting accepted, the store's limit. Metadata
/// objects are not verified against their names when read, so a hand-made
/// repository can hold a dirtree that contains itself; this bound stops it.
pub(crate) const MAX_DEPTH: usize = oxtree_store::object::MAX_RECURSION;

/// A directory listing with its subdirectories loaded.
#[derive(Debug)]
pub(crate) struct Tree {
    /// Files and symlinks, in dirtree order.
    pub files: Vec<FileEntry>,
    /// Subdirectories, in dirtree order.
    pub dirs: Vec<Subdir>,
    /// Levels below this one (0 when there are no subdirectories).
    pub height: usize,
}

/// A subdirectory entry.
#[derive(Debug)]
pub(crate) struct Subdir {
    /// Its name (validated).
    pub name: String,
    /// Its listing.
    pub tree: Arc<Tree>,
    /// Its metadata.
    pub meta: Arc<DirMeta>,
}

impl Tree {
    /// True when the directory holds an opaque whiteout.
    pub fn has_file(&self, name: &str) -> bool {
        self.files.iter().any(|f| f.name == name)
    }
}

/// What a subpath names.
#[derive(Debug)]
pub(crate) enum Target {
    /// A directory: (dirtree, dirmeta).
    Dir(Checksum, Checksum),
    /// A file or symlink: (name, content checksum).
    File(String, Checksum),
}

/// Loads trees, sharing what repeats.
pub(crate) struct Loader<'r> {
    repo: &'r Repo,
    trees: Mutex<HashMap<Checksum, Arc<Tree>>>,
    metas: Mutex<HashMap<Checksum, Arc<DirMeta>>>,
}

fn check_names(
    tree: &Checksum,
    files: &[FileEntry],
    dirs: &[oxtree_store::object::DirEntry],
) -> Result<(), CheckoutError> {
    let names = files.iter().map(|f| &f.name).chain(dirs.iter().map(|d| &d.name));
    for name in names {
        validate_name(name).map_err(|_| CheckoutError::InvalidName { tree: *tree, name: name.clone() })?;
    }
    Ok(())
}

impl<'r> Loader<'r> {
    /// A loader over `repo`.
    pub fn new(repo: &'r Repo) -> Self {
        Loader { repo, trees: Mutex::new(HashMap::new()), metas: Mutex::new(HashMap::new()) }
    }

    /// Loads a dirmeta (shared).
    pub fn meta(&self, csum: &Checksum) -> Result<Arc<DirMeta>, CheckoutError> {
        if let Some(m) = self.metas.lock().ok().and_then(|m| m.get(csum).cloned()) {
            return Ok(m);
        }
        let m = Arc::new(self.repo.load_dirmeta(csum)?);
        if let Ok(mut metas) = self.metas.lock() {
            metas.insert(*csum, m.clone());
        }
        Ok(m)
    }

    /// Loads a dirtree and everything below it; `depth` is the level of
    /// this tree (the checkout root is 0).
    pub fn tree(&self, csum: &Checksum, depth: usize) -> Result<Arc<Tree>, CheckoutError> {
        if depth > MAX_DEPTH {
            return Err(CheckoutError::TooDeep { tree: *csum, max: MAX_DEPTH });
        }
        if let Some(t) = self.trees.lock().ok().and_then(|t| t.get(csum).cloned()) {
            if depth + t.height > MAX_DEPTH {
                return Err(CheckoutError::TooDeep { tree: *csum, max: MAX_DEPTH });
            }
            return Ok(t);
        }
        let dt = self.repo.load_dirtree(csum)?;
        check_names(csum, &dt.files, &dt.dirs)?;
        let load_one = |d: &oxtree_store::object::DirEntry| -> Result<Subdir, CheckoutError> {
            Ok(Subdir { name: d.name.clone(), tree: self.tree(&d.tree, depth + 1)?, meta: self.meta(&d.meta)? })
        };
        let dirs: Vec<Subdir> = if dt.dirs.len() > 1 {
            dt.dirs.par_iter().map(load_one).collect::<Result<_, _>>()?
        } else {
            dt.dirs.iter().map(load_one).collect::<Result<_, _>>()?
        };
        let height = dirs.iter().map(|d| d.tree.height + 1).max().unwrap_or(0);
        let tree = Arc::new(Tree { files: dt.files, dirs, height });
        if let Ok(mut trees) = self.trees.lock() {
            trees.insert(*csum, tree.clone());
        }
        Ok(tree)
    }

    /// Finds what `subpath` names below the root. As in OSTree, one leading
    /// `/` is optional and every other component must name an entry: empty
    /// components, `.` and `..` name nothing (nor does the empty subpath).
    pub fn resolve(&self, root: (Checksum, Checksum), subpath: &str) -> Result<Target, CheckoutError> {
        if subpath.is_empty() {
            return Err(CheckoutError::NoSuchPath("/".into()));
        }
        let rest = subpath.strip_prefix('/').unwrap_or(subpath);
        let mut cur = Target::Dir(root.0, root.1);
        if rest.is_empty() {
            return Ok(cur);
        }
        let mut walked = String::new();
        for (i, c) in rest.split('/').enumerate() {
            walked.push('/');
            walked.push_str(c);
            let Target::Dir(tree, _) = cur else {
                return Err(CheckoutError::NotADirectory(walked));
            };
            if i >= MAX_DEPTH {
                return Err(CheckoutError::TooDeep { tree, max: MAX_DEPTH });
            }
            let dt = self.repo.load_dirtree(&tree)?;
            check_names(&tree, &dt.files, &dt.dirs)?;
            if c.is_empty() || c == "." || c == ".." {
                return Err(CheckoutError::NoSuchPath(walked));
            }
            cur = if let Some(d) = dt.dir(c) {
                Target::Dir(d.tree, d.meta)
            } else if let Some(f) = dt.file(c) {
                Target::File(f.name.clone(), f.checksum)
            } else {
                return Err(CheckoutError::NoSuchPath(walked));
            };
        }
        Ok(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_here_too() {
        let c = Checksum::digest(b"x");
        for bad in ["", ".", "..", "a/b", "/", "a\0b"] {
            let files = vec![FileEntry { name: bad.into(), checksum: c }];
            match check_names(&c, &files, &[]) {
                Err(CheckoutError::InvalidName { tree, name }) => {
                    assert_eq!((tree, name.as_str()), (c, bad));
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let ok = vec![FileEntry { name: "a b ü .wh.x ...".into(), checksum: c }];
        assert!(check_names(&c, &ok, &[]).is_ok());
    }
}
