//! Walking what a commit reaches and importing what the destination
//! lacks, the same for every kind of source (spec A.7, A.8): the commit
//! first (marked partial in `state/` before its tree is fetched), then its
//! tree, dirtrees depth-first, skipping objects already stored; parents as
//! deep as asked. The tree is fetched by several threads at once, as many
//! as the source asks for.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex, MutexGuard};

use oxtree_store::object::{Commit, CommitMetadata, DirTree, ObjectError, ObjectType};
use oxtree_store::repo::Transaction;
use oxtree_store::{Checksum, Repo};

use crate::PullError;

/// The error for object `c` of type `ty` that does not parse.
pub(crate) fn bad(c: &Checksum, ty: ObjectType) -> impl FnOnce(ObjectError) -> PullError {
    let checksum = *c;
    move |source| oxtree_store::Error::BadObject { checksum, ty, source }.into()
}

/// Checks that `bytes` are the metadata object `c` of type `ty`: the
/// checksum, and for commits and dirtrees the normal form.
pub(crate) fn verify_metadata(ty: ObjectType, c: &Checksum, bytes: &[u8]) -> Result<(), oxtree_store::Error> {
    let actual = Checksum::digest(bytes);
    if actual != *c {
        return Err(oxtree_store::Error::ChecksumMismatch { ty, expected: *c, actual });
    }
    match ty {
        ObjectType::Commit => Commit::from_bytes_normal(bytes).map(|_| ()),
        ObjectType::DirTree => DirTree::from_bytes_normal(bytes).map(|_| ()),
        ObjectType::DirMeta => oxtree_store::object::DirMeta::from_bytes(bytes).map(|_| ()),
        _ => Ok(()),
    }
    .map_err(|source| oxtree_store::Error::BadObject { checksum: *c, ty, source })
}

/// Where objects come from. Shared by the walk's threads.
pub(crate) trait Source: Sync {
    /// Makes sure the destination has the metadata object `c` (importing
    /// it, verified, unless `tx` has it) and returns its bytes.
    fn metadata(&self, tx: &Transaction<'_>, ty: ObjectType, c: &Checksum) -> Result<Vec<u8>, PullError>;
    /// The detached metadata of commit `c`, if the source has any.
    fn commitmeta(&self, c: &Checksum) -> Result<Option<Vec<u8>>, PullError>;
    /// The bytes of commit `c`, checked against its checksum but not yet
    /// stored (so that its signatures can be verified first).
    fn commit_bytes(&self, tx: &Transaction<'_>, c: &Checksum) -> Result<Vec<u8>, PullError> {
        self.metadata(tx, ObjectType::Commit, c)
    }
    /// Whether the source has commit `c` (a parent may be missing).
    fn has_commit(&self, c: &Checksum) -> Result<bool, PullError>;
    /// Imports the content object `c`, verified; returns its payload size.
    fn content(&self, tx: &Transaction<'_>, c: &Checksum) -> Result<u64, PullError>;
    /// How many objects to fetch at once.
    fn concurrency(&self) -> usize;
    /// Whether [`Source::progress`] wants to be told (counting takes two
    /// locks per object, not worth it for nobody).
    fn wants_progress(&self) -> bool {
        false
    }
    /// Told after each object: how many are done, how many are known so
    /// far (the total grows as dirtrees arrive).
    fn progress(&self, _done: u64, _known: u64) {}
}

/// What a pull wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullStats {
    /// Metadata objects imported.
    pub metadata: u64,
    /// Content objects imported.
    pub content: u64,
    /// Payload bytes of imported content.
    pub content_bytes: u64,
    /// What static deltas brought.
    pub deltas: crate::delta::pull::DeltaPullStats,
}

/// One object the tree walk still has to fetch.
enum Job {
    /// A directory `depth` levels below the walk's start: its dirmeta and
    /// (unless walked already) its dirtree, whose entries become new jobs.
    Dir { tree: Checksum, meta: Checksum, need_meta: bool, need_tree: bool, depth: usize },
    /// A content object the destination lacks.
    Content(Checksum),
}

/// The tree walk's shared work list. Jobs are taken from the end, so the
/// walk goes depth first and the list stays about as long as one path's
/// directories times their entries, not the whole tree.
struct Queue {
    jobs: Vec<Job>,
    /// Jobs taken and not finished: their children may still come.
    busy: usize,
    /// The first error; everyone stops when it is set.
    failed: Option<PullError>,
}

/// One walk over one transaction.
pub(crate) struct Walk<'a, 'r, S: Source> {
    pub src: S,
    pub tx: &'a Transaction<'r>,
    /// Fetch only commits (`--commit-metadata-only`).
    pub commit_only: bool,
    /// Fetch only these paths of each tree (`--subpath`); empty: all.
    pub subpaths: Vec<String>,
    /// When not empty, every commit must carry a signature one of these
    /// verifies (the remote's `sign-verify`), checked before it is stored.
    pub checks: crate::verify::Checks,
    seen: Mutex<HashSet<(Checksum, ObjectType)>>,
    stats: Mutex<PullStats>,
}

/// Locks `m`, also after a thread panicked holding it (the data stays
/// consistent: every critical section here is a few plain updates).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'a, 'r, S: Source> Walk<'a, 'r, S> {
    pub fn new(src: S, tx: &'a Transaction<'r>, commit_only: bool) -> Self {
        Walk {
            src,
            tx,
            commit_only,
            subpaths: Vec::new(),
            checks: crate::verify::Checks::default(),
            seen: Mutex::new(HashSet::new()),
            stats: Mutex::new(PullStats::default()),
        }
    }

