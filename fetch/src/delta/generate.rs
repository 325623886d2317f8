//! Building static deltas that the real OSTree applies.
//!
//! The objects are everything TO reaches that FROM does not (the TO commit
//! itself travels in the superblock). New files are paired with old files
//! they are likely versions of: the same path, else the same name, else the
//! same path or name once digit runs are ignored (`libfoo.so.1.2.3` and
//! `libfoo.so.1.2.4`, `/usr/share/doc/pkg-1.0/` and `pkg-1.1/`), which
//! catches the renames of a package upgrade that OSTree's basename rule
//! misses. A pair is encoded by bsdiff when enabled and small enough, else
//! by content-defined chunk matching when at least half the new file is
//! found in the old one (large files that chunk matching covers almost
//! whole skip bsdiff, which could save them little and costs much); other files are stored whole, grouped by
//! extension so that xz sees similar data together, or, when larger than
//! the fallback size, left for the client to fetch on its own.
//!
//! Parts are compressed on worker threads while the next part is built;
//! at most a few parts' worth of data is in memory at once.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use oxtree_store::gvariant::Value;
use oxtree_store::object::{FileHeader, ObjectType};
use oxtree_store::repo::{write_atomic, FileContent, Repo};
use oxtree_store::Checksum;
use rayon::prelude::*;

use super::ops::{self, put_varint};
use super::part::{Compression, Payload};
use super::rollsum::{self, Piece};
use super::superblock::{Endianness, Fallback, PartHeader, Superblock, ENDIANNESS_KEY};
use super::{DeltaError, StaticDelta};

/// What to build.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The starting commit; `None` for a from-scratch delta.
    pub from: Option<Checksum>,
    /// The target commit.
    pub to: Checksum,
    /// Carry the parts inside the superblock.
    pub inline: bool,
    /// Files larger than this (bytes) are fallbacks; 0: none are.
    pub min_fallback_size: u64,
    /// Pairs whose sizes add up to more than this (bytes) are not bsdiffed.
    pub max_bsdiff_size: u64,
    /// Start a new part beyond this many bytes.
    pub max_chunk_size: u64,
    /// Use bsdiff for changed files.
    pub bsdiff: bool,
    /// Byte order of the sizes.
    pub endianness: Endianness,
    /// Write the superblock here (parts beside it) instead of the repo.
    pub filename: Option<PathBuf>,
    /// How parts are compressed.
    pub compression: Compression,
    /// Extra superblock metadata, first in its dictionary.
    pub metadata: Vec<(String, Value<'static>)>,
}

impl GenerateOptions {
    /// OSTree's defaults (fallbacks above 4 MB, bsdiff up to 128 MB, xz,
    /// host byte order) but for parts of 8 MB rather than 32: with a 2 MiB
    /// xz dictionary a bigger part compresses no better, and the client
    /// holds a part in memory while it applies it.
    pub fn new(from: Option<Checksum>, to: Checksum) -> GenerateOptions {
        GenerateOptions {
            from,
            to,
            inline: false,
            min_fallback_size: 4_000_000,
            max_bsdiff_size: 128_000_000,
            max_chunk_size: 8_000_000,
            bsdiff: true,
            endianness: Endianness::host(),
            filename: None,
            compression: Compression::Xz,
            metadata: Vec::new(),
        }
    }
}

/// What was built (what `static-delta generate` reports).
#[derive(Debug, Clone, Default)]
pub struct GenerateStats {
    /// New files paired with an old one.
    pub modified: u64,
    /// Of those, encoded by chunk matching.
    pub rollsum_objects: u64,
    /// Bytes chunk matching took from old files.
    pub rollsum_bytes: u64,
    /// Of those, encoded by bsdiff.
    pub bsdiff_objects: u64,
    /// New metadata objects.
    pub new_metadata: u64,
    /// New regular files.
    pub new_regular: u64,
    /// New symlinks.
    pub new_symlinks: u64,
    /// Fallback objects.
    pub fallbacks: u64,
    /// Per part: objects, compressed size, uncompressed size.
    pub parts: Vec<(usize, u64, u64)>,
    /// What the new objects take as loose objects in the repo.
    pub loose_size: u64,
}

