//! `admin upgrade`, `admin switch` and `admin set-origin`: follow a
//! deployment's origin (`[origin] refspec`) to a new commit, or change it.

use anyhow::{anyhow, bail, Result};
use oxtree_rpmimport::layer::{origin_layers, Source};
use oxtree_store::repo::KeyFile;
use oxtree_store::Checksum;
use oxtree_sysroot::{Deployment, Sysroot};

use super::{open, parse_index, stateroot};
use crate::cmd::layer::{deploy_layered, deployment_base, layer_options, Target};
use crate::cmd::{Command, Context};
use crate::{admin_opts, flag, opt};

pub static UPGRADE: Command = Command {
    name: "upgrade",
    usage: "",
    summary: "Construct new tree from current origin and deploy it, if it changed",
    opts: admin_opts![
        opt!("os", "OSNAME", "Use a different operating system root than the current one"),
        flag!("reboot", 'r', "Reboot after a successful upgrade"),
        flag!("allow-downgrade", "Permit deployment of chronologically older trees"),
        opt!("override-commit", "CHECKSUM", "Deploy CHECKSUM instead of the latest tree"),
        flag!("pull-only", "Do not create a deployment, just download"),
        flag!("deploy-only", "Do not pull, only deploy"),
        flag!("stage", "Complete deployment at OS shutdown"),
    ],
    repo: false,
    run: upgrade,
    subcommands: &[],
};

pub static SWITCH: Command = Command {
    name: "switch",
    usage: "REF",
    summary: "Construct new tree from REF and deploy it",
    opts: admin_opts![
        opt!("os", "OSNAME", "Use a different operating system root than the current one"),
        flag!("reboot", 'r', "Reboot after switching trees"),
    ],
    repo: false,
    run: switch,
    subcommands: &[],
};

pub static SET_ORIGIN: Command = Command {
    name: "set-origin",
    usage: "REMOTENAME URL [BRANCH]",
    summary: "Set Origin and create a new origin file",
    opts: admin_opts![
        opt!("index", "INDEX", "Operate on the deployment INDEX, starting from zero"),
        opt!("set", "KEY=VALUE", "Set config option KEY=VALUE for remote"),
    ],
    repo: false,
    run: set_origin,
    subcommands: &[],
};

/// The merge deployment of `os` and a copy of its origin.
fn merge_and_origin(s: &Sysroot, os: &str) -> Result<(Deployment, KeyFile)> {
    let Some(m) = s.merge_deployment(os).cloned() else { bail!("No previous deployment for OS '{os}'") };
    let Some(origin) = m.origin.clone() else { bail!("No origin known for deployment {}", m.name()) };
    if let Some(state) = origin.get("origin", "unconfigured-state") {
        bail!("{state}");
    }
    Ok((m, origin))
}

/// The refspec `origin` follows (`baserefspec` for a layered deployment)
/// and the packages layered over it.
fn refspec_of(origin: &KeyFile, d: &Deployment) -> Result<(String, Vec<Source>)> {
    let (refspec, layers) = origin_layers(origin);
    let refspec = refspec.ok_or_else(|| anyhow!("No origin/refspec in current deployment origin ({})", d.name()))?;
    Ok((refspec, layers))
}

/// Pulls the origin's ref (or `commit` for it) when it names a remote.
/// With `not_older_than`, a commit older than that one is refused before
/// its content is fetched and before the ref moves.
fn pull_origin(
    ctx: &Context,
    s: &Sysroot,
    refspec: &str,
    commit: Option<&str>,
    not_older_than: Option<&Checksum>,
) -> Result<()> {
    let Some((remote, name)) = refspec.split_once(':') else { return Ok(()) };
    let r = match commit {
        Some(c) => format!("{name}@{c}"),
        None => name.to_string(),
    };
    let mut args = ctx.args.clone();
    if let Some(old) = not_older_than {
        let url = s.repo().remote_option(remote, "url")?.unwrap_or_default();
        match url.strip_prefix("file://") {
            // The pull's own check compares with the ref it replaces.
            None => args.set_flag("timestamp-check"),
            Some(path) if commit.is_none() => {
                let src = oxtree_store::Repo::open(std::path::Path::new(path))?;
                if let Some(new) = src.resolve_rev(name, true)? {
                    check_not_older(s, &src, &new, old)?;
                }
            }
            Some(_) => {}
        }
    }
    crate::cmd::pull::pull_into(s.repo(), remote, vec![r], &args, true)
}

