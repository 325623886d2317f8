//! `uncompressed-objects-cache`: for `archive` repositories checked out in
//! user mode, each regular file is decompressed once into
//! `uncompressed-objects-cache/XX/REST.file` (mode without setuid/setgid)
//! and hardlinked from there, so later checkouts of the same content cost a
//! link. [`checkout_gc`](crate::checkout_gc) removes cache files no
//! checkout links to any more.
//!
//! Later checkouts trust the cache, so an entry must never name a file
//! whose data a crash could lose. OSTree fsyncs every file before linking
//! it into the cache; here a checkout decompresses into a staging directory
//! of its own below `tmp/` (and links the checkout from there), and at the
//! end makes all of them durable with one `syncfs` before renaming them
//! into the cache. A crash before that leaves only staging files in
//! `tmp/`, never a cache entry with lost data.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use oxtree_store::{Checksum, Repo};
use rustix::fs::{AtFlags, Mode};
use rustix::io::Errno;

use crate::context::Ctx;
use crate::fsops::{mkdir_exist_ok, open_dir, NewFile};
use crate::source::{LoosePath, Obj};
use crate::CheckoutError;

/// The cache directory's name in the repository.
pub(crate) const CACHE_DIR: &str = "uncompressed-objects-cache";

/// The open cache of one repository.
pub(crate) struct Cache {
    /// The repository directory.
    repo_dir: OwnedFd,
    /// `uncompressed-objects-cache/`, once it exists.
    dir: std::sync::Mutex<Option<std::sync::Arc<OwnedFd>>>,
    /// This checkout's staging directory below `tmp/`, once it exists.
    staging: std::sync::Mutex<Option<std::sync::Arc<OwnedFd>>>,
    /// Its name in `tmp/`.
    staging_name: String,
    /// Which `XX` directories the staging directory has, one bit each.
    prefixes: [AtomicU64; 4],
}

fn io(repo: &Repo, what: &str, op: &'static str) -> impl FnOnce(Errno) -> CheckoutError {
    let p = repo.path().join(what);
    move |e| CheckoutError::io(p, op, e)
}

impl Cache {
    /// Opens the cache of `repo` (it need not exist yet).
    pub fn open(repo: &Repo) -> Result<Self, CheckoutError> {
        let repo_dir = open_dir(rustix::fs::CWD, repo.path(), true)
            .map_err(|e| CheckoutError::io(repo.path().to_path_buf(), "opendir", e))?;
        let dir = match open_dir(repo_dir.as_fd(), CACHE_DIR, false) {
            Ok(fd) => Some(std::sync::Arc::new(fd)),
            Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => None,
            Err(e) => return Err(CheckoutError::io(repo.path().join(CACHE_DIR), "opendir", e)),
        };
        Ok(Cache {
            repo_dir,
            dir: std::sync::Mutex::new(dir),
            staging: std::sync::Mutex::new(None),
            staging_name: crate::fsops::tmp_name("cache-staging"),
            prefixes: Default::default(),
        })
    }

    /// The cache directory if it exists.
    pub fn dir(&self) -> Option<std::sync::Arc<OwnedFd>> {
        self.dir.lock().ok().and_then(|d| d.clone())
    }

    /// This checkout's staging directory if it exists: files decompressed
    /// by this checkout are linked from there until [`Cache::finish`].
    pub fn staged_dir(&self) -> Option<std::sync::Arc<OwnedFd>> {
        self.staging.lock().ok().and_then(|d| d.clone())
    }

    /// The directory `rel` (below the repo) that `slot` caches, created
    /// with `mode` and opened on first use.
    fn ensure(
        &self,
        repo: &Repo,
        slot: &std::sync::Mutex<Option<std::sync::Arc<OwnedFd>>>,
        rel: &str,
        mode: u32,
    ) -> Result<std::sync::Arc<OwnedFd>, CheckoutError> {
        let mut guard = slot.lock().map_err(|_| CheckoutError::InvalidOptions("cache lock poisoned".into()))?;
        if let Some(d) = guard.as_ref() {
            return Ok(d.clone());
        }
        mkdir_exist_ok(self.repo_dir.as_fd(), rel, mode).map_err(io(repo, rel, "mkdirat"))?;
        let d = std::sync::Arc::new(
            open_dir(self.repo_dir.as_fd(), rel, false)
                .map_err(|e| CheckoutError::io(repo.path().join(rel), "opendir", e))?,
        );
        *guard = Some(d.clone());
        Ok(d)
    }

