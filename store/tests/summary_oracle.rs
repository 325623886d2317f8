//! Summary generation and display next to the real `ostree summary`:
//! the same refs and metadata as `ostree summary -u` writes (apart from
//! the generation time), the same delta indexes, and `--view` / `--raw`
//! text identical to what the real tool prints for the same bytes.

mod oracle_common;

use std::path::Path;

use oracle_common::*;
use oxtree_store::gvariant::{parse_text, Value};
use oxtree_store::summary::{raw_text, update_summary, Summary};
use oxtree_store::Repo;

fn view_real(repo: &Path) -> String {
    ostree_ok(&[&format!("--repo={}", repo.display()), "summary", "--view"])
}

fn raw_real(repo: &Path) -> String {
    ostree_ok(&[&format!("--repo={}", repo.display()), "summary", "--raw"])
}

/// Our `--view` / `--raw` text of the summary in `repo` must equal the real
/// tool's for the same file.
fn same_rendering(repo: &Path) {
    let bytes = std::fs::read(repo.join("summary")).unwrap();
    let s = Summary::from_bytes(&bytes).unwrap();
    assert_eq!(s.view_text(), view_real(repo), "view of {}", repo.display());
    assert_eq!(raw_text(&bytes).unwrap() + "\n", raw_real(repo), "raw of {}", repo.display());
}

fn without_time(mut s: Summary) -> Summary {
    s.metadata.retain(|(k, _)| k != "ostree.summary.last-modified");
    s.metadata.sort_by(|a, b| a.0.cmp(&b.0));
    // Dictionary order is hash order in OSTree.
    for (k, v) in &mut s.metadata {
        if k == "ostree.static-deltas" {
            if let Value::Array(_, items) = v {
                items.sort_by_key(|e| format!("{e:?}"));
            }
        }
    }
    s
}

