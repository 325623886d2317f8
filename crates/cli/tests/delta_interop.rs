//! Static deltas between oxtree and the real `ostree`, both ways: deltas
//! the real tool generated are applied by oxtree (offline and by a pull
//! from nginx), and deltas oxtree generated are applied by the real tool
//! (offline and by its pull from nginx); every variant (from a commit, from
//! scratch, inline, both byte orders) ends in an `ostree fsck`-clean repo
//! holding the target commit.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

/// `ox` or `ostree`.
type Tool = fn(&[&str]) -> String;

fn write(dest: &Path, p: &str, data: &[u8], mode: u32) {
    let path = dest.join(p);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, data).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Binary-looking data: random stretches between repeated records.
fn binary(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new();
    for _ in 0..seed {
        rng.next();
    }
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        rng.fill(64, &mut v);
        v.extend_from_slice(format!("record {:06} of the symbol table\0", v.len() / 97).as_bytes());
    }
    v.truncate(n);
    v
}

/// Two versions of a tree, as a package upgrade makes them: a binary with
/// a header prepended, a library renamed with its version and patched, a
/// text file edited, a file removed, files and a symlink added, a new
/// file above the fallback size, and a large file with bytes appended
/// (which oxtree encodes by chunk matching, not bsdiff).
fn make_versions(w: &TempDir) -> (String, String) {
    let v1 = w.join("v1");
    make_rich_tree(&v1, false);
    write(&v1, "usr/bin/prog", &binary(300_000, 1), 0o755);
    write(&v1, "usr/lib/libfoo.so.1.2.3", &binary(200_000, 2), 0o644);
    write(&v1, "usr/share/doc/notes.txt", "a line of notes\n".repeat(2000).as_bytes(), 0o644);
    write(&v1, "usr/share/gone", b"removed in v2\n", 0o644);
    write(&v1, "usr/lib/firmware/blob.bin", &binary(1_500_000, 4), 0o644);

    let v2 = w.join("v2");
    sh(&format!("cp -a {} {}", v1.display(), v2.display()));
    let mut prog = b"aheader\n".to_vec();
    prog.extend_from_slice(&binary(300_000, 1));
    write(&v2, "usr/bin/prog", &prog, 0o755);
    std::fs::remove_file(v2.join("usr/lib/libfoo.so.1.2.3")).unwrap();
    let mut lib = binary(200_000, 2);
    lib[1000..1100].copy_from_slice(&[7; 100]);
    lib.extend_from_slice(b"new symbols");
    write(&v2, "usr/lib/libfoo.so.1.2.4", &lib, 0o644);
    write(&v2, "usr/share/doc/notes.txt", "a line of new notes\n".repeat(2100).as_bytes(), 0o644);
    std::fs::remove_file(v2.join("usr/share/gone")).unwrap();
    write(&v2, "usr/share/new.txt", b"added in v2\n", 0o644);
    write(&v2, "usr/share/big.bin", &binary(4_500_000, 3), 0o644);
    std::os::unix::fs::symlink("libfoo.so.1.2.4", v2.join("usr/lib/libfoo.so.1")).unwrap();
    let mut blob = binary(1_500_000, 4);
    blob.extend_from_slice(&[0; 40]);
    write(&v2, "usr/lib/firmware/blob.bin", &blob, 0o644);
    (v1.to_string_lossy().into_owned(), v2.to_string_lossy().into_owned())
}

/// An archive repo with `main` at v1 then v2; returns (repo, v1, v2).
fn server(w: &TempDir, tool: Tool, tag: &str, v1: &str, v2: &str) -> (String, String, String) {
    let srv = w.join(tag).to_string_lossy().into_owned();
    let r = format!("--repo={srv}");
    tool(&[&r, "init", "--mode=archive"]);
    let a = tool(&[&r, "commit", "-b", "main", "--timestamp=2024-01-01T00:00:00Z", v1]).trim().to_string();
    let b = tool(&[&r, "commit", "-b", "main", "--timestamp=2024-02-01T00:00:00Z", v2]).trim().to_string();
    (srv, a, b)
}

/// A bare-user repo holding commit `from` (if any), made by `tool`.
fn client(w: &TempDir, tool: Tool, tag: &str, srv: &str, from: Option<&str>) -> String {
    let dest = w.join(tag).to_string_lossy().into_owned();
    let r = format!("--repo={dest}");
    tool(&[&r, "init", "--mode=bare-user"]);
    if let Some(f) = from {
        tool(&[&r, "pull-local", srv, f]);
    }
    dest
}

fn assert_has_clean(repo: &str, commit: &str) {
    let r = format!("--repo={repo}");
    let out = ostree(&[&r, "fsck"]);
    assert!(out.contains("no errors found"), "{out}");
    ostree(&[&r, "ls", "-R", commit]);
    assert!(!Path::new(repo).join(format!("state/{commit}.commitpartial")).exists());
}

