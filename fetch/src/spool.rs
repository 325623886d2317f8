//! Where a content object being downloaded waits: in memory while it is
//! small, in a file in the repo's `tmp/` once it is not, where a pull
//! that is cut short leaves it for the next one to continue with `Range`.

use std::collections::HashSet;

use oxtree_store::Checksum;

use crate::http::Spool;

/// Downloads larger than this go to a file in `tmp/` (where a pull that
/// is cut short finds them again); smaller ones stay in memory, which
/// saves creating, reading back and deleting a file per object.
pub(crate) const SPILL_AT: usize = 1 << 20;

/// A content object being downloaded: in memory until it outgrows
/// [`SPILL_AT`], then in the file `path`.
pub(crate) struct Download<'p> {
    pub mem: Vec<u8>,
    pub file: Option<std::fs::File>,
    /// `path` was created (and is to be removed once the object is in).
    pub spilled: bool,
    pub path: &'p std::path::Path,
}

impl<'p> Download<'p> {
    /// A new download, spilling to `path` if it grows large.
    pub fn new(path: &'p std::path::Path) -> Self {
        Download { mem: Vec::new(), file: None, spilled: false, path }
    }

    /// Continues the partial download an earlier pull left at `path`.
    pub fn resume(path: &'p std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().read(true).append(true).open(path)?;
        Ok(Download { mem: Vec::new(), file: Some(file), spilled: true, path })
    }

    /// Removes the file, if there is one: the object is stored, or what
    /// came is not worth continuing.
    pub fn discard(&self) {
        if self.spilled {
            let _ = std::fs::remove_file(self.path);
        }
    }
}

impl std::io::Write for Download<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.file.is_none() && self.mem.len() + buf.len() > SPILL_AT {
            let mut f =
                std::fs::OpenOptions::new().read(true).append(true).create(true).truncate(false).open(self.path)?;
            self.spilled = true;
            f.set_len(0)?;
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f.write(buf),
            None => {
                self.mem.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Spool for Download<'_> {
    fn held(&mut self) -> std::io::Result<u64> {
        match &mut self.file {
            Some(f) => f.held(),
            None => Ok(self.mem.len() as u64),
        }
    }
    fn clear(&mut self) -> std::io::Result<()> {
        self.mem.clear();
        match &mut self.file {
            Some(f) => f.clear(),
            None => Ok(()),
        }
    }
}

/// The content objects whose downloads an earlier pull left in `tmp/`.
pub(crate) fn partial_downloads(tmp: &std::path::Path) -> HashSet<Checksum> {
    let Ok(rd) = std::fs::read_dir(tmp) else { return HashSet::new() };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let hex = name.to_str()?.strip_prefix("oxtree-pull-")?.strip_suffix(".filez")?.to_string();
            Checksum::from_hex(&hex).ok()
        })
        .collect()
}
