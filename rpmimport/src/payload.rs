//! Decompressing an RPM payload: every compressor `rpmbuild` can write
//! (`%_binary_payload` `w9.gzdio`, `w6.xzdio`, `w19.zstdio`, `w9.bzdio`,
//! the legacy `w7.lzdio`, `w0.ufdio`), in pure Rust.
//!
//! The header's `PAYLOADCOMPRESSOR` names it; the stream's first bytes are
//! checked against that name, so that a header that lies is an error
//! rather than garbage fed to the cpio reader.

use std::io::{self, BufRead, BufReader, Read};

/// A payload compressor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `w0.ufdio`: none.
    None,
    /// gzip (RPM's default when the header names none).
    Gzip,
    /// xz.
    Xz,
    /// The legacy `.lzma` format ("lzma").
    Lzma,
    /// zstd.
    Zstd,
    /// bzip2.
    Bzip2,
}

/// An unknown compressor name, or a stream that does not start as its
/// compressor's does.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The header names a compressor we do not know.
    #[error("unknown payload compressor '{0}'")]
    Unknown(String),
    /// The stream's first bytes are another format's.
    #[error("payload is not {0:?} data as the header says (it starts with {1:02x?})")]
    Mismatch(Compression, Vec<u8>),
    /// Nothing follows the headers.
    #[error("truncated: the file ends where its payload should start")]
    Empty,
    /// Reading failed.
    #[error("reading the payload: {0}")]
    Io(#[from] io::Error),
}

impl Compression {
    /// The compressor `PAYLOADCOMPRESSOR` names (`None`: the tag is absent,
    /// which means gzip).
    pub fn from_header(name: Option<&str>) -> Result<Compression, PayloadError> {
        Ok(match name.map(str::trim) {
            None | Some("gzip") => Compression::Gzip,
            Some("xz") => Compression::Xz,
            Some("lzma") => Compression::Lzma,
            Some("zstd") => Compression::Zstd,
            Some("bzip2") => Compression::Bzip2,
            Some("identity") | Some("none") | Some("") => Compression::None,
            Some(other) => return Err(PayloadError::Unknown(other.to_string())),
        })
    }

    /// Whether `head` (the stream's first bytes) can start this format.
    fn matches(self, head: &[u8]) -> bool {
        match self {
            Compression::None => head.starts_with(b"0707"),
            Compression::Gzip => head.starts_with(&[0x1f, 0x8b]),
            Compression::Xz => head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
            // .lzma has no magic; its first byte is the properties byte
            // (lc/lp/pb, at most 224).
            Compression::Lzma => head.first().is_some_and(|b| *b < 225),
            Compression::Zstd => head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Bzip2 => head.starts_with(b"BZh"),
        }
    }
}

/// The decompressed payload of `r` (positioned at the payload's start).
pub fn decoder<'a, R: Read + 'a>(c: Compression, r: R) -> Result<Box<dyn Read + 'a>, PayloadError> {
    let mut r = BufReader::with_capacity(256 * 1024, r);
    let head = r.fill_buf()?;
    if head.is_empty() {
        return Err(PayloadError::Empty);
    }
    // rpm reads gzip payloads through zlib, which passes data that is not
    // gzip through unchanged: packages without a PAYLOADCOMPRESSOR tag
    // (which means gzip) whose payload is a bare cpio archive install.
    let c = if c == Compression::Gzip && Compression::None.matches(head) { Compression::None } else { c };
    if !c.matches(head) {
        return Err(PayloadError::Mismatch(c, head[..head.len().min(8)].to_vec()));
    }
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(r, true)),
        Compression::Lzma => Box::new(
            lzma_rust2::LzmaReader::new_mem_limit(r, u32::MAX, None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("lzma: {e}")))?,
        ),
        Compression::Zstd => Box::new(ZstdFrames { inner: Some(r), frame: None }),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
    })
}

/// zstd frames one after another (the decoder stops at a frame's end).
struct ZstdFrames<R: BufRead> {
    inner: Option<R>,
    frame: Option<structured_zstd::decoding::StreamingDecoder<R, structured_zstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(f) = &mut self.frame {
                let n = f.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                let done = self.frame.take().map(|f| f.into_inner());
                self.inner = done;
            }
            let Some(mut inner) = self.inner.take() else { return Ok(0) };
            if inner.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let f = structured_zstd::decoding::StreamingDecoder::new(inner)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?;
            self.frame = Some(f);
        }
    }
}
