//! Running scripts over a composed tree: package scriptlets
//! (`--run-scriptlets`) and the manifest's `postprocess` and
//! `postprocess-script`, each chrooted into the tree by `oxtree-sandbox`,
//! never on the host.
//!
//! The tree (still only objects in the compose's transaction) is written
//! out once as the sandbox's lower layer; every script runs over the same
//! upper layer, so each sees what the previous ones wrote; at the end the
//! upper layer's changes are folded into the tree: removed paths removed,
//! written files and changed directories taken with their owners, modes
//! and xattrs. Scripts see a `/var` laid out from the tree's tmpfiles.d
//! `d` and `L` lines; what they write there, in `/run` and in `/tmp` is
//! discarded, as it is not part of a tree.

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use oxtree_sandbox::{changes, run, Change, Overlay};
use oxtree_store::build::MutableTree;
use oxtree_store::object::{DirMeta, FileHeader, ObjectType, Xattrs};
use oxtree_store::repo::{read_xattrs, FileContent, RepoMode, Transaction};
use oxtree_store::Checksum;

use crate::compose::ComposeError;

const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;

/// A tree written out for scripts, and the overlay they run in.
pub struct Workspace {
    overlay: Overlay,
    root: bool,
    uid: u32,
    gid: u32,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ComposeError + '_ {
    move |e| ComposeError::Store(oxtree_store::Error::Io { path: path.to_path_buf(), source: e })
}

fn dirmeta(tx: &Transaction<'_>, csum: &Checksum) -> Result<DirMeta, ComposeError> {
    match tx.read_staged_metadata(ObjectType::DirMeta, csum) {
        Some(b) => DirMeta::from_bytes(&b).map_err(|source| {
            ComposeError::Store(oxtree_store::Error::BadObject { checksum: *csum, ty: ObjectType::DirMeta, source })
        }),
        None => Ok(tx.repo().load_dirmeta(csum)?),
    }
}

impl Workspace {
    /// Writes `tree` out under `scratch` (which must not exist) as the
    /// lower layer, and a `/var` from the tmpfiles.d lines `tmpfiles`.
    pub fn new(
        tx: &Transaction<'_>,
        tree: &MutableTree,
        scratch: &Path,
        tmpfiles: &[String],
    ) -> Result<Workspace, ComposeError> {
        let overlay = Overlay {
            lower: scratch.join("lower"),
            upper: scratch.join("upper"),
            work: scratch.join("work"),
            merged: scratch.join("merged"),
            var: scratch.join("var"),
        };
        std::fs::create_dir_all(scratch).map_err(io(scratch))?;
        let ws = Workspace {
            overlay,
            root: rustix::process::geteuid().is_root(),
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        };
        ws.write_out(tx, tree, &ws.overlay.lower)?;
        var_from_tmpfiles(&ws.overlay.var, tmpfiles)?;
        // Scripts expect /etc; the tree has it at usr/etc.
        let etc = ws.overlay.lower.join("etc");
        if tree.dirs.get("usr").is_some_and(|u| u.dirs.contains_key("etc")) && std::fs::symlink_metadata(&etc).is_err()
        {
            std::os::unix::fs::symlink("usr/etc", &etc).map_err(io(&etc))?;
        }
        Ok(ws)
    }

    fn write_out(&self, tx: &Transaction<'_>, tree: &MutableTree, dest: &Path) -> Result<(), ComposeError> {
        std::fs::create_dir(dest).map_err(io(dest))?;
        for (name, csum) in &tree.files {
            let path = dest.join(name);
            let obj = tx.open_file(csum)?;
            match obj.content {
                FileContent::Symlink => {
                    std::os::unix::fs::symlink(&obj.header.symlink_target, &path).map_err(io(&path))?;
                }
                FileContent::Regular(mut r) => {
                    let mut f = std::fs::File::create(&path).map_err(io(&path))?;
                    std::io::copy(&mut r, &mut f).map_err(io(&path))?;
                    f.set_permissions(std::fs::Permissions::from_mode(obj.header.mode & 0o7777)).map_err(io(&path))?;
                }
            }
            if self.root {
                std::os::unix::fs::lchown(&path, Some(obj.header.uid), Some(obj.header.gid)).map_err(io(&path))?;
            }
        }
        for (name, sub) in &tree.dirs {
            self.write_out(tx, sub, &dest.join(name))?;
        }
        if let Some(m) = &tree.meta {
            let meta = dirmeta(tx, m)?;
            if self.root {
                std::os::unix::fs::lchown(dest, Some(meta.uid), Some(meta.gid)).map_err(io(dest))?;
            }
            // Keep the owner able to fold changes in (u+w, u+x).
            std::fs::set_permissions(dest, std::fs::Permissions::from_mode((meta.mode & 0o7777) | 0o700))
                .map_err(io(dest))?;
        }
        Ok(())
    }

