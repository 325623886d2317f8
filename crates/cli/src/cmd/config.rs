//! `config`: read and change the repo config (`get|set|unset`).

use anyhow::{anyhow, bail, Result};

use super::{Command, Context};
use crate::opt;

pub static COMMAND: Command = Command {
    name: "config",
    usage: "(get KEY|set KEY VALUE|unset KEY)",
    summary: "Change repo configuration settings",
    opts: &[opt!("group", "GROUP", "Group name for remote config")],
    repo: true,
    run,
    subcommands: &[],
};

/// `SECTION.KEY` splits at the last dot, except for `remote "x.y".key`.
fn split_key<'a>(ctx: &'a Context, key: &'a str) -> Result<(String, &'a str)> {
    if let Some(g) = ctx.args.get("group") {
        return Ok((g.to_string(), key));
    }
    let (g, k) = key.rsplit_once('.').ok_or_else(|| anyhow!("Key \"{key}\" must be of the form \"section.key\""))?;
    Ok((g.to_string(), k))
}

fn run(ctx: &Context) -> Result<()> {
    let op = ctx.arg(0, "An operation")?;
    let mut repo = ctx.repo()?;
    let mut cfg = repo.config().clone();
    match op {
        "get" => {
            let (g, k) = split_key(ctx, ctx.arg(1, "A KEY")?)?;
            let v = cfg.get(&g, k).ok_or_else(|| {
                anyhow!("Key file does not have key \u{201c}{k}\u{201d} in group \u{201c}{g}\u{201d}")
            })?;
            println!("{v}");
        }
        "set" => {
            let (g, k) = split_key(ctx, ctx.arg(1, "A KEY")?)?;
            let v = ctx.arg(2, "A VALUE")?;
            cfg.set(&g, k, v);
            repo.write_config(cfg)?;
        }
        "unset" => {
            let (g, k) = split_key(ctx, ctx.arg(1, "A KEY")?)?;
            // Unsetting an absent key is not an error, as in ostree.
            if cfg.unset(&g, k) {
                repo.write_config(cfg)?;
            }
        }
        other => bail!("Unknown operation {other}"),
    }
    Ok(())
}
