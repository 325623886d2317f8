//! `pull` options over HTTP, each against the real `ostree` as the writer
//! of the server's repository (and as the reader of what we pulled):
//! mirrorlists, `--localcache-repo`, `--subpath`, `--timestamp-check`,
//! commit ref bindings, and `remote refs` / `remote summary`.

mod common;
// The fetch crate's test server; not every part of it is used here.
#[allow(dead_code)]
#[path = "../../../fetch/tests/common/server.rs"]
mod server;

use std::path::Path;

use common::*;
use server::{serve_dir, Server};

/// An archive repo written by the real ostree with the rich tree on
/// `main`, summarised. Returns its path and the commit.
fn served_repo(w: &TempDir, ts: &str) -> (String, String) {
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    let srv = w.join("srv").to_string_lossy().into_owned();
    let s = format!("--repo={srv}");
    ostree(&[&s, "init", "--mode=archive"]);
    let head = ostree(&[&s, "commit", "-b", "main", &format!("--timestamp={ts}"), &tree.to_string_lossy()]);
    ostree(&[&s, "summary", "-u"]);
    (srv, head.trim().to_string())
}

/// A new bare-user repo with remote `origin` at `url`.
fn client_repo(w: &TempDir, name: &str, url: &str) -> String {
    let dst = w.join(name).to_string_lossy().into_owned();
    let d = format!("--repo={dst}");
    ox(&[&d, "init", "--mode=bare-user"]);
    ox(&[&d, "remote", "add", "--no-gpg-verify", "origin", url]);
    dst
}

