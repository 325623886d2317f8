//! The `http_response` target: the input is what a hostile server sends
//! back, byte for byte, on every connection to a loopback listener; the
//! pull's HTTP client fetches a URL from it (with one retry, which resumes
//! with `Range` after a body cut short) under a 64 KiB limit. Whatever the
//! bytes, the client returns: a body within the limit, "not there", or an
//! error. The input read as text is also an HTTP date (`Last-Modified`),
//! which must survive formatting and parsing again.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oxtree_fetch::http::{Client, HttpOptions};
use oxtree_fetch::httpdate;

const LIMIT: u64 = 64 * 1024;

thread_local! {
    static SERVER: (TcpListener, Client) = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
        let opts = HttpOptions {
            retries: 1,
            retry_delay: Duration::ZERO,
            connect_timeout: Duration::from_millis(500),
            read_timeout: Duration::from_millis(200),
            ..Default::default()
        };
        (listener, Client::new(opts).expect("an HTTP client"))
    };
}

/// Reads a request up to its blank line (or 200 ms of silence).
fn read_request(s: &mut TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 64 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
}

/// The fuzz target body (see the module docs).
pub fn http_response(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(t) = httpdate::parse(text) {
            let again = httpdate::format(t);
            assert_eq!(
                httpdate::parse(&again),
                Some(t),
                "date {text:?} formats as {again:?}, which reads back otherwise"
            );
        }
    }
    SERVER.with(|(listener, client)| {
        let addr = listener.local_addr().expect("the listener's address");
        let done = Arc::new(AtomicBool::new(false));
        let response = data.to_vec();
        let server = {
            let listener = listener.try_clone().expect("the listener, shared");
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if done.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut s) = conn else { continue };
                    read_request(&mut s);
                    let _ = s.write_all(&response);
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
            })
        };
        let got = client.get_bytes(&format!("http://{addr}/objects/ab/cdef.filez"), LIMIT);
        done.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees `done`.
        let _ = TcpStream::connect(addr);
        server.join().expect("the server thread");
        if let Ok(Some(body)) = got {
            assert!(body.len() as u64 <= LIMIT, "a body of {} bytes passed a limit of {LIMIT}", body.len());
        }
    });
}
