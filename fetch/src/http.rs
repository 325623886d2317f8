//! The HTTP side of a pull: one blocking client shared by the fetching
//! threads, with OSTree's request rules (spec A.11).
//!
//! * `403`, `404` and `410` mean "not there": never retried, and for files
//!   a pull may lack (`.commitmeta`, `summary.sig`) an answer of `None`.
//! * Network errors, timeouts, `408` and `500` are retried up to
//!   [`HttpOptions::retries`] times; any other status fails at once with
//!   "Server returned HTTP N" (so `503` is fatal, as in OSTree 2022.7).
//! * Every response is read against a size limit, so a hostile or broken
//!   server cannot make the client buffer without bound.
//! * [`Client::download`] appends to a partial file with a `Range` request,
//!   so an interrupted large object resumes instead of starting over.
//!
//! TLS is rustls with the pure-Rust graviola provider (no C), trusting the
//! system's CA bundle unless told otherwise.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// Where the system's CA certificates are (Debian, Fedora, Alpine...).
const SYSTEM_CA_BUNDLES: &[&str] =
    &["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/// What can go wrong fetching a URL.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server answered with a status that is an error.
    #[error("{url}: Server returned HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The response was larger than the caller allows.
    #[error("URI {url} exceeded maximum size of {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// The connection failed, timed out or broke off, after all retries.
    #[error("{url}: {msg}")]
    Network {
        /// The URL.
        url: String,
        /// What happened.
        msg: String,
    },
    /// Writing what was fetched failed.
    #[error("{url}: {source}")]
    Write {
        /// The URL.
        url: String,
        /// The error.
        source: std::io::Error,
    },
    /// The client could not be set up (TLS files, options).
    #[error("{0}")]
    Setup(String),
}

/// Options of a [`Client`].
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Retries of a request after a transient failure (`--network-retries`).
    pub retries: u32,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// A read that waits longer than this for data fails (and is retried).
    pub read_timeout: Duration,
    /// Extra request headers (`--http-header`).
    pub headers: Vec<(String, String)>,
    /// Appended to the user agent after a space (`append-user-agent`).
    pub user_agent_suffix: Option<String>,
    /// Skip certificate verification (`tls-permissive`).
    pub tls_permissive: bool,
    /// Trust these PEM CA certificates instead of the system's
    /// (`tls-ca-path`).
    pub tls_ca_path: Option<std::path::PathBuf>,
    /// Authenticate with this client certificate (chain) and private key,
    /// both PEM (`tls-client-cert-path`, `tls-client-key-path`).
    pub tls_client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Wait before retry N (times N), so that a busy server gets a moment.
    pub retry_delay: Duration,
    /// Cookies to send where they match (the remote's cookie jar).
    pub cookies: Vec<crate::cookies::Cookie>,
    /// Send every request through this HTTP proxy (`proxy`); unset, the
    /// `http_proxy`/`https_proxy`/`all_proxy` environment decides.
    pub proxy: Option<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            retries: 5,
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
            headers: Vec::new(),
            user_agent_suffix: None,
            tls_permissive: false,
            tls_ca_path: None,
            tls_client_cert: None,
            retry_delay: Duration::from_millis(100),
            cookies: Vec::new(),
            proxy: None,
        }
    }
}

/// Where a download is written: it only grows, except that it can be
/// emptied (when a server ignores `Range`).
pub trait Spool: Write {
    /// How many bytes it holds.
    fn held(&mut self) -> std::io::Result<u64>;
    /// Drops everything it holds.
    fn clear(&mut self) -> std::io::Result<()>;
}

impl Spool for std::fs::File {
    fn held(&mut self) -> std::io::Result<u64> {
        self.seek(SeekFrom::End(0))
    }
    fn clear(&mut self) -> std::io::Result<()> {
        self.set_len(0)?;
        self.seek(SeekFrom::Start(0)).map(|_| ())
    }
}

impl Spool for Vec<u8> {
    fn held(&mut self) -> std::io::Result<u64> {
        Ok(Vec::len(self) as u64)
    }
    fn clear(&mut self) -> std::io::Result<()> {
        Vec::clear(self);
        Ok(())
    }
}

