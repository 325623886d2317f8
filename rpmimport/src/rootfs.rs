//! Making any root file system deployable by OSTree (`compose rootfs`):
//! what a debootstrap, a Yocto image or an unpacked tarball lacks.
//!
//! On the tree committed from the directory:
//! - the kernel goes where OSTree looks first: `boot/vmlinuz-KVER` to
//!   `usr/lib/modules/KVER/vmlinuz`, `boot/initrd.img-KVER` (Debian) or
//!   `boot/initramfs-KVER.img` (Fedora) to `initramfs.img` beside it,
//!   `config-KVER` and `System.map-KVER` as `config` and `System.map`;
//!   exactly one kernel, a clear error otherwise; `/boot` is left empty
//!   and the root's `vmlinuz*`/`initrd.img*` links (into `/boot`) go;
//! - `/etc` becomes `usr/etc`, the defaults OSTree merges into each
//!   deployment's `/etc`;
//! - `/var` is per stateroot and starts empty in a deployment, so its
//!   contents become `tmpfiles.d` lines in
//!   `usr/lib/tmpfiles.d/oxtree-rootfs.conf`: `d` for directories (mode
//!   and numeric owner kept), `L` for symlinks, and `C` for files, whose
//!   content is kept under `usr/share/factory/var/` (systemd-tmpfiles
//!   copies it on first boot);
//! - `/home`, `/srv`, `/mnt`, `/opt`, `/root`, `/media` and `/usr/local`
//!   become OSTree's usual symlinks (`var/home`, `var/srv`, `var/mnt`,
//!   `var/opt`, `var/roothome`, `run/media`, `../var/usrlocal`), their
//!   contents handled as `/var`'s;
//! - an empty `/sysroot` and the `ostree` → `sysroot/ostree` link are
//!   added when missing.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oxtree_store::build::MutableTree;
use oxtree_store::object::{FileHeader, Xattrs};
use oxtree_store::repo::Transaction;
use oxtree_store::{Checksum, Error as StoreError};

use crate::paths::tmpfiles_path;

/// Why a root file system cannot be made deployable.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// No kernel anywhere OSTree or a distribution puts one.
    #[error("no kernel: neither usr/lib/modules/KVER/vmlinuz nor boot/vmlinuz-KVER is in {0}")]
    NoKernel(String),
    /// More than one.
    #[error("more than one kernel in {dir}: {kvers}")]
    TwoKernels {
        /// The root file system.
        dir: String,
        /// Their versions.
        kvers: String,
    },
    /// Both `/etc` and `/usr/etc`.
    #[error("{0} has both etc and usr/etc; OSTree takes the defaults from usr/etc only")]
    TwoEtcs(String),
    /// Reading the directory.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`make_deployable`] did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The kernel version.
    pub kver: String,
    /// Whether an initramfs was found.
    pub initramfs: bool,
    /// The `tmpfiles.d` lines written.
    pub tmpfiles: Vec<String>,
}

/// The toplevel directories that become symlinks: (path, link target, the
/// directory under /var that holds their contents, its mode).
const PERSISTENT: &[(&str, &str, &str, u32)] = &[
    ("home", "var/home", "/var/home", 0o755),
    ("srv", "var/srv", "/var/srv", 0o755),
    ("mnt", "var/mnt", "/var/mnt", 0o755),
    ("opt", "var/opt", "/var/opt", 0o755),
    ("root", "var/roothome", "/var/roothome", 0o700),
    ("media", "run/media", "/run/media", 0o755),
    ("usr/local", "../var/usrlocal", "/var/usrlocal", 0o755),
];

fn dir_mut<'a>(t: &'a mut MutableTree, path: &[&str]) -> Option<&'a mut MutableTree> {
    let mut cur = t;
    for c in path {
        cur = cur.dirs.get_mut(*c)?;
    }
    Some(cur)
}

