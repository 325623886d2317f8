//! `pull` over HTTP from an `archive` repository served as static files
//! (spec A.2-A.10): refs resolved from the remote's `summary` or its
//! `refs/heads/`, then every object the commits reach that the local repo
//! lacks, each checked against its checksum before it is stored.
//!
//! Eight requests are in flight at once. Large content objects are
//! downloaded into the local repo's `tmp/` under a name derived from their
//! checksum (`spool`): a pull that is interrupted leaves the partial
//! download there, and the next pull asks only for the rest (`Range`).
//! What a killed pull had stored is taken over by the next
//! (`Repo::resume_transaction`). `url` and `contenturl` may be mirrorlists
//! (`mirrors`); objects found in `--localcache-repo` repositories are
//! copied from there instead of fetched.
//!
//! Signatures are checked as the remote asks (`gpg-verify`,
//! `gpg-verify-summary`, `sign-verify`, `sign-verify-summary`), before
//! anything they cover is stored.

use std::collections::{HashMap, HashSet};
use std::io::Seek;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use oxtree_store::object::{Commit, ObjectType};
use oxtree_store::repo::{FileObject, Transaction};
use oxtree_store::summary::Summary;
use oxtree_store::{Checksum, Repo};

use crate::delta::pull::{pull_delta, DeltaFiles, DeltaPolicy, DeltaPullStats, KnownDeltas};
use crate::http::{Client, Conditional, HttpOptions, Spool, Validators};
use crate::local::{check_storable, store_content, store_content_trusted};
use crate::mirrors::Bases;
use crate::spool::{partial_downloads, Download};
use crate::verify::Checks;
use crate::walk::{clear_partial_chain, lock, verify_metadata, PullStats, Source, Walk};
use crate::PullError;

/// The largest metadata object (or summary) fetched: OSTree's limit.
pub const MAX_METADATA_SIZE: u64 = 10 << 20;

/// Requests in flight at once (OSTree keeps 8 outstanding too). Loopback
/// and LAN pulls are bound by inflating and hashing, which these threads
/// spread over the cores; slow links by latency, which they hide.
const MAX_REQUESTS: usize = 8;

/// The largest `.filez` downloaded at all; each download is also held to
/// the size its own header declares (`spool`).
const MAX_CONTENT_SIZE: u64 = 1 << 40;

/// Options of [`pull`].
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Where summaries are cached (`--cache-dir`; default the repo's
    /// `tmp/cache`): `summaries/REMOTE` and `summaries/REMOTE.sig`.
    pub cache_dir: Option<std::path::PathBuf>,
    /// How many parents to follow (`--depth`); 0 = just the commit, -1 = all.
    pub depth: i64,
    /// Fetch only commit objects (`--commit-metadata-only`).
    pub commit_metadata_only: bool,
    /// Refuse content objects that bare-user-only cannot store
    /// (`--bareuseronly-files`).
    pub bareuseronly_files: bool,
    /// Use this URL instead of the remote's `url` (`--url`).
    pub url: Option<String>,
    /// Write `refs/heads/REF` instead of `refs/remotes/REMOTE/REF`; with
    /// no refs given (and no `branches`), pull every ref of the summary
    /// and copy the summary (`--mirror`).
    pub mirror: bool,
    /// HTTP client settings (retries, headers, TLS).
    pub http: HttpOptions,
    /// Repositories on this machine to copy objects from when they have
    /// them (`--localcache-repo`).
    pub localcache_repos: Vec<PathBuf>,
    /// Pull only these paths of the tree (`--subpath`); the commit stays
    /// partial.
    pub subpaths: Vec<String>,
    /// Refuse a commit older than the one the ref points at now
    /// (`--timestamp-check`).
    pub timestamp_check: bool,
    /// Refuse a commit older than this revision (`--timestamp-check-from-rev`).
    pub timestamp_check_from_rev: Option<String>,
    /// Do not check that a commit's `ostree.ref-binding` lists the ref
    /// pulled (`--disable-verify-bindings`).
    pub disable_verify_bindings: bool,
    /// Called as objects arrive (from the fetching threads).
    pub progress: Option<ProgressFn>,
    /// Called with each commit's GPG signatures as they are checked,
    /// before the verdict (so a refused commit is reported too), as
    /// `ostree pull` shows them on a terminal.
    pub gpg_report: Option<crate::verify::GpgReport>,
    /// Never use static deltas (`--disable-static-deltas`).
    pub disable_static_deltas: bool,
    /// Fail unless static deltas bring every commit (`--require-static-deltas`).
    pub require_static_deltas: bool,
    /// Take content as the server has it when mirroring into an archive
    /// repo (`--http-trusted`); every other pull verifies regardless.
    pub http_trusted: bool,
    /// With `require_static_deltas`: fetch only the superblocks, report
    /// what the deltas hold in [`HttpPullStats::deltas`], and change
    /// nothing (`--dry-run`).
    pub dry_run: bool,
}

/// How far a pull is: objects imported, objects known so far (the total
/// grows as dirtrees arrive), bytes received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Objects imported.
    pub done: u64,
    /// Objects the walk has seen so far.
    pub known: u64,
    /// Bytes received from the server.
    pub bytes: u64,
}

/// A progress callback for [`PullOptions::progress`].
#[derive(Clone)]
pub struct ProgressFn(pub std::sync::Arc<dyn Fn(&Progress) + Send + Sync>);

impl std::fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressFn")
    }
}

