//! The HTTP client against a real server process on 127.0.0.1 that
//! misbehaves on purpose: retries, statuses, limits, resumption, stalls.

mod common {
    // Shared with the CLI's pull tests, which use the static-file part.
    #[allow(dead_code)]
    pub mod server;
}

use std::time::Duration;

use common::server::{Reply, Server};
use oxtree_fetch::http::{Client, HttpError, HttpOptions};

fn client(retries: u32) -> Client {
    Client::new(HttpOptions { retries, retry_delay: Duration::from_millis(1), ..Default::default() }).unwrap()
}

fn body(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn a_500_is_retried_and_a_503_is_not() {
    let s =
        Server::start(|_, i| if i < 2 { Reply::Full(500, b"busy".to_vec()) } else { Reply::Full(200, b"ok".to_vec()) });
    let got = client(5).get_bytes(&format!("{}/config", s.url), 1 << 20).unwrap();
    assert_eq!(got.as_deref(), Some(&b"ok"[..]));
    assert_eq!(s.requests().len(), 3, "two 500s, then the answer");
    assert!(s.requests().iter().all(|r| r.path == "/config"));

    let s = Server::start(|_, _| Reply::Full(503, Vec::new()));
    let e = client(5).get_bytes(&format!("{}/config", s.url), 1 << 20).unwrap_err();
    assert!(e.to_string().contains("Server returned HTTP 503"), "{e}");
    assert!(e.to_string().contains("/config"), "the URL is named: {e}");
    assert_eq!(s.requests().len(), 1, "503 is not retried");
}

#[test]
fn retries_run_out() {
    let s = Server::start(|_, _| Reply::Full(500, Vec::new()));
    let e = client(2).get_bytes(&format!("{}/x", s.url), 100).unwrap_err();
    assert!(matches!(e, HttpError::Status { status: 500, .. }), "{e}");
    assert_eq!(s.requests().len(), 3);
}

#[test]
fn absent_files_are_none_and_never_retried() {
    for status in [403u16, 404, 410] {
        let s = Server::start(move |_, _| Reply::Full(status, b"no".to_vec()));
        assert_eq!(client(5).get_bytes(&format!("{}/summary.sig", s.url), 100).unwrap(), None);
        assert_eq!(s.requests().len(), 1);
    }
}

#[test]
fn responses_over_the_limit_fail() {
    let s = Server::start(|_, _| Reply::Full(200, body(5000)));
    let e = client(5).get_bytes(&format!("{}/objects/aa/bb.commit", s.url), 4096).unwrap_err();
    assert!(matches!(e, HttpError::TooLarge { limit: 4096, .. }), "{e}");
    assert_eq!(s.requests().len(), 1, "a too-large answer is not retried");
    assert_eq!(client(0).get_bytes(&format!("{}/x", s.url), 5000).unwrap().map(|b| b.len()), Some(5000));
}

fn tmpfile(tag: &str) -> (std::path::PathBuf, std::fs::File) {
    let p = std::env::temp_dir().join(format!("oxtree-http-{tag}-{}", std::process::id()));
    let f = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&p).unwrap();
    (p, f)
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let data = body(3 << 20);
    let d = data.clone();
    let cut = data.len() * 9 / 10;
    let s = Server::start(move |req, i| match (i, req.range_start()) {
        (0, None) => Reply::Truncated(d.clone(), cut),
        (_, Some(from)) => Reply::Partial(d.clone(), from),
        (_, None) => Reply::Full(200, d.clone()),
    });
    let (p, mut f) = tmpfile("resume");
    let url = format!("{}/objects/ab/cd.filez", s.url);
    let n = client(3).download(&url, &mut f, 1 << 30).unwrap();
    assert_eq!(n, Some(data.len() as u64));
    assert_eq!(std::fs::read(&p).unwrap(), data);
    let reqs = s.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].range, None);
    assert_eq!(reqs[1].range.as_deref(), Some(format!("bytes={cut}-").as_str()), "resumed where it stopped");
    let _ = std::fs::remove_file(&p);
}

/// Downloads 100,000 bytes into a file an earlier run left with the first
/// 1000, from a server that honours `Range` or not; checks the result and
/// that the request asked for the rest.
fn continue_download(honour_range: bool) {
    let data = body(100_000);
    let d = data.clone();
    let s = Server::start(move |req, _| match req.range_start() {
        Some(from) if honour_range => Reply::Partial(d.clone(), from),
        _ => Reply::Full(200, d.clone()),
    });
    let (p, mut f) = tmpfile(if honour_range { "continue" } else { "norange" });
    std::io::Write::write_all(&mut f, &data[..1000]).unwrap();
    let n = client(0).download(&format!("{}/big", s.url), &mut f, 1 << 30).unwrap();
    assert_eq!(n, Some(data.len() as u64));
    assert_eq!(std::fs::read(&p).unwrap(), data);
    assert_eq!(s.requests()[0].range.as_deref(), Some("bytes=1000-"));
    let _ = std::fs::remove_file(&p);
}

#[test]
fn a_download_continues_a_file_from_an_earlier_run() {
    continue_download(true);
}

#[test]
fn a_server_that_ignores_range_gets_the_file_from_the_start() {
    continue_download(false);
}

#[test]
fn a_stalled_server_times_out_with_a_clear_message() {
    let s = Server::start(|_, _| Reply::Stall(Duration::from_secs(5)));
    let c = Client::new(HttpOptions {
        retries: 0,
        read_timeout: Duration::from_millis(300),
        retry_delay: Duration::from_millis(1),
        ..Default::default()
    })
    .unwrap();
    let t = std::time::Instant::now();
    let e = c.get_bytes(&format!("{}/summary", s.url), 100).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(4), "gave up after {:?}", t.elapsed());
    let msg = e.to_string().to_lowercase();
    assert!(msg.contains("/summary") && (msg.contains("timeout") || msg.contains("timed out")), "{e}");
}

#[test]
fn custom_headers_and_user_agent_are_sent() {
    let s = Server::start(|_, _| Reply::Full(200, Vec::new()));
    let c = Client::new(HttpOptions {
        headers: vec![("X-Test".into(), "yes".into())],
        user_agent_suffix: Some("device/1".into()),
        ..Default::default()
    })
    .unwrap();
    c.get_bytes(&format!("{}/config", s.url), 10).unwrap();
    let r = &s.requests()[0];
    let h = |k: &str| r.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!(h("x-test"), "yes");
    assert_eq!(h("user-agent"), "libostree/2022.7 device/1", "OSTree's user agent, exactly");
}
