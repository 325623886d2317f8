//! The part program: one byte per operation, operands as unsigned LEB128
//! varints (seven bits per byte, least significant first, at most ten
//! bytes).
//!
//! | op | byte | operands | effect |
//! |---|---|---|---|
//! | open-splice-and-close | `S` | metadata: `LEN OFF`; content: `MODE XATTR SIZE OFF` | the next object is `blob[OFF..]`, whole |
//! | open | `o` | `MODE XATTR SIZE` | start the next (regular file) object |
//! | write | `w` | `LEN OFF` | append from the read source if set, else from the blob |
//! | set-read-source | `r` | `OFF` | `blob[OFF..OFF+32]` names a local content object to copy from |
//! | unset-read-source | `R` | | |
//! | close | `c` | | finish the open object |
//! | bspatch | `B` | `OFF LEN` | append bspatch(read source, `blob[OFF..OFF+LEN]`) |
//!
//! Note the operand order: `S` on metadata and `w` take length then
//! offset, `B` offset then length.

use super::DeltaError;

/// `S`: open, splice and close.
pub const OPEN_SPLICE_AND_CLOSE: u8 = b'S';
/// `o`: open.
pub const OPEN: u8 = b'o';
/// `w`: write.
pub const WRITE: u8 = b'w';
/// `r`: set the read source.
pub const SET_READ_SOURCE: u8 = b'r';
/// `R`: unset the read source.
pub const UNSET_READ_SOURCE: u8 = b'R';
/// `c`: close.
pub const CLOSE: u8 = b'c';
/// `B`: bspatch.
pub const BSPATCH: u8 = b'B';

/// Appends `v` as a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads operations and their operands.
#[derive(Debug)]
pub struct Reader<'a> {
    ops: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `ops` from the start.
    pub fn new(ops: &'a [u8]) -> Reader<'a> {
        Reader { ops, pos: 0 }
    }

    /// The next opcode, or `None` at the end.
    pub fn op(&mut self) -> Option<u8> {
        let b = *self.ops.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// The next operand.
    pub fn varint(&mut self) -> Result<u64, DeltaError> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self
                .ops
                .get(self.pos)
                .ok_or_else(|| DeltaError::Malformed("operation ends in the middle of an operand".into()))?;
            self.pos += 1;
            let bits = (b & 0x7f) as u64;
            if i == 9 && bits > 1 {
                return Err(DeltaError::Malformed("operand does not fit in 64 bits".into()));
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DeltaError::Malformed("operand longer than 10 bytes".into()))
    }
}

/// How many operations of each kind a program has (`static-delta show`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// `S`.
    pub open_splice_close: u64,
    /// `o`.
    pub open: u64,
    /// `w`.
    pub write: u64,
    /// `r`.
    pub set_read: u64,
    /// `R`.
    pub unset_read: u64,
    /// `c`.
    pub close: u64,
    /// `B`.
    pub bspatch: u64,
}

/// Counts the operations of a program whose object records say, for each
/// `S`, whether it makes metadata (2 operands) or content (4).
pub fn count(ops: &[u8], is_meta: impl Fn(usize) -> bool) -> Result<OpCounts, DeltaError> {
    let mut r = Reader::new(ops);
    let mut c = OpCounts::default();
    let mut object = 0usize;
    while let Some(op) = r.op() {
        let operands = match op {
            OPEN_SPLICE_AND_CLOSE => {
                c.open_splice_close += 1;
                let n = if is_meta(object) { 2 } else { 4 };
                object += 1;
                n
            }
            OPEN => {
                c.open += 1;
                3
            }
            WRITE => {
                c.write += 1;
                2
            }
            SET_READ_SOURCE => {
                c.set_read += 1;
                1
            }
            UNSET_READ_SOURCE => {
                c.unset_read += 1;
                0
            }
            CLOSE => {
                c.close += 1;
                object += 1;
                0
            }
            BSPATCH => {
                c.bspatch += 1;
                2
            }
            other => return Err(DeltaError::Malformed(format!("unknown operation {other:#04x}"))),
        };
        for _ in 0..operands {
            r.varint()?;
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 8896, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(Reader::new(&b).varint().unwrap(), v);
        }
        // The golden part's `o 0 0 8896`.
        assert_eq!(Reader::new(&[0xc0, 0x45]).varint().unwrap(), 8896);
        assert!(Reader::new(&[0x80]).varint().is_err());
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).varint().is_err());
    }
}
