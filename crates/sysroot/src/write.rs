//! Replacing the deployment list: the atomic boot-configuration swap.
//!
//! Two levels, as OSTree does it:
//! - When the boot menu would not change (same number of deployments and,
//!   position by position, same stateroot, boot checksum, kernel arguments
//!   and commit version), only the *bootlinks* change: a fresh
//!   `ostree/boot.B.(1-S)` is built and `ostree/boot.B` is repointed to it
//!   by renaming a symlink over it. The BLS entries' `ostree=` arguments go
//!   through `ostree/boot.B`, so they now reach the new deployments.
//! - Otherwise a complete new boot version `NB = 1-B` is written beside the
//!   live one: kernels into `boot/ostree/STATEROOT-BOOTCSUM/`, entries into
//!   `boot/loader.NB/entries/`, bootlinks `ostree/boot.NB.*`, the
//!   bootloader's own file, then everything is synced and
//!   `boot/loader.tmp -> loader.NB` is renamed onto `boot/loader`: the one
//!   step that changes what boots.
//!
//! Either way nothing the live configuration refers to is touched before
//! the rename, so a crash at any point boots the old list or the new one.

use std::collections::HashMap;
use std::path::Path;

use oxtree_bootloader::BootEntry;
use oxtree_store::gvariant::Value;

use crate::fsops::{self, remove_all, swap_symlink};
use crate::load::read_version_link;
use crate::{kernel, Deployment, Error, KernelArgs, Sysroot};

/// How to write a deployment list.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Do not clean up afterwards (old boot versions, deployments no longer
    /// listed, unused kernels, deployment refs).
    pub no_cleanup: bool,
    /// Do not prune the system repository in the clean-up.
    pub no_prune: bool,
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// A new boot version was written (else only bootlinks changed).
    pub bootconfig_swap: bool,
    /// The boot version now live.
    pub bootversion: u32,
    /// The sub-boot version now live.
    pub subbootversion: u32,
    /// New count minus old count.
    pub count_change: i64,
    /// Whether the bootloader switched atomically with `boot/loader`.
    pub atomic: bool,
    /// Bytes freed by pruning the repository, if it was pruned.
    pub freed: Option<u64>,
}

impl WriteReport {
    /// OSTree's summary line.
    pub fn message(&self) -> String {
        format!(
            "{}; bootconfig swap: {}; bootversion: boot.{}.{}, deployment count change: {}",
            if !self.bootconfig_swap || self.atomic { "Transaction complete" } else { "Bootloader updated" },
            if self.bootconfig_swap { "yes" } else { "no" },
            self.bootversion,
            self.subbootversion,
            self.count_change
        )
    }
}

/// `strerror`-style text of an I/O error, without Rust's " (os error N)".
pub(crate) fn errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Sets the mtime of `ostree/deploy` to now: readers watch it for changes.
pub(crate) fn bump_mtime(sysroot: &Path) -> Result<(), Error> {
    let p = sysroot.join("ostree/deploy");
    let now = std::time::SystemTime::now();
    std::fs::File::open(&p).and_then(|f| f.set_modified(now)).map_err(Error::io(&p))
}

/// Builds `ostree/boot.B.S` with a link per deployment (not yet pointed
/// to: see [`swap_bootlinks`]).
fn write_bootlinks(sysroot: &Path, b: u32, s: u32, deployments: &[Deployment]) -> Result<(), Error> {
    let dir = sysroot.join(format!("ostree/boot.{b}.{s}"));
    remove_all(&dir)?;
    std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    for d in deployments {
        let parent = dir.join(&d.stateroot).join(&d.bootcsum);
        std::fs::create_dir_all(&parent).map_err(Error::io(&parent))?;
        let link = parent.join(d.bootserial.to_string());
        std::os::unix::fs::symlink(format!("../../../deploy/{}/deploy/{}", d.stateroot, d.name()), &link)
            .map_err(Error::io(&link))?;
    }
    for d in deployments {
        fsops::fsync(&dir.join(&d.stateroot).join(&d.bootcsum))?;
    }
    fsops::fsync(&dir)
}

