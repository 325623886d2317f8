//! Transactions: objects are staged under `tmp/staging-…/`, made durable
//! with one `syncfs`, renamed into `objects/` without replacing existing
//! objects, and only then do refs move. A crash at any point leaves either
//! the old refs or new refs that reach only durable objects; staged files
//! that never got renamed are swept on a later transaction.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use flate2::{Compress, Compression, FlushCompress, Status};
use rustix::fs::OFlags;

use crate::checksum::Hasher;
use crate::object::{loose_path, Commit, CommitMetadata, FileHeader, ObjectType};
use crate::Checksum;

use super::fsutil::{fset_xattrs, io_err, lset_xattrs, unique};
use super::lock::{try_lock_staging, LockKind, RepoLock};
use super::refs::RefSpec;
use super::{Error, Repo, RepoMode};

/// Payloads up to this size are hashed in memory before anything is written,
/// so content already in the repo is never rewritten.
const IN_MEMORY_LIMIT: u64 = 128 * 1024;

/// What a transaction wrote (`ostree commit --table-output`).
#[derive(Debug, Default)]
pub struct TxStats {
    /// Metadata objects passed to the transaction.
    pub metadata_total: AtomicU64,
    /// Of those, newly written.
    pub metadata_written: AtomicU64,
    /// Content objects passed to the transaction.
    pub content_total: AtomicU64,
    /// Of those, newly written.
    pub content_written: AtomicU64,
    /// Payload bytes of the newly written content objects.
    pub content_bytes_written: AtomicU64,
    /// Content objects taken from the devino cache without reading.
    pub content_cache_hits: AtomicU64,
}

/// One object's sizes, for `ostree.sizes`: (checksum, type, stored size,
/// unpacked size).
pub type SizeRecord = (Checksum, ObjectType, u64, u64);

/// A write transaction on a repository.
#[derive(Debug)]
pub struct Transaction<'r> {
    /// Counters of what was written.
    pub stats: TxStats,
    sizes: Mutex<Option<Vec<SizeRecord>>>,
    /// Which `objects/XX` directories existed at the start (`None` when a
    /// parent repo may hold objects too).
    fanout: Option<[bool; 256]>,
    repo: &'r Repo,
    _lock: RepoLock,
    staging: PathBuf,
    /// The lock on `staging` (see [`try_lock_staging`]), released once the
    /// directory is gone.
    staging_lock: Option<File>,
    /// Objects found in a taken-over staging directory: they may have been
    /// cut short by the crash, so each is checked before it counts.
    leftovers: Mutex<HashSet<(Checksum, ObjectType)>>,
    staged: Mutex<HashSet<(Checksum, ObjectType)>>,
    staged_dirs: Mutex<BTreeSet<String>>,
    refs: Vec<(RefSpec, Option<Checksum>)>,
    /// The umask when the transaction began (objects are created with
    /// their final mode where it allows).
    umask: Option<u32>,
    finished: bool,
}

fn errno(path: &Path) -> impl FnOnce(rustix::io::Errno) -> Error + '_ {
    move |e| Error::Io { path: path.to_path_buf(), source: e.into() }
}

impl<'r> Transaction<'r> {
    /// Begins a transaction in a new staging directory. `resume`: take over
    /// the staging directory a transaction of this boot left when its
    /// process died (a pull killed half way), whose objects then count as
    /// staged once [`Transaction::has_object`] has checked them.
    pub(super) fn begin(repo: &'r Repo, resume: bool) -> Result<Self, Error> {
        let lock = repo.lock(LockKind::Shared)?;
        let tmp = repo.path().join("tmp");
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        let boot_id = boot_id();
        let mut adopted = sweep_staging(&tmp, &boot_id, resume);
        let (staging, staging_lock) = match adopted.take() {
            Some(a) => a,
            None => loop {
                let staging = tmp.join(format!("staging-{boot_id}-{:012x}", unique() & 0xffff_ffff_ffff));
                let lock_path = lock_path_of(&staging);
                let Some(l) = try_lock_staging(&lock_path).map_err(io_err(&lock_path))? else { continue };
                match std::fs::create_dir(&staging) {
                    Ok(()) => break (staging, l),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(io_err(&staging)(e)),
                }
            },
        };
        let leftovers = if resume { staged_objects(&staging, repo.mode()) } else { HashSet::new() };
        let fanout = if repo.config().get("core", "parent").is_some() {
            None
        } else {
            let mut seen = [false; 256];
            let objects = repo.path().join("objects");
            for e in std::fs::read_dir(&objects).map_err(io_err(&objects))?.flatten() {
                if let Some(b) =
                    e.file_name().to_str().filter(|n| n.len() == 2).and_then(|n| u8::from_str_radix(n, 16).ok())
                {
                    seen[b as usize] = true;
                }
            }
            Some(seen)
        };
        Ok(Transaction {
            fanout,
            stats: TxStats::default(),
            sizes: Mutex::new(None),
            repo,
            _lock: lock,
            staging,
            staging_lock: Some(staging_lock),
            leftovers: Mutex::new(leftovers),
            staged: Mutex::new(HashSet::new()),
            staged_dirs: Mutex::new(BTreeSet::new()),
            refs: Vec::new(),
            umask: crate::process_umask(),
            finished: false,
        })
    }

    /// Starts recording object sizes for `ostree.sizes`.
    pub fn record_sizes(&self) {
        if let Ok(mut s) = self.sizes.lock() {
            s.get_or_insert_with(Vec::new);
        }
    }

