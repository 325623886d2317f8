//! Reading `archive` content objects (`.filez`): a big-endian `u32` header
//! length, four bytes of padding, the `(tuuuusa(ayay))` header, then the
//! payload as raw deflate.
//!
//! Checkouts and fsck open one of these per file, thousands per second, so
//! the reader keeps system calls and allocations per object down: the
//! object is read in large pieces into a buffer that, with the inflate
//! state, is reused by the next object opened on the same thread; the
//! header is parsed from the first piece (no `fstat`); the end of the
//! object is where the deflate stream ends (no extra `read` for EOF).

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};

use flate2::{Decompress, FlushDecompress, Status};

use crate::object::{FileHeader, ObjectError};

/// How much of the object one `read` asks for: most files of a root file
/// system fit in one.
const CHUNK: usize = 128 * 1024;

/// A reader's reusable parts.
struct Parts {
    buf: Vec<u8>,
    z: Decompress,
}

thread_local! {
    /// The parts of the last reader dropped on this thread.
    static SPARE: RefCell<Option<Parts>> = const { RefCell::new(None) };
}

fn take_parts() -> Parts {
    SPARE.with(|s| s.borrow_mut().take()).unwrap_or_else(|| Parts { buf: vec![0; CHUNK], z: Decompress::new(false) })
}

/// Why an object is unreadable: an I/O error, or bytes that are not a
/// `.filez` object.
pub(crate) enum OpenError {
    /// Reading failed.
    Io(io::Error),
    /// The header is malformed.
    Bad(ObjectError),
}

/// Where a `.filez` object's bytes come from: a file, or memory (a
/// download).
pub(crate) trait Input: Read {
    /// How many bytes there are in all.
    fn total_len(&self) -> io::Result<u64>;
}

