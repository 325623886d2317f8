//! `pull-local`: copy commits and everything they reach from another repo
//! on this machine.
//!
//! A commit is marked partial (`state/CSUM.commitpartial`) in the
//! destination before its tree is fetched and unmarked once the tree is
//! complete, so an interrupted pull is resumed by the next one, and a commit
//! that fsck marked partial is walked again and repaired.

use std::io::Read;

use oxtree_store::object::{FileHeader, ObjectType, S_IFMT, S_IFREG};
use oxtree_store::repo::{FileContent, FileObject, Transaction};
use oxtree_store::{Checksum, Error, Repo, RepoMode};

use crate::walk::{clear_partial_chain, verify_metadata, PullStats, Source, Walk};
use crate::PullError;

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
    /// Pull only these paths of the tree (`--subpath`); the commit stays
    /// partial.
    pub subpaths: Vec<String>,
    /// Bring commits in through the source's static deltas, and fail when
    /// it has none (`--require-static-deltas`). Local pulls use deltas
    /// only when asked to, as OSTree's do.
    pub require_static_deltas: bool,
    /// With `require_static_deltas`: fetch only the superblocks, report
    /// what the deltas hold in [`PullStats::deltas`], and change nothing.
    pub dry_run: bool,
    /// Check commit signatures as `remote`'s configuration asks
    /// (`gpg-verify`, `sign-verify`): pulls of `file://` remotes, and
    /// `pull-local --gpg-verify --remote=REMOTE`.
    pub verify_commits: bool,
    /// Check the source's `summary` against its `summary.sig` with
    /// `remote`'s GPG keyring (`pull-local --gpg-verify-summary`).
    pub verify_summary: bool,
}

/// `pull-local --gpg-verify-summary`: the source's summary must be there
/// and carry a valid GPG signature by a key `remote` trusts.
fn verify_local_summary(src: &Repo, dest: &Repo, remote: &str) -> Result<(), PullError> {
    let read = |name: &str| -> Result<Option<Vec<u8>>, PullError> {
        let p = src.path().join(name);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path: p, source }.into()),
        }
    };
    let Some(summary) = read("summary")? else {
        return Err(PullError::Invalid(
            "GPG verification enabled, but no summary found (use gpg-verify-summary=false in remote config to disable)"
                .into(),
        ));
    };
    let keyring = crate::verify::remote_keyring(dest, remote, true).map_err(PullError::Invalid)?;
    let checks = crate::verify::Checks { gpg: Some(keyring), ..Default::default() };
    crate::verify::verify_summary(&checks, &summary, read("summary.sig")?.as_deref()).map_err(PullError::Invalid)
}

/// Delta files of a repository on this machine.
struct LocalDeltaFiles<'a>(&'a Repo);

impl crate::delta::pull::DeltaFiles for LocalDeltaFiles<'_> {
    fn get(&self, rel: &str, max: u64, _content: bool) -> Result<Option<Vec<u8>>, PullError> {
        let p = self.0.path().join(rel);
        let f = match std::fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path: p, source }.into()),
        };
        let mut b = Vec::new();
        f.take(max + 1).read_to_end(&mut b).map_err(|source| Error::Io { path: p.clone(), source })?;
        if b.len() as u64 > max {
            return Err(PullError::Invalid(format!("{}: larger than {max} bytes", p.display())));
        }
        Ok(Some(b))
    }
}

