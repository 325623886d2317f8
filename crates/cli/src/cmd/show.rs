//! `show`: print a commit (or any metadata object) and its metadata.

use anyhow::{anyhow, bail, Result};
use oxtree_store::gvariant::{Type, Value};
use oxtree_store::object::{Commit, ObjectType};
use oxtree_store::{Checksum, Repo};

use super::{Command, Context};
use crate::util::format_time;
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "show",
    usage: "OBJECT",
    summary: "Output a metadata object",
    opts: &[
        opt!("print-variant-type", "TYPE", "Memory map OBJECT (in this case a filename) to the GVariant type string"),
        opt!("list-metadata-keys", "", "List the available metadata keys"),
        opt!("print-metadata-key", "KEY", "Print string value of metadata key"),
        opt!("list-detached-metadata-keys", "", "List the available detached metadata keys"),
        opt!("print-detached-metadata-key", "KEY", "Print string value of detached metadata key"),
        flag!("print-sizes", "Show the commit size metadata"),
        flag!("raw", "Show raw variant data"),
        flag!("no-byteswap", 'B', "Do not byteswap integers in --print-metadata-key"),
        flag!("print-related", "Show the \"related\" commits"),
        opt!("gpg-homedir", "HOMEDIR", "GPG Homedir to use when looking for keyrings"),
        opt!("gpg-verify-remote", "REMOTE", "Use REMOTE name for GPG configuration"),
    ],
    repo: true,
    run,
    subcommands: &[],
};

/// Prints a commit's header block as `ostree show` and `ostree log` do.
pub fn print_commit(repo: &Repo, csum: &Checksum, commit: &Commit) {
    println!("commit {csum}");
    if let Some(p) = &commit.parent {
        println!("Parent:  {p}");
    }
    println!("ContentChecksum:  {}", commit.content_checksum());
    println!("Date:  {}", format_time(commit.timestamp));
    if let Some(v) = commit.metadata.get("version").and_then(Value::as_str) {
        println!("Version: {v}");
    }
    if repo.is_partial(csum) {
        println!("(partial)");
    }
    if commit.subject.is_empty() {
        println!("(no subject)");
        println!();
        return;
    }
    println!();
    println!("    {}", commit.subject);
    println!();
    if !commit.body.is_empty() {
        for line in commit.body.lines() {
            println!("    {line}");
        }
        println!();
    }
}

fn print_key(meta: Option<&oxtree_store::object::CommitMetadata>, key: &str, swap: bool, detached: bool) -> Result<()> {
    let v = meta
        .and_then(|m| m.get(key))
        .ok_or_else(|| anyhow!("No such {}metadata key '{key}'", if detached { "detached " } else { "" }))?;
    let v = if swap { v.byteswap() } else { v.clone() };
    println!("{}", v.to_text());
    Ok(())
}

