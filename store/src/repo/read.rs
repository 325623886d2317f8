//! Reading objects in every mode.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use crate::object::{Commit, CommitMetadata, DirMeta, DirTree, FileHeader, ObjectType, Xattrs, S_IFLNK, S_IFMT};
use crate::Checksum;

use super::filez::{FilezReader, OpenError};
use super::fsutil::{fget_xattr, io_err, read_xattrs};
use super::{Error, Repo, RepoMode};

/// The payload of a content object.
pub enum FileContent {
    /// A symlink: no payload.
    Symlink,
    /// A regular file's bytes.
    Regular(Box<dyn Read + Send>),
}

impl std::fmt::Debug for FileContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileContent::Symlink => f.write_str("Symlink"),
            FileContent::Regular(_) => f.write_str("Regular(..)"),
        }
    }
}

/// A content object opened for reading.
#[derive(Debug)]
pub struct FileObject {
    /// Logical metadata.
    pub header: FileHeader,
    /// Payload length (the target's length for a symlink).
    pub size: u64,
    /// The payload.
    pub content: FileContent,
}

impl FileObject {
    /// Opens the `.filez` object `csum` (the `archive` form, as servers
    /// hold it) from `file`, which `path` names in errors: the header is
    /// parsed now, the payload inflated as it is read.
    pub fn from_filez(file: File, csum: &Checksum, path: &std::path::Path) -> Result<FileObject, Error> {
        Self::open_filez(file, csum, path)
    }

    /// Opens the `.filez` object `csum` held in memory (a download small
    /// enough not to be spooled to disk); `name` (its URL, say) names it
    /// in errors.
    pub fn from_filez_bytes(bytes: Vec<u8>, csum: &Checksum, name: &str) -> Result<FileObject, Error> {
        Self::open_filez(std::io::Cursor::new(bytes), csum, std::path::Path::new(name))
    }

    fn open_filez<R: super::filez::Input + Send + 'static>(
        input: R,
        csum: &Checksum,
        path: &std::path::Path,
    ) -> Result<FileObject, Error> {
        let (header, size, reader) = FilezReader::open(input).map_err(|e| match e {
            OpenError::Io(e) => io_err(path)(e),
            OpenError::Bad(e) => Error::BadObject { checksum: *csum, ty: ObjectType::File, source: e },
        })?;
        if header.is_symlink() {
            let size = header.symlink_target.len() as u64;
            return Ok(FileObject { header, size, content: FileContent::Symlink });
        }
        Ok(FileObject { header, size, content: FileContent::Regular(Box::new(reader)) })
    }
}

