//! `oxtree demo`, the README's first command, does what it says, and the
//! real ostree agrees with the repository it leaves.

mod common;

use common::*;

#[test]
fn demo_runs_end_to_end() {
    let w = TempDir::new("demo");
    let dir = w.join("d");
    let out = ox(&["demo", "--files=300", &dir.to_string_lossy()]);
    for step in ["1. generated 300 files", "3. committed", "5. the checkout matches the commit", "no errors"] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
    let repo = format!("--repo={}", dir.join("repo").display());
    assert!(ostree(&[&repo, "fsck"]).contains("no errors found"));
    assert!(ostree(&[&repo, "ls", "demo/main", "/etc/os-release"]).contains("/etc/os-release"));
    // An existing, non-empty directory is refused.
    let again = ox_out(&["demo", &dir.to_string_lossy()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