/// A remote's option, `None` if unset.
fn option(repo: &Repo, remote: &str, key: &str) -> Result<Option<String>, PullError> {
    Ok(repo.remote_option(remote, key)?)
}

/// The verifiers a remote's `sign-verify` (or `sign-verify-summary`) asks
/// for, with the keys of its `verification-TYPE-key`/`-file` options.
fn sign_verifiers(repo: &Repo, remote: &str, key: &str) -> Result<Vec<oxtree_sign::Verifier>, PullError> {
    let value = option(repo, remote, key)?;
    let keys = |k: &str| repo.remote_option(remote, k).ok().flatten();
    crate::verify::verifiers_for_remote(value.as_deref(), &keys).map_err(PullError::Invalid)
}

/// What a remote requires of its commits (`summary` false: `gpg-verify`,
/// on unless set off, and `sign-verify`) or of its summary (`summary`
/// true: `gpg-verify-summary` and `sign-verify-summary`, off unless set).
pub fn remote_checks(repo: &Repo, remote: &str, summary: bool) -> Result<Checks, PullError> {
    let (gpg_key, gpg_default, sign_key) = if summary {
        ("gpg-verify-summary", false, "sign-verify-summary")
    } else {
        ("gpg-verify", true, "sign-verify")
    };
    let gpg = if flag(repo, remote, gpg_key, gpg_default)? {
        Some(crate::verify::remote_keyring(repo, remote, true).map_err(PullError::Invalid)?)
    } else {
        None
    };
    Ok(Checks { gpg, sign: sign_verifiers(repo, remote, sign_key)?, report: None })
}

/// A boolean remote option as OSTree reads it.
fn flag(repo: &Repo, remote: &str, key: &str, default: bool) -> Result<bool, PullError> {
    match option(repo, remote, key)? {
        None => Ok(default),
        Some(v) => oxtree_store::repo::KeyFile::parse_bool(&v)
            .ok_or_else(|| PullError::Invalid(format!("remote \"{remote}\": {key}={v} is not a boolean"))),
    }
}

/// Objects from an `archive` repository over HTTP.
struct HttpSource<'a> {
    client: &'a Client,
    /// `url`: commitmeta, summary, refs.
    meta: &'a Bases,
    /// `contenturl` (or `url`): commits, dirtrees, dirmeta, content.
    content: &'a Bases,
    /// Where downloads of content objects wait: the local repo's `tmp/`.
    tmp: PathBuf,
    /// Commit sizes the summary records (their fetch limit).
    commit_sizes: HashMap<Checksum, u64>,
    /// Commits fetched before the walk (parents, timestamp and binding
    /// checks), kept for it.
    prefetched: Mutex<HashMap<Checksum, Vec<u8>>>,
    bareuseronly_files: bool,
    /// Content objects with a partial download in `tmp/`.
    partial_downloads: Mutex<HashSet<Checksum>>,
    /// `--localcache-repo` repositories.
    caches: Vec<Repo>,
    progress: Option<ProgressFn>,
    /// Objects copied from them: metadata, content.
    local_metadata: AtomicU64,
    local_content: AtomicU64,
    /// Bytes received.
    received: AtomicU64,
    /// A mirror into an archive repo with `--http-trusted`: content is
    /// taken as the server has it, unverified, as OSTree does.
    trusted_mirror: bool,
}

impl HttpSource<'_> {
    /// Fetches and checks the metadata object `c`; `None` if absent.
    fn fetch_metadata(&self, ty: ObjectType, c: &Checksum) -> Result<Option<Vec<u8>>, PullError> {
        if ty == ObjectType::Commit {
            if let Some(b) = lock(&self.prefetched).get(c) {
                return Ok(Some(b.clone()));
            }
        }
        let rel = oxtree_store::object::loose_path(c, ty, true);
        let limit = self.commit_sizes.get(c).copied().unwrap_or(MAX_METADATA_SIZE);
        let got =
            self.content.each(&rel, |url| Ok(self.client.get_bytes(url, limit)?.map(|b| (b, url.to_string()))))?;
        let Some((bytes, url)) = got else { return Ok(None) };
        self.received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        verify_metadata(ty, c, &bytes).map_err(|e| fetched(&url, e.into()))?;
        Ok(Some(bytes))
    }

    /// Commit `c`, fetched now (and kept for the walk) unless it is here.
    fn load_commit(&self, repo: &Repo, c: &Checksum) -> Result<Commit, PullError> {
        let bytes = if repo.has_object(ObjectType::Commit, c) {
            repo.read_metadata(ObjectType::Commit, c)?
        } else {
            let b = self.fetch_metadata(ObjectType::Commit, c)?.ok_or_else(|| self.missing(ObjectType::Commit, c))?;
            lock(&self.prefetched).insert(*c, b.clone());
            b
        };
        Commit::from_bytes(&bytes).map_err(crate::walk::bad(c, ObjectType::Commit))
    }

    fn missing(&self, ty: ObjectType, c: &Checksum) -> PullError {
        let rel = oxtree_store::object::loose_path(c, ty, true);
        PullError::Invalid(format!("{}: not found on the server (HTTP 404)", self.content.url(&rel)))
    }

    /// Copies metadata object `c` from a local cache repo that has it.
    fn metadata_from_cache(
        &self,
        tx: &Transaction<'_>,
        ty: ObjectType,
        c: &Checksum,
    ) -> Result<Option<Vec<u8>>, PullError> {
        let Some(cache) = self.caches.iter().find(|r| r.has_object(ty, c)) else { return Ok(None) };
        let bytes = cache.read_metadata(ty, c)?;
        verify_metadata(ty, c, &bytes)?;
        tx.write_metadata(ty, &bytes)?;
        self.local_metadata.fetch_add(1, Ordering::Relaxed);
        Ok(Some(bytes))
    }

    /// Imports content object `c` from a local cache repo that has it.
    fn content_from_cache(&self, tx: &Transaction<'_>, c: &Checksum) -> Result<Option<u64>, PullError> {
        let Some(cache) = self.caches.iter().find(|r| r.has_object(ObjectType::File, c)) else { return Ok(None) };
        let obj = cache.open_file(c)?;
        check_storable(tx, self.bareuseronly_files, c, &obj.header)?;
        let size = store_content(tx, c, obj)?;
        self.local_content.fetch_add(1, Ordering::Relaxed);
        Ok(Some(size))
    }
}

