//! Boot entries and bootloader configuration for OSTree-style sysroots.
//!
//! A sysroot keeps two sets of boot configuration, `boot/loader.0` and
//! `boot/loader.1`, and a symlink `boot/loader` naming the live one. Every
//! set holds [Boot Loader Specification](https://uapi-group.org/specifications/specs/boot_loader_specification/)
//! entries (`loader.N/entries/ostree-K-STATEROOT.conf`, see [`bls`]) and,
//! for bootloaders that cannot read those, a native configuration generated
//! from them by a [`Backend`]: `syslinux.cfg` ([`syslinux`]), `uEnv.txt`
//! ([`uboot`]) or `grub.cfg` (made by an external program, [`grub2`]).
//!
//! This crate knows the file formats and how a backend is chosen
//! ([`Backend::detect`]); which deployments get entries, and the atomic swap
//! of `boot/loader`, are the sysroot crate's.
//!
//! Stable: [`BootEntry`], [`Backend`] and the text each backend writes,
//! which is byte for byte what OSTree 2022.7 writes.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bls;
mod error;
pub mod grub2;
pub mod syslinux;
pub mod uboot;

use std::path::Path;

pub use bls::{strverscmp, BootEntry};
pub use error::Error;

/// The bootloaders OSTree can keep in step (`sysroot.bootloader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Only the BLS entries are written (`none`, or `auto` finding nothing).
    None,
    /// `boot/loader.N/syslinux.cfg`, found through `boot/syslinux/syslinux.cfg`.
    Syslinux,
    /// `boot/loader.N/grub.cfg`, written by `grub2-mkconfig` (or
    /// `$OSTREE_GRUB2_EXEC`); `efi` when only an EFI `grub.cfg` exists.
    Grub2 {
        /// The configuration lives on the EFI system partition.
        efi: bool,
    },
    /// `boot/loader.N/uEnv.txt`.
    Uboot,
}

impl Backend {
    /// The backend `sysroot.bootloader` names (`auto`, or unset, probes the
    /// boot directory as OSTree does: syslinux, then GRUB 2, then U-Boot).
    pub fn select(config: Option<&str>, sysroot: &Path) -> Result<Backend, Error> {
        match config.unwrap_or("auto") {
            "auto" => Ok(Backend::detect(sysroot)),
            "none" => Ok(Backend::None),
            "syslinux" => Ok(Backend::Syslinux),
            "grub2" => Ok(Backend::Grub2 { efi: grub2::efi_config(sysroot).is_some() && !grub2::bios_active(sysroot) }),
            "uboot" => Ok(Backend::Uboot),
            other => Err(Error::UnknownBootloader(other.to_string())),
        }
    }

    /// Probes `SYSROOT/boot` for a bootloader's configuration.
    pub fn detect(sysroot: &Path) -> Backend {
        let boot = sysroot.join("boot");
        if boot.join("syslinux/syslinux.cfg").symlink_metadata().is_ok() {
            return Backend::Syslinux;
        }
        if !grub2::bootupd_static(sysroot) {
            if grub2::bios_active(sysroot) {
                return Backend::Grub2 { efi: false };
            }
            if grub2::efi_config(sysroot).is_some() {
                return Backend::Grub2 { efi: true };
            }
        }
        if boot.join("loader/uEnv.txt").symlink_metadata().is_ok() {
            return Backend::Uboot;
        }
        Backend::None
    }

    /// The name `sysroot.bootloader` uses.
    pub fn name(self) -> &'static str {
        match self {
            Backend::None => "none",
            Backend::Syslinux => "syslinux",
            Backend::Grub2 { .. } => "grub2",
            Backend::Uboot => "uboot",
        }
    }

    /// Whether switching `boot/loader` switches this bootloader's view in
    /// one rename. GRUB on an EFI partition is rewritten in place; with no
    /// backend nothing but the BLS entries is written, which OSTree does not
    /// count as atomic either (its message then says "Bootloader updated").
    pub fn is_atomic(self) -> bool {
        matches!(self, Backend::Syslinux | Backend::Uboot | Backend::Grub2 { efi: false })
    }

    /// Writes the native configuration for boot version `bootversion`
    /// (into `SYSROOT/boot/loader.N/`) from `entries`, in boot order.
    /// `default_tree` is the checkout of the first entry's deployment (for
    /// U-Boot's `usr/lib/ostree-boot/uEnv.txt` and GRUB's chroot).
    pub fn write_config(
        self,
        sysroot: &Path,
        bootversion: u32,
        entries: &[BootEntry],
        default_tree: Option<&Path>,
        bootprefix: bool,
    ) -> Result<(), Error> {
        match self {
            Backend::None => Ok(()),
            Backend::Syslinux => syslinux::write_config(sysroot, bootversion, entries, bootprefix),
            Backend::Uboot => uboot::write_config(sysroot, bootversion, entries, default_tree),
            Backend::Grub2 { efi } => grub2::write_config(sysroot, bootversion, efi),
        }
    }
}

/// Joins configuration lines as OSTree does: each ends in a newline, and
/// runs of empty lines (and empty lines at the start) are dropped.
pub(crate) fn join_lines(lines: &[String]) -> String {
    let mut out = String::new();
    let mut prev_empty = false;
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            if prev_empty || i == 0 {
                continue;
            }
            prev_empty = true;
        } else {
            prev_empty = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Writes `text` to `path` through a temporary file and a rename, durably.
pub(crate) fn write_file_atomic(path: &Path, text: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let io = |e: std::io::Error| Error::Io(path.display().to_string(), e);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(text).map_err(io)?;
    f.sync_all().map_err(io)?;
    oxtree_fault::synced(&tmp);
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_lines_drops_leading_and_repeated_empty_lines() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(join_lines(&l(&["", "a", "", "", "b", ""])), "a\n\nb\n\n");
        assert_eq!(join_lines(&l(&[""])), "");
    }

    #[test]
    fn detection_follows_ostree_order() {
        let d = std::env::temp_dir().join(format!("oxtree-bl-detect-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("boot/loader.0")).unwrap();
        std::os::unix::fs::symlink("loader.0", d.join("boot/loader")).unwrap();
        assert_eq!(Backend::detect(&d), Backend::None);
        std::fs::write(d.join("boot/loader/uEnv.txt"), "").unwrap();
        assert_eq!(Backend::detect(&d), Backend::Uboot);
        // A dangling grub.cfg symlink counts: it points at the config to be.
        std::fs::create_dir_all(d.join("boot/grub2")).unwrap();
        std::os::unix::fs::symlink("../loader/grub.cfg", d.join("boot/grub2/grub.cfg")).unwrap();
        assert_eq!(Backend::detect(&d), Backend::Grub2 { efi: false });
        std::fs::create_dir_all(d.join("boot/syslinux")).unwrap();
        std::os::unix::fs::symlink("../loader/syslinux.cfg", d.join("boot/syslinux/syslinux.cfg")).unwrap();
        assert_eq!(Backend::detect(&d), Backend::Syslinux);
        assert_eq!(Backend::select(Some("none"), &d).unwrap(), Backend::None);
        assert!(Backend::select(Some("lilo"), &d).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
