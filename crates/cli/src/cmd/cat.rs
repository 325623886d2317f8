//! `cat`: write files of a commit to stdout.

use std::io::{Read, Write};

use anyhow::{bail, Result};
use oxtree_store::repo::FileContent;

use super::{Command, Context};
use crate::util::{lookup_follow, Node};

pub static COMMAND: Command = Command {
    name: "cat",
    usage: "COMMIT PATH...",
    summary: "Concatenate contents of files",
    opts: &[],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let rev = ctx.arg(0, "A COMMIT argument")?;
    ctx.arg(1, "A PATH argument")?;
    let repo = ctx.repo()?;
    let c = repo.resolve_rev(rev, false)?.ok_or_else(|| anyhow::anyhow!("Refspec '{rev}' not found"))?;
    let commit = repo.load_commit(&c)?;
    let mut out = std::io::stdout().lock();
    for p in &ctx.args.args[1..] {
        match lookup_follow(&repo, (commit.root_tree, commit.root_meta), p)? {
            Node::Dir(..) => bail!("Can't open directory"),
            Node::File(f) => {
                let obj = repo.open_file(&f)?;
                match obj.content {
                    FileContent::Symlink => bail!("{p}: Is a symbolic link"),
                    FileContent::Regular(mut r) => {
                        let mut buf = vec![0u8; 128 * 1024];
                        loop {
                            let n = r.read(&mut buf).map_err(|e| anyhow::anyhow!("Corrupted file object {f}: {e}"))?;
                            if n == 0 {
                                break;
                            }
                            out.write_all(&buf[..n])?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