    /// The recorded sizes, sorted by checksum, one entry per object.
    pub fn take_sizes(&self) -> Vec<SizeRecord> {
        let mut v = self.sizes.lock().ok().and_then(|mut s| s.take()).unwrap_or_default();
        v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        v.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        v
    }

    fn record(&self, csum: &Checksum, ty: ObjectType, unpacked: u64) {
        let Ok(mut guard) = self.sizes.lock() else { return };
        let Some(list) = guard.as_mut() else { return };
        let stored = if ty == ObjectType::File {
            let staged = self.staged_path_if_staged(csum, ty);
            let p = staged.unwrap_or_else(|| self.repo.object_path(csum, ty));
            std::fs::symlink_metadata(p).map(|m| m.len()).unwrap_or(unpacked)
        } else {
            unpacked
        };
        list.push((*csum, ty, stored, unpacked));
    }

    fn staged_path_if_staged(&self, csum: &Checksum, ty: ObjectType) -> Option<PathBuf> {
        if !self.staged.lock().map(|s| s.contains(&(*csum, ty))).unwrap_or(false) {
            return None;
        }
        Some(self.staging_path(csum, ty))
    }

    /// The repository.
    pub fn repo(&self) -> &'r Repo {
        self.repo
    }

    /// True when the object is stored or staged.
    pub fn has_object(&self, ty: ObjectType, csum: &Checksum) -> bool {
        if self.staged.lock().map(|s| s.contains(&(*csum, ty))).unwrap_or(false) {
            return true;
        }
        if self.leftovers.lock().map(|mut s| s.remove(&(*csum, ty))).unwrap_or(false) {
            if self.check_leftover(ty, csum) {
                self.mark_staged(*csum, ty);
                return true;
            }
            let _ = std::fs::remove_file(self.staging_path(csum, ty));
        }
        // No objects/XX directory when the transaction began, and no parent
        // repo: the object cannot be there (a concurrent writer's copy
        // would only make ours a duplicate, which the no-replace rename
        // drops). Saves a failing stat per new object on first imports.
        if let Some(fanout) = &self.fanout {
            if !fanout[csum.as_bytes()[0] as usize] {
                return false;
            }
        }
        self.repo.has_object(ty, csum)
    }

    /// Whether the object a dead transaction left in the staging directory
    /// is whole. In the bare modes a regular file's last step is setting
    /// its mtime to 0 (after its data, mode, owner and xattrs; large ones
    /// get their final name only after that), so a file with mtime 0 is
    /// whole: the process was killed, not the machine (that changes the
    /// boot ID, and other boots' directories are never taken over).
    /// Anything else has its checksum recomputed.
    fn check_leftover(&self, ty: ObjectType, csum: &Checksum) -> bool {
        let p = self.staging_path(csum, ty);
        if ty == ObjectType::File && self.repo.mode() != RepoMode::Archive {
            let finished = rustix::fs::statat(rustix::fs::CWD, &p, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_file() && st.st_mtime == 0);
            if finished {
                return true;
            }
        }
        if ty == ObjectType::File {
            self.repo.open_file_at(&p, csum).and_then(|obj| super::read::verify_object(obj, csum, &p)).is_ok()
        } else {
            std::fs::read(&p).is_ok_and(|b| Checksum::digest(&b) == *csum)
        }
    }

    /// Where object `csum` would be staged (whether it is or not).
    fn staging_path(&self, csum: &Checksum, ty: ObjectType) -> PathBuf {
        let rel = loose_path(csum, ty, self.repo.mode() == RepoMode::Archive);
        self.staging.join(rel.strip_prefix("objects/").unwrap_or(&rel))
    }

    /// Content object `csum`, staged in this transaction or stored (so a
    /// writer can read back what it wrote before committing).
    pub fn open_file(&self, csum: &Checksum) -> Result<super::FileObject, Error> {
        if self.has_object(ObjectType::File, csum)
            && self.staged.lock().is_ok_and(|s| s.contains(&(*csum, ObjectType::File)))
        {
            return self.repo.open_file_at(&self.staging_path(csum, ObjectType::File), csum);
        }
        self.repo.open_file(csum)
    }

    /// The bytes of metadata object `csum` staged in this transaction (or
    /// left by a dead one and found whole), if it is there.
    pub fn read_staged_metadata(&self, ty: ObjectType, csum: &Checksum) -> Option<Vec<u8>> {
        if !self.has_object(ty, csum) || !self.staged.lock().is_ok_and(|s| s.contains(&(*csum, ty))) {
            return None;
        }
        std::fs::read(self.staging_path(csum, ty)).ok()
    }

    fn staged_path(&self, csum: &Checksum, ty: ObjectType) -> Result<PathBuf, Error> {
        let rel = loose_path(csum, ty, self.repo.mode() == RepoMode::Archive);
        let rel = rel.strip_prefix("objects/").unwrap_or(&rel).to_string();
        let (dir, _) = rel.split_at(2);
        // Create the fan-out directory under the lock, so that no other
        // thread writes into it before it exists.
        let mut dirs = self.staged_dirs.lock().map_err(|_| Error::Invalid("staging lock poisoned".into()))?;
        if !dirs.contains(dir) {
            let dpath = self.staging.join(dir);
            match std::fs::create_dir(&dpath) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(&dpath)(e)),
            }
            dirs.insert(dir.to_string());
        }
        drop(dirs);
        Ok(self.staging.join(rel))
    }

    fn mark_staged(&self, csum: Checksum, ty: ObjectType) {
        if let Ok(mut s) = self.staged.lock() {
            s.insert((csum, ty));
        }
    }

    /// Writes a metadata object given its bytes; returns its checksum.
    pub fn write_metadata(&self, ty: ObjectType, bytes: &[u8]) -> Result<Checksum, Error> {
        let csum = Checksum::digest(bytes);
        self.stats.metadata_total.fetch_add(1, Ordering::Relaxed);
        if !self.has_object(ty, &csum) {
            match self.write_named_metadata(ty, &csum, bytes) {
                Ok(()) => {
                    self.stats.metadata_written.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if already_exists(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if ty != ObjectType::Commit {
            self.record(&csum, ty, bytes.len() as u64);
        }
        Ok(csum)
    }

    fn write_named_metadata(&self, ty: ObjectType, csum: &Checksum, bytes: &[u8]) -> Result<(), Error> {
        let p = self.staged_path(csum, ty)?;
        // Written whole under a temporary name, then renamed: detached
        // metadata may be written twice in one transaction (a delta's
        // superblock carries it, then the pull fetches it), and the second
        // replaces the first.
        let tmp = self.staging.join(format!(".tmp-{:016x}", unique()));
        let res = (|| {
            let mut f = create_file(&tmp, 0o644)?;
            f.write_all(bytes).map_err(io_err(&tmp))?;
            rustix::fs::fchmod(&f, rustix::fs::Mode::from_raw_mode(0o644)).map_err(errno(&tmp))?;
            std::fs::rename(&tmp, &p).map_err(io_err(&p))
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res?;
        self.mark_staged(*csum, ty);
        Ok(())
    }

    /// Counts a content object reused through the devino cache.
    pub fn note_cache_hit(&self, csum: &Checksum) {
        self.stats.content_total.fetch_add(1, Ordering::Relaxed);
        self.stats.content_cache_hits.fetch_add(1, Ordering::Relaxed);
        let size = std::fs::metadata(self.repo.object_path(csum, ObjectType::File)).map(|m| m.len()).unwrap_or(0);
        self.record(csum, ObjectType::File, size);
    }

    /// Imports an object from another repository that stores it the same
    /// way, as a hard link to `src` (no copy, no re-hash: the caller trusts
    /// the source). Returns false when the file system refuses the link
    /// (another device, too many links); the caller then copies.
    pub fn link_object(&self, ty: ObjectType, csum: &Checksum, src: &Path) -> Result<bool, Error> {
        if self.has_object(ty, csum) {
            return Ok(true);
        }
        let p = self.staged_path(csum, ty)?;
        match rustix::fs::linkat(rustix::fs::CWD, src, rustix::fs::CWD, &p, rustix::fs::AtFlags::empty()) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => return Ok(true),
            Err(rustix::io::Errno::XDEV) | Err(rustix::io::Errno::MLINK) | Err(rustix::io::Errno::PERM) => {
                return Ok(false)
            }
            Err(rustix::io::Errno::NOENT) => return Err(Error::MissingObject { checksum: *csum, ty }),
            Err(e) => return Err(errno(&p)(e)),
        }
        self.mark_staged(*csum, ty);
        if ty.is_meta() {
            self.stats.metadata_total.fetch_add(1, Ordering::Relaxed);
            self.stats.metadata_written.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.content_total.fetch_add(1, Ordering::Relaxed);
            self.stats.content_written.fetch_add(1, Ordering::Relaxed);
        }
        Ok(true)
    }

    /// Writes a commit object; returns its checksum.
    pub fn write_commit(&self, commit: &Commit) -> Result<Checksum, Error> {
        self.write_metadata(ObjectType::Commit, &commit.to_bytes())
    }

    /// Writes (or replaces) a commit's detached metadata.
    pub fn write_commitmeta(&self, commit: &Checksum, meta: &CommitMetadata) -> Result<(), Error> {
        self.write_named_metadata(ObjectType::CommitMeta, commit, &meta.to_bytes())
    }

    /// Writes a content object whose payload is in memory.
    pub fn write_file_bytes(&self, header: &FileHeader, payload: &[u8]) -> Result<Checksum, Error> {
        let csum = header.checksum(payload);
        self.stats.content_total.fetch_add(1, Ordering::Relaxed);
        if !self.has_object(ObjectType::File, &csum) {
            let p = self.staged_path(&csum, ObjectType::File)?;
            match self.store_content(&p, header, Payload::Bytes(payload), payload.len() as u64, None) {
                Ok(()) => {}
                // Another thread is staging the same content (hard links or
                // duplicate files in the tree): its copy will do.
                Err(e) if already_exists(&e) => return Ok(csum),
                Err(e) => return Err(e),
            }
            self.mark_staged(csum, ObjectType::File);
            self.stats.content_written.fetch_add(1, Ordering::Relaxed);
            self.stats.content_bytes_written.fetch_add(payload.len() as u64, Ordering::Relaxed);
        }
        let unpacked = if header.is_symlink() { header.symlink_target.len() as u64 } else { payload.len() as u64 };
        self.record(&csum, ObjectType::File, unpacked);
        Ok(csum)
    }

    /// Writes a content object read from `reader`, which must yield exactly
    /// `size` bytes (a regular file) or nothing (a symlink).
    pub fn write_file(&self, header: &FileHeader, reader: &mut dyn Read, size: u64) -> Result<Checksum, Error> {
        if header.is_symlink() {
            return self.write_file_bytes(header, b"");
        }
        if size <= IN_MEMORY_LIMIT {
            // Read into a buffer kept per thread: allocating one per file
            // scatters small blocks over every worker's malloc arena.
            return SMALL_FILE.with(|cell| {
                let mut buf = cell.borrow_mut();
                buf.clear();
                reader.take(size + 1).read_to_end(&mut buf).map_err(io_err(&self.staging))?;
                if buf.len() as u64 > size {
                    return Err(Error::Invalid(format!("content is larger than the {size} bytes declared")));
                }
                if (buf.len() as u64) < size {
                    return Err(Error::Invalid(format!(
                        "content is {} bytes where {size} were declared (truncated, or changed while being read)",
                        buf.len()
                    )));
                }
                self.write_file_bytes(header, &buf)
            });
        }
        // Large: stream into a temporary, hashing as we go.
        let tmp = self.staging.join(format!(".tmp-{:016x}", unique()));
        let mut hasher = header.hasher();
        let res = self.store_content(&tmp, header, Payload::Stream(reader), size, Some(&mut hasher));
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let csum = hasher.finish();
        self.stats.content_total.fetch_add(1, Ordering::Relaxed);
        if self.has_object(ObjectType::File, &csum) {
            let _ = std::fs::remove_file(&tmp);
        } else {
            let p = self.staged_path(&csum, ObjectType::File)?;
            std::fs::rename(&tmp, &p).map_err(io_err(&p))?;
            self.mark_staged(csum, ObjectType::File);
            self.stats.content_written.fetch_add(1, Ordering::Relaxed);
            self.stats.content_bytes_written.fetch_add(size, Ordering::Relaxed);
        }
        self.record(&csum, ObjectType::File, size);
        Ok(csum)
    }

    /// Writes a content object under the name `csum` without hashing it:
    /// a trusted import from a local repository (OSTree's `pull-local`
    /// without `--untrusted` copies objects the same way, and so carries a
    /// corrupt object over as it is, for fsck to find).
    pub fn write_file_trusted(
        &self,
        csum: &Checksum,
        header: &FileHeader,
        reader: &mut dyn Read,
        size: u64,
    ) -> Result<(), Error> {
        self.stats.content_total.fetch_add(1, Ordering::Relaxed);
        if self.has_object(ObjectType::File, csum) {
            return Ok(());
        }
        let tmp = self.staging.join(format!(".tmp-{:016x}", unique()));
        let payload = if header.is_symlink() { Payload::Bytes(b"") } else { Payload::Stream(reader) };
        if let Err(e) = self.store_content(&tmp, header, payload, size, None) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let p = self.staged_path(csum, ObjectType::File)?;
        std::fs::rename(&tmp, &p).map_err(io_err(&p))?;
        self.mark_staged(*csum, ObjectType::File);
        self.stats.content_written.fetch_add(1, Ordering::Relaxed);
        self.stats.content_bytes_written.fetch_add(size, Ordering::Relaxed);
        self.record(csum, ObjectType::File, size);
        Ok(())
    }

    /// Takes a regular file into the repo by renaming it into place instead
    /// of copying it (`commit --consume` in bare and bare-user-only repos,
    /// where the object is the file itself). The file must be on the repo's
    /// file system and its bytes are hashed first; when it cannot be adopted
    /// it is copied as usual. The source path is gone or consumed afterwards.
    pub fn adopt_file(&self, header: &FileHeader, src: &Path, size: u64) -> Result<Checksum, Error> {
        let mode = self.repo.mode();
        let mut f = File::open(src).map_err(io_err(src))?;
        if !matches!(mode, RepoMode::Bare | RepoMode::BareUserOnly) || !header.is_regular() {
            return self.write_file(header, &mut f, size);
        }
        let mut h = header.hasher();
        let mut buf = vec![0u8; 128 * 1024];
        let mut total = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(io_err(src))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            total += n as u64;
        }
        if total != size {
            return Err(Error::Invalid(format!("{}: file changed size while being read", src.display())));
        }
        let csum = h.finish();
        self.stats.content_total.fetch_add(1, Ordering::Relaxed);
        if self.has_object(ObjectType::File, &csum) {
            return Ok(csum);
        }
        let p = self.staged_path(&csum, ObjectType::File)?;
        if std::fs::rename(src, &p).is_err() {
            // Another file system: copy.
            let mut f = File::open(src).map_err(io_err(src))?;
            self.stats.content_total.fetch_sub(1, Ordering::Relaxed);
            return self.write_file(header, &mut f, size);
        }
        let f = File::open(&p).map_err(io_err(&p))?;
        if mode == RepoMode::Bare {
            rustix::fs::fchown(
                &f,
                Some(rustix::fs::Uid::from_raw(header.uid)),
                Some(rustix::fs::Gid::from_raw(header.gid)),
            )
            .map_err(errno(&p))?;
        }
        set_mode(&f, &p, header.mode & 0o7777)?;
        if mode == RepoMode::Bare && !self.repo.xattrs_disabled() {
            // The object's xattrs must be exactly the header's.
            let have = super::read_xattrs(&p)?;
            for (n, _) in have.iter() {
                if header.xattrs.get(n).is_none() {
                    rustix::fs::fremovexattr(&f, n).map_err(errno(&p))?;
                }
            }
            fset_xattrs(&f, &header.xattrs).map_err(io_err(&p))?;
        }
        zero_mtime(&f, &p)?;
        self.mark_staged(csum, ObjectType::File);
        self.stats.content_written.fetch_add(1, Ordering::Relaxed);
        self.stats.content_bytes_written.fetch_add(size, Ordering::Relaxed);
        self.record(&csum, ObjectType::File, size);
        Ok(csum)
    }

    /// Stores a content object at `path` in the repo's mode. When `hasher`
    /// is given, the payload is fed to it as it streams past.
    fn store_content(
        &self,
        path: &Path,
        header: &FileHeader,
        payload: Payload<'_>,
        size: u64,
        hasher: Option<&mut Hasher>,
    ) -> Result<(), Error> {
        let mode = self.repo.mode();
        if header.is_symlink() && mode != RepoMode::Archive && mode != RepoMode::BareUser {
            rustix::fs::symlinkat(header.symlink_target.as_str(), rustix::fs::CWD, path).map_err(errno(path))?;
            if mode == RepoMode::Bare {
                rustix::fs::chownat(
                    rustix::fs::CWD,
                    path,
                    Some(rustix::fs::Uid::from_raw(header.uid)),
                    Some(rustix::fs::Gid::from_raw(header.gid)),
                    rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(errno(path))?;
                if !self.repo.xattrs_disabled() {
                    lset_xattrs(path, &header.xattrs).map_err(io_err(path))?;
                }
            }
            return Ok(());
        }
        // The object's final permission bits, given at creation: when the
        // umask leaves them alone no fchmod is needed (one syscall per object).
        let final_mode = match mode {
            RepoMode::Archive => 0o644,
            RepoMode::BareUser if header.is_symlink() => 0o644,
            RepoMode::BareUser => (header.mode & 0o775) | 0o400,
            RepoMode::Bare | RepoMode::BareUserOnly => header.mode & 0o777,
        };
        let mut f = create_file(path, final_mode)?;
        let set_final_mode = |f: &File, want: u32| -> Result<(), Error> {
            if want == final_mode && crate::created_with_mode(want, self.umask) {
                return Ok(());
            }
            set_mode(f, path, want)
        };
        let copy = |out: &mut dyn FnMut(&[u8]) -> Result<(), Error>| payload.copy(size, path, hasher, out);
        match mode {
            RepoMode::Archive => {
                let hsize = if header.is_symlink() { 0 } else { size };
                let level = self.repo.zlib_level();
                let mut prefix = Some(header.archive_prefix(hsize));
                if header.is_symlink() {
                    f.write_all(&prefix.take().unwrap_or_default()).map_err(io_err(path))?;
                } else {
                    with_deflate(level, |z, out| {
                        out.clear();
                        out.extend_from_slice(&prefix.take().unwrap_or_default());
                        let mut adapt = (size > ADAPTIVE_FROM && level > 0).then(Adaptive::new);
                        copy(&mut |chunk| {
                            match adapt.as_mut() {
                                Some(a) => a.deflate(z, chunk, out).map_err(io_err(path))?,
                                None => deflate(z, chunk, false, out).map_err(io_err(path))?,
                            }
                            if out.len() >= FLUSH_AT {
                                f.write_all(out).map_err(io_err(path))?;
                                out.clear();
                            }
                            Ok(())
                        })?;
                        deflate(z, &[], true, out).map_err(io_err(path))?;
                        f.write_all(out).map_err(io_err(path))
                    })?;
                }
                set_final_mode(&f, 0o644)?;
            }
            RepoMode::BareUser => {
                if header.is_symlink() {
                    let mut t = header.symlink_target.as_bytes().to_vec();
                    t.push(0);
                    f.write_all(&t).map_err(io_err(path))?;
                    set_final_mode(&f, 0o644)?;
                } else {
                    copy(&mut |chunk| f.write_all(chunk).map_err(io_err(path)))?;
                    set_final_mode(&f, (header.mode & 0o775) | 0o400)?;
                }
                rustix::fs::fsetxattr(&f, "user.ostreemeta", &header.ostreemeta(), rustix::fs::XattrFlags::empty())
                    .map_err(errno(path))?;
                zero_mtime(&f, path)?;
            }
            RepoMode::Bare => {
                copy(&mut |chunk| f.write_all(chunk).map_err(io_err(path)))?;
                rustix::fs::fchown(
                    &f,
                    Some(rustix::fs::Uid::from_raw(header.uid)),
                    Some(rustix::fs::Gid::from_raw(header.gid)),
                )
                .map_err(errno(path))?;
                set_mode(&f, path, header.mode & 0o7777)?;
                if !self.repo.xattrs_disabled() {
                    fset_xattrs(&f, &header.xattrs).map_err(io_err(path))?;
                }
                zero_mtime(&f, path)?;
            }
            RepoMode::BareUserOnly => {
                let extra = header.mode & !(crate::object::S_IFMT | 0o775);
                if extra != 0 {
                    return Err(Error::Invalid(format!(
                        "Content object: invalid mode 0{:o} with bits 0{extra:o} (not allowed in a bare-user-only repository)",
                        header.mode
                    )));
                }
                copy(&mut |chunk| f.write_all(chunk).map_err(io_err(path)))?;
                set_final_mode(&f, header.mode & 0o7777)?;
                zero_mtime(&f, path)?;
            }
        }
        if size >= super::writeback::WRITEBACK_FROM && self.repo.fsync_enabled() {
            super::writeback::start(&f);
        }
        Ok(())
    }

    /// Sets (or, with `None`, deletes) a ref when the transaction commits.
    pub fn set_ref(&mut self, refspec: &str, target: Option<Checksum>) -> Result<(), Error> {
        let spec = RefSpec::parse(refspec)?;
        self.refs.push((spec, target));
        Ok(())
    }

    /// Renames staged objects into `objects/` (never replacing an existing
    /// object, except detached metadata), then makes the renames durable.
    ///
    /// Renames go fanout directory by fanout directory, relative to
    /// descriptors of the two directories: a commit of a root file system
    /// publishes tens of thousands of objects, and resolving two long paths
    /// per rename was most of this step. (Not in parallel: the kernel
    /// serialises renames across directories per file system, and threads
    /// contending for that lock made it slower.)
    fn publish(&self, objs: &[(Checksum, ObjectType)], fsync: bool) -> Result<(), Error> {
        let objects = self.repo.path().join("objects");
        let archive = self.repo.mode() == RepoMode::Archive;
        let mut groups: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
        for (csum, ty) in objs {
            let rel = loose_path(csum, *ty, archive);
            let rel = rel.strip_prefix("objects/").unwrap_or(&rel);
            let (dir, name) = rel.split_once('/').unwrap_or(("", rel));
            groups.entry(dir.to_string()).or_default().push((name.to_string(), *ty == ObjectType::CommitMeta));
        }
        let open_dir = |p: &Path| {
            rustix::fs::open(p, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, rustix::fs::Mode::empty())
                .map_err(errno(p))
        };
        groups.iter().try_for_each(|(dir, names)| -> Result<(), Error> {
            let to_path = objects.join(dir);
            match std::fs::create_dir(&to_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(&to_path)(e)),
            }
            let from = open_dir(&self.staging.join(dir))?;
            let to = open_dir(&to_path)?;
            for (name, replace) in names {
                crate::fault::point("rename", &to_path.join(name)).map_err(Error::Invalid)?;
                let flags =
                    if *replace { rustix::fs::RenameFlags::empty() } else { rustix::fs::RenameFlags::NOREPLACE };
                match rustix::fs::renameat_with(&from, name.as_str(), &to, name.as_str(), flags) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(errno(&to_path.join(name))(e)),
                }
            }
            Ok(())
        })?;
        if fsync && !groups.is_empty() {
            // One syncfs instead of an fsync per fanout directory: it makes
            // the same directory entries durable with one cache flush.
            crate::fault::point("syncfs", self.repo.path()).map_err(Error::Invalid)?;
            syncfs(self.repo.path())?;
        }
        Ok(())
    }

    /// Makes every staged object durable, moves them into `objects/`, then
    /// updates the refs.
    pub fn commit(mut self) -> Result<(), Error> {
        let repo = self.repo;
        if std::env::var("OSTREE_REPO_TEST_ERROR").map(|v| v.split(',').any(|f| f == "pre-commit")).unwrap_or(false) {
            // Test hook (as in ostree): fail after staging, keeping the
            // staged objects. The lock file goes, unlinked while held (as
            // libglnx releases it): only the directory is left for a later
            // transaction to take over or sweep.
            self.finished = true;
            let _ = std::fs::remove_file(lock_path_of(&self.staging));
            self.staging_lock = None;
            return Err(Error::Invalid("OSTREE_REPO_TEST_ERROR_PRE_COMMIT specified".into()));
        }
        let fsync = repo.fsync_enabled();
        let staged: Vec<(Checksum, ObjectType)> =
            self.staged.lock().map(|s| s.iter().copied().collect()).unwrap_or_default();
        // (A transaction of refs only, as a deploy's, has nothing to flush.)
        if fsync && !staged.is_empty() {
            crate::fault::point("syncfs", repo.path()).map_err(Error::Invalid)?;
            syncfs(repo.path())?;
        }
        // Two phases, each made durable before the next: first everything a
        // commit can reach, then the commits (and their detached metadata).
        // So a commit object never appears in objects/ before its tree, even
        // across a crash: fsck of every commit in the repo stays clean.
        let is_commit = |ty: &ObjectType| matches!(ty, ObjectType::Commit | ObjectType::CommitMeta);
        let (commits, rest): (Vec<_>, Vec<_>) = staged.into_iter().partition(|(_, ty)| is_commit(ty));
        self.publish(&rest, fsync)?;
        self.publish(&commits, fsync)?;
        for (csum, ty) in &commits {
            if *ty == ObjectType::Commit {
                let _ = std::fs::remove_file(repo.object_path(csum, ObjectType::TombstoneCommit));
            }
        }
        self.remove_staging();
        self.finished = true;
        let refs = std::mem::take(&mut self.refs);
        for (spec, target) in &refs {
            crate::fault::point("ref", &repo.path().join(spec.to_string())).map_err(Error::Invalid)?;
            repo.write_ref_file(spec, target.as_ref())?;
        }
        if !refs.is_empty() {
            repo.refs_changed()?;
        }
        Ok(())
    }
}

impl Transaction<'_> {
    /// Removes the staging directory, then its lock file, then lets go of
    /// the lock.
    fn remove_staging(&mut self) {
        let _ = std::fs::remove_dir_all(&self.staging);
        let _ = std::fs::remove_file(lock_path_of(&self.staging));
        self.staging_lock = None;
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.remove_staging();
        }
    }
}

