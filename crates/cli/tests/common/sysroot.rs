//! A small sysroot for the admin tests: a repo of bootable trees and a
//! sysroot with one deployment of `os/good`.

use std::path::Path;

use super::{ox, TempDir};

/// Runs `oxtree ARGS` with deployments left mutable (no `chattr +i`), so
/// that the test directories can be removed.
fn ox_admin(args: &[&str]) -> std::process::Output {
    std::process::Command::new(super::oxtree_bin())
        .args(args)
        .env("OSTREE_SYSROOT_DEBUG", "mutable-deployments")
        .output()
        .unwrap()
}

/// A sysroot with one deployment of a good commit, and a repo to make more.
pub struct Fixture {
    pub w: TempDir,
    pub sysroot: String,
    pub repo: String,
}

pub fn make_os(root: &Path, kernels: &[&str]) {
    for k in kernels {
        let d = root.join(format!("usr/lib/modules/{k}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("vmlinuz"), format!("kernel {k}\n")).unwrap();
        std::fs::write(d.join("initramfs.img"), format!("initramfs {k}\n")).unwrap();
    }
    std::fs::create_dir_all(root.join("usr/etc")).unwrap();
    std::fs::write(root.join("usr/etc/os-release"), "ID=testos\nPRETTY_NAME=\"TestOS 1\"\n").unwrap();
    // Mount points a booted deployment needs (the physical root, /var).
    std::fs::create_dir_all(root.join("sysroot")).unwrap();
    std::fs::create_dir_all(root.join("var")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(root.join("usr/bin/sh"), "binary\n").unwrap();
}

impl Fixture {
    pub fn new(tag: &str) -> Fixture {
        let w = TempDir::new(tag);
        let repo = w.join("repo").display().to_string();
        let sysroot = w.join("sysroot").display().to_string();
        ox(&["init", "--repo", &repo, "--mode=archive"]);
        make_os(&w.join("good"), &["6.1.0"]);
        ox(&["commit", "--repo", &repo, "-b", "os/good", "--tree", &format!("dir={}", w.join("good").display())]);
        ox(&["admin", "init-fs", &sysroot]);
        ox(&["admin", "os-init", "--sysroot", &sysroot, "testos"]);
        let f = Fixture { w, sysroot, repo };
        f.pull("os/good");
        f.admin(&["deploy", "--os=testos", "--karg=root=LABEL=ROOT", "os/good"]);
        f
    }

    pub fn pull(&self, r: &str) {
        ox(&["pull-local", &format!("--repo={}/ostree/repo", self.sysroot), &self.repo, r]);
    }

    pub fn commit(&self, name: &str, kernels: &[&str]) {
        let t = self.w.join(name);
        make_os(&t, kernels);
        ox(&["commit", "--repo", &self.repo, "-b", &format!("os/{name}"), "--tree", &format!("dir={}", t.display())]);
        self.pull(&format!("os/{name}"));
    }

    /// `oxtree admin SUBCOMMAND --sysroot=S ARGS...`.
    fn run_admin(&self, args: &[&str]) -> (Vec<String>, std::process::Output) {
        let mut a: Vec<String> = vec!["admin".into(), args[0].into(), format!("--sysroot={}", self.sysroot)];
        a.extend(args[1..].iter().map(|s| s.to_string()));
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = ox_admin(&refs);
        (a, o)
    }

    pub fn admin(&self, args: &[&str]) -> String {
        let (a, o) = self.run_admin(args);
        assert!(o.status.success(), "oxtree {a:?} failed: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn admin_err(&self, args: &[&str]) -> String {
        let (a, o) = self.run_admin(args);
        assert!(!o.status.success(), "{a:?} should fail");
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// What boots: status, the live entries and the deployment directories.
    pub fn state(&self) -> String {
        let mut s = self.admin(&["status"]);
        let entries = Path::new(&self.sysroot).join("boot/loader/entries");
        let mut names: Vec<_> = std::fs::read_dir(&entries).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for n in names {
            s.push_str(&std::fs::read_to_string(n).unwrap());
        }
        let deploy = Path::new(&self.sysroot).join("ostree/deploy/testos/deploy");
        let mut dirs: Vec<_> =
            std::fs::read_dir(deploy).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        dirs.sort();
        s.push_str(&dirs.join("\n"));
        s
    }
}
