//! Making a deployment (`admin deploy`) and choosing which others stay.
//!
//! A deployment is the commit checked out as hardlinks into the repo
//! (`ostree/deploy/STATEROOT/deploy/CSUM.SERIAL`), with `/etc` made from
//! the commit's `usr/etc` (copied, never hardlinked: it is edited in
//! place) and merged with the administrator's changes from the *merge
//! deployment* (the booted one of that stateroot, else its first), which
//! also lends its kernel arguments unless new ones are given. Until the
//! deployment list is written nothing boots it; if anything fails before,
//! its directory is removed again.

use std::path::{Path, PathBuf};

use oxtree_bootloader::BootEntry;
use oxtree_checkout::{checkout, CheckoutOptions};
use oxtree_store::repo::KeyFile;
use oxtree_store::Checksum;

use crate::etc::EtcDiff;
use crate::fsops::{self, remove_all};
use crate::load::parse_deploy_name;
use crate::staged::{Staged, StagedRef, LOCKED_PATH, STAGED_PATH};
use crate::{etc, kernel, Deployment, Error, KernelArgs, Sysroot, WriteOptions, WriteReport};

/// What to deploy, and how.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// The stateroot (`--os`).
    pub stateroot: String,
    /// The commit.
    pub commit: Option<Checksum>,
    /// The origin file to write (`[origin] refspec=...`).
    pub origin: Option<KeyFile>,
    /// Kernel arguments; `None` inherits the merge deployment's.
    pub kargs: Option<KernelArgs>,
    /// `--no-merge`: no merge deployment (fresh `/etc`, no inherited
    /// kernel arguments; the previous default is not kept for it).
    pub no_merge: bool,
    /// `--retain`: keep every current deployment.
    pub retain: bool,
    /// `--retain-pending`: keep deployments before the booted (or merge) one.
    pub retain_pending: bool,
    /// `--retain-rollback`: keep deployments after it.
    pub retain_rollback: bool,
    /// `--not-as-default`: place the new deployment after the booted (or
    /// merge) one instead of first.
    pub not_as_default: bool,
    /// Overlay initramfs images for the new deployment, by checksum, as
    /// [`crate::overlay::stage`] staged them (`--overlay-initrd`).
    pub overlay_initrds: Vec<String>,
    /// How to write the new list.
    pub write: WriteOptions,
}

/// What a deploy did.
#[derive(Debug, Clone)]
pub struct DeployReport {
    /// The new deployment, as now listed.
    pub deployment: Deployment,
    /// The `/etc` changes carried over, when there was a merge deployment.
    pub etc: Option<EtcDiff>,
    /// Whether `/var` of the stateroot was stamped as labeled for the first time.
    pub var_first_use: bool,
    /// The list write.
    pub write: WriteReport,
}

fn next_deployserial(dir: &Path, csum: &str) -> u32 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            parse_deploy_name(&n).filter(|(c, _)| *c == csum).map(|(_, s)| s)
        })
        .max()
        .map_or(0, |m| m + 1)
}

/// Moves the tree's `/etc` to `usr/etc` if needed, then copies `usr/etc`
/// to `etc`.
fn prepare_etc(root: &Path) -> Result<(), Error> {
    let (etc, usr_etc) = (root.join("etc"), root.join("usr/etc"));
    let nonempty = |p: &Path| std::fs::read_dir(p).map(|mut r| r.next().is_some()).unwrap_or(false);
    if etc.is_dir() {
        if nonempty(&etc) {
            if usr_etc.exists() {
                return Err(Error::Invalid("Tree contains both /etc and /usr/etc".into()));
            }
            std::fs::rename(&etc, &usr_etc).map_err(Error::io(&usr_etc))?;
        } else {
            std::fs::remove_dir(&etc).map_err(Error::io(&etc))?;
        }
    }
    if usr_etc.is_dir() {
        etc::copy_entry(&usr_etc, &etc)?;
    }
    Ok(())
}

