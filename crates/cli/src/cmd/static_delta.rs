//! `static-delta`: list, show, delete, generate and apply static deltas,
//! and keep their per-target indexes.

use std::path::Path;

use anyhow::{anyhow, bail, Result};
use oxtree_fetch::delta::ops::count;
use oxtree_fetch::delta::part::{decompress, payload_limit, Compression, Payload};
use oxtree_fetch::delta::superblock::{split_signed, wrap_signed, EndiannessSource};
use oxtree_fetch::delta::{apply_offline, generate, Endianness, GenerateOptions, StaticDelta, Superblock};
use oxtree_fetch::verify::{sign_into, verify_with};
use oxtree_sign::{Signer, Verifier};
use oxtree_store::deltas::{delete_static_delta, list_static_deltas, reindex_static_deltas};
use oxtree_store::traverse::format_size;
use oxtree_store::{Checksum, Repo};

use super::{no_run, Command, Context};
use crate::{flag, opt};

pub static COMMAND: Command = Command {
    name: "static-delta",
    usage: "COMMAND",
    summary: "Static delta related commands",
    opts: &[],
    repo: false,
    run: no_run,
    subcommands: &[&LIST, &SHOW, &DELETE, &GENERATE, &APPLY_OFFLINE, &VERIFY, &INDEXES, &REINDEX],
};

static LIST: Command = Command {
    name: "list",
    usage: "",
    summary: "List static delta files",
    opts: &[],
    repo: true,
    run: list,
    subcommands: &[],
};

static SHOW: Command = Command {
    name: "show",
    usage: "",
    summary: "Dump information on a delta",
    opts: &[],
    repo: true,
    run: show,
    subcommands: &[],
};

static DELETE: Command = Command {
    name: "delete",
    usage: "",
    summary: "Remove a delta",
    opts: &[],
    repo: true,
    run: delete,
    subcommands: &[],
};

static GENERATE: Command = Command {
    name: "generate",
    usage: "[TO]",
    summary: "Generate static delta files",
    opts: &[
        opt!("from", "REV", "Create delta from revision REV"),
        flag!("empty", "Create delta from scratch"),
        flag!("inline", "Inline delta parts into main delta"),
        opt!("to", "REV", "Create delta to revision REV"),
        flag!("disable-bsdiff", "Disable use of bsdiff"),
        flag!("if-not-exists", 'n', "Only generate if a delta does not already exist"),
        opt!("set-endianness", "ENDIAN", "Choose metadata endianness ('l' or 'B')"),
        flag!("swap-endianness", "Swap metadata endianness from host order"),
        opt!("min-fallback-size", "SIZE", "Minimum uncompressed size in megabytes for individual HTTP request"),
        opt!("max-bsdiff-size", "SIZE", "Maximum size in megabytes to consider bsdiff compression for input files"),
        opt!("max-chunk-size", "SIZE", "Maximum size of delta chunks in megabytes"),
        opt!(
            "filename",
            "PATH",
            "Write the delta content to PATH (a directory).  If not specified, the OSTree repository is used"
        ),
        opt!(
            "compression",
            "xz|zstd",
            "Compress parts with xz (default) or zstd (oxtree's extension: only oxtree reads such deltas)"
        ),
        opt!("sign", "KEY_ID", "Sign the delta with"),
        opt!("sign-type", "NAME", "Signature type to use (defaults to 'ed25519')"),
        opt!("keys-file", "NAME", "Read key(s) from file"),
    ],
    repo: true,
    run: generate_cmd,
    subcommands: &[],
};

static APPLY_OFFLINE: Command = Command {
    name: "apply-offline",
    usage: "PATH [KEY-ID...]",
    summary: "Apply static delta file",
    opts: &[
        opt!("sign-type", "NAME", "Signature type to use (defaults to 'ed25519')"),
        opt!("keys-file", "NAME", "Read key(s) from file"),
        opt!("keys-dir", "NAME", "Redefine system-wide directories with public and revoked keys for verification"),
    ],
    repo: true,
    run: apply,
    subcommands: &[],
};

static VERIFY: Command = Command {
    name: "verify",
    usage: "STATIC-DELTA-FILE [KEY-ID...]",
    summary: "Verify static delta signatures",
    opts: &[
        opt!("sign-type", "NAME", "Signature type to use (defaults to 'ed25519')"),
        opt!("keys-file", "NAME", "Read key(s) from file"),
        opt!("keys-dir", "NAME", "Redefine system-wide directories with public and revoked keys for verification"),
    ],
    repo: true,
    run: verify,
    subcommands: &[],
};

