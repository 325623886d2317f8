//! `export`: stream a commit as a tar archive.

use std::io::Write;

use anyhow::{anyhow, Result};
use oxtree_store::export::{export_commit, ExportOptions};

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "export",
    usage: "COMMIT",
    summary: "Stream COMMIT to stdout in tar format",
    opts: &[
        flag!("no-xattrs", "Skip output of extended attributes"),
        opt!("subpath", "PATH", "Checkout sub-directory PATH"),
        opt!("prefix", "PATH", "Add PATH as prefix to archive pathnames"),
        opt!("output", 'o', "PATH", "Output to PATH "),
    ],
    repo: true,
    run,
    subcommands: &[],
};

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let Some(rev) = a.args.first() else {
        anyhow::bail!(crate::opts::UsageError("A COMMIT argument is required".into()));
    };
    let repo = ctx.repo()?;
    let commit = repo.resolve_rev(rev, false)?.ok_or_else(|| anyhow!("Refspec '{rev}' not found"))?;
    let mut opts = ExportOptions {
        subpath: a.get("subpath").map(str::to_string),
        prefix: a.get("prefix").map(str::to_string),
        no_xattrs: a.flag("no-xattrs"),
        pad_records: false,
    };
    match a.get("output") {
        Some(path) => {
            // Written next to the target and renamed into place, so a failed
            // export leaves no half archive behind.
            let dest = std::path::Path::new(path);
            let tmp = dest.with_file_name(format!(
                ".{}.tmp-{}",
                dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                std::process::id()
            ));
            let f = std::fs::File::create(&tmp).map_err(|e| anyhow!("{}: {e}", tmp.display()))?;
            let res = export_commit(&repo, &commit, std::io::BufWriter::new(f), &opts).and_then(|w| {
                w.into_inner().map_err(|e| oxtree_store::Error::Io { path: tmp.clone(), source: e.into_error() })
            });
            match res {
                Ok(_) => std::fs::rename(&tmp, dest).map_err(|e| anyhow!("{path}: {e}"))?,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e.into());
                }
            }
        }
        None => {
            opts.pad_records = true;
            let out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
            let mut out = export_commit(&repo, &commit, out, &opts)?;
            out.flush()?;
        }
    }
    Ok(())
}