    /// What the walk imported so far.
    pub fn stats(&self) -> PullStats {
        *lock(&self.stats)
    }

    fn dest(&self) -> &'r Repo {
        self.tx.repo()
    }

    /// True the first time `c` of type `ty` is asked about.
    fn first_sight(&self, c: &Checksum, ty: ObjectType) -> bool {
        lock(&self.seen).insert((*c, ty))
    }

    fn metadata(&self, ty: ObjectType, c: &Checksum) -> Result<Vec<u8>, PullError> {
        let had = self.tx.has_object(ty, c);
        let bytes = self.src.metadata(self.tx, ty, c)?;
        if !had {
            lock(&self.stats).metadata += 1;
        }
        Ok(bytes)
    }

    /// The job for a directory entry, unless both its objects were seen.
    /// The same dirtree can come with different dirmeta (two empty
    /// directories with different modes): the dirmeta is looked at even
    /// when the dirtree was walked already.
    fn dir_job(&self, tree: &Checksum, meta: &Checksum, depth: usize) -> Option<Job> {
        let need_meta = self.first_sight(meta, ObjectType::DirMeta) && !self.tx.has_object(ObjectType::DirMeta, meta);
        let need_tree = self.first_sight(tree, ObjectType::DirTree);
        (need_meta || need_tree).then_some(Job::Dir { tree: *tree, meta: *meta, need_meta, need_tree, depth })
    }

    /// Tells the source how far the walk is.
    fn report(&self) {
        if !self.src.wants_progress() {
            return;
        }
        let s = self.stats();
        let known = lock(&self.seen).len() as u64;
        self.src.progress(s.metadata + s.content, known);
    }

    /// Imports content object `c`.
    fn content(&self, c: &Checksum) -> Result<(), PullError> {
        let size = self.src.content(self.tx, c)?;
        let mut stats = lock(&self.stats);
        stats.content += 1;
        stats.content_bytes += size;
        Ok(())
    }

    /// Imports what `path` names in the tree `tree` (with dirmeta `meta`):
    /// the directories on the way (their dirmeta and dirtree only), then
    /// the file, or the whole directory, at its end.
    fn subpath(&self, tree: &Checksum, meta: &Checksum, path: &str) -> Result<(), PullError> {
        let (mut tree, mut meta) = (*tree, *meta);
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, name) in parts.iter().enumerate() {
            if self.first_sight(&meta, ObjectType::DirMeta) && !self.tx.has_object(ObjectType::DirMeta, &meta) {
                self.metadata(ObjectType::DirMeta, &meta)?;
            }
            let bytes = self.metadata(ObjectType::DirTree, &tree)?;
            let dt = DirTree::from_bytes(&bytes).map_err(bad(&tree, ObjectType::DirTree))?;
            if let Some(d) = dt.dirs.iter().find(|d| d.name == *name) {
                (tree, meta) = (d.tree, d.meta);
                continue;
            }
            match dt.files.iter().find(|f| f.name == *name) {
                Some(f) if i + 1 == parts.len() => {
                    if self.first_sight(&f.checksum, ObjectType::File)
                        && !self.tx.has_object(ObjectType::File, &f.checksum)
                    {
                        self.content(&f.checksum)?;
                    }
                    return Ok(());
                }
                _ => {
                    return Err(PullError::Invalid(format!(
                        "--subpath {path}: no such file or directory in the commit"
                    )))
                }
            }
        }
        self.tree(&tree, &meta, parts.len())
    }

    /// Does `job`, pushing the jobs it finds onto `more`.
    fn run(&self, job: Job, more: &mut Vec<Job>) -> Result<(), PullError> {
        match job {
            Job::Content(c) => self.content(&c)?,
            Job::Dir { tree, meta, need_meta, need_tree, depth } => {
                // A hostile server can nest dirtrees without end for a few
                // bytes each; refuse what the checkout and prune would.
                if depth > oxtree_store::object::MAX_RECURSION {
                    return Err(oxtree_store::traverse::too_deep(&tree).into());
                }
                if need_meta {
                    self.metadata(ObjectType::DirMeta, &meta)?;
                }
                if need_tree {
                    // Read also when the destination has it: a partial
                    // commit's dirtree may be stored without its files.
                    let bytes = self.metadata(ObjectType::DirTree, &tree)?;
                    let dt = DirTree::from_bytes(&bytes).map_err(bad(&tree, ObjectType::DirTree))?;
                    for d in &dt.dirs {
                        more.extend(self.dir_job(&d.tree, &d.meta, depth + 1));
                    }
                    for f in &dt.files {
                        if self.first_sight(&f.checksum, ObjectType::File)
                            && !self.tx.has_object(ObjectType::File, &f.checksum)
                        {
                            more.push(Job::Content(f.checksum));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// One of the tree walk's threads: takes jobs until none are left and
    /// none are running, or one failed.
    fn work(&self, queue: &Mutex<Queue>, wake: &Condvar) {
        loop {
            let job = {
                let mut q = lock(queue);
                loop {
                    if q.failed.is_some() {
                        return;
                    }
                    if let Some(j) = q.jobs.pop() {
                        q.busy += 1;
                        break j;
                    }
                    if q.busy == 0 {
                        return;
                    }
                    q = wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            let mut more = Vec::new();
            let result = self.run(job, &mut more);
            self.report();
            let mut q = lock(queue);
            q.busy -= 1;
            // This thread takes one of the new jobs itself: wake one other
            // thread per job beyond that, or everyone when the walk is over
            // (waking all for every job made the pull pay for hundreds of
            // thousands of context switches).
            let others = more.len().saturating_sub(1);
            let over = match result {
                Ok(()) => {
                    q.jobs.append(&mut more);
                    q.jobs.is_empty() && q.busy == 0
                }
                Err(e) => {
                    q.failed.get_or_insert(e);
                    true
                }
            };
            drop(q);
            if over {
                wake.notify_all();
            } else {
                for _ in 0..others {
                    wake.notify_one();
                }
            }
        }
    }

    /// Imports the tree `tree` with dirmeta `meta`, `depth` directories
    /// below the root, and everything below it, [`Source::concurrency`]
    /// objects at a time.
    fn tree(&self, tree: &Checksum, meta: &Checksum, depth: usize) -> Result<(), PullError> {
        let Some(first) = self.dir_job(tree, meta, depth) else { return Ok(()) };
        let queue = Mutex::new(Queue { jobs: vec![first], busy: 0, failed: None });
        let wake = Condvar::new();
        std::thread::scope(|s| {
            for _ in 1..self.src.concurrency().max(1) {
                s.spawn(|| self.work(&queue, &wake));
            }
            self.work(&queue, &wake);
        });
        match queue.into_inner().unwrap_or_else(|e| e.into_inner()).failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Checks the signatures in `meta` (the detached metadata fetched for
    /// commit `c`) against the commit's bytes, before anything is stored.
    fn verify_commit(&self, c: &Checksum, meta: Option<&[u8]>) -> Result<(), PullError> {
        let bytes = self.src.commit_bytes(self.tx, c)?;
        crate::verify::verify_commit(&self.checks, c, &bytes, meta).map_err(PullError::Invalid)
    }

    /// Pulls commit `c` and, while `depth` is not 0, its parents (-1: all).
    pub fn commit(&self, c: &Checksum, depth: i64) -> Result<(), PullError> {
        let dest = self.dest();
        let complete = dest.has_object(ObjectType::Commit, c) && !dest.is_partial(c);
        // Detached metadata first: new signatures may have appeared.
        let meta = self.src.commitmeta(c)?;
        if !self.checks.is_empty() {
            self.verify_commit(c, meta.as_deref())?;
        }
        if !complete {
            // Partial before the commit object exists, so that a pull cut
            // short is walked again (and repaired) by the next one.
            dest.mark_partial(c, b"")?;
        }
        let bytes = self.metadata(ObjectType::Commit, c)?;
        let commit = Commit::from_bytes(&bytes).map_err(bad(c, ObjectType::Commit))?;
        // Detached metadata that is not an a{sv} is not kept (OSTree reads
        // it as empty); with verification on it has already been refused.
        if let Some(Ok(meta)) = meta.as_deref().map(CommitMetadata::from_bytes) {
            self.tx.write_commitmeta(c, &meta)?;
        }
        if !complete && !self.commit_only {
            if self.subpaths.is_empty() {
                self.tree(&commit.root_tree, &commit.root_meta, 0)?;
            }
            for p in &self.subpaths {
                self.subpath(&commit.root_tree, &commit.root_meta, p)?;
            }
        }
        if depth != 0 {
            if let Some(p) = commit.parent {
                if self.src.has_commit(&p)? {
                    self.commit(&p, depth - 1)?;
                }
            }
        }
        Ok(())
    }
}

/// Removes the `commitpartial` markers of `c` and the parents `depth`
/// reaches, once the transaction is durable.
pub(crate) fn clear_partial_chain(dest: &Repo, c: &Checksum, depth: i64) -> Result<(), PullError> {
    let mut cur = Some(*c);
    let mut left = depth;
    while let Some(c) = cur {
        let p = dest.commitpartial_path(&c);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(oxtree_store::Error::Io { path: p, source: e }.into()),
        }
        if left == 0 {
            break;
        }
        left -= 1;
        cur = match dest.load_commit(&c) {
            Ok(commit) => commit.parent,
            Err(_) => None,
        };
    }
    Ok(())
}