/// Metadata object `c` if the pull has it already: in the repo, or staged
/// (by this pull, or by one that was killed).
fn local_metadata(tx: &Transaction<'_>, ty: ObjectType, c: &Checksum) -> Result<Option<Vec<u8>>, PullError> {
    if tx.repo().has_object(ty, c) {
        return Ok(Some(tx.repo().read_metadata(ty, c)?));
    }
    Ok(tx.read_staged_metadata(ty, c))
}

/// An error about what `url` delivered.
fn fetched(url: &str, e: PullError) -> PullError {
    match e {
        // Named as OSTree names it, `CSUM.TYPE: what is wrong`, then where
        // it came from.
        PullError::Store(oxtree_store::Error::BadObject { checksum, ty, source }) => {
            PullError::Invalid(format!("{checksum}.{}: {source} (from {url})", ty.name()))
        }
        e => PullError::Invalid(format!("{url}: {e}")),
    }
}

impl Source for HttpSource<'_> {
    fn metadata(&self, tx: &Transaction<'_>, ty: ObjectType, c: &Checksum) -> Result<Vec<u8>, PullError> {
        if let Some(bytes) = local_metadata(tx, ty, c)? {
            return Ok(bytes);
        }
        if let Some(bytes) = self.metadata_from_cache(tx, ty, c)? {
            return Ok(bytes);
        }
        let bytes = self.fetch_metadata(ty, c)?.ok_or_else(|| self.missing(ty, c))?;
        if !tx.has_object(ty, c) {
            tx.write_metadata(ty, &bytes)?;
        }
        Ok(bytes)
    }

    fn commit_bytes(&self, tx: &Transaction<'_>, c: &Checksum) -> Result<Vec<u8>, PullError> {
        let ty = ObjectType::Commit;
        if let Some(bytes) = local_metadata(tx, ty, c)? {
            return Ok(bytes);
        }
        let bytes = self.fetch_metadata(ty, c)?.ok_or_else(|| self.missing(ty, c))?;
        // Kept for `metadata`, which stores it once it is verified.
        lock(&self.prefetched).insert(*c, bytes.clone());
        Ok(bytes)
    }

    fn commitmeta(&self, c: &Checksum) -> Result<Option<Vec<u8>>, PullError> {
        let rel = oxtree_store::object::loose_path(c, ObjectType::CommitMeta, true);
        let got = self.meta.each(&rel, |url| self.client.get_bytes(url, MAX_METADATA_SIZE))?;
        self.received.fetch_add(got.as_ref().map_or(0, |b| b.len() as u64), Ordering::Relaxed);
        Ok(got)
    }

    fn has_commit(&self, c: &Checksum) -> Result<bool, PullError> {
        if lock(&self.prefetched).contains_key(c) {
            return Ok(true);
        }
        match self.fetch_metadata(ObjectType::Commit, c)? {
            Some(b) => {
                lock(&self.prefetched).insert(*c, b);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn content(&self, tx: &Transaction<'_>, c: &Checksum) -> Result<u64, PullError> {
        if let Some(size) = self.content_from_cache(tx, c)? {
            return Ok(size);
        }
        let rel = oxtree_store::object::loose_path(c, ObjectType::File, true);
        let path = self.tmp.join(format!("oxtree-pull-{}.filez", c.to_hex()));
        let io = |e: std::io::Error| PullError::Store(oxtree_store::Error::Io { path: path.clone(), source: e });
        // What an interrupted pull left is continued with `Range`.
        let mut spool = if lock(&self.partial_downloads).remove(c) {
            Download::resume(&path).map_err(io)?
        } else {
            Download::new(&path)
        };
        let before = spool.held().map_err(io)?;
        let got = self.content.each(&rel, |url| {
            Ok(self.client.download(url, &mut spool, MAX_CONTENT_SIZE)?.map(|n| (n, url.to_string())))
        })?;
        let Some((total, url)) = got else { return Err(self.missing(ObjectType::File, c)) };
        self.received.fetch_add(total.saturating_sub(before), Ordering::Relaxed);
        let result = (|| {
            let obj = match spool.file.take() {
                Some(mut file) => {
                    // The download's own handle, read from the start.
                    file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
                    FileObject::from_filez(file, c, &path)?
                }
                None => FileObject::from_filez_bytes(std::mem::take(&mut spool.mem), c, &url)?,
            };
            check_storable(tx, self.bareuseronly_files, c, &obj.header)?;
            if self.trusted_mirror {
                return Ok(store_content_trusted(tx, c, obj)?);
            }
            Ok::<u64, PullError>(store_content(tx, c, obj)?)
        })();
        // Stored, or not worth resuming: a complete download that is not
        // the object is fetched afresh next time.
        spool.discard();
        result.map_err(|e| fetched(&url, e))
    }

    fn concurrency(&self) -> usize {
        oxtree_store::threads_or(MAX_REQUESTS)
    }

    fn wants_progress(&self) -> bool {
        self.progress.is_some()
    }

    fn progress(&self, done: u64, known: u64) {
        if let Some(p) = &self.progress {
            (p.0)(&Progress { done, known, bytes: self.received.load(Ordering::Relaxed) });
        }
    }
}

/// What a pull fetched, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpPullStats {
    /// Objects imported (fetched or copied from a local cache).
    pub objects: PullStats,
    /// Of those, metadata objects copied from a `--localcache-repo`.
    pub local_metadata: u64,
    /// Of those, content objects copied from a `--localcache-repo`.
    pub local_content: u64,
    /// The summary, config and `refs/heads/` files fetched (OSTree counts
    /// them with the metadata in its closing line).
    pub meta_files: u64,
    /// Bytes received from the server.
    pub bytes_received: u64,
    /// What static deltas brought.
    pub deltas: DeltaPullStats,
}

/// Delta files of an HTTP remote: superblocks and indexes from its url,
/// parts from its content url.
struct HttpDeltaFiles<'a> {
    client: &'a Client,
    meta: &'a Bases,
    content: &'a Bases,
}

