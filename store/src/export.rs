//! Writing a commit as a tar stream, as `ostree export` does: GNU tar
//! headers, the root as `./` (or the prefix), directories with a trailing
//! `/`, files and directories in tree order (files first), every entry
//! with the commit's timestamp as mtime, numeric uid/gid and no user or
//! group names. Names longer than 100 bytes use GNU long-name entries.
//!
//! Unlike OSTree 2022.7 (whose GNU writer drops them), extended attributes
//! are kept, as pax `SCHILY.xattr.NAME` records (what GNU tar and libarchive
//! read); `no_xattrs` leaves them out.

use std::io::{self, Read, Write};

use tar::{EntryType, Header};

use crate::object::{DirMeta, FileHeader, Xattrs};
use crate::repo::{Error, FileContent, Repo};
use crate::traverse::RawDirTree;
use crate::Checksum;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Export only this path of the tree (a directory, or a single file).
    pub subpath: Option<String>,
    /// Prepended verbatim to every name (`the-prefix/` gives
    /// `the-prefix/file`; without a trailing slash it is glued on).
    pub prefix: Option<String>,
    /// Leave out extended attributes.
    pub no_xattrs: bool,
    /// Pad the archive with zeros to a multiple of 10240 bytes (tar's
    /// default record size), as `ostree export` does when it writes to
    /// stdout (with `--output` it does not).
    pub pad_records: bool,
}

/// Counts what passes through; once `discard` is set, swallows everything
/// (so that a failed export does not end with a tar trailer).
struct Counting<W> {
    inner: W,
    n: u64,
    discard: bool,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.discard {
            return Ok(buf.len());
        }
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads exactly `remaining` bytes from `inner`, failing on a short stream.
struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "content object is shorter than its size"));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

struct Exporter<'a, W: Write> {
    repo: &'a Repo,
    opts: &'a ExportOptions,
    mtime: u64,
    tar: tar::Builder<Counting<W>>,
}

impl<W: Write> Exporter<'_, W> {
    fn finish(self) -> Result<W, Error> {
        let mut c = self.tar.into_inner().map_err(tar_err)?;
        if self.opts.pad_records {
            let rem = c.n % 10240;
            if rem != 0 {
                let zeros = vec![0u8; (10240 - rem) as usize];
                c.write_all(&zeros).map_err(tar_err)?;
            }
        }
        c.flush().map_err(tar_err)?;
        Ok(c.inner)
    }
}

fn tar_err(e: io::Error) -> Error {
    Error::Io { path: "tar stream".into(), source: e }
}

/// Writes the header checksum as GNU tar and libarchive do: six octal
/// digits, a NUL and a space (the tar crate writes seven digits and a NUL).
fn set_cksum(h: &mut Header) {
    h.as_old_mut().cksum = *b"        ";
    let sum: u32 = h.as_bytes().iter().map(|&b| u32::from(b)).sum();
    let digits = format!("{sum:06o}");
    let c = &mut h.as_old_mut().cksum;
    c[..6].copy_from_slice(&digits.as_bytes()[digits.len() - 6..]);
    c[6] = 0;
    c[7] = b' ';
}

/// A GNU long-name (`L`) or long-link (`K`) header for `data`, laid out as
/// libarchive's GNU writer does (mode 0, owner names `root`/`wheel`, and for
/// `K` the first 100 bytes of the target in the link field).
fn gnu_long(kind: u8, data: &[u8]) -> Header {
    let mut h = Header::new_gnu();
    let name = b"././@LongLink";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_mode(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64 + 1);
    h.set_entry_type(EntryType::new(kind));
    if kind == b'K' {
        let n = data.len().min(100);
        h.as_old_mut().linkname[..n].copy_from_slice(&data[..n]);
    }
    if let Some(g) = h.as_gnu_mut() {
        g.uname[..4].copy_from_slice(b"root");
        g.gname[..5].copy_from_slice(b"wheel");
    }
    set_cksum(&mut h);
    h
}

/// One pax record: `LEN KEY=VALUE\n`, LEN counting itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len = len.to_string().len() + rest;
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

