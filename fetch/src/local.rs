//! `pull-local`: copy commits and everything they reach from another repo
//! on this machine.
//!
//! A commit is marked partial (`state/CSUM.commitpartial`) in the
//! destination before its tree is fetched and unmarked once the tree is
//! complete, so an interrupted pull is resumed by the next one, and a commit
//! that fsck marked partial is walked again and repaired.

use std::collections::HashSet;
use std::io::Read;

use oxtree_store::object::{ObjectType, S_IFMT, S_IFREG};
use oxtree_store::repo::{FileContent, Transaction};
use oxtree_store::{Checksum, Error, Repo, RepoMode};

/// Options of [`pull_local`].
#[derive(Debug, Clone, Default)]
pub struct PullLocalOptions {
    /// Recompute every object's checksum (`--untrusted`); metadata must
    /// also be in normal form.
    pub untrusted: bool,
    /// How many parents to follow (`--depth`); 0 = just the commit, -1 = all.
    pub depth: i64,
    /// Fetch only commit objects (`--commit-metadata-only`).
    pub commit_metadata_only: bool,
    /// Write refs under `refs/remotes/REMOTE/` (`--remote`).
    pub remote: Option<String>,
    /// Refuse content objects that bare-user-only cannot store
    /// (`--bareuseronly-files`).
    pub bareuseronly_files: bool,
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

struct Puller<'a, 'r> {
    src: &'a Repo,
    tx: &'a Transaction<'r>,
    opts: &'a PullLocalOptions,
    link: bool,
    seen: HashSet<(Checksum, ObjectType)>,
    stats: PullStats,
}

impl Puller<'_, '_> {
    fn metadata(&mut self, ty: ObjectType, c: &Checksum) -> Result<Vec<u8>, Error> {
        let have = self.tx.has_object(ty, c);
        // Staged objects are not readable through the repo yet: read those
        // (and everything we lack) from the source.
        let bytes = if self.tx.repo().has_object(ty, c) {
            self.tx.repo().read_metadata(ty, c)?
        } else {
            self.src.read_metadata(ty, c)?
        };
        if !have {
            if self.opts.untrusted {
                let actual = Checksum::digest(&bytes);
                if actual != *c {
                    return Err(Error::ChecksumMismatch { ty, expected: *c, actual });
                }
                let normal = match ty {
                    ObjectType::Commit => oxtree_store::object::Commit::from_bytes_normal(&bytes).map(|_| ()),
                    ObjectType::DirTree => oxtree_store::object::DirTree::from_bytes_normal(&bytes).map(|_| ()),
                    _ => Ok(()),
                };
                normal.map_err(|source| Error::BadObject { checksum: *c, ty, source })?;
            }
            // Metadata objects are stored alike in every mode: link them.
            if !self.tx.link_object(ty, c, &self.src.object_path(c, ty))? {
                self.tx.write_metadata(ty, &bytes)?;
            }
            self.stats.metadata += 1;
        }
        Ok(bytes)
    }

    fn content(&mut self, c: &Checksum) -> Result<(), Error> {
        if !self.seen.insert((*c, ObjectType::File)) || self.tx.has_object(ObjectType::File, c) {
            return Ok(());
        }
        if self.opts.bareuseronly_files || self.tx.repo().mode() == RepoMode::BareUserOnly {
            let mode = self.src.open_file(c)?.header.mode;
            let extra = mode & !(S_IFMT | 0o775);
            if mode & S_IFMT == S_IFREG && extra != 0 {
                return Err(Error::Invalid(format!("Content object {c}: invalid mode 0{mode:o} with bits 0{extra:o}")));
            }
        }
        if self.link || self.user_to_user_only_link(c)? {
            // Distrusting the source means checking the object before
            // taking it, even as a hard link.
            if self.opts.untrusted {
                self.src.verify_file(c)?;
            }
            if self.tx.link_object(ObjectType::File, c, &self.src.object_path(c, ObjectType::File))? {
                self.stats.content += 1;
                return Ok(());
            }
        }
        let obj = self.src.open_file(c)?;
        let mut header = obj.header;
        if self.tx.repo().mode() == RepoMode::BareUserOnly && header.uid == 0 && header.gid == 0 {
            header.xattrs = Default::default();
        }
        let written = match obj.content {
            FileContent::Symlink => self.tx.write_file_bytes(&header, b"")?,
            FileContent::Regular(mut r) => {
                let mut r: &mut dyn Read = &mut r;
                self.tx.write_file(&header, &mut r, obj.size)?
            }
        };
        // The content always passes through the hasher on copy: a mismatch
        // means the source object is corrupt.
        if written != *c {
            return Err(Error::ChecksumMismatch { ty: ObjectType::File, expected: *c, actual: written });
        }
        self.stats.content += 1;
        self.stats.content_bytes += obj.size;
        Ok(())
    }

