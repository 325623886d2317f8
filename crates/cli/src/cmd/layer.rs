//! `install` and `uninstall`: local RPMs layered over a deployment's base
//! commit (rpm-ostree's client-side layering), deployed as a new default.
//!
//! The new deployment's origin records the base and the packages
//! (`[origin] baserefspec`, `[packages] requested-local=SHA256:NEVRA;…`),
//! so `admin upgrade` and `admin switch` layer them again over the new
//! base. See [`oxtree_rpmimport::layer`].

use anyhow::{anyhow, bail, Result};
use oxtree_rpmimport::layer::{base_of, layer, origin_layers, set_origin_layers, LayerOptions, Source};
use oxtree_store::repo::KeyFile;
use oxtree_store::{Checksum, Repo};
use oxtree_sysroot::deploy::{deploy, DeployOptions};
use oxtree_sysroot::{Deployment, Sysroot, WriteOptions};

use super::admin::{open, print_deploy, stage_deployment, stateroot};
use super::{Command, Context};
use crate::{admin_opts, flag, opt};

/// The options of `install` and `uninstall`.
static OPTS: &[crate::opts::Opt] = admin_opts![
    opt!("os", "OSNAME", "Use a different operating system root than the current one"),
    flag!("nodeps", "Do not check the layered packages' requirements"),
    flag!(
        "run-scriptlets",
        "Run the layered packages' %pre, %post and %posttrans chrooted in the tree (in private namespaces)"
    ),
];

pub static INSTALL: Command = Command {
    name: "install",
    usage: "FILE.rpm...",
    summary: "Layer local RPM packages over the base of the current deployment and deploy the result",
    opts: OPTS,
    repo: false,
    run: install,
    subcommands: &[],
};

pub static UNINSTALL: Command = Command {
    name: "uninstall",
    usage: "NAME...",
    summary: "Remove layered packages and deploy the result",
    opts: OPTS,
    repo: false,
    run: uninstall,
    subcommands: &[],
};

/// The base commit of deployment `d`: its commit, or that commit's parent
/// when it is a layered one.
pub fn deployment_base(repo: &Repo, d: &Deployment) -> Result<Checksum> {
    let c = Checksum::from_hex(&d.csum).map_err(|e| anyhow!("deployment {}: {e}", d.name()))?;
    base_of(&c, &repo.load_commit(&c)?)
        .ok_or_else(|| anyhow!("layered commit {c} of deployment {} has no parent", d.name()))
}

/// How `install`, `uninstall`, `upgrade` and `switch` layer.
pub fn layer_options(ctx: &Context) -> LayerOptions {
    LayerOptions {
        basearch: super::compose::basearch().to_string(),
        nodeps: ctx.args.flag("nodeps"),
        run_scriptlets: ctx.args.flag("run-scriptlets"),
    }
}

/// Where a layered deployment goes: the stateroot, and whether it is
/// staged (finalized at shutdown) rather than deployed now.
pub struct Target<'a> {
    /// The stateroot.
    pub os: &'a str,
    /// `--stage`.
    pub stage: bool,
}

/// Deploys `base` for `target` with `sources` layered over it (none:
/// `base` itself), `origin` recording `base_refspec` and the packages.
pub fn deploy_layered(
    s: &mut Sysroot,
    target: Target<'_>,
    base: Checksum,
    base_refspec: &str,
    mut origin: KeyFile,
    sources: &[Source],
    opts: &LayerOptions,
) -> Result<()> {
    let commit = if sources.is_empty() {
        set_origin_layers(&mut origin, base_refspec, &[]);
        base
    } else {
        let done = layer(s.repo(), &base, sources, opts)?;
        for w in &done.warnings {
            eprintln!("warning: {w}");
        }
        for (nevra, scripts) in &done.skipped_scriptlets {
            eprintln!("scriptlets not run: {nevra}: {}", scripts.join(" "));
        }
        let names: Vec<&str> = done.packages.iter().map(|p| p.nevra.as_str()).collect();
        println!("Layered packages: {}", names.join(" "));
        println!("Base commit: {base}");
        println!("Commit: {}", done.commit);
        set_origin_layers(&mut origin, base_refspec, &done.packages);
        done.commit
    };
    origin.remove_group("libostree-transient");
    // The base must outlive the deploy's prune while a deployment is
    // layered on it.
    keep_bases(s, (!sources.is_empty()).then_some(base))?;
    let opts = DeployOptions {
        stateroot: target.os.to_string(),
        commit: Some(commit),
        origin: Some(origin),
        write: WriteOptions::default(),
        ..Default::default()
    };
    if target.stage {
        stage_deployment(s, &opts)?;
    } else {
        print_deploy(&deploy(s, &opts)?);
    }
    keep_bases(s, None)
}

