//! Overlay initramfs images (`admin deploy --overlay-initrd=FILE`): extra
//! `initrd` lines after a deployment's own, which the boot loader loads on
//! top of it (configuration, keys, drivers for one machine).
//!
//! As OSTree 2022.7 keeps them:
//! - staged first by content: `/run/ostree/staged-initrds/SHA256` (mode
//!   0600; the checksum of the bytes, lowercase hex);
//! - installed, when a boot entry needs one, as
//!   `/boot/ostree/initramfs-overlays/SHA256.img`, shared by every
//!   deployment, and named in the entry as
//!   `initrd /ostree/initramfs-overlays/SHA256.img` after the main one (and
//!   only when there is a main one);
//! - removed by the clean-up once no entry names them.
//!
//! A new deployment has the overlays its deploy names, and no others (the
//! merge deployment's are not carried over). Overlays do not change the
//! boot checksum.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use oxtree_bootloader::BootEntry;
use sha2::{Digest, Sha256};

use crate::{Error, Sysroot};

/// Where overlays wait, by checksum, for a deploy to install them.
pub const STAGED_DIR: &str = "/run/ostree/staged-initrds";

/// The directory under the sysroot that holds installed overlays.
const BOOT_DIR: &str = "boot/ostree/initramfs-overlays";

/// Copies `file` into [`STAGED_DIR`] under its SHA-256; returns the
/// checksum, which [`crate::deploy::DeployOptions::overlay_initrds`] takes.
pub fn stage(file: &Path) -> Result<String, Error> {
    stage_into(file, Path::new(STAGED_DIR))
}

fn stage_into(file: &Path, dir: &Path) -> Result<String, Error> {
    let mut src = std::fs::File::open(file).map_err(Error::io(file))?;
    create_dir(dir)?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    let mut out = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)
    }
    .map_err(Error::io(&tmp))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let copied = (|| -> Result<(), Error> {
        loop {
            let n = src.read(&mut buf).map_err(Error::io(file))?;
            if n == 0 {
                return Ok(());
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(Error::io(&tmp))?;
        }
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let csum: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let dest = dir.join(&csum);
    std::fs::rename(&tmp, &dest).map_err(Error::io(&dest))?;
    Ok(csum)
}

fn create_dir(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir) {
        Ok(()) => Ok(()),
        Err(e) => Err(Error::Io(dir.display().to_string(), e)),
    }
}

/// The checksums of the overlays `entry` names (its `initrd` lines after
/// the first), checking each file name is `CHECKSUM.img` as OSTree does
/// (64 characters and a 4-character suffix).
pub fn checksums(entry: &BootEntry) -> Result<Vec<String>, Error> {
    entry
        .overlay_initrds()
        .iter()
        .map(|p| {
            let name = p.rsplit('/').next().unwrap_or(p);
            if name.len() != 68 || !name.is_char_boundary(64) {
                return Err(Error::Invalid(format!("Malformed overlay initrd filename: {name}")));
            }
            Ok(name[..64].to_string())
        })
        .collect()
}

/// The `initrd` value naming overlay `csum` (`prefix` is `/boot` when the
/// entries name paths from the root of the sysroot).
pub(crate) fn entry_path(prefix: &str, csum: &str) -> String {
    format!("{prefix}/ostree/initramfs-overlays/{csum}.img")
}

/// Makes sure overlay `csum` is in the sysroot's `/boot`, from the staged
/// copy if it is not.
pub(crate) fn install(sysroot: &Path, csum: &str) -> Result<(), Error> {
    install_from(sysroot, csum, Path::new(STAGED_DIR))
}

fn install_from(sysroot: &Path, csum: &str, staged: &Path) -> Result<(), Error> {
    let dir = sysroot.join(BOOT_DIR);
    let dest = dir.join(format!("{csum}.img"));
    if dest.symlink_metadata().is_ok() {
        return Ok(());
    }
    let src: PathBuf = staged.join(csum);
    if src.symlink_metadata().is_err() {
        return Err(Error::Invalid(format!(
            "overlay initrd {csum}: neither in {} nor staged in {}",
            dir.display(),
            staged.display()
        )));
    }
    create_dir(&dir)?;
    crate::kernel::link_or_copy(&src, &dest)
}

/// Removes the installed overlays that no deployment's entry names.
pub(crate) fn cleanup(sysroot: &Sysroot) -> Result<(), Error> {
    let mut used = HashSet::new();
    for d in sysroot.deployments() {
        used.extend(checksums(&d.bootconfig)?.into_iter().map(|c| format!("{c}.img")));
    }
    let dir = sysroot.path().join(BOOT_DIR);
    let Ok(rd) = std::fs::read_dir(&dir) else { return Ok(()) };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().is_ok_and(|t| t.is_file()) && !used.contains(&name) {
            crate::fsops::point("unlink", &e.path())?;
            std::fs::remove_file(e.path()).map_err(Error::io(&e.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oxtree-overlay-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn staged_by_content_and_installed_once() {
        let d = tmp("stage");
        std::fs::write(d.join("extra.img"), "overlay bytes\n").unwrap();
        let staged = d.join("staged");
        let csum = stage_into(&d.join("extra.img"), &staged).unwrap();
        // sha256("overlay bytes\n")
        let want: String = Sha256::digest(b"overlay bytes\n").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(csum, want);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(staged.join(&csum)).unwrap().permissions().mode() & 0o777, 0o600);
        let sysroot = d.join("sysroot");
        install_from(&sysroot, &csum, &staged).unwrap();
        let inst = sysroot.join(BOOT_DIR).join(format!("{csum}.img"));
        assert_eq!(std::fs::read(&inst).unwrap(), b"overlay bytes\n");
        // Once there, the staged copy is not needed.
        std::fs::remove_file(staged.join(&csum)).unwrap();
        install_from(&sysroot, &csum, &staged).unwrap();
        let err = install_from(&sysroot, &"0".repeat(64), &staged).unwrap_err().to_string();
        assert!(err.contains("neither in"), "{err}");
        assert!(stage_into(&d.join("missing"), &staged).unwrap_err().to_string().contains("missing"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn entry_overlays_must_be_named_by_checksum() {
        let c = "a".repeat(64);
        let good = BootEntry::parse(&format!("linux /k\ninitrd /i\ninitrd {}\n", entry_path("", &c)));
        assert_eq!(checksums(&good).unwrap(), vec![c]);
        let bad = BootEntry::parse("linux /k\ninitrd /i\ninitrd /ostree/initramfs-overlays/short.img\n");
        assert!(checksums(&bad).unwrap_err().to_string().contains("Malformed overlay initrd filename: short.img"));
    }
}
