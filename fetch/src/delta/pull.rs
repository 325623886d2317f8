//! Using static deltas in a pull (spec A.6, B.10): choosing a delta for a
//! target commit, fetching its superblock and parts, and applying them
//! before the object walk, which then only has the fallbacks (and anything
//! a part could not provide) left to fetch.

use std::collections::BTreeMap;

use oxtree_store::deltas::delta_index_rel_path;
use oxtree_store::gvariant::{Type, Value};
use oxtree_store::object::ObjectType;
use oxtree_store::repo::{RepoMode, Transaction};
use oxtree_store::summary::Summary;
use oxtree_store::Checksum;

use super::apply::{part_done, run_part, write_target_commit};
use super::{DeltaError, StaticDelta, Superblock};
use crate::PullError;

/// Parts fetched and applied at once.
const PARTS_AT_ONCE: usize = 2;

/// Superblocks larger than this are refused (OSTree's limit).
pub const MAX_SUPERBLOCK_SIZE: u64 = 128 << 20;

/// Where a pull's delta files come from.
pub(crate) trait DeltaFiles: Sync {
    /// The file at `rel` (relative to the repo root), `None` if absent, an
    /// error if larger than `max` bytes. `content` says it is a part (which
    /// comes from the content URL when the remote has one).
    fn get(&self, rel: &str, max: u64, content: bool) -> Result<Option<Vec<u8>>, PullError>;
}

/// What the server says about its deltas.
#[derive(Debug, Default)]
pub(crate) struct KnownDeltas {
    /// Delta name → superblock digest, from the summary (and indexes).
    pub digests: BTreeMap<String, Checksum>,
    /// Whether per-target indexes are to be consulted.
    pub indexed: bool,
    /// Whether the server has a summary at all.
    pub have_summary: bool,
}

impl KnownDeltas {
    /// From the server's summary (if any) and whether its config says
    /// `core.indexed-deltas=true`.
    pub fn new(summary: Option<&Summary>, config_indexed: bool) -> KnownDeltas {
        let mut k = KnownDeltas { indexed: config_indexed, have_summary: summary.is_some(), ..Default::default() };
        if let Some(s) = summary {
            for (name, digest) in s.static_deltas() {
                if let Ok(d) = Checksum::from_slice(&digest) {
                    k.digests.insert(name, d);
                }
            }
            if matches!(s.get("ostree.summary.indexed-deltas"), Some(Value::Bool(true))) {
                k.indexed = true;
            }
        }
        k
    }
}

/// What the caller asked of deltas.
#[derive(Clone, Copy)]
pub(crate) struct DeltaPolicy<'a> {
    /// When not empty (the remote's `sign-verify`): the commit a delta
    /// makes must be signed, checked before any part is applied.
    pub checks: &'a crate::verify::Checks,
    /// `--require-static-deltas`.
    pub require: bool,
    /// Check that objects are storable in bare-user-only.
    pub bareuseronly_files: bool,
    /// Only fetch superblocks and count what their parts hold
    /// (`--dry-run`).
    pub dry_run: bool,
}

/// What a delta pull did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeltaPullStats {
    /// Deltas applied.
    pub deltas: u64,
    /// Parts fetched and run.
    pub parts_fetched: u64,
    /// Parts skipped (everything they make was here).
    pub parts_skipped: u64,
    /// Bytes of superblocks, indexes and parts received.
    pub bytes: u64,
    /// Objects written by parts.
    pub objects: u64,
    /// Payload bytes of the content objects they wrote.
    pub content_bytes: u64,
    /// Parts of the deltas chosen, whether fetched or not.
    pub total_parts: u64,
    /// Their compressed size, fallbacks included.
    pub total_size: u64,
    /// Their uncompressed size, fallbacks included.
    pub total_usize: u64,
}