/// The lock file of staging directory `staging`.
fn lock_path_of(staging: &Path) -> PathBuf {
    let mut name = staging.as_os_str().to_os_string();
    name.push("-lock");
    PathBuf::from(name)
}

/// The objects in a staging directory, by the names they are stored under;
/// anything else there (temporaries of writes cut short) is removed.
fn staged_objects(staging: &Path, mode: RepoMode) -> HashSet<(Checksum, ObjectType)> {
    let mut found = HashSet::new();
    let Ok(fanout) = std::fs::read_dir(staging) else { return found };
    for dir in fanout.filter_map(|e| e.ok()) {
        let dname = dir.file_name();
        let Some(prefix) = dname.to_str().filter(|n| n.len() == 2).map(str::to_string) else {
            let _ = std::fs::remove_file(dir.path());
            continue;
        };
        let Ok(entries) = std::fs::read_dir(dir.path()) else { continue };
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name();
            let parsed = name.to_str().and_then(|n| {
                let (rest, ext) = n.split_once('.')?;
                let ty = ObjectType::from_extension(ext, mode == RepoMode::Archive)?;
                Some((Checksum::from_hex(&format!("{prefix}{rest}")).ok()?, ty))
            });
            match parsed {
                Some(obj) => {
                    found.insert(obj);
                }
                None => {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    found
}

/// `syncfs(2)` of the file system holding `path`.
fn syncfs(path: &Path) -> Result<(), Error> {
    let d = File::open(path).map_err(io_err(path))?;
    rustix::fs::syncfs(&d).map_err(errno(path))?;
    crate::fault::synced_all(path);
    Ok(())
}

/// True for the error of creating a staged object that another thread
/// created first.
fn already_exists(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists)
}

fn create_file(path: &Path, mode: u32) -> Result<File, Error> {
    OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(io_err(path))
}

fn set_mode(f: &File, path: &Path, mode: u32) -> Result<(), Error> {
    rustix::fs::fchmod(f, rustix::fs::Mode::from_raw_mode(mode)).map_err(errno(path))
}

fn zero_mtime(f: &File, path: &Path) -> Result<(), Error> {
    let ts = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_OMIT },
        last_modification: rustix::fs::Timespec { tv_sec: 0, tv_nsec: 0 },
    };
    rustix::fs::futimens(f, &ts).map_err(errno(path))
}

