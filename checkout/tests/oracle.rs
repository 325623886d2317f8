//! Checkouts compared bit for bit with the real `ostree checkout` 2022.7:
//! the same tree is committed by `ostree` into two identical repositories,
//! one is checked out by `ostree`, the other by this crate, and the two
//! trees must agree on file types, content, modes, owners, xattrs, symlink
//! targets, link counts (hardlinked or copied) and directory mtimes.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_same, dump, make_repo, make_tree, ostree, ostree_status, skip, tempdir};
use oxtree_checkout::{checkout, CheckoutOptions, OverwriteMode};
use oxtree_store::Repo;

const MODES: [&str; 4] = ["bare", "bare-user", "bare-user-only", "archive"];

fn ours(repo: &Path, rev: &str, dest: &Path, opts: &CheckoutOptions) -> Result<(), oxtree_checkout::CheckoutError> {
    let r = Repo::open(repo).unwrap();
    let c = r.resolve_rev(rev, false).unwrap().unwrap();
    checkout(&r, &c, dest, opts).map(|_| ())
}

/// Runs `ostree checkout`; returns its error text if it fails.
fn theirs(repo: &Path, args: &[&str], rev: &str, dest: &Path) -> Result<(), String> {
    let r = format!("--repo={}", repo.display());
    let d = dest.to_str().unwrap();
    let mut a = vec![r.as_str(), "checkout"];
    a.extend_from_slice(args);
    a.push(rev);
    a.push(d);
    let (ok, err) = ostree_status(&a);
    if ok {
        Ok(())
    } else {
        Err(err)
    }
}

/// Both implementations must succeed or fail together; returns whether
/// they succeeded.
fn agree(what: &str, t: Result<(), String>, o: Result<(), oxtree_checkout::CheckoutError>) -> bool {
    match (t, o) {
        (Ok(()), Ok(())) => true,
        (Err(_), Err(_)) => false,
        (Ok(()), Err(e)) => panic!("{what}: ostree succeeded, ours failed: {e}"),
        (Err(e), Ok(())) => panic!("{what}: ostree failed ({}), ours succeeded", e.trim()),
    }
}

/// Twin repositories with the test tree committed as `main`. Each case
/// checks out once from each twin, so link counts stay comparable across
/// the cases run on one pair.
struct Pair {
    w: PathBuf,
    ours: PathBuf,
    theirs: PathBuf,
    mode: &'static str,
    n: usize,
}

impl Pair {
    fn new(tag: &str, mode: &'static str, extra: &[&str]) -> Pair {
        let w = tempdir(&format!("{tag}-{mode}"));
        let (ours, theirs) = pair(&w, mode, extra);
        Pair { w, ours, theirs, mode, n: 0 }
    }

    /// Checks out `main` both ways and compares the trees (and the
    /// uncompressed-objects caches).
    fn case(&mut self, tag: &str, args: &[&str], opts: CheckoutOptions) {
        self.n += 1;
        let what = format!("{tag} {}", self.mode);
        let (dt, dout) = (self.w.join(format!("co-theirs-{}", self.n)), self.w.join(format!("co-ours-{}", self.n)));
        let t = theirs(&self.theirs, args, "main", &dt);
        let o = ours(&self.ours, "main", &dout, &opts);
        if !agree(&what, t, o) {
            assert!(!dout.exists(), "{what}: failed checkout left files");
            return;
        }
        assert_same(&what, &dump(&dout), &dump(&dt));
        let (co, ct) = (self.ours.join("uncompressed-objects-cache"), self.theirs.join("uncompressed-objects-cache"));
        assert_eq!(co.exists(), ct.exists(), "{what}: cache presence");
        if ct.exists() {
            assert_same(&format!("{what} cache"), &dump(&co), &dump(&ct));
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.w);
        }
    }
}

/// Two identical repos of `mode` in `w` with the test tree as `main`.
fn pair(w: &Path, mode: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    let src = w.join("src");
    if !src.exists() {
        make_tree(&src);
    }
    (
        make_repo(w, &format!("ours-{mode}"), mode, &src, extra),
        make_repo(w, &format!("theirs-{mode}"), mode, &src, extra),
    )
}

