//! The uncompressed-objects cache of archive repositories (user mode), the
//! counters, and `checkout_gc`. No `ostree` needed.

mod common;

use std::os::unix::fs::MetadataExt;

use common::tempdir;
use oxtree_checkout::{checkout, checkout_gc, CheckoutOptions};
use oxtree_store::object::{Commit, CommitMetadata, DirMeta, DirTree, FileEntry, FileHeader, ObjectType, Xattrs};
use oxtree_store::{Checksum, Repo, RepoMode};

fn reg(mode: u32) -> FileHeader {
    FileHeader { uid: 0, gid: 0, mode: 0o100000 | mode, symlink_target: String::new(), xattrs: Xattrs::new() }
}

fn archive_repo(w: &std::path::Path) -> (Repo, Checksum) {
    let repo = Repo::init(&w.join("repo"), RepoMode::Archive).unwrap();
    let tx = repo.transaction().unwrap();
    let a = tx.write_file_bytes(&reg(0o4755), b"setuid program\n").unwrap();
    let b = tx.write_file_bytes(&reg(0o644), b"plain\n").unwrap();
    let e = tx.write_file_bytes(&reg(0o644), b"").unwrap();
    let link = FileHeader { mode: 0o120777, symlink_target: "b".into(), ..reg(0) };
    let l = tx.write_file_bytes(&link, b"").unwrap();
    let m = tx
        .write_metadata(
            ObjectType::DirMeta,
            &DirMeta { uid: 0, gid: 0, mode: 0o40755, xattrs: Xattrs::new() }.to_bytes(),
        )
        .unwrap();
    let mut tree = DirTree {
        files: vec![
            FileEntry { name: "a".into(), checksum: a },
            FileEntry { name: "b".into(), checksum: b },
            FileEntry { name: "empty".into(), checksum: e },
            FileEntry { name: "l".into(), checksum: l },
        ],
        dirs: vec![],
    };
    tree.sort();
    let root = tx.write_metadata(ObjectType::DirTree, &tree.to_bytes()).unwrap();
    let c = tx
        .write_commit(&Commit {
            metadata: CommitMetadata::default(),
            parent: None,
            related: vec![],
            subject: "cache".into(),
            body: String::new(),
            timestamp: 0,
            root_tree: root,
            root_meta: m,
        })
        .unwrap();
    tx.commit().unwrap();
    drop(repo);
    (Repo::open(&w.join("repo")).unwrap(), c)
}

#[test]
fn archive_user_checkouts_go_through_the_cache() {
    let w = tempdir("cache");
    let (repo, c) = archive_repo(&w);
    let user = CheckoutOptions { user_mode: true, ..Default::default() };
    let s1 = checkout(&repo, &c, &w.join("one"), &user).unwrap();
    assert_eq!((s1.cache_extracted, s1.files_hardlinked, s1.files_copied, s1.symlinks_created), (2, 2, 1, 1));
    let cache = w.join("repo/uncompressed-objects-cache");
    let a = std::fs::metadata(w.join("one/a")).unwrap();
    assert_eq!(a.mode() & 0o7777, 0o755, "setuid is dropped in user mode and in the cache");
    assert_eq!(a.nlink(), 2);
    assert_eq!(std::fs::read(w.join("one/a")).unwrap(), b"setuid program\n");
    assert_eq!(std::fs::metadata(w.join("one/empty")).unwrap().nlink(), 1, "empty files are copied");
    // A second checkout reuses the cache.
    let s2 = checkout(&repo, &c, &w.join("two"), &user).unwrap();
    assert_eq!((s2.cache_extracted, s2.files_hardlinked), (0, 2));
    assert_eq!(std::fs::metadata(w.join("two/b")).unwrap().nlink(), 3);
    // Without the cache everything is copied and the cache is untouched.
    let nocache = CheckoutOptions { user_mode: true, disable_cache: true, fsync: true, ..Default::default() };
    let s3 = checkout(&repo, &c, &w.join("three"), &nocache).unwrap();
    assert_eq!((s3.cache_extracted, s3.files_hardlinked, s3.files_copied), (0, 0, 3));
    // Not in user mode: plain copies with the full mode.
    if rustix::process::geteuid().is_root() {
        let s4 = checkout(&repo, &c, &w.join("four"), &CheckoutOptions::default()).unwrap();
        assert_eq!(s4.files_copied, 3);
        assert_eq!(std::fs::metadata(w.join("four/a")).unwrap().mode() & 0o7777, 0o4755);
    }
    // GC keeps what is linked, then removes what no checkout uses.
    assert_eq!(checkout_gc(&repo).unwrap(), 0);
    std::fs::remove_dir_all(w.join("one")).unwrap();
    assert_eq!(checkout_gc(&repo).unwrap(), 0);
    std::fs::remove_dir_all(w.join("two")).unwrap();
    assert_eq!(checkout_gc(&repo).unwrap(), 2);
    assert!(cache.exists());
    let _ = std::fs::remove_dir_all(&w);
}

