//! prune next to the real `ostree prune` on copies of the same
//! repositories: the same output lines, the same objects, deltas, markers
//! and config afterwards. Also the tombstone golden (spec §20.1).

mod oracle_common;

use std::path::Path;

use oracle_common::*;
use oxtree_store::prune::{prune, PruneOptions};
use oxtree_store::{Checksum, Repo};

fn opts_from(args: &[&str]) -> PruneOptions {
    let mut o = PruneOptions::default();
    for a in args {
        let (k, v) = a.split_once('=').unwrap_or((a, ""));
        match k {
            "--refs-only" => o.refs_only = true,
            "--no-prune" => o.no_prune = true,
            "--commit-only" => o.commit_only = true,
            "--static-deltas-only" => o.static_deltas_only = true,
            "--depth" => o.depth = v.parse().unwrap(),
            "--delete-commit" => o.delete_commit = Some(Checksum::from_hex(v).unwrap()),
            "--only-branch" => o.only_branch.push(v.to_string()),
            "--retain-branch-depth" => {
                let (b, d) = v.split_once('=').unwrap();
                o.retain_branch_depth.push((b.to_string(), d.parse().unwrap()));
            }
            // Only the numeric forms are used here; date parsing is the CLI's.
            "--keep-younger-than" => o.keep_younger_than = Some(v.trim_start_matches('@').parse().unwrap()),
            other => panic!("unknown prune option {other}"),
        }
    }
    o
}

/// `--keep-younger-than=@N` for us is `--keep-younger-than="@N"` for ostree too.
fn compare(work: &Path, case: &str, pristine: &Path, setup: &dyn Fn(&Path), args: &[&str]) {
    let (a, b) = twins(work, case, pristine, setup);
    let r = format!("--repo={}", a.display());
    let mut real_args = vec![r.as_str(), "prune"];
    real_args.extend_from_slice(args);
    let x = ostree(&real_args);
    let repo = Repo::open(&b).unwrap();
    let y = prune(&repo, &opts_from(args));
    let ctx = format!("case {case} args {args:?}");
    match y {
        Ok(rep) => {
            assert!(x.ok, "ostree failed ({}) but we did not, {ctx}", x.stderr);
            let lines: Vec<String> = x.stdout.lines().map(str::to_string).collect();
            assert_eq!(rep.lines(), lines, "{ctx}");
        }
        Err(e) => {
            assert!(!x.ok, "we failed ({e}) but ostree did not, {ctx}");
            assert_eq!(format!("error: {e}\n"), x.stderr, "{ctx}");
        }
    }
    assert_eq!(object_names(&b), object_names(&a), "objects, {ctx}");
    assert_eq!(listing(&b.join("state")), listing(&a.join("state")), "state, {ctx}");
    assert_eq!(listing(&b.join("deltas")), listing(&a.join("deltas")), "deltas, {ctx}");
    assert_eq!(
        std::fs::read_to_string(b.join("config")).unwrap(),
        std::fs::read_to_string(a.join("config")).unwrap(),
        "config, {ctx}"
    );
}