static INDEXES: Command = Command {
    name: "indexes",
    usage: "",
    summary: "List static delta indexes",
    opts: &[],
    repo: true,
    run: indexes,
    subcommands: &[],
};

static REINDEX: Command = Command {
    name: "reindex",
    usage: "",
    summary: "Regenerate static delta indexes",
    opts: &[],
    repo: true,
    run: reindex,
    subcommands: &[],
};

fn list(ctx: &Context) -> Result<()> {
    let repo = ctx.repo()?;
    let deltas = list_static_deltas(&repo)?;
    if deltas.is_empty() {
        println!("(No static deltas)");
    }
    for d in deltas {
        println!("{}", d.name());
    }
    Ok(())
}

/// A delta named on the command line that the repo has.
fn named_delta(ctx: &Context, repo: &Repo) -> Result<StaticDelta> {
    let name = ctx.arg(0, "DELTA")?;
    let d = StaticDelta::parse_name(name).ok_or_else(|| anyhow!("Invalid rev {name}"))?;
    if !d.path(repo).join("superblock").exists() {
        bail!("Can't find delta {name}");
    }
    Ok(d)
}

fn show(ctx: &Context) -> Result<()> {
    let repo = ctx.repo()?;
    let name = ctx.arg(0, "DELTA")?;
    let d = StaticDelta::parse_name(name).ok_or_else(|| anyhow!("Invalid rev {name}"))?;
    let dir = d.path(&repo);
    let rel = d.rel_path();
    let sb_path = dir.join("superblock");
    let bytes = std::fs::read(&sb_path).map_err(|e| anyhow!("openat({rel}/superblock): {e}"))?;
    let sb = Superblock::parse(&bytes).map_err(|e| anyhow!("{rel}/superblock: {e}"))?;
    println!("Delta: {name}");
    println!("Signed: {}", if sb.signed { "yes" } else { "no" });
    match &sb.from {
        Some(f) => println!("From: {f}"),
        None => println!("From <scratch>"),
    }
    println!("To: {}", sb.to);
    let heuristic = if sb.endianness_source == EndiannessSource::Heuristic { " (heuristic)" } else { "" };
    println!("Endianness: {}{heuristic}", sb.endianness.name());
    println!("Timestamp: {}", sb.timestamp);
    println!("Number of parents: 0");
    println!("Number of fallback entries: {}", sb.fallbacks.len());
    let fsize: u64 = sb.fallbacks.iter().fold(0, |a, f| a.wrapping_add(f.size));
    let fusize: u64 = sb.fallbacks.iter().fold(0, |a, f| a.wrapping_add(f.usize));
    println!("Total Fallback Size: {fsize} ({})", format_size(fsize));
    println!("Total Fallback Uncompressed Size: {fusize} ({})", format_size(fusize));
    println!("Number of parts: {}", sb.parts.len());
    let (mut psize, mut pusize) = (0u64, 0u64);
    for (i, p) in sb.parts.iter().enumerate() {
        println!("PartMeta{i}: nobjects={} size={} usize={}", p.objects.len(), p.size, p.usize);
        let part = match sb.inline_part(&rel, i) {
            Some(b) => b,
            None => {
                let pp = dir.join(i.to_string());
                std::fs::read(&pp).map_err(|e| anyhow!("{}: {e}", pp.display()))?
            }
        };
        let raw = decompress(&part, p.version, payload_limit(p.usize, p.objects.len()))
            .map_err(|e| anyhow!("part {i}: {e}"))?;
        let payload = Payload::parse(&raw).map_err(|e| anyhow!("part {i}: {e}"))?;
        println!(
            "PartPayload{i}: nmodes={} nxattrs={} blobsize={} opsize={}",
            payload.modes.len(),
            payload.xattrs.len(),
            payload.blob.len(),
            payload.ops.len()
        );
        let c = count(payload.ops, |k| p.objects.get(k).is_some_and(|o| o.0.is_meta()))
            .map_err(|e| anyhow!("part {i}: {e}"))?;
        println!(
            "PartPayloadOps{i}: openspliceclose={} open={} write={} setread={} unsetread={} close={} bspatch={}",
            c.open_splice_close, c.open, c.write, c.set_read, c.unset_read, c.close, c.bspatch
        );
        psize = psize.wrapping_add(p.size);
        pusize = pusize.wrapping_add(p.usize);
    }
    println!("Total Part Size: {psize} ({})", format_size(psize));
    println!("Total Part Uncompressed Size: {pusize} ({})", format_size(pusize));
    let (t, tu) = (psize.wrapping_add(fsize), pusize.wrapping_add(fusize));
    println!("Total Size: {t} ({})", format_size(t));
    println!("Total Uncompressed Size: {tu} ({})", format_size(tu));
    Ok(())
}

