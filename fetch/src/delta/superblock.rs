//! The delta superblock: what a static delta contains and where.
//!
//! A superblock is the GVariant
//! `(a{sv} t ay ay (a{sv}aya(say)sstayay) ay a(uayttay) a(yaytt))`:
//! metadata, generation time (always big-endian), the FROM checksum (empty
//! from scratch), the TO checksum, the whole TO commit object, an unused
//! "recurse" list, one header per part (version, SHA-256 of the part file,
//! compressed and uncompressed size, and the objects the part creates as
//! 33-byte `[type][checksum]` records) and the fallback objects fetched
//! one by one. The sizes in part headers and fallbacks are in the delta's
//! byte order, which the metadata key `ostree.endianness` names (`'l'` or
//! `'B'`); deltas older than that key are guessed at, as OSTree does.
//!
//! Metadata keys, in the order OSTree writes them: caller-supplied keys,
//! `ostree.endianness`, then for inline deltas `deltas/DIR/N` holding each
//! part's bytes as `v` of `(yay)`, then `deltas/DIR/commitmeta` with the
//! TO commit's detached metadata if it had any.

use std::borrow::Cow;

use oxtree_store::gvariant::{Type, Value};
use oxtree_store::object::{Commit, CommitMetadata, ObjectType};
use oxtree_store::Checksum;

use super::DeltaError;

/// The superblock's GVariant type.
pub const SUPERBLOCK_TYPE: &str = "(a{sv}tayay(a{sv}aya(say)sstayay)aya(uayttay)a(yaytt))";
/// A signed superblock: magic, the unsigned superblock's bytes, signatures.
pub const SIGNED_TYPE: &str = "(taya{sv})";
/// The magic of a signed superblock: the bytes `OSTSGNDT` as a big-endian
/// `t`.
pub const SIGNED_MAGIC: u64 = 0x4F53_5453_474E_4454;
/// Metadata key naming the byte order of the sizes.
pub const ENDIANNESS_KEY: &str = "ostree.endianness";

/// Byte order of a delta's part headers and fallback sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endianness {
    /// `'l'`.
    Little,
    /// `'B'`.
    Big,
}

impl Endianness {
    /// This machine's order.
    pub fn host() -> Endianness {
        if cfg!(target_endian = "big") {
            Endianness::Big
        } else {
            Endianness::Little
        }
    }

    /// The other order.
    pub fn swapped(self) -> Endianness {
        match self {
            Endianness::Little => Endianness::Big,
            Endianness::Big => Endianness::Little,
        }
    }

    /// The `ostree.endianness` byte.
    pub fn byte(self) -> u8 {
        match self {
            Endianness::Little => b'l',
            Endianness::Big => b'B',
        }
    }

    /// What `static-delta show` prints.
    pub fn name(self) -> &'static str {
        match self {
            Endianness::Little => "little",
            Endianness::Big => "big",
        }
    }

    /// `v` as stored (read natively) to its value.
    fn decode64(self, v: u64) -> u64 {
        if self == Endianness::host() {
            v
        } else {
            v.swap_bytes()
        }
    }

    fn decode32(self, v: u32) -> u32 {
        if self == Endianness::host() {
            v
        } else {
            v.swap_bytes()
        }
    }
}

/// One part as the superblock describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeader {
    /// Format version; 0 is the only one there is.
    pub version: u32,
    /// SHA-256 of the part file (its compression byte included).
    pub checksum: Checksum,
    /// Size of the part file.
    pub size: u64,
    /// Sum of the sizes of the objects it creates.
    pub usize: u64,
    /// The objects it creates, in the order its program makes them.
    pub objects: Vec<(ObjectType, Checksum)>,
}

/// An object the client fetches on its own rather than from a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// Its type (content, in practice).
    pub ty: ObjectType,
    /// Its checksum.
    pub checksum: Checksum,
    /// Size of its `.filez`.
    pub size: u64,
    /// Size of its data.
    pub usize: u64,
}

/// How the byte order was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndiannessSource {
    /// The `ostree.endianness` key.
    Declared,
    /// Guessed from the sizes (a delta older than the key).
    Heuristic,
}

