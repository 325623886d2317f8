//! `pull-local`: copy commits from another repository on this machine.

use anyhow::Result;
use oxtree_fetch::{pull_local, PullLocalOptions};
use oxtree_store::Repo;

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "pull-local",
    usage: "SRC_REPO [REFS...]",
    summary: "Copy data from SRC_REPO",
    opts: &[
        opt!("remote", "REMOTE", "Add REMOTE to refspec"),
        flag!("disable-fsync", "Do not invoke fsync()"),
        flag!("untrusted", "Verify checksums of local sources (always enabled for HTTP pulls)"),
        flag!("bareuseronly-files", "Reject regular files with mode outside of 0775 (world writable, suid, etc.)"),
        flag!("require-static-deltas", "Require static deltas"),
        flag!("per-object-fsync", "Perform writes in such a way that avoids stalling concurrent processes"),
        flag!("commit-metadata-only", "Fetch only the commit metadata"),
        opt!("depth", "DEPTH", "Traverse DEPTH parents (-1=infinite) (default: 0)"),
        flag!("gpg-verify", "GPG verify commits (must specify --remote)"),
        flag!("gpg-verify-summary", "GPG verify summary (must specify --remote)"),
        flag!("disable-verify-bindings", "Do not verify commit bindings"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let src_path = ctx.arg(0, "DESTINATION must be specified; SRC_REPO")?;
    let mut dest = ctx.repo()?;
    if a.flag("disable-fsync") {
        dest.set_fsync(false);
    }
    let src_path = src_path.strip_prefix("file://").unwrap_or(src_path);
    let src = Repo::open(std::path::Path::new(src_path))?;
    let depth = match a.get("depth") {
        Some(d) => d.parse::<i64>().map_err(|_| anyhow::anyhow!("Invalid --depth '{d}'"))?,
        None => 0,
    };
    let opts = PullLocalOptions {
        untrusted: a.flag("untrusted"),
        depth,
        commit_metadata_only: a.flag("commit-metadata-only"),
        remote: a.get("remote").map(str::to_string),
        bareuseronly_files: a.flag("bareuseronly-files"),
        subpaths: Vec::new(),
        require_static_deltas: a.flag("require-static-deltas"),
        dry_run: false,
        verify_commits: a.flag("gpg-verify"),
        verify_summary: a.flag("gpg-verify-summary"),
    };
    let refs: Vec<String> = a.args[1..].to_vec();
    let stats = pull_local(&src, &dest, &refs, &opts)?;
    println!("{}", super::pull::closing_line(&stats, None));
    Ok(())
}
