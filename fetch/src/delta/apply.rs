//! Running delta parts into a transaction.
//!
//! Every object a part makes is checked against the checksum its part
//! header names before it is stored, so a wrong or hostile part stores
//! nothing wrong; a part whose objects are all present already is skipped,
//! which is how an interrupted delta pull resumes without downloading
//! finished parts again.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use oxtree_store::checksum::Hasher;
use oxtree_store::object::{Commit, CommitMetadata, FileHeader, ObjectType};
use oxtree_store::repo::{RepoMode, Transaction};
use oxtree_store::{Checksum, Repo};

use super::bspatch::{bspatch_from, OldData};
use super::ops::{self, Reader};
use super::part::{decompress_into, payload_limit, Payload};
use super::superblock::{PartHeader, Superblock};
use super::{DeltaError, StaticDelta};

/// Objects larger than this are assembled in a file under the repo's
/// `tmp/` rather than in memory.
const IN_MEMORY_OBJECT: u64 = 1 << 20;

fn malformed(why: impl Into<String>) -> DeltaError {
    DeltaError::Malformed(why.into())
}

/// What applying wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Parts run.
    pub parts_applied: u64,
    /// Parts skipped because every object they make was here.
    pub parts_skipped: u64,
    /// Objects written.
    pub objects_written: u64,
}

/// Checks metadata bytes against their name and shape before they are
/// stored (as a pull checks what it fetches); parts make only dirtrees and
/// dirmeta.
fn check_metadata(ty: ObjectType, c: &Checksum, bytes: &[u8]) -> Result<(), DeltaError> {
    if !matches!(ty, ObjectType::DirTree | ObjectType::DirMeta) {
        return Err(malformed(format!("a part may not create {} object {c}", ty.name())));
    }
    Ok(crate::walk::verify_metadata(ty, c, bytes)?)
}

/// Where the open object's bytes go until it is closed.
enum Sink {
    Memory(Vec<u8>),
    /// Buffered: bspatch hands over runs of a few hundred bytes.
    File(BufWriter<File>, PathBuf),
}

/// The object between `o` and `c`.
struct OpenObject {
    checksum: Checksum,
    header: FileHeader,
    size: u64,
    written: u64,
    /// Already stored: bytes are checked for bounds and dropped.
    present: bool,
    hasher: Hasher,
    sink: Sink,
}

impl OpenObject {
    /// Adds `data` to the object, refusing to go past its declared size.
    fn append(&mut self, data: &[u8]) -> Result<(), DeltaError> {
        if data.len() as u64 > self.size - self.written {
            return Err(malformed(format!(
                "writes past the {} bytes declared for object {}",
                self.size, self.checksum
            )));
        }
        self.written += data.len() as u64;
        if self.present {
            return Ok(());
        }
        self.hasher.update(data);
        match &mut self.sink {
            Sink::Memory(v) => v.extend_from_slice(data),
            Sink::File(f, p) => {
                f.write_all(data).map_err(|source| oxtree_store::Error::Io { path: p.clone(), source })?
            }
        }
        Ok(())
    }
}

/// bspatch writes its output here.
impl Write for OpenObject {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The data of a local content object that `w` and `B` read from.
enum ReadSource {
    /// Larger objects, read as asked: bsdiff reads them at offsets all
    /// over the file, so no window keeps up, and holding them whole would
    /// cost their size for every part being applied.
    File(File, u64),
    /// Objects up to [`IN_MEMORY_SOURCE`], read whole in one call: their
    /// bsdiff control runs are often a few hundred bytes, and a read call
    /// each costs more than the bytes.
    Memory(Vec<u8>),
}

/// See [`ReadSource::Memory`].
const IN_MEMORY_SOURCE: u64 = 1 << 20;

impl ReadSource {
    fn len(&self) -> u64 {
        match self {
            ReadSource::File(_, n) => *n,
            ReadSource::Memory(v) => v.len() as u64,
        }
    }