/// Checks out `commit` as a new deployment of `opts.stateroot` with the
/// commit's own `/etc`, and writes its origin; on error nothing is left.
/// Kernel arguments are set only when `opts` gives them.
fn init_deployment(sysroot: &Sysroot, opts: &DeployOptions, commit: &Checksum) -> Result<Deployment, Error> {
    let os = &opts.stateroot;
    let deploy_dir = sysroot.path().join("ostree/deploy").join(os).join("deploy");
    std::fs::create_dir_all(&deploy_dir).map_err(Error::io(&deploy_dir))?;
    let csum = commit.to_hex();
    let deployserial = next_deployserial(&deploy_dir, &csum);
    let name = format!("{csum}.{deployserial}");
    let root = deploy_dir.join(&name);
    let origin_path = deploy_dir.join(format!("{name}.origin"));
    remove_all(&root)?;
    let made = (|| {
        // As root (the normal case) files keep the commit's owners; a build
        // system making an image without root gets them as its own.
        let user_mode = !rustix::process::geteuid().is_root();
        let co = CheckoutOptions { process_passthrough_whiteouts: true, user_mode, ..Default::default() };
        checkout(sysroot.repo(), commit, &root, &co)?;
        let known: Vec<(PathBuf, String)> =
            sysroot.deployments().iter().map(|d| (sysroot.deployment_dir(d), d.bootcsum.clone())).collect();
        let layout = kernel::find(&root, sysroot.debug().no_dtb, &known)?;
        prepare_etc(&root)?;
        let mut bootconfig = BootEntry::new();
        if let Some(k) = &opts.kargs {
            bootconfig.set("options", &k.to_string());
        }
        bootconfig
            .set_overlay_initrds(opts.overlay_initrds.iter().map(|c| crate::overlay::entry_path("", c)).collect());
        if let Some(o) = &opts.origin {
            fsops::write_atomic(&origin_path, o.to_text().as_bytes())?;
        }
        Ok(Deployment {
            index: 0,
            stateroot: os.clone(),
            csum: csum.clone(),
            deployserial,
            bootcsum: layout.bootcsum,
            bootserial: 0,
            bootconfig,
            origin: opts.origin.clone(),
            entry_file: None,
            staged: false,
        })
    })();
    if made.is_err() {
        discard(&root, &origin_path);
    }
    made
}

/// What waits for the merge deployment, done at deploy time or, for a
/// staged deployment, at shutdown: the three-way `/etc` merge, the merge
/// deployment's kernel arguments unless `d` has its own, the stateroot's
/// `/var` stamped, and the root made immutable. Returns the `/etc` changes
/// carried over and whether `/var` was stamped for the first time.
fn finalize_deployment(
    sysroot: &Sysroot,
    d: &mut Deployment,
    merge: Option<&Deployment>,
) -> Result<(Option<EtcDiff>, bool), Error> {
    let root = sysroot.deployment_dir(d);
    let etc_diff = match merge {
        Some(m) => {
            let mdir = sysroot.deployment_dir(m);
            Some(etc::merge(&mdir.join("usr/etc"), &mdir.join("etc"), &root.join("etc"))?)
        }
        None => None,
    };
    let _ = std::fs::remove_file(root.join("etc/.updated"));
    let var = sysroot.path().join("ostree/deploy").join(&d.stateroot).join("var");
    let _ = std::fs::remove_file(var.join(".updated"));
    let stamp = var.join(".ostree-selabeled");
    let var_first_use = !stamp.exists();
    if var_first_use {
        std::fs::write(&stamp, b"").map_err(Error::io(&stamp))?;
    }
    if d.bootconfig.get("options").is_none() {
        let options = merge.and_then(|m| m.bootconfig.get("options")).unwrap_or("").to_string();
        d.bootconfig.set("options", &options);
    }
    if !sysroot.debug().mutable_deployments {
        fsops::set_immutable(&root, true);
    }
    Ok((etc_diff, var_first_use))
}

/// A new deployment, checked out and finalized; on error nothing is left.
fn make_deployment(
    sysroot: &Sysroot,
    opts: &DeployOptions,
    commit: &Checksum,
) -> Result<(Deployment, Option<EtcDiff>, bool), Error> {
    let mut d = init_deployment(sysroot, opts, commit)?;
    let merge = if opts.no_merge { None } else { sysroot.merge_deployment(&opts.stateroot).cloned() };
    match finalize_deployment(sysroot, &mut d, merge.as_ref()) {
        Ok((etc, var_first_use)) => Ok((d, etc, var_first_use)),
        Err(e) => {
            discard(&sysroot.deployment_dir(&d), &sysroot.origin_path(&d));
            Err(e)
        }
    }
}

