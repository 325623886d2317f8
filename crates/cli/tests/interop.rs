//! Interoperability with the real `ostree`, both ways, in every repo mode,
//! on a tree with every kind of entry OSTree stores (see
//! `common::make_rich_tree`).

mod common;

use common::*;

const MODES: &[&str] = &["bare", "bare-user", "bare-user-only", "archive"];
const TS: &str = "--timestamp=2021-06-01T12:00:00Z";

fn modes() -> Vec<&'static str> {
    // bare stores real owners and needs root; CI runs as root.
    MODES.iter().copied().filter(|m| *m != "bare" || is_root()).collect()
}

fn expected(mode: &str, src: &std::collections::BTreeMap<String, Entry>) -> std::collections::BTreeMap<String, Entry> {
    if mode == "bare-user-only" {
        // Checkouts from bare-user-only are always in user mode, where a
        // file without owner-read is copied with u+r added.
        let mut c = canonical(src.clone());
        for e in c.values_mut() {
            if e.kind == '-' && e.mode & 0o400 == 0 {
                e.mode |= 0o400;
            }
        }
        c
    } else {
        src.clone()
    }
}

#[test]
fn ostree_commits_oxtree_reads() {
    require_ostree();
    let w = TempDir::new("interop-read");
    let tree = w.join("tree");
    make_rich_tree(&tree, true);
    let tree_s = tree.to_string_lossy().into_owned();
    let src = snapshot(&tree, true);
    for mode in modes() {
        let repo = w.join(&format!("repo-{mode}")).to_string_lossy().into_owned();
        let r = format!("--repo={repo}");
        ostree(&[&r, "init", &format!("--mode={mode}")]);
        let c1 = ostree(&[&r, "commit", "-b", "main", "-s", "first", TS, &tree_s]);
        let c2 = ostree(&[
            &r,
            "commit",
            "-b",
            "main",
            "-s",
            "second",
            "-m",
            "body\nmore",
            "--add-metadata-string=version=2.0",
            TS,
            &tree_s,
        ]);
        assert_ne!(c1, c2);
        for args in [
            vec!["ls", "-R", "-C", "main"],
            vec!["ls", "-R", "-X", "main"],
            vec!["ls", "main", "/bin", "/rel-link", "/hello.txt"],
            vec!["ls", "-d", "main", "/deep"],
            vec!["show", "main"],
            vec!["show", "--raw", "main"],
            vec!["show", "--print-metadata-key=version", "main"],
            vec!["log", "main"],
            vec!["rev-parse", "main^"],
            vec!["refs"],
            vec!["cat", "main", "/hello.txt", "/unicode/caf\u{e9}-\u{65e5}\u{672c}.txt"],
        ] {
            let mut full = vec![r.as_str()];
            full.extend(args.iter().copied());
            assert_eq!(ox(&full), ostree(&full), "{mode}: output of {args:?}");
        }
        // The large file, streamed.
        let big_ox = ox_out(&[&r, "cat", "main", "/big/large.bin"]);
        assert!(big_ox.status.success());
        assert_eq!(
            oxtree_store::Checksum::digest(&big_ox.stdout),
            oxtree_store::Checksum::digest(&std::fs::read(tree.join("big/large.bin")).unwrap()),
            "{mode}: cat of the large file"
        );
        // Every content object verifies through our readers.
        let repo_h = oxtree_store::Repo::open(std::path::Path::new(&repo)).unwrap();
        for (c, _) in repo_h.list_objects(&[oxtree_store::object::ObjectType::File]).unwrap() {
            repo_h.verify_file(&c).unwrap_or_else(|e| panic!("{mode}: {e}"));
        }
        // Our fsck accepts the real tool's repo, as the real fsck does.
        let fsck = ox(&[&r, "fsck"]);
        assert!(fsck.contains("no errors found"), "{mode}: oxtree fsck: {fsck}");
        // The real tool's checkout is what was committed, and ours is the same.
        let co = w.join(&format!("co-{mode}"));
        ostree(&[&r, "checkout", "main", &co.to_string_lossy()]);
        assert_same_tree(&snapshot(&co, mode != "bare-user-only"), &expected(mode, &src), mode);
        let co_ox = w.join(&format!("co-ox-{mode}"));
        ox(&[&r, "checkout", "main", &co_ox.to_string_lossy()]);
        assert_same_tree(&snapshot(&co_ox, mode != "bare-user-only"), &snapshot(&co, mode != "bare-user-only"), mode);
        if mode != "bare" {
            let (u_ox, u_os) = (w.join(&format!("u-ox-{mode}")), w.join(&format!("u-os-{mode}")));
            ox(&[&r, "checkout", "-U", "main", &u_ox.to_string_lossy()]);
            ostree(&[&r, "checkout", "-U", "main", &u_os.to_string_lossy()]);
            assert_same_tree(&snapshot(&u_ox, false), &snapshot(&u_os, false), mode);
        }
    }
}

#[test]
fn oxtree_commits_ostree_reads() {
    require_ostree();
    let w = TempDir::new("interop-write");
    let tree = w.join("tree");
    make_rich_tree(&tree, true);
    let tree_s = tree.to_string_lossy().into_owned();
    let src = snapshot(&tree, true);
    for mode in modes() {
        let ours = w.join(&format!("ours-{mode}")).to_string_lossy().into_owned();
        let theirs = w.join(&format!("theirs-{mode}")).to_string_lossy().into_owned();
        let (ro, rt) = (format!("--repo={ours}"), format!("--repo={theirs}"));
        ox(&[&ro, "init", &format!("--mode={mode}")]);
        ostree(&[&rt, "init", &format!("--mode={mode}")]);
        let args = ["commit", "-b", "main", "-s", "subject", "--add-metadata-string=version=1", TS, &tree_s];
        let c_ours = ox(&[&[ro.as_str()][..], &args[..]].concat());
        let c_theirs = ostree(&[&[rt.as_str()][..], &args[..]].concat());
        assert_eq!(c_ours, c_theirs, "{mode}: the same tree and options give the same commit");
        // A second commit on top, with a parent.
        let args2 = ["commit", "-b", "main", "-s", "again", TS, &tree_s];
        let c2_ours = ox(&[&[ro.as_str()][..], &args2[..]].concat());
        let c2_theirs = ostree(&[&[rt.as_str()][..], &args2[..]].concat());
        assert_eq!(c2_ours, c2_theirs, "{mode}: second commit");
        let fsck = ostree(&[&ro, "fsck"]);
        assert!(fsck.contains("no errors found"), "{mode}: ostree fsck: {fsck}");
        assert_eq!(ostree(&[&ro, "log", "main"]), ostree(&[&rt, "log", "main"]));
        let co = w.join(&format!("co-{mode}"));
        ostree(&[&ro, "checkout", "main", &co.to_string_lossy()]);
        assert_same_tree(&snapshot(&co, mode != "bare-user-only"), &expected(mode, &src), mode);
        if mode != "bare" {
            let co_u = w.join(&format!("co-user-{mode}"));
            ostree(&[&ro, "checkout", "-U", "main", &co_u.to_string_lossy()]);
            let got = snapshot(&co_u, false);
            assert_eq!(got.len(), src.len(), "{mode}: -U checkout has every entry");
        }
    }
}
