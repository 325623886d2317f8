//! diff and export next to the real `ostree diff` / `ostree export`.

mod oracle_common;

use std::path::{Path, PathBuf};

use oracle_common::*;
use oxtree_store::diff::{diff, diff_stats, DiffOptions, DiffTarget};
use oxtree_store::export::{export_commit, ExportOptions};
use oxtree_store::{Checksum, Repo};

fn target(repo: &Repo, s: &str) -> DiffTarget {
    if s.starts_with('/') || s.starts_with("./") {
        DiffTarget::Dir(PathBuf::from(s))
    } else {
        DiffTarget::Commit(repo.resolve_rev(s, false).unwrap().unwrap())
    }
}

/// Runs both tools from `cwd` and compares the (sorted) lines.
fn compare_diff(repo_path: &Path, cwd: &Path, args: &[&str]) {
    let r = format!("--repo={}", repo_path.display());
    let mut full = vec![r.as_str(), "diff"];
    full.extend_from_slice(args);
    let out = std::process::Command::new("ostree").args(&full).current_dir(cwd).output().unwrap();
    assert!(out.status.success(), "ostree diff {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let want = sorted_lines(&String::from_utf8_lossy(&out.stdout));

    let repo = Repo::open(repo_path).unwrap();
    let mut opts = DiffOptions::default();
    let mut pos = Vec::new();
    for a in args {
        if let Some(v) = a.strip_prefix("--owner-uid=") {
            opts.owner_uid = Some(v.parse().unwrap());
        } else if let Some(v) = a.strip_prefix("--owner-gid=") {
            opts.owner_gid = Some(v.parse().unwrap());
        } else if *a == "--no-xattrs" {
            opts.no_xattrs = true;
        } else {
            pos.push(*a);
        }
    }
    let here = std::env::current_dir().unwrap();
    std::env::set_current_dir(cwd).unwrap();
    let (ta, tb) = (target(&repo, pos[0]), target(&repo, pos[1]));
    let got = diff(&repo, &ta, &tb, &opts);
    std::env::set_current_dir(here).unwrap();
    let mut got = got.unwrap().lines();
    got.sort();
    assert_eq!(got, want, "diff {args:?} in {}", cwd.display());
}

#[test]
fn diff_matches_ostree() {
    if !have_ostree() {
        return;
    }
    // One test function: it changes the working directory.
    let work = tempdir("diff");
    for mode in ["archive", "bare-user"] {
        let repo = real_repo(&work, mode);
        let r = format!("--repo={}", repo.display());
        compare_diff(&repo, &work, &["main^", "main"]);
        compare_diff(&repo, &work, &["main", "main^"]);
        compare_diff(&repo, &work, &["main", "other"]);
        compare_diff(&repo, &work, &["other", "main^"]);
        compare_diff(&repo, &work, &["main", "main"]);

        let co = work.join(format!("co-{mode}"));
        ostree_ok(&[&r, "checkout", "-U", "-C", "main", co.to_str().unwrap()]);
        compare_diff(&repo, &co, &["main", "./"]);
        compare_diff(&repo, &work, &["main", &format!("./co-{mode}")]);
        compare_diff(&repo, &work, &["--owner-uid=4242", "main", co.to_str().unwrap()]);
        compare_diff(&repo, &work, &["--owner-gid=4242", "main", co.to_str().unwrap()]);
        std::fs::write(co.join("added"), "new\n").unwrap();
        std::fs::create_dir_all(co.join("newdir/sub")).unwrap();
        std::fs::write(co.join("newdir/sub/f"), "z\n").unwrap();
        std::fs::remove_file(co.join("hello.txt")).unwrap();
        std::fs::write(co.join("Zfile"), "changed\n").unwrap();
        sh(&format!("chmod 600 {}", co.join("run.sh").display()));
        std::fs::remove_dir_all(co.join("subdir")).unwrap();
        std::fs::write(co.join("subdir"), "now a file\n").unwrap();
        std::fs::remove_file(co.join("newf")).unwrap();
        std::fs::create_dir(co.join("newf")).unwrap();
        std::fs::write(co.join("newf/inside"), "x\n").unwrap();
        std::fs::remove_file(co.join("link")).unwrap();
        std::os::unix::fs::symlink("elsewhere", co.join("link")).unwrap();
        sh(&format!("chmod 755 {}", co.join("emptydir").display()));
        compare_diff(&repo, &work, &["main", &format!("./co-{mode}")]);
        compare_diff(&repo, &work, &[&format!("./co-{mode}"), "main"]);
        compare_diff(&repo, &work, &[co.to_str().unwrap(), "other"]);
        let co2 = work.join(format!("co2-{mode}"));
        ostree_ok(&[&r, "checkout", "-U", "-C", "main", co2.to_str().unwrap()]);
        compare_diff(&repo, &work, &[co.to_str().unwrap(), co2.to_str().unwrap()]);
        compare_diff(&repo, &work, &["--no-xattrs", &format!("./co2-{mode}"), co2.to_str().unwrap()]);
    }
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn diff_stats_match_ostree() {
    if !have_ostree() {
        return;
    }
    let work = tempdir("diff-stats");
    for mode in ["archive", "bare-user"] {
        let repo_path = real_repo(&work, mode);
        let r = format!("--repo={}", repo_path.display());
        let repo = Repo::open(&repo_path).unwrap();
        for (a, b) in [("main^", "main"), ("main", "other")] {
            let want = ostree_ok(&[&r, "diff", "--stats", a, b]);
            let ca = repo.resolve_rev(a, false).unwrap().unwrap();
            let cb = repo.resolve_rev(b, false).unwrap().unwrap();
            let got = diff_stats(&repo, &ca, &cb).unwrap().lines().join("\n") + "\n";
            assert_eq!(got, want, "{mode} {a} {b}");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

fn ours_export(repo: &Path, rev: &str, opts: &ExportOptions) -> Vec<u8> {
    let r = Repo::open(repo).unwrap();
    let c: Checksum = r.resolve_rev(rev, false).unwrap().unwrap();
    let opts = ExportOptions { pad_records: true, ..opts.clone() };
    export_commit(&r, &c, Vec::new(), &opts).unwrap()
}

fn real_export(repo: &Path, rev: &str, extra: &[&str]) -> Vec<u8> {
    let r = format!("--repo={}", repo.display());
    let mut a = vec![r.as_str(), "export", rev];
    a.extend_from_slice(extra);
    let o = std::process::Command::new("ostree").args(&a).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

#[test]
fn export_is_byte_identical_without_xattrs() {
    if !have_ostree() {
        return;
    }
    let work = tempdir("export");
    let mut modes = vec!["archive", "bare-user", "bare-user-only"];
    if is_root() {
        modes.push("bare");
    }
    for mode in modes {
        let repo = real_repo(&work, mode);
        // A long path (GNU long-name entries) and a long symlink target.
        let tree = work.join(format!("tree-{mode}"));
        let long = "d".repeat(60);
        std::fs::create_dir_all(tree.join(&long).join(&long)).unwrap();
        std::fs::write(tree.join(&long).join(&long).join("file-with-a-long-name"), "long\n").unwrap();
        std::os::unix::fs::symlink("t".repeat(150), tree.join("longlink")).unwrap();
        let r = format!("--repo={}", repo.display());
        ostree_ok(&[&r, "commit", "-b", "long", "--timestamp=2022-02-02T00:00:00Z", tree.to_str().unwrap()]);
        let cases: &[(&[&str], ExportOptions)] = &[
            (&[], ExportOptions::default()),
            (&["--subpath=/subdir"], ExportOptions { subpath: Some("/subdir".into()), ..Default::default() }),
            (&["--prefix=the-prefix/"], ExportOptions { prefix: Some("the-prefix/".into()), ..Default::default() }),
            (&["--prefix=pfx"], ExportOptions { prefix: Some("pfx".into()), ..Default::default() }),
            (
                &["--subpath=subdir", "--prefix=the-prefix/"],
                ExportOptions {
                    subpath: Some("subdir".into()),
                    prefix: Some("the-prefix/".into()),
                    ..Default::default()
                },
            ),
        ];
        // With --output there is no padding to a whole record.
        let out = work.join("o.tar");
        ostree_ok(&[&r, "export", "long", "-o", out.to_str().unwrap()]);
        let rr = Repo::open(&repo).unwrap();
        let c = rr.resolve_rev("long", false).unwrap().unwrap();
        let ours = export_commit(&rr, &c, Vec::new(), &ExportOptions::default()).unwrap();
        if std::fs::read(&out).unwrap() != ours {
            std::fs::write(work.join("ours-o.tar"), &ours).unwrap();
            panic!("{mode}: export -o differs: cmp {} {}", out.display(), work.join("ours-o.tar").display());
        }
        for rev in ["main", "other", "long"] {
            for (args, opts) in cases {
                let a = real_export(&repo, rev, args);
                let b = ours_export(&repo, rev, opts);
                if a != b {
                    let pa = work.join("real.tar");
                    let pb = work.join("ours.tar");
                    std::fs::write(&pa, &a).unwrap();
                    std::fs::write(&pb, &b).unwrap();
                    panic!("{mode} export {rev} {args:?} differs: cmp {} {}", pa.display(), pb.display());
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// With xattrs, the entries are as OSTree writes them plus pax xattr
/// records, which GNU tar restores.
#[test]
fn export_keeps_xattrs() {
    if !have_ostree() {
        return;
    }
    let work = tempdir("export-xattrs");
    let tree = work.join("xt");
    let st = std::process::Command::new("sh").arg(golden_dir().join("mkxattr-tree.sh")).arg(&tree).status();
    if !st.map(|s| s.success()).unwrap_or(false) {
        eprintln!("skipping: no user xattrs here");
        return;
    }
    let repo = work.join("repo");
    let r = format!("--repo={}", repo.display());
    ostree_ok(&[&r, "init", "--mode=archive"]);
    ostree_ok(&[&r, "commit", "-b", "x", tree.to_str().unwrap()]);
    let ours = ours_export(&repo, "x", &ExportOptions::default());
    let plain = ours_export(&repo, "x", &ExportOptions { no_xattrs: true, ..Default::default() });
    assert!(plain == real_export(&repo, "x", &[]), "export --no-xattrs differs from ostree's");
    let t = work.join("x.tar");
    std::fs::write(&t, &ours).unwrap();
    let list = |p: &Path| {
        let o = std::process::Command::new("tar").arg("-tvf").arg(p).output().unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let tp = work.join("plain.tar");
    std::fs::write(&tp, &plain).unwrap();
    assert_eq!(list(&t), list(&tp));
    let out = work.join("out");
    std::fs::create_dir(&out).unwrap();
    sh(&format!("cd {} && tar --xattrs --xattrs-include='*' -xf {}", out.display(), t.display()));
    let dump = |p: &Path| {
        let o = std::process::Command::new("getfattr")
            .args(["-R", "-d", "-m", "user\\.", "-e", "hex"])
            .arg(".")
            .current_dir(p)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // OSTree drops empty xattrs when committing.
    let want: String = dump(&tree).lines().filter(|l| !l.ends_with("=0x")).map(|l| format!("{l}\n")).collect();
    assert_eq!(dump(&out), want);
    let _ = std::fs::remove_dir_all(&work);
}
