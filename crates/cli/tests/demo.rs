//! `oxtree demo`, the README's first command, does what it says, and the
//! real ostree agrees with the repository and the sysroot it leaves.

mod common;

use common::*;

#[test]
fn demo_runs_end_to_end() {
    let w = TempDir::new("demo");
    let dir = w.join("d");
    let out = ox(&["demo", "--files=300", &dir.to_string_lossy()]);
    for step in [
        "1. generated 300 files",
        "3. committed",
        "5. the checkout matches the commit",
        "no errors",
        "8. made a sysroot",
        "9. upgraded to version 2",
        "Copying /etc changes: 0 modified, 0 removed, 1 added",
        "10. rolled back",
    ] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
    // The real ostree reads the sysroot the demo left: version 1 first
    // (rolled back to), then version 2.
    let sysroot = format!("--sysroot={}", dir.join("sysroot").display());
    let status = ostree(&["admin", "status", &sysroot]);
    let versions: Vec<&str> = status.lines().filter_map(|l| l.trim().strip_prefix("Version: ")).collect();
    assert_eq!(versions, ["1", "2"], "{status}");
    assert_eq!(status, ox(&["admin", "status", &sysroot]));
    let repo = format!("--repo={}", dir.join("repo").display());
    assert!(ostree(&[&repo, "fsck"]).contains("no errors found"));
    assert!(ostree(&[&repo, "ls", "demo/main", "/etc/os-release"]).contains("/etc/os-release"));
    // An existing, non-empty directory is refused.
    let again = ox_out(&["demo", &dir.to_string_lossy()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
