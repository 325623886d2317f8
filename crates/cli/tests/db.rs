//! `oxtree db list` and `db diff` on commits whose package lists the real
//! ostree wrote (`--add-metadata=rpmostree.rpmdb.pkglist=...`), and RPM's
//! version ordering against rpm's own `rpm.vercmp`.

mod common;

use std::process::Command;

use common::*;
use oxtree_rpmimport::vercmp::{evr_cmp, rpmvercmp};

fn commit_with(repo: &str, tree: &str, branch: &str, pkgs: &[&str]) -> String {
    let list: Vec<String> = pkgs
        .iter()
        .map(|p| {
            let f: Vec<&str> = p.split(' ').collect();
            format!("('{}', '{}', '{}', '{}', '{}')", f[0], f[1], f[2], f[3], f[4])
        })
        .collect();
    let meta = format!("rpmostree.rpmdb.pkglist=@a(sssss) [{}]", list.join(", "));
    ostree(&["commit", &format!("--repo={repo}"), "-b", branch, &format!("--add-metadata={meta}"), tree])
        .trim()
        .to_string()
}

#[test]
fn version_order_is_rpms() {
    let pairs = [
        ("1.0", "1.0"),
        ("1.0", "2.0"),
        ("2.0.1", "2.0"),
        ("1.10", "1.9"),
        ("1.001", "1.1"),
        ("1.0a", "1.0"),
        ("a", "1"),
        ("1.0~rc1", "1.0"),
        ("1.0~rc1", "1.0~rc2"),
        ("1.0^git1", "1.0"),
        ("1.0^git1", "1.0.1"),
        ("1.0^git1", "1.0~rc1"),
        ("1_0", "1.0"),
        ("fc9", "fc10"),
        ("5.2.15", "5.2.15.1"),
        ("2.36-9+deb12u4", "2.36-9+deb12u10"),
        ("abc", "abd"),
        ("1..2", "1.2"),
        ("0001", "1"),
        ("1.0.0", "1.0"),
        ("alpha", "beta1"),
        ("1~", "1"),
        ("1^", "1~"),
        ("1:1.0-1", "2.0-1"),
        ("0:2.0-1", "2.0-1"),
        ("86.0-7", "86.0.1-1"),
        ("1.0-1.fc36", "1.0-1.fc36.1"),
    ];
    let mut lua = String::from("%{lua:");
    for (a, b) in pairs {
        lua.push_str(&format!("print(rpm.vercmp('{a}', '{b}')) print(' ') "));
    }
    lua.push('}');
    let o = Command::new("rpm").args(["--eval", &lua]).output().expect("rpm (the oracle)");
    let got = String::from_utf8(o.stdout).unwrap();
    let want: Vec<i32> = got.split_whitespace().map(|s| s.parse().unwrap()).collect();
    assert_eq!(want.len(), pairs.len(), "rpm printed {got:?}");
    // rpm.vercmp parses [E:]V[-R]; plain versions go to rpmvercmp itself.
    let split = |s: &'static str| {
        let (e, vr) = s.split_once(':').unwrap_or(("", s));
        let (v, r) = vr.rsplit_once('-').unwrap_or((vr, ""));
        (e, v, r)
    };
    for ((a, b), w) in pairs.iter().zip(want) {
        let ours = if a.contains([':', '-']) || b.contains([':', '-']) {
            evr_cmp(split(a), split(b))
        } else {
            rpmvercmp(a, b)
        };
        assert_eq!(ours as i32, w.signum(), "{a:?} vs {b:?}");
    }
}

