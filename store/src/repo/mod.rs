//! Repositories: layout, modes, config, objects, refs and transactions.
//!
//! A repository is a directory holding `config`, `objects/`, `refs/`,
//! `tmp/`, `state/` and `extensions/` (OSTree's layout, see the spec). The
//! mode decides how content objects are stored; metadata objects are the
//! same in every mode.

mod filez;
mod fsutil;
mod keyfile;
mod lock;
mod read;
mod refs;
mod remotes;
mod transaction;
mod writeback;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use fsutil::{read_xattrs, write_atomic};
pub use keyfile::{KeyFile, KeyFileError};
pub use lock::{LockKind, RepoLock};
pub use read::{FileContent, FileObject};
pub use refs::{validate_ref_name, validate_remote_name, RefSpec};
pub use remotes::RemoteSource;
pub use transaction::{SizeRecord, Transaction, TxStats};

use crate::object::{ObjectError, ObjectType};
use crate::Checksum;
use fsutil::io_err;

/// Errors from repository operations. Each names the path or object involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system call failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The directory is not a repository.
    #[error("{}: not an OSTree repository (no objects/ directory)", .0.display())]
    NotARepo(PathBuf),
    /// The config is unreadable or invalid.
    #[error("opening repo: {}: {msg}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// An object is absent (OSTree's wording for each kind).
    #[error("{}", missing_message(checksum, *ty))]
    MissingObject {
        /// Its checksum.
        checksum: Checksum,
        /// Its type.
        ty: ObjectType,
    },
    /// An object's bytes are invalid.
    #[error("Corrupted {} object {checksum}: {source}", ty.name())]
    BadObject {
        /// Its checksum.
        checksum: Checksum,
        /// Its type.
        ty: ObjectType,
        /// What is wrong.
        source: ObjectError,
    },
    /// An object's content does not match its name.
    #[error("Corrupted {} object; checksum expected='{expected}' actual='{actual}'", ty.name())]
    ChecksumMismatch {
        /// Its type.
        ty: ObjectType,
        /// The name.
        expected: Checksum,
        /// What the content hashes to.
        actual: Checksum,
    },
    /// A ref name is invalid.
    #[error("Invalid refspec {0}")]
    InvalidRef(String),
    /// A ref or revision does not resolve.
    #[error("Refspec '{0}' not found")]
    RefNotFound(String),
    /// A caller supplied something unusable.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn bad_object(checksum: Checksum, ty: ObjectType) -> impl FnOnce(ObjectError) -> Error {
        move |source| Error::BadObject { checksum, ty, source }
    }
}

/// How content objects are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RepoMode {
    /// Real files with real owner, mode and xattrs (needs root).
    Bare,
    /// Real files; owner, mode and xattrs in `user.ostreemeta`.
    BareUser,
    /// Real files with canonical metadata; nothing else stored.
    BareUserOnly,
    /// Compressed `.filez` objects, for serving over HTTP.
    Archive,
}

impl RepoMode {
    /// Parses a mode as `ostree init --mode` and the config accept it.
    pub fn parse(s: &str) -> Option<RepoMode> {
        Some(match s {
            "bare" => RepoMode::Bare,
            "bare-user" => RepoMode::BareUser,
            "bare-user-only" => RepoMode::BareUserOnly,
            "archive" | "archive-z2" => RepoMode::Archive,
            _ => return None,
        })
    }

    /// The string written to the config.
    pub fn as_config_str(self) -> &'static str {
        match self {
            RepoMode::Bare => "bare",
            RepoMode::BareUser => "bare-user",
            RepoMode::BareUserOnly => "bare-user-only",
            RepoMode::Archive => "archive-z2",
        }
    }
}

/// An open repository.
#[derive(Debug)]
pub struct Repo {
    path: PathBuf,
    mode: RepoMode,
    config: KeyFile,
    fsync: bool,
    disable_xattrs: bool,
    zlib_level: u32,
    lock_timeout: Option<Duration>,
    /// `core.parent`, opened on first use (lookups that miss go there).
    parent: std::sync::OnceLock<Option<Box<Repo>>>,
}

/// What OSTree says of a missing object.
fn missing_message(checksum: &Checksum, ty: ObjectType) -> String {
    if ty == ObjectType::File {
        format!("Couldn't find file object '{checksum}'")
    } else {
        format!("No such metadata object {checksum}.{}", ty.name())
    }
}

impl Repo {
    /// Creates a repository (or opens the existing one, as `ostree init`
    /// does when `objects/` already exists).
    pub fn init(path: &Path, mode: RepoMode) -> Result<Repo, Error> {
        Self::init_with(path, mode, None)
    }