/// One HTTP client (its connections are reused across threads).
pub struct Client {
    agent: ureq::Agent,
    opts: HttpOptions,
}

/// How one attempt ended.
enum Attempt<T> {
    Done(T),
    /// The server says the file is not there.
    Absent,
    /// Failed in a way worth another try.
    Retry(HttpError),
    /// Failed for good.
    Fail(HttpError),
}

/// What a cache knows of its copy of a file, for a conditional request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` the server sent with it.
    pub etag: Option<String>,
    /// Its `Last-Modified` (an HTTP date).
    pub last_modified: Option<String>,
}

/// The answer to a conditional GET.
#[derive(Debug)]
pub enum Conditional {
    /// The cached copy is current (304).
    NotModified,
    /// The file, with its validators.
    Fetched(Vec<u8>, Validators),
}

/// How the server answered a request.
enum Started {
    Response(ureq::http::Response<ureq::Body>),
    Other(Attempt<std::convert::Infallible>),
}

impl Client {
    /// A client with `opts`.
    pub fn new(opts: HttpOptions) -> Result<Client, HttpError> {
        let provider = Arc::new(rustls_graviola::default_provider());
        let mut tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(provider)
            .disable_verification(opts.tls_permissive);
        if !opts.tls_permissive {
            tls = tls.root_certs(RootCerts::Specific(Arc::new(load_roots(opts.tls_ca_path.as_deref())?)));
        }
        if let Some((cert, key)) = &opts.tls_client_cert {
            tls = tls.client_cert(Some(load_client_cert(cert, key)?));
        }
        // Exactly OSTree's (servers and OSTree's tests match on it).
        let mut agent = format!("libostree/{}", oxtree_store::OSTREE_COMPAT_VERSION);
        if let Some(s) = &opts.user_agent_suffix {
            agent.push(' ');
            agent.push_str(s);
        }
        let proxy = match &opts.proxy {
            Some(p) => Some(ureq::Proxy::new(p).map_err(|e| HttpError::Setup(format!("proxy {p}: {e}")))?),
            None => ureq::Proxy::try_from_env(),
        };
        let config = ureq::Agent::config_builder()
            .proxy(proxy)
            .http_status_as_error(false)
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_recv_response(Some(opts.read_timeout))
            .timeout_per_read(Some(opts.read_timeout))
            .user_agent(agent)
            // Objects are compressed already; ask for them as they are.
            .accept_encoding("identity")
            .max_idle_connections_per_host(16)
            .tls_config(tls.build())
            .build();
        Ok(Client { agent: ureq::Agent::new_with_config(config), opts })
    }

