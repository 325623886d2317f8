//! The devino cache (`commit --link-checkout-speedup`): a map from
//! (device, inode) to content checksum, so that committing a tree made by a
//! hardlink checkout does not read or hash the files again.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use crate::object::ObjectType;
use crate::repo::{Error, Repo, RepoMode};
use crate::Checksum;

/// (st_dev, st_ino) to the content object stored at that inode.
pub type DevinoCache = HashMap<(u64, u64), Checksum>;

/// Scans the repository's loose content objects (and, for archive repos,
/// the `uncompressed-objects-cache`) into a devino cache.
pub fn devino_cache(repo: &Repo) -> Result<DevinoCache, Error> {
    let mut map = DevinoCache::new();
    let base = match repo.mode() {
        RepoMode::Archive => repo.path().join("uncompressed-objects-cache"),
        _ => repo.path().join("objects"),
    };
    let Ok(rd) = std::fs::read_dir(&base) else { return Ok(map) };
    for d in rd.filter_map(|e| e.ok()) {
        let prefix = d.file_name().to_string_lossy().into_owned();
        if prefix.len() != 2 {
            continue;
        }
        let Ok(rd) = std::fs::read_dir(d.path()) else { continue };
        for e in rd.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_suffix(".file") else { continue };
            let Ok(c) = Checksum::from_hex(&format!("{prefix}{rest}")) else { continue };
            if let Ok(md) = e.metadata() {
                if md.file_type().is_file() {
                    map.insert((md.dev(), md.ino()), c);
                }
            }
        }
    }
    let _ = ObjectType::File;
    Ok(map)
}
