//! Repository consistency checks, as `ostree fsck` does them (spec §18).
//!
//! 1. Every ref (local, remote, and collection refs under `refs/mirrors`)
//!    must name a commit that loads and whose bytes hash to its name
//!    (optionally: that the commit's ref bindings list the ref).
//! 2. Every commit object is enumerated. Commits marked partial
//!    (`state/C.commitpartial`) are skipped and counted; markers holding `f`
//!    (left by an earlier fsck) make the run fail.
//! 3. The trees of the other commits are walked, and every object they reach
//!    is checked once: metadata by hashing its bytes and validating its
//!    structure, content by decoding it in the repo's mode and re-hashing the
//!    content stream (in parallel over all cores).
//!
//! Problems carry OSTree's wording (scripts grep for it). A missing object
//! marks every commit that reaches it partial (marker content `f`). With
//! `delete`, a corrupt object is deleted and its commits marked partial too;
//! with neither `delete` nor `all`, the first corrupt object ends the run
//! with an error. Nothing is printed: events go to a callback, and the
//! result comes back as an [`FsckReport`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::gvariant::{Type, Value};
use crate::object::{Commit, ObjectType, Xattrs, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::prune::{delete_object, enable_tombstones, write_tombstone};
use crate::repo::{Error, FileContent, Repo, RepoMode};
use crate::traverse::{ObjectKey, RawDirTree};
use crate::Checksum;

/// What [`fsck`] does besides checking.
#[derive(Debug, Clone, Copy, Default)]
pub struct FsckOptions {
    /// Delete corrupt objects (and mark the commits that reach them partial).
    pub delete: bool,
    /// Keep going after a corrupt object (`-a`).
    pub all: bool,
    /// Emit no [`FsckEvent::Phase`] events (`-q`).
    pub quiet: bool,
    /// Check that each ref is listed in its commit's `ostree.ref-binding`.
    pub verify_bindings: bool,
    /// Check that every ref a commit is bound to resolves to that commit.
    pub verify_back_refs: bool,
    /// Write tombstones for parent commits that are missing, and turn on
    /// `core.tombstone-commits` (see [`FsckReport::tombstoned`]).
    pub add_tombstones: bool,
}

/// The stages `ostree fsck` announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsckPhase {
    /// `Validating refs...`
    ValidatingRefs,
    /// `Validating refs in collections...`
    ValidatingCollectionRefs,
    /// `Enumerating commits...`
    EnumeratingCommits,
    /// `Verifying content integrity of N commit objects...`
    Verifying {
        /// Commits whose trees are checked.
        commits: usize,
    },
}

impl fmt::Display for FsckPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsckPhase::ValidatingRefs => f.write_str("Validating refs..."),
            FsckPhase::ValidatingCollectionRefs => f.write_str("Validating refs in collections..."),
            FsckPhase::EnumeratingCommits => f.write_str("Enumerating commits..."),
            FsckPhase::Verifying { commits } => write!(f, "Verifying content integrity of {commits} commit objects..."),
        }
    }
}

/// Something fsck reports while it runs. Events may come from several
/// threads; each arrives whole and in a consistent order (a problem before
/// the partial markings it causes).
#[derive(Debug)]
pub enum FsckEvent<'a> {
    /// A stage begins (not sent when `quiet`).
    Phase(FsckPhase),
    /// `done` of `total` objects checked.
    Progress {
        /// Objects checked so far.
        done: u64,
        /// Objects to check.
        total: u64,
    },
    /// A missing or corrupt object that does not end the run.
    Problem(&'a FsckProblem),
    /// A commit was marked partial: `Marking commit as partial: C`.
    MarkedPartial(Checksum),
    /// A tombstone was written: `Adding tombstone for commit C`.
    Tombstone(Checksum),
}

/// What is wrong with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The object is absent.
    Missing,
    /// The object is present but invalid.
    Corrupt,
}

/// One problem, with the commits that reach the object (empty for a commit
/// named by a ref). Displays as OSTree prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckProblem {
    /// Missing or corrupt.
    pub kind: ProblemKind,
    /// The object.
    pub checksum: Checksum,
    /// Its type.
    pub ty: ObjectType,
    /// Commits reaching it, sorted.
    pub commits: Vec<Checksum>,
    /// What is wrong (empty for missing objects).
    pub message: String,
}

