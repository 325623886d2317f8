//! Delta parts: a compression byte, then the payload
//! `(a(uuu) aa(ayay) ay ay)`: a table of (uid, gid, mode) triples, always
//! big-endian; a table of xattr lists; the blob that operations copy from;
//! and the operations themselves (see [`super::ops`]).
//!
//! Compression byte 0 is none and `'x'` is an xz stream (CRC64), the two
//! OSTree reads. `'z'`, a zstd frame, is oxtree's extension: such parts are
//! declared with part version 1 in the superblock, which OSTree refuses
//! ("too new version") instead of misreading.

use std::borrow::Cow;
use std::io::Read;

use oxtree_store::gvariant::{Type, Value};
use oxtree_store::object::Xattrs;

use super::DeltaError;

/// The payload's GVariant type.
pub const PAYLOAD_TYPE: &str = "(a(uuu)aa(ayay)ayay)";

/// How a part's payload is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Byte 0: stored.
    None,
    /// `'x'`: xz.
    Xz,
    /// `'z'`: zstd (oxtree's extension; part version 1).
    Zstd,
}

impl Compression {
    /// The part file's first byte.
    pub fn byte(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Xz => b'x',
            Compression::Zstd => b'z',
        }
    }

    /// The part version a part compressed this way is declared with.
    pub fn part_version(self) -> u32 {
        match self {
            Compression::Zstd => 1,
            _ => 0,
        }
    }
}

/// The part payload's tables, borrowed from its bytes.
#[derive(Debug)]
pub struct Payload<'a> {
    /// (uid, gid, mode) triples, decoded.
    pub modes: Vec<(u32, u32, u32)>,
    /// Xattr lists.
    pub xattrs: Vec<Xattrs>,
    /// The data operations copy from.
    pub blob: &'a [u8],
    /// The operations.
    pub ops: &'a [u8],
}

fn malformed(why: impl Into<String>) -> DeltaError {
    DeltaError::Malformed(why.into())
}

/// Decompresses a part file (compression byte included), refusing output
/// longer than `limit` bytes: a part that expands beyond what its header
/// declares is a decompression bomb.
pub fn decompress(part: &[u8], version: u32, limit: u64) -> Result<Vec<u8>, DeltaError> {
    let mut out = Vec::new();
    decompress_into(part, version, limit, &mut out)?;
    Ok(out)
}

/// [`decompress`] into `out` (cleared first), whose allocation is kept:
/// a pull reuses one buffer for all the parts a thread applies, rather
/// than letting the allocator keep a freed one per part.
pub fn decompress_into(part: &[u8], version: u32, limit: u64, out: &mut Vec<u8>) -> Result<(), DeltaError> {
    out.clear();
    let (&kind, body) = part.split_first().ok_or_else(|| malformed("empty part"))?;
    let expected_version = match kind {
        b'z' => 1,
        _ => 0,
    };
    if version > 1 || (version != expected_version && kind != 0) {
        return Err(malformed(format!("part version {version} is not supported with compression {kind:#04x}")));
    }
    let read = |r: &mut dyn Read, out: &mut Vec<u8>| -> Result<(), DeltaError> {
        r.take(limit + 1).read_to_end(out).map_err(|e| malformed(format!("decompressing part: {e}")))?;
        Ok(())
    };
    match kind {
        0 => {
            if body.len() as u64 > limit {
                return Err(malformed(format!("part of {} bytes exceeds the {limit} its header allows", body.len())));
            }
            out.extend_from_slice(body);
            return Ok(());
        }
        b'x' => {
            let mut r = lzma_rust2::XzReader::new(body, false);
            read(&mut r, out)?;
        }
        b'z' => {
            let mut r = structured_zstd::decoding::StreamingDecoder::new(body)
                .map_err(|e| malformed(format!("decompressing part: {e}")))?;
            read(&mut r, out)?;
        }
        other => return Err(malformed(format!("Invalid compression type '{other}'"))),
    }
    if out.len() as u64 > limit {
        return Err(malformed(format!("part expands beyond the {limit} bytes its header allows")));
    }
    Ok(())
}

