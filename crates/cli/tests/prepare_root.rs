//! `oxtree-prepare-root` in a private mount namespace (`unshare -m`, as
//! root) over a sysroot that `oxtree admin deploy` made: the deployment
//! named by `ostree=` becomes `/sysroot`, with a read-only `/usr`, a
//! writable `/etc`, the stateroot's `/var`, the physical root under
//! `/sysroot/sysroot`, and `/run/ostree-booted`; a bad `ostree=` changes
//! nothing.

mod common;

use common::sysroot::Fixture;
use common::*;

fn prepare_bin() -> &'static str {
    env!("CARGO_BIN_EXE_oxtree-prepare-root")
}

fn ostree_karg(sysroot: &str) -> String {
    let entries = std::path::Path::new(sysroot).join("boot/loader/entries");
    let e = std::fs::read_dir(entries).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(e).unwrap();
    let options = text.lines().find_map(|l| l.strip_prefix("options ")).unwrap().to_string();
    options.split(' ').find(|a| a.starts_with("ostree=")).unwrap().to_string()
}

#[test]
fn the_deployment_becomes_the_root() {
    if !is_root() {
        eprintln!("skipped: mount namespaces need root");
        return;
    }
    let f = Fixture::new("prepare-root");
    let karg = ostree_karg(&f.sysroot);
    let r = f.w.join("root");
    let script = format!(
        r#"R={r}; S={s}
mkdir -p $R/sysroot $R/run
mount --bind $S $R/sysroot
mount -t tmpfs tmpfs $R/run
{prep} --cmdline="root=LABEL=ROOT {karg} quiet" $R/sysroot
test -f $R/sysroot/usr/bin/sh && echo usr-present
if touch $R/sysroot/usr/new 2>/dev/null; then echo usr-writable; else echo usr-readonly; fi
touch $R/sysroot/etc/admin-file && echo etc-writable
test -d $R/sysroot/sysroot/ostree/deploy/testos && echo physical-root-present
touch $R/sysroot/var/marker && test -f $S/ostree/deploy/testos/var/marker && echo stateroot-var
test -e $R/run/ostree-booted && echo booted-marker
test ! -e $R/sysroot.tmp && echo no-leftover
"#,
        r = r.display(),
        s = f.sysroot,
        prep = prepare_bin(),
    );
    let Some(out) = in_mount_namespace(&script) else {
        eprintln!("skipped: unshare -m is not available here");
        return;
    };
    for want in [
        "oxtree-prepare-root:",
        "is now ostree/deploy/testos/deploy/",
        "usr-present",
        "usr-readonly",
        "etc-writable",
        "physical-root-present",
        "stateroot-var",
        "booted-marker",
        "no-leftover",
    ] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }
    // The mounts were the namespace's only: outside it, /usr of the
    // deployment is still writable and root/sysroot is an empty directory.
    assert!(std::fs::read_dir(r.join("sysroot")).unwrap().next().is_none());
}

#[test]
fn a_bad_ostree_argument_changes_nothing() {
    if !is_root() {
        eprintln!("skipped: mount namespaces need root");
        return;
    }
    let f = Fixture::new("prepare-root-bad");
    let r = f.w.join("root");
    let script = format!(
        r#"R={r}; S={s}
mkdir -p $R/sysroot $R/run
mount --bind $S $R/sysroot
mount -t tmpfs tmpfs $R/run
for arg in "" "ostree=/ostree/boot.1/testos/nosuch/0" "ostree=/etc/passwd" "ostree=/ostree/boot.1/../../etc/0"; do
  if {prep} --cmdline="root=LABEL=ROOT $arg" $R/sysroot; then echo "accepted: $arg"; fi
done
test -d $R/sysroot/ostree/deploy && echo sysroot-unchanged
test ! -e $R/sysroot.tmp && echo no-leftover
test ! -e $R/run/ostree-booted && echo not-booted
"#,
        r = r.display(),
        s = f.sysroot,
        prep = prepare_bin(),
    );
    let Some(out) = in_mount_namespace(&script) else {
        eprintln!("skipped: unshare -m is not available here");
        return;
    };
    assert!(!out.contains("accepted:"), "{out}");
    for want in [
        "No ostree= kernel argument found",
        "boot.1/testos/nosuch/0: No such file or directory",
        "Invalid ostree= argument '/etc/passwd'",
        "sysroot-unchanged",
        "no-leftover",
        "not-booted",
    ] {
        assert!(out.contains(want), "missing {want:?}:\n{out}");
    }
}
