//! Walking commits: the objects a commit reaches, with the leniency OSTree's
//! own traversal has (names in dirtrees are not validated here; fsck does
//! that and reports it), shared by fsck, prune and diff.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use crate::gvariant::{Type, Value};
use crate::object::{Commit, ObjectError, ObjectType};
use crate::repo::{Error, Repo};
use crate::Checksum;

/// An object's identity: checksum and type.
pub type ObjectKey = (Checksum, ObjectType);

/// A dirtree read without validating its names: files `(name, content)` and
/// subdirectories `(name, dirtree, dirmeta)`, in stored order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawDirTree {
    /// Files and symlinks.
    pub files: Vec<(String, Checksum)>,
    /// Subdirectories.
    pub dirs: Vec<(String, Checksum, Checksum)>,
}

fn checksum_field(v: Option<&Value<'_>>) -> Result<Checksum, ObjectError> {
    let b = v.and_then(Value::as_bytes).ok_or_else(|| ObjectError::Invalid("malformed dirtree: checksum".into()))?;
    Checksum::from_slice(b)
        .map_err(|_| ObjectError::Invalid(format!("Invalid checksum of length {} expected 32", b.len())))
}

impl RawDirTree {
    /// Parses dirtree bytes: framing and checksum lengths are checked, names
    /// are not (see [`validate_filename`]).
    pub fn from_bytes(data: &[u8]) -> Result<RawDirTree, ObjectError> {
        let v = Value::from_bytes(&Type::parse(crate::object::DirTree::TYPE)?, data)?;
        let bad = |w: &str| ObjectError::Invalid(format!("malformed dirtree: {w}"));
        let t = v.as_tuple().ok_or_else(|| bad("not a tuple"))?;
        let mut out = RawDirTree::default();
        for f in t.first().and_then(Value::as_array).ok_or_else(|| bad("files"))? {
            let m = f.as_tuple().ok_or_else(|| bad("file entry"))?;
            let name = m.first().and_then(Value::as_str).ok_or_else(|| bad("file name"))?;
            out.files.push((name.to_string(), checksum_field(m.get(1))?));
        }
        for d in t.get(1).and_then(Value::as_array).ok_or_else(|| bad("dirs"))? {
            let m = d.as_tuple().ok_or_else(|| bad("dir entry"))?;
            let name = m.first().and_then(Value::as_str).ok_or_else(|| bad("dir name"))?;
            out.dirs.push((name.to_string(), checksum_field(m.get(1))?, checksum_field(m.get(2))?));
        }
        Ok(out)
    }

    /// Reads and parses a dirtree object (not verified against its name).
    pub fn load(repo: &Repo, csum: &Checksum) -> Result<RawDirTree, Error> {
        let b = repo.read_metadata(ObjectType::DirTree, csum)?;
        RawDirTree::from_bytes(&b).map_err(|source| Error::BadObject {
            checksum: *csum,
            ty: ObjectType::DirTree,
            source,
        })
    }

    /// Every name, files first, checked with [`validate_filename`], and no
    /// name twice.
    pub fn validate_names(&self) -> Result<(), String> {
        for n in self.files.iter().map(|f| &f.0).chain(self.dirs.iter().map(|d| &d.0)) {
            validate_filename(n)?;
        }
        crate::object::check_unique_names(
            self.files.iter().map(|f| f.0.as_str()),
            self.dirs.iter().map(|d| d.0.as_str()),
            false,
        )
        .map_err(|e| e.to_string())
    }
}

/// Checks a name from a dirtree, with OSTree's wording for what is wrong
/// (see [`crate::object::validate_name`]).
pub fn validate_filename(name: &str) -> Result<(), String> {
    crate::object::validate_name(name).map_err(|e| e.to_string())
}

/// How [`traverse_commit`] walks.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraverseFlags {
    /// Only commit objects (follow parents, skip trees).
    pub commit_only: bool,
}