    /// Runs `argv` in the tree with `stdin`; `what` names it in errors. A
    /// program that fails fails the compose.
    pub fn run(&self, what: &str, argv: &[String], stdin: &[u8]) -> Result<(), ComposeError> {
        let mut env = Vec::new();
        if let Ok(e) = std::env::var("SOURCE_DATE_EPOCH") {
            env.push(("SOURCE_DATE_EPOCH".to_string(), e));
        }
        let out = run(&self.overlay, argv, stdin, &env)?;
        if !out.status.success() {
            let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stdout));
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(ComposeError::Script {
                what: what.to_string(),
                status: out.status.to_string(),
                output: tail.join("\n"),
            });
        }
        Ok(())
    }

    /// Runs a script file's text (it needs a `#!` line) in the tree.
    pub fn run_file(&self, what: &str, text: &[u8], name: &str) -> Result<(), ComposeError> {
        if !text.starts_with(b"#!") {
            return Err(ComposeError::Script {
                what: what.to_string(),
                status: "not run".into(),
                output: "the script has no #! line naming its interpreter".into(),
            });
        }
        // The script goes into the lower layer: the tree the scripts see,
        // never the tree committed (only the upper layer's changes are).
        let path = self.overlay.lower.join(name);
        let mut f = std::fs::File::create(&path).map_err(io(&path))?;
        f.write_all(text).map_err(io(&path))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o755)).map_err(io(&path))?;
        drop(f);
        let r = self.run(what, &[format!("/{name}")], b"");
        let _ = std::fs::remove_file(&path);
        r
    }

    fn owner(&self, uid: u32, gid: u32) -> (u32, u32) {
        if self.root {
            (uid, gid)
        } else {
            (if uid == self.uid { 0 } else { uid }, if gid == self.gid { 0 } else { gid })
        }
    }

    fn xattrs(&self, path: &Path, mode: RepoMode) -> Result<Xattrs, ComposeError> {
        if mode == RepoMode::BareUserOnly {
            return Ok(Xattrs::new());
        }
        let x = read_xattrs(path)?;
        let kept = x
            .iter()
            .filter(|(n, _)| !n.starts_with(b"trusted.overlay.") && !n.starts_with(b"user.overlay."))
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        Ok(Xattrs::from_pairs(kept))
    }

    /// Folds the scripts' changes into `tree`; returns how many paths
    /// changed.
    pub fn fold(&self, tx: &Transaction<'_>, tree: &mut MutableTree) -> Result<usize, ComposeError> {
        let mode = tx.repo().mode();
        let mut n = 0;
        for change in changes(&self.overlay.upper)? {
            let rel = match &change {
                Change::Removed(p) | Change::Replaced(p) | Change::Dir(p) | Change::File(p) => p.clone(),
            };
            let parts: Vec<&str> = rel.split('/').collect();
            if matches!(parts[0], "dev" | "proc" | "tmp" | "run" | "var") {
                continue;
            }
            let Some((name, dirs)) = parts.split_last() else { continue };
            let upper = self.overlay.upper.join(&rel);
            let lower = self.overlay.lower.join(&rel);
            let dir_meta = |tx: &Transaction<'_>, path: &Path| -> Result<Checksum, ComposeError> {
                let md = std::fs::symlink_metadata(path).map_err(io(path))?;
                let (uid, gid) = self.owner(md.uid(), md.gid());
                let meta = DirMeta { uid, gid, mode: md.mode(), xattrs: self.xattrs(path, mode)? };
                Ok(tx.write_metadata(ObjectType::DirMeta, &meta.to_bytes())?)
            };
            let parent_meta = tree.meta;
            let Some(parent) = walk_to(tree, dirs, parent_meta) else { continue };
            match change {
                Change::Removed(_) => {
                    parent.files.remove(*name);
                    parent.dirs.remove(*name);
                }
                Change::Replaced(_) => {
                    parent.files.remove(*name);
                    let meta = dir_meta(tx, &upper)?;
                    parent.dirs.insert(name.to_string(), MutableTree { meta: Some(meta), ..Default::default() });
                }
                Change::Dir(_) => {
                    parent.files.remove(*name);
                    let stat = |p: &Path| std::fs::symlink_metadata(p).ok().map(|m| (m.uid(), m.gid(), m.mode()));
                    let changed = stat(&upper) != stat(&lower);
                    let meta =
                        if changed || !parent.dirs.contains_key(*name) { Some(dir_meta(tx, &upper)?) } else { None };
                    let d = parent.dirs.entry(name.to_string()).or_default();
                    if meta.is_some() {
                        d.meta = meta;
                    }
                }
                Change::File(_) => {
                    let md = std::fs::symlink_metadata(&upper).map_err(io(&upper))?;
                    let (uid, gid) = self.owner(md.uid(), md.gid());
                    let is_link = md.mode() & S_IFMT == S_IFLNK;
                    let target = if is_link {
                        std::fs::read_link(&upper).map_err(io(&upper))?.to_string_lossy().into_owned()
                    } else {
                        String::new()
                    };
                    let header = FileHeader {
                        uid,
                        gid,
                        mode: md.mode(),
                        symlink_target: target,
                        xattrs: self.xattrs(&upper, mode)?,
                    };
                    let csum = if is_link {
                        tx.write_file_bytes(&header, b"")?
                    } else {
                        let mut f = std::fs::File::open(&upper).map_err(io(&upper))?;
                        tx.write_file(&header, &mut f, md.len())?
                    };
                    parent.dirs.remove(*name);
                    parent.put_file(name, csum)?;
                }
            }
            n += 1;
        }
        Ok(n)
    }
}

