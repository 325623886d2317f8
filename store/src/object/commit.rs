//! `commit` objects: `(a{sv}aya(say)sstayay)`: metadata, parent, related
//! objects, subject, body, timestamp (big-endian seconds), root dirtree and
//! root dirmeta checksums.

use std::borrow::Cow;

use crate::gvariant::{Type, Value};
use crate::Checksum;

use super::ObjectError;

/// Commit metadata: an `a{sv}` whose order is part of the checksum, so it is
/// kept as an ordered list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitMetadata(pub Vec<(String, Value<'static>)>);

impl CommitMetadata {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value<'static>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key`, replacing an earlier value in place or appending.
    pub fn set(&mut self, key: &str, value: Value<'static>) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `a{sv}` value.
    pub fn to_value(&self) -> Value<'_> {
        Value::vardict(self.0.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), v.reborrow())))
    }

    /// Serialises as a standalone `a{sv}` (detached metadata).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_value().to_bytes()
    }

    /// Reads an `a{sv}` value; keys must be non-empty.
    pub fn from_value(v: &Value<'_>) -> Result<Self, ObjectError> {
        let bad = |w: &str| ObjectError::Invalid(format!("malformed metadata: {w}"));
        let mut out = Vec::new();
        for e in v.as_array().ok_or_else(|| bad("not an array"))? {
            let Value::DictEntry(k, val) = e else {
                return Err(bad("not a dictionary"));
            };
            let key = k.as_str().ok_or_else(|| bad("key is not a string"))?;
            if key.is_empty() {
                return Err(bad("empty key"));
            }
            let inner = val.as_variant().ok_or_else(|| bad("value is not a variant"))?;
            out.push((key.to_string(), inner.clone().into_owned()));
        }
        Ok(CommitMetadata(out))
    }

    /// Parses standalone `a{sv}` bytes (a `.commitmeta` file; empty is valid).
    pub fn from_bytes(data: &[u8]) -> Result<Self, ObjectError> {
        let v = Value::from_bytes(&Type::parse("a{sv}")?, data)?;
        Self::from_value(&v)
    }
}

/// A commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Metadata, in order.
    pub metadata: CommitMetadata,
    /// The parent commit, if any.
    pub parent: Option<Checksum>,
    /// Related objects (name, commit); empty in practice.
    pub related: Vec<(String, Checksum)>,
    /// One-line subject.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// Seconds since the epoch, UTC.
    pub timestamp: u64,
    /// Root dirtree.
    pub root_tree: Checksum,
    /// Root dirmeta.
    pub root_meta: Checksum,
}

impl Commit {
    /// The GVariant type string.
    pub const TYPE: &'static str = "(a{sv}aya(say)sstayay)";

    /// Serialises the commit object.
    pub fn to_bytes(&self) -> Vec<u8> {
        let parent: &[u8] = match &self.parent {
            Some(p) => p.as_bytes(),
            None => &[],
        };
        Value::Tuple(vec![
            self.metadata.to_value(),
            Value::Bytes(Cow::Borrowed(parent)),
            Value::Array(
                Type::parse("(say)").unwrap_or(Type::Variant),
                self.related
                    .iter()
                    .map(|(n, c)| {
                        Value::Tuple(vec![Value::Str(Cow::Borrowed(n)), Value::Bytes(Cow::Borrowed(c.as_bytes()))])
                    })
                    .collect(),
            ),
            Value::Str(Cow::Borrowed(&self.subject)),
            Value::Str(Cow::Borrowed(&self.body)),
            Value::Uint64(self.timestamp.to_be()),
            Value::Bytes(Cow::Borrowed(self.root_tree.as_bytes())),
            Value::Bytes(Cow::Borrowed(self.root_meta.as_bytes())),
        ])
        .to_bytes()
    }

    /// Parses and validates a commit object.
    pub fn from_bytes(data: &[u8]) -> Result<Self, ObjectError> {
        Self::parse(Value::from_bytes(&Type::parse(Self::TYPE)?, data)?)
    }

    /// Like [`Commit::from_bytes`], and requires normal form.
    pub fn from_bytes_normal(data: &[u8]) -> Result<Self, ObjectError> {
        Self::parse(Value::from_bytes_normal(&Type::parse(Self::TYPE)?, data)?)
    }

    fn parse(v: Value<'_>) -> Result<Self, ObjectError> {
        let bad = |w: &str| ObjectError::Invalid(format!("malformed commit: {w}"));
        let t = v.as_tuple().ok_or_else(|| bad("not a tuple"))?;
        if t.len() != 8 {
            return Err(bad("wrong member count"));
        }
        let parent = t[1].as_bytes().ok_or_else(|| bad("parent"))?;
        let parent = if parent.is_empty() {
            None
        } else {
            Some(Checksum::from_slice(parent).map_err(|_| bad("parent checksum is not 32 bytes"))?)
        };
        let mut related = Vec::new();
        for r in t[2].as_array().ok_or_else(|| bad("related"))? {
            let m = r.as_tuple().ok_or_else(|| bad("related entry"))?;
            let name = m.first().and_then(Value::as_str).ok_or_else(|| bad("related name"))?;
            let c = m.get(1).and_then(Value::as_bytes).ok_or_else(|| bad("related checksum"))?;
            related.push((name.to_string(), Checksum::from_slice(c).map_err(|_| bad("related checksum"))?));
        }
        let csum = |i: usize, what: &str| {
            t[i].as_bytes()
                .and_then(|b| Checksum::from_slice(b).ok())
                .ok_or_else(|| bad(&format!("{what} checksum is not 32 bytes")))
        };
        Ok(Commit {
            metadata: CommitMetadata::from_value(&t[0])?,
            parent,
            related,
            subject: t[3].as_str().ok_or_else(|| bad("subject"))?.to_string(),
            body: t[4].as_str().ok_or_else(|| bad("body"))?.to_string(),
            timestamp: t[5].as_u64().map(u64::from_be).ok_or_else(|| bad("timestamp"))?,
            root_tree: csum(6, "root dirtree")?,
            root_meta: csum(7, "root dirmeta")?,
        })
    }

    /// The content checksum `ostree log` shows: SHA-256 of the raw root
    /// dirtree checksum followed by the raw root dirmeta checksum.
    pub fn content_checksum(&self) -> Checksum {
        let mut h = crate::checksum::Hasher::new();
        h.update(self.root_tree.as_bytes());
        h.update(self.root_meta.as_bytes());
        h.finish()
    }

    /// The refs the commit is bound to (`ostree.ref-binding`), if it says:
    /// a pull or fsck of another ref pointing at it is refused.
    pub fn ref_bindings(&self) -> Option<Vec<String>> {
        let v = self.metadata.get("ostree.ref-binding")?;
        Some(v.as_array().unwrap_or(&[]).iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
    }
}