#[test]
fn checkout_modes_match_ostree() {
    if skip("checkout_modes_match_ostree") {
        return;
    }
    let o = CheckoutOptions::default;
    for m in MODES {
        let mut p = Pair::new("modes", m, &[]);
        p.case("default", &[], o());
        p.case("user", &["-U"], CheckoutOptions { user_mode: true, ..o() });
        // "New-style" options make ostree disable the uncompressed cache.
        p.case("copy", &["-C"], CheckoutOptions { force_copy: true, disable_cache: true, ..o() });
        p.case(
            "usercopy",
            &["-U", "-C"],
            CheckoutOptions { user_mode: true, force_copy: true, disable_cache: true, ..o() },
        );
        p.case(
            "userM",
            &["-U", "-M"],
            CheckoutOptions { user_mode: true, bareuseronly_dirs: true, disable_cache: true, ..o() },
        );
        p.case("M", &["-M"], CheckoutOptions { bareuseronly_dirs: true, disable_cache: true, ..o() });
        p.case("nocache", &["-U", "--disable-cache"], CheckoutOptions { user_mode: true, disable_cache: true, ..o() });
        p.case("user-again", &["-U"], CheckoutOptions { user_mode: true, ..o() });
    }
}

#[test]
fn require_hardlinks_matches_ostree() {
    if skip("require_hardlinks_matches_ostree") {
        return;
    }
    let h =
        |user| CheckoutOptions { user_mode: user, require_hardlinks: true, disable_cache: true, ..Default::default() };
    Pair::new("H", "bare", &[]).case("H", &["-H"], h(false));
    Pair::new("UH", "bare-user", &[]).case("UH", &["-U", "-H"], h(true));
    let mut p = Pair::new("UH", "bare-user-only", &[]);
    p.case("UH", &["-U", "-H"], h(true));
    p.case("H", &["-H"], h(false));
    // Where ostree refuses, we refuse with its words.
    for (mode, user, args, words) in [
        ("bare", true, &["-U", "-H"][..], "Bare repository mode cannot hardlink in user"),
        ("bare-user", false, &["-H"][..], "User repository mode requires user checkout mode to hardlink"),
        ("archive", false, &["-H"][..], "cannot hardlink"),
    ] {
        let p = Pair::new(&format!("Hfail-{user}"), mode, &[]);
        let (ok, _) = theirs(&p.theirs, args, "main", &p.w.join("co-theirs")).map_or((false, ()), |()| (true, ()));
        assert!(!ok, "ostree {args:?} on {mode} succeeded");
        let e = ours(&p.ours, "main", &p.w.join("co-ours"), &h(user)).unwrap_err();
        assert!(e.to_string().contains(words), "{mode}: {e}");
    }
}

#[test]
fn subpath_matches_ostree() {
    if skip("subpath_matches_ostree") {
        return;
    }
    for m in MODES {
        let mut p = Pair::new("subpath", m, &[]);
        for sub in ["/sub", "sub/deep", "/sub/deep/x", "/rel", "/", "", "big/", "//sub", "/sub/./deep", "/sub/deep/x/y"]
        {
            let opts = CheckoutOptions { subpath: Some(sub.into()), ..Default::default() };
            p.case(&format!("subpath {sub:?}"), &["--subpath", sub], opts);
        }
    }
    // A file into an existing directory.
    let p = Pair::new("subpath-existing", "bare", &[]);
    std::fs::create_dir(p.w.join("t-ours")).unwrap();
    std::fs::create_dir(p.w.join("t-theirs")).unwrap();
    theirs(&p.theirs, &["--subpath", "/file"], "main", &p.w.join("t-theirs")).unwrap();
    let opts = CheckoutOptions { subpath: Some("/file".into()), ..Default::default() };
    ours(&p.ours, "main", &p.w.join("t-ours"), &opts).unwrap();
    assert_same("subpath into existing dir", &dump(&p.w.join("t-ours")), &dump(&p.w.join("t-theirs")));
    // A missing subpath fails in both, with the same words.
    let opts = CheckoutOptions { subpath: Some("/nope".into()), ..Default::default() };
    let e = ours(&p.ours, "main", &p.w.join("n-ours"), &opts).unwrap_err();
    assert_eq!(e.to_string(), "No such file or directory: /nope");
    let err = theirs(&p.theirs, &["--subpath", "/nope"], "main", &p.w.join("n")).unwrap_err();
    assert!(err.contains("No such file or directory: /nope"), "{err}");
    assert!(!p.w.join("n-ours").exists());
}

