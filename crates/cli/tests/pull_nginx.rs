//! Pulls from nginx on 127.0.0.1 serving repositories as static files, as
//! real OSTree servers do: the real `ostree` pulls what oxtree wrote and
//! the other way round, and a large download killed at 90% is finished
//! with a `Range` request (seen in nginx's log).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const TS: &str = "--timestamp=2021-06-01T12:00:00Z";

/// `ox` or `ostree`.
type Tool = fn(&[&str]) -> String;

fn add_remote(tool: Tool, repo: &str, url: &str) {
    tool(&[&format!("--repo={repo}"), "remote", "add", "--no-gpg-verify", "origin", url]);
}

fn checkout_snapshot(repo: &str, rev: &str, dest: &Path) -> std::collections::BTreeMap<String, Entry> {
    ostree(&[&format!("--repo={repo}"), "checkout", "-U", rev, &dest.to_string_lossy()]);
    snapshot(dest, false)
}

#[test]
fn ostree_and_oxtree_pull_each_others_repos_from_nginx() {
    require_ostree();
    let w = TempDir::new("pull-nginx-interop");
    let tree = w.join("tree");
    make_rich_tree(&tree, false);
    for (writer, puller) in [("oxtree", "ostree"), ("ostree", "oxtree")] {
        let (write, pull): (Tool, Tool) = if writer == "oxtree" { (ox, ostree) } else { (ostree, ox) };
        let srv = w.join(&format!("srv-{writer}")).to_string_lossy().into_owned();
        let s = format!("--repo={srv}");
        write(&[&s, "init", "--mode=archive"]);
        let head = write(&[&s, "commit", "-b", "main", TS, &tree.to_string_lossy()]).trim().to_string();
        write(&[&s, "summary", "-u"]);
        let nginx = Nginx::start(&srv, w.join(&format!("nginx-{writer}")), None);
        // What the real ostree checks out of the served repo itself.
        let want = checkout_snapshot(&srv, "main", &w.join(&format!("want-{writer}")));
        // (The tree has setuid files, which bare-user-only refuses.)
        for mode in ["bare-user", "archive"] {
            let dst = w.join(&format!("dst-{writer}-{mode}")).to_string_lossy().into_owned();
            let d = format!("--repo={dst}");
            pull(&[&d, "init", &format!("--mode={mode}")]);
            add_remote(pull, &dst, &nginx.url);
            pull(&[&d, "pull", "origin", "main"]);
            assert_eq!(pull(&[&d, "rev-parse", "origin:main"]).trim(), head, "{puller} into {mode}");
            assert!(ostree(&[&d, "fsck"]).contains("no errors found"), "{puller} into {mode}");
            let got = checkout_snapshot(&dst, "origin:main", &w.join(&format!("out-{writer}-{mode}")));
            assert_same_tree(&want, &got, &format!("{writer}'s repo pulled by {puller} into {mode}"));
        }
        assert!(nginx.log().contains("/summary HTTP/1.1\" 200"), "the summary was fetched: {}", nginx.log());
    }
}

#[test]
fn a_large_download_killed_at_90_percent_resumes_with_range() {
    require_ostree();
    let w = TempDir::new("pull-nginx-range");
    let tree = w.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    // Incompressible, so the .filez is as large as the file.
    let mut data = Vec::new();
    XorShift::new().fill(256 << 20, &mut data);
    std::fs::write(tree.join("big.bin"), &data).unwrap();
    drop(data);
    let srv = w.join("srv").to_string_lossy().into_owned();
    let s = format!("--repo={srv}");
    ostree(&[&s, "init", "--mode=archive"]);
    let head = ostree(&[&s, "commit", "-b", "main", TS, &tree.to_string_lossy()]).trim().to_string();
    // 256 MiB at 128 MiB/s: two seconds in which to stop it.
    let nginx = Nginx::start(&srv, w.join("nginx"), Some("128m"));
    let dst = w.join("dst").to_string_lossy().into_owned();
    let d = format!("--repo={dst}");
    ox(&[&d, "init", "--mode=bare-user"]);
    add_remote(ox, &dst, &nginx.url);
    let mut child = Command::new(oxtree_bin()).args([&d, "pull", "origin", "main"]).spawn().unwrap();
    let tmp = Path::new(&dst).join("tmp");
    let download = || {
        std::fs::read_dir(&tmp).ok()?.filter_map(|e| e.ok()).find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.starts_with("oxtree-pull-") && name.ends_with(".filez"))
                .then(|| e.metadata().ok().map(|m| m.len()))?
        })
    };
    let total = 256u64 << 20;
    let start = std::time::Instant::now();
    let mut killed_at = 0;
    while start.elapsed() < std::time::Duration::from_secs(60) {
        if let Some(n) = download() {
            if n >= total / 10 * 9 {
                child.kill().unwrap();
                killed_at = n;
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.wait().unwrap();
    assert!(killed_at > 0, "the download never reached 90%");
    assert!(killed_at < total, "killed too late: {killed_at}");
    ox(&[&d, "pull", "origin", "main"]);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), head);
    assert!(ostree(&[&d, "fsck"]).contains("no errors found"));
    // nginx answered the second request for the object with the rest.
    let log = nginx.log();
    let resumed = log
        .lines()
        .filter(|l| l.contains(".filez ") && l.contains("\" 206 "))
        .find_map(|l| l.rsplit("\"bytes=").next()?.strip_suffix("-\"")?.parse::<u64>().ok());
    let from = resumed.unwrap_or_else(|| panic!("no Range request for the object in nginx's log:\n{log}"));
    assert!(from >= total / 10 * 8, "resumed from byte {from} only (killed at {killed_at})");
    assert!(download().is_none(), "the partial download is gone");
}