impl Input for File {
    fn total_len(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl Input for io::Cursor<Vec<u8>> {
    fn total_len(&self) -> io::Result<u64> {
        Ok(self.get_ref().len() as u64)
    }
}

/// The payload of an open `.filez` object, inflated as it is read.
pub(crate) struct FilezReader<R: Input = File> {
    file: R,
    parts: Option<Parts>,
    /// Unconsumed input is `buf[start..end]`.
    start: usize,
    end: usize,
    /// The file has no more bytes.
    eof: bool,
    /// The deflate stream has ended.
    done: bool,
}

impl<R: Input> FilezReader<R> {
    /// Reads the header of the object open as `file`; returns it, the
    /// payload size it records, and the reader of the payload.
    pub fn open(file: R) -> Result<(FileHeader, u64, FilezReader<R>), OpenError> {
        let mut r = FilezReader { file, parts: Some(take_parts()), start: 0, end: 0, eof: false, done: false };
        r.fill_to(8).map_err(OpenError::Io)?;
        let b = r.input();
        let len = if b.len() >= 8 { u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize } else { 0 };
        let want = 8 + len;
        if want > r.buf().len() {
            // A header larger than a read: only as much as the file holds
            // (a hostile length must not size an allocation).
            let flen = r.file.total_len().map_err(OpenError::Io)?;
            if want as u64 > flen {
                return Err(OpenError::Bad(ObjectError::Invalid(
                    "malformed archive file header: header length past the end".into(),
                )));
            }
            if let Some(p) = r.parts.as_mut() {
                p.buf.resize(want, 0);
            }
        }
        r.fill_to(want).map_err(OpenError::Io)?;
        let (header, size, used) = FileHeader::parse_archive(r.input()).map_err(OpenError::Bad)?;
        r.start += used;
        Ok((header, size, r))
    }

    fn buf(&self) -> &[u8] {
        self.parts.as_ref().map_or(&[][..], |p| &p.buf[..])
    }

    fn input(&self) -> &[u8] {
        &self.buf()[self.start..self.end]
    }

    /// Reads until at least `n` unconsumed bytes are buffered or the file
    /// ends (`n` at most the buffer's length).
    fn fill_to(&mut self, n: usize) -> io::Result<()> {
        let Some(p) = self.parts.as_mut() else { return Ok(()) };
        if self.start > 0 && self.start + n > p.buf.len() {
            p.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < n && !self.eof {
            match self.file.read(&mut p.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<R: Input> Read for FilezReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.done {
                return Ok(0);
            }
            if self.start == self.end && !self.eof {
                self.start = 0;
                self.end = 0;
                self.fill_to(1)?;
            }
            let Some(p) = self.parts.as_mut() else { return Ok(0) };
            let (in0, out0) = (p.z.total_in(), p.z.total_out());
            let flush = if self.eof { FlushDecompress::Finish } else { FlushDecompress::None };
            let status =
                p.z.decompress(&p.buf[self.start..self.end], out, flush)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let used = (p.z.total_in() - in0) as usize;
            let made = (p.z.total_out() - out0) as usize;
            self.start += used;
            if status == Status::StreamEnd {
                self.done = true;
            }
            if made > 0 {
                return Ok(made);
            }
            if used == 0 && self.start == self.end && self.eof && !self.done {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "deflate stream is truncated"));
            }
            if used == 0 && self.start < self.end && !self.done {
                // Input left but none taken and nothing made: the stream
                // is stuck (cannot happen with a valid stream).
                return Err(io::Error::new(io::ErrorKind::InvalidData, "deflate stream makes no progress"));
            }
        }
    }
}

impl<R: Input> Drop for FilezReader<R> {
    fn drop(&mut self) {
        if let Some(mut p) = self.parts.take() {
            p.z.reset(false);
            if p.buf.len() != CHUNK {
                p.buf = vec![0; CHUNK];
            }
            // A thread that is exiting may have dropped its slot already.
            let _ = SPARE.try_with(|s| *s.borrow_mut() = Some(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn filez(payload: &[u8], level: u32) -> Vec<u8> {
        let h =
            FileHeader { uid: 0, gid: 0, mode: 0o100644, symlink_target: String::new(), xattrs: Default::default() };
        let mut v = h.archive_prefix(payload.len() as u64);
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(payload).unwrap();
        v.extend(e.finish().unwrap());
        v
    }

    fn file_with(bytes: &[u8]) -> File {
        let dir = std::env::temp_dir().join(format!("oxtree-filez-{}-{}", std::process::id(), rand_suffix()));
        std::fs::write(&dir, bytes).unwrap();
        let f = File::open(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        f
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn payloads_of_every_size_come_back() {
        for len in [0usize, 1, 100, CHUNK - 1, CHUNK, 3 * CHUNK + 17] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8 ^ (i >> 9) as u8).collect();
            for level in [0, 6] {
                let (h, size, mut r) = FilezReader::open(file_with(&filez(&payload, level))).ok().unwrap();
                assert_eq!(h.mode, 0o100644);
                assert_eq!(size, len as u64);
                let mut got = Vec::new();
                r.read_to_end(&mut got).unwrap();
                assert_eq!(got, payload, "len {len} level {level}");
            }
        }
    }

    #[test]
    fn truncated_streams_and_headers_are_errors() {
        let payload = vec![42u8; 5000];
        let whole = filez(&payload, 6);
        let (_, _, mut r) = FilezReader::open(file_with(&whole[..whole.len() - 3])).ok().unwrap();
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(matches!(FilezReader::open(file_with(&whole[..5])), Err(OpenError::Bad(_))));
        let mut huge = whole.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(FilezReader::open(file_with(&huge)), Err(OpenError::Bad(_))));
    }

    #[test]
    fn garbage_after_the_header_is_invalid_data() {
        let mut v = filez(b"", 6);
        v.truncate(v.len() - 2);
        v.extend([0xff; 64]);
        let (_, _, mut r) = FilezReader::open(file_with(&v)).ok().unwrap();
        let err = r.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