    fn read(&self, off: u64, len: u64, what: &Checksum) -> Result<Vec<u8>, DeltaError> {
        if off.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(malformed(format!(
                "write of {len} bytes at {off} reads past the {} bytes of source object {what}",
                self.len()
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.read_at(off, &mut buf).map_err(|e| malformed(format!("reading source object {what}: {e}")))?;
        Ok(buf)
    }
}

impl OldData for ReadSource {
    fn len(&self) -> u64 {
        ReadSource::len(self)
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            ReadSource::Memory(v) => v.as_slice().read_at(off, buf),
            ReadSource::File(f, _) => f.read_exact_at(buf, off),
        }
    }
}

/// Runs one part's program into `tx`. `objects` is the part header's list;
/// each object made must be the next one on it, with its checksum.
pub fn apply_part(
    tx: &Transaction<'_>,
    header: &PartHeader,
    payload: &Payload<'_>,
    bareuseronly_files: bool,
) -> Result<u64, DeltaError> {
    let mut exec = Exec { tx, payload, objects: &header.objects, next: 0, open: None, source: None, written: 0 };
    let res = exec.run(bareuseronly_files);
    if let Some(OpenObject { sink: Sink::File(_, p), .. }) = exec.open.take() {
        let _ = std::fs::remove_file(p);
    }
    res?;
    Ok(exec.written)
}

struct Exec<'a, 't, 'r> {
    tx: &'t Transaction<'r>,
    payload: &'a Payload<'a>,
    objects: &'a [(ObjectType, Checksum)],
    next: usize,
    open: Option<OpenObject>,
    source: Option<(Checksum, ReadSource)>,
    written: u64,
}

impl<'a> Exec<'a, '_, '_> {
    fn blob(&self, off: u64, len: u64) -> Result<&'a [u8], DeltaError> {
        let blob: &'a [u8] = self.payload.blob;
        match off.checked_add(len) {
            Some(end) if end <= blob.len() as u64 => Ok(&blob[off as usize..end as usize]),
            _ => Err(malformed(format!("range of {len} bytes at {off} is outside the {}-byte blob", blob.len()))),
        }
    }

    fn record(&self) -> Result<(ObjectType, Checksum), DeltaError> {
        self.objects
            .get(self.next)
            .copied()
            .ok_or_else(|| malformed(format!("the program makes more than the {} objects listed", self.objects.len())))
    }

    fn file_header(&self, mode_idx: u64, xattr_idx: u64) -> Result<FileHeader, DeltaError> {
        let &(uid, gid, mode) = self.payload.modes.get(mode_idx as usize).ok_or_else(|| {
            malformed(format!("mode index {mode_idx} outside the table of {}", self.payload.modes.len()))
        })?;
        let xattrs = self.payload.xattrs.get(xattr_idx as usize).cloned().ok_or_else(|| {
            malformed(format!("xattr index {xattr_idx} outside the table of {}", self.payload.xattrs.len()))
        })?;
        Ok(FileHeader { uid, gid, mode, symlink_target: String::new(), xattrs })
    }