/// A parsed superblock.
#[derive(Debug, Clone)]
pub struct Superblock {
    /// Metadata entries, in order (values without their variant wrapping).
    pub metadata: Vec<(String, Value<'static>)>,
    /// Generation time, seconds since the epoch.
    pub timestamp: u64,
    /// The starting commit; `None` from scratch.
    pub from: Option<Checksum>,
    /// The target commit.
    pub to: Checksum,
    /// The target commit object's bytes (their SHA-256 is `to`).
    pub commit: Vec<u8>,
    /// The parts, in order.
    pub parts: Vec<PartHeader>,
    /// Objects fetched individually.
    pub fallbacks: Vec<Fallback>,
    /// Byte order of the sizes.
    pub endianness: Endianness,
    /// How the byte order was found.
    pub endianness_source: EndiannessSource,
    /// Whether the superblock came wrapped in signatures.
    pub signed: bool,
}

fn malformed(why: impl Into<String>) -> DeltaError {
    DeltaError::Malformed(why.into())
}

fn checksum_of(bytes: &[u8], what: &str) -> Result<Checksum, DeltaError> {
    Checksum::from_slice(bytes).map_err(|_| malformed(format!("{what}: not a 32-byte checksum")))
}

impl Superblock {
    /// Parses a superblock file, signed or not. Nothing in it is trusted:
    /// every framing offset is checked, and the embedded commit must hash to
    /// the TO checksum and parse as a commit.
    pub fn parse(bytes: &[u8]) -> Result<Superblock, DeltaError> {
        if let Some(inner) = unwrap_signed(bytes)? {
            let mut sb = Self::parse_unsigned(inner)?;
            sb.signed = true;
            return Ok(sb);
        }
        Self::parse_unsigned(bytes)
    }

    fn parse_unsigned(bytes: &[u8]) -> Result<Superblock, DeltaError> {
        let ty = Type::parse(SUPERBLOCK_TYPE).map_err(|e| malformed(e.to_string()))?;
        let v = Value::from_bytes(&ty, bytes).map_err(|e| malformed(format!("superblock: {e}")))?;
        let m = v.as_tuple().ok_or_else(|| malformed("superblock is not a tuple"))?;
        let metadata = vardict(&m[0])?;
        let timestamp = u64::from_be(m[1].as_u64().unwrap_or(0));
        let from = match m[2].as_bytes().unwrap_or(&[]) {
            [] => None,
            b => Some(checksum_of(b, "superblock FROM")?),
        };
        let to = checksum_of(m[3].as_bytes().unwrap_or(&[]), "superblock TO")?;
        let commit = m[4].to_bytes();
        let actual = Checksum::digest(&commit);
        if actual != to {
            return Err(malformed(format!("the embedded commit hashes to {actual}, not to the target {to}")));
        }
        Commit::from_bytes(&commit).map_err(|e| malformed(format!("the embedded commit {to}: {e}")))?;

        // Raw (natively read) part and fallback sizes, swapped below.
        let mut parts = Vec::new();
        for p in m[6].as_array().unwrap_or(&[]) {
            let f = p.as_tuple().ok_or_else(|| malformed("part header"))?;
            let objects = parse_object_records(f[4].as_bytes().unwrap_or(&[]))?;
            parts.push(PartHeader {
                version: f[0].as_u32().unwrap_or(0),
                checksum: checksum_of(f[1].as_bytes().unwrap_or(&[]), "part checksum")?,
                size: f[2].as_u64().unwrap_or(0),
                usize: f[3].as_u64().unwrap_or(0),
                objects,
            });
        }
        let mut fallbacks = Vec::new();
        for p in m[7].as_array().unwrap_or(&[]) {
            let f = p.as_tuple().ok_or_else(|| malformed("fallback"))?;
            let id = match &f[0] {
                Value::Byte(b) => *b,
                _ => 0,
            };
            let ty = ObjectType::from_id(id).ok_or_else(|| malformed(format!("fallback of object type {id}")))?;
            fallbacks.push(Fallback {
                ty,
                checksum: checksum_of(f[1].as_bytes().unwrap_or(&[]), "fallback checksum")?,
                size: f[2].as_u64().unwrap_or(0),
                usize: f[3].as_u64().unwrap_or(0),
            });
        }

        let (endianness, endianness_source) = match metadata.iter().find(|(k, _)| k == ENDIANNESS_KEY) {
            Some((_, v)) => match Some(v) {
                Some(Value::Byte(b'l')) => (Endianness::Little, EndiannessSource::Declared),
                Some(Value::Byte(b'B')) => (Endianness::Big, EndiannessSource::Declared),
                _ => return Err(malformed(format!("invalid {ENDIANNESS_KEY} value"))),
            },
            None => guess_endianness(&parts),
        };
        for p in &mut parts {
            p.version = endianness.decode32(p.version);
            p.size = endianness.decode64(p.size);
            p.usize = endianness.decode64(p.usize);
        }
        for f in &mut fallbacks {
            f.size = endianness.decode64(f.size);
            f.usize = endianness.decode64(f.usize);
        }
        Ok(Superblock {
            metadata,
            timestamp,
            from,
            to,
            commit,
            parts,
            fallbacks,
            endianness,
            endianness_source,
            signed: false,
        })
    }