/// The boot ID that names staging directories (`$OSTREE_BOOTID`, else the
/// kernel's).
fn boot_id() -> String {
    if let Ok(b) = std::env::var("OSTREE_BOOTID") {
        if !b.is_empty() {
            return b;
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "noboot".to_string())
}

/// Cleans `tmp/` of staging directories no transaction will finish:
/// those of earlier boots (every process that could have been writing
/// them is gone, and their objects were never renamed into `objects/`)
/// and those of this boot whose lock nobody holds (their process died).
/// With `resume`, the first dead one of this boot is kept and returned,
/// locked, instead (OSTree reuses them the same way). Directories older
/// than a day (`core.tmp-expiry-secs`' default) go even if of this boot.
fn sweep_staging(tmp: &Path, boot_id: &str, resume: bool) -> Option<(PathBuf, File)> {
    let Ok(rd) = std::fs::read_dir(tmp) else { return None };
    let now = std::time::SystemTime::now();
    let mut kept = None;
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix("staging-") else { continue };
        if rest.ends_with("-lock") {
            continue;
        }
        let p = e.path();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age.as_secs() > 86400);
        let lock_path = lock_path_of(&p);
        let this_boot = rest.starts_with(boot_id);
        // Of this boot and locked: a live transaction's, left alone.
        let lock = match try_lock_staging(&lock_path) {
            Ok(Some(l)) => Some(l),
            Ok(None) if this_boot && !old => continue,
            _ => None,
        };
        if resume && this_boot && !old && kept.is_none() && p.is_dir() {
            if let Some(l) = lock {
                kept = Some((p, l));
                continue;
            }
        }
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
        let _ = std::fs::remove_file(&lock_path);
    }
    kept
}

