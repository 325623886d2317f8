//! A small HTTP/1.1 server on 127.0.0.1 for fault injection: each
//! connection serves one request, answered by a handler that sees the
//! request and how many came before it. Every request is logged.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The path, e.g. `/objects/ab/cd.filez`.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// Every header, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first byte a `Range: bytes=N-` asks for.
    pub fn range_start(&self) -> Option<usize> {
        self.range.as_deref()?.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok()
    }
}

/// What the handler answers.
pub enum Reply {
    /// A status with a body (`Content-Length` set to its length).
    Full(u16, Vec<u8>),
    /// `206` with the bytes `from..` of `body`.
    Partial(Vec<u8>, usize),
    /// Headers announcing `body.len()` bytes, then only the first `send`
    /// of them, then the connection closes.
    Truncated(Vec<u8>, usize),
    /// Accept and say nothing for this long, then close.
    Stall(Duration),
    /// `200` without a length: `prefix`, then zeros until the client
    /// hangs up.
    Endless(Vec<u8>),
    /// These bytes as they are (status line, headers and body), then the
    /// connection closes: for responses no other reply can make (a
    /// `Content-Length` that does not match the body, say).
    Raw(Vec<u8>),
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Starts a server answering with `handler(request, index)`.
    pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let l = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (l, h) = (l.clone(), handler.clone());
                std::thread::spawn(move || serve(stream, &l, &*h));
            }
        });
        Server { url, log }
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().expect("log").clone()
    }
}

/// Reads a request line and its headers.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    Some((line, headers))
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Request>>, handler: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let Some((mut line, mut headers)) = read_head(&mut reader) else { return };
    if line.starts_with("CONNECT ") {
        // Acting as a proxy: log the tunnel, then serve what comes through
        // it as if this were the origin.
        let target = line.split_whitespace().nth(1).unwrap_or_default().to_string();
        log.lock().expect("log").push(Request { path: format!("CONNECT {target}"), range: None, headers });
        let mut out = stream.try_clone().expect("clone stream");
        if out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").is_err() {
            return;
        }
        let Some(next) = read_head(&mut reader) else { return };
        (line, headers) = next;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let range = headers.iter().find(|(k, _)| k == "range").map(|(_, v)| v.clone());
    let req = Request { path, range, headers };
    let index = {
        let mut l = log.lock().expect("log");
        l.push(req.clone());
        l.len() - 1
    };
    let mut out = stream;
    let head = |status: u16, len: usize, extra: &str| {
        format!("HTTP/1.1 {status} X\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n")
    };
    let _ = match handler(&req, index) {
        Reply::Full(status, body) => {
            out.write_all(head(status, body.len(), "").as_bytes()).and_then(|()| out.write_all(&body))
        }
        Reply::Partial(body, from) => {
            let extra = format!("Content-Range: bytes {from}-{}/{}\r\n", body.len() - 1, body.len());
            out.write_all(head(206, body.len() - from, &extra).as_bytes()).and_then(|()| out.write_all(&body[from..]))
        }
        Reply::Truncated(body, send) => {
            out.write_all(head(200, body.len(), "").as_bytes()).and_then(|()| out.write_all(&body[..send]))
        }
        Reply::Stall(d) => {
            std::thread::sleep(d);
            Ok(())
        }
        Reply::Raw(bytes) => out.write_all(&bytes),
        Reply::Endless(prefix) => {
            let zeros = vec![0u8; 64 * 1024];
            out.write_all(b"HTTP/1.1 200 X\r\nConnection: close\r\n\r\n")
                .and_then(|()| out.write_all(&prefix))
                .and_then(|()| loop {
                    out.write_all(&zeros)?;
                })
        }
    };
    let _ = out.flush();
}

/// A handler serving the files below `root` as a static web server does
/// (nginx, say): `GET /PATH` is the file, a `Range: bytes=N-` request gets
/// the rest from `N` (`206`), anything missing (or trying to leave
/// `root`) is a 404.
pub fn serve_dir(root: std::path::PathBuf) -> impl Fn(&Request, usize) -> Reply + Send + Sync + 'static {
    move |req, _| match read_below(&root, &req.path) {
        Some(body) => match req.range_start() {
            Some(from) if from < body.len() => Reply::Partial(body, from),
            Some(_) => Reply::Full(416, Vec::new()),
            None => Reply::Full(200, body),
        },
        None => Reply::Full(404, b"not found".to_vec()),
    }
}

/// The file `url_path` names below `root`, if it is one.
pub fn read_below(root: &std::path::Path, url_path: &str) -> Option<Vec<u8>> {
    let rel = url_path.split('?').next()?.trim_start_matches('/');
    if rel.split('/').any(|c| c == ".." || c.is_empty()) {
        return None;
    }
    let p = root.join(rel);
    if !p.is_file() {
        return None;
    }
    std::fs::read(p).ok()
}