/// The delta directory of FROM-TO (or TO) in `srv`.
fn delta_dir(srv: &str, from: Option<&str>, to: &str) -> String {
    let to_b64 = oxtree_store::Checksum::from_hex(to).unwrap().to_modified_base64();
    match from {
        Some(f) => {
            let f = oxtree_store::Checksum::from_hex(f).unwrap().to_modified_base64();
            format!("{srv}/deltas/{}/{}-{to_b64}", &f[..2], &f[2..])
        }
        None => format!("{srv}/deltas/{}/{}", &to_b64[..2], &to_b64[2..]),
    }
}

/// The variants: extra `generate` options, and whether from scratch.
const VARIANTS: &[(&[&str], bool)] =
    &[(&[], false), (&["--swap-endianness"], false), (&["--inline"], false), (&[], true)];

/// Generates every variant with `generator` and applies it offline with
/// `applier`, each into a repo that holds FROM.
fn offline_both_ways(generator: Tool, applier: Tool, tag: &str) {
    require_ostree();
    let w = TempDir::new(tag);
    let (v1, v2) = make_versions(&w);
    let (srv, a, b) = server(&w, ostree, "srv", &v1, &v2);
    for (i, (extra, scratch)) in VARIANTS.iter().enumerate() {
        let r = format!("--repo={srv}");
        // Offline deltas cannot have fallbacks.
        let mut args = vec![r.as_str(), "static-delta", "generate", "--to=main", "--min-fallback-size=0"];
        if *scratch {
            args.push("--empty");
        }
        args.extend_from_slice(extra);
        generator(&args);
        let from = if *scratch { None } else { Some(a.as_str()) };
        let dest = client(&w, ostree, &format!("dest{i}"), &srv, from);
        applier(&[&format!("--repo={dest}"), "static-delta", "apply-offline", &delta_dir(&srv, from, &b)]);
        assert_has_clean(&dest, &b);
        // Let the next variant replace this one.
        sh(&format!("rm -rf '{}'", delta_dir(&srv, from, &b)));
    }
}

#[test]
fn deltas_from_ostree_apply_offline_with_oxtree() {
    offline_both_ways(ostree, ox, "delta-os-ox");
}

#[test]
fn deltas_from_oxtree_apply_offline_with_ostree() {
    offline_both_ways(ox, ostree, "delta-ox-os");
}