/// Archive output is written in pieces of about this size.
const FLUSH_AT: usize = 64 * 1024;
/// Streamed payloads are read in pieces of this size.
const READ_CHUNK: usize = 128 * 1024;

/// A content object's payload: in memory, or read as it is stored.
enum Payload<'a> {
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read),
}

impl Payload<'_> {
    /// Hands `size` bytes to `out` in chunks (and to `hasher`); a stream that
    /// ends early is an error. Streams go through one buffer per thread.
    fn copy(
        self,
        size: u64,
        path: &Path,
        mut hasher: Option<&mut Hasher>,
        out: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self {
            Payload::Bytes(b) => {
                if let Some(h) = hasher.as_mut() {
                    h.update(b);
                }
                out(b)
            }
            Payload::Stream(reader) => READ_BUF.with(|cell| {
                let mut buf = cell.borrow_mut();
                buf.resize(READ_CHUNK, 0);
                let mut left = size;
                while left > 0 {
                    let want = buf.len().min(left as usize);
                    let n = match reader.read(&mut buf[..want]) {
                        Ok(0) => {
                            return Err(Error::Invalid(format!(
                                "content ends {left} bytes short of the {size} declared \
                                 (truncated, or changed while being read)"
                            )))
                        }
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(io_err(path)(e)),
                    };
                    if let Some(h) = hasher.as_mut() {
                        h.update(&buf[..n]);
                    }
                    out(&buf[..n])?;
                    left -= n as u64;
                }
                Ok(())
            }),
        }
    }
}