impl DeltaFiles for HttpDeltaFiles<'_> {
    fn get(&self, rel: &str, max: u64, content: bool) -> Result<Option<Vec<u8>>, PullError> {
        let bases = if content { self.content } else { self.meta };
        Ok(bases.each(rel, |u| self.client.get_bytes(u, max))?)
    }
}

/// Pulls `refs` (the remote's `branches` when empty; a ref may be a commit
/// checksum, pulled without writing a ref) from the HTTP remote `remote`
/// into `repo`, and points `refs/remotes/REMOTE/REF` at what was pulled.
pub fn pull(repo: &Repo, remote: &str, refs: &[String], opts: &PullOptions) -> Result<HttpPullStats, PullError> {
    if let Some(state) = option(repo, remote, "unconfigured-state")? {
        return Err(PullError::Invalid(state));
    }
    let url = match &opts.url {
        Some(u) => u.clone(),
        None => option(repo, remote, "url")?
            .ok_or_else(|| PullError::Invalid(format!("No \"url\" option in remote \"{remote}\"")))?,
    };
    let bare = url.strip_prefix("mirrorlist=").unwrap_or(&url);
    if !url.starts_with("metalink=") && !bare.starts_with("http://") && !bare.starts_with("https://") {
        return Err(PullError::Invalid(format!("Invalid URI scheme in {bare}")));
    }
    let client = remote_client(repo, remote, &opts.http)?;
    // A metalink gives the summary, and the base URL where it was found.
    let (meta, metalink_summary) = match url.strip_prefix("metalink=") {
        Some(link) => {
            let (summary, base) = crate::metalink::fetch_summary(&client, link)?;
            (Bases::resolve(&client, &base, &format!("remote \"{remote}\" metalink"))?, Some(summary))
        }
        None => (Bases::resolve(&client, &url, &format!("remote \"{remote}\" url"))?, None),
    };
    // Without a contenturl, content comes from the url's own mirrors (a
    // mirrorlist is fetched once).
    let own_content = match option(repo, remote, "contenturl")? {
        Some(c) => Some(Bases::resolve(&client, &c, &format!("remote \"{remote}\" contenturl"))?),
        None => None,
    };
    let content = own_content.as_ref().unwrap_or(&meta);
    let caches = opts.localcache_repos.iter().map(|p| Repo::open(p)).collect::<Result<Vec<_>, _>>()?;

    let mut wanted: Vec<String> = refs.to_vec();
    if wanted.is_empty() {
        let branches = option(repo, remote, "branches")?.unwrap_or_default();
        wanted = branches.split(';').map(str::trim).filter(|b| !b.is_empty()).map(str::to_string).collect();
    }
    // A mirror of everything: all the summary's refs, and the summary.
    let mirror_all = opts.mirror && wanted.is_empty();
    if wanted.is_empty() && !mirror_all {
        return Err(PullError::Invalid(format!("No configured branches for remote {remote}")));
    }

    let tmp = repo.path().join("tmp");
    std::fs::create_dir_all(&tmp)
        .map_err(|e| PullError::Store(oxtree_store::Error::Io { path: tmp.clone(), source: e }))?;
    let mut source = HttpSource {
        client: &client,
        meta: &meta,
        content,
        partial_downloads: Mutex::new(partial_downloads(&tmp)),
        tmp,
        commit_sizes: HashMap::new(),
        prefetched: Mutex::new(HashMap::new()),
        bareuseronly_files: opts.bareuseronly_files,
        caches,
        progress: opts.progress.clone(),
        local_metadata: AtomicU64::new(0),
        local_content: AtomicU64::new(0),
        received: AtomicU64::new(0),
        trusted_mirror: opts.http_trusted && opts.mirror && repo.mode() == oxtree_store::RepoMode::Archive,
    };

    // What each ref names: the summary if the server has one, else
    // `refs/heads/REF`.
    // The summary, config and ref files fetched.
    let mut files = Tally::default();
    // Refs given with their commit (`REF@COMMIT`) need no summary: OSTree
    // does not fetch it when every ref is given so, and neither do we. (A
    // bare checksum still fetches it: the summary lists the deltas.)
    let is_override = |r: &String| r.split_once('@').is_some_and(|(_, c)| Checksum::is_hex(c));
    let needs_summary = mirror_all || !wanted.iter().all(is_override);
    let summary_checks = remote_checks(repo, remote, true)?;
    let fetched_summary = if needs_summary {
        let cache = SummaryCache::new(repo, opts.cache_dir.as_deref(), remote);
        let fetched = FetchedSummary { checks: &summary_checks, cache: &cache, prefetched: metalink_summary };
        fetch_verified_summary(&client, &meta, &mut files, fetched, remote)?
    } else {
        None
    };
    let (summary, summary_bytes) = match fetched_summary {
        Some((s, b)) => (Some(s), Some(b)),
        None => (None, None),
    };
    if mirror_all {
        let s = summary.as_ref().ok_or_else(|| {
            PullError::Invalid(
                "Fetching all refs was requested in mirror mode, but remote repository does not have a summary".into(),
            )
        })?;
        wanted = s.refs.iter().map(|r| r.name.clone()).collect();
    }
    let mut targets: Vec<(Option<String>, Checksum)> = Vec::new();
    for r in &wanted {
        // `REF@COMMIT`: that commit, and the ref pointed at it.
        if let Some((name, c)) = r.split_once('@').filter(|(_, c)| Checksum::is_hex(c)) {
            oxtree_store::repo::validate_ref_name(name)
                .map_err(|e| PullError::Invalid(format!("Invalid ref name {name}: {e}")))?;
            targets.push((
                Some(name.to_string()),
                Checksum::from_hex(c).map_err(|e| PullError::Invalid(format!("{r}: {e}")))?,
            ));
            continue;
        }
        if Checksum::is_hex(r) {
            targets.push((None, Checksum::from_hex(r).map_err(|e| PullError::Invalid(format!("{r}: {e}")))?));
            continue;
        }
        oxtree_store::repo::validate_ref_name(r)
            .map_err(|e| PullError::Invalid(format!("Invalid ref name {r}: {e}")))?;
        let c = match summary.as_ref().and_then(|s| s.refs.iter().find(|x| x.name == *r)) {
            Some(entry) => {
                source.commit_sizes.insert(entry.checksum, entry.commit_size);
                entry.checksum
            }
            None => resolve_ref(&client, &meta, r, remote, summary.is_some(), &mut files)?,
        };
        targets.push((Some(r.clone()), c));
    }
    check_targets(repo, remote, &source, &targets, opts)?;
    let mut commit_checks = remote_checks(repo, remote, false)?;
    commit_checks.report = opts.gpg_report.clone();

    // A pull that was killed left its objects staged: take them over.
    let mut tx = repo.resume_transaction()?;
    let mut deltas = DeltaPullStats::default();
    if !opts.disable_static_deltas && !opts.commit_metadata_only && opts.subpaths.is_empty() {
        let files = HttpDeltaFiles { client: &client, meta: &meta, content };
        let mut known = KnownDeltas::new(summary.as_ref(), false);
        let policy = DeltaPolicy {
            checks: &commit_checks,
            require: opts.require_static_deltas,
            bareuseronly_files: opts.bareuseronly_files,
            dry_run: opts.dry_run,
        };
        let applied = targets.iter().try_for_each(|(name, c)| {
            let from_ref = match name {
                Some(n) if opts.mirror => repo.resolve_rev(n, true)?,
                Some(n) => repo.resolve_rev(&format!("{remote}:{n}"), true)?,
                None => None,
            };
            pull_delta(&tx, &files, &mut known, from_ref, c, policy, &mut deltas).map(|_| ())
        });
        if let Err(e) = applied {
            // Keep the parts that were applied: a retry skips them.
            let _ = tx.commit();
            return Err(e);
        }
    }
    if opts.dry_run {
        return Ok(HttpPullStats {
            deltas,
            meta_files: files.files,
            bytes_received: files.bytes + deltas.bytes,
            ..Default::default()
        });
    }
    let mut walk = Walk::new(source, &tx, opts.commit_metadata_only);
    walk.subpaths = opts.subpaths.clone();
    walk.checks = commit_checks;
    let walked = targets.iter().try_for_each(|(_, c)| walk.commit(c, opts.depth));
    let stats = HttpPullStats {
        deltas,
        objects: walk.stats(),
        local_metadata: walk.src.local_metadata.load(Ordering::Relaxed),
        local_content: walk.src.local_content.load(Ordering::Relaxed),
        meta_files: files.files,
        bytes_received: walk.src.received.load(Ordering::Relaxed) + files.bytes + deltas.bytes,
    };
    if let Err(e) = walked {
        drop(walk);
        // Keep what was fetched and verified (no ref moves; the commit
        // stays partial): the next pull starts from there.
        let _ = tx.commit();
        return Err(e);
    }
    drop(walk);
    for (name, c) in &targets {
        if let Some(n) = name {
            let spec = if opts.mirror { n.clone() } else { format!("{remote}:{n}") };
            tx.set_ref(&spec, Some(*c))?;
        }
    }
    tx.commit()?;
    if let (true, Some(bytes)) = (mirror_all, &summary_bytes) {
        // The mirror serves the same refs: the same summary, byte for byte,
        // and its signatures if the remote has any.
        let sig = meta.each("summary.sig", |u| client.get_bytes(u, MAX_METADATA_SIZE))?;
        write_root_file(repo, "summary", bytes)?;
        match sig {
            Some(sig) => write_root_file(repo, "summary.sig", &sig)?,
            None => {
                let p = repo.path().join("summary.sig");
                if let Err(e) = std::fs::remove_file(&p) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(oxtree_store::Error::Io { path: p, source: e }.into());
                    }
                }
            }
        }
    }
    // Only now, with the objects durable, do the commits stop being
    // partial (a subpath pull leaves the rest of the tree missing).
    if !opts.commit_metadata_only && opts.subpaths.is_empty() {
        for (_, c) in &targets {
            clear_partial_chain(repo, c, opts.depth)?;
        }
    }
    Ok(stats)
}

