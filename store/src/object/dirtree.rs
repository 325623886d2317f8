//! `dirtree` objects: `(a(say)a(sayay))`, a directory's files (name, content
//! checksum) and subdirectories (name, dirtree checksum, dirmeta checksum),
//! each list sorted bytewise by name.

use std::borrow::Cow;

use crate::gvariant::{Type, Value};
use crate::Checksum;

use super::ObjectError;

/// A regular file or symlink in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// The name (one path component).
    pub name: String,
    /// The content object.
    pub checksum: Checksum,
}

/// A subdirectory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name (one path component).
    pub name: String,
    /// Its dirtree object.
    pub tree: Checksum,
    /// Its dirmeta object.
    pub meta: Checksum,
}

/// A directory listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirTree {
    /// Files and symlinks, sorted by name.
    pub files: Vec<FileEntry>,
    /// Subdirectories, sorted by name.
    pub dirs: Vec<DirEntry>,
}

/// Checks a name taken from a dirtree before it is used as a path component:
/// not empty, not `.` or `..`, no `/` and no NUL. The messages are OSTree's
/// (which lets an empty name through; we do not).
pub fn validate_name(name: &str) -> Result<(), ObjectError> {
    let msg = if name.is_empty() {
        "Invalid empty filename".to_string()
    } else if name == "." {
        "Invalid self-referential filename '.'".to_string()
    } else if name == ".." {
        "Invalid path uplink filename '..'".to_string()
    } else if name.contains('/') {
        format!("Invalid / in filename {name}")
    } else if name.contains('\0') {
        format!("Invalid NUL in filename {}", name.replace('\0', "\\0"))
    } else {
        return Ok(());
    };
    Err(ObjectError::Invalid(msg))
}

/// How deep directories may nest in a tree: a pull, a checkout and every
/// walk of a tree refuse a deeper one, so that a chain of dirtrees (a few
/// bytes each to a hostile server) ends in an error, not a stack overflow.
///
/// OSTree names 256 (`OSTREE_MAX_RECURSION`) but its pull and checkout
/// take trees deeper than that, and it commits them: we must too. 2048
/// levels of one-letter names already spell a path as long as `PATH_MAX`.
pub const MAX_RECURSION: usize = 2048;

/// Checks that no name appears twice in a dirtree, in one list or across
/// both (a symlink `x` and a directory `x`: checking out the second would
/// write through the first). With `require_sorted` each list must also be
/// strictly sorted, as OSTree writes them; otherwise order is free.
///
/// Sorted lists (every tree OSTree writes) take one pass and no
/// allocation; only unsorted ones are copied and sorted.
pub fn check_unique_names<'a>(
    files: impl Iterator<Item = &'a str> + Clone,
    dirs: impl Iterator<Item = &'a str> + Clone,
    require_sorted: bool,
) -> Result<(), ObjectError> {
    let dup = |n: &str| ObjectError::Invalid(format!("Invalid dirtree: duplicate name '{n}'"));
    // The first pair out of order, if any.
    fn disorder<'a>(mut it: impl Iterator<Item = &'a str>) -> Option<(&'a str, &'a str)> {
        let mut prev = it.next()?;
        for n in it {
            if n.as_bytes() <= prev.as_bytes() {
                return Some((prev, n));
            }
            prev = n;
        }
        None
    }
    match (disorder(files.clone()), disorder(dirs.clone())) {
        (None, None) => {
            // Both strictly sorted: merge them to find a name in both.
            let (mut f, mut d) = (files.peekable(), dirs.peekable());
            while let (Some(a), Some(b)) = (f.peek(), d.peek()) {
                match a.as_bytes().cmp(b.as_bytes()) {
                    std::cmp::Ordering::Less => drop(f.next()),
                    std::cmp::Ordering::Greater => drop(d.next()),
                    std::cmp::Ordering::Equal => return Err(dup(a)),
                }
            }
            Ok(())
        }
        (Some((a, b)), _) | (None, Some((a, b))) if a == b => Err(dup(a)),
        (Some((a, b)), _) | (None, Some((a, b))) if require_sorted => {
            Err(ObjectError::Invalid(format!("Invalid dirtree: '{b}' is listed after '{a}' (names must be sorted)")))
        }
        _ => {
            let mut all: Vec<&str> = files.chain(dirs).collect();
            all.sort_unstable();
            match all.windows(2).find(|w| w[0] == w[1]) {
                Some(w) => Err(dup(w[0])),
                None => Ok(()),
            }
        }
    }
}

impl DirTree {
    /// The GVariant type string.
    pub const TYPE: &'static str = "(a(say)a(sayay))";

    /// Sorts both lists bytewise by name, as OSTree requires.
    pub fn sort(&mut self) {
        self.files.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        self.dirs.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    }

    /// Serialises the object (the lists must already be sorted).
    pub fn to_bytes(&self) -> Vec<u8> {
        let files = Value::Array(
            Type::parse("(say)").unwrap_or(Type::Variant),
            self.files
                .iter()
                .map(|f| {
                    Value::Tuple(vec![
                        Value::Str(Cow::Borrowed(&f.name)),
                        Value::Bytes(Cow::Borrowed(f.checksum.as_bytes())),
                    ])
                })
                .collect(),
        );
        let dirs = Value::Array(
            Type::parse("(sayay)").unwrap_or(Type::Variant),
            self.dirs
                .iter()
                .map(|d| {
                    Value::Tuple(vec![
                        Value::Str(Cow::Borrowed(&d.name)),
                        Value::Bytes(Cow::Borrowed(d.tree.as_bytes())),
                        Value::Bytes(Cow::Borrowed(d.meta.as_bytes())),
                    ])
                })
                .collect(),
        );
        Value::Tuple(vec![files, dirs]).to_bytes()
    }