/// Adds everything reachable from `commit` to `reachable`: the commit, and
/// (unless `commit_only`) its root dirtree and dirmeta and all below them;
/// then, `depth` times (negative: without limit), the same for the parent.
/// A missing parent ends the walk silently (partial history); a missing
/// dirtree or dirmeta is tolerated only below a commit marked partial.
/// Dirtrees already in `reachable` are not walked again.
pub fn traverse_commit(
    repo: &Repo,
    commit: &Checksum,
    depth: i64,
    flags: TraverseFlags,
    reachable: &mut HashSet<ObjectKey>,
) -> Result<(), Error> {
    let mut cur = *commit;
    let mut remaining = depth;
    let mut first = true;
    loop {
        let key = (cur, ObjectType::Commit);
        let c: Commit = match repo.load_commit(&cur) {
            Ok(c) => c,
            Err(Error::MissingObject { .. }) if !first => break,
            Err(e) => return Err(e),
        };
        first = false;
        let seen = !reachable.insert(key);
        if !seen && !flags.commit_only {
            let partial = repo.is_partial(&cur);
            traverse_tree(repo, &c.root_tree, &c.root_meta, partial, reachable)?;
        }
        if remaining == 0 {
            break;
        }
        if remaining > 0 {
            remaining -= 1;
        }
        match c.parent {
            Some(p) => cur = p,
            None => break,
        }
    }
    Ok(())
}

/// Adds a tree (dirtree + dirmeta and everything below) to `reachable`.
///
/// Subdirectories are walked in parallel on the I/O pool: with a cold cache
/// every dirtree is a disk read, and a prune after a deploy spent most of
/// its time waiting on them one at a time.
pub fn traverse_tree(
    repo: &Repo,
    tree: &Checksum,
    meta: &Checksum,
    partial: bool,
    reachable: &mut HashSet<ObjectKey>,
) -> Result<(), Error> {
    let set = Mutex::new(std::mem::take(reachable));
    let res = crate::threads::io_install(|| walk_tree(repo, (*tree, *meta), partial, 0, &set));
    *reachable = set.into_inner().unwrap_or_else(PoisonError::into_inner);
    res
}

fn walk_tree(
    repo: &Repo,
    (tree, meta): (Checksum, Checksum),
    partial: bool,
    depth: usize,
    set: &Mutex<HashSet<ObjectKey>>,
) -> Result<(), Error> {
    // Each level is a stack frame: a hostile chain of dirtrees must end in
    // an error, not a stack overflow.
    if depth > crate::object::MAX_RECURSION {
        return Err(too_deep(&tree));
    }
    let lock = || set.lock().unwrap_or_else(PoisonError::into_inner);
    {
        let mut s = lock();
        s.insert((meta, ObjectType::DirMeta));
        if !s.insert((tree, ObjectType::DirTree)) {
            return Ok(());
        }
    }
    let dt = match RawDirTree::load(repo, &tree) {
        Ok(d) => d,
        Err(Error::MissingObject { .. }) if partial => return Ok(()),
        Err(e) => return Err(e),
    };
    lock().extend(dt.files.iter().map(|(_, c)| (*c, ObjectType::File)));
    dt.dirs.par_iter().try_for_each(|(_, st, sm)| walk_tree(repo, (*st, *sm), partial, depth + 1, set))
}

/// The error for dirtree `tree`, found deeper than
/// [`MAX_RECURSION`](crate::object::MAX_RECURSION) directories.
pub fn too_deep(tree: &Checksum) -> Error {
    Error::BadObject {
        checksum: *tree,
        ty: ObjectType::DirTree,
        source: ObjectError::Invalid(format!(
            "Exceeded maximum recursion depth of {} directories",
            crate::object::MAX_RECURSION
        )),
    }
}

