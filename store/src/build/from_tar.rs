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
    let mut import = TarImport {
        tx,
        filter,
        default_meta,
        root: MutableTree { meta: Some(default_meta), ..Default::default() },
        by_path: HashMap::new(),
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(tar_error)? {
        let mut entry = entry.map_err(tar_error)?;
        let raw = entry.path().map_err(tar_error)?.to_string_lossy().into_owned();
        // Every refusal names the member, whichever step found it.
        import.add(&mut entry, &raw).map_err(|e| match e {
            Error::Invalid(m) => Error::Invalid(format!("tar entry {raw}: {m}")),
            e => e,
        })?;
    }
    Ok(import.root)
}

fn tar_error(e: std::io::Error) -> Error {
    Error::Invalid(format!("reading tar stream: {e}"))
}

/// A member's path as the tree sees it: components without `.` or empty ones.
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

/// The tree built so far, and what a later hard link can point at.
struct TarImport<'a, 't> {
    tx: &'a Transaction<'t>,
    filter: &'a CommitFilter,
    default_meta: Checksum,
    root: MutableTree,
    /// Content of every file and symlink stored so far, by `/`-rooted path.
    by_path: HashMap<String, Checksum>,
}

impl TarImport<'_, '_> {
    /// Stores one member whose path is `raw` and puts it in the tree.
    fn add<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, raw: &str) -> Result<(), Error> {
        let (tx, filter, mode) = (self.tx, self.filter, self.tx.repo().mode());
        let parts = components(raw);
        let rel = format!("/{}", parts.join("/"));
        if filter.skip.contains(&rel) {
            return Ok(());
        }
        let h = entry.header();
        let perm = h.mode().map_err(tar_error)? & 0o7777;
        let uid = h.uid().map_err(tar_error)? as u32;
        let gid = h.gid().map_err(tar_error)? as u32;
        let kind = h.entry_type();
        let Some((name, dir_parts)) = parts.split_last() else {
            if kind.is_dir() {
                let dm = filter.dir_meta(mode, "/", (uid, gid, S_IFDIR | perm), Xattrs::new());
                self.root.meta = Some(tx.write_metadata(ObjectType::DirMeta, &dm.to_bytes())?);
            }
            return Ok(());
        };
        let link_target = |entry: &tar::Entry<'_, R>, what: &str| -> Result<String, Error> {
            Ok(entry
                .link_name()
                .map_err(tar_error)?
                .ok_or_else(|| Error::Invalid(format!("{what} without a target")))?
                .to_string_lossy()
                .into_owned())
        };
        let parent = self.root.ensure_dir(dir_parts, self.default_meta)?;
        let csum = if kind.is_dir() {
            let dm: DirMeta = filter.dir_meta(mode, &rel, (uid, gid, S_IFDIR | perm), Xattrs::new());
            let meta = tx.write_metadata(ObjectType::DirMeta, &dm.to_bytes())?;
            parent.ensure_dir(&[name], meta)?.meta = Some(meta);
            return Ok(());
        } else if kind.is_symlink() {
            let target = link_target(entry, "symlink")?;
            let header = filter.file_header(mode, &rel, (uid, gid, S_IFLNK | 0o777), target, Xattrs::new());
            tx.write_file_bytes(&header, b"")?
        } else if kind.is_hard_link() {
            let target = link_target(entry, "hard link")?;
            let trel = format!("/{}", components(&target).join("/"));
            *self.by_path.get(&trel).ok_or_else(|| {
                Error::Invalid(format!("hard link to {target}, which is not in the archive before it"))
            })?
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let size = entry.size();
            let header = filter.file_header(mode, &rel, (uid, gid, S_IFREG | perm), String::new(), Xattrs::new());
            tx.write_file(&header, entry, size)?
        } else if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            return Ok(());
        } else {
            return Err(Error::Invalid("unsupported type (only files, directories and links can be committed)".into()));
        };
        parent.put_file(name, csum)?;
        self.by_path.insert(rel, csum);
        Ok(())
    }
}