#[test]
fn cache_can_be_disabled_in_the_config() {
    let w = tempdir("cache-config");
    let (repo, c) = archive_repo(&w);
    let cfg = w.join("repo/config");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("[core]\n", "[core]\nenable-uncompressed-cache=false\n")).unwrap();
    drop(repo);
    let repo = Repo::open(&w.join("repo")).unwrap();
    let s = checkout(&repo, &c, &w.join("co"), &CheckoutOptions { user_mode: true, ..Default::default() }).unwrap();
    assert_eq!((s.cache_extracted, s.files_copied), (0, 3));
    assert!(!w.join("repo/uncompressed-objects-cache").exists());
    let _ = std::fs::remove_dir_all(&w);
}

/// Files a checkout decompresses are staged below `tmp/` and enter the
/// cache when it ends, also when it fails: afterwards `tmp/` is empty and
/// each cache entry holds the object's data.
#[test]
fn staged_cache_files_enter_the_cache_at_the_end() {
    let w = tempdir("cache-staging");
    let (repo, c) = archive_repo(&w);
    let user = CheckoutOptions { user_mode: true, ..Default::default() };
    let cache = w.join("repo/uncompressed-objects-cache");
    // What is in tmp/ besides the `cache` directory every repo has.
    let tmp_entries = || {
        let names = std::fs::read_dir(w.join("repo/tmp")).unwrap().map(|e| e.unwrap().file_name());
        names.filter(|n| n != "cache").collect::<Vec<_>>()
    };
    let cached = || {
        let mut files = Vec::new();
        for d in std::fs::read_dir(&cache).unwrap() {
            for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
                files.push(std::fs::read(f.unwrap().path()).unwrap());
            }
        }
        files.sort();
        files
    };
    // A checkout that fails after extracting: `b` is in the way as a
    // directory, in a union. `a` was extracted before `b` failed.
    let dest = w.join("fails");
    std::fs::create_dir_all(dest.join("b/inside")).unwrap();
    let union = CheckoutOptions {
        user_mode: true,
        overwrite: oxtree_checkout::OverwriteMode::UnionFiles,
        ..Default::default()
    };
    assert!(checkout(&repo, &c, &dest, &union).is_err());
    assert_eq!(tmp_entries(), Vec::<std::ffi::OsString>::new(), "a failed checkout left its staging directory");
    for f in cached() {
        assert!(f == b"setuid program\n" || f == b"plain\n", "a cache entry holds {f:?}");
    }
    // A checkout that succeeds: both files in the cache, nothing in tmp/.
    checkout(&repo, &c, &w.join("ok"), &user).unwrap();
    assert_eq!(tmp_entries(), Vec::<std::ffi::OsString>::new(), "a checkout left its staging directory");
    assert_eq!(cached(), vec![b"plain\n".to_vec(), b"setuid program\n".to_vec()]);
    assert_eq!(std::fs::metadata(w.join("ok/b")).unwrap().ino(), {
        let loose = std::fs::read_dir(&cache)
            .unwrap()
            .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
            .map(|f| f.unwrap().path())
            .find(|p| std::fs::read(p).unwrap() == b"plain\n")
            .unwrap();
        std::fs::metadata(loose).unwrap().ino()
    });
    let _ = std::fs::remove_dir_all(&w);
}

/// A staged `XX` directory that the cache already has is merged file by
/// file: what the cache holds stays, the new entry joins it.
#[test]
fn staged_files_merge_into_existing_cache_directories() {
    let w = tempdir("cache-merge");
    let (repo, c) = archive_repo(&w);
    let user = CheckoutOptions { user_mode: true, ..Default::default() };
    let cache = w.join("repo/uncompressed-objects-cache");
    checkout(&repo, &c, &w.join("one"), &user).unwrap();
    // Take `plain` out of the cache (its XX directory stays) and put a
    // stranger's entry beside where it was.
    let plain = std::fs::read_dir(&cache)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .find(|p| std::fs::read(p).unwrap() == b"plain\n")
        .unwrap();
    std::fs::remove_file(&plain).unwrap();
    let stranger = plain.parent().unwrap().join("stranger.file");
    std::fs::write(&stranger, "stranger\n").unwrap();
    let s = checkout(&repo, &c, &w.join("two"), &user).unwrap();
    assert_eq!(s.cache_extracted, 1);
    assert_eq!(std::fs::read(&plain).unwrap(), b"plain\n");
    assert_eq!(std::fs::read(&stranger).unwrap(), b"stranger\n");
    assert_eq!(std::fs::metadata(w.join("two/b")).unwrap().ino(), std::fs::metadata(&plain).unwrap().ino());
    let left: Vec<_> = std::fs::read_dir(w.join("repo/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "cache")
        .collect();
    assert!(left.is_empty(), "staging left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&w);
}
