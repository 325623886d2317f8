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
        Value::Tuple(vec![
            Value::Uint32(self.uid.to_be()),
            Value::Uint32(self.gid.to_be()),
            Value::Uint32(self.mode.to_be()),
            self.xattrs.to_value(),
        ])
        .to_bytes()
    }

    /// Parses and validates a dirmeta object.
    pub fn from_bytes(data: &[u8]) -> Result<Self, ObjectError> {
        let ty = Type::parse(Self::TYPE)?;
        let v = Value::from_bytes(&ty, data)?;
        let t = v.as_tuple().unwrap_or(&[]);
        let field = |i: usize| t.get(i).and_then(Value::as_u32).map(u32::from_be).unwrap_or(0);
        let meta = DirMeta {
            uid: field(0),
            gid: field(1),
            mode: field(2),
            xattrs: Xattrs::from_value(t.get(3).ok_or_else(|| ObjectError::Invalid("dirmeta lacks xattrs".into()))?)?,
        };
        if meta.mode & S_IFMT != S_IFDIR || meta.mode & !(S_IFMT | 0o7777) != 0 {
            return Err(ObjectError::Invalid(format!("invalid directory mode {:o}", meta.mode)));
        }
        Ok(meta)
    }
}