    /// Fetches `url` into memory: `None` if the server says it is not
    /// there, an error if it is larger than `limit` bytes.
    pub fn get_bytes(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, HttpError> {
        // A retry after a body cut short asks for the rest only.
        let mut body = Vec::new();
        Ok(self.download(url, &mut body, limit)?.map(|_| body))
    }

    /// Fetches `url` into memory unless the copy `cached` describes is
    /// current (`If-None-Match`, `If-Modified-Since`): `None` if the
    /// server says it is not there.
    pub fn get_conditional(
        &self,
        url: &str,
        limit: u64,
        cached: &Validators,
    ) -> Result<Option<Conditional>, HttpError> {
        self.with_retries(|| {
            let mut resp = match self.start_with(url, None, Some(cached)) {
                Started::Response(r) => r,
                Started::Other(a) => return a.never(),
            };
            if resp.status().as_u16() == 304 {
                return Attempt::Done(Conditional::NotModified);
            }
            let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let validators = Validators { etag: header("etag"), last_modified: header("last-modified") };
            let mut body = Vec::new();
            let r = read_limited(resp.body_mut().as_reader(), &mut body, limit);
            finish_read(url, limit, r).map(move |()| Conditional::Fetched(body, validators))
        })
    }

    /// Downloads `url` into `to`, appending to what it holds already
    /// (the start of the same file, from an interrupted download): the
    /// rest is asked for with `Range`; if the server sends the whole file
    /// instead, `to` is emptied first. What arrived stays in `to` also
    /// when an error is returned, so a later call resumes. Returns the
    /// total length, or `None` if the server says it is not there.
    pub fn download(&self, url: &str, to: &mut dyn Spool, limit: u64) -> Result<Option<u64>, HttpError> {
        let write_err = |e: std::io::Error| HttpError::Write { url: url.into(), source: e };
        self.with_retries(|| {
            let from = match to.held() {
                Ok(n) => n,
                Err(e) => return Attempt::Fail(write_err(e)),
            };
            let mut resp = match self.start(url, (from > 0).then_some(from)) {
                Started::Response(r) => r,
                Started::Other(a) => return a.never(),
            };
            let status = resp.status().as_u16();
            if status == 416 {
                // Nothing past what we have: it was complete.
                return Attempt::Done(from);
            }
            let mut have = from;
            if from > 0 && status != 206 {
                if let Err(e) = to.clear() {
                    return Attempt::Fail(write_err(e));
                }
                have = 0;
            }
            let left = limit.saturating_sub(have);
            let mut counting = Counting { out: &mut *to, n: &mut have };
            let r = read_limited(resp.body_mut().as_reader(), &mut counting, left);
            finish_read(url, limit, r).map(|()| have)
        })
    }

    /// Sends a GET (from byte `from` on, if given) and sorts the answer.
    fn start(&self, url: &str, from: Option<u64>) -> Started {
        self.start_with(url, from, None)
    }

    /// [`Client::start`], conditional on `cached` when given (a 304 is
    /// then an answer, not an error).
    fn start_with(&self, url: &str, from: Option<u64>, cached: Option<&Validators>) -> Started {
        let mut req = self.agent.get(url);
        if let Some(v) = cached {
            if let Some(e) = &v.etag {
                req = req.header("If-None-Match", e.as_str());
            }
            if let Some(t) = &v.last_modified {
                req = req.header("If-Modified-Since", t.as_str());
            }
        }
        for (k, v) in &self.opts.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(from) = from {
            req = req.header("Range", format!("bytes={from}-"));
        }
        if let Some(c) = crate::cookies::header_for(&self.opts.cookies, url) {
            req = req.header("Cookie", c);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(e) => return Started::Other(request_failed(url, e)),
        };
        let status = resp.status().as_u16();
        let err = || HttpError::Status { url: url.into(), status };
        match status {
            200..=299 => Started::Response(resp),
            416 if from.is_some() => Started::Response(resp),
            304 if cached.is_some() => Started::Response(resp),
            403 | 404 | 410 => Started::Other(Attempt::Absent),
            408 | 500 => Started::Other(Attempt::Retry(err())),
            _ => Started::Other(Attempt::Fail(err())),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or has been
    /// retried [`HttpOptions::retries`] times.
    fn with_retries<T>(&self, mut attempt: impl FnMut() -> Attempt<T>) -> Result<Option<T>, HttpError> {
        let mut tries = 0u32;
        loop {
            match attempt() {
                Attempt::Done(v) => return Ok(Some(v)),
                Attempt::Absent => return Ok(None),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e) if tries >= self.opts.retries => return Err(e),
                Attempt::Retry(_) => {
                    tries += 1;
                    std::thread::sleep(self.opts.retry_delay * tries);
                }
            }
        }
    }
}

impl Attempt<std::convert::Infallible> {
    /// The same outcome, for an attempt that would have produced a `T`.
    fn never<T>(self) -> Attempt<T> {
        match self {
            Attempt::Done(n) => match n {},
            Attempt::Absent => Attempt::Absent,
            Attempt::Retry(e) => Attempt::Retry(e),
            Attempt::Fail(e) => Attempt::Fail(e),
        }
    }
}

/// A request that got no answer: network trouble (retried), or a URL or
/// TLS setup that cannot work (not retried).
fn request_failed(url: &str, e: ureq::Error) -> Attempt<std::convert::Infallible> {
    let fatal = matches!(
        e,
        ureq::Error::BadUri(_) | ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::TooManyRedirects
    );
    let err = HttpError::Network { url: url.into(), msg: e.to_string() };
    if fatal {
        Attempt::Fail(err)
    } else {
        Attempt::Retry(err)
    }
}

/// Why reading a body stopped early.
enum ReadError {
    TooLarge,
    /// Reading from the server failed (retried).
    Io(std::io::Error),
    /// Writing out failed (not retried).
    Write(std::io::Error),
}

fn finish_read(url: &str, limit: u64, r: Result<(), ReadError>) -> Attempt<()> {
    match r {
        Ok(()) => Attempt::Done(()),
        Err(ReadError::TooLarge) => Attempt::Fail(HttpError::TooLarge { url: url.into(), limit }),
        Err(ReadError::Io(e)) => {
            Attempt::Retry(HttpError::Network { url: url.into(), msg: format!("Transferred a partial file: {e}") })
        }
        Err(ReadError::Write(e)) => Attempt::Fail(HttpError::Write { url: url.into(), source: e }),
    }
}

impl Attempt<()> {
    fn map<T>(self, f: impl FnOnce(()) -> T) -> Attempt<T> {
        match self {
            Attempt::Done(()) => Attempt::Done(f(())),
            Attempt::Absent => Attempt::Absent,
            Attempt::Retry(e) => Attempt::Retry(e),
            Attempt::Fail(e) => Attempt::Fail(e),
        }
    }
}

/// Copies `from` into `to`, failing once more than `limit` bytes came.
fn read_limited(mut from: impl Read, to: &mut impl Write, limit: u64) -> Result<(), ReadError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        total += n as u64;
        if total > limit {
            return Err(ReadError::TooLarge);
        }
        to.write_all(&buf[..n]).map_err(ReadError::Write)?;
    }
}

