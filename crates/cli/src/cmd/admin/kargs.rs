//! Kernel arguments of existing deployments: `admin kargs edit-in-place`
//! and `admin instutil set-kargs`.

use anyhow::{bail, Context as _, Result};
use oxtree_sysroot::{KernelArgs, WriteOptions};

use super::{open, print_write};
use crate::cmd::{no_run, Command, Context};
use crate::{admin_opts, flag, opt};

pub static KARGS: Command = Command {
    name: "kargs",
    usage: "COMMAND",
    summary: "Change kernel arguments",
    opts: &[],
    repo: false,
    run: no_run,
    subcommands: &[&EDIT_IN_PLACE],
};

static EDIT_IN_PLACE: Command = Command {
    name: "edit-in-place",
    usage: "",
    summary: "Set new kernel command line arguments in place (applies to all deployments by default)",
    opts: admin_opts![opt!("append-if-missing", "NAME=VALUE", "Append kernel arguments if they do not exist")],
    repo: false,
    run: edit_in_place,
    subcommands: &[],
};

pub static INSTUTIL: Command = Command {
    name: "instutil",
    usage: "COMMAND",
    summary: "Deprecated commands intended for installer programs",
    opts: &[],
    repo: false,
    run: no_run,
    subcommands: &[&SET_KARGS],
};

static SET_KARGS: Command = Command {
    name: "set-kargs",
    usage: "ARGS",
    summary: "Set new kernel command line arguments (Not stable)",
    opts: admin_opts![
        flag!("import-proc-cmdline", "Import current /proc/cmdline"),
        flag!("merge", "Merge with previous command line"),
        opt!(
            "replace",
            "NAME=VALUE",
            "Set kernel argument, like root=/dev/sda1; this overrides any earlier argument with the same name"
        ),
        opt!(
            "append",
            "NAME=VALUE",
            "Append kernel argument; useful with e.g. console= that can be used multiple times"
        ),
    ],
    repo: false,
    run: set_kargs,
    subcommands: &[],
};

fn edit_in_place(ctx: &Context) -> Result<()> {
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    if s.deployments().is_empty() {
        bail!("Unable to find a deployment in sysroot");
    }
    for i in 0..s.deployments().len() {
        let mut k = s.deployments()[i].kargs();
        for a in ctx.args.all("append-if-missing") {
            k.append_if_missing(a);
        }
        s.set_kargs_in_place(i, &k)?;
    }
    Ok(())
}

fn set_kargs(ctx: &Context) -> Result<()> {
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    let Some(first) = s.deployments().first() else { bail!("Unable to find a deployment in sysroot") };
    let mut k = if ctx.args.flag("import-proc-cmdline") {
        KernelArgs::from_proc_cmdline().context("reading /proc/cmdline")?
    } else if ctx.args.flag("merge") {
        first.kargs()
    } else {
        KernelArgs::new()
    };
    for a in ctx.args.all("replace") {
        k.replace(a);
    }
    for a in ctx.args.all("append") {
        k.append(a);
    }
    for a in &ctx.args.args {
        k.append(a);
    }
    let w = s.set_kargs(0, &k, &WriteOptions::default())?;
    print_write(&w);
    Ok(())
}
