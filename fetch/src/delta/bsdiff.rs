//! bsdiff for the `B` operation: the matching of mendsley/bsdiff (the one
//! OSTree vendors), writing its headerless stream (see [`super::bspatch`]).
//!
//! The suffix array of the old data comes from divsufsort with 32-bit
//! indices: 4 bytes per old byte, against the 16 that bsdiff's own qsufsort
//! takes (two 64-bit arrays), which is what bounds the generator's memory
//! when it diffs large files on several threads.

fn matchlen(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The longest match of `new` among the suffixes of `old`: (length, position).
fn search(sa: &[i32], old: &[u8], new: &[u8]) -> (usize, usize) {
    if sa.is_empty() {
        return (0, 0);
    }
    let (mut st, mut en) = (0usize, sa.len() - 1);
    while en - st >= 2 {
        let x = st + (en - st) / 2;
        let suffix = &old[sa[x] as usize..];
        let n = suffix.len().min(new.len());
        if suffix[..n] < new[..n] {
            st = x;
        } else {
            en = x;
        }
    }
    let (a, b) = (sa[st] as usize, sa[en] as usize);
    let (x, y) = (matchlen(&old[a..], new), matchlen(&old[b..], new));
    if x > y {
        (x, a)
    } else {
        (y, b)
    }
}

fn offtout(x: i64, out: &mut Vec<u8>) {
    let mut b = x.unsigned_abs().to_le_bytes();
    if x < 0 {
        b[7] |= 0x80;
    }
    out.extend_from_slice(&b);
}

/// Appends to `out` the patch that turns `old` into `new`. `old` must be
/// shorter than 2 GiB.
pub fn diff(old: &[u8], new: &[u8], out: &mut Vec<u8>) {
    let mut sa = vec![0i32; old.len()];
    if !old.is_empty() {
        divsufsort::sort_in_place(old, &mut sa);
    }
    let (oldsize, newsize) = (old.len() as i64, new.len() as i64);
    let (mut scan, mut len, mut pos) = (0i64, 0i64, 0i64);
    let (mut lastscan, mut lastpos, mut lastoffset) = (0i64, 0i64, 0i64);
    let at_old = |i: i64| old[i as usize];
    let at_new = |i: i64| new[i as usize];
    while scan < newsize {
        let mut oldscore = 0i64;
        scan += len;
        let mut scsc = scan;
        while scan < newsize {
            let (l, p) = search(&sa, old, &new[scan as usize..]);
            (len, pos) = (l as i64, p as i64);
            while scsc < scan + len {
                if scsc + lastoffset < oldsize && at_old(scsc + lastoffset) == at_new(scsc) {
                    oldscore += 1;
                }
                scsc += 1;
            }
            if (len == oldscore && len != 0) || len > oldscore + 8 {
                break;
            }
            if scan + lastoffset < oldsize && at_old(scan + lastoffset) == at_new(scan) {
                oldscore -= 1;
            }
            scan += 1;
        }
        if len != oldscore || scan == newsize {
            // Extend the last match forwards and this one backwards.
            let (mut s, mut sf, mut lenf) = (0i64, 0i64, 0i64);
            let mut i = 0i64;
            while lastscan + i < scan && lastpos + i < oldsize {
                if at_old(lastpos + i) == at_new(lastscan + i) {
                    s += 1;
                }
                i += 1;
                if s * 2 - i > sf * 2 - lenf {
                    sf = s;
                    lenf = i;
                }
            }
            let mut lenb = 0i64;
            if scan < newsize {
                let (mut s, mut sb) = (0i64, 0i64);
                let mut i = 1i64;
                while scan >= lastscan + i && pos >= i {
                    if at_old(pos - i) == at_new(scan - i) {
                        s += 1;
                    }
                    if s * 2 - i > sb * 2 - lenb {
                        sb = s;
                        lenb = i;
                    }
                    i += 1;
                }
            }
            if lastscan + lenf > scan - lenb {
                let overlap = (lastscan + lenf) - (scan - lenb);
                let (mut s, mut ss, mut lens) = (0i64, 0i64, 0i64);
                for i in 0..overlap {
                    if at_new(lastscan + lenf - overlap + i) == at_old(lastpos + lenf - overlap + i) {
                        s += 1;
                    }
                    if at_new(scan - lenb + i) == at_old(pos - lenb + i) {
                        s -= 1;
                    }
                    if s > ss {
                        ss = s;
                        lens = i + 1;
                    }
                }
                lenf += lens - overlap;
                lenb -= lens;
            }
            let extra = (scan - lenb) - (lastscan + lenf);
            offtout(lenf, out);
            offtout(extra, out);
            offtout((pos - lenb) - (lastpos + lenf), out);
            for i in 0..lenf {
                out.push(at_new(lastscan + i).wrapping_sub(at_old(lastpos + i)));
            }
            let from = (lastscan + lenf) as usize;
            out.extend_from_slice(&new[from..from + extra as usize]);
            lastscan = scan - lenb;
            lastpos = pos - lenb;
            lastoffset = pos - scan;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bspatch::bspatch;
    use super::*;

    fn roundtrip(old: &[u8], new: &[u8]) -> usize {
        let mut patch = Vec::new();
        diff(old, new, &mut patch);
        let mut out = Vec::new();
        bspatch(old, &patch, new.len() as u64, &mut out).unwrap();
        assert_eq!(out, new);
        patch.len()
    }

    #[test]
    fn patches_apply() {
        let old: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let mut new = b"aheader\n".to_vec();
        new.extend_from_slice(&old);
        new[5000..5100].copy_from_slice(&[1; 100]);
        new.extend_from_slice(b"trailer");
        let n = roundtrip(&old, &new);
        // Mostly zero diff bytes: small after compression, and no bigger
        // than the crate's.
        let mut theirs = Vec::new();
        bsdiff::diff(&old, &new, &mut theirs).unwrap();
        assert!(n <= theirs.len() + 64, "{n} vs {}", theirs.len());
        roundtrip(b"", b"all new");
        roundtrip(b"all old", b"");
        roundtrip(b"", b"");
        roundtrip(b"kernel v1\n", b"kernel v2\n");
    }
}