fn join(commits: &[Checksum]) -> String {
    commits.iter().map(Checksum::to_hex).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for FsckProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.ty.name();
        match (self.kind, self.commits.is_empty()) {
            (ProblemKind::Missing, true) => write!(f, "Object missing: {}.{name}", self.checksum),
            (ProblemKind::Missing, false) => {
                write!(f, "Object missing in commits {}: {}.{name}", join(&self.commits), self.checksum)
            }
            (ProblemKind::Corrupt, true) => write!(f, "fsck {}.{name}: {}", self.checksum, self.message),
            (ProblemKind::Corrupt, false) if self.ty == ObjectType::File => {
                write!(f, "In commits {}: fsck content object {}: {}", join(&self.commits), self.checksum, self.message)
            }
            (ProblemKind::Corrupt, false) => {
                write!(f, "In commits {}: fsck {}.{name}: {}", join(&self.commits), self.checksum, self.message)
            }
        }
    }
}

/// The outcome of a run that was not stopped by a fatal problem.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// Commits whose trees were checked.
    pub commits_verified: usize,
    /// Commits skipped because they are marked partial.
    pub partial_commits: usize,
    /// Of those, the ones an earlier fsck marked (`f`).
    pub fsck_partial_commits: usize,
    /// Objects checked.
    pub objects: u64,
    /// Every problem found (missing and corrupt objects).
    pub problems: Vec<FsckProblem>,
    /// Objects deleted (`delete`).
    pub deleted: Vec<ObjectKey>,
    /// Commits marked partial in this run.
    pub marked_partial: Vec<Checksum>,
    /// Commits a tombstone was written for (`add_tombstones`): parents that
    /// commits name but that are not in the repo. (OSTree 2022.7 instead
    /// deletes the *child* commit and tombstones it; we keep the child.)
    pub tombstoned: Vec<Checksum>,
}

impl FsckReport {
    /// The error the run ends with, as `ostree fsck` words it, if any:
    /// corruption first, then partial commits left by an earlier fsck.
    pub fn error_message(&self) -> Option<String> {
        if !self.problems.is_empty() {
            return Some("Repository corruption encountered".into());
        }
        if self.fsck_partial_commits > 0 {
            return Some(format!("{} partial commits from fsck-detected corruption", self.fsck_partial_commits));
        }
        None
    }

    /// The success line, `object fsck of N commits completed successfully - no errors found.`
    pub fn success_message(&self) -> String {
        format!("object fsck of {} commits completed successfully - no errors found.", self.commits_verified)
    }
}

/// The reverse edges of the commits' object graph: for each object, what
/// reaches it (dirtrees and commits). Used to name the commits in messages.
#[derive(Default)]
struct Graph {
    order: Vec<ObjectKey>,
    seen: HashSet<ObjectKey>,
    parents: HashMap<ObjectKey, Vec<ObjectKey>>,
}

impl Graph {
    fn add(&mut self, key: ObjectKey, parent: Option<ObjectKey>) -> bool {
        if let Some(p) = parent {
            self.parents.entry(key).or_default().push(p);
        }
        if self.seen.insert(key) {
            self.order.push(key);
            true
        } else {
            false
        }
    }

    fn commits_of(&self, key: ObjectKey) -> Vec<Checksum> {
        let mut out = BTreeSet::new();
        let mut stack = vec![key];
        let mut visited = HashSet::new();
        while let Some(k) = stack.pop() {
            if !visited.insert(k) {
                continue;
            }
            if k.1 == ObjectType::Commit {
                out.insert(k.0);
                continue;
            }
            if let Some(ps) = self.parents.get(&k) {
                stack.extend(ps.iter().copied());
            }
        }
        out.into_iter().collect()
    }
}

/// Shared state of the object checks.
struct Checker<'a> {
    repo: &'a Repo,
    opts: &'a FsckOptions,
    events: &'a (dyn Fn(&FsckEvent<'_>) + Sync),
    graph: &'a Graph,
    tombstones: bool,
    state: Mutex<CheckState>,
    done: AtomicU64,
    total: u64,
    stop: AtomicBool,
}

