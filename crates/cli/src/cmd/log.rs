//! `log`: print a commit and its ancestors.

use anyhow::{anyhow, Result};

use super::show::print_commit;
use super::{Command, Context};
use crate::flag;

pub static COMMAND: Command = Command {
    name: "log",
    usage: "REV",
    summary: "Show log starting at commit or ref",
    opts: &[flag!("raw", "Show raw variant data")],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let rev = ctx.arg(0, "A rev argument")?;
    let repo = ctx.repo()?;
    let mut cur = Some(repo.resolve_rev(rev, false)?.ok_or_else(|| anyhow!("Refspec '{rev}' not found"))?);
    let mut first = true;
    while let Some(c) = cur {
        let commit = match repo.load_commit(&c) {
            Ok(commit) => commit,
            // History may be partial (pulled with a depth): stop quietly,
            // as ostree does, but not on the first commit.
            Err(oxtree_store::Error::MissingObject { .. }) if !first => {
                if repo.has_object(oxtree_store::object::ObjectType::TombstoneCommit, &c) {
                    println!("<< History beyond this commit has been deleted >>");
                } else {
                    println!("<< History beyond this commit not fetched >>");
                }
                break;
            }
            Err(e) => return Err(e.into()),
        };
        print_commit(&repo, &c, &commit);
        cur = commit.parent;
        first = false;
    }
    Ok(())
}