fn content_objects(repo: &str) -> Vec<String> {
    let mut v = Vec::new();
    for d in std::fs::read_dir(Path::new(repo).join("objects")).unwrap() {
        let d = d.unwrap();
        for f in std::fs::read_dir(d.path()).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".filez") {
                v.push(format!("objects/{}/{name}", d.file_name().to_string_lossy()));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn objects_come_from_the_mirrors_a_mirrorlist_names() {
    require_ostree();
    let w = TempDir::new("pull-mirrorlist");
    let (srv, head) = served_repo(&w, "2021-06-01T12:00:00Z");
    // Three copies: the first lacks two objects, the second one of those.
    let objects = content_objects(&srv);
    let mirror = |n: usize, missing: &[&String]| {
        let dir = w.join(&format!("mirror{n}"));
        sh(&format!("cp -a {srv} {}", dir.display()));
        for m in missing {
            std::fs::remove_file(dir.join(m)).unwrap();
        }
        Server::start(serve_dir(dir))
    };
    let m1 = mirror(1, &[&objects[0], &objects[1]]);
    let m2 = mirror(2, &[&objects[0]]);
    let m3 = mirror(3, &[]);
    let list = w.join("list");
    std::fs::create_dir_all(&list).unwrap();
    std::fs::write(
        list.join("mirrorlist"),
        format!("\n# comment\n{}/nowhere\n\n{}\n{}\n{}\n", m1.url, m1.url, m2.url, m3.url),
    )
    .unwrap();
    let lists = Server::start(serve_dir(list));
    let dst = client_repo(&w, "dst", &format!("mirrorlist={}/mirrorlist", lists.url));
    let d = format!("--repo={dst}");
    ox(&[&d, "pull", "origin:main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head);
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    let asked = |s: &Server, o: &String| s.requests().iter().any(|r| r.path == format!("/{o}"));
    assert!(asked(&m3, &objects[0]), "the object only the third mirror has came from it");
    // (Which of the two that have it served the other depends on which
    // mirror answered last, with eight requests in flight.)
    assert!(asked(&m2, &objects[1]) || asked(&m3, &objects[1]));
    // A contenturl mirrorlist with a plain url: metadata from the url.
    let origin = Server::start(serve_dir(srv.clone().into()));
    let dst2 = w.join("dst2").to_string_lossy().into_owned();
    let d2 = format!("--repo={dst2}");
    ox(&[&d2, "init", "--mode=bare-user"]);
    ox(&[
        &d2,
        "remote",
        "add",
        "--no-gpg-verify",
        &format!("--contenturl=mirrorlist={}/mirrorlist", lists.url),
        "origin",
        &origin.url,
    ]);
    ox(&[&d2, "pull", "origin:main"]);
    assert!(ostree(&[&d2, "fsck"]).contains("no errors found"));
    assert!(origin.requests().iter().any(|r| r.path == "/summary"));
    assert!(!origin.requests().iter().any(|r| r.path.ends_with(".filez")), "content came from the mirrors");
    // A mirrorlist with no mirrors in it is an error that says so.
    std::fs::write(w.join("list/empty"), "\n# nothing\n").unwrap();
    let dst3 = client_repo(&w, "dst3", &format!("mirrorlist={}/empty", lists.url));
    let out = ox_out(&[&format!("--repo={dst3}"), "pull", "origin:main"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No valid mirrors"), "{out:?}");
}

#[test]
fn localcache_objects_are_copied_not_fetched() {
    require_ostree();
    let w = TempDir::new("pull-localcache");
    let (srv, _) = served_repo(&w, "2021-06-01T12:00:00Z");
    let server = Server::start(serve_dir(srv.clone().into()));
    let cache = client_repo(&w, "cache", &server.url);
    ox(&[&format!("--repo={cache}"), "pull", "origin", "main"]);
    // One new file on the server.
    let s = format!("--repo={srv}");
    ostree(&[&s, "checkout", "main", &w.join("files").to_string_lossy()]);
    std::fs::write(w.join("files/anewfile"), "anewfile\n").unwrap();
    let head = ostree(&[&s, "commit", "-b", "main", &format!("--tree=dir={}", w.join("files").display())]);
    let head = head.trim();
    ostree(&[&s, "summary", "-u"]);
    let before = server.requests().len();
    let dst = client_repo(&w, "dst", &server.url);
    let d = format!("--repo={dst}");
    let out = ox(&[&d, "pull", "-L", &cache, "origin", "main"]);
    // The counts the real ostree prints for the same pull.
    let os = w.join("os").to_string_lossy().into_owned();
    ostree(&[&format!("--repo={os}"), "init", "--mode=bare-user"]);
    ostree(&[&format!("--repo={os}"), "remote", "add", "--no-gpg-verify", "origin", &server.url]);
    let theirs = ostree(&[&format!("--repo={os}"), "pull", "-L", &cache, "origin", "main"]);
    let counts = |line: &str| line.split(';').next().unwrap_or_default().trim().to_string();
    assert_eq!(counts(&out), counts(&theirs));
    assert!(out.contains("1 content objects fetched ("), "{out}");
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head);
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    let filez = server.requests()[before..].iter().filter(|r| r.path.ends_with(".filez")).count();
    assert_eq!(filez, 2, "only the new file was fetched, once by each tool");
}

#[test]
fn subpath_pulls_part_of_the_tree_and_leaves_the_commit_partial() {
    require_ostree();
    let w = TempDir::new("pull-subpath");
    let (srv, head) = served_repo(&w, "2021-06-01T12:00:00Z");
    let server = Server::start(serve_dir(srv.clone().into()));
    let dst = client_repo(&w, "dst", &server.url);
    let d = format!("--repo={dst}");
    let dir = ostree(&[&format!("--repo={srv}"), "ls", "main", "/"])
        .lines()
        .find(|l| l.starts_with('d') && !l.ends_with(" /"))
        .and_then(|l| l.split_whitespace().last().map(str::to_string))
        .expect("a directory in the tree");
    ox(&[&d, "pull", &format!("--subpath={dir}"), "origin", "main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head);
    assert!(Path::new(&dst).join(format!("state/{head}.commitpartial")).exists());
    let got = w.join("got");
    ostree(&[&d, "checkout", "-U", &format!("--subpath={dir}"), "origin:main", &got.to_string_lossy()]);
    let want = w.join("want");
    ostree(&[&format!("--repo={srv}"), "checkout", "-U", &format!("--subpath={dir}"), "main", &want.to_string_lossy()]);
    assert_same_tree(&snapshot(&want, false), &snapshot(&got, false), "the subpath");
    // The rest of the tree is missing; a full pull completes it.
    let full = ostree_out(&[&d, "checkout", "-U", "origin:main", &w.join("all").to_string_lossy()]);
    assert!(!full.status.success(), "a checkout of the whole partial commit fails");
    ox(&[&d, "pull", "origin", "main"]);
    assert!(!Path::new(&dst).join(format!("state/{head}.commitpartial")).exists());
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    let out = ox_out(&[&d, "pull", "--subpath=/no/such/dir", "origin", "main"]);
    assert!(out.status.success(), "a complete commit is not walked again");
}

#[test]
fn timestamp_check_refuses_going_back_in_time() {
    require_ostree();
    let w = TempDir::new("pull-timestamp");
    let (srv, first) = served_repo(&w, "2022-01-01T00:00:00Z");
    let server = Server::start(serve_dir(srv.clone().into()));
    let dst = client_repo(&w, "dst", &server.url);
    let d = format!("--repo={dst}");
    ox(&[&d, "pull", "-T", "origin", "main"]);
    // The server's main moves to an older commit.
    let s = format!("--repo={srv}");
    std::fs::write(w.join("tree/older"), "older\n").unwrap();
    let older =
        ostree(&[&s, "commit", "-b", "main", "--timestamp=2020-01-01T00:00:00Z", &w.join("tree").to_string_lossy()]);
    ostree(&[&s, "summary", "-u"]);
    let out = ox_out(&[&d, "pull", "--timestamp-check", "origin", "main"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chronologically older"), "{err}");
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), first, "the ref did not move");
    let out = ox_out(&[&d, "pull", &format!("--timestamp-check-from-rev={first}"), "origin", older.trim()]);
    assert!(!out.status.success(), "older than --timestamp-check-from-rev");
    // Without the check the pull goes through.
    ox(&[&d, "pull", "origin", "main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), older.trim());
}

#[test]
fn a_commit_bound_to_other_refs_is_refused() {
    require_ostree();
    let w = TempDir::new("pull-bindings");
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    let srv = w.join("srv").to_string_lossy().into_owned();
    let s = format!("--repo={srv}");
    ostree(&[&s, "init", "--mode=archive"]);
    let c = ostree(&[&s, "commit", "-b", "main", "--bind-ref=stable", &tree.to_string_lossy()]);
    let c = c.trim();
    ostree(&[&s, "refs", "--create=other", c]);
    ostree(&[&s, "summary", "-u"]);
    let server = Server::start(serve_dir(srv.clone().into()));
    let dst = client_repo(&w, "dst", &server.url);
    let d = format!("--repo={dst}");
    ox(&[&d, "pull", "origin", "main"]);
    let out = ox_out(&[&d, "pull", "origin", "other"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no requested ref ‘other’ in ref binding metadata"), "{err}");
    // What the real ostree says too.
    let os = w.join("os").to_string_lossy().into_owned();
    ostree(&[&format!("--repo={os}"), "init", "--mode=bare-user"]);
    ostree(&[&format!("--repo={os}"), "remote", "add", "--no-gpg-verify", "origin", &server.url]);
    assert!(!ostree_out(&[&format!("--repo={os}"), "pull", "origin", "other"]).status.success());
    ox(&[&d, "pull", "--disable-verify-bindings", "origin", "other"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:other"]).trim(), c);
}

#[test]
fn remote_refs_and_summary_match_ostree() {
    require_ostree();
    let w = TempDir::new("remote-refs");
    let (srv, head) = served_repo(&w, "2021-06-01T12:00:00Z");
    ostree(&[&format!("--repo={srv}"), "refs", "--create=b/two", &head]);
    ostree(&[&format!("--repo={srv}"), "summary", "-u"]);
    let server = Server::start(serve_dir(srv.clone().into()));
    let dst = client_repo(&w, "dst", &server.url);
    let d = format!("--repo={dst}");
    for args in [
        vec!["remote", "refs", "origin"],
        vec!["remote", "summary", "origin"],
        vec!["remote", "summary", "--raw", "origin"],
    ] {
        let mut ours = vec![d.as_str()];
        ours.extend(&args);
        assert_eq!(ox(&ours), ostree(&ours), "{args:?}");
    }
    assert_eq!(ox(&[&d, "remote", "refs", "origin"]), "origin:b/two\norigin:main\n");
    // No summary on the server: OSTree's error.
    std::fs::remove_file(Path::new(&srv).join("summary")).unwrap();
    let out = ox_out(&[&d, "remote", "refs", "origin"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Remote refs not available; server has no summary file"));
}

#[test]
fn a_terminal_gets_a_progress_line_and_a_pipe_only_the_closing_line() {
    require_ostree();
    let w = TempDir::new("pull-progress");
    let (srv, _) = served_repo(&w, "2021-06-01T12:00:00Z");
    let server = Server::start(serve_dir(srv.into()));
    let dst = client_repo(&w, "dst", &server.url);
    // `script` (util-linux) runs the pull on a pseudo-terminal.
    let cmd = format!("{} --repo={dst} pull --update-frequency=1 origin main", oxtree_bin());
    let out = std::process::Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Receiving objects: "), "{text}");
    assert!(text.contains("content objects fetched"), "{text}");
    let dst2 = client_repo(&w, "dst2", &server.url);
    let piped = ox(&[&format!("--repo={dst2}"), "pull", "origin", "main"]);
    assert!(!piped.contains("Receiving") && !piped.contains('\r'), "{piped}");
    assert_eq!(piped.lines().count(), 1, "{piped}");
}

#[test]
fn a_remote_proxy_carries_every_request() {
    require_ostree();
    let w = TempDir::new("pull-proxy");
    let (srv, head) = served_repo(&w, "2021-06-01T12:00:00Z");
    // The proxy serves what comes through its tunnels from the repo
    // itself, so the origin's name need not resolve.
    let proxy = Server::start(serve_dir(srv.into()));
    let dst = client_repo(&w, "dst", "http://origin.invalid");
    let d = format!("--repo={dst}");
    ox(&[&d, "config", "set", "remote \"origin\".proxy", &proxy.url]);
    ox(&[&d, "pull", "origin", "main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head);
    let reqs = proxy.requests();
    assert!(reqs.iter().any(|r| r.path == "CONNECT origin.invalid:80"), "{reqs:?}");
    assert!(reqs.iter().any(|r| r.path.ends_with(".filez")));
}
