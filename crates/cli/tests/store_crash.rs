//! Crash safety of the object store at every fault point
//! (`OXTREE_TEST_FAULT`, see `oxtree_store::fault`): each rename into
//! `objects/`, each sync and each ref write of a commit, of a `pull-local`
//! and of a pull over HTTP, in a bare-user and an archive repository, and
//! of a pull through a static delta into bare-user (archive repositories
//! take no deltas); each object removal of a prune.
//!
//! Each operation is run once with `trace` to count its points, then, from
//! the same starting repository, once per point with the process killed
//! there by SIGKILL. After each interrupted run the real `ostree fsck`
//! accepts the repository, the ref names the old commit or the new one
//! (never a commit missing objects), and a second run completes. Then the
//! same with the process killed at random times. Each command prints "N
//! crash points and M kills at random times, 0 invariant violations".

mod common;
// The fetch crate's test server, to serve repositories over HTTP.
#[allow(dead_code)]
#[path = "../../../fetch/tests/common/server.rs"]
mod server;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

/// `oxtree --repo=REPO ARGS`.
fn oxtree(repo: &str, args: &[&str]) -> Command {
    let mut c = Command::new(oxtree_bin());
    c.arg(format!("--repo={repo}")).args(args);
    c
}

fn oxtree_with(repo: &str, args: &[&str], fault: &str) -> Output {
    oxtree(repo, args).env("OXTREE_TEST_FAULT", fault).output().unwrap()
}

fn restore(repo: &str, base: &Path) {
    sh(&format!("rm -rf {repo} && cp -a {} {repo}", base.display()));
}

fn points(repo: &str, args: &[&str]) -> usize {
    let o = oxtree_with(repo, args, "trace");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.starts_with("fault point ")).count()
}

