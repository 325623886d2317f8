//! `admin undeploy`, `admin set-default` and `admin cleanup`: changing
//! the list without deploying.

use anyhow::{bail, Result};
use oxtree_sysroot::WriteOptions;

use super::{open, parse_index, print_write};
use crate::admin_opts;
use crate::cmd::{Command, Context};

pub static COMMAND: Command = Command {
    name: "undeploy",
    usage: "INDEX",
    summary: "Delete deployment INDEX",
    opts: admin_opts![],
    repo: false,
    run,
    subcommands: &[],
};

pub static SET_DEFAULT: Command = Command {
    name: "set-default",
    usage: "INDEX",
    summary: "Set deployment INDEX as the default (rollback)",
    opts: admin_opts![],
    repo: false,
    run: set_default,
    subcommands: &[],
};

pub static CLEANUP: Command = Command {
    name: "cleanup",
    usage: "",
    summary: "Delete untagged deployments and repository objects",
    opts: admin_opts![],
    repo: false,
    run: cleanup,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let text = ctx.arg(0, "INDEX")?;
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    let i = parse_index(&s, text)?;
    let target = s.deployments()[i].clone();
    if s.booted_deployment().is_some_and(|b| b.same(&target)) {
        bail!("Cannot undeploy currently booted deployment {i}");
    }
    let list = s.deployments().iter().filter(|d| !d.same(&target)).cloned().collect();
    let w = s.write_deployments(list, &WriteOptions::default())?;
    print_write(&w);
    println!("Deleted deployment {}", target.name());
    Ok(())
}

fn set_default(ctx: &Context) -> Result<()> {
    let text = ctx.arg(0, "INDEX")?;
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    let i = parse_index(&s, text)?;
    if i == 0 {
        println!("Deployment 0 is already the default");
        return Ok(());
    }
    let w = s.set_default(i, &WriteOptions::default())?;
    print_write(&w);
    Ok(())
}

fn cleanup(ctx: &Context) -> Result<()> {
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    if let Some(freed) = oxtree_sysroot::cleanup::cleanup(&s, true)?.filter(|f| *f > 0) {
        println!("Freed objects: {}", oxtree_store::traverse::format_size(freed));
    }
    Ok(())
}
