//! Content ("file") objects.
//!
//! The checksum of a content object is SHA-256 over the *content stream*:
//!
//! ```text
//! BE32(len(H)) ‖ 00 00 00 00 ‖ H ‖ payload
//! ```
//!
//! where `H` is the file header `(uuuusa(ayay))`: uid, gid, mode (all
//! big-endian), rdev (always 0), the symlink target (empty for regular
//! files) and the sorted xattrs. The payload is the file's bytes, or
//! nothing for a symlink. Each repo mode stores the object differently:
//!
//! * archive (`.filez`): `BE32(len(H')) ‖ 0000 ‖ H' ‖ raw-deflate(payload)`
//!   with `H' = (tuuuusa(ayay))`, the first member the big-endian size;
//! * bare-user: a regular file with the payload (a symlink's target plus a
//!   NUL) and the metadata in the xattr `user.ostreemeta` as `(uuua(ayay))`;
//! * bare and bare-user-only: a real file or symlink.

use std::borrow::Cow;

use crate::checksum::Hasher;
use crate::gvariant::{Type, Value};
use crate::Checksum;

use super::{ObjectError, Xattrs};

/// File type mask of `st_mode`.
pub const S_IFMT: u32 = 0o170000;
/// Regular file.
pub const S_IFREG: u32 = 0o100000;
/// Symbolic link.
pub const S_IFLNK: u32 = 0o120000;
/// Directory.
pub const S_IFDIR: u32 = 0o040000;

/// The metadata of a content object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileHeader {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Full `st_mode`: `S_IFREG` or `S_IFLNK` plus permission bits.
    pub mode: u32,
    /// Symlink target; empty for regular files.
    pub symlink_target: String,
    /// Extended attributes.
    pub xattrs: Xattrs,
}

impl FileHeader {
    /// The header's GVariant type.
    pub const TYPE: &'static str = "(uuuusa(ayay))";
    /// The archive header's GVariant type.
    pub const ARCHIVE_TYPE: &'static str = "(tuuuusa(ayay))";
    /// The bare-user `user.ostreemeta` GVariant type.
    pub const OSTREEMETA_TYPE: &'static str = "(uuua(ayay))";

    /// True for symlinks.
    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    /// True for regular files.
    pub fn is_regular(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }

    /// Checks the rules fsck applies: a regular file or symlink with only
    /// permission bits besides the type, and a target exactly for symlinks.
    pub fn validate(&self) -> Result<(), ObjectError> {
        let fmt = self.mode & S_IFMT;
        if (fmt != S_IFREG && fmt != S_IFLNK) || self.mode & !(S_IFMT | 0o7777) != 0 {
            return Err(ObjectError::Invalid(format!("invalid file mode {:o}", self.mode)));
        }
        if fmt == S_IFLNK && self.symlink_target.is_empty() {
            return Err(ObjectError::Invalid("symlink with an empty target".into()));
        }
        if fmt == S_IFREG && !self.symlink_target.is_empty() {
            return Err(ObjectError::Invalid("regular file with a symlink target".into()));
        }
        Ok(())
    }

    fn header_value(&self, size: Option<u64>) -> Value<'_> {
        let mut m = Vec::with_capacity(7);
        if let Some(size) = size {
            m.push(Value::Uint64(size.to_be()));
        }
        m.extend([
            Value::Uint32(self.uid.to_be()),
            Value::Uint32(self.gid.to_be()),
            Value::Uint32(self.mode.to_be()),
            Value::Uint32(0),
            Value::Str(Cow::Borrowed(&self.symlink_target)),
            self.xattrs.to_value(),
        ]);
        Value::Tuple(m)
    }

    fn with_prefix(header: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::with_capacity(header.len() + 8);
        out.extend_from_slice(&(header.len() as u32).to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&header);
        out
    }

    /// The start of the content stream: length prefix, padding and header.
    pub fn stream_prefix(&self) -> Vec<u8> {
        Self::with_prefix(self.header_value(None).to_bytes())
    }

    /// The start of an archive `.filez` object: prefix and `(tuuuusa(ayay))`.
    /// `size` is the payload length (0 for symlinks, as OSTree writes).
    pub fn archive_prefix(&self, size: u64) -> Vec<u8> {
        Self::with_prefix(self.header_value(Some(size)).to_bytes())
    }

    /// The bare-user `user.ostreemeta` value.
    pub fn ostreemeta(&self) -> Vec<u8> {
        super::dirmeta::owner_mode_xattrs_bytes(self.uid, self.gid, self.mode, &self.xattrs)
    }

    /// A hasher already fed with the stream prefix; feed it the payload.
    pub fn hasher(&self) -> Hasher {
        let mut h = Hasher::new();
        h.update(&self.stream_prefix());
        h
    }

    /// The object checksum of this header with an in-memory payload.
    pub fn checksum(&self, payload: &[u8]) -> Checksum {
        let mut h = self.hasher();
        h.update(payload);
        h.finish()
    }

    /// Parses the start of a `.filez` object. Returns the header, the
    /// recorded size and the offset where the deflate stream begins.
    pub fn parse_archive(data: &[u8]) -> Result<(FileHeader, u64, usize), ObjectError> {
        let bad = |w: &str| ObjectError::Invalid(format!("malformed archive file header: {w}"));
        if data.len() < 8 {
            return Err(bad("shorter than 8 bytes"));
        }
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let end =
            8usize.checked_add(len).filter(|e| *e <= data.len()).ok_or_else(|| bad("header length past the end"))?;
        let v = Value::from_bytes(&Type::parse(Self::ARCHIVE_TYPE)?, &data[8..end])?;
        let t = v.as_tuple().ok_or_else(|| bad("not a tuple"))?;
        let size = t.first().and_then(Value::as_u64).map(u64::from_be).ok_or_else(|| bad("size"))?;
        let hdr = Self::from_members(&t[1..])?;
        Ok((hdr, size, end))
    }

    /// Parses a plain `(uuuusa(ayay))` header (no prefix).
    pub fn parse_header(data: &[u8]) -> Result<FileHeader, ObjectError> {
        let v = Value::from_bytes(&Type::parse(Self::TYPE)?, data)?;
        let t = v.as_tuple().ok_or_else(|| ObjectError::Invalid("file header".into()))?;
        Self::from_members(t)
    }

    fn from_members(t: &[Value<'_>]) -> Result<FileHeader, ObjectError> {
        let bad = |w: &str| ObjectError::Invalid(format!("malformed file header: {w}"));
        let u = |i: usize| t.get(i).and_then(Value::as_u32).map(u32::from_be).ok_or_else(|| bad("integer field"));
        let rdev = u(3)?;
        if rdev != 0 {
            return Err(bad("rdev is not 0"));
        }
        Ok(FileHeader {
            uid: u(0)?,
            gid: u(1)?,
            mode: u(2)?,
            symlink_target: t.get(4).and_then(Value::as_str).ok_or_else(|| bad("symlink target"))?.to_string(),
            xattrs: Xattrs::from_value(t.get(5).ok_or_else(|| bad("xattrs"))?)?,
        })
    }

    /// Parses a bare-user `user.ostreemeta` value; the symlink target is
    /// left empty (it is the object file's content).
    pub fn parse_ostreemeta(data: &[u8]) -> Result<FileHeader, ObjectError> {
        let (uid, gid, mode, xattrs) = super::dirmeta::parse_owner_mode_xattrs(data, "user.ostreemeta")?;
        Ok(FileHeader { uid, gid, mode, symlink_target: String::new(), xattrs })
    }
}