/// A writer that counts what went through into `n`.
struct Counting<'a> {
    out: &'a mut dyn Write,
    n: &'a mut u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let k = self.out.write(b)?;
        *self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A client certificate: the certificates of the PEM file `cert` (the
/// client's first, then any intermediates) and the first private key of
/// the PEM file `key` (PKCS#8, PKCS#1 or SEC1).
fn load_client_cert(cert: &std::path::Path, key: &std::path::Path) -> Result<ureq::tls::ClientCert, HttpError> {
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p).map_err(|e| HttpError::Setup(format!("{what} {}: {e}", p.display())))
    };
    let mut chain = Vec::new();
    for item in ureq::tls::parse_pem(&read(cert, "tls-client-cert-path")?) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => chain.push(c.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(HttpError::Setup(format!("tls-client-cert-path {}: {e}", cert.display()))),
        }
    }
    if chain.is_empty() {
        return Err(HttpError::Setup(format!("tls-client-cert-path {}: no PEM certificate in it", cert.display())));
    }
    let mut found = None;
    for item in ureq::tls::parse_pem(&read(key, "tls-client-key-path")?) {
        match item {
            Ok(ureq::tls::PemItem::PrivateKey(k)) => {
                found = Some(k.to_owned());
                break;
            }
            Ok(_) => {}
            Err(e) => return Err(HttpError::Setup(format!("tls-client-key-path {}: {e}", key.display()))),
        }
    }
    let key_der = found
        .ok_or_else(|| HttpError::Setup(format!("tls-client-key-path {}: no PEM private key in it", key.display())))?;
    Ok(ureq::tls::ClientCert::new_with_certs(&chain, key_der))
}

/// The CA certificates to trust: those of `path`, or the system's bundle.
fn load_roots(path: Option<&std::path::Path>) -> Result<Vec<Certificate<'static>>, HttpError> {
    let candidates: Vec<std::path::PathBuf> = match path {
        Some(p) => vec![p.to_path_buf()],
        None => SYSTEM_CA_BUNDLES.iter().map(std::path::PathBuf::from).collect(),
    };
    for p in &candidates {
        let pem = match std::fs::read(p) {
            Ok(b) => b,
            Err(e) if path.is_none() && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(HttpError::Setup(format!("{}: {e}", p.display()))),
        };
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => return Err(HttpError::Setup(format!("{}: {e}", p.display()))),
            }
        }
        return Ok(certs);
    }
    // No bundle: plain http still works; https fails to verify, clearly.
    Ok(Vec::new())
}
