//! Refs: `refs/heads/NAME`, `refs/remotes/REMOTE/NAME`, aliases (relative
//! symlinks), and revision parsing (`REF`, `REMOTE:REF`, checksums, `^`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::Checksum;

use super::fsutil::{io_err, write_atomic};
use super::{Error, Repo};

/// A ref, optionally qualified by a remote.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RefSpec {
    /// The remote, for `REMOTE:REF`.
    pub remote: Option<String>,
    /// The ref name.
    pub name: String,
}

fn valid_component(c: &str) -> bool {
    let mut chars = c.chars();
    match chars.next() {
        Some(f) if f.is_alphanumeric() || f == '_' => {}
        _ => return false,
    }
    chars.all(|ch| ch.is_alphanumeric() || matches!(ch, '_' | '-' | '.'))
}

/// Checks a ref name against OSTree's grammar
/// `([\w\d][-._\w\d]*/)*[\w\d][-._\w\d]*`, and refuses checksum-like names.
pub fn validate_ref_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || !name.split('/').all(valid_component) || Checksum::is_hex(name) {
        return Err(Error::InvalidRef(name.to_string()));
    }
    Ok(())
}

/// Checks a remote name (one ref component).
pub fn validate_remote_name(name: &str) -> Result<(), Error> {
    if !valid_component(name) {
        return Err(Error::InvalidRef(format!("remote name {name}")));
    }
    Ok(())
}

impl RefSpec {
    /// Parses `[REMOTE:]REF` and validates both parts.
    pub fn parse(s: &str) -> Result<RefSpec, Error> {
        let (remote, name) = match s.split_once(':') {
            Some((r, n)) => {
                validate_remote_name(r)?;
                (Some(r.to_string()), n)
            }
            None => (None, s),
        };
        validate_ref_name(name)?;
        Ok(RefSpec { remote, name: name.to_string() })
    }

    /// The path relative to the repo.
    pub fn rel_path(&self) -> String {
        match &self.remote {
            Some(r) => format!("refs/remotes/{r}/{}", self.name),
            None => format!("refs/heads/{}", self.name),
        }
    }
}