/// The most a part's payload may expand to, given the part header's
/// uncompressed size: the objects' bytes, plus room for the tables, the
/// operations and bsdiff control data. Generous for honest deltas, and a
/// bound for hostile ones.
pub fn payload_limit(usize: u64, nobjects: usize) -> u64 {
    usize.saturating_mul(2).saturating_add(nobjects as u64 * 1024).saturating_add(16 << 20)
}

impl<'a> Payload<'a> {
    /// Parses a decompressed payload.
    pub fn parse(bytes: &'a [u8]) -> Result<Payload<'a>, DeltaError> {
        let ty = Type::parse(PAYLOAD_TYPE).map_err(|e| malformed(e.to_string()))?;
        let v = Value::from_bytes(&ty, bytes).map_err(|e| malformed(format!("part payload: {e}")))?;
        let m = v.as_tuple().ok_or_else(|| malformed("part payload is not a tuple"))?;
        let mut modes = Vec::new();
        for t in m[0].as_array().unwrap_or(&[]) {
            let f = t.as_tuple().ok_or_else(|| malformed("mode entry"))?;
            let get = |i: usize| u32::from_be(f[i].as_u32().unwrap_or(0));
            modes.push((get(0), get(1), get(2)));
        }
        let mut xattrs = Vec::new();
        for x in m[1].as_array().unwrap_or(&[]) {
            xattrs.push(Xattrs::from_value(x).map_err(|e| malformed(format!("xattr table: {e}")))?);
        }
        // The blob and the operations borrow from `bytes`, so the payload
        // outlives the parsed value.
        let sub = |v: &Value<'a>| -> &'a [u8] {
            match v {
                Value::Bytes(Cow::Borrowed(b)) => b,
                _ => &[],
            }
        };
        let blob = sub(&m[2]);
        let ops = sub(&m[3]);
        Ok(Payload { modes, xattrs, blob, ops })
    }

    /// Serialises a payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.blob.len() + self.ops.len() + 64);
        // Writing to a Vec cannot fail.
        let _ = self.write_to(&mut out);
        out
    }

    /// Streams the serialised payload to `w` (what the generator
    /// compresses) without building it in memory: the blob is most of it,
    /// and parts are tens of megabytes.
    pub fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mode_ty = Type::parse("(uuu)").unwrap_or(Type::Variant);
        let xattr_ty = Type::parse("a(ayay)").unwrap_or(Type::Variant);
        let modes = Value::Array(
            mode_ty,
            self.modes
                .iter()
                .map(|&(u, g, m)| {
                    Value::Tuple(vec![Value::Uint32(u.to_be()), Value::Uint32(g.to_be()), Value::Uint32(m.to_be())])
                })
                .collect(),
        )
        .to_bytes();
        let xattrs = Value::Array(xattr_ty, self.xattrs.iter().map(|x| x.to_value().into_owned()).collect()).to_bytes();
        // The tuple (a(uuu) aa(ayay) ay ay): members need no padding (the
        // first is at offset 0, the others align to 1), then the end offsets
        // of the first three, last first, in the smallest width that
        // addresses the whole.
        let body = modes.len() + xattrs.len() + self.blob.len() + self.ops.len();
        let k =
            [1usize, 2, 4, 8].into_iter().find(|&k| k == 8 || ((body + 3 * k) as u64) < 1u64 << (8 * k)).unwrap_or(8);
        let end0 = modes.len();
        let end1 = end0 + xattrs.len();
        let end2 = end1 + self.blob.len();
        w.write_all(&modes)?;
        w.write_all(&xattrs)?;
        w.write_all(self.blob)?;
        w.write_all(self.ops)?;
        for end in [end2, end1, end0] {
            w.write_all(&(end as u64).to_le_bytes()[..k])?;
        }
        Ok(())
    }
}
