//! `admin init-fs` and `admin os-init`: a new sysroot, a new stateroot.

use std::path::Path;

use anyhow::{bail, Context as _, Result};

use super::sysroot_path;
use crate::cmd::{Command, Context};
use crate::{admin_opts, flag, opt};

pub static INIT_FS: Command = Command {
    name: "init-fs",
    usage: "PATH",
    summary: "Initialize a root filesystem",
    opts: admin_opts![
        flag!("modern", "Only create /boot and /ostree"),
        opt!("epoch", "EPOCH", "Initialize with the given epoch (1 or 2; 2 makes /ostree private)"),
    ],
    repo: false,
    run: init_fs,
    subcommands: &[],
};

pub static OS_INIT: Command = Command {
    name: "os-init",
    usage: "OSNAME",
    summary: "Initialize empty state for given operating system",
    opts: admin_opts![],
    repo: false,
    run: os_init,
    subcommands: &[],
};

fn init_fs(ctx: &Context) -> Result<()> {
    let dir = ctx.arg(0, "PATH")?;
    let epoch = match ctx.args.get("epoch") {
        None => 1,
        Some(e) => match e.parse::<u32>() {
            Ok(n @ 1..=2) => n,
            _ => bail!("Invalid epoch: {e} (expected 1 or 2)"),
        },
    };
    let modern = ctx.args.flag("modern") || epoch >= 2;
    oxtree_sysroot::layout::init_fs(Path::new(dir), modern, epoch).with_context(|| format!("init-fs {dir}"))?;
    Ok(())
}

fn os_init(ctx: &Context) -> Result<()> {
    let name = ctx.arg(0, "OSNAME")?;
    let root = sysroot_path(ctx);
    oxtree_sysroot::layout::os_init(&root, name)?;
    println!("ostree/deploy/{name} initialized as OSTree root");
    Ok(())
}
