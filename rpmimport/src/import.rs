//! One RPM into one commit, reading the payload once.
//!
//! The header gives each file's owner, mode, capabilities, digest and
//! hardlink set; the payload (decompressed by [`crate::payload`], read by
//! [`crate::cpio`]) gives the data. Each member is matched to its header
//! entry through a map, placed by [`crate::paths`], hashed into the store
//! as it streams by and checked against the header's digest. In a
//! hardlink set only the last member carries the data: the others wait
//! for it and then share its object. The commit carries rpm-ostree's
//! package metadata (`rpmostree.nevra`, `rpmostree.metadata`, …), its time
//! is the package's build time, so the same RPM always gives the same
//! commit, and it is written to the ref rpm-ostree would use
//! (`rpmostree/pkg/NAME/EVR.ARCH`).
//!
//! Refused, with nothing written: a header whose digest does not match, a
//! payload that does not match its digest or ends early, a member the
//! header does not list or lists twice, a file whose content does not
//! match its digest, a path that escapes the tree or that no rule places,
//! device nodes, FIFOs and sockets (an OSTree commit cannot hold them).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::Path;

use oxtree_store::build::{CommitInfo, MutableTree};
use oxtree_store::gvariant::Value;
use oxtree_store::object::{CommitMetadata, DirMeta, FileHeader, ObjectType, Xattrs};
use oxtree_store::repo::Transaction;
use oxtree_store::{Checksum, Repo, RepoMode};

use crate::cpio::{self, Name};
use crate::owners::{Kind, Owners};
use crate::package::{hex, HeaderFile, Package};
use crate::paths::{self, Placement, Rules};
use crate::{caps, payload, ImportError};

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

/// Longest symlink target accepted from a payload.
const MAX_LINK: u64 = 4096;

/// How packages are imported.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Owner names to ids.
    pub owners: Owners,
    /// Path rule options.
    pub rules: Rules,
    /// Leave out `%doc` files (treefile `documentation: false`).
    pub nodocs: bool,
    /// Keep only files for these languages and those for all (treefile
    /// `install-langs`, rpm's `%_install_langs`); `None` keeps every file.
    pub langs: Option<Vec<String>>,
}

/// Whether a file tagged with language `lang` is installed for `langs`:
/// untagged files always; else when a wanted language is `all`, is the
/// tag, or is a variant of it (`en_US` or `en@quot` for `en`).
pub fn lang_wanted(lang: &str, langs: &[String]) -> bool {
    lang.is_empty()
        || langs.iter().any(|l| {
            l == "all" || l == lang || l.strip_prefix(lang).is_some_and(|rest| rest.starts_with(['_', '.', '@']))
        })
}

/// What an import made.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The package's headers. Its file list and raw headers are dropped
    /// once imported (they are the bulk of a large package's memory; the
    /// raw headers are in the commit's `rpmostree.metadata`).
    pub package: Package,
    /// The commit.
    pub commit: Checksum,
    /// Its root (dirtree, dirmeta).
    pub root: (Checksum, Checksum),
    /// Its ref.
    pub branch: String,
    /// Lines written to `usr/lib/rpm-ostree/tmpfiles.d/NAME.conf`.
    pub tmpfiles: Vec<String>,
    /// `%config` files, as placed in the tree (`/usr/etc/…`).
    pub config_files: Vec<String>,
    /// Files left out of the tree (under `/var` or `/run`, `%doc` with
    /// `nodocs`, skipped by a rule).
    pub skipped: Vec<String>,
    /// Warnings (owners that do not exist, given to root).
    pub warnings: Vec<String>,
}