    fn ensure_staging(&self, repo: &Repo) -> Result<std::sync::Arc<OwnedFd>, CheckoutError> {
        self.ensure(repo, &self.staging, &format!("tmp/{}", self.staging_name), 0o700)
    }

    fn ensure_dir(&self, repo: &Repo) -> Result<std::sync::Arc<OwnedFd>, CheckoutError> {
        self.ensure(repo, &self.dir, CACHE_DIR, 0o775)
    }

    /// Decompresses a regular file into this checkout's staging directory
    /// unless it is there already (staged for an earlier entry, perhaps by
    /// another thread); link it from [`Cache::staged_dir`]. True when
    /// this call decompressed it.
    pub fn extract(&self, ctx: &Ctx<'_>, csum: &Checksum, obj: &mut Obj) -> Result<bool, CheckoutError> {
        let repo = ctx.repo;
        let dir = self.ensure_staging(repo)?;
        let loose = LoosePath::new(csum);
        // Paths only for messages: built when an error needs one.
        let at = |name: &str| repo.path().join("tmp").join(&self.staging_name).join(name);
        self.ensure_prefix(dir.as_fd(), csum, &loose).map_err(|e| CheckoutError::io(at(loose.dir()), "mkdirat", e))?;
        let mode = obj.mode & 0o7777 & !0o6000;
        // The staging directory is this checkout's own: the file can be
        // written under its name (a failure removes it again).
        let mut f = match NewFile::create(dir.as_fd(), loose.as_str(), mode) {
            Ok(f) => f,
            Err(Errno::EXIST) => return Ok(false),
            Err(e) => return Err(CheckoutError::io(at(loose.as_str()), "openat", e)),
        };
        let mut payload = ctx.src.payload(csum, obj)?;
        crate::copy::write_payload(&mut payload, f.file(), obj.size)
            .map_err(|e| CheckoutError::io(ctx.src.path(csum), "decompress", e))?;
        if !ctx.mode_as_created(mode) {
            rustix::fs::fchmod(f.file().as_fd(), Mode::from_raw_mode(mode))
                .map_err(|e| CheckoutError::io(at(loose.as_str()), "fchmod", e))?;
        }
        if repo.fsync_enabled() {
            // Start writing the data out now, while the checkout goes on,
            // so that the `syncfs` in `finish` has little left to wait for.
            let _ = rustix::fs::fadvise(f.file().as_fd(), 0, None, rustix::fs::Advice::DontNeed);
        }
        f.keep();
        Ok(true)
    }

    /// Creates the `XX` directory of `loose` in the staging directory
    /// `dir`, once per checkout.
    fn ensure_prefix(&self, dir: BorrowedFd<'_>, csum: &Checksum, loose: &LoosePath) -> rustix::io::Result<()> {
        let i = usize::from(csum.as_bytes()[0]);
        let bit = 1u64 << (i % 64);
        if self.prefixes[i / 64].load(Ordering::Acquire) & bit != 0 {
            return Ok(());
        }
        mkdir_exist_ok(dir, loose.dir(), 0o775)?;
        self.prefixes[i / 64].fetch_or(bit, Ordering::Release);
        Ok(())
    }