#[test]
fn existing_destination_fails_without_union() {
    if skip("existing_destination_fails_without_union") {
        return;
    }
    let w = tempdir("exists");
    let (ro, _rt) = pair(&w, "bare", &[]);
    std::fs::create_dir(w.join("d")).unwrap();
    let e = ours(&ro, "main", &w.join("d"), &CheckoutOptions::default()).unwrap_err();
    assert!(e.to_string().contains("mkdirat") && e.to_string().contains("File exists"), "{e}");
    let _ = std::fs::remove_dir_all(&w);
}

#[test]
fn owner_override_matches_ostree() {
    if skip("owner_override_matches_ostree") {
        return;
    }
    for m in ["bare", "bare-user", "archive"] {
        let w = tempdir(&format!("owner-{m}"));
        let (ro, rt) = pair(&w, m, &["--owner-uid=1000", "--owner-gid=1001"]);
        theirs(&rt, &[], "main", &w.join("co-theirs")).unwrap();
        ours(&ro, "main", &w.join("co-ours"), &CheckoutOptions::default()).unwrap();
        assert_same(&format!("owner {m}"), &dump(&w.join("co-ours")), &dump(&w.join("co-theirs")));
        let _ = std::fs::remove_dir_all(&w);
    }
}

/// Runs the same sequence of checkouts (and edits between them) with both
/// implementations on twin repos and compares the results.
fn layered(tag: &str, mode: &str, steps: &[(&str, &[&str], CheckoutOptions)], edit: impl Fn(&Path)) {
    let w = tempdir(&format!("{tag}-{mode}"));
    let (ro, rt) = pair(&w, mode, &[]);
    // Extra layers committed identically into both repos.
    for (repo, _) in [(&ro, 0), (&rt, 1)] {
        let r = format!("--repo={}", repo.display());
        let layers = w.join("layers");
        if !layers.exists() {
            make_layers(&layers);
        }
        for l in ["l1", "l2", "l3", "l4", "l5"] {
            let p = layers.join(l);
            ostree(&[&r, "commit", "--fsync=false", "-b", l, "--no-bindings", "-s", l, p.to_str().unwrap()]);
        }
    }
    let (co, ct) = (w.join("co-ours"), w.join("co-theirs"));
    for (i, (rev, args, opts)) in steps.iter().enumerate() {
        let t = theirs(&rt, args, rev, &ct);
        let o = ours(&ro, rev, &co, opts);
        if !agree(&format!("{tag} {mode} step {i}"), t, o) {
            break;
        }
        if i == 0 {
            edit(&ct);
            edit(&co);
        }
    }
    assert_same(&format!("{tag} {mode}"), &dump(&co), &dump(&ct));
    let _ = std::fs::remove_dir_all(&w);
}

fn make_layers(root: &Path) {
    let mk = |p: &str, data: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    mk("l1/d/gone", "1\n");
    mk("l1/d/sub/f", "1\n");
    mk("l1/e/old", "1\n");
    mk("l1/top", "1\n");
    mk("l1/keep", "1\n");
    std::os::unix::fs::symlink("top", root.join("l1/link")).unwrap();
    mk("l2/d/.wh.gone", "x\n");
    mk("l2/d/.wh.sub", "x\n");
    mk("l2/e/.wh..wh..opq", "");
    mk("l2/e/new", "new\n");
    mk("l2/.wh.top", "x\n");
    mk("l2/keep", "2\n");
    std::os::unix::fs::symlink("keep", root.join("l2/link")).unwrap();
    mk("l3/.ostree-wh.foo", "x\n");
    mk("l3/dir/.ostree-wh.bar", "");
    mk("l3/plain", "p\n");
    // A directory and a file of the same name, for type conflicts.
    mk("l4/x/y", "y\n");
    mk("l4/z", "z\n");
    mk("l5/x", "x\n");
}

