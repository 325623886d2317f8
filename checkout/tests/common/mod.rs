//! Helpers for the oracle tests: temporary directories, the real `ostree`,
//! a source tree with every kind of entry, and a bit-for-bit tree dump.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh, empty directory for one test.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxtree-checkout-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Why the oracle tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<&'static str> {
    if Command::new("ostree").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        return Some("the real `ostree` is not installed");
    }
    if !rustix::process::geteuid().is_root() {
        return Some("needs root (bare repos, chown, device nodes)");
    }
    None
}

/// Prints why a test is skipped and returns true when it must be.
pub fn skip(test: &str) -> bool {
    match skip_reason() {
        Some(why) => {
            eprintln!("skipping {test}: {why}");
            true
        }
        None => false,
    }
}

/// Runs the real ostree; panics with its stderr on failure.
pub fn ostree(args: &[&str]) -> String {
    let out = Command::new("ostree").args(args).output().expect("run ostree");
    assert!(
        out.status.success(),
        "ostree {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs the real ostree and returns (success, stderr).
pub fn ostree_status(args: &[&str]) -> (bool, String) {
    let out = Command::new("ostree").args(args).output().expect("run ostree");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn write(p: &Path, data: &str, mode: u32) {
    std::fs::write(p, data).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn setx(p: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(p, name, value, rustix::fs::XattrFlags::empty()).unwrap();
}

/// Builds the test tree: regular and empty files, symlinks (relative,
/// absolute, dangling), nested directories, modes 04755/02755/0000/01777/
/// 0700, other owners, `user.*` xattrs on files and directories, names with
/// spaces and UTF-8, and a directory large enough for parallel filling.
pub fn make_tree(root: &Path) {
    let d = |p: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    d("");
    d("sub/deep/deeper/deepest");
    d("with space");
    d("ütf-8 ñ");
    d("big");
    d("empty-dir");
    write(&root.join("file"), "hello world\n", 0o644);
    write(&root.join("empty"), "", 0o644);
    write(&root.join("empty-too"), "", 0o600);
    write(&root.join("noread"), "secret\n", 0o000);
    write(&root.join("suid"), "suid\n", 0o4755);
    write(&root.join("sub/sgid"), "sgid\n", 0o2755);
    write(&root.join("sub/deep/x"), "deep\n", 0o640);
    write(&root.join("sub/deep/deeper/deepest/bottom"), "bottom\n", 0o444);
    write(&root.join("with space/a b c"), "spaces\n", 0o664);
    write(&root.join("ütf-8 ñ/ÿ € 日本"), "utf8\n", 0o755);
    write(&root.join("dup1"), "same content\n", 0o644);
    write(&root.join("dup2"), "same content\n", 0o644);
    for i in 0..80 {
        write(&root.join(format!("big/f{i:03}")), &format!("file {i}\n").repeat(i + 1), 0o644);
    }
    let mut large = String::new();
    for i in 0..20000 {
        large.push_str(&format!("line {i} of a file larger than a page\n"));
    }
    write(&root.join("large"), &large, 0o644);
    symlink("file", root.join("rel")).unwrap();
    symlink("/etc/passwd", root.join("abs")).unwrap();
    symlink("nowhere/at/all", root.join("dangling")).unwrap();
    symlink("../file", root.join("sub/up")).unwrap();
    setx(&root.join("file"), "user.foo", b"bar");
    setx(&root.join("file"), "user.alpha", &[0, 1, 255]);
    setx(&root.join("sub/deep/x"), "user.x", b"x");
    setx(&root.join("sub"), "user.dir", b"d");
    std::os::unix::fs::chown(root.join("sub/deep/x"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::lchown(root.join("rel"), Some(42), Some(43)).unwrap();
    std::os::unix::fs::chown(root.join("sub/deep"), Some(99), Some(98)).unwrap();
    std::fs::set_permissions(root.join("sub"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(root.join("sub/deep"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(root.join("with space"), std::fs::Permissions::from_mode(0o2775)).unwrap();
}

/// Creates a repo of `mode` in `dir/name` and commits `tree` as `main`.
pub fn make_repo(dir: &Path, name: &str, mode: &str, tree: &Path, extra: &[&str]) -> PathBuf {
    let repo = dir.join(name);
    let r = format!("--repo={}", repo.display());
    ostree(&[&r, "init", &format!("--mode={mode}")]);
    let mut args = vec![r.as_str(), "commit", "--fsync=false", "-b", "main", "--no-bindings", "-s", "test"];
    args.extend_from_slice(extra);
    let t = tree.to_str().unwrap().to_string();
    args.push(&t);
    ostree(&args);
    repo
}

/// One entry of a dumped tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `st_mode`.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size (regular files and symlinks).
    pub size: u64,
    /// Link count (non-directories).
    pub nlink: u64,
    /// mtime, only as "is 0" (0) or not (1): other times depend on the clock.
    pub mtime: i64,
    /// Symlink target or file content.
    pub data: Vec<u8>,
    /// All xattrs, sorted.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Device number of device nodes.
    pub rdev: u64,
}

fn xattrs(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut buf = vec![0u8; 65536];
    let n = match rustix::fs::llistxattr(p, &mut buf[..]) {
        Ok(n) => n,
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    for name in buf[..n].split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let mut v = vec![0u8; 65536];
        let l = rustix::fs::lgetxattr(p, name, &mut v[..]).unwrap_or(0);
        v.truncate(l);
        out.push((name.to_vec(), v));
    }
    out.sort();
    out
}

/// Dumps a tree: relative path -> entry.
pub fn dump(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    dump_into(root, root, &mut out);
    out
}

fn dump_into(root: &Path, p: &Path, out: &mut BTreeMap<String, Entry>) {
    let md = std::fs::symlink_metadata(p).unwrap();
    let ft = md.file_type();
    let data = if ft.is_symlink() {
        std::fs::read_link(p).unwrap().into_os_string().into_encoded_bytes()
    } else if ft.is_file() {
        std::fs::read(p).unwrap()
    } else {
        Vec::new()
    };
    let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
    let is_dir = ft.is_dir();
    out.insert(
        if rel.is_empty() { ".".into() } else { rel },
        Entry {
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            size: if is_dir { 0 } else { md.size() },
            nlink: if is_dir { 0 } else { md.nlink() },
            mtime: if md.mtime() == 0 { 0 } else { 1 },
            data,
            xattrs: xattrs(p),
            rdev: md.rdev(),
        },
    );
    if is_dir {
        let mut names: Vec<_> = std::fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for n in names {
            dump_into(root, &n, out);
        }
    }
}

/// Compares two dumps and panics with every difference.
pub fn assert_same(what: &str, ours: &BTreeMap<String, Entry>, theirs: &BTreeMap<String, Entry>) {
    let mut diffs = Vec::new();
    for (k, t) in theirs {
        match ours.get(k) {
            None => diffs.push(format!("{k}: missing in ours")),
            Some(o) if o != t => {
                let mut d = format!("{k}:");
                if o.mode != t.mode {
                    d += &format!(" mode {:o} != {:o}", o.mode, t.mode);
                }
                if (o.uid, o.gid) != (t.uid, t.gid) {
                    d += &format!(" owner {}:{} != {}:{}", o.uid, o.gid, t.uid, t.gid);
                }
                if o.nlink != t.nlink {
                    d += &format!(" nlink {} != {}", o.nlink, t.nlink);
                }
                if o.mtime != t.mtime {
                    d += &format!(" mtime {} != {}", o.mtime, t.mtime);
                }
                if o.data != t.data {
                    d += " content differs";
                }
                if o.xattrs != t.xattrs {
                    d += &format!(" xattrs {:?} != {:?}", o.xattrs, t.xattrs);
                }
                if o.size != t.size || o.rdev != t.rdev {
                    d += &format!(" size/rdev {}/{} != {}/{}", o.size, o.rdev, t.size, t.rdev);
                }
                diffs.push(d);
            }
            _ => {}
        }
    }
    for k in ours.keys() {
        if !theirs.contains_key(k) {
            diffs.push(format!("{k}: extra in ours"));
        }
    }
    assert!(diffs.is_empty(), "{what}: ours differs from ostree:\n  {}", diffs.join("\n  "));
}