/// The delta to `to` to use, given the local ref value `from_ref`: its
/// name and known digest, or `None` for an object pull.
fn choose(
    tx: &Transaction<'_>,
    files: &dyn DeltaFiles,
    known: &mut KnownDeltas,
    from_ref: Option<Checksum>,
    to: &Checksum,
    stats: &mut DeltaPullStats,
) -> Result<Option<(StaticDelta, Option<Checksum>)>, PullError> {
    let repo = tx.repo();
    let usable_from = |c: &Checksum| tx.has_object(ObjectType::Commit, c) && !repo.is_partial(c);
    let from_ref = from_ref.filter(usable_from);
    if known.indexed {
        let rel = delta_index_rel_path(to);
        if let Some(bytes) = files.get(&rel, MAX_SUPERBLOCK_SIZE, false)? {
            stats.bytes += bytes.len() as u64;
            merge_index(&bytes, known).map_err(|e| PullError::Invalid(format!("{rel}: {e}")))?;
        }
    } else if known.digests.is_empty() && !known.have_summary {
        // No list to choose from: try the delta from where the ref is.
        if from_ref == Some(*to) {
            return Ok(None);
        }
        return Ok(Some((StaticDelta { from: from_ref, to: *to }, None)));
    }
    let mut best: Option<(u64, StaticDelta)> = None;
    let mut scratch = None;
    for (name, _) in known.digests.iter() {
        let Some(d) = StaticDelta::parse_name(name) else { continue };
        if d.to != *to {
            continue;
        }
        match d.from {
            None => scratch = Some(d),
            Some(f) if usable_from(&f) => {
                let ts = repo.load_commit(&f).map(|c| c.timestamp).unwrap_or(0);
                if best.as_ref().is_none_or(|(t, _)| ts > *t) {
                    best = Some((ts, d));
                }
            }
            Some(_) => {}
        }
    }
    let pick = match (best, scratch) {
        (Some((_, d)), _) => Some(d),
        // A scratch delta only for a first pull: with a ref here already,
        // fetching the missing objects costs less.
        (None, Some(d)) if from_ref.is_none() => Some(d),
        _ => None,
    };
    Ok(pick.map(|d| {
        let digest = known.digests.get(&d.name()).copied();
        (d, digest)
    }))
}

fn merge_index(bytes: &[u8], known: &mut KnownDeltas) -> Result<(), DeltaError> {
    let ty = Type::parse("a{sv}").map_err(|e| DeltaError::Malformed(e.to_string()))?;
    let v = Value::from_bytes(&ty, bytes).map_err(|e| DeltaError::Malformed(format!("delta index: {e}")))?;
    for e in v.as_array().unwrap_or(&[]) {
        let Value::DictEntry(k, v) = e else { continue };
        if k.as_str() != Some("ostree.static-deltas") {
            continue;
        }
        let inner = v.as_variant().and_then(Value::as_array).unwrap_or(&[]);
        for d in inner {
            let Value::DictEntry(name, digest) = d else { continue };
            let (Some(name), Some(digest)) = (name.as_str(), digest.as_variant().and_then(Value::as_bytes)) else {
                continue;
            };
            if let Ok(c) = Checksum::from_slice(digest) {
                known.digests.insert(name.to_string(), c);
            }
        }
    }
    Ok(())
}

/// With signature verification on (the remote's `sign-verify`): the commit
/// the delta makes must carry a valid signature (in the superblock's
/// detached metadata, else the server's `.commitmeta`), and a signed
/// superblock must verify, all before any part is applied.
fn verify_delta(
    files: &dyn DeltaFiles,
    rel: &str,
    bytes: &[u8],
    sb: &Superblock,
    checks: &crate::verify::Checks,
) -> Result<(), PullError> {
    let to = sb.to;
    let meta = match sb.commitmeta(rel) {
        Some(m) => Some(m),
        None => files.get(&oxtree_store::object::loose_path(&to, ObjectType::CommitMeta, true), 1 << 26, false)?,
    };
    crate::verify::verify_commit(checks, &to, &sb.commit, meta.as_deref()).map_err(PullError::Invalid)?;
    // Superblocks are signed by signapi signers only.
    if let (Some((inner, sigs)), false) = (super::superblock::split_signed(bytes)?, checks.sign.is_empty()) {
        crate::verify::verify_any(&checks.sign, inner, &sigs)
            .map_err(|e| PullError::Invalid(format!("static delta {rel}: {e}")))?;
    }
    Ok(())
}

