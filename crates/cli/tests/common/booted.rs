//! A booted system, emulated: in a private mount namespace (`unshare -m`,
//! as root) a deployment becomes the root of a `chroot` with the physical
//! root at `/sysroot`, `/boot` and the stateroot's `/var` bound in and a
//! fresh `/run` holding `ostree-booted`, so that the deployment is what
//! `/` is. The tree carries the oxtree binary and the C library it links.
//! Leaving the namespace is a reboot: `/run` and the mounts are gone.

use std::path::Path;
use std::process::Command;

use super::sysroot::make_os;
use super::*;

/// Runs `script` in a new mount namespace (which root has wherever the
/// prepare-root tests run).
pub fn in_namespace(script: &str) -> String {
    in_mount_namespace(script).expect("unshare -m")
}

/// A tree that boots far enough for oxtree (and, with `with_ostree`, the
/// real ostree) to run in it.
pub fn bootable_tree(root: &Path, with_ostree: bool) {
    make_os(root, &["6.1.0"]);
    for d in ["boot", "run", "proc", "usr/lib64"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::os::unix::fs::symlink("sysroot/ostree", root.join("ostree")).unwrap();
    std::os::unix::fs::symlink("usr/lib64", root.join("lib64")).unwrap();
    install_binary(root, Path::new(oxtree_bin()), "oxtree");
    if with_ostree {
        install_binary(root, Path::new("/usr/bin/ostree"), "ostree");
    }
}

/// Copies `bin` to `usr/bin/NAME` and the shared libraries it links to
/// `usr/lib64`.
fn install_binary(root: &Path, bin: &Path, name: &str) {
    std::fs::copy(bin, root.join("usr/bin").join(name)).unwrap();
    let ldd = Command::new("ldd").arg(bin).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = line.split_whitespace().find(|w| w.starts_with('/'));
        if let Some(p) = path {
            let name = Path::new(p).file_name().unwrap();
            std::fs::copy(p, root.join("usr/lib64").join(name)).unwrap();
        }
    }
}

/// A sysroot with one deployment (of `os/good`, pulled from `repo`),
/// bootable in a mount namespace.
pub struct Booted {
    pub w: TempDir,
    pub repo: String,
    pub sysroot: String,
    pub deploy: String,
}

impl Booted {
    pub fn new(tag: &str) -> Booted {
        Booted::with(tag, false)
    }

    /// With the real ostree in the tree too.
    pub fn with(tag: &str, with_ostree: bool) -> Booted {
        let w = TempDir::new(tag);
        let repo = w.join("repo").display().to_string();
        let sysroot = w.join("sysroot").display().to_string();
        let tree = w.join("tree");
        bootable_tree(&tree, with_ostree);
        ox(&["init", "--repo", &repo, "--mode=archive"]);
        ox(&["commit", "--repo", &repo, "-b", "os/good", "--tree", &format!("dir={}", tree.display())]);
        ox(&["admin", "init-fs", &sysroot]);
        ox(&["admin", "os-init", "--sysroot", &sysroot, "testos"]);
        ox(&["pull-local", &format!("--repo={sysroot}/ostree/repo"), &repo, "os/good"]);
        let o = Command::new(oxtree_bin())
            .args([
                "admin",
                "deploy",
                &format!("--sysroot={sysroot}"),
                "--os=testos",
                "--karg=root=LABEL=ROOT",
                "os/good",
            ])
            .env("OSTREE_SYSROOT_DEBUG", "mutable-deployments")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let dir = Path::new(&sysroot).join("ostree/deploy/testos/deploy");
        let name = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .find(|n| !n.ends_with(".origin"))
            .unwrap();
        let deploy = dir.join(name).display().to_string();
        Booted { w, repo, sysroot, deploy }
    }

    /// Boots (in a new namespace) and runs `body`, where `$D` is the
    /// deployment, `$S` the physical root and `ox ARGS` runs oxtree inside.
    pub fn boot(&self, body: &str) -> String {
        self.boot_into(&self.deploy, body)
    }

    /// [`Booted::boot`] into deployment directory `deploy`.
    /// The boot has its own PID namespace too, so that its processes may
    /// read PID 1's namespaces (as the real ostree does).
    pub fn boot_into(&self, deploy: &str, body: &str) -> String {
        let script = format!(
            r#"S={s}; D={d}
mount --rbind $S $D/sysroot
mount --bind $S/boot $D/boot
mkdir -p $S/ostree/deploy/testos/var/tmp
mount --bind $S/ostree/deploy/testos/var $D/var
mount -t tmpfs tmpfs $D/run
mount -t proc proc $D/proc
touch $D/run/ostree-booted
ox() {{ env LD_LIBRARY_PATH=/usr/lib64 OSTREE_SYSROOT_DEBUG=mutable-deployments chroot $D /usr/bin/oxtree "$@"; }}
{body}
"#,
            s = self.sysroot,
            d = deploy,
        );
        let o = Command::new("unshare").args(["-m", "-p", "-f", "sh", "-ec", &script]).output().expect("unshare");
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    }
}