impl std::fmt::Display for RefSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.remote {
            Some(r) => write!(f, "{r}:{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl Repo {
    fn read_ref_file(&self, rel: &str) -> Result<Option<Checksum>, Error> {
        let p = self.path().join(rel);
        match std::fs::read_to_string(&p) {
            Ok(s) => Checksum::from_hex(s.trim_end())
                .map(Some)
                .map_err(|_| Error::Invalid(format!("{}: ref does not hold a checksum", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.raw_os_error() == Some(21) || e.raw_os_error() == Some(20) => Ok(None), // EISDIR, ENOTDIR
            Err(e) => Err(io_err(p)(e)),
        }
    }

    /// Reads a ref; `None` when it does not exist.
    pub fn read_ref(&self, spec: &RefSpec) -> Result<Option<Checksum>, Error> {
        self.read_ref_file(&spec.rel_path())
    }

    /// Writes or deletes a ref file (atomically, durably when fsync is on).
    pub fn write_ref(&self, spec: &RefSpec, target: Option<&Checksum>) -> Result<(), Error> {
        self.write_ref_file(spec, target)?;
        self.refs_changed()
    }

    /// Writes (or with `None` removes) the file of one ref.
    pub(crate) fn write_ref_file(&self, spec: &RefSpec, target: Option<&Checksum>) -> Result<(), Error> {
        let p = self.path().join(spec.rel_path());
        match target {
            Some(c) => {
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                // An empty directory left by deleted refs under this name
                // (`a/b` deleted, `a` created) is in the way; a full one
                // is an error from the write below.
                if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                    let _ = std::fs::remove_dir(&p);
                }
                write_atomic(&p, format!("{c}\n").as_bytes(), 0o644, self.fsync_enabled())?;
            }
            None => match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(p)(e)),
            },
        }
        Ok(())
    }

    /// What follows a change of refs: the repo directory's mtime is bumped,
    /// as OSTree does, and with `core.auto-update-summary=true` the summary
    /// is regenerated.
    pub(crate) fn refs_changed(&self) -> Result<(), Error> {
        self.touch();
        if self.config().get_bool("core", "auto-update-summary").and_then(Result::ok).unwrap_or(false) {
            crate::summary::update_summary(self, &[])?;
        }
        Ok(())
    }

    /// Creates `alias` in `refs/heads` as a relative symlink to `target`.
    pub fn write_alias(&self, alias: &str, target: &str) -> Result<(), Error> {
        validate_ref_name(alias)?;
        validate_ref_name(target)?;
        if !self.path().join("refs/heads").join(target).is_file() {
            return Err(Error::RefNotFound(target.to_string()));
        }
        let p = self.path().join("refs/heads").join(alias);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let up = "../".repeat(alias.matches('/').count());
        let tmp = p.with_file_name(format!(".{}.tmp-{}", alias.replace('/', "_"), std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!("{up}{target}"), &tmp).map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, &p).map_err(io_err(&p))?;
        self.refs_changed()
    }

    /// If `name` is an alias, the ref it points to.
    pub fn alias_target(&self, name: &str) -> Option<String> {
        let p = self.path().join("refs/heads").join(name);
        let t = std::fs::read_link(&p).ok()?;
        let base = PathBuf::from(name);
        let joined = base.parent().unwrap_or(std::path::Path::new("")).join(t);
        let mut parts: Vec<String> = Vec::new();
        for c in joined.components() {
            match c {
                std::path::Component::ParentDir => {
                    parts.pop();
                }
                std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                _ => {}
            }
        }
        Some(parts.join("/"))
    }

    /// Lists refs. With `remote`, the refs under `refs/remotes/REMOTE`;
    /// without, the local heads. Names are relative to that directory.
    pub fn list_refs(&self, remote: Option<&str>) -> Result<BTreeMap<String, Checksum>, Error> {
        let base = match remote {
            Some(r) => self.path().join("refs/remotes").join(r),
            None => self.path().join("refs/heads"),
        };
        if remote.is_none() && !self.path().join("refs/remotes").is_dir() {
            return Err(Error::Invalid("Listing refs: opendir(refs/remotes): No such file or directory".into()));
        }
        let mut out = BTreeMap::new();
        let mut stack = vec![(base.clone(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let rd = match std::fs::read_dir(&dir) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&dir)(e)),
            };
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let full = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
                let path = e.path();
                let md = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(_) => continue,
                };
                if md.is_dir() {
                    if !std::fs::symlink_metadata(&path).map(|m| m.file_type().is_symlink()).unwrap_or(false) {
                        stack.push((path, full));
                    }
                } else {
                    let rel = path.strip_prefix(self.path()).unwrap_or(&path).to_string_lossy().into_owned();
                    if let Some(c) = self.read_ref_file(&rel)? {
                        out.insert(full, c);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The remotes that have refs under `refs/remotes`.
    pub fn list_ref_remotes(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.path().join("refs/remotes"))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Every ref: local heads as `NAME`, remote refs as `REMOTE:NAME`.
    pub fn all_refs(&self) -> Result<BTreeMap<String, Checksum>, Error> {
        let mut all = self.list_refs(None)?;
        for r in self.list_ref_remotes() {
            for (n, c) in self.list_refs(Some(&r))? {
                all.insert(format!("{r}:{n}"), c);
            }
        }
        Ok(all)
    }

    /// Resolves a revision to a commit checksum: a checksum, `REF`,
    /// `REMOTE:REF`, each optionally followed by `^` (repeatable) or `^N`.
    /// Returns `None` for a missing ref when `allow_noent`.
    pub fn resolve_rev(&self, rev: &str, allow_noent: bool) -> Result<Option<Checksum>, Error> {
        let (base, parents) = split_parents(rev);
        let mut c = match self.resolve_base(base)? {
            Some(c) => c,
            None if allow_noent && parents == 0 => return Ok(None),
            None => return Err(Error::RefNotFound(rev.to_string())),
        };
        for _ in 0..parents {
            let commit = self.load_commit(&c)?;
            c = commit.parent.ok_or_else(|| Error::Invalid(format!("Commit {c} has no parent")))?;
        }
        Ok(Some(c))
    }

    fn resolve_base(&self, rev: &str) -> Result<Option<Checksum>, Error> {
        if Checksum::is_hex(rev) {
            return Ok(Checksum::from_hex(rev).ok());
        }
        if let Some((remote, name)) = rev.split_once(':') {
            let spec = RefSpec::parse(&format!("{remote}:{name}"))?;
            return self.read_ref(&spec);
        }
        if rev.is_empty() || rev.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(Error::InvalidRef(rev.to_string()));
        }
        for rel in [format!("refs/heads/{rev}"), format!("refs/remotes/{rev}")] {
            if let Some(c) = self.read_ref_file(&rel)? {
                return Ok(Some(c));
            }
        }
        for r in self.list_ref_remotes() {
            if let Some(c) = self.read_ref_file(&format!("refs/remotes/{r}/{rev}"))? {
                return Ok(Some(c));
            }
        }
        if rev.len() >= 4 && rev.len() < 64 && rev.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            if let Some(c) = self.resolve_commit_prefix(rev)? {
                return Ok(Some(c));
            }
        }
        match self.parent_repo() {
            Some(parent) => parent.resolve_base(rev),
            None => Ok(None),
        }
    }

    /// A commit named by a unique prefix of its checksum.
    fn resolve_commit_prefix(&self, prefix: &str) -> Result<Option<Checksum>, Error> {
        let dir = self.path().join("objects").join(&prefix[..2]);
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(dir)(e)),
        };
        let mut found: Option<Checksum> = None;
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_suffix(".commit") else { continue };
            let hex = format!("{}{rest}", &prefix[..2]);
            if hex.starts_with(prefix) {
                let c = Checksum::from_hex(&hex).map_err(|_| Error::Invalid(format!("bad object name {name}")))?;
                if found.is_some() {
                    return Err(Error::Invalid(format!("Refspec '{prefix}' is ambiguous")));
                }
                found = Some(c);
            }
        }
        Ok(found)
    }
}