/// Makes the tree committed from `src` deployable (see the module docs).
pub fn make_deployable(
    tx: &Transaction<'_>,
    src: &Path,
    tree: &mut MutableTree,
    default_meta: Checksum,
) -> Result<Report, RootfsError> {
    let name = src.display().to_string();
    let mut report = Report { kver: kernel(tree, &name, default_meta)?, ..Default::default() };
    report.initramfs = tree
        .dirs
        .get("usr")
        .and_then(|u| u.dirs.get("lib"))
        .and_then(|l| l.dirs.get("modules"))
        .and_then(|m| m.dirs.get(&report.kver))
        .is_some_and(|k| k.files.contains_key("initramfs.img"));

    if let Some(etc) = tree.dirs.remove("etc") {
        let usr = tree.ensure_dir(&["usr"], default_meta)?;
        if usr.dirs.contains_key("etc") {
            return Err(RootfsError::TwoEtcs(name));
        }
        usr.dirs.insert("etc".into(), etc);
    }

    let mut lines = Vec::new();
    let mut factory = MutableTree { meta: Some(default_meta), ..Default::default() };
    // /var's contents (its own directory stays, empty).
    if let Some(var) = tree.dirs.get_mut("var") {
        let contents = std::mem::take(&mut var.dirs);
        let files = std::mem::take(&mut var.files);
        let moved = MutableTree { meta: var.meta, dirs: contents, files };
        walk_to_tmpfiles(&src.join("var"), "/var", false, &mut lines)?;
        factory.dirs.insert("var".into(), moved);
    }
    for (path, target, var_path, mode) in PERSISTENT {
        let parts: Vec<&str> = path.split('/').collect();
        let Some((leaf, parent_path)) = parts.split_last() else { continue };
        let Some(parent) = dir_mut(tree, parent_path) else { continue };
        if parent.files.contains_key(*leaf) {
            continue; // already a link (or a file, left alone)
        }
        let old = parent.dirs.remove(*leaf);
        parent.files.insert((*leaf).to_string(), symlink(tx, target)?);
        lines.push(format!("d {} {mode:04o} root root - -", tmpfiles_path(var_path)));
        // What was in it is kept as /var's contents are (/run's is not kept).
        if let (Some(d), false) = (old, var_path.starts_with("/run/")) {
            walk_to_tmpfiles(&src.join(path), var_path, true, &mut lines)?;
            let rel: Vec<&str> = var_path.trim_start_matches('/').split('/').collect();
            if let Some((last, dirs)) = rel.split_last() {
                factory.ensure_dir(dirs, default_meta)?.dirs.insert((*last).to_string(), d);
            }
        }
    }
    if !factory.dirs.is_empty() {
        let share = tree.ensure_dir(&["usr", "share", "factory"], default_meta)?;
        share.merge(factory);
    }
    sysroot_links(tx, tree, default_meta)?;
    if !lines.is_empty() {
        let mut text = lines.join("\n");
        text.push('\n');
        let header =
            FileHeader { uid: 0, gid: 0, mode: 0o100644, symlink_target: String::new(), xattrs: Xattrs::new() };
        let csum = tx.write_file_bytes(&header, text.as_bytes())?;
        tree.ensure_dir(&["usr", "lib", "tmpfiles.d"], default_meta)?.put_file("oxtree-rootfs.conf", csum)?;
    }
    report.tmpfiles = lines;
    Ok(report)
}

/// Adds what a deployment's root needs and packages do not ship (as
/// rpm-ostree's compose does): an empty `/sysroot` and the `ostree` →
/// `sysroot/ostree` link, each unless the tree has that name already.
pub fn sysroot_links(tx: &Transaction<'_>, tree: &mut MutableTree, default_meta: Checksum) -> Result<(), StoreError> {
    if !tree.dirs.contains_key("sysroot") && !tree.files.contains_key("sysroot") {
        tree.ensure_dir(&["sysroot"], default_meta)?;
    }
    if !tree.dirs.contains_key("ostree") && !tree.files.contains_key("ostree") {
        let link = symlink(tx, "sysroot/ostree")?;
        tree.files.insert("ostree".into(), link);
    }
    Ok(())
}

