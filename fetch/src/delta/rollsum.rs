//! Content-defined chunking with bup's rolling checksum, to find the parts
//! of a changed file that an old file already has, wherever they moved.
//!
//! A 64-byte window slides over the data; a chunk ends where the low
//! [`BITS`] bits of the window's checksum are all ones (8 KiB chunks on
//! average). Boundaries depend only on nearby bytes, so an insertion early
//! in a file shifts the chunks after it without changing them.

use std::collections::HashMap;

const WINDOW: usize = 64;
const CHAR_OFFSET: u32 = 31;
/// Chunk-boundary bits: chunks average `2^BITS` bytes.
pub const BITS: u32 = 13;

/// End offsets of the chunks of `data` (the last is `data.len()`).
pub fn chunk_ends(data: &[u8]) -> Vec<usize> {
    let mask = (1u32 << BITS) - 1;
    let mut s1 = (WINDOW as u32).wrapping_mul(CHAR_OFFSET);
    let mut s2 = (WINDOW as u32).wrapping_mul(WINDOW as u32 - 1).wrapping_mul(CHAR_OFFSET);
    let mut window = [0u8; WINDOW];
    let mut pos = 0usize;
    let mut ends = Vec::with_capacity(data.len() >> BITS);
    for (i, &add) in data.iter().enumerate() {
        let drop = window[pos] as u32;
        s1 = s1.wrapping_add(add as u32).wrapping_sub(drop);
        s2 = s2.wrapping_add(s1).wrapping_sub((WINDOW as u32).wrapping_mul(drop + CHAR_OFFSET));
        window[pos] = add;
        pos = (pos + 1) % WINDOW;
        if s2 & mask == mask {
            ends.push(i + 1);
        }
    }
    if ends.last() != Some(&data.len()) && !data.is_empty() {
        ends.push(data.len());
    }
    ends
}

/// A piece of the new data: copied from the old data at an offset, or new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// `len` bytes found in the old data at `old_off`.
    Old {
        /// Where in the old data.
        old_off: u64,
        /// How many bytes.
        len: u64,
    },
    /// `len` bytes of the new data starting at `new_off`, not in the old.
    New {
        /// Where in the new data.
        new_off: u64,
        /// How many bytes.
        len: u64,
    },
}

/// Matches the chunks of `new` against those of `old`: the pieces that
/// rebuild `new` (adjacent ones merged) and how many bytes came from `old`.
pub fn matches(old: &[u8], new: &[u8]) -> (Vec<Piece>, u64) {
    let mut index: HashMap<&[u8], u64> = HashMap::new();
    let mut start = 0;
    for end in chunk_ends(old) {
        index.entry(&old[start..end]).or_insert(start as u64);
        start = end;
    }
    let mut pieces: Vec<Piece> = Vec::new();
    let mut matched = 0u64;
    let mut start = 0;
    for end in chunk_ends(new) {
        let chunk = &new[start..end];
        let len = chunk.len() as u64;
        let piece = match index.get(chunk) {
            Some(&old_off) => {
                matched += len;
                Piece::Old { old_off, len }
            }
            None => Piece::New { new_off: start as u64, len },
        };
        match (pieces.last_mut(), piece) {
            (Some(Piece::Old { old_off: o, len: l }), Piece::Old { old_off, len }) if *o + *l == old_off => *l += len,
            (Some(Piece::New { len: l, .. }), Piece::New { len, .. }) => *l += len,
            _ => pieces.push(piece),
        }
        start = end;
    }
    (pieces, matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn rebuild(old: &[u8], new: &[u8], pieces: &[Piece]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces {
            match *p {
                Piece::Old { old_off, len } => out.extend_from_slice(&old[old_off as usize..(old_off + len) as usize]),
                Piece::New { new_off, len } => out.extend_from_slice(&new[new_off as usize..(new_off + len) as usize]),
            }
        }
        out
    }

    #[test]
    fn an_inserted_header_leaves_the_rest_matching() {
        let old = data(200_000, 7);
        let mut new = b"aheader\n".to_vec();
        new.extend_from_slice(&old);
        new.extend_from_slice(&[0; 40]);
        let (pieces, matched) = matches(&old, &new);
        assert_eq!(rebuild(&old, &new, &pieces), new);
        assert!(matched as f64 > new.len() as f64 * 0.9, "{matched} of {}", new.len());
        // Chunks average about 2^BITS bytes.
        let n = chunk_ends(&old).len();
        assert!(n > 10 && n < 60, "{n} chunks");
    }

    #[test]
    fn unrelated_data_does_not_match() {
        let (pieces, matched) = matches(&data(50_000, 1), &data(50_000, 2));
        assert_eq!(matched, 0);
        assert_eq!(pieces, vec![Piece::New { new_off: 0, len: 50_000 }]);
        assert_eq!(chunk_ends(&[]), Vec::<usize>::new());
    }
}
