//! Removing what the live deployment list no longer refers to.
//!
//! In order, as OSTree does: the other boot version's `boot/loader.N` and
//! `ostree/boot.N*`, and the live boot version's other bootlink set;
//! deployment directories (and `.origin` files) not in the list, never the
//! running root; `boot/ostree/STATEROOT-BOOTCSUM` directories no
//! deployment uses; then the deployment refs (`ostree/B/S/I` in the system
//! repo, one per deployment, so that pruning keeps their commits), and a
//! prune of the system repo down to what refs reach.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oxtree_store::prune::{prune, PruneOptions};
use oxtree_store::Checksum;

use crate::fsops::remove_all;
use crate::load::parse_deploy_name;
use crate::{Error, Sysroot};

/// Cleans up `sysroot`; prunes its repository when `prune_repo`. Returns
/// the bytes pruning freed.
pub fn cleanup(sysroot: &Sysroot, prune_repo: bool) -> Result<Option<u64>, Error> {
    let root = sysroot.path();
    let (b, s) = (sysroot.bootversion(), sysroot.subbootversion());
    let (ob, os) = (1 - b, 1 - s);
    for p in [
        format!("boot/loader.{ob}"),
        format!("ostree/boot.{ob}"),
        format!("ostree/boot.{ob}.0"),
        format!("ostree/boot.{ob}.1"),
        format!("ostree/boot.{b}.{os}"),
    ] {
        remove_all(&root.join(p))?;
    }
    remove_old_deployments(sysroot)?;
    remove_unused_kernels(sysroot)?;
    crate::overlay::cleanup(sysroot)?;
    write_deployment_refs(sysroot)?;
    if !prune_repo {
        return Ok(None);
    }
    let opts = PruneOptions { refs_only: true, depth: 0, ..Default::default() };
    let report = prune(sysroot.repo(), &opts)?;
    Ok(Some(report.freed))
}

fn remove_old_deployments(sysroot: &Sysroot) -> Result<(), Error> {
    let root = sysroot.path();
    let active: HashSet<String> = sysroot.deployments().iter().map(|d| d.relative_dir()).collect();
    let running_root = std::fs::metadata("/").ok().map(|m| (m.dev(), m.ino()));
    let deploy = root.join("ostree/deploy");
    let Ok(states) = std::fs::read_dir(&deploy) else { return Ok(()) };
    for st in states.filter_map(|e| e.ok()) {
        let os = st.file_name().to_string_lossy().into_owned();
        let dir = deploy.join(&os).join("deploy");
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        let mut names: Vec<String> =
            rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        for name in names {
            let base = name.strip_suffix(".origin").unwrap_or(&name);
            if parse_deploy_name(base).is_none() || active.contains(&format!("ostree/deploy/{os}/deploy/{base}")) {
                continue;
            }
            let path = dir.join(&name);
            if name.ends_with(".origin") {
                // Its directory goes first (below, or already); an origin
                // without a directory is a leftover.
                if !dir.join(base).exists() {
                    remove_all(&path)?;
                }
                continue;
            }
            let meta = path.symlink_metadata().map_err(Error::io(&path))?;
            if Some((meta.dev(), meta.ino())) == running_root {
                continue;
            }
            crate::fsops::set_immutable(&path, false);
            remove_all(&deploy.join(&os).join("backing").join(&name))?;
            let mut origin = path.clone().into_os_string();
            origin.push(".origin");
            remove_all(Path::new(&origin))?;
            remove_all(&path)?;
        }
    }
    Ok(())
}

fn remove_unused_kernels(sysroot: &Sysroot) -> Result<(), Error> {
    let used: HashSet<String> =
        sysroot.deployments().iter().map(|d| format!("{}-{}", d.stateroot, d.bootcsum)).collect();
    let dir = sysroot.path().join("boot/ostree");
    let Ok(rd) = std::fs::read_dir(&dir) else { return Ok(()) };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((_, csum)) = name.rsplit_once('-') else { continue };
        if csum.len() != 64 || !csum.bytes().all(|c| c.is_ascii_hexdigit()) || used.contains(&name) {
            continue;
        }
        remove_all(&e.path())?;
    }
    Ok(())
}

/// Whether `name` is a deployment ref, `ostree/[01]/[01]/INDEX`.
fn is_deployment_ref(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    matches!(parts.as_slice(), ["ostree", b, s, i]
        if matches!(*b, "0" | "1") && matches!(*s, "0" | "1") && !i.is_empty() && i.bytes().all(|c| c.is_ascii_digit()))
}

/// Sets `ostree/B/S/I` to each deployment's commit and removes the other
/// refs under `ostree/`, in one repo transaction as OSTree does (so that
/// `OSTREE_REPO_TEST_ERROR=pre-commit` fails here, and a new boot's first
/// transaction sweeps the staging directories of earlier boots).
pub(crate) fn write_deployment_refs(sysroot: &Sysroot) -> Result<(), Error> {
    let repo = sysroot.repo();
    let (b, s) = (sysroot.bootversion(), sysroot.subbootversion());
    let mut wanted = Vec::new();
    for d in sysroot.deployments() {
        let c = Checksum::from_hex(&d.csum).map_err(|e| Error::Invalid(format!("deployment {}: {e}", d.name())))?;
        wanted.push((format!("ostree/{b}/{s}/{}", d.index), c));
    }
    let existing = repo.list_refs(None).unwrap_or_default();
    let mut tx = repo.transaction()?;
    for name in existing.keys() {
        if is_deployment_ref(name) && !wanted.iter().any(|(n, _)| n == name) {
            tx.set_ref(name, None)?;
        }
    }
    for (name, c) in wanted {
        if existing.get(&name) != Some(&c) {
            tx.set_ref(&name, Some(c))?;
        }
    }
    tx.commit()?;
    Ok(())
}