/// An HTTP client for `remote`: `http` with the remote's TLS options and
/// cookie jar.
fn remote_client(repo: &Repo, remote: &str, http: &HttpOptions) -> Result<Client, PullError> {
    let mut http = http.clone();
    http.tls_permissive |= flag(repo, remote, "tls-permissive", false)?;
    if let Some(ca) = option(repo, remote, "tls-ca-path")? {
        http.tls_ca_path = Some(PathBuf::from(ca));
    }
    if let Some(p) = option(repo, remote, "proxy")? {
        http.proxy = Some(p);
    }
    match (option(repo, remote, "tls-client-cert-path")?, option(repo, remote, "tls-client-key-path")?) {
        (Some(cert), Some(key)) => http.tls_client_cert = Some((PathBuf::from(cert), PathBuf::from(key))),
        (None, None) => {}
        _ => {
            return Err(PullError::Invalid(format!(
                "remote \"{remote}\": tls-client-cert-path and tls-client-key-path must be specified together"
            )))
        }
    }
    let jar = crate::cookies::jar_path(repo.path(), remote);
    http.cookies = crate::cookies::load(&jar)
        .map_err(|e| PullError::Store(oxtree_store::Error::Io { path: jar.clone(), source: e }))?;
    Ok(Client::new(http)?)
}

