//! Hostile servers: a repository the real `ostree` wrote, served with one
//! thing wrong. Each pull fails with an error naming what is wrong, moves
//! no ref, and stores nothing that fsck would reject.

mod common;
// The fetch crate's test server; not every part of it is used here.
#[allow(dead_code)]
#[path = "../../../fetch/tests/common/server.rs"]
mod server;

use std::path::{Path, PathBuf};

use common::*;
use oxtree_store::object::{Commit, DirTree, ObjectType};
use oxtree_store::summary::Summary;
use oxtree_store::Checksum;
use server::{read_below, serve_dir, Reply, Server};

const TS: &str = "--timestamp=2021-06-01T12:00:00Z";

/// A summarised archive repo by the real ostree; its path and `main`.
fn served_repo(w: &TempDir) -> (PathBuf, Checksum) {
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    let srv = w.join("srv");
    let s = format!("--repo={}", srv.display());
    ostree(&[&s, "init", "--mode=archive"]);
    let head = ostree(&[&s, "commit", "-b", "main", TS, &tree.to_string_lossy()]);
    ostree(&[&s, "summary", "-u"]);
    (srv, Checksum::from_hex(head.trim()).unwrap())
}

fn object_path(c: &Checksum, ty: ObjectType) -> String {
    format!("/{}", oxtree_store::object::loose_path(c, ty, true))
}

