//! `demo`: the whole job end to end on a generated tree — init, commit,
//! check out, compare, fsck — then the OS-update half: a bootable tree
//! deployed into a sysroot, upgraded to a second commit, and rolled back,
//! with `admin status` after each step. Not an ostree command; it is what
//! the README's first command runs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use oxtree_checkout::{checkout, CheckoutOptions};
use oxtree_store::build::{write_commit, write_directory, CommitFilter, CommitInfo};
use oxtree_store::fsck::{fsck, FsckOptions};
use oxtree_store::{Repo, RepoMode};

use super::{Command, Context};
use crate::opt;

pub static COMMAND: Command = Command {
    name: "demo",
    usage: "[DIR]",
    summary: "Run init, commit, checkout, fsck, deploy, upgrade and rollback on generated trees (oxtree only)",
    opts: &[opt!("files", "N", "How many files to generate (default: 3000)")],
    repo: false,
    run,
    subcommands: &[],
};

/// A tree with the kinds of entry an OS tree has: text and binary files of
/// many sizes, executables, empty files, symlinks, nested directories.
fn generate(root: &Path, files: usize) -> Result<u64> {
    let mut bytes = 0u64;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..files {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let dir = root.join(format!("usr/share/pkg{:03}/sub{}", i % 97, i % 5));
        std::fs::create_dir_all(&dir)?;
        let size = match i % 10 {
            0 => 0,
            1..=6 => (x % 4096) as usize,
            7 | 8 => (x % 65536) as usize,
            _ => (x % (256 << 10)) as usize,
        };
        let mut data = Vec::with_capacity(size);
        let mut y = x;
        while data.len() < size {
            y = y.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let line = format!("pkg {i} line {} {:x}\n", data.len(), y >> 40);
            data.extend_from_slice(line.as_bytes());
        }
        data.truncate(size);
        let p = dir.join(format!("file{i}.dat"));
        std::fs::write(&p, &data)?;
        bytes += size as u64;
        if i % 13 == 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
        if i % 17 == 0 {
            std::os::unix::fs::symlink(format!("file{i}.dat"), dir.join(format!("link{i}")))?;
        }
    }
    std::fs::create_dir_all(root.join("etc"))?;
    std::fs::write(root.join("etc/os-release"), "NAME=\"oxtree demo\"\nID=demo\n")?;
    std::os::unix::fs::symlink("usr/share", root.join("share"))?;
    Ok(bytes)
}

fn run(ctx: &Context) -> Result<()> {
    let files: usize = match ctx.args.get("files") {
        Some(n) => n.parse().with_context(|| format!("--files={n}"))?,
        None => 3000,
    };
    let base: PathBuf = match ctx.args.args.first() {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("oxtree-demo-{}", std::process::id())),
    };
    if base.exists() && std::fs::read_dir(&base)?.next().is_some() {
        bail!("{}: exists and is not empty; give an empty or new directory", base.display());
    }
    let (src, repo_path, co) = (base.join("tree"), base.join("repo"), base.join("checkout"));
    println!("oxtree demo in {}", base.display());

    let t = Instant::now();
    let bytes = generate(&src, files)?;
    println!("1. generated {files} files ({:.1} MB) in {}", bytes as f64 / 1e6, src.display());

    let t0 = Instant::now();
    let repo = Repo::init(&repo_path, RepoMode::BareUser)?;
    println!("2. created a bare-user repository at {}", repo_path.display());

    let t1 = Instant::now();
    let mut tx = repo.transaction()?;
    let root = write_directory(&tx, &src, &CommitFilter::default())?.write(&tx)?;
    let info = CommitInfo {
        subject: "oxtree demo".into(),
        timestamp: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
        ..Default::default()
    };
    let commit = write_commit(&tx, &info, root)?;
    let written = tx.stats.content_written.load(std::sync::atomic::Ordering::Relaxed);
    tx.set_ref("demo/main", Some(commit))?;
    tx.commit()?;
    println!("3. committed {written} content objects as {commit} (ref demo/main) in {:.2?}", t1.elapsed());

    let t2 = Instant::now();
    let opts = CheckoutOptions { user_mode: true, ..Default::default() };
    let stats = checkout(&repo, &commit, &co, &opts)?;
    println!(
        "4. checked it out to {} in {:.2?}: {} hardlinked, {} copied, {} symlinks, {} directories",
        co.display(),
        t2.elapsed(),
        stats.files_hardlinked,
        stats.files_copied,
        stats.symlinks_created,
        stats.dirs_created
    );

    use oxtree_store::diff::{diff, DiffOptions, DiffTarget};
    // A user-mode checkout of a bare-user repo hardlinks the objects, which
    // carry their metadata in the user.ostreemeta xattr: compare without
    // xattrs (the commit has none; the generated tree had none).
    let d = diff(
        &repo,
        &DiffTarget::Commit(commit),
        &DiffTarget::Dir(co.clone()),
        &DiffOptions { no_xattrs: true, ..Default::default() },
    )?;
    if !d.is_empty() {
        let lines = d.lines();
        bail!(
            "the checkout differs from the commit in {} paths, e.g.:\n{}",
            lines.len(),
            lines[..lines.len().min(10)].join("\n")
        );
    }
    println!("5. the checkout matches the commit, file for file");

    let t3 = Instant::now();
    let report = fsck(&repo, &FsckOptions { quiet: true, ..Default::default() }, &|_| {})?;
    if !report.problems.is_empty() {
        bail!("fsck found {} problems", report.problems.len());
    }
    println!(
        "6. fsck verified {} objects of {} commit: no errors ({:.2?})",
        report.objects,
        report.commits_verified,
        t3.elapsed()
    );
    deployments(&base, &repo)?;
    println!(
        "done in {:.2?} (setup {:.2?}); try: oxtree --repo={} log demo/main, oxtree admin status --sysroot={}",
        t.elapsed(),
        t0 - t,
        repo_path.display(),
        base.join("sysroot").display()
    );
    Ok(())
}

