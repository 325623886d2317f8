//! A transaction that takes over the staging directory of one whose
//! process died (a pull killed half way): whole objects count as staged,
//! objects cut short are dropped and written again.

mod oracle_common;

use std::path::PathBuf;

use oracle_common::tempdir;
use oxtree_store::object::{FileHeader, ObjectType};
use oxtree_store::{Repo, RepoMode};

fn header() -> FileHeader {
    FileHeader { uid: 0, gid: 0, mode: 0o100644, symlink_target: String::new(), xattrs: Default::default() }
}

fn staging_dirs(repo: &Repo) -> Vec<PathBuf> {
    std::fs::read_dir(repo.path().join("tmp"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with("staging-"))
        .collect()
}

#[test]
fn whole_leftovers_are_taken_over_and_cut_ones_are_not() {
    let dir = tempdir("resume-leftovers");
    let repo = Repo::init(&dir.join("repo"), RepoMode::BareUser).unwrap();
    let tx = repo.transaction().unwrap();
    let whole = tx.write_file_bytes(&header(), &vec![7u8; 300_000]).unwrap();
    let cut = tx.write_file_bytes(&header(), b"a small file, cut short below").unwrap();
    let meta = tx
        .write_metadata(
            ObjectType::DirMeta,
            &oxtree_store::object::DirMeta { uid: 0, gid: 0, mode: 0o40755, xattrs: Default::default() }.to_bytes(),
        )
        .unwrap();
    // What a killed process leaves: the directory, its lock free.
    let live = staging_dirs(&repo).pop().unwrap();
    let dead = PathBuf::from(format!("{}-dead", live.display()));
    let st = std::process::Command::new("cp").arg("-a").arg(&live).arg(&dead).status().unwrap();
    assert!(st.success());
    drop(tx);
    let rel = |c: &oxtree_store::Checksum, ty| {
        let p = oxtree_store::object::loose_path(c, ty, false);
        dead.join(p.strip_prefix("objects/").unwrap())
    };
    // The write of one object was cut short (truncating also sets mtime).
    std::fs::OpenOptions::new().write(true).open(rel(&cut, ObjectType::File)).unwrap().set_len(5).unwrap();

    let tx = repo.resume_transaction().unwrap();
    assert!(tx.has_object(ObjectType::File, &whole), "a whole object counts");
    assert!(tx.has_object(ObjectType::DirMeta, &meta), "whole metadata counts");
    assert!(!tx.has_object(ObjectType::File, &cut), "a cut object does not");
    assert!(!rel(&cut, ObjectType::File).exists(), "and is dropped");
    let again = tx.write_file_bytes(&header(), b"a small file, cut short below").unwrap();
    assert_eq!(again, cut);
    tx.commit().unwrap();
    for (c, ty) in [(whole, ObjectType::File), (cut, ObjectType::File), (meta, ObjectType::DirMeta)] {
        assert!(repo.has_object(ty, &c));
    }
    repo.verify_file(&whole).unwrap();
    repo.verify_file(&cut).unwrap();
    assert!(staging_dirs(&repo).is_empty(), "the taken-over directory is gone");
    assert!(!std::path::Path::new(&format!("{}-lock", dead.display())).exists());
}

#[test]
fn a_plain_transaction_sweeps_dead_staging_and_leaves_live_ones() {
    let dir = tempdir("resume-sweep");
    let repo = Repo::init(&dir.join("repo"), RepoMode::BareUser).unwrap();
    let live_tx = repo.transaction().unwrap();
    live_tx.write_file_bytes(&header(), b"live").unwrap();
    let live = staging_dirs(&repo).pop().unwrap();
    let dead = PathBuf::from(format!("{}-dead", live.display()));
    std::fs::create_dir(&dead).unwrap();
    let tx = repo.transaction().unwrap();
    assert!(!dead.exists(), "a dead directory of this boot is swept");
    assert!(live.exists(), "a live transaction's directory stays");
    drop(tx);
    drop(live_tx);
}