thread_local! {
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Whole small files, read before hashing (see [`IN_MEMORY_LIMIT`]).
    static SMALL_FILE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// One raw-deflate stream per thread and level, reset between objects:
    /// setting one up costs more than compressing a small file.
    static DEFLATE: std::cell::RefCell<Option<(u32, Compress, Vec<u8>)>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with this thread's deflate stream (raw deflate, window 2^15,
/// memLevel 8, as GLib's raw zlib compressor) and output buffer.
fn with_deflate<T>(level: u32, f: impl FnOnce(&mut Compress, &mut Vec<u8>) -> Result<T, Error>) -> Result<T, Error> {
    DEFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().map(|(l, _, _)| *l) != Some(level) {
            *slot = Some((level, Compress::new(Compression::new(level), false), Vec::with_capacity(FLUSH_AT * 2)));
        }
        let Some((_, z, out)) = slot.as_mut() else {
            return Err(Error::Invalid("deflate state missing".into()));
        };
        z.reset();
        let r = f(z, out);
        if out.capacity() > FLUSH_AT * 4 {
            *out = Vec::with_capacity(FLUSH_AT * 2);
        }
        r
    })
}

/// Files above this size are compressed adaptively (see [`Adaptive`]).
const ADAPTIVE_FROM: u64 = 2 * READ_CHUNK as u64;
/// The input that one probe judges.
const SEGMENT: u64 = 1 << 20;