fn delete(ctx: &Context) -> Result<()> {
    let repo = ctx.repo()?;
    let d = named_delta(ctx, &repo)?;
    delete_static_delta(&repo, &d)?;
    Ok(())
}

/// `--max-chunk-size=N` and friends: decimal megabytes.
fn megabytes(ctx: &Context, name: &str, default: u64) -> Result<u64> {
    match ctx.args.get(name) {
        None => Ok(default),
        Some(v) => {
            let n: u64 = v.trim().parse().map_err(|_| anyhow!("--{name}: invalid number '{v}'"))?;
            Ok(n.saturating_mul(1_000_000))
        }
    }
}

fn generate_cmd(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    // Keys are read first: a bad one fails before any work.
    let signers =
        super::sign::signers(super::sign::sign_type(a.get("sign-type"))?, &a.all("sign"), a.get("keys-file"))?;
    let repo = ctx.repo()?;
    let to_rev = a.get("to").or_else(|| a.args.first().map(String::as_str));
    let Some(to_rev) = to_rev else { bail!("TO revision must be specified") };
    if a.flag("empty") && a.get("from").is_some() {
        bail!("Cannot specify both --empty and --from=REV");
    }
    let to = repo.resolve_rev(to_rev, false)?.ok_or_else(|| anyhow!("Refspec '{to_rev}' not found"))?;
    let from = if a.flag("empty") {
        None
    } else {
        let rev = a.get("from").map(str::to_string).unwrap_or_else(|| format!("{to}^"));
        Some(repo.resolve_rev(&rev, false)?.ok_or_else(|| anyhow!("Refspec '{rev}' not found"))?)
    };
    let delta = StaticDelta { from, to };
    if a.flag("if-not-exists") && delta.path(&repo).join("superblock").exists() {
        println!("Delta {} already exists.", delta.name());
        return Ok(());
    }
    let mut opts = GenerateOptions::new(from, to);
    opts.inline = a.flag("inline");
    opts.bsdiff = !a.flag("disable-bsdiff");
    opts.min_fallback_size = megabytes(ctx, "min-fallback-size", opts.min_fallback_size)?;
    opts.max_bsdiff_size = megabytes(ctx, "max-bsdiff-size", opts.max_bsdiff_size)?;
    opts.max_chunk_size = megabytes(ctx, "max-chunk-size", opts.max_chunk_size)?;
    opts.endianness = match a.get("set-endianness") {
        None => Endianness::host(),
        Some("l") => Endianness::Little,
        Some("B") => Endianness::Big,
        Some(e) => bail!("Invalid endianness '{e}'"),
    };
    if a.flag("swap-endianness") {
        opts.endianness = opts.endianness.swapped();
    }
    opts.compression = match a.get("compression") {
        None | Some("xz") => Compression::Xz,
        Some("zstd") => Compression::Zstd,
        Some(c) => bail!("--compression: unknown compression '{c}' (xz or zstd)"),
    };
    opts.filename = a.get("filename").map(std::path::PathBuf::from);
    println!("Generating static delta:");
    match &from {
        Some(f) => println!("  From: {f}"),
        None => println!("  From: empty"),
    }
    println!("  To:   {to}");
    let (_, stats) = generate(&repo, &opts)?;
    if !signers.is_empty() {
        let path = match &opts.filename {
            Some(f) => f.join("superblock"),
            None => delta.path(&repo).join("superblock"),
        };
        sign_superblock(&path, &signers)?;
    }
    eprintln!("modified: {}", stats.modified);
    eprintln!(
        "new reachable: metadata={} content regular={} symlink={}",
        stats.new_metadata, stats.new_regular, stats.new_symlinks
    );
    eprintln!("rollsum for {}/{} modified", stats.rollsum_objects, stats.modified);
    let (mut size, mut usize) = (0u64, 0u64);
    for (i, (n, c, u)) in stats.parts.iter().enumerate() {
        eprintln!("part {} n:{n} compressed:{c} uncompressed:{u}", i + 1);
        size += c;
        usize += u;
    }
    eprintln!("uncompressed={usize} compressed={size} loose={}", stats.loose_size);
    eprintln!("rollsum={} objects, {} bytes", stats.rollsum_objects, stats.rollsum_bytes);
    eprintln!("bsdiff={} objects", stats.bsdiff_objects);
    if stats.fallbacks > 0 {
        eprintln!("fallback={} objects", stats.fallbacks);
    }
    Ok(())
}

