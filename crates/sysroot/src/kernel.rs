//! Finding a deployment's kernel and installing it into `/boot`.
//!
//! Two layouts, as OSTree reads them:
//! - `usr/lib/modules/KVER/`: `vmlinuz`, and optionally `initramfs.img`
//!   (or `initramfs`), `devicetree` (or a `dtb/` directory), `.vmlinuz.hmac`,
//!   `aboot.img`. The boot checksum is SHA-256 over the kernel, initramfs
//!   and device tree bytes (a `dtb/` tree's files in sorted path order);
//!   installed as `vmlinuz-KVER`, `initramfs-KVER.img`, `devicetree-KVER`,
//!   `dtb/`, `.vmlinuz-KVER.hmac`, `aboot-KVER.img`.
//! - legacy `usr/lib/ostree-boot/` (else `boot/`): `vmlinuz-…-CSUM`,
//!   `initramfs-…-CSUM`, `devicetree-…-CSUM` where the build system put the
//!   boot checksum in the names; installed without the `-CSUM`.
//!
//! When both are there the modules layout wins, unless it has no initramfs
//! and the legacy one has. Unlike OSTree, which takes whichever
//! `usr/lib/modules/*` it reads first, two kernels are an error.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// A kernel found in a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelLayout {
    /// The directory holding it, relative to the deployment root.
    pub dir: String,
    /// Files to install: (name in `dir`, name in `/boot/ostree/STATEROOT-BOOTCSUM`).
    pub kernel: (String, String),
    /// The initramfs, if any.
    pub initramfs: Option<(String, String)>,
    /// A device tree file, if any.
    pub devicetree: Option<(String, String)>,
    /// A device tree directory (`dtb`), if any (and no device tree file).
    pub dtb_dir: Option<String>,
    /// The kernel's HMAC file, if any (not in the boot checksum).
    pub hmac: Option<(String, String)>,
    /// An Android boot image, if any (not in the boot checksum).
    pub aboot: Option<(String, String)>,
    /// The boot checksum, hex.
    pub bootcsum: String,
}

impl KernelLayout {
    /// Every single file to install, as (source name, installed name).
    pub fn files(&self) -> Vec<&(String, String)> {
        let mut v = vec![&self.kernel];
        v.extend(self.initramfs.iter());
        v.extend(self.devicetree.iter());
        v.extend(self.hmac.iter());
        v.extend(self.aboot.iter());
        v
    }
}

fn is_file(p: &Path) -> bool {
    p.symlink_metadata().is_ok_and(|m| m.is_file())
}

