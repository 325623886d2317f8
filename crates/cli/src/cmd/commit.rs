//! `commit`: store a tree and record a commit.

use std::borrow::Cow;
use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::{anyhow, bail, Context as _, Result};
use oxtree_store::build::{
    sizes_entry, write_commit, write_directory, write_tar, CommitFilter, CommitInfo, MutableTree, StatOverride,
};
use oxtree_store::gvariant::{parse_text, Type, Value};
use oxtree_store::object::CommitMetadata;
use oxtree_store::RepoMode;

use super::{Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "commit",
    usage: "[PATH]",
    summary: "Commit a new revision",
    opts: &[
        opt!("parent", "COMMIT", "Parent commit checksum, or \"none\""),
        opt!("subject", 's', "SUBJECT", "One line subject"),
        opt!("body", 'm', "BODY", "Full description"),
        opt!("body-file", 'F', "FILE", "Commit message from FILE path"),
        flag!("editor", 'e', "Use an editor to write the commit message"),
        opt!("branch", 'b', "BRANCH", "Branch"),
        flag!("orphan", "Create a commit without writing a ref"),
        flag!("no-bindings", "Do not write any ref bindings"),
        opt!("bind-ref", "BRANCH", "Add a ref to ref binding commit metadata"),
        opt!("base", "REV", "Start from the given commit as a base (no modifiers apply)"),
        opt!("tree", "dir=PATH or tar=TARFILE or ref=COMMIT", "Overlay the given argument as a tree"),
        opt!("add-metadata-string", "KEY=VALUE", "Add a key/value pair to metadata"),
        opt!(
            "add-metadata",
            "KEY=VALUE",
            "Add a key/value pair to metadata, where the KEY is a string, and VALUE is in GVariant Text Format"
        ),
        opt!("keep-metadata", "KEY", "Keep metadata KEY and its associated VALUE from parent"),
        opt!("add-detached-metadata-string", "KEY=VALUE", "Add a key/value pair to detached metadata"),
        opt!("owner-uid", "UID", "Set file ownership user id"),
        opt!("owner-gid", "GID", "Set file ownership group id"),
        flag!("canonical-permissions", "Canonicalize permissions in the same way bare-user does for hardlinked files"),
        flag!("bootable", "Flag this commit as a bootable OSTree (e.g. contains a Linux kernel)"),
        flag!("mode-ro-executables", "Ensure executable files are not writable"),
        flag!("no-xattrs", "Do not import extended attributes"),
        opt!("selinux-policy", "PATH", "Set SELinux labels based on policy in root filesystem PATH (may be /)"),
        flag!("selinux-policy-from-base", 'P', "Set SELinux labels based on first --tree argument"),
        flag!("link-checkout-speedup", "Optimize for commits of trees composed of hardlinks into the repository"),
        flag!("devino-canonical", 'I', "Assume hardlinked objects are unmodified.  Implies --link-checkout-speedup"),
        flag!("tar-autocreate-parents", "When loading tar archives, automatically create parent directories as needed"),
        opt!(
            "tar-pathname-filter",
            "REGEX,REPLACEMENT",
            "When loading tar archives, use REGEX,REPLACEMENT against path names"
        ),
        flag!("skip-if-unchanged", "If the contents are unchanged from previous commit, do nothing"),
        opt!("statoverride", "PATH", "File containing list of modifications to make to permissions"),
        opt!("skip-list", "PATH", "File containing list of files to skip"),
        flag!("consume", "Consume (delete) content after commit (for local directories)"),
        flag!("table-output", "Output more information in a KEY: VALUE format"),
        opt!("gpg-sign", "KEY-ID", "GPG Key ID to sign the commit with"),
        opt!("gpg-homedir", "HOMEDIR", "GPG Homedir to use when looking for keyrings"),
        opt!("sign", "KEY_ID", "Sign the commit with"),
        opt!("sign-type", "NAME", "Signature type to use (defaults to 'ed25519')"),
        flag!("generate-sizes", "Generate size information along with commit metadata"),
        opt!("fsync", "POLICY", "Specify how to invoke fsync()"),
        opt!("timestamp", "TIMESTAMP", "Override the timestamp of the commit"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

fn key_value<'a>(s: &'a str, opt: &str) -> Result<(&'a str, &'a str)> {
    let (k, v) = s.split_once('=').ok_or_else(|| anyhow!("Missing '=' in KEY=VALUE metadata '{s}' (--{opt})"))?;
    if k.is_empty() {
        bail!("Empty metadata key (--{opt}={s})");
    }
    Ok((k, v))
}

fn read_lines(path: &str, what: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {what} {path}"))?;
    Ok(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
}

fn parse_statoverride(path: &str) -> Result<Vec<(String, StatOverride)>> {
    let mut out = Vec::new();
    for line in read_lines(path, "statoverride file")? {
        let (mode, p) = line
            .split_once(' ')
            .ok_or_else(|| anyhow!("{path}: malformed statoverride line '{line}' (want 'MODE PATH')"))?;
        let (set, digits) = match mode.strip_prefix('=') {
            Some(d) => (true, d),
            None => (false, mode.strip_prefix('+').unwrap_or(mode)),
        };
        let bits: u32 =
            digits.parse().map_err(|_| anyhow!("{path}: invalid mode '{mode}' in statoverride line '{line}'"))?;
        out.push((p.to_string(), if set { StatOverride::Set(bits) } else { StatOverride::Add(bits) }));
    }
    Ok(out)
}

fn run(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    for (o, why) in [
        ("selinux-policy", "SELinux labelling needs libselinux policy loading, which oxtree does not do"),
        ("selinux-policy-from-base", "SELinux labelling needs libselinux policy loading, which oxtree does not do"),
        ("tar-pathname-filter", "--tar-pathname-filter is not supported yet"),
        ("editor", "--editor is not supported; give the message with --subject/--body"),
    ] {
        if a.flag(o) {
            bail!("--{o}: {why}");
        }
    }
    // Keys are read before anything is written: a bad one fails the commit.
    let signers = super::sign::signers(super::sign::sign_type(a.get("sign-type"))?, &a.all("sign"), None)?;
    let mut repo = ctx.repo()?;
    if let Some(policy) = a.get("fsync") {
        match policy {
            "true" | "yes" | "1" => repo.set_fsync(true),
            "false" | "no" | "0" => repo.set_fsync(false),
            other => bail!("Invalid --fsync value '{other}' (expected true or false)"),
        }
    }
    let branch = a.get("branch");
    if branch.is_none() && !a.flag("orphan") {
        bail!(crate::opts::UsageError("A branch must be specified with --branch, or use --orphan".into()));
    }
    if let Some(b) = branch {
        oxtree_store::repo::RefSpec::parse(b)?;
    }
    let subject = a.get("subject").unwrap_or("").to_string();
    let body = match (a.get("body"), a.get("body-file")) {
        (Some(_), Some(_)) => bail!("Cannot specify both --body and --body-file"),
        (Some(b), None) => b.to_string(),
        (None, Some(f)) => std::fs::read_to_string(f).with_context(|| format!("reading body file {f}"))?,
        (None, None) => String::new(),
    };

    // Parent: --parent, "none", --orphan, else the branch's current commit.
    let parent = match a.get("parent") {
        Some("none") => None,
        Some(p) => Some(repo.resolve_rev(p, false)?.ok_or_else(|| anyhow!("Refspec '{p}' not found"))?),
        None if a.flag("orphan") => None,
        None => match branch {
            Some(b) => repo.resolve_rev(b, true)?,
            None => None,
        },
    };

    let mut filter = CommitFilter {
        owner_uid: a.get("owner-uid").map(|v| v.parse()).transpose().map_err(|_| anyhow!("Invalid --owner-uid"))?,
        owner_gid: a.get("owner-gid").map(|v| v.parse()).transpose().map_err(|_| anyhow!("Invalid --owner-gid"))?,
        canonical_permissions: a.flag("canonical-permissions"),
        mode_ro_executables: a.flag("mode-ro-executables"),
        no_xattrs: a.flag("no-xattrs"),
        consume: a.flag("consume"),
        devino_canonical: a.flag("devino-canonical"),
        ..Default::default()
    };
    if a.flag("link-checkout-speedup") || a.flag("devino-canonical") {
        filter.devino = Some(std::sync::Arc::new(oxtree_store::build::devino_cache(&repo)?));
    }
    if let Some(p) = a.get("skip-list") {
        for l in read_lines(p, "skip list")? {
            filter.skip.insert(l.trim_end_matches('/').to_string());
        }
    }
    if let Some(p) = a.get("statoverride") {
        filter.statoverride = parse_statoverride(p)?.into_iter().collect();
    }

    let timestamp = match a.get("timestamp") {
        // Dates as GNU `date -d` reads them (`October 25 1985` too), as
        // OSTree's parser does.
        Some(t) => {
            let now =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            super::prune::parse_date(t, now).ok_or_else(|| anyhow!("Could not parse '{t}'"))?
        }
        None => commit_time()?,
    };

    // Metadata, in ostree's order.
    let mut metadata = CommitMetadata::default();
    for kv in a.all("add-metadata-string") {
        let (k, v) = key_value(kv, "add-metadata-string")?;
        metadata.set(k, Value::Str(Cow::Owned(v.to_string())));
    }
    for kv in a.all("add-metadata") {
        let (k, v) = key_value(kv, "add-metadata")?;
        metadata.set(k, parse_text(v, None).map_err(|e| anyhow!("--add-metadata={kv}: {e}"))?);
    }
    let keep = a.all("keep-metadata");
    if !keep.is_empty() {
        let p = parent
            .ok_or_else(|| anyhow!("Either --branch or --parent must be specified when using --keep-metadata"))?;
        let pc = repo.load_commit(&p)?;
        for k in keep {
            let v = pc.metadata.get(k).ok_or_else(|| anyhow!("Missing metadata key '{k}' from commit '{p}'"))?;
            metadata.set(k, v.clone());
        }
    }
    if !a.flag("no-bindings") {
        let mut binds: Vec<String> = a.all("bind-ref").into_iter().map(str::to_string).collect();
        if let Some(b) = branch {
            binds.push(b.to_string());
        }
        if !binds.is_empty() {
            binds.sort();
            binds.dedup();
            let v = Value::Array(Type::Str, binds.into_iter().map(|b| Value::Str(Cow::Owned(b))).collect());
            metadata.set("ostree.ref-binding", v);
        }
        if let Some(id) = repo.collection_id() {
            if metadata.get("ostree.collection-binding").is_none() {
                metadata.set("ostree.collection-binding", Value::Str(Cow::Owned(id.to_string())));
            }
        }
    }

    let sources: Vec<String> = {
        let mut s: Vec<String> = a.all("tree").into_iter().map(str::to_string).collect();
        if let Some(p) = a.args.first() {
            if !s.is_empty() {
                bail!("Cannot specify both --tree and a PATH argument");
            }
            s.push(format!("dir={p}"));
        }
        if s.is_empty() && a.get("base").is_none() {
            s.push("dir=.".into());
        }
        s
    };

    let tx = repo.transaction()?;
    if a.flag("generate-sizes") && repo.mode() == RepoMode::Archive {
        tx.record_sizes();
    }
    let mut tree = match a.get("base") {
        Some(b) => {
            let c = repo.resolve_rev(b, false)?.ok_or_else(|| anyhow!("Refspec '{b}' not found"))?;
            let bc = repo.load_commit(&c)?;
            MutableTree::from_repo(&repo, &bc.root_tree, &bc.root_meta)?
        }
        None => MutableTree::new(),
    };
    for src in &sources {
        let layer = if let Some(p) = src.strip_prefix("dir=") {
            write_directory(&tx, Path::new(p), &filter)?
        } else if let Some(p) = src.strip_prefix("tar=") {
            let mut f: Box<dyn std::io::Read> = if p == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(std::fs::File::open(p).with_context(|| format!("opening {p}"))?))
            };
            write_tar(&tx, &mut f, &filter)?
        } else if let Some(r) = src.strip_prefix("ref=") {
            let c = repo.resolve_rev(r, false)?.ok_or_else(|| anyhow!("Refspec '{r}' not found"))?;
            let rc = repo.load_commit(&c)?;
            MutableTree::from_repo(&repo, &rc.root_tree, &rc.root_meta)?
        } else {
            bail!("Invalid --tree argument '{src}': expected dir=PATH, tar=TARFILE or ref=COMMIT");
        };
        tree.merge(layer);
    }
    let root = tree.write(&tx)?;

    if a.flag("bootable") {
        add_bootable(&repo, &tree, &mut metadata)?;
    }
    if a.flag("generate-sizes") && repo.mode() == RepoMode::Archive {
        let entries: Vec<Value> = tx
            .take_sizes()
            .into_iter()
            .map(|(c, ty, stored, unpacked)| sizes_entry(&c, stored, unpacked, ty as u8))
            .collect();
        metadata.set("ostree.sizes", Value::Array(Type::array_of(Type::Byte), entries));
    }

    if a.flag("skip-if-unchanged") {
        if let Some(p) = parent {
            let pc = repo.load_commit(&p)?;
            if (pc.root_tree, pc.root_meta) == root {
                drop(tx);
                println!("{p}");
                return Ok(());
            }
        }
    }

    let info = CommitInfo { subject, body, parent, timestamp, metadata };
    let csum = write_commit(&tx, &info, root)?;
    let detached: Vec<&str> = a.all("add-detached-metadata-string");
    let gpg_keys: Vec<&str> = a.all("gpg-sign");
    if !detached.is_empty() || !signers.is_empty() || !gpg_keys.is_empty() {
        let mut dm = CommitMetadata::default();
        for kv in detached {
            let (k, v) = key_value(kv, "add-detached-metadata-string")?;
            dm.set(k, Value::Str(Cow::Owned(v.to_string())));
        }
        if !signers.is_empty() {
            let bytes = oxtree_store::build::commit_object(&info, root).to_bytes();
            oxtree_fetch::verify::sign_into(&mut dm, &signers, &bytes).map_err(|e| anyhow!("{csum}: {e}"))?;
        }
        if !gpg_keys.is_empty() {
            // A failure (an unknown key, a key given twice) leaves the ref
            // where it was, as in OSTree.
            let bytes = oxtree_store::build::commit_object(&info, root).to_bytes();
            let homedir = a.get("gpg-homedir").map(std::path::Path::new);
            let signed_by = super::gpg_sign::signed_by_keyring(homedir)?;
            oxtree_fetch::verify::gpg_sign_into(&mut dm, homedir, &gpg_keys, &bytes, Some(&signed_by))
                .map_err(|e| anyhow!(e))?;
        }
        tx.write_commitmeta(&csum, &dm)?;
    }
    let stats = (
        tx.stats.metadata_total.load(Ordering::Relaxed),
        tx.stats.metadata_written.load(Ordering::Relaxed),
        tx.stats.content_total.load(Ordering::Relaxed),
        tx.stats.content_written.load(Ordering::Relaxed),
        tx.stats.content_bytes_written.load(Ordering::Relaxed),
        tx.stats.content_cache_hits.load(Ordering::Relaxed),
    );
    let mut tx = tx;
    if let Some(b) = branch {
        tx.set_ref(b, Some(csum))?;
    }
    tx.commit()?;
    if repo.config().get_bool("core", "commit-update-summary").and_then(Result::ok).unwrap_or(false) {
        oxtree_store::summary::update_summary(&repo, &[])?;
    }

    if a.flag("consume") {
        for src in &sources {
            if let Some(p) = src.strip_prefix("dir=") {
                consume_dir(Path::new(p))?;
            }
        }
    }
    if a.flag("table-output") {
        println!("Commit: {csum}");
        println!("Metadata Total: {}", stats.0);
        println!("Metadata Written: {}", stats.1);
        println!("Content Total: {}", stats.2);
        println!("Content Written: {}", stats.3);
        println!("Content Cache Hits: {}", stats.5);
        println!("Content Bytes Written: {}", stats.4);
    } else {
        println!("{csum}");
    }
    Ok(())
}

/// `--consume`: the committed directory is deleted (emptied, when it is the
/// current directory).
fn consume_dir(dir: &Path) -> Result<()> {
    let is_cwd = dir.canonicalize().ok() == std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
    if !is_cwd {
        return std::fs::remove_dir_all(dir).with_context(|| format!("consuming {}", dir.display()));
    }
    for e in std::fs::read_dir(dir).with_context(|| format!("consuming {}", dir.display()))? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&p).with_context(|| format!("consuming {}", p.display()))?;
        } else {
            std::fs::remove_file(&p).with_context(|| format!("consuming {}", p.display()))?;
        }
    }
    Ok(())
}

