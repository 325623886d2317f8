//! The cpio archive inside an RPM payload, read as a stream.
//!
//! Three member forms occur:
//! - `070701` ("newc") and `070702` (newc with a checksum field, which RPM
//!   leaves zero): a 110-byte header of the magic and 13 fields of 8 hex
//!   digits (`ino mode uid gid nlink mtime filesize devmajor devminor
//!   rdevmajor rdevminor namesize check`), the name (`namesize` bytes with
//!   its NUL), padding to a multiple of 4 counted from the header's start,
//!   then `filesize` bytes of data padded to a multiple of 4;
//! - `07070X`, RPM's stripped form (files over 4 GiB, and v6 packages): the
//!   magic and one field, the member's index in the header's file list;
//!   the name, mode and size come from the header, so the caller supplies
//!   the size. Two bytes pad the 14 to 16; data follows, padded to 4;
//! - the end: a newc member named `TRAILER!!!`.
//!
//! The reader never seeks and never holds more than one header: payloads
//! are read once, as they are decompressed.

use std::io::{self, Read};

/// What can go wrong reading a payload.
#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    /// Reading (or decompressing) failed.
    #[error("reading the payload: {0}")]
    Io(#[from] io::Error),
    /// The stream ended inside a member, or before the trailer.
    #[error("payload truncated {0}")]
    Truncated(String),
    /// Bytes that are not a cpio member where one should start.
    #[error("payload: bad cpio magic {0:?} at byte {1}")]
    BadMagic(String, u64),
    /// A header field that is not 8 hex digits.
    #[error("payload: bad cpio header field {0} at byte {1}")]
    BadField(&'static str, u64),
    /// A name with no NUL, or longer than [`MAX_NAME`].
    #[error("payload: bad cpio name of {0} bytes at byte {1}")]
    BadName(u64, u64),
    /// A stripped member whose index the header does not list.
    #[error("payload: stripped cpio member for file index {0}, which the header does not list")]
    UnknownIndex(u32),
}

/// The longest member name accepted (RPM's own limit is PATH_MAX).
pub const MAX_NAME: u64 = 4096;

/// How a member names its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// By path, as stored (RPM writes `./usr/bin/x`).
    Path(Vec<u8>),
    /// By index in the header's file list (the stripped form).
    Index(u32),
}

/// One member's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name.
    pub name: Name,
    /// Inode number (members with the same one form a hardlink set).
    pub ino: u32,
    /// Type and permission bits; 0 for a stripped member.
    pub mode: u32,
    /// Owner ids as stored; RPM's header has the names that count.
    pub uid: u32,
    /// Group id as stored.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Modification time.
    pub mtime: u32,
    /// Bytes of data that follow.
    pub size: u64,
}

/// A streaming cpio reader.
pub struct Reader<R> {
    inner: R,
    /// Bytes consumed so far (for alignment and messages).
    pos: u64,
    /// Data bytes of the current member not yet read.
    left: u64,
    /// Padding after the current member's data.
    pad: u64,
    done: bool,
}

fn parse_hex(b: &[u8], what: &'static str, at: u64) -> Result<u32, CpioError> {
    let s = std::str::from_utf8(b).map_err(|_| CpioError::BadField(what, at))?;
    if s.len() != 8 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(CpioError::BadField(what, at));
    }
    u32::from_str_radix(s, 16).map_err(|_| CpioError::BadField(what, at))
}

fn pad4(n: u64) -> u64 {
    (4 - n % 4) % 4
}

