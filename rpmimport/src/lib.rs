//! `oxtree-rpmimport`: RPM packages into OSTree commits.
//!
//! Built so far, and stable: the payload side, without librpm or
//! libarchive: [`payload`] decompresses every payload compressor rpmbuild
//! writes (gzip, xz, zstd, bzip2, legacy lzma, none), and [`cpio`] reads the
//! archive inside as a stream (newc, newc with checksum, RPM's stripped
//! form). Header reading, the path rules and the import into commits
//! follow.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cpio;
pub mod payload;
