//! The framing of an RPM's first bytes, checked before anything parses
//! them: the 96-byte lead, then the signature header (padded to 8 bytes)
//! and the main header, each a 16-byte preamble (`8e ad e8 01`, 4 reserved
//! bytes, the entry count and the data size, big-endian), 16-byte index
//! entries (tag, type, offset, count) and the data store.
//!
//! Every entry must lie inside its store, with a known type, and its
//! strings must end inside it. The `rpm` crate indexes its store with
//! these offsets unchecked (a hostile header made it panic in the
//! fuzzer), so it is only ever handed headers that passed here.

use std::io::Read;

use crate::ImportError;

/// The lead's size.
pub const LEAD_SIZE: usize = 96;
/// The lead's magic.
pub const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];

/// The most entries a header may have (rpm's own bound is 2^24; real
/// packages have a few hundred).
const MAX_ENTRIES: u32 = 1 << 16;
/// The largest data store of the signature header.
const MAX_SIG_DATA: u32 = 64 << 20;
/// The largest data store of the main header (a 100k-file package's is
/// about 20 MiB).
const MAX_DATA: u32 = 256 << 20;

fn read_exact(r: &mut dyn Read, buf: &mut [u8], what: &str, at: usize) -> Result<(), ImportError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => {
                return Err(ImportError::Truncated(format!("the file ends at byte {}, inside its {what}", at + got)))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ImportError::Io(e.to_string())),
        }
    }
    Ok(())
}

/// Reads the lead and both headers from `r` (at the file's start) and
/// checks their framing; returns their bytes, which end where the payload
/// starts.
pub fn read_headers(r: &mut dyn Read) -> Result<Vec<u8>, ImportError> {
    let mut out = vec![0u8; LEAD_SIZE];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut out[got..4]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ImportError::Io(e.to_string())),
        }
    }
    if got < 4 || out[..4] != LEAD_MAGIC {
        return Err(ImportError::Header("not an RPM: the file does not start with an RPM lead".into()));
    }
    read_exact(r, &mut out[4..], "lead", 4)?;
    header(r, &mut out, "signature header", MAX_SIG_DATA)?;
    let pad = (8 - out.len() % 8) % 8;
    let at = out.len();
    out.resize(at + pad, 0);
    read_exact(r, &mut out[at..], "signature header's padding", at)?;
    header(r, &mut out, "header", MAX_DATA)?;
    Ok(out)
}

/// Reads one header onto `out` and checks it.
fn header(r: &mut dyn Read, out: &mut Vec<u8>, what: &str, max_data: u32) -> Result<(), ImportError> {
    let start = out.len();
    out.resize(start + 16, 0);
    read_exact(r, &mut out[start..], what, start)?;
    let bad = |why: String| ImportError::Header(format!("{what} at byte {start}: {why}"));
    if out[start..start + 4] != HEADER_MAGIC {
        return Err(bad("bad magic".into()));
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let n = be(&out[start + 8..]);
    let dl = be(&out[start + 12..]);
    if n == 0 || n > MAX_ENTRIES {
        return Err(bad(format!("{n} entries")));
    }
    if dl > max_data {
        return Err(bad(format!("a data store of {dl} bytes")));
    }
    let index_len = n as usize * 16;
    let rest = index_len + dl as usize;
    let at = out.len();
    // Grown as the bytes arrive: a few bytes claiming a 256 MiB store
    // must not cost 256 MiB.
    let got = r.take(rest as u64).read_to_end(out).map_err(|e| ImportError::Io(e.to_string()))?;
    if got < rest {
        return Err(ImportError::Truncated(format!("the file ends at byte {}, inside its {what}", at + got)));
    }
    let index = &out[at..at + index_len];
    let store = &out[at + index_len..];
    for (k, e) in index.chunks_exact(16).enumerate() {
        let (tag, ty, off, count) = (be(&e[0..]), be(&e[4..]), be(&e[8..]), be(&e[12..]));
        let entry = |why: &str| bad(format!("entry {k} (tag {tag}): {why}"));
        if off as usize > store.len() {
            return Err(entry("offset past the data store"));
        }
        let data = &store[off as usize..];
        let fixed = |size: u64| -> Result<(), ImportError> {
            if u64::from(count).saturating_mul(size) > data.len() as u64 {
                Err(entry("data past the data store"))
            } else {
                Ok(())
            }
        };
        match ty {
            0 => {}
            1 | 2 | 7 => fixed(1)?,
            3 => fixed(2)?,
            4 => fixed(4)?,
            5 => fixed(8)?,
            6 | 8 | 9 => {
                if ty == 6 && count != 1 {
                    return Err(entry("a string with a count other than 1"));
                }
                let mut pos = 0usize;
                for _ in 0..count {
                    let nul =
                        data[pos..].iter().position(|b| *b == 0).ok_or_else(|| entry("a string without its NUL"))?;
                    pos += nul + 1;
                }
            }
            _ => return Err(entry(&format!("unknown type {ty}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(entries: &[(u32, u32, u32, u32)], store: &[u8]) -> Vec<u8> {
        let mut v = HEADER_MAGIC.to_vec();
        v.extend([0; 4]);
        v.extend((entries.len() as u32).to_be_bytes());
        v.extend((store.len() as u32).to_be_bytes());
        for (a, b, c, d) in entries {
            for x in [a, b, c, d] {
                v.extend(x.to_be_bytes());
            }
        }
        v.extend(store);
        v
    }

    fn rpm(sig: Vec<u8>, main: Vec<u8>) -> Vec<u8> {
        let mut v = LEAD_MAGIC.to_vec();
        v.resize(LEAD_SIZE, 0);
        v.extend(sig);
        while !v.len().is_multiple_of(8) {
            v.push(0);
        }
        v.extend(main);
        v
    }

    #[test]
    fn framing() {
        let good_sig = hdr(&[(1000, 4, 0, 1)], &[0, 0, 0, 5]);
        let good = hdr(&[(1000, 6, 0, 1), (1001, 8, 2, 2)], b"a\0b\0c\0");
        let bytes = rpm(good_sig.clone(), good.clone());
        assert_eq!(read_headers(&mut &bytes[..]).unwrap(), bytes);
        for (main, why) in [
            (hdr(&[(1000, 6, 7, 1)], b"a\0"), "offset past"),
            (hdr(&[(1000, 4, 0, 2)], &[0; 4]), "data past"),
            (hdr(&[(1000, 5, 0, u32::MAX)], &[0; 8]), "data past"),
            (hdr(&[(1000, 6, 0, 1)], b"abc"), "without its NUL"),
            (hdr(&[(1000, 8, 0, 3)], b"a\0b\0"), "without its NUL"),
            (hdr(&[(1000, 6, 0, 2)], b"a\0b\0"), "count other than 1"),
            (hdr(&[(1000, 12, 0, 1)], b""), "unknown type"),
            (hdr(&[], b""), "0 entries"),
        ] {
            let err = read_headers(&mut &rpm(good_sig.clone(), main)[..]).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
        for cut in 0..bytes.len() {
            assert!(read_headers(&mut &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = rpm(good_sig, good);
        huge[LEAD_SIZE + 12..LEAD_SIZE + 16].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(read_headers(&mut &huge[..]).unwrap_err().to_string().contains("data store of"));
    }
}