/// A file over a directory and a directory over a file, in both union
/// modes: both tools fail (or, with --union-add, keep what is there) alike,
/// and leave the same tree.
#[test]
fn union_type_conflicts_match_ostree() {
    if skip("union_type_conflicts_match_ostree") {
        return;
    }
    for m in MODES {
        for (tag, flag, overwrite) in
            [("union", "--union", OverwriteMode::UnionFiles), ("union-add", "--union-add", OverwriteMode::AddFiles)]
        {
            for (what, first, second) in [("file-over-dir", "l4", "l5"), ("dir-over-file", "l5", "l4")] {
                let opts = CheckoutOptions {
                    overwrite,
                    disable_cache: overwrite == OverwriteMode::AddFiles,
                    ..Default::default()
                };
                let steps: [(&str, &[&str], CheckoutOptions); 2] =
                    [(first, &[], CheckoutOptions::default()), (second, &[flag], opts)];
                layered(&format!("{what}-{tag}"), m, &steps, |_| {});
            }
        }
    }
}

#[test]
fn whiteouts_match_ostree() {
    if skip("whiteouts_match_ostree") {
        return;
    }
    let w =
        |o: OverwriteMode| CheckoutOptions { whiteouts: true, overwrite: o, disable_cache: true, ..Default::default() };
    for m in MODES {
        layered(
            "whiteouts",
            m,
            &[
                ("l1", &["--whiteouts"], w(OverwriteMode::None)),
                ("l2", &["--union", "--whiteouts"], w(OverwriteMode::UnionFiles)),
            ],
            |_| {},
        );
        layered(
            "whiteouts-add",
            m,
            &[
                ("l1", &["--whiteouts"], w(OverwriteMode::None)),
                ("l2", &["--union-add", "--whiteouts"], w(OverwriteMode::AddFiles)),
            ],
            |_| {},
        );
        // Without --whiteouts, .wh.* files are ordinary files.
        layered(
            "no-whiteouts",
            m,
            &[
                ("l1", &[], CheckoutOptions::default()),
                ("l2", &["--union"], CheckoutOptions { overwrite: OverwriteMode::UnionFiles, ..Default::default() }),
            ],
            |_| {},
        );
    }
}

#[test]
fn passthrough_whiteouts_match_ostree() {
    if skip("passthrough_whiteouts_match_ostree") {
        return;
    }
    for m in MODES {
        for user in [false, true] {
            let mut args = vec!["--process-passthrough-whiteouts"];
            if user {
                args.push("-U");
            }
            let opts = CheckoutOptions {
                process_passthrough_whiteouts: true,
                user_mode: user,
                disable_cache: true,
                ..Default::default()
            };
            layered(&format!("passthrough-{user}"), m, &[("l3", &args, opts)], |_| {});
        }
        layered("no-passthrough", m, &[("l3", &[], CheckoutOptions::default())], |_| {});
    }
}

/// Edits a checkout of `main` so that a union has something to replace.
fn edit_main(d: &Path) {
    std::fs::remove_file(d.join("file")).unwrap();
    std::fs::write(d.join("file"), "changed\n").unwrap();
    std::fs::write(d.join("extra"), "extra\n").unwrap();
    std::fs::remove_file(d.join("rel")).unwrap();
    std::os::unix::fs::symlink("elsewhere", d.join("rel")).unwrap();
    std::fs::remove_file(d.join("sub/sgid")).unwrap();
    std::fs::remove_file(d.join("big/f000")).unwrap();
    std::fs::write(d.join("big/f000"), "not the same\n").unwrap();
}

#[test]
fn union_modes_match_ostree() {
    if skip("union_modes_match_ostree") {
        return;
    }
    for m in MODES {
        for (tag, flag, mode) in
            [("union", "--union", OverwriteMode::UnionFiles), ("union-add", "--union-add", OverwriteMode::AddFiles)]
        {
            let new_style = mode == OverwriteMode::AddFiles;
            layered(
                tag,
                m,
                &[
                    ("main", &[], CheckoutOptions::default()),
                    (
                        "main",
                        &[flag],
                        CheckoutOptions { overwrite: mode, disable_cache: new_style, ..Default::default() },
                    ),
                ],
                edit_main,
            );
            let user_args: &[&str] = if flag == "--union" { &["-U", "--union"] } else { &["-U", "--union-add"] };
            layered(
                &format!("user-{tag}"),
                m,
                &[
                    ("main", &["-U"], CheckoutOptions { user_mode: true, ..Default::default() }),
                    (
                        "main",
                        user_args,
                        CheckoutOptions {
                            overwrite: mode,
                            user_mode: true,
                            disable_cache: new_style,
                            ..Default::default()
                        },
                    ),
                ],
                edit_main,
            );
        }
    }
}

