//! Bad input gets a clear error naming the object, path or ref, a non-zero
//! exit, and changes nothing that is already stored.

mod common;

use std::path::Path;

use common::*;
use oxtree_store::object::{DirEntry, DirTree, FileEntry, ObjectType};
use oxtree_store::{Checksum, Repo};

fn fails(args: &[&str], needle: &str) -> String {
    let o = ox_out(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{args:?} should fail with exit 1; stderr: {err}");
    assert!(err.contains("error: "), "{args:?}: no error line: {err}");
    assert!(err.contains(needle), "{args:?}: error should mention {needle:?}: {err}");
    err
}

fn tiny_repo(w: &TempDir, mode: &str) -> (String, String) {
    let tree = w.join("tree");
    sh(&format!("sh '{}' '{}'", golden_dir().join("mktree.sh").display(), tree.display()));
    let repo = w.join("repo").to_string_lossy().into_owned();
    ox(&[&format!("--repo={repo}"), "init", &format!("--mode={mode}")]);
    let c = ox(&[&format!("--repo={repo}"), "commit", "-b", "main", "-s", "one", &tree.to_string_lossy()]);
    (repo, c.trim().to_string())
}

fn find_object(repo: &str, ext: &str, pred: impl Fn(&Path) -> bool) -> (Checksum, std::path::PathBuf) {
    let r = Repo::open(Path::new(repo)).unwrap();
    let ty = match ext {
        "dirtree" => ObjectType::DirTree,
        "dirmeta" => ObjectType::DirMeta,
        "commit" => ObjectType::Commit,
        _ => ObjectType::File,
    };
    for (c, _) in r.list_objects(&[ty]).unwrap() {
        let p = r.object_path(&c, ty);
        if pred(&p) {
            return (c, p);
        }
    }
    panic!("no {ext} object matched");
}

#[test]
fn corrupt_and_truncated_objects_are_named() {
    let w = TempDir::new("bad-objects");
    let (repo, _) = tiny_repo(&w, "archive");
    let r = format!("--repo={repo}");
    // A truncated dirtree (the root one has several entries).
    let (tree, path) = find_object(&repo, "dirtree", |p| std::fs::metadata(p).unwrap().len() > 100);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    fails(&[&r, "ls", "-R", "main"], &tree.to_hex());
    std::fs::write(&path, &bytes).unwrap();
    ox(&[&r, "ls", "-R", "main"]);

    // A content object whose header is garbage, and one cut short.
    let hello = ox(&[&r, "ls", "-C", "main", "/hello.txt"]);
    let csum = hello.split_whitespace().nth(4).unwrap().to_string();
    let p = Path::new(&repo).join(format!("objects/{}/{}.filez", &csum[..2], &csum[2..]));
    let good = std::fs::read(&p).unwrap();
    std::fs::write(&p, b"\xff\xff\xff\xffgarbage").unwrap();
    fails(&[&r, "cat", "main", "/hello.txt"], &csum);
    std::fs::write(&p, &good[..good.len() - 6]).unwrap();
    fails(&[&r, "cat", "main", "/hello.txt"], &csum);
    std::fs::write(&p, &good).unwrap();
    assert_eq!(ox(&[&r, "cat", "main", "/hello.txt"]), "hello world\n");
}

#[test]
fn hostile_dirtree_names_are_refused() {
    let w = TempDir::new("bad-names");
    let (repo, base) = tiny_repo(&w, "bare-user");
    let r = format!("--repo={repo}");
    let rp = Repo::open(Path::new(&repo)).unwrap();
    let basec = rp.load_commit(&Checksum::from_hex(&base).unwrap()).unwrap();
    let some_file = rp.load_dirtree(&basec.root_tree).unwrap().files[0].checksum;
    for (i, name) in ["..", ".", "a/b", "", "nul\0byte"].iter().enumerate() {
        let mut dt = DirTree::default();
        if i % 2 == 0 {
            dt.files.push(FileEntry { name: name.to_string(), checksum: some_file });
        } else {
            dt.dirs.push(DirEntry { name: name.to_string(), tree: basec.root_tree, meta: basec.root_meta });
        }
        let mut tx = rp.transaction().unwrap();
        let t = tx.write_metadata(ObjectType::DirTree, &dt.to_bytes()).unwrap();
        let cs = tx.write_commit(&hostile_commit(t, basec.root_meta, 0)).unwrap();
        tx.set_ref("hostile", Some(cs)).unwrap();
        tx.commit().unwrap();
        let err = fails(&[&r, "ls", "-R", "hostile"], &t.to_hex());
        assert!(err.contains("filename") || err.contains("contains a NUL"), "{err}");
    }
    // Nothing else moved.
    assert_eq!(ox(&[&r, "rev-parse", "main"]).trim(), base);
}

#[test]
fn bad_refs_and_revisions() {
    let w = TempDir::new("bad-refs");
    let (repo, base) = tiny_repo(&w, "bare-user");
    let r = format!("--repo={repo}");
    let tree = w.join("tree").to_string_lossy().into_owned();
    fails(&[&r, "refs", "--create=../x", "main"], "Invalid refspec ../x");
    fails(&[&r, "commit", "-b", "../x", &tree], "Invalid refspec ../x");
    fails(&[&r, "commit", "-b", "a b", &tree], "Invalid refspec a b");
    fails(&[&r, "rev-parse", "../x"], "../x");
    fails(&[&r, "rev-parse", "nosuchref"], "Refspec 'nosuchref' not found");
    fails(&[&r, "rev-parse", "main^"], "has no parent");
    fails(&[&r, "commit", "--nosuchoption", "-b", "main", &tree], "Unknown option --nosuchoption");
    fails(&[&r, "commit", &tree], "--branch");
    fails(&[&r, "nosuchcommand"], "Unknown command 'nosuchcommand'");
    assert!(!Path::new(&repo).join("refs/x").exists());
    assert!(!Path::new(&repo).parent().unwrap().join("x").exists());
    assert_eq!(ox(&[&r, "refs"]), "main\n");
    assert_eq!(ox(&[&r, "rev-parse", "main"]).trim(), base);
}

#[test]
fn missing_parent_is_partial_history() {
    require_ostree();
    let w = TempDir::new("bad-parent");
    let (repo, _) = tiny_repo(&w, "archive");
    let r = format!("--repo={repo}");
    let tree = w.join("tree").to_string_lossy().into_owned();
    let ghost = "1111111111111111111111111111111111111111111111111111111111111111";
    let c = ox(&[&r, "commit", "-b", "orphaned", "-s", "child", &format!("--parent={ghost}"), &tree]);
    let log = ox(&[&r, "log", "orphaned"]);
    assert!(log.starts_with(&format!("commit {}", c.trim())));
    assert!(log.ends_with("<< History beyond this commit not fetched >>\n"), "{log}");
    assert_eq!(log, ostree(&[&r, "log", "orphaned"]));
    fails(&[&r, "rev-parse", "orphaned^^"], ghost);
    // A partial history is a valid repo.
    assert!(ostree(&[&r, "fsck"]).contains("no errors found"));
}

#[test]
fn unknown_repo_mode() {
    let w = TempDir::new("bad-mode");
    let (repo, _) = tiny_repo(&w, "bare-user");
    let cfg = Path::new(&repo).join("config");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("mode=bare-user", "mode=sideways");
    std::fs::write(&cfg, &text).unwrap();
    let err = fails(&[&format!("--repo={repo}"), "refs"], "Invalid mode 'sideways'");
    assert!(err.contains(&cfg.to_string_lossy().into_owned()), "{err}");
    fails(&[&format!("--repo={repo}"), "commit", "-b", "main", &w.join("tree").to_string_lossy()], "sideways");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
    let err = fails(&[&format!("--repo={}", w.join("nothere").display()), "refs"], "not an OSTree repository");
    assert!(err.contains("nothere"));
    fails(&[&format!("--repo={repo}"), "init", "--mode=sideways"], "Invalid mode");
}