/// Applies the static deltas that bring `targets` into `tx` from `src`.
fn pull_deltas(
    src: &Repo,
    tx: &Transaction<'_>,
    targets: &[(Option<String>, Checksum)],
    opts: &PullLocalOptions,
    checks: &crate::verify::Checks,
) -> Result<crate::delta::pull::DeltaPullStats, PullError> {
    use crate::delta::pull::{pull_delta, DeltaPolicy, DeltaPullStats, KnownDeltas};
    let summary_path = src.path().join("summary");
    let summary = match std::fs::read(&summary_path) {
        Ok(b) => Some(
            oxtree_store::summary::Summary::from_bytes(&b)
                .map_err(|e| PullError::Invalid(format!("{}: {e}", summary_path.display())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(Error::Io { path: summary_path, source }.into()),
    };
    let indexed = src.config().get_bool("core", "indexed-deltas") == Some(Ok(true));
    let mut known = KnownDeltas::new(summary.as_ref(), indexed);
    let policy =
        DeltaPolicy { checks, require: true, bareuseronly_files: opts.bareuseronly_files, dry_run: opts.dry_run };
    let mut stats = DeltaPullStats::default();
    for (name, c) in targets {
        let from_ref = match name {
            Some(n) => {
                let spec = match &opts.remote {
                    Some(r) => format!("{r}:{n}"),
                    None => n.clone(),
                };
                tx.repo().resolve_rev(&spec, true)?
            }
            None => None,
        };
        pull_delta(tx, &LocalDeltaFiles(src), &mut known, from_ref, c, policy, &mut stats)?;
    }
    Ok(stats)
}

/// Objects from a repository on this machine: linked when both repos
/// store them alike, else copied through the hasher.
struct LocalSource<'a> {
    src: &'a Repo,
    untrusted: bool,
    bareuseronly_files: bool,
    link: bool,
}

impl Source for LocalSource<'_> {
    fn metadata(&self, tx: &Transaction<'_>, ty: ObjectType, c: &Checksum) -> Result<Vec<u8>, PullError> {
        let have = tx.has_object(ty, c);
        // Staged objects are not readable through the repo yet: read those
        // (and everything we lack) from the source.
        let bytes = if tx.repo().has_object(ty, c) {
            tx.repo().read_metadata(ty, c)?
        } else {
            self.src.read_metadata(ty, c)?
        };
        if !have {
            if self.untrusted {
                verify_metadata(ty, c, &bytes)?;
            }
            // Metadata objects are stored alike in every mode: link them.
            if !tx.link_object(ty, c, &self.src.object_path(c, ty))? {
                tx.write_metadata(ty, &bytes)?;
            }
        }
        Ok(bytes)
    }

    fn commitmeta(&self, c: &Checksum) -> Result<Option<Vec<u8>>, PullError> {
        match self.src.read_metadata(ObjectType::CommitMeta, c) {
            Ok(b) => Ok(Some(b)),
            Err(Error::MissingObject { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn has_commit(&self, c: &Checksum) -> Result<bool, PullError> {
        Ok(self.src.has_object(ObjectType::Commit, c))
    }

    fn content(&self, tx: &Transaction<'_>, c: &Checksum) -> Result<u64, PullError> {
        if self.bareuseronly_files || tx.repo().mode() == RepoMode::BareUserOnly {
            check_storable(tx, self.bareuseronly_files, c, &self.src.open_file(c)?.header)?;
        }
        if self.link || self.user_to_user_only_link(tx, c)? {
            // Distrusting the source means checking the object before
            // taking it, even as a hard link.
            if self.untrusted {
                self.src.verify_file(c)?;
            }
            if tx.link_object(ObjectType::File, c, &self.src.object_path(c, ObjectType::File))? {
                return Ok(0);
            }
        }
        let obj = self.src.open_file(c)?;
        if self.untrusted {
            return Ok(store_content(tx, c, obj)?);
        }
        Ok(store_content_trusted(tx, c, obj)?)
    }

    fn concurrency(&self) -> usize {
        // Linking waits on the disk, copying also hashes: as for checkout.
        oxtree_store::io_threads()
    }
}

impl LocalSource<'_> {
    /// A bare-user regular file with canonical metadata is stored exactly
    /// as bare-user-only stores it (the same bytes and mode; the extra
    /// xattr is not read there), so it can be hardlinked across. Symlinks
    /// are files in bare-user and real symlinks in bare-user-only: never.
    fn user_to_user_only_link(&self, tx: &Transaction<'_>, c: &Checksum) -> Result<bool, Error> {
        if self.src.mode() != RepoMode::BareUser || tx.repo().mode() != RepoMode::BareUserOnly {
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
}

/// Refuses a regular file that bare-user-only cannot store, when the
/// destination is such a repo or `--bareuseronly-files` asks.
pub(crate) fn check_storable(
    tx: &Transaction<'_>,
    bareuseronly_files: bool,
    c: &Checksum,
    h: &FileHeader,
) -> Result<(), PullError> {
    if !bareuseronly_files && tx.repo().mode() != RepoMode::BareUserOnly {
        return Ok(());
    }
    let mode = h.mode;
    let extra = mode & !(S_IFMT | 0o775);
    if mode & S_IFMT == S_IFREG && extra != 0 {
        return Err(PullError::Invalid(format!("Content object {c}: invalid mode 0{mode:o} with bits 0{extra:o}")));
    }
    Ok(())
}

/// `header` as the destination stores it: bare-user-only drops the
/// xattrs of root-owned files.
pub(crate) fn storable_header(tx: &Transaction<'_>, mut header: FileHeader) -> FileHeader {
    if tx.repo().mode() == RepoMode::BareUserOnly && header.uid == 0 && header.gid == 0 {
        header.xattrs = Default::default();
    }
    header
}

/// Writes an opened content object into `tx` in the destination's mode and
/// checks that it is object `c` (the payload always passes through the
/// hasher: a mismatch means the source object is corrupt). Returns the
/// payload size.
pub(crate) fn store_content(tx: &Transaction<'_>, c: &Checksum, obj: FileObject) -> Result<u64, Error> {
    let header = storable_header(tx, obj.header);
    let written = match obj.content {
        FileContent::Symlink => tx.write_file_bytes(&header, b"")?,
        FileContent::Regular(mut r) => {
            let mut r: &mut dyn Read = &mut r;
            tx.write_file(&header, &mut r, obj.size)?
        }
    };
    if written != *c {
        return Err(Error::ChecksumMismatch { ty: ObjectType::File, expected: *c, actual: written });
    }
    Ok(obj.size)
}

/// Writes an opened content object into `tx` as object `c` without
/// hashing it (a trusted source). Returns the payload size.
pub(crate) fn store_content_trusted(tx: &Transaction<'_>, c: &Checksum, obj: FileObject) -> Result<u64, Error> {
    let size = obj.size;
    let header = storable_header(tx, obj.header);
    match obj.content {
        FileContent::Symlink => tx.write_file_trusted(c, &header, &mut std::io::empty(), 0)?,
        FileContent::Regular(mut r) => tx.write_file_trusted(c, &header, &mut r, size)?,
    }
    Ok(size)
}

/// Pulls `refs` (all of the source's refs when empty; a ref may also be a
/// commit checksum) from `src` into `dest`, then points the refs at them.
pub fn pull_local(src: &Repo, dest: &Repo, refs: &[String], opts: &PullLocalOptions) -> Result<PullStats, PullError> {
    let mut targets: Vec<(Option<String>, Checksum)> = Vec::new();
    if refs.is_empty() {
        // A copy of every ref cannot hold the source's remote refs
        // (OSTree refuses them the same way).
        if let Ok(rd) = std::fs::read_dir(src.path().join("refs/remotes")) {
            let mut remotes: Vec<String> =
                rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            remotes.sort();
            for r in remotes {
                if let Some(name) = src.list_refs(Some(&r))?.into_keys().next() {
                    return Err(PullError::Invalid(format!("Invalid ref name {r}:{name}")));
                }
            }
        }
        for (name, c) in src.list_refs(None)? {
            targets.push((Some(name), c));
        }
    } else {
        for r in refs {
            // `REF@COMMIT`: that commit, and the ref pointed at it.
            if let Some((name, c)) = r.split_once('@').filter(|(_, c)| Checksum::is_hex(c)) {
                let c = Checksum::from_hex(c).map_err(|e| PullError::Invalid(format!("{r}: {e}")))?;
                targets.push((Some(name.to_string()), c));
                continue;
            }
            let c = src.resolve_rev(r, false)?.ok_or_else(|| Error::RefNotFound(r.clone()))?;
            let name = if Checksum::is_hex(r) { None } else { Some(r.clone()) };
            targets.push((name, c));
        }
    }
    if (opts.verify_commits || opts.verify_summary) && opts.remote.is_none() {
        return Err(PullError::Invalid("Must specify remote name to enable gpg verification".into()));
    }
    if let (Some(r), true) = (&opts.remote, opts.verify_summary) {
        verify_local_summary(src, dest, r)?;
    }
    let checks = match (&opts.remote, opts.verify_commits) {
        (Some(r), true) => crate::remote::remote_checks(dest, r, false)?,
        _ => crate::verify::Checks::default(),
    };
    let source = LocalSource {
        src,
        untrusted: opts.untrusted,
        bareuseronly_files: opts.bareuseronly_files,
        link: src.mode() == dest.mode(),
    };
    // A pull that was killed left its objects staged: take them over.
    let mut tx = dest.resume_transaction()?;
    let mut deltas = Default::default();
    if opts.require_static_deltas && !opts.commit_metadata_only {
        match pull_deltas(src, &tx, &targets, opts, &checks) {
            Ok(d) => deltas = d,
            Err(e) => {
                // Keep what the finished parts wrote: a retry skips them.
                let _ = tx.commit();
                return Err(e);
            }
        }
        if opts.dry_run {
            return Ok(PullStats { deltas, ..Default::default() });
        }
    }
    let mut walk = Walk::new(source, &tx, opts.commit_metadata_only);
    walk.subpaths = opts.subpaths.clone();
    walk.checks = checks;
    let walked = targets.iter().try_for_each(|(_, c)| walk.commit(c, opts.depth));
    let stats = PullStats { deltas, ..walk.stats() };
    if let Err(e) = walked {
        drop(walk);
        // Keep what was fetched and verified (no ref moves; the commit
        // stays partial): the next pull starts from there.
        let _ = tx.commit();
        return Err(e);
    }
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
    // Only now, with the objects durable, do the commits stop being
    // partial (a subpath pull leaves the rest of the tree missing).
    if !opts.commit_metadata_only && opts.subpaths.is_empty() {
        for (_, c) in &targets {
            clear_partial_chain(dest, c, opts.depth)?;
        }
    }
    Ok(stats)
}
