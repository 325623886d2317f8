//! `pull` over HTTP from an `archive` repository served as static files
//! (spec A.2-A.10): refs resolved from the remote's `summary` or its
//! `refs/heads/`, then every object the commits reach that the local repo
//! lacks, each checked against its checksum before it is stored.
//!
//! Content objects are downloaded into the local repo's `tmp/` under a
//! name derived from their checksum and removed once stored: a pull that
//! is interrupted leaves the partial download there, and the next pull
//! asks only for the rest (`Range`).
//!
//! Not yet: parallel requests, static deltas, signatures (a remote with
//! `gpg-verify` on is refused), mirror pulls, `contenturl` mirrorlists.

use std::collections::{HashMap, HashSet};
use std::io::Seek;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use oxtree_store::object::ObjectType;
use oxtree_store::repo::{FileObject, Transaction};
use oxtree_store::summary::Summary;
use oxtree_store::{Checksum, Repo};

use crate::http::{Client, HttpOptions, Spool};
use crate::local::{check_bareuseronly, store_content};
use crate::walk::{clear_partial_chain, verify_metadata, PullStats, Source, Walk};
use crate::PullError;

/// The largest metadata object fetched (OSTree's `max-metadata-size`).
pub const MAX_METADATA_SIZE: u64 = 128 << 20;

/// Requests in flight at once (OSTree keeps 8 outstanding too). Loopback
/// and LAN pulls are bound by inflating and hashing, which these threads
/// spread over the cores; slow links by latency, which they hide.
const MAX_REQUESTS: usize = 8;

/// Locks `m`, also after a thread panicked holding it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The largest `.filez` downloaded.
const MAX_CONTENT_SIZE: u64 = 1 << 40;

/// Options of [`pull`].
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
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
}

/// `base` + `/` + `rel`, without doubling the slash.
fn join(base: &str, rel: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), rel.trim_start_matches('/'))
}

/// A remote's option, `None` if unset.
fn option(repo: &Repo, remote: &str, key: &str) -> Result<Option<String>, PullError> {
    Ok(repo.remote_option(remote, key)?)
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
    meta_base: String,
    /// `contenturl` (or `url`): commits, dirtrees, dirmeta, content.
    content_base: String,
    /// Where downloads of content objects wait: the local repo's `tmp/`.
    tmp: PathBuf,
    /// Commit sizes the summary records (their fetch limit).
    commit_sizes: HashMap<Checksum, u64>,
    /// Commits fetched to see whether a parent exists, kept for the walk.
    prefetched: Mutex<HashMap<Checksum, Vec<u8>>>,
    bareuseronly_files: bool,
    /// Requests in flight at once.
    concurrency: usize,
    /// Content objects with a partial download in `tmp/`.
    partial_downloads: Mutex<HashSet<Checksum>>,
    /// Bytes received.
    received: AtomicU64,
}

impl HttpSource<'_> {
    fn object_url(&self, base: &str, c: &Checksum, ty: ObjectType) -> String {
        join(base, &oxtree_store::object::loose_path(c, ty, true))
    }

    /// Fetches and checks the metadata object `c`; `None` if absent.
    fn fetch_metadata(&self, ty: ObjectType, c: &Checksum) -> Result<Option<Vec<u8>>, PullError> {
        if ty == ObjectType::Commit {
            if let Some(b) = lock(&self.prefetched).remove(c) {
                return Ok(Some(b));
            }
        }
        let url = self.object_url(&self.content_base, c, ty);
        let limit = self.commit_sizes.get(c).copied().unwrap_or(MAX_METADATA_SIZE);
        let Some(bytes) = self.client.get_bytes(&url, limit)? else { return Ok(None) };
        self.received.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        verify_metadata(ty, c, &bytes).map_err(|e| fetched(&url, e))?;
        Ok(Some(bytes))
    }
}

/// Downloads larger than this go to a file in `tmp/` (where a pull that
/// is cut short finds them again); smaller ones stay in memory, which
/// saves creating, reading back and deleting a file per object.
const SPILL_AT: usize = 1 << 20;

/// A content object being downloaded: in memory until it outgrows
/// [`SPILL_AT`], then in the file `path`.
struct Download<'p> {
    mem: Vec<u8>,
    file: Option<std::fs::File>,
    /// `path` was created (and is to be removed once the object is in).
    spilled: bool,
    path: &'p std::path::Path,
}