/// A new commit's time: `$SOURCE_DATE_EPOCH` if set, else now.
pub(crate) fn commit_time() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.is_empty() => {
            s.parse().map_err(|_| anyhow!("Failed to convert SOURCE_DATE_EPOCH='{s}' to a number"))
        }
        _ => Ok(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs()),
    }
}

/// `--bootable`: exactly one `usr/lib/modules/KVER/vmlinuz` makes the
/// commit bootable.
fn add_bootable(repo: &oxtree_store::Repo, tree: &MutableTree, metadata: &mut CommitMetadata) -> Result<()> {
    let modules = tree.dirs.get("usr").and_then(|u| u.dirs.get("lib")).and_then(|l| l.dirs.get("modules"));
    let mut kvers: Vec<&String> = Vec::new();
    if let Some(m) = modules {
        for (kver, d) in &m.dirs {
            if d.files.contains_key("vmlinuz") {
                kvers.push(kver);
            }
        }
    }
    let _ = repo;
    match kvers.as_slice() {
        [k] => {
            metadata.set("ostree.bootable", Value::Bool(true));
            metadata.set("ostree.linux", Value::Str(Cow::Owned((*k).clone())));
            Ok(())
        }
        [] if modules.is_none() => bail!("--bootable: usr/lib/modules: No such file or directory"),
        [] => bail!("--bootable: usr/lib/modules/*/vmlinuz: No such file or directory"),
        _ => bail!("--bootable: more than one kernel found in usr/lib/modules"),
    }
}