    /// The metadata value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value<'static>> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The bytes of part `i` if the delta carries it inline (under
    /// `deltas/DIR/i`, whatever DIR is, as OSTree looks it up by the name it
    /// would give the delta).
    pub fn inline_part(&self, rel_dir: &str, i: usize) -> Option<Vec<u8>> {
        let key = format!("{rel_dir}/{i}");
        Some(self.get(&key)?.to_bytes())
    }

    /// The TO commit's detached metadata carried by the delta, if any.
    pub fn commitmeta(&self, rel_dir: &str) -> Option<Vec<u8>> {
        let key = format!("{rel_dir}/commitmeta");
        Some(self.get(&key)?.to_bytes())
    }

    /// Serialises the superblock (unsigned), sizes in `self.endianness`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let e = self.endianness;
        let from: &[u8] = self.from.as_ref().map(|c| c.as_bytes().as_slice()).unwrap_or(&[]);
        let commit_ty = Type::parse(Commit::TYPE).unwrap_or(Type::Variant);
        // The commit was produced by our own writer or checked to hash to
        // TO, so it decodes; were it not to, an empty commit is written and
        // its checksum check fails loudly on the reading side.
        let commit = Value::from_bytes(&commit_ty, &self.commit).unwrap_or(Value::Tuple(Vec::new()));
        let part_ty = Type::parse("(uayttay)").unwrap_or(Type::Variant);
        let fallback_ty = Type::parse("(yaytt)").unwrap_or(Type::Variant);
        Value::Tuple(vec![
            Value::vardict(self.metadata.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), v.clone()))),
            Value::Uint64(self.timestamp.to_be()),
            Value::Bytes(Cow::Borrowed(from)),
            Value::Bytes(Cow::Borrowed(self.to.as_bytes())),
            commit,
            Value::Bytes(Cow::Borrowed(&[])),
            Value::Array(
                part_ty,
                self.parts
                    .iter()
                    .map(|p| {
                        Value::Tuple(vec![
                            Value::Uint32(e.decode32(p.version)),
                            Value::Bytes(Cow::Owned(p.checksum.as_bytes().to_vec())),
                            Value::Uint64(e.decode64(p.size)),
                            Value::Uint64(e.decode64(p.usize)),
                            Value::Bytes(Cow::Owned(object_records(&p.objects))),
                        ])
                    })
                    .collect(),
            ),
            Value::Array(
                fallback_ty,
                self.fallbacks
                    .iter()
                    .map(|f| {
                        Value::Tuple(vec![
                            Value::Byte(f.ty as u8),
                            Value::Bytes(Cow::Owned(f.checksum.as_bytes().to_vec())),
                            Value::Uint64(e.decode64(f.size)),
                            Value::Uint64(e.decode64(f.usize)),
                        ])
                    })
                    .collect(),
            ),
        ])
        .to_bytes()
    }
}

/// The unsigned superblock inside a signed one, or `None` when `bytes` is
/// not signed.
fn unwrap_signed(bytes: &[u8]) -> Result<Option<&[u8]>, DeltaError> {
    Ok(split_signed(bytes)?.map(|(inner, _)| inner))
}

