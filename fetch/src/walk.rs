//! Walking what a commit reaches and importing what the destination
//! lacks, the same for every kind of source (spec A.7, A.8): the commit
//! first (marked partial in `state/` before its tree is fetched), then its
//! tree, dirtrees depth-first, skipping objects already stored; parents as
//! deep as asked.

use std::collections::HashSet;

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
pub(crate) fn verify_metadata(ty: ObjectType, c: &Checksum, bytes: &[u8]) -> Result<(), PullError> {
    let actual = Checksum::digest(bytes);
    if actual != *c {
        return Err(oxtree_store::Error::ChecksumMismatch { ty, expected: *c, actual }.into());
    }
    match ty {
        ObjectType::Commit => Commit::from_bytes_normal(bytes).map(|_| ()),
        ObjectType::DirTree => DirTree::from_bytes_normal(bytes).map(|_| ()),
        ObjectType::DirMeta => oxtree_store::object::DirMeta::from_bytes(bytes).map(|_| ()),
        _ => Ok(()),
    }
    .map_err(bad(c, ty))
}

/// Where objects come from.
pub(crate) trait Source {
    /// Makes sure the destination has the metadata object `c` (importing
    /// it, verified, unless `tx` has it) and returns its bytes.
    fn metadata(&mut self, tx: &Transaction<'_>, ty: ObjectType, c: &Checksum) -> Result<Vec<u8>, PullError>;
    /// The detached metadata of commit `c`, if the source has any.
    fn commitmeta(&mut self, c: &Checksum) -> Result<Option<Vec<u8>>, PullError>;
    /// Whether the source has commit `c` (a parent may be missing).
    fn has_commit(&mut self, c: &Checksum) -> Result<bool, PullError>;
    /// Imports the content object `c`, verified; returns its payload size.
    fn content(&mut self, tx: &Transaction<'_>, c: &Checksum) -> Result<u64, PullError>;
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
}

/// One walk over one transaction.
pub(crate) struct Walk<'a, 'r, S: Source> {
    pub src: S,
    pub tx: &'a Transaction<'r>,
    /// Fetch only commits (`--commit-metadata-only`).
    pub commit_only: bool,
    seen: HashSet<(Checksum, ObjectType)>,
    pub stats: PullStats,
}

impl<'a, 'r, S: Source> Walk<'a, 'r, S> {
    pub fn new(src: S, tx: &'a Transaction<'r>, commit_only: bool) -> Self {
        Walk { src, tx, commit_only, seen: HashSet::new(), stats: PullStats::default() }
    }

    fn dest(&self) -> &'r Repo {
        self.tx.repo()
    }

    fn metadata(&mut self, ty: ObjectType, c: &Checksum) -> Result<Vec<u8>, PullError> {
        let had = self.tx.has_object(ty, c);
        let bytes = self.src.metadata(self.tx, ty, c)?;
        if !had {
            self.stats.metadata += 1;
        }
        Ok(bytes)
    }

    fn content(&mut self, c: &Checksum) -> Result<(), PullError> {
        if !self.seen.insert((*c, ObjectType::File)) || self.tx.has_object(ObjectType::File, c) {
            return Ok(());
        }
        let size = self.src.content(self.tx, c)?;
        self.stats.content += 1;
        self.stats.content_bytes += size;
        Ok(())
    }

    fn dirtree(&mut self, tree: &Checksum, meta: &Checksum) -> Result<(), PullError> {
        // The same dirtree can come with different dirmeta (two empty
        // directories with different modes): the dirmeta before skipping
        // a dirtree already walked.
        if self.seen.insert((*meta, ObjectType::DirMeta)) && !self.tx.has_object(ObjectType::DirMeta, meta) {
            self.metadata(ObjectType::DirMeta, meta)?;
        }
        if !self.seen.insert((*tree, ObjectType::DirTree)) {
            return Ok(());
        }
        let bytes = self.metadata(ObjectType::DirTree, tree)?;
        let dt = DirTree::from_bytes(&bytes).map_err(bad(tree, ObjectType::DirTree))?;
        for f in &dt.files {
            self.content(&f.checksum)?;
        }
        for d in &dt.dirs {
            self.dirtree(&d.tree, &d.meta)?;
        }
        Ok(())
    }

    /// Pulls commit `c` and, while `depth` is not 0, its parents (-1: all).
    pub fn commit(&mut self, c: &Checksum, depth: i64) -> Result<(), PullError> {
        let dest = self.dest();
        let complete = dest.has_object(ObjectType::Commit, c) && !dest.is_partial(c);
        // Detached metadata first: new signatures may have appeared.
        let meta = self.src.commitmeta(c)?;
        if !complete {
            // Partial before the commit object exists, so that a pull cut
            // short is walked again (and repaired) by the next one.
            dest.mark_partial(c, b"")?;
        }
        let bytes = self.metadata(ObjectType::Commit, c)?;
        let commit = Commit::from_bytes(&bytes).map_err(bad(c, ObjectType::Commit))?;
        if let Some(meta) = meta {
            let meta = CommitMetadata::from_bytes(&meta).map_err(bad(c, ObjectType::CommitMeta))?;
            self.tx.write_commitmeta(c, &meta)?;
        }
        if !complete && !self.commit_only {
            self.dirtree(&commit.root_tree, &commit.root_meta)?;
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
