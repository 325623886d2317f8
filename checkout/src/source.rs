//! Content objects as the checkout needs them, per repository mode: the
//! metadata (with as few system calls as the mode allows), the symlink
//! target, the xattrs and the payload, each fetched only when needed.
//!
//! * `bare`: one `fstatat` on the object gives mode, owner and size;
//! * `bare-user-only`: the same, with owner 0:0 and no xattrs;
//! * `bare-user`: `lgetxattr(user.ostreemeta)` plus `fstatat` (the logical
//!   mode decides symlink-ness and readability);
//! * `archive`: the `.filez` header, keeping the decoder open for the copy.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oxtree_store::object::{FileHeader, ObjectType, Xattrs, S_IFLNK, S_IFMT, S_IFREG};
use oxtree_store::repo::{read_xattrs, FileContent};
use oxtree_store::{Checksum, Repo, RepoMode};
use rustix::fs::{AtFlags, Mode, OFlags};

use crate::CheckoutError;

/// The longest symlink target read from a bare-user object.
const MAX_TARGET: u64 = 64 * 1024;

/// `XX/REST.file`: a content object's path below `objects/` (and below
/// `uncompressed-objects-cache/`), built without allocating.
pub(crate) struct LoosePath([u8; 2 + 1 + 62 + 5]);

impl LoosePath {
    /// The path of `csum`.
    pub fn new(csum: &Checksum) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes = csum.as_bytes();
        let mut b = [0u8; 70];
        b[0] = HEX[(bytes[0] >> 4) as usize];
        b[1] = HEX[(bytes[0] & 15) as usize];
        b[2] = b'/';
        let mut j = 3;
        for byte in &bytes[1..] {
            b[j] = HEX[(byte >> 4) as usize];
            b[j + 1] = HEX[(byte & 15) as usize];
            j += 2;
        }
        b[j..j + 5].copy_from_slice(b".file");
        LoosePath(b)
    }

    /// As a string.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The `XX` directory.
    pub fn dir(&self) -> &str {
        &self.as_str()[..2]
    }
}

/// A content object's metadata, and whatever of it is already loaded.
pub(crate) struct Obj {
    /// Full `st_mode` (logical).
    pub mode: u32,
    /// Owner (logical).
    pub uid: u32,
    /// Group (logical).
    pub gid: u32,
    /// Payload length (target length for symlinks).
    pub size: u64,
    /// The symlink target, once known.
    pub target: Option<String>,
    /// The xattrs, once known.
    pub xattrs: Option<Xattrs>,
    /// An open payload reader (archive mode).
    pub stream: Option<Box<dyn Read + Send>>,
}

impl Obj {
    /// True for symlinks.
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    fn from_header(h: FileHeader, size: u64, stream: Option<Box<dyn Read + Send>>) -> Obj {
        let symlink = h.is_symlink();
        Obj {
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            size,
            target: symlink.then_some(h.symlink_target),
            xattrs: Some(h.xattrs),
            stream,
        }
    }
}

/// A regular file's bytes.
pub(crate) enum Payload {
    /// The object file itself (bare modes): copied with `copy_file_range`.
    File(File),
    /// A decoded stream (archive).
    Stream(Box<dyn Read + Send>),
}

/// Access to the content objects of one repository.
pub(crate) struct Source<'r> {
    /// The repository.
    pub repo: &'r Repo,
    /// Its mode.
    pub mode: RepoMode,
    /// `objects/`, opened once.
    pub objects: OwnedFd,
}

fn bad(csum: &Checksum, msg: impl Into<String>) -> CheckoutError {
    CheckoutError::BadFileObject { checksum: *csum, msg: msg.into() }
}

impl<'r> Source<'r> {
    /// Opens `objects/` of `repo`.
    pub fn open(repo: &'r Repo) -> Result<Self, CheckoutError> {
        let p = repo.path().join("objects");
        let objects = rustix::fs::open(&p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| CheckoutError::io(p.clone(), "open", e))?;
        Ok(Source { repo, mode: repo.mode(), objects })
    }

    /// The loose object's path, for messages.
    pub fn path(&self, csum: &Checksum) -> PathBuf {
        self.repo.object_path(csum, ObjectType::File)
    }

    fn missing(&self, csum: &Checksum, e: rustix::io::Errno) -> CheckoutError {
        if e == rustix::io::Errno::NOENT {
            CheckoutError::Store(oxtree_store::Error::MissingObject { checksum: *csum, ty: ObjectType::File })
        } else {
            CheckoutError::io(self.path(csum), "fstatat", e)
        }
    }