/// Refuses `new` (in `new_repo`) if it is older than the deployed `old`.
fn check_not_older(s: &Sysroot, new_repo: &oxtree_store::Repo, new: &Checksum, old: &Checksum) -> Result<()> {
    let (tn, to) = (new_repo.load_commit(new)?.timestamp, timestamp(s, old)?);
    if tn < to {
        bail!(
            "Upgrade target revision '{new}' with timestamp '{}' is chronologically older than current revision '{old}' with timestamp '{}'; use --allow-downgrade to permit",
            format_time(tn),
            format_time(to)
        );
    }
    Ok(())
}

fn timestamp(s: &Sysroot, c: &Checksum) -> Result<u64> {
    Ok(s.repo().load_commit(c)?.timestamp)
}

fn format_time(t: u64) -> String {
    let (y, m, d) = oxtree_store::calendar::civil_from_days((t / 86400) as i64);
    let r = t % 86400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", r / 3600, r / 60 % 60, r % 60)
}

fn upgrade(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    if a.flag("pull-only") && a.flag("deploy-only") {
        bail!("Cannot simultaneously specify --pull-only and --deploy-only");
    }
    if a.flag("pull-only") && a.flag("reboot") {
        bail!("Cannot simultaneously specify --pull-only and --reboot");
    }
    let mut s = open(ctx)?;
    // OSTree's tests stage upgrades through the environment too.
    let stage = a.flag("stage") || std::env::var("OSTREE_EX_STAGE_DEPLOYMENTS").is_ok_and(|v| v == "1");
    if stage {
        oxtree_sysroot::deploy::check_can_stage(&s)?;
    }
    let _lock = s.lock()?;
    let os = stateroot(ctx, &s)?;
    let (merge, mut origin) = merge_and_origin(&s, &os)?;
    let (mut refspec, layers) = refspec_of(&origin, &merge)?;
    // What only held for the old deployment does not carry over.
    origin.remove_group("libostree-transient");
    let override_commit = a.get("override-commit");
    match override_commit {
        Some(c) => origin.set("origin", "override-commit", c),
        None => {
            origin.unset("origin", "override-commit");
        }
    }
    // A layered deployment is upgraded when its base is.
    let old = deployment_base(s.repo(), &merge)?;
    let guard = if a.flag("allow-downgrade") { None } else { Some(&old) };
    if !a.flag("deploy-only") {
        // The pull checks the ref's new commit before fetching it; an
        // override commit is checked below, once its commit is here.
        pull_origin(ctx, &s, &refspec, override_commit, guard.filter(|_| override_commit.is_none()))?;
    }
    let mut new = match override_commit {
        Some(c) => s.repo().resolve_rev(c, false)?,
        None => s.repo().resolve_rev(&refspec, false)?,
    }
    .ok_or_else(|| anyhow!("Refspec '{refspec}' not found"))?;
    // An end-of-life commit may name the branch to move to
    // (`ostree.endoflife-rebase`): follow it, on the same remote.
    if override_commit.is_none() {
        use oxtree_store::gvariant::Value;
        let meta = s.repo().load_commit(&new)?.metadata;
        if let Some(rebase) = meta.get("ostree.endoflife-rebase").and_then(Value::as_str) {
            let target = match refspec.split_once(':') {
                Some((remote, _)) => format!("{remote}:{rebase}"),
                None => rebase.to_string(),
            };
            if let Some(why) = meta.get("ostree.endoflife").and_then(Value::as_str) {
                println!("Branch {refspec} is end of life ({why}); following it to {target}");
            }
            if !a.flag("deploy-only") {
                pull_origin(ctx, &s, &target, None, None)?;
            }
            new = s.repo().resolve_rev(&target, false)?.ok_or_else(|| anyhow!("Refspec '{target}' not found"))?;
            refspec = target;
        }
    }
    if new == old {
        println!("No update available.");
        return Ok(());
    }
    if let Some(old) = guard {
        check_not_older(&s, s.repo(), &new, old)?;
    }
    if a.flag("pull-only") {
        return Ok(());
    }
    deploy_layered(&mut s, Target { os: &os, stage }, new, &refspec, origin, &layers, &layer_options(ctx))?;
    if a.flag("reboot") {
        reboot()?;
    }
    Ok(())
}

