//! `diff`: compare two commits, or a commit and a directory.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use oxtree_store::diff::{diff, diff_stats, DiffOptions, DiffTarget};
use oxtree_store::{Checksum, Error, Repo};

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "diff",
    usage: "REV_OR_DIR REV_OR_DIR",
    summary: "Compare directory TARGETDIR against revision REV",
    opts: &[
        flag!("stats", "Print various statistics"),
        flag!("fs-diff", "Print filesystem diff"),
        flag!("no-xattrs", "Skip output of extended attributes"),
        opt!("owner-uid", "UID", "Use file ownership user id for local files"),
        opt!("owner-gid", "GID", "Use file ownership group id for local files"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

/// An argument names a directory when it starts with `/` or `./`, as in ostree.
fn is_path(arg: &str) -> bool {
    arg.starts_with('/') || arg.starts_with("./")
}

fn resolve(repo: &Repo, rev: &str) -> Result<Checksum> {
    if is_path(rev) {
        bail!("Invalid refspec {rev}");
    }
    match repo.resolve_rev(rev, false) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => bail!("Refspec '{rev}' not found"),
        Err(Error::InvalidRef(_)) => bail!("Invalid refspec {rev}"),
        Err(e) => Err(e.into()),
    }
}

fn target(repo: &Repo, arg: &str) -> Result<DiffTarget> {
    if is_path(arg) {
        Ok(DiffTarget::Dir(PathBuf::from(arg)))
    } else {
        Ok(DiffTarget::Commit(resolve(repo, arg)?))
    }
}

fn id(opt: &str, v: Option<&str>) -> Result<Option<u32>> {
    v.map(|v| v.trim().parse::<u32>().map_err(|_| anyhow!("Cannot parse integer value “{v}” for --{opt}"))).transpose()
}

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let opts = DiffOptions {
        no_xattrs: a.flag("no-xattrs"),
        owner_uid: id("owner-uid", a.get("owner-uid"))?,
        owner_gid: id("owner-gid", a.get("owner-gid"))?,
    };
    let first = ctx.arg(0, "REV")?;
    let repo = ctx.repo()?;
    // With one argument, compare a commit with its parent.
    let (src, dst) = match a.args.get(1) {
        Some(second) => (first.to_string(), second.clone()),
        None => (format!("{first}^"), first.to_string()),
    };
    let stats = a.flag("stats");
    let fs_diff = a.flag("fs-diff") || !stats;
    if fs_diff {
        let d = diff(&repo, &target(&repo, &src)?, &target(&repo, &dst)?, &opts)?;
        let mut out = String::new();
        for l in d.lines() {
            out.push_str(&l);
            out.push('\n');
        }
        print!("{out}");
    }
    if stats {
        let st = diff_stats(&repo, &resolve(&repo, &src)?, &resolve(&repo, &dst)?)?;
        for l in st.lines() {
            println!("{l}");
        }
    }
    Ok(())
}
