//! Staged deployments (`admin deploy --stage`, `admin finalize-staged`) on
//! an emulated booted system (see `common/booted.rs`), against the real
//! ostree running in the same booted tree:
//!
//! - staging leaves the boot entries alone, lists the deployment first as
//!   `(staged)` (and the real `ostree admin status` reads our record the
//!   same way); finalizing merges `/etc` as it is *at shutdown* and boots
//!   the staged deployment next; the record is gone afterwards;
//! - what the real ostree stages, oxtree finalizes, and the reverse;
//! - a plain deploy or `undeploy 0` drops a staged deployment (its
//!   directory too), pinning it is refused, a second stage replaces the
//!   first, `--lock-finalization` keeps it unbooted; not booted, `--stage`
//!   is refused and `finalize-staged` does nothing.

mod common;

use std::path::Path;

use common::booted::Booted;
use common::*;

fn have_ostree() -> bool {
    std::process::Command::new("ostree").arg("--version").output().is_ok()
}

/// A second commit, `os/next`, with a new file, pulled into the sysroot.
fn next_commit(b: &Booted) -> String {
    let tree = b.w.join("tree");
    std::fs::write(tree.join("usr/bin/next-tool"), "next\n").unwrap();
    std::fs::write(tree.join("usr/etc/next.conf"), "default\n").unwrap();
    let c = ox(&["commit", "--repo", &b.repo, "-b", "os/next", "--tree", &format!("dir={}", tree.display())]);
    ox(&["pull-local", &format!("--repo={}/ostree/repo", b.sysroot), &b.repo, "os/next"]);
    c.trim().to_string()
}

fn entries(b: &Booted) -> Vec<String> {
    let dir = Path::new(&b.sysroot).join("boot/loader/entries");
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    v.sort();
    v
}

fn deployment_dirs(b: &Booted) -> Vec<String> {
    let dir = Path::new(&b.sysroot).join("ostree/deploy/testos/deploy");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".origin"))
        .collect();
    v.sort();
    v
}

