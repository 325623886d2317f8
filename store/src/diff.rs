//! Comparing trees: commit against commit, directory against commit, or
//! directory against directory, as `ostree diff` does.
//!
//! Entries are compared by checksum: content objects by their object
//! checksum, directories by their dirmeta checksum (a directory whose
//! metadata differs is reported modified, and its contents are compared
//! too). Files on disk are checksummed as `ostree commit` would store them
//! (owner overridable, xattrs optional). A path on the commit side is
//! absolute (`/a/b`); a path in a directory is relative to it (`a/b`).
//! Modified and removed entries are named by the first tree's path, added
//! ones by the second's; an added directory lists everything below it.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::object::{DirMeta, FileHeader, Xattrs, S_IFMT};
use crate::repo::{read_xattrs, Error, Repo};
use crate::traverse::{format_size, traverse_commit, RawDirTree, TraverseFlags};
use crate::Checksum;

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffTarget {
    /// A commit's tree.
    Commit(Checksum),
    /// A directory on disk.
    Dir(PathBuf),
}

/// How files on disk are checksummed.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// Ignore xattrs of files on disk.
    pub no_xattrs: bool,
    /// Take this uid for files on disk.
    pub owner_uid: Option<u32>,
    /// Take this gid for files on disk.
    pub owner_gid: Option<u32>,
}

/// The differences, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Present in both with different content or metadata (first tree's path).
    pub modified: Vec<String>,
    /// Only in the first tree.
    pub removed: Vec<String>,
    /// Only in the second tree.
    pub added: Vec<String>,
}

impl Diff {
    /// True when the trees are the same.
    pub fn is_empty(&self) -> bool {
        self.modified.is_empty() && self.removed.is_empty() && self.added.is_empty()
    }

    /// The lines `ostree diff` prints: `M    PATH`, then `D`, then `A`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.modified.len() + self.removed.len() + self.added.len());
        out.extend(self.modified.iter().map(|p| format!("M    {p}")));
        out.extend(self.removed.iter().map(|p| format!("D    {p}")));
        out.extend(self.added.iter().map(|p| format!("A    {p}")));
        out
    }
}

#[derive(Debug, Clone)]
enum DirRef {
    Tree(Checksum, Checksum),
    Path(PathBuf),
}

#[derive(Debug, Clone)]
enum FileRef {
    Object(Checksum),
    Path(PathBuf),
}

#[derive(Debug, Clone)]
enum Kind {
    Dir(DirRef),
    File(FileRef),
}

struct Differ<'a> {
    repo: &'a Repo,
    opts: DiffOptions,
    xattrs: bool,
    out: Diff,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn child_path(parent: &str, name: &str, absolute: bool) -> String {
    if parent.is_empty() || parent == "/" {
        if absolute {
            format!("/{name}")
        } else {
            name.to_string()
        }
    } else {
        format!("{parent}/{name}")
    }
}