/// Deflate that stores what does not compress. At the start of every MiB
/// of input the first 64 KiB or more are compressed at the repo's level
/// and measured (after a sync flush, so the count is exact); if the output
/// is at least 97 % of the input, the rest of that MiB is written as
/// stored blocks, and the compressor starts afresh (an empty window, so no
/// back-reference can reach over the stored bytes it never saw) for the
/// next probe. Kernel images, initramfs and `.gz` files cost deflate's full
/// search for nothing otherwise. The object stays one raw deflate stream
/// that any inflater reads, about the same size (a stored block costs 5
/// bytes per 64 KiB). (Not `deflateParams`: through flate2 it cannot
/// change level mid-stream on zlib-rs.)
struct Adaptive {
    /// Input bytes seen.
    consumed: u64,
    /// `consumed` where the current segment started.
    segment_start: u64,
    /// `(total_in, total_out)` where the probe started, while probing.
    probe: Option<(u64, u64)>,
    /// The rest of this segment is written as stored blocks.
    stored: bool,
}

impl Adaptive {
    fn new() -> Self {
        Adaptive { consumed: 0, segment_start: 0, probe: Some((0, 0)), stored: false }
    }

    fn deflate(&mut self, z: &mut Compress, chunk: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        if self.consumed >= self.segment_start + SEGMENT {
            if self.stored {
                z.reset();
                self.stored = false;
            } else {
                sync_flush(z, out)?;
            }
            self.segment_start = self.consumed;
            self.probe = Some((z.total_in(), z.total_out()));
        }
        self.consumed += chunk.len() as u64;
        if self.stored {
            for block in chunk.chunks(0xffff) {
                let len = block.len() as u16;
                out.push(0); // BFINAL 0, BTYPE 00 (stored), aligned
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(&(!len).to_le_bytes());
                out.extend_from_slice(block);
            }
            return Ok(());
        }
        deflate(z, chunk, false, out)?;
        if let Some((i0, o0)) = self.probe {
            if z.total_in() - i0 >= 64 * 1024 {
                self.probe = None;
                sync_flush(z, out)?;
                let (din, dout) = (z.total_in() - i0, z.total_out() - o0);
                self.stored = dout * 100 >= din * 97;
            }
        }
        Ok(())
    }
}