#[derive(Default)]
struct CheckState {
    problems: Vec<FsckProblem>,
    marked: Vec<Checksum>,
    marked_set: HashSet<Checksum>,
    deleted: Vec<ObjectKey>,
}

enum Check {
    Missing,
    Corrupt(String),
}

impl Checker<'_> {
    fn mark_partial(&self, st: &mut CheckState, commits: &[Checksum]) -> Result<(), Error> {
        for c in commits {
            if st.marked_set.insert(*c) {
                (self.events)(&FsckEvent::MarkedPartial(*c));
                self.repo.mark_partial(c, b"f")?;
                st.marked.push(*c);
            }
        }
        Ok(())
    }

    /// Records a problem; returns an error when it ends the run.
    fn problem(&self, key: ObjectKey, check: Check) -> Result<(), Error> {
        let commits = self.graph.commits_of(key);
        let (kind, message) = match check {
            Check::Missing => (ProblemKind::Missing, String::new()),
            Check::Corrupt(m) => (ProblemKind::Corrupt, m),
        };
        let p = FsckProblem { kind, checksum: key.0, ty: key.1, commits, message };
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match kind {
            ProblemKind::Missing => {
                (self.events)(&FsckEvent::Problem(&p));
                let commits = p.commits.clone();
                st.problems.push(p);
                self.mark_partial(&mut st, &commits)?;
            }
            ProblemKind::Corrupt if self.opts.delete => {
                (self.events)(&FsckEvent::Problem(&p));
                let commits = p.commits.clone();
                st.problems.push(p);
                delete_object(self.repo, key, self.tombstones)?;
                st.deleted.push(key);
                if key.1 != ObjectType::Commit {
                    self.mark_partial(&mut st, &commits)?;
                }
            }
            ProblemKind::Corrupt if self.opts.all => {
                (self.events)(&FsckEvent::Problem(&p));
                st.problems.push(p);
            }
            ProblemKind::Corrupt => {
                self.stop.store(true, Ordering::Relaxed);
                let msg = p.to_string();
                st.problems.push(p);
                return Err(Error::Invalid(msg));
            }
        }
        Ok(())
    }

    fn check(&self, key: ObjectKey) -> Result<(), Error> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let r =
            if key.1 == ObjectType::File { check_content(self.repo, &key.0)? } else { check_metadata(self.repo, key)? };
        if let Some(c) = r {
            self.problem(key, c)?;
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        (self.events)(&FsckEvent::Progress { done, total: self.total });
        Ok(())
    }
}

fn mismatch(ty: ObjectType, expected: &Checksum, actual: &Checksum) -> String {
    format!("Corrupted {} object; checksum expected='{expected}' actual='{actual}'", ty.name())
}

/// Checks one metadata object: present, hashes to its name, valid structure.
fn check_metadata(repo: &Repo, key: ObjectKey) -> Result<Option<Check>, Error> {
    let (csum, ty) = key;
    let bytes = match repo.read_metadata(ty, &csum) {
        Ok(b) => b,
        Err(Error::MissingObject { .. }) => return Ok(Some(Check::Missing)),
        Err(e) => return Ok(Some(Check::Corrupt(e.to_string()))),
    };
    let actual = Checksum::digest(&bytes);
    if actual != csum {
        return Ok(Some(Check::Corrupt(mismatch(ty, &csum, &actual))));
    }
    let structure = match ty {
        ObjectType::Commit => Commit::from_bytes(&bytes).map(|_| ()).map_err(|e| e.to_string()),
        ObjectType::DirTree => {
            RawDirTree::from_bytes(&bytes).map_err(|e| e.to_string()).and_then(|t| t.validate_names())
        }
        ObjectType::DirMeta => validate_dirmeta(&bytes),
        _ => Ok(()),
    };
    Ok(structure.err().map(|m| Check::Corrupt(format!("{csum}.{}: {m}", ty.name()))))
}

