//! Crash safety: `oxtree commit` killed with SIGKILL at many points leaves
//! a repo that the real `ostree fsck` accepts, with the ref either absent or
//! pointing at a complete commit; the next commit then succeeds.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn sigkill_during_commit() {
    require_ostree();
    let w = TempDir::new("crash");
    let tree = w.join("tree");
    // Enough work that kills land in every phase: thousands of small files,
    // some large ones.
    for d in 0..40 {
        for f in 0..60 {
            let p = tree.join(format!("d{d}/f{f}"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, format!("file {d}/{f}\n").repeat(f + 1)).unwrap();
        }
    }
    for i in 0..3 {
        std::fs::write(tree.join(format!("big{i}")), vec![i as u8; 12 * 1024 * 1024]).unwrap();
    }
    let tree_s = tree.to_string_lossy().into_owned();
    for mode in ["bare-user", "archive"] {
        let repo = w.join(&format!("repo-{mode}")).to_string_lossy().into_owned();
        let r = format!("--repo={repo}");
        ox(&[&r, "init", &format!("--mode={mode}")]);
        // Time one undisturbed commit, then kill at fractions of that time,
        // so that kills land in every phase (walk, hashing, staging, the
        // renames, the ref update) on fast and slow machines alike.
        let scratch = w.join(&format!("scratch-{mode}")).to_string_lossy().into_owned();
        ox(&[&format!("--repo={scratch}"), "init", &format!("--mode={mode}")]);
        let t0 = std::time::Instant::now();
        ox(&[&format!("--repo={scratch}"), "commit", "-b", "main", &tree_s]);
        let full = t0.elapsed().as_millis() as u64;
        let delays: Vec<u64> = (0..=12).map(|k| full * k / 10).collect();
        let mut survived = 0;
        for (i, delay_ms) in delays.iter().enumerate() {
            // Alternate the content so that later commits write new objects.
            std::fs::write(tree.join("changing"), format!("round {i}\n")).unwrap();
            let before = ox_out(&[&r, "rev-parse", "main"]);
            let mut child = Command::new(oxtree_bin())
                .args([&r, "commit", "-b", "main", "-s", &format!("round {i}"), &tree_s])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(*delay_ms));
            let _ = child.kill();
            let status = child.wait().unwrap();
            if status.success() {
                survived += 1;
            }
            let fsck = ostree_out(&[&r, "fsck"]);
            assert!(
                fsck.status.success(),
                "{mode}, killed after {delay_ms} ms: ostree fsck failed:\n{}{}",
                String::from_utf8_lossy(&fsck.stdout),
                String::from_utf8_lossy(&fsck.stderr)
            );
            let after = ox_out(&[&r, "rev-parse", "main"]);
            if after.status.success() {
                // The ref names a complete commit: its whole tree is there.
                let c = String::from_utf8_lossy(&after.stdout).trim().to_string();
                ostree(&[&r, "ls", "-R", &c]);
                let _ = before;
            } else {
                assert!(!before.status.success(), "{mode}: a ref that existed vanished");
            }
        }
        // After all that, a normal commit works and the repo is clean.
        let c = ox(&[&r, "commit", "-b", "main", "-s", "final", &tree_s]);
        assert_eq!(ox(&[&r, "rev-parse", "main"]), c);
        assert!(ostree(&[&r, "fsck"]).contains("no errors found"));
        eprintln!("{mode}: a commit takes {full} ms; {survived} of {} finished before the kill", delays.len());
    }
}