/// A signed superblock's parts: the unsigned superblock's bytes and the
/// signatures' `a{sv}`; `None` when `bytes` is not signed.
pub fn split_signed(bytes: &[u8]) -> Result<Option<(&[u8], CommitMetadata)>, DeltaError> {
    // A signed superblock starts with the magic; an unsigned one with its
    // metadata dictionary, which cannot begin with these bytes (a key
    // string starting "OSTSGNDT" would; OSTree tells them apart the same
    // way).
    if bytes.len() < 8 || bytes[..8] != SIGNED_MAGIC.to_be_bytes() {
        return Ok(None);
    }
    let ty = Type::parse(SIGNED_TYPE).map_err(|e| malformed(e.to_string()))?;
    let v = Value::from_bytes(&ty, bytes).map_err(|e| malformed(format!("signed superblock: {e}")))?;
    let m = v.as_tuple().ok_or_else(|| malformed("signed superblock is not a tuple"))?;
    let inner = match &m[1] {
        Value::Bytes(Cow::Borrowed(inner)) => *inner,
        _ => return Err(malformed("signed superblock without a body")),
    };
    Ok(Some((inner, CommitMetadata(vardict(&m[2])?))))
}

/// The signed superblock of `unsigned` (a superblock's bytes) with the
/// signatures in `sigs`: `(taya{sv})`, the magic first so the file starts
/// with `OSTSGNDT`.
pub fn wrap_signed(unsigned: &[u8], sigs: &CommitMetadata) -> Vec<u8> {
    Value::Tuple(vec![
        // Serialised little-endian, so stored as the magic's big-endian bytes.
        Value::Uint64(u64::from_le_bytes(SIGNED_MAGIC.to_be_bytes())),
        Value::Bytes(Cow::Borrowed(unsigned)),
        sigs.to_value(),
    ])
    .to_bytes()
}

fn vardict(v: &Value<'_>) -> Result<Vec<(String, Value<'static>)>, DeltaError> {
    let mut out = Vec::new();
    for e in v.as_array().unwrap_or(&[]) {
        match e {
            Value::DictEntry(k, v) => {
                let k = k.as_str().ok_or_else(|| malformed("metadata key"))?;
                let v = v.as_variant().ok_or_else(|| malformed("metadata value is not a variant"))?;
                out.push((k.to_string(), v.clone().into_owned()));
            }
            _ => return Err(malformed("metadata entry")),
        }
    }
    Ok(out)
}

/// Decodes a part's object list: 33-byte `[type][checksum]` records.
pub fn parse_object_records(b: &[u8]) -> Result<Vec<(ObjectType, Checksum)>, DeltaError> {
    if !b.len().is_multiple_of(33) {
        return Err(malformed(format!("part object list of {} bytes is not a multiple of 33", b.len())));
    }
    b.chunks_exact(33)
        .map(|r| {
            let ty = ObjectType::from_id(r[0]).ok_or_else(|| malformed(format!("object of type {}", r[0])))?;
            if !matches!(ty, ObjectType::File | ObjectType::DirTree | ObjectType::DirMeta) {
                return Err(malformed(format!("a part may not create {} objects", ty.name())));
            }
            Ok((ty, checksum_of(&r[1..], "object record")?))
        })
        .collect()
}

/// Encodes a part's object list.
pub fn object_records(objects: &[(ObjectType, Checksum)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(objects.len() * 33);
    for (ty, c) in objects {
        out.push(*ty as u8);
        out.extend_from_slice(c.as_bytes());
    }
    out
}

/// OSTree's guess for deltas written before `ostree.endianness`: sizes read
/// in host order that are implausible mean the other order.
fn guess_endianness(parts: &[PartHeader]) -> (Endianness, EndiannessSource) {
    let host = Endianness::host();
    let mut total_size = 0u64;
    let mut total_objects = 0u64;
    let mut swap = false;
    for p in parts {
        // A compressed part larger than 1.2 times what it expands to.
        if p.size as f64 > p.usize as f64 * 1.2 {
            swap = true;
        }
        total_size = total_size.saturating_add(p.size);
        total_objects = total_objects.saturating_add(p.objects.len() as u64);
    }
    if !swap && total_objects > 0 && total_size / total_objects > u32::MAX as u64 {
        swap = true;
    }
    (if swap { host.swapped() } else { host }, EndiannessSource::Heuristic)
}
