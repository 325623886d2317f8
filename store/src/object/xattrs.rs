//! Extended attributes as OSTree stores them: `a(ayay)`, names with a
//! trailing NUL, values raw, sorted by name.

use std::borrow::Cow;

use crate::gvariant::{Type, Value};

use super::ObjectError;

/// A sorted set of extended attributes (names without their NUL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Xattrs(Vec<(Vec<u8>, Vec<u8>)>);

impl Xattrs {
    /// No xattrs.
    pub fn new() -> Self {
        Xattrs(Vec::new())
    }

    /// Builds a set from pairs; sorts by name and drops zero-length values,
    /// as OSTree does for xattrs read from the file system.
    pub fn from_pairs(mut pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        pairs.retain(|(n, v)| !n.is_empty() && !v.is_empty());
        pairs.sort();
        pairs.dedup_by(|a, b| a.0 == b.0);
        Xattrs(pairs)
    }

    /// The (name, value) pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of xattrs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    pub(crate) fn elem_type() -> Type {
        Type::Tuple(vec![Type::array_of(Type::Byte), Type::array_of(Type::Byte)])
    }

    /// The `a(ayay)` value.
    pub fn to_value(&self) -> Value<'_> {
        Value::Array(
            Self::elem_type(),
            self.0
                .iter()
                .map(|(n, v)| {
                    let mut name = Vec::with_capacity(n.len() + 1);
                    name.extend_from_slice(n);
                    name.push(0);
                    Value::Tuple(vec![Value::Bytes(Cow::Owned(name)), Value::Bytes(Cow::Borrowed(v))])
                })
                .collect(),
        )
    }

    /// Reads an `a(ayay)` value. Names must be NUL-terminated and non-empty.
    /// The result is sorted (as current OSTree does before checksumming).
    pub fn from_value(v: &Value<'_>) -> Result<Self, ObjectError> {
        let items = v.as_array().ok_or_else(|| ObjectError::Invalid("xattrs are not an array".into()))?;
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            let t = it.as_tuple().unwrap_or(&[]);
            let (Some(n), Some(val)) = (t.first().and_then(Value::as_bytes), t.get(1).and_then(Value::as_bytes)) else {
                return Err(ObjectError::Invalid("malformed xattr entry".into()));
            };
            let name = match n.split_last() {
                Some((0, name)) if !name.is_empty() && !name.contains(&0) => name,
                _ => return Err(ObjectError::Invalid("xattr name is not a NUL-terminated string".into())),
            };
            out.push((name.to_vec(), val.to_vec()));
        }
        out.sort();
        Ok(Xattrs(out))
    }
}