impl<R: Read> Reader<R> {
    /// A reader of the archive `inner` (decompressed).
    pub fn new(inner: R) -> Self {
        Reader { inner, pos: 0, left: 0, pad: 0, done: false }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), CpioError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => return Err(CpioError::Truncated(format!("in {what} at byte {}", self.pos + got as u64))),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.pos += got as u64;
        Ok(())
    }

    fn skip(&mut self, mut n: u64, what: &str) -> Result<(), CpioError> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            self.fill(&mut buf[..k], what)?;
            n -= k as u64;
        }
        Ok(())
    }

    /// The next member, after skipping what is left of the current one's
    /// data; `None` after the trailer. `size_of` gives a stripped member's
    /// data size from its file index (`None`: the header has no such file).
    pub fn next_entry(&mut self, size_of: &mut dyn FnMut(u32) -> Option<u64>) -> Result<Option<Entry>, CpioError> {
        if self.done {
            return Ok(None);
        }
        self.skip(self.left + self.pad, "member data")?;
        self.left = 0;
        self.pad = 0;
        let start = self.pos;
        let mut magic = [0u8; 6];
        self.fill(&mut magic, "a cpio header")?;
        match &magic {
            b"07070X" => {
                let mut f = [0u8; 8];
                self.fill(&mut f, "a cpio header")?;
                let index = parse_hex(&f, "file index", start)?;
                // Padded to 4 like every header (14 bytes: 2 of padding).
                self.skip(pad4(14), "a cpio header")?;
                let size = size_of(index).ok_or(CpioError::UnknownIndex(index))?;
                self.left = size;
                self.pad = pad4(size);
                Ok(Some(Entry { name: Name::Index(index), ino: 0, mode: 0, uid: 0, gid: 0, nlink: 0, mtime: 0, size }))
            }
            b"070701" | b"070702" => {
                let mut h = [0u8; 104];
                self.fill(&mut h, "a cpio header")?;
                let field = |i: usize, what: &'static str| parse_hex(&h[i * 8..i * 8 + 8], what, start);
                let (ino, mode, uid, gid) = (field(0, "ino")?, field(1, "mode")?, field(2, "uid")?, field(3, "gid")?);
                let (nlink, mtime, size) = (field(4, "nlink")?, field(5, "mtime")?, u64::from(field(6, "filesize")?));
                let namesize = u64::from(field(11, "namesize")?);
                if namesize == 0 || namesize > MAX_NAME {
                    return Err(CpioError::BadName(namesize, start));
                }
                let mut name = vec![0u8; namesize as usize];
                self.fill(&mut name, "a cpio name")?;
                if name.pop() != Some(0) || name.contains(&0) {
                    return Err(CpioError::BadName(namesize, start));
                }
                self.skip(pad4(110 + namesize), "a cpio name")?;
                if name == b"TRAILER!!!" {
                    self.done = true;
                    return Ok(None);
                }
                self.left = size;
                self.pad = pad4(size);
                Ok(Some(Entry { name: Name::Path(name), ino, mode, uid, gid, nlink, mtime, size }))
            }
            _ => Err(CpioError::BadMagic(String::from_utf8_lossy(&magic).into_owned(), start)),
        }
    }

    /// Reads data of the current member; 0 at its end.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, CpioError> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let k = (buf.len() as u64).min(self.left) as usize;
        let n = loop {
            match self.inner.read(&mut buf[..k]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return Err(CpioError::Truncated(format!("in member data at byte {}", self.pos)));
        }
        self.left -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }

    /// The current member's data as a reader.
    pub fn data(&mut self) -> Data<'_, R> {
        Data { r: self }
    }
}

/// The data of the current member ([`Reader::data`]).
pub struct Data<'a, R> {
    r: &'a mut Reader<R>,
}

impl<R: Read> Read for Data<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.r.read_data(buf).map_err(|e| match e {
            CpioError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::UnexpectedEof, other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, mode: u32, ino: u32, data: &[u8]) -> Vec<u8> {
        let namesize = name.len() + 1;
        let mut v = format!(
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            0
        )
        .into_bytes();
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(data);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn none(_: u32) -> Option<u64> {
        None
    }

    #[test]
    fn reads_members_data_and_the_trailer() {
        let mut a = member("./usr/bin/a", 0o100755, 1, b"hello");
        a.extend(member("./usr/lib", 0o40755, 2, b""));
        a.extend(b"07070X00000003\0\0");
        a.extend(b"stripped data!\0\0");
        a.extend(member("TRAILER!!!", 0, 0, b""));
        let mut r = Reader::new(&a[..]);
        let e = r.next_entry(&mut none).unwrap().unwrap();
        assert_eq!((e.name, e.mode, e.size), (Name::Path(b"./usr/bin/a".to_vec()), 0o100755, 5));
        let mut s = String::new();
        r.data().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
        let e = r.next_entry(&mut none).unwrap().unwrap();
        assert_eq!(e.name, Name::Path(b"./usr/lib".to_vec()));
        let mut sizes = |i: u32| (i == 3).then_some(14u64);
        let e = r.next_entry(&mut sizes).unwrap().unwrap();
        assert_eq!((e.name, e.size), (Name::Index(3), 14));
        let mut d = Vec::new();
        r.data().read_to_end(&mut d).unwrap();
        assert_eq!(d, b"stripped data!");
        assert!(r.next_entry(&mut none).unwrap().is_none());
        assert!(r.next_entry(&mut none).unwrap().is_none());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let good = member("./a", 0o100644, 1, b"data");
        // Truncated anywhere.
        for cut in 0..good.len() {
            let mut r = Reader::new(&good[..cut]);
            let res = r.next_entry(&mut none).and_then(|_| {
                let mut d = Vec::new();
                r.data().read_to_end(&mut d).map_err(CpioError::Io)?;
                r.next_entry(&mut none)
            });
            assert!(res.is_err(), "cut at {cut}");
        }
        let mut bad = good.clone();
        bad[0] = b'1';
        assert!(matches!(Reader::new(&bad[..]).next_entry(&mut none), Err(CpioError::BadMagic(..))));
        let mut bad = good.clone();
        bad[10] = b'z';
        assert!(matches!(Reader::new(&bad[..]).next_entry(&mut none), Err(CpioError::BadField("ino", 0))));
        let stripped = b"07070X00000009\0\0".to_vec();
        assert!(matches!(Reader::new(&stripped[..]).next_entry(&mut none), Err(CpioError::UnknownIndex(9))));
        // A name without its NUL.
        let mut bad = good;
        bad[110 + 3] = b'x';
        assert!(matches!(Reader::new(&bad[..]).next_entry(&mut none), Err(CpioError::BadName(4, 0))));
    }
}