fn fsck_clean(repo: &str, ctx: &str) {
    let o = ostree_out(&[&format!("--repo={repo}"), "fsck"]);
    assert!(
        o.status.success(),
        "{ctx}: ostree fsck: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn rev(repo: &str, r: &str) -> Option<String> {
    let o = ox_out(&[&format!("--repo={repo}"), "rev-parse", r]);
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Kills `args` at each of its points in a copy of `base` and checks the
/// invariants with `check(repo, ctx)`; then a clean run must complete.
fn at_every_point(name: &str, base: &Path, work: &str, args: &[&str], check: impl Fn(&str, &str)) -> usize {
    restore(work, base);
    let n = points(work, args);
    assert!(n > 0, "{name}: no fault points");
    // At each point a kill, then a power cut (which also empties what no
    // sync made durable).
    let log = format!("{work}.durable");
    let mut emptied = 0;
    for i in 1..=n {
        for how in ["kill", "cut"] {
            restore(work, base);
            // Every file of the test counts as durable before the run (a
            // pull-local hard-links the source's objects).
            let scope = Path::new(work).parent().unwrap();
            let run = run_faulted(oxtree(work, args), &format!("{how}:{i}"), Path::new(work), scope, Path::new(&log));
            let mut ctx = format!("{name}, {how} at point {i} of {n} ({})", run.output.status);
            if how == "cut" {
                emptied += run.emptied.len();
                ctx += &format!(", emptied {:?}", run.emptied);
            }
            check(work, &ctx);
            let again = run.next(oxtree(work, args)).output().unwrap();
            assert!(again.status.success(), "{ctx}: the second run: {}", String::from_utf8_lossy(&again.stderr));
            fsck_clean(work, &format!("{ctx}, after the second run"));
        }
    }
    kill_at_random_times(
        RANDOM_KILLS,
        || restore(work, base),
        || oxtree(work, args),
        |when| {
            let ctx = format!("{name}, {when}");
            check(work, &ctx);
            let again = oxtree(work, args).output().unwrap();
            assert!(again.status.success(), "{ctx}: the second run: {}", String::from_utf8_lossy(&again.stderr));
            fsck_clean(work, &format!("{ctx}, after the second run"));
        },
    );
    eprintln!(
        "{name}: {n} crash points (each a kill and a power cut that emptied {emptied} unsynced files in all) \
         and {RANDOM_KILLS} kills at random times, 0 invariant violations"
    );
    n
}

/// Kills at random times per operation, after the kills at each point.
const RANDOM_KILLS: usize = 10;

#[test]
fn commit_pull_and_prune_survive_a_kill_at_every_point() {
    require_ostree();
    let w = TempDir::new("store-crash");
    let (t1, t2) = (w.join("t1"), w.join("t2"));
    make_rich_tree(&t1, false);
    make_rich_tree(&t2, false);
    std::fs::write(t2.join("added.txt"), "second commit\n").unwrap();
    std::fs::write(t2.join("usr-changed.txt"), "another file\n").unwrap();
    for mode in ["bare-user", "archive"] {
        let base = w.join(&format!("base-{mode}"));
        let b = base.to_string_lossy().into_owned();
        ox(&[&format!("--repo={b}"), "init", &format!("--mode={mode}")]);
        let c1 = ox(&[&format!("--repo={b}"), "commit", "-b", "main", &t1.to_string_lossy()]).trim().to_string();
        let work = w.join(&format!("work-{mode}")).to_string_lossy().into_owned();
        // A second commit on the branch (its checksum fixed by the
        // timestamp): the ref moves from c1 to c2, or stays.
        let t2s = t2.to_string_lossy().into_owned();
        let args = ["commit", "-b", "main", "--timestamp=2022-01-01T00:00:00Z", t2s.as_str()];
        restore(&work, &base);
        let c2 = ox(&[&[format!("--repo={work}").as_str()][..], &args[..]].concat()).trim().to_string();
        let args_c2: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        at_every_point(&format!("commit ({mode})"), &base, &work, &args, |repo, ctx| {
            fsck_clean(repo, ctx);
            let r = rev(repo, "main").unwrap_or_else(|| panic!("{ctx}: main is gone"));
            assert!(r == c1 || r == c2, "{ctx}: main names {r}, neither the old commit nor the new one");
        });
        // A pull into an empty repository: the ref is absent or complete.
        let empty = w.join(&format!("empty-{mode}"));
        ox(&[&format!("--repo={}", empty.display()), "init", &format!("--mode={mode}")]);
        let args = ["pull-local", b.as_str(), "main"];
        at_every_point(&format!("pull-local ({mode})"), &empty, &work, &args, |repo, ctx| {
            fsck_clean(repo, ctx);
            if let Some(r) = rev(repo, "main") {
                assert_eq!(r, c1, "{ctx}: main names another commit");
            }
        });
        // The same over HTTP, from our server on 127.0.0.1 (a thread of
        // this test, so that it lives on when the pull is killed).
        let srv = server::Server::start(server::serve_dir(w.join("served")));
        let remote = w.join(&format!("remote-{mode}"));
        sh(&format!("cp -a {} {}", empty.display(), remote.display()));
        ox(&[&format!("--repo={}", remote.display()), "remote", "add", "--no-gpg-verify", "origin", &srv.url]);
        publish(&w, &base, None);
        let args = ["pull", "origin", "main"];
        at_every_point(&format!("pull over HTTP ({mode})"), &remote, &work, &args, |repo, ctx| {
            fsck_clean(repo, ctx);
            if let Some(r) = rev(repo, "origin:main") {
                assert_eq!(r, c1, "{ctx}: origin:main names another commit");
            }
        });
        // A static delta from c1 to c2, pulled into a repository that has
        // c1: the delta's parts are applied object by object.
        if mode != "archive" {
            let with_c1 = w.join(&format!("with-c1-{mode}"));
            sh(&format!("cp -a {} {}", remote.display(), with_c1.display()));
            ox(&[&format!("--repo={}", with_c1.display()), "pull", "origin", "main"]);
            let c2 = publish(&w, &base, Some(&args_c2));
            let args = ["pull", "--require-static-deltas", "origin", "main"];
            let n = at_every_point(&format!("delta pull ({mode})"), &with_c1, &work, &args, |repo, ctx| {
                fsck_clean(repo, ctx);
                let r = rev(repo, "origin:main").unwrap_or_else(|| panic!("{ctx}: origin:main is gone"));
                assert!(r == c1 || r == c2, "{ctx}: origin:main names {r}, neither the old commit nor the new one");
            });
            assert!(n > 2, "delta pull ({mode}): only {n} points");
        }
        drop(srv);
        // Prune after the branch moved to a commit with no parent: the old
        // commit and what only it reaches go.
        let pruned = w.join(&format!("pruned-{mode}"));
        sh(&format!("cp -a {b} {}", pruned.display()));
        let p = pruned.to_string_lossy().into_owned();
        ox(&[&format!("--repo={p}"), "commit", "-b", "other", &t2s]);
        ox(&[&format!("--repo={p}"), "refs", "--delete", "main"]);
        let args = ["prune", "--refs-only"];
        at_every_point(&format!("prune ({mode})"), &pruned, &work, &args, |repo, ctx| {
            fsck_clean(repo, ctx);
            assert!(rev(repo, "other").is_some(), "{ctx}: the kept branch is gone");
        });
    }
}

/// Makes `w/served` the archive repository to pull from: a copy of `base`
/// (main = c1), or with `commit` (the arguments that made c2) run on it
/// too and a static delta from c1 to c2; then its summary. Returns its
/// `main`.
fn publish(w: &TempDir, base: &Path, commit: Option<&[String]>) -> String {
    let served = w.join("served");
    let s = format!("--repo={}", served.display());
    if served.exists() {
        sh(&format!("rm -rf '{}'", served.display()));
    }
    ox(&[&s, "init", "--mode=archive"]);
    ox(&[&s, "pull-local", &base.to_string_lossy(), "main"]);
    if let Some(args) = commit {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ox(&[&[s.as_str()][..], &args[..]].concat());
        ox(&[&s, "static-delta", "generate", "--to=main"]);
    }
    ox(&[&s, "summary", "-u"]);
    ox(&[&s, "rev-parse", "main"]).trim().to_string()
}