/// Makes `ostree/boot.B` point to `boot.B.S`.
fn swap_bootlinks(sysroot: &Path, b: u32, s: u32) -> Result<(), Error> {
    swap_symlink(&sysroot.join(format!("ostree/boot.{b}")), &format!("boot.{b}.{s}"))
}

/// `NAME=value` pairs of an os-release file (values unquoted).
pub(crate) fn parse_os_release(text: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        m.insert(k.trim().to_string(), unquote(v.trim()));
    }
    m
}

fn unquote(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

impl Sysroot {
    /// The `version` metadata of a deployment's commit.
    pub fn commit_version(&self, d: &Deployment) -> Option<String> {
        let c = oxtree_store::Checksum::from_hex(&d.csum).ok()?;
        let commit = self.repo().load_commit(&c).ok()?;
        commit.metadata.get("version").and_then(Value::as_str).map(str::to_string)
    }

    /// Whether two deployments give the same boot entry (`versions`: each
    /// commit's `version`, read once per write).
    fn same_boot_config(a: &Deployment, b: &Deployment, versions: &HashMap<String, Option<String>>) -> bool {
        a.bootcsum == b.bootcsum
            // By checksum, in order (the paths differ with `bootprefix`).
            && crate::overlay::checksums(&a.bootconfig).ok() == crate::overlay::checksums(&b.bootconfig).ok()
            && a.kargs_without_ostree() == b.kargs_without_ostree()
            && a.stateroot == b.stateroot
            && versions.get(&a.csum) == versions.get(&b.csum)
    }

    /// The boot entry of `d` (at `index` of `n`) for boot version `nb`,
    /// installing its kernel into `/boot` first.
    fn boot_entry(
        &self,
        d: &Deployment,
        version: Option<&str>,
        n: usize,
        nb: u32,
        multi_os: bool,
        bootprefix: bool,
    ) -> Result<BootEntry, Error> {
        let root = self.deployment_dir(d);
        let layout = kernel::locate(&root, self.debug().no_dtb, &d.bootcsum)?;
        let bootdir_name = format!("{}-{}", d.stateroot, d.bootcsum);
        kernel::install(&root, &layout, &self.path().join("boot/ostree").join(&bootdir_name))?;
        let mut e = d.bootconfig.clone();
        let os_release = ["usr/lib/os-release", "etc/os-release"]
            .iter()
            .find_map(|p| std::fs::read_to_string(root.join(p)).ok())
            .map(|t| parse_os_release(&t))
            .unwrap_or_default();
        let name = os_release
            .get("PRETTY_NAME")
            .or_else(|| os_release.get("ID"))
            .ok_or_else(|| Error::Invalid(format!("{}: No PRETTY_NAME or ID in /etc/os-release", d.relative_dir())))?;
        let mut title = name.clone();
        if let Some(v) = version.filter(|v| !v.is_empty()) {
            if !name.contains(v) {
                title.push(' ');
                title.push_str(v);
            }
        }
        title.push_str(" (ostree");
        if multi_os {
            title.push(':');
            title.push_str(&d.stateroot);
        }
        title.push_str(&format!(":{})", d.index));
        e.set("title", &title);
        e.set("version", &(n - d.index).to_string());
        let prefix = if bootprefix { "/boot" } else { "" };
        let path = |name: &str| format!("{prefix}/ostree/{bootdir_name}/{name}");
        e.set("linux", &path(&layout.kernel.1));
        let bootlink = format!("/ostree/boot.{nb}/{}/{}/{}", d.stateroot, d.bootcsum, d.bootserial);
        let mut kargs = KernelArgs::parse(e.get("options").unwrap_or(""));
        let overlays = crate::overlay::checksums(&d.bootconfig)?;
        match &layout.initramfs {
            Some((_, dest)) => {
                e.set("initrd", &path(dest));
                for c in &overlays {
                    crate::overlay::install(self.path(), c)?;
                }
                e.set_overlay_initrds(overlays.iter().map(|c| crate::overlay::entry_path(prefix, c)).collect());
                if kargs
                    .values("init")
                    .iter()
                    .any(|v| v.is_some_and(|v| v.ends_with("/usr/lib/ostree/ostree-prepare-root")))
                {
                    kargs.remove_key("init");
                }
            }
            None => {
                // Overlays go on top of a main initramfs; without one, none.
                e.remove("initrd");
                e.set_overlay_initrds(Vec::new());
                kargs.replace(&format!("init={bootlink}/usr/lib/ostree/ostree-prepare-root"));
            }
        }
        e.remove("devicetree");
        e.remove("fdtdir");
        if let Some((_, dest)) = &layout.devicetree {
            e.set("devicetree", &path(dest));
        } else if layout.dtb_dir.is_some() {
            e.set("fdtdir", &path("dtb"));
        }
        kargs.replace(&format!("ostree={bootlink}"));
        e.set("options", &kargs.to_string());
        Ok(e)
    }

    /// Makes `new` (in boot order) the deployment list.
    ///
    /// Every deployment in it must be checked out; the booted one must be
    /// in it. Afterwards the sysroot is reloaded and, unless
    /// [`WriteOptions::no_cleanup`], cleaned up.
    pub fn write_deployments(&mut self, new: Vec<Deployment>, opts: &WriteOptions) -> Result<WriteReport, Error> {
        let mut new = new;
        // A staged deployment has no boot entry: it stays staged only if the
        // new list starts with it, else it is dropped.
        let staged = self.staged_deployment().cloned();
        let keep_staged = staged.as_ref().is_some_and(|s| new.first().is_some_and(|f| f.same(s)));
        new.retain(|d| !d.staged && !staged.as_ref().is_some_and(|s| s.same(d)));
        let old: Vec<Deployment> = self.deployments().iter().filter(|d| !d.staged).cloned().collect();
        if let Some(b) = self.booted_deployment() {
            if !new.iter().any(|d| d.same(b)) {
                return Err(Error::Invalid("Attempting to remove booted deployment".into()));
            }
        }
        let mut serials: HashMap<String, u32> = HashMap::new();
        for (i, d) in new.iter_mut().enumerate() {
            let dir = self.path().join(d.relative_dir());
            if !dir.is_dir() {
                return Err(Error::Invalid(format!("{}: deployment directory is missing", dir.display())));
            }
            d.index = i;
            let s = serials.entry(d.bootcsum.clone()).or_insert(0);
            d.bootserial = *s;
            *s += 1;
        }
        let old_len = self.deployments().len();
        let mut versions: HashMap<String, Option<String>> = HashMap::new();
        for d in new.iter().chain(&old) {
            if !versions.contains_key(&d.csum) {
                versions.insert(d.csum.clone(), self.commit_version(d));
            }
        }
        let swap =
            new.len() != old.len() || new.iter().zip(&old).any(|(a, b)| !Self::same_boot_config(a, b, &versions));
        let sysroot = self.path().to_path_buf();
        let (b, s) = (self.bootversion(), self.subbootversion());
        let backend = self.bootloader()?;
        if let Some(st) = staged.as_ref().filter(|_| !keep_staged) {
            crate::staged::discard(self, st)?;
        }
        let count_change = (new.len() + usize::from(keep_staged)) as i64 - old_len as i64;
        // (boot config swapped, boot version, sub-boot version, atomic)
        let written: (bool, u32, u32, bool);
        if staged.is_some() && !swap && new.iter().zip(&old).all(|(a, b)| a.same(b)) {
            // Only the staged deployment changed: the boot configuration
            // stays as it is.
            written = (false, b, s, true);
        } else if !swap {
            // The live boot version's bootlinks: their swap is the commit
            // point, after everything is on disk.
            let ns = 1 - s;
            write_bootlinks(&sysroot, b, ns, &new)?;
            self.full_sync()?;
            swap_bootlinks(&sysroot, b, ns)?;
            written = (false, b, ns, true);
        } else {
            let nb = 1 - b;
            let bootprefix =
                self.repo().config().get("sysroot", "bootprefix").and_then(oxtree_store::repo::KeyFile::parse_bool)
                    == Some(true);
            let loader = sysroot.join(format!("boot/loader.{nb}"));
            let entries_dir = loader.join("entries");
            remove_all(&entries_dir)?;
            std::fs::create_dir_all(&entries_dir).map_err(Error::io(&entries_dir))?;
            let multi_os = new.iter().any(|d| d.stateroot != new[0].stateroot);
            let n = new.len();
            let mut entries = Vec::with_capacity(n);
            for d in &new {
                let version = versions.get(&d.csum).cloned().flatten();
                let e = self.boot_entry(d, version.as_deref(), n, nb, multi_os, bootprefix)?;
                fsops::write_atomic(
                    &entries_dir.join(format!("ostree-{}-{}.conf", n - d.index, d.stateroot)),
                    e.to_text().as_bytes(),
                )?;
                entries.push(e);
            }
            fsops::fsync(&entries_dir)?;
            for (d, e) in new.iter_mut().zip(&entries) {
                d.bootconfig = e.clone();
            }
            let ns = 1 - read_version_link(&sysroot.join(format!("ostree/boot.{nb}")), &format!("boot.{nb}"))?;
            write_bootlinks(&sysroot, nb, ns, &new)?;
            // Not live until `boot/loader` names loader.NB.
            swap_bootlinks(&sysroot, nb, ns)?;
            let default_tree = new.first().map(|d| self.deployment_dir(d));
            backend.write_config(&sysroot, nb, &entries, default_tree.as_deref(), bootprefix)?;
            let boot = sysroot.join("boot");
            if boot.join("boot").symlink_metadata().is_err() {
                std::os::unix::fs::symlink(".", boot.join("boot")).map_err(Error::io(&boot.join("boot")))?;
            }
            fsops::fsync(&loader)?;
            self.full_sync()?;
            swap_symlink(&boot.join("loader"), &format!("loader.{nb}"))?;
            written = (true, nb, ns, backend.is_atomic());
        }
        let (bootconfig_swap, bootversion, subbootversion, atomic) = written;
        let mut report =
            WriteReport { bootconfig_swap, bootversion, subbootversion, count_change, atomic, freed: None };
        bump_mtime(&sysroot)?;
        self.reload()?;
        if !opts.no_cleanup {
            report.freed = crate::cleanup::cleanup(self, !opts.no_prune)?;
        }
        Ok(report)
    }

    /// Flushes every file system write before the commit point: `syncfs`
    /// of the file system holding the repository and of the one holding
    /// `/boot`. (OSTree also freezes and thaws `/boot` to flush an XFS
    /// journal GRUB cannot replay; we do not freeze.)
    fn full_sync(&self) -> Result<(), Error> {
        if self.debug().test_fifreeze {
            eprintln!("fifreeze watchdog was run");
            return Err(Error::Invalid("Full sync: During fsfreeze-thaw: aborting due to test-fifreeze".into()));
        }
        fsops::syncfs(&self.path().join("ostree"))?;
        fsops::syncfs(&self.path().join("boot"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_values_are_unquoted() {
        let m = parse_os_release("NAME=TestOS\nPRETTY_NAME=\"TestOS 42\"\n# c\nID='x y'\nBAD\nE=a\\ b\n");
        assert_eq!(m["PRETTY_NAME"], "TestOS 42");
        assert_eq!(m["ID"], "x y");
        assert_eq!(m["E"], "a b");
    }

    #[test]
    fn message_words() {
        let mut r = WriteReport {
            bootconfig_swap: true,
            bootversion: 1,
            subbootversion: 1,
            count_change: 1,
            atomic: true,
            freed: None,
        };
        assert_eq!(
            r.message(),
            "Transaction complete; bootconfig swap: yes; bootversion: boot.1.1, deployment count change: 1"
        );
        r.atomic = false;
        assert!(r.message().starts_with("Bootloader updated;"));
        r.bootconfig_swap = false;
        r.count_change = -1;
        assert_eq!(
            r.message(),
            "Transaction complete; bootconfig swap: no; bootversion: boot.1.1, deployment count change: -1"
        );
    }
}
