//! Committing a tar stream (`ostree commit --tree=tar=FILE`).

use std::collections::HashMap;
use std::io::Read;

use crate::object::{DirMeta, ObjectType, Xattrs, S_IFDIR, S_IFLNK, S_IFREG};
use crate::repo::{Error, Transaction};
use crate::Checksum;

use super::{CommitFilter, MutableTree};

/// Stores every entry of a tar stream; returns the tree. Hard links point at
/// the content of their target; device nodes and FIFOs are refused.
pub fn write_tar(tx: &Transaction<'_>, reader: &mut dyn Read, filter: &CommitFilter) -> Result<MutableTree, Error> {
    let mode = tx.repo().mode();
    let default_meta = tx.write_metadata(
        ObjectType::DirMeta,
        &filter.dir_meta(mode, "/", (0, 0, S_IFDIR | 0o755), Xattrs::new()).to_bytes(),
    )?;
    let mut root = MutableTree { meta: Some(default_meta), ..Default::default() };
    let mut by_path: HashMap<String, Checksum> = HashMap::new();
    let terr = |e: std::io::Error| Error::Invalid(format!("reading tar stream: {e}"));
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(terr)? {
        let mut entry = entry.map_err(terr)?;
        let raw = entry.path().map_err(terr)?.to_string_lossy().into_owned();
        let in_tree = |e: Error| match e {
            Error::Invalid(m) => Error::Invalid(format!("tar entry {raw}: {m}")),
            e => e,
        };
        let parts: Vec<&str> = raw.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        let rel = format!("/{}", parts.join("/"));
        if filter.skip.contains(&rel) {
            continue;
        }
        let h = entry.header();
        let perm = h.mode().map_err(terr)? & 0o7777;
        let uid = h.uid().map_err(terr)? as u32;
        let gid = h.gid().map_err(terr)? as u32;
        let kind = h.entry_type();
        if parts.is_empty() {
            if kind.is_dir() {
                let dm = filter.dir_meta(mode, "/", (uid, gid, S_IFDIR | perm), Xattrs::new());
                root.meta = Some(tx.write_metadata(ObjectType::DirMeta, &dm.to_bytes())?);
            }
            continue;
        }
        let (name, dir_parts) = match parts.split_last() {
            Some((n, d)) => (*n, d),
            None => continue,
        };
        let parent = root.ensure_dir(dir_parts, default_meta).map_err(in_tree)?;
        if kind.is_dir() {
            let dm: DirMeta = filter.dir_meta(mode, &rel, (uid, gid, S_IFDIR | perm), Xattrs::new());
            let meta = tx.write_metadata(ObjectType::DirMeta, &dm.to_bytes())?;
            parent.ensure_dir(&[name], meta).map_err(in_tree)?.meta = Some(meta);
        } else if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(terr)?
                .ok_or_else(|| Error::Invalid(format!("tar entry {raw}: symlink without a target")))?
                .to_string_lossy()
                .into_owned();
            let header = filter.file_header(mode, &rel, (uid, gid, S_IFLNK | 0o777), target, Xattrs::new());
            let csum = tx.write_file_bytes(&header, b"")?;
            parent.put_file(name, csum).map_err(in_tree)?;
            by_path.insert(rel, csum);
        } else if kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(terr)?
                .ok_or_else(|| Error::Invalid(format!("tar entry {raw}: hard link without a target")))?
                .to_string_lossy()
                .into_owned();
            let tparts: Vec<&str> = target.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
            let trel = format!("/{}", tparts.join("/"));
            let csum = *by_path.get(&trel).ok_or_else(|| {
                Error::Invalid(format!("tar entry {raw}: hard link to {target}, which is not in the archive before it"))
            })?;
            let parent = root.ensure_dir(dir_parts, default_meta).map_err(in_tree)?;
            parent.put_file(name, csum).map_err(in_tree)?;
            by_path.insert(rel, csum);
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = entry.size();
            let header = filter.file_header(mode, &rel, (uid, gid, S_IFREG | perm), String::new(), Xattrs::new());
            let csum = tx.write_file(&header, &mut entry, size)?;
            let parent = root.ensure_dir(dir_parts, default_meta).map_err(in_tree)?;
            parent.put_file(name, csum).map_err(in_tree)?;
            by_path.insert(rel, csum);
        } else if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            continue;
        } else {
            return Err(Error::Invalid(format!(
                "tar entry {raw}: unsupported type (only files, directories and links can be committed)"
            )));
        }
    }
    Ok(root)
}