    fn run(&mut self, bareuseronly_files: bool) -> Result<(), DeltaError> {
        let mut r = Reader::new(self.payload.ops);
        while let Some(op) = r.op() {
            match op {
                ops::OPEN_SPLICE_AND_CLOSE => self.splice(&mut r, bareuseronly_files)?,
                ops::OPEN => {
                    if self.open.is_some() {
                        return Err(malformed("open while an object is open"));
                    }
                    let (mode_idx, xattr_idx, size) = (r.varint()?, r.varint()?, r.varint()?);
                    let (ty, c) = self.record()?;
                    if ty != ObjectType::File {
                        return Err(malformed(format!("open names {} object {c}", ty.name())));
                    }
                    let header = self.file_header(mode_idx, xattr_idx)?;
                    if !header.is_regular() {
                        return Err(malformed(format!("open of object {c} with mode {:o}", header.mode)));
                    }
                    header.validate().map_err(|e| malformed(format!("object {c}: {e}")))?;
                    crate::local::check_storable(self.tx, bareuseronly_files, &c, &header)
                        .map_err(|e| malformed(e.to_string()))?;
                    let present = self.tx.has_object(ObjectType::File, &c);
                    let sink = if present || size <= IN_MEMORY_OBJECT {
                        Sink::Memory(Vec::with_capacity(if present { 0 } else { size as usize }))
                    } else {
                        let dir = self.tx.repo().path().join("tmp");
                        let p = dir.join(format!("oxtree-delta-{}.tmp", c.to_hex()));
                        let f = File::options()
                            .read(true)
                            .write(true)
                            .create(true)
                            .truncate(true)
                            .open(&p)
                            .map_err(|source| oxtree_store::Error::Io { path: p.clone(), source })?;
                        Sink::File(BufWriter::with_capacity(256 * 1024, f), p)
                    };
                    let hasher = header.hasher();
                    self.open = Some(OpenObject { checksum: c, header, size, written: 0, present, hasher, sink });
                }
                ops::WRITE => {
                    let (len, off) = (r.varint()?, r.varint()?);
                    let data = match &self.source {
                        Some((c, s)) => s.read(off, len, c)?,
                        None => self.blob(off, len)?.to_vec(),
                    };
                    self.append(&data)?;
                }
                ops::SET_READ_SOURCE => {
                    let off = r.varint()?;
                    let c = Checksum::from_slice(self.blob(off, 32)?).map_err(|e| malformed(e.to_string()))?;
                    self.source = Some((c, open_source(self.tx.repo(), &c)?));
                }
                ops::UNSET_READ_SOURCE => self.source = None,
                ops::CLOSE => self.close()?,
                ops::BSPATCH => {
                    let (off, len) = (r.varint()?, r.varint()?);
                    let patch = self.blob(off, len)?;
                    let (_, src) = self.source.as_ref().ok_or_else(|| malformed("bspatch without a read source"))?;
                    let open = self.open.as_mut().ok_or_else(|| malformed("bspatch with no open object"))?;
                    let want = open.size - open.written;
                    // Old data read in pieces, new data straight into the
                    // object: neither is held whole.
                    bspatch_from(src, patch, want, open)?;
                }
                other => return Err(malformed(format!("unknown operation {other:#04x}"))),
            }
        }
        if self.open.is_some() {
            return Err(malformed("the program ends with an object still open"));
        }
        if self.next != self.objects.len() {
            return Err(malformed(format!(
                "the program made {} of the {} objects listed",
                self.next,
                self.objects.len()
            )));
        }
        Ok(())
    }

    fn splice(&mut self, r: &mut Reader<'_>, bareuseronly_files: bool) -> Result<(), DeltaError> {
        if self.open.is_some() {
            return Err(malformed("open-splice-and-close while an object is open"));
        }
        let (ty, c) = self.record()?;
        if ty.is_meta() {
            let (len, off) = (r.varint()?, r.varint()?);
            let bytes = self.blob(off, len)?;
            check_metadata(ty, &c, bytes)?;
            if !self.tx.has_object(ty, &c) {
                self.tx.write_metadata(ty, bytes)?;
                self.written += 1;
            }
        } else {
            let (mode_idx, xattr_idx, size, off) = (r.varint()?, r.varint()?, r.varint()?, r.varint()?);
            let mut header = self.file_header(mode_idx, xattr_idx)?;
            let data = self.blob(off, size)?;
            let payload: &[u8] = if header.is_symlink() {
                header.symlink_target = std::str::from_utf8(data)
                    .map_err(|_| malformed(format!("symlink object {c}: target is not UTF-8")))?
                    .to_string();
                b""
            } else {
                data
            };
            header.validate().map_err(|e| malformed(format!("object {c}: {e}")))?;
            let actual = header.checksum(payload);
            if actual != c {
                return Err(oxtree_store::Error::ChecksumMismatch { ty, expected: c, actual }.into());
            }
            crate::local::check_storable(self.tx, bareuseronly_files, &c, &header)
                .map_err(|e| malformed(e.to_string()))?;
            if !self.tx.has_object(ty, &c) {
                store_file(self.tx, &c, header, &mut &payload[..], payload.len() as u64)?;
                self.written += 1;
            }
        }
        self.next += 1;
        Ok(())
    }

    fn append(&mut self, data: &[u8]) -> Result<(), DeltaError> {
        let o = self.open.as_mut().ok_or_else(|| malformed("write with no open object"))?;
        o.append(data)
    }