/// Validates dirmeta bytes with OSTree's wording.
pub fn validate_dirmeta(bytes: &[u8]) -> Result<(), String> {
    let ty = Type::parse(crate::object::DirMeta::TYPE).map_err(|e| e.to_string())?;
    let v = Value::from_bytes(&ty, bytes).map_err(|e| e.to_string())?;
    let t = v.as_tuple().unwrap_or(&[]);
    let mode = t.get(2).and_then(Value::as_u32).map(u32::from_be).unwrap_or(0);
    if mode & S_IFMT != S_IFDIR {
        return Err(format!("Invalid directory metadata mode {mode}; not a directory"));
    }
    if mode & !(S_IFMT | 0o7777) != 0 {
        return Err(format!("Invalid directory metadata mode {mode}; invalid bits"));
    }
    match t.get(3) {
        Some(x) => Xattrs::from_value(x).map(|_| ()).map_err(|e| e.to_string()),
        None => Err("dirmeta lacks xattrs".into()),
    }
}

/// Checks one content object in the repo's storage format. `Ok(None)` when
/// it is sound.
fn check_content(repo: &Repo, csum: &Checksum) -> Result<Option<Check>, Error> {
    let path = repo.object_path(csum, ObjectType::File);
    let mode = repo.mode();
    let archive = mode == RepoMode::Archive;
    let st = match std::fs::symlink_metadata(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(Check::Missing)),
        Err(e) => return Ok(Some(Check::Corrupt(format!("Opening content object {csum}: {e}")))),
    };
    let ft = st.file_type();
    let ok_type = ft.is_file() || (ft.is_symlink() && matches!(mode, RepoMode::Bare | RepoMode::BareUserOnly));
    if !ok_type {
        let what = if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() || ft.is_dir() {
            "Not a regular file or symlink"
        } else {
            "Not a regular file"
        };
        return Ok(Some(Check::Corrupt(format!("Opening content object {csum}: {what}"))));
    }
    if archive {
        let size = st.len();
        let mut pre = [0u8; 4];
        let read = std::fs::File::open(&path).and_then(|mut f| f.read_exact(&mut pre));
        let hlen = u32::from_be_bytes(pre) as u64;
        if read.is_err() || size < 8 || hlen > size - 8 {
            let hlen = if read.is_err() { 0 } else { hlen };
            return Ok(Some(Check::Corrupt(format!("File header size {hlen} exceeds size {size}"))));
        }
    }
    let bad = |inner: String| {
        if archive {
            Check::Corrupt(format!("Corrupted archive file; {inner}"))
        } else {
            Check::Corrupt(format!("Opening content object {csum}: {inner}"))
        }
    };
    let obj = match repo.open_file(csum) {
        Ok(o) => o,
        Err(Error::MissingObject { .. }) => return Ok(Some(Check::Missing)),
        // GLib reads malformed GVariant data as all zeroes, so OSTree
        // reports an unparsable archive header as mode 0.
        Err(Error::BadObject { source: crate::object::ObjectError::GVariant(_), .. }) if archive => {
            return Ok(Some(Check::Corrupt("Corrupted archive file; invalid mode 0".into())))
        }
        Err(Error::BadObject { source, .. }) => return Ok(Some(bad(source.to_string()))),
        Err(Error::Io { source, .. }) => return Ok(Some(bad(source.to_string()))),
        Err(e) => return Err(e),
    };
    let m = obj.header.mode;
    let fmt_ok = m & S_IFMT == S_IFREG || m & S_IFMT == S_IFLNK;
    if !fmt_ok || m & !(S_IFMT | 0o7777) != 0 {
        return Ok(Some(if archive {
            Check::Corrupt(format!("Corrupted archive file; invalid mode {m}"))
        } else {
            Check::Corrupt(format!("Invalid file metadata mode {m}"))
        }));
    }
    if let Err(e) = obj.header.validate() {
        return Ok(Some(bad(e.to_string())));
    }
    let mut h = obj.header.hasher();
    if let FileContent::Regular(mut r) = obj.content {
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Ok(Some(bad(e.to_string()))),
            }
        }
    }
    let actual = h.finish();
    if actual != *csum {
        return Ok(Some(Check::Corrupt(mismatch(ObjectType::File, csum, &actual))));
    }
    Ok(None)
}

