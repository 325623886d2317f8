//! `oxtree compose rootfs`: a plain root file system (as debootstrap lays
//! it out) made deployable, then deployed by oxtree and by the real ostree.

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::*;

/// A Debian-like root: kernel and initrd in /boot with links at the root,
/// /etc, /var with state, a symlink and a sticky /var/tmp, /home and /root
/// with files, an empty /opt, /usr/local with subdirectories.
fn debian_like(root: &Path) {
    let w = |p: &str, data: &str| {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    w("boot/vmlinuz-6.1.0-13-amd64", "kernel\n");
    w("boot/initrd.img-6.1.0-13-amd64", "initrd\n");
    w("boot/config-6.1.0-13-amd64", "CONFIG_X=y\n");
    w("boot/System.map-6.1.0-13-amd64", "map\n");
    symlink("boot/vmlinuz-6.1.0-13-amd64", root.join("vmlinuz")).unwrap();
    symlink("boot/initrd.img-6.1.0-13-amd64", root.join("initrd.img")).unwrap();
    w("usr/lib/modules/6.1.0-13-amd64/modules.dep", "\n");
    w("usr/bin/sh", "shell\n");
    w("etc/os-release", "ID=debian\nPRETTY_NAME=\"Debian-like\"\n");
    w("etc/hostname", "box\n");
    w("var/lib/dpkg/status", "Package: base-files\n");
    std::fs::create_dir_all(root.join("var/log/apt")).unwrap();
    std::fs::create_dir_all(root.join("var/tmp")).unwrap();
    std::fs::set_permissions(root.join("var/tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    symlink("/run", root.join("var/run")).unwrap();
    w("home/user/.bashrc", "alias ll='ls -l'\n");
    w("root/.profile", "PATH=/usr/bin\n");
    std::fs::create_dir_all(root.join("opt")).unwrap();
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    for d in ["sys", "proc", "dev", "run", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
}

fn compose(repo: &str, dir: &Path, branch: &str) -> String {
    ox(&["compose", "rootfs", &format!("--repo={repo}"), "-b", branch, "-q", dir.to_str().unwrap()]).trim().to_string()
}

#[test]
fn a_plain_root_file_system_deploys_with_both_tools() {
    let w = TempDir::new("compose-rootfs");
    let repo = w.join("repo").display().to_string();
    ostree(&["init", &format!("--repo={repo}"), "--mode=archive"]);
    debian_like(&w.join("root"));
    let c = compose(&repo, &w.join("root"), "debian/x86_64");
    assert_eq!(c.len(), 64, "{c}");

    // What the commit holds, read by the real ostree.
    let ls = |p: &str| ostree(&["ls", &format!("--repo={repo}"), &c, p]);
    let modules = ls("/usr/lib/modules/6.1.0-13-amd64");
    for f in ["vmlinuz", "initramfs.img", "config", "System.map", "modules.dep"] {
        assert!(modules.contains(f), "{f} not in usr/lib/modules/KVER:\n{modules}");
    }
    assert!(!ls("/boot").contains("vmlinuz"), "the kernel is still in /boot");
    let top = ls("/");
    for (name, target) in [
        ("home", "var/home"),
        ("root", "var/roothome"),
        ("opt", "var/opt"),
        ("srv", "var/srv"),
        ("mnt", "var/mnt"),
        ("media", "run/media"),
        ("ostree", "sysroot/ostree"),
    ] {
        assert!(top.contains(&format!("/{name} -> {target}")), "/{name} is not a link to {target}:\n{top}");
    }
    assert!(!top.contains("/etc") && !top.contains("vmlinuz") && !top.contains("initrd.img"), "{top}");
    assert!(top.contains("/sysroot"));
    assert!(ls("/usr/local").contains("-> ../var/usrlocal"));
    assert!(ls("/var").trim().lines().count() == 1, "/var is not empty");
    let cat = |p: &str| ostree(&["cat", &format!("--repo={repo}"), &c, p]);
    assert_eq!(cat("/usr/etc/hostname"), "box\n");
    assert_eq!(cat("/usr/share/factory/var/lib/dpkg/status"), "Package: base-files\n");
    assert_eq!(cat("/usr/share/factory/var/home/user/.bashrc"), "alias ll='ls -l'\n");
    let conf = cat("/usr/lib/tmpfiles.d/oxtree-rootfs.conf");
    for line in [
        "d /var/lib 0755 0 0 - -",
        "d /var/lib/dpkg 0755 0 0 - -",
        "C /var/lib/dpkg/status - - - - /usr/share/factory/var/lib/dpkg/status",
        "d /var/log/apt 0755 0 0 - -",
        "L /var/run - - - - /run",
        "d /var/tmp 1777 0 0 - -",
        "d /var/home 0755 root root - -",
        "d /var/home/user 0755 0 0 - -",
        "C /var/home/user/.bashrc - - - - /usr/share/factory/var/home/user/.bashrc",
        "d /var/roothome 0700 root root - -",
        "d /var/usrlocal 0755 root root - -",
        "d /var/usrlocal/bin 0755 0 0 - -",
    ] {
        assert!(conf.lines().any(|l| l == line), "no '{line}' in the tmpfiles.d file:\n{conf}");
    }
    let shown = ostree(&["show", &format!("--repo={repo}"), "--print-metadata-key=ostree.linux", &c]);
    assert_eq!(shown.trim(), "'6.1.0-13-amd64'");

    // Both tools deploy it.
    for tool in ["oxtree", "ostree"] {
        let sysroot = w.join(&format!("sysroot-{tool}")).display().to_string();
        std::fs::create_dir_all(&sysroot).unwrap();
        ostree(&["admin", "init-fs", &sysroot]);
        ostree(&["admin", "os-init", &format!("--sysroot={sysroot}"), "debian"]);
        ostree(&["pull-local", &format!("--repo={sysroot}/ostree/repo"), &repo, "debian/x86_64"]);
        let bin = if tool == "oxtree" { oxtree_bin() } else { "ostree" };
        let o = Command::new(bin)
            .args([
                "admin",
                "deploy",
                &format!("--sysroot={sysroot}"),
                "--os=debian",
                "--karg=root=LABEL=ROOT",
                "debian/x86_64",
            ])
            .env("OSTREE_SYSROOT_DEBUG", "mutable-deployments")
            .output()
            .unwrap();
        assert!(o.status.success(), "{tool} admin deploy: {}", String::from_utf8_lossy(&o.stderr));
        let status = ostree(&["admin", "status", &format!("--sysroot={sysroot}")]);
        assert!(status.contains(&format!("debian {c}.0")), "{tool}: {status}");
        let dep = Path::new(&sysroot).join(format!("ostree/deploy/debian/deploy/{c}.0"));
        assert_eq!(std::fs::read_to_string(dep.join("etc/hostname")).unwrap(), "box\n", "{tool}: /etc");
        let entries: Vec<_> = std::fs::read_dir(Path::new(&sysroot).join("boot/loader/entries")).unwrap().collect();
        assert_eq!(entries.len(), 1, "{tool}");
        let boot = std::fs::read_dir(Path::new(&sysroot).join("boot/ostree")).unwrap().next().unwrap().unwrap().path();
        assert!(
            boot.join("vmlinuz-6.1.0-13-amd64").exists() || boot.join("vmlinuz").exists() || {
                std::fs::read_dir(&boot)
                    .unwrap()
                    .any(|e| e.unwrap().file_name().to_string_lossy().starts_with("vmlinuz"))
            }
        );
    }
    let a = std::fs::read_dir(w.join("sysroot-oxtree/boot/loader/entries")).unwrap().next().unwrap().unwrap().path();
    let b = std::fs::read_dir(w.join("sysroot-ostree/boot/loader/entries")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(std::fs::read_to_string(a).unwrap(), std::fs::read_to_string(b).unwrap(), "boot entries differ");
}

#[test]
fn kernels_and_etc_it_cannot_place_are_refused() {
    let w = TempDir::new("compose-rootfs-bad");
    let repo = w.join("repo").display().to_string();
    ostree(&["init", &format!("--repo={repo}"), "--mode=bare-user"]);
    let fail = |dir: &Path| {
        let o = ox_out(&["compose", "rootfs", &format!("--repo={repo}"), "-b", "x", dir.to_str().unwrap()]);
        assert!(!o.status.success(), "{} was composed", dir.display());
        assert_eq!(ostree(&["refs", &format!("--repo={repo}")]), "", "a ref was written");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let none = w.join("none");
    std::fs::create_dir_all(none.join("usr/bin")).unwrap();
    assert!(fail(&none).contains("no kernel"));
    let two = w.join("two");
    for k in ["6.1", "6.2"] {
        std::fs::create_dir_all(two.join(format!("usr/lib/modules/{k}"))).unwrap();
        std::fs::write(two.join(format!("usr/lib/modules/{k}/vmlinuz")), k).unwrap();
    }
    let err = fail(&two);
    assert!(err.contains("more than one kernel") && err.contains("6.1, 6.2"), "{err}");
    let etcs = w.join("etcs");
    std::fs::create_dir_all(etcs.join("usr/lib/modules/6.1")).unwrap();
    std::fs::write(etcs.join("usr/lib/modules/6.1/vmlinuz"), "k").unwrap();
    std::fs::create_dir_all(etcs.join("etc")).unwrap();
    std::fs::create_dir_all(etcs.join("usr/etc")).unwrap();
    assert!(fail(&etcs).contains("both etc and usr/etc"));
    let o = ox_out(&["compose", "rootfs", &format!("--repo={repo}"), w.join("none").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--branch"));
}