    /// Loads the metadata of a content object.
    pub fn stat(&self, csum: &Checksum) -> Result<Obj, CheckoutError> {
        match self.mode {
            RepoMode::Bare | RepoMode::BareUserOnly => {
                let loose = LoosePath::new(csum);
                let st = rustix::fs::statat(&self.objects, loose.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| self.missing(csum, e))?;
                let fmt = st.st_mode & S_IFMT;
                if fmt != S_IFREG && fmt != S_IFLNK {
                    return Err(bad(csum, format!("not a regular file or symlink (mode {:o})", st.st_mode)));
                }
                let user_only = self.mode == RepoMode::BareUserOnly;
                Ok(Obj {
                    mode: st.st_mode,
                    uid: if user_only { 0 } else { st.st_uid },
                    gid: if user_only { 0 } else { st.st_gid },
                    size: st.st_size.max(0) as u64,
                    target: None,
                    xattrs: (user_only || self.repo.xattrs_disabled()).then(Xattrs::new),
                    stream: None,
                })
            }
            RepoMode::BareUser => {
                let loose = LoosePath::new(csum);
                let st = rustix::fs::statat(&self.objects, loose.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| self.missing(csum, e))?;
                if st.st_mode & S_IFMT != S_IFREG {
                    return Err(bad(csum, "bare-user object is not a regular file"));
                }
                let path = self.path(csum);
                let meta = get_xattr(&path, "user.ostreemeta")
                    .map_err(|e| CheckoutError::io(path.clone(), "lgetxattr(user.ostreemeta)", e))?
                    .ok_or_else(|| bad(csum, "no user.ostreemeta xattr"))?;
                let h = FileHeader::parse_ostreemeta(&meta).map_err(|e| bad(csum, e.to_string()))?;
                let fmt = h.mode & S_IFMT;
                if (fmt != S_IFREG && fmt != S_IFLNK) || h.mode & !(S_IFMT | 0o7777) != 0 {
                    return Err(bad(csum, format!("invalid file mode {:o}", h.mode)));
                }
                let size = st.st_size.max(0) as u64;
                let mut obj = Obj::from_header(h, size, None);
                if self.repo.xattrs_disabled() {
                    obj.xattrs = Some(Xattrs::new());
                }
                if fmt == S_IFLNK {
                    let t = self.read_target(csum)?;
                    obj.size = t.len() as u64;
                    obj.target = Some(t);
                }
                Ok(obj)
            }
            RepoMode::Archive => {
                let fo = self.repo.open_file(csum)?;
                fo.header.validate().map_err(|e| bad(csum, e.to_string()))?;
                let stream = match fo.content {
                    FileContent::Regular(r) => Some(r),
                    FileContent::Symlink => None,
                };
                let mut obj = Obj::from_header(fo.header, fo.size, stream);
                if self.repo.xattrs_disabled() {
                    obj.xattrs = Some(Xattrs::new());
                }
                Ok(obj)
            }
        }
    }

    /// A bare-user symlink's target: the content up to the first NUL.
    fn read_target(&self, csum: &Checksum) -> Result<String, CheckoutError> {
        let f = self.open_object(csum)?;
        let mut buf = Vec::new();
        f.take(MAX_TARGET).read_to_end(&mut buf).map_err(|e| CheckoutError::io(self.path(csum), "read", e))?;
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        buf.truncate(end);
        String::from_utf8(buf).map_err(|_| bad(csum, "symlink target is not UTF-8"))
    }

    fn open_object(&self, csum: &Checksum) -> Result<File, CheckoutError> {
        let loose = LoosePath::new(csum);
        let fd = rustix::fs::openat(
            &self.objects,
            loose.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| CheckoutError::io(self.path(csum), "openat", e))?;
        Ok(File::from(fd))
    }

    /// The symlink target (loaded on first use).
    pub fn target<'o>(&self, csum: &Checksum, obj: &'o mut Obj) -> Result<&'o str, CheckoutError> {
        if obj.target.is_none() {
            let loose = LoosePath::new(csum);
            let t = rustix::fs::readlinkat(&self.objects, loose.as_str(), Vec::new())
                .map_err(|e| CheckoutError::io(self.path(csum), "readlinkat", e))?;
            let t = t.into_string().map_err(|_| bad(csum, "symlink target is not UTF-8"))?;
            obj.target = Some(t);
        }
        Ok(obj.target.as_deref().unwrap_or(""))
    }

    /// The xattrs (loaded on first use).
    pub fn xattrs<'o>(&self, csum: &Checksum, obj: &'o mut Obj) -> Result<&'o Xattrs, CheckoutError> {
        if obj.xattrs.is_none() {
            obj.xattrs = Some(read_xattrs(&self.path(csum))?);
        }
        Ok(obj.xattrs.get_or_insert_with(Xattrs::new))
    }

    /// The payload of a regular file.
    pub fn payload(&self, csum: &Checksum, obj: &mut Obj) -> Result<Payload, CheckoutError> {
        if let Some(s) = obj.stream.take() {
            return Ok(Payload::Stream(s));
        }
        match self.mode {
            RepoMode::Archive => match self.repo.open_file(csum)?.content {
                FileContent::Regular(r) => Ok(Payload::Stream(r)),
                FileContent::Symlink => Err(bad(csum, "expected a regular file, found a symlink")),
            },
            _ => Ok(Payload::File(self.open_object(csum)?)),
        }
    }
}

/// Reads one xattr of a path without following a final symlink.
pub(crate) fn get_xattr(path: &std::path::Path, name: &str) -> std::io::Result<Option<Vec<u8>>> {
    let mut val = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(path, name, &mut val[..]) {
            Ok(n) => {
                val.truncate(n);
                return Ok(Some(val));
            }
            Err(e) if e == rustix::io::Errno::RANGE => {
                let need = rustix::fs::lgetxattr(path, name, &mut [0u8; 0][..])?;
                if need > 1 << 20 {
                    return Err(rustix::io::Errno::TOOBIG.into());
                }
                val.resize(need.max(val.len() * 2), 0);
            }
            Err(e) if e == rustix::io::Errno::NODATA => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_path_matches_the_store() {
        for seed in [0u8, 0x5a, 0xff] {
            let c = Checksum::digest(&[seed; 3]);
            let store = oxtree_store::object::loose_path(&c, ObjectType::File, false);
            assert_eq!(format!("objects/{}", LoosePath::new(&c).as_str()), store);
            assert_eq!(LoosePath::new(&c).dir(), &c.to_hex()[..2]);
        }
    }
}