    /// Moves what this checkout staged into the cache, after one `syncfs`
    /// (unless the repo disables fsync), and removes the staging directory.
    /// A staged `XX` directory the cache lacks moves with one rename (on a
    /// first checkout, all of them: some 256 renames instead of one per
    /// file); into an `XX` the cache has, file by file, keeping entries
    /// another checkout added meanwhile.
    pub fn finish(&self, repo: &Repo) -> Result<(), CheckoutError> {
        let Some(staging) = self.staged_dir() else { return Ok(()) };
        let staging_path = repo.path().join("tmp").join(&self.staging_name);
        let prefixes: Vec<u8> = (0..=255u8)
            .filter(|&i| self.prefixes[usize::from(i) / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0)
            .collect();
        let result = (|| {
            if prefixes.is_empty() {
                return Ok(());
            }
            if repo.fsync_enabled() {
                rustix::fs::syncfs(staging.as_fd())
                    .map_err(|e| CheckoutError::io(staging_path.clone(), "syncfs", e))?;
                oxtree_store::fault::synced_all(&staging_path);
            }
            let dir = self.ensure_dir(repo)?;
            for p in prefixes {
                let xx = format!("{p:02x}");
                let flags = rustix::fs::RenameFlags::NOREPLACE;
                match rustix::fs::renameat_with(staging.as_fd(), xx.as_str(), dir.as_fd(), xx.as_str(), flags) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => move_entries(staging.as_fd(), dir.as_fd(), &xx).map_err(io(
                        repo,
                        &format!("{CACHE_DIR}/{xx}"),
                        "renameat",
                    ))?,
                    Err(e) => return Err(io(repo, &format!("{CACHE_DIR}/{xx}"), "renameat")(e)),
                }
            }
            Ok(())
        })();
        // The staging directory goes in any case; what could not be moved
        // goes with it (its checkout links keep the data).
        drop(staging);
        if let Ok(tmp) = open_dir(self.repo_dir.as_fd(), "tmp", false) {
            let _ = crate::fsops::rm_rf_at(tmp.as_fd(), self.staging_name.as_str());
        }
        result
    }
}

/// Renames the files of `from/xx` into `to/xx`, keeping any that `to/xx`
/// has already.
fn move_entries(from: BorrowedFd<'_>, to: BorrowedFd<'_>, xx: &str) -> rustix::io::Result<()> {
    let src = open_dir(from, xx, false).map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
    let dst = open_dir(to, xx, false).map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
    let mut names = Vec::new();
    for ent in rustix::fs::Dir::read_from(&src)? {
        let ent = ent?;
        let n = ent.file_name();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            names.push(n.to_owned());
        }
    }
    for n in names {
        match rustix::fs::renameat_with(&src, n.as_c_str(), &dst, n.as_c_str(), rustix::fs::RenameFlags::NOREPLACE) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Deletes the files of `uncompressed-objects-cache` that nothing links to
/// any more (link count 1), as `ostree_repo_checkout_gc` does, and returns
/// how many went. A repository without a cache is left alone.
pub fn checkout_gc(repo: &Repo) -> Result<u64, CheckoutError> {
    let root = repo.path().join(CACHE_DIR);
    let dir = match open_dir(rustix::fs::CWD, &root, false) {
        Ok(d) => d,
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => return Ok(0),
        Err(e) => return Err(CheckoutError::io(root, "opendir", e)),
    };
    let mut removed = 0;
    let mut prefixes = Vec::new();
    for ent in rustix::fs::Dir::read_from(&dir).map_err(|e| CheckoutError::io(root.clone(), "readdir", e))? {
        let ent = ent.map_err(|e| CheckoutError::io(root.clone(), "readdir", e))?;
        let n = ent.file_name().to_bytes();
        if n.len() == 2 && n.iter().all(u8::is_ascii_hexdigit) {
            prefixes.push(ent.file_name().to_owned());
        }
    }
    for p in prefixes {
        let sub_path = root.join(p.to_string_lossy().as_ref());
        let sub = match open_dir(dir.as_fd(), p.as_c_str(), false) {
            Ok(s) => s,
            Err(_) => continue,
        };
        let mut names = Vec::new();
        for ent in rustix::fs::Dir::read_from(&sub).map_err(|e| CheckoutError::io(sub_path.clone(), "readdir", e))? {
            let ent = ent.map_err(|e| CheckoutError::io(sub_path.clone(), "readdir", e))?;
            let n = ent.file_name();
            if n.to_bytes() != b"." && n.to_bytes() != b".." {
                names.push(n.to_owned());
            }
        }
        for n in names {
            let Ok(st) = rustix::fs::statat(&sub, n.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) else { continue };
            if st.st_mode & 0o170000 == 0o100000 && st.st_nlink == 1 {
                rustix::fs::unlinkat(&sub, n.as_c_str(), AtFlags::empty())
                    .map_err(|e| CheckoutError::io(sub_path.clone(), "unlinkat", e))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
