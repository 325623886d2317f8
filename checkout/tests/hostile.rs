//! Hand-made hostile trees and destinations: checkout must refuse with an
//! error naming the object, and must write nothing outside the destination.
//! These tests need no `ostree`: the objects are written with
//! `oxtree_store::repo::Transaction`.

mod common;

use std::path::{Path, PathBuf};

use common::tempdir;
use oxtree_checkout::{checkout, checkout_tree, CheckoutError, CheckoutOptions, OverwriteMode};
use oxtree_store::object::{
    Commit, CommitMetadata, DirEntry, DirMeta, DirTree, FileEntry, FileHeader, ObjectType, Xattrs,
};
use oxtree_store::{Checksum, Repo, RepoMode};

fn file_header() -> FileHeader {
    FileHeader { uid: 0, gid: 0, mode: 0o100644, symlink_target: String::new(), xattrs: Xattrs::new() }
}

fn dir_meta() -> DirMeta {
    DirMeta { uid: 0, gid: 0, mode: 0o040755, xattrs: Xattrs::new() }
}

fn repo_mode() -> RepoMode {
    // Bare needs root for arbitrary owners; everything here is owned by 0,
    // so an unprivileged run uses archive instead.
    if rustix::process::geteuid().is_root() {
        RepoMode::Bare
    } else {
        RepoMode::Archive
    }
}

/// Writes a commit whose root holds `tree` (built by the closure from a
/// file checksum and the dirmeta checksum); returns (repo, commit, root).
fn commit_with(w: &Path, build: impl Fn(Checksum, Checksum) -> DirTree) -> (Repo, Checksum, Checksum) {
    let repo = Repo::init(&w.join("repo"), repo_mode()).unwrap();
    let tx = repo.transaction().unwrap();
    let f = tx.write_file_bytes(&file_header(), b"evil\n").unwrap();
    let m = tx.write_metadata(ObjectType::DirMeta, &dir_meta().to_bytes()).unwrap();
    let root = tx.write_metadata(ObjectType::DirTree, &build(f, m).to_bytes()).unwrap();
    let c = tx
        .write_commit(&Commit {
            metadata: CommitMetadata::default(),
            parent: None,
            related: vec![],
            subject: "hostile".into(),
            body: String::new(),
            timestamp: 0,
            root_tree: root,
            root_meta: m,
        })
        .unwrap();
    tx.commit().unwrap();
    drop(repo);
    (Repo::open(&w.join("repo")).unwrap(), c, root)
}

/// Every path below `dir`, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

const BAD_NAMES: &[&str] = &["..", ".", "", "/x", "/", "a/b", "../../escape", "x/../../y", "a\0b", "\0"];

#[test]
fn bad_file_names_are_refused_before_writing() {
    for (i, bad) in BAD_NAMES.iter().enumerate() {
        let w = tempdir(&format!("badfile{i}"));
        let (repo, c, root) = commit_with(&w, |f, _| DirTree {
            files: vec![
                FileEntry { name: "a-fine-file".into(), checksum: f },
                FileEntry { name: bad.to_string(), checksum: f },
            ],
            dirs: vec![],
        });
        let area = w.join("area");
        std::fs::create_dir(&area).unwrap();
        let e = checkout(&repo, &c, &area.join("dest"), &CheckoutOptions::default()).unwrap_err();
        eprintln!("{bad:?}: {e}");
        assert!(e.to_string().contains(&root.to_hex()), "{bad:?}: error does not name the dirtree: {e}");
        assert!(listing(&area).is_empty(), "{bad:?}: something was written: {:?}", listing(&area));
        assert!(!w.join("escape").exists() && !w.join("y").exists() && !w.join("x").exists());
        let _ = std::fs::remove_dir_all(&w);
    }
}

