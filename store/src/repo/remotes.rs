//! Remote configuration: `[remote "NAME"]` groups in the repo `config`, in
//! `*.conf` files of a remotes directory (`/etc/ostree/remotes.d` for the
//! system repo), and inherited from a `core.parent` repo.

use std::path::{Path, PathBuf};

use super::refs::validate_remote_name;
use super::{Error, KeyFile, Repo};

fn group(name: &str) -> String {
    format!("remote \"{name}\"")
}

/// Writes remote `name`'s group: `url` (a remote served by a custom backend
/// may have none), then `options`.
fn set_remote(kf: &mut KeyFile, name: &str, url: Option<&str>, options: &[(String, String)]) {
    let g = group(name);
    if let Some(url) = url {
        kf.set(&g, "url", url);
    }
    for (k, v) in options {
        kf.set(&g, k, v);
    }
}

/// Where a remote is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSource {
    /// The repo's own `config`.
    Config,
    /// A file in a remotes directory.
    File(PathBuf),
    /// A parent repository (`core.parent`).
    Parent(PathBuf),
}

impl Repo {
    fn remotes_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        let sys = Path::new("/ostree/repo");
        if self.path().canonicalize().ok().as_deref() == sys.canonicalize().ok().as_deref() || self.path() == sys {
            dirs.push(PathBuf::from("/etc/ostree/remotes.d"));
        }
        dirs
    }

    fn remote_files(&self) -> Vec<(PathBuf, KeyFile)> {
        let mut out = Vec::new();
        for d in self.remotes_dirs() {
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                .collect();
            files.sort();
            for f in files {
                if let Ok(text) = std::fs::read_to_string(&f) {
                    if let Ok(kf) = KeyFile::parse(&text) {
                        out.push((f, kf));
                    }
                }
            }
        }
        out
    }

    /// Where the remote `name` is defined, if anywhere.
    pub fn remote_source(&self, name: &str) -> Option<RemoteSource> {
        if self.config().has_group(&group(name)) {
            return Some(RemoteSource::Config);
        }
        for (f, kf) in self.remote_files() {
            if kf.has_group(&group(name)) {
                return Some(RemoteSource::File(f));
            }
        }
        let parent = self.parent_repo()?;
        parent.remote_source(name).map(|_| RemoteSource::Parent(parent.path().to_path_buf()))
    }

    /// Every remote name, sorted, including those of a parent repo.
    pub fn remote_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut add = |kf: &KeyFile| {
            for g in kf.groups() {
                if let Some(n) = g.strip_prefix("remote \"").and_then(|r| r.strip_suffix('"')) {
                    names.push(n.to_string());
                }
            }
        };
        add(self.config());
        for (_, kf) in self.remote_files() {
            add(&kf);
        }
        if let Some(p) = self.parent_repo() {
            names.extend(p.remote_names());
        }
        names.sort();
        names.dedup();
        names
    }

    /// A remote's option, looked up where the remote is defined.
    pub fn remote_option(&self, name: &str, key: &str) -> Result<Option<String>, Error> {
        let g = group(name);
        match self.remote_source(name) {
            Some(RemoteSource::Config) => Ok(self.config().get(&g, key).map(str::to_string)),
            Some(RemoteSource::File(f)) => {
                let kf = self.remote_files().into_iter().find(|(p, _)| *p == f).map(|(_, k)| k);
                Ok(kf.and_then(|k| k.get(&g, key).map(str::to_string)))
            }
            Some(RemoteSource::Parent(_)) => match self.parent_repo() {
                Some(p) => p.remote_option(name, key),
                None => Ok(None),
            },
            None => Err(Error::Invalid(format!("Remote \"{name}\" not found"))),
        }
    }

    /// The checks both ways of adding a remote share. `existing` says where
    /// the remote already is, and whether `force` may replace it there.
    /// `Ok(false)`: leave it (`if_not_exists`); `Ok(true)`: go on and write.
    fn may_add(
        &self,
        name: &str,
        existing: Option<(String, bool)>,
        if_not_exists: bool,
        force: bool,
    ) -> Result<bool, Error> {
        validate_remote_name(name)?;
        if if_not_exists && force {
            return Err(Error::Invalid("Can only specify one of --if-not-exists and --force".into()));
        }
        match existing {
            Some(_) if if_not_exists => Ok(false),
            Some((whence, replaceable)) if !(force && replaceable) => {
                Err(Error::Invalid(format!("Remote configuration for \"{name}\" already exists: {whence}")))
            }
            _ => Ok(true),
        }
    }

    /// Adds a remote to the repo config. `options` are written after `url`.
    /// With `if_not_exists`, an existing remote is left as it is; with
    /// `force`, it is replaced.
    pub fn add_remote(
        &mut self,
        name: &str,
        url: Option<&str>,
        options: &[(String, String)],
        if_not_exists: bool,
        force: bool,
    ) -> Result<(), Error> {
        // --force replaces a remote of the config, never one defined elsewhere.
        let whence = self.remote_source(name).map(|src| match src {
            RemoteSource::Config => ("(in config)".to_string(), true),
            RemoteSource::File(f) => (format!("(in {})", f.display()), false),
            RemoteSource::Parent(p) => (format!("(in parent repo {})", p.display()), false),
        });
        if !self.may_add(name, whence, if_not_exists, force)? {
            return Ok(());
        }
        let mut cfg = self.config().clone();
        cfg.remove_group(&group(name));
        set_remote(&mut cfg, name, url, options);
        self.write_config(cfg)
    }

    /// Adds a remote as its own key file `path` (a sysroot's
    /// `etc/ostree/remotes.d/NAME.conf`) instead of the repo config, as
    /// OSTree does for a system repo opened through a deployment.
    pub fn add_remote_file(
        &self,
        path: &Path,
        name: &str,
        url: Option<&str>,
        options: &[(String, String)],
        if_not_exists: bool,
        force: bool,
    ) -> Result<(), Error> {
        let exists = path.exists() || self.remote_source(name).is_some();
        let whence = exists.then(|| (format!("(in {})", path.display()), true));
        if !self.may_add(name, whence, if_not_exists, force)? {
            return Ok(());
        }
        let mut kf = KeyFile::new();
        set_remote(&mut kf, name, url, options);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::Io { path: dir.to_path_buf(), source: e })?;
        }
        super::write_atomic(path, kf.to_text().as_bytes(), 0o644, self.fsync_enabled())
    }

    /// Deletes a remote from the repo config.
    pub fn delete_remote(&mut self, name: &str, if_exists: bool) -> Result<(), Error> {
        validate_remote_name(name)?;
        match self.remote_source(name) {
            Some(RemoteSource::Config) => {
                let mut cfg = self.config().clone();
                cfg.remove_group(&group(name));
                self.write_config(cfg)
            }
            Some(RemoteSource::File(f)) => {
                let text = std::fs::read_to_string(&f).map_err(|e| Error::Io { path: f.clone(), source: e })?;
                let mut kf =
                    KeyFile::parse(&text).map_err(|e| Error::Config { path: f.clone(), msg: e.to_string() })?;
                kf.remove_group(&group(name));
                super::write_atomic(&f, kf.to_text().as_bytes(), 0o644, self.fsync_enabled())
            }
            Some(RemoteSource::Parent(p)) => {
                Err(Error::Invalid(format!("Remote \"{name}\" is defined in the parent repository {}", p.display())))
            }
            None if if_exists => Ok(()),
            None => Err(Error::Invalid(format!("Remote \"{name}\" not found"))),
        }
    }
}
