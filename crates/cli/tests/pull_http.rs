//! `pull` over HTTP against a web server on 127.0.0.1 serving repositories
//! as static files: interop with the real `ostree` both ways, a server
//! that corrupts an object, and a download cut short that the next pull
//! resumes with a `Range` request.

mod common;
// The fetch crate's test server; not every part of it is used here.
#[allow(dead_code)]
#[path = "../../../fetch/tests/common/server.rs"]
mod server;

use std::path::Path;

use common::*;
use server::{read_below, serve_dir, Reply, Server};

const TS: &str = "--timestamp=2021-06-01T12:00:00Z";

/// An archive repo written by the real ostree: two commits of the rich
/// tree (the second with one more file), summary updated.
fn ostree_archive(w: &TempDir) -> (String, String) {
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    let repo = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={repo}");
    ostree(&[&r, "init", "--mode=archive"]);
    ostree(&[&r, "commit", "-b", "main", "-s", "one", TS, &tree.to_string_lossy()]);
    std::fs::write(tree.join("added.txt"), "second commit\n").unwrap();
    let c2 = ostree(&[&r, "commit", "-b", "main", "-s", "two", TS, &tree.to_string_lossy()]);
    ostree(&[&r, "summary", "-u"]);
    (repo, c2.trim().to_string())
}

fn add_remote(repo: &str, url: &str) {
    ox(&[&format!("--repo={repo}"), "remote", "add", "--no-gpg-verify", "origin", url]);
}

fn user_checkout_snapshot(
    tool: fn(&[&str]) -> String,
    repo: &str,
    rev: &str,
    dest: &Path,
) -> std::collections::BTreeMap<String, Entry> {
    tool(&[&format!("--repo={repo}"), "checkout", "-U", rev, &dest.to_string_lossy()]);
    snapshot(dest, false)
}

#[test]
fn oxtree_pulls_what_ostree_wrote_into_every_mode() {
    require_ostree();
    let w = TempDir::new("pull-http-in");
    let (srv, head) = ostree_archive(&w);
    let server = Server::start(serve_dir(srv.clone().into()));
    let want = user_checkout_snapshot(ostree, &srv, "main", &w.join("want"));
    let mut modes = vec!["bare-user", "archive"];
    if is_root() {
        modes.push("bare");
    }
    for mode in modes {
        let repo = w.join(&format!("dst-{mode}")).to_string_lossy().into_owned();
        let r = format!("--repo={repo}");
        ox(&[&r, "init", &format!("--mode={mode}")]);
        add_remote(&repo, &server.url);
        let out = ox(&[&r, "pull", "--depth=-1", "origin", "main"]);
        assert!(out.contains("content objects fetched"), "{mode}: {out}");
        assert_eq!(ox(&[&r, "rev-parse", "origin:main"]).trim(), head, "{mode}");
        let fsck = ostree(&[&r, "fsck"]);
        assert!(fsck.contains("no errors found"), "{mode}: ostree fsck: {fsck}");
        // The parent came too (--depth=-1), and nothing is left partial.
        ostree(&[&r, "rev-parse", "origin:main^"]);
        assert_eq!(std::fs::read_dir(w.join(&format!("dst-{mode}/state"))).map(|d| d.count()).unwrap_or(0), 0);
        let got = user_checkout_snapshot(ostree, &repo, "origin:main", &w.join(&format!("co-{mode}")));
        assert_same_tree(&got, &want, mode);
        // A second pull has nothing to fetch.
        let again = ox(&[&r, "pull", "origin", "main"]);
        // As OSTree counts: the summary and config, no objects.
        assert!(again.starts_with("2 metadata, 0 content objects fetched"), "{mode}: {again}");
    }
    // Requests went to the places OSTree uses.
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().any(|p| p == "/summary") && paths.iter().any(|p| p == "/config"));
    assert!(paths.iter().any(|p| p.ends_with(".commitmeta")) && paths.iter().any(|p| p.ends_with(".filez")));
}