/// Lays out `var` (the sandbox's `/var`) from tmpfiles.d lines: `d`
/// directories (with their modes) and `L` links under `/var`.
fn var_from_tmpfiles(var: &Path, lines: &[String]) -> Result<(), ComposeError> {
    std::fs::create_dir_all(var).map_err(io(var))?;
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(kind), Some(path)) = (f.first(), f.get(1)) else { continue };
        let Some(rel) = path.strip_prefix("/var/") else { continue };
        if rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            continue;
        }
        let p = var.join(rel);
        match *kind {
            "d" => {
                std::fs::create_dir_all(&p).map_err(io(&p))?;
                if let Some(mode) = f.get(2).and_then(|m| u32::from_str_radix(m, 8).ok()) {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode | 0o700)).map_err(io(&p))?;
                }
            }
            "L" => {
                if let (Some(target), Some(parent)) = (f.get(6), p.parent()) {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                    let _ = std::os::unix::fs::symlink(target, &p);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The directory at `dirs` in `tree`, made (with `meta`) where missing.
fn walk_to<'t>(tree: &'t mut MutableTree, dirs: &[&str], meta: Option<Checksum>) -> Option<&'t mut MutableTree> {
    let mut cur = tree;
    for d in dirs {
        cur.files.remove(*d);
        cur = cur.dirs.entry(d.to_string()).or_insert_with(|| MutableTree { meta, ..Default::default() });
    }
    Some(cur)
}

/// The interpreter line to run a scriptlet's body from standard input
/// with `$1` = 1 (an install), or why it cannot run.
pub fn scriptlet_argv(program: &[String]) -> Result<Vec<String>, String> {
    let Some(interp) = program.first() else { return Err("no interpreter".into()) };
    if interp == "<lua>" {
        return Err("a Lua scriptlet (rpm's built-in interpreter; oxtree has none)".into());
    }
    let base = interp.rsplit('/').next().unwrap_or(interp);
    if !matches!(base, "sh" | "bash" | "dash" | "ash") || !interp.starts_with('/') {
        return Err(format!("interpreter {interp} (only shells are run)"));
    }
    let mut argv = program.to_vec();
    argv.extend(["-s".to_string(), "1".to_string()]);
    Ok(argv)
}

/// A scratch directory beside the repository (same file system, cleaned
/// up by the caller).
pub fn scratch_dir(repo_path: &Path) -> PathBuf {
    repo_path.join("tmp").join(format!("oxtree-compose-{}", std::process::id()))
}