fn hash_file(h: &mut Sha256, p: &Path) -> Result<(), Error> {
    let mut f = std::fs::File::open(p).map_err(Error::io(p))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(Error::io(p))?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

/// Regular files under `dir`, relative, sorted by path.
fn files_sorted(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let mut names: Vec<_> =
            std::fs::read_dir(&abs).map_err(Error::io(&abs))?.filter_map(|e| e.ok()).collect::<Vec<_>>();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let t = e.file_type().map_err(Error::io(&e.path()))?;
            let r = rel.join(e.file_name());
            if t.is_dir() {
                stack.push(r);
            } else if t.is_file() {
                out.push(r);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Where a modules-layout kernel's boot checksum comes from.
#[derive(Clone, Copy)]
enum BootCsum<'a> {
    /// Hashed from the files, unless one of these deployments (root, boot
    /// checksum) has the very same kernel and initramfs (see [`find`]).
    Hash(&'a [(PathBuf, String)]),
    /// Known already (the deployment's own, from its boot entry).
    Given(&'a str),
}

/// Whether the deployment at `other` has, in `rel`, exactly the boot files
/// `names` as the same inodes as `root` has, and no device tree: then its
/// boot checksum, made from the same bytes by the same rule, is ours.
fn same_boot_files(root: &Path, other: &Path, rel: &str, names: &[&str]) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (root.join(rel), other.join(rel));
    // The same choice of files: an `initramfs.img` beside the `initramfs`
    // we took, or a device tree, would make the other's checksum differ.
    let chosen_alike = ["initramfs.img", "initramfs", "devicetree", "dtb"]
        .iter()
        .all(|n| names.contains(n) || b.join(n).symlink_metadata().is_err());
    chosen_alike
        && names.iter().all(|n| match (a.join(n).symlink_metadata(), b.join(n).symlink_metadata()) {
            (Ok(x), Ok(y)) => x.is_file() && y.is_file() && x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        })
}

fn modules_layout(root: &Path, no_dtb: bool, csum: BootCsum<'_>) -> Result<Option<KernelLayout>, Error> {
    let modules = root.join("usr/lib/modules");
    let rd = match std::fs::read_dir(&modules) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io(modules.display().to_string(), e)),
    };
    let mut found: Vec<String> = Vec::new();
    for e in rd {
        let e = e.map_err(Error::io(&modules))?;
        if e.file_type().is_ok_and(|t| t.is_dir()) && is_file(&e.path().join("vmlinuz")) {
            found.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    found.sort();
    let kver = match found.as_slice() {
        [] => return Ok(None),
        [k] => k.clone(),
        many => {
            return Err(Error::Invalid(format!(
                "Found more than one kernel: usr/lib/modules/{{{}}}/vmlinuz; a deployment boots one",
                many.join(",")
            )))
        }
    };
    let rel = format!("usr/lib/modules/{kver}");
    let dir = root.join(&rel);
    let pick = |names: &[&str], dest: String| -> Option<(String, String)> {
        names.iter().find(|n| is_file(&dir.join(n))).map(|n| (n.to_string(), dest))
    };
    let kernel = ("vmlinuz".to_string(), format!("vmlinuz-{kver}"));
    let initramfs = pick(&["initramfs.img", "initramfs"], format!("initramfs-{kver}.img"));
    let (devicetree, dtb_dir) = if no_dtb {
        (None, None)
    } else {
        let dt = pick(&["devicetree"], format!("devicetree-{kver}"));
        let dtb = if dt.is_none() && dir.join("dtb").is_dir() { Some("dtb".to_string()) } else { None };
        (dt, dtb)
    };
    let hmac = pick(&[".vmlinuz.hmac"], format!(".vmlinuz-{kver}.hmac"));
    let aboot = pick(&["aboot.img"], format!("aboot-{kver}.img"));
    let bootcsum = match csum {
        BootCsum::Given(c) => c.to_string(),
        BootCsum::Hash(known) => {
            // Only for a kernel and initramfs without device trees, which
            // the `no-dtb` debug flag could have counted differently.
            let reusable = match (&initramfs, &devicetree, &dtb_dir) {
                (Some((i, _)), None, None) if !dir.join("devicetree").exists() && !dir.join("dtb").exists() => {
                    known.iter().find(|(other, _)| same_boot_files(root, other, &rel, &[&kernel.0, i]))
                }
                _ => None,
            };
            match reusable {
                Some((_, c)) => c.clone(),
                None => {
                    let mut h = Sha256::new();
                    hash_file(&mut h, &dir.join(&kernel.0))?;
                    if let Some((s, _)) = &initramfs {
                        hash_file(&mut h, &dir.join(s))?;
                    }
                    if let Some((s, _)) = &devicetree {
                        hash_file(&mut h, &dir.join(s))?;
                    }
                    if let Some(d) = &dtb_dir {
                        for f in files_sorted(&dir.join(d))? {
                            hash_file(&mut h, &dir.join(d).join(f))?;
                        }
                    }
                    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
                }
            }
        }
    };
    Ok(Some(KernelLayout { dir: rel, kernel, initramfs, devicetree, dtb_dir, hmac, aboot, bootcsum }))
}

fn legacy_layout(root: &Path) -> Result<Option<KernelLayout>, Error> {
    for rel in ["usr/lib/ostree-boot", "boot"] {
        let dir = root.join(rel);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::Io(dir.display().to_string(), e)),
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let first = |prefix: &str| names.iter().find(|n| n.starts_with(prefix)).cloned();
        let Some(kernel) = first("vmlinuz-") else { continue };
        let csum_of = |n: &str| n.rsplit_once('-').map(|(_, c)| c.to_string()).unwrap_or_default();
        let strip = |n: &str| n.rsplit_once('-').map(|(b, _)| b.to_string()).unwrap_or_default();
        let bootcsum = csum_of(&kernel);
        let initramfs = first("initramfs-");
        let devicetree = first("devicetree-");
        for (what, f) in [("initrd", &initramfs), ("device tree", &devicetree)] {
            if let Some(f) = f {
                if csum_of(f) != bootcsum {
                    return Err(Error::Invalid(format!("{rel}: Mismatched kernel checksum vs {what} in tree")));
                }
            }
        }
        return Ok(Some(KernelLayout {
            dir: rel.to_string(),
            kernel: (kernel.clone(), strip(&kernel)),
            initramfs: initramfs.map(|n| (n.clone(), strip(&n))),
            devicetree: devicetree.map(|n| (n.clone(), strip(&n))),
            dtb_dir: None,
            hmac: None,
            aboot: None,
            bootcsum,
        }));
    }
    Ok(None)
}

/// Finds the kernel of the tree checked out at `root`, with its boot
/// checksum.
///
/// `known` lists other deployments (root, boot checksum). When the kernel
/// and initramfs are the very same inodes as one of theirs (both hardlinked
/// from the same repo objects, as an update that keeps the kernel leaves
/// them), its boot checksum is taken rather than reading and hashing them
/// again: some 45 MB for a Debian kernel and initramfs.
pub fn find(root: &Path, no_dtb: bool, known: &[(PathBuf, String)]) -> Result<KernelLayout, Error> {
    pick(modules_layout(root, no_dtb, BootCsum::Hash(known))?, legacy_layout(root)?)
}

/// The kernel files of the deployment at `root` whose boot checksum is
/// known (`bootcsum`, from its boot entry): for installing them into
/// `/boot` without hashing them again.
pub fn locate(root: &Path, no_dtb: bool, bootcsum: &str) -> Result<KernelLayout, Error> {
    pick(modules_layout(root, no_dtb, BootCsum::Given(bootcsum))?, legacy_layout(root)?)
}

fn pick(modules: Option<KernelLayout>, legacy: Option<KernelLayout>) -> Result<KernelLayout, Error> {
    match (modules, legacy) {
        (Some(m), Some(l)) if m.initramfs.is_none() && l.initramfs.is_some() => Ok(l),
        (Some(m), _) => Ok(m),
        (None, Some(l)) => Ok(l),
        (None, None) => {
            Err(Error::Invalid("Failed to find kernel in /usr/lib/modules, /usr/lib/ostree-boot or /boot".into()))
        }
    }
}

/// Hardlinks `src` to `dest`, or copies it (keeping mode and owner) when
/// they are on different file systems or the link count is exhausted.
pub(crate) fn link_or_copy(src: &Path, dest: &Path) -> Result<(), Error> {
    crate::fsops::point("link", dest)?;
    match std::fs::hard_link(src, dest) {
        Ok(()) => Ok(()),
        Err(e)
            if [rustix::io::Errno::XDEV, rustix::io::Errno::MLINK]
                .iter()
                .any(|x| e.raw_os_error() == Some(x.raw_os_error())) =>
        {
            copy_file(src, dest)
        }
        Err(e) => Err(Error::Io(dest.display().to_string(), e)),
    }
}

/// Copies a regular file with its mode and owner, durably, through a
/// temporary name.
pub(crate) fn copy_file(src: &Path, dest: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(src).map_err(Error::io(src))?;
    let tmp = dest.with_file_name(format!(".{}.tmp", dest.file_name().unwrap_or_default().to_string_lossy()));
    std::fs::copy(src, &tmp).map_err(Error::io(&tmp))?;
    let _ = std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid()));
    std::fs::set_permissions(&tmp, meta.permissions()).map_err(Error::io(&tmp))?;
    crate::fsops::fsync(&tmp)?;
    crate::fsops::rename(&tmp, dest)
}

