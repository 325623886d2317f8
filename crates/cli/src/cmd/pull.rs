//! `pull`: fetch refs from a remote. Remotes with `file://` URLs are pulled
//! directly from the repository on disk; HTTP arrives with the fetch work.

use anyhow::{anyhow, bail, Result};
use oxtree_fetch::{pull_local, PullLocalOptions};
use oxtree_store::Repo;

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "pull",
    usage: "REMOTE [BRANCH...]",
    summary: "Download data from remote repository",
    opts: &[
        flag!("commit-metadata-only", "Fetch only the commit metadata"),
        flag!("disable-fsync", "Do not invoke fsync()"),
        flag!("untrusted", "Verify checksums of local sources (always enabled for HTTP pulls)"),
        flag!("bareuseronly-files", "Reject regular files with mode outside of 0775 (world writable, suid, etc.)"),
        opt!("depth", "DEPTH", "Traverse DEPTH parents (-1=infinite) (default: 0)"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let remote = ctx.arg(0, "REMOTE")?;
    let mut dest = ctx.repo()?;
    if a.flag("disable-fsync") {
        dest.set_fsync(false);
    }
    let url = dest.remote_option(remote, "url")?.ok_or_else(|| anyhow!("No \"url\" option in remote \"{remote}\""))?;
    let Some(path) = url.strip_prefix("file://") else {
        bail!("Remote \"{remote}\" has URL {url}: only file:// remotes can be pulled so far");
    };
    let src = Repo::open(std::path::Path::new(path))?;
    let mut refs: Vec<String> = a.args[1..].to_vec();
    if refs.is_empty() {
        let branches = dest.remote_option(remote, "branches")?.unwrap_or_default();
        refs = branches.split(';').filter(|b| !b.is_empty()).map(str::to_string).collect();
        if refs.is_empty() {
            refs = src.list_refs(None)?.into_keys().collect();
        }
    }
    let depth = match a.get("depth") {
        Some(d) => d.parse::<i64>().map_err(|_| anyhow!("Invalid --depth '{d}'"))?,
        None => 0,
    };
    let opts = PullLocalOptions {
        untrusted: true,
        depth,
        commit_metadata_only: a.flag("commit-metadata-only"),
        remote: Some(remote.to_string()),
        bareuseronly_files: a.flag("bareuseronly-files"),
    };
    let stats = pull_local(&src, &dest, &refs, &opts)?;
    println!(
        "{} metadata, {} content objects fetched; {} bytes transferred",
        stats.metadata, stats.content, stats.content_bytes
    );
    Ok(())
}
