//! `compose`: bootable commits from package manifests (`compose tree`) and
//! from root file systems (`compose rootfs`).

use std::borrow::Cow;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use oxtree_rpmimport::compose::{compose, ComposeOptions};
use oxtree_rpmimport::depsolve::{arches, resolve, Universe};
use oxtree_rpmimport::rootfs::make_deployable;
use oxtree_rpmimport::treefile::Treefile;
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
    subcommands: &[&TREE, &ROOTFS],
};

static TREE: Command = Command {
    name: "tree",
    usage: "MANIFEST",
    summary: "Compose the packages a treefile (JSON or YAML) names, from local RPM repositories, into a commit on its ref; print the commit",
    opts: &[
        flag!("force-nocache", "Commit even if the inputs are unchanged since the ref's commit"),
        flag!("timings", "Print where the time went, phase by phase (on stderr)"),
        flag!("run-scriptlets", "Run the packages' %pre, %post and %posttrans chrooted in the tree (in private namespaces, over an overlay)"),
        flag!("dry-run", "Print the packages that would be composed, and stop"),
        opt!("add-metadata-string", "KEY=VALUE", "Add a key/value pair to metadata (the version: version=V)"),
        opt!("write-commitid-to", "FILE", "Write the commit (new or unchanged) to FILE"),
        flag!("quiet", 'q', "Print only the commit"),
    ],
    repo: true,
    run: tree,
    subcommands: &[],
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

/// The architecture RPM calls this machine's (`basearch`).
pub(crate) fn basearch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i686",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => other,
    }
}

fn metadata_strings(ctx: &Context) -> Result<Vec<(String, String)>> {
    ctx.args
        .all("add-metadata-string")
        .into_iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').ok_or_else(|| anyhow!("--add-metadata-string={kv}: expected KEY=VALUE"))?;
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

fn tree(ctx: &Context) -> Result<()> {
    let manifest = ctx.arg(0, "MANIFEST")?;
    if ctx.args.args.len() > 1 {
        bail!("Too many arguments: compose tree takes one MANIFEST");
    }
    let arch = basearch();
    let tf = Treefile::load(Path::new(manifest), arch)?;
    let quiet = ctx.args.flag("quiet");
    if ctx.args.flag("dry-run") {
        let u = Universe::scan(&tf.repos, &arches(arch), &tf.exclude_packages)?;
        for i in resolve(&u, &tf.packages)? {
            println!("{}", u.packages[i].package.nevra());
        }
        return Ok(());
    }
    let repo = ctx.repo()?;
    let opts = ComposeOptions {
        basearch: arch.to_string(),
        timestamp: super::commit::commit_time()?,
        force: ctx.args.flag("force-nocache"),
        metadata: metadata_strings(ctx)?,
        run_scriptlets: ctx.args.flag("run-scriptlets"),
    };
    let done = compose(&repo, &tf, &opts)?;
    if !quiet {
        for w in &done.warnings {
            eprintln!("warning: {w}");
        }
        for (nevra, scripts) in &done.skipped_scriptlets {
            eprintln!("scriptlets not run: {nevra}: {}", scripts.join(" "));
        }
        for (nevra, name) in &done.ran_scriptlets {
            eprintln!("ran {nevra} {name}");
        }
        if done.script_changes > 0 {
            eprintln!("scripts changed {} paths", done.script_changes);
        }
        if done.changed {
            eprintln!(
                "{} packages ({} imported, {} from earlier imports); version {}; {}",
                done.packages.len(),
                done.packages.len() - done.reused,
                done.reused,
                done.version.as_deref().unwrap_or("(none)"),
                match &done.kver {
                    Some(k) => format!("kernel {k}"),
                    None => "no kernel (not bootable)".to_string(),
                }
            );
        } else {
            eprintln!("No apparent changes since previous commit; use --force-nocache to override");
        }
    }
    if ctx.args.flag("timings") {
        let total: std::time::Duration = done.phases.iter().map(|(_, d)| *d).sum();
        for (phase, d) in &done.phases {
            eprintln!("timing: {phase:<13} {:>8.3} s", d.as_secs_f64());
        }
        eprintln!("timing: {:<13} {:>8.3} s", "total", total.as_secs_f64());
    }
    if let Some(f) = ctx.args.get("write-commitid-to") {
        std::fs::write(f, done.commit.to_string()).map_err(|e| anyhow!("writing {f}: {e}"))?;
    }
    println!("{}", done.commit);
    Ok(())
}

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
