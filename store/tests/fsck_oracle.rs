//! fsck next to the real `ostree fsck` on copies of the same repositories,
//! damaged the same way, in every mode: the same exit status, the same
//! stdout lines (progress aside), the same stderr lines, the same
//! commitpartial markers and the same objects left.

mod oracle_common;

use std::path::Path;
use std::sync::Mutex;

use oracle_common::*;
use oxtree_store::fsck::{fsck, FsckEvent, FsckOptions};
use oxtree_store::Repo;

struct Run {
    ok: bool,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// Sorts the commit list of `In commits A, B: ` / `Object missing in commits
/// A, B: ` lines (OSTree prints it in hash-table order; we sort it).
fn normalize(line: &str) -> String {
    for lead in ["In commits ", "Object missing in commits ", "error: In commits "] {
        if let Some(rest) = line.strip_prefix(lead) {
            if let Some((list, tail)) = rest.split_once(": ") {
                let mut v: Vec<&str> = list.split(", ").collect();
                v.sort();
                return format!("{lead}{}: {tail}", v.join(", "));
            }
        }
    }
    line.to_string()
}

fn opts_from(args: &[&str]) -> FsckOptions {
    let mut o = FsckOptions::default();
    for a in args {
        match *a {
            "-q" | "--quiet" => o.quiet = true,
            "-a" | "--all" => o.all = true,
            "--delete" => o.delete = true,
            "--verify-bindings" => o.verify_bindings = true,
            "--verify-back-refs" => o.verify_back_refs = true,
            "--add-tombstones" => o.add_tombstones = true,
            other => panic!("unknown fsck option {other}"),
        }
    }
    o
}

/// Runs our fsck and renders what the CLI prints.
fn ours(repo: &Path, args: &[&str]) -> Run {
    let out = Mutex::new((Vec::new(), Vec::new()));
    let events = |e: &FsckEvent<'_>| {
        let mut o = out.lock().unwrap();
        match e {
            FsckEvent::Phase(p) => o.0.push(p.to_string()),
            FsckEvent::Progress { .. } => {}
            FsckEvent::Problem(p) => o.1.push(p.to_string()),
            FsckEvent::MarkedPartial(c) => o.1.push(format!("Marking commit as partial: {c}")),
            FsckEvent::Tombstone(c) => o.0.push(format!("Adding tombstone for commit {c}")),
        }
    };
    let r = Repo::open(repo).unwrap();
    let res = fsck(&r, &opts_from(args), &events);
    let (mut stdout, mut stderr) = out.into_inner().unwrap();
    let ok = match res {
        Err(e) => {
            stderr.push(format!("error: {e}"));
            false
        }
        Ok(rep) => {
            if rep.partial_commits > 0 {
                stdout.push(format!("{} partial commits not verified", rep.partial_commits));
            }
            match rep.error_message() {
                Some(m) => {
                    stderr.push(format!("error: {m}"));
                    false
                }
                None => {
                    stdout.push(rep.success_message());
                    true
                }
            }
        }
    };
    let mut stderr: Vec<String> = stderr.iter().map(|l| normalize(l)).collect();
    stderr.sort();
    Run { ok, stdout, stderr }
}

fn real(repo: &Path, args: &[&str]) -> Run {
    let r = format!("--repo={}", repo.display());
    let mut a = vec![r.as_str(), "fsck"];
    a.extend_from_slice(args);
    let o = ostree(&a);
    Run {
        ok: o.ok,
        stdout: o.stdout.lines().filter(|l| !l.starts_with("fsck objects (")).map(str::to_string).collect(),
        stderr: {
            let mut v: Vec<String> = o.stderr.lines().map(normalize).collect();
            v.sort();
            v
        },
    }
}

/// Damages two copies of `pristine` with `mutate`, runs both tools with
/// each argument list in turn (the same copy carries state between runs),
/// and compares everything.
fn compare(work: &Path, case: &str, pristine: &Path, mutate: &dyn Fn(&Path), runs: &[&[&str]]) {
    let (a, b) = twins(work, case, pristine, mutate);
    for args in runs {
        let x = real(&a, args);
        let y = ours(&b, args);
        let ctx = format!("case {case} ({}) args {args:?}", pristine.display());
        assert_eq!(y.stderr, x.stderr, "stderr, {ctx}");
        assert_eq!(y.stdout, x.stdout, "stdout, {ctx}");
        assert_eq!(y.ok, x.ok, "status, {ctx}");
        assert_eq!(listing(&b.join("state")), listing(&a.join("state")), "state/, {ctx}");
        assert_eq!(object_names(&b), object_names(&a), "objects, {ctx}");
    }
}