/// The bytes of `remote`'s summary as its server has them, `None` if it
/// has none (`remote refs`, `remote summary`). `file://` remotes are read
/// from disk.
pub fn fetch_remote_summary(repo: &Repo, remote: &str, http: &HttpOptions) -> Result<Option<Vec<u8>>, PullError> {
    fetch_remote_file(repo, remote, http, "summary")
}

/// A file at the top of `remote`'s repository (`summary`, `summary.sig`),
/// fetched now; `None` if the server has none.
pub fn fetch_remote_file(
    repo: &Repo,
    remote: &str,
    http: &HttpOptions,
    name: &str,
) -> Result<Option<Vec<u8>>, PullError> {
    let url = option(repo, remote, "url")?
        .ok_or_else(|| PullError::Invalid(format!("No \"url\" option in remote \"{remote}\"")))?;
    if let Some(dir) = url.strip_prefix("file://") {
        let p = std::path::Path::new(dir).join(name);
        return match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(oxtree_store::Error::Io { path: p, source: e }.into()),
        };
    }
    let client = remote_client(repo, remote, http)?;
    let meta = match url.strip_prefix("metalink=") {
        Some(link) => {
            let (summary, base) = crate::metalink::fetch_summary(&client, link)?;
            if name == "summary" {
                return Ok(Some(summary));
            }
            Bases::resolve(&client, &base, &format!("remote \"{remote}\" metalink"))?
        }
        None => Bases::resolve(&client, &url, &format!("remote \"{remote}\" url"))?,
    };
    Ok(meta.each(name, |u| client.get_bytes(u, MAX_METADATA_SIZE))?)
}

/// Before anything is stored: each commit pulled for a ref must be bound
/// to that ref if it names refs (`ostree.ref-binding`), and with
/// `--timestamp-check` not be older than what the ref points at now.
fn check_targets(
    repo: &Repo,
    remote: &str,
    source: &HttpSource<'_>,
    targets: &[(Option<String>, Checksum)],
    opts: &PullOptions,
) -> Result<(), PullError> {
    let floor = match &opts.timestamp_check_from_rev {
        Some(rev) => {
            let c = repo
                .resolve_rev(rev, false)?
                .ok_or_else(|| PullError::Invalid(format!("--timestamp-check-from-rev: no such revision {rev}")))?;
            Some((c, repo.load_commit(&c)?))
        }
        None => None,
    };
    for (name, c) in targets {
        let check_time = opts.timestamp_check && name.is_some();
        if opts.disable_verify_bindings && !check_time && floor.is_none() {
            continue;
        }
        let commit = source.load_commit(repo, c)?;
        if let (Some(n), false) = (name, opts.disable_verify_bindings) {
            if let Some(bound) = commit.ref_bindings() {
                if !bound.contains(n) {
                    return Err(PullError::Invalid(format!(
                        "Commit {c} has no requested ref ‘{n}’ in ref binding metadata ({})",
                        oxtree_store::fsck::quote_list(&bound)
                    )));
                }
            }
        }
        let current = match (name, check_time) {
            (Some(n), true) => {
                let spec = if opts.mirror { n.clone() } else { format!("{remote}:{n}") };
                match repo.resolve_rev(&spec, true)? {
                    Some(old) if old != *c => Some((old, repo.load_commit(&old)?)),
                    _ => None,
                }
            }
            _ => None,
        };
        for (old, old_commit) in current.iter().chain(floor.iter()) {
            if commit.timestamp < old_commit.timestamp {
                return Err(PullError::Invalid(format!(
                    "Upgrade target revision '{c}' with timestamp '{}' is chronologically older than current \
                     revision '{old}' with timestamp '{}'; use --allow-downgrade to permit",
                    iso8601(commit.timestamp),
                    iso8601(old_commit.timestamp)
                )));
            }
        }
    }
    Ok(())
}