#[test]
fn bad_dir_names_are_refused_before_writing() {
    for (i, bad) in BAD_NAMES.iter().enumerate() {
        let w = tempdir(&format!("baddir{i}"));
        let (repo, c, _) = commit_with(&w, |f, m| {
            // An innocent subtree, reused under the bad name.
            let inner = DirTree { files: vec![FileEntry { name: "payload".into(), checksum: f }], dirs: vec![] };
            let bytes = inner.to_bytes();
            let inner_c = Checksum::digest(&bytes);
            let p = w.join("inner.dirtree");
            std::fs::write(p, bytes).unwrap();
            DirTree { files: vec![], dirs: vec![DirEntry { name: bad.to_string(), tree: inner_c, meta: m }] }
        });
        // Store the inner tree too (the closure could not reach the tx).
        let inner = std::fs::read(w.join("inner.dirtree")).unwrap();
        let tx = repo.transaction().unwrap();
        let inner_c = tx.write_metadata(ObjectType::DirTree, &inner).unwrap();
        tx.commit().unwrap();
        let area = w.join("area");
        std::fs::create_dir(&area).unwrap();
        let e = checkout(&repo, &c, &area.join("dest"), &CheckoutOptions::default()).unwrap_err();
        assert!(
            matches!(e, CheckoutError::InvalidName { .. } | CheckoutError::Store(_)),
            "{bad:?}: unexpected error {e:?}"
        );
        assert!(e.to_string().contains("dirtree"), "{bad:?}: {e}");
        assert!(listing(&area).is_empty(), "{bad:?}: something was written");
        assert!(!w.join("payload").exists() && !area.join("payload").exists());
        let _ = inner_c;
        let _ = std::fs::remove_dir_all(&w);
    }
}

#[test]
fn self_containing_tree_is_refused() {
    let w = tempdir("loop");
    let repo = Repo::init(&w.join("repo"), repo_mode()).unwrap();
    let tx = repo.transaction().unwrap();
    let m = tx.write_metadata(ObjectType::DirMeta, &dir_meta().to_bytes()).unwrap();
    tx.commit().unwrap();
    // A dirtree stored under a name of our choosing that lists itself: the
    // store does not check names on read, so only the depth bound stops it.
    let name = Checksum::from_bytes([0x5a; 32]);
    let tree = DirTree { files: vec![], dirs: vec![DirEntry { name: "again".into(), tree: name, meta: m }] };
    let p = repo.object_path(&name, ObjectType::DirTree);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, tree.to_bytes()).unwrap();
    let area = w.join("area");
    std::fs::create_dir(&area).unwrap();
    let e = checkout_tree(&repo, &name, &m, &area.join("dest"), &CheckoutOptions::default()).unwrap_err();
    assert!(matches!(e, CheckoutError::TooDeep { .. }), "{e:?}");
    assert!(e.to_string().contains(&name.to_hex()));
    assert!(listing(&area).is_empty());
    let _ = std::fs::remove_dir_all(&w);
}

#[test]
fn whiteout_names_that_escape_are_refused() {
    for bad in [".wh..", ".wh...", ".wh."] {
        let w = tempdir(&format!("wh{}", bad.len()));
        let (repo, c, _) = commit_with(&w, |f, _| DirTree {
            files: vec![FileEntry { name: bad.to_string(), checksum: f }],
            dirs: vec![],
        });
        let area = w.join("area");
        std::fs::create_dir(&area).unwrap();
        std::fs::write(area.join("precious"), "keep me").unwrap();
        let opts = CheckoutOptions { whiteouts: true, ..Default::default() };
        let e = checkout(&repo, &c, &area.join("dest"), &opts).unwrap_err();
        assert!(matches!(e, CheckoutError::InvalidWhiteout { .. }), "{bad}: {e:?}");
        assert_eq!(std::fs::read_to_string(area.join("precious")).unwrap(), "keep me");
        let _ = std::fs::remove_dir_all(&w);
    }
}