/// Of the four changed files, the three small ones are bsdiffed and the
/// 1.5 MB one with bytes appended is chunk-matched (a suffix sort would buy
/// it nothing); the real ostree applies the result.
#[test]
fn large_files_with_bytes_appended_are_chunk_matched() {
    require_ostree();
    let w = TempDir::new("delta-near-identical");
    let (v1, v2) = make_versions(&w);
    let (srv, a, b) = server(&w, ostree, "srv", &v1, &v2);
    let r = format!("--repo={srv}");
    let o = ox_out(&[&r, "static-delta", "generate", "--from", &a, "--to", &b, "--min-fallback-size=0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("rollsum for 1/4 modified") && err.contains("bsdiff=3 objects"), "{err}");
    let dest = client(&w, ostree, "dest", &srv, Some(&a));
    ostree(&[&format!("--repo={dest}"), "static-delta", "apply-offline", &delta_dir(&srv, Some(&a), &b)]);
    assert_has_clean(&dest, &b);
}

/// `--compression=zstd` parts (oxtree's extension) apply with oxtree, from
/// a commit and from scratch, and the real `ostree` refuses them with an
/// error instead of misreading them, storing no commit.
#[test]
fn zstd_parts_apply_with_oxtree_and_ostree_refuses_them() {
    require_ostree();
    let w = TempDir::new("delta-zstd");
    let (v1, v2) = make_versions(&w);
    let (srv, a, b) = server(&w, ox, "srv", &v1, &v2);
    let r = format!("--repo={srv}");
    for (i, from) in [Some(a.as_str()), None].into_iter().enumerate() {
        let from_arg = from.map_or("--empty".to_string(), |f| format!("--from={f}"));
        ox(&[&r, "static-delta", "generate", "--to=main", "--min-fallback-size=0", "--compression=zstd", &from_arg]);
        let dir = delta_dir(&srv, from, &b);
        let theirs = client(&w, ostree, &format!("os{i}"), &srv, from);
        let out = ostree_out(&[&format!("--repo={theirs}"), "static-delta", "apply-offline", &dir]);
        assert!(!out.status.success(), "ostree applied a zstd delta");
        assert!(!String::from_utf8_lossy(&out.stderr).trim().is_empty());
        assert!(ostree_out(&[&format!("--repo={theirs}"), "show", &b]).status.code() != Some(0));
        let ours = client(&w, ostree, &format!("ox{i}"), &srv, from);
        ox(&[&format!("--repo={ours}"), "static-delta", "apply-offline", &dir]);
        assert_has_clean(&ours, &b);
        sh(&format!("rm -rf '{dir}'"));
    }
}

/// Serves `srv` with its deltas and summary over nginx; `puller` pulls
/// `main` with `--require-static-deltas` into a repo holding v1 (the
/// FROM-TO delta) and into an empty one (the scratch delta).
fn pull_both(generator: Tool, puller: Tool, tag: &str, swap: bool) {
    require_ostree();
    let w = TempDir::new(tag);
    let (v1, v2) = make_versions(&w);
    let (srv, a, b) = server(&w, ostree, "srv", &v1, &v2);
    let r = format!("--repo={srv}");
    let mut gen = vec![r.as_str(), "static-delta", "generate", "--to=main"];
    if swap {
        gen.push("--swap-endianness");
    }
    generator(&gen);
    generator(&[&r, "static-delta", "generate", "--empty", "--to=main"]);
    generator(&[&r, "summary", "-u"]);
    let nginx = Nginx::start(&srv, w.join("nginx"), None);
    for (tag, from) in [("upgrade", Some(a.as_str())), ("first", None)] {
        let dest = client(&w, ostree, tag, &srv, from);
        let d = format!("--repo={dest}");
        puller(&[&d, "remote", "add", "--no-gpg-verify", "origin", &nginx.url]);
        puller(&[&d, "pull", "--require-static-deltas", "origin", "main"]);
        assert_has_clean(&dest, &b);
        assert_eq!(ostree(&[&d, "rev-parse", "origin:main"]).trim(), b);
    }
    let log = nginx.log();
    assert!(log.contains("/superblock"), "the superblocks were fetched: {log}");
    let part = format!("{}/0", &delta_dir("", Some(&a), &b));
    assert!(log.contains(&format!("GET {part} ")), "part 0 of the FROM-TO delta was fetched: {log}");
    // The new big file is a fallback, fetched on its own.
    assert!(log.lines().filter(|l| l.contains(".filez")).count() >= 1, "{log}");
}

#[test]
fn oxtree_pulls_ostree_deltas_from_nginx() {
    pull_both(ostree, ox, "delta-pull-os-ox", false);
    pull_both(ostree, ox, "delta-pull-os-ox-swapped", true);
}

#[test]
fn ostree_pulls_oxtree_deltas_from_nginx() {
    pull_both(ox, ostree, "delta-pull-ox-os", false);
    pull_both(ox, ostree, "delta-pull-ox-os-swapped", true);
}

/// A delta pull that fails part-way (a part missing on the server) keeps
/// the parts it applied: the retry fetches only the rest (seen in nginx's
/// log), and the ref moves only once the whole delta is in.
#[test]
fn an_interrupted_delta_pull_does_not_fetch_finished_parts_again() {
    require_ostree();
    let w = TempDir::new("delta-pull-retry");
    let (v1, v2) = make_versions(&w);
    let (srv, a, b) = server(&w, ostree, "srv", &v1, &v2);
    let r = format!("--repo={srv}");
    // Small parts, no fallbacks: the 4.5 MB file gets a part of its own.
    ox(&[&r, "static-delta", "generate", "--to=main", "--max-chunk-size=1", "--min-fallback-size=0"]);
    ox(&[&r, "summary", "-u"]);
    let dir = delta_dir(&srv, Some(&a), &b);
    let parts = std::fs::read_dir(&dir).unwrap().filter(|e| e.as_ref().unwrap().file_name() != "superblock").count();
    assert!(parts >= 2, "{parts} parts");
    let last = format!("{dir}/{}", parts - 1);
    std::fs::rename(&last, format!("{last}.away")).unwrap();
    let nginx = Nginx::start(&srv, w.join("nginx"), None);
    let dest = client(&w, ox, "dest", &srv, Some(&a));
    let d = format!("--repo={dest}");
    ox(&[&d, "remote", "add", "--no-gpg-verify", "origin", &nginx.url]);
    let out = ox_out(&[&d, "pull", "--require-static-deltas", "origin", "main"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found on the server"), "{out:?}");
    assert!(ox_out(&[&d, "rev-parse", "origin:main"]).stdout.is_empty(), "the ref moved");
    std::fs::rename(format!("{last}.away"), &last).unwrap();
    ox(&[&d, "pull", "--require-static-deltas", "origin", "main"]);
    assert_has_clean(&dest, &b);
    assert_eq!(ox(&[&d, "rev-parse", "origin:main"]).trim(), b);
    let rel = delta_dir("", Some(&a), &b);
    let log = nginx.log();
    for i in 0..parts - 1 {
        let n = log.lines().filter(|l| l.contains(&format!("GET {rel}/{i} "))).count();
        assert_eq!(n, 1, "part {i} fetched {n} times: {log}");
    }
}
