//! Helpers for tests that run the real `ostree` (the oracle) next to the
//! library on copies of the same repository.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// True when the real `ostree` is installed; tests that need it return early
/// (with a note on stderr) otherwise.
pub fn have_ostree() -> bool {
    let ok = Command::new("ostree").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        eprintln!("skipping: the real `ostree` is not installed");
    }
    ok
}

/// True when running as root (bare repos need it).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden")
}

/// A fresh scratch directory.
pub fn tempdir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "oxtree-oracle-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real `ostree` with `args`.
pub fn ostree(args: &[&str]) -> Out {
    let o = Command::new("ostree").args(args).output().expect("run ostree");
    Out {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn ostree_ok(args: &[&str]) -> String {
    let o = ostree(args);
    assert!(o.ok, "ostree {args:?} failed: {}", o.stderr);
    o.stdout
}

pub fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

pub fn cp_a(from: &Path, to: &Path) {
    let st = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(st.success());
}

/// Makes the tiny golden tree at `dir`.
/// Two copies of `pristine`, `CASE-real` for the real tool and `CASE-ours`
/// for us, each prepared by `setup`.
pub fn twins(work: &Path, case: &str, pristine: &Path, setup: &dyn Fn(&Path)) -> (PathBuf, PathBuf) {
    let a = work.join(format!("{case}-real"));
    let b = work.join(format!("{case}-ours"));
    for r in [&a, &b] {
        cp_a(pristine, r);
        setup(r);
    }
    (a, b)
}

pub fn mktree(dir: &Path) {
    let st = Command::new("sh").arg(golden_dir().join("mktree.sh")).arg(dir).status().unwrap();
    assert!(st.success());
}

/// A repo made by the real `ostree` in `mode` with two commits on `main`
/// (the tiny tree, then the tiny tree plus `newf`), and a third on `other`.
pub fn real_repo(work: &Path, mode: &str) -> PathBuf {
    let tree = work.join(format!("tree-{mode}"));
    mktree(&tree);
    let repo = work.join(format!("repo-{mode}"));
    let r = format!("--repo={}", repo.display());
    ostree_ok(&[&r, "init", &format!("--mode={mode}")]);
    let t = tree.to_str().unwrap();
    ostree_ok(&[&r, "commit", "-b", "main", "-s", "one", "--timestamp=2020-01-01T00:00:00Z", t]);
    std::fs::write(tree.join("newf"), "x\n").unwrap();
    ostree_ok(&[&r, "commit", "-b", "main", "-s", "two", "--timestamp=2020-01-02T00:00:00Z", t]);
    std::fs::create_dir_all(tree.join("deep/er")).unwrap();
    std::fs::write(tree.join("deep/er/f"), "deep\n").unwrap();
    ostree_ok(&[&r, "commit", "-b", "other", "-s", "three", "--timestamp=2021-01-01T00:00:00Z", t]);
    repo
}

pub fn rev_parse(repo: &Path, rev: &str) -> String {
    ostree_ok(&[&format!("--repo={}", repo.display()), "rev-parse", rev]).trim().to_string()
}

/// `objects/XX/REST.EXT` for an object.
pub fn obj(repo: &Path, csum: &str, ext: &str) -> PathBuf {
    repo.join("objects").join(&csum[..2]).join(format!("{}.{ext}", &csum[2..]))
}

/// Every file under `dir` (relative paths) with its content, sorted.
pub fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                let data = if md.file_type().is_symlink() {
                    std::fs::read_link(&p).unwrap().into_os_string().into_encoded_bytes()
                } else {
                    std::fs::read(&p).unwrap_or_default()
                };
                out.push((rel, data));
            }
        }
    }
    out.sort();
    out
}

/// The object names under `objects/`, sorted.
pub fn object_names(repo: &Path) -> Vec<String> {
    listing(&repo.join("objects")).into_iter().map(|(n, _)| n).collect()
}

pub fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}
