//! Committing a directory: walk it (never following symlinks), hash and
//! store files in parallel, then assemble the tree.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::object::{ObjectType, Xattrs};
use crate::repo::{read_xattrs, Error, Transaction};
use crate::Checksum;

use super::{CommitFilter, MutableTree};

struct Dir {
    rel: String,
    meta: Checksum,
    files: Vec<(String, Checksum)>,
    subdirs: Vec<(String, usize)>,
}

/// A directory waiting to be read: path, path in the tree, its stat, and
/// (parent arena index, name) for all but the root.
type Pending = (PathBuf, String, std::fs::Metadata, Option<(usize, String)>);

/// A file found by the walk, waiting for a worker. Kept small: the walk can
/// run far ahead of the workers, so thousands may be queued.
struct Job {
    dir: usize,
    /// Path in the tree (`/a/b`); the name is its last component.
    rel: String,
    abs: PathBuf,
    md: Stat,
}

/// A stored file: (directory in the arena, name, content checksum).
type Stored = Result<(usize, String, Checksum), Error>;

/// What a job needs of `lstat`.
struct Stat {
    uid: u32,
    gid: u32,
    mode: u32,
    size: u64,
    dev: u64,
    ino: u64,
}

impl Stat {
    fn of(md: &std::fs::Metadata) -> Stat {
        Stat { uid: md.uid(), gid: md.gid(), mode: md.mode(), size: md.len(), dev: md.dev(), ino: md.ino() }
    }
    fn is_symlink(&self) -> bool {
        self.mode & crate::object::S_IFMT == crate::object::S_IFLNK
    }
}

impl Job {
    fn name(&self) -> String {
        self.rel.rsplit('/').next().unwrap_or_default().to_string()
    }
}

fn os_name(path: &Path, name: std::ffi::OsString) -> Result<String, Error> {
    name.into_string().map_err(|n| {
        Error::Invalid(format!("Invalid UTF-8 in filename {} (in {})", n.to_string_lossy(), path.display()))
    })
}