fn switch(ctx: &Context) -> Result<()> {
    let target = ctx.arg(0, "REF")?;
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    let os = stateroot(ctx, &s)?;
    // Switching replaces the origin, so an `unconfigured-state` in the old
    // one does not stop it.
    let Some(merge) = s.merge_deployment(&os).cloned() else { bail!("No previous deployment for OS '{os}'") };
    let Some(origin) = merge.origin.clone() else { bail!("No origin known for deployment {}", merge.name()) };
    let (old_refspec, layers) = refspec_of(&origin, &merge)?;
    let old_ref = old_refspec.split_once(':').map_or(old_refspec.as_str(), |(_, r)| r);
    let new_refspec = match (target.split_once(':'), old_refspec.split_once(':')) {
        // `REMOTE:` keeps the branch and changes the remote.
        (Some((remote, "")), _) => format!("{remote}:{old_ref}"),
        (Some(_), _) => target.to_string(),
        (None, Some((remote, _))) => format!("{remote}:{target}"),
        (None, None) => target.to_string(),
    };
    if new_refspec == old_refspec {
        bail!("Old and new refs are equal: {new_refspec}");
    }
    pull_origin(ctx, &s, &new_refspec, None, None)?;
    let new = s.repo().resolve_rev(&new_refspec, false)?.ok_or_else(|| anyhow!("Refspec '{new_refspec}' not found"))?;
    // The new origin keeps only the packages layered over the old base.
    let target = Target { os: &os, stage: false };
    deploy_layered(&mut s, target, new, &new_refspec, KeyFile::new(), &layers, &layer_options(ctx))?;
    if ctx.args.flag("reboot") {
        reboot()?;
    }
    Ok(())
}

fn reboot() -> Result<()> {
    let st = std::process::Command::new("systemctl").arg("reboot").status()?;
    if !st.success() {
        bail!("systemctl reboot: {st}");
    }
    Ok(())
}

fn set_origin(ctx: &Context) -> Result<()> {
    let remote = ctx.arg(0, "REMOTENAME")?;
    let url = ctx.arg(1, "URL")?;
    let branch = ctx.args.args.get(2).cloned();
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    let target = match ctx.args.get("index") {
        Some(i) => s.deployments()[parse_index(&s, i)?].clone(),
        None => match s.booted_deployment() {
            Some(b) => b.clone(),
            None => bail!("Not currently booted into an OSTree system"),
        },
    };
    let mut options = Vec::new();
    for kv in ctx.args.all("set") {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("Invalid --set '{kv}': expected KEY=VALUE"))?;
        options.push((k.to_string(), v.to_string()));
    }
    let mut repo = oxtree_store::Repo::open(s.repo().path())?;
    repo.add_remote(remote, Some(url), &options, true, false)?;
    let mut origin = target.origin.clone().unwrap_or_default();
    // A layered deployment's origin follows its base (`baserefspec`).
    let key = if origin.get("origin", "baserefspec").is_some() { "baserefspec" } else { "refspec" };
    let old = origin.get("origin", key).unwrap_or("").to_string();
    let old_ref = old.split_once(':').map_or(old.as_str(), |(_, r)| r).to_string();
    let name = branch.unwrap_or(old_ref);
    if name.is_empty() {
        bail!("No branch given and deployment {} has no origin refspec", target.name());
    }
    origin.set("origin", key, &format!("{remote}:{name}"));
    s.write_origin(&target, &origin)?;
    Ok(())
}
