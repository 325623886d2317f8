//! `admin finalize-staged`: boot the staged deployment next (run at
//! shutdown by `ostree-finalize-staged.service`).

use anyhow::Result;
use oxtree_sysroot::deploy::{finalize_staged, Finalized};

use super::{open, print_deploy};
use crate::admin_opts;
use crate::cmd::{Command, Context};

pub static COMMAND: Command = Command {
    name: "finalize-staged",
    usage: "",
    summary: "Internal command to run at shutdown time",
    opts: admin_opts![],
    repo: false,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    // Run at every shutdown: a system that is not an OSTree one, or has
    // nothing staged, has nothing to do.
    if !std::path::Path::new("/run/ostree-booted").exists() {
        return Ok(());
    }
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    match finalize_staged(&mut s)? {
        Finalized::NotBooted => {}
        Finalized::NoneStaged => println!("No deployment staged for finalization"),
        Finalized::Locked => {
            println!("Not finalizing; found {}", oxtree_sysroot::staged::LOCKED_PATH)
        }
        Finalized::Written(r) => {
            println!("Finalized staged deployment {}", r.deployment.name());
            print_deploy(&r);
        }
    }
    Ok(())
}