fn symlink(tx: &Transaction<'_>, target: &str) -> Result<Checksum, StoreError> {
    let h = FileHeader { uid: 0, gid: 0, mode: 0o120777, symlink_target: target.to_string(), xattrs: Xattrs::new() };
    tx.write_file_bytes(&h, b"")
}

/// tmpfiles.d lines that recreate the directory `dir` at `at`: its
/// directories (`d`, and the top one itself only when `top` is false:
/// `/var` exists in every deployment), symlinks (`L`) and files (`C`, from
/// `/usr/share/factory`).
fn walk_to_tmpfiles(dir: &Path, at: &str, top_done: bool, lines: &mut Vec<String>) -> Result<(), RootfsError> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e| RootfsError::Io(p, e)
    };
    let md = match std::fs::symlink_metadata(dir) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(dir)(e)),
    };
    if !md.is_dir() {
        return Ok(());
    }
    if !top_done && at != "/var" {
        lines.push(format!("d {} {:04o} {} {} - -", tmpfiles_path(at), md.mode() & 0o7777, md.uid(), md.gid()));
    }
    let mut entries = BTreeMap::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let e = e.map_err(io(dir))?;
        entries.insert(e.file_name().to_string_lossy().into_owned(), e.path());
    }
    for (name, p) in entries {
        let child = format!("{at}/{name}");
        let md = std::fs::symlink_metadata(&p).map_err(io(&p))?;
        let ft = md.file_type();
        if ft.is_dir() {
            walk_to_tmpfiles(&p, &child, false, lines)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&p).map_err(io(&p))?;
            lines.push(format!("L {} - - - - {}", tmpfiles_path(&child), target.display()));
        } else if ft.is_file() {
            lines.push(format!("C {} - - - - /usr/share/factory{}", tmpfiles_path(&child), tmpfiles_path(&child)));
        }
    }
    Ok(())
}

/// Moves the one kernel (and its initramfs, config and System.map) into
/// `usr/lib/modules/KVER/`; returns KVER.
fn kernel(tree: &mut MutableTree, name: &str, default_meta: Checksum) -> Result<String, RootfsError> {
    let boot_files: BTreeMap<String, Checksum> = tree.dirs.get("boot").map(|b| b.files.clone()).unwrap_or_default();
    let modules = tree.dirs.get("usr").and_then(|u| u.dirs.get("lib")).and_then(|l| l.dirs.get("modules"));
    let mut kvers: Vec<String> = Vec::new();
    if let Some(m) = modules {
        for (kver, d) in &m.dirs {
            if d.files.contains_key("vmlinuz") || boot_files.contains_key(&format!("vmlinuz-{kver}")) {
                kvers.push(kver.clone());
            }
        }
    }
    for f in boot_files.keys() {
        if let Some(kver) = f.strip_prefix("vmlinuz-") {
            if !kvers.iter().any(|k| k == kver) && !f.ends_with(".hmac") {
                kvers.push(kver.to_string());
            }
        }
    }
    let kver = match kvers.as_slice() {
        [] => return Err(RootfsError::NoKernel(name.to_string())),
        [k] => k.clone(),
        _ => return Err(RootfsError::TwoKernels { dir: name.to_string(), kvers: kvers.join(", ") }),
    };
    let kdir = tree.ensure_dir(&["usr", "lib", "modules", &kver], default_meta)?;
    for (from, to) in [
        (format!("vmlinuz-{kver}"), "vmlinuz"),
        (format!("initrd.img-{kver}"), "initramfs.img"),
        (format!("initramfs-{kver}.img"), "initramfs.img"),
        (format!("config-{kver}"), "config"),
        (format!("System.map-{kver}"), "System.map"),
    ] {
        if let Some(c) = boot_files.get(&from) {
            kdir.files.entry(to.to_string()).or_insert(*c);
        }
    }
    if let Some(boot) = tree.dirs.get_mut("boot") {
        boot.files.clear();
        boot.dirs.clear();
    }
    tree.files.retain(|n, _| !(n.starts_with("vmlinuz") || n.starts_with("initrd.img")));
    Ok(kver)
}