/// An innocent two-level tree: `sub/file` and `top`.
fn simple(w: &Path) -> (Repo, Checksum) {
    let (repo, c, _) = commit_with(w, |f, m| {
        let sub = DirTree { files: vec![FileEntry { name: "file".into(), checksum: f }], dirs: vec![] };
        let bytes = sub.to_bytes();
        std::fs::write(w.join("sub.dirtree"), &bytes).unwrap();
        DirTree {
            files: vec![FileEntry { name: "top".into(), checksum: f }],
            dirs: vec![DirEntry { name: "sub".into(), tree: Checksum::digest(&bytes), meta: m }],
        }
    });
    let tx = repo.transaction().unwrap();
    tx.write_metadata(ObjectType::DirTree, &std::fs::read(w.join("sub.dirtree")).unwrap()).unwrap();
    tx.commit().unwrap();
    (repo, c)
}

#[test]
fn union_never_follows_symlinks_in_the_destination() {
    let w = tempdir("symlinks");
    let (repo, c) = simple(&w);
    let outside = w.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let dest = w.join("dest");
    std::fs::create_dir(&dest).unwrap();
    // A symlinked directory where the tree has `sub/`, and a symlink to an
    // outside file where the tree has `top`.
    std::os::unix::fs::symlink(&outside, dest.join("sub")).unwrap();
    std::fs::write(outside.join("target"), "outside").unwrap();
    std::os::unix::fs::symlink(outside.join("target"), dest.join("top")).unwrap();
    for mode in [OverwriteMode::UnionFiles, OverwriteMode::AddFiles] {
        let opts = CheckoutOptions { overwrite: mode, ..Default::default() };
        let r = checkout(&repo, &c, &dest, &opts);
        if mode == OverwriteMode::UnionFiles {
            // `sub` is a symlink: refused, not followed.
            let e = r.unwrap_err();
            assert!(e.to_string().contains("sub"), "{e}");
        }
        assert_eq!(listing(&outside), vec![outside.join("target")], "{mode:?} wrote outside");
        assert_eq!(std::fs::read_to_string(outside.join("target")).unwrap(), "outside");
    }
    let _ = std::fs::remove_dir_all(&w);
}

#[test]
fn union_replaces_a_symlink_itself_not_its_target() {
    let w = tempdir("replace-link");
    let (repo, c) = simple(&w);
    let outside = w.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("target"), "outside").unwrap();
    let dest = w.join("dest");
    std::fs::create_dir(&dest).unwrap();
    std::os::unix::fs::symlink(outside.join("target"), dest.join("top")).unwrap();
    for force_copy in [false, true] {
        let opts = CheckoutOptions { overwrite: OverwriteMode::UnionFiles, force_copy, ..Default::default() };
        checkout(&repo, &c, &dest, &opts).unwrap();
        assert!(!std::fs::symlink_metadata(dest.join("top")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(dest.join("top")).unwrap(), "evil\n");
        assert_eq!(std::fs::read_to_string(outside.join("target")).unwrap(), "outside");
        std::fs::remove_file(dest.join("top")).unwrap();
        std::os::unix::fs::symlink(outside.join("target"), dest.join("top")).unwrap();
    }
    let _ = std::fs::remove_dir_all(&w);
}

#[test]
fn whiteout_removes_a_symlink_not_what_it_points_to() {
    let w = tempdir("wh-link");
    let (repo, c, _) = commit_with(&w, |f, _| DirTree {
        files: vec![FileEntry { name: ".wh.victim".into(), checksum: f }],
        dirs: vec![],
    });
    let outside = w.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "keep").unwrap();
    let dest = w.join("dest");
    std::fs::create_dir(&dest).unwrap();
    std::os::unix::fs::symlink(&outside, dest.join("victim")).unwrap();
    let opts = CheckoutOptions { overwrite: OverwriteMode::UnionFiles, whiteouts: true, ..Default::default() };
    checkout(&repo, &c, &dest, &opts).unwrap();
    assert!(std::fs::symlink_metadata(dest.join("victim")).is_err());
    assert_eq!(std::fs::read_to_string(outside.join("keep")).unwrap(), "keep");
    assert!(!dest.join(".wh.victim").exists());
    let _ = std::fs::remove_dir_all(&w);
}

