//! `reset`: point a ref at an ancestor of its current commit.

use anyhow::{bail, Result};

use super::{Command, Context};

pub static COMMAND: Command = Command {
    name: "reset",
    usage: "REF COMMIT",
    summary: "Reset a REF to a previous COMMIT",
    opts: &[],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let refname = ctx.arg(0, "A REF argument")?;
    let target = ctx.arg(1, "A COMMIT argument")?;
    let repo = ctx.repo()?;
    let current = repo.resolve_rev(refname, false)?.ok_or_else(|| anyhow::anyhow!("Refspec '{refname}' not found"))?;
    let target = repo.resolve_rev(target, false)?.ok_or_else(|| anyhow::anyhow!("Refspec '{target}' not found"))?;
    // The target must be reachable from the ref's history.
    let mut walk = Some(current);
    let mut found = false;
    while let Some(c) = walk {
        if c == target {
            found = true;
            break;
        }
        walk = match repo.load_commit(&c) {
            Ok(commit) => commit.parent,
            Err(oxtree_store::Error::MissingObject { .. }) => None,
            Err(e) => return Err(e.into()),
        };
    }
    if !found {
        bail!("Commit {target} is not in the history of {refname}");
    }
    let mut tx = repo.transaction()?;
    tx.set_ref(refname, Some(target))?;
    tx.commit()?;
    Ok(())
}
