//! `admin pin`: keep deployments when others are replaced.

use anyhow::{bail, Result};

use super::{open, parse_index};
use crate::cmd::{Command, Context};
use crate::{admin_opts, flag};

pub static COMMAND: Command = Command {
    name: "pin",
    usage: "INDEX",
    summary: "Change the \"pinning\" state of a deployment",
    opts: admin_opts![flag!("unpin", 'u', "Unset pin")],
    repo: false,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    if ctx.args.args.is_empty() {
        bail!(crate::opts::UsageError("INDEX must be specified".into()));
    }
    let mut s = open(ctx)?;
    let _lock = s.lock()?;
    let want = !ctx.args.flag("unpin");
    for text in &ctx.args.args {
        let i = parse_index(&s, text)?;
        let word = if want { "pinned" } else { "unpinned" };
        if s.deployments()[i].is_pinned() == want {
            println!("Deployment {i} is already {word}");
        } else {
            s.set_pinned(i, want)?;
            println!("Deployment {i} is now {word}");
        }
    }
    Ok(())
}