#[test]
fn list_and_diff_in_rpm_ostrees_formats() {
    let w = TempDir::new("db");
    let repo = w.join("repo").display().to_string();
    ostree(&["init", &format!("--repo={repo}"), "--mode=archive"]);
    std::fs::create_dir_all(w.join("t")).unwrap();
    let tree = w.join("t").display().to_string();
    let a = commit_with(
        &repo,
        &tree,
        "os/a",
        &[
            "bash 0 5.1 1 x86_64",
            "glibc 0 2.36 1 x86_64",
            "gone 0 1 1 noarch",
            "kernel 0 6.1 1 x86_64",
            "tool 0 1.0 1 noarch",
            "vim 2 9.0 1 x86_64",
        ],
    );
    let b = commit_with(
        &repo,
        &tree,
        "os/b",
        &[
            "bash 0 5.1 1 x86_64",
            "glibc 0 2.36 1 i686",
            "glibc 0 2.36 1 x86_64",
            "kernel 0 6.1.10 1 x86_64",
            "new 0 1 1 noarch",
            "tool 0 2.0 1 x86_64",
            "vim 1 9.1 1 x86_64",
        ],
    );
    let r = format!("--repo={repo}");
    assert_eq!(
        ox(&["db", "list", &r, "os/a"]),
        format!("ostree commit: os/a ({a})\n bash-5.1-1.x86_64\n glibc-2.36-1.x86_64\n gone-1-1.noarch\n kernel-6.1-1.x86_64\n tool-1.0-1.noarch\n vim-2:9.0-1.x86_64\n")
    );
    assert!(ox(&["db", "list", &r, &a]).starts_with(&format!("ostree commit: {a}\n bash")));
    let listed: serde_json::Value = serde_json::from_str(&ox(&["db", "list", &r, "--json", "os/a", "os/b"])).unwrap();
    assert_eq!(listed[1]["commit"], b.as_str());
    assert_eq!(listed[0]["packages"][5]["nevra"], "vim-2:9.0-1.x86_64");
    assert_eq!(listed[1]["packages"].as_array().unwrap().len(), 7);

    assert_eq!(
        ox(&["db", "diff", &r, "os/a", "os/b"]),
        format!(
            "ostree diff commit from: os/a ({a})\nostree diff commit to:   os/b ({b})\n\
             Upgraded:\n  kernel 6.1-1 -> 6.1.10-1\n  tool 1.0-1 -> 2.0-1\n\
             Downgraded:\n  vim 2:9.0-1 -> 1:9.1-1\n\
             Removed:\n  gone-1-1.noarch\n\
             Added:\n  glibc-2.36-1.i686\n  new-1-1.noarch\n"
        )
    );
    assert_eq!(
        ox(&["db", "diff", &r, "--format=diff", "os/a", "os/b"]),
        format!(
            "ostree diff commit from: os/a ({a})\nostree diff commit to:   os/b ({b})\n\
             +glibc-2.36-1.i686\n-gone-1-1.noarch\n!kernel-6.1-1.x86_64\n=kernel-6.1.10-1.x86_64\n+new-1-1.noarch\n\
             !tool-1.0-1.noarch\n=tool-2.0-1.x86_64\n!vim-2:9.0-1.x86_64\n=vim-1:9.1-1.x86_64\n"
        )
    );
    assert_eq!(
        ox(&["db", "diff", &r, &a, &a]),
        format!("ostree diff commit from: {a}\nostree diff commit to:   {a}\n")
    );

    let text = ox(&["db", "diff", &r, "--json", "os/a", "os/b"]);
    assert!(text.starts_with("{\n  \"ostree-commit-from\" : \"") && text.ends_with("]\n}"), "{text}");
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["ostree-commit-from"], a.as_str());
    assert_eq!(j["ostree-commit-to"], b.as_str());
    let kinds: Vec<(String, u64)> = j["pkgdiff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().to_string(), e[1].as_u64().unwrap()))
        .collect();
    let want = [("glibc", 0), ("new", 0), ("gone", 1), ("kernel", 2), ("tool", 2), ("vim", 3)];
    assert_eq!(kinds, want.iter().map(|(n, t)| (n.to_string(), *t)).collect::<Vec<_>>());
    assert_eq!(j["pkgdiff"][5][2]["PreviousPackage"], serde_json::json!(["vim", "2:9.0-1", "x86_64"]));
    assert_eq!(j["pkgdiff"][5][2]["NewPackage"], serde_json::json!(["vim", "1:9.1-1", "x86_64"]));
    assert_eq!(j["advisories"], serde_json::json!([]));
    assert_eq!(ox(&["db", "diff", &r, "-F", "json", "os/a", "os/b"]), text);

    // Bad input: a commit without a list, a wrong format, too few revisions.
    let plain = ostree(&["commit", &r, "-b", "plain", &tree]).trim().to_string();
    for (args, want) in [
        (vec!["db", "list", &r, "plain"], "no rpmostree.rpmdb.pkglist"),
        (vec!["db", "diff", &r, "os/a", "plain"], "no rpmostree.rpmdb.pkglist"),
        (vec!["db", "diff", &r, "--format=xml", "os/a", "os/b"], "Format argument is invalid"),
        (vec!["db", "diff", &r, "os/a"], "FROM_REV and TO_REV"),
        (vec!["db", "diff", &r, "os/a", "os/b", "os/a"], "at most 2 arguments"),
        (vec!["db", "list", &r, "nosuchref"], "nosuchref"),
    ] {
        let o = ox_out(&args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let _ = plain;
}