fn append(p: &Path, data: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(data).unwrap();
}

fn flip_name(p: &Path, from: &[u8], to: &[u8]) {
    let mut b = std::fs::read(p).unwrap();
    let i = b.windows(from.len()).position(|w| w == from).unwrap();
    b[i..i + to.len()].copy_from_slice(to);
    std::fs::write(p, b).unwrap();
}

const HELLO: &str = "81381808c56d4f3d643ec12f6a18fcf2993af8daba7c2a1b2cbfc315b39424c6";
const ZFILE: &str = "f2c7b8fdcb8440323ef3fcf8ca7bfc23d06571a65cc0cbb40c2fb5b0f27f6108";
const SUBDIR_TREE: &str = "78154b9650d2a28716fd4a83584a2d9cba1833be4851714d8a0e89e8933c875a";
const EMPTYDIR_META: &str = "84641b0a39d8c873690da8f32aea21cf5d6fff354f85e045f6f5ecdc8e7758d0";

fn check_mode(mode: &str) {
    let work = tempdir(&format!("fsck-{mode}"));
    let pristine = real_repo(&work, mode);
    let fext = if mode == "archive" { "filez" } else { "file" };
    // bare-user-only canonicalises permissions: different file checksums.
    let (hello, zfile) = if mode == "bare-user-only" {
        let r = format!("--repo={}", pristine.display());
        let ls = ostree_ok(&[&r, "ls", "-C", "main", "/hello.txt", "/Zfile"]);
        let c: Vec<String> = ls.lines().map(|l| l.split_whitespace().nth(4).unwrap().to_string()).collect();
        (c[0].clone(), c[1].clone())
    } else {
        (HELLO.to_string(), ZFILE.to_string())
    };
    let main = rev_parse(&pristine, "main");
    let newf_rev = rev_parse(&pristine, "main^");
    let none: &[&str] = &[];

    compare(&work, "clean", &pristine, &|_| {}, &[none, &["-q"], &["--verify-bindings"]]);
    let h = hello.clone();
    let missing = move |r: &Path| std::fs::remove_file(obj(r, &h, fext)).unwrap();
    compare(&work, "missing", &pristine, &missing, &[none, none, &["-a"]]);
    let (h, z) = (hello.clone(), zfile.clone());
    let corrupt_one = move |r: &Path| {
        if fext == "filez" {
            std::fs::write(obj(r, &h, fext), b"whoops\n").unwrap();
        } else {
            append(&obj(r, &h, fext), b"corrupted\n");
        }
    };
    compare(&work, "corrupt", &pristine, &corrupt_one, &[none, &["-q"], &["--delete"], none, &["-a"]]);
    let corrupt_two = move |r: &Path| {
        corrupt_one(r);
        if fext == "filez" {
            std::fs::write(obj(r, &z, fext), b"\0\0\0\x10\0\0\0\0abcdefghabcdefgh").unwrap();
        } else {
            append(&obj(r, &z, fext), b"corrupted\n");
        }
    };
    compare(&work, "corrupt-two", &pristine, &corrupt_two, &[&["-a"], &["-a", "--delete"], none]);
    let m = |r: &Path| std::fs::remove_file(obj(r, EMPTYDIR_META, "dirmeta")).unwrap();
    compare(&work, "missing-dirmeta", &pristine, &m, &[none, none]);
    let m = |r: &Path| std::fs::remove_file(obj(r, SUBDIR_TREE, "dirtree")).unwrap();
    compare(&work, "missing-dirtree", &pristine, &m, &[none, &["-a"]]);
    let m = |r: &Path| {
        flip_name(&obj(r, SUBDIR_TREE, "dirtree"), b"nested", b"nestea");
        let p = obj(r, EMPTYDIR_META, "dirmeta");
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 1] = 0xc1;
        std::fs::write(&p, b).unwrap();
    };
    compare(&work, "corrupt-meta", &pristine, &m, &[&["-a"], &["--delete"], none]);
    let mc = main.clone();
    let m = move |r: &Path| std::fs::write(obj(r, &mc, "commit"), b"").unwrap();
    compare(&work, "empty-ref-commit", &pristine, &m, &[none, &["--delete"], none]);
    let pc = newf_rev.clone();
    let m = move |r: &Path| flip_name(&obj(r, &pc, "commit"), b"one", b"One");
    compare(&work, "corrupt-parent-commit", &pristine, &m, &[none, &["-a"], &["--delete"], none]);
    // (One ref only: OSTree checks refs in hash-table order.)
    let m = |r: &Path| {
        sh(&format!("find {} -name '*.commit' -delete", r.join("objects").display()));
        std::fs::remove_file(r.join("refs/heads/other")).unwrap();
    };
    compare(&work, "no-commits", &pristine, &m, &[none, &["-q", "-a"]]);
    let pc = newf_rev.clone();
    let m = move |r: &Path| std::fs::write(r.join(format!("state/{pc}.commitpartial")), b"").unwrap();
    compare(&work, "partial", &pristine, &m, &[none]);
    let m = |r: &Path| std::fs::copy(r.join("refs/heads/main"), r.join("refs/heads/another")).map(|_| ()).unwrap();
    compare(&work, "bindings", &pristine, &m, &[&["--verify-bindings"], none]);
    compare(&work, "back-refs", &pristine, &|_| {}, &[&["--verify-back-refs"]]);
    if mode == "bare" {
        // A hardlinked checkout whose mode changed corrupts the object.
        let h = hello.clone();
        let m = move |r: &Path| sh(&format!("chmod o+x {}", obj(r, &h, "file").display()));
        compare(&work, "chmod", &pristine, &m, &[&["-q"], &["-q", "--delete"], none]);
    }
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn fsck_matches_ostree_archive() {
    if have_ostree() {
        check_mode("archive");
    }
}

