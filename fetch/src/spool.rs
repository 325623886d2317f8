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

/// How much of the start of a download is kept to read the object's
/// header from.
const HEAD_MAX: usize = 64 * 1024;

/// The most a `.filez` whose start is `head` may hold, once `head` has its
/// whole header: the header, and the payload size it declares deflated
/// at worst (deflate's fixed codes take 9 bits for some bytes; a quarter
/// more and 64 KiB cover any encoder). `None` while the header is not in.
fn declared_limit(head: &[u8]) -> Option<u64> {
    let (_, size, used) = oxtree_store::object::FileHeader::parse_archive(head).ok()?;
    Some(used as u64 + size + size / 4 + 64 * 1024)
}

/// A content object being downloaded: in memory until it outgrows
/// [`SPILL_AT`], then in the file `path`. Once its header has arrived, a
/// download that grows past what the header declares fails: a hostile
/// server cannot fill the disk with one object.
pub(crate) struct Download<'p> {
    pub mem: Vec<u8>,
    pub file: Option<std::fs::File>,
    /// `path` was created (and is to be removed once the object is in).
    pub spilled: bool,
    pub path: &'p std::path::Path,
    /// The first bytes, until the header is in them.
    head: Vec<u8>,
    /// See [`declared_limit`].
    limit: Option<u64>,
    /// Bytes held.
    held: u64,
}

impl<'p> Download<'p> {
    /// A new download, spilling to `path` if it grows large.
    pub fn new(path: &'p std::path::Path) -> Self {
        Download { mem: Vec::new(), file: None, spilled: false, path, head: Vec::new(), limit: None, held: 0 }
    }

    /// Continues the partial download an earlier pull left at `path`.
    pub fn resume(path: &'p std::path::Path) -> std::io::Result<Self> {
        use std::io::Read;
        let mut file = std::fs::OpenOptions::new().read(true).append(true).open(path)?;
        let held = file.metadata()?.len();
        let mut head = Vec::new();
        (&mut file).take(HEAD_MAX as u64).read_to_end(&mut head)?;
        let limit = declared_limit(&head);
        Ok(Download { mem: Vec::new(), file: Some(file), spilled: true, path, head, limit, held })
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
        if self.limit.is_none() && self.head.len() < HEAD_MAX {
            let take = buf.len().min(HEAD_MAX - self.head.len());
            self.head.extend_from_slice(&buf[..take]);
            self.limit = declared_limit(&self.head);
        }
        if let Some(limit) = self.limit {
            if self.held + buf.len() as u64 > limit {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the object is larger than the {limit} bytes its header allows"),
                ));
            }
        }
        let n = self.append(buf)?;
        self.held += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Download<'_> {
    fn append(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::io::Write;
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
}

impl Spool for Download<'_> {
    fn held(&mut self) -> std::io::Result<u64> {
        Ok(self.held)
    }
    fn clear(&mut self) -> std::io::Result<()> {
        self.mem.clear();
        self.head.clear();
        self.limit = None;
        self.held = 0;
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