fn discard(root: &Path, origin: &Path) {
    fsops::set_immutable(root, false);
    let _ = remove_all(root);
    let _ = remove_all(origin);
}

/// The new list when `new` is added, OSTree's rules: `new` first (or
/// after the booted/merge deployment with `not_as_default`); current
/// deployments kept if pinned, of another stateroot, booted, the merge
/// deployment, or asked for by the retain options.
pub fn new_list(
    current: &[Deployment],
    new: Deployment,
    os: &str,
    booted: Option<&Deployment>,
    merge: Option<&Deployment>,
    opts: &DeployOptions,
) -> Vec<Deployment> {
    let mut retain = opts.retain;
    if booted.is_none() && merge.is_none() && (opts.retain_pending || opts.retain_rollback) {
        retain = true;
    }
    let mut out = Vec::new();
    let mut new = Some(new);
    if !opts.not_as_default {
        out.extend(new.take());
    }
    let (mut before_booted, mut before_merge) = (true, true);
    for d in current {
        let is_booted = booted.is_some_and(|b| b.same(d));
        let is_merge = merge.is_some_and(|m| m.same(d));
        if is_booted {
            before_booted = false;
        }
        if is_merge {
            before_merge = false;
        }
        let crossed = if booted.is_some() { !before_booted } else { !before_merge };
        if retain
            || d.is_pinned()
            || d.stateroot != os
            || (opts.retain_pending && !crossed)
            || is_booted
            || is_merge
            || (opts.retain_rollback && crossed)
        {
            out.push(d.clone());
        }
        if crossed && new.is_some() {
            out.extend(new.take());
        }
    }
    out.extend(new.take());
    out
}

fn check_stateroot(sysroot: &Sysroot, os: &str) -> Result<(), Error> {
    if sysroot.has_stateroot(os) {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "Stateroot '{os}' does not exist (no ostree/deploy/{os} in {}; create it with `admin os-init {os}`)",
        sysroot.path().display()
    )))
}

/// Deploys `opts.commit` into `opts.stateroot` and writes the new list.
pub fn deploy(sysroot: &mut Sysroot, opts: &DeployOptions) -> Result<DeployReport, Error> {
    let commit = opts.commit.ok_or_else(|| Error::Invalid("no commit to deploy".into()))?;
    check_stateroot(sysroot, &opts.stateroot)?;
    // Leftovers of an interrupted run go first (not the repo: it is pruned after).
    crate::cleanup::cleanup(sysroot, false)?;
    let (d, etc_diff, var_first_use) = make_deployment(sysroot, opts, &commit)?;
    let merge = if opts.no_merge { None } else { sysroot.merge_deployment(&opts.stateroot).cloned() };
    let booted = sysroot.booted_deployment().cloned();
    let list = new_list(sysroot.deployments(), d.clone(), &opts.stateroot, booted.as_ref(), merge.as_ref(), opts);
    let (deployment, write) = write_with(sysroot, &d, list, &opts.write)?;
    Ok(DeployReport { deployment, etc: etc_diff, var_first_use, write })
}

/// Writes `list`, which holds the new deployment `d`, and returns `d` as
/// now listed. If the write fails before its commit point, `d` is removed.
fn write_with(
    sysroot: &mut Sysroot,
    d: &Deployment,
    list: Vec<Deployment>,
    opts: &WriteOptions,
) -> Result<(Deployment, WriteReport), Error> {
    let write = match sysroot.write_deployments(list, opts) {
        Ok(w) => w,
        Err(e) => {
            // A failure after the commit point (a sync after the rename,
            // the clean-up) leaves the new list live: then the deployment
            // stays. Only one that nothing boots is removed.
            let live = sysroot.reload().is_ok() && sysroot.deployments().iter().any(|x| x.same(d));
            if !live {
                discard(&sysroot.deployment_dir(d), &sysroot.origin_path(d));
            }
            return Err(e);
        }
    };
    let deployment = sysroot
        .deployments()
        .iter()
        .find(|x| x.same(d))
        .cloned()
        .ok_or_else(|| Error::Invalid("the new deployment is not in the written list".into()))?;
    Ok((deployment, write))
}

/// Whether `sysroot` can have a staged deployment: only the booted
/// system can (commands check before they fetch anything).
pub fn check_can_stage(sysroot: &Sysroot) -> Result<(), Error> {
    match sysroot.booted_deployment() {
        Some(_) => Ok(()),
        None => Err(Error::Invalid("Cannot stage deployment: Not currently booted into an OSTree system".into())),
    }
}

