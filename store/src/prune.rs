//! Deleting unreachable objects, as `ostree prune` does (spec §20).
//!
//! Reachability starts from roots: every commit in the repo by default, only
//! the commits refs name with `refs_only`, or, with the per-branch options
//! (`only_branch`, `retain_branch_depth`, `keep_younger_than`), a depth or
//! age rule per ref. From each root the parent chain is followed `depth`
//! times (negative: to the end; a missing parent ends it quietly). Objects
//! no root reaches are deleted, commits with their `.commitmeta` and
//! commitpartial marker, leaving a `.tombstone-commit` when
//! `core.tombstone-commits=true`. Static deltas whose target commit is gone
//! are deleted afterwards. The whole run holds the exclusive repo lock.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::deltas::{delete_static_delta, list_static_deltas};
use crate::fsck::list_mirror_refs;
use crate::gvariant::Value;
use crate::object::{Commit, ObjectType};
use crate::repo::{write_atomic, Error, KeyFile, LockKind, Repo};
use crate::traverse::{format_size, traverse_commit, ObjectKey, TraverseFlags};
use crate::Checksum;

/// What to prune.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Roots are the commits refs name, not every commit.
    pub refs_only: bool,
    /// Parents to follow from each root (negative: all).
    pub depth: i64,
    /// Dry run: count, delete nothing.
    pub no_prune: bool,
    /// Delete this commit first (refused if a ref names it); turns
    /// `core.tombstone-commits` on, as OSTree does.
    pub delete_commit: Option<Checksum>,
    /// Per ref: keep the tip and the ancestors at least this new (seconds
    /// since the epoch); older ancestors become garbage.
    pub keep_younger_than: Option<u64>,
    /// Prune only these refs; others keep their whole history.
    pub only_branch: Vec<String>,
    /// Per-ref depth overriding the rules above (`BRANCH=DEPTH`).
    pub retain_branch_depth: Vec<(String, i64)>,
    /// Consider and delete only commit objects.
    pub commit_only: bool,
    /// With `delete_commit`: delete only the static deltas ending at it.
    pub static_deltas_only: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            refs_only: false,
            depth: -1,
            no_prune: false,
            delete_commit: None,
            keep_younger_than: None,
            only_branch: Vec::new(),
            retain_branch_depth: Vec::new(),
            commit_only: false,
            static_deltas_only: false,
        }
    }
}

/// What a prune did (or, for a dry run, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Objects considered.
    pub total: u64,
    /// Objects deleted (or that would be).
    pub deleted: u64,
    /// Bytes freed (object file sizes; `.commitmeta` not counted).
    pub freed: u64,
    /// Only commits were considered.
    pub commit_only: bool,
    /// Nothing was deleted (`no_prune`).
    pub dry_run: bool,
    /// Static deltas deleted (by name).
    pub deleted_deltas: Vec<String>,
}

impl PruneReport {
    /// The lines `ostree prune` prints.
    pub fn lines(&self) -> Vec<String> {
        let total = if self.commit_only {
            format!("Total (commit only) objects: {}", self.total)
        } else {
            format!("Total objects: {}", self.total)
        };
        let second = if self.deleted == 0 {
            "No unreachable objects".to_string()
        } else if self.dry_run {
            format!("Would delete: {} objects, freeing {}", self.deleted, format_size(self.freed))
        } else {
            format!("Deleted {} objects, {} freed", self.deleted, format_size(self.freed))
        };
        vec![total, second]
    }
}

/// Sets `[core] KEY=VALUE` in the repo's config file (re-read first, written
/// atomically). The `Repo` handle keeps its old view; reopen to see it.
pub(crate) fn set_core_config(repo: &Repo, key: &str, value: &str) -> Result<(), Error> {
    let p = repo.path().join("config");
    let text = std::fs::read_to_string(&p).map_err(|source| Error::Io { path: p.clone(), source })?;
    let mut kf = KeyFile::parse(&text).map_err(|e| Error::Config { path: p.clone(), msg: e.to_string() })?;
    if kf.get("core", key) == Some(value) {
        return Ok(());
    }
    kf.set("core", key, value);
    write_atomic(&p, kf.to_text().as_bytes(), 0o644, repo.fsync_enabled())
}

/// Turns on `core.tombstone-commits` (no-op when it is on).
pub fn enable_tombstones(repo: &Repo) -> Result<(), Error> {
    if repo.tombstone_commits() {
        return Ok(());
    }
    set_core_config(repo, "tombstone-commits", "true")
}

/// The bytes of a tombstone for `commit`: `{"commit": <ay HEX+NUL>}`.
pub fn tombstone_bytes(commit: &Checksum) -> Vec<u8> {
    let mut hex = commit.to_hex().into_bytes();
    hex.push(0);
    Value::vardict([("commit".into(), Value::bytes(hex))]).to_bytes()
}

