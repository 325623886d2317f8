//! RPM payloads: a compressed cpio stream, read member by member.

use std::io::Read;

use oxtree_rpmimport::cpio::Reader;
use oxtree_rpmimport::payload::{decoder, Compression};

/// The most decompressed bytes one input may produce (a bomb is an input
/// like any other; reading it all would only make the fuzzer slow).
const MAX_OUT: u64 = 16 << 20;

/// The first byte picks the compressor (none, gzip, xz, lzma, zstd, bzip2);
/// the rest is the payload. Every member and its data are read; stripped
/// members get a size from their index.
pub fn cpio(data: &[u8]) {
    let Some((sel, payload)) = data.split_first() else { return };
    let c = [
        Compression::None,
        Compression::Gzip,
        Compression::Xz,
        Compression::Lzma,
        Compression::Zstd,
        Compression::Bzip2,
    ][*sel as usize % 6];
    let Ok(d) = decoder(c, payload) else { return };
    let mut r = Reader::new(d.take(MAX_OUT));
    let size_of = |i: u32| (i < 1000).then_some(u64::from(i) * 3);
    let mut buf = [0u8; 4096];
    while let Ok(Some(e)) = r.next_entry(&size_of) {
        let mut got = 0u64;
        loop {
            match r.read_data(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n as u64,
                Err(_) => return,
            }
        }
        assert_eq!(got, e.size, "a member's data is exactly its size");
    }
}
