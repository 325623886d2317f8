//! bspatch for the `B` operation: the headerless stream of mendsley/bsdiff
//! (the one OSTree vendors), with no compression of its own (the part is
//! compressed as a whole).
//!
//! The stream is a sequence of blocks: three 8-byte sign-magnitude
//! little-endian integers `x y z`, then `x` bytes added (mod 256) to the old
//! data at the old position, then `y` bytes copied as they are; the old
//! position then moves by `x + z`. Old positions outside the old data add
//! nothing. Blocks repeat until the new data has its declared size.

use std::io::Write;

use super::DeltaError;

fn bad(why: impl Into<String>) -> DeltaError {
    DeltaError::Malformed(format!("bspatch: {}", why.into()))
}

fn offtin(b: &[u8]) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[..8]);
    let mag = (u64::from_le_bytes(raw) & !(1u64 << 63)) as i64;
    if raw[7] & 0x80 != 0 {
        -mag
    } else {
        mag
    }
}

/// The old data a patch applies to, read in pieces (a file need not be
/// read whole into memory).
pub trait OldData {
    /// Its length.
    fn len(&self) -> u64;
    /// Whether it has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from offset `off` (within the data).
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl OldData for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<()> {
        buf.copy_from_slice(&self[off as usize..off as usize + buf.len()]);
        Ok(())
    }
}

/// Writes `size` bytes, `old` patched by `patch`, to `out`. A patch that
/// would write past `size`, or ends before it, is an error.
pub fn bspatch(old: &[u8], patch: &[u8], size: u64, out: &mut dyn Write) -> Result<(), DeltaError> {
    bspatch_from(&old, patch, size, out)
}

/// [`bspatch`] over old data read in pieces.
pub fn bspatch_from(old: &dyn OldData, patch: &[u8], size: u64, out: &mut dyn Write) -> Result<(), DeltaError> {
    let mut newpos = 0u64;
    let mut oldpos = 0i64;
    let mut p = patch;
    let mut buf = Vec::new();
    let io = |e: std::io::Error| bad(format!("writing: {e}"));
    while newpos < size {
        if p.len() < 24 {
            return Err(bad("patch ends early"));
        }
        let (x, y, z) = (offtin(&p[0..8]), offtin(&p[8..16]), offtin(&p[16..24]));
        p = &p[24..];
        if x < 0 || y < 0 {
            return Err(bad("negative length in control block"));
        }
        let (x, y) = (x as u64, y as u64);
        if x > size - newpos || y > size - newpos - x {
            return Err(bad(format!("writes past the {size} bytes of its output")));
        }
        if (p.len() as u64) < x + y {
            return Err(bad("patch ends early"));
        }
        let (diff, rest) = p.split_at(x as usize);
        // In pieces: a diff run can be as long as the file, and a copy of
        // it all would double what the apply holds.
        let mut olds = Vec::new();
        for (k, piece) in diff.chunks(64 * 1024).enumerate() {
            let base = oldpos.saturating_add((k * 64 * 1024) as i64);
            buf.clear();
            buf.extend_from_slice(piece);
            // The part of [base, base + len) inside the old data.
            let end = base.saturating_add(piece.len() as i64);
            let (lo, hi) = (base.max(0), end.min(old.len() as i64));
            if lo < hi {
                olds.resize((hi - lo) as usize, 0);
                old.read_at(lo as u64, &mut olds).map_err(|e| bad(format!("reading the old data: {e}")))?;
                let skip = (lo - base) as usize;
                for (b, o) in buf[skip..].iter_mut().zip(&olds) {
                    *b = b.wrapping_add(*o);
                }
            }
            out.write_all(&buf).map_err(io)?;
        }
        let (extra, rest) = rest.split_at(y as usize);
        out.write_all(extra).map_err(io)?;
        p = rest;
        newpos += x + y;
        oldpos = oldpos.saturating_add(x as i64).saturating_add(z);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctrl(x: i64, y: i64, z: i64) -> Vec<u8> {
        let mut v = Vec::new();
        for n in [x, y, z] {
            let mut b = n.unsigned_abs().to_le_bytes();
            if n < 0 {
                b[7] |= 0x80;
            }
            v.extend_from_slice(&b);
        }
        v
    }

    #[test]
    fn golden_kernel_patch() {
        // The golden delta's 34-byte patch: "kernel v1\n" -> "kernel v2\n".
        let mut patch = ctrl(8, 2, 1);
        patch.extend_from_slice(&[0; 8]);
        patch.extend_from_slice(b"2\n");
        let mut out = Vec::new();
        bspatch(b"kernel v1\n", &patch, 10, &mut out).unwrap();
        assert_eq!(out, b"kernel v2\n");
    }

    #[test]
    fn agrees_with_the_bsdiff_crate() {
        let old: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut new = old.clone();
        new[100..200].copy_from_slice(&[9; 100]);
        new.extend_from_slice(b"tail");
        let mut patch = Vec::new();
        bsdiff::diff(&old, &new, &mut patch).unwrap();
        let mut out = Vec::new();
        bspatch(&old, &patch, new.len() as u64, &mut out).unwrap();
        assert_eq!(out, new);
    }

    #[test]
    fn hostile_patches_are_refused() {
        let mut out = Vec::new();
        // Writes past the output.
        let mut p = ctrl(0, 20, 0);
        p.extend_from_slice(&[1; 20]);
        assert!(bspatch(b"", &p, 10, &mut out).is_err());
        // Negative lengths.
        assert!(bspatch(b"", &ctrl(-1, 0, 0), 10, &mut out).is_err());
        // Truncated.
        assert!(bspatch(b"", &ctrl(5, 0, 0), 10, &mut out).is_err());
        assert!(bspatch(b"", &[0; 10], 10, &mut out).is_err());
        // Far-away old positions contribute nothing and do not overflow.
        let mut p = ctrl(0, 0, i64::MAX);
        p.extend(ctrl(2, 0, 0));
        p.extend_from_slice(&[1, 2]);
        out.clear();
        bspatch(b"ab", &p, 2, &mut out).unwrap();
        assert_eq!(out, [1, 2]);
    }
}