/// A file of the TO tree the delta must carry.
struct NewFile {
    checksum: Checksum,
    path: String,
    header: FileHeader,
    size: u64,
}

/// How a new regular file is encoded.
enum Encoding {
    Whole,
    Rollsum { old: Checksum, pieces: Vec<Piece>, new_bytes: Vec<u8>, matched: u64 },
    Bsdiff { old: Checksum, patch: Vec<u8> },
}

/// Every object of a tree, and for each file the first path it has.
#[derive(Default)]
struct TreeIndex {
    metadata: Vec<(ObjectType, Checksum)>,
    objects: HashSet<(Checksum, ObjectType)>,
    files: Vec<(String, Checksum)>,
}

fn index_tree(repo: &Repo, commit: &Checksum) -> Result<TreeIndex, DeltaError> {
    let c = repo.load_commit(commit)?;
    let mut idx = TreeIndex::default();
    let mut stack = vec![(String::new(), c.root_tree, c.root_meta)];
    while let Some((path, tree, meta)) = stack.pop() {
        if idx.objects.insert((meta, ObjectType::DirMeta)) {
            idx.metadata.push((ObjectType::DirMeta, meta));
        }
        if !idx.objects.insert((tree, ObjectType::DirTree)) {
            continue;
        }
        idx.metadata.push((ObjectType::DirTree, tree));
        let dt = repo.load_dirtree(&tree)?;
        for f in &dt.files {
            if idx.objects.insert((f.checksum, ObjectType::File)) {
                idx.files.push((format!("{path}/{}", f.name), f.checksum));
            }
        }
        for d in dt.dirs.iter().rev() {
            stack.push((format!("{path}/{}", d.name), d.tree, d.meta));
        }
    }
    Ok(idx)
}

/// A name or path with every run of digits replaced by `#`: versions of a
/// file across a package upgrade have the same one.
fn versionless(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_digits = false;
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            out.push(ch);
            in_digits = false;
        }
    }
    out
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// Data that chunk matching and bsdiff cannot improve on (OSTree's rule).
/// Gzip files are diffed: Debian's are made with `gzip -n`, so a changed
/// man page or changelog keeps the deflate blocks before the change, and
/// on the benchmark's update pair diffing them made the delta 8% smaller.
fn already_compressed(path: &str) -> bool {
    let ext = basename(path).rsplit('.').next().unwrap_or("");
    matches!(ext, "xz" | "bz2")
}

/// Where to look for the old version of a new file, best first.
struct OldFiles {
    by_path: HashMap<String, Checksum>,
    by_name: HashMap<String, Checksum>,
    by_versionless_path: HashMap<String, Checksum>,
    by_versionless_name: HashMap<String, Checksum>,
}

impl OldFiles {
    fn new(files: &[(String, Checksum)]) -> OldFiles {
        let mut o = OldFiles {
            by_path: HashMap::new(),
            by_name: HashMap::new(),
            by_versionless_path: HashMap::new(),
            by_versionless_name: HashMap::new(),
        };
        for (p, c) in files {
            o.by_path.insert(p.clone(), *c);
            o.by_name.entry(basename(p).to_string()).or_insert(*c);
            o.by_versionless_path.entry(versionless(p)).or_insert(*c);
            o.by_versionless_name.entry(versionless(basename(p))).or_insert(*c);
        }
        o
    }

    fn candidates(&self, path: &str) -> Vec<Checksum> {
        let mut out = Vec::new();
        for c in [
            self.by_path.get(path),
            self.by_name.get(basename(path)),
            self.by_versionless_path.get(&versionless(path)),
            self.by_versionless_name.get(&versionless(basename(path))),
        ]
        .into_iter()
        .flatten()
        {
            if !out.contains(c) {
                out.push(*c);
            }
        }
        out
    }
}

fn read_data(repo: &Repo, c: &Checksum) -> Result<Vec<u8>, DeltaError> {
    Ok(repo.read_file(c)?.1)
}

/// Files from this size (bytes) on are tried with chunk matching before
/// bsdiff.
const NEAR_IDENTICAL_MIN: usize = 1 << 20;
/// Chunk matching is taken over bsdiff when at most this fraction
/// (1/N) of the new file is left unmatched.
const NEAR_IDENTICAL_RATIO: u64 = 64;