impl Differ<'_> {
    fn list(&self, dir: &DirRef) -> Result<Vec<(String, Kind)>, Error> {
        match dir {
            DirRef::Tree(t, _) => {
                let dt = RawDirTree::load(self.repo, t)?;
                let mut out: Vec<(String, Kind)> =
                    dt.files.into_iter().map(|(n, c)| (n, Kind::File(FileRef::Object(c)))).collect();
                out.extend(dt.dirs.into_iter().map(|(n, t, m)| (n, Kind::Dir(DirRef::Tree(t, m)))));
                Ok(out)
            }
            DirRef::Path(p) => {
                let mut names = Vec::new();
                for e in std::fs::read_dir(p).map_err(io(p))? {
                    let e = e.map_err(io(p))?;
                    let name = e
                        .file_name()
                        .into_string()
                        .map_err(|n| Error::Invalid(format!("Invalid UTF-8 in filename {}", n.to_string_lossy())))?;
                    names.push(name);
                }
                names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                let mut out = Vec::with_capacity(names.len());
                for n in names {
                    let cp = p.join(&n);
                    let st = std::fs::symlink_metadata(&cp).map_err(io(&cp))?;
                    let ft = st.file_type();
                    let kind = if ft.is_dir() {
                        Kind::Dir(DirRef::Path(cp))
                    } else if ft.is_file() || ft.is_symlink() {
                        Kind::File(FileRef::Path(cp))
                    } else {
                        return Err(Error::Invalid(format!("{}: Unsupported file type", cp.display())));
                    };
                    out.push((n, kind));
                }
                Ok(out)
            }
        }
    }

    fn owner(&self, st: &std::fs::Metadata) -> (u32, u32) {
        (self.opts.owner_uid.unwrap_or(st.uid()), self.opts.owner_gid.unwrap_or(st.gid()))
    }

    fn local_xattrs(&self, p: &Path) -> Result<Xattrs, Error> {
        if self.xattrs {
            read_xattrs(p)
        } else {
            Ok(Xattrs::new())
        }
    }

    fn dir_meta(&self, dir: &DirRef) -> Result<Checksum, Error> {
        match dir {
            DirRef::Tree(_, m) => Ok(*m),
            DirRef::Path(p) => {
                let st = std::fs::symlink_metadata(p).map_err(io(p))?;
                let (uid, gid) = self.owner(&st);
                let dm = DirMeta { uid, gid, mode: st.mode(), xattrs: self.local_xattrs(p)? };
                Ok(Checksum::digest(&dm.to_bytes()))
            }
        }
    }

    fn file_checksum(&self, f: &FileRef) -> Result<Checksum, Error> {
        match f {
            FileRef::Object(c) => Ok(*c),
            FileRef::Path(p) => checksum_local_file(p, self.opts, self.xattrs),
        }
    }

    fn add_all(&mut self, dir: &DirRef, path: &str, absolute: bool) -> Result<(), Error> {
        for (name, kind) in self.list(dir)? {
            let cp = child_path(path, &name, absolute);
            self.out.added.push(cp.clone());
            if let Kind::Dir(d) = kind {
                self.add_all(&d, &cp, absolute)?;
            }
        }
        Ok(())
    }

    fn diff_dirs(&mut self, a: &DirRef, a_path: &str, b: &DirRef, b_path: &str) -> Result<(), Error> {
        let a_abs = matches!(a, DirRef::Tree(..));
        let b_abs = matches!(b, DirRef::Tree(..));
        let a_entries = self.list(a)?;
        let b_entries = self.list(b)?;
        let b_map: HashMap<&str, &Kind> = b_entries.iter().map(|(n, k)| (n.as_str(), k)).collect();
        for (name, ka) in &a_entries {
            let ap = child_path(a_path, name, a_abs);
            let Some(kb) = b_map.get(name.as_str()) else {
                self.out.removed.push(ap);
                continue;
            };
            match (ka, kb) {
                (Kind::Dir(da), Kind::Dir(db)) => {
                    let (ma, mb) = (self.dir_meta(da)?, self.dir_meta(db)?);
                    if ma != mb {
                        self.out.modified.push(ap.clone());
                    }
                    if let (DirRef::Tree(ta, _), DirRef::Tree(tb, _)) = (da, db) {
                        if ta == tb {
                            continue;
                        }
                    }
                    let bp = child_path(b_path, name, b_abs);
                    self.diff_dirs(da, &ap, db, &bp)?;
                }
                (Kind::File(fa), Kind::File(fb)) => {
                    if self.file_checksum(fa)? != self.file_checksum(fb)? {
                        self.out.modified.push(ap);
                    }
                }
                _ => self.out.modified.push(ap),
            }
        }
        let a_names: HashSet<&str> = a_entries.iter().map(|(n, _)| n.as_str()).collect();
        for (name, kb) in &b_entries {
            if a_names.contains(name.as_str()) {
                continue;
            }
            let bp = child_path(b_path, name, b_abs);
            self.out.added.push(bp.clone());
            if let Kind::Dir(d) = kb {
                self.add_all(d, &bp, b_abs)?;
            }
        }
        Ok(())
    }
}