use oxtree_store::summary::iso8601;

/// Replaces `name` in the repository's top directory with `bytes`.
fn write_root_file(repo: &Repo, name: &str, bytes: &[u8]) -> Result<(), PullError> {
    Ok(oxtree_store::repo::write_atomic(&repo.path().join(name), bytes, 0o644, repo.fsync_enabled())?)
}

/// The remote's summary (parsed, and its bytes), if it has one; checks
/// that the remote is an `archive` repository when the summary says which
/// mode it is in.
/// Files fetched besides objects: how many, how many bytes.
#[derive(Default)]
struct Tally {
    files: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: &[u8]) {
        self.files += 1;
        self.bytes += bytes.len() as u64;
    }
}

/// A remote's summary as last fetched with a `summary.sig`:
/// `CACHE/summaries/REMOTE` and `REMOTE.sig`. A pull whose `summary.sig`
/// is byte for byte the cached one uses the cached summary instead of
/// fetching it again (as OSTree does); the cache is written only once the
/// summary has passed verification.
pub struct SummaryCache {
    summary: std::path::PathBuf,
    sig: std::path::PathBuf,
}

impl SummaryCache {
    /// The cache of `remote` under `dir` (default: the repo's `tmp/cache`).
    pub fn new(repo: &Repo, dir: Option<&std::path::Path>, remote: &str) -> SummaryCache {
        let base = dir.map(std::path::Path::to_path_buf).unwrap_or_else(|| repo.path().join("tmp/cache"));
        let summaries = base.join("summaries");
        SummaryCache { summary: summaries.join(remote), sig: summaries.join(format!("{remote}.sig")) }
    }

    /// The cached summary, when the cached signature is `sig`.
    fn get(&self, sig: &[u8]) -> Option<Vec<u8>> {
        let cached_sig = std::fs::read(&self.sig).ok()?;
        if cached_sig != sig {
            return None;
        }
        std::fs::read(&self.summary).ok()
    }

    /// Caches `summary` and `sig` (each replaced atomically) with what
    /// the server said of them: the `Last-Modified` time as the file's
    /// mtime and the `ETag` in its `user.etag` xattr, as OSTree keeps them.
    fn put(&self, summary: (&[u8], &Validators), sig: (&[u8], &Validators)) -> Result<(), PullError> {
        for (path, (bytes, v)) in [(&self.summary, summary), (&self.sig, sig)] {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| PullError::Store(oxtree_store::Error::Io { path: dir.to_path_buf(), source: e }))?;
            }
            oxtree_store::repo::write_atomic(path, bytes, 0o644, false)?;
            // Both are hints for the next request: a file system without
            // user xattrs just means unconditional requests.
            if let Some(t) = v.last_modified.as_deref().and_then(crate::httpdate::parse) {
                let _ = std::fs::File::options().write(true).open(path).and_then(|f| f.set_modified(t));
            }
            if let Some(e) = &v.etag {
                let _ =
                    rustix::fs::setxattr(path.as_path(), "user.etag", e.as_bytes(), rustix::fs::XattrFlags::empty());
            }
        }
        Ok(())
    }

    /// What the cache knows of the copy at `path` (`self.summary` or
    /// `self.sig`): nothing when there is none.
    fn validators(&self, path: &std::path::Path) -> Validators {
        let Ok(m) = std::fs::metadata(path) else { return Validators::default() };
        let mut buf = [0u8; 256];
        let etag = rustix::fs::getxattr(path, "user.etag", &mut buf[..])
            .ok()
            .and_then(|n| std::str::from_utf8(&buf[..n]).ok().map(str::to_string));
        Validators { etag, last_modified: m.modified().ok().map(crate::httpdate::format) }
    }
}

/// The remote's summary, checked against its `summary.sig` as `checks`
/// ask (`gpg-verify-summary`, `sign-verify-summary`), and taken from the
/// cache when the signature is the cached one.
/// How [`fetch_verified_summary`] gets and checks the summary.
struct FetchedSummary<'a> {
    checks: &'a Checks,
    cache: &'a SummaryCache,
    /// The summary as a metalink delivered it (already checked against
    /// the metalink's digest).
    prefetched: Option<Vec<u8>>,
}

