//! `compose`: bootable commits from root file systems (`compose rootfs`).

use std::borrow::Cow;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use oxtree_rpmimport::rootfs::make_deployable;
use oxtree_store::build::{write_commit, write_directory, CommitFilter, CommitInfo};
use oxtree_store::gvariant::Value;
use oxtree_store::object::{CommitMetadata, DirMeta, ObjectType, Xattrs};

use super::{no_run, Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "compose",
    usage: "COMMAND",
    summary: "Compose bootable commits",
    opts: &[],
    repo: false,
    run: no_run,
    subcommands: &[&ROOTFS],
};

static ROOTFS: Command = Command {
    name: "rootfs",
    usage: "DIR",
    summary: "Commit a root file system made deployable: kernel into usr/lib/modules/KVER, /etc to usr/etc, /var to tmpfiles.d; print the commit",
    opts: &[
        opt!("branch", 'b', "BRANCH", "Branch to commit to"),
        opt!("subject", 's', "SUBJECT", "One line subject"),
        opt!("add-metadata-string", "KEY=VALUE", "Add a key/value pair to metadata (the version: version=V)"),
        flag!("quiet", 'q', "Do not print what was moved"),
    ],
    repo: true,
    run: rootfs,
    subcommands: &[],
};

fn rootfs(ctx: &Context) -> Result<()> {
    let dir = ctx.arg(0, "DIR")?;
    let branch = ctx.args.get("branch").ok_or_else(|| anyhow!("A branch must be specified with --branch"))?;
    if ctx.args.args.len() > 1 {
        bail!("Too many arguments: compose rootfs takes one DIR");
    }
    let repo = ctx.repo()?;
    let mut tx = repo.transaction()?;
    let mut tree = write_directory(&tx, Path::new(dir), &CommitFilter::default())?;
    let root_meta = DirMeta { uid: 0, gid: 0, mode: 0o040755, xattrs: Xattrs::new() };
    let default_meta = tx.write_metadata(ObjectType::DirMeta, &root_meta.to_bytes())?;
    let report = make_deployable(&tx, Path::new(dir), &mut tree, default_meta)?;
    let root = tree.write(&tx)?;

    let mut metadata = CommitMetadata::default();
    for kv in ctx.args.all("add-metadata-string") {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--add-metadata-string={kv}: expected KEY=VALUE"))?;
        metadata.set(k, Value::Str(Cow::Owned(v.to_string())));
    }
    metadata.set("ostree.bootable", Value::Bool(true));
    metadata.set("ostree.linux", Value::Str(Cow::Owned(report.kver.clone())));
    let parent = repo.resolve_rev(branch, true)?;
    let info = CommitInfo {
        subject: ctx.args.get("subject").unwrap_or("").to_string(),
        body: String::new(),
        parent,
        timestamp: super::commit::commit_time()?,
        metadata,
    };
    let csum = write_commit(&tx, &info, root)?;
    tx.set_ref(branch, Some(csum))?;
    tx.commit()?;
    if !ctx.args.flag("quiet") {
        eprintln!(
            "kernel {} into usr/lib/modules/{}{}; {} tmpfiles.d lines for /var",
            report.kver,
            report.kver,
            if report.initramfs { " with its initramfs" } else { " (no initramfs)" },
            report.tmpfiles.len()
        );
    }
    println!("{csum}");
    Ok(())
}
