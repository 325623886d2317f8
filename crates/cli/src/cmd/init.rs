//! `init`: create a repository.

use anyhow::{bail, Result};
use oxtree_store::{Repo, RepoMode};

use super::{Command, Context};
use crate::opt;

pub static COMMAND: Command = Command {
    name: "init",
    usage: "",
    summary: "Initialize a new empty repository",
    opts: &[
        opt!("mode", "MODE", "Initialize repository in given mode (bare, bare-user, bare-user-only, archive)"),
        opt!(
            "collection-id",
            "COLLECTION-ID",
            "Globally unique ID for this repository as an collection of refs for redistribution to other repositories"
        ),
    ],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let mode_s = ctx.args.get("mode").unwrap_or("bare");
    let Some(mode) = RepoMode::parse(mode_s) else {
        bail!("Invalid mode '{mode_s}' in repository configuration");
    };
    let path = ctx.repo_path()?;
    Repo::init_with(&path, mode, ctx.args.get("collection-id"))?;
    Ok(())
}