/// Stores the directory `src` and everything below it; returns the tree.
pub fn write_directory(tx: &Transaction<'_>, src: &Path, filter: &CommitFilter) -> Result<MutableTree, Error> {
    let repo = tx.repo();
    let mode = repo.mode();
    let xattrs_on = filter.wants_xattrs(mode, repo.xattrs_disabled());
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| Error::Io { path: p, source: e }
    };
    let read_x = |p: &Path| -> Result<Xattrs, Error> {
        if xattrs_on {
            read_xattrs(p)
        } else {
            Ok(Xattrs::new())
        }
    };

    let root_md = std::fs::symlink_metadata(src).map_err(io(src))?;
    if !root_md.is_dir() {
        return Err(Error::Invalid(format!("{}: not a directory", src.display())));
    }

    // Walk and store at once: the walk records directories in an arena
    // (parents before children) and hands each file to the workers as soon
    // as it is found, so reading and hashing overlap the directory scan.
    // Archive commits are bound by compression: a worker per core (and a
    // few more). The bare modes mostly wait on the disk (reading sources
    // cold, creating objects): as many workers as a checkout, which made
    // a commit of the large corpus into bare-user about a tenth faster
    // (2.47-2.77 s against 2.73-3.19 s, alternating, caches dropped);
    // for archive that was slower and took 50% more memory.
    let threads = if mode == crate::repo::RepoMode::Archive { crate::worker_threads() } else { crate::io_threads() };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Invalid(format!("starting {threads} worker threads: {e}")))?;
    let process = |job: Job| -> Stored {
        let md = &job.md;
        let xattrs = read_x(&job.abs)?;
        let st = (md.uid, md.gid, md.mode);
        let csum = if md.is_symlink() {
            let target = std::fs::read_link(&job.abs).map_err(io(&job.abs))?;
            let target = target
                .into_os_string()
                .into_string()
                .map_err(|_| Error::Invalid(format!("{}: symlink target is not valid UTF-8", job.abs.display())))?;
            let header = filter.file_header(mode, &job.rel, st, target, xattrs);
            tx.write_file_bytes(&header, b"")?
        } else {
            let header = filter.file_header(mode, &job.rel, st, String::new(), xattrs);
            if let Some(c) = devino_hit(tx, filter, &job, &header)? {
                return Ok((job.dir, job.name(), c));
            }
            let written = if filter.consume {
                tx.adopt_file(&header, &job.abs, md.size)
            } else {
                let mut f = File::open(&job.abs).map_err(io(&job.abs))?;
                // The size now, not at the scan: a file written to between
                // the two (a commit of a directory holding the repo itself
                // sees its own staging files grow) is taken as it is when
                // read, as OSTree does.
                let size = f.metadata().map_err(io(&job.abs))?.len();
                tx.write_file(&header, &mut f, size)
            };
            written.map_err(|e| match e {
                Error::Invalid(m) => Error::Invalid(format!("{}: {m}", job.abs.display())),
                other => other,
            })?
        };
        Ok((job.dir, job.name(), csum))
    };
    // The walk runs on its own thread, not in the pool: it mostly waits for
    // directory and inode reads, and as a pool member it would keep one of
    // the hashing/compressing workers idle until it ends.
    let (send, recv) = std::sync::mpsc::channel::<Job>();
    let (walked, results): (Result<Vec<Dir>, Error>, Vec<Stored>) = std::thread::scope(|scope| {
        let walker = std::thread::Builder::new().name("oxtree-walk".into()).spawn_scoped(
            scope,
            move || -> Result<Vec<Dir>, Error> {
                let mut dirs: Vec<Dir> = Vec::new();
                let mut stack: Vec<Pending> = vec![(src.to_path_buf(), String::new(), root_md, None)];
                while let Some((abs, rel, md, parent)) = stack.pop() {
                    let relp = if rel.is_empty() { "/".to_string() } else { rel.clone() };
                    let dm = filter.dir_meta(mode, &relp, (md.uid(), md.gid(), md.mode()), read_x(&abs)?);
                    let meta = tx.write_metadata(ObjectType::DirMeta, &dm.to_bytes())?;
                    let id = dirs.len();
                    dirs.push(Dir { rel: rel.clone(), meta, files: Vec::new(), subdirs: Vec::new() });
                    if let Some((p, name)) = parent {
                        dirs[p].subdirs.push((name, id));
                    }
                    let mut entries: Vec<(String, PathBuf)> = Vec::new();
                    for e in std::fs::read_dir(&abs).map_err(io(&abs))? {
                        let e = e.map_err(io(&abs))?;
                        entries.push((os_name(&abs, e.file_name())?, e.path()));
                    }
                    entries.sort_by(|a, b| b.0.cmp(&a.0));
                    for (name, path) in entries {
                        let crel = format!("{rel}/{name}");
                        if filter.skip.contains(&crel) {
                            continue;
                        }
                        let cmd = std::fs::symlink_metadata(&path).map_err(io(&path))?;
                        let ft = cmd.file_type();
                        if ft.is_dir() {
                            stack.push((path, crel, cmd, Some((id, name))));
                        } else if ft.is_file() || ft.is_symlink() {
                            // The receiver only goes away if the workers failed; the walk
                            // then ends too, through the error they return.
                            let _ = send.send(Job { dir: id, rel: crel, abs: path, md: Stat::of(&cmd) });
                        } else {
                            return Err(Error::Invalid(format!(
                        "{}: Not a regular file or symlink (device nodes, FIFOs and sockets cannot be committed)",
                        path.display()
                    )));
                        }
                    }
                }

                drop(send);
                Ok(dirs)
            },
        );
        let walker = walker.map_err(|e| Error::Invalid(format!("starting the directory walk thread: {e}")))?;
        let results = pool.install(|| recv.into_iter().par_bridge().map(process).collect());
        let walked = walker.join().map_err(|_| Error::Invalid("the directory walk thread panicked".into()))?;
        Ok::<_, Error>((walked, results))
    })?;
    let mut dirs = walked?;
    for r in results {
        let (d, name, csum) = r?;
        dirs[d].files.push((name, csum));
    }

    // Assemble children before parents (the arena is in parent-first order).
    let mut built: Vec<Option<MutableTree>> = (0..dirs.len()).map(|_| None).collect();
    for id in (0..dirs.len()).rev() {
        let d = &mut dirs[id];
        let mut t = MutableTree { meta: Some(d.meta), ..Default::default() };
        for (n, c) in d.files.drain(..) {
            t.files.insert(n, c);
        }
        for (n, child) in d.subdirs.drain(..) {
            let sub = built[child]
                .take()
                .ok_or_else(|| Error::Invalid(format!("internal: directory {} built twice", d.rel)))?;
            t.dirs.insert(n, sub);
        }
        built[id] = Some(t);
    }
    built.into_iter().next().flatten().ok_or_else(|| Error::Invalid("internal: no root directory".into()))
}

/// With a devino cache: the object this file is a hard link of, if the
/// metadata the commit would record equals the object's. In bare-user repos
/// the checked-out file's owner and mode are not the logical ones, so the
/// object's own metadata is run through the modifiers instead.
fn devino_hit(
    tx: &Transaction<'_>,
    filter: &CommitFilter,
    job: &Job,
    header: &crate::object::FileHeader,
) -> Result<Option<Checksum>, Error> {
    let Some(cache) = filter.devino.as_ref() else { return Ok(None) };
    let Some(c) = cache.get(&(job.md.dev, job.md.ino)) else { return Ok(None) };
    if filter.devino_canonical {
        tx.note_cache_hit(c);
        return Ok(Some(*c));
    }
    let repo = tx.repo();
    let stored = match repo.open_file(c) {
        Ok(o) => o.header,
        Err(_) => return Ok(None),
    };
    let wanted = if repo.mode() == crate::repo::RepoMode::BareUser {
        filter.file_header(
            repo.mode(),
            &job.rel,
            (stored.uid, stored.gid, stored.mode),
            String::new(),
            stored.xattrs.clone(),
        )
    } else {
        header.clone()
    };
    if wanted != stored {
        return Ok(None);
    }
    tx.note_cache_hit(c);
    Ok(Some(*c))
}