#[test]
fn ostree_pulls_what_oxtree_wrote_and_summarised() {
    require_ostree();
    let w = TempDir::new("pull-http-out");
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    let srv = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    ox(&[&r, "init", "--mode=archive"]);
    let head = ox(&[&r, "commit", "-b", "main", "-s", "one", TS, &tree.to_string_lossy()]);
    ox(&[&r, "summary", "-u"]);
    let server = Server::start(serve_dir(srv.clone().into()));
    let dst = w.join("dst").to_string_lossy().into_owned();
    let d = format!("--repo={dst}");
    ostree(&[&d, "init", "--mode=bare-user"]);
    ostree(&[&d, "remote", "add", "--no-gpg-verify", "origin", &server.url]);
    ostree(&[&d, "pull", "origin", "main"]);
    assert_eq!(ostree(&[&d, "rev-parse", "origin:main"]).trim(), head.trim());
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    let want = user_checkout_snapshot(ostree, &srv, "main", &w.join("want"));
    assert_same_tree(&user_checkout_snapshot(ostree, &dst, "origin:main", &w.join("got")), &want, "ostree pull");
}

#[test]
fn a_corrupt_object_fails_the_pull_and_a_healthy_server_finishes_it() {
    require_ostree();
    let w = TempDir::new("pull-http-corrupt");
    let (srv, head) = ostree_archive(&w);
    let victim = largest_filez(Path::new(&srv));
    let (root, v) = (std::path::PathBuf::from(&srv), victim.clone());
    let bad = Server::start(move |req, _| match read_below(&root, &req.path) {
        Some(mut body) => {
            if req.path == v {
                let i = body.len() - 10;
                body[i] ^= 0x55;
            }
            Reply::Full(200, body)
        }
        None => Reply::Full(404, Vec::new()),
    });
    let dst = w.join("dst").to_string_lossy().into_owned();
    let d = format!("--repo={dst}");
    ox(&[&d, "init", "--mode=bare-user"]);
    add_remote(&dst, &bad.url);
    let out = ox_out(&[&d, "pull", "origin", "main"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&victim), "the error names the object's URL: {err}");
    assert!(!ox_out(&[&d, "rev-parse", "origin:main"]).status.success(), "no ref after a failed pull");
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"), "nothing corrupt was stored");
    // From a healthy server, the pull finishes what is missing.
    let good = Server::start(serve_dir(srv.clone().into()));
    ox(&[&d, "pull", &format!("--url={}", good.url), "origin", "main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head);
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    // The second pull fetched what the first could not store, and none
    // of the objects the first one fetched (and so stored).
    let got: Vec<String> = good.requests().into_iter().map(|r| r.path).collect();
    assert!(got.contains(&victim));
    let objects = |p: &String| p.starts_with("/objects/") && !p.ends_with(".commitmeta") && *p != victim;
    let first: Vec<String> = bad.requests().into_iter().map(|r| r.path).filter(objects).collect();
    assert!(first.iter().any(|p| p.ends_with(".dirtree")), "the first pull got that far: {first:?}");
    let again: Vec<&String> = got.iter().filter(|p| first.contains(p)).collect();
    assert!(again.is_empty(), "fetched again: {again:?}");
}

#[test]
fn a_download_cut_short_is_resumed_by_the_next_pull() {
    require_ostree();
    let w = TempDir::new("pull-http-resume");
    let tree = w.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    // Incompressible, so the .filez is about as large as the file.
    let mut data = Vec::new();
    XorShift::new().fill(4 << 20, &mut data);
    std::fs::write(tree.join("big.bin"), &data).unwrap();
    let srv = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    ostree(&[&r, "init", "--mode=archive"]);
    let head = ostree(&[&r, "commit", "-b", "main", TS, &tree.to_string_lossy()]);
    let victim = largest_filez(Path::new(&srv));
    let (root, v) = (std::path::PathBuf::from(&srv), victim.clone());
    let cut = Server::start(move |req, _| match read_below(&root, &req.path) {
        Some(body) if req.path == v => {
            let n = body.len() * 9 / 10;
            Reply::Truncated(body, n)
        }
        Some(body) => Reply::Full(200, body),
        None => Reply::Full(404, Vec::new()),
    });
    let dst = w.join("dst").to_string_lossy().into_owned();
    let d = format!("--repo={dst}");
    ox(&[&d, "init", "--mode=bare-user"]);
    add_remote(&dst, &cut.url);
    let out = ox_out(&[&d, "pull", "--network-retries=0", "origin", "main"]);
    assert!(!out.status.success(), "the cut download fails the pull");
    let good = Server::start(serve_dir(srv.clone().into()));
    ox(&[&d, "pull", &format!("--url={}", good.url), "origin", "main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head.trim());
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    let req = good.requests().into_iter().find(|r| r.path == victim).expect("the object was asked for again");
    let from = req.range_start().expect("with a Range request");
    assert!(from > 0 && from <= 4 << 20, "resumed at {from}");
    let leftovers: Vec<_> = std::fs::read_dir(Path::new(&dst).join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("oxtree-pull-"))
        .collect();
    assert!(leftovers.is_empty(), "downloads left in tmp/: {leftovers:?}");
    ox(&[&d, "checkout", "-U", "origin:main", &w.join("co").to_string_lossy()]);
    assert_eq!(std::fs::read(w.join("co/big.bin")).unwrap(), data);
}

#[test]
fn a_mirror_pull_takes_every_ref_and_the_summary_byte_for_byte() {
    require_ostree();
    let w = TempDir::new("pull-http-mirror");
    let (srv, head) = ostree_archive(&w);
    let r = format!("--repo={srv}");
    let other = w.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("x"), "other branch\n").unwrap();
    let other_head = ostree(&[&r, "commit", "-b", "other", TS, &other.to_string_lossy()]);
    ostree(&[&r, "summary", "-u"]);
    let server = Server::start(serve_dir(srv.clone().into()));
    let dst = w.join("mirror").to_string_lossy().into_owned();
    let d = format!("--repo={dst}");
    ox(&[&d, "init", "--mode=archive"]);
    add_remote(&dst, &server.url);
    ox(&[&d, "pull", "--mirror", "origin"]);
    assert_eq!(ox(&[&d, "rev-parse", "main"]).trim(), head);
    assert_eq!(ox(&[&d, "rev-parse", "other"]).trim(), other_head.trim());
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    assert_eq!(
        std::fs::read(Path::new(&dst).join("summary")).unwrap(),
        std::fs::read(Path::new(&srv).join("summary")).unwrap(),
        "the summary is copied verbatim"
    );
    // Mirroring a subset of refs leaves the mirror's own summary alone.
    let sub = w.join("subset").to_string_lossy().into_owned();
    let s = format!("--repo={sub}");
    ox(&[&s, "init", "--mode=archive"]);
    add_remote(&sub, &server.url);
    ox(&[&s, "summary", "-u"]);
    let before = std::fs::read(Path::new(&sub).join("summary")).unwrap();
    ox(&[&s, "pull", "--mirror", "origin", "main"]);
    assert_eq!(ox(&[&s, "rev-parse", "main"]).trim(), head);
    assert_eq!(std::fs::read(Path::new(&sub).join("summary")).unwrap(), before);
}

#[test]
fn cookies_in_the_remote_jar_are_sent() {
    require_ostree();
    let w = TempDir::new("pull-http-cookies");
    let (srv, head) = ostree_archive(&w);
    let root = std::path::PathBuf::from(&srv);
    let files = serve_dir(root);
    // Like ostree-trivial-httpd --expected-cookies: nothing without them.
    let server = Server::start(move |req, i| {
        let cookie = req.headers.iter().find(|(k, _)| k == "cookie").map(|(_, v)| v.as_str()).unwrap_or("");
        if cookie.split("; ").any(|c| c == "foo=bar") && cookie.split("; ").any(|c| c == "baz=badger") {
            files(req, i)
        } else {
            Reply::Full(403, Vec::new())
        }
    });
    let dst = w.join("dst").to_string_lossy().into_owned();
    let d = format!("--repo={dst}");
    ox(&[&d, "init", "--mode=bare-user"]);
    add_remote(&dst, &server.url);
    assert!(!ox_out(&[&d, "pull", "origin", "main"]).status.success(), "no cookies, no pull");
    ox(&[&d, "remote", "add-cookie", "origin", "127.0.0.1", "/", "foo", "bar"]);
    ox(&[&d, "remote", "add-cookie", "origin", "127.0.0.1", "/", "baz", "badger"]);
    let jar = std::fs::read_to_string(Path::new(&dst).join("origin.cookies.txt")).unwrap();
    assert!(jar.contains("\tfoo\tbar\n") && jar.contains("\tbaz\tbadger\n"), "{jar}");
    ox(&[&d, "pull", "origin", "main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head);
    ox(&[&d, "remote", "delete-cookie", "origin", "127.0.0.1", "/", "baz"]);
    let out = ox_out(&[&d, "remote", "delete-cookie", "origin", "127.0.0.1", "/", "baz"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Cookie not found in jar"));
    let listed = ox(&[&d, "remote", "list-cookies", "origin"]);
    assert!(listed.contains("Name: foo") && !listed.contains("Name: baz"), "{listed}");
}

#[test]
fn a_pull_killed_at_random_points_resumes_to_the_same_commit() {
    require_ostree();
    let w = TempDir::new("pull-http-killed");
    // Many objects of mixed sizes, so that kills land mid-walk.
    let tree = w.join("tree");
    let mut rng = XorShift::new();
    let mut data = Vec::new();
    for d in 0..20 {
        let dir = tree.join(format!("d{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..40 {
            let n = if rng.next().is_multiple_of(3) { 200_000 } else { 2_000 } + (rng.next() % 1000) as usize;
            data.clear();
            rng.fill(n, &mut data);
            std::fs::write(dir.join(format!("f{f}")), &data).unwrap();
        }
    }
    let srv = w.join("srv").to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    ostree(&[&r, "init", "--mode=archive"]);
    let head = ostree(&[&r, "commit", "-b", "main", TS, &tree.to_string_lossy()]).trim().to_string();
    let objects = walkdir_count(&Path::new(&srv).join("objects"));
    // A little latency per request, as a real network has.
    let root = std::path::PathBuf::from(&srv);
    let server = Server::start(move |req, _| {
        std::thread::sleep(std::time::Duration::from_millis(2));
        match read_below(&root, &req.path) {
            Some(body) => Reply::Full(200, body),
            None => Reply::Full(404, Vec::new()),
        }
    });
    let dst = w.join("dst").to_string_lossy().into_owned();
    let d = format!("--repo={dst}");
    ox(&[&d, "init", "--mode=bare-user"]);
    add_remote(&dst, &server.url);
    let kills = 5;
    for i in 0..kills {
        let mut child = std::process::Command::new(oxtree_bin())
            .args([&d, "pull", "origin", "main"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30 + rng.next() % 150));
        // SIGKILL: nothing of the pull gets to clean up.
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(ostree(&[&d, "fsck"]).contains("no errors found"), "fsck after kill {i}");
    }
    let before = server.requests().len();
    ox(&[&d, "pull", "origin", "main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head);
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    ostree(&[&d, "checkout", "-U", "origin:main", &w.join("out").to_string_lossy()]);
    assert_same_tree(&snapshot(&tree, false), &snapshot(&w.join("out"), false), "pulled tree");
    // What the killed pulls had stored was kept: over all the pulls, each
    // object was fetched about once (those in flight at a kill, up to
    // the pull's 8 requests each, again).
    let fetched = server.requests().iter().filter(|r| r.path.starts_with("/objects/")).count();
    assert!(fetched <= objects + kills * 16 + 2, "{fetched} object requests for {objects} objects");
    let last = server.requests()[before..].iter().filter(|r| r.path.starts_with("/objects/")).count();
    eprintln!("{objects} objects; {fetched} object requests in all, {last} by the last pull");
    assert!(last < objects, "the last pull started over");
    // Nothing of the killed pulls is left behind.
    let left: Vec<_> = std::fs::read_dir(Path::new(&dst).join("tmp"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("staging-") || n.starts_with("oxtree-pull-"))
        .collect();
    assert!(left.is_empty(), "left in tmp/: {left:?}");
}

/// How many files there are under `dir`.
fn walkdir_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| if e.file_type().unwrap().is_dir() { walkdir_count(&e.path()) } else { 1 })
        .sum()
}