/// The first object that commit `to` reaches and `repo` lacks, if any.
///
/// `base` is a commit whose tree is known to be whole here (not partial):
/// where `to` has, at the same path, the same subtree or the same file as
/// `base`, it is taken as present without a look. An update that changes a
/// few packages then costs a walk of the directories it changed, not a
/// `stat` of every object in the tree.
pub fn first_missing(repo: &Repo, to: &Checksum, base: Option<&Checksum>) -> Result<Option<ObjectKey>, Error> {
    let c = match repo.load_commit(to) {
        Ok(c) => c,
        Err(Error::MissingObject { .. }) => return Ok(Some((*to, ObjectType::Commit))),
        Err(e) => return Err(e),
    };
    let base_root = match base.map(|b| repo.load_commit(b)).transpose()? {
        Some(b) => Some((b.root_tree, b.root_meta)),
        None => None,
    };
    type Pair = (Checksum, Checksum);
    let mut stack: Vec<(Pair, Option<Pair>)> = vec![((c.root_tree, c.root_meta), base_root)];
    let mut seen = HashSet::new();
    while let Some(((t, m), b)) = stack.pop() {
        if b == Some((t, m)) || !seen.insert((t, m)) {
            continue;
        }
        if b.map(|b| b.1) != Some(m) && !repo.has_object(ObjectType::DirMeta, &m) {
            return Ok(Some((m, ObjectType::DirMeta)));
        }
        let dt = match RawDirTree::load(repo, &t) {
            Ok(d) => d,
            Err(Error::MissingObject { .. }) => return Ok(Some((t, ObjectType::DirTree))),
            Err(e) => return Err(e),
        };
        let old = match b {
            Some((bt, _)) => RawDirTree::load(repo, &bt)?,
            None => RawDirTree::default(),
        };
        let old_files: std::collections::HashMap<&str, &Checksum> =
            old.files.iter().map(|(n, c)| (n.as_str(), c)).collect();
        for (name, f) in &dt.files {
            if old_files.get(name.as_str()) != Some(&f) && !repo.has_object(ObjectType::File, f) {
                return Ok(Some((*f, ObjectType::File)));
            }
        }
        let old_dirs: std::collections::HashMap<&str, Pair> =
            old.dirs.iter().map(|(n, t, m)| (n.as_str(), (*t, *m))).collect();
        for (name, st, sm) in dt.dirs.iter().rev() {
            stack.push(((*st, *sm), old_dirs.get(name.as_str()).copied()));
        }
    }
    Ok(None)
}

/// `g_format_size` with default flags: `1 byte`, `N bytes`, then SI units
/// with one decimal (`1.4 kB`, `46.5 MB`).
pub fn format_size(bytes: u64) -> String {
    if bytes == 1 {
        return "1 byte".into();
    }
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let units = ["kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64 / 1000.0;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{v:.1}\u{a0}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_format_like_glib() {
        assert_eq!(format_size(0), "0 bytes");
        assert_eq!(format_size(1), "1 byte");
        assert_eq!(format_size(474), "474 bytes");
        assert_eq!(format_size(1400), "1.4\u{a0}kB");
        assert_eq!(format_size(46_500_000), "46.5\u{a0}MB");
    }

    #[test]
    fn names() {
        assert_eq!(validate_filename("../afile").unwrap_err(), "Invalid / in filename ../afile");
        assert_eq!(validate_filename(".").unwrap_err(), "Invalid self-referential filename '.'");
        assert_eq!(validate_filename("..").unwrap_err(), "Invalid path uplink filename '..'");
        assert!(validate_filename("ok").is_ok());
    }

    #[test]
    fn lenient_dirtree_keeps_bad_names_and_rejects_short_checksums() {
        let c = [7u8; 32];
        let good = Value::Tuple(vec![
            Value::Array(
                Type::parse("(say)").unwrap(),
                vec![Value::Tuple(vec![Value::str("../x"), Value::bytes(&c[..])])],
            ),
            Value::Array(Type::parse("(sayay)").unwrap(), vec![]),
        ])
        .to_bytes();
        let dt = RawDirTree::from_bytes(&good).unwrap();
        assert_eq!(dt.files[0].0, "../x");
        assert!(dt.validate_names().is_err());
        let short = Value::Tuple(vec![
            Value::Array(
                Type::parse("(say)").unwrap(),
                vec![Value::Tuple(vec![Value::str("x"), Value::bytes(&c[..2])])],
            ),
            Value::Array(Type::parse("(sayay)").unwrap(), vec![]),
        ])
        .to_bytes();
        assert_eq!(RawDirTree::from_bytes(&short).unwrap_err().to_string(), "Invalid checksum of length 2 expected 32");
    }
}
