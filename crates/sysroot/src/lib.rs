//! The deployment manager: OSTree-compatible sysroots.
//!
//! A sysroot is a directory (`/` once booted, an image or a mount point
//! while installing) holding a system repository (`ostree/repo`), one or
//! more *stateroots* (`ostree/deploy/NAME/`, each with its own `/var`), the
//! *deployments* checked out from commits into them
//! (`ostree/deploy/NAME/deploy/CSUM.SERIAL`, hardlinks into the repo plus a
//! copied and merged `/etc`), and the boot configuration that lists them
//! (`boot/loader.N/entries/*.conf`, see [`oxtree_bootloader`]).
//!
//! The list of deployments *is* the boot configuration: [`Sysroot::open`]
//! reads it back from the live `boot/loader` entries, and
//! [`Sysroot::write_deployments`] replaces it in one atomic rename of
//! `boot/loader.tmp` onto `boot/loader`, after everything it points to is
//! on disk and synced. A crash before that rename leaves the old list
//! booting; after it, the new one. [`deploy`] makes a new deployment,
//! [`cleanup`] removes what no list refers to.
//!
//! Stable: [`Sysroot`], [`Deployment`], [`deploy::DeployOptions`],
//! [`KernelArgs`], and the on-disk layout, which is OSTree's.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cleanup;
pub mod deploy;
mod deployment;
pub mod etc;
mod fsops;
pub mod kargs;
pub mod kernel;
pub mod layout;
mod load;
pub mod overlay;
pub mod prepare_root;
pub mod staged;
pub mod unlock;
mod write;

use std::path::{Path, PathBuf};

pub use deployment::Deployment;
pub use kargs::KernelArgs;
pub use write::{WriteOptions, WriteReport};

use oxtree_bootloader::Backend;
use oxtree_store::Repo;

/// What can go wrong with a sysroot.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system call failed on a path.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// The system repository.
    #[error(transparent)]
    Store(#[from] oxtree_store::Error),
    /// Checking out a deployment.
    #[error(transparent)]
    Checkout(#[from] oxtree_checkout::CheckoutError),
    /// Boot configuration.
    #[error(transparent)]
    Bootloader(#[from] oxtree_bootloader::Error),
    /// Anything else, in OSTree's words where it has some.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |e| Error::Io(path.display().to_string(), e)
    }
}

/// `OSTREE_SYSROOT_DEBUG` flags (comma-separated), as OSTree's tests set them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DebugFlags {
    /// `mutable-deployments`: do not make deployment roots immutable.
    pub mutable_deployments: bool,
    /// `no-xattrs`: do not copy extended attributes.
    pub no_xattrs: bool,
    /// `no-dtb`: ignore device trees in kernels' directories.
    pub no_dtb: bool,
    /// `test-fifreeze`: fail the full sync as if the freeze watchdog fired.
    pub test_fifreeze: bool,
    /// `test-staged-path`: stage without starting the finalization service.
    pub test_staged_path: bool,
}

impl DebugFlags {
    /// The flags in `$OSTREE_SYSROOT_DEBUG`.
    pub fn from_env() -> Self {
        let v = std::env::var("OSTREE_SYSROOT_DEBUG").unwrap_or_default();
        let mut f = DebugFlags::default();
        for w in v.split(',') {
            match w.trim() {
                "mutable-deployments" => f.mutable_deployments = true,
                "no-xattrs" => f.no_xattrs = true,
                "no-dtb" => f.no_dtb = true,
                "test-fifreeze" => f.test_fifreeze = true,
                "test-staged-path" => f.test_staged_path = true,
                _ => {}
            }
        }
        f
    }
}

/// A loaded sysroot: its repository and its current deployment list.
pub struct Sysroot {
    path: PathBuf,
    repo: Repo,
    bootversion: u32,
    subbootversion: u32,
    deployments: Vec<Deployment>,
    booted: Option<usize>,
    debug: DebugFlags,
}

impl Sysroot {
    /// Opens the sysroot at `path` and reads its deployment list.
    pub fn open(path: &Path) -> Result<Sysroot, Error> {
        let path = std::path::absolute(path).map_err(Error::io(path))?;
        let repo_path = path.join("ostree/repo");
        if !repo_path.join("config").exists() {
            return Err(Error::Invalid(format!(
                "{}: not a sysroot (no ostree/repo; make one with `admin init-fs`)",
                path.display()
            )));
        }
        let repo = Repo::open(&repo_path)?;
        let mut s = Sysroot {
            path,
            repo,
            bootversion: 0,
            subbootversion: 0,
            deployments: Vec::new(),
            booted: None,
            debug: DebugFlags::from_env(),
        };
        s.reload()?;
        Ok(s)
    }