#[test]
fn filter_sees_ostree_style_paths() {
    let w = tempdir("filter");
    let (repo, c) = simple(&w);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let opts = CheckoutOptions {
        filter: Some(Box::new(move |p: &str, info: &oxtree_checkout::FilterInfo| {
            s2.lock().unwrap().push((p.to_string(), info.is_dir()));
            p != "/sub/"
        })),
        ..Default::default()
    };
    let stats = checkout(&repo, &c, &w.join("dest"), &opts).unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, vec![("/".into(), true), ("/sub/".into(), true), ("/top".into(), false)]);
    assert!(w.join("dest/top").exists() && !w.join("dest/sub").exists());
    assert_eq!(stats.skipped, 1);
    let _ = std::fs::remove_dir_all(&w);
}

#[test]
fn invalid_option_combinations_are_refused() {
    let w = tempdir("opts");
    let (repo, c) = simple(&w);
    for opts in [
        CheckoutOptions { force_copy: true, require_hardlinks: true, ..Default::default() },
        CheckoutOptions { overwrite: OverwriteMode::UnionIdentical, ..Default::default() },
    ] {
        let e = checkout(&repo, &c, &w.join("dest"), &opts).unwrap_err();
        assert!(matches!(e, CheckoutError::InvalidOptions(_)), "{e:?}");
        assert!(!w.join("dest").exists());
    }
    let _ = std::fs::remove_dir_all(&w);
}

/// A chain of `levels` nested directories `d/d/d/…` below the root.
fn nested(w: &Path, levels: usize) -> (Repo, Checksum, Checksum) {
    let repo = Repo::init(&w.join("repo"), repo_mode()).unwrap();
    let tx = repo.transaction().unwrap();
    let m = tx.write_metadata(ObjectType::DirMeta, &dir_meta().to_bytes()).unwrap();
    let mut t = tx.write_metadata(ObjectType::DirTree, &DirTree::default().to_bytes()).unwrap();
    for _ in 0..levels {
        let tree = DirTree { files: vec![], dirs: vec![DirEntry { name: "d".into(), tree: t, meta: m }] };
        t = tx.write_metadata(ObjectType::DirTree, &tree.to_bytes()).unwrap();
    }
    tx.commit().unwrap();
    (repo, t, m)
}

#[test]
fn depth_is_bounded() {
    // As deep as allowed: deeper than PATH_MAX can name, so find(1), which
    // walks by descriptors, counts the directories.
    let max = oxtree_store::object::MAX_RECURSION;
    let w = tempdir("deep-ok");
    let (repo, t, m) = nested(&w, max);
    checkout_tree(&repo, &t, &m, &w.join("dest"), &CheckoutOptions::default()).unwrap();
    let found = std::process::Command::new("find").arg(w.join("dest")).args(["-type", "d"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&found.stdout).lines().count(), max + 1);
    let _ = std::fs::remove_dir_all(&w);

    let w = tempdir("deep-too");
    let (repo, t, m) = nested(&w, max + 1);
    let e = checkout_tree(&repo, &t, &m, &w.join("dest"), &CheckoutOptions::default()).unwrap_err();
    assert!(matches!(e, CheckoutError::TooDeep { .. }), "{e:?}");
    assert!(!w.join("dest").exists());
    let _ = std::fs::remove_dir_all(&w);
}