#[test]
fn union_identical_matches_ostree() {
    if skip("union_identical_matches_ostree") {
        return;
    }
    let ui = |user| CheckoutOptions {
        overwrite: OverwriteMode::UnionIdentical,
        require_hardlinks: true,
        user_mode: user,
        disable_cache: true,
        ..Default::default()
    };
    // Layering the same tree twice merges (hardlinks are the same inode,
    // copied empty files have the same checksum).
    layered(
        "identical",
        "bare",
        &[("main", &["-H"], ui(false)), ("main", &["-H", "--union-identical"], ui(false))],
        |_| {},
    );
    layered(
        "identical-user",
        "bare-user",
        &[("main", &["-U", "-H"], ui(true)), ("main", &["-U", "-H", "--union-identical"], ui(true))],
        |_| {},
    );
    // A forced copy of the tree is recognised by checksum.
    layered(
        "identical-copy",
        "bare",
        &[
            ("main", &["-C"], CheckoutOptions { force_copy: true, ..Default::default() }),
            ("main", &["-H", "--union-identical"], ui(false)),
        ],
        |_| {},
    );
    // A changed file conflicts in both.
    let w = tempdir("identical-conflict");
    let (ro, rt) = pair(&w, "bare", &[]);
    for (repo, d, is_ours) in [(&ro, w.join("co-ours"), true), (&rt, w.join("co-theirs"), false)] {
        let r = format!("--repo={}", repo.display());
        ostree(&[&r, "checkout", "-H", "main", d.to_str().unwrap()]);
        edit_main(&d);
        if is_ours {
            let e = ours(repo, "main", &d, &ui(false)).unwrap_err();
            assert!(e.to_string().contains("File exists"), "{e}");
        } else {
            let (ok, err) = ostree_status(&[&r, "checkout", "-H", "--union-identical", "main", d.to_str().unwrap()]);
            assert!(!ok && err.contains("File exists"), "{err}");
        }
    }
    let _ = std::fs::remove_dir_all(&w);
}

#[test]
fn skip_list_matches_ostree() {
    if skip("skip_list_matches_ostree") {
        return;
    }
    let w = tempdir("skiplist");
    let list = ["/file", "/sub/deep/", "/with space", "/big/f001", "/ütf-8 ñ/"];
    let lf = w.join("skip.txt");
    std::fs::write(&lf, list.join("\n") + "\n").unwrap();
    let (ro, rt) = pair(&w, "bare", &[]);
    theirs(&rt, &["--skip-list", lf.to_str().unwrap()], "main", &w.join("co-theirs")).unwrap();
    let opts = CheckoutOptions {
        skip: list.iter().map(|s| s.to_string()).collect(),
        disable_cache: true,
        ..Default::default()
    };
    ours(&ro, "main", &w.join("co-ours"), &opts).unwrap();
    let d = dump(&w.join("co-ours"));
    assert!(!d.contains_key("file") && !d.contains_key("sub/deep") && d.contains_key("with space"));
    assert_same("skip-list", &d, &dump(&w.join("co-theirs")));
    // With a subpath the paths are relative to it.
    let list2 = ["/deep/", "/sgid"];
    std::fs::write(&lf, list2.join("\n") + "\n").unwrap();
    theirs(&rt, &["--skip-list", lf.to_str().unwrap(), "--subpath", "/sub"], "main", &w.join("s-theirs")).unwrap();
    let opts = CheckoutOptions {
        skip: list2.iter().map(|s| s.to_string()).collect(),
        subpath: Some("/sub".into()),
        disable_cache: true,
        ..Default::default()
    };
    ours(&ro, "main", &w.join("s-ours"), &opts).unwrap();
    assert_same("skip-list subpath", &dump(&w.join("s-ours")), &dump(&w.join("s-theirs")));
    let _ = std::fs::remove_dir_all(&w);
}