/// Pulls with `args` from `url` into a new bare-user repo, which must
/// fail; returns the repo and the pull's stderr.
fn failing_pull(w: &TempDir, url: &str, args: &[&str]) -> (String, String) {
    let dst = w.join("dst").to_string_lossy().into_owned();
    let d = format!("--repo={dst}");
    ox(&[&d, "init", "--mode=bare-user"]);
    ox(&[&d, "remote", "add", "--no-gpg-verify", "origin", url]);
    let mut a = vec![d.as_str(), "pull", "--network-retries=1"];
    a.extend(args);
    let out = ox_out(&a);
    assert!(!out.status.success(), "the pull succeeded: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.starts_with("error: "), "{err}");
    eprintln!("{err}");
    // Nothing moved, nothing bad stored.
    assert!(!ox_out(&[&d, "rev-parse", "origin:main"]).status.success(), "a ref moved");
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    (dst, err)
}

#[test]
fn a_commit_that_is_not_its_checksum_is_refused() {
    require_ostree();
    let w = TempDir::new("hostile-commit");
    let (srv, head) = served_repo(&w);
    let commit = object_path(&head, ObjectType::Commit);
    let server = serve_but(&srv, &commit, |mut body| {
        let n = body.len() - 1;
        body[n] ^= 1;
        Reply::Full(200, body)
    });
    let (_, err) = failing_pull(&w, &server.url, &["origin", "main"]);
    assert!(err.contains(&commit) && err.contains(&head.to_hex()), "names the commit and its URL: {err}");
}

#[test]
fn metadata_that_is_not_normal_form_is_refused() {
    require_ostree();
    let w = TempDir::new("hostile-nonnormal");
    let (srv, head) = served_repo(&w);
    // A commit whose root dirtree has a byte more than normal form allows:
    // the bytes hash to their name, so only the form check can catch it.
    let bad = replace_root_dirtree(&srv, &head, |mut bytes| {
        bytes.push(0);
        bytes
    });
    let server = Server::start(serve_dir(srv.clone()));
    let (_, err) = failing_pull(&w, &server.url, &["origin", "main"]);
    assert!(err.contains(&bad.to_hex()), "names the dirtree: {err}");
}

#[test]
fn a_dirtree_naming_dotdot_is_refused() {
    require_ostree();
    let w = TempDir::new("hostile-dotdot");
    let (srv, head) = served_repo(&w);
    let bad = replace_root_dirtree(&srv, &head, |bytes| {
        let mut dt = DirTree::from_bytes(&bytes).unwrap();
        dt.files[0].name = "..".into();
        dt.to_bytes()
    });
    let server = Server::start(serve_dir(srv.clone()));
    let (_, err) = failing_pull(&w, &server.url, &["origin", "main"]);
    assert!(err.contains(&bad.to_hex()) && err.contains(".."), "names the dirtree and the name: {err}");
}

#[test]
fn summary_refs_outside_refs_are_refused() {
    require_ostree();
    let w = TempDir::new("hostile-refname");
    let (srv, _) = served_repo(&w);
    let mut s = Summary::from_bytes(&std::fs::read(srv.join("summary")).unwrap()).unwrap();
    s.refs[0].name = "../../../escape".into();
    std::fs::write(srv.join("summary"), s.to_bytes()).unwrap();
    let server = Server::start(serve_dir(srv.clone()));
    let (dst, err) = failing_pull(&w, &server.url, &["--mirror", "origin"]);
    assert!(err.contains("../../../escape"), "names the ref: {err}");
    assert!(!Path::new(&dst).join("escape").exists() && !w.join("escape").exists());
}

#[test]
fn endless_and_oversized_responses_are_cut_off() {
    require_ostree();
    let w = TempDir::new("hostile-endless");
    let (srv, head) = served_repo(&w);
    // The commit never ends.
    let commit = object_path(&head, ObjectType::Commit);
    let server = serve_but(&srv, &commit, Reply::Endless);
    let (_, err) = failing_pull(&w, &server.url, &["origin", "main"]);
    assert!(err.contains("exceeded maximum size") && err.contains(&commit), "{err}");
    // A content object whose bytes go on far past the size its header
    // declares.
    let w2 = TempDir::new("hostile-oversized");
    let filez = largest_filez(&srv);
    let server = serve_but(&srv, &filez, Reply::Endless);
    let (dst, err) = failing_pull(&w2, &server.url, &["origin", "main"]);
    assert!(err.contains("larger than") && err.contains(&filez), "{err}");
    // Nothing big was kept.
    let kept: u64 = std::fs::read_dir(Path::new(&dst).join("tmp"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    assert!(kept < 8 << 20, "{kept} bytes left in tmp/");
}

/// Serves `repo`, except that the file at URL path `victim` is answered
/// by `reply` (given its bytes).
fn serve_but(repo: &Path, victim: &str, reply: impl Fn(Vec<u8>) -> Reply + Send + Sync + 'static) -> Server {
    let (root, victim) = (repo.to_path_buf(), victim.to_string());
    Server::start(move |req, _| match read_below(&root, &req.path) {
        Some(body) if req.path == victim => reply(body),
        Some(body) => Reply::Full(200, body),
        None => Reply::Full(404, Vec::new()),
    })
}

/// Points `main` of the served repo at a copy of commit `head` whose root
/// dirtree is `craft` of the real one; returns the crafted dirtree's name.
fn replace_root_dirtree(repo: &Path, head: &Checksum, craft: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Checksum {
    let r = oxtree_store::Repo::open(repo).unwrap();
    let mut commit = r.load_commit(head).unwrap();
    let bytes = craft(r.read_metadata(ObjectType::DirTree, &commit.root_tree).unwrap());
    let bad = Checksum::digest(&bytes);
    plant_object(repo, &bad, ObjectType::DirTree, &bytes);
    commit.root_tree = bad;
    publish(repo, &commit);
    bad
}

/// Writes `commit` into the served repo and points `main` (and the
/// summary, regenerated by the real ostree) at it.
fn publish(repo: &Path, commit: &Commit) -> Checksum {
    let bytes = commit.to_bytes();
    let c = Checksum::digest(&bytes);
    plant_object(repo, &c, ObjectType::Commit, &bytes);
    std::fs::write(repo.join("refs/heads/main"), format!("{c}\n")).unwrap();
    ostree(&[&format!("--repo={}", repo.display()), "summary", "-u"]);
    c
}