/// A tree to store: file contents, symlink targets and subdirectories.
enum Node {
    File(&'static [u8]),
    Link(String),
    Dir(Vec<(String, Node)>),
}

/// Stores `entries` as a dirtree (owner 0, modes 0644/0755) without any
/// name checks, so hostile names and duplicates get through.
fn store_dir(tx: &oxtree_store::repo::Transaction<'_>, m: Checksum, entries: Vec<(String, Node)>) -> Checksum {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for (name, node) in entries {
        match node {
            Node::File(data) => {
                files.push(FileEntry { name, checksum: tx.write_file_bytes(&file_header(), data).unwrap() })
            }
            Node::Link(target) => {
                let h = FileHeader { mode: 0o120777, symlink_target: target, ..file_header() };
                files.push(FileEntry { name, checksum: tx.write_file_bytes(&h, b"").unwrap() });
            }
            Node::Dir(sub) => dirs.push(DirEntry { name, tree: store_dir(tx, m, sub), meta: m }),
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    dirs.sort_by(|a, b| a.name.cmp(&b.name));
    tx.write_metadata(ObjectType::DirTree, &DirTree { files, dirs }.to_bytes()).unwrap()
}

/// Stores each tree of `trees` in one repository; returns it with the
/// (root dirtree, dirmeta) pairs, for [`checkout_tree`].
fn store_trees(w: &Path, trees: Vec<Vec<(String, Node)>>) -> (Repo, Vec<(Checksum, Checksum)>) {
    let repo = Repo::init(&w.join("repo"), repo_mode()).unwrap();
    let tx = repo.transaction().unwrap();
    let m = tx.write_metadata(ObjectType::DirMeta, &dir_meta().to_bytes()).unwrap();
    let roots = trees.into_iter().map(|t| (store_dir(&tx, m, t), m)).collect();
    tx.commit().unwrap();
    (repo, roots)
}

fn file(name: &str, data: &'static [u8]) -> (String, Node) {
    (name.to_string(), Node::File(data))
}

fn dir(name: &str, entries: Vec<(String, Node)>) -> (String, Node) {
    (name.to_string(), Node::Dir(entries))
}

/// The union case of the issue: one layer holds `a -> /some/outside/dir`
/// (its own symlink, not one planted in the destination), the next holds
/// `a/passwd`. OSTree would follow `a` and write `passwd` outside; here
/// every union mode refuses to descend and nothing leaves the destination.
#[test]
fn union_never_descends_into_a_symlink_an_earlier_layer_made() {
    let w = tempdir("layer-symlink");
    let outside = w.join("etc");
    std::fs::create_dir(&outside).unwrap();
    let (repo, roots) = store_trees(
        &w,
        vec![
            vec![("a".into(), Node::Link(outside.to_str().unwrap().into())), file("b", b"b\n")],
            vec![dir("a", vec![file("passwd", b"root::0:0::/:/bin/sh\n")])],
        ],
    );
    let dest = w.join("dest");
    checkout_tree(&repo, &roots[0].0, &roots[0].1, &dest, &CheckoutOptions::default()).unwrap();
    let modes =
        [(OverwriteMode::UnionFiles, false), (OverwriteMode::AddFiles, false), (OverwriteMode::UnionIdentical, true)];
    for (overwrite, require_hardlinks) in modes {
        for user_mode in [false, true] {
            let opts = CheckoutOptions { overwrite, require_hardlinks, user_mode, ..Default::default() };
            let r = checkout_tree(&repo, &roots[1].0, &roots[1].1, &dest, &opts);
            let e = r.expect_err("descending into a symlink must fail");
            assert!(e.to_string().contains("dest/a"), "{overwrite:?}: error does not name the path: {e}");
            assert!(listing(&outside).is_empty(), "{overwrite:?} wrote through the symlink: {:?}", listing(&outside));
            assert!(std::fs::symlink_metadata(dest.join("a")).unwrap().file_type().is_symlink());
        }
    }
    let _ = std::fs::remove_dir_all(&w);
}

/// The same within one tree: a dirtree that lists `a` both as a symlink to
/// an outside directory and as a directory holding `passwd`.
#[test]
fn a_name_that_is_both_symlink_and_directory_never_escapes() {
    let w = tempdir("dup-name");
    let outside = w.join("etc");
    std::fs::create_dir(&outside).unwrap();
    let (repo, roots) = store_trees(
        &w,
        vec![vec![
            ("a".into(), Node::Link(outside.to_str().unwrap().into())),
            dir("a", vec![file("passwd", b"evil\n")]),
        ]],
    );
    for overwrite in [OverwriteMode::None, OverwriteMode::UnionFiles, OverwriteMode::AddFiles] {
        let dest = w.join(format!("dest-{overwrite:?}"));
        let r =
            checkout_tree(&repo, &roots[0].0, &roots[0].1, &dest, &CheckoutOptions { overwrite, ..Default::default() });
        assert!(r.is_err(), "{overwrite:?}: a duplicate name was checked out");
        assert!(listing(&outside).is_empty(), "{overwrite:?} wrote outside: {:?}", listing(&outside));
    }
    let _ = std::fs::remove_dir_all(&w);
}

/// 100,000 entries in one directory, all the same object: more links than
/// ext4 allows to one inode (65,000), so hardlinking must fall back to
/// copies when the link count runs out, and every entry must be there.
#[test]
fn a_directory_of_100k_entries_checks_out_whole() {
    const N: usize = 100_000;
    let w = tempdir("100k");
    let names: Vec<String> = (0..N).map(|i| format!("f{i:06}")).collect();
    let (repo, roots) = store_trees(&w, vec![names.iter().map(|n| file(n, b"same\n")).collect()]);
    let dest = w.join("dest");
    let stats = checkout_tree(&repo, &roots[0].0, &roots[0].1, &dest, &CheckoutOptions::default()).unwrap();
    let mut seen: Vec<String> =
        std::fs::read_dir(&dest).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    seen.sort();
    assert_eq!(seen.len(), N);
    assert!(seen == names, "entries differ from the tree");
    for n in [&names[0], &names[N / 2], &names[N - 1]] {
        assert_eq!(std::fs::read(dest.join(n)).unwrap(), b"same\n", "{n}");
    }
    eprintln!("100k entries: {stats:?}");
    let _ = std::fs::remove_dir_all(&w);
}

/// A file whose path is longer than PATH_MAX (17 levels of 250-byte names,
/// 4,267 bytes): the checkout works relative to directory descriptors, so it
/// succeeds, also as a union over itself, and the file is where it belongs.
#[test]
fn a_path_longer_than_path_max_checks_out() {
    const LEVELS: usize = 17;
    let w = tempdir("deep-path");
    let names: Vec<String> = (0..LEVELS).map(|i| format!("{i:02}{}", "x".repeat(248))).collect();
    let mut tree = vec![file("leaf", b"deep\n")];
    for n in names.iter().rev() {
        tree = vec![dir(n, tree)];
    }
    let total: usize = names.iter().map(|n| n.len() + 1).sum::<usize>() + "leaf".len();
    assert!(total > 4096, "{total}");
    let (repo, roots) = store_trees(&w, vec![tree]);
    let dest = w.join("dest");
    for overwrite in [OverwriteMode::None, OverwriteMode::UnionFiles] {
        let opts = CheckoutOptions { overwrite, ..Default::default() };
        checkout_tree(&repo, &roots[0].0, &roots[0].1, &dest, &opts).unwrap();
        // Walk down by descriptor: the whole path is too long for one call.
        let mut fd =
            rustix::fs::open(&dest, rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY, 0.into()).unwrap();
        for n in &names {
            let flags = rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW;
            fd = rustix::fs::openat(&fd, n.as_str(), flags, 0.into()).unwrap();
        }
        let leaf = rustix::fs::openat(&fd, "leaf", rustix::fs::OFlags::RDONLY, 0.into()).unwrap();
        let mut buf = [0u8; 16];
        let n = rustix::io::read(&leaf, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"deep\n");
    }
    // Nothing but the repository and the destination next to each other.
    let mut top: Vec<_> = std::fs::read_dir(&w).unwrap().map(|e| e.unwrap().file_name()).collect();
    top.sort();
    assert_eq!(top, vec![std::ffi::OsString::from("dest"), std::ffi::OsString::from("repo")]);
    let _ = std::fs::remove_dir_all(&w);
}