    /// Parses and validates a dirtree: names (see [`validate_name`]), no
    /// name twice (see [`check_unique_names`]) and checksum lengths. Sort
    /// order is not required (OSTree's fsck does not check it either), but
    /// lookups then fall back to a linear scan.
    pub fn from_bytes(data: &[u8]) -> Result<Self, ObjectError> {
        Self::parse(Value::from_bytes(&Type::parse(Self::TYPE)?, data)?, false)
    }

    /// Like [`DirTree::from_bytes`], and requires normal form and sorted
    /// names: what a pull asks of a remote's dirtrees, since OSTree never
    /// writes anything else.
    pub fn from_bytes_normal(data: &[u8]) -> Result<Self, ObjectError> {
        Self::parse(Value::from_bytes_normal(&Type::parse(Self::TYPE)?, data)?, true)
    }

    fn parse(v: Value<'_>, require_sorted: bool) -> Result<Self, ObjectError> {
        let bad = |w: &str| ObjectError::Invalid(format!("malformed dirtree: {w}"));
        let t = v.as_tuple().ok_or_else(|| bad("not a tuple"))?;
        let mut tree = DirTree::default();
        for f in t.first().and_then(Value::as_array).ok_or_else(|| bad("files"))? {
            let m = f.as_tuple().ok_or_else(|| bad("file entry"))?;
            let name = m.first().and_then(Value::as_str).ok_or_else(|| bad("file name"))?;
            validate_name(name)?;
            let csum = m.get(1).and_then(Value::as_bytes).ok_or_else(|| bad("file checksum"))?;
            tree.files.push(FileEntry {
                name: name.to_string(),
                checksum: Checksum::from_slice(csum).map_err(|e| bad(&e.to_string()))?,
            });
        }
        for d in t.get(1).and_then(Value::as_array).ok_or_else(|| bad("dirs"))? {
            let m = d.as_tuple().ok_or_else(|| bad("dir entry"))?;
            let name = m.first().and_then(Value::as_str).ok_or_else(|| bad("dir name"))?;
            validate_name(name)?;
            let tree_c = m.get(1).and_then(Value::as_bytes).ok_or_else(|| bad("dirtree checksum"))?;
            let meta_c = m.get(2).and_then(Value::as_bytes).ok_or_else(|| bad("dirmeta checksum"))?;
            tree.dirs.push(DirEntry {
                name: name.to_string(),
                tree: Checksum::from_slice(tree_c).map_err(|e| bad(&e.to_string()))?,
                meta: Checksum::from_slice(meta_c).map_err(|e| bad(&e.to_string()))?,
            });
        }
        check_unique_names(
            tree.files.iter().map(|f| f.name.as_str()),
            tree.dirs.iter().map(|d| d.name.as_str()),
            require_sorted,
        )?;
        Ok(tree)
    }

    /// Finds a file entry by name.
    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        match self.files.binary_search_by(|f| f.name.as_bytes().cmp(name.as_bytes())) {
            Ok(i) => Some(&self.files[i]),
            Err(_) => self.files.iter().find(|f| f.name == name),
        }
    }

    /// Finds a subdirectory by name.
    pub fn dir(&self, name: &str) -> Option<&DirEntry> {
        match self.dirs.binary_search_by(|d| d.name.as_bytes().cmp(name.as_bytes())) {
            Ok(i) => Some(&self.dirs[i]),
            Err(_) => self.dirs.iter().find(|d| d.name == name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(files: &[&str], dirs: &[&str], sorted: bool) -> Result<(), String> {
        check_unique_names(files.iter().copied(), dirs.iter().copied(), sorted).map_err(|e| e.to_string())
    }

    #[test]
    fn names_appear_once() {
        assert_eq!(check(&["a", "b"], &["c"], true), Ok(()));
        assert_eq!(check(&[], &[], true), Ok(()));
        // Twice in one list, sorted or not; in both lists.
        for (f, d) in [(&["a", "a"][..], &[][..]), (&["b", "a", "b"], &[]), (&[], &["x", "x"]), (&["x"], &["x"])] {
            for sorted in [false, true] {
                // (Normal form may see the disorder first: refused too.)
                let e = check(f, d, sorted).unwrap_err();
                assert!(e.contains("duplicate name") || sorted && e.contains("must be sorted"), "{f:?} {d:?}: {e}");
            }
        }
        assert!(check(&["b"], &["c", "a", "b"], false).unwrap_err().contains("duplicate name 'b'"));
        // Unsorted but unique: only normal form minds.
        assert_eq!(check(&["b", "a"], &[], false), Ok(()));
        assert!(check(&["b", "a"], &[], true).unwrap_err().contains("'a' is listed after 'b'"));
        // Bytewise, not by locale: "B" < "a".
        assert_eq!(check(&["B", "a"], &[], true), Ok(()));
    }

    #[test]
    fn parsing_refuses_duplicates() {
        let c = Checksum::digest(b"x");
        let mut t = DirTree::default();
        t.files.push(FileEntry { name: "x".into(), checksum: c });
        t.dirs.push(DirEntry { name: "x".into(), tree: c, meta: c });
        let e = DirTree::from_bytes(&t.to_bytes()).unwrap_err().to_string();
        assert!(e.contains("duplicate name 'x'"), "{e}");
        t.dirs[0].name = "y".into();
        assert!(DirTree::from_bytes_normal(&t.to_bytes()).is_ok());
    }
}