/// Splits `REV^^` / `REV^3` into the base and the number of parents to walk.
fn split_parents(rev: &str) -> (&str, usize) {
    if let Some(pos) = rev.find('^') {
        let (base, tail) = rev.split_at(pos);
        let tail = &tail[1..];
        if let Ok(n) = tail.parse::<usize>() {
            return (base, n);
        }
        if tail.chars().all(|c| c == '^') {
            return (base, 1 + tail.len());
        }
    }
    (rev, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names() {
        for ok in ["é", "a/b", "a..b", "_x", "main", "x86_64/os-1.0"] {
            assert!(validate_ref_name(ok).is_ok(), "{ok}");
        }
        for bad in ["-a", ".a", "a/", "a/.b", "a b", "a+b", "x@y", "", "../x", "a//b"] {
            assert!(validate_ref_name(bad).is_err(), "{bad}");
        }
        let hex = "e50899a76f9ec7e2cfc3d5566b9679886080a927c40922822806366b4d34a7fe";
        assert!(validate_ref_name(hex).is_err());
    }

    #[test]
    fn parent_suffixes() {
        assert_eq!(split_parents("main"), ("main", 0));
        assert_eq!(split_parents("main^"), ("main", 1));
        assert_eq!(split_parents("main^^"), ("main", 2));
        assert_eq!(split_parents("main^3"), ("main", 3));
    }
}
