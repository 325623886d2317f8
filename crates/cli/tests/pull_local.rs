//! `pull-local` between repositories of different modes, checked with the
//! real `ostree`.

mod common;

use common::*;

/// The rich tree has empty directories with different modes: one dirtree
/// object with several dirmeta objects, all of which must come along.
#[test]
fn pull_local_copies_every_object_across_modes() {
    require_ostree();
    let w = TempDir::new("pull-local");
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    let src = w.join("src").to_string_lossy().into_owned();
    ostree(&[&format!("--repo={src}"), "init", "--mode=archive"]);
    let head = ostree(&[&format!("--repo={src}"), "commit", "-b", "main", &tree.to_string_lossy()]);
    ostree(&[&format!("--repo={src}"), "checkout", "-U", "main", &w.join("want").to_string_lossy()]);
    let want = snapshot(&w.join("want"), false);
    for mode in ["bare-user", "archive"] {
        let dst = w.join(&format!("dst-{mode}")).to_string_lossy().into_owned();
        let d = format!("--repo={dst}");
        ox(&[&d, "init", &format!("--mode={mode}")]);
        ox(&[&d, "pull-local", &src, "main"]);
        assert_eq!(ox(&[&d, "rev-parse", "main"]).trim(), head.trim(), "{mode}");
        assert!(ostree(&[&d, "fsck"]).contains("no errors found"), "{mode}");
        let co = w.join(&format!("co-{mode}"));
        ostree(&[&d, "checkout", "-U", "main", &co.to_string_lossy()]);
        assert_same_tree(&snapshot(&co, false), &want, mode);
    }
}