impl std::io::Write for Download<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.file.is_none() && self.mem.len() + buf.len() > SPILL_AT {
            let mut f =
                std::fs::OpenOptions::new().read(true).append(true).create(true).truncate(false).open(self.path)?;
            self.spilled = true;
            f.set_len(0)?;
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f.write(buf),
            None => {
                self.mem.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Spool for Download<'_> {
    fn held(&mut self) -> std::io::Result<u64> {
        match &mut self.file {
            Some(f) => f.held(),
            None => Ok(self.mem.len() as u64),
        }
    }
    fn clear(&mut self) -> std::io::Result<()> {
        self.mem.clear();
        match &mut self.file {
            Some(f) => f.clear(),
            None => Ok(()),
        }
    }
}

/// The content objects whose downloads an earlier pull left in `tmp/`.
fn partial_downloads(tmp: &std::path::Path) -> HashSet<Checksum> {
    let Ok(rd) = std::fs::read_dir(tmp) else { return HashSet::new() };
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let hex = name.to_str()?.strip_prefix("oxtree-pull-")?.strip_suffix(".filez")?.to_string();
            Checksum::from_hex(&hex).ok()
        })
        .collect()
}

/// An error about what `url` delivered.
fn fetched(url: &str, e: PullError) -> PullError {
    PullError::Invalid(format!("{url}: {e}"))
}

impl Source for HttpSource<'_> {
    fn metadata(&self, tx: &Transaction<'_>, ty: ObjectType, c: &Checksum) -> Result<Vec<u8>, PullError> {
        if tx.repo().has_object(ty, c) {
            return Ok(tx.repo().read_metadata(ty, c)?);
        }
        // Staged by this pull, or by one that was killed.
        if let Some(bytes) = tx.read_staged_metadata(ty, c) {
            return Ok(bytes);
        }
        let bytes = self.fetch_metadata(ty, c)?.ok_or_else(|| {
            PullError::Invalid(format!("{}: not found on the server", self.object_url(&self.content_base, c, ty)))
        })?;
        if !tx.has_object(ty, c) {
            tx.write_metadata(ty, &bytes)?;
        }
        Ok(bytes)
    }

    fn commitmeta(&self, c: &Checksum) -> Result<Option<Vec<u8>>, PullError> {
        let url = self.object_url(&self.meta_base, c, ObjectType::CommitMeta);
        let got = self.client.get_bytes(&url, MAX_METADATA_SIZE)?;
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
        let url = self.object_url(&self.content_base, c, ObjectType::File);
        let path = self.tmp.join(format!("oxtree-pull-{}.filez", c.to_hex()));
        let io = |e: std::io::Error| PullError::Store(oxtree_store::Error::Io { path: path.clone(), source: e });
        let mut spool = Download { mem: Vec::new(), file: None, spilled: false, path: &path };
        if lock(&self.partial_downloads).remove(c) {
            // What an interrupted pull left: continued with `Range`.
            spool.file = Some(std::fs::OpenOptions::new().read(true).append(true).open(&path).map_err(io)?);
            spool.spilled = true;
        }
        let before = spool.held().map_err(io)?;
        let total = self
            .client
            .download(&url, &mut spool, MAX_CONTENT_SIZE)?
            .ok_or_else(|| PullError::Invalid(format!("{url}: not found on the server")))?;
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
            if self.bareuseronly_files || tx.repo().mode() == oxtree_store::RepoMode::BareUserOnly {
                check_bareuseronly(c, &obj.header)?;
            }
            Ok::<u64, PullError>(store_content(tx, c, obj)?)
        })();
        if spool.spilled {
            // Stored, or not worth resuming: a complete download that is
            // not the object is fetched afresh next time.
            let _ = std::fs::remove_file(&path);
        }
        result.map_err(|e| fetched(&url, e))
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }
}