/// The rollsum encoding of `new` from `pieces`: the unmatched bytes in order.
fn rollsum_encoding(old: Checksum, pieces: &[Piece], new: &[u8], matched: u64) -> Encoding {
    let mut new_bytes = Vec::new();
    for p in pieces {
        if let Piece::New { new_off, len } = *p {
            new_bytes.extend_from_slice(&new[new_off as usize..(new_off + len) as usize]);
        }
    }
    Encoding::Rollsum { old, pieces: pieces.to_vec(), new_bytes, matched }
}

/// The old file a new one is best encoded against, and how.
fn encode(repo: &Repo, f: &NewFile, old: &OldFiles, opts: &GenerateOptions) -> Result<Encoding, DeltaError> {
    if f.size == 0 || already_compressed(&f.path) {
        return Ok(Encoding::Whole);
    }
    let mut new_data: Option<Vec<u8>> = None;
    for cand in old.candidates(&f.path) {
        let obj = repo.open_file(&cand)?;
        // Only readable, non-empty regular files of similar size (OSTree
        // also requires the old file to be world-readable).
        let (small, large) = (obj.size.min(f.size), obj.size.max(f.size));
        if !obj.header.is_regular() || obj.header.mode & 0o004 == 0 || small == 0 || large > small * 2 {
            continue;
        }
        let old_data = match obj.content {
            FileContent::Regular(mut r) => {
                let mut v = Vec::with_capacity(obj.size as usize);
                std::io::Read::read_to_end(&mut r, &mut v).map_err(|source| oxtree_store::Error::Io {
                    path: repo.object_path(&cand, ObjectType::File),
                    source,
                })?;
                v
            }
            FileContent::Symlink => continue,
        };
        let new = match &new_data {
            Some(d) => d,
            None => new_data.insert(read_data(repo, &f.checksum)?),
        };
        // bsdiff first: on binaries rebuilt or shifted it is far smaller
        // than chunk matching (a prepended header costs one chunk of
        // literal bytes with chunks, a few bytes with bsdiff). But a large
        // file that chunks already cover almost entirely (data appended, a
        // header or a few bytes changed) can save at most its few unmatched
        // chunks by bsdiff, whose suffix sort and diff stream take seconds
        // per 10 MB: chunks it is.
        let fits =
            old_data.len() < i32::MAX as usize && old_data.len() as u64 + new.len() as u64 <= opts.max_bsdiff_size;
        let use_bsdiff = opts.bsdiff && fits;
        let chunked = (!use_bsdiff || new.len() >= NEAR_IDENTICAL_MIN).then(|| rollsum::matches(&old_data, new));
        if let Some((pieces, matched)) = chunked.as_ref() {
            let unmatched = new.len() as u64 - matched;
            if unmatched * NEAR_IDENTICAL_RATIO <= new.len() as u64 || (!use_bsdiff && matched * 2 >= new.len() as u64)
            {
                return Ok(rollsum_encoding(cand, pieces, new, *matched));
            }
        }
        if use_bsdiff {
            let mut patch = Vec::new();
            super::bsdiff::diff(&old_data, new, &mut patch);
            return Ok(Encoding::Bsdiff { old: cand, patch });
        }
        // Paired, but neither encoding applies: try no other candidate.
        break;
    }
    Ok(Encoding::Whole)
}

/// One part being filled.
#[derive(Default)]
struct PartBuilder {
    modes: Vec<(u32, u32, u32)>,
    mode_index: HashMap<(u32, u32, u32), u64>,
    xattrs: Vec<oxtree_store::object::Xattrs>,
    xattr_index: HashMap<Vec<u8>, u64>,
    blob: Vec<u8>,
    ops: Vec<u8>,
    objects: Vec<(ObjectType, Checksum)>,
    usize: u64,
}

impl PartBuilder {
    fn size(&self) -> u64 {
        (self.blob.len() + self.ops.len() + self.modes.len() * 12 + self.objects.len() * 33) as u64
    }

    fn mode(&mut self, h: &FileHeader) -> u64 {
        let key = (h.uid, h.gid, h.mode);
        let next = self.modes.len() as u64;
        let modes = &mut self.modes;
        *self.mode_index.entry(key).or_insert_with(|| {
            modes.push(key);
            next
        })
    }