/// A bootable tree as a compose step makes one: the kernel and initramfs
/// in `usr/lib/modules/KVER/`, the default configuration in `usr/etc`.
fn bootable_tree(root: &Path, version: u32) -> Result<()> {
    let kdir = root.join("usr/lib/modules/6.1.0-demo");
    std::fs::create_dir_all(&kdir)?;
    let blob = |tag: &str, n: usize| -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(tag.len() as u8)).collect()
    };
    std::fs::write(kdir.join("vmlinuz"), blob("kernel", 256 << 10))?;
    std::fs::write(kdir.join("initramfs.img"), blob("initramfs", 128 << 10))?;
    std::fs::create_dir_all(root.join("usr/etc"))?;
    std::fs::write(root.join("usr/etc/os-release"), "NAME=\"Demo OS\"\nID=demo\nPRETTY_NAME=\"Demo OS\"\n")?;
    std::fs::write(root.join("usr/etc/demo.conf"), format!("setting = {version}\n"))?;
    std::fs::create_dir_all(root.join("usr/bin"))?;
    std::fs::write(root.join("usr/bin/hello"), format!("#!/bin/sh\necho hello from version {version}\n"))?;
    std::fs::set_permissions(root.join("usr/bin/hello"), std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

fn commit_os(
    repo: &Repo,
    tree: &Path,
    version: u32,
    parent: Option<oxtree_store::Checksum>,
) -> Result<oxtree_store::Checksum> {
    use oxtree_store::gvariant::Value;
    let mut tx = repo.transaction()?;
    let root = write_directory(&tx, tree, &CommitFilter::default())?.write(&tx)?;
    let mut metadata = oxtree_store::object::CommitMetadata::default();
    metadata.set("version", Value::Str(version.to_string().into()));
    let info = CommitInfo {
        subject: format!("demo OS version {version}"),
        timestamp: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + u64::from(version),
        parent,
        metadata,
        ..Default::default()
    };
    let c = write_commit(&tx, &info, root)?;
    tx.set_ref("demo/os", Some(c))?;
    tx.commit()?;
    Ok(c)
}

fn show_status(s: &oxtree_sysroot::Sysroot) -> Result<()> {
    for line in super::admin::status::text(s, false)?.lines() {
        println!("     {line}");
    }
    Ok(())
}

/// Steps 7-10: compose, deploy, upgrade, roll back.
fn deployments(base: &Path, repo: &Repo) -> Result<()> {
    use oxtree_sysroot::deploy::{deploy, DeployOptions};
    use oxtree_sysroot::{layout, KernelArgs, Sysroot, WriteOptions};
    let t = Instant::now();
    let v1 = base.join("os-v1");
    bootable_tree(&v1, 1)?;
    let c1 = commit_os(repo, &v1, 1, None)?;
    println!("7. composed a bootable tree (kernel 6.1.0-demo, initramfs, /usr/etc) and committed it as demo/os version 1 ({c1})");

    let sysroot = base.join("sysroot");
    layout::init_fs(&sysroot, true, 1)?;
    layout::os_init(&sysroot, "demo")?;
    let mut s = Sysroot::open(&sysroot)?;
    // Left mutable (no chattr +i on the deployment roots), so that the demo
    // directory can be deleted with rm -rf.
    s.set_debug(oxtree_sysroot::DebugFlags { mutable_deployments: true, ..s.debug() });
    let pull = |s: &Sysroot| -> Result<()> {
        oxtree_fetch::pull_local(repo, s.repo(), &["demo/os".to_string()], &Default::default())?;
        Ok(())
    };
    pull(&s)?;
    let mut origin = oxtree_store::repo::KeyFile::new();
    origin.set("origin", "refspec", "demo/os");
    let mut opts = DeployOptions {
        stateroot: "demo".into(),
        commit: Some(c1),
        origin: Some(origin),
        kargs: Some(KernelArgs::parse("root=LABEL=demo-root quiet")),
        write: WriteOptions::default(),
        ..Default::default()
    };
    let r = deploy(&mut s, &opts)?;
    println!(
        "8. made a sysroot at {} and deployed version 1 ({:.2?}): {}",
        sysroot.display(),
        t.elapsed(),
        r.write.message()
    );
    show_status(&s)?;

    // The administrator changes /etc; the upgrade carries it over.
    let etc = s.deployment_dir(&r.deployment).join("etc");
    std::fs::write(etc.join("local.conf"), "made on this machine\n")?;
    let v2 = base.join("os-v2");
    bootable_tree(&v2, 2)?;
    let c2 = commit_os(repo, &v2, 2, Some(c1))?;
    pull(&s)?;
    opts.commit = Some(c2);
    opts.kargs = None;
    let t = Instant::now();
    let r = deploy(&mut s, &opts)?;
    let etc2 = s.deployment_dir(&r.deployment).join("etc");
    if std::fs::read_to_string(etc2.join("local.conf")).ok().as_deref() != Some("made on this machine\n") {
        bail!("the upgrade lost /etc/local.conf");
    }
    println!(
        "9. upgraded to version 2 ({c2}) in {:.2?}; {}; version 1 stays as the rollback",
        t.elapsed(),
        r.etc.as_ref().map(|d| d.summary()).unwrap_or_default()
    );
    show_status(&s)?;

    let w = s.set_default(1, &WriteOptions::default())?;
    println!("10. rolled back: version 1 boots by default again ({})", w.message());
    show_status(&s)?;
    Ok(())
}