/// What a pull fetched, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpPullStats {
    /// Objects imported.
    pub objects: PullStats,
    /// Bytes received from the server.
    pub bytes_received: u64,
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
    if url.starts_with("mirrorlist=") || url.starts_with("metalink=") {
        return Err(PullError::Invalid(format!(
            "remote \"{remote}\": mirrorlists and metalinks are not supported yet"
        )));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(PullError::Invalid(format!("remote \"{remote}\": {url} is not an http:// or https:// URL")));
    }
    if flag(repo, remote, "gpg-verify", true)? {
        return Err(PullError::Invalid(format!(
            "remote \"{remote}\" has gpg-verify on, and oxtree cannot verify GPG signatures yet; \
             set gpg-verify=false for this remote to pull without verification"
        )));
    }
    let content_base = option(repo, remote, "contenturl")?.unwrap_or_else(|| url.clone());
    let mut http = opts.http.clone();
    http.tls_permissive |= flag(repo, remote, "tls-permissive", false)?;
    if let Some(ca) = option(repo, remote, "tls-ca-path")? {
        http.tls_ca_path = Some(PathBuf::from(ca));
    }
    let jar = crate::cookies::jar_path(repo.path(), remote);
    http.cookies = crate::cookies::load(&jar)
        .map_err(|e| PullError::Store(oxtree_store::Error::Io { path: jar.clone(), source: e }))?;
    let client = Client::new(http)?;

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

    let mut source = HttpSource {
        client: &client,
        meta_base: url.clone(),
        content_base,
        tmp: repo.path().join("tmp"),
        commit_sizes: HashMap::new(),
        prefetched: Mutex::new(HashMap::new()),
        bareuseronly_files: opts.bareuseronly_files,
        concurrency: MAX_REQUESTS,
        partial_downloads: Mutex::new(partial_downloads(&repo.path().join("tmp"))),
        received: AtomicU64::new(0),
    };
    std::fs::create_dir_all(&source.tmp)
        .map_err(|e| PullError::Store(oxtree_store::Error::Io { path: source.tmp.clone(), source: e }))?;

    // What each ref names: the summary if the server has one, else
    // `refs/heads/REF`.
    let (summary, summary_bytes) = match fetch_summary(&client, &url, source.received.get_mut())? {
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
            None => resolve_ref(&client, &url, r, remote, summary.is_some(), source.received.get_mut())?,
        };
        targets.push((Some(r.clone()), c));
    }

    // A pull that was killed left its objects staged: take them over.
    let mut tx = repo.resume_transaction()?;
    let walk = Walk::new(source, &tx, opts.commit_metadata_only);
    let walked = targets.iter().try_for_each(|(_, c)| walk.commit(c, opts.depth));
    let stats = HttpPullStats { objects: walk.stats(), bytes_received: walk.src.received.load(Ordering::Relaxed) };
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
        let sig = client.get_bytes(&join(&url, "summary.sig"), MAX_METADATA_SIZE)?;
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
    // Only now, with the objects durable, do the commits stop being partial.
    if !opts.commit_metadata_only {
        for (_, c) in &targets {
            clear_partial_chain(repo, c, opts.depth)?;
        }
    }
    Ok(stats)
}

/// Replaces `name` in the repository's top directory with `bytes`.
fn write_root_file(repo: &Repo, name: &str, bytes: &[u8]) -> Result<(), PullError> {
    Ok(oxtree_store::repo::write_atomic(&repo.path().join(name), bytes, 0o644, repo.fsync_enabled())?)
}

/// The remote's summary (parsed, and its bytes), if it has one; checks
/// that the remote is an `archive` repository when the summary says which
/// mode it is in.
fn fetch_summary(client: &Client, url: &str, received: &mut u64) -> Result<Option<(Summary, Vec<u8>)>, PullError> {
    let summary_url = join(url, "summary");
    let Some(bytes) = client.get_bytes(&summary_url, MAX_METADATA_SIZE)? else { return Ok(None) };
    *received += bytes.len() as u64;
    let summary = Summary::from_bytes(&bytes).map_err(|e| PullError::Invalid(format!("{summary_url}: {e}")))?;
    if summary.get("ostree.summary.mode").is_some() && summary.get("ostree.summary.tombstone-commits").is_some() {
        // As OSTree does: the mode comes from the remote's config.
        let config_url = join(url, "config");
        let text = client
            .get_bytes(&config_url, 1 << 20)?
            .ok_or_else(|| PullError::Invalid(format!("{config_url}: not found on the server")))?;
        *received += text.len() as u64;
        let text = String::from_utf8(text).map_err(|_| PullError::Invalid(format!("{config_url}: not UTF-8")))?;
        let kf =
            oxtree_store::repo::KeyFile::parse(&text).map_err(|e| PullError::Invalid(format!("{config_url}: {e}")))?;
        let mode = kf.get("core", "mode").unwrap_or("bare");
        if mode != "archive" && mode != "archive-z2" {
            return Err(PullError::Invalid(format!("Can't pull from archives with mode \"{mode}\"")));
        }
    }
    Ok(Some((summary, bytes)))
}

/// `refs/heads/REF` of the remote: 64 hex digits.
fn resolve_ref(
    client: &Client,
    url: &str,
    name: &str,
    remote: &str,
    had_summary: bool,
    received: &mut u64,
) -> Result<Checksum, PullError> {
    if had_summary {
        return Err(PullError::Invalid(format!("No such branch '{name}' in the summary of remote {remote}")));
    }
    let ref_url = join(url, &format!("refs/heads/{name}"));
    let bytes = client.get_bytes(&ref_url, 1024)?.ok_or_else(|| {
        PullError::Invalid(format!("No such branch '{name}' in remote {remote} ({ref_url} not found)"))
    })?;
    *received += bytes.len() as u64;
    let text = String::from_utf8(bytes).map_err(|_| PullError::Invalid(format!("{ref_url}: not UTF-8")))?;
    Checksum::from_hex(text.trim_end())
        .map_err(|e| PullError::Invalid(format!("{ref_url}: not a commit checksum: {e}")))
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(join("http://h/repo", "config"), "http://h/repo/config");
        assert_eq!(join("http://h/repo/", "/objects/ab/c.commit"), "http://h/repo/objects/ab/c.commit");
    }
}
