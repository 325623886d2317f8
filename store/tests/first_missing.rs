//! `traverse::first_missing`: what a commit lacks, with and without a
//! base commit whose shared subtrees are trusted to be whole.

mod oracle_common;

use std::path::Path;

use oracle_common::tempdir;
use oxtree_store::build::{write_commit, write_directory, CommitFilter, CommitInfo};
use oxtree_store::object::{loose_path, ObjectType};
use oxtree_store::traverse::{first_missing, RawDirTree};
use oxtree_store::{Checksum, Repo, RepoMode};

fn write(root: &Path, rel: &str, data: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn commit(repo: &Repo, src: &Path) -> Checksum {
    let tx = repo.transaction().unwrap();
    let tree = write_directory(&tx, src, &CommitFilter::default()).unwrap();
    let root = tree.write(&tx).unwrap();
    let c = write_commit(&tx, &CommitInfo::default(), root).unwrap();
    tx.commit().unwrap();
    c
}

/// The content checksum at `dir/name` in commit `c`.
fn file_at(repo: &Repo, c: &Checksum, dir: &str, name: &str) -> Checksum {
    let root = repo.load_commit(c).unwrap().root_tree;
    let t = RawDirTree::load(repo, &root).unwrap();
    let sub = t.dirs.iter().find(|d| d.0 == dir).unwrap().1;
    let t = RawDirTree::load(repo, &sub).unwrap();
    t.files.iter().find(|f| f.0 == name).unwrap().1
}

fn remove(repo: &Repo, c: &Checksum, ty: ObjectType) {
    std::fs::remove_file(repo.path().join(loose_path(c, ty, false))).unwrap();
}

#[test]
fn changed_directories_are_walked_and_shared_ones_trusted() {
    let dir = tempdir("first-missing");
    let repo = Repo::init(&dir.join("repo"), RepoMode::BareUser).unwrap();
    let (v1, v2) = (dir.join("v1"), dir.join("v2"));
    write(&v1, "usr/share/same/a", "unchanged file\n");
    write(&v1, "etc/conf", "version 1\n");
    write(&v2, "usr/share/same/a", "unchanged file\n");
    write(&v2, "etc/conf", "version 2\n");
    write(&v2, "etc/new", "added\n");
    let (a, b) = (commit(&repo, &v1), commit(&repo, &v2));
    assert_eq!(first_missing(&repo, &b, Some(&a)).unwrap(), None);
    assert_eq!(first_missing(&repo, &b, None).unwrap(), None);

    // A file in a subtree both commits share is trusted to the base: the
    // caller vouches that the base is whole, so it is not looked at; with
    // no base every object is.
    let root = repo.load_commit(&b).unwrap().root_tree;
    let usr = RawDirTree::load(&repo, &root).unwrap().dirs.iter().find(|d| d.0 == "usr").unwrap().1;
    let share = RawDirTree::load(&repo, &usr).unwrap().dirs[0].1;
    let same = RawDirTree::load(&repo, &share).unwrap().dirs[0].1;
    let shared = RawDirTree::load(&repo, &same).unwrap().files[0].1;
    remove(&repo, &shared, ObjectType::File);
    assert_eq!(first_missing(&repo, &b, Some(&a)).unwrap(), None);
    assert_eq!(first_missing(&repo, &b, None).unwrap(), Some((shared, ObjectType::File)));

    // A file only the new commit has, in a changed directory, is found.
    let new = file_at(&repo, &b, "etc", "new");
    remove(&repo, &new, ObjectType::File);
    assert_eq!(first_missing(&repo, &b, Some(&a)).unwrap(), Some((new, ObjectType::File)));
    // So is the commit itself.
    let nowhere = Checksum::digest(b"no such commit");
    assert_eq!(first_missing(&repo, &nowhere, Some(&a)).unwrap(), Some((nowhere, ObjectType::Commit)));
}