/// Writes `objects/XX/REST.tombstone-commit` for a deleted commit.
pub fn write_tombstone(repo: &Repo, commit: &Checksum) -> Result<(), Error> {
    let p = repo.object_path(commit, ObjectType::TombstoneCommit);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|source| Error::Io { path: d.to_path_buf(), source })?;
    }
    write_atomic(&p, &tombstone_bytes(commit), 0o644, repo.fsync_enabled())
}

fn remove_if_exists(p: &Path) -> Result<(), Error> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io { path: p.to_path_buf(), source }),
    }
}

/// Deletes one object; returns the size of its file. A commit takes its
/// `.commitmeta` and commitpartial marker with it and, when `tombstone`,
/// leaves a tombstone.
pub fn delete_object(repo: &Repo, key: ObjectKey, tombstone: bool) -> Result<u64, Error> {
    let (csum, ty) = key;
    let p = repo.object_path(&csum, ty);
    let fail = |e: std::io::Error| {
        let rel = p.strip_prefix(repo.path().join("objects")).unwrap_or(&p).display().to_string();
        Error::Invalid(format!("Deleting object {csum}.{}: unlinkat({rel}): {e}", ty.name()))
    };
    let size = std::fs::symlink_metadata(&p).map_err(fail)?.len();
    crate::fault::point("unlink", &p).map_err(Error::Invalid)?;
    std::fs::remove_file(&p).map_err(fail)?;
    if ty == ObjectType::Commit {
        remove_if_exists(&repo.object_path(&csum, ObjectType::CommitMeta))?;
        remove_if_exists(&repo.commitpartial_path(&csum))?;
        if tombstone {
            write_tombstone(repo, &csum)?;
        }
    }
    Ok(size)
}

/// Walks one ref as `--keep-younger-than` does: the tip always, then every
/// ancestor whose timestamp is at least `ts` (older ones are skipped, but
/// the walk goes on through them until the history ends).
fn traverse_keep_younger_than(
    repo: &Repo,
    tip: &Checksum,
    ts: u64,
    flags: TraverseFlags,
    reachable: &mut HashSet<ObjectKey>,
) -> Result<(), Error> {
    traverse_commit(repo, tip, 0, flags, reachable)?;
    let mut next = Some(*tip);
    while let Some(c) = next {
        let commit: Commit = match repo.load_commit(&c) {
            Ok(commit) => commit,
            Err(Error::MissingObject { .. }) => break,
            Err(e) => return Err(e),
        };
        if commit.timestamp >= ts {
            traverse_commit(repo, &c, 0, flags, reachable)?;
        }
        next = commit.parent;
    }
    Ok(())
}

/// Every ref with its commit: heads, `REMOTE:NAME`, and collection refs.
fn all_refs_with_mirrors(repo: &Repo) -> Result<Vec<(String, Checksum)>, Error> {
    let mut refs: Vec<(String, Checksum)> = repo.all_refs()?.into_iter().collect();
    for (cid, name, c) in list_mirror_refs(repo)? {
        refs.push((format!("({cid}, {name})"), c));
    }
    Ok(refs)
}

/// Prunes the repository.
pub fn prune(repo: &Repo, opts: &PruneOptions) -> Result<PruneReport, Error> {
    if opts.static_deltas_only && opts.delete_commit.is_none() {
        return Err(Error::Invalid(
            "--static-deltas-only requires --delete-commit; see https://github.com/ostreedev/ostree/issues/1479".into(),
        ));
    }
    let _lock = repo.lock(LockKind::Exclusive)?;
    let mut tombstones = repo.tombstone_commits();
    let flags = TraverseFlags { commit_only: opts.commit_only };
    let mut report = PruneReport { commit_only: opts.commit_only, dry_run: opts.no_prune, ..Default::default() };

    if let Some(c) = &opts.delete_commit {
        for (name, target) in all_refs_with_mirrors(repo)? {
            if target == *c {
                return Err(Error::Invalid(format!("Commit '{c}' is referenced by '{name}'")));
            }
        }
        if opts.static_deltas_only {
            for d in list_static_deltas(repo)? {
                if d.to == *c {
                    delete_static_delta(repo, &d)?;
                    report.deleted_deltas.push(d.name());
                }
            }
        } else {
            enable_tombstones(repo)?;
            tombstones = true;
            delete_object(repo, (*c, ObjectType::Commit), true)?;
        }
    }

    let types: &[ObjectType] = if opts.commit_only {
        &[ObjectType::Commit]
    } else {
        &[ObjectType::Commit, ObjectType::DirTree, ObjectType::DirMeta, ObjectType::File]
    };
    // The walk and the listing both wait on cold reads of different
    // directories: they run side by side.
    let (reachable, objects) =
        crate::threads::io_install(|| rayon::join(|| reachable_set(repo, opts, flags), || repo.list_objects(types)));
    let reachable = reachable?;
    let mut objects = objects?;
    // Commits go first: a prune stopped halfway then leaves objects no
    // commit reaches, never a commit missing part of its tree (which
    // fsck would report).
    objects.sort_by(|a, b| (a.1 != ObjectType::Commit).cmp(&(b.1 != ObjectType::Commit)).then(a.cmp(b)));
    report.total = objects.len() as u64;
    for key in objects {
        if reachable.contains(&key) {
            continue;
        }
        if opts.no_prune {
            let p = repo.object_path(&key.0, key.1);
            report.freed += std::fs::symlink_metadata(&p).map(|m| m.len()).unwrap_or(0);
        } else {
            report.freed += delete_object(repo, key, tombstones)?;
        }
        report.deleted += 1;
    }

    if !opts.no_prune {
        for d in list_static_deltas(repo)? {
            if !repo.has_object(ObjectType::Commit, &d.to) {
                delete_static_delta(repo, &d)?;
                report.deleted_deltas.push(d.name());
            }
        }
        prune_summary_cache(repo);
    }
    Ok(report)
}

