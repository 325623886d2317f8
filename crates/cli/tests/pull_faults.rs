//! Every fault of the test HTTP server on every kind of request a pull
//! makes: the repository's `config` and `summary`, the commit, its
//! detached metadata, the dirtree, dirmeta and content objects (a pull without deltas), and a static
//! delta's superblock and part (a pull through the from-scratch delta).
//! Faults: 500, 503, 404, a body cut short, a flipped byte, a
//! `Content-Length` shorter than the body, an endless body, and a stall
//! before the connection closes. After each faulty pull, failed or not,
//! the real `ostree fsck` finds no error, the ref is absent or names the
//! right commit, and a pull from a healthy server completes.
//!
//! Detached metadata carries no checksum (in OSTree neither): a flipped
//! byte in it, or a body cut to a shorter `Content-Length`, is stored as
//! sent unless the remote verifies signatures, which then refuse it (the
//! signing tests show that).

mod common;
// The fetch crate's test server; not every part of it is used here.
#[allow(dead_code)]
#[path = "../../../fetch/tests/common/server.rs"]
mod server;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use server::{read_below, serve_dir, Reply, Request, Server};

const TS: &str = "--timestamp=2021-06-01T12:00:00Z";

/// The kinds of request, by path.
fn kind(path: &str) -> &'static str {
    let p = path.split('?').next().unwrap_or(path);
    if p == "/config" {
        "config"
    } else if p == "/summary" {
        "summary"
    } else if p.starts_with("/objects/") {
        match p.rsplit('.').next() {
            Some("commit") => "commit",
            Some("commitmeta") => "commitmeta",
            Some("dirtree") => "dirtree",
            Some("dirmeta") => "dirmeta",
            Some("filez") => "filez",
            _ => "other",
        }
    } else if p.starts_with("/deltas/") && p.ends_with("/superblock") {
        "superblock"
    } else if p.starts_with("/deltas/") && p.rsplit('/').next().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
        "part"
    } else {
        "other"
    }
}

const FAULTS: &[&str] = &["500", "503", "404", "truncated", "flipped", "short-length", "endless", "stall"];

/// The faulty answer to `req` for a file `body` (None: not there).
fn faulty(fault: &str, body: Option<Vec<u8>>) -> Reply {
    let Some(mut body) = body else { return Reply::Full(404, Vec::new()) };
    match fault {
        "500" => Reply::Full(500, b"internal error".to_vec()),
        "503" => Reply::Full(503, b"busy".to_vec()),
        "404" => Reply::Full(404, b"not found".to_vec()),
        "truncated" => {
            let n = body.len() / 2;
            Reply::Truncated(body, n)
        }
        "flipped" => {
            let i = body.len() / 2;
            if let Some(b) = body.get_mut(i) {
                *b ^= 0x20;
            }
            Reply::Full(200, body)
        }
        "short-length" => {
            let mut raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len() / 2)
                .into_bytes();
            raw.extend_from_slice(&body);
            Reply::Raw(raw)
        }
        "endless" => Reply::Endless(body),
        "stall" => Reply::Stall(Duration::from_millis(700)),
        other => panic!("unknown fault {other}"),
    }
}

/// A server for `srv` that answers requests of `target` kind with `fault`.
fn faulty_server(srv: &str, target: &'static str, fault: &'static str) -> Server {
    let root = PathBuf::from(srv);
    let healthy = serve_dir(root.clone());
    Server::start(
        move |req: &Request, i| {
            if kind(&req.path) == target {
                faulty(fault, read_below(&root, &req.path))
            } else {
                healthy(req, i)
            }
        },
    )
}

#[test]
fn every_fault_on_every_request_leaves_a_sound_repo_and_the_next_pull_completes() {
    require_ostree();
    let w = TempDir::new("pull-faults");
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    let srv = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    ostree(&[&r, "init", "--mode=archive"]);
    let tree = tree.to_string_lossy();
    let meta = "--add-detached-metadata-string=note=detached";
    let head = ostree(&[&r, "commit", "-b", "main", "-s", "one", TS, meta, &tree]).trim().to_string();
    ostree(&[&r, "static-delta", "generate", "--empty", "--to=main"]);
    ostree(&[&r, "summary", "-u"]);
    let good = Server::start(serve_dir(srv.clone().into()));
    let kinds = ["config", "summary", "commit", "commitmeta", "dirtree", "dirmeta", "filez", "superblock", "part"];
    let mut seen = std::collections::BTreeSet::new();
    let mut outcomes = Vec::new();
    for (n, target) in kinds.iter().enumerate() {
        for fault in FAULTS {
            let bad = faulty_server(&srv, target, fault);
            let dst = w.join(&format!("dst-{n}-{fault}")).to_string_lossy().into_owned();
            let d = format!("--repo={dst}");
            ox(&[&d, "init", "--mode=bare-user"]);
            ox(&[&d, "remote", "add", "--no-gpg-verify", "origin", &bad.url]);
            let deltas = matches!(*target, "superblock" | "part");
            let mut args = vec![d.as_str(), "pull", "--network-retries=1"];
            if !deltas {
                args.push("--disable-static-deltas");
            }
            args.extend(["origin", "main"]);
            let out = ox_out(&args);
            assert!(
                bad.requests().iter().any(|q| kind(&q.path) == *target),
                "{target}/{fault}: the pull made no {target} request"
            );
            seen.insert(*target);
            let ctx = format!("{target}/{fault} (pull {}): {}", out.status, String::from_utf8_lossy(&out.stderr));
            let fsck = ostree_out(&[&d, "fsck"]);
            assert!(fsck.status.success(), "{ctx}\nfsck: {}", String::from_utf8_lossy(&fsck.stderr));
            let rev = ox_out(&[&d, "rev-parse", "origin:main"]);
            if rev.status.success() {
                assert_eq!(String::from_utf8_lossy(&rev.stdout).trim(), head, "{ctx}: a wrong ref");
            }
            assert!(out.status.success() == rev.status.success(), "{ctx}: the ref and the outcome disagree");
            // A healthy server: the pull completes.
            let mut args = vec![d.as_str(), "pull"];
            let url = format!("--url={}", good.url);
            args.push(&url);
            if !deltas {
                args.push("--disable-static-deltas");
            }
            args.extend(["origin", "main"]);
            let again = ox_out(&args);
            assert!(again.status.success(), "{ctx}\nhealthy pull: {}", String::from_utf8_lossy(&again.stderr));
            assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head, "{ctx}");
            assert!(ostree(&[&d, "fsck"]).contains("no errors found"), "{ctx}");
            outcomes.push(format!("{target}/{fault}: {}", if out.status.success() { "pulled" } else { "refused" }));
        }
    }
    assert_eq!(seen.len(), kinds.len());
    eprintln!("{}", outcomes.join("\n"));
}