/// Replaces the superblock at `path` with its signed form, signed by
/// every one of `signers` (keeping signatures it already had).
fn sign_superblock(path: &Path, signers: &[Signer]) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let (inner, mut sigs) = match split_signed(&bytes)? {
        Some((inner, sigs)) => (inner.to_vec(), sigs),
        None => (bytes, Default::default()),
    };
    sign_into(&mut sigs, signers, &inner).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    oxtree_store::repo::write_atomic(path, &wrap_signed(&inner, &sigs), 0o644, false)?;
    Ok(())
}

/// Checks the signatures of the superblock file `path` with `v`; returns
/// the signer's success message.
fn verify_superblock(path: &Path, v: &Verifier) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let Some((inner, sigs)) = split_signed(&bytes)? else { bail!("no signatures in static-delta") };
    verify_with(v, inner, &sigs).map_err(|e| anyhow!(e))
}

fn apply(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let ty = super::sign::sign_type(a.get("sign-type"))?;
    let path = Path::new(ctx.arg(0, "PATH")?);
    let repo = ctx.repo()?;
    let sb_path = oxtree_fetch::delta::apply::offline_paths(path).1;
    // With keys given (KEY-ID arguments, --keys-file, --keys-dir), the
    // delta must be signed by one of them before anything of it is
    // applied; with core.sign-verify-deltas, a signed delta needs keys.
    let keys = &a.args[1..];
    if !keys.is_empty() || a.get("keys-file").is_some() || a.get("keys-dir").is_some() {
        let mut v = Verifier::new(ty);
        for k in keys {
            v.add_key(k)?;
        }
        if keys.is_empty() || a.get("keys-file").is_some() {
            super::sign::load_keys(&mut v, a.get("keys-file"), a.get("keys-dir"))?;
        }
        verify_superblock(&sb_path, &v)?;
    } else if repo.config().get_bool("core", "sign-verify-deltas").and_then(Result::ok).unwrap_or(false) {
        let bytes = std::fs::read(&sb_path).map_err(|e| anyhow!("{}: {e}", sb_path.display()))?;
        if split_signed(&bytes)?.is_some() {
            bail!("Key is mandatory to check delta signature");
        }
        bail!("{}: the delta is not signed, and core.sign-verify-deltas is on", sb_path.display());
    }
    apply_offline(&repo, path)?;
    Ok(())
}

fn verify(ctx: &Context) -> Result<()> {
    let a = &ctx.args;
    let ty = super::sign::sign_type(a.get("sign-type"))?;
    let name = ctx.arg(0, "STATIC-DELTA-FILE")?;
    let repo = ctx.repo()?;
    let delta = StaticDelta::parse_name(name).ok_or_else(|| anyhow!("Invalid static delta name '{name}'"))?;
    let path = delta.path(&repo).join("superblock");
    if !path.exists() {
        bail!("Static delta {name} not found");
    }
    let mut v = Verifier::new(ty);
    for k in &a.args[1..] {
        v.add_key(k)?;
    }
    if a.args.len() == 1 || a.get("keys-file").is_some() {
        super::sign::load_keys(&mut v, a.get("keys-file"), a.get("keys-dir"))?;
    }
    match verify_superblock(&path, &v) {
        Ok(_) => {
            println!("Verification OK");
            Ok(())
        }
        Err(e) => {
            println!("Verification fails");
            Err(e)
        }
    }
}

fn indexes(ctx: &Context) -> Result<()> {
    let repo = ctx.repo()?;
    let base = repo.path().join("delta-indexes");
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&base) {
        for d in rd.filter_map(|e| e.ok()) {
            let prefix = d.file_name().to_string_lossy().into_owned();
            let Ok(inner) = std::fs::read_dir(d.path()) else { continue };
            for e in inner.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(rest) = name.strip_suffix(".index") {
                    if let Ok(c) = Checksum::from_modified_base64(&format!("{prefix}{rest}")) {
                        out.push(c);
                    }
                }
            }
        }
    }
    out.sort();
    for c in out {
        println!("{c}");
    }
    Ok(())
}

fn reindex(ctx: &Context) -> Result<()> {
    let repo = ctx.repo()?;
    reindex_static_deltas(&repo)?;
    Ok(())
}