fn check_mode(mode: &str) {
    let work = tempdir(&format!("prune-{mode}"));
    let pristine = real_repo(&work, mode);
    let r = format!("--repo={}", pristine.display());
    let parent = rev_parse(&pristine, "main^");
    let main = rev_parse(&pristine, "main");
    let other = rev_parse(&pristine, "other");
    let nothing = |_: &Path| {};
    let unref_other = |p: &Path| std::fs::remove_file(p.join("refs/heads/other")).unwrap();

    compare(&work, "plain", &pristine, &nothing, &[]);
    compare(&work, "depth0", &pristine, &nothing, &["--depth=0"]);
    compare(&work, "refs-depth0", &pristine, &nothing, &["--refs-only", "--depth=0"]);
    compare(&work, "refs-depth0-dry", &pristine, &nothing, &["--refs-only", "--depth=0", "--no-prune"]);
    compare(&work, "refs-unref", &pristine, &unref_other, &["--refs-only"]);
    compare(&work, "refs-unref-depth1", &pristine, &unref_other, &["--refs-only", "--depth=1"]);
    compare(&work, "commit-only", &pristine, &nothing, &["--commit-only", "--refs-only", "--depth=0"]);
    compare(
        &work,
        "commit-only-dry",
        &pristine,
        &nothing,
        &["--commit-only", "--refs-only", "--depth=0", "--no-prune"],
    );
    let tomb = |p: &Path| {
        let c = std::fs::read_to_string(p.join("config")).unwrap();
        std::fs::write(p.join("config"), c.replace("[core]\n", "[core]\ntombstone-commits=true\n")).unwrap();
    };
    compare(&work, "tombstones", &pristine, &tomb, &["--refs-only", "--depth=0"]);
    // Detached metadata and a partial marker go with their commit.
    let pc = parent.clone();
    let extras = move |p: &Path| {
        std::fs::write(obj(p, &pc, "commitmeta"), b"").unwrap();
        std::fs::write(p.join(format!("state/{pc}.commitpartial")), b"").unwrap();
    };
    compare(&work, "commitmeta", &pristine, &extras, &["--refs-only", "--depth=0"]);
    let dc = format!("--delete-commit={parent}");
    compare(&work, "delete-commit", &pristine, &nothing, &[&dc]);
    compare(&work, "delete-commit-commit-only", &pristine, &nothing, &[&dc, "--commit-only"]);
    compare(&work, "delete-commit-refs", &pristine, &nothing, &[&dc, "--refs-only"]);
    let dm = format!("--delete-commit={main}");
    compare(&work, "delete-referenced", &pristine, &nothing, &[&dm]);
    compare(&work, "static-deltas-only-alone", &pristine, &nothing, &["--static-deltas-only"]);
    // 2020-01-01 < 2020-01-02 (main) < 2021-01-01 (other).
    compare(&work, "younger", &pristine, &nothing, &["--keep-younger-than=@1577923200"]);
    compare(&work, "younger-late", &pristine, &nothing, &["--keep-younger-than=@1700000000"]);
    compare(&work, "only-branch", &pristine, &nothing, &["--only-branch=main", "--depth=0"]);
    compare(&work, "only-branch-other", &pristine, &nothing, &["--only-branch=other", "--depth=0"]);
    compare(&work, "only-branch-missing", &pristine, &nothing, &["--only-branch=BACON"]);
    compare(&work, "retain", &pristine, &nothing, &["--retain-branch-depth=main=0", "--depth=0"]);
    compare(
        &work,
        "retain-younger",
        &pristine,
        &nothing,
        &["--retain-branch-depth=other=-1", "--keep-younger-than=@1700000000"],
    );

    // Static deltas (archive repos serve them).
    if mode == "archive" {
        let with_deltas = work.join("with-deltas");
        cp_a(&pristine, &with_deltas);
        let wr = format!("--repo={}", with_deltas.display());
        ostree_ok(&[&wr, "static-delta", "generate", "main"]);
        ostree_ok(&[&wr, "static-delta", "generate", "--empty", "main"]);
        ostree_ok(&[&wr, "static-delta", "generate", "--empty", "other"]);
        let unref_main = |p: &Path| std::fs::remove_file(p.join("refs/heads/main")).unwrap();
        compare(&work, "deltas", &with_deltas, &unref_main, &["--refs-only"]);
        compare(&work, "deltas-dry", &with_deltas, &unref_main, &["--refs-only", "--no-prune"]);
        let dm2 = format!("--delete-commit={main}");
        compare(&work, "deltas-only", &with_deltas, &unref_main, &["--static-deltas-only", &dm2]);
        let _ = other;
    }
    let _ = r;
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn prune_matches_ostree_archive() {
    if have_ostree() {
        check_mode("archive");
    }
}

#[test]
fn prune_matches_ostree_bare_user() {
    if have_ostree() {
        check_mode("bare-user");
    }
}

#[test]
fn prune_matches_ostree_bare() {
    if have_ostree() && is_root() {
        check_mode("bare");
    }
}

/// Spec §20.1 / `tests/golden/tombstone-archive.json`: the golden archive
/// repo after `prune --refs-only --depth=0` with tombstones on.
#[test]
fn tombstone_golden() {
    let text = std::fs::read_to_string(golden_dir().join("tombstone-archive.json")).unwrap();
    let g: serde_json::Value = serde_json::from_str(&text).unwrap();
    let work = tempdir("prune-golden");
    let repo_dir = work.join("repo");
    // Rebuild the repo before the prune: every object of the golden, plus
    // the parent commit e508… from the first golden commit.
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(golden_dir().join("tiny-archive.json")).unwrap()).unwrap();
    Repo::init(&repo_dir, oxtree_store::RepoMode::Archive).unwrap();
    let unhex =
        |s: &str| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect::<Vec<u8>>();
    for set in [&g, &first] {
        for o in set["objects"].as_array().unwrap() {
            if o["ext"] == "tombstone-commit" {
                continue;
            }
            let p = repo_dir.join(o["path"].as_str().unwrap());
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, unhex(o["hex"].as_str().unwrap())).unwrap();
        }
    }
    std::fs::write(repo_dir.join("refs/heads/main"), g["refs"]["refs/heads/main"].as_str().unwrap()).unwrap();
    let c = std::fs::read_to_string(repo_dir.join("config")).unwrap();
    std::fs::write(repo_dir.join("config"), format!("{c}tombstone-commits=true\n")).unwrap();
    let repo = Repo::open(&repo_dir).unwrap();
    let rep = prune(&repo, &PruneOptions { refs_only: true, depth: 0, ..Default::default() }).unwrap();
    assert_eq!(rep.deleted, 1);
    assert_eq!(rep.freed, 86);
    for o in g["objects"].as_array().unwrap() {
        let p = repo_dir.join(o["path"].as_str().unwrap());
        let want = unhex(o["hex"].as_str().unwrap());
        assert_eq!(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())), want, "{}", p.display());
    }
    assert_eq!(object_names(&repo_dir).len(), g["objects"].as_array().unwrap().len());
    let _ = std::fs::remove_dir_all(&work);
}
