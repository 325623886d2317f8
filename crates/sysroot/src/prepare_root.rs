//! The boot-time step: make the deployment named by `ostree=` the root
//! (what `ostree-prepare-root` does in the initramfs).
//!
//! With the physical root file system mounted at `/sysroot`:
//! 1. `ostree=/ostree/boot.N/STATEROOT/BOOTCSUM/SERIAL` on the kernel
//!    command line names a bootlink, which must be a symlink; it resolves
//!    to the deployment `ostree/deploy/STATEROOT/deploy/CSUM.SERIAL`;
//! 2. `/` is made recursively private, and the deployment bind-mounted on
//!    `/sysroot.tmp`;
//! 3. its `/usr` becomes a read-only bind mount of itself; with a read-only
//!    sysroot (`[sysroot] readonly=true` in the repo config) its `/etc` is
//!    a bind mount of its own, so that it stays writable;
//! 4. the physical root goes to `/sysroot.tmp/sysroot`, and the stateroot's
//!    `var` to `/sysroot.tmp/var`;
//! 5. `/run/ostree-booted` is created (empty, as OSTree 2022.7 writes it);
//! 6. `/sysroot.tmp` is moved onto `/sysroot` (read-only when the sysroot
//!    is), from where the init system switches root.
//!
//! `/run` and `/sysroot.tmp` are taken beside the sysroot mount point (in
//! `/` at boot); the tests put one in a directory of their own, inside a
//! private mount namespace.

use std::path::Path;

use rustix::mount::{
    mount_bind, mount_change, mount_move, mount_remount, unmount, MountFlags, MountPropagationFlags, UnmountFlags,
};

use crate::{Error, KernelArgs};

/// What [`prepare_root`] set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The deployment now mounted at `/sysroot`, relative to the physical root.
    pub deployment: String,
    /// Whether the sysroot was made read-only.
    pub readonly: bool,
}

fn sys(what: String) -> impl FnOnce(rustix::io::Errno) -> Error {
    move |e| Error::Io(what, e.into())
}

/// Sets up `sysroot` (the physical root's mount point, `/sysroot` at boot)
/// as the deployment `cmdline`'s `ostree=` names; `run/` and `sysroot.tmp`
/// are taken beside it (in its parent, `/` at boot).
pub fn prepare_root(sysroot: &Path, cmdline: &str) -> Result<Prepared, Error> {
    let sysroot = std::path::absolute(sysroot).map_err(Error::io(sysroot))?;
    let root = sysroot.parent().unwrap_or(Path::new("/")).to_path_buf();
    let kargs = KernelArgs::parse(cmdline.trim_end());
    let Some(target) = kargs.values("ostree").into_iter().flatten().next_back().map(str::to_string) else {
        return Err(Error::Invalid("No ostree= kernel argument found".into()));
    };
    if crate::load::parse_ostree_karg(&target).is_none() {
        return Err(Error::Invalid(format!(
            "Invalid ostree= argument '{target}', expected ostree=/ostree/boot.BOOTVERSION/OSNAME/BOOTCSUM/TREESERIAL"
        )));
    }
    let link = sysroot.join(target.trim_start_matches('/'));
    let meta = link.symlink_metadata().map_err(Error::io(&link))?;
    if !meta.file_type().is_symlink() {
        return Err(Error::Invalid(format!("ostree= {target}: {} is not a symlink", link.display())));
    }
    let deploy = std::fs::canonicalize(&link).map_err(Error::io(&link))?;
    let physical = std::fs::canonicalize(&sysroot).map_err(Error::io(&sysroot))?;
    let rel = deploy
        .strip_prefix(&physical)
        .ok()
        .filter(|r| r.starts_with("ostree/deploy"))
        .map(|r| r.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::Invalid(format!("ostree= {target} resolves to {}, outside ostree/deploy", deploy.display()))
        })?;
    // ostree/deploy/STATEROOT/deploy/CSUM.SERIAL
    let stateroot = rel.split('/').nth(2).unwrap_or_default().to_string();
    let readonly = std::fs::read_to_string(physical.join("ostree/repo/config"))
        .ok()
        .and_then(|t| oxtree_store::repo::KeyFile::parse(&t).ok())
        .and_then(|k| k.get("sysroot", "readonly").and_then(oxtree_store::repo::KeyFile::parse_bool))
        .unwrap_or(false);

    let run = root.join("run/ostree");
    std::fs::create_dir_all(&run).map_err(Error::io(&run))?;
    mount_change("/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)
        .map_err(sys("making / private".into()))?;
    let tmp = root.join("sysroot.tmp");
    std::fs::create_dir_all(&tmp).map_err(Error::io(&tmp))?;
    mount_bind(&deploy, &tmp).map_err(sys(format!("bind-mounting {} on {}", deploy.display(), tmp.display())))?;
    let mounted = (|| {
        if readonly {
            let etc = tmp.join("etc");
            mount_bind(&etc, &etc).map_err(sys(format!("bind-mounting {}", etc.display())))?;
        }
        let usr = tmp.join("usr");
        let (upper, work) = (tmp.join(".usr-ovl-upper"), tmp.join(".usr-ovl-work"));
        if work.is_dir() {
            // A hotfix (`admin unlock --hotfix`): the overlay comes back at
            // every boot.
            crate::unlock::mount_overlay(&usr, &usr, &upper, &work, false)?;
        } else {
            mount_bind(&usr, &usr).map_err(sys(format!("bind-mounting {}", usr.display())))?;
            mount_remount(&usr, MountFlags::BIND | MountFlags::RDONLY, "")
                .map_err(sys(format!("making {} read-only", usr.display())))?;
        }
        let inner = tmp.join("sysroot");
        if !inner.is_dir() {
            return Err(Error::Invalid(format!(
                "{rel}: the deployment has no /sysroot directory to mount the physical root on"
            )));
        }
        mount_bind(&physical, &inner).map_err(sys(format!(
            "bind-mounting {} on {}",
            physical.display(),
            inner.display()
        )))?;
        let var = physical.join("ostree/deploy").join(&stateroot).join("var");
        let var_target = tmp.join("var");
        if !var_target.is_dir() {
            return Err(Error::Invalid(format!(
                "{rel}: the deployment has no /var directory to mount {} on",
                var.display()
            )));
        }
        mount_bind(&var, &var_target).map_err(sys(format!(
            "bind-mounting {} on {}",
            var.display(),
            var_target.display()
        )))?;
        let booted = root.join("run/ostree-booted");
        std::fs::write(&booted, b"").map_err(Error::io(&booted))?;
        // The physical root leaves /sysroot (it lives on under the
        // deployment's /sysroot), and the deployment takes its place.
        unmount(&sysroot, UnmountFlags::DETACH).map_err(sys(format!("unmounting {}", sysroot.display())))?;
        mount_move(&tmp, &sysroot).map_err(sys(format!("moving {} to {}", tmp.display(), sysroot.display())))?;
        if readonly {
            mount_remount(&sysroot, MountFlags::BIND | MountFlags::RDONLY, "")
                .map_err(sys(format!("making {} read-only", sysroot.display())))?;
        }
        Ok(())
    })();
    if let Err(e) = mounted {
        let _ = unmount(&tmp, UnmountFlags::DETACH);
        let _ = std::fs::remove_dir(&tmp);
        return Err(e);
    }
    let _ = std::fs::remove_dir(&tmp);
    Ok(Prepared { deployment: rel, readonly })
}
