//! `admin config-diff`: what the administrator changed in `/etc`.

use anyhow::{bail, Result};

use super::{open, stateroot};
use crate::cmd::{Command, Context};
use crate::{admin_opts, opt};

pub static COMMAND: Command = Command {
    name: "config-diff",
    usage: "",
    summary: "Diff current /etc configuration versus default",
    opts: admin_opts![opt!("os", "OSNAME", "Use a different operating system root than the current one")],
    repo: false,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let s = open(ctx)?;
    let os = stateroot(ctx, &s)?;
    let Some(d) = s.merge_deployment(&os) else { bail!("No deployment for OS '{os}'") };
    let dir = s.deployment_dir(d);
    let diff = oxtree_sysroot::etc::diff(&dir.join("usr/etc"), &dir.join("etc"))?;
    for l in diff.lines() {
        println!("{l}");
    }
    Ok(())
}