    fn xattr(&mut self, h: &FileHeader) -> u64 {
        let key = h.xattrs.to_value().to_bytes();
        let next = self.xattrs.len() as u64;
        let xattrs = &mut self.xattrs;
        *self.xattr_index.entry(key).or_insert_with(|| {
            xattrs.push(h.xattrs.clone());
            next
        })
    }

    fn append(&mut self, data: &[u8]) -> u64 {
        let off = self.blob.len() as u64;
        self.blob.extend_from_slice(data);
        off
    }

    fn op(&mut self, op: u8, operands: &[u64]) {
        self.ops.push(op);
        for &v in operands {
            put_varint(&mut self.ops, v);
        }
    }
}

/// A finished part on its way to a compressor.
struct PartJob {
    index: usize,
    part: PartBuilder,
}

/// A compressed part.
struct PartDone {
    index: usize,
    header: PartHeader,
    /// The bytes, kept only for inline deltas.
    inline: Option<Vec<u8>>,
    uncompressed: u64,
}

/// Counts what is written to it.
struct Counting(u64);

impl std::io::Write for Counting {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compresses serialised payload bytes into part-file bytes.
pub fn compress(payload: &[u8], compression: Compression) -> Result<Vec<u8>, DeltaError> {
    compress_with(payload.len() as u64, compression, &mut |w| w.write_all(payload))
}

fn compress_payload(payload: &Payload<'_>, len: u64, compression: Compression) -> Result<Vec<u8>, DeltaError> {
    compress_with(len, compression, &mut |w| payload.write_to(w))
}

/// Part-file bytes: the compression byte, then what `write` produces
/// (`len` bytes) compressed.
fn compress_with(
    len: u64,
    compression: Compression,
    write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<Vec<u8>, DeltaError> {
    let err = |e: std::io::Error| DeltaError::Malformed(format!("compressing a part: {e}"));
    let mut out = vec![compression.byte()];
    match compression {
        Compression::None => write(&mut out).map_err(err)?,
        Compression::Xz => {
            let mut o = lzma_rust2::XzOptions::with_preset(8);
            // A dictionary larger than the data finds nothing more, and
            // costs the encoder about ten times its size and the client's
            // decoder its size: 2 MiB at most, which compressed the update
            // pair of the benchmark as well as 32 MiB did.
            let want = len.next_power_of_two().clamp(1 << 16, 1 << 21) as u32;
            o.lzma_options.dict_size = o.lzma_options.dict_size.min(want);
            let mut w = lzma_rust2::XzWriter::new(out, o).map_err(err)?;
            write(&mut w).map_err(err)?;
            out = w.finish().map_err(err)?;
        }
        Compression::Zstd => {
            let mut data = Vec::with_capacity(len as usize);
            write(&mut data).map_err(err)?;
            // Level 19: within a few percent of xz's size on the update
            // pair of the benchmark, at about a second per 8 MB part.
            let level = structured_zstd::encoding::CompressionLevel::from_level(ZSTD_LEVEL);
            out.extend_from_slice(&structured_zstd::encoding::compress_to_vec(&data[..], level));
        }
    }
    Ok(out)
}

/// Builds the delta `opts` describes in `repo` (or at `opts.filename`) and
/// returns its superblock.
pub fn generate(repo: &Repo, opts: &GenerateOptions) -> Result<(Superblock, GenerateStats), DeltaError> {
    let commit = repo.read_metadata(ObjectType::Commit, &opts.to)?;
    let to_idx = index_tree(repo, &opts.to)?;
    let from_idx = match &opts.from {
        Some(f) => {
            repo.read_metadata(ObjectType::Commit, f)?;
            index_tree(repo, f)?
        }
        None => TreeIndex::default(),
    };
    let mut stats = GenerateStats::default();
    let new_meta: Vec<(ObjectType, Checksum)> =
        to_idx.metadata.iter().filter(|(ty, c)| !from_idx.objects.contains(&(*c, *ty))).copied().collect();
    // OSTree counts the commit among the new metadata.
    stats.new_metadata = new_meta.len() as u64 + 1;

    // The new content objects, with their headers.
    let mut new_files = Vec::new();
    for (path, c) in &to_idx.files {
        if from_idx.objects.contains(&(*c, ObjectType::File)) {
            continue;
        }
        let obj = repo.open_file(c)?;
        new_files.push(NewFile { checksum: *c, path: path.clone(), header: obj.header, size: obj.size });
    }
    let (symlinks, regular): (Vec<NewFile>, Vec<NewFile>) = new_files.into_iter().partition(|f| f.header.is_symlink());
    stats.new_regular = regular.len() as u64;
    stats.new_symlinks = symlinks.len() as u64;
    for (c, ty) in new_meta
        .iter()
        .map(|(t, c)| (c, t))
        .chain(regular.iter().chain(&symlinks).map(|f| (&f.checksum, &ObjectType::File)))
    {
        stats.loose_size += std::fs::symlink_metadata(repo.object_path(c, *ty)).map(|m| m.len()).unwrap_or(0);
    }

    let old = OldFiles::new(&from_idx.files);

    // Where parts go.
    let delta = StaticDelta { from: opts.from, to: opts.to };
    let rel = delta.rel_path();
    let (dir, superblock_path) = match &opts.filename {
        Some(f) => (f.parent().map(Path::to_path_buf).unwrap_or_default(), f.clone()),
        None => {
            oxtree_store::deltas::delete_static_delta(repo, &delta)?;
            let d = delta.path(repo);
            (d.clone(), d.join("superblock"))
        }
    };
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| DeltaError::Store(oxtree_store::Error::Io { path: p, source })
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;

    let workers = rayon::current_num_threads().clamp(1, 2);
    // A rendezvous: a part is built only once a worker is free for it.
    let (job_tx, job_rx) = mpsc::sync_channel::<PartJob>(0);
    let job_rx = std::sync::Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Result<PartDone, DeltaError>>();
    let mut fallbacks: Result<Vec<&NewFile>, DeltaError> = Ok(Vec::new());
    let parts: Result<Vec<PartDone>, DeltaError> = std::thread::scope(|s| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            let dir = &dir;
            s.spawn(move || loop {
                let job = match job_rx.lock().map(|rx| rx.recv()) {
                    Ok(Ok(j)) => j,
                    _ => return,
                };
                let r = finish_part(job, opts, dir);
                if done_tx.send(r).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let built = build_parts(repo, opts, &old, &new_meta, &regular, &symlinks, &job_tx, &mut stats);
        drop(job_tx);
        let mut parts = Vec::new();
        for r in done_rx {
            parts.push(r?);
        }
        fallbacks = built;
        Ok(parts)
    });
    let mut parts = parts?;
    parts.sort_by_key(|p| p.index);

    let mut metadata = opts.metadata.clone();
    metadata.push((ENDIANNESS_KEY.into(), Value::Byte(opts.endianness.byte())));
    for p in &parts {
        if let Some(bytes) = &p.inline {
            let (kind, body) = bytes.split_first().map(|(k, b)| (*k, b.to_vec())).unwrap_or((0, Vec::new()));
            let v = Value::Tuple(vec![Value::Byte(kind), Value::Bytes(Cow::Owned(body))]);
            metadata.push((format!("{rel}/{}", p.index), v));
        }
    }
    if let Some(meta) = repo.load_commitmeta(&opts.to)? {
        metadata.push((format!("{rel}/commitmeta"), meta.to_value().into_owned()));
    }
    let fallbacks = fallbacks?;
    let mut fallback_entries = Vec::new();
    for f in fallbacks {
        let stored = std::fs::metadata(repo.object_path(&f.checksum, ObjectType::File)).map(|m| m.len()).unwrap_or(0);
        fallback_entries.push(Fallback { ty: ObjectType::File, checksum: f.checksum, size: stored, usize: f.size });
    }
    stats.parts = parts.iter().map(|p| (p.header.objects.len(), p.header.size, p.uncompressed)).collect();
    let timestamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let sb = Superblock {
        metadata,
        timestamp,
        from: opts.from,
        to: opts.to,
        commit,
        parts: parts.into_iter().map(|p| p.header).collect(),
        fallbacks: fallback_entries,
        endianness: opts.endianness,
        endianness_source: super::superblock::EndiannessSource::Declared,
        signed: false,
    };
    // The superblock goes last: a delta directory without one is not a
    // delta (listing and indexing skip it).
    write_atomic(&superblock_path, &sb.to_bytes(), 0o644, repo.fsync_enabled())?;
    Ok((sb, stats))
}

fn finish_part(job: PartJob, opts: &GenerateOptions, dir: &Path) -> Result<PartDone, DeltaError> {
    let p = job.part;
    let payload = Payload { modes: p.modes, xattrs: p.xattrs, blob: &p.blob, ops: &p.ops };
    let mut counted = Counting(0);
    payload.write_to(&mut counted).map_err(|e| DeltaError::Malformed(format!("part {}: {e}", job.index)))?;
    let bytes = compress_payload(&payload, counted.0, opts.compression)?;
    drop(p.blob);
    let header = PartHeader {
        version: opts.compression.part_version(),
        checksum: Checksum::digest(&bytes),
        size: bytes.len() as u64,
        usize: p.usize,
        objects: p.objects,
    };
    let inline = if opts.inline {
        Some(bytes)
    } else {
        let path = dir.join(job.index.to_string());
        std::fs::write(&path, &bytes).map_err(|source| oxtree_store::Error::Io { path, source })?;
        None
    };
    Ok(PartDone { index: job.index, header, inline, uncompressed: counted.0 })
}

/// Pairs of changed files encoded at once: enough to keep both cores
/// busy, few enough that their patches do not pile up in memory.
const ENCODE_BATCH: usize = 16;

/// The zstd level of `--compression=zstd` parts.
const ZSTD_LEVEL: i32 = 19;

/// Fills parts and hands them to the compressors: new metadata, changed
/// files encoded against their old versions (in parallel batches, emitted
/// as they come), the other new regular files grouped by extension, then
/// symlinks. Returns the files left for the client to fetch on its own.
#[allow(clippy::too_many_arguments)]
fn build_parts<'f>(
    repo: &Repo,
    opts: &GenerateOptions,
    old: &OldFiles,
    meta: &[(ObjectType, Checksum)],
    regular: &'f [NewFile],
    symlinks: &[NewFile],
    jobs: &mpsc::SyncSender<PartJob>,
    stats: &mut GenerateStats,
) -> Result<Vec<&'f NewFile>, DeltaError> {
    // Blobs get their whole room up front: growing by doubling would copy
    // tens of megabytes and hold twice that for a moment (untouched
    // capacity costs nothing).
    let fresh =
        || PartBuilder { blob: Vec::with_capacity(opts.max_chunk_size.min(1 << 30) as usize), ..Default::default() };
    let mut cur = fresh();
    let mut index = 0usize;
    let send = |cur: &mut PartBuilder, index: &mut usize| -> Result<(), DeltaError> {
        let part = std::mem::replace(cur, fresh());
        jobs.send(PartJob { index: *index, part })
            .map_err(|_| DeltaError::Malformed("part compression stopped".into()))?;
        *index += 1;
        Ok(())
    };
    let room = |cur: &mut PartBuilder, index: &mut usize, need: u64| -> Result<(), DeltaError> {
        if !cur.objects.is_empty() && cur.size() + need > opts.max_chunk_size {
            send(cur, index)?;
        }
        Ok(())
    };
    for (ty, c) in meta {
        let bytes = repo.read_metadata(*ty, c)?;
        room(&mut cur, &mut index, bytes.len() as u64)?;
        let off = cur.append(&bytes);
        cur.op(ops::OPEN_SPLICE_AND_CLOSE, &[bytes.len() as u64, off]);
        cur.objects.push((*ty, *c));
        cur.usize += bytes.len() as u64;
    }
    let mut whole: Vec<&NewFile> = Vec::new();
    let mut fallbacks = Vec::new();
    for batch in regular.chunks(ENCODE_BATCH) {
        let encodings: Vec<Encoding> = if opts.from.is_some() {
            batch.par_iter().map(|f| encode(repo, f, old, opts)).collect::<Result<_, _>>()?
        } else {
            batch.iter().map(|_| Encoding::Whole).collect()
        };
        for (f, e) in batch.iter().zip(encodings) {
            match &e {
                Encoding::Whole if opts.min_fallback_size > 0 && f.size > opts.min_fallback_size => {
                    fallbacks.push(f);
                    continue;
                }
                Encoding::Whole => {
                    whole.push(f);
                    continue;
                }
                Encoding::Rollsum { matched, .. } => {
                    stats.rollsum_objects += 1;
                    stats.rollsum_bytes += matched;
                }
                Encoding::Bsdiff { .. } => stats.bsdiff_objects += 1,
            }
            stats.modified += 1;
            emit_encoded(&mut cur, &mut index, &room, f, e)?;
        }
    }
    stats.fallbacks = fallbacks.len() as u64;
    // Similar files side by side compress better.
    let ext = |p: &str| basename(p).rsplit_once('.').map(|(_, e)| e.to_string()).unwrap_or_default();
    whole.sort_by_cached_key(|f| (ext(&f.path), basename(&f.path).to_string(), f.checksum));
    for f in whole {
        room(&mut cur, &mut index, f.size)?;
        let data = read_data(repo, &f.checksum)?;
        let (m, x) = (cur.mode(&f.header), cur.xattr(&f.header));
        let off = cur.append(&data);
        cur.op(ops::OPEN_SPLICE_AND_CLOSE, &[m, x, data.len() as u64, off]);
        cur.objects.push((ObjectType::File, f.checksum));
        cur.usize += data.len() as u64;
    }
    for f in symlinks {
        let target = f.header.symlink_target.as_bytes();
        room(&mut cur, &mut index, target.len() as u64)?;
        let (m, x) = (cur.mode(&f.header), cur.xattr(&f.header));
        let off = cur.append(target);
        cur.op(ops::OPEN_SPLICE_AND_CLOSE, &[m, x, target.len() as u64, off]);
        cur.objects.push((ObjectType::File, f.checksum));
    }
    // Even a delta with nothing to carry has one (empty) part, as OSTree's.
    if !cur.objects.is_empty() || index == 0 {
        send(&mut cur, &mut index)?;
    }
    Ok(fallbacks)
}

/// Appends the operations of a file encoded against an old one.
fn emit_encoded(
    cur: &mut PartBuilder,
    index: &mut usize,
    room: &dyn Fn(&mut PartBuilder, &mut usize, u64) -> Result<(), DeltaError>,
    f: &NewFile,
    e: Encoding,
) -> Result<(), DeltaError> {
    match e {
        Encoding::Rollsum { old, pieces, new_bytes, .. } => {
            room(cur, index, new_bytes.len() as u64 + pieces.len() as u64 * 8)?;
            let (m, x) = (cur.mode(&f.header), cur.xattr(&f.header));
            let src = cur.append(old.as_bytes());
            cur.op(ops::OPEN, &[m, x, f.size]);
            let mut reading = false;
            let mut taken = 0usize;
            for p in pieces {
                match p {
                    Piece::Old { old_off, len } => {
                        if !reading {
                            cur.op(ops::SET_READ_SOURCE, &[src]);
                            reading = true;
                        }
                        cur.op(ops::WRITE, &[len, old_off]);
                    }
                    Piece::New { len, .. } => {
                        if reading {
                            cur.op(ops::UNSET_READ_SOURCE, &[]);
                            reading = false;
                        }
                        let off = cur.append(&new_bytes[taken..taken + len as usize]);
                        taken += len as usize;
                        cur.op(ops::WRITE, &[len, off]);
                    }
                }
            }
            if reading {
                cur.op(ops::UNSET_READ_SOURCE, &[]);
            }
            cur.op(ops::CLOSE, &[]);
        }
        Encoding::Bsdiff { old, patch } => {
            room(cur, index, patch.len() as u64 + 32)?;
            let (m, x) = (cur.mode(&f.header), cur.xattr(&f.header));
            let src = cur.append(old.as_bytes());
            let off = cur.append(&patch);
            cur.op(ops::SET_READ_SOURCE, &[src]);
            cur.op(ops::OPEN, &[m, x, f.size]);
            cur.op(ops::BSPATCH, &[off, patch.len() as u64]);
            cur.op(ops::CLOSE, &[]);
            cur.op(ops::UNSET_READ_SOURCE, &[]);
        }
        Encoding::Whole => return Ok(()),
    }
    cur.objects.push((ObjectType::File, f.checksum));
    cur.usize += f.size;
    Ok(())
}