/// Points `rpmostree/base/0`, `/1`, … at the base commits of the layered
/// deployments (and `extra`), and removes the other `rpmostree/base/`
/// refs: a layered commit's parent is not kept by prune, and `uninstall`,
/// `db diff --base` and re-layering need it. rpm-ostree keeps the same refs.
fn keep_bases(s: &Sysroot, extra: Option<Checksum>) -> Result<()> {
    let repo = s.repo();
    let mut bases: Vec<Checksum> = Vec::new();
    for d in s.deployments() {
        let c = Checksum::from_hex(&d.csum).map_err(|e| anyhow!("deployment {}: {e}", d.name()))?;
        if !repo.has_object(oxtree_store::object::ObjectType::Commit, &c) {
            continue;
        }
        match base_of(&c, &repo.load_commit(&c)?) {
            Some(base) if base != c => bases.push(base),
            _ => {}
        }
    }
    bases.extend(extra);
    bases.sort();
    bases.dedup();
    let old: Vec<String> = repo.list_refs(None)?.into_keys().filter(|r| r.starts_with("rpmostree/base/")).collect();
    let wanted: Vec<String> = (0..bases.len()).map(|i| format!("rpmostree/base/{i}")).collect();
    let mut tx = repo.transaction()?;
    for r in old.iter().filter(|r| !wanted.contains(r)) {
        tx.set_ref(r, None)?;
    }
    for (r, c) in wanted.iter().zip(&bases) {
        tx.set_ref(r, Some(*c))?;
    }
    tx.commit()?;
    Ok(())
}

/// The merge deployment of the stateroot, its origin, base refspec and
/// layered packages.
fn current(s: &Sysroot, os: &str) -> Result<(Deployment, KeyFile, String, Vec<Source>)> {
    let Some(m) = s.merge_deployment(os).cloned() else { bail!("No previous deployment for OS '{os}'") };
    let Some(origin) = m.origin.clone() else { bail!("No origin known for deployment {}", m.name()) };
    let (refspec, layers) = origin_layers(&origin);
    let refspec = refspec.ok_or_else(|| anyhow!("No origin/refspec in current deployment origin ({})", m.name()))?;
    Ok((m, origin, refspec, layers))
}

fn name_of(source: &Source) -> Option<&str> {
    match source {
        // NAME-[E:]V-R.ARCH: the name is what precedes the last two dashes.
        Source::Cached { nevra, .. } => nevra.rsplitn(3, '-').nth(2),
        Source::File(_) => None,
    }
}

fn install(ctx: &Context) -> Result<()> {
    ctx.arg(0, "At least one FILE.rpm")?;
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    let os = stateroot(ctx, &s)?;
    let (merge, origin, refspec, mut sources) = current(&s, &os)?;
    let base = deployment_base(s.repo(), &merge)?;
    // A file of a name already layered is refused by the layering.
    sources.extend(ctx.args.args.iter().map(|f| Source::File(f.into())));
    deploy_layered(&mut s, Target { os: &os, stage: false }, base, &refspec, origin, &sources, &layer_options(ctx))
}

fn uninstall(ctx: &Context) -> Result<()> {
    ctx.arg(0, "At least one NAME")?;
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    let os = stateroot(ctx, &s)?;
    let (merge, origin, refspec, mut sources) = current(&s, &os)?;
    for name in &ctx.args.args {
        let before = sources.len();
        sources.retain(|src| name_of(src) != Some(name.as_str()));
        if sources.len() == before {
            let layered: Vec<&str> = sources.iter().filter_map(name_of).collect();
            bail!(
                "package '{name}' is not layered in deployment {} (layered: {})",
                merge.name(),
                if layered.is_empty() { "none".to_string() } else { layered.join(" ") }
            );
        }
    }
    let base = deployment_base(s.repo(), &merge)?;
    if !s.repo().has_object(oxtree_store::object::ObjectType::Commit, &base) {
        bail!("base commit {base} of deployment {} is not in the repository", merge.name());
    }
    deploy_layered(&mut s, Target { os: &os, stage: false }, base, &refspec, origin, &sources, &layer_options(ctx))
}
