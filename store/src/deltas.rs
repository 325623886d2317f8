//! Static deltas as stored in a repository: naming, listing, deletion and
//! the per-target delta indexes (spec §13.1, §13.4). Generating and
//! applying deltas is the fetch crate's business.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::gvariant::Value;
use crate::repo::{write_atomic, Error, Repo};
use crate::Checksum;

/// A static delta: from a commit (or from nothing) to a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StaticDelta {
    /// The starting commit; `None` for a from-scratch delta.
    pub from: Option<Checksum>,
    /// The target commit.
    pub to: Checksum,
}

impl StaticDelta {
    /// The delta's name: `FROMHEX-TOHEX`, or `TOHEX` from scratch.
    pub fn name(&self) -> String {
        match &self.from {
            Some(f) => format!("{f}-{}", self.to),
            None => self.to.to_hex(),
        }
    }

    /// Parses a delta name (`FROMHEX-TOHEX` or `TOHEX`).
    pub fn parse_name(s: &str) -> Option<StaticDelta> {
        match s.split_once('-') {
            Some((f, t)) => {
                Some(StaticDelta { from: Some(Checksum::from_hex(f).ok()?), to: Checksum::from_hex(t).ok()? })
            }
            None => Some(StaticDelta { from: None, to: Checksum::from_hex(s).ok()? }),
        }
    }

    /// The delta directory relative to the repo:
    /// `deltas/XX/REST[-TO]` with modified-base64 checksums.
    pub fn rel_path(&self) -> String {
        let to = self.to.to_modified_base64();
        match &self.from {
            Some(f) => {
                let f = f.to_modified_base64();
                format!("deltas/{}/{}-{to}", &f[..2], &f[2..])
            }
            None => format!("deltas/{}/{}", &to[..2], &to[2..]),
        }
    }

    /// The absolute delta directory.
    pub fn path(&self, repo: &Repo) -> PathBuf {
        repo.path().join(self.rel_path())
    }

    /// SHA-256 of the delta's `superblock` file (what summaries and indexes
    /// list).
    pub fn superblock_digest(&self, repo: &Repo) -> Result<Checksum, Error> {
        let p = self.path(repo).join("superblock");
        let b = std::fs::read(&p).map_err(|source| Error::Io { path: p, source })?;
        Ok(Checksum::digest(&b))
    }
}

/// Every static delta in the repository, sorted. Directories whose names
/// do not decode are ignored.
pub fn list_static_deltas(repo: &Repo) -> Result<Vec<StaticDelta>, Error> {
    let base = repo.path().join("deltas");
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(&base) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => return Err(Error::Io { path: base, source }),
    };
    for d in rd.filter_map(|e| e.ok()) {
        let Some(prefix) = d.file_name().to_str().map(str::to_string) else { continue };
        if prefix.len() != 2 {
            continue;
        }
        let Ok(inner) = std::fs::read_dir(d.path()) else { continue };
        for e in inner.filter_map(|e| e.ok()) {
            let Some(rest) = e.file_name().to_str().map(str::to_string) else { continue };
            let full = format!("{prefix}{rest}");
            let delta = match full.split_once('-') {
                Some((f, t)) => match (Checksum::from_modified_base64(f), Checksum::from_modified_base64(t)) {
                    (Ok(f), Ok(t)) => StaticDelta { from: Some(f), to: t },
                    _ => continue,
                },
                None => match Checksum::from_modified_base64(&full) {
                    Ok(t) => StaticDelta { from: None, to: t },
                    Err(_) => continue,
                },
            };
            out.push(delta);
        }
    }
    out.sort();
    Ok(out)
}

/// Deletes a delta's directory (the empty `deltas/XX/` stays, as in OSTree).
pub fn delete_static_delta(repo: &Repo, delta: &StaticDelta) -> Result<(), Error> {
    let p = delta.path(repo);
    match std::fs::remove_dir_all(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io { path: p, source }),
    }
}

/// `delta-indexes/XX/REST.index` for a target commit.
pub fn delta_index_rel_path(to: &Checksum) -> String {
    let t = to.to_modified_base64();
    format!("delta-indexes/{}/{}.index", &t[..2], &t[2..])
}

