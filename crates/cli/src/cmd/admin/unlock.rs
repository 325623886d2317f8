//! `admin unlock`: a writable overlay on the booted deployment's `/usr`
//! (see `oxtree_sysroot::unlock` for the three modes).

use anyhow::{bail, Result};
use oxtree_sysroot::unlock::UnlockState;

use super::open;
use crate::cmd::{Command, Context};
use crate::{admin_opts, flag};

pub static COMMAND: Command = Command {
    name: "unlock",
    usage: "",
    summary: "Make the current deployment mutable (as a hotfix or development)",
    opts: admin_opts![
        flag!("hotfix", "Retain changes across reboots"),
        flag!("transient", "Mount overlayfs read-only by default"),
    ],
    repo: false,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    if !ctx.args.args.is_empty() {
        bail!(crate::opts::UsageError("This command takes no extra arguments".into()));
    }
    let mut s = open(ctx)?;
    if s.booted_deployment().is_some() && !rustix::process::geteuid().is_root() {
        bail!("You must be root to perform this command");
    }
    let _lock = s.lock()?;
    if s.booted_deployment().is_none() {
        bail!("Not currently booted into an OSTree system");
    }
    let (hotfix, transient) = (ctx.args.flag("hotfix"), ctx.args.flag("transient"));
    let state = match (hotfix, transient) {
        (true, true) => bail!("Cannot specify both --hotfix and --transient"),
        (true, false) => UnlockState::Hotfix,
        (false, true) => UnlockState::Transient,
        (false, false) => UnlockState::Development,
    };
    s.unlock(state)?;
    print!(
        "{}",
        match state {
            UnlockState::Hotfix => {
                "Hotfix mode enabled.  A writable overlayfs is now mounted on /usr\n\
                 for this booted deployment.  A non-hotfixed clone has been created\n\
                 as the non-default rollback target.\n"
            }
            UnlockState::Transient => {
                "A writable overlayfs is prepared for /usr, but is mounted read-only by default.\n\
                 All changes there will be discarded on reboot.\n"
            }
            _ => {
                "Development mode enabled.  A writable overlayfs is now mounted on /usr.\n\
                 All changes there will be discarded on reboot.\n"
            }
        }
    );
    Ok(())
}