    /// A bare-user regular file with canonical metadata is stored exactly
    /// as bare-user-only stores it (the same bytes and mode; the extra
    /// xattr is not read there), so it can be hardlinked across. Symlinks
    /// are files in bare-user and real symlinks in bare-user-only: never.
    fn user_to_user_only_link(&self, c: &Checksum) -> Result<bool, Error> {
        if self.src.mode() != RepoMode::BareUser || self.tx.repo().mode() != RepoMode::BareUserOnly {
            return Ok(false);
        }
        let h = self.src.open_file(c)?.header;
        Ok(h.is_regular()
            && h.uid == 0
            && h.gid == 0
            && h.xattrs.is_empty()
            && h.mode & 0o7777 & !0o755 == 0
            && h.mode & 0o400 != 0)
    }

    fn dirtree(&mut self, tree: &Checksum, meta: &Checksum) -> Result<(), Error> {
        // The same dirtree can come with different dirmeta (two empty
        // directories with different modes): the dirmeta before skipping
        // a dirtree already walked.
        self.metadata(ObjectType::DirMeta, meta)?;
        if !self.seen.insert((*tree, ObjectType::DirTree)) {
            return Ok(());
        }
        let bytes = self.metadata(ObjectType::DirTree, tree)?;
        let dt = oxtree_store::object::DirTree::from_bytes(&bytes).map_err(|source| Error::BadObject {
            checksum: *tree,
            ty: ObjectType::DirTree,
            source,
        })?;
        for f in &dt.files {
            self.content(&f.checksum)?;
        }
        for d in &dt.dirs {
            self.dirtree(&d.tree, &d.meta)?;
        }
        Ok(())
    }

    fn commit(&mut self, c: &Checksum, depth: i64) -> Result<(), Error> {
        let dest = self.tx.repo();
        let complete = dest.has_object(ObjectType::Commit, c) && !dest.is_partial(c);
        let bytes = self.metadata(ObjectType::Commit, c)?;
        let commit = oxtree_store::object::Commit::from_bytes(&bytes).map_err(|source| Error::BadObject {
            checksum: *c,
            ty: ObjectType::Commit,
            source,
        })?;
        if let Some(meta) = self.src.load_commitmeta(c)? {
            self.tx.write_commitmeta(c, &meta)?;
        }
        if !complete {
            if self.opts.commit_metadata_only {
                dest.mark_partial(c, b"")?;
            } else {
                dest.mark_partial(c, b"")?;
                self.dirtree(&commit.root_tree, &commit.root_meta)?;
            }
        }
        if depth != 0 {
            if let Some(p) = commit.parent {
                if self.src.has_object(ObjectType::Commit, &p) {
                    self.commit(&p, depth - 1)?;
                }
            }
        }
        Ok(())
    }
}

/// Pulls `refs` (all of the source's refs when empty; a ref may also be a
/// commit checksum) from `src` into `dest`, then points the refs at them.
pub fn pull_local(src: &Repo, dest: &Repo, refs: &[String], opts: &PullLocalOptions) -> Result<PullStats, Error> {
    let mut targets: Vec<(Option<String>, Checksum)> = Vec::new();
    if refs.is_empty() {
        for (name, c) in src.list_refs(None)? {
            targets.push((Some(name), c));
        }
    } else {
        for r in refs {
            let c = src.resolve_rev(r, false)?.ok_or_else(|| Error::RefNotFound(r.clone()))?;
            let name = if Checksum::is_hex(r) { None } else { Some(r.clone()) };
            targets.push((name, c));
        }
    }
    let link = src.mode() == dest.mode();
    let mut tx = dest.transaction()?;
    let mut p = Puller { src, tx: &tx, opts, link, seen: HashSet::new(), stats: PullStats::default() };
    for (_, c) in &targets {
        p.commit(c, opts.depth)?;
    }
    let stats = p.stats;
    for (name, c) in &targets {
        if let Some(n) = name {
            let spec = match &opts.remote {
                Some(r) => format!("{r}:{n}"),
                None => n.clone(),
            };
            tx.set_ref(&spec, Some(*c))?;
        }
    }
    tx.commit()?;
    // Only now, with the objects durable, do the commits stop being partial.
    if !opts.commit_metadata_only {
        for (_, c) in &targets {
            clear_partial_chain(dest, c, opts.depth)?;
        }
    }
    Ok(stats)
}

fn clear_partial_chain(dest: &Repo, c: &Checksum, depth: i64) -> Result<(), Error> {
    let mut cur = Some(*c);
    let mut left = depth;
    while let Some(c) = cur {
        let p = dest.commitpartial_path(&c);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io { path: p, source: e }),
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
