//! `rev-parse`: print the commit a revision names.

use anyhow::Result;

use super::{Command, Context};
use crate::flag;

pub static COMMAND: Command = Command {
    name: "rev-parse",
    usage: "REV",
    summary: "Output the target of a rev",
    opts: &[flag!(
        "single",
        'S',
        "If the repository has exactly one commit, then print it; any other case will result in an error"
    )],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let repo = ctx.repo()?;
    if ctx.args.flag("single") {
        let commits = repo.list_objects(&[oxtree_store::object::ObjectType::Commit])?;
        match commits.as_slice() {
            [(c, _)] => println!("{c}"),
            [] => anyhow::bail!("No commit objects found"),
            _ => anyhow::bail!("Multiple commit objects found"),
        }
        return Ok(());
    }
    if ctx.args.args.is_empty() {
        ctx.arg(0, "A REV argument")?;
    }
    for rev in &ctx.args.args {
        if let Some(c) = repo.resolve_rev(rev, false)? {
            println!("{c}");
        }
    }
    Ok(())
}