/// The content-object checksum a file on disk would get (regular file or
/// symlink), with the owner overrides and, when `xattrs`, its xattrs.
pub fn checksum_local_file(p: &Path, opts: DiffOptions, xattrs: bool) -> Result<Checksum, Error> {
    let st = std::fs::symlink_metadata(p).map_err(io(p))?;
    let ft = st.file_type();
    let target = if ft.is_symlink() {
        std::fs::read_link(p)
            .map_err(io(p))?
            .into_os_string()
            .into_string()
            .map_err(|_| Error::Invalid(format!("{}: symlink target is not UTF-8", p.display())))?
    } else if ft.is_file() {
        String::new()
    } else {
        return Err(Error::Invalid(format!("{}: Unsupported file type", p.display())));
    };
    let header = FileHeader {
        uid: opts.owner_uid.unwrap_or(st.uid()),
        gid: opts.owner_gid.unwrap_or(st.gid()),
        mode: st.mode() & (S_IFMT | 0o7777),
        symlink_target: target,
        xattrs: if xattrs { read_xattrs(p)? } else { Xattrs::new() },
    };
    let mut h = header.hasher();
    if ft.is_file() {
        let mut f = std::fs::File::open(p).map_err(io(p))?;
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(p)(e)),
            }
        }
    }
    Ok(h.finish())
}

fn root(repo: &Repo, t: &DiffTarget) -> Result<(DirRef, String), Error> {
    match t {
        DiffTarget::Commit(c) => {
            let commit = repo.load_commit(c)?;
            Ok((DirRef::Tree(commit.root_tree, commit.root_meta), "/".to_string()))
        }
        DiffTarget::Dir(p) => {
            let st = std::fs::metadata(p).map_err(io(p))?;
            if !st.is_dir() {
                return Err(Error::Invalid(format!("{}: Not a directory", p.display())));
            }
            Ok((DirRef::Path(p.clone()), String::new()))
        }
    }
}

/// Compares two trees.
pub fn diff(repo: &Repo, a: &DiffTarget, b: &DiffTarget, opts: &DiffOptions) -> Result<Diff, Error> {
    let (ra, pa) = root(repo, a)?;
    let (rb, pb) = root(repo, b)?;
    let mut d = Differ { repo, opts: *opts, xattrs: !opts.no_xattrs && !repo.xattrs_disabled(), out: Diff::default() };
    d.diff_dirs(&ra, &pa, &rb, &pb)?;
    Ok(d.out)
}

/// `ostree diff --stats`: object counts of two commits and what they share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Objects the first commit reaches (itself included).
    pub a_objects: u64,
    /// Objects the second commit reaches.
    pub b_objects: u64,
    /// Objects both reach.
    pub common_objects: u64,
    /// Stored size of the shared objects.
    pub common_size: u64,
}

impl DiffStats {
    /// The lines `ostree diff --stats` prints.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!("[A] Object Count: {}", self.a_objects),
            format!("[B] Object Count: {}", self.b_objects),
            format!("Common Object Count: {}", self.common_objects),
            format!("Common Object Size: {}", format_size(self.common_size)),
        ]
    }
}

/// Counts the objects of two commits (their trees only, not their parents).
pub fn diff_stats(repo: &Repo, a: &Checksum, b: &Checksum) -> Result<DiffStats, Error> {
    let mut sa = HashSet::new();
    let mut sb = HashSet::new();
    traverse_commit(repo, a, 0, TraverseFlags::default(), &mut sa)?;
    traverse_commit(repo, b, 0, TraverseFlags::default(), &mut sb)?;
    let mut st = DiffStats { a_objects: sa.len() as u64, b_objects: sb.len() as u64, ..Default::default() };
    for key in sa.intersection(&sb) {
        st.common_objects += 1;
        let p = repo.object_path(&key.0, key.1);
        st.common_size += std::fs::symlink_metadata(&p).map(|m| m.len()).unwrap_or(0);
    }
    Ok(st)
}