/// Brings `to` in through a static delta when one fits: returns whether
/// one was applied. With `policy.require`, finding none is an error.
pub(crate) fn pull_delta(
    tx: &Transaction<'_>,
    files: &dyn DeltaFiles,
    known: &mut KnownDeltas,
    from_ref: Option<Checksum>,
    to: &Checksum,
    policy: DeltaPolicy<'_>,
    stats: &mut DeltaPullStats,
) -> Result<bool, PullError> {
    let repo = tx.repo();
    if repo.mode() == RepoMode::Archive {
        if policy.require {
            return Err(PullError::Invalid("Can't use static deltas in an archive repo".into()));
        }
        return Ok(false);
    }
    if tx.has_object(ObjectType::Commit, to) && !repo.is_partial(to) {
        return Ok(false);
    }
    let none = || -> Result<bool, PullError> {
        if policy.require {
            Err(PullError::Invalid(format!("Static deltas required, but none found for {to}")))
        } else {
            Ok(false)
        }
    };
    let Some((delta, digest)) = choose(tx, files, known, from_ref, to, stats)? else { return none() };
    let rel = delta.rel_path();
    let sb_rel = format!("{rel}/superblock");
    let Some(bytes) = files.get(&sb_rel, MAX_SUPERBLOCK_SIZE, false)? else { return none() };
    stats.bytes += bytes.len() as u64;
    if let Some(want) = digest {
        let actual = Checksum::digest(&bytes);
        if actual != want {
            return Err(DeltaError::Malformed(format!(
                "Invalid checksum for static delta {}: expected {want}, got {actual}",
                delta.name()
            ))
            .into());
        }
    }
    let sb = Superblock::parse(&bytes).map_err(|e| e.context(&sb_rel))?;
    if sb.to != *to || sb.from != delta.from {
        return Err(DeltaError::Malformed(format!("{sb_rel}: the superblock is for another delta")).into());
    }
    if !policy.checks.is_empty() {
        verify_delta(files, &rel, &bytes, &sb, policy.checks)?;
    }
    stats.total_parts += sb.parts.len() as u64;
    for p in &sb.parts {
        stats.total_size = stats.total_size.saturating_add(p.size);
        stats.total_usize = stats.total_usize.saturating_add(p.usize);
    }
    for f in &sb.fallbacks {
        stats.total_size = stats.total_size.saturating_add(f.size);
        stats.total_usize = stats.total_usize.saturating_add(f.usize);
    }
    if policy.dry_run {
        return Ok(true);
    }
    write_target_commit(tx, &sb)?;
    let bytes_before = tx.stats.content_bytes_written.load(std::sync::atomic::Ordering::Relaxed);
    let todo: Vec<usize> = (0..sb.parts.len()).filter(|&i| !part_done(tx, &sb.parts[i])).collect();
    stats.parts_skipped += (sb.parts.len() - todo.len()) as u64;
    // Parts are independent: two at a time, each fetched then run by the
    // thread that took it (as OSTree keeps two in flight). Two parts of
    // our own deltas (8 MB each) stay within the pull's memory bound.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let results: Vec<Result<(u64, u64, u64), PullError>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..PARTS_AT_ONCE.min(todo.len()))
            .map(|_| {
                s.spawn(|| {
                    let (mut fetched, mut objects, mut bytes) = (0u64, 0u64, 0u64);
                    let mut raw = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if k >= todo.len() || failed.load(std::sync::atomic::Ordering::Relaxed) {
                            return Ok((fetched, objects, bytes));
                        }
                        let i = todo[k];
                        let what = format!("{rel}/{i}");
                        let mut run = || -> Result<u64, PullError> {
                            let written = match sb.inline_part(&rel, i) {
                                Some(b) => run_part(tx, &sb, i, b, true, policy.bareuseronly_files, &mut raw),
                                None => {
                                    let b = files.get(&what, sb.parts[i].size, true)?.ok_or_else(|| {
                                        PullError::Invalid(format!("{what}: not found on the server (HTTP 404)"))
                                    })?;
                                    bytes += b.len() as u64;
                                    run_part(tx, &sb, i, b, false, policy.bareuseronly_files, &mut raw)
                                }
                            };
                            Ok(written.map_err(|e| e.context(&delta.name()))?)
                        };
                        match run() {
                            Ok(written) => {
                                fetched += 1;
                                objects += written;
                            }
                            Err(e) => {
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err(PullError::Invalid("a delta part worker panicked".into()))))
            .collect()
    });
    for r in results {
        let (fetched, objects, bytes) = r?;
        stats.parts_fetched += fetched;
        stats.objects += objects;
        stats.bytes += bytes;
    }
    stats.content_bytes +=
        tx.stats.content_bytes_written.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(bytes_before);
    stats.deltas += 1;
    Ok(true)
}