impl<W: Write> Exporter<'_, W> {
    fn name(&self, rel: &str, dir: bool) -> String {
        let mut n = match &self.opts.prefix {
            Some(p) => format!("{p}{rel}"),
            None => rel.to_string(),
        };
        if n.is_empty() {
            n.push('.');
        }
        if dir && !n.ends_with('/') {
            n.push('/');
        }
        n
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &mut self,
        name: &str,
        kind: EntryType,
        mode: u32,
        uid: u32,
        gid: u32,
        xattrs: &Xattrs,
        link: Option<&str>,
        size: u64,
        data: &mut dyn Read,
    ) -> Result<(), Error> {
        if !self.opts.no_xattrs && !xattrs.is_empty() {
            let mut recs = Vec::new();
            for (n, v) in xattrs.iter() {
                let key = format!("SCHILY.xattr.{}", String::from_utf8_lossy(n));
                recs.extend(pax_record(&key, v));
            }
            let mut h = Header::new_gnu();
            let base = name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let pname = format!("PaxHeaders/{base}");
            let pb = pname.as_bytes();
            let n = pb.len().min(99);
            h.as_old_mut().name[..n].copy_from_slice(&pb[..n]);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(self.mtime);
            h.set_size(recs.len() as u64);
            h.set_entry_type(EntryType::XHeader);
            set_cksum(&mut h);
            self.tar.append(&h, &recs[..]).map_err(tar_err)?;
        }
        let mut h = Header::new_gnu();
        let nb = name.as_bytes();
        if nb.len() > 100 {
            let l = gnu_long(b'L', nb);
            self.tar.append(&l, nb.chain(&[0u8][..])).map_err(tar_err)?;
            h.as_old_mut().name.copy_from_slice(&nb[..100]);
        } else {
            h.as_old_mut().name[..nb.len()].copy_from_slice(nb);
        }
        if let Some(t) = link {
            let tb = t.as_bytes();
            if tb.len() > 100 {
                let k = gnu_long(b'K', tb);
                self.tar.append(&k, tb.chain(&[0u8][..])).map_err(tar_err)?;
                h.as_old_mut().linkname.copy_from_slice(&tb[..100]);
            } else {
                h.as_old_mut().linkname[..tb.len()].copy_from_slice(tb);
            }
        }
        h.set_mode(mode & 0o7777);
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_mtime(self.mtime);
        h.set_size(size);
        h.set_entry_type(kind);
        set_cksum(&mut h);
        self.tar.append(&h, data).map_err(tar_err)
    }

    fn dir(&mut self, rel: &str, meta: &DirMeta) -> Result<(), Error> {
        let name = self.name(rel, true);
        self.entry(&name, EntryType::Directory, meta.mode, meta.uid, meta.gid, &meta.xattrs, None, 0, &mut io::empty())
    }

    fn file(&mut self, rel: &str, csum: &Checksum) -> Result<(), Error> {
        let obj = self.repo.open_file(csum)?;
        let name = self.name(rel, false);
        let h: FileHeader = obj.header;
        match obj.content {
            FileContent::Symlink => self.entry(
                &name,
                EntryType::Symlink,
                h.mode,
                h.uid,
                h.gid,
                &h.xattrs,
                Some(&h.symlink_target),
                0,
                &mut io::empty(),
            ),
            FileContent::Regular(r) => {
                let mut r = ExactReader { inner: r, remaining: obj.size };
                self.entry(&name, EntryType::Regular, h.mode, h.uid, h.gid, &h.xattrs, None, obj.size, &mut r)
            }
        }
    }

    fn tree(&mut self, rel: &str, tree: &Checksum) -> Result<(), Error> {
        let dt = RawDirTree::load(self.repo, tree)?;
        dt.validate_names().map_err(|m| Error::Invalid(format!("{tree}.dirtree: {m}")))?;
        let join = |n: &str| if rel.is_empty() { n.to_string() } else { format!("{rel}/{n}") };
        for (n, c) in &dt.files {
            self.file(&join(n), c)?;
        }
        for (n, t, m) in &dt.dirs {
            let p = join(n);
            let meta = self.repo.load_dirmeta(m)?;
            self.dir(&p, &meta)?;
            self.tree(&p, t)?;
        }
        Ok(())
    }
}

/// Writes `commit`'s tree (or `opts.subpath` of it) to `out` as a tar
/// stream, and returns `out`. On error, nothing more is written to `out`
/// (in particular no end-of-archive blocks).
pub fn export_commit<W: Write>(repo: &Repo, commit: &Checksum, out: W, opts: &ExportOptions) -> Result<W, Error> {
    let c = repo.load_commit(commit)?;
    // Find the subpath first, so that a bad path writes nothing at all.
    let (mut tree, mut meta) = (c.root_tree, c.root_meta);
    let mut single_file = None;
    let sub = opts.subpath.as_deref().unwrap_or("");
    let comps: Vec<&str> = sub.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    for (i, comp) in comps.iter().enumerate() {
        let dt = RawDirTree::load(repo, &tree)?;
        if let Some((_, t, m)) = dt.dirs.iter().find(|d| d.0 == *comp) {
            tree = *t;
            meta = *m;
            continue;
        }
        match dt.files.iter().find(|f| f.0 == *comp) {
            Some((name, f)) if i + 1 == comps.len() => single_file = Some((name.clone(), *f)),
            Some(_) => return Err(Error::Invalid("Not a directory".into())),
            None => return Err(Error::Invalid(format!("No such file or directory: {sub}"))),
        }
    }
    let mut ex = Exporter {
        repo,
        opts,
        mtime: c.timestamp,
        tar: tar::Builder::new(Counting { inner: out, n: 0, discard: false }),
    };
    let res = match &single_file {
        Some((name, f)) => ex.file(name, f),
        None => repo.load_dirmeta(&meta).and_then(|dm| ex.dir("", &dm)).and_then(|_| ex.tree("", &tree)),
    };
    match res {
        Ok(()) => ex.finish(),
        Err(e) => {
            ex.tar.get_mut().discard = true;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_lengths_count_themselves() {
        for vlen in 0..200 {
            let r = pax_record("SCHILY.xattr.user.x", &vec![b'a'; vlen]);
            let sp = r.iter().position(|&b| b == b' ').unwrap();
            let n: usize = std::str::from_utf8(&r[..sp]).unwrap().parse().unwrap();
            assert_eq!(n, r.len());
        }
    }
}
