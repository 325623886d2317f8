//! `rpm`: RPM packages into the repository (`rpm import`).

use std::path::Path;

use anyhow::{anyhow, Result};
use oxtree_rpmimport::owners::Owners;
use oxtree_rpmimport::paths::Rules;
use oxtree_rpmimport::{import_file, Options};

use super::{no_run, Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "rpm",
    usage: "COMMAND",
    summary: "Import RPM packages",
    opts: &[],
    repo: false,
    run: no_run,
    subcommands: &[&IMPORT],
};

static IMPORT: Command = Command {
    name: "import",
    usage: "FILE.rpm...",
    summary: "Import each package as a commit on rpmostree/pkg/NAME/EVR.ARCH; print each ref and commit",
    opts: &[
        opt!(
            "owners-from",
            "ROOT",
            "Look up the files' owner names in ROOT/etc/passwd and ROOT/etc/group (default: /)"
        ),
        flag!("no-docs", "Leave out %doc files"),
        flag!("skip-extraneous", "Leave out files outside the directories an OSTree tree holds, instead of failing"),
    ],
    repo: true,
    run: import,
    subcommands: &[],
};

/// The import options `rpm import` and the composes share.
pub(crate) fn options(ctx: &Context) -> Options {
    Options {
        owners: Owners::from_root(Path::new(ctx.args.get("owners-from").unwrap_or("/"))),
        rules: Rules { skip_extraneous: ctx.args.flag("skip-extraneous") },
        nodocs: ctx.args.flag("no-docs"),
        langs: None,
    }
}

fn import(ctx: &Context) -> Result<()> {
    ctx.arg(0, "At least one FILE.rpm")?;
    let repo = ctx.repo()?;
    let opts = options(ctx);
    for file in &ctx.args.args {
        let imported = import_file(&repo, Path::new(file), &opts).map_err(|e| anyhow!("{file}: {e}"))?;
        for w in &imported.warnings {
            eprintln!("warning: {file}: {w}");
        }
        println!("{} {}", imported.branch, imported.commit);
    }
    Ok(())
}
