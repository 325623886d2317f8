//! The `/etc` three-way merge.
//!
//! A deployment's `/etc` starts as a copy of its commit's `usr/etc` (the
//! defaults). On the next deployment, what the administrator changed is
//! carried over: the differences between the old deployment's defaults
//! (`usr/etc`) and its `/etc` are applied to the new deployment's fresh copy
//! of *its* defaults. A difference is decided per file by type, content
//! (or symlink target), mode and owner (not extended attributes); there is
//! no merging inside files, the administrator's version wins whole.
//!
//! - removed (a default the administrator deleted): deleted in the new
//!   `/etc` too, so it stays deleted;
//! - modified: the administrator's version replaces the new default;
//! - added (a path with no default; for a directory, every path under it
//!   too): copied in, parents created as in the old `/etc`.
//!
//! Everything else follows the new defaults.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// The differences between defaults and an `/etc`, as relative paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcDiff {
    /// Present in both, different.
    pub modified: Vec<String>,
    /// Only in the defaults.
    pub removed: Vec<String>,
    /// Only in `/etc`.
    pub added: Vec<String>,
}

impl EtcDiff {
    /// OSTree's summary line.
    pub fn summary(&self) -> String {
        format!(
            "Copying /etc changes: {} modified, {} removed, {} added",
            self.modified.len(),
            self.removed.len(),
            self.added.len()
        )
    }

    /// `admin config-diff` lines: `M    path`, `D    path`, `A    path`.
    pub fn lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        v.extend(self.modified.iter().map(|p| format!("M    {p}")));
        v.extend(self.removed.iter().map(|p| format!("D    {p}")));
        v.extend(self.added.iter().map(|p| format!("A    {p}")));
        v
    }
}

