//! U-Boot: `boot/loader.N/uEnv.txt`, which an installer links as
//! `boot/uEnv.txt -> loader/uEnv.txt`.
//!
//! Per entry `i` (suffix empty for the first, else `i + 1`):
//! `kernel_image`, `ramdisk_image`, `fdt_file`, `fdtdir` (paths prefixed
//! with `/boot`) and `bootargs`; right after the first entry, the text of
//! its deployment's `usr/lib/ostree-boot/uEnv.txt` if it has one.

use std::path::Path;

use crate::{join_lines, BootEntry, Error};

/// Writes `SYSROOT/boot/loader.BOOTVERSION/uEnv.txt`.
pub fn write_config(
    sysroot: &Path,
    bootversion: u32,
    entries: &[BootEntry],
    default_tree: Option<&Path>,
) -> Result<(), Error> {
    let extra = match default_tree {
        Some(t) => {
            let p = t.join("usr/lib/ostree-boot/uEnv.txt");
            match std::fs::read_to_string(&p) {
                Ok(s) => Some(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::Io(p.display().to_string(), e)),
            }
        }
        None => None,
    };
    let text = generate(entries, extra.as_deref())?;
    crate::write_file_atomic(&sysroot.join(format!("boot/loader.{bootversion}/uEnv.txt")), text.as_bytes())
}

/// The `uEnv.txt` text for `entries`, with `extra` (the default
/// deployment's own `uEnv.txt`) after the first entry.
pub fn generate(entries: &[BootEntry], extra: Option<&str>) -> Result<String, Error> {
    let mut lines = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let s = if i == 0 { String::new() } else { (i + 1).to_string() };
        let linux = e.get("linux").ok_or(Error::MissingKey("linux"))?;
        lines.push(format!("kernel_image{s}=/boot{linux}"));
        if let Some(v) = e.get("initrd") {
            lines.push(format!("ramdisk_image{s}=/boot{v}"));
        }
        if let Some(v) = e.get("devicetree") {
            lines.push(format!("fdt_file{s}=/boot{v}"));
        }
        if let Some(v) = e.get("fdtdir") {
            lines.push(format!("fdtdir{s}=/boot{v}"));
        }
        if let Some(v) = e.get("options") {
            lines.push(format!("bootargs{s}={v}"));
        }
        if i == 0 {
            if let Some(x) = extra {
                lines.push(x.to_string());
            }
        }
    }
    Ok(join_lines(&lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_entries_and_the_trees_own_uenv() {
        let e = |n: u32| {
            BootEntry::parse(&format!(
                "version {n}\noptions root=LABEL=ROOT ostree=/ostree/boot.0/os/c/{n}\n\
                 linux /ostree/os-c/vmlinuz-6.1.0\ninitrd /ostree/os-c/initramfs-6.1.0.img\nfdtdir /ostree/os-c/dtb\n"
            ))
        };
        assert_eq!(
            generate(&[e(0), e(1)], Some("loadfdt=load mmc\nmmcboot=run x\n")).unwrap(),
            "kernel_image=/boot/ostree/os-c/vmlinuz-6.1.0\nramdisk_image=/boot/ostree/os-c/initramfs-6.1.0.img\n\
             fdtdir=/boot/ostree/os-c/dtb\nbootargs=root=LABEL=ROOT ostree=/ostree/boot.0/os/c/0\n\
             loadfdt=load mmc\nmmcboot=run x\n\n\
             kernel_image2=/boot/ostree/os-c/vmlinuz-6.1.0\nramdisk_image2=/boot/ostree/os-c/initramfs-6.1.0.img\n\
             fdtdir2=/boot/ostree/os-c/dtb\nbootargs2=root=LABEL=ROOT ostree=/ostree/boot.0/os/c/1\n"
        );
    }
}
