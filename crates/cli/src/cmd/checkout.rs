//! `checkout`: check out a commit (or part of it) into a directory.
//!
//! As `ostree checkout` 2022.7: with none of the "new-style" options the
//! repository's uncompressed-objects cache is used (archive repos in user
//! mode); any of them turns it off. `--from-stdin`/`--from-file` read
//! NUL-terminated pairs `REVISION\0SUBPATH\0` and check each out into the
//! one DESTINATION. DESTINATION defaults to the COMMIT argument as given.

use std::collections::HashSet;
use std::io::Read;

use anyhow::{anyhow, bail, Context as _, Result};
use oxtree_checkout::{checkout, CheckoutError, CheckoutOptions, OverwriteMode};
use oxtree_store::{Checksum, Repo};

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "checkout",
    usage: "COMMIT [DESTINATION]",
    summary: "Check out a commit into a filesystem tree",
    opts: &[
        flag!("user-mode", 'U', "Do not change file ownership or initialize extended attributes"),
        flag!("disable-cache", "Do not update or use the internal repository uncompressed object cache"),
        opt!("subpath", "PATH", "Checkout sub-directory PATH"),
        flag!("union", "Keep existing directories, overwrite existing files"),
        flag!("union-add", "Keep existing files/directories, only add new"),
        flag!(
            "union-identical",
            "When layering checkouts, error out if a file would be replaced with a different version, but add new files and directories"
        ),
        flag!("whiteouts", "Process 'whiteout' (Docker style) entries"),
        flag!("process-passthrough-whiteouts", "Enable overlayfs whiteout extraction into char 0:0 devices"),
        flag!("allow-noent", "Do nothing if specified path does not exist"),
        flag!("from-stdin", "Process many checkouts from standard input"),
        opt!("from-file", "FILE", "Process many checkouts from input file"),
        opt!("fsync", "POLICY", "Specify how to invoke fsync()"),
        flag!("require-hardlinks", 'H', "Do not fall back to full copies if hardlinking fails"),
        flag!("force-copy", 'C', "Never hardlink (but may reflink if available)"),
        flag!(
            "bareuseronly-dirs",
            'M',
            "Suppress mode bits outside of 0775 for directories (suid, world writable, etc.)"
        ),
        opt!("skip-list", "FILE", "File containing list of files to skip"),
        opt!(
            "selinux-policy",
            "PATH",
            "Set SELinux labels based on policy in root filesystem PATH (may be /); implies --force-copy"
        ),
        opt!("selinux-prefix", "PREFIX", "When setting SELinux labels, prefix all paths by PREFIX"),
        // Hidden in ostree and a no-op there: zero-sized files are always copied.
        flag!("force-copy-zerosized", 'z', "Do not hardlink zero-sized files"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

/// GLib-style boolean, as `ostree --fsync=POLICY` takes it.
fn parse_boolean(v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" | "none" => Ok(false),
        _ => bail!("Invalid boolean argument '{v}'"),
    }
}

/// `--skip-list`: one path per line, empty lines ignored.
fn read_skip_list(path: &str) -> Result<HashSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("Reading {path}"))?;
    Ok(text.split('\n').filter(|l| !l.is_empty()).map(str::to_string).collect())
}

