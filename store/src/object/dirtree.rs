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

    /// Parses and validates a dirtree: names (see [`validate_name`]) and
    /// checksum lengths. Sort order is not required (OSTree's fsck does not
    /// check it either), but lookups then fall back to a linear scan.
    pub fn from_bytes(data: &[u8]) -> Result<Self, ObjectError> {
        Self::parse(Value::from_bytes(&Type::parse(Self::TYPE)?, data)?)
    }

    /// Like [`DirTree::from_bytes`], and requires normal form.
    pub fn from_bytes_normal(data: &[u8]) -> Result<Self, ObjectError> {
        Self::parse(Value::from_bytes_normal(&Type::parse(Self::TYPE)?, data)?)
    }

    fn parse(v: Value<'_>) -> Result<Self, ObjectError> {
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