/// The `a{sv}` name → `<ay digest>` dictionary of the given deltas, in
/// order, as the summary and the indexes list them.
pub fn deltas_dict(entries: &[(StaticDelta, Checksum)]) -> Value<'static> {
    Value::vardict(entries.iter().map(|(d, dig)| (d.name().into(), Value::bytes(dig.as_bytes().to_vec()))))
}

/// The bytes of a delta index: `{"ostree.static-deltas": <a{sv}>}`.
pub fn delta_index_bytes(entries: &[(StaticDelta, Checksum)]) -> Vec<u8> {
    Value::vardict([("ostree.static-deltas".into(), deltas_dict(entries))]).to_bytes()
}

/// Rewrites `delta-indexes/`: one index per target commit listing every
/// delta that ends there; stale indexes are removed. Returns the deltas with
/// their superblock digests. Sets `core.indexed-deltas=true` in the config.
pub fn reindex_static_deltas(repo: &Repo) -> Result<Vec<(StaticDelta, Checksum)>, Error> {
    let mut with_digests = Vec::new();
    for d in list_static_deltas(repo)? {
        // A delta directory without a superblock is half-written or broken:
        // leave it out rather than advertise it.
        match d.superblock_digest(repo) {
            Ok(dig) => with_digests.push((d, dig)),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let mut by_to: BTreeMap<Checksum, Vec<(StaticDelta, Checksum)>> = BTreeMap::new();
    for (d, dig) in &with_digests {
        by_to.entry(d.to).or_default().push((*d, *dig));
    }
    let mut wanted = std::collections::HashSet::new();
    for (to, entries) in &by_to {
        let rel = delta_index_rel_path(to);
        let p = repo.path().join(&rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
        }
        write_atomic(&p, &delta_index_bytes(entries), 0o644, repo.fsync_enabled())?;
        wanted.insert(p);
    }
    // Remove indexes for targets that no longer have deltas.
    let base = repo.path().join("delta-indexes");
    if let Ok(rd) = std::fs::read_dir(&base) {
        for d in rd.filter_map(|e| e.ok()) {
            let Ok(inner) = std::fs::read_dir(d.path()) else { continue };
            for e in inner.filter_map(|e| e.ok()) {
                let p = e.path();
                let is_index = p.extension().is_some_and(|x| x == "index");
                if is_index && !wanted.contains(&p) {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
    if repo.config().get_bool("core", "indexed-deltas") != Some(Ok(true)) {
        crate::prune::set_core_config(repo, "indexed-deltas", "true")?;
    }
    Ok(with_digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_names_and_index() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/extras.json")).unwrap();
        let from = Checksum::from_hex("e50899a76f9ec7e2cfc3d5566b9679886080a927c40922822806366b4d34a7fe").unwrap();
        let to = Checksum::from_hex("a2953ea888b3a2fa279327a881602d96cce9607d112c8e8f7795687a09148c04").unwrap();
        let d1 = StaticDelta { from: Some(from), to };
        let d2 = StaticDelta { from: None, to };
        assert!(text.contains(&format!("\"{}\": \"{}\"", d1.name(), d1.rel_path())));
        assert!(text.contains(&format!("\"{}\": \"{}\"", d2.name(), d2.rel_path())));
        assert!(text.contains(&format!("\"delta_index_path\": \"{}\"", delta_index_rel_path(&to))));
        assert_eq!(StaticDelta::parse_name(&d1.name()), Some(d1));
        // The index lists both deltas with their superblock digests.
        let dig1 = Checksum::from_hex("d3139aa83b45c55cdd391d35b9d642cd45e0b36dea0e78c6c4a4333059ed8ada").unwrap();
        let dig2 = Checksum::from_hex("cf52e32f4165e57158ca95043bd153a25a458fc911fdecb8f4beac249c11da2f").unwrap();
        let bytes = delta_index_bytes(&[(d1, dig1), (d2, dig2)]);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert!(text.contains(&format!("\"delta_index_hex\": \"{hex}\"")));
    }
}
