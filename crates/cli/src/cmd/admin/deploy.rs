//! `admin deploy`: check out a commit as a new deployment and boot it next.

use anyhow::{bail, Context as _, Result};
use oxtree_store::repo::KeyFile;
use oxtree_sysroot::deploy::{deploy, DeployOptions};
use oxtree_sysroot::{KernelArgs, WriteOptions};

use super::{open, print_deploy, stage_deployment, stateroot};
use crate::cmd::{Command, Context};
use crate::{admin_opts, flag, opt};

pub static COMMAND: Command = Command {
    name: "deploy",
    usage: "REFSPEC",
    summary: "Checkout revision REFSPEC as the new default deployment",
    opts: admin_opts![
        opt!("os", "OSNAME", "Use a different operating system root than the current one"),
        opt!("origin-file", "FILENAME", "Specify origin file"),
        flag!("stage", "Complete deployment at OS shutdown"),
        flag!("lock-finalization", "Prevent automatic deployment finalization on shutdown"),
        flag!("retain", "Do not delete previous deployments"),
        flag!("retain-pending", "Do not delete pending deployments"),
        flag!("retain-rollback", "Do not delete rollback deployments"),
        flag!("not-as-default", "Append rather than prepend new deployment"),
        flag!("no-prune", "Don't prune the repo when done"),
        flag!("no-merge", "Do not apply configuration (/etc and kernel arguments) from booted deployment"),
        flag!("karg-proc-cmdline", "Import current /proc/cmdline"),
        flag!("karg-none", "Do not import kernel arguments"),
        opt!(
            "karg",
            "NAME=VALUE",
            "Set kernel argument, like root=/dev/sda1; this overrides any earlier argument with the same name"
        ),
        opt!(
            "karg-append",
            "NAME=VALUE",
            "Append kernel argument; useful with e.g. console= that can be used multiple times"
        ),
        opt!("karg-delete", "NAME=VALUE", "Delete kernel argument if exists"),
        opt!("overlay-initrd", "FILE", "Overlay iniramfs file"),
    ],
    repo: false,
    run,
    subcommands: &[],
};

/// The kernel arguments for the new deployment, as OSTree builds them:
/// `None` (inherit the merge deployment's) unless some karg option is given.
fn kernel_args(ctx: &Context, merge_options: Option<&str>) -> Result<Option<KernelArgs>> {
    let a = &ctx.args;
    let (set, append, delete) = (a.all("karg"), a.all("karg-append"), a.all("karg-delete"));
    if a.flag("karg-proc-cmdline") && a.flag("karg-none") {
        bail!("Can't specify both --karg-proc-cmdline and --karg-none");
    }
    let mut k = if a.flag("karg-none") {
        Some(KernelArgs::new())
    } else if a.flag("karg-proc-cmdline") {
        Some(KernelArgs::from_proc_cmdline().context("reading /proc/cmdline")?)
    } else if !(set.is_empty() && append.is_empty() && delete.is_empty()) {
        merge_options.map(KernelArgs::parse)
    } else {
        None
    };
    for s in set {
        k.get_or_insert_with(KernelArgs::new).replace(s);
    }
    for s in append {
        k.get_or_insert_with(KernelArgs::new).append(s);
    }
    for s in delete {
        k.get_or_insert_with(KernelArgs::new).delete(s)?;
    }
    Ok(k)
}

fn run(ctx: &Context) -> Result<()> {
    let refspec = ctx.arg(0, "REF/REV")?;
    let mut s = open(ctx)?;
    let stage = ctx.args.flag("stage");
    if stage {
        oxtree_sysroot::deploy::check_can_stage(&s)?;
    }
    if ctx.args.flag("lock-finalization") && !stage {
        bail!("--lock-finalization is only valid with --stage");
    }
    let _lock = s.lock()?;
    let os = stateroot(ctx, &s)?;
    let commit =
        s.repo().resolve_rev(refspec, false)?.ok_or_else(|| anyhow::anyhow!("Refspec '{refspec}' not found"))?;
    let origin = match ctx.args.get("origin-file") {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading origin file {p}"))?;
            KeyFile::parse(&text).with_context(|| format!("origin file {p}"))?
        }
        None => {
            let mut o = KeyFile::new();
            o.set("origin", "refspec", refspec);
            o
        }
    };
    // Each overlay is staged by content first (in /run, as OSTree does).
    let overlay_initrds = ctx
        .args
        .all("overlay-initrd")
        .iter()
        .map(|f| {
            oxtree_sysroot::overlay::stage(std::path::Path::new(f)).with_context(|| format!("--overlay-initrd={f}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let no_merge = ctx.args.flag("no-merge");
    let merge_options = if no_merge {
        None
    } else {
        s.merge_deployment(&os).map(|m| m.bootconfig.get("options").unwrap_or("").to_string())
    };
    let opts = DeployOptions {
        stateroot: os,
        commit: Some(commit),
        origin: Some(origin),
        kargs: kernel_args(ctx, merge_options.as_deref())?,
        overlay_initrds,
        no_merge,
        retain: ctx.args.flag("retain"),
        retain_pending: ctx.args.flag("retain-pending"),
        retain_rollback: ctx.args.flag("retain-rollback"),
        not_as_default: ctx.args.flag("not-as-default"),
        write: WriteOptions { no_cleanup: false, no_prune: ctx.args.flag("no-prune") },
    };
    if stage {
        if ctx.args.flag("lock-finalization") {
            oxtree_sysroot::staged::lock_finalization()?;
        }
        stage_deployment(&mut s, &opts)?;
    } else {
        print_deploy(&deploy(&mut s, &opts)?);
    }
    Ok(())
}