/// Stages `opts.commit` (`admin deploy --stage`): the deployment is
/// checked out with the commit's `/etc` and recorded in
/// [`crate::staged::STAGED_PATH`], replacing an earlier staged one; the
/// boot configuration is not touched until [`finalize_staged`]. Only on the
/// booted system.
pub fn stage(sysroot: &mut Sysroot, opts: &DeployOptions) -> Result<Deployment, Error> {
    check_can_stage(sysroot)?;
    if opts.retain || opts.retain_pending || opts.retain_rollback {
        return Err(Error::Invalid("--stage cannot currently be combined with --retain arguments".into()));
    }
    if opts.not_as_default {
        return Err(Error::Invalid("--stage cannot currently be combined with --not-as-default".into()));
    }
    let commit = opts.commit.ok_or_else(|| Error::Invalid("no commit to deploy".into()))?;
    check_stateroot(sysroot, &opts.stateroot)?;
    crate::cleanup::cleanup(sysroot, false)?;
    let previous = sysroot.staged_deployment().cloned();
    let d = init_deployment(sysroot, opts, &commit)?;
    let merge = if opts.no_merge { None } else { sysroot.merge_deployment(&opts.stateroot).cloned() };
    let staged = Staged {
        target: StagedRef::of(&d),
        merge: merge.as_ref().map(StagedRef::of),
        kargs: opts.kargs.as_ref().map(KernelArgs::to_words),
        overlay_initrds: opts.overlay_initrds.clone(),
    };
    if let Err(e) = staged.write() {
        discard(&sysroot.deployment_dir(&d), &sysroot.origin_path(&d));
        return Err(e);
    }
    if let Some(p) = previous.filter(|p| !p.same(&d)) {
        discard(&sysroot.deployment_dir(&p), &sysroot.origin_path(&p));
    }
    crate::write::bump_mtime(sysroot.path())?;
    sysroot.reload()?;
    // The deployment refs now name the staged commit too, so that a prune
    // before shutdown keeps it.
    crate::cleanup::write_deployment_refs(sysroot)?;
    sysroot
        .deployments()
        .iter()
        .find(|x| x.same(&d))
        .cloned()
        .ok_or_else(|| Error::Invalid(format!("the staged deployment {} is not listed", d.name())))
}

/// What [`finalize_staged`] did.
#[derive(Debug, Clone)]
pub enum Finalized {
    /// Not the booted system: nothing can be staged.
    NotBooted,
    /// No deployment is staged.
    NoneStaged,
    /// [`crate::staged::LOCKED_PATH`] exists: the staged deployment stays
    /// unbooted.
    Locked,
    /// The staged deployment is finalized and boots next.
    Written(Box<DeployReport>),
}

/// Finalizes the staged deployment (`admin finalize-staged`, at
/// shutdown): `/etc` merged from the merge deployment as it is now, kernel
/// arguments, and the new boot configuration with it first (the booted
/// deployment kept, as for a deploy). The record is removed first, so a
/// finalization that fails is not retried at every shutdown.
pub fn finalize_staged(sysroot: &mut Sysroot) -> Result<Finalized, Error> {
    let (record, locked) = (Path::new(STAGED_PATH), Path::new(LOCKED_PATH));
    let Some(booted) = sysroot.booted_deployment().cloned() else { return Ok(Finalized::NotBooted) };
    let Some(staged) = Staged::read(record)? else { return Ok(Finalized::NoneStaged) };
    let Some(mut d) = sysroot.staged_deployment().cloned() else {
        return Ok(Finalized::NoneStaged);
    };
    if locked.exists() {
        return Ok(Finalized::Locked);
    }
    let merge = match &staged.merge {
        Some(m) => Some(sysroot.deployments().iter().find(|x| !x.staged && m.names(x)).cloned().ok_or_else(|| {
            Error::Invalid(format!("Failed to find merge deployment {}.{} for staged", m.csum, m.deployserial))
        })?),
        None => None,
    };
    std::fs::remove_file(record).map_err(Error::io(record))?;
    sysroot.reload()?;
    d.staged = false;
    let (etc_diff, var_first_use) = match finalize_deployment(sysroot, &mut d, merge.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            discard(&sysroot.deployment_dir(&d), &sysroot.origin_path(&d));
            return Err(e);
        }
    };
    let opts = DeployOptions { stateroot: d.stateroot.clone(), ..Default::default() };
    let list = new_list(sysroot.deployments(), d.clone(), &d.stateroot, Some(&booted), merge.as_ref(), &opts);
    let (deployment, write) = write_with(sysroot, &d, list, &WriteOptions { no_cleanup: false, no_prune: true })?;
    Ok(Finalized::Written(Box::new(DeployReport { deployment, etc: etc_diff, var_first_use, write })))
}