impl Repo {
    /// Reads a metadata object's bytes (not verified against the name).
    pub fn read_metadata(&self, ty: ObjectType, csum: &Checksum) -> Result<Vec<u8>, Error> {
        let p = self.object_path(csum, ty);
        match std::fs::read(&p) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => match self.parent_repo() {
                Some(parent) => parent.read_metadata(ty, csum),
                None => Err(Error::MissingObject { checksum: *csum, ty }),
            },
            Err(e) => Err(io_err(p)(e)),
        }
    }

    /// Loads and parses a commit.
    pub fn load_commit(&self, csum: &Checksum) -> Result<Commit, Error> {
        let b = self.read_metadata(ObjectType::Commit, csum)?;
        Commit::from_bytes(&b).map_err(Error::bad_object(*csum, ObjectType::Commit))
    }

    /// Loads and parses a dirtree.
    pub fn load_dirtree(&self, csum: &Checksum) -> Result<DirTree, Error> {
        let b = self.read_metadata(ObjectType::DirTree, csum)?;
        DirTree::from_bytes(&b).map_err(Error::bad_object(*csum, ObjectType::DirTree))
    }

    /// Loads and parses a dirmeta.
    pub fn load_dirmeta(&self, csum: &Checksum) -> Result<DirMeta, Error> {
        let b = self.read_metadata(ObjectType::DirMeta, csum)?;
        DirMeta::from_bytes(&b).map_err(Error::bad_object(*csum, ObjectType::DirMeta))
    }

    /// Loads a commit's detached metadata, if it has any.
    pub fn load_commitmeta(&self, commit: &Checksum) -> Result<Option<CommitMetadata>, Error> {
        match self.read_metadata(ObjectType::CommitMeta, commit) {
            Ok(b) => {
                CommitMetadata::from_bytes(&b).map(Some).map_err(Error::bad_object(*commit, ObjectType::CommitMeta))
            }
            Err(Error::MissingObject { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens a content object, decoding the mode's storage format; objects
    /// missing here are looked up in the parent repository.
    pub fn open_file(&self, csum: &Checksum) -> Result<FileObject, Error> {
        match self.open_local_file(csum) {
            Err(Error::MissingObject { .. }) if self.parent_repo().is_some() => match self.parent_repo() {
                Some(parent) => parent.open_file(csum),
                None => Err(Error::MissingObject { checksum: *csum, ty: ObjectType::File }),
            },
            other => other,
        }
    }

    fn open_local_file(&self, csum: &Checksum) -> Result<FileObject, Error> {
        self.open_file_at(&self.object_path(csum, ObjectType::File), csum)
    }

    /// Opens the content object `csum` stored at `path` in this repo's mode
    /// (in `objects/`, or staged).
    pub(crate) fn open_file_at(&self, path: &std::path::Path, csum: &Checksum) -> Result<FileObject, Error> {
        let path = path.to_path_buf();
        let missing = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::MissingObject { checksum: *csum, ty: ObjectType::File }
            } else {
                io_err(&path)(e)
            }
        };
        let bad = |e: crate::object::ObjectError| Error::BadObject { checksum: *csum, ty: ObjectType::File, source: e };
        match self.mode() {
            RepoMode::Archive => FileObject::from_filez(File::open(&path).map_err(missing)?, csum, &path),
            RepoMode::BareUser => {
                let f = File::open(&path).map_err(missing)?;
                let meta = fget_xattr(&f, "user.ostreemeta")
                    .map_err(io_err(&path))?
                    .ok_or_else(|| bad(crate::object::ObjectError::Invalid("no user.ostreemeta xattr".into())))?;
                let mut header = FileHeader::parse_ostreemeta(&meta).map_err(bad)?;
                let st = f.metadata().map_err(io_err(&path))?;
                if header.mode & S_IFMT == S_IFLNK {
                    let mut content = Vec::new();
                    (&f).take(64 * 1024).read_to_end(&mut content).map_err(io_err(&path))?;
                    let end = content.iter().position(|&b| b == 0).unwrap_or(content.len());
                    content.truncate(end);
                    header.symlink_target = String::from_utf8(content)
                        .map_err(|_| bad(crate::object::ObjectError::Invalid("symlink target is not UTF-8".into())))?;
                    let size = header.symlink_target.len() as u64;
                    return Ok(FileObject { header, size, content: FileContent::Symlink });
                }
                Ok(FileObject { header, size: st.len(), content: FileContent::Regular(Box::new(f)) })
            }
            RepoMode::Bare | RepoMode::BareUserOnly => {
                let st = std::fs::symlink_metadata(&path).map_err(missing)?;
                let user_only = self.mode() == RepoMode::BareUserOnly;
                let xattrs = if user_only || self.xattrs_disabled() { Xattrs::new() } else { read_xattrs(&path)? };
                let mut header = FileHeader {
                    uid: if user_only { 0 } else { st.uid() },
                    gid: if user_only { 0 } else { st.gid() },
                    mode: st.mode(),
                    symlink_target: String::new(),
                    xattrs,
                };
                if st.file_type().is_symlink() {
                    let t = std::fs::read_link(&path).map_err(io_err(&path))?;
                    header.symlink_target = t
                        .into_os_string()
                        .into_string()
                        .map_err(|_| bad(crate::object::ObjectError::Invalid("symlink target is not UTF-8".into())))?;
                    let size = header.symlink_target.len() as u64;
                    return Ok(FileObject { header, size, content: FileContent::Symlink });
                }
                let f = File::open(&path).map_err(io_err(&path))?;
                Ok(FileObject { header, size: st.len(), content: FileContent::Regular(Box::new(f)) })
            }
        }
    }

    /// Reads a content object whole: header and payload.
    pub fn read_file(&self, csum: &Checksum) -> Result<(FileHeader, Vec<u8>), Error> {
        let obj = self.open_file(csum)?;
        let path = self.object_path(csum, ObjectType::File);
        let mut data = Vec::new();
        if let FileContent::Regular(mut r) = obj.content {
            r.read_to_end(&mut data).map_err(io_err(&path))?;
        }
        Ok((obj.header, data))
    }

    /// Recomputes a content object's checksum and compares it to its name.
    pub fn verify_file(&self, csum: &Checksum) -> Result<(), Error> {
        verify_object(self.open_file(csum)?, csum, &self.object_path(csum, ObjectType::File))
    }

    /// Reads a metadata object and checks its checksum.
    pub fn verify_metadata(&self, ty: ObjectType, csum: &Checksum) -> Result<Vec<u8>, Error> {
        let b = self.read_metadata(ty, csum)?;
        let actual = Checksum::digest(&b);
        if actual != *csum {
            return Err(Error::ChecksumMismatch { ty, expected: *csum, actual });
        }
        Ok(b)
    }
}

/// Recomputes the checksum of the opened content object `obj` (read from
/// `path`) and compares it to `csum`.
pub(crate) fn verify_object(obj: FileObject, csum: &Checksum, path: &std::path::Path) -> Result<(), Error> {
    obj.header.validate().map_err(Error::bad_object(*csum, ObjectType::File))?;
    let mut h = obj.header.hasher();
    if let FileContent::Regular(mut r) = obj.content {
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::BadObject {
                        checksum: *csum,
                        ty: ObjectType::File,
                        source: crate::object::ObjectError::Invalid(format!("{}: {e}", path.display())),
                    })
                }
            };
            h.update(&buf[..n]);
        }
    }
    let actual = h.finish();
    if actual != *csum {
        return Err(Error::ChecksumMismatch { ty: ObjectType::File, expected: *csum, actual });
    }
    Ok(())
}