fn sorted_names(dir: &Path) -> Result<Vec<String>, Error> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map_err(Error::io(dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// Whether two non-directories differ (type, mode, owner, content).
fn files_differ(a: &Path, am: &std::fs::Metadata, b: &Path, bm: &std::fs::Metadata) -> Result<bool, Error> {
    if am.mode() != bm.mode() || am.uid() != bm.uid() || am.gid() != bm.gid() {
        return Ok(true);
    }
    if am.file_type().is_symlink() {
        return Ok(std::fs::read_link(a).map_err(Error::io(a))? != std::fs::read_link(b).map_err(Error::io(b))?);
    }
    if am.file_type().is_file() {
        if am.len() != bm.len() {
            return Ok(true);
        }
        return Ok(std::fs::read(a).map_err(Error::io(a))? != std::fs::read(b).map_err(Error::io(b))?);
    }
    Ok(am.rdev() != bm.rdev())
}

fn add_tree(root: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), Error> {
    for name in sorted_names(&root.join(rel))? {
        let r = join(rel, &name);
        out.push(r.clone());
        if root.join(&r).symlink_metadata().is_ok_and(|m| m.is_dir()) {
            add_tree(root, &r, out)?;
        }
    }
    Ok(())
}

fn diff_rec(orig: &Path, modified: &Path, rel: &str, d: &mut EtcDiff) -> Result<(), Error> {
    let a_names = sorted_names(&orig.join(rel))?;
    let b_names = sorted_names(&modified.join(rel))?;
    for name in &a_names {
        let r = join(rel, name);
        let (pa, pb) = (orig.join(&r), modified.join(&r));
        let am = pa.symlink_metadata().map_err(Error::io(&pa))?;
        let Ok(bm) = pb.symlink_metadata() else {
            d.removed.push(r);
            continue;
        };
        if am.file_type() != bm.file_type() {
            d.modified.push(r);
        } else if am.is_dir() {
            diff_rec(orig, modified, &r, d)?;
        } else if files_differ(&pa, &am, &pb, &bm)? {
            d.modified.push(r);
        }
    }
    for name in &b_names {
        if a_names.binary_search(name).is_ok() {
            continue;
        }
        let r = join(rel, name);
        d.added.push(r.clone());
        if modified.join(&r).symlink_metadata().is_ok_and(|m| m.is_dir()) {
            add_tree(modified, &r, &mut d.added)?;
        }
    }
    Ok(())
}

/// The differences between the defaults `orig` and the `/etc` `modified`.
pub fn diff(orig: &Path, modified: &Path) -> Result<EtcDiff, Error> {
    let mut d = EtcDiff::default();
    diff_rec(orig, modified, "", &mut d)?;
    Ok(d)
}

fn copy_meta(src: &std::fs::Metadata, dest: &Path) -> Result<(), Error> {
    let _ = std::os::unix::fs::lchown(dest, Some(src.uid()), Some(src.gid()));
    if !src.file_type().is_symlink() {
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(src.mode() & 0o7777))
            .map_err(Error::io(dest))?;
    }
    Ok(())
}

/// Copies one file, symlink or (recursively) directory.
pub(crate) fn copy_entry(src: &Path, dest: &Path) -> Result<(), Error> {
    let m = src.symlink_metadata().map_err(Error::io(src))?;
    let t = m.file_type();
    if t.is_dir() {
        if !dest.is_dir() {
            std::fs::create_dir(dest).map_err(Error::io(dest))?;
        }
        for name in sorted_names(src)? {
            copy_entry(&src.join(&name), &dest.join(&name))?;
        }
    } else if t.is_symlink() {
        let target = std::fs::read_link(src).map_err(Error::io(src))?;
        std::os::unix::fs::symlink(&target, dest).map_err(Error::io(dest))?;
    } else if t.is_file() {
        std::fs::copy(src, dest).map_err(Error::io(dest))?;
    } else {
        eprintln!("Ignoring non-regular/non-symlink file found during /etc merge: {}", src.display());
        return Ok(());
    }
    copy_meta(&m, dest)
}

/// Creates the missing parents of `rel` under `new`, like those under `modified`.
fn make_parents(modified: &Path, new: &Path, rel: &str) -> Result<(), Error> {
    let mut acc = PathBuf::new();
    let parts: Vec<&str> = rel.split('/').collect();
    for p in &parts[..parts.len().saturating_sub(1)] {
        acc.push(p);
        let d = new.join(&acc);
        if d.symlink_metadata().is_err() {
            std::fs::create_dir(&d).map_err(Error::io(&d))?;
            if let Ok(m) = modified.join(&acc).symlink_metadata() {
                copy_meta(&m, &d)?;
            }
        }
    }
    Ok(())
}

/// Puts the administrator's version of `rel` into `new`.
fn carry(modified: &Path, new: &Path, rel: &str) -> Result<(), Error> {
    let src = modified.join(rel);
    let dest = new.join(rel);
    make_parents(modified, new, rel)?;
    let sm = src.symlink_metadata().map_err(Error::io(&src))?;
    if let Ok(dm) = dest.symlink_metadata() {
        if dm.is_dir() {
            if sm.is_dir() {
                return Ok(());
            }
            return Err(Error::Invalid(format!(
                "Modified config file newly defaults to directory '{rel}', cannot merge"
            )));
        }
        std::fs::remove_file(&dest).map_err(Error::io(&dest))?;
    }
    copy_entry(&src, &dest)
}

/// Applies the administrator's changes (`orig` defaults to `modified`
/// `/etc`) to the `new` `/etc`. Returns what was carried.
pub fn merge(orig: &Path, modified: &Path, new: &Path) -> Result<EtcDiff, Error> {
    let d = diff(orig, modified)?;
    for r in &d.removed {
        crate::fsops::remove_all(&new.join(r))?;
    }
    for r in d.modified.iter().chain(&d.added) {
        carry(modified, new, r)?;
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("oxtree-etc-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    /// The cases of the issue: modified, added, removed, mode-changed,
    /// symlink-changed and type-changed, against old and new defaults.
    #[test]
    fn three_way_merge_table() {
        let d = tmp();
        let (orig, cur, new) = (d.join("orig"), d.join("cur"), d.join("new"));
        // (path, old default, admin's /etc, new default, expected result)
        // None = absent; "->x" = symlink to x; "dir" = directory.
        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let cases: &[Case] = &[
            ("edited", Some("a"), Some("admin"), Some("b"), Some("admin")),
            ("untouched", Some("a"), Some("a"), Some("b"), Some("b")),
            ("new-default", None, None, Some("n"), Some("n")),
            ("deleted", Some("a"), None, Some("b"), None),
            ("added", None, Some("mine"), None, Some("mine")),
            ("link-changed", Some("->one"), Some("->two"), Some("->three"), Some("->two")),
            ("link-kept", Some("->one"), Some("->one"), Some("->three"), Some("->three")),
            ("file-to-link", Some("a"), Some("->x"), Some("b"), Some("->x")),
            ("dir-to-file", Some("dir"), Some("f"), Some("dir"), None),
        ];
        let make = |root: &Path, rel: &str, v: Option<&str>| match v {
            None => {}
            Some("dir") => std::fs::create_dir_all(root.join(rel)).unwrap(),
            Some(s) if s.starts_with("->") => {
                std::fs::create_dir_all(root).unwrap();
                std::os::unix::fs::symlink(&s[2..], root.join(rel)).unwrap()
            }
            Some(s) => write(&root.join(rel), s),
        };
        for (p, o, c, n, _) in cases {
            make(&orig, p, *o);
            make(&cur, p, *c);
            make(&new, p, *n);
        }
        // A mode-only change counts, and wins.
        write(&orig.join("mode"), "m");
        write(&cur.join("mode"), "m");
        write(&new.join("mode"), "m2");
        std::fs::set_permissions(cur.join("mode"), std::fs::Permissions::from_mode(0o600)).unwrap();
        // An added nested directory lists each path.
        write(&cur.join("newdir/sub/file"), "deep");
        // dir-to-file: the new default is a directory where the admin has a
        // file: an error, checked below on its own.
        std::fs::remove_dir_all(orig.join("dir-to-file")).unwrap();
        std::fs::remove_dir_all(new.join("dir-to-file")).unwrap();
        let got = merge(&orig, &cur, &new).unwrap();
        assert_eq!(got.modified, ["edited", "file-to-link", "link-changed", "mode"]);
        assert_eq!(got.removed, ["deleted"]);
        assert_eq!(got.added, ["added", "dir-to-file", "newdir", "newdir/sub", "newdir/sub/file"]);
        for (p, _, _, _, want) in cases {
            let path = new.join(p);
            match want {
                None if *p == "dir-to-file" => assert_eq!(std::fs::read_to_string(&path).unwrap(), "f"),
                None => assert!(path.symlink_metadata().is_err(), "{p} should be gone"),
                Some(s) if s.starts_with("->") => {
                    assert_eq!(std::fs::read_link(&path).unwrap(), Path::new(&s[2..]), "{p}")
                }
                Some(s) => assert_eq!(std::fs::read_to_string(&path).unwrap(), *s, "{p}"),
            }
        }
        assert_eq!(std::fs::metadata(new.join("mode")).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(new.join("newdir/sub/file")).unwrap(), "deep");
        assert_eq!(got.summary(), "Copying /etc changes: 4 modified, 1 removed, 5 added");

        // The admin's file where the new default is a directory.
        let d2 = d.join("conflict");
        write(&d2.join("orig/x"), "a");
        write(&d2.join("cur/x"), "b");
        write(&d2.join("new/x/inner"), "c");
        let e = merge(&d2.join("orig"), &d2.join("cur"), &d2.join("new")).unwrap_err();
        assert!(e.to_string().contains("newly defaults to directory 'x'"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