    /// Like [`Repo::init`], recording a collection ID.
    pub fn init_with(path: &Path, mode: RepoMode, collection_id: Option<&str>) -> Result<Repo, Error> {
        if path.join("objects").is_dir() {
            return Repo::open(path);
        }
        std::fs::create_dir_all(path).map_err(io_err(path))?;
        let config = path.join("config");
        if !config.exists() {
            let mut text = format!("[core]\nrepo_version=1\nmode={}\n", mode.as_config_str());
            if let Some(id) = collection_id {
                text.push_str(&format!("collection-id={id}\n"));
            }
            write_atomic(&config, text.as_bytes(), 0o644, false)?;
        }
        for d in ["tmp", "extensions", "state", "refs", "refs/heads", "refs/mirrors", "refs/remotes", "objects"] {
            let p = path.join(d);
            match std::fs::create_dir(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(&p)(e)),
            }
        }
        Repo::open(path)
    }

    /// Opens an existing repository.
    pub fn open(path: &Path) -> Result<Repo, Error> {
        if !path.join("objects").is_dir() {
            return Err(Error::NotARepo(path.to_path_buf()));
        }
        let cpath = path.join("config");
        let text = std::fs::read_to_string(&cpath).map_err(io_err(&cpath))?;
        let config = KeyFile::parse(&text).map_err(|e| Error::Config { path: cpath.clone(), msg: e.to_string() })?;
        let cerr = |msg: String| Error::Config { path: cpath.clone(), msg };
        match config.get("core", "repo_version") {
            Some("1") => {}
            Some(v) => return Err(cerr(format!("Invalid repository version '{v}'"))),
            None => return Err(cerr("Missing core.repo_version".into())),
        }
        if config.get_bool("core", "archive") == Some(Ok(true)) {
            return Err(cerr(
                "This version of OSTree no longer supports \"archive\" repositories; use archive-z2 instead".into(),
            ));
        }
        let mode_s = config.get("core", "mode").unwrap_or("bare");
        let mode = RepoMode::parse(mode_s)
            .ok_or_else(|| cerr(format!("Invalid mode '{mode_s}' in repository configuration")))?;
        let flag = |k: &str, default: bool| -> Result<bool, Error> {
            config.get_bool("core", k).unwrap_or(Ok(default)).map_err(&cerr)
        };
        let fsync = flag("fsync", true)?;
        let disable_xattrs = flag("disable-xattrs", false)?;
        let zlib_level = match config.get("archive", "zlib-level") {
            Some(v) => {
                v.trim().parse::<u32>().map_err(|_| cerr(format!("Invalid archive.zlib-level '{v}'")))?.clamp(1, 9)
            }
            None => 6,
        };
        let lock_timeout = match config.get("core", "lock-timeout-secs") {
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n < 0 => None,
                Ok(n) => Some(Duration::from_secs(n as u64)),
                Err(_) => return Err(cerr(format!("Invalid core.lock-timeout-secs '{v}'"))),
            },
            None => Some(Duration::from_secs(300)),
        };
        let _ = std::fs::create_dir_all(path.join("tmp/cache"));
        Ok(Repo {
            path: path.to_path_buf(),
            mode,
            config,
            fsync,
            disable_xattrs,
            zlib_level,
            lock_timeout,
            parent: std::sync::OnceLock::new(),
        })
    }

    /// The repository directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The storage mode.
    pub fn mode(&self) -> RepoMode {
        self.mode
    }

    /// The parsed config.
    pub fn config(&self) -> &KeyFile {
        &self.config
    }

    /// Replaces the config, writing it atomically.
    pub fn write_config(&mut self, config: KeyFile) -> Result<(), Error> {
        write_atomic(&self.path.join("config"), config.to_text().as_bytes(), 0o644, self.fsync)?;
        let reopened = Repo::open(&self.path)?;
        *self = reopened;
        Ok(())
    }

    /// True unless `core.fsync=false`.
    pub fn fsync_enabled(&self) -> bool {
        self.fsync
    }

    /// Turns fsync off for this handle (`--disable-fsync`).
    pub fn set_fsync(&mut self, on: bool) {
        self.fsync = on;
    }

    /// True when `core.disable-xattrs=true`.
    pub fn xattrs_disabled(&self) -> bool {
        self.disable_xattrs
    }

    /// The archive deflate level.
    pub fn zlib_level(&self) -> u32 {
        self.zlib_level
    }

    /// True when `core.tombstone-commits=true`.
    pub fn tombstone_commits(&self) -> bool {
        self.config.get_bool("core", "tombstone-commits") == Some(Ok(true))
    }

    /// The parent repository (`core.parent`), consulted read-only for
    /// objects and refs this one lacks.
    pub fn parent_repo(&self) -> Option<&Repo> {
        self.parent
            .get_or_init(|| {
                let p = Path::new(self.config.get("core", "parent")?);
                // A repo that names itself would recurse forever.
                if p.canonicalize().ok() == self.path.canonicalize().ok() {
                    return None;
                }
                Repo::open(p).ok().map(Box::new)
            })
            .as_deref()
    }

    /// The repo's collection ID, if any.
    pub fn collection_id(&self) -> Option<&str> {
        self.config.get("core", "collection-id")
    }

    /// Takes the repo lock.
    pub fn lock(&self, kind: LockKind) -> Result<RepoLock, Error> {
        RepoLock::acquire(&self.path, kind, self.lock_timeout).map_err(io_err(self.path.join(".lock")))
    }

    /// The absolute path of a loose object.
    pub fn object_path(&self, csum: &Checksum, ty: ObjectType) -> PathBuf {
        self.path.join(crate::object::loose_path(csum, ty, self.mode == RepoMode::Archive))
    }

    /// True when the object is stored here or in the parent repository.
    pub fn has_object(&self, ty: ObjectType, csum: &Checksum) -> bool {
        self.has_local_object(ty, csum) || self.parent_repo().is_some_and(|p| p.has_object(ty, csum))
    }

    /// True when the object is stored in this repository itself.
    pub fn has_local_object(&self, ty: ObjectType, csum: &Checksum) -> bool {
        std::fs::symlink_metadata(self.object_path(csum, ty)).is_ok()
    }

    /// Starts a transaction (takes the shared lock).
    pub fn transaction(&self) -> Result<Transaction<'_>, Error> {
        Transaction::begin(self, false)
    }

    /// Starts a write transaction that continues where one killed in this
    /// boot stopped: it takes over the dead transaction's staging
    /// directory, whose objects count once checked (see
    /// [`Transaction::has_object`]). For pulls, so that one cut short does
    /// not fetch again what it had already written.
    pub fn resume_transaction(&self) -> Result<Transaction<'_>, Error> {
        Transaction::begin(self, true)
    }

    /// Path of the partial-commit marker.
    pub fn commitpartial_path(&self, commit: &Checksum) -> PathBuf {
        self.path.join(format!("state/{commit}.commitpartial"))
    }

    /// True when the commit is marked partial.
    pub fn is_partial(&self, commit: &Checksum) -> bool {
        self.commitpartial_path(commit).exists()
    }

    /// Marks a commit partial; `reason` is written (`f` for fsck).
    pub fn mark_partial(&self, commit: &Checksum, reason: &[u8]) -> Result<(), Error> {
        let p = self.commitpartial_path(commit);
        write_atomic(&p, reason, 0o644, self.fsync)
    }

    /// Lists every loose object of the given types.
    pub fn list_objects(&self, types: &[ObjectType]) -> Result<Vec<(Checksum, ObjectType)>, Error> {
        let archive = self.mode == RepoMode::Archive;
        let mut out = Vec::new();
        let objects = self.path.join("objects");
        let rd = std::fs::read_dir(&objects).map_err(io_err(&objects))?;
        let mut dirs: Vec<_> = rd.filter_map(|e| e.ok()).collect();
        dirs.sort_by_key(|e| e.file_name());
        // The 256 directories are read on the I/O pool: cold, each is a
        // few disk reads, and a prune waits for all of them.
        let per_dir = crate::threads::io_map(&dirs, |d| {
            let mut found = Vec::new();
            let dname = d.file_name();
            let Some(prefix) = dname.to_str().filter(|s| s.len() == 2) else { return found };
            let Ok(rd) = std::fs::read_dir(d.path()) else { return found };
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name();
                let Some(name) = name.to_str() else { continue };
                let Some((rest, ext)) = name.split_once('.') else { continue };
                if rest.len() != 62 {
                    continue;
                }
                let Some(ty) = types.iter().copied().find(|t| t.extension(archive) == ext) else { continue };
                if let Ok(c) = Checksum::from_hex(&format!("{prefix}{rest}")) {
                    found.push((c, ty));
                }
            }
            found
        });
        out.extend(per_dir.into_iter().flatten());
        Ok(out)
    }

    /// Bumps the repo directory's mtime, as OSTree does when refs change.
    pub(crate) fn touch(&self) {
        let _ = rustix::fs::utimensat(
            rustix::fs::CWD,
            &self.path,
            &rustix::fs::Timestamps {
                last_access: rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_OMIT },
                last_modification: rustix::fs::Timespec { tv_sec: 0, tv_nsec: rustix::fs::UTIME_NOW },
            },
            rustix::fs::AtFlags::empty(),
        );
    }
}
