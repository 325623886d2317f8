//! `dirmeta` objects: `(uuua(ayay))`, a directory's uid, gid and mode (all
//! big-endian) and its xattrs.

use crate::gvariant::{Type, Value};

use super::{file::S_IFDIR, file::S_IFMT, ObjectError, Xattrs};

/// A directory's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirMeta {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Full `st_mode`, including `S_IFDIR`.
    pub mode: u32,
    /// Extended attributes.
    pub xattrs: Xattrs,
}

impl DirMeta {
    /// The GVariant type string.
    pub const TYPE: &'static str = "(uuua(ayay))";

    /// Serialises the object.
    pub fn to_bytes(&self) -> Vec<u8> {
        owner_mode_xattrs_bytes(self.uid, self.gid, self.mode, &self.xattrs)
    }

    /// Parses and validates a dirmeta object.
    pub fn from_bytes(data: &[u8]) -> Result<Self, ObjectError> {
        let (uid, gid, mode, xattrs) = parse_owner_mode_xattrs(data, "dirmeta")?;
        let meta = DirMeta { uid, gid, mode, xattrs };
        if meta.mode & S_IFMT != S_IFDIR || meta.mode & !(S_IFMT | 0o7777) != 0 {
            return Err(ObjectError::Invalid(format!("invalid directory mode {:o}", meta.mode)));
        }
        Ok(meta)
    }
}

/// `(uuua(ayay))`: uid, gid, mode (big-endian) and xattrs. The layout of
/// dirmeta objects and of bare-user's `user.ostreemeta`.
pub(crate) fn owner_mode_xattrs_bytes(uid: u32, gid: u32, mode: u32, xattrs: &Xattrs) -> Vec<u8> {
    Value::Tuple(vec![
        Value::Uint32(uid.to_be()),
        Value::Uint32(gid.to_be()),
        Value::Uint32(mode.to_be()),
        xattrs.to_value(),
    ])
    .to_bytes()
}

/// Reads `(uuua(ayay))`; `what` names the object kind in errors.
pub(crate) fn parse_owner_mode_xattrs(data: &[u8], what: &str) -> Result<(u32, u32, u32, Xattrs), ObjectError> {
    let v = Value::from_bytes(&Type::parse(DirMeta::TYPE)?, data)?;
    let bad = |w: &str| ObjectError::Invalid(format!("malformed {what}: {w}"));
    let t = v.as_tuple().ok_or_else(|| bad("not a tuple"))?;
    let u = |i: usize| t.get(i).and_then(Value::as_u32).map(u32::from_be).ok_or_else(|| bad("integer field"));
    Ok((u(0)?, u(1)?, u(2)?, Xattrs::from_value(t.get(3).ok_or_else(|| bad("xattrs"))?)?))
}