fn compare(work: &Path, case: &str, pristine: &Path, setup: &dyn Fn(&Path), extra: &[(&str, &str)]) {
    let (a, b) = twins(work, case, pristine, setup);
    std::fs::write(a.join("summary.sig"), b"stale").unwrap();
    std::fs::write(b.join("summary.sig"), b"stale").unwrap();
    let r = format!("--repo={}", a.display());
    let mut args = vec![r.clone(), "summary".into(), "-u".into()];
    let mut ours_extra = Vec::new();
    for (k, v) in extra {
        args.push(format!("--add-metadata={k}={v}"));
        ours_extra.push((k.to_string(), parse_text(v, None).unwrap()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ostree_ok(&args);
    let repo = Repo::open(&b).unwrap();
    let written = update_summary(&repo, &ours_extra).unwrap();
    let ours_bytes = std::fs::read(b.join("summary")).unwrap();
    assert_eq!(Summary::from_bytes(&ours_bytes).unwrap(), written);
    let real = Summary::from_bytes(&std::fs::read(a.join("summary")).unwrap()).unwrap();
    assert_eq!(without_time(written), without_time(real), "case {case}");
    assert!(!b.join("summary.sig").exists() && !a.join("summary.sig").exists());
    assert_eq!(listing(&b.join("delta-indexes")), listing(&a.join("delta-indexes")), "case {case}");
    assert_eq!(
        std::fs::read_to_string(b.join("config")).unwrap(),
        std::fs::read_to_string(a.join("config")).unwrap(),
        "case {case}"
    );
    // Each tool renders the other's file like the real tool does.
    same_rendering(&a);
    same_rendering(&b);
}

#[test]
fn summary_matches_ostree() {
    if !have_ostree() {
        return;
    }
    let work = tempdir("summary");
    let pristine = real_repo(&work, "archive");
    let r = format!("--repo={}", pristine.display());
    // A version key on one ref, a ref with a slash, and a remote ref (left out).
    let tree = work.join("tree-archive");
    ostree_ok(&[
        &r,
        "commit",
        "-b",
        "os/x86_64",
        "--add-metadata-string=version=1.2.3",
        "-s",
        "v",
        tree.to_str().unwrap(),
    ]);
    let main = rev_parse(&pristine, "main");
    std::fs::create_dir_all(pristine.join("refs/remotes/origin")).unwrap();
    std::fs::write(pristine.join("refs/remotes/origin/main"), format!("{main}\n")).unwrap();

    compare(&work, "plain", &pristine, &|_| {}, &[]);
    let tomb = |p: &Path| {
        let c = std::fs::read_to_string(p.join("config")).unwrap();
        std::fs::write(p.join("config"), c.replace("[core]\n", "[core]\ntombstone-commits=true\n")).unwrap();
    };
    compare(&work, "tombstones", &pristine, &tomb, &[("foo", "'bar'"), ("num", "uint32 7"), ("v", "<'x'>")]);
    // Deltas are made once (their superblocks hold a timestamp), then copied.
    let with_deltas = work.join("with-deltas");
    cp_a(&pristine, &with_deltas);
    let wr = format!("--repo={}", with_deltas.display());
    ostree_ok(&[&wr, "static-delta", "generate", "main"]);
    ostree_ok(&[&wr, "static-delta", "generate", "--empty", "main"]);
    ostree_ok(&[&wr, "static-delta", "generate", "--empty", "other"]);
    compare(&work, "deltas", &with_deltas, &|_| {}, &[]);
    // A stale index (its deltas deleted) goes away.
    let stale = |p: &Path| {
        ostree_ok(&[&format!("--repo={}", p.display()), "summary", "-u"]);
        std::fs::remove_dir_all(p.join("deltas")).unwrap();
    };
    compare(&work, "stale-index", &with_deltas, &stale, &[]);
    let nodeltas = |p: &Path| {
        let c = std::fs::read_to_string(p.join("config")).unwrap();
        std::fs::write(p.join("config"), c.replace("[core]\n", "[core]\nno-deltas-in-summary=true\n")).unwrap();
    };
    compare(&work, "no-deltas-in-summary", &with_deltas, &nodeltas, &[]);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn summary_with_collection_ids() {
    if !have_ostree() {
        return;
    }
    let work = tempdir("summary-cid");
    let tree = work.join("tree");
    mktree(&tree);
    let repo = work.join("repo");
    let r = format!("--repo={}", repo.display());
    ostree_ok(&[&r, "init", "--mode=archive", "--collection-id=org.example.A"]);
    ostree_ok(&[&r, "commit", "-b", "main", "--add-metadata-string=version=1.2", tree.to_str().unwrap()]);
    let main = rev_parse(&repo, "main");
    std::fs::create_dir_all(repo.join("refs/mirrors/org.example.B")).unwrap();
    std::fs::write(repo.join("refs/mirrors/org.example.B/other"), format!("{main}\n")).unwrap();
    let ours = update_summary(&Repo::open(&repo).unwrap(), &[]).unwrap();
    assert_eq!(ours.collection_id(), Some("org.example.A"));
    assert_eq!(ours.refs.len(), 1);
    let map = ours.collection_map().unwrap();
    assert_eq!(map.len(), 1);
    assert_eq!((map[0].collection.as_deref(), map[0].name.as_str()), (Some("org.example.B"), "other"));
    same_rendering(&repo);
    // The real tool's summary (it also adds an `ostree-metadata` ref) renders the same.
    ostree_ok(&[&r, "summary", "-u"]);
    same_rendering(&repo);
    let real = Summary::from_bytes(&std::fs::read(repo.join("summary")).unwrap()).unwrap();
    assert_eq!(real.collection_map().unwrap(), map);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn view_of_the_golden_summary() {
    if !have_ostree() {
        return;
    }
    let text = std::fs::read_to_string(golden_dir().join("extras.json")).unwrap();
    let g: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hex = g["summary_hex"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let work = tempdir("summary-golden");
    let repo = work.join("repo");
    ostree_ok(&[&format!("--repo={}", repo.display()), "init", "--mode=archive"]);
    std::fs::write(repo.join("summary"), &bytes).unwrap();
    same_rendering(&repo);
    let s = Summary::from_bytes(&bytes).unwrap();
    assert_eq!(s.to_bytes(), bytes);
    assert!(matches!(s.get("ostree.summary.tombstone-commits"), Some(Value::Bool(_))));
    let _ = std::fs::remove_dir_all(&work);
}