/// `‘a’, ‘b’`, as OSTree lists refs in messages.
pub fn quote_list(items: &[String]) -> String {
    items.iter().map(|s| format!("‘{s}’")).collect::<Vec<_>>().join(", ")
}

/// Checks a ref's commit: present, hashes right, parses; bindings if asked.
/// `label` names the ref in errors (`NAME` or `(COLLECTION, NAME)`).
#[allow(clippy::too_many_arguments)]
fn check_ref(
    repo: &Repo,
    opts: &FsckOptions,
    events: &(dyn Fn(&FsckEvent<'_>) + Sync),
    label: &str,
    name: &str,
    collection: Option<&str>,
    csum: &Checksum,
    problems: &mut Vec<FsckProblem>,
    deleted: &mut Vec<ObjectKey>,
    tombstones: bool,
) -> Result<(), Error> {
    let load_err = |e: &dyn fmt::Display| Error::Invalid(format!("Loading commit for ref {label}: {e}"));
    let key = (*csum, ObjectType::Commit);
    let bytes = match repo.read_metadata(ObjectType::Commit, csum) {
        Ok(b) => b,
        Err(e @ Error::MissingObject { .. }) => {
            let p = FsckProblem {
                kind: ProblemKind::Missing,
                checksum: *csum,
                ty: ObjectType::Commit,
                commits: Vec::new(),
                message: String::new(),
            };
            events(&FsckEvent::Problem(&p));
            problems.push(p);
            return Err(load_err(&e));
        }
        Err(e) => return Err(load_err(&e)),
    };
    let actual = Checksum::digest(&bytes);
    if actual != *csum {
        let p = FsckProblem {
            kind: ProblemKind::Corrupt,
            checksum: *csum,
            ty: ObjectType::Commit,
            commits: Vec::new(),
            message: mismatch(ObjectType::Commit, csum, &actual),
        };
        if opts.delete {
            events(&FsckEvent::Problem(&p));
            problems.push(p);
            delete_object(repo, key, tombstones)?;
            deleted.push(key);
            return Err(load_err(&Error::MissingObject { checksum: *csum, ty: ObjectType::Commit }));
        } else if opts.all {
            events(&FsckEvent::Problem(&p));
            problems.push(p);
            return Ok(());
        } else {
            return Err(Error::Invalid(p.to_string()));
        }
    }
    let commit = Commit::from_bytes(&bytes).map_err(|e| load_err(&e))?;
    if opts.verify_bindings {
        if let Some(b) = commit.ref_bindings() {
            if !b.iter().any(|r| r == name) {
                return Err(Error::Invalid(format!(
                    "Commit {csum}: Commit has no requested ref ‘{name}’ in ref binding metadata ({})",
                    quote_list(&b)
                )));
            }
        }
        if let (Some(want), Some(have)) =
            (collection, commit.metadata.get("ostree.collection-binding").and_then(Value::as_str))
        {
            if want != have {
                return Err(Error::Invalid(format!(
                    "Commit {csum}: Commit has collection ID ‘{have}’ in collection binding metadata, while the remote it came from has collection ID ‘{want}’"
                )));
            }
        }
    }
    Ok(())
}

/// Collection refs of other collections: `refs/mirrors/COLLECTION/NAME`.
pub fn list_mirror_refs(repo: &Repo) -> Result<Vec<(String, String, Checksum)>, Error> {
    let base = repo.path().join("refs/mirrors");
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&base) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => return Err(Error::Io { path: base, source }),
    };
    let mut cids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    cids.sort();
    for cid in cids {
        let mut stack = vec![(base.join(&cid), String::new())];
        let mut refs = Vec::new();
        while let Some((dir, prefix)) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for e in rd.filter_map(|e| e.ok()) {
                let Some(n) = e.file_name().to_str().map(str::to_string) else { continue };
                if n.starts_with('.') {
                    continue;
                }
                let full = if prefix.is_empty() { n.clone() } else { format!("{prefix}/{n}") };
                let p = e.path();
                if p.is_dir() {
                    stack.push((p, full));
                } else if let Ok(s) = std::fs::read_to_string(&p) {
                    let c = Checksum::from_hex(s.trim_end())
                        .map_err(|_| Error::Invalid(format!("{}: ref does not hold a checksum", p.display())))?;
                    refs.push((cid.clone(), full, c));
                }
            }
        }
        refs.sort();
        out.extend(refs);
    }
    Ok(out)
}