/// Emits everything `z` holds, byte-aligned (`Z_SYNC_FLUSH`).
fn sync_flush(z: &mut Compress, out: &mut Vec<u8>) -> std::io::Result<()> {
    loop {
        if out.capacity() - out.len() < 32 * 1024 {
            out.reserve(64 * 1024);
        }
        z.compress_vec(&[], out, FlushCompress::Sync).map_err(std::io::Error::other)?;
        // Output space left over means the flush is complete.
        if out.len() < out.capacity() {
            return Ok(());
        }
    }
}

/// Compresses `input` onto the end of `out`; with `finish`, ends the stream.
fn deflate(z: &mut Compress, mut input: &[u8], finish: bool, out: &mut Vec<u8>) -> std::io::Result<()> {
    let flush = if finish { FlushCompress::Finish } else { FlushCompress::None };
    loop {
        if out.capacity() - out.len() < 32 * 1024 {
            out.reserve(64 * 1024);
        }
        let before = z.total_in();
        let status = z.compress_vec(input, out, flush).map_err(std::io::Error::other)?;
        input = &input[(z.total_in() - before) as usize..];
        match status {
            Status::StreamEnd => return Ok(()),
            _ if !finish && input.is_empty() => return Ok(()),
            _ => {}
        }
    }
}
