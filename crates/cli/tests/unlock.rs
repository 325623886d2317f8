//! `admin unlock` on a booted system, emulated: in a private mount
//! namespace (`unshare -m`, as root) the deployment becomes the root of a
//! `chroot` with the physical root at `/sysroot`, `/boot` and the
//! stateroot's `/var` bound in and a fresh `/run` holding `ostree-booted`,
//! so that the deployment is what `/` is. The tree carries the oxtree
//! binary and the C library it links. Leaving the namespace is a reboot:
//! `/run` and the overlay mounts are gone.
//!
//! - development: `/usr` writable, changes in `/var/tmp/ostree-unlock-ovl.*`,
//!   `Unlocked: development`, a second unlock refused; gone after the
//!   "reboot".
//! - transient: the overlay is mounted read-only.
//! - hotfix: a clean clone as rollback, changes in `.usr-ovl-upper`, the
//!   state in the origin file, which the real `ostree admin status` reads;
//!   `oxtree-prepare-root` mounts the overlay again at the next boot.

mod common;

use std::path::Path;
use std::process::Command;

use common::booted::{in_namespace, Booted};
use common::*;

#[test]
fn development_and_transient_overlays_last_until_reboot() {
    if !is_root() {
        eprintln!("skipped: mount namespaces need root");
        return;
    }
    let b = Booted::new("unlock-dev");
    // Not booted (no /run/ostree-booted, / is not the deployment): refused.
    let o = ox_out(&["admin", "unlock", &format!("--sysroot={}", b.sysroot)]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("Not currently booted into an OSTree system"));
    let out = b.boot(
        r#"ox admin status
ox admin unlock --hotfix --transient || echo both-refused
ox admin unlock
echo changed > $D/usr/bin/new-tool && echo usr-writable
ox admin status
ls $S/ostree/deploy/testos/var/tmp/ostree-unlock-ovl.*/upper/bin/new-tool && echo change-in-var-tmp
ox admin unlock --hotfix || echo refused-again
"#,
    );
    assert!(
        out.contains("error: Cannot specify both --hotfix and --transient") && out.contains("both-refused"),
        "{out}"
    );
    assert!(out.contains("Development mode enabled.  A writable overlayfs is now mounted on /usr.\n"), "{out}");
    assert!(out.contains("usr-writable"), "{out}");
    assert!(out.contains("    Unlocked: development\n"), "{out}");
    assert!(out.contains("change-in-var-tmp"), "{out}");
    assert!(out.contains("error: Deployment is already in unlocked state: development"), "{out}");
    assert!(out.contains("refused-again"), "{out}");
    // The deployment itself is untouched, and after a reboot it is locked.
    assert!(!Path::new(&b.deploy).join("usr/bin/new-tool").exists());
    let out = b.boot(
        r#"ox admin status
if touch $D/usr/bin/x 2>/dev/null; then echo usr-writable; else echo usr-readonly; fi
ox admin unlock --transient
if touch $D/usr/bin/x 2>/dev/null; then echo usr-writable; else echo usr-readonly-after; fi
ox admin status
"#,
    );
    assert!(!out.contains("Unlocked: development"), "{out}");
    assert!(out.contains("A writable overlayfs is prepared for /usr, but is mounted read-only by default.\n"), "{out}");
    assert!(out.contains("usr-readonly-after"), "{out}");
    assert!(out.contains("    Unlocked: transient\n"), "{out}");
    drop(b.w);
}

#[test]
fn hotfix_keeps_a_clean_rollback_and_comes_back_at_boot() {
    if !is_root() {
        eprintln!("skipped: mount namespaces need root");
        return;
    }
    let b = Booted::new("unlock-hotfix");
    let out = b.boot(
        r#"ox admin unlock --hotfix
echo fixed > $D/usr/bin/fix && echo usr-writable
test -f $D/.usr-ovl-upper/bin/fix && echo change-in-deployment
ox admin status
"#,
    );
    assert!(out.contains("Hotfix mode enabled.  A writable overlayfs is now mounted on /usr\n"), "{out}");
    assert!(out.contains("usr-writable") && out.contains("change-in-deployment"), "{out}");
    assert!(out.contains("    Unlocked: hotfix\n"), "{out}");
    assert!(out.contains("(rollback)"), "a clone as rollback: {out}");
    // Not booted now: both tools read the same state from the sysroot.
    let status = ox(&["admin", "status", &format!("--sysroot={}", b.sysroot)]);
    assert_eq!(status.matches("Unlocked: hotfix").count(), 1, "{status}");
    assert_eq!(status.lines().filter(|l| l.starts_with("  testos ")).count(), 2, "{status}");
    if Command::new("ostree").arg("--version").output().is_ok() {
        let theirs = ostree(&["admin", "status", &format!("--sysroot={}", b.sysroot)]);
        assert_eq!(status, theirs);
    }
    // The next boot: oxtree-prepare-root mounts the hotfix overlay again.
    let prep = env!("CARGO_BIN_EXE_oxtree-prepare-root");
    let entries = Path::new(&b.sysroot).join("boot/loader/entries");
    let mut files: Vec<_> = std::fs::read_dir(entries).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    // The booted (hotfixed) deployment stays the default: ostree-2-testos.conf.
    let text = std::fs::read_to_string(files.last().unwrap()).unwrap();
    let options = text.lines().find_map(|l| l.strip_prefix("options ")).unwrap().to_string();
    let r = b.w.join("root");
    let out = in_namespace(&format!(
        r#"R={r}; S={s}
mkdir -p $R/sysroot $R/run
mount --bind $S $R/sysroot
mount -t tmpfs tmpfs $R/run
{prep} --cmdline="{options}" $R/sysroot
cat $R/sysroot/usr/bin/fix
"#,
        r = r.display(),
        s = b.sysroot,
    ));
    assert!(out.contains("fixed"), "{out}");
}