    fn close(&mut self) -> Result<(), DeltaError> {
        let o = self.open.take().ok_or_else(|| malformed("close with no open object"))?;
        self.source = None;
        self.next += 1;
        let cleanup = |sink: &Sink| {
            if let Sink::File(_, p) = sink {
                let _ = std::fs::remove_file(p);
            }
        };
        if o.written != o.size {
            cleanup(&o.sink);
            return Err(malformed(format!("object {} closed at {} of its {} bytes", o.checksum, o.written, o.size)));
        }
        if o.present {
            return Ok(());
        }
        let actual = o.hasher.finish();
        if actual != o.checksum {
            cleanup(&o.sink);
            return Err(
                oxtree_store::Error::ChecksumMismatch { ty: ObjectType::File, expected: o.checksum, actual }.into()
            );
        }
        let res = match o.sink {
            Sink::Memory(v) => store_file(self.tx, &o.checksum, o.header, &mut &v[..], o.size),
            Sink::File(f, p) => {
                let r = f
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|mut f| f.rewind().map(|()| f))
                    .map_err(|source| DeltaError::Store(oxtree_store::Error::Io { path: p.clone(), source }))
                    .and_then(|mut f| store_file(self.tx, &o.checksum, o.header, &mut f, o.size));
                let _ = std::fs::remove_file(&p);
                r
            }
        };
        res?;
        self.written += 1;
        Ok(())
    }
}

/// Stores a verified content object in the destination's mode.
/// Stores an object whose checksum the caller has just verified from its
/// bytes, so the store need not hash them a second time.
fn store_file(
    tx: &Transaction<'_>,
    c: &Checksum,
    header: FileHeader,
    data: &mut dyn Read,
    size: u64,
) -> Result<(), DeltaError> {
    let header = crate::local::storable_header(tx, header);
    tx.write_file_trusted(c, &header, data, size)?;
    Ok(())
}

fn open_source(repo: &Repo, c: &Checksum) -> Result<ReadSource, DeltaError> {
    let obj = repo.open_file(c)?;
    if !obj.header.is_regular() {
        return Err(malformed(format!("read source {c} is not a regular file")));
    }
    // In the bare modes the object file is the data: read it in place.
    if repo.mode() != RepoMode::Archive {
        let p = repo.object_path(c, ObjectType::File);
        if obj.size > IN_MEMORY_SOURCE {
            if let Ok(f) = File::open(&p) {
                return Ok(ReadSource::File(f, obj.size));
            }
        }
    }
    let mut data = Vec::with_capacity(obj.size.min(IN_MEMORY_SOURCE) as usize);
    if let oxtree_store::repo::FileContent::Regular(mut r) = obj.content {
        r.read_to_end(&mut data)
            .map_err(|source| oxtree_store::Error::Io { path: repo.object_path(c, ObjectType::File), source })?;
    }
    Ok(ReadSource::Memory(data))
}

/// Reads, checks and runs part `i` of `sb` given its file's bytes (or the
/// inline copy, which the superblock's own digest already covers).
pub(crate) fn run_part(
    tx: &Transaction<'_>,
    sb: &Superblock,
    i: usize,
    bytes: Vec<u8>,
    inline: bool,
    bareuseronly_files: bool,
    raw: &mut Vec<u8>,
) -> Result<u64, DeltaError> {
    let h = &sb.parts[i];
    let what = format!("part {i}");
    if h.version > 1 {
        return Err(malformed(format!("{what}: too new version {}", h.version)));
    }
    if !inline {
        if bytes.len() as u64 != h.size {
            return Err(malformed(format!("{what}: {} bytes, its header says {}", bytes.len(), h.size)));
        }
        let actual = Checksum::digest(&bytes);
        if actual != h.checksum {
            return Err(malformed(format!("{what}: checksum {actual}, expected {}", h.checksum)));
        }
    }
    decompress_into(&bytes, h.version, payload_limit(h.usize, h.objects.len()), raw).map_err(|e| e.context(&what))?;
    // The compressed part is no longer needed while the program runs.
    drop(bytes);
    let payload = Payload::parse(raw).map_err(|e| e.context(&what))?;
    apply_part(tx, h, &payload, bareuseronly_files).map_err(|e| e.context(&what))
}