fn link_tree(src: &Path, dest: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dest).map_err(Error::io(dest))?;
    for e in std::fs::read_dir(src).map_err(Error::io(src))? {
        let e = e.map_err(Error::io(src))?;
        let t = e.file_type().map_err(Error::io(&e.path()))?;
        let d = dest.join(e.file_name());
        if t.is_dir() {
            link_tree(&e.path(), &d)?;
        } else if t.is_file() && d.symlink_metadata().is_err() {
            link_or_copy(&e.path(), &d)?;
        }
    }
    Ok(())
}

/// Installs the kernel files of the deployment at `root` into `bootdir`
/// (`SYSROOT/boot/ostree/STATEROOT-BOOTCSUM`), each only if it is not there.
pub fn install(root: &Path, layout: &KernelLayout, bootdir: &Path) -> Result<(), Error> {
    if !bootdir.is_dir() {
        // 0775 less the umask, as OSTree makes it.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o775).create(bootdir).map_err(Error::io(bootdir))?;
    }
    let src = root.join(&layout.dir);
    for (s, d) in layout.files() {
        let dest = bootdir.join(d);
        if dest.symlink_metadata().is_err() {
            link_or_copy(&src.join(s), &dest)?;
        }
    }
    if let Some(d) = &layout.dtb_dir {
        link_tree(&src.join(d), &bootdir.join("dtb"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("oxtree-kernel-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn sha(parts: &[&[u8]]) -> String {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn modules_layout_checksums_kernel_initramfs_and_dtb_in_name_order() {
        let d = tmp("modules");
        let k = d.join("usr/lib/modules/3.6.0");
        std::fs::create_dir_all(k.join("dtb/overlays")).unwrap();
        std::fs::write(k.join("vmlinuz"), "a kernel\n").unwrap();
        std::fs::write(k.join("initramfs.img"), "an initramfs\n").unwrap();
        std::fs::write(k.join(".vmlinuz.hmac"), "an hmac\n").unwrap();
        std::fs::write(k.join("dtb/overlays/overlay.dtbo"), "o").unwrap();
        std::fs::write(k.join("dtb/asoc-board.dtb"), "b").unwrap();
        let l = find(&d, false, &[]).unwrap();
        assert_eq!(l.bootcsum, sha(&[b"a kernel\n", b"an initramfs\n", b"b", b"o"]));
        assert_eq!(l.kernel.1, "vmlinuz-3.6.0");
        assert_eq!(l.initramfs.as_ref().unwrap().1, "initramfs-3.6.0.img");
        assert_eq!(l.hmac.as_ref().unwrap().1, ".vmlinuz-3.6.0.hmac");
        assert_eq!(l.dtb_dir.as_deref(), Some("dtb"));
        let nodtb = find(&d, true, &[]).unwrap();
        assert_eq!(nodtb.bootcsum, sha(&[b"a kernel\n", b"an initramfs\n"]));
        let boot = d.join("boot-out");
        install(&d, &l, &boot).unwrap();
        assert_eq!(std::fs::read(boot.join("dtb/overlays/overlay.dtbo")).unwrap(), b"o");
        assert_eq!(std::fs::read(boot.join("vmlinuz-3.6.0")).unwrap(), b"a kernel\n");
        std::fs::create_dir_all(d.join("usr/lib/modules/3.7.0")).unwrap();
        std::fs::write(d.join("usr/lib/modules/3.7.0/vmlinuz"), "k2").unwrap();
        assert!(find(&d, false, &[]).unwrap_err().to_string().contains("more than one kernel"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn boot_checksum_is_reused_only_for_the_same_inodes() {
        let d = tmp("reuse");
        let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
        let k = "usr/lib/modules/6.1.0";
        for r in [&a, &b, &c] {
            std::fs::create_dir_all(r.join(k)).unwrap();
        }
        std::fs::write(a.join(k).join("vmlinuz"), "a kernel\n").unwrap();
        std::fs::write(a.join(k).join("initramfs.img"), "an initramfs\n").unwrap();
        let real = sha(&[b"a kernel\n", b"an initramfs\n"]);
        for f in ["vmlinuz", "initramfs.img"] {
            // b: hardlinks (a checkout of the same objects); c: copies.
            std::fs::hard_link(a.join(k).join(f), b.join(k).join(f)).unwrap();
            std::fs::copy(a.join(k).join(f), c.join(k).join(f)).unwrap();
        }
        // A marker checksum shows whether it was taken or computed.
        let known = vec![(a.clone(), "taken".to_string())];
        assert_eq!(find(&b, false, &known).unwrap().bootcsum, "taken");
        assert_eq!(find(&c, false, &known).unwrap().bootcsum, real);
        // A device tree beside them: always hashed.
        std::fs::write(b.join(k).join("devicetree"), "dt").unwrap();
        assert_eq!(find(&b, false, &known).unwrap().bootcsum, sha(&[b"a kernel\n", b"an initramfs\n", b"dt"]));
        std::fs::remove_file(b.join(k).join("devicetree")).unwrap();
        // The other deployment has a device tree, which its checksum counts.
        std::fs::write(a.join(k).join("devicetree"), "dt").unwrap();
        assert_eq!(find(&b, false, &known).unwrap().bootcsum, real);
        // Known: nothing is read.
        assert_eq!(locate(&c, false, "given").unwrap().bootcsum, "given");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn legacy_layout_takes_the_checksum_from_names() {
        let d = tmp("legacy");
        let b = d.join("usr/lib/ostree-boot");
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("vmlinuz-3.6.0-abc"), "k").unwrap();
        std::fs::write(b.join("initramfs-3.6.0.img-abc"), "i").unwrap();
        // A modules kernel without initramfs loses to a legacy one with.
        std::fs::create_dir_all(d.join("usr/lib/modules/3.6.0")).unwrap();
        std::fs::write(d.join("usr/lib/modules/3.6.0/vmlinuz"), "k").unwrap();
        let l = find(&d, false, &[]).unwrap();
        assert_eq!(l.bootcsum, "abc");
        assert_eq!(l.kernel, ("vmlinuz-3.6.0-abc".into(), "vmlinuz-3.6.0".into()));
        assert_eq!(l.initramfs, Some(("initramfs-3.6.0.img-abc".into(), "initramfs-3.6.0.img".into())));
        std::fs::write(b.join("initramfs-3.6.0.img-abd"), "i").unwrap();
        std::fs::remove_file(b.join("initramfs-3.6.0.img-abc")).unwrap();
        assert!(find(&d, false, &[]).is_err());
        std::fs::remove_dir_all(&d).unwrap();
        assert!(find(&d, false, &[]).unwrap_err().to_string().contains("Failed to find kernel"));
    }
}