/// Every object that the refs (or, without `refs_only`, the commits) reach,
/// as `opts` limits the walk.
fn reachable_set(repo: &Repo, opts: &PruneOptions, flags: TraverseFlags) -> Result<HashSet<ObjectKey>, Error> {
    let mut reachable = HashSet::new();
    let per_branch =
        opts.keep_younger_than.is_some() || !opts.retain_branch_depth.is_empty() || !opts.only_branch.is_empty();
    if per_branch {
        let mut only = HashSet::new();
        for b in &opts.only_branch {
            repo.resolve_rev(b, false)?;
            only.insert(b.as_str());
        }
        let retain: HashMap<&str, i64> = opts.retain_branch_depth.iter().map(|(b, d)| (b.as_str(), *d)).collect();
        for (name, c) in repo.all_refs()? {
            if let Some(d) = retain.get(name.as_str()) {
                traverse_commit(repo, &c, *d, flags, &mut reachable)?;
            } else if !only.is_empty() && !only.contains(name.as_str()) {
                traverse_commit(repo, &c, -1, flags, &mut reachable)?;
            } else if let Some(ts) = opts.keep_younger_than {
                traverse_keep_younger_than(repo, &c, ts, flags, &mut reachable)?;
            } else {
                traverse_commit(repo, &c, opts.depth, flags, &mut reachable)?;
            }
        }
    } else if opts.refs_only {
        for (_, c) in all_refs_with_mirrors(repo)? {
            traverse_commit(repo, &c, opts.depth, flags, &mut reachable)?;
        }
    } else {
        for (c, _) in repo.list_objects(&[ObjectType::Commit])? {
            traverse_commit(repo, &c, opts.depth, flags, &mut reachable)?;
        }
    }

    Ok(reachable)
}

/// Removes cached remote summaries (`tmp/cache/summaries/NAME[.sig]`) of
/// remotes that are no longer configured.
fn prune_summary_cache(repo: &Repo) {
    let dir = repo.path().join("tmp/cache/summaries");
    let Ok(rd) = std::fs::read_dir(&dir) else { return };
    let remotes: HashSet<String> = repo
        .config()
        .groups()
        .iter()
        .filter_map(|g| g.strip_prefix("remote \"").and_then(|r| r.strip_suffix('"')).map(str::to_string))
        .collect();
    for e in rd.filter_map(|e| e.ok()) {
        let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
        let remote = name.strip_suffix(".sig").unwrap_or(&name);
        if !remotes.contains(remote) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstone_matches_golden() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/extras.json")).unwrap();
        let c = Checksum::from_hex("e50899a76f9ec7e2cfc3d5566b9679886080a927c40922822806366b4d34a7fe").unwrap();
        let hex: String = tombstone_bytes(&c).iter().map(|b| format!("{b:02x}")).collect();
        assert!(text.contains(&format!("\"tombstone_for_e508_hex\": \"{hex}\"")));
    }

    #[test]
    fn report_lines() {
        let mut r = PruneReport { total: 15, ..Default::default() };
        assert_eq!(r.lines(), ["Total objects: 15", "No unreachable objects"]);
        r.deleted = 2;
        r.freed = 474;
        assert_eq!(r.lines()[1], "Deleted 2 objects, 474 bytes freed");
        r.dry_run = true;
        r.commit_only = true;
        assert_eq!(r.lines(), ["Total (commit only) objects: 15", "Would delete: 2 objects, freeing 474 bytes"]);
    }
}