/// Reads a commitpartial marker: `Some(true)` when fsck left it (`f`).
fn partial_marker(repo: &Repo, c: &Checksum) -> Option<bool> {
    let p = repo.commitpartial_path(c);
    match std::fs::read(&p) {
        Ok(b) => Some(b.first() == Some(&b'f')),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => Some(false),
    }
}

/// Checks the repository. Returns `Err` for a fatal problem (without `all`
/// or `delete`, the first corrupt object; a ref whose commit does not load;
/// a tree that cannot be walked); otherwise a report, whose
/// [`FsckReport::error_message`] tells whether the run failed.
pub fn fsck(repo: &Repo, opts: &FsckOptions, events: &(dyn Fn(&FsckEvent<'_>) + Sync)) -> Result<FsckReport, Error> {
    let phase = |p: FsckPhase| {
        if !opts.quiet {
            events(&FsckEvent::Phase(p));
        }
    };
    let mut report = FsckReport::default();
    let tombstones = repo.tombstone_commits();

    phase(FsckPhase::ValidatingRefs);
    for (name, csum) in repo.all_refs()? {
        let bare_name = name.split_once(':').map(|(_, n)| n.to_string()).unwrap_or_else(|| name.clone());
        check_ref(
            repo,
            opts,
            events,
            &name,
            &bare_name,
            None,
            &csum,
            &mut report.problems,
            &mut report.deleted,
            tombstones,
        )?;
    }

    phase(FsckPhase::ValidatingCollectionRefs);
    for (cid, name, csum) in list_mirror_refs(repo)? {
        let label = format!("({cid}, {name})");
        check_ref(
            repo,
            opts,
            events,
            &label,
            &name,
            Some(&cid),
            &csum,
            &mut report.problems,
            &mut report.deleted,
            tombstones,
        )?;
    }

    phase(FsckPhase::EnumeratingCommits);
    let mut commits: Vec<Checksum> = repo.list_objects(&[ObjectType::Commit])?.into_iter().map(|(c, _)| c).collect();
    commits.sort();
    let mut to_verify = Vec::new();
    for c in commits {
        match partial_marker(repo, &c) {
            Some(by_fsck) => {
                report.partial_commits += 1;
                if by_fsck {
                    report.fsck_partial_commits += 1;
                }
            }
            None => to_verify.push(c),
        }
    }
    let mut missing_parents = BTreeSet::new();
    if opts.verify_back_refs || opts.add_tombstones {
        for c in &to_verify {
            let Ok(commit) = repo.load_commit(c) else { continue };
            if opts.verify_back_refs {
                for r in commit.ref_bindings().unwrap_or_default() {
                    match repo.resolve_rev(&r, true) {
                        Ok(Some(t)) if t == *c => {}
                        Ok(Some(_)) => {
                            return Err(Error::Invalid(format!(
                                "Ref ‘{r}’ in bindings for commit {c} does not resolve to that commit"
                            )))
                        }
                        Ok(None) | Err(Error::RefNotFound(_)) => {
                            return Err(Error::Invalid(format!("Ref ‘{r}’ in bindings for commit {c} does not exist")))
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            if opts.add_tombstones {
                if let Some(p) = commit.parent {
                    if !repo.has_object(ObjectType::Commit, &p) {
                        missing_parents.insert(p);
                    }
                }
            }
        }
    }

    phase(FsckPhase::Verifying { commits: to_verify.len() });
    report.commits_verified = to_verify.len();
    let graph = build_graph(repo, &to_verify)?;
    report.objects = graph.order.len() as u64;

    let checker = Checker {
        repo,
        opts,
        events,
        graph: &graph,
        tombstones,
        state: Mutex::new(CheckState::default()),
        done: AtomicU64::new(0),
        total: graph.order.len() as u64,
        stop: AtomicBool::new(false),
    };
    let (meta, content): (Vec<ObjectKey>, Vec<ObjectKey>) =
        graph.order.iter().copied().partition(|k| k.1 != ObjectType::File);
    let mut result = meta.iter().try_for_each(|k| checker.check(*k));
    if result.is_ok() {
        result = content.par_iter().try_for_each(|k| checker.check(*k));
    }
    let st = checker.state.into_inner().unwrap_or_else(|e| e.into_inner());
    result?;
    report.problems.extend(st.problems);
    report.marked_partial = st.marked;
    report.deleted.extend(st.deleted);

    if !missing_parents.is_empty() {
        enable_tombstones(repo)?;
        for p in missing_parents {
            // A tombstone already there is fine; the commit may also have
            // been deleted by a prune that wrote one.
            events(&FsckEvent::Tombstone(p));
            write_tombstone(repo, &p)?;
            report.tombstoned.push(p);
        }
    }
    Ok(report)
}

/// Walks every commit's tree once, recording what reaches what.
fn build_graph(repo: &Repo, commits: &[Checksum]) -> Result<Graph, Error> {
    let mut g = Graph::default();
    for c in commits {
        let ckey = (*c, ObjectType::Commit);
        g.add(ckey, None);
        let commit = repo.load_commit(c).map_err(|e| match e {
            Error::BadObject { source, .. } => Error::Invalid(source.to_string()),
            other => other,
        })?;
        g.add((commit.root_meta, ObjectType::DirMeta), Some(ckey));
        let mut stack = Vec::new();
        if g.add((commit.root_tree, ObjectType::DirTree), Some(ckey)) {
            stack.push(commit.root_tree);
        }
        while let Some(t) = stack.pop() {
            let tkey = (t, ObjectType::DirTree);
            let dt = RawDirTree::load(repo, &t).map_err(|e| match e {
                Error::BadObject { source, .. } => Error::Invalid(source.to_string()),
                other => other,
            })?;
            for (_, f) in &dt.files {
                g.add((*f, ObjectType::File), Some(tkey));
            }
            for (_, st, sm) in dt.dirs.iter().rev() {
                if g.add((*st, ObjectType::DirTree), Some(tkey)) {
                    stack.push(*st);
                }
                g.add((*sm, ObjectType::DirMeta), Some(tkey));
            }
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_wording() {
        let c = Checksum::from_bytes([0x11; 32]);
        let o = Checksum::from_bytes([0x22; 32]);
        let mut p = FsckProblem {
            kind: ProblemKind::Missing,
            checksum: o,
            ty: ObjectType::File,
            commits: vec![c, c],
            message: String::new(),
        };
        assert_eq!(p.to_string(), format!("Object missing in commits {c}, {c}: {o}.file"));
        p.commits.truncate(1);
        p.kind = ProblemKind::Corrupt;
        p.message = "Corrupted file object; checksum expected='x' actual='y'".into();
        assert_eq!(
            p.to_string(),
            format!("In commits {c}: fsck content object {o}: Corrupted file object; checksum expected='x' actual='y'")
        );
        p.ty = ObjectType::DirTree;
        p.message = format!("{o}.dirtree: Invalid / in filename ../afile");
        assert_eq!(
            p.to_string(),
            format!("In commits {c}: fsck {o}.dirtree: {o}.dirtree: Invalid / in filename ../afile")
        );
        p.commits.clear();
        p.ty = ObjectType::Commit;
        p.message = "m".into();
        assert_eq!(p.to_string(), format!("fsck {o}.commit: m"));
        p.kind = ProblemKind::Missing;
        assert_eq!(p.to_string(), format!("Object missing: {o}.commit"));
    }

    #[test]
    fn dirmeta_modes() {
        let dm = |mode: u32| crate::object::DirMeta { uid: 0, gid: 0, mode, xattrs: Xattrs::new() }.to_bytes();
        assert!(validate_dirmeta(&dm(0o40755)).is_ok());
        assert_eq!(
            validate_dirmeta(&dm(0o100755)).unwrap_err(),
            "Invalid directory metadata mode 33261; not a directory"
        );
    }
}