impl Sysroot {
    /// Rewrites the live boot entry of deployment `index` with new kernel
    /// arguments, without a new boot version (`admin kargs edit-in-place`):
    /// the entry file is replaced by a rename.
    /// A staged deployment's arguments are changed in its record.
    pub fn set_kargs_in_place(&mut self, index: usize, kargs: &KernelArgs) -> Result<(), Error> {
        let d =
            self.deployments().get(index).cloned().ok_or_else(|| Error::Invalid(format!("no deployment {index}")))?;
        if d.staged {
            let mut record = Staged::read(Path::new(STAGED_PATH))?
                .ok_or_else(|| Error::Invalid(format!("{STAGED_PATH}: the staged deployment's record is gone")))?;
            record.kargs = Some(kargs.to_words());
            record.write()?;
            return self.reload();
        }
        let file = d
            .entry_file
            .clone()
            .unwrap_or_else(|| format!("ostree-{}-{}.conf", self.deployments().len() - index, d.stateroot));
        let mut e = d.bootconfig.clone();
        e.set("options", &kargs.to_string());
        let path = self.path().join(format!("boot/loader.{}/entries/{file}", self.bootversion()));
        fsops::write_atomic(&path, e.to_text().as_bytes())?;
        self.reload()
    }

    /// Gives deployment `index` new kernel arguments by writing a new boot
    /// version (`admin instutil set-kargs`).
    pub fn set_kargs(&mut self, index: usize, kargs: &KernelArgs, opts: &WriteOptions) -> Result<WriteReport, Error> {
        let mut list = self.deployments().to_vec();
        let d = list.get_mut(index).ok_or_else(|| Error::Invalid(format!("no deployment {index}")))?;
        if d.staged {
            return Err(Error::Invalid(format!(
                "Cannot set kernel arguments of staged deployment {}; stage it again with --karg",
                d.name()
            )));
        }
        d.bootconfig.set("options", &kargs.to_string());
        self.write_deployments(list, opts)
    }

    /// Makes deployment `index` the default (index 0), keeping the others
    /// in their order: a rollback to an earlier deployment, or forward to
    /// a pending one (`admin set-default`, newer OSTree's command).
    pub fn set_default(&mut self, index: usize, opts: &WriteOptions) -> Result<WriteReport, Error> {
        let mut list = self.deployments().to_vec();
        if index >= list.len() {
            return Err(Error::Invalid(format!("Out of range deployment index {index}, expected < {}", list.len())));
        }
        let d = list.remove(index);
        list.insert(0, d);
        self.write_deployments(list, opts)
    }

    /// Pins or unpins the deployment at `index` (pinned deployments are
    /// kept when others are replaced).
    pub fn set_pinned(&mut self, index: usize, pinned: bool) -> Result<(), Error> {
        let d = self.deployments().get(index).cloned().ok_or_else(|| {
            Error::Invalid(format!("Out of range deployment index {index}, expected < {}", self.deployments().len()))
        })?;
        if d.staged {
            return Err(Error::Invalid("Cannot pin staged deployment".into()));
        }
        let mut origin = d.origin.clone().unwrap_or_default();
        if pinned {
            origin.set("libostree-transient", "pinned", "true");
        } else {
            origin.unset("libostree-transient", "pinned");
            if origin.keys("libostree-transient").is_empty() {
                origin.remove_group("libostree-transient");
            }
        }
        self.write_origin(&d, &origin)?;
        self.reload()
    }

    /// Replaces a deployment's `.origin` file (atomically, durably).
    pub fn write_origin(&self, d: &Deployment, origin: &KeyFile) -> Result<(), Error> {
        fsops::write_atomic(&self.origin_path(d), origin.to_text().as_bytes())?;
        crate::write::bump_mtime(self.path())
    }
}