    /// Reads the deployment list again (after another process changed it).
    pub fn reload(&mut self) -> Result<(), Error> {
        let state = load::load(&self.path)?;
        self.bootversion = state.bootversion;
        self.subbootversion = state.subbootversion;
        self.deployments = state.deployments;
        self.booted = state.booted;
        Ok(())
    }

    /// The sysroot's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The system repository (`ostree/repo`).
    pub fn repo(&self) -> &Repo {
        &self.repo
    }

    /// The debug flags in effect.
    pub fn debug(&self) -> DebugFlags {
        self.debug
    }

    /// Replaces the debug flags (by default those of `$OSTREE_SYSROOT_DEBUG`).
    pub fn set_debug(&mut self, flags: DebugFlags) {
        self.debug = flags;
    }

    /// The live boot version (`boot/loader -> loader.N`).
    pub fn bootversion(&self) -> u32 {
        self.bootversion
    }

    /// The live sub-boot version (`ostree/boot.N -> boot.N.M`).
    pub fn subbootversion(&self) -> u32 {
        self.subbootversion
    }

    /// The deployments, in boot order (index 0 boots by default).
    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }

    /// The deployment the running system booted, if this sysroot is the
    /// running system's.
    pub fn booted_deployment(&self) -> Option<&Deployment> {
        self.booted.map(|i| &self.deployments[i])
    }

    /// Where a deployment is checked out.
    pub fn deployment_dir(&self, d: &Deployment) -> PathBuf {
        self.path.join(d.relative_dir())
    }

    /// A deployment's `.origin` file.
    pub fn origin_path(&self, d: &Deployment) -> PathBuf {
        let mut p = self.deployment_dir(d).into_os_string();
        p.push(".origin");
        PathBuf::from(p)
    }

    /// Whether stateroot `name` exists (`ostree/deploy/NAME`).
    pub fn has_stateroot(&self, name: &str) -> bool {
        layout::valid_stateroot_name(name) && self.path.join("ostree/deploy").join(name).is_dir()
    }

    /// The deployment a new one for stateroot `os` takes `/etc` and kernel
    /// arguments from: the booted one if it is of that stateroot, else the
    /// stateroot's first.
    /// A staged deployment is never one: its `/etc` is not merged yet.
    pub fn merge_deployment(&self, os: &str) -> Option<&Deployment> {
        if let Some(b) = self.booted_deployment() {
            if b.stateroot == os {
                return Some(b);
            }
        }
        self.deployments.iter().find(|d| d.stateroot == os && !d.staged)
    }

    /// The staged deployment, if any (listed first; see [`staged`]).
    pub fn staged_deployment(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.staged)
    }

    /// The bootloader backend for this sysroot (`sysroot.bootloader` in
    /// the repo config, else detected).
    pub fn bootloader(&self) -> Result<Backend, Error> {
        let cfg = self.repo.config().get("sysroot", "bootloader").map(str::to_string);
        Ok(Backend::select(cfg.as_deref(), &self.path)?)
    }

    /// Takes the sysroot lock (`ostree/lock`, the one OSTree takes), held
    /// until the returned guard is dropped, and reads the deployment list
    /// again: another process may have changed it while we waited.
    pub fn lock(&mut self) -> Result<SysrootLock, Error> {
        let lock = self.take_lock()?;
        self.reload()?;
        Ok(lock)
    }

    fn take_lock(&self) -> Result<SysrootLock, Error> {
        use std::os::unix::fs::MetadataExt;
        let p = self.path.join("ostree/lock");
        loop {
            let f =
                std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&p).map_err(Error::io(&p))?;
            rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
                .map_err(|e| Error::Io(p.display().to_string(), e.into()))?;
            // The previous holder may have removed the file while we
            // waited: then this lock is on a dead inode; take a new one.
            if f.metadata().map_err(Error::io(&p))?.nlink() > 0 {
                return Ok(SysrootLock { path: p, _file: f });
            }
        }
    }
}

/// The held sysroot lock. As OSTree (libglnx) does, the exclusive holder
/// removes the lock file when it lets go, so an idle sysroot has none.
pub struct SysrootLock {
    path: PathBuf,
    _file: std::fs::File,
}

impl Drop for SysrootLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