#[test]
fn staged_then_finalized_with_etc_as_at_shutdown() {
    if !is_root() {
        eprintln!("skipped: mount namespaces need root");
        return;
    }
    let real = have_ostree();
    let b = Booted::with("staged", real);
    let next = next_commit(&b);
    let sysroot = format!("--sysroot={}", b.sysroot);
    // Not booted: refused, and finalizing is a no-op.
    let o = ox_out(&["admin", "deploy", "--stage", &sysroot, "--os=testos", "os/next"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("Cannot stage deployment: Not currently booted into an OSTree system"));
    let before = entries(&b);
    let out = b.boot(&format!(
        r#"echo early > $D/etc/early.conf
ox admin deploy --stage --os=testos os/next
echo --- status; ox admin status
echo --- json; ox admin status --json
{real_status}
ox admin pin 0 || echo pin-refused
echo late > $D/etc/late.conf
ls $D/run/ostree/staged-deployment && echo recorded
"#,
        real_status = if real {
            "echo --- real; env LD_LIBRARY_PATH=/usr/lib64 chroot $D /usr/bin/ostree admin status"
        } else {
            ""
        }
    ));
    assert!(out.contains("Staged deployment "), "{out}");
    let status = out.split("--- status\n").nth(1).unwrap().split("--- json").next().unwrap();
    assert!(status.contains(&format!("  testos {next}.0 (staged)\n")), "{out}");
    let first = status.lines().next().unwrap();
    assert!(first.contains("(staged)"), "staged is listed first: {status}");
    assert!(status.contains("* testos "), "{status}");
    assert!(out.contains("\"staged\":true"), "{out}");
    if real {
        let theirs = out.split("--- real\n").nth(1).unwrap();
        assert!(theirs.starts_with(first), "the real ostree reads our record: {theirs}\nours: {status}");
    }
    assert!(out.contains("Cannot pin staged deployment") && out.contains("pin-refused"), "{out}");
    assert!(out.contains("recorded"), "{out}");
    // Nothing boots it yet; the namespace's /run is gone ("reboot" without
    // finalizing): the staged deployment is simply forgotten.
    assert_eq!(entries(&b), before);
    let st = ox(&["admin", "status", &sysroot]);
    assert!(!st.contains(&next), "{st}");

    // Stage again, then finalize at "shutdown".
    let out = b.boot(
        r#"echo early > $D/etc/early.conf
ox admin deploy --stage --os=testos --karg-append=quiet os/next
echo late > $D/etc/late.conf
ox admin finalize-staged
ls $D/run/ostree/staged-deployment 2>/dev/null || echo record-removed
ox admin finalize-staged
echo --- status; ox admin status
"#,
    );
    assert!(out.contains("Finalized staged deployment "), "{out}");
    assert!(out.contains("record-removed"), "{out}");
    assert!(out.contains("No deployment staged for finalization"), "{out}");
    let status = out.split("--- status\n").nth(1).unwrap();
    assert!(status.contains(&format!("  testos {next}.0 (pending)\n")), "{out}");
    let dirs = deployment_dirs(&b);
    let new_dir = Path::new(&b.sysroot)
        .join("ostree/deploy/testos/deploy")
        .join(dirs.iter().find(|d| d.starts_with(&next)).unwrap());
    // /etc as it was at shutdown, with the new defaults.
    assert_eq!(std::fs::read_to_string(new_dir.join("etc/late.conf")).unwrap(), "late\n");
    assert_eq!(std::fs::read_to_string(new_dir.join("etc/early.conf")).unwrap(), "early\n");
    assert_eq!(std::fs::read_to_string(new_dir.join("etc/next.conf")).unwrap(), "default\n");
    // Boots next, with the merge deployment's arguments plus the new one.
    let e = entries(&b);
    assert_eq!(e.len(), 2, "{e:?}");
    let newest = e.iter().find(|t| t.contains("(ostree:0)")).unwrap();
    assert!(newest.contains("root=LABEL=ROOT ") && newest.contains(" quiet"), "{newest}");
    if real {
        let theirs = ostree(&["admin", "status", &sysroot]);
        assert_eq!(ox(&["admin", "status", &sysroot]), theirs);
    }
}

#[test]
fn staged_deployments_are_dropped_replaced_and_locked() {
    if !is_root() {
        eprintln!("skipped: mount namespaces need root");
        return;
    }
    let b = Booted::new("staged-drop");
    let next = next_commit(&b);
    let out = b.boot(
        r#"ox admin deploy --stage --os=testos os/next
ox admin deploy --stage --os=testos os/next
ls $S/ostree/deploy/testos/deploy | grep -v origin
echo --- undeploy; ox admin undeploy 0
ls $D/run/ostree/staged-deployment 2>/dev/null || echo record-removed
ls $S/ostree/deploy/testos/deploy | grep -v origin
echo --- plain; ox admin deploy --stage --os=testos os/next
ox admin deploy --os=testos os/next
ls $D/run/ostree/staged-deployment 2>/dev/null || echo record-removed-again
echo --- locked; ox admin deploy --stage --lock-finalization --os=testos os/good
ox admin finalize-staged
ox admin status
"#,
    );
    let part = |from: &str, to: &str| out.split(from).nth(1).unwrap().split(to).next().unwrap().to_string();
    // A second stage replaces the first: one staged directory, serial 1.
    let first = out.split("--- undeploy").next().unwrap();
    assert!(first.contains(&format!("{next}.1\n")) && !first.contains(&format!("{next}.0\n")), "{out}");
    let undeploy = part("--- undeploy", "--- plain");
    assert!(undeploy.contains(&format!("Deleted deployment {next}.1")), "{out}");
    let listing = undeploy.split("record-removed").nth(1).unwrap();
    assert!(!listing.contains(&next), "its directory is gone: {out}");
    let plain = part("--- plain", "--- locked");
    assert!(plain.contains("record-removed-again"), "{out}");
    let locked = out.split("--- locked").nth(1).unwrap();
    assert!(locked.contains("Not finalizing; found /run/ostree/staged-deployment-locked"), "{out}");
    assert!(locked.contains("(staged)"), "{out}");
    // The plain deploy is the only new deployment that boots.
    let st = ox(&["admin", "status", &format!("--sysroot={}", b.sysroot)]);
    assert_eq!(st.matches(&next).count(), 1, "{st}");
    // On disk: the booted one, the plain deploy and the locked staged one
    // (which the next boot's first clean-up removes: its record is gone).
    assert_eq!(deployment_dirs(&b).len(), 3, "{:?}", deployment_dirs(&b));
    ox(&["admin", "cleanup", &format!("--sysroot={}", b.sysroot)]);
    assert_eq!(deployment_dirs(&b).len(), 2, "{:?}", deployment_dirs(&b));
}

#[test]
fn what_the_real_ostree_stages_oxtree_finalizes() {
    if !is_root() || !have_ostree() {
        eprintln!("skipped: needs root and the real ostree");
        return;
    }
    // (The other way round cannot be shown here: the real ostree freezes
    // /boot when it finalizes, which the emulated boot does not allow.)
    let b = Booted::with("staged-interop", true);
    let next = next_commit(&b);
    let real = "env LD_LIBRARY_PATH=/usr/lib64 OSTREE_SYSROOT_DEBUG=mutable-deployments,test-staged-path chroot $D /usr/bin/ostree";
    let out = b.boot(&format!(
        r#"echo theirs > $D/etc/theirs.conf
{real} admin deploy --stage --os=testos --karg-append=quiet os/next
echo --- status; ox admin status
ox admin finalize-staged
"#
    ));
    let status = out.split("--- status\n").nth(1).unwrap();
    assert!(status.contains(&format!("  testos {next}.0 (staged)\n")), "{out}");
    assert!(out.contains(&format!("Finalized staged deployment {next}.0")), "{out}");
    let dir = Path::new(&b.sysroot).join(format!("ostree/deploy/testos/deploy/{next}.0"));
    assert_eq!(std::fs::read_to_string(dir.join("etc/theirs.conf")).unwrap(), "theirs\n");
    let sysroot = format!("--sysroot={}", b.sysroot);
    let st = ox(&["admin", "status", &sysroot]);
    assert!(st.contains(&format!("  testos {next}.0\n")), "{st}");
    assert_eq!(st, ostree(&["admin", "status", &sysroot]));
    let e = entries(&b);
    assert!(e.iter().any(|t| t.contains("(ostree:0)") && t.contains(" quiet")), "{e:?}");
}

#[test]
fn upgrade_stages_with_stage() {
    if !is_root() {
        eprintln!("skipped: mount namespaces need root");
        return;
    }
    let b = Booted::new("staged-upgrade");
    let tree = b.w.join("tree");
    std::fs::write(tree.join("usr/bin/v2"), "2\n").unwrap();
    let c = ox(&["commit", "--repo", &b.repo, "-b", "os/good", "--tree", &format!("dir={}", tree.display())]);
    let c = c.trim();
    ox(&["pull-local", &format!("--repo={}/ostree/repo", b.sysroot), &b.repo, "os/good"]);
    let out = b.boot(
        r#"ox admin upgrade --stage --os=testos --deploy-only
echo --- status; ox admin status
"#,
    );
    let status = out.split("--- status\n").nth(1).unwrap();
    assert!(status.starts_with(&format!("  testos {c}.0 (staged)\n")), "{out}");
    // Not booted: refused before anything is fetched or written.
    let o = ox_out(&["admin", "upgrade", "--stage", "--os=testos", &format!("--sysroot={}", b.sysroot)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("Not currently booted into an OSTree system"));
}