/// The options of one checkout, as ostree derives them from the flags.
fn options(ctx: &Context, subpath: Option<&str>) -> Result<CheckoutOptions> {
    let a = &ctx.args;
    let (union, union_add, union_identical) = (a.flag("union"), a.flag("union-add"), a.flag("union-identical"));
    let require_hardlinks = a.flag("require-hardlinks");
    let force_copy = a.flag("force-copy");
    if a.get("selinux-prefix").is_some() && a.get("selinux-policy").is_none() {
        bail!("Cannot specify --selinux-prefix without --selinux-policy");
    }
    if a.get("selinux-policy").is_some() {
        bail!("--selinux-policy is not supported by oxtree yet (no SELinux labelling)");
    }
    let new_style = a.flag("disable-cache")
        || a.flag("whiteouts")
        || require_hardlinks
        || union_add
        || force_copy
        || a.flag("force-copy-zerosized")
        || a.flag("bareuseronly-dirs")
        || union_identical
        || a.get("skip-list").is_some()
        || a.flag("process-passthrough-whiteouts");
    let mut opts = CheckoutOptions {
        user_mode: a.flag("user-mode"),
        subpath: subpath.map(str::to_string),
        overwrite: if union { OverwriteMode::UnionFiles } else { OverwriteMode::None },
        ..Default::default()
    };
    if !new_style {
        return Ok(opts);
    }
    if union && union_add {
        bail!("Cannot specify both --union and --union-add");
    }
    if union && union_identical {
        bail!("Cannot specify both --union and --union-identical");
    }
    if union_add && union_identical {
        bail!("Cannot specify both --union-add and --union-identical");
    }
    if require_hardlinks && force_copy {
        bail!("Cannot specify both --require-hardlinks and --force-copy");
    }
    if union_add {
        opts.overwrite = OverwriteMode::AddFiles;
    } else if union_identical {
        if !require_hardlinks {
            bail!("--union-identical requires --require-hardlinks");
        }
        opts.overwrite = OverwriteMode::UnionIdentical;
    }
    opts.disable_cache = true;
    opts.whiteouts = a.flag("whiteouts");
    opts.process_passthrough_whiteouts = a.flag("process-passthrough-whiteouts");
    opts.require_hardlinks = require_hardlinks;
    opts.force_copy = force_copy;
    opts.bareuseronly_dirs = a.flag("bareuseronly-dirs");
    if let Some(f) = a.get("skip-list") {
        opts.skip = read_skip_list(f)?;
    }
    Ok(opts)
}

fn resolve(repo: &Repo, rev: &str) -> Result<Checksum> {
    repo.resolve_rev(rev, false)?.ok_or_else(|| anyhow!("Refspec '{rev}' not found"))
}

fn process_one(ctx: &Context, repo: &Repo, commit: &Checksum, subpath: Option<&str>, dest: &str) -> Result<()> {
    let opts = options(ctx, subpath)?;
    match checkout(repo, commit, dest.as_ref(), &opts) {
        Ok(_) => Ok(()),
        Err(CheckoutError::NoSuchPath(_)) if ctx.args.flag("allow-noent") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `--from-stdin` / `--from-file`: `REVISION\0SUBPATH\0` pairs.
fn process_many(ctx: &Context, repo: &Repo, dest: &str) -> Result<()> {
    let mut input = Vec::new();
    if ctx.args.flag("from-stdin") {
        std::io::stdin().read_to_end(&mut input)?;
    } else if let Some(f) = ctx.args.get("from-file") {
        input = std::fs::read(f).with_context(|| format!("Opening {f}"))?;
    }
    let mut fields = input.split(|&b| b == 0);
    while let Some(rev) = fields.next() {
        if rev.is_empty() {
            break;
        }
        let subpath = fields.next().unwrap_or_default();
        let rev = std::str::from_utf8(rev).map_err(|_| anyhow!("Invalid revision in input"))?;
        let subpath = std::str::from_utf8(subpath).map_err(|_| anyhow!("Invalid subpath in input"))?;
        let c = resolve(repo, rev)?;
        process_one(ctx, repo, &c, Some(subpath), dest).map_err(|e| anyhow!("Processing tree {c}: {e:#}"))?;
    }
    Ok(())
}

fn run(ctx: &Context) -> Result<()> {
    let mut repo = ctx.repo()?;
    if let Some(p) = ctx.args.get("fsync") {
        if !parse_boolean(p)? {
            repo.set_fsync(false);
        }
    }
    let first = ctx.arg(0, "COMMIT")?;
    if ctx.args.flag("from-stdin") || ctx.args.get("from-file").is_some() {
        return process_many(ctx, &repo, first);
    }
    let dest = ctx.args.args.get(1).map(String::as_str).unwrap_or(first);
    let c = resolve(&repo, first)?;
    process_one(ctx, &repo, &c, ctx.args.get("subpath"), dest)
}