fn fetch_verified_summary(
    client: &Client,
    meta: &Bases,
    tally: &mut Tally,
    how: FetchedSummary<'_>,
    remote: &str,
) -> Result<Option<(Summary, Vec<u8>)>, PullError> {
    let FetchedSummary { checks, cache, prefetched } = how;
    // summary.sig is asked for on condition that it changed since the
    // cached one (ETag, Last-Modified): a 304 means the cached one.
    let sig_validators = cache.validators(&cache.sig);
    let sig: Option<(Vec<u8>, Validators)> =
        match meta.each("summary.sig", |u| client.get_conditional(u, MAX_METADATA_SIZE, &sig_validators))? {
            Some(Conditional::Fetched(b, v)) => {
                tally.add(&b);
                Some((b, v))
            }
            Some(Conditional::NotModified) => match std::fs::read(&cache.sig) {
                Ok(b) => Some((b, sig_validators.clone())),
                // Gone since: ask again, without conditions.
                Err(_) => meta.each("summary.sig", |u| client.get_bytes(u, MAX_METADATA_SIZE))?.map(|b| {
                    tally.add(&b);
                    (b, Validators::default())
                }),
            },
            None => None,
        };
    let sig_bytes = sig.as_ref().map(|(b, _)| b.as_slice());
    let verify = |bytes: &[u8]| -> Result<(), PullError> {
        if checks.is_empty() {
            return Ok(());
        }
        crate::verify::verify_summary(checks, bytes, sig_bytes).map_err(PullError::Invalid)
    };
    // Whether the cached summary may answer a conditional request: not
    // when it just failed verification (it is fetched again in full).
    let mut cache_trusted = true;
    if let Some(cached) = sig_bytes.and_then(|s| cache.get(s)) {
        match verify(&cached) {
            Ok(()) => return parse_summary(client, meta, tally, cached, "the cached summary").map(Some),
            Err(e)
                if std::env::var("OSTREE_REPO_TEST_ERROR")
                    .is_ok_and(|v| v.split(',').any(|t| t == "invalid-cache")) =>
            {
                return Err(PullError::Invalid(format!(
                    "Remote {remote} cached summary invalid and OSTREE_REPO_TEST_ERROR_INVALID_CACHE specified: {e}"
                )))
            }
            // A cache that no longer matches is fetched again.
            Err(_) => cache_trusted = false,
        }
    }
    let summary_validators = if cache_trusted { cache.validators(&cache.summary) } else { Validators::default() };
    let got = match prefetched {
        Some(b) => Some((b, Validators::default(), meta.url("summary"))),
        None => meta.each("summary", |u| {
            Ok(match client.get_conditional(u, MAX_METADATA_SIZE, &summary_validators)? {
                Some(Conditional::Fetched(b, v)) => Some((b, v, u.to_string())),
                Some(Conditional::NotModified) => {
                    std::fs::read(&cache.summary).ok().map(|b| (b, summary_validators.clone(), u.to_string()))
                }
                None => None,
            })
        })?,
    };
    let Some((bytes, fetched_validators, summary_url)) = got else {
        if checks.gpg.is_some() {
            return Err(PullError::Invalid(
                "GPG verification enabled, but no summary found (use gpg-verify-summary=false in remote config to disable)"
                    .into(),
            ));
        }
        if !checks.sign.is_empty() {
            return Err(PullError::Invalid(format!(
                "remote {remote}: sign-verify-summary is on, and the server has no summary"
            )));
        }
        return Ok(None);
    };
    tally.add(&bytes);
    verify(&bytes)?;
    let parsed = parse_summary(client, meta, tally, bytes, &summary_url)?;
    if let Some((sig, sig_validators)) = &sig {
        cache.put((&parsed.1, &fetched_validators), (sig, sig_validators))?;
    }
    Ok(Some(parsed))
}

fn parse_summary(
    client: &Client,
    meta: &Bases,
    tally: &mut Tally,
    bytes: Vec<u8>,
    summary_url: &str,
) -> Result<(Summary, Vec<u8>), PullError> {
    let summary = Summary::from_bytes(&bytes).map_err(|e| PullError::Invalid(format!("{summary_url}: {e}")))?;
    if summary.get("ostree.summary.mode").is_some() && summary.get("ostree.summary.tombstone-commits").is_some() {
        // As OSTree does: the mode comes from the remote's config.
        let config_url = meta.url("config");
        let text = client
            .get_bytes(&config_url, 1 << 20)?
            .ok_or_else(|| PullError::Invalid(format!("{config_url}: not found on the server (HTTP 404)")))?;
        tally.add(&text);
        let text = String::from_utf8(text).map_err(|_| PullError::Invalid(format!("{config_url}: not UTF-8")))?;
        let kf =
            oxtree_store::repo::KeyFile::parse(&text).map_err(|e| PullError::Invalid(format!("{config_url}: {e}")))?;
        let mode = kf.get("core", "mode").unwrap_or("bare");
        if mode != "archive" && mode != "archive-z2" {
            return Err(PullError::Invalid(format!("Can't pull from archives with mode \"{mode}\"")));
        }
    }
    Ok((summary, bytes))
}

/// `refs/heads/REF` of the remote: 64 hex digits.
fn resolve_ref(
    client: &Client,
    meta: &Bases,
    name: &str,
    remote: &str,
    had_summary: bool,
    tally: &mut Tally,
) -> Result<Checksum, PullError> {
    if had_summary {
        return Err(PullError::Invalid(format!("No such branch '{name}' in the summary of remote {remote}")));
    }
    let rel = format!("refs/heads/{name}");
    let ref_url = meta.url(&rel);
    let bytes = meta.each(&rel, |u| client.get_bytes(u, 1024))?.ok_or_else(|| {
        PullError::Invalid(format!("No such branch '{name}' in remote {remote} ({ref_url}: Server returned HTTP 404)"))
    })?;
    tally.add(&bytes);
    let text = String::from_utf8(bytes).map_err(|_| PullError::Invalid(format!("{ref_url}: not UTF-8")))?;
    Checksum::from_hex(text.trim_end()).map_err(|_| {
        // OSTree's wording, quoting the first 64 characters on one line
        // (an HTML error page served with status 200, say).
        let shown: String = text.chars().take(64).map(|c| if c == '\n' { ' ' } else { c }).collect();
        PullError::Invalid(format!("Fetching checksum for ref ((empty), {name}): Invalid rev {shown} ({ref_url})"))
    })
}
