//! The golden vectors (made by the real ostree 2022.7, kept in
//! tests/golden/) reproduced by driving `oxtree` with the same commands.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Compares every object of a golden JSON dump with the repo's files.
fn compare(repo: &Path, json: &str) {
    let text = std::fs::read_to_string(golden_dir().join(json)).unwrap();
    let g: serde_json::Value = serde_json::from_str(&text).unwrap();
    for o in g["objects"].as_array().unwrap() {
        let path = repo.join(o["path"].as_str().unwrap());
        let md = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{json}: {}: {e}", path.display()));
        let want = match o.get("hex").and_then(|h| h.as_str()) {
            Some(h) => unhex(h),
            None => o["symlink_target"].as_str().unwrap().as_bytes().to_vec(),
        };
        let got = if md.file_type().is_symlink() {
            std::fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes()
        } else {
            std::fs::read(&path).unwrap()
        };
        // Summaries and the like carry timestamps; every object here is timeless.
        assert_eq!(got, want, "{json}: bytes of {}", path.display());
        if let Some(m) = o.get("st_mode").and_then(|m| m.as_str()) {
            let want_mode = u32::from_str_radix(m.trim_start_matches("0o"), 8).unwrap();
            assert_eq!(md.mode(), want_mode, "{json}: mode of {}", path.display());
        }
        if let Some(meta) = o.get("user.ostreemeta").and_then(|m| m.as_str()) {
            let f = std::fs::File::open(&path).unwrap();
            let mut buf = vec![0u8; 4096];
            let n = rustix::fs::fgetxattr(&f, "user.ostreemeta", &mut buf[..]).unwrap();
            assert_eq!(&buf[..n], &unhex(meta)[..], "{json}: user.ostreemeta of {}", path.display());
        }
    }
    if let Some(refs) = g.get("refs").and_then(|r| r.as_object()) {
        for (name, val) in refs {
            let got = std::fs::read_to_string(repo.join(name)).unwrap();
            assert_eq!(Some(got.as_str()), val.as_str(), "{json}: {name}");
        }
    }
}

fn tiny_tree(w: &TempDir) -> String {
    let tree = w.join("tree");
    sh(&format!("sh '{}' '{}'", golden_dir().join("mktree.sh").display(), tree.display()));
    tree.to_string_lossy().into_owned()
}

fn golden_commit(repo: &str, branch: &str, tree: &str, extra: &[&str]) -> String {
    let r = format!("--repo={repo}");
    let b = format!("-b{branch}");
    let mut args =
        vec![r.as_str(), "commit", b.as_str(), "--timestamp=2020-01-01T00:00:00Z", "--owner-uid=0", "--owner-gid=0"];
    args.extend_from_slice(extra);
    args.push(tree);
    ox(&args).trim().to_string()
}

#[test]
fn tiny_tree_in_every_mode() {
    let w = TempDir::new("golden-tiny");
    let tree = tiny_tree(&w);
    for (mode, json, want) in [
        ("archive", Some("tiny-archive.json"), "e50899a76f9ec7e2cfc3d5566b9679886080a927c40922822806366b4d34a7fe"),
        ("bare-user", Some("tiny-bare-user.json"), "e50899a76f9ec7e2cfc3d5566b9679886080a927c40922822806366b4d34a7fe"),
        (
            "bare-user-only",
            Some("tiny-bare-user-only.json"),
            "b8d7c751afcd7bfe6153770795486c13d7f68e227035dd0a1401005d8cc44af1",
        ),
        ("bare", None, "e50899a76f9ec7e2cfc3d5566b9679886080a927c40922822806366b4d34a7fe"),
    ] {
        if mode == "bare" && !is_root() {
            continue;
        }
        let repo = w.join(&format!("repo-{mode}")).to_string_lossy().into_owned();
        ox(&[&format!("--repo={repo}"), "init", &format!("--mode={mode}")]);
        let c = golden_commit(&repo, "main", &tree, &["--subject=golden", "--no-bindings"]);
        assert_eq!(c, want, "{mode}");
        if let Some(j) = json {
            compare(Path::new(&repo), j);
        }
    }
    // --canonical-permissions in archive gives the bare-user-only commit.
    let repo = w.join("canon").to_string_lossy().into_owned();
    ox(&[&format!("--repo={repo}"), "init", "--mode=archive"]);
    let c = golden_commit(&repo, "main", &tree, &["--subject=golden", "--no-bindings", "--canonical-permissions"]);
    assert_eq!(c, "b8d7c751afcd7bfe6153770795486c13d7f68e227035dd0a1401005d8cc44af1");
}

#[test]
fn second_commit_with_metadata_and_detached_metadata() {
    let w = TempDir::new("golden-commit2");
    let tree = tiny_tree(&w);
    let repo = w.join("repo").to_string_lossy().into_owned();
    ox(&[&format!("--repo={repo}"), "init", "--mode=archive"]);
    golden_commit(&repo, "main", &tree, &["--subject=golden", "--no-bindings"]);
    let c = ox(&[
        &format!("--repo={repo}"),
        "commit",
        "-b",
        "main",
        "--subject=second",
        "--body=body text",
        "--timestamp=2020-01-02T00:00:00Z",
        "--owner-uid=0",
        "--owner-gid=0",
        "--add-metadata-string=version=1.0",
        "--add-metadata=custom.num=uint32 7",
        "--add-detached-metadata-string=note=hi",
        &tree,
    ]);
    assert_eq!(c.trim(), "a2953ea888b3a2fa279327a881602d96cce9607d112c8e8f7795687a09148c04");
    compare(Path::new(&repo), "tiny-archive-commit2.json");
}

#[test]
fn xattr_tree() {
    let w = TempDir::new("golden-xattr");
    let tree = w.join("xtree");
    sh(&format!("sh '{}' '{}'", golden_dir().join("mkxattr-tree.sh").display(), tree.display()));
    let tree = tree.to_string_lossy().into_owned();
    for (mode, json) in [("archive", "xattr-archive.json"), ("bare-user", "xattr-bare-user.json")] {
        let repo = w.join(&format!("xrepo-{mode}")).to_string_lossy().into_owned();
        ox(&[&format!("--repo={repo}"), "init", &format!("--mode={mode}")]);
        let c = golden_commit(&repo, "x", &tree, &["--no-bindings"]);
        assert_eq!(c, "479cc6c314699832ca99e066f75a13626318ecb4b48737c918cfe1f13b54935a", "{mode}");
        compare(Path::new(&repo), json);
    }
}

#[test]
fn generate_sizes() {
    let w = TempDir::new("golden-sizes");
    let tree = tiny_tree(&w);
    let repo = w.join("sizes").to_string_lossy().into_owned();
    ox(&[&format!("--repo={repo}"), "init", "--mode=archive"]);
    let c = golden_commit(&repo, "s", &tree, &["--no-bindings", "--generate-sizes"]);
    assert_eq!(c, "e4b03a16844f2f0edc7f363561593cfba9abe60fc92ed11286b97d208a59113f");
    compare(Path::new(&repo), "sizes-archive.json");
}