fn run(ctx: &Context) -> Result<()> {
    let rev = ctx.arg(0, "An OBJECT argument")?;
    let repo = ctx.repo()?;
    let swap = cfg!(target_endian = "little") && !ctx.args.flag("no-byteswap");
    if let Some(key) = ctx.args.get("print-metadata-key") {
        let c = resolve(&repo, rev)?;
        let commit = repo.load_commit(&c)?;
        return print_key(Some(&commit.metadata), key, swap, false);
    }
    if let Some(key) = ctx.args.get("print-detached-metadata-key") {
        let c = resolve(&repo, rev)?;
        let meta = repo.load_commitmeta(&c)?;
        return print_key(meta.as_ref(), key, swap, true);
    }
    if ctx.args.flag("list-metadata-keys") {
        let commit = repo.load_commit(&resolve(&repo, rev)?)?;
        for (k, _) in &commit.metadata.0 {
            println!("{k}");
        }
        return Ok(());
    }
    if ctx.args.flag("list-detached-metadata-keys") {
        if let Some(m) = repo.load_commitmeta(&resolve(&repo, rev)?)? {
            for (k, _) in &m.0 {
                println!("{k}");
            }
        }
        return Ok(());
    }
    if ctx.args.flag("print-related") {
        let commit = repo.load_commit(&resolve(&repo, rev)?)?;
        for (name, c) in &commit.related {
            println!("{name} {c}");
        }
        return Ok(());
    }
    // A checksum may name any metadata object; try commit first, then the others.
    if Checksum::is_hex(rev) {
        let c = Checksum::from_hex(rev)?;
        if !repo.has_object(ObjectType::Commit, &c) {
            for (ty, tstr) in [(ObjectType::DirTree, "(a(say)a(sayay))"), (ObjectType::DirMeta, "(uuua(ayay))")] {
                if repo.has_object(ty, &c) {
                    let b = repo.read_metadata(ty, &c)?;
                    let v = Value::from_bytes(&Type::parse(tstr)?, &b)?;
                    println!("{}", v.byteswap().to_text());
                    return Ok(());
                }
            }
        }
    }
    let c = resolve(&repo, rev)?;
    if ctx.args.flag("raw") {
        let b = repo.read_metadata(ObjectType::Commit, &c)?;
        let v = Value::from_bytes(&Type::parse(Commit::TYPE)?, &b)?;
        println!("commit {c}");
        println!("{}", if swap { v.byteswap() } else { v }.to_text());
        return Ok(());
    }
    let commit = repo.load_commit(&c)?;
    print_commit(&repo, &c, &commit);
    print_gpg_signatures(&repo, &c, ctx.args.get("gpg-verify-remote"), ctx.args.get("gpg-homedir"))?;
    if ctx.args.flag("print-sizes") {
        let Some(Value::Array(_, entries)) = commit.metadata.get("ostree.sizes") else {
            bail!("Commit {c} has no size metadata");
        };
        let (mut arch, mut unp, mut n) = (0u64, 0u64, 0usize);
        for e in entries {
            if let Some(b) = e.as_bytes() {
                if let Some((a, u)) = decode_sizes(b) {
                    arch += a;
                    unp += u;
                    n += 1;
                }
            }
        }
        println!("Compressed size: {arch} bytes\nUnpacked size: {unp} bytes\nNumber of objects: {n}");
    }
    Ok(())
}

/// `Found N signature(s):` and each GPG signature of commit `c` checked
/// against the keyrings of `remote` (else every keyring in the repo and the
/// global one, and `homedir`'s); nothing when the commit has none.
fn print_gpg_signatures(repo: &Repo, c: &Checksum, remote: Option<&str>, homedir: Option<&str>) -> Result<()> {
    let meta = match repo.read_metadata(ObjectType::CommitMeta, c) {
        Ok(b) => oxtree_store::object::CommitMetadata::from_bytes(&b).unwrap_or_default(),
        Err(_) if !repo.has_object(ObjectType::CommitMeta, c) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if oxtree_fetch::verify::gpg_signatures(&meta).map_err(|e| anyhow!("{c}: {e}"))?.is_none() {
        return Ok(());
    }
    let keyring = match remote {
        Some(r) => {
            repo.remote_option(r, "url")?;
            oxtree_fetch::verify::remote_keyring(repo, r, true)
        }
        None => oxtree_fetch::verify::all_remotes_keyring(repo, homedir.map(std::path::Path::new)),
    }
    .map_err(|e| anyhow!(e))?;
    let data = repo.read_metadata(ObjectType::Commit, c)?;
    let result = oxtree_fetch::verify::gpg_verify(&keyring, &data, &meta).map_err(|e| anyhow!(e))?.unwrap_or_default();
    if !result.signatures.is_empty() {
        print!("{}", result.describe_all("Found"));
    }
    Ok(())
}

fn decode_sizes(b: &[u8]) -> Option<(u64, u64)> {
    let mut rest = b.get(32..)?;
    let mut out = [0u64; 2];
    for slot in &mut out {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let (&byte, r) = rest.split_first()?;
            rest = r;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        *slot = v;
    }
    Some((out[0], out[1]))
}

fn resolve(repo: &Repo, rev: &str) -> Result<Checksum> {
    repo.resolve_rev(rev, false)?.ok_or_else(|| anyhow!("Refspec '{rev}' not found"))
}
