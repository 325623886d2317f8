//! A GVariant codec for the types OSTree stores, in normal form.
//!
//! GVariant is GLib's binary serialisation. OSTree's metadata objects are
//! GVariants, and their checksums are taken over the serialised bytes, so the
//! writer here emits exactly GLib's *normal form*:
//!
//! * scalars in native byte order (OSTree pre-swaps the fields it documents as
//!   big-endian; callers do that with `to_be`/`from_be`);
//! * strings as UTF-8 plus one NUL;
//! * arrays of fixed-size elements packed, arrays of variable-size elements
//!   followed by a table of element end offsets;
//! * tuples with the end offsets of their non-last variable-size members
//!   appended in reverse order;
//! * variants as child bytes, a NUL, then the child's type string;
//! * framing offsets little-endian, of the smallest width (1, 2, 4 or 8
//!   bytes) that can address the whole container, offsets included.
//!
//! The reader ([`Value::from_bytes`]) borrows strings and byte arrays from the
//! input, checks every framing offset before it is used, bounds nesting depth,
//! and returns [`Error`] on anything malformed; it never panics.
//! [`Value::from_bytes_normal`] additionally rejects input that is not in
//! normal form (what OSTree does for data fetched over the network).

mod text;
mod types;
mod value;

pub use text::{parse_text, TextError};
pub use types::Type;
pub use value::Value;

/// Nesting depth beyond which input is refused (GLib uses a similar bound).
pub const MAX_DEPTH: usize = 64;

/// Malformed GVariant data or type strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The type string is not one complete, valid type.
    #[error("invalid GVariant type string {0:?}")]
    BadType(String),
    /// The bytes do not frame a value of the expected type.
    #[error("malformed GVariant of type {ty}: {why}")]
    Malformed {
        /// The type being decoded.
        ty: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The bytes decode, but are not in normal form.
    #[error("GVariant of type {0} is not in normal form")]
    NotNormal(String),
    /// The data nests deeper than [`MAX_DEPTH`].
    #[error("GVariant nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A value does not have the type that was required.
    #[error("expected GVariant type {expected}, found {found}")]
    WrongType {
        /// The wanted type.
        expected: String,
        /// The type found.
        found: String,
    },
}

pub(crate) fn align_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

/// The framing-offset width GLib uses when reading a container of `len` bytes.
pub(crate) fn offset_size_for_len(len: usize) -> usize {
    if len <= 0xff {
        1
    } else if len <= 0xffff {
        2
    } else if len as u64 <= 0xffff_ffff {
        4
    } else {
        8
    }
}

/// The framing-offset width a writer must pick for a body of `body` bytes
/// followed by `n` offsets: the smallest width that can address the total.
pub(crate) fn offset_size_for_body(body: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    for k in [1usize, 2, 4] {
        let total = body + n * k;
        if (total as u64) < (1u64 << (8 * k)) {
            return k;
        }
    }
    8
}

pub(crate) fn write_offset(out: &mut Vec<u8>, value: usize, k: usize) {
    let bytes = (value as u64).to_le_bytes();
    out.extend_from_slice(&bytes[..k]);
}

pub(crate) fn read_offset(data: &[u8], at: usize, k: usize) -> usize {
    let mut buf = [0u8; 8];
    buf[..k].copy_from_slice(&data[at..at + k]);
    u64::from_le_bytes(buf) as usize
}

#[cfg(test)]
mod tests;
