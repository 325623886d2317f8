//! syslinux: `boot/loader.N/syslinux.cfg`, regenerated from the BLS
//! entries while keeping what the administrator wrote.
//!
//! The current file is read through `boot/syslinux/syslinux.cfg` (which an
//! installer points at `../loader/syslinux.cfg`). Its `LABEL` blocks (a
//! `LABEL ` line and the tab-indented lines after it) whose `KERNEL` is
//! not under `/ostree/` or `/boot/ostree/` are kept, as are all other
//! lines; OSTree's own blocks, and a `DEFAULT` naming one of them (its
//! title contains `(ostree`, or it starts `DEFAULT ostree:`), are dropped
//! and regenerated: per entry, `LABEL title` and tab-indented `KERNEL`,
//! `INITRD`, `DEVICETREE`, `APPEND` (paths prefixed with `/boot` unless
//! `sysroot.bootprefix` is set), with `DEFAULT` naming the first entry when
//! the old default was OSTree's or there was none.

use std::path::Path;

use crate::{join_lines, BootEntry, Error};

/// Writes `SYSROOT/boot/loader.BOOTVERSION/syslinux.cfg`.
pub fn write_config(sysroot: &Path, bootversion: u32, entries: &[BootEntry], bootprefix: bool) -> Result<(), Error> {
    let current = sysroot.join("boot/syslinux/syslinux.cfg");
    let old = std::fs::read_to_string(&current).map_err(|e| Error::Io(current.display().to_string(), e))?;
    let text = regenerate(&old, entries, bootprefix)?;
    crate::write_file_atomic(&sysroot.join(format!("boot/loader.{bootversion}/syslinux.cfg")), text.as_bytes())
}

/// The new configuration text from the old one and the entries.
pub fn regenerate(old: &str, entries: &[BootEntry], bootprefix: bool) -> Result<String, Error> {
    let mut lines: Vec<String> = Vec::new();
    let mut block: Vec<String> = Vec::new();
    let mut kernel: Option<String> = None;
    let mut in_label = false;
    let mut saw_default = false;
    let mut regenerate_default = false;
    let old_lines: Vec<&str> = old.split('\n').collect();
    // One more round than there are lines, to finish a trailing block.
    for i in 0..=old_lines.len() {
        let line = old_lines.get(i).copied();
        if in_label && line.is_none_or(|l| !l.starts_with('\t')) {
            in_label = false;
            let Some(k) = kernel.take() else {
                return Err(Error::Config("syslinux.cfg: No KERNEL argument found after LABEL".into()));
            };
            if k.starts_with("/ostree/") || k.starts_with("/boot/ostree/") {
                block.clear();
            } else {
                lines.append(&mut block);
            }
        }
        let Some(line) = line else { break };
        if !in_label && line.starts_with("LABEL ") {
            in_label = true;
            block.clear();
            block.push(line.to_string());
        } else if in_label {
            if let Some(k) = line.strip_prefix("\tKERNEL ") {
                kernel = Some(k.to_string());
            }
            block.push(line.to_string());
        } else if line.starts_with("DEFAULT ") {
            saw_default = true;
            if line.starts_with("DEFAULT ostree:") || line.contains("(ostree") {
                regenerate_default = true;
            } else {
                lines.push(line.to_string());
            }
        } else {
            lines.push(line.to_string());
        }
    }
    if !saw_default {
        regenerate_default = true;
    }
    let prefix = if bootprefix { "" } else { "/boot" };
    for (i, e) in entries.iter().enumerate() {
        let title = e.get("title").unwrap_or("");
        if regenerate_default && i == 0 {
            lines.push(format!("DEFAULT {title}"));
        }
        lines.push(format!("LABEL {title}"));
        let linux = e.get("linux").ok_or(Error::MissingKey("linux"))?;
        lines.push(format!("\tKERNEL {prefix}{linux}"));
        if let Some(v) = e.get("initrd") {
            lines.push(format!("\tINITRD {prefix}{v}"));
        }
        if let Some(v) = e.get("devicetree") {
            lines.push(format!("\tDEVICETREE {prefix}{v}"));
        }
        if let Some(v) = e.get("options") {
            lines.push(format!("\tAPPEND {v}"));
        }
    }
    Ok(join_lines(&lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(title: &str, n: u32) -> BootEntry {
        BootEntry::parse(&format!(
            "title {title}\nversion {n}\noptions root=LABEL=ROOT ostree=/ostree/boot.1/os/c/{n}\n\
             linux /ostree/os-c/vmlinuz-6.1.0\ninitrd /ostree/os-c/initramfs-6.1.0.img\n"
        ))
    }

    #[test]
    fn empty_config_gets_default_and_labels() {
        let e = [entry("TestOS 42 1.0 (ostree:0)", 0)];
        assert_eq!(
            regenerate("", &e, false).unwrap(),
            "DEFAULT TestOS 42 1.0 (ostree:0)\nLABEL TestOS 42 1.0 (ostree:0)\n\
             \tKERNEL /boot/ostree/os-c/vmlinuz-6.1.0\n\tINITRD /boot/ostree/os-c/initramfs-6.1.0.img\n\
             \tAPPEND root=LABEL=ROOT ostree=/ostree/boot.1/os/c/0\n"
        );
    }

    #[test]
    fn foreign_labels_and_default_are_kept_ostree_ones_replaced() {
        let old = "PROMPT 1\nDEFAULT rescue\nLABEL rescue\n\tKERNEL /vmlinuz-rescue\n\tAPPEND single\n\
                   LABEL Old (ostree:0)\n\tKERNEL /boot/ostree/os-old/vmlinuz\n\tAPPEND x\n";
        let new = regenerate(old, &[entry("New (ostree:0)", 0)], false).unwrap();
        assert_eq!(
            new,
            // The old file's last newline leaves an empty line, as with OSTree.
            "PROMPT 1\nDEFAULT rescue\nLABEL rescue\n\tKERNEL /vmlinuz-rescue\n\tAPPEND single\n\n\
             LABEL New (ostree:0)\n\tKERNEL /boot/ostree/os-c/vmlinuz-6.1.0\n\
             \tINITRD /boot/ostree/os-c/initramfs-6.1.0.img\n\tAPPEND root=LABEL=ROOT ostree=/ostree/boot.1/os/c/0\n"
        );
        // Regenerating is stable.
        assert_eq!(regenerate(&new, &[entry("New (ostree:0)", 0)], false).unwrap(), new);
    }

    #[test]
    fn label_without_kernel_is_an_error() {
        assert!(regenerate("LABEL x\n\tAPPEND y\n", &[], false).is_err());
    }
}