/// Whether every object part `h` makes is stored already.
pub(crate) fn part_done(tx: &Transaction<'_>, h: &PartHeader) -> bool {
    h.objects.iter().all(|(ty, c)| tx.has_object(*ty, c))
}

/// Writes the TO commit (and its detached metadata, if the delta carries
/// it), marking it partial first.
pub(crate) fn write_target_commit(tx: &Transaction<'_>, sb: &Superblock) -> Result<(), DeltaError> {
    let repo = tx.repo();
    let rel = StaticDelta { from: sb.from, to: sb.to }.rel_path();
    if tx.has_object(ObjectType::Commit, &sb.to) {
        return Ok(());
    }
    repo.mark_partial(&sb.to, b"")?;
    if let Some(meta) = sb.commitmeta(&rel) {
        let meta =
            CommitMetadata::from_bytes(&meta).map_err(|e| malformed(format!("detached metadata of {}: {e}", sb.to)))?;
        tx.write_commitmeta(&sb.to, &meta)?;
    }
    Commit::from_bytes_normal(&sb.commit).map_err(|e| {
        DeltaError::Store(oxtree_store::Error::BadObject { checksum: sb.to, ty: ObjectType::Commit, source: e })
    })?;
    tx.write_metadata(ObjectType::Commit, &sb.commit)?;
    Ok(())
}

/// The directory of a delta's parts and its superblock file, for a delta
/// given as its directory or as its superblock file.
pub fn offline_paths(path: &Path) -> (PathBuf, PathBuf) {
    if path.is_dir() {
        (path.to_path_buf(), path.join("superblock"))
    } else {
        (path.parent().map(Path::to_path_buf).unwrap_or_default(), path.to_path_buf())
    }
}

/// `static-delta apply-offline`: applies the delta in directory (or
/// superblock file) `path` into `repo`. FROM must be here, and the delta
/// may not have fallbacks (they would have to be downloaded).
pub fn apply_offline(repo: &Repo, path: &Path) -> Result<(Superblock, ApplyStats), DeltaError> {
    let (dir, sb_path) = offline_paths(path);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| DeltaError::Store(oxtree_store::Error::Io { path: p, source })
    };
    let bytes = std::fs::read(&sb_path).map_err(io(&sb_path))?;
    let sb = Superblock::parse(&bytes).map_err(|e| e.context(&sb_path.display().to_string()))?;
    if repo.mode() == RepoMode::Archive {
        return Err(malformed("static deltas can only be applied to bare, bare-user and bare-user-only repos"));
    }
    if let Some(from) = &sb.from {
        if !repo.has_object(ObjectType::Commit, from) || repo.is_partial(from) {
            return Err(malformed(format!("Commit {from}, which is the delta source, is not in repository")));
        }
    }
    if !sb.fallbacks.is_empty() {
        return Err(malformed("Cannot execute delta offline: contains nonempty http fallback entries"));
    }
    let rel = StaticDelta { from: sb.from, to: sb.to }.rel_path();
    let tx = repo.resume_transaction()?;
    let mut stats = ApplyStats::default();
    let mut raw = Vec::new();
    write_target_commit(&tx, &sb)?;
    for i in 0..sb.parts.len() {
        if part_done(&tx, &sb.parts[i]) {
            stats.parts_skipped += 1;
            continue;
        }
        let written = match sb.inline_part(&rel, i) {
            Some(b) => run_part(&tx, &sb, i, b, true, false, &mut raw)?,
            None => {
                let p = dir.join(i.to_string());
                let b = std::fs::read(&p).map_err(io(&p))?;
                run_part(&tx, &sb, i, b, false, false, &mut raw)?
            }
        };
        stats.parts_applied += 1;
        stats.objects_written += written;
    }
    tx.commit()?;
    // The tree must be whole before the commit stops being partial.
    // The delta's source was checked whole above, so only what differs from
    // it is looked at.
    if let Some((c, ty)) = oxtree_store::traverse::first_missing(repo, &sb.to, sb.from.as_ref())? {
        return Err(DeltaError::Store(oxtree_store::Error::MissingObject { checksum: c, ty }));
    }
    let _ = std::fs::remove_file(repo.commitpartial_path(&sb.to));
    Ok((sb, stats))
}
