//! Unlocking the booted deployment (`admin unlock`): a writable overlay
//! file system on `/usr`, as OSTree 2022.7 makes it.
//!
//! - `development`: the overlay's upper and work directories live in a new
//!   `/var/tmp/ostree-unlock-ovl.XXXXXX`; the state is the file
//!   `/run/ostree/deployment-state/CSUM.SERIAL/unlocked-development`
//!   (holding that directory's path). A reboot (a fresh `/run`) ends it.
//! - `transient`: the same, mounted read-only (a later `mount -o remount,rw`
//!   makes it writable); the state file is `unlocked-transient`.
//! - `hotfix`: first a clone of the booted deployment (same commit, the
//!   merge deployment's `/etc` and kernel arguments) goes after it as the
//!   rollback target; then the overlay's directories are `.usr-ovl-upper`
//!   and `.usr-ovl-work` inside the deployment, where `oxtree-prepare-root`
//!   finds them at every boot; the state is `unlocked=hotfix` in the
//!   `[origin]` group of the origin file.
//!
//! The overlay and work directories get the permissions of the
//! deployment's `usr`.

use std::path::{Path, PathBuf};

use crate::deploy::{deploy, DeployOptions};
use crate::{Deployment, Error, KernelArgs, Sysroot, WriteOptions};

/// Where the development and transient states are recorded.
const STATE_DIR: &str = "/run/ostree/deployment-state";

/// A deployment's unlocked state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockState {
    /// Locked: `/usr` is read-only.
    None,
    /// A writable overlay, gone at the next boot.
    Development,
    /// A writable overlay kept across boots, with a clean clone to roll back to.
    Hotfix,
    /// An overlay mounted read-only, gone at the next boot.
    Transient,
}

impl UnlockState {
    /// OSTree's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            UnlockState::None => "none",
            UnlockState::Development => "development",
            UnlockState::Hotfix => "hotfix",
            UnlockState::Transient => "transient",
        }
    }
}

impl Sysroot {
    /// The unlocked state of `d`: from `/run` (development, transient),
    /// else from its origin file (hotfix).
    pub fn unlocked(&self, d: &Deployment) -> UnlockState {
        let state = Path::new(STATE_DIR).join(d.name());
        if state.join("unlocked-development").exists() {
            UnlockState::Development
        } else if state.join("unlocked-transient").exists() {
            UnlockState::Transient
        } else if d.origin.as_ref().and_then(|o| o.get("origin", "unlocked")) == Some("hotfix") {
            UnlockState::Hotfix
        } else {
            UnlockState::None
        }
    }

    /// Unlocks the booted deployment into `state` (not
    /// [`UnlockState::None`]). The caller holds the sysroot lock.
    pub fn unlock(&mut self, state: UnlockState) -> Result<(), Error> {
        let booted = self
            .booted_deployment()
            .cloned()
            .ok_or_else(|| Error::Invalid("Not currently booted into an OSTree system".into()))?;
        let current = self.unlocked(&booted);
        if current != UnlockState::None {
            return Err(Error::Invalid(format!("Deployment is already in unlocked state: {}", current.name())));
        }
        let merge = self
            .merge_deployment(&booted.stateroot)
            .cloned()
            .ok_or_else(|| Error::Invalid("No previous deployment to duplicate".into()))?;
        if state == UnlockState::Hotfix {
            // The clone to roll back to: the same commit, not as default.
            let opts = DeployOptions {
                stateroot: booted.stateroot.clone(),
                commit: Some(
                    oxtree_store::Checksum::from_hex(&booted.csum)
                        .map_err(|e| Error::Invalid(format!("deployment {}: {e}", booted.name())))?,
                ),
                origin: booted.origin.clone(),
                kargs: Some(KernelArgs::parse(merge.bootconfig.get("options").unwrap_or(""))),
                not_as_default: true,
                write: WriteOptions::default(),
                ..Default::default()
            };
            deploy(self, &opts)?;
        }
        let dir = self.deployment_dir(&booted);
        crate::fsops::set_immutable(&dir, false);
        let usr_mode = {
            use std::os::unix::fs::PermissionsExt;
            let usr = dir.join("usr");
            std::fs::metadata(&usr).map_err(Error::io(&usr))?.permissions().mode() & 0o7777
        };
        let (upper, work, state_dir) = match state {
            UnlockState::Hotfix => (dir.join(".usr-ovl-upper"), dir.join(".usr-ovl-work"), None),
            _ => {
                let base = make_temp_dir(Path::new("/var/tmp"), "ostree-unlock-ovl.")?;
                (base.join("upper"), base.join("work"), Some(base))
            }
        };
        for d in [&upper, &work] {
            std::fs::create_dir_all(d).map_err(Error::io(d))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(usr_mode)).map_err(Error::io(d))?;
        }
        // On the running system's /usr (the deployment's own usr is another
        // mount of the same directory, which nothing running sees).
        mount_overlay(&dir.join("usr"), Path::new("/usr"), &upper, &work, state == UnlockState::Transient)?;
        match (state, state_dir) {
            (UnlockState::Hotfix, _) => {
                let mut origin = booted.origin.clone().unwrap_or_default();
                origin.set("origin", "unlocked", "hotfix");
                self.write_origin(&booted, &origin)?;
            }
            (_, Some(base)) => {
                let file = if state == UnlockState::Transient { "unlocked-transient" } else { "unlocked-development" };
                let sdir = Path::new(STATE_DIR).join(booted.name());
                {
                    use std::os::unix::fs::DirBuilderExt;
                    std::fs::DirBuilder::new().recursive(true).mode(0o755).create(&sdir).map_err(Error::io(&sdir))?;
                }
                let p = sdir.join(file);
                std::fs::write(&p, base.to_string_lossy().as_bytes()).map_err(Error::io(&p))?;
                crate::write::bump_mtime(self.path())?;
            }
            _ => {}
        }
        self.reload()
    }
}

/// A new directory `PREFIXXXXXXX` (six random characters) in `parent`,
/// mode 0755.
fn make_temp_dir(parent: &Path, prefix: &str) -> Result<PathBuf, Error> {
    use std::os::unix::fs::DirBuilderExt;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
            ^ (u64::from(std::process::id()) << 32);
    for _ in 0..100 {
        let mut name = prefix.to_string();
        for _ in 0..6 {
            // xorshift: enough to make a name no one else has picked.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            name.push(CHARS[(seed % CHARS.len() as u64) as usize] as char);
        }
        let p = parent.join(name);
        match std::fs::DirBuilder::new().mode(0o755).create(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::Io(p.display().to_string(), e)),
        }
    }
    Err(Error::Invalid(format!("{}: no free name for {prefix}XXXXXX", parent.display())))
}

/// Mounts on `target` an overlay with `lower` below and `upper` (and its
/// `work` directory) on top; read-only for a transient unlock.
pub(crate) fn mount_overlay(
    lower: &Path,
    target: &Path,
    upper: &Path,
    work: &Path,
    readonly: bool,
) -> Result<(), Error> {
    use rustix::mount::{mount, MountFlags};
    let data = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
    let data = std::ffi::CString::new(data)
        .map_err(|_| Error::Invalid(format!("{}: a path with a NUL byte", target.display())))?;
    let flags = if readonly { MountFlags::RDONLY } else { MountFlags::empty() };
    mount("overlay", target, "overlay", flags, Some(data.as_c_str()))
        .map_err(|e| Error::Io(format!("Failed overlayfs mount on {}", target.display()), e.into()))
}