/// A reader that feeds every byte it passes on to hashers.
struct Hashing<R> {
    inner: R,
    hashers: Vec<Box<dyn digest::DynDigest + Send>>,
    /// The first read error, kept to report it as the payload's fault
    /// rather than as the store's.
    failed: Option<String>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|e| {
            self.failed.get_or_insert_with(|| e.to_string());
        })?;
        for h in &mut self.hashers {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Imports the RPM at `path` into `repo` in its own transaction: one
/// commit, on the package's `rpmostree/pkg/…` ref. On any error nothing is
/// left: no ref, no objects.
pub fn import_file(repo: &Repo, path: &Path, opts: &Options) -> Result<Imported, ImportError> {
    let (package, reader) = Package::open(path)?;
    let mut tx = repo.transaction().map_err(ImportError::Store)?;
    let imported = import_payload(&tx, package, reader, opts)?;
    tx.set_ref(&imported.branch, Some(imported.commit)).map_err(ImportError::Store)?;
    tx.commit().map_err(ImportError::Store)?;
    Ok(imported)
}

/// State of the hardlink sets while the payload streams by.
#[derive(Default)]
struct Links {
    /// Members (non-ghost regular files) per set, for sets of two or more.
    size: HashMap<(u32, u32), usize>,
    /// Members waiting for the data, per set.
    waiting: HashMap<(u32, u32), Vec<usize>>,
    /// The object of each set, once its data has come.
    object: HashMap<(u32, u32), Checksum>,
}

/// The payload-reading state of one import.
struct Importer<'a, 't> {
    tx: &'a Transaction<'t>,
    pkg: &'a Package,
    opts: &'a Options,
    repo_mode: RepoMode,
    root: MutableTree,
    default_meta: Checksum,
    tmpfiles: Vec<String>,
    tmpfiles_seen: HashSet<String>,
    config_files: Vec<String>,
    skipped: Vec<String>,
    warnings: Vec<String>,
    warned: HashSet<String>,
}

/// Imports a package whose headers are read and whose `reader` is at the
/// payload, into `tx`; writes the commit but not the ref.
pub fn import_payload<R: Read>(
    tx: &Transaction<'_>,
    pkg: Package,
    reader: R,
    opts: &Options,
) -> Result<Imported, ImportError> {
    let repo_mode = tx.repo().mode();
    let default_meta = crate::tree::default_dirmeta(tx).map_err(ImportError::Store)?;
    let mut imp = Importer {
        tx,
        pkg: &pkg,
        opts,
        repo_mode,
        root: MutableTree { meta: Some(default_meta), ..Default::default() },
        default_meta,
        tmpfiles: Vec::new(),
        tmpfiles_seen: HashSet::new(),
        config_files: Vec::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
        warned: HashSet::new(),
    };

    let (outer, inner): (Vec<_>, Vec<_>) = pkg.payload_digests.iter().partition(|d| !d.alt);
    let mut raw = Hashing { inner: reader, hashers: outer.iter().map(|d| d.algo.hasher()).collect(), failed: None };
    let decoded = payload::decoder(pkg.compression, &mut raw)?;
    let mut decoded =
        Hashing { inner: decoded, hashers: inner.iter().map(|d| d.algo.hasher()).collect(), failed: None };
    imp.read_archive(&mut decoded)?;
    // The digests cover everything to the end of the file.
    io::copy(&mut decoded, &mut io::sink()).map_err(|e| ImportError::Payload(e.into()))?;
    let inner_hashers = std::mem::take(&mut decoded.hashers);
    drop(decoded);
    io::copy(&mut raw, &mut io::sink()).map_err(|e| ImportError::Payload(e.into()))?;
    for (d, h) in outer.iter().zip(raw.hashers).chain(inner.iter().zip(inner_hashers)) {
        let actual = hex(&h.finalize());
        if actual != d.hex {
            return Err(ImportError::PayloadDigest {
                what: if d.alt { "uncompressed payload" } else { "payload" },
                expected: d.hex.clone(),
                actual,
            });
        }
    }

    imp.kernel_into_modules();
    if !imp.tmpfiles.is_empty() {
        let mut text = imp.tmpfiles.join("\n");
        text.push('\n');
        let header = imp.file_header(0, 0, S_IFREG | 0o644, String::new(), Xattrs::new());
        let csum = tx.write_file_bytes(&header, text.as_bytes()).map_err(ImportError::Store)?;
        imp.root
            .ensure_dir(&["usr", "lib", "rpm-ostree", "tmpfiles.d"], default_meta)
            .and_then(|d| d.put_file(&format!("{}.conf", pkg.name), csum))
            .map_err(ImportError::Store)?;
    }
    let (tmpfiles, config_files, skipped, warnings) = (imp.tmpfiles, imp.config_files, imp.skipped, imp.warnings);
    let root = imp.root.write(tx).map_err(ImportError::Store)?;
    drop(imp.root);
    let key = import_key(&pkg, opts);
    let mut pkg = pkg;
    pkg.files = Vec::new();
    let raw_headers = std::mem::take(&mut pkg.raw_headers);
    let info = CommitInfo {
        subject: String::new(),
        body: String::new(),
        parent: None,
        timestamp: pkg.build_time,
        metadata: commit_metadata(&pkg, raw_headers, opts, &key, &warnings),
    };
    let commit = oxtree_store::build::write_commit(tx, &info, root).map_err(ImportError::Store)?;
    drop(info);
    let branch = pkg.branch();
    Ok(Imported { package: pkg, commit, root, branch, tmpfiles, config_files, skipped, warnings })
}

/// rpm-ostree's package commit metadata. Its numbers are big-endian, as
/// rpm-ostree writes them (it byte-swaps the whole dictionary).
///
/// oxtree adds `oxtree.import-key` ([`import_key`]) and
/// `oxtree.import-warnings` (`as`), which let [`cached`] reuse the commit.
fn commit_metadata(
    pkg: &Package,
    raw_headers: Vec<u8>,
    opts: &Options,
    key: &str,
    warnings: &[String],
) -> CommitMetadata {
    use sha2::Digest;
    let mut m = CommitMetadata::default();
    let sha = hex(&sha2::Sha256::digest(&raw_headers));
    m.set("rpmostree.metadata", Value::Bytes(Cow::Owned(raw_headers)));
    m.set("rpmostree.metadata_sha256", Value::str(sha));
    m.set(
        "rpmostree.nevra",
        Value::Tuple(vec![
            Value::str(pkg.nevra()),
            Value::str(pkg.name.clone()),
            Value::Uint64(u64::from(pkg.epoch).to_be()),
            Value::str(pkg.version.clone()),
            Value::str(pkg.release.clone()),
            Value::str(pkg.arch.clone()),
        ]),
    );
    m.set("rpmostree.unpack_version", Value::Uint32(1u32.to_be()));
    m.set("rpmostree.unpack_minor_version", Value::Uint32(6u32.to_be()));
    if opts.nodocs {
        m.set("rpmostree.nodocs", Value::Bool(true));
    }
    m.set("oxtree.import-key", Value::str(key.to_string()));
    let s_type = oxtree_store::gvariant::Type::parse("s").expect("a valid type");
    m.set("oxtree.import-warnings", Value::Array(s_type, warnings.iter().map(|w| Value::str(w.clone())).collect()));
    m
}

/// Everything an import's result depends on, hashed: the headers, the
/// options, and the ids the owner names the package uses resolve to (the
/// format of the import itself is versioned by the leading tag). Two
/// imports with the same key make the same commit.
pub fn import_key(pkg: &Package, opts: &Options) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"oxtree-import-1\0");
    h.update(sha2::Sha256::digest(&pkg.raw_headers));
    h.update([u8::from(opts.nodocs), u8::from(opts.rules.skip_extraneous)]);
    match &opts.langs {
        None => h.update(b"langs:all\0"),
        Some(langs) => {
            for l in langs {
                h.update(format!("lang:{l}\0").as_bytes());
            }
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for f in &pkg.files {
        names.insert(("u", f.user.as_str()));
        names.insert(("g", f.group.as_str()));
    }
    for (k, name) in names {
        let kind = if k == "u" { Kind::User } else { Kind::Group };
        h.update(format!("{k}:{name}={:?}\0", opts.owners.id(kind, name)).as_bytes());
    }
    hex(&h.finalize())
}

/// The import of `pkg` with `opts` already on its `rpmostree/pkg/…` ref in
/// `repo`, if there is one with the same [`import_key`]: what
/// [`import_payload`] would make, without reading the payload (its
/// `config_files` and `skipped` are not recorded, and come back empty).
pub fn cached(repo: &Repo, pkg: &Package, opts: &Options) -> Result<Option<Imported>, ImportError> {
    let branch = pkg.branch();
    let Some(commit) = repo.resolve_rev(&branch, true).map_err(ImportError::Store)? else { return Ok(None) };
    let c = repo.load_commit(&commit).map_err(ImportError::Store)?;
    if c.metadata.get("oxtree.import-key").and_then(Value::as_str) != Some(import_key(pkg, opts).as_str()) {
        return Ok(None);
    }
    let warnings = match c.metadata.get("oxtree.import-warnings") {
        Some(Value::Array(_, items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let tmpfiles = match committed_file(
        repo,
        &c.root_tree,
        &["usr", "lib", "rpm-ostree", "tmpfiles.d", &format!("{}.conf", pkg.name)],
    )? {
        Some(text) => String::from_utf8_lossy(&text).lines().map(str::to_string).collect(),
        None => Vec::new(),
    };
    let mut package = pkg.clone();
    package.files = Vec::new();
    package.raw_headers = Vec::new();
    Ok(Some(Imported {
        package,
        commit,
        root: (c.root_tree, c.root_meta),
        branch,
        tmpfiles,
        // Not recorded in the commit.
        config_files: Vec::new(),
        skipped: Vec::new(),
        warnings,
    }))
}

/// The bytes of the regular file at `parts` under dirtree `tree`.
fn committed_file(repo: &Repo, tree: &Checksum, parts: &[&str]) -> Result<Option<Vec<u8>>, ImportError> {
    let Some((name, dirs)) = parts.split_last() else { return Ok(None) };
    let mut cur = *tree;
    for d in dirs {
        let dt = repo.load_dirtree(&cur).map_err(ImportError::Store)?;
        match dt.dirs.iter().find(|e| e.name == *d) {
            Some(e) => cur = e.tree,
            None => return Ok(None),
        }
    }
    let dt = repo.load_dirtree(&cur).map_err(ImportError::Store)?;
    let Some(f) = dt.files.iter().find(|e| e.name == *name) else { return Ok(None) };
    let (header, data) = repo.read_file(&f.checksum).map_err(ImportError::Store)?;
    Ok(header.symlink_target.is_empty().then_some(data))
}

/// The header path a payload member names (`./usr/x` is `/usr/x`).
fn member_path(name: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(name).ok()?;
    let s = s.strip_prefix('.').filter(|r| r.starts_with('/')).unwrap_or(s);
    Some(if s.starts_with('/') { s.to_string() } else { format!("/{s}") })
}

impl Importer<'_, '_> {
    fn read_archive<R: Read>(&mut self, decoded: &mut R) -> Result<(), ImportError> {
        let files = &self.pkg.files;
        let by_path = self.pkg.index_by_path();
        let mut links = Links::default();
        for f in files.iter().filter(|f| !f.ghost && f.mode & S_IFMT == S_IFREG) {
            *links.size.entry(f.inode).or_default() += 1;
        }
        links.size.retain(|_, n| *n > 1);
        // A stripped member has no size of its own: in a hardlink set only
        // the last member has data.
        let mut stripped_seen: HashMap<(u32, u32), usize> = HashMap::new();
        let set_size = links.size.clone();
        let mut size_of = |i: u32| -> Option<u64> {
            let f = files.get(i as usize)?;
            match set_size.get(&f.inode) {
                Some(n) if f.mode & S_IFMT == S_IFREG && !f.ghost => {
                    let k = stripped_seen.entry(f.inode).or_default();
                    *k += 1;
                    Some(if *k == *n { f.size } else { 0 })
                }
                _ => Some(if f.mode & S_IFMT == S_IFREG || f.mode & S_IFMT == S_IFLNK { f.size } else { 0 }),
            }
        };
        let mut seen = vec![false; files.len()];
        let mut archive = cpio::Reader::new(decoded);
        while let Some(entry) = archive.next_entry(&mut size_of)? {
            let i = match &entry.name {
                Name::Index(i) => *i as usize,
                Name::Path(p) => {
                    let path = member_path(p)
                        .ok_or_else(|| ImportError::NotInHeader(String::from_utf8_lossy(p).into_owned()))?;
                    *by_path.get(path.as_str()).ok_or(ImportError::NotInHeader(path))?
                }
            };
            let f = files.get(i).ok_or_else(|| ImportError::NotInHeader(format!("file index {i}")))?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(ImportError::Duplicate(f.path.clone()));
            }
            if f.ghost {
                return Err(ImportError::Corrupt(format!("{}: %ghost in the header but in the payload", f.path)));
            }
            if entry.mode != 0 && entry.mode & S_IFMT != f.mode & S_IFMT {
                return Err(ImportError::Corrupt(format!(
                    "{}: the payload has type {:o}, the header {:o}",
                    f.path,
                    entry.mode & S_IFMT,
                    f.mode & S_IFMT
                )));
            }
            let place = self.opts.rules.place(&f.path)?;
            if (self.opts.nodocs && f.doc) || self.opts.langs.as_ref().is_some_and(|l| !lang_wanted(&f.lang, l)) {
                self.skipped.push(f.path.clone());
                continue;
            }
            match f.mode & S_IFMT {
                S_IFDIR => self.directory(f, place)?,
                S_IFLNK => {
                    if entry.size > MAX_LINK {
                        return Err(ImportError::Corrupt(format!(
                            "{}: symlink target of {} bytes",
                            f.path, entry.size
                        )));
                    }
                    let mut target = Vec::new();
                    archive.data().read_to_end(&mut target).map_err(|e| ImportError::Payload(e.into()))?;
                    if !target.is_empty() && target != f.linkto.as_bytes() {
                        return Err(ImportError::Corrupt(format!(
                            "{}: the payload links to '{}', the header to '{}'",
                            f.path,
                            String::from_utf8_lossy(&target),
                            f.linkto
                        )));
                    }
                    self.symlink(f, place)?;
                }
                S_IFREG => {
                    // A regular file under /var or /run is dropped (rpm-ostree's
                    // "spurious content"): tmpfiles.d cannot carry content.
                    let Some(rel) = self.in_tree(f, place, |_| None) else { continue };
                    if f.config {
                        self.config_files.push(format!("/{rel}"));
                    }
                    if links.size.contains_key(&f.inode) {
                        if let Some(csum) = links.object.get(&f.inode) {
                            let csum = *csum;
                            self.put(&rel, csum)?;
                            continue;
                        }
                        if entry.size == 0 && f.size > 0 {
                            links.waiting.entry(f.inode).or_default().push(i);
                            continue;
                        }
                    }
                    if entry.size != f.size {
                        return Err(ImportError::Corrupt(format!(
                            "{}: {} bytes in the payload, {} in the header",
                            f.path, entry.size, f.size
                        )));
                    }
                    let csum = self.content(f, &mut archive)?;
                    self.put(&rel, csum)?;
                    if let Some(waiting) = links.waiting.remove(&f.inode) {
                        for w in waiting {
                            let wf = &files[w];
                            if let Placement::Tree(r) | Placement::TreeLinked(r, _) = self.opts.rules.place(&wf.path)? {
                                self.put(&r, csum)?;
                            }
                        }
                    }
                    if links.size.contains_key(&f.inode) {
                        links.object.insert(f.inode, csum);
                    }
                }
                other => {
                    return Err(ImportError::Unsupported(format!(
                        "{}: {} (an OSTree commit holds only files, directories and symlinks)",
                        f.path,
                        match other {
                            0o020000 => "a character device",
                            0o060000 => "a block device",
                            0o010000 => "a FIFO",
                            0o140000 => "a socket",
                            _ => "an unknown file type",
                        }
                    )))
                }
            }
        }
        if let Some(w) = links.waiting.values().flatten().next() {
            return Err(ImportError::Corrupt(format!(
                "{}: no member of its hardlink set carries the data",
                files[*w].path
            )));
        }
        if let Some(i) = (0..files.len()).find(|i| !seen[*i] && !files[*i].ghost) {
            return Err(ImportError::Missing(files[i].path.clone()));
        }
        Ok(())
    }

    fn warn(&mut self, msg: String) {
        if self.warned.insert(msg.clone()) {
            self.warnings.push(msg);
        }
    }

    fn ids(&mut self, f: &HeaderFile) -> (u32, u32) {
        let uid = self.opts.owners.id(Kind::User, &f.user).unwrap_or_else(|| {
            self.warn(format!("user {} does not exist - using root", f.user));
            0
        });
        let gid = self.opts.owners.id(Kind::Group, &f.group).unwrap_or_else(|| {
            self.warn(format!("group {} does not exist - using root", f.group));
            0
        });
        (uid, gid)
    }

    fn tmpfiles_line(&mut self, line: String) {
        if self.tmpfiles_seen.insert(line.clone()) {
            self.tmpfiles.push(line);
        }
    }

    fn file_header(&self, uid: u32, gid: u32, mode: u32, target: String, xattrs: Xattrs) -> FileHeader {
        crate::tree::file_header(self.repo_mode, uid, gid, mode, target, xattrs)
    }

    fn xattrs(&self, f: &HeaderFile) -> Result<Xattrs, ImportError> {
        let mut pairs = Vec::new();
        if let Some(text) = &f.caps {
            if let Some(v) = caps::xattr_value(text).map_err(|e| ImportError::Caps(f.path.clone(), e))? {
                pairs.push((b"security.capability".to_vec(), v));
            }
        }
        if let Some(sig) = &f.ima {
            pairs.push((b"security.ima".to_vec(), sig.clone()));
        }
        Ok(Xattrs::from_pairs(pairs))
    }

    fn put(&mut self, rel: &str, csum: Checksum) -> Result<(), ImportError> {
        let parts: Vec<&str> = rel.split('/').collect();
        let Some((name, dirs)) = parts.split_last() else {
            return Err(ImportError::Corrupt("a file at the root of the tree".into()));
        };
        if name.is_empty() {
            return Err(ImportError::Corrupt("a file at the root of the tree".into()));
        }
        let parent = self.root.ensure_dir(dirs, self.default_meta).map_err(ImportError::Store)?;
        if parent.dirs.contains_key(*name) {
            return Err(ImportError::Corrupt(format!("/{rel} is both a directory and a file")));
        }
        parent.put_file(name, csum).map_err(ImportError::Store)
    }

    /// Where `f` goes in the tree, recording the tmpfiles.d line a
    /// placement brings: the link of a moved directory, or, for a path out
    /// of the tree, the line `line` makes of it (`None`: left out).
    fn in_tree(
        &mut self,
        f: &HeaderFile,
        place: Placement,
        line: impl FnOnce(&str) -> Option<String>,
    ) -> Option<String> {
        match place {
            Placement::Tree(rel) => Some(rel),
            Placement::TreeLinked(rel, link) => {
                self.tmpfiles_line(link);
                Some(rel)
            }
            Placement::Tmpfiles(abs) => {
                match line(&abs) {
                    Some(l) => self.tmpfiles_line(l),
                    None => self.skipped.push(f.path.clone()),
                }
                None
            }
            Placement::Skip(_) => {
                self.skipped.push(f.path.clone());
                None
            }
        }
    }

    fn directory(&mut self, f: &HeaderFile, place: Placement) -> Result<(), ImportError> {
        let Some(rel) = self.in_tree(f, place, |abs| Some(paths::tmpfiles_dir(abs, f.mode, &f.user, &f.group))) else {
            return Ok(());
        };
        let (uid, gid) = self.ids(f);
        // rpm-ostree gives every directory u+w, so that the tree can be
        // assembled and modified by the owner.
        let filter = oxtree_store::build::CommitFilter::default();
        let (uid, gid, mode) = filter.apply(self.repo_mode, "", uid, gid, f.mode | 0o200);
        let xattrs = if self.repo_mode == RepoMode::BareUserOnly { Xattrs::new() } else { self.xattrs(f)? };
        let meta = DirMeta { uid, gid, mode, xattrs };
        let csum = self.tx.write_metadata(ObjectType::DirMeta, &meta.to_bytes()).map_err(ImportError::Store)?;
        let parts: Vec<&str> = if rel.is_empty() { Vec::new() } else { rel.split('/').collect() };
        let dir = self.root.ensure_dir(&parts, self.default_meta).map_err(ImportError::Store)?;
        dir.meta = Some(csum);
        Ok(())
    }

    fn symlink(&mut self, f: &HeaderFile, place: Placement) -> Result<(), ImportError> {
        let Some(rel) = self.in_tree(f, place, |abs| Some(paths::tmpfiles_symlink(abs, &f.linkto))) else {
            return Ok(());
        };
        if f.linkto.is_empty() {
            return Err(ImportError::Corrupt(format!("{}: a symlink without a target", f.path)));
        }
        let (uid, gid) = self.ids(f);
        let header = self.file_header(uid, gid, S_IFLNK | 0o777, f.linkto.clone(), self.xattrs(f)?);
        let csum = self.tx.write_file_bytes(&header, b"").map_err(ImportError::Store)?;
        if f.config {
            self.config_files.push(format!("/{rel}"));
        }
        self.put(&rel, csum)
    }

    /// Stores the current member's data as `f`'s content, checking its
    /// digest.
    fn content<R: Read>(&mut self, f: &HeaderFile, archive: &mut cpio::Reader<R>) -> Result<Checksum, ImportError> {
        let (uid, gid) = self.ids(f);
        let header = self.file_header(uid, gid, f.mode, String::new(), self.xattrs(f)?);
        let check = !f.digest.is_empty();
        let mut data = Hashing {
            inner: archive.data(),
            hashers: if check { vec![self.pkg.digest_algo.hasher()] } else { Vec::new() },
            failed: None,
        };
        let res = self.tx.write_file(&header, &mut data, f.size);
        if let Some(why) = data.failed.take() {
            return Err(ImportError::Corrupt(format!("reading the data of {}: {why}", f.path)));
        }
        let csum = res.map_err(ImportError::Store)?;
        if let Some(h) = data.hashers.pop() {
            let actual = hex(&h.finalize());
            if actual != f.digest {
                return Err(ImportError::FileDigest { path: f.path.clone(), expected: f.digest.clone(), actual });
            }
        }
        Ok(csum)
    }

    /// A kernel shipped the old way, as `/boot/vmlinuz-KVER` (now
    /// `usr/lib/ostree-boot/`), also goes where OSTree looks first,
    /// `usr/lib/modules/KVER/vmlinuz` (with `initramfs-KVER.img` as
    /// `initramfs.img`), unless the package ships that path itself.
    fn kernel_into_modules(&mut self) {
        let Some(boot) =
            self.root.dirs.get("usr").and_then(|u| u.dirs.get("lib")).and_then(|l| l.dirs.get("ostree-boot"))
        else {
            return;
        };
        let mut moves = Vec::new();
        for (name, csum) in &boot.files {
            if let Some(kver) = name.strip_prefix("vmlinuz-") {
                moves.push((kver.to_string(), "vmlinuz", *csum));
            } else if let Some(kver) = name.strip_prefix("initramfs-").and_then(|n| n.strip_suffix(".img")) {
                moves.push((kver.to_string(), "initramfs.img", *csum));
            }
        }
        for (kver, name, csum) in moves {
            if kver.is_empty() || oxtree_store::object::validate_name(&kver).is_err() {
                continue;
            }
            let Ok(dir) = self.root.ensure_dir(&["usr", "lib", "modules", &kver], self.default_meta) else { continue };
            if !dir.files.contains_key(name) && !dir.dirs.contains_key(name) {
                dir.files.insert(name.to_string(), csum);
            }
        }
    }
}