#[test]
fn fsck_matches_ostree_bare_user() {
    if have_ostree() {
        check_mode("bare-user");
    }
}

#[test]
fn fsck_matches_ostree_bare_user_only() {
    if have_ostree() {
        check_mode("bare-user-only");
    }
}

#[test]
fn fsck_matches_ostree_bare() {
    if have_ostree() && is_root() {
        check_mode("bare");
    }
}

/// The archive repo from OSTree's own tests whose dirtree names `../afile`.
#[test]
fn fsck_path_traversal_repo() {
    let tarball = Path::new("/usr/libexec/installed-tests/libostree/ostree-path-traverse.tar.gz");
    if !have_ostree() || !tarball.exists() {
        return;
    }
    let work = tempdir("fsck-traverse");
    sh(&format!("cd {} && tar xf {}", work.display(), tarball.display()));
    let repo = work.join("ostree-path-traverse/repo");
    compare(&work, "traverse", &repo, &|_| {}, &[&["-q"], &["-a"]]);
    let _ = std::fs::remove_dir_all(&work);
}

/// `--add-tombstones` writes a tombstone for a missing parent and turns
/// tombstones on; the child commit stays (OSTree deletes it instead).
#[test]
fn add_tombstones_for_missing_parent() {
    if !have_ostree() {
        return;
    }
    let work = tempdir("fsck-tombstones");
    let repo = real_repo(&work, "archive");
    let parent = rev_parse(&repo, "main^");
    std::fs::remove_file(obj(&repo, &parent, "commit")).unwrap();
    let r = ours(&repo, &[]);
    assert!(r.ok, "{:?}", r.stderr);
    let r = ours(&repo, &["--add-tombstones"]);
    assert!(r.ok);
    assert!(r.stdout.contains(&format!("Adding tombstone for commit {parent}")));
    assert!(obj(&repo, &parent, "tombstone-commit").exists());
    assert!(std::fs::read_to_string(repo.join("config")).unwrap().contains("tombstone-commits=true"));
    // The real tool accepts the result.
    assert!(ostree(&[&format!("--repo={}", repo.display()), "fsck"]).ok);
    let _ = std::fs::remove_dir_all(&work);
}
